/* proxy.h: the DNS proxy the kernel sends every query of the cgroup to. */
#ifndef DG_PROXY_H
#define DG_PROXY_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "depends.h"
#include "policy.h"
#include "policymaps.h"

#define DG_MAX_UPSTREAM 4
/* TCP clients served at once; a full table makes room (see tcp_accept). */
#define PROXY_TCP_CLIENTS 256
/* Network namespaces the proxy listens in: deployguard's, and those guarded processes run in. */
#define PROXY_NETNS 16
/* The most pollfds proxy_prepare adds: 4 listeners per namespace, 2 upstream sockets, one per
 * TCP client. */
#define PROXY_MAX_FDS (4 * PROXY_NETNS + 2 + PROXY_TCP_CLIENTS)

/* How a blocked query is answered; PX_DROP sends nothing, like a resolver that hangs; PX_RESOLVE
 * forwards it as if allowed, and its addresses are refused at connect (--connect-action). */
enum proxy_action { PX_NXDOMAIN, PX_REFUSED, PX_SERVFAIL, PX_DROP, PX_RESOLVE };

struct proxy_cfg {
	const struct policy *pol;
	const struct depends *deps;	/* the manifest (--depends), or NULL */
	const struct policy_mode *mode; /* what pol means */
	enum proxy_action action;
	bool audit;
	unsigned grace_s; /* an allowed address outlives its answer's TTL by this much */
	struct sockaddr_storage up[DG_MAX_UPSTREAM];
	socklen_t uplen[DG_MAX_UPSTREAM];
	int nup;
};

struct proxy;

/* Bind UDP and TCP listeners on 127.0.0.1 and ::1, all on one port, returned in *port. */
int proxy_open(struct proxy **pp, const struct proxy_cfg *cfg, uint16_t *port);
/* Listen in the network namespace netns (an fd of it) too, on the same port, so that DNS sent
 * there to its loopback (where the programs send it) reaches the proxy; -errno if it cannot
 * (no loopback there: DNS there fails closed). */
int proxy_listen_in(struct proxy *p, int netns);
/* The BPF maps, once they exist: who sent each query (queries_fd), and the policy maps the
 * addresses of answers go into. Until then nothing is attributed or learned. */
void proxy_set_maps(struct proxy *p, int queries_fd, struct pmaps *maps);
/* Start resolving the blocked names, for their addresses (blocklist and strict methods). */
void proxy_watch_policy(struct proxy *p);
/* The policy was replaced (SIGHUP): drop what the old one taught the kernel that the new one
 * judges otherwise, and resolve the new blocked names. */
void proxy_policy_changed(struct proxy *p);
/* How many blocked names have not been resolved once yet. */
size_t proxy_watch_pending(const struct proxy *p);
/* CLOCK_MONOTONIC in ms: the clock of the proxy's deadlines. */
uint64_t proxy_now_ms(void);
/* Whether the policy blocks NAME (lowercase, no trailing dot) as it would a query for it and,
 * with a port (not 0), a TCP connect to one of its addresses on that port; the rule that decided
 * as FILE:LINE in rule ("" if none), its comment, and the blocked dependency of a transient one
 * (NULL if none). */
bool proxy_judge(const struct proxy *p, const char *name, unsigned port, char *rule, size_t rulelen,
		 const char **comment, const char **via);
/* Add the proxy's fds to pfd (at most max) and lower *timeout_ms to its next deadline. */
int proxy_prepare(struct proxy *p, struct pollfd *pfd, int max, int *timeout_ms);
/* Handle what poll() reported for the fds proxy_prepare added. */
void proxy_dispatch(struct proxy *p, const struct pollfd *pfd, int n);
void proxy_close(struct proxy *p);

#endif
