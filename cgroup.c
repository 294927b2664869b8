/*
 * cgroup.c: the guarded cgroup's processes, from start to after COMMAND.
 *
 * All of it reads and writes cgroup v2 interface files: cgroup.procs to list and move processes,
 * cgroup.kill to kill them, cgroup.events to learn when the cgroup is empty.
 */
#define _GNU_SOURCE
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "log.h"
#include "proc.h"

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

uint64_t cg_watermark(const char *mnt)
{
	char p[PATH_MAX];
	struct stat st;
	uint64_t id = UINT64_MAX;

	snprintf(p, sizeof(p), "%s/deployguard-%d.mark", mnt, (int)getpid());
	if (mkdir(p, 0700) == 0) {
		if (stat(p, &st) == 0)
			id = st.st_ino; /* a cgroup2 directory's inode number is its id */
		rmdir(p);
	}
	if (id == UINT64_MAX)
		log_debug("failed to make a cgroup in %s: no cgroup made during the run is adopted",
			  mnt);
	return id;
}

FILE *cg_open_in(const char *path, const char *file, const char *mode)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s/%s", path, file);
	return fopen(p, mode);
}

size_t cg_report(const char *path, const char *what)
{
	char cmd[DG_CMD_MAX];
	FILE *f = cg_open_in(path, "cgroup.procs", "re");
	size_t n = 0;
	int pid;

	while (f && fscanf(f, "%d", &pid) == 1) {
		proc_cmdline(pid, cmd, sizeof(cmd));
		log_warnx("%s: pid %d cmd \"%.200s\"", what, pid, cmd);
		n++;
	}
	if (f)
		fclose(f);
	return n;
}

/* fn(dir) for each cgroup below path, the deepest first (depth bounded). */
static int each_below(const char *path, int depth, int (*fn)(const char *, const char *),
		      const char *arg)
{
	DIR *d = depth < 32 ? opendir(path) : NULL;
	struct dirent *de;
	int err = 0;

	while (d && (de = readdir(d))) {
		char sub[PATH_MAX];

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		err = each_below(sub, depth + 1, fn, arg) ?: err;
		err = fn(sub, arg) ?: err;
	}
	if (d)
		closedir(d);
	return err;
}

static int move_procs(const char *path, const char *parent);

int cg_move_to_parent(const char *path)
{
	char parent[PATH_MAX];

	snprintf(parent, sizeof(parent), "%s", path);
	*strrchr(parent, '/') = '\0';
	return each_below(path, 0, move_procs, parent) ?: move_procs(path, parent);
}

static int remove_dir(const char *path, const char *unused)
{
	(void)unused;
	return rmdir(path) ? -errno : 0;
}

/* On a hybrid host runc makes a container's directories in every v1 hierarchy too, at the path
 * of its v2 parent: below ours for dockerd's containers (CgroupParent). They go with ours. */
static void remove_v1_twins(const char *path)
{
	char dev[256], dir[PATH_MAX], type[64], opts[512], twin[PATH_MAX], mnt[PATH_MAX];
	FILE *f;

	if (cg_mount(mnt, sizeof(mnt)) || strncmp(path, mnt, strlen(mnt)))
		return;
	f = fopen("/proc/self/mounts", "re");
	while (f && fscanf(f, "%255s %4095s %63s %511s %*[^\n]", dev, dir, type, opts) == 4)
		if (!strcmp(type, "cgroup") &&
		    snprintf(twin, sizeof(twin), "%s%s", dir, path + strlen(mnt)) <
			(int)sizeof(twin) &&
		    !access(twin, F_OK) && !each_below(twin, 0, remove_dir, NULL))
			remove_dir(twin, NULL);
	if (f)
		fclose(f);
}

/* COMMAND may have made cgroups of its own below ours: they go first. A process that has just
 * exited may hold one for a moment, and a container's runtime may still be removing its own. */
int cg_remove(const char *path)
{
	int err;

	for (int i = 0; i < 80; i++) {
		each_below(path, 0, remove_dir, NULL);
		if ((err = remove_dir(path, NULL)) != -EBUSY && err != -ENOTEMPTY)
			break;
		usleep(25000);
	}
	remove_v1_twins(path);
	return err;
}

static int move_procs(const char *path, const char *parent)
{
	FILE *f = cg_open_in(path, "cgroup.procs", "re");
	int pid, err = 0;

	while (f && fscanf(f, "%d", &pid) == 1) {
		FILE *to = cg_open_in(parent, "cgroup.procs", "we");

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

bool cg_kill_file = true;

int cg_kill(const char *path)
{
	FILE *f = cg_kill_file ? cg_open_in(path, "cgroup.kill", "we") : NULL;
	int pid, err = 0;

	if (f && fputs("1", f) >= 0 && fclose(f) == 0)
		return 0;
	if (f)
		fclose(f);
	/* before 5.14: one by one; a fork racing with this is caught by the next pass */
	for (int pass = 0; pass < 10 && cg_populated(path); pass++) {
		f = cg_open_in(path, "cgroup.procs", "re");
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
	FILE *f = cg_open_in(path, "cgroup.events", "re");
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
