/*
 * policy.c: flat-file policies (blocklists and allowlists), and what each mode means.
 *
 * One rule per line: a domain name (matching itself and every name below it), "=NAME" (that name
 * alone), "*.NAME" (the names below it), a glob in the first label ("api-*.example.com"), or an
 * IPv4/IPv6 address or CIDR prefix; "include FILE" reads another file in its place. Names live
 * once in an arena and are found through an open-addressing table (globs through a second one, by
 * what follows their first label), so matching a query costs one or two hash lookups per label
 * whatever the number of rules.
 */
#define _GNU_SOURCE
#include "policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

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
	size_t n = *nslots ? *nslots * 2 : 1024;
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
				    "'*' only begins a rule ('*.example.com') or is part of its "
				    "first label ('api-*.example.com')");
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
static int insert_name(struct policy *p, const char *name, size_t len, uint8_t covers,
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
static int insert_port(struct policy *p, const char *name, size_t len, uint8_t covers,
		       uint16_t port, uint8_t proto, const char *comment, uint16_t file,
		       uint32_t line)
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

/* The public suffix list (Debian's publicsuffix): names under which anyone can register names.
 * Read once per process, when an allowlist rule first needs it, and shared by every policy (a
 * reload, a rehearsal, the fuzzer's every input); freed at exit. Without the file, only
 * top-level domains count. */
static struct policy *psl;

static void psl_free(void)
{
	policy_free(psl);
	free(psl);
	psl = NULL;
}

static const struct policy *psl_load(void)
{
	FILE *f;
	char line[256], name[DG_NAME_MAX + 1], err[128];

	if (psl || !(psl = calloc(1, sizeof(*psl))))
		return psl;
	atexit(psl_free);
	f = fopen("/usr/share/publicsuffix/public_suffix_list.dat", "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *s = line + strspn(line, " \t");
		bool wild = s[0] == '*' && s[1] == '.';
		int len;

		s[strcspn(s, " \t\r\n")] = '\0';
		if (!*s || s[0] == '/' || s[0] == '!')
			continue;
		len = policy_normalize(s + 2 * wild, strlen(s + 2 * wild), name, err, sizeof(err));
		if (len > 0) /* names in UTF-8 are skipped: rules are ASCII (xn--) anyway */
			insert_name(psl, name, (size_t)len, wild ? POLICY_BELOW : POLICY_SELF, NULL,
				    0, 0);
	}
	if (f)
		fclose(f);
	return psl;
}

static bool public_suffix(const char *name, size_t len)
{
	const char *dot = memchr(name, '.', len);
	const struct policy *psl = psl_load();
	uint32_t h;
	size_t slot;

	if (!dot)
		return true;
	if (!psl || !psl->nnames)
		return false;
	slot = find_in(psl, false, name, len, &h);
	if (psl->slots[slot])
		return true;
	slot = find_in(psl, false, dot + 1, len - (size_t)(dot + 1 - name), &h); /* "*.ck" */
	return psl->slots[slot] && psl->names[SLOT_INDEX(psl->slots[slot])].covers & POLICY_BELOW;
}

/* A name rule that allows too much in an allowlist (an error, unless allow_broad), or blocks a
 * whole top-level domain in a blocklist (the policy's one warning). */
static int too_broad(struct policy *p, const char *rule, const char *name, size_t len,
		     uint8_t covers, uint16_t file, uint32_t line, char *err, size_t errlen)
{
	if (!(covers & POLICY_BELOW) || p->allow_broad)
		return 0;
	if (p->allowlist && public_suffix(name, len))
		return fail(err, errlen,
			    "'%s' would allow every name under %.*s, a public suffix (name the "
			    "hosts, or give --allow-broad)",
			    rule, (int)len, name);
	if (!p->allowlist && !memchr(name, '.', len) && !p->warning[0])
		snprintf(p->warning, sizeof(p->warning),
			 "%s:%u: '%s' blocks every name under .%.*s",
			 file < p->nfiles ? p->files[file] : "", line, rule, (int)len, name);
	return 0;
}

static bool glob_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '*';
}

/* A rule's port, from its ":PORT" or ":PORT/PROTO" (port 0: none, every port). */
struct port_spec {
	uint16_t port;
	uint8_t proto;
};

