/*
 * deployguard: run a deploy script so that it cannot quietly depend on the service it deploys.
 *
 * The command and everything it starts run in a cgroup v2 directory of their own. BPF cgroup
 * programs (bpf_prog.bpf.c, compiled at start by libbcc against the kernel headers) send every
 * DNS query of that cgroup to deployguard's own proxy (proxy.c), which answers names on the
 * blocklist with NXDOMAIN and forwards the rest; connections to blocked addresses, and to every
 * address a blocked name resolves to, fail at connect(). Raw IP sockets, DNS over TLS and the
 * side doors below IP (socket families, io_uring, BPF that moves packets) are refused. Every
 * block is logged with the pid and command line that caused it, and a summary of every name and
 * address the deploy asked for comes out at the end. Processes outside the cgroup see no change.
 *
 * USAGE: deployguard --help (the one usage text; make lint checks README and the man page
 *        against it).
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
 *   7. deployguard -b blocklist.txt --depends depends.txt --report run.json -- ./deploy.sh
 *        block the services that need a blocked name too, and write what the deploy needed
 *   8. deployguard --rehearse --report rehearsal.json -- ./deploy.sh --dry-run
 *        run the deploy once per dependency with that one down, and say what breaks
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
 * 2026-12-02  Kernels users have: Debian 12's 6.1 (the egress program names its culprit from
 *             socket storage), fallbacks said at start, make vm-check.
 * 2026-12-03  Structure: the contract in bpf_prog.h, the programs in bpf_prog.bpf.c; this file
 *             keeps options, set-up, the loop and cleanup (see the Makefile's OBJS for the rest).
 * 2026-12-03  A root COMMAND cannot walk out: leaving the cgroup kills the mover (bpf_prog.bpf.c's
 *             escape guard), disarming is refused (filter.c), the watchdog holds the links.
 * 2026-12-03  What a deploy depended on: classes, --depends, --report, --graph, --merge-reports;
 *             --write-allowlist, --history, GITHUB_STEP_SUMMARY, --syslog, make deb.
 * 2026-12-03  Outage rehearsals: --rehearse (rehearse.c), --connect-action, --block-action
 *             resolve, "=NAME" rules.
 * 2026-12-06  Containers: a cgroup made during the run for guarded processes is adopted
 *             (adopt.c); the proxy listens in each network namespace a guarded program runs
 *             in; Docker's socket is deployguard's (dockerapi.c); containers in the log.
 *             Side doors below IP: socket families but unix, inet, inet6, netlink; io_uring;
 *             loads of BPF programs that move packets (bpfcall.c).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bcc/bcc_version.h>
#include <bpf/libbpf.h>

#include "adopt.h"
#include "audit.h"
#include "bpf_prog.h"
#include "cgroup.h"
#include "command.h"
#include "container.h"
#include "depends.h"
#include "dockerapi.h"
#include "events.h"
#include "fdpass.h"
#include "bpfcall.h"
#include "filter.h"
#include "history.h"
#include "kheaders.h"
#include "log.h"
#include "nss.h"
#include "policy.h"
#include "probe.h"
#include "proc.h"
#include "cache.h"
#include "progs.h"
#include "proxy.h"
#include "rehearse.h"
#include "report.h"

#define DG_VERSION    "0.1.0"
#define CGROUP2_MAGIC 0x63677270
#define DG_WARMUP_MS  2000 /* longest wait for blocked names' addresses before COMMAND runs */
#define DG_SETTLE_MS  1000 /* longest wait for leftovers to end by themselves */

static struct env {
	const char *lists[64]; /* policy files: blocklists, or allowlists with -a */
	int nlists;
	char list_opt; /* 'a' or 'b', whichever came first */
	bool audit;
	bool strict;
	bool allow_broad; /* --allow-broad */
	bool block_doh;	  /* --block-doh */
	const char *cgroup;
	enum audit_format log_format;
	const char *log_path;
	int verbose;
	bool dump_bpf;
	bool check; /* --check: probe the host, run nothing */
	enum { DG_LEFT_LEAVE, DG_LEFT_WAIT, DG_LEFT_KILL } leftovers;
	bool leftovers_set;
	const char *kernel_headers;
	bool no_cache; /* --no-cache */
	bool fail_open;
	bool keep_nss;		    /* --keep-nsswitch: COMMAND resolves as the host does */
	bool fail_on_block;	    /* --fail-on-block */
	const char *report, *graph; /* --report, --graph */
	const char *allowlist;	    /* --write-allowlist */
	const char *service;	    /* --service-name */
	const char *depends[64];    /* --depends */
	int ndepends;
	bool merge;		   /* --merge-reports: the operands are reports */
	bool syslog;		   /* --syslog */
	const char *history, *job; /* --history, --job */
	bool fail_on_new;	   /* --fail-on-new */
	unsigned connect_action;   /* --connect-action: a DG_CA_ code */
	bool rehearse;		   /* --rehearse */
	bool rehearse_opt;	   /* an option only --rehearse takes */
	struct rehearse_cfg rh;
	char *pass[160];		  /* the options a rehearsal's runs get, as given */
	char *audit_pass[128];		  /* and those of its audit run only */
	const char *also[PROGS_MAX_ALSO]; /* --guard-also */
	int nalso;
	unsigned long long limit[CG_NCTL]; /* --cpu-max, --memory-max, --pids-max; 0: none */
	struct command cmd;		   /* COMMAND and --user */
	bool attach; /* --cgroup and no COMMAND: guard what is in the cgroup until a signal */
	struct proxy_cfg px;
} env = {.log_format = AUDIT_TEXT, .px = {.mode = &policy_blocklist, .grace_s = 30}};

/* What a run holds, released in reverse order by cleanup(). */
struct run {
	struct policy pol;
	struct depends deps;
	struct proxy *proxy;
	struct dockerapi *docker; /* the Docker socket COMMAND sees, or NULL */
	struct progs bpf;
	struct adopt adopt; /* cgroups made during the run for guarded processes */
	int cg_fd;
	char cg_mnt[PATH_MAX], cg_path[PATH_MAX];
	bool cg_created;
	uint64_t watermark; /* cgroups with a greater id were made during the run */
	struct cg_limits lim;
	struct events ev;
	int sig_fd;
	int notify_sock[2]; /* the child sends its seccomp listener over this */
	int notify_fd;
	int events_fd;	 /* cgroup.events: POLLPRI when the cgroup empties */
	int watchdog_fd; /* closing it without a word makes the watchdog kill the cgroup */
	pid_t watchdog;
	pid_t child;
	FILE *log;
	struct nss_view nss; /* COMMAND's view of nsswitch.conf and nscd */
	bool host_stage;     /* set-up got past the command line and the policy */
	bool finished;	     /* the run came to its end: finish() was called */
	uint64_t start_ms;
	uint64_t cmd_start_ms, cmd_end_ms; /* COMMAND's own time, without the set-up's */
};

