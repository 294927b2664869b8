/*
 * filter.c: the seccomp filter COMMAND runs under, for what no cgroup hook sees. COMMAND's
 * child installs it before exec; COMMAND and everything it starts inherit it and cannot remove
 * it. It hands these calls to deployguard as user notifications (5.5+), which logs them as
 * WARN TAMPER and refuses them, in audit mode too (audit mode watches the policy; it does not
 * unlock the guard):
 *
 * - side doors below IP: a socket() or socketpair() of a family other than unix, inet, inet6
 *   and netlink (packet, XDP and vsock sockets write where no cgroup hook looks), with EPERM;
 *   io_uring_setup, with ENOSYS, its callers' cue to fall back to system calls (a ring's
 *   operations, such as IORING_OP_SOCKET, pass no filter); program loads of the types that
 *   move packets (bpfcall.c);
 * - tampering with the guard: signals to deployguard or its watchdog (and kill(-1), and SIGKILL
 *   or SIGSTOP to deployguard's process group), ptrace and process_vm_* on them, pidfd_open of
 *   them, the bpf() commands that detach, replace or reach programs and maps by id or path,
 *   attaching BPF to a perf event, and loading modules or kernels, with EPERM.
 *
 * A program load of any other type, and the attach of a device program (runc and crun limit a
 * container's devices with one on cgroup v2), deployguard makes itself from its own copies of
 * the caller's attributes (bpfcall.c).
 *
 * clone3 and pidfd_send_signal fail with ENOSYS, their callers' cue to fall back to clone and
 * kill: a filter can read neither clone3's cgroup (CLONE_INTO_CGROUP) nor a pidfd's process; so
 * do io_uring_enter and io_uring_register, for a ring made elsewhere. Should deployguard die,
 * notified calls fail with ENOSYS. 32-bit x86 programs get the same rules under their own
 * numbers; socketcall(2), whose arguments a filter cannot read, goes to deployguard, which
 * refuses SYS_SOCKET and SYS_SOCKETPAIR and lets the rest go on.
 */
#define _GNU_SOURCE
#include "filter.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/net.h>
#include <linux/perf_event.h>
#include <linux/seccomp.h>

#include "audit.h"
#include "bpfcall.h"
#include "log.h"
#include "proc.h"

#define DG_NOTIF_MAX 512
#define DG_ARG(n)                                                                                  \
	(offsetof(struct seccomp_data, args) + 8 * (n) +                                           \
	 (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) * 4)

/* What the filter does with a call: K_FAMILY notifies a socket family not in families; K_BPF the
 * bpf() commands in bpf_notified; K_KILL a signal to a guard pid, -1, or SIGKILL/SIGSTOP to the
 * guard's group; K_PID0/K_PID1 a call whose first/second argument is a guard pid; K_PERF the
 * ioctl that attaches BPF to a perf event; K_ALWAYS, K_SOCKETCALL and K_URING every call; K_NOSYS
 * fails it with ENOSYS. */
enum kind {
	K_FAMILY,
	K_SOCKETCALL,
	K_URING,
	K_BPF,
	K_KILL,
	K_PID0,
	K_PID1,
	K_PERF,
	K_ALWAYS,
	K_NOSYS
};

/* The socket families COMMAND may create: every packet of theirs passes the cgroup hooks, or
 * none leaves the host. */
static const unsigned families[] = {
    AF_UNIX,	/* local only */
    AF_INET,	/* the cgroup hooks judge every connect, send and packet */
    AF_INET6,	/* likewise */
    AF_NETLINK, /* talks to the kernel; what it can attach that moves packets is refused */
};

struct rule {
	const char *name;
	int nr;
	enum kind kind;
};

