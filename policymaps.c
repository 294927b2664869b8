/*
 * policymaps.c: the kernel's policy maps, and the only writer of their entries. Address rules go
 * into LPM tries from the policy; the proxy hands over what answers teach (the addresses of
 * blocked and allowed names, and of names with port rules); after a policy change, what the new
 * policy no longer says is pruned here, from both sources.
 */
#define _GNU_SOURCE
#include "policymaps.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <bpf/bpf.h>

#include "bpf_prog.h"
#include "hash.h"
#include "log.h"

#define PRUNE_ROUND 4096 /* stale keys deleted per round of a walk */
#define PMAPS_NAMES 4096 /* names learned addresses point back to (a power of two) */

struct pmaps_name {
	uint32_t id; /* generation << 12 | slot; 0 is free */
	char name[DG_NAME_MAX + 1];
};

int pmaps_open(struct pmaps *m, const int *map_fd, unsigned grace_s)
{
	*m = (struct pmaps){.grace_s = grace_s, .names = calloc(PMAPS_NAMES, sizeof(*m->names))};
	for (int v6 = 0; v6 < 2; v6++) {
		m->nets[v6] = map_fd[M_NETS4 + v6];
		m->ports[v6] = map_fd[M_PORTS4 + v6];
		m->learn[v6] = map_fd[M_LEARN4 + v6];
	}
	return m->names ? 0 : -ENOMEM;
}

void pmaps_close(struct pmaps *m)
{
	free(m->names);
	m->names = NULL;
}

/* An id for name that the kernel keeps with each address learned from it. A newer name may take
 * an older one's slot; the older id then reads as forgotten. */
static uint32_t name_id(struct pmaps *m, const char *name)
{
	uint32_t slot = fnv1a(name, strlen(name), FNV1A_INIT) & (PMAPS_NAMES - 1);
	struct pmaps_name *n = &m->names[slot];

	if (strlen(name) > DG_NAME_MAX)
		return 0;
	if (n->id && !strcmp(n->name, name))
		return n->id;
	if (++m->name_gen >= 1u << 20)
		m->name_gen = 1;
	n->id = m->name_gen << 12 | slot;
	strcpy(n->name, name);
	return n->id;
}

const char *pmaps_name(const struct pmaps *m, uint32_t id)
{
	const struct pmaps_name *n = m->names ? &m->names[id & (PMAPS_NAMES - 1)] : NULL;

	return id && n && n->id == id ? n->name : NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* An address rule with a port: its entries of dg_ports4/6, one per family and protocol (keys
 * are struct dg_plpm6; an IPv4 key is its first 12 bytes). */
static size_t port_keys(const struct policy_net *n, struct dg_plpm6 keys[4], int fam[4])
{
	static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP};
	size_t k = 0;

	for (int v6 = 0; v6 < 2; v6++) {
		if (n->family != AF_UNSPEC && n->family != (v6 ? AF_INET6 : AF_INET))
			continue;
		for (int i = 0; i < 2; i++) {
			if (n->proto && n->proto != protos[i])
				continue;
			keys[k] = (struct dg_plpm6){
			    32 + (uint32_t)n->prefix, htons(n->port), protos[i], {0}};
			memcpy(keys[k].addr, n->addr, v6 ? 16 : 4);
			fam[k++] = v6;
		}
	}
	return k;
}

