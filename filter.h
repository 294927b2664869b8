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
/* A call the filter handed over on notify_fd: log it as WARN TAMPER and refuse it (in audit mode
 * too), or let it go on, or make it (bpfcall.c). method names the policy mode, for the log. */
void filter_on_notify(int notify_fd, const char *method);
/* At the end: say how many refused calls the last second left out of the log. */
void filter_flush(void);

#endif
