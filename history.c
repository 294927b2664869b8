/*
 * history.c: a job's earlier runs (--history), for the destinations no earlier run of the job
 * reached (new=true, --fail-on-new), and --history-report. The target is an SQLite file
 * (history_sqlite.c) or a PostgreSQL URI (history_pg.c) that a fleet shares. At start the job's
 * known destinations are read into memory, so that a new one is flagged on its first log line
 * without a query per lookup; at the end the run is written with its host, in one transaction.
 * A server that cannot be reached (or stops answering) never weakens the guard: the run goes on,
 * said once, compared with nothing and recorded nowhere.
 */
#define _GNU_SOURCE
#include "history.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "hash.h"
#include "history_int.h"
#include "log.h"

static struct {
	const struct hist_backend *be;
	void *db;
	const char *target, *job;
	bool baseline, unavailable;
	char **known; /* "kind what", open addressing by hash */
	size_t nknown, cap;
} hi;

static const struct hist_backend *backend_of(const char *target)
{
	return !strncmp(target, "postgresql://", 13) || !strncmp(target, "postgres://", 11)
		   ? &hist_pg
		   : &hist_sqlite;
}

static char *key_of(const char *kind, const char *what)
{
	char *k;

	return asprintf(&k, "%s %s", kind, what) < 0 ? NULL : k;
}

static size_t slot(const char *key)
{
	size_t i = fnv1a(key, strlen(key), FNV1A_INIT) & (hi.cap - 1);

	while (hi.known[i] && strcmp(hi.known[i], key))
		i = (i + 1) & (hi.cap - 1);
	return i;
}

static int grow_known(void)
{
	size_t ocap = hi.cap;
	char **old = hi.known;

	hi.cap = hi.cap ? hi.cap * 2 : 1024;
	if (!(hi.known = calloc(hi.cap, sizeof(*hi.known)))) {
		hi.known = old;
		hi.cap = ocap;
		return -1;
	}
	for (size_t i = 0; i < ocap; i++)
		if (old[i])
			hi.known[slot(old[i])] = old[i];
	free(old);
	return 0;
}

/* A destination an earlier run reached (the backend's callback). */
static int remember(void *ctx, const char *kind, const char *what)
{
	char *key = key_of(kind, what);

	(void)ctx;
	if (!key || ((hi.nknown + 1) * 2 > hi.cap && grow_known())) { /* at most half full */
		free(key);
		return -1;
	}
	if (hi.known[slot(key)]) {
		free(key);
		return 0;
	}
	hi.known[slot(key)] = key;
	hi.nknown++;
	return 0;
}

/* The server stopped answering: say so once, and use the history no more. */
static void unavailable(const char *err)
{
	if (!hi.unavailable)
		log_warnx("--history %s: unavailable (%s): the run is guarded as usual; it is "
			  "compared with no earlier run and recorded nowhere",
			  hi.target, err);
	hi.unavailable = true;
	if (hi.db)
		hi.be->close(hi.db);
	hi.db = NULL;
}

int history_open(const char *target, const char *job)
{
	char err[512];
	int64_t runs = 0;
	bool down;
	int rc;

	hi.target = target;
	hi.job = job;
	hi.be = backend_of(target);
	if (!(hi.db = hi.be->open(target, err, sizeof(err), &down))) {
		if (down) {
			unavailable(err);
			return 0;
		}
		log_warnx("--history %s: %s", target, err);
		return -1;
	}
	if ((rc = hi.be->load(hi.db, job, remember, NULL, &runs, err, sizeof(err)))) {
		if (rc == -2) {
			unavailable(err);
			return 0;
		}
		log_warnx("--history %s: %s", target, err);
		return -1;
	}
	hi.baseline = runs > 0;
	log_info("history: job \"%s\" has %zu known destinations in %lld runs (%s)%s", job,
		 hi.nknown, (long long)runs, hi.be->name,
		 hi.baseline ? "" : "; its first run: this one is the baseline");
	return 0;
}

bool history_available(void)
{
	return !hi.unavailable;
}

bool history_has_baseline(void)
{
	return hi.baseline;
}

bool history_known(const char *kind, const char *what)
{
	char *k;
	bool known;

	if (!hi.cap || !(k = key_of(kind, what)))
		return false;
	known = hi.known[slot(k)] != NULL;
	free(k);
	return known;
}

static int by_dest(const void *a, const void *b)
{
	const struct hist_dest *x = a, *y = b;
	int c = strcmp(x->kind, y->kind);

	return c ? c : strcmp(x->what, y->what);
}

int history_record(uint64_t start_ms, int status)
{
	char host[256] = "", err[512];
	unsigned long other;
	size_t n;
	const struct audit_row *rows = audit_rows(&n, &other);
	struct hist_dest *d = calloc(n ? n : 1, sizeof(*d));
	struct hist_run run = {hi.job, host, start_ms, status};
	int rc;

	if (!hi.db) {
		free(d);
		return 0;
	}
	if (!d) {
		log_warnx("--history %s: out of memory: this run was not recorded", hi.target);
		return -1;
	}
	gethostname(host, sizeof(host) - 1);
	for (size_t i = 0; i < n; i++)
		d[i] = (struct hist_dest){rows[i].kind, rows[i].what,
					  audit_verdict_name(rows[i].verdict)};
	qsort(d, n, sizeof(*d), by_dest); /* one lock order for every run (history_pg.c) */
	rc = hi.be->record(hi.db, &run, d, n, err, sizeof(err));
	free(d);
	if (rc == -2)
		unavailable(err);
	else if (rc)
		log_warnx("--history %s: %s: this run was not recorded", hi.target, err);
	return rc ? -1 : 0;
}

