/* Unit tests for json.h: strict parsing, caps on both sides, typed lookups, iteration. */
#include "base/base_err.h"
#include "json/json.h"
#include "test.h"

#include <math.h>

#define NTOK 512

/* Parse a C string with an exact-size heap copy, so a read past the end is an ASan report.
 * The copy is freed by parse_done(); the doc points into it until then. */
static char *held_; /* test-only state: the copy behind the last doc */

static int parse_len(struct json_doc *doc, json_tok *toks, size_t cap, const char *s, size_t n)
{
	free(held_);
	held_ = malloc(n ? n : 1);
	if (n)
		memcpy(held_, s, n);
	return json_parse(doc, held_, n, toks, cap);
}

static int parse(struct json_doc *doc, json_tok *toks, size_t cap, const char *s)
{
	return parse_len(doc, toks, cap, s, strlen(s));
}

static void parse_done(void)
{
	free(held_);
	held_ = NULL;
}

/* Parse result of a C string with a large token array. */
static int parse_rc(const char *s)
{
	json_tok toks[NTOK];
	struct json_doc doc;
	int rc = parse(&doc, toks, NTOK, s);
	parse_done();
	return rc;
}

/* Tokens reachable by iteration from t, t included: must cover the document exactly. */
static int count_tree(const struct json_doc *doc, int t)
{
	struct json_iter it;
	int n = 1, key, v;

	if (json_iter_begin(doc, t, &it) < 0)
		return 1;
	while ((v = json_iter_next(doc, &it, &key)) >= 0) {
		if (key >= 0) {
			if (json_typeof(doc, key) != JSON_STRING)
				return -1000000;
			n++;
		}
		n += count_tree(doc, v);
	}
	return n;
}

static const char config_doc[] =
	"{\"backends\":{\"b1\":{\"servers\":{\"s1\":{\"url\":\"http://10.0.0.1:80\",\"weight\":10},"
	"\"s.2\":{\"url\":\"http://"
	"10.0.0.2:80\",\"weight\":1}},\"loadBalancer\":{\"method\":\"wrr\"}}},"
	"\"frontends\":{\"f1\":{\"backend\":\"b1\",\"routes\":[{\"rule\":\"Host:a.example\"},"
	"{\"rule\":\"PathPrefix:/api\"}],\"priority\":-5,\"passHostHeader\":true,\"auth\":null}},"
	"\"list\":[1,-2.5e+3,true,false,null,\"\\u00e9\\ud83d\\ude00\\n\","
	"\"\xc3\xa9\xf0\x9f\x98\x80\"],"
	"\"e\":{},\"a\":[]}";

/* ---- accepting and rejecting ------------------------------------------------------------- */

static void parse_scalars_at_root(void)
{
	static const struct {
		const char *text;
		enum json_type type;
	} cases[] = {
		{"1", JSON_NUMBER},     {"-0", JSON_NUMBER},   {" 12 ", JSON_NUMBER},
		{"\"x\"", JSON_STRING}, {"\"\"", JSON_STRING}, {"true", JSON_BOOL},
		{"false", JSON_BOOL},   {"null", JSON_NULL},   {"\n\t\r null \n", JSON_NULL},
		{"[]", JSON_ARRAY},     {"{}", JSON_OBJECT},   {" [ ] ", JSON_ARRAY},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_tok toks[4];
		struct json_doc doc;
		int n = parse(&doc, toks, 4, cases[i].text);
		CHECK_EQ_INT(n, 1);
		if (n == 1)
			CHECK_EQ_INT(json_typeof(&doc, JSON_ROOT), cases[i].type);
	}
	parse_done();
}

static void parse_config_doc(void)
{
	json_tok toks[NTOK];
	struct json_doc doc;
	int n = parse(&doc, toks, NTOK, config_doc);
	REQUIRE(n > 0);
	CHECK_EQ_INT(json_validate(config_doc, strlen(config_doc), NULL), n);
	CHECK_EQ_INT(count_tree(&doc, JSON_ROOT), n);
	CHECK_EQ_INT(json_typeof(&doc, JSON_ROOT), JSON_OBJECT);
	CHECK_EQ_INT(json_len(&doc, JSON_ROOT), 5);
	parse_done();
}

