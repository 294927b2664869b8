/*
 * fdpass.c: file descriptors from a child to deployguard over a socketpair (SCM_RIGHTS): the
 * seccomp listener of COMMAND's child, the programs and maps of the compiler's child.
 */
#define _GNU_SOURCE
#include "fdpass.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FD_PASS_MAX 32 /* fds in one message */

int fd_send(int sock, const int *fds, size_t n)
{
	char byte = 0;
	struct iovec iov = {&byte, 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * FD_PASS_MAX)];
	} u = {0};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = u.buf,
			   .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	if (n > FD_PASS_MAX)
		return -1;
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
