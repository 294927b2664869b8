/*
 * events.c: what the BPF programs report through the dg_events ring: a refused connect, send
 * or socket, a packet the egress backstop dropped (each a log line and a summary row, named by
 * the rule or the blocked name behind it), and each exec in the cgroup (its command line, read
 * while the process is young, so that later events name it), a guarded process that left the
 * cgroup (killed), and a connect to a unix socket whose listener runs outside the cgroup.
 */
#define _GNU_SOURCE
#include "events.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "adopt.h"
#include "audit.h"
#include "policymaps.h"
#include "bpf_prog.h"
#include "hash.h"
#include "log.h"
#include "proc.h"

/* The log line for a refusal the kernel reported, and its row. */
static void log_refusal(const struct events *r, const struct dg_event *ev, const char *cmd)
{
	static const char *const reasons[] = {
	    [DG_R_RULE] = "FromConnect",     [DG_R_LEARNED] = "AddressOfBlockedName",
	    [DG_R_UNKNOWN] = "NotAllowed",   [DG_R_DOT] = "DNSOverTLS",
	    [DG_R_BYPASS] = "BypassedProxy", [DG_R_RAW] = "RawSocket",
	    [DG_R_NAME_PORT] = "FromConnect"};
	struct audit_event e = {.level = "WARN",
				.event = "IP BLOCKED",
				.blocked = !r->audit,
				.blocked_at = ev->type == DG_EV_EGRESS ? "egress" : "connect",
				.pid = ev->pid ? (long)ev->pid : -1,
				.cmd = ev->pid ? cmd : NULL,
				.port = -1,
				.method = r->method};
	char ip[INET6_ADDRSTRLEN], rule[300], what[INET6_ADDRSTRLEN + 32];
	struct audit_hit h = {.kind = "connect",
			      .what = what,
			      .verdict = r->audit ? AUDIT_WOULD_BLOCK : AUDIT_BLOCKED,
			      .pid = e.pid,
			      .cmd = e.cmd};
	struct policy_src src;

	e.reason = ev->reason < sizeof(reasons) / sizeof(reasons[0]) && reasons[ev->reason]
		       ? reasons[ev->reason]
		       : "Unknown";
	if (ev->type == DG_EV_SOCKET) {
		e.event = "SOCKET BLOCKED";
		e.blocked_at = "socket";
		h.kind = "socket";
		snprintf(what, sizeof(what), "raw %s proto %u",
			 ev->family == AF_INET6 ? "IPv6" : "IPv4", ev->proto);
	} else {
		inet_ntop((int)ev->family, ev->addr, ip, sizeof(ip));
		e.ip = ip;
		e.port = ntohs((uint16_t)ev->port);
		h.proto = ev->proto == 6 ? "tcp" : ev->proto == 17 ? "udp" : NULL;
		snprintf(what, sizeof(what), ev->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
			 ntohs((uint16_t)ev->port));
	}
	if (ev->reason == DG_R_BYPASS)
		e.event = "DNS BLOCKED";
	if ((ev->reason == DG_R_RULE && ev->rule < r->pol->nnets) ||
	    (ev->reason == DG_R_NAME_PORT && policy_src_of_port(r->pol, ev->rule, &src))) {
		if (ev->reason == DG_R_RULE)
			policy_src_of_net(r->pol, ev->rule, &src);
		e.rule = h.rule = policy_src_rule(&src, rule, sizeof(rule));
		e.comment = h.comment = src.comment;
	}
	e.domain = ev->name && r->maps ? pmaps_name(r->maps, ev->name) : NULL;
	h.seen_as[0] = e.ip;
	h.seen_as[1] = e.domain; /* a blocked name's address: the name may be on the command line */
	h.reason = e.reason;
	e.class_ = audit_hit(&h);
	e.fresh = audit_last_fresh();
	audit_log(&e);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A packet the egress backstop drops comes again with every retransmission, which carries no
 * pid: log a destination once a second, and again only for another process. */
static bool repeated(const struct dg_event *ev)
{
	static struct dg_event last;
	static uint64_t last_ms;
	uint64_t now = now_ms();

	if (ev->type != DG_EV_EGRESS)
		return false;
	if (now - last_ms < 1000 && (!ev->pid || last.pid == ev->pid) && last.port == ev->port &&
	    last.reason == ev->reason && !memcmp(last.addr, ev->addr, sizeof(last.addr)))
		return true;
	last = *ev;
	last_ms = now;
	return false;
}

/* A guarded process was moved out of the cgroup by someone the kernel could not stop there and
 * then (a daemon outside, asked to): it is killed now, through a pidfd, if it is still the
 * process that was moved. */
static void kill_moved(const struct dg_tamper *t)
{
	long hz = sysconf(_SC_CLK_TCK);
	int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)t->moved, 0);

	if (pidfd < 0)
		return; /* gone already */
	if (!t->moved_start ||
	    proc_stat((pid_t)t->moved, 22) == t->moved_start / (1000000000ULL / hz))
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	close(pidfd);
}

