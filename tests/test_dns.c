/* Unit tests for dns.c over a corpus of well-formed and malformed packets. No root needed. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "../dns.h"

#define HDR(id, flags, qd, an)                                                                     \
	(id) >> 8, (id) % 256, (flags) >> 8, (flags) % 256, 0, qd, 0, an, 0, 0, 0, 0
#define GITHUB_COM 6, 'g', 'i', 't', 'h', 'u', 'b', 3, 'c', 'o', 'm', 0

struct pkt {
	const char *what;
	size_t len;
	uint8_t b[300];
};
#define PKT(what, ...)                                                                             \
	{                                                                                          \
		what, sizeof((uint8_t[]){__VA_ARGS__}),                                            \
		{                                                                                  \
			__VA_ARGS__                                                                \
		}                                                                                  \
	}

static void test_query_is_parsed_and_lowercased(void **state)
{
	static const uint8_t q[] = {
	    HDR(0xbeef, 0x0100, 1, 0), 3, 'A', 'p', 'I', GITHUB_COM, 0, 28, 0, 1};
	struct dns_query dq;
	const char *why;

	(void)state;
	assert_int_equal(dns_parse_query(q, sizeof(q), &dq, &why), DNS_R_NOERROR);
	assert_string_equal(dq.name, "api.github.com");
	assert_int_equal(dq.namelen, 14);
	assert_int_equal(dq.qtype, DNS_T_AAAA);
	assert_int_equal(dq.id, 0xbeef);
	assert_int_equal(dq.qend, sizeof(q));
}

/* The gate and the name reader against hostile queries: each gets its rcode and a reason. */
static void test_malformed_queries(void **state)
{
	static const struct {
		struct pkt p;
		int rc;
		const char *why;
	} cases[] = {
	    {PKT("empty", 0), DNS_R_DROP, "shorter than a DNS header"},
	    {PKT("truncated header", 0x12, 0x34, 1, 0, 0, 1), DNS_R_DROP, "shorter"},
	    {PKT("a response", HDR(1, 0x8100, 1, 0), GITHUB_COM, 0, 1, 0, 1), DNS_R_DROP,
	     "a response"},
	    {PKT("opcode STATUS", HDR(1, 0x1100, 1, 0), GITHUB_COM, 0, 1, 0, 1), DNS_R_NOTIMP,
	     "opcode"},
	    {PKT("TC set", HDR(1, 0x0300, 1, 0), GITHUB_COM, 0, 1, 0, 1), DNS_R_FORMERR,
	     "truncated query"},
	    {PKT("QDCOUNT 0", HDR(1, 0x0100, 0, 0)), DNS_R_FORMERR, "question count"},
	    {PKT("QDCOUNT 2", HDR(1, 0x0100, 2, 0), GITHUB_COM, 0, 1, 0, 1, GITHUB_COM, 0, 1, 0, 1),
	     DNS_R_FORMERR, "question count"},
	    {PKT("no question", HDR(1, 0x0100, 1, 0)), DNS_R_FORMERR, "name runs past"},
	    {PKT("name without end", HDR(1, 0x0100, 1, 0), 3, 'a', 'b', 'c'), DNS_R_FORMERR,
	     "name runs past"},
	    {PKT("label past end", HDR(1, 0x0100, 1, 0), 9, 'a', 'b'), DNS_R_FORMERR,
	     "label runs past"},
	    {PKT("no type", HDR(1, 0x0100, 1, 0), GITHUB_COM, 0), DNS_R_FORMERR, "truncated"},
	    {PKT("self pointer", HDR(1, 0x0100, 1, 0), 0xc0, 12, 0, 1, 0, 1), DNS_R_FORMERR,
	     "compression pointer"},
	    {PKT("forward pointer", HDR(1, 0x0100, 1, 0), 0xc0, 14, 0, 0, 1, 0, 1), DNS_R_FORMERR,
	     "compression pointer"},
	    {PKT("loop through a label", HDR(1, 0x0100, 1, 0), 1, 'a', 0xc0, 12, 0, 1, 0, 1),
	     DNS_R_FORMERR, "compression pointer"},
	    {PKT("pointer cut short", HDR(1, 0x0100, 1, 0), 0xc0), DNS_R_FORMERR,
	     "truncated compression pointer"},
	    {PKT("label type 0x40", HDR(1, 0x0100, 1, 0), 0x41, 'a', 0, 0, 1, 0, 1), DNS_R_FORMERR,
	     "reserved label type"},
	    {PKT("label type 0x80", HDR(1, 0x0100, 1, 0), 0x80, 'a', 0, 0, 1, 0, 1), DNS_R_FORMERR,
	     "reserved label type"},
	    {PKT("class CH", HDR(1, 0x0100, 1, 0), GITHUB_COM, 0, 16, 0, 3), DNS_R_REFUSED,
	     "class"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dns_query q;
		const char *why = NULL;
		int rc = dns_parse_query(cases[i].p.b, cases[i].p.len, &q, &why);

		if (rc != cases[i].rc || !why || !strstr(why, cases[i].why))
			fail_msg("%s: rc %d why '%s', want %d '%s'", cases[i].p.what, rc,
				 why ? why : "(none)", cases[i].rc, cases[i].why);
	}
}

/* Build a query whose name has labels of the given lengths; returns the packet length. */
static size_t long_query(uint8_t *pkt, const int *labels, int n)
{
	static const uint8_t hdr[] = {HDR(1, 0x0100, 1, 0)};
	size_t o = DNS_HDR_LEN;

	memcpy(pkt, hdr, sizeof(hdr));
	for (int i = 0; i < n; i++) {
		pkt[o++] = (uint8_t)labels[i];
		memset(pkt + o, 'a', (size_t)labels[i]);
		o += (size_t)labels[i];
	}
	pkt[o++] = 0;
	pkt[o++] = 0, pkt[o++] = 1, pkt[o++] = 0, pkt[o++] = 1;
	return o;
}

/* A name of 256 wire octets is one too many; 255 is fine (RFC 1035 3.1). */
static void test_name_length_limit(void **state)
{
	static const int too_long[] = {63, 63, 63, 62}, longest[] = {63, 63, 63, 61};
	uint8_t pkt[DNS_HDR_LEN + 300];
	struct dns_query q;
	const char *why;

	(void)state;
	assert_int_equal(dns_parse_query(pkt, long_query(pkt, too_long, 4), &q, &why),
			 DNS_R_FORMERR);
	assert_string_equal(why, "name longer than 255 octets");
	assert_int_equal(dns_parse_query(pkt, long_query(pkt, longest, 4), &q, &why),
			 DNS_R_NOERROR);
	assert_int_equal(q.namelen, 253);
}

/* Bytes that could fake a label boundary or a log line come out as \DDD. */
static void test_unusual_bytes_are_escaped(void **state)
{
	static const uint8_t q[] = {
	    HDR(1, 0x0100, 1, 0), 5, 'a', '.', 'b', '\n', '"', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
	struct dns_query dq;
	const char *why;

	(void)state;
	assert_int_equal(dns_parse_query(q, sizeof(q), &dq, &why), DNS_R_NOERROR);
	assert_string_equal(dq.name, "a\\046b\\010\\034.com");
}

/* The table put_label uses against the rule it states, for every byte; and a name that fails
 * half-way comes out empty, so that a copy of it by length ends where it should. */
static void test_every_byte_and_a_half_read_name(void **state)
{
	uint8_t q[] = {HDR(1, 0x0100, 1, 0), 1, 0, 3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
	static const uint8_t cut[] = {HDR(1, 0x0100, 1, 0), 3, 'c', 'o', 'm', 9, 'x'};
	struct dns_query dq, copy;
	const char *why;
	char want[16];

	(void)state;
	for (int c = 0; c < 256; c++) {
		q[DNS_HDR_LEN + 1] = (uint8_t)c;
		if (isalnum(c) || c == '-' || c == '_')
			snprintf(want, sizeof(want), "%c.com", tolower(c));
		else
			snprintf(want, sizeof(want), "\\%03d.com", c);
		assert_int_equal(dns_parse_query(q, sizeof(q), &dq, &why), DNS_R_NOERROR);
		assert_string_equal(dq.name, want);
		assert_int_equal(dq.namelen, strlen(want));
	}
	assert_int_equal(dns_parse_query(cut, sizeof(cut), &dq, &why), DNS_R_FORMERR);
	assert_string_equal(why, "label runs past the packet");
	assert_string_equal(dq.name, "");
	memset(&copy, 'x', sizeof(copy));
	dns_query_copy(&copy, &dq);
	assert_string_equal(copy.name, "");
}

static void test_reply_echoes_the_question(void **state)
{
	static const uint8_t q[] = {HDR(0x1234, 0x0100, 1, 0), GITHUB_COM, 0, 1, 0, 1};
	uint8_t out[512];
	struct dns_query dq;
	const char *why;
	size_t n;

	(void)state;
	assert_int_equal(dns_parse_query(q, sizeof(q), &dq, &why), DNS_R_NOERROR);
	n = dns_build_reply(q, &dq, DNS_R_NXDOMAIN, out, sizeof(out));
	assert_int_equal(n, sizeof(q));
	assert_int_equal(out[0], 0x12);
	assert_int_equal(out[1], 0x34);
	assert_int_equal(out[2], 0x81); /* QR, RD copied */
	assert_int_equal(out[3], 0x83); /* RA, NXDOMAIN */
	assert_int_equal(out[5], 1);
	assert_memory_equal(out + DNS_HDR_LEN, q + DNS_HDR_LEN, sizeof(q) - DNS_HDR_LEN);
	assert_int_equal(dns_build_reply(q, &dq, DNS_R_NXDOMAIN, out, 10), 0);
}

struct seen {
	char names[8][DNS_TEXT_MAX];
	int nnames, naddr;
	int stop_at;
};

static int collect(void *ctx, enum dns_item kind, const char *name, size_t len, const uint8_t *addr,
		   uint32_t ttl)
{
	struct seen *s = ctx;

	(void)ttl;
	if (kind == DNS_ITEM_NAME && s->nnames < 8)
		memcpy(s->names[s->nnames++], name, len + 1);
	if (kind != DNS_ITEM_NAME && addr)
		s->naddr++;
	return s->stop_at && s->nnames == s->stop_at ? 7 : 0;
}

/* release.example.org CNAME objects.githubusercontent.org, then its A, with compression. */
static const uint8_t cname_answer[] = {
    HDR(0x1234, 0x8180, 1, 2), 7, 'r', 'e', 'l', 'e', 'a', 's', 'e', 7, 'e', 'x', 'a', 'm', 'p',
    'l', 'e', 3, 'o', 'r', 'g', 0, 0, 1, 0, 1,
    /* answer 1 (offset 37): owner -> question name (12), CNAME, rdlen 28 */
    0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 30, 0, 28, 7, 'o', 'b', 'j', 'e', 'c', 't', 's', 17, 'g', 'i',
    't', 'h', 'u', 'b', 'u', 's', 'e', 'r', 'c', 'o', 'n', 't', 'e', 'n', 't', 0xc0, 28,
    /* answer 2: owner -> the CNAME target (49), A 192.0.2.12 */
    0xc0, 49, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 12};

static void test_answer_walk_follows_cnames(void **state)
{
	struct dns_query q;
	struct seen s = {0};
	const char *why;
	uint8_t full[DNS_HDR_LEN + 25];

	(void)state;
	memcpy(full, cname_answer, sizeof(full)); /* the question part doubles as a query */
	full[2] = 0x01, full[3] = 0, full[7] = 0;
	assert_int_equal(dns_parse_query(full, DNS_HDR_LEN + 25, &q, &why), DNS_R_NOERROR);
	assert_int_equal(dns_walk_answer(cname_answer, sizeof(cname_answer), &q, collect, &s, &why),
			 0);
	assert_int_equal(s.nnames, 3);
	assert_string_equal(s.names[0], "release.example.org");
	assert_string_equal(s.names[1], "objects.githubusercontent.org");
	assert_string_equal(s.names[2], "objects.githubusercontent.org");
	assert_int_equal(s.naddr, 1);
	memset(&s, 0, sizeof(s));
	s.stop_at = 2; /* the callback's verdict stops the walk and comes back */
	assert_int_equal(dns_walk_answer(cname_answer, sizeof(cname_answer), &q, collect, &s, &why),
			 7);
}

/* The queries deployguard sends for blocked names: parse back to the same question; bad names
 * build nothing. */
static void test_built_query_round_trips(void **state)
{
	static const uint8_t want[] = {HDR(0x0102, 0x0100, 1, 0), GITHUB_COM, 0, 28, 0, 1};
	char label[64], longname[300];
	uint8_t out[300];
	struct dns_query q;
	const char *why;
	size_t n;

	(void)state;
	n = dns_build_query("github.com", DNS_T_AAAA, 0x0102, out, sizeof(out));
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(dns_parse_query(out, n, &q, &why), DNS_R_NOERROR);
	assert_string_equal(q.name, "github.com");
	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(longname, sizeof(longname), "%s.%s.%s.%.61s", label, label, label, label);
	assert_int_equal(strlen(longname), 253); /* the longest name: 255 wire octets */
	assert_int_not_equal(dns_build_query(longname, DNS_T_A, 1, out, sizeof(out)), 0);
	strcat(longname, "a");
	assert_int_equal(dns_build_query(longname, DNS_T_A, 1, out, sizeof(out)), 0);
	assert_int_equal(dns_build_query("a..b", DNS_T_A, 1, out, sizeof(out)), 0);
	label[0] = 'x';
	snprintf(longname, sizeof(longname), "%sx.com", label); /* a 64-octet label */
	assert_int_equal(dns_build_query(longname, DNS_T_A, 1, out, sizeof(out)), 0);
	assert_int_equal(dns_build_query("github.com", DNS_T_A, 1, out, 100), 0);
}

static void test_malformed_answers(void **state)
{
	struct dns_query q;
	struct seen s = {0};
	const char *why;
	uint8_t a[sizeof(cname_answer)], full[DNS_HDR_LEN + 25];

	(void)state;
	memcpy(full, cname_answer, sizeof(full));
	full[2] = 0x01, full[3] = 0, full[7] = 0;
	assert_int_equal(dns_parse_query(full, sizeof(full), &q, &why), DNS_R_NOERROR);

	memcpy(a, cname_answer, sizeof(a));
	a[sizeof(a) - 5] = 5; /* rdlen 5 runs past the end */
	assert_int_equal(dns_walk_answer(a, sizeof(a), &q, collect, &s, &why), -1);
	assert_string_equal(why, "truncated");

	memcpy(a, cname_answer, sizeof(a));
	a[sizeof(a) - 5] = 3; /* an A record of 3 bytes */
	assert_int_equal(dns_walk_answer(a, sizeof(a) - 1, &q, collect, &s, &why), -1);
	assert_string_equal(why, "address record of the wrong length");

	memcpy(a, cname_answer, sizeof(a));
	a[48] = 20; /* CNAME rdlen shorter than its name: the target may not leave rdata */
	assert_int_equal(dns_walk_answer(a, sizeof(a), &q, collect, &s, &why), -1);

	memcpy(a, cname_answer, sizeof(a));
	a[1] ^= 1; /* another id */
	assert_int_equal(dns_walk_answer(a, sizeof(a), &q, collect, &s, &why), -1);
	assert_string_equal(why, "not an answer to this query");

	memcpy(a, cname_answer, sizeof(a));
	a[13] = 'x'; /* another question */
	assert_int_equal(dns_walk_answer(a, sizeof(a), &q, collect, &s, &why), -1);
	assert_string_equal(why, "question differs from the query");

	memcpy(a, cname_answer, sizeof(a));
	a[7] = 9; /* ANCOUNT larger than the records present */
	assert_int_equal(dns_walk_answer(a, sizeof(a), &q, collect, &s, &why), -1);

	for (size_t cut = 0; cut < sizeof(cname_answer); cut++) /* every truncation is caught */
		assert_int_equal(dns_walk_answer(cname_answer, cut, &q, collect, &s, &why), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_query_is_parsed_and_lowercased),
	    cmocka_unit_test(test_malformed_queries),
	    cmocka_unit_test(test_name_length_limit),
	    cmocka_unit_test(test_unusual_bytes_are_escaped),
	    cmocka_unit_test(test_every_byte_and_a_half_read_name),
	    cmocka_unit_test(test_reply_echoes_the_question),
	    cmocka_unit_test(test_answer_walk_follows_cnames),
	    cmocka_unit_test(test_malformed_answers),
	    cmocka_unit_test(test_built_query_round_trips),
	};

	return cmocka_run_group_tests_name("dns", tests, NULL, NULL);
}
