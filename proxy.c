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
 * The kernel refuses addresses the proxy tells it about (dg_learn4/6): every address an answer
 * gives for a blocked name, and, when unknown addresses are refused (strict, allowlist), every
 * address an allowed answer gives, until its TTL plus a grace period has passed. The map is
 * written before the client gets the answer. Blocked names are also resolved here ("watched"),
 * at start and again as their TTLs run out, so an address pinned in a script is refused too.
 *
 * This file holds the sockets, the loop's two calls and the UDP path; the judgement is
 * proxy_judge.c's, the watch proxy_watch.c's, TCP proxy_tcp.c's (proxy_int.h).
 */
#define _GNU_SOURCE
#include "proxy_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "bpf_prog.h"

uint64_t proxy_now_ms(void)
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
				pool[i] = (uint16_t)(rand() ^ (int)proxy_now_ms());
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
	if (bind(fd, (struct sockaddr *)&ss, len) ||
	    (type == SOCK_STREAM && listen(fd, SOMAXCONN))) {
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
	p->cfg = *cfg;
	p->q_malformed.what = "malformed DNS packets";
	p->q_udp_full.what = "queries dropped from the full query table";
	p->q_tcp_full.what = "TCP clients closed for room in the full client table";
	for (int i = 0; i < PROXY_NETNS * L_N; i++)
		p->lfd[i] = -1;
	p->nns = 1;
	p->own_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	p->ufd[0] = p->ufd[1] = -1;
	for (int i = 0; i < PX_BATCH; i++) {
		p->pkt_iov[i] = (struct iovec){p->pkt[i], sizeof(p->pkt[i])};
		p->pkt_hdr[i].msg_hdr = (struct msghdr){
		    .msg_name = &p->pkt_from[i],
		    .msg_namelen = sizeof(p->pkt_from[i]),
		    .msg_iov = &p->pkt_iov[i],
		    .msg_iovlen = 1,
		};
	}
	p->tcp = calloc(PX_TCP_SLOTS, sizeof(*p->tcp));
	p->watch = calloc(PX_WATCH, sizeof(*p->watch));
	p->senders = calloc(PX_SENDERS, sizeof(*p->senders));
	p->out[0] = calloc(1, sizeof(struct px_out));
	p->out[1] = calloc(1, sizeof(struct px_out));
	p->out[O_UP4] = calloc(1, sizeof(struct px_out));
	p->out[O_UP6] = calloc(1, sizeof(struct px_out));
	for (int i = 0; p->tcp && i < PX_TCP_SLOTS; i++)
		p->tcp[i].fd = p->tcp[i].ufd = -1;
	if (!p->tcp || !p->watch || !p->senders || !p->out[0] || !p->out[1] || !p->out[O_UP4] ||
	    !p->out[O_UP6]) {
		proxy_close(p);
		return -ENOMEM;
	}
	p->ufd[0] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	p->ufd[1] = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	err = bind_listeners(p, port);
	p->port = *port;
	if (err || p->ufd[0] < 0) {
		err = err ? err : -errno;
		proxy_close(p);
		return err;
	}
	*pp = p;
	return 0;
}

void proxy_set_maps(struct proxy *p, int queries_fd, struct pmaps *maps)
{
	p->queries = ring_buffer__new(queries_fd, px_sender_put, p, NULL);
	if (!p->queries)
		log_warn(
		    "cannot read the senders of queries (dg_queries): nothing will be attributed");
	p->maps = maps;
}

void proxy_close(struct proxy *p)
{
	if (!p)
		return;
	log_quota_flush(&p->q_malformed);
	log_quota_flush(&p->q_udp_full);
	log_quota_flush(&p->q_tcp_full);
	for (int i = 0; i < PROXY_NETNS * L_N; i++)
		if (p->lfd[i] >= 0)
			close(p->lfd[i]);
	for (int i = 0; i < 2; i++)
		if (p->ufd[i] >= 0)
			close(p->ufd[i]);
	if (p->own_ns >= 0)
		close(p->own_ns);
	for (int i = 0; p->tcp && i < PX_TCP_SLOTS; i++) {
		if (p->tcp[i].fd >= 0)
			close(p->tcp[i].fd);
		if (p->tcp[i].ufd >= 0)
			close(p->tcp[i].ufd);
	}
	ring_buffer__free(p->queries);
	for (int q = 0; q < PX_OUTQ; q++)
		free(p->out[q]);
	free(p->senders);
	free(p->watch);
	free(p->tcp);
	free(p);
}