static const char usage[] =
    "Usage: deployguard [OPTIONS] -- COMMAND [ARG...]\n"
    "       deployguard [OPTIONS] --cgroup PATH\n"
    "       deployguard --check\n"
    "       deployguard --merge-reports FILE...\n"
    "       deployguard --rehearse [OPTIONS] -- COMMAND [ARG...]\n"
    "Run COMMAND in a cgroup of its own where the names and addresses on the\n"
    "blocklists cannot be reached, and log every attempt with the process that made\n"
    "it. With --cgroup and no COMMAND, guard that existing cgroup until SIGINT or\n"
    "SIGTERM (SIGHUP reloads the policy files).\n"
    "\n"
    "  -b, --blocklist FILE   block the names and addresses in FILE (may repeat), and\n"
    "                         every address those names resolve to\n"
    "  -a, --allowlist FILE   allowlist mode: only names and addresses in FILE may be\n"
    "                         reached (may repeat; not with -b)\n"
    "      --strict           blocklist mode, plus: egress only to addresses learned\n"
    "                         from allowed answers (what allowlist mode always does)\n"
    "      --allow-broad      let an allowlist hold rules that allow a lot ('*',\n"
    "                         '*.com', a public suffix, 0.0.0.0/0), refused by\n"
    "                         default\n"
    "      --block-doh        also block the well-known public DNS-over-HTTPS and\n"
    "                         -TLS resolvers, by name and address (blocklist mode)\n"
    "      --block-action ACT nxdomain (default), refused, servfail, or drop: how a\n"
    "                         blocked query is answered; drop sends nothing, as in an\n"
    "                         outage; resolve answers it, and refuses its addresses\n"
    "                         at connect\n"
    "      --connect-action ACT  eperm (default), refused or drop: a refused connect\n"
    "                         or send fails with EPERM, with ECONNREFUSED, or hangs\n"
    "                         (its packets are dropped, as by a host that is down)\n"
    "      --ttl-grace SEC    a learned address stays allowed this long past its\n"
    "                         answer's TTL (default 30); open connections to it live\n"
    "                         on\n"
    "      --audit            log what would be blocked, block nothing\n"
    "      --fail-on-block    exit 123 when anything was blocked (or, with --audit,\n"
    "                         would have been) though COMMAND exited 0\n"
    "      --report FILE      write a JSON report of the run to FILE at its end:\n"
    "                         every destination, its class and the processes that\n"
    "                         asked, and every program executed\n"
    "      --graph FILE       write the run's dependency graph to FILE, as Graphviz\n"
    "                         DOT\n"
    "      --write-allowlist FILE  with --audit: write the allowlist that lets this\n"
    "                         run do what it did, each rule with the command that\n"
    "                         needed it\n"
    "      --depends FILE     a manifest of internal services and the names they need\n"
    "                         (SERVICE DEPENDENCY... per line): a service that needs\n"
    "                         a blocked name is blocked too (may repeat)\n"
    "      --service-name NAME  the report is an audit of service NAME's own\n"
    "                         dependencies\n"
    "      --merge-reports    print the manifest lines the reports FILE... of service\n"
    "                         audits imply, and exit\n"
    "      --history DB       record the run in the SQLite database DB, and flag\n"
    "                         every destination no earlier run of the job reached\n"
    "                         (new=true)\n"
    "      --job NAME         the job the run belongs to in --history (default:\n"
    "                         COMMAND)\n"
    "      --fail-on-new      exit 122 when a destination is new, though COMMAND\n"
    "                         exited 0\n"
    "      --rehearse         an outage rehearsal: an audit run of COMMAND, then one\n"
    "                         run per dependency it reached with that one down, and\n"
    "                         what broke (hard, soft, hang); runs COMMAND many times\n"
    "      --from-report FILE  take the dependencies from this report, not an audit\n"
    "                         run\n"
    "      --outage KIND      nxdomain, servfail, timeout, refused or blackhole: how\n"
    "                         each dependency fails, one run per kind (may repeat;\n"
    "                         default: nxdomain and blackhole)\n"
    "      --rehearse-only NAME  rehearse only this name or address (may repeat)\n"
    "      --rehearse-skip NAME  do not rehearse this one (may repeat)\n"
    "      --rehearse-timeout SEC  stop a run after SEC seconds: a hang (default: 3\n"
    "                         times the audit run, at least 30)\n"
    "      --user USER        run COMMAND as USER (name or uid), with that user's\n"
    "                         groups; deployguard keeps its privileges, COMMAND gets\n"
    "                         none\n"
    "      --leftovers ACT    processes still in the cgroup when COMMAND exits: leave\n"
    "                         (default: report them, unguarded; moved to the parent\n"
    "                         cgroup if deployguard made the cgroup), wait (guard\n"
    "                         until they exit), or kill\n"
    "      --kernel-headers DIR  compile the BPF programs against this kernel header\n"
    "                         tree\n"
    "      --no-cache         compile the BPF programs even if the compile cache\n"
    "                         (/var/cache/deployguard) holds them for this kernel,\n"
    "                         and store nothing there\n"
    "      --fail-open        if the guard cannot be set up, warn and run COMMAND\n"
    "                         unguarded (default: exit 125, COMMAND not run)\n"
    "      --keep-nsswitch    let COMMAND resolve names as the host does, even where\n"
    "                         nscd or an nsswitch source such as systemd-resolved\n"
    "                         answers them without DNS (default: a view of its own\n"
    "                         that asks DNS)\n"
    "      --cpu-max PCT      CPU limit for the cgroup, percent of one CPU (150 = 1.5\n"
    "                         CPUs)\n"
    "      --memory-max SIZE  memory limit, bytes or with a K, M or G suffix\n"
    "      --pids-max N       task limit\n"
    "      --guard-also CGROUP  guard this existing cgroup too while the run lasts,\n"
    "                         with the same policy: a daemon COMMAND hands work to,\n"
    "                         such as system.slice/docker.service (may repeat, up to\n"
    "                         8)\n"
    "      --cgroup PATH      run COMMAND in this cgroup v2 directory (created if\n"
    "                         missing, left in place if it existed) instead of a\n"
    "                         fresh one; without COMMAND, guard the processes of this\n"
    "                         existing cgroup\n"
    "      --upstream ADDR    upstream resolver, IPv4 or IPv6, optional #PORT (up to\n"
    "                         four times); default: the nameserver lines of\n"
    "                         /etc/resolv.conf\n"
    "      --log-format FMT   text (default) or json\n"
    "  -o, --log FILE         append log lines to FILE instead of writing them to\n"
    "                         stderr\n"
    "      --syslog           send every line to syslog too (facility daemon), with\n"
    "                         its severity: warning, info or debug\n"
    "  -v, --verbose          also log allowed queries; -vv debug detail, -vvv the\n"
    "                         BPF verifier's log\n"
    "      --check            probe this host, print what it supports, run nothing\n"
    "  -h, --help             this help\n"
    "  -V, --version          print the version\n"
    "\n"
    "Exit status: COMMAND's own; 128+N if it was killed by signal N; 125 if\n"
    "deployguard failed (a bad option or policy file, an unknown --user, no cgroup2,\n"
    "no kernel headers, a BPF compile, load or attach failure: COMMAND did not run);\n"
    "126 if COMMAND could not be executed; 127 if not found; 123 with\n"
    "--fail-on-block; 122 with --fail-on-new.\n"
    "--rehearse: 0 if every outage was soft, 121 if one failed or hung COMMAND.\n"
    "Guarding a cgroup: 0. --check: 0 if a guarded run would work here, else 1.\n"
    "--merge-reports: 0, or 125 if a report cannot be read.\n"
    "\n"
    "Examples:\n"
    "  deployguard -b blocklist.txt -- ./deploy.sh --env prod\n"
    "  deployguard --audit -b blocklist.txt -o audit.log -- ./deploy.sh\n"
    "  deployguard -a allowlist.txt --block-action drop -- ./deploy.sh\n"
    "  deployguard -b blocklist.txt --upstream 192.0.2.53#5353 -v -- make deploy\n"
    "  deployguard -b blocklist.txt --memory-max 2G --cpu-max 150 -- ./deploy.sh\n"
    "  deployguard --audit -b blocklist.txt --cgroup /sys/fs/cgroup/app.service\n"
    "  deployguard -b bl.txt --depends depends.txt --report run.json -- ./deploy.sh\n"
    "  deployguard --rehearse --report rehearsal.json -- ./deploy.sh --dry-run\n"
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
					    [PX_DROP] = "drop",
					    [PX_RESOLVE] = "resolve"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(arg, names[i])) {
			env.px.action = (enum proxy_action)i;
			return 0;
		}
	}
	log_warnx("invalid --block-action '%s': use nxdomain, refused, servfail, drop or resolve",
		  arg);
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

