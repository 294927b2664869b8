/*
 * ruleset.c: a policy in memory, and the one judgement of a name against it.
 *
 * policy.c reads the files; this holds what they say. Names live once in an arena and are found
 * through an open-addressing table (globs through a second one, by what follows their first
 * label), so matching a query costs one or two hash lookups per label whatever the number of
 * rules. policy_judge() decides whether a name is blocked in a mode: the proxy and the
 * manifests (depends.c) both ask it.
 */
#define _GNU_SOURCE
#include "ruleset.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

/* Grow *buf to hold at least need elements of size sz; doubling keeps appends amortised O(1). */
static int grow(void *buf, size_t *cap, size_t need, size_t sz)
{
	void *nbuf;
	size_t ncap = *cap ? *cap : 64;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	nbuf = realloc(*(void **)buf, ncap * sz);
	if (!nbuf)
		return -ENOMEM;
	*(void **)buf = nbuf;
	*cap = ncap;
	return 0;
}

static uint32_t hash_name(const char *s, size_t len)
{
	return fnv1a(s, len, FNV1A_INIT);
}

static const char *name_at(const struct policy *p, uint32_t idx, size_t *len)
{
	const char *e = p->arena + p->names[idx].off;

	*len = (uint8_t)e[0];
	return e + 1;
}

/* A slot: the key's hash, then its index + 1 into names (or globs); 0 is empty. */
#define SLOT_INDEX(slot) ((uint32_t)(slot) + UINT32_MAX) /* the index: one less, mod 2^32 */
#define SLOT_HASH(slot)	 ((uint32_t)((slot) >> 32))

static const char *glob_rest(const struct policy *p, uint32_t idx, size_t *len)
{
	const char *e = p->arena + p->globs[idx].rest;

	*len = (uint8_t)e[0];
	return e + 1;
}

/* The slot of table (names, or globs by their rest) holding KEY, or the empty slot where it would
 * go; *h is KEY's hash. The hash in each slot spares a probe past another key the two cache
 * misses of its record and its text: with a million rules, those misses were most of a lookup. */
static size_t find_in(const struct policy *p, bool globs, const char *key, size_t len, uint32_t *h)
{
	const uint64_t *slots = globs ? p->gslots : p->slots;
	size_t mask = (globs ? p->ngslots : p->nslots) - 1, i = (*h = hash_name(key, len)) & mask;

	for (; slots[i]; i = (i + 1) & mask) {
		size_t elen;
		const char *e;

		if (SLOT_HASH(slots[i]) != *h)
			continue;
		e = globs ? glob_rest(p, SLOT_INDEX(slots[i]), &elen)
			  : name_at(p, SLOT_INDEX(slots[i]), &elen);
		if (elen == len && memcmp(e, key, len) == 0)
			break;
	}
	return i;
}

/* Double a table, or make it; keys are unique, so each goes to the first empty slot. */
static int rehash(uint64_t **slots, size_t *nslots)
{
	size_t n =
	    *nslots ? *nslots * 2 : 64; /* small policies (a manifest, a fuzz input) stay small */
	uint64_t *old = *slots, *s = calloc(n, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < *nslots; i++) {
		size_t j = SLOT_HASH(old[i]) & (n - 1);

		if (!old[i])
			continue;
		while (s[j])
			j = (j + 1) & (n - 1);
		s[j] = old[i];
	}
	free(old);
	*slots = s;
	*nslots = n;
	return 0;
}

/* Text in the arena, after a length byte: its offset, or UINT32_MAX when out of room. */
static uint32_t arena_add(struct policy *p, const char *s, size_t len)
{
	size_t off = p->arena_len;

	if (off > UINT32_MAX - 256 || grow(&p->arena, &p->arena_cap, off + len + 1, 1))
		return UINT32_MAX;
	p->arena[off] = (char)len;
	memcpy(p->arena + off + 1, s, len);
	p->arena_len += len + 1;
	return (uint32_t)off;
}

/* Keep a rule's comment; its offset in notes, 0 for none (or no memory: the rule stands). */
static uint32_t add_note(struct policy *p, const char *comment)
{
	size_t n = comment ? strlen(comment) : 0;
	uint32_t off;

	if (!n || p->notes_len + n + 2 > UINT32_MAX ||
	    grow(&p->notes, &p->notes_cap, p->notes_len + n + 2, 1))
		return 0;
	if (!p->notes_len)
		p->notes[p->notes_len++] = '\0';
	off = (uint32_t)p->notes_len;
	memcpy(p->notes + off, comment, n + 1);
	p->notes_len += n + 1;
	return off;
}

