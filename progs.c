/*
 * progs.c: deployguard's BPF programs (bpf_prog.h, bpf_*.bpf.c): the -D constants that shape
 * them, the compile and load (in a short-lived child that maps libbcc), the attach to the
 * cgroup, and the maps deployguard itself fills: address rules, and the owners of sockets made
 * before it attached.
 */
#define _GNU_SOURCE
#include "progs.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bcc/bcc_common.h>
#include <bcc/bcc_version.h>
#include <bcc/libbpf.h> /* for bcc_func_load's type: libbcc itself is opened by a child */
#include <bpf/bpf.h>

#include "cache.h"
#include "fdpass.h"
#include "kheaders.h"
#include "log.h"
#include "probe.h"

#define DG_NETS_SPARE 65536 /* address rules a reload may add; an LPM trie allocates per entry */
#define DG_LIBBCC     "libbcc.so.0"
#define DG_MEMBERS    65536 /* processes of the guarded subtree the guard can follow at once */
#define DG_MAX_DEPTH  32    /* cgroup levels dg_attach walks up to find the guarded one */
#define DG_CGROUPS    1024  /* cgroups a run can adopt at once (adopt.c holds fewer) */

static int add_cflag(struct progs *r, const char *fmt, unsigned long v)
{
	if (r->ncflags == PROGS_MAX_CFLAGS || asprintf(&r->cflags[r->ncflags], fmt, v) < 0)
		return -ENOMEM;
	r->ncflags++;
	return 0;
}

/* The entries of family's LPM tries the address rules take: dg_nets (ports false), or dg_ports,
 * one per protocol of a rule with a port. */
static size_t count_nets(const struct policy *p, int family, bool ports)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nnets; i++) {
		const struct policy_net *pn = &p->nets[i];

		if (ports && pn->port && (pn->family == family || pn->family == AF_UNSPEC))
			n += pn->proto ? 1 : 2;
		else if (!ports && !pn->port && pn->family == family)
			n++;
	}
	return n;
}

void progs_offsets(struct progs *r)
{
	if (r->offsets)
		return;
	r->offsets = true;
	if (kheaders_offsets(r->cflags, &r->ncflags, PROGS_MAX_CFLAGS, r->guard_why,
			     sizeof(r->guard_why)) == 0)
		return;
	snprintf(r->guard_why + strlen(r->guard_why), sizeof(r->guard_why) - strlen(r->guard_why),
		 ": a process that leaves the cgroup goes unseen, and is not stopped");
	probe_fallback(PROBE_ESCAPE_GUARD, "escape guard", r->guard_why);
}

/* The -D constants of the BPF text (and, with --dump-bpf, the text itself); what differs from
 * run to run goes in dg_conf instead. */
