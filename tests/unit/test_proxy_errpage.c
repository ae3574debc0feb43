/* Unit tests for proxy_errpage.h's pure helpers: status ranges of pages loaded from a real
 * routing document (boundaries, single codes, first page in document order wins, interim
 * statuses never covered), the request path ("{status}" several times, none, leading "/",
 * empty query, fragment, refused octets, the buffer boundary), the request head (method,
 * Host, fields kept and dropped, the proxy's X-Forwarded-*, the buffer boundary) and which
 * local statuses may be replaced.
 */
#include "base/base_arena.h"
#include "base/base_err.h"
#include "http/http_parse.h"
#include "proxy/proxy_errpage.h"
#include "test.h"

#include <stdio.h>

#define NTOK 4096
static json_tok toks_[NTOK];
static _Alignas(16) unsigned char tmem_[1 << 18];
static struct arena tarena_;

/* Load a document (' for "). */
static const struct proxy_table *load(const char *tmpl)
{
	static char doc[8192];
	size_t n = strlen(tmpl);
	for (size_t i = 0; i < n; i++)
		doc[i] = tmpl[i] == '\'' ? '"' : tmpl[i];
	struct proxy_limits lim;
	const struct proxy_table *t;
	struct proxy_cfg_err err;
	proxy_limits_default(&lim);
	arena_init(&tarena_, tmem_, sizeof tmem_);
	if (proxy_table_load(doc, n, &lim, &tarena_, toks_, NTOK, &t, &err) != 0) {
		fprintf(stderr, "  load: %s\n", err.msg);
		return NULL;
	}
	return t;
}

#define DOC                                                                               \
	"{'version':1,'revision':1,'defaultEntryPoints':['web'],"                         \
	"'entryPoints':{'web':{'address':':8080'}},"                                      \
	"'frontends':{'f':{'backend':'a','routes':{'r':{'rule':'PathPrefix:/'}},"         \
	"'errors':{'z5xx':{'status':['500-599'],'backend':'e1','query':'/5xx/{status}'}," \
	"'a404':{'status':['404','418','502'],'backend':'e2','query':'nf.html'}}},"       \
	"'plain':{'backend':'a','routes':{'r':{'rule':'PathPrefix:/p'}}}},"               \
	"'backends':{'a':{'servers':{'s':{'url':'http://127.0.0.1:1'}}},"                 \
	"'e1':{'servers':{'s':{'url':'http://127.0.0.1:2'}}},"                            \
	"'e2':{'servers':{'s':{'url':'http://127.0.0.1:3'}}}}}"

static void ranges(void)
{
	const struct proxy_table *t = load(DOC);
	REQUIRE(t != NULL);
	int f = proxy_table_frontend(t, SLICE_LIT("f"));
	int plain = proxy_table_frontend(t, SLICE_LIT("plain"));
	REQUIRE(f >= 0 && plain >= 0);
	const struct proxy_frontend *fe = &t->fe[f];
	REQUIRE(fe->nerrors == 2);
	CHECK_EQ_INT(t->fe[plain].nerrors, 0);
	/* document order kept: z5xx first although its name sorts last */
	CHECK(slice_eq_cstr(fe->errors[0].name, "z5xx"));
	const struct proxy_error_page *p5 = &fe->errors[0], *p4 = &fe->errors[1];
	CHECK(!proxy_errpage_covers(p5, 499));
	CHECK(proxy_errpage_covers(p5, 500));
	CHECK(proxy_errpage_covers(p5, 599));
	CHECK(!proxy_errpage_covers(p5, 600));
	CHECK(!proxy_errpage_covers(p4, 403));
	CHECK(proxy_errpage_covers(p4, 404));
	CHECK(!proxy_errpage_covers(p4, 405));
	CHECK(!proxy_errpage_covers(p4, 417));
	CHECK(proxy_errpage_covers(p4, 418));
	CHECK(!proxy_errpage_covers(p4, 419));
	CHECK_EQ_INT(proxy_errpage_find(fe, 200), -1);
	CHECK_EQ_INT(proxy_errpage_find(fe, 404), 1);
	CHECK_EQ_INT(proxy_errpage_find(fe, 418), 1);
	CHECK_EQ_INT(proxy_errpage_find(fe, 500), 0);
	CHECK_EQ_INT(proxy_errpage_find(fe, 502), 0); /* both cover it: the first wins */
	CHECK_EQ_INT(proxy_errpage_find(fe, 503), 0);
	CHECK_EQ_INT(proxy_errpage_find(fe, 400), -1);
	CHECK_EQ_INT(proxy_errpage_find(&t->fe[plain], 500), -1);
	/* the backends resolve to the error backends */
	CHECK_EQ_INT(p5->backend, proxy_table_backend(t, SLICE_LIT("e1")));
	CHECK_EQ_INT(p4->backend, proxy_table_backend(t, SLICE_LIT("e2")));
}

