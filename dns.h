/* dns.h: DNS wire format, read with explicit bounds (RFC 1035). */
#ifndef DG_DNS_H
#define DG_DNS_H

#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN    12
#define DNS_TEXT_MAX   1024 /* 255 wire octets, each at worst "\DDD" */
#define DNS_UDP_MAX    65535
#define DNS_T_A	       1
#define DNS_T_CNAME    5
#define DNS_T_MX       15
#define DNS_T_AAAA     28
#define DNS_T_SRV      33
#define DNS_T_DNAME    39
#define DNS_T_SVCB     64
#define DNS_T_HTTPS    65
#define DNS_C_IN       1
#define DNS_R_NOERROR  0
#define DNS_R_FORMERR  1
#define DNS_R_SERVFAIL 2
#define DNS_R_NXDOMAIN 3
#define DNS_R_NOTIMP   4
#define DNS_R_REFUSED  5
#define DNS_R_DROP     (-1) /* not worth an answer: a response, or too short to carry an id */

/* Sticky-error cursor: once err is set every read returns 0 and nothing moves. */
struct dns_rd {
	const uint8_t *buf;
	size_t len, off;
	const char *err;
};

struct dns_query {
	uint16_t id, flags, qtype, qclass;
	size_t qend; /* offset just past the question */
	size_t namelen;
	char name[DNS_TEXT_MAX]; /* lowercase, no trailing dot, unusual bytes as \DDD */
};

/* What an answer leads to, reported by dns_walk_answer. */
enum dns_item { DNS_ITEM_NAME, DNS_ITEM_A, DNS_ITEM_AAAA };
typedef int (*dns_item_fn)(void *ctx, enum dns_item kind, const char *name, size_t namelen,
			   const uint8_t *addr, uint32_t ttl);

uint16_t dns_rd_u16(struct dns_rd *r);
uint32_t dns_rd_u32(struct dns_rd *r);
void dns_rd_skip(struct dns_rd *r, size_t n);
/* Read a possibly compressed name into out (DNS_TEXT_MAX), returning its length. */
size_t dns_rd_name(struct dns_rd *r, char *out);

/* Gate and parse a query. Returns DNS_R_NOERROR when it may go on to policy, else the rcode to
 * answer with, or DNS_R_DROP; *why says what was wrong. */
int dns_parse_query(const uint8_t *pkt, size_t len, struct dns_query *q, const char **why);
/* *dst = *src, the name only up to its end: a query is 1 KiB, a name a few dozen bytes. */
void dns_query_copy(struct dns_query *dst, const struct dns_query *src);
/* Answer q with rcode, echoing its question (if any). Returns the reply length, 0 if no room. */
size_t dns_build_reply(const uint8_t *query, const struct dns_query *q, int rcode, uint8_t *out,
		       size_t outlen);
/* A query for NAME (text without escapes or trailing dot) with RD set; its length, or 0 if NAME
 * is not a valid name. out must hold 271 bytes. */
size_t dns_build_query(const char *name, uint16_t qtype, uint16_t id, uint8_t *out, size_t outlen);
/* Check that pkt answers q, then report every name and address its answer section leads to.
 * Returns 0, the first non-zero value of fn, or -1 with *why set for a malformed answer. */
int dns_walk_answer(const uint8_t *pkt, size_t len, const struct dns_query *q, dns_item_fn fn,
		    void *ctx, const char **why);
const char *dns_type_name(uint16_t type, char buf[8]);

#endif
