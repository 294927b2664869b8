/*
 * proxy.c: the userspace DNS proxy.
 *
 * One poll() loop, no threads. Queries arrive on 127.0.0.1/::1 (the kernel redirects every port-53
 * packet of the cgroup here), pass a gate (dns.c), are checked against the policy and either
 * answered here (blocked) or forwarded. Forwarded UDP queries sit in a fixed table indexed by the
 * id we gave them upstream; TCP clients in a fixed table each with its own upstream connection.
 * Full tables evict the oldest entry and say so. Each answer is walked before it is returned: a
 * CNAME (or SRV, SVCB, HTTPS, MX target) into a blocked name blocks the whole answer.
 *
 * TCP client states: READ (length and query) -> CONNECT -> UPWRITE -> UPREAD (length and answer)
 * -> WRITE -> READ again; a query answered here goes READ -> WRITE.
 */
#define _GNU_SOURCE
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <bcc/libbpf.h>

#include "audit.h"
#include "dns.h"

#define PX_UDP_SLOTS   512
#define PX_TCP_SLOTS   64
#define PX_QUERY_MAX   4096 /* larger queries get FORMERR; real ones are far smaller */
#define PX_TRY_MS      1500 /* per upstream try; a client's own retry comes at 5 s (glibc) */
#define PX_TRIES       3
#define PX_TCP_IDLE_MS 10000
#define PX_BURST       64 /* datagrams read per socket per turn, so one flood cannot starve */

enum { L_UDP4, L_UDP6, L_TCP4, L_TCP6, L_N };
enum { T_FREE, T_READ, T_CONNECT, T_UPWRITE, T_UPREAD, T_WRITE };

struct who {
	long pid;
	char cmd[DG_CMD_MAX];
};

struct udp_slot {
	bool used;
	int lsock;
	struct sockaddr_storage from;
	socklen_t fromlen;
	uint16_t upid;
	int up, tries;
	uint64_t deadline, born;
	size_t qlen;
	struct who who;
	struct dns_query q;
	uint8_t qbuf[PX_QUERY_MAX];
};

struct tcp_slot {
	int state, fd, ufd;
	int up, tries;
	uint64_t deadline, born;
	size_t len, off, qlen;
	struct who who;
	struct dns_query q;
	uint8_t qbuf[2 + PX_QUERY_MAX];
	uint8_t buf[2 + DNS_UDP_MAX];
};

