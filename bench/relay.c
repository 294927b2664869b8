/*
 * bench/relay.c: the least a userspace DNS forwarder can do, for make bench (issue 5, item 3):
 * the latency it adds is the floor for any proxy in userspace, deployguard's included.
 *
 *   relay LISTEN_IPV4 PORT UPSTREAM_IPV4
 *
 * Reads a query on LISTEN:PORT, sends it as it is to UPSTREAM:53, and sends the answer back to
 * whoever asked with that DNS id last. No parsing, no policy, no retries, one poll() loop.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

static struct sockaddr_in asker[65536]; /* by DNS id */

static int udp_socket(const char *ip, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	if (s < 0 || inet_pton(AF_INET, ip, &a.sin_addr) != 1 ||
	    bind(s, (struct sockaddr *)&a, sizeof(a))) {
		perror("relay: bind");
		exit(1);
	}
	return s;
}

int main(int argc, char **argv)
{
	struct sockaddr_in up = {.sin_family = AF_INET, .sin_port = htons(53)};
	unsigned char buf[65536];
	struct pollfd pfd[2];

	if (argc != 4 || inet_pton(AF_INET, argv[3], &up.sin_addr) != 1) {
		fprintf(stderr, "usage: relay LISTEN_IPV4 PORT UPSTREAM_IPV4\n");
		return 2;
	}
	pfd[0] = (struct pollfd){.fd = udp_socket(argv[1], atoi(argv[2])), .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = udp_socket("0.0.0.0", 0), .events = POLLIN};
	for (;;) {
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		ssize_t n;

		if (poll(pfd, 2, -1) < 0)
			return 1;
		n = pfd[0].revents ? recvfrom(pfd[0].fd, buf, sizeof(buf), MSG_DONTWAIT,
					      (struct sockaddr *)&from, &fromlen)
				   : -1;
		if (n >= 2) {
			asker[buf[0] << 8 | buf[1]] = from;
			sendto(pfd[1].fd, buf, (size_t)n, 0, (struct sockaddr *)&up, sizeof(up));
		}
		n = pfd[1].revents ? recvfrom(pfd[1].fd, buf, sizeof(buf), MSG_DONTWAIT, NULL, NULL)
				   : -1;
		if (n >= 2)
			sendto(pfd[0].fd, buf, (size_t)n, 0,
			       (struct sockaddr *)&asker[buf[0] << 8 | buf[1]], sizeof(from));
	}
}
