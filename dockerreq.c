/*
 * dockerreq.c: what a request to deployguard's Docker socket is (its path cleaned as dockerd's
 * router would, its query, its headers), and what is done with it before dockerd sees it: a
 * create's CgroupParent set to the guarded cgroup, a build's cgroupparent too, a pull's, push's
 * or remote build's registry judged, a start with a body refused; and the container a create
 * made, noted from dockerd's answer. See dockerapi.c for the whole picture.
 */
#define _GNU_SOURCE
#include "dockerapi_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audit.h"
#include "container.h"
#include "json.h"
#include "log.h"
#include "proc.h"

/* Decode %XX escapes of s into out (len bytes): -1 on a bad or NUL escape. */
static int unescape(const char *s, size_t n, char *out, size_t len, bool plus)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (o + 1 >= len)
			return -1;
		if (s[i] == '%') {
			if (i + 2 >= n + 0 || !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]) ||
			    sscanf(s + i + 1, "%2x", &v) != 1 || !v)
				return -1;
			out[o++] = (char)v;
			i += 2;
		} else {
			out[o++] = plus && s[i] == '+' ? ' ' : s[i];
		}
	}
	out[o] = '\0';
	return 0;
}

/* The first value of query parameter key (decoded) into out; false if there is none. Go's
 * r.FormValue also takes the first. */
static bool param(const char *query, const char *key, char *out, size_t len)
{
	char k[64];

	for (const char *s = query; *s;) {
		const char *amp = strchr(s, '&'), *end = amp ? amp : s + strlen(s);
		const char *eq = memchr(s, '=', (size_t)(end - s));

		if (eq && !unescape(s, (size_t)(eq - s), k, sizeof(k), true) && !strcmp(k, key))
			return !unescape(eq + 1, (size_t)(end - eq - 1), out, len, true);
		s = amp ? amp + 1 : end;
	}
	return false;
}

/* The path, decoded and cleaned as dockerd's router would (no dot segments, no double or
 * trailing slash), into c->path, and without its /vX.Y prefix into c->api. -1 if it is not one
 * dockerd would take. */
static int clean_path(struct da_conn *c, const char *target, size_t n)
{
	char raw[sizeof(c->path)];
	size_t o = 0;
	const char *a;

	if (unescape(target, n, raw, sizeof(raw), false) || raw[0] != '/')
		return -1;
	for (size_t i = 0; raw[i]; i++) {
		if (raw[i] == '/' && (raw[i + 1] == '/' || !raw[i + 1]) && o)
			continue;
		if (raw[i] == '/' && raw[i + 1] == '.' &&
		    (raw[i + 2] == '/' || !raw[i + 2] ||
		     (raw[i + 2] == '.' && (raw[i + 3] == '/' || !raw[i + 3]))))
			return -1; /* a dot segment: nothing real asks for one */
		if ((unsigned char)raw[i] < 0x21)
			return -1;
		c->path[o++] = raw[i];
	}
	c->path[o] = '\0';
	a = c->path;
	if (a[1] == 'v' && isdigit((unsigned char)a[2])) { /* /v1.41/... */
		const char *s = a + 2;

		while (isdigit((unsigned char)*s) || *s == '.')
			s++;
		if (*s == '/')
			a = s;
	}
	snprintf(c->api, sizeof(c->api), "%s", a);
	return 0;
}

/* Does c->api match PREFIX<one or more path segments>SUFFIX? The middle into mid. */
static bool route(const struct da_conn *c, const char *prefix, const char *suffix, char *mid,
		  size_t len)
{
	size_t p = strlen(prefix), s = strlen(suffix), n = strlen(c->api);

	if (n <= p + s || strncmp(c->api, prefix, p) || strcmp(c->api + n - s, suffix))
		return false;
	snprintf(mid, len, "%.*s", (int)(n - p - s), c->api + p);
	return true;
}

/* What the request is, from its method and path. */
static enum da_kind kind_of(struct da_conn *c, const char *method)
{
	char mid[256];

