/* history_int.h: what history.c asks of a history backend (history_sqlite.c, history_pg.c). Only
 * they include it. */
#ifndef DG_HISTORY_INT_H
#define DG_HISTORY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The schema this deployguard writes. Each backend migrates an older one on open, in one
 * transaction that concurrent openers wait for, and refuses a newer one. Versions: 1, SQLite
 * only (runs, seen); 2, hosts (runs.host, seen_on) and the times of the first and last run. */
#define HIST_SCHEMA 2

/* One destination a run reached, with its verdict ("allowed", "blocked", "would-block"). */
struct hist_dest {
	const char *kind, *what, *verdict;
};

struct hist_run {
	const char *job, *host;
	uint64_t start_ms;
	int status;
};

/* A row of --history-report. */
struct hist_row {
	const char *job, *kind, *what;
	const char *verdicts; /* the verdicts it had, comma-separated, sorted */
	int64_t first_ms, last_ms, runs, hosts;
};

typedef int hist_known_fn(void *ctx, const char *kind, const char *what);
typedef void hist_row_fn(void *ctx, const struct hist_row *row);

/* Every call returns 0 when done, or says what failed in err (for "--history TARGET: ...") and
 * returns -1, or -2 when the server did not answer in time (the handle is only to be closed).
 * open sets unavailable when the failure is the server's (unreachable, slow), not the input's. */
struct hist_backend {
	const char *name;
	/* Connect (or open the file) and migrate the schema: the handle, or NULL. */
	void *(*open)(const char *target, char *err, size_t errlen, bool *unavailable);
	/* known(ctx, kind, what) for every destination job reached before; *runs: its runs. */
	int (*load)(void *db, const char *job, hist_known_fn *known, void *ctx, int64_t *runs,
		    char *err, size_t errlen);
	/* Record a run and its destinations (sorted by kind, then what) in one transaction. */
	int (*record)(void *db, const struct hist_run *run, const struct hist_dest *d, size_t n,
		      char *err, size_t errlen);
	/* row(ctx, r) for each destination of job (NULL: every job) last seen at since_ms or later,
	 * ordered by job, kind and destination. */
	int (*report)(void *db, const char *job, int64_t since_ms, hist_row_fn *row, void *ctx,
		      char *err, size_t errlen);
	void (*close)(void *db);
};

extern const struct hist_backend hist_sqlite, hist_pg;

#endif
