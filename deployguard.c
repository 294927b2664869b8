/*
 * deployguard: run a deploy script so that it cannot quietly depend on the service it deploys.
 *
 * The command and everything it starts run in a cgroup v2 directory of their own. BPF cgroup
 * programs (bpf_prog.h, compiled here with libbcc against the kernel headers) send every DNS query
 * of that cgroup to deployguard's own proxy (proxy.c), which answers names on the blocklist with
 * NXDOMAIN and forwards the rest; connections to blocked addresses, and to every address a blocked
 * name resolves to, fail at connect(). Raw and packet sockets and DNS over TLS are refused. Every
 * block is logged with the pid and command line that caused it, and a summary of every name and
 * address the deploy asked for comes out at the end. Processes outside the cgroup see no change.
 *
 * USAGE: deployguard [-h] [-V] [-b FILE... | -a FILE...] [--strict] [--block-action ACT]
 *                    [--ttl-grace SEC] [--audit] [--user USER] [--leftovers ACT]
 *                    [--kernel-headers DIR] [--fail-open] [--cpu-max PCT] [--memory-max SIZE]
 *                    [--pids-max N] [--cgroup PATH] [--upstream ADDR]...
 *                    [--log-format text|json] [-o FILE] [-v]... -- COMMAND [ARG...]
 *        deployguard [OPTIONS] --cgroup PATH      guard an existing cgroup until SIGINT/SIGTERM
 *        deployguard --check                      what this host supports
 *
 * EXAMPLES:
 *   1. deployguard -b blocklist.txt -- ./deploy.sh --env prod
 *        run a deploy with the names in blocklist.txt unreachable
 *   2. deployguard --audit -b blocklist.txt -o audit.log -- ./deploy.sh
 *        log what would be blocked, block nothing
 *   3. deployguard -a allowlist.txt --block-action drop -- ./deploy.sh
 *        reach only what allowlist.txt names; other names get no answer, as in an outage
 *   4. deployguard -b blocklist.txt --upstream 192.0.2.53#5353 -v -- make deploy
 *        forward allowed queries to 192.0.2.53 port 5353, and log them
 *   5. deployguard -b blocklist.txt --memory-max 2G --cpu-max 150 -- ./deploy.sh
 *        and let the deploy use at most 2 GiB and one and a half CPUs
 *   6. deployguard --audit -b blocklist.txt --cgroup /sys/fs/cgroup/system.slice/app.service
 *        log what a running service would have blocked, until ^C
 *
 * Copyright 2026 the deployguard authors. Licensed under the Apache License, Version 2.0.
 *
 * 2026-11-21  First version: cgroup, DNS redirect and blocklist, address blocks, attribution.
 * 2026-11-21  Enforcement: blocked names' addresses, --strict, -a, --block-action, DoT, raw and
 *             packet sockets, the egress backstop.
 * 2026-11-21  Operations: --user, --leftovers, --kernel-headers, a watchdog that kills the
 *             cgroup if deployguard dies, signals ignored at entry stay ignored, --fail-open;
 *             attach mode with SIGHUP reload, --cpu-max, --memory-max, --pids-max, start-up
 *             probes and --check.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <bcc/bcc_common.h>
#include <bcc/bcc_version.h>
#include <bcc/libbpf.h> /* for bcc_func_load's type: libbcc itself is opened by a child */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "audit.h"
#include "bpf_prog.h"
#include "cgroup.h"
#include "policy.h"
#include "probe.h"
#include "proxy.h"

#define DG_VERSION	 "0.1.0"
#define DG_EXIT_FAIL	 125 /* env(1) and timeout(1) conventions */
#define DG_EXIT_CANNOT	 126
#define DG_EXIT_NOTFOUND 127
#define DG_NPROGS	 (sizeof(dg_progs) / sizeof(dg_progs[0]))
#define CGROUP2_MAGIC	 0x63677270
#define DG_MAX_CFLAGS	 16
#define DG_WARMUP_MS	 2000  /* longest wait for blocked names' addresses before COMMAND runs */
#define DG_NETS_SPARE	 65536 /* address rules a reload may add; an LPM trie allocates per entry */
#define DG_LIBBCC	 "libbcc.so.0"
#define DG_NMAPS	 (sizeof(dg_maps) / sizeof(dg_maps[0]))
#define DG_PASS_MAX	 32 /* fds in one message between a child and deployguard */

/* The maps deployguard itself reads and writes, in the order of struct run's map_fd. */
static const char *const dg_maps[] = {"dg_nets4",  "dg_nets6",	"dg_events", "dg_queries",
				      "dg_learn4", "dg_learn6", "dg_socks"};
enum { M_NETS4, M_NETS6, M_EVENTS, M_QUERIES, M_LEARN4, M_LEARN6, M_SOCKS };
/* What the compiler's child exits with: the step that failed. */
enum { BUILD_OK, BUILD_COMPILE, BUILD_LOAD };

static struct env {
	const char *lists[64]; /* policy files: blocklists, or allowlists with -a */
	int nlists;
	char list_opt; /* 'a' or 'b', whichever came first */
	bool audit;
	bool strict;
	const char *cgroup;
	enum audit_format log_format;
	const char *log_path;
	int verbose;
	bool dump_bpf;
	bool check; /* --check: probe the host, run nothing */
	enum { DG_LEFT_LEAVE, DG_LEFT_WAIT, DG_LEFT_KILL } leftovers;
	bool leftovers_set;
	const char *user;
	const char *kernel_headers;
	bool fail_open;
	unsigned long long limit[CG_NCTL]; /* --cpu-max, --memory-max, --pids-max; 0: none */
	char **command;
	bool attach; /* --cgroup and no COMMAND: guard what is in the cgroup until a signal */
	struct proxy_cfg px;
} env = {.log_format = AUDIT_TEXT, .px = {.grace_s = 30}};

/* What a run holds, released in reverse order by cleanup(). */
struct run {
	struct policy pol;
	struct proxy *proxy;
	int prog_fd[DG_NPROGS], link_fd[DG_NPROGS], map_fd[DG_NMAPS];
	bool legacy_attach[DG_NPROGS];
	int cg_fd;
	char cg_mnt[PATH_MAX], cg_path[PATH_MAX];
	bool cg_created;
	struct cg_limits lim;
	struct ring_buffer *rb;
	int sig_fd;
	int notify_sock[2]; /* the child sends its seccomp listener over this */
	int notify_fd;
	int events_fd;	 /* cgroup.events: POLLPRI when the cgroup empties */
	int watchdog_fd; /* closing it without a word makes the watchdog kill the cgroup */
	pid_t watchdog;
	pid_t child;
	FILE *log;
	char headers[PATH_MAX]; /* the kernel header tree in use */
	size_t nets_max[2];	/* IPv4 and IPv6 address rules the LPM tries hold */
	char *cflags[DG_MAX_CFLAGS];
	int ncflags;
	bool host_stage; /* set-up got past the command line and the policy */
	/* --user: who COMMAND runs as */
	uid_t uid;
	gid_t gid, groups[256];
	int ngroups;
};

