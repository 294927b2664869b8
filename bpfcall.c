/*
 * bpfcall.c: the bpf(2) calls of COMMAND that deployguard judges and makes itself.
 *
 * The seccomp filter sees bpf()'s command, never the attributes behind its pointer: a check of
 * the caller's memory followed by letting the call go on could be undone by another thread
 * between the two. So what is judged is deployguard's own copy, and the call is made from that
 * copy, with the caller's descriptors fetched through a pidfd (pidfd_getfd, 5.6+); a loaded
 * program goes back to the caller as a new descriptor (SECCOMP_IOCTL_NOTIF_ADDFD, 5.9+).
 *
 * - BPF_PROG_LOAD: a program that can send or redirect packets where no cgroup hook looks is
 *   refused: XDP (it transmits, and BPF_PROG_TEST_RUN runs it on live frames), tc's sched_cls
 *   and sched_act (they rewrite and redirect packets after the cgroup's egress hook), lwt_*
 *   (route encapsulation), sk_skb and sk_msg (socket redirection), syscall (it issues bpf()
 *   itself, past the filter), and every type newer than deployguard. A caller without
 *   CAP_BPF or CAP_SYS_ADMIN goes on: the kernel lets it load none of those.
 * - BPF_PROG_ATTACH of a device program (runc and crun limit a container's devices with one
 *   on cgroup v2): it cannot move packets.
 *
 * Loads that need what is not copied here (fd_array, CO-RE relocations, device offload, a BPF
 * token), and capable callers in another user namespace, are refused and logged.
 */
#define _GNU_SOURCE
#include "bpfcall.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/bpf.h>

#include "log.h"

#ifndef BPF_F_TOKEN_FD
#define BPF_F_TOKEN_FD (1U << 16) /* 6.9: the load uses a BPF token's delegated rights */
#endif

#define DG_INSNS_MAX (1U << 20)	 /* the verifier's own limit on a program's length */
#define DG_LOG_MAX   (16U << 20) /* a larger verifier log is cut here (ENOSPC) */
#define DG_INFO_MAX  (16U << 20) /* BTF func_info and line_info, each */
#define DG_FDS_MAX   256	 /* distinct descriptors one load names (the kernel: 64 maps) */

static const char *const type_name[] = {
    [BPF_PROG_TYPE_UNSPEC] = "unspec",
    [BPF_PROG_TYPE_SOCKET_FILTER] = "socket_filter",
    [BPF_PROG_TYPE_KPROBE] = "kprobe",
    [BPF_PROG_TYPE_SCHED_CLS] = "sched_cls",
    [BPF_PROG_TYPE_SCHED_ACT] = "sched_act",
    [BPF_PROG_TYPE_TRACEPOINT] = "tracepoint",
    [BPF_PROG_TYPE_XDP] = "xdp",
    [BPF_PROG_TYPE_PERF_EVENT] = "perf_event",
    [BPF_PROG_TYPE_CGROUP_SKB] = "cgroup_skb",
    [BPF_PROG_TYPE_CGROUP_SOCK] = "cgroup_sock",
    [BPF_PROG_TYPE_LWT_IN] = "lwt_in",
    [BPF_PROG_TYPE_LWT_OUT] = "lwt_out",
    [BPF_PROG_TYPE_LWT_XMIT] = "lwt_xmit",
    [BPF_PROG_TYPE_SOCK_OPS] = "sock_ops",
    [BPF_PROG_TYPE_SK_SKB] = "sk_skb",
    [BPF_PROG_TYPE_CGROUP_DEVICE] = "cgroup_device",
    [BPF_PROG_TYPE_SK_MSG] = "sk_msg",
    [BPF_PROG_TYPE_RAW_TRACEPOINT] = "raw_tracepoint",
    [BPF_PROG_TYPE_CGROUP_SOCK_ADDR] = "cgroup_sock_addr",
    [BPF_PROG_TYPE_LWT_SEG6LOCAL] = "lwt_seg6local",
    [BPF_PROG_TYPE_LIRC_MODE2] = "lirc_mode2",
    [BPF_PROG_TYPE_SK_REUSEPORT] = "sk_reuseport",
    [BPF_PROG_TYPE_FLOW_DISSECTOR] = "flow_dissector",
    [BPF_PROG_TYPE_CGROUP_SYSCTL] = "cgroup_sysctl",
    [BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE] = "raw_tracepoint_writable",
    [BPF_PROG_TYPE_CGROUP_SOCKOPT] = "cgroup_sockopt",
    [BPF_PROG_TYPE_TRACING] = "tracing",
    [BPF_PROG_TYPE_STRUCT_OPS] = "struct_ops",
    [BPF_PROG_TYPE_EXT] = "ext",
    [BPF_PROG_TYPE_LSM] = "lsm",
    [BPF_PROG_TYPE_SK_LOOKUP] = "sk_lookup",
    [BPF_PROG_TYPE_SYSCALL] = "syscall",
};