int proxy_listen_in(struct proxy *p, int netns)
{
	static const int fam[L_N] = {AF_INET, AF_INET6, AF_INET, AF_INET6};
	static const int type[L_N] = {SOCK_DGRAM, SOCK_DGRAM, SOCK_STREAM, SOCK_STREAM};
	int *lfd = p->lfd + p->nns * L_N, err = 0, k;

	if (p->nns == PROXY_NETNS)
		return -ENOSPC;
	if (p->own_ns < 0 || setns(netns, CLONE_NEWNET))
		return -errno;
	for (k = 0; k < L_N && !err; k++) {
		lfd[k] = bind_one(fam[k], type[k], p->port);
		if (lfd[k] < 0 &&
		    (fam[k] == AF_INET6 && (lfd[k] == -EADDRNOTAVAIL || lfd[k] == -EAFNOSUPPORT)))
			lfd[k] = -1; /* no IPv6 there: none to reach the proxy with */
		else if (lfd[k] < 0)
			err = lfd[k];
	}
	if (setns(p->own_ns, CLONE_NEWNET)) /* cannot fail: deployguard's own namespace */
		err = err ? err : -errno;
	if (!err && !(p->out[2 * p->nns] = calloc(1, sizeof(struct px_out))))
		err = -ENOMEM;
	if (!err && !(p->out[2 * p->nns + 1] = calloc(1, sizeof(struct px_out))))
		err = -ENOMEM;
	if (!err) {
		p->nns++;
		return 0;
	}
	for (k = 0; k < L_N; k++) {
		if (lfd[k] >= 0)
			close(lfd[k]);
		lfd[k] = -1;
	}
	for (k = 0; k < 2; k++) {
		free(p->out[2 * p->nns + k]);
		p->out[2 * p->nns + k] = NULL;
	}
	return err;
}

void px_udp_drop_upid(struct proxy *p, struct udp_slot *s)
{
	if (p->by_upid[s->upid] == s - p->udp + 1)
		p->by_upid[s->upid] = 0;
}

static void udp_free(struct proxy *p, struct udp_slot *s)
{
	px_udp_drop_upid(p, s);
	s->used = false;
	if (s->lsock < 0)
		px_watch_settle(p, &p->watch[s->watch]);
}

struct udp_slot *px_udp_alloc(struct proxy *p)
{
	struct udp_slot *oldest = &p->udp[0];

	for (int i = 0; i < PX_UDP_SLOTS; i++) {
		if (!p->udp[i].used) {
			p->udp_hi = i >= p->udp_hi ? i + 1 : p->udp_hi;
			return &p->udp[i];
		}
		if (p->udp[i].born < oldest->born)
			oldest = &p->udp[i];
	}
	if (log_quota(&p->q_udp_full, proxy_now_ms()))
		log_warnx("query table full: dropping the oldest query, for %s.", oldest->q.name);
	udp_free(p, oldest);
	return oldest;
}

/* The socket of out queue q. */
static int out_fd(const struct proxy *p, int q)
{
	return q < O_UP4 ? p->lfd[q / 2 * L_N + (q % 2 ? L_UDP6 : L_UDP4)] : p->ufd[q == O_UP6];
}

/* Send queue q's datagrams in one sendmmsg() (as a batch of queries came in one recvmmsg()):
 * a datagram the kernel refuses is skipped, not the ones after it. */
static void out_flush(struct proxy *p, int q)
{
	struct px_out *o = p->out[q];
	int fd = out_fd(p, q);

	for (int at = 0, n; at < o->n; at += (n > 0 ? n : 1))
		if ((n = sendmmsg(fd, o->hdr + at, (unsigned)(o->n - at), MSG_DONTWAIT)) < 0)
			log_debug("send of a datagram on socket %d failed: %s", q, strerror(errno));
	o->n = 0;
}

static void out_flush_all(struct proxy *p)
{
	for (int q = 0; q < PX_OUTQ; q++)
		if (p->out[q] && p->out[q]->n)
			out_flush(p, q);
}

