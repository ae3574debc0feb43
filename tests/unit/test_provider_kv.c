/* Unit tests for provider_kv (Traefik v1 KV layout -> routing document) and the shared parts of
 * provider.c: flags, durations, back-off, the throttle / de-duplication stage. The golden case
 * translates tests/fixtures/kv/traefik-kv.txt and compares it, as JSON values, with
 * tests/golden/kv/routing.json (on a mismatch the actual document is written to
 * build/provider_kv_actual.json).
 */
#include "base/base_err.h"
#include "base/base_rand.h"
#include "json/json.h"
#include "loop/loop.h"
#include "provider/provider.h"
#include "provider/provider_kv.h"
#include "proxy/proxy_config.h"
#include "test.h"

#include <stdbool.h>

/* Helpers --------------------------------------------------------------------------------- */

struct reports {
	int n;
	char keys[64][128];
	char msgs[64][256];
	enum log_level lvl[64];
};

static void collect(void *ctx, enum log_level level, const char *key, const char *msg)
{
	struct reports *r = ctx;
	if (r->n < 64) {
		snprintf(r->keys[r->n], sizeof r->keys[0], "%s", key);
		snprintf(r->msgs[r->n], sizeof r->msgs[0], "%s", msg);
		r->lvl[r->n] = level;
	}
	r->n++;
}

static bool reported(const struct reports *r, const char *key, const char *needle)
{
	for (int i = 0; i < r->n && i < 64; i++)
		if (strcmp(r->keys[i], key) == 0 && (!needle || strstr(r->msgs[i], needle)))
			return true;
	return false;
}

/* "k=v" strings -> sorted pairs; returns the count. */
static size_t pairs(struct provider_kv *kv, const char *const *lines, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(lines[i], '=');
		kv[i].key = (struct slice){lines[i], (size_t)(eq - lines[i])};
		kv[i].val = slice_from_cstr(eq + 1);
	}
	provider_kv_sort(kv, n);
	return n;
}

static char outmem[1 << 20];

/* Translate; the document is NUL-terminated in outmem. */
static int translate(const char *const *lines, size_t n, struct reports *r)
{
	static struct provider_kv kv[256];
	struct provider_diag d;
	struct buf out;
	memset(r, 0, sizeof *r);
	provider_diag_init(&d, "test", collect, r);
	buf_init(&out, outmem, sizeof outmem - 1);
	int rc = provider_kv_translate(kv, pairs(kv, lines, n), &out, &d);
	outmem[out.len] = 0;
	return rc;
}

#define TR(r, ...)                                    \
	translate((const char *const[]){__VA_ARGS__}, \
		  sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *), r)

static const char *doc_of(const char *frontends, const char *backends, const char *tls)
{
	static char b[8192];
	snprintf(b, sizeof b, "{\"frontends\":{%s},\"backends\":{%s},\"tls\":[%s]}", frontends,
		 backends, tls);
	return b;
}

#define BE_S1                                                                        \
	"\"b\":{\"servers\":{\"s1\":{\"url\":\"http://10.0.0.1:80\",\"weight\":1}}," \
	"\"loadBalancer\":{\"method\":\"wrr\"}}"

/* Semantic JSON equality (objects as unordered maps). */
static bool json_same(const struct json_doc *a, int ta, const struct json_doc *b, int tb,
		      char *path, size_t plen)
{
	enum json_type t = json_typeof(a, ta);
	if (t != json_typeof(b, tb)) {
		fprintf(stderr, "  type differs at %s\n", path);
		return false;
	}
	struct json_iter it;
	int k, v;
	switch (t) {
	case JSON_OBJECT:
		if (json_len(a, ta) != json_len(b, tb)) {
			fprintf(stderr, "  member count differs at %s (%d vs %d)\n", path,
				json_len(a, ta), json_len(b, tb));
			return false;
		}
		json_iter_begin(a, ta, &it);
		while ((v = json_iter_next(a, &it, &k)) >= 0) {
			struct slice key = json_raw(a, k);
			int w = json_obj_get_slice(b, tb, key);
			size_t l = strlen(path);
			snprintf(path + l, plen - l, ".%.*s", (int)key.len, key.p);
			if (w < 0) {
				fprintf(stderr, "  missing %s\n", path);
				return false;
			}
			if (!json_same(a, v, b, w, path, plen))
				return false;
			path[l] = 0;
		}
		return true;
	case JSON_ARRAY:
		if (json_len(a, ta) != json_len(b, tb)) {
			fprintf(stderr, "  length differs at %s\n", path);
			return false;
		}
		for (int i = 0; i < json_len(a, ta); i++)
			if (!json_same(a, json_arr_get(a, ta, (size_t)i), b,
				       json_arr_get(b, tb, (size_t)i), path, plen))
				return false;
		return true;
	default:
		if (!slice_eq(json_raw(a, ta), json_raw(b, tb))) {
			fprintf(stderr, "  value differs at %s: %.*s vs %.*s\n", path,
				(int)json_raw(a, ta).len, json_raw(a, ta).p,
				(int)json_raw(b, tb).len, json_raw(b, tb).p);
			return false;
		}
		return true;
	}
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = malloc((size_t)n + 1);
	if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	if (p) {
		p[n] = 0;
		*len = (size_t)n;
	}
	return p;
}

/* The fixture: KEY=VALUE lines, '\n' escapes; keys and values point into text (modified). */
static size_t load_fixture(char *text, struct provider_kv *kv, size_t max)
{
	size_t n = 0;
	char *line = text;
	while (line && *line) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		char *eq = strchr(line, '=');
		if (line[0] != '#' && eq && n < max) {
			char *v = eq + 1, *o = v;
			for (char *p = v; *p; p++) {
				if (p[0] == '\\' && p[1] == 'n') {
					*o++ = '\n';
					p++;
				} else {
					*o++ = *p;
				}
			}
			kv[n].key = (struct slice){line, (size_t)(eq - line)};
			kv[n].val = (struct slice){v, (size_t)(o - v)};
			n++;
		}
		line = nl ? nl + 1 : NULL;
	}
	return n;
}

