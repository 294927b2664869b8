/* fdpass.h: file descriptors between deployguard and its helpers. */
#ifndef DG_FDPASS_H
#define DG_FDPASS_H

#include <stddef.h>

/* Send n (at most 32) fds in one message; 0 or -1. */
int fd_send(int sock, const int *fds, size_t n);
/* Receive exactly n fds, or return -1 and keep none (the sender failed and said why). */
int fd_recv(int sock, int *fds, size_t n);
/* A message of one byte with n fds (0 to 32); 0 or -1. */
int fd_send_tagged(int sock, char byte, const int *fds, size_t n);
/* One such message: its byte, and up to max of its fds (the rest closed); how many, or -1 at
 * end of file or on error. */
int fd_recv_tagged(int sock, char *byte, int *fds, size_t max);

#endif
