/*
 * kheaders.c: which kernel header tree libbcc compiles the BPF programs against. The running
 * kernel's (/lib/modules/R/build or source, or /sys/kernel/kheaders.tar.xz), or --kernel-headers,
 * or else the newest linux-headers tree under /usr/src: the programs use only stable uapi
 * structs, so any recent tree serves (this machine's 6.18 has no headers package; Debian's 6.1
 * tree compiles for it). The one exception, the escape guard's reads of task_struct and cgroup
 * fields, takes its offsets from the running kernel's own BTF, never from a header tree.
 */
#define _GNU_SOURCE
#include "kheaders.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/btf.h>

#include "log.h"
#include "probe.h"

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
static int add_header_flags(const char *build, const char *src, char **flags, int *nflags)
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
		if (asprintf(&flags[*nflags], "-I%s", path) < 0)
			return -ENOMEM;
		(*nflags)++;
	}
	return 0;
}

int kheaders_find(const char *given, char *tree, size_t len, char **flags, int *nflags)
{
	char mod[PATH_MAX], best[PATH_MAX] = "", best_src[PATH_MAX] = "", src[PATH_MAX];
	struct utsname u;
	struct dirent *de;
	DIR *d;

	if (given) {
		if (header_tree(given, src, sizeof(src))) {
			log_warnx(
			    "--kernel-headers %s is not a kernel header tree: it needs "
			    "include/generated/autoconf.h, and include/linux/kconfig.h there or "
			    "in the tree its Makefile includes",
			    given);
			return -ENOENT;
		}
		log_debug("kernel headers: %s%s%s", given, src[0] ? " with " : "", src);
		snprintf(tree, len, "%s", given);
		return add_header_flags(given, src, flags, nflags);
	}
	uname(&u);
	snprintf(mod, sizeof(mod), "/lib/modules/%s", u.release);
	if (exists("%s/build/include/linux/kconfig.h", mod) ||
	    exists("%s/source/include/linux/kconfig.h", mod)) {
		log_debug("kernel headers: %s", mod);
		snprintf(tree, len, "%s", mod);
		return 0;
	}
	if (access("/sys/kernel/kheaders.tar.xz", R_OK) == 0) {
		log_debug("kernel headers: /sys/kernel/kheaders.tar.xz");
		snprintf(tree, len, "/sys/kernel/kheaders.tar.xz");
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
	snprintf(tree, len, "%s", best);
	return add_header_flags(best, best_src, flags, nflags);
}

/* The byte offset of member name in the struct or union type id, looking into anonymous members
 * (task_struct has many); -1 if it has none. */
static long member_offset(const struct btf *btf, __u32 id, const char *name, int depth)
{
	const struct btf_type *t = btf__type_by_id(btf, btf__resolve_type(btf, id));
	const struct btf_member *m;

	if (!t || depth > 8 || (!btf_is_struct(t) && !btf_is_union(t)))
		return -1;
	m = btf_members(t);
	for (int i = 0; i < btf_vlen(t); i++, m++) {
		const char *n = btf__name_by_offset(btf, m->name_off);
		long off = (long)btf_member_bit_offset(t, (__u32)i) / 8, in;

		if (n && !strcmp(n, name))
			return off;
		if ((!n || !*n) && (in = member_offset(btf, m->type, name, depth + 1)) >= 0)
			return off + in;
	}
	return -1;
}

/* The -D offsets (DG_OFF_*) of the fields the escape guard reads, from the running kernel's BTF
 * (/sys/kernel/btf/vmlinux, 5.2+, enabled in Debian's, Ubuntu's and RHEL's kernels). */
int kheaders_offsets(char **flags, int *nflags, int max, char *why, size_t len)
{
	static const struct {
		const char *flag, *type, *member, *inner_type, *inner;
	} f[] = {
	    {"TASK_TGID", "task_struct", "tgid", NULL, NULL},
	    {"TASK_LEADER", "task_struct", "group_leader", NULL, NULL},
	    {"TASK_START", "task_struct", "start_boottime", NULL, NULL},
	    {"CGROUP_KN", "cgroup", "kn", NULL, NULL},
	    {"CGROUP_ROOT", "cgroup", "root", NULL, NULL},
	    {"CGROUP_PARENT", "cgroup", "self", "cgroup_subsys_state", "parent"},
	    {"ROOT_HIERARCHY", "cgroup_root", "hierarchy_id", NULL, NULL},
	    {"KN_ID", "kernfs_node", "id", NULL, NULL},
	    {"SA_UADDR", "bpf_sock_addr_kern", "uaddr", NULL, NULL},
	    {"TASK_MM", "task_struct", "mm", NULL, NULL},
	    {"MM_ARG_START", "mm_struct", "arg_start", NULL, NULL},
	    {"MM_ARG_END", "mm_struct", "arg_end", NULL, NULL},
	    {"TASK_PARENT", "task_struct", "real_parent", NULL, NULL},
	    {"TASK_EXIT_CODE", "task_struct", "exit_code", NULL, NULL},
	    {"TASK_NSPROXY", "task_struct", "nsproxy", NULL, NULL},
	    {"NSPROXY_NET", "nsproxy", "net_ns", NULL, NULL},
	    {"NET_INUM", "net", "ns", "ns_common", "inum"},
	};
	struct btf *btf = probe_without("btf") ? NULL : btf__load_vmlinux_btf();
	int err = 0;

	if (!btf) {
		snprintf(why, len, "%sno BTF for this kernel (/sys/kernel/btf/vmlinux, 5.2+)",
			 probe_without("btf") ? "(DEPLOYGUARD_WITHOUT) " : "");
		return -ENOENT;
	}
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]) && !err; i++) {
		long off = member_offset(
		    btf, (__u32)btf__find_by_name_kind(btf, f[i].type, BTF_KIND_STRUCT),
		    f[i].member, 0);
		long in = f[i].inner ? member_offset(btf,
						     (__u32)btf__find_by_name_kind(
							 btf, f[i].inner_type, BTF_KIND_STRUCT),
						     f[i].inner, 0)
				     : 0;

		if (off < 0 || in < 0) {
			snprintf(why, len, "this kernel's struct %s has no %s",
				 off < 0 ? f[i].type : f[i].inner_type,
				 off < 0 ? f[i].member : f[i].inner);
			err = -ENOENT;
		} else if (*nflags == max ||
			   asprintf(&flags[*nflags], "-DDG_OFF_%s=%ld", f[i].flag, off + in) < 0) {
			err = -ENOMEM;
		} else {
			(*nflags)++;
		}
	}
	btf__free(btf);
	return err;
}
