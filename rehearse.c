/*
 * rehearse.c: --rehearse. One audit run of COMMAND learns what it reaches (or --from-report says
 * it); then COMMAND runs once per dependency and kind of outage with that one dependency down and
 * the rest up, and a table says what broke: hard (COMMAND failed), soft (it got by, maybe later),
 * hang (it did not finish in time, and was stopped).
 *
 * Each run is a whole deployguard run of its own: this program executed again, with a policy of
 * that one dependency and its own --report, so a rehearsal run is guarded, limited and cleaned up
 * exactly as any run is. The runs share nothing but the options passed on; what this file adds
 * is the plan, the clock, and the reading of each run's report.
 */
#define _GNU_SOURCE
#include "rehearse.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "cgroup.h"
#include "command.h"
#include "json.h"
#include "log.h"
#include "report.h"

#define MAX_DEPS   256
#define MAX_ARGS   192
#define GRACE_MS   10000 /* from SIGTERM or cgroup.kill to giving up on a run */
#define MIN_WAIT_S 30

/* How each outage is made: --block-action for names (NULL: no DNS outage, the name resolves)
 * and --connect-action (NULL: connects are not involved). */
static const struct {
	const char *name, *block, *connect;
} outages[OUT_N] = {
    [OUT_NXDOMAIN] = {"nxdomain", "nxdomain", NULL},
    [OUT_SERVFAIL] = {"servfail", "servfail", NULL},
    [OUT_TIMEOUT] = {"timeout", "drop", NULL},
    [OUT_REFUSED] = {"refused", "resolve", "refused"},
    [OUT_BLACKHOLE] = {"blackhole", "resolve", "drop"},
};

/* Outcomes in the order the table shows them: the worst first. */
enum outcome { HANG, HARD, ERROR, SOFT };
static const char *const outcome_names[] = {"hang", "hard", "error", "soft"};

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

static struct {
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
	struct trial *trials;
	size_t ntrials;
	int runs;
} rh;

