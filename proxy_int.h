/* proxy_int.h: the proxy's own state and the calls between its files: proxy.c (sockets, the
 * loop, UDP), proxy_judge.c (who asked, the judgement, the log, what answers teach the kernel),
 * proxy_watch.c (blocked names resolved here) and proxy_tcp.c (TCP clients). Only they include
 * it. */
#ifndef DG_PROXY_INT_H
#define DG_PROXY_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <bpf/libbpf.h>

#include "dns.h"
#include "log.h"
#include "policymaps.h"
#include "proc.h"
#include "proxy.h"

#define PX_UDP_SLOTS   512
#define PX_TCP_SLOTS   PROXY_TCP_CLIENTS
#define PX_QUERY_MAX   4096 /* larger queries get FORMERR; real ones are far smaller */
#define PX_TRY_MS      1500 /* per upstream try; a client's own retry comes at 5 s (glibc) */
#define PX_TRIES       3
#define PX_TCP_IDLE_MS 10000
#define PX_BURST       64   /* datagrams read per socket per turn, so one flood cannot starve */
#define PX_BATCH       16   /* datagrams per recvmmsg(); PX_BURST is a multiple */
#define PX_LEARN_MAX   256  /* addresses learned from one answer; more are left unknown */
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

enum { T_FREE, T_READ, T_CONNECT, T_UPWRITE, T_UPREAD, T_WRITE }; /* a TCP slot's state */

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
	struct pmaps *maps;	     /* the kernel's policy maps, NULL until set */
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
	struct watch *watch;		  /* PX_WATCH */
	size_t nwatch, watch_busy, watch_unseen;
	uint64_t watch_due;		  /* earliest due of an idle entry */
	uint16_t watch_idx[2 * PX_WATCH]; /* hash of name -> index + 1 */
};

/* A judged name: blocked or not, and the rule that says so (none when an allowlist lacks it);
 * via is the blocked dependency when the rule is a manifest's (a transient dependency). */
struct judgement {
	bool blocked;
	struct policy_src src;
	const char *via;
	char rule[300]; /* src as "FILE:LINE", once it is asked for */
};

/* What one answer says: the first blocked name it leads to, and the addresses it gives. */
struct walk_ctx {
	const struct proxy *p;
	const struct dns_query *q; /* its own name was judged with the query */
	struct judgement j;
	char name[DNS_TEXT_MAX];
	size_t naddrs;
	struct pmaps_addr addrs[PX_LEARN_MAX];
};

/* A record of dg_queries (the ring buffer's callback). */
int px_sender_put(void *ctx, void *data, size_t size);

#define PX_FORWARD INT_MIN /* px_judge_query: not answered here */

struct udp_slot *px_udp_alloc(struct proxy *p);
void px_udp_drop_upid(struct proxy *p, struct udp_slot *s);
/* Send (or resend) a slot's query to its current upstream under a fresh id. */
void px_udp_forward(struct proxy *p, struct udp_slot *s);
/* Check an upstream answer, teach the kernel its addresses, and decide what the client gets:
 * the answer itself with the client's id back (returns 0), a blocked answer built in out (returns
 * its length), or nothing at all (returns SIZE_MAX, for --block-action drop). */
size_t px_vet_answer(struct proxy *p, uint8_t *pkt, size_t len, const uint8_t *query,
		     const struct dns_query *q, const struct who *w, bool qblocked, uint8_t *out,
		     size_t outlen);
/* Whether a blocked query is answered here: not in audit mode, nor with --block-action resolve
 * (it goes upstream, and its answer's addresses are refused before the client has them). */
bool px_answers_blocked(const struct proxy *p);
/* Which process sent this query (TCP: id 0, at accept). */
void px_attribute(struct proxy *p, const struct sockaddr_storage *from, uint16_t id, int proto,
		  struct who *w);
/* The rcode a blocked query gets, or DNS_R_DROP for no answer at all. */
int px_block_rcode(const struct proxy *p);
/* Count a judged name for the summary and the report: its class, for the log line. asked is the
 * name the client asked for when name is where its answer led. */
const char *px_count_name(const struct proxy *p, const char *name, const char *asked,
			  const struct who *w, struct judgement *j, const char *reason);
/* Judge a client's query, log and count it: the rcode to answer it with here (DNS_R_DROP: no
 * answer at all), or PX_FORWARD to send it upstream. *blocked says whether the policy blocks it; a
 * blocked name is watched for its addresses. */
int px_judge_query(struct proxy *p, const struct dns_query *q, const struct who *w, bool *blocked);
void px_learn_answer(struct proxy *p, const struct walk_ctx *w, bool blocked, const char *name);
/* One line per malformed packet (within the quota): from "client" (with its process) or
 * "upstream". */
void px_log_malformed(struct proxy *p, const char *from, const char *why, const struct who *w);
void px_log_query(const struct proxy *p, const struct dns_query *q, const struct who *w,
		  const char *reason, struct judgement *j, const char *cls);
/* Walk an answer to q (whose id is the one we sent). 0, or -1 if malformed with *why set. */
int px_walk_answer(const struct proxy *p, const uint8_t *pkt, size_t len, const struct dns_query *q,
		   struct walk_ctx *w, const char **why);
bool px_judge_name(const struct proxy *p, const char *name, size_t len, struct judgement *j);
/* The addresses of an answer for name, on the ports its port rules name. */
void px_learn_ports(struct proxy *p, const struct walk_ctx *w, const char *name);
void px_learn(struct proxy *p, const struct walk_ctx *w, bool block, const char *name);
uint32_t px_str_hash(const char *s);
/* An answer to a watch query: its addresses are a blocked name's. */
void px_watch_answer(struct proxy *p, struct udp_slot *s, const uint8_t *pkt, size_t len);
/* Resolve every watched name that is due, as far as PX_WATCH_BUSY allows. */
void px_watch_run(struct proxy *p, uint64_t now);
/* A watched name is done with one query: when both are, it is due again after the shortest TTL
 * its addresses had, within [PX_WATCH_MIN_S, PX_WATCH_NEG_S]. */
void px_watch_settle(struct proxy *p, struct watch *w);
/* Watch a blocked name (not under an allowlist: there every unknown address is refused); ports:
 * only its port rules block it. */
void px_watch_add(struct proxy *p, const char *name, size_t len, bool ports);
void px_tcp_accept(struct proxy *p, int lsock);
/* Drive one TCP slot on readiness of its client (up = false) or upstream socket. */
void px_tcp_event(struct proxy *p, struct tcp_slot *s, bool up, short revents);
void px_tcp_timeouts(struct proxy *p, uint64_t now);

#endif
