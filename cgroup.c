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

#include "audit.h"
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
	FILE *f = open_in(path, "cgroup.procs", "re");
	int pid, err = 0;

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

bool cg_kill_file = true;

int cg_kill(const char *path)
{
	FILE *f = cg_kill_file ? open_in(path, "cgroup.kill", "we") : NULL;
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

/*
 * Resource limits. A controller enabled in the cgroup2 root is used there: enabled in every
 * ancestor's cgroup.subtree_control, then the limit written in the cgroup. On a hybrid host that
 * binds the controller to a cgroup v1 hierarchy instead, COMMAND also joins a directory of ours
 * there, made under the v1 cgroup deployguard runs in, so that the limits above still apply.
 */
static const struct cg_ctl {
	const char *name;     /* controller, and its v1 mount option */
	const char *file[2];  /* the limit: v2, v1 */
	const char *nswap[2]; /* memory: no swap past the limit either */
} ctls[CG_NCTL] = {
    [CG_CPU] = {"cpu", {"cpu.max", "cpu.cfs_quota_us"}, {NULL, NULL}},
    [CG_MEMORY] = {"memory",
		   {"memory.max", "memory.limit_in_bytes"},
		   {"memory.swap.max", "memory.memsw.limit_in_bytes"}},
    [CG_PIDS] = {"pids", {"pids.max", "pids.max"}, {NULL, NULL}},
};

/* Write s to dir/file; -errno on failure. */
static int put(const char *dir, const char *file, const char *s)
{
	char p[PATH_MAX + 64];
	int fd, err = 0;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, s, strlen(s)) < 0)
		err = -errno;
	if (fd >= 0)
		close(fd);
	return err;
}

/* Is word one of the space- or comma-separated words of list? */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ' || p[-1] == ',') &&
		    (p[n] == '\0' || p[n] == ' ' || p[n] == ',' || p[n] == '\n'))
			return true;
	return false;
}

/* The v1 directory for a controller: a new one below the v1 cgroup this process is in. */
static int v1_dir(const char *ctl, char *out, size_t len)
{
	char dev[256], dir[PATH_MAX], type[64], opts[512], line[PATH_MAX], self[PATH_MAX] = "";
	FILE *f = fopen("/proc/self/mounts", "re");
	bool found = false;

	while (f && !found &&
	       fscanf(f, "%255s %4095s %63s %511s %*[^\n]", dev, dir, type, opts) == 4)
		found = !strcmp(type, "cgroup") && has_word(opts, ctl);
	if (f)
		fclose(f);
	f = fopen("/proc/self/cgroup", "re");
	while (f && fgets(line, sizeof(line), f)) { /* "4:memory:/a/b" */
		char *c = strchr(line, ':'), *p = c ? strchr(c + 1, ':') : NULL;

		if (p && (*p = '\0', has_word(c + 1, ctl))) {
			p[1 + strcspn(p + 1, "\n")] = '\0';
			snprintf(self, sizeof(self), "%s", p + 1);
		}
	}
	if (f)
		fclose(f);
	if (!found)
		return -ENOENT;
	snprintf(out, len, "%s%s/deployguard-%d", dir, strcmp(self, "/") ? self : "",
		 (int)getpid());
	return 0;
}

/* Make the controller usable in path's cgroup: enabled in the subtree_control of every ancestor
 * below the mount. */
static int v2_enable(const char *mnt, const char *path, const char *ctl)
{
	char dir[PATH_MAX], sub[64];
	size_t m = strlen(mnt);
	int err;

	snprintf(sub, sizeof(sub), "+%s", ctl);
	for (const char *s = path + m; (s = strchr(s, '/')); s++) {
		char have[512] = "";
		FILE *f;

		snprintf(dir, sizeof(dir), "%.*s", (int)(s - path), path);
		snprintf(have, sizeof(have), "%s/cgroup.subtree_control", dir);
		f = fopen(have, "re");
		have[0] = '\0';
		if (f && !fgets(have, sizeof(have), f))
			have[0] = '\0';
		if (f)
			fclose(f);
		if (has_word(have, ctl))
			continue;
		if ((err = put(dir, "cgroup.subtree_control", sub))) {
			log_warnx(
			    "failed to enable the %s controller in %s/cgroup.subtree_control: "
			    "%s%s",
			    ctl, dir, strerror(-err),
			    err == -EBUSY ? " (that cgroup holds processes, and cgroup v2 "
					    "lets only a cgroup without them share controllers; "
					    "choose a --cgroup whose parents hold none)"
					  : "");
			return err;
		}
	}
	return 0;
}