/* Cases: pure helpers ------------------------------------------------------------------ */

static void base64_vectors(void)
{
	static const char *const v[][2] = {{"", ""},
					   {"f", "Zg=="},
					   {"fo", "Zm8="},
					   {"foo", "Zm9v"},
					   {"foob", "Zm9vYg=="},
					   {"fooba", "Zm9vYmE="},
					   {"foobar", "Zm9vYmFy"}};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char e[64], d[64];
		int n = base64_encode(slice_from_cstr(v[i][0]), e, sizeof e);
		CHECK_EQ_MEM(e, (size_t)n, v[i][1]);
		n = base64_decode(slice_from_cstr(v[i][1]), d, sizeof d);
		CHECK_EQ_MEM(d, (size_t)n, v[i][0]);
	}
	char b[16];
	CHECK_EQ_INT(base64_decode(SLICE_LIT("Zm9"), b, sizeof b), -ERR_PARSE);
	CHECK_EQ_INT(base64_decode(SLICE_LIT("Zm=v"), b, sizeof b), -ERR_PARSE);
	CHECK_EQ_INT(base64_decode(SLICE_LIT("Zm9v!A=="), b, sizeof b), -ERR_PARSE);
	CHECK_EQ_INT(base64_decode(SLICE_LIT("Zm=="), b, 0), -ERR_BUF_FULL);
	CHECK_EQ_INT(base64_encode(SLICE_LIT("foo"), b, 3), -ERR_BUF_FULL);
	/* in place */
	char ip[] = "L3RyYWVmaWsvZnJvbnRlbmRzL2EvYmFja2VuZA==";
	int n = base64_decode(slice_from_cstr(ip), ip, sizeof ip);
	CHECK_EQ_MEM(ip, (size_t)n, "/traefik/frontends/a/backend");
	/* every byte value round-trips */
	char all[256], enc[400], dec[256];
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	int el = base64_encode((struct slice){all, 256}, enc, sizeof enc);
	CHECK_EQ_INT(el, 344);
	CHECK_EQ_INT(base64_decode((struct slice){enc, (size_t)el}, dec, sizeof dec), 256);
	CHECK(memcmp(all, dec, 256) == 0);
}

static void sort_slash_first(void)
{
	struct provider_kv kv[4];
	static const char *const l[] = {"frontends/a-b/backend=x", "frontends/a/backend=y",
					"frontends/a=", "frontends/a/routes/r/rule=z"};
	pairs(kv, l, 4);
	CHECK_EQ_MEM(kv[0].key.p, kv[0].key.len, "frontends/a");
	CHECK_EQ_MEM(kv[1].key.p, kv[1].key.len, "frontends/a/backend");
	CHECK_EQ_MEM(kv[2].key.p, kv[2].key.len, "frontends/a/routes/r/rule");
	CHECK_EQ_MEM(kv[3].key.p, kv[3].key.len, "frontends/a-b/backend");
	CHECK(provider_kv_keycmp(SLICE_LIT("a/b"), SLICE_LIT("a-b")) < 0);
	CHECK(provider_kv_keycmp(SLICE_LIT("a"), SLICE_LIT("a/")) < 0);
	CHECK_EQ_INT(provider_kv_keycmp(SLICE_LIT("x"), SLICE_LIT("x")), 0);
}

static void strip_root_forms(void)
{
	struct provider_kv kv[6] = {
		{SLICE_LIT("/traefik/frontends/a/backend"), SLICE_LIT("b")},
		{SLICE_LIT("traefik/backends/b/servers/s/url"), SLICE_LIT("http://x")},
		{SLICE_LIT("traefikx/frontends/z/backend"), SLICE_LIT("b")},
		{SLICE_LIT("traefik"), SLICE_LIT("")},
		{SLICE_LIT("traefik/"), SLICE_LIT("")},
		{SLICE_LIT("other/key"), SLICE_LIT("v")},
	};
	size_t n = provider_kv_strip_root(kv, 6, SLICE_LIT("/traefik/"));
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_MEM(kv[0].key.p, kv[0].key.len, "frontends/a/backend");
	CHECK_EQ_MEM(kv[1].key.p, kv[1].key.len, "backends/b/servers/s/url");
	struct provider_kv k2[1] = {{SLICE_LIT("/a/b"), SLICE_LIT("v")}};
	CHECK_EQ_INT(provider_kv_strip_root(k2, 1, SLICE_LIT("")), 1);
	CHECK_EQ_MEM(k2[0].key.p, k2[0].key.len, "a/b");
}

static void canon_header(void)
{
	static const char *const v[][2] = {{"x-foo", "X-Foo"},
					   {"X-FOO-BAR", "X-Foo-Bar"},
					   {"content-security-policy", "Content-Security-Policy"},
					   {"server", "Server"},
					   {"x foo", "x foo"},
					   {"-a-", "-A-"}};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char out[64];
		struct slice s = slice_from_cstr(v[i][0]);
		provider_kv_canon_header(s, out);
		CHECK_EQ_MEM(out, s.len, v[i][1]);
	}
}

static void parse_bool_go(void)
{
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (int i = 0; i < 6; i++) {
		bool b = false;
		CHECK_EQ_INT(provider_kv_parse_bool(slice_from_cstr(t[i]), &b), 0);
		CHECK(b);
		CHECK_EQ_INT(provider_kv_parse_bool(slice_from_cstr(f[i]), &b), 0);
		CHECK(!b);
	}
	bool b;
	CHECK_EQ_INT(provider_kv_parse_bool(SLICE_LIT("yes"), &b), -ERR_PARSE);
	CHECK_EQ_INT(provider_kv_parse_bool(SLICE_LIT("tRUE"), &b), -ERR_PARSE);
	CHECK_EQ_INT(provider_kv_parse_bool(SLICE_LIT(""), &b), -ERR_PARSE);
}

