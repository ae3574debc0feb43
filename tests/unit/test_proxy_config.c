/* Unit tests for proxy_config.h: loading and validating routing documents (the golden ones
 * under tests/golden/routing and generated ones), every cap just under and just over, invalid
 * documents each rejected with the key named and the arena rolled back, arena faults, the
 * worst-case size bound, priorities, routing and redirects. PROXY_BENCH=1 prints matching
 * throughput for 100 frontends. */
#include "base/base_buf.h"
#include "base/base_err.h"
#include "proxy/proxy_config.h"
#include "test.h"

#include <time.h>

/* Test certificates (generated with openssl for these tests only): an EC P-256 pair, a second
 * EC key that does not match, an RSA pair and a CA certificate. */
static const char CERT[] = "-----BEGIN CERTIFICATE-----\n"
			   "MIIBijCCATGgAwIBAgIUSqpqFonn2A8ObFBhVrNcFOfUExMwCgYIKoZIzj0EAwIw\n"
			   "GjEYMBYGA1UEAwwPd3d3LmV4YW1wbGUuY29tMCAXDTI2MTEyNjIzMTExMVoYDzIx\n"
			   "MjYxMTAyMjMxMTExWjAaMRgwFgYDVQQDDA93d3cuZXhhbXBsZS5jb20wWTATBgcq\n"
			   "hkjOPQIBBggqhkjOPQMBBwNCAAT5VvN0tUQPpT//+IdsD4DxYZoEYqwIh9qZo1ri\n"
			   "btA9ggPkNrzItyTa/lDjraM0/a6mhrKSdjecd28b2FvfgYEFo1MwUTAdBgNVHQ4E\n"
			   "FgQUnUy4B/NLSc8uei3G76LsJaszPiYwHwYDVR0jBBgwFoAUnUy4B/NLSc8uei3G\n"
			   "76LsJaszPiYwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiBzGYdU\n"
			   "xYx3Xdzsy9dc9XEnUQFn2xk4pUnoGxfZqian8AIgQDZXtDFpcetcdGw/E78yjQms\n"
			   "TyMyvy+ypAFdkhhZyhY=\n"
			   "-----END CERTIFICATE-----\n";
static const char KEY[] = "-----BEGIN EC PRIVATE KEY-----\n"
			  "MHcCAQEEIPMdYPgXo2/KIqzw5anf1WU2Ll/TOpr1CLXQNn4oB/GDoAoGCCqGSM49\n"
			  "AwEHoUQDQgAE+VbzdLVED6U///iHbA+A8WGaBGKsCIfamaNa4m7QPYID5Da8yLck\n"
			  "2v5Q462jNP2upoayknY3nHdvG9hb34GBBQ==\n"
			  "-----END EC PRIVATE KEY-----\n";
static const char KEY2[] = "-----BEGIN EC PRIVATE KEY-----\n"
			   "MHcCAQEEII0fR29FW3vQLcvrIm1Xq6gVqO2Nd7RfpkeuvmBKk23moAoGCCqGSM49\n"
			   "AwEHoUQDQgAEkqBTUmoNQZ+YvXd/UNj3vyo13PV1iEKCirUGMm9NJaCtiLcgfo54\n"
			   "nE1FB6yJ1aCs2L2Dp5Sa0Lks8u4SHzTLBw==\n"
			   "-----END EC PRIVATE KEY-----\n";
static const char RSACERT[] = "-----BEGIN CERTIFICATE-----\n"
			      "MIICEjCCAXugAwIBAgIUZ7/EFqBDjBoONFMJx/xTil7smq4wDQYJKoZIhvcNAQEL\n"
			      "BQAwGjEYMBYGA1UEAwwPcnNhLmV4YW1wbGUuY29tMCAXDTI2MTEyNjIzMTE0NFoY\n"
			      "DzIxMjYxMTAyMjMxMTQ0WjAaMRgwFgYDVQQDDA9yc2EuZXhhbXBsZS5jb20wgZ8w\n"
			      "DQYJKoZIhvcNAQEBBQADgY0AMIGJAoGBAKacr7dDWRfFik4mG+xQCnRCH3mhSCvi\n"
			      "aW4Cfl2ckN0dyTCNmcIRZWNQdOWLt+6mH+rIsdl0LKv06LVy71ou7nZYDJZz10FB\n"
			      "HdXmh7J8TfkLcw+tSfSoucBk6Sw3Dpd5r0mekuni0Ei14nCbMS2kGPFj3iKHI4tZ\n"
			      "Ky1iQw77kJTdAgMBAAGjUzBRMB0GA1UdDgQWBBQWLKSQAYZav70ttDHhU4pAb/8h\n"
			      "4jAfBgNVHSMEGDAWgBQWLKSQAYZav70ttDHhU4pAb/8h4jAPBgNVHRMBAf8EBTAD\n"
			      "AQH/MA0GCSqGSIb3DQEBCwUAA4GBADWOA29f2+eQdodpnmkGU/uA2OeYwSy+y/sa\n"
			      "+nRqxlpPRhqNSp+0YcxPhYNBVAIcrWXXHZvr6MUUrtdiP1o8IK9ZX6rpLxDsPklm\n"
			      "NEBLViJONG9RzkxX+rS6prXUVpNP/CYv9dxfts74eaLIHM4Ezz82A/it2jvdv25+\n"
			      "QVA5H9xV\n"
			      "-----END CERTIFICATE-----\n";
static const char RSAKEY[] = "-----BEGIN PRIVATE KEY-----\n"
			     "MIICdQIBADANBgkqhkiG9w0BAQEFAASCAl8wggJbAgEAAoGBAKacr7dDWRfFik4m\n"
			     "G+xQCnRCH3mhSCviaW4Cfl2ckN0dyTCNmcIRZWNQdOWLt+6mH+rIsdl0LKv06LVy\n"
			     "71ou7nZYDJZz10FBHdXmh7J8TfkLcw+tSfSoucBk6Sw3Dpd5r0mekuni0Ei14nCb\n"
			     "MS2kGPFj3iKHI4tZKy1iQw77kJTdAgMBAAECgYBxJ0bbQt0WHO3iR1V9d5qx/Fpe\n"
			     "A5/9VeZedUkXEIb99QW3eOOs/p2KBpFteCdx59cTYDwRQCo6mrkUyjsuV2NRWbjY\n"
			     "0J6L09I137WlFrFiXaguDDjKTG5B7Zd3D4Fg3Xki10jGU2ca2TURAPd0/1Le1PT9\n"
			     "eFcy4IaaUduUUpKqTQJBANQoZAUdaLB+vTAJVHTC737H0qm+oolZ3tUjfM4bicPd\n"
			     "//1eI8aoPTTC7uXBb6QD/Bxo+5VB/53CJDFVHm+HjuMCQQDJCtPlUqRAaKc4y07o\n"
			     "DNWYOgBq/odtcy56rzWzFer7jmToSAzEl0TRV33ybJ6HULj62MMuPxhYGYDG1c4A\n"
			     "ctk/AkBtiAjTZzKEZHpyEW8L9RRGhQ2q2yP4+3AC5BZsJmWCvNuLyI1546Pt2HIU\n"
			     "JkDoEbKYTE8O6Qr6PKAI5CQZeof3AkAunyIwhg+tGBffZdZwnblSyfCa31fMm+9l\n"
			     "aAhN9YE+wPDJpRvA40uEOIPumh3RR3j+QxJQQTWGCLQCaEaTeA7FAkBn0lQUs2df\n"
			     "jf3ES/sbiUkSE15Xp4xAjDDek0r9OUuxkb+DzkIrGC2idbegraNDtPTCE4vdQL1Q\n"
			     "TjnIu8u+a9Ng\n"
			     "-----END PRIVATE KEY-----\n";
static const char CA[] = "-----BEGIN CERTIFICATE-----\n"
			 "MIIBkDCCATWgAwIBAgIUZx6S2oVm0DJjg/Y0i7eFgalUDGswCgYIKoZIzj0EAwIw\n"
			 "HDEaMBgGA1UEAwwRRXhhbXBsZSBDbGllbnQgQ0EwIBcNMjYxMTI2MjMxMTQ0WhgP\n"
			 "MjEyNjExMDIyMzExNDRaMBwxGjAYBgNVBAMMEUV4YW1wbGUgQ2xpZW50IENBMFkw\n"
			 "EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEbAwHFTa0j53ASXbKUFj0tdSAKkeoNR1N\n"
			 "UYSJbgpQLY6RHpszZ50vB8vL7XvsB48y9PB7glN2PTFqtodfuS5A9KNTMFEwHQYD\n"
			 "VR0OBBYEFEmOuSJIoioYP/EndpMiqKtluHNYMB8GA1UdIwQYMBaAFEmOuSJIoioY\n"
			 "P/EndpMiqKtluHNYMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIh\n"
			 "ANoyIoADXBUHgpKeWp8Z012U8JYdqP3AuoBPOCahf2uyAiEApuqCrtIr48BVDt3T\n"
			 "t71RzzW9BfMjCP9buRhxiO4MPvc=\n"
			 "-----END CERTIFICATE-----\n";

#define NTOK 65536
static json_tok toks_[NTOK];
static unsigned char *mem_;
static size_t memcap_;
static struct arena arena_;
static struct proxy_cfg_err err_;

/* A big arena, reused by every case. */
static void arena_fresh(void)
{
	if (!mem_) {
		memcap_ = 64u << 20;
		mem_ = malloc(memcap_);
	}
	arena_init(&arena_, mem_, memcap_);
}

