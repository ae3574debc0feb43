/* Unit tests for proxy_rule.h: the Traefik v1 rule grammar, every matcher and modifier, AND/OR
 * semantics, templates, the regexp engine (syntax, refusals, linear time on pathological
 * patterns, Go's ReplaceAllString), caps on both sides, arena failures, every prefix of rules. */
#include "base/base_err.h"
#include "proxy/proxy_rule.h"
#include "test.h"

#include <time.h>

static _Alignas(16) unsigned char mem_[1 << 20];
static struct arena arena_;
static struct proxy_re_work work_;

static const struct proxy_rule_opts opts_ = {1024, PROXY_RE_MAX_INSTS};

/* Compile one rule string (exact-size heap copy so ASan sees overreads). */
static char *text_;
static int compile_n(const char *const *routes, size_t n, struct proxy_rule *r,
		     struct proxy_rule_err *e)
{
	static char *copies[8];
	struct slice s[8];
	arena_init(&arena_, mem_, sizeof mem_);
	for (size_t k = 0; k < n; k++) {
		free(copies[k]);
		size_t len = strlen(routes[k]);
		copies[k] = malloc(len ? len : 1);
		memcpy(copies[k], routes[k], len);
		s[k] = (struct slice){copies[k], len};
	}
	return proxy_rule_compile(s, n, &opts_, &arena_, r, e);
}

static int compile(const char *rule, struct proxy_rule *r, struct proxy_rule_err *e)
{
	(void)text_;
	return compile_n(&rule, 1, r, e);
}

struct req {
	const char *method, *host, *path, *query;
	struct http_header hdr[4];
	size_t nhdr;
};

static bool match_req(const struct proxy_rule *r, const struct req *q, struct proxy_rule_hit *hit)
{
	struct proxy_req_view v = {slice_from_cstr(q->method ? q->method : "GET"),
				   slice_from_cstr(q->host ? q->host : ""),
				   slice_from_cstr(q->path ? q->path : "/"),
				   slice_from_cstr(q->query ? q->query : ""),
				   q->hdr,
				   q->nhdr};
	struct proxy_req_ctx c;
	proxy_req_prepare(&c, &v);
	return proxy_rule_match(r, &c, hit);
}

/* Does `rule` match a GET of host+path? */
static bool m(const char *rule, const char *host, const char *path)
{
	struct proxy_rule r;
	struct proxy_rule_err e;
	if (compile(rule, &r, &e) != 0) {
		fprintf(stderr, "  compile \"%s\": %s\n", rule, e.msg);
		return false;
	}
	struct req q = {"GET", host, path, NULL, {{{0}}}, 0};
	return match_req(&r, &q, NULL);
}

static struct http_header hdr(const char *n, const char *v)
{
	struct http_header h = {slice_from_cstr(n), slice_from_cstr(v), 0, 0};
	return h;
}

/* ---- matchers ----------------------------------------------------------------------------- */

static void host_matcher(void)
{
	CHECK(m("Host:www.example.com", "www.example.com", "/"));
	CHECK(m("Host:www.example.com", "WWW.Example.COM", "/"));      /* case-insensitive */
	CHECK(m("Host:WWW.EXAMPLE.com", "www.example.com", "/"));      /* rule lowercased too */
	CHECK(m("Host:www.example.com", "www.example.com:8080", "/")); /* port ignored */
	CHECK(m("Host:www.example.com", "www.example.com.", "/"));     /* FQDN dot */
	CHECK(!m("Host:www.example.com", "example.com", "/"));
	CHECK(!m("Host:www.example.com", "www.example.com.evil", "/"));
	CHECK(!m("Host:www.example.com", "", "/"));
	CHECK(m("Host:a.com,b.com", "b.com", "/")); /* "," = OR */
	CHECK(!m("Host:a.com,b.com", "c.com", "/"));
	CHECK(m("Host:a.com:8080", "a.com:8080", "/")); /* a port in the rule is compared */
	CHECK(!m("Host:a.com:8080", "a.com:9090", "/"));
	CHECK(!m("Host:a.com:8080", "a.com", "/"));
	CHECK(m("Host:[::1]", "[::1]:443", "/"));
	CHECK(m("host:A.com", "a.com", "/")); /* matcher name case-insensitive */
	CHECK(m("  HOST : a.com ,  b.com ", "b.com", "/"));
}

static void host_regexp_matcher(void)
{
	const char *r = "HostRegexp:{sub:[a-z0-9-]+}.example.com";
	CHECK(m(r, "foo.example.com", "/"));
	CHECK(m(r, "FOO-1.Example.Com:443", "/"));
	CHECK(!m(r, "example.com", "/"));
	CHECK(!m(r, "a.b.example.com", "/"));
	CHECK(!m(r, "fooxexample.com", "/"));                           /* the dot is literal */
	CHECK(m("HostRegexp:{sub}.example.com", "x.example.com", "/")); /* {name} = [^.]+ */
	CHECK(!m("HostRegexp:{sub}.example.com", "x.y.example.com", "/"));
	CHECK(m("Host:{sub:[A-Z]+}.example.com", "abc.example.com", "/")); /* folded class */
	CHECK(m("HostRegexp:example.com,{x:.+}.example.com", "a.b.example.com", "/"));
	CHECK(m("HostRegexp:{a:(www|api)}.example.{tld:(com|org)}", "api.example.org", "/"));
	CHECK(!m("HostRegexp:{a:(www|api)}.example.{tld:(com|org)}", "app.example.org", "/"));
}

