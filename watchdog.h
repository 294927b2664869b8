/* watchdog.h: the guarded cgroup's watchdog (watchdog.c). */
#ifndef DG_WATCHDOG_H
#define DG_WATCHDOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cglimits.h"

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