static const char usage[] =
    "Usage: deployguard [OPTIONS] -- COMMAND [ARG...]\n"
    "       deployguard [OPTIONS] --cgroup PATH\n"
    "       deployguard --check\n"
    "Run COMMAND in a cgroup of its own where the names and addresses on the blocklists\n"
    "cannot be reached, and log every attempt with the process that made it. With --cgroup\n"
    "and no COMMAND, guard that existing cgroup until SIGINT or SIGTERM (SIGHUP reloads\n"
    "the policy files).\n"
    "\n"
    "  -b, --blocklist FILE   block the names and addresses in FILE (may repeat), and every\n"
    "                         address those names resolve to\n"
    "  -a, --allowlist FILE   allowlist mode: only names and addresses in FILE may be reached\n"
    "                         (may repeat; not with -b)\n"
    "      --strict           blocklist mode, plus: egress only to addresses learned from\n"
    "                         allowed answers (what allowlist mode always does)\n"
    "      --block-action ACT nxdomain (default), refused, servfail, or drop: how a blocked\n"
    "                         query is answered; drop sends nothing, as in an outage\n"
    "      --ttl-grace SEC    a learned address stays allowed this long past its answer's TTL\n"
    "                         (default 30); open connections to it live on\n"
    "      --audit            log what would be blocked, block nothing\n"
    "      --user USER        run COMMAND as USER (name or uid), with that user's groups;\n"
    "                         deployguard keeps its privileges, COMMAND gets none\n"
    "      --leftovers ACT    processes still in the cgroup when COMMAND exits: leave\n"
    "                         (default: report them, move them out, unguarded), wait (guard\n"
    "                         until they exit), or kill\n"
    "      --kernel-headers DIR  compile the BPF programs against this kernel header tree\n"
    "      --fail-open        if the guard cannot be set up, warn and run COMMAND unguarded\n"
    "                         (default: exit 125, COMMAND not run)\n"
    "      --cpu-max PCT      CPU limit for the cgroup, percent of one CPU (150 = 1.5 CPUs)\n"
    "      --memory-max SIZE  memory limit, bytes or with a K, M or G suffix\n"
    "      --pids-max N       task limit\n"
    "      --cgroup PATH      run COMMAND in this cgroup v2 directory (created if missing,\n"
    "                         left in place if it existed) instead of a fresh one; without\n"
    "                         COMMAND, guard the processes of this existing cgroup\n"
    "      --upstream ADDR    upstream resolver, IPv4 or IPv6, optional #PORT (may repeat);\n"
    "                         default: the nameserver lines of /etc/resolv.conf\n"
    "      --log-format FMT   text (default) or json\n"
    "  -o, --log FILE         write log lines to FILE instead of stderr\n"
    "  -v, --verbose          also log allowed queries; repeat for debug detail\n"
    "      --check            probe this host, print what it supports, run nothing\n"
    "  -h, --help             this help\n"
    "  -V, --version          print the version\n"
    "\n"
    "Exit status: COMMAND's own; 128+N if it was killed by signal N; 125 if deployguard\n"
    "failed (COMMAND did not run); 126 if COMMAND could not be executed; 127 if not found.\n"
    "Guarding a cgroup: 0. --check: 0 if a guarded run would work here, else 1.\n"
    "\n"
    "Examples:\n"
    "  deployguard -b blocklist.txt -- ./deploy.sh --env prod\n"
    "  deployguard --audit -b blocklist.txt -o audit.log -- ./deploy.sh\n"
    "  deployguard -a allowlist.txt --block-action drop -- ./deploy.sh\n"
    "  deployguard -b blocklist.txt --upstream 192.0.2.53#5353 -v -- make deploy\n"
    "  deployguard -b blocklist.txt --memory-max 2G --cpu-max 150 -- ./deploy.sh\n"
    "  deployguard --audit -b blocklist.txt --cgroup /sys/fs/cgroup/system.slice/app.service\n"
    "  echo github.com > bl.txt && deployguard -b bl.txt -- getent hosts github.com\n";

/* "192.0.2.1", "2001:db8::1", either with "#PORT". */
static int parse_upstream(const char *arg, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *hash = strchr(arg, '#');
	size_t hlen = hash ? (size_t)(hash - arg) : strlen(arg);
	long port = 53;

	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, arg, hlen);
	host[hlen] = '\0';
	if (hash) {
		char *end;

		errno = 0;
		port = strtol(hash + 1, &end, 10);
		if (errno || end == hash + 1 || *end || port < 1 || port > 65535)
			return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in6);
		return 0;
	}
	return -EINVAL;
}

static int add_upstream(const char *arg, const char *where)
{
	if (env.px.nup == DG_MAX_UPSTREAM) {
		log_warnx("too many upstreams (at most %d): ignoring %s", DG_MAX_UPSTREAM, arg);
		return 0;
	}
	if (parse_upstream(arg, &env.px.up[env.px.nup], &env.px.uplen[env.px.nup])) {
		log_warnx("invalid upstream '%s'%s: give an IPv4 or IPv6 address, optionally "
			  "with #PORT (192.0.2.53#5353)",
			  arg, where);
		return -EINVAL;
	}
	env.px.nup++;
	return 0;
}

static int upstreams_from_resolv_conf(void)
{
	char line[512], addr[256];
	FILE *f = fopen("/etc/resolv.conf", "re");

	if (!f) {
		log_warn("failed to open /etc/resolv.conf; give --upstream ADDR");
		return -errno;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " nameserver %255s", addr) == 1)
			add_upstream(addr, " in /etc/resolv.conf"); /* a bad line is skipped */
	fclose(f);
	if (!env.px.nup) {
		log_warnx("no usable nameserver in /etc/resolv.conf; give --upstream ADDR");
		return -ENOENT;
	}
	return 0;
}

static int add_list(char opt, const char *path)
{
	if (env.list_opt && env.list_opt != opt) {
		log_warnx("-a (allowlist) and -b (blocklist) exclude each other: choose one mode");
		return -EINVAL;
	}
	if (env.nlists == (int)(sizeof(env.lists) / sizeof(env.lists[0]))) {
		log_warnx("too many policy files: merge them into fewer files");
		return -EINVAL;
	}
	env.list_opt = opt;
	env.lists[env.nlists++] = path;
	return 0;
}

static int parse_action(const char *arg)
{
	static const char *const names[] = {[PX_NXDOMAIN] = "nxdomain",
					    [PX_REFUSED] = "refused",
					    [PX_SERVFAIL] = "servfail",
					    [PX_DROP] = "drop"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(arg, names[i])) {
			env.px.action = (enum proxy_action)i;
			return 0;
		}
	}
	log_warnx("invalid --block-action '%s': use nxdomain, refused, servfail or drop", arg);
	return -EINVAL;
}

static int parse_grace(const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 0 || v > 86400) {
		log_warnx("invalid --ttl-grace '%s': give seconds, 0 to 86400", arg);
		return -EINVAL;
	}
	env.px.grace_s = (unsigned)v;
	return 0;
}

/* --cpu-max PCT, --pids-max N, --memory-max SIZE (with a K, M or G suffix: KiB, MiB, GiB). */
static int parse_limit(int c, const char *opt, const char *arg)
{
	static const unsigned long long max[CG_NCTL] = {
	    [CG_CPU] = 100000, [CG_MEMORY] = 1ULL << 50, [CG_PIDS] = 4194304};
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (c == CG_MEMORY && end != arg && end[0] && !end[1] && strchr("KkMmGg", end[0])) {
		int shift = strchr("Kk", *end) ? 10 : strchr("Mm", *end) ? 20 : 30;

		v = v > max[c] >> shift ? max[c] + 1 : v << shift; /* no wrap-around */
		end++;
	}
	if (errno || end == arg || *end || arg[0] == '-' || v == 0 || v > max[c]) {
		log_warnx(
		    "invalid --%s '%s': %s", opt, arg,
		    c == CG_CPU ? "give a percentage of one CPU, 1 to 100000 (150 = 1.5 CPUs)"
		    : c == CG_PIDS
			? "give a number of tasks, 1 to 4194304"
			: "give bytes, or a number with a K, M or G suffix (512M), at most 1P");
		return -EINVAL;
	}
	env.limit[c] = v;
	return 0;
}