	if (strcmp(method, "POST"))
		return K_PASS;
	if (!strcmp(c->api, "/containers/create"))
		return K_CREATE;
	if (route(c, "/containers/", "/start", mid, sizeof(mid)) && !strchr(mid, '/'))
		return K_START;
	if (!strcmp(c->api, "/images/create"))
		return K_PULL;
	if (route(c, "/images/", "/push", c->image, sizeof(c->image)))
		return K_PUSH;
	if (!strcmp(c->api, "/build"))
		return K_BUILD;
	if (route(c, "/containers/", "/attach", mid, sizeof(mid)) ||
	    route(c, "/exec/", "/start", mid, sizeof(mid)) || !strcmp(c->api, "/session") ||
	    !strcmp(c->api, "/grpc"))
		return K_HIJACK;
	return K_PASS;
}

/* The registry host of image reference ref (docker's rule: the first component, if it has a
 * '.' or ':' or is localhost; else Docker Hub), lowercase, and its port (443 if none). */
static void registry_of(const char *ref, char *host, size_t len, unsigned *port)
{
	const char *slash = strchr(ref, '/');
	size_t n = slash ? (size_t)(slash - ref) : 0;
	const char *colon;

	*port = 443;
	if (!slash ||
	    (!memchr(ref, '.', n) && !memchr(ref, ':', n) && strncmp(ref, "localhost", n)) ||
	    n >= len) {
		snprintf(host, len, "registry-1.docker.io");
		return;
	}
	snprintf(host, len, "%.*s", (int)n, ref);
	if ((colon = strrchr(host, ':')) && colon > host && host[0] != '[') {
		*port = (unsigned)strtoul(colon + 1, NULL, 10);
		host[colon - host] = '\0';
	}
	for (char *s = host; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* The host of a URL (http://, https://, git://, git@host:...), lowercase; false if none. */
static bool url_host(const char *url, char *host, size_t len, unsigned *port)
{
	const char *s = strstr(url, "://"), *at, *end;

	*port = 443;
	if (s)
		s += 3;
	else if (!strncmp(url, "git@", 4))
		s = url + 4;
	else
		return false;
	at = strpbrk(s, "@/");
	if (at && *at == '@')
		s = at + 1;
	end = s + strcspn(s, ":/?#");
	if (end == s || (size_t)(end - s) >= len)
		return false;
	snprintf(host, len, "%.*s", (int)(end - s), s);
	if (*end == ':' && isdigit((unsigned char)end[1]))
		*port = (unsigned)strtoul(end + 1, NULL, 10);
	else if (!strncmp(url, "http://", 7))
		*port = 80;
	for (char *h = host; *h; h++)
		*h = (char)tolower((unsigned char)*h);
	return true;
}

/* A registry (or build remote) the request would reach: judged, logged, and a row. Returns
 * whether to refuse it. */
static bool judge_registry(struct dockerapi *d, struct da_conn *c, const char *host, unsigned port,
			   const char *ref, const char *reason)
{
	char rule[300], cmd[DG_CMD_MAX], what[300];
	const char *comment = NULL, *via = NULL, *cls;
	bool blocked = d->cfg.judge(d->cfg.ctx, host, port, rule, sizeof(rule), &comment, &via);
	struct audit_event e = {.level = blocked ? "WARN" : "INFO",
				.event = blocked ? "REGISTRY BLOCKED" : "REGISTRY ALLOWED",
				.reason = via ? "TransientDependency" : reason,
				.blocked = blocked ? !d->cfg.audit : 0,
				.blocked_at = blocked ? "docker" : NULL,
				.domain = host,
				.port = port,
				.pid = c->peer > 0 ? c->peer : -1,
				.cmd = cmd,
				.method = d->cfg.method,
				.rule = rule[0] ? rule : NULL,
				.comment = comment,
				.via = via,
				.image = ref};

	proc_cmdline(c->peer, cmd, sizeof(cmd));
	snprintf(what, sizeof(what), port == 443 ? "%s" : "%s:%u", host, port);
	cls = audit_hit(&(struct audit_hit){.kind = "registry",
					    .what = what,
					    .seen_as = {host, NULL},
					    .verdict = !blocked	      ? AUDIT_ALLOWED
						       : d->cfg.audit ? AUDIT_WOULD_BLOCK
								      : AUDIT_BLOCKED,
					    .pid = e.pid,
					    .cmd = cmd,
					    .reason = e.reason,
					    .rule = e.rule,
					    .comment = comment,
					    .via = via,
					    .proto = "tcp"});
	e.class_ = cls;
	e.fresh = audit_last_fresh();
	if (blocked || audit_verbose() >= 1)
		audit_log(&e);
	return blocked && !d->cfg.audit;
}

/* The request line and headers to send dockerd: the path as parsed, the client's headers but
 * Connection (and, when the body was rewritten, its length), then "Connection: close". */
static int rebuild_head(struct da_conn *c, const char *method, const char *query, long body)
{
	char line[4096];
	const char *h = memchr(c->in.p, '\n', c->head) + 1, *end = c->in.p + c->head - 2;

	snprintf(line, sizeof(line), "%s %s%s%s HTTP/1.1\r\n", method, c->path, query[0] ? "?" : "",
		 query);
	if (da_puts_buf(&c->up, line))
		return -1;
	while (h < end) {
		const char *eol = memchr(h, '\n', (size_t)(end - h) + 1);
		size_t n = (size_t)(eol - h) + 1;

		if (strncasecmp(h, "connection:", 11) && strncasecmp(h, "keep-alive:", 11) &&
		    strncasecmp(h, "proxy-connection:", 17) &&
		    (body < 0 || (strncasecmp(h, "content-length:", 15) &&
				  strncasecmp(h, "transfer-encoding:", 18))) &&
		    da_put(&c->up, h, n, DA_HEAD_MAX * 2))
			return -1;
		h = eol + 1;
	}
	if (body >= 0) {
		snprintf(line, sizeof(line), "Content-Length: %ld\r\n", body);
		if (da_puts_buf(&c->up, line))
			return -1;
	}
	return da_puts_buf(&c->up, c->upgrade && c->kind == K_HIJACK
				       ? "Connection: close, Upgrade\r\n\r\n"
				       : "Connection: close\r\n\r\n");
}

/* A create's JSON with HostConfig.CgroupParent set to the guarded cgroup. dockerd matches member
 * names without regard to case and takes the last of two: every spelling of CgroupParent goes,
 * and two HostConfigs are refused. 0, or -1. */
static int set_parent(const struct dockerapi *d, struct da_conn *c, struct json *cfg)
{
	struct json *hc = NULL, *v;
	int n = 0;

	if (cfg->type != JSON_OBJECT)
		return -1;
	for (size_t i = 0; i < cfg->n; i++) {
		if (!strcasecmp(cfg->keys[i], "HostConfig"))
			hc = &cfg->items[i], n++;
		else if (!strcasecmp(cfg->keys[i], "Image") && cfg->items[i].type == JSON_STRING)
			snprintf(c->image, sizeof(c->image), "%s", cfg->items[i].str);
	}
	if (n > 1 || (!hc && !(hc = json_member(cfg, "HostConfig"))))
		return -1;
	if (hc->type == JSON_NULL)
		hc->type = JSON_OBJECT;
	if (hc->type != JSON_OBJECT)
		return -1;
	for (size_t i = hc->n; i-- > 0;)
		if (!strcasecmp(hc->keys[i], "CgroupParent"))
			json_remove(hc, i);
	if (!(v = json_member(hc, "CgroupParent")) || !(v->str = strdup(d->cfg.cgroup)))
		return -1;
	v->type = JSON_STRING;
	return 0;
}

/* The whole body of a create is here: rewrite it and forward. */
void da_on_create(struct dockerapi *d, struct da_conn *c, const char *method)
{
	struct json cfg;
	char err[128], *text = NULL;
	size_t n = 0;

	if (json_parse(c->in.p + c->head, c->body, &cfg, err, sizeof(err))) {
		da_reply(c, 400, "Bad Request",
			 "deployguard: the container's configuration is not JSON");
		return;
	}
	if (set_parent(d, c, &cfg) || !(text = json_write(&cfg, &n))) {
		json_free(&cfg);
		da_reply(c, 400, "Bad Request",
			 "deployguard: the container's configuration has two HostConfigs");
		return;
	}
	json_free(&cfg);
	if (rebuild_head(c, method, c->query, (long)n) ||
	    da_put(&c->up, text, n, DA_HEAD_MAX * 3 + n))
		da_reply(c, 413, "Payload Too Large", "deployguard: request too large");
	else
		da_forward(d, c, c->in.len);
	free(text);
}

/* The query of a build, its cgroupparent (every one) replaced by the guarded cgroup. */
static void build_query(const struct dockerapi *d, struct da_conn *c)
{
	char out[sizeof(c->query)], k[64];
	size_t o = 0;

	for (const char *s = c->query; *s;) {
		const char *amp = strchr(s, '&'), *end = amp ? amp : s + strlen(s);
		const char *eq = memchr(s, '=', (size_t)(end - s));
		size_t kn = (size_t)((eq ? eq : end) - s);

		if ((unescape(s, kn, k, sizeof(k), true) || strcmp(k, "cgroupparent")) &&
		    o + (size_t)(end - s) + 2 < sizeof(out))
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%.*s", o ? "&" : "",
					      (int)(end - s), s);
		s = amp ? amp + 1 : end;
	}
	o += (size_t)snprintf(out + o, sizeof(out) - o, "%scgroupparent=", o ? "&" : "");
	for (const char *s = d->cfg.cgroup; *s && o + 4 < sizeof(out); s++)
		o += (size_t)snprintf(out + o, sizeof(out) - o,
				      isalnum((unsigned char)*s) || strchr("/_.-", *s) ? "%c"
										       : "%%%02X",
				      (unsigned char)*s);
	snprintf(c->query, sizeof(c->query), "%s", out);
}

/* Parse the headers the request line is followed by: Content-Length, chunked, Upgrade. -1 if
 * they are not HTTP dockerd would take. */
static int headers(struct da_conn *c, const char *h, const char *end)
{
	bool length = false;

	while (h < end) {
		const char *eol = memchr(h, '\n', (size_t)(end - h) + 1), *v;

		if (!eol || eol == h || eol[-1] != '\r' || *h == ' ' || *h == '\t' ||
		    !(v = memchr(h, ':', (size_t)(eol - h))))
			return -1;
		for (v++; *v == ' ' || *v == '\t'; v++)
			;
		if (!strncasecmp(h, "content-length:", 15)) {
			char *e;
			unsigned long n = strtoul(v, &e, 10);

			if (!isdigit((unsigned char)*v) || (e != eol - 1 && *e != ' ') ||
			    (length && n != c->body))
				return -1;
			c->body = n;
			length = true;
		} else if (!strncasecmp(h, "transfer-encoding:", 18)) {
			if (strncasecmp(v, "chunked", 7))
				return -1;
			c->chunked = true;
		} else if (!strncasecmp(h, "upgrade:", 8)) {
			c->upgrade = true;
		}
		h = eol + 1;
	}
	return length && c->chunked ? -1 : 0;
}

/* The head is in: what the request is, and what to do with it. */
void da_on_head(struct dockerapi *d, struct da_conn *c)
{
	const char *s = c->in.p, *eol = memchr(s, '\n', c->head), *sp1, *sp2, *q;
	char method[16], host[256], ref[sizeof(c->image)], msg[600];
	unsigned port;

	/* the request line, up to its '\n' (the head ends with one: eol is never NULL) */
	sp1 = memchr(s, ' ', (size_t)(eol - s));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || sp1 - s >= (long)sizeof(method) || strncmp(sp2, " HTTP/1.", 8) ||
	    headers(c, eol + 1, s + c->head - 2)) {
		da_reply(c, 400, "Bad Request", "deployguard: not a request dockerd would take");
		return;
	}
	snprintf(method, sizeof(method), "%.*s", (int)(sp1 - s), s);
	q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	if (clean_path(c, sp1 + 1, (size_t)((q ? q : sp2) - sp1 - 1)) ||
	    (q && (size_t)(sp2 - q - 1) >= sizeof(c->query))) {
		da_reply(c, 400, "Bad Request", "deployguard: not a path dockerd would take");
		return;
	}
	snprintf(c->query, sizeof(c->query), "%.*s", q ? (int)(sp2 - q - 1) : 0, q ? q + 1 : "");
	c->kind = kind_of(c, method);
	switch (c->kind) {
	case K_CREATE:
		if (c->chunked || c->body > DA_BODY_MAX) {
			da_reply(c, 411, "Length Required",
				 "deployguard: a container's configuration needs a Content-Length "
				 "(1 MiB at most)");
			return;
		}
		param(c->query, "name", c->name, sizeof(c->name));
		c->state = DA_BODY;
		return;
	case K_START:
		if (c->chunked || c->body) {
			da_reply(
			    c, 400, "Bad Request",
			    "deployguard: a start with a configuration is refused: give it to the "
			    "create");
			return;
		}
		break;
	case K_PULL:
	case K_PUSH:
		if (c->kind == K_PULL && !param(c->query, "fromImage", c->image, sizeof(c->image)))
			break; /* an import */
		snprintf(ref, sizeof(ref), "%s", c->image);
		registry_of(ref, host, sizeof(host), &port);
		if (judge_registry(d, c, host, port, ref,
				   c->kind == K_PULL ? "FromImagePull" : "FromImagePush")) {
			snprintf(
			    msg, sizeof(msg),
			    "deployguard: %s of %s refused: the policy blocks %s, its registry",
			    c->kind == K_PULL ? "pull" : "push", ref, host);
			da_reply(c, 403, "Forbidden", msg);
			return;
		}
		break;
	case K_BUILD:
		if (param(c->query, "remote", ref, sizeof(ref)) &&
		    url_host(ref, host, sizeof(host), &port) &&
		    judge_registry(d, c, host, port, ref, "FromBuildRemote")) {
			snprintf(msg, sizeof(msg),
				 "deployguard: build context %s refused: the policy blocks %s", ref,
				 host);
			da_reply(c, 403, "Forbidden", msg);
			return;
		}
		build_query(d, c);
		break;
	default:
		break;
	}
	if (rebuild_head(c, method, c->query, -1))
		da_reply(c, 431, "Request Header Fields Too Large",
			 "deployguard: request too large");
	else
		da_forward(d, c, c->head);
}

/* A create's answer, as far as sniffed: a container made in the guarded cgroup. */
void da_on_created(const struct dockerapi *d, struct da_conn *c)
{
	struct container ct = {.engine = "docker", .requester = c->peer};
	const char *id = memmem(c->sniff, c->nsniff, "\"Id\":\"", 6);
	size_t n = 0;

	if (strncmp(c->sniff, "HTTP/1.1 201", 12)) {
		if (memmem(c->sniff, c->nsniff, "systemd", 7))
			log_warnx(
			    "dockerd uses the systemd cgroup driver: deployguard cannot make the "
			    "deploy's containers in the guarded cgroup, and dockerd refused it; "
			    "run dockerd with --exec-opt native.cgroupdriver=cgroupfs");
		return;
	}
	for (id = id ? id + 6 : NULL;
	     id && n < 64 && id + n < c->sniff + c->nsniff && isxdigit((unsigned char)id[n]); n++)
		;
	if (n != 64)
		return;
	snprintf(ct.id, sizeof(ct.id), "%.64s", id);
	snprintf(ct.name, sizeof(ct.name), "%s", c->name);
	snprintf(ct.image, sizeof(ct.image), "%s", c->image);
	snprintf(ct.rel, sizeof(ct.rel), "%s/%s", d->cfg.cgroup, ct.id);
	container_add(&ct);
	log_debug("docker container %.12s (%s) in %s", ct.id, ct.image, ct.rel);
}
