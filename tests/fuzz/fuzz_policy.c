/* libFuzzer target: the policy-file parser (policy_add_line, line by line) and name matching, and
 * the same bytes as a dependency manifest (depends_load), judged by that policy. */
#define _GNU_SOURCE
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>
#include <unistd.h>

#include "../../depends.h"
#include "../../policy.h"

static bool blocks(const void *ctx, const char *name, size_t len)
{
	return policy_match_name(ctx, name, len, NULL);
}

/* The input as a manifest file (a memfd), loaded and resolved against p. */
static void manifest(const struct policy *p, const uint8_t *data, size_t size)
{
	struct depends d = {0};
	char path[64], err[512];
	int fd = memfd_create("fuzz-manifest", 0);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (depends_load(&d, path, err, sizeof(err)) == 0) {
		depends_resolve(&d, blocks, p);
		depends_blocked(&d, "github.com", 10, NULL);
	} else {
		assert(err[0]);
	}
	depends_free(&d);
	close(fd);
}

/* The port rules a name matches: as many as reported, each with a port and a source. */
static void check_ports(const struct policy *p, const char *name, size_t len)
{
	struct policy_port_hit hits[POLICY_PORT_HITS];
	struct policy_src src;
	size_t n = policy_match_ports(p, name, len, hits, POLICY_PORT_HITS);

	assert(n <= POLICY_PORT_HITS && !n == !policy_match_ports(p, name, len, NULL, 0));
	for (size_t i = 0; i < n; i++)
		assert(hits[i].port && policy_src_of_port(p, hits[i].src.index, &src));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the first byte picks the mode: an allowlist checks breadth (and reads the suffix list) */
	struct policy p = {.allowlist = size && (data[0] & 1),
			   .allow_broad = size && (data[0] & 2)};
	char *text = malloc(size + 1), *line, *save = NULL, err[512];
	uint32_t n = 0;
	struct policy_src src;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	p.files = calloc(1, sizeof(char *));
	p.files[0] = strdup("fuzz");
	p.nfiles = 1;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char copy[4096];

		snprintf(copy, sizeof(copy), "%s", line);
		if (policy_add_line(&p, line, 0, ++n, err, sizeof(err)))
			assert(err[0]);
		/* every line is also a name to look up, with and without its ports */
		policy_match_name(&p, copy, strnlen(copy, DG_NAME_MAX), &src);
		check_ports(&p, copy, strnlen(copy, DG_NAME_MAX));
	}
	policy_match_name(&p, "github.com", 10, &src);
	policy_match_name(&p, "api-eu.x.example.com", 20, &src);
	manifest(&p, data, size);
	policy_free(&p);
	free(text);
	return 0;
}
