/* bpf_prog.h: the contract between deployguard and its BPF programs, written once.
 *
 * The programs themselves are bpf_prog.bpf.c (maps, socket programs), bpf_guard.bpf.c (the escape
 * guard) and bpf_egress.bpf.c (the egress backstop). The Makefile embeds this header and those
 * files, in that order, as the string dg_bpf_text, which libbcc compiles at start against the
 * running kernel's headers with -DDG_BPF=1 and the -D constants listed at the top of
 * bpf_prog.bpf.c. Everything above the #ifndef DG_BPF below is read by both compilers: the structs
 * the programs and deployguard exchange through maps and rings, and the codes of the events. Below
 * it, for deployguard only: each program's hook and the helpers it calls, which the start-up probes
 * check before compiling and deployguard checks against the compiled code after.
 */
#ifndef DG_BPF_PROG_H
#define DG_BPF_PROG_H

#ifndef DG_BPF
#include <linux/types.h>
#endif

/* dg_socks, a socket's storage: who owns the socket, and for a redirected DNS socket the
 * resolver it meant (network order). */
struct dg_orig {
	__u32 ip6[4];
	__u32 ip4;
	__u32 port;
	__u32 family;
	__u32 pid;
	char comm[16];
};

/* dg_conf, its one entry: what differs from run to run, written by deployguard before it
 * attaches. Kept out of the -D constants so that one compiled program serves every run of a
 * mode on a kernel (the compile cache). */
struct dg_conf {
	__u64 cgroup_id;  /* the guarded cgroup's id */
	__u64 watermark;  /* cgroup ids above it were made during the run (ids only grow) */
	__u32 self;	  /* deployguard's pid: its own cgroup moves are not escapes */
	__u16 proxy_port; /* the DNS proxy's port, network order */
	__u16 pad;
};

/* dg_members: a process of the guarded subtree. anc is its nearest ancestor that exec'd while
 * guarded (0: none; COMMAND itself, or a process that joined), so that a lineage passes the
 * processes that forked and never exec'd, and the daemons that forked twice. */
struct dg_member {
	__u64 start; /* ns since boot (0: noted by deployguard, not checked) */
	__u32 anc;
	__u32 execd; /* it exec'd while guarded: its forks name it as their anc */
};

/* dg_queries: who sent a query to the proxy, named as the proxy sees the query: the client's
 * source port and DNS id (UDP), or the port only (TCP SYN); host order. */
struct dg_sender {
	__u16 sport;
	__u16 id;
	__u8 proto;
	__u8 v6;
	__u8 pad[2];
	__u32 pid;
	char comm[16];
};

/* dg_nets4 and dg_nets6 (LPM tries) map an address rule to its index in the policy. */
struct dg_lpm4 {
	__u32 prefixlen;
	__u32 addr;
};
struct dg_lpm6 {
	__u32 prefixlen;
	__u32 addr[4];
};

/* dg_ports4 and dg_ports6 (LPM tries): rules with a port. The key is the port (network order)
 * and protocol, then the address: a rule is prefixlen 32 + its own prefix length, a lookup
 * 32 + 32 or 32 + 128, so the longest match is the most specific address rule on that port. */
struct dg_plpm4 {
	__u32 prefixlen;
	__u16 port;
	__u16 proto;
	__u32 addr;
};
struct dg_plpm6 {
	__u32 prefixlen;
	__u16 port;
	__u16 proto;
	__u32 addr[4];
};
/* Their value: the address rule's index (name 0), or the name an address was learned from (the
 * proxy's id) when a name's port rule matched its answer; valid until expires (CLOCK_MONOTONIC
 * ns; ~0 for ever). */
struct dg_port {
	__u64 expires;
	__u32 rule;
	__u32 name;
};

/* An IPv6 address (the key of dg_learn6 and dg_reached), network order. */
struct dg_ip6 {
	__u32 a[4];
};

/* dg_learn4 and dg_learn6: an address the proxy saw in an answer, allowed until expires
 * (CLOCK_MONOTONIC ns, bpf_ktime_get_ns's clock), or blocked for the rest of the run. name is
 * the proxy's id for the name it was learned from. */
struct dg_learn {
	__u64 expires;
	__u32 name;
	__u32 block;
};

