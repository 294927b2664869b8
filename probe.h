/* probe.h: what this host must offer for a guarded run, checked before anything runs. */
#ifndef DG_PROBE_H
#define DG_PROBE_H

#include <stdbool.h>

/* Start a round of probes: as the --check table (with a header row), or quietly. */
void probe_begin(bool as_table);
/* One result: err 0 is a pass; a failure says what is missing and how to get it, and is logged
 * even when not printing the table. */
void probe_row(const char *what, int err, const char *detail);
/* A table row that is not a pass or a failure (what only some options need). */
void probe_note(const char *what, const char *result, const char *detail);
int probe_failures(void);
/* The kernel's side: cgroup2 mount (NULL if none), privileges, bpf(), the map types, each hook
 * and the helpers its code calls. Returns the failures so far. */
int probe_host(const char *mnt);

#endif
