/*
 * policy.c: flat-file policies (blocklists and allowlists), and what each mode means.
 *
 * One rule per line: a domain name (matching itself and every name below it), "=NAME" (that name
 * alone), or an IPv4/IPv6 address or CIDR prefix. Names live once in an arena and are found through
 * an open-addressing table, so matching a query costs one hash lookup per label whatever the number
 * of rules.
 */
#define _GNU_SOURCE
#include "policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

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

/* A slot: the name's hash, then its index + 1 into names; 0 is empty. */
#define SLOT_INDEX(slot) ((uint32_t)(slot)-1)
#define SLOT_HASH(slot)	 ((uint32_t)((slot) >> 32))

/* Slot holding NAME, or the empty slot where it would go; *h is NAME's hash. The hash in each
 * slot spares a probe past another name the two cache misses of its record and its text: with
 * a million rules, those misses were most of a lookup. */
static size_t find_slot(const struct policy *p, const char *name, size_t len, uint32_t *h)
{
	size_t mask = p->nslots - 1, i = (*h = hash_name(name, len)) & mask;

	for (; p->slots[i]; i = (i + 1) & mask) {
		size_t elen;
		const char *e;

		if (SLOT_HASH(p->slots[i]) != *h)
			continue;
		e = name_at(p, SLOT_INDEX(p->slots[i]), &elen);
		if (elen == len && memcmp(e, name, len) == 0)
			break;
	}
	return i;
}

static int rehash(struct policy *p)
{
	size_t n = p->nslots ? p->nslots * 2 : 1024;
	uint64_t *old = p->slots;
	size_t oldn = p->nslots;

	p->slots = calloc(n, sizeof(*p->slots));
	if (!p->slots) {
		p->slots = old;
		return -ENOMEM;
	}
	p->nslots = n;
	for (size_t i = 0; i < oldn; i++) {
		size_t j = SLOT_HASH(old[i]) & (n - 1);

		if (!old[i])
			continue;
		while (p->slots[j]) /* names are unique: the first empty slot is its */
			j = (j + 1) & (n - 1);
		p->slots[j] = old[i];
	}
	free(old);
	return 0;
}

int policy_normalize(const char *in, size_t len, char *out, char *err, size_t errlen)
{
	size_t label = 0;

	if (len && in[len - 1] == '.')
		len--;
	if (len == 0)
		return fail(err, errlen, "the root name cannot be a rule");
	if (len > DG_NAME_MAX)
		return fail(err, errlen, "name longer than %d characters", DG_NAME_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '.') {
			if (label == 0)
				return fail(err, errlen, "empty label in '%.*s'", (int)len, in);
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++label > 63) /* RFC 1035 2.3.4 */
				return fail(err, errlen, "label longer than 63 characters");
		} else if (c == '*') {
			return fail(err, errlen,
				    "wildcards are not needed: '%s' already matches "
				    "every name below it",
				    in[0] == '*' && in[1] == '.' ? in + 2 : "the name");
		} else {
			return fail(err, errlen,
				    isprint(c) ? "invalid character '%c' in name"
					       : "invalid byte 0x%02x in name",
				    c);
		}
		out[i] = (char)tolower(c);
	}
	if (label == 0)
		return fail(err, errlen, "empty label in '%.*s'", (int)len, in);
	out[len] = '\0';
	return (int)len;
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

static int add_name(struct policy *p, const char *rule, const char *comment, uint16_t file,
		    uint32_t line, char *err, size_t errlen)
{
	char name[DG_NAME_MAX + 1];
	bool exact = rule[0] == '=';
	int len = policy_normalize(rule + exact, strlen(rule + exact), name, err, errlen);
	size_t slot;
	uint32_t h;

	if (len < 0)
		return -1;
	if ((p->nnames + 1) * 2 > p->nslots && rehash(p))
		return fail(err, errlen, "out of memory");
	slot = find_slot(p, name, (size_t)len, &h);
	if (p->slots[slot]) { /* duplicate: the first rule keeps its file:line, */
		struct policy_name *r = &p->names[SLOT_INDEX(p->slots[slot])];

		if (r->exact && !exact) /* unless it was "=NAME" and this one covers more */
			*r = (struct policy_name){r->off, line, add_note(p, comment), file, false};
		return 0;
	}
	if (grow(&p->names, &p->names_cap, p->nnames + 1, sizeof(*p->names)) ||
	    grow(&p->arena, &p->arena_cap, p->arena_len + (size_t)len + 1, 1))
		return fail(err, errlen, "out of memory");
	if (p->arena_len > UINT32_MAX - 256)
		return fail(err, errlen, "too many rules");
	p->names[p->nnames] =
	    (struct policy_name){(uint32_t)p->arena_len, line, add_note(p, comment), file, exact};
	p->arena[p->arena_len] = (char)len;
	memcpy(p->arena + p->arena_len + 1, name, (size_t)len);
	p->arena_len += (size_t)len + 1;
	p->slots[slot] = (uint64_t)h << 32 | (uint32_t)++p->nnames;
	return 0;
}