static int parse_leftovers(const char *arg)
{
	if (!strcmp(arg, "leave"))
		env.leftovers = DG_LEFT_LEAVE;
	else if (!strcmp(arg, "wait"))
		env.leftovers = DG_LEFT_WAIT;
	else if (!strcmp(arg, "kill"))
		env.leftovers = DG_LEFT_KILL;
	else {
		log_warnx("invalid --leftovers '%s': use leave, wait or kill", arg);
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"blocklist", required_argument, NULL, 'b'},
	    {"allowlist", required_argument, NULL, 'a'},
	    {"strict", no_argument, NULL, 'S'},
	    {"block-action", required_argument, NULL, 'B'},
	    {"ttl-grace", required_argument, NULL, 'G'},
	    {"leftovers", required_argument, NULL, 'L'},
	    {"user", required_argument, NULL, 'u'},
	    {"kernel-headers", required_argument, NULL, 'K'},
	    {"fail-open", no_argument, NULL, 'O'},
	    {"cpu-max", required_argument, NULL, 'P'},
	    {"memory-max", required_argument, NULL, 'M'},
	    {"pids-max", required_argument, NULL, 'N'},
	    {"audit", no_argument, NULL, 'A'},
	    {"cgroup", required_argument, NULL, 'C'},
	    {"upstream", required_argument, NULL, 'U'},
	    {"log-format", required_argument, NULL, 'F'},
	    {"log", required_argument, NULL, 'o'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"dump-bpf", no_argument, NULL, 'D'},
	    {"check", no_argument, NULL, 'c'},
	    {0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "+a:b:o:vhV", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
		case 'b':
			if (add_list((char)c, optarg))
				return -EINVAL;
			break;
		case 'S':
			env.strict = true;
			break;
		case 'B':
			if (parse_action(optarg))
				return -EINVAL;
			break;
		case 'G':
			if (parse_grace(optarg))
				return -EINVAL;
			break;
		case 'L':
			if (parse_leftovers(optarg))
				return -EINVAL;
			env.leftovers_set = true;
			break;
		case 'u':
			env.user = optarg;
			break;
		case 'K':
			env.kernel_headers = optarg;
			break;
		case 'O':
			env.fail_open = true;
			break;
		case 'A':
			env.audit = true;
			break;
		case 'P':
			if (parse_limit(CG_CPU, "cpu-max", optarg))
				return -EINVAL;
			break;
		case 'M':
			if (parse_limit(CG_MEMORY, "memory-max", optarg))
				return -EINVAL;
			break;
		case 'N':
			if (parse_limit(CG_PIDS, "pids-max", optarg))
				return -EINVAL;
			break;
		case 'C':
			env.cgroup = optarg;
			break;
		case 'U':
			if (add_upstream(optarg, ""))
				return -EINVAL;
			break;
		case 'F':
			if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
				log_warnx("invalid --log-format '%s': use text or json", optarg);
				return -EINVAL;
			}
			env.log_format = optarg[0] == 'j' ? AUDIT_JSON : AUDIT_TEXT;
			break;
		case 'o':
			env.log_path = optarg;
			break;
		case 'v':
			env.verbose++;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		case 'V':
			printf("deployguard %s (libbcc %s)\n", DG_VERSION, LIBBCC_VERSION);
			exit(0);
		case 'D':
			env.dump_bpf = true;
			break;
		case 'c':
			env.check = true;
			break;
		default:
			fputs("Try 'deployguard --help'.\n", stderr);
			return -EINVAL;
		}
	}
	if (env.check && optind < argc) {
		log_warnx("--check runs no COMMAND: it only probes this host");
		return -EINVAL;
	}
	env.attach = optind >= argc && env.cgroup && !env.dump_bpf && !env.check;
	if (optind >= argc && !env.dump_bpf && !env.attach && !env.check) {
		log_warnx("no COMMAND given: deployguard [OPTIONS] -- COMMAND [ARG...], or "
			  "deployguard [OPTIONS] --cgroup PATH to guard an existing cgroup");
		return -EINVAL;
	}
	if (env.attach && (env.user || env.leftovers_set || env.fail_open)) {
		log_warnx("--user, --leftovers and --fail-open need a COMMAND: with --cgroup PATH "
			  "alone deployguard runs nothing");
		return -EINVAL;
	}
	env.command = argv + optind;
	env.px.method = env.list_opt == 'a' ? PX_ALLOWLIST : env.strict ? PX_STRICT : PX_BLOCKLIST;
	return 0;
}

/* Make (or reuse) the cgroup and open it. A relative --cgroup is taken under the mount. */
static int cgroup_setup(struct run *r)
{
	char *mnt = r->cg_mnt;
	struct statfs sfs;
	int err = cg_mount(mnt, sizeof(r->cg_mnt));

	if (err) {
		log_warnx("failed to find a cgroup2 mount in /proc/self/mounts: mount one with "
			  "'mount -t cgroup2 none /sys/fs/cgroup/unified' (needs a kernel with "
			  "cgroup v2)");
		return err;
	}
	if (!env.cgroup)
		snprintf(r->cg_path, sizeof(r->cg_path), "%s/deployguard-%d", mnt, (int)getpid());
	else if (env.cgroup[0] == '/')
		snprintf(r->cg_path, sizeof(r->cg_path), "%s", env.cgroup);
	else
		snprintf(r->cg_path, sizeof(r->cg_path), "%s/%s", mnt, env.cgroup);
	if (!env.attach && mkdir(r->cg_path, 0755) == 0)
		r->cg_created = true;
	else if (!env.attach && errno != EEXIST) {
		err = -errno;
		log_warn("failed to create cgroup %s", r->cg_path);
		return err;
	}
	r->cg_fd = open(r->cg_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->cg_fd < 0 && errno == ENOENT && env.attach) {
		log_warnx("cgroup %s does not exist: --cgroup without a COMMAND guards an existing "
			  "cgroup",
			  r->cg_path);
		return -ENOENT;
	}
	if (r->cg_fd < 0 || fstatfs(r->cg_fd, &sfs) || sfs.f_type != CGROUP2_MAGIC) {
		err = r->cg_fd < 0 ? -errno : -ENOTDIR;
		log_warnx("%s is not a cgroup v2 directory (cgroup2 is mounted at %s)", r->cg_path,
			  mnt);
		return err;
	}
	if (cg_holds_self(mnt, r->cg_path)) {
		log_warnx("deployguard itself runs in %s: guarding it would send deployguard's own "
			  "queries to itself; run deployguard from another cgroup",
			  r->cg_path);
		return -EINVAL;
	}
	log_debug("cgroup %s%s", r->cg_path, r->cg_created ? " (created)" : "");
	memcpy(r->lim.want, env.limit, sizeof(env.limit));
	return cg_limits_apply(&r->lim, mnt, r->cg_path, r->cg_created, env.attach);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *kernel_arch(void)
{
	static struct utsname u;

	uname(&u);
	if (!strcmp(u.machine, "x86_64") || (u.machine[0] == 'i' && strstr(u.machine, "86")))
		return "x86";
	if (!strcmp(u.machine, "aarch64"))
		return "arm64";
	return u.machine;
}

static bool exists(const char *fmt, const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), fmt, dir);
	return access(path, F_OK) == 0;
}

/* A header tree under /usr/src: a build dir (generated headers) and the source it includes.
 * Debian splits them: linux-headers-V-amd64 has a Makefile "include .../linux-headers-V-common/
 * Makefile". Returns 0 when dir is usable, filling src (empty when dir holds everything). */
static int header_tree(const char *dir, char *src, size_t len)
{
	char path[PATH_MAX], line[PATH_MAX + 16];
	FILE *f;

	src[0] = '\0';
	if (!exists("%s/include/generated/autoconf.h", dir))
		return -ENOENT;
	if (exists("%s/include/linux/kconfig.h", dir))
		return 0;
	snprintf(path, sizeof(path), "%s/Makefile", dir);
	f = fopen(path, "re");
	if (!f)
		return -ENOENT;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "include %4095[^\n]", path) == 1 && strstr(path, "/Makefile")) {
			*strstr(path, "/Makefile") = '\0';
			snprintf(src, len, "%s", path);
		}
	fclose(f);
	return src[0] && exists("%s/include/linux/kconfig.h", src) ? 0 : -ENOENT;
}

/* Point bcc at a header tree other than the running kernel's: BCC_KERNEL_SOURCE for the source,
 * -I for the generated headers of the build dir. The programs use only stable uapi structs. */
static int add_header_flags(struct run *r, const char *build, const char *src)
{
	static const char *const gen[] = {"%s/arch/%s/include/generated/uapi",
					  "%s/arch/%s/include/generated", "%s/include",
					  "%s/include/generated/uapi"};

	setenv("BCC_KERNEL_SOURCE", src[0] ? src : build, 1);
	if (!src[0])
		return 0;
	for (size_t i = 0; i < sizeof(gen) / sizeof(gen[0]); i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), gen[i], build, kernel_arch());
		if (asprintf(&r->cflags[r->ncflags], "-I%s", path) < 0)
			return -ENOMEM;
		r->ncflags++;
	}
	return 0;
}

static int find_headers(struct run *r)
{
	char mod[PATH_MAX], best[PATH_MAX] = "", best_src[PATH_MAX] = "", src[PATH_MAX];
	struct utsname u;
	struct dirent *de;
	DIR *d;

	if (env.kernel_headers) {
		if (header_tree(env.kernel_headers, src, sizeof(src))) {
			log_warnx(
			    "--kernel-headers %s is not a kernel header tree: it needs "
			    "include/generated/autoconf.h, and include/linux/kconfig.h there or "
			    "in the tree its Makefile includes",
			    env.kernel_headers);
			return -ENOENT;
		}
		log_debug("kernel headers: %s%s%s", env.kernel_headers, src[0] ? " with " : "",
			  src);
		snprintf(r->headers, sizeof(r->headers), "%s", env.kernel_headers);
		return add_header_flags(r, env.kernel_headers, src);
	}
	uname(&u);
	snprintf(mod, sizeof(mod), "/lib/modules/%s", u.release);
	if (exists("%s/build/include/linux/kconfig.h", mod) ||
	    exists("%s/source/include/linux/kconfig.h", mod)) {
		log_debug("kernel headers: %s", mod);
		snprintf(r->headers, sizeof(r->headers), "%s", mod);
		return 0;
	}
	if (access("/sys/kernel/kheaders.tar.xz", R_OK) == 0) {
		log_debug("kernel headers: /sys/kernel/kheaders.tar.xz");
		snprintf(r->headers, sizeof(r->headers), "/sys/kernel/kheaders.tar.xz");
		return 0;
	}
	d = opendir("/usr/src");
	while (d && (de = readdir(d))) {
		char dir[PATH_MAX];

		if (strncmp(de->d_name, "linux-headers-", 14))
			continue;
		snprintf(dir, sizeof(dir), "/usr/src/%s", de->d_name);
		if (header_tree(dir, src, sizeof(src)) == 0 && strverscmp(dir, best) > 0) {
			memcpy(best, dir, sizeof(best));
			memcpy(best_src, src, sizeof(best_src));
		}
	}
	if (d)
		closedir(d);
	if (!best[0]) {
		log_warnx("failed to find kernel headers: none in %s, /sys/kernel/kheaders.tar.xz "
			  "or /usr/src: install linux-headers-%s (on Debian any "
			  "linux-headers-amd64 serves: the programs use only stable uapi structs)",
			  mod, u.release);
		return -ENOENT;
	}
	log_info("kernel headers: %s has none, using %s%s%s", u.release, best,
		 best_src[0] ? " with " : "", best_src);
	snprintf(r->headers, sizeof(r->headers), "%s", best);
	return add_header_flags(r, best, best_src);
}