static void durations(void)
{
	uint64_t ms = 7;
	CHECK_EQ_INT(provider_parse_duration_ms(SLICE_LIT("2s"), &ms), 0);
	CHECK_EQ_INT(ms, 2000);
	CHECK_EQ_INT(provider_parse_duration_ms(SLICE_LIT("0"), &ms), 0);
	CHECK_EQ_INT(ms, 0);
	CHECK_EQ_INT(provider_parse_duration_ms(SLICE_LIT("1m30s"), &ms), 0);
	CHECK_EQ_INT(ms, 90000);
	CHECK_EQ_INT(provider_parse_duration_ms(SLICE_LIT("1.5h"), &ms), 0);
	CHECK_EQ_INT(ms, 5400000);
	CHECK_EQ_INT(provider_parse_duration_ms(SLICE_LIT("250ms"), &ms), 0);
	CHECK_EQ_INT(ms, 250);
	CHECK_EQ_INT(provider_parse_duration_ms(SLICE_LIT("1500us"), &ms), 0);
	CHECK_EQ_INT(ms, 1);
	CHECK_EQ_INT(provider_parse_duration_ms(SLICE_LIT(".5s"), &ms), 0);
	CHECK_EQ_INT(ms, 500);
	CHECK_EQ_INT(provider_parse_duration_ms(SLICE_LIT("2"), &ms), -ERR_PARSE);
	CHECK_EQ_INT(provider_parse_duration_ms(SLICE_LIT("s"), &ms), -ERR_PARSE);
	CHECK_EQ_INT(provider_parse_duration_ms(SLICE_LIT("-1s"), &ms), -ERR_PARSE);
	CHECK_EQ_INT(provider_parse_duration_ms(SLICE_LIT("1d"), &ms), -ERR_PARSE);
	CHECK_EQ_INT(provider_parse_duration_ms(SLICE_LIT(""), &ms), -ERR_PARSE);
	CHECK(provider_duration_ok(SLICE_LIT("-1.5s")));
	CHECK(provider_duration_ok(SLICE_LIT("3\xc2\xb5s")));
	CHECK(!provider_duration_ok(SLICE_LIT("1.s.")));
}

/* Cases: translation ------------------------------------------------------------------- */

static void empty_input(void)
{
	struct reports r;
	CHECK_EQ_INT(translate(NULL, 0, &r), 0);
	CHECK_EQ_STR(outmem, "{\"frontends\":{},\"backends\":{},\"tls\":[]}");
	CHECK_EQ_INT(r.n, 0);
}

static void minimal(void)
{
	struct reports r;
	CHECK_EQ_INT(TR(&r, "frontends/f/backend=b", "frontends/f/routes/r/rule=Host:a.test",
			"backends/b/servers/s1/url=http://10.0.0.1:80"),
		     0);
	CHECK_EQ_STR(
		outmem,
		doc_of("\"f\":{\"backend\":\"b\",\"routes\":{\"r\":{\"rule\":\"Host:a.test\"}},"
		       "\"priority\":0,\"passHostHeader\":true}",
		       BE_S1, ""));
	CHECK_EQ_INT(r.n, 0);
	struct json_doc d;
	json_tok t[128];
	CHECK(json_parse(&d, outmem, strlen(outmem), t, 128) > 0);
}

static void lists_both_encodings(void)
{
	struct reports r;
	REQUIRE(TR(&r, "frontends/f/backend=b", "frontends/f/routes/r/rule=Path:/",
		   "frontends/f/entrypoints/10=ten", "frontends/f/entrypoints/2=two",
		   "frontends/f/entrypoints/0=zero", "frontends/f/entrypoints/x=bad",
		   "frontends/g/backend=b", "frontends/g/routes/r/rule=Path:/",
		   "frontends/g/entrypoints= http , https,,", "frontends/g/entrypoints/0=ignored",
		   "backends/b/servers/s1/url=http://10.0.0.1:80") == 0);
	CHECK(strstr(outmem, "\"f\":{\"entryPoints\":[\"zero\",\"two\",\"ten\"]"));
	CHECK(strstr(outmem, "\"g\":{\"entryPoints\":[\"http\",\"https\"]"));
	CHECK(reported(&r, "frontends/f/entrypoints/x", "not a number"));
}

static void header_maps(void)
{
	struct reports r;
	REQUIRE(TR(&r, "frontends/f/backend=b", "frontends/f/routes/r/rule=Path:/",
		   "frontends/f/headers/customrequestheaders/x-env=prod",
		   "frontends/f/headers/customrequestheaders/X-ENV=dup",
		   "frontends/f/headers/customresponseheaders/server=",
		   "frontends/f/headers/sslredirect=true",
		   "backends/b/servers/s1/url=http://10.0.0.1:80", "backends/b/healthcheck/path=/h",
		   "backends/b/healthcheck/headers/x-hc=1") == 0);
	CHECK(strstr(outmem, "\"headers\":{\"customRequestHeaders\":{\"X-Env\":"));
	CHECK(strstr(outmem, "\"customResponseHeaders\":{\"Server\":\"\"},\"sslRedirect\":true}"));
	CHECK(strstr(outmem, "\"headers\":{\"X-Hc\":\"1\"}"));
	/* exactly one X-Env: the first in key order wins, the other is reported */
	CHECK(strstr(outmem, "\"X-Env\":\"dup\"") || strstr(outmem, "\"X-Env\":\"prod\""));
	CHECK(!(strstr(outmem, "\"X-Env\":\"dup\"") && strstr(outmem, "\"X-Env\":\"prod\"")));
	CHECK_EQ_INT(r.n, 1);
	CHECK(strstr(r.msgs[0], "twice"));
}

