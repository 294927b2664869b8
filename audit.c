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
#include <syslog.h>
#include <unistd.h>

#include "hash.h"
#include "log.h"
#include "logline.h"
#include "proc.h"

#define AUDIT_CMD_SHOWN 80 /* characters of each command the summary keeps */

static struct {
	FILE *out;
	enum audit_format fmt;
	int verbose;
	struct audit_row *rows;
	size_t nrows, cap;
	uint32_t index[2 * AUDIT_MAX_NAMES]; /* open addressing: row + 1, 0 empty */
	unsigned long other;
	bool syslog;	       /* --syslog: every line to syslog(3) too */
	audit_known_fn *known; /* --history: did an earlier run reach it? */
	bool last_fresh;       /* the row of the last audit_hit is new */
	bool unflushed;	       /* audit_log wrote since the last audit_flush */
} au = {.fmt = AUDIT_TEXT};

static void warn_to_syslog(const char *msg)
{
	audit_syslog_line("WARN", msg, strlen(msg));
}

/* log.c's lines come here once the event log exists: its format, and syslog. */
static const struct log_sinks to_log = {audit_message, warn_to_syslog};

void audit_init(FILE *out, enum audit_format fmt, int verbose)
{
	log_set_sinks(&to_log);
	au.out = out;
	au.fmt = fmt;
	au.verbose = verbose;
}

int audit_verbose(void)
{
	return au.verbose;
}

void audit_syslog(bool on)
{
	log_set_sinks(&to_log);
	if (on && !au.syslog)
		openlog("deployguard", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!on && au.syslog)
		closelog();
	au.syslog = on;
}

/* A line (n bytes, a newline at its end or not) to syslog with its level's severity. */
void audit_syslog_line(const char *level, const char *s, size_t n)
{
	int prio = !strcmp(level, "WARN")    ? LOG_WARNING
		   : !strcmp(level, "DEBUG") ? LOG_DEBUG
					     : LOG_INFO;

	if (!au.syslog)
		return;
	if (n && s[n - 1] == '\n')
		n--;
	syslog(prio, "%.*s", (int)n, s);
}

static void fput_quoted(FILE *f, const char *s);

void audit_message(const char *level, const char *msg)
{
	FILE *f = au.out ? au.out : stderr, *m;
	char *line = NULL;
	size_t len = 0;

	if (!(m = open_memstream(&line, &len)))
		return;
	if (au.fmt == AUDIT_JSON && au.out) {
		fprintf(m, "{\"level\":\"%s\",\"event\":\"MESSAGE\",\"message\":", level);
		fput_quoted(m, msg);
		fputs("}\n", m);
	} else {
		fprintf(m, "deployguard: %s%s\n", strcmp(level, "DEBUG") ? "" : "debug: ", msg);
	}
	if (fclose(m) == 0) {
		fwrite(line, 1, len, f);
		audit_syslog_line(level, line, len);
	}
	free(line);
	fflush(f);
}

static void put_quoted(struct line *l, const char *s)
{
	line_quote(l, s, au.fmt == AUDIT_JSON);
}

static void fput_quoted(FILE *f, const char *s)
{
	struct line l;

	l.len = 0;
	put_quoted(&l, s);
	fwrite(l.buf, 1, l.len, f);
}

void audit_json_string(FILE *f, const char *s)
{
	struct line l;

	if (!s) {
		fputs("null", f);
		return;
	}
	l.len = 0;
	line_quote(&l, s, true);
	fwrite(l.buf, 1, l.len, f);
}

/* " key=" (text) or ",\"key\":" (JSON, no comma first). */
static void put_key(struct line *l, bool *first, const char *key)
{
	if (au.fmt == AUDIT_JSON) {
		line_put_s(l, *first ? "\"" : ",\"");
		line_put_s(l, key);
		line_put_s(l, "\":");
	} else {
		line_put_s(l, " ");
		line_put_s(l, key);
		line_put_s(l, "=");
	}
	*first = false;
}

static void put_str(struct line *l, bool *first, const char *key, const char *val, bool quote)
{
	size_t n;

	if (!val)
		return;
	put_key(l, first, key);
	/* Unquoted text values are generated or already escaped; quote anything else anyway. */
	n = quote || au.fmt == AUDIT_JSON ? 0 : line_bare_run(val);
	if (!n || val[n])
		put_quoted(l, val);
	else
		line_put(l, val, n);
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
	line_put(l, digits + i, sizeof(digits) - i);
}

