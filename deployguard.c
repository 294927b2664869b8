/*
 * deployguard: run a deploy script so that it cannot quietly depend on the service it deploys.
 *
 * The command and everything it starts run in a cgroup v2 directory of their own. BPF cgroup
 * programs (bpf_prog.bpf.c and the two after it, compiled at start by libbcc against the kernel
 * headers) send every DNS query of that cgroup to deployguard's own proxy (proxy.c), which answers
 * names on the blocklist with NXDOMAIN and forwards the rest; connections to blocked addresses, and
 * to every address a blocked name resolves to, fail at connect(). Raw IP sockets, DNS over TLS and
 * the side doors below IP (socket families, io_uring, BPF that moves packets) are refused. Every
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
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "adopt.h"
#include "audit.h"
#include "cgroup.h"
#include "watchdog.h"
#include "command.h"
#include "container.h"
#include "dockerapi.h"
#include "events.h"
#include "fdpass.h"
#include "filter.h"
#include "history.h"
#include "log.h"
#include "nss.h"
#include "options.h"
#include "policymaps.h"
#include "probe.h"
#include "proc.h"
#include "progs.h"
#include "proxy.h"
#include "rehearse.h"
#include "report.h"
#include "run.h"

#define DG_WARMUP_MS 2000 /* longest wait for blocked names' addresses before COMMAND runs */
#define DG_SETTLE_MS 1000 /* longest wait for leftovers to end by themselves */

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
		filter_on_notify(r->notify_fd, opt.px.mode->name);
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
			if (opt.leftovers != DG_LEFT_WAIT ||
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
	if (opt.leftovers == DG_LEFT_KILL) {
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
	struct report_run run = {.argv = opt.attach ? NULL : opt.cmd.argv,
				 .service = opt.service,
				 .job = opt.job,
				 .history = opt.history,
				 .mode = opt.px.mode->name,
				 .audit = opt.audit,
				 .policies = opt.lists,
				 .npolicies = opt.nlists,
				 .manifests = opt.depends,
				 .nmanifests = opt.ndepends,
				 .cgroup = r->cg_path[0] ? r->cg_path : NULL,
				 .deps = &r->deps,
				 .start_ms = r->start_ms,
				 .cmd_start_ms = r->cmd_start_ms,
				 .cmd_end_ms = r->cmd_end_ms};

	if (opt.dump_bpf || opt.check) {
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
	if (r->child > 0 || opt.attach)
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
	pmaps_close(&r->maps);
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
	audit_init(NULL, opt.log_format, opt.verbose); /* later lines go to stderr */
	if (r->log)
		fclose(r->log);
	r->log = NULL;
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
				run_reload_policy(r);
			else
				stop |= si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM;
		}
	}
	ring_buffer__consume(r->ev.rb);
	log_info("detached from %s; its processes run on, unguarded", r->cg_path);
	return 0;
}

