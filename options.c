/*
 * options.c: deployguard's command line: the usage text (the one make lint checks README and
 * the man page against), the option table, each option's parser and the combinations refused.
 * The table also says which options the runs of a rehearsal get.
 */
#define _GNU_SOURCE
#include "options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <bcc/bcc_version.h>

#include "log.h"

struct options opt = {.log_format = AUDIT_TEXT, .px = {.mode = &policy_blocklist, .grace_s = 30}};

static const char usage[] =
    "Usage: deployguard [OPTIONS] -- COMMAND [ARG...]\n"
    "       deployguard [OPTIONS] --cgroup PATH\n"
    "       deployguard --check\n"
    "       deployguard --merge-reports FILE...\n"
    "       deployguard --history DB --history-report [--job NAME] [--since DAYS]\n"
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
    "      --history DB       record the run in DB, an SQLite file or a PostgreSQL\n"
    "                         URI (postgresql://...) a fleet shares, and flag every\n"
    "                         destination no earlier run of the job reached on any\n"
    "                         host (new=true)\n"
    "      --job NAME         the job the run belongs to in --history (default:\n"
    "                         COMMAND)\n"
    "      --fail-on-new      exit 122 when a destination is new, though COMMAND\n"
    "                         exited 0; 120 when the history could not be read\n"
    "      --history-report   print every destination of the history's jobs (or\n"
    "                         --job's): verdicts, first and last seen, runs, hosts\n"
    "      --since DAYS       with --history-report: only what was seen in the last\n"
    "                         DAYS days\n"
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
    "--fail-on-block; 122 with --fail-on-new (120: the history was unavailable).\n"
    "--rehearse: 0 if every outage was soft, 121 if one failed or hung COMMAND.\n"
    "Guarding a cgroup: 0. --check: 0 if a guarded run would work here, else 1.\n"
    "--merge-reports: 0, or 125 if a report cannot be read. --history-report: 0,\n"
    "or 125 if the history cannot be read.\n"
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
	if (opt.px.nup == DG_MAX_UPSTREAM) {
		log_warnx("too many upstreams (at most %d): ignoring %s", DG_MAX_UPSTREAM, arg);
		return 0;
	}
	if (parse_upstream(arg, &opt.px.up[opt.px.nup], &opt.px.uplen[opt.px.nup])) {
		log_warnx("invalid upstream '%s'%s: give an IPv4 or IPv6 address, optionally "
			  "with #PORT (192.0.2.53#5353)",
			  arg, where);
		return -EINVAL;
	}
	opt.px.nup++;
	return 0;
}

int options_upstreams(void)
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
	if (!opt.px.nup) {
		log_warnx("no usable nameserver in /etc/resolv.conf; give --upstream ADDR");
		return -ENOENT;
	}
	return 0;
}

static int add_list(char which, const char *path)
{
	if (opt.list_opt && opt.list_opt != which) {
		log_warnx("-a (allowlist) and -b (blocklist) exclude each other: choose one mode");
		return -EINVAL;
	}
	if (opt.nlists == (int)(sizeof(opt.lists) / sizeof(opt.lists[0]))) {
		log_warnx("too many policy files: merge them into fewer files");
		return -EINVAL;
	}
	opt.list_opt = which;
	opt.lists[opt.nlists++] = path;
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
			opt.px.action = (enum proxy_action)i;
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
	opt.px.grace_s = (unsigned)v;
	return 0;
}

/* --cpu-max PCT, --pids-max N, --memory-max SIZE (with a K, M or G suffix: KiB, MiB, GiB). */
static int parse_limit(int c, const char *name, const char *arg)
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
		    "invalid --%s '%s': %s", name, arg,
		    c == CG_CPU ? "give a percentage of one CPU, 1 to 100000 (150 = 1.5 CPUs)"
		    : c == CG_PIDS
			? "give a number of tasks, 1 to 4194304"
			: "give bytes, or a number with a K, M or G suffix (512M), at most 1P");
		return -EINVAL;
	}
	opt.limit[c] = v;
	return 0;
}

static int parse_since(const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 1 || v > 36500) {
		log_warnx("invalid --since '%s': give days, 1 to 36500", arg);
		return -EINVAL;
	}
	opt.since_days = (unsigned)v;
	return 0;
}

