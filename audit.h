/* audit.h: the event log, one line per event, and the end-of-run summary. */
#ifndef DG_AUDIT_H
#define DG_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "container.h"
#include "proc.h"

enum audit_format { AUDIT_TEXT, AUDIT_JSON };
enum audit_verdict { AUDIT_ALLOWED, AUDIT_BLOCKED, AUDIT_WOULD_BLOCK };

/* One event. NULL strings and negative numbers are left out of the line. */
struct audit_event {
	const char *level;	/* "WARN", "INFO" */
	const char *event;	/* "DNS BLOCKED", "IP BLOCKED", "DNS ALLOWED", ... */
	const char *reason;	/* FromDNSRequest, FromDNSResponse, FromConnect */
	int blocked;		/* 1, 0, or -1 to omit */
	const char *blocked_at; /* "dns", "connect" */
	const char *domain;	/* text form without the trailing dot */
	const char *qtype;
	const char *rule; /* FILE:LINE */
	long pid;
	const char *cmd;
	const char *ip;
	long port;
	const char *method;  /* "blocklist" */
	const char *tried;   /* TAMPER: what the process tried */
	const char *class_;  /* direct, hidden, transient */
	const char *via;     /* TransientDependency: the blocked name the destination needs */
	const char *comment; /* ruleComment: the rule's own */
	bool fresh;	     /* new=true: no earlier run of the job reached it (--history) */
	const char *path;    /* DELEGATED: the unix socket */
	long peer;	     /* DELEGATED: its listener, outside the cgroup */
	const char *peercmd;
	const struct container *ctr; /* its container; NULL: pid's, if it runs in one */
	const char *image;	     /* REGISTRY: the image asked for (else the container's) */
};

void audit_init(FILE *out, enum audit_format fmt, int verbose);
int audit_verbose(void);
/* --syslog: every line (events, diagnostics, the summary) to syslog(3) too, facility daemon, as
 * LOG_WARNING, LOG_INFO or LOG_DEBUG by its level. */
void audit_syslog(bool on);
void audit_syslog_line(const char *level, const char *s, size_t n);
/* Event lines are buffered: a burst of queries costs one write. audit_flush() writes them; the
 * loop calls it every turn, and warnings and info lines flush them too, to stay in order. */
void audit_log(const struct audit_event *e);
void audit_flush(void);

/* A diagnostic's line (log_info and log_debug) in the log, in order with the events: a text
 * line, or a MESSAGE object when the log is JSON. */
void audit_message(const char *level, const char *msg);

#define AUDIT_MAX_NAMES	 65536 /* rows; later destinations are counted as "other" */
#define AUDIT_MAX_CMDS	 3     /* distinct commands the summary shows per row */
#define AUDIT_MAX_ADDRS	 16    /* addresses kept per name */
#define AUDIT_MAX_ASKERS 8     /* processes kept per row */

/* A hit on a destination: a query, a refused connect, a socket, a tampering, a delegation. */
struct audit_hit {
	const char *kind;	/* "dns", "connect", "socket", "tamper", "delegated" */
	const char *what;	/* the name, "ADDR:PORT", ... */
	const char *seen_as[2]; /* texts that make it direct when a command line holds one: the
				 * name or the address, and the name asked for (a CNAME's source) */
	enum audit_verdict verdict;
	long pid; /* -1: unknown */
	const char *cmd;
	const char *reason, *rule, *comment, *via; /* via: the blocked dependency (transient) */
	const char *proto;			   /* "tcp", "udp": a connect's */
};

/* One row of the summary and the report: a destination and everything said about it. */
struct audit_row {
	char *kind, *what;
	unsigned long count;
	enum audit_verdict verdict;
	char *cmds[AUDIT_MAX_CMDS];
	unsigned long more_cmds;
	char *reason, *rule, *comment, *via; /* of the first hit that blocked it, else the first */
	char *proto;
	bool direct, transient, blocked_reason;
	bool fresh; /* no earlier run of the job reached it (--history) */
	uint64_t first_ms, last_ms;
	struct {
		bool v6;
		uint8_t a[16];
	} addrs[AUDIT_MAX_ADDRS];
	size_t naddrs;
	struct {
		int rec; /* proc_at() */
		bool direct;
	} askers[AUDIT_MAX_ASKERS];
	size_t naskers;
	unsigned long more_askers;
};

/* Count a hit for the summary and the report; the class of this process's hit ("direct",
 * "hidden", "transient"; NULL for kinds that have none), for its log line. */
const char *audit_hit(const struct audit_hit *h);
/* --history: how to tell a destination an earlier run reached; rows that are not are new. */
typedef bool audit_known_fn(const char *kind, const char *what);
void audit_set_known(audit_known_fn *known);
/* Is the row the last audit_hit counted new? For its log line. */
bool audit_last_fresh(void);
/* Rows that are new. */
unsigned long audit_fresh(void);
/* An address (4 or 16 bytes) the name of a dns row resolved to. */
void audit_resolved(const char *name, bool v6, const uint8_t *addr);
/* "direct", "hidden", "transient", or NULL for a kind without classes. */
const char *audit_class(const struct audit_row *r);
const char *audit_verdict_name(enum audit_verdict v);
/* The rows, in order of first hit, and how many hits found no room. */
const struct audit_row *audit_rows(size_t *n, unsigned long *other);
/* s as a JSON string, escaped as the log escapes it; null for NULL. */
void audit_json_string(FILE *f, const char *s);
void audit_summary(void);
/* Destinations (rows of the summary) that were blocked, or would have been. */
unsigned long audit_blocked(void);
void audit_free(void);

#endif