static int add_cflag(struct run *r, const char *fmt, unsigned long v)
{
	if (r->ncflags == DG_MAX_CFLAGS || asprintf(&r->cflags[r->ncflags], fmt, v) < 0)
		return -ENOMEM;
	r->ncflags++;
	return 0;
}

static size_t count_nets(const struct policy *p, int family)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nnets; i++)
		n += p->nets[i].family == family;
	return n;
}

/* fds go from a child to deployguard over a socketpair (SCM_RIGHTS): the seccomp listener of
 * COMMAND's child, the programs and maps of the compiler's child. */
static int send_fds(int sock, const int *fds, size_t n)
{
	char byte = 0;
	struct iovec iov = {&byte, 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * DG_PASS_MAX)];
	} u = {0};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = u.buf,
			   .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

/* Exactly n fds, or -1 and none (the sender failed and said why). */
static int recv_fds(int sock, int *fds, size_t n)
{
	char byte;
	struct iovec iov = {&byte, 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * DG_PASS_MAX)];
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

/* The -D constants of the BPF text (and, with --dump-bpf, the text itself). */
static int bpf_flags(struct run *r, uint16_t port, unsigned long cgid)
{
	int err = r->headers[0] ? 0 : find_headers(r);

	if (!err)
		err = add_cflag(r, "-DDG_PROXY_PORT=%lu", port);
	if (!err)
		err = add_cflag(r, "-DDG_AUDIT=%lu", env.audit);
	if (!err)
		err = add_cflag(r, "-DDG_DENY_UNKNOWN=%lu", env.px.method != PX_BLOCKLIST);
	if (!err)
		err = add_cflag(r, "-DDG_NETS_ALLOW=%lu", env.px.method == PX_ALLOWLIST);
	r->nets_max[0] = count_nets(&r->pol, AF_INET) + DG_NETS_SPARE;
	r->nets_max[1] = count_nets(&r->pol, AF_INET6) + DG_NETS_SPARE;
	if (!err)
		err = add_cflag(r, "-DDG_NNETS4=%lu", r->nets_max[0]);
	if (!err)
		err = add_cflag(r, "-DDG_NNETS6=%lu", r->nets_max[1]);
	if (!err)
		err = add_cflag(r, "-DDG_CGROUP_ID=%luULL", cgid);
	if (!err)
		err = add_cflag(r, "-DDG_SOCK_OWNER=%lu", probe_has(PROBE_SOCK_OWNER));
	if (err || !env.dump_bpf)
		return err;
	if (getenv("BCC_KERNEL_SOURCE"))
		printf("// env: BCC_KERNEL_SOURCE=%s\n", getenv("BCC_KERNEL_SOURCE"));
	for (int i = 0; i < r->ncflags; i++)
		printf("// cflag: %s\n", r->cflags[i]);
	fputs(dg_bpf_text, stdout);
	return 0;
}

/* libbcc, opened by the compiler's child only (see bpf_build). */
static struct {
	__typeof__(bpf_module_create_c_from_string) *create;
	__typeof__(bpf_function_start) *start;
	__typeof__(bpf_function_size) *size;
	__typeof__(bpf_module_license) *license;
	__typeof__(bpf_module_kern_version) *kern_version;
	__typeof__(bcc_func_load) *load;
	__typeof__(bpf_table_fd) *table_fd;
} bcc;

static int bcc_open(void)
{
	static const char *const names[] = {"bpf_module_create_c_from_string",
					    "bpf_function_start",
					    "bpf_function_size",
					    "bpf_module_license",
					    "bpf_module_kern_version",
					    "bcc_func_load",
					    "bpf_table_fd"};
	void **sym = (void **)&bcc; /* filled in the order of names */
	void *h = dlopen(DG_LIBBCC, RTLD_NOW | RTLD_LOCAL);

	_Static_assert(sizeof(bcc) == sizeof(names) / sizeof(names[0]) * sizeof(void *),
		       "one name per function of struct bcc");

	if (!h) {
		log_warnx("failed to open libbcc: %s: install libbpfcc (apt-get install libbpfcc)",
			  dlerror());
		return -ENOENT;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!(sym[i] = dlsym(h, names[i]))) {
			log_warnx("failed to find %s in %s: libbcc %s or newer is needed", names[i],
				  DG_LIBBCC, LIBBCC_VERSION);
			return -ENOENT;
		}
	return 0;
}

static int bpf_load(void *mod, int *prog_fd)
{
	static char log_buf[LOG_BUF_SIZE];

	for (size_t i = 0; i < DG_NPROGS; i++) {
		const struct dg_prog *p = &dg_progs[i];
		void *insns = bcc.start(mod, p->name);

		if (!insns) {
			log_warnx("failed to find %s in the compiled BPF text", p->name);
			return -ENOENT;
		}
		prog_fd[i] = bcc.load(mod, p->type, p->name, insns, (int)bcc.size(mod, p->name),
				      bcc.license(mod), bcc.kern_version(mod), env.verbose >= 3,
				      log_buf, sizeof(log_buf), NULL, p->tp ? -1 : (int)p->attach);
		if (prog_fd[i] < 0) {
			log_warnx("failed to load %s: %s (verifier log above)", p->name,
				  strerror(-prog_fd[i]));
			return prog_fd[i];
		}
	}
	return 0;
}

/* The compiler's child: compile, load, send the program and map fds, exit with the step that
 * failed. */
static int bpf_build_child(struct run *r, int sock)
{
	int fds[DG_NPROGS + DG_NMAPS];
	void *mod;

	if (bcc_open())
		return BUILD_COMPILE;
	mod = bcc.create(dg_bpf_text, 0, (const char **)r->cflags, r->ncflags, true, NULL);
	if (!mod) {
		log_warnx("failed to compile the BPF programs (clang's messages are above)");
		return BUILD_COMPILE;
	}
	if (bpf_load(mod, fds))
		return BUILD_LOAD;
	for (size_t i = 0; i < DG_NMAPS; i++)
		if ((fds[DG_NPROGS + i] = bcc.table_fd(mod, dg_maps[i])) < 0) {
			log_warnx("failed to find map %s in the compiled BPF text", dg_maps[i]);
			return BUILD_LOAD;
		}
	return send_fds(sock, fds, DG_NPROGS + DG_NMAPS) ? BUILD_LOAD : BUILD_OK;
}

/* libbcc brings LLVM and clang: 60 MiB resident from the moment they are mapped, more while
 * compiling. So a short-lived child maps them, compiles and loads, and passes back the fds of
 * the programs and maps; deployguard itself stays small for the whole run. */
static int bpf_build(struct run *r, int *failed)
{
	int sv[2], fds[DG_NPROGS + DG_NMAPS], st = 0, err = 0;
	pid_t pid;

	*failed = BUILD_COMPILE;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	fflush(NULL);
	if ((pid = fork()) < 0)
		err = -errno;
	if (pid == 0) {
		close(sv[0]);
		_exit(bpf_build_child(r, sv[1]));
	}
	close(sv[1]);
	if (pid > 0 && recv_fds(sv[0], fds, DG_NPROGS + DG_NMAPS) == 0) {
		memcpy(r->prog_fd, fds, sizeof(r->prog_fd));
		memcpy(r->map_fd, fds + DG_NPROGS, sizeof(r->map_fd));
	}
	close(sv[0]);
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	unsetenv("BCC_KERNEL_SOURCE"); /* COMMAND inherits our environment */
	if (pid < 0) {
		log_warnx("failed to fork the BPF compiler: %s", strerror(-err));
		return err;
	}
	if (WIFSIGNALED(st)) {
		log_warnx("the BPF compiler (pid %d) was killed by signal %d (%s)", pid,
			  WTERMSIG(st), strsignal(WTERMSIG(st)));
		return -EINVAL;
	}
	*failed = WEXITSTATUS(st);
	return *failed == BUILD_OK && r->map_fd[0] >= 0 ? 0 : -EINVAL;
}