/* clang-format off */
static const struct rule native[] = {
	{"socket", __NR_socket, K_FAMILY},
	{"socketpair", __NR_socketpair, K_FAMILY},
	{"io_uring_setup", __NR_io_uring_setup, K_URING},
	{"io_uring_enter", __NR_io_uring_enter, K_NOSYS},
	{"io_uring_register", __NR_io_uring_register, K_NOSYS},
	{"bpf", __NR_bpf, K_BPF},
	{"kill", __NR_kill, K_KILL},
	{"tkill", __NR_tkill, K_PID0},
	{"tgkill", __NR_tgkill, K_PID0},
	{"rt_sigqueueinfo", __NR_rt_sigqueueinfo, K_PID0},
	{"rt_tgsigqueueinfo", __NR_rt_tgsigqueueinfo, K_PID0},
	{"pidfd_open", __NR_pidfd_open, K_PID0},
	{"process_vm_readv", __NR_process_vm_readv, K_PID0},
	{"process_vm_writev", __NR_process_vm_writev, K_PID0},
	{"ptrace", __NR_ptrace, K_PID1},
	{"ioctl", __NR_ioctl, K_PERF},
	{"init_module", __NR_init_module, K_ALWAYS},
	{"finit_module", __NR_finit_module, K_ALWAYS},
	{"delete_module", __NR_delete_module, K_ALWAYS},
	{"kexec_load", __NR_kexec_load, K_ALWAYS},
#ifdef __NR_kexec_file_load
	{"kexec_file_load", __NR_kexec_file_load, K_ALWAYS},
#endif
	{"clone3", __NR_clone3, K_NOSYS},
	{"pidfd_send_signal", __NR_pidfd_send_signal, K_NOSYS},
#if defined(__x86_64__) /* x32's own numbers (its bit is masked off first) */
	{"ioctl", 514, K_PERF},
	{"ptrace", 521, K_PID1},
	{"rt_sigqueueinfo", 524, K_PID0},
	{"kexec_load", 528, K_ALWAYS},
	{"rt_tgsigqueueinfo", 536, K_PID0},
	{"process_vm_readv", 539, K_PID0},
	{"process_vm_writev", 540, K_PID0},
#endif
};

#if defined(__x86_64__)
#define DG_ARCH	       AUDIT_ARCH_X86_64
#define DG_COMPAT_ARCH AUDIT_ARCH_I386
#define DG_X32_BIT     0x40000000
/* i386 numbers, from asm/unistd_32.h */
static const struct rule compat[] = {
	{"socket", 359, K_FAMILY},	      {"socketpair", 360, K_FAMILY},
	{"socketcall", 102, K_SOCKETCALL},    {"io_uring_setup", 425, K_URING},
	{"io_uring_enter", 426, K_NOSYS},     {"io_uring_register", 427, K_NOSYS},
	{"bpf", 357, K_BPF},		      {"kill", 37, K_KILL},
	{"tkill", 238, K_PID0},		      {"tgkill", 270, K_PID0},
	{"rt_sigqueueinfo", 178, K_PID0},     {"rt_tgsigqueueinfo", 335, K_PID0},
	{"pidfd_open", 434, K_PID0},	      {"process_vm_readv", 347, K_PID0},
	{"process_vm_writev", 348, K_PID0},   {"ptrace", 26, K_PID1},
	{"ioctl", 54, K_PERF},		      {"init_module", 128, K_ALWAYS},
	{"finit_module", 350, K_ALWAYS},      {"delete_module", 129, K_ALWAYS},
	{"kexec_load", 283, K_ALWAYS},	      {"clone3", 435, K_NOSYS},
	{"pidfd_send_signal", 424, K_NOSYS},
};
#elif defined(__aarch64__)
#define DG_ARCH	       AUDIT_ARCH_AARCH64
#define DG_COMPAT_ARCH AUDIT_ARCH_ARM
#define DG_X32_BIT     0
static const struct rule compat[] = {}; /* 32-bit ARM programs are refused outright */
#else
#error "deployguard: add this architecture's system call numbers to the seccomp filter"
#endif
/* clang-format on */

/* The bpf() commands deployguard sees: those that detach or replace a program, attach one
 * elsewhere, or reach another process's programs and maps by id or by a pinned path (what
 * bpftool's detach commands do), refused; and program loads, judged (bpfcall.c). */
static const unsigned bpf_notified[] = {
    BPF_PROG_ATTACH,	     BPF_PROG_DETACH,	   BPF_PROG_GET_FD_BY_ID, BPF_MAP_GET_FD_BY_ID,
    BPF_RAW_TRACEPOINT_OPEN, BPF_BTF_GET_FD_BY_ID, BPF_LINK_CREATE,	  BPF_LINK_UPDATE,
    BPF_LINK_GET_FD_BY_ID,   BPF_LINK_DETACH,	   BPF_OBJ_GET,		  BPF_PROG_LOAD,
};

