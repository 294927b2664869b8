/* proc.h: the processes of a run, for the report: every exec, each process's lineage up to
 * COMMAND, and how each one ended. */
#ifndef DG_PROC_H
#define DG_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "container.h"

#define DG_CMD_MAX 512	 /* bytes of a command line kept */
#define PROC_MAX   65536 /* records kept; later ones are counted, not kept */
#define PROC_DEPTH 16	 /* ancestors kept in a lineage */

/* One process image: a process as one exec left it (or as first seen, if it never exec'd in
 * the cgroup). A process that execs again gets a new record; the old one's next names it. */
struct proc {
	pid_t pid, ppid;
	unsigned long long start; /* /proc starttime, against pid reuse */
	uint64_t exec_ms;	  /* wall clock ms of its exec; 0: not seen exec'ing */
	char *exe, *cmd;
	int next;   /* record that replaced this one by exec, or -1 */
	int status; /* wait(2) status once ended */
	bool ended, lineage_done;
	char *lineage;	      /* "deploy.sh → deploy-tool → curl", COMMAND first */
	pid_t up[PROC_DEPTH]; /* the ancestors' pids, nearest first */
	int nup;
	char *chain; /* the command lines of the process and its ancestors, '\n' between */
	const struct container *ctr; /* the container it ran in, or NULL */
};

/* Field N of /proc/PID/stat as proc(5) numbers them (5: pgrp, 22: starttime), 0 if pid is gone. */
unsigned long long proc_stat(pid_t pid, int field);
/* Command line of pid, arguments separated by spaces, into buf; "" if it is gone. */
void proc_cmdline(pid_t pid, char *buf, size_t len);
/* The same, from the cache when pid is there: no /proc read per DNS query. The cache is
 * refreshed at every exec in the cgroup (proc_cmdline from the exec event), so it only goes
 * stale when a pid is reused without an exec. */
void proc_cmdline_cached(pid_t pid, char *buf, size_t len);

/* cg_rel: the guarded cgroup as /proc/PID/cgroup names it; a lineage ends at the first
 * ancestor outside it (deployguard, or a service manager in attach mode). */
void proc_init(const char *cg_rel);
/* A cgroup adopted into the guard (adopt.c), as /proc/PID/cgroup names it. */
void proc_add_inside(const char *cg_rel);
/* pid runs in the guarded cgroup, an adopted one, or below one. */
bool proc_inside(pid_t pid);
/* An exec in the cgroup, as the kernel reported it (comm: its name, 16 bytes, maybe unended). */
void proc_exec(pid_t pid, pid_t ppid, const char *comm);
/* A guarded process ended with this wait status. */
void proc_exit(pid_t pid, int status);
/* The current record of pid, made now if it has none: its index, or -1. */
int proc_of(pid_t pid);
const struct proc *proc_at(int rec);
/* rec with its lineage walked (once, on first use). */
const struct proc *proc_lineage(int rec);
/* Does text (a name or an address) appear, whole, in the command line of record rec or of one
 * of its ancestors up to COMMAND? That makes a destination direct. */
bool proc_mentions(int rec, const char *text);
/* How many records there are, and how many did not fit. */
int proc_count(void);
unsigned long proc_dropped(void);
/* Wall clock, ms since the epoch. */
uint64_t proc_wall_ms(void);
void proc_free(void);

#endif
