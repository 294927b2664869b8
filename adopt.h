/* adopt.h: cgroups made during the run for guarded processes only (a container's, a transient
 * scope, any the deploy makes), adopted into the guard: given the cgroup programs before the
 * process moved there runs on, counted as the run's, released at its end. */
#ifndef DG_ADOPT_H
#define DG_ADOPT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpf_prog.h"
#include "progs.h"

#define ADOPT_MAX 256 /* cgroups adopted at once; one that is gone leaves room */

struct adopted {
	uint64_t id;
	int fd; /* its directory */
	int links[DG_NPROGS];
	char path[PATH_MAX]; /* as deployguard sees it */
	const char *rel;     /* in path: as /proc/PID/cgroup names it */
	pid_t by;	     /* the guarded process that moved the first one there */
};

struct adopt {
	const struct progs *bpf;
	const char *mnt; /* the cgroup2 mount */
	int mnt_fd;
	int watchdog_fd; /* -1: none (attach mode) */
	long hz;
	struct adopted cg[ADOPT_MAX];
	int n;
};

int adopt_open(struct adopt *a, const struct progs *bpf, const char *mnt);
/* A guarded process was moved to a cgroup made during the run (a DG_T_ADOPT event: pid moved
 * pid moved to cgroup id, its mover stopped if guarded). If every process below that cgroup is
 * guarded, adopt it and let them go on: its entry. Else NULL, why says why, and both are killed
 * (the move is an escape). */
const struct adopted *adopt_move(struct adopt *a, pid_t mover, pid_t moved, uint64_t moved_start,
				 uint64_t id, char *why, size_t len);
/* The adopted cgroup that holds pid, or NULL. */
const struct adopted *adopt_of(const struct adopt *a, pid_t pid);
/* Whether a process still runs in an adopted cgroup. */
bool adopt_populated(const struct adopt *a);
/* Log each process left in an adopted cgroup as "WHAT: pid N cmd ..."; how many. */
size_t adopt_report(const struct adopt *a, const char *what);
/* SIGKILL what runs in the adopted cgroups, and wait (bounded) until they are empty. */
int adopt_kill(const struct adopt *a);
/* Detach from every adopted cgroup: what runs there runs on unguarded. */
void adopt_close(struct adopt *a);

#endif