/* Expand a document template: ' becomes ", @CERT@ @KEY@ @KEY2@ @RSACERT@ @RSAKEY@ @CA@ become
 * the JSON-escaped PEM texts. Returns an exact-size heap copy (freed by the next call). */
static char *doc_;
static size_t doclen_;
static const char *expand(const char *t)
{
	static const struct {
		const char *tag, *pem;
	} subst[] = {{"@CERT@", CERT},       {"@KEY@", KEY},       {"@KEY2@", KEY2},
		     {"@RSACERT@", RSACERT}, {"@RSAKEY@", RSAKEY}, {"@CA@", CA}};
	size_t cap = strlen(t) * 2 + 65536, n = 0;
	char *out = malloc(cap);
	while (*t) {
		size_t k;
		for (k = 0; k < sizeof subst / sizeof subst[0]; k++)
			if (strncmp(t, subst[k].tag, strlen(subst[k].tag)) == 0)
				break;
		if (k < sizeof subst / sizeof subst[0]) {
			for (const char *p = subst[k].pem; *p; p++) {
				if (*p == '\n') {
					out[n++] = '\\';
					out[n++] = 'n';
				} else {
					out[n++] = *p;
				}
			}
			t += strlen(subst[k].tag);
		} else {
			out[n++] = *t == '\'' ? '"' : *t;
			t++;
		}
	}
	free(doc_);
	doc_ = malloc(n ? n : 1);
	memcpy(doc_, out, n);
	doclen_ = n;
	free(out);
	return doc_;
}

static int load_raw(const char *d, size_t n, const struct proxy_limits *lim,
		    const struct proxy_table **t)
{
	arena_fresh();
	return proxy_table_load(d, n, lim, &arena_, toks_, NTOK, t, &err_);
}

static int load_lim(const char *tmpl, const struct proxy_limits *lim, const struct proxy_table **t)
{
	expand(tmpl);
	return load_raw(doc_, doclen_, lim, t);
}

static int load(const char *tmpl, const struct proxy_table **t)
{
	struct proxy_limits lim;
	proxy_limits_default(&lim);
	return load_lim(tmpl, &lim, t);
}

static char *file_;
static size_t filelen_;
static int load_file(const char *path, const struct proxy_table **t)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -ERR_NOTFOUND;
	static char tmp[1 << 20];
	size_t n = fread(tmp, 1, sizeof tmp, f);
	fclose(f);
	free(file_);
	file_ = malloc(n);
	memcpy(file_, tmp, n);
	filelen_ = n;
	struct proxy_limits lim;
	proxy_limits_default(&lim);
	return load_raw(file_, n, &lim, t);
}

/* Route one request on entry point `ep` (by name); returns the frontend name or "404". */
static const char *route(const struct proxy_table *t, const char *ep, const char *method,
			 const char *host, const char *path, const char *query,
			 const struct http_header *hdr, size_t nhdr, struct proxy_match *m)
{
	struct proxy_match mm;
	int e = proxy_table_entrypoint(t, slice_from_cstr(ep));
	if (e < 0)
		return "no such entry point";
	struct proxy_req_view v = {slice_from_cstr(method),
				   slice_from_cstr(host),
				   slice_from_cstr(path),
				   slice_from_cstr(query ? query : ""),
				   hdr,
				   nhdr};
	if (!m)
		m = &mm;
	if (proxy_table_match(t, (uint32_t)e, &v, m) < 0)
		return "404";
	return t->fe[m->fe].name.p;
}

#define BASE_EP "'entryPoints':{'http':{'address':':80'}}"
#define BASE_BE "'backends':{'b':{'servers':{'s':{'url':'http://10.0.0.1'}}}}"
#define DOC(fe) "{'version':1,'revision':7," BASE_EP "," BASE_BE ",'frontends':{" fe "}}"

/* ---- whole documents ---------------------------------------------------------------------- */

static void limits_and_bound(void)
{
	struct proxy_limits lim, big;
	proxy_limits_default(&lim);
	CHECK_EQ_INT(lim.max_frontends, 1024);
	CHECK_EQ_INT(lim.max_entrypoints, 16);
	CHECK_EQ_INT(proxy_scratch_tokens(&lim), lim.max_tokens);
	size_t base = proxy_table_bytes(&lim);
	CHECK(base > lim.max_doc_bytes);
	/* Each limit raises the bound. */
	uint32_t *caps[] = {&big.max_entrypoints, &big.max_frontends,  &big.max_backends,
			    &big.max_servers,     &big.max_routes,     &big.max_matchers,
			    &big.max_regex_insts, &big.max_list_items, &big.max_tokens};
	for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
		big = lim;
		*caps[k] += 10;
		CHECK(proxy_table_bytes(&big) > base);
	}
	big = lim;
	big.max_doc_bytes += 100;
	CHECK(proxy_table_bytes(&big) > base);
	if (getenv("PROXY_BENCH"))
		printf("# proxy_table_bytes(defaults) = %zu\n", base);
}

static void minimal_document(void)
{
	const struct proxy_table *t;
	REQUIRE(load_file("tests/golden/routing/minimal.json", &t) == 0);
	CHECK_EQ_INT(t->revision, 1);
	CHECK_EQ_INT(t->nfe, 1);
	CHECK_EQ_INT(t->default_ep_mask, 1); /* absent: ["http"] */
	CHECK_EQ_STR(route(t, "http", "GET", "www.example.com", "/", NULL, NULL, 0, NULL), "web");
	CHECK_EQ_STR(route(t, "http", "GET", "example.com", "/", NULL, NULL, 0, NULL), "404");
	CHECK(t->bytes > 0 && t->bytes == arena_.used);
	CHECK_EQ_INT(t->srv[0].port, 8080);
	CHECK(t->srv[0].ip_literal);
}

static void realistic_document(void)
{
	const struct proxy_table *t;
	struct proxy_match m;
	struct http_header json = {SLICE_LIT("Accept"), SLICE_LIT("application/json"), 0, 0};
	struct http_header ws = {SLICE_LIT("Upgrade"), SLICE_LIT("websocket"), 0, 0};
	struct http_header prom = {SLICE_LIT("User-Agent"), SLICE_LIT("Prometheus/2.45"), 0, 0};
	int rc = load_file("tests/golden/routing/realistic.json", &t);
	if (rc)
		fprintf(stderr, "  %s\n", err_.msg);
	REQUIRE(rc == 0);
	CHECK(t->nfe >= 20 && t->nbe >= 10);
	CHECK_EQ_INT(t->nep, 4);
	CHECK_EQ_INT(t->revision, 42);
	struct {
		const char *ep, *method, *host, *path, *query;
		const struct http_header *h;
		const char *fe;
	} q[] = {
		{"http", "GET", "www.example.com", "/", NULL, NULL, "web"},
		{"https", "GET", "EXAMPLE.com:443", "/x", NULL, NULL, "web"},
		{"http", "GET", "www.example.com", "/app/main.js", NULL, NULL, "web-app"},
		{"http", "GET", "api.example.com", "/v1/users", NULL, NULL, "api"},
		{"http", "GET", "api.example.com", "/v2/users", NULL, NULL, "api-v2"},
		{"http", "DELETE", "api.example.com", "/admin/x", NULL, NULL, "api-admin"},
		{"http", "GET", "api.example.com", "/admin/x", NULL, NULL, "catchall"},
		{"http", "GET", "static.example.com", "/img/a.png", NULL, NULL, "static"},
		{"http", "GET", "static.example.com", "/css/a.css", NULL, NULL, "catchall"},
		{"http", "POST", "auth.example.com", "/login", NULL, NULL, "auth-login"},
		{"http", "GET", "auth.example.com", "/login", NULL, NULL, "auth"},
		{"http", "GET", "cdn-1.img.example.com", "/a", NULL, NULL, "images"},
		{"http", "GET", "search.example.com", "/", "q=traefik", NULL, "search"},
		{"http", "GET", "search.example.com", "/", "x=1", NULL, "catchall"},
		{"http", "GET", "search.example.com", "/", "q=1", &json, "search-json"},
		{"admin", "GET", "admin.example.com", "/", NULL, NULL, "admin"},
		{"http", "GET", "admin.example.com", "/", NULL, NULL, "catchall"},
		{"http", "GET", "billing.example.com", "/invoices/123/pdf", NULL, NULL, "billing"},
		{"http", "GET", "billing.example.com", "/invoices/abc", NULL, NULL, "catchall"},
		{"http", "GET", "old.example.com", "/blog/2024/post", NULL, NULL, "legacy-rx"},
		{"http", "GET", "old.example.com", "/about", NULL, NULL, "legacy"},
		{"http", "GET", "metrics.example.com", "/metrics", NULL, &prom, "metrics"},
		{"http", "GET", "ws.example.com", "/socket", NULL, &ws, "ws"},
		{"http", "GET", "example.org", "/x", NULL, NULL, "redirect-org"},
		{"http", "GET", "anything.test", "/ping", NULL, NULL, "ping"},
		{"http", "GET", "docs.example.com", "/docs", NULL, NULL, "docs"},
		{"https", "GET", "pay.example.com", "/", NULL, NULL, "pay"},
		{"http", "GET", "pay.example.com", "/", NULL, NULL, "catchall"},
		{"legacy", "GET", "www.example.com", "/", NULL, NULL, "404"},
	};
	for (size_t k = 0; k < sizeof q / sizeof q[0]; k++) {
		const char *got = route(t, q[k].ep, q[k].method, q[k].host, q[k].path, q[k].query,
					q[k].h, q[k].h ? 1 : 0, &m);
		if (strcmp(got, q[k].fe) != 0)
			TEST_FAIL_("%s %s %s%s on %s: %s, expected %s", q[k].method, q[k].host,
				   q[k].path, q[k].query ? q[k].query : "", q[k].ep, got, q[k].fe);
	}
	/* Rewrites through the matched frontend. */
	struct proxy_req_view v = {SLICE_LIT("GET"),
				   SLICE_LIT("api.example.com"),
				   SLICE_LIT("/v2/users/7"),
				   SLICE_LIT(""),
				   NULL,
				   0};
	struct proxy_req_ctx c;
	struct proxy_rewrite rw;
	char out[128];
	REQUIRE(proxy_table_match(t, 0, &v, &m) == 0);
	proxy_req_prepare(&c, &v);
	REQUIRE(proxy_rule_rewrite(&t->fe[m.fe].rule, &m.hit, &c, out, sizeof out, NULL, &rw) == 0);
	CHECK_EQ_MEM(rw.path.p, rw.path.len, "/internal/users/7");
	CHECK_EQ_MEM(rw.forwarded_prefix.p, rw.forwarded_prefix.len, "/v2");
	CHECK_EQ_STR(t->be[m.be].name.p, "api-v2");
}

