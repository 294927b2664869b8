/*
 * cache.c: the compile cache's keys and files. A compile takes 0.4 s here and 6 s under TCG,
 * and its result depends only on the text, the flags, the kernel and the header tree: so the
 * first start stores what libbcc made (instructions, map definitions, BTF) and later starts load
 * that with libbpf. An entry is only ever trusted after the checks of cache_read: it is root's
 * own and nobody else's to write, its SHA-256 matches, and every count, size and map reference
 * is in bounds; anything else is removed and the programs are compiled again.
 *
 * The file: struct head, the maps, the programs' names and lengths, their instructions, the BTF,
 * then 64 hex digits: the SHA-256 of everything before. Native byte order: an entry never
 * leaves the host that wrote it.
 */
#define _GNU_SOURCE
#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bcc/bcc_version.h>
#include <bpf/bpf.h>

#include "log.h"
#include "sha256.h"

#define CACHE_MAGIC	"DGCACHE1"
#define CACHE_MAX_FILE	(16 << 20)
#define CACHE_MAX_INSNS (1 << 20) /* BPF_COMPLEXITY_LIMIT_INSNS */

struct head {
	char magic[8];
	char key[64];
	char license[16];
	char guard_why[256];
	uint32_t nmaps, nprogs, btf_size, pad;
};

struct prog_head {
	char name[16];
	uint32_t ninsns, pad;
};

/* Every part starts 8-aligned, as instructions must. */
_Static_assert(sizeof(struct head) % 8 == 0 && sizeof(struct cache_map) % 8 == 0 &&
		   sizeof(struct prog_head) % 8 == 0,
	       "8-aligned parts");

static void hash_str(struct sha256 *s, const char *what, const char *v)
{
	sha256_update(s, what, strlen(what) + 1);
	sha256_update(s, v ? v : "(unset)", strlen(v ? v : "(unset)") + 1);
}

/* Whether the -D flag shapes the code (part of the key). */
static int shapes_code(const char *f)
{
	static const char *const skip[] = {"-DDG_NNETS", "-DDG_NPORTS", "-DDG_OFF_"};

	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (!strncmp(f, skip[i], strlen(skip[i])))
			return 0;
	return 1;
}

/* The kernel build's identity: its notes hold the GNU build id (read whole: a few hundred
 * bytes). */
static int hash_kernel(struct sha256 *s)
{
	char notes[4096];
	struct utsname u;
	ssize_t n = -1;
	int fd = open("/sys/kernel/notes", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		n = read(fd, notes, sizeof(notes));
		close(fd);
	}
	if (n <= 0 || !memmem(notes, (size_t)n, "GNU", 4))
		return -ENOENT;
	uname(&u);
	sha256_update(s, notes, (size_t)n);
	hash_str(s, "release", u.release);
	hash_str(s, "version", u.version);
	hash_str(s, "machine", u.machine);
	return 0;
}

/* The header tree: its path, and its configuration header's identity (a package update of the
 * same tree changes it). */
static void hash_headers(struct sha256 *s, const char *headers)
{
	static const char *const conf[] = {"%s/include/generated/autoconf.h",
					   "%s/build/include/generated/autoconf.h", "%s"};
	char path[PATH_MAX + 48], id[160] = "(none)";
	struct stat st;

	for (size_t i = 0; i < sizeof(conf) / sizeof(conf[0]); i++) {
		snprintf(path, sizeof(path), conf[i], headers);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			snprintf(id, sizeof(id), "%s %lu %lu %lld %ld.%09ld", path,
				 (unsigned long)st.st_dev, (unsigned long)st.st_ino,
				 (long long)st.st_size, (long)st.st_mtim.tv_sec,
				 st.st_mtim.tv_nsec);
			break;
		}
	}
	hash_str(s, "headers", headers);
	hash_str(s, "config", id);
}