/* The index of name's entry (normalized), made with nothing covered if it is new; -1 if out of
 * memory. */
static long name_entry(struct policy *p, const char *name, size_t len)
{
	size_t slot;
	uint32_t h, off;

	if ((p->nnames + 1) * 2 > p->nslots && rehash(&p->slots, &p->nslots))
		return -1;
	slot = find_in(p, false, name, len, &h);
	if (p->slots[slot])
		return (long)SLOT_INDEX(p->slots[slot]);
	if (p->nnames >= UINT32_MAX - 1 ||
	    grow(&p->names, &p->names_cap, p->nnames + 1, sizeof(*p->names)) ||
	    (off = arena_add(p, name, len)) == UINT32_MAX)
		return -1;
	p->names[p->nnames] = (struct policy_name){.off = off};
	p->slots[slot] = (uint64_t)h << 32 | (uint32_t)(p->nnames + 1);
	return (long)p->nnames++;
}

/* Add name (normalized) with what it covers; a name already there keeps its first rule, unless
 * this one covers more (then this one's file:line and comment take over). */
int policy_put_name(struct policy *p, const char *name, size_t len, uint8_t covers,
		    const char *comment, uint16_t file, uint32_t line)
{
	long i = name_entry(p, name, len);
	struct policy_name *r;

	if (i < 0)
		return -ENOMEM;
	r = &p->names[i];
	if ((r->covers | covers) != r->covers) {
		r->line = line;
		r->note = add_note(p, comment);
		r->file = file;
		r->covers |= covers;
	}
	return 0;
}

/* Add a port rule of name (normalized): chained from the name's entry, which it does not make
 * cover anything itself. */
int policy_put_port(struct policy *p, const char *name, size_t len, uint8_t covers, uint16_t port,
		    uint8_t proto, const char *comment, uint16_t file, uint32_t line)
{
	long i = name_entry(p, name, len);

	if (i < 0 || p->nports >= UINT32_MAX - 1 ||
	    grow(&p->ports, &p->ports_cap, p->nports + 1, sizeof(*p->ports)))
		return -ENOMEM;
	p->ports[p->nports] = (struct policy_port){
	    line, add_note(p, comment), p->names[i].ports, file, port, proto, covers};
	p->names[i].ports = (uint32_t)++p->nports;
	return 0;
}

/* A glob rule: its first label's pattern pat (lowercase) and the name it stands before. */
int policy_put_glob(struct policy *p, const char *pat, size_t plen, const char *rest, size_t rlen,
		    uint16_t port, uint8_t proto, const char *comment, uint16_t file, uint32_t line)
{
	uint32_t h, po, ro;
	size_t slot;

	if ((p->nglobs + 1) * 2 > p->ngslots && rehash(&p->gslots, &p->ngslots))
		return -ENOMEM;
	if (grow(&p->globs, &p->globs_cap, p->nglobs + 1, sizeof(*p->globs)) ||
	    (po = arena_add(p, pat, plen)) == UINT32_MAX ||
	    (ro = arena_add(p, rest, rlen)) == UINT32_MAX)
		return -ENOMEM;
	slot = find_in(p, true, rest, rlen, &h);
	p->globs[p->nglobs] =
	    (struct policy_glob){.pat = po,
				 .rest = ro,
				 .line = line,
				 .note = add_note(p, comment),
				 .next = p->gslots[slot] ? SLOT_INDEX(p->gslots[slot]) + 1 : 0,
				 .file = file,
				 .port = port,
				 .proto = proto};
	p->gslots[slot] = (uint64_t)h << 32 | (uint32_t)++p->nglobs; /* the chain's new head */
	p->nport_globs += port != 0;
	return 0;
}

int policy_put_net(struct policy *p, struct policy_net n, const char *comment)
{
	if (grow(&p->nets, &p->nets_cap, p->nnets + 1, sizeof(*p->nets)))
		return -ENOMEM;
	n.note = add_note(p, comment);
	p->nets[p->nnets++] = n;
	p->nport_nets += n.port != 0;
	return 0;
}

uint8_t policy_covers(const struct policy *p, const char *name, size_t len)
{
	uint32_t h;
	size_t slot;

	if (!p->nnames)
		return 0;
	slot = find_in(p, false, name, len, &h);
	return p->slots[slot] ? p->names[SLOT_INDEX(p->slots[slot])].covers : 0;
}

