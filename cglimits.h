/* cglimits.h: resource limits for the guarded cgroup (cglimits.c). */
#ifndef DG_CGLIMITS_H
#define DG_CGLIMITS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

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
