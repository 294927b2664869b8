/* cgroup.h: the guarded cgroup's life: its processes, what is left of them, and a watchdog. */
#ifndef DG_CGROUP_H
#define DG_CGROUP_H

#include <stdbool.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "cglimits.h"

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
/* Start a process outside the cgroup that kills everything in it, and removes it if remove is
 * set, and l's v1 directories, unless cg_watchdog_release() was called first: deployguard's
 * death must not leave the cgroup running unguarded. It keeps the fds keep[] (the BPF links)
 * open till then, and closes every other. Returns the fd deployguard holds (and the pid in *pid),
 * or -errno. */
int cg_watchdog(const char *path, bool remove, struct cg_limits *l, int *keep, int nkeep,
		pid_t *pid);
/* Give the watchdog an adopted cgroup ('a': its directory, then its links), or take one back
 * ('r': its directory); fd is cg_watchdog's (-1: none, then nothing is done). 0 or -1. */
int cg_watchdog_hold(int fd, char what, const int *fds, size_t n);
/* Tell the watchdog all is well, and reap it. */
void cg_watchdog_release(int fd, pid_t pid);

#endif