/* --history: the job's earlier runs, before anything runs; its name defaults to the command. */
static int open_history(void)
{
	static char job[1024];

	if (!opt.history)
		return 0;
	if (!opt.job) {
		size_t n = 0;

		for (char **a = opt.cmd.argv; a && *a && n < sizeof(job) - 1; a++)
			n += (size_t)snprintf(job + n, sizeof(job) - n, "%s%s", n ? " " : "", *a);
		opt.job = opt.attach ? (opt.service ? opt.service : opt.cgroup) : job;
	}
	if (history_open(opt.history, opt.job))
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
	if (opt.fail_on_block && (n = audit_blocked())) {
		log_warnx("--fail-on-block: %lu destination%s %s: exit %d", n, n == 1 ? "" : "s",
			  opt.audit ? "would have been blocked" : "blocked", DG_EXIT_BLOCKED);
		return DG_EXIT_BLOCKED;
	}
	if (opt.fail_on_new && (n = audit_fresh())) {
		log_warnx(
		    "--fail-on-new: %lu destination%s no earlier run of job \"%s\" reached: exit "
		    "%d",
		    n, n == 1 ? "" : "s", opt.job, DG_EXIT_NEW);
		return DG_EXIT_NEW;
	}
	if (opt.fail_on_new && !history_available()) {
		log_warnx(
		    "--fail-on-new: the history was unavailable, so nothing was checked: exit %d",
		    DG_EXIT_UNCHECKED);
		return DG_EXIT_UNCHECKED;
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
	if (opt.keep_nss) {
		log_warnx("%s, outside the cgroup: --keep-nsswitch: names COMMAND resolves there "
			  "bypass the proxy (addresses are still checked)",
			  what);
		return 0;
	}
	log_info("%s: COMMAND resolves over DNS instead, in a mount namespace of its own "
		 "(--keep-nsswitch keeps the host's)",
		 what);
	opt.cmd.nss = &r->nss;
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
				    .audit = opt.audit,
				    .method = opt.px.mode->name};
	int err;

	if (opt.attach || opt.dump_bpf)
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
	opt.cmd.docker = r->docker;
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

	if ((err = report_open(opt.report, opt.graph, opt.allowlist)) || (err = open_history()) ||
	    (err = run_load_policy(&r->pol, &r->deps, "")) ||
	    (opt.cmd.user && (err = command_user(&opt.cmd))))
		return err;
	if (opt.log_path && !(r->log = fopen(opt.log_path, "ae"))) {
		err = -errno;
		log_warn("failed to open log file %s", opt.log_path);
		return err;
	}
	audit_init(r->log, opt.log_format, opt.verbose);
	if (!opt.attach && !opt.dump_bpf && (err = resolution(r)))
		return err;
	if (!opt.px.nup && !opt.dump_bpf && (err = options_upstreams()))
		return err;
	/* The input is good; from here on a failure is the host's, which --fail-open may pass. */
	r->host_stage = true;
	probe_begin(false);
	if (!opt.dump_bpf &&
	    probe_host(cg_mount(r->cg_mnt, sizeof(r->cg_mnt)) ? NULL : r->cg_mnt)) {
		log_warnx(
		    "this host cannot run a guarded COMMAND (see above); 'deployguard --check' "
		    "lists every probe");
		return -ENOTSUP;
	}
	if (opt.connect_action == DG_CA_REFUSED && !opt.dump_bpf && !probe_has(PROBE_SET_RETVAL)) {
		log_warnx("--connect-action refused needs bpf_set_retval in cgroup/connect, which "
			  "this kernel lacks (6.1+): use eperm or drop");
		return -ENOTSUP;
	}
	if ((err = filter_check()))
		return err;
	opt.px.pol = &r->pol;
	opt.px.deps = &r->deps;
	opt.px.audit = opt.audit;
	if ((err = proxy_open(&r->proxy, &opt.px, &port))) {
		log_warnx("failed to open the DNS proxy on 127.0.0.1: %s", strerror(-err));
		return err;
	}
	st.st_ino = 0; /* --dump-bpf needs no cgroup */
	if (!opt.dump_bpf && ((err = run_cgroup(r)) || fstat(r->cg_fd, &st))) {
		err = err ? err : -errno;
		return err;
	}
	if (!opt.dump_bpf)
		probe_cgroup_kill(r->cg_path);
	proc_init(r->cg_path + strlen(r->cg_mnt)); /* as /proc/PID/cgroup names it */
	cg_kill_file = probe_has(PROBE_CGROUP_KILL);
	if ((err = run_flags(r, port, (unsigned long)st.st_ino)) || opt.dump_bpf)
		return err;
	if ((err = progs_build(&r->bpf, opt.verbose, &failed)))
		return err;
	if ((err = pmaps_open(&r->maps, r->bpf.map_fd, opt.px.grace_s)) ||
	    (err = pmaps_fill_rules(&r->maps, &r->pol)))
		return err;
	if ((err = adopt_open(&r->adopt, &r->bpf, r->cg_mnt))) {
		log_warnx("failed to open %s: %s", r->cg_mnt, strerror(-err));
		return err;
	}
	r->ev = (struct events){.pol = &r->pol,
				.adopt = &r->adopt,
				.netns_fd = r->bpf.map_fd[M_NETNS],
				.proxy = r->proxy,
				.maps = &r->maps,
				.audit = opt.audit,
				.method = opt.px.mode->name,
				.masked = opt.cmd.nss ? nss_masked(opt.cmd.nss) : NULL};
	if ((err = events_open(&r->ev, r->bpf.map_fd[M_EVENTS]))) {
		log_warnx("failed to open the BPF ring buffer: %s", strerror(-err));
		return err;
	}
	/* The proxy names the sender of each query and teaches the kernel addresses; the maps
	 * exist only now. */
	proxy_set_maps(r->proxy, r->bpf.map_fd[M_QUERIES], &r->maps);
	proxy_watch_policy(r->proxy);
	if ((err = docker_view(r)))
		return err;
	if ((err = progs_attach(&r->bpf, r->cg_fd, r->cg_path)) || (err = run_guard_also(r)))
		return err;
	if (probe_has(PROBE_PIDFD_GETFD))
		progs_own_sockets(&r->bpf, r->cg_path);
	if (opt.attach)
		progs_note_members(&r->bpf, r->cg_path);
	log_debug("guarding %s, DNS proxy on port %u", r->cg_path, port);
	return 0;
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
	if (options_parse(argc, argv))
		return DG_EXIT_FAIL;
	r.bpf.cache_dir = opt.no_cache ? NULL : run_cache_dir();
	if (opt.merge)
		return report_merge(opt.cmd.argv);
	if (opt.history_report)
		return history_report(opt.history, opt.job, opt.since_days,
				      opt.log_format == AUDIT_JSON)
			   ? DG_EXIT_FAIL
			   : 0;
	log_set_verbose(opt.verbose);
	if (opt.rehearse) {
		return rehearse(&opt.rh);
	}
	audit_syslog(opt.syslog);
	log_set_verbose(opt.verbose);
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
	if (opt.check) {
		status = check_host(&r);
		goto cleanup;
	}
	err = r.sig_fd < 0 ? -errno : setup(&r);
	if (err && opt.fail_open && r.host_stage && !opt.dump_bpf) {
		cleanup(&r, DG_EXIT_FAIL, true);
		log_warnx(
		    "WARNING: the guard could not be set up (see above); --fail-open: running "
		    "COMMAND UNGUARDED, nothing is blocked or logged");
		command_exec(&opt.cmd, &old);
	}
	if (err || opt.dump_bpf)
		goto cleanup;
	warm_up(&r);
	if (sigpending(&mask) == 0 && (sigismember(&mask, SIGINT) || sigismember(&mask, SIGTERM))) {
		log_warnx("interrupted during set-up: COMMAND not run");
		goto cleanup;
	}
	if (opt.attach) {
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
	r.child = command_start(&opt.cmd, r.cg_path, &r.lim, r.notify_sock[1], &old);
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
	return opt.dump_bpf && !err ? 0 : status;
}