void history_close(void)
{
	for (size_t i = 0; i < hi.cap; i++)
		free(hi.known[i]);
	free(hi.known);
	if (hi.db)
		hi.be->close(hi.db);
	memset(&hi, 0, sizeof(hi));
}

/* --history-report: the rows, kept for the table's widths (or printed at once as JSON lines). */
struct report {
	struct hist_row *rows;
	size_t n, cap;
	bool json;
	int w[4]; /* job, kind, destination, verdicts */
};

static void iso_time(int64_t ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !gmtime_r(&t, &tm) || !strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, len, "-");
}

static void json_row(const struct hist_row *r)
{
	char first[32], last[32], *v = strdup(r->verdicts ? r->verdicts : ""), *save = NULL;
	int k = 0;

	iso_time(r->first_ms, first, sizeof(first));
	iso_time(r->last_ms, last, sizeof(last));
	fputs("{\"job\":", stdout);
	audit_json_string(stdout, r->job);
	fputs(",\"kind\":", stdout);
	audit_json_string(stdout, r->kind);
	fputs(",\"destination\":", stdout);
	audit_json_string(stdout, r->what);
	fputs(",\"verdicts\":[", stdout);
	for (char *t = v ? strtok_r(v, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
		fputs(k++ ? "," : "", stdout);
		audit_json_string(stdout, t);
	}
	printf("],\"firstSeen\":\"%s\",\"lastSeen\":\"%s\",\"runs\":%lld,\"hosts\":%lld}\n", first,
	       last, (long long)r->runs, (long long)r->hosts);
	free(v);
}

static void keep_row(void *ctx, const struct hist_row *r)
{
	struct report *rep = ctx;
	const char *s[4] = {r->job, r->kind, r->what, r->verdicts ? r->verdicts : ""};
	struct hist_row *grown;

	if (rep->json) {
		json_row(r);
		rep->n++;
		return;
	}
	if (rep->n == rep->cap) {
		rep->cap = rep->cap ? rep->cap * 2 : 256;
		if (!(grown = realloc(rep->rows, rep->cap * sizeof(*grown))))
			return; /* out of memory: the table is cut short */
		rep->rows = grown;
	}
	rep->rows[rep->n] = *r;
	for (int i = 0; i < 4; i++) {
		int len = (int)strlen(s[i]);

		rep->w[i] = len > rep->w[i] ? (len < 60 ? len : 60) : rep->w[i];
	}
	rep->rows[rep->n].job = strdup(s[0]);
	rep->rows[rep->n].kind = strdup(s[1]);
	rep->rows[rep->n].what = strdup(s[2]);
	rep->rows[rep->n++].verdicts = strdup(s[3]);
}

static void print_table(struct report *rep)
{
	char first[32], last[32];

	printf("%-*s  %-*s  %-*s  %-*s  %-20s  %-20s  %6s  %5s\n", rep->w[0], "JOB", rep->w[1],
	       "KIND", rep->w[2], "DESTINATION", rep->w[3], "VERDICTS", "FIRST SEEN", "LAST SEEN",
	       "RUNS", "HOSTS");
	for (size_t i = 0; i < rep->n; i++) {
		const struct hist_row *r = &rep->rows[i];

		iso_time(r->first_ms, first, sizeof(first));
		iso_time(r->last_ms, last, sizeof(last));
		printf("%-*.*s  %-*s  %-*.*s  %-*s  %-20s  %-20s  %6lld  %5lld\n", rep->w[0],
		       rep->w[0], r->job ? r->job : "?", rep->w[1], r->kind ? r->kind : "?",
		       rep->w[2], rep->w[2], r->what ? r->what : "?", rep->w[3],
		       r->verdicts ? r->verdicts : "?", first, last, (long long)r->runs,
		       (long long)r->hosts);
		free((char *)r->job);
		free((char *)r->kind);
		free((char *)r->what);
		free((char *)r->verdicts);
	}
	free(rep->rows);
}

int history_report(const char *target, const char *job, unsigned since_days, bool json)
{
	struct report rep = {.json = json, .w = {3, 4, 11, 8}};
	const struct hist_backend *be = backend_of(target);
	int64_t since = 0;
	char err[512];
	bool down;
	void *db;
	int rc;

	if (since_days)
		since = (int64_t)time(NULL) * 1000 - (int64_t)since_days * 86400000;
	if (!(db = be->open(target, err, sizeof(err), &down))) {
		log_warnx("--history %s: %s", target, err);
		return -1;
	}
	rc = be->report(db, job, since, keep_row, &rep, err, sizeof(err));
	be->close(db);
	if (!json)
		print_table(&rep);
	if (rc)
		log_warnx("--history %s: %s", target, err);
	else if (!rep.n)
		log_warnx("--history %s: no destination recorded%s%s%s", target,
			  job ? " for job \"" : "", job ? job : "", job ? "\"" : "");
	return rc ? -1 : 0;
}
