/* proxy.h: the DNS proxy the kernel sends every query of the cgroup to. */
#ifndef DG_PROXY_H
#define DG_PROXY_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "policy.h"

#define DG_MAX_UPSTREAM 4

struct proxy_cfg {
	const struct policy *pol;
	bool audit;
	struct sockaddr_storage up[DG_MAX_UPSTREAM];
	socklen_t uplen[DG_MAX_UPSTREAM];
	int nup;
	int queries_fd; /* BPF map (source port, DNS id) -> pid; -1 when there is none */
};

struct proxy;

/* Bind UDP and TCP listeners on 127.0.0.1 and ::1, all on one port, returned in *port. */
int proxy_open(struct proxy **pp, const struct proxy_cfg *cfg, uint16_t *port);
/* The BPF map that names the sender of each query, once it exists. */
void proxy_set_queries_fd(struct proxy *p, int fd);
/* Add the proxy's fds to pfd (at most max) and lower *timeout_ms to its next deadline. */
int proxy_prepare(struct proxy *p, struct pollfd *pfd, int max, int *timeout_ms);
/* Handle what poll() reported for the fds proxy_prepare added. */
void proxy_dispatch(struct proxy *p, const struct pollfd *pfd, int n);
void proxy_close(struct proxy *p);

#endif
