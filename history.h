/* history.h: the runs of each job in an SQLite database (--history), for the destinations no
 * earlier run of the job reached (new=true, --fail-on-new). */
#ifndef DG_HISTORY_H
#define DG_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

/* Open (or create) the database at path and read what the earlier runs of job reached. 0, or
 * -1 with the file and the reason said (a corrupt or locked database, a path not writable). */
int history_open(const char *path, const char *job);
/* Is there a baseline: has this job run before? Until then nothing is new. */
bool history_has_baseline(void);
/* Did an earlier run of the job reach this destination? */
bool history_known(const char *kind, const char *what);
/* Record this run and its destinations (the summary's rows), in one transaction; 0 or -1. */
int history_record(uint64_t start_ms, int status);
void history_close(void);

#endif
