/* filter.h: the seccomp filter COMMAND runs under, and deployguard's side of it. */
#ifndef DG_FILTER_H
#define DG_FILTER_H

#include <stdbool.h>

/* 0 if seccomp user notification works here (5.5+) and fits deployguard's buffers. */
int filter_check(void);
/* In the child, before exec: install the filter; returns its listener fd, or -1. */
int filter_install(void);
/* A call the filter handed over on notify_fd: log it, then refuse it with EPERM (in audit mode,
 * let it go on). method names the policy mode, for the log line. */
void filter_on_notify(int notify_fd, bool audit, const char *method);

#endif
