/*
 * history_pg.c: the history in PostgreSQL, shared by a fleet: "new" means no run of the job on
 * any host reached it before.
 *
 * The history must never hold up a guarded deploy: the connection has a timeout
 * (connect_timeout) and every statement a deadline of its own, kept here with libpq's
 * asynchronous calls and poll(), so that a server that stops answering (stopped, partitioned)
 * cannot hang the run; a statement past its deadline is cancelled and the server counted
 * unavailable. A run is one transaction: its row, then an upsert per destination in (kind, what)
 * order, so that concurrent runs lock rows in one order and cannot deadlock; the first run of a
 * destination is the least run id that recorded it, whichever commits first. A schema migration
 * holds an advisory lock, so that hosts opening the database at once migrate it once.
 */
#define _GNU_SOURCE
#include "history_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "log.h"

#define PG_TIMEOUT_S   "5"  /* connect_timeout */
#define PG_DEADLINE_MS 5000 /* per statement */
#define PG_RETRIES     3    /* a transaction a deadlock or serialization failure ended */
#define PG_MIGRATE_KEY "4470677561726431" /* pg_advisory_xact_lock's key: "Dpguard1" */

/* libpq, opened when a history is a PostgreSQL URI: linked, it and what it needs (TLS, Kerberos,
 * LDAP) doubled deployguard's resident size for every run, with a history or not. */
/* clang-format off */
#define PQ_FUNCS(X) X(clear) X(connectdbParams) X(conninfoFree) X(conninfoParse) \
	X(consumeInput) X(errorMessage) X(exec) X(finish) X(freemem) X(getResult) X(getvalue) \
	X(isBusy) X(ntuples) X(resultErrorMessage) X(resultStatus) X(sendQuery) \
	X(sendQueryParams) X(socket) X(status)
/* clang-format on */
#define PQ_FIELD(f) __typeof__(PQ##f) *f;
static struct {
	PQ_FUNCS(PQ_FIELD)
} pq;

/* 0, or -1 with the reason in err (libpq5 missing). */
static int pq_open(char *err, size_t errlen)
{
	static void *lib;

	if (lib)
		return 0;
	if (!(lib = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL))) {
		snprintf(err, errlen, "cannot load libpq (%s): install libpq5", dlerror());
		return -1;
	}
