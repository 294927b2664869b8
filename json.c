/*
 * json.c: a recursive-descent JSON reader (RFC 8259) for what deployguard reads back: reports,
 * which may come from anywhere, and Docker Engine API requests, which it rewrites. Every read is
 * bounded by the text's length, nesting by JSON_MAX_DEPTH; any error frees what was built and
 * says on which line. A number keeps its text, so that a rewritten document keeps every value.
 */
#define _GNU_SOURCE
#include "json.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *start, *s, *end;
	char *err;
	size_t errlen;
	bool failed;
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *p, const char *fmt, ...)
{
	char why[200];
	size_t line = 1;
	va_list ap;

	if (p->failed)
		return -1;
	p->failed = true;
	for (const char *c = p->start; c < p->s && c < p->end; c++)
		line += *c == '\n';
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "line %zu: %s", line, why);
	return -1;
}

static void skip_ws(struct parser *p)
{
	while (p->s < p->end && strchr(" \t\r\n", *p->s) && *p->s)
		p->s++;
}

static bool take(struct parser *p, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(p->end - p->s) < n || memcmp(p->s, word, n))
		return false;
	p->s += n;
	return true;
}

/* Four hex digits of a \u escape. */
static int hex4(struct parser *p, uint32_t *v)
{
	*v = 0;
	if (p->end - p->s < 4)
		return fail(p, "short \\u escape");
	for (int i = 0; i < 4; i++) {
		char c = *p->s++;

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			*v |= (uint32_t)((c | 0x20) - 'a' + 10);
		else
			return fail(p, "bad \\u escape");
	}
	return 0;
}

static size_t utf8(uint32_t cp, char *out)
{
	if (cp < 0x80)
		return out[0] = (char)cp, 1;
	if (cp < 0x800)
		return out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), 2;
	if (cp < 0x10000)
		return out[0] = (char)(0xe0 | cp >> 12), out[1] = (char)(0x80 | (cp >> 6 & 0x3f)),
		       out[2] = (char)(0x80 | (cp & 0x3f)), 3;
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* One escape after the backslash, appended at *o. */
static int escape(struct parser *p, char **o)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *at;
	uint32_t cp, lo;

	if (p->s == p->end)
		return fail(p, "unterminated string");
	if ((at = memchr(from, *p->s, sizeof(from) - 1))) {
		*(*o)++ = to[at - from];
		p->s++;
		return 0;
	}
	if (*p->s++ != 'u')
		return fail(p, "bad escape");
	if (hex4(p, &cp))
		return -1;
	if (cp >= 0xd800 && cp < 0xdc00) { /* a surrogate pair */
		if (!take(p, "\\u") || hex4(p, &lo) || lo < 0xdc00 || lo > 0xdfff)
			return fail(p, "unpaired surrogate");
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	} else if (cp >= 0xdc00 && cp < 0xe000) {
		return fail(p, "unpaired surrogate");
	}
	if (!cp)
		return fail(p, "NUL in a string");
	*o += utf8(cp, *o);
	return 0;
}

/* A string after its opening quote. An escape never makes the text longer than its source. */
static int string(struct parser *p, char **out)
{
	const char *from = p->s;
	char *buf, *o;

	while (p->s < p->end && *p->s != '"')
		p->s += *p->s == '\\' && p->s + 1 < p->end ? 2 : 1;
	if (p->s >= p->end)
		return fail(p, "unterminated string");
	if (!(o = buf = malloc((size_t)(p->s - from) + 1)))
		return fail(p, "out of memory");
	for (p->s = from; *p->s != '"';) {
		unsigned char c = (unsigned char)*p->s;

		if (c < 0x20) {
			free(buf);
			return fail(p, "control character in a string");
		}
		if (c == '\\') {
			p->s++;
			if (escape(p, &o)) {
				free(buf);
				return -1;
			}
		} else {
			*o++ = *p->s++;
		}
	}
	p->s++;
	*o = '\0';
	*out = buf;
	return 0;
}

static int number(struct parser *p, double *v, char **text)
{
	const char *s = p->s;
	char buf[64];

	if (s < p->end && *s == '-')
		s++;
	if (s == p->end || *s < '0' || *s > '9')
		return fail(p, "unexpected character");
	if (*s == '0')
		s++;
	while (s < p->end && strchr("0123456789.eE+-", *s) && *s)
		s++;
	if ((size_t)(s - p->s) >= sizeof(buf))
		return fail(p, "number too long");
	memcpy(buf, p->s, (size_t)(s - p->s));
	buf[s - p->s] = '\0';
	p->s = s;
	*v = strtod(buf, NULL);
	if (!(*text = strdup(buf)))
		return fail(p, "out of memory");
	return 0;
}

static int value(struct parser *p, struct json *v, int depth);