static void realistic_details(void)
{
	const struct proxy_table *t;
	REQUIRE(load_file("tests/golden/routing/realistic.json", &t) == 0);
	const struct proxy_backend *b;
	const struct proxy_frontend *f;
	const struct proxy_entrypoint *e;
	/* Backends and servers. */
	b = &t->be[proxy_table_backend(t, SLICE_LIT("web"))];
	CHECK_EQ_INT(b->nservers, 3);
	CHECK_EQ_INT(t->srv[b->first_server].weight, 3);
	CHECK(b->health && b->hc_interval_ms == 10000 && b->hc_timeout_ms == 2000);
	CHECK_EQ_STR(b->hc_path.p, "/health");
	CHECK(!b->sticky && b->method == PROXY_LB_WRR && b->maxconn == 0);
	b = &t->be[proxy_table_backend(t, SLICE_LIT("api"))];
	CHECK(b->method == PROXY_LB_DRR && b->sticky);
	CHECK_EQ_STR(b->cookie_name.p, "_a033a"); /* "_" + SHA-1("api")[0..5) */
	CHECK(b->maxconn == 100 && b->maxconn_extractor == PROXY_EXTRACT_CLIENT_IP);
	CHECK(b->hc_port == 9100 && b->hc_interval_ms == 30000 && b->hc_timeout_ms == 5000);
	b = &t->be[proxy_table_backend(t, SLICE_LIT("static"))];
	CHECK_EQ_INT(t->srv[b->first_server].weight, 1); /* 0 is 1 */
	CHECK_EQ_MEM(t->srv[b->first_server].host.p, t->srv[b->first_server].host.len,
		     "static.internal");
	CHECK(!t->srv[b->first_server].ip_literal);
	CHECK(b->buffering && b->max_request_body == 1048576);
	CHECK_EQ_STR(b->retry_expression.p, "IsNetworkError() && Attempts() <= 2");
	b = &t->be[proxy_table_backend(t, SLICE_LIT("auth"))];
	CHECK_EQ_STR(b->cookie_name.p, "sess");
	CHECK(b->cookie_secure && b->cookie_http_only && b->cookie_same_site == PROXY_SAMESITE_LAX);
	CHECK_EQ_INT(t->srv[b->first_server].port, 80);
	b = &t->be[proxy_table_backend(t, SLICE_LIT("images"))];
	CHECK_EQ_MEM(t->srv[b->first_server].host.p, t->srv[b->first_server].host.len, "fd00::10");
	CHECK(t->srv[b->first_server].ip_literal && t->srv[b->first_server].port == 8080);
	b = &t->be[proxy_table_backend(t, SLICE_LIT("search"))];
	CHECK(b->hc_interval_ms == 90000 && b->nhc_headers == 1);
	CHECK_EQ_STR(b->hc_hostname.p, "search.internal");
	b = &t->be[proxy_table_backend(t, SLICE_LIT("admin"))];
	CHECK(t->srv[b->first_server].scheme == PROXY_SCHEME_HTTPS);
	b = &t->be[proxy_table_backend(t, SLICE_LIT("billing"))];
	CHECK(t->srv[b->first_server].scheme == PROXY_SCHEME_H2C && b->flush_interval_ms == 100);
	b = &t->be[proxy_table_backend(t, SLICE_LIT("legacy"))];
	CHECK(b->sticky);
	CHECK_EQ_STR(b->cookie_name.p, "_TRAEFIK_BACKEND");
	b = &t->be[proxy_table_backend(t, SLICE_LIT("api-v2"))];
	CHECK_EQ_STR(b->cb_expression.p, "NetworkErrorRatio() > 0.5");
	CHECK_EQ_INT(b->flush_interval_ms, -1);
	/* Frontends. */
	f = &t->fe[proxy_table_frontend(t, SLICE_LIT("web"))];
	CHECK(f->pass_host_header && f->headers.nrequest == 1 && f->headers.nresponse == 1);
	CHECK_EQ_STR(f->headers.response[0].name.p, "Server");
	CHECK_EQ_INT(f->headers.response[0].value.len, 0);
	f = &t->fe[proxy_table_frontend(t, SLICE_LIT("api"))];
	CHECK(!f->pass_host_header);
	f = &t->fe[proxy_table_frontend(t, SLICE_LIT("admin"))];
	CHECK(f->whitelist.n == 2 && f->whitelist.use_xff);
	CHECK(f->auth.enabled && f->auth.nbasic == 1 && f->auth.basic_remove_header);
	CHECK_EQ_STR(f->auth.header_field.p, "X-WebAuth-User");
	f = &t->fe[proxy_table_frontend(t, SLICE_LIT("api-admin"))];
	REQUIRE(f->nerrors == 1);
	CHECK(f->errors[0].status[0].lo == 500 && f->errors[0].status[0].hi == 599);
	CHECK_EQ_STR(t->be[f->errors[0].backend].name.p, "errors");
	CHECK(f->nratesets == 2 && f->ratelimit_extractor == PROXY_EXTRACT_CLIENT_IP);
	CHECK(f->ratesets[0].period_ms == 1000 && f->ratesets[1].period_ms == 60000);
	f = &t->fe[proxy_table_frontend(t, SLICE_LIT("secure"))];
	CHECK(f->headers.secure && f->headers.ssl_redirect && f->headers.sts_seconds == 31536000);
	CHECK(f->headers.frame_deny && f->headers.nallowed_hosts == 1);
	CHECK(f->pass_tls_client_cert ==
	      (PROXY_PTC_PEM | PROXY_PTC_NOT_AFTER | (1u << PROXY_PTC_SUBJECT) |
	       (1u << (PROXY_PTC_ISSUER + 4))));
	f = &t->fe[proxy_table_frontend(t, SLICE_LIT("redirect-org"))];
	CHECK(f->redirect.re != NULL && f->redirect.permanent && f->redirect.entrypoint == -1);
	f = &t->fe[proxy_table_frontend(t, SLICE_LIT("pay"))];
	CHECK(f->pass_tls_cert);
	/* Entry points. */
	e = &t->ep[proxy_table_entrypoint(t, SLICE_LIT("admin"))];
	CHECK(e->tls && e->ncerts == 1 && e->default_cert.cert.len > 0 && e->nclient_ca == 1);
	CHECK(e->min_version == PROXY_TLS12 && e->whitelist.n == 2 && e->port == 8443);
	CHECK(!e->any_addr && e->forwarded_headers.n == 1 && !e->forwarded_headers_insecure);
	e = &t->ep[proxy_table_entrypoint(t, SLICE_LIT("legacy"))];
	CHECK_EQ_STR(t->ep[e->redirect.entrypoint].name.p, "https");
	CHECK(e->redirect.permanent && e->port == 8080 && e->forwarded_headers_insecure);
	e = &t->ep[proxy_table_entrypoint(t, SLICE_LIT("http"))];
	CHECK(e->any_addr && e->port == 80 && !e->tls && e->redirect.entrypoint == -1);
	CHECK_EQ_INT(t->ncerts, 1);
	CHECK_EQ_INT(t->certs[0].ep_mask, (1u << 1) | (1u << 2));
	CHECK_EQ_INT(t->cert_pairs, 5);
}

