/* policy.h: flat-file policies of names and addresses, and the table of the modes. */
#ifndef DG_POLICY_H
#define DG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DG_NAME_MAX 253 /* RFC 1035 2.3.4: 255 wire octets = 253 text characters */

/* What the policy files mean, one row per mode (-b, --strict, -a). The proxy, the BPF programs'
 * -D constants and the log all read this table; nothing else decides what a mode does. */
struct policy_mode {
	const char *name;   /* firewallMethod= in the log */
	bool listed_blocks; /* a listed name or address is blocked; else it is allowed, the rest not
			     */
	bool deny_unknown;  /* an address no allowed answer led to is refused (strict, allowlist) */
	bool learn_blocked; /* a blocked name's addresses are refused: the proxy resolves the
			     * blocked names and teaches the kernel their addresses */
};
extern const struct policy_mode policy_blocklist, policy_strict, policy_allowlist;

/* Where a rule came from, for rule=FILE:LINE in the log, and its own comment (the text after
 * '#' on its line; NULL if none). index is the rule's in names or nets. */
struct policy_src {
	const char *file;
	unsigned line;
	const char *comment;
	uint32_t index;
};

/* An address rule: host or CIDR prefix, in network byte order, with a port ("ADDR:PORT", and
 * "/tcp" or "/udp") or without (port 0: every port). ":PORT" alone is family AF_UNSPEC: every
 * address of both families, on that port. */
struct policy_net {
	uint8_t family; /* AF_INET, AF_INET6, or AF_UNSPEC */
	uint8_t prefix; /* 0..32 or 0..128 */
	uint8_t addr[16];
	uint16_t file; /* index into policy.files */
	uint32_t line;
	uint32_t note; /* into notes: the rule's comment; 0 for none */
	uint16_t port; /* host order; 0: every port */
	uint8_t proto; /* IPPROTO_TCP, IPPROTO_UDP, or 0 for both */
};

/* A name rule is stored once in the arena as its text; the table is open addressing. */
struct policy_name {
	uint32_t off; /* into arena: one length byte, then the name */
	uint32_t line;
	uint32_t note;	/* into notes: the rule's comment; 0 for none */
	uint32_t ports; /* index + 1 into policy.ports of its first port rule; 0: none */
	uint16_t file;
	uint8_t covers; /* POLICY_SELF, POLICY_BELOW or both, or 0: only port rules name it */
};
#define POLICY_SELF  1 /* the name itself ("=NAME", or NAME) */
#define POLICY_BELOW 2 /* the names below it ("*.NAME", or NAME) */

/* A name rule with a port ("example.com:443", "=example.com:22/tcp"): what it covers of the
 * name it hangs from, and the next port rule of the same name. */
struct policy_port {
	uint32_t line, note, next; /* next: index + 1 into policy.ports; 0 ends the chain */
	uint16_t file, port;	   /* port in host order, never 0 */
	uint8_t proto;		   /* IPPROTO_TCP, IPPROTO_UDP, or 0 for both */
	uint8_t covers;
};

/* A rule whose first label is a glob ("api-*.example.com"): the label pattern, and the rest. */
struct policy_glob {
	uint32_t pat, rest; /* into arena: a length byte, then the text (rest may be empty) */
	uint32_t line, note, next; /* next: index + 1 of the next glob with the same rest */
	uint16_t file, port;	   /* port: as in policy_port; 0 for a rule of every port */
	uint8_t proto;
};

/* A port rule that matches a name: its port (host order) and protocol (0: both), and where it
 * came from. */
struct policy_port_hit {
	uint16_t port;
	uint8_t proto;
	struct policy_src src;
};
#define POLICY_PORT_HITS 16 /* port rules reported for one name; more are ignored */