static int parse_leftovers(const char *arg)
{
	if (!strcmp(arg, "leave"))
		opt.leftovers = DG_LEFT_LEAVE;
	else if (!strcmp(arg, "wait"))
		opt.leftovers = DG_LEFT_WAIT;
	else if (!strcmp(arg, "kill"))
		opt.leftovers = DG_LEFT_KILL;
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
	bool *flag;	  /* an option that only sets this */
	const char **arg; /* an option that only keeps its argument here */
} options[] = {
    {{"blocklist", required_argument, NULL, 'b'}, R_AUDIT, NULL, NULL},
    {{"allowlist", required_argument, NULL, 'a'}, R_AUDIT, NULL, NULL},
    {{"strict", no_argument, NULL, 'S'}, R_AUDIT, &opt.strict, NULL},
    {{"allow-broad", no_argument, NULL, 'Z'}, R_AUDIT, &opt.allow_broad, NULL},
    {{"block-doh", no_argument, NULL, 'Q'}, R_ALL, &opt.block_doh, NULL},
    {{"block-action", required_argument, NULL, 'B'}, R_NONE, NULL, NULL},
    {{"connect-action", required_argument, NULL, 'T'}, R_NONE, NULL, NULL},
    {{"ttl-grace", required_argument, NULL, 'G'}, R_ALL, NULL, NULL},
    {{"leftovers", required_argument, NULL, 'L'}, R_ALL, NULL, NULL},
    {{"user", required_argument, NULL, 'u'}, R_ALL, NULL, &opt.cmd.user},
    {{"kernel-headers", required_argument, NULL, 'K'}, R_ALL, NULL, &opt.kernel_headers},
    {{"fail-open", no_argument, NULL, 'O'}, R_NONE, &opt.fail_open, NULL},
    {{"keep-nsswitch", no_argument, NULL, 'W'}, R_ALL, &opt.keep_nss, NULL},
    {{"cpu-max", required_argument, NULL, 'P'}, R_ALL, NULL, NULL},
    {{"memory-max", required_argument, NULL, 'M'}, R_ALL, NULL, NULL},
    {{"pids-max", required_argument, NULL, 'N'}, R_ALL, NULL, NULL},
    {{"audit", no_argument, NULL, 'A'}, R_NONE, &opt.audit, NULL},
    {{"fail-on-block", no_argument, NULL, 'X'}, R_NONE, &opt.fail_on_block, NULL},
    {{"report", required_argument, NULL, 'R'}, R_NONE, NULL, &opt.report},
    {{"graph", required_argument, NULL, 'H'}, R_NONE, NULL, &opt.graph},
    {{"write-allowlist", required_argument, NULL, 'w'}, R_NONE, NULL, &opt.allowlist},
    {{"depends", required_argument, NULL, 'd'}, R_ALL, NULL, NULL},
    {{"service-name", required_argument, NULL, 'n'}, R_NONE, NULL, &opt.service},
    {{"merge-reports", no_argument, NULL, 'm'}, R_NONE, &opt.merge, NULL},
    {{"history", required_argument, NULL, 'y'}, R_NONE, NULL, &opt.history},
    {{"job", required_argument, NULL, 'j'}, R_NONE, NULL, &opt.job},
    {{"fail-on-new", no_argument, NULL, 'E'}, R_NONE, &opt.fail_on_new, NULL},
    {{"history-report", no_argument, NULL, 'I'}, R_NONE, &opt.history_report, NULL},
    {{"since", required_argument, NULL, 'e'}, R_NONE, NULL, NULL},
    {{"rehearse", no_argument, NULL, 'r'}, R_NONE, &opt.rehearse, NULL},
    {{"from-report", required_argument, NULL, 'f'}, R_NONE, NULL, &opt.rh.from_report},
    {{"outage", required_argument, NULL, 'k'}, R_NONE, NULL, NULL},
    {{"rehearse-only", required_argument, NULL, 'l'}, R_NONE, NULL, NULL},
    {{"rehearse-skip", required_argument, NULL, 's'}, R_NONE, NULL, NULL},
    {{"rehearse-timeout", required_argument, NULL, 't'}, R_NONE, NULL, NULL},
    {{"guard-also", required_argument, NULL, 'g'}, R_ALL, NULL, NULL},
    {{"cgroup", required_argument, NULL, 'C'}, R_NONE, NULL, &opt.cgroup},
    {{"upstream", required_argument, NULL, 'U'}, R_ALL, NULL, NULL},
    {{"log-format", required_argument, NULL, 'F'}, R_ALL, NULL, NULL},
    {{"log", required_argument, NULL, 'o'}, R_ALL, NULL, &opt.log_path},
    {{"syslog", no_argument, NULL, 'Y'}, R_ALL, &opt.syslog, NULL},
    {{"verbose", no_argument, NULL, 'v'}, R_ALL, NULL, NULL},
    {{"help", no_argument, NULL, 'h'}, R_NONE, NULL, NULL},
    {{"version", no_argument, NULL, 'V'}, R_NONE, NULL, NULL},
    {{"dump-bpf", no_argument, NULL, 'D'}, R_NONE, &opt.dump_bpf, NULL},
    {{"check", no_argument, NULL, 'c'}, R_NONE, &opt.check, NULL},
    {{"no-cache", no_argument, NULL, 'x'}, R_ALL, &opt.no_cache, NULL},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))