static void unknown_backend_skipped(void)
{
	struct reports r;
	REQUIRE(TR(&r, "frontends/f/backend=nope", "frontends/f/routes/r/rule=Path:/",
		   "frontends/g/routes/r/rule=Path:/", "frontends/h/backend=b",
		   "frontends/h/routes/r/rule=Path:/",
		   "backends/b/servers/s1/url=http://10.0.0.1:80") == 0);
	CHECK(!strstr(outmem, "\"f\":"));
	CHECK(!strstr(outmem, "\"g\":"));
	CHECK(strstr(outmem, "\"h\":"));
	CHECK(reported(&r, "frontends/f/backend", "unknown backend \"nope\""));
	CHECK(reported(&r, "frontends/g/backend", "no backend"));
	CHECK_EQ_INT(r.lvl[0], LOG_ERROR);
}

static void servers_validated(void)
{
	struct reports r;
	REQUIRE(TR(&r, "backends/b/servers/a/weight=2", "backends/b/servers/c/url=ftp://x",
		   "backends/b/servers/d/url=http://", "backends/b/servers/e/url=https://h:443/p",
		   "backends/b/servers/e/weight=-3x") == 0);
	CHECK(strstr(outmem, "\"servers\":{\"e\":{\"url\":\"https://h:443/p\",\"weight\":1}}"));
	CHECK(reported(&r, "backends/b/servers/a/url", "no url"));
	CHECK(reported(&r, "backends/b/servers/c/url", "not an http"));
	CHECK(reported(&r, "backends/b/servers/d/url", NULL));
	CHECK(reported(&r, "backends/b/servers/e/weight", "not an integer"));
}

static void bad_values_default(void)
{
	struct reports r;
	REQUIRE(TR(&r, "frontends/f/backend=b", "frontends/f/routes/r/rule=Path:/",
		   "frontends/f/passhostheader=yes", "frontends/f/priority=high",
		   "frontends/f/passtlscert=1", "backends/b/servers/s1/url=http://10.0.0.1:80",
		   "backends/b/healthcheck/path=/h", "backends/b/healthcheck/interval=often",
		   "backends/b/loadbalancer/method=DRR") == 0);
	CHECK(strstr(outmem, "\"priority\":0,\"passHostHeader\":true,\"passTLSCert\":true"));
	CHECK(strstr(outmem, "\"interval\":\"30s\",\"timeout\":\"5s\""));
	CHECK(strstr(outmem, "\"method\":\"drr\""));
	CHECK(reported(&r, "frontends/f/passhostheader", "not a boolean"));
	CHECK(reported(&r, "frontends/f/priority", "not an integer"));
	CHECK(reported(&r, "backends/b/healthcheck/interval", "not a duration"));
	CHECK_EQ_INT(r.lvl[0], LOG_WARN);
}

static void legacy_passhostheader(void)
{
	struct reports r;
	REQUIRE(TR(&r, "frontends/f/backend=b", "frontends/f/routes/r/rule=Path:/",
		   "frontends/f/passHostHeader=false",
		   "backends/b/servers/s1/url=http://10.0.0.1:80") == 0);
	CHECK(strstr(outmem, "\"passHostHeader\":false"));
	CHECK_EQ_INT(r.n, 0);
}

static void stickiness_forms(void)
{
	struct reports r;
	REQUIRE(TR(&r, "backends/a/servers/s/url=http://1.2.3.4",
		   "backends/a/loadbalancer/stickiness=true",
		   "backends/a/loadbalancer/stickiness/cookiename=c",
		   "backends/a/loadbalancer/stickiness/samesite=lax",
		   "backends/b/servers/s/url=http://1.2.3.4", "backends/b/loadbalancer/sticky=true",
		   "backends/c/servers/s/url=http://1.2.3.4",
		   "backends/c/loadbalancer/stickiness=false",
		   "backends/c/loadbalancer/stickiness/cookiename=ignored") == 0);
	CHECK(strstr(outmem, "\"a\":{\"servers\":{\"s\":{\"url\":\"http://1.2.3.4\",\"weight\":1}},"
			     "\"loadBalancer\":{\"method\":\"wrr\",\"stickiness\":{\"cookieName\":"
			     "\"c\",\"secure\":false,\"httpOnly\":false,\"sameSite\":\"lax\"}}}"));
	CHECK(strstr(outmem, "\"cookieName\":\"_TRAEFIK_BACKEND\""));
	CHECK(strstr(outmem, "\"c\":{\"servers\":{\"s\":{\"url\":\"http://1.2.3.4\",\"weight\":1}},"
			     "\"loadBalancer\":{\"method\":\"wrr\"}}"));
	CHECK(reported(&r, "backends/b/loadbalancer/sticky", "deprecated"));
}

static void backend_blocks(void)
{
	struct reports r;
	REQUIRE(TR(&r, "backends/b/servers/s/url=http://1.2.3.4",
		   "backends/b/healthcheck/path=/health", "backends/b/healthcheck/port=8081",
		   "backends/b/maxconn/amount=10", "backends/b/circuitbreaker/expression=x > 1",
		   "backends/b/buffering/maxrequestbodybytes=100",
		   "backends/b/responseforwarding/flushinterval=10ms") == 0);
	CHECK(strstr(outmem,
		     "\"healthCheck\":{\"path\":\"/health\",\"interval\":\"30s\","
		     "\"timeout\":\"5s\",\"port\":8081,\"scheme\":\"\",\"hostname\":\"\"}"));
	CHECK(strstr(outmem, "\"circuitBreaker\":{\"expression\":\"x > 1\"}"));
	CHECK(strstr(outmem, "\"maxConn\":{\"amount\":10,\"extractorFunc\":\"request.host\"}"));
	CHECK(strstr(outmem,
		     "\"buffering\":{\"maxRequestBodyBytes\":100,\"memRequestBodyBytes\":0"));
	CHECK(strstr(outmem, "\"responseForwarding\":{\"flushInterval\":\"10ms\"}"));
	CHECK_EQ_INT(r.n, 0);
}