int cache_key(char key[65], const char *text, char *const *cflags, int ncflags, const char *headers)
{
	struct sha256 s;

	sha256_init(&s);
	hash_str(&s, "format", CACHE_MAGIC);
	hash_str(&s, "libbcc", LIBBCC_VERSION);
	if (hash_kernel(&s))
		return -ENOENT;
	hash_headers(&s, headers);
	hash_str(&s, "BCC_KERNEL_SOURCE", getenv("BCC_KERNEL_SOURCE"));
	hash_str(&s, "DEPLOYGUARD_WITHOUT", getenv("DEPLOYGUARD_WITHOUT"));
	for (int i = 0; i < ncflags; i++)
		if (shapes_code(cflags[i]))
			hash_str(&s, "cflag", cflags[i]);
	hash_str(&s, "text", text);
	sha256_final(&s, key);
	return 0;
}

/* Root's own directory (or file), which nobody else may write. */
static int owned(const struct stat *st, mode_t type)
{
	return (st->st_mode & S_IFMT) == type && st->st_uid == geteuid() &&
	       !(st->st_mode & (S_IWGRP | S_IWOTH));
}

static int dir_ok(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st))
		return -errno;
	if (!owned(&st, S_IFDIR)) {
		log_warnx("compile cache %s is not a directory of deployguard's user that only it "
			  "may write: not used (remove it, or set DEPLOYGUARD_CACHE)",
			  dir);
		return -EPERM;
	}
	return 0;
}

static int terminated(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

/* Each ld_imm64 of a map refers to one of the nmaps maps; no other pseudo source (global data,
 * BTF ids) and no call other than to a helper: what libbcc emits for this text. */
static const char *bad_insns(const struct bpf_insn *in, uint32_t n, uint32_t nmaps)
{
	for (uint32_t i = 0; i < n; i++) {
		if (in[i].code == (BPF_LD | BPF_IMM | BPF_DW)) {
			if (i + 1 == n)
				return "a 64-bit load cut short";
			if (in[i].src_reg == BPF_PSEUDO_MAP_FD && (uint32_t)in[i].imm >= nmaps)
				return "a reference to a map it does not define";
			if (in[i].src_reg != 0 && in[i].src_reg != BPF_PSEUDO_MAP_FD)
				return "a 64-bit load of an unknown kind";
			i++;
		} else if (in[i].code == (BPF_JMP | BPF_CALL) && in[i].src_reg != 0) {
			return "a call that is not to a helper";
		}
	}
	return NULL;
}

/* Lay the file out in e: every bound checked against len. */
static const char *parse(struct cache_entry *e, const char *key, const uint8_t *p, size_t len)
{
	struct head h;
	size_t at = sizeof(h);

	memcpy(&h, p, sizeof(h));
	if (memcmp(h.magic, CACHE_MAGIC, 8) || memcmp(h.key, key, 64))
		return "not an entry of this version for this key";
	if (!terminated(h.license, sizeof(h.license)) ||
	    !terminated(h.guard_why, sizeof(h.guard_why)))
		return "an unterminated string";
	if (h.nmaps > CACHE_MAX_MAPS || h.nprogs > CACHE_MAX_PROGS || h.btf_size > len)
		return "counts out of bounds";
	memcpy(e->key, key, 65);
	memcpy(e->license, h.license, sizeof(h.license));
	memcpy(e->guard_why, h.guard_why, sizeof(h.guard_why));
	e->nmaps = h.nmaps;
	e->nprogs = h.nprogs;
	e->btf_size = h.btf_size;
	if (len - at < h.nmaps * sizeof(struct cache_map) + h.nprogs * sizeof(struct prog_head))
		return "cut short";
	memcpy(e->maps, p + at, h.nmaps * sizeof(struct cache_map));
	at += h.nmaps * sizeof(struct cache_map);
	for (uint32_t i = 0; i < h.nmaps; i++)
		if (!terminated(e->maps[i].name, sizeof(e->maps[i].name)))
			return "a map name unterminated";
	for (uint32_t i = 0; i < h.nprogs; i++, at += sizeof(struct prog_head)) {
		struct prog_head ph;

		memcpy(&ph, p + at, sizeof(ph));
		if (!terminated(ph.name, sizeof(ph.name)) || !ph.ninsns ||
		    ph.ninsns > CACHE_MAX_INSNS)
			return "a program's name or length out of bounds";
		memcpy(e->progs[i].name, ph.name, sizeof(ph.name));
		e->progs[i].ninsns = ph.ninsns;
	}
	for (uint32_t i = 0; i < h.nprogs; i++) {
		size_t bytes = e->progs[i].ninsns * sizeof(struct bpf_insn);
		const char *why;

		if (len - at < bytes)
			return "cut short";
		e->progs[i].insns = (const struct bpf_insn *)(p + at);
		if ((why = bad_insns(e->progs[i].insns, e->progs[i].ninsns, h.nmaps)))
			return why;
		at += bytes;
	}
	if (len - at != h.btf_size)
		return "a length that does not add up";
	e->btf = p + at;
	return NULL;
}

/* Read the whole file: regular, root's own, not writable by others, of a sane size. */
static int slurp(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), err = 0;
	struct stat st;
	ssize_t n = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !owned(&st, S_IFREG) ||
	    st.st_size < (off_t)sizeof(struct head) + 64 || st.st_size > CACHE_MAX_FILE)
		err = -EPERM;
	*len = err ? 0 : (size_t)st.st_size;
	if (!err && !(*buf = malloc(*len)))
		err = -ENOMEM;
	if (!err && (n = pread(fd, *buf, *len, 0)) != (ssize_t)*len)
		err = n < 0 ? -errno : -EIO;
	if (!err)
		futimens(fd, NULL); /* used: the pruning keeps it */
	close(fd);
	return err;
}

