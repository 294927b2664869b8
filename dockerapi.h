/* dockerapi.h: the Docker Engine API as COMMAND sees it: a socket of deployguard's over the
 * Docker socket, which forwards each request to dockerd after seeing it (see dockerapi.c). */
#ifndef DG_DOCKERAPI_H
#define DG_DOCKERAPI_H

#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#define DOCKERAPI_MAX_FDS 128 /* pollfds dockerapi_prepare adds, at most */

/* Whether the policy blocks the registry NAME (lowercase) on TCP port PORT, as a lookup and a
 * connect would be judged: rule (FILE:LINE, "" if none), its comment and a transient
 * dependency's blocked name, as proxy_judge says them. */
typedef bool dockerapi_judge(void *ctx, const char *name, unsigned port, char *rule, size_t rulelen,
			     const char **comment, const char **via);

struct dockerapi_cfg {
	const char *real;   /* dockerd's socket, as deployguard sees it */
	const char *cgroup; /* the guarded cgroup, as /proc/PID/cgroup names it */
	dockerapi_judge *judge;
	void *ctx;
	bool audit;	    /* log what would be refused, refuse nothing */
	const char *method; /* the policy mode, for the log */
};

struct dockerapi;

/* The socket dockerd listens on for COMMAND (DOCKER_HOST's unix socket, else /run/docker.sock),
 * into path; false if there is none (no dockerd here), or it is not a unix socket: then why says
 * so, for a warning ("" if there is simply none). */
bool dockerapi_find(char *path, size_t len, char *why, size_t whylen);
/* Listen on a socket of deployguard's, in a directory of its own in /run. */
int dockerapi_open(struct dockerapi **dp, const struct dockerapi_cfg *cfg);
/* In COMMAND's child, before exec (system calls only): bind that socket over dockerd's in
 * COMMAND's mount namespace, made now unless it has one of its own already. */
int dockerapi_apply(const struct dockerapi *d, bool has_ns);
/* Add the fds to poll to pfd (at most max); how many. */
int dockerapi_prepare(struct dockerapi *d, struct pollfd *pfd, int max);
/* Handle what poll() reported for them. */
void dockerapi_dispatch(struct dockerapi *d, const struct pollfd *pfd, int n);
/* The path COMMAND connects to (dockerd's, served here): a connect to it is not delegation. */
const char *dockerapi_path(const struct dockerapi *d);
void dockerapi_close(struct dockerapi *d);

#endif
