/*
 * events.c: what the BPF programs report through the dg_events ring: a refused connect, send
 * or socket, a packet the egress backstop dropped (each a log line and a summary row, named by
 * the rule or the blocked name behind it), and each exec in the cgroup (its command line, read
 * while the process is young, so that later events name it), and a guarded process that left
 * the cgroup (killed).
 */
#define _GNU_SOURCE
#include "events.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "bpf_prog.h"
#include "log.h"

/* The log line for a refusal the kernel reported. */
static void log_refusal(const struct events *r, const struct dg_event *ev, const char *cmd)
{
	static const char *const reasons[] = {
	    [DG_R_RULE] = "FromConnect",     [DG_R_LEARNED] = "AddressOfBlockedName",
	    [DG_R_UNKNOWN] = "NotAllowed",   [DG_R_DOT] = "DNSOverTLS",
	    [DG_R_BYPASS] = "BypassedProxy", [DG_R_RAW] = "RawSocket"};
	struct audit_event e = {.level = "WARN",
				.event = "IP BLOCKED",
				.blocked = !r->audit,
				.blocked_at = ev->type == DG_EV_EGRESS ? "egress" : "connect",
				.pid = ev->pid ? (long)ev->pid : -1,
				.cmd = ev->pid ? cmd : NULL,
				.port = -1,
				.method = r->method};
	char ip[INET6_ADDRSTRLEN], rule[300];
	struct policy_src src;

	e.reason = ev->reason < sizeof(reasons) / sizeof(reasons[0]) && reasons[ev->reason]
		       ? reasons[ev->reason]
		       : "Unknown";
	if (ev->type == DG_EV_SOCKET) {
		e.event = "SOCKET BLOCKED";
		e.blocked_at = "socket";
	} else {
		inet_ntop((int)ev->family, ev->addr, ip, sizeof(ip));
		e.ip = ip;
		e.port = ntohs((uint16_t)ev->port);
	}
	if (ev->reason == DG_R_BYPASS)
		e.event = "DNS BLOCKED";
	if (ev->reason == DG_R_RULE && ev->rule < r->pol->nnets) {
		policy_src_of_net(r->pol, ev->rule, &src);
		snprintf(rule, sizeof(rule), "%s:%u", src.file, src.line);
		e.rule = rule;
	}
	e.domain = ev->name ? proxy_learned_name(r->proxy, ev->name) : NULL;
	audit_log(&e);
}

/* A packet the egress backstop drops comes again with every retransmission, which carries no
 * pid: log a destination once a second, and again only for another process. */
static bool repeated(const struct dg_event *ev)
{
	static struct dg_event last;
	static uint64_t last_ms;
	uint64_t now = proxy_now_ms();

	if (ev->type != DG_EV_EGRESS)
		return false;
	if (now - last_ms < 1000 && (!ev->pid || last.pid == ev->pid) && last.port == ev->port &&
	    last.reason == ev->reason && !memcmp(last.addr, ev->addr, sizeof(last.addr)))
		return true;
	last = *ev;
	last_ms = now;
	return false;
}

/* The ticks since boot of /proc/PID/stat's starttime, 0 if it is gone. */
static unsigned long long started(pid_t pid)
{
	char path[32], buf[1024], *p;
	unsigned long long t = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold anything */
	for (int field = 2; p && *p && field < 22; p++)
		field += *p == ' ';
	if (p)
		sscanf(p, "%llu", &t);
	return t;
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
	if (!t->moved_start || started((pid_t)t->moved) == t->moved_start / (1000000000ULL / hz))
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	close(pidfd);
}

/* WARN TAMPER: a guarded process left the cgroup (killed, with its mover if guarded), or the
 * guard could not follow a new process (killed with its parent). */
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
	audit_cmdline((pid_t)t->pid, cmd, sizeof(cmd));
	if (!cmd[0])
		snprintf(cmd, sizeof(cmd), "[%.16s]", t->comm);
	if (t->what == DG_T_FULL) {
		e.reason = "TooManyProcesses";
		snprintf(tried, sizeof(tried), "fork pid %u past the guard's %s", t->moved,
			 "table of processes");
	} else {
		e.reason = "LeaveCgroup";
		snprintf(tried, sizeof(tried), "move pid %u to cgroup %s (id %llu)", t->moved,
			 path[0] ? path : "?", (unsigned long long)t->cgroup);
		kill_moved(t);
	}
	audit_log(&e);
	audit_count("tamper", e.reason, AUDIT_BLOCKED, cmd);
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct events *r = ctx;
	const struct dg_event *ev = data;
	char ip[INET6_ADDRSTRLEN], cmd[DG_CMD_MAX], what[INET6_ADDRSTRLEN + 8];
	enum audit_verdict v = r->audit ? AUDIT_WOULD_BLOCK : AUDIT_BLOCKED;

	if (size >= sizeof(struct dg_tamper) && ev->type == DG_EV_TAMPER) {
		on_tamper(r, data);
		return 0;
	}
	if (size < sizeof(*ev))
		return 0;
	audit_cmdline((pid_t)ev->pid, cmd, sizeof(cmd)); /* at exec: caches it for later events */
	if (ev->type == DG_EV_EXEC) {
		log_debug("exec pid %u: %.200s", ev->pid, cmd);
		return 0;
	}
	if (!cmd[0])
		snprintf(cmd, sizeof(cmd), "[%.16s]", ev->comm);
	if (repeated(ev))
		return 0;
	log_refusal(r, ev, cmd);
	if (ev->type == DG_EV_SOCKET) {
		snprintf(what, sizeof(what), "raw %s proto %u",
			 ev->family == AF_INET6 ? "IPv6" : "IPv4", ev->proto);
		audit_count("socket", what, v, ev->pid ? cmd : NULL);
		return 0;
	}
	inet_ntop((int)ev->family, ev->addr, ip, sizeof(ip));
	snprintf(what, sizeof(what), ev->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
		 ntohs((uint16_t)ev->port));
	audit_count("connect", what, v, ev->pid ? cmd : NULL);
	return 0;
}

int events_open(struct events *r, int map_fd)
{
	r->rb = ring_buffer__new(map_fd, on_event, r, NULL);
	return r->rb ? 0 : -errno;
}

void events_close(struct events *r)
{
	ring_buffer__free(r->rb);
	r->rb = NULL;
}
