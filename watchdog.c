/*
 * watchdog.c: a process outside the guarded cgroup that kills everything in it (and removes it,
 * and the limits' v1 directories) when deployguard dies without a word, so that its death never
 * leaves the deploy running unguarded. It holds the BPF links, and those of every cgroup
 * deployguard adopted, until deployguard says all is well.
 */
#define _GNU_SOURCE
#include "watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "fdpass.h"
#include "log.h"

/* Close every descriptor from 3 up but those in keep (ascending). */
static void close_but(const int *keep, int nkeep)
{
	unsigned from = 3;

	for (int i = 0; i < nkeep; i++) {
		if (keep[i] < 0)
			continue; /* a program this kernel did not load */
		if ((unsigned)keep[i] > from)
			close_range(from, (unsigned)keep[i] - 1, 0);
		if ((unsigned)keep[i] >= from)
			from = (unsigned)keep[i] + 1;
	}
	close_range(from, ~0U, 0);
}

/* The cgroups deployguard adopted, as the watchdog holds them: each one's directory and links. */
#define WATCH_MAX 256
struct held {
	int fds[1 + 32]; /* the directory, then the links */
	int n;
	ino_t id;
};

/* One message from deployguard: 'x' all is well; 'a' an adopted cgroup (its directory, then its
 * links), 'r' one released (its directory). Returns 1 to go on, 0 to exit, -1 at end of file. */
static int watch_message(struct held *h, int *nheld)
{
	struct stat st;
	char c = 0;
	int fds[32], n = fd_recv_tagged(0, &c, fds, 32), i;

	if (n < 0)
		return errno == EINTR ? 1 : -1;
	if (c == 'x')
		return 0;
	if (n == 0 || fstat(fds[0], &st)) {
		for (i = 0; i < n; i++)
			close(fds[i]);
		return 1;
	}
	for (i = 0; i < *nheld && h[i].id != st.st_ino; i++)
		;
	if (c == 'a' && i == *nheld && *nheld < WATCH_MAX) {
		memcpy(h[i].fds, fds, sizeof(int) * (size_t)n);
		h[i].n = n;
		h[i].id = st.st_ino;
		(*nheld)++;
		return 1;
	}
	if (c == 'r' && i < *nheld) {
		for (int k = 0; k < h[i].n; k++)
			close(h[i].fds[k]);
		h[i] = h[--(*nheld)];
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
	return 1;
}

/* The watchdog: a child of deployguard in deployguard's own cgroup, holding one end of a socket
 * pair and a copy of each BPF link. 'x' means deployguard cleaned up itself; end of file means
 * it died: then the programs stay attached (the links are the watchdog's too) until everything
 * in the cgroup and in the cgroups it adopted is killed, so COMMAND never runs unguarded. The
 * OOM killer leaves it alone; COMMAND's seccomp filter refuses it signals. */
static void watchdog(int sock, const char *path, bool remove, struct cg_limits *l, int *keep,
		     int nkeep)
{
	static struct held held[WATCH_MAX];
	int fd, nheld = 0, go;

	prctl(PR_SET_NAME, "dg-watchdog");
	setsid(); /* a ^C for the terminal goes to deployguard, which passes it on */
	if ((fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC)) >= 0) {
		if (write(fd, "-1000", 5) != 5) { /* a container may forbid it: best effort */
		}
		close(fd);
	}
	if (dup2(sock, 0) < 0)
		_exit(1);
	for (int i = 1; i < nkeep; i++) /* sorted, for close_but */
		for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];

			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	close_but(keep, nkeep);
	while ((go = watch_message(held, &nheld)) > 0)
		;
	if (go == 0)
		_exit(0);
	fprintf(stderr,
		"deployguard: died without cleaning up: killing what runs in %s, which "
		"is no longer guarded\n",
		path);
	cg_kill(path);
	for (int i = 0; i < nheld; i++) {
		char dir[64];

		snprintf(dir, sizeof(dir), "/proc/self/fd/%d", held[i].fds[0]);
		cg_kill(dir);
	}
	if (remove && cg_wait_empty(path, 5000) == 0)
		cg_remove(path);
	cg_limits_release(l);
	_exit(0);
}

int cg_watchdog(const char *path, bool remove, struct cg_limits *l, int *keep, int nkeep,
		pid_t *wpid)
{
	int p[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p))
		return -errno;
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(p[0]);
		close(p[1]);
		return err;
	}
	if (pid == 0) {
		close(p[1]);
		watchdog(p[0], path, remove, l, keep, nkeep);
	}
	close(p[0]);
	*wpid = pid;
	return p[1];
}

int cg_watchdog_hold(int fd, char what, const int *fds, size_t n)
{
	return fd < 0 ? 0 : fd_send_tagged(fd, what, fds, n);
}

void cg_watchdog_release(int fd, pid_t pid)
{
	if (fd < 0)
		return;
	if (fd_send_tagged(fd, 'x', NULL, 0))
		log_warn("failed to release the watchdog");
	close(fd);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		; /* not left to init as a zombie */
}