struct proxy {
	struct proxy_cfg cfg;
	int lfd[L_N];
	int ufd[2]; /* upstream UDP sockets, IPv4 and IPv6 */
	struct udp_slot udp[PX_UDP_SLOTS];
	uint16_t by_upid[65536]; /* upstream id -> udp slot + 1 */
	struct tcp_slot *tcp;	 /* PX_TCP_SLOTS, allocated once */
	uint8_t pkt[DNS_UDP_MAX];
	int16_t owner[2 * PX_TCP_SLOTS]; /* pollfd past the fixed ones -> slot * 2 + is_upstream */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint16_t random_id(void)
{
	static uint16_t pool[256];
	static size_t left;

	if (!left) {
		if (getrandom(pool, sizeof(pool), 0) != (ssize_t)sizeof(pool))
			for (size_t i = 0; i < 256; i++) /* getrandom never fails this small */
				pool[i] = (uint16_t)(rand() ^ (int)now_ms());
		left = 256;
	}
	return pool[--left];
}

static int bind_one(int family, int type, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int fd, one = 1;

	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin->sin_port = htons(port);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		sin6->sin6_port = htons(port);
		len = sizeof(*sin6);
	}
	fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || (type == SOCK_STREAM && listen(fd, 128))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* All four listeners share one port, so the BPF text needs a single constant. */
static int bind_listeners(struct proxy *p, uint16_t *port)
{
	static const int fam[L_N] = {AF_INET, AF_INET6, AF_INET, AF_INET6};
	static const int type[L_N] = {SOCK_DGRAM, SOCK_DGRAM, SOCK_STREAM, SOCK_STREAM};
	int err = -EADDRINUSE;

	for (int attempt = 0; attempt < 64; attempt++) {
		uint16_t try = (uint16_t)(20000 + random_id() % 40000);
		int i;

		for (i = 0; i < L_N; i++) {
			p->lfd[i] = bind_one(fam[i], type[i], try);
			if (p->lfd[i] == -EADDRNOTAVAIL || p->lfd[i] == -EAFNOSUPPORT)
				p->lfd[i] =
				    -1; /* no IPv6 here: IPv6 resolvers are unreachable anyway */
			else if (p->lfd[i] < 0) {
				err = p->lfd[i];
				break;
			}
		}
		if (i == L_N) {
			*port = try;
			return 0;
		}
		while (i-- > 0) {
			if (p->lfd[i] >= 0)
				close(p->lfd[i]);
			p->lfd[i] = -1;
		}
		if (err != -EADDRINUSE)
			break;
	}
	return err;
}

int proxy_open(struct proxy **pp, const struct proxy_cfg *cfg, uint16_t *port)
{
	struct proxy *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->tcp = calloc(PX_TCP_SLOTS, sizeof(*p->tcp));
	if (!p->tcp) {
		free(p);
		return -ENOMEM;
	}
	p->cfg = *cfg;
	for (int i = 0; i < L_N; i++)
		p->lfd[i] = -1;
	for (int i = 0; i < PX_TCP_SLOTS; i++)
		p->tcp[i].fd = p->tcp[i].ufd = -1;
	p->ufd[0] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	p->ufd[1] = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	err = bind_listeners(p, port);
	if (err || p->ufd[0] < 0) {
		err = err ? err : -errno;
		proxy_close(p);
		return err;
	}
	*pp = p;
	return 0;
}

void proxy_set_queries_fd(struct proxy *p, int fd)
{
	p->cfg.queries_fd = fd;
}

void proxy_close(struct proxy *p)
{
	if (!p)
		return;
	for (int i = 0; i < L_N; i++)
		if (p->lfd[i] >= 0)
			close(p->lfd[i]);
	for (int i = 0; i < 2; i++)
		if (p->ufd[i] >= 0)
			close(p->ufd[i]);
	for (int i = 0; i < PX_TCP_SLOTS; i++) {
		if (p->tcp[i].fd >= 0)
			close(p->tcp[i].fd);
		if (p->tcp[i].ufd >= 0)
			close(p->tcp[i].ufd);
	}
	free(p->tcp);
	free(p);
}

/* Which process sent this query: the egress program stored it under (source port, id). */
static void attribute(struct proxy *p, const struct sockaddr_storage *from, uint16_t id, int proto,
		      struct who *w)
{
	struct {
		uint16_t sport, id;
		uint8_t proto, v6, pad[2];
	} key = {0};
	struct {
		uint32_t pid;
		char comm[16];
	} val;

