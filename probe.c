/*
 * probe.c: does this host have what a guarded run needs? Each probe asks the kernel directly:
 * a tiny map or program is created and thrown away, so a missing feature is named before
 * anything runs, rather than surfacing as a verifier message half-way through set-up.
 *
 * The rows are printed as a table by deployguard --check; a normal run prints only failures.
 */
#define _GNU_SOURCE
#include "probe.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>

#include "bpf_prog.h"
#include "log.h"

#define INSN(c, d, s, o, i)                                                                        \
	((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

static bool table;
static int failures;
static unsigned missing_features;

void probe_begin(bool as_table)
{
	table = as_table;
	failures = 0;
	missing_features = 0;
	if (table)
		printf("%-30s %-8s %s\n", "CHECK", "RESULT", "DETAIL");
}

int probe_failures(void)
{
	return failures;
}

bool probe_has(enum probe_feature f)
{
	return !(missing_features & f);
}

/* DEPLOYGUARD_WITHOUT=sock-owner,pidfd-getfd,cgroup-kill,btf,unix-connect takes a part's fallback
 * as if the kernel lacked it: the tests run each fallback on a kernel that has everything. */
bool probe_without(const char *name)
{
	const char *list = getenv("DEPLOYGUARD_WITHOUT"), *p = list;
	size_t n = strlen(name);

	while (p && (p = strstr(p, name))) {
		if ((p == list || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return true;
		p += n;
	}
	return false;
}

void probe_fallback(enum probe_feature f, const char *what, const char *detail)
{
	missing_features |= f;
	if (table) {
		printf("%-30s %-8s %s\n", what, "fallback", detail);
		fflush(stdout);
	} else
		log_info("%s: %s", what, detail);
}

/* The fallback of a part the kernel lacks, or that DEPLOYGUARD_WITHOUT names. */
static void fallback(enum probe_feature f, const char *name, const char *what, const char *detail)
{
	char d[512];

	snprintf(d, sizeof(d), "%s%s", probe_without(name) ? "(DEPLOYGUARD_WITHOUT) " : "", detail);
	probe_fallback(f, what, d);
}

void probe_row(const char *what, int err, const char *detail)
{
	failures += err != 0;
	if (table) {
		printf("%-30s %-8s %s\n", what, err ? "FAIL" : "ok", detail);
		fflush(stdout); /* in order with what stderr says */
	} else if (err)
		log_warnx("%s: %s", what, detail);
}

void probe_note(const char *what, const char *result, const char *detail)
{
	if (table) {
		printf("%-30s %-8s %s\n", what, result, detail);
		fflush(stdout);
	}
}

static const char *release(void)
{
	static struct utsname u;

	return uname(&u) ? "?" : u.release;
}

/* A hook of bpf_prog.h's programs, a --check row: the first program with that row gives its type
 * and attach type, and all of them the helpers it must have. */
struct hook {
	const char *name;
	enum bpf_prog_type type;
	enum bpf_attach_type attach;
	int helpers[2 * DG_MAX_HELPERS];
	int optional; /* a helper the programs can do without, see fallbacks */
};

/* What a missing optional helper costs (the program is compiled without it, see bpf_flags). */
static const struct {
	int helper;
	enum probe_feature feature;
	const char *without_name; /* its name in DEPLOYGUARD_WITHOUT */
	const char *without;	  /* what is lost without it */
} fallbacks[] = {
    {BPF_FUNC_sk_storage_get, PROBE_SOCK_OWNER, "sock-owner",
     "no socket storage at socket creation: ICMP echo packets the egress backstop drops name "
     "no process (upgrade the kernel for it)"},
    {BPF_FUNC_set_retval, PROBE_SET_RETVAL, "set-retval",
     "no bpf_set_retval: --connect-action refused cannot be had (eperm and drop can; 6.1+)"},
};

static void add_helper(struct hook *h, int helper)
{
	size_t i = 0;

	while (i < sizeof(h->helpers) / sizeof(h->helpers[0]) - 1 && h->helpers[i] &&
	       h->helpers[i] != helper)
		i++;
	h->helpers[i] = helper;
}

/* The row of dg_progs[first] and the union of its programs' helpers; false if an earlier program
 * already had that row. */
static bool hook_of(size_t first, struct hook *h)
{
	for (size_t i = 0; i < first; i++)
		if (!strcmp(dg_progs[i].row, dg_progs[first].row))
			return false;
	*h = (struct hook){.name = dg_progs[first].row,
			   .type = dg_progs[first].type,
			   .attach = dg_progs[first].attach};
	for (size_t i = first; i < DG_NPROGS; i++) {
		if (strcmp(dg_progs[i].row, h->name))
			continue;
		for (size_t j = 0; j < DG_MAX_HELPERS && dg_progs[i].helpers[j]; j++)
			add_helper(h, dg_progs[i].helpers[j]);
		if (dg_progs[i].optional)
			h->optional = dg_progs[i].optional;
	}
	return true;
}

/* Load "call helper (if any); r0 = 1; exit" as a program of hook h. With a helper the arguments
 * are garbage: what matters is whether the verifier knows the helper for this program type. */
static int load(const struct hook *h, int helper, char *log, size_t loglen)
{
	const struct bpf_insn prog[] = {
	    INSN(BPF_JMP | BPF_CALL, 0, 0, 0, helper),
	    INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1),
	    INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = h->attach, .log_buf = log,
		    .log_size = (unsigned)loglen, .log_level = log ? 1 : 0);
	int fd;

	if (log)
		log[0] = '\0';
	fd = bpf_prog_load(h->type, "dg_probe", "GPL", helper ? prog : prog + 1, helper ? 3 : 2,
			   &opts);
	if (fd >= 0)
		close(fd);
	return fd < 0 ? -errno : 0;
}

/* The helper the verifier refused, from its log; NULL if it refused something else. */
static const char *refused_helper(const char *log)
{
	static const char *const says[] = {"unknown func ", "invalid func ", "cannot use helper "};

	for (size_t i = 0; i < sizeof(says) / sizeof(says[0]); i++)
		if (strstr(log, says[i]))
			return strstr(log, says[i]) + strlen(says[i]);
	return NULL;
}

/* "this kernel (R) lacks H1 H2" into detail, for each helper of h the verifier refuses. */
static size_t missing_helpers(const struct hook *h, char *detail, size_t len)
{
	static char log[4096];
	size_t missing = 0;

	for (size_t n = 0; n < sizeof(h->helpers) / sizeof(h->helpers[0]) && h->helpers[n]; n++) {
		const char *name;

		if (load(h, h->helpers[n], log, sizeof(log)) == 0 || !(name = refused_helper(log)))
			continue;
		if (!missing++)
			snprintf(detail, len, "this kernel (%s) lacks", release());
		snprintf(detail + strlen(detail), len - strlen(detail), " %.*s",
			 (int)strcspn(name, "#\n"), name);
	}
	return missing;
}

static void probe_optional(const struct hook *h)
{
	static char log[4096];

	for (size_t i = 0; i < sizeof(fallbacks) / sizeof(fallbacks[0]); i++)
		if (fallbacks[i].helper == h->optional &&
		    (probe_without(fallbacks[i].without_name) ||
		     (load(h, h->optional, log, sizeof(log)) && refused_helper(log))))
			fallback(fallbacks[i].feature, fallbacks[i].without_name, h->name,
				 fallbacks[i].without);
}

/* Hooks the kernel may lack (a dg_progs row's may_lack): the feature each is, and what is lost
 * without one. */
static const struct {
	enum bpf_attach_type attach;
	enum probe_feature feature;
	const char *without_name, *without;
} absent_hooks[] = {
    {DG_UNIX_CONNECT, PROBE_UNIX_CONNECT, "unix-connect",
     "none (6.7+): work handed to a daemon outside the cgroup over a unix socket (dockerd, "
     "systemd) goes unseen"},
};

/* A hook of a program that the kernel may lack: a fallback row when it does. */
static bool probe_hook_absent(const struct hook *h, enum bpf_attach_type attach)
{
	for (size_t i = 0; i < sizeof(absent_hooks) / sizeof(absent_hooks[0]); i++)
		if (absent_hooks[i].attach == attach &&
		    (probe_without(absent_hooks[i].without_name) || load(h, 0, NULL, 0))) {
			fallback(absent_hooks[i].feature, absent_hooks[i].without_name, h->name,
				 absent_hooks[i].without);
			return true;
		}
	return false;
}

bool probe_prog_loads(size_t i)
{
	for (size_t k = 0;
	     dg_progs[i].may_lack && k < sizeof(absent_hooks) / sizeof(absent_hooks[0]); k++)
		if (absent_hooks[k].attach == dg_progs[i].attach)
			return probe_has(absent_hooks[k].feature);
	return true;
}

static void probe_hooks(void)
{
	char detail[512];
	struct hook h;

	for (size_t i = 0; i < DG_NPROGS; i++) {
		size_t n = 0, missing = 0;
		int err;

		if (!hook_of(i, &h))
			continue;
		if (dg_progs[i].may_lack && probe_hook_absent(&h, dg_progs[i].attach))
			continue;
		err = load(&h, 0, NULL, 0);
		while (n < sizeof(h.helpers) / sizeof(h.helpers[0]) && h.helpers[n])
			n++;
		if (err)
			snprintf(detail, sizeof(detail),
				 "this kernel (%s) cannot load it: %s; it needs CONFIG_CGROUP_BPF "
				 "and a newer kernel",
				 release(), strerror(-err));
		else if ((missing = missing_helpers(&h, detail, sizeof(detail))))
			snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail),
				 " for these programs: upgrade the kernel");
		else
			snprintf(detail, sizeof(detail), "loads, with its %zu helper%s", n,
				 n == 1 ? "" : "s");
		probe_row(h.name, err ? err : missing ? -ENOTSUP : 0, detail);
		if (!err && !missing && h.optional)
			probe_optional(&h);
	}
}

/* System calls that only some parts need: ENOSYS says the kernel has none. */
static void probe_syscalls(void)
{
	if (probe_without("pidfd-getfd") ||
	    (syscall(SYS_pidfd_getfd, -1, 0, 0) < 0 && errno == ENOSYS))
		fallback(PROBE_PIDFD_GETFD, "pidfd-getfd", "pidfd_getfd",
			 "none (5.6+): with --cgroup, packets of sockets made before "
			 "deployguard attached name no process when dropped at egress");
}

static void probe_maps(void)
{
	static const struct {
		enum bpf_map_type type;
		const char *name;
	} maps[] = {{BPF_MAP_TYPE_LRU_HASH, "map lru_hash"},
		    {BPF_MAP_TYPE_LPM_TRIE, "map lpm_trie"},
		    {BPF_MAP_TYPE_SK_STORAGE, "map sk_storage"},
		    {BPF_MAP_TYPE_RINGBUF, "map ringbuf"}};
	char detail[256];

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		int ok = libbpf_probe_bpf_map_type(maps[i].type, NULL);

		snprintf(detail, sizeof(detail),
			 ok == 1 ? "available" : "this kernel (%s) has no such map: upgrade it",
			 release());
		probe_row(maps[i].name, ok == 1 ? 0 : -ENOTSUP, detail);
	}
}

