/*
 * dockerapi.c: the Docker Engine API as COMMAND sees it.
 *
 * dockerd starts a container beside itself, outside the deploy's cgroup, and pulls images
 * itself: neither is guarded, whatever the deploy's cgroup holds. So COMMAND's mount namespace
 * gets, over dockerd's socket (/run/docker.sock, or the unix socket DOCKER_HOST names), a socket
 * of deployguard's that forwards each request to the real one, and sees it first:
 *
 * - POST /containers/create: the container's HostConfig.CgroupParent becomes the guarded cgroup
 *   (dockerd's cgroupfs driver makes the container's cgroup there), so that the container runs
 *   guarded from its first instruction; its id, name and image are noted (container.c), with
 *   the docker command that asked;
 * - POST /build: the same for the containers of RUN steps (cgroupparent=);
 * - POST /containers/ID/start with a body (a HostConfig, API before 1.24): refused;
 * - POST /images/create?fromImage=, POST /images/NAME/push, POST /build?remote=: the registry's
 *   (or the remote's) name is judged as a lookup and a connect to it would be; a blocked one is
 *   refused here, 403 with a message, and logged (REGISTRY BLOCKED), before dockerd asks.
 *
 * Each request is forwarded with its request line rebuilt from the path as parsed here and
 * "Connection: close", so that dockerd reads no second request on a connection: every request
 * passes here. What dockerd does past that (a pull's redirects to a CDN, containers of another
 * client, swarm services) is its own: see the man page's SECURITY.
 */
#define _GNU_SOURCE
#include "dockerapi_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "audit.h"
#include "json.h"
#include "log.h"

bool dockerapi_find(char *path, size_t len, char *why, size_t whylen)
{
	const char *host = getenv("DOCKER_HOST");
	struct stat st;

	why[0] = '\0';
	if (host && *host && strncmp(host, "unix://", 7)) {
		snprintf(why, whylen, "DOCKER_HOST=%s is not a unix socket", host);
		return false;
	}
	snprintf(path, len, "%s", host && *host ? host + 7 : "/run/docker.sock");
	if (stat(path, &st) || !S_ISSOCK(st.st_mode))
		return false;
	return true;
}

int dockerapi_open(struct dockerapi **dp, const struct dockerapi_cfg *cfg)
{
	struct dockerapi *d = calloc(1, sizeof(*d));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int err;

	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	snprintf(d->real, sizeof(d->real), "%s", cfg->real);
	d->cfg.real = d->real;
	for (int i = 0; i < DA_CLIENTS; i++)
		d->c[i].cfd = d->c[i].ufd = -1;
	snprintf(d->dir, sizeof(d->dir), "/run/deployguard.XXXXXX");
	d->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->lfd < 0 || !mkdtemp(d->dir) || chmod(d->dir, 0711)) {
		err = -errno;
		d->dir[0] = d->lfd < 0 || errno == EEXIST ? '\0' : d->dir[0];
		dockerapi_close(d);
		return err;
	}
	snprintf(d->sock, sizeof(d->sock), "%s/docker.sock", d->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->sock);
	/* as dockerd's own: who may use it there may use it here, no one else */
	if (bind(d->lfd, (struct sockaddr *)&sa, sizeof(sa)) || stat(d->real, &st) ||
	    chown(d->sock, st.st_uid, st.st_gid) || chmod(d->sock, st.st_mode & 0777) ||
	    listen(d->lfd, 16)) {
		err = -errno;
		dockerapi_close(d);
		return err;
	}
	*dp = d;
	return 0;
}

const char *dockerapi_path(const struct dockerapi *d)
{
	return d ? d->real : NULL;
}

int dockerapi_apply(const struct dockerapi *d, bool has_ns)
{
	if (!has_ns && (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL)))
		return -1;
	return mount(d->sock, d->real, NULL, MS_BIND, NULL) ? -1 : 0;
}

static void conn_close(struct da_conn *c)
{
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->ufd >= 0)
		close(c->ufd);
	free(c->in.p);
	free(c->up.p);
	free(c->down.p);
	*c = (struct da_conn){.cfd = -1, .ufd = -1};
}

void dockerapi_close(struct dockerapi *d)
{
	if (!d)
		return;
	for (int i = 0; i < DA_CLIENTS; i++)
		conn_close(&d->c[i]);
	if (d->lfd >= 0)
		close(d->lfd);
	if (d->sock[0])
		unlink(d->sock);
	if (d->dir[0])
		rmdir(d->dir);
	free(d);
}

