/* libFuzzer target: the answer walker (dns_walk_answer). The question is taken from the input
 * itself, read as a query with QR cleared, so that the fuzzer reaches the answer section. */
#include <assert.h>
#include <string.h>

#include "../../dns.h"

static int item(void *ctx, enum dns_item kind, const char *name, size_t len, const uint8_t *addr,
		uint32_t ttl)
{
	(void)ttl;
	++*(size_t *)ctx;
	if (kind == DNS_ITEM_NAME)
		assert(len < DNS_TEXT_MAX && strlen(name) == len);
	else
		assert(addr);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t asq[DNS_UDP_MAX];
	struct dns_query q;
	const char *why = NULL;
	size_t items = 0;

	if (size < DNS_HDR_LEN || size > sizeof(asq))
		return 0;
	memcpy(asq, data, size);
	asq[2] &= 0x7f;						   /* QR = 0 */
	asq[2] &= ~0x02;					   /* TC = 0 */
	asq[6] = asq[7] = asq[8] = asq[9] = asq[10] = asq[11] = 0; /* counts past the question */
	if (dns_parse_query(asq, size, &q, &why) != DNS_R_NOERROR)
		return 0;
	if (dns_walk_answer(data, size, &q, item, &items, &why) < 0)
		assert(why);
	return 0;
}
