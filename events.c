/*
 * events.c: what the BPF programs report through the dg_events ring: a refused connect, send
 * or socket, a packet the egress backstop dropped (each a log line and a summary row, named by
 * the rule or the blocked name behind it), and each exec in the cgroup (its command line, read
 * while the process is young, so that later events name it).
 */
#define _GNU_SOURCE
#include "events.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

static int on_event(void *ctx, void *data, size_t size)
{
	const struct events *r = ctx;
	const struct dg_event *ev = data;
	char ip[INET6_ADDRSTRLEN], cmd[DG_CMD_MAX], what[INET6_ADDRSTRLEN + 8];
	enum audit_verdict v = r->audit ? AUDIT_WOULD_BLOCK : AUDIT_BLOCKED;

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