/* Append n bytes to b, growing it up to max: 0, or -1 when it would pass max. */
int da_put(struct da_buf *b, const void *s, size_t n, size_t max)
{
	if (!n)
		return 0;
	if (b->len + n > max)
		return -1;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n)
			cap *= 2;
		if (!(p = realloc(b->p, cap < max ? cap : max)))
			return -1;
		b->p = p;
		b->cap = cap < max ? cap : max;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

int da_puts_buf(struct da_buf *b, const char *s)
{
	return da_put(b, s, strlen(s), DA_HEAD_MAX + DA_BODY_MAX);
}

/* An answer from here (dockerd never sees the request): status and a JSON message, as dockerd
 * words its errors, so that the client prints it. */
void da_reply(struct da_conn *c, int status, const char *reason, const char *msg)
{
	char head[256], *body = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&body, &n);

	if (f) {
		fputs("{\"message\":", f);
		audit_json_string(f, msg);
		fputs("}\n", f);
		fclose(f);
	}
	snprintf(head, sizeof(head),
		 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n",
		 status, reason, n);
	c->down.len = c->down.off = 0;
	if (da_puts_buf(&c->down, head) || (body && da_put(&c->down, body, n, DA_BUF)))
		c->down.len = 0;
	free(body);
	c->state = DA_REPLY;
}

/* Connect to dockerd and relay from now on; what the client sent past the head goes after the
 * rebuilt head, unless the body was rewritten (from). */
void da_forward(struct dockerapi *d, struct da_conn *c, size_t from)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->real);
	c->ufd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->ufd < 0 || connect(c->ufd, (struct sockaddr *)&sa, sizeof(sa))) {
		log_warnx("failed to reach dockerd at %s: %s", d->real, strerror(errno));
		da_reply(c, 502, "Bad Gateway", "deployguard: dockerd cannot be reached");
		return;
	}
	if (from < c->in.len &&
	    da_put(&c->up, c->in.p + from, c->in.len - from, DA_HEAD_MAX * 3 + DA_BODY_MAX)) {
		da_reply(c, 413, "Payload Too Large", "deployguard: request too large");
		return;
	}
	free(c->in.p);
	c->in = (struct da_buf){0};
	c->state = DA_RELAY;
}

static void done(const struct dockerapi *d, struct da_conn *c)
{
	if (c->kind == K_CREATE && c->nsniff)
		da_on_created(d, c);
	conn_close(c);
}

/* Read what fd has into b (at most max in all); 0 at end of file, 1 if more may come, -1 on
 * error. sniff keeps the first bytes of a create's answer. */
static int fill(int fd, struct da_buf *b, size_t max, struct da_conn *sniff)
{
	char tmp[16384];
	size_t room = max > b->len ? max - b->len : 0;
	ssize_t n = room ? read(fd, tmp, room < sizeof(tmp) ? room : sizeof(tmp)) : 0;

	if (!room)
		return 1;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 1 : -1;
	if (n == 0)
		return 0;
	if (sniff && sniff->nsniff < DA_SNIFF) {
		size_t k =
		    DA_SNIFF - sniff->nsniff < (size_t)n ? DA_SNIFF - sniff->nsniff : (size_t)n;

		memcpy(sniff->sniff + sniff->nsniff, tmp, k);
		sniff->nsniff += k;
	}
	return da_put(b, tmp, (size_t)n, max) ? -1 : 1;
}

/* Write what b holds to fd: -1 on error. */
static int drain(int fd, struct da_buf *b)
{
	ssize_t n;

	if (b->off == b->len)
		return 0;
	n = write(fd, b->p + b->off, b->len - b->off);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	b->off += (size_t)n;
	if (b->off == b->len)
		b->off = b->len = 0;
	return 0;
}