/* Links (and raw tracepoint fds) detach by themselves when deployguard exits, however it exits
 * (5.7+); older kernels get a cgroup multi-attach that cleanup() detaches. */
static int bpf_attach(struct run *r)
{
	for (size_t i = 0; i < DG_NPROGS; i++) {
		int fd = dg_progs[i].tp
			     ? bpf_raw_tracepoint_open(dg_progs[i].tp, r->prog_fd[i])
			     : bpf_link_create(r->prog_fd[i], r->cg_fd, dg_progs[i].attach, NULL);

		if (fd < 0 && !dg_progs[i].tp && (fd == -EINVAL || fd == -EOPNOTSUPP)) {
			fd = bpf_prog_attach(r->prog_fd[i], r->cg_fd, dg_progs[i].attach,
					     BPF_F_ALLOW_MULTI);
			r->legacy_attach[i] = fd == 0;
		}
		if (fd < 0) {
			log_warnx("failed to attach %s to %s: %s", dg_progs[i].name, r->cg_path,
				  strerror(-fd));
			return fd;
		}
		r->link_fd[i] = r->legacy_attach[i] ? -1 : fd;
	}
	return 0;
}

/* Sockets made before deployguard attached (attach mode) have no owner in dg_socks, and the
 * egress program cannot ask for the current task before 6.10: note the owner of every socket the
 * cgroup's processes hold now, through a copy of its fd (pidfd_getfd, 5.6+). Sockets made from
 * now on are noted by the programs. Best effort: a process that is gone or a socket that is not
 * an inet one is skipped. */
static void own_socket(int map_fd, pid_t pid, int pidfd, const char *name)
{
	struct dg_orig o = {.pid = (uint32_t)pid};
	char path[64], link[64];
	ssize_t n;
	int fd, cfd;

	snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0 || strncmp(link, "socket:", 7))
		return;
	fd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(name), 0);
	if (fd < 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if ((cfd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(cfd, o.comm, sizeof(o.comm) - 1);
		if (n > 0 && o.comm[n - 1] == '\n')
			o.comm[n - 1] = '\0';
		close(cfd);
	}
	if (bpf_map_update_elem(map_fd, &fd, &o, BPF_NOEXIST) == 0)
		log_debug("socket fd %s of pid %d: owner noted", name, pid);
	close(fd);
}

static void own_sockets(int map_fd, const char *cg, int depth)
{
	char path[PATH_MAX];
	struct dirent *de;
	FILE *f;
	DIR *d;
	int pid;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	for (f = fopen(path, "re"); f && fscanf(f, "%d", &pid) == 1;) {
		int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		d = pidfd < 0 ? NULL : opendir(path);
		while (d && (de = readdir(d)))
			if (de->d_name[0] != '.')
				own_socket(map_fd, pid, pidfd, de->d_name);
		if (d)
			closedir(d);
		if (pidfd >= 0)
			close(pidfd);
	}
	if (f)
		fclose(f);
	d = depth < 32 ? opendir(cg) : NULL; /* nested cgroups run the same programs */
	while (d && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", cg, de->d_name);
		own_sockets(map_fd, path, depth + 1);
	}
	if (d)
		closedir(d);
}

struct dg_lpm {
	uint32_t prefixlen;
	uint8_t addr[16];
};

/* Address rules go into LPM tries; the value is the rule's index, for rule=FILE:LINE. */
static int fill_nets(struct run *r, const struct policy *pol)
{
	int fd4 = r->map_fd[M_NETS4], fd6 = r->map_fd[M_NETS6];

	for (size_t i = 0; i < pol->nnets; i++) {
		const struct policy_net *n = &pol->nets[i];
		struct dg_lpm key = {n->prefix, {0}};
		uint32_t idx = (uint32_t)i;
		int err;

		memcpy(key.addr, n->addr, n->family == AF_INET ? 4 : 16);
		err = bpf_map_update_elem(n->family == AF_INET ? fd4 : fd6, &key, &idx, BPF_ANY);
		if (err) {
			log_warnx("failed to add address rule %zu to the kernel: %s", i,
				  strerror(-err));
			return err;
		}
	}
	return 0;
}

/* After fill_nets(pol): remove the rules pol no longer has. */
static void prune_nets(struct run *r, const struct policy *pol)
{
	static struct dg_lpm stale[4096];

	for (int v6 = 0; v6 < 2; v6++) {
		int fd = r->map_fd[v6 ? M_NETS6 : M_NETS4];
		size_t alen = v6 ? 16 : 4, n;
		struct dg_lpm key, next;
		void *at;

		do { /* in rounds: a trie's next key after a deleted one starts over */
			for (n = 0, at = NULL; n < 4096 && !bpf_map_get_next_key(fd, at, &next);) {
				const struct policy_net *pn;
				uint32_t idx;

				key = next;
				at = &key;
				pn = !bpf_map_lookup_elem(fd, &key, &idx) && idx < pol->nnets
					 ? &pol->nets[idx]
					 : NULL;
				if (!pn || pn->family != (v6 ? AF_INET6 : AF_INET) ||
				    pn->prefix != key.prefixlen || memcmp(pn->addr, key.addr, alen))
					stale[n++] = key;
			}
			for (size_t i = 0; i < n; i++)
				bpf_map_delete_elem(fd, &stale[i]);
		} while (n == 4096);
	}
}

/* The log line for a refusal the kernel reported. */
static void log_refusal(const struct run *r, const struct dg_event *ev, const char *cmd)
{
	static const char *const reasons[] = {
	    [DG_R_RULE] = "FromConnect",     [DG_R_LEARNED] = "AddressOfBlockedName",
	    [DG_R_UNKNOWN] = "NotAllowed",   [DG_R_DOT] = "DNSOverTLS",
	    [DG_R_BYPASS] = "BypassedProxy", [DG_R_RAW] = "RawSocket"};
	struct audit_event e = {.level = "WARN",
				.event = "IP BLOCKED",
				.blocked = !env.audit,
				.blocked_at = ev->type == DG_EV_EGRESS ? "egress" : "connect",
				.pid = ev->pid ? (long)ev->pid : -1,
				.cmd = ev->pid ? cmd : NULL,
				.port = -1,
				.method = proxy_method_name(env.px.method)};
	char ip[INET6_ADDRSTRLEN], rule[300];
	struct policy_src src;

	e.reason = ev->reason < sizeof(reasons) / sizeof(reasons[0]) && reasons[ev->reason]
		       ? reasons[ev->reason]
		       : "Unknown";
	if (ev->type == DG_EV_SOCKET) {
		e.event = "SOCKET BLOCKED";
		e.blocked_at = "socket";
	} else {
		inet_ntop((int)ev->family, ev->addr, ip, sizeof(ip));
		e.ip = ip;
		e.port = ntohs((uint16_t)ev->port);
	}
	if (ev->reason == DG_R_BYPASS)
		e.event = "DNS BLOCKED";
	if (ev->reason == DG_R_RULE && ev->rule < r->pol.nnets) {
		policy_src_of_net(&r->pol, ev->rule, &src);
		snprintf(rule, sizeof(rule), "%s:%u", src.file, src.line);
		e.rule = rule;
	}
	e.domain = ev->name ? proxy_learned_name(r->proxy, ev->name) : NULL;
	audit_log(&e);
}

/* A packet the egress backstop drops comes again with every retransmission, which carries no
 * pid: log a destination once a second, and again only for another process. */
static bool repeated(const struct dg_event *ev)
{
	static struct dg_event last;
	static uint64_t last_ms;
	uint64_t now = mono_ms();

	if (ev->type != DG_EV_EGRESS)
		return false;
	if (now - last_ms < 1000 && (!ev->pid || last.pid == ev->pid) && last.port == ev->port &&
	    last.reason == ev->reason && !memcmp(last.addr, ev->addr, sizeof(last.addr)))
		return true;
	last = *ev;
	last_ms = now;
	return false;
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct run *r = ctx;
	const struct dg_event *ev = data;
	char ip[INET6_ADDRSTRLEN], cmd[DG_CMD_MAX], what[INET6_ADDRSTRLEN + 8];
	enum audit_verdict v = env.audit ? AUDIT_WOULD_BLOCK : AUDIT_BLOCKED;

	if (size < sizeof(*ev))
		return 0;
	audit_cmdline((pid_t)ev->pid, cmd, sizeof(cmd)); /* at exec: caches it for later events */
	if (ev->type == DG_EV_EXEC) {
		log_debug("exec pid %u: %.200s", ev->pid, cmd);
		return 0;
	}
	if (!cmd[0])
		snprintf(cmd, sizeof(cmd), "[%.16s]", ev->comm);
	if (repeated(ev))
		return 0;
	log_refusal(r, ev, cmd);
	if (ev->type == DG_EV_SOCKET) {
		snprintf(what, sizeof(what), "raw %s proto %u",
			 ev->family == AF_INET6 ? "IPv6" : "IPv4", ev->proto);
		audit_count("socket", what, v, ev->pid ? cmd : NULL);
		return 0;
	}
	inet_ntop((int)ev->family, ev->addr, ip, sizeof(ip));
	snprintf(what, sizeof(what), ev->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
		 ntohs((uint16_t)ev->port));
	audit_count("connect", what, v, ev->pid ? cmd : NULL);
	return 0;
}

/* Packet sockets (AF_PACKET) write below IP, where no cgroup hook looks. The child installs a
 * seccomp filter before exec that hands each socket(AF_PACKET, ...) to deployguard as a user
 * notification (5.5+); deployguard logs it and fails it with EPERM, or lets it go on in audit
 * mode. COMMAND and everything it starts inherit the filter and cannot remove it; should
 * deployguard die, the call fails with ENOSYS. 32-bit programs get the same for socket(2), and
 * their socketcall(SYS_SOCKET), whose arguments a filter cannot read, is refused outright. */
#if defined(__x86_64__)
#define DG_ARCH		     AUDIT_ARCH_X86_64
#define DG_NR_SOCKET_X32     (41 | 0x40000000) /* __X32_SYSCALL_BIT */
#define DG_COMPAT_ARCH	     AUDIT_ARCH_I386
#define DG_COMPAT_SOCKET     359
#define DG_COMPAT_SOCKETCALL 102
#elif defined(__aarch64__)
#define DG_ARCH		     AUDIT_ARCH_AARCH64
#define DG_NR_SOCKET_X32     __NR_socket
#define DG_COMPAT_ARCH	     AUDIT_ARCH_ARM
#define DG_COMPAT_SOCKET     281
#define DG_COMPAT_SOCKETCALL 102
#else
#error "deployguard: add this architecture's system call numbers to the seccomp filter"
#endif
#define DG_ARG0 (offsetof(struct seccomp_data, args) + (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) * 4)

#define DG_NOTIF_MAX 512

/* User notification exists (5.0+; continuing a call 5.5+) and its structs fit our buffers. */
static int notify_sizes(void)
{
	struct seccomp_notif_sizes sz;

	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz)) {
		log_warn("failed to query seccomp user notification (needs Linux 5.5)");
		return -errno;
	}
	if (sz.seccomp_notif > DG_NOTIF_MAX || sz.seccomp_notif_resp > DG_NOTIF_MAX) {
		log_warnx("seccomp notification structs of %u bytes: rebuild deployguard",
			  sz.seccomp_notif);
		return -EINVAL;
	}
	return 0;
}