/* Queue a datagram on queue q (sent when the queue fills, and at the end of the turn). */
static void out_queue(struct proxy *p, int q, const void *buf, size_t len,
		      const struct sockaddr_storage *to, socklen_t tolen)
{
	struct px_out *o = p->out[q];
	int i = o ? o->n : 0;

	if (!o || out_fd(p, q) < 0 || len > sizeof(o->buf[i]))
		return;
	memcpy(o->buf[i], buf, len);
	memcpy(&o->to[i], to, tolen);
	o->iov[i] = (struct iovec){o->buf[i], len};
	o->hdr[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &o->to[i],
						 .msg_namelen = tolen,
						 .msg_iov = &o->iov[i],
						 .msg_iovlen = 1}};
	if (++o->n == PX_BATCH)
		out_flush(p, q);
}

/* Send (or resend) a slot's query to its current upstream under a fresh id. */
void px_udp_forward(struct proxy *p, struct udp_slot *s)
{
	const struct sockaddr_storage *up = &p->cfg.up[s->up];

	px_udp_drop_upid(p, s);
	do
		s->upid = random_id();
	while (p->by_upid[s->upid]);
	p->by_upid[s->upid] = (uint16_t)(s - p->udp + 1);
	s->qbuf[0] = (uint8_t)(s->upid >> 8);
	s->qbuf[1] = (uint8_t)s->upid;
	s->deadline = proxy_now_ms() + PX_TRY_MS;
	out_queue(p, up->ss_family == AF_INET6 ? O_UP6 : O_UP4, s->qbuf, s->qlen, up,
		  p->cfg.uplen[s->up]);
}

static void udp_reply(struct proxy *p, int lsock, const struct sockaddr_storage *to,
		      socklen_t tolen, const uint8_t *buf, size_t len)
{
	out_queue(p, lsock / L_N * 2 + (lsock % L_N == L_UDP6), buf, len, to, tolen);
}

/* Answer from here: blocked names, and what the gate refused. DNS_R_DROP sends nothing. */
static void udp_answer(struct proxy *p, int lsock, const struct sockaddr_storage *from,
		       socklen_t fromlen, const uint8_t *query, const struct dns_query *q,
		       int rcode)
{
	uint8_t out[DNS_HDR_LEN + 300];
	size_t n = rcode == DNS_R_DROP ? 0 : dns_build_reply(query, q, rcode, out, sizeof(out));

	if (n)
		udp_reply(p, lsock, from, fromlen, out, n);
}

