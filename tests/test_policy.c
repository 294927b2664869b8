/* Unit tests for policy.c, ruleset.c and depends.c: rule syntax, matching, manifests, and FILE:LINE
 * errors. No root needed. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "../depends.h"
#include "../policy.h"

static char *write_tmp(const char *text)
{
	static char path[64];
	static int n;
	int fd;

	snprintf(path, sizeof(path), "/tmp/dg-policy-%d-%d", (int)getpid(), n++);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static bool match(const struct policy *p, const char *name)
{
	return policy_match_name(p, name, strlen(name), NULL);
}

static void test_names_match_at_label_boundaries(void **state)
{
	struct policy p = {0};
	char err[256];
	const char *path = write_tmp("# comment\n\n  GitHub.com.  # trailing comment\r\n"
				     "deploy-api.internal.example\n_dmarc.example.org\n");
	struct policy_src src;

	(void)state;
	assert_int_equal(policy_load(&p, path, err, sizeof(err)), 0);
	assert_true(match(&p, "github.com"));
	assert_true(match(&p, "api.github.com"));
	assert_true(match(&p, "a.b.c.github.com"));
	assert_false(match(&p, "notgithub.com"));
	assert_false(match(&p, "github.com.evil.example"));
	assert_false(match(&p, "com"));
	assert_false(match(&p, "internal.example"));
	assert_true(match(&p, "x.deploy-api.internal.example"));
	assert_true(match(&p, "_dmarc.example.org"));
	assert_false(match(&p, ""));
	assert_true(policy_match_name(&p, "api.github.com", 14, &src));
	assert_string_equal(src.file, path);
	assert_int_equal(src.line, 3);
	assert_string_equal(src.comment, "trailing comment");
	assert_true(policy_match_name(&p, "deploy-api.internal.example", 27, &src));
	assert_null(src.comment); /* a comment line above a rule is not its reason */
	unlink(path);
	policy_free(&p);
}

static void test_duplicates_keep_the_first_rule(void **state)
{
	struct policy p = {0};
	char err[256];
	struct policy_src src;
	const char *path = write_tmp("github.com\nGITHUB.COM\n");

	(void)state;
	assert_int_equal(policy_load(&p, path, err, sizeof(err)), 0);
	assert_int_equal(p.nnames, 1);
	assert_true(policy_match_name(&p, "github.com", 10, &src));
	assert_int_equal(src.line, 1);
	unlink(path);
	policy_free(&p);
}

/* "=NAME" is that name alone; a plain rule for the same name, before or after, covers below. */
static void test_exact_names(void **state)
{
	struct policy p = {0};
	char err[256];
	struct policy_src src;
	const char *path = write_tmp("=github.com # only\n=b.example\nb.example # wider\n"
				     "c.example\n=C.example.\n=\n");

	(void)state;
	assert_int_equal(policy_load(&p, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":6: the root name cannot be a rule"));
	assert_true(match(&p, "github.com"));
	assert_false(match(&p, "api.github.com"));
	assert_true(policy_match_name(&p, "x.b.example", 11, &src));
	assert_int_equal(src.line, 3);
	assert_string_equal(src.comment, "wider");
	assert_true(match(&p, "x.c.example"));
	assert_int_equal(p.nnames, 3);
	unlink(path);
	policy_free(&p);
}

/* A rule's comment is kept for each rule, names and addresses alike, and only on its line. */
static void test_comments_are_reasons(void **state)
{
	struct policy p = {0};
	char err[256];
	struct policy_src src;
	const char *path = write_tmp("a.example #\nb.example # fetches releases\n"
				     "192.0.2.0/24\t#pinned in /etc/hosts  \n# c.example\n");

	(void)state;
	assert_int_equal(policy_load(&p, path, err, sizeof(err)), 0);
	assert_int_equal(p.nnames, 2);
	assert_true(policy_match_name(&p, "x.a.example", 11, &src));
	assert_null(src.comment);
	assert_true(policy_match_name(&p, "b.example", 9, &src));
	assert_string_equal(src.comment, "fetches releases");
	assert_int_equal(src.index, 1);
	policy_src_of_net(&p, 0, &src);
	assert_string_equal(src.comment, "pinned in /etc/hosts");
	assert_int_equal(src.line, 3);
	unlink(path);
	policy_free(&p);
}

