/* libFuzzer target: the policy-file parser (policy_add_line, line by line) and name matching. */
#define _GNU_SOURCE
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy p = {0};
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
		/* every line is also a name to look up */
		policy_match_name(&p, copy, strnlen(copy, DG_NAME_MAX), &src);
	}
	policy_match_name(&p, "github.com", 10, &src);
	policy_free(&p);
	free(text);
	return 0;
}