/* "pat.rest", pat a first label with a '*' in it: matched label by label (policy_match_name). */
static int add_glob(struct policy *p, const char *rule, const char *pat, size_t plen,
		    struct port_spec ps, const char *comment, uint16_t file, uint32_t line,
		    char *err, size_t errlen)
{
	char lpat[64], rest[DG_NAME_MAX + 1] = "";
	int rlen = 0;
	uint32_t h, po, ro;
	size_t slot;

	if (plen > 63)
		return fail(err, errlen, "label longer than 63 characters");
	for (size_t i = 0; i < plen; i++) {
		if (!glob_char((unsigned char)pat[i]))
			return fail(err, errlen, "invalid character '%c' in '%s'", pat[i], rule);
		lpat[i] = (char)tolower((unsigned char)pat[i]);
	}
	if (pat[plen] == '.' && (rlen = policy_normalize(pat + plen + 1, strlen(pat + plen + 1),
							 rest, err, errlen)) < 0)
		return -1;
	if (p->allowlist && !p->allow_broad && (!rlen || public_suffix(rest, (size_t)rlen)))
		return fail(err, errlen,
			    "'%s' would allow every name it matches under %s (name the hosts, or "
			    "give --allow-broad)",
			    rule, rlen ? rest : "the root");
	if ((p->nglobs + 1) * 2 > p->ngslots && rehash(&p->gslots, &p->ngslots))
		return fail(err, errlen, "out of memory");
	if (grow(&p->globs, &p->globs_cap, p->nglobs + 1, sizeof(*p->globs)) ||
	    (po = arena_add(p, lpat, plen)) == UINT32_MAX ||
	    (ro = arena_add(p, rest, (size_t)rlen)) == UINT32_MAX)
		return fail(err, errlen, "out of memory");
	slot = find_in(p, true, rest, (size_t)rlen, &h);
	p->globs[p->nglobs] =
	    (struct policy_glob){.pat = po,
				 .rest = ro,
				 .line = line,
				 .note = add_note(p, comment),
				 .next = p->gslots[slot] ? SLOT_INDEX(p->gslots[slot]) + 1 : 0,
				 .file = file,
				 .port = ps.port,
				 .proto = ps.proto};
	p->gslots[slot] = (uint64_t)h << 32 | (uint32_t)++p->nglobs; /* the chain's new head */
	p->nport_globs += ps.port != 0;
	return 0;
}

/* NAME, "=NAME", "*.NAME", or a glob in the first label; with a port (ps.port), a port rule. */
static int add_name(struct policy *p, const char *rule, struct port_spec ps, const char *comment,
		    uint16_t file, uint32_t line, char *err, size_t errlen)
{
	char name[DG_NAME_MAX + 1];
	uint8_t covers = POLICY_SELF | POLICY_BELOW;
	const char *s = rule;
	size_t first;
	int len;

	if (s[0] == '=')
		covers = POLICY_SELF, s++;
	else if (s[0] == '*' && s[1] == '.')
		covers = POLICY_BELOW, s += 2;
	first = strcspn(s, ".");
	if (memchr(s, '*', first)) {
		if (covers != (POLICY_SELF | POLICY_BELOW))
			return fail(err, errlen, "'=' and '*.' do not go with a glob: '%s'", rule);
		return add_glob(p, rule, s, first, ps, comment, file, line, err, errlen);
	}
	len = policy_normalize(s, strlen(s), name, err, errlen);
	if (len < 0 || too_broad(p, rule, name, (size_t)len, covers, file, line, err, errlen))
		return -1;
	if (ps.port
		? insert_port(p, name, (size_t)len, covers, ps.port, ps.proto, comment, file, line)
		: insert_name(p, name, (size_t)len, covers, comment, file, line))
		return fail(err, errlen, "out of memory");
	return 0;
}

/* Does the rule look like an address? Then it must parse as one. */
static bool looks_like_addr(const char *s)
{
	if (strchr(s, ':'))
		return true;
	return strspn(s, "0123456789./") == strlen(s) && strpbrk(s, "0123456789");
}

/* rule's prefix length after a '/' (0..max) into n, its host bits checked. */
static int net_prefix(struct policy_net *n, const char *rule, const char *len, int max, char *err,
		      size_t errlen)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(len, &end, 10);
	if (errno || end == len || *end || v < 0 || v > max || !isdigit((unsigned char)*len))
		return fail(err, errlen, "invalid prefix length '/%s' (0..%d)", len, max);
	n->prefix = (uint8_t)v;
	for (int bit = (int)v; bit < max; bit++)
		if (n->addr[bit / 8] & (0x80 >> (bit % 8)))
			return fail(err, errlen,
				    "host bits set in %s/%ld: write the network address", rule, v);
	return 0;
}

/* An address rule that allows a lot in an allowlist: every address, or every address on a
 * port. */
static int net_too_broad(const struct policy *p, const struct policy_net *n, const char *rule,
			 char *err, size_t errlen)
{
	if (n->prefix != 0 || !p->allowlist || p->allow_broad)
		return 0;
	if (n->family == AF_UNSPEC)
		return fail(err, errlen,
			    "':%u' would allow port %u of every address (name the hosts, or give "
			    "--allow-broad)",
			    n->port, n->port);
	return fail(err, errlen,
		    "'%s/0' would allow every %s address (name the networks, or give "
		    "--allow-broad)",
		    rule, n->family == AF_INET ? "IPv4" : "IPv6");
}

