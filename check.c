/*
 * check.c: deployguard --check: the host's probes, then the real thing on a scratch cgroup
 * (compile, load and attach every program, and take them off again), a row each.
 */
#define _GNU_SOURCE
#include "run.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <bcc/bcc_version.h>

#include "bpfcall.h"
#include "filter.h"
#include "kheaders.h"
#include "options.h"
#include "probe.h"

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
			 opt.no_cache	    ? "--no-cache: compiled, nothing stored"
			 : opt.verbose >= 3 ? "-vvv compiles, for the verifier's logs"
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
int check_host(struct run *r)
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
	err = kheaders_find(opt.kernel_headers, r->bpf.headers, sizeof(r->bpf.headers),
			    r->bpf.cflags, &r->bpf.ncflags);
	probe_row("kernel headers", err, err ? "see above" : r->bpf.headers);
	if (err || (err = run_cgroup(r)) || fstat(r->cg_fd, &st))
		return 1;
	probe_cgroup_kill(r->cg_path);
	err = run_flags(r, 53, (unsigned long)st.st_ino);
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
	    "DoH side doors", opt.block_doh ? "blocked" : "partly",
	    opt.block_doh
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
		err = progs_build(&r->bpf, opt.verbose, &failed);
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
