/*
 * tests/test_proxy.c: the DNS proxy without the kernel side, and without root: a real proxy on
 * 127.0.0.1, a fake upstream on another loopback port, and a client, all in this process. One
 * poll loop turn at a time, as deployguard runs it. Also the event log's escaping, as a script's
 * bytes reach it.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../audit.h"
#include "../policy.h"
#include "../proxy.h"

static struct policy pol;
static struct proxy_cfg cfg;
static struct proxy *px;
static uint16_t port;
static int upstream = -1, client = -1;
static char *logbuf;
static size_t loglen;
static FILE *logf;

static const uint8_t query_hdr[] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};

/* A query for name (dotted) of type A with id 0x1234; returns its length. */
static size_t make_query(uint8_t *buf, const char *name)
{
	size_t n = sizeof(query_hdr);
	const char *p = name;

	memcpy(buf, query_hdr, n);
	while (*p) {
		size_t l = strcspn(p, ".");

		buf[n++] = (uint8_t)l;
		memcpy(buf + n, p, l);
		n += l;
		p += l + (p[l] == '.');
	}
	buf[n++] = 0;
	memcpy(buf + n, "\0\1\0\1", 4);
	return n + 4;
}

/* Turn the proxy's loop until fd is readable, at most 50 turns of 20 ms. */
static bool turn_until(int fd)
{
	for (int t = 0; t < 50; t++) {
		struct pollfd pfd[PROXY_MAX_FDS + 1];
		int timeout = 20, n = proxy_prepare(px, pfd, PROXY_MAX_FDS, &timeout);

		pfd[n] = (struct pollfd){.fd = fd, .events = POLLIN};
		if (poll(pfd, (nfds_t)n + 1, timeout < 20 ? timeout : 20) < 0)
			return false;
		proxy_dispatch(px, pfd, n);
		audit_flush();
		if (pfd[n].revents & POLLIN)
			return true;
	}
	return false;
}

static int udp_socket(uint16_t *bound)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*bound = ntohs(a.sin_port);
	return fd;
}

static void send_to_proxy(const uint8_t *q, size_t n)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	assert_int_equal(sendto(client, q, n, 0, (struct sockaddr *)&a, sizeof(a)), (ssize_t)n);
}

static int setup(void **state)
{
	struct sockaddr_in *up = (struct sockaddr_in *)&cfg.up[0];
	char err[256], rule[] = "github.com";
	uint16_t up_port, client_port;

	(void)state;
	memset(&pol, 0, sizeof(pol));
	assert_int_equal(policy_add_line(&pol, rule, 0, 1, err, sizeof(err)), 0);
	upstream = udp_socket(&up_port);
	client = udp_socket(&client_port);
	cfg = (struct proxy_cfg){.pol = &pol, .mode = &policy_blocklist, .action = PX_NXDOMAIN};
	up->sin_family = AF_INET;
	up->sin_port = htons(up_port);
	up->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfg.uplen[0] = sizeof(*up);
	cfg.nup = 1;
	logf = open_memstream(&logbuf, &loglen);
	audit_init(logf, AUDIT_TEXT, 0);
	return proxy_open(&px, &cfg, &port);
}

static int teardown(void **state)
{
	(void)state;
	proxy_close(px);
	close(upstream);
	close(client);
	audit_free();
	audit_init(NULL, AUDIT_TEXT, 0);
	fclose(logf);
	free(logbuf);
	policy_free(&pol);
	return 0;
}

/* A blocked name: NXDOMAIN from the proxy itself (the upstream never answers), same id, one
 * log line. In blocklist mode the proxy also asks upstream for the name, to learn its
 * addresses; in allowlist mode an unlisted name goes nowhere. */
static void blocked_name(const char *name, bool upstream_asked)
{
	uint8_t q[512], a[512];
	size_t n = make_query(q, name);
	ssize_t got;

	send_to_proxy(q, n);
	assert_true(turn_until(client));
	got = recv(client, a, sizeof(a), 0);
	assert_true(got >= 12);
	assert_memory_equal(a, q, 2);	     /* the id */
	assert_int_equal(a[2] & 0x80, 0x80); /* QR */
	assert_int_equal(a[3] & 0x0f, 3);    /* NXDOMAIN */
	got = recv(upstream, a, sizeof(a), MSG_DONTWAIT);
	if (upstream_asked)
		assert_true(got == (ssize_t)n && !memcmp(a + 12, q + 12, n - 12));
	else
		assert_int_equal(got, -1);
	fflush(logf);
	assert_non_null(strstr(logbuf, "WARN DNS BLOCKED reason=FromDNSRequest blocked=true "
				       "blockedAt=dns domain="));
	assert_non_null(strstr(logbuf, name));
	assert_non_null(strstr(logbuf, upstream_asked ? "firewallMethod=blocklist qtype=A"
						      : "firewallMethod=allowlist qtype=A"));
}

