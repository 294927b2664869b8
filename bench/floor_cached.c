/*
 * bench/floor_cached.c: the floor of a cached start, for make bench (issue 22): the least any
 * tool must do to guard with programs compiled beforehand, as a libbpf tool loads its object:
 * read them (a compile cache entry, as deployguard stored it), make the maps, load each program
 * with libbpf, and nothing else.
 *
 *   floor_cached DIR KEY
 */
#include <stdio.h>

#include "../bpf_prog.h"
#include "../cache.h"

/* cache.c's diagnostics: a floor says nothing. */
void log_warnx(const char *fmt, ...);
void log_debug(const char *fmt, ...);
void log_warnx(const char *fmt, ...)
{
	(void)fmt;
}
void log_debug(const char *fmt, ...)
{
	(void)fmt;
}

int main(int argc, char **argv)
{
	int fds[CACHE_MAX_MAPS], bad = 0;
	struct cache_entry e;

	if (argc != 3 || cache_read(argv[1], argv[2], &e)) {
		fprintf(stderr, "usage: floor_cached DIR KEY (an entry deployguard stored)\n");
		return 2;
	}
	if (cache_make_maps(&e, fds, NULL, NULL))
		return 1;
	for (size_t i = 0; i < DG_NPROGS; i++) { /* a hook this kernel lacks is no failure */
		const struct dg_prog *p = &dg_progs[i];

		bad += cache_load_prog(&e, p->name, p->type, p->tp ? 0 : p->attach, fds, NULL,
				       NULL) < 0 &&
		       !p->may_lack;
	}
	cache_free(&e);
	return bad ? 1 : 0;
}