/* ADDR, ADDR/LEN (brackets already taken off an IPv6 one), or "" with a port: every address. */
static int add_net(struct policy *p, char *rule, bool v6, struct port_spec ps, const char *comment,
		   uint16_t file, uint32_t line, char *err, size_t errlen)
{
	struct policy_net n = {.file = file, .line = line, .port = ps.port, .proto = ps.proto};
	char *slash = strchr(rule, '/');
	int max;

	if (slash)
		*slash = '\0';
	n.family = !*rule && ps.port && !v6  ? AF_UNSPEC
		   : v6 || strchr(rule, ':') ? AF_INET6
					     : AF_INET;
	max = n.family == AF_INET ? 32 : 128;
	if (n.family == AF_UNSPEC) {
		if (slash)
			return fail(err, errlen, "':PORT' takes no prefix length");
	} else if (inet_pton(n.family, rule, n.addr) != 1) {
		return fail(err, errlen, "invalid %s address '%s'",
			    n.family == AF_INET ? "IPv4" : "IPv6", rule);
	} else {
		n.prefix = (uint8_t)max;
	}
	if (slash && net_prefix(&n, rule, slash + 1, max, err, errlen))
		return -1;
	if (net_too_broad(p, &n, rule, err, errlen))
		return -1;
	if (grow(&p->nets, &p->nets_cap, p->nnets + 1, sizeof(*p->nets)))
		return fail(err, errlen, "out of memory");
	n.note = add_note(p, comment);
	p->nets[p->nnets++] = n;
	p->nport_nets += n.port != 0;
	return 0;
}

/* ":PORT" or ":PORT/tcp" or ":PORT/udp" (after the colon) into ps. */
static int parse_port(const char *s, struct port_spec *ps, char *err, size_t errlen)
{
	const char *proto = strchr(s, '/');
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!isdigit((unsigned char)*s) || errno || end != (proto ? proto : s + strlen(s)) ||
	    v < 1 || v > 65535)
		return fail(err, errlen, "invalid port '%.*s' (1..65535)",
			    (int)(proto ? proto - s : (long)strlen(s)), s);
	ps->port = (uint16_t)v;
	if (!proto)
		ps->proto = 0;
	else if (!strcasecmp(proto + 1, "tcp"))
		ps->proto = IPPROTO_TCP;
	else if (!strcasecmp(proto + 1, "udp"))
		ps->proto = IPPROTO_UDP;
	else
		return fail(err, errlen, "unknown protocol '%s' after the port (tcp or udp)",
			    proto + 1);
	return 0;
}

/* Take a port off rule s (in place): "[v6]:PORT", "NAME:PORT", "V4[/LEN]:PORT", ":PORT", each
 * with an optional "/tcp" or "/udp". A rule with more than one ':' and no brackets is an IPv6
 * address without a port. Returns the rule without the port (and brackets), or NULL (err). */
