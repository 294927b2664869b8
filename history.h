/* history.h: the runs of each job (--history), in an SQLite file or a PostgreSQL database a
 * fleet shares, for the destinations no earlier run of the job reached on any host (new=true,
 * --fail-on-new), and --history-report. */
#ifndef DG_HISTORY_H
#define DG_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

/* Open the history at target (a file, or a postgresql:// or postgres:// URI; its schema migrated
 * if older) and read what the earlier runs of job reached. 0, also when the server cannot be
 * reached (said once: the run goes on without its history); -1 with the target and the reason
 * said (a corrupt or newer database, a password in the URI, a path not writable). */
int history_open(const char *target, const char *job);
/* Was the history read (not unavailable)? --fail-on-new checks nothing without it. */
bool history_available(void);
/* Is there a baseline: has this job run before? Until then nothing is new. */
bool history_has_baseline(void);
/* Did an earlier run of the job reach this destination? */
bool history_known(const char *kind, const char *what);
/* Record this run, its host and its destinations (the summary's rows), in one transaction; 0 or
 * -1 (said). */
int history_record(uint64_t start_ms, int status);
void history_close(void);
/* --history-report: every destination of job (NULL: of every job) seen in the last since_days
 * (0: ever), with its verdicts, first and last seen, runs and hosts, as a table on stdout or
 * as JSON lines. 0, or -1 (said). */
int history_report(const char *target, const char *job, unsigned since_days, bool json);

#endif
