/* policymaps.h: the kernel's policy maps; every entry is written and pruned in policymaps.c. */
#ifndef DG_POLICYMAPS_H
#define DG_POLICYMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* dg_nets4/6 (address rules), dg_ports4/6 (address rules with a port, and the addresses of names
 * that port rules match), dg_learn4/6 (addresses learned from answers); [0] IPv4, [1] IPv6, each
 * -1 until the maps exist. */
struct pmaps {
	int nets[2], ports[2], learn[2];
	unsigned grace_s;	  /* an allowed address lives this long past its answer's TTL */
	struct pmaps_name *names; /* PMAPS_NAMES: what the name ids of entries stand for */
	uint32_t name_gen;
};

/* An address an answer gave, with its TTL. */
struct pmaps_addr {
	uint8_t v6, addr[16];
	uint32_t ttl;
};

/* Whether a name is blocked now: what learned entries are judged by after a policy change. */
struct pmaps_judge {
	bool (*blocked)(const void *ctx, const char *name);
	const void *ctx;
};

/* The maps of a run's programs (map_fd as progs.h holds them, in enum dg_map's order): 0, or
 * -ENOMEM. pmaps_close frees what it holds (not the maps: progs_close's). */
int pmaps_open(struct pmaps *m, const int *map_fd, unsigned grace_s);
void pmaps_close(struct pmaps *m);
/* The name an entry's name id stands for (the log names the name behind a refused address), or
 * NULL when a newer name has taken its slot. */
const char *pmaps_name(const struct pmaps *m, uint32_t id);
/* Put every address rule of pol into the kernel; 0 or -errno (said). */
int pmaps_fill_rules(const struct pmaps *m, const struct policy *pol);
/* After pmaps_fill_rules(pol): remove the rule entries pol no longer has. */
void pmaps_prune_rules(const struct pmaps *m, const struct policy *pol);
/* The addresses of an answer for name (its id kept with each entry): blocked for the rest of the
 * run, or allowed for TTL + grace. A blocked address stays blocked whatever else resolves to
 * it. */
void pmaps_learn(struct pmaps *m, const struct pmaps_addr *a, size_t n, bool block,
		 const char *name);
/* The same addresses on the ports of name's port rules (hits): refused there for the rest of the
 * run (block, a blocklist's), or allowed there for TTL + grace (an allowlist's). */
void pmaps_learn_ports(struct pmaps *m, const struct pmaps_addr *a, size_t n,
		       const struct policy_port_hit *hits, size_t nhits, bool block,
		       const char *name);
/* After a policy change: forget the learned addresses whose name is judged otherwise now, and
 * the port entries of names that no port rule of pol puts there any more. */
void pmaps_prune_learned(const struct pmaps *m, const struct policy *pol,
			 const struct pmaps_judge *judge);

#endif