const struct policy_mode policy_blocklist = {"blocklist", true, false, true};
const struct policy_mode policy_strict = {"strict", true, true, true};
const struct policy_mode policy_allowlist = {"allowlist", false, true, false};

/* Does pat (a label with '*' in it) match the label s? '*' matches any run of characters of one
 * label; backtracking is bounded by the label's 63 characters. */
static bool label_glob(const char *pat, size_t np, const char *s, size_t ns)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

	while (si < ns) {
		if (pi < np && pat[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < np && pat[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < np && pat[pi] == '*')
		pi++;
	return pi == np;
}

static void policy_src_of_glob(const struct policy *p, size_t i, struct policy_src *src)
{
	const struct policy_glob *r = &p->globs[i];

	*src = (struct policy_src){r->file < p->nfiles ? p->files[r->file] : "", r->line,
				   r->note ? p->notes + r->note : NULL, UINT32_MAX};
}

/* A glob whose rest is name[d + 1..len) and whose pattern matches the label name[i..d), with
 * a port (ports) or without. */
static bool glob_hit(const struct policy *p, const char *name, size_t len, size_t i, bool ports,
		     struct policy_src *src)
{
	const char *dot = memchr(name + i, '.', len - i);
	size_t d = dot ? (size_t)(dot - name) : len, rlen = dot ? len - d - 1 : 0;
	uint32_t h;
	size_t slot = find_in(p, true, dot ? dot + 1 : "", rlen, &h);

	for (uint32_t g = p->gslots[slot] ? SLOT_INDEX(p->gslots[slot]) + 1 : 0; g;
	     g = p->globs[g - 1].next) {
		const char *pat = p->arena + p->globs[g - 1].pat;

		if ((p->globs[g - 1].port != 0) != ports)
			continue;
		if (label_glob(pat + 1, (uint8_t)pat[0], name + i, d - i)) {
			if (src)
				policy_src_of_glob(p, g - 1, src);
			return true;
		}
	}
	return false;
}

bool policy_match_name(const struct policy *p, const char *name, size_t len, struct policy_src *src)
{
	if (!p->nnames && !p->nglobs)
		return false;
	/* Try the name, then each parent at a label boundary: "a.b.c", "b.c", "c". */
	for (size_t i = 0; i < len;) {
		uint32_t h;
		size_t slot = p->nnames ? find_in(p, false, name + i, len - i, &h) : 0;
		const char *dot;

		if (p->nnames && p->slots[slot] &&
		    p->names[SLOT_INDEX(p->slots[slot])].covers &
			(i ? POLICY_BELOW : POLICY_SELF)) {
			if (src)
				policy_src_of_name(p, SLOT_INDEX(p->slots[slot]), src);
			return true;
		}
		if (p->nglobs > p->nport_globs && glob_hit(p, name, len, i, false, src))
			return true;
		dot = memchr(name + i, '.', len - i);
		if (!dot)
			break;
		i = (size_t)(dot - name) + 1;
	}
	return false;
}

/* Note a port rule's hit, if there is room. */
static size_t port_hit(struct policy_port_hit *hits, size_t n, size_t max, uint16_t port,
		       uint8_t proto, const struct policy_src *src)
{
	if (hits && n < max)
		hits[n] = (struct policy_port_hit){port, proto, *src};
	return n + 1;
}

/* Without snprintf: a blocked query names its rule twice (the log line and the summary), and
 * printf's machinery cost more instructions than the rest of the query's handling. */
char *policy_src_rule(const struct policy_src *src, char *buf, size_t len)
{
	char digits[12];
	size_t d = sizeof(digits), k, n = strlen(src->file);
	unsigned v = src->line;

	do
		digits[--d] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	digits[--d] = ':';
	k = sizeof(digits) - d;
	if (len < k + 1) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	if (n > len - 1 - k)
		n = len - 1 - k; /* cut the file's name, keep the line */
	memcpy(buf, src->file, n);
	memcpy(buf + n, digits + d, k);
	buf[n + k] = '\0';
	return buf;
}

#define PORT_GLOB 0x80000000u /* a port hit's index: a glob's, not a port rule's of a name */

bool policy_src_of_port(const struct policy *p, uint32_t index, struct policy_src *src)
{
	const struct policy_port *r;

	if (index & PORT_GLOB) {
		if ((index & ~PORT_GLOB) >= p->nglobs)
			return false;
		policy_src_of_glob(p, index & ~PORT_GLOB, src);
		src->index = index;
		return true;
	}
	if (index >= p->nports)
		return false;
	r = &p->ports[index];
	*src = (struct policy_src){r->file < p->nfiles ? p->files[r->file] : "", r->line,
				   r->note ? p->notes + r->note : NULL, index};
	return true;
}

/* The port rules of name entry e that cover the name at level i (0: the name itself). */
static size_t entry_ports(const struct policy *p, uint32_t e, size_t i,
			  struct policy_port_hit *hits, size_t n, size_t max)
{
	for (uint32_t k = p->names[e].ports; k && n < max; k = p->ports[k - 1].next) {
		const struct policy_port *r = &p->ports[k - 1];
		struct policy_src src;

		if (!(r->covers & (i ? POLICY_BELOW : POLICY_SELF)))
			continue;
		policy_src_of_port(p, k - 1, &src);
		n = port_hit(hits, n, max, r->port, r->proto, &src);
	}
	return n;
}

/* The port globs matching the label name[i..) below their rest. */
static size_t glob_ports(const struct policy *p, const char *name, size_t len, size_t i,
			 struct policy_port_hit *hits, size_t n, size_t max)
{
	const char *dot = memchr(name + i, '.', len - i);
	size_t d = dot ? (size_t)(dot - name) : len, rlen = dot ? len - d - 1 : 0;
	uint32_t h;
	size_t slot = find_in(p, true, dot ? dot + 1 : "", rlen, &h);

	for (uint32_t g = p->gslots[slot] ? SLOT_INDEX(p->gslots[slot]) + 1 : 0; g && n < max;
	     g = p->globs[g - 1].next) {
		const struct policy_glob *r = &p->globs[g - 1];
		const char *pat = p->arena + r->pat;
		struct policy_src src;

		if (!r->port || !label_glob(pat + 1, (uint8_t)pat[0], name + i, d - i))
			continue;
		policy_src_of_port(p, PORT_GLOB | (g - 1), &src);
		n = port_hit(hits, n, max, r->port, r->proto, &src);
	}
	return n;
}

size_t policy_match_ports(const struct policy *p, const char *name, size_t len,
			  struct policy_port_hit *hits, size_t max)
{
	size_t n = 0;

	if (!hits)
		max = 1;
	if (!p->nports && !p->nport_globs)
		return 0;
	for (size_t i = 0; i < len && n < max;) {
		uint32_t h;
		size_t slot = p->nports ? find_in(p, false, name + i, len - i, &h) : 0;
		const char *dot;

		if (p->nports && p->slots[slot])
			n = entry_ports(p, SLOT_INDEX(p->slots[slot]), i, hits, n, max);
		if (p->nport_globs)
			n = glob_ports(p, name, len, i, hits, n, max);
		dot = memchr(name + i, '.', len - i);
		if (!dot)
			break;
		i = (size_t)(dot - name) + 1;
	}
	return n < max ? n : max;
}

bool policy_has_ports(const struct policy *p)
{
	return p->nports || p->nport_globs;
}

void policy_src_of_net(const struct policy *p, size_t i, struct policy_src *src)
{
	const struct policy_net *r = &p->nets[i];

	*src = (struct policy_src){r->file < p->nfiles ? p->files[r->file] : "", r->line,
				   r->note ? p->notes + r->note : NULL, (uint32_t)i};
}

void policy_src_of_name(const struct policy *p, size_t i, struct policy_src *src)
{
	const struct policy_name *r = &p->names[i];

	*src = (struct policy_src){r->file < p->nfiles ? p->files[r->file] : "", r->line,
				   r->note ? p->notes + r->note : NULL, (uint32_t)i};
}

void policy_free(struct policy *p)
{
	for (size_t i = 0; i < p->nfiles; i++)
		free(p->files[i]);
	free(p->files);
	free(p->arena);
	free(p->names);
	free(p->slots);
	free(p->nets);
	free(p->notes);
	free(p->globs);
	free(p->gslots);
	free(p->ports);
	*p = (struct policy){0};
}

bool policy_judge(const struct policy *p, const struct policy_mode *mode, const char *name,
		  size_t len, struct policy_src *src)
{
	bool listed = policy_match_name(p, name, len, src), blocked = listed == mode->listed_blocks;
	struct policy_port_hit hit;

	if (!listed && src)
		src->file = NULL;
	/* An allowlist's port rule lets the name resolve; its port decides at connect. */
	if (blocked && !mode->listed_blocks && policy_match_ports(p, name, len, &hit, 1)) {
		blocked = false;
		if (src)
			*src = hit.src;
	}
	return blocked;
}