int progs_flags(struct progs *r, const struct progs_cfg *c, const struct policy *pol)
{
	int err = r->headers[0] ? 0
				: kheaders_find(c->kernel_headers, r->headers, sizeof(r->headers),
						r->cflags + r->ncflags, &r->ncflags);

	r->conf = (struct dg_conf){.cgroup_id = c->cgroup_id,
				   .watermark = c->watermark,
				   .self = (uint32_t)getpid(),
				   .proxy_port = htons((uint16_t)c->proxy_port)};
	if (!err)
		err = add_cflag(r, "-DDG_BPF=%lu", 1);
	if (!err)
		err = add_cflag(r, "-DDG_AUDIT=%lu", c->audit);
	if (!err)
		err = add_cflag(r, "-DDG_DENY_UNKNOWN=%lu", c->mode->deny_unknown);
	if (!err)
		err = add_cflag(r, "-DDG_NETS_ALLOW=%lu", !c->mode->listed_blocks);
	if (!err)
		err = add_cflag(r, "-DDG_CONNECT_ACTION=%lu", (unsigned long)c->connect_action);
	for (int v6 = 0; v6 < 2; v6++) {
		r->nets_max[v6] = count_nets(pol, v6 ? AF_INET6 : AF_INET, false) + DG_NETS_SPARE;
		r->ports_max[v6] = count_nets(pol, v6 ? AF_INET6 : AF_INET, true) + DG_NETS_SPARE;
	}
	if (!err)
		err = add_cflag(r, "-DDG_NNETS4=%lu", r->nets_max[0]);
	if (!err)
		err = add_cflag(r, "-DDG_NNETS6=%lu", r->nets_max[1]);
	if (!err)
		err = add_cflag(r, "-DDG_NPORTS4=%lu", r->ports_max[0]);
	if (!err)
		err = add_cflag(r, "-DDG_NPORTS6=%lu", r->ports_max[1]);
	if (!err)
		err = add_cflag(r, "-DDG_SOCK_OWNER=%lu", c->sock_owner);
	if (!err)
		err = add_cflag(r, "-DDG_NMEMBERS=%lu", DG_MEMBERS);
	if (!err)
		err = add_cflag(r, "-DDG_MAX_DEPTH=%lu", DG_MAX_DEPTH);
	if (!err)
		err = add_cflag(r, "-DDG_NCGROUPS=%lu", DG_CGROUPS);
	if (err || !c->dump)
		return err;
	progs_offsets(r);
	if (getenv("BCC_KERNEL_SOURCE"))
		printf("// env: BCC_KERNEL_SOURCE=%s\n", getenv("BCC_KERNEL_SOURCE"));
	for (int i = 0; i < r->ncflags; i++)
		printf("// cflag: %s\n", r->cflags[i]);
	printf("// dg_conf: cgroup_id=%llu watermark=%llu self=%u proxy_port=%u\n",
	       (unsigned long long)r->conf.cgroup_id, (unsigned long long)r->conf.watermark,
	       r->conf.self, c->proxy_port);
	fputs(dg_bpf_text, stdout);
	return 0;
}

/* libbcc, opened by the compiler's child only (see progs_build). */
static struct {
	__typeof__(bpf_module_create_c_from_string) *create;
	__typeof__(bpf_function_start) *start;
	__typeof__(bpf_function_size) *size;
	__typeof__(bpf_module_license) *license;
	__typeof__(bpf_module_kern_version) *kern_version;
	__typeof__(bcc_func_load) *load;
	__typeof__(bpf_table_fd) *table_fd;
	__typeof__(bpf_num_tables) *num_tables;
	__typeof__(bpf_table_name) *table_name;
	__typeof__(bpf_table_fd_id) *table_fd_id;
} bcc;

static int bcc_open(void)
{
	static const char *const names[] = {"bpf_module_create_c_from_string",
					    "bpf_function_start",
					    "bpf_function_size",
					    "bpf_module_license",
					    "bpf_module_kern_version",
					    "bcc_func_load",
					    "bpf_table_fd",
					    "bpf_num_tables",
					    "bpf_table_name",
					    "bpf_table_fd_id"};
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

/* The probes check the helpers dg_progs lists: make sure that the compiled code calls no other. */
static int helpers_listed(const struct dg_prog *p, const struct bpf_insn *insn, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;

		if (insn[i].code != (BPF_JMP | BPF_CALL) || insn[i].src_reg != 0)
			continue; /* not a helper call */
		while (j < DG_MAX_HELPERS && p->helpers[j] && p->helpers[j] != insn[i].imm)
			j++;
		if ((j == DG_MAX_HELPERS || !p->helpers[j]) && insn[i].imm != p->optional) {
			log_warnx(
			    "%s calls BPF helper %d, which its entry in dg_progs (bpf_prog.h) "
			    "does not list: add it there, for the start-up probes",
			    p->name, insn[i].imm);
			return -EINVAL;
		}
	}
	return 0;
}

/* Load each program. -vvv prints the verifier's log of each: at level 2, since level 1 keeps
 * only the log of a path that fails. libbcc prints a failure's log itself. */