/* Every option, and what the runs of a rehearsal get of it: R_ALL each run, R_AUDIT the audit
 * run only (the policy: each trial makes its own outage), R_NONE none (the rehearsal's own, or
 * the outcome's). getopt's table is made from this one. */
enum { R_NONE, R_ALL, R_AUDIT };
static const struct {
	struct option o;
	int rehearse;
} options[] = {
    {{"blocklist", required_argument, NULL, 'b'}, R_AUDIT},
    {{"allowlist", required_argument, NULL, 'a'}, R_AUDIT},
    {{"strict", no_argument, NULL, 'S'}, R_AUDIT},
    {{"allow-broad", no_argument, NULL, 'Z'}, R_AUDIT},
    {{"block-doh", no_argument, NULL, 'Q'}, R_ALL},
    {{"block-action", required_argument, NULL, 'B'}, R_NONE},
    {{"connect-action", required_argument, NULL, 'T'}, R_NONE},
    {{"ttl-grace", required_argument, NULL, 'G'}, R_ALL},
    {{"leftovers", required_argument, NULL, 'L'}, R_ALL},
    {{"user", required_argument, NULL, 'u'}, R_ALL},
    {{"kernel-headers", required_argument, NULL, 'K'}, R_ALL},
    {{"fail-open", no_argument, NULL, 'O'}, R_NONE},
    {{"keep-nsswitch", no_argument, NULL, 'W'}, R_ALL},
    {{"cpu-max", required_argument, NULL, 'P'}, R_ALL},
    {{"memory-max", required_argument, NULL, 'M'}, R_ALL},
    {{"pids-max", required_argument, NULL, 'N'}, R_ALL},
    {{"audit", no_argument, NULL, 'A'}, R_NONE},
    {{"fail-on-block", no_argument, NULL, 'X'}, R_NONE},
    {{"report", required_argument, NULL, 'R'}, R_NONE},
    {{"graph", required_argument, NULL, 'H'}, R_NONE},
    {{"write-allowlist", required_argument, NULL, 'w'}, R_NONE},
    {{"depends", required_argument, NULL, 'd'}, R_ALL},
    {{"service-name", required_argument, NULL, 'n'}, R_NONE},
    {{"merge-reports", no_argument, NULL, 'm'}, R_NONE},
    {{"history", required_argument, NULL, 'y'}, R_NONE},
    {{"job", required_argument, NULL, 'j'}, R_NONE},
    {{"fail-on-new", no_argument, NULL, 'E'}, R_NONE},
    {{"rehearse", no_argument, NULL, 'r'}, R_NONE},
    {{"from-report", required_argument, NULL, 'f'}, R_NONE},
    {{"outage", required_argument, NULL, 'k'}, R_NONE},
    {{"rehearse-only", required_argument, NULL, 'l'}, R_NONE},
    {{"rehearse-skip", required_argument, NULL, 's'}, R_NONE},
    {{"rehearse-timeout", required_argument, NULL, 't'}, R_NONE},
    {{"guard-also", required_argument, NULL, 'g'}, R_ALL},
    {{"cgroup", required_argument, NULL, 'C'}, R_NONE},
    {{"upstream", required_argument, NULL, 'U'}, R_ALL},
    {{"log-format", required_argument, NULL, 'F'}, R_ALL},
    {{"log", required_argument, NULL, 'o'}, R_ALL},
    {{"syslog", no_argument, NULL, 'Y'}, R_ALL},
    {{"verbose", no_argument, NULL, 'v'}, R_ALL},
    {{"help", no_argument, NULL, 'h'}, R_NONE},
    {{"version", no_argument, NULL, 'V'}, R_NONE},
    {{"dump-bpf", no_argument, NULL, 'D'}, R_NONE},
    {{"check", no_argument, NULL, 'c'}, R_NONE},
    {{"no-cache", no_argument, NULL, 'x'}, R_ALL},
};
static struct option opts[sizeof(options) / sizeof(options[0]) + 1];

/* Keep option c (and its arg) for the runs of a rehearsal, when they take it. */
static int keep_for_rehearsal(int c, const char *arg)
{
	size_t k = 0;
	bool audit_only;
	char **to;
	int *n, max;

	while (k < sizeof(options) / sizeof(options[0]) && options[k].o.val != c)
		k++;
	if (k == sizeof(options) / sizeof(options[0]) || options[k].rehearse == R_NONE)
		return 0;
	audit_only = options[k].rehearse == R_AUDIT;
	to = audit_only ? env.audit_pass : env.pass;
	n = audit_only ? &env.rh.naudit : &env.rh.npass;
	max = audit_only ? (int)(sizeof(env.audit_pass) / sizeof(env.audit_pass[0]))
			 : (int)(sizeof(env.pass) / sizeof(env.pass[0]));
	if (*n + 2 > max || asprintf(&to[*n], "--%s", options[k].o.name) < 0) {
		log_warnx("too many options for --rehearse's runs (at most %d)", max / 2);
		return -E2BIG;
	}
	(*n)++;
	if (arg)
		to[(*n)++] = (char *)arg;
	return 0;
}

static int parse_connect_action(const char *arg)
{
	static const char *const names[] = {
	    [DG_CA_EPERM] = "eperm", [DG_CA_REFUSED] = "refused", [DG_CA_DROP] = "drop"};

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(arg, names[i])) {
			env.connect_action = i;
			return 0;
		}
	log_warnx("invalid --connect-action '%s': use eperm, refused or drop", arg);
	return -EINVAL;
}

/* --outage, --rehearse-only, --rehearse-skip, --rehearse-timeout. */
static int parse_rehearsal(int c, const char *arg)
{
	struct rehearse_cfg *h = &env.rh;
	int o = c == 'k' ? rehearse_outage(arg) : 0, *n = c == 'l' ? &h->nonly : &h->nskip;
	char *end;
	long v;

	env.rehearse_opt = true;
	if (o < 0) {
		log_warnx("invalid --outage '%s': use nxdomain, servfail, timeout, refused or "
			  "blackhole",
			  arg);
		return -EINVAL;
	}
	if (c == 'k') {
		h->outages |= 1u << o;
	} else if (c == 't') {
		errno = 0;
		v = strtol(arg, &end, 10);
		if (errno || end == arg || *end || v < 1 || v > 86400) {
			log_warnx("invalid --rehearse-timeout '%s': give seconds, 1 to 86400", arg);
			return -EINVAL;
		}
		h->timeout_s = (unsigned)v;
	} else if (*n == REHEARSE_MAX_NAME) {
		log_warnx("--rehearse-%s: at most %d names", c == 'l' ? "only" : "skip",
			  REHEARSE_MAX_NAME);
		return -EINVAL;
	} else {
		(c == 'l' ? h->only : h->skip)[(*n)++] = arg;
	}
	return 0;
}

