/*
 * filter.c: the seccomp filter COMMAND runs under, for what no cgroup hook sees. COMMAND's
 * child installs it before exec; COMMAND and everything it starts inherit it and cannot remove
 * it. It hands two kinds of call to deployguard as user notifications (5.5+):
 *
 * - packet sockets (AF_PACKET), which write below IP where no cgroup hook looks: logged, then
 *   refused with EPERM, or let go on in audit mode;
 * - tampering with the guard: signals to deployguard or its watchdog (and kill(-1), and SIGKILL
 *   or SIGSTOP to deployguard's process group), ptrace and process_vm_* on them, pidfd_open of
 *   them, the bpf() commands that detach, replace or reach programs and maps by id, attaching
 *   BPF to a perf event, and loading modules or kernels: logged as WARN TAMPER and refused
 *   with EPERM, in audit mode too (audit mode watches the policy; it does not unlock the guard).
 *
 * An attach of a device program (runc and crun limit a container's devices with one on cgroup
 * v2) is the exception: deployguard makes it itself, with its own copies of the caller's
 * attributes and descriptors, so that what it judged is what is attached.
 *
 * clone3 and pidfd_send_signal fail with ENOSYS, their callers' cue to fall back to clone and
 * kill: a filter can read neither clone3's cgroup (CLONE_INTO_CGROUP) nor a pidfd's process.
 * Should deployguard die, notified calls fail with ENOSYS. 32-bit x86 programs get the same
 * rules under their own numbers; socketcall(2), whose arguments a filter cannot read, goes to
 * deployguard, which lets through all but SYS_SOCKET.
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
#include <unistd.h>

#include <linux/audit.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/perf_event.h>
#include <linux/seccomp.h>

#include "audit.h"
#include "log.h"
#include "proc.h"

#define DG_NOTIF_MAX 512
#define DG_ARG(n)                                                                                  \
	(offsetof(struct seccomp_data, args) + 8 * (n) +                                           \
	 (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) * 4)

/* What the filter does with a call: K_PACKET notifies socket(AF_PACKET); K_BPF the bpf()
 * commands in bpf_refused; K_KILL a signal to a guard pid, -1, or SIGKILL/SIGSTOP to the guard's
 * group; K_PID0/K_PID1 a call whose first/second argument is a guard pid; K_PERF the ioctl that
 * attaches BPF to a perf event; K_ALWAYS every call; K_NOSYS fails it with ENOSYS. */
enum kind { K_PACKET, K_SOCKETCALL, K_BPF, K_KILL, K_PID0, K_PID1, K_PERF, K_ALWAYS, K_NOSYS };

struct rule {
	const char *name;
	int nr;
	enum kind kind;
};