/* NUL-separated arguments as proc_cmdline writes a command line: spaces after each. */
static void args_to_cmd(const char *args, size_t len, char *cmd, size_t cmdlen)
{
	size_t n = len;

	while (n > 0 && !args[n - 1])
		n--;
	if (n > cmdlen - 2)
		n = cmdlen - 2;
	for (size_t i = 0; i < n; i++)
		cmd[i] = args[i] ? args[i] : ' ';
	cmd[n] = ' ';
	cmd[n + 1] = '\0';
}

/* INFO CGROUP ADOPTED: a cgroup made during the run for guarded processes is guarded too, and
 * a row of the summary. */
static void on_adopted(const struct events *r, const struct adopted *c, const struct dg_tamper *t,
		       const char *cmd)
{
	struct audit_event e = {.level = "INFO",
				.event = "CGROUP ADOPTED",
				.blocked = -1,
				.port = -1,
				.path = c->rel,
				.pid = t->pid,
				.cmd = cmd,
				.method = r->method};

	if (c->by != (pid_t)t->pid)
		return; /* adopted already, by an earlier move */
	e.ctr = container_of((pid_t)t->moved);
	audit_log(&e);
	audit_hit(&(struct audit_hit){.kind = "adopted",
				      .what = c->rel,
				      .verdict = AUDIT_ALLOWED,
				      .pid = e.pid,
				      .cmd = cmd,
				      .reason = "Adopted"});
}

/* WARN TAMPER: a guarded process left the cgroup (killed, with its mover if guarded), or the
 * guard could not follow a new process (killed with its parent); or it moved to a cgroup made
 * during the run, adopted if only guarded processes are there. */
static void on_tamper(const struct events *r, const struct dg_tamper *t)
{
	char cmd[DG_CMD_MAX], tried[256], path[sizeof(t->path) + 1];
	struct audit_event e = {.level = "WARN",
				.event = "TAMPER",
				.blocked = 1,
				.port = -1,
				.pid = t->pid,
				.cmd = cmd,
				.method = r->method,
				.tried = tried};

	memcpy(path, t->path, sizeof(t->path));
	path[sizeof(t->path)] = '\0';
	proc_cmdline((pid_t)t->pid, cmd, sizeof(cmd));
	if (!cmd[0] && t->cmd_len) /* killed already: the arguments the hook read */
		args_to_cmd(t->cmd, t->cmd_len < sizeof(t->cmd) ? t->cmd_len : sizeof(t->cmd), cmd,
			    sizeof(cmd));
	if (!cmd[0])
		snprintf(cmd, sizeof(cmd), "[%.16s]", t->comm);
	if (t->what == DG_T_FULL) {
		e.reason = "TooManyProcesses";
		snprintf(tried, sizeof(tried), "fork pid %u past the guard's %s", t->moved,
			 "table of processes");
	} else if (t->what == DG_T_ADOPT && r->adopt) {
		char why[200];
		const struct adopted *c = adopt_move(r->adopt, (pid_t)t->pid, (pid_t)t->moved,
						     t->moved_start, t->cgroup, why, sizeof(why));

		if (c) {
			on_adopted(r, c, t, cmd);
			return;
		}
		e.reason = "LeaveCgroup"; /* the moved process and a guarded mover are killed */
		snprintf(tried, sizeof(tried),
			 "move pid %u to cgroup %s (id %llu), not adopted: %s", t->moved,
			 path[0] ? path : "?", (unsigned long long)t->cgroup, why);
	} else {
		e.reason = "LeaveCgroup";
		snprintf(tried, sizeof(tried), "move pid %u to cgroup %s (id %llu)", t->moved,
			 path[0] ? path : "?", (unsigned long long)t->cgroup);
		kill_moved(t);
	}
	audit_log(&e);
	audit_hit(&(struct audit_hit){.kind = "tamper",
				      .what = e.reason,
				      .verdict = AUDIT_BLOCKED,
				      .pid = e.pid,
				      .cmd = cmd,
				      .reason = e.reason});
}