	w->pid = -1;
	w->cmd[0] = '\0';
	if (p->cfg.queries_fd < 0)
		return;
	key.v6 = from->ss_family == AF_INET6;
	key.sport = ntohs(key.v6 ? ((const struct sockaddr_in6 *)from)->sin6_port
				 : ((const struct sockaddr_in *)from)->sin_port);
	key.id = proto == IPPROTO_UDP ? id : 0;
	key.proto = (uint8_t)proto;
	if (bpf_lookup_elem(p->cfg.queries_fd, &key, &val))
		return;
	bpf_delete_elem(p->cfg.queries_fd, &key);
	w->pid = val.pid;
	/* Read the command line now: the sender waits for this answer, so it is still alive. */
	audit_cmdline((pid_t)val.pid, w->cmd, sizeof(w->cmd));
	if (!w->cmd[0])
		snprintf(w->cmd, sizeof(w->cmd), "[%.16s]", val.comm);
}

static void log_query(const struct proxy *p, const struct dns_query *q, const struct who *w,
		      const char *reason, const struct policy_src *src)
{
	char tbuf[8], rule[300];
	struct audit_event e = {
	    .level = src ? "WARN" : "INFO",
	    .event = src ? "DNS BLOCKED" : "DNS ALLOWED",
	    .reason = reason,
	    .blocked = src ? !p->cfg.audit : 0,
	    .blocked_at = src ? "dns" : NULL,
	    .domain = q->name,
	    .qtype = dns_type_name(q->qtype, tbuf),
	    .pid = w->pid,
	    .cmd = w->pid >= 0 ? w->cmd : NULL,
	    .port = -1,
	    .method = "blocklist",
	};

	if (src) {
		snprintf(rule, sizeof(rule), "%s:%u", src->file, src->line);
		e.rule = rule;
	} else if (audit_verbose() < 1) {
		return;
	}
	audit_log(&e);
}

/* One line per malformed packet: from "client" (with its process) or "upstream". */
static void log_malformed(const char *from, const char *why, const struct who *w)
{
	struct audit_event e = {.level = "WARN",
				.event = "DNS MALFORMED",
				.reason = why,
				.blocked = -1,
				.blocked_at = from,
				.pid = w ? w->pid : -1,
				.cmd = w && w->pid >= 0 ? w->cmd : NULL,
				.port = -1};

	audit_log(&e);
}

static enum audit_verdict verdict(const struct proxy *p, bool blocked)
{
	return !blocked ? AUDIT_ALLOWED : p->cfg.audit ? AUDIT_WOULD_BLOCK : AUDIT_BLOCKED;
}

struct walk_ctx {
	const struct policy *pol;
	const struct dns_query *q; /* its own name was judged with the query */
	struct policy_src src;
	char name[DNS_TEXT_MAX];
};

static int check_item(void *ctx, enum dns_item kind, const char *name, size_t len,
		      const uint8_t *addr, uint32_t ttl)
{
	struct walk_ctx *w = ctx;

	(void)addr;
	(void)ttl;
	if (kind != DNS_ITEM_NAME || (len == w->q->namelen && !memcmp(name, w->q->name, len)) ||
	    !policy_match_name(w->pol, name, len, &w->src))
		return 0;
	memcpy(w->name, name, len + 1);
	return 1;
}

/* Does the answer lead to a blocked name? Returns 1 (w says which), 0, or -1 if malformed. */
static int check_answer(const struct proxy *p, const uint8_t *pkt, size_t len,
			const struct dns_query *q, struct walk_ctx *w, const char **why)
{
	w->pol = p->cfg.pol;
	w->q = q;
	return dns_walk_answer(pkt, len, q, check_item, w, why);
}

/* Forget the upstream id a slot holds, unless another slot has taken it since. */
static void udp_drop_upid(struct proxy *p, struct udp_slot *s)
{
	if (p->by_upid[s->upid] == s - p->udp + 1)
		p->by_upid[s->upid] = 0;
}

static void udp_free(struct proxy *p, struct udp_slot *s)
{
	udp_drop_upid(p, s);
	s->used = false;
}

static struct udp_slot *udp_alloc(struct proxy *p)
{
	struct udp_slot *oldest = &p->udp[0];

