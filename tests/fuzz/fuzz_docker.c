/* libFuzzer target: deployguard's Docker socket reading a request from COMMAND (dockerapi.c,
 * dockerreq.c): the head, the path and query, a create's JSON and its rewrite, the registry of an
 * image. Every input ends as a reply of deployguard's or as a request rebuilt for dockerd, whose
 * socket here is a path where nothing listens. */
#define _GNU_SOURCE
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "../../dockerapi.c"
#include "../../dockerreq.c"

static bool judge(void *ctx, const char *name, unsigned port, char *rule, size_t len,
		  const char **comment, const char **via)
{
	(void)ctx, (void)port;
	snprintf(rule, len, "fuzz:1");
	*comment = *via = NULL;
	return strstr(name, "github") != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dockerapi d = {.cfg = {.cgroup = "/deployguard-1", .judge = judge},
				     .real = "/nonexistent/docker.sock"};
	struct da_conn *c = &d.c[0];
	const char *end;

	static FILE *null;

	if (!null && (null = fopen("/dev/null", "we")))
		audit_init(null, AUDIT_TEXT, 1);
	*c = (struct da_conn){.state = DA_HEAD, .cfd = -1, .ufd = -1, .peer = -1};
	if (!size || da_put(&c->in, data, size, DA_HEAD_MAX + DA_BODY_MAX))
		goto out;
	end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
	if (!end)
		goto out;
	c->head = (size_t)(end - c->in.p) + 4;
	da_on_head(&d, c);
	if (c->state == DA_BODY && c->in.len >= c->head + c->body)
		da_on_create(&d, c, "POST");
	assert(c->state == DA_REPLY || c->state == DA_BODY || c->state == DA_RELAY);
out:
	conn_close(c);
	return 0;
}