#define DG_NTYPES (sizeof(type_name) / sizeof(type_name[0])) /* the types deployguard knows */

/* The types whose load is refused (see the top of the file). */
static const unsigned refused[] = {
    BPF_PROG_TYPE_XDP,		 BPF_PROG_TYPE_SCHED_CLS, BPF_PROG_TYPE_SCHED_ACT,
    BPF_PROG_TYPE_LWT_IN,	 BPF_PROG_TYPE_LWT_OUT,	  BPF_PROG_TYPE_LWT_XMIT,
    BPF_PROG_TYPE_LWT_SEG6LOCAL, BPF_PROG_TYPE_SK_SKB,	  BPF_PROG_TYPE_SK_MSG,
    BPF_PROG_TYPE_SYSCALL,
};

const char *bpfcall_type_name(unsigned type)
{
	return type < sizeof(type_name) / sizeof(type_name[0]) && type_name[type] ? type_name[type]
										  : "?";
}

const char *bpfcall_refused_types(void)
{
	static char text[256];

	if (!text[0]) {
		for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
			snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s, ",
				 type_name[refused[i]]);
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 "and types newer than deployguard (%zu and up)", DG_NTYPES);
	}
	return text;
}

static bool type_refused(unsigned type)
{
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (refused[i] == type)
			return true;
	return type >= DG_NTYPES;
}

/* The calling thread, as far as judging it goes. */
struct caller {
	pid_t tid, tgid;
	bool capable; /* CAP_BPF or CAP_SYS_ADMIN in its effective set */
	bool our_userns;
	int pidfd;
	struct {
		uint32_t theirs;
		int ours;
	} fds[DG_FDS_MAX];
	int nfds;
};

/* Its capabilities and process from /proc/TID/status; whether its user namespace is ours (a
 * process in another has capabilities only there). */
static int caller_open(struct caller *c, pid_t tid)
{
	char path[64], line[128];
	unsigned long long caps = 0;
	struct stat mine, theirs;
	FILE *f;

	*c = (struct caller){.tid = tid, .pidfd = -1};
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	for (f = fopen(path, "re"); f && fgets(line, sizeof(line), f);) {
		sscanf(line, "CapEff: %llx", &caps);
		sscanf(line, "Tgid: %d", &c->tgid);
	}
	if (f)
		fclose(f);
	c->capable = caps & (1ULL << 21 /* CAP_SYS_ADMIN */ | 1ULL << 39 /* CAP_BPF */);
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)tid);
	c->our_userns = !stat(path, &theirs) && !stat("/proc/self/ns/user", &mine) &&
			mine.st_ino == theirs.st_ino && mine.st_dev == theirs.st_dev;
	if (c->tgid <= 0 || (c->pidfd = (int)syscall(SYS_pidfd_open, c->tgid, 0)) < 0)
		return -ESRCH;
	return 0;
}

static void caller_close(struct caller *c)
{
	for (int i = 0; i < c->nfds; i++)
		close(c->fds[i].ours);
	if (c->pidfd >= 0)
		close(c->pidfd);
}

