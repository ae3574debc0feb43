/* json.h — strict JSON (RFC 8259) parsing over jsmn, with typed lookups.
 *
 * Contract
 *   json_parse() first checks the whole text against the RFC 8259 grammar (jsmn alone accepts
 *   missing commas, bare words, trailing garbage, bad UTF-8 ...), then lets jsmn tokenize it
 *   into the caller's token array, then links every token to the end of its subtree and
 *   rejects objects with duplicate keys. Nothing is allocated; nothing global is written.
 *
 *   Tokens are named by index ("int t"); the root value is token JSON_ROOT (0). Tokens are in
 *   document order: a container is followed by its children, an object member is its key
 *   token immediately followed by the value's token(s).
 *
 *   Errors are negative -ERR_* codes (base/base_err.h). Every function that takes a token
 *   index accepts a negative one and returns it unchanged, so lookups chain:
 *       json_get_int(doc, json_obj_get(doc, JSON_ROOT, "port"), &port)
 *   gives -ERR_NOTFOUND when "port" is missing. Predicates (json_is_null, json_str_eq) return
 *   false for a negative index. An index >= the token count is a programmer error (assert).
 *
 * Ownership and lifetimes
 *   A struct json_doc borrows both the text and the token array: both must stay alive and
 *   unmodified for as long as the doc or any slice taken from it is used. Strings are only
 *   copied by json_get_str()/json_get_strn(), into the caller's buffer.
 *
 * Limits (docs/internals/json.md has the full list of what is rejected)
 *   - nesting: at most JSON_MAX_DEPTH open arrays/objects, else -ERR_JSON_DEPTH;
 *   - tokens: at most `cap` (every value and every key is one token), else
 *     -ERR_JSON_TOO_MANY_TOKENS; the setting behind `cap` is the caller's (max_tokens);
 *   - text: at most JSON_MAX_LEN bytes (jsmn keeps offsets in int), else -ERR_TOO_LARGE.
 */
#ifndef JSON_JSON_H
#define JSON_JSON_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_slice.h"

#define JSON_MAX_DEPTH 64
#define JSON_MAX_LEN ((size_t)INT_MAX)
#define JSON_ROOT 0

/* Token storage, one per JSON value or key; the caller declares an array of these and passes
 * it with its capacity. The fields are private: read tokens only through the functions below.
 *
 * Why a typedef of an untagged struct with these exact member names: it makes this type
 * compatible (C11 6.2.7p1, types in separate translation units) with jsmn's jsmntok_t built
 * with JSMN_PARENT_LINKS, so json.c may let jsmn write the caller's array directly without
 * breaking the effective-type rules, while jsmn.h stays private to json.c. json.c checks the
 * layout and the enum's compatible type with static assertions. */
typedef struct {
	unsigned int type;
	int start;
	int end;
	int size;
	int parent;
} json_tok;

struct json_doc {
	const char *buf;      /* the text (borrowed) */
	size_t len;           /* its length in bytes */
	const json_tok *toks; /* the tokens (borrowed) */
	int ntok;             /* tokens in use; 0 after a failed parse */
	size_t err_off;       /* after a failed parse: byte offset where the error was found */
};

enum json_type {
	JSON_NONE = 0, /* a negative (error) index */
	JSON_OBJECT,
	JSON_ARRAY,
	JSON_STRING,
	JSON_NUMBER,
	JSON_BOOL,
	JSON_NULL,
};

/* Iterator over the children of an array or object (see json_iter_begin). Private fields. */
struct json_iter {
	int next; /* next child token */
	int end;  /* one past the container's subtree */
	bool obj; /* children are key/value pairs */
};

/* Parse buf[0..len) into toks[0..cap). Returns the number of tokens used (>= 1) or:
 *   -ERR_JSON_PARSE            not JSON by RFC 8259 (incl. trailing bytes, bad escapes or
 *                              UTF-8, lone surrogates, control characters in strings)
 *   -ERR_PARTIAL               the text stops before the document is complete but everything
 *                              up to there is valid (a truncated body; empty input)
 *   -ERR_JSON_DEPTH            more than JSON_MAX_DEPTH nested arrays/objects
 *   -ERR_JSON_TOO_MANY_TOKENS  the document needs more than `cap` tokens
 *   -ERR_JSON_DUP_KEY          an object has the same key twice (compared after unescaping)
 *   -ERR_TOO_LARGE             len > JSON_MAX_LEN
 * Syntax errors are reported before the token count, so a malformed document never reports
 * -ERR_JSON_TOO_MANY_TOKENS. On failure doc->ntok is 0, doc->err_off tells where, and the
 * contents of toks are unspecified. A caller that holds the whole text (a body with a known
 * length, a file) should treat -ERR_PARTIAL as malformed input. Cost: O(len + k log k) for k
 * keys in the largest object; stack use is bounded and independent of the input. */
int json_parse(struct json_doc *doc, const char *buf, size_t len, json_tok *toks, size_t cap);

/* The grammar check of json_parse without tokens: returns the number of tokens the document
 * needs (>= 1) and, if depth is not NULL, its nesting depth; or the same errors as
 * json_parse except that duplicate keys are not detected (that needs tokens). */
int json_validate(const char *buf, size_t len, int *depth);