static void ranges_interim(void)
{
	const struct proxy_table *t =
		load("{'version':1,'revision':1,'defaultEntryPoints':['web'],"
		     "'entryPoints':{'web':{'address':':8080'}},"
		     "'frontends':{'f':{'backend':'a','routes':{'r':{'rule':'Path:/'}},"
		     "'errors':{'all':{'status':['100-599'],'backend':'e'}}}},"
		     "'backends':{'a':{'servers':{'s':{'url':'http://127.0.0.1:1'}}},"
		     "'e':{'servers':{'s':{'url':'http://127.0.0.1:2'}}}}}");
	REQUIRE(t != NULL);
	const struct proxy_frontend *fe = &t->fe[0];
	CHECK(proxy_errpage_covers(&fe->errors[0], 101));
	CHECK_EQ_INT(proxy_errpage_find(fe, 100), -1); /* interim / 101: never replaced */
	CHECK_EQ_INT(proxy_errpage_find(fe, 101), -1);
	CHECK_EQ_INT(proxy_errpage_find(fe, 199), -1);
	CHECK_EQ_INT(proxy_errpage_find(fe, 200), 0);
	CHECK_EQ_INT(proxy_errpage_find(fe, 599), 0);
	CHECK_EQ_INT(fe->errors[0].query.len, 0);
}

static void path(void)
{
	char out[64];
	long n = proxy_errpage_path(SLICE_LIT("/errors/{status}.html"), 503, out, sizeof out);
	CHECK_EQ_MEM(out, n, "/errors/503.html");
	n = proxy_errpage_path(SLICE_LIT("{status}/x/{status}{status}"), 404, out, sizeof out);
	CHECK_EQ_MEM(out, n, "/404/x/404404");
	n = proxy_errpage_path(SLICE_LIT("/static/error.html"), 500, out, sizeof out);
	CHECK_EQ_MEM(out, n, "/static/error.html");
	n = proxy_errpage_path(SLICE_LIT("nf.html"), 404, out, sizeof out);
	CHECK_EQ_MEM(out, n, "/nf.html"); /* "/" added */
	n = proxy_errpage_path(SLICE_LIT("//double"), 404, out, sizeof out);
	CHECK_EQ_MEM(out, n, "//double"); /* one leading "/" trimmed, as Traefik */
	n = proxy_errpage_path((struct slice){NULL, 0}, 500, out, sizeof out);
	CHECK_EQ_MEM(out, n, "/");
	n = proxy_errpage_path(SLICE_LIT("/e?code={status}&x=1#frag{status}"), 502, out,
			       sizeof out);
	CHECK_EQ_MEM(out, n, "/e?code=502&x=1");
	/* not the token: braces and partial tokens are copied */
	n = proxy_errpage_path(SLICE_LIT("/{status/{statu}{STATUS}"), 500, out, sizeof out);
	CHECK_EQ_MEM(out, n, "/{status/{statu}{STATUS}");
	n = proxy_errpage_path(SLICE_LIT("/a{status}"), 500, out, sizeof out);
	CHECK_EQ_MEM(out, n, "/a500");
	/* octets that cannot go in a request line */
	CHECK_EQ_INT(proxy_errpage_path(SLICE_LIT("/a b"), 500, out, sizeof out), -ERR_INVAL);
	CHECK_EQ_INT(proxy_errpage_path(SLICE_LIT("/a\r\nX: y"), 500, out, sizeof out), -ERR_INVAL);
	CHECK_EQ_INT(proxy_errpage_path(SLICE_LIT("/a\x7f"), 500, out, sizeof out), -ERR_INVAL);
	/* the buffer boundary: "/e/500" is 6 bytes */
	CHECK_EQ_INT(proxy_errpage_path(SLICE_LIT("/e/{status}"), 500, out, 6), 6);
	CHECK_EQ_MEM(out, 6, "/e/500");
	CHECK_EQ_INT(proxy_errpage_path(SLICE_LIT("/e/{status}"), 500, out, 5), -ERR_BUF_FULL);
	CHECK_EQ_INT(proxy_errpage_path(SLICE_LIT("/e/x"), 500, out, 4), 4);
	CHECK_EQ_INT(proxy_errpage_path(SLICE_LIT("/e/x"), 500, out, 3), -ERR_BUF_FULL);
	CHECK_EQ_INT(proxy_errpage_path(SLICE_LIT(""), 500, out, 0), -ERR_BUF_FULL);
}

