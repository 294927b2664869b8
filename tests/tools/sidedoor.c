/*
 * sidedoor: the doors below IP a deploy script could try, for tests/sidedoors.bats. Each mode
 * really tries; the tests run it unguarded first (it works) and then under deployguard.
 *
 *   sidedoor families [N...]          the families socket() makes: "N created" or "N EPERM"
 *   sidedoor socketpair N             socketpair(N, ...): "created" or the error's name
 *   sidedoor uring-dns IF MAC SRC DST NAME
 *       an AF_PACKET socket made by io_uring (IORING_OP_SOCKET), an IPv4/UDP DNS query for NAME
 *       A from SRC to DST written as a frame to MAC on interface IF, the answer read back from
 *       the same socket: "answer ADDR"
 *   sidedoor load TYPE                a program of TYPE (xdp, sched_cls, ...) that returns 0:
 *                                     "loaded" or the error's name
 *   sidedoor xdp IF                   an XDP program loaded and attached to IF over netlink
 *                                     (then detached): "attached"
 *   sidedoor map                      a socket filter that uses an array map, attached to a
 *                                     socket: "loaded maps=N attached"
 *   sidedoor log                      a program the verifier rejects, with a log: its errno's
 *                                     name, then the log's first line
 *   sidedoor race N                   N loads of a socket filter while another thread flips
 *                                     the attributes' type to XDP and back: how many of each
 *                                     type were loaded, "xdp=K socket_filter=M refused=R"
 *
 * Exit status 0 when the mode's attempt succeeded, 2 when it was refused, 1 on a usage error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/io_uring.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#define INSN(c, d, s, o, i) ((struct bpf_insn){(c), (d), (s), (o), (i)})
#define MOV0(v)		    INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, (v))
#define EXIT		    INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* Each family in list (NULL: all): created with some type and protocol, refused (EPERM, the
 * first answer that counts), or not there at all (nothing printed). */
static int families(char **list)
{
	static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET, SOCK_RDM};

	for (int i = 0, f; list ? list[i] != NULL : i < AF_MAX; i++) {
		bool made = false, eperm = false;

		f = list ? atoi(list[i]) : i;
		for (size_t t = 0; t < sizeof(types) / sizeof(types[0]) && !made && !eperm; t++)
			for (int proto = 0; proto < 4 && !made && !eperm; proto++) {
				int fd = socket(f, types[t], proto);

				made = fd >= 0;
				eperm |= fd < 0 && errno == EPERM;
				if (fd >= 0)
					close(fd);
			}
		if (made || eperm)
			printf("%d %s\n", f, made ? "created" : "EPERM");
	}
	return 0;
}

static int pair(int family)
{
	static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
	int sv[2], err = 0;

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		if (!socketpair(family, types[t], 0, sv)) {
			puts("created");
			return 0;
		}
		if ((err = errno) == EPERM)
			break;
	}
	puts(strerrorname_np(err));
	return 2;
}

