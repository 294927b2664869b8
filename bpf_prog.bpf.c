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

/*
 * Leaving the guarded cgroup. Every process forked inside the guarded subtree, or moved into it,
 * is a member of dg_members until it exits (keyed by tgid, with its start time against pid
 * reuse). A member moved to a cgroup outside the subtree, by any route (cgroup.procs or
 * cgroup.threads of any mount, from any namespace), is reported; if the mover is the member
 * itself or another member, the mover gets SIGKILL here, in its own write(), before it returns
 * to user space. Raw tracepoints with bpf_send_signal (5.3+) and probe reads (5.5+). The kernel
 * structs are read at the offsets the running kernel's BTF gives (DG_OFF_*, from deployguard):
 * the header tree compiled against may be another kernel's. Without them (DG_GUARD 0) these
 * programs do nothing, and deployguard says so. Their return value is unused.
 */
#ifdef DG_OFF_TASK_TGID
#define DG_GUARD 1
#else
#define DG_GUARD 0
#endif

/* The pointer or integer of SIZE bytes at BASE + OFF in kernel memory, 0 if unreadable. */
static __always_inline u64 dg_kread(const void *base, long off, u32 size)
{
	u64 v = 0;

	if (base)
		bpf_probe_read_kernel(&v, size & 8 ? 8 : 4, (const char *)base + off);
	return v;
}

#if DG_GUARD
static __always_inline u64 dg_started(const void *task)
{
	return dg_kread((void *)dg_kread(task, DG_OFF_TASK_LEADER, 8), DG_OFF_TASK_START, 8);
}

/* tgid's entry if it is the member that started at start (start 0: noted by deployguard, not
 * checked), else NULL. */
static __always_inline struct dg_member *dg_member(u32 tgid, u64 start)
{
	struct dg_member *m = dg_members.lookup(&tgid);

	return m && (!m->start || m->start == start) ? m : 0;
}

static __always_inline struct dg_member *dg_current_member(void)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!dg_members.lookup(&tgid)) /* the common case, cheaply */
		return 0;
	return dg_member(tgid, dg_started((void *)bpf_get_current_task()));
}

static __always_inline u64 dg_cgroup_id(const void *c)
{
	return dg_kread((void *)dg_kread(c, DG_OFF_CGROUP_KN, 8), DG_OFF_KN_ID, 8);
}

/* Cgroup C is the guarded one (id CG), an adopted one, or below one: 1; elsewhere on cgroup2:
 * 0; on a v1 hierarchy: -1. */
static __always_inline int dg_inside(const void *c, u64 cg)
{
	const void *root = (void *)dg_kread(c, DG_OFF_CGROUP_ROOT, 8);

	if (!root || dg_kread(root, DG_OFF_ROOT_HIERARCHY, 4) != 0)
		return -1; /* moves on a v1 hierarchy leave the guard as it is */
	for (int i = 0; i < DG_MAX_DEPTH && c; i++) {
		u64 id = dg_cgroup_id(c);

		if (id == cg || dg_cgroups.lookup(&id))
			return 1;
		c = (void *)dg_kread(c, DG_OFF_CGROUP_PARENT, 8); /* the parent css is its cgroup */
	}
	return 0;
}

/* The current process's arguments (NUL-separated; the first LEN bytes from arg_start, their
 * length in *n): a process the guard kills is gone before deployguard could read
 * /proc/PID/cmdline. A fixed-size read: the verifier cannot follow a clamped length. */
static __always_inline void dg_args(char *buf, u32 len, u32 *n)
{
	const void *mm = (void *)dg_kread((void *)bpf_get_current_task(), DG_OFF_TASK_MM, 8);
	u64 start = dg_kread(mm, DG_OFF_MM_ARG_START, 8), end = dg_kread(mm, DG_OFF_MM_ARG_END, 8);

	*n = end > start ? (end - start < len ? (u32)(end - start) : len) : 0;
	if (*n && bpf_probe_read_user(buf, len, (void *)start))
		*n = 0;
}

