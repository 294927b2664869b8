/*
 * proxy_tcp.c: DNS over TCP. Clients sit in a fixed table, each with its own upstream connection;
 * a full table evicts the oldest. States: READ (length and query) -> CONNECT -> UPWRITE ->
 * UPREAD (length and answer) -> WRITE -> READ again; a query answered here goes READ -> WRITE.
 */
#define _GNU_SOURCE
#include "proxy_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

static void tcp_close(struct tcp_slot *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->ufd >= 0)
		close(s->ufd);
	s->fd = s->ufd = -1;
	s->state = T_FREE;
}

/* Which client makes room for a new one when the table is full: one that has not sent a whole
 * query (slow, stalled or hostile) before one whose query is under way, and of those the one that
 * has waited longest. A flood of slow clients thus only ever evicts its own. */
static bool evict_before(const struct tcp_slot *a, const struct tcp_slot *b)
{
	if ((a->state == T_READ) != (b->state == T_READ))
		return a->state == T_READ;
	return a->deadline < b->deadline;
}

/* Give a new client a slot, making room if the table is full. */
static void tcp_take(struct proxy *p, int fd, const struct sockaddr_storage *from)
{
	struct tcp_slot *s = NULL, *victim = &p->tcp[0];

	for (int i = 0; i < PX_TCP_SLOTS && !s; i++) {
		if (p->tcp[i].state == T_FREE) {
			s = &p->tcp[i];
			p->tcp_hi = i >= p->tcp_hi ? i + 1 : p->tcp_hi;
		} else if (evict_before(&p->tcp[i], victim)) {
			victim = &p->tcp[i];
		}
	}
	if (!s) {
		if (log_quota(&p->q_tcp_full, proxy_now_ms()))
			log_warnx("TCP client table full: closing the client that waited longest");
		tcp_close(victim);
		s = victim;
	}
	s->state = T_READ;
	s->fd = fd;
	s->len = s->off = 0;
	s->born = proxy_now_ms();
	s->deadline = s->born + PX_TCP_IDLE_MS;
	px_attribute(p, from, 0, IPPROTO_TCP, &s->who);
}

void px_tcp_accept(struct proxy *p, int lsock)
{
	for (int burst = 0; burst < PX_BURST; burst++) {
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		int fd = accept4(p->lfd[lsock], (struct sockaddr *)&from, &fromlen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		tcp_take(p, fd, &from);
	}
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
	s->deadline = proxy_now_ms() + PX_TCP_IDLE_MS;
}

/* Answer from here. DNS_R_DROP answers nothing: the client waits, as on a resolver that hangs,
 * until it gives up or sends another query. */
static void tcp_answer_here(struct tcp_slot *s, const uint8_t *query, int rcode)
{
	uint8_t out[DNS_HDR_LEN + 300];

	if (rcode != DNS_R_DROP) {
		tcp_respond(s, out, dns_build_reply(query, &s->q, rcode, out, sizeof(out)));
		return;
	}
	if (s->ufd >= 0)
		close(s->ufd);
	s->ufd = -1;
	s->state = T_READ;
	s->len = 0;
	s->deadline = proxy_now_ms() + PX_TCP_IDLE_MS;
}

static void tcp_connect_up(struct proxy *p, struct tcp_slot *s)
{
	const struct sockaddr_storage *up = &p->cfg.up[s->up];

	if (s->ufd >= 0)
		close(s->ufd);
	s->ufd = socket(up->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	s->state = T_CONNECT;
	s->off = 0;
	s->deadline = proxy_now_ms() + PX_TRY_MS;
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
	const char *why;
	int rc = dns_parse_query(pkt, len, &s->q, &why);

	if (rc != DNS_R_NOERROR) {
		px_log_malformed(p, "client", why, &s->who);
		if (rc == DNS_R_DROP)
			tcp_close(s);
		else
			tcp_answer_here(s, pkt, rc);
		return;
	}
	if ((rc = px_judge_query(p, &s->q, &s->who, &s->qblocked)) != PX_FORWARD) {
		tcp_answer_here(s, pkt, rc);
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
	size_t olen = px_vet_answer(p, s->buf + 2, s->len - 2, s->qbuf + 2, &s->q, &s->who,
				    s->qblocked, out, sizeof(out));

	if (olen == 0)
		tcp_respond(s, s->buf + 2, s->len - 2);
	else if (olen != SIZE_MAX)
		tcp_respond(s, out, olen);
	else
		tcp_answer_here(s, s->qbuf + 2, DNS_R_DROP);
}

/* Drive one TCP slot on readiness of its client (up = false) or upstream socket. */
void px_tcp_event(struct proxy *p, struct tcp_slot *s, bool up, short revents)
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
			s->deadline = proxy_now_ms() + PX_TCP_IDLE_MS;
		}
		break;
	}
}

void px_tcp_timeouts(struct proxy *p, uint64_t now)
{
	for (int i = 0; i < p->tcp_hi; i++) {
		struct tcp_slot *s = &p->tcp[i];

		if (s->state == T_FREE || s->deadline > now)
			continue;
		if (s->state == T_READ || s->state == T_WRITE)
			tcp_close(s);
		else
			tcp_retry(p, s);
	}
}
