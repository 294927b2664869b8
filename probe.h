/* probe.h: what this host must offer for a guarded run, checked before anything runs. */
#ifndef DG_PROBE_H
#define DG_PROBE_H

#include <stdbool.h>
#include <stddef.h>

/* Start a round of probes: as the --check table (with a header row), or quietly. */
void probe_begin(bool as_table);
/* One result: err 0 is a pass; a failure says what is missing and how to get it, and is logged
 * even when not printing the table. */
void probe_row(const char *what, int err, const char *detail);
/* A table row that is not a pass or a failure (what only some options need). */
void probe_note(const char *what, const char *result, const char *detail);
int probe_failures(void);
/* Parts of deployguard that run another way when the kernel lacks what they use. */
enum probe_feature {
	PROBE_SOCK_OWNER = 1 << 0,   /* socket storage in cgroup/sock_create */
	PROBE_PIDFD_GETFD = 1 << 1,  /* pidfd_getfd(2), 5.6+ */
	PROBE_CGROUP_KILL = 1 << 2,  /* cgroup.kill, 5.14+ */
	PROBE_ESCAPE_GUARD = 1 << 3, /* the kernel's BTF, for the escape guard's offsets */
	PROBE_UNIX_CONNECT = 1 << 4, /* cgroup/connect_unix, 6.7+ */
	PROBE_SET_RETVAL = 1 << 5,   /* bpf_set_retval in cgroup/connect, 6.1+ */
};
/* A part that runs with a fallback: a table row, or one line at start. */
void probe_fallback(enum probe_feature f, const char *what, const char *detail);
/* Whether DEPLOYGUARD_WITHOUT (a comma-separated list) names the part: the tests take each
 * fallback on a kernel that has everything. */
bool probe_without(const char *name);
/* Whether the last round of probes found what f uses. */
bool probe_has(enum probe_feature f);
/* Does dg_progs[i] load on this kernel (its hook is not one the kernel lacks)? */
bool probe_prog_loads(size_t i);
/* The kernel's side: cgroup2 mount (NULL if none), privileges, bpf(), the map types, each hook
 * and the helpers its code calls. Returns the failures so far. */
int probe_host(const char *mnt);

/* Whether the cgroup at path has cgroup.kill (a fallback row when not). */
void probe_cgroup_kill(const char *path);

#endif