/* Our copy of the caller's descriptor fd, in *out; fetched once per load. */
static int caller_fd(struct caller *c, uint32_t fd, uint32_t *out)
{
	int ours;

	for (int i = 0; i < c->nfds; i++)
		if (c->fds[i].theirs == fd) {
			*out = (uint32_t)c->fds[i].ours;
			return 0;
		}
	if (c->nfds == DG_FDS_MAX)
		return -E2BIG;
	if ((ours = (int)syscall(SYS_pidfd_getfd, c->pidfd, (int)fd, 0)) < 0)
		return -EBADF;
	c->fds[c->nfds].theirs = fd;
	c->fds[c->nfds++].ours = ours;
	*out = (uint32_t)ours;
	return 0;
}

/* len bytes of the caller's memory at addr, whole or -EFAULT. */
static int copy_in(const struct caller *c, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};

	if (!len)
		return 0;
	return process_vm_readv(c->tid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

/* A fresh buffer holding count records of size bytes from the caller's addr, or NULL with *err
 * set; no records: NULL with *err 0. */
static void *copy_array(const struct caller *c, uint64_t addr, uint32_t count, uint32_t size,
			size_t max, int *err)
{
	void *buf;

	*err = 0;
	if (!count)
		return NULL;
	if ((size_t)count * size > max) {
		*err = -E2BIG;
		return NULL;
	}
	if (!(buf = malloc((size_t)count * size)) ||
	    (*err = copy_in(c, addr, buf, (size_t)count * size))) {
		*err = *err ? *err : -ENOMEM;
		free(buf);
		return NULL;
	}
	return buf;
}

/* The caller's attributes: size bytes, as the kernel takes them (bytes past what deployguard
 * knows must be zero: the kernel checks the same against its own size). */
static int copy_attr(const struct caller *c, const struct seccomp_notif *n, union bpf_attr *a)
{
	size_t size = n->data.args[2], known = sizeof(*a);
	char tail[256];

	memset(a, 0, sizeof(*a));
	if (size > 4096)
		return -E2BIG;
	if (copy_in(c, n->data.args[1], a, size < known ? size : known))
		return -EFAULT;
	for (size_t at = known; at < size; at += sizeof(tail)) {
		size_t k = size - at < sizeof(tail) ? size - at : sizeof(tail);

		if (copy_in(c, n->data.args[1] + at, tail, k))
			return -EFAULT;
		for (size_t i = 0; i < k; i++)
			if (tail[i])
				return -E2BIG;
	}
	return 0;
}

/* Point the program's references to maps and BTF objects at our copies of the caller's
 * descriptors: ld_imm64 with a map fd or map value (the fd in imm), or with a kernel symbol's
 * BTF id from a module (the module's BTF fd in the second half's imm). */
static int translate_insns(struct caller *c, struct bpf_insn *insn, uint32_t cnt)
{
	uint32_t fd;
	int err;

	for (uint32_t i = 0; i + 1 < cnt; i++) {
		int32_t *imm = NULL;

		if (insn[i].code != (BPF_LD | BPF_IMM | BPF_DW))
			continue;
		if (insn[i].src_reg == BPF_PSEUDO_MAP_FD || insn[i].src_reg == BPF_PSEUDO_MAP_VALUE)
			imm = &insn[i].imm;
		else if (insn[i].src_reg == BPF_PSEUDO_BTF_ID && insn[i + 1].imm)
			imm = &insn[i + 1].imm;
		if (imm && (err = caller_fd(c, (uint32_t)*imm, &fd)))
			return err;
		if (imm)
			*imm = (int32_t)fd;
		i++; /* the second half of ld_imm64 */
	}
	return 0;
}

/* What a load needs that is not copied here, or NULL. */
static const char *not_copied(const union bpf_attr *a)
{
	if (a->fd_array)
		return "fd_array";
	if (a->core_relo_cnt)
		return "CO-RE relocations";
	if (a->prog_ifindex)
		return "device offload";
	if (a->prog_flags & BPF_F_TOKEN_FD)
		return "a BPF token";
	return NULL;
}

/* The buffers behind a load's pointers, ours. */
struct load_copy {
	struct bpf_insn *insns;
	char license[128];
	char *log;
	void *func_info, *line_info;
};

/* Replace the attributes' pointers and descriptors with deployguard's own. */
static int copy_load(struct caller *c, union bpf_attr *a, struct load_copy *k)
{
	int err;

	if (a->insn_cnt > DG_INSNS_MAX)
		return -E2BIG;
	if (!(k->insns = copy_array(c, a->insns, a->insn_cnt, sizeof(*k->insns), SIZE_MAX, &err)))
		return err ? err : -EINVAL;
	if ((err = copy_in(c, a->license, k->license, 1)))
		return err;
	for (size_t i = 1; k->license[i - 1] && i < sizeof(k->license); i++)
		if ((err = copy_in(c, a->license + i, k->license + i, 1)))
			return err;
	k->license[sizeof(k->license) - 1] = 0;
	if (a->log_level && a->log_buf && a->log_size) {
		a->log_size = a->log_size < DG_LOG_MAX ? a->log_size : DG_LOG_MAX;
		if (!(k->log = calloc(1, a->log_size)))
			return -ENOMEM;
	}
	k->func_info =
	    copy_array(c, a->func_info, a->func_info_cnt, a->func_info_rec_size, DG_INFO_MAX, &err);
	if (err)
		return err;
	k->line_info =
	    copy_array(c, a->line_info, a->line_info_cnt, a->line_info_rec_size, DG_INFO_MAX, &err);
	if (err || (err = translate_insns(c, k->insns, a->insn_cnt)))
		return err;
	if ((a->func_info_cnt || a->line_info_cnt) &&
	    (err = caller_fd(c, a->prog_btf_fd, &a->prog_btf_fd)))
		return err;
	if (a->attach_prog_fd && (err = caller_fd(c, a->attach_prog_fd, &a->attach_prog_fd)))
		return err;
	a->insns = (uintptr_t)k->insns;
	a->license = (uintptr_t)k->license;
	a->log_buf = (uintptr_t)k->log;
	a->func_info = (uintptr_t)k->func_info;
	a->line_info = (uintptr_t)k->line_info;
	return 0;
}

/* Give the caller prog as its new descriptor, which its bpf() call returns: atomically with
 * SECCOMP_ADDFD_FLAG_SEND (5.14), else as two steps. 0 if answered. */
static int answer_fd(int notify_fd, uint64_t id, int prog)
{
	struct seccomp_notif_addfd add = {.id = id,
					  .flags = SECCOMP_ADDFD_FLAG_SEND,
					  .srcfd = (uint32_t)prog,
					  .newfd_flags = O_CLOEXEC};
	struct seccomp_notif_resp resp = {.id = id};
	int fd;

	if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ADDFD, &add) >= 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	add.flags = 0;
	if ((fd = ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ADDFD, &add)) < 0)
		return -errno;
	resp.val = fd;
	return ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) ? -errno : 0;
}