/* The unix socket with this cookie among pid's descriptors, as a descriptor of ours, or -1. */
static int socket_of(pid_t pid, uint64_t cookie)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), found = -1;
	char path[64], link[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = pidfd < 0 ? NULL : opendir(path);
	while (d && found < 0 && (de = readdir(d))) {
		uint64_t c = 0;
		socklen_t len = sizeof(c);
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0 || strncmp(link, "socket:", 7))
			continue;
		fd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(de->d_name), 0);
		if (fd >= 0 && !getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len) && c == cookie)
			found = fd;
		else if (fd >= 0)
			close(fd);
	}
	if (d)
		closedir(d);
	if (pidfd >= 0)
		close(pidfd);
	return found;
}

/* (pid, path) pairs already logged, by hash: once each. */
static bool seen_before(pid_t pid, const char *path)
{
	static uint64_t seen[1024];
	uint64_t h = fnv1a(path, strlen(path), fnv1a(&pid, sizeof(pid), FNV1A_INIT)) | 1;

	for (size_t i = 0, at = h % 1024; i < 1024; i++, at = (at + 1) % 1024) {
		if (seen[at] == h)
			return true;
		if (!seen[at]) {
			seen[at] = h;
			return false;
		}
	}
	return false; /* full: log it again */
}

/* The process listening on unix socket path (as /proc/net/unix writes it) in the network
 * namespace of client (or else deployguard's): its inode there, then the process holding that
 * inode. 0 if none is found. */
static pid_t listener_of(pid_t client, const char *path)
{
	char line[PATH_MAX + 128], want[64] = "";
	unsigned long flags, inode;
	struct dirent *p, *f;
	pid_t found = 0;
	DIR *procs, *fds;
	int off = 0;
	FILE *u;

	snprintf(line, sizeof(line), "/proc/%d/net/unix", (int)client);
	if (!(u = fopen(line, "re")))
		u = fopen("/proc/net/unix", "re");

	while (u && !want[0] && fgets(line, sizeof(line), u)) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu %n", &flags, &inode, &off) == 2 &&
		    off > 0 && (flags & 0x10000 /* __SO_ACCEPTCON */) && !strcmp(line + off, path))
			snprintf(want, sizeof(want), "socket:[%lu]", inode);
	}
	if (u)
		fclose(u);
	procs = want[0] ? opendir("/proc") : NULL;
	while (procs && !found && (p = readdir(procs))) {
		char dir[64], link[64], name[300];

		if (p->d_name[0] < '1' || p->d_name[0] > '9')
			continue;
		snprintf(dir, sizeof(dir), "/proc/%s/fd", p->d_name);
		for (fds = opendir(dir); fds && !found && (f = readdir(fds));) {
			ssize_t n;

			snprintf(name, sizeof(name), "%s/%s", dir, f->d_name);
			n = readlink(name, link, sizeof(link) - 1);
			if (n > 0 && (link[n] = '\0', !strcmp(link, want)))
				found = (pid_t)atoi(p->d_name);
		}
		if (fds)
			closedir(fds);
	}
	if (procs)
		closedir(procs);
	return found;
}

/* The listener behind the socket with this cookie: its credentials (SO_PEERCRED: the process
 * that called listen()) while the client's socket is open, else by path. */
static pid_t peer_of(const struct dg_unix *u, const char *path)
{
	int fd = socket_of((pid_t)u->pid, u->cookie);
	struct ucred peer = {0};
	socklen_t len = sizeof(peer);

	for (int i = 0; fd >= 0 && i < 20; i++) { /* the hook runs before the connect completes */
		if (!getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) && peer.pid > 0)
			break;
		usleep(100);
	}
	if (fd >= 0)
		close(fd);
	return peer.pid > 0 ? peer.pid : listener_of((pid_t)u->pid, path);
}

/* WARN DELEGATED: a process of the cgroup connected a unix socket whose listener runs outside it,
 * where no hook of the cgroup sees the work it asks for. Once per process and path. */
