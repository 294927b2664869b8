/* logline.h: an event line built in memory, and its quoting (logline.c). */
#ifndef DG_LOGLINE_H
#define DG_LOGLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* A line; anything past the end is cut. */
struct line {
	size_t len;
	char buf[16384]; /* more than the longest line: every field is bounded */
};

/* Inline: a line is built of many short pieces, and a call for each cost a tenth more
 * instructions per blocked query (bench/callgrind.sh). */
static inline void line_put(struct line *l, const char *s, size_t n)
{
	if (n > sizeof(l->buf) - l->len)
		n = sizeof(l->buf) - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static inline void line_put_s(struct line *l, const char *s)
{
	line_put(l, s, strlen(s));
}
/* s quoted for a text line ("..." with \" \\ \xHH) or a JSON string (valid UTF-8 as it is,
 * any other byte as \u00HH). */
void line_quote(struct line *l, const char *s, bool json);
/* How many bytes at s a text line can carry unquoted: printable ASCII but '"' and ' '. */
size_t line_bare_run(const char *s);

#endif