/* A rule is named "FILE:LINE"; a buffer too small cuts the file's name, never the line. */
static void test_rule_names(void **state)
{
	static const struct {
		const char *file;
		unsigned line;
		size_t len;
		const char *want;
	} cases[] = {
	    {"/etc/dg/list", 7, 64, "/etc/dg/list:7"},
	    {"list", 0, 64, "list:0"},
	    {"list", 4294967295u, 64, "list:4294967295"},
	    {"/etc/dg/list", 12, 8, "/etc:12"},
	    {"list", 123, 5, ":123"},
	    {"list", 123, 4, ""},
	    {"", 1, 3, ":1"},
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct policy_src src = {.file = cases[i].file, .line = cases[i].line};

		memset(buf, 'x', sizeof(buf));
		assert_ptr_equal(policy_src_rule(&src, buf, cases[i].len), buf);
		assert_string_equal(buf, cases[i].want);
	}
}

static bool blocks(const void *ctx, const char *name, size_t len)
{
	return policy_match_name(ctx, name, len, NULL);
}

static bool allowlist_blocks(const void *ctx, const char *name, size_t len)
{
	return policy_judge(ctx, &policy_allowlist, name, len, NULL);
}

/* policy_judge, the one judgement of a name: what a listing means in each mode, and an
 * allowlist's port rule that lets its name resolve; manifests judged through it see the same. */
static void test_judge(void **state)
{
	struct policy a = {.allowlist = true}, b = {0};
	struct depends d = {0};
	struct policy_src src;
	char err[256], line[64];
	const char *mf = write_tmp("deploy-api.corp api.corp\nreports.corp other.corp\n");

	(void)state;
	snprintf(line, sizeof(line), "ok.corp");
	assert_int_equal(policy_add_line(&a, line, 0, 1, err, sizeof(err)), 0);
	snprintf(line, sizeof(line), "api.corp:443  # the API, on HTTPS only");
	assert_int_equal(policy_add_line(&a, line, 0, 2, err, sizeof(err)), 0);
	snprintf(line, sizeof(line), "github.com");
	assert_int_equal(policy_add_line(&b, line, 0, 1, err, sizeof(err)), 0);
	assert_false(policy_judge(&a, &policy_allowlist, "ok.corp", 7, &src));
	assert_int_equal(src.line, 1);
	assert_false(policy_judge(&a, &policy_allowlist, "api.corp", 8, &src));
	assert_int_equal(src.line, 2);
	assert_string_equal(src.comment, "the API, on HTTPS only");
	assert_true(policy_judge(&a, &policy_allowlist, "other.corp", 10, &src));
	assert_null(src.file);
	assert_true(policy_judge(&b, &policy_blocklist, "api.github.com", 14, &src));
	assert_int_equal(src.line, 1);
	assert_true(policy_judge(&b, &policy_strict, "github.com", 10, NULL));
	assert_false(policy_judge(&b, &policy_blocklist, "example.org", 11, NULL));
	assert_int_equal(depends_load(&d, mf, err, sizeof(err)), 0);
	assert_int_equal(depends_resolve(&d, allowlist_blocks, &a), 1);
	assert_null(depends_blocked(&d, "deploy-api.corp", 15, NULL));
	assert_non_null(depends_blocked(&d, "reports.corp", 12, NULL));
	unlink(mf);
	depends_free(&d);
	policy_free(&a);
	policy_free(&b);
}

/* A service is blocked when what it needs is, through a chain of services too; via names the
 * dependency that blocks it. A service line may repeat; its names add up. */
