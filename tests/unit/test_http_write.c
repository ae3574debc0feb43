/* Unit tests for http_write: exact output, refusal of injected line breaks and control
 * octets, all-or-nothing behaviour at every buffer capacity, and round trips through
 * http_parse. */
#include "base/base_buf.h"
#include "base/base_err.h"
#include "http/http_parse.h"
#include "http/http_write.h"
#include "test.h"

#define S(lit) SLICE_LIT(lit)

static struct http_limits deflim(void)
{
	struct http_limits l;
	http_limits_default(&l);
	return l;
}

#define CHECK_BUF(b, lit) CHECK_EQ_MEM((b).data, (b).len, lit)

static void reason_phrases(void)
{
	CHECK_EQ_STR(http_status_reason(200), "OK");
	CHECK_EQ_STR(http_status_reason(404), "Not Found");
	CHECK_EQ_STR(http_status_reason(413), "Content Too Large");
	CHECK_EQ_STR(http_status_reason(414), "URI Too Long");
	CHECK_EQ_STR(http_status_reason(431), "Request Header Fields Too Large");
	CHECK_EQ_STR(http_status_reason(502), "Bad Gateway");
	CHECK_EQ_STR(http_status_reason(505), "HTTP Version Not Supported");
	CHECK_EQ_STR(http_status_reason(299), "");
	CHECK_EQ_STR(http_status_reason(-1), "");
	/* every phrase is a valid reason-phrase, and a written status line parses back */
	for (int s = 100; s <= 599; s++) {
		uint8_t mem[256];
		struct buf b;
		buf_init(&b, mem, sizeof mem);
		REQUIRE(http_write_response_head(&b, 1, s, (struct slice){0, 0}, NULL, 0, 0) == 0);
		struct http_response r;
		struct http_limits lim = deflim();
		http_response_init(&r, NULL, 0, HTTP_M_HEAD);
		if (http_parse_response(&r, (const char *)b.data, b.len, &lim) != (int)b.len ||
		    r.status != s || !slice_eq_cstr(r.reason, http_status_reason(s)))
			TEST_FAIL_("status %d does not round-trip", s);
	}
}

static void status_line(void)
{
	uint8_t mem[128];
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	CHECK_EQ_INT(http_write_status_line(&b, 1, 200, S("")), 0);
	CHECK_BUF(b, "HTTP/1.1 200 OK\r\n");
	buf_reset(&b);
	CHECK_EQ_INT(http_write_status_line(&b, 0, 404, S("Nope \xc3\xa9\tx")), 0);
	CHECK_BUF(b, "HTTP/1.0 404 Nope \xc3\xa9\tx\r\n");
	buf_reset(&b);
	CHECK_EQ_INT(http_write_status_line(&b, 1, 299, S("")), 0);
	CHECK_BUF(b, "HTTP/1.1 299 \r\n");
	buf_reset(&b);
	CHECK_EQ_INT(http_write_status_line(&b, 1, 99, S("")), -ERR_INVAL);
	CHECK_EQ_INT(http_write_status_line(&b, 1, 600, S("")), -ERR_INVAL);
	CHECK_EQ_INT(http_write_status_line(&b, 2, 200, S("")), -ERR_INVAL);
	CHECK_EQ_INT(http_write_status_line(&b, 1, 200, S("OK\r\nSet-Cookie: x")), -ERR_INVAL);
	CHECK_EQ_INT(http_write_status_line(&b, 1, 200, S("OK\n")), -ERR_INVAL);
	CHECK_EQ_INT(http_write_status_line(&b, 1, 200, S("O\x7fK")), -ERR_INVAL);
	CHECK_EQ_INT(b.len, 0);
}

static void request_line(void)
{
	uint8_t mem[128];
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	CHECK_EQ_INT(http_write_request_line(&b, S("GET"), S("/a?b=c"), 1), 0);
	CHECK_BUF(b, "GET /a?b=c HTTP/1.1\r\n");
	buf_reset(&b);
	CHECK_EQ_INT(http_write_request_line(&b, S("OPTIONS"), S("*"), 0), 0);
	CHECK_BUF(b, "OPTIONS * HTTP/1.0\r\n");
	buf_reset(&b);
	CHECK_EQ_INT(http_write_request_line(&b, S("G T"), S("/"), 1), -ERR_INVAL);
	CHECK_EQ_INT(http_write_request_line(&b, S(""), S("/"), 1), -ERR_INVAL);
	CHECK_EQ_INT(http_write_request_line(&b, S("GET"), S(""), 1), -ERR_INVAL);
	CHECK_EQ_INT(http_write_request_line(&b, S("GET"), S("/a b"), 1), -ERR_INVAL);
	CHECK_EQ_INT(http_write_request_line(&b, S("GET"), S("/a\r\nHost: evil"), 1), -ERR_INVAL);
	CHECK_EQ_INT(http_write_request_line(&b, S("GET"), S("/\xc3\xa9"), 1), -ERR_INVAL);
	CHECK_EQ_INT(http_write_request_line(&b, S("GET"), ((struct slice){"/\0x", 3}), 1),
		     -ERR_INVAL);
	CHECK_EQ_INT(http_write_request_line(&b, S("GET"), S("/"), 2), -ERR_INVAL);
	CHECK_EQ_INT(b.len, 0);
}

