/*
 * nss.c: name resolution that does not go through DNS. Where /etc/nsswitch.conf sends host
 * lookups to a daemon (systemd-resolved's "resolve", "ldap", mDNS...) or nscd runs, glibc's
 * getaddrinfo is answered outside the cgroup and the proxy sees no query: the address checks
 * still hold, but names, attribution and allowlist learning are lost. So COMMAND gets a mount
 * namespace of its own (a slave of the host's: mounts on the host still show) in which
 * /etc/nsswitch.conf says "files dns" for hosts and nscd's socket refuses connections; glibc then
 * asks DNS, which the cgroup's programs send to the proxy.
 */
#define _GNU_SOURCE
#include "nss.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define NSS_CONF  "/etc/nsswitch.conf"
#define NSS_NSCD  "/var/run/nscd/socket"
#define NSS_LINE  1024
#define NSS_TOKEN 64

/* A daemon listens on nscd's socket. */
static bool nscd_runs(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = NSS_NSCD};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool up = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

	if (fd >= 0)
		close(fd);
	return up;
}

/* The hosts line rewritten to its DNS sources (files, myhostname, and dns, added if missing)
 * into out; the sources it drops into v->dropped. */
static void rewrite_hosts(struct nss_view *v, const char *line, FILE *out)
{
	const char *p = line + strlen("hosts:");
	bool dns = false;
	char tok[NSS_TOKEN];
	int n;

	fputs("hosts:", out);
	while (sscanf(p, " %63s%n", tok, &n) == 1) {
		p += n;
		if (tok[0] == '[') /* an action: [NOTFOUND=return] */
			continue;
		dns |= !strcmp(tok, "dns");
		if (!strcmp(tok, "files") || !strcmp(tok, "dns") || !strcmp(tok, "myhostname"))
			fprintf(out, " %s", tok);
		else if (strlen(v->dropped) + strlen(tok) + 2 < sizeof(v->dropped))
			snprintf(v->dropped + strlen(v->dropped),
				 sizeof(v->dropped) - strlen(v->dropped), "%s%s",
				 v->dropped[0] ? " " : "", tok);
	}
	fputs(dns ? "\n" : " dns\n", out);
}

/* The view of the file: written to a directory of ours that only root may enter (a bind's source
 * must be a mount of the namespace: no memfd). */
static int write_view(struct nss_view *v, const char *text, size_t len)
{
	FILE *out;

	snprintf(v->dir, sizeof(v->dir), "/run/deployguard.XXXXXX");
	if (!mkdtemp(v->dir)) {
		v->dir[0] = '\0';
		log_warn("failed to make a directory in /run for COMMAND's view of " NSS_CONF);
		return -errno;
	}
	snprintf(v->conf, sizeof(v->conf), "%s/nsswitch.conf", v->dir);
	out = fopen(v->conf, "wex");
	if (!out || fwrite(text, 1, len, out) != len || fchmod(fileno(out), 0644) || fclose(out)) {
		log_warn("failed to write COMMAND's view of " NSS_CONF " to %s", v->conf);
		return -EIO;
	}
	return 0;
}

int nss_detect(struct nss_view *v)
{
	char line[NSS_LINE], *text = NULL;
	size_t len = 0;
	FILE *in = fopen(NSS_CONF, "re"), *out;
	int err = 0;

	*v = (struct nss_view){.nscd = nscd_runs()};
	if (!in)
		return 0; /* no file: glibc's default is files and dns */
	out = open_memstream(&text, &len);
	while (out && fgets(line, sizeof(line), in))
		if (!strncmp(line, "hosts:", 6))
			rewrite_hosts(v, line, out);
		else
			fputs(line, out);
	fclose(in);
	if (!out || fclose(out))
		err = -ENOMEM;
	else if (v->dropped[0]) /* else it says files and dns already */
		err = write_view(v, text, len);
	free(text);
	return err;
}

bool nss_needed(const struct nss_view *v)
{
	return v->nscd || v->conf[0];
}

/* In COMMAND's child (system calls only). */
int nss_apply(const struct nss_view *v)
{
	if (!nss_needed(v))
		return 0;
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL))
		return -errno;
	if (v->conf[0] && mount(v->conf, NSS_CONF, NULL, MS_BIND, NULL))
		return -errno;
	if (v->nscd && mount("/dev/null", NSS_NSCD, NULL, MS_BIND, NULL))
		return -errno;
	return 0;
}

const char *nss_masked(const struct nss_view *v)
{
	return v->nscd ? NSS_NSCD : NULL;
}

void nss_describe(const struct nss_view *v, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s", v->dropped[0] ? NSS_CONF " sends host lookups to " : "",
		 v->dropped, v->dropped[0] && v->nscd ? ", and " : "",
		 v->nscd ? "nscd answers them" : "",
		 nss_needed(v) ? "" : "host lookups go to DNS (files, dns)");
}

void nss_close(struct nss_view *v)
{
	if (v->conf[0])
		unlink(v->conf);
	if (v->dir[0])
		rmdir(v->dir);
	v->conf[0] = v->dir[0] = '\0';
}
