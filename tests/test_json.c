/* Unit tests for json.c (the reader of reports) and sha256.c. No root needed. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "../json.h"
#include "../sha256.h"

static void test_values(void **state)
{
	const char *text =
	    "{\"version\": 1, \"run\": {\"service\": \"a.corp\", \"failed\": false},\n"
	    " \"list\": [null, true, -2.5e1, \"\\u00e9\\ud83d\\ude00\\n\\\"\"], "
	    "\"empty\": {}, \"none\": []}";
	struct json v;
	char err[100];
	const struct json *list;

	(void)state;
	assert_int_equal(json_parse(text, strlen(text), &v, err, sizeof(err)), 0);
	assert_true(json_get(&v, "version")->num == 1);
	assert_string_equal(json_str(json_get(&v, "run"), "service"), "a.corp");
	assert_int_equal(json_get(json_get(&v, "run"), "failed")->type, JSON_FALSE);
	list = json_get(&v, "list");
	assert_int_equal(list->n, 4);
	assert_int_equal(list->items[0].type, JSON_NULL);
	assert_int_equal(list->items[1].type, JSON_TRUE);
	assert_true(list->items[2].num == -25);
	assert_string_equal(list->items[3].str, "\xc3\xa9\xf0\x9f\x98\x80\n\"");
	assert_int_equal(json_get(&v, "empty")->n, 0);
	assert_null(json_get(&v, "missing"));
	assert_null(json_str(&v, "version")); /* not a string */
	json_free(&v);
}

static void test_errors_say_where(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
	    {"", "line 1: unexpected end"},
	    {"{\"a\": 1,\n\"b\" 2}", "line 2: expected ':'"},
	    {"[1, 2", "line 1: expected ',' or ']'"},
	    {"\"abc", "line 1: unterminated string"},
	    {"\"a\\u0000b\"", "line 1: NUL in a string"},
	    {"\"\\ud800\"", "line 1: unpaired surrogate"},
	    {"\"\\x\"", "line 1: bad escape"},
	    {"\"a\tb\"", "line 1: control character in a string"},
	    {"{} x", "line 1: text after the value"},
	    {"\n\n nul", "line 3: unexpected character"},
	    {"{\"a\":1,}", "line 1: expected a member name"},
	};
	char deep[200];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json v;
		char err[100];

		assert_int_equal(
		    json_parse(cases[i].text, strlen(cases[i].text), &v, err, sizeof(err)), -1);
		if (strcmp(err, cases[i].err))
			fail_msg("case %zu: got '%s', want '%s'", i, err, cases[i].err);
	}
	memset(deep, '[', sizeof(deep));
	{
		struct json v;
		char err[100];

		assert_int_equal(json_parse(deep, sizeof(deep), &v, err, sizeof(err)), -1);
		assert_string_equal(err, "line 1: nested deeper than 64");
	}
}

static void test_sha256(void **state)
{
	char hex[65];

	(void)state;
	sha256_hex("", 0, hex);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_hex("abc", 3, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* two blocks: FIPS 180-4's 448-bit example */
	sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	assert_string_equal(hex,
			    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	assert_int_equal(sha256_file("/nonexistent/file", hex), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_errors_say_where),
	    cmocka_unit_test(test_sha256),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
