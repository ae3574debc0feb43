/* Unit tests for json_write.h: output, escaping, caps, latched errors, round trips. */
#include "base/base_buf.h"
#include "base/base_err.h"
#include "json/json.h"
#include "json/json_write.h"
#include "test.h"

#include <float.h>
#include <math.h>

struct wfix {
	uint8_t mem[8192];
	struct buf b;
	struct json_writer w;
};

static void wstart(struct wfix *f, size_t cap)
{
	buf_init(&f->b, f->mem, cap);
	json_w_init(&f->w, &f->b);
}

#define CHECK_OUT(f, s) CHECK_EQ_MEM((f)->b.data, (f)->b.len, s)

/* Re-emit a parsed value through a writer (keys and strings unescaped and escaped again). */
static void emit(struct json_writer *w, const struct json_doc *doc, int t)
{
	static char tmp[4096]; /* test scratch; emit is not re-entered before it is used */
	struct json_iter it;
	int key, v, n;
	int64_t i64;
	uint64_t u64;
	bool b;

	switch (json_typeof(doc, t)) {
	case JSON_OBJECT:
	case JSON_ARRAY:
		if (json_typeof(doc, t) == JSON_OBJECT)
			json_w_obj_begin(w);
		else
			json_w_arr_begin(w);
		json_iter_begin(doc, t, &it);
		while ((v = json_iter_next(doc, &it, &key)) >= 0) {
			if (key >= 0) {
				n = json_get_strn(doc, key, tmp, sizeof tmp);
				json_w_key_slice(w, (struct slice){tmp, n < 0 ? 0 : (size_t)n});
			}
			emit(w, doc, v);
		}
		if (json_typeof(doc, t) == JSON_OBJECT)
			json_w_obj_end(w);
		else
			json_w_arr_end(w);
		break;
	case JSON_STRING:
		n = json_get_strn(doc, t, tmp, sizeof tmp);
		json_w_str_slice(w, (struct slice){tmp, n < 0 ? 0 : (size_t)n});
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
		json_get_bool(doc, t, &b);
		json_w_bool(w, b);
		break;
	case JSON_NULL: json_w_null(w); break;
	case JSON_NONE: break;
	}
}

/* ---- output ------------------------------------------------------------------------------ */

static void write_scalar_roots(void)
{
	struct wfix f;
	wstart(&f, sizeof f.mem);
	CHECK_EQ_INT(json_w_int(&f.w, 0), 0);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, "0");
	wstart(&f, sizeof f.mem);
	json_w_str(&f.w, "x");
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, "\"x\"");
	wstart(&f, sizeof f.mem);
	json_w_null(&f.w);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, "null");
	wstart(&f, sizeof f.mem);
	json_w_bool(&f.w, false);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, "false");
	wstart(&f, sizeof f.mem);
	json_w_str(&f.w, "");
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, "\"\"");
}

static void write_empty_containers(void)
{
	struct wfix f;
	wstart(&f, sizeof f.mem);
	json_w_arr_begin(&f.w);
	json_w_arr_begin(&f.w);
	json_w_arr_end(&f.w);
	json_w_obj_begin(&f.w);
	json_w_obj_end(&f.w);
	json_w_arr_begin(&f.w);
	json_w_arr_begin(&f.w);
	json_w_arr_end(&f.w);
	json_w_arr_end(&f.w);
	json_w_arr_end(&f.w);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, "[[],{},[[]]]");
	wstart(&f, sizeof f.mem);
	json_w_obj_begin(&f.w);
	json_w_obj_end(&f.w);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, "{}");
}

