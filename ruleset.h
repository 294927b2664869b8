/* ruleset.h: how policy.c puts the rules it read into a policy (ruleset.c holds them). */
#ifndef DG_RULESET_H
#define DG_RULESET_H

#include "policy.h"

/* Add NAME (normalized) with what it covers; a name already there keeps its first rule, unless
 * this one covers more (then this one's file:line and comment take over). -ENOMEM or 0. */
int policy_put_name(struct policy *p, const char *name, size_t len, uint8_t covers,
		    const char *comment, uint16_t file, uint32_t line);
/* A port rule of NAME (normalized), chained from its name's entry, which it does not make cover
 * anything itself. */
int policy_put_port(struct policy *p, const char *name, size_t len, uint8_t covers, uint16_t port,
		    uint8_t proto, const char *comment, uint16_t file, uint32_t line);
/* A glob rule: its first label's pattern (lowercase) and the normalized name after it. */
int policy_put_glob(struct policy *p, const char *pat, size_t plen, const char *rest, size_t rlen,
		    uint16_t port, uint8_t proto, const char *comment, uint16_t file,
		    uint32_t line);
/* An address rule, its comment kept. */
int policy_put_net(struct policy *p, struct policy_net n, const char *comment);
/* What the rule for exactly NAME covers (POLICY_SELF, POLICY_BELOW), 0 if there is none. */
uint8_t policy_covers(const struct policy *p, const char *name, size_t len);

#endif
