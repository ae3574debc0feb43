/* Unit tests for http_parse: request and response heads, framing decisions, the chunked
 * decoder and every limit on both sides of its cap.
 *
 * Every vector goes through run(): parsed whole, then byte by byte with one state (each
 * prefix in its own exact-size heap block, so the parser must rebase its slices and ASan
 * catches any read past the bytes given), then from a fresh state for every prefix. Each
 * incomplete prefix must give -ERR_PARTIAL or the final result, and the final results of
 * all three runs must be identical.
 */
#include "base/base_err.h"
#include "http/http_parse.h"
#include "test.h"

#define MAXH 40

/* Results of one parse, with slices as offsets so runs over different buffers compare. */
struct snap {
	int rc;
	long method[2], target[2], reason[2], host[2], upgrade[2];
	int minor, method_id, target_form, status, body;
	uint64_t cl;
	unsigned flags;
	size_t nhdr;
	long hn[MAXH][2], hv[MAXH][2];
	int hid[MAXH], hop[MAXH];
};

struct msg {
	int is_req;
	struct http_request req;
	struct http_response res;
	struct http_header hdr[MAXH];
};

static struct http_limits deflim(void)
{
	struct http_limits l;
	http_limits_default(&l);
	return l;
}

static char *dup_exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);
	if (!p)
		abort();
	if (n)
		memcpy(p, s, n);
	return p;
}

static void msg_init(struct msg *m, int is_req, enum http_method rm, size_t cap)
{
	m->is_req = is_req;
	if (is_req)
		http_request_init(&m->req, m->hdr, cap);
	else
		http_response_init(&m->res, m->hdr, cap, rm);
}

static int msg_parse(struct msg *m, const char *buf, size_t len, const struct http_limits *lim)
{
	return m->is_req ? http_parse_request(&m->req, buf, len, lim)
			 : http_parse_response(&m->res, buf, len, lim);
}

static void off(long out[2], struct slice s, const char *buf)
{
	out[0] = s.p ? (long)(s.p - buf) : -1;
	out[1] = (long)s.len;
}

static void msg_snap(const struct msg *m, const char *buf, int rc, struct snap *s)
{
	memset(s, 0, sizeof *s);
	s->rc = rc;
	if (rc <= 0)
		return; /* only the code is defined after an error */
	const struct http_head *h = m->is_req ? &m->req.h : &m->res.h;
	if (m->is_req) {
		off(s->method, m->req.method, buf);
		off(s->target, m->req.target, buf);
		s->method_id = m->req.method_id;
		s->target_form = m->req.target_form;
	} else {
		off(s->reason, m->res.reason, buf);
		s->status = m->res.status;
	}
	off(s->host, h->host, buf);
	off(s->upgrade, h->upgrade, buf);
	s->minor = h->minor;
	s->body = h->body;
	s->cl = h->content_length;
	s->flags = h->flags;
	s->nhdr = h->nhdr;
	for (size_t i = 0; i < h->nhdr && i < MAXH; i++) {
		off(s->hn[i], h->hdr[i].name, buf);
		off(s->hv[i], h->hdr[i].value, buf);
		s->hid[i] = h->hdr[i].id;
		s->hop[i] = h->hdr[i].hop;
	}
}

/* Parse s[0..n) whole, byte by byte and prefix by prefix; check they agree; return the
 * result of the whole parse in *out. */
static int run(const char *s, size_t n, int is_req, enum http_method rm,
	       const struct http_limits *lim, size_t cap, struct snap *out)
{
	struct msg m;
	struct snap other;
	char *whole = dup_exact(s, n);
	msg_init(&m, is_req, rm, cap);
	int rc = msg_parse(&m, whole, n, lim);
	msg_snap(&m, whole, rc, out);
	if (msg_parse(&m, whole, n, lim) != rc)
		TEST_FAIL_("[%.40s] result not latched", s);
	free(whole);

	/* byte by byte, one state, every prefix in a fresh exact-size block */
	msg_init(&m, is_req, rm, cap);
	char *prev = NULL;
	int rci = -ERR_PARTIAL;
	for (size_t i = 0; i <= n; i++) {
		char *cur = dup_exact(s, i);
		rci = msg_parse(&m, cur, i, lim);
		if (i < n && rci != -ERR_PARTIAL && rci != rc)
			TEST_FAIL_("[%.40s] prefix %zu gave %d, whole %d", s, i, rci, rc);
		free(prev);
		prev = cur;
	}
	msg_snap(&m, prev, rci, &other);
	free(prev);
	if (memcmp(&other, out, sizeof other) != 0)
		TEST_FAIL_("[%.40s] byte-by-byte result differs (%d vs %d)", s, other.rc, rc);

	/* every prefix from a fresh state */
	if (n <= 2048) {
		for (size_t i = 0; i < n; i++) {
			char *cur = dup_exact(s, i);
			msg_init(&m, is_req, rm, cap);
			int r = msg_parse(&m, cur, i, lim);
			if (r != -ERR_PARTIAL && r != rc)
				TEST_FAIL_("[%.40s] fresh prefix %zu gave %d, whole %d", s, i, r,
					   rc);
			free(cur);
		}
	}
	return rc;
}

static int req(const char *s, struct snap *out)
{
	struct http_limits lim = deflim();
	return run(s, strlen(s), 1, HTTP_M_GET, &lim, MAXH, out);
}

static int res(const char *s, enum http_method rm, struct snap *out)
{
	struct http_limits lim = deflim();
	return run(s, strlen(s), 0, rm, &lim, MAXH, out);
}

static int req_rc(const char *s)
{
	struct snap sn;
	return req(s, &sn);
}

/* Check one header of a snapshot against expected name and value. */
#define CHECK_HDR(sn, src, i, nm, val)                                           \
	do {                                                                     \
		CHECK_EQ_MEM((src) + (sn).hn[i][0], (size_t)(sn).hn[i][1], nm);  \
		CHECK_EQ_MEM((src) + (sn).hv[i][0], (size_t)(sn).hv[i][1], val); \
	} while (0)

#define CHECK_SL(sn, src, field, val) \
	CHECK_EQ_MEM((src) + (sn).field[0], (size_t)(sn).field[1], val)

/* A table row: input and expected result (> 0 means "the whole input is the head"). */
struct vec {
	const char *in;
	int rc;
};

static void check_vecs(const struct vec *v, size_t n, int is_req, enum http_method rm)
{
	for (size_t i = 0; i < n; i++) {
		struct snap sn;
		size_t len = strlen(v[i].in);
		int rc = is_req ? req(v[i].in, &sn) : res(v[i].in, rm, &sn);
		int want = v[i].rc > 0 ? (int)len : v[i].rc;
		if (rc != want)
			TEST_FAIL_("vector %zu [%.60s]: got %d (%s), want %d", i, v[i].in, rc,
				   err_name(rc), want);
	}
}

#define CHECK_VECS(tab, is_req, rm) check_vecs(tab, sizeof(tab) / sizeof(tab[0]), is_req, rm)

/* ---- requests --------------------------------------------------------------------------- */

static void req_simple_get(void)
{
	const char *s = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n"
			"User-Agent:  curl/8.0 \t\r\nX-Empty:\r\n\r\n";
	struct snap sn;
	REQUIRE(req(s, &sn) == (int)strlen(s));
	CHECK_SL(sn, s, method, "GET");
	CHECK_SL(sn, s, target, "/index.html?q=1");
	CHECK_EQ_INT(sn.method_id, HTTP_M_GET);
	CHECK_EQ_INT(sn.target_form, HTTP_T_ORIGIN);
	CHECK_EQ_INT(sn.minor, 1);
	CHECK_EQ_INT(sn.nhdr, 3);
	CHECK_HDR(sn, s, 0, "Host", "example.com");
	CHECK_HDR(sn, s, 1, "User-Agent", "curl/8.0");
	CHECK_HDR(sn, s, 2, "X-Empty", "");
	CHECK_EQ_INT(sn.hid[0], HTTP_H_HOST);
	CHECK_EQ_INT(sn.hid[1], HTTP_H_OTHER);
	CHECK_SL(sn, s, host, "example.com");
	CHECK_EQ_INT(sn.body, HTTP_BODY_NONE);
	CHECK(sn.flags & HTTP_F_KEEP_ALIVE);
	CHECK(!(sn.flags & (HTTP_F_HAS_CL | HTTP_F_HAS_TE | HTTP_F_UPGRADE)));
}

