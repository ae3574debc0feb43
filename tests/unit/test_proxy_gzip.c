/* Unit tests for proxy_gzip.h (entry point compress): the Accept-Encoding reading (q-values),
 * the decision table from real parsed heads (min size at 1399/1400, HEAD, 204/206/304, 1xx,
 * Content-Encoding, Content-Range, no-transform, gRPC, Vary already present, chunked and
 * close-delimited bodies), the stream with chunk framing (strictly de-chunked here, then
 * decoded by python's zlib: whole stream and every prefix ending at a SYNC) and raw
 * (HTTP/1.0), partial writes, a repeated SYNC adding nothing, the response head fields, the
 * engine glue at the pool's cap (max_gzip_streams: uncompressed, counted, slot back at the
 * end), and the limit's bounds and memory line. */
#include "base/base_err.h"
#include "http/http_gzip.h"
#include "proxy/proxy_engine_int.h"
#include "test.h"

#include <unistd.h>

/* ---- helpers --------------------------------------------------------------------------------- */

static struct http_header hdr_req_[64], hdr_res_[64];
static struct http_request req_;
static struct http_response res_;
static char reqbuf_[2048], resbuf_[2048];

/* Parse a request and a response head (\n written as \r\n). 0 or -1. */
static int heads(const char *rq, const char *rs, enum http_method m)
{
	struct http_limits lim;
	http_limits_default(&lim);
	size_t n = 0;
	for (const char *p = rq; *p && n + 2 < sizeof reqbuf_; p++) {
		if (*p == '\n')
			reqbuf_[n++] = '\r';
		reqbuf_[n++] = *p;
	}
	http_request_init(&req_, hdr_req_, 64);
	if (http_parse_request(&req_, reqbuf_, n, &lim) <= 0)
		return -1;
	n = 0;
	for (const char *p = rs; *p && n + 2 < sizeof resbuf_; p++) {
		if (*p == '\n')
			resbuf_[n++] = '\r';
		resbuf_[n++] = *p;
	}
	http_response_init(&res_, hdr_res_, 64, m);
	if (http_parse_response(&res_, resbuf_, n, &lim) <= 0)
		return -1;
	return 0;
}

/* Decode a gzip stream with python's zlib (gzip framing). strict: the stream must be
 * complete (trailer checked); else what a truncated stream decodes to. Returns the length
 * decoded into *dst (malloc'd), or -1. */
static long gunzip(const uint8_t *src, size_t n, uint8_t **dst, int strict)
{
	char in[] = "/tmp/tee-pgz-in-XXXXXX", out[] = "/tmp/tee-pgz-out-XXXXXX";
	int fi = mkstemp(in), fo = mkstemp(out);
	if (fi < 0 || fo < 0)
		return -1;
	long r = -1;
	if (write(fi, src, n) == (ssize_t)n) {
		char cmd[512];
		snprintf(cmd, sizeof cmd,
			 "python3 -c \"import zlib,sys;d=zlib.decompressobj(31);"
			 "b=d.decompress(open('%s','rb').read());"
			 "sys.exit(2) if %d and not d.eof else None;"
			 "open('%s','wb').write(b)\"",
			 in, strict, out);
		if (system(cmd) == 0) {
			off_t len = lseek(fo, 0, SEEK_END);
			*dst = malloc((size_t)len + 1);
			if (*dst && pread(fo, *dst, (size_t)len, 0) == (ssize_t)len)
				r = (long)len;
		}
	}
	close(fi);
	close(fo);
	unlink(in);
	unlink(out);
	return r;
}

/* Strict de-chunking of an HTTP/1.1 chunked body ending with "0\r\n\r\n". Returns the data
 * length in dst, or -1 on any framing error (or bytes after the last chunk). */