/* What --rehearse cannot be given with: it decides how each run's dependency fails, and what
 * each run writes. */
static int rehearsal_args(int argc)
{
	if (env.rehearse_opt && !env.rehearse) {
		log_warnx("--from-report, --outage, --rehearse-only, --rehearse-skip and "
			  "--rehearse-timeout need --rehearse");
		return -EINVAL;
	}
	if (!env.rehearse)
		return 0;
	if (optind >= argc || env.check || env.merge || env.dump_bpf) {
		log_warnx("--rehearse needs a COMMAND to run: deployguard --rehearse [OPTIONS] -- "
			  "COMMAND [ARG...]");
		return -EINVAL;
	}
	if (env.audit || env.fail_on_block || env.fail_on_new || env.history || env.allowlist ||
	    env.service || env.fail_open || env.px.action || env.connect_action) {
		log_warnx("--rehearse decides how each run fails and what it writes: it takes no "
			  "--audit, --fail-on-block, --fail-on-new, --history, --write-allowlist, "
			  "--service-name, --fail-open, --block-action or --connect-action");
		return -EINVAL;
	}
	if (env.graph && env.rh.from_report) {
		log_warnx("--graph with --rehearse draws the audit run's graph: it needs the audit "
			  "run, not --from-report");
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv)
{
	int c;

	for (size_t k = 0; k < sizeof(options) / sizeof(options[0]); k++)
		opts[k] = options[k].o;
	while ((c = getopt_long(argc, argv, "+a:b:o:vhV", opts, NULL)) != -1) {
		if (keep_for_rehearsal(c, optarg))
			return -EINVAL;
		switch (c) {
		case 'a':
		case 'b':
			if (add_list((char)c, optarg))
				return -EINVAL;
			break;
		case 'S':
			env.strict = true;
			break;
		case 'Z':
			env.allow_broad = true;
			break;
		case 'Q':
			env.block_doh = true;
			break;
		case 'B':
			if (parse_action(optarg))
				return -EINVAL;
			break;
		case 'T':
			if (parse_connect_action(optarg))
				return -EINVAL;
			break;
		case 'r':
			env.rehearse = true;
			break;
		case 'f':
			env.rh.from_report = optarg;
			env.rehearse_opt = true;
			break;
		case 'k':
		case 'l':
		case 's':
		case 't':
			if (parse_rehearsal(c, optarg))
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
			env.cmd.user = optarg;
			break;
		case 'K':
			env.kernel_headers = optarg;
			break;
		case 'O':
			env.fail_open = true;
			break;
		case 'W':
			env.keep_nss = true;
			break;
		case 'A':
			env.audit = true;
			break;
		case 'X':
			env.fail_on_block = true;
			break;
		case 'R':
			env.report = optarg;
			break;
		case 'H':
			env.graph = optarg;
			break;
		case 'w':
			env.allowlist = optarg;
			break;
		case 'd':
			if (env.ndepends == 64) {
				log_warnx("--depends: at most 64 manifests");
				return -EINVAL;
			}
			env.depends[env.ndepends++] = optarg;
			break;
		case 'n':
			env.service = optarg;
			break;
		case 'm':
			env.merge = true;
			break;
		case 'y':
			env.history = optarg;
			break;
		case 'j':
			env.job = optarg;
			break;
		case 'E':
			env.fail_on_new = true;
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
		case 'g':
			if (env.nalso == PROGS_MAX_ALSO) {
				log_warnx("--guard-also: at most %d cgroups", PROGS_MAX_ALSO);
				return -EINVAL;
			}
			env.also[env.nalso++] = optarg;
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
		case 'Y':
			env.syslog = true;
			break;
		case 'x':
			env.no_cache = true;
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
	if (rehearsal_args(argc))
		return -EINVAL;
	if (env.merge) {
		if (optind >= argc) {
			log_warnx("--merge-reports needs the reports: deployguard --merge-reports "
				  "FILE...");
			return -EINVAL;
		}
		env.cmd.argv = argv + optind;
		return 0;
	}
	if (env.check && optind < argc) {
		log_warnx("--check runs no COMMAND: it only probes this host");
		return -EINVAL;
	}
	if (env.block_doh && env.list_opt == 'a') {
		log_warnx("--block-doh is for blocklists: an allowlist (-a) blocks every DoH "
			  "resolver it does not name");
		return -EINVAL;
	}
	if (env.allow_broad && env.list_opt != 'a') {
		log_warnx("--allow-broad is for allowlists (-a): a blocklist may be as broad as it "
			  "likes");
		return -EINVAL;
	}
	if ((env.job || env.fail_on_new) && !env.history) {
		log_warnx("--job and --fail-on-new need --history DB: the runs they compare with");
		return -EINVAL;
	}
	if (env.allowlist && !env.audit) {
		log_warnx(
		    "--write-allowlist needs --audit: a run that blocks does not show all that "
		    "the deploy needs");
		return -EINVAL;
	}
	env.attach = optind >= argc && env.cgroup && !env.dump_bpf && !env.check;
	if (optind >= argc && !env.dump_bpf && !env.attach && !env.check) {
		log_warnx("no COMMAND given: deployguard [OPTIONS] -- COMMAND [ARG...], or "
			  "deployguard [OPTIONS] --cgroup PATH to guard an existing cgroup");
		return -EINVAL;
	}
	if (env.attach && (env.cmd.user || env.leftovers_set || env.fail_open || env.keep_nss)) {
		log_warnx(
		    "--user, --leftovers, --fail-open and --keep-nsswitch need a COMMAND: with "
		    "--cgroup PATH alone deployguard runs nothing");
		return -EINVAL;
	}
	env.cmd.argv = argv + optind;
	env.px.mode = env.list_opt == 'a' ? &policy_allowlist
		      : env.strict	  ? &policy_strict
					  : &policy_blocklist;
	return 0;
}

/* The compile cache: DEPLOYGUARD_CACHE (tests give each run a directory of its own), or the
 * system's. */
static const char *cache_dir(void)
{
	const char *d = getenv("DEPLOYGUARD_CACHE");

	return d && *d ? d : CACHE_DIR;
}

/* The programs' -D constants for this run's options, policy, proxy port and cgroup. */
static int flags(struct run *r, unsigned port, unsigned long cgroup_id)
{
	struct progs_cfg c = {.kernel_headers = env.kernel_headers,
			      .mode = env.px.mode,
			      .audit = env.audit,
			      .sock_owner = probe_has(PROBE_SOCK_OWNER),
			      .dump = env.dump_bpf,
			      .proxy_port = port,
			      .cgroup_id = cgroup_id,
			      .watermark = r->watermark,
			      .connect_action = env.connect_action};

	return progs_flags(&r->bpf, &c, &r->pol);
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
	r->watermark = cg_watermark(mnt);
	memcpy(r->lim.want, env.limit, sizeof(env.limit));
	return cg_limits_apply(&r->lim, mnt, r->cg_path, r->cg_created, env.attach);
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
			r->cmd_end_ms = proc_wall_ms();
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
	struct pollfd pfd[4 + PROXY_MAX_FDS + DOCKERAPI_MAX_FDS];
	int n, nd = 0;

	pfd[0] = (struct pollfd){.fd = r->sig_fd, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = ring_buffer__epoll_fd(r->ev.rb), .events = POLLIN};
	pfd[2] = (struct pollfd){.fd = r->notify_fd, .events = POLLIN}; /* -1: ignored */
	pfd[3] = (struct pollfd){.fd = r->events_fd, .events = POLLPRI};
	n = proxy_prepare(r->proxy, pfd + 4, PROXY_MAX_FDS, &timeout);
	if (r->docker)
		nd = dockerapi_prepare(r->docker, pfd + 4 + n, DOCKERAPI_MAX_FDS);
	if (poll(pfd, (nfds_t)(n + nd) + 4, timeout) < 0) {
		if (errno == EINTR)
			return 0;
		log_warn("poll failed");
		return -errno;
	}
	if (pfd[1].revents)
		ring_buffer__consume(r->ev.rb);
	/* POLLHUP alone: no process runs under the filter any more, and a RECV would wait for ever
	 * (deployguard hung so when COMMAND's processes had all exited before it did). */
	if (pfd[2].revents & POLLIN) {
		filter_on_notify(r->notify_fd, env.px.mode->name);
	} else if (pfd[2].revents) {
		close(r->notify_fd);
		r->notify_fd = -1;
	}
	proxy_dispatch(r->proxy, pfd + 4, n);
	if (r->docker)
		dockerapi_dispatch(r->docker, pfd + 4 + n, nd);
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
		if (waiting && (rc ? drain_signals(r)
				   : !cg_populated(r->cg_path) && !adopt_populated(&r->adopt)))
			break;
		if (!waiting && rc && on_signal(r, status)) {
			if (env.leftovers != DG_LEFT_WAIT ||
			    !(cg_report(r->cg_path, "COMMAND exited; guarding until it exits too") +
			      adopt_report(&r->adopt,
					   "COMMAND exited; guarding until it exits too")))
				break;
			waiting = true;
			r->events_fd = cg_events_fd(r->cg_path);
		}
	}
	ring_buffer__consume(r->ev.rb); /* the last events of the run */
	return 0;
}

/* The addresses of blocked names should be known before COMMAND can pin one: resolve the names
 * first, for at most DG_WARMUP_MS, so that a dead upstream cannot hold up the deploy. */
static void warm_up(struct run *r)
{
	uint64_t end = proxy_now_ms() + DG_WARMUP_MS, now;

	while (proxy_watch_pending(r->proxy) && (now = proxy_now_ms()) < end)
		if (turn(r, (int)(end - now)))
			return; /* a signal: main finds it pending */
	if (proxy_watch_pending(r->proxy))
		log_info(
		    "%zu blocked names not resolved yet: their addresses are refused once they "
		    "are",
		    proxy_watch_pending(r->proxy));
}

/* Processes COMMAND left in the cgroup (or in one it adopted): given DG_SETTLE_MS to end on
 * their own (a container runtime cleaning up after the container), then reported, and moved to
 * the parent cgroup so that the cgroup can go (leave; they run on unguarded), or killed. With
 * wait, run_loop waited for them. */
static void handle_leftovers(struct run *r)
{
	uint64_t end = proc_wall_ms() + DG_SETTLE_MS, now;

	/* guarding on meanwhile: a process the programs stopped (an adoption, a new network
	 * namespace) goes on only once deployguard has heard of it */
	while ((cg_populated(r->cg_path) || adopt_populated(&r->adopt)) &&
	       (now = proc_wall_ms()) < end) {
		int ms = (int)(end - now < 50 ? end - now : 50), rc = r->ev.rb ? turn(r, ms) : -1;

		if (rc < 0)
			cg_wait_empty(cg_populated(r->cg_path) ? r->cg_path : r->adopt.cg[0].path,
				      ms);
		else if (rc && drain_signals(r))
			break; /* SIGINT or SIGTERM: no more waiting */
	}
	if (env.leftovers == DG_LEFT_KILL) {
		if (adopt_report(&r->adopt, "left behind by COMMAND, killing it") &&
		    adopt_kill(&r->adopt))
			log_warnx("failed to kill every process left in the cgroups it adopted");
		if (!cg_report(r->cg_path, "left behind by COMMAND, killing it"))
			return;
		if (cg_kill(r->cg_path) || cg_wait_empty(r->cg_path, 5000))
			log_warnx("failed to kill every process left in %s", r->cg_path);
		return;
	}
	adopt_report(&r->adopt, "left behind by COMMAND in a cgroup it made, now unguarded");
	if (!cg_report(r->cg_path, r->cg_created ? "left behind by COMMAND, now unguarded in the "
						   "parent cgroup"
						 : "left behind by COMMAND, now unguarded"))
		return;
	if (r->cg_created)
		cg_move_to_parent(r->cg_path);
}

/* The report and the graph, once the run's last events are in. */
static void write_report(struct run *r, int status, bool failed)
{
	struct report_run run = {.argv = env.attach ? NULL : env.cmd.argv,
				 .service = env.service,
				 .job = env.job,
				 .history = env.history,
				 .mode = env.px.mode->name,
				 .audit = env.audit,
				 .policies = env.lists,
				 .npolicies = env.nlists,
				 .manifests = env.depends,
				 .nmanifests = env.ndepends,
				 .cgroup = r->cg_path[0] ? r->cg_path : NULL,
				 .deps = &r->deps,
				 .start_ms = r->start_ms,
				 .cmd_start_ms = r->cmd_start_ms,
				 .cmd_end_ms = r->cmd_end_ms};

	if (env.dump_bpf || env.check) {
		report_discard();
		return;
	}
	if (r->ev.rb)
		ring_buffer__consume(r->ev.rb); /* the exits of killed leftovers */
	if (!failed)
		history_record(r->start_ms, status);
	report_write(&run, status, failed);
}

static void cleanup(struct run *r, int status, bool failed)
{
	if (r->child > 0 || env.attach)
		cg_limits_report(&r->lim);
	if (r->child > 0)
		handle_leftovers(r);
	filter_flush();
	write_report(r, status, failed);
	cg_watchdog_release(r->watchdog_fd, r->watchdog); /* what remains may now run unguarded */
	adopt_close(&r->adopt);
	dockerapi_close(r->docker);
	r->docker = NULL;
	events_close(&r->ev);
	progs_close(&r->bpf);
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
	if (r->cg_created && cg_remove(r->cg_path))
		log_warn("failed to remove cgroup %s", r->cg_path);
	cg_limits_release(&r->lim);
	policy_free(&r->pol);
	depends_free(&r->deps);
	history_close();
	nss_close(&r->nss);
	audit_free();
	proc_free();
	container_free();
	audit_init(NULL, env.log_format, env.verbose); /* later lines go to stderr */
	if (r->log)
		fclose(r->log);
	r->log = NULL;
}

static bool policy_blocks(const void *ctx, const char *name, size_t len)
{
	return policy_judge(ctx, env.px.mode, name, len, NULL);
}

/* Read every policy file into pol, and the manifests into deps, judged by pol; on a bad file
 * say which line, after what. */
static int load_policy(struct policy *pol, struct depends *deps, const char *what)
{
	char err[1024];
	size_t n;

	pol->allowlist = env.list_opt == 'a';
	pol->allow_broad = env.allow_broad;
	for (int i = 0; i < env.nlists; i++) {
		if (policy_load(pol, env.lists[i], err, sizeof(err))) {
			log_warnx("%s%s", what, err);
			return -EINVAL;
		}
	}
	if (env.block_doh &&
	    policy_load_text(pol, "built-in:doh-resolvers.txt", dg_doh_list, err, sizeof(err))) {
		log_warnx("%s%s", what, err);
		return -EINVAL;
	}
	if (pol->warning[0])
		log_warnx("%s: is that meant?", pol->warning);
	for (int i = 0; i < env.ndepends; i++) {
		if (depends_load(deps, env.depends[i], err, sizeof(err))) {
			log_warnx("%s%s", what, err);
			return -EINVAL;
		}
	}
	n = depends_resolve(deps, policy_blocks, pol);
	log_debug("policy: %zu names, %zu addresses; %zu of %zu services blocked by a dependency",
		  pol->nnames, pol->nnets, n, deps->n);
	return 0;
}

/* SIGHUP in attach mode: read the policy files again, all or nothing. A file that fails to load
 * leaves the running policy as it was. The kernel's address rules are the union of both for the
 * moment between progs_fill_nets() and progs_prune_nets(). */
static void reload_policy(struct run *r)
{
	struct policy np = {0}, old;
	struct depends nd = {0}, oldd;

	if (load_policy(&np, &nd, "policy reload failed, keeping the policy in force: ")) {
		policy_free(&np);
		depends_free(&nd);
		return;
	}
	if (!progs_nets_fit(&r->bpf, &np)) {
		log_warnx(
		    "policy reload failed, keeping the policy in force: this run holds at "
		    "most %zu IPv4 and %zu IPv6 address rules; restart deployguard to load it",
		    r->bpf.nets_max[0], r->bpf.nets_max[1]);
		policy_free(&np);
		depends_free(&nd);
		return;
	}
	ring_buffer__consume(r->ev.rb); /* pending events name rules of the old policy */
	if (progs_fill_nets(&r->bpf, &np)) {
		log_warnx("policy reload failed, keeping the policy in force");
		progs_prune_nets(&r->bpf, &r->pol);
		progs_fill_nets(&r->bpf, &r->pol);
		policy_free(&np);
		depends_free(&nd);
		return;
	}
	old = r->pol;
	oldd = r->deps;
	r->pol = np; /* the proxy reads the policy through &r->pol, the manifest through &r->deps */
	r->deps = nd;
	progs_prune_nets(&r->bpf, &r->pol);
	proxy_policy_changed(r->proxy);
	policy_free(&old);
	depends_free(&oldd);
	log_info("policy reloaded: %zu names, %zu addresses", r->pol.nnames, r->pol.nnets);
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
	ring_buffer__consume(r->ev.rb);
	log_info("detached from %s; its processes run on, unguarded", r->cg_path);
	return 0;
}

/* --guard-also: the same programs on existing cgroups, for as long as the run lasts. Not the
 * cgroup2 root, nor any that holds deployguard itself (its own queries would come back to it). */
static int guard_also(struct run *r)
{
	for (int k = 0; k < env.nalso; k++) {
		char path[PATH_MAX];
		struct statfs sfs;
		int fd, err;

		snprintf(path, sizeof(path), env.also[k][0] == '/' ? "%s" : "%s/%s",
			 env.also[k][0] == '/' ? env.also[k] : r->cg_mnt, env.also[k]);
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fstatfs(fd, &sfs) || sfs.f_type != CGROUP2_MAGIC) {
			err = fd < 0 ? -errno : -ENOTDIR;
			log_warnx(
			    "--guard-also %s: %s is not an existing cgroup v2 directory (cgroup2 "
			    "is mounted at %s)",
			    env.also[k], path, r->cg_mnt);
			if (fd >= 0)
				close(fd);
			return err;
		}
		if (cg_holds_self(r->cg_mnt, path)) {
			close(fd);
			log_warnx(
			    "--guard-also %s holds deployguard itself (or is the cgroup2 root): "
			    "its own queries would come back to it; name the daemon's cgroup",
			    path);
			return -EINVAL;
		}
		err = progs_attach_also(&r->bpf, k, fd, path);
		close(fd); /* the links hold it */
		if (err)
			return err;
		log_info("also guarding %s until the run ends: every process there is guarded too",
			 path);
	}
	return 0;
}

/* --history: the job's earlier runs, before anything runs; its name defaults to the command. */
static int open_history(void)
{
	static char job[1024];

	if (!env.history)
		return 0;
	if (!env.job) {
		size_t n = 0;

		for (char **a = env.cmd.argv; a && *a && n < sizeof(job) - 1; a++)
			n += (size_t)snprintf(job + n, sizeof(job) - n, "%s%s", n ? " " : "", *a);
		env.job = env.attach ? (env.service ? env.service : env.cgroup) : job;
	}
	if (history_open(env.history, env.job))
		return -EINVAL;
	if (history_has_baseline())
		audit_set_known(history_known);
	return 0;
}

/* The end of a run: the summary, and with --fail-on-block a status of its own when COMMAND
 * succeeded but something was blocked, said on the last line. */
static int finish(struct run *r, int status)
{
	unsigned long n;

	r->finished = true;
	audit_summary();
	if (status != 0)
		return status;
	if (env.fail_on_block && (n = audit_blocked())) {
		log_warnx("--fail-on-block: %lu destination%s %s: exit %d", n, n == 1 ? "" : "s",
			  env.audit ? "would have been blocked" : "blocked", DG_EXIT_BLOCKED);
		return DG_EXIT_BLOCKED;
	}
	if (env.fail_on_new && (n = audit_fresh())) {
		log_warnx(
		    "--fail-on-new: %lu destination%s no earlier run of job \"%s\" reached: exit "
		    "%d",
		    n, n == 1 ? "" : "s", env.job, DG_EXIT_NEW);
		return DG_EXIT_NEW;
	}
	return status;
}

/* Host lookups that bypass DNS (nscd, systemd-resolved...): COMMAND gets a view that asks DNS,
 * unless --keep-nsswitch. Said once at start either way. */
static int resolution(struct run *r)
{
	char what[300];
	int err = nss_detect(&r->nss);

	if (err || !nss_needed(&r->nss))
		return err;
	nss_describe(&r->nss, what, sizeof(what));
	if (env.keep_nss) {
		log_warnx("%s, outside the cgroup: --keep-nsswitch: names COMMAND resolves there "
			  "bypass the proxy (addresses are still checked)",
			  what);
		return 0;
	}
	log_info("%s: COMMAND resolves over DNS instead, in a mount namespace of its own "
		 "(--keep-nsswitch keeps the host's)",
		 what);
	env.cmd.nss = &r->nss;
	return 0;
}

static bool judge_registry(void *ctx, const char *name, unsigned port, char *rule, size_t len,
			   const char **comment, const char **via)
{
	return proxy_judge(ctx, name, port, rule, len, comment, via);
}

/* dockerd starts containers and pulls images for the deploy, outside its cgroup: COMMAND gets
 * deployguard's socket in place of dockerd's, which makes them guarded (dockerapi.c). */
static int docker_view(struct run *r)
{
	char real[PATH_MAX], why[300];
	struct dockerapi_cfg cfg = {.real = real,
				    .cgroup = r->cg_path + strlen(r->cg_mnt),
				    .judge = judge_registry,
				    .ctx = r->proxy,
				    .audit = env.audit,
				    .method = env.px.mode->name};
	int err;

	if (env.attach || env.dump_bpf)
		return 0;
	if (!dockerapi_find(real, sizeof(real), why, sizeof(why))) {
		if (why[0])
			log_warnx(
			    "%s: the containers and pulls dockerd makes there are not guarded",
			    why);
		return 0;
	}
	if ((err = dockerapi_open(&r->docker, &cfg))) {
		log_warnx("failed to serve COMMAND a Docker socket in place of %s: %s", real,
			  strerror(-err));
		return err;
	}
	env.cmd.docker = r->docker;
	r->ev.docker = dockerapi_path(r->docker);
	log_debug("COMMAND's %s is deployguard's: the containers dockerd makes for it run guarded",
		  real);
	return 0;
}

/* Everything up to a guarded cgroup with the proxy listening; nothing of COMMAND runs yet. */
static int setup(struct run *r)
{
	struct stat st; /* a cgroup2 directory's inode number is its cgroup id */
	uint16_t port;
	int err, failed;

	if ((err = report_open(env.report, env.graph, env.allowlist)) || (err = open_history()) ||
	    (err = load_policy(&r->pol, &r->deps, "")) ||
	    (env.cmd.user && (err = command_user(&env.cmd))))
		return err;
	if (env.log_path && !(r->log = fopen(env.log_path, "ae"))) {
		err = -errno;
		log_warn("failed to open log file %s", env.log_path);
		return err;
	}
	audit_init(r->log, env.log_format, env.verbose);
	if (!env.attach && !env.dump_bpf && (err = resolution(r)))
		return err;
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
	if (env.connect_action == DG_CA_REFUSED && !env.dump_bpf && !probe_has(PROBE_SET_RETVAL)) {
		log_warnx("--connect-action refused needs bpf_set_retval in cgroup/connect, which "
			  "this kernel lacks (6.1+): use eperm or drop");
		return -ENOTSUP;
	}
	if ((err = filter_check()))
		return err;
	env.px.pol = &r->pol;
	env.px.deps = &r->deps;
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
	proc_init(r->cg_path + strlen(r->cg_mnt)); /* as /proc/PID/cgroup names it */
	cg_kill_file = probe_has(PROBE_CGROUP_KILL);
	if ((err = flags(r, port, (unsigned long)st.st_ino)) || env.dump_bpf)
		return err;
	if ((err = progs_build(&r->bpf, env.verbose, &failed)) ||
	    (err = progs_fill_nets(&r->bpf, &r->pol)))
		return err;
	if ((err = adopt_open(&r->adopt, &r->bpf, r->cg_mnt))) {
		log_warnx("failed to open %s: %s", r->cg_mnt, strerror(-err));
		return err;
	}
	r->ev = (struct events){.pol = &r->pol,
				.adopt = &r->adopt,
				.netns_fd = r->bpf.map_fd[M_NETNS],
				.proxy = r->proxy,
				.audit = env.audit,
				.method = env.px.mode->name,
				.masked = env.cmd.nss ? nss_masked(env.cmd.nss) : NULL};
	if ((err = events_open(&r->ev, r->bpf.map_fd[M_EVENTS]))) {
		log_warnx("failed to open the BPF ring buffer: %s", strerror(-err));
		return err;
	}
	/* The proxy names the sender of each query and teaches the kernel addresses; the maps
	 * exist only now. */
	proxy_set_maps(r->proxy, r->bpf.map_fd[M_QUERIES], &r->bpf.map_fd[M_LEARN4],
		       &r->bpf.map_fd[M_PORTS4]);
	proxy_watch_policy(r->proxy);
	if ((err = docker_view(r)))
		return err;
	if ((err = progs_attach(&r->bpf, r->cg_fd, r->cg_path)) || (err = guard_also(r)))
		return err;
	if (probe_has(PROBE_PIDFD_GETFD))
		progs_own_sockets(&r->bpf, r->cg_path);
	if (env.attach)
		progs_note_members(&r->bpf, r->cg_path);
	log_debug("guarding %s, DNS proxy on port %u", r->cg_path, port);
	return 0;
}

/* --check's row for containers: podman's are adopted; dockerd's go through deployguard's socket
 * when there is one to stand in for; what is not covered. */
static void check_containers(void)
{
	char real[PATH_MAX], why[300], detail[PATH_MAX + 600];
	bool docker = dockerapi_find(real, sizeof(real), why, sizeof(why));

	snprintf(detail, sizeof(detail),
		 "podman's (runc, crun) are adopted; dockerd's: %s%s%s; not covered: DOCKER_HOST "
		 "tcp://, rootless Docker, ctr and nerdctl, other clients' containers",
		 docker	  ? "COMMAND gets a socket of deployguard's for "
		 : why[0] ? why
			  : "no ",
		 docker	  ? real
		 : why[0] ? " (not guarded)"
			  : "/run/docker.sock here",
		 docker ? " (the cgroupfs driver)" : "");
	probe_note("containers", docker || !why[0] ? "ok" : "partly", detail);
}

/* --check's row for what the seccomp filter refuses below IP (see filter.c, bpfcall.c). */
static void check_side_doors(void)
{
	char detail[512];

	snprintf(detail, sizeof(detail),
		 "socket families other than unix, inet, inet6 and netlink (EPERM); io_uring "
		 "(ENOSYS: callers fall back to system calls); loads of BPF programs that move "
		 "packets: %s (EPERM); "
		 "other loads are made by deployguard from its copy",
		 bpfcall_refused_types());
	probe_note("side doors", "refused", detail);
}

/* --check's row for the compile cache: whether this start used it. */
static void check_cache(const struct run *r, int err)
{
	static const char *const what[] = {[PROGS_CACHE_OFF] = "off",
					   [PROGS_CACHE_USED] = "used",
					   [PROGS_CACHE_STORED] = "stored",
					   [PROGS_CACHE_UNUSABLE] = "unusable"};
	char detail[PATH_MAX + 128];

	if (r->bpf.cache == PROGS_CACHE_OFF)
		snprintf(detail, sizeof(detail), "%s",
			 env.no_cache	    ? "--no-cache: compiled, nothing stored"
			 : env.verbose >= 3 ? "-vvv compiles, for the verifier's logs"
					    : "the kernel has no build id (/sys/kernel/notes)");
	else if (r->bpf.cache == PROGS_CACHE_UNUSABLE)
		snprintf(detail, sizeof(detail), "%s is unfit (see above): compiled",
			 r->bpf.cache_dir);
	else
		snprintf(detail, sizeof(detail), "%s/%.12s...: %s", r->bpf.cache_dir,
			 r->bpf.cache_key,
			 r->bpf.cache == PROGS_CACHE_USED
			     ? "loaded with libbpf, no compile"
			     : "compiled now and stored: the next start loads it with libbpf");
	if (!err)
		probe_note("compile cache", what[r->bpf.cache], detail);
}

/* deployguard --check: the probes, then the real thing on a scratch cgroup: compile, load and
 * attach every program, and take them off again. 0 when a guarded run would work, else 1. */
static int check(struct run *r)
{
	static const char *const ctl[CG_NCTL] = {"cpu", "memory", "pids"};
	char detail[PATH_MAX + 128];
	struct stat st;
	int err, failed = BUILD_COMPILE;

	probe_begin(true);
	if (probe_host(cg_mount(r->cg_mnt, sizeof(r->cg_mnt)) ? NULL : r->cg_mnt))
		return 1;
	err = filter_check();
	probe_row("seccomp user notification", err,
		  err ? "needs Linux 5.5 (see above)"
		      : "works: side doors below IP and tampering with the guard are refused");
	if (!err)
		check_side_doors();
	for (int c = 0; c < CG_NCTL; c++) {
		bool ok = cg_limit_where(r->cg_mnt, c, detail, sizeof(detail)) == 0;

		snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail),
			 " (for --%s-max)", ctl[c]);
		probe_note(ctl[c], ok ? "ok" : "absent", detail);
	}
	err = kheaders_find(env.kernel_headers, r->bpf.headers, sizeof(r->bpf.headers),
			    r->bpf.cflags, &r->bpf.ncflags);
	probe_row("kernel headers", err, err ? "see above" : r->bpf.headers);
	if (err || (err = cgroup_setup(r)) || fstat(r->cg_fd, &st))
		return 1;
	probe_cgroup_kill(r->cg_path);
	err = flags(r, 53, (unsigned long)st.st_ino);
	progs_offsets(&r->bpf); /* for the escape guard's row: a cached start needs none */
	if (probe_has(PROBE_ESCAPE_GUARD))
		probe_note(
		    "escape guard", "ok",
		    "a move out of the cgroup kills the mover (offsets from the kernel's BTF)");
	if (nss_detect(&r->nss) == 0) {
		nss_describe(&r->nss, detail, sizeof(detail));
		if (nss_needed(&r->nss))
			snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail),
				 ": COMMAND gets a view that asks DNS");
		probe_note("name resolution", nss_needed(&r->nss) ? "redirect" : "ok", detail);
	}
	probe_note(
	    "DoH side doors", env.block_doh ? "blocked" : "partly",
	    env.block_doh
		? "the DoH canary and DDR are answered; the public DoH and DoT resolvers "
		  "of --block-doh are blocked; a private DoH endpoint on an allowed host is not"
		: "the DoH canary (use-application-dns.net) and DDR (_dns.resolver.arpa) "
		  "are answered; --block-doh blocks the public DoH and DoT resolvers too");
	check_containers();
	if (probe_has(PROBE_UNIX_CONNECT))
		probe_note("delegation", "ok",
			   "a connect to a unix socket whose listener runs outside the cgroup is "
			   "logged (WARN DELEGATED)");
	if (!err)
		err = progs_build(&r->bpf, env.verbose, &failed);
	snprintf(detail, sizeof(detail), "%zu programs, libbcc %s%s", DG_NPROGS, LIBBCC_VERSION,
		 r->bpf.cache == PROGS_CACHE_USED ? ", compiled on an earlier start" : "");
	probe_row("compile", err && failed != BUILD_LOAD, err ? "see above" : detail);
	check_cache(r, err);
	if (!err || failed == BUILD_LOAD)
		probe_row("load", err, err ? "see above" : "every program passes the verifier");
	if (!err) {
		err = progs_attach(&r->bpf, r->cg_fd, r->cg_path);
		probe_row("attach to a cgroup", err,
			  err ? "see above"
			      : "with BPF links, which detach when deployguard exits");
	}
	return probe_failures() ? 1 : 0;
}