static void path_matchers(void)
{
	CHECK(m("Path:/users", "h", "/users"));
	CHECK(!m("Path:/users", "h", "/users/"));
	CHECK(!m("Path:/users", "h", "/Users"));
	CHECK(m("Path:/a,/b", "h", "/b"));
	CHECK(m("Path:/users/{id:[0-9]+}", "h", "/users/42"));
	CHECK(!m("Path:/users/{id:[0-9]+}", "h", "/users/42/x"));
	CHECK(!m("Path:/users/{id:[0-9]+}", "h", "/users/abc"));
	CHECK(m("Path:/users/{id}", "h", "/users/abc"));
	CHECK(!m("Path:/users/{id}", "h", "/users/a/b")); /* {id} = [^/]+ */
	CHECK(m("PathPrefix:/api", "h", "/api"));
	CHECK(m("PathPrefix:/api", "h", "/api/v1"));
	CHECK(m("PathPrefix:/api", "h", "/apix")); /* a string prefix, as mux */
	CHECK(!m("PathPrefix:/api", "h", "/ap"));
	CHECK(m("PathPrefix:/", "h", "/anything"));
	CHECK(m("PathPrefix:/", "h", "")); /* empty path is "/" */
	CHECK(m("PathPrefix:/u/{id:[0-9]+}", "h", "/u/12/profile"));
	CHECK(!m("PathPrefix:/u/{id:[0-9]+}", "h", "/u/x/profile"));
	/* Paths match decoded, as Go's URL.Path: /%61dmin is /admin. */
	CHECK(m("PathPrefix:/admin", "h", "/%61dmin/x"));
	CHECK(m("Path:/a b", "h", "/a%20b") == false); /* a rule with a space is refused */
	CHECK(m("Path:/users/{id:[0-9]+}", "h", "/users/%34%32"));
	CHECK(m("Path:/a%zz", "h", "/a%zz"));  /* an invalid escape stays a '%' */
	CHECK(!m("Path:/a%41", "h", "/a%41")); /* rule values are decoded text: "/aA" */
	CHECK(m("Path:/a%41", "h", "/a%2541"));
}

static void method_matcher(void)
{
	struct proxy_rule r;
	struct proxy_rule_err e;
	REQUIRE(compile("Method:get,Post", &r, &e) == 0);
	struct req q = {"GET", "h", "/", NULL, {{{0}}}, 0};
	CHECK(match_req(&r, &q, NULL));
	q.method = "POST";
	CHECK(match_req(&r, &q, NULL));
	q.method = "PUT";
	CHECK(!match_req(&r, &q, NULL));
	q.method = "get"; /* request methods are case-sensitive (RFC 9110 §9.1) */
	CHECK(!match_req(&r, &q, NULL));
	CHECK(compile("Method:GE T", &r, &e) == -ERR_PROXY_RULE);
}

static void headers_matchers(void)
{
	struct proxy_rule r;
	struct proxy_rule_err e;
	struct req q = {"GET", "h", "/", NULL, {{{0}}}, 0};
	REQUIRE(compile("Headers:Content-Type,application/json", &r, &e) == 0);
	CHECK(!match_req(&r, &q, NULL));
	q.hdr[0] = hdr("content-type", "application/json");
	q.nhdr = 1;
	CHECK(match_req(&r, &q, NULL)); /* names case-insensitive */
	q.hdr[0] = hdr("Content-Type", "application/json; charset=utf-8");
	CHECK(!match_req(&r, &q, NULL)); /* values exact */
	q.hdr[1] = hdr("Content-Type", "application/json");
	q.nhdr = 2;
	CHECK(match_req(&r, &q, NULL)); /* any field line of that name */

	/* Several pairs: all required. */
	REQUIRE(compile("Headers:X-A,1,X-B,2", &r, &e) == 0);
	q.hdr[0] = hdr("X-A", "1");
	q.nhdr = 1;
	CHECK(!match_req(&r, &q, NULL));
	q.hdr[1] = hdr("X-B", "2");
	q.nhdr = 2;
	CHECK(match_req(&r, &q, NULL));
	CHECK(compile("Headers:X-A", &r, &e) == -ERR_PROXY_RULE);
	CHECK(strstr(e.msg, "key,value") != NULL);
	CHECK(compile("Headers:X A,1", &r, &e) == -ERR_PROXY_RULE);

	/* HeadersRegexp searches (RE2 MatchString), unanchored unless the pattern anchors. */
	REQUIRE(compile("HeadersRegexp:User-Agent,Prometheus/[0-9.]+", &r, &e) == 0);
	q.hdr[0] = hdr("User-Agent", "x Prometheus/2.45 y");
	q.nhdr = 1;
	CHECK(match_req(&r, &q, NULL));
	REQUIRE(compile("HeadersRegexp:User-Agent,^Prometheus/", &r, &e) == 0);
	CHECK(!match_req(&r, &q, NULL));
	q.hdr[0] = hdr("User-Agent", "Prometheus/2.45");
	CHECK(match_req(&r, &q, NULL));
	REQUIRE(compile("HeadersRegexp:X-Id,{1,3}", &r, &e) == 0); /* braces do not split */
}