static void write_object_members(void)
{
	struct wfix f;
	wstart(&f, sizeof f.mem);
	json_w_obj_begin(&f.w);
	json_w_key(&f.w, "a");
	json_w_int(&f.w, 1);
	json_w_key(&f.w, "b");
	json_w_str(&f.w, "x");
	json_w_key(&f.w, "c");
	json_w_bool(&f.w, true);
	json_w_key(&f.w, "d");
	json_w_null(&f.w);
	json_w_key(&f.w, "e");
	json_w_arr_begin(&f.w);
	json_w_int(&f.w, 1);
	json_w_uint(&f.w, 2);
	json_w_arr_end(&f.w);
	json_w_key(&f.w, "f");
	json_w_obj_begin(&f.w);
	json_w_obj_end(&f.w);
	json_w_key(&f.w, "");
	json_w_str_slice(&f.w, SLICE_LIT("sl"));
	json_w_obj_end(&f.w);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f,
		  "{\"a\":1,\"b\":\"x\",\"c\":true,\"d\":null,\"e\":[1,2],\"f\":{},\"\":\"sl\"}");
}

static void write_nested_commas(void)
{
	struct wfix f;
	wstart(&f, sizeof f.mem);
	json_w_arr_begin(&f.w);
	json_w_int(&f.w, 1);
	json_w_arr_begin(&f.w);
	json_w_int(&f.w, 2);
	json_w_int(&f.w, 3);
	json_w_arr_end(&f.w);
	json_w_obj_begin(&f.w);
	json_w_key(&f.w, "a");
	json_w_arr_begin(&f.w);
	json_w_int(&f.w, 4);
	json_w_obj_begin(&f.w);
	json_w_key(&f.w, "b");
	json_w_int(&f.w, 5);
	json_w_key(&f.w, "c");
	json_w_arr_begin(&f.w);
	json_w_arr_end(&f.w);
	json_w_obj_end(&f.w);
	json_w_arr_end(&f.w);
	json_w_obj_end(&f.w);
	json_w_int(&f.w, 6);
	json_w_arr_end(&f.w);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, "[1,[2,3],{\"a\":[4,{\"b\":5,\"c\":[]}]},6]");
}

static void write_escapes_every_control(void)
{
	struct wfix f;
	char in[40], want[256];
	size_t n = 0, m = 0;
	for (int c = 0; c < 0x20; c++)
		in[n++] = (char)c;
	in[n++] = '"';
	in[n++] = '\\';
	in[n++] = '/';
	in[n++] = 0x7f;
	want[m++] = '"';
	for (int c = 0; c < 0x20; c++) {
		const char *s = NULL;
		switch (c) {
		case '\b': s = "\\b"; break;
		case '\f': s = "\\f"; break;
		case '\n': s = "\\n"; break;
		case '\r': s = "\\r"; break;
		case '\t': s = "\\t"; break;
		}
		m += s ? (size_t)sprintf(want + m, "%s", s)
		       : (size_t)sprintf(want + m, "\\u%04x", c);
	}
	m += (size_t)sprintf(want + m, "\\\"\\\\/\x7f\"");
	wstart(&f, sizeof f.mem);
	json_w_str_slice(&f.w, (struct slice){in, n});
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_EQ_INT(f.b.len, m);
	CHECK(f.b.len == m && memcmp(f.b.data, want, m) == 0);

	wstart(&f, sizeof f.mem);
	json_w_str_slice(&f.w, (struct slice){"a\0b", 3});
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, "\"a\\u0000b\"");
}

static void write_utf8_passes_through(void)
{
	struct wfix f;
	const char *s = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf";
	wstart(&f, sizeof f.mem);
	json_w_str(&f.w, s);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_EQ_INT(f.b.len, strlen(s) + 2);
	CHECK(memcmp(f.b.data + 1, s, strlen(s)) == 0);
}

#define FFFD "\xef\xbf\xbd"