static long dechunk(const uint8_t *s, size_t n, uint8_t *dst, int *last_seen)
{
	size_t i = 0, o = 0;
	*last_seen = 0;
	while (i < n) {
		size_t sz = 0, digits = 0;
		while (i < n && ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			sz = sz * 16 + (size_t)(s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
			i++;
			digits++;
		}
		if (!digits || i + 2 > n || s[i] != '\r' || s[i + 1] != '\n')
			return -1;
		i += 2;
		if (sz == 0) {
			if (i + 2 != n || s[i] != '\r' || s[i + 1] != '\n')
				return -1;
			*last_seen = 1;
			return (long)o;
		}
		if (i + sz + 2 > n || s[i + sz] != '\r' || s[i + sz + 1] != '\n')
			return -1;
		memcpy(dst + o, s + i, sz);
		o += sz;
		i += sz + 2;
	}
	return (long)o;
}

static struct proxy_gz *gz_new(bool chunked)
{
	struct proxy_gz *z = aligned_alloc(16, (proxy_gzip_slot_size() + 15) & ~(size_t)15);
	if (z) {
		memset(z, 0, proxy_gzip_slot_size());
		if (proxy_gzip_start(z, chunked) < 0) {
			free(z);
			return NULL;
		}
	}
	return z;
}

/* Text that compresses (as an HTML page would). */
static size_t make_text(uint8_t *p, size_t n)
{
	static const char *const words[] = {
		"<div class=\"row\">", "traefik", "entry point", "compress", "</div>\n",
		"0123456789",          "gzip ",   "vary"};
	size_t o = 0;
	uint32_t x = 12345;
	while (o < n) {
		x = x * 1103515245u + 12345u;
		const char *w = words[(x >> 16) % 8];
		size_t l = strlen(w);
		if (o + l > n)
			l = n - o;
		memcpy(p + o, w, l);
		o += l;
	}
	return n;
}

/* ---- Accept-Encoding ------------------------------------------------------------------------- */

static bool accepts(const char *value)
{
	struct http_header h[2] = {{SLICE_LIT("Host"), SLICE_LIT("x"), 0, 0},
				   {SLICE_LIT("Accept-Encoding"), slice_from_cstr(value), 0, 0}};
	return proxy_gzip_accepts(h, 2);
}

static void accept_encoding(void)
{
	static const struct {
		const char *v;
		bool yes;
	} t[] = {
		{"gzip", true},
		{"GZip", true},
		{"deflate, gzip", true},
		{"br;q=1.0, gzip;q=0.8, *;q=0.1", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"gzip;Q=0", false},
		{"gzip;q=0.001", true},
		{"gzip;q=1", true},
		{"gzip;q=1.5", true},  /* clamped, as gziphandler */
		{"gzip;q=abc", false}, /* malformed element ignored */
		{"gzip;q=abc, gzip", true},
		{"gzip, gzip;q=0", false}, /* the last one wins */
		{"*", false},              /* gziphandler reads "gzip" only */
		{"identity", false},
		{"x-gzip", false},
		{"gzipx", false},
		{"", false},
		{" , ,gzip ,", true},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (accepts(t[i].v) != t[i].yes)
			TEST_FAIL_("Accept-Encoding: %s gave %d", t[i].v, !t[i].yes);
	/* absent: no */
	struct http_header h = {SLICE_LIT("Host"), SLICE_LIT("x"), 0, 0};
	CHECK(!proxy_gzip_accepts(&h, 1));
	/* several lines are read together */
	struct http_header h2[2] = {{SLICE_LIT("accept-encoding"), SLICE_LIT("br"), 0, 0},
				    {SLICE_LIT("Accept-Encoding"), SLICE_LIT("gzip"), 0, 0}};
	CHECK(proxy_gzip_accepts(h2, 2));
}

/* ---- the decision ---------------------------------------------------------------------------- */

#define RQ_GZ "GET / HTTP/1.1\nHost: a\nAccept-Encoding: gzip\n\n"
#define V PROXY_GZ_VARY
#define C PROXY_GZ_COMPRESS

static void decide_table(void)
{
	static const struct {
		const char *rq, *rs;
		enum http_method m;
		unsigned want;
	} t[] = {
		/* 0 */ {RQ_GZ, "HTTP/1.1 200 OK\nContent-Length: 1400\n\n", HTTP_M_GET, V | C},
		{RQ_GZ, "HTTP/1.1 200 OK\nContent-Length: 1399\n\n", HTTP_M_GET, V},
		{RQ_GZ, "HTTP/1.1 200 OK\nContent-Length: 0\n\n", HTTP_M_GET, V},
		{RQ_GZ, "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n", HTTP_M_GET, V | C},
		{RQ_GZ, "HTTP/1.1 200 OK\n\n", HTTP_M_GET, V | C}, /* until close */
								   /* 5 */
		{"GET / HTTP/1.1\nHost: a\n\n", "HTTP/1.1 200 OK\nContent-Length: 5000\n\n",
		 HTTP_M_GET, V},
		{"GET / HTTP/1.1\nHost: a\nAccept-Encoding: gzip;q=0\n\n",
		 "HTTP/1.1 200 OK\nContent-Length: 5000\n\n", HTTP_M_GET, V},
		{"HEAD / HTTP/1.1\nHost: a\nAccept-Encoding: gzip\n\n",
		 "HTTP/1.1 200 OK\nContent-Length: 5000\n\n", HTTP_M_HEAD, V},
		{RQ_GZ, "HTTP/1.1 204 No Content\n\n", HTTP_M_GET, V},
		{RQ_GZ, "HTTP/1.1 304 Not Modified\nContent-Length: 5000\n\n", HTTP_M_GET, V},
		/* 10 */
		{RQ_GZ,
		 "HTTP/1.1 206 Partial Content\nContent-Range: bytes 0-4999/9000\n"
		 "Content-Length: 5000\n\n",
		 HTTP_M_GET, V},
		{RQ_GZ,
		 "HTTP/1.1 200 OK\nContent-Range: bytes 0-4999/5000\nContent-Length: 5000\n\n",
		 HTTP_M_GET, V},
		{RQ_GZ, "HTTP/1.1 200 OK\nContent-Encoding: gzip\nContent-Length: 5000\n\n",
		 HTTP_M_GET, V},
		{RQ_GZ, "HTTP/1.1 200 OK\nContent-Encoding: br\nTransfer-Encoding: chunked\n\n",
		 HTTP_M_GET, V},
		{RQ_GZ,
		 "HTTP/1.1 200 OK\nCache-Control: public, No-Transform\nContent-Length: 5000\n\n",
		 HTTP_M_GET, V},
		/* 15 */
		{RQ_GZ, "HTTP/1.1 200 OK\nCache-Control: no-cache\nContent-Length: 5000\n\n",
		 HTTP_M_GET, V | C},
		{RQ_GZ, "HTTP/1.1 404 Not Found\nContent-Length: 5000\n\n", HTTP_M_GET, V | C},
		{RQ_GZ, "HTTP/1.1 200 OK\nVary: Cookie, accept-encoding\nContent-Length: 5000\n\n",
		 HTTP_M_GET, C},
		{RQ_GZ, "HTTP/1.1 200 OK\nVary: *\nContent-Length: 50\n\n", HTTP_M_GET, 0},
		{RQ_GZ, "HTTP/1.1 200 OK\nVary: Cookie\nContent-Length: 5000\n\n", HTTP_M_GET,
		 V | C},
		/* 20 */
		{"POST / HTTP/1.1\nHost: a\nContent-Type: application/grpc+proto\n"
		 "Accept-Encoding: gzip\nContent-Length: 0\n\n",
		 "HTTP/1.1 200 OK\nContent-Length: 5000\n\n", HTTP_M_POST, 0},
		{"POST / HTTP/1.1\nHost: a\nContent-Type: application/json\n"
		 "Accept-Encoding: gzip\nContent-Length: 0\n\n",
		 "HTTP/1.1 200 OK\nContent-Length: 5000\n\n", HTTP_M_POST, V | C},
		{RQ_GZ,
		 "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\n\n",
		 HTTP_M_GET, 0},
		{RQ_GZ, "HTTP/1.1 103 Early Hints\n\n", HTTP_M_GET, 0},
		{RQ_GZ, "HTTP/1.1 200 OK\nTransfer-Encoding: gzip, chunked\n\n", HTTP_M_GET, V},
		/* 25 */
		{RQ_GZ, "HTTP/1.1 200 OK\nContent-Encoding:\nContent-Length: 5000\n\n", HTTP_M_GET,
		 V | C},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		if (heads(t[i].rq, t[i].rs, t[i].m) < 0) {
			TEST_FAIL_("case %zu: heads do not parse", i);
			continue;
		}
		unsigned got = proxy_gzip_decide(&req_, t[i].m == HTTP_M_HEAD, &res_);
		if (got != t[i].want)
			TEST_FAIL_("case %zu: decide gave %u, expected %u", i, got, t[i].want);
	}
}

/* ---- the stream ------------------------------------------------------------------------------ */

/* Feed `in` in pieces of `piece` bytes, SYNC after every `sync_every` pieces (0: never),
 * sending the output in writes of at most `wmax` bytes; FINISH at the end. The wire bytes
 * go to wire (cap wcap). After every completed SYNC the stream so far must decode to
 * exactly the input given so far. Returns the wire length or -1. */
static long run_stream(struct proxy_gz *z, const uint8_t *in, size_t n, size_t piece,
		       int sync_every, size_t wmax, uint8_t *wire, size_t wcap, int *syncs_checked)
{
	size_t w = 0, off = 0, left = 0;
	int pieces = 0;
	uint8_t *scratch = malloc(wcap);
	if (!scratch)
		return -1;
	for (int steps = 0; steps < 1000000; steps++) {
		const uint8_t *p;
		size_t k;
		while (proxy_gzip_out(z, &p, &k)) {
			if (k > wmax)
				k = wmax;
			if (w + k > wcap) {
				free(scratch);
				return -1;
			}
			memcpy(wire + w, p, k);
			w += k;
			proxy_gzip_sent(z, k);
		}
		if (proxy_gzip_done(z))
			break;
		if (!left)
			left = piece; /* the next piece */
		size_t take = n - off < left ? n - off : left;
		enum proxy_gz_flush f = PROXY_GZ_NONE;
		bool sync = sync_every && pieces % sync_every == sync_every - 1;
		if (off + take == n)
			f = PROXY_GZ_FINISH;
		else if (sync)
			f = PROXY_GZ_SYNC;
		size_t used = 0;
		int rc = proxy_gzip_feed(z, in + off, take, &used, f);
		if (rc < 0) {
			free(scratch);
			return -1;
		}
		off += used;
		left -= used;
		if (used == take)
			pieces++;
		if (f == PROXY_GZ_SYNC && used == take && !z->dirty && z->chunked) {
			/* a completed SYNC: drain, de-chunk what went so far, decode */
			while (proxy_gzip_out(z, &p, &k)) {
				memcpy(wire + w, p, k);
				w += k;
				proxy_gzip_sent(z, k);
			}
			int last;
			long dl = dechunk(wire, w, scratch, &last);
			uint8_t *dec = NULL;
			long got = dl > 0 ? gunzip(scratch, (size_t)dl, &dec, 0) : -1;
			if (got != (long)off || memcmp(dec, in, off) != 0)
				TEST_FAIL_("after a SYNC at %zu the stream decodes to %ld bytes",
					   off, got);
			free(dec);
			(*syncs_checked)++;
		}
	}
	free(scratch);
	return (long)w;
}

static void check_roundtrip(size_t n, size_t piece, int sync_every, size_t wmax, bool chunked)
{
	uint8_t *in = malloc(n + 1), *wire = malloc(2 * n + 4096), *body = malloc(2 * n + 4096);
	struct proxy_gz *z = gz_new(chunked);
	REQUIRE(in && wire && body && z);
	make_text(in, n);
	int syncs = 0;
	long w = run_stream(z, in, n, piece, sync_every, wmax, wire, 2 * n + 4096, &syncs);
	CHECK(w > 0);
	CHECK(proxy_gzip_done(z));
	CHECK_EQ_INT(proxy_gzip_in_bytes(z), n);
	long bl = w;
	if (chunked) {
		int last = 0;
		bl = dechunk(wire, (size_t)w, body, &last);
		CHECK(last);
		CHECK(bl > 0);
	} else {
		memcpy(body, wire, (size_t)w);
	}
	CHECK_EQ_INT(proxy_gzip_out_bytes(z), bl);
	uint8_t *dec = NULL;
	long got = bl > 0 ? gunzip(body, (size_t)bl, &dec, 1) : -1;
	CHECK_EQ_INT(got, n);
	CHECK(got == (long)n && (n == 0 || memcmp(dec, in, n) == 0));
	/* never more than the stored-block overhead (about 5 bytes a block, 18 for gzip) */
	CHECK(bl <= (long)(n + n / 1000 + 64));
	if (n >= 100000)
		CHECK(bl < (long)n / 4); /* repetitive text: the compressor really compresses */
	if (n >= 100000 && getenv("TEST_VERBOSE"))
		printf("# %zu text bytes -> %ld compressed\n", n, bl);
	if (sync_every && chunked)
		CHECK(syncs > 0);
	free(dec);
	free(in);
	free(wire);
	free(body);
	free(z);
}

static void stream_chunked(void)
{
	check_roundtrip(100000, 100000, 0, SIZE_MAX, true); /* one feed */
	check_roundtrip(100000, 4096, 0, 1000, true);       /* partial writes */
	check_roundtrip(300000, 16384, 3, SIZE_MAX, true);  /* SYNC every third piece */
	check_roundtrip(5000, 7, 50, 3, true);              /* tiny pieces and writes */
	check_roundtrip(1, 1, 0, SIZE_MAX, true);
}

static void stream_raw(void)
{
	check_roundtrip(100000, 8192, 0, SIZE_MAX, false); /* HTTP/1.0: close-delimited */
	check_roundtrip(20000, 100, 10, 17, false);
}

/* FINISH with nothing at all: a valid empty gzip stream, and a last chunk. */
static void stream_empty_and_idle(void)
{
	struct proxy_gz *z = gz_new(true);
	REQUIRE(z);
	size_t used = 9;
	const uint8_t *p;
	size_t k;
	/* NONE and SYNC with nothing new: nothing at all */
	CHECK_EQ_INT(proxy_gzip_feed(z, NULL, 0, &used, PROXY_GZ_NONE), 0);
	CHECK_EQ_INT(used, 0);
	CHECK(!proxy_gzip_out(z, &p, &k));
	CHECK_EQ_INT(proxy_gzip_feed(z, NULL, 0, &used, PROXY_GZ_SYNC), 0);
	CHECK(!proxy_gzip_out(z, &p, &k));
	/* some input, a SYNC, then a second SYNC adds nothing */
	CHECK_EQ_INT(proxy_gzip_feed(z, (const uint8_t *)"hello", 5, &used, PROXY_GZ_SYNC), 0);
	CHECK_EQ_INT(used, 5);
	REQUIRE(proxy_gzip_out(z, &p, &k));
	CHECK(k > 5 && p[0] != '0'); /* a non-empty chunk */
	proxy_gzip_sent(z, k);
	CHECK_EQ_INT(proxy_gzip_feed(z, NULL, 0, &used, PROXY_GZ_SYNC), 0);
	CHECK(!proxy_gzip_out(z, &p, &k));
	/* output pending: feed takes nothing */
	CHECK_EQ_INT(proxy_gzip_feed(z, (const uint8_t *)"x", 1, &used, PROXY_GZ_FINISH), 1);
	REQUIRE(proxy_gzip_out(z, &p, &k));
	CHECK(k >= 5 && memcmp(p + k - 5, "0\r\n\r\n", 5) == 0);
	CHECK_EQ_INT(proxy_gzip_feed(z, (const uint8_t *)"y", 1, &used, PROXY_GZ_NONE), 1);
	CHECK_EQ_INT(used, 0);
	proxy_gzip_sent(z, k);
	CHECK(proxy_gzip_done(z));
	free(z);

	/* an empty body still makes a whole gzip stream */
	z = gz_new(false);
	REQUIRE(z);
	CHECK_EQ_INT(proxy_gzip_feed(z, NULL, 0, &used, PROXY_GZ_FINISH), 1);
	REQUIRE(proxy_gzip_out(z, &p, &k));
	uint8_t *dec = NULL;
	CHECK_EQ_INT(gunzip(p, k, &dec, 1), 0);
	free(dec);
	free(z);
}

/* ---- head fields and the engine glue -------------------------------------------------------- */

static struct proxy_conn *conn_new(struct proxy_engine *e, int minor, bool ka)
{
	struct proxy_conn *c = calloc(1, sizeof *c);
	c->eng = e;
	c->minor = (uint8_t)minor;
	c->client_ka = ka;
	/* the request lives in rq's slot as in the engine */
	c->rq.slot = calloc(1, sizeof(struct proxy_bslot));
	c->rq.slot->m.req = req_;
	return c;
}

static void conn_del(struct proxy_conn *c)
{
	free(c->rq.slot);
	free(c);
}

static void head_text(struct proxy_conn *c, const char *want, uint8_t want_mode, bool want_close)
{
	char text[512];
	struct buf b;
	buf_init(&b, text, sizeof text - 1);
	uint8_t mode = 0;
	uint64_t len = 99;
	bool close = false;
	CHECK_EQ_INT(proxy_gzip_head(c, &res_, &b, &mode, &len, &close), 0);
	text[b.len] = 0;
	CHECK_EQ_STR(text, want);
	CHECK_EQ_INT(mode, want_mode);
	CHECK_EQ_INT(close, want_close);
	buf_init(&b, text, 20);
	CHECK(proxy_gzip_head(c, &res_, &b, &mode, &len, &close) == -ERR_BUF_FULL);
}

static void head_fields(void)
{
	REQUIRE(heads(RQ_GZ, "HTTP/1.1 200 OK\nContent-Length: 5000\n\n", HTTP_M_GET) == 0);
	struct proxy_conn *c = conn_new(NULL, 1, true);
	head_text(c, "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", PM_LENGTH, false);
	c->client_ka = 0;
	head_text(c,
		  "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n",
		  PM_LENGTH, true);
	c->minor = 0;
	c->client_ka = 1;
	head_text(c, "Content-Encoding: gzip\r\nConnection: close\r\n", PM_LENGTH, true);
	conn_del(c);
	REQUIRE(heads(RQ_GZ, "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n", HTTP_M_GET) == 0);
	c = conn_new(NULL, 1, true);
	head_text(c, "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", PM_DECHUNK, false);
	conn_del(c);
	REQUIRE(heads(RQ_GZ, "HTTP/1.1 200 OK\n\n", HTTP_M_GET) == 0);
	c = conn_new(NULL, 1, true);
	/* close-delimited upstream body: the client connection may stay (chunked) */
	head_text(c, "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", PM_CLOSE, false);
	conn_del(c);
}

/* Pool of one stream: the second concurrent response goes uncompressed (Vary kept), is
 * counted, and the slot serves again once the first ends. */
static void glue_pool_cap(void)
{
	struct loop loop;
	struct loop_config lc = {.max_fds = 4, .max_timers = 4, .max_events = 4};
	REQUIRE(loop_init(&loop, &lc) == 0);
	struct proxy_engine *e = calloc(1, sizeof *e);
	REQUIRE(e);
	e->loop = &loop;
	proxy_dp_limits_default(&e->lim);
	e->lim.max_gzip_streams = 1;
	REQUIRE(pool_init(&e->gzs, "max_gzip_streams", proxy_gzip_slot_size(), 1) == 0);
	size_t msz = proxy_metrics_size(8, 4); /* traefikee_compress_responses_total */
	void *mmem = malloc(msz);
	REQUIRE(mmem);
	e->metrics = proxy_metrics_init(mmem, msz, 8, 4);
	REQUIRE(e->metrics);
	REQUIRE(heads(RQ_GZ, "HTTP/1.1 200 OK\nContent-Length: 5000\n\n", HTTP_M_GET) == 0);
	struct proxy_conn *a = conn_new(e, 1, true), *b = conn_new(e, 1, true),
			  *h = conn_new(e, 1, true);
	proxy_gzip_response(a, &res_);
	CHECK_EQ_INT(a->gzf, PROXY_GZ_VARY | PROXY_GZ_COMPRESS);
	CHECK(a->gz != NULL);
	CHECK(a->gz && a->gz->chunked);
	proxy_gzip_response(b, &res_);
	CHECK_EQ_INT(b->gzf, PROXY_GZ_VARY); /* uncompressed, still varies */
	CHECK(b->gz == NULL);
	CHECK_EQ_INT(e->gz_full, 1);
	CHECK_EQ_INT(e->gz_responses, 1);
	proxy_gzip_response(b, &res_); /* a second refusal within the second: not logged */
	CHECK_EQ_INT(e->gz_full, 2);
	CHECK_EQ_INT(e->gz_log_skipped, 1);
	CHECK_EQ_INT(e->metrics->eng.gz_pool_full, 2);
	CHECK_EQ_INT(e->metrics->eng.gz_responses, 1);
	CHECK_EQ_INT(proxy_metrics_value(e->metrics, "traefikee_compress_responses_total",
					 "pool_full", 0),
		     2);
	proxy_gzip_end(b);
	CHECK_EQ_INT(b->gzf, 0);
	proxy_gzip_end(a);
	CHECK(a->gz == NULL && a->gzf == 0);
	CHECK_EQ_INT(e->gzs.used, 0);
	/* HTTP/1.0: raw stream */
	h->minor = 0;
	proxy_gzip_response(h, &res_);
	CHECK(h->gz != NULL && !h->gz->chunked);
	proxy_gzip_end(h);
	/* a HEAD request never takes a stream */
	h->head_req = 1;
	proxy_gzip_response(h, &res_);
	CHECK(h->gz == NULL && h->gzf == PROXY_GZ_VARY);
	proxy_gzip_end(h);
	CHECK_EQ_INT(e->gzs.used, 0);
	conn_del(a);
	conn_del(b);
	conn_del(h);
	CHECK_EQ_INT(e->metrics->eng.gz_responses, 2); /* a and h */
	CHECK_EQ_INT(e->metrics->eng.gz_pool_full, 2);
	pool_fini(&e->gzs);
	free(mmem);
	free(e);
	loop_fini(&loop);
}

static void limit_bounds(void)
{
	struct proxy_dp_limits lim;
	char msg[160];
	proxy_dp_limits_default(&lim);
	CHECK_EQ_INT(lim.max_gzip_streams, 32);
	CHECK_EQ_INT(proxy_dp_limits_set(&lim, "max-gzip-streams", "65536"), 0);
	CHECK_EQ_INT(proxy_dp_limits_check(&lim, msg, sizeof msg), 0);
	CHECK_EQ_INT(proxy_dp_limits_set(&lim, "max_gzip_streams", "65537"), 0);
	CHECK_EQ_INT(proxy_dp_limits_check(&lim, msg, sizeof msg), -ERR_PROXY_LIMITS);
	CHECK(strstr(msg, "max_gzip_streams") != NULL);
	CHECK_EQ_INT(proxy_dp_limits_set(&lim, "max_gzip_streams", "0"), 0);
	CHECK_EQ_INT(proxy_dp_limits_check(&lim, msg, sizeof msg), -ERR_PROXY_LIMITS);
	/* counted in the worst case, one slot per stream */
	proxy_dp_limits_default(&lim);
	struct proxy_mem_sizes sz;
	proxy_engine_mem_sizes(&lim, &sz);
	CHECK_EQ_INT(sz.gzip, proxy_gzip_slot_size());
	CHECK(sz.gzip >= http_gzip_size() + PROXY_GZIP_OUT_CAP);
	struct proxy_mem_report r;
	proxy_dp_limits_memory(&lim, &sz, &r);
	CHECK_EQ_INT(r.gzip, 32 * sz.gzip);
	char text[4096];
	struct buf b;
	buf_init(&b, text, sizeof text - 1);
	CHECK_EQ_INT(proxy_dp_limits_format(&lim, &r, &b), 0);
	text[b.len] = 0;
	CHECK(strstr(text, "max_gzip_streams 32") != NULL);
}

TEST_MAIN(accept_encoding, decide_table, stream_chunked, stream_raw, stream_empty_and_idle,
	  head_fields, glue_pool_cap, limit_bounds)