static void test_manifest_chains(void **state)
{
	struct policy p = {0};
	struct depends d = {0};
	struct policy_src src;
	const struct depends_entry *e;
	char err[256];
	const char *bl = write_tmp("github.com\n");
	char blp[64];
	const char *mf;

	(void)state;
	snprintf(blp, sizeof(blp), "%s", bl);
	mf = write_tmp("# services\nmigrations.corp deploy-api.corp\n"
		       "deploy-api.corp  ghcr.io\tapi.GitHub.com.  # fetches releases\n"
		       "docs.corp pkgs.example.org\ndocs.corp mirror.example.org\n");
	assert_int_equal(policy_load(&p, blp, err, sizeof(err)), 0);
	assert_int_equal(depends_load(&d, mf, err, sizeof(err)), 0);
	assert_int_equal(d.n, 3);
	assert_int_equal(depends_resolve(&d, blocks, &p), 2);
	e = depends_blocked(&d, "x.deploy-api.corp", 17, &src);
	assert_non_null(e);
	assert_string_equal(e->via, "api.github.com");
	assert_int_equal(src.line, 3);
	assert_string_equal(src.comment, "fetches releases");
	e = depends_blocked(&d, "migrations.corp", 15, &src);
	assert_non_null(e);
	assert_string_equal(e->via, "deploy-api.corp");
	assert_int_equal(src.line, 2);
	assert_null(depends_blocked(&d, "docs.corp", 9, NULL));
	assert_int_equal(depends_find(&d, "docs.corp", 9)->ndeps, 2);
	assert_null(depends_find(&d, "corp", 4));
	unlink(blp);
	unlink(mf);
	depends_free(&d);
	policy_free(&p);
}

static void test_manifest_errors_name_file_and_line(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
	    {"deploy-api.corp\n", "deploy-api.corp: no dependency: write SERVICE DEPENDENCY..."},
	    {"a.corp 192.0.2.1\n", "'192.0.2.1': a manifest names services and their dependencies"},
	    {"2001:db8::1 a.corp\n", "'2001:db8::1': a manifest names services"},
	    {"a.corp a.corp\n", "a.corp cannot depend on itself"},
	    {"a.corp bad!name\n", "invalid character '!' in name"},
	    {"a.corp b\0c\n", "NUL byte in line"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct depends d = {0};
		char err[256], want[300];
		const char *path = write_tmp(i == 5 ? "" : cases[i].text);

		if (i == 5) { /* a NUL inside: written by length */
			FILE *f = fopen(path, "w");

			fwrite("ok.corp x.org\na.corp b\0c\n", 1, 26, f);
			fclose(f);
		}
		assert_int_equal(depends_load(&d, path, err, sizeof(err)), -1);
		snprintf(want, sizeof(want), "%s:%d: %s", path, i == 5 ? 2 : 1, cases[i].err);
		if (strncmp(err, want, strlen(want)))
			fail_msg("case %zu: got '%s', want '%s'", i, err, want);
		unlink(path);
		depends_free(&d);
	}
}

static void test_addresses_and_prefixes(void **state)
{
	struct policy p = {0};
	char err[256];
	const char *path =
	    write_tmp("192.0.2.10\n198.18.0.0/15\n2001:db8::/32\n::ffff:192.0.2.1\n");
	uint8_t v6[16];

	(void)state;
	assert_int_equal(policy_load(&p, path, err, sizeof(err)), 0);
	assert_int_equal(p.nnets, 4);
	assert_int_equal(p.nets[0].family, AF_INET);
	assert_int_equal(p.nets[0].prefix, 32);
	assert_memory_equal(p.nets[0].addr, "\xc0\x00\x02\x0a", 4);
	assert_int_equal(p.nets[1].prefix, 15);
	assert_int_equal(p.nets[2].family, AF_INET6);
	assert_int_equal(p.nets[2].prefix, 32);
	inet_pton(AF_INET6, "2001:db8::", v6);
	assert_memory_equal(p.nets[2].addr, v6, 16);
	assert_int_equal(p.nets[3].line, 4);
	assert_int_equal(p.nnames, 0);
	unlink(path);
	policy_free(&p);
}

