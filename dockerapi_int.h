/* dockerapi_int.h: the Docker socket's connections, shared by dockerapi.c (the socket and the
 * relay) and dockerreq.c (what each request is, and what is done with it). Only they include
 * it. */
#ifndef DG_DOCKERAPI_INT_H
#define DG_DOCKERAPI_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dockerapi.h"

#define DA_CLIENTS  60	      /* connections at once; one more waits in the backlog */
#define DA_HEAD_MAX 16384     /* a request's head */
#define DA_BODY_MAX (1 << 20) /* a body read whole, to be rewritten (a create's JSON) */
#define DA_BUF	    65536     /* relayed bytes in flight, each way */
#define DA_SNIFF    2048      /* a create's response kept, for the container's id */

enum da_state { DA_FREE, DA_HEAD, DA_BODY, DA_RELAY, DA_REPLY };
enum da_kind { K_PASS, K_CREATE, K_START, K_PULL, K_PUSH, K_BUILD, K_HIJACK };

struct da_buf {
	char *p;
	size_t len, off, cap;
};

struct da_conn {
	enum da_state state;
	enum da_kind kind;
	int cfd, ufd;
	pid_t peer;
	bool ceof, ueof, shut, upgrade, chunked;
	struct da_buf in;   /* from the client, before the request is forwarded */
	struct da_buf up;   /* to dockerd */
	struct da_buf down; /* to the client */
	size_t head, body;  /* the head's length; the body's (Content-Length) */
	char api[512];	    /* the path without its /vX.Y prefix */
	char path[1024];    /* the whole path, as forwarded */
	char query[2048];
	char name[128], image[256];
	char sniff[DA_SNIFF];
	size_t nsniff;
};

struct dockerapi {
	struct dockerapi_cfg cfg;
	char real[PATH_MAX];
	char dir[64], sock[96];
	int lfd;
	struct da_conn c[DA_CLIENTS];
	int16_t owner[2 * DA_CLIENTS]; /* pollfd past the listener -> connection * 2 + upstream */
};

/* The whole body of a create is here: rewrite it and forward. */
void da_on_create(struct dockerapi *d, struct da_conn *c, const char *method);
/* The head is in: what the request is, and what to do with it. */
void da_on_head(struct dockerapi *d, struct da_conn *c);
/* A create's answer, as far as sniffed: a container made in the guarded cgroup. */
void da_on_created(const struct dockerapi *d, struct da_conn *c);
int da_puts_buf(struct da_buf *b, const char *s);
/* An answer from here (dockerd never sees the request): status and a JSON message, as dockerd
 * words its errors, so that the client prints it. */
void da_reply(struct da_conn *c, int status, const char *reason, const char *msg);
/* Append n bytes to b, growing it up to max: 0, or -1 when it would pass max. */
int da_put(struct da_buf *b, const void *s, size_t n, size_t max);
/* Connect to dockerd and relay from now on; what the client sent past the head goes after the
 * rebuilt head, unless the body was rewritten (from). */
void da_forward(struct dockerapi *d, struct da_conn *c, size_t from);

#endif
