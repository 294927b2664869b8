/*
 * kheaders.c: which kernel header tree libbcc compiles the BPF programs against. The running
 * kernel's (/lib/modules/R/build or source, or /sys/kernel/kheaders.tar.xz), or --kernel-headers,
 * or else the newest linux-headers tree under /usr/src: the programs use only stable uapi
 * structs, so any recent tree serves (this machine's 6.18 has no headers package; Debian's 6.1
 * tree compiles for it).
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

#include "audit.h"
#include "log.h"

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