struct parsed {
	struct http_request req;
	struct http_header hdr[32];
};

static int parse(struct parsed *p, const char *raw)
{
	struct http_limits lim;
	http_limits_default(&lim);
	http_request_init(&p->req, p->hdr, 32);
	return http_parse_request(&p->req, raw, strlen(raw), &lim);
}

static bool has_line(const struct buf *b, const char *line)
{
	char want[256];
	snprintf(want, sizeof want, "\r\n%s\r\n", line);
	return memmem(b->data, b->len, want, strlen(want)) != NULL;
}

static bool has_name(const struct buf *b, const char *name)
{
	char want[128];
	snprintf(want, sizeof want, "\r\n%s:", name);
	return memmem(b->data, b->len, want, strlen(want)) != NULL;
}

static const char RAW[] = "POST /app/x?y=1 HTTP/1.1\r\n"
			  "Host: www.example.com\r\n"
			  "User-Agent: curl/8\r\n"
			  "Accept: text/html\r\n"
			  "Cookie: sid=1\r\n"
			  "Content-Length: 5\r\n"
			  "Expect: 100-continue\r\n"
			  "Connection: keep-alive, X-Hop\r\n"
			  "X-Hop: 1\r\n"
			  "If-None-Match: \"abc\"\r\n"
			  "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n"
			  "Range: bytes=0-1\r\n"
			  "X-Forwarded-For: 6.6.6.6\r\n"
			  "x-forwarded-host: evil\r\n"
			  "X-Real-Ip: 6.6.6.6\r\n"
			  "X-Custom: keep\r\n"
			  "\r\n";

