/* hash.h: FNV-1a, the one string hash of deployguard's tables (names, watches, summary rows). */
#ifndef DG_HASH_H
#define DG_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_INIT 2166136261u

/* Hash n bytes at p into h (FNV1A_INIT to start; chain calls to hash several fields). */
static inline uint32_t fnv1a(const void *p, size_t n, uint32_t h)
{
	for (const uint8_t *b = p; n--; b++)
		h = (h ^ *b) * 16777619u;
	return h;
}

#endif
