/*
 * history_sqlite.c: the history in an SQLite file, the embedded default. Runs of several jobs
 * (or of one, at once) share a file safely: WAL, and a busy timeout instead of an error while
 * another writes; each run is written in one IMMEDIATE transaction, and so is a migration.
 */
#define _GNU_SOURCE
#include "history_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"

#define SQLITE_BUSY_MS 30000 /* how long a run waits for another that writes */

static const char schema_v2[] =
    "CREATE TABLE dg_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE runs(id INTEGER PRIMARY KEY, job TEXT NOT NULL, host TEXT NOT NULL,"
    " start_ms INTEGER NOT NULL, status INTEGER NOT NULL, destinations INTEGER NOT NULL);"
    "CREATE TABLE seen(job TEXT NOT NULL, kind TEXT NOT NULL, what TEXT NOT NULL,"
    " first_run INTEGER NOT NULL, last_run INTEGER NOT NULL, runs INTEGER NOT NULL,"
    " first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL, PRIMARY KEY(job, kind, what));"
    "CREATE TABLE seen_on(job TEXT NOT NULL, kind TEXT NOT NULL, what TEXT NOT NULL,"
    " host TEXT NOT NULL, verdict TEXT NOT NULL, runs INTEGER NOT NULL,"
    " PRIMARY KEY(job, kind, what, host, verdict));"
    "INSERT INTO dg_meta VALUES('schema', '2');";

/* Version 1 (deployguard before hosts) had runs and seen only: each gets a host ('' for the runs
 * before), seen the times of its first and last run, and seen_on one row per destination with
 * the verdict unknown. */
static const char v1_to_v2[] =
    "ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE seen ADD COLUMN first_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE seen ADD COLUMN last_ms INTEGER NOT NULL DEFAULT 0;"
    "UPDATE seen SET first_ms = coalesce((SELECT start_ms FROM runs WHERE id = first_run), 0),"
    " last_ms = coalesce((SELECT start_ms FROM runs WHERE id = last_run), 0);"
    "CREATE TABLE seen_on(job TEXT NOT NULL, kind TEXT NOT NULL, what TEXT NOT NULL,"
    " host TEXT NOT NULL, verdict TEXT NOT NULL, runs INTEGER NOT NULL,"
    " PRIMARY KEY(job, kind, what, host, verdict));"
    "INSERT INTO seen_on SELECT job, kind, what, '', 'unknown', runs FROM seen;"
    "CREATE TABLE dg_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT INTO dg_meta VALUES('schema', '2');";

static int fail(sqlite3 *db, char *err, size_t errlen, const char *what)
{
	int code = db ? sqlite3_errcode(db) : SQLITE_ERROR;

	snprintf(err, errlen, "%s: %s%s", what, db ? sqlite3_errmsg(db) : "out of memory",
		 code == SQLITE_NOTADB ? " (not an SQLite database: give another file)"
		 : code == SQLITE_BUSY ? " (another run holds it: try again)"
				       : "");
	return -1;
}

/* The first column of the first row of sql, as a number; dflt if there is no row. */
static int64_t scalar(sqlite3 *db, const char *sql, const char *arg, int64_t dflt, int *rc)
{
	sqlite3_stmt *st;
	int64_t v = dflt;

	if ((*rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL)))
		return dflt;
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if ((*rc = sqlite3_step(st)) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	*rc = *rc == SQLITE_ROW || *rc == SQLITE_DONE ? 0 : *rc;
	sqlite3_finalize(st);
	return v;
}

/* The file's schema version: 0 for a new file, 1 for one before dg_meta. */
static int64_t version(sqlite3 *db, int *rc)
{
	static const char has[] = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
				  "name = ?";

	if (scalar(db, has, "dg_meta", 0, rc))
		return scalar(db, "SELECT CAST(value AS INTEGER) FROM dg_meta WHERE key = 'schema'",
			      NULL, 0, rc);
	return *rc ? 0 : scalar(db, has, "runs", 0, rc) ? 1 : 0;
}

static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int rc;
	int64_t v;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL))
		return fail(db, err, errlen, "cannot open it");
	v = version(db, &rc);
	if (!rc && v > HIST_SCHEMA) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		snprintf(err, errlen,
			 "its schema is version %lld, written by a newer deployguard (this one "
			 "knows up to %d): upgrade deployguard here, nothing was written",
			 (long long)v, HIST_SCHEMA);
		return -1;
	}
	if (!rc && v < HIST_SCHEMA)
		rc = sqlite3_exec(db, v == 0 ? schema_v2 : v1_to_v2, NULL, NULL, NULL);
	if (rc || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) {
		fail(db, err, errlen, "cannot set it up");
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (v && v < HIST_SCHEMA)
		log_info("history %s: schema upgraded from version %lld to %d", path, (long long)v,
			 HIST_SCHEMA);
	return 0;
}