/* One IORING_OP_SOCKET through a ring of our own: the new socket, or -errno. */
static int uring_socket(int domain, int type, int protocol)
{
	struct io_uring_params p = {0};
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	unsigned *tail, idx;
	size_t sq_len, cq_len;
	char *sq, *cq;
	int ring = (int)syscall(__NR_io_uring_setup, 4, &p);

	if (ring < 0)
		return -errno;
	sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	sq = mmap(NULL, sq_len > cq_len ? sq_len : cq_len, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
	cq = sq;
	sqe = mmap(NULL, p.sq_entries * sizeof(*sqe), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || sqe == MAP_FAILED || !(p.features & IORING_FEAT_SINGLE_MMAP))
		return -ENOMEM;
	tail = (unsigned *)(sq + p.sq_off.tail);
	idx = *tail & *(unsigned *)(sq + p.sq_off.ring_mask);
	memset(&sqe[idx], 0, sizeof(sqe[idx]));
	sqe[idx].opcode = IORING_OP_SOCKET;
	sqe[idx].fd = domain;
	sqe[idx].off = (uint64_t)type;
	sqe[idx].len = (uint32_t)protocol;
	((unsigned *)(sq + p.sq_off.array))[idx] = idx;
	__atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return -errno;
	cqe = (struct io_uring_cqe *)(cq + p.cq_off.cqes) +
	      (*(unsigned *)(cq + p.cq_off.head) & *(unsigned *)(cq + p.cq_off.ring_mask));
	return cqe->res;
}

static uint16_t ip_sum(const uint8_t *h, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)h[i] << 8 | h[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* An IPv4/UDP packet holding a DNS query for name, type A, id 0x5151; its length. */
static size_t dns_packet(uint8_t *b, in_addr_t src, in_addr_t dst, uint16_t sport, const char *name)
{
	uint8_t *q = b + 28 + 12;
	size_t n;

	memset(b, 0, 40);
	memcpy(b + 28, "\x51\x51\x01\x00\x00\x01", 6);
	for (const char *l = name; *l;) {
		size_t k = strcspn(l, ".");

		*q++ = (uint8_t)k;
		memcpy(q, l, k);
		q += k;
		l += k + (l[k] == '.');
	}
	memcpy(q, "\x00\x00\x01\x00\x01", 5);
	n = (size_t)(q + 5 - b);
	b[0] = 0x45, b[2] = (uint8_t)(n >> 8), b[3] = (uint8_t)n, b[6] = 0x40, b[8] = 64;
	b[9] = 17;
	memcpy(b + 12, &src, 4);
	memcpy(b + 16, &dst, 4);
	b[10] = (uint8_t)(ip_sum(b, 20) >> 8), b[11] = (uint8_t)ip_sum(b, 20);
	b[20] = (uint8_t)(sport >> 8), b[21] = (uint8_t)sport, b[23] = 53;
	b[24] = (uint8_t)((n - 20) >> 8), b[25] = (uint8_t)(n - 20);
	return n;
}

/* The first A record of the DNS answer in the UDP payload d, as text, or NULL. */
static const char *first_a(const uint8_t *d, size_t len, char *out)
{
	size_t at = 12;
	int an = d[6] << 8 | d[7];

	while (at < len && d[at])
		at += d[at] + 1u;
	for (at += 5; an-- > 0 && at + 12 <= len;) {
		at += (d[at] & 0xc0) ? 2 : 0; /* the answers here point back to the question */
		if (d[at] << 8 | d[at + 1]) {
			if ((d[at] << 8 | d[at + 1]) == 1 && d[at + 9] == 4 && at + 14 <= len)
				return inet_ntop(AF_INET, d + at + 10, out, INET_ADDRSTRLEN);
		}
		at += 10u + (d[at + 8] << 8 | d[at + 9]);
	}
	return NULL;
}

static int uring_dns(const char *ifname, const char *mac, const char *src, const char *dst,
		     const char *name)
{
	struct sockaddr_ll to = {.sll_family = AF_PACKET,
				 .sll_protocol = htons(ETH_P_IP),
				 .sll_ifindex = (int)if_nametoindex(ifname),
				 .sll_halen = 6};
	uint16_t sport = (uint16_t)(40000 + getpid() % 20000);
	uint8_t pkt[1500];
	char addr[INET_ADDRSTRLEN];
	int fd = uring_socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
	size_t n;

	if (fd < 0) {
		printf("io_uring socket: %s\n", strerrorname_np(-fd));
		return 2;
	}
	if (sscanf(mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &to.sll_addr[0], &to.sll_addr[1],
		   &to.sll_addr[2], &to.sll_addr[3], &to.sll_addr[4], &to.sll_addr[5]) != 6)
		return 1;
	n = dns_packet(pkt, inet_addr(src), inet_addr(dst), sport, name);
	if (sendto(fd, pkt, n, 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)n) {
		printf("sendto: %s\n", strerrorname_np(errno));
		return 2;
	}
	for (struct pollfd p = {fd, POLLIN, 0}; poll(&p, 1, 5000) == 1;) {
		ssize_t k = recv(fd, pkt, sizeof(pkt), 0);

		if (k < 40 || pkt[9] != 17 || memcmp(pkt + 12, &(in_addr_t){inet_addr(dst)}, 4) ||
		    (pkt[20] << 8 | pkt[21]) != 53 || (pkt[22] << 8 | pkt[23]) != sport)
			continue;
		if (first_a(pkt + 28, (size_t)k - 28, addr)) {
			printf("answer %s\n", addr);
			return 0;
		}
	}
	puts("no answer");
	return 2;
}

static int prog_load(unsigned type, unsigned flags, const struct bpf_insn *insns, unsigned cnt,
		     char *log, unsigned log_size)
{
	union bpf_attr a = {.prog_type = type,
			    .insns = (uintptr_t)insns,
			    .insn_cnt = cnt,
			    .license = (uintptr_t)(const char *)"GPL",
			    .prog_flags = flags,
			    .log_level = log ? 1 : 0,
			    .log_buf = (uintptr_t)log,
			    .log_size = log_size};

	if (type == BPF_PROG_TYPE_CGROUP_DEVICE)
		a.expected_attach_type = BPF_CGROUP_DEVICE;
	return (int)syscall(__NR_bpf, BPF_PROG_LOAD, &a, sizeof(a));
}

static int load(const char *type)
{
	static const struct {
		const char *name;
		unsigned type, flags;
	} types[] = {
	    {"xdp", BPF_PROG_TYPE_XDP, 0},
	    {"sched_cls", BPF_PROG_TYPE_SCHED_CLS, 0},
	    {"sched_act", BPF_PROG_TYPE_SCHED_ACT, 0},
	    {"lwt_in", BPF_PROG_TYPE_LWT_IN, 0},
	    {"lwt_out", BPF_PROG_TYPE_LWT_OUT, 0},
	    {"lwt_xmit", BPF_PROG_TYPE_LWT_XMIT, 0},
	    {"lwt_seg6local", BPF_PROG_TYPE_LWT_SEG6LOCAL, 0},
	    {"sk_skb", BPF_PROG_TYPE_SK_SKB, 0},
	    {"sk_msg", BPF_PROG_TYPE_SK_MSG, 0},
	    {"syscall", BPF_PROG_TYPE_SYSCALL, BPF_F_SLEEPABLE},
	    {"socket_filter", BPF_PROG_TYPE_SOCKET_FILTER, 0},
	    {"cgroup_device", BPF_PROG_TYPE_CGROUP_DEVICE, 0},
	};
	const struct bpf_insn prog[] = {MOV0(0), EXIT};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(types[i].name, type)) {
			int fd = prog_load(types[i].type, types[i].flags, prog, 2, NULL, 0);

			puts(fd >= 0 ? "loaded" : strerrorname_np(errno));
			return fd >= 0 ? 0 : 2;
		}
	return 1;
}

/* RTM_SETLINK with IFLA_XDP: attach prog (or -1: detach) to ifindex in generic mode. */
static int xdp_set(int ifindex, int prog)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		struct nlattr xdp;
		struct nlattr fd_hdr;
		int32_t fd;
		struct nlattr flags_hdr;
		uint32_t flags;
	} req = {
	    .nh = {.nlmsg_len = sizeof(req),
		   .nlmsg_type = RTM_SETLINK,
		   .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK},
	    .ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex},
	    .xdp = {.nla_len = sizeof(req) - offsetof(__typeof__(req), xdp),
		    .nla_type = NLA_F_NESTED | IFLA_XDP},
	    .fd_hdr = {.nla_len = sizeof(struct nlattr) + 4, .nla_type = IFLA_XDP_FD},
	    .fd = prog,
	    .flags_hdr = {.nla_len = sizeof(struct nlattr) + 4, .nla_type = IFLA_XDP_FLAGS},
	    .flags = XDP_FLAGS_SKB_MODE,
	};
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr err;
	} ack;
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), err;

	if (s < 0 || send(s, &req, sizeof(req), 0) != sizeof(req) ||
	    recv(s, &ack, sizeof(ack), 0) < (ssize_t)sizeof(ack))
		err = errno;
	else
		err = -ack.err.error;
	if (s >= 0)
		close(s);
	return err;
}