static __always_inline void dg_tamper(u32 what, u32 moved, u64 start, const void *c,
				      const char *path)
{
	struct dg_tamper t = {};

	t.type = DG_EV_TAMPER;
	t.what = what;
	t.pid = bpf_get_current_pid_tgid() >> 32;
	t.moved = moved;
	t.moved_start = start;
	bpf_get_current_comm(&t.comm, sizeof(t.comm));
	if (c)
		t.cgroup = dg_cgroup_id(c);
	if (path)
		bpf_probe_read_kernel_str(t.path, sizeof(t.path), path);
	dg_args(t.cmd, sizeof(t.cmd), &t.cmd_len);
	dg_events.ringbuf_output(&t, sizeof(t), 0);
}
#endif

/* raw_tracepoint/sched_process_exec (4.17+): tell userspace about each exec of a guarded
 * process, so it can read the command line while the process is young. Without the escape
 * guard, only execs in the guarded cgroup itself are seen. Return value unused. */
int dg_exec(struct bpf_raw_tracepoint_args *ctx)
{
	const struct dg_conf *cf = dg_cf();
	struct dg_event ev = {};
#if DG_GUARD
	struct dg_member *m = dg_current_member();
	u32 ns;

	if (!cf || !m)
		return 0;
	m->execd = 1;
	/* A new network namespace (a container's): DNS there goes to its own loopback, where the
	 * proxy must listen before the program runs. Stop it until deployguard has looked. */
	ns = (u32)dg_kread((void *)dg_kread((void *)dg_kread((void *)bpf_get_current_task(),
							     DG_OFF_TASK_NSPROXY, 8),
					    DG_OFF_NSPROXY_NET, 8),
			   DG_OFF_NET_INUM, 4);
	if (ns && !dg_netns.lookup(&ns)) {
		bpf_send_signal(19); /* SIGSTOP, before the new program's first instruction */
		ev.type = DG_EV_NETNS;
		ev.pid = bpf_get_current_pid_tgid() >> 32;
		ev.ppid = ns;
		dg_events.ringbuf_output(&ev, sizeof(ev), 0);
	}
	/* the nearest ancestor that exec'd, for the report's lineage of a process gone before
	 * it is read, or else the parent */
	ev.ppid = m->anc ? m->anc
			 : (u32)dg_kread((void *)dg_kread((void *)bpf_get_current_task(),
							  DG_OFF_TASK_PARENT, 8),
					 DG_OFF_TASK_TGID, 4);
#else
	if (!cf || bpf_get_current_cgroup_id() != cf->cgroup_id)
		return 0;
#endif
	ev.type = DG_EV_EXEC;
	ev.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(&ev.comm, sizeof(ev.comm));
	dg_events.ringbuf_output(&ev, sizeof(ev), 0);
	return 0;
}

/* raw_tracepoint/cgroup_attach_task, after a move: (dst cgroup, its path, task, threadgroup).
 * A member moved to a cgroup made during the run (a container's, a transient scope) may be
 * adopted: its mover, if guarded, stops here until deployguard has given that cgroup the
 * programs (or found it holds someone else's processes: then the move is an escape). */