static char *split_port(char *s, struct port_spec *ps, bool *v6, char *err, size_t errlen)
{
	char *colon = NULL;

	*ps = (struct port_spec){0, 0};
	*v6 = false;
	if (s[0] == '[') {
		char *close = strchr(s, ']');

		if (!close)
			return fail(err, errlen, "'[' without ']' in '%s'", s), NULL;
		*close = '\0';
		if (close[1] && close[1] != ':')
			return fail(err, errlen, "'%s' after ']': write [ADDR]:PORT", close + 1),
			       NULL;
		colon = close[1] ? close + 1 : NULL;
		*v6 = true;
		s++;
	} else if ((colon = strchr(s, ':')) && strchr(colon + 1, ':')) {
		*v6 = true; /* an IPv6 address */
		return s;
	}
	if (colon) {
		*colon = '\0';
		if (parse_port(colon + 1, ps, err, errlen))
			return NULL;
	}
	return s;
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
	struct port_spec ps;
	bool v6;

	if (hash) {
		*hash = '\0';
		comment = trim(hash + 1);
	}
	s = trim(line);
	if (!*s)
		return 0;
	if (strpbrk(s, " \t"))
		return fail(err, errlen, "one rule per line, found '%s'", s);
	if (!(s = split_port(s, &ps, &v6, err, errlen)))
		return -1;
	if (v6 || !*s || looks_like_addr(s))
		return add_net(p, s, v6, ps, comment, file, lineno, err, errlen);
	return add_name(p, s, ps, comment, file, lineno, err, errlen);
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

#define POLICY_MAX_INCLUDE 8 /* nesting of include lines */

/* The files being read, innermost first: for cycles, and for the chain an error names. */
struct chain {
	const char *path;
	uint32_t line; /* of the include line that led further in */
	dev_t dev;
	ino_t ino;
	const struct chain *up;
};

static int load_file(struct policy *p, const char *path, struct chain *up, int depth, char *err,
		     size_t errlen);

/* An error of an included file, with the include line that led there: "E (included from
 * FILE:LINE)", or ", from FILE:LINE" added to a chain E already has. */
static int from_include(char *err, size_t errlen, const char *path, uint32_t line)
{
	size_t n = strlen(err);
	bool chained = n && err[n - 1] == ')' && strstr(err, " (included from ");

	if (chained)
		err[--n] = '\0';
	snprintf(err + n, errlen > n ? errlen - n : 0, "%s %s:%u)",
		 chained ? ", from" : " (included from", path, line);
	return -1;
}

/* "include FILE" at path:line: FILE relative to path's directory. */
static int include(struct policy *p, char *arg, struct chain *here, int depth, char *err,
		   size_t errlen)
{
	char *hash = strchr(arg, '#'), inc[4096];
	const char *slash = strrchr(here->path, '/');

	if (hash)
		*hash = '\0';
	arg = trim(arg);
	if (!*arg || strpbrk(arg, " \t"))
		return fail(err, errlen, "%s:%u: include needs one FILE", here->path, here->line);
	if (depth >= POLICY_MAX_INCLUDE)
		return fail(err, errlen, "%s:%u: include %s: includes nested deeper than %d",
			    here->path, here->line, arg, POLICY_MAX_INCLUDE);
	if (arg[0] == '/' || !slash)
		snprintf(inc, sizeof(inc), "%s", arg);
	else
		snprintf(inc, sizeof(inc), "%.*s/%s", (int)(slash - here->path), here->path, arg);
	if (load_file(p, inc, here, depth + 1, err, errlen))
		return from_include(err, errlen, here->path, here->line);
	return 0;
}

static bool is_include(const char *s)
{
	s += strspn(s, " \t");
	return !strncmp(s, "include", 7) && (!s[7] || strchr(" \t\r\n#", s[7]));
}

static int load_file(struct policy *p, const char *path, struct chain *up, int depth, char *err,
		     size_t errlen)
{
	char reason[512], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	struct chain here = {path, 0, 0, 0, up};
	struct stat st;
	uint16_t file;
	FILE *f;
	int ret = policy_add_file(p, path, err, errlen);

	if (ret < 0)
		return -1;
	file = (uint16_t)ret;
	ret = 0;
	f = fopen(path, "re");
	if (!f || fstat(fileno(f), &st)) {
		ret = fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		if (f)
			fclose(f);
		return ret;
	}
	here.dev = st.st_dev;
	here.ino = st.st_ino;
	for (const struct chain *c = up; c; c = c->up)
		if (c->dev == st.st_dev && c->ino == st.st_ino) {
			fclose(f);
			return fail(err, errlen, "%s: already being read: an include cycle", path);
		}
	while ((n = getline(&line, &cap, f)) >= 0) {
		here.line++;
		if (memchr(line, '\0', (size_t)n)) {
			ret = fail(err, errlen, "%s:%u: NUL byte in line", path, here.line);
			break;
		}
		if (is_include(line)) {
			if ((ret = include(p, line + strspn(line, " \t") + 7, &here, depth, err,
					   errlen)))
				break;
		} else if (policy_add_line(p, line, file, here.line, reason, sizeof(reason))) {
			ret = fail(err, errlen, "%s:%u: %s", path, here.line, reason);
			break;
		}
	}
	if (!ret && ferror(f))
		ret = fail(err, errlen, "%s: read error: %s", path, strerror(errno));
	free(line);
	fclose(f);
	return ret;
}

int policy_load(struct policy *p, const char *path, char *err, size_t errlen)
{
	return load_file(p, path, NULL, 0, err, errlen);
}

int policy_load_text(struct policy *p, const char *name, const char *text, char *err, size_t errlen)
{
	char line[1024], reason[512];
	uint32_t lineno = 0;
	int file = policy_add_file(p, name, err, errlen);

	for (const char *s = text; file >= 0 && *s;) {
		size_t n = strcspn(s, "\n");

		lineno++;
		snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1),
			 s);
		if (policy_add_line(p, line, (uint16_t)file, lineno, reason, sizeof(reason)))
			return fail(err, errlen, "%s:%u: %s", name, lineno, reason);
		s += n + (s[n] == '\n');
	}
	return file < 0 ? -1 : 0;
}

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