/* Load the program from our copy; -errno as the caller's call fails, or 0 once the caller has
 * its descriptor. The verifier's log goes back to the caller's buffer either way. */
static int load(int notify_fd, const struct seccomp_notif *n, struct caller *c, union bpf_attr *a)
{
	struct load_copy k = {0};
	uint64_t log_to = a->log_buf;
	int err, prog = -1;

	/* nothing past the last field copied here reaches the kernel */
	memset((char *)a + offsetof(union bpf_attr, core_relo_rec_size) +
		   sizeof(a->core_relo_rec_size),
	       0,
	       sizeof(*a) - offsetof(union bpf_attr, core_relo_rec_size) -
		   sizeof(a->core_relo_rec_size));
	err = copy_load(c, a, &k);
	/* the descriptors are the caller's only if it is still the process that asked */
	if (!err && ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &n->id))
		err = -ENOENT;
	if (!err && (prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, a, sizeof(*a))) < 0)
		err = -errno;
	if (k.log) {
		struct iovec local = {k.log, strnlen(k.log, a->log_size - 1) + 1};
		struct iovec remote = {(void *)(uintptr_t)log_to, local.iov_len};

		process_vm_writev(c->tid, &local, 1, &remote, 1, 0);
	}
	if (prog >= 0) {
		err = answer_fd(notify_fd, n->id, prog);
		close(prog);
	}
	free(k.insns);
	free(k.log);
	free(k.func_info);
	free(k.line_info);
	return err;
}

