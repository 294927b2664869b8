/*
 * fdpass.c: file descriptors between deployguard and its helpers over a socketpair
 * (SCM_RIGHTS): the seccomp listener of COMMAND's child, the programs and maps of the compiler's
 * child, and the links of adopted cgroups for the watchdog.
 */
#define _GNU_SOURCE
#include "fdpass.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FD_PASS_MAX 32 /* fds in one message */

int fd_send(int sock, const int *fds, size_t n)
{
	return fd_send_tagged(sock, 0, fds, n);
}

int fd_send_tagged(int sock, char byte, const int *fds, size_t n)
{
	struct iovec iov = {&byte, 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * FD_PASS_MAX)];
	} u = {0};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = n ? u.buf : NULL,
			   .msg_controllen = n ? CMSG_SPACE(sizeof(int) * n) : 0};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	if (n > FD_PASS_MAX)
		return -1;
	if (!n)
		return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

/* Exactly n fds, or -1 and none (the sender failed and said why). */
int fd_recv(int sock, int *fds, size_t n)
{
	char byte;
	struct iovec iov = {&byte, 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * FD_PASS_MAX)];
	} u;
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = u.buf,
			   .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c;

	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
		int fd;

		memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		if (c->cmsg_len == CMSG_LEN(sizeof(int) * n))
			fds[i] = fd;
		else
			close(fd); /* not what was asked for */
	}
	return c->cmsg_len == CMSG_LEN(sizeof(int) * n) ? 0 : -1;
}

int fd_recv_tagged(int sock, char *byte, int *fds, size_t max)
{
	struct iovec iov = {byte, 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * FD_PASS_MAX)];
	} u;
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = u.buf,
			   .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c;
	size_t n = 0;
	ssize_t got = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);

	if (got != 1) {
		if (got >= 0)
			errno = 0; /* end of file */
		return -1;
	}
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (n < max)
				fds[n++] = fd;
			else
				close(fd);
		}
	}
	return (int)n;
}