/* Each bad line, alone in a file after a good one, and the error it must give. */
static void test_bad_lines_name_file_and_line(void **state)
{
	static const struct {
		const char *line, *reason;
	} cases[] = {
	    {"not a rule", "one rule per line, found 'not a rule'"},
	    {"0.0.0.0 github.com", "one rule per line"},
	    {"1.2.3", "invalid IPv4 address '1.2.3'"},
	    {"192.0.2.1/33", "invalid prefix length '/33' (0..32)"},
	    {"192.0.2.0/", "invalid prefix length"},
	    {"192.0.2.1/24", "host bits set in 192.0.2.1/24"},
	    {"2001:db8::1/129", "invalid prefix length '/129' (0..128)"},
	    {"2001:zz8::1", "invalid IPv6 address"},
	    {"a.*.github.com", "'*' only begins a rule ('*.example.com') or is part of its first"},
	    {"=*.github.com", "'=' and '*.' do not go with a glob: '=*.github.com'"},
	    {"*.api-*.github.com", "'=' and '*.' do not go with a glob"},
	    {"ap@-*.github.com", "invalid character '@' in 'ap@-*.github.com'"},
	    {"include", "include needs one FILE"},
	    {"include a b", "include needs one FILE"},
	    {"gith@b.com", "invalid character '@' in name"},
	    {"git\x01hub.com", "invalid byte 0x01 in name"},
	    {".", "the root name cannot be a rule"},
	    {"a..b", "empty label in 'a..b'"},
	    {".github.com", "empty label"},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
	     "label longer than 63 characters"},
	    {"github.com:0", "invalid port '0' (1..65535)"},
	    {"github.com:65536", "invalid port '65536' (1..65535)"},
	    {"github.com:", "invalid port '' (1..65535)"},
	    {"github.com:https", "invalid port 'https' (1..65535)"},
	    {"github.com:+443", "invalid port '+443' (1..65535)"},
	    {"github.com:443/sctp", "unknown protocol 'sctp' after the port (tcp or udp)"},
	    {"github.com:443/", "unknown protocol '' after the port"},
	    {":", "invalid port '' (1..65535)"},
	    {":25/25", "unknown protocol '25' after the port"},
	    {"[2001:db8::1", "'[' without ']' in '[2001:db8::1'"},
	    {"[2001:db8::1]443", "'443' after ']': write [ADDR]:PORT"},
	    {"[192.0.2.1]:443", "invalid IPv6 address '192.0.2.1'"},
	    {"[]:443", "invalid IPv6 address ''"},
	    {"192.0.2.1/33:443", "invalid prefix length '/33' (0..32)"},
	    {"gith@b.com:443", "invalid character '@' in name"},
	    {"2001:db8::1:443/tcp", "invalid prefix length '/tcp' (0..128)"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct policy p = {0};
		char text[512], err[512], want[600];
		const char *path;

		snprintf(text, sizeof(text), "github.com\n%s\n", cases[i].line);
		path = write_tmp(text);
		snprintf(want, sizeof(want), "%s:2: %s", path, cases[i].reason);
		assert_int_equal(policy_load(&p, path, err, sizeof(err)), -1);
		if (strncmp(err, want, strlen(want)))
			fail_msg("line '%s': got '%s', want prefix '%s'", cases[i].line, err, want);
		unlink(path);
		policy_free(&p);
	}
}

/* Address rules with a port: the forms, and what each holds. */
static void test_address_ports(void **state)
{
	static const struct {
		const char *rule;
		int family, prefix, port, proto;
		const char *addr;
	} cases[] = {
	    {"192.0.2.10:443", AF_INET, 32, 443, 0, "192.0.2.10"},
	    {"198.18.0.0/15:53/udp", AF_INET, 15, 53, IPPROTO_UDP, "198.18.0.0"},
	    {"[2001:db8::1]:443", AF_INET6, 128, 443, 0, "2001:db8::1"},
	    {"[2001:db8::/32]:22/TCP", AF_INET6, 32, 22, IPPROTO_TCP, "2001:db8::"},
	    {"[2001:db8::1]", AF_INET6, 128, 0, 0, "2001:db8::1"},
	    {"2001:db8::1", AF_INET6, 128, 0, 0, "2001:db8::1"},
	    {":25", AF_UNSPEC, 0, 25, 0, NULL},
	    {":25/tcp # no mail", AF_UNSPEC, 0, 25, IPPROTO_TCP, NULL},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct policy p = {0};
		char line[64], err[256];
		uint8_t addr[16] = {0};

		snprintf(line, sizeof(line), "%s", cases[i].rule);
		if (policy_add_line(&p, line, 0, 1, err, sizeof(err)))
			fail_msg("'%s': %s", cases[i].rule, err);
		assert_int_equal(p.nnets, 1);
		assert_int_equal(p.nnames, 0);
		assert_int_equal(p.nets[0].family, cases[i].family);
		assert_int_equal(p.nets[0].prefix, cases[i].prefix);
		assert_int_equal(p.nets[0].port, cases[i].port);
		assert_int_equal(p.nets[0].proto, cases[i].proto);
		if (cases[i].addr)
			inet_pton(cases[i].family, cases[i].addr, addr);
		assert_memory_equal(p.nets[0].addr, addr, 16);
		assert_false(policy_has_ports(&p)); /* names' port rules only */
		policy_free(&p);
	}
}