/* Array items or object members, after the opening bracket. */
static int members(struct parser *p, struct json *v, int depth, bool object)
{
	char close = object ? '}' : ']';

	skip_ws(p);
	if (p->s < p->end && *p->s == close)
		return p->s++, 0;
	for (;;) {
		struct json *items = realloc(v->items, (v->n + 1) * sizeof(*items));
		char **keys = object ? realloc(v->keys, (v->n + 1) * sizeof(*keys)) : NULL;

		if (items)
			v->items = items;
		if (keys)
			v->keys = keys;
		if (!items || (object && !keys))
			return fail(p, "out of memory");
		v->items[v->n] = (struct json){0};
		skip_ws(p);
		if (object && (!take(p, "\"") || string(p, &v->keys[v->n])))
			return fail(p, "expected a member name");
		skip_ws(p);
		if (object && !take(p, ":")) {
			free(v->keys[v->n]);
			return fail(p, "expected ':'");
		}
		if (value(p, &v->items[v->n++], depth + 1))
			return -1;
		skip_ws(p);
		if (take(p, ","))
			continue;
		if (take(p, object ? "}" : "]"))
			return 0;
		return fail(p, "expected ',' or '%c'", close);
	}
}

static int value(struct parser *p, struct json *v, int depth)
{
	*v = (struct json){0};
	if (depth > JSON_MAX_DEPTH)
		return fail(p, "nested deeper than %d", JSON_MAX_DEPTH);
	skip_ws(p);
	if (p->s == p->end)
		return fail(p, "unexpected end");
	if (take(p, "null"))
		return 0;
	if (take(p, "true"))
		return v->type = JSON_TRUE, 0;
	if (take(p, "false"))
		return v->type = JSON_FALSE, 0;
	if (take(p, "\""))
		return v->type = JSON_STRING, string(p, &v->str);
	if (take(p, "["))
		return v->type = JSON_ARRAY, members(p, v, depth, false);
	if (take(p, "{"))
		return v->type = JSON_OBJECT, members(p, v, depth, true);
	v->type = JSON_NUMBER;
	return number(p, &v->num, &v->str);
}

int json_parse(const char *text, size_t len, struct json *out, char *err, size_t errlen)
{
	struct parser p = {text, text, text + len, err, errlen, false};

	if (value(&p, out, 0) == 0) {
		skip_ws(&p);
		if (p.s == p.end)
			return 0;
		fail(&p, "text after the value");
	}
	json_free(out);
	return -1;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	for (size_t i = 0; obj && obj->type == JSON_OBJECT && i < obj->n; i++)
		if (obj->keys[i] && !strcmp(obj->keys[i], key))
			return &obj->items[i];
	return NULL;
}

const char *json_str(const struct json *obj, const char *key)
{
	const struct json *v = json_get(obj, key);

	return v && v->type == JSON_STRING ? v->str : NULL;
}

void json_free(struct json *v)
{
	for (size_t i = 0; i < v->n; i++) {
		json_free(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	*v = (struct json){0};
}

struct json *json_member(struct json *obj, const char *key)
{
	struct json *items;
	char **keys, *k;

	for (size_t i = 0; i < obj->n; i++)
		if (obj->keys[i] && !strcmp(obj->keys[i], key))
			return &obj->items[i];
	items = realloc(obj->items, (obj->n + 1) * sizeof(*items));
	if (items)
		obj->items = items;
	keys = items ? realloc(obj->keys, (obj->n + 1) * sizeof(*keys)) : NULL;
	if (keys)
		obj->keys = keys;
	if (!items || !keys || !(k = strdup(key)))
		return NULL;
	obj->keys[obj->n] = k;
	obj->items[obj->n] = (struct json){.type = JSON_NULL};
	return &obj->items[obj->n++];
}

void json_remove(struct json *obj, size_t i)
{
	json_free(&obj->items[i]);
	free(obj->keys[i]);
	memmove(&obj->items[i], &obj->items[i + 1], (obj->n - i - 1) * sizeof(*obj->items));
	memmove(&obj->keys[i], &obj->keys[i + 1], (obj->n - i - 1) * sizeof(*obj->keys));
	obj->n--;
}

static void write_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void write_value(FILE *f, const struct json *v)
{
	switch (v->type) {
	case JSON_NULL:
		fputs("null", f);
		break;
	case JSON_FALSE:
		fputs("false", f);
		break;
	case JSON_TRUE:
		fputs("true", f);
		break;
	case JSON_NUMBER:
		if (v->str)
			fputs(v->str, f);
		else
			fprintf(f, "%.17g", v->num);
		break;
	case JSON_STRING:
		write_string(f, v->str ? v->str : "");
		break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		fputc(v->type == JSON_ARRAY ? '[' : '{', f);
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				fputc(',', f);
			if (v->type == JSON_OBJECT) {
				write_string(f, v->keys[i]);
				fputc(':', f);
			}
			write_value(f, &v->items[i]);
		}
		fputc(v->type == JSON_ARRAY ? ']' : '}', f);
		break;
	}
}

char *json_write(const struct json *v, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f)
		return NULL;
	write_value(f, v);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}
