/* Unit tests for allowlist.c (--write-allowlist from a run's rows): which rules come out, which
 * are collapsed into a parent, which are covered by another, and what is left out. No root. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../allowlist.h"

static struct audit_row row(const char *kind, const char *what, const char *cmd)
{
	struct audit_row r = {.kind = (char *)kind, .what = (char *)what};

	r.cmds[0] = (char *)cmd;
	return r;
}

/* The rule lines of the allowlist (comments and blank lines dropped), one string. */
static char *rules_of(const struct audit_row *rows, size_t n, unsigned long other, char **all)
{
	char *text = NULL, *out = calloc(1, 4096), *save, *line;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	char *argv[] = {"./deploy.sh", "--prod", NULL};

	assert_non_null(f);
	allowlist_write(f, rows, n, other, argv);
	fclose(f);
	*all = strdup(text);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *end = strstr(line, "  #");

		if (line[0] == '#')
			continue;
		if (end)
			*end = '\0';
		for (end = line + strlen(line); end > line && end[-1] == ' ';)
			*--end = '\0';
		strcat(out, line);
		strcat(out, ";");
	}
	free(text);
	return out;
}

static void test_collapse_and_cover(void **state)
{
	struct audit_row rows[] = {
	    row("dns", "cdn1.x.example.net", "curl a"), row("dns", "cdn2.x.example.net", "curl b"),
	    row("dns", "cdn3.x.example.net", "curl c"), row("dns", "a.y.example.org", "curl d"),
	    row("dns", "b.y.example.org", "curl e"),	row("dns", "one.example.com", "curl f"),
	    row("dns", "two.example.com", "curl g"),	row("dns", "six.example.com", "curl h"),
	    row("dns", "github.com", "git fetch"),	row("dns", "api.github.com", "gh release"),
	};
	char *all, *got = rules_of(rows, sizeof(rows) / sizeof(rows[0]), 0, &all), line[128];

	(void)state;
	/* three under x.example.net (three labels): the parent; two under y.example.org: each;
	 * three under example.com (two labels, a registrable domain): each; api.github.com is
	 * covered by github.com */
	assert_string_equal(got, "a.y.example.org;b.y.example.org;github.com;one.example.com;"
				 "six.example.com;two.example.com;x.example.net;");
	assert_non_null(strstr(all, "# The run: ./deploy.sh ...\n"));
	snprintf(line, sizeof(line), "\n%-40s  # git fetch\n", "github.com");
	assert_non_null(strstr(all, line)); /* the command that needed it, beside it */
	free(got);
	free(all);
}

static void test_addresses_and_left_out(void **state)
{
	struct audit_row rows[] = {
	    row("dns", "pkgs.example.org", "apt-get"),
	    row("connect", "192.0.2.10:443", "apt-get"),
	    row("connect", "[2001:db8::1]:443", "curl -6"),
	    row("connect", "198.51.100.7:22", "ssh deploy\x01host"),
	    row("dns", "bad\\032name.example", "dig"),
	};
	char *all, *got;

	(void)state;
	rows[0].naddrs = 1;
	inet_pton(AF_INET, "192.0.2.10", rows[0].addrs[0].a);
	got = rules_of(rows, sizeof(rows) / sizeof(rows[0]), 3, &all);
	/* an address a listed name resolved to needs no rule of its own */
	assert_string_equal(got, "198.51.100.7;2001:db8::1;pkgs.example.org;");
	assert_non_null(strstr(all, "# not a rule, left out: bad\\032name.example\n"));
	assert_non_null(strstr(all, "# ssh deploy?host\n")); /* a control character, on one line */
	assert_non_null(strstr(all, "# 3 more destinations than a run keeps"));
	free(got);
	free(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_collapse_and_cover),
	    cmocka_unit_test(test_addresses_and_left_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
