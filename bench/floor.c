/*
 * bench/floor.c: the floor of the design, for make bench (issue 5, item 5): the least a libbcc
 * tool must do to guard anything, compile bpf_prog.h's text and load each program, and nothing
 * else. Takes the -D and -I flags deployguard would pass (deployguard --dump-bpf prints them).
 */
#include <stdio.h>

#include <bcc/bcc_common.h>
#include <bcc/libbpf.h>

#include "../bpf_prog.h"

int main(int argc, char **argv)
{
	static char log[65536];
	void *mod = bpf_module_create_c_from_string(dg_bpf_text, 0, (const char **)argv + 1,
						    argc - 1, true, NULL);

	if (!mod)
		return 1;
	for (size_t i = 0; i < sizeof(dg_progs) / sizeof(dg_progs[0]); i++) {
		const struct dg_prog *p = &dg_progs[i];
		int fd = bcc_func_load(mod, p->type, p->name, bpf_function_start(mod, p->name),
				       (int)bpf_function_size(mod, p->name),
				       bpf_module_license(mod), bpf_module_kern_version(mod), 0,
				       log, sizeof(log), NULL, p->tp ? -1 : (int)p->attach);

		if (fd < 0) {
			fprintf(stderr, "failed to load %s\n", p->name);
			return 1;
		}
	}
	bpf_module_destroy(mod);
	return 0;
}