static void limit_text(int c, unsigned long long v, bool v1, char *out, size_t len)
{
	if (c == CG_CPU) /* percent of one CPU, as a quota per 100 ms period */
		snprintf(out, len, v1 ? "%llu" : "%llu 100000", v * 1000);
	else
		snprintf(out, len, "%llu", v);
}

/* The first line of dir/file into out ("" if none). */
static void get(const char *dir, const char *file, char *out, size_t len)
{
	FILE *f = open_in(dir, file, "re");

	if (!f || !fgets(out, (int)len, f))
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if (f)
		fclose(f);
}

/* Which cgroup version holds controller c: 2 (at mnt), 1 (then v1dir is a new directory below
 * this process's v1 cgroup), or -ENOENT. */
static int ctl_version(const char *mnt, int c, char *v1dir, size_t len)
{
	char avail[512];

	get(mnt, "cgroup.controllers", avail, sizeof(avail));
	if (has_word(avail, ctls[c].name))
		return 2;
	return v1_dir(ctls[c].name, v1dir, len) ? -ENOENT : 1;
}

int cg_limit_where(const char *mnt, int c, char *out, size_t len)
{
	char dir[PATH_MAX];

	switch (ctl_version(mnt, c, dir, sizeof(dir))) {
	case 2:
		snprintf(out, len, "cgroup v2");
		return 0;
	case 1:
		*strrchr(dir, '/') = '\0';
		snprintf(out, len, "cgroup v1 at %s", dir);
		return 0;
	default:
		snprintf(out, len, "in neither cgroup v2 nor a v1 mount");
		return -ENOENT;
	}
}

/* Where controller c of the cgroup path is: the cgroup itself (v2) or a new v1 directory. */
static int limit_dir(struct cg_limits *l, int c, const char *mnt, const char *path, bool attach)
{
	const char *name = ctls[c].name;
	int v = ctl_version(mnt, c, l->dir[c], sizeof(l->dir[c]));

	if (v == 2) {
		snprintf(l->dir[c], sizeof(l->dir[c]), "%s", path);
		return v2_enable(mnt, path, name);
	}
	if (v < 0) {
		log_warnx("the %s controller is neither in cgroup v2 (%s/cgroup.controllers) nor "
			  "mounted as cgroup v1: this kernel cannot apply the %s limit",
			  name, mnt, name);
		return -ENOENT;
	}
	if (attach) {
		log_warnx("cannot limit %s of an existing cgroup here: this host has the %s "
			  "controller in cgroup v1, not v2; set the limit where the cgroup is made "
			  "(systemd-run -p MemoryMax=, CPUQuota=, TasksMax=)",
			  name, name);
		return -EOPNOTSUPP;
	}
	if (mkdir(l->dir[c], 0755)) {
		int err = -errno;

		log_warn("failed to create %s", l->dir[c]);
		return err;
	}
	l->v1[c] = true;
	return 0;
}

