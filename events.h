/* events.h: the BPF programs' reports (the dg_events ring), logged and counted. */
#ifndef DG_EVENTS_H
#define DG_EVENTS_H

#include <stdbool.h>

#include <bpf/libbpf.h>

#include "adopt.h"
#include "policy.h"
#include "proxy.h"

struct events {
	struct ring_buffer *rb;
	const struct policy *pol; /* names the address rule behind a refusal */
	struct pmaps *maps;	  /* names the blocked name behind a learned address */
	struct proxy *proxy;	  /* listens in the network namespaces guarded processes run in */
	int netns_fd;		  /* dg_netns: those namespaces, for the kernel */
	bool audit;
	const char *method;  /* the policy mode, for the log line */
	const char *masked;  /* a socket COMMAND's view hides (nscd's), or NULL: no delegation */
	struct adopt *adopt; /* cgroups made during the run for guarded processes */
	const char *docker;  /* the Docker socket deployguard serves to COMMAND: no delegation */
};

/* Read the ring map_fd into r's log lines; r's other fields must be set first. deployguard's
 * own network namespace goes into dg_netns. */
int events_open(struct events *r, int map_fd);
void events_close(struct events *r);
/* ring_buffer__epoll_fd(r->rb) is readable when events wait; ring_buffer__consume() logs them. */

#endif