void audit_log(const struct audit_event *e)
{
	FILE *f = au.out ? au.out : stderr;
	char domain[1100];
	struct line l; /* not zeroed: 16 KiB of memset would cost more than the rest */
	const struct container *ctr;
	bool first = true;

	l.len = 0;
	if (e->domain) { /* the name and the root's "." */
		size_t n = strnlen(e->domain, sizeof(domain) - 2);

		memcpy(domain, e->domain, n);
		memcpy(domain + n, ".", 2);
	}
	if (au.fmt == AUDIT_JSON) {
		line_put_s(&l, "{");
		put_str(&l, &first, "level", e->level, true);
		put_str(&l, &first, "event", e->event, true);
		if (e->blocked >= 0)
			line_put_s(&l, e->blocked ? ",\"blocked\":true" : ",\"blocked\":false");
	} else {
		line_put_s(&l, e->level);
		line_put_s(&l, " ");
		line_put_s(&l, e->event);
	}
	put_str(&l, &first, "reason", e->reason, false);
	if (au.fmt == AUDIT_TEXT && e->blocked >= 0)
		line_put_s(&l, e->blocked ? " blocked=true" : " blocked=false");
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
	if ((ctr = e->ctr) || (e->pid > 0 && (ctr = container_of((pid_t)e->pid)))) {
		char id[13];

		snprintf(id, sizeof(id), "%.12s", ctr->id);
		put_str(&l, &first, "container", id, false);
		put_str(&l, &first, "containerName", ctr->name[0] ? ctr->name : NULL, true);
		if (!e->image)
			put_str(&l, &first, "image", ctr->image[0] ? ctr->image : NULL, true);
	}
	put_str(&l, &first, "image", e->image, true);
	put_str(&l, &first, "firewallMethod", e->method, false);
	put_str(&l, &first, "qtype", e->qtype, false);
	put_str(&l, &first, "rule", e->rule, au.fmt == AUDIT_JSON);
	put_str(&l, &first, "ruleComment", e->comment, true);
	put_str(&l, &first, "via", e->via, false);
	put_str(&l, &first, "class", e->class_, false);
	if (e->fresh)
		line_put_s(&l, au.fmt == AUDIT_JSON ? ",\"new\":true" : " new=true");
	put_str(&l, &first, "tried", e->tried, true);
	if (l.len == sizeof(l.buf))
		l.len--; /* cut: room for the newline */
	line_put_s(&l, au.fmt == AUDIT_JSON ? "}\n" : "\n");
	fwrite(l.buf, 1, l.len, f);
	au.unflushed = true;
	audit_syslog_line(e->level, l.buf, l.len);
}

/* Once a turn of the poll loop: a turn that logged nothing costs no fflush. */
void audit_flush(void)
{
	if (au.unflushed)
		fflush(au.out ? au.out : stderr);
	au.unflushed = false;
}

static uint32_t row_hash(const char *kind, const char *what)
{
	return fnv1a(what, strlen(what), fnv1a(kind, strlen(kind) + 1, FNV1A_INIT)); /* with NUL */
}

/* The row for (kind, what), added if new (and create); NULL once AUDIT_MAX_NAMES rows exist. */
static struct audit_row *find_row(const char *kind, const char *what, bool create)
{
	const size_t mask = 2 * AUDIT_MAX_NAMES - 1;
	size_t i = row_hash(kind, what) & mask;
	struct audit_row *r;

	for (; au.index[i]; i = (i + 1) & mask) {
		r = &au.rows[au.index[i] - 1];
		if (!strcmp(r->what, what) && !strcmp(r->kind, kind))
			return r;
	}
	if (!create || au.nrows >= AUDIT_MAX_NAMES)
		return NULL;
	if (au.nrows == au.cap) {
		size_t ncap = au.cap ? au.cap * 2 : 64;
		struct audit_row *n = realloc(au.rows, ncap * sizeof(*n));

		if (!n)
			return NULL;
		au.rows = n;
		au.cap = ncap;
	}
	r = &au.rows[au.nrows];
	*r = (struct audit_row){.kind = strdup(kind), .what = strdup(what)};
	if (!r->kind || !r->what) {
		free(r->kind);
		free(r->what);
		return NULL;
	}
	au.index[i] = (uint32_t)++au.nrows;
	return r;
}

static void keep(char **field, const char *val)
{
	if (val && !*field)
		*field = strdup(val);
}

static bool mentioned(int rec, const struct audit_hit *h)
{
	return (h->seen_as[0] && proc_mentions(rec, h->seen_as[0])) ||
	       (h->seen_as[1] && proc_mentions(rec, h->seen_as[1]));
}