static void query_matcher(void)
{
	struct proxy_rule r;
	struct proxy_rule_err e;
	struct req q = {"GET", "h", "/", "a=1&b=2", {{{0}}}, 0};
	REQUIRE(compile("Query:a=1", &r, &e) == 0);
	CHECK(match_req(&r, &q, NULL));
	REQUIRE(compile("Query:a=1,b=2", &r, &e) == 0); /* pairs are ANDed, as mux Queries */
	CHECK(match_req(&r, &q, NULL));
	REQUIRE(compile("Query:a=1,b=3", &r, &e) == 0);
	CHECK(!match_req(&r, &q, NULL));
	REQUIRE(compile("Query:b", &r, &e) == 0); /* key present, any value */
	CHECK(match_req(&r, &q, NULL));
	REQUIRE(compile("Query:c=", &r, &e) == 0);
	CHECK(!match_req(&r, &q, NULL));
	REQUIRE(compile("Query:id={id:[0-9]+}", &r, &e) == 0);
	q.query = "x=y&id=123";
	CHECK(match_req(&r, &q, NULL));
	q.query = "id=12a";
	CHECK(!match_req(&r, &q, NULL));
	REQUIRE(compile("Query:q=hello world", &r, &e) == 0);
	q.query = "q=hello+world"; /* form decoding: '+' and %XX */
	CHECK(match_req(&r, &q, NULL));
	q.query = "q=hello%20world";
	CHECK(match_req(&r, &q, NULL));
	q.query = "";
	CHECK(!match_req(&r, &q, NULL));
	CHECK(compile("Query:=1", &r, &e) == -ERR_PROXY_RULE);
}

static void and_or_semantics(void)
{
	const char *r = "Host:a.com,b.com;PathPrefix:/x,/y";
	CHECK(m(r, "a.com", "/x/1"));
	CHECK(m(r, "b.com", "/y"));
	CHECK(!m(r, "a.com", "/z"));
	CHECK(!m(r, "c.com", "/x"));
	CHECK(m(";;Host:a.com;;", "a.com", "/")); /* empty pieces skipped */
	/* Several routes of one frontend are ANDed. */
	struct proxy_rule rule;
	struct proxy_rule_err e;
	const char *routes[] = {"Host:a.com", "PathPrefix:/x"};
	REQUIRE(compile_n(routes, 2, &rule, &e) == 0);
	struct req q = {"GET", "a.com", "/x", NULL, {{{0}}}, 0};
	CHECK(match_req(&rule, &q, NULL));
	q.path = "/y";
	CHECK(!match_req(&rule, &q, NULL));
	CHECK_EQ_INT(rule.text_len, strlen(routes[0]) + strlen(routes[1]));
	/* Cheapest first: Method before Host before regexps. */
	REQUIRE(compile("HostRegexp:{a:x+}.com;Path:/p;Method:GET;Host:x.com", &rule, &e) == 0);
	CHECK_EQ_INT(rule.m[0].type, PROXY_MT_METHOD);
	CHECK_EQ_INT(rule.m[1].type, PROXY_MT_HOST);
	CHECK(rule.m[1].val[0].re == NULL);
	CHECK(rule.m[3].val[0].re != NULL);
	/* A rule of modifiers only matches everything. */
	REQUIRE(compile("AddPrefix:/p", &rule, &e) == 0);
	CHECK_EQ_INT(rule.nm, 0);
	CHECK(match_req(&rule, &q, NULL));
}

/* ---- modifiers ---------------------------------------------------------------------------- */

static int rewrite(const char *rule, const char *path, char *out, size_t cap,
		   struct proxy_rewrite *rw)
{
	static struct proxy_rule r;
	struct proxy_rule_err e;
	struct proxy_rule_hit hit;
	static struct proxy_req_view v;
	static struct proxy_req_ctx c;
	if (compile(rule, &r, &e) != 0) {
		fprintf(stderr, "  compile %s: %s\n", rule, e.msg);
		return -1000;
	}
	v = (struct proxy_req_view){SLICE_LIT("GET"), SLICE_LIT("h"), slice_from_cstr(path),
				    SLICE_LIT(""),    NULL,           0};
	proxy_req_prepare(&c, &v);
	if (!proxy_rule_match(&r, &c, &hit))
		return -2000;
	return proxy_rule_rewrite(&r, &hit, &c, out, cap, &work_, rw);
}

