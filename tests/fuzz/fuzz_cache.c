/* libFuzzer target: the compile cache's reader (cache_read) on an entry of any contents whose
 * SHA-256 is right (the harness appends it, and sets the key the file is named by), so that the
 * checks behind the hash are what is exercised. */
#define _GNU_SOURCE
#include <assert.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../cache.h"
#include "../../sha256.h"

void log_warnx(const char *fmt, ...);
void log_debug(const char *fmt, ...);
void log_warnx(const char *fmt, ...)
{
	(void)fmt;
}
void log_debug(const char *fmt, ...)
{
	(void)fmt;
}

static const char key[] = "0000000000000000000000000000000000000000000000000000000000000000";

/* What cache_read hands out stays within the entry. */
static void walk(const struct cache_entry *e)
{
	assert(e->nmaps <= CACHE_MAX_MAPS && e->nprogs <= CACHE_MAX_PROGS);
	for (uint32_t i = 0; i < e->nprogs; i++)
		for (uint32_t j = 0; j < e->progs[i].ninsns; j++)
			if (e->progs[i].insns[j].src_reg == BPF_PSEUDO_MAP_FD &&
			    e->progs[i].insns[j].code == (BPF_LD | BPF_IMM | BPF_DW))
				assert((uint32_t)e->progs[i].insns[j++].imm < e->nmaps);
	if (e->btf_size) { /* ASan checks that the last byte is the entry's */
		volatile uint8_t last = ((const uint8_t *)e->btf)[e->btf_size - 1];

		(void)last;
	}
}

static char dir[] = "/tmp/dg-fuzz-cache.XXXXXX";

static void cleanup(void)
{
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int made;
	char path[sizeof(dir) + 80];
	struct cache_entry e;
	uint8_t *buf;
	int fd;

	if (!made && (made = mkdtemp(dir) != NULL))
		atexit(cleanup); /* libFuzzer ends with exit() */
	if (size < 72 || size > (1 << 20) || !made)
		return 0;
	buf = malloc(size + 65);
	memcpy(buf, data, size);
	memcpy(buf + 8, key, 64);
	sha256_hex(buf, size, (char *)buf + size);
	snprintf(path, sizeof(path), "%s/%s", dir, key);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert(fd >= 0 && write(fd, buf, size + 64) == (ssize_t)(size + 64));
	close(fd);
	free(buf);
	if (cache_read(dir, key, &e) == 0) {
		walk(&e);
		cache_free(&e);
	}
	unlink(path);
	return 0;
}