/* The process of this hit among the row's askers: whether its lineage shows the destination. */
static bool asker_direct(struct audit_row *r, const struct audit_hit *h)
{
	int rec = proc_of((pid_t)h->pid);
	size_t i;

	if (rec < 0)
		return false;
	for (i = 0; i < r->naskers; i++)
		if (r->askers[i].rec == rec)
			return r->askers[i].direct;
	if (i == AUDIT_MAX_ASKERS) { /* not kept: judged anyway, for its log line */
		r->more_askers++;
		return mentioned(rec, h);
	}
	r->askers[i].rec = rec;
	r->askers[i].direct = mentioned(rec, h);
	r->naskers++;
	return r->askers[i].direct;
}

static void count_cmd(struct audit_row *r, const char *cmd)
{
	size_t i;

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

static bool has_class(const char *kind)
{
	return !strcmp(kind, "dns") || !strcmp(kind, "connect") || !strcmp(kind, "registry");
}

/* The row's reason, rule and comment: the first hit's, until one blocks; then that one's. */
static void reasons(struct audit_row *r, const struct audit_hit *h)
{
	if (h->verdict != AUDIT_ALLOWED && !r->blocked_reason) {
		free(r->reason), free(r->rule), free(r->comment), free(r->via);
		r->reason = r->rule = r->comment = r->via = NULL;
		r->blocked_reason = true;
	}
	keep(&r->reason, h->reason);
	keep(&r->rule, h->rule);
	keep(&r->comment, h->comment);
	keep(&r->via, h->via);
	keep(&r->proto, h->proto);
	r->transient |= h->via != NULL;
}

void audit_set_known(audit_known_fn *known)
{
	au.known = known;
}

bool audit_last_fresh(void)
{
	return au.last_fresh;
}

const char *audit_hit(const struct audit_hit *h)
{
	struct audit_row *r = find_row(h->kind, h->what, true);
	uint64_t now = proc_wall_ms();
	bool direct;

	au.last_fresh = false;
	if (!r) {
		au.other++;
		return NULL;
	}
	if (!r->count++) {
		r->first_ms = now;
		r->fresh = au.known && has_class(h->kind) && !au.known(h->kind, h->what);
	}
	au.last_fresh = r->fresh;
	r->last_ms = now;
	reasons(r, h);
	if (h->verdict > r->verdict)
		r->verdict = h->verdict; /* a name blocked once shows as blocked */
	count_cmd(r, h->cmd);
	if (!has_class(h->kind))
		return NULL;
	direct = h->pid > 0 && asker_direct(r, h);
	r->direct |= direct;
	return h->via ? "transient" : direct ? "direct" : "hidden";
}

void audit_resolved(const char *name, bool v6, const uint8_t *addr)
{
	struct audit_row *r = find_row("dns", name, false);

	if (!r || r->naddrs == AUDIT_MAX_ADDRS)
		return;
	for (size_t i = 0; i < r->naddrs; i++)
		if (r->addrs[i].v6 == v6 && !memcmp(r->addrs[i].a, addr, v6 ? 16 : 4))
			return;
	r->addrs[r->naddrs].v6 = v6;
	memcpy(r->addrs[r->naddrs++].a, addr, v6 ? 16 : 4);
}

const char *audit_class(const struct audit_row *r)
{
	if (!has_class(r->kind))
		return NULL;
	return r->transient ? "transient" : r->direct ? "direct" : "hidden";
}

const char *audit_verdict_name(enum audit_verdict v)
{
	return v == AUDIT_BLOCKED ? "blocked" : v == AUDIT_WOULD_BLOCK ? "would-block" : "allowed";
}

const struct audit_row *audit_rows(size_t *n, unsigned long *other)
{
	*n = au.nrows;
	*other = au.other;
	return au.rows;
}

/* The summary's columns: the widest kind, destination and reason (a destination longer than
 * the cap only pushes its own row; a reason is cut to fit). */
#define AUDIT_DEST_MAX 60
#define AUDIT_WHY_MAX  40
static int kind_w = 4, dest_w = 11, why_w = 3;

static int dest_len(const struct audit_row *r)
{
	return (int)strlen(r->what) + !strcmp(r->kind, "dns");
}

/* Why a row was blocked, in a few words: "via DEP" or the rule's comment, cut to fit. */
static void row_why(const struct audit_row *r, char *buf, size_t len)
{
	if (r->via)
		snprintf(buf, len, "via %s", r->via);
	else
		snprintf(buf, len, "%s",
			 r->comment && r->verdict != AUDIT_ALLOWED ? r->comment : "-");
	if (strlen(buf) > AUDIT_WHY_MAX && len > AUDIT_WHY_MAX)
		memcpy(buf + AUDIT_WHY_MAX - 3, "...", 4);
}

static void summary_widths(void)
{
	for (size_t i = 0; i < au.nrows; i++) {
		char why[300];
		int k = (int)strlen(au.rows[i].kind), d = dest_len(&au.rows[i]), w;

		row_why(&au.rows[i], why, sizeof(why));
		w = (int)strlen(why);
		kind_w = k > kind_w ? k : kind_w;
		dest_w = d > dest_w && d <= AUDIT_DEST_MAX ? d : dest_w;
		why_w = w > why_w ? w : why_w;
	}
}

static void summary_row_text(FILE *f, const struct audit_row *r)
{
	const char *cls = audit_class(r);
	char why[300];

	row_why(r, why, sizeof(why));
	fprintf(f, "  %7lu %-11s %-9s %s%-*s %s%s%*s  %-*s", r->count,
		audit_verdict_name(r->verdict), cls ? cls : "-",
		!au.known  ? ""
		: r->fresh ? "new  "
			   : "-    ",
		kind_w, r->kind, r->what, strcmp(r->kind, "dns") ? "" : ".",
		dest_len(r) < dest_w ? dest_w - dest_len(r) : 0, "", why_w, why);
	for (size_t i = 0; i < AUDIT_MAX_CMDS && r->cmds[i]; i++) {
		fputs(i ? ", " : "  by ", f);
		fput_quoted(f, r->cmds[i]);
	}
	if (r->more_cmds)
		fprintf(f, " and %lu more", r->more_cmds);
	fputc('\n', f);
}

/* ,"key":"value" when value is set. */
static void fput_field(FILE *f, const char *key, const char *value)
{
	if (!value)
		return;
	fprintf(f, ",\"%s\":", key);
	fput_quoted(f, value);
}

static void summary_row_json(FILE *f, const struct audit_row *r)
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
	fprintf(f, ",\"count\":%lu,\"verdict\":\"%s\"", r->count, audit_verdict_name(r->verdict));
	fput_field(f, "class", audit_class(r));
	fput_field(f, "rule", r->rule);
	fput_field(f, "ruleComment", r->comment);
	fput_field(f, "via", r->via);
	if (r->fresh)
		fputs(",\"new\":true", f);
	fputs(",\"cmds\":[", f);
	for (size_t i = 0; i < AUDIT_MAX_CMDS && r->cmds[i]; i++) {
		fputs(i ? "," : "", f);
		fput_quoted(f, r->cmds[i]);
	}
	fprintf(f, "],\"moreCmds\":%lu}\n", r->more_cmds);
}