/* clang-format off */
static const struct rule native[] = {
	{"socket", __NR_socket, K_PACKET},
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
	{"socket", 359, K_PACKET},	      {"socketcall", 102, K_SOCKETCALL},
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

/* The bpf() commands that detach or replace a program, attach one elsewhere, or reach another
 * process's programs and maps by id (what bpftool's detach commands do). */
static const unsigned bpf_refused[] = {
    BPF_PROG_ATTACH,	     BPF_PROG_DETACH,	   BPF_PROG_GET_FD_BY_ID, BPF_MAP_GET_FD_BY_ID,
    BPF_RAW_TRACEPOINT_OPEN, BPF_BTF_GET_FD_BY_ID, BPF_LINK_CREATE,	  BPF_LINK_UPDATE,
    BPF_LINK_GET_FD_BY_ID,   BPF_LINK_DETACH,
};

/* The guard's processes, for the filter and for the notifications. */
static struct {
	pid_t self, watchdog, pgrp;
} guard;

/* A filter under construction: jumps name labels, resolved by asm_end. */
#define DG_MAX_INSNS  320
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
	case K_PACKET:
		op(a, BPF_LD | BPF_W | BPF_ABS, DG_ARG(0), -1, -1);
		if_eq(a, AF_PACKET, notify);
		break;
	case K_BPF:
		op(a, BPF_LD | BPF_W | BPF_ABS, DG_ARG(0), -1, -1);
		for (size_t i = 0; i < sizeof(bpf_refused) / sizeof(bpf_refused[0]); i++)
			if_eq(a, bpf_refused[i], notify);
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

/* The call as the log shows it: its name and the arguments the filter judged. */
static void describe(const struct seccomp_notif *n, const struct rule *r, char *buf, size_t len)
{
	static const char *const bpf_cmd[] = {
	    [BPF_PROG_ATTACH] = "BPF_PROG_ATTACH",
	    [BPF_PROG_DETACH] = "BPF_PROG_DETACH",
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

static void log_call(const struct seccomp_notif *n, const struct rule *r, bool audit,
		     const char *method)
{
	char cmd[DG_CMD_MAX], tried[160];
	bool packet = r->kind == K_PACKET || r->kind == K_SOCKETCALL;
	struct audit_event e = {.level = "WARN",
				.event = packet ? "SOCKET BLOCKED" : "TAMPER",
				.blocked = packet ? !audit : 1,
				.blocked_at = packet ? "socket" : NULL,
				.port = -1,
				.pid = n->pid,
				.cmd = cmd,
				.method = method};

	proc_cmdline((pid_t)n->pid, cmd, sizeof(cmd));
	if (packet) {
		e.reason = r->kind == K_SOCKETCALL ? "LegacySocketCall" : "PacketSocket";
	} else {
		e.reason = tamper_reason(r);
		e.tried = tried;
		describe(n, r, tried, sizeof(tried));
	}
	audit_hit(
	    &(struct audit_hit){.kind = packet ? "socket" : "tamper",
				.what = !packet			  ? e.reason
					: r->kind == K_SOCKETCALL ? "socketcall"
								  : "packet",
				.verdict = packet && audit ? AUDIT_WOULD_BLOCK : AUDIT_BLOCKED,
				.pid = e.pid,
				.cmd = cmd,
				.reason = e.reason});
	audit_log(&e);
}

/* Whether thread tid has CAP_SYS_ADMIN in its effective set (CapEff of /proc/TID/status); its
 * process in *tgid (pidfd_open takes a process, not a thread: a Go runtime's call comes from
 * any of its threads). */
static bool sys_admin(pid_t tid, pid_t *tgid)
{
	char path[64], line[128];
	unsigned long long caps = 0;
	int id = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	for (f = fopen(path, "re"); f && fgets(line, sizeof(line), f);) {
		sscanf(line, "CapEff: %llx", &caps);
		sscanf(line, "Tgid: %d", &id);
	}
	if (f)
		fclose(f);
	*tgid = id;
	return id > 0 && caps & (1ULL << 21);
}

/* bpf(BPF_PROG_ATTACH) of a device program: runc and crun limit a container's devices with one on
 * cgroup v2, and that attach cannot move packets. It is done here, with deployguard's copies of
 * the caller's attributes and descriptors, so that the caller cannot change what was judged
 * after it was (the filter itself sees only bpf()'s command). Returns false if the call is
 * another, else true with *resp the call's outcome. */
static bool attach_devices(int notify_fd, const struct seccomp_notif *n,
			   struct seccomp_notif_resp *resp)
{
	union bpf_attr a = {0}, b;
	size_t size = offsetof(union bpf_attr, replace_bpf_fd) + sizeof(a.replace_bpf_fd);
	struct iovec local = {&a, size}, remote = {(void *)(uintptr_t)n->data.args[1], size};
	int pidfd = -1, fd[3] = {-1, -1, -1};
	pid_t tgid;

	if (n->data.args[0] != BPF_PROG_ATTACH || n->data.args[2] < size ||
	    process_vm_readv((pid_t)n->pid, &local, 1, &remote, 1, 0) != (ssize_t)size ||
	    a.attach_type != BPF_CGROUP_DEVICE)
		return false;
	resp->error = -EPERM;
	if (!sys_admin((pid_t)n->pid, &tgid) || (pidfd = (int)syscall(SYS_pidfd_open, tgid, 0)) < 0)
		return true;
	fd[0] = (int)syscall(SYS_pidfd_getfd, pidfd, a.target_fd, 0);
	fd[1] = (int)syscall(SYS_pidfd_getfd, pidfd, a.attach_bpf_fd, 0);
	if (a.attach_flags & BPF_F_REPLACE)
		fd[2] = (int)syscall(SYS_pidfd_getfd, pidfd, a.replace_bpf_fd, 0);
	/* the descriptors are the caller's only if it is still the process that asked */
	if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &n->id)) {
		resp->error = -ENOENT;
	} else if (fd[0] < 0 || fd[1] < 0 || (a.attach_flags & BPF_F_REPLACE && fd[2] < 0)) {
		resp->error = -EBADF;
	} else {
		b = a;
		b.target_fd = (uint32_t)fd[0];
		b.attach_bpf_fd = (uint32_t)fd[1];
		b.replace_bpf_fd = fd[2] < 0 ? 0 : (uint32_t)fd[2];
		resp->error = syscall(SYS_bpf, BPF_PROG_ATTACH, &b, size) ? -errno : 0;
	}
	for (int i = 0; i < 3; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	close(pidfd);
	return true;
}

/* A call the filter handed over: log it and refuse it, or let it go on: socketcall(2) other than
 * SYS_SOCKET, kill(0, ...) from a process group that is no longer deployguard's, and in audit
 * mode a packet socket. A device program's attach is done here (attach_devices). */
void filter_on_notify(int notify_fd, bool audit, const char *method)
{
	union {
		struct seccomp_notif n;
		char pad[DG_NOTIF_MAX]; /* the kernel's may be larger than ours: see filter_check */
	} req = {0};
	union {
		struct seccomp_notif_resp r;
		char pad[DG_NOTIF_MAX];
	} resp = {0};
	const struct rule *r;
	bool go_on;

	if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, &req.n))
		return; /* the caller is gone (ENOENT), or a signal interrupted it */
	resp.r.id = req.n.id;
	r = rule_of(&req.n.data);
	if (r && r->kind == K_BPF && attach_devices(notify_fd, &req.n, &resp.r)) {
		if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &resp.r) && errno != ENOENT)
			log_warn("failed to answer a seccomp notification");
		return;
	}
	go_on = !r || (r->kind == K_SOCKETCALL && req.n.data.args[0] != 1 /* SYS_SOCKET */) ||
		(r->kind == K_KILL && (int)req.n.data.args[0] == 0 &&
		 (pid_t)proc_stat((pid_t)req.n.pid, 5) != guard.pgrp);
	if (!go_on) {
		log_call(&req.n, r, audit, method);
		go_on = audit && (r->kind == K_PACKET || r->kind == K_SOCKETCALL);
	}
	if (go_on)
		resp.r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	else
		resp.r.error = -EPERM;
	if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &resp.r) && errno != ENOENT)
		log_warn("failed to answer a seccomp notification");
}