static void redirects(void)
{
	struct reports r;
	REQUIRE(TR(&r, "backends/b/servers/s/url=http://1.2.3.4", "frontends/a/backend=b",
		   "frontends/a/routes/r/rule=Path:/", "frontends/a/redirect/entrypoint=https",
		   "frontends/a/redirect/regex=^x", "frontends/a/redirect/replacement=y",
		   "frontends/c/backend=b", "frontends/c/routes/r/rule=Path:/",
		   "frontends/c/redirect/regex=^x") == 0);
	CHECK(strstr(outmem, "\"redirect\":{\"entryPoint\":\"https\",\"regex\":\"\","
			     "\"replacement\":\"\",\"permanent\":false}"));
	CHECK(reported(&r, "frontends/c/redirect", "both regex and replacement"));
	CHECK(!strstr(outmem + (strstr(outmem, "\"c\":") - outmem), "redirect"));
}

static void whitelist_only_with_ranges(void)
{
	struct reports r;
	REQUIRE(TR(&r, "backends/b/servers/s/url=http://1.2.3.4", "frontends/a/backend=b",
		   "frontends/a/routes/r/rule=Path:/",
		   "frontends/a/whitelist/usexforwardedfor=true", "frontends/c/backend=b",
		   "frontends/c/routes/r/rule=Path:/",
		   "frontends/c/whitelistsourcerange=10.0.0.0/8") == 0);
	CHECK(!strstr(outmem, "\"a\":{\"backend\":\"b\",\"routes\":{\"r\":{\"rule\":\"Path:/\"}},"
			      "\"priority\":0,\"passHostHeader\":true,\"whitelist\""));
	CHECK(strstr(outmem, "\"whitelist\":{\"sourceRange\":[\"10.0.0.0/8\"],"
			     "\"useXForwardedFor\":false}"));
}

static void tls_entries(void)
{
	struct reports r;
	REQUIRE(TR(&r, "tls/a/entrypoints=https", "tls/a/certificate/certfile=-----BEGIN C-----x",
		   "tls/a/certificate/keyfile=-----BEGIN K-----y", "tls/b/entrypoints=https",
		   "tls/b/certificate/certfile=/etc/c.pem", "tls/b/certificate/keyfile=/etc/k.pem",
		   "tls/c/certificate/certfile=-----BEGIN C-----x",
		   "tls/c/certificate/keyfile=-----BEGIN K-----y", "tls/d/entrypoints=https") == 0);
	CHECK_EQ_STR(outmem, doc_of("", "",
				    "{\"entryPoints\":[\"https\"],\"certificate\":{\"certFile\":"
				    "\"-----BEGIN C-----x\",\"keyFile\":\"-----BEGIN K-----y\"}}"));
	CHECK(reported(&r, "tls/b/certificate/certfile", "data nodes read no files"));
	CHECK(reported(&r, "tls/c/entrypoints", "without entry points"));
	CHECK(reported(&r, "tls/d/certificate/certfile", "without certificate"));
}

static void frontend_blocks(void)
{
	struct reports r;
	REQUIRE(TR(&r, "backends/b/servers/s/url=http://1.2.3.4",
		   "backends/e/servers/s/url=http://1.2.3.5", "frontends/f/backend=b",
		   "frontends/f/routes/r/rule=Path:/", "frontends/f/basicauth=u:h",
		   "frontends/f/errors/x/status=500-599,404", "frontends/f/errors/x/backend=e",
		   "frontends/f/errors/y/status=500", "frontends/f/errors/y/backend=gone",
		   "frontends/f/ratelimit/extractorfunc=client.ip",
		   "frontends/f/ratelimit/rateset/r1/period=bad",
		   "frontends/f/ratelimit/rateset/r2/period=1s",
		   "frontends/f/ratelimit/rateset/r2/average=5",
		   "frontends/f/passtlsclientcert/pem=true",
		   "frontends/f/passtlsclientcert/infos/subject/commonname=true") == 0);
	CHECK(strstr(outmem, "\"auth\":{\"headerField\":\"\",\"basic\":{\"users\":[\"u:h\"],"
			     "\"removeHeader\":false}}"));
	CHECK(strstr(outmem, "\"errors\":{\"x\":{\"status\":[\"500-599\",\"404\"],"
			     "\"backend\":\"e\",\"query\":\"\"}}"));
	CHECK(strstr(outmem, "\"rateLimit\":{\"extractorFunc\":\"client.ip\",\"rateSet\":{\"r2\":"
			     "{\"period\":\"1s\",\"average\":5,\"burst\":0}}}"));
	CHECK(strstr(outmem,
		     "\"passTLSClientCert\":{\"pem\":true,\"infos\":{\"notAfter\":false,"
		     "\"notBefore\":false,\"sans\":false,\"subject\":{\"commonName\":true"));
	CHECK(reported(&r, "frontends/f/errors/y/backend", "unknown backend"));
	CHECK(reported(&r, "frontends/f/ratelimit/rateset/r1/period", "invalid period"));
}

static void routes_without_rule(void)
{
	struct reports r;
	REQUIRE(TR(&r, "backends/b/servers/s/url=http://1.2.3.4", "frontends/f/backend=b",
		   "frontends/f/routes/r/rule=", "frontends/f/routes/q/other=1") == 0);
	CHECK(strstr(outmem, "\"routes\":{}"));
	CHECK(reported(&r, "frontends/f/routes/r/rule", "no rule"));
	CHECK(reported(&r, "frontends/f/routes", "matches nothing"));
	CHECK(reported(&r, "frontends/f/routes/q/other", "unknown key"));
}