static int install_filter(void)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DG_ARCH, 0, 4),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 6, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DG_NR_SOCKET_X32, 5, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DG_COMPAT_ARCH, 0, 7),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DG_COMPAT_SOCKET, 1, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DG_COMPAT_SOCKETCALL, 2, 3),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, DG_ARG0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_PACKET, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS), /* no other ABI exists */
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	/* SPEC_ALLOW: the filter refuses packet sockets, it does not fence off secrets. Without it
	 * a host whose SSB mitigation is "prctl and seccomp" (the kernel's default) runs the whole
	 * deploy with speculative store bypass disabled, and slower. */
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			    SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_SPEC_ALLOW,
			    &prog);
}

/* A call the filter handed over: log it, then refuse it (or, in audit mode, let it go on). */
static void on_notify(struct run *r)
{
	union {
		struct seccomp_notif n;
		char pad[DG_NOTIF_MAX]; /* the kernel's may be larger than ours: see notify_sizes */
	} req = {0};
	union {
		struct seccomp_notif_resp r;
		char pad[DG_NOTIF_MAX];
	} resp = {0};
	char cmd[DG_CMD_MAX];
	bool socketcall;
	struct audit_event e = {.level = "WARN",
				.event = "SOCKET BLOCKED",
				.blocked = !env.audit,
				.blocked_at = "socket",
				.port = -1,
				.method = proxy_method_name(env.px.method)};

	if (ioctl(r->notify_fd, SECCOMP_IOCTL_NOTIF_RECV, &req.n))
		return; /* the caller is gone (ENOENT), or a signal interrupted it */
	socketcall = req.n.data.arch == DG_COMPAT_ARCH && req.n.data.nr == DG_COMPAT_SOCKETCALL;
	resp.r.id = req.n.id;
	if (socketcall && req.n.data.args[0] != 1 /* SYS_SOCKET */) {
		resp.r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	} else {
		audit_cmdline((pid_t)req.n.pid, cmd, sizeof(cmd));
		e.reason = socketcall ? "LegacySocketCall" : "PacketSocket";
		e.pid = req.n.pid;
		e.cmd = cmd;
		audit_log(&e);
		audit_count("socket", socketcall ? "socketcall" : "packet",
			    env.audit ? AUDIT_WOULD_BLOCK : AUDIT_BLOCKED, cmd);
		if (env.audit)
			resp.r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		else
			resp.r.error = -EPERM;
	}
	if (ioctl(r->notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &resp.r) && errno != ENOENT)
		log_warn("failed to answer a seccomp notification");
}

static void say(const char *a, const char *b, const char *c)
{
	/* After fork only async-signal-safe calls: write(2), not stdio. */
	struct part {
		const char *s;
	} parts[] = {{"deployguard: "}, {a}, {b}, {c}, {"\n"}};

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (write(2, parts[i].s, strlen(parts[i].s)) < 0)
			return;
}

/* The child joins the cgroup before exec, so COMMAND never runs a single instruction unguarded. */
/* Become --user if given, then COMMAND; on failure exit 125, 126 or 127 (env(1) codes). Only
 * async-signal-safe calls: it runs in a forked child. */
static void exec_command(const struct run *r)
{
	int err;

	if (env.user &&
	    (setgroups((size_t)r->ngroups, r->groups) || setgid(r->gid) || setuid(r->uid))) {
		say("failed to become --user ", env.user, ": COMMAND not run");
		_exit(DG_EXIT_FAIL);
	}
	execvp(env.command[0], env.command);
	err = errno;
	say("failed to run ", env.command[0],
	    err == ENOENT ? ": command not found" : ": not executable");
	_exit(err == ENOENT ? DG_EXIT_NOTFOUND : DG_EXIT_CANNOT);
}

static void child(const struct run *r, const sigset_t *mask)
{
	char procs[PATH_MAX];
	int fd;

	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", r->cg_path);
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1) {
		say("failed to join cgroup ", r->cg_path, ": COMMAND not run");
		_exit(DG_EXIT_FAIL);
	}
	close(fd);
	if (cg_limits_join(&r->lim)) {
		say("failed to join the cgroup v1 directories of the limits", "",
		    ": COMMAND not run");
		_exit(DG_EXIT_FAIL);
	}
	fd = install_filter();
	if (fd < 0 || send_fds(r->notify_sock[1], &fd, 1)) {
		say("failed to install the seccomp filter", "", ": COMMAND not run");
		_exit(DG_EXIT_FAIL);
	}
	close(fd);
	exec_command(r);
}

/* A signal for deployguard: SIGCHLD reaps COMMAND (returns 1 when it is gone); the others are
 * passed on to COMMAND, which decides how to end. */
static int on_signal(struct run *r, int *status)
{
	struct signalfd_siginfo si;
	int st;

	while (read(r->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo != SIGCHLD) {
			log_debug("passing signal %u to COMMAND", si.ssi_signo);
			kill(r->child, (int)si.ssi_signo);
			continue;
		}
		if (waitpid(r->child, &st, WNOHANG) == r->child) {
			*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			return 1;
		}
	}
	return 0;
}

/* While waiting for leftovers: SIGINT or SIGTERM ends the wait (they are left, unguarded). */
static bool drain_signals(struct run *r)
{
	struct signalfd_siginfo si;
	bool stop = false;

	while (read(r->sig_fd, &si, sizeof(si)) == sizeof(si))
		stop |= si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM;
	return stop;
}

/* One turn of the poll loop: kernel events, seccomp notifications, the proxy. Returns 1 when a
 * signal waits in the signalfd, 0, or -errno. */