static int xdp(const char *ifname)
{
	const struct bpf_insn prog[] = {MOV0(XDP_PASS), EXIT};
	int fd = prog_load(BPF_PROG_TYPE_XDP, 0, prog, 2, NULL, 0), err;

	if (fd < 0) {
		printf("load: %s\n", strerrorname_np(errno));
		return 2;
	}
	if ((err = xdp_set((int)if_nametoindex(ifname), fd))) {
		printf("attach: %s\n", strerrorname_np(err));
		return 2;
	}
	puts("attached");
	return xdp_set((int)if_nametoindex(ifname), -1) ? 2 : 0;
}

static int map(void)
{
	union bpf_attr m = {
	    .map_type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8, .max_entries = 1};
	int mfd = (int)syscall(__NR_bpf, BPF_MAP_CREATE, &m, sizeof(m)), fd, s;
	struct bpf_insn prog[] = {
	    INSN(BPF_LD | BPF_IMM | BPF_DW, 1, BPF_PSEUDO_MAP_FD, 0, mfd),
	    INSN(0, 0, 0, 0, 0),
	    MOV0(0),
	    EXIT,
	};
	struct bpf_prog_info info = {0};
	union bpf_attr get = {.info = {.info_len = sizeof(info), .info = (uintptr_t)&info}};

	if (mfd < 0 || (fd = prog_load(BPF_PROG_TYPE_SOCKET_FILTER, 0, prog, 4, NULL, 0)) < 0) {
		printf("%s\n", strerrorname_np(errno));
		return 2;
	}
	get.info.bpf_fd = (uint32_t)fd;
	if (syscall(__NR_bpf, BPF_OBJ_GET_INFO_BY_FD, &get, sizeof(get)))
		return 2;
	s = socket(AF_INET, SOCK_DGRAM, 0);
	printf("loaded maps=%u %s\n", info.nr_map_ids,
	       setsockopt(s, SOL_SOCKET, SO_ATTACH_BPF, &fd, sizeof(fd)) ? "unattached"
									 : "attached");
	return 0;
}