/* Refused calls logged: at most LOG_PER_S a second (a loop of refused calls is a flood). */
static struct log_quota logged = {.what = "refused calls (WARN TAMPER)"};

/* The guard's processes, for the filter and for the notifications. */
static struct {
	pid_t self, watchdog, pgrp;
} guard;

/* A filter under construction: jumps name labels, resolved by asm_end. */
#define DG_MAX_INSNS  400
#define DG_MAX_LABELS 128
struct asm_prog {
	struct sock_filter f[DG_MAX_INSNS];
	int jt[DG_MAX_INSNS], jf[DG_MAX_INSNS]; /* label, or -1: the next instruction */
	int at[DG_MAX_LABELS];
	int n, nlabels;
	bool full; /* more instructions or labels than fit: resolve() fails */
};

static int label(struct asm_prog *a)
{
	if (a->nlabels == DG_MAX_LABELS) {
		a->full = true;
		return 0;
	}
	a->at[a->nlabels] = -1;
	return a->nlabels++;
}

static void here(struct asm_prog *a, int l)
{
	a->at[l] = a->n;
}

static void op(struct asm_prog *a, unsigned short code, unsigned k, int jt, int jf)
{
	if (a->n == DG_MAX_INSNS) {
		a->full = true;
		return;
	}
	a->f[a->n] = (struct sock_filter)BPF_STMT(code, k);
	a->jt[a->n] = jt;
	a->jf[a->n] = jf;
	a->n++;
}

static void ret(struct asm_prog *a, unsigned action)
{
	op(a, BPF_RET | BPF_K, action, -1, -1);
}

/* Jump to l if the accumulator is k. */
static void if_eq(struct asm_prog *a, unsigned k, int l)
{
	op(a, BPF_JMP | BPF_JEQ | BPF_K, k, l, -1);
}

/* Jumps are forward and fit 8 bits: 0 if every one does. */
static int resolve(struct asm_prog *a)
{
	if (a->full)
		return -E2BIG;
	for (int i = 0; i < a->n; i++) {
		int t, f;

		t = a->jt[i] < 0 ? i + 1 : a->at[a->jt[i]];
		f = a->jf[i] < 0 ? i + 1 : a->at[a->jf[i]];
		if (BPF_CLASS(a->f[i].code) != BPF_JMP)
			continue;
		if (t <= i || f <= i || t - i - 1 > 255 || f - i - 1 > 255)
			return -EINVAL;
		a->f[i].jt = (unsigned char)(t - i - 1);
		a->f[i].jf = (unsigned char)(f - i - 1);
	}
	return 0;
}

/* One rule's test, after its system call number matched; notify jumps to a RET NOTIFY. */
static void rule_body(struct asm_prog *a, const struct rule *r, int notify)
{
	unsigned pids[] = {(unsigned)guard.self, (unsigned)guard.watchdog};
	int group;

	switch (r->kind) {
	case K_FAMILY: {
		int allow = label(a);

		op(a, BPF_LD | BPF_W | BPF_ABS, DG_ARG(0), -1, -1); /* the kernel reads an int */
		for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
			if_eq(a, families[i], allow);
		ret(a, SECCOMP_RET_USER_NOTIF);
		here(a, allow);
		break;
	}
	case K_BPF:
		op(a, BPF_LD | BPF_W | BPF_ABS, DG_ARG(0), -1, -1);
		for (size_t i = 0; i < sizeof(bpf_notified) / sizeof(bpf_notified[0]); i++)
			if_eq(a, bpf_notified[i], notify);
		break;
	case K_PERF:
		op(a, BPF_LD | BPF_W | BPF_ABS, DG_ARG(1), -1, -1); /* the kernel reads 32 bits */
		if_eq(a, PERF_EVENT_IOC_SET_BPF, notify);
		break;
	case K_KILL:
	case K_PID0:
	case K_PID1:
		op(a, BPF_LD | BPF_W | BPF_ABS, DG_ARG(r->kind == K_PID1), -1, -1);
		for (size_t i = 0; i < 2; i++)
			if_eq(a, pids[i], notify);
		if (r->kind != K_KILL)
			break;
		group = label(a);
		if_eq(a, (unsigned)-1, notify);
		if_eq(a, 0, group);
		if_eq(a, (unsigned)-guard.pgrp, group);
		ret(a, SECCOMP_RET_ALLOW);
		here(a, group);
		op(a, BPF_LD | BPF_W | BPF_ABS, DG_ARG(1), -1, -1);
		if_eq(a, SIGKILL, notify);
		if_eq(a, SIGSTOP, notify);
		break;
	case K_SOCKETCALL:
	case K_URING:
	case K_ALWAYS:
		ret(a, SECCOMP_RET_USER_NOTIF);
		return;
	case K_NOSYS:
		ret(a, SECCOMP_RET_ERRNO | ENOSYS);
		return;
	}
	ret(a, SECCOMP_RET_ALLOW);
}

