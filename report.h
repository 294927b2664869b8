/* report.h: the run's report (--report, JSON) and its dependency graph (--graph, Graphviz). */
#ifndef DG_REPORT_H
#define DG_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "depends.h"

#define REPORT_VERSION 1

/* What deployguard knows of the run; the destinations and processes come from audit and proc. */
struct report_run {
	char *const *argv; /* COMMAND, or NULL in attach mode */
	const char *service;
	const char *job, *history; /* --job, --history */
	const char *mode;
	bool audit;
	const char *const *policies;
	int npolicies;
	const char *const *manifests; /* --depends */
	int nmanifests;
	const char *cgroup;
	const struct depends *deps;
	uint64_t start_ms;
	uint64_t cmd_start_ms, cmd_end_ms; /* COMMAND's start and exit; 0: not (yet) */
};

/* Where the report, the graph and the allowlist go (a path NULL: none). Each is written to a
 * temporary file beside it, made now so that a path that cannot be written fails the run before
 * COMMAND starts, and renamed at the end. 0, or -errno with the reason said. */
int report_open(const char *report, const char *graph, const char *allowlist);
/* Write them: status is the run's exit status; failed, that deployguard itself failed (its
 * warnings say why). Once; later calls do nothing. */
void report_write(const struct report_run *run, int status, bool failed);
/* Remove the temporary files of a run that wrote nothing (--check, --dump-bpf). */
void report_discard(void);

/* Markdown text (as code if code) that cannot end a table cell or row, cut at max bytes; NULL is
 * "-". report_md_cell writes it as a table cell, " text |". */
void report_md_text(FILE *f, const char *s, size_t max, bool code);
void report_md_cell(FILE *f, const char *s, size_t max, bool code);
/* The whole of a file (at most 256 MiB) in a malloc'd buffer, its length in *len; NULL if it
 * cannot be read (errno says why). */
char *report_slurp(const char *path, size_t *len);

/* --merge-reports: the manifest lines (SERVICE DEPENDENCY...) that the reports (a NULL-ended
 * list of files) of service audits imply, on stdout. 0, or 125 with the bad file named. */
int report_merge(char *const *files);

#endif
