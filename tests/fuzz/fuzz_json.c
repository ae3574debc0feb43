/* fuzz_json.c — libFuzzer harness for src/json (parser, typed getters, writer).
 *
 * For every input:
 *   1. json_parse with a large token array; json_validate must agree with it, and a parse with
 *      one token fewer than needed must fail with -ERR_JSON_TOO_MANY_TOKENS.
 *   2. If it parsed: every token goes through every getter, and the getters must agree with
 *      each other and with json_typeof; iteration must cover exactly the tokens.
 *   3. The document is written back through json_writer (strings unescaped and escaped
 *      again), and the output must parse into the same number of tokens with the same types,
 *      strings and integers; writing that again must give the same bytes.
 *   4. The input as raw bytes goes through json_w_str_slice and json_w_raw; the results must
 *      parse back (the string to the input itself when it is valid UTF-8).
 * Any violation calls abort(). Memory errors are the sanitizers' business.
 */
#include "base/base_buf.h"
#include "base/base_err.h"
#include "json/json.h"
#include "json/json_write.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TOKS 16384
#define FUZZ_STR 65536

static json_tok toks_a[FUZZ_TOKS], toks_b[FUZZ_TOKS];
static char str_a[FUZZ_STR], str_b[FUZZ_STR];

#define ASSERT(c)                \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

/* Tokens reachable from t by iteration, t included. */
static int count_tree(const struct json_doc *doc, int t)
{
	struct json_iter it;
	int n = 1, key, v, i = 0;

	if (json_iter_begin(doc, t, &it) < 0)
		return 1;
	while ((v = json_iter_next(doc, &it, &key)) >= 0) {
		if (json_typeof(doc, t) == JSON_ARRAY) {
			ASSERT(key == -ERR_NOTFOUND);
			ASSERT(json_arr_get(doc, t, (size_t)i) == v);
		} else {
			ASSERT(json_typeof(doc, key) == JSON_STRING && v == key + 1);
			int len = json_get_strn(doc, key, str_a, FUZZ_STR);
			ASSERT(len >= 0);
			/* Keys are unique, so lookup by the key's value finds this member. */
			ASSERT(json_obj_get_slice(doc, t, (struct slice){str_a, (size_t)len}) == v);
			n++;
		}
		n += count_tree(doc, v);
		i++;
	}
	ASSERT(i == json_len(doc, t));
	return n;
}

static void check_token(const struct json_doc *doc, int t)
{
	enum json_type ty = json_typeof(doc, t);
	int64_t i64;
	uint64_t u64;
	double d;
	bool b;
	char small[8];

	ASSERT(ty != JSON_NONE);
	int len = json_get_strn(doc, t, str_a, FUZZ_STR);
	ASSERT((ty == JSON_STRING) == (len >= 0));
	if (ty == JSON_STRING) {
		ASSERT(json_str_len(doc, t) == len);
		ASSERT(json_str_eq_slice(doc, t, (struct slice){str_a, (size_t)len}));
		if (len > 0)
			ASSERT(!json_str_eq_slice(doc, t, (struct slice){str_a, (size_t)len - 1}));
		int rc = json_get_str(doc, t, str_b, FUZZ_STR);
		ASSERT(rc == (memchr(str_a, 0, (size_t)len) ? -ERR_RANGE : len));
		rc = json_get_str(doc, t, small, sizeof small);
		ASSERT(rc == -ERR_BUF_FULL || rc == -ERR_RANGE || (rc == len && len < 8));
		ASSERT(rc >= 0 || small[0] == '\0');
	} else {
		ASSERT(len == -ERR_JSON_TYPE);
		ASSERT(!json_str_eq(doc, t, ""));
	}

	int ri = json_get_int(doc, t, &i64);
	int ru = json_get_uint(doc, t, &u64);
	int rd = json_get_double(doc, t, &d);
	if (ty != JSON_NUMBER) {
		ASSERT(ri == -ERR_JSON_TYPE && ru == -ERR_JSON_TYPE && rd == -ERR_JSON_TYPE);
	} else {
		ASSERT(ri == 0 || ri == -ERR_JSON_TYPE || ri == -ERR_RANGE);
		ASSERT(ru == 0 || ru == -ERR_JSON_TYPE || ru == -ERR_RANGE);
		ASSERT(rd == 0 || rd == -ERR_RANGE);
		if (ri == 0 && i64 >= 0)
			ASSERT(ru == 0 && u64 == (uint64_t)i64);
		if (ru == 0 && u64 <= INT64_MAX)
			ASSERT(ri == 0 && (uint64_t)i64 == u64);
	}
	ASSERT((json_get_bool(doc, t, &b) == 0) == (ty == JSON_BOOL));
	ASSERT(json_is_null(doc, t) == (ty == JSON_NULL));
	ASSERT((json_len(doc, t) >= 0) == (ty == JSON_OBJECT || ty == JSON_ARRAY));
	struct slice raw = json_raw(doc, t);
	ASSERT(raw.p >= doc->buf && raw.p + raw.len <= doc->buf + doc->len);
}

