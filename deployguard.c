/*
 * deployguard: run a deploy script so that it cannot quietly depend on the service it deploys.
 *
 * The command and everything it starts run in a cgroup v2 directory of their own. BPF cgroup
 * programs (bpf_prog.h, compiled here with libbcc against the kernel headers) send every DNS query
 * of that cgroup to deployguard's own proxy (proxy.c), which answers names on the blocklist with
 * NXDOMAIN and forwards the rest; connections to blocked addresses fail at connect(). Every block
 * is logged with the pid and command line that caused it, and a summary of every name and address
 * the deploy asked for comes out at the end. Processes outside the cgroup see no change.
 *
 * USAGE: deployguard [-h] [-V] [-b FILE]... [--audit] [--cgroup PATH] [--upstream ADDR]...
 *                    [--log-format text|json] [-o FILE] [-v]... -- COMMAND [ARG...]
 *
 * EXAMPLES:
 *   1. deployguard -b blocklist.txt -- ./deploy.sh --env prod
 *        run a deploy with the names in blocklist.txt unreachable
 *   2. deployguard --audit -b blocklist.txt -o audit.log -- ./deploy.sh
 *        log what would be blocked, block nothing
 *   3. deployguard -b blocklist.txt --upstream 192.0.2.53#5353 -v -- make deploy
 *        forward allowed queries to 192.0.2.53 port 5353, and log them
 *
 * Copyright 2026 the deployguard authors. Licensed under the Apache License, Version 2.0.
 *
 * 2026-11-21  First version: cgroup, DNS redirect and blocklist, address blocks, attribution.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bcc/bcc_common.h>
#include <bcc/bcc_version.h>
#include <bcc/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "audit.h"
#include "bpf_prog.h"
#include "policy.h"
#include "proxy.h"

#define DG_VERSION	 "0.1.0"
#define DG_EXIT_FAIL	 125 /* env(1) and timeout(1) conventions */
#define DG_EXIT_CANNOT	 126
#define DG_EXIT_NOTFOUND 127
#define DG_NPROGS	 (sizeof(dg_progs) / sizeof(dg_progs[0]))
#define CGROUP2_MAGIC	 0x63677270
#define DG_MAX_CFLAGS	 16

static struct env {
	const char *blocklists[64];
	int nblocklists;
	bool audit;
	const char *cgroup;
	enum audit_format log_format;
	const char *log_path;
	int verbose;
	bool dump_bpf;
	char **command;
	struct proxy_cfg px;
} env = {.log_format = AUDIT_TEXT, .px = {.queries_fd = -1}};

/* What a run holds, released in reverse order by cleanup(). */
struct run {
	struct policy pol;
	struct proxy *proxy;
	void *mod;
	int prog_fd[DG_NPROGS], link_fd[DG_NPROGS];
	bool legacy_attach[DG_NPROGS];
	int cg_fd;
	char cg_path[PATH_MAX];
	bool cg_created;
	struct ring_buffer *rb;
	int sig_fd;
	pid_t child;
	FILE *log;
	char *cflags[DG_MAX_CFLAGS];
	int ncflags;
};

static const char usage[] =
    "Usage: deployguard [OPTIONS] -- COMMAND [ARG...]\n"
    "Run COMMAND in a cgroup of its own where the names and addresses on the blocklists\n"
    "cannot be reached, and log every attempt with the process that made it.\n"
    "\n"
    "  -b, --blocklist FILE   block the names and addresses in FILE (may repeat)\n"
    "      --audit            log what would be blocked, block nothing\n"
    "      --cgroup PATH      run COMMAND in this cgroup v2 directory (created if missing,\n"
    "                         left in place if it existed) instead of a fresh one\n"
    "      --upstream ADDR    upstream resolver, IPv4 or IPv6, optional #PORT (may repeat);\n"
    "                         default: the nameserver lines of /etc/resolv.conf\n"
    "      --log-format FMT   text (default) or json\n"
    "  -o, --log FILE         write log lines to FILE instead of stderr\n"
    "  -v, --verbose          also log allowed queries; repeat for debug detail\n"
    "  -h, --help             this help\n"
    "  -V, --version          print the version\n"
    "\n"
    "Exit status: COMMAND's own; 128+N if it was killed by signal N; 125 if deployguard\n"
    "failed (COMMAND did not run); 126 if COMMAND could not be executed; 127 if not found.\n"
    "\n"
    "Examples:\n"
    "  deployguard -b blocklist.txt -- ./deploy.sh --env prod\n"
    "  deployguard --audit -b blocklist.txt -o audit.log -- ./deploy.sh\n"
    "  deployguard -b blocklist.txt --upstream 192.0.2.53#5353 -v -- make deploy\n"
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

