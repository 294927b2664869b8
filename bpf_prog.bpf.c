/* bpf_prog.bpf.c: deployguard's BPF programs, compiled at start by libbcc (C for bcc: BPF_TABLE
 * and friends, map.update() methods), after bpf_prog.h, the structs and codes they share with
 * deployguard. Programs return 1 to allow and 0 to deny; the recvmsg programs always return 1.
 *
 * -D constants: DG_AUDIT (0/1: log, never deny), DG_DENY_UNKNOWN
 * (0/1: only allowed and learned addresses may be reached), DG_NETS_ALLOW (0/1: address rules
 * allow rather than block), DG_NNETS4, DG_NNETS6, DG_NPORTS4, DG_NPORTS6 (LPM sizes, which
 * a cached program's maps take from the run), DG_SOCK_OWNER (0/1: dg_sock may use socket
 * storage), DG_NMEMBERS (processes the guard can follow), DG_MAX_DEPTH (cgroup levels walked),
 * DG_CONNECT_ACTION (a DG_CA_ code: what a refused connect or send gets), DG_NCGROUPS (cgroups
 * a run can adopt), DG_OFF_* (the escape guard's offsets). What differs from run to run (the
 * proxy's port, the cgroup, deployguard's pid) is in dg_conf instead.
 */
#include "bpf_prog.h"

#define DG_AF_INET	   2
#define DG_AF_INET6	   10
#define DG_SOCK_RAW	   3
#define DG_TCP_ESTABLISHED 1 /* also a connected UDP socket */
#define DG_TCP_SYN_SENT	   2
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define dg_htons(x) ((u16)__builtin_bswap16(x))
#define dg_htonl(x) ((u32)__builtin_bswap32(x))
#else
#define dg_htons(x) ((u16)(x))
#define dg_htonl(x) ((u32)(x))
#endif
#define DG_LOOP4	dg_htonl(0x7f000001)
#define DG_DROP		(DG_CONNECT_ACTION == DG_CA_DROP)
#define DG_ECONNREFUSED 111

/* bpf_set_retval (cgroup programs; sock_addr hooks since 6.1): the errno a denied call gets. */
static long (*dg_set_retval)(int retval) = (void *)BPF_FUNC_set_retval;

/* Why an address is refused (reason 0: it is not), and which rule or name says so. */
struct dg_why {
	u32 reason;
	u32 rule;
	u32 name;
};

/* A socket's owner, and where a redirected DNS socket was sent: freed with the socket. */
BPF_SK_STORAGE(dg_socks, struct dg_orig);
/* Senders of queries, read by the proxy when the query arrives: a ring, so that attribution costs
 * the proxy no system call. */
BPF_RINGBUF_OUTPUT(dg_queries, 64);
BPF_LPM_TRIE(dg_nets4, struct dg_lpm4, u32, DG_NNETS4);
BPF_LPM_TRIE(dg_nets6, struct dg_lpm6, u32, DG_NNETS6);
BPF_LPM_TRIE(dg_ports4, struct dg_plpm4, struct dg_port, DG_NPORTS4);
BPF_LPM_TRIE(dg_ports6, struct dg_plpm6, struct dg_port, DG_NPORTS6);
BPF_TABLE("lru_hash", u32, struct dg_learn, dg_learn4, 65536);
BPF_TABLE("lru_hash", struct dg_ip6, struct dg_learn, dg_learn6, 65536);
/* Addresses an allowed connect() reached: packets of connected sockets to them pass the egress
 * backstop, even once the address has expired or a blocked name turns out to share it. Kept per
 * address, not per socket: socket storage made at every connect() cost five times the rest of
 * the connect program. One map for both families (see dg_reach_key). */
BPF_TABLE("lru_hash", struct dg_ip6, u32, dg_reached, 32768);
BPF_RINGBUF_OUTPUT(dg_events, 64);
/* Processes of the guarded subtree: tgid -> struct dg_member. */
BPF_TABLE("hash", u32, struct dg_member, dg_members, DG_NMEMBERS);
BPF_ARRAY(dg_conf, struct dg_conf, 1);
/* Cgroups deployguard adopted (cgroup id -> 1): made during the run for guarded processes only,
 * and given the cgroup programs (adopt.c). Whatever is below one is inside the guard. */
BPF_TABLE("hash", u64, u32, dg_cgroups, DG_NCGROUPS);
/* Network namespaces (inode number -> 1) where the proxy listens, or where it cannot (no
 * loopback): a process that execs in another stops until deployguard has looked. */
