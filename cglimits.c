/*
 * cglimits.c: --cpu-max, --memory-max, --pids-max: each limit in the guarded cgroup (v2) or, on a
 * hybrid host, in a v1 directory of deployguard's that COMMAND joins too; what they did, said at
 * the end; and what was changed, put back.
 */
#define _GNU_SOURCE
#include "cglimits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "log.h"

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
	FILE *f = cg_open_in(dir, file, "re");

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
	FILE *f = cg_open_in(dir, file, "re");

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