	for (int i = 0; i < PX_UDP_SLOTS; i++) {
		if (!p->udp[i].used)
			return &p->udp[i];
		if (p->udp[i].born < oldest->born)
			oldest = &p->udp[i];
	}
	log_warnx("query table full: dropping the oldest query, for %s.", oldest->q.name);
	udp_free(p, oldest);
	return oldest;
}

/* Send (or resend) a slot's query to its current upstream under a fresh id. */
static void udp_forward(struct proxy *p, struct udp_slot *s)
{
	const struct sockaddr_storage *up = &p->cfg.up[s->up];
	int fd = p->ufd[up->ss_family == AF_INET6];

	udp_drop_upid(p, s);
	do
		s->upid = random_id();
	while (p->by_upid[s->upid]);
	p->by_upid[s->upid] = (uint16_t)(s - p->udp + 1);
	s->qbuf[0] = (uint8_t)(s->upid >> 8);
	s->qbuf[1] = (uint8_t)s->upid;
	s->deadline = now_ms() + PX_TRY_MS;
	if (fd < 0 ||
	    sendto(fd, s->qbuf, s->qlen, 0, (const struct sockaddr *)up, p->cfg.uplen[s->up]) < 0)
		log_debug("send to upstream %d failed: %s", s->up,
			  strerror(fd < 0 ? EAFNOSUPPORT : errno));
}

static void udp_reply(struct proxy *p, int lsock, const struct sockaddr_storage *to,
		      socklen_t tolen, const uint8_t *buf, size_t len)
{
	if (sendto(p->lfd[lsock], buf, len, 0, (const struct sockaddr *)to, tolen) < 0)
		log_debug("reply to client failed: %s", strerror(errno));
}

/* Answer from here: blocked names, and what the gate refused. */
static void udp_answer(struct proxy *p, int lsock, const struct sockaddr_storage *from,
		       socklen_t fromlen, const uint8_t *query, const struct dns_query *q,
		       int rcode)
{
	uint8_t out[DNS_HDR_LEN + 300];
	size_t n = dns_build_reply(query, q, rcode, out, sizeof(out));

	if (n)
		udp_reply(p, lsock, from, fromlen, out, n);
}

static void udp_query(struct proxy *p, int lsock, const uint8_t *pkt, size_t len,
		      const struct sockaddr_storage *from, socklen_t fromlen)
{
	struct dns_query q;
	struct policy_src src;
	struct who w;
	struct udp_slot *s;
	const char *why;
	int rc = dns_parse_query(pkt, len, &q, &why);
	bool blocked;

	attribute(p, from, q.id, IPPROTO_UDP, &w);
	if (rc == DNS_R_NOERROR && len > PX_QUERY_MAX)
		rc = DNS_R_FORMERR, why = "query too large";
	if (rc != DNS_R_NOERROR) {
		log_malformed("client", why, &w);
		if (rc != DNS_R_DROP)
			udp_answer(p, lsock, from, fromlen, pkt, &q, rc);
		return;
	}
	blocked = policy_match_name(p->cfg.pol, q.name, q.namelen, &src);
	log_query(p, &q, &w, "FromDNSRequest", blocked ? &src : NULL);
	if (blocked) {
		audit_count("dns", q.name, verdict(p, true), w.cmd);
		if (!p->cfg.audit) {
			udp_answer(p, lsock, from, fromlen, pkt, &q, DNS_R_NXDOMAIN);
			return;
		}
	}
	s = udp_alloc(p);
	*s = (struct udp_slot){.used = true, .lsock = lsock, .fromlen = fromlen, .born = now_ms()};
	memcpy(&s->from, from, fromlen);
	s->qlen = len;
	memcpy(s->qbuf, pkt, len);
	s->q = q;
	s->who = w;
	if (!blocked) /* counted above when blocked, so audit mode shows would-block */
		audit_count("dns", q.name, AUDIT_ALLOWED, w.cmd);
	udp_forward(p, s);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

/* Check an upstream answer and decide what the client gets: the answer itself (with the
 * client's id back), or NXDOMAIN when it leads to a blocked name. Returns the length in out. */
static size_t vet_answer(struct proxy *p, uint8_t *pkt, size_t len, const uint8_t *query,
			 const struct dns_query *q, const struct who *w, uint8_t *out,
			 size_t outlen)
{
	struct walk_ctx wc;
	struct dns_query as = *q;
	const char *why;
	int rc;

	as.id = (uint16_t)(pkt[0] << 8 | pkt[1]); /* the walker matches the id we sent */
	rc = check_answer(p, pkt, len, &as, &wc, &why);
	if (rc < 0) {
		log_malformed("upstream", why, w);
		return dns_build_reply(query, q, DNS_R_SERVFAIL, out, outlen);
	}
	if (rc > 0) {
		struct dns_query target = *q;

		memcpy(target.name, wc.name, sizeof(wc.name));
		target.namelen = strlen(wc.name);
		log_query(p, &target, w, "FromDNSResponse", &wc.src);
		audit_count("dns", wc.name, verdict(p, true), w->cmd);
		if (!p->cfg.audit)
			return dns_build_reply(query, q, DNS_R_NXDOMAIN, out, outlen);
	}
	pkt[0] = (uint8_t)(q->id >> 8);
	pkt[1] = (uint8_t)q->id;
	return 0; /* pkt as it is */
}

static void udp_upstream(struct proxy *p, int fd)
{
	for (int burst = 0; burst < PX_BURST; burst++) {
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		ssize_t n =
		    recvfrom(fd, p->pkt, sizeof(p->pkt), 0, (struct sockaddr *)&from, &fromlen);
		uint8_t out[DNS_HDR_LEN + 300];
		struct udp_slot *s;
		size_t olen;
		uint16_t id;

		if (n < 0)
			return;
		if (n < DNS_HDR_LEN)
			continue;
		id = (uint16_t)(p->pkt[0] << 8 | p->pkt[1]);
		if (!p->by_upid[id])
			continue; /* late, duplicate or forged */
		s = &p->udp[p->by_upid[id] - 1];
		if (!same_addr(&from, &p->cfg.up[s->up]))
			continue;
		olen = vet_answer(p, p->pkt, (size_t)n, s->qbuf, &s->q, &s->who, out, sizeof(out));
		if (olen)
			udp_reply(p, s->lsock, &s->from, s->fromlen, out, olen);
		else
			udp_reply(p, s->lsock, &s->from, s->fromlen, p->pkt, (size_t)n);
		udp_free(p, s);
	}
}

static void udp_listener(struct proxy *p, int lsock)
{
	for (int burst = 0; burst < PX_BURST; burst++) {
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(p->lfd[lsock], p->pkt, sizeof(p->pkt), 0,
				     (struct sockaddr *)&from, &fromlen);

		if (n < 0)
			return;
		udp_query(p, lsock, p->pkt, (size_t)n, &from, fromlen);
	}
}

/* A try timed out: the next upstream, or SERVFAIL after PX_TRIES. */
static void udp_timeouts(struct proxy *p, uint64_t now)
{
	for (int i = 0; i < PX_UDP_SLOTS; i++) {
		struct udp_slot *s = &p->udp[i];

		if (!s->used || s->deadline > now)
			continue;
		if (++s->tries < PX_TRIES) {
			s->up = (s->up + 1) % p->cfg.nup;
			udp_forward(p, s);
			continue;
		}
		log_warnx("no upstream answered for %s. after %d tries", s->q.name, PX_TRIES);
		udp_answer(p, s->lsock, &s->from, s->fromlen, s->qbuf, &s->q, DNS_R_SERVFAIL);
		udp_free(p, s);
	}
}

static void tcp_close(struct tcp_slot *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->ufd >= 0)
		close(s->ufd);
	s->fd = s->ufd = -1;
	s->state = T_FREE;
}

static void tcp_accept(struct proxy *p, int lsock)
{
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	struct tcp_slot *s = NULL, *oldest = &p->tcp[0];
	int fd = accept4(p->lfd[lsock], (struct sockaddr *)&from, &fromlen,
			 SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < PX_TCP_SLOTS && !s; i++) {
		if (p->tcp[i].state == T_FREE)
			s = &p->tcp[i];
		else if (p->tcp[i].born < oldest->born)
			oldest = &p->tcp[i];
	}
	if (!s) {
		log_warnx("TCP client table full: closing the oldest connection");
		tcp_close(oldest);
		s = oldest;
	}
	s->state = T_READ;
	s->fd = fd;
	s->len = s->off = 0;
	s->born = now_ms();
	s->deadline = s->born + PX_TCP_IDLE_MS;
	attribute(p, &from, 0, IPPROTO_TCP, &s->who);
}

/* Put a DNS message in s->buf behind its two-byte length and start writing it. */
static void tcp_respond(struct tcp_slot *s, const uint8_t *msg, size_t len)
{
	if (s->ufd >= 0)
		close(s->ufd);
	s->ufd = -1;
	memmove(s->buf + 2, msg, len);
	s->buf[0] = (uint8_t)(len >> 8);
	s->buf[1] = (uint8_t)len;
	s->len = len + 2;
	s->off = 0;
	s->state = T_WRITE;
	s->deadline = now_ms() + PX_TCP_IDLE_MS;
}

static void tcp_answer_here(struct tcp_slot *s, const uint8_t *query, int rcode)
{
	uint8_t out[DNS_HDR_LEN + 300];
	size_t n = dns_build_reply(query, &s->q, rcode, out, sizeof(out));

	tcp_respond(s, out, n);
}

static void tcp_connect_up(struct proxy *p, struct tcp_slot *s)
{
	const struct sockaddr_storage *up = &p->cfg.up[s->up];

	if (s->ufd >= 0)
		close(s->ufd);
	s->ufd = socket(up->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	s->state = T_CONNECT;
	s->off = 0;
	s->deadline = now_ms() + PX_TRY_MS;
	if (s->ufd >= 0 &&
	    (connect(s->ufd, (const struct sockaddr *)up, p->cfg.uplen[s->up]) == 0 ||
	     errno == EINPROGRESS))
		return;
	s->deadline = 0; /* fail this try at the next turn */
}

static void tcp_retry(struct proxy *p, struct tcp_slot *s)
{
	if (++s->tries < PX_TRIES) {
		s->up = (s->up + 1) % p->cfg.nup;
		tcp_connect_up(p, s);
		return;
	}
	log_warnx("no upstream answered for %s. over TCP after %d tries", s->q.name, PX_TRIES);
	tcp_answer_here(s, s->qbuf + 2, DNS_R_SERVFAIL);
}

static void tcp_query(struct proxy *p, struct tcp_slot *s)
{
	const uint8_t *pkt = s->buf + 2;
	size_t len = s->len - 2;
	struct policy_src src;
	const char *why;
	int rc = dns_parse_query(pkt, len, &s->q, &why);
	bool blocked;

	if (rc != DNS_R_NOERROR) {
		log_malformed("client", why, &s->who);
		if (rc == DNS_R_DROP)
			tcp_close(s);
		else
			tcp_answer_here(s, pkt, rc);
		return;
	}
	blocked = policy_match_name(p->cfg.pol, s->q.name, s->q.namelen, &src);
	log_query(p, &s->q, &s->who, "FromDNSRequest", blocked ? &src : NULL);
	audit_count("dns", s->q.name, verdict(p, blocked), s->who.cmd);
	if (blocked && !p->cfg.audit) {
		tcp_answer_here(s, pkt, DNS_R_NXDOMAIN);
		return;
	}
	memcpy(s->qbuf, s->buf, s->len);
	s->qlen = s->len;
	s->tries = 0;
	s->up = 0;
	tcp_connect_up(p, s);
}

/* Read into buf until it holds a whole length-prefixed message; 1 when complete, -1 on EOF or
 * error, 0 for more later. */
static int tcp_fill(int fd, struct tcp_slot *s, size_t max)
{
	size_t want = s->len < 2 ? 2 : 2 + (size_t)(s->buf[0] << 8 | s->buf[1]);
	ssize_t n;

	if (s->len >= 2 && want - 2 > max)
		return -1;
	n = read(fd, s->buf + s->len, want - s->len);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (n > 0)
		s->len += (size_t)n;
	if (s->len == 2 && want == 2)
		return tcp_fill(fd, s, max); /* now that the length is known */
	return s->len >= 2 && s->len == 2 + (size_t)(s->buf[0] << 8 | s->buf[1]);
}

static void tcp_upstream_done(struct proxy *p, struct tcp_slot *s)
{
	uint8_t out[DNS_HDR_LEN + 300];
	size_t olen =
	    vet_answer(p, s->buf + 2, s->len - 2, s->qbuf + 2, &s->q, &s->who, out, sizeof(out));

	if (olen)
		tcp_respond(s, out, olen);
	else
		tcp_respond(s, s->buf + 2, s->len - 2);
}

/* Drive one TCP slot on readiness of its client (up = false) or upstream socket. */
static void tcp_event(struct proxy *p, struct tcp_slot *s, bool up, short revents)
{
	int err = 0, rc;
	socklen_t elen = sizeof(err);
	ssize_t n;

	switch (s->state) {
	case T_READ:
		rc = up ? 0 : tcp_fill(s->fd, s, PX_QUERY_MAX);
		if (rc < 0)
			tcp_close(s); /* EOF, or a length we will not buffer */
		else if (rc > 0)
			tcp_query(p, s);
		break;
	case T_CONNECT:
		if (getsockopt(s->ufd, SOL_SOCKET, SO_ERROR, &err, &elen) || err) {
			tcp_retry(p, s);
			break;
		}
		s->state = T_UPWRITE;
		/* fall through */
	case T_UPWRITE:
		n = write(s->ufd, s->qbuf + s->off, s->qlen - s->off);
		if (n < 0 && errno != EAGAIN) {
			tcp_retry(p, s);
		} else if (n > 0 && (s->off += (size_t)n) == s->qlen) {
			s->state = T_UPREAD;
			s->len = 0;
		}
		break;
	case T_UPREAD:
		rc = tcp_fill(s->ufd, s, DNS_UDP_MAX);
		if (rc < 0)
			tcp_retry(p, s);
		else if (rc > 0)
			tcp_upstream_done(p, s);
		break;
	case T_WRITE:
		n = write(s->fd, s->buf + s->off, s->len - s->off);
		if ((n < 0 && errno != EAGAIN) || (revents & (POLLERR | POLLHUP))) {
			tcp_close(s);
		} else if (n > 0 && (s->off += (size_t)n) == s->len) {
			s->state = T_READ; /* a client may send several queries */
			s->len = 0;
			s->deadline = now_ms() + PX_TCP_IDLE_MS;
		}
		break;
	}
}

static void tcp_timeouts(struct proxy *p, uint64_t now)
{
	for (int i = 0; i < PX_TCP_SLOTS; i++) {
		struct tcp_slot *s = &p->tcp[i];

		if (s->state == T_FREE || s->deadline > now)
			continue;
		if (s->state == T_READ || s->state == T_WRITE)
			tcp_close(s);
		else
			tcp_retry(p, s);
	}
}

int proxy_prepare(struct proxy *p, struct pollfd *pfd, int max, int *timeout_ms)
{
	uint64_t now = now_ms(), next = UINT64_MAX;
	int n = 0;

	udp_timeouts(p, now);
	tcp_timeouts(p, now);
	for (int i = 0; i < L_N; i++)
		pfd[n++] = (struct pollfd){.fd = p->lfd[i], .events = POLLIN};
	for (int i = 0; i < 2; i++)
		pfd[n++] = (struct pollfd){.fd = p->ufd[i], .events = POLLIN};
	for (int i = 0; i < PX_UDP_SLOTS; i++)
		if (p->udp[i].used && p->udp[i].deadline < next)
			next = p->udp[i].deadline;
	for (int i = 0; i < PX_TCP_SLOTS && n + 2 <= max; i++) {
		struct tcp_slot *s = &p->tcp[i];
		bool on_up = s->state == T_CONNECT || s->state == T_UPWRITE || s->state == T_UPREAD;

		if (s->state == T_FREE)
			continue;
		if (s->deadline < next)
			next = s->deadline;
		p->owner[n - L_N - 2] = (int16_t)(i * 2 + on_up);
		pfd[n++] = (struct pollfd){
		    .fd = on_up ? s->ufd : s->fd,
		    .events = s->state == T_WRITE || s->state == T_CONNECT || s->state == T_UPWRITE
				  ? POLLOUT
				  : POLLIN,
		};
	}
	if (next != UINT64_MAX) {
		int64_t wait = next > now ? (int64_t)(next - now) : 0;

		if (*timeout_ms < 0 || wait < *timeout_ms)
			*timeout_ms = (int)wait;
	}
	return n;
}

void proxy_dispatch(struct proxy *p, const struct pollfd *pfd, int n)
{
	for (int i = 0; i < n; i++) {
		short ev = pfd[i].revents;

		if (!ev || pfd[i].fd < 0)
			continue;
		if (i == L_UDP4 || i == L_UDP6)
			udp_listener(p, i);
		else if (i == L_TCP4 || i == L_TCP6)
			tcp_accept(p, i);
		else if (i < L_N + 2)
			udp_upstream(p, pfd[i].fd);
		else
			tcp_event(p, &p->tcp[p->owner[i - L_N - 2] / 2], p->owner[i - L_N - 2] % 2,
				  ev);
	}
}
