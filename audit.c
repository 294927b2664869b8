/*
 * audit.c: the event log and the end-of-run summary.
 *
 * Events go to the log stream (-o, else stderr), one line each, in the key=value format users
 * know from GitHub's deploy firewall or as JSON objects with the same field names. Every byte that
 * came from the guarded script is escaped so it cannot forge or split a line (djbdns).
 */
#define _GNU_SOURCE
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"

#define AUDIT_MAX_NAMES 65536 /* summary rows; later names are counted as "other" */
#define AUDIT_MAX_CMDS	3     /* distinct commands kept per row */
#define AUDIT_CMD_SHOWN 80    /* characters of each command the summary keeps */

struct row {
	char *kind, *what;
	unsigned long count;
	enum audit_verdict verdict;
	char *cmds[AUDIT_MAX_CMDS];
	unsigned long more_cmds;
};

static struct {
	FILE *out;
	enum audit_format fmt;
	int verbose;
	struct row *rows;
	size_t nrows, cap;
	uint32_t index[2 * AUDIT_MAX_NAMES]; /* open addressing: row + 1, 0 empty */
	unsigned long other;
} au = {.fmt = AUDIT_TEXT};

void audit_init(FILE *out, enum audit_format fmt, int verbose)
{
	au.out = out;
	au.fmt = fmt;
	au.verbose = verbose;
}

int audit_verbose(void)
{
	return au.verbose;
}

static void fput_quoted(FILE *f, const char *s);

void audit_message(const char *level, const char *msg)
{
	FILE *f = au.out ? au.out : stderr;

	if (au.fmt == AUDIT_JSON && au.out) {
		fprintf(f, "{\"level\":\"%s\",\"event\":\"MESSAGE\",\"message\":", level);
		fput_quoted(f, msg);
		fputs("}\n", f);
	} else {
		fprintf(f, "deployguard: %s%s\n", strcmp(level, "DEBUG") ? "" : "debug: ", msg);
	}
	fflush(f);
}

/* An event line is built here and written with one fwrite: formatting it with stdio cost more
 * instructions than the rest of a blocked query's handling. Anything past the end is cut. */
struct line {
	size_t len;
	char buf[16384]; /* more than the longest line: every field is bounded */
};