BPF_TABLE("hash", u32, u32, dg_netns, DG_NCGROUPS);

/* This run's struct dg_conf: never NULL once deployguard has attached (an array's entry). */
static __always_inline const struct dg_conf *dg_cf(void)
{
	int k = 0;

	return dg_conf.lookup(&k);
}

/* Note the current task as the socket's owner in its storage O (may be NULL). */
static __always_inline void dg_own(struct dg_orig *o)
{
	if (!o)
		return;
	o->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(&o->comm, sizeof(o->comm));
}

static __always_inline void dg_remember(struct bpf_sock_addr *ctx, u32 family, u32 ip4,
					struct dg_ip6 *ip6)
{
	struct dg_orig *o = dg_socks.sk_storage_get(ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);

	if (!o)
		return;
	o->family = family;
	o->ip4 = ip4;
	__builtin_memcpy(o->ip6, ip6->a, 16);
	o->port = ctx->user_port;
	dg_own(o);
}

/* Send an event on behalf of pid/comm; returns what the hook returns for a refusal: 0, or 1
 * in audit mode. */
static __always_inline int dg_report_as(u32 type, struct dg_why *why, u32 family, u32 port,
					u32 proto, struct dg_ip6 *addr, u32 pid, const char *comm)
{
	struct dg_event ev = {};

	ev.type = type;
	ev.reason = why->reason;
	ev.rule = why->rule;
	ev.name = why->name;
	ev.pid = pid;
	ev.family = family;
	ev.port = port;
	ev.proto = proto;
	__builtin_memcpy(ev.addr, addr->a, 16);
	if (comm)
		__builtin_memcpy(ev.comm, comm, sizeof(ev.comm));
	dg_events.ringbuf_output(&ev, sizeof(ev), 0);
	return DG_AUDIT ? 1 : 0;
}

/* The same, from a hook that runs in the culprit's own system call (not egress). */
static __always_inline int dg_report(u32 type, struct dg_why *why, u32 family, u32 port, u32 proto,
				     struct dg_ip6 *addr)
{
	char comm[16];

	bpf_get_current_comm(&comm, sizeof(comm));
	return dg_report_as(type, why, family, port, proto, addr, bpf_get_current_pid_tgid() >> 32,
			    comm);
}

/* An address learned from answers: a blocked name's is refused; an allowed name's is allowed
 * until it expires, which matters only when unknown addresses are refused. */
static __always_inline void dg_judge_learned(struct dg_learn *l, struct dg_why *why)
{
	why->name = l ? l->name : 0;
	if (l && l->block)
		why->reason = DG_R_LEARNED;
	else if (DG_DENY_UNKNOWN && !(l && l->expires > bpf_ktime_get_ns()))
		why->reason = DG_R_UNKNOWN;
}

/* A rule with a port that matches (r, not expired): it decides, as an address rule does. Returns
 * whether one did. */
static __always_inline int dg_judge_port(struct dg_port *r, struct dg_why *why)
{
	if (!r || r->expires <= bpf_ktime_get_ns())
		return 0;
	if (!DG_NETS_ALLOW) {
		why->reason = r->name ? DG_R_NAME_PORT : DG_R_RULE;
		why->rule = r->rule;
		why->name = r->name;
	}
	return 1;
}

/* ip on port (network order) over proto (6 or 17; other protocols have no ports). */
static __always_inline void dg_judge4(u32 ip, u32 port, u32 proto, struct dg_why *why)
{
	struct dg_lpm4 k = {32, ip};
	struct dg_plpm4 pk = {64, (u16)port, (u16)proto, ip};
	u32 *rule;

	if ((ip & dg_htonl(0xff000000)) == dg_htonl(0x7f000000) || ip == 0)
		return; /* this host */
	if ((proto == 6 || proto == 17) && dg_judge_port(dg_ports4.lookup(&pk), why))
		return;
	rule = dg_nets4.lookup(&k);
	if (rule) {
		if (!DG_NETS_ALLOW) {
			why->reason = DG_R_RULE;
			why->rule = *rule;
		}
		return;
	}
	dg_judge_learned(dg_learn4.lookup(&ip), why);
}

static __always_inline int dg_mapped(struct dg_ip6 *ip)
{
	return ip->a[0] == 0 && ip->a[1] == 0 && ip->a[2] == dg_htonl(0xffff);
}