static void req_browser(void)
{
	const char *s =
		"GET /articles/2024/edge-routing?ref=home HTTP/1.1\r\n"
		"Host: www.example.org\r\n"
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 "
		"Firefox/126.0\r\n"
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
		"Accept-Language: en-US,en;q=0.5\r\n"
		"Accept-Encoding: gzip, deflate, br\r\n"
		"Referer: https://www.example.org/\r\n"
		"Cookie: session=5f1c2a9e; theme=dark; consent=yes\r\n"
		"Connection: keep-alive\r\n"
		"Upgrade-Insecure-Requests: 1\r\n"
		"Sec-Fetch-Dest: document\r\n"
		"\r\n";
	struct snap sn;
	REQUIRE(req(s, &sn) == (int)strlen(s));
	CHECK_EQ_INT(sn.nhdr, 10);
	CHECK_HDR(sn, s, 6, "Cookie", "session=5f1c2a9e; theme=dark; consent=yes");
	CHECK_EQ_INT(sn.hid[7], HTTP_H_CONNECTION);
	CHECK_EQ_INT(sn.hop[7], 1);
	CHECK(sn.flags & HTTP_F_CONN_KEEP_ALIVE);
	CHECK(sn.flags & HTTP_F_KEEP_ALIVE);
}

static void req_http10_keepalive(void)
{
	struct snap sn;
	CHECK(req("GET / HTTP/1.0\r\n\r\n", &sn) > 0); /* no Host needed in 1.0 */
	CHECK_EQ_INT(sn.minor, 0);
	CHECK(!(sn.flags & HTTP_F_KEEP_ALIVE));
	CHECK(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &sn) > 0);
	CHECK(sn.flags & HTTP_F_KEEP_ALIVE);
	CHECK(req("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &sn) > 0);
	CHECK(!(sn.flags & HTTP_F_KEEP_ALIVE));
	CHECK(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &sn) > 0);
	CHECK(!(sn.flags & HTTP_F_KEEP_ALIVE));
	CHECK(sn.flags & HTTP_F_CONN_CLOSE);
}

static void req_connection_hop(void)
{
	const char *s =
		"GET /chat HTTP/1.1\r\nHost: a\r\nX-Trace: 1\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade, x-trace, host, content-length\r\nContent-Length: 0\r\n"
		"Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: close\r\n"
		"X-Other: 2\r\n\r\n";
	struct snap sn;
	REQUIRE(req(s, &sn) > 0);
	CHECK(sn.flags & HTTP_F_UPGRADE);
	CHECK(sn.flags & HTTP_F_CONN_UPGRADE);
	CHECK_SL(sn, s, upgrade, "websocket");
	/* Host X-Trace Upgrade Connection Content-Length Keep-Alive TE Proxy-Connection X-Other */
	int want[] = {0, 1, 1, 1, 0, 1, 1, 1, 0};
	REQUIRE(sn.nhdr == 9);
	for (int i = 0; i < 9; i++)
		if (sn.hop[i] != want[i])
			TEST_FAIL_("header %d hop %d, want %d", i, sn.hop[i], want[i]);
	/* Upgrade needs HTTP/1.1, the Upgrade field and the Connection option together */
	CHECK(req("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n", &sn) > 0);
	CHECK(!(sn.flags & HTTP_F_UPGRADE));
	CHECK(req("GET / HTTP/1.0\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n", &sn) > 0);
	CHECK(!(sn.flags & HTTP_F_UPGRADE));
	CHECK_EQ_INT(req_rc("GET / HTTP/1.1\r\nHost: a\r\nConnection: close;x\r\n\r\n"),
		     -ERR_PARSE);
	CHECK_EQ_INT(req_rc("GET / HTTP/1.1\r\nHost: a\r\nConnection: a b\r\n\r\n"), -ERR_PARSE);
	CHECK(req_rc("GET / HTTP/1.1\r\nHost: a\r\nConnection: ,close ,, \r\n\r\n") > 0);
}

static void req_expect(void)
{
	struct snap sn;
	CHECK(req("PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n",
		  &sn) > 0);
	CHECK(sn.flags & HTTP_F_EXPECT_CONTINUE);
	CHECK(req("PUT /f HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", &sn) > 0);
	CHECK(sn.flags & HTTP_F_EXPECT_OTHER);
	CHECK(!(sn.flags & HTTP_F_EXPECT_CONTINUE));
	CHECK(req("PUT /f HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", &sn) > 0);
	CHECK(!(sn.flags & (HTTP_F_EXPECT_CONTINUE | HTTP_F_EXPECT_OTHER)));
}

static void req_content_length(void)
{
	struct snap sn;
	CHECK(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_LENGTH);
	CHECK_EQ_INT(sn.cl, 5);
	CHECK(sn.flags & HTTP_F_HAS_CL);
	CHECK(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_LENGTH);
	CHECK_EQ_INT(sn.cl, 0);
	/* leading zeros: accepted (grammar allows them; value is decimal) */
	CHECK(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n", &sn) > 0);
	CHECK_EQ_INT(sn.cl, 7);
	/* identical values, in one list or in repeated fields: one value (RFC 9110 §8.6) */
	CHECK(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", &sn) > 0);
	CHECK_EQ_INT(sn.cl, 5);
	CHECK(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 05\r\n\r\n",
		  &sn) > 0);
	CHECK_EQ_INT(sn.cl, 5);
	/* the body is not the parser's business: the head ends at the empty line */
	const char *s = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
	CHECK_EQ_INT(req(s, &sn), (int)strlen(s) - 5);
	CHECK(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n",
		  &sn) == -ERR_HTTP_BODY_TOO_LARGE);
}

static void req_content_length_invalid(void)
{
	static const struct vec v[] = {
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\n", -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  \r\n\r\n", -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,2\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,5\r\n\r\n", -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1.0\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \"5\"\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
	};
	CHECK_VECS(v, 1, HTTP_M_GET);
}

static void req_chunked(void)
{
	struct snap sn;
	static const char *ok[] = {
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:    chunked  \r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: CHUNKED\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked,\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		CHECK_EQ_INT(req(ok[i], &sn), (int)strlen(ok[i]));
		CHECK_EQ_INT(sn.body, HTTP_BODY_CHUNKED);
		CHECK(sn.flags & HTTP_F_HAS_TE);
	}
	/* a field merely resembling Transfer-Encoding is an ordinary field for everyone */
	CHECK(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n", &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_NONE);
	CHECK_EQ_INT(sn.hid[1], HTTP_H_OTHER);
}

/* CL.TE and TE.CL: both framings present, either order, any spelling (RFC 9112 §6.3 r3). */
static void req_smuggle_cl_te(void)
{
	static const struct vec v[] = {
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: "
		 "chunked\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: "
		 "6\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: "
		 "chunked\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nContent-Length: "
		 "6\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		/* TE in HTTP/1.0 is faulty framing even alone (RFC 9112 §6.1) */
		{"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
	};
	CHECK_VECS(v, 1, HTTP_M_GET);
}

/* TE.TE: obfuscated Transfer-Encoding, which some hop might read as chunked and another not. */
static void req_smuggle_te_te(void)
{
	static const struct vec v[] = {
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
		 "chunked\r\n"
		 "\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
		 "gzip\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n",
		 -ERR_HTTP_UNKNOWN_CODING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked chunked\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0b"
		 "chunked\r\n\r\n",
		 -ERR_PARSE},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", -ERR_PARSE},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n", -ERR_PARSE},
		{"POST / HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\n\r\n", -ERR_PARSE},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n",
		 -ERR_PARSE},
		{"POST / HTTP/1.1\r\nHost: a\r\n\x01Transfer-Encoding: chunked\r\n\r\n",
		 -ERR_PARSE},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\rX: y\r\n\r\n",
		 -ERR_PARSE},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\nContent-Length: "
		 "3\r\n\r\n",
		 -ERR_PARSE},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunk\xc3\xa9\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
	};
	CHECK_VECS(v, 1, HTTP_M_GET);
}