static void put(struct line *l, const char *s, size_t n)
{
	if (n > sizeof(l->buf) - l->len)
		n = sizeof(l->buf) - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void put_s(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* Quote s for a text line ("..." with \" \\ \xHH) or a JSON string. */
static void put_quoted(struct line *l, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	put(l, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[6] = {'\\', (char)*p};

		if (*p == '"' || *p == '\\') {
			put(l, esc, 2);
		} else if (*p < 0x20 || *p >= 0x7f) {
			memcpy(esc + 1, au.fmt == AUDIT_JSON ? "u00" : "x",
			       au.fmt == AUDIT_JSON ? 3 : 1);
			esc[au.fmt == AUDIT_JSON ? 4 : 2] = hex[*p >> 4];
			esc[au.fmt == AUDIT_JSON ? 5 : 3] = hex[*p & 15];
			put(l, esc, au.fmt == AUDIT_JSON ? 6 : 4);
		} else {
			put(l, (const char *)p, 1);
		}
	}
	put(l, "\"", 1);
}

static void fput_quoted(FILE *f, const char *s)
{
	struct line l;

	l.len = 0;
	put_quoted(&l, s);
	fwrite(l.buf, 1, l.len, f);
}

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return true;
	return false;
}

/* " key=" (text) or ",\"key\":" (JSON, no comma first). */
static void put_key(struct line *l, bool *first, const char *key)
{
	if (au.fmt == AUDIT_JSON) {
		put_s(l, *first ? "\"" : ",\"");
		put_s(l, key);
		put_s(l, "\":");
	} else {
		put_s(l, " ");
		put_s(l, key);
		put_s(l, "=");
	}
	*first = false;
}

static void put_str(struct line *l, bool *first, const char *key, const char *val, bool quote)
{
	if (!val)
		return;
	put_key(l, first, key);
	/* Unquoted text values are generated or already escaped; quote anything else anyway. */
	if (au.fmt == AUDIT_JSON || quote || !*val || strpbrk(val, "\" ") || has_ctl(val))
		put_quoted(l, val);
	else
		put_s(l, val);
}

static void put_num(struct line *l, bool *first, const char *key, long v)
{
	char digits[24];
	size_t i = sizeof(digits);

	if (v < 0)
		return;
	put_key(l, first, key);
	do
		digits[--i] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	put(l, digits + i, sizeof(digits) - i);
}

void audit_log(const struct audit_event *e)
{
	FILE *f = au.out ? au.out : stderr;
	char domain[1100];
	struct line l; /* not zeroed: 16 KiB of memset would cost more than the rest */
	bool first = true;

	l.len = 0;
	if (e->domain) { /* the name and the root's "." */
		size_t n = strnlen(e->domain, sizeof(domain) - 2);

		memcpy(domain, e->domain, n);
		memcpy(domain + n, ".", 2);
	}
	if (au.fmt == AUDIT_JSON) {
		put_s(&l, "{");
		put_str(&l, &first, "level", e->level, true);
		put_str(&l, &first, "event", e->event, true);
		if (e->blocked >= 0)
			put_s(&l, e->blocked ? ",\"blocked\":true" : ",\"blocked\":false");
	} else {
		put_s(&l, e->level);
		put_s(&l, " ");
		put_s(&l, e->event);
	}
	put_str(&l, &first, "reason", e->reason, false);
	if (au.fmt == AUDIT_TEXT && e->blocked >= 0)
		put_s(&l, e->blocked ? " blocked=true" : " blocked=false");
	put_str(&l, &first, "blockedAt", e->blocked_at, false);
	put_str(&l, &first, "domain", e->domain ? domain : NULL, false);
	put_str(&l, &first, "ip", e->ip, false);
	put_num(&l, &first, "port", e->port);
	put_str(&l, &first, "path", e->path, true);
	if (e->peercmd) {
		put_num(&l, &first, "peer", e->peer);
		put_str(&l, &first, "peercmd", e->peercmd, true);
	}
	put_num(&l, &first, "pid", e->pid);
	put_str(&l, &first, "cmd", e->cmd, true);
	put_str(&l, &first, "firewallMethod", e->method, false);
	put_str(&l, &first, "qtype", e->qtype, false);
	put_str(&l, &first, "rule", e->rule, au.fmt == AUDIT_JSON);
	put_str(&l, &first, "tried", e->tried, true);
	if (l.len == sizeof(l.buf))
		l.len--; /* cut: room for the newline */
	put_s(&l, au.fmt == AUDIT_JSON ? "}\n" : "\n");
	fwrite(l.buf, 1, l.len, f);
}

void audit_flush(void)
{
	fflush(au.out ? au.out : stderr);
}

/* Command lines seen at exec time, so a process that is gone by the time it is reported (a
 * connect refused at once, a query sent without waiting) is still named. Direct-mapped by pid. */
#define AUDIT_CMD_CACHE 1024
static struct {
	pid_t pid;
	char cmd[256];
} cmd_cache[AUDIT_CMD_CACHE];

static ssize_t read_cmdline(pid_t pid, char *buf, size_t len)
{
	char path[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, len - 1);
	close(fd);
	return n < 0 ? 0 : n;
}

unsigned long long audit_stat(pid_t pid, int field)
{
	char path[32], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold anything: fields 3 on follow it */
	for (int f = 2; p && f < field; f++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

void audit_cmdline(pid_t pid, char *buf, size_t len)
{
	size_t slot = (size_t)pid % AUDIT_CMD_CACHE;
	ssize_t n;

	buf[0] = '\0';
	if (pid <= 0 || len < 2)
		return;
	n = read_cmdline(pid, buf, len);
	if (n == 0) { /* exited (a zombie has no command line): the cache may know */
		if (cmd_cache[slot].pid == pid)
			snprintf(buf, len, "%s", cmd_cache[slot].cmd);
		return;
	}
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	cmd_cache[slot].pid = pid;
	snprintf(cmd_cache[slot].cmd, sizeof(cmd_cache[slot].cmd), "%s", buf);
}

void audit_cmdline_cached(pid_t pid, char *buf, size_t len)
{
	size_t slot = (size_t)pid % AUDIT_CMD_CACHE;

	if (pid > 0 && len >= 2 && cmd_cache[slot].pid == pid)
		snprintf(buf, len, "%s", cmd_cache[slot].cmd);
	else
		audit_cmdline(pid, buf, len);
}

static uint32_t row_hash(const char *kind, const char *what)
{
	return fnv1a(what, strlen(what), fnv1a(kind, strlen(kind) + 1, FNV1A_INIT)); /* with NUL */
}

/* The row for (kind, what), added if new; NULL once AUDIT_MAX_NAMES rows exist. */
static struct row *find_row(const char *kind, const char *what)
{
	const size_t mask = 2 * AUDIT_MAX_NAMES - 1;
	size_t i = row_hash(kind, what) & mask;
	struct row *r;

	for (; au.index[i]; i = (i + 1) & mask) {
		r = &au.rows[au.index[i] - 1];
		if (!strcmp(r->what, what) && !strcmp(r->kind, kind))
			return r;
	}
	if (au.nrows >= AUDIT_MAX_NAMES)
		return NULL;
	if (au.nrows == au.cap) {
		size_t ncap = au.cap ? au.cap * 2 : 64;
		struct row *n = realloc(au.rows, ncap * sizeof(*n));

		if (!n)
			return NULL;
		au.rows = n;
		au.cap = ncap;
	}
	r = &au.rows[au.nrows];
	*r = (struct row){.kind = strdup(kind), .what = strdup(what)};
	if (!r->kind || !r->what) {
		free(r->kind);
		free(r->what);
		return NULL;
	}
	au.index[i] = (uint32_t)++au.nrows;
	return r;
}

void audit_count(const char *kind, const char *what, enum audit_verdict v, const char *cmd)
{
	struct row *r = find_row(kind, what);
	size_t i;

	if (!r) {
		au.other++;
		return;
	}
	r->count++;
	if (v > r->verdict)
		r->verdict = v; /* a name blocked once shows as blocked */
	if (!cmd || !*cmd)
		return;
	for (i = 0; i < AUDIT_MAX_CMDS && r->cmds[i]; i++)
		if (!strncmp(r->cmds[i], cmd, AUDIT_CMD_SHOWN))
			return;
	if (i == AUDIT_MAX_CMDS)
		r->more_cmds++;
	else
		r->cmds[i] = strndup(cmd, AUDIT_CMD_SHOWN);
}

static const char *verdict_name(enum audit_verdict v)
{
	return v == AUDIT_BLOCKED ? "blocked" : v == AUDIT_WOULD_BLOCK ? "would-block" : "allowed";
}

/* The summary's columns: the widest kind and destination (a longer one only pushes its own row). */
#define AUDIT_DEST_MAX 60
static int kind_w = 4, dest_w = 11;

static int dest_len(const struct row *r)
{
	return (int)strlen(r->what) + !strcmp(r->kind, "dns");
}

static void summary_widths(void)
{
	for (size_t i = 0; i < au.nrows; i++) {
		int k = (int)strlen(au.rows[i].kind), d = dest_len(&au.rows[i]);

		kind_w = k > kind_w ? k : kind_w;
		dest_w = d > dest_w && d <= AUDIT_DEST_MAX ? d : dest_w;
	}
}

static void summary_row_text(FILE *f, const struct row *r)
{
	fprintf(f, "  %7lu %-11s %-*s %s%s%*s", r->count, verdict_name(r->verdict), kind_w, r->kind,
		r->what, strcmp(r->kind, "dns") ? "" : ".",
		dest_len(r) < dest_w ? dest_w - dest_len(r) : 0, "");
	for (size_t i = 0; i < AUDIT_MAX_CMDS && r->cmds[i]; i++) {
		fputs(i ? ", " : "  by ", f);
		fput_quoted(f, r->cmds[i]);
	}
	if (r->more_cmds)
		fprintf(f, " and %lu more", r->more_cmds);
	fputc('\n', f);
}

static void summary_row_json(FILE *f, const struct row *r)
{
	fprintf(f, "{\"level\":\"INFO\",\"event\":\"SUMMARY\",\"kind\":\"%s\",\"%s\":", r->kind,
		!strcmp(r->kind, "dns")	      ? "domain"
		: !strcmp(r->kind, "connect") ? "ip"
					      : "what");
	if (!strcmp(r->kind, "dns")) {
		char d[1100];

		snprintf(d, sizeof(d), "%s.", r->what);
		fput_quoted(f, d);
	} else {
		fput_quoted(f, r->what);
	}
	fprintf(f, ",\"count\":%lu,\"verdict\":\"%s\",\"cmds\":[", r->count,
		verdict_name(r->verdict));
	for (size_t i = 0; i < AUDIT_MAX_CMDS && r->cmds[i]; i++) {
		fputs(i ? "," : "", f);
		fput_quoted(f, r->cmds[i]);
	}
	fprintf(f, "],\"moreCmds\":%lu}\n", r->more_cmds);
}

void audit_summary(void)
{
	FILE *f = au.out ? au.out : stderr;
	unsigned long queries = 0, blocked = 0;

	for (size_t i = 0; i < au.nrows; i++) {
		queries += au.rows[i].count;
		blocked += au.rows[i].verdict != AUDIT_ALLOWED;
	}
	if (au.fmt == AUDIT_TEXT) {
		fprintf(f,
			"deployguard: summary: %lu lookups and connections, %zu destinations, "
			"%lu blocked or would be\n",
			queries, au.nrows, blocked);
		summary_widths();
		if (au.nrows)
			fprintf(f, "  %7s %-11s %-*s %-*s  %s\n", "COUNT", "VERDICT", kind_w,
				"KIND", dest_w, "DESTINATION", "COMMANDS");
	}
	for (size_t i = 0; i < au.nrows; i++)
		(au.fmt == AUDIT_JSON ? summary_row_json : summary_row_text)(f, &au.rows[i]);
	if (au.other && au.fmt == AUDIT_TEXT)
		fprintf(f, "  %7lu (more destinations than the summary keeps)\n", au.other);
	fflush(f);
}

unsigned long audit_blocked(void)
{
	unsigned long n = au.other; /* rows past the summary's table were not kept: count them in */

	for (size_t i = 0; i < au.nrows; i++)
		n += au.rows[i].verdict != AUDIT_ALLOWED;
	return n;
}

void audit_free(void)
{
	for (size_t i = 0; i < au.nrows; i++) {
		free(au.rows[i].kind);
		free(au.rows[i].what);
		for (size_t j = 0; j < AUDIT_MAX_CMDS; j++)
			free(au.rows[i].cmds[j]);
	}
	free(au.rows);
	au.rows = NULL;
	au.nrows = au.cap = 0;
	memset(au.index, 0, sizeof(au.index));
}