static void head(void)
{
	struct parsed p;
	REQUIRE(parse(&p, RAW) > 0);
	struct proxy_errpage_req r = {
		.head = false,
		.query = SLICE_LIT("/errors/{status}.html"),
		.status = 503,
		.host = SLICE_LIT("10.0.0.9:8080"),
		.hdr = p.req.h.hdr,
		.nhdr = p.req.h.nhdr,
		.client_host = SLICE_LIT("www.example.com"),
		.peer = SLICE_LIT("192.0.2.7"),
		.tls = true,
		.server = SLICE_LIT("edge1"),
	};
	uint8_t mem[2048];
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	REQUIRE(proxy_errpage_head(&r, &b) == 0);
	const char start[] = "GET /errors/503.html HTTP/1.1\r\nHost: 10.0.0.9:8080\r\n";
	CHECK(b.len > sizeof start && memcmp(b.data, start, sizeof start - 1) == 0);
	CHECK(b.len >= 4 && memcmp(b.data + b.len - 4, "\r\n\r\n", 4) == 0);
	CHECK(has_line(&b, "User-Agent: curl/8"));
	CHECK(has_line(&b, "Accept: text/html"));
	CHECK(has_line(&b, "Cookie: sid=1"));
	CHECK(has_line(&b, "X-Custom: keep"));
	CHECK(has_line(&b, "X-Forwarded-For: 192.0.2.7"));
	CHECK(has_line(&b, "X-Forwarded-Proto: https"));
	CHECK(has_line(&b, "X-Forwarded-Host: www.example.com"));
	CHECK(has_line(&b, "X-Forwarded-Server: edge1"));
	CHECK(has_line(&b, "X-Real-Ip: 192.0.2.7"));
	const char *gone[] = {
		"Content-Length", "Transfer-Encoding", "Expect", "Connection",      "X-Hop",
		"If-None-Match",  "If-Modified-Since", "Range",  "x-forwarded-host"};
	for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
		if (has_name(&b, gone[i]))
			TEST_FAIL_("field %s was sent", gone[i]);
	CHECK(memmem(b.data, b.len, "6.6.6.6", 7) == NULL);
	CHECK(memmem(b.data, b.len, "evil", 4) == NULL);
	CHECK(memmem(b.data, b.len, "www.example.com", 15) != NULL); /* X-Forwarded-Host only */
	CHECK(!has_line(&b, "Host: www.example.com"));
	/* one Host field */
	CHECK(memmem(b.data, b.len, "\r\nHost:", 7) != NULL);
	const uint8_t *h1 = memmem(b.data, b.len, "\r\nHost:", 7);
	CHECK(memmem(h1 + 1, b.len - (size_t)(h1 + 1 - b.data), "\r\nHost:", 7) == NULL);
	size_t full = b.len;

	/* HEAD, plain, no peer, no server name, no client host */
	r.head = true;
	r.tls = false;
	r.peer = (struct slice){NULL, 0};
	r.server = (struct slice){NULL, 0};
	r.client_host = (struct slice){NULL, 0};
	r.status = 404;
	r.query = SLICE_LIT("nf");
	buf_init(&b, mem, sizeof mem);
	REQUIRE(proxy_errpage_head(&r, &b) == 0);
	CHECK(memcmp(b.data, "HEAD /nf HTTP/1.1\r\n", 19) == 0);
	CHECK(has_line(&b, "X-Forwarded-Proto: http"));
	CHECK(!has_name(&b, "X-Forwarded-For"));
	CHECK(!has_name(&b, "X-Real-Ip"));
	CHECK(!has_name(&b, "X-Forwarded-Server"));
	CHECK(!has_name(&b, "X-Forwarded-Host"));

	/* the buffer boundary: exactly the head fits, one byte less does not (b untouched) */
	r = (struct proxy_errpage_req){
		.query = SLICE_LIT("/errors/{status}.html"),
		.status = 503,
		.host = SLICE_LIT("10.0.0.9:8080"),
		.hdr = p.req.h.hdr,
		.nhdr = p.req.h.nhdr,
		.client_host = SLICE_LIT("www.example.com"),
		.peer = SLICE_LIT("192.0.2.7"),
		.tls = true,
		.server = SLICE_LIT("edge1"),
	};
	uint8_t pre[3] = {'a', 'b', 'c'};
	uint8_t small[2048];
	memcpy(small, pre, 3);
	buf_init(&b, small, full + 3);
	b.len = 3;
	CHECK_EQ_INT(proxy_errpage_head(&r, &b), 0);
	CHECK_EQ_INT(b.len, full + 3);
	buf_init(&b, small, full + 2);
	b.len = 3;
	CHECK_EQ_INT(proxy_errpage_head(&r, &b), -ERR_BUF_FULL);
	CHECK_EQ_INT(b.len, 3);
	/* a query that cannot go in a request line */
	r.query = SLICE_LIT("/a b");
	buf_init(&b, mem, sizeof mem);
	CHECK_EQ_INT(proxy_errpage_head(&r, &b), -ERR_INVAL);
	CHECK_EQ_INT(b.len, 0);
}

static void local_statuses(void)
{
	static const int yes[] = {401, 403, 404, 429, 500, 502, 503, 504, 599};
	static const int no[] = {200, 302, 308, 399, 400, 408, 413, 414, 417, 431, 501, 505, 600};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		if (!proxy_errpage_local_ok(yes[i]))
			TEST_FAIL_("%d should be replaceable", yes[i]);
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		if (proxy_errpage_local_ok(no[i]))
			TEST_FAIL_("%d should not be replaceable", no[i]);
}

TEST_MAIN(ranges, ranges_interim, path, head, local_statuses)