/* The rules of one ABI: the number loaded, a jump per rule, then each rule's test. */
static void abi(struct asm_prog *a, const struct rule *rules, size_t n, bool x32)
{
	int body[sizeof(native) / sizeof(native[0])], notify = label(a);

	op(a, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), -1, -1);
	if (x32 && DG_X32_BIT)
		op(a, BPF_ALU | BPF_AND | BPF_K, ~(unsigned)DG_X32_BIT, -1, -1);
	for (size_t i = 0; i < n; i++)
		if_eq(a, (unsigned)rules[i].nr, body[i] = label(a));
	ret(a, SECCOMP_RET_ALLOW);
	for (size_t i = 0; i < n; i++) {
		here(a, body[i]);
		rule_body(a, &rules[i], notify);
	}
	here(a, notify);
	ret(a, SECCOMP_RET_USER_NOTIF);
}

/* User notification exists (5.0+; continuing a call 5.5+) and its structs fit our buffers. */
int filter_check(void)
{
	struct seccomp_notif_sizes sz;

	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz)) {
		log_warn("failed to query seccomp user notification (needs Linux 5.5)");
		return -errno;
	}
	if (sz.seccomp_notif > DG_NOTIF_MAX || sz.seccomp_notif_resp > DG_NOTIF_MAX) {
		log_warnx("seccomp notification structs of %u bytes: rebuild deployguard",
			  sz.seccomp_notif);
		return -EINVAL;
	}
	return 0;
}

void filter_guard(pid_t self, pid_t watchdog)
{
	guard.self = self;
	guard.watchdog = watchdog > 0 ? watchdog : self;
	guard.pgrp = getpgrp();
}

/* In the child: only async-signal-safe work (the program is built on the stack). */
int filter_install(void)
{
	static struct asm_prog a; /* the child's own copy: it runs after fork */
	struct sock_fprog prog;
	int compat_abi;

	a.n = 0;
	a.nlabels = 0;
	a.full = false;
	compat_abi = label(&a);
	op(&a, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), -1, -1);
	op(&a, BPF_JMP | BPF_JEQ | BPF_K, DG_ARCH, -1, compat_abi);
	abi(&a, native, sizeof(native) / sizeof(native[0]), true);
	here(&a, compat_abi);
	if (sizeof(compat)) {
		int other = label(&a);

		op(&a, BPF_JMP | BPF_JEQ | BPF_K, DG_COMPAT_ARCH, -1, other);
		abi(&a, compat, sizeof(compat) / sizeof(compat[0]), false);
		here(&a, other);
	}
	ret(&a, SECCOMP_RET_KILL_PROCESS); /* no other ABI exists */
	if (resolve(&a))
		return -EINVAL;
	prog = (struct sock_fprog){.len = (unsigned short)a.n, .filter = a.f};
	/* SPEC_ALLOW: the filter refuses calls, it does not fence off secrets. Without it a host
	 * whose SSB mitigation is "prctl and seccomp" (the kernel's default) runs the whole deploy
	 * with speculative store bypass disabled, and slower. */
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			    SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_SPEC_ALLOW,
			    &prog);
}

static const struct rule *rule_of(const struct seccomp_data *d)
{
	bool native_abi = d->arch == DG_ARCH;
	const struct rule *rules = native_abi ? native : compat;
	size_t n =
	    native_abi ? sizeof(native) / sizeof(native[0]) : sizeof(compat) / sizeof(compat[0]);
	int nr = native_abi ? (int)((unsigned)d->nr & ~(unsigned)DG_X32_BIT) : d->nr;

	for (size_t i = 0; i < n; i++)
		if (rules[i].nr == nr)
			return &rules[i];
	return NULL;
}

