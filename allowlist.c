/*
 * allowlist.c: --write-allowlist: the allowlist a run implies, from its rows (audit.c), each
 * rule with the command that needed it; names collapsed where that is safe (see below).
 */
#define _GNU_SOURCE
#include "allowlist.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy.h"

/* One allowlist line: the rule, then the command that needed it, on one line whatever it holds. */
static void allow_line(FILE *f, const char *rule, const char *why)
{
	fprintf(f, "%-40s", rule);
	if (why) {
		fputs("  # ", f);
		for (size_t i = 0; why[i] && i < 80; i++)
			fputc((unsigned char)why[i] < 0x20 || why[i] == 0x7f ? '?' : why[i], f);
	}
	fputc('\n', f);
}

/* --write-allowlist: the rules that let this run do what it did, each with the command that
 * needed it. A name below another rule's goes; three or more names under one parent of three
 * labels or more become the parent (cdn1.x.example.net, cdn2... -> x.example.net), never a
 * shorter one, which could be a public suffix or a registrable domain the deploy never saw. */
struct rule {
	char *text;
	const char *why;
	bool addr;
};

static int by_text(const void *a, const void *b)
{
	return strcmp(((const struct rule *)a)->text, ((const struct rule *)b)->text);
}

static size_t labels(const char *name)
{
	size_t n = 1;

	for (; *name; name++)
		n += *name == '.';
	return n;
}

/* Does rule a (a name) cover name b: b is a, or below it? */
static bool covers(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return !strcmp(a, b) || (lb > la && b[lb - la - 1] == '.' && !strcmp(b + lb - la, a));
}

/* Names with three or more siblings under a parent of at least three labels: the parent. */
static void collapse(struct rule *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *parent = strchr(names[i].text, '.');
		size_t siblings = 0;

		if (names[i].addr || !parent || labels(++parent) < 3)
			continue;
		for (size_t k = 0; k < n; k++) {
			const char *p = strchr(names[k].text, '.');

			siblings += !names[k].addr && p && !strcmp(p + 1, parent);
		}
		if (siblings >= 3) {
			char *up = strdup(parent);

			if (up) {
				free(names[i].text);
				names[i].text = up;
			}
		}
	}
}

/* A name a policy file can hold (the log's escapes, \\DDD, cannot). */
static bool valid_name(const char *name)
{
	char out[DG_NAME_MAX + 1], why[200];

	return policy_normalize(name, strlen(name), out, why, sizeof(why)) >= 0;
}

/* Is rule i covered by another (or a repeat of an earlier one)? */
static bool redundant(const struct rule *rules, size_t n, size_t i)
{
	for (size_t k = 0; k < n; k++) {
		bool same = !strcmp(rules[k].text, rules[i].text);

		if (k != i && covers(rules[k].text, rules[i].text) && (!same || k < i))
			return true;
	}
	return false;
}

/* Was this address among the answers of a name the list allows anyway? */
static bool resolved(const struct audit_row *rows, size_t n, const char *addr)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < rows[i].naddrs; k++) {
			char a[INET6_ADDRSTRLEN];

			inet_ntop(rows[i].addrs[k].v6 ? AF_INET6 : AF_INET, rows[i].addrs[k].a, a,
				  sizeof(a));
			if (!strcmp(a, addr))
				return true;
		}
	return false;
}

void allowlist_write(FILE *f, const struct audit_row *rows, size_t n, unsigned long other,
		     char *const *argv)
{
	size_t nr = 0;
	struct rule *rules = calloc(n ? n : 1, sizeof(*rules));

	fputs("# deployguard --write-allowlist: what this run reached; use it with -a.\n", f);
	if (argv)
		fprintf(f, "# The run: %s%s\n", argv[0], argv[1] ? " ..." : "");
	for (size_t i = 0; rules && i < n; i++) {
		const struct audit_row *r = &rows[i];
		char addr[INET6_ADDRSTRLEN + 2];
		const char *colon = strrchr(r->what, ':');
		bool bracket = r->what[0] == '[';

		if (!strcmp(r->kind, "dns") && !valid_name(r->what)) {
			fprintf(f, "# not a rule, left out: %s\n", r->what); /* escaped: one line */
		} else if (!strcmp(r->kind, "dns")) {
			rules[nr] = (struct rule){strdup(r->what), r->cmds[0], false};
		} else if (!strcmp(r->kind, "connect") && colon) {
			snprintf(addr, sizeof(addr), "%.*s", (int)(colon - r->what - 2 * bracket),
				 r->what + bracket);
			if (resolved(rows, n, addr))
				continue;
			rules[nr] = (struct rule){strdup(addr), r->cmds[0], true};
		}
		nr += rules[nr].text != NULL;
	}
	collapse(rules, nr);
	qsort(rules, nr, sizeof(*rules), by_text);
	for (size_t i = 0; i < nr; i++)
		if (!redundant(rules, nr, i))
			allow_line(f, rules[i].text, rules[i].why);
	for (size_t i = 0; i < nr; i++)
		free(rules[i].text);
	free(rules);
	if (other)
		fprintf(f, "# %lu more destinations than a run keeps: audit again with fewer\n",
			other);
}
