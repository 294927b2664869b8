/*
 * report.c: what a run leaves behind for people and machines. The JSON report (--report) is the
 * whole baseline of a run: the run itself, every destination with its verdict, class, rule and
 * the processes that asked (with their lineage and how they ended), and every program executed.
 * The graph (--graph) draws the same as Graphviz DOT: the deploy, its commands, their
 * destinations, and the manifest's dependencies of those, blocked paths in red. Both are
 * written to a temporary file beside their path and renamed, so a reader never sees half a file.
 */
#define _GNU_SOURCE
#include "report.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "allowlist.h"
#include "audit.h"
#include "json.h"
#include "log.h"
#include "policy.h"
#include "proc.h"
#include "sha256.h"

static struct out {
	const char *path;
	char tmp[PATH_MAX];
	FILE *f;
} outs[3]; /* the report, the graph, the allowlist */
static bool written;

static int open_tmp(struct out *o, const char *path, const char *what)
{
	int fd;

	o->path = path;
	if (snprintf(o->tmp, sizeof(o->tmp), "%s.XXXXXX", path) >= (int)sizeof(o->tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(o->tmp, O_CLOEXEC);
	if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
		int err = -errno;

		log_warn("%s %s: cannot write a file beside it", what, path);
		if (fd >= 0) {
			close(fd);
			unlink(o->tmp);
		}
		o->tmp[0] = '\0';
		return err;
	}
	fchmod(fd, 0644);
	return 0;
}

int report_open(const char *report, const char *graph, const char *allowlist)
{
	int err = 0;

	if (report && (err = open_tmp(&outs[0], report, "--report")))
		return err;
	if (graph && (err = open_tmp(&outs[1], graph, "--graph")))
		return err;
	if (allowlist && (err = open_tmp(&outs[2], allowlist, "--write-allowlist")))
		return err;
	return 0;
}

static void close_out(struct out *o, bool keep)
{
	if (!o->f)
		return;
	if (fclose(o->f) && keep) {
		log_warn("failed to write %s", o->path);
		keep = false;
	}
	o->f = NULL;
	if (keep && rename(o->tmp, o->path)) {
		log_warn("failed to rename %s to %s", o->tmp, o->path);
		keep = false;
	}
	if (!keep)
		unlink(o->tmp);
}

void report_discard(void)
{
	for (size_t i = 0; i < sizeof(outs) / sizeof(outs[0]); i++)
		close_out(&outs[i], false);
}

/* ISO 8601 UTC with milliseconds, as a JSON string. */
static void put_time(FILE *f, uint64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char buf[40];

	gmtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(f, "\"%s.%03uZ\"", buf, (unsigned)(ms % 1000));
}

static void put_files(FILE *f, const char *const *files, int n)
{
	fputc('[', f);
	for (int i = 0; i < n; i++) {
		char hex[65];

		fputs(i ? ",{\"file\":" : "{\"file\":", f);
		audit_json_string(f, files[i]);
		fputs(",\"sha256\":", f);
		audit_json_string(f, sha256_file(files[i], hex) ? NULL : hex);
		fputc('}', f);
	}
	fputc(']', f);
}

static void put_strings(FILE *f, const char *const *s, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? "," : "", f);
		audit_json_string(f, s[i]);
	}
	fputc(']', f);
}

