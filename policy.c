/*
 * policy.c: flat-file policies (blocklists and allowlists): reading and checking them.
 *
 * One rule per line: a domain name (matching itself and every name below it), "=NAME" (that name
 * alone), "*.NAME" (the names below it), a glob in the first label ("api-*.example.com"), or an
 * IPv4/IPv6 address or CIDR prefix; "include FILE" reads another file in its place. This file
 * reads and checks the rules; ruleset.c holds them and matches names against them.
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

#include "ruleset.h"

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
			policy_put_name(psl, name, (size_t)len, wild ? POLICY_BELOW : POLICY_SELF,
					NULL, 0, 0);
	}
	if (f)
		fclose(f);
	return psl;
}

static bool public_suffix(const char *name, size_t len)
{
	const char *dot = memchr(name, '.', len);
	const struct policy *psl = psl_load();

	if (!dot)
		return true;
	if (!psl)
		return false;
	return policy_covers(psl, name, len) ||
	       policy_covers(psl, dot + 1, len - (size_t)(dot + 1 - name)) &
		   POLICY_BELOW; /* *.ck */
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
	if (policy_put_glob(p, lpat, plen, rest, (size_t)rlen, ps.port, ps.proto, comment, file,
			    line))
		return fail(err, errlen, "out of memory");
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
	if (ps.port ? policy_put_port(p, name, (size_t)len, covers, ps.port, ps.proto, comment,
				      file, line)
		    : policy_put_name(p, name, (size_t)len, covers, comment, file, line))
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
	if (policy_put_net(p, n, comment))
		return fail(err, errlen, "out of memory");
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
