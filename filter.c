/*
 * filter.c: a seccomp filter for what no cgroup hook sees. Packet sockets (AF_PACKET) write
 * below IP, where no cgroup hook looks. COMMAND's child installs this filter before exec; it
 * hands each socket(AF_PACKET, ...) to deployguard as a user notification (5.5+); deployguard logs
 * it and fails it with EPERM, or lets it go on in audit mode. COMMAND and everything it starts
 * inherit the filter and cannot remove it; should deployguard die, the call fails with ENOSYS.
 * 32-bit programs get the same for socket(2), and their socketcall(SYS_SOCKET), whose arguments a
 * filter cannot read, is refused outright.
 */
#define _GNU_SOURCE
#include "filter.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "audit.h"
#include "log.h"

#if defined(__x86_64__)
#define DG_ARCH		     AUDIT_ARCH_X86_64
#define DG_NR_SOCKET_X32     (41 | 0x40000000) /* __X32_SYSCALL_BIT */
#define DG_COMPAT_ARCH	     AUDIT_ARCH_I386
#define DG_COMPAT_SOCKET     359
#define DG_COMPAT_SOCKETCALL 102
#elif defined(__aarch64__)
#define DG_ARCH		     AUDIT_ARCH_AARCH64
#define DG_NR_SOCKET_X32     __NR_socket
#define DG_COMPAT_ARCH	     AUDIT_ARCH_ARM
#define DG_COMPAT_SOCKET     281
#define DG_COMPAT_SOCKETCALL 102
#else
#error "deployguard: add this architecture's system call numbers to the seccomp filter"
#endif
#define DG_ARG0 (offsetof(struct seccomp_data, args) + (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) * 4)

#define DG_NOTIF_MAX 512

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

int filter_install(void)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DG_ARCH, 0, 4),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 6, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DG_NR_SOCKET_X32, 5, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DG_COMPAT_ARCH, 0, 7),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DG_COMPAT_SOCKET, 1, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DG_COMPAT_SOCKETCALL, 2, 3),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, DG_ARG0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_PACKET, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS), /* no other ABI exists */
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	/* SPEC_ALLOW: the filter refuses packet sockets, it does not fence off secrets. Without it
	 * a host whose SSB mitigation is "prctl and seccomp" (the kernel's default) runs the whole
	 * deploy with speculative store bypass disabled, and slower. */
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			    SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_SPEC_ALLOW,
			    &prog);
}

/* A call the filter handed over: log it, then refuse it (or, in audit mode, let it go on). */
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
	char cmd[DG_CMD_MAX];
	bool socketcall;
	struct audit_event e = {.level = "WARN",
				.event = "SOCKET BLOCKED",
				.blocked = !audit,
				.blocked_at = "socket",
				.port = -1,
				.method = method};

	if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, &req.n))
		return; /* the caller is gone (ENOENT), or a signal interrupted it */
	socketcall = req.n.data.arch == DG_COMPAT_ARCH && req.n.data.nr == DG_COMPAT_SOCKETCALL;
	resp.r.id = req.n.id;
	if (socketcall && req.n.data.args[0] != 1 /* SYS_SOCKET */) {
		resp.r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	} else {
		audit_cmdline((pid_t)req.n.pid, cmd, sizeof(cmd));
		e.reason = socketcall ? "LegacySocketCall" : "PacketSocket";
		e.pid = req.n.pid;
		e.cmd = cmd;
		audit_log(&e);
		audit_count("socket", socketcall ? "socketcall" : "packet",
			    audit ? AUDIT_WOULD_BLOCK : AUDIT_BLOCKED, cmd);
		if (audit)
			resp.r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		else
			resp.r.error = -EPERM;
	}
	if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &resp.r) && errno != ENOENT)
		log_warn("failed to answer a seccomp notification");
}