static void test_blocked_name(void **state)
{
	(void)state;
	blocked_name("api.github.com", true);
}

/* The same policy file as an allowlist: github.com and below are allowed, the rest blocked. */
static void test_allowlist(void **state)
{
	uint8_t q[512], a[512];
	size_t n = make_query(q, "api.github.com");

	(void)state;
	proxy_close(px);
	cfg.mode = &policy_allowlist;
	assert_int_equal(proxy_open(&px, &cfg, &port), 0);
	blocked_name("pkgs.example.org", false);
	send_to_proxy(q, n);
	assert_true(turn_until(upstream)); /* allowed: forwarded */
	assert_int_equal(recv(upstream, a, sizeof(a), 0), (ssize_t)n);
	assert_memory_equal(a + 12, q + 12, n - 12);
}

/* An allowed name goes upstream; the upstream's answer comes back to the client. */
static void test_forwarded(void **state)
{
	static const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7};
	uint8_t q[512], fwd[512], a[512];
	size_t n = make_query(q, "pkgs.example.org");
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	ssize_t got;

	(void)state;
	send_to_proxy(q, n);
	assert_true(turn_until(upstream));
	got = recvfrom(upstream, fwd, sizeof(fwd), 0, (struct sockaddr *)&from, &fromlen);
	assert_int_equal(got, (ssize_t)n);
	assert_memory_equal(fwd + 2, q + 2,
			    n - 2); /* the same question, under the proxy's own id */
	fwd[2] |= 0x80;		    /* an answer */
	fwd[7] = 1;		    /* ANCOUNT 1 */
	memcpy(fwd + n, rr, sizeof(rr));
	assert_int_equal(
	    sendto(upstream, fwd, n + sizeof(rr), 0, (struct sockaddr *)&from, fromlen),
	    (ssize_t)(n + sizeof(rr)));
	assert_true(turn_until(client));
	got = recv(client, a, sizeof(a), 0);
	assert_int_equal(got, (ssize_t)(n + sizeof(rr)));
	assert_memory_equal(a, q, 2); /* the client's id again */
	assert_int_equal(a[3] & 0x0f, 0);
	assert_memory_equal(a + n + 12, rr + 12, 4); /* 192.0.2.7 */
}

/* Garbage gets FORMERR (when it has a header to answer with) and the proxy goes on. */
static void test_malformed(void **state)
{
	uint8_t q[512], a[512];
	size_t n = make_query(q, "pkgs.example.org");

	(void)state;
	q[12] = 0xc0; /* a compression pointer in a question, to itself */
	q[13] = 0x0c;
	send_to_proxy(q, n);
	assert_true(turn_until(client));
	assert_true(recv(client, a, sizeof(a), 0) >= 12);
	assert_int_equal(a[3] & 0x0f, 1); /* FORMERR */
	fflush(logf);
	assert_non_null(strstr(logbuf, "WARN DNS MALFORMED"));
	blocked_name("api.github.com", true); /* and it still answers */
}

/* Bytes from the script (a command line, a name) cannot forge or split a line: text escapes
 * them as \xHH, JSON as \u00HH; quotes and backslashes are escaped in both. */
static void test_log_escaping(void **state)
{
	struct audit_event e = {.level = "WARN",
				.event = "DNS BLOCKED",
				.reason = "FromDNSRequest",
				.blocked = 1,
				.domain = "a\nb",
				.pid = 42,
				.cmd = "get\"ent\nWARN DNS BLOCKED forged=1 \\x\x7f",
				.port = -1,
				.method = "blocklist"};
	char *json = NULL;
	size_t jsonlen = 0;
	FILE *jf = open_memstream(&json, &jsonlen);

	(void)state;
	audit_log(&e);
	fflush(logf);
	assert_string_equal(logbuf,
			    "WARN DNS BLOCKED reason=FromDNSRequest blocked=true "
			    "domain=\"a\\x0ab.\" pid=42 cmd=\"get\\\"ent\\x0aWARN DNS BLOCKED "
			    "forged=1 \\\\x\\x7f\" firewallMethod=blocklist\n");
	audit_init(jf, AUDIT_JSON, 0);
	audit_log(&e);
	audit_message("INFO", "a \"quoted\"\tmessage");
	fclose(jf);
	assert_string_equal(json,
			    "{\"level\":\"WARN\",\"event\":\"DNS BLOCKED\",\"blocked\":true,"
			    "\"reason\":\"FromDNSRequest\",\"domain\":\"a\\u000ab.\",\"pid\":42,"
			    "\"cmd\":\"get\\\"ent\\u000aWARN DNS BLOCKED forged=1 \\\\x\\u007f\","
			    "\"firewallMethod\":\"blocklist\"}\n"
			    "{\"level\":\"INFO\",\"event\":\"MESSAGE\",\"message\":"
			    "\"a \\\"quoted\\\"\\u0009message\"}\n");
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_blocked_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forwarded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_allowlist, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_escaping, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