static void priority_order(void)
{
	const struct proxy_table *t;
	REQUIRE(load(DOC("'zeta':{'backend':'b','routes':{'r':{'rule':'Host:a.com'}}},"
			 "'alpha':{'backend':'b','routes':{'r':{'rule':'Host:b.com'}}},"
			 "'long':{'backend':'b','routes':{'r':{'rule':'Host:a.com;Path:/'},"
			 "'r2':{'rule':'Method:GET'}}},"
			 "'top':{'backend':'b','priority':1000,'routes':{'r':{'rule':'Path:/'}}},"
			 "'low':{'backend':'b','priority':1,'routes':{'r':{'rule':'Host:a.com;Path:"
			 "/x'}}},"
			 "'mid':{'backend':'b','priority':10,'routes':{'r':{'rule':'Host:a.com'}}"
			 "}"),
		     &t) == 0);
	/* top (1000), long (17+10=27), alpha/zeta (10: tie -> name), mid (10 explicit: same
	 * priority, name "mid" sorts between), low (1). */
	static const char *want[] = {"top", "long", "alpha", "mid", "zeta", "low"};
	REQUIRE(t->nfe == 6);
	for (uint32_t i = 0; i < 6; i++)
		CHECK_EQ_STR(t->fe[i].name.p, want[i]);
	CHECK_EQ_INT(t->fe[1].priority, 27);
	CHECK(!t->fe[1].priority_set && t->fe[0].priority_set);
	CHECK_EQ_STR(route(t, "http", "GET", "a.com", "/", NULL, NULL, 0, NULL), "top");
	CHECK_EQ_STR(route(t, "http", "GET", "a.com", "/y", NULL, NULL, 0, NULL), "mid");
	CHECK_EQ_STR(route(t, "http", "GET", "a.com", "/x", NULL, NULL, 0, NULL), "mid");
	CHECK_EQ_STR(route(t, "http", "POST", "b.com", "/y", NULL, NULL, 0, NULL), "alpha");
	CHECK_EQ_STR(route(t, "http", "GET", "c.com", "/x", NULL, NULL, 0, NULL), "404");
	/* Same document, members in another order: same table order. */
	REQUIRE(load(DOC("'mid':{'backend':'b','priority':10,'routes':{'r':{'rule':'Host:a.com'}}},"
			 "'low':{'backend':'b','priority':1,'routes':{'r':{'rule':'Host:a.com;Path:"
			 "/x'}}},"
			 "'top':{'backend':'b','priority':1000,'routes':{'r':{'rule':'Path:/'}}},"
			 "'long':{'backend':'b','routes':{'r':{'rule':'Host:a.com;Path:/'},"
			 "'r2':{'rule':'Method:GET'}}},"
			 "'alpha':{'backend':'b','routes':{'r':{'rule':'Host:b.com'}}},"
			 "'zeta':{'backend':'b','routes':{'r':{'rule':'Host:a.com'}}}"),
		     &t) == 0);
	for (uint32_t i = 0; i < 6; i++)
		CHECK_EQ_STR(t->fe[i].name.p, want[i]);
	CHECK_EQ_INT(proxy_table_frontend(t, SLICE_LIT("zeta")), 4);
	CHECK_EQ_INT(proxy_table_frontend(t, SLICE_LIT("nope")), -ERR_NOTFOUND);
}

static void entry_point_sets(void)
{
	const struct proxy_table *t;
	static const char *doc =
		"{'version':1,'revision':1,'defaultEntryPoints':['web'],"
		"'entryPoints':{'web':{'address':':80'},'websecure':{'address':':443','tls':{}},"
		"'internal':{'address':'127.0.0.1:8081'}},"
		"'backends':{'b':{'servers':{}}},"
		"'frontends':{'a':{'backend':'b','routes':{'r':{'rule':'Host:a.com'}}},"
		"'s':{'backend':'b','entryPoints':['websecure','internal'],"
		"'routes':{'r':{'rule':'Host:s.com'}}}}}";
	REQUIRE(load(doc, &t) == 0);
	CHECK_EQ_STR(route(t, "web", "GET", "a.com", "/", NULL, NULL, 0, NULL), "a");
	CHECK_EQ_STR(route(t, "websecure", "GET", "a.com", "/", NULL, NULL, 0, NULL), "404");
	CHECK_EQ_STR(route(t, "websecure", "GET", "s.com", "/", NULL, NULL, 0, NULL), "s");
	CHECK_EQ_STR(route(t, "internal", "GET", "s.com", "/", NULL, NULL, 0, NULL), "s");
	CHECK_EQ_STR(route(t, "web", "GET", "s.com", "/", NULL, NULL, 0, NULL), "404");
	const struct proxy_entrypoint *e =
		&t->ep[proxy_table_entrypoint(t, SLICE_LIT("websecure"))];
	CHECK(e->tls && e->ncerts == 0 && e->default_cert.cert.len == 0); /* self-signed */
	CHECK_EQ_INT(e->nfe_order, 1);
	CHECK_EQ_INT(t->be[0].nservers, 0);
	struct proxy_match m;
	struct proxy_req_view v = {
		SLICE_LIT("GET"), SLICE_LIT("a.com"), SLICE_LIT("/"), SLICE_LIT(""), NULL, 0};
	CHECK_EQ_INT(proxy_table_match(t, 99, &v, &m), -ERR_NOTFOUND);
	/* No defaultEntryPoints and no "http": a frontend without entryPoints has none. */
	CHECK(load("{'version':1,'revision':1,'entryPoints':{'web':{'address':':80'}},"
		   "'backends':{'b':{}},'frontends':{'a':{'backend':'b',"
		   "'routes':{'r':{'rule':'Host:a'}}}}}",
		   &t) == -ERR_PROXY_CONFIG);
	CHECK(strstr(err_.msg, "frontends.a.entryPoints: none given") != NULL);
}

static void redirects(void)
{
	const struct proxy_table *t;
	static struct proxy_re_work w;
	char out[256];
	int status;
	REQUIRE(load_file("tests/golden/routing/realistic.json", &t) == 0);
	const struct proxy_entrypoint *e = &t->ep[proxy_table_entrypoint(t, SLICE_LIT("legacy"))];
	long n = proxy_redirect_url(t, &e->redirect, SLICE_LIT("GET"), SLICE_LIT(""),
				    SLICE_LIT("www.example.com:8080"), SLICE_LIT("/a?b=1"), &w, out,
				    sizeof out, &status);
	CHECK_EQ_MEM(out, n < 0 ? 0 : (size_t)n, "https://www.example.com/a?b=1");
	CHECK_EQ_INT(status, 301);
	n = proxy_redirect_url(t, &e->redirect, SLICE_LIT("POST"), SLICE_LIT(""),
			       SLICE_LIT("[::1]:8080"), SLICE_LIT(""), &w, out, sizeof out,
			       &status);
	CHECK_EQ_MEM(out, n < 0 ? 0 : (size_t)n, "https://[::1]/");
	CHECK_EQ_INT(status, 308);
	CHECK_EQ_INT(proxy_redirect_url(t, &e->redirect, SLICE_LIT("GET"), SLICE_LIT(""),
					SLICE_LIT("www.example.com"), SLICE_LIT("/a"), &w, out, 10,
					&status),
		     -ERR_BUF_FULL);
	const struct proxy_frontend *f = &t->fe[proxy_table_frontend(t, SLICE_LIT("redirect-org"))];
	n = proxy_redirect_url(t, &f->redirect, SLICE_LIT("GET"),
			       SLICE_LIT("http://example.org/docs/x?y=1"), SLICE_LIT("example.org"),
			       SLICE_LIT("/docs/x?y=1"), &w, out, sizeof out, &status);
	CHECK_EQ_MEM(out, n < 0 ? 0 : (size_t)n, "https://www.example.com/docs/x?y=1");
	CHECK_EQ_INT(status, 301);
	CHECK_EQ_INT(proxy_redirect_url(t, &f->redirect, SLICE_LIT("GET"),
					SLICE_LIT("http://other.org/"), SLICE_LIT("other.org"),
					SLICE_LIT("/"), &w, out, sizeof out, &status),
		     -ERR_NOTFOUND);
	/* A non-default port is kept; plain http target. */
	REQUIRE(load("{'version':1,'revision':1,'entryPoints':{'a':{'address':':80','redirect':"
		     "{'entryPoint':'b'}},'b':{'address':':8000'}},'backends':{},'frontends':{}}",
		     &t) == 0);
	n = proxy_redirect_url(t, &t->ep[0].redirect, SLICE_LIT("GET"), SLICE_LIT(""),
			       SLICE_LIT("h"), SLICE_LIT("/p"), &w, out, sizeof out, &status);
	CHECK_EQ_MEM(out, n < 0 ? 0 : (size_t)n, "http://h:8000/p");
	CHECK_EQ_INT(status, 302);
	CHECK_EQ_INT(proxy_redirect_url(t, &t->ep[1].redirect, SLICE_LIT("GET"), SLICE_LIT(""),
					SLICE_LIT("h"), SLICE_LIT("/p"), &w, out, sizeof out,
					&status),
		     -ERR_INVAL);
	/* No Host: the local address the client reached stands in (proxy_local_host). */
	struct proxy_ip ip;
	char lh[PROXY_LOCAL_HOST_MAX];
	REQUIRE(proxy_ip_parse(SLICE_LIT("127.0.0.1"), &ip) == 0);
	int hl = proxy_local_host(&ip, 8080, false, lh, sizeof lh);
	CHECK_EQ_MEM(lh, hl < 0 ? 0 : (size_t)hl, "127.0.0.1:8080");
	hl = proxy_local_host(&ip, 80, false, lh, sizeof lh);
	CHECK_EQ_MEM(lh, hl < 0 ? 0 : (size_t)hl, "127.0.0.1");
	hl = proxy_local_host(&ip, 80, true, lh, sizeof lh);
	CHECK_EQ_MEM(lh, hl < 0 ? 0 : (size_t)hl, "127.0.0.1:80");
	hl = proxy_local_host(&ip, 443, true, lh, sizeof lh);
	CHECK_EQ_MEM(lh, hl < 0 ? 0 : (size_t)hl, "127.0.0.1");
	n = proxy_redirect_url(t, &t->ep[0].redirect, SLICE_LIT("GET"), SLICE_LIT(""),
			       (struct slice){lh, (size_t)(hl < 0 ? 0 : hl)}, SLICE_LIT("/p?q"), &w,
			       out, sizeof out, &status);
	CHECK_EQ_MEM(out, n < 0 ? 0 : (size_t)n, "http://127.0.0.1:8000/p?q");
	REQUIRE(proxy_ip_parse(SLICE_LIT("::1"), &ip) == 0);
	hl = proxy_local_host(&ip, 8443, false, lh, sizeof lh);
	CHECK_EQ_MEM(lh, hl < 0 ? 0 : (size_t)hl, "[::1]:8443");
	n = proxy_redirect_url(t, &t->ep[0].redirect, SLICE_LIT("GET"), SLICE_LIT(""),
			       (struct slice){lh, (size_t)(hl < 0 ? 0 : hl)}, SLICE_LIT(""), &w,
			       out, sizeof out, &status);
	CHECK_EQ_MEM(out, n < 0 ? 0 : (size_t)n, "http://[::1]:8000/");
	hl = proxy_local_host(&ip, 80, false, lh, sizeof lh);
	CHECK_EQ_MEM(lh, hl < 0 ? 0 : (size_t)hl, "[::1]");
	/* An IPv4 client on a dual-stack socket: ::ffff:a.b.c.d is written as IPv4. */
	REQUIRE(proxy_ip_parse(SLICE_LIT("::ffff:10.1.2.3"), &ip) == 0);
	hl = proxy_local_host(&ip, 81, false, lh, sizeof lh);
	CHECK_EQ_MEM(lh, hl < 0 ? 0 : (size_t)hl, "10.1.2.3:81");
	REQUIRE(proxy_ip_parse(SLICE_LIT("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"), &ip) == 0);
	hl = proxy_local_host(&ip, 65535, true, lh, sizeof lh);
	CHECK_EQ_MEM(lh, hl < 0 ? 0 : (size_t)hl, "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535");
	CHECK_EQ_INT(proxy_local_host(&ip, 65535, true, lh, 10), -ERR_BUF_FULL);
}