int dg_attach(struct bpf_raw_tracepoint_args *ctx)
{
#if DG_GUARD
	const void *dst = (void *)ctx->args[0], *task = (void *)ctx->args[2];
	u32 tgid = (u32)dg_kread(task, DG_OFF_TASK_TGID, 4),
	    self = bpf_get_current_pid_tgid() >> 32;
	const struct dg_conf *cf = dg_cf();
	u64 start = dg_started(task);
	struct dg_member joined = {start, 0, 0};
	int inside, guarded;

	if (!cf)
		return 0;
	inside = dg_inside(dst, cf->cgroup_id);

	if (inside > 0) { /* joined: COMMAND, a process of attach mode, a container's */
		if (!dg_member(tgid, start))
			dg_members.update(&tgid, &joined);
		return 0;
	}
	if (inside < 0 || self == cf->self || !dg_member(tgid, start))
		return 0; /* not ours, or deployguard itself (--leftovers leave) */
	guarded = self == tgid || dg_current_member();
	if (dg_cgroup_id(dst) > cf->watermark) {
		if (guarded)
			bpf_send_signal(19); /* SIGSTOP, before the write returns */
		dg_tamper(DG_T_ADOPT, tgid, start, dst, (const char *)ctx->args[1]);
		return 0;
	}
	if (guarded)
		bpf_send_signal(9); /* SIGKILL, delivered before the write returns */
	dg_tamper(DG_T_LEAVE, tgid, start, dst, (const char *)ctx->args[1]);
#endif
	return 0;
}

/* raw_tracepoint/sched_process_fork: (parent, child). A member's new process is a member. */
int dg_fork(struct bpf_raw_tracepoint_args *ctx)
{
#if DG_GUARD
	const void *child = (void *)ctx->args[1];
	struct dg_member *parent = dg_current_member(), m = {};
	u32 tgid;

	if (!parent)
		return 0;
	tgid = (u32)dg_kread(child, DG_OFF_TASK_TGID, 4);
	if ((void *)dg_kread(child, DG_OFF_TASK_LEADER, 8) != child)
		return 0; /* a thread: its process is a member already */
	m.start = dg_kread(child, DG_OFF_TASK_START, 8);
	m.anc = parent->execd ? (u32)(bpf_get_current_pid_tgid() >> 32) : parent->anc;
	if (dg_members.update(&tgid, &m)) { /* full: a process that cannot be followed */
		bpf_send_signal(9);
		dg_tamper(DG_T_FULL, tgid, m.start, 0, 0);
	}
#endif
	return 0;
}

/* raw_tracepoint/sched_process_exit: (task). A process ends when its leader does; exit_code
 * is set by then (do_exit). */
int dg_exit(struct bpf_raw_tracepoint_args *ctx)
{
#if DG_GUARD
	u64 id = bpf_get_current_pid_tgid();
	u32 tgid = id >> 32;
	struct dg_event ev = {};

	if ((u32)id != tgid || !dg_members.lookup(&tgid))
		return 0;
	dg_members.delete(&tgid);
	ev.type = DG_EV_EXIT; /* for the report: how each process of the run ended */
	ev.pid = tgid;
	ev.status = (u32)dg_kread((void *)bpf_get_current_task(), DG_OFF_TASK_EXIT_CODE, 4);
	dg_events.ringbuf_output(&ev, sizeof(ev), 0);
#endif
	return 0;
}

/* cgroup/connect_unix (BPF_CGROUP_UNIX_CONNECT, 6.7+): a process of the cgroup connects a unix
 * socket. Reported, so that deployguard can name a listener outside the cgroup (work handed to
 * a daemon no hook of the cgroup sees); always allowed. */
int dg_unix(struct bpf_sock_addr *ctx)
{
	struct dg_unix u = {};

	u.type = DG_EV_UNIX;
	u.pid = bpf_get_current_pid_tgid() >> 32;
	u.cookie = bpf_get_socket_cookie(ctx);
	bpf_get_current_comm(&u.comm, sizeof(u.comm));
#if DG_GUARD
	/* The path, from the kernel's struct bpf_sock_addr_kern behind ctx (a root program may
	 * read kernel memory): a client that is gone before deployguard looks is still named. */
	u64 uaddr = dg_kread(ctx, DG_OFF_SA_UADDR, 8);

	if (uaddr)
		bpf_probe_read_kernel(&u.path, sizeof(u.path), (char *)uaddr + 2); /* sun_path */
#endif
	dg_events.ringbuf_output(&u, sizeof(u), 0);
	return 1;
}

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
