/* progs.h: the BPF programs: shaped, built, attached, and the maps deployguard fills. */
#ifndef DG_PROGS_H
#define DG_PROGS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "bpf_prog.h"
#include "policy.h"

#define PROGS_MAX_CFLAGS 40
#define PROGS_MAX_ALSO	 8 /* --guard-also cgroups */

/* Whether the compile cache served this start (see progs_build). */
enum progs_cache { PROGS_CACHE_OFF, PROGS_CACHE_USED, PROGS_CACHE_STORED, PROGS_CACHE_UNUSABLE };

/* What the programs hold, released by progs_close(). */
struct progs {
	int prog_fd[DG_NPROGS], link_fd[DG_NPROGS], map_fd[DG_NMAPS];
	int also_link[PROGS_MAX_ALSO]
		     [DG_NPROGS]; /* the cgroup programs on --guard-also's cgroups */
	char headers[PATH_MAX];	  /* the kernel header tree in use */
	char *cflags[PROGS_MAX_CFLAGS];
	int ncflags;
	size_t nets_max[2];  /* IPv4 and IPv6 address rules the LPM tries hold */
	size_t ports_max[2]; /* and rules with a port, with the addresses names' port rules add */
	struct dg_conf conf; /* dg_conf's entry: the proxy's port, the cgroup, deployguard's pid */
	bool offsets;	     /* the escape guard's offsets were looked up (DG_OFF_* flags) */
	char guard_why[256]; /* and why the guard is out, when it is */
	const char *cache_dir; /* the compile cache, or NULL: compile every time */
	char cache_key[65];
	enum progs_cache cache;
};

/* What the -D constants of the text say (see bpf_prog.bpf.c). */
struct progs_cfg {
	const char *kernel_headers; /* --kernel-headers, or NULL */
	const struct policy_mode *mode;
	bool audit;
	bool sock_owner; /* the kernel has socket storage at socket creation */
	bool dump;	 /* --dump-bpf: print the flags and the text */
	unsigned proxy_port;
	unsigned long cgroup_id;
	unsigned long long watermark; /* cgroups with a greater id were made during the run */
	unsigned connect_action;      /* a DG_CA_ code */
};

/* What progs_build's child exits with: the step that failed. */
enum { BUILD_OK, BUILD_COMPILE, BUILD_LOAD };

void progs_init(struct progs *p);
/* The -D flags for policy pol (its address rules size the LPM tries), after finding the kernel
 * headers if no tree was found yet. */
int progs_flags(struct progs *p, const struct progs_cfg *c, const struct policy *pol);
/* The escape guard's offsets from the kernel's BTF, as -D flags (once; a cached start needs
 * none): without them the guard is a fallback. */
void progs_offsets(struct progs *p);
/* Whether dg_progs[i] is loaded on this kernel: not when its hook is a fallback. */
bool progs_loads(size_t i);
/* Load the programs of the compile cache's entry for these flags and this kernel, or else
 * compile and load in a child (which stores the entry); *failed is the step that failed. -vvv
 * compiles (and prints the verifier's logs). Then dg_conf is filled. */
int progs_build(struct progs *p, int verbose, int *failed);
/* Attach every program to the cgroup (BPF links: they detach when deployguard exits). */
int progs_attach(struct progs *p, int cg_fd, const char *cg_path);
/* Attach the cgroup programs (not the tracepoints) to another cgroup too: links[DG_NPROGS] get
 * the links (-1 where none); multi-attach, so the programs it has keep working. why names the
 * cgroup in the message of a failure, after which no link is left. */
int progs_attach_cgroup(const struct progs *p, int cg_fd, int *links, const char *why);
/* The same, as the k-th --guard-also. */
int progs_attach_also(struct progs *p, int k, int cg_fd, const char *cg_path);
/* Note the owner of each socket the processes of cgroup cg (and below) hold now, for the
 * egress program (pidfd_getfd, 5.6+). */
void progs_own_sockets(const struct progs *p, const char *cg);
/* Make the processes of cgroup cg (and below) members for the escape guard: attach mode. */
void progs_note_members(const struct progs *p, const char *cg);
/* Whether pol's address rules fit the tries of this run (a reload may add DG_NETS_SPARE). */
bool progs_nets_fit(const struct progs *p, const struct policy *pol);
void progs_close(struct progs *p);

#endif
