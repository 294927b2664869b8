/* run.h: what a run holds, and the steps of its set-up that --check takes too (run.c). */
#ifndef DG_RUN_H
#define DG_RUN_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "adopt.h"
#include "cglimits.h"
#include "cgroup.h"
#include "depends.h"
#include "dockerapi.h"
#include "events.h"
#include "nss.h"
#include "policy.h"
#include "policymaps.h"
#include "progs.h"
#include "proxy.h"

#define CGROUP2_MAGIC 0x63677270

/* What a run holds, released in reverse order by cleanup(). */
struct run {
	struct policy pol;
	struct depends deps;
	struct proxy *proxy;
	struct dockerapi *docker; /* the Docker socket COMMAND sees, or NULL */
	struct progs bpf;
	struct pmaps maps;  /* the policy maps of bpf, once loaded */
	struct adopt adopt; /* cgroups made during the run for guarded processes */
	int cg_fd;
	char cg_mnt[PATH_MAX], cg_path[PATH_MAX];
	bool cg_created;
	uint64_t watermark; /* cgroups with a greater id were made during the run */
	struct cg_limits lim;
	struct events ev;
	int sig_fd;
	int notify_sock[2]; /* the child sends its seccomp listener over this */
	int notify_fd;
	int events_fd;	 /* cgroup.events: POLLPRI when the cgroup empties */
	int watchdog_fd; /* closing it without a word makes the watchdog kill the cgroup */
	pid_t watchdog;
	pid_t child;
	FILE *log;
	struct nss_view nss; /* COMMAND's view of nsswitch.conf and nscd */
	bool host_stage;     /* set-up got past the command line and the policy */
	bool finished;	     /* the run came to its end: finish() was called */
	uint64_t start_ms;
	uint64_t cmd_start_ms, cmd_end_ms; /* COMMAND's own time, without the set-up's */
};

/* The compile cache: DEPLOYGUARD_CACHE (tests give each run a directory of its own), or the
 * system's. */
const char *run_cache_dir(void);
/* The programs' -D constants for this run's options, policy, proxy port and cgroup. */
int run_flags(struct run *r, unsigned port, unsigned long cgroup_id);
/* Make (or reuse) the run's cgroup (--cgroup, or deployguard-PID) and open it, with its limits. */
int run_cgroup(struct run *r);
/* --guard-also: the same programs on existing cgroups, for as long as the run lasts. */
int run_guard_also(struct run *r);
/* Read every policy file into pol, and the manifests into deps, judged by pol; on a bad file
 * say which line, after what. */
int run_load_policy(struct policy *pol, struct depends *deps, const char *what);
/* SIGHUP in attach mode: read the policy files again, all or nothing. */
void run_reload_policy(struct run *r);

/* deployguard --check (check.c): 0 when a guarded run would work here, else 1. */
int check_host(struct run *r);

#endif
