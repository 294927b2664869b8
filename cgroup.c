/*
 * cgroup.c: the guarded cgroup's processes, from start to after COMMAND.
 *
 * All of it reads and writes cgroup v2 interface files: cgroup.procs to list and move processes,
 * cgroup.kill to kill them, cgroup.events to learn when the cgroup is empty.
 */
#define _GNU_SOURCE
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"

int cg_mount(char *out, size_t len)
{
	char dev[256], dir[PATH_MAX], type[64];
	FILE *f = fopen("/proc/self/mounts", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3) {
		if (strcmp(type, "cgroup2") == 0) {
			snprintf(out, len, "%s", dir);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

bool cg_holds_self(const char *mnt, const char *path)
{
	char line[PATH_MAX], self[2 * PATH_MAX] = "", want[PATH_MAX];
	FILE *f = fopen("/proc/self/cgroup", "re");
	size_t n;

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line,
			     "0::", 3)) { /* the cgroup2 line; hybrid hosts list v1 ones too */
			line[strcspn(line, "\n")] = '\0';
			snprintf(self, sizeof(self), "%s%s", mnt, line + 3);
		}
	}
	if (f)
		fclose(f);
	if (!realpath(path, want))
		return false;
	n = strlen(want);
	return !strncmp(self, want, n) && (self[n] == '\0' || self[n] == '/');
}

static FILE *open_in(const char *path, const char *file, const char *mode)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s/%s", path, file);
	return fopen(p, mode);
}

size_t cg_report(const char *path, const char *what)
{
	char cmd[DG_CMD_MAX];
	FILE *f = open_in(path, "cgroup.procs", "re");
	size_t n = 0;
	int pid;

	while (f && fscanf(f, "%d", &pid) == 1) {
		audit_cmdline(pid, cmd, sizeof(cmd));
		log_warnx("%s: pid %d cmd \"%.200s\"", what, pid, cmd);
		n++;
	}
	if (f)
		fclose(f);
	return n;
}

int cg_move_to_parent(const char *path)
{
	char parent[PATH_MAX];
	FILE *f = open_in(path, "cgroup.procs", "re");
	int pid, err = 0;

	snprintf(parent, sizeof(parent), "%s", path);
	*strrchr(parent, '/') = '\0';
	while (f && fscanf(f, "%d", &pid) == 1) {
		FILE *to = open_in(parent, "cgroup.procs", "we");

		/* one write per pid: cgroup.procs takes a single pid per write(2) */
		if (!to || fprintf(to, "%d\n", pid) < 0 || fflush(to)) {
			err = -errno;
			log_warn("failed to move pid %d out of %s", pid, path);
		}
		if (to)
			fclose(to);
	}
	if (f)
		fclose(f);
	return err;
}

int cg_kill(const char *path)
{
	FILE *f = open_in(path, "cgroup.kill", "we");
	int pid, err = 0;

	if (f && fputs("1", f) >= 0 && fclose(f) == 0)
		return 0;
	if (f)
		fclose(f);
	/* before 5.14: one by one; a fork racing with this is caught by the next pass */
	for (int pass = 0; pass < 10 && cg_populated(path); pass++) {
		f = open_in(path, "cgroup.procs", "re");
		while (f && fscanf(f, "%d", &pid) == 1)
			if (kill(pid, SIGKILL) && errno != ESRCH)
				err = -errno;
		if (f)
			fclose(f);
	}
	return err;
}

bool cg_populated(const char *path)
{
	char key[32];
	FILE *f = open_in(path, "cgroup.events", "re");
	int v = 0;
	bool populated = false;

	while (f && fscanf(f, "%31s %d", key, &v) == 2)
		if (!strcmp(key, "populated"))
			populated = v != 0;
	if (f)
		fclose(f);
	return populated;
}

int cg_events_fd(const char *path)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s/cgroup.events", path);
	return open(p, O_RDONLY | O_CLOEXEC);
}

int cg_wait_empty(const char *path, int timeout_ms)
{
	int fd = cg_events_fd(path);
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLPRI};
		long left;

		if (!cg_populated(path))
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = timeout_ms -
		       ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || fd < 0) {
			if (fd >= 0)
				close(fd);
			return -ETIMEDOUT;
		}
		poll(&pfd, 1,
		     (int)(left < 100 ? left : 100)); /* POLLPRI on change; re-read anyway */
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

/* The watchdog: a child of deployguard in deployguard's own cgroup, holding the read end of a
 * pipe. A byte means deployguard cleaned up itself; end of file means it died. */
static void watchdog(int rfd, const char *path, bool remove)
{
	char c = 0;
	ssize_t n;

	prctl(PR_SET_NAME, "dg-watchdog");
	setsid(); /* a ^C for the terminal goes to deployguard, which passes it on */
	if (dup2(rfd, 0) < 0)
		_exit(1);
	close_range(3, ~0U, 0); /* above all the BPF links: they must close with deployguard */
	do
		n = read(0, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1 && c == 'x')
		_exit(0);
	fprintf(stderr,
		"deployguard: died without cleaning up: killing what runs in %s, which "
		"is no longer guarded\n",
		path);
	cg_kill(path);
	if (remove && cg_wait_empty(path, 5000) == 0)
		rmdir(path);
	_exit(0);
}

int cg_watchdog(const char *path, bool remove, pid_t *wpid)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
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
		watchdog(p[0], path, remove);
	}
	close(p[0]);
	*wpid = pid;
	return p[1];
}

void cg_watchdog_release(int fd, pid_t pid)
{
	if (fd < 0)
		return;
	if (write(fd, "x", 1) != 1)
		log_warn("failed to release the watchdog");
	close(fd);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		; /* not left to init as a zombie */
}