/* bpf(BPF_PROG_ATTACH) of a device program, from our copies of the caller's descriptors:
 * -errno as the caller's call fails, or 0. */
static int attach_devices(int notify_fd, const struct seccomp_notif *n, struct caller *c,
			  union bpf_attr *a)
{
	int err;

	if (!c->capable || !c->our_userns)
		return -EPERM;
	if ((err = caller_fd(c, a->target_fd, &a->target_fd)) ||
	    (err = caller_fd(c, a->attach_bpf_fd, &a->attach_bpf_fd)) ||
	    (a->attach_flags & BPF_F_REPLACE &&
	     (err = caller_fd(c, a->replace_bpf_fd, &a->replace_bpf_fd))))
		return err;
	if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &n->id))
		return -ENOENT;
	return syscall(SYS_bpf, BPF_PROG_ATTACH, a,
		       offsetof(union bpf_attr, replace_bpf_fd) + sizeof(a->replace_bpf_fd))
		   ? -errno
		   : 0;
}

/* A load: refused, made here, or (a caller the kernel lets load none of the refused types)
 * let go on. */
static enum bpfcall on_load(int notify_fd, const struct seccomp_notif *n, struct caller *c,
			    union bpf_attr *a, const char **why, struct seccomp_notif_resp *resp)
{
	if (type_refused(a->prog_type)) {
		*why = "PacketProgram";
		return BPFCALL_REFUSED;
	}
	if (!c->capable) {
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		return BPFCALL_DONE;
	}
	if (!c->our_userns || not_copied(a)) {
		*why = "UncheckedBPF";
		return BPFCALL_REFUSED;
	}
	resp->error = load(notify_fd, n, c, a);
	return resp->error ? BPFCALL_DONE : BPFCALL_ANSWERED;
}

/* What a refused load tried, for the log line. */
static void describe_load(const struct caller *c, const union bpf_attr *a, const char *why,
			  char *tried, size_t len)
{
	int k = snprintf(tried, len, "bpf(BPF_PROG_LOAD, %s)", bpfcall_type_name(a->prog_type));

	if (k < 0 || (size_t)k >= len || !strcmp(why, "PacketProgram"))
		return;
	snprintf(tried + k, len - (size_t)k, ", %s%s",
		 c->our_userns ? "which needs " : "from another user namespace",
		 c->our_userns ? not_copied(a) : "");
}

enum bpfcall bpfcall_on_notify(int notify_fd, const struct seccomp_notif *n, const char **why,
			       char *tried, size_t len)
{
	struct seccomp_notif_resp resp = {.id = n->id};
	enum bpfcall r = BPFCALL_DONE;
	struct caller c;
	union bpf_attr a;

	if (n->data.args[0] != BPF_PROG_LOAD && n->data.args[0] != BPF_PROG_ATTACH)
		return BPFCALL_OTHER;
	if ((resp.error = caller_open(&c, (pid_t)n->pid)) == 0 &&
	    (resp.error = copy_attr(&c, n, &a)) == 0) {
		if (n->data.args[0] == BPF_PROG_LOAD)
			r = on_load(notify_fd, n, &c, &a, why, &resp);
		else if (a.attach_type == BPF_CGROUP_DEVICE)
			resp.error = attach_devices(notify_fd, n, &c, &a);
		else
			r = BPFCALL_OTHER;
		if (r == BPFCALL_REFUSED)
			describe_load(&c, &a, *why, tried, len);
	}
	caller_close(&c);
	if (r == BPFCALL_ANSWERED)
		return BPFCALL_DONE;
	if (r != BPFCALL_DONE)
		return r;
	if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) && errno != ENOENT)
		log_warn("failed to answer a seccomp notification");
	return BPFCALL_DONE;
}