int cache_read(const char *dir, const char *key, struct cache_entry *e)
{
	char path[PATH_MAX], sum[65];
	const char *why = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int err;

	*e = (struct cache_entry){.nmaps = 0};
	if ((err = dir_ok(dir)))
		return err == -EPERM ? err : -ENOENT;
	snprintf(path, sizeof(path), "%s/%s", dir, key);
	err = slurp(path, &buf, &len);
	if (err == -ENOENT)
		return err;
	if (err == -EPERM)
		why = "not a regular file of deployguard's user that only it may write, or of a "
		      "size no entry has";
	else if (err)
		why = strerror(-err);
	if (!why) {
		sha256_hex(buf, len - 64, sum);
		why = memcmp(sum, buf + len - 64, 64) ? "its SHA-256 does not match"
						      : parse(e, key, buf, len - 64);
	}
	if (why) {
		log_warnx("compile cache entry %s: %s: removed, compiling again", path, why);
		unlink(path);
		free(buf);
		*e = (struct cache_entry){.nmaps = 0};
		return -EINVAL;
	}
	e->buf = buf;
	return 0;
}

int cache_make_maps(const struct cache_entry *e, int *fds,
		    uint32_t (*size)(const struct cache_map *m, void *arg), void *arg)
{
	int btf_fd = -1, err = 0;

	for (uint32_t i = 0; i < e->nmaps; i++)
		fds[i] = -1;
	if (e->btf_size && (btf_fd = bpf_btf_load(e->btf, e->btf_size, NULL)) < 0)
		err = -errno;
	for (uint32_t i = 0; i < e->nmaps && !err; i++) {
		const struct cache_map *m = &e->maps[i];
		uint32_t max = size ? size(m, arg) : 0;
		LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = m->flags);

		if (m->btf_key || m->btf_value) {
			o.btf_fd = (uint32_t)btf_fd;
			o.btf_key_type_id = m->btf_key;
			o.btf_value_type_id = m->btf_value;
		}
		fds[i] = bpf_map_create(m->type, m->name, m->key_size, m->value_size,
					max ? max : m->max_entries, &o);
		err = fds[i] < 0 ? -errno : 0;
	}
	for (uint32_t i = 0; err && i < e->nmaps; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
	if (btf_fd >= 0)
		close(btf_fd); /* the maps hold it */
	return err;
}

