/*
 * adopt.c: a cgroup the deploy makes for its own processes is part of the deploy.
 *
 * runc and crun move a container's first process into the cgroup they just made for it,
 * systemd moves systemd-run into a new scope, a script may make a cgroup of its own anywhere in
 * the tree. The escape guard (dg_attach) reports a guarded process moved to a cgroup made during
 * the run (its id above dg_conf's watermark: cgroup ids only grow), and stops its mover there if
 * the mover is guarded. Here that cgroup is adopted if every process below it is guarded: it
 * gets the cgroup programs and an entry in dg_cgroups (the escape guard counts what is below it
 * as inside), the watchdog holds its links, and only then do the stopped processes go on.
 * Anything else (someone else's process there, the cgroup gone, no room) makes the move an
 * escape: the moved process and a guarded mover are killed.
 */
#define _GNU_SOURCE
#include "adopt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "cgroup.h"
#include "watchdog.h"
#include "container.h"
#include "log.h"
#include "proc.h"

#define FILEID_KERNFS 0xfe /* a cgroup2 file handle: the 8-byte cgroup id (kernfs) */
#define ADOPT_DEPTH   16   /* cgroup levels below an adopted one that are checked */

int adopt_open(struct adopt *a, const struct progs *bpf, const char *mnt)
{
	*a = (struct adopt){.bpf = bpf, .mnt = mnt, .watchdog_fd = -1, .hz = sysconf(_SC_CLK_TCK)};
	a->mnt_fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return a->mnt_fd < 0 ? -errno : 0;
}

/* pid is the guarded process that started at start_ns (0: any); its entry in *m. */
static bool guarded(const struct adopt *a, pid_t pid, uint64_t start_ns, struct dg_member *m)
{
	uint32_t tgid = (uint32_t)pid;
	unsigned long long ticks;

	if (bpf_map_lookup_elem(a->bpf->map_fd[M_MEMBERS], &tgid, m))
		return false;
	if (!m->start && !start_ns)
		return true;
	ticks = proc_stat(pid, 22);
	return ticks &&
	       (m->start ? m->start : start_ns) / (1000000000ULL / (uint64_t)a->hz) == ticks;
}

/* Signal pid, if it is still the process that started at start_ns (ns since boot; 0: any). */
static void signal_if(const struct adopt *a, pid_t pid, uint64_t start_ns, int sig)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (pidfd < 0)
		return; /* gone */
	if (!start_ns || proc_stat(pid, 22) == start_ns / (1000000000ULL / (uint64_t)a->hz))
		syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
	close(pidfd);
}

/* Every process in the cgroup dir (an fd) and below it is guarded: 0. Else -EPERM, and why. */
static int only_guarded(const struct adopt *a, int dir, int depth, char *why, size_t len)
{
	int fd = openat(dir, "cgroup.procs", O_RDONLY | O_CLOEXEC), err = 0, pid;
	struct dg_member m;
	struct dirent *de;
	FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;
	DIR *d;

	if (!f) {
		if (fd >= 0)
			close(fd);
		snprintf(why, len, "its processes cannot be read");
		return -EIO;
	}
	while (!err && fscanf(f, "%d", &pid) == 1) {
		if (!guarded(a, pid, 0, &m)) {
			char cmd[128];

			proc_cmdline(pid, cmd, sizeof(cmd));
			snprintf(why, len, "it holds pid %d (%s), which is not guarded", pid,
				 cmd[0] ? cmd : "gone");
			err = -EPERM;
		}
	}
	fclose(f);
	if (err || depth == ADOPT_DEPTH)
		return err;
	fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	while (d && !err && (de = readdir(d))) {
		int sub;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = openat(dir, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sub >= 0) {
			err = only_guarded(a, sub, depth + 1, why, len);
			close(sub);
		}
	}
	if (d)
		closedir(d);
	else if (fd >= 0)
		close(fd);
	return err;
}

/* The directory of cgroup id, whatever its path (the path in the event may be cut, or another
 * cgroup namespace's): open_by_handle_at on the cgroup2 mount. */
