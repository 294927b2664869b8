/* Unit tests for rehearse_judge.c: the dependencies a report names, and a trial's verdict (hang,
 * hard, error, soft), the first process to meet the outage, and what changed against the audit
 * run, from reports as deployguard writes them. No root. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "../command.h"
#include "../rehearse_int.h"

struct rehearsal rh; /* rehearse.c's; rehearse_judge.c reads none of it */

static const char audit_text[] =
    "{\"version\": 1, \"run\": {\"durationMs\": 1500, \"commandMs\": 1000},"
    " \"destinations\": ["
    "  {\"kind\": \"dns\", \"name\": \"github.com\", \"verdict\": \"allowed\","
    "   \"addresses\": [\"192.0.2.1\"]},"
    "  {\"kind\": \"connect\", \"address\": \"192.0.2.1\", \"verdict\": \"allowed\"},"
    "  {\"kind\": \"dns\", \"name\": \"pkgs.example.org\", \"verdict\": \"allowed\"},"
    "  {\"kind\": \"dns\", \"name\": \"github.com\", \"verdict\": \"allowed\"},"
    "  {\"kind\": \"connect\", \"address\": \"198.51.100.7\", \"verdict\": \"allowed\"},"
    "  {\"kind\": \"unix\", \"address\": \"/run/docker.sock\", \"verdict\": \"allowed\"}]}";

/* A trial's report: github.com down, met by pid 42; mirror.example.org reached instead of
 * pkgs.example.org. */
static const char trial_text[] =
    "{\"version\": 1, \"run\": {\"durationMs\": 4000, \"commandMs\": 3500},"
    " \"destinations\": ["
    "  {\"kind\": \"dns\", \"name\": \"github.com\", \"verdict\": \"blocked\","
    "   \"processes\": [{\"pid\": 42, \"cmdline\": \"curl github.com\","
    "                    \"ancestry\": \"deploy.sh → curl\"}]},"
    "  {\"kind\": \"dns\", \"name\": \"mirror.example.org\", \"verdict\": \"allowed\"},"
    "  {\"kind\": \"connect\", \"address\": \"198.51.100.7\", \"verdict\": \"allowed\"}]}";

static struct json parse(const char *text)
{
	struct json doc;
	char err[200];

	assert_int_equal(json_parse(text, strlen(text), &doc, err, sizeof(err)), 0);
	return doc;
}

static void test_deps_of_a_report(void **state)
{
	struct json doc = parse(audit_text);
	struct dep deps[8];
	size_t n = rh_deps_of(&doc, deps, 8);

	(void)state;
	/* names once each; an address a name resolved to is that name's; unix sockets are not
	 * dependencies an outage takes away */
	assert_int_equal(n, 3);
	assert_string_equal(deps[0].what, "github.com");
	assert_false(deps[0].addr);
	assert_string_equal(deps[1].what, "pkgs.example.org");
	assert_string_equal(deps[2].what, "198.51.100.7");
	assert_true(deps[2].addr);
	assert_int_equal(deps[2].dest, 4);
	assert_int_equal(rh_deps_of(&doc, deps, 2), 2); /* at most max */
	assert_int_equal(rh_command_ms(&doc), 1000);
	json_free(&doc);
}

static void test_matches(void **state)
{
	(void)state;
	assert_true(rh_matches("example.org", "pkgs.example.org"));
	assert_true(rh_matches("Example.ORG.", "example.org"));
	assert_false(rh_matches("example.org", "badexample.org"));
	assert_false(rh_matches("pkgs.example.org", "example.org"));
	assert_true(rh_matches("198.51.100.7", "198.51.100.7"));
}

static void test_verdicts(void **state)
{
	struct json audit = parse(audit_text), run = parse(trial_text);
	struct dep all[8], down = {"github.com", false, 0};
	struct rh_base base = {all, rh_deps_of(&audit, all, 8), 1500, 1000};
	struct trial t = {.dep = &down, .ms = 4000};

	(void)state;
	rh_judge(&t, W_EXITCODE(3, 0), false, &run, &base);
	assert_int_equal(t.outcome, HARD);
	assert_int_equal(t.status, 3);
	assert_int_equal(t.extra_ms, 2500); /* COMMAND's own times: 3500 - 1000 */
	assert_true(t.met);
	assert_int_equal(t.pid, 42);
	assert_string_equal(t.cmd, "curl github.com");
	assert_string_equal(t.ancestry, "deploy.sh → curl");
	assert_string_equal(t.changed, "+mirror.example.org -pkgs.example.org");

	t = (struct trial){.dep = &down, .ms = 1600};
	rh_judge(&t, W_EXITCODE(0, 0), false, &run, &base);
	assert_int_equal(t.outcome, SOFT);
	t = (struct trial){.dep = &down};
	rh_judge(&t, W_EXITCODE(DG_EXIT_FAIL, 0), false, &run, &base);
	assert_int_equal(t.outcome, ERROR); /* deployguard could not make the run */
	t = (struct trial){.dep = &down};
	rh_judge(&t, 9, false, &run, &base); /* killed by SIGKILL */
	assert_int_equal(t.outcome, HARD);
	assert_int_equal(t.status, 137);
	t = (struct trial){.dep = &down};
	rh_judge(&t, 9, true, &run, &base);
	assert_int_equal(t.outcome, HANG); /* stopped at the deadline, whatever it exited with */
	t = (struct trial){.dep = &down, .ms = 2000};
	rh_judge(&t, W_EXITCODE(0, 0), false, NULL, &base);
	assert_int_equal(t.outcome, ERROR); /* no report: nothing to judge it by */
	assert_int_equal(t.extra_ms, 500);
	assert_false(t.met);
	t = (struct trial){.dep = &down};
	rh_judge(&t, 9, true, NULL, &base);
	assert_int_equal(t.outcome, HANG);
	json_free(&audit);
	json_free(&run);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deps_of_a_report),
	    cmocka_unit_test(test_matches),
	    cmocka_unit_test(test_verdicts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