/* Every other signal waits, blocked, for ever: a guarded process's kill(0, SIGUSR1) must not end
 * the guard (its filter refuses SIGKILL and SIGSTOP to deployguard's group). Faults still kill,
 * and ^Z still stops deployguard with COMMAND, so that the shell gets the terminal back. */
static void block_the_rest(void)
{
	static const int unblocked[] = {SIGSEGV, SIGBUS, SIGFPE,  SIGILL,  SIGTRAP,
					SIGABRT, SIGSYS, SIGTSTP, SIGTTIN, SIGTTOU};
	sigset_t all;

	sigfillset(&all);
	for (size_t i = 0; i < sizeof(unblocked) / sizeof(unblocked[0]); i++)
		sigdelset(&all, unblocked[i]);
	sigprocmask(SIG_BLOCK, &all, NULL);
}

int main(int argc, char **argv)
{
	struct run r = {.cg_fd = -1,
			.sig_fd = -1,
			.notify_sock = {-1, -1},
			.notify_fd = -1,
			.events_fd = -1,
			.watchdog_fd = -1,
			.adopt = {.mnt_fd = -1, .watchdog_fd = -1}};
	static const int passed[] = {SIGINT, SIGTERM, SIGHUP};
	sigset_t mask, old;
	int err = 0, status = DG_EXIT_FAIL;

	progs_init(&r.bpf);
	r.start_ms = proc_wall_ms();
	if (parse_args(argc, argv))
		return DG_EXIT_FAIL;
	r.bpf.cache_dir = env.no_cache ? NULL : cache_dir();
	if (env.merge)
		return report_merge(env.cmd.argv);
	log_set_verbose(env.verbose);
	if (env.rehearse) {
		env.rh.cmd = env.cmd.argv;
		env.rh.pass = env.pass;
		env.rh.audit_pass = env.audit_pass;
		env.rh.cgroup = env.cgroup;
		env.rh.report = env.report;
		env.rh.graph = env.graph;
		return rehearse(&env.rh);
	}
	audit_syslog(env.syslog);
	log_set_verbose(env.verbose);
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
	block_the_rest();
	signal(SIGPIPE, SIG_IGN);
	r.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (env.check) {
		status = check(&r);
		goto cleanup;
	}
	err = r.sig_fd < 0 ? -errno : setup(&r);
	if (err && env.fail_open && r.host_stage && !env.dump_bpf) {
		cleanup(&r, DG_EXIT_FAIL, true);
		log_warnx(
		    "WARNING: the guard could not be set up (see above); --fail-open: running "
		    "COMMAND UNGUARDED, nothing is blocked or logged");
		command_exec(&env.cmd, &old);
	}
	if (err || env.dump_bpf)
		goto cleanup;
	warm_up(&r);
	if (sigpending(&mask) == 0 && (sigismember(&mask, SIGINT) || sigismember(&mask, SIGTERM))) {
		log_warnx("interrupted during set-up: COMMAND not run");
		goto cleanup;
	}
	if (env.attach) {
		if (attach_loop(&r) == 0)
			status = finish(&r, 0);
		goto cleanup;
	}
	r.watchdog_fd = cg_watchdog(r.cg_path, r.cg_created, &r.lim, r.bpf.link_fd, (int)DG_NPROGS,
				    &r.watchdog);
	if (r.watchdog_fd < 0) {
		log_warnx("failed to start the watchdog: %s", strerror(-r.watchdog_fd));
		goto cleanup;
	}
	r.adopt.watchdog_fd = r.watchdog_fd;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, r.notify_sock)) {
		log_warn("failed to create a socketpair");
		goto cleanup;
	}
	filter_guard(getpid(), r.watchdog);
	r.cmd_start_ms = proc_wall_ms();
	r.child = command_start(&env.cmd, r.cg_path, &r.lim, r.notify_sock[1], &old);
	if (r.child < 0) {
		log_warnx("failed to fork: %s", strerror(-r.child));
		goto cleanup;
	}
	close(r.notify_sock[1]);
	r.notify_sock[1] = -1;
	if (fd_recv(r.notify_sock[0], &r.notify_fd, 1))
		r.notify_fd = -1; /* the child failed: it says why, exits 125 */
	nss_close(&r.nss); /* bound by the child by now: the file need not outlive this moment */
	if (run_loop(&r, &status) == 0)
		status = finish(&r, status);
cleanup:
	cleanup(&r, status, !r.finished);
	return env.dump_bpf && !err ? 0 : status;
}
