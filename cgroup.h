/* cgroup.h: the guarded cgroup's life: its processes, what is left of them, and a watchdog. */
#ifndef DG_CGROUP_H
#define DG_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The cgroup2 mount: /sys/fs/cgroup on most hosts, /sys/fs/cgroup/unified on hybrid ones. */
int cg_mount(char *out, size_t len);
/* Is this process in the cgroup PATH or below it (mnt: the cgroup2 mount)? */
bool cg_holds_self(const char *mnt, const char *path);
/* Log each process in the cgroup as "WHAT: pid N cmd ..."; returns how many there are. */
size_t cg_report(const char *path, const char *what);
/* Move every process of the cgroup to its parent. */
int cg_move_to_parent(const char *path);
/* SIGKILL every process of the cgroup (cgroup.kill, 5.14+, or one by one). */
int cg_kill(const char *path);
/* Wait at most timeout_ms for the cgroup to hold no process; 0 when it is empty. */
int cg_wait_empty(const char *path, int timeout_ms);
/* Open cgroup.events, whose POLLPRI says the cgroup's population changed. */
int cg_events_fd(const char *path);
bool cg_populated(const char *path);
/* Start a process outside the cgroup that kills everything in it, and removes it if remove is
 * set, unless cg_watchdog_release() was called first: deployguard's death must not leave the
 * cgroup running unguarded. Returns the fd deployguard holds (and the pid in *pid), or -errno. */
int cg_watchdog(const char *path, bool remove, pid_t *pid);
/* Tell the watchdog all is well, and reap it. */
void cg_watchdog_release(int fd, pid_t pid);

#endif