static int turn(struct run *r, int timeout)
{
	struct pollfd pfd[4 + PROXY_MAX_FDS];
	int n;

	pfd[0] = (struct pollfd){.fd = r->sig_fd, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = ring_buffer__epoll_fd(r->rb), .events = POLLIN};
	pfd[2] = (struct pollfd){.fd = r->notify_fd, .events = POLLIN}; /* -1: ignored */
	pfd[3] = (struct pollfd){.fd = r->events_fd, .events = POLLPRI};
	n = proxy_prepare(r->proxy, pfd + 4, (int)(sizeof(pfd) / sizeof(pfd[0])) - 4, &timeout);
	if (poll(pfd, (nfds_t)n + 4, timeout) < 0) {
		if (errno == EINTR)
			return 0;
		log_warn("poll failed");
		return -errno;
	}
	if (pfd[1].revents)
		ring_buffer__consume(r->rb);
	if (pfd[2].revents)
		on_notify(r);
	proxy_dispatch(r->proxy, pfd + 4, n);
	audit_flush(); /* once a turn, not once a line */
	return pfd[0].revents != 0;
}

/* Guard until COMMAND exits, and with --leftovers wait until the cgroup is empty (or a signal
 * says to stop waiting). */
static int run_loop(struct run *r, int *status)
{
	bool waiting = false;

	for (;;) {
		int rc = turn(r, waiting ? 1000 : -1);

		if (rc < 0)
			return rc;
		if (waiting && (rc ? drain_signals(r) : !cg_populated(r->cg_path)))
			break;
		if (!waiting && rc && on_signal(r, status)) {
			if (env.leftovers != DG_LEFT_WAIT ||
			    !cg_report(r->cg_path, "COMMAND exited; guarding until it exits too"))
				break;
			waiting = true;
			r->events_fd = cg_events_fd(r->cg_path);
		}
	}
	ring_buffer__consume(r->rb); /* the last events of the run */
	return 0;
}

/* The addresses of blocked names should be known before COMMAND can pin one: resolve the names
 * first, for at most DG_WARMUP_MS, so that a dead upstream cannot hold up the deploy. */
static void warm_up(struct run *r)
{
	uint64_t end = mono_ms() + DG_WARMUP_MS, now;

	while (proxy_watch_pending(r->proxy) && (now = mono_ms()) < end)
		if (turn(r, (int)(end - now)))
			return; /* a signal: main finds it pending */
	if (proxy_watch_pending(r->proxy))
		log_info(
		    "%zu blocked names not resolved yet: their addresses are refused once they "
		    "are",
		    proxy_watch_pending(r->proxy));
}

/* Processes COMMAND left in the cgroup: reported, then moved to the parent cgroup so that the
 * cgroup can go (leave; they run on unguarded), or killed. With wait, run_loop waited for them. */
static void handle_leftovers(const struct run *r)
{
	if (env.leftovers == DG_LEFT_KILL) {
		if (!cg_report(r->cg_path, "left behind by COMMAND, killing it"))
			return;
		if (cg_kill(r->cg_path) || cg_wait_empty(r->cg_path, 5000))
			log_warnx("failed to kill every process left in %s", r->cg_path);
		return;
	}
	if (!cg_report(r->cg_path, r->cg_created ? "left behind by COMMAND, now unguarded in the "
						   "parent cgroup"
						 : "left behind by COMMAND, now unguarded"))
		return;
	if (r->cg_created)
		cg_move_to_parent(r->cg_path);
}

static void cleanup(struct run *r)
{
	if (r->child > 0 || env.attach)
		cg_limits_report(&r->lim);
	if (r->child > 0)
		handle_leftovers(r);
	cg_watchdog_release(r->watchdog_fd, r->watchdog); /* what remains may now run unguarded */
	for (size_t i = DG_NPROGS; i-- > 0;) {
		if (r->link_fd[i] >= 0)
			close(r->link_fd[i]);
		if (r->legacy_attach[i] && !dg_progs[i].tp)
			bpf_prog_detach2(r->prog_fd[i], r->cg_fd, dg_progs[i].attach);
		if (r->prog_fd[i] >= 0)
			close(r->prog_fd[i]);
	}
	ring_buffer__free(r->rb);
	for (size_t i = 0; i < DG_NMAPS; i++)
		if (r->map_fd[i] >= 0)
			close(r->map_fd[i]);
	proxy_close(r->proxy);
	if (r->sig_fd >= 0)
		close(r->sig_fd);
	for (int i = 0; i < 2; i++)
		if (r->notify_sock[i] >= 0)
			close(r->notify_sock[i]);
	if (r->notify_fd >= 0)
		close(r->notify_fd);
	if (r->cg_fd >= 0)
		close(r->cg_fd);
	if (r->events_fd >= 0)
		close(r->events_fd);
	if (r->cg_created && rmdir(r->cg_path))
		log_warn("failed to remove cgroup %s", r->cg_path);
	cg_limits_release(&r->lim);
	for (int i = 0; i < r->ncflags; i++)
		free(r->cflags[i]);
	policy_free(&r->pol);
	audit_free();
	audit_init(NULL, env.log_format, env.verbose); /* later lines go to stderr */
	if (r->log)
		fclose(r->log);
	r->log = NULL;
}

/* Read every policy file into pol; on a bad file say which line, after what. */
static int load_policy(struct policy *pol, const char *what)
{
	char err[1024];

	for (int i = 0; i < env.nlists; i++) {
		if (policy_load(pol, env.lists[i], err, sizeof(err))) {
			log_warnx("%s%s", what, err);
			return -EINVAL;
		}
	}
	log_debug("policy: %zu names, %zu addresses", pol->nnames, pol->nnets);
	return 0;
}

/* SIGHUP in attach mode: read the policy files again, all or nothing. A file that fails to load
 * leaves the running policy as it was. The kernel's address rules are the union of both for the
 * moment between fill_nets() and prune_nets(). */
static void reload_policy(struct run *r)
{
	struct policy np = {0}, old;

	if (load_policy(&np, "policy reload failed, keeping the policy in force: ")) {
		policy_free(&np);
		return;
	}
	if (count_nets(&np, AF_INET) > r->nets_max[0] ||
	    count_nets(&np, AF_INET6) > r->nets_max[1]) {
		log_warnx(
		    "policy reload failed, keeping the policy in force: this run holds at "
		    "most %zu IPv4 and %zu IPv6 address rules; restart deployguard to load it",
		    r->nets_max[0], r->nets_max[1]);
		policy_free(&np);
		return;
	}
	ring_buffer__consume(r->rb); /* pending events name rules of the old policy */
	if (fill_nets(r, &np)) {
		log_warnx("policy reload failed, keeping the policy in force");
		prune_nets(r, &r->pol);
		fill_nets(r, &r->pol);
		policy_free(&np);
		return;
	}
	old = r->pol;
	r->pol = np; /* the proxy reads the policy through &r->pol */
	prune_nets(r, &r->pol);
	proxy_policy_changed(r->proxy);
	policy_free(&old);
	log_info("policy reloaded: %zu names, %zu addresses", r->pol.nnames, r->pol.nnets);
}

/* --user: a name or uid from the passwd database, with that user's groups. COMMAND also gets
 * the user's HOME, USER and LOGNAME, as from runuser(1). */
static int resolve_user(struct run *r)
{
	struct passwd *pw = getpwnam(env.user);
	char *end;
	long id;

	errno = 0;
	id = strtol(env.user, &end, 10);
	if (!pw && !errno && end != env.user && !*end && id >= 0)
		pw = getpwuid((uid_t)id);
	if (!pw) {
		log_warnx("unknown --user '%s': give a user name or uid from the passwd database",
			  env.user);
		return -EINVAL;
	}
	r->uid = pw->pw_uid;
	r->gid = pw->pw_gid;
	r->ngroups = (int)(sizeof(r->groups) / sizeof(r->groups[0]));
	if (getgrouplist(pw->pw_name, pw->pw_gid, r->groups, &r->ngroups) < 0) {
		log_warnx("user %s is in more than %zu groups", pw->pw_name,
			  sizeof(r->groups) / sizeof(r->groups[0]));
		return -E2BIG;
	}
	if (setenv("HOME", pw->pw_dir, 1) || setenv("USER", pw->pw_name, 1) ||
	    setenv("LOGNAME", pw->pw_name, 1))
		return -errno;
	return 0;
}

/* Attach mode: guard the cgroup's processes, those in it now and those to come, until SIGINT
 * or SIGTERM; SIGHUP reloads the policy. They run on, unguarded, once deployguard detaches. */
static int attach_loop(struct run *r)
{
	struct signalfd_siginfo si;
	bool stop = false;

	log_info("guarding %s until SIGINT or SIGTERM; SIGHUP reloads the policy", r->cg_path);
	while (!stop) {
		int rc = turn(r, -1);

		if (rc < 0)
			return rc;
		while (rc && read(r->sig_fd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP)
				reload_policy(r);
			else
				stop |= si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM;
		}
	}
	ring_buffer__consume(r->rb);
	log_info("detached from %s; its processes run on, unguarded", r->cg_path);
	return 0;
}