int cache_load_prog(const struct cache_entry *e, const char *name, enum bpf_prog_type type,
		    enum bpf_attach_type attach, const int *fds,
		    int (*check)(const struct bpf_insn *in, uint32_t n, void *arg), void *arg)
{
	const struct cache_prog *p = NULL;
	struct bpf_insn *in;
	int fd;

	for (uint32_t k = 0; k < e->nprogs && !p; k++)
		p = strcmp(e->progs[k].name, name) ? NULL : &e->progs[k];
	if (!p)
		return -ENOENT;
	if (!(in = malloc(p->ninsns * sizeof(*in))))
		return -ENOMEM;
	memcpy(in, p->insns, p->ninsns * sizeof(*in));
	for (uint32_t j = 0; j + 1 < p->ninsns; j++) {
		if (in[j].code != (BPF_LD | BPF_IMM | BPF_DW))
			continue;
		if (in[j].src_reg == BPF_PSEUDO_MAP_FD)
			in[j].imm = fds[in[j].imm]; /* cache_read checked the index */
		j++;
	}
	if (check && check(in, p->ninsns, arg)) {
		fd = -EINVAL;
	} else {
		LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = attach);

		fd = bpf_prog_load(type, name, e->license, in, p->ninsns, &o);
		fd = fd < 0 ? -errno : fd;
	}
	free(in);
	return fd;
}

static int put(int fd, struct sha256 *s, const void *p, size_t n)
{
	sha256_update(s, p, n);
	return write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

/* At most CACHE_MAX_ENTRIES entries: remove the least recently used beyond that. */
static void prune(const char *dir)
{
	struct {
		char name[65];
		struct timespec used;
	} e[CACHE_MAX_ENTRIES + 1];
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d))) {
		struct stat st;
		size_t old = 0;

		if (strlen(de->d_name) != 64 || fstatat(dirfd(d), de->d_name, &st, 0))
			continue;
		snprintf(e[n].name, sizeof(e[n].name), "%s", de->d_name);
		e[n++].used = st.st_mtim;
		if (n <= CACHE_MAX_ENTRIES)
			continue;
		for (size_t i = 1; i < n; i++) /* one too many: the oldest goes */
			if (e[i].used.tv_sec < e[old].used.tv_sec ||
			    (e[i].used.tv_sec == e[old].used.tv_sec &&
			     e[i].used.tv_nsec < e[old].used.tv_nsec))
				old = i;
		unlinkat(dirfd(d), e[old].name, 0);
		e[old] = e[--n];
	}
	if (d)
		closedir(d);
}

int cache_write(const char *dir, const struct cache_entry *e)
{
	struct head h = {.nmaps = e->nmaps, .nprogs = e->nprogs, .btf_size = e->btf_size};
	char tmp[PATH_MAX], path[PATH_MAX], sum[65];
	struct sha256 s;
	int fd, err = 0;

	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	if ((err = dir_ok(dir)))
		return err;
	memcpy(h.magic, CACHE_MAGIC, 8);
	memcpy(h.key, e->key, 64);
	memcpy(h.license, e->license, sizeof(h.license));
	memcpy(h.guard_why, e->guard_why, sizeof(h.guard_why));
	snprintf(tmp, sizeof(tmp), "%s/.%s.%d", dir, e->key, (int)getpid());
	snprintf(path, sizeof(path), "%s/%s", dir, e->key);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return -errno;
	sha256_init(&s);
	errno = 0;
	err = put(fd, &s, &h, sizeof(h)) || put(fd, &s, e->maps, e->nmaps * sizeof(e->maps[0]));
	for (uint32_t i = 0; i < e->nprogs && !err; i++) {
		struct prog_head ph = {.ninsns = e->progs[i].ninsns};

		memcpy(ph.name, e->progs[i].name, sizeof(ph.name));
		err = put(fd, &s, &ph, sizeof(ph));
	}
	for (uint32_t i = 0; i < e->nprogs && !err; i++)
		err = put(fd, &s, e->progs[i].insns, e->progs[i].ninsns * sizeof(struct bpf_insn));
	if (!err && e->btf_size)
		err = put(fd, &s, e->btf, e->btf_size);
	sha256_final(&s, sum);
	if (!err)
		err = write(fd, sum, 64) == 64 ? 0 : -1;
	err = err ? -(errno ? errno : EIO) : 0;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	else
		prune(dir);
	return err;
}

void cache_drop(const char *dir, const char *key)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	unlink(path);
}

void cache_free(struct cache_entry *e)
{
	free(e->buf);
	e->buf = NULL;
}
