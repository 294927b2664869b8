/* container.h: the run's containers, for the log, the report and the lineage: the cgroup each
 * runs in, its id, name and image, and the command of the deploy that asked for it. */
#ifndef DG_CONTAINER_H
#define DG_CONTAINER_H

#include <limits.h>
#include <sys/types.h>

#define CONTAINER_MAX 256

struct container {
	char id[65];
	char name[128];
	char image[256];
	const char *engine; /* "podman", "docker", or "oci" (a runtime nothing else names) */
	char rel[PATH_MAX]; /* its cgroup, as /proc/PID/cgroup names it */
	pid_t requester;    /* the deploy's process that asked for it (docker run), or 0 */
};

/* An OCI runtime (runc, crun) that moved a process to cgroup rel: if its command line is a
 * "create" of a container, note the container, with its name and image when the bundle is
 * podman's (containers/storage). */
void container_from_runtime(pid_t runtime, const char *rel);
/* A container another part knows of (the Docker API). */
void container_add(const struct container *c);
/* The container pid runs in (or ran in, if it was seen at exec), or NULL. */
const struct container *container_of(pid_t pid);
/* pid exec'd: remember its container, for when it is gone. */
void container_note(pid_t pid);
void container_free(void);

#endif