/* ---- invalid documents -------------------------------------------------------------------- */

static void invalid_documents(void)
{
	static const struct {
		const char *doc;
		int rc;
		const char *msg;
	} cases[] = {
		{"[]", -ERR_PROXY_CONFIG, "expected a JSON object"},
		{"{'revision':1}", -ERR_PROXY_CONFIG, "version: required"},
		{"{'version':'1','revision':1}", -ERR_PROXY_CONFIG, "version: expected an integer"},
		{"{'version':2,'revision':1,'future':{}}", -ERR_PROXY_VERSION,
		 "version: version 2 is not supported"},
		{"{'version':1}", -ERR_PROXY_CONFIG, "revision: required"},
		{"{'version':1,'revision':-1}", -ERR_PROXY_CONFIG,
		 "revision: expected an unsigned"},
		{"{'version':1,'revision':1,'frontend':{}}", -ERR_PROXY_CONFIG,
		 "unknown key \"frontend\""},
		{DOC("'web':{'backend':'b','routes':{'r1':{'rule':'Hots:www.example.com'}}}"),
		 -ERR_PROXY_RULE, "frontends.web.routes.r1.rule: unknown matcher \"Hots\""},
		{DOC("'web':{'backend':'nope','routes':{'r1':{'rule':'Host:a'}}}"),
		 -ERR_PROXY_CONFIG, "frontends.web.backend: unknown backend \"nope\""},
		{DOC("'web':{'routes':{'r1':{'rule':'Host:a'}}}"), -ERR_PROXY_CONFIG,
		 "frontends.web.backend: required"},
		{DOC("'web':{'backend':'b'}"), -ERR_PROXY_CONFIG, "frontends.web.routes: required"},
		{DOC("'web':{'backend':'b','routes':{}}"), -ERR_PROXY_CONFIG,
		 "frontends.web.routes: expected an object of routes"},
		{DOC("'web':{'backend':'b','routes':{'r':{'rule':''}}}"), -ERR_PROXY_RULE,
		 "frontends.web.routes.r.rule: empty rule"},
		{DOC("'web':{'backend':'b','routes':{'r':{'rul':'Host:a'}}}"), -ERR_PROXY_CONFIG,
		 "frontends.web.routes.r: unknown key \"rul\""},
		{DOC("'web':{'backend':'b','routes':{'r':{'rule':'Host:a'}},'priority':-1}"),
		 -ERR_PROXY_CONFIG, "frontends.web.priority: expected an integer"},
		{DOC("'web':{'backend':'b','routes':{'r':{'rule':'Host:a'}},'passHostHeader':1}"),
		 -ERR_PROXY_CONFIG, "frontends.web.passHostHeader: expected true or false"},
		{DOC("'web':{'backend':'b','entryPoints':['https'],'routes':{'r':{'rule':'Host:a'}}"
		     "}"),
		 -ERR_PROXY_CONFIG, "frontends.web.entryPoints[0]: unknown entry point \"https\""},
		{DOC("'web':{'backend':'b','entryPoints':[],'routes':{'r':{'rule':'Host:a'}}}"),
		 -ERR_PROXY_CONFIG, "frontends.web.entryPoints: no entry point"},
		{DOC("'web':{'backend':'b','routes':{'r':{'rule':'Host:a'}},"
		     "'whitelist':{'sourceRange':['10.0.0/8']}}"),
		 -ERR_PROXY_CONFIG, "frontends.web.whitelist.sourceRange[0]: not an IP address"},
		{DOC("'web':{'backend':'b','routes':{'r':{'rule':'Host:a'}},"
		     "'whitelist':{},'whiteList':{}}"),
		 -ERR_PROXY_CONFIG, "give either whitelist or whiteList"},
		{DOC("'web':{'backend':'b','routes':{'r':{'rule':'Host:a'}},"
		     "'headers':{'customRequestHeaders':{'Bad Name':'x'}}}"),
		 -ERR_PROXY_CONFIG,
		 "frontends.web.headers.customRequestHeaders.Bad Name: not a valid"},
		{DOC("'web':{'backend':'b','routes':{'r':{'rule':'Host:a'}},"
		     "'headers':{'customRequestHeaders':{'X':'a\\r\\nb'}}}"),
		 -ERR_PROXY_CONFIG, "control character in header value"},
		{DOC("'web':{'backend':'b','routes':{'r':{'rule':'Host:a'}},"
		     "'redirect':{'regex':'^(x'}}"),
		 -ERR_PROXY_CONFIG, "frontends.web.redirect.replacement: required with regex"},
		{DOC("'web':{'backend':'b','routes':{'r':{'rule':'Host:a'}},"
		     "'redirect':{'regex':'^(x','replacement':'y'}}"),
		 -ERR_PROXY_CONFIG, "frontends.web.redirect.regex: missing )"},
		{DOC("'web':{'backend':'b','routes':{'r':{'rule':'Host:a'}},"
		     "'redirect':{'entryPoint':'nope'}}"),
		 -ERR_PROXY_CONFIG, "frontends.web.redirect.entryPoint: unknown entry point"},
		{DOC("'web':{'backend':'b','routes':{'r':{'rule':'Host:a'}},"
		     "'auth':{'basic':{'users':['nocolon']}}}"),
		 -ERR_PROXY_CONFIG, "frontends.web.auth.basic.users[0]: expected \"user:hash\""},
		{DOC("'web':{'backend':'b','routes':{'r':{'rule':'Host:a'}},"
		     "'auth':{'basic':{'usersFile':'/etc/htpasswd'}}}"),
		 -ERR_PROXY_CONFIG, "files are not read by data nodes"},
		{DOC("'web':{'backend':'b','routes':{'r':{'rule':'Host:a'}},"
		     "'errors':{'e':{'status':['600'],'backend':'b'}}}"),
		 -ERR_PROXY_CONFIG, "frontends.web.errors.e.status[0]: expected a status"},
		{DOC("'web':{'backend':'b','routes':{'r':{'rule':'Host:a'}},"
		     "'rateLimit':{'extractorFunc':'client.ip','rateSet':{'a':{'period':'1s'},"
		     "'b':{'period':'1s'}}}}"),
		 -ERR_PROXY_CONFIG, "rateLimit.rateSet.b.period: periods must be unique"},
		{DOC("'web':{'backend':'b','routes':{'r':{'rule':'Host:a'}},"
		     "'rateLimit':{'extractorFunc':'client.port','rateSet':{}}}"),
		 -ERR_PROXY_CONFIG, "rateLimit.extractorFunc: expected request.host"},
		{"{'version':1,'revision':1,'entryPoints':{'http':{'address':'80'}}}",
		 -ERR_PROXY_CONFIG, "entryPoints.http.address: expected [host]:port"},
		{"{'version':1,'revision':1,'entryPoints':{'http':{'address':':0'}}}",
		 -ERR_PROXY_CONFIG, "entryPoints.http.address"},
		{"{'version':1,'revision':1,'entryPoints':{'http':{}}}", -ERR_PROXY_CONFIG,
		 "entryPoints.http.address: required"},
		{"{'version':1,'revision':1,'entryPoints':{'http':{'address':':80',"
		 "'redirect':{'entryPoint':'http'}}}}",
		 -ERR_PROXY_CONFIG, "entryPoints.http.redirect.entryPoint: an entry point cannot"},
		{"{'version':1,'revision':1,'entryPoints':{'h':{'address':':443','tls':"
		 "{'minVersion':'VersionSSL30'}}}}",
		 -ERR_PROXY_CONFIG, "entryPoints.h.tls.minVersion: expected VersionTLS10"},
		{"{'version':1,'revision':1,'entryPoints':{'':{'address':':80'}}}",
		 -ERR_PROXY_CONFIG, "names are 1 to 255 bytes"},
		{"{'version':1,'revision':1,'defaultEntryPoints':['x'],'entryPoints':{}}",
		 -ERR_PROXY_CONFIG, "defaultEntryPoints[0]: unknown entry point \"x\""},
		{"{'version':1,'revision':1,'backends':{'b':{'servers':{'s':{'url':'ftp://x'}}}}}",
		 -ERR_PROXY_CONFIG, "backends.b.servers.s.url: expected http://"},
		{"{'version':1,'revision':1,'backends':{'b':{'servers':{'s':{'url':'http://a "
		 "b'}}}}}",
		 -ERR_PROXY_CONFIG, "backends.b.servers.s.url"},
		{"{'version':1,'revision':1,'backends':{'b':{'servers':{'s':{'url':'http://"
		 "u@h'}}}}}",
		 -ERR_PROXY_CONFIG, "backends.b.servers.s.url"},
		{"{'version':1,'revision':1,'backends':{'b':{'servers':{'s':{'url':'http://"
		 "h:99999'}}}}}",
		 -ERR_PROXY_CONFIG, "backends.b.servers.s.url"},
		{"{'version':1,'revision':1,'backends':{'b':{'servers':{'s':{}}}}}",
		 -ERR_PROXY_CONFIG, "backends.b.servers.s.url: required"},
		{"{'version':1,'revision':1,'backends':{'b':{'servers':{'s':{'url':'http://h',"
		 "'weight':-1}}}}}",
		 -ERR_PROXY_CONFIG, "backends.b.servers.s.weight: expected an integer"},
		{"{'version':1,'revision':1,'backends':{'b':{'loadBalancer':{'method':'rr'}}}}",
		 -ERR_PROXY_CONFIG, "backends.b.loadBalancer.method: expected wrr or drr"},
		{"{'version':1,'revision':1,'backends':{'b':{'loadBalancer':{'stickiness':"
		 "{'cookieName':'a b'}}}}}",
		 -ERR_PROXY_CONFIG, "stickiness.cookieName: not a valid cookie name"},
		{"{'version':1,'revision':1,'backends':{'b':{'loadBalancer':{'stickiness':"
		 "{'sameSite':'weird'}}}}}",
		 -ERR_PROXY_CONFIG, "stickiness.sameSite: expected none, lax or strict"},
		{"{'version':1,'revision':1,'backends':{'b':{'healthCheck':{'path':'/h',"
		 "'interval':'10 s'}}}}",
		 -ERR_PROXY_CONFIG, "backends.b.healthCheck.interval: expected a duration"},
		{"{'version':1,'revision':1,'backends':{'b':{'healthCheck':{'path':'h'}}}}",
		 -ERR_PROXY_CONFIG, "backends.b.healthCheck.path: expected a path"},
		{"{'version':1,'revision':1,'backends':{'b':{'healthCheck':{'path':'/h',"
		 "'interval':'0s'}}}}",
		 -ERR_PROXY_CONFIG, "backends.b.healthCheck.interval: must be at least 1ms"},
		{"{'version':1,'revision':1,'backends':{'b':{'maxConn':{'amount':1,"
		 "'extractorFunc':'request.header.'}}}}",
		 -ERR_PROXY_CONFIG, "backends.b.maxConn.extractorFunc"},
		{"{'version':1,'revision':1,'tls':[{'entryPoints':[],'certificate':{}}]}",
		 -ERR_PROXY_CONFIG, "tls[0].entryPoints: required"},
		{"{'version':1,'revision':1,'entryPoints':{'h':{'address':':443','tls':"
		 "{'certificates':[{'certFile':'/etc/cert.pem','keyFile':'/etc/key.pem'}]}}}}",
		 -ERR_PROXY_CONFIG, "entryPoints.h.tls.certificates[0].certFile: not a PEM"},
		{"{'version':1,'revision':1,'entryPoints':{'h':{'address':':443','tls':"
		 "{'certificates':[{'certFile':'@CERT@','keyFile':'@KEY2@'}]}}}}",
		 -ERR_PROXY_CONFIG, "certificates[0].keyFile: private key does not match"},
		{"{'version':1,'revision':1,'entryPoints':{'h':{'address':':443','tls':"
		 "{'certificates':[{'certFile':'@CERT@','keyFile':'@CERT@'}]}}}}",
		 -ERR_PROXY_CONFIG, "certificates[0].keyFile: not a PEM private key"},
		{"{'version':1,'revision':1,'entryPoints':{'h':{'address':':443','tls':"
		 "{'certificates':[{'certFile':'@KEY@','keyFile':'@KEY@'}]}}}}",
		 -ERR_PROXY_CONFIG, "certificates[0].certFile: not a PEM certificate"},
		{"{'version':1,'revision':1,'entryPoints':{'h':{'address':':443','tls':"
		 "{'certificates':[{'certFile':'@RSACERT@','keyFile':'@KEY@'}]}}}}",
		 -ERR_PROXY_CONFIG, "private key does not match"},
		{"{'version':1,'revision':1,'entryPoints':{'h':{'address':':443','tls':"
		 "{'clientCA':{'files':['-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END "
		 "CERTIFICATE-----\\n']}}}}}",
		 -ERR_PROXY_CONFIG, "entryPoints.h.tls.clientCA.files[0]: not a PEM certificate"},
		{"{'version':1,'revision':1,", -ERR_JSON_PARSE, "document: "},
		{"{'version':1,'version':1}", -ERR_JSON_DUP_KEY, "document: "},
		{"{'version':1,'revision':1} x", -ERR_JSON_PARSE, "at byte"},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const struct proxy_table *t = (const void *)1;
		struct proxy_limits lim;
		proxy_limits_default(&lim);
		expand(cases[k].doc);
		arena_fresh();
		/* Something already in the arena: a failed load must leave it as it was. */
		void *before = arena_alloc(&arena_, 100);
		size_t used = arena_.used;
		int rc = proxy_table_load(doc_, doclen_, &lim, &arena_, toks_, NTOK, &t, &err_);
		if (rc != cases[k].rc || !strstr(err_.msg, cases[k].msg))
			TEST_FAIL_("case %zu: rc %d \"%s\", expected %d \"%s\"", k, rc, err_.msg,
				   cases[k].rc, cases[k].msg);
		CHECK(t == NULL);
		CHECK(arena_.used == used && arena_.err == 0 && before != NULL);
	}
}