static __always_inline void dg_judge6(struct dg_ip6 *ip, u32 port, u32 proto, struct dg_why *why)
{
	struct dg_lpm6 k = {128, {ip->a[0], ip->a[1], ip->a[2], ip->a[3]}};
	struct dg_plpm6 pk = {160, (u16)port, (u16)proto, {ip->a[0], ip->a[1], ip->a[2], ip->a[3]}};
	u32 *rule;

	if (dg_mapped(ip)) {
		dg_judge4(ip->a[3], port, proto, why);
		return;
	}
	if (ip->a[0] == 0 && ip->a[1] == 0 && ip->a[2] == 0 &&
	    (ip->a[3] == 0 || ip->a[3] == dg_htonl(1)))
		return; /* :: and ::1, this host */
	if ((proto == 6 || proto == 17) && dg_judge_port(dg_ports6.lookup(&pk), why))
		return;
	rule = dg_nets6.lookup(&k);
	if (rule) {
		if (!DG_NETS_ALLOW) {
			why->reason = DG_R_RULE;
			why->rule = *rule;
		}
		return;
	}
	dg_judge_learned(dg_learn6.lookup(ip), why);
}

/* dg_reached's key: an IPv4 address as IPv4-mapped IPv6. With a map per family, clang merges the
 * lookups into one call site, and the verifier then calls the map through a pointer. */
static __always_inline struct dg_ip6 *dg_reach_key(u32 family, struct dg_ip6 *addr,
						   struct dg_ip6 *k)
{
	if (family != DG_AF_INET)
		return addr;
	k->a[2] = dg_htonl(0xffff);
	k->a[3] = addr->a[0];
	return k;
}

static __always_inline void dg_reach(u32 family, struct dg_ip6 *addr)
{
	struct dg_ip6 k = {};
	struct dg_ip6 *key = dg_reach_key(family, addr, &k);
	u32 one = 1;

	if (!dg_reached.lookup(key))
		dg_reached.update(key, &one); /* the first time only: no write in the common case */
}

/* The verdict for connect (is_connect) or an unconnected send to family/addr. */
static __always_inline int dg_decide(struct bpf_sock_addr *ctx, int is_connect, u32 family,
				     struct dg_ip6 *addr, struct dg_why *why)
{
	int ret = 1;

	if (ctx->user_port == dg_htons(853) && !why->reason) {
		why->reason = DG_R_DOT;
		why->rule = 0;
	}
	if (why->reason) {
		ret = dg_report(DG_EV_CONNECT, why, family, ctx->user_port, ctx->protocol, addr);
		if (!ret && DG_CONNECT_ACTION == DG_CA_REFUSED)
			dg_set_retval(-DG_ECONNREFUSED);
		if (!ret && DG_DROP)
			return 1; /* not reached: dg_egress drops its packets */
	}
	if (is_connect && ret)
		dg_reach(family, addr);
	return ret;
}

/* cgroup/connect4 and cgroup/sendmsg4 (BPF_CGROUP_INET4_CONNECT, _UDP4_SENDMSG; 4.17+, socket
 * storage 5.?). Return 1 to allow, 0 to fail the call at once (EPERM, or ECONNREFUSED). Port 53
 * goes to the proxy whatever the resolver address; other addresses are judged by dg_judge4. */
static __always_inline int dg_out4(struct bpf_sock_addr *ctx, int is_connect)
{
	struct dg_ip6 addr = {{ctx->user_ip4, 0, 0, 0}};
	struct dg_why why = {};

	if (ctx->user_port == dg_htons(53)) {
		const struct dg_conf *cf = dg_cf();

		if (!cf)
			return 0;
		dg_remember(ctx, DG_AF_INET, addr.a[0], &addr);
		ctx->user_ip4 = DG_LOOP4;
		ctx->user_port = cf->proxy_port;
		return 1;
	}
	dg_judge4(addr.a[0], ctx->user_port, ctx->protocol, &why);
	return dg_decide(ctx, is_connect, DG_AF_INET, &addr, &why);
}

int dg_connect4(struct bpf_sock_addr *ctx)
{
	return dg_out4(ctx, 1);
}

int dg_sendmsg4(struct bpf_sock_addr *ctx)
{
	return dg_out4(ctx, 0);
}

/* cgroup/connect6 and cgroup/sendmsg6 (4.17+): the same for AF_INET6 sockets. An IPv4-mapped
 * destination (::ffff:a.b.c.d) is judged as IPv4 and its DNS sent to ::ffff:127.0.0.1. */