/* A summary line, to the log and to syslog. */
static void out_line(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_line(FILE *f, const char *fmt, ...)
{
	char *line;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	fwrite(line, 1, (size_t)n, f);
	audit_syslog_line("INFO", line, (size_t)n);
	free(line);
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
		out_line(f,
			 "deployguard: summary: %lu lookups and connections, %zu destinations, "
			 "%lu blocked or would be\n",
			 queries, au.nrows, blocked);
		summary_widths();
		if (au.nrows)
			out_line(f, "  %7s %-11s %-9s %s%-*s %-*s  %-*s  %s\n", "COUNT", "VERDICT",
				 "CLASS", au.known ? "NEW  " : "", kind_w, "KIND", dest_w,
				 "DESTINATION", why_w, "WHY", "COMMANDS");
	}
	for (size_t i = 0; i < au.nrows; i++) {
		char *line = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&line, &len);

		if (!m)
			break;
		(au.fmt == AUDIT_JSON ? summary_row_json : summary_row_text)(m, &au.rows[i]);
		if (fclose(m) == 0) {
			fwrite(line, 1, len, f);
			audit_syslog_line("INFO", line, len);
		}
		free(line);
	}
	if (au.other && au.fmt == AUDIT_TEXT)
		out_line(f, "  %7lu (more destinations than the summary keeps)\n", au.other);
	fflush(f);
}

unsigned long audit_fresh(void)
{
	unsigned long n = 0;

	for (size_t i = 0; i < au.nrows; i++)
		n += au.rows[i].fresh;
	return n;
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
		struct audit_row *r = &au.rows[i];

		free(r->kind), free(r->what);
		free(r->reason), free(r->rule), free(r->comment), free(r->via), free(r->proto);
		for (size_t j = 0; j < AUDIT_MAX_CMDS; j++)
			free(r->cmds[j]);
	}
	free(au.rows);
	au.rows = NULL;
	au.nrows = au.cap = 0;
	au.other = 0;
	memset(au.index, 0, sizeof(au.index));
}