static void put_run(FILE *f, const struct report_run *run, int status, bool failed)
{
	const char *const *warn;
	struct utsname u;
	size_t nwarn, nargs = 0;

	uname(&u);
	fputs("\"run\":{\"command\":", f);
	while (run->argv && run->argv[nargs])
		nargs++;
	if (run->argv)
		put_strings(f, (const char *const *)run->argv, nargs);
	else
		fputs("null", f);
	fputs(",\"service\":", f);
	audit_json_string(f, run->service);
	fputs(",\"job\":", f);
	audit_json_string(f, run->history ? run->job : NULL);
	fputs(",\"history\":", f);
	audit_json_string(f, run->history);
	fputs(",\"start\":", f);
	put_time(f, run->start_ms);
	fprintf(f, ",\"durationMs\":%llu,\"exitStatus\":%d,\"failed\":%s,\"mode\":",
		(unsigned long long)(proc_wall_ms() - run->start_ms), status,
		failed ? "true" : "false");
	audit_json_string(f, run->mode);
	fputs(",\"commandMs\":", f);
	if (run->cmd_start_ms && run->cmd_end_ms >= run->cmd_start_ms)
		fprintf(f, "%llu", (unsigned long long)(run->cmd_end_ms - run->cmd_start_ms));
	else
		fputs("null", f);
	fprintf(f, ",\"audit\":%s,\"policies\":", run->audit ? "true" : "false");
	put_files(f, run->policies, run->npolicies);
	fputs(",\"depends\":", f);
	put_files(f, run->manifests, run->nmanifests);
	fputs(",\"host\":", f);
	audit_json_string(f, u.nodename);
	fputs(",\"kernel\":", f);
	audit_json_string(f, u.release);
	fputs(",\"cgroup\":", f);
	audit_json_string(f, run->cgroup);
	fputs(",\"warnings\":", f);
	warn = log_warnings(&nwarn);
	put_strings(f, warn, nwarn);
	fputc('}', f);
}

/* The container a process ran in: "container", null or its id, name, image and engine. */
static void put_container(FILE *f, const struct container *c)
{
	if (!c) {
		fputs(",\"container\":null", f);
		return;
	}
	fputs(",\"container\":{\"id\":", f);
	audit_json_string(f, c->id);
	fputs(",\"name\":", f);
	audit_json_string(f, c->name[0] ? c->name : NULL);
	fputs(",\"image\":", f);
	audit_json_string(f, c->image[0] ? c->image : NULL);
	fputs(",\"engine\":", f);
	audit_json_string(f, c->engine);
	fputc('}', f);
}

/* How a process ended: "fate", with "status" (exit code) or "signal". */
static void put_fate(FILE *f, const struct proc *p)
{
	const char *fate = "unknown";
	char path[64];

	if (p->next >= 0) {
		fputs(",\"fate\":\"exec\"", f);
		return;
	}
	if (p->ended && WIFSIGNALED(p->status)) {
		fprintf(f, ",\"fate\":\"killed\",\"signal\":%d", WTERMSIG(p->status));
		return;
	}
	if (p->ended) {
		fprintf(f, ",\"fate\":\"exited\",\"status\":%d", WEXITSTATUS(p->status));
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d", (int)p->pid);
	if (access(path, F_OK) == 0 && proc_stat(p->pid, 22) == p->start)
		fate = "running";
	fprintf(f, ",\"fate\":\"%s\"", fate);
}

static void put_process(FILE *f, int rec, bool direct)
{
	const struct proc *p = proc_lineage(rec);

	fprintf(f, "{\"pid\":%d,\"ppid\":%d,\"exe\":", (int)p->pid, (int)p->ppid);
	audit_json_string(f, p->exe);
	fputs(",\"cmdline\":", f);
	audit_json_string(f, p->cmd);
	fputs(",\"ancestry\":", f);
	audit_json_string(f, p->lineage);
	fputs(",\"ancestorPids\":[", f);
	for (int i = 0; i < p->nup; i++)
		fprintf(f, i ? ",%d" : "%d", (int)p->up[i]);
	fprintf(f, "],\"class\":\"%s\"", direct ? "direct" : "hidden");
	put_fate(f, p);
	put_container(f, p->ctr);
	fputc('}', f);
}

/* A connect row's "ADDR:PORT" or "[ADDR]:PORT" as address and port; a dns row's name. */
static void put_where(FILE *f, const struct audit_row *r)
{
	char addr[INET6_ADDRSTRLEN + 2] = "";
	const char *colon = strrchr(r->what, ':');
	bool conn = !strcmp(r->kind, "connect") && colon, dns = !strcmp(r->kind, "dns");
	size_t n = conn ? (size_t)(colon - r->what) : 0;

	if (conn && r->what[0] == '[' && n >= 2)
		snprintf(addr, sizeof(addr), "%.*s", (int)(n - 2), r->what + 1);
	else if (conn)
		snprintf(addr, sizeof(addr), "%.*s", (int)n, r->what);
	fputs(",\"name\":", f);
	audit_json_string(f, dns ? r->what : NULL);
	fputs(",\"address\":", f);
	audit_json_string(f, conn ? addr : NULL);
	if (conn)
		fprintf(f, ",\"port\":%ld,\"protocol\":", strtol(colon + 1, NULL, 10));
	else
		fputs(",\"port\":null,\"protocol\":", f);
	audit_json_string(f, dns ? "dns" : conn ? r->proto : NULL);
	fputs(",\"addresses\":[", f);
	for (size_t i = 0; i < r->naddrs; i++) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(r->addrs[i].v6 ? AF_INET6 : AF_INET, r->addrs[i].a, a, sizeof(a));
		fprintf(f, i ? ",\"%s\"" : "\"%s\"", a);
	}
	fputc(']', f);
}

