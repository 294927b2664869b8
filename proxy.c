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
 * TCP client states: READ (length and query) -> CONNECT -> UPWRITE -> UPREAD (length and answer)
 * -> WRITE -> READ again; a query answered here goes READ -> WRITE.
 */
#define _GNU_SOURCE
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "audit.h"
#include "bpf_prog.h"
#include "dns.h"
#include "hash.h"
#include "depends.h"
#include "log.h"
#include "proc.h"

#define PX_UDP_SLOTS   512
#define PX_TCP_SLOTS   PROXY_TCP_CLIENTS
#define PX_QUERY_MAX   4096 /* larger queries get FORMERR; real ones are far smaller */
#define PX_TRY_MS      1500 /* per upstream try; a client's own retry comes at 5 s (glibc) */
#define PX_TRIES       3
#define PX_TCP_IDLE_MS 10000
#define PX_BURST       64   /* datagrams read per socket per turn, so one flood cannot starve */
#define PX_BATCH       16   /* datagrams per recvmmsg(); PX_BURST is a multiple */
#define PX_LEARN_MAX   256  /* addresses learned from one answer; more are left unknown */
#define PX_NAMES       4096 /* names learned addresses point back to (a power of two) */
#define PX_WATCH       1024 /* blocked names resolved here; half of them may come from the policy */
#define PX_WATCH_BUSY  64   /* watch queries in flight at once, of PX_UDP_SLOTS */
#define PX_WATCH_MIN_S 30   /* re-resolve a watched name no sooner than this, whatever its TTL */
#define PX_WATCH_NEG_S 300  /* and this long after no address, or no upstream */
#define PX_SENDERS     4096 /* senders of queries not arrived yet (a power of two) */
#define PX_PROBE       8    /* slots in a bucket of senders; the oldest gives way */

/* The listeners of one network namespace; a listener's number ("lsock") is ns * L_N + kind,
 * ns 0 deployguard's own. */
enum { L_UDP4, L_UDP6, L_TCP4, L_TCP6, L_N };
/* The UDP sockets whose datagrams go out together (sendmmsg) at the end of a turn: the two UDP
 * listeners of each namespace (answers, queue 2 * ns and 2 * ns + 1) and the two upstream
 * sockets (queries). */
#define O_UP4	(2 * PROXY_NETNS)
#define O_UP6	(O_UP4 + 1)
#define PX_OUTQ (O_UP6 + 1)

struct px_out {
	int n;
	struct mmsghdr hdr[PX_BATCH];
	struct iovec iov[PX_BATCH];
	struct sockaddr_storage to[PX_BATCH];
	uint8_t buf[PX_BATCH][DNS_UDP_MAX]; /* pages a datagram never reached stay unmapped */
};
enum { T_FREE, T_READ, T_CONNECT, T_UPWRITE, T_UPREAD, T_WRITE };

struct who {
	long pid;
	char cmd[DG_CMD_MAX];
};

struct udp_slot {
	bool used;
	bool qblocked; /* forwarded although blocked: audit mode */
	int lsock;     /* -1: a watch query, for p->watch[watch] */
	int watch;
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
	bool qblocked;
	int up, tries;
	uint64_t deadline, born;
	size_t len, off, qlen;
	struct who who;
	struct dns_query q;
	uint8_t qbuf[2 + PX_QUERY_MAX];
	uint8_t buf[2 + DNS_UDP_MAX];
};

struct px_name {
	uint32_t id; /* generation << 12 | slot; 0 is free */
	char name[DG_NAME_MAX + 1];
};

/* A blocked name resolved here. */
struct watch {
	uint64_t due; /* CLOCK_MONOTONIC ms of the next resolution; UINT64_MAX while busy */
	uint32_t minttl;
	uint8_t busy; /* queries in flight: A and AAAA */
	bool seen;    /* resolved (or given up on) at least once */
	bool ports;   /* only port rules block it: its addresses are refused on those ports */
	char name[DG_NAME_MAX + 1];
};

/* Who sent a query the egress program saw leave, until the proxy reads the query. */
struct sender {
	uint64_t key; /* sender_key(); 0 is free */
	uint32_t pid, seq;
	char comm[16];
};