static void parse_rejects_bare_words(void)
{
	static const char *bad[] = {"abc",       "[abc]", "True",     "NULL",
				    "nan",       "[nan]", "Infinity", "[-Infinity]",
				    "undefined", "[tru]", "[nul]",    "[truee]",
				    "[nulll]",   "'a'",   "[x1]",     "{\"a\":yes}"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ_INT(parse_rc(bad[i]), -ERR_JSON_PARSE);
	/* A prefix of a literal is incomplete, not wrong. */
	CHECK_EQ_INT(parse_rc("tru"), -ERR_PARTIAL);
	CHECK_EQ_INT(parse_rc("[fals"), -ERR_PARTIAL);
}

static void parse_numbers(void)
{
	static const char *good[] = {"0",       "-0",   "1.5",
				     "1e10",    "1E+2", "1e-2",
				     "-0.0e-0", "10",   "123456789012345678901234567890",
				     "0.0001"};
	static const char *bad[] = {"[01]", "[-01]",   "[+1]",  "[.5]",   "[1.]",    "[1.e3]",
				    "[1e]", "[0x10]",  "[1e+]", "[--1]",  "[1.5.2]", "[00]",
				    "[-]",  "[1e1.5]", "[- 1]", "[1 .5]", "[-a]",    "[1ee2]"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		CHECK_EQ_INT(parse_rc(good[i]), 1);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ_INT(parse_rc(bad[i]), -ERR_JSON_PARSE);
	/* At the end of the text, these could still become numbers. */
	CHECK_EQ_INT(parse_rc("-"), -ERR_PARTIAL);
	CHECK_EQ_INT(parse_rc("1."), -ERR_PARTIAL);
	CHECK_EQ_INT(parse_rc("1e"), -ERR_PARTIAL);
	CHECK_EQ_INT(parse_rc("1e-"), -ERR_PARTIAL);
	CHECK_EQ_INT(parse_rc("01"), -ERR_JSON_PARSE);
}

static void parse_rejects_structure(void)
{
	static const char *bad[] = {
		"[1 2]",      "{\"a\" 1}", "{\"a\":1,}", "[1,]",
		"[,1]",       "{,}",       "{\"a\"}",    "{1:2}",
		"{[]:1}",     "{{}:1}",    "[1]]",       "]",
		"}",          "[1}",       "{\"a\":1]",  ":",
		",",          "[1,,2]",    "{\"a\"::1}", "{\"a\":1 \"b\":2}",
		"{\"a\":}",   "[:]",       "{\"a\",1}",  "[1:2]",
		"{true:1}",   "{null:1}",  "[\"a\":1]",  "{\"a\":1,,\"b\":2}",
		"{\"a\":1}}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ_INT(parse_rc(bad[i]), -ERR_JSON_PARSE);
}

static void parse_rejects_trailing_bytes(void)
{
	static const char *bad[] = {"1 2",  "{} {}",     "[]x", "\"a\"\"b\"", "null,",
				    "[] ]", "truefalse", "1/",  "{}\"",       "[]\xef\xbb\xbf"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ_INT(parse_rc(bad[i]), -ERR_JSON_PARSE);

	/* A NUL byte is never JSON: not after the value, not inside a string. */
	json_tok toks[8];
	struct json_doc doc;
	CHECK_EQ_INT(parse_len(&doc, toks, 8, "[1]\0", 4), -ERR_JSON_PARSE);
	CHECK_EQ_INT(doc.err_off, 3);
	CHECK_EQ_INT(parse_len(&doc, toks, 8, "\"a\0b\"", 5), -ERR_JSON_PARSE);
	CHECK_EQ_INT(parse_len(&doc, toks, 8, "\0", 1), -ERR_JSON_PARSE);
	parse_done();
}

static void parse_whitespace_rules(void)
{
	CHECK_EQ_INT(parse_rc(" \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ 1 , 2 ] \t\r\n} \t\r\n"), 5);
	static const char *bad[] = {"\v[]",       "[]\f",       "[1,\v2]",
				    "\xc2\xa0[]", "[\xc2\xa0]", "\xef\xbb\xbf[]" /* a BOM */};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ_INT(parse_rc(bad[i]), -ERR_JSON_PARSE);
}

static void parse_rejects_control_chars_in_strings(void)
{
	char s[8];
	for (int c = 1; c < 0x20; c++) {
		snprintf(s, sizeof s, "[\"%c\"]", c);
		CHECK_EQ_INT(parse_rc(s), -ERR_JSON_PARSE);
	}
	CHECK_EQ_INT(parse_rc("[\"\x7f\"]"), 2); /* DEL is not a control character in JSON */
}

static void parse_escapes(void)
{
	json_tok toks[8];
	struct json_doc doc;
	char out[64];
	REQUIRE(parse(&doc, toks, 8, "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\"") == 1);
	CHECK_EQ_INT(json_get_str(&doc, 0, out, sizeof out), 14);
	CHECK_EQ_STR(out, "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac");

	static const char *bad[] = {"\"\\a\"",     "\"\\x41\"",   "\"\\u12\"",
				    "\"\\u12G4\"", "\"\\U0041\"", "\"\\'\"",
				    "\"\\0\"",     "\"\\ \"",     "\"\\u 123\""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ_INT(parse_rc(bad[i]), -ERR_JSON_PARSE);
	CHECK_EQ_INT(parse_rc("\"\\"), -ERR_PARTIAL);
	CHECK_EQ_INT(parse_rc("\"\\u00"), -ERR_PARTIAL);
	parse_done();
}

static void parse_surrogates(void)
{
	json_tok toks[4];
	struct json_doc doc;
	char out[16];
	REQUIRE(parse(&doc, toks, 4, "\"\\ud83d\\ude00|\\uD834\\uDD1E|\\udbff\\udfff\"") == 1);
	CHECK_EQ_INT(json_get_str(&doc, 0, out, sizeof out), 14);
	CHECK_EQ_STR(out, "\xf0\x9f\x98\x80|\xf0\x9d\x84\x9e|\xf4\x8f\xbf\xbf");

	static const char *bad[] = {
		"\"\\ud800\"",        /* lone high */
		"\"\\udc00\"",        /* lone low */
		"\"\\ud800\\u0041\"", /* high then not a low */
		"\"\\ud800x\"",       /* high then text */
		"\"\\ud800\\n\"",     /* high then another escape */
		"\"\\udc00\\ud800\"", /* reversed */
		"\"\\ud800\\ud800\"", /* two highs */
		"\"\\udfff\"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ_INT(parse_rc(bad[i]), -ERR_JSON_PARSE);
	CHECK_EQ_INT(parse_rc("\"\\ud800"), -ERR_PARTIAL);
	CHECK_EQ_INT(parse_rc("\"\\ud800\\"), -ERR_PARTIAL);
	CHECK_EQ_INT(parse_rc("\"\\ud800\\udc"), -ERR_PARTIAL);
	parse_done();
}

static void parse_utf8_in_strings(void)
{
	CHECK_EQ_INT(parse_rc("\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80"
			      "\xf4\x8f\xbf\xbf\""),
		     1);
	static const char *bad[] = {
		"\"\x80\"",             /* stray continuation */
		"\"\xc0\x80\"",         /* overlong NUL */
		"\"\xc1\xbf\"",         /* overlong */
		"\"\xe0\x80\x80\"",     /* overlong */
		"\"\xf0\x80\x80\x80\"", /* overlong */
		"\"\xed\xa0\x80\"",     /* encoded surrogate */
		"\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
		"\"\xf5\x80\x80\x80\"",
		"\"\xff\"",
		"\"\xfe\"",
		"\"\xc3\"", /* cut short by the quote */
		"\"\xe2\x82\"",
		"\"\xc3\xc3\xa9\"",
		"[\xc3\xa9]" /* outside a string */,
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ_INT(parse_rc(bad[i]), -ERR_JSON_PARSE);
	CHECK_EQ_INT(parse_rc("\"\xf0\x9f\x98"), -ERR_PARTIAL);
}

static void utf8_seq_classes(void)
{
	const uint8_t *u = (const uint8_t *)"A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	CHECK_EQ_INT(json_utf8_seq(u, 1), 1);
	CHECK_EQ_INT(json_utf8_seq(u + 1, 2), 2);
	CHECK_EQ_INT(json_utf8_seq(u + 3, 3), 3);
	CHECK_EQ_INT(json_utf8_seq(u + 6, 4), 4);
	CHECK_EQ_INT(json_utf8_seq(u + 6, 3), 0); /* unfinished */
	CHECK_EQ_INT(json_utf8_seq(u + 6, 1), 0);
	CHECK_EQ_INT(json_utf8_seq((const uint8_t *)"\x80", 1), -1);
	CHECK_EQ_INT(json_utf8_seq((const uint8_t *)"\xc0\x80", 2), -1);
	CHECK_EQ_INT(json_utf8_seq((const uint8_t *)"\xe0\x80\x80", 3), -1);
	CHECK_EQ_INT(json_utf8_seq((const uint8_t *)"\xe2\x82x", 3), -2);
	CHECK_EQ_INT(json_utf8_seq((const uint8_t *)"\xf0\x9f\x98x", 4), -3);
	CHECK_EQ_INT(json_utf8_seq((const uint8_t *)"\xed\xa0\x80", 3), -1);
	CHECK_EQ_INT(json_utf8_seq((const uint8_t *)"\xed\x9f\xbf", 3), 3); /* U+D7FF */
	CHECK_EQ_INT(json_utf8_seq((const uint8_t *)"\xf4\x8f\xbf\xbf", 4), 4);
	CHECK_EQ_INT(json_utf8_seq((const uint8_t *)"\xf4\x90\x80\x80", 4), -1);
}

/* Every proper prefix of a complete document is incomplete, never wrong and never accepted;
 * each one is parsed from an exact-size copy. */
static void parse_every_prefix_is_partial(void)
{
	size_t len = strlen(config_doc);
	json_tok toks[NTOK];
	struct json_doc doc;
	for (size_t n = 0; n < len; n++) {
		int rc = parse_len(&doc, toks, NTOK, config_doc, n);
		if (rc != -ERR_PARTIAL) {
			CHECK_EQ_INT(rc, -ERR_PARTIAL);
			printf("  prefix of %zu bytes\n", n);
			break;
		}
	}
	CHECK(parse_len(&doc, toks, NTOK, config_doc, len) > 0);
	parse_done();
}

/* ---- caps -------------------------------------------------------------------------------- */

static void token_cap_boundary(void)
{
	/* 1 object + 3 keys + 3 values + 2 array elements = 9 tokens */
	const char *s = "{\"a\":1,\"b\":[true,null],\"c\":\"x\"}";
	json_tok toks[16];
	struct json_doc doc;
	CHECK_EQ_INT(json_validate(s, strlen(s), NULL), 9);

	/* Exactly cap tokens: fine, and the slots past cap are left alone. */
	memset(toks, 0xa5, sizeof toks);
	CHECK_EQ_INT(parse(&doc, toks, 9, s), 9);
	for (size_t i = 9 * sizeof(json_tok); i < sizeof toks; i++)
		if (((unsigned char *)toks)[i] != 0xa5) {
			CHECK(!"token past the cap written");
			break;
		}
	CHECK_EQ_INT(json_get_int(&doc, json_obj_get(&doc, 0, "a"), &(int64_t){0}), 0);

	/* One more than cap: refused, with the offset of the first token that did not fit. */
	memset(toks, 0xa5, sizeof toks);
	CHECK_EQ_INT(parse(&doc, toks, 8, s), -ERR_JSON_TOO_MANY_TOKENS);
	CHECK_EQ_INT(doc.ntok, 0);
	CHECK_EQ_INT(doc.err_off, strlen(s) - 4); /* "x" */
	for (size_t i = 8 * sizeof(json_tok); i < sizeof toks; i++)
		if (((unsigned char *)toks)[i] != 0xa5) {
			CHECK(!"token past the cap written");
			break;
		}
	CHECK_EQ_INT(parse(&doc, toks, 0, "1"), -ERR_JSON_TOO_MANY_TOKENS);
	CHECK_EQ_INT(parse(&doc, toks, 1, "1"), 1);
	CHECK_EQ_INT(parse(&doc, toks, 1, "[]"), 1);
	CHECK_EQ_INT(parse(&doc, toks, 1, "[1]"), -ERR_JSON_TOO_MANY_TOKENS);
	/* A syntax error wins over the token count. */
	CHECK_EQ_INT(parse(&doc, toks, 1, "[1,2,x]"), -ERR_JSON_PARSE);
	parse_done();
}

/* depth nested containers: "[[[...]]]" or {"a":{"a":...{}}} */
static void nest(char *out, int depth, bool obj)
{
	char *p = out;
	for (int i = 0; i < depth; i++)
		p += sprintf(p, "%s", obj && i + 1 < depth ? "{\"a\":" : obj ? "{" : "[");
	for (int i = 0; i < depth; i++)
		*p++ = obj ? '}' : ']';
	*p = '\0';
}

static void depth_cap_boundary(void)
{
	static char s[1024];
	json_tok toks[256];
	struct json_doc doc;
	int depth = 0;

	nest(s, JSON_MAX_DEPTH, false);
	CHECK_EQ_INT(parse(&doc, toks, 256, s), JSON_MAX_DEPTH);
	CHECK_EQ_INT(json_validate(s, strlen(s), &depth), JSON_MAX_DEPTH);
	CHECK_EQ_INT(depth, JSON_MAX_DEPTH);
	CHECK_EQ_INT(count_tree(&doc, JSON_ROOT), JSON_MAX_DEPTH);
	nest(s, JSON_MAX_DEPTH + 1, false);
	CHECK_EQ_INT(parse(&doc, toks, 256, s), -ERR_JSON_DEPTH);
	CHECK_EQ_INT(doc.err_off, JSON_MAX_DEPTH);

	nest(s, JSON_MAX_DEPTH, true);
	CHECK_EQ_INT(parse(&doc, toks, 256, s), 2 * JSON_MAX_DEPTH - 1);
	CHECK_EQ_INT(count_tree(&doc, JSON_ROOT), 2 * JSON_MAX_DEPTH - 1);
	nest(s, JSON_MAX_DEPTH + 1, true);
	CHECK_EQ_INT(parse(&doc, toks, 256, s), -ERR_JSON_DEPTH);

	/* Depth error even when the document is cut short later on. */
	nest(s, JSON_MAX_DEPTH + 1, false);
	s[JSON_MAX_DEPTH + 3] = '\0';
	CHECK_EQ_INT(parse(&doc, toks, 256, s), -ERR_JSON_DEPTH);
	parse_done();
}

static void too_large_refused_before_reading(void)
{
	json_tok toks[2];
	struct json_doc doc;
	CHECK_EQ_INT(json_parse(&doc, "1", JSON_MAX_LEN + 1, toks, 2), -ERR_TOO_LARGE);
	CHECK_EQ_INT(json_validate("1", JSON_MAX_LEN + 1, NULL), -ERR_TOO_LARGE);
}

/* ---- duplicate keys ---------------------------------------------------------------------- */

static void dup_keys_rejected(void)
{
	json_tok toks[32];
	struct json_doc doc;
	CHECK_EQ_INT(parse(&doc, toks, 32, "{\"a\":1,\"a\":2}"), -ERR_JSON_DUP_KEY);
	CHECK_EQ_INT(doc.err_off, 7);
	CHECK_EQ_INT(parse(&doc, toks, 32, "{\"a\":1,\"b\":2,\"\\u0061\":3}"), -ERR_JSON_DUP_KEY);
	CHECK_EQ_INT(doc.err_off, 13);
	CHECK_EQ_INT(parse(&doc, toks, 32, "{\"\\/\":1,\"/\":2}"), -ERR_JSON_DUP_KEY);
	CHECK_EQ_INT(parse(&doc, toks, 32, "{\"\xc3\xa9\":1,\"\\u00e9\":2}"), -ERR_JSON_DUP_KEY);
	CHECK_EQ_INT(parse(&doc, toks, 32, "[{\"x\":{\"k\":1,\"j\":[],\"k\":{}}}]"),
		     -ERR_JSON_DUP_KEY);
	CHECK_EQ_INT(parse(&doc, toks, 32, "{\"\":1,\"\":2}"), -ERR_JSON_DUP_KEY);
	/* json_validate has no tokens and does not look. */
	CHECK_EQ_INT(json_validate("{\"a\":1,\"a\":2}", 13, NULL), 5);

	/* Same key in different objects, and near misses, are fine. */
	CHECK_EQ_INT(parse(&doc, toks, 32, "{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}]}"),
		     15);
	CHECK_EQ_INT(parse(&doc, toks, 32, "{\"a\":1,\"A\":2,\"a \":3,\"a\\u0000\":4,\"\":5}"), 11);
	CHECK_EQ_INT(parse(&doc, toks, 32, "{\"ab\":1,\"a\":2,\"abc\":3,\"b\":4}"), 9);
	/* Sorting for the check must not disturb the tokens. */
	CHECK_EQ_INT(json_get_int(&doc, json_obj_get(&doc, 0, "abc"), &(int64_t){0}), 0);
	CHECK_EQ_INT(json_len(&doc, 0), 4);
	CHECK_EQ_INT(count_tree(&doc, 0), 9);
	parse_done();
}

/* Large objects: the check is O(k log k); a duplicate anywhere is found. */
static void dup_keys_large_object(void)
{
	enum { K = 20000 };
	size_t cap = (size_t)K * 16 + 64;
	char *s = malloc(cap);
	json_tok *toks = malloc(sizeof(json_tok) * (2 * K + 4));
	struct json_doc doc;
	REQUIRE(s && toks);
	size_t n = 0;
	s[n++] = '{';
	for (int i = 0; i < K; i++)
		n += (size_t)sprintf(s + n, "%s\"k%d\":%d", i ? "," : "", (i * 7919) % K, i);
	s[n++] = '}';
	CHECK_EQ_INT(json_parse(&doc, s, n, toks, 2 * K + 1), 2 * K + 1);
	int64_t v = -1;
	CHECK_EQ_INT(json_get_int(&doc, json_obj_get(&doc, 0, "k0"), &v), 0);
	CHECK_EQ_INT(v, 0);
	CHECK_EQ_INT(count_tree(&doc, 0), 2 * K + 1);

	/* Duplicate the key written first as the last member. */
	n--;
	n += (size_t)sprintf(s + n, ",\"k0\":1}");
	CHECK_EQ_INT(json_parse(&doc, s, n, toks, 2 * K + 3), -ERR_JSON_DUP_KEY);
	CHECK_EQ_INT(doc.err_off, n - 7);
	free(s);
	free(toks);
}

/* ---- lookups ----------------------------------------------------------------------------- */

static void obj_get_members(void)
{
	json_tok toks[NTOK];
	struct json_doc doc;
	REQUIRE(parse(&doc, toks, NTOK, config_doc) > 0);
	int b = json_obj_get(&doc, JSON_ROOT, "backends");
	CHECK_EQ_INT(json_typeof(&doc, b), JSON_OBJECT);
	CHECK_EQ_INT(json_obj_get(&doc, JSON_ROOT, "nope"), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_obj_get(&doc, JSON_ROOT, "backend"), -ERR_NOTFOUND); /* a prefix */
	CHECK_EQ_INT(json_obj_get(&doc, JSON_ROOT, "backendss"), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_obj_get(&doc, json_obj_get(&doc, 0, "list"), "a"), -ERR_JSON_TYPE);
	CHECK_EQ_INT(json_obj_get(&doc, json_obj_get(&doc, 0, "nope"), "a"), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_obj_get(&doc, json_obj_get(&doc, 0, "e"), "a"), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_obj_get_slice(&doc, 0, (struct slice){"listx", 4}),
		     json_obj_get(&doc, 0, "list"));
	parse_done();
}

static void obj_get_escaped_keys(void)
{
	json_tok toks[32];
	struct json_doc doc;
	REQUIRE(parse(&doc, toks, 32,
		      "{\"a\\\"b\":1,\"\\u00e9t\\u00e9\":2,\"nul\\u0000x\":3,\"tab\\t\":4,"
		      "\"\\ud83d\\ude00\":5}") == 11);
	int64_t v = 0;
	CHECK_EQ_INT(json_get_int(&doc, json_obj_get(&doc, 0, "a\"b"), &v), 0);
	CHECK_EQ_INT(v, 1);
	CHECK_EQ_INT(json_get_int(&doc, json_obj_get(&doc, 0, "\xc3\xa9t\xc3\xa9"), &v), 0);
	CHECK_EQ_INT(v, 2);
	CHECK_EQ_INT(
		json_get_int(&doc, json_obj_get_slice(&doc, 0, (struct slice){"nul\0x", 5}), &v),
		0);
	CHECK_EQ_INT(v, 3);
	CHECK_EQ_INT(json_obj_get(&doc, 0, "nul"), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_get_int(&doc, json_obj_get(&doc, 0, "tab\t"), &v), 0);
	CHECK_EQ_INT(v, 4);
	CHECK_EQ_INT(json_get_int(&doc, json_obj_get(&doc, 0, "\xf0\x9f\x98\x80"), &v), 0);
	CHECK_EQ_INT(v, 5);
	CHECK_EQ_INT(json_obj_get(&doc, 0, "\\ud83d\\ude00"), -ERR_NOTFOUND); /* not raw text */
	parse_done();
}

static void path_lookup(void)
{
	json_tok toks[NTOK];
	struct json_doc doc;
	char out[64];
	int64_t w = 0;
	REQUIRE(parse(&doc, toks, NTOK, config_doc) > 0);
	CHECK_EQ_INT(
		json_get_int(&doc, json_get_path(&doc, 0, "backends.b1.servers.s1.weight"), &w), 0);
	CHECK_EQ_INT(w, 10);
	CHECK_EQ_INT(json_get_str(&doc, json_get_path(&doc, 0, "frontends.f1.routes.1.rule"), out,
				  sizeof out),
		     15);
	CHECK_EQ_STR(out, "PathPrefix:/api");
	int b1 = json_get_path(&doc, 0, "backends.b1");
	CHECK_EQ_INT(json_get_path(&doc, b1, "loadBalancer.method"),
		     json_get_path(&doc, 0, "backends.b1.loadBalancer.method"));
	CHECK_EQ_INT(json_get_path(&doc, b1, ""), b1);
	CHECK_EQ_INT(json_get_path(&doc, 0, "frontends.f1.routes.2"), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_get_path(&doc, 0, "frontends.f1.routes.99999999999999999999999"),
		     -ERR_NOTFOUND);
	CHECK_EQ_INT(json_get_path(&doc, 0, "frontends.f1.routes.x"), -ERR_JSON_TYPE);
	CHECK_EQ_INT(json_get_path(&doc, 0, "frontends.f1.routes.-1"), -ERR_JSON_TYPE);
	CHECK_EQ_INT(json_get_path(&doc, 0, "frontends.f1.priority.x"), -ERR_JSON_TYPE);
	CHECK_EQ_INT(json_get_path(&doc, 0, "frontends.f2.priority"), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_get_path(&doc, 0, "frontends..f1"), -ERR_INVAL);
	CHECK_EQ_INT(json_get_path(&doc, 0, "frontends."), -ERR_INVAL);
	CHECK_EQ_INT(json_get_path(&doc, 0, ".frontends"), -ERR_INVAL);
	/* "s.2" cannot be reached with a dotted path ... */
	CHECK_EQ_INT(json_get_path(&doc, 0, "backends.b1.servers.s.2"), -ERR_NOTFOUND);
	/* ... but can with the keys form. */
	const char *keys[] = {"backends", "b1", "servers", "s.2", "weight"};
	CHECK_EQ_INT(json_get_int(&doc, json_get_keys(&doc, 0, keys, 5), &w), 0);
	CHECK_EQ_INT(w, 1);
	const char *keys2[] = {"list", "5"};
	CHECK_EQ_INT(json_typeof(&doc, json_get_keys(&doc, 0, keys2, 2)), JSON_STRING);
	CHECK_EQ_INT(json_get_keys(&doc, 0, keys, 0), 0);
	CHECK_EQ_INT(json_get_keys(&doc, -ERR_NOTFOUND, keys, 5), -ERR_NOTFOUND);
	parse_done();
}

static void keys_lookup_empty_key(void)
{
	json_tok toks[16];
	struct json_doc doc;
	REQUIRE(parse(&doc, toks, 16, "{\"\":{\"x.y\":[10,20]}}") == 7);
	const char *keys[] = {"", "x.y", "1"};
	int64_t v = 0;
	CHECK_EQ_INT(json_get_int(&doc, json_get_keys(&doc, 0, keys, 3), &v), 0);
	CHECK_EQ_INT(v, 20);
	const char *bad[] = {"", "x.y", ""};
	CHECK_EQ_INT(json_get_keys(&doc, 0, bad, 3), -ERR_JSON_TYPE);
	CHECK_EQ_INT(json_get_path(&doc, 0, ""), 0);
	parse_done();
}

static void iterate_arrays(void)
{
	json_tok toks[64];
	struct json_doc doc;
	struct json_iter it;
	int v, key, i = 0;
	int64_t x;
	REQUIRE(parse(&doc, toks, 64, "[1,[2,[3,[4]]],{\"a\":[5,6]},7,[],{},8]") > 0);
	static const enum json_type want[] = {JSON_NUMBER, JSON_ARRAY,  JSON_OBJECT, JSON_NUMBER,
					      JSON_ARRAY,  JSON_OBJECT, JSON_NUMBER};
	CHECK_EQ_INT(json_iter_begin(&doc, 0, &it), 0);
	while ((v = json_iter_next(&doc, &it, &key)) >= 0) {
		REQUIRE(i < 7);
		CHECK_EQ_INT(json_typeof(&doc, v), want[i]);
		CHECK_EQ_INT(key, -ERR_NOTFOUND);
		CHECK_EQ_INT(json_arr_get(&doc, 0, (size_t)i), v);
		i++;
	}
	CHECK_EQ_INT(i, 7);
	CHECK_EQ_INT(v, -ERR_NOTFOUND);
	CHECK_EQ_INT(json_iter_next(&doc, &it, NULL), -ERR_NOTFOUND); /* stays at the end */
	CHECK_EQ_INT(json_get_int(&doc, json_arr_get(&doc, 0, 6), &x), 0);
	CHECK_EQ_INT(x, 8);
	CHECK_EQ_INT(json_arr_get(&doc, 0, 7), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_arr_get(&doc, json_arr_get(&doc, 0, 2), 0), -ERR_JSON_TYPE);

	/* Empty containers and scalars give an empty iterator. */
	CHECK_EQ_INT(json_iter_begin(&doc, json_arr_get(&doc, 0, 4), &it), 0);
	CHECK_EQ_INT(json_iter_next(&doc, &it, NULL), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_iter_begin(&doc, json_arr_get(&doc, 0, 5), &it), 0);
	CHECK_EQ_INT(json_iter_next(&doc, &it, &key), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_iter_begin(&doc, json_arr_get(&doc, 0, 0), &it), -ERR_JSON_TYPE);
	CHECK_EQ_INT(json_iter_next(&doc, &it, NULL), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_iter_begin(&doc, -ERR_NOTFOUND, &it), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_iter_next(&doc, &it, NULL), -ERR_NOTFOUND);
	parse_done();
}

static void iterate_objects(void)
{
	json_tok toks[NTOK];
	struct json_doc doc;
	struct json_iter it;
	int v, key, i = 0;
	static const char *names[] = {"backends", "frontends", "list", "e", "a"};
	REQUIRE(parse(&doc, toks, NTOK, config_doc) > 0);
	CHECK_EQ_INT(json_iter_begin(&doc, 0, &it), 0);
	while ((v = json_iter_next(&doc, &it, &key)) >= 0) {
		REQUIRE(i < 5);
		CHECK(json_str_eq(&doc, key, names[i]));
		CHECK_EQ_INT(v, key + 1);
		CHECK_EQ_INT(json_obj_get(&doc, 0, names[i]), v);
		i++;
	}
	CHECK_EQ_INT(i, 5);

	/* Servers of b1, in document order, each value an object. */
	int servers = json_get_path(&doc, 0, "backends.b1.servers");
	CHECK_EQ_INT(json_len(&doc, servers), 2);
	char name[8];
	i = 0;
	json_iter_begin(&doc, servers, &it);
	while ((v = json_iter_next(&doc, &it, &key)) >= 0) {
		CHECK_EQ_INT(json_get_str(&doc, key, name, sizeof name), i ? 3 : 2);
		CHECK_EQ_STR(name, i ? "s.2" : "s1");
		CHECK_EQ_INT(json_typeof(&doc, json_obj_get(&doc, v, "url")), JSON_STRING);
		i++;
	}
	CHECK_EQ_INT(i, 2);
	parse_done();
}

static void len_and_types(void)
{
	json_tok toks[NTOK];
	struct json_doc doc;
	REQUIRE(parse(&doc, toks, NTOK, config_doc) > 0);
	int list = json_obj_get(&doc, 0, "list");
	CHECK_EQ_INT(json_len(&doc, list), 7);
	CHECK_EQ_INT(json_len(&doc, json_obj_get(&doc, 0, "e")), 0);
	CHECK_EQ_INT(json_len(&doc, json_obj_get(&doc, 0, "a")), 0);
	CHECK_EQ_INT(json_len(&doc, json_arr_get(&doc, list, 0)), -ERR_JSON_TYPE);
	static const enum json_type want[] = {JSON_NUMBER, JSON_NUMBER, JSON_BOOL,  JSON_BOOL,
					      JSON_NULL,   JSON_STRING, JSON_STRING};
	for (size_t i = 0; i < 7; i++)
		CHECK_EQ_INT(json_typeof(&doc, json_arr_get(&doc, list, i)), want[i]);
	CHECK_EQ_INT(json_typeof(&doc, -ERR_NOTFOUND), JSON_NONE);
	parse_done();
}

static void raw_slices(void)
{
	json_tok toks[16];
	struct json_doc doc;
	REQUIRE(parse(&doc, toks, 16, " {\"k\\n\" : [ 1 , \"a\\\"b\" ], \"n\": -1.5e3 } ") == 7);
	struct slice s = json_raw(&doc, 0);
	CHECK_EQ_MEM(s.p, s.len, "{\"k\\n\" : [ 1 , \"a\\\"b\" ], \"n\": -1.5e3 }");
	s = json_raw(&doc, 1);
	CHECK_EQ_MEM(s.p, s.len, "k\\n");
	s = json_raw(&doc, 2);
	CHECK_EQ_MEM(s.p, s.len, "[ 1 , \"a\\\"b\" ]");
	s = json_raw(&doc, 4);
	CHECK_EQ_MEM(s.p, s.len, "a\\\"b");
	s = json_raw(&doc, json_obj_get(&doc, 0, "n"));
	CHECK_EQ_MEM(s.p, s.len, "-1.5e3");
	s = json_raw(&doc, -ERR_NOTFOUND);
	CHECK(s.p == NULL && s.len == 0);
	parse_done();
}

/* ---- typed getters ----------------------------------------------------------------------- */

static void get_str_caps(void)
{
	json_tok toks[4];
	struct json_doc doc;
	char out[16];
	REQUIRE(parse(&doc, toks, 4, "[\"h\\u00e9llo\\n\"]") == 2);
	/* "h" "é"(2) "llo" "\n" = 7 bytes + NUL */
	CHECK_EQ_INT(json_str_len(&doc, 1), 7);
	CHECK_EQ_INT(json_get_str(&doc, 1, out, 8), 7); /* exact fit */
	CHECK_EQ_STR(out, "h\xc3\xa9llo\n");
	memset(out, 'x', sizeof out);
	CHECK_EQ_INT(json_get_str(&doc, 1, out, 7), -ERR_BUF_FULL); /* one byte short */
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(json_get_str(&doc, 1, out, 2), -ERR_BUF_FULL); /* inside the é */
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(json_get_str(&doc, 1, out, 0), -ERR_BUF_FULL);
	CHECK_EQ_INT(json_get_strn(&doc, 1, out, 7), 7); /* no NUL needed */
	CHECK_EQ_MEM(out, 7, "h\xc3\xa9llo\n");
	CHECK_EQ_INT(json_get_strn(&doc, 1, out, 6), -ERR_BUF_FULL);
	CHECK_EQ_INT(json_get_strn(&doc, 1, NULL, 0), -ERR_BUF_FULL);
	CHECK_EQ_INT(json_get_str(&doc, 0, out, sizeof out), -ERR_JSON_TYPE);
	CHECK_EQ_INT(json_get_strn(&doc, 0, out, sizeof out), -ERR_JSON_TYPE);
	CHECK_EQ_INT(json_str_len(&doc, 0), -ERR_JSON_TYPE);

	REQUIRE(parse(&doc, toks, 4, "\"\"") == 1);
	CHECK_EQ_INT(json_get_str(&doc, 0, out, 1), 0);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(json_get_strn(&doc, 0, NULL, 0), 0);
	parse_done();
}

static void get_str_embedded_nul(void)
{
	json_tok toks[4];
	struct json_doc doc;
	char out[16];
	REQUIRE(parse(&doc, toks, 4, "\"a\\u0000b\"") == 1);
	CHECK_EQ_INT(json_get_strn(&doc, 0, out, sizeof out), 3);
	CHECK_EQ_INT(memcmp(out, "a\0b", 3), 0);
	CHECK_EQ_INT(json_str_len(&doc, 0), 3);
	/* A C string would silently end at the NUL ("a"): refused. */
	CHECK_EQ_INT(json_get_str(&doc, 0, out, sizeof out), -ERR_RANGE);
	CHECK_EQ_STR(out, "");
	CHECK(json_str_eq_slice(&doc, 0, (struct slice){"a\0b", 3}));
	CHECK(!json_str_eq(&doc, 0, "a"));
	parse_done();
}

static void str_eq_compare(void)
{
	json_tok toks[16];
	struct json_doc doc;
	REQUIRE(parse(&doc, toks, 16, "[\"plain\",\"\\u0070lain\",\"pl\\/ain\",\"\",1,\"\\\\\"]") ==
		7);
	CHECK(json_str_eq(&doc, 1, "plain"));
	CHECK(json_str_eq(&doc, 2, "plain"));
	CHECK(!json_str_eq(&doc, 3, "plain"));
	CHECK(json_str_eq(&doc, 3, "pl/ain"));
	CHECK(!json_str_eq(&doc, 1, "plai"));
	CHECK(!json_str_eq(&doc, 1, "plainx"));
	CHECK(!json_str_eq(&doc, 2, "plai"));
	CHECK(!json_str_eq(&doc, 2, "plainx"));
	CHECK(!json_str_eq(&doc, 2, "Plain"));
	CHECK(json_str_eq(&doc, 4, ""));
	CHECK(!json_str_eq(&doc, 4, "x"));
	CHECK(!json_str_eq(&doc, 5, "1")); /* not a string */
	CHECK(!json_str_eq(&doc, 0, "[\"plain\""));
	CHECK(json_str_eq(&doc, 6, "\\"));
	CHECK(!json_str_eq(&doc, -ERR_NOTFOUND, ""));
	parse_done();
}

static void get_int_edges(void)
{
	static const struct {
		const char *text;
		int rc;
		int64_t v;
	} cases[] = {
		{"0", 0, 0},
		{"-0", 0, 0},
		{"42", 0, 42},
		{"-42", 0, -42},
		{"9223372036854775807", 0, INT64_MAX},
		{"-9223372036854775808", 0, INT64_MIN},
		{"9223372036854775808", -ERR_RANGE, 0},
		{"-9223372036854775809", -ERR_RANGE, 0},
		{"18446744073709551616", -ERR_RANGE, 0},
		{"123456789012345678901234567890", -ERR_RANGE, 0},
		{"1.0", -ERR_JSON_TYPE, 0},
		{"1e3", -ERR_JSON_TYPE, 0},
		{"1E3", -ERR_JSON_TYPE, 0},
		{"-0.5", -ERR_JSON_TYPE, 0},
		{"99999999999999999999.5", -ERR_JSON_TYPE, 0}, /* a fraction before a range */
		{"\"5\"", -ERR_JSON_TYPE, 0},
		{"true", -ERR_JSON_TYPE, 0},
		{"null", -ERR_JSON_TYPE, 0},
		{"[]", -ERR_JSON_TYPE, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_tok toks[2];
		struct json_doc doc;
		int64_t v = 12345;
		REQUIRE(parse(&doc, toks, 2, cases[i].text) == 1);
		int rc = json_get_int(&doc, 0, &v);
		CHECK_EQ_INT(rc, cases[i].rc);
		if (rc == 0)
			CHECK(v == cases[i].v);
		else
			CHECK_EQ_INT(v, 12345); /* untouched on error */
	}
	parse_done();
}

static void get_uint_edges(void)
{
	static const struct {
		const char *text;
		int rc;
		uint64_t v;
	} cases[] = {
		{"0", 0, 0},
		{"-0", 0, 0},
		{"18446744073709551615", 0, UINT64_MAX},
		{"18446744073709551616", -ERR_RANGE, 0},
		{"-1", -ERR_RANGE, 0},
		{"-18446744073709551616", -ERR_RANGE, 0},
		{"1.5", -ERR_JSON_TYPE, 0},
		{"1e2", -ERR_JSON_TYPE, 0},
		{"\"1\"", -ERR_JSON_TYPE, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_tok toks[2];
		struct json_doc doc;
		uint64_t v = 7;
		REQUIRE(parse(&doc, toks, 2, cases[i].text) == 1);
		int rc = json_get_uint(&doc, 0, &v);
		CHECK_EQ_INT(rc, cases[i].rc);
		if (rc == 0)
			CHECK(v == cases[i].v);
	}
	parse_done();
}

static void get_double_values(void)
{
	json_tok toks[2];
	struct json_doc doc;
	double d = 0;
	REQUIRE(parse(&doc, toks, 2, "1.5") == 1);
	CHECK(json_get_double(&doc, 0, &d) == 0 && d == 1.5);
	REQUIRE(parse(&doc, toks, 2, "-0.0") == 1);
	CHECK(json_get_double(&doc, 0, &d) == 0 && d == 0 && signbit(d));
	REQUIRE(parse(&doc, toks, 2, "3") == 1);
	CHECK(json_get_double(&doc, 0, &d) == 0 && d == 3.0);
	REQUIRE(parse(&doc, toks, 2, "1.7976931348623157e308") == 1);
	CHECK(json_get_double(&doc, 0, &d) == 0 && d == 1.7976931348623157e308);
	REQUIRE(parse(&doc, toks, 2, "1e309") == 1);
	CHECK_EQ_INT(json_get_double(&doc, 0, &d), -ERR_RANGE);
	REQUIRE(parse(&doc, toks, 2, "-1e400") == 1);
	CHECK_EQ_INT(json_get_double(&doc, 0, &d), -ERR_RANGE);
	REQUIRE(parse(&doc, toks, 2, "1e-400") == 1); /* underflow: rounds to zero */
	CHECK(json_get_double(&doc, 0, &d) == 0 && d == 0);
	REQUIRE(parse(&doc, toks, 2, "\"1.5\"") == 1);
	CHECK_EQ_INT(json_get_double(&doc, 0, &d), -ERR_JSON_TYPE);

	/* The length cap, both sides. */
	char num[JSON_NUM_MAX_LEN + 2];
	memset(num, '1', sizeof num);
	num[1] = '.';
	num[JSON_NUM_MAX_LEN] = '\0';
	REQUIRE(parse(&doc, toks, 2, num) == 1);
	CHECK(json_get_double(&doc, 0, &d) == 0 && d > 1.1 && d < 1.2);
	num[JSON_NUM_MAX_LEN] = '1';
	num[JSON_NUM_MAX_LEN + 1] = '\0';
	REQUIRE(parse(&doc, toks, 2, num) == 1);
	CHECK_EQ_INT(json_get_double(&doc, 0, &d), -ERR_RANGE);
	parse_done();
}

static void get_bool_and_null(void)
{
	json_tok toks[8];
	struct json_doc doc;
	bool b = false;
	REQUIRE(parse(&doc, toks, 8, "[true,false,null,0,\"true\"]") == 6);
	CHECK(json_get_bool(&doc, 1, &b) == 0 && b);
	CHECK(json_get_bool(&doc, 2, &b) == 0 && !b);
	CHECK_EQ_INT(json_get_bool(&doc, 3, &b), -ERR_JSON_TYPE);
	CHECK_EQ_INT(json_get_bool(&doc, 4, &b), -ERR_JSON_TYPE);
	CHECK_EQ_INT(json_get_bool(&doc, 5, &b), -ERR_JSON_TYPE);
	CHECK(json_is_null(&doc, 3));
	CHECK(!json_is_null(&doc, 1));
	CHECK(!json_is_null(&doc, 0));
	CHECK(!json_is_null(&doc, -ERR_NOTFOUND));
	parse_done();
}

/* Every getter passes a negative token through, so lookups chain without checks between. */
static void negative_index_passes_through(void)
{
	json_tok toks[4];
	struct json_doc doc;
	struct json_iter it;
	char out[4];
	int64_t i64;
	uint64_t u64;
	double d;
	bool b;
	REQUIRE(parse(&doc, toks, 4, "{}") == 1);
	int t = json_obj_get(&doc, 0, "missing");
	CHECK_EQ_INT(t, -ERR_NOTFOUND);
	CHECK_EQ_INT(json_get_int(&doc, t, &i64), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_get_uint(&doc, t, &u64), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_get_double(&doc, t, &d), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_get_bool(&doc, t, &b), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_get_str(&doc, t, out, sizeof out), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_get_strn(&doc, t, out, sizeof out), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_str_len(&doc, t), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_len(&doc, t), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_obj_get(&doc, t, "x"), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_arr_get(&doc, t, 0), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_get_path(&doc, t, "a.b"), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_iter_begin(&doc, t, &it), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_get_int(&doc, json_get_path(&doc, 0, "a.b"), &i64), -ERR_NOTFOUND);
	CHECK_EQ_INT(json_get_int(&doc, json_get_path(&doc, 0, "a..b"), &i64), -ERR_INVAL);
	parse_done();
}

/* ---- misc -------------------------------------------------------------------------------- */

static void err_offsets(void)
{
	json_tok toks[16];
	struct json_doc doc;
	CHECK_EQ_INT(parse(&doc, toks, 16, "{\"a\": [1, 2 x]}"), -ERR_JSON_PARSE);
	CHECK_EQ_INT(doc.err_off, 12);
	CHECK_EQ_INT(doc.ntok, 0);
	CHECK_EQ_INT(parse(&doc, toks, 16, "[\"ab\\qc\"]"), -ERR_JSON_PARSE);
	CHECK_EQ_INT(doc.err_off, 5);
	CHECK_EQ_INT(parse(&doc, toks, 16, "[\"ab"), -ERR_PARTIAL);
	CHECK_EQ_INT(doc.err_off, 4);
	CHECK_EQ_INT(parse(&doc, toks, 16, ""), -ERR_PARTIAL);
	CHECK_EQ_INT(parse(&doc, toks, 16, "   "), -ERR_PARTIAL);
	CHECK_EQ_INT(json_parse(&doc, NULL, 0, toks, 16), -ERR_PARTIAL);
	parse_done();
}

static void token_array_reuse(void)
{
	json_tok toks[16];
	struct json_doc doc;
	int64_t v = 0;
	REQUIRE(parse(&doc, toks, 16, "{\"x\":[1,2,3],\"y\":{\"z\":4}}") == 10);
	REQUIRE(parse(&doc, toks, 16, "[{\"y\":5}]") == 4);
	CHECK_EQ_INT(json_get_int(&doc, json_get_path(&doc, 0, "0.y"), &v), 0);
	CHECK_EQ_INT(v, 5);
	CHECK_EQ_INT(count_tree(&doc, 0), 4);
	/* A failed parse leaves no usable doc, and the next one is unaffected. */
	CHECK_EQ_INT(parse(&doc, toks, 16, "[{\"y\":5}"), -ERR_PARTIAL);
	REQUIRE(parse(&doc, toks, 16, "{\"k\":[[],[[]]]}") == 6);
	CHECK_EQ_INT(count_tree(&doc, 0), 6);
	CHECK_EQ_INT(json_len(&doc, json_obj_get(&doc, 0, "k")), 2);
	parse_done();
}

/* Exercise every getter on every token: none may fail other than by its documented codes. */
static int walk_all(const struct json_doc *doc)
{
	char out[64];
	int bad = 0;
	for (int t = 0; t < doc->ntok; t++) {
		enum json_type ty = json_typeof(doc, t);
		int64_t i64;
		uint64_t u64;
		double d;
		bool b;
		int rc = json_get_str(doc, t, out, sizeof out);
		bad += ty == JSON_STRING ? (rc < 0 && rc != -ERR_BUF_FULL && rc != -ERR_RANGE)
					 : rc != -ERR_JSON_TYPE;
		rc = json_get_int(doc, t, &i64);
		bad += rc < 0 && rc != -ERR_JSON_TYPE && rc != -ERR_RANGE;
		rc = json_get_uint(doc, t, &u64);
		bad += rc < 0 && rc != -ERR_JSON_TYPE && rc != -ERR_RANGE;
		rc = json_get_double(doc, t, &d);
		bad += rc < 0 && rc != -ERR_JSON_TYPE && rc != -ERR_RANGE;
		rc = json_get_bool(doc, t, &b);
		bad += (ty == JSON_BOOL) != (rc == 0);
		bad += (ty == JSON_NULL) != json_is_null(doc, t);
		rc = json_len(doc, t);
		bad += (ty == JSON_OBJECT || ty == JSON_ARRAY) != (rc >= 0);
	}
	bad += count_tree(doc, 0) != doc->ntok;
	return bad;
}

/* Deterministic mutations of a valid document: each either fails with a documented code or
 * parses into a document whose every token reads back without trouble. */
static void mutations_stay_safe(void)
{
	uint64_t seed = 0x9e3779b97f4a7c15u;
	size_t base = strlen(config_doc);
	char *s = malloc(base + 8);
	json_tok toks[NTOK];
	struct json_doc doc;
	int ok = 0;
	REQUIRE(s);
	for (int iter = 0; iter < 20000; iter++) {
		memcpy(s, config_doc, base);
		size_t n = base;
		for (int m = 0; m < 1 + iter % 3; m++) {
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			size_t at = (size_t)(seed % n);
			static const char alphabet[] = "{}[],:\"\\u0e1-.tfn \x80\xc3\xa9\xff";
			char c = alphabet[(seed >> 32) % (sizeof alphabet - 1)];
			switch ((seed >> 48) % 3) {
			case 0: s[at] = c; break;
			case 1:
				memmove(s + at, s + at + 1, n - at - 1);
				n--;
				break;
			default:
				memmove(s + at + 1, s + at, n - at);
				s[at] = c;
				n++;
				break;
			}
		}
		int rc = parse_len(&doc, toks, NTOK, s, n);
		if (rc > 0) {
			ok++;
			CHECK_EQ_INT(walk_all(&doc), 0);
		} else {
			CHECK(rc == -ERR_JSON_PARSE || rc == -ERR_PARTIAL ||
			      rc == -ERR_JSON_DUP_KEY || rc == -ERR_JSON_DEPTH ||
			      rc == -ERR_JSON_TOO_MANY_TOKENS);
		}
	}
	CHECK(ok > 100);
	free(s);
	parse_done();
}

static void validate_matches_parse(void)
{
	static const char *docs[] = {"1", "[]", "{\"a\":[1,{\"b\":null}]}", "[[[[]]]]", "\"x\""};
	static const int depths[] = {0, 1, 3, 4, 0};
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		int depth = -1;
		CHECK_EQ_INT(json_validate(docs[i], strlen(docs[i]), &depth), parse_rc(docs[i]));
		CHECK_EQ_INT(depth, depths[i]);
	}
	CHECK_EQ_INT(json_validate("[1,]", 4, NULL), -ERR_JSON_PARSE);
	CHECK_EQ_INT(json_validate("[1,", 3, NULL), -ERR_PARTIAL);
}

TEST_MAIN(parse_scalars_at_root, parse_config_doc, parse_rejects_bare_words, parse_numbers,
	  parse_rejects_structure, parse_rejects_trailing_bytes, parse_whitespace_rules,
	  parse_rejects_control_chars_in_strings, parse_escapes, parse_surrogates,
	  parse_utf8_in_strings, utf8_seq_classes, parse_every_prefix_is_partial,
	  token_cap_boundary, depth_cap_boundary, too_large_refused_before_reading,
	  dup_keys_rejected, dup_keys_large_object, obj_get_members, obj_get_escaped_keys,
	  path_lookup, keys_lookup_empty_key, iterate_arrays, iterate_objects, len_and_types,
	  raw_slices, get_str_caps, get_str_embedded_nul, str_eq_compare, get_int_edges,
	  get_uint_edges, get_double_values, get_bool_and_null, negative_index_passes_through,
	  err_offsets, token_array_reuse, mutations_stay_safe, validate_matches_parse)
