/*
 * command.c: starting COMMAND. Its child joins the guarded cgroup, installs the seccomp filter
 * and hands deployguard its listener, becomes --user if asked, and execs; COMMAND never runs a
 * single instruction unguarded. Failures before exec exit with env(1)'s codes.
 */
#define _GNU_SOURCE
#include "command.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <linux/capability.h>

#include "dockerapi.h"
#include "fdpass.h"
#include "filter.h"
#include "log.h"

static void say(const char *a, const char *b, const char *c)
{
	/* After fork only async-signal-safe calls: write(2), not stdio. */
	struct part {
		const char *s;
	} parts[] = {{"deployguard: "}, {a}, {b}, {c}, {"\n"}};

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (write(2, parts[i].s, strlen(parts[i].s)) < 0)
			return;
}

/* Become --user if given, then COMMAND; on failure exit 125, 126 or 127 (env(1) codes). Only
 * async-signal-safe calls: it runs in a forked child. */
__attribute__((noreturn)) static void exec_command(const struct command *r)
{
	int err;

	if (r->user &&
	    (setgroups((size_t)r->ngroups, r->groups) || setgid(r->gid) || setuid(r->uid))) {
		say("failed to become --user ", r->user, ": COMMAND not run");
		_exit(DG_EXIT_FAIL);
	}
	execvp(r->argv[0], r->argv);
	err = errno;
	say("failed to run ", r->argv[0],
	    err == ENOENT ? ": command not found" : ": not executable");
	_exit(err == ENOENT ? DG_EXIT_NOTFOUND : DG_EXIT_CANNOT);
}

/* The child joins the cgroup before exec, so COMMAND never runs a single instruction unguarded. */
__attribute__((noreturn)) static void child(const struct command *c, const char *cg_path,
					    const struct cg_limits *lim, int sock,
					    const sigset_t *mask)
{
	char procs[PATH_MAX];
	int fd;

	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg_path);
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1) {
		say("failed to join cgroup ", cg_path, ": COMMAND not run");
		_exit(DG_EXIT_FAIL);
	}
	close(fd);
	if (cg_limits_join(lim)) {
		say("failed to join the cgroup v1 directories of the limits", "",
		    ": COMMAND not run");
		_exit(DG_EXIT_FAIL);
	}
	if (c->nss && nss_apply(c->nss)) {
		say("failed to give COMMAND its view of /etc/nsswitch.conf (a mount namespace)", "",
		    ": COMMAND not run");
		_exit(DG_EXIT_FAIL);
	}
	if (c->docker && dockerapi_apply(c->docker, c->nss && nss_needed(c->nss))) {
		say("failed to give COMMAND deployguard's Docker socket (a bind mount)", "",
		    ": COMMAND not run");
		_exit(DG_EXIT_FAIL);
	}
	/* Without CAP_SYS_PTRACE, which no exec gives back, a root COMMAND cannot trace, read or
	 * write deployguard and its helpers (/proc/PID/mem, /proc/PID/fd, pidfd_getfd, ptrace),
	 * nor enter PID 1's namespaces: their capabilities are not a subset of its own. */
	if (prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE, 0, 0, 0) && errno != EINVAL) {
		say("failed to drop CAP_SYS_PTRACE from the bounding set", "", ": COMMAND not run");
		_exit(DG_EXIT_FAIL);
	}
	fd = filter_install();
	if (fd < 0 || fd_send(sock, &fd, 1)) {
		say("failed to install the seccomp filter", "", ": COMMAND not run");
		_exit(DG_EXIT_FAIL);
	}
	close(fd);
	exec_command(c);
}

/* --user: a name or uid from the passwd database, with that user's groups. COMMAND also gets
 * the user's HOME, USER and LOGNAME, as from runuser(1). */
int command_user(struct command *r)
{
	struct passwd *pw = getpwnam(r->user);
	char *end;
	long id;

	errno = 0;
	id = strtol(r->user, &end, 10);
	if (!pw && !errno && end != r->user && !*end && id >= 0)
		pw = getpwuid((uid_t)id);
	if (!pw) {
		log_warnx("unknown --user '%s': give a user name or uid from the passwd database",
			  r->user);
		return -EINVAL;
	}
	r->uid = pw->pw_uid;
	r->gid = pw->pw_gid;
	r->ngroups = (int)(sizeof(r->groups) / sizeof(r->groups[0]));
	if (getgrouplist(pw->pw_name, pw->pw_gid, r->groups, &r->ngroups) < 0) {
		log_warnx("user %s is in more than %zu groups", pw->pw_name,
			  sizeof(r->groups) / sizeof(r->groups[0]));
		return -E2BIG;
	}
	if (setenv("HOME", pw->pw_dir, 1) || setenv("USER", pw->pw_name, 1) ||
	    setenv("LOGNAME", pw->pw_name, 1))
		return -errno;
	return 0;
}

pid_t command_start(const struct command *c, const char *cg_path, const struct cg_limits *lim,
		    int sock, const sigset_t *mask)
{
	pid_t pid = fork();

	if (pid == 0)
		child(c, cg_path, lim, sock, mask);
	return pid < 0 ? -errno : pid;
}

void command_exec(const struct command *c, const sigset_t *mask)
{
	sigprocmask(SIG_SETMASK, mask, NULL);
	signal(SIGPIPE, SIG_DFL);
	exec_command(c);
}
