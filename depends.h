/* depends.h: the dependency manifest (--depends): the internal services a deploy calls and the
 * names each of them needs, so that a service whose dependency is blocked is blocked too. */
#ifndef DG_DEPENDS_H
#define DG_DEPENDS_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

struct depends_entry {
	char *service;
	char **deps;
	size_t ndeps;
	char *comment;	 /* the line's own, as for a policy rule */
	const char *via; /* the first of deps found blocked, or NULL: the service is not */
	uint16_t file;	 /* into services.files */
	uint32_t line;
};

struct depends {
	struct policy services;	 /* the SERVICE names as rules, for the policy's matching */
	struct depends_entry *e; /* e[i] is services' name rule i */
	size_t n;
};

/* Add manifest FILE: lines "SERVICE DEPENDENCY...", '#' comments. On a bad line, -1 with
 * "FILE:LINE: reason" in err. */
int depends_load(struct depends *d, const char *path, char *err, size_t errlen);
/* Is this name blocked by the policy? */
typedef bool depends_judge(const void *ctx, const char *name, size_t len);
/* Set each entry's via: a dependency blocked by the policy, or a service blocked in turn (a
 * chain of any length). Returns how many services are blocked. */
size_t depends_resolve(struct depends *d, depends_judge *blocked, const void *ctx);
/* The blocked service NAME is (or is below), or NULL; *src names its manifest line. */
const struct depends_entry *depends_blocked(const struct depends *d, const char *name, size_t len,
					    struct policy_src *src);
/* The entry of service NAME (or a parent), blocked or not; NULL if none. */
const struct depends_entry *depends_find(const struct depends *d, const char *name, size_t len);
void depends_free(struct depends *d);

#endif
