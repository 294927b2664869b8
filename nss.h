/* nss.h: host lookups that bypass DNS (nsswitch sources, nscd), and COMMAND's view without them. */
#ifndef DG_NSS_H
#define DG_NSS_H

#include <stdbool.h>
#include <stddef.h>

struct nss_view {
	char dir[32];	   /* deployguard's directory in /run, "" if none */
	char conf[48];	   /* the nsswitch.conf there with hosts: files dns, "" if not needed */
	bool nscd;	   /* a daemon answers on nscd's socket */
	char dropped[128]; /* the hosts sources the view drops: "resolve", "ldap"... */
};

/* Look at this host's nsswitch.conf and nscd. 0, or -errno. */
int nss_detect(struct nss_view *v);
/* Whether COMMAND needs a view of its own for its lookups to reach DNS. */
bool nss_needed(const struct nss_view *v);
/* In COMMAND's child, before exec: a mount namespace (a slave of the host's) with that view. */
int nss_apply(const struct nss_view *v);
/* The socket the view hides (nscd's), or NULL. */
const char *nss_masked(const struct nss_view *v);
/* What the host does, for --check and the log. */
void nss_describe(const struct nss_view *v, char *buf, size_t len);
void nss_close(struct nss_view *v);

#endif