static void req_field_names(void)
{
	static const struct vec v[] = {
		{"GET / HTTP/1.1\r\nHost : a\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nX Y: z\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\n: z\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nX\"Y: z\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\n(X): z\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\n[X]: z\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nX/Y: z\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nX@Y: z\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nX\x7fY: z\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nH\xc3\xa9: z\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-!#$%&'*+-.^_`|~09Az: ok\r\n\r\n", 1},
	};
	CHECK_VECS(v, 1, HTTP_M_GET);
	/* NUL inside a name: literals stop at NUL, so build it */
	const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX\0Y: z\r\n\r\n";
	struct http_limits lim = deflim();
	struct snap sn;
	CHECK_EQ_INT(run(s, sizeof s - 1, 1, HTTP_M_GET, &lim, MAXH, &sn), -ERR_PARSE);
}

static void req_field_values(void)
{
	static const struct vec v[] = {
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\x0b\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\x1b[0m\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789abcdef\x01xyz\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9 \t ok\r\n\r\n", 1},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\"c\\d\r\n\r\n", 1},
	};
	CHECK_VECS(v, 1, HTTP_M_GET);
	const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX: abcdefgh\0ijklmnop\r\n\r\n";
	struct http_limits lim = deflim();
	struct snap sn;
	CHECK_EQ_INT(run(s, sizeof s - 1, 1, HTTP_M_GET, &lim, MAXH, &sn), -ERR_PARSE);
	/* trimming keeps inner whitespace, drops the outer */
	const char *t = "GET / HTTP/1.1\r\nHost: a\r\nX: \t a \t b \t \r\n\r\n";
	REQUIRE(req(t, &sn) > 0);
	CHECK_HDR(sn, t, 1, "X", "a \t b");
}

/* One odd octet at every offset of a long value and a long target, so each lands in every
 * lane of the word-at-a-time scans and in their byte-by-byte tails. */
static void octet_positions(void)
{
	static const struct {
		char c;
		int value_ok, target_ok;
	} oct[] = {
		{'\0', 0, 0},   {'\x01', 0, 0}, {'\x1f', 0, 0}, {'\x7f', 0, 0},
		{'\r', 0, 0},   {'\n', 0, 0},   {'\t', 1, 0},   {' ', 1, 0},
		{'\x80', 1, 0}, {'\xff', 1, 0}, {'~', 1, 1},    {'!', 1, 1},
	};
	struct http_limits lim = deflim();
	for (size_t k = 0; k < sizeof oct / sizeof oct[0]; k++) {
		for (size_t pos = 0; pos < 24; pos++) {
			char s[128];
			struct snap sn;
			int n = snprintf(s, sizeof s, "GET / HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n",
					 "aaaaaaaaaaaaaaaaaaaaaaaa");
			char *v = strstr(s, "X: ") + 3;
			v[pos] = oct[k].c;
			int rc = run(s, (size_t)n, 1, HTTP_M_GET, &lim, MAXH, &sn);
			/* whitespace at either end is trimmed OWS, not part of the value */
			int want = oct[k].value_ok ? n : -ERR_PARSE;
			if (rc != want)
				TEST_FAIL_("value octet 0x%02x at %zu: %d", (unsigned char)oct[k].c,
					   pos, rc);
			if (rc > 0 && (oct[k].c == '\t' || oct[k].c == ' ') && pos > 0 && pos < 23)
				CHECK_EQ_INT(sn.hv[1][1], 24);

			n = snprintf(s, sizeof s, "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n",
				     "bbbbbbbbbbbbbbbbbbbbbbbb");
			s[5 + pos] = oct[k].c;
			rc = run(s, (size_t)n, 1, HTTP_M_GET, &lim, MAXH, &sn);
			if ((rc > 0) != oct[k].target_ok)
				TEST_FAIL_("target octet 0x%02x at %zu: %d",
					   (unsigned char)oct[k].c, pos, rc);
		}
	}
}

/* obs-fold (RFC 9112 §5.2) and whitespace after the start line (§2.2): rejected. */
static void req_obs_fold(void)
{
	static const struct vec v[] = {
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\n Host: a\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\n \r\n\r\n", -ERR_PARSE},
	};
	CHECK_VECS(v, 1, HTTP_M_GET);
}

/* Bare LF is refused everywhere in a head (strict; RFC 9112 §2.2 permits but does not
 * require accepting it), and so is a CR not followed by LF. */
static void req_bare_lf_cr(void)
{
	static const struct vec v[] = {
		{"GET / HTTP/1.1\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\n\n", -ERR_PARSE},
		{"GET / HTTP/1.1\n\n", -ERR_PARSE},
		{"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET\r/ HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\n\rX: y\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\nX\r: y\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", -ERR_PARSE},
	};
	CHECK_VECS(v, 1, HTTP_M_GET);
}

static void req_method(void)
{
	static const struct {
		const char *m;
		int id;
	} ids[] = {
		{"GET", HTTP_M_GET},        {"HEAD", HTTP_M_HEAD},      {"POST", HTTP_M_POST},
		{"PUT", HTTP_M_PUT},        {"DELETE", HTTP_M_DELETE},  {"OPTIONS", HTTP_M_OPTIONS},
		{"TRACE", HTTP_M_TRACE},    {"PATCH", HTTP_M_PATCH},    {"get", HTTP_M_OTHER},
		{"PROPFIND", HTTP_M_OTHER}, {"M-SEARCH", HTTP_M_OTHER}, {"GETS", HTTP_M_OTHER},
	};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		char s[128];
		snprintf(s, sizeof s, "%s / HTTP/1.1\r\nHost: a\r\n\r\n", ids[i].m);
		struct snap sn;
		CHECK_EQ_INT(req(s, &sn), (int)strlen(s));
		CHECK_EQ_INT(sn.method_id, ids[i].id);
		CHECK_SL(sn, s, method, ids[i].m);
	}
	static const struct vec v[] = {
		{"G ET / HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{" GET / HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"G\xc3\x89T / HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"/ HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET\r\n\r\n", -ERR_PARSE},
	};
	CHECK_VECS(v, 1, HTTP_M_GET);
}

static void req_target(void)
{
	static const struct vec v[] = {
		{"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET  HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET * HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"CONNECT example.com: HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"CONNECT :443 HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"CONNECT a/b:443 HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET /%41?x=[1]&y=@~!$'()*+,;=:/? HTTP/1.1\r\nHost: a\r\n\r\n", 1},
	};
	CHECK_VECS(v, 1, HTTP_M_GET);
	struct snap sn;
	CHECK(req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &sn) > 0);
	CHECK_EQ_INT(sn.target_form, HTTP_T_ASTERISK);
	CHECK(req("GET http://example.com:8080/x?y HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
		  &sn) > 0);
	CHECK_EQ_INT(sn.target_form, HTTP_T_ABSOLUTE);
	CHECK(req("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", &sn) > 0);
	CHECK_EQ_INT(sn.target_form, HTTP_T_AUTHORITY);
	CHECK_EQ_INT(sn.method_id, HTTP_M_CONNECT);
	CHECK(req("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", &sn) > 0);
}

