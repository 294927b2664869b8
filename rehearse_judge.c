/*
 * rehearse_judge.c: what a rehearsal reads in reports: the dependencies a run reached (names,
 * and addresses no name resolved to), and each trial's verdict: hang, hard, error or soft, the
 * first process that met the outage, and what the run reached that the audit run did not (and
 * the reverse). Pure functions of the reports, for the unit tests.
 */
#define _GNU_SOURCE
#include "rehearse_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

#include "command.h"

double rh_num(const struct json *obj, const char *key, double dflt)
{
	const struct json *v = json_get(obj, key);

	return v && v->type == JSON_NUMBER ? v->num : dflt;
}

/* How long COMMAND itself ran in the run a report describes; -1 when it does not say (an older
 * report, or a run whose COMMAND did not end). */
long long rh_command_ms(const struct json *doc)
{
	return (long long)rh_num(json_get(doc, "run"), "commandMs", -1);
}

/* Does a dns destination of dests resolve to addr? */
static bool resolved(const struct json *dests, const char *addr)
{
	for (size_t i = 0; i < dests->n; i++) {
		const struct json *a = json_get(&dests->items[i], "addresses");

		for (size_t k = 0; a && a->type == JSON_ARRAY && k < a->n; k++)
			if (a->items[k].type == JSON_STRING && !strcmp(a->items[k].str, addr))
				return true;
	}
	return false;
}

/* Destination i of a report as a dependency: a name, or an address no name resolved to. Other
 * kinds (unix sockets, raw sockets) are not dependencies an outage takes away. */
static bool dep_of(const struct json *dests, size_t i, struct dep *d)
{
	const struct json *x = &dests->items[i];
	const char *kind = json_str(x, "kind"), *s = NULL;

	if (kind && !strcmp(kind, "dns"))
		s = json_str(x, "name");
	else if (kind && !strcmp(kind, "connect") && (s = json_str(x, "address")) &&
		 resolved(dests, s))
		s = NULL;
	if (!s || !*s || strlen(s) >= sizeof(d->what))
		return false;
	snprintf(d->what, sizeof(d->what), "%s", s);
	d->addr = strcmp(kind, "dns") != 0;
	d->dest = i;
	return true;
}

/* The distinct dependencies of a report, at most max. */
size_t rh_deps_of(const struct json *doc, struct dep *out, size_t max)
{
	const struct json *dests = json_get(doc, "destinations");
	size_t n = 0;

	for (size_t i = 0; i < dests->n && n < max; i++) {
		bool dup = false;

		if (!dep_of(dests, i, &out[n]))
			continue;
		for (size_t k = 0; k < n && !dup; k++)
			dup = !strcmp(out[k].what, out[n].what);
		n += !dup;
	}
	return n;
}

/* Is what (a name or an address) pat, or a name below pat? */
bool rh_matches(const char *pat, const char *what)
{
	size_t lp = strlen(pat), lw = strlen(what);

	if (lp && pat[lp - 1] == '.')
		lp--;
	if (lw == lp)
		return !strncasecmp(pat, what, lp);
	return lw > lp && what[lw - lp - 1] == '.' && !strncasecmp(pat, what + lw - lp, lp);
}

/* The first process that asked for the dependency in a run's report, and whether any did. */
static void first_to_meet(const struct json *doc, struct trial *t)
{
	const struct json *dests = json_get(doc, "destinations");

	for (size_t i = 0; dests && i < dests->n; i++) {
		const struct json *x = &dests->items[i], *ps = json_get(x, "processes");
		const char *v = json_str(x, "verdict"), *kind = json_str(x, "kind");
		const char *what = json_str(x, kind && !strcmp(kind, "dns") ? "name" : "address");

		if (!what || strcmp(what, t->dep->what) || !v || !strcmp(v, "allowed"))
			continue;
		t->met = true;
		if (ps && ps->type == JSON_ARRAY && ps->n) {
			const char *cmd = json_str(&ps->items[0], "cmdline"),
				   *anc = json_str(&ps->items[0], "ancestry");

			t->pid = (long)rh_num(&ps->items[0], "pid", 0);
			snprintf(t->cmd, sizeof(t->cmd), "%s", cmd ? cmd : "");
			snprintf(t->ancestry, sizeof(t->ancestry), "%s", anc ? anc : "");
		}
		return;
	}
}

/* What the run reached that the audit run did not ("+x"), and the reverse ("-y"): a fallback
 * kicked in, or COMMAND stopped before it got there. */
static void changes(const struct json *doc, struct trial *t, const struct rh_base *base)
{
	static struct dep now[MAX_DEPS];
	size_t n = rh_deps_of(doc, now, MAX_DEPS), len = 0;

	t->changed[0] = '\0';
	for (int pass = 0; pass < 2; pass++) {
		const struct dep *a = pass ? base->all : now, *b = pass ? now : base->all;
		size_t na = pass ? base->nall : n, nb = pass ? n : base->nall;

		for (size_t i = 0; i < na; i++) {
			bool found = !strcmp(a[i].what, t->dep->what);

			for (size_t k = 0; k < nb && !found; k++)
				found = !strcmp(a[i].what, b[k].what);
			if (!found && len < sizeof(t->changed))
				len += (size_t)snprintf(t->changed + len, sizeof(t->changed) - len,
							"%s%c%s", len ? " " : "", pass ? '-' : '+',
							a[i].what);
		}
	}
}

void rh_judge(struct trial *t, int wait_status, bool stopped, const struct json *doc,
	      const struct rh_base *base)
{
	t->status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
	t->outcome = stopped			 ? HANG
		     : !doc			 ? ERROR
		     : t->status == 0		 ? SOFT
		     : t->status == DG_EXIT_FAIL ? ERROR
						 : HARD;
	t->extra_ms = t->ms - base->audit_ms;
	if (!doc)
		return;
	/* COMMAND's own times, where both runs have them: a compile's jitter is not the outage's
	 * cost. */
	if (rh_command_ms(doc) >= 0 && base->audit_cmd_ms >= 0)
		t->extra_ms = rh_command_ms(doc) - base->audit_cmd_ms;
	first_to_meet(doc, t);
	changes(doc, t, base);
}