static void write_invalid_utf8_replaced(void)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{"\x80", "\"" FFFD "\""},
		{"\xff", "\"" FFFD "\""},
		{"a\xc0\x80"
		 "b",
		 "\"a" FFFD FFFD "b\""},                             /* overlong NUL: 2 subparts */
		{"\xe0\x80", "\"" FFFD FFFD "\""},                   /* overlong lead */
		{"\xe2\x82", "\"" FFFD "\""},                        /* cut short by the end */
		{"\xe2\x82x", "\"" FFFD "x\""},                      /* cut short by a byte */
		{"\xf0\x9f\x98", "\"" FFFD "\""},                    /* 3 of 4 bytes */
		{"\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""}, /* above U+10FFFF */
		{"\xed\xa0\x80", "\"" FFFD FFFD FFFD "\""},          /* a surrogate */
		{"\xc3\xa9\xc3", "\"\xc3\xa9" FFFD "\""},
		{"\xc3\"", "\"" FFFD "\\\"\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct wfix f;
		wstart(&f, sizeof f.mem);
		json_w_str(&f.w, cases[i].in);
		CHECK_EQ_INT(json_w_finish(&f.w), 0);
		CHECK_OUT(&f, cases[i].out);
	}
}

static void write_key_escaping(void)
{
	struct wfix f;
	wstart(&f, sizeof f.mem);
	json_w_obj_begin(&f.w);
	json_w_key(&f.w, "a\"b\n\x01\xff");
	json_w_int(&f.w, 1);
	json_w_key_slice(&f.w, (struct slice){"n\0", 2});
	json_w_int(&f.w, 2);
	json_w_obj_end(&f.w);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, "{\"a\\\"b\\n\\u0001" FFFD "\":1,\"n\\u0000\":2}");
}

static void write_int_edges(void)
{
	struct wfix f;
	wstart(&f, sizeof f.mem);
	json_w_arr_begin(&f.w);
	json_w_int(&f.w, INT64_MIN);
	json_w_int(&f.w, INT64_MAX);
	json_w_int(&f.w, -1);
	json_w_uint(&f.w, UINT64_MAX);
	json_w_uint(&f.w, 0);
	json_w_arr_end(&f.w);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, "[-9223372036854775808,9223372036854775807,-1,18446744073709551615,0]");
}

static void write_double_shortest(void)
{
	static const struct {
		double v;
		const char *out;
	} cases[] = {
		{0.1, "0.1"},
		{1.5, "1.5"},
		{-0.0, "-0"},
		{100.0, "100"},
		{1e300, "1e+300"},
		{DBL_MAX, "1.7976931348623157e+308"},
		{5e-324, "4.94065645841247e-324"},
		{0.30000000000000004, "0.30000000000000004"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct wfix f;
		wstart(&f, sizeof f.mem);
		json_w_double(&f.w, cases[i].v);
		CHECK_EQ_INT(json_w_finish(&f.w), 0);
		CHECK_OUT(&f, cases[i].out);
	}
	/* Not representable in JSON. */
	const double bad[] = {NAN, INFINITY, -INFINITY};
	for (size_t i = 0; i < 3; i++) {
		struct wfix f;
		wstart(&f, sizeof f.mem);
		json_w_arr_begin(&f.w);
		CHECK_EQ_INT(json_w_double(&f.w, bad[i]), -ERR_RANGE);
		CHECK_EQ_INT(f.b.len, 0);
		CHECK_EQ_INT(json_w_finish(&f.w), -ERR_RANGE);
	}
}

/* ---- raw --------------------------------------------------------------------------------- */

static void write_raw_checked(void)
{
	struct wfix f;
	wstart(&f, sizeof f.mem);
	json_w_obj_begin(&f.w);
	json_w_key(&f.w, "cached");
	CHECK_EQ_INT(json_w_raw(&f.w, SLICE_LIT("{\"x\": [1, 2]}")), 0);
	json_w_key(&f.w, "n");
	CHECK_EQ_INT(json_w_raw(&f.w, SLICE_LIT("-1.5e3")), 0);
	json_w_obj_end(&f.w);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, "{\"cached\":{\"x\": [1, 2]},\"n\":-1.5e3}");

	static const char *bad[] = {"", "1 2", "[1,]", "[", "{\"a\"", "abc", "\"\\ud800\""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		wstart(&f, sizeof f.mem);
		json_w_arr_begin(&f.w);
		CHECK_EQ_INT(json_w_raw(&f.w, slice_from_cstr(bad[i])), -ERR_JSON_PARSE);
		CHECK_EQ_INT(f.b.len, 0);
		CHECK_EQ_INT(json_w_finish(&f.w), -ERR_JSON_PARSE);
	}
}