static void on_client(struct dockerapi *d, struct da_conn *c, short ev)
{
	int rc;

	if (ev & POLLOUT && drain(c->cfd, &c->down)) {
		done(d, c);
		return;
	}
	if (c->state == DA_REPLY) {
		if (!c->down.len || ev & (POLLERR | POLLHUP))
			conn_close(c);
		return;
	}
	if (!(ev & (POLLIN | POLLHUP | POLLERR)))
		return;
	if (c->state == DA_RELAY) {
		rc = fill(c->cfd, &c->up, DA_BUF, NULL);
		if (rc < 0)
			done(d, c);
		c->ceof |= rc == 0;
		return;
	}
	rc = fill(c->cfd, &c->in, DA_HEAD_MAX + DA_BODY_MAX, NULL);
	if (rc <= 0) {
		conn_close(c); /* gone before its request was whole */
		return;
	}
	if (c->state == DA_HEAD) {
		const char *end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);

		if (!end && c->in.len >= DA_HEAD_MAX)
			da_reply(c, 431, "Request Header Fields Too Large",
				 "deployguard: request head too large");
		if (!end)
			return;
		c->head = (size_t)(end - c->in.p) + 4;
		da_on_head(d, c);
	}
	if (c->state == DA_BODY && c->in.len >= c->head + c->body) {
		char method[] = "POST";

		da_on_create(d, c, method);
	}
}

static void on_upstream(struct dockerapi *d, struct da_conn *c, short ev)
{
	int rc;

	if (ev & POLLOUT && drain(c->ufd, &c->up)) {
		done(d, c);
		return;
	}
	if (ev & (POLLIN | POLLHUP | POLLERR)) {
		rc = fill(c->ufd, &c->down, DA_BUF, c->kind == K_CREATE ? c : NULL);
		if (rc < 0) {
			done(d, c);
			return;
		}
		c->ueof |= rc == 0;
	}
}

static void on_accept(struct dockerapi *d)
{
	for (int i = 0; i < DA_CLIENTS; i++) {
		struct da_conn *c = &d->c[i];
		struct ucred cred = {0};
		socklen_t len = sizeof(cred);

		if (c->state != DA_FREE)
			continue;
		c->cfd = accept4(d->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c->cfd < 0)
			return;
		getsockopt(c->cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
		c->peer = cred.pid;
		c->state = DA_HEAD;
	}
}

int dockerapi_prepare(struct dockerapi *d, struct pollfd *pfd, int max)
{
	int n = 0;
	bool room = false;

	for (int i = 0; i < DA_CLIENTS && n + 2 < max; i++) {
		struct da_conn *c = &d->c[i];

		if (c->state == DA_FREE) {
			room = true;
			continue;
		}
		if (c->state == DA_RELAY && c->ceof && !c->shut && c->up.off == c->up.len) {
			shutdown(c->ufd,
				 SHUT_WR); /* the client is done sending: so is dockerd's side */
			c->shut = true;
		}
		if (c->state == DA_RELAY && c->ueof && c->down.off == c->down.len) {
			done(d, c);
			room = true;
			continue;
		}
		d->owner[n] = (int16_t)(i * 2);
		pfd[n++] = (struct pollfd){
		    .fd = c->cfd,
		    .events =
			(short)((c->down.len > c->down.off ? POLLOUT : 0) |
				(c->state != DA_REPLY && !c->ceof && c->up.len < DA_BUF ? POLLIN
											: 0))};
		if (c->ufd < 0)
			continue;
		d->owner[n] = (int16_t)(i * 2 + 1);
		pfd[n++] = (struct pollfd){
		    .fd = c->ufd,
		    .events = (short)((c->up.len > c->up.off ? POLLOUT : 0) |
				      (!c->ueof && c->down.len < DA_BUF ? POLLIN : 0))};
	}
	if (n < max) {
		d->owner[n] = -1;
		pfd[n++] = (struct pollfd){.fd = room ? d->lfd : -1, .events = POLLIN};
	}
	return n;
}

void dockerapi_dispatch(struct dockerapi *d, const struct pollfd *pfd, int n)
{
	for (int i = 0; i < n; i++) {
		struct da_conn *c;

		if (!pfd[i].revents || pfd[i].fd < 0)
			continue;
		if (d->owner[i] < 0) {
			on_accept(d);
			continue;
		}
		c = &d->c[d->owner[i] / 2];
		if (c->state == DA_FREE)
			continue; /* closed by an earlier event of this turn */
		if (d->owner[i] % 2 == 0 && pfd[i].fd == c->cfd)
			on_client(d, c, pfd[i].revents);
		else if (pfd[i].fd == c->ufd)
			on_upstream(d, c, pfd[i].revents);
	}
}
