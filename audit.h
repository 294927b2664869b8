/* audit.h: the event log, one line per event, and the end-of-run summary. */
#ifndef DG_AUDIT_H
#define DG_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define DG_CMD_MAX 512

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
	const char *method; /* "blocklist" */
	const char *tried;  /* TAMPER: what the process tried */
	const char *path;   /* DELEGATED: the unix socket */
	long peer;	    /* DELEGATED: its listener, outside the cgroup */
	const char *peercmd;
};

void audit_init(FILE *out, enum audit_format fmt, int verbose);
int audit_verbose(void);
/* Event lines are buffered: a burst of queries costs one write. audit_flush() writes them; the
 * loop calls it every turn, and warnings and info lines flush them too, to stay in order. */
void audit_log(const struct audit_event *e);
void audit_flush(void);

/* A diagnostic's line (log_info and log_debug) in the log, in order with the events: a text
 * line, or a MESSAGE object when the log is JSON. */
void audit_message(const char *level, const char *msg);

/* Field N of /proc/PID/stat as proc(5) numbers them (5: pgrp, 22: starttime), 0 if pid is gone. */
unsigned long long audit_stat(pid_t pid, int field);
/* Command line of pid, arguments separated by spaces, into buf; "" if it is gone. */
void audit_cmdline(pid_t pid, char *buf, size_t len);
/* The same, from the cache when pid is there: no /proc read per DNS query. The cache is
 * refreshed at every exec in the cgroup (audit_cmdline from the exec event), so it only goes
 * stale when a pid is reused without an exec. */
void audit_cmdline_cached(pid_t pid, char *buf, size_t len);
/* Count a looked-up name (or, with kind "connect", an address) for the summary. */
void audit_count(const char *kind, const char *what, enum audit_verdict v, const char *cmd);
void audit_summary(void);
/* Destinations (rows of the summary) that were blocked, or would have been. */
unsigned long audit_blocked(void);
void audit_free(void);

#endif
