/* libFuzzer target: the JSON reader of reports (json_parse), and lookups in what it built. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "../../json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json v;
	char err[256];

	if (json_parse((const char *)data, size, &v, err, sizeof(err))) {
		assert(!strncmp(err, "line ", 5));
		return 0;
	}
	json_str(json_get(&v, "run"), "service");
	json_get(&v, "destinations");
	json_free(&v);
	return 0;
}
