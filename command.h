/* command.h: starting COMMAND in the guarded cgroup. */
#ifndef DG_COMMAND_H
#define DG_COMMAND_H

#include <signal.h>
#include <sys/types.h>

#include "cglimits.h"
#include "cgroup.h"
#include "nss.h"

#define DG_EXIT_BLOCKED	  123 /* --fail-on-block: COMMAND succeeded, something was blocked */
#define DG_EXIT_NEW	  122 /* --fail-on-new: COMMAND succeeded, a destination was new */
#define DG_EXIT_UNCHECKED 120 /* --fail-on-new: COMMAND succeeded, the history was unavailable */
#define DG_EXIT_FAIL	  125 /* env(1) and timeout(1) conventions */
#define DG_EXIT_CANNOT	  126
#define DG_EXIT_NOTFOUND  127

struct command {
	char **argv;
	const char *user; /* --user, or NULL */
	uid_t uid;	  /* the user's, once command_user() found them */
	gid_t gid, groups[256];
	int ngroups;
	const struct nss_view *nss;	/* COMMAND's view of nsswitch.conf and nscd, or NULL */
	const struct dockerapi *docker; /* the Docker socket COMMAND sees, or NULL */
};

/* Look up c->user (a name or uid) and set HOME, USER and LOGNAME for COMMAND. */
int command_user(struct command *c);
/* Fork COMMAND's child: it joins cg_path (and lim's v1 directories), sends the seccomp filter's
 * listener over sock, restores the signal mask and execs. Returns its pid, or -errno. */
pid_t command_start(const struct command *c, const char *cg_path, const struct cg_limits *lim,
		    int sock, const sigset_t *mask);
/* --fail-open: exec COMMAND in this process, unguarded; returns only never (exits 125-127). */
void command_exec(const struct command *c, const sigset_t *mask) __attribute__((noreturn));

#endif