static int bpf_load(void *mod, int *prog_fd, int verbose)
{
	static char small[LOG_BUF_SIZE];
	size_t log_len = verbose >= 3 ? (size_t)64 << 20 : sizeof(small);
	char *log_buf = verbose >= 3 ? malloc(log_len) : small; /* the child's, for a moment */

	if (!log_buf)
		return -ENOMEM;
	for (size_t i = 0; i < DG_NPROGS; i++) {
		const struct dg_prog *p = &dg_progs[i];
		void *insns = bcc.start(mod, p->name);

		prog_fd[i] = -1;
		if (!progs_loads(i))
			continue; /* its hook is a fallback on this kernel */

		if (!insns) {
			log_warnx("failed to find %s in the compiled BPF text", p->name);
			return -ENOENT;
		}
		if (helpers_listed(p, insns, bcc.size(mod, p->name) / sizeof(struct bpf_insn)))
			return -EINVAL;
		log_buf[0] = '\0';
		prog_fd[i] =
		    bcc.load(mod, p->type, p->name, insns, (int)bcc.size(mod, p->name),
			     bcc.license(mod), bcc.kern_version(mod), verbose >= 3 ? 2 : 0, log_buf,
			     (unsigned)log_len, NULL, p->tp ? -1 : (int)p->attach);
		if (prog_fd[i] < 0) {
			log_warnx("failed to load %s: %s (verifier log above)", p->name,
				  strerror(-prog_fd[i]));
			return prog_fd[i];
		}
		if (verbose >= 3)
			fprintf(stderr, "deployguard: debug: verifier log of %s:\n%s", p->name,
				log_buf);
	}
	return 0;
}

/* The raw BTF of object id (what the kernel holds: the maps' key and value types), or NULL. */
static void *raw_btf(uint32_t id, uint32_t *size)
{
	struct bpf_btf_info info = {0};
	uint32_t len = sizeof(info), n;
	int fd = bpf_btf_get_fd_by_id(id);
	void *buf = NULL;

	if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) && (n = info.btf_size) &&
	    (buf = malloc(n))) {
		info = (struct bpf_btf_info){.btf = (uintptr_t)buf, .btf_size = n};
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.btf_size != n) {
			free(buf);
			buf = NULL;
		}
		*size = n;
	}
	if (fd >= 0)
		close(fd);
	return buf;
}

/* Module mod's maps as the kernel made them, into e; fds[i] is map i's. NULL or what is wrong. */
static const char *entry_maps(void *mod, struct cache_entry *e, int *fds, void **btf)
{
	size_t n = bcc.num_tables(mod);
	uint32_t btf_id = 0;

	if (n > CACHE_MAX_MAPS)
		return "more maps than an entry holds";
	for (size_t i = 0; i < n; i++, e->nmaps++) {
		struct bpf_map_info info = {0};
		uint32_t len = sizeof(info);
		const char *name = bcc.table_name(mod, i);

		if (!name || (fds[i] = bcc.table_fd_id(mod, i)) < 0 ||
		    bpf_obj_get_info_by_fd(fds[i], &info, &len))
			return "a map without a name or fd";
		if (info.btf_id && btf_id && info.btf_id != btf_id)
			return "maps of two BTF objects";
		btf_id = info.btf_id ? info.btf_id : btf_id;
		e->maps[i] = (struct cache_map){.type = info.type,
						.key_size = info.key_size,
						.value_size = info.value_size,
						.max_entries = info.max_entries,
						.flags = info.map_flags,
						.btf_key = info.btf_key_type_id,
						.btf_value = info.btf_value_type_id};
		snprintf(e->maps[i].name, sizeof(e->maps[i].name), "%s", name);
	}
	if (btf_id && !(*btf = raw_btf(btf_id, &e->btf_size)))
		return "its BTF could not be read back";
	e->btf = *btf;
	return NULL;
}

/* Each program's instructions, a map's fd replaced by its index among the maps. */
static const char *entry_progs(void *mod, struct cache_entry *e, const int *fds,
			       struct bpf_insn **copy)
{
	for (size_t i = 0; i < DG_NPROGS; i++, e->nprogs++) {
		const char *name = dg_progs[i].name;
		struct bpf_insn *in = bcc.start(mod, name);
		uint32_t n = (uint32_t)(bcc.size(mod, name) / sizeof(*in));

		if (!in || !n || !(copy[i] = malloc(n * sizeof(*in))))
			return "a program missing";
		memcpy(copy[i], in, n * sizeof(*in));
		for (uint32_t j = 0; j + 1 < n; j++) {
			uint32_t m = 0;

			if (copy[i][j].code != (BPF_LD | BPF_IMM | BPF_DW))
				continue;
			if (copy[i][j].src_reg == BPF_PSEUDO_MAP_FD) {
				while (m < e->nmaps && fds[m] != copy[i][j].imm)
					m++;
				if (m == e->nmaps)
					return "a reference to a map libbcc does not list";
				copy[i][j].imm = (int32_t)m;
			}
			j++; /* its second half */
		}
		e->progs[i] = (struct cache_prog){.ninsns = n, .insns = copy[i]};
		snprintf(e->progs[i].name, sizeof(e->progs[i].name), "%s", name);
	}
	return NULL;
}