/* The value is the rule's index, for rule=FILE:LINE. */
int pmaps_fill_rules(const struct pmaps *m, const struct policy *pol)
{
	for (size_t i = 0; i < pol->nnets; i++) {
		const struct policy_net *n = &pol->nets[i];
		struct dg_lpm6 key = {n->prefix, {0}}; /* an IPv4 key is its first 8 bytes */
		struct dg_port v = {UINT64_MAX, (uint32_t)i, 0};
		struct dg_plpm6 keys[4];
		uint32_t idx = (uint32_t)i;
		int fam[4], err = 0;

		if (n->port) {
			for (size_t k = 0, nk = port_keys(n, keys, fam); k < nk && !err; k++)
				err = bpf_map_update_elem(m->ports[fam[k]], &keys[k], &v, BPF_ANY);
		} else {
			memcpy(key.addr, n->addr, n->family == AF_INET ? 4 : 16);
			err = bpf_map_update_elem(m->nets[n->family == AF_INET6], &key, &idx,
						  BPF_ANY);
		}
		if (err) {
			log_warnx("failed to add address rule %zu to the kernel: %s", i,
				  strerror(-err));
			return err;
		}
	}
	return 0;
}

/* Is key (of dg_nets, or of dg_ports when port) an entry of address rule idx of pol? */
static bool net_entry(const struct policy *pol, uint32_t idx, bool v6, bool port, const void *key)
{
	const struct policy_net *pn = idx < pol->nnets ? &pol->nets[idx] : NULL;
	struct dg_plpm6 keys[4];
	int fam[4];

	if (!pn || !pn->port != !port)
		return false;
	if (!port) {
		const struct dg_lpm6 *k = key;

		return pn->family == (v6 ? AF_INET6 : AF_INET) && pn->prefix == k->prefixlen &&
		       !memcmp(pn->addr, k->addr, v6 ? 16 : 4);
	}
	for (size_t i = 0, n = port_keys(pn, keys, fam); i < n; i++)
		if (fam[i] == v6 && !memcmp(&keys[i], key, v6 ? 24 : 12))
			return true;
	return false;
}

/* Whether an entry of an LPM trie is stale: the walk below deletes those. */
typedef bool stale_fn(const void *key, const void *value, const void *ctx);

/* Walk trie fd, deleting every stale entry; in rounds, since a trie's next key after a deleted
 * one starts over. */
static void prune_trie(int fd, size_t vlen, stale_fn *stale, const void *ctx)
{
	static struct dg_plpm6 gone[PRUNE_ROUND];
	struct dg_plpm6 key, next;
	uint8_t v[32];
	size_t n;
	void *at;

	if (fd < 0 || vlen > sizeof(v))
		return;
	do {
		for (n = 0, at = NULL; n < PRUNE_ROUND && !bpf_map_get_next_key(fd, at, &next);) {
			key = next;
			at = &key;
			if (!bpf_map_lookup_elem(fd, &key, v) && stale(&key, v, ctx))
				gone[n++] = key;
		}
		for (size_t i = 0; i < n; i++)
			bpf_map_delete_elem(fd, &gone[i]);
	} while (n == PRUNE_ROUND);
}

struct rule_walk {
	const struct policy *pol;
	bool v6;
};

static bool stale_net(const void *key, const void *v, const void *ctx)
{
	const struct rule_walk *w = ctx;

	return !net_entry(w->pol, *(const uint32_t *)v, w->v6, false, key);
}

static bool stale_port_rule(const void *key, const void *v, const void *ctx)
{
	const struct rule_walk *w = ctx;
	const struct dg_port *p = v;

	return !p->name && !net_entry(w->pol, p->rule, w->v6, true, key); /* names': below */
}

void pmaps_prune_rules(const struct pmaps *m, const struct policy *pol)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct rule_walk w = {pol, v6};

		prune_trie(m->nets[v6], sizeof(uint32_t), stale_net, &w);
		prune_trie(m->ports[v6], sizeof(struct dg_port), stale_port_rule, &w);
	}
}

void pmaps_learn(struct pmaps *m, const struct pmaps_addr *a, size_t n, bool block,
		 const char *name)
{
	uint64_t now = now_ns();
	uint32_t id = n ? name_id(m, name) : 0;

	for (size_t i = 0; i < n; i++) {
		int fd = m->learn[a[i].v6];
		uint64_t life = (uint64_t)a[i].ttl + m->grace_s;
		struct dg_learn v = {block ? UINT64_MAX : now + life * 1000000000u, id, block}, old;
		uint8_t key[16];

		if (fd < 0)
			continue;
		memcpy(key, a[i].addr, sizeof(key));
		if (!block && bpf_map_lookup_elem(fd, key, &old) == 0 &&
		    (old.block || old.expires >= v.expires))
			continue;
		if (bpf_map_update_elem(fd, key, &v, BPF_ANY))
			log_warn("failed to tell the kernel about an address of %s", name);
	}
}

