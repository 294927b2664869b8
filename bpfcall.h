/* bpfcall.h: the bpf(2) calls of COMMAND that deployguard judges and makes itself. */
#ifndef DG_BPFCALL_H
#define DG_BPFCALL_H

#include <stdbool.h>
#include <stddef.h>

#include <linux/seccomp.h>

enum bpfcall {
	BPFCALL_OTHER,	  /* not a call made here: the filter refuses it */
	BPFCALL_DONE,	  /* answered (made, or failed as the kernel would fail it) */
	BPFCALL_ANSWERED, /* (within bpfcall.c: made, the caller has its descriptor) */
	BPFCALL_REFUSED,  /* refuse with EPERM and log: *why and tried say what and why */
};

/* A bpf() call the filter handed over on notify_fd. A program load of a type that can move
 * packets past the cgroup hooks (XDP, tc, lwt, sk_skb, sk_msg, syscall, and types newer than
 * deployguard) is refused; any other a capable caller asks for is loaded here from
 * deployguard's copies of its attributes and handed back as a descriptor, so that what was
 * judged is what is loaded. A device program's attach is made here the same way. */
enum bpfcall bpfcall_on_notify(int notify_fd, const struct seccomp_notif *n, const char **why,
			       char *tried, size_t len);
/* The program types a load of is refused, as text for --check and the man page. */
const char *bpfcall_refused_types(void);
/* The program type's name, as bpftool spells it, or "?". */
const char *bpfcall_type_name(unsigned type);

#endif
