/* allowlist.h: the allowlist a run implies (allowlist.c). */
#ifndef DG_ALLOWLIST_H
#define DG_ALLOWLIST_H

#include <stdio.h>

#include "audit.h"

/* Write to f the rules that let a run with these rows do what it did (dns rows as names,
 * connect rows as addresses no allowed name resolved to), each with the command that needed
 * it; other: rows the run could not keep. argv: the run's command, for the header (or NULL). */
void allowlist_write(FILE *f, const struct audit_row *rows, size_t n, unsigned long other,
		     char *const *argv);

#endif