static __always_inline int dg_out6(struct bpf_sock_addr *ctx, int is_connect)
{
	struct dg_ip6 addr = {
	    {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]}};
	struct dg_why why = {};

	if (ctx->user_port == dg_htons(53)) {
		const struct dg_conf *cf = dg_cf();

		if (!cf)
			return 0;
		dg_remember(ctx, DG_AF_INET6, 0, &addr);
		if (dg_mapped(&addr)) {
			ctx->user_ip6[3] = DG_LOOP4;
		} else {
			ctx->user_ip6[0] = 0;
			ctx->user_ip6[1] = 0;
			ctx->user_ip6[2] = 0;
			ctx->user_ip6[3] = dg_htonl(1);
		}
		ctx->user_port = cf->proxy_port;
		return 1;
	}
	dg_judge6(&addr, ctx->user_port, ctx->protocol, &why);
	return dg_decide(ctx, is_connect, DG_AF_INET6, &addr, &why);
}

int dg_connect6(struct bpf_sock_addr *ctx)
{
	return dg_out6(ctx, 1);
}

int dg_sendmsg6(struct bpf_sock_addr *ctx)
{
	return dg_out6(ctx, 0);
}

/* cgroup/recvmsg4 (BPF_CGROUP_UDP4_RECVMSG, 5.2+): a reply from the proxy appears to come from
 * the resolver the socket addressed, so resolvers that check the source accept it. Always 1. */
int dg_recvmsg4(struct bpf_sock_addr *ctx)
{
	const struct dg_conf *cf;
	struct dg_orig *o;

	if (ctx->user_ip4 != DG_LOOP4 || !(cf = dg_cf()) || ctx->user_port != cf->proxy_port)
		return 1;
	o = dg_socks.sk_storage_get(ctx->sk, 0, 0);
	if (o && o->family == DG_AF_INET) {
		ctx->user_ip4 = o->ip4;
		ctx->user_port = o->port;
	}
	return 1;
}

/* cgroup/recvmsg6 (5.2+): the same for AF_INET6 sockets, native or IPv4-mapped. Always 1. */
int dg_recvmsg6(struct bpf_sock_addr *ctx)
{
	u32 a3 = ctx->user_ip6[3];
	const struct dg_conf *cf;
	struct dg_orig *o;

	if (ctx->user_ip6[0] != 0 || ctx->user_ip6[1] != 0 || !(cf = dg_cf()) ||
	    ctx->user_port != cf->proxy_port)
		return 1;
	if (!(ctx->user_ip6[2] == 0 && a3 == dg_htonl(1)) &&
	    !(ctx->user_ip6[2] == dg_htonl(0xffff) && a3 == DG_LOOP4))
		return 1;
	o = dg_socks.sk_storage_get(ctx->sk, 0, 0);
	if (o && o->family == DG_AF_INET6) {
		ctx->user_ip6[0] = o->ip6[0];
		ctx->user_ip6[1] = o->ip6[1];
		ctx->user_ip6[2] = o->ip6[2];
		ctx->user_ip6[3] = o->ip6[3];
		ctx->user_port = o->port;
	} else if (o && o->family == DG_AF_INET) {
		/* an IPv4-mapped sendto() took the sendmsg4 hook */
		ctx->user_ip6[2] = dg_htonl(0xffff);
		ctx->user_ip6[3] = o->ip4;
		ctx->user_port = o->port;
	}
	return 1;
}

/* cgroup/sock_create (BPF_CGROUP_INET_SOCK_CREATE, 4.10+; socket storage here 5.11+).
 * Return 1 to allow, 0 to fail socket() with EPERM. A raw IP socket writes its own
 * headers, so no sock_addr hook sees where its packets go: refuse it. (Packet sockets
 * never reach this hook: a seccomp filter takes them.) Other sockets that are neither TCP
 * nor UDP (ICMP echo) have no sock_addr hook either: note their owner, for the egress
 * backstop to name. */
int dg_sock(struct bpf_sock *sk)
{
	struct dg_why why = {DG_R_RAW, 0, 0};
	struct dg_ip6 none = {};

	if (sk->type == DG_SOCK_RAW)
		return dg_report(DG_EV_SOCKET, &why, sk->family, 0, sk->protocol, &none);
#if DG_SOCK_OWNER /* the kernel has socket storage here */
	if (sk->protocol != 6 && sk->protocol != 17)
		dg_own(dg_socks.sk_storage_get(sk, 0, BPF_SK_STORAGE_GET_F_CREATE));
#endif
	return 1;
}