static void write_raw_depth(void)
{
	struct wfix f;
	wstart(&f, sizeof f.mem);
	for (int i = 0; i < JSON_MAX_DEPTH - 4; i++)
		json_w_arr_begin(&f.w);
	CHECK_EQ_INT(json_w_raw(&f.w, SLICE_LIT("[[[[]]]]")), 0); /* reaches the cap exactly */
	CHECK_EQ_INT(json_w_raw(&f.w, SLICE_LIT("[[[[[]]]]]")), -ERR_JSON_DEPTH);
	CHECK_EQ_INT(f.b.len, 0);
}

/* A subtree of a parsed document copied verbatim into a new one. */
static void write_raw_from_parsed_token(void)
{
	const char *src = "{\"keep\":{\"a\":[1,\"x\\n\",{\"b\":null}]},\"drop\":2}";
	json_tok toks[16];
	struct json_doc doc;
	struct wfix f;
	REQUIRE(json_parse(&doc, src, strlen(src), toks, 16) > 0);
	wstart(&f, sizeof f.mem);
	json_w_arr_begin(&f.w);
	json_w_raw(&f.w, json_raw(&doc, json_obj_get(&doc, 0, "keep")));
	json_w_arr_end(&f.w);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, "[{\"a\":[1,\"x\\n\",{\"b\":null}]}]");
}

/* ---- caps and errors --------------------------------------------------------------------- */

static void write_depth_cap(void)
{
	struct wfix f;
	wstart(&f, sizeof f.mem);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		CHECK_EQ_INT(i % 2 ? json_w_arr_begin(&f.w)
				   : (json_w_obj_begin(&f.w), json_w_key(&f.w, "k")),
			     0);
	CHECK_EQ_INT(json_w_int(&f.w, 1), 0);
	for (int i = JSON_MAX_DEPTH - 1; i >= 0; i--)
		CHECK_EQ_INT(i % 2 ? json_w_arr_end(&f.w) : json_w_obj_end(&f.w), 0);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	json_tok toks[256];
	struct json_doc doc;
	CHECK_EQ_INT(json_parse(&doc, (const char *)f.b.data, f.b.len, toks, 256),
		     JSON_MAX_DEPTH + JSON_MAX_DEPTH / 2 + 1);

	wstart(&f, sizeof f.mem);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		CHECK_EQ_INT(json_w_arr_begin(&f.w), 0);
	CHECK_EQ_INT(json_w_arr_begin(&f.w), -ERR_JSON_DEPTH); /* one over */
	CHECK_EQ_INT(json_w_obj_begin(&f.w), -ERR_JSON_DEPTH);
	CHECK_EQ_INT(f.b.len, 0);
	CHECK_EQ_INT(json_w_finish(&f.w), -ERR_JSON_DEPTH);
}

