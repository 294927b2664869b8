/* Unit tests for audit.c's rows (the summary's, the report's, the history's): one row per
 * destination, its count and worst verdict, the reason of the hit that blocked it, the commands
 * that asked, its addresses, its class, and new against a history. No root. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "../audit.h"

static const struct audit_row *row(const char *kind, const char *what)
{
	unsigned long other;
	size_t n;
	const struct audit_row *r = audit_rows(&n, &other);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(r[i].kind, kind) && !strcmp(r[i].what, what))
			return &r[i];
	return NULL;
}

static struct audit_hit hit(const char *kind, const char *what, enum audit_verdict v,
			    const char *cmd)
{
	return (struct audit_hit){.kind = kind, .what = what, .verdict = v, .pid = -1, .cmd = cmd};
}

static void test_one_row_per_destination(void **state)
{
	struct audit_hit h = hit("dns", "github.com", AUDIT_ALLOWED, "curl a");
	const struct audit_row *r;
	const uint8_t a4[4] = {192, 0, 2, 1};

	(void)state;
	h.reason = "first";
	assert_string_equal(audit_hit(&h), "hidden"); /* no process that named it */
	h = hit("dns", "github.com", AUDIT_BLOCKED, "curl b");
	h.reason = "FromDNSRequest", h.rule = "bl.txt:1", h.comment = "we deploy GitHub";
	audit_hit(&h);
	h = hit("dns", "github.com", AUDIT_ALLOWED, "curl a");
	h.reason = "later", h.rule = "other.txt:9";
	audit_hit(&h);
	for (int i = 0; i < 4; i++) {
		char cmd[16];

		snprintf(cmd, sizeof(cmd), "cmd %d", i);
		h = hit("dns", "github.com", AUDIT_ALLOWED, cmd);
		audit_hit(&h);
	}
	audit_resolved("github.com", false, a4);
	audit_resolved("github.com", false, a4); /* once */
	r = row("dns", "github.com");
	assert_non_null(r);
	assert_int_equal(r->count, 7);
	assert_int_equal(r->verdict, AUDIT_BLOCKED); /* blocked once: blocked */
	assert_string_equal(r->reason, "FromDNSRequest");
	assert_string_equal(r->rule, "bl.txt:1");
	assert_string_equal(r->comment, "we deploy GitHub");
	assert_string_equal(r->cmds[0], "curl a");
	assert_string_equal(r->cmds[1], "curl b");
	assert_string_equal(r->cmds[2], "cmd 0");
	assert_int_equal(r->more_cmds, 3);
	assert_int_equal(r->naddrs, 1);
	assert_memory_equal(r->addrs[0].a, a4, 4);
	assert_true(r->first_ms <= r->last_ms);
	assert_string_equal(audit_class(r), "hidden");
	assert_int_equal(audit_blocked(), 1);
	audit_free();
}

static void test_classes_and_kinds(void **state)
{
	struct audit_hit h = hit("dns", "api.corp", AUDIT_BLOCKED, "deploy");
	size_t n;
	unsigned long other;

	(void)state;
	h.via = "github.com"; /* a manifest: the service needs a blocked name */
	assert_string_equal(audit_hit(&h), "transient");
	assert_string_equal(audit_class(row("dns", "api.corp")), "transient");
	h = hit("tamper", "IoUring", AUDIT_BLOCKED, "fio");
	assert_null(audit_hit(&h)); /* a kind without classes */
	assert_null(audit_class(row("tamper", "IoUring")));
	h = hit("connect", "192.0.2.1:443", AUDIT_WOULD_BLOCK, "curl");
	h.proto = "tcp";
	audit_hit(&h);
	assert_string_equal(audit_verdict_name(row("connect", "192.0.2.1:443")->verdict),
			    "would-block");
	assert_string_equal(row("connect", "192.0.2.1:443")->proto, "tcp");
	audit_rows(&n, &other);
	assert_int_equal(n, 3); /* in the order of their first hits */
	assert_string_equal(audit_rows(&n, &other)[0].what, "api.corp");
	assert_int_equal(audit_blocked(), 3);
	audit_free();
}

static bool known(const char *kind, const char *what)
{
	return !strcmp(kind, "dns") && !strcmp(what, "pkgs.example.org");
}

static void test_new_against_a_history(void **state)
{
	struct audit_hit h = hit("dns", "pkgs.example.org", AUDIT_ALLOWED, "apt");

	(void)state;
	audit_set_known(known);
	audit_hit(&h);
	assert_false(audit_last_fresh());
	h = hit("dns", "mirror.example.org", AUDIT_ALLOWED, "apt");
	audit_hit(&h);
	assert_true(audit_last_fresh());
	audit_hit(&h);
	assert_true(audit_last_fresh()); /* the row stays new */
	h = hit("tamper", "SocketFamily", AUDIT_BLOCKED, "x");
	audit_hit(&h);
	assert_false(audit_last_fresh()); /* not a destination a history keeps */
	assert_int_equal(audit_fresh(), 1);
	audit_set_known(NULL);
	audit_free();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_row_per_destination),
	    cmocka_unit_test(test_classes_and_kinds),
	    cmocka_unit_test(test_new_against_a_history),
	};

	FILE *null = fopen("/dev/null", "we");
	int failed;

	audit_init(null, AUDIT_TEXT, 0);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	audit_init(NULL, AUDIT_TEXT, 0);
	if (null)
		fclose(null);
	return failed;
}