static int log_(void)
{
	const struct bpf_insn prog[] = {EXIT}; /* R0 is never set */
	static char log[4096];

	if (prog_load(BPF_PROG_TYPE_SOCKET_FILTER, 0, prog, 1, log, sizeof(log)) >= 0)
		return 2;
	printf("%s\n%.*s\n", strerrorname_np(errno), (int)strcspn(log, "\n"), log);
	return 0;
}

static union bpf_attr race_attr;
static volatile bool race_over;

static void *flipper(void *arg)
{
	volatile uint32_t *type = &race_attr.prog_type;

	(void)arg;
	while (!race_over)
		*type =
		    *type == BPF_PROG_TYPE_XDP ? BPF_PROG_TYPE_SOCKET_FILTER : BPF_PROG_TYPE_XDP;
	return NULL;
}

/* The attacker's load: judged as a socket filter, loaded as XDP if the check is not made on a
 * copy. */
static int race(int n)
{
	static const struct bpf_insn prog[] = {MOV0(XDP_PASS), EXIT};
	int counts[3] = {0};
	pthread_t t;

	race_attr = (union bpf_attr){.prog_type = BPF_PROG_TYPE_SOCKET_FILTER,
				     .insns = (uintptr_t)prog,
				     .insn_cnt = 2,
				     .license = (uintptr_t)(const char *)"GPL"};
	pthread_create(&t, NULL, flipper, NULL);
	for (int i = 0; i < n; i++) {
		int fd = (int)syscall(__NR_bpf, BPF_PROG_LOAD, &race_attr, sizeof(race_attr));
		struct bpf_prog_info info = {0};
		union bpf_attr get = {.info = {.bpf_fd = (uint32_t)fd,
					       .info_len = sizeof(info),
					       .info = (uintptr_t)&info}};

		if (fd < 0 || syscall(__NR_bpf, BPF_OBJ_GET_INFO_BY_FD, &get, sizeof(get))) {
			counts[2]++;
		} else {
			counts[info.type == BPF_PROG_TYPE_XDP ? 0 : 1]++;
		}
		if (fd >= 0)
			close(fd);
	}
	race_over = true;
	pthread_join(t, NULL);
	printf("xdp=%d socket_filter=%d refused=%d\n", counts[0], counts[1], counts[2]);
	return counts[0] ? 0 : 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "families"))
		return families(argc > 2 ? argv + 2 : NULL);
	if (argc == 3 && !strcmp(argv[1], "socketpair"))
		return pair(atoi(argv[2]));
	if (argc == 7 && !strcmp(argv[1], "uring-dns"))
		return uring_dns(argv[2], argv[3], argv[4], argv[5], argv[6]);
	if (argc == 3 && !strcmp(argv[1], "load"))
		return load(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "xdp"))
		return xdp(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "map"))
		return map();
	if (argc == 2 && !strcmp(argv[1], "log"))
		return log_();
	if (argc == 3 && !strcmp(argv[1], "race"))
		return race(atoi(argv[2]));
	fprintf(stderr, "usage: see the top of tests/tools/sidedoor.c\n");
	return 1;
}