/* Write value t of doc (see the file comment). Strings go through str_b, which no caller
 * holds across the recursive call. */
static void emit(struct json_writer *w, const struct json_doc *doc, int t)
{
	struct json_iter it;
	int key, v, n;
	int64_t i64;
	uint64_t u64;
	bool b;

	switch (json_typeof(doc, t)) {
	case JSON_OBJECT:
	case JSON_ARRAY: {
		bool obj = json_typeof(doc, t) == JSON_OBJECT;
		if (obj)
			json_w_obj_begin(w);
		else
			json_w_arr_begin(w);
		json_iter_begin(doc, t, &it);
		while ((v = json_iter_next(doc, &it, &key)) >= 0) {
			if (obj) {
				n = json_get_strn(doc, key, str_b, FUZZ_STR);
				ASSERT(n >= 0);
				json_w_key_slice(w, (struct slice){str_b, (size_t)n});
			}
			emit(w, doc, v);
		}
		if (obj)
			json_w_obj_end(w);
		else
			json_w_arr_end(w);
		break;
	}
	case JSON_STRING:
		n = json_get_strn(doc, t, str_b, FUZZ_STR);
		ASSERT(n >= 0);
		json_w_str_slice(w, (struct slice){str_b, (size_t)n});
		break;
	case JSON_NUMBER:
		if (json_get_int(doc, t, &i64) == 0)
			json_w_int(w, i64);
		else if (json_get_uint(doc, t, &u64) == 0)
			json_w_uint(w, u64);
		else
			json_w_raw(w, json_raw(doc, t));
		break;
	case JSON_BOOL:
		ASSERT(json_get_bool(doc, t, &b) == 0);
		json_w_bool(w, b);
		break;
	case JSON_NULL: json_w_null(w); break;
	case JSON_NONE: abort();
	}
}

/* Same tokens, same types, same strings and integers. */
static void check_same(const struct json_doc *a, const struct json_doc *b)
{
	ASSERT(a->ntok == b->ntok);
	for (int t = 0; t < a->ntok; t++) {
		enum json_type ty = json_typeof(a, t);
		ASSERT(json_typeof(b, t) == ty);
		if (ty == JSON_STRING) {
			int na = json_get_strn(a, t, str_a, FUZZ_STR);
			ASSERT(na >= 0 &&
			       json_str_eq_slice(b, t, (struct slice){str_a, (size_t)na}));
		} else if (ty == JSON_NUMBER) {
			int64_t x, y;
			int rx = json_get_int(a, t, &x), ry = json_get_int(b, t, &y);
			ASSERT(rx == ry && (rx != 0 || x == y));
		} else if (ty == JSON_OBJECT || ty == JSON_ARRAY) {
			ASSERT(json_len(a, t) == json_len(b, t));
		}
	}
}

static bool valid_utf8(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		int k = json_utf8_seq(p + i, n - i);
		if (k <= 0)
			return false;
		i += (size_t)k;
	}
	return true;
}

