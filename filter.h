/* filter.h: the seccomp filter COMMAND runs under, and deployguard's side of it. */
#ifndef DG_FILTER_H
#define DG_FILTER_H

#include <stdbool.h>
#include <sys/types.h>

/* 0 if seccomp user notification works here (5.5+) and fits deployguard's buffers. */
int filter_check(void);
/* The processes the filter protects: deployguard (self) and its watchdog; called before
 * COMMAND's child forks. */
void filter_guard(pid_t self, pid_t watchdog);
/* In the child, before exec: install the filter; returns its listener fd, or -1. */
int filter_install(void);
/* A call the filter handed over on notify_fd: log it, then refuse it with EPERM (a packet socket
 * in audit mode goes on). method names the policy mode, for the log line. */
void filter_on_notify(int notify_fd, bool audit, const char *method);

#endif