/* The compiler's child, once every program loaded: store what libbcc made for the next start.
 * A failure costs that start a compile, nothing more: said, not fatal. */
static void store_entry(void *mod, const struct progs *r)
{
	struct bpf_insn *copy[DG_NPROGS] = {NULL};
	struct cache_entry e = {.nmaps = 0};
	int fds[CACHE_MAX_MAPS], err;
	void *btf = NULL;
	const char *why = entry_maps(mod, &e, fds, &btf);

	_Static_assert(DG_NPROGS <= CACHE_MAX_PROGS, "an entry holds every program");
	if (!why)
		why = entry_progs(mod, &e, fds, copy);
	memcpy(e.key, r->cache_key, sizeof(e.key));
	snprintf(e.license, sizeof(e.license), "%s", bcc.license(mod));
	memcpy(e.guard_why, r->guard_why, sizeof(e.guard_why));
	if (!why && (err = cache_write(r->cache_dir, &e)))
		why = strerror(-err);
	if (why)
		log_warnx("failed to store the compiled programs in the compile cache %s: %s (the "
			  "next start compiles again)",
			  r->cache_dir, why);
	else
		log_debug("compile cache: stored %s/%s", r->cache_dir, r->cache_key);
	for (size_t i = 0; i < DG_NPROGS; i++)
		free(copy[i]);
	free(btf);
}

/* The LPM tries take their sizes from this run's policy, not from the entry's compile. */
static uint32_t map_size(const struct cache_map *m, void *arg)
{
	const struct progs *r = arg;

	for (int k = M_NETS4; k <= M_PORTS6; k++)
		if (!strcmp(m->name, dg_maps[k]))
			return (uint32_t)(k <= M_NETS6 ? r->nets_max[k - M_NETS4]
						       : r->ports_max[k - M_PORTS4]);
	return 0;
}

static int check_helpers(const struct bpf_insn *in, uint32_t n, void *prog)
{
	return helpers_listed(prog, in, n);
}

/* Make the entry's maps (and their BTF) and load its programs with libbpf, as libbcc would. */
static int load_cached(struct progs *r, const struct cache_entry *e)
{
	int fds[CACHE_MAX_MAPS], err = cache_make_maps(e, fds, map_size, r);

	for (size_t i = 0; i < DG_NPROGS && !err; i++) {
		const struct dg_prog *p = &dg_progs[i];

		if (!progs_loads(i))
			continue; /* its hook is a fallback on this kernel */
		r->prog_fd[i] = cache_load_prog(e, p->name, p->type, p->tp ? 0 : p->attach, fds,
						check_helpers, (void *)p);
		err = r->prog_fd[i] < 0 ? r->prog_fd[i] : 0;
		r->prog_fd[i] = err ? -1 : r->prog_fd[i];
	}
	for (size_t k = 0; k < DG_NMAPS && !err; k++) {
		uint32_t i = 0;

		while (i < e->nmaps && strcmp(e->maps[i].name, dg_maps[k]))
			i++;
		err = i < e->nmaps ? 0 : -ENOENT;
		if (!err) {
			r->map_fd[k] = fds[i];
			fds[i] = -1;
		}
	}
	for (uint32_t i = 0; i < e->nmaps; i++) /* the programs hold the rest */
		if (fds[i] >= 0)
			close(fds[i]);
	return err;
}

/* The compiler's child: compile, load, send the program and map fds, exit with the step that
 * failed. */
