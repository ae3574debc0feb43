/* Unit tests for proxy_secure.h (docs/internals/proxy-secure.md): the request check
 * (allowedHosts, hostsProxyHeaders, SSL detection, sslRedirect / sslTemporaryRedirect / sslHost,
 * sslForceHost, isDevelopment, untrusted X-Forwarded-*), the Location buffer at its boundary,
 * the response field set (STS / HPKP only on SSL, custom values, customResponseHeaders winning),
 * the exact bytes written, the upstream fields dropped and the Location rewrite. Options come
 * from real documents through proxy_table_load, so the JSON key spellings are checked too. */
#include "base/base_err.h"
#include "proxy/proxy_secure.h"
#include "test.h"

#define NTOK 4096
static json_tok toks_[NTOK];
static _Alignas(16) unsigned char tmem_[1 << 18];
static struct arena tarena_;

/* Load a document whose frontend 'f' has the headers object h (' for "). */
static const struct proxy_headers *load(const char *h)
{
	static char doc[8192];
	int n = snprintf(doc, sizeof doc,
			 "{'version':1,'revision':1,'entryPoints':{'http':{'address':':80'}},"
			 "'backends':{'b':{'servers':{'s':{'url':'http://10.0.0.1'}}}},"
			 "'frontends':{'f':{'backend':'b','routes':{'r':{'rule':'PathPrefix:/'}},"
			 "'headers':%s}}}",
			 h);
	if (n < 0 || (size_t)n >= sizeof doc)
		return NULL;
	for (int i = 0; i < n; i++)
		if (doc[i] == '\'')
			doc[i] = '"';
	struct proxy_limits lim;
	const struct proxy_table *t;
	struct proxy_cfg_err err;
	proxy_limits_default(&lim);
	arena_init(&tarena_, tmem_, sizeof tmem_);
	if (proxy_table_load(doc, (size_t)n, &lim, &tarena_, toks_, NTOK, &t, &err) != 0) {
		fprintf(stderr, "  load: %s\n", err.msg);
		return NULL;
	}
	return &t->fe[0].headers;
}

static struct http_header hdr_[8];

/* A request: host, target, TLS, then up to 3 "Name", "value" pairs (NULL ends). */
static struct proxy_secure_req req(const char *host, const char *target, bool tls, const char *n1,
				   const char *v1, const char *n2, const char *v2)
{
	struct proxy_secure_req r;
	memset(&r, 0, sizeof r);
	r.host = slice_from_cstr(host);
	r.target = slice_from_cstr(target);
	r.absolute = target[0] != '/' && target[0] != '*';
	r.tls = tls;
	r.trust_xf = true;
	r.hdr = hdr_;
	const char *nv[4] = {n1, v1, n2, v2};
	for (int i = 0; i < 2 && nv[2 * i]; i++) {
		hdr_[i].name = slice_from_cstr(nv[2 * i]);
		hdr_[i].value = slice_from_cstr(nv[2 * i + 1]);
		r.nhdr++;
	}
	return r;
}

static char loc_[256];

static int check(const struct proxy_headers *h, struct proxy_secure_req r,
		 struct proxy_secure_verdict *v)
{
	int rc = proxy_secure_check(h, &r, loc_, sizeof loc_, v);
	loc_[v->status == 301 || v->status == 307 ? v->location_len : 0] = 0;
	return rc;
}