int rehearse_outage(const char *name)
{
	for (int i = 0; i < OUT_N; i++)
		if (!strcmp(name, outages[i].name))
			return i;
	return -1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- reading reports ---- */

static int load_report(const char *path, struct json *doc, char **text, size_t *len)
{
	char err[256];
	const struct json *v;

	*text = report_slurp(path, len);
	if (!*text) {
		log_warn("--rehearse: cannot read the report %s", path);
		return -1;
	}
	if (json_parse(*text, *len, doc, err, sizeof(err))) {
		log_warnx("--rehearse: %s: %s: not a report deployguard wrote", path, err);
		return -1;
	}
	v = json_get(doc, "version");
	if (!v || v->type != JSON_NUMBER || v->num != 1 || !(v = json_get(doc, "destinations")) ||
	    v->type != JSON_ARRAY) {
		log_warnx("--rehearse: %s is not a deployguard report of version 1 (no version or "
			  "destinations): give a file written by --report",
			  path);
		json_free(doc);
		return -1;
	}
	return 0;
}

static double num(const struct json *obj, const char *key, double dflt)
{
	const struct json *v = json_get(obj, key);

	return v && v->type == JSON_NUMBER ? v->num : dflt;
}

/* How long COMMAND itself ran in the run a report describes; -1 when it does not say (an older
 * report, or a run whose COMMAND did not end). */
static long long command_ms(const struct json *doc)
{
	return (long long)num(json_get(doc, "run"), "commandMs", -1);
}

/* Does a dns destination of dests resolve to addr? */
static bool resolved(const struct json *dests, const char *addr)
{
	for (size_t i = 0; i < dests->n; i++) {
		const struct json *a = json_get(&dests->items[i], "addresses");

		for (size_t k = 0; a && a->type == JSON_ARRAY && k < a->n; k++)
			if (a->items[k].type == JSON_STRING && !strcmp(a->items[k].str, addr))
				return true;
	}
	return false;
}

/* Destination i of a report as a dependency: a name, or an address no name resolved to. Other
 * kinds (unix sockets, raw sockets) are not dependencies an outage takes away. */
static bool dep_of(const struct json *dests, size_t i, struct dep *d)
{
	const struct json *x = &dests->items[i];
	const char *kind = json_str(x, "kind"), *s = NULL;

	if (kind && !strcmp(kind, "dns"))
		s = json_str(x, "name");
	else if (kind && !strcmp(kind, "connect") && (s = json_str(x, "address")) &&
		 resolved(dests, s))
		s = NULL;
	if (!s || !*s || strlen(s) >= sizeof(d->what))
		return false;
	snprintf(d->what, sizeof(d->what), "%s", s);
	d->addr = strcmp(kind, "dns") != 0;
	d->dest = i;
	return true;
}

/* The distinct dependencies of a report, at most max. */
static size_t deps_of(const struct json *doc, struct dep *out, size_t max)
{
	const struct json *dests = json_get(doc, "destinations");
	size_t n = 0;

	for (size_t i = 0; i < dests->n && n < max; i++) {
		bool dup = false;

		if (!dep_of(dests, i, &out[n]))
			continue;
		for (size_t k = 0; k < n && !dup; k++)
			dup = !strcmp(out[k].what, out[n].what);
		n += !dup;
	}
	return n;
}

/* Is what (a name or an address) pat, or a name below pat? */
static bool matches(const char *pat, const char *what)
{
	size_t lp = strlen(pat), lw = strlen(what);

	if (lp && pat[lp - 1] == '.')
		lp--;
	if (lw == lp)
		return !strncasecmp(pat, what, lp);
	return lw > lp && what[lw - lp - 1] == '.' && !strncasecmp(pat, what + lw - lp, lp);
}

static bool any_match(const char *const *pats, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		if (matches(pats[i], what))
			return true;
	return false;
}

/* ---- running deployguard ---- */

static void path_in_dir(char *out, size_t len, const char *name, int run)
{
	snprintf(out, len, "%s/%s-%d", rh.dir, name, run);
}

/* The cgroup of run n: --cgroup's, or one of its own under the cgroup2 mount. */
static void run_cgroup(char *out, size_t len, int n)
{
	if (rh.c->cgroup && rh.c->cgroup[0] == '/')
		snprintf(out, len, "%s", rh.c->cgroup);
	else if (rh.c->cgroup)
		snprintf(out, len, "%s/%s", rh.mnt, rh.c->cgroup);
	else
		snprintf(out, len, "%s/deployguard-rehearse-%d-%d", rh.mnt, (int)getpid(), n);
}

/* Kill everything in cgroup cg at once (cgroup.kill, 5.14+): COMMAND did not finish in time,
 * or the rehearsal was stopped. The run's deployguard sees COMMAND killed and ends as usual. */
static void kill_cgroup(const char *cg)
{
	char path[PATH_MAX + 16];
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.kill", cg);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "1", 1) != 1)
		log_debug("rehearse: cannot kill cgroup %s: %s", cg, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static pid_t spawn(char **argv, const char *out)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(DG_EXIT_FAIL);
	unsetenv("GITHUB_STEP_SUMMARY"); /* the rehearsal writes one table, not one per run */
	sigprocmask(SIG_SETMASK, &rh.old_mask, NULL);
	execv(rh.self, argv);
	_exit(DG_EXIT_FAIL);
}

/* Wait for run pid in cgroup cg until deadline (ms; 0: none). *stopped is set when it had to be
 * stopped (the deadline passed, or a signal asked). Returns its wait status. */
static int await(pid_t pid, const char *cg, long long deadline, bool *stopped)
{
	sigset_t set;
	struct timespec tick = {0, 100000000};
	long long give_up = 0;
	int st;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	*stopped = false;
	for (;;) {
		int sig = sigtimedwait(&set, NULL, &tick);
		pid_t got = waitpid(pid, &st, WNOHANG);

		if (got == pid)
			return st;
		if ((sig == SIGINT || sig == SIGTERM) && !rh.stop_sig) {
			rh.stop_sig = sig;
			kill(pid, SIGTERM); /* it passes it on to COMMAND, and ends */
			give_up = now_ms() + GRACE_MS;
		}
		if (!*stopped && deadline && now_ms() >= deadline) {
			*stopped = true;
			kill_cgroup(cg);
			give_up = now_ms() + GRACE_MS;
		}
		if (give_up && now_ms() >= give_up) {
			log_warnx(
			    "rehearse: run %d did not end %d s after it was stopped: killing it",
			    rh.runs, GRACE_MS / 1000);
			kill(pid, SIGKILL); /* its watchdog kills the cgroup */
			waitpid(pid, &st, 0);
			return st;
		}
	}
}

/* argv of a run: this program, the options every run gets, extra (NULL-ended), its report and
 * its cgroup, then COMMAND. */
static int build_argv(char **argv, const char *const *extra, const char *report, const char *cg)
{
	int n = 0;

	argv[n++] = rh.self;
	for (int i = 0; i < rh.c->npass && n < MAX_ARGS - 16; i++)
		argv[n++] = rh.c->pass[i];
	for (int i = 0; extra[i] && n < MAX_ARGS - 8; i++)
		argv[n++] = (char *)extra[i];
	argv[n++] = "--report";
	argv[n++] = (char *)report;
	argv[n++] = "--cgroup";
	argv[n++] = (char *)cg;
	argv[n++] = "--";
	for (int i = 0; rh.c->cmd[i]; i++) {
		if (n == MAX_ARGS - 1) {
			log_warnx("--rehearse: COMMAND has too many arguments (at most %d with the "
				  "options)",
				  MAX_ARGS - 16);
			return -E2BIG;
		}
		argv[n++] = rh.c->cmd[i];
	}
	argv[n] = NULL;
	return 0;
}

/* One run: returns its wait status, with its time in *ms and *stopped if it was stopped. */
static int run_once(const char *const *extra, const char *report, const char *out,
		    long long timeout_ms, long long *ms, bool *stopped)
{
	char *argv[MAX_ARGS], cg[PATH_MAX];
	long long t0 = now_ms();
	pid_t pid;
	int st;

	run_cgroup(cg, sizeof(cg), ++rh.runs);
	if (build_argv(argv, extra, report, cg))
		return -1;
	pid = spawn(argv, out);
	if (pid < 0) {
		log_warn("--rehearse: cannot start run %d", rh.runs);
		return -1;
	}
	st = await(pid, cg, timeout_ms ? t0 + timeout_ms : 0, stopped);
	*ms = now_ms() - t0;
	return st;
}

/* The last lines of a run's output, to say why it failed. */
static void show_tail(const char *out)
{
	size_t len;
	char *text = report_slurp(out, &len), *s;
	int lines = 0;

	if (!text)
		return;
	for (s = text + len; s > text && lines <= 8; s--)
		lines += s[-1] == '\n';
	fprintf(stderr, "deployguard: rehearse: the run's last lines:\n%.*s", (int)(text + len - s),
		s + (s > text));
	free(text);
}

/* ---- one trial ---- */

/* The first process that asked for the dependency in a run's report, and whether any did. */
static void first_to_meet(const struct json *doc, struct trial *t)
{
	const struct json *dests = json_get(doc, "destinations");

	for (size_t i = 0; dests && i < dests->n; i++) {
		const struct json *x = &dests->items[i], *ps = json_get(x, "processes");
		const char *v = json_str(x, "verdict"), *kind = json_str(x, "kind");
		const char *what = json_str(x, kind && !strcmp(kind, "dns") ? "name" : "address");

		if (!what || strcmp(what, t->dep->what) || !v || !strcmp(v, "allowed"))
			continue;
		t->met = true;
		if (ps && ps->type == JSON_ARRAY && ps->n) {
			const char *cmd = json_str(&ps->items[0], "cmdline"),
				   *anc = json_str(&ps->items[0], "ancestry");

			t->pid = (long)num(&ps->items[0], "pid", 0);
			snprintf(t->cmd, sizeof(t->cmd), "%s", cmd ? cmd : "");
			snprintf(t->ancestry, sizeof(t->ancestry), "%s", anc ? anc : "");
		}
		return;
	}
}

/* What the run reached that the audit run did not ("+x"), and the reverse ("-y"): a fallback
 * kicked in, or COMMAND stopped before it got there. */
static void changes(const struct json *doc, struct trial *t)
{
	static struct dep now[MAX_DEPS];
	size_t n = deps_of(doc, now, MAX_DEPS), len = 0;

	t->changed[0] = '\0';
	for (int pass = 0; pass < 2; pass++) {
		const struct dep *a = pass ? rh.all : now, *b = pass ? now : rh.all;
		size_t na = pass ? rh.nall : n, nb = pass ? n : rh.nall;

		for (size_t i = 0; i < na; i++) {
			bool found = !strcmp(a[i].what, t->dep->what);

			for (size_t k = 0; k < nb && !found; k++)
				found = !strcmp(a[i].what, b[k].what);
			if (!found && len < sizeof(t->changed))
				len += (size_t)snprintf(t->changed + len, sizeof(t->changed) - len,
							"%s%c%s", len ? " " : "", pass ? '-' : '+',
							a[i].what);
		}
	}
}

/* Run COMMAND with dependency d down in the way o says, and judge the outcome. */
static int trial(struct trial *t, long long timeout_ms)
{
	char policy[PATH_MAX], report[PATH_MAX], out[PATH_MAX];
	const char *extra[8] = {"-b", policy};
	int n = 2, st;
	bool stopped;
	struct json doc;
	char *text;
	size_t len;
	FILE *f;

	path_in_dir(policy, sizeof(policy), "policy", rh.runs + 1);
	path_in_dir(report, sizeof(report), "report", rh.runs + 1);
	path_in_dir(out, sizeof(out), "output", rh.runs + 1);
	if (!(f = fopen(policy, "we")))
		return -1;
	fprintf(f, "%s%s # rehearsal: %s\n", t->dep->addr ? "" : "=", t->dep->what,
		outages[t->outage].name);
	fclose(f);
	if (!t->dep->addr) {
		extra[n++] = "--block-action";
		extra[n++] = outages[t->outage].block;
	}
	if (outages[t->outage].connect) {
		extra[n++] = "--connect-action";
		extra[n++] = outages[t->outage].connect;
	}
	st = run_once(extra, report, out, timeout_ms, &t->ms, &stopped);
	if (st < 0)
		return -1;
	t->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	t->outcome = stopped			 ? HANG
		     : t->status == 0		 ? SOFT
		     : t->status == DG_EXIT_FAIL ? ERROR
						 : HARD;
	t->extra_ms = t->ms - rh.audit_ms;
	if (load_report(report, &doc, &text, &len) == 0) {
		long long cmd_ms = command_ms(&doc);

		/* COMMAND's own times, where both runs have them: a compile's jitter is not the
		 * outage's cost. */
		if (cmd_ms >= 0 && rh.audit_cmd_ms >= 0)
			t->extra_ms = cmd_ms - rh.audit_cmd_ms;
		first_to_meet(&doc, t);
		changes(&doc, t);
		json_free(&doc);
		free(text);
	} else {
		t->outcome = stopped ? HANG : ERROR;
	}
	if (t->outcome == ERROR)
		show_tail(out);
	return 0;
}

/* ---- what came out ---- */

static int by_severity(const void *a, const void *b)
{
	const struct trial *x = a, *y = b;
	int c = strcmp(x->dep->what, y->dep->what);

	if (x->outcome != y->outcome)
		return (int)x->outcome - (int)y->outcome;
	return c ? c : (int)x->outage - (int)y->outage;
}

static void result_text(const struct trial *t, char *buf, size_t len)
{
	if (t->outcome == HANG)
		snprintf(buf, len, "stopped after %.1f s", (double)t->ms / 1000);
	else if (t->outcome == HARD)
		snprintf(buf, len, "exit %d after %.1f s", t->status, (double)t->ms / 1000);
	else if (t->outcome == ERROR)
		snprintf(buf, len, "deployguard failed (exit %d)", t->status);
	else
		snprintf(buf, len, "%+.1f s", (double)t->extra_ms / 1000);
}

/* "pid N: ancestry", printable, cut to fit a column. */
static void first_text(const struct trial *t, char *buf, size_t len)
{
	if (!t->met) {
		snprintf(buf, len, "(not asked for)");
		return;
	}
	snprintf(buf, len, "pid %ld: %s", t->pid, t->ancestry[0] ? t->ancestry : t->cmd);
	for (char *s = buf; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static int width(size_t w, const char *s, size_t max)
{
	size_t n = strlen(s);

	return (int)(n > w ? (n > max ? max : n) : w);
}

static void table(void)
{
	int wd = 10, wr = 6, wf = 16;
	unsigned count[4] = {0};
	char r[64], first[300];

	for (size_t i = 0; i < rh.ntrials; i++) {
		const struct trial *t = &rh.trials[i];

		count[t->outcome]++;
		result_text(t, r, sizeof(r));
		first_text(t, first, sizeof(first));
		wd = width((size_t)wd, t->dep->what, 60);
		wr = width((size_t)wr, r, 40);
		wf = width((size_t)wf, first, 60);
	}
	fprintf(stderr,
		"deployguard: rehearsal: %zu dependencies, %zu runs (the audit run took %.1f s): "
		"%u hang, %u hard, %u soft%s\n",
		rh.ndeps, rh.ntrials, (double)rh.audit_ms / 1000, count[HANG], count[HARD],
		count[SOFT], count[ERROR] ? ", and runs that failed (above)" : "");
	if (!rh.ntrials)
		return;
	fprintf(stderr, "  %-7s %-*s %-9s %-*s  %-*s  %s\n", "OUTCOME", wd, "DEPENDENCY", "OUTAGE",
		wr, "RESULT", wf, "FIRST TO MEET IT", "CHANGED");
	for (size_t i = 0; i < rh.ntrials; i++) {
		const struct trial *t = &rh.trials[i];

		result_text(t, r, sizeof(r));
		first_text(t, first, sizeof(first));
		fprintf(stderr, "  %-7s %-*.60s %-9s %-*s  %-*.60s  %s\n",
			outcome_names[t->outcome], wd, t->dep->what, outages[t->outage].name, wr, r,
			wf, first, t->changed[0] ? t->changed : "-");
	}
}

/* The "+x" or "-x" words of changed as a JSON array of x. */
static void put_changes(FILE *f, const char *changed, char sign)
{
	char buf[sizeof(((struct trial *)0)->changed)], *save, *w;
	bool first = true;

	snprintf(buf, sizeof(buf), "%s", changed);
	fputc('[', f);
	for (w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (w[0] != sign)
			continue;
		fputs(first ? "" : ",", f);
		audit_json_string(f, w + 1);
		first = false;
	}
	fputc(']', f);
}

static void put_trial(FILE *f, const struct trial *t)
{
	fputs("{\"dependency\":", f);
	audit_json_string(f, t->dep->what);
	fprintf(f, ",\"kind\":\"%s\",\"outage\":\"%s\",\"outcome\":\"%s\",\"exitStatus\":",
		t->dep->addr ? "address" : "name", outages[t->outage].name,
		outcome_names[t->outcome]);
	if (t->outcome == HANG)
		fputs("null", f);
	else
		fprintf(f, "%d", t->status);
	fprintf(f, ",\"durationMs\":%lld,\"extraMs\":%lld,\"met\":%s,\"process\":", t->ms,
		t->extra_ms, t->met ? "true" : "false");
	if (t->met) {
		fprintf(f, "{\"pid\":%ld,\"cmdline\":", t->pid);
		audit_json_string(f, t->cmd);
		fputs(",\"ancestry\":", f);
		audit_json_string(f, t->ancestry);
		fputc('}', f);
	} else {
		fputs("null", f);
	}
	fputs(",\"added\":", f);
	put_changes(f, t->changed, '+');
	fputs(",\"missing\":", f);
	put_changes(f, t->changed, '-');
	fputc('}', f);
}

/* The audit run's report with the rehearsal added: its text up to the closing brace, then the
 * trials. The text is deployguard's own (or a --from-report that parsed), so its last '}' closes
 * it. */
static void write_report(FILE *f, long long timeout_ms)
{
	size_t end = rh.audit_len;

	while (end && rh.audit_text[end - 1] != '}')
		end--;
	fwrite(rh.audit_text, 1, end ? end - 1 : 0, f);
	fputs(",\"rehearsal\":[", f);
	for (size_t i = 0; i < rh.ntrials; i++) {
		fputs(i ? ",\n" : "\n", f);
		put_trial(f, &rh.trials[i]);
	}
	fprintf(f, "],\"rehearsalTimeoutMs\":%lld,\"rehearsalInterrupted\":%s}\n", timeout_ms,
		rh.stop_sig ? "true" : "false");
}

static const char *const colors[] = {
    [HANG] = "orange", [HARD] = "red", [ERROR] = "gray", [SOFT] = "forestgreen"};

/* The audit run's graph, each dependency's node coloured by its worst outcome and labelled with
 * every outcome (later attributes of a node override earlier ones in DOT). */
static void write_graph(FILE *f, const char *dot)
{
	size_t len, end;
	char *text = report_slurp(dot, &len);

	if (!text) {
		log_warn("--rehearse: cannot read the audit run's graph %s", dot);
		return;
	}
	for (end = len; end && text[end - 1] != '}'; end--)
		;
	fwrite(text, 1, end ? end - 1 : 0, f);
	free(text);
	for (size_t d = 0; d < rh.ndeps; d++) {
		enum outcome worst = SOFT;
		bool any = false;

		for (size_t i = 0; i < rh.ntrials; i++)
			if (rh.trials[i].dep == &rh.deps[d] && rh.trials[i].outcome <= worst) {
				worst = rh.trials[i].outcome;
				any = true;
			}
		if (!any)
			continue;
		fprintf(f, "  d%zu [color=%s, penwidth=2, xlabel=\"", rh.deps[d].dest,
			colors[worst]);
		for (size_t i = 0, k = 0; i < rh.ntrials; i++)
			if (rh.trials[i].dep == &rh.deps[d])
				fprintf(f, "%s%s: %s", k++ ? ", " : "",
					outages[rh.trials[i].outage].name,
					outcome_names[rh.trials[i].outcome]);
		fputs("\"];\n", f);
	}
	fputs("}\n", f);
}

static void step_summary(void)
{
	const char *path = getenv("GITHUB_STEP_SUMMARY");
	unsigned count[4] = {0};
	char r[64], first[300];
	FILE *f;

	if (!path || !*path)
		return;
	if (!(f = fopen(path, "ae"))) {
		log_warn("GITHUB_STEP_SUMMARY %s: cannot append the rehearsal", path);
		return;
	}
	for (size_t i = 0; i < rh.ntrials; i++)
		count[rh.trials[i].outcome]++;
	fputs("### deployguard rehearsal: ", f);
	report_md_text(f, rh.c->cmd[0], 80, true);
	fprintf(f, " %u hang, %u hard, %u soft\n\n", count[HANG], count[HARD], count[SOFT]);
	fputs("| outcome | dependency | outage | result | first to meet it | changed |\n"
	      "| --- | --- | --- | --- | --- | --- |\n",
	      f);
	for (size_t i = 0; i < rh.ntrials; i++) {
		const struct trial *t = &rh.trials[i];

		result_text(t, r, sizeof(r));
		first_text(t, first, sizeof(first));
		fputc('|', f);
		report_md_cell(f, outcome_names[t->outcome], 10, false);
		report_md_cell(f, t->dep->what, 260, true);
		report_md_cell(f, outages[t->outage].name, 20, false);
		report_md_cell(f, r, 60, false);
		report_md_cell(f, first, 120, true);
		report_md_cell(f, t->changed[0] ? t->changed : NULL, 200, false);
		fputc('\n', f);
	}
	fputc('\n', f);
	if (fclose(f))
		log_warn("GITHUB_STEP_SUMMARY %s: failed to write", path);
}

/* ---- the rehearsal ---- */

static void remove_dir(void)
{
	char path[PATH_MAX + 300];

	for (int n = 0; n <= rh.runs; n++)
		for (const char *const *w =
			 (const char *const[]){"policy", "report", "output", "graph", NULL};
		     *w; w++) {
			path_in_dir(path, sizeof(path), *w, n);
			unlink(path);
		}
	if (rh.dir[0] && rmdir(rh.dir))
		log_warn("--rehearse: cannot remove %s", rh.dir);
}

static int setup(void)
{
	const char *tmp = getenv("TMPDIR");
	ssize_t n = readlink("/proc/self/exe", rh.self, sizeof(rh.self) - 1);
	sigset_t set;

	if (n <= 0) {
		log_warn("--rehearse: cannot find this program (/proc/self/exe)");
		return -1;
	}
	rh.self[n] = '\0';
	if (cg_mount(rh.mnt, sizeof(rh.mnt))) {
		log_warnx("--rehearse: no cgroup2 mount in /proc/self/mounts (a rehearsal stops a "
			  "run by its cgroup)");
		return -1;
	}
	snprintf(rh.dir, sizeof(rh.dir), "%s/deployguard-rehearse.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(rh.dir)) {
		log_warn("--rehearse: cannot make a directory for the runs' reports (%s)", rh.dir);
		rh.dir[0] = '\0';
		return -1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &rh.old_mask);
	return 0;
}

/* The dependencies: from --from-report, or from an audit run of COMMAND. Returns 0, or the exit
 * status to stop with. */
static int learn(void)
{
	char report[PATH_MAX], out[PATH_MAX], graph[PATH_MAX];
	const char *extra[72];
	int n = 0, st;
	long long ms;
	bool stopped;

	if (rh.c->from_report) {
		if (load_report(rh.c->from_report, &rh.audit, &rh.audit_text, &rh.audit_len))
			return DG_EXIT_FAIL;
		rh.audit_ms = (long long)num(json_get(&rh.audit, "run"), "durationMs", 0);
		rh.audit_cmd_ms = command_ms(&rh.audit);
		return 0;
	}
	path_in_dir(report, sizeof(report), "report", 1);
	path_in_dir(out, sizeof(out), "output", 1);
	path_in_dir(graph, sizeof(graph), "graph", 1);
	for (int i = 0; i < rh.c->naudit && n < 64; i++)
		extra[n++] = rh.c->audit_pass[i];
	extra[n++] = "--audit";
	if (rh.c->graph) {
		extra[n++] = "--graph";
		extra[n++] = graph;
	}
	extra[n] = NULL;
	fprintf(stderr, "deployguard: rehearsal: an audit run of %s, to learn its dependencies\n",
		rh.c->cmd[0]);
	st = run_once(extra, report, out, rh.c->timeout_s * 1000LL, &ms, &stopped);
	if (st < 0)
		return DG_EXIT_FAIL;
	rh.audit_ms = ms;
	if (rh.stop_sig)
		return 128 + rh.stop_sig;
	if (stopped || !WIFEXITED(st) || WEXITSTATUS(st)) {
		log_warnx("--rehearse: the audit run %s (%s %d): a rehearsal needs a COMMAND that "
			  "succeeds with every dependency up",
			  stopped ? "did not finish in time" : "failed",
			  WIFEXITED(st) ? "exit" : "signal",
			  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		show_tail(out);
		return WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) : DG_EXIT_FAIL;
	}
	if (load_report(report, &rh.audit, &rh.audit_text, &rh.audit_len))
		return DG_EXIT_FAIL;
	rh.audit_cmd_ms = command_ms(&rh.audit);
	return 0;
}

/* The dependencies to rehearse, after --rehearse-only and --rehearse-skip. */
static void choose(void)
{
	struct dep *all = rh.all;
	size_t n = rh.nall = deps_of(&rh.audit, all, MAX_DEPS);

	if (n == MAX_DEPS)
		log_warnx("--rehearse: more than %d dependencies: rehearsing the first %d",
			  MAX_DEPS, MAX_DEPS);
	for (size_t i = 0; i < n; i++)
		if ((!rh.c->nonly || any_match(rh.c->only, rh.c->nonly, all[i].what)) &&
		    !any_match(rh.c->skip, rh.c->nskip, all[i].what))
			rh.deps[rh.ndeps++] = all[i];
	for (int k = 0; k < rh.c->nonly; k++) {
		bool used = false;

		for (size_t i = 0; i < n && !used; i++)
			used = matches(rh.c->only[k], all[i].what);
		if (!used)
			log_warnx("--rehearse-only %s: COMMAND did not reach it", rh.c->only[k]);
	}
}

static int run_trials(long long timeout_ms)
{
	unsigned kinds = rh.c->outages ? rh.c->outages : 1u << OUT_NXDOMAIN | 1u << OUT_BLACKHOLE;
	size_t planned = 0;

	for (size_t d = 0; d < rh.ndeps; d++)
		for (int o = 0; o < OUT_N; o++)
			planned += kinds >> o & 1 && (!rh.deps[d].addr || outages[o].connect);
	rh.trials = calloc(planned ? planned : 1, sizeof(*rh.trials));
	if (!rh.trials)
		return DG_EXIT_FAIL;
	for (size_t d = 0; d < rh.ndeps && !rh.stop_sig; d++)
		for (int o = 0; o < OUT_N && !rh.stop_sig; o++) {
			struct trial *t = &rh.trials[rh.ntrials];
			char r[64];

			if (!(kinds >> o & 1) || (rh.deps[d].addr && !outages[o].connect))
				continue;
			*t = (struct trial){.dep = &rh.deps[d], .outage = (enum outage)o};
			if (trial(t, timeout_ms))
				return DG_EXIT_FAIL;
			if (rh.stop_sig)
				break; /* cut short: not an outcome */
			result_text(t, r, sizeof(r));
			fprintf(stderr, "deployguard: rehearsal %zu/%zu: %s %s: %s (%s)\n",
				++rh.ntrials, planned, t->dep->what, outages[o].name,
				outcome_names[t->outcome], r);
		}
	return 0;
}

/* Open what the rehearsal writes now, so that a path that cannot be written fails at once. */
static int open_outputs(FILE **report, FILE **graph)
{
	*report = rh.c->report ? fopen(rh.c->report, "we") : NULL;
	*graph = rh.c->graph ? fopen(rh.c->graph, "we") : NULL;
	if ((rh.c->report && !*report) || (rh.c->graph && !*graph)) {
		log_warn("--rehearse: cannot write %s",
			 !*report && rh.c->report ? rh.c->report : rh.c->graph);
		return -1;
	}
	return 0;
}

int rehearse(const struct rehearse_cfg *c)
{
	FILE *report = NULL, *graph = NULL;
	long long timeout_ms = 0;
	char dot[PATH_MAX];
	int ret;

	rh.c = c;
	ret = setup() || open_outputs(&report, &graph) ? DG_EXIT_FAIL : learn();
	if (!ret) {
		choose();
		timeout_ms = c->timeout_s			   ? c->timeout_s * 1000LL
			     : rh.audit_ms * 3 > MIN_WAIT_S * 1000 ? rh.audit_ms * 3
								   : MIN_WAIT_S * 1000;
		if (!rh.ndeps)
			fprintf(stderr,
				"deployguard: rehearsal: COMMAND reached no name or address "
				"(of those chosen): nothing to rehearse\n");
		ret = run_trials(timeout_ms);
	}
	if (rh.audit_text) {
		qsort(rh.trials, rh.ntrials, sizeof(*rh.trials), by_severity);
		table();
		step_summary();
		if (report)
			write_report(report, timeout_ms);
		path_in_dir(dot, sizeof(dot), "graph", 1);
		if (graph)
			write_graph(graph, dot);
	}
	if ((report && fclose(report)) || (graph && fclose(graph)))
		log_warn("--rehearse: failed to write the report or the graph");
	if (!rh.audit_text) { /* nothing learned: no empty files */
		if (report)
			unlink(c->report);
		if (graph)
			unlink(c->graph);
	}
	for (size_t i = 0; !ret && i < rh.ntrials; i++)
		if (rh.trials[i].outcome == ERROR)
			ret = DG_EXIT_FAIL;
	for (size_t i = 0; !ret && i < rh.ntrials; i++)
		if (rh.trials[i].outcome <= HARD)
			ret = DG_EXIT_FRAGILE;
	if (rh.stop_sig) {
		fprintf(stderr, "deployguard: rehearsal stopped by %s after %zu runs\n",
			strsignal(rh.stop_sig), rh.ntrials);
		ret = 128 + rh.stop_sig;
	}
	if (ret == DG_EXIT_FRAGILE)
		fprintf(stderr,
			"deployguard: rehearsal: an outage failed or hung COMMAND: exit %d\n",
			DG_EXIT_FRAGILE);
	remove_dir();
	free(rh.trials);
	free(rh.audit_text);
	json_free(&rh.audit);
	sigprocmask(SIG_SETMASK, &rh.old_mask, NULL);
	return ret;
}
