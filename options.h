/* options.h: deployguard's command line, parsed once into opt (options.c). */
#ifndef DG_OPTIONS_H
#define DG_OPTIONS_H

#include <stdbool.h>

#include "audit.h"
#include "cglimits.h"
#include "cgroup.h"
#include "command.h"
#include "progs.h"
#include "proxy.h"
#include "rehearse.h"

#define DG_VERSION "0.1.0"

struct options {
	const char *lists[64]; /* policy files: blocklists, or allowlists with -a */
	int nlists;
	char list_opt; /* 'a' or 'b', whichever came first */
	bool audit;
	bool strict;
	bool allow_broad; /* --allow-broad */
	bool block_doh;	  /* --block-doh */
	const char *cgroup;
	enum audit_format log_format;
	const char *log_path;
	int verbose;
	bool dump_bpf;
	bool check; /* --check: probe the host, run nothing */
	enum dg_leftovers { DG_LEFT_LEAVE, DG_LEFT_WAIT, DG_LEFT_KILL } leftovers;
	bool leftovers_set;
	const char *kernel_headers;
	bool no_cache; /* --no-cache */
	bool fail_open;
	bool keep_nss;		    /* --keep-nsswitch: COMMAND resolves as the host does */
	bool fail_on_block;	    /* --fail-on-block */
	const char *report, *graph; /* --report, --graph */
	const char *allowlist;	    /* --write-allowlist */
	const char *service;	    /* --service-name */
	const char *depends[64];    /* --depends */
	int ndepends;
	bool merge;		   /* --merge-reports: the operands are reports */
	bool syslog;		   /* --syslog */
	const char *history, *job; /* --history, --job */
	bool fail_on_new;	   /* --fail-on-new */
	bool history_report;	   /* --history-report */
	unsigned since_days;	   /* --since */
	unsigned connect_action;   /* --connect-action: a DG_CA_ code */
	bool rehearse;		   /* --rehearse */
	bool rehearse_opt;	   /* an option only --rehearse takes */
	struct rehearse_cfg rh;
	char *pass[160];		  /* the options a rehearsal's runs get, as given */
	char *audit_pass[128];		  /* and those of its audit run only */
	const char *also[PROGS_MAX_ALSO]; /* --guard-also */
	int nalso;
	unsigned long long limit[CG_NCTL]; /* --cpu-max, --memory-max, --pids-max; 0: none */
	struct command cmd;		   /* COMMAND and --user */
	bool attach; /* --cgroup and no COMMAND: guard what is in the cgroup until a signal */
	struct proxy_cfg px;
};

extern struct options opt;

/* Parse argv into opt: 0, or -EINVAL after saying why (--help and --version exit here). */
int options_parse(int argc, char **argv);
/* The upstream resolvers of /etc/resolv.conf, when no --upstream was given. */
int options_upstreams(void);

#endif