static void req_version(void)
{
	static const struct vec v[] = {
		{"GET / HTTP/1.2\r\nHost: a\r\n\r\n", -ERR_HTTP_BAD_VERSION},
		{"GET / HTTP/2.0\r\nHost: a\r\n\r\n", -ERR_HTTP_BAD_VERSION},
		{"GET / HTTP/0.9\r\nHost: a\r\n\r\n", -ERR_HTTP_BAD_VERSION},
		{"GET / http/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.10\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/2\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET /\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET / \r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", -ERR_PARSE},
		{"GET / HTTPS/1.1\r\nHost: a\r\n\r\n", -ERR_PARSE},
	};
	CHECK_VECS(v, 1, HTTP_M_GET);
}

static void req_host(void)
{
	static const struct vec v[] = {
		{"GET / HTTP/1.1\r\n\r\n", -ERR_HTTP_BAD_HOST},
		{"GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", -ERR_HTTP_BAD_HOST},
		{"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", -ERR_HTTP_BAD_HOST},
		{"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", -ERR_HTTP_BAD_HOST},
		{"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", -ERR_HTTP_BAD_HOST},
		{"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", -ERR_HTTP_BAD_HOST},
		{"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", -ERR_HTTP_BAD_HOST},
		{"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", -ERR_HTTP_BAD_HOST},
		{"GET / HTTP/1.1\r\nHost: a,b\r\n\r\n", -ERR_HTTP_BAD_HOST}, /* no lists */
		{"GET / HTTP/1.1\r\nHost: a!$&'()*+;=-._~%41\r\n\r\n", 1},
		{"GET / HTTP/1.1\r\nHost: a?b\r\n\r\n", -ERR_HTTP_BAD_HOST},
		{"GET / HTTP/1.1\r\nHost: \xc3\xa9.com\r\n\r\n", -ERR_HTTP_BAD_HOST},
		{"GET / HTTP/1.1\r\nHost:\r\n\r\n", 1},
		{"GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n", 1},
		{"GET / HTTP/1.1\r\nHost: xn--caf-dma.example:443\r\n\r\n", 1},
	};
	CHECK_VECS(v, 1, HTTP_M_GET);
}