static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"blocklist", required_argument, NULL, 'b'},
	    {"audit", no_argument, NULL, 'A'},
	    {"cgroup", required_argument, NULL, 'C'},
	    {"upstream", required_argument, NULL, 'U'},
	    {"log-format", required_argument, NULL, 'F'},
	    {"log", required_argument, NULL, 'o'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"dump-bpf", no_argument, NULL, 'D'},
	    {0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "+b:o:vhV", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (env.nblocklists == (int)(sizeof(env.blocklists) / sizeof(char *))) {
				log_warnx("too many blocklists: merge them into fewer files");
				return -EINVAL;
			}
			env.blocklists[env.nblocklists++] = optarg;
			break;
		case 'A':
			env.audit = true;
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
		default:
			fputs("Try 'deployguard --help'.\n", stderr);
			return -EINVAL;
		}
	}
	if (optind >= argc && !env.dump_bpf) {
		log_warnx("no COMMAND given: deployguard [OPTIONS] -- COMMAND [ARG...]");
		return -EINVAL;
	}
	env.command = argv + optind;
	return 0;
}

/* The cgroup2 mount: /sys/fs/cgroup on most hosts, /sys/fs/cgroup/unified on hybrid ones. */
static int cgroup2_mount(char *out, size_t len)
{
	char dev[256], dir[PATH_MAX], type[64];
	FILE *f = fopen("/proc/self/mounts", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3) {
		if (strcmp(type, "cgroup2") == 0) {
			snprintf(out, len, "%s", dir);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

/* Make (or reuse) the cgroup and open it. A relative --cgroup is taken under the mount. */
static int cgroup_setup(struct run *r)
{
	char mnt[PATH_MAX];
	struct statfs sfs;
	int err = cgroup2_mount(mnt, sizeof(mnt));

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
	if (mkdir(r->cg_path, 0755) == 0)
		r->cg_created = true;
	else if (errno != EEXIST) {
		err = -errno;
		log_warn("failed to create cgroup %s", r->cg_path);
		return err;
	}
	r->cg_fd = open(r->cg_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->cg_fd < 0 || fstatfs(r->cg_fd, &sfs) || sfs.f_type != CGROUP2_MAGIC) {
		err = r->cg_fd < 0 ? -errno : -ENOTDIR;
		log_warnx("%s is not a cgroup v2 directory (cgroup2 is mounted at %s)", r->cg_path,
			  mnt);
		return err;
	}
	log_debug("cgroup %s%s", r->cg_path, r->cg_created ? " (created)" : "");
	return 0;
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

	uname(&u);
	snprintf(mod, sizeof(mod), "/lib/modules/%s", u.release);
	if (exists("%s/build/include/linux/kconfig.h", mod) ||
	    exists("%s/source/include/linux/kconfig.h", mod)) {
		log_debug("kernel headers: %s", mod);
		return 0;
	}
	if (access("/sys/kernel/kheaders.tar.xz", R_OK) == 0) {
		log_debug("kernel headers: /sys/kernel/kheaders.tar.xz");
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

static int bpf_compile(struct run *r, uint16_t port, unsigned long cgid)
{
	int err = find_headers(r);

	if (!err)
		err = add_cflag(r, "-DDG_PROXY_PORT=%lu", port);
	if (!err)
		err = add_cflag(r, "-DDG_AUDIT=%lu", env.audit);
	if (!err)
		err = add_cflag(r, "-DDG_NBLOCK4=%lu", count_nets(&r->pol, AF_INET) + 1);
	if (!err)
		err = add_cflag(r, "-DDG_NBLOCK6=%lu", count_nets(&r->pol, AF_INET6) + 1);
	if (!err)
		err = add_cflag(r, "-DDG_CGROUP_ID=%luULL", cgid);
	if (err)
		return err;
	if (env.dump_bpf) {
		for (int i = 0; i < r->ncflags; i++)
			printf("// cflag: %s\n", r->cflags[i]);
		fputs(dg_bpf_text, stdout);
		return 0;
	}
	r->mod = bpf_module_create_c_from_string(dg_bpf_text, 0, (const char **)r->cflags,
						 r->ncflags, true, NULL);
	unsetenv("BCC_KERNEL_SOURCE"); /* COMMAND inherits our environment */
	if (!r->mod) {
		log_warnx("failed to compile the BPF programs (clang's messages are above)");
		return -EINVAL;
	}
	return 0;
}

static int bpf_load(struct run *r)
{
	static char log_buf[LOG_BUF_SIZE];

	for (size_t i = 0; i < DG_NPROGS; i++) {
		const struct dg_prog *p = &dg_progs[i];
		void *insns = bpf_function_start(r->mod, p->name);
		int fd;

		if (!insns) {
			log_warnx("failed to find %s in the compiled BPF text", p->name);
			return -ENOENT;
		}
		fd = bcc_func_load(
		    r->mod, p->type, p->name, insns, (int)bpf_function_size(r->mod, p->name),
		    bpf_module_license(r->mod), bpf_module_kern_version(r->mod), env.verbose >= 3,
		    log_buf, sizeof(log_buf), NULL, p->tp ? -1 : (int)p->attach);
		if (fd < 0) {
			log_warnx("failed to load %s: %s (verifier log above)", p->name,
				  strerror(-fd));
			return fd;
		}
		r->prog_fd[i] = fd;
	}
	return 0;
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

/* Address rules go into LPM tries; the value is the rule's index, for rule=FILE:LINE. */
static int fill_nets(struct run *r)
{
	int fd4 = bpf_table_fd(r->mod, "dg_block4"), fd6 = bpf_table_fd(r->mod, "dg_block6");

	for (size_t i = 0; i < r->pol.nnets; i++) {
		const struct policy_net *n = &r->pol.nets[i];
		struct {
			uint32_t prefixlen;
			uint8_t addr[16];
		} key = {n->prefix, {0}};
		uint32_t idx = (uint32_t)i;
		int err;

		memcpy(key.addr, n->addr, n->family == AF_INET ? 4 : 16);
		err = bpf_update_elem(n->family == AF_INET ? fd4 : fd6, &key, &idx, BPF_ANY);
		if (err) {
			log_warnx("failed to add address rule %zu to the kernel: %s", i,
				  strerror(-err));
			return err;
		}
	}
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct run *r = ctx;
	const struct dg_event *ev = data;
	struct audit_event e = {.level = "WARN", .blocked = !env.audit, .method = "blocklist"};
	char ip[INET6_ADDRSTRLEN], rule[300], cmd[DG_CMD_MAX], what[INET6_ADDRSTRLEN + 8];
	struct policy_src src;

	if (size < sizeof(*ev))
		return 0;
	if (ev->type == DG_EV_EXEC) {
		audit_cmdline((pid_t)ev->pid, cmd, sizeof(cmd)); /* caches it for later events */
		log_debug("exec pid %u: %.200s", ev->pid, cmd);
		return 0;
	}
	inet_ntop((int)ev->family, ev->addr, ip, sizeof(ip));
	audit_cmdline((pid_t)ev->pid, cmd, sizeof(cmd));
	if (!cmd[0])
		snprintf(cmd, sizeof(cmd), "[%.16s]", ev->comm);
	e.ip = ip;
	e.port = ntohs((uint16_t)ev->port);
	e.pid = ev->pid ? (long)ev->pid : -1;
	e.cmd = ev->pid ? cmd : NULL;
	if (ev->type == DG_EV_CONNECT) {
		e.event = "IP BLOCKED";
		e.reason = "FromConnect";
		e.blocked_at = "connect";
		if (ev->rule < r->pol.nnets) {
			policy_src_of_net(&r->pol, ev->rule, &src);
			snprintf(rule, sizeof(rule), "%s:%u", src.file, src.line);
			e.rule = rule;
		}
	} else {
		e.event = "DNS BLOCKED";
		e.reason = "BypassedProxy";
		e.blocked_at = "egress";
		e.method = NULL;
	}
	audit_log(&e);
	snprintf(what, sizeof(what), ev->family == AF_INET6 ? "[%s]:%ld" : "%s:%ld", ip, e.port);
	audit_count("connect", what, env.audit ? AUDIT_WOULD_BLOCK : AUDIT_BLOCKED,
		    ev->pid ? cmd : NULL);
	return 0;
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
static void child(const struct run *r, const sigset_t *mask)
{
	char procs[PATH_MAX];
	int fd, err;

	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", r->cg_path);
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1) {
		say("failed to join cgroup ", r->cg_path, ": COMMAND not run");
		_exit(DG_EXIT_FAIL);
	}
	close(fd);
	execvp(env.command[0], env.command);
	err = errno;
	say("failed to run ", env.command[0],
	    err == ENOENT ? ": command not found" : ": not executable");
	_exit(err == ENOENT ? DG_EXIT_NOTFOUND : DG_EXIT_CANNOT);
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

static int run_loop(struct run *r, int *status)
{
	struct pollfd pfd[2 + 6 + 2 * 64];
	int ep = ring_buffer__epoll_fd(r->rb);

	for (;;) {
		int timeout = -1, n;

		pfd[0] = (struct pollfd){.fd = r->sig_fd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = ep, .events = POLLIN};
		n = proxy_prepare(r->proxy, pfd + 2, (int)(sizeof(pfd) / sizeof(pfd[0])) - 2,
				  &timeout);
		if (poll(pfd, (nfds_t)n + 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("poll failed");
			return -errno;
		}
		if (pfd[1].revents)
			bpf_consume_ringbuf(r->rb);
		proxy_dispatch(r->proxy, pfd + 2, n);
		if (pfd[0].revents && on_signal(r, status)) {
			bpf_consume_ringbuf(r->rb); /* the last events of the run */
			return 0;
		}
	}
}

/* Processes COMMAND left in the cgroup are reported and moved to the parent cgroup, so the
 * cgroup can go; they run on unguarded. */
static void move_leftovers(const struct run *r)
{
	char path[PATH_MAX + 16], parent[PATH_MAX + 16], cmd[DG_CMD_MAX];
	FILE *f;
	int pid;

	snprintf(path, sizeof(path), "%s/cgroup.procs", r->cg_path);
	snprintf(parent, sizeof(parent), "%s", r->cg_path);
	strcpy(strrchr(parent, '/'), "/cgroup.procs");
	f = fopen(path, "re");
	while (f && fscanf(f, "%d", &pid) == 1) {
		int fd = open(parent, O_WRONLY | O_CLOEXEC);

		audit_cmdline(pid, cmd, sizeof(cmd));
		log_warnx("left behind by COMMAND, now unguarded: pid %d cmd \"%.200s\"", pid, cmd);
		if (fd < 0 || dprintf(fd, "%d\n", pid) < 0)
			log_warn("failed to move pid %d out of %s", pid, r->cg_path);
		if (fd >= 0)
			close(fd);
	}
	if (f)
		fclose(f);
}

static void cleanup(struct run *r)
{
	if (r->child > 0 && r->cg_created)
		move_leftovers(r);
	for (size_t i = DG_NPROGS; i-- > 0;) {
		if (r->link_fd[i] >= 0)
			close(r->link_fd[i]);
		if (r->legacy_attach[i] && !dg_progs[i].tp)
			bpf_prog_detach2(r->prog_fd[i], r->cg_fd, dg_progs[i].attach);
		if (r->prog_fd[i] >= 0)
			close(r->prog_fd[i]);
	}
	if (r->rb)
		bpf_free_ringbuf(r->rb);
	if (r->mod)
		bpf_module_destroy(r->mod);
	proxy_close(r->proxy);
	if (r->sig_fd >= 0)
		close(r->sig_fd);
	if (r->cg_fd >= 0)
		close(r->cg_fd);
	if (r->cg_created && rmdir(r->cg_path))
		log_warn("failed to remove cgroup %s", r->cg_path);
	for (int i = 0; i < r->ncflags; i++)
		free(r->cflags[i]);
	policy_free(&r->pol);
	audit_free();
	if (r->log)
		fclose(r->log);
}

static int load_policy(struct run *r)
{
	char err[1024];

	for (int i = 0; i < env.nblocklists; i++) {
		if (policy_load(&r->pol, env.blocklists[i], err, sizeof(err))) {
			log_warnx("%s", err);
			return -EINVAL;
		}
	}
	log_debug("policy: %zu names, %zu addresses", r->pol.nnames, r->pol.nnets);
	return 0;
}

/* Everything up to a guarded cgroup with the proxy listening; nothing of COMMAND runs yet. */
static int setup(struct run *r)
{
	struct stat st; /* a cgroup2 directory's inode number is its cgroup id */
	uint16_t port;
	int err;

	if ((err = load_policy(r)))
		return err;
	if (env.log_path && !(r->log = fopen(env.log_path, "ae"))) {
		err = -errno;
		log_warn("failed to open log file %s", env.log_path);
		return err;
	}
	audit_init(r->log, env.log_format, env.verbose);
	if (!env.px.nup && !env.dump_bpf && (err = upstreams_from_resolv_conf()))
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
	if ((err = bpf_compile(r, port, (unsigned long)st.st_ino)) || env.dump_bpf)
		return err;
	if ((err = bpf_load(r)) || (err = fill_nets(r)))
		return err;
	r->rb = bpf_new_ringbuf(bpf_table_fd(r->mod, "dg_events"), on_event, r);
	if (!r->rb) {
		log_warn("failed to open the BPF ring buffer");
		return -EINVAL;
	}
	/* The proxy reads who sent each query; the map exists only now. */
	proxy_set_queries_fd(r->proxy, bpf_table_fd(r->mod, "dg_queries"));
	if ((err = bpf_attach(r)))
		return err;
	log_debug("guarding %s, DNS proxy on port %u", r->cg_path, port);
	return 0;
}

int main(int argc, char **argv)
{
	struct run r = {.cg_fd = -1, .sig_fd = -1};
	sigset_t mask, old;
	int err, status = DG_EXIT_FAIL;

	for (size_t i = 0; i < DG_NPROGS; i++)
		r.prog_fd[i] = r.link_fd[i] = -1;
	if (parse_args(argc, argv))
		return DG_EXIT_FAIL;
	/* Signals wait in the signalfd from the start, so ^C during set-up still cleans up. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &old);
	signal(SIGPIPE, SIG_IGN);
	r.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	err = r.sig_fd < 0 ? -errno : setup(&r);
	if (err || env.dump_bpf)
		goto cleanup;
	if (sigpending(&mask) == 0 && (sigismember(&mask, SIGINT) || sigismember(&mask, SIGTERM))) {
		log_warnx("interrupted during set-up: COMMAND not run");
		goto cleanup;
	}
	r.child = fork();
	if (r.child < 0) {
		log_warn("failed to fork");
		goto cleanup;
	}
	if (r.child == 0)
		child(&r, &old);
	if (run_loop(&r, &status) == 0)
		audit_summary();
cleanup:
	cleanup(&r);
	return env.dump_bpf && !err ? 0 : status;
}
