/*
 * proxy_judge.c: the proxy's judgement of a query: who sent it (the senders the egress program
 * saw, read from dg_queries), whether its name is blocked (policy_judge, then the manifests),
 * its log line and its count, what an answer leads to (a CNAME into a blocked name blocks the
 * whole answer), and what its addresses teach the kernel (policymaps.c).
 */
#define _GNU_SOURCE
#include "proxy_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "bpf_prog.h"
#include "depends.h"
#include "hash.h"
#include "proc.h"

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
int px_sender_put(void *ctx, void *data, size_t size)
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

/* Which process sent this query (TCP: id 0, at accept). */
void px_attribute(struct proxy *p, const struct sockaddr_storage *from, uint16_t id, int proto,
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

/* The judging rule's "FILE:LINE", or NULL; formatted once for the log line and the summary. */
static const char *rule_of(struct judgement *j)
{
	if (!j->src.file)
		return NULL;
	if (!j->rule[0])
		policy_src_rule(&j->src, j->rule, sizeof(j->rule));
	return j->rule;
}

bool px_judge_name(const struct proxy *p, const char *name, size_t len, struct judgement *j)
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
	bool blocked = px_judge_name(p, name, len, &j);

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
const char *px_count_name(const struct proxy *p, const char *name, const char *asked,
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

void px_log_query(const struct proxy *p, const struct dns_query *q, const struct who *w,
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
void px_log_malformed(struct proxy *p, const char *from, const char *why, const struct who *w)
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
int px_block_rcode(const struct proxy *p)
{
	static const int rcode[] = {[PX_NXDOMAIN] = DNS_R_NXDOMAIN,
				    [PX_REFUSED] = DNS_R_REFUSED,
				    [PX_SERVFAIL] = DNS_R_SERVFAIL,
				    [PX_DROP] = DNS_R_DROP};

	return rcode[p->cfg.action];
}

/* Whether a blocked query is answered here: not in audit mode, nor with --block-action resolve
 * (it goes upstream, and its answer's addresses are refused before the client has them). */
bool px_answers_blocked(const struct proxy *p)
{
	return !p->cfg.audit && p->cfg.action != PX_RESOLVE;
}

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
	if (px_judge_name(w->p, name, len, &w->j))
		memcpy(w->name, name, len + 1);
	return 0;
}

/* Walk an answer to q (whose id is the one we sent). 0, or -1 if malformed with *why set. */
int px_walk_answer(const struct proxy *p, const uint8_t *pkt, size_t len, const struct dns_query *q,
		   struct walk_ctx *w, const char **why)
{
	w->p = p;
	w->q = q;
	w->j.blocked = false;
	w->naddrs = 0;
	return dns_walk_answer(pkt, len, q, walk_item, w, why) < 0 ? -1 : 0;
}

uint32_t px_str_hash(const char *s)
{
	return fnv1a(s, strlen(s), FNV1A_INIT);
}

/* The addresses of an answer for name, on the ports its port rules name. */
void px_learn_ports(struct proxy *p, const struct walk_ctx *w, const char *name)
{
	struct policy_port_hit hits[POLICY_PORT_HITS];
	size_t n = policy_match_ports(p->cfg.pol, name, strlen(name), hits, POLICY_PORT_HITS);

	if (n && w->naddrs && p->maps)
		pmaps_learn_ports(p->maps, w->addrs, w->naddrs, hits, n, p->cfg.mode->listed_blocks,
				  name);
}

void px_learn(struct proxy *p, const struct walk_ctx *w, bool block, const char *name)
{
	if (w->naddrs && p->maps)
		pmaps_learn(p->maps, w->addrs, w->naddrs, block, name);
}

/* What the addresses of a checked answer mean: those of a blocked name are refused (an allowlist
 * refuses them anyway); those of an allowed one are needed only when unknown ones are refused,
 * and then not when only a port rule allows the name. Port rules refuse or allow the
 * addresses of a name they match on their ports. */
void px_learn_answer(struct proxy *p, const struct walk_ctx *w, bool blocked, const char *name)
{
	const struct policy *pol = p->cfg.pol;
	bool ports = !blocked && policy_has_ports(pol);

	if (blocked && p->cfg.mode->learn_blocked)
		px_learn(p, w, true, name);
	else if (!blocked && p->cfg.mode->deny_unknown &&
		 (p->cfg.mode->listed_blocks || !ports ||
		  policy_match_name(pol, name, strlen(name), NULL)))
		px_learn(p, w, false, name);
	if (ports)
		px_learn_ports(p, w, name);
} /* Forget the upstream id a slot holds, unless another slot has taken it since. */

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

/* Judge a client's query, log and count it: the rcode to answer it with here (DNS_R_DROP: no
 * answer at all), or PX_FORWARD to send it upstream. *blocked says whether the policy blocks it; a
 * blocked name is watched for its addresses. */
int px_judge_query(struct proxy *p, const struct dns_query *q, const struct who *w, bool *blocked)
{
	struct judgement j = {.rule = ""};
	int rcode = px_block_rcode(p);
	const char *door = side_door(q, &rcode), *reason = door ? door : "FromDNSRequest";

	if (door)
		j.blocked = true;
	else
		px_judge_name(p, q->name, q->namelen, &j);
	px_log_query(p, q, w, reason, &j, px_count_name(p, q->name, NULL, w, &j, reason));
	if (j.blocked && !door)
		px_watch_add(p, q->name, q->namelen, false);
	*blocked = j.blocked;
	if (!j.blocked || p->cfg.audit || (!door && !px_answers_blocked(p)))
		return PX_FORWARD;
	return rcode;
}
