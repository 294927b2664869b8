/*
 * dns.c: DNS wire format with explicit bounds.
 *
 * Every read goes through a sticky-error cursor (OpenBSD asr style), so a chain of reads needs one
 * check at the end. Compression pointers must point strictly before the segment that holds them,
 * which makes every name terminate; a hop cap guards that rule (djbdns).
 */
#include "dns.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define DNS_MAX_HOPS 64 /* more pointers than any sane 255-octet name needs */

static bool need(struct dns_rd *r, size_t n)
{
	if (r->err)
		return false;
	if (r->len - r->off < n) {
		r->err = "truncated";
		return false;
	}
	return true;
}

uint16_t dns_rd_u16(struct dns_rd *r)
{
	uint16_t v;

	if (!need(r, 2))
		return 0;
	v = (uint16_t)(r->buf[r->off] << 8 | r->buf[r->off + 1]);
	r->off += 2;
	return v;
}

uint32_t dns_rd_u32(struct dns_rd *r)
{
	uint32_t hi = dns_rd_u16(r);

	return hi << 16 | dns_rd_u16(r);
}

void dns_rd_skip(struct dns_rd *r, size_t n)
{
	if (need(r, n))
		r->off += n;
}

/* Lowercase for [A-Za-z0-9-_], 0 for every other byte. */
static const uint8_t plain[256] = {
    ['-'] = '-', ['_'] = '_',
#define DIGIT(c) [c] = c
    DIGIT('0'),	 DIGIT('1'),  DIGIT('2'),  DIGIT('3'),	DIGIT('4'),  DIGIT('5'),  DIGIT('6'),
    DIGIT('7'),	 DIGIT('8'),  DIGIT('9'),
#undef DIGIT
#define LETTER(l) [l] = l, [l - 'a' + 'A'] = l
    LETTER('a'), LETTER('b'), LETTER('c'), LETTER('d'), LETTER('e'), LETTER('f'), LETTER('g'),
    LETTER('h'), LETTER('i'), LETTER('j'), LETTER('k'), LETTER('l'), LETTER('m'), LETTER('n'),
    LETTER('o'), LETTER('p'), LETTER('q'), LETTER('r'), LETTER('s'), LETTER('t'), LETTER('u'),
    LETTER('v'), LETTER('w'), LETTER('x'), LETTER('y'), LETTER('z'),
#undef LETTER
};

/* Append one label as text: lowercase, and "\DDD" for anything but [a-z0-9-_] so that neither a
 * '.' inside a label nor a control byte can fake a label boundary or reach the log raw. A table,
 * not snprintf: every query and answer name passes here. */
static size_t put_label(char *out, size_t o, const uint8_t *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = l[i];

		if (plain[c]) {
			out[o++] = (char)plain[c];
			continue;
		}
		out[o++] = '\\';
		out[o++] = (char)('0' + c / 100);
		out[o++] = (char)('0' + c / 10 % 10);
		out[o++] = (char)('0' + c % 10);
	}
	return o;
}

/* On any error the name is empty, never a half-read one: callers copy and log it. */
size_t dns_rd_name(struct dns_rd *r, char *out)
{
	size_t pos = r->off, seg = r->off, o = 0, wire = 1;
	const char *why = NULL;
	int hops = 0;
	bool jumped = false;

	out[0] = '\0';
	if (r->err)
		return 0;
	while (!why) {
		uint8_t c = pos < r->len ? r->buf[pos] : 0;

		if (pos >= r->len)
			why = "name runs past the packet";
		else if (c == 0)
			break;
		else if ((c & 0xc0) == 0xc0) { /* RFC 1035 4.1.4 */
			size_t ptr =
			    pos + 1 < r->len ? (size_t)(c & 0x3f) << 8 | r->buf[pos + 1] : 0;

			if (pos + 1 >= r->len)
				why = "truncated compression pointer";
			else if (ptr >= seg || ++hops > DNS_MAX_HOPS)
				why = "compression pointer not strictly backwards";
			else if (!jumped)
				r->off = pos + 2;
			jumped = true;
			pos = seg = ptr;
		} else if (c & 0xc0)
			why = "reserved label type";
		else if ((wire += 1u + c) > 255)
			why = "name longer than 255 octets";
		else if (pos + 1 + c > r->len)
			why = "label runs past the packet";
		else {
			if (o)
				out[o++] = '.';
			o = put_label(out, o, r->buf + pos + 1, c);
			pos += 1u + c;
		}
	}
	if (why)
		return r->err = why, out[0] = '\0', 0;
	if (!jumped)
		r->off = pos + 1;
	out[o] = '\0';
	return o;
}

