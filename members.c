/*
 * members.c: the processes that were in the cgroup before the programs were attached (attach
 * mode): the owners of the sockets they hold, for the egress backstop, and their membership, for
 * the escape guard. Processes that come later are noted by the programs themselves.
 */
#define _GNU_SOURCE
#include "progs.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpf_prog.h"
#include "log.h"

/* Sockets made before deployguard attached (attach mode) have no owner in dg_socks, and the
 * egress program cannot ask for the current task before 6.10: note the owner of every socket the
 * cgroup's processes hold now, through a copy of its fd (pidfd_getfd, 5.6+). Sockets made from
 * now on are noted by the programs. Best effort: a process that is gone or a socket that is not
 * an inet one is skipped. */
static void own_socket(int map_fd, pid_t pid, int pidfd, const char *name)
{
	struct dg_orig o = {.pid = (uint32_t)pid};
	char path[64], link[64];
	ssize_t n;
	int fd, cfd;

	snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0 || strncmp(link, "socket:", 7))
		return;
	fd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(name), 0);
	if (fd < 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if ((cfd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(cfd, o.comm, sizeof(o.comm) - 1);
		if (n > 0 && o.comm[n - 1] == '\n')
			o.comm[n - 1] = '\0';
		close(cfd);
	}
	if (bpf_map_update_elem(map_fd, &fd, &o, BPF_NOEXIST) == 0)
		log_debug("socket fd %s of pid %d: owner noted", name, pid);
	close(fd);
}

static void own_process(const struct progs *r, pid_t pid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = pidfd < 0 ? NULL : opendir(path);
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			own_socket(r->map_fd[M_SOCKS], pid, pidfd, de->d_name);
	if (d)
		closedir(d);
	if (pidfd >= 0)
		close(pidfd);
}

static void note_member(const struct progs *r, pid_t pid)
{
	uint32_t tgid = (uint32_t)pid;
	struct dg_member m = {.start = 0}; /* not known here to the nanosecond: not checked */

	bpf_map_update_elem(r->map_fd[M_MEMBERS], &tgid, &m, BPF_NOEXIST);
}

/* fn(r, pid) for each process of cgroup cg and the cgroups below it. */
static void each_process(const struct progs *r, const char *cg, int depth,
			 void (*fn)(const struct progs *, pid_t))
{
	char path[PATH_MAX];
	struct dirent *de;
	FILE *f;
	DIR *d;
	int pid;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	for (f = fopen(path, "re"); f && fscanf(f, "%d", &pid) == 1;)
		fn(r, pid);
	if (f)
		fclose(f);
	d = depth < 32 ? opendir(cg) : NULL; /* nested cgroups run the same programs */
	while (d && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", cg, de->d_name);
		each_process(r, path, depth + 1, fn);
	}
	if (d)
		closedir(d);
}

void progs_own_sockets(const struct progs *r, const char *cg)
{
	each_process(r, cg, 0, own_process);
}

/* Twice: a process forked by one not yet noted, while the first pass ran, is there the second
 * time (one forked after its parent was noted is noted by dg_fork). */
void progs_note_members(const struct progs *r, const char *cg)
{
	each_process(r, cg, 0, note_member);
	each_process(r, cg, 0, note_member);
}
