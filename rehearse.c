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
#include "rehearse_int.h"

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

#define MAX_ARGS   192
#define GRACE_MS   10000 /* from SIGTERM or cgroup.kill to giving up on a run */
#define MIN_WAIT_S 30

struct rehearsal rh;

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

static bool any_match(const char *const *pats, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		if (rh_matches(pats[i], what))
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
	if (load_report(report, &doc, &text, &len) == 0) {
		rh_judge(t, st, stopped, &doc, &rh.verdict_base);
		json_free(&doc);
		free(text);
	} else {
		rh_judge(t, st, stopped, NULL, &rh.verdict_base);
	}
	if (t->outcome == ERROR)
		show_tail(out);
	return 0;
}

/* ---- what came out ---- */

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
		rh.audit_ms = (long long)rh_num(json_get(&rh.audit, "run"), "durationMs", 0);
		rh.audit_cmd_ms = rh_command_ms(&rh.audit);
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
	rh.audit_cmd_ms = rh_command_ms(&rh.audit);
	return 0;
}

/* The dependencies to rehearse, after --rehearse-only and --rehearse-skip. */
static void choose(void)
{
	struct dep *all = rh.all;
	size_t n = rh.nall = rh_deps_of(&rh.audit, all, MAX_DEPS);

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
			used = rh_matches(rh.c->only[k], all[i].what);
		if (!used)
			log_warnx("--rehearse-only %s: COMMAND did not reach it", rh.c->only[k]);
	}
}

static int run_trials(long long timeout_ms)
{
	unsigned kinds = rh.c->outages ? rh.c->outages : 1u << OUT_NXDOMAIN | 1u << OUT_BLACKHOLE;
	size_t planned = 0;

	rh.verdict_base = (struct rh_base){rh.all, rh.nall, rh.audit_ms, rh.audit_cmd_ms};
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
			rh_result_text(t, r, sizeof(r));
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
		qsort(rh.trials, rh.ntrials, sizeof(*rh.trials), rh_by_severity);
		rh_table();
		rh_step_summary();
		if (report)
			rh_write_report(report, timeout_ms);
		path_in_dir(dot, sizeof(dot), "graph", 1);
		if (graph)
			rh_write_graph(graph, dot);
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