static int bpf_build_child(const struct progs *r, int sock, int verbose)
{
	int fds[DG_NPROGS + DG_NMAPS], n = 0;
	void *mod;

	if (bcc_open())
		return BUILD_COMPILE;
	mod = bcc.create(dg_bpf_text, 0, (const char **)r->cflags, r->ncflags, true, NULL);
	if (!mod) {
		log_warnx("failed to compile the BPF programs (clang's messages are above)");
		return BUILD_COMPILE;
	}
	if (bpf_load(mod, fds, verbose))
		return BUILD_LOAD;
	if (r->cache == PROGS_CACHE_STORED)
		store_entry(mod, r);
	for (size_t i = 0; i < DG_NPROGS; i++) /* the programs loaded, then the maps */
		if (fds[i] >= 0)
			fds[n++] = fds[i];
	for (size_t i = 0; i < DG_NMAPS; i++)
		if ((fds[n++] = bcc.table_fd(mod, dg_maps[i])) < 0) {
			log_warnx("failed to find map %s in the compiled BPF text", dg_maps[i]);
			return BUILD_LOAD;
		}
	return fd_send(sock, fds, (size_t)n) ? BUILD_LOAD : BUILD_OK;
}

bool progs_loads(size_t i)
{
	return probe_prog_loads(i);
}

/* libbcc brings LLVM and clang: 60 MiB resident from the moment they are mapped, more while
 * compiling. So a short-lived child maps them, compiles and loads, and passes back the fds of
 * the programs and maps; deployguard itself stays small for the whole run. */