/* What a tampering call tried, for the log line. */
static const char *tamper_reason(const struct rule *r)
{
	switch (r->kind) {
	case K_FAMILY:
		return "SocketFamily";
	case K_SOCKETCALL:
		return "LegacySocketCall";
	case K_URING:
		return "IoUring";
	case K_BPF:
	case K_PERF:
		return "DisarmBPF";
	case K_KILL:
	case K_PID0:
		return strstr(r->name, "process_vm") || !strcmp(r->name, "pidfd_open")
			   ? "ReachGuard"
			   : "SignalGuard";
	case K_PID1:
		return "ReachGuard";
	default:
		return "KernelWide";
	}
}

/* A socket family's name, as <sys/socket.h> spells it. */
static const char *family_name(unsigned f)
{
	static const char *const name[] = {
	    "AF_UNSPEC",    "AF_UNIX",	     "AF_INET",	   "AF_AX25",	 "AF_IPX",
	    "AF_APPLETALK", "AF_NETROM",     "AF_BRIDGE",  "AF_ATMPVC",	 "AF_X25",
	    "AF_INET6",	    "AF_ROSE",	     "AF_DECnet",  "AF_NETBEUI", "AF_SECURITY",
	    "AF_KEY",	    "AF_NETLINK",    "AF_PACKET",  "AF_ASH",	 "AF_ECONET",
	    "AF_ATMSVC",    "AF_RDS",	     "AF_SNA",	   "AF_IRDA",	 "AF_PPPOX",
	    "AF_WANPIPE",   "AF_LLC",	     "AF_IB",	   "AF_MPLS",	 "AF_CAN",
	    "AF_TIPC",	    "AF_BLUETOOTH",  "AF_IUCV",	   "AF_RXRPC",	 "AF_ISDN",
	    "AF_PHONET",    "AF_IEEE802154", "AF_CAIF",	   "AF_ALG",	 "AF_NFC",
	    "AF_VSOCK",	    "AF_KCM",	     "AF_QIPCRTR", "AF_SMC",	 "AF_XDP",
	    "AF_MCTP",
	};

	return f < sizeof(name) / sizeof(name[0]) ? name[f] : "?";
}

/* A socket type's name, without its flags. */
static const char *type_name(unsigned t)
{
	static const char *const name[] = {
	    [SOCK_STREAM] = "SOCK_STREAM",
	    [SOCK_DGRAM] = "SOCK_DGRAM",
	    [SOCK_RAW] = "SOCK_RAW",
	    [SOCK_RDM] = "SOCK_RDM",
	    [SOCK_SEQPACKET] = "SOCK_SEQPACKET",
	    [SOCK_DCCP] = "SOCK_DCCP",
	    [SOCK_PACKET] = "SOCK_PACKET",
	};

	return t < sizeof(name) / sizeof(name[0]) && name[t] ? name[t] : "?";
}

/* The call as the log shows it: its name and the arguments the filter judged. */
static void describe(const struct seccomp_notif *n, const struct rule *r, char *buf, size_t len)
{
	static const char *const bpf_cmd[] = {
	    [BPF_PROG_ATTACH] = "BPF_PROG_ATTACH",
	    [BPF_PROG_DETACH] = "BPF_PROG_DETACH",
	    [BPF_OBJ_GET] = "BPF_OBJ_GET",
	    [BPF_PROG_GET_FD_BY_ID] = "BPF_PROG_GET_FD_BY_ID",
	    [BPF_MAP_GET_FD_BY_ID] = "BPF_MAP_GET_FD_BY_ID",
	    [BPF_RAW_TRACEPOINT_OPEN] = "BPF_RAW_TRACEPOINT_OPEN",
	    [BPF_BTF_GET_FD_BY_ID] = "BPF_BTF_GET_FD_BY_ID",
	    [BPF_LINK_CREATE] = "BPF_LINK_CREATE",
	    [BPF_LINK_UPDATE] = "BPF_LINK_UPDATE",
	    [BPF_LINK_GET_FD_BY_ID] = "BPF_LINK_GET_FD_BY_ID",
	    [BPF_LINK_DETACH] = "BPF_LINK_DETACH",
	};
	int a0 = (int)n->data.args[0], a1 = (int)n->data.args[1];

	switch (r->kind) {
	case K_FAMILY:
		snprintf(buf, len, "%s(%s, %s, %d)", r->name, family_name((unsigned)a0),
			 type_name((unsigned)a1 & 0xf), (int)n->data.args[2]);
		break;
	case K_SOCKETCALL:
		snprintf(buf, len, "socketcall(%s), whose family a filter cannot read",
			 a0 == SYS_SOCKETPAIR ? "SYS_SOCKETPAIR" : "SYS_SOCKET");
		break;
	case K_BPF:
		snprintf(buf, len, "bpf(%s)",
			 (unsigned)a0 < sizeof(bpf_cmd) / sizeof(bpf_cmd[0]) && bpf_cmd[a0]
			     ? bpf_cmd[a0]
			     : "?");
		break;
	case K_PERF:
		snprintf(buf, len, "ioctl(%d, PERF_EVENT_IOC_SET_BPF)", a0);
		break;
	case K_KILL:
		snprintf(buf, len, "kill(%d, %s)", a0, sigabbrev_np(a1) ? sigabbrev_np(a1) : "?");
		break;
	case K_PID0:
		snprintf(buf, len, "%s(%d)", r->name, a0);
		break;
	case K_PID1:
		snprintf(buf, len, "ptrace(%d, %d)", a0, a1);
		break;
	default:
		snprintf(buf, len, "%s", r->name);
	}
}

