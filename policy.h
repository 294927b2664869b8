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

/* An address rule: host or CIDR prefix, in network byte order. */
struct policy_net {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t prefix; /* 0..32 or 0..128 */
	uint8_t addr[16];
	uint16_t file; /* index into policy.files */
	uint32_t line;
	uint32_t note; /* into notes: the rule's comment; 0 for none */
};

/* A name rule is stored once in the arena as its text; the table is open addressing. */
struct policy_name {
	uint32_t off; /* into arena: one length byte, then the name */
	uint32_t line;
	uint32_t note; /* into notes: the rule's comment; 0 for none */
	uint16_t file;
	uint8_t covers; /* POLICY_SELF, POLICY_BELOW or both: what the rule matches */
};
#define POLICY_SELF  1 /* the name itself ("=NAME", or NAME) */
#define POLICY_BELOW 2 /* the names below it ("*.NAME", or NAME) */

/* A rule whose first label is a glob ("api-*.example.com"): the label pattern, and the rest. */
struct policy_glob {
	uint32_t pat, rest; /* into arena: a length byte, then the text (rest may be empty) */
	uint32_t line, note, next; /* next: index + 1 of the next glob with the same rest */
	uint16_t file;
};

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
	/* addresses */
	struct policy_net *nets;
	size_t nnets, nets_cap;
	/* the rules' comments, NUL-terminated; offset 0 is a NUL no rule points at */
	char *notes;
	size_t notes_len, notes_cap;
	/* set before loading: an allowlist refuses rules that allow too much, unless allow_broad */
	bool allowlist, allow_broad;
	struct policy *psl; /* the public suffix list, read when an allowlist rule needs it */
	char warning[512];  /* the first rule worth a warning (a blocklist's bare TLD), or "" */
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
void policy_src_of_net(const struct policy *p, size_t i, struct policy_src *src);
/* The same for name rule i. */
void policy_src_of_name(const struct policy *p, size_t i, struct policy_src *src);
void policy_free(struct policy *p);

#endif