#define PQ_LOAD(f)                                                                                 \
	if (!(pq.f = (__typeof__(PQ##f) *)dlsym(lib, "PQ" #f))) {                                  \
		snprintf(err, errlen, "libpq.so.5 lacks PQ" #f ": install libpq5");                \
		dlclose(lib);                                                                      \
		lib = NULL;                                                                        \
		return -1;                                                                         \
	}
	PQ_FUNCS(PQ_LOAD)
	return 0;
}

static const char schema_v2[] =
    "CREATE TABLE IF NOT EXISTS dg_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS runs(id BIGSERIAL PRIMARY KEY, job TEXT NOT NULL,"
    " host TEXT NOT NULL, start_ms BIGINT NOT NULL, status INTEGER NOT NULL,"
    " destinations INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS seen(job TEXT NOT NULL, kind TEXT NOT NULL, what TEXT NOT NULL,"
    " first_run BIGINT NOT NULL, last_run BIGINT NOT NULL, runs BIGINT NOT NULL,"
    " first_ms BIGINT NOT NULL, last_ms BIGINT NOT NULL, PRIMARY KEY(job, kind, what));"
    "CREATE TABLE IF NOT EXISTS seen_on(job TEXT NOT NULL, kind TEXT NOT NULL,"
    " what TEXT NOT NULL, host TEXT NOT NULL, verdict TEXT NOT NULL, runs BIGINT NOT NULL,"
    " PRIMARY KEY(job, kind, what, host, verdict));"
    "INSERT INTO dg_meta VALUES('schema', '2') ON CONFLICT(key) DO NOTHING;";

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for the result of the query just sent, at most PG_DEADLINE_MS: the last result (PQclear
 * it), or NULL past the deadline or with the connection lost. Not PQcancel: it waits for the
 * server to answer the cancel, which one that stopped answering never does; the caller closes
 * the connection instead, and the server ends the query when it sees it gone. */
static PGresult *await(PGconn *c)
{
	int64_t end = now_ms() + PG_DEADLINE_MS;
	PGresult *r, *last = NULL;

	for (;;) {
		while (!pq.isBusy(c)) {
			if (!(r = pq.getResult(c)))
				return last;
			pq.clear(last);
			last = r;
		}
		struct pollfd p = {.fd = pq.socket(c), .events = POLLIN};
		int64_t left = end - now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0 || !pq.consumeInput(c)) {
			pq.clear(last);
			return NULL;
		}
	}
}

/* Run sql with its n parameters (texts; NULL is SQL's NULL), or with none (params NULL: several
 * statements may follow each other): the result when it is status ok, else NULL with the reason
 * in err (*timeout when the server did not answer in time). */
static PGresult *run_n(PGconn *c, const char *sql, int n, const char *const *params,
		       ExecStatusType ok, char *err, size_t errlen, bool *timeout)
{
	PGresult *r;

	*timeout = false;
	if (!(params ? pq.sendQueryParams(c, sql, n, NULL, params, NULL, NULL, 0)
		     : pq.sendQuery(c, sql))) {
		snprintf(err, errlen, "%s", pq.errorMessage(c));
		*timeout = pq.status(c) != CONNECTION_OK;
		return NULL;
	}
	if (!(r = await(c))) {
		snprintf(err, errlen, "the server did not answer within %d s",
			 PG_DEADLINE_MS / 1000);
		*timeout = true;
		return NULL;
	}
	if (pq.resultStatus(r) != ok) {
		snprintf(err, errlen, "%s", pq.resultErrorMessage(r));
		err[strcspn(err, "\n")] = '\0';
		pq.clear(r);
		return NULL;
	}
	return r;
}

/* The same with the parameters NULL-ended. */
static PGresult *run(PGconn *c, const char *sql, const char *const *params, ExecStatusType ok,
		     char *err, size_t errlen, bool *timeout)
{
	int n = 0;

	while (params && params[n])
		n++;
	return run_n(c, sql, n, params, ok, err, errlen, timeout);
}

/* A statement whose result is only its status. */
static int exec(PGconn *c, const char *sql, const char *const *params, char *err, size_t errlen,
		bool *timeout)
{
	PGresult *r = run(c, sql, params, PGRES_COMMAND_OK, err, errlen, timeout);

	pq.clear(r);
	return r ? 0 : -1;
}

/* A password belongs in ~/.pgpass or libpq's environment, never on a command line ps shows. */
static int no_password(const char *uri, char *err, size_t errlen)
{
	char *why = NULL;
	PQconninfoOption *o = pq.conninfoParse(uri, &why), *p;
	int bad = 0;

	if (!o) {
		snprintf(err, errlen, "not a connection URI: %s", why ? why : "out of memory");
		err[strcspn(err, "\n")] = '\0';
		pq.freemem(why);
		return -1;
	}
	for (p = o; p->keyword; p++)
		bad |= !strcmp(p->keyword, "password") && p->val && *p->val;
	pq.conninfoFree(o);
	if (bad)
		snprintf(err, errlen,
			 "the URI holds a password, which ps shows to every user: put it in "
			 "~/.pgpass (or PGPASSFILE, PGPASSWORD) and leave it out of the URI");
	return bad ? -1 : 0;
}

static int migrate(PGconn *c, char *err, size_t errlen, bool *timeout)
{
	PGresult *r;
	long v = 0;

	if (exec(c, "BEGIN", NULL, err, errlen, timeout) ||
	    !(r = run(c, "SELECT pg_advisory_xact_lock(" PG_MIGRATE_KEY ")", NULL, PGRES_TUPLES_OK,
		      err, errlen, timeout)))
		return -1;
	pq.clear(r);
	r = run(c, "SELECT to_regclass('dg_meta') IS NOT NULL", NULL, PGRES_TUPLES_OK, err, errlen,
		timeout);
	if (r && !strcmp(pq.getvalue(r, 0, 0), "t")) {
		pq.clear(r);
		r = run(c, "SELECT value FROM dg_meta WHERE key = 'schema'", NULL, PGRES_TUPLES_OK,
			err, errlen, timeout);
		v = r && pq.ntuples(r) ? strtol(pq.getvalue(r, 0, 0), NULL, 10) : 0;
	}
	pq.clear(r);
	if (r && v > HIST_SCHEMA)
		snprintf(err, errlen,
			 "its schema is version %ld, written by a newer deployguard (this one "
			 "knows up to %d): upgrade deployguard here, nothing was written",
			 v, HIST_SCHEMA);
	if (!r || v > HIST_SCHEMA ||
	    (v < HIST_SCHEMA && exec(c, schema_v2, NULL, err, errlen, timeout)) ||
	    exec(c, "COMMIT", NULL, err, errlen, timeout)) {
		if (!*timeout)
			pq.clear(pq.exec(c, "ROLLBACK"));
		return -1;
	}
	return 0;
}

static void *pg_open(const char *uri, char *err, size_t errlen, bool *unavailable)
{
	const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL},
		   *vals[] = {uri, PG_TIMEOUT_S, "deployguard", NULL};
	bool timeout = false;
	PGconn *c;

	*unavailable = false;
	if (pq_open(err, errlen) || no_password(uri, err, errlen))
		return NULL;
	c = pq.connectdbParams(keys, vals, 1);
	if (!c || pq.status(c) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect: %s",
			 c ? pq.errorMessage(c) : "out of memory");
		err[strcspn(err, "\n")] = '\0';
		*unavailable = true;
		pq.finish(c);
		return NULL;
	}
	if (exec(c, "SET client_min_messages = warning", NULL, err, errlen, &timeout) ||
	    migrate(c, err, errlen, &timeout)) {
		*unavailable = timeout;
		pq.finish(c);
		return NULL;
	}
	return c;
}