struct policy {
	char **files;
	size_t nfiles;
	/* names */
	char *arena;
	size_t arena_len, arena_cap;
	struct policy_name *names;
	size_t nnames, names_cap;
	uint64_t *slots; /* hash << 32 | index+1 into names; 0 is empty */
	size_t nslots;	 /* power of two, at most half full */
	/* globs, found by their rest: the same kind of table, hash << 32 | index+1 of the first */
	struct policy_glob *globs;
	size_t nglobs, globs_cap;
	uint64_t *gslots;
	size_t ngslots;
	/* port rules of names, chained from their name (policy_name.ports) */
	struct policy_port *ports;
	size_t nports, ports_cap;
	size_t nport_globs, nport_nets; /* globs and address rules with a port */
	/* addresses */
	struct policy_net *nets;
	size_t nnets, nets_cap;
	/* the rules' comments, NUL-terminated; offset 0 is a NUL no rule points at */
	char *notes;
	size_t notes_len, notes_cap;
	/* set before loading: an allowlist refuses rules that allow too much, unless allow_broad */
	bool allowlist, allow_broad;
	char warning[512]; /* the first rule worth a warning (a blocklist's bare TLD), or "" */
};

/* Name FILE among p's files, for rules added with policy_add_line: its index, or -1 (err). */
int policy_add_file(struct policy *p, const char *path, char *err, size_t errlen);
/* Load FILE into p, and the files it includes ("include FILE", relative to it). On a bad line,
 * return -1 with "FILE:LINE: reason" in err, and the includes that led there. */
int policy_load(struct policy *p, const char *path, char *err, size_t errlen);
/* data/doh-resolvers.txt, built in (build/doh_list.c, made by the Makefile): --block-doh. */
extern const char dg_doh_list[];
/* The same for text in memory (no include lines), named name in errors and rules. */
int policy_load_text(struct policy *p, const char *name, const char *text, char *err,
		     size_t errlen);
/* Parse one rule line (comment and whitespace allowed; a comment after a rule is its reason).
 * 0 ok/blank, -1 with reason in err. */
int policy_add_line(struct policy *p, char *line, uint16_t file, uint32_t lineno, char *err,
		    size_t errlen);
/* NAME (len bytes) lowercased into out (DG_NAME_MAX + 1 bytes), one trailing dot dropped, its
 * labels checked (letters, digits, '-', '_'): its length, or -1 with the reason in err. */
int policy_normalize(const char *in, size_t len, char *out, char *err, size_t errlen);
/* Does NAME (lowercase, no trailing dot, labels joined by '.') match a rule, or a parent match
 * a rule that is not "=NAME"? */
bool policy_match_name(const struct policy *p, const char *name, size_t len,
		       struct policy_src *src);
/* Is NAME (as policy_match_name takes it) blocked in mode? The one judgement of a name against
 * the policy (the proxy's, and the manifests' through depends_resolve): listed, and what a listing
 * means in the mode, but an allowlist's port rule lets its name resolve (its port decides at
 * connect). src: the rule that decided (file NULL when none did). */
bool policy_judge(const struct policy *p, const struct policy_mode *mode, const char *name,
		  size_t len, struct policy_src *src);
/* The port rules that match NAME (as policy_match_name matches, port or not aside), up to max
 * of them in hits: how many (0 when none does). hits may be NULL to ask whether any does. */
size_t policy_match_ports(const struct policy *p, const char *name, size_t len,
			  struct policy_port_hit *hits, size_t max);
/* The source of a name's port rule, by the index its policy_port_hit's src gave: false if the
 * policy has no such rule (any more). */
bool policy_src_of_port(const struct policy *p, uint32_t index, struct policy_src *src);
/* Does the policy hold a name rule with a port? */
bool policy_has_ports(const struct policy *p);
void policy_src_of_net(const struct policy *p, size_t i, struct policy_src *src);
/* The same for name rule i. */
void policy_src_of_name(const struct policy *p, size_t i, struct policy_src *src);
/* "FILE:LINE" of a rule into buf (cut to fit), as the log and the report name it; buf. */
char *policy_src_rule(const struct policy_src *src, char *buf, size_t len);
void policy_free(struct policy *p);

#endif