static void put_destination(FILE *f, const struct audit_row *r)
{
	fputs("{\"kind\":", f);
	audit_json_string(f, r->kind);
	fputs(",\"what\":", f);
	audit_json_string(f, r->what);
	put_where(f, r);
	fprintf(f, ",\"verdict\":\"%s\",\"class\":", audit_verdict_name(r->verdict));
	audit_json_string(f, audit_class(r));
	fputs(",\"reason\":", f);
	audit_json_string(f, r->reason);
	fputs(",\"rule\":", f);
	audit_json_string(f, r->rule);
	fputs(",\"ruleComment\":", f);
	audit_json_string(f, r->comment);
	fputs(",\"via\":", f);
	audit_json_string(f, r->via);
	fprintf(f, ",\"new\":%s,\"count\":%lu,\"first\":", r->fresh ? "true" : "false", r->count);
	put_time(f, r->first_ms);
	fputs(",\"last\":", f);
	put_time(f, r->last_ms);
	fputs(",\"processes\":[", f);
	for (size_t i = 0; i < r->naskers; i++) {
		fputs(i ? "," : "", f);
		put_process(f, r->askers[i].rec, r->askers[i].direct);
	}
	fprintf(f, "],\"moreProcesses\":%lu}", r->more_askers);
}

static void put_executed(FILE *f)
{
	bool first = true;

	fputs(",\"executed\":[", f);
	for (int i = 0; i < proc_count(); i++) {
		const struct proc *p = proc_at(i);

		if (!p->exec_ms)
			continue;
		fprintf(f, "%s\n{\"pid\":%d,\"ppid\":%d,\"exe\":", first ? "" : ",", (int)p->pid,
			(int)p->ppid);
		audit_json_string(f, p->exe);
		fputs(",\"cmdline\":", f);
		audit_json_string(f, p->cmd);
		fputs(",\"time\":", f);
		put_time(f, p->exec_ms);
		fputc('}', f);
		first = false;
	}
	fprintf(f, "],\"moreExecuted\":%lu", proc_dropped());
}

static void write_report(FILE *f, const struct report_run *run, int status, bool failed)
{
	unsigned long other;
	size_t n;
	const struct audit_row *rows = audit_rows(&n, &other);

	fprintf(f, "{\"version\":%d,", REPORT_VERSION);
	put_run(f, run, status, failed);
	fputs(",\"destinations\":[", f);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ",\n" : "\n", f);
		put_destination(f, &rows[i]);
	}
	fprintf(f, "],\"moreDestinations\":%lu", other);
	put_executed(f);
	fputs("}\n", f);
}