static void allowed_hosts(void)
{
	const struct proxy_headers *h = load("{'allowedHosts':['a.com','b.com:8080','x^@.io']}");
	REQUIRE(h && h->secure);
	struct proxy_secure_verdict v;
	CHECK_EQ_INT(check(h, req("a.com", "/", false, NULL, NULL, NULL, NULL), &v), 0);
	CHECK_EQ_INT(v.status, 0);
	check(h, req("A.Com", "/", false, NULL, NULL, NULL, NULL), &v); /* case-insensitive */
	CHECK_EQ_INT(v.status, 0);
	check(h, req("b.com:8080", "/", false, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 0);
	check(h, req("b.com", "/", false, NULL, NULL, NULL, NULL), &v); /* the port counts */
	CHECK_EQ_INT(v.status, 500);
	check(h, req("a.com:80", "/", false, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 500);
	check(h, req("evil.com", "/", true, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 500);
	check(h, req("", "/", false, NULL, NULL, NULL, NULL), &v); /* no Host at all */
	CHECK_EQ_INT(v.status, 500);
	check(h, req("a.co", "/", false, NULL, NULL, NULL, NULL), &v); /* prefix only */
	CHECK_EQ_INT(v.status, 500);
	/* Only letters fold: ^ is not ~, @ is not ` (both differ by 0x20). */
	check(h, req("X^@.IO", "/", false, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 0);
	check(h, req("x~@.io", "/", false, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 500);
	check(h, req("x^`.io", "/", false, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 500);

	h = load("{'allowedHosts':['a.com'],'isDevelopment':true}");
	REQUIRE(h);
	check(h, req("evil.com", "/", false, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 0);
}

static void hosts_proxy_headers(void)
{
	const struct proxy_headers *h = load(
		"{'allowedHosts':['pub.com'],'hostsProxyHeaders':['X-Forwarded-Host','X-Host']}");
	REQUIRE(h);
	struct proxy_secure_verdict v;
	check(h, req("internal", "/", false, "x-forwarded-host", "pub.com", NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 0);
	check(h, req("internal", "/", false, "X-Host", "pub.com", NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 0);
	/* The first non-empty one in the configured order wins. */
	check(h, req("pub.com", "/", false, "X-Host", "evil.com", "X-Forwarded-Host", ""), &v);
	CHECK_EQ_INT(v.status, 500);
	check(h, req("pub.com", "/", false, "X-Host", "pub.com", "X-Forwarded-Host", "evil"), &v);
	CHECK_EQ_INT(v.status, 500);
	check(h, req("internal", "/", false, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 500);
	/* An untrusted peer's X-Forwarded-* never reach secure (forwardedHeaders). */
	struct proxy_secure_req r =
		req("internal", "/", false, "X-Forwarded-Host", "pub.com", NULL, NULL);
	r.trust_xf = false;
	proxy_secure_check(h, &r, loc_, sizeof loc_, &v);
	CHECK_EQ_INT(v.status, 500);
	r = req("internal", "/", false, "X-Host", "pub.com", NULL, NULL);
	r.trust_xf = false; /* other names are not affected */
	proxy_secure_check(h, &r, loc_, sizeof loc_, &v);
	CHECK_EQ_INT(v.status, 0);

	/* The resolved host is the redirect's host too. */
	h = load("{'sslRedirect':true,'hostsProxyHeaders':['X-Host']}");
	REQUIRE(h);
	check(h, req("internal:81", "/p?q=1", false, "X-Host", "pub.com", NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 301);
	CHECK_EQ_STR(loc_, "https://pub.com/p?q=1");
}

static void ssl_redirect(void)
{
	const struct proxy_headers *h =
		load("{'sslRedirect':true,'sslProxyHeaders':{'X-Forwarded-Proto':'https'}}");
	REQUIRE(h && h->ssl_redirect);
	struct proxy_secure_verdict v;
	CHECK_EQ_INT(check(h, req("a.com:8000", "/x/y?z=1&w", false, NULL, NULL, NULL, NULL), &v),
		     0);
	CHECK_EQ_INT(v.status, 301);
	CHECK(!v.ssl);
	CHECK_EQ_STR(loc_, "https://a.com:8000/x/y?z=1&w");
	check(h, req("a.com", "/", true, NULL, NULL, NULL, NULL), &v); /* TLS: no redirect */
	CHECK_EQ_INT(v.status, 0);
	CHECK(v.ssl);
	check(h, req("a.com", "/", false, "x-forwarded-proto", "https", NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 0);
	CHECK(v.ssl);
	/* Values compare exactly (Go's ==), and only the first field of a name counts. */
	check(h, req("a.com", "/", false, "X-Forwarded-Proto", "HTTPS", NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 301);
	check(h,
	      req("a.com", "/", false, "X-Forwarded-Proto", "http", "X-Forwarded-Proto", "https"),
	      &v);
	CHECK_EQ_INT(v.status, 301);
	/* Untrusted peer: its X-Forwarded-Proto was removed before secure looked. */
	struct proxy_secure_req r =
		req("a.com", "/", false, "X-Forwarded-Proto", "https", NULL, NULL);
	r.trust_xf = false;
	proxy_secure_check(h, &r, loc_, sizeof loc_, &v);
	CHECK_EQ_INT(v.status, 301);
	/* Absolute-form targets: an https one is SSL; the path part is kept. */
	check(h, req("a.com", "https://a.com/p", false, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 0);
	check(h, req("b.com", "http://b.com/p?q", false, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 301);
	CHECK_EQ_STR(loc_, "https://b.com/p?q");
	check(h, req("b.com", "http://b.com", false, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_STR(loc_, "https://b.com");

	h = load("{'sslRedirect':true,'sslTemporaryRedirect':true,'sslHost':'secure.a.com'}");
	REQUIRE(h);
	check(h, req("a.com", "/login", false, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 307);
	CHECK_EQ_STR(loc_, "https://secure.a.com/login");
	check(h, req("a.com", "/login", true, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 0); /* SSL with another host: only sslForceHost redirects */

	h = load("{'sslRedirect':true,'isDevelopment':true}");
	REQUIRE(h);
	check(h, req("a.com", "/", false, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 0);
	h = load("{'sslTemporaryRedirect':true}"); /* without sslRedirect: nothing */
	REQUIRE(h && h->secure);
	check(h, req("a.com", "/", false, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 0);
}

static void ssl_force_host(void)
{
	const struct proxy_headers *h = load("{'sslForceHost':true,'sslHost':'www.a.com'}");
	REQUIRE(h);
	struct proxy_secure_verdict v;
	check(h, req("a.com", "/p?x", true, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 301);
	CHECK_EQ_STR(loc_, "https://www.a.com/p?x");
	check(h, req("www.a.com", "/p", true, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 0);
	check(h, req("WWW.a.com", "/p", true, NULL, NULL, NULL, NULL), &v); /* exact compare */
	CHECK_EQ_INT(v.status, 301);
	check(h, req("a.com", "/p", false, NULL, NULL, NULL, NULL), &v); /* plain too */
	CHECK_EQ_INT(v.status, 301);
	h = load("{'sslForceHost':true,'sslHost':'www.a.com','sslTemporaryRedirect':true,"
		 "'isDevelopment':true}");
	REQUIRE(h);
	check(h, req("a.com", "/", true, NULL, NULL, NULL, NULL), &v); /* not a dev switch */
	CHECK_EQ_INT(v.status, 307);
	h = load("{'sslForceHost':true}"); /* no sslHost: the host is its own */
	REQUIRE(h);
	check(h, req("a.com", "/", true, NULL, NULL, NULL, NULL), &v);
	CHECK_EQ_INT(v.status, 0);
}

/* The Location must fit the caller's buffer: just fits, one byte short. */
static void location_cap(void)
{
	const struct proxy_headers *h = load("{'sslRedirect':true}");
	REQUIRE(h);
	struct proxy_secure_req r = req("h.io", "/abc", false, NULL, NULL, NULL, NULL);
	struct proxy_secure_verdict v;
	char out[16]; /* "https://h.io/abc" is 16 */
	memset(out, 'x', sizeof out);
	CHECK_EQ_INT(proxy_secure_check(h, &r, out, 16, &v), 0);
	CHECK_EQ_INT(v.status, 301);
	CHECK_EQ_MEM(out, v.location_len, "https://h.io/abc");
	CHECK_EQ_INT(proxy_secure_check(h, &r, out, 15, &v), -ERR_BUF_FULL);
}

static void response_mask(void)
{
	const struct proxy_headers *h =
		load("{'stsSeconds':31536000,'stsIncludeSubdomains':true,'stsPreload':true,"
		     "'frameDeny':true,'contentTypeNosniff':true,'browserXssFilter':true,"
		     "'publicKey':'pin-sha256=\\'x\\'; max-age=5','contentSecurityPolicy':"
		     "'default-src \\'self\\'','referrerPolicy':'no-referrer','sslHost':'s.io'}");
	REQUIRE(h);
	unsigned all = PROXY_SEC_STS | PROXY_SEC_FRAME | PROXY_SEC_NOSNIFF | PROXY_SEC_XSS |
		       PROXY_SEC_HPKP | PROXY_SEC_CSP | PROXY_SEC_REFERRER | PROXY_SEC_LOCATION;
	CHECK_EQ_INT(proxy_secure_resp_mask(h, true), all);
	CHECK_EQ_INT(proxy_secure_resp_mask(h, false),
		     all & ~(PROXY_SEC_STS | PROXY_SEC_HPKP | PROXY_SEC_LOCATION));
	h = load("{'stsSeconds':60,'forceSTSHeader':true}");
	REQUIRE(h);
	CHECK_EQ_INT(proxy_secure_resp_mask(h, false), PROXY_SEC_STS);
	h = load("{'stsSeconds':60,'forceSTSHeader':true,'publicKey':'k','isDevelopment':true}");
	REQUIRE(h);
	CHECK_EQ_INT(proxy_secure_resp_mask(h, true), 0);
	h = load("{'forceSTSHeader':true}"); /* no max-age: no header */
	REQUIRE(h);
	CHECK_EQ_INT(proxy_secure_resp_mask(h, true), 0);
	h = load("{'customFrameOptionsValue':'SAMEORIGIN','customBrowserXSSValue':'0'}");
	REQUIRE(h);
	CHECK_EQ_INT(proxy_secure_resp_mask(h, false), PROXY_SEC_FRAME | PROXY_SEC_XSS);
}

static void response_put(void)
{
	const struct proxy_headers *h =
		load("{'stsSeconds':31536000,'stsIncludeSubdomains':true,'stsPreload':true,"
		     "'frameDeny':true,'contentTypeNosniff':true,'browserXssFilter':true,"
		     "'publicKey':'pin-sha256=\\'x\\'','contentSecurityPolicy':'default-src',"
		     "'referrerPolicy':'no-referrer'}");
	REQUIRE(h);
	char mem[1024];
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	const unsigned ssl = PROXY_SECTX_ON | PROXY_SECTX_SSL, plain = PROXY_SECTX_ON;
	REQUIRE(proxy_secure_resp_put(h, ssl, NULL, 0, NULL, 0, &b) == 0);
	const char *want = "Strict-Transport-Security: max-age=31536000; includeSubDomains; "
			   "preload\r\n"
			   "X-Frame-Options: DENY\r\n"
			   "X-Content-Type-Options: nosniff\r\n"
			   "X-XSS-Protection: 1; mode=block\r\n"
			   "Public-Key-Pins: pin-sha256=\"x\"\r\n"
			   "Content-Security-Policy: default-src\r\n"
			   "Referrer-Policy: no-referrer\r\n";
	CHECK_EQ_MEM(b.data, b.len, want);
	/* Exactly enough room, then one byte less: all or nothing. */
	size_t need = strlen(want);
	buf_init(&b, mem, need);
	CHECK_EQ_INT(proxy_secure_resp_put(h, ssl, NULL, 0, NULL, 0, &b), 0);
	CHECK_EQ_INT(b.len, need);
	buf_init(&b, mem, need - 1);
	CHECK_EQ_INT(proxy_secure_resp_put(h, ssl, NULL, 0, NULL, 0, &b), -ERR_BUF_FULL);
	CHECK_EQ_INT(b.len, 0);

	/* Custom values; customResponseHeaders names are left to the caller. */
	h = load("{'stsSeconds':5,'customFrameOptionsValue':'SAMEORIGIN','customBrowserXSSValue':'"
		 "0',"
		 "'frameDeny':true,'browserXssFilter':true,'contentTypeNosniff':true,"
		 "'customResponseHeaders':{'x-content-type-options':''}}");
	REQUIRE(h);
	buf_init(&b, mem, sizeof mem);
	REQUIRE(proxy_secure_resp_put(h, plain, NULL, 0, h->response, h->nresponse, &b) == 0);
	CHECK_EQ_MEM(b.data, b.len, "X-Frame-Options: SAMEORIGIN\r\nX-XSS-Protection: 0\r\n");
	buf_init(&b, mem, sizeof mem);
	REQUIRE(proxy_secure_resp_put(h, ssl, NULL, 0, NULL, 0, &b) == 0);
	CHECK_EQ_MEM(b.data, b.len,
		     "Strict-Transport-Security: max-age=5\r\nX-Frame-Options: SAMEORIGIN\r\n"
		     "X-Content-Type-Options: nosniff\r\nX-XSS-Protection: 0\r\n");
}

/* Response fields "Name: value" (NULL ends) through mark, a copy loop that skips hop fields
 * (as proxy_fwd_response_head's), and put: the head's field lines. */
static const char *resp(const struct proxy_headers *h, bool ssl, const char *const *f)
{
	static char out[1024];
	static char tmp[8][64];
	struct http_header hd[8];
	size_t n = 0;
	for (; f[n]; n++) {
		snprintf(tmp[n], sizeof tmp[n], "%s", f[n]);
		char *colon = strchr(tmp[n], ':');
		*colon = 0;
		hd[n] = (struct http_header){.name = slice_from_cstr(tmp[n]),
					     .value = slice_from_cstr(colon + 2)};
	}
	hd[0].hop = 1; /* the first field always stands for a hop-by-hop one */
	unsigned sec = PROXY_SECTX_ON | (ssl ? PROXY_SECTX_SSL : 0);
	proxy_secure_resp_mark(h, sec, hd, n);
	struct buf b;
	buf_init(&b, out, sizeof out - 1);
	for (size_t i = 0; i < n; i++)
		if (!hd[i].hop) {
			buf_append_slice(&b, hd[i].name);
			buf_append_cstr(&b, ": ");
			buf_append_slice(&b, hd[i].value);
			buf_append_cstr(&b, "\r\n");
		}
	buf_append_cstr(&b, "|");
	if (proxy_secure_resp_put(h, sec, hd, n, h->response, h->nresponse, &b) != 0)
		return "BUF_FULL";
	out[b.len] = 0;
	return out;
}

static void response_fields(void)
{
	const struct proxy_headers *h =
		load("{'stsSeconds':5,'frameDeny':true,'referrerPolicy':'same-origin',"
		     "'sslHost':'s.io'}");
	REQUIRE(h);
	const char *up[] = {"Connection-Named: x",
			    "x-frame-options: SAMEORIGIN",
			    "Strict-Transport-Security: max-age=1",
			    "REFERRER-POLICY: x",
			    "X-Content-Type-Options: nosniff",
			    "X-Frame-Option: y",
			    "Content-Type: text/html",
			    NULL};
	CHECK_EQ_STR(resp(h, true, up),
		     "X-Content-Type-Options: nosniff\r\n"
		     "X-Frame-Option: y\r\nContent-Type: text/html\r\n|"
		     "Strict-Transport-Security: max-age=5\r\n"
		     "X-Frame-Options: DENY\r\nReferrer-Policy: same-origin\r\n");
	/* Not SSL: no STS of ours, so the upstream's passes. */
	CHECK_EQ_STR(resp(h, false, up),
		     "Strict-Transport-Security: max-age=1\r\n"
		     "X-Content-Type-Options: nosniff\r\n"
		     "X-Frame-Option: y\r\nContent-Type: text/html\r\n|"
		     "X-Frame-Options: DENY\r\nReferrer-Policy: same-origin\r\n");
	/* Location: http://<sslHost> and http://<sslHost>/... on SSL requests become https;
	 * the first Location decides and the rewritten one replaces them all. */
	h = load("{'sslHost':'s.io','sslForceHost':true}");
	REQUIRE(h);
	const char *l1[] = {"X: 1", "Location: http://s.io/a?b", "Location: http://x/", NULL};
	CHECK_EQ_STR(resp(h, true, l1), "|Location: https://s.io/a?b\r\n");
	const char *l2[] = {"X: 1", "location: http://s.io", NULL};
	CHECK_EQ_STR(resp(h, true, l2), "|location: https://s.io\r\n");
	CHECK_EQ_STR(resp(h, false, l2), "location: http://s.io\r\n|"); /* plain request */
	const char *l3[] = {"X: 1", "Location: http://s.iox/", "Location: http://s.io/", NULL};
	CHECK_EQ_STR(resp(h, true, l3), "Location: http://s.iox/\r\nLocation: http://s.io/\r\n|");
	const char *l4[] = {"X: 1", "Location: https://s.io/", "Location: /rel", NULL};
	CHECK_EQ_STR(resp(h, true, l4), "Location: https://s.io/\r\nLocation: /rel\r\n|");
	const char *l5[] = {"Location: http://s.io/", "Location: http://other/", NULL};
	CHECK_EQ_STR(resp(h, true, l5), "Location: http://other/\r\n|"); /* a hop one is not */
	/* customResponseHeaders name Location: theirs, not ours. */
	h = load(
		"{'sslHost':'s.io','sslForceHost':true,'customResponseHeaders':{'Location':'/c'}}");
	REQUIRE(h);
	CHECK_EQ_STR(resp(h, true, l2), "|");
}

TEST_MAIN(allowed_hosts, hosts_proxy_headers, ssl_redirect, ssl_force_host, location_cap,
	  response_mask, response_put, response_fields)
