/* bpf_egress.bpf.c: the egress backstop, the last look at every packet the cgroup sends;
 * compiled after bpf_guard.bpf.c, in one text (the Makefile's build/bpf_text.c). */
#include "bpf_prog.h"

/* LEN bytes at OFF: in place when the linear part holds them, else copied to BUF. OFF is bounded
 * (an IP header is at most 60 bytes) so that the verifier can check the packet pointer. */
static __always_inline u8 *dg_bytes(struct __sk_buff *skb, u32 off, u8 *buf, u32 len)
{
	u8 *data = (u8 *)(long)skb->data, *end = (u8 *)(long)skb->data_end;

	if (off <= 128 && data + off + len <= end)
		return data + off;
	return bpf_skb_load_bytes(skb, off, buf, len) ? 0 : buf;
}

/* The packet's socket, where socket storage lives; NULL for a request or time-wait socket. */
static __always_inline struct bpf_sock *dg_fullsock(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;

	return sk ? bpf_sk_fullsock(sk) : 0;
}

/* The query a packet to the proxy carries: tell the proxy who sent it, by (source port, DNS id)
 * for UDP and by source port for a TCP SYN. */
static __always_inline void dg_note_query(struct __sk_buff *skb, u32 l4, u32 proto, u32 v6,
					  u16 sport)
{
	struct dg_sender q = {};
	struct bpf_sock *sk = dg_fullsock(skb);
	struct dg_orig *o;
	u16 id = 0;
	u8 flags = 0, *p;

	if (proto == 17) {
		p = dg_bytes(skb, l4 + 8, (u8 *)&id, 2);
		if (!p)
			return;
		id = p[0] | p[1] << 8;
	} else {
		p = dg_bytes(skb, l4 + 13, &flags, 1);
		if (!p || (p[0] & 0x12) != 0x02)
			return; /* only the SYN names the connection */
	}
	o = sk ? dg_socks.sk_storage_get(sk, 0, 0) : 0;
	if (!o)
		return;
	q.sport = dg_htons(sport);
	q.id = dg_htons(id);
	q.proto = proto;
	q.v6 = v6;
	q.pid = o->pid;
	__builtin_memcpy(q.comm, o->comm, sizeof(q.comm));
	/* no wakeup: the proxy reads the ring when the query arrives, not before */
	dg_queries.ringbuf_output(&q, sizeof(q), BPF_RB_NO_WAKEUP);
}

/* A packet a socket hook has just judged: the send of an unconnected UDP socket (sendmsg hook), or
 * the SYN of a connecting TCP socket (connect hook). The state lives in the socket's common part,
 * so no bpf_sk_fullsock() is needed. */
static __always_inline int dg_judged(struct __sk_buff *skb, u32 proto)
{
	struct bpf_sock *sk = skb->sk;

	if (!sk)
		return 0;
	return proto == 17 ? sk->state != DG_TCP_ESTABLISHED : sk->state == DG_TCP_SYN_SENT;
}

/* How --connect-action drop drops a packet so that the sender sees what a black hole does: a
 * TCP segment dropped with EPERM is retransmitted with the usual backoff (a drop said to be
 * local congestion, 2, makes TCP give up within seconds); a datagram dropped with 2 is a send
 * that succeeded. */
static __always_inline int dg_quiet_drop(u32 proto)
{
	return proto == 6 ? 0 : 2;
}

/* cgroup_skb/egress (BPF_CGROUP_INET_EGRESS, 4.10+; socket storage 5.2+). Return 1 to pass, 0 to
 * drop (the sender gets EPERM), 2 to drop with a congestion notice (5.3+; see dg_quiet_drop). The
 * backstop behind the socket hooks: it drops DNS that went around the proxy, DNS over TLS, and
 * packets to refused addresses that no allowed connect() reached (sockets connected before
 * deployguard attached, ICMP and other protocols). */
int dg_egress(struct __sk_buff *skb)
{
	const struct dg_conf *cf = dg_cf();
	u8 buf[40], *hdr;
	u16 pbuf[2], ports[2] = {}, *p;
	u32 l4, proto, family, judged = 0;
	struct dg_ip6 daddr = {}, k = {};
	struct dg_why why = {};
	struct bpf_sock *sk;
	struct dg_orig *o;

	if (skb->protocol == dg_htons(0x0800)) {
		hdr = dg_bytes(skb, 0, buf, 20);
		if (!hdr)
			return 1;
		family = DG_AF_INET;
		l4 = (hdr[0] & 0xf) * 4;
		proto = hdr[9];
		__builtin_memcpy(&daddr.a[0], &hdr[16], 4);
	} else if (skb->protocol == dg_htons(0x86dd)) {
		hdr = dg_bytes(skb, 0, buf, 40);
		if (!hdr)
			return 1;
		family = DG_AF_INET6;
		l4 = 40;
		proto = hdr[6];
		__builtin_memcpy(daddr.a, &hdr[24], 16);
	} else {
		return 1;
	}
	if (proto == 17 || proto == 6) {
		p = (u16 *)dg_bytes(skb, l4, (u8 *)pbuf, 4);
		if (!p)
			return 1;
		ports[0] = p[0];
		ports[1] = p[1];
	}
	if (cf && ports[1] == cf->proxy_port &&
	    (family == DG_AF_INET
		 ? daddr.a[0] == DG_LOOP4
		 : (daddr.a[0] | daddr.a[1] | daddr.a[2]) == 0 && daddr.a[3] == dg_htonl(1))) {
		dg_note_query(skb, l4, proto, family == DG_AF_INET6, ports[0]);
		return 1;
	}
	if (ports[1] == dg_htons(53)) {
		why.reason = DG_R_BYPASS;
	} else if ((proto == 6 || proto == 17) && (judged = dg_judged(skb, proto)) && !DG_DROP) {
		return 1;
	} else if ((proto == 6 || proto == 17) &&
		   dg_reached.lookup(dg_reach_key(family, &daddr, &k))) {
		return 1;
	} else if (ports[1] == dg_htons(853)) {
		why.reason = DG_R_DOT;
	} else if (family == DG_AF_INET) {
		dg_judge4(daddr.a[0], ports[1], proto, &why);
	} else {
		dg_judge6(&daddr, ports[1], proto, &why);
	}
	if (!why.reason)
		return 1;
	if (judged) /* --connect-action drop: the socket hook let it through, and logged it */
		return DG_AUDIT ? 1 : dg_quiet_drop(proto);
	/* Not the current task: a packet may leave from softirq (a retransmission), and before
	 * 6.10 this hook has no task helpers. The socket's owner, noted by dg_sock, dg_remember,
	 * or by deployguard for sockets made before it attached, names the culprit. */
	sk = dg_fullsock(skb);
	o = sk ? dg_socks.sk_storage_get(sk, 0, 0) : 0;
	if (dg_report_as(DG_EV_EGRESS, &why, family, ports[1], proto, &daddr, o ? o->pid : 0,
			 o ? o->comm : 0))
		return 1;
	return DG_DROP ? dg_quiet_drop(proto) : 0;
}