/* CRLF injection (response splitting, request smuggling through a forwarded value) and
 * other octets a parser would reject are refused before anything is written. */
static void header_injection(void)
{
	uint8_t mem[128];
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	CHECK_EQ_INT(http_write_header(&b, S("X-Ok"), S("a\tb \"c\" \xc3\xa9")), 0);
	CHECK_BUF(b, "X-Ok: a\tb \"c\" \xc3\xa9\r\n");
	buf_reset(&b);
	CHECK_EQ_INT(http_write_header(&b, S("X-Empty"), S("")), 0);
	CHECK_BUF(b, "X-Empty: \r\n");
	buf_reset(&b);
	static const struct slice bad_values[] = {
		SLICE_LIT("a\r\nSet-Cookie: admin=1"),
		SLICE_LIT("a\nb"),
		SLICE_LIT("a\rb"),
		{"a\0b", 3},
		SLICE_LIT("a\x01"),
		SLICE_LIT("a\x7f"),
		SLICE_LIT(" leading"),
		SLICE_LIT("trailing\t"),
		SLICE_LIT("\r\n"),
	};
	for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++)
		if (http_write_header(&b, S("X"), bad_values[i]) != -ERR_INVAL)
			TEST_FAIL_("value %zu accepted", i);
	static const struct slice bad_names[] = {
		SLICE_LIT(""),    SLICE_LIT("X Y"),      SLICE_LIT("X:"), SLICE_LIT("X\r\nY"),
		SLICE_LIT("X\t"), SLICE_LIT("\xc3\xa9"), {"X\0", 2},
	};
	for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
		if (http_write_header(&b, bad_names[i], S("v")) != -ERR_INVAL)
			TEST_FAIL_("name %zu accepted", i);
	CHECK_EQ_INT(b.len, 0);
}

static void header_u64(void)
{
	uint8_t mem[128];
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	CHECK_EQ_INT(http_write_header_u64(&b, S("Content-Length"), 0), 0);
	CHECK_EQ_INT(http_write_header_u64(&b, S("Content-Length"), 1234567), 0);
	CHECK_EQ_INT(http_write_header_u64(&b, S("X-Max"), UINT64_MAX), 0);
	CHECK_BUF(b, "Content-Length: 0\r\nContent-Length: 1234567\r\n"
		     "X-Max: 18446744073709551615\r\n");
}

/* Run `write` with every capacity from none to enough: below enough it must fail with
 * -ERR_BUF_FULL leaving the buffer (its length and the prefix already there) untouched;
 * at enough it must produce `want` after the prefix. */
static void all_caps(int (*write)(struct buf *), const char *want, const char *what)
{
	const char *prefix = "PRE";
	size_t need = strlen(prefix) + strlen(want);
	for (size_t cap = strlen(prefix); cap <= need; cap++) {
		uint8_t mem[512];
		struct buf b;
		memset(mem, '#', sizeof mem);
		buf_init(&b, mem, cap);
		buf_append_cstr(&b, prefix);
		int rc = write(&b);
		if (cap < need) {
			if (rc != -ERR_BUF_FULL || b.len != strlen(prefix) ||
			    memcmp(mem, prefix, 3) != 0)
				TEST_FAIL_("%s at cap %zu: rc %d len %zu", what, cap, rc, b.len);
		} else if (rc != 0 || b.len != need || memcmp(mem + 3, want, strlen(want)) != 0) {
			TEST_FAIL_("%s at cap %zu: rc %d", what, cap, rc);
		}
	}
}

static int w_status(struct buf *b)
{
	return http_write_status_line(b, 1, 503, S(""));
}

static int w_request(struct buf *b)
{
	return http_write_request_line(b, S("DELETE"), S("/x/y"), 1);
}

static int w_header(struct buf *b)
{
	return http_write_header(b, S("Cache-Control"), S("no-store"));
}