/* dg_events: what the programs report. type is a DG_EV_ code, reason a DG_R_ code. */
enum {
	DG_EV_CONNECT = 1, /* refused at connect or sendmsg */
	DG_EV_EGRESS = 2,  /* a packet dropped by the egress backstop */
	DG_EV_EXEC = 3,	   /* a process of the cgroup called exec */
	DG_EV_SOCKET = 4,  /* refused at socket creation */
	DG_EV_TAMPER = 5,  /* a struct dg_tamper */
	DG_EV_UNIX = 6,	   /* a struct dg_unix */
	DG_EV_EXIT = 7,	   /* a guarded process ended (escape guard only) */
	DG_EV_NETNS = 8,   /* a guarded process exec'd in a network namespace the proxy is not in
			    * (stopped: ppid holds the namespace's inode number) */
};
enum {
	DG_R_RULE = 1,	    /* an address rule of the policy */
	DG_R_LEARNED = 2,   /* an address a blocked name resolved to */
	DG_R_UNKNOWN = 3,   /* not allowed: neither a rule nor learned from an allowed answer */
	DG_R_DOT = 4,	    /* DNS over TLS, port 853 */
	DG_R_BYPASS = 5,    /* port 53 without the proxy */
	DG_R_RAW = 6,	    /* a raw IP socket */
	DG_R_NAME_PORT = 7, /* a name's port rule (rule: policy_src_of_port's index) */
	DG_R_NCODES
};
/* What a refused connect() or send gets (-D DG_CONNECT_ACTION, --connect-action). */
enum {
	DG_CA_EPERM = 0,   /* fails at once with EPERM */
	DG_CA_REFUSED = 1, /* fails at once with ECONNREFUSED, as a host with the port closed */
	DG_CA_DROP = 2,	   /* goes through, and the egress program drops its packets: a hang */
};
struct dg_event {
	__u32 type;
	__u32 reason;
	__u32 pid;
	__u32 rule;
	__u32 name;
	__u32 family;
	__u32 port;
	__u32 proto;
	__u32 addr[4];
	char comm[16];
	__u32 ppid;   /* DG_EV_EXEC: the parent's tgid (escape guard only, else 0) */
	__u32 status; /* DG_EV_EXIT: the wait(2) status, task_struct.exit_code */
};

/* A guarded process left the guarded cgroup (DG_T_LEAVE: moved pid moved to cgroup, whose path
 * is path; pid, the mover, was killed if it is guarded), or one could not be followed (DG_T_FULL:
 * dg_members is full; pid, which forked it, was killed), or it was moved to a cgroup made during
 * the run (DG_T_ADOPT: pid, the mover, was stopped if it is guarded; deployguard adopts the
 * cgroup or treats the move as DG_T_LEAVE, then lets the mover go on or kills it). */
enum { DG_T_LEAVE = 1, DG_T_FULL = 2, DG_T_ADOPT = 3 };
struct dg_tamper {
	__u32 type; /* DG_EV_TAMPER, where struct dg_event has its type */
	__u32 what;
	__u32 pid;
	__u32 moved;
	__u64 moved_start; /* ns since boot, the moved process's start */
	__u64 cgroup;
	char comm[16];
	char path[96];
	char cmd[128]; /* pid's arguments, NUL-separated (read in the hook: it may be killed) */
	__u32 cmd_len; /* of them, in cmd */
	__u32 pad;
};

/* A process of the cgroup connected a unix socket (the one with this cookie): deployguard
 * looks for its listener. */
struct dg_unix {
	__u32 type; /* DG_EV_UNIX */
	__u32 pid;
	__u64 cookie;
	char comm[16];
	char path[108];
	__u32 pad;
};

