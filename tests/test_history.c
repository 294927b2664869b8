/* Unit tests for history_sqlite.c, the history's SQL on its embedded backend: a new file at the
 * current schema, version 1 migrated with its rows kept, a newer one refused, what a run records
 * (upserts: runs, first and last run, hosts, verdicts), and --history-report's rows. No root. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "../history_int.h"

static char path[64];

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/dg-history-%d.db", (int)getpid());
	unlink(path);
	return 0;
}

static int teardown(void **state)
{
	char p[80];

	(void)state;
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	return 0;
}

static void sql(const char *q)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

struct seen {
	char list[512];
};

static int known(void *ctx, const char *kind, const char *what)
{
	struct seen *s = ctx;

	snprintf(s->list + strlen(s->list), sizeof(s->list) - strlen(s->list), "%s %s;", kind,
		 what);
	return 0;
}

static void row(void *ctx, const struct hist_row *r)
{
	struct seen *s = ctx;

	snprintf(s->list + strlen(s->list), sizeof(s->list) - strlen(s->list),
		 "%s %s %s %s %lld %lld %lld %lld;", r->job, r->kind, r->what, r->verdicts,
		 (long long)r->first_ms, (long long)r->last_ms, (long long)r->runs,
		 (long long)r->hosts);
}

static void *open_ok(void)
{
	char err[512];
	bool down = true;
	void *db = hist_sqlite.open(path, err, sizeof(err), &down);

	if (!db)
		fail_msg("open: %s", err);
	assert_false(down);
	return db;
}

static void test_runs_and_upserts(void **state)
{
	const struct hist_dest one[] = {{"dns", "a.example", "allowed"},
					{"dns", "gh.example", "blocked"}},
			       two[] = {{"connect", "192.0.2.1:443", "allowed"},
					{"dns", "gh.example", "would-block"}};
	struct hist_run r1 = {"job", "host-a", 1000, 0}, r2 = {"job", "host-b", 2000, 3},
			r3 = {"other", "host-a", 3000, 0};
	struct seen s = {""};
	char err[512];
	int64_t runs = -1;
	void *db = open_ok();

	(void)state;
	assert_int_equal(hist_sqlite.load(db, "job", known, &s, &runs, err, sizeof(err)), 0);
	assert_int_equal(runs, 0);
	assert_string_equal(s.list, "");
	assert_int_equal(hist_sqlite.record(db, &r1, one, 2, err, sizeof(err)), 0);
	assert_int_equal(hist_sqlite.record(db, &r2, two, 2, err, sizeof(err)), 0);
	assert_int_equal(hist_sqlite.record(db, &r3, one, 1, err, sizeof(err)), 0);
	assert_int_equal(hist_sqlite.load(db, "job", known, &s, &runs, err, sizeof(err)), 0);
	assert_int_equal(runs, 2);
	assert_string_equal(s.list, "connect 192.0.2.1:443;dns a.example;dns gh.example;");
	s.list[0] = '\0';
	assert_int_equal(hist_sqlite.report(db, "job", 0, row, &s, err, sizeof(err)), 0);
	assert_string_equal(s.list, "job connect 192.0.2.1:443 allowed 2000 2000 1 1;"
				    "job dns a.example allowed 1000 1000 1 1;"
				    "job dns gh.example blocked,would-block 1000 2000 2 2;");
	s.list[0] = '\0';
	assert_int_equal(hist_sqlite.report(db, NULL, 1500, row, &s, err, sizeof(err)), 0);
	assert_string_equal(s.list, "job connect 192.0.2.1:443 allowed 2000 2000 1 1;"
				    "job dns gh.example blocked,would-block 1000 2000 2 2;"
				    "other dns a.example allowed 3000 3000 1 1;");
	hist_sqlite.close(db);
}

/* Runs recorded out of order (a later run id committed first): the first run is still the
 * least. */