static int compile(struct progs *r, int verbose, int *failed)
{
	int sv[2], fds[DG_NPROGS + DG_NMAPS], st = 0, err = 0, n = DG_NMAPS, at = 0;
	pid_t pid;

	*failed = BUILD_COMPILE;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	fflush(NULL);
	if ((pid = fork()) < 0)
		err = -errno;
	if (pid == 0) {
		close(sv[0]);
		_exit(bpf_build_child(r, sv[1], verbose));
	}
	close(sv[1]);
	for (size_t i = 0; i < DG_NPROGS; i++)
		n += progs_loads(i);
	if (pid > 0 && fd_recv(sv[0], fds, (size_t)n) == 0) {
		for (size_t i = 0; i < DG_NPROGS; i++)
			r->prog_fd[i] = progs_loads(i) ? fds[at++] : -1;
		memcpy(r->map_fd, fds + at, sizeof(r->map_fd));
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

static void close_fds(int *fd, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (fd[i] >= 0)
			close(fd[i]);
		fd[i] = -1;
	}
}

/* The entry of this start's key, loaded: 0. Else compile (and store, unless the directory is
 * unfit: r->cache says). */
static int from_cache(struct progs *r)
{
	struct cache_entry e;
	int err = cache_read(r->cache_dir, r->cache_key, &e);

	r->cache = err == -EPERM ? PROGS_CACHE_UNUSABLE : PROGS_CACHE_STORED;
	if (err)
		return err;
	if ((err = load_cached(r, &e))) {
		log_warnx("compile cache entry %s/%s: the kernel refused it (%s): removed, "
			  "compiling again",
			  r->cache_dir, r->cache_key, strerror(-err));
		cache_drop(r->cache_dir, r->cache_key);
		close_fds(r->prog_fd, DG_NPROGS);
		close_fds(r->map_fd, DG_NMAPS);
	} else {
		r->cache = PROGS_CACHE_USED;
		r->offsets = true; /* compiled in, or not: the entry says */
		memcpy(r->guard_why, e.guard_why, sizeof(r->guard_why));
		if (r->guard_why[0])
			probe_fallback(PROBE_ESCAPE_GUARD, "escape guard", r->guard_why);
		log_debug("compile cache: programs from %s/%s", r->cache_dir, r->cache_key);
	}
	cache_free(&e);
	return err;
}

int progs_build(struct progs *r, int verbose, int *failed)
{
	int k = 0, err = -ENOENT;

	r->cache = PROGS_CACHE_OFF;
	if (r->cache_dir && verbose < 3 &&
	    !cache_key(r->cache_key, dg_bpf_text, r->cflags, r->ncflags, r->headers))
		err = from_cache(r);
	else if (r->cache_dir && verbose < 3)
		log_debug(
		    "compile cache: not used, the kernel has no build id (/sys/kernel/notes)");
	if (err) {
		progs_offsets(r);
		err = compile(r, verbose, failed);
	}
	*failed = err ? *failed : BUILD_OK;
	if (!err && bpf_map_update_elem(r->map_fd[M_CONF], &k, &r->conf, BPF_ANY)) {
		err = -errno;
		log_warnx("failed to write dg_conf: %s", strerror(errno));
	}
	return err;
}

/* Links (and raw tracepoint fds) detach by themselves when deployguard exits, however it exits.
 * Cgroup BPF links came in 5.7, before the ring buffers (5.8) the probes already require: no
 * kernel that passes them needs bpf_prog_attach. */
int progs_attach(struct progs *r, int cg_fd, const char *cg_path)
{
	for (size_t i = 0; i < DG_NPROGS; i++) {
		int fd;

		if (r->prog_fd[i] < 0)
			continue; /* not loaded: its hook is a fallback */
		fd = dg_progs[i].tp
			 ? bpf_raw_tracepoint_open(dg_progs[i].tp, r->prog_fd[i])
			 : bpf_link_create(r->prog_fd[i], cg_fd, dg_progs[i].attach, NULL);

		if (fd < 0) {
			log_warnx("failed to attach %s to %s: %s", dg_progs[i].name, cg_path,
				  strerror(-fd));
			return fd;
		}
		r->link_fd[i] = fd;
	}
	return 0;
}

int progs_attach_cgroup(const struct progs *r, int cg_fd, int *links, const char *why)
{
	for (size_t i = 0; i < DG_NPROGS; i++) {
		int fd;

		links[i] = -1;
		if (r->prog_fd[i] < 0 || dg_progs[i].tp)
			continue;
		fd = bpf_link_create(r->prog_fd[i], cg_fd, dg_progs[i].attach, NULL);
		if (fd < 0) {
			log_warnx("failed to attach %s to %s: %s", dg_progs[i].name, why,
				  strerror(-fd));
			for (size_t j = 0; j < i; j++)
				if (links[j] >= 0)
					close(links[j]);
			return fd;
		}
		links[i] = fd;
	}
	return 0;
}

int progs_attach_also(struct progs *r, int k, int cg_fd, const char *cg_path)
{
	char why[PATH_MAX + 32];

	snprintf(why, sizeof(why), "%s (--guard-also)", cg_path);
	return progs_attach_cgroup(r, cg_fd, r->also_link[k], why);
}

bool progs_nets_fit(const struct progs *r, const struct policy *pol)
{
	return count_nets(pol, AF_INET, false) <= r->nets_max[0] &&
	       count_nets(pol, AF_INET6, false) <= r->nets_max[1] &&
	       count_nets(pol, AF_INET, true) <= r->ports_max[0] / 2 &&
	       count_nets(pol, AF_INET6, true) <= r->ports_max[1] / 2;
}

void progs_init(struct progs *r)
{
	*r = (struct progs){.ncflags = 0};
	for (size_t i = 0; i < DG_NPROGS; i++) {
		r->prog_fd[i] = r->link_fd[i] = -1;
		for (int k = 0; k < PROGS_MAX_ALSO; k++)
			r->also_link[k][i] = -1;
	}
	for (size_t i = 0; i < DG_NMAPS; i++)
		r->map_fd[i] = -1;
}

/* Links first: the programs detach from the cgroup before their maps go. */
void progs_close(struct progs *r)
{
	for (size_t i = DG_NPROGS; i-- > 0;) {
		for (int k = 0; k < PROGS_MAX_ALSO; k++)
			if (r->also_link[k][i] >= 0)
				close(r->also_link[k][i]);
		if (r->link_fd[i] >= 0)
			close(r->link_fd[i]);
		if (r->prog_fd[i] >= 0)
			close(r->prog_fd[i]);
		r->link_fd[i] = r->prog_fd[i] = -1;
		for (int k = 0; k < PROGS_MAX_ALSO; k++)
			r->also_link[k][i] = -1;
	}
	for (size_t i = 0; i < DG_NMAPS; i++) {
		if (r->map_fd[i] >= 0)
			close(r->map_fd[i]);
		r->map_fd[i] = -1;
	}
	for (int i = 0; i < r->ncflags; i++)
		free(r->cflags[i]);
	r->ncflags = 0;
}