static struct option opts[NOPTIONS + 1];

/* Keep option k of the table (and its arg) for the runs of a rehearsal, when they take it. */
static int keep_for_rehearsal(size_t k, const char *arg)
{
	bool audit_only = options[k].rehearse == R_AUDIT;
	char **to = audit_only ? opt.audit_pass : opt.pass;
	int *n = audit_only ? &opt.rh.naudit : &opt.rh.npass;
	int max = audit_only ? (int)(sizeof(opt.audit_pass) / sizeof(opt.audit_pass[0]))
			     : (int)(sizeof(opt.pass) / sizeof(opt.pass[0]));

	if (options[k].rehearse == R_NONE)
		return 0;
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
			opt.connect_action = i;
			return 0;
		}
	log_warnx("invalid --connect-action '%s': use eperm, refused or drop", arg);
	return -EINVAL;
}

/* --outage, --rehearse-only, --rehearse-skip, --rehearse-timeout. */
static int parse_rehearsal(int c, const char *arg)
{
	struct rehearse_cfg *h = &opt.rh;
	int o = c == 'k' ? rehearse_outage(arg) : 0, *n = c == 'l' ? &h->nonly : &h->nskip;
	char *end;
	long v;

	opt.rehearse_opt = true;
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
	if (opt.rehearse_opt && !opt.rehearse) {
		log_warnx("--from-report, --outage, --rehearse-only, --rehearse-skip and "
			  "--rehearse-timeout need --rehearse");
		return -EINVAL;
	}
	if (!opt.rehearse)
		return 0;
	if (optind >= argc || opt.check || opt.merge || opt.dump_bpf) {
		log_warnx("--rehearse needs a COMMAND to run: deployguard --rehearse [OPTIONS] -- "
			  "COMMAND [ARG...]");
		return -EINVAL;
	}
	if (opt.audit || opt.fail_on_block || opt.fail_on_new || opt.history || opt.allowlist ||
	    opt.service || opt.fail_open || opt.px.action || opt.connect_action) {
		log_warnx("--rehearse decides how each run fails and what it writes: it takes no "
			  "--audit, --fail-on-block, --fail-on-new, --history, --write-allowlist, "
			  "--service-name, --fail-open, --block-action or --connect-action");
		return -EINVAL;
	}
	if (opt.graph && opt.rh.from_report) {
		log_warnx("--graph with --rehearse draws the audit run's graph: it needs the audit "
			  "run, not --from-report");
		return -EINVAL;
	}
	return 0;
}