struct proxy {
	struct proxy_cfg cfg;
	struct log_quota q_malformed, q_udp_full, q_tcp_full;
	struct ring_buffer *queries; /* dg_queries, NULL until set */
	struct pmaps maps;	     /* the kernel's policy maps, -1 until set */
	struct sender *senders;	     /* PX_SENDERS */
	uint32_t sender_seq;
	int lfd[PROXY_NETNS * L_N];
	int nns;    /* namespaces with listeners, deployguard's own first */
	int own_ns; /* deployguard's network namespace, to come back to */
	uint16_t port;
	int ufd[2]; /* upstream UDP sockets, IPv4 and IPv6 */
	struct udp_slot udp[PX_UDP_SLOTS];
	int udp_hi, tcp_hi; /* one past the highest slot in use: slots are taken lowest first */
	uint16_t by_upid[65536];	    /* upstream id -> udp slot + 1 */
	struct tcp_slot *tcp;		    /* PX_TCP_SLOTS, allocated once */
	uint8_t pkt[PX_BATCH][DNS_UDP_MAX]; /* pages a datagram never reached stay unmapped */
	struct sockaddr_storage pkt_from[PX_BATCH];
	struct iovec pkt_iov[PX_BATCH];
	struct mmsghdr pkt_hdr[PX_BATCH]; /* set up in proxy_open */
	int pkt_n;			  /* datagrams the last udp_recv() read */
	struct px_out *out[PX_OUTQ];	  /* UDP sends of this turn, per socket; NULL: none */
	int16_t owner[PX_TCP_SLOTS];	  /* pollfd past the fixed ones -> slot * 2 + is_upstream */
	struct px_name *names;		  /* PX_NAMES */
	uint32_t name_gen;
	struct watch *watch; /* PX_WATCH */
	size_t nwatch, watch_busy, watch_unseen;
	uint64_t watch_due;		  /* earliest due of an idle entry */
	uint16_t watch_idx[2 * PX_WATCH]; /* hash of name -> index + 1 */
};

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
	p->maps = (struct pmaps){{-1, -1}, {-1, -1}, {-1, -1}, cfg->grace_s};
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
	p->names = calloc(PX_NAMES, sizeof(*p->names));
	p->watch = calloc(PX_WATCH, sizeof(*p->watch));
	p->senders = calloc(PX_SENDERS, sizeof(*p->senders));
	p->out[0] = calloc(1, sizeof(struct px_out));
	p->out[1] = calloc(1, sizeof(struct px_out));
	p->out[O_UP4] = calloc(1, sizeof(struct px_out));
	p->out[O_UP6] = calloc(1, sizeof(struct px_out));
	for (int i = 0; p->tcp && i < PX_TCP_SLOTS; i++)
		p->tcp[i].fd = p->tcp[i].ufd = -1;
	if (!p->tcp || !p->names || !p->watch || !p->senders || !p->out[0] || !p->out[1] ||
	    !p->out[O_UP4] || !p->out[O_UP6]) {
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

static uint64_t sender_key(uint16_t sport, uint16_t id, int proto, bool v6)
{
	return 1ull << 48 | (uint64_t)v6 << 40 | (uint64_t)(uint8_t)proto << 32 |
	       (uint32_t)sport << 16 | id;
}

/* The bucket of PX_PROBE slots key may take. */
static struct sender *sender_slots(struct proxy *p, uint64_t key)
{
	uint32_t h = (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 40);

	return &p->senders[h & (PX_SENDERS - PX_PROBE)];
}

/* A record of dg_queries: keep it in the slot of the same key, a free one, or the oldest. */
static int sender_put(void *ctx, void *data, size_t size)
{
	struct proxy *p = ctx;
	struct dg_sender *r = data;
	uint64_t key;
	struct sender *s, *take;

	if (size < sizeof(*r))
		return 0;
	key = sender_key(r->sport, r->id, r->proto, r->v6);
	s = take = sender_slots(p, key);
	for (int i = 0; i < PX_PROBE; i++) {
		if (s[i].key == key) {
			take = &s[i];
			break;
		}
		if (take->key &&
		    (!s[i].key || p->sender_seq - s[i].seq > p->sender_seq - take->seq))
			take = &s[i];
	}
	*take = (struct sender){key, r->pid, p->sender_seq++, {0}};
	memcpy(take->comm, r->comm, sizeof(take->comm));
	return 0;
}

/* Who sent the query with this key: the egress program told before the query arrived. */
static bool sender_take(struct proxy *p, uint64_t key, struct sender *out)
{
	struct sender *s;

	if (!p->queries)
		return false;
	ring_buffer__consume(p->queries);
	s = sender_slots(p, key);
	for (int i = 0; i < PX_PROBE; i++) {
		if (s[i].key == key) {
			*out = s[i];
			s[i].key = 0;
			return true;
		}
	}
	return false;
}

void proxy_set_maps(struct proxy *p, int queries_fd, const struct pmaps *maps)
{
	p->queries = ring_buffer__new(queries_fd, sender_put, p, NULL);
	if (!p->queries)
		log_warn(
		    "cannot read the senders of queries (dg_queries): nothing will be attributed");
	p->maps = *maps;
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
	free(p->names);
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

/* Which process sent this query (TCP: id 0, at accept). */
static void attribute(struct proxy *p, const struct sockaddr_storage *from, uint16_t id, int proto,
		      struct who *w)
{
	bool v6 = from->ss_family == AF_INET6;
	uint16_t sport = ntohs(v6 ? ((const struct sockaddr_in6 *)from)->sin6_port
				  : ((const struct sockaddr_in *)from)->sin_port);
	struct sender s;

	w->pid = -1;
	w->cmd[0] = '\0';
	if (!sender_take(p, sender_key(sport, proto == IPPROTO_UDP ? id : 0, proto, v6), &s))
		return;
	w->pid = s.pid;
	/* Now, while the sender waits for this answer and is alive, if it is not known yet. */
	proc_cmdline_cached((pid_t)s.pid, w->cmd, sizeof(w->cmd));
	if (!w->cmd[0])
		snprintf(w->cmd, sizeof(w->cmd), "[%.16s]", s.comm);
}

static enum audit_verdict verdict(const struct proxy *p, bool blocked)
{
	return !blocked ? AUDIT_ALLOWED : p->cfg.audit ? AUDIT_WOULD_BLOCK : AUDIT_BLOCKED;
}

/* A judged name: blocked or not, and the rule that says so (none when an allowlist lacks it);
 * via is the blocked dependency when the rule is a manifest's (a transient dependency). */
struct judgement {
	bool blocked;
	struct policy_src src;
	const char *via;
	char rule[300]; /* src as "FILE:LINE", once it is asked for */
};

/* The judging rule's "FILE:LINE", or NULL; formatted once for the log line and the summary. */
static const char *rule_of(struct judgement *j)
{
	if (!j->src.file)
		return NULL;
	if (!j->rule[0])
		policy_src_rule(&j->src, j->rule, sizeof(j->rule));
	return j->rule;
}

static bool judge_name(const struct proxy *p, const char *name, size_t len, struct judgement *j)
{
	const struct depends_entry *e;

	j->blocked = policy_judge(p->cfg.pol, p->cfg.mode, name, len, &j->src);
	j->via = NULL;
	j->rule[0] = '\0';
	if (!j->blocked && (e = depends_blocked(p->cfg.deps, name, len, &j->src))) {
		j->blocked = true;
		j->via = e->via;
	}
	return j->blocked;
}

bool proxy_judge(const struct proxy *p, const char *name, unsigned port, char *rule, size_t rulelen,
		 const char **comment, const char **via)
{
	struct policy_port_hit hits[POLICY_PORT_HITS];
	size_t len = strlen(name), n;
	struct judgement j;
	bool blocked = judge_name(p, name, len, &j);

	/* A port rule of the name decides for that port, as the kernel does at connect: blocks it
	 * (a blocklist), or allows only the ports it names (an allowlist). */
	n = port ? policy_match_ports(p->cfg.pol, name, len, hits, POLICY_PORT_HITS) : 0;
	for (size_t i = 0; i < n; i++)
		if (hits[i].port == port && hits[i].proto != IPPROTO_UDP) {
			blocked = p->cfg.mode->listed_blocks || j.via;
			j.src = hits[i].src;
			j.rule[0] = '\0';
			break;
		} else if (i == n - 1 && !p->cfg.mode->listed_blocks) {
			blocked = true; /* the name's port rules allow other ports */
		}
	snprintf(rule, rulelen, "%s", rule_of(&j) ? j.rule : "");
	*comment = j.src.file ? j.src.comment : NULL;
	*via = j.via;
	return blocked;
}

/* Count a judged name for the summary and the report: its class, for the log line. asked is the
 * name the client asked for when name is where its answer led. */
static const char *count_name(const struct proxy *p, const char *name, const char *asked,
			      const struct who *w, struct judgement *j, const char *reason)
{
	struct audit_hit h = {.kind = "dns",
			      .what = name,
			      .seen_as = {name, asked},
			      .verdict = verdict(p, j->blocked),
			      .pid = w->pid,
			      .cmd = w->cmd,
			      .reason = j->via ? "TransientDependency" : reason,
			      .comment = j->src.file ? j->src.comment : NULL,
			      .via = j->via,
			      .rule = rule_of(j)};

	return audit_hit(&h);
}

static void log_query(const struct proxy *p, const struct dns_query *q, const struct who *w,
		      const char *reason, struct judgement *j, const char *cls)
{
	char tbuf[8];
	struct audit_event e = {
	    .level = j->blocked ? "WARN" : "INFO",
	    .event = j->blocked ? "DNS BLOCKED" : "DNS ALLOWED",
	    .reason = j->via ? "TransientDependency" : reason,
	    .blocked = j->blocked ? !p->cfg.audit : 0,
	    .blocked_at = !j->blocked			? NULL
			  : p->cfg.action == PX_RESOLVE ? "connect"
							: "dns",
	    .domain = q->name,
	    .qtype = dns_type_name(q->qtype, tbuf),
	    .pid = w->pid,
	    .cmd = w->pid >= 0 ? w->cmd : NULL,
	    .port = -1,
	    .method = p->cfg.mode->name,
	    .class_ = cls,
	    .via = j->via,
	    .fresh = audit_last_fresh(),
	};

	if (!j->blocked && audit_verbose() < 1)
		return;
	if (j->src.file) {
		e.rule = rule_of(j);
		e.comment = j->src.comment;
	}
	audit_log(&e);
}

/* One line per malformed packet (within the quota): from "client" (with its process) or
 * "upstream". */
static void log_malformed(struct proxy *p, const char *from, const char *why, const struct who *w)
{
	struct audit_event e = {.level = "WARN",
				.event = "DNS MALFORMED",
				.reason = why,
				.blocked = -1,
				.blocked_at = from,
				.pid = w ? w->pid : -1,
				.cmd = w && w->pid >= 0 ? w->cmd : NULL,
				.port = -1};

	if (log_quota(&p->q_malformed, proxy_now_ms()))
		audit_log(&e);
}

/* The rcode a blocked query gets, or DNS_R_DROP for no answer at all. */
static int block_rcode(const struct proxy *p)
{
	static const int rcode[] = {[PX_NXDOMAIN] = DNS_R_NXDOMAIN,
				    [PX_REFUSED] = DNS_R_REFUSED,
				    [PX_SERVFAIL] = DNS_R_SERVFAIL,
				    [PX_DROP] = DNS_R_DROP};

	return rcode[p->cfg.action];
}

/* Whether a blocked query is answered here: not in audit mode, nor with --block-action resolve
 * (it goes upstream, and its answer's addresses are refused before the client has them). */
static bool answers_blocked(const struct proxy *p)
{
	return !p->cfg.audit && p->cfg.action != PX_RESOLVE;
}

/* What one answer says: the first blocked name it leads to, and the addresses it gives. */
struct walk_ctx {
	const struct proxy *p;
	const struct dns_query *q; /* its own name was judged with the query */
	struct judgement j;
	char name[DNS_TEXT_MAX];
	size_t naddrs;
	struct pmaps_addr addrs[PX_LEARN_MAX];
};

static int walk_item(void *ctx, enum dns_item kind, const char *name, size_t len,
		     const uint8_t *addr, uint32_t ttl)
{
	struct walk_ctx *w = ctx;

	if (kind != DNS_ITEM_NAME) {
		if (w->naddrs < PX_LEARN_MAX) {
			w->addrs[w->naddrs].v6 = kind == DNS_ITEM_AAAA;
			memcpy(w->addrs[w->naddrs].addr, addr, kind == DNS_ITEM_AAAA ? 16 : 4);
			w->addrs[w->naddrs++].ttl = ttl;
		}
		return 0;
	}
	if (w->j.blocked || (len == w->q->namelen && !memcmp(name, w->q->name, len)))
		return 0;
	if (judge_name(w->p, name, len, &w->j))
		memcpy(w->name, name, len + 1);
	return 0;
}

/* Walk an answer to q (whose id is the one we sent). 0, or -1 if malformed with *why set. */
static int walk_answer(const struct proxy *p, const uint8_t *pkt, size_t len,
		       const struct dns_query *q, struct walk_ctx *w, const char **why)
{
	w->p = p;
	w->q = q;
	w->j.blocked = false;
	w->naddrs = 0;
	return dns_walk_answer(pkt, len, q, walk_item, w, why) < 0 ? -1 : 0;
}

static uint32_t str_hash(const char *s)
{
	return fnv1a(s, strlen(s), FNV1A_INIT);
}

/* An id for name that the kernel keeps with each address learned from it. A newer name may take
 * an older one's slot; the older id then reads as forgotten. */
static uint32_t name_id(struct proxy *p, const char *name)
{
	uint32_t slot = str_hash(name) & (PX_NAMES - 1);
	struct px_name *n = &p->names[slot];

	if (strlen(name) > DG_NAME_MAX)
		return 0;
	if (n->id && !strcmp(n->name, name))
		return n->id;
	if (++p->name_gen >= 1u << 20)
		p->name_gen = 1;
	n->id = p->name_gen << 12 | slot;
	strcpy(n->name, name);
	return n->id;
}

const char *proxy_learned_name(const struct proxy *p, uint32_t id)
{
	const struct px_name *n = &p->names[id & (PX_NAMES - 1)];

	return id && n->id == id ? n->name : NULL;
}

/* What the addresses of a checked answer mean: those of a blocked name are refused (an allowlist
 * refuses them anyway); those of an allowed one are needed only when unknown ones are refused,
 * and then not when only a port rule allows the name. Port rules refuse or allow the
 * addresses of a name they match on their ports. */
/* The addresses of an answer for name, on the ports its port rules name. */
static void learn_ports(struct proxy *p, const struct walk_ctx *w, const char *name)
{
	struct policy_port_hit hits[POLICY_PORT_HITS];
	size_t n = policy_match_ports(p->cfg.pol, name, strlen(name), hits, POLICY_PORT_HITS);

	if (n && w->naddrs)
		pmaps_learn_ports(&p->maps, w->addrs, w->naddrs, hits, n,
				  p->cfg.mode->listed_blocks, name_id(p, name), name);
}

static void learn(struct proxy *p, const struct walk_ctx *w, bool block, const char *name)
{
	if (w->naddrs)
		pmaps_learn(&p->maps, w->addrs, w->naddrs, block, name_id(p, name), name);
}

static void learn_answer(struct proxy *p, const struct walk_ctx *w, bool blocked, const char *name)
{
	const struct policy *pol = p->cfg.pol;
	bool ports = !blocked && policy_has_ports(pol);

	if (blocked && p->cfg.mode->learn_blocked)
		learn(p, w, true, name);
	else if (!blocked && p->cfg.mode->deny_unknown &&
		 (p->cfg.mode->listed_blocks || !ports ||
		  policy_match_name(pol, name, strlen(name), NULL)))
		learn(p, w, false, name);
	if (ports)
		learn_ports(p, w, name);
} /* Forget the upstream id a slot holds, unless another slot has taken it since. */
static void udp_drop_upid(struct proxy *p, struct udp_slot *s)
{
	if (p->by_upid[s->upid] == s - p->udp + 1)
		p->by_upid[s->upid] = 0;
}

static void watch_settle(struct proxy *p, struct watch *w);

static void udp_free(struct proxy *p, struct udp_slot *s)
{
	udp_drop_upid(p, s);
	s->used = false;
	if (s->lsock < 0)
		watch_settle(p, &p->watch[s->watch]);
}

static struct udp_slot *udp_alloc(struct proxy *p)
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
static void udp_forward(struct proxy *p, struct udp_slot *s)
{
	const struct sockaddr_storage *up = &p->cfg.up[s->up];

	udp_drop_upid(p, s);
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

/* A watched name is done with one query: when both are, it is due again after the shortest TTL
 * its addresses had, within [PX_WATCH_MIN_S, PX_WATCH_NEG_S]. */
static void watch_settle(struct proxy *p, struct watch *w)
{
	uint32_t s = w->minttl < PX_WATCH_MIN_S ? PX_WATCH_MIN_S : w->minttl;

	p->watch_busy--;
	if (--w->busy)
		return;
	if (!w->seen) {
		w->seen = true;
		p->watch_unseen--;
	}
	w->due = proxy_now_ms() + 1000u * (s > PX_WATCH_NEG_S ? PX_WATCH_NEG_S : s);
	if (w->due < p->watch_due)
		p->watch_due = w->due;
}

static void watch_send(struct proxy *p, struct watch *w, uint16_t qtype)
{
	struct udp_slot *s = udp_alloc(p);
	const char *why;

	*s = (struct udp_slot){.used = true, .lsock = -1, .watch = (int)(w - p->watch)};
	s->born = proxy_now_ms();
	s->who.pid = -1;
	s->qlen = dns_build_query(w->name, qtype, 0, s->qbuf, sizeof(s->qbuf));
	dns_parse_query(s->qbuf, s->qlen, &s->q, &why);
	w->busy++;
	p->watch_busy++;
	udp_forward(p, s);
}

/* Resolve every watched name that is due, as far as PX_WATCH_BUSY allows. */
static void watch_run(struct proxy *p, uint64_t now)
{
	if (now < p->watch_due || p->watch_busy + 2 > PX_WATCH_BUSY || !p->cfg.nup)
		return;
	p->watch_due = UINT64_MAX;
	for (size_t i = 0; i < p->nwatch; i++) {
		struct watch *w = &p->watch[i];

		if (w->busy)
			continue;
		if (w->due <= now && p->watch_busy + 2 <= PX_WATCH_BUSY) {
			w->due = UINT64_MAX;
			w->minttl = UINT32_MAX;
			watch_send(p, w, DNS_T_A);
			watch_send(p, w, DNS_T_AAAA);
		} else if (w->due < p->watch_due) {
			p->watch_due = w->due;
		}
	}
}

/* Watch a blocked name (not under an allowlist: there every unknown address is refused); ports:
 * only its port rules block it. */
static void watch_add(struct proxy *p, const char *name, size_t len, bool ports)
{
	uint32_t h = str_hash(name);
	size_t mask = sizeof(p->watch_idx) / sizeof(p->watch_idx[0]) - 1;
	uint16_t *slot = &p->watch_idx[h & mask];

	if (!p->cfg.mode->learn_blocked || len > DG_NAME_MAX || strchr(name, '\\'))
		return;
	for (; *slot; slot = &p->watch_idx[++h & mask]) {
		struct watch *w = &p->watch[*slot - 1];

		if (!strcmp(w->name, name)) {
			if (w->ports && !ports) /* blocked whole now: due again, for every port */
				w->ports = false, w->due = w->busy ? w->due : 0, p->watch_due = 0;
			return;
		}
	}
	if (p->nwatch == PX_WATCH) {
		log_debug("not resolving %s: already watching %d blocked names", name, PX_WATCH);
		return;
	}
	memcpy(p->watch[p->nwatch].name, name, len + 1);
	p->watch[p->nwatch].ports = ports;
	*slot = (uint16_t)++p->nwatch;
	p->watch_unseen++;
	p->watch_due = 0;
}

void proxy_watch_policy(struct proxy *p)
{
	const struct policy *pol = p->cfg.pol;
	size_t n = pol->nnames < PX_WATCH / 2 ? pol->nnames : PX_WATCH / 2;

	if (!p->cfg.mode->learn_blocked)
		return;
	for (size_t i = 0; i < n; i++) {
		const char *rec = pol->arena + pol->names[i].off;
		char name[DG_NAME_MAX + 1];
		size_t len = (uint8_t)rec[0];

		bool ports = false;

		for (uint32_t k = pol->names[i].ports; k && !ports; k = pol->ports[k - 1].next)
			ports = pol->ports[k - 1].covers & POLICY_SELF;
		if (!(pol->names[i].covers & POLICY_SELF) && !ports)
			continue; /* "*.NAME": NAME itself is not blocked */
		memcpy(name, rec + 1, len);
		name[len] = '\0';
		watch_add(p, name, len, !(pol->names[i].covers & POLICY_SELF));
	}
	if (n < pol->nnames)
		log_info("resolving the first %zu of %zu blocked names for their addresses; the "
			 "others are resolved when the deploy asks for them",
			 n, pol->nnames);
	for (size_t i = 0; p->cfg.deps && i < p->cfg.deps->n; i++)
		if (p->cfg.deps->e[i].via)
			watch_add(p, p->cfg.deps->e[i].service, strlen(p->cfg.deps->e[i].service),
				  false);
	watch_run(p, proxy_now_ms());
}

static const char *learned_name(const void *ctx, uint32_t id)
{
	return proxy_learned_name(ctx, id);
}

static bool blocked_now(const void *ctx, const char *name)
{
	struct judgement j;

	return judge_name(ctx, name, strlen(name), &j);
}

void proxy_policy_changed(struct proxy *p)
{
	const struct pmaps_names names = {learned_name, blocked_now, p};

	for (int i = 0; i < PX_UDP_SLOTS; i++) {
		if (p->udp[i].used && p->udp[i].lsock < 0) { /* the old policy's watch queries */
			udp_drop_upid(p, &p->udp[i]);
			p->udp[i].used = false;
		}
	}
	p->nwatch = p->watch_busy = p->watch_unseen = 0;
	memset(p->watch_idx, 0, sizeof(p->watch_idx));
	pmaps_prune_learned(&p->maps, p->cfg.pol, &names);
	proxy_watch_policy(p);
}

size_t proxy_watch_pending(const struct proxy *p)
{
	return p->watch_unseen;
}

/* An answer to a watch query: its addresses are a blocked name's. */
static void watch_answer(struct proxy *p, struct udp_slot *s, const uint8_t *pkt, size_t len)
{
	struct watch *w = &p->watch[s->watch];
	struct walk_ctx wc;
	const char *why;

	if (walk_answer(p, pkt, len, &s->q, &wc, &why)) {
		log_malformed(p, "upstream", why, NULL);
		return;
	}
	for (size_t i = 0; i < wc.naddrs; i++)
		if (wc.addrs[i].ttl < w->minttl)
			w->minttl = wc.addrs[i].ttl;
	if (w->ports)
		learn_ports(p, &wc, w->name);
	else
		learn(p, &wc, true, w->name);
	for (size_t i = 0; i < wc.naddrs; i++) /* a name the deploy asked for: its row says it */
		audit_resolved(w->name, wc.addrs[i].v6, wc.addrs[i].addr);
	log_debug("blocked name %s. gave %zu addresses%s", w->name, wc.naddrs,
		  !wc.naddrs ? ""
		  : w->ports ? ", now refused on its rules' ports"
			     : ", now refused");
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

/* The DoH side doors: the canary that keeps browsers' automatic DoH off (RFC 8484's deployments
 * ask it; NXDOMAIN means "do not"), and DDR discovery of the resolver's encrypted endpoint
 * (RFC 9462; refused, so there is none to move to). The reason for the log, or NULL. */
static const char *side_door(const struct dns_query *q, int *rcode)
{
	if (!strcasecmp(q->name, "use-application-dns.net")) {
		*rcode = DNS_R_NXDOMAIN;
		return "DoHCanary";
	}
	if (!strcasecmp(q->name, "_dns.resolver.arpa")) {
		*rcode = DNS_R_REFUSED;
		return "DDRDiscovery";
	}
	return NULL;
}

#define PX_FORWARD INT_MIN /* judge_query: not answered here */

/* Judge a client's query, log and count it: the rcode to answer it with here (DNS_R_DROP: no
 * answer at all), or PX_FORWARD to send it upstream. *blocked says whether the policy blocks it; a
 * blocked name is watched for its addresses. */
static int judge_query(struct proxy *p, const struct dns_query *q, const struct who *w,
		       bool *blocked)
{
	struct judgement j = {.rule = ""};
	int rcode = block_rcode(p);
	const char *door = side_door(q, &rcode), *reason = door ? door : "FromDNSRequest";

	if (door)
		j.blocked = true;
	else
		judge_name(p, q->name, q->namelen, &j);
	log_query(p, q, w, reason, &j, count_name(p, q->name, NULL, w, &j, reason));
	if (j.blocked && !door)
		watch_add(p, q->name, q->namelen, false);
	*blocked = j.blocked;
	if (!j.blocked || p->cfg.audit || (!door && !answers_blocked(p)))
		return PX_FORWARD;
	return rcode;
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

	attribute(p, from, q.id, IPPROTO_UDP, &w);
	if (rc == DNS_R_NOERROR && len > PX_QUERY_MAX)
		rc = DNS_R_FORMERR, why = "query too large";
	if (rc != DNS_R_NOERROR) {
		log_malformed(p, "client", why, &w);
		udp_answer(p, lsock, from, fromlen, pkt, &q, rc);
		return;
	}
	if ((rc = judge_query(p, &q, &w, &blocked)) != PX_FORWARD) {
		udp_answer(p, lsock, from, fromlen, pkt, &q, rc);
		return;
	}
	s = udp_alloc(p);
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

/* Check an upstream answer, teach the kernel its addresses, and decide what the client gets:
 * the answer itself with the client's id back (returns 0), a blocked answer built in out (returns
 * its length), or nothing at all (returns SIZE_MAX, for --block-action drop). */
static size_t vet_answer(struct proxy *p, uint8_t *pkt, size_t len, const uint8_t *query,
			 const struct dns_query *q, const struct who *w, bool qblocked,
			 uint8_t *out, size_t outlen)
{
	struct walk_ctx wc;
	struct dns_query as;
	const char *why;

	dns_query_copy(&as, q);
	as.id = (uint16_t)(pkt[0] << 8 | pkt[1]); /* the walker matches the id we sent */
	if (walk_answer(p, pkt, len, &as, &wc, &why)) {
		log_malformed(p, "upstream", why, w);
		return dns_build_reply(query, q, DNS_R_SERVFAIL, out, outlen);
	}
	learn_answer(p, &wc, qblocked || wc.j.blocked, wc.j.blocked ? wc.name : q->name);
	for (size_t i = 0; i < wc.naddrs; i++)
		audit_resolved(q->name, wc.addrs[i].v6, wc.addrs[i].addr);
	if (wc.j.blocked) {
		struct dns_query target;

		dns_query_copy(&target, q);
		target.namelen = strlen(wc.name);
		memcpy(target.name, wc.name, target.namelen + 1);
		log_query(p, &target, w, "FromDNSResponse", &wc.j,
			  count_name(p, wc.name, q->name, w, &wc.j, "FromDNSResponse"));
		if (answers_blocked(p))
			return block_rcode(p) == DNS_R_DROP
				   ? SIZE_MAX
				   : dns_build_reply(query, q, block_rcode(p), out, outlen);
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
		watch_answer(p, s, pkt, n);
		udp_free(p, s);
		return;
	}
	olen = vet_answer(p, pkt, n, s->qbuf, &s->q, &s->who, s->qblocked, out, sizeof(out));
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
			udp_forward(p, s);
		}
		hi = i + 1;
		next = s->deadline < next ? s->deadline : next;
	}
	p->udp_hi = hi;
	return next;
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
	attribute(p, from, 0, IPPROTO_TCP, &s->who);
}

static void tcp_accept(struct proxy *p, int lsock)
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
		log_malformed(p, "client", why, &s->who);
		if (rc == DNS_R_DROP)
			tcp_close(s);
		else
			tcp_answer_here(s, pkt, rc);
		return;
	}
	if ((rc = judge_query(p, &s->q, &s->who, &s->qblocked)) != PX_FORWARD) {
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
	size_t olen = vet_answer(p, s->buf + 2, s->len - 2, s->qbuf + 2, &s->q, &s->who,
				 s->qblocked, out, sizeof(out));

	if (olen == 0)
		tcp_respond(s, s->buf + 2, s->len - 2);
	else if (olen != SIZE_MAX)
		tcp_respond(s, out, olen);
	else
		tcp_answer_here(s, s->qbuf + 2, DNS_R_DROP);
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
			s->deadline = proxy_now_ms() + PX_TCP_IDLE_MS;
		}
		break;
	}
}

static void tcp_timeouts(struct proxy *p, uint64_t now)
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

int proxy_prepare(struct proxy *p, struct pollfd *pfd, int max, int *timeout_ms)
{
	uint64_t now = proxy_now_ms(), next;
	int n = 0, hi = 0;

	next = udp_timeouts(p, now);
	tcp_timeouts(p, now);
	watch_run(p, now);
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
				tcp_accept(p, lsock);
		} else if (i < fixed) {
			udp_upstream(p, pfd[i].fd);
		} else {
			tcp_event(p, &p->tcp[p->owner[i - fixed] / 2], p->owner[i - fixed] % 2, ev);
		}
	}
	out_flush_all(p);
}
