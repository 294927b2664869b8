/* sha256.h: SHA-256 (FIPS 180-4), for the report's hash of each policy file. */
#ifndef DG_SHA256_H
#define DG_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* The SHA-256 of the file at path as 64 hex digits in hex (65 bytes); -1 with errno if it
 * cannot be read. */
int sha256_file(const char *path, char hex[65]);
/* The same for n bytes at p. */
void sha256_hex(const void *p, size_t n, char hex[65]);

#endif
