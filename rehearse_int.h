/* rehearse_int.h: a rehearsal's state, shared by rehearse.c (the runs) and rehearse_out.c (what
 * it writes: the table, the report, the graph, the step summary). Only they include it. */
#ifndef DG_REHEARSE_INT_H
#define DG_REHEARSE_INT_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "json.h"
#include "rehearse.h"

#define MAX_DEPS 256

/* How each outage is made: --block-action for names (NULL: no DNS outage, the name resolves)
 * and --connect-action (NULL: connects are not involved). */
static const struct {
	const char *name, *block, *connect;
} outages[OUT_N] __attribute__((unused)) = {
    [OUT_NXDOMAIN] = {"nxdomain", "nxdomain", NULL},
    [OUT_SERVFAIL] = {"servfail", "servfail", NULL},
    [OUT_TIMEOUT] = {"timeout", "drop", NULL},
    [OUT_REFUSED] = {"refused", "resolve", "refused"},
    [OUT_BLACKHOLE] = {"blackhole", "resolve", "drop"},
};

/* Outcomes in the order the table shows them: the worst first. */
enum outcome { HANG, HARD, ERROR, SOFT };
static const char *const outcome_names[]
    __attribute__((unused)) = {"hang", "hard", "error", "soft"};

/* A dependency: a name, or an address no name of the run resolved to. */
struct dep {
	char what[256];
	bool addr;
	size_t dest; /* its index in the audit report's destinations (the graph's node) */
};

struct trial {
	const struct dep *dep;
	enum outage outage;
	enum outcome outcome;
	int status;		/* COMMAND's (deployguard's) exit status; -1 when stopped */
	long long ms, extra_ms; /* how long it took, and how much longer than the audit run */
	bool met;		/* a process met the outage (the dependency was asked for) */
	long pid;		/* the first to meet it */
	char cmd[256], ancestry[256];
	char changed[512]; /* "+name" reached only now, "-name" no longer reached */
};

/* What a trial is judged against: the audit run's dependencies and times. */
struct rh_base {
	const struct dep *all;
	size_t nall;
	long long audit_ms, audit_cmd_ms; /* the audit run's time; COMMAND's own (-1: unknown) */
};

struct rehearsal {
	const struct rehearse_cfg *c;
	char self[PATH_MAX], dir[PATH_MAX], mnt[PATH_MAX];
	sigset_t old_mask;
	int stop_sig; /* SIGINT or SIGTERM arrived: stop */
	struct json audit;
	char *audit_text;
	size_t audit_len;
	long long audit_ms, audit_cmd_ms; /* the audit run's time; COMMAND's own (-1: unknown) */
	struct dep all[MAX_DEPS],
	    deps[MAX_DEPS]; /* what the audit run reached; what is rehearsed */
	size_t nall, ndeps;
	struct rh_base verdict_base; /* all, nall and the times above, for rh_judge */
	struct trial *trials;
	size_t ntrials;
	int runs;
};
extern struct rehearsal rh; /* one rehearsal per process */

/* A number of obj (key), or dflt. */
double rh_num(const struct json *obj, const char *key, double dflt);
/* How long COMMAND itself ran in the run a report describes; -1 when it does not say. */
long long rh_command_ms(const struct json *doc);
/* The distinct dependencies of a report (names, and addresses no name resolved to), at most
 * max. */
size_t rh_deps_of(const struct json *doc, struct dep *out, size_t max);
/* Is what (a name or an address) pat, or a name below pat? */
bool rh_matches(const char *pat, const char *what);
/* Judge trial t (its ms set) from its run's wait status, whether it was stopped, and its report
 * (NULL: none could be read): its status, outcome, extra time, first process to meet the outage
 * and what changed against the audit run. */
void rh_judge(struct trial *t, int wait_status, bool stopped, const struct json *doc,
	      const struct rh_base *base);
/* qsort's order of trials: the worst outcome first, as every output shows them. */
int rh_by_severity(const void *a, const void *b);
/* A trial's result in words ("exit 3 after 3.1 s", "+3.1 s", "stopped after 25.1 s"). */
void rh_result_text(const struct trial *t, char *buf, size_t len);
/* The table of outcomes, on stderr. */
void rh_table(void);
/* The audit run's report with the rehearsal added. */
void rh_write_report(FILE *f, long long timeout_ms);
/* The audit run's graph, each dependency's node coloured by its worst outcome. */
void rh_write_graph(FILE *f, const char *dot);
/* The table again, in GITHUB_STEP_SUMMARY when it is set. */
void rh_step_summary(void);

#endif