/* WARN TAMPER: what pid tried, and why it is refused. */
static void log_call(const struct seccomp_notif *n, const char *reason, const char *tried,
		     const char *method)
{
	char cmd[DG_CMD_MAX];
	struct timespec now;
	struct audit_event e = {.level = "WARN",
				.event = "TAMPER",
				.reason = reason,
				.blocked = 1,
				.port = -1,
				.pid = n->pid,
				.cmd = cmd,
				.method = method,
				.tried = tried};

	proc_cmdline((pid_t)n->pid, cmd, sizeof(cmd));
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (log_quota(&logged, (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000))
		audit_log(&e);
	audit_hit(&(struct audit_hit){.kind = "tamper",
				      .what = reason,
				      .verdict = AUDIT_BLOCKED,
				      .pid = e.pid,
				      .cmd = cmd,
				      .reason = reason});
}

void filter_flush(void)
{
	log_quota_flush(&logged);
}

/* Whether a notified call goes on: socketcall(2) other than those that make sockets, and
 * kill(0, ...) from a process group that is no longer deployguard's. */
static bool goes_on(const struct seccomp_notif *n, const struct rule *r)
{
	if (!r)
		return true;
	if (r->kind == K_SOCKETCALL)
		return n->data.args[0] != SYS_SOCKET && n->data.args[0] != SYS_SOCKETPAIR;
	return r->kind == K_KILL && (int)n->data.args[0] == 0 &&
	       (pid_t)proc_stat((pid_t)n->pid, 5) != guard.pgrp;
}

/* A call the filter handed over: log it and refuse it, or let it go on (goes_on). Program
 * loads and device attaches are judged and made in bpfcall.c. */
void filter_on_notify(int notify_fd, const char *method)
{
	union {
		struct seccomp_notif n;
		char pad[DG_NOTIF_MAX]; /* the kernel's may be larger than ours: see filter_check */
	} req = {0};
	union {
		struct seccomp_notif_resp r;
		char pad[DG_NOTIF_MAX];
	} resp = {0};
	const char *reason = NULL;
	char tried[160];
	const struct rule *r;

	if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, &req.n))
		return; /* the caller is gone (ENOENT), or a signal interrupted it */
	resp.r.id = req.n.id;
	r = rule_of(&req.n.data);
	if (r && r->kind == K_BPF) {
		switch (bpfcall_on_notify(notify_fd, &req.n, &reason, tried, sizeof(tried))) {
		case BPFCALL_DONE:
		case BPFCALL_ANSWERED:
			return;
		case BPFCALL_REFUSED:
			break;
		case BPFCALL_OTHER:
			reason = NULL;
		}
	}
	if (goes_on(&req.n, r)) {
		resp.r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	} else {
		if (!reason)
			describe(&req.n, r, tried, sizeof(tried));
		log_call(&req.n, reason ? reason : tamper_reason(r), tried, method);
		resp.r.error = r->kind == K_URING ? -ENOSYS : -EPERM;
	}
	if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &resp.r) && errno != ENOENT)
		log_warn("failed to answer a seccomp notification");
}
