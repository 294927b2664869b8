/*
 * log.c: deployguard's diagnostics. A warning says what failed, on which input, and what to do;
 * it goes to stderr, where a user running a deploy looks. Info and debug lines describe the run
 * (which headers, which fallbacks, what a limit did) and go with the events, so that a log file
 * tells the whole story of a run.
 */
#define _GNU_SOURCE
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int verbose;
static char *warnings[LOG_KEPT]; /* the first warnings, for the report */
static size_t nwarnings;
static struct log_sinks sinks;

void log_set_sinks(const struct log_sinks *s)
{
	sinks = *s;
}

const char *const *log_warnings(size_t *n)
{
	*n = nwarnings;
	return (const char *const *)warnings;
}

void log_set_verbose(int v)
{
	verbose = v;
}

static void vlog(const char *level, int err, const char *fmt, va_list ap)
{
	char msg[1024];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);

	if (err && n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
	if (strcmp(level, "WARN")) {
		if (sinks.line)
			sinks.line(level, msg);
		else
			fprintf(stderr, "deployguard: %s%s\n",
				strcmp(level, "DEBUG") ? "" : "debug: ", msg);
		return;
	}
	fprintf(stderr, "deployguard: %s\n", msg);
	fflush(stderr);
	if (sinks.warn)
		sinks.warn(msg);
	if (nwarnings < LOG_KEPT && (warnings[nwarnings] = strdup(msg)))
		nwarnings++;
}

#define LOG_BODY(level, err, cond)                                                                 \
	do {                                                                                       \
		int saved = errno;                                                                 \
		va_list ap;                                                                        \
		if (cond) {                                                                        \
			va_start(ap, fmt);                                                         \
			vlog(level, err, fmt, ap);                                                 \
			va_end(ap);                                                                \
		}                                                                                  \
		errno = saved;                                                                     \
	} while (0)

void log_warn(const char *fmt, ...)
{
	LOG_BODY("WARN", saved, 1);
}

void log_warnx(const char *fmt, ...)
{
	LOG_BODY("WARN", 0, 1);
}

void log_info(const char *fmt, ...)
{
	LOG_BODY("INFO", 0, 1);
}

void log_debug(const char *fmt, ...)
{
	LOG_BODY("DEBUG", 0, verbose >= 2);
}

void log_quota_flush(struct log_quota *q)
{
	if (q->left_out)
		log_warnx("%u more %s in one second were not logged", q->left_out, q->what);
	q->left_out = 0;
}

bool log_quota(struct log_quota *q, uint64_t now_ms)
{
	if (now_ms / 1000 != q->second) {
		log_quota_flush(q);
		q->second = now_ms / 1000;
		q->n = 0;
	}
	if (q->n < LOG_PER_S) {
		q->n++;
		return true;
	}
	q->left_out++;
	return false;
}