static void strip_modifiers(void)
{
	char out[256];
	struct proxy_rewrite rw;
	REQUIRE(rewrite("PathPrefixStrip:/api", "/api/users", out, sizeof out, &rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/users");
	CHECK_EQ_MEM(rw.forwarded_prefix.p, rw.forwarded_prefix.len, "/api");
	CHECK(rw.replaced_path.p == NULL);
	CHECK(rw.changed);
	REQUIRE(rewrite("PathPrefixStrip:/api", "/api", out, sizeof out, &rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/");
	REQUIRE(rewrite("PathPrefixStrip:/api", "/apix", out, sizeof out, &rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/x"); /* a leading slash is ensured */
	REQUIRE(rewrite("PathPrefixStrip:/api/", "/api/users", out, sizeof out, &rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/users");
	/* Several prefixes: the longest that matches is stripped. */
	REQUIRE(rewrite("PathPrefixStrip:/a,/a/b", "/a/b/c", out, sizeof out, &rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/c");
	CHECK_EQ_MEM(rw.forwarded_prefix.p, rw.forwarded_prefix.len, "/a/b");
	REQUIRE(rewrite("PathStrip:/docs", "/docs", out, sizeof out, &rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/");
	CHECK_EQ_MEM(rw.forwarded_prefix.p, rw.forwarded_prefix.len, "/docs");
	CHECK(rewrite("PathStrip:/docs", "/docs/x", out, sizeof out, &rw) == -2000);
	REQUIRE(rewrite("PathPrefixStripRegex:/t/{id:[0-9]+}", "/t/42/x", out, sizeof out, &rw) ==
		0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/x");
	CHECK_EQ_MEM(rw.forwarded_prefix.p, rw.forwarded_prefix.len, "/t/42");
	REQUIRE(rewrite("PathStripRegex:/t/{id:[0-9]+}", "/t/42", out, sizeof out, &rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/");
	/* Raw form kept: an encoded prefix is stripped by its raw length. */
	REQUIRE(rewrite("PathPrefixStrip:/api", "/%61pi/x%2Fy", out, sizeof out, &rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/x%2Fy");
	CHECK_EQ_MEM(rw.forwarded_prefix.p, rw.forwarded_prefix.len, "/%61pi");
}

static void path_modifiers(void)
{
	char out[256];
	struct proxy_rewrite rw;
	REQUIRE(rewrite("AddPrefix:/internal", "/users", out, sizeof out, &rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/internal/users");
	CHECK(rw.forwarded_prefix.p == NULL && rw.replaced_path.p == NULL);
	REQUIRE(rewrite("ReplacePath:/new", "/old?ignored", out, sizeof out, &rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/new");
	CHECK_EQ_MEM(rw.replaced_path.p, rw.replaced_path.len, "/old?ignored");
	REQUIRE(rewrite("ReplacePathRegex: ^/blog/(.*) /articles/$1", "/blog/2024/x", out,
			sizeof out, &rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/articles/2024/x");
	CHECK_EQ_MEM(rw.replaced_path.p, rw.replaced_path.len, "/blog/2024/x");
	REQUIRE(rewrite("ReplacePathRegex: ^/blog/(.*) /articles/$1", "/other", out, sizeof out,
			&rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/other"); /* no match: untouched, no header */
	CHECK(rw.replaced_path.p == NULL && !rw.changed);
	/* A replacement that leaves no leading slash gets one. */
	REQUIRE(rewrite("ReplacePathRegex:^/(.*) $1", "/", out, sizeof out, &rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/");
	REQUIRE(rewrite("ReplacePathRegex:^/(.*) x$1", "/y", out, sizeof out, &rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/xy");
	/* Fixed order, whatever the text order: strip, AddPrefix, ReplacePath. */
	REQUIRE(rewrite("ReplacePath:/z;AddPrefix:/p;PathPrefixStrip:/api", "/api/x", out,
			sizeof out, &rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/z");
	CHECK_EQ_MEM(rw.replaced_path.p, rw.replaced_path.len, "/p/x");
	CHECK_EQ_MEM(rw.forwarded_prefix.p, rw.forwarded_prefix.len, "/api");
	REQUIRE(rewrite("PathPrefixStrip:/v2;AddPrefix:/internal", "/v2/users", out, sizeof out,
			&rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/internal/users");
	/* Output buffer too small: a clean error. */
	CHECK(rewrite("AddPrefix:/internal", "/users", out, 5, &rw) == -ERR_BUF_FULL);
	CHECK(rewrite("AddPrefix:/internal", "/users", out, 15, &rw) == 0);
	CHECK(rewrite("AddPrefix:/internal", "/users", out, 14, &rw) == -ERR_BUF_FULL);
	/* No modifiers: the path is the request's, nothing copied. */
	REQUIRE(rewrite("Host:h", "/same", out, 0, &rw) == 0);
	CHECK(!rw.changed && rw.path.len == 5);
}

/* ---- errors -------------------------------------------------------------------------------- */

static void rule_errors(void)
{
	static const struct {
		const char *rule;
		int rc;
		const char *msg;
	} cases[] = {
		{"Hots:www.example.com", -ERR_PROXY_RULE, "unknown matcher \"Hots\""},
		{"Host www.example.com", -ERR_PROXY_RULE, "missing ':'"},
		{"Host:", -ERR_PROXY_RULE, "Host: no value"},
		{"Host:,,", -ERR_PROXY_RULE, "no value"},
		{"", -ERR_PROXY_RULE, "empty rule"},
		{" ; ;", -ERR_PROXY_RULE, "empty rule"},
		{"Host:*.example.com", -ERR_PROXY_RULE, "HostRegexp"},
		{"Host:a/b", -ERR_PROXY_RULE, "invalid character"},
		{"Path:users", -ERR_PROXY_RULE, "must start with /"},
		{"Path:/a?b", -ERR_PROXY_RULE, "invalid character"},
		{"Path:/{id:[0-9}", -ERR_PROXY_RULE, "missing ]"},
		{"Path:/{id:[0-9]+", -ERR_PROXY_RULE, "unbalanced"},
		{"Path:/x}", -ERR_PROXY_RULE, "unbalanced"},
		{"Path:/{:[0-9]+}", -ERR_PROXY_RULE, "missing variable name"},
		{"Path:/{id:(}", -ERR_PROXY_RULE, "missing )"},
		{"Path:/{id:a**}", -ERR_PROXY_RULE, "nested repetition"},
		{"HeadersRegexp:X,(?i)a", -ERR_PROXY_RULE, "not supported"},
		{"HeadersRegexp:X,\\1", -ERR_PROXY_RULE, "backreferences"},
		{"Headers:X-A,1,X-B", -ERR_PROXY_RULE, "key,value pairs"},
		{"AddPrefix:p", -ERR_PROXY_RULE, "AddPrefix: expects one path"},
		{"AddPrefix:/a,/b", -ERR_PROXY_RULE, "AddPrefix: expects one path"},
		{"AddPrefix:/a;AddPrefix:/b", -ERR_PROXY_RULE, "only one AddPrefix"},
		{"PathStrip:/a;PathPrefixStrip:/b", -ERR_PROXY_RULE, "only one Path*Strip"},
		{"ReplacePath:/a;ReplacePathRegex:^/(.*) /$1", -ERR_PROXY_RULE,
		 "only one ReplacePath"},
		{"ReplacePathRegex:^/x", -ERR_PROXY_RULE, "<regexp> <replacement>"},
		{"ReplacePathRegex:^/(x /$1", -ERR_PROXY_RULE, "missing )"},
		{"Method:G\"T", -ERR_PROXY_RULE, "invalid method"},
		{"Host:a.com\n", -ERR_PROXY_RULE, "control character"},
		{"Path:/{x:a{1000}}", -ERR_PROXY_RULE, "repetition count over 100"},
		{"Path:/{x:(((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))}",
		 -ERR_PROXY_RULE, "nested more than"},
		{"Path:/{x:a{100}{100}}", -ERR_PROXY_RULE, "nested repetition"},
		{"Path:/{x:(a{100}){100}}", -ERR_PROXY_REGEX_TOO_BIG,
		 "more than 1024 instructions"},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct proxy_rule r;
		struct proxy_rule_err e;
		int rc = compile(cases[k].rule, &r, &e);
		if (rc != cases[k].rc || !strstr(e.msg, cases[k].msg))
			TEST_FAIL_("rule \"%s\": rc %d msg \"%s\", expected %d \"%s\"",
				   cases[k].rule, rc, e.msg, cases[k].rc, cases[k].msg);
	}
	/* Which route was at fault. */
	struct proxy_rule r;
	struct proxy_rule_err e;
	const char *routes[] = {"Host:a.com", "Hots:b"};
	CHECK(compile_n(routes, 2, &r, &e) == -ERR_PROXY_RULE);
	CHECK_EQ_INT(e.route, 1);
}

static void rule_length_cap(void)
{
	char rule[1100];
	struct proxy_rule r;
	struct proxy_rule_err e;
	struct slice s;
	struct proxy_rule_opts o = {100, PROXY_RE_MAX_INSTS};
	memset(rule, 0, sizeof rule);
	strcpy(rule, "Host:");
	memset(rule + 5, 'a', 95); /* exactly 100 bytes */
	s = (struct slice){rule, 100};
	arena_init(&arena_, mem_, sizeof mem_);
	CHECK_EQ_INT(proxy_rule_compile(&s, 1, &o, &arena_, &r, &e), 0);
	s.len = 101;
	rule[100] = 'a';
	CHECK_EQ_INT(proxy_rule_compile(&s, 1, &o, &arena_, &r, &e), -ERR_PROXY_RULE_TOO_LONG);
	CHECK(strstr(e.msg, "100 bytes") != NULL);
	/* Program cap just under / over: "Path:/{x:a{n}}" needs n + 2 instructions ('/', a x n,
	 * MATCH). */
	o = (struct proxy_rule_opts){1024, 52};
	s = SLICE_LIT("Path:/{x:a{50}}");
	CHECK_EQ_INT(proxy_rule_compile(&s, 1, &o, &arena_, &r, &e), 0);
	CHECK_EQ_INT(r.ninsts, 52);
	s = SLICE_LIT("Path:/{x:a{51}}");
	CHECK_EQ_INT(proxy_rule_compile(&s, 1, &o, &arena_, &r, &e), -ERR_PROXY_REGEX_TOO_BIG);
}

static void arena_failures(void)
{
	const char *rule = "Host:a.com;PathPrefix:/{x:[a-z]+};HeadersRegexp:X,y;"
			   "ReplacePathRegex:^/(.*) /z/$1";
	struct proxy_rule r;
	struct proxy_rule_err e;
	struct slice s = slice_from_cstr(rule);
	int ok_at = -1;
	for (long n = 0; n < 20; n++) {
		arena_init(&arena_, mem_, sizeof mem_);
		arena_.fail_after = n;
		int rc = proxy_rule_compile(&s, 1, &opts_, &arena_, &r, &e);
		if (rc == 0) {
			ok_at = (int)n;
			break;
		}
		CHECK_EQ_INT(rc, -ERR_ARENA_FULL);
	}
	CHECK(ok_at > 0);
	/* A tiny arena: the same, no crash. */
	arena_init(&arena_, mem_, 64);
	CHECK_EQ_INT(proxy_rule_compile(&s, 1, &opts_, &arena_, &r, &e), -ERR_ARENA_FULL);
}

/* Every prefix of valid rules compiles or fails with a rule error, never anything else. */
static void every_prefix(void)
{
	static const char *rules[] = {
		"Host:a.com,b.com;PathPrefixStrip:/api;AddPrefix:/x",
		"HostRegexp:{sub:[a-z0-9-]{1,63}}.example.com;Method:GET,POST",
		"Headers:X-A,1;HeadersRegexp:User-Agent,^curl/(7|8)\\.;Query:a=1,b={b:[0-9]+}",
		"Path:/u/{id:(?P<id>[0-9]+)};ReplacePathRegex:^/u/(\\d+) /users/${1}",
	};
	for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++) {
		size_t len = strlen(rules[k]);
		for (size_t n = 0; n <= len; n++) {
			char *copy = malloc(n ? n : 1);
			memcpy(copy, rules[k], n);
			struct slice s = {copy, n};
			struct proxy_rule r;
			struct proxy_rule_err e;
			arena_init(&arena_, mem_, sizeof mem_);
			int rc = proxy_rule_compile(&s, 1, &opts_, &arena_, &r, &e);
			if (rc != 0 && rc != -ERR_PROXY_RULE)
				TEST_FAIL_("prefix %zu of \"%s\": rc %d", n, rules[k], rc);
			if (n == len)
				CHECK_EQ_INT(rc, 0);
			if (rc != 0)
				CHECK(e.msg[0] != 0);
			free(copy);
		}
	}
}

/* ---- regexp engine ------------------------------------------------------------------------ */

static const struct proxy_re *re_c(const char *pat, unsigned flags)
{
	const struct proxy_re *re = NULL;
	char err[128];
	arena_init(&arena_, mem_, sizeof mem_);
	int rc = proxy_re_compile(slice_from_cstr(pat), flags, PROXY_RE_MAX_INSTS, &arena_, &re,
				  err, sizeof err);
	if (rc)
		fprintf(stderr, "  compile %s: %d %s\n", pat, rc, err);
	return rc ? NULL : re;
}

static void regexp_syntax(void)
{
	static const struct {
		const char *pat, *s;
		int full, search;
		long prefix;
	} t[] = {
		{"abc", "abc", 1, 1, 3},
		{"abc", "xabcx", 0, 1, -1},
		{"a.c", "abc", 1, 1, 3},
		{"a.c", "a\nc", 0, 0, -1},
		{"a*", "", 1, 1, 0},
		{"a*b", "aaab", 1, 1, 4},
		{"a+", "", 0, 0, -1},
		{"colou?r", "color", 1, 1, 5},
		{"a|b|c", "c", 1, 1, 1},
		{"(ab|cd)+", "abcdab", 1, 1, 6},
		{"(?:ab)+", "ababab", 1, 1, 6},
		{"[a-z0-9-]+", "ab-9", 1, 1, 4},
		{"[^/]+", "ab/c", 0, 1, 2},
		{"[]a]", "]", 1, 1, 1},
		{"[a-]", "-", 1, 1, 1},
		{"[\\d.]+", "1.5", 1, 1, 3},
		{"\\d+\\.\\d+", "12.5", 1, 1, 4},
		{"\\w+", "a_Z9", 1, 1, 4},
		{"\\s", "\t", 1, 1, 1},
		{"\\S+", "ab", 1, 1, 2},
		{"\\D", "x", 1, 1, 1},
		{"\\x41", "A", 1, 1, 1},
		{"a{2,3}", "aaa", 1, 1, 3},
		{"a{2,3}", "a", 0, 0, -1},
		{"a{2}", "aa", 1, 1, 2},
		{"a{2,}", "aaaaa", 1, 1, 5},
		{"a{0}b", "b", 1, 1, 1},
		{"a{", "a{", 1, 1, 2}, /* not a repeat: literal, as RE2 */
		{"a{,2}", "a{,2}", 1, 1, 5},
		{"a+?", "aaa", 1, 1, 1}, /* lazy: shortest prefix */
		{"a*?b", "aab", 1, 1, 3},
		{"x$", "ax", 0, 1, -1},
		{"$", "abc", 0, 1, -1},
		{"^b", "ab", 0, 0, -1},
		{"\\Aa\\z", "a", 1, 1, 1},
		{"(a|ab)(c|bcd)", "abcd", 1, 1, 4}, /* leftmost-first: a, then bcd */
		{"", "", 1, 1, 0},
		{"\\.", ".", 1, 1, 1},
		{"\\/", "/", 1, 1, 1},
	};
	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		const struct proxy_re *re = re_c(t[k].pat, 0);
		if (!re) {
			TEST_FAIL_("compile %s", t[k].pat);
			continue;
		}
		struct slice s = slice_from_cstr(t[k].s);
		int f = proxy_re_full(re, s), se = proxy_re_search(re, s);
		long p = proxy_re_prefix(re, s);
		if (f != t[k].full || se != t[k].search || p != t[k].prefix)
			TEST_FAIL_("/%s/ on \"%s\": full %d search %d prefix %ld", t[k].pat, t[k].s,
				   f, se, p);
	}
	const struct proxy_re *re = re_c("[A-Z]+x", PROXY_RE_FOLD);
	REQUIRE(re);
	CHECK(proxy_re_full(re, SLICE_LIT("ABCX")));
	CHECK(proxy_re_full(re, SLICE_LIT("abcx")));
	re = re_c("[^A-Z]", PROXY_RE_FOLD); /* folded before negation: no letter at all */
	REQUIRE(re);
	CHECK(!proxy_re_full(re, SLICE_LIT("a")) && proxy_re_full(re, SLICE_LIT("1")));
}

static void regexp_refusals(void)
{
	static const char *bad[] = {
		"(",       "a)",      "a**",    "a+*",   "*a",  "[a-",         "[z-a]",
		"\\1",     "(?i)a",   "(?=a)",  "\\b",   "\\B", "[[:alpha:]]", "\\p{L}",
		"\\Qa\\E", "a{1000}", "a{3,2}", "\\xZ1", "\\",  "\\k",         "(?P<>a)"};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		const struct proxy_re *re;
		char err[128] = "";
		arena_init(&arena_, mem_, sizeof mem_);
		int rc = proxy_re_compile(slice_from_cstr(bad[k]), 0, PROXY_RE_MAX_INSTS, &arena_,
					  &re, err, sizeof err);
		if (rc != -ERR_PROXY_RULE || !err[0])
			TEST_FAIL_("/%s/ accepted or no message (rc %d)", bad[k], rc);
	}
	/* 65 distinct classes */
	char pat[65 * 5 + 1];
	size_t n = 0;
	for (int k = 0; k < 65; k++)
		n += (size_t)snprintf(pat + n, sizeof pat - n, "[%c%c]", 'A' + k / 26,
				      'a' + k % 26);
	const struct proxy_re *re;
	char err[128];
	arena_init(&arena_, mem_, sizeof mem_);
	CHECK(proxy_re_compile((struct slice){pat, n}, 0, PROXY_RE_MAX_INSTS, &arena_, &re, err,
			       sizeof err) == -ERR_PROXY_RULE);
	CHECK(strstr(err, "classes") != NULL);
	char big[PROXY_RE_MAX_SRC + 2];
	memset(big, 'a', sizeof big);
	CHECK(proxy_re_compile((struct slice){big, sizeof big}, 0, PROXY_RE_MAX_INSTS, &arena_, &re,
			       err, sizeof err) == -ERR_PROXY_REGEX_TOO_BIG);
}

static double secs(clock_t a, clock_t b)
{
	return (double)(b - a) / CLOCKS_PER_SEC;
}

/* Patterns that make backtracking engines exponential run in linear time here. */
static void regexp_pathological(void)
{
	static const char *pats[] = {"(a*)*b", "(a|aa)*(a|aa)*(a|aa)*c", "(a+)+$x", "(.*a){12}",
				     "(a?){30}a{30}"};
	enum { SMALL = 5000, LARGE = 50000 };
	char *in = malloc(LARGE);
	memset(in, 'a', LARGE);
	for (size_t k = 0; k < sizeof pats / sizeof pats[0]; k++) {
		const struct proxy_re *re = re_c(pats[k], 0);
		REQUIRE(re);
		clock_t t0 = clock();
		bool a = proxy_re_search(re, (struct slice){in, SMALL});
		clock_t t1 = clock();
		bool b = proxy_re_search(re, (struct slice){in, LARGE});
		clock_t t2 = clock();
		bool f = proxy_re_full(re, (struct slice){in, LARGE});
		(void)f;
		if (k < 3)
			CHECK(!a && !b);
		/* Linear: 10x the input costs about 10x, never 100x (and it is fast at all). */
		double s = secs(t0, t1), l = secs(t1, t2);
		if (s > 0.001 && l > 40 * s)
			TEST_FAIL_("/%s/: %.4fs for %d bytes, %.4fs for %d", pats[k], s, SMALL, l,
				   LARGE);
		CHECK(l < 5.0);
	}
	/* The classic: (a?){n}a{n} against a^n (exponential for backtrackers). */
	const struct proxy_re *re = re_c("(a?){30}a{30}", 0);
	REQUIRE(re);
	CHECK(proxy_re_full(re, (struct slice){in, 30}));
	free(in);
}

static void regexp_replace(void)
{
	static const struct {
		const char *pat, *in, *repl, *out;
	} t[] = {
		{"^/api/(.*)", "/api/users/1", "/v2/$1", "/v2/users/1"},
		{"a*", "baaac", "X", "XbXcX"}, /* empty matches, Go semantics */
		{"a", "banana", "o", "bonono"},
		{"(?P<first>\\w+) (\\w+)", "hello world", "${2} $first $$", "world hello $"},
		{"(\\w+)", "ab", "$1x", ""},      /* $1x names group "1x": empty */
		{"(\\w+)", "ab", "${1}x", "abx"}, /* the fix */
		{"x", "abc", "y", "abc"},         /* no match: unchanged */
		{"(a)(b)?", "a", "[$2]", "[]"},   /* unset group: empty */
		{"b", "abc", "$", "a$c"},         /* lone dollar kept */
		{"^", "abc", "X", "Xabc"},
		{"$", "abc", "X", "abcX"},
	};
	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		const struct proxy_re *re = re_c(t[k].pat, PROXY_RE_CAPTURE);
		char out[128];
		REQUIRE(re);
		long n = proxy_re_replace(re, slice_from_cstr(t[k].in), slice_from_cstr(t[k].repl),
					  &work_, out, sizeof out);
		if (n < 0 || (size_t)n != strlen(t[k].out) || memcmp(out, t[k].out, (size_t)n))
			TEST_FAIL_("/%s/ on %s -> %.*s, expected %s", t[k].pat, t[k].in,
				   n < 0 ? 0 : (int)n, out, t[k].out);
	}
	const struct proxy_re *re = re_c("a", PROXY_RE_CAPTURE);
	char out[8];
	REQUIRE(re);
	CHECK_EQ_INT(proxy_re_replace(re, SLICE_LIT("aaaa"), SLICE_LIT("bb"), &work_, out, 8), 8);
	CHECK_EQ_INT(proxy_re_replace(re, SLICE_LIT("aaaa"), SLICE_LIT("bb"), &work_, out, 7),
		     -ERR_BUF_FULL);
	re = re_c("a", 0); /* not a capture program */
	CHECK_EQ_INT(proxy_re_replace(re, SLICE_LIT("a"), SLICE_LIT("b"), &work_, out, 8),
		     -ERR_INVAL);
}

static void request_prepare(void)
{
	struct proxy_req_view v = {
		SLICE_LIT("GET"), SLICE_LIT("[::1]:8443"), SLICE_LIT(""), SLICE_LIT(""), NULL, 0};
	struct proxy_req_ctx c;
	proxy_req_prepare(&c, &v);
	CHECK_EQ_MEM(c.host.p, c.host.len, "[::1]");
	CHECK_EQ_MEM(c.host_port.p, c.host_port.len, "[::1]:8443");
	CHECK_EQ_MEM(c.path.p, c.path.len, "/");
	v.host = SLICE_LIT("Example.COM.");
	proxy_req_prepare(&c, &v);
	CHECK_EQ_MEM(c.host.p, c.host.len, "Example.COM");
	CHECK_EQ_INT(c.host_hash, proxy_host_hash(SLICE_LIT("example.com")));
	v.host = SLICE_LIT("a.com:80");
	proxy_req_prepare(&c, &v);
	CHECK_EQ_MEM(c.host.p, c.host.len, "a.com");
}

TEST_MAIN(host_matcher, host_regexp_matcher, path_matchers, method_matcher, headers_matchers,
	  query_matcher, and_or_semantics, strip_modifiers, path_modifiers, rule_errors,
	  rule_length_cap, arena_failures, every_prefix, regexp_syntax, regexp_refusals,
	  regexp_pathological, regexp_replace, request_prepare)
