/* sha256.h: SHA-256 (FIPS 180-4), for the report's hash of each policy file and the compile
 * cache's keys and entries. */
#ifndef DG_SHA256_H
#define DG_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint8_t block[64];
	size_t used;
	uint64_t bytes;
};

/* A hash over several pieces: init, update for each, final (hex: 64 digits and a NUL). */
void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *p, size_t n);
void sha256_final(struct sha256 *s, char hex[65]);
/* The SHA-256 of the file at path as 64 hex digits in hex (65 bytes); -1 with errno if it
 * cannot be read. */
int sha256_file(const char *path, char hex[65]);
/* The same for n bytes at p. */
void sha256_hex(const void *p, size_t n, char hex[65]);

#endif
