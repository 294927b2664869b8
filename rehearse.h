/* rehearse.h: --rehearse, an outage rehearsal: COMMAND run once per dependency with only that
 * one down, and what broke. */
#ifndef DG_REHEARSE_H
#define DG_REHEARSE_H

#define DG_EXIT_FRAGILE	  121 /* --rehearse: a dependency's outage failed or hung COMMAND */
#define REHEARSE_MAX_NAME 32  /* --rehearse-only and --rehearse-skip, each */

/* How a dependency fails, one run per kind (--outage). */
enum outage { OUT_NXDOMAIN, OUT_SERVFAIL, OUT_TIMEOUT, OUT_REFUSED, OUT_BLACKHOLE, OUT_N };

struct rehearse_cfg {
	char *const *cmd;  /* COMMAND */
	char *const *pass; /* options every run gets (limits, --user, --upstream, ...) */
	int npass;
	char *const *audit_pass; /* options of the audit run only: the policy files */
	int naudit;
	const char *cgroup;	 /* --cgroup, or NULL: a cgroup of its own per run */
	const char *from_report; /* --from-report: the dependencies, instead of an audit run */
	const char *only[REHEARSE_MAX_NAME], *skip[REHEARSE_MAX_NAME];
	int nonly, nskip;
	unsigned outages;   /* 1 << enum outage; 0: nxdomain and blackhole */
	unsigned timeout_s; /* --rehearse-timeout; 0: 3x the audit run, at least 30 s */
	const char *report, *graph;
};

/* The outage called name, or -1. */
int rehearse_outage(const char *name);
/* Rehearse; returns the exit status: 0 if every dependency's outage was soft, DG_EXIT_FRAGILE if
 * one was hard or hung COMMAND, 125 if a run could not be made, 128+N on signal N. */
int rehearse(const struct rehearse_cfg *c);

#endif
