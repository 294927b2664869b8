/* log.h: diagnostics, unwind-style: what deployguard itself has to say, as opposed to events. */
#ifndef DG_LOG_H
#define DG_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/* A flood must not become a flood of log lines: a warning a flood can cause is logged at most
 * LOG_PER_S times a second; the first one after a second with more counts those left out
 * ("N more WHAT in one second were not logged"), as does log_quota_flush, at the end. */
#define LOG_PER_S 20
struct log_quota {
	uint64_t second;
	unsigned n, left_out;
	const char *what;
};
/* True if this warning may be logged now (milliseconds, any monotonic clock). */
bool log_quota(struct log_quota *q, uint64_t now_ms);
void log_quota_flush(struct log_quota *q);
/* -v's count: debug lines from 2 on. */
void log_set_verbose(int verbose);
/* Where lines go besides stderr: info and debug lines to the event log instead (audit.c sets
 * it, so that they sit between the events, in its format), warnings to syslog too. Until set,
 * stderr alone. */
struct log_sinks {
	void (*line)(const char *level, const char *msg);
	void (*warn)(const char *msg);
};
void log_set_sinks(const struct log_sinks *s);

#endif
