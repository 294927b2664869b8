/* kheaders.h: the kernel header tree the BPF programs are compiled against. */
#ifndef DG_KHEADERS_H
#define DG_KHEADERS_H

#include <stddef.h>

#define KHEADERS_MAX_FLAGS 4 /* what kheaders_find may add to flags */

/* Find the tree (given: --kernel-headers, or NULL to look) and name it in tree. For a tree that
 * is not the running kernel's, set BCC_KERNEL_SOURCE and add the -I flags of its generated
 * headers to flags (malloc'd, the caller frees them). 0, or -errno after saying why. */
int kheaders_find(const char *given, char *tree, size_t len, char **flags, int *nflags);

/* Add the -DDG_OFF_* offsets of the kernel fields the escape guard reads, from the running
 * kernel's BTF, to flags (at most max). 0, or -errno with the reason in why (then the guard
 * cannot see a process leave the cgroup). */
int kheaders_offsets(char **flags, int *nflags, int max, char *why, size_t len);

#endif