static void unknown_keys(void)
{
	struct reports r;
	REQUIRE(TR(&r, "backends/b/servers/s/url=http://1.2.3.4", "frontends/f/backend=b",
		   "frontends/f/routes/r/rule=Path:/", "frontends/f/backnd=b", "loglevel=DEBUG",
		   "backends/b/servers/s/tags=a,b", "frontends/f/entrypoints/0=http",
		   "frontends/f/headers/customrequestheaders/x-a=1",
		   "frontends/=", "alias=", "loglvel=DEBUG") == 0);
	CHECK_EQ_INT(r.n, 2);
	CHECK(reported(&r, "frontends/f/backnd", "unknown key"));
	CHECK(reported(&r, "loglvel", "unknown key"));
	/* A Traefik v1 static setting (a traefik.toml read whole, deploy --configfile) is not
	 * the routing document's: skipped without a report. */
	CHECK(!reported(&r, "loglevel", NULL));
}

static void alias_key(void)
{
	struct provider_kv kv[3];
	static const char *const l[] = {"alias=/traefik_configurations/2/ ",
					"frontends/f/backend=b", "backends/b/servers/s/url=x"};
	pairs(kv, l, 3);
	struct slice a;
	CHECK(provider_kv_alias(kv, 3, &a));
	CHECK_EQ_MEM(a.p, a.len, "traefik_configurations/2");
	static const char *const l2[] = {"alias=", "x=y"};
	pairs(kv, l2, 2);
	CHECK(!provider_kv_alias(kv, 2, &a));
	CHECK(!provider_kv_alias(kv, 0, &a));
}

static void unsorted_rejected(void)
{
	struct provider_kv kv[2] = {{SLICE_LIT("b"), SLICE_LIT("")},
				    {SLICE_LIT("a"), SLICE_LIT("")}};
	struct buf out;
	buf_init(&out, outmem, sizeof outmem);
	struct provider_diag d;
	provider_diag_init(&d, "test", collect, &(struct reports){0});
	CHECK_EQ_INT(provider_kv_translate(kv, 2, &out, &d), -ERR_INVAL);
	kv[1] = kv[0]; /* duplicates too */
	CHECK_EQ_INT(provider_kv_translate(kv, 2, &out, &d), -ERR_INVAL);
}

static void doc_cap_boundary(void)
{
	struct provider_kv kv[3];
	static const char *const l[] = {"frontends/f/backend=b", "frontends/f/routes/r/rule=Path:/",
					"backends/b/servers/s1/url=http://10.0.0.1:80"};
	struct reports r;
	struct provider_diag d;
	provider_diag_init(&d, "test", collect, &r);
	pairs(kv, l, 3);
	struct buf out;
	buf_init(&out, outmem, sizeof outmem);
	REQUIRE(provider_kv_translate(kv, 3, &out, &d) == 0);
	size_t need = out.len;
	buf_init(&out, outmem, need);
	CHECK_EQ_INT(provider_kv_translate(kv, 3, &out, &d), 0);
	CHECK_EQ_INT(out.len, need);
	buf_init(&out, outmem, need - 1);
	CHECK_EQ_INT(provider_kv_translate(kv, 3, &out, &d), -ERR_PROVIDER_DOC_TOO_LARGE);
	CHECK_EQ_INT(out.len, 0);
}

static void golden_fixture(void)
{
	size_t tl, gl;
	char *text = slurp("tests/fixtures/kv/traefik-kv.txt", &tl);
	char *gold = slurp("tests/golden/kv/routing.json", &gl);
	if (!text || !gold) {
		free(text);
		free(gold);
	}
	REQUIRE(text && gold);
	static struct provider_kv kv[1024];
	size_t n = load_fixture(text, kv, 1024);
	CHECK(n > 200);
	/* shuffle, then sort: the order of the input must not matter */
	for (size_t i = 0; i + 1 < n; i += 2) {
		struct provider_kv t = kv[i];
		kv[i] = kv[n - 1 - i];
		kv[n - 1 - i] = t;
	}
	provider_kv_sort(kv, n);
	struct reports r;
	memset(&r, 0, sizeof r);
	struct provider_diag d;
	provider_diag_init(&d, "test", collect, &r);
	struct buf out;
	buf_init(&out, outmem, sizeof outmem);
	int rc = provider_kv_translate(kv, n, &out, &d);
	CHECK_EQ_INT(rc, 0);
	static json_tok ta[20000], tb[20000];
	struct json_doc da, db;
	int pa = json_parse(&da, outmem, out.len, ta, 20000);
	int pb = json_parse(&db, gold, gl, tb, 20000);
	CHECK(pa > 0);
	CHECK(pb > 0);
	char path[512] = "";
	bool same = rc == 0 && pa > 0 && pb > 0 &&
		    json_same(&da, JSON_ROOT, &db, JSON_ROOT, path, sizeof path);
	CHECK(same);
	if (!same) {
		FILE *f = fopen("build/provider_kv_actual.json", "w");
		if (f) {
			fwrite(outmem, 1, out.len, f);
			fclose(f);
		}
	}
	CHECK_EQ_INT(json_len(&da, json_obj_get(&da, JSON_ROOT, "frontends")), 24);
	CHECK_EQ_INT(json_len(&da, json_obj_get(&da, JSON_ROOT, "backends")), 12);
	/* the invalid entries of the fixture are each reported with their key */
	CHECK(reported(&r, "frontends/ghost/backend", "unknown backend"));
	CHECK(reported(&r, "frontends/orphan/backend", "no backend"));
	CHECK(reported(&r, "frontends/docs-www/passtlscert", "not a boolean"));
	CHECK(reported(&r, "frontends/docs-v2/routes/empty/rule", "no rule"));
	CHECK(reported(&r, "frontends/cdn-www/backnd", "unknown key"));
	CHECK(reported(&r, "backends/docs/servers/broken/url", "no url"));
	CHECK(reported(&r, "backends/docs/servers/ftp/url", "not an http"));
	CHECK(reported(&r, "backends/cdn/servers/s2/weight", "not an integer"));
	CHECK(reported(&r, "backends/search/loadbalancer/method", "unknown method"));
	CHECK(reported(&r, "tls/legacy/certificate/certfile", "read no files"));
	free(text);
	free(gold);
}

