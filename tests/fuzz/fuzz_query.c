/* libFuzzer target: the query gate and parser (dns_parse_query), and the reply built from it. */
#include <assert.h>
#include <string.h>

#include "../../dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[DNS_UDP_MAX];
	struct dns_query q;
	const char *why = NULL;
	int rc = dns_parse_query(data, size, &q, &why);
	size_t n;

	if (rc == DNS_R_DROP)
		return 0;
	assert(rc == DNS_R_NOERROR || why);
	if (rc == DNS_R_NOERROR) {
		assert(q.namelen < DNS_TEXT_MAX && strlen(q.name) == q.namelen);
		assert(q.qend <= size);
	}
	n = dns_build_reply(data, &q, rc == DNS_R_NOERROR ? DNS_R_NXDOMAIN : rc, out, sizeof(out));
	assert(n <= sizeof(out));
	return 0;
}
