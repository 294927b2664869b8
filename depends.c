/*
 * depends.c: the dependency manifest. One line per internal service: its name, then the names
 * it needs ("deploy-api.corp  github.com ghcr.io"), matched as policy rules are (a name and
 * every name below it). A service is blocked when a name it needs is, directly or through
 * another service of the manifest: a transient dependency, which no policy of names alone
 * sees, since the deploy's own query names only the service.
 */
#define _GNU_SOURCE
#include "depends.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A manifest names things by name: an address is an error, not a silent non-match. */
static int name_of(const char *tok, char *out, char *err, size_t errlen)
{
	if (strchr(tok, ':') || strspn(tok, "0123456789./") == strlen(tok))
		return fail(err, errlen,
			    "'%s': a manifest names services and their dependencies by name", tok);
	return policy_normalize(tok, strlen(tok), out, err, errlen);
}

/* The entry for service name, added if new (a service on two lines needs both lines' names). */
static struct depends_entry *entry(struct depends *d, char *name, uint16_t file, uint32_t line,
				   char *err, size_t errlen)
{
	struct policy_src src;
	size_t had = d->services.nnames, nets = d->services.nnets, len = strlen(name);
	struct depends_entry *e;

	if (strpbrk(name, "=*:[")) {
		fail(err, errlen,
		     "'%s': a service is a plain name, without a port (it covers the names below "
		     "it)",
		     name);
		return NULL;
	}
	if (policy_add_line(&d->services, name, file, line, err, errlen))
		return NULL;
	if (d->services.nnets != nets) {
		fail(err, errlen, "'%s': a service is a name, not an address", name);
		return NULL;
	}
	if (d->services.nnames == had) { /* a duplicate: the name matches its own rule first */
		policy_match_name(&d->services, name, len, &src);
		return &d->e[src.index];
	}
	e = realloc(d->e, d->services.nnames * sizeof(*e));
	if (!e) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	d->e = e;
	e = &d->e[d->n++];
	*e = (struct depends_entry){.service = strndup(name, len), .file = file, .line = line};
	if (!e->service)
		fail(err, errlen, "out of memory");
	return e->service ? e : NULL;
}

static int add_dep(struct depends_entry *e, const char *name, char *err, size_t errlen)
{
	char **deps = realloc(e->deps, (e->ndeps + 1) * sizeof(*deps));

	if (!deps || !(deps[e->ndeps] = strdup(name))) {
		if (deps)
			e->deps = deps;
		return fail(err, errlen, "out of memory");
	}
	e->deps = deps;
	e->ndeps++;
	return 0;
}

/* One manifest line (its '#' comment already cut off into comment). */
static int parse_line(struct depends *d, char *line, char *comment, uint16_t file, uint32_t lineno,
		      char *err, size_t errlen)
{
	char name[DG_NAME_MAX + 1], *save = NULL, *tok = strtok_r(line, " \t\r\n", &save);
	struct depends_entry *e;
	size_t had;

	if (!tok)
		return 0;
	if (name_of(tok, name, err, errlen) < 0 || !(e = entry(d, name, file, lineno, err, errlen)))
		return -1;
	had = e->ndeps;
	while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
		if (name_of(tok, name, err, errlen) < 0 || add_dep(e, name, err, errlen))
			return -1;
		if (!strcmp(name, e->service))
			return fail(err, errlen, "%s cannot depend on itself", e->service);
	}
	if (e->ndeps == had)
		return fail(err, errlen, "%s: no dependency: write SERVICE DEPENDENCY...",
			    e->service);
	for (size_t n = comment ? strlen(comment) : 0; n && strchr(" \t\r\n", comment[n - 1]);)
		comment[--n] = '\0';
	if (comment && *comment && !e->comment && !(e->comment = strdup(comment)))
		return fail(err, errlen, "out of memory");
	return 0;
}

int depends_load(struct depends *d, const char *path, char *err, size_t errlen)
{
	char reason[512], *line = NULL, *hash = NULL;
	size_t cap = 0;
	uint32_t lineno = 0;
	ssize_t n;
	int ret = policy_add_file(&d->services, path, err, errlen);
	uint16_t file = (uint16_t)ret;
	FILE *f;

	if (ret < 0)
		return -1;
	if (!(f = fopen(path, "re")))
		return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
	for (ret = 0; !ret && (n = getline(&line, &cap, f)) >= 0;) {
		lineno++;
		if (memchr(line, '\0', (size_t)n))
			ret = fail(err, errlen, "%s:%u: NUL byte in line", path, lineno);
		else if ((hash = strchr(line, '#')))
			*hash++ = '\0';
		if (!ret && parse_line(d, line, hash ? hash + strspn(hash, " \t") : NULL, file,
				       lineno, reason, sizeof(reason)))
			ret = fail(err, errlen, "%s:%u: %s", path, lineno, reason);
	}
	if (!ret && ferror(f))
		ret = fail(err, errlen, "%s: read error: %s", path, strerror(errno));
	free(line);
	fclose(f);
	return ret;
}

size_t depends_resolve(struct depends *d, depends_judge *blocked, const void *ctx)
{
	size_t nblocked = 0;
	bool changed = true;

	for (size_t i = 0; i < d->n; i++)
		d->e[i].via = NULL;
	/* Each round blocks at least one more service, or ends: at most n + 1 rounds. */
	while (changed) {
		changed = false;
		for (size_t i = 0; i < d->n; i++) {
			struct depends_entry *e = &d->e[i];

			for (size_t k = 0; !e->via && k < e->ndeps; k++) {
				size_t len = strlen(e->deps[k]);

				if (blocked(ctx, e->deps[k], len) ||
				    depends_blocked(d, e->deps[k], len, NULL)) {
					e->via = e->deps[k];
					changed = true;
					nblocked++;
				}
			}
		}
	}
	return nblocked;
}

const struct depends_entry *depends_find(const struct depends *d, const char *name, size_t len)
{
	struct policy_src src;

	if (!d || !d->n || !policy_match_name(&d->services, name, len, &src))
		return NULL;
	return &d->e[src.index];
}

const struct depends_entry *depends_blocked(const struct depends *d, const char *name, size_t len,
					    struct policy_src *src)
{
	const struct depends_entry *e = depends_find(d, name, len);

	if (!e || !e->via)
		return NULL;
	if (src)
		*src = (struct policy_src){d->services.files[e->file], e->line, e->comment,
					   (uint32_t)(e - d->e)};
	return e;
}

void depends_free(struct depends *d)
{
	for (size_t i = 0; i < d->n; i++) {
		for (size_t k = 0; k < d->e[i].ndeps; k++)
			free(d->e[i].deps[k]);
		free(d->e[i].deps);
		free(d->e[i].service);
		free(d->e[i].comment);
	}
	free(d->e);
	policy_free(&d->services);
	*d = (struct depends){0};
}