static int pg_load(void *h, const char *job, hist_known_fn *known, void *ctx, int64_t *runs,
		   char *err, size_t errlen)
{
	const char *params[] = {job, NULL};
	bool timeout;
	PGresult *r = run(h, "SELECT kind, what FROM seen WHERE job = $1", params, PGRES_TUPLES_OK,
			  err, errlen, &timeout);

	for (int i = 0; r && i < pq.ntuples(r); i++)
		if (known(ctx, pq.getvalue(r, i, 0), pq.getvalue(r, i, 1))) {
			snprintf(err, errlen, "out of memory");
			pq.clear(r);
			return -1;
		}
	pq.clear(r);
	if (r)
		r = run(h, "SELECT count(*) FROM runs WHERE job = $1", params, PGRES_TUPLES_OK, err,
			errlen, &timeout);
	*runs = r ? strtoll(pq.getvalue(r, 0, 0), NULL, 10) : 0;
	pq.clear(r);
	return r ? 0 : timeout ? -2 : -1;
}

static const char upsert_seen[] =
    "INSERT INTO seen VALUES($1, $2, $3, $4, $4, 1, $5, $5) ON CONFLICT(job, kind, what) DO"
    " UPDATE SET first_run = LEAST(seen.first_run, excluded.first_run), last_run ="
    " GREATEST(seen.last_run, excluded.last_run), runs = seen.runs + 1, first_ms ="
    " LEAST(seen.first_ms, excluded.first_ms), last_ms = GREATEST(seen.last_ms,"
    " excluded.last_ms)";
static const char upsert_on[] =
    "INSERT INTO seen_on VALUES($1, $2, $3, $4, $5, 1) ON CONFLICT(job, kind, what, host,"
    " verdict) DO UPDATE SET runs = seen_on.runs + 1";

/* One attempt at the run's transaction; *retry when a deadlock or serialization failure ended
 * it (another attempt may pass). */