int dns_parse_query(const uint8_t *pkt, size_t len, struct dns_query *q, const char **why)
{
	struct dns_rd r = {pkt, len, 0, NULL};
	uint16_t qd;

	*why = NULL;
	memset(q, 0, offsetof(struct dns_query, name));
	q->name[0] = '\0';
	if (len < DNS_HDR_LEN)
		return *why = "shorter than a DNS header", DNS_R_DROP;
	q->id = dns_rd_u16(&r);
	q->flags = dns_rd_u16(&r);
	qd = dns_rd_u16(&r);
	dns_rd_skip(&r, 6);
	if (q->flags & 0x8000)
		return *why = "a response, not a query", DNS_R_DROP;
	if ((q->flags >> 11 & 0xf) != 0)
		return *why = "opcode is not QUERY", DNS_R_NOTIMP;
	if (q->flags & 0x0200)
		return *why = "truncated query", DNS_R_FORMERR;
	if (qd != 1)
		return *why = "question count is not 1", DNS_R_FORMERR;
	q->namelen = dns_rd_name(&r, q->name);
	q->qtype = dns_rd_u16(&r);
	q->qclass = dns_rd_u16(&r);
	if (r.err)
		return *why = r.err, DNS_R_FORMERR;
	q->qend = r.off;
	if (q->qclass != DNS_C_IN)
		return *why = "class is not IN", DNS_R_REFUSED;
	return DNS_R_NOERROR;
}

void dns_query_copy(struct dns_query *dst, const struct dns_query *src)
{
	memcpy(dst, src, offsetof(struct dns_query, name));
	memcpy(dst->name, src->name, src->namelen);
	dst->name[src->namelen] = '\0';
}

size_t dns_build_reply(const uint8_t *query, const struct dns_query *q, int rcode, uint8_t *out,
		       size_t outlen)
{
	/* Echo the question only if we parsed it; a FORMERR for garbage carries none. */
	size_t qlen = q->qend ? q->qend - DNS_HDR_LEN : 0;
	uint16_t flags = (uint16_t)(0x8000 | (q->flags & 0x0100) | 0x0080 | (rcode & 0xf));

	if (outlen < DNS_HDR_LEN + qlen)
		return 0;
	memset(out, 0, DNS_HDR_LEN);
	out[0] = (uint8_t)(q->id >> 8);
	out[1] = (uint8_t)q->id;
	out[2] = (uint8_t)(flags >> 8);
	out[3] = (uint8_t)flags;
	out[5] = qlen ? 1 : 0;
	memcpy(out + DNS_HDR_LEN, query + DNS_HDR_LEN, qlen);
	return DNS_HDR_LEN + qlen;
}

size_t dns_build_query(const char *name, uint16_t qtype, uint16_t id, uint8_t *out, size_t outlen)
{
	size_t o = DNS_HDR_LEN;

	if (outlen < DNS_HDR_LEN + 255 + 4)
		return 0;
	memset(out, 0, DNS_HDR_LEN);
	out[0] = (uint8_t)(id >> 8);
	out[1] = (uint8_t)id;
	out[2] = 0x01; /* RD */
	out[5] = 1;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t n = dot ? (size_t)(dot - name) : strlen(name);

		if (n == 0 || n > 63 || o + 1 + n > DNS_HDR_LEN + 254) /* RFC 1035 2.3.4 */
			return 0;
		out[o++] = (uint8_t)n;
		memcpy(out + o, name, n);
		o += n;
		name += n + (dot != NULL);
	}
	out[o++] = 0;
	out[o++] = (uint8_t)(qtype >> 8);
	out[o++] = (uint8_t)qtype;
	out[o++] = 0;
	out[o++] = DNS_C_IN;
	return o;
}

