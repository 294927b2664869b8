/* cache.h: the compile cache: what libbcc made of the BPF text for one kernel, header tree and
 * set of -D constants, kept as one file per key and loaded with libbpf on later starts. */
#ifndef DG_CACHE_H
#define DG_CACHE_H

#include <stdint.h>

#include <linux/bpf.h>

#define CACHE_DIR	  "/var/cache/deployguard" /* DEPLOYGUARD_CACHE overrides it */
#define CACHE_MAX_MAPS	  32
#define CACHE_MAX_PROGS	  32
#define CACHE_MAX_ENTRIES 32 /* entries kept in the directory: the least recently used go */

struct cache_map {
	char name[16];
	uint32_t type, key_size, value_size, max_entries, flags, btf_key, btf_value, pad;
};

struct cache_prog {
	char name[16];
	uint32_t ninsns;
	const struct bpf_insn *insns; /* a map's ld_imm64 holds its index in maps, not an fd */
};

struct cache_entry {
	char key[65];
	char license[16];
	char guard_why[256]; /* why the escape guard was left out ("": it is in) */
	uint32_t nmaps, nprogs, btf_size;
	struct cache_map maps[CACHE_MAX_MAPS];
	struct cache_prog progs[CACHE_MAX_PROGS];
	const void *btf; /* the BTF the maps' key and value types refer to (btf_size bytes) */
	void *buf;	 /* what cache_read read, freed by cache_free */
};

/* The key of a compile: SHA-256 (hex) of the BPF text, the cflags that shape the code (not the
 * LPM sizes, which the maps take at load, nor the escape guard's offsets, which the kernel
 * decides), the environment libbcc and the probes read, the kernel (release, version, build id)
 * and the header tree. -ENOENT when the kernel has no build id to name it by: no caching. */
int cache_key(char key[65], const char *text, char *const *cflags, int ncflags,
	      const char *headers);
/* The entry of key in dir, checked (owner, mode, its SHA-256, every bound, every map reference)
 * before anything of it is used: 0; -ENOENT when there is none; another -errno when one was
 * there but unfit (then it is removed, with a warning that says why). */
int cache_read(const char *dir, const char *key, struct cache_entry *e);
/* Make e's BTF and maps with libbpf: fds[i] is maps[i]'s (all -1 on failure, which returns
 * -errno). size, when given, may give a map another max_entries than the entry's (0: keep). */
int cache_make_maps(const struct cache_entry *e, int *fds,
		    uint32_t (*size)(const struct cache_map *m, void *arg), void *arg);
/* Load e's program name, of type and expected attach type attach, with libbpf: its fd or
 * -errno. Its map references become the fds of cache_make_maps; check, when given, sees the
 * instructions first, and a non-zero return refuses them (-EINVAL). */
int cache_load_prog(const struct cache_entry *e, const char *name, enum bpf_prog_type type,
		    enum bpf_attach_type attach, const int *fds,
		    int (*check)(const struct bpf_insn *in, uint32_t n, void *arg), void *arg);
/* Store e as key's entry (atomically: a temporary file renamed), making dir (0700) if needed and
 * removing the least recently used entries beyond CACHE_MAX_ENTRIES. */
int cache_write(const char *dir, const struct cache_entry *e);
/* Remove key's entry: the kernel refused what it holds. */
void cache_drop(const char *dir, const char *key);
void cache_free(struct cache_entry *e);

#endif
