/* bpf_guard.bpf.c: the escape guard, and the process tracepoints it keeps its members with;
 * compiled after bpf_prog.h and bpf_prog.bpf.c, in one text (the Makefile's build/bpf_text.c). */
#include "bpf_prog.h"

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
