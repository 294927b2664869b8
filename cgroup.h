/* cgroup.h: the guarded cgroup's life: its processes, what is left of them, and a watchdog. */
#ifndef DG_CGROUP_H
#define DG_CGROUP_H

#include <stdbool.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cg_limits;

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

/* Resource limits, each in the cgroup (v2) or, where a hybrid host binds the controller to cgroup
 * v1, in a directory of deployguard's own in that hierarchy, which COMMAND joins too. */
enum { CG_CPU, CG_MEMORY, CG_PIDS, CG_NCTL };

struct cg_limits {
	unsigned long long want[CG_NCTL]; /* percent of one CPU, bytes, tasks; 0: no limit */
	char dir[CG_NCTL][PATH_MAX];	  /* where each limit is written */
	bool v1[CG_NCTL];		  /* dir is a v1 directory made here */
	char old[CG_NCTL][2][64];	  /* v2 values replaced in a cgroup not made here */
};

/* Apply the limits asked for to the cgroup path (made here or not; attach: its processes are
 * already there, so a v1 directory could not hold them). Says what failed; -errno. */
int cg_limits_apply(struct cg_limits *l, const char *mnt, const char *path, bool created,
		    bool attach);
/* Where controller c lives on this host, in words, into out; -ENOENT if nowhere. */
int cg_limit_where(const char *mnt, int c, char *out, size_t len);
/* In COMMAND's child: join the v1 directories. Async-signal-safe; -1 on failure. */
int cg_limits_join(const struct cg_limits *l);
/* Log what the limits did: peak memory and OOM kills, CPU throttling, refused forks. */
void cg_limits_report(const struct cg_limits *l);
/* Remove the v1 directories (moving what is left to their parents) and put back replaced v2
 * values. */
void cg_limits_release(struct cg_limits *l);

#endif
