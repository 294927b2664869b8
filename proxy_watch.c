/*
 * proxy_watch.c: blocked names resolved by the proxy itself ("watched"), at start and again as
 * their TTLs run out, so that an address pinned in a script is refused too; and what a policy
 * change (SIGHUP) undoes and resolves again.
 */
#define _GNU_SOURCE
#include "proxy_int.h"

#include <string.h>

#include "audit.h"
#include "bpf_prog.h"

/* A watched name is done with one query: when both are, it is due again after the shortest TTL
 * its addresses had, within [PX_WATCH_MIN_S, PX_WATCH_NEG_S]. */
void px_watch_settle(struct proxy *p, struct watch *w)
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
	struct udp_slot *s = px_udp_alloc(p);
	const char *why;

	*s = (struct udp_slot){.used = true, .lsock = -1, .watch = (int)(w - p->watch)};
	s->born = proxy_now_ms();
	s->who.pid = -1;
	s->qlen = dns_build_query(w->name, qtype, 0, s->qbuf, sizeof(s->qbuf));
	dns_parse_query(s->qbuf, s->qlen, &s->q, &why);
	w->busy++;
	p->watch_busy++;
	px_udp_forward(p, s);
}

/* Resolve every watched name that is due, as far as PX_WATCH_BUSY allows. */
void px_watch_run(struct proxy *p, uint64_t now)
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
void px_watch_add(struct proxy *p, const char *name, size_t len, bool ports)
{
	uint32_t h = px_str_hash(name);
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
		px_watch_add(p, name, len, !(pol->names[i].covers & POLICY_SELF));
	}
	if (n < pol->nnames)
		log_info("resolving the first %zu of %zu blocked names for their addresses; the "
			 "others are resolved when the deploy asks for them",
			 n, pol->nnames);
	for (size_t i = 0; p->cfg.deps && i < p->cfg.deps->n; i++)
		if (p->cfg.deps->e[i].via)
			px_watch_add(p, p->cfg.deps->e[i].service,
				     strlen(p->cfg.deps->e[i].service), false);
	px_watch_run(p, proxy_now_ms());
}

static bool blocked_now(const void *ctx, const char *name)
{
	struct judgement j;

	return px_judge_name(ctx, name, strlen(name), &j);
}

void proxy_policy_changed(struct proxy *p)
{
	const struct pmaps_judge judge = {blocked_now, p};

	for (int i = 0; i < PX_UDP_SLOTS; i++) {
		if (p->udp[i].used && p->udp[i].lsock < 0) { /* the old policy's watch queries */
			px_udp_drop_upid(p, &p->udp[i]);
			p->udp[i].used = false;
		}
	}
	p->nwatch = p->watch_busy = p->watch_unseen = 0;
	memset(p->watch_idx, 0, sizeof(p->watch_idx));
	if (p->maps)
		pmaps_prune_learned(p->maps, p->cfg.pol, &judge);
	proxy_watch_policy(p);
}

size_t proxy_watch_pending(const struct proxy *p)
{
	return p->watch_unseen;
}

/* An answer to a watch query: its addresses are a blocked name's. */
void px_watch_answer(struct proxy *p, struct udp_slot *s, const uint8_t *pkt, size_t len)
{
	struct watch *w = &p->watch[s->watch];
	struct walk_ctx wc;
	const char *why;

	if (px_walk_answer(p, pkt, len, &s->q, &wc, &why)) {
		px_log_malformed(p, "upstream", why, NULL);
		return;
	}
	for (size_t i = 0; i < wc.naddrs; i++)
		if (wc.addrs[i].ttl < w->minttl)
			w->minttl = wc.addrs[i].ttl;
	if (w->ports)
		px_learn_ports(p, &wc, w->name);
	else
		px_learn(p, &wc, true, w->name);
	for (size_t i = 0; i < wc.naddrs; i++) /* a name the deploy asked for: its row says it */
		audit_resolved(w->name, wc.addrs[i].v6, wc.addrs[i].addr);
	log_debug("blocked name %s. gave %zu addresses%s", w->name, wc.naddrs,
		  !wc.naddrs ? ""
		  : w->ports ? ", now refused on its rules' ports"
			     : ", now refused");
}
