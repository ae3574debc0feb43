/* json_write.h — a bounded JSON writer over a fixed-capacity struct buf.
 *
 * Contract
 *   A json_writer appends one JSON document (RFC 8259, compact: no whitespace) to a buf the
 *   caller owns. Commas and colons are inserted automatically; a fixed stack of
 *   JSON_MAX_DEPTH bits remembers whether each open container is an object or an array, so
 *   the writer needs no memory beyond the struct.
 *
 *   Errors are latched: the first failing call records its error, truncates the buf back to
 *   where the document started (out->len as it was at json_w_init) and from then on every
 *   call does nothing and returns that error; json_w_finish returns it too. So the buf never
 *   holds a half-written document that could pass for a complete one, and callers may issue a
 *   whole sequence of calls and check only json_w_finish. Errors:
 *     -ERR_BUF_FULL          the buf's capacity is reached (the setting behind the buf's size
 *                            is the caller's)
 *     -ERR_JSON_DEPTH        more than JSON_MAX_DEPTH nested containers
 *     -ERR_JSON_WRITE_ORDER  a call out of place: a key outside an object or twice in a row, a
 *                            value where a key is due, an end that does not match, a second
 *                            root value, json_w_finish with containers open or nothing written
 *     -ERR_RANGE             json_w_double with NaN or an infinity
 *     -ERR_JSON_PARSE        json_w_raw with text that is not one complete JSON value
 *
 *   Strings are written as UTF-8: '"', '\\' and the C0 controls are escaped (\b \f \n \r \t
 *   short forms, else \u00XX); DEL and '/' are not. Valid UTF-8 passes through unchanged;
 *   every maximal invalid subpart (Unicode 3.9: a stray continuation byte, a truncated or
 *   overlong sequence, an encoded surrogate, anything above U+10FFFF) is replaced by U+FFFD,
 *   so the output is always valid JSON even for bytes from the network (paths in access logs).
 *
 *   A document json_w_finish accepts always parses with json_parse (given enough tokens),
 *   except when json_w_raw inserted an object with duplicate keys (see json_w_raw), or the
 *   caller wrote the same key twice in one object: the writer does not track keys.
 *
 * Ownership: the writer borrows `out` for its lifetime; `out` must not be modified by anyone
 * else until json_w_finish. Strings passed in are copied immediately and may be reused.
 */
#ifndef JSON_JSON_WRITE_H
#define JSON_JSON_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "base/base_slice.h"
#include "json/json.h"

struct json_writer {
	struct buf *out; /* borrowed */
	size_t mark;     /* out->len at json_w_init: the document starts here */
	int err;         /* first error (negative), latched; 0 while all is well */
	int depth;       /* open containers, 0..JSON_MAX_DEPTH */
	uint64_t objs;   /* bit d set: container at depth d + 1 is an object */
	bool first;      /* the innermost container has no element yet */
	bool want_value; /* in an object, a key has been written */
	bool done;       /* the root value is complete */
};

/* Start a document at the current end of out (several documents may share a buf). */
void json_w_init(struct json_writer *w, struct buf *out);

/* Every call below returns 0 or the latched negative error. */
int json_w_obj_begin(struct json_writer *w);
int json_w_obj_end(struct json_writer *w);
int json_w_arr_begin(struct json_writer *w);
int json_w_arr_end(struct json_writer *w);

/* A member name; the next call must write its value. key must not be NULL. */
int json_w_key(struct json_writer *w, const char *key);
int json_w_key_slice(struct json_writer *w, struct slice key);

/* String values; s must not be NULL. The slice form may contain NUL bytes (\u0000). */
int json_w_str(struct json_writer *w, const char *s);
int json_w_str_slice(struct json_writer *w, struct slice s);

int json_w_int(struct json_writer *w, int64_t v);
int json_w_uint(struct json_writer *w, uint64_t v);
/* The shortest decimal form that reads back as the same double ("0.1", "1e+300"). */
int json_w_double(struct json_writer *w, double v);
int json_w_bool(struct json_writer *w, bool v);
int json_w_null(struct json_writer *w);

/* Insert text that is already JSON (a cached fragment, a parsed token's json_raw()) as one
 * value, byte for byte. It is checked with json_validate() first — it must be exactly one
 * complete value, and its nesting counts towards JSON_MAX_DEPTH — but duplicate keys inside it
 * are not detected. */
int json_w_raw(struct json_writer *w, struct slice json);

/* End the document: 0 when one complete root value has been written, else the latched error
 * or -ERR_JSON_WRITE_ORDER (the buf is then truncated back to the mark). */
int json_w_finish(struct json_writer *w);

static inline int json_w_error(const struct json_writer *w)
{
	return w->err;
}

#endif