/* Does the rule look like an address? Then it must parse as one. */
static bool looks_like_addr(const char *s)
{
	if (strchr(s, ':'))
		return true;
	return strspn(s, "0123456789./") == strlen(s) && strpbrk(s, "0123456789");
}

static int add_net(struct policy *p, char *rule, const char *comment, uint16_t file, uint32_t line,
		   char *err, size_t errlen)
{
	struct policy_net n = {.file = file, .line = line};
	char *slash = strchr(rule, '/');
	int max;

	if (slash)
		*slash = '\0';
	n.family = strchr(rule, ':') ? AF_INET6 : AF_INET;
	max = n.family == AF_INET ? 32 : 128;
	if (inet_pton(n.family, rule, n.addr) != 1)
		return fail(err, errlen, "invalid %s address '%s'",
			    n.family == AF_INET ? "IPv4" : "IPv6", rule);
	n.prefix = (uint8_t)max;
	if (slash) {
		char *end;
		long v;

		errno = 0;
		v = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || v < 0 || v > max)
			return fail(err, errlen, "invalid prefix length '/%s' (0..%d)", slash + 1,
				    max);
		n.prefix = (uint8_t)v;
		for (int bit = (int)v; bit < max; bit++)
			if (n.addr[bit / 8] & (0x80 >> (bit % 8)))
				return fail(err, errlen,
					    "host bits set in %s/%ld: write the network address",
					    rule, v);
	}
	if (grow(&p->nets, &p->nets_cap, p->nnets + 1, sizeof(*p->nets)))
		return fail(err, errlen, "out of memory");
	n.note = add_note(p, comment);
	p->nets[p->nnets++] = n;
	return 0;
}

/* s without the blanks (and line end) around it, in place. */
static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	return s;
}

int policy_add_line(struct policy *p, char *line, uint16_t file, uint32_t lineno, char *err,
		    size_t errlen)
{
	char *s, *hash = strchr(line, '#'), *comment = NULL;

	if (hash) {
		*hash = '\0';
		comment = trim(hash + 1);
	}
	s = trim(line);
	if (!*s)
		return 0;
	if (strpbrk(s, " \t"))
		return fail(err, errlen, "one rule per line, found '%s'", s);
	if (looks_like_addr(s))
		return add_net(p, s, comment, file, lineno, err, errlen);
	return add_name(p, s, comment, file, lineno, err, errlen);
}

const struct policy_mode policy_blocklist = {"blocklist", true, false, true};
const struct policy_mode policy_strict = {"strict", true, true, true};
const struct policy_mode policy_allowlist = {"allowlist", false, true, false};

int policy_add_file(struct policy *p, const char *path, char *err, size_t errlen)
{
	char **files;

	if (p->nfiles >= UINT16_MAX)
		return fail(err, errlen, "%s: too many policy files", path);
	files = realloc(p->files, (p->nfiles + 1) * sizeof(*files));
	if (!files || !(files[p->nfiles] = strdup(path))) {
		if (files)
			p->files = files;
		return fail(err, errlen, "%s: out of memory", path);
	}
	p->files = files;
	return (int)p->nfiles++;
}

int policy_load(struct policy *p, const char *path, char *err, size_t errlen)
{
	char reason[512], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint32_t lineno = 0;
	uint16_t file;
	FILE *f;
	int ret = 0;

	if ((ret = policy_add_file(p, path, err, errlen)) < 0)
		return -1;
	file = (uint16_t)ret;
	ret = 0;
	f = fopen(path, "re");
	if (!f)
		return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (memchr(line, '\0', (size_t)n)) {
			ret = fail(err, errlen, "%s:%u: NUL byte in line", path, lineno);
			break;
		}
		if (policy_add_line(p, line, file, lineno, reason, sizeof(reason))) {
			ret = fail(err, errlen, "%s:%u: %s", path, lineno, reason);
			break;
		}
	}
	if (!ret && ferror(f))
		ret = fail(err, errlen, "%s: read error: %s", path, strerror(errno));
	free(line);
	fclose(f);
	return ret;
}

bool policy_match_name(const struct policy *p, const char *name, size_t len, struct policy_src *src)
{
	if (!p->nnames)
		return false;
	/* Try the name, then each parent at a label boundary: "a.b.c", "b.c", "c". */
	for (size_t i = 0; i < len;) {
		uint32_t h;
		size_t slot = find_slot(p, name + i, len - i, &h);
		const char *dot;

		if (p->slots[slot] && !(i && p->names[SLOT_INDEX(p->slots[slot])].exact)) {
			if (src)
				policy_src_of_name(p, SLOT_INDEX(p->slots[slot]), src);
			return true;
		}
		dot = memchr(name + i, '.', len - i);
		if (!dot)
			break;
		i = (size_t)(dot - name) + 1;
	}
	return false;
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
	*p = (struct policy){0};
}