static void valid_variants(void)
{
	const struct proxy_table *t;
	/* null is "absent"; durations as Go strings or integer seconds; RSA pairs; whiteList. */
	int rc = load("{'version':1,'revision':18446744073709551615,'defaultEntryPoints':null,"
		      "'entryPoints':{'http':{'address':':80','tls':null,'whiteList':"
		      "{'sourceRange':['10.0.0.1','fd00::/8']}},'https':{'address':'[::1]:443',"
		      "'tls':{'certificates':[{'certFile':'@RSACERT@','keyFile':'@RSAKEY@'},"
		      "{'certFile':'@CERT@\\n@CA@','keyFile':'@KEY@'}]}}},"
		      "'backends':{'b':{'servers':{'s':{'url':'HTTP://Host-1.internal:8080/p?q',"
		      "'weight':null}},'healthCheck':{'path':'/h','interval':45,'timeout':'1.5s'},"
		      "'responseForwarding':{'flushInterval':'1h2m3s4ms'}}},"
		      "'frontends':{'f':{'backend':'b','routes':{'r':{'rule':'Host:a'}},"
		      "'headers':null,'priority':null}}}",
		      &t);
	if (rc)
		fprintf(stderr, "  %s\n", err_.msg);
	REQUIRE(rc == 0);
	CHECK(t->revision == UINT64_MAX);
	CHECK(!t->ep[0].tls && t->ep[0].whitelist.n == 2);
	CHECK(t->ep[1].tls && t->ep[1].ncerts == 2 && t->ep[1].port == 443);
	CHECK(t->srv[0].weight == 1 && t->srv[0].port == 8080);
	CHECK_EQ_MEM(t->srv[0].authority.p, t->srv[0].authority.len, "Host-1.internal:8080");
	CHECK(t->be[0].hc_interval_ms == 45000 && t->be[0].hc_timeout_ms == 1500);
	CHECK_EQ_INT(t->be[0].flush_interval_ms, 3723004);
	CHECK_EQ_INT(t->fe[0].priority, 6);
	CHECK_EQ_INT(t->cert_pairs, 2);
}

/* entryPoints.<n>.tls.minVersion and cipherSuites: what is refused (naming the key and the
 * value), what is accepted, what is kept (the names as given: the engine maps and warns). */
#define TLS_EP(tls)                                                                             \
	"{'version':1,'revision':1,'entryPoints':{'http':{'address':':80'},'https':{'address':" \
	"':443','tls':{" tls "}}}}"
