/* Unit tests for proxy_fwdauth.h's building blocks: the forward auth address parser, the
 * auth request head built from a parsed client request (copied fields, hop-by-hop and
 * framing fields dropped, X-Forwarded-* with trustForwardHeader false and true, the
 * buffer limit), and the client response head of a denial.
 */
#include "base/base_err.h"
#include "http/http_parse.h"
#include "proxy/proxy_fwdauth.h"
#include "test.h"

#include <stdio.h>

static struct slice S(const char *s) {
	return slice_from_cstr(s);
}

static bool
eq(struct slice a, const char *b)
{
	return slice_eq_cstr(a, b);
}

static void url_parse(void)
{
	bool https;
	struct slice au, host, path;
	uint16_t port;
	REQUIRE(proxy_fwdauth_parse_url(S("http://auth.example:9000/check?x=1#frag"), &https, &au,
					&host, &port, &path) == 0);
	CHECK(!https);
	CHECK(eq(au, "auth.example:9000"));
	CHECK(eq(host, "auth.example"));
	CHECK_EQ_INT(port, 9000);
	CHECK(eq(path, "/check?x=1"));
	REQUIRE(proxy_fwdauth_parse_url(S("HTTPS://[::1]"), &https, &au, &host, &port, &path) == 0);
	CHECK(https);
	CHECK(eq(host, "::1"));
	CHECK(eq(au, "[::1]"));
	CHECK_EQ_INT(port, 443);
	CHECK_EQ_INT(path.len, 0);
	REQUIRE(proxy_fwdauth_parse_url(S("http://10.0.0.1?q"), &https, &au, &host, &port, &path) ==
		0);
	CHECK_EQ_INT(port, 80);
	CHECK(eq(path, "?q"));
	const char *bad[] = {"ftp://x/",     "http://",         "http://:80/",    "http://u@h/",
			     "http://h:0/",  "http://h:65536/", "http://h:8a/",   "http://[::1/",
			     "http://h/a b", "auth.example/x",  "http://[::1]x/", "http://h:/"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = proxy_fwdauth_parse_url(S(bad[i]), &https, &au, &host, &port, &path);
		if (rc != -ERR_INVAL)
			printf("# accepted %s\n", bad[i]);
		CHECK(rc == -ERR_INVAL);
	}
}

struct parsed {
	struct http_request req;
	struct http_header hdr[32];
};

static void parse(struct parsed *p, const char *raw)
{
	struct http_limits lim;
	http_limits_default(&lim);
	http_request_init(&p->req, p->hdr, 32);
	int rc = http_parse_request(&p->req, raw, strlen(raw), &lim);
	if (rc <= 0)
		printf("# parse failed: %d\n", rc);
}

static const char client[] = "POST /app/x?y=1 HTTP/1.1\r\n"
			     "Host: web.example\r\n"
			     "Cookie: session=abc\r\n"
			     "Connection: close, X-Hop\r\n"
			     "X-Hop: secret\r\n"
			     "Keep-Alive: 5\r\n"
			     "Content-Length: 5\r\n"
			     "Expect: 100-continue\r\n"
			     "Proxy-Authorization: Basic eA==\r\n"
			     "X-Forwarded-For: 6.6.6.6\r\n"
			     "X-Forwarded-For: 7.7.7.7\r\n"
			     "X-Forwarded-Host: evil.example\r\n"
			     "X-Forwarded-Uri: /evil\r\n"
			     "X-Forwarded-Method: PUT\r\n"
			     "X-Forwarded-Prefix: /p\r\n"
			     "Authorization: Bearer t\r\n"
			     "\r\n";

static int build(const struct parsed *p, bool trust, char *out, size_t cap)
{
	struct proxy_fwdauth_req r = {
		.method = p->req.method,
		.uri = p->req.target,
		.host = p->req.h.host,
		.tls = false,
		.client_ip = S("10.1.2.3"),
		.hdr = p->req.h.hdr,
		.nhdr = p->req.h.nhdr,
		.trust = trust,
		.auth_authority = S("auth:9000"),
		.auth_path = S("/verify?a=b"),
	};
	struct buf b;
	buf_init(&b, out, cap);
	int rc = proxy_fwdauth_request_head(&r, &b);
	if (rc == 0 && b.len < cap)
		out[b.len] = 0;
	return rc;
}

