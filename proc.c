/*
 * proc.c: what the report says about processes. Command lines are read from /proc while a
 * process is young (at its exec event, or while it waits for its DNS answer) and cached, since
 * most are gone by the end of the run. Each exec is a record (execsnoop's list); the lineage of a
 * process that asked for a destination is walked once, up to the first ancestor outside the
 * guarded cgroup, so that the report can say "deploy.sh -> bundle -> ruby" and whether a name
 * came from a command line (direct) or from somewhere the script does not show (hidden).
 */
#define _GNU_SOURCE
#include "proc.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"

#define PROC_CHAIN_MAX 4096 /* bytes of ancestors' command lines searched for a name */

/* Command lines seen at exec time, so a process that is gone by the time it is reported (a
 * connect refused at once, a query sent without waiting) is still named. Direct-mapped by pid. */
#define PROC_CMD_CACHE 1024
static struct {
	pid_t pid;
	char cmd[256];
} cmd_cache[PROC_CMD_CACHE];

static ssize_t read_cmdline(pid_t pid, char *buf, size_t len)
{
	char path[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, len - 1);
	close(fd);
	return n < 0 ? 0 : n;
}

unsigned long long proc_stat(pid_t pid, int field)
{
	char path[32], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold anything: fields 3 on follow it */
	for (int f = 2; p && f < field; f++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

void proc_cmdline(pid_t pid, char *buf, size_t len)
{
	size_t slot = (size_t)pid % PROC_CMD_CACHE;
	ssize_t n;

	buf[0] = '\0';
	if (pid <= 0 || len < 2)
		return;
	n = read_cmdline(pid, buf, len);
	if (n == 0) { /* exited (a zombie has no command line): the cache may know */
		if (cmd_cache[slot].pid == pid)
			snprintf(buf, len, "%s", cmd_cache[slot].cmd);
		return;
	}
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	cmd_cache[slot].pid = pid;
	snprintf(cmd_cache[slot].cmd, sizeof(cmd_cache[slot].cmd), "%s", buf);
}

void proc_cmdline_cached(pid_t pid, char *buf, size_t len)
{
	size_t slot = (size_t)pid % PROC_CMD_CACHE;

	if (pid > 0 && len >= 2 && cmd_cache[slot].pid == pid)
		snprintf(buf, len, "%s", cmd_cache[slot].cmd);
	else
		proc_cmdline(pid, buf, len);
}

#define PROC_MAX_INSIDE 256 /* adopted cgroups, as /proc/PID/cgroup names them */

static struct {
	const char *cg_rel;
	char *inside[PROC_MAX_INSIDE];
	int ninside;
	struct proc *recs;
	int n, cap;
	unsigned long dropped;
	int32_t index[2 * PROC_MAX]; /* open addressing by pid: record + 1, 0 empty */
} pr;

void proc_init(const char *cg_rel)
{
	pr.cg_rel = cg_rel;
}

uint64_t proc_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void proc_add_inside(const char *cg_rel)
{
	for (int i = 0; i < pr.ninside; i++)
		if (!strcmp(pr.inside[i], cg_rel))
			return;
	if (pr.ninside < PROC_MAX_INSIDE && (pr.inside[pr.ninside] = strdup(cg_rel)))
		pr.ninside++;
}

/* The cgroup2 line of /proc/PID/cgroup ("0::/a/b") is cg_rel or below it. */
static bool below(const char *line, const char *cg_rel)
{
	size_t n = strlen(cg_rel);

	return !strncmp(line + 3, cg_rel, n) && (line[3 + n] == '/' || line[3 + n] == '\n');
}

bool proc_inside(pid_t pid)
{
	char path[64], line[PATH_MAX + 8];
	bool in = false;
	FILE *f;

	if (!pr.cg_rel)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	for (f = fopen(path, "re"); f && fgets(line, sizeof(line), f);) {
		if (strncmp(line, "0::", 3))
			continue;
		in = below(line, pr.cg_rel);
		for (int i = 0; i < pr.ninside && !in; i++)
			in = below(line, pr.inside[i]);
	}
	if (f)
		fclose(f);
	return in;
}

/* The slot of pid in the index: its record's, or the empty one where it would go. */
static size_t slot_of(pid_t pid)
{
	const size_t mask = 2 * PROC_MAX - 1;
	size_t i = fnv1a(&pid, sizeof(pid), FNV1A_INIT) & mask;

	while (pr.index[i] && pr.recs[pr.index[i] - 1].pid != pid)
		i = (i + 1) & mask;
	return i;
}

/* A new record for pid, now its current one; -1 when PROC_MAX are kept. */
static int add(pid_t pid, pid_t ppid, const char *comm)
{
	char cmd[DG_CMD_MAX], path[64], exe[PATH_MAX];
	size_t slot = slot_of(pid);
	struct proc *p;
	ssize_t n;

	if (pr.n == PROC_MAX) {
		pr.dropped++;
		return -1;
	}
	if (pr.n == pr.cap) {
		int ncap = pr.cap ? pr.cap * 2 : 256;
		struct proc *r = realloc(pr.recs, (size_t)ncap * sizeof(*r));

		if (!r)
			return -1;
		pr.recs = r;
		pr.cap = ncap;
	}
	proc_cmdline(pid, cmd, sizeof(cmd));
	if (!cmd[0] && comm) /* gone already: its name, as the log names such a process */
		snprintf(cmd, sizeof(cmd), "[%.16s]", comm);
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	p = &pr.recs[pr.n];
	container_note(pid);
	*p = (struct proc){.pid = pid,
			   .ppid = ppid,
			   .start = proc_stat(pid, 22),
			   .next = -1,
			   .cmd = strdup(cmd),
			   .exe = n > 0 ? strdup(exe) : NULL,
			   .ctr = container_of(pid)};
	if (pr.index[slot])
		pr.recs[pr.index[slot] - 1].next = pr.n;
	pr.index[slot] = ++pr.n;
	return pr.n - 1;
}

void proc_exec(pid_t pid, pid_t ppid, const char *comm)
{
	int rec = add(pid, ppid ? ppid : (pid_t)proc_stat(pid, 4), comm);

	if (rec >= 0)
		pr.recs[rec].exec_ms = proc_wall_ms();
}

void proc_exit(pid_t pid, int status)
{
	size_t slot = slot_of(pid);
	struct proc *p = pr.index[slot] ? &pr.recs[pr.index[slot] - 1] : NULL;

	if (p && !p->ended) {
		p->ended = true;
		p->status = status;
	}
}

int proc_of(pid_t pid)
{
	size_t slot;
	int rec;

	if (pid <= 0)
		return -1;
	slot = slot_of(pid);
	rec = pr.index[slot] - 1;
	if (rec >= 0 && pr.recs[rec].ended) { /* its exit came first: still it, unless reused */
		unsigned long long start = proc_stat(pid, 22);

		if (!start || start == pr.recs[rec].start)
			return rec;
	}
	if (rec >= 0 && !pr.recs[rec].ended)
		return rec;
	return add(pid, (pid_t)proc_stat(pid, 4), NULL); /* new, or a reused pid */
}

const struct proc *proc_at(int rec)
{
	return rec >= 0 && rec < pr.n ? &pr.recs[rec] : NULL;
}

int proc_count(void)
{
	return pr.n;
}

unsigned long proc_dropped(void)
{
	return pr.dropped;
}

/* A process's name in a lineage: its program, or the script an interpreter runs. */
static void short_name(const char *cmd, char *out, size_t len)
{
	static const char *const interpreters[] = {"sh",      "bash", "dash", "zsh",  "python",
						   "python3", "perl", "ruby", "node", "env"};
	char first[256] = "", second[256] = "";
	const char *base;

	sscanf(cmd, "%255s %255s", first, second);
	base = strrchr(first, '/') ? strrchr(first, '/') + 1 : first;
	for (size_t i = 0; i < sizeof(interpreters) / sizeof(interpreters[0]); i++)
		if (!strcmp(base, interpreters[i]) && second[0] && second[0] != '-') {
			base = strrchr(second, '/') ? strrchr(second, '/') + 1 : second;
			break;
		}
	snprintf(out, len, "%s", base[0] ? base : "?");
}

static void append(char *buf, size_t cap, const char *s)
{
	size_t n = strlen(buf);

	snprintf(buf + n, cap - n, "%s", s);
}

/* The record of pid's exec in the guard, unless pid now names another process: -1 if none. */
static int exec_record(pid_t pid)
{
	int rec = pr.index[slot_of(pid)] - 1;
	unsigned long long start;

	if (rec < 0 || !pr.recs[rec].exec_ms)
		return -1;
	start = proc_stat(pid, 22);
	return start && start != pr.recs[rec].start ? -1 : rec;
}

/* Walk up from rec's process while the ancestors are guarded: their pids, names and command
 * lines. An ancestor that exec'd in the guard is what its exec said (its parent: the nearest
 * ancestor that exec'd, past forks that never did and daemons that forked twice); another is
 * read now, while it runs in the cgroup. */
static void walk_lineage(struct proc *p)
{
	char names[PROC_DEPTH + 1][64], chain[PROC_CHAIN_MAX] = "", lineage[2048] = "";
	const struct container *c = p->ctr;
	pid_t at = p->ppid;
	int depth = 0, rec;

	p->lineage_done = true;
	short_name(p->cmd ? p->cmd : "", names[0], sizeof(names[0]));
	append(chain, sizeof(chain), p->cmd ? p->cmd : "");
	while (at > 1 && depth < PROC_DEPTH && at != p->pid) {
		char cmd[DG_CMD_MAX];
		pid_t next;

		if ((rec = exec_record(at)) >= 0) {
			snprintf(cmd, sizeof(cmd), "%s", pr.recs[rec].cmd ? pr.recs[rec].cmd : "");
			next = pr.recs[rec].ppid;
		} else if (proc_inside(at)) {
			proc_cmdline_cached(at, cmd, sizeof(cmd));
			next = (pid_t)proc_stat(at, 4);
		} else if (c && c->requester && c->requester != at) {
			at = c->requester; /* a daemon's container: the command that asked for it */
			c = NULL;
			continue;
		} else {
			break;
		}
		p->up[depth++] = at;
		short_name(cmd, names[depth], sizeof(names[depth]));
		append(chain, sizeof(chain), "\n");
		append(chain, sizeof(chain), cmd);
		at = next;
	}
	p->nup = depth;
	for (int i = depth; i >= 0; i--) {
		append(lineage, sizeof(lineage), names[i]);
		append(lineage, sizeof(lineage), i ? " → " : "");
	}
	p->lineage = strdup(lineage);
	p->chain = strdup(chain);
}

const struct proc *proc_lineage(int rec)
{
	if (rec < 0 || rec >= pr.n)
		return NULL;
	if (!pr.recs[rec].lineage_done)
		walk_lineage(&pr.recs[rec]);
	return &pr.recs[rec];
}

/* Characters a name or an address continues with: text found next to one is part of another. */
static bool word_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_';
}

bool proc_mentions(int rec, const char *text)
{
	const struct proc *p = proc_lineage(rec);
	size_t n = strlen(text);

	if (!p || !p->chain || !n)
		return false;
	for (const char *s = p->chain; (s = strcasestr(s, text)); s++) {
		bool before = s > p->chain && (word_char(s[-1]) || s[-1] == '.');

		if (!before && !word_char(s[n]))
			return true;
	}
	return false;
}

void proc_free(void)
{
	for (int i = 0; i < pr.n; i++) {
		free(pr.recs[i].exe);
		free(pr.recs[i].cmd);
		free(pr.recs[i].lineage);
		free(pr.recs[i].chain);
	}
	free(pr.recs);
	for (int i = 0; i < pr.ninside; i++)
		free(pr.inside[i]);
	memset(&pr, 0, sizeof(pr));
}