static void udp_query(struct proxy *p, int lsock, const uint8_t *pkt, size_t len,
		      const struct sockaddr_storage *from, socklen_t fromlen)
{
	struct dns_query q;
	struct who w;
	struct udp_slot *s;
	const char *why;
	int rc = dns_parse_query(pkt, len, &q, &why);
	bool blocked;

	px_attribute(p, from, q.id, IPPROTO_UDP, &w);
	if (rc == DNS_R_NOERROR && len > PX_QUERY_MAX)
		rc = DNS_R_FORMERR, why = "query too large";
	if (rc != DNS_R_NOERROR) {
		px_log_malformed(p, "client", why, &w);
		udp_answer(p, lsock, from, fromlen, pkt, &q, rc);
		return;
	}
	if ((rc = px_judge_query(p, &q, &w, &blocked)) != PX_FORWARD) {
		udp_answer(p, lsock, from, fromlen, pkt, &q, rc);
		return;
	}
	s = px_udp_alloc(p);
	/* Zero the slot's fixed part only: the buffers below are 5 KiB and copied by length. */
	memset(s, 0, offsetof(struct udp_slot, who));
	s->used = true, s->qblocked = blocked, s->lsock = lsock;
	s->fromlen = fromlen;
	s->born = proxy_now_ms();
	memcpy(&s->from, from, fromlen);
	s->qlen = len;
	memcpy(s->qbuf, pkt, len);
	dns_query_copy(&s->q, &q);
	s->who = w;
	px_udp_forward(p, s);
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

/* Check an upstream answer, teach the kernel its addresses, and decide what the client gets:
 * the answer itself with the client's id back (returns 0), a blocked answer built in out (returns
 * its length), or nothing at all (returns SIZE_MAX, for --block-action drop). */
size_t px_vet_answer(struct proxy *p, uint8_t *pkt, size_t len, const uint8_t *query,
		     const struct dns_query *q, const struct who *w, bool qblocked, uint8_t *out,
		     size_t outlen)
{
	struct walk_ctx wc;
	struct dns_query as;
	const char *why;

	dns_query_copy(&as, q);
	as.id = (uint16_t)(pkt[0] << 8 | pkt[1]); /* the walker matches the id we sent */
	if (px_walk_answer(p, pkt, len, &as, &wc, &why)) {
		px_log_malformed(p, "upstream", why, w);
		return dns_build_reply(query, q, DNS_R_SERVFAIL, out, outlen);
	}
	px_learn_answer(p, &wc, qblocked || wc.j.blocked, wc.j.blocked ? wc.name : q->name);
	for (size_t i = 0; i < wc.naddrs; i++)
		audit_resolved(q->name, wc.addrs[i].v6, wc.addrs[i].addr);
	if (wc.j.blocked) {
		struct dns_query target;

		dns_query_copy(&target, q);
		target.namelen = strlen(wc.name);
		memcpy(target.name, wc.name, target.namelen + 1);
		px_log_query(p, &target, w, "FromDNSResponse", &wc.j,
			     px_count_name(p, wc.name, q->name, w, &wc.j, "FromDNSResponse"));
		if (px_answers_blocked(p))
			return px_block_rcode(p) == DNS_R_DROP
				   ? SIZE_MAX
				   : dns_build_reply(query, q, px_block_rcode(p), out, outlen);
	}
	pkt[0] = (uint8_t)(q->id >> 8);
	pkt[1] = (uint8_t)q->id;
	return 0; /* pkt as it is */
}

/* Read up to PX_BATCH datagrams from fd into p->pkt in one system call. A short batch found
 * the queue empty, which spares the read that would only have said EAGAIN. */
static int udp_recv(struct proxy *p, int fd)
{
	int n;

	for (int i = 0; i < p->pkt_n; i++) /* the kernel shortened those it filled */
		p->pkt_hdr[i].msg_hdr.msg_namelen = sizeof(p->pkt_from[i]);
	n = recvmmsg(fd, p->pkt_hdr, PX_BATCH, MSG_DONTWAIT, NULL);
	p->pkt_n = n < 0 ? 0 : n;
	return p->pkt_n;
}

/* An upstream's answer to a client's query or to a watch query. */
static void udp_upstream_one(struct proxy *p, uint8_t *pkt, size_t n,
			     const struct sockaddr_storage *from)
{
	uint8_t out[DNS_HDR_LEN + 300];
	struct udp_slot *s;
	size_t olen;
	uint16_t id;

	if (n < DNS_HDR_LEN)
		return;
	id = (uint16_t)(pkt[0] << 8 | pkt[1]);
	if (!p->by_upid[id])
		return; /* late, duplicate or forged */
	s = &p->udp[p->by_upid[id] - 1];
	if (!same_addr(from, &p->cfg.up[s->up]))
		return;
	if (s->lsock < 0) {
		s->q.id = id;
		px_watch_answer(p, s, pkt, n);
		udp_free(p, s);
		return;
	}
	olen = px_vet_answer(p, pkt, n, s->qbuf, &s->q, &s->who, s->qblocked, out, sizeof(out));
	if (olen == 0)
		udp_reply(p, s->lsock, &s->from, s->fromlen, pkt, n);
	else if (olen != SIZE_MAX)
		udp_reply(p, s->lsock, &s->from, s->fromlen, out, olen);
	udp_free(p, s);
}

static void udp_upstream(struct proxy *p, int fd)
{
	for (int burst = 0, n = PX_BATCH; burst < PX_BURST && n == PX_BATCH; burst += n) {
		n = udp_recv(p, fd);
		for (int i = 0; i < n; i++)
			udp_upstream_one(p, p->pkt[i], p->pkt_hdr[i].msg_len, &p->pkt_from[i]);
	}
}

static void udp_listener(struct proxy *p, int lsock)
{
	for (int burst = 0, n = PX_BATCH; burst < PX_BURST && n == PX_BATCH; burst += n) {
		n = udp_recv(p, p->lfd[lsock]);
		for (int i = 0; i < n; i++)
			udp_query(p, lsock, p->pkt[i], p->pkt_hdr[i].msg_len, &p->pkt_from[i],
				  p->pkt_hdr[i].msg_hdr.msg_namelen);
	}
}

/* A query no upstream answered: SERVFAIL to its client. */
static void udp_give_up(struct proxy *p, struct udp_slot *s)
{
	if (s->lsock < 0) { /* our own: one line per watched name would flood */
		log_debug("no upstream answered for blocked name %s.", s->q.name);
	} else {
		log_warnx("no upstream answered for %s. after %d tries", s->q.name, PX_TRIES);
		udp_answer(p, s->lsock, &s->from, s->fromlen, s->qbuf, &s->q, DNS_R_SERVFAIL);
	}
	udp_free(p, s);
}

/* Retry or fail the queries past their deadline; returns the earliest deadline left. Also
 * brings udp_hi down to the highest slot still in use. */
static uint64_t udp_timeouts(struct proxy *p, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	int hi = 0;

	for (int i = 0; i < p->udp_hi; i++) {
		struct udp_slot *s = &p->udp[i];

		if (!s->used)
			continue;
		if (s->deadline <= now && ++s->tries >= PX_TRIES) {
			udp_give_up(p, s);
			continue;
		}
		if (s->deadline <= now) {
			s->up = (s->up + 1) % p->cfg.nup;
			px_udp_forward(p, s);
		}
		hi = i + 1;
		next = s->deadline < next ? s->deadline : next;
	}
	p->udp_hi = hi;
	return next;
}

int proxy_prepare(struct proxy *p, struct pollfd *pfd, int max, int *timeout_ms)
{
	uint64_t now = proxy_now_ms(), next;
	int n = 0, hi = 0;

	next = udp_timeouts(p, now);
	px_tcp_timeouts(p, now);
	px_watch_run(p, now);
	for (int i = 0; i < L_N; i++)
		pfd[n++] = (struct pollfd){.fd = p->lfd[i], .events = POLLIN};
	for (int i = 0; i < 2; i++)
		pfd[n++] = (struct pollfd){.fd = p->ufd[i], .events = POLLIN};
	for (int i = L_N; i < p->nns * L_N; i++) /* the other namespaces' listeners */
		pfd[n++] = (struct pollfd){.fd = p->lfd[i], .events = POLLIN};
	if (p->watch_due < next && p->watch_busy + 2 <= PX_WATCH_BUSY && p->cfg.nup)
		next = p->watch_due; /* when busy, an answer or a timeout comes first */
	for (int i = 0; i < p->tcp_hi && n < max; i++) {
		struct tcp_slot *s = &p->tcp[i];
		bool on_up = s->state == T_CONNECT || s->state == T_UPWRITE || s->state == T_UPREAD;

		if (s->state == T_FREE)
			continue;
		hi = i + 1;
		if (s->deadline < next)
			next = s->deadline;
		p->owner[n - p->nns * L_N - 2] = (int16_t)(i * 2 + on_up);
		pfd[n++] = (struct pollfd){
		    .fd = on_up ? s->ufd : s->fd,
		    .events = s->state == T_WRITE || s->state == T_CONNECT || s->state == T_UPWRITE
				  ? POLLOUT
				  : POLLIN,
		};
	}
	if (n < max)
		p->tcp_hi = hi; /* every slot was seen */
	out_flush_all(p);	/* what the timeouts and the watch sent, before poll() waits */
	if (next != UINT64_MAX) {
		int64_t wait = next > now ? (int64_t)(next - now) : 0;

		if (*timeout_ms < 0 || wait < *timeout_ms)
			*timeout_ms = (int)wait;
	}
	return n;
}

void proxy_dispatch(struct proxy *p, const struct pollfd *pfd, int n)
{
	int fixed = p->nns * L_N + 2; /* listeners, upstream sockets, other listeners */

	for (int i = 0; i < n; i++) {
		short ev = pfd[i].revents;
		int lsock = i < L_N ? i : i - 2;

		if (!ev || pfd[i].fd < 0)
			continue;
		if (i < fixed && (i < L_N || i >= L_N + 2)) {
			if (lsock % L_N == L_UDP4 || lsock % L_N == L_UDP6)
				udp_listener(p, lsock);
			else
				px_tcp_accept(p, lsock);
		} else if (i < fixed) {
			udp_upstream(p, pfd[i].fd);
		} else {
			px_tcp_event(p, &p->tcp[p->owner[i - fixed] / 2], p->owner[i - fixed] % 2,
				     ev);
		}
	}
	out_flush_all(p);
}