int options_parse(int argc, char **argv)
{
	int c;

	for (size_t k = 0; k < NOPTIONS; k++)
		opts[k] = options[k].o;
	while ((c = getopt_long(argc, argv, "+a:b:o:vhV", opts, NULL)) != -1) {
		size_t k = 0;

		while (k < NOPTIONS && options[k].o.val != c)
			k++;
		if (k < NOPTIONS && keep_for_rehearsal(k, optarg))
			return -EINVAL;
		if (k < NOPTIONS && (options[k].flag || options[k].arg)) {
			if (options[k].flag)
				*options[k].flag = true;
			else
				*options[k].arg = optarg;
			continue;
		}
		switch (c) {
		case 'a':
		case 'b':
			if (add_list((char)c, optarg))
				return -EINVAL;
			break;
		case 'B':
			if (parse_action(optarg))
				return -EINVAL;
			break;
		case 'T':
			if (parse_connect_action(optarg))
				return -EINVAL;
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
			opt.leftovers_set = true;
			break;
		case 'd':
			if (opt.ndepends == 64) {
				log_warnx("--depends: at most 64 manifests");
				return -EINVAL;
			}
			opt.depends[opt.ndepends++] = optarg;
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
			if (opt.nalso == PROGS_MAX_ALSO) {
				log_warnx("--guard-also: at most %d cgroups", PROGS_MAX_ALSO);
				return -EINVAL;
			}
			opt.also[opt.nalso++] = optarg;
			break;
		case 'U':
			if (add_upstream(optarg, ""))
				return -EINVAL;
			break;
		case 'e':
			if (parse_since(optarg))
				return -EINVAL;
			break;
		case 'F':
			if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
				log_warnx("invalid --log-format '%s': use text or json", optarg);
				return -EINVAL;
			}
			opt.log_format = optarg[0] == 'j' ? AUDIT_JSON : AUDIT_TEXT;
			break;
		case 'v':
			opt.verbose++;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		case 'V':
			printf("deployguard %s (libbcc %s)\n", DG_VERSION, LIBBCC_VERSION);
			exit(0);
		default:
			fputs("Try 'deployguard --help'.\n", stderr);
			return -EINVAL;
		}
	}
	opt.rehearse_opt |= opt.rh.from_report != NULL;
	if (rehearsal_args(argc))
		return -EINVAL;
	if (opt.merge) {
		if (optind >= argc) {
			log_warnx("--merge-reports needs the reports: deployguard --merge-reports "
				  "FILE...");
			return -EINVAL;
		}
		opt.cmd.argv = argv + optind;
		return 0;
	}
	if (opt.history_report || opt.since_days) {
		if (!opt.history_report) {
			log_warnx("--since is for --history-report: deployguard --history DB "
				  "--history-report --since DAYS");
			return -EINVAL;
		}
		if (!opt.history || optind < argc) {
			log_warnx(
			    "--history-report reads the history and runs nothing: deployguard "
			    "--history DB --history-report [--job NAME] [--since DAYS]");
			return -EINVAL;
		}
		return 0;
	}
	if (opt.check && optind < argc) {
		log_warnx("--check runs no COMMAND: it only probes this host");
		return -EINVAL;
	}
	if (opt.block_doh && opt.list_opt == 'a') {
		log_warnx("--block-doh is for blocklists: an allowlist (-a) blocks every DoH "
			  "resolver it does not name");
		return -EINVAL;
	}
	if (opt.allow_broad && opt.list_opt != 'a') {
		log_warnx("--allow-broad is for allowlists (-a): a blocklist may be as broad as it "
			  "likes");
		return -EINVAL;
	}
	if ((opt.job || opt.fail_on_new) && !opt.history) {
		log_warnx("--job and --fail-on-new need --history DB: the runs they compare with");
		return -EINVAL;
	}
	if (opt.allowlist && !opt.audit) {
		log_warnx(
		    "--write-allowlist needs --audit: a run that blocks does not show all that "
		    "the deploy needs");
		return -EINVAL;
	}
	opt.attach = optind >= argc && opt.cgroup && !opt.dump_bpf && !opt.check;
	if (optind >= argc && !opt.dump_bpf && !opt.attach && !opt.check) {
		log_warnx("no COMMAND given: deployguard [OPTIONS] -- COMMAND [ARG...], or "
			  "deployguard [OPTIONS] --cgroup PATH to guard an existing cgroup");
		return -EINVAL;
	}
	if (opt.attach && (opt.cmd.user || opt.leftovers_set || opt.fail_open || opt.keep_nss)) {
		log_warnx(
		    "--user, --leftovers, --fail-open and --keep-nsswitch need a COMMAND: with "
		    "--cgroup PATH alone deployguard runs nothing");
		return -EINVAL;
	}
	opt.cmd.argv = argv + optind;
	opt.rh.cmd = opt.cmd.argv; /* what a rehearsal's runs run, and where they write */
	opt.rh.pass = opt.pass;
	opt.rh.audit_pass = opt.audit_pass;
	opt.rh.cgroup = opt.cgroup;
	opt.rh.report = opt.report;
	opt.rh.graph = opt.graph;
	opt.px.mode = opt.list_opt == 'a' ? &policy_allowlist
		      : opt.strict	  ? &policy_strict
					  : &policy_blocklist;
	return 0;
}