static int w_chunk(struct buf *b)
{
	return http_write_chunk(b, S("hello, world"));
}

static int w_chunk_size(struct buf *b)
{
	return http_write_chunk_size(b, 0xabcdef);
}

static int w_last(struct buf *b)
{
	return http_write_last_chunk(b);
}

static const struct http_header two_fields[] = {
	{SLICE_LIT("Host"), SLICE_LIT("example.com"), HTTP_H_HOST, 0},
	{SLICE_LIT("Accept"), SLICE_LIT("*/*"), HTTP_H_OTHER, 0},
};

static int w_req_head(struct buf *b)
{
	return http_write_request_head(b, S("GET"), S("/"), 1, two_fields, 2, 0);
}

static int w_res_head(struct buf *b)
{
	return http_write_response_head(b, 1, 200, S(""), two_fields + 1, 1, 0);
}

static void all_or_nothing(void)
{
	all_caps(w_status, "HTTP/1.1 503 Service Unavailable\r\n", "status line");
	all_caps(w_request, "DELETE /x/y HTTP/1.1\r\n", "request line");
	all_caps(w_header, "Cache-Control: no-store\r\n", "header");
	all_caps(w_chunk, "c\r\nhello, world\r\n", "chunk");
	all_caps(w_chunk_size, "abcdef\r\n", "chunk size");
	all_caps(w_last, "0\r\n\r\n", "last chunk");
	all_caps(w_req_head, "GET / HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
		 "request head");
	all_caps(w_res_head, "HTTP/1.1 200 OK\r\nAccept: */*\r\n\r\n", "response head");
}

/* A bad field in the middle of a head: nothing of the head stays in the buffer. */
static void head_fails_whole(void)
{
	uint8_t mem[256];
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	buf_append_cstr(&b, "keep");
	const struct http_header f[] = {
		{SLICE_LIT("A"), SLICE_LIT("1"), 0, 0},
		{SLICE_LIT("B"), SLICE_LIT("2\r\nEvil: 1"), 0, 0},
	};
	CHECK_EQ_INT(http_write_request_head(&b, S("GET"), S("/"), 1, f, 2, 0), -ERR_INVAL);
	CHECK_BUF(b, "keep");
	CHECK_EQ_INT(http_write_response_head(&b, 1, 200, S(""), f, 2, 0), -ERR_INVAL);
	CHECK_BUF(b, "keep");
	CHECK_EQ_INT(http_write_headers(&b, f, 2, 0), -ERR_INVAL);
	CHECK_BUF(b, "keep");
	CHECK_EQ_INT(http_write_response_head(&b, 1, 200, S(""), f, 1, 0), 0);
	CHECK_BUF(b, "keepHTTP/1.1 200 OK\r\nA: 1\r\n\r\n");
}

/* Parse a request, forward it without its hop-by-hop and framing fields. */
static void headers_skip_flags(void)
{
	const char *in = "POST /p HTTP/1.1\r\nHost: up\r\nConnection: keep-alive, X-Hop\r\n"
			 "X-Hop: 1\r\nKeep-Alive: 5\r\nContent-Length: 3\r\nX-Keep: 2\r\n"
			 "TE: trailers\r\n\r\n";
	struct http_limits lim = deflim();
	struct http_header hdr[16];
	struct http_request r;
	http_request_init(&r, hdr, 16);
	REQUIRE(http_parse_request(&r, in, strlen(in), &lim) > 0);
	uint8_t mem[512];
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	CHECK_EQ_INT(http_write_headers(&b, hdr, r.h.nhdr, HTTP_WRITE_SKIP_HOP), 0);
	CHECK_BUF(b, "Host: up\r\nContent-Length: 3\r\nX-Keep: 2\r\n");
	buf_reset(&b);
	CHECK_EQ_INT(http_write_headers(&b, hdr, r.h.nhdr,
					HTTP_WRITE_SKIP_HOP | HTTP_WRITE_SKIP_FRAMING),
		     0);
	CHECK_BUF(b, "Host: up\r\nX-Keep: 2\r\n");
	buf_reset(&b);
	CHECK_EQ_INT(http_write_headers(&b, hdr, r.h.nhdr, 0), 0);
	CHECK_EQ_INT(b.len, strlen(in) - strlen("POST /p HTTP/1.1\r\n") - 2);
}