static int open_cgroup(const struct adopt *a, uint64_t id)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = {.fh = {.handle_bytes = sizeof(uint64_t), .handle_type = FILEID_KERNFS}, .id = id};

	return (int)syscall(SYS_open_by_handle_at, a->mnt_fd, &h.fh,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void release(struct adopt *a, struct adopted *c)
{
	uint64_t id = c->id;

	bpf_map_delete_elem(a->bpf->map_fd[M_CGROUPS], &id);
	cg_watchdog_hold(a->watchdog_fd, 'r', &c->fd, 1);
	for (size_t i = 0; i < DG_NPROGS; i++)
		if (c->links[i] >= 0)
			close(c->links[i]);
	close(c->fd);
}

/* Make room: forget the adopted cgroups that are gone (removed by whoever made them). */
static void sweep(struct adopt *a)
{
	for (int i = 0; i < a->n;) {
		if (faccessat(a->cg[i].fd, "cgroup.procs", F_OK, 0) == 0) {
			i++;
			continue;
		}
		log_debug("adopted cgroup %s is gone", a->cg[i].path);
		release(a, &a->cg[i]);
		a->cg[i] = a->cg[--a->n];
	}
}

/* Attach to the open cgroup dir and note it everywhere: the kernel, the watchdog, the lineage. */
static int adopt_dir(struct adopt *a, struct adopted *c, char *why, size_t len)
{
	uint64_t id = c->id;
	uint32_t one = 1;
	int fds[1 + DG_NPROGS], n = 0, err;

	if ((err = progs_attach_cgroup(a->bpf, c->fd, c->links, c->path))) {
		snprintf(why, len, "the programs could not be attached there: %s", strerror(-err));
		return err;
	}
	if (bpf_map_update_elem(a->bpf->map_fd[M_CGROUPS], &id, &one, BPF_ANY)) {
		err = -errno;
		snprintf(why, len, "dg_cgroups is full: %s", strerror(errno));
	}
	fds[n++] = c->fd;
	for (size_t i = 0; i < DG_NPROGS; i++)
		if (c->links[i] >= 0)
			fds[n++] = c->links[i];
	if (!err && cg_watchdog_hold(a->watchdog_fd, 'a', fds, (size_t)n)) {
		err = -EIO;
		snprintf(why, len, "the watchdog could not take its links");
	}
	if (err) {
		bpf_map_delete_elem(a->bpf->map_fd[M_CGROUPS], &id);
		for (size_t i = 0; i < DG_NPROGS; i++)
			if (c->links[i] >= 0)
				close(c->links[i]);
		return err;
	}
	proc_add_inside(c->rel);
	return 0;
}

/* The checks and the attach; the entry, or NULL and why. */
static const struct adopted *adopt_id(struct adopt *a, uint64_t id, pid_t mover, char *why,
				      size_t len)
{
	struct adopted *c;
	char link[64];
	ssize_t n;
	int fd;

	for (int i = 0; i < a->n; i++)
		if (a->cg[i].id == id)
			return &a->cg[i]; /* two moves there before the first was seen */
	if (a->n == ADOPT_MAX)
		sweep(a);
	if (a->n == ADOPT_MAX) {
		snprintf(why, len, "the run has adopted %d cgroups already", ADOPT_MAX);
		return NULL;
	}
	if ((fd = open_cgroup(a, id)) < 0) {
		snprintf(why, len, "the cgroup is gone");
		return NULL;
	}
	c = &a->cg[a->n];
	*c = (struct adopted){.id = id, .fd = fd, .by = mover};
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, c->path, sizeof(c->path) - 1);
	c->path[n > 0 ? n : 0] = '\0';
	c->rel = !strncmp(c->path, a->mnt, strlen(a->mnt)) ? c->path + strlen(a->mnt) : c->path;
	if (only_guarded(a, fd, 0, why, len) || adopt_dir(a, c, why, len)) {
		close(fd);
		return NULL;
	}
	a->n++;
	container_from_runtime(mover, c->rel); /* runc or crun, making a container's cgroup */
	return c;
}

const struct adopted *adopt_move(struct adopt *a, pid_t mover, pid_t moved, uint64_t moved_start,
				 uint64_t id, char *why, size_t len)
{
	struct dg_member m;
	bool mover_guarded = guarded(a, mover, 0, &m), stopped = false;
	uint64_t mover_start = mover_guarded ? m.start : 0;
	const struct adopted *c;

	/* The moved process runs on while its mover is stopped, unless it is the mover: stop it
	 * too, first. (The kernel can stop only the current task before 6.13.) */
	if (moved != mover) {
		signal_if(a, moved, moved_start, SIGSTOP);
		stopped = true;
	}
	c = adopt_id(a, id, mover, why, len);
	if (!c) {
		signal_if(a, moved, moved_start, SIGKILL);
		if (mover_guarded)
			signal_if(a, mover, mover_start, SIGKILL);
		return NULL;
	}
	if (stopped)
		signal_if(a, moved, moved_start, SIGCONT);
	if (mover_guarded)
		signal_if(a, mover, mover_start, SIGCONT);
	return c;
}

const struct adopted *adopt_of(const struct adopt *a, pid_t pid)
{
	char path[64], line[PATH_MAX + 8];
	const struct adopted *found = NULL;
	FILE *f;

	if (!a || !a->n)
		return NULL;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	for (f = fopen(path, "re"); f && !found && fgets(line, sizeof(line), f);) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		for (int i = 0; i < a->n && !found; i++) {
			size_t n = strlen(a->cg[i].rel);

			if (!strncmp(line + 3, a->cg[i].rel, n) &&
			    (line[3 + n] == '/' || !line[3 + n]))
				found = &a->cg[i];
		}
	}
	if (f)
		fclose(f);
	return found;
}

bool adopt_populated(const struct adopt *a)
{
	for (int i = 0; i < a->n; i++)
		if (cg_populated(a->cg[i].path))
			return true;
	return false;
}

size_t adopt_report(const struct adopt *a, const char *what)
{
	size_t n = 0;

	for (int i = 0; i < a->n; i++)
		n += cg_report(a->cg[i].path, what);
	return n;
}

int adopt_kill(const struct adopt *a)
{
	int err = 0;

	for (int i = 0; i < a->n; i++)
		if (cg_populated(a->cg[i].path))
			err = cg_kill(a->cg[i].path) ?: err;
	for (int i = 0; i < a->n; i++)
		err = cg_wait_empty(a->cg[i].path, 5000) ?: err;
	return err;
}

void adopt_close(struct adopt *a)
{
	for (int i = 0; i < a->n; i++)
		release(a, &a->cg[i]);
	a->n = 0;
	if (a->mnt_fd >= 0)
		close(a->mnt_fd);
	a->mnt_fd = -1;
}