/* A DOT string: quotes and backslashes escaped, control bytes dropped, cut at max bytes. */
static void dot_string(FILE *f, const char *s, size_t max)
{
	fputc('"', f);
	for (size_t i = 0; s && s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fputc('\\', f);
		if (c >= 0x20 && c != 0x7f)
			fputc(c, f);
	}
	fputs(s && strlen(s) > max ? "...\"" : "\"", f);
}

/* The nodes of a process's lineage, COMMAND first, and the edges down to the process. */
static void dot_lineage(FILE *f, int rec)
{
	const struct proc *p = proc_lineage(rec);
	char names[PROC_DEPTH + 1][64] = {{0}};
	const char *s = p->lineage ? p->lineage : "";

	for (int k = 0; k <= p->nup && *s; k++) { /* "a → b → c": names[0] is the top */
		const char *arrow = strstr(s, " → ");
		size_t len = arrow ? (size_t)(arrow - s) : strlen(s);

		snprintf(names[k], sizeof(names[k]), "%.*s", (int)len, s);
		s = arrow ? arrow + strlen(" → ") : s + len;
	}
	for (int i = 0, prev = 0; i <= p->nup; i++) {
		pid_t pid = i < p->nup ? p->up[p->nup - 1 - i] : p->pid;

		fprintf(f, "  p%d [label=", (int)pid);
		dot_string(f, i == p->nup ? p->cmd : names[i], 48);
		fputs("];\n", f);
		if (i == 0)
			fprintf(f, "  run -> p%d;\n", (int)pid);
		else
			fprintf(f, "  p%d -> p%d;\n", prev, (int)pid);
		prev = (int)pid;
	}
}

/* The node of a manifest dependency: the destination's if the deploy asked for it too. */
static void dot_dependency(FILE *f, const struct audit_row *rows, size_t n, size_t from,
			   const char *dep, bool blocked)
{
	const char *color = blocked ? "red" : "black";

	for (size_t j = 0; j < n; j++)
		if (!strcmp(rows[j].kind, "dns") && !strcmp(rows[j].what, dep)) {
			fprintf(f, "  d%zu -> d%zu [style=dashed, color=%s];\n", from, j, color);
			return;
		}
	fprintf(f, "  \"dep:%s\" [shape=oval, style=dashed, color=%s, label=", dep, color);
	dot_string(f, dep, 64);
	fprintf(f, "];\n  d%zu -> \"dep:%s\" [style=dashed, color=%s];\n", from, dep, color);
}

static void write_graph(FILE *f, const struct report_run *run)
{
	unsigned long other;
	size_t n;
	const struct audit_row *rows = audit_rows(&n, &other);

	fputs("strict digraph deployguard {\n  rankdir=LR;\n  node [shape=box, "
	      "fontname=\"monospace\", fontsize=10];\n  run [shape=ellipse, label=",
	      f);
	dot_string(f, run->argv ? run->argv[0] : run->service ? run->service : run->cgroup, 48);
	fputs("];\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct audit_row *r = &rows[i];
		const char *cls = audit_class(r),
			   *red = r->verdict != AUDIT_ALLOWED ? "red" : "black";
		const struct depends_entry *e;

		if (!cls)
			continue;
		fprintf(f, "  d%zu [shape=oval, color=%s, label=", i, red);
		dot_string(f, r->what, 64);
		fprintf(f, ", xlabel=\"%s\"];\n", cls);
		for (size_t k = 0; k < r->naskers; k++) {
			dot_lineage(f, r->askers[k].rec);
			fprintf(f, "  p%d -> d%zu [color=%s];\n",
				(int)proc_at(r->askers[k].rec)->pid, i, red);
		}
		e = strcmp(r->kind, "dns") ? NULL
					   : depends_find(run->deps, r->what, strlen(r->what));
		for (size_t k = 0; e && k < e->ndeps; k++)
			dot_dependency(f, rows, n, i, e->deps[k],
				       e->via && !strcmp(e->via, e->deps[k]));
	}
	fputs("}\n", f);
}

