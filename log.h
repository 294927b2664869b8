/* log.h: diagnostics, unwind-style: what deployguard itself has to say, as opposed to events. */
#ifndef DG_LOG_H
#define DG_LOG_H

#include <stddef.h>

/* Warnings go to stderr as "deployguard: ..."; log_warn appends strerror(errno). Info lines,
 * and debug lines with -vv, go to the event log in order with the events (audit_message). All
 * four keep errno. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The first LOG_KEPT warnings of the run (the report's), in order. */
#define LOG_KEPT 16
const char *const *log_warnings(size_t *n);
/* -v's count: debug lines from 2 on. */
void log_set_verbose(int verbose);

#endif