static void on_unix(const struct events *r, const struct dg_unix *u)
{
	char path[sizeof(u->path) + 2], cmd[DG_CMD_MAX], peercmd[DG_CMD_MAX],
	    what[sizeof(path) + 24];
	struct audit_event e = {.level = "WARN",
				.event = "DELEGATED",
				.blocked = -1,
				.port = -1,
				.pid = u->pid,
				.cmd = cmd,
				.method = r->method,
				.path = path,
				.peercmd = peercmd};

	if (u->path[0]) /* a path, or @name for an abstract one */
		snprintf(path, sizeof(path), "%.*s", (int)sizeof(u->path), u->path);
	else
		snprintf(path, sizeof(path), "@%.*s", (int)sizeof(u->path) - 1, u->path + 1);
	if ((path[0] == '@' && !path[1]) || (r->masked && !strcmp(path, r->masked)) ||
	    (r->docker && !strcmp(path, r->docker)))
		return; /* an autobind address, a socket COMMAND's view hides or serves: nothing to
			   name */
	if (seen_before((pid_t)u->pid, path) || !(e.peer = peer_of(u, path)) ||
	    proc_inside((pid_t)e.peer))
		return;
	proc_cmdline((pid_t)e.peer, peercmd, sizeof(peercmd));
	proc_cmdline((pid_t)u->pid, cmd, sizeof(cmd));
	if (!cmd[0])
		snprintf(cmd, sizeof(cmd), "[%.16s]", u->comm);
	audit_log(&e);
	snprintf(what, sizeof(what), "%s (pid %ld)", path, e.peer);
	audit_hit(&(struct audit_hit){.kind = "delegated",
				      .what = what,
				      .verdict = AUDIT_ALLOWED,
				      .pid = e.pid,
				      .cmd = cmd,
				      .reason = "Delegated"});
}

/* A guarded process exec'd in a network namespace the proxy is not in yet (a container's), and
 * waits, stopped: listen there too, so that its DNS reaches the proxy, and let it go on. Where
 * the proxy cannot listen (no loopback), DNS fails closed. */
static void on_netns(const struct events *r, const struct dg_event *ev)
{
	char path[64], cmd[DG_CMD_MAX];
	uint32_t ns = ev->ppid, one = 1;
	struct stat st;
	int fd, err = -ESRCH;

	snprintf(path, sizeof(path), "/proc/%u/ns/net", ev->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && !fstat(fd, &st) && st.st_ino == ns)
		err = proxy_listen_in(r->proxy, fd);
	if (fd >= 0)
		close(fd);
	if (err && err != -ESRCH) {
		proc_cmdline((pid_t)ev->pid, cmd, sizeof(cmd));
		log_info(
		    "DNS in network namespace %u (of pid %u, \"%.100s\") fails closed: the proxy "
		    "cannot listen there (%s)",
		    ns, ev->pid, cmd, strerror(-err));
	} else if (!err) {
		log_debug("the proxy listens in network namespace %u too (pid %u)", ns, ev->pid);
	}
	bpf_map_update_elem(r->netns_fd, &ns, &one, BPF_ANY); /* looked at: no more stops */
	kill((pid_t)ev->pid, SIGCONT);
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct events *r = ctx;
	const struct dg_event *ev = data;
	char cmd[DG_CMD_MAX];

	if (size >= sizeof(struct dg_unix) && ev->type == DG_EV_UNIX) {
		on_unix(r, data);
		return 0;
	}
	if (size >= sizeof(struct dg_tamper) && ev->type == DG_EV_TAMPER) {
		on_tamper(r, data);
		return 0;
	}
	if (size < sizeof(*ev))
		return 0;
	if (ev->type == DG_EV_EXIT) {
		proc_exit((pid_t)ev->pid, (int)ev->status);
		return 0;
	}
	if (ev->type == DG_EV_NETNS) {
		on_netns(r, ev);
		return 0;
	}
	proc_cmdline((pid_t)ev->pid, cmd, sizeof(cmd)); /* at exec: caches it for later events */
	if (ev->type == DG_EV_EXEC) {
		proc_exec((pid_t)ev->pid, (pid_t)ev->ppid, ev->comm);
		log_debug("exec pid %u: %.200s", ev->pid, cmd);
		return 0;
	}
	if (!cmd[0])
		snprintf(cmd, sizeof(cmd), "[%.16s]", ev->comm);
	if (!repeated(ev))
		log_refusal(r, ev, cmd);
	return 0;
}

int events_open(struct events *r, int map_fd)
{
	struct stat st;
	uint32_t one = 1, ns;

	if (stat("/proc/self/ns/net", &st) ||
	    (ns = (uint32_t)st.st_ino, bpf_map_update_elem(r->netns_fd, &ns, &one, BPF_ANY)))
		return -errno;
	r->rb = ring_buffer__new(map_fd, on_event, r, NULL);
	return r->rb ? 0 : -errno;
}

void events_close(struct events *r)
{
	ring_buffer__free(r->rb);
	r->rb = NULL;
}