static void write_order_errors(void)
{
	struct wfix f;
#define EXPECT_ORDER(call)                                                \
	do {                                                              \
		CHECK_EQ_INT(call, -ERR_JSON_WRITE_ORDER);                \
		CHECK_EQ_INT(f.b.len, 0);                                 \
		CHECK_EQ_INT(json_w_finish(&f.w), -ERR_JSON_WRITE_ORDER); \
	} while (0)

	wstart(&f, sizeof f.mem); /* a key at the root */
	EXPECT_ORDER(json_w_key(&f.w, "a"));
	wstart(&f, sizeof f.mem); /* a key in an array */
	json_w_arr_begin(&f.w);
	EXPECT_ORDER(json_w_key(&f.w, "a"));
	wstart(&f, sizeof f.mem); /* a value where a key is due */
	json_w_obj_begin(&f.w);
	EXPECT_ORDER(json_w_int(&f.w, 1));
	wstart(&f, sizeof f.mem);
	json_w_obj_begin(&f.w);
	EXPECT_ORDER(json_w_arr_begin(&f.w));
	wstart(&f, sizeof f.mem); /* two keys in a row */
	json_w_obj_begin(&f.w);
	json_w_key(&f.w, "a");
	EXPECT_ORDER(json_w_key(&f.w, "b"));
	wstart(&f, sizeof f.mem); /* end after a key */
	json_w_obj_begin(&f.w);
	json_w_key(&f.w, "a");
	EXPECT_ORDER(json_w_obj_end(&f.w));
	wstart(&f, sizeof f.mem); /* mismatched ends */
	json_w_obj_begin(&f.w);
	EXPECT_ORDER(json_w_arr_end(&f.w));
	wstart(&f, sizeof f.mem);
	json_w_arr_begin(&f.w);
	EXPECT_ORDER(json_w_obj_end(&f.w));
	wstart(&f, sizeof f.mem); /* end with nothing open */
	EXPECT_ORDER(json_w_arr_end(&f.w));
	wstart(&f, sizeof f.mem); /* a second root value */
	json_w_int(&f.w, 1);
	EXPECT_ORDER(json_w_int(&f.w, 2));
	wstart(&f, sizeof f.mem);
	json_w_arr_begin(&f.w);
	json_w_arr_end(&f.w);
	EXPECT_ORDER(json_w_arr_begin(&f.w));
	wstart(&f, sizeof f.mem); /* nothing written */
	EXPECT_ORDER(json_w_finish(&f.w));
	wstart(&f, sizeof f.mem); /* a container left open */
	json_w_arr_begin(&f.w);
	json_w_obj_begin(&f.w);
	json_w_obj_end(&f.w);
	EXPECT_ORDER(json_w_finish(&f.w));
	wstart(&f, sizeof f.mem); /* an object waiting for a value */
	json_w_obj_begin(&f.w);
	json_w_key(&f.w, "a");
	EXPECT_ORDER(json_w_finish(&f.w));
#undef EXPECT_ORDER
}

static void write_error_is_latched(void)
{
	struct wfix f;
	wstart(&f, 8);
	json_w_arr_begin(&f.w);
	CHECK_EQ_INT(json_w_str(&f.w, "too long for eight"), -ERR_BUF_FULL);
	CHECK_EQ_INT(f.b.len, 0);
	/* Every later call is a no-op returning the first error, even ones that would fit or
	 * would be out of order. */
	CHECK_EQ_INT(json_w_int(&f.w, 1), -ERR_BUF_FULL);
	CHECK_EQ_INT(json_w_key(&f.w, "k"), -ERR_BUF_FULL);
	CHECK_EQ_INT(json_w_obj_end(&f.w), -ERR_BUF_FULL);
	CHECK_EQ_INT(json_w_raw(&f.w, SLICE_LIT("1")), -ERR_BUF_FULL);
	CHECK_EQ_INT(json_w_double(&f.w, NAN), -ERR_BUF_FULL);
	CHECK_EQ_INT(json_w_arr_end(&f.w), -ERR_BUF_FULL);
	CHECK_EQ_INT(f.b.len, 0);
	CHECK_EQ_INT(json_w_error(&f.w), -ERR_BUF_FULL);
	CHECK_EQ_INT(json_w_finish(&f.w), -ERR_BUF_FULL);
	CHECK_EQ_INT(json_w_finish(&f.w), -ERR_BUF_FULL);
}