/* Everything up to a guarded cgroup with the proxy listening; nothing of COMMAND runs yet. */
static int setup(struct run *r)
{
	struct stat st; /* a cgroup2 directory's inode number is its cgroup id */
	uint16_t port;
	int err, failed;

	if ((err = load_policy(&r->pol, "")) || (env.user && (err = resolve_user(r))))
		return err;
	if (env.log_path && !(r->log = fopen(env.log_path, "ae"))) {
		err = -errno;
		log_warn("failed to open log file %s", env.log_path);
		return err;
	}
	audit_init(r->log, env.log_format, env.verbose);
	if (!env.px.nup && !env.dump_bpf && (err = upstreams_from_resolv_conf()))
		return err;
	/* The input is good; from here on a failure is the host's, which --fail-open may pass. */
	r->host_stage = true;
	probe_begin(false);
	if (!env.dump_bpf &&
	    probe_host(cg_mount(r->cg_mnt, sizeof(r->cg_mnt)) ? NULL : r->cg_mnt)) {
		log_warnx(
		    "this host cannot run a guarded COMMAND (see above); 'deployguard --check' "
		    "lists every probe");
		return -ENOTSUP;
	}
	if ((err = notify_sizes()))
		return err;
	env.px.pol = &r->pol;
	env.px.audit = env.audit;
	if ((err = proxy_open(&r->proxy, &env.px, &port))) {
		log_warnx("failed to open the DNS proxy on 127.0.0.1: %s", strerror(-err));
		return err;
	}
	st.st_ino = 0; /* --dump-bpf needs no cgroup */
	if (!env.dump_bpf && ((err = cgroup_setup(r)) || fstat(r->cg_fd, &st))) {
		err = err ? err : -errno;
		return err;
	}
	if (!env.dump_bpf)
		probe_cgroup_kill(r->cg_path);
	cg_kill_file = probe_has(PROBE_CGROUP_KILL);
	if ((err = bpf_flags(r, port, (unsigned long)st.st_ino)) || env.dump_bpf)
		return err;
	if ((err = bpf_build(r, &failed)) || (err = fill_nets(r, &r->pol)))
		return err;
	r->rb = ring_buffer__new(r->map_fd[M_EVENTS], on_event, r, NULL);
	if (!r->rb) {
		log_warn("failed to open the BPF ring buffer");
		return -EINVAL;
	}
	/* The proxy names the sender of each query and teaches the kernel addresses; the maps
	 * exist only now. */
	proxy_set_maps(r->proxy, r->map_fd[M_QUERIES], r->map_fd[M_LEARN4], r->map_fd[M_LEARN6]);
	proxy_watch_policy(r->proxy);
	if ((err = bpf_attach(r)))
		return err;
	if (probe_has(PROBE_PIDFD_GETFD))
		own_sockets(r->map_fd[M_SOCKS], r->cg_path, 0);
	log_debug("guarding %s, DNS proxy on port %u", r->cg_path, port);
	return 0;
}

/* deployguard --check: the probes, then the real thing on a scratch cgroup: compile, load and
 * attach every program, and take them off again. 0 when a guarded run would work, else 1. */
static int check(struct run *r)
{
	static const char *const ctl[CG_NCTL] = {"cpu", "memory", "pids"};
	char detail[PATH_MAX + 128];
	struct stat st;
	bool legacy = false;
	int err, failed = BUILD_COMPILE;

	probe_begin(true);
	if (probe_host(cg_mount(r->cg_mnt, sizeof(r->cg_mnt)) ? NULL : r->cg_mnt))
		return 1;
	err = notify_sizes();
	probe_row("seccomp user notification", err, err ? "needs Linux 5.5 (see above)" : "works");
	for (int c = 0; c < CG_NCTL; c++) {
		bool ok = cg_limit_where(r->cg_mnt, c, detail, sizeof(detail)) == 0;

		snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail),
			 " (for --%s-max)", ctl[c]);
		probe_note(ctl[c], ok ? "ok" : "absent", detail);
	}
	err = find_headers(r);
	probe_row("kernel headers", err, err ? "see above" : r->headers);
	if (err || (err = cgroup_setup(r)) || fstat(r->cg_fd, &st))
		return 1;
	probe_cgroup_kill(r->cg_path);
	err = bpf_flags(r, 53, (unsigned long)st.st_ino);
	if (!err)
		err = bpf_build(r, &failed);
	snprintf(detail, sizeof(detail), "%zu programs, libbcc %s", DG_NPROGS, LIBBCC_VERSION);
	probe_row("compile", err && failed != BUILD_LOAD, err ? "see above" : detail);
	if (!err || failed == BUILD_LOAD)
		probe_row("load", err, err ? "see above" : "every program passes the verifier");
	if (!err) {
		err = bpf_attach(r);
		for (size_t i = 0; i < DG_NPROGS; i++)
			legacy |= r->legacy_attach[i];
		probe_row("attach to a cgroup", err,
			  err	   ? "see above"
			  : legacy ? "with bpf_prog_attach (no BPF links before Linux 5.7: a "
				     "deployguard killed by SIGKILL leaves them attached)"
				   : "with BPF links, which detach when deployguard exits");
	}
	return probe_failures() ? 1 : 0;
}

/* --fail-open: the guard could not be set up (cleanup() has undone what was), so COMMAND runs
 * in deployguard's place, unguarded, after a warning no one can miss. */
static void run_unguarded(const struct run *r, const sigset_t *mask)
{
	log_warnx("WARNING: the guard could not be set up (see above); --fail-open: running "
		  "COMMAND UNGUARDED, nothing is blocked or logged");
	sigprocmask(SIG_SETMASK, mask, NULL);
	signal(SIGPIPE, SIG_DFL);
	exec_command(r);
}

int main(int argc, char **argv)
{
	struct run r = {.cg_fd = -1,
			.sig_fd = -1,
			.notify_sock = {-1, -1},
			.notify_fd = -1,
			.events_fd = -1,
			.watchdog_fd = -1};
	static const int passed[] = {SIGINT, SIGTERM, SIGHUP};
	sigset_t mask, old;
	int err = 0, status = DG_EXIT_FAIL;

	for (size_t i = 0; i < DG_NPROGS; i++)
		r.prog_fd[i] = r.link_fd[i] = -1;
	for (size_t i = 0; i < DG_NMAPS; i++)
		r.map_fd[i] = -1;
	if (parse_args(argc, argv))
		return DG_EXIT_FAIL;
	/* Signals wait in the signalfd from the start, so ^C during set-up still cleans up. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]); i++) {
		struct sigaction sa;

		/* Ignored at entry (nohup, a background job): stays ignored, for COMMAND too. */
		if (sigaction(passed[i], NULL, &sa) == 0 && sa.sa_handler != SIG_IGN)
			sigaddset(&mask, passed[i]);
	}
	sigprocmask(SIG_BLOCK, &mask, &old);
	signal(SIGPIPE, SIG_IGN);
	r.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (env.check) {
		status = check(&r);
		goto cleanup;
	}
	err = r.sig_fd < 0 ? -errno : setup(&r);
	if (err && env.fail_open && r.host_stage && !env.dump_bpf) {
		cleanup(&r);
		run_unguarded(&r, &old);
	}
	if (err || env.dump_bpf)
		goto cleanup;
	warm_up(&r);
	if (sigpending(&mask) == 0 && (sigismember(&mask, SIGINT) || sigismember(&mask, SIGTERM))) {
		log_warnx("interrupted during set-up: COMMAND not run");
		goto cleanup;
	}
	if (env.attach) {
		if (attach_loop(&r) == 0) {
			audit_summary();
			status = 0;
		}
		goto cleanup;
	}
	r.watchdog_fd = cg_watchdog(r.cg_path, r.cg_created, &r.lim, &r.watchdog);
	if (r.watchdog_fd < 0) {
		log_warnx("failed to start the watchdog: %s", strerror(-r.watchdog_fd));
		goto cleanup;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, r.notify_sock)) {
		log_warn("failed to create a socketpair");
		goto cleanup;
	}
	r.child = fork();
	if (r.child < 0) {
		log_warn("failed to fork");
		goto cleanup;
	}
	if (r.child == 0)
		child(&r, &old);
	close(r.notify_sock[1]);
	r.notify_sock[1] = -1;
	if (recv_fds(r.notify_sock[0], &r.notify_fd, 1))
		r.notify_fd = -1; /* the child failed: it says why, exits 125 */
	if (run_loop(&r, &status) == 0)
		audit_summary();
cleanup:
	cleanup(&r);
	return env.dump_bpf && !err ? 0 : status;
}