char *report_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	size_t cap = 65536, n = 0, got;
	char *buf = NULL, *nb;

	while (f && cap <= (256u << 20) && (nb = realloc(buf, cap))) {
		buf = nb;
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		cap *= 2;
	}
	if (!f || ferror(f) || n == cap) {
		free(buf);
		buf = NULL;
	}
	if (f)
		fclose(f);
	*len = n;
	return buf;
}

/* Markdown text for a table cell: a pipe would end the cell, a backtick the code span, a line
 * break the row. NULL is "-". */
void report_md_text(FILE *f, const char *s, size_t max, bool code)
{
	if (!s) {
		fputc('-', f);
		return;
	}
	fputs(code ? "`" : "", f);
	for (size_t i = 0; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '|')
			fputs("\\|", f);
		else
			fputc(c == '`' ? '\'' : c < 0x20 || c == 0x7f ? ' ' : c, f);
	}
	fputs(strlen(s) > max ? "..." : "", f);
	fputs(code ? "`" : "", f);
}

void report_md_cell(FILE *f, const char *s, size_t max, bool code)
{
	fputc(' ', f);
	report_md_text(f, s, max, code);
	fputs(" |", f);
}

/* GITHUB_STEP_SUMMARY: the run as a Markdown table, appended to the step's summary file. */
static void write_step_summary(const struct report_run *run, int status)
{
	const char *path = getenv("GITHUB_STEP_SUMMARY");
	unsigned long other, blocked = 0;
	size_t n;
	const struct audit_row *rows = audit_rows(&n, &other);
	FILE *f;

	if (!path || !*path)
		return;
	if (!(f = fopen(path, "ae"))) {
		log_warn("GITHUB_STEP_SUMMARY %s: cannot append the run's summary", path);
		return;
	}
	for (size_t i = 0; i < n; i++)
		blocked += rows[i].verdict != AUDIT_ALLOWED;
	fputs("### deployguard: ", f);
	report_md_text(f, run->argv ? run->argv[0] : run->cgroup, 80, true);
	fprintf(f, " exit %d, %zu destinations, %lu %s\n\n", status, n, blocked,
		run->audit ? "would be blocked" : "blocked");
	fputs(
	    "| verdict | destination | class | rule | command |\n| --- | --- | --- | --- | --- |\n",
	    f);
	for (size_t i = 0; i < n; i++) {
		const struct audit_row *r = &rows[i];
		char rule[600], verdict[40];

		snprintf(verdict, sizeof(verdict), "%s%s", audit_verdict_name(r->verdict),
			 r->fresh ? " (new)" : "");
		snprintf(rule, sizeof(rule), "%s%s%s%s", r->rule ? r->rule : "",
			 r->comment ? " (" : "", r->comment ? r->comment : "",
			 r->comment ? ")" : "");
		fputc('|', f);
		report_md_cell(f, verdict, 30, false);
		report_md_cell(f, r->what, 260, true);
		report_md_cell(f, audit_class(r), 20, false);
		report_md_cell(f, rule[0] ? rule : NULL, 200, false);
		report_md_cell(f, r->cmds[0], 80, true);
		fputc('\n', f);
	}
	if (other)
		fprintf(f, "\n%lu more destinations than a run keeps.\n", other);
	fputc('\n', f);
	if (fclose(f))
		log_warn("GITHUB_STEP_SUMMARY %s: failed to write", path);
}

void report_write(const struct report_run *run, int status, bool failed)
{
	if (written)
		return;
	written = true;
	if (outs[0].f)
		write_report(outs[0].f, run, status, failed);
	if (outs[1].f)
		write_graph(outs[1].f, run);
	if (outs[2].f) {
		unsigned long other;
		size_t n;
		const struct audit_row *rows = audit_rows(&n, &other);

		allowlist_write(outs[2].f, rows, n, other, run->argv);
	}
	write_step_summary(run, status);
	for (size_t i = 0; i < sizeof(outs) / sizeof(outs[0]); i++)
		close_out(&outs[i], true);
}