static void request_head_untrusted(void)
{
	struct parsed p;
	parse(&p, client);
	REQUIRE(p.req.h.nhdr > 10);
	char out[2048];
	REQUIRE(build(&p, false, out, sizeof out) == 0);
	CHECK_EQ_STR(out, "GET /verify?a=b HTTP/1.1\r\n"
			  "Host: auth:9000\r\n"
			  "Cookie: session=abc\r\n"
			  "Authorization: Bearer t\r\n"
			  "X-Forwarded-Method: POST\r\n"
			  "X-Forwarded-Proto: http\r\n"
			  "X-Forwarded-Host: web.example\r\n"
			  "X-Forwarded-Uri: /app/x?y=1\r\n"
			  "X-Forwarded-For: 10.1.2.3\r\n"
			  "Connection: close\r\n\r\n");
	/* The head the auth server gets parses, and has no body. */
	struct parsed q;
	parse(&q, out);
	CHECK(q.req.h.body == HTTP_BODY_NONE);
}

static void request_head_trusted(void)
{
	struct parsed p;
	parse(&p, client);
	char out[2048];
	REQUIRE(build(&p, true, out, sizeof out) == 0);
	CHECK_EQ_STR(out, "GET /verify?a=b HTTP/1.1\r\n"
			  "Host: auth:9000\r\n"
			  "Cookie: session=abc\r\n"
			  "X-Forwarded-Prefix: /p\r\n"
			  "Authorization: Bearer t\r\n"
			  "X-Forwarded-Method: PUT\r\n"
			  "X-Forwarded-Proto: http\r\n"
			  "X-Forwarded-Host: evil.example\r\n"
			  "X-Forwarded-Uri: /evil\r\n"
			  "X-Forwarded-For: 6.6.6.6, 7.7.7.7, 10.1.2.3\r\n"
			  "Connection: close\r\n\r\n");
	/* Every prefix of the buffer too small: -ERR_BUF_FULL, never a partial success. */
	size_t full = strlen(out);
	for (size_t cap = 0; cap < full; cap += 7)
		CHECK(build(&p, true, out, cap) == -ERR_BUF_FULL);
}

static void request_head_tls_and_minimal(void)
{
	struct parsed p;
	parse(&p, "GET / HTTP/1.0\r\n\r\n");
	struct proxy_fwdauth_req r = {
		.method = p.req.method,
		.uri = p.req.target,
		.host = p.req.h.host,
		.tls = true,
		.client_ip = S("::1"),
		.hdr = p.req.h.hdr,
		.nhdr = p.req.h.nhdr,
		.auth_authority = S("a"),
		.auth_path = S("/"),
	};
	char out[512];
	struct buf b;
	buf_init(&b, out, sizeof out - 1);
	REQUIRE(proxy_fwdauth_request_head(&r, &b) == 0);
	out[b.len] = 0;
	/* No Host: no X-Forwarded-Host. */
	CHECK_EQ_STR(out, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Method: GET\r\n"
			  "X-Forwarded-Proto: https\r\nX-Forwarded-Uri: /\r\n"
			  "X-Forwarded-For: ::1\r\nConnection: close\r\n\r\n");
}

static int response(const char *raw, uint64_t body, bool close, int minor, char *out, size_t cap)
{
	struct http_limits lim;
	http_limits_default(&lim);
	struct http_response res;
	struct http_header hdr[16];
	http_response_init(&res, hdr, 16, HTTP_M_GET);
	if (http_parse_response(&res, raw, strlen(raw), &lim) <= 0)
		return -1;
	struct buf b;
	buf_init(&b, out, cap - 1);
	int rc = proxy_fwdauth_response_head(&res, body, close, minor, &b);
	if (!rc)
		out[b.len] = 0;
	return rc;
}

static void response_heads(void)
{
	char out[1024];
	REQUIRE(response("HTTP/1.1 302 Moved\r\nLocation: /login\r\nSet-Cookie: a=1\r\n"
			 "Set-Cookie: b=2\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\n"
			 "Keep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n"
			 "Proxy-Authenticate: Basic\r\n\r\n",
			 9, false, 1, out, sizeof out) == 0);
	CHECK_EQ_STR(out, "HTTP/1.1 302 Found\r\nLocation: /login\r\nSet-Cookie: a=1\r\n"
			  "Set-Cookie: b=2\r\nContent-Length: 9\r\n\r\n");
	REQUIRE(response("HTTP/1.0 401 Nope\r\nWWW-Authenticate: Bearer\r\nContent-Length: "
			 "3\r\n\r\n",
			 3, true, 1, out, sizeof out) == 0);
	CHECK_EQ_STR(out, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\n"
			  "Content-Length: 3\r\nConnection: close\r\n\r\n");
	REQUIRE(response("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", 0, false, 0, out,
			 sizeof out) == 0);
	CHECK_EQ_STR(out, "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n"
			  "Connection: keep-alive\r\n\r\n");
	CHECK(response(
		      "HTTP/1.1 403 Forbidden\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
		      0, false, 1, out, 40) == -ERR_BUF_FULL);
}

TEST_MAIN(url_parse, request_head_untrusted, request_head_trusted, request_head_tls_and_minimal,
	  response_heads)