/* One address on one port rule's ports (both protocols unless it names one). */
static void learn_port(const struct pmaps *m, const struct pmaps_addr *a,
		       const struct policy_port_hit *hit, struct dg_port v, const char *name)
{
	static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP};
	struct dg_plpm6 key = {a->v6 ? 160 : 64, htons(hit->port), 0, {0}};
	struct dg_port old;

	memcpy(key.addr, a->addr, a->v6 ? 16 : 4);
	v.rule = hit->src.index;
	for (int k = 0; k < 2; k++) {
		if (hit->proto && hit->proto != protos[k])
			continue;
		key.proto = protos[k];
		if (bpf_map_lookup_elem(m->ports[a->v6], &key, &old) == 0 &&
		    old.expires >= v.expires)
			continue;
		if (bpf_map_update_elem(m->ports[a->v6], &key, &v, BPF_ANY))
			log_warn("failed to tell the kernel about an address of %s on port %u",
				 name, hit->port);
	}
}

void pmaps_learn_ports(struct pmaps *m, const struct pmaps_addr *a, size_t n,
		       const struct policy_port_hit *hits, size_t nhits, bool block,
		       const char *name)
{
	uint64_t now = now_ns();
	uint32_t id = n && nhits ? name_id(m, name) : 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t life = (uint64_t)a[i].ttl + m->grace_s;
		struct dg_port v = {block ? UINT64_MAX : now + life * 1000000000u, 0, id};

		for (size_t h = 0; h < nhits && m->ports[a[i].v6] >= 0; h++)
			learn_port(m, &a[i], &hits[h], v, name);
	}
}

struct name_walk {
	const struct pmaps *m;
	const struct policy *pol;
	const struct pmaps_judge *judge;
};

/* A learned address whose name is forgotten, or judged otherwise now: a name no longer blocked
 * frees its addresses, a name no longer allowed loses its own. */
static bool stale_learned(const void *key, const void *v, const void *ctx)
{
	const struct name_walk *w = ctx;
	const struct dg_learn *l = v;
	const char *name = pmaps_name(w->m, l->name);

	(void)key;
	return !name || w->judge->blocked(w->judge->ctx, name) != (l->block != 0);
}

/* A name's port entry that no port rule of the policy puts there any more (address rules'
 * entries, with no name, are pmaps_prune_rules'). */
static bool stale_name_port(const void *key, const void *v, const void *ctx)
{
	const struct name_walk *w = ctx;
	const struct dg_plpm6 *k = key;
	const struct dg_port *p = v;
	struct policy_port_hit hits[POLICY_PORT_HITS];
	const char *name;
	size_t n;

	if (!p->name)
		return false;
	if (!(name = pmaps_name(w->m, p->name)))
		return true;
	n = policy_match_ports(w->pol, name, strlen(name), hits, POLICY_PORT_HITS);
	for (size_t i = 0; i < n; i++)
		if (htons(hits[i].port) == k->port && (!hits[i].proto || hits[i].proto == k->proto))
			return false;
	return true;
}

void pmaps_prune_learned(const struct pmaps *m, const struct policy *pol,
			 const struct pmaps_judge *judge)
{
	struct name_walk w = {m, pol, judge};

	for (int v6 = 0; v6 < 2; v6++) {
		prune_trie(m->learn[v6], sizeof(struct dg_learn), stale_learned, &w);
		prune_trie(m->ports[v6], sizeof(struct dg_port), stale_name_port, &w);
	}
}