static void *sq_open(const char *path, char *err, size_t errlen, bool *unavailable)
{
	sqlite3 *db = NULL;

	*unavailable = false;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) {
		fail(db, err, errlen, "cannot open it");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, SQLITE_BUSY_MS);
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL)) {
		fail(db, err, errlen, "cannot set it up");
		sqlite3_close(db);
		return NULL;
	}
	if (migrate(db, path, err, errlen)) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static int sq_load(void *h, const char *job, hist_known_fn *known, void *ctx, int64_t *runs,
		   char *err, size_t errlen)
{
	sqlite3 *db = h;
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT kind, what FROM seen WHERE job = ?", -1, &st, NULL))
		return fail(db, err, errlen, "cannot read it");
	sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (known(ctx, (const char *)sqlite3_column_text(st, 0),
			  (const char *)sqlite3_column_text(st, 1))) {
			sqlite3_finalize(st);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(db, err, errlen, "cannot read it");
	*runs = scalar(db, "SELECT count(*) FROM runs WHERE job = ?", job, 0, &rc);
	return rc ? fail(db, err, errlen, "cannot read it") : 0;
}

/* st with its texts (NULL-ended) and then its numbers bound, run once. */
static int step(sqlite3_stmt *st, const char *const *texts, const int64_t *nums, int nnums)
{
	int i = 0, rc;

	for (; texts[i]; i++)
		sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_STATIC);
	for (int k = 0; k < nnums; k++)
		sqlite3_bind_int64(st, i + k + 1, nums[k]);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static const char upsert_seen[] =
    "INSERT INTO seen VALUES(?1, ?2, ?3, ?4, ?4, 1, ?5, ?5) ON CONFLICT(job, kind, what) DO"
    " UPDATE SET first_run = min(first_run, excluded.first_run), last_run = max(last_run,"
    " excluded.last_run), runs = runs + 1, first_ms = min(first_ms, excluded.first_ms),"
    " last_ms = max(last_ms, excluded.last_ms)";
static const char upsert_on[] =
    "INSERT INTO seen_on VALUES(?1, ?2, ?3, ?4, ?5, 1) ON CONFLICT(job, kind, what, host, verdict)"
    " DO UPDATE SET runs = runs + 1";

static int record_rows(sqlite3 *db, const struct hist_run *r, int64_t id, const struct hist_dest *d,
		       size_t n)
{
	sqlite3_stmt *seen = NULL, *on = NULL;
	int err = sqlite3_prepare_v2(db, upsert_seen, -1, &seen, NULL) ||
		  sqlite3_prepare_v2(db, upsert_on, -1, &on, NULL);

	for (size_t i = 0; i < n && !err; i++) {
		const char *t1[] = {r->job, d[i].kind, d[i].what, NULL},
			   *t2[] = {r->job, d[i].kind, d[i].what, r->host, d[i].verdict, NULL};
		int64_t nums[] = {id, (int64_t)r->start_ms};

		err = step(seen, t1, nums, 2) || step(on, t2, NULL, 0);
	}
	sqlite3_finalize(seen);
	sqlite3_finalize(on);
	return err ? -1 : 0;
}

static int sq_record(void *h, const struct hist_run *r, const struct hist_dest *d, size_t n,
		     char *err, size_t errlen)
{
	sqlite3 *db = h;
	sqlite3_stmt *st;
	const char *texts[] = {r->job, r->host, NULL};
	int64_t nums[] = {(int64_t)r->start_ms, r->status, (int64_t)n};
	int rc;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL))
		return fail(db, err, errlen, "cannot record this run");
	rc = sqlite3_prepare_v2(db,
				"INSERT INTO runs(job, host, start_ms, status, destinations)"
				" VALUES(?, ?, ?, ?, ?)",
				-1, &st, NULL);
	if (!rc) {
		rc = step(st, texts, nums, 3);
		sqlite3_finalize(st);
	}
	if (!rc)
		rc = record_rows(db, r, sqlite3_last_insert_rowid(db), d, n);
	if (rc || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) {
		fail(db, err, errlen, "cannot record this run");
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

static int sq_report(void *h, const char *job, int64_t since_ms, hist_row_fn *row, void *ctx,
		     char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT job, kind, what, (SELECT group_concat(verdict, ',') FROM (SELECT DISTINCT"
	    " verdict FROM seen_on o WHERE o.job = s.job AND o.kind = s.kind AND o.what = s.what"
	    " ORDER BY verdict)), first_ms, last_ms, runs, (SELECT count(DISTINCT host) FROM"
	    " seen_on o WHERE o.job = s.job AND o.kind = s.kind AND o.what = s.what) FROM seen s"
	    " WHERE (?1 IS NULL OR job = ?1) AND last_ms >= ?2 ORDER BY job, kind, what";
	sqlite3 *db = h;
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL))
		return fail(db, err, errlen, "cannot read it");
	if (job)
		sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct hist_row r = {(const char *)sqlite3_column_text(st, 0),
				     (const char *)sqlite3_column_text(st, 1),
				     (const char *)sqlite3_column_text(st, 2),
				     (const char *)sqlite3_column_text(st, 3),
				     sqlite3_column_int64(st, 4),
				     sqlite3_column_int64(st, 5),
				     sqlite3_column_int64(st, 6),
				     sqlite3_column_int64(st, 7)};

		row(ctx, &r);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(db, err, errlen, "cannot read it");
}

static void sq_close(void *h)
{
	sqlite3_close(h);
}

const struct hist_backend hist_sqlite = {"SQLite",  sq_open,   sq_load,
					 sq_record, sq_report, sq_close};