static void tls_options(void)
{
	static const struct {
		const char *doc;
		const char *msg; /* NULL: accepted */
	} cases[] = {
		/* minVersion: we serve 1.2, which satisfies 1.0-1.2; 1.3 cannot be met */
		{TLS_EP("'minVersion':'VersionTLS10'"), NULL},
		{TLS_EP("'minVersion':'VersionTLS11'"), NULL},
		{TLS_EP("'minVersion':'VersionTLS12'"), NULL},
		{TLS_EP("'minVersion':''"), NULL},
		{TLS_EP("'minVersion':'VersionTLS13'"),
		 "entryPoints.https.tls.minVersion: VersionTLS13 is not supported (TLS 1.2 only)"},
		{TLS_EP("'minVersion':'VersionTLS14'"),
		 "entryPoints.https.tls.minVersion: expected VersionTLS10, VersionTLS11 or "
		 "VersionTLS12"},
		/* cipherSuites: supported only, mixed, aliases */
		{TLS_EP("'cipherSuites':['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384']"), NULL},
		{TLS_EP("'cipherSuites':['TLS_RSA_WITH_AES_128_CBC_SHA',"
			"'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256','TLS_AES_128_GCM_SHA256']"),
		 NULL},
		{TLS_EP("'cipherSuites':[]"), NULL},
		/* a name Go never had: refused, naming the index and the value */
		{TLS_EP("'cipherSuites':['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256','TLS_FOO']"),
		 "entryPoints.https.tls.cipherSuites[1]: unknown cipher suite \"TLS_FOO\""},
		{TLS_EP("'cipherSuites':['ECDHE-ECDSA-AES128-GCM-SHA256']"),
		 "entryPoints.https.tls.cipherSuites[0]: unknown cipher suite "
		 "\"ECDHE-ECDSA-AES128-GCM-SHA256\""},
		{TLS_EP("'cipherSuites':['tls_ecdhe_ecdsa_with_aes_128_gcm_sha256']"),
		 "entryPoints.https.tls.cipherSuites[0]: unknown cipher suite "
		 "\"tls_ecdhe_ecdsa_with_aes_128_gcm_sha256\""},
		{TLS_EP("'cipherSuites':['TLS_X\\u0001Y']"),
		 "entryPoints.https.tls.cipherSuites[0]: unknown cipher suite \"TLS_X?Y\""},
		{TLS_EP("'cipherSuites':[42]"),
		 "entryPoints.https.tls.cipherSuites[0]: expected a string"},
		/* only real suites we do not serve: refused, listing ours */
		{TLS_EP("'cipherSuites':['TLS_RSA_WITH_AES_128_CBC_SHA',"
			"'TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA']"),
		 "entryPoints.https.tls.cipherSuites: no supported cipher suite listed (supported: "
		 "TLS_ECDHE_ECDSA_WITH_ and TLS_ECDHE_RSA_WITH_ AES_128_GCM_SHA256, "
		 "AES_256_GCM_SHA384, CHACHA20_POLY1305)"},
		{TLS_EP("'cipherSuites':['TLS_AES_128_GCM_SHA256']"),
		 "entryPoints.https.tls.cipherSuites: no supported cipher suite listed"},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const struct proxy_table *t = NULL;
		int rc = load(cases[k].doc, &t);
		if (!cases[k].msg) {
			if (rc)
				TEST_FAIL_("case %zu refused: %s", k, err_.msg);
			continue;
		}
		if (rc != -ERR_PROXY_CONFIG ||
		    strncmp(err_.msg, cases[k].msg, strlen(cases[k].msg)))
			TEST_FAIL_("case %zu: rc %d \"%s\", expected \"%s\"", k, rc, err_.msg,
				   cases[k].msg);
		CHECK(t == NULL);
		CHECK_EQ_INT(arena_.used, 0); /* rolled back */
	}
	/* accepted: the version and the names as given (the engine maps them) */
	const struct proxy_table *t;
	REQUIRE(load(TLS_EP("'minVersion':'versiontls11','cipherSuites':["
			    "'TLS_RSA_WITH_AES_128_CBC_SHA','TLS_ECDHE_ECDSA_WITH_AES_256_GCM_"
			    "SHA384']"),
		     &t) == 0);
	CHECK_EQ_INT(t->ep[1].min_version, PROXY_TLS11);
	REQUIRE(t->ep[1].ncipher_suites == 2);
	CHECK_EQ_MEM(t->ep[1].cipher_suites[1].p, t->ep[1].cipher_suites[1].len,
		     "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
}

/* ---- caps ----------------------------------------------------------------------------------- */

/* A generated document: ne entry points, nf frontends (nr routes each, rule `rule`), nb
 * backends (ns servers each). */
struct gen {
	unsigned ne, nf, nr, nb, ns;
	const char *rule;
	const char *fe_extra; /* inside each frontend object, after the routes */
};

static char *gen_doc(const struct gen *g, size_t *len)
{
	static char *big;
	struct buf b;
	if (!big)
		big = malloc(8u << 20);
	buf_init(&b, big, 8u << 20);
	buf_printf(&b, "{\"version\":1,\"revision\":1,\"entryPoints\":{");
	for (unsigned i = 0; i < g->ne; i++)
		buf_printf(&b, "%s\"ep%u\":{\"address\":\":%u\"}", i ? "," : "", i, 8000 + i);
	buf_printf(&b, "},\"defaultEntryPoints\":[\"ep0\"],\"backends\":{");
	for (unsigned i = 0; i < g->nb; i++) {
		buf_printf(&b, "%s\"b%u\":{\"servers\":{", i ? "," : "", i);
		for (unsigned j = 0; j < g->ns; j++)
			buf_printf(&b, "%s\"s%u\":{\"url\":\"http://10.%u.%u.1\"}", j ? "," : "", j,
				   i / 250, i % 250);
		buf_printf(&b, "}}");
	}
	buf_printf(&b, "},\"frontends\":{");
	for (unsigned i = 0; i < g->nf; i++) {
		buf_printf(&b, "%s\"f%u\":{\"backend\":\"b0\",\"routes\":{", i ? "," : "", i);
		for (unsigned j = 0; j < g->nr; j++)
			buf_printf(&b, "%s\"r%u\":{\"rule\":\"%s\"}", j ? "," : "", j,
				   g->rule ? g->rule : "Host:a.com");
		buf_printf(&b, "}%s}", g->fe_extra ? g->fe_extra : "");
	}
	buf_printf(&b, "}}");
	*len = b.len;
	char *copy = malloc(b.len);
	memcpy(copy, b.data, b.len);
	return copy;
}

static int load_gen(const struct gen *g, const struct proxy_limits *lim,
		    const struct proxy_table **t)
{
	size_t n;
	char *d = gen_doc(g, &n);
	int rc = load_raw(d, n, lim, t);
	if (rc == 0 && arena_.used > proxy_table_bytes(lim))
		TEST_FAIL_("table used %zu bytes, over the bound %zu", arena_.used,
			   proxy_table_bytes(lim));
	free(d);
	return rc;
}

/* Every cap: the document at the cap loads, one more fails with the cap's own error. */
static void caps_counts(void)
{
	struct proxy_limits lim;
	const struct proxy_table *t;
	struct gen g = {2, 3, 2, 3, 2, "Host:a.com,b.com", NULL};
	proxy_limits_default(&lim);
	lim.max_entrypoints = 2;
	lim.max_frontends = 3;
	lim.max_backends = 3;
	lim.max_servers = 6;
	lim.max_routes = 6;
	lim.max_matchers = 12;
	REQUIRE(load_gen(&g, &lim, &t) == 0);
	CHECK_EQ_INT(t->nmatchers, 12);
	struct {
		unsigned *field;
		int rc;
		const char *name;
	} over[] = {
		{&g.ne, -ERR_PROXY_ENTRYPOINTS_FULL, "max_entrypoints"},
		{&g.nf, -ERR_PROXY_FRONTENDS_FULL, "max_frontends"},
		{&g.nb, -ERR_PROXY_BACKENDS_FULL, "max_backends"},
		{&g.ns, -ERR_PROXY_SERVERS_FULL, "max_servers"},
		{&g.nr, -ERR_PROXY_ROUTES_FULL, "max_routes"},
	};
	for (size_t k = 0; k < sizeof over / sizeof over[0]; k++) {
		(*over[k].field)++;
		int rc = load_gen(&g, &lim, &t);
		if (rc != over[k].rc || !strstr(err_.msg, over[k].name))
			TEST_FAIL_("%s + 1: rc %d \"%s\"", over[k].name, rc, err_.msg);
		(*over[k].field)--;
	}
	g.rule = "Host:a.com,b.com,c.com";
	CHECK_EQ_INT(load_gen(&g, &lim, &t), -ERR_PROXY_MATCHERS_FULL);
	CHECK(strstr(err_.msg, "max_matchers") != NULL);
	CHECK(strstr(err_.msg, "frontends.f") != NULL);
}

static void caps_sizes(void)
{
	struct proxy_limits lim;
	const struct proxy_table *t;
	struct gen g = {1, 2, 1, 1, 1, "Host:{a:[a-z]+}.com;Path:/{p:[0-9]{1,3}}", NULL};
	size_t n;
	proxy_limits_default(&lim);
	/* max_regex_insts: exactly what the document needs, then one less. */
	REQUIRE(load_gen(&g, &lim, &t) == 0);
	uint32_t insts = t->ninsts;
	CHECK(insts > 0);
	lim.max_regex_insts = insts;
	CHECK_EQ_INT(load_gen(&g, &lim, &t), 0);
	lim.max_regex_insts = insts - 1;
	CHECK_EQ_INT(load_gen(&g, &lim, &t), -ERR_PROXY_REGEX_TOO_BIG);
	CHECK(strstr(err_.msg, "max_regex_insts") != NULL);
	proxy_limits_default(&lim);
	/* max_rule_bytes */
	lim.max_rule_bytes = (uint32_t)strlen(g.rule);
	CHECK_EQ_INT(load_gen(&g, &lim, &t), 0);
	lim.max_rule_bytes--;
	CHECK_EQ_INT(load_gen(&g, &lim, &t), -ERR_PROXY_RULE_TOO_LONG);
	CHECK(strstr(err_.msg, "frontends.f0.routes.r0.rule") != NULL);
	proxy_limits_default(&lim);
	/* max_doc_bytes and max_tokens */
	char *d = gen_doc(&g, &n);
	int ntok = json_validate(d, n, NULL);
	lim.max_doc_bytes = n;
	CHECK_EQ_INT(load_raw(d, n, &lim, &t), 0);
	lim.max_doc_bytes = n - 1;
	CHECK_EQ_INT(load_raw(d, n, &lim, &t), -ERR_PROXY_DOC_TOO_LARGE);
	CHECK(strstr(err_.msg, "max_doc_bytes") != NULL);
	proxy_limits_default(&lim);
	lim.max_tokens = (uint32_t)ntok;
	CHECK_EQ_INT(load_raw(d, n, &lim, &t), 0);
	lim.max_tokens = (uint32_t)ntok - 1;
	CHECK_EQ_INT(load_raw(d, n, &lim, &t), -ERR_JSON_TOO_MANY_TOKENS);
	CHECK(strstr(err_.msg, "max_tokens") != NULL);
	free(d);
	/* max_list_items: headers, CIDRs, users ... together. */
	proxy_limits_default(&lim);
	g.fe_extra = ",\"headers\":{\"customRequestHeaders\":{\"A\":\"1\",\"B\":\"2\"}},"
		     "\"whitelist\":{\"sourceRange\":[\"10.0.0.0/8\"]}";
	REQUIRE(load_gen(&g, &lim, &t) == 0);
	CHECK_EQ_INT(t->nitems, 7); /* 2 x (2 headers + 1 CIDR) + defaultEntryPoints */
	lim.max_list_items = 7;
	CHECK_EQ_INT(load_gen(&g, &lim, &t), 0);
	lim.max_list_items = 6;
	CHECK_EQ_INT(load_gen(&g, &lim, &t), -ERR_PROXY_LIST_TOO_LONG);
	CHECK(strstr(err_.msg, "max_list_items") != NULL);
}

static void caps_certs(void)
{
	static const char *doc =
		"{'version':1,'revision':1,'entryPoints':{'h':{'address':':443','tls':"
		"{'certificates':[{'certFile':'@CERT@','keyFile':'@KEY@'}],'clientCA':"
		"{'files':['@CA@']}}}},'tls':[{'entryPoints':['h'],'certificate':"
		"{'certFile':'@RSACERT@','keyFile':'@RSAKEY@'}}]}";
	struct proxy_limits lim;
	const struct proxy_table *t;
	proxy_limits_default(&lim);
	REQUIRE(load_lim(doc, &lim, &t) == 0);
	CHECK_EQ_INT(t->cert_pairs, 3);
	size_t bytes = t->cert_bytes;
	CHECK_EQ_INT(bytes,
		     strlen(CERT) + strlen(KEY) + strlen(CA) + strlen(RSACERT) + strlen(RSAKEY));
	lim.max_certs = 3;
	CHECK_EQ_INT(load_lim(doc, &lim, &t), 0);
	lim.max_certs = 2;
	CHECK_EQ_INT(load_lim(doc, &lim, &t), -ERR_PROXY_CERTS_FULL);
	CHECK(strstr(err_.msg, "tls[0].certificate: more than max_certs (2)") != NULL);
	proxy_limits_default(&lim);
	lim.max_cert_bytes = bytes;
	CHECK_EQ_INT(load_lim(doc, &lim, &t), 0);
	lim.max_cert_bytes = bytes - 1;
	CHECK_EQ_INT(load_lim(doc, &lim, &t), -ERR_PROXY_CERT_TOO_LARGE);
	CHECK(strstr(err_.msg, "max_cert_bytes") != NULL);
}

/* ---- memory --------------------------------------------------------------------------------- */

static void arena_faults(void)
{
	const struct proxy_table *t;
	struct proxy_limits lim;
	REQUIRE(load_file("tests/golden/routing/realistic.json", &t) == 0);
	size_t need = t->bytes;
	proxy_limits_default(&lim);
	/* Every allocation failing in turn: a clean -ERR_ARENA_FULL, nothing left behind. */
	int ok = 0;
	for (long n = 0; n < 400 && !ok; n++) {
		arena_fresh();
		arena_.fail_after = n;
		int rc = proxy_table_load(file_, filelen_, &lim, &arena_, toks_, NTOK, &t, &err_);
		if (rc == 0) {
			ok = 1;
			break;
		}
		if (rc != -ERR_ARENA_FULL || arena_.used != 0 || arena_.err != 0)
			TEST_FAIL_("fail_after %ld: rc %d used %zu", n, rc, arena_.used);
	}
	CHECK(ok);
	/* Exactly the bytes it reported: fits; one less: does not. */
	arena_init(&arena_, mem_, need);
	CHECK_EQ_INT(proxy_table_load(file_, filelen_, &lim, &arena_, toks_, NTOK, &t, &err_), 0);
	arena_init(&arena_, mem_, need - 1);
	CHECK_EQ_INT(proxy_table_load(file_, filelen_, &lim, &arena_, toks_, NTOK, &t, &err_),
		     -ERR_ARENA_FULL);
	CHECK(strstr(err_.msg, "proxy_table_bytes") != NULL);
	/* An arena with a latched error is refused. */
	arena_init(&arena_, mem_, 16);
	arena_alloc(&arena_, 100);
	CHECK(proxy_table_load(file_, filelen_, &lim, &arena_, toks_, NTOK, &t, &err_) ==
	      -ERR_ARENA_FULL);
}

/* Documents that fill every cap of small limits stay within proxy_table_bytes(limits). */
static void bound_holds(void)
{
	struct proxy_limits lim;
	const struct proxy_table *t;
	proxy_limits_default(&lim);
	lim.max_entrypoints = 4;
	lim.max_frontends = 8;
	lim.max_backends = 8;
	lim.max_servers = 16;
	lim.max_routes = 16;
	lim.max_matchers = 128;
	lim.max_regex_insts = 4096;
	lim.max_list_items = 64;
	lim.max_tokens = 4096;
	lim.max_doc_bytes = 65536;
	static const char *rules[] = {
		"Host:a,b,c,d;Path:/x,/y,/z,/w",
		"HostRegexp:{a:[a-z]}.{b:[0-9]}.{c:[A-Z]},{d:x}",
		"Path:/{a:[a-d][e-h][i-l][m-p]{1,3}}",
		"Headers:A,1,B,2;Query:a=1,b=2;Method:GET,PUT",
		"M:x",
	};
	for (size_t k = 0; k < 4; k++) {
		struct gen g = {4,
				8,
				2,
				8,
				2,
				rules[k],
				",\"whitelist\":{\"sourceRange\":[\"10.0.0.0/8\",\"::1\"]},"
				"\"headers\":{\"customRequestHeaders\":{\"A\":\"1\"},"
				"\"allowedHosts\":[\"a\",\"b\"]}"};
		int rc = load_gen(&g, &lim, &t);
		if (rc)
			TEST_FAIL_("rule %zu: %s", k, err_.msg);
	}
	/* The realistic document within the default bound too (load_file checks nothing). */
	REQUIRE(load_file("tests/golden/routing/realistic.json", &t) == 0);
	proxy_limits_default(&lim);
	CHECK(t->bytes < proxy_table_bytes(&lim));
}

/* ---- benchmark ------------------------------------------------------------------------------ */

static void bench_match(void)
{
	const char *env = getenv("PROXY_BENCH");
	struct proxy_limits lim;
	const struct proxy_table *t;
	struct buf b;
	static char doc[1 << 16];
	buf_init(&b, doc, sizeof doc);
	buf_printf(&b,
		   "{\"version\":1,\"revision\":1,\"entryPoints\":{\"http\":{\"address\":"
		   "\":80\"}},\"backends\":{\"b\":{\"servers\":{\"s\":{\"url\":\"http://h\"}}}},"
		   "\"frontends\":{");
	for (int i = 0; i < 100; i++) {
		if (i % 10 == 9) /* every tenth frontend uses a template */
			buf_printf(&b,
				   "%s\"f%03d\":{\"backend\":\"b\",\"routes\":{\"r\":{\"rule\":"
				   "\"HostRegexp:{s:[a-z]+}.svc%d.example.com;PathPrefix:/api/"
				   "{v:v[0-9]+}\"}}}",
				   i ? "," : "", i, i);
		else
			buf_printf(&b,
				   "%s\"f%03d\":{\"backend\":\"b\",\"routes\":{\"r\":{\"rule\":"
				   "\"Host:svc%d.example.com;PathPrefix:/api\"}}}",
				   i ? "," : "", i, i);
	}
	buf_printf(&b, "}}");
	proxy_limits_default(&lim);
	REQUIRE(load_raw(doc, b.len, &lim, &t) == 0);
	CHECK_EQ_INT(t->nfe, 100);
	struct {
		const char *host, *path, *what;
	} reqs[] = {{"svc0.example.com", "/api/x", "first literal"},
		    {"svc50.example.com", "/api/x", "middle literal"},
		    {"svc98.example.com", "/api/x", "last literal"},
		    {"x.svc99.example.com", "/api/v2/x", "template"},
		    {"nothing.example.com", "/api/x", "miss (404)"}};
	long iters = env ? 200000 : 2000;
	for (size_t k = 0; k < sizeof reqs / sizeof reqs[0]; k++) {
		struct proxy_req_view v = {SLICE_LIT("GET"),
					   slice_from_cstr(reqs[k].host),
					   slice_from_cstr(reqs[k].path),
					   SLICE_LIT(""),
					   NULL,
					   0};
		struct proxy_match m;
		int expect = k == 4 ? -ERR_NOTFOUND : 0;
		clock_t t0 = clock();
		for (long i = 0; i < iters; i++)
			if (proxy_table_match(t, 0, &v, &m) != expect)
				TEST_FAIL_("%s: unexpected result", reqs[k].what);
		double s = (double)(clock() - t0) / CLOCKS_PER_SEC;
		if (env)
			printf("# 100 frontends, %-15s %8.0f ns/match\n", reqs[k].what,
			       s * 1e9 / (double)iters);
	}
}

TEST_MAIN(limits_and_bound, minimal_document, realistic_document, realistic_details, priority_order,
	  entry_point_sets, redirects, invalid_documents, valid_variants, tls_options, caps_counts,
	  caps_sizes, caps_certs, arena_faults, bound_holds, bench_match)