/* Write a head, parse it back: the same message. */
static void head_roundtrip(void)
{
	const struct http_header f[] = {
		{SLICE_LIT("Host"), SLICE_LIT("api.local:8080"), 0, 0},
		{SLICE_LIT("Content-Type"), SLICE_LIT("application/json"), 0, 0},
		{SLICE_LIT("Transfer-Encoding"), SLICE_LIT("chunked"), 0, 0},
		{SLICE_LIT("X-Tab"), SLICE_LIT("a\tb"), 0, 0},
	};
	uint8_t mem[512];
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	REQUIRE(http_write_request_head(&b, S("PUT"), S("/v1/kv/x?cas=3"), 1, f, 4, 0) == 0);
	struct http_limits lim = deflim();
	struct http_header hdr[8];
	struct http_request r;
	http_request_init(&r, hdr, 8);
	REQUIRE(http_parse_request(&r, (const char *)b.data, b.len, &lim) == (int)b.len);
	CHECK_EQ_MEM(r.method.p, r.method.len, "PUT");
	CHECK_EQ_MEM(r.target.p, r.target.len, "/v1/kv/x?cas=3");
	CHECK_EQ_INT(r.h.nhdr, 4);
	for (size_t i = 0; i < 4 && i < r.h.nhdr; i++) {
		CHECK(slice_eq(hdr[i].name, f[i].name));
		CHECK(slice_eq(hdr[i].value, f[i].value));
	}
	CHECK_EQ_INT(r.h.body, HTTP_BODY_CHUNKED);

	buf_reset(&b);
	REQUIRE(http_write_response_head(&b, 0, 301, S(""), f + 1, 1, 0) == 0);
	struct http_response s;
	http_response_init(&s, hdr, 8, HTTP_M_GET);
	REQUIRE(http_parse_response(&s, (const char *)b.data, b.len, &lim) == (int)b.len);
	CHECK_EQ_INT(s.status, 301);
	CHECK_EQ_INT(s.h.minor, 0);
	CHECK_EQ_MEM(s.reason.p, s.reason.len, "Moved Permanently");
}

static void chunk_framing(void)
{
	uint8_t mem[128];
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	CHECK_EQ_INT(http_write_chunk_size(&b, 1), 0);
	CHECK_EQ_INT(http_write_chunk_size(&b, 255), 0);
	CHECK_EQ_INT(http_write_chunk_size(&b, UINT64_MAX), 0);
	CHECK_BUF(b, "1\r\nff\r\nffffffffffffffff\r\n");
	buf_reset(&b);
	CHECK_EQ_INT(http_write_chunk_size(&b, 0), -ERR_INVAL); /* would end the body */
	CHECK_EQ_INT(http_write_chunk(&b, S("")), -ERR_INVAL);
	CHECK_EQ_INT(b.len, 0);
	CHECK_EQ_INT(http_write_chunk_size(&b, 5), 0);
	CHECK_EQ_INT(buf_append_cstr(&b, "hello"), 0);
	CHECK_EQ_INT(http_write_chunk_end(&b), 0);
	CHECK_EQ_INT(http_write_chunk(&b, S(" world, and more")), 0);
	CHECK_EQ_INT(http_write_last_chunk(&b), 0);
	CHECK_BUF(b, "5\r\nhello\r\n10\r\n world, and more\r\n0\r\n\r\n");
}

/* What the writer frames, the decoder reads back, at every chunk size. */
static void chunk_roundtrip(void)
{
	const char *text = "The quick brown fox jumps over the lazy dog, again and again.";
	size_t n = strlen(text);
	struct http_limits lim = deflim();
	for (size_t step = 1; step <= n; step++) {
		uint8_t mem[1024];
		struct buf b;
		buf_init(&b, mem, sizeof mem);
		for (size_t i = 0; i < n; i += step) {
			size_t k = n - i < step ? n - i : step;
			REQUIRE(http_write_chunk(&b, (struct slice){text + i, k}) == 0);
		}
		REQUIRE(http_write_last_chunk(&b) == 0);
		struct http_chunked c;
		http_chunked_init(&c);
		char out[128];
		size_t olen = 0, off = 0;
		int rc = 0;
		while (off < b.len && rc == 0) {
			size_t used;
			struct slice d;
			rc = http_chunked_decode(&c, (const char *)b.data + off, b.len - off, &lim,
						 &used, &d);
			memcpy(out + olen, d.p, d.len);
			olen += d.len;
			off += used;
		}
		if (rc != 1 || off != b.len || olen != n || memcmp(out, text, n) != 0)
			TEST_FAIL_("chunk step %zu: rc %d", step, rc);
	}
}

TEST_MAIN(reason_phrases, status_line, request_line, header_injection, header_u64, all_or_nothing,
	  head_fails_whole, headers_skip_flags, head_roundtrip, chunk_framing, chunk_roundtrip)