/* Name rules with a port match as the rule without would, but only through policy_match_ports:
 * each form, several ports on one name, and the rule of each hit. */
static void test_name_ports(void **state)
{
	struct policy p = {0};
	struct policy_port_hit hits[POLICY_PORT_HITS];
	struct policy_src src;
	char err[256];
	const char *path = write_tmp("example.com:443 # web only\n=example.com:22/tcp\n"
				     "*.example.org:8080/udp\napi-*.example.net:443\n"
				     "example.net\n");

	(void)state;
	assert_int_equal(policy_load(&p, path, err, sizeof(err)), 0);
	assert_true(policy_has_ports(&p));
	assert_false(match(&p, "example.com")); /* a port rule does not block the name */
	assert_false(match(&p, "api.example.com"));
	assert_int_equal(policy_match_ports(&p, "example.com", 11, hits, POLICY_PORT_HITS), 2);
	/* the newest rule of a name comes first */
	assert_int_equal(hits[0].port, 22);
	assert_int_equal(hits[0].proto, IPPROTO_TCP);
	assert_int_equal(hits[0].src.line, 2);
	assert_int_equal(hits[1].port, 443);
	assert_int_equal(hits[1].proto, 0);
	assert_string_equal(hits[1].src.comment, "web only");
	assert_true(policy_src_of_port(&p, hits[1].src.index, &src));
	assert_int_equal(src.line, 1);
	assert_int_equal(policy_match_ports(&p, "a.example.com", 13, hits, POLICY_PORT_HITS), 1);
	assert_int_equal(hits[0].port, 443);
	assert_int_equal(policy_match_ports(&p, "example.org", 11, hits, POLICY_PORT_HITS), 0);
	assert_int_equal(policy_match_ports(&p, "x.example.org", 13, hits, POLICY_PORT_HITS), 1);
	assert_int_equal(hits[0].proto, IPPROTO_UDP);
	assert_int_equal(policy_match_ports(&p, "api-eu.example.net", 18, hits, 1), 1);
	assert_int_equal(hits[0].src.line, 4);
	assert_true(policy_src_of_port(&p, hits[0].src.index, &src));
	assert_int_equal(src.line, 4);
	assert_true(match(&p, "api-eu.example.net")); /* by example.net, not by the port glob */
	assert_true(policy_match_name(&p, "api-eu.example.net", 18, &src));
	assert_int_equal(src.line, 5);
	assert_false(match(&p, "api-eu.example.com"));
	assert_int_equal(policy_match_ports(&p, "example.net", 11, NULL, 0), 0);
	assert_int_equal(policy_match_ports(&p, "github.com", 10, NULL, 0), 0);
	assert_false(policy_src_of_port(&p, 99, &src));
	assert_false(policy_src_of_port(&p, 0x80000000u | 99, &src));
	unlink(path);
	policy_free(&p);
}

/* Globs in the first label, "*.NAME" and "=NAME" side by side, with the rule each match names. */
static void test_globs_and_below(void **state)
{
	struct policy p = {0};
	char err[256];
	struct policy_src src;
	const char *path = write_tmp("api-*.example.com # regional APIs\n*.example.org\n"
				     "*-cdn-*.example.net\n=www.example.net\n");

	(void)state;
	assert_int_equal(policy_load(&p, path, err, sizeof(err)), 0);
	assert_true(policy_match_name(&p, "api-eu.example.com", 18, &src));
	assert_int_equal(src.line, 1);
	assert_string_equal(src.comment, "regional APIs");
	assert_true(match(&p, "x.api-eu.example.com"));
	assert_true(match(&p, "api-.example.com"));
	assert_false(match(&p, "api.example.com"));
	assert_false(match(&p, "api-eu.example.com.evil"));
	assert_false(match(&p, "xapi-eu.example.com"));
	assert_true(match(&p, "a.example.org"));
	assert_true(match(&p, "a.b.example.org"));
	assert_false(match(&p, "example.org"));
	assert_true(match(&p, "eu-cdn-1.example.net"));
	assert_false(match(&p, "eu-cdn.example.net"));
	assert_true(match(&p, "www.example.net"));
	assert_false(match(&p, "a.www.example.net"));
	unlink(path);
	policy_free(&p);
	path = write_tmp("*\n");
	assert_int_equal(policy_load(&p, path, err, sizeof(err)), 0);
	assert_true(match(&p, "anything.at.all"));
	assert_true(match(&p, "com"));
	unlink(path);
	policy_free(&p);
}