/* Names inside rdata that an answer can lead a client to. */
static size_t rdata_target(struct dns_rd *r, uint16_t type, char *out)
{
	switch (type) {
	case DNS_T_CNAME:
	case DNS_T_DNAME:
		return dns_rd_name(r, out);
	case DNS_T_MX:
	case DNS_T_SVCB:
	case DNS_T_HTTPS:
		dns_rd_skip(r, 2); /* preference / SvcPriority */
		return dns_rd_name(r, out);
	case DNS_T_SRV:
		dns_rd_skip(r, 6); /* priority, weight, port */
		return dns_rd_name(r, out);
	default:
		return 0;
	}
}

static int walk_rr(struct dns_rd *r, dns_item_fn fn, void *ctx, char *name)
{
	size_t nlen = dns_rd_name(r, name), end;
	uint16_t type = dns_rd_u16(r), rdlen;
	uint32_t ttl;
	int ret;

	dns_rd_skip(r, 2); /* class */
	ttl = dns_rd_u32(r);
	rdlen = dns_rd_u16(r);
	if (!need(r, rdlen))
		return -1;
	end = r->off + rdlen;
	if ((ret = fn(ctx, DNS_ITEM_NAME, name, nlen, NULL, ttl)))
		return ret;
	if (type == DNS_T_A && rdlen == 4)
		ret = fn(ctx, DNS_ITEM_A, name, nlen, r->buf + r->off, ttl);
	else if (type == DNS_T_AAAA && rdlen == 16)
		ret = fn(ctx, DNS_ITEM_AAAA, name, nlen, r->buf + r->off, ttl);
	else if (type == DNS_T_A || type == DNS_T_AAAA)
		return r->err = "address record of the wrong length", -1;
	else {
		struct dns_rd sub = {r->buf, end, r->off, NULL}; /* a target may not leave rdata */

		nlen = rdata_target(&sub, type, name);
		if (sub.err)
			return r->err = sub.err, -1;
		if (nlen && (ret = fn(ctx, DNS_ITEM_NAME, name, nlen, NULL, ttl)))
			return ret;
	}
	r->off = end;
	return ret;
}

int dns_walk_answer(const uint8_t *pkt, size_t len, const struct dns_query *q, dns_item_fn fn,
		    void *ctx, const char **why)
{
	struct dns_rd r = {pkt, len, 0, NULL};
	char name[DNS_TEXT_MAX];
	uint16_t id, flags, qd, an;
	int ret;

	*why = NULL;
	id = dns_rd_u16(&r);
	flags = dns_rd_u16(&r);
	qd = dns_rd_u16(&r);
	an = dns_rd_u16(&r);
	dns_rd_skip(&r, 4);
	if (r.err)
		return *why = "shorter than a DNS header", -1;
	if (id != q->id || !(flags & 0x8000))
		return *why = "not an answer to this query", -1;
	if (qd != 1)
		return *why = "question count is not 1", -1;
	if (dns_rd_name(&r, name) != q->namelen || memcmp(name, q->name, q->namelen) ||
	    dns_rd_u16(&r) != q->qtype || dns_rd_u16(&r) != q->qclass)
		return *why = r.err ? r.err : "question differs from the query", -1;
	for (unsigned i = 0; i < an; i++) {
		if ((ret = walk_rr(&r, fn, ctx, name)) > 0)
			return ret;
		if (ret < 0 || r.err)
			return *why = r.err ? r.err : "bad record", -1;
	}
	return 0;
}

const char *dns_type_name(uint16_t type, char buf[8])
{
	static const struct {
		uint16_t type;
		const char *name;
	} names[] = {{1, "A"},	   {2, "NS"},	  {5, "CNAME"}, {6, "SOA"},  {12, "PTR"},
		     {15, "MX"},   {16, "TXT"},	  {28, "AAAA"}, {33, "SRV"}, {39, "DNAME"},
		     {64, "SVCB"}, {65, "HTTPS"}, {255, "ANY"}};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].type == type)
			return names[i].name;
	snprintf(buf, 8, "%u", type);
	return buf;
}