/* Root, or the capabilities that loading cgroup programs takes. */
static int probe_privileges(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {{0}};
	bool admin, bpf, net;

	if (syscall(SYS_capget, &h, d))
		return -errno;
	admin = d[0].effective & (1u << CAP_SYS_ADMIN);
	net = d[0].effective & (1u << CAP_NET_ADMIN);
	bpf = d[1].effective & (1u << (CAP_BPF - 32));
	if (admin || (bpf && net)) {
		probe_row("privileges", 0, admin ? "CAP_SYS_ADMIN" : "CAP_BPF and CAP_NET_ADMIN");
		return 0;
	}
	probe_row("privileges", -EPERM,
		  "deployguard needs CAP_SYS_ADMIN, or CAP_BPF and CAP_NET_ADMIN: run it as root");
	return -EPERM;
}

void probe_cgroup_kill(const char *cg)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/cgroup.kill", cg);
	if (probe_without("cgroup-kill") || access(path, F_OK))
		fallback(PROBE_CGROUP_KILL, "cgroup-kill", "cgroup.kill",
			 "none (5.14+): deployguard kills the cgroup's processes one by one, "
			 "in passes, which a fork bomb can outrun");
}

/* The release, against the oldest one deployguard supports; the probes below decide. */
static void probe_release(void)
{
	unsigned major = 0, minor = 0;
	char detail[256];

	sscanf(release(), "%u.%u", &major, &minor);
	snprintf(detail, sizeof(detail), "Linux %s%s", release(),
		 major > 5 || (major == 5 && minor >= 10)
		     ? ""
		     : ": older than 5.10, the oldest supported; the rows below say what runs");
	probe_note("kernel", "ok", detail);
}

int probe_host(const char *mnt)
{
	int fd;

	probe_release();
	probe_row("cgroup2 mount", mnt ? 0 : -ENOENT,
		  mnt ? mnt
		      : "none in /proc/self/mounts: mount one with 'mount -t cgroup2 none "
			"/sys/fs/cgroup/unified' (a kernel with cgroup v2)");
	if (probe_privileges())
		return failures;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	probe_row("bpf() system call", fd < 0 ? -errno : 0,
		  fd >= 0 ? "works"
		  : errno == ENOSYS
		      ? "this kernel has no bpf(): it needs CONFIG_BPF_SYSCALL"
		      : "refused: a container or seccomp profile may forbid bpf(); run "
			"deployguard on the host");
	if (fd < 0)
		return failures;
	close(fd);
	probe_maps();
	probe_hooks();
	probe_syscalls();
	return failures;
}
