/*
 * run.c: the steps of a run's set-up that read the options and that --check takes too: the
 * cgroup (made or reused, opened, limited), the cgroups --guard-also adds, the programs'
 * constants, and the policy files and manifests (loaded at start, reloaded on SIGHUP).
 */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cache.h"
#include "log.h"
#include "options.h"
#include "probe.h"

/* The compile cache: DEPLOYGUARD_CACHE (tests give each run a directory of its own), or the
 * system's. */
const char *run_cache_dir(void)
{
	const char *d = getenv("DEPLOYGUARD_CACHE");

	return d && *d ? d : CACHE_DIR;
}

/* The programs' -D constants for this run's options, policy, proxy port and cgroup. */
int run_flags(struct run *r, unsigned port, unsigned long cgroup_id)
{
	struct progs_cfg c = {.kernel_headers = opt.kernel_headers,
			      .mode = opt.px.mode,
			      .audit = opt.audit,
			      .sock_owner = probe_has(PROBE_SOCK_OWNER),
			      .dump = opt.dump_bpf,
			      .proxy_port = port,
			      .cgroup_id = cgroup_id,
			      .watermark = r->watermark,
			      .connect_action = opt.connect_action};

	return progs_flags(&r->bpf, &c, &r->pol);
}

/* Make (or reuse) the cgroup and open it. A relative --cgroup is taken under the mount. */
int run_cgroup(struct run *r)
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
	if (!opt.cgroup)
		snprintf(r->cg_path, sizeof(r->cg_path), "%s/deployguard-%d", mnt, (int)getpid());
	else if (opt.cgroup[0] == '/')
		snprintf(r->cg_path, sizeof(r->cg_path), "%s", opt.cgroup);
	else
		snprintf(r->cg_path, sizeof(r->cg_path), "%s/%s", mnt, opt.cgroup);
	if (!opt.attach && mkdir(r->cg_path, 0755) == 0)
		r->cg_created = true;
	else if (!opt.attach && errno != EEXIST) {
		err = -errno;
		log_warn("failed to create cgroup %s", r->cg_path);
		return err;
	}
	r->cg_fd = open(r->cg_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->cg_fd < 0 && errno == ENOENT && opt.attach) {
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
	memcpy(r->lim.want, opt.limit, sizeof(opt.limit));
	return cg_limits_apply(&r->lim, mnt, r->cg_path, r->cg_created, opt.attach);
}

/* --guard-also: the same programs on existing cgroups, for as long as the run lasts. Not the
 * cgroup2 root, nor any that holds deployguard itself (its own queries would come back to it). */
int run_guard_also(struct run *r)
{
	for (int k = 0; k < opt.nalso; k++) {
		char path[PATH_MAX];
		struct statfs sfs;
		int fd, err;

		snprintf(path, sizeof(path), opt.also[k][0] == '/' ? "%s" : "%s/%s",
			 opt.also[k][0] == '/' ? opt.also[k] : r->cg_mnt, opt.also[k]);
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fstatfs(fd, &sfs) || sfs.f_type != CGROUP2_MAGIC) {
			err = fd < 0 ? -errno : -ENOTDIR;
			log_warnx(
			    "--guard-also %s: %s is not an existing cgroup v2 directory (cgroup2 "
			    "is mounted at %s)",
			    opt.also[k], path, r->cg_mnt);
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

static bool policy_blocks(const void *ctx, const char *name, size_t len)
{
	return policy_judge(ctx, opt.px.mode, name, len, NULL);
}

/* Read every policy file into pol, and the manifests into deps, judged by pol; on a bad file
 * say which line, after what. */
int run_load_policy(struct policy *pol, struct depends *deps, const char *what)
{
	char err[1024];
	size_t n;

	pol->allowlist = opt.list_opt == 'a';
	pol->allow_broad = opt.allow_broad;
	for (int i = 0; i < opt.nlists; i++) {
		if (policy_load(pol, opt.lists[i], err, sizeof(err))) {
			log_warnx("%s%s", what, err);
			return -EINVAL;
		}
	}
	if (opt.block_doh &&
	    policy_load_text(pol, "built-in:doh-resolvers.txt", dg_doh_list, err, sizeof(err))) {
		log_warnx("%s%s", what, err);
		return -EINVAL;
	}
	if (pol->warning[0])
		log_warnx("%s: is that meant?", pol->warning);
	for (int i = 0; i < opt.ndepends; i++) {
		if (depends_load(deps, opt.depends[i], err, sizeof(err))) {
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
 * moment between pmaps_fill_rules() and pmaps_prune_rules(). */
void run_reload_policy(struct run *r)
{
	struct policy np = {0}, old;
	struct depends nd = {0}, oldd;

	if (run_load_policy(&np, &nd, "policy reload failed, keeping the policy in force: ")) {
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
	if (pmaps_fill_rules(&r->maps, &np)) {
		log_warnx("policy reload failed, keeping the policy in force");
		pmaps_prune_rules(&r->maps, &r->pol);
		pmaps_fill_rules(&r->maps, &r->pol);
		policy_free(&np);
		depends_free(&nd);
		return;
	}
	old = r->pol;
	oldd = r->deps;
	r->pol = np; /* the proxy reads the policy through &r->pol, the manifest through &r->deps */
	r->deps = nd;
	pmaps_prune_rules(&r->maps, &r->pol);
	proxy_policy_changed(r->proxy);
	policy_free(&old);
	depends_free(&oldd);
	log_info("policy reloaded: %zu names, %zu addresses", r->pol.nnames, r->pol.nnets);
}