static void req_leading_empty_lines(void)
{
	struct snap sn;
	const char *one = "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	const char *two = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	CHECK_EQ_INT(req(one, &sn), (int)strlen(one));
	CHECK_SL(sn, one, method, "GET");
	CHECK_EQ_INT(req(two, &sn), (int)strlen(two)); /* at the cap */
	CHECK_EQ_INT(req_rc("\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), -ERR_PARSE);
	CHECK_EQ_INT(req_rc("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"), -ERR_PARSE);
	CHECK_EQ_INT(req_rc("\r\n \r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), -ERR_PARSE);
}

/* Build "GET /aaa...a HTTP/1.1\r\nHost: a\r\n\r\n" with a request line of `linelen` octets. */
static size_t build_line(char *out, size_t cap, size_t linelen)
{
	size_t fixed = strlen("GET / HTTP/1.1");
	size_t n = 0;
	memcpy(out + n, "GET /", 5);
	n += 5;
	memset(out + n, 'a', linelen - fixed);
	n += linelen - fixed;
	n += (size_t)snprintf(out + n, cap - n, " HTTP/1.1\r\nHost: a\r\n\r\n");
	return n;
}

static void limit_max_line(void)
{
	struct http_limits lim = deflim();
	lim.max_line = 64;
	char s[256];
	struct snap sn;
	size_t n = build_line(s, sizeof s, 64);
	CHECK_EQ_INT(run(s, n, 1, HTTP_M_GET, &lim, MAXH, &sn), (int)n);
	CHECK_EQ_INT(sn.target[1], 64 - 14 + 1);
	n = build_line(s, sizeof s, 65);
	CHECK_EQ_INT(run(s, n, 1, HTTP_M_GET, &lim, MAXH, &sn), -ERR_HTTP_LINE_TOO_LONG);
	CHECK_EQ_INT(http_error_status(sn.rc), 414);
	/* an endless line fails as soon as it is longer than the cap, not at its end */
	memset(s, 'a', sizeof s);
	memcpy(s, "GET /", 5);
	CHECK_EQ_INT(run(s, 66, 1, HTTP_M_GET, &lim, MAXH, &sn), -ERR_HTTP_LINE_TOO_LONG);
	CHECK_EQ_INT(run(s, 65, 1, HTTP_M_GET, &lim, MAXH, &sn), -ERR_PARTIAL);
	/* the status line has the same cap */
	char r[256];
	int k = snprintf(r, sizeof r, "HTTP/1.1 200 %.*s\r\nContent-Length: 0\r\n\r\n", 64 - 13,
			 "0123456789012345678901234567890123456789012345678901234567890123");
	CHECK_EQ_INT(run(r, (size_t)k, 0, HTTP_M_GET, &lim, MAXH, &sn), k);
	k = snprintf(r, sizeof r, "HTTP/1.1 200 %.*s\r\nContent-Length: 0\r\n\r\n", 65 - 13,
		     "0123456789012345678901234567890123456789012345678901234567890123");
	CHECK_EQ_INT(run(r, (size_t)k, 0, HTTP_M_GET, &lim, MAXH, &sn), -ERR_HTTP_LINE_TOO_LONG);
}

static size_t build_fields(char *out, size_t cap, size_t nfields)
{
	size_t n = (size_t)snprintf(out, cap, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (size_t i = 1; i < nfields; i++)
		n += (size_t)snprintf(out + n, cap - n, "X-%zu: v\r\n", i);
	n += (size_t)snprintf(out + n, cap - n, "\r\n");
	return n;
}

static void limit_max_headers(void)
{
	struct http_limits lim = deflim();
	lim.max_headers = 10;
	char s[1024];
	struct snap sn;
	size_t n = build_fields(s, sizeof s, 10);
	CHECK_EQ_INT(run(s, n, 1, HTTP_M_GET, &lim, MAXH, &sn), (int)n);
	CHECK_EQ_INT(sn.nhdr, 10);
	n = build_fields(s, sizeof s, 11);
	CHECK_EQ_INT(run(s, n, 1, HTTP_M_GET, &lim, MAXH, &sn), -ERR_HTTP_TOO_MANY_HEADERS);
	CHECK_EQ_INT(http_error_status(sn.rc), 431);
	/* the caller's array is a cap too, when smaller than max_headers */
	lim.max_headers = 100;
	n = build_fields(s, sizeof s, 5);
	CHECK_EQ_INT(run(s, n, 1, HTTP_M_GET, &lim, 5, &sn), (int)n);
	n = build_fields(s, sizeof s, 6);
	CHECK_EQ_INT(run(s, n, 1, HTTP_M_GET, &lim, 5, &sn), -ERR_HTTP_TOO_MANY_HEADERS);
	/* no fields at all with a zero-capacity array */
	CHECK(run("GET / HTTP/1.0\r\n\r\n", 18, 1, HTTP_M_GET, &lim, 0, &sn) == 18);
}

/* Request line, then a header section of exactly `bytes` octets (final CRLF included). */
static size_t build_section(char *out, size_t cap, size_t bytes)
{
	size_t n = (size_t)snprintf(out, cap, "GET / HTTP/1.1\r\n");
	size_t fixed = strlen("Host: a\r\nX: \r\n\r\n");
	n += (size_t)snprintf(out + n, cap - n, "Host: a\r\nX: ");
	memset(out + n, 'v', bytes - fixed);
	n += bytes - fixed;
	n += (size_t)snprintf(out + n, cap - n, "\r\n\r\n");
	return n;
}

static void limit_max_header_bytes(void)
{
	struct http_limits lim = deflim();
	lim.max_header_bytes = 200;
	char s[512];
	struct snap sn;
	size_t n = build_section(s, sizeof s, 200);
	CHECK_EQ_INT(run(s, n, 1, HTTP_M_GET, &lim, MAXH, &sn), (int)n);
	n = build_section(s, sizeof s, 201);
	CHECK_EQ_INT(run(s, n, 1, HTTP_M_GET, &lim, MAXH, &sn), -ERR_HTTP_HEADERS_TOO_LARGE);
	CHECK_EQ_INT(http_error_status(sn.rc), 431);
	/* an unfinished section fails once it is over the cap, without waiting for its end */
	n = build_section(s, sizeof s, 300);
	CHECK_EQ_INT(run(s, 16 + 201, 1, HTTP_M_GET, &lim, MAXH, &sn), -ERR_HTTP_HEADERS_TOO_LARGE);
	CHECK_EQ_INT(run(s, 16 + 200, 1, HTTP_M_GET, &lim, MAXH, &sn), -ERR_PARTIAL);
	/* the response side counts the same way */
	char r[512];
	int k = snprintf(r, sizeof r, "HTTP/1.1 204 No Content\r\n%s", strchr(s + 16, 'H'));
	lim.max_header_bytes = 300;
	CHECK_EQ_INT(run(r, (size_t)k, 0, HTTP_M_GET, &lim, MAXH, &sn), k);
	lim.max_header_bytes = 299;
	CHECK_EQ_INT(run(r, (size_t)k, 0, HTTP_M_GET, &lim, MAXH, &sn),
		     -ERR_HTTP_HEADERS_TOO_LARGE);
}

static void limit_max_body(void)
{
	struct http_limits lim = deflim();
	lim.max_body = 1000;
	struct snap sn;
	const char *at = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n";
	const char *over = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n";
	CHECK_EQ_INT(run(at, strlen(at), 1, HTTP_M_GET, &lim, MAXH, &sn), (int)strlen(at));
	CHECK_EQ_INT(run(over, strlen(over), 1, HTTP_M_GET, &lim, MAXH, &sn),
		     -ERR_HTTP_BODY_TOO_LARGE);
	CHECK_EQ_INT(http_error_status(sn.rc), 413);
	const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n";
	CHECK_EQ_INT(run(r, strlen(r), 0, HTTP_M_GET, &lim, MAXH, &sn), -ERR_HTTP_BODY_TOO_LARGE);
	/* no body follows a response to HEAD: its Content-Length is no body size */
	CHECK_EQ_INT(run(r, strlen(r), 0, HTTP_M_HEAD, &lim, MAXH, &sn), (int)strlen(r));
	CHECK_EQ_INT(sn.body, HTTP_BODY_NONE);
	CHECK_EQ_INT(sn.cl, 1001);
}

static void req_pipelined(void)
{
	const char *s = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n";
	struct http_limits lim = deflim();
	struct http_header hdr[4];
	struct http_request r;
	char *buf = dup_exact(s, strlen(s));
	http_request_init(&r, hdr, 4);
	int n1 = http_parse_request(&r, buf, strlen(s), &lim);
	REQUIRE(n1 == 28);
	CHECK_EQ_MEM(r.target.p, r.target.len, "/1");
	http_request_init(&r, hdr, 4);
	int n2 = http_parse_request(&r, buf + n1, strlen(s) - (size_t)n1, &lim);
	CHECK_EQ_INT(n2, 28);
	CHECK_EQ_MEM(r.target.p, r.target.len, "/2");
	CHECK_EQ_MEM(r.h.host.p, r.h.host.len, "b");
	free(buf);
}

/* A compacted buffer: the same bytes at a new address; slices follow them. */
static void req_rebase(void)
{
	const char *s = "POST /up HTTP/1.1\r\nHost: h\r\nUpgrade: x\r\nContent-Length: 2\r\n\r\n";
	size_t n = strlen(s);
	struct http_limits lim = deflim();
	struct http_header hdr[8];
	struct http_request r;
	char a[128], b[256];
	memcpy(a, s, 30);
	http_request_init(&r, hdr, 8);
	CHECK_EQ_INT(http_parse_request(&r, a, 30, &lim), -ERR_PARTIAL);
	memset(a, '#', sizeof a); /* the old copy is gone */
	memcpy(b + 100, s, n);
	REQUIRE(http_parse_request(&r, b + 100, n, &lim) == (int)n);
	CHECK(r.method.p == b + 100);
	CHECK_EQ_MEM(r.target.p, r.target.len, "/up");
	CHECK_EQ_MEM(r.h.hdr[0].value.p, r.h.hdr[0].value.len, "h");
	CHECK_EQ_MEM(r.h.host.p, r.h.host.len, "h");
	CHECK_EQ_MEM(r.h.upgrade.p, r.h.upgrade.len, "x");
	CHECK_EQ_INT(r.h.content_length, 2);
	/* latched, and rebased again on the next call */
	CHECK_EQ_INT(http_parse_request(&r, s, n, &lim), (int)n);
	CHECK(r.target.p == s + 5);
}

static void error_status_map(void)
{
	CHECK_EQ_INT(http_error_status(-ERR_HTTP_LINE_TOO_LONG), 414);
	CHECK_EQ_INT(http_error_status(ERR_HTTP_LINE_TOO_LONG), 414);
	CHECK_EQ_INT(http_error_status(-ERR_HTTP_TOO_MANY_HEADERS), 431);
	CHECK_EQ_INT(http_error_status(-ERR_HTTP_HEADERS_TOO_LARGE), 431);
	CHECK_EQ_INT(http_error_status(-ERR_HTTP_TRAILER_TOO_LARGE), 431);
	CHECK_EQ_INT(http_error_status(-ERR_HTTP_BODY_TOO_LARGE), 413);
	CHECK_EQ_INT(http_error_status(-ERR_HTTP_UNKNOWN_CODING), 501);
	CHECK_EQ_INT(http_error_status(-ERR_HTTP_BAD_VERSION), 505);
	CHECK_EQ_INT(http_error_status(-ERR_HTTP_BAD_FRAMING), 400);
	CHECK_EQ_INT(http_error_status(-ERR_HTTP_BAD_CHUNK), 400);
	CHECK_EQ_INT(http_error_status(-ERR_HTTP_BAD_HOST), 400);
	CHECK_EQ_INT(http_error_status(-ERR_PARSE), 400);
	CHECK_EQ_INT(http_error_status(-ERR_PARTIAL), 400);
	CHECK_EQ_STR(err_name(-ERR_HTTP_UNKNOWN_CODING), "HTTP_UNKNOWN_CODING");
}

/* The class table against the RFC definitions, spelled out independently here. */
static void cclass_table(void)
{
	const char *tch = "!#$%&'*+-.^_`|~";
	const char *host = "-._~%!$&'()*+;=:[]";
	for (int c = 0; c < 256; c++) {
		int alnum =
			(c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		int vchar = c >= 0x21 && c <= 0x7e;
		int want = 0;
		if (alnum || (c && strchr(tch, c)))
			want |= HC_TCHAR;
		if (c == '\t' || c == ' ' || vchar || c >= 0x80)
			want |= HC_VALUE;
		if (vchar)
			want |= HC_TARGET;
		if (alnum || (c && strchr(host, c)))
			want |= HC_HOST;
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
			want |= HC_HEX;
		if (c == ' ' || c == '\t')
			want |= HC_OWS;
		if (c == '\t' || c == ' ' || c == '!' || (c >= 0x23 && c <= 0x5b) ||
		    (c >= 0x5d && c <= 0x7e) || c >= 0x80)
			want |= HC_QDTEXT;
		if (alnum || c == '+' || c == '-' || c == '.')
			want |= HC_SCHEME;
		if (http_cclass[c] != want)
			TEST_FAIL_("class of 0x%02x is 0x%02x, want 0x%02x", c, http_cclass[c],
				   want);
	}
}

/* ---- responses -------------------------------------------------------------------------- */

static void res_basic(void)
{
	const char *s = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n";
	struct snap sn;
	REQUIRE(res(s, HTTP_M_GET, &sn) == (int)strlen(s));
	CHECK_EQ_INT(sn.status, 200);
	CHECK_SL(sn, s, reason, "OK");
	CHECK_EQ_INT(sn.minor, 1);
	CHECK_EQ_INT(sn.body, HTTP_BODY_LENGTH);
	CHECK_EQ_INT(sn.cl, 12);
	CHECK(sn.flags & HTTP_F_KEEP_ALIVE);
	CHECK_HDR(sn, s, 0, "Content-Type", "text/plain");
	/* Host in a response is just a field */
	CHECK(res("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\nContent-Length: 0\r\n\r\n", HTTP_M_GET,
		  &sn) > 0);
}

/* RFC 9112 §6.3 rules 1 and 2: no body whatever the framing fields say. */
static void res_no_body(void)
{
	struct snap sn;
	const char *cl = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
	CHECK(res(cl, HTTP_M_HEAD, &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_NONE);
	CHECK(sn.flags & HTTP_F_KEEP_ALIVE);
	const char *te = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	CHECK(res(te, HTTP_M_HEAD, &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_NONE);
	CHECK(res("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", HTTP_M_GET, &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_NONE);
	CHECK(res("HTTP/1.1 304 Not Modified\r\nContent-Length: 5000\r\n\r\n", HTTP_M_GET, &sn) >
	      0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_NONE);
	CHECK(res("HTTP/1.1 304 Not Modified\r\n\r\n", HTTP_M_GET, &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_NONE);
	CHECK(sn.flags & HTTP_F_KEEP_ALIVE);
	CHECK(res("HTTP/1.1 100 Continue\r\n\r\n", HTTP_M_POST, &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_NONE);
	CHECK(!(sn.flags & HTTP_F_TUNNEL));
	CHECK(res("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", HTTP_M_GET,
		  &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_NONE);
	CHECK(res("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
		  "Upgrade\r\n"
		  "\r\n",
		  HTTP_M_GET, &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_NONE);
	CHECK(sn.flags & HTTP_F_TUNNEL);
	CHECK(sn.flags & HTTP_F_UPGRADE);
	CHECK(!(sn.flags & HTTP_F_KEEP_ALIVE));
}

static void res_framing(void)
{
	struct snap sn;
	CHECK(res("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_M_GET, &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_CHUNKED);
	CHECK(!(sn.flags & HTTP_F_TE_CODED));
	CHECK(res("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", HTTP_M_GET, &sn) >
	      0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_CHUNKED);
	CHECK(sn.flags & HTTP_F_TE_CODED);
	/* final coding not chunked: read until close (RFC 9112 §6.3 rule 4) */
	CHECK(res("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", HTTP_M_GET, &sn) >
	      0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_CLOSE);
	CHECK(!(sn.flags & HTTP_F_KEEP_ALIVE));
	CHECK(res("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", HTTP_M_GET, &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_CLOSE);
	CHECK(res("HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n", HTTP_M_GET, &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_CLOSE);
	/* no framing at all: until close (rule 8) */
	CHECK(res("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n", HTTP_M_GET, &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_CLOSE);
	CHECK(!(sn.flags & HTTP_F_KEEP_ALIVE));
	static const struct vec bad[] = {
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", -ERR_HTTP_BAD_FRAMING},
		{"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", -ERR_HTTP_BAD_FRAMING},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n",
		 -ERR_HTTP_BAD_FRAMING},
		{"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", -ERR_HTTP_BAD_FRAMING},
		{"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", -ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nX : a\r\n\r\n", -ERR_PARSE},
		{"HTTP/1.1 200 OK\nContent-Length: 0\n\n", -ERR_PARSE},
	};
	CHECK_VECS(bad, 0, HTTP_M_GET);
}

static void res_connect_tunnel(void)
{
	struct snap sn;
	CHECK(res("HTTP/1.1 200 Connection Established\r\n\r\n", HTTP_M_CONNECT, &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_NONE);
	CHECK(sn.flags & HTTP_F_TUNNEL);
	CHECK(res("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 3\r\n\r\n",
		  HTTP_M_CONNECT, &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_LENGTH);
	CHECK(!(sn.flags & HTTP_F_TUNNEL));
}

static void res_status_line(void)
{
	struct snap sn;
	const char *noreason = "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n";
	CHECK(res(noreason, HTTP_M_GET, &sn) > 0);
	CHECK_EQ_INT(sn.reason[1], 0);
	CHECK(res("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", HTTP_M_GET, &sn) > 0);
	CHECK_EQ_INT(sn.reason[1], 0);
	const char *odd = "HTTP/1.1 404 Nicht  gefunden \xc3\xbc\t!\r\nContent-Length: 0\r\n\r\n";
	CHECK(res(odd, HTTP_M_GET, &sn) > 0);
	CHECK_SL(sn, odd, reason, "Nicht  gefunden \xc3\xbc\t!");
	CHECK(res("HTTP/1.1 599 x\r\n\r\n", HTTP_M_GET, &sn) > 0);
	static const struct vec bad[] = {
		{"HTTP/1.1 20 OK\r\n\r\n", -ERR_PARSE},
		{"HTTP/1.1 2000 OK\r\n\r\n", -ERR_PARSE},
		{"HTTP/1.1 099 OK\r\n\r\n", -ERR_PARSE},
		{"HTTP/1.1 600 OK\r\n\r\n", -ERR_PARSE},
		{"HTTP/1.1  200 OK\r\n\r\n", -ERR_PARSE},
		{"HTTP/1.1 2x0 OK\r\n\r\n", -ERR_PARSE},
		{"HTTP/1.1 200 O\x01K\r\n\r\n", -ERR_PARSE},
		{"HTTP/1.1 200 O\rK\r\n\r\n", -ERR_PARSE},
		{"HTTP/1.1 200\tOK\r\n\r\n", -ERR_PARSE},
		{"HTTP/2 200 OK\r\n\r\n", -ERR_PARSE},
		{"HTTP/2.0 200 OK\r\n\r\n", -ERR_HTTP_BAD_VERSION},
		{"HTTP/1.1\r\n\r\n", -ERR_PARSE},
		{"ICY 200 OK\r\n\r\n", -ERR_PARSE},
	};
	CHECK_VECS(bad, 0, HTTP_M_GET);
}

static void res_keepalive(void)
{
	struct snap sn;
	CHECK(res("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", HTTP_M_GET, &sn) > 0);
	CHECK(!(sn.flags & HTTP_F_KEEP_ALIVE));
	CHECK(res("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n",
		  HTTP_M_GET, &sn) > 0);
	CHECK(sn.flags & HTTP_F_KEEP_ALIVE);
	CHECK(res("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n", HTTP_M_GET,
		  &sn) > 0);
	CHECK(!(sn.flags & HTTP_F_KEEP_ALIVE));
	CHECK(res("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", HTTP_M_GET, &sn) > 0);
	CHECK_EQ_INT(sn.body, HTTP_BODY_CLOSE);
	CHECK(!(sn.flags & HTTP_F_KEEP_ALIVE));
	/* hop-by-hop marking works on responses too */
	const char *s = "HTTP/1.1 200 OK\r\nConnection: x-a\r\nX-A: 1\r\nX-B: 2\r\n"
			"Content-Length: 0\r\n\r\n";
	REQUIRE(res(s, HTTP_M_GET, &sn) > 0);
	CHECK_EQ_INT(sn.hop[1], 1);
	CHECK_EQ_INT(sn.hop[2], 0);
}

/* ---- chunked decoder -------------------------------------------------------------------- */

struct ckout {
	int rc;
	size_t used;
	size_t dlen;
	char data[4096];
};

static void ck_feed(struct http_chunked *c, const char *p, size_t n, const struct http_limits *lim,
		    struct ckout *o)
{
	while (n > 0 && o->rc == 0) {
		size_t u = 0;
		struct slice d;
		int rc = http_chunked_decode(c, p, n, lim, &u, &d);
		if (u > n || (rc == 0 && u == 0))
			TEST_FAIL_("decoder used %zu of %zu (rc %d)", u, n, rc);
		if (d.len && (d.p < p || d.p + d.len > p + u))
			TEST_FAIL_("data slice outside the consumed bytes");
		for (size_t i = 0; i < d.len; i++, o->dlen++)
			if (o->dlen < sizeof o->data)
				o->data[o->dlen] = d.p[i];
		o->used += u;
		p += u;
		n -= u;
		o->rc = rc;
	}
}

static int ck_same(const struct ckout *a, const struct ckout *b)
{
	size_t n = a->dlen < sizeof a->data ? a->dlen : sizeof a->data;
	return a->rc == b->rc && a->used == b->used && a->dlen == b->dlen &&
	       memcmp(a->data, b->data, n) == 0;
}

/* Decode s[0..n) whole, byte by byte (one heap block per byte) and split in two at every
 * point; all must agree. */
static int ck_run(const char *s, size_t n, const struct http_limits *lim, struct ckout *out)
{
	struct http_chunked c;
	char *whole = dup_exact(s, n);
	memset(out, 0, sizeof *out);
	http_chunked_init(&c);
	ck_feed(&c, whole, n, lim, out);
	free(whole);

	struct ckout o;
	memset(&o, 0, sizeof o);
	http_chunked_init(&c);
	for (size_t i = 0; i < n && o.rc == 0; i++) {
		char *b = dup_exact(s + i, 1);
		ck_feed(&c, b, 1, lim, &o);
		free(b);
	}
	if (!ck_same(&o, out))
		TEST_FAIL_("[%.40s] byte-by-byte decode differs (rc %d vs %d)", s, o.rc, out->rc);

	for (size_t k = 0; k <= n && n <= 4096; k++) {
		char *a = dup_exact(s, k), *b = dup_exact(s + k, n - k);
		memset(&o, 0, sizeof o);
		http_chunked_init(&c);
		ck_feed(&c, a, k, lim, &o);
		if (o.rc != 0 && o.rc != out->rc)
			TEST_FAIL_("[%.40s] prefix %zu gave %d, whole %d", s, k, o.rc, out->rc);
		if (o.rc == 0)
			ck_feed(&c, b, n - k, lim, &o);
		if (!ck_same(&o, out))
			TEST_FAIL_("[%.40s] split at %zu differs", s, k);
		free(a);
		free(b);
	}
	return out->rc;
}

static int ck(const char *s, struct ckout *o)
{
	struct http_limits lim = deflim();
	return ck_run(s, strlen(s), &lim, o);
}

static int ck_rc(const char *s)
{
	struct ckout o;
	return ck(s, &o);
}

static void chunked_basic(void)
{
	struct ckout o;
	const char *s = "5\r\nhello\r\n6\r\n world\r\nA\r\n0123456789\r\n0\r\n\r\n";
	CHECK_EQ_INT(ck(s, &o), 1);
	CHECK_EQ_INT(o.used, strlen(s));
	CHECK_EQ_MEM(o.data, o.dlen, "hello world0123456789");
	/* bytes after the body are the next message's: not consumed */
	const char *t = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
	CHECK_EQ_INT(ck(t, &o), 1);
	CHECK_EQ_INT(o.used, 13);
	CHECK_EQ_MEM(o.data, o.dlen, "abc");
	/* upper- and lower-case hex, leading zeros */
	CHECK_EQ_INT(ck("00000000000000000000000b\r\nhello world\r\n0000\r\n\r\n", &o), 1);
	CHECK_EQ_MEM(o.data, o.dlen, "hello world");
	CHECK_EQ_INT(ck("1a\r\nabcdefghijklmnopqrstuvwxyz\r\n1A\r\nABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n"
			"0\r\n\r\n",
			&o),
		     1);
	CHECK_EQ_INT(o.dlen, 52);
	/* chunk data may hold anything, CRLF included */
	CHECK_EQ_INT(ck("4\r\n\r\n\r\n\r\n0\r\n\r\n", &o), 1);
	CHECK_EQ_MEM(o.data, o.dlen, "\r\n\r\n");
	/* unfinished: needs more */
	CHECK_EQ_INT(ck("5\r\nhel", &o), 0);
	CHECK_EQ_INT(ck("5\r\nhello\r\n0\r\n", &o), 0);
}

/* A request head then its chunked body, as the proxy reads them. */
static void chunked_after_head(void)
{
	const char *s = "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
			"4;name=\"v\\\"1\"\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Sum: 9\r\n\r\n";
	struct http_limits lim = deflim();
	struct http_header hdr[8];
	struct http_request r;
	http_request_init(&r, hdr, 8);
	int n = http_parse_request(&r, s, strlen(s), &lim);
	REQUIRE(n > 0);
	CHECK_EQ_INT(r.h.body, HTTP_BODY_CHUNKED);
	struct ckout o;
	CHECK_EQ_INT(ck_run(s + n, strlen(s) - (size_t)n, &lim, &o), 1);
	CHECK_EQ_MEM(o.data, o.dlen, "Wikipedia");
	CHECK_EQ_INT(o.used, strlen(s) - (size_t)n);
}

static void chunked_extensions(void)
{
	static const char *ok[] = {
		"5;a=b\r\nhello\r\n0\r\n\r\n",
		"5;a\r\nhello\r\n0\r\n\r\n",
		"5 ;a\r\nhello\r\n0\r\n\r\n",
		"5\t; a = b ;c\r\nhello\r\n0\r\n\r\n",
		"5;a=\"q \\\" x\"\r\nhello\r\n0;last=yes\r\n\r\n",
		"5;a;b=c;d=\"\"\r\nhello\r\n0\r\n\r\n",
		"5;a=\"x;y,z\" ;b\r\nhello\r\n0\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		struct ckout o;
		CHECK_EQ_INT(ck(ok[i], &o), 1);
		CHECK_EQ_MEM(o.data, o.dlen, "hello");
	}
	static const char *bad[] = {
		"5;\r\nhello\r\n0\r\n\r\n",
		"5;=b\r\nhello\r\n0\r\n\r\n",
		"5 \r\nhello\r\n0\r\n\r\n",
		"5;a \r\nhello\r\n0\r\n\r\n",
		"5;a=\r\nhello\r\n0\r\n\r\n",
		"5;a=\"x\r\nhello\r\n0\r\n\r\n",
		"5;a=b c\r\nhello\r\n0\r\n\r\n",
		"5;a=\"x\"y\r\nhello\r\n0\r\n\r\n",
		"5;a@b\r\nhello\r\n0\r\n\r\n",
		"5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n",
		"5;a=\"\\\x7f\"\r\nhello\r\n0\r\n\r\n",
		"5,a\r\nhello\r\n0\r\n\r\n",
		"5 5\r\nhello\r\n0\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (ck_rc(bad[i]) != -ERR_HTTP_BAD_CHUNK)
			TEST_FAIL_("extension vector %zu accepted", i);
}

static void chunked_bad_sizes(void)
{
	static const char *bad[] = {
		"\r\nhello\r\n0\r\n\r\n",
		";a\r\nhello\r\n0\r\n\r\n",
		"g\r\nhello\r\n0\r\n\r\n",
		"-5\r\nhello\r\n0\r\n\r\n",
		"+5\r\nhello\r\n0\r\n\r\n",
		"0x5\r\nhello\r\n0\r\n\r\n",
		" 5\r\nhello\r\n0\r\n\r\n",
		"5\x01\r\nhello\r\n0\r\n\r\n",
		"10000000000000000\r\n", /* 2^64: overflow */
		"fffffffffffffffff\r\n", /* 17 significant digits */
		"000000000000000010000000000000000\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (ck_rc(bad[i]) != -ERR_HTTP_BAD_CHUNK)
			TEST_FAIL_("size vector %zu [%s] accepted", i, bad[i]);
	/* the largest size parses, and is then over max_body */
	CHECK_EQ_INT(ck_rc("ffffffffffffffff\r\n"), -ERR_HTTP_BODY_TOO_LARGE);
	struct http_limits lim = deflim();
	lim.max_body = UINT64_MAX;
	struct ckout o;
	const char *s = "ffffffffffffffff\r\nabc";
	CHECK_EQ_INT(ck_run(s, strlen(s), &lim, &o), 0);
	CHECK_EQ_INT(o.dlen, 3);
}

static void chunked_crlf(void)
{
	static const char *bad[] = {
		"5\r\nhelloX\r\n0\r\n\r\n", /* data longer than its size: no CRLF after it */
		"5\r\nhell\r\n0\r\n\r\n",   /* shorter */
		"5\r\nhello\n0\r\n\r\n",    /* bare LF after data */
		"5\r\nhello\r0\r\n\r\n",    /* bare CR after data */
		"5\nhello\r\n0\r\n\r\n",    /* bare LF after size */
		"5\rhello\r\n0\r\n\r\n",    /* bare CR after size */
		"5\r\nhello\r\n0\n\r\n",    /* bare LF after last chunk */
		"5\r\nhello\r\n0\r\n\n",    /* bare LF as final line */
		"5\r\nhello\r\n0\r\n\r\r",  "5\r\r\nhello\r\n0\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (ck_rc(bad[i]) != -ERR_HTTP_BAD_CHUNK)
			TEST_FAIL_("crlf vector %zu accepted", i);
}

static void chunked_trailers(void)
{
	struct ckout o;
	CHECK_EQ_INT(ck("0\r\nX-Checksum: abc\r\nX-Other:\r\n\r\n", &o), 1);
	CHECK_EQ_INT(o.dlen, 0);
	static const char *bad[] = {
		"0\r\nX: a\r\n b\r\n\r\n", /* obs-fold */
		"0\r\n X: a\r\n\r\n",      "0\r\nBad Name: x\r\n\r\n", "0\r\nX : x\r\n\r\n",
		"0\r\n: x\r\n\r\n",        "0\r\nX: a\x01\r\n\r\n",    "0\r\nX: a\rb\r\n\r\n",
		"0\r\nX: a\n\r\n",         "0\r\nNoColon\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (ck_rc(bad[i]) != -ERR_HTTP_BAD_CHUNK)
			TEST_FAIL_("trailer vector %zu accepted", i);
}

static void limit_trailer_bytes(void)
{
	struct http_limits lim = deflim();
	const char *s = "0\r\nX-A: 123\r\nX-B: 45\r\n\r\n"; /* trailer section: 21 octets */
	struct ckout o;
	lim.max_trailer_bytes = 21;
	CHECK_EQ_INT(ck_run(s, strlen(s), &lim, &o), 1);
	lim.max_trailer_bytes = 20;
	CHECK_EQ_INT(ck_run(s, strlen(s), &lim, &o), -ERR_HTTP_TRAILER_TOO_LARGE);
	CHECK_EQ_INT(http_error_status(o.rc), 431);
	lim.max_trailer_bytes = 2; /* just the final CRLF */
	CHECK_EQ_INT(ck_run("0\r\n\r\n", 5, &lim, &o), 1);
	lim.max_trailer_bytes = 1;
	CHECK_EQ_INT(ck_run("0\r\n\r\n", 5, &lim, &o), -ERR_HTTP_TRAILER_TOO_LARGE);
}

static void limit_chunk_line(void)
{
	struct http_limits lim = deflim();
	lim.max_chunk_line = 16;
	struct ckout o;
	const char *at = "5;abcdefghijklmn\r\nhello\r\n0\r\n\r\n";      /* 16 octets */
	const char *over = "5;abcdefghijklmno\r\nhello\r\n0\r\n\r\n";   /* 17 */
	const char *zeros = "0000000000000005\r\nhello\r\n0\r\n\r\n";   /* 16 */
	const char *zeros1 = "00000000000000005\r\nhello\r\n0\r\n\r\n"; /* 17 */
	CHECK_EQ_INT(ck_run(at, strlen(at), &lim, &o), 1);
	CHECK_EQ_INT(ck_run(over, strlen(over), &lim, &o), -ERR_HTTP_BAD_CHUNK);
	CHECK_EQ_INT(ck_run(zeros, strlen(zeros), &lim, &o), 1);
	CHECK_EQ_MEM(o.data, o.dlen, "hello");
	CHECK_EQ_INT(ck_run(zeros1, strlen(zeros1), &lim, &o), -ERR_HTTP_BAD_CHUNK);
	/* the cap is per line: the next size line starts again from zero */
	const char *two = "5;abcdefghijklmn\r\nhello\r\n0;abcdefghijklmn\r\n\r\n";
	CHECK_EQ_INT(ck_run(two, strlen(two), &lim, &o), 1);
}

static void limit_chunked_body(void)
{
	struct http_limits lim = deflim();
	lim.max_body = 10;
	struct ckout o;
	const char *at = "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
	const char *over = "5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n";
	CHECK_EQ_INT(ck_run(at, strlen(at), &lim, &o), 1);
	CHECK_EQ_INT(ck_run(over, strlen(over), &lim, &o), -ERR_HTTP_BODY_TOO_LARGE);
	/* refused at the size line, before any of that chunk's data is handed out */
	CHECK_EQ_INT(o.dlen, 5);
	CHECK_EQ_INT(http_error_status(o.rc), 413);
}

static void chunked_latched(void)
{
	struct http_limits lim = deflim();
	struct http_chunked c;
	size_t used;
	struct slice d;
	http_chunked_init(&c);
	CHECK_EQ_INT(http_chunked_decode(&c, "0\r\n\r\nxyz", 8, &lim, &used, &d), 1);
	CHECK_EQ_INT(used, 5);
	CHECK_EQ_INT(http_chunked_decode(&c, "xyz", 3, &lim, &used, &d), 1);
	CHECK_EQ_INT(used, 0);
	http_chunked_init(&c);
	CHECK_EQ_INT(http_chunked_decode(&c, "zz\r\n", 4, &lim, &used, &d), -ERR_HTTP_BAD_CHUNK);
	CHECK_EQ_INT(used, 1);
	CHECK_EQ_INT(http_chunked_decode(&c, "5\r\n", 3, &lim, &used, &d), -ERR_HTTP_BAD_CHUNK);
	CHECK_EQ_INT(used, 0);
	CHECK_EQ_INT(d.len, 0);
	/* empty input: nothing to do */
	http_chunked_init(&c);
	CHECK_EQ_INT(http_chunked_decode(&c, "", 0, &lim, &used, &d), 0);
	CHECK_EQ_INT(used, 0);
}

TEST_MAIN(req_simple_get, req_browser, req_http10_keepalive, req_connection_hop, req_expect,
	  req_content_length, req_content_length_invalid, req_chunked, req_smuggle_cl_te,
	  req_smuggle_te_te, req_field_names, req_field_values, octet_positions, req_obs_fold,
	  req_bare_lf_cr, req_method, req_target, req_version, req_host, req_leading_empty_lines,
	  limit_max_line, limit_max_headers, limit_max_header_bytes, limit_max_body, req_pipelined,
	  req_rebase, error_status_map, cclass_table, res_basic, res_no_body, res_framing,
	  res_connect_tunnel, res_status_line, res_keepalive, chunked_basic, chunked_after_head,
	  chunked_extensions, chunked_bad_sizes, chunked_crlf, chunked_trailers,
	  limit_trailer_bytes, limit_chunk_line, limit_chunked_body, chunked_latched)
