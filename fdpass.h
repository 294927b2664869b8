/* fdpass.h: file descriptors from a child to deployguard. */
#ifndef DG_FDPASS_H
#define DG_FDPASS_H

#include <stddef.h>

/* Send n (at most 32) fds in one message; 0 or -1. */
int fd_send(int sock, const int *fds, size_t n);
/* Receive exactly n fds, or return -1 and keep none (the sender failed and said why). */
int fd_recv(int sock, int *fds, size_t n);

#endif