int cg_limits_apply(struct cg_limits *l, const char *mnt, const char *path, bool created,
		    bool attach)
{
	for (int c = 0; c < CG_NCTL; c++) {
		const struct cg_ctl *k = &ctls[c];
		const char *file, *swap;
		char val[64];
		int err;

		if (!l->want[c])
			continue;
		if ((err = limit_dir(l, c, mnt, path, attach)))
			return err;
		file = k->file[l->v1[c]];
		swap = k->nswap[l->v1[c]];
		if (!created && !l->v1[c]) { /* put back at the end */
			get(path, file, l->old[c][0], sizeof(l->old[c][0]));
			if (swap)
				get(path, swap, l->old[c][1], sizeof(l->old[c][1]));
		}
		limit_text(c, l->want[c], l->v1[c], val, sizeof(val));
		if (l->v1[c] && c == CG_CPU)
			err = put(l->dir[c], "cpu.cfs_period_us", "100000");
		if (!err)
			err = put(l->dir[c], file, val);
		if (!err && swap && (err = put(l->dir[c], swap, l->v1[c] ? val : "0")) == -ENOENT)
			err = 0; /* no swap accounting: nothing to forbid */
		if (err) {
			log_warnx("failed to set %s/%s to %s: %s", l->dir[c], file, val,
				  strerror(-err));
			return err;
		}
		log_debug("%s limit: %s/%s = %s", k->name, l->dir[c], file, val);
	}
	return 0;
}

int cg_limits_join(const struct cg_limits *l)
{
	for (int c = 0; c < CG_NCTL; c++)
		if (l->v1[c] && put(l->dir[c], "cgroup.procs", "0"))
			return -1;
	return 0;
}

/* "key value" from dir/file; -1 if absent. */
static long long stat_of(const char *dir, const char *file, const char *key)
{
	char k[64];
	long long v, found = -1;
	FILE *f = open_in(dir, file, "re");

	while (f && found < 0 && fscanf(f, "%63s %lld", k, &v) == 2)
		if (!strcmp(k, key))
			found = v;
	if (f)
		fclose(f);
	return found;
}

void cg_limits_report(const struct cg_limits *l)
{
	const char *d;
	char peak[32] = "";
	long long n, t;

	if (l->want[CG_MEMORY]) {
		d = l->dir[CG_MEMORY];
		n = l->v1[CG_MEMORY] ? stat_of(d, "memory.oom_control", "oom_kill")
				     : stat_of(d, "memory.events", "oom_kill");
		get(d, l->v1[CG_MEMORY] ? "memory.max_usage_in_bytes" : "memory.peak", peak,
		    sizeof(peak));
		if (peak[0])
			snprintf(peak, sizeof(peak), "%.1f MiB", atof(peak) / 1048576);
		else /* memory.peak came in 5.19 */
			snprintf(peak, sizeof(peak), "unknown (5.19+)");
		(n > 0 ? log_warnx : log_info)("memory limit %.1f MiB: peak %s, OOM kills: %lld",
					       (double)l->want[CG_MEMORY] / 1048576, peak,
					       n < 0 ? 0 : n);
	}
	if (l->want[CG_CPU]) {
		d = l->dir[CG_CPU];
		n = stat_of(d, "cpu.stat", "nr_throttled");
		t = l->v1[CG_CPU] ? stat_of(d, "cpu.stat", "throttled_time") / 1000
				  : stat_of(d, "cpu.stat", "throttled_usec");
		log_info("cpu limit %llu%%: throttled %lld times, %.2f s in all", l->want[CG_CPU],
			 n < 0 ? 0 : n, t < 0 ? 0.0 : (double)t / 1e6);
	}
	if (l->want[CG_PIDS]) {
		n = stat_of(l->dir[CG_PIDS], "pids.events", "max");
		(n > 0 ? log_warnx : log_info)("pids limit %llu: forks refused: %lld",
					       l->want[CG_PIDS], n < 0 ? 0 : n);
	}
}

void cg_limits_release(struct cg_limits *l)
{
	for (int c = 0; c < CG_NCTL; c++) {
		const struct cg_ctl *k = &ctls[c];

		if (l->v1[c]) {
			cg_move_to_parent(l->dir[c]); /* what --leftovers leave left */
			for (int i = 0; i < 50 && rmdir(l->dir[c]) && errno == EBUSY; i++)
				usleep(20000); /* tasks leave a v1 cgroup at exit, soon after */
			if (access(l->dir[c], F_OK) == 0)
				log_warn("failed to remove %s", l->dir[c]);
			l->v1[c] = false;
		} else if (l->old[c][0][0]) {
			put(l->dir[c], k->file[0], l->old[c][0]);
			if (l->old[c][1][0])
				put(l->dir[c], k->nswap[0], l->old[c][1]);
		}
	}
}