static void test_first_run_is_the_least(void **state)
{
	const struct hist_dest d[] = {{"dns", "x.example", "allowed"}};
	struct hist_run r = {"job", "h", 5000, 0};
	char err[512];
	void *db = open_ok();
	sqlite3 *q;
	sqlite3_stmt *st;

	(void)state;
	assert_int_equal(hist_sqlite.record(db, &r, d, 1, err, sizeof(err)), 0);
	hist_sqlite.close(db);
	sql("UPDATE seen SET first_run = 7, last_run = 7, first_ms = 9000, last_ms = 9000");
	db = open_ok();
	assert_int_equal(hist_sqlite.record(db, &r, d, 1, err, sizeof(err)), 0);
	hist_sqlite.close(db);
	assert_int_equal(sqlite3_open(path, &q), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(q,
					    "SELECT first_run, last_run, first_ms, last_ms, runs"
					    " FROM seen",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(st, 0), 2); /* min(7, run 2) */
	assert_int_equal(sqlite3_column_int64(st, 1), 7);
	assert_int_equal(sqlite3_column_int64(st, 2), 5000);
	assert_int_equal(sqlite3_column_int64(st, 3), 9000);
	assert_int_equal(sqlite3_column_int64(st, 4), 2);
	sqlite3_finalize(st);
	sqlite3_close(q);
}

static void test_schema_versions(void **state)
{
	struct seen s = {""};
	char err[512];
	int64_t runs;
	bool down;
	void *db;

	(void)state;
	sql("CREATE TABLE runs(id INTEGER PRIMARY KEY, job TEXT NOT NULL, start_ms INTEGER NOT "
	    "NULL,"
	    " status INTEGER NOT NULL, destinations INTEGER NOT NULL);"
	    "CREATE TABLE seen(job TEXT NOT NULL, kind TEXT NOT NULL, what TEXT NOT NULL,"
	    " first_run INTEGER NOT NULL, last_run INTEGER NOT NULL, runs INTEGER NOT NULL,"
	    " PRIMARY KEY(job, kind, what));"
	    "INSERT INTO runs VALUES(1, 'old', 100, 0, 1), (2, 'old', 200, 0, 1);"
	    "INSERT INTO seen VALUES('old', 'dns', 'a.example', 1, 2, 2);");
	db = open_ok(); /* version 1: migrated */
	assert_int_equal(hist_sqlite.load(db, "old", known, &s, &runs, err, sizeof(err)), 0);
	assert_int_equal(runs, 2);
	assert_string_equal(s.list, "dns a.example;");
	s.list[0] = '\0';
	assert_int_equal(hist_sqlite.report(db, NULL, 0, row, &s, err, sizeof(err)), 0);
	assert_string_equal(s.list, "old dns a.example unknown 100 200 2 1;");
	hist_sqlite.close(db);
	db = open_ok(); /* version 2: opened as it is */
	hist_sqlite.close(db);
	sql("UPDATE dg_meta SET value = '3' WHERE key = 'schema'");
	assert_null(hist_sqlite.open(path, err, sizeof(err), &down));
	assert_false(down);
	assert_string_equal(err,
			    "its schema is version 3, written by a newer deployguard (this "
			    "one knows up to 2): upgrade deployguard here, nothing was written");
	sql("DROP TABLE dg_meta; CREATE TABLE dg_meta(x);"); /* not ours: not a number either */
	assert_null(hist_sqlite.open(path, err, sizeof(err), &down));
	assert_non_null(strstr(err, "cannot set it up"));
}

static void test_not_a_database(void **state)
{
	char err[512];
	bool down;
	FILE *f = fopen(path, "w");

	(void)state;
	assert_non_null(f);
	fputs("this is not SQLite, but long enough to have a header page of its own.......\n", f);
	fclose(f);
	assert_null(hist_sqlite.open(path, err, sizeof(err), &down));
	assert_non_null(strstr(err, "(not an SQLite database: give another file)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_runs_and_upserts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_first_run_is_the_least, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_schema_versions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