enum json_type json_typeof(const struct json_doc *doc, int t);

/* Members of an object or elements of an array; -ERR_JSON_TYPE for other values. */
int json_len(const struct json_doc *doc, int t);

/* The token's text inside doc->buf: strings without their quotes and still escaped, numbers
 * and literals as written, arrays and objects including their brackets. {NULL, 0} for a
 * negative index. */
struct slice json_raw(const struct json_doc *doc, int t);

/* The value of member `key` of object `obj` (key compared after unescaping). Returns its
 * token, -ERR_JSON_TYPE if obj is not an object, -ERR_NOTFOUND if no member has that key.
 * Linear in the object's size; keys are unique (json_parse rejects duplicates). */
int json_obj_get(const struct json_doc *doc, int obj, const char *key);
int json_obj_get_slice(const struct json_doc *doc, int obj, struct slice key);

/* Element idx of array arr: its token, -ERR_JSON_TYPE, or -ERR_NOTFOUND if idx >= length. */
int json_arr_get(const struct json_doc *doc, int arr, size_t idx);

/* Walk from token `from` down a dot-separated path: "backends.b1.servers". In an object a
 * segment is a key; in an array it must be a decimal index. The empty path gives `from`.
 * Returns the token, -ERR_NOTFOUND, -ERR_JSON_TYPE (a segment applied to a scalar, or a
 * non-numeric segment applied to an array) or -ERR_INVAL (an empty segment: "a..b", "a.").
 * Keys containing dots need json_get_keys(). */
int json_get_path(const struct json_doc *doc, int from, const char *path);

/* Same walk with the segments given one by one (keys[0..n)); any byte may appear in a key. */
int json_get_keys(const struct json_doc *doc, int from, const char *const *keys, size_t n);

/* Iterate the children of an array or object:
 *     struct json_iter it;
 *     int key, v;
 *     json_iter_begin(doc, obj, &it);
 *     while ((v = json_iter_next(doc, &it, &key)) >= 0)
 *             ...
 * json_iter_begin returns 0, -ERR_JSON_TYPE for a scalar (the iterator is then empty) or a
 * negative index passed in. json_iter_next returns the next element (arrays) or the next
 * member's value (objects, with its key token in *key when key is not NULL; -ERR_NOTFOUND in
 * *key for arrays), then -ERR_NOTFOUND at the end. Each step is O(1): subtrees are skipped. */
int json_iter_begin(const struct json_doc *doc, int container, struct json_iter *it);
int json_iter_next(const struct json_doc *doc, struct json_iter *it, int *key);

/* Unescape string t into out as a NUL-terminated C string. \uXXXX escapes become UTF-8
 * (surrogate pairs combined). Returns the length without the NUL, or -ERR_JSON_TYPE (not a
 * string), -ERR_BUF_FULL (length + 1 > cap; out is "" if cap > 0), -ERR_RANGE (the value
 * contains U+0000 and cannot be a C string; out is ""). */
int json_get_str(const struct json_doc *doc, int t, char *out, size_t cap);

/* Unescape string t into out[0..cap) exactly, without a NUL (U+0000 allowed). Returns the
 * length, -ERR_JSON_TYPE or -ERR_BUF_FULL (out[0..cap) then holds a prefix). */
int json_get_strn(const struct json_doc *doc, int t, char *out, size_t cap);

/* Length of string t once unescaped, without copying; -ERR_JSON_TYPE if not a string. */
int json_str_len(const struct json_doc *doc, int t);

/* true when t is a string whose unescaped value equals the given bytes. No buffer: compares
 * the raw bytes directly when the token has no escapes, else decodes as it goes. */
bool json_str_eq(const struct json_doc *doc, int t, const char *lit);
bool json_str_eq_slice(const struct json_doc *doc, int t, struct slice s);

/* Numbers. -ERR_JSON_TYPE if t is not a number; json_get_int/json_get_uint also give
 * -ERR_JSON_TYPE for a number written with a fraction or an exponent ("1.0", "1e3") and
 * -ERR_RANGE outside int64_t / uint64_t ("-1" for uint; "-0" is 0). json_get_double gives
 * -ERR_RANGE when the value overflows a double or is written with more than
 * JSON_NUM_MAX_LEN bytes; values too small for a double become 0 or subnormal. */
#define JSON_NUM_MAX_LEN 255
int json_get_int(const struct json_doc *doc, int t, int64_t *out);
int json_get_uint(const struct json_doc *doc, int t, uint64_t *out);
int json_get_double(const struct json_doc *doc, int t, double *out);

/* true/false into *out; -ERR_JSON_TYPE for anything else. */
int json_get_bool(const struct json_doc *doc, int t, bool *out);

bool json_is_null(const struct json_doc *doc, int t);

/* Classify the UTF-8 sequence starting at p[0] (n >= 1 bytes available): returns its length
 * (1..4) when valid (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF); 0 when
 * p[0..n) is a valid but unfinished start of a sequence; otherwise -k where k >= 1 is the
 * length of the maximal invalid subpart (the bytes one U+FFFD replaces, Unicode 3.9). Shared
 * by the parser (which rejects) and the writer (which replaces). */
int json_utf8_seq(const uint8_t *p, size_t n);

#endif
