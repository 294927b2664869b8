/*
 * logline.c: an event line built in memory and written with one fwrite (formatting it with stdio
 * cost more instructions than the rest of a blocked query's handling), and the quoting that keeps
 * a byte of a script's from forging or splitting a line: \" \\ \xHH in text, \u00HH in JSON,
 * whose valid UTF-8 passes as it is.
 */
#define _GNU_SOURCE
#include "logline.h"

#include <string.h>

/* The length of the UTF-8 sequence at p (2 to 4 bytes, no overlong form, no surrogate), or 0. */
static size_t utf8_seq(const unsigned char *p)
{
	size_t n = *p >= 0xf0 && *p <= 0xf4 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc2 ? 2 : 0;

	if (*p >= 0xf5)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((n == 3 && ((*p == 0xe0 && p[1] < 0xa0) || (*p == 0xed && p[1] >= 0xa0))) ||
	    (n == 4 && ((*p == 0xf0 && p[1] < 0x90) || (*p == 0xf4 && p[1] >= 0x90))))
		return 0;
	return n;
}

/* How many bytes at s need no escaping in a quoted string: printable ASCII but '"' and '\\'. */
static size_t plain_run(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
		p++;
	return (size_t)(p - (const unsigned char *)s);
}

/* Quote s for a text line ("..." with \" \\ \xHH) or a JSON string (valid UTF-8 as it is,
 * any other byte as \u00HH). */
void line_quote(struct line *l, const char *s, bool json)
{
	static const char hex[] = "0123456789abcdef";
	size_t seq;

	line_put(l, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[6] = {'\\', (char)*p};
		size_t run = plain_run((const char *)p);

		if (run) { /* most of a line: copied at once, not byte by byte */
			line_put(l, (const char *)p, run);
			p += run - 1;
		} else if (json && *p >= 0x80 && (seq = utf8_seq(p))) {
			line_put(l, (const char *)p, seq);
			p += seq - 1;
		} else if (*p == '"' || *p == '\\') {
			line_put(l, esc, 2);
		} else if (*p < 0x20 || *p >= 0x7f) {
			memcpy(esc + 1, json ? "u00" : "x", json ? 3 : 1);
			esc[json ? 4 : 2] = hex[*p >> 4];
			esc[json ? 5 : 3] = hex[*p & 15];
			line_put(l, esc, json ? 6 : 4);
		} else {
			line_put(l, (const char *)p, 1);
		}
	}
	line_put(l, "\"", 1);
}

/* How many bytes at s a text line can carry unquoted: printable ASCII but '"' and ' '. */
size_t line_bare_run(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p > 0x20 && *p < 0x7f && *p != '"')
		p++;
	return (size_t)(p - (const unsigned char *)s);
}
