/*
 * tests/tools/loadtable.c: deployguard's programs against the kernel, row by row, in the manner
 * of the kernel's test_sock_addr: each program loads and attaches with the type and attach type
 * dg_progs gives it, and loads or attaches that must fail do (LOAD_REJECT, ATTACH_REJECT).
 *
 *   loadtable CGROUP CFLAG...    (root; CFLAGs as deployguard --dump-bpf prints them)
 *
 * A program whose hook the kernel may lack is expected to be refused when LOADTABLE_ABSENT
 * lists its row (the fallback rows of deployguard --check).
 *
 * Prints "ok N ..." or "not ok N ..." per row and exits 1 if any row went otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bcc/bcc_common.h>
#include <bcc/libbpf.h>
#include <bpf/bpf.h>

#include "../../bpf_prog.h"

enum outcome { SUCCESS, LOAD_REJECT, ATTACH_REJECT };

struct row {
	const char *name; /* a program of dg_progs */
	enum bpf_prog_type type;
	enum bpf_attach_type load_as, attach_to;
	enum outcome want;
	const char *why;
};

/* Wrong rows: a context field of the other family, a context of another program type, a link
 * to a hook other than the one the program was loaded for. */
static const struct row wrong[] = {
    {"dg_connect4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_CONNECT, 0, LOAD_REJECT,
     "user_ip4 is not in an AF_INET6 connect's context"},
    {"dg_connect6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_SENDMSG, 0, LOAD_REJECT,
     "user_ip6 is not in an AF_INET sendmsg's context"},
    {"dg_egress", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT, 0, LOAD_REJECT,
     "a packet program's context read as a sock_addr one"},
    {"dg_sock", BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_EGRESS, 0, LOAD_REJECT,
     "a socket program's context read as a packet"},
    {"dg_connect4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT,
     BPF_CGROUP_INET6_CONNECT, ATTACH_REJECT, "loaded for connect4, linked to connect6"},
    {"dg_recvmsg4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_RECVMSG,
     BPF_CGROUP_UDP4_SENDMSG, ATTACH_REJECT, "loaded for recvmsg4, linked to sendmsg4"},
};

static int load(void *mod, const char *name, enum bpf_prog_type type, int attach, char *log,
		size_t len)
{
	return bcc_func_load(mod, type, name, bpf_function_start(mod, name),
			     (int)bpf_function_size(mod, name), bpf_module_license(mod),
			     bpf_module_kern_version(mod), 0, log, (unsigned)len, NULL, attach);
}

/* One row: load, then (unless rejected) attach to cg and detach. Returns what happened. */
static enum outcome run(void *mod, int cg, const struct row *r, const char *tp)
{
	static char log[1 << 16];
	int prog = load(mod, r->name, r->type, tp ? -1 : (int)r->load_as, log, sizeof(log));
	int link;

	if (prog < 0)
		return LOAD_REJECT;
	link =
	    tp ? bpf_raw_tracepoint_open(tp, prog) : bpf_link_create(prog, cg, r->attach_to, NULL);
	close(prog);
	if (link < 0)
		return ATTACH_REJECT;
	close(link);
	return SUCCESS;
}

/* A --check row that is a fallback here, as LOADTABLE_ABSENT lists them (one a line). */
static int absent(const char *row)
{
	const char *list = getenv("LOADTABLE_ABSENT"), *p = list;
	size_t n = strlen(row);

	while (p && (p = strstr(p, row))) {
		if ((p == list || p[-1] == '\n') && (p[n] == '\0' || p[n] == '\n'))
			return 1;
		p += n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const names[] = {"SUCCESS", "LOAD_REJECT", "ATTACH_REJECT"};
	int cg, n = 0, bad = 0;
	void *mod;

	if (argc < 2) {
		fprintf(stderr, "usage: loadtable CGROUP CFLAG...\n");
		return 2;
	}
	cg = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	mod = bpf_module_create_c_from_string(dg_bpf_text, 0, (const char **)argv + 2, argc - 2,
					      true, NULL);
	if (cg < 0 || !mod) {
		fprintf(stderr, "loadtable: cannot open %s or compile the programs\n", argv[1]);
		return 2;
	}
	for (size_t i = 0; i < DG_NPROGS + sizeof(wrong) / sizeof(wrong[0]); i++) {
		const struct dg_prog *p = i < DG_NPROGS ? &dg_progs[i] : NULL;
		struct row r = p ? (struct row){p->name,   p->type, p->attach,
						p->attach, SUCCESS, "as dg_progs has it"}
				 : wrong[i - DG_NPROGS];

		if (p && p->may_lack && absent(p->row)) {
			r.want = LOAD_REJECT;
			r.why = "its hook is a fallback of --check on this kernel";
		}
		enum outcome got = run(mod, cg, &r, p ? p->tp : NULL);

		bad += got != r.want;
		printf("%s %d %s: %s (%s), got %s\n", got == r.want ? "ok" : "not ok", ++n, r.name,
		       names[r.want], r.why, names[got]);
	}
	bpf_module_destroy(mod);
	close(cg);
	return bad ? 1 : 0;
}