/* The sizes both sides must agree on. */
_Static_assert(sizeof(struct dg_orig) == 48, "struct dg_orig");
_Static_assert(sizeof(struct dg_sender) == 28, "struct dg_sender");
_Static_assert(sizeof(struct dg_conf) == 24, "struct dg_conf");
_Static_assert(sizeof(struct dg_member) == 16, "struct dg_member");
_Static_assert(sizeof(struct dg_lpm4) == 8 && sizeof(struct dg_lpm6) == 20, "LPM keys");
_Static_assert(sizeof(struct dg_plpm4) == 12 && sizeof(struct dg_plpm6) == 24, "port LPM keys");
_Static_assert(sizeof(struct dg_port) == 16, "struct dg_port");
_Static_assert(sizeof(struct dg_learn) == 16, "struct dg_learn");
_Static_assert(sizeof(struct dg_event) == 72, "struct dg_event");
_Static_assert(sizeof(struct dg_tamper) == 280, "struct dg_tamper");
_Static_assert(sizeof(struct dg_unix) == 144, "struct dg_unix");

#ifndef DG_BPF
#include <linux/bpf.h>
#include <stdbool.h>

/* BPF_CGROUP_UNIX_CONNECT (6.7), newer than the uapi headers deployguard is built with. */
#define DG_UNIX_CONNECT ((enum bpf_attach_type)49)

#define DG_MAX_HELPERS 10

/* Each program: its type, where it attaches (a cgroup hook, or the raw tracepoint tp), the
 * --check row that probes its hook, and every helper its code calls; optional is one more that
 * only a feature the kernel may lack calls (see the -D constants). Minimum kernels are in
 * bpf_prog.bpf.c, beside each program. */
static const struct dg_prog {
	const char *name;
	enum bpf_prog_type type;
	enum bpf_attach_type attach;
	const char *tp;
	const char *row;
	int helpers[DG_MAX_HELPERS];
	int optional;
	bool may_lack; /* a hook the kernel may lack: skipped then, a fallback probe.c names */
} dg_progs[] = {
/* clang-format off */
#define DG_CALLS_ADDR {BPF_FUNC_map_lookup_elem, BPF_FUNC_map_update_elem, \
	BPF_FUNC_get_current_pid_tgid, BPF_FUNC_get_current_comm, BPF_FUNC_sk_storage_get, \
	BPF_FUNC_ktime_get_ns, BPF_FUNC_ringbuf_output}
#define DG_CALLS_SOCK {BPF_FUNC_get_current_pid_tgid, BPF_FUNC_get_current_comm, \
	BPF_FUNC_ringbuf_output}
#define DG_CALLS_EGRESS {BPF_FUNC_map_lookup_elem, BPF_FUNC_skb_load_bytes, \
	BPF_FUNC_sk_fullsock, BPF_FUNC_sk_storage_get, BPF_FUNC_ktime_get_ns, \
	BPF_FUNC_ringbuf_output}
#define DG_CALLS_EXEC {BPF_FUNC_map_lookup_elem, BPF_FUNC_get_current_cgroup_id, BPF_FUNC_get_current_pid_tgid, \
	BPF_FUNC_send_signal, \
	BPF_FUNC_get_current_comm, BPF_FUNC_ringbuf_output, BPF_FUNC_get_current_task, \
	BPF_FUNC_probe_read_kernel}
#define DG_CALLS_GUARD {BPF_FUNC_map_lookup_elem, BPF_FUNC_map_update_elem, \
	BPF_FUNC_probe_read_kernel, BPF_FUNC_probe_read_user, BPF_FUNC_get_current_pid_tgid, \
	BPF_FUNC_get_current_task, BPF_FUNC_send_signal, BPF_FUNC_get_current_comm, \
	BPF_FUNC_ringbuf_output}