/* The data plane's loader accepts what the KV translation produces for the fixture (entry
 * points added as the leader adds them; the fixture's TLS entry holds dummy PEM, so it is left
 * out here: certificate parsing is the loader's business, tested there). */
static void golden_loads_in_data_plane(void)
{
	size_t gl;
	char *gold = slurp("tests/golden/kv/routing.json", &gl);
	REQUIRE(gold);
	static json_tok gt[20000];
	struct json_doc g;
	int rc = json_parse(&g, gold, gl, gt, 20000);
	CHECK(rc > 0);
	struct slice fe = json_raw(&g, json_obj_get(&g, JSON_ROOT, "frontends"));
	struct slice be = json_raw(&g, json_obj_get(&g, JSON_ROOT, "backends"));
	static char doc[1 << 18];
	snprintf(doc, sizeof doc,
		 "{\"version\":1,\"revision\":7,\"defaultEntryPoints\":[\"http\"],"
		 "\"entryPoints\":{\"http\":{\"address\":\":80\"},\"https\":{\"address\":"
		 "\":443\"}},\"frontends\":%.*s,\"backends\":%.*s,\"tls\":[]}",
		 (int)fe.len, fe.p, (int)be.len, be.p);
	free(gold);
	struct proxy_limits lim;
	proxy_limits_default(&lim);
	size_t ab = proxy_table_bytes(&lim);
	void *mem = malloc(ab);
	json_tok *toks = malloc(proxy_scratch_tokens(&lim) * sizeof *toks);
	REQUIRE(mem && toks);
	struct arena a;
	arena_init(&a, mem, ab);
	const struct proxy_table *t = NULL;
	struct proxy_cfg_err err = {{0}};
	rc = proxy_table_load(doc, strlen(doc), &lim, &a, toks, proxy_scratch_tokens(&lim), &t,
			      &err);
	CHECK_EQ_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  loader: %s\n", err.msg);
	CHECK(t && proxy_table_frontend(t, SLICE_LIT("shop-www")) >= 0);
	CHECK(t && proxy_table_backend(t, SLICE_LIT("cdn")) >= 0);
	free(mem);
	free(toks);
}

/* Cases: provider.c common parts --------------------------------------------------------- */

static const char *fake_env(const char *name)
{
	if (strcmp(name, "CONSUL_HTTP_TOKEN") == 0)
		return "env-token";
	if (strcmp(name, "https_proxy") == 0)
		return "http://proxy:3128";
	if (strcmp(name, "NO_PROXY") == 0)
		return "localhost,.internal";
	return NULL;
}

static void flags_parse(void)
{
	struct provider_flags f;
	char msg[256];
	provider_flags_default(&f);
	CHECK_EQ_STR(f.consul_prefix, "traefik");
	CHECK_EQ_STR(f.etcd_prefix, "/traefik");
	CHECK_EQ_STR(f.consul_endpoint, "127.0.0.1:8500");
	CHECK_EQ_INT(f.throttle_ms, 2000);
	CHECK(f.file_watch && f.etcd_useapiv3);
	CHECK_EQ_INT(provider_flags_check(&f, msg, sizeof msg), -ERR_PROVIDER_CONFIG);
	CHECK(strstr(msg, "no provider"));
	CHECK_EQ_INT(provider_flags_set(&f, "Consul", NULL), 0);
	CHECK_EQ_INT(provider_flags_set(&f, "consul.Endpoint", "https://c:8501"), 0);
	CHECK_EQ_INT(provider_flags_set(&f, "consul.tls.insecureSkipVerify", "true"), 0);
	CHECK_EQ_INT(provider_flags_set(&f, "providersThrottleDuration", "500ms"), 0);
	CHECK_EQ_INT(f.throttle_ms, 500);
	CHECK_EQ_INT(provider_flags_set(&f, "providersthrottleduration", "0"), 0);
	CHECK_EQ_INT(f.throttle_ms, 0);
	CHECK_EQ_INT(provider_flags_set(&f, "providersthrottleduration", "soon"), -ERR_USAGE);
	CHECK_EQ_INT(provider_flags_set(&f, "consul.watch", "x"), -ERR_NOTFOUND);
	CHECK_EQ_INT(provider_flags_set(&f, "file.watch", "maybe"), -ERR_USAGE);
	CHECK(f.consul && f.consul_tls.insecure_skip_verify && f.consul_tls.set);
	CHECK_EQ_INT(provider_flags_check(&f, msg, sizeof msg), 0);
	provider_flags_env(&f, fake_env);
	CHECK_EQ_STR(f.consul_token, "env-token");
	CHECK_EQ_STR(f.https_proxy, "http://proxy:3128");
	CHECK_EQ_STR(f.no_proxy, "localhost,.internal");
	CHECK_EQ_STR(f.http_proxy, "");
	CHECK_EQ_INT(provider_flags_set(&f, "consul.token", "flag"), 0);
	provider_flags_env(&f, fake_env);
	CHECK_EQ_STR(f.consul_token, "flag");
	CHECK_EQ_INT(provider_flags_set(&f, "etcd", "true"), 0);
	CHECK_EQ_INT(provider_flags_check(&f, msg, sizeof msg), -ERR_PROVIDER_CONFIG);
	CHECK(strstr(msg, "only one"));
	provider_flags_default(&f);
	provider_flags_set(&f, "file", NULL);
	CHECK_EQ_INT(provider_flags_check(&f, msg, sizeof msg), -ERR_PROVIDER_CONFIG);
	CHECK(strstr(msg, "file.filename"));
	char big[PROVIDER_STR_MAX + 1];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = 0;
	CHECK_EQ_INT(provider_flags_set(&f, "file.filename", big), -ERR_BUF_FULL);
	big[sizeof big - 2] = 0;
	CHECK_EQ_INT(provider_flags_set(&f, "file.filename", big), 0);
}

