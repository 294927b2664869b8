/*
 * container.c: which container a process of the run belongs to.
 *
 * A container is a cgroup: podman's runtime (runc or crun) makes one for it, and deployguard
 * adopts it (adopt.c), which names the runtime's command line: "create --bundle DIR ID". For
 * podman, the bundle lives in containers/storage, whose containers.json holds the container's
 * names and, in its metadata, the image's name. Docker's containers are named by the Engine API
 * proxy (dockersock.c), which saw the request. A process's container is the one whose cgroup
 * holds it, read from /proc/PID/cgroup, or remembered from its exec when it is gone.
 */
#define _GNU_SOURCE
#include "container.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "log.h"

#define CONTAINER_SEEN	   4096	      /* processes remembered after their exec (by pid) */
#define CONTAINER_JSON_MAX (16 << 20) /* containers.json read at most */
#define CONTAINER_ARGS	   128

static struct {
	struct container c[CONTAINER_MAX];
	int n;
	struct {
		pid_t pid;
		int idx; /* + 1 */
	} seen[CONTAINER_SEEN];
} ct;

/* A whole file of at most max bytes, NUL-terminated (free it); NULL if it cannot be read. */
static char *slurp(const char *path, size_t max, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0, cap = 4096;
	char *buf = fd >= 0 ? malloc(cap + 1) : NULL;
	ssize_t got;

	while (buf && (got = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)got;
		if (n == cap) {
			char *b = cap < max ? realloc(buf, (cap *= 2) + 1) : NULL;

			if (!b) {
				free(buf);
				buf = NULL;
			}
			buf = b;
		}
	}
	if (fd >= 0)
		close(fd);
	if (buf) {
		buf[n] = '\0';
		*len = n;
	}
	return buf;
}

/* The container c->id in a containers/storage list (a JSON array), if it is there: its first
 * name, and its image's from its metadata. */
static bool from_list(struct container *c, const char *path)
{
	char err[128], *text;
	struct json all, meta;
	bool found = false;
	size_t len;

	if (!(text = slurp(path, CONTAINER_JSON_MAX, &len)))
		return false;
	if (json_parse(text, len, &all, err, sizeof(err))) {
		log_debug("%s: %s", path, err);
		free(text);
		return false;
	}
	free(text);
	for (size_t i = 0; all.type == JSON_ARRAY && i < all.n && !found; i++) {
		const struct json *names = json_get(&all.items[i], "names");
		const char *id = json_str(&all.items[i], "id"),
			   *md = json_str(&all.items[i], "metadata");

		if (!id || strcmp(id, c->id))
			continue;
		found = true;
		c->engine = "podman";
		if (names && names->type == JSON_ARRAY && names->n &&
		    names->items[0].type == JSON_STRING)
			snprintf(c->name, sizeof(c->name), "%s", names->items[0].str);
		if (md && !json_parse(md, strlen(md), &meta, err, sizeof(err))) {
			if (json_str(&meta, "image-name"))
				snprintf(c->image, sizeof(c->image), "%s",
					 json_str(&meta, "image-name"));
			json_free(&meta);
		}
	}
	json_free(&all);
	return found;
}

/* podman: BUNDLE is <root>/<driver>-containers/<id>/userdata, beside the list that names the
 * container: containers.json (podman 4, in the graph root) or, for a container made with --rm
 * under podman 5, volatile-containers.json (in the run root). */
static void from_storage(struct container *c, const char *bundle)
{
	static const char *const lists[] = {"containers.json", "volatile-containers.json"};
	char path[PATH_MAX], *s;

	snprintf(path, sizeof(path), "%s", bundle);
	if (!(s = strrchr(path, '/')) || strcmp(s, "/userdata"))
		return;
	*s = '\0';
	if (!(s = strrchr(path, '/')) || strcmp(s + 1, c->id))
		return;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		snprintf(s, sizeof(path) - (size_t)(s - path), "/%s", lists[i]);
		if (from_list(c, path))
			return;
	}
}

static bool valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

void container_from_runtime(pid_t runtime, const char *rel)
{
	char path[64], *args[CONTAINER_ARGS], *text;
	const char *bundle = NULL;
	struct container c = {.engine = "oci"};
	bool create = false;
	size_t len, n = 0;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)runtime);
	if (!(text = slurp(path, 1 << 20, &len)))
		return;
	for (size_t at = 0; at < len && n < CONTAINER_ARGS; at += strlen(text + at) + 1)
		args[n++] = text + at;
	for (size_t i = 1; i < n; i++) {
		create |= !strcmp(args[i], "create");
		if ((!strcmp(args[i], "--bundle") || !strcmp(args[i], "-b")) && i + 1 < n)
			bundle = args[i + 1];
		else if (!strncmp(args[i], "--bundle=", 9))
			bundle = args[i] + 9;
	}
	if (create && n > 2 && valid_id(args[n - 1]) && ct.n < CONTAINER_MAX) {
		snprintf(c.id, sizeof(c.id), "%s", args[n - 1]);
		snprintf(c.rel, sizeof(c.rel), "%s", rel);
		if (bundle)
			from_storage(&c, bundle);
		container_add(&c);
	}
	free(text);
}

void container_add(const struct container *c)
{
	for (int i = 0; i < ct.n; i++)
		if (!strcmp(ct.c[i].rel, c->rel)) {
			ct.c[i] = *c; /* named again: the later word is the better one */
			return;
		}
	if (ct.n < CONTAINER_MAX)
		ct.c[ct.n++] = *c;
}

/* The container whose cgroup holds pid now: its index, or -1. */
static int live(pid_t pid)
{
	char path[64], line[PATH_MAX + 8];
	size_t best = 0;
	int found = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	for (f = fopen(path, "re"); f && fgets(line, sizeof(line), f);) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		for (int i = 0; i < ct.n; i++) {
			size_t n = strlen(ct.c[i].rel);

			if (n > best && !strncmp(line + 3, ct.c[i].rel, n) &&
			    (line[3 + n] == '/' || !line[3 + n])) {
				best = n;
				found = i;
			}
		}
	}
	if (f)
		fclose(f);
	return found;
}

void container_note(pid_t pid)
{
	int i;

	if (!ct.n || pid <= 0 || (i = live(pid)) < 0)
		return;
	ct.seen[pid % CONTAINER_SEEN].pid = pid;
	ct.seen[pid % CONTAINER_SEEN].idx = i + 1;
}

const struct container *container_of(pid_t pid)
{
	int i;

	if (!ct.n || pid <= 0)
		return NULL;
	if ((i = live(pid)) >= 0)
		return &ct.c[i];
	if (ct.seen[pid % CONTAINER_SEEN].pid == pid && ct.seen[pid % CONTAINER_SEEN].idx)
		return &ct.c[ct.seen[pid % CONTAINER_SEEN].idx - 1];
	return NULL;
}

void container_free(void)
{
	memset(&ct, 0, sizeof(ct));
}