/* The input as a string value and as a raw value. */
static void fuzz_writer_bytes(const uint8_t *data, size_t size, uint8_t *out, size_t cap)
{
	struct buf b;
	struct json_writer w;
	struct json_doc doc;

	buf_init(&b, out, cap);
	json_w_init(&w, &b);
	json_w_str_slice(&w, (struct slice){(const char *)data, size});
	if (json_w_finish(&w) == 0) {
		ASSERT(json_parse(&doc, (const char *)b.data, b.len, toks_b, FUZZ_TOKS) == 1);
		int n = json_get_strn(&doc, 0, str_a, FUZZ_STR);
		ASSERT(n >= 0);
		if (valid_utf8(data, size))
			ASSERT((size_t)n == size && memcmp(str_a, data, size) == 0);
	} else {
		ASSERT(json_w_error(&w) == -ERR_BUF_FULL && b.len == 0);
	}

	int depth = 0;
	int v = json_validate((const char *)data, size, &depth);
	buf_init(&b, out, cap);
	json_w_init(&w, &b);
	json_w_arr_begin(&w);
	json_w_raw(&w, (struct slice){(const char *)data, size});
	json_w_arr_end(&w);
	int rc = json_w_finish(&w);
	if (v < 0 || depth >= JSON_MAX_DEPTH)
		ASSERT(rc < 0 && b.len == 0);
	else if (rc == 0)
		ASSERT(json_validate((const char *)b.data, b.len, NULL) == v + 1);
	else
		ASSERT(rc == -ERR_BUF_FULL && b.len == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct json_doc doc, again;
	struct buf b1, b2;
	struct json_writer w;

	/* Every byte of a string may become "\u00XX" when written, or U+FFFD (3 bytes) when
	 * read back; a re-written document is never longer than its input (whitespace goes,
	 * escapes only shrink or stay). The scratch buffers are sized for that. */
	if (size > FUZZ_STR / 4)
		return 0;
	size_t cap = 6 * size + 64;
	uint8_t *out1 = malloc(cap), *out2 = malloc(cap);
	if (!out1 || !out2)
		abort();
	fuzz_writer_bytes(data, size, out1, cap);

	int n = json_parse(&doc, text, size, toks_a, FUZZ_TOKS);
	int v = json_validate(text, size, NULL);
	if (n < 0) {
		ASSERT(doc.ntok == 0 && doc.err_off <= size);
		ASSERT(n == -ERR_JSON_PARSE || n == -ERR_PARTIAL || n == -ERR_JSON_DEPTH ||
		       n == -ERR_JSON_TOO_MANY_TOKENS || n == -ERR_JSON_DUP_KEY);
		if (n != -ERR_JSON_DUP_KEY && n != -ERR_JSON_TOO_MANY_TOKENS)
			ASSERT(v == n);
		goto out;
	}
	ASSERT(n == v && doc.ntok == n);
	ASSERT(json_parse(&again, text, size, toks_b, (size_t)n - 1) == -ERR_JSON_TOO_MANY_TOKENS);

	for (int t = 0; t < n; t++)
		check_token(&doc, t);
	ASSERT(count_tree(&doc, JSON_ROOT) == n);

	buf_init(&b1, out1, cap);
	json_w_init(&w, &b1);
	emit(&w, &doc, JSON_ROOT);
	ASSERT(json_w_finish(&w) == 0);
	ASSERT(json_parse(&again, (const char *)b1.data, b1.len, toks_b, FUZZ_TOKS) == n);
	check_same(&doc, &again);

	buf_init(&b2, out2, cap);
	json_w_init(&w, &b2);
	emit(&w, &again, JSON_ROOT);
	ASSERT(json_w_finish(&w) == 0);
	ASSERT(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);

	/* One byte short of the canonical form: a clean -ERR_BUF_FULL, nothing left behind. */
	buf_init(&b2, out2, b1.len - 1);
	json_w_init(&w, &b2);
	emit(&w, &again, JSON_ROOT);
	ASSERT(json_w_finish(&w) == -ERR_BUF_FULL && b2.len == 0);
out:
	free(out1);
	free(out2);
	return 0;
}