/* In an allowlist, rules that allow too much are refused, saying what they would allow; in a
 * blocklist, a whole top-level domain is one warning. */
static void test_too_broad(void **state)
{
	static const struct {
		const char *line, *reason;
	} cases[] = {
	    {"*", "'*' would allow every name it matches under the root"},
	    {"*.com", "'*.com' would allow every name under com, a public suffix"},
	    {"com", "'com' would allow every name under com, a public suffix"},
	    {"co.uk", "'co.uk' would allow every name under co.uk, a public suffix"},
	    {"*.github.io", "'*.github.io' would allow every name under github.io"},
	    {"dev-*.com", "'dev-*.com' would allow every name it matches under com"},
	    {"0.0.0.0/0", "'0.0.0.0/0' would allow every IPv4 address"},
	    {"::/0", "'::/0' would allow every IPv6 address"},
	    {":25", "':25' would allow port 25 of every address"},
	    {"*.com:443", "'*.com' would allow every name under com, a public suffix"},
	    {"0.0.0.0/0:443/tcp", "'0.0.0.0/0' would allow every IPv4 address"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct policy p = {.allowlist = true};
		char text[128], err[512], want[600];
		const char *path;

		snprintf(text, sizeof(text), "=com\nexample.co.uk\n%s\n", cases[i].line);
		path = write_tmp(text);
		snprintf(want, sizeof(want), "%s:3: %s", path, cases[i].reason);
		assert_int_equal(policy_load(&p, path, err, sizeof(err)), -1);
		if (strncmp(err, want, strlen(want)))
			fail_msg("line '%s': got '%s', want prefix '%s'", cases[i].line, err, want);
		assert_non_null(strstr(err, "--allow-broad"));
		policy_free(&p);
		p = (struct policy){.allowlist = true, .allow_broad = true};
		assert_int_equal(policy_load(&p, path, err, sizeof(err)), 0);
		policy_free(&p);
		p = (struct policy){0}; /* a blocklist takes them, with one warning for a TLD */
		assert_int_equal(policy_load(&p, path, err, sizeof(err)), 0);
		if (i == 1 || i == 2 || i == 9)
			assert_non_null(strstr(p.warning, ":3: '"));
		else if (i != 0 && i != 5)
			assert_string_equal(p.warning, "");
		unlink(path);
		policy_free(&p);
	}
}

/* include FILE, relative to the including file; errors inside name the chain; cycles, depth. */
static void test_includes(void **state)
{
	struct policy p = {0};
	char err[1024], dir[] = "/tmp/dg-include-XXXXXX", path[128], want[512];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a.txt", dir);
#define FILE_(name, text)                                                                          \
	do {                                                                                       \
		char f_[160];                                                                      \
		FILE *fp_;                                                                         \
		snprintf(f_, sizeof(f_), "%s/%s", dir, name);                                      \
		assert_non_null(fp_ = fopen(f_, "w"));                                             \
		fputs(text, fp_);                                                                  \
		fclose(fp_);                                                                       \
	} while (0)
	FILE_("a.txt", "github.com\ninclude sub/b.txt # the team's\n");
	assert_int_equal(mkdir(strcat(strcpy(want, dir), "/sub"), 0700), 0);
	FILE_("sub/b.txt", "include c.txt\n192.0.2.0/24\n");
	FILE_("sub/c.txt", "pkgs.example.org\n");
	assert_int_equal(policy_load(&p, path, err, sizeof(err)), 0);
	assert_true(match(&p, "pkgs.example.org"));
	assert_int_equal(p.nnets, 1);
	assert_int_equal(p.nfiles, 3);
	policy_free(&p);
	FILE_("sub/c.txt", "pkgs.example.org\nbad rule\n");
	assert_int_equal(policy_load(&p, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
		 "%s/sub/c.txt:2: one rule per line, found 'bad rule' (included from "
		 "%s/sub/b.txt:1, from %s/a.txt:2)",
		 dir, dir, dir);
	assert_string_equal(err, want);
	policy_free(&p);
	FILE_("sub/c.txt", "include ../a.txt\n");
	assert_int_equal(policy_load(&p, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/sub/../a.txt: already being read: an include cycle (included "
				    "from "));
	policy_free(&p);
	FILE_("sub/c.txt", "include nowhere.txt\n");
	assert_int_equal(policy_load(&p, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/sub/nowhere.txt: cannot open: No such file or directory"));
	policy_free(&p);
	for (int i = 0; i < 10; i++) { /* d0 includes d1 ... d9: deeper than 8 */
		char name[16], text[32];

		snprintf(name, sizeof(name), "d%d.txt", i);
		snprintf(text, sizeof(text), i < 9 ? "include d%d.txt\n" : "x.example\n", i + 1);
		FILE_(name, text);
	}
	snprintf(path, sizeof(path), "%s/d0.txt", dir);
	assert_int_equal(policy_load(&p, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "include d9.txt: includes nested deeper than 8"));
	policy_free(&p);
#undef FILE_
	snprintf(want, sizeof(want), "rm -rf %s", dir);
	assert_int_equal(system(want), 0);
}

static void test_long_name_and_missing_file(void **state)
{
	struct policy p = {0};
	char line[400], err[512];

	(void)state;
	memset(line, 'a', sizeof(line));
	for (int i = 60; i < 390; i += 61)
		line[i] = '.';
	line[254] = '\0'; /* 254 characters: one too many */
	assert_int_equal(policy_add_line(&p, line, 0, 1, err, sizeof(err)), -1);
	assert_string_equal(err, "name longer than 253 characters");
	line[253] = '\0';
	if (line[252] == '.')
		line[252] = 'a';
	assert_int_equal(policy_add_line(&p, line, 0, 1, err, sizeof(err)), 0);
	assert_int_equal(policy_load(&p, "/nonexistent/list.txt", err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/list.txt: cannot open: No such file or directory");
	policy_free(&p);
}

/* 200,000 rules: every rule matches and the table stays half empty or better. */
static void test_many_rules(void **state)
{
	struct policy p = {0};
	char line[64], err[256];

	(void)state;
	for (int i = 0; i < 200000; i++) {
		snprintf(line, sizeof(line), "host%d.example%d.org", i, i % 97);
		assert_int_equal(policy_add_line(&p, line, 0, (uint32_t)i + 1, err, sizeof(err)),
				 0);
	}
	assert_int_equal(p.nnames, 200000);
	assert_true(p.nslots >= 2 * p.nnames);
	for (int i = 0; i < 200000; i += 997) {
		struct policy_src src;

		snprintf(line, sizeof(line), "www.host%d.example%d.org", i, i % 97);
		assert_true(policy_match_name(&p, line, strlen(line), &src));
		assert_int_equal(src.line, i + 1);
	}
	assert_false(match(&p, "example5.org"));
	policy_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_match_at_label_boundaries),
	    cmocka_unit_test(test_duplicates_keep_the_first_rule),
	    cmocka_unit_test(test_exact_names),
	    cmocka_unit_test(test_globs_and_below),
	    cmocka_unit_test(test_too_broad),
	    cmocka_unit_test(test_includes),
	    cmocka_unit_test(test_comments_are_reasons),
	    cmocka_unit_test(test_rule_names),
	    cmocka_unit_test(test_manifest_chains),
	    cmocka_unit_test(test_judge),
	    cmocka_unit_test(test_manifest_errors_name_file_and_line),
	    cmocka_unit_test(test_addresses_and_prefixes),
	    cmocka_unit_test(test_address_ports),
	    cmocka_unit_test(test_name_ports),
	    cmocka_unit_test(test_bad_lines_name_file_and_line),
	    cmocka_unit_test(test_long_name_and_missing_file),
	    cmocka_unit_test(test_many_rules),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