#define DG_ADDR BPF_PROG_TYPE_CGROUP_SOCK_ADDR
	{"dg_sock", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE, NULL,
	 "cgroup/sock_create", DG_CALLS_SOCK, BPF_FUNC_sk_storage_get, 0},
	{"dg_connect4", DG_ADDR, BPF_CGROUP_INET4_CONNECT, NULL, "cgroup/connect, sendmsg",
	 DG_CALLS_ADDR, BPF_FUNC_set_retval, 0},
	{"dg_connect6", DG_ADDR, BPF_CGROUP_INET6_CONNECT, NULL, "cgroup/connect, sendmsg",
	 DG_CALLS_ADDR, BPF_FUNC_set_retval, 0},
	{"dg_sendmsg4", DG_ADDR, BPF_CGROUP_UDP4_SENDMSG, NULL, "cgroup/connect, sendmsg",
	 DG_CALLS_ADDR, BPF_FUNC_set_retval, 0},
	{"dg_sendmsg6", DG_ADDR, BPF_CGROUP_UDP6_SENDMSG, NULL, "cgroup/connect, sendmsg",
	 DG_CALLS_ADDR, BPF_FUNC_set_retval, 0},
	{"dg_recvmsg4", DG_ADDR, BPF_CGROUP_UDP4_RECVMSG, NULL, "cgroup/recvmsg",
	 {BPF_FUNC_map_lookup_elem, BPF_FUNC_sk_storage_get}, 0, 0},
	{"dg_recvmsg6", DG_ADDR, BPF_CGROUP_UDP6_RECVMSG, NULL, "cgroup/recvmsg",
	 {BPF_FUNC_map_lookup_elem, BPF_FUNC_sk_storage_get}, 0, 0},
	{"dg_egress", BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_EGRESS, NULL, "cgroup_skb/egress",
	 DG_CALLS_EGRESS, 0, 0},
	{"dg_exec", BPF_PROG_TYPE_RAW_TRACEPOINT, 0, "sched_process_exec", "raw_tracepoint",
	 DG_CALLS_EXEC, 0, 0},
	{"dg_attach", BPF_PROG_TYPE_RAW_TRACEPOINT, 0, "cgroup_attach_task", "raw_tracepoint",
	 {BPF_FUNC_map_lookup_elem, BPF_FUNC_map_update_elem, BPF_FUNC_probe_read_kernel,
	  BPF_FUNC_probe_read_kernel_str, BPF_FUNC_probe_read_user, BPF_FUNC_get_current_pid_tgid,
	  BPF_FUNC_get_current_task, BPF_FUNC_send_signal, BPF_FUNC_get_current_comm,
	  BPF_FUNC_ringbuf_output}, 0, 0},
	{"dg_fork", BPF_PROG_TYPE_RAW_TRACEPOINT, 0, "sched_process_fork", "raw_tracepoint",
	 DG_CALLS_GUARD, 0, 0},
	{"dg_exit", BPF_PROG_TYPE_RAW_TRACEPOINT, 0, "sched_process_exit", "raw_tracepoint",
	 {BPF_FUNC_get_current_pid_tgid, BPF_FUNC_map_lookup_elem, BPF_FUNC_map_delete_elem,
	  BPF_FUNC_get_current_task, BPF_FUNC_probe_read_kernel, BPF_FUNC_ringbuf_output}, 0, 0},
	{"dg_unix", DG_ADDR, DG_UNIX_CONNECT, NULL, "cgroup/connect_unix",
	 {BPF_FUNC_get_current_pid_tgid, BPF_FUNC_get_socket_cookie, BPF_FUNC_get_current_comm,
	  BPF_FUNC_probe_read_kernel, BPF_FUNC_ringbuf_output}, 0, true},
#undef DG_ADDR
#undef DG_CALLS_GUARD
#undef DG_CALLS_ADDR
#undef DG_CALLS_SOCK
#undef DG_CALLS_EGRESS
#undef DG_CALLS_EXEC
};
/* clang-format on */

/* The maps deployguard itself reads and writes, in the order of enum dg_map. */
static const char *const dg_maps[] = {
    "dg_nets4",	 "dg_nets6", "dg_ports4",  "dg_ports6", "dg_events",  "dg_queries", "dg_learn4",
    "dg_learn6", "dg_socks", "dg_members", "dg_conf",	"dg_cgroups", "dg_netns"};
enum dg_map {
	M_NETS4,
	M_NETS6,
	M_PORTS4,
	M_PORTS6,
	M_EVENTS,
	M_QUERIES,
	M_LEARN4,
	M_LEARN6,
	M_SOCKS,
	M_MEMBERS,
	M_CONF,
	M_CGROUPS,
	M_NETNS,
	DG_NMAPS
};
_Static_assert(sizeof(dg_maps) / sizeof(dg_maps[0]) == DG_NMAPS, "one name per map");
#define DG_NPROGS (sizeof(dg_progs) / sizeof(dg_progs[0]))

/* This header and bpf_prog.bpf.c, as one string (build/bpf_text.c, made by the Makefile). */
extern const char dg_bpf_text[];
#endif

#endif