/* The same document into every capacity below its size fails cleanly; at its size it fits. */
static void build_doc(struct json_writer *w)
{
	json_w_obj_begin(w);
	json_w_key(w, "name");
	json_w_str(w, "caf\xc3\xa9\n\x01");
	json_w_key(w, "list");
	json_w_arr_begin(w);
	json_w_int(w, -12);
	json_w_double(w, 0.25);
	json_w_bool(w, true);
	json_w_null(w);
	json_w_raw(w, SLICE_LIT("{}"));
	json_w_arr_end(w);
	json_w_key(w, "bad");
	json_w_str(w, "\xff");
	json_w_obj_end(w);
}

static void write_every_capacity(void)
{
	static const char want[] = "{\"name\":\"caf\xc3\xa9\\n\\u0001\",\"list\":[-12,0.25,true,"
				   "null,{}],\"bad\":\"" FFFD "\"}";
	size_t len = sizeof want - 1;
	struct wfix f;
	for (size_t cap = 0; cap < len; cap++) {
		wstart(&f, cap);
		build_doc(&f.w);
		if (json_w_finish(&f.w) != -ERR_BUF_FULL || f.b.len != 0) {
			CHECK(!"a short buffer must fail with BUF_FULL and hold nothing");
			printf("  cap %zu\n", cap);
			break;
		}
	}
	wstart(&f, len); /* exact fit */
	build_doc(&f.w);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, want);
}

static void write_str_exact_fit(void)
{
	struct wfix f;
	wstart(&f, 6); /* "a\nb" -> 6 bytes */
	CHECK_EQ_INT(json_w_str(&f.w, "a\nb"), 0);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, "\"a\\nb\"");
	wstart(&f, 5);
	CHECK_EQ_INT(json_w_str(&f.w, "a\nb"), -ERR_BUF_FULL);
	CHECK_EQ_INT(f.b.len, 0);
	wstart(&f, 8); /* "\u0001" needs 6 + 2 quotes */
	CHECK_EQ_INT(json_w_str(&f.w, "\x01"), 0);
	wstart(&f, 7);
	CHECK_EQ_INT(json_w_str(&f.w, "\x01"), -ERR_BUF_FULL);
	wstart(&f, 5); /* U+FFFD is 3 bytes + 2 quotes */
	CHECK_EQ_INT(json_w_str(&f.w, "\x80"), 0);
	wstart(&f, 4);
	CHECK_EQ_INT(json_w_str(&f.w, "\x80"), -ERR_BUF_FULL);
	wstart(&f, 20); /* INT64_MIN is 20 bytes */
	CHECK_EQ_INT(json_w_int(&f.w, INT64_MIN), 0);
	wstart(&f, 19);
	CHECK_EQ_INT(json_w_int(&f.w, INT64_MIN), -ERR_BUF_FULL);
}

/* The writer starts at the buf's current end and never touches what was there. */
static void write_after_existing_bytes(void)
{
	struct wfix f;
	buf_init(&f.b, f.mem, 32);
	buf_append_cstr(&f.b, "log: ");
	json_w_init(&f.w, &f.b);
	json_w_obj_begin(&f.w);
	json_w_key(&f.w, "a");
	json_w_int(&f.w, 1);
	json_w_obj_end(&f.w);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	buf_append_byte(&f.b, '\n');
	/* A second document that does not fit: the first one survives intact. */
	json_w_init(&f.w, &f.b);
	json_w_str(&f.w, "this one is far too long");
	CHECK_EQ_INT(json_w_finish(&f.w), -ERR_BUF_FULL);
	CHECK_OUT(&f, "log: {\"a\":1}\n");
	/* A third that fits. */
	json_w_init(&f.w, &f.b);
	json_w_arr_begin(&f.w);
	json_w_arr_end(&f.w);
	CHECK_EQ_INT(json_w_finish(&f.w), 0);
	CHECK_OUT(&f, "log: {\"a\":1}\n[]");
}

