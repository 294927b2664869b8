/*
 * bench/hooks.c: the cost of deployguard's hooks to a process, for make bench (issue 5, items 1
 * and 2). Run once in a guarded cgroup and once outside it; bench/hooks.sh alternates the two.
 *
 *   hooks sink PORT                       discard TCP and UDP on PORT (0.0.0.0), forever
 *   hooks connect|udp|sendto|blocked ADDR PORT N
 *   hooks stream ADDR PORT MBYTES
 *
 * connect: N times socket, connect, close with a reset (TCP); udp: N sends on a connected UDP
 * socket; sendto: N sendto() on an unconnected one; blocked: N connects that must fail with EPERM.
 * Prints {"op": ..., "ns_per_op": ...}; stream prints {"op": "stream", "mbyte_per_s": ...}.
 *
 *   hooks guard CGROUP OBJECT COMMAND...
 *
 * The floor of deployguard's design: attaches every program in OBJECT (bench/empty.bpf.o, each
 * allowing everything) to the cgroup v2 directory CGROUP with BPF links, runs COMMAND in CGROUP
 * under a seccomp filter that costs what deployguard's does, and detaches when COMMAND exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

static char buf[1 << 16];

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static _Noreturn void die(const char *what)
{
	perror(what);
	exit(1);
}

/* The sink spins while datagrams or connections come, and sleeps 10 ms after the last. A sink
 * that sleeps between them makes each send pay its wakeup, but only when the sender is slower
 * than the sink: on loopback that turned the 100 ns the egress program costs a send into 500 ns.
 * A TCP stream does not keep it spinning: its reader then shares a CPU with a spinning sink, and
 * throughput swings threefold from run to run. */
static _Noreturn void sink(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1, t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
	struct pollfd pfd[64] = {{.fd = t, .events = POLLIN}, {.fd = u, .events = POLLIN}};
	int n = 2, rcvbuf = 8 << 20; /* room for a time slice of another task on this CPU */
	double busy = 0;	     /* when the last datagram or connection came */

	setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(u, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	if (bind(t, (struct sockaddr *)&a, sizeof(a)) || listen(t, SOMAXCONN) ||
	    bind(u, (struct sockaddr *)&a, sizeof(a)))
		die("sink: bind");
	for (;;) {
		int ready = poll(pfd, (nfds_t)n, now_ns() - busy < 10e6 ? 0 : -1);

		if (ready < 0)
			die("sink: poll");
		if (ready == 0) {
			sched_yield();
			continue;
		}
		if (pfd[0].revents || pfd[1].revents)
			busy = now_ns();
		if (pfd[0].revents) {
			int c = accept(t, NULL, NULL);

			if (c >= 0 && n < 64)
				pfd[n++] = (struct pollfd){.fd = c, .events = POLLIN};
			else if (c >= 0)
				close(c);
		}
		if (pfd[1].revents)
			while (recv(u, buf, sizeof(buf), MSG_DONTWAIT) > 0)
				;
		for (int i = 2; i < n; i++)
			if (pfd[i].revents && read(pfd[i].fd, buf, sizeof(buf)) <= 0) {
				close(pfd[i].fd);
				pfd[i--] = pfd[--n];
			}
	}
}

static int loop(const char *op, const struct sockaddr_in *a, long n)
{
	int udp = strcmp(op, "udp") == 0 || strcmp(op, "sendto") == 0;
	int s = udp ? socket(AF_INET, SOCK_DGRAM, 0) : -1;
	struct linger reset = {1, 0};
	double t0;

	if (strcmp(op, "udp") == 0 && connect(s, (const struct sockaddr *)a, sizeof(*a)))
		die("udp: connect");
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		if (strcmp(op, "udp") == 0) {
			if (send(s, buf, 64, 0) < 0)
				die("udp: send");
		} else if (udp) {
			if (sendto(s, buf, 64, 0, (const struct sockaddr *)a, sizeof(*a)) < 0)
				die("sendto");
		} else {
			int c = socket(AF_INET, SOCK_STREAM, 0);
			int rc = connect(c, (const struct sockaddr *)a, sizeof(*a));

			if (strcmp(op, "blocked") == 0 ? rc == 0 || errno != EPERM : rc != 0)
				die(op);
			/* A reset, not a FIN: tens of thousands of connections in TIME_WAIT would
			 * slow every later connect down as it looks for a free port, and then fail
			 * it. */
			setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
			close(c);
		}
	}
	printf("{\"op\": \"%s\", \"ns_per_op\": %.0f}\n", op, (now_ns() - t0) / (double)n);
	return 0;
}

static int stream(const struct sockaddr_in *a, long mbytes)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	double t0;

	if (connect(s, (const struct sockaddr *)a, sizeof(*a)))
		die("stream: connect");
	t0 = now_ns();
	for (long left = mbytes << 20; left > 0;) {
		ssize_t w = write(s, buf, sizeof(buf));

		if (w <= 0)
			die("stream: write");
		left -= w;
	}
	close(s);
	printf("{\"op\": \"stream\", \"mbyte_per_s\": %.1f}\n",
	       (double)mbytes / ((now_ns() - t0) / 1e9));
	return 0;
}

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "bench/hooks: add this architecture to the seccomp filter, as in deployguard.c"
#endif

/* What costs a process time in deployguard's filter is that there is one: every system call
 * then takes the kernel's slow path, though the filter's result is cached for all but socket().
 * This one has the same shape and flags, and refuses packet sockets itself. */
static void seccomp_floor(void)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 0, 4),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 2),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_PACKET, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, &prog))
		die("guard: seccomp");
}

static int guard(const char *cgroup, const char *object, char **cmd)
{
	struct bpf_object *obj = bpf_object__open_file(object, NULL);
	int cg = open(cgroup, O_RDONLY | O_DIRECTORY), st;
	struct bpf_program *prog;
	char procs[4096];
	pid_t pid;
	FILE *f;

	if (!obj || bpf_object__load(obj))
		die(object);
	if (cg < 0)
		die(cgroup);
	/* The links close, and detach, when this process exits. */
	for (prog = bpf_object__next_program(obj, NULL); prog;
	     prog = bpf_object__next_program(obj, prog))
		if (!bpf_program__attach_cgroup(prog, cg))
			die(bpf_program__name(prog));
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
	if ((pid = fork()) < 0)
		die("guard: fork");
	if (pid == 0) {
		if (!(f = fopen(procs, "w")) || fprintf(f, "0\n") < 0 || fclose(f))
			die(procs);
		seccomp_floor();
		execvp(cmd[0], cmd);
		die(cmd[0]);
	}
	if (waitpid(pid, &st, 0) < 0)
		die("guard: wait");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};

	if (argc == 3 && strcmp(argv[1], "sink") == 0)
		sink(atoi(argv[2]));
	if (argc >= 5 && strcmp(argv[1], "guard") == 0)
		return guard(argv[2], argv[3], argv + 4);
	if (argc != 5 || inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) {
		fprintf(stderr,
			"usage: hooks sink PORT | hooks connect|udp|sendto|blocked ADDR PORT N |"
			" hooks stream ADDR PORT MBYTES | hooks guard CGROUP OBJECT COMMAND...\n");
		return 2;
	}
	a.sin_port = htons((uint16_t)atoi(argv[3]));
	if (strcmp(argv[1], "stream") == 0)
		return stream(&a, atol(argv[4]));
	return loop(argv[1], &a, atol(argv[4]));
}
