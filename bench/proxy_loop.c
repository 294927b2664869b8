/*
 * bench/proxy_loop.c: deployguard's DNS proxy and poll loop without the kernel side, for
 * counting its instructions per query under valgrind --tool=callgrind (issue 5, item 4).
 * deployguard itself cannot run under valgrind, which lacks the seccomp() system call.
 *
 *   proxy_loop BLOCKLIST UPSTREAM_IPV4 PORTFILE
 *
 * Serves 127.0.0.1:PORT (written to PORTFILE) until SIGTERM, with the same policy, upstream and
 * loop as deployguard; the queries ring is a real BPF ring, so each query costs the same
 * attribution reads (the ring is empty: nothing is attributed).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>

#include "../audit.h"
#include "../policy.h"
#include "../proxy.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	static struct policy pol;
	struct proxy_cfg cfg = {.pol = &pol, .mode = &policy_blocklist, .action = PX_NXDOMAIN};
	struct sockaddr_in *up = (struct sockaddr_in *)&cfg.up[0];
	struct pollfd pfd[PROXY_MAX_FDS];
	struct sigaction sa = {.sa_handler = on_term}; /* no SA_RESTART: poll() returns EINTR */
	struct proxy *p;
	char err[1024];
	uint16_t port;
	FILE *f;

	if (argc != 4 || inet_pton(AF_INET, argv[2], &up->sin_addr) != 1) {
		fprintf(stderr, "usage: proxy_loop BLOCKLIST UPSTREAM_IPV4 PORTFILE\n");
		return 2;
	}
	if (policy_load(&pol, argv[1], err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	up->sin_family = AF_INET;
	up->sin_port = htons(53);
	cfg.uplen[0] = sizeof(*up);
	cfg.nup = 1;
	audit_init(fopen("/dev/null", "w"), AUDIT_TEXT, 0);
	if (proxy_open(&p, &cfg, &port)) {
		perror("proxy_open");
		return 1;
	}
	/* dg_queries is a ring in bpf_prog.h. */
	proxy_set_maps(p, bpf_map_create(BPF_MAP_TYPE_RINGBUF, NULL, 0, 0, 64 * 4096, NULL), NULL);
	if (!(f = fopen(argv[3], "w")) || fprintf(f, "%u\n", port) < 0 || fclose(f)) {
		perror(argv[3]);
		return 1;
	}
	sigaction(SIGTERM, &sa, NULL);
	while (!stop) {
		int timeout = -1, n = proxy_prepare(p, pfd, PROXY_MAX_FDS, &timeout);

		if (poll(pfd, (nfds_t)n, timeout) < 0) {
			if (errno != EINTR)
				return 1;
			continue;
		}
		proxy_dispatch(p, pfd, n);
		audit_flush();
	}
	proxy_close(p);
	policy_free(&pol);
	return 0;
}