/* --merge-reports: one manifest entry per audited service, its names sorted and once each. */
struct merged {
	char *service;
	char **deps;
	size_t n;
};

static int add_unique(char ***list, size_t *n, const char *s)
{
	char **l;

	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*list)[i], s))
			return 0;
	if (!(l = realloc(*list, (*n + 1) * sizeof(*l))) || !(l[*n] = strdup(s))) {
		if (l)
			*list = l;
		return -1;
	}
	*list = l;
	(*n)++;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The text of a report, at most 256 MiB. */

/* The names a service's report says it needed, added to m. */
static int merge_one(const char *path, const struct json *doc, struct merged *m)
{
	const struct json *dests = json_get(doc, "destinations");
	char name[DG_NAME_MAX + 1], why[200];

	if (!dests || dests->type != JSON_ARRAY) {
		log_warnx("--merge-reports %s: no destinations list: not a deployguard report",
			  path);
		return -1;
	}
	for (size_t i = 0; i < dests->n; i++) {
		const char *kind = json_str(&dests->items[i], "kind"),
			   *what = json_str(&dests->items[i], "name");

		if (!kind || strcmp(kind, "dns") || !what)
			continue;
		if (policy_normalize(what, strlen(what), name, why, sizeof(why)) < 0) {
			log_warnx("--merge-reports %s: destination %zu: %s", path, i + 1, why);
			return -1;
		}
		if (strcmp(name, m->service) && add_unique(&m->deps, &m->n, name)) {
			log_warnx("--merge-reports: out of memory");
			return -1;
		}
	}
	return 0;
}

static int merge_file(const char *path, struct merged **all, size_t *nall)
{
	char err[300], svc[DG_NAME_MAX + 1];
	struct json doc;
	size_t len, i;
	char *text = report_slurp(path, &len);
	const char *service;
	struct merged *m;
	int rc = -1;

	if (!text) {
		log_warn("--merge-reports: cannot read %s", path);
		return -1;
	}
	if (json_parse(text, len, &doc, err, sizeof(err))) {
		log_warnx("--merge-reports %s: %s: not a JSON report", path, err);
		free(text);
		return -1;
	}
	free(text);
	service = json_str(json_get(&doc, "run"), "service");
	if (!service || policy_normalize(service, strlen(service), svc, err, sizeof(err)) < 0) {
		log_warnx("--merge-reports %s: run.service is %s: audit the service with "
			  "--service-name NAME",
			  path, service ? "not a name" : "not set");
		json_free(&doc);
		return -1;
	}
	for (i = 0; i < *nall && strcmp((*all)[i].service, svc); i++)
		;
	if (i == *nall && (m = realloc(*all, (*nall + 1) * sizeof(*m)))) {
		*all = m;
		m[i] = (struct merged){.service = strdup(svc)};
		(*nall)++;
	}
	if (i < *nall && (*all)[i].service)
		rc = merge_one(path, &doc, &(*all)[i]);
	json_free(&doc);
	return rc;
}

int report_merge(char *const *files)
{
	struct merged *all = NULL;
	size_t nall = 0;
	int rc = 0;

	for (int k = 0; files[k] && !rc; k++)
		rc = merge_file(files[k], &all, &nall);
	if (!rc)
		printf(
		    "# deployguard --merge-reports: SERVICE and the names its audit saw it need\n");
	for (size_t i = 0; i < nall; i++) {
		qsort(all[i].deps, all[i].n, sizeof(char *), by_name);
		if (!rc && all[i].n) {
			printf("%s", all[i].service);
			for (size_t k = 0; k < all[i].n; k++)
				printf(" %s", all[i].deps[k]);
			printf("\n");
		}
		for (size_t k = 0; k < all[i].n; k++)
			free(all[i].deps[k]);
		free(all[i].deps);
		free(all[i].service);
	}
	free(all);
	return rc ? 125 : 0;
}