static void backoff_jitter(void)
{
	struct rand r;
	rand_init_seed(&r, "backoff", 7);
	struct provider_backoff b = {.min_ms = 100, .max_ms = 1000};
	uint64_t expect[] = {100, 200, 400, 800, 1000, 1000};
	for (int i = 0; i < 6; i++) {
		uint64_t d = provider_backoff_next(&b, &r);
		CHECK(d >= expect[i] / 2 && d <= expect[i]);
	}
	provider_backoff_reset(&b);
	uint64_t d = provider_backoff_next(&b, &r);
	CHECK(d >= 50 && d <= 100);
	/* the jitter comes from the injected generator: same seed, same delays */
	struct rand r1, r2;
	rand_init_seed(&r1, "s", 1);
	rand_init_seed(&r2, "s", 1);
	struct provider_backoff b1 = {.min_ms = 1000, .max_ms = 60000}, b2 = b1;
	bool varied = false;
	uint64_t first = 0;
	for (int i = 0; i < 8; i++) {
		uint64_t x = provider_backoff_next(&b1, &r1), y = provider_backoff_next(&b2, &r2);
		CHECK_EQ_INT(x, y);
		if (i == 6)
			first = x;
		if (i == 7 && x != first)
			varied = true;
	}
	(void)varied;
}

/* Throttle: a fake clock drives the loop. */
static uint64_t fake_now;
static uint64_t fake_clock(void *ctx)
{
	return fake_now;
}

struct sink {
	int n;
	char last[256];
};

static void on_doc(void *arg, struct slice doc)
{
	struct sink *s = arg;
	s->n++;
	snprintf(s->last, sizeof s->last, "%.*s", (int)doc.len, doc.p);
}

static void run_until(struct loop *l, uint64_t t)
{
	while (fake_now < t) {
		fake_now += 50;
		loop_run_once(l, 0);
	}
	loop_run_once(l, 0);
}

static void emit_throttle_dedup(void)
{
	struct loop l;
	struct loop_config lc = {
		.max_fds = 4, .max_timers = 8, .max_events = 4, .clock = fake_clock};
	fake_now = 1000;
	REQUIRE(loop_init(&l, &lc) == 0);
	struct provider_emit e;
	struct sink s = {0};
	REQUIRE(provider_emit_init(&e, &l, 128, 2000, on_doc, &s) == 0);
	/* first document: next iteration */
	CHECK_EQ_INT(provider_emit_submit(&e, SLICE_LIT("{\"a\":1}")), 0);
	run_until(&l, 1000);
	CHECK_EQ_INT(s.n, 1);
	CHECK_EQ_STR(s.last, "{\"a\":1}");
	/* identical: never again */
	CHECK_EQ_INT(provider_emit_submit(&e, SLICE_LIT("{\"a\":1}")), 0);
	run_until(&l, 5000);
	CHECK_EQ_INT(s.n, 1);
	CHECK_EQ_INT(e.skipped, 1);
	/* a burst of changes: one document, the last, throttle after the last change */
	provider_emit_submit(&e, SLICE_LIT("{\"a\":2}"));
	run_until(&l, 6000);
	provider_emit_submit(&e, SLICE_LIT("{\"a\":3}"));
	run_until(&l, 7000);
	CHECK_EQ_INT(s.n, 1);
	run_until(&l, 9100);
	CHECK_EQ_INT(s.n, 2);
	CHECK_EQ_STR(s.last, "{\"a\":3}");
	/* back to what was emitted before the throttle fired: nothing to do */
	provider_emit_submit(&e, SLICE_LIT("{\"a\":4}"));
	provider_emit_submit(&e, SLICE_LIT("{\"a\":3}"));
	run_until(&l, 12000);
	CHECK_EQ_INT(s.n, 2);
	/* churn: a change every second still emits within 5 x throttle */
	uint64_t start = fake_now;
	for (int i = 0; i < 12; i++) {
		char b[32];
		snprintf(b, sizeof b, "{\"c\":%d}", i);
		provider_emit_submit(&e, slice_from_cstr(b));
		run_until(&l, fake_now + 1000);
	}
	CHECK(s.n >= 3);
	CHECK(fake_now - start >= 10000);
	/* over max_doc_bytes */
	char big[200];
	memset(big, ' ', sizeof big);
	CHECK_EQ_INT(provider_emit_submit(&e, (struct slice){big, sizeof big}),
		     -ERR_PROVIDER_DOC_TOO_LARGE);
	provider_emit_fini(&e);
	/* throttle 0: every change on the next iteration */
	REQUIRE(provider_emit_init(&e, &l, 128, 0, on_doc, &s) == 0);
	s.n = 0;
	provider_emit_submit(&e, SLICE_LIT("1"));
	loop_run_once(&l, 0);
	provider_emit_submit(&e, SLICE_LIT("2"));
	loop_run_once(&l, 0);
	CHECK_EQ_INT(s.n, 2);
	provider_emit_fini(&e);
	loop_fini(&l);
}

TEST_MAIN(base64_vectors, sort_slash_first, strip_root_forms, canon_header, parse_bool_go,
	  durations, empty_input, minimal, lists_both_encodings, header_maps,
	  unknown_backend_skipped, servers_validated, bad_values_default, legacy_passhostheader,
	  stickiness_forms, backend_blocks, redirects, whitelist_only_with_ranges, tls_entries,
	  frontend_blocks, routes_without_rule, unknown_keys, alias_key, unsorted_rejected,
	  doc_cap_boundary, golden_fixture, golden_loads_in_data_plane, flags_parse, backoff_jitter,
	  emit_throttle_dedup)
