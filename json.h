/* json.h: a small JSON reader, for reports read back (--merge-reports) and Docker Engine API
 * requests: a tree of values, with bounds on nesting and size, and errors that say where; and
 * its writer, for a request rewritten. */
#ifndef DG_JSON_H
#define DG_JSON_H

#include <stddef.h>

#define JSON_MAX_DEPTH 64

enum json_type {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT
};

struct json {
	enum json_type type;
	char *str; /* a string's text, UTF-8 (one with \u0000 is refused); a number's, as given */
	double num;
	struct json *items; /* an array's items, an object's values */
	char **keys;	    /* an object's keys */
	size_t n;
};

/* Parse len bytes of text into *out: 0, or -1 with "line N: reason" in err (out is then
 * empty). */
int json_parse(const char *text, size_t len, struct json *out, char *err, size_t errlen);
/* The value of key in an object, or NULL (not an object, or no such key). */
const struct json *json_get(const struct json *obj, const char *key);
/* A string member's text, or NULL. */
const char *json_str(const struct json *obj, const char *key);
/* The member key of an object, added (null) if it has none; NULL if out of memory. */
struct json *json_member(struct json *obj, const char *key);
/* Remove member i of an object. */
void json_remove(struct json *obj, size_t i);
/* The value as JSON text (malloc'd, length in *len), or NULL if out of memory. */
char *json_write(const struct json *v, size_t *len);
void json_free(struct json *v);

#endif