/* ---- round trips ------------------------------------------------------------------------- */

static void roundtrip_built_document(void)
{
	struct wfix f;
	wstart(&f, sizeof f.mem);
	json_w_obj_begin(&f.w);
	json_w_key(&f.w, "backends");
	json_w_obj_begin(&f.w);
	json_w_key(&f.w, "b.1");
	json_w_obj_begin(&f.w);
	json_w_key(&f.w, "servers");
	json_w_arr_begin(&f.w);
	for (int i = 0; i < 3; i++) {
		json_w_obj_begin(&f.w);
		json_w_key(&f.w, "url");
		char url[32];
		snprintf(url, sizeof url, "http://10.0.0.%d:80", i + 1);
		json_w_str(&f.w, url);
		json_w_key(&f.w, "weight");
		json_w_int(&f.w, i * 10);
		json_w_obj_end(&f.w);
	}
	json_w_arr_end(&f.w);
	json_w_obj_end(&f.w);
	json_w_obj_end(&f.w);
	json_w_key(&f.w, "ratio");
	json_w_double(&f.w, 0.1);
	json_w_obj_end(&f.w);
	REQUIRE(json_w_finish(&f.w) == 0);

	json_tok toks[64];
	struct json_doc doc;
	REQUIRE(json_parse(&doc, (const char *)f.b.data, f.b.len, toks, 64) > 0);
	const char *keys[] = {"backends", "b.1", "servers", "2", "weight"};
	int64_t w = 0;
	CHECK_EQ_INT(json_get_int(&doc, json_get_keys(&doc, 0, keys, 5), &w), 0);
	CHECK_EQ_INT(w, 20);
	keys[4] = "url";
	CHECK(json_str_eq(&doc, json_get_keys(&doc, 0, keys, 5), "http://10.0.0.3:80"));
	double d = 0;
	CHECK(json_get_double(&doc, json_obj_get(&doc, 0, "ratio"), &d) == 0 && d == 0.1);
}

/* Every byte value 1..127 and a spread of code points survive writing and parsing. */
static void roundtrip_strings(void)
{
	char in[512], out[512];
	size_t n = 0;
	for (int c = 0; c < 0x80; c++)
		in[n++] = (char)c;
	static const char more[] =
		"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"
		"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
	memcpy(in + n, more, sizeof more - 1);
	n += sizeof more - 1;

	struct wfix f;
	wstart(&f, sizeof f.mem);
	json_w_obj_begin(&f.w);
	json_w_key_slice(&f.w, (struct slice){in, n});
	json_w_str_slice(&f.w, (struct slice){in, n});
	json_w_obj_end(&f.w);
	REQUIRE(json_w_finish(&f.w) == 0);

	json_tok toks[4];
	struct json_doc doc;
	REQUIRE(json_parse(&doc, (const char *)f.b.data, f.b.len, toks, 4) == 3);
	CHECK_EQ_INT(json_get_strn(&doc, 1, out, sizeof out), (int)n);
	CHECK(memcmp(out, in, n) == 0);
	CHECK_EQ_INT(json_get_strn(&doc, 2, out, sizeof out), (int)n);
	CHECK(memcmp(out, in, n) == 0);
	CHECK(json_str_eq_slice(&doc, 2, (struct slice){in, n}));
	CHECK_EQ_INT(json_obj_get_slice(&doc, 0, (struct slice){in, n}), 2);
}

static void roundtrip_invalid_utf8(void)
{
	struct wfix f;
	char out[32];
	wstart(&f, sizeof f.mem);
	json_w_str(&f.w, "a\xed\xa0\x80z\xc3");
	REQUIRE(json_w_finish(&f.w) == 0);
	json_tok toks[2];
	struct json_doc doc;
	REQUIRE(json_parse(&doc, (const char *)f.b.data, f.b.len, toks, 2) == 1);
	CHECK_EQ_INT(json_get_str(&doc, 0, out, sizeof out), 14);
	CHECK_EQ_STR(out, "a" FFFD FFFD FFFD "z" FFFD);
}

