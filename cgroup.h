/* cgroup.h: the guarded cgroup's life: its processes, and what is left of them. */
#ifndef DG_CGROUP_H
#define DG_CGROUP_H

#include <stdbool.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* dir/file of a cgroup, opened with fopen's mode; NULL with errno. */
FILE *cg_open_in(const char *dir, const char *file, const char *mode);
/* The cgroup2 mount: /sys/fs/cgroup on most hosts, /sys/fs/cgroup/unified on hybrid ones. */
int cg_mount(char *out, size_t len);
/* The id of a cgroup made and removed now: every cgroup made later has a greater one (ids only
 * grow); UINT64_MAX if none could be made. */
uint64_t cg_watermark(const char *mnt);
/* Is this process in the cgroup PATH or below it (mnt: the cgroup2 mount)? */
bool cg_holds_self(const char *mnt, const char *path);
/* Log each process in the cgroup as "WHAT: pid N cmd ..."; returns how many there are. */
size_t cg_report(const char *path, const char *what);
/* Move every process of the cgroup to its parent. */
/* Remove the cgroup and the (empty) cgroups COMMAND made below it. */
int cg_remove(const char *path);
int cg_move_to_parent(const char *path);
/* SIGKILL every process of the cgroup (cgroup.kill, 5.14+, or one by one). */
int cg_kill(const char *path);
/* Whether cg_kill may use cgroup.kill (false: one by one, as before 5.14). */
extern bool cg_kill_file;
/* Wait at most timeout_ms for the cgroup to hold no process; 0 when it is empty. */
int cg_wait_empty(const char *path, int timeout_ms);
/* Open cgroup.events, whose POLLPRI says the cgroup's population changed. */
int cg_events_fd(const char *path);
bool cg_populated(const char *path);

#endif
