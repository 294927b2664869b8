/*
 * history.c: a job's earlier runs, in SQLite. One row per run, one per (job, destination) with
 * the first and the last run that reached it. At start the job's known destinations are read
 * into memory, so that a new one is flagged on its first log line without a query per lookup; at
 * the end the run is written in one IMMEDIATE transaction. Runs of several jobs (or of one, at
 * once) share a file safely: WAL, and a busy timeout instead of an error while another writes.
 */
#define _GNU_SOURCE
#include "history.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "audit.h"
#include "hash.h"
#include "log.h"

#define HISTORY_BUSY_MS 30000 /* how long a run waits for another that writes */

static struct {
	sqlite3 *db;
	const char *path, *job;
	bool baseline;
	char **known; /* "kind what", open addressing by hash */
	size_t nknown, cap;
} hi;

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY, job TEXT NOT NULL,"
    " start_ms INTEGER NOT NULL, status INTEGER NOT NULL, destinations INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS seen(job TEXT NOT NULL, kind TEXT NOT NULL, what TEXT NOT NULL,"
    " first_run INTEGER NOT NULL, last_run INTEGER NOT NULL, runs INTEGER NOT NULL,"
    " PRIMARY KEY(job, kind, what));";

static int fail(const char *what)
{
	log_warnx("--history %s: %s: %s%s", hi.path, what, hi.db ? sqlite3_errmsg(hi.db) : "?",
		  hi.db && sqlite3_errcode(hi.db) == SQLITE_NOTADB
		      ? " (not an SQLite database: give another file)"
		  : hi.db && sqlite3_errcode(hi.db) == SQLITE_BUSY
		      ? " (another run holds it: try again)"
		      : "");
	return -1;
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

static int remember(char *key)
{
	if ((hi.nknown + 1) * 2 > hi.cap) { /* at most half full */
		size_t ocap = hi.cap;
		char **old = hi.known;

		hi.cap = hi.cap ? hi.cap * 2 : 1024;
		if (!(hi.known = calloc(hi.cap, sizeof(*hi.known)))) {
			hi.known = old;
			hi.cap = ocap;
			free(key);
			return -1;
		}
		for (size_t i = 0; i < ocap; i++)
			if (old[i])
				hi.known[slot(old[i])] = old[i];
		free(old);
	}
	hi.known[slot(key)] = key;
	hi.nknown++;
	return 0;
}

static int load_known(void)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(hi.db, "SELECT kind, what FROM seen WHERE job = ?", -1, &st, NULL))
		return fail("cannot read it");
	sqlite3_bind_text(st, 1, hi.job, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char *k = key_of((const char *)sqlite3_column_text(st, 0),
				 (const char *)sqlite3_column_text(st, 1));

		if (!k || remember(k)) {
			sqlite3_finalize(st);
			log_warnx("--history %s: out of memory", hi.path);
			return -1;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail("cannot read it");
	if (sqlite3_prepare_v2(hi.db, "SELECT count(*) FROM runs WHERE job = ?", -1, &st, NULL))
		return fail("cannot read it");
	sqlite3_bind_text(st, 1, hi.job, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	hi.baseline = rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : fail("cannot read it");
}

int history_open(const char *path, const char *job)
{
	hi.path = path;
	hi.job = job;
	if (sqlite3_open_v2(path, &hi.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL))
		return fail("cannot open it");
	sqlite3_busy_timeout(hi.db, HISTORY_BUSY_MS);
	if (sqlite3_exec(hi.db, schema, NULL, NULL, NULL))
		return fail("cannot set it up");
	if (load_known())
		return -1;
	log_info("history: job \"%s\" has %zu known destinations%s", job, hi.nknown,
		 hi.baseline ? "" : " (its first run: this one is the baseline)");
	return 0;
}

bool history_has_baseline(void)
{
	return hi.baseline;
}

bool history_known(const char *kind, const char *what)
{
	char *k;
	bool known;

	if (!hi.db || !hi.cap || !(k = key_of(kind, what)))
		return false;
	known = hi.known[slot(k)] != NULL;
	free(k);
	return known;
}

/* The statement sql with its ? bound to the texts and numbers given, run once. */
static int exec_bound(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int record_rows(sqlite3_int64 run)
{
	static const char upsert[] =
	    "INSERT INTO seen(job, kind, what, first_run, last_run, runs) VALUES(?, ?, ?, ?, ?, 1)"
	    " ON CONFLICT(job, kind, what) DO UPDATE SET last_run = excluded.last_run,"
	    " runs = runs + 1";
	unsigned long other;
	size_t n;
	const struct audit_row *rows = audit_rows(&n, &other);
	sqlite3_stmt *st;
	int err = 0;

	if (sqlite3_prepare_v2(hi.db, upsert, -1, &st, NULL))
		return -1;
	for (size_t i = 0; i < n && !err; i++) {
		sqlite3_bind_text(st, 1, hi.job, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, rows[i].kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, rows[i].what, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, run);
		sqlite3_bind_int64(st, 5, run);
		err = exec_bound(st);
	}
	sqlite3_finalize(st);
	return err;
}

int history_record(uint64_t start_ms, int status)
{
	unsigned long other;
	size_t n;
	sqlite3_stmt *st;
	int err;

	if (!hi.db)
		return 0;
	audit_rows(&n, &other);
	if (sqlite3_exec(hi.db, "BEGIN IMMEDIATE", NULL, NULL, NULL))
		return fail("cannot record this run");
	err = sqlite3_prepare_v2(
	    hi.db, "INSERT INTO runs(job, start_ms, status, destinations) VALUES(?, ?, ?, ?)", -1,
	    &st, NULL);
	if (!err) {
		sqlite3_bind_text(st, 1, hi.job, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)start_ms);
		sqlite3_bind_int(st, 3, status);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)n);
		err = exec_bound(st);
		sqlite3_finalize(st);
	}
	if (!err)
		err = record_rows(sqlite3_last_insert_rowid(hi.db));
	if (err || sqlite3_exec(hi.db, "COMMIT", NULL, NULL, NULL)) {
		fail("cannot record this run");
		sqlite3_exec(hi.db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

void history_close(void)
{
	for (size_t i = 0; i < hi.cap; i++)
		free(hi.known[i]);
	free(hi.known);
	if (hi.db)
		sqlite3_close(hi.db);
	memset(&hi, 0, sizeof(hi));
}