static void roundtrip_numbers(void)
{
	struct wfix f;
	static const double ds[] = {0.1, -2.5e-8, 123456.789, 1e21, 5e-324, DBL_MAX, -0.0, 3.0};
	wstart(&f, sizeof f.mem);
	json_w_arr_begin(&f.w);
	json_w_int(&f.w, INT64_MIN);
	json_w_int(&f.w, INT64_MAX);
	json_w_uint(&f.w, UINT64_MAX);
	for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++)
		json_w_double(&f.w, ds[i]);
	json_w_arr_end(&f.w);
	REQUIRE(json_w_finish(&f.w) == 0);

	json_tok toks[16];
	struct json_doc doc;
	int64_t i64 = 0;
	uint64_t u64 = 0;
	double d;
	REQUIRE(json_parse(&doc, (const char *)f.b.data, f.b.len, toks, 16) == 12);
	CHECK(json_get_int(&doc, 1, &i64) == 0 && i64 == INT64_MIN);
	CHECK(json_get_int(&doc, 2, &i64) == 0 && i64 == INT64_MAX);
	CHECK(json_get_uint(&doc, 3, &u64) == 0 && u64 == UINT64_MAX);
	CHECK_EQ_INT(json_get_int(&doc, 3, &i64), -ERR_RANGE);
	for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
		CHECK_EQ_INT(json_get_double(&doc, 4 + (int)i, &d), 0);
		CHECK(memcmp(&d, &ds[i], sizeof d) == 0); /* bit for bit, -0 included */
	}
}

/* parse -> write -> parse -> write: the second output equals the first, and both parses
 * have the same tokens. */
static void roundtrip_canonical(void)
{
	static const char *docs[] = {
		"{\"a\":[1,-0,2.50,1E3,true,false,null], \"b\\/\" : \"\\u00e9\\ud83d\\ude00\"}",
		" [ \"\\b\\f\\n\\r\\t\\\"\\\\\\u001f\\u007f\" , { } , [ [ ] ] ] ",
		"\"\\u0000\"",
		"18446744073709551615",
		"-9223372036854775809",
		"{\"\":{\"\":{\"\":[]}}}",
	};
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		json_tok t1[32], t2[32];
		struct json_doc d1, d2;
		struct wfix f1, f2;
		int n = json_parse(&d1, docs[i], strlen(docs[i]), t1, 32);
		REQUIRE(n > 0);
		wstart(&f1, sizeof f1.mem);
		emit(&f1.w, &d1, 0);
		REQUIRE(json_w_finish(&f1.w) == 0);
		CHECK_EQ_INT(json_parse(&d2, (const char *)f1.b.data, f1.b.len, t2, 32), n);
		for (int t = 0; t < n && t < d2.ntok; t++)
			CHECK_EQ_INT(json_typeof(&d2, t), json_typeof(&d1, t));
		wstart(&f2, sizeof f2.mem);
		emit(&f2.w, &d2, 0);
		REQUIRE(json_w_finish(&f2.w) == 0);
		CHECK(f1.b.len == f2.b.len && memcmp(f1.b.data, f2.b.data, f1.b.len) == 0);
	}
}

TEST_MAIN(write_scalar_roots, write_empty_containers, write_object_members, write_nested_commas,
	  write_escapes_every_control, write_utf8_passes_through, write_invalid_utf8_replaced,
	  write_key_escaping, write_int_edges, write_double_shortest, write_raw_checked,
	  write_raw_depth, write_raw_from_parsed_token, write_depth_cap, write_order_errors,
	  write_error_is_latched, write_every_capacity, write_str_exact_fit,
	  write_after_existing_bytes, roundtrip_built_document, roundtrip_strings,
	  roundtrip_invalid_utf8, roundtrip_numbers, roundtrip_canonical)