static int record_once(PGconn *c, const struct hist_run *r, const struct hist_dest *d, size_t n,
		       char *err, size_t errlen, bool *timeout)
{
	char start[24], status[16], count[24], *id;
	const char *run_params[] = {r->job, r->host, start, status, count, NULL};
	PGresult *res;
	int rc = 0;

	snprintf(start, sizeof(start), "%" PRIu64, r->start_ms);
	snprintf(status, sizeof(status), "%d", r->status);
	snprintf(count, sizeof(count), "%zu", n);
	if (exec(c, "BEGIN", NULL, err, errlen, timeout) ||
	    !(res = run(c,
			"INSERT INTO runs(job, host, start_ms, status, destinations) VALUES($1,"
			" $2, $3, $4, $5) RETURNING id",
			run_params, PGRES_TUPLES_OK, err, errlen, timeout)))
		return -1;
	id = strdup(pq.getvalue(res, 0, 0));
	pq.clear(res);
	for (size_t i = 0; id && i < n && !rc; i++) {
		const char *p1[] = {r->job, d[i].kind, d[i].what, id, start, NULL},
			   *p2[] = {r->job, d[i].kind, d[i].what, r->host, d[i].verdict, NULL};

		rc = exec(c, upsert_seen, p1, err, errlen, timeout) ||
		     exec(c, upsert_on, p2, err, errlen, timeout);
	}
	if (!id)
		snprintf(err, errlen, "out of memory");
	free(id);
	return !id || rc ? -1 : exec(c, "COMMIT", NULL, err, errlen, timeout);
}

static int pg_record(void *h, const struct hist_run *r, const struct hist_dest *d, size_t n,
		     char *err, size_t errlen)
{
	bool timeout = false;

	for (int i = 0; i < PG_RETRIES; i++) {
		if (!record_once(h, r, d, n, err, errlen, &timeout))
			return 0;
		if (timeout)
			return -2; /* the connection is not to be used again */
		pq.clear(pq.exec(h, "ROLLBACK"));
		if (!strstr(err, "deadlock") && !strstr(err, "could not serialize"))
			break;
	}
	return -1;
}

static int pg_report(void *h, const char *job, int64_t since_ms, hist_row_fn *row, void *ctx,
		     char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT s.job, s.kind, s.what, string_agg(DISTINCT o.verdict, ',' ORDER BY o.verdict),"
	    " s.first_ms, s.last_ms, s.runs, count(DISTINCT o.host) FROM seen s JOIN seen_on o"
	    " ON o.job = s.job AND o.kind = s.kind AND o.what = s.what WHERE ($1::text IS NULL OR"
	    " s.job = $1) AND s.last_ms >= $2::bigint GROUP BY s.job, s.kind, s.what, s.first_ms,"
	    " s.last_ms, s.runs ORDER BY s.job, s.kind, s.what";
	char since[24];
	const char *params[] = {job, since};
	bool timeout;
	PGresult *r;

	snprintf(since, sizeof(since), "%" PRId64, since_ms);
	if (!(r = run_n(h, sql, 2, params, PGRES_TUPLES_OK, err, errlen, &timeout)))
		return timeout ? -2 : -1;
	for (int i = 0; i < pq.ntuples(r); i++) {
		struct hist_row w = {pq.getvalue(r, i, 0),
				     pq.getvalue(r, i, 1),
				     pq.getvalue(r, i, 2),
				     pq.getvalue(r, i, 3),
				     strtoll(pq.getvalue(r, i, 4), NULL, 10),
				     strtoll(pq.getvalue(r, i, 5), NULL, 10),
				     strtoll(pq.getvalue(r, i, 6), NULL, 10),
				     strtoll(pq.getvalue(r, i, 7), NULL, 10)};

		row(ctx, &w);
	}
	pq.clear(r);
	return 0;
}

static void pg_close(void *h)
{
	pq.finish(h);
}

const struct hist_backend hist_pg = {"PostgreSQL", pg_open,   pg_load,
				     pg_record,	   pg_report, pg_close};
