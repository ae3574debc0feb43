/* fuzz_http.c — libFuzzer harness for src/http (parser, chunked decoder, writer).
 *
 * Every input goes to all three parsers: as a request head, as a response head (answering
 * a GET, HEAD or CONNECT, picked from a hash of the input) and as a chunked body; a head
 * that parses with a chunked body also has the bytes after it decoded. Each is run whole,
 * split in two at a point derived from the input (each piece in its own exact-size heap
 * block, so reads past the end trip ASan), and byte by byte. Invariants, checked with
 * abort():
 *  - the three runs give the same result and the same slices (as offsets);
 *  - an incomplete prefix gives -ERR_PARTIAL or the final result, never another error;
 *  - every slice lies inside the consumed bytes; names are tokens, values field octets;
 *    caps are respected; the body framing obeys RFC 9112 §6.3;
 *  - a parsed head written back with http_write parses to the same message, and decoded
 *    chunk data re-encoded with http_write decodes to the same bytes.
 */
#include "base/base_buf.h"
#include "base/base_err.h"
#include "http/http_parse.h"
#include "http/http_write.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXH 16

#define FUZZ_ASSERT(c)                                                                     \
	do {                                                                               \
		if (!(c)) {                                                                \
			fprintf(stderr, "fuzz_http: invariant failed: %s (line %d)\n", #c, \
				__LINE__);                                                 \
			abort();                                                           \
		}                                                                          \
	} while (0)

static char *dup_exact(const uint8_t *p, size_t n)
{
	char *d = malloc(n ? n : 1);
	FUZZ_ASSERT(d != NULL);
	if (n)
		memcpy(d, p, n);
	return d;
}

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3u;
	return h;
}

static int inside(struct slice s, const char *buf, size_t len)
{
	return s.p >= buf && s.len <= len && (size_t)(s.p - buf) <= len - s.len;
}

static int all_class(struct slice s, uint8_t cls)
{
	for (size_t i = 0; i < s.len; i++)
		if (!(http_cclass[(unsigned char)s.p[i]] & cls))
			return 0;
	return 1;
}

/* ---- heads ------------------------------------------------------------------------------ */

struct msg {
	int is_req;
	struct http_request req;
	struct http_response res;
	struct http_header hdr[MAXH];
};

/* Result of a parse with slices as offsets, comparable across buffers. */
struct snap {
	int rc;
	long sl[5][2]; /* method, target, reason, host, upgrade */
	int minor, status, body, method_id, target_form;
	uint64_t cl;
	unsigned flags;
	size_t nhdr;
	long h[MAXH][4];
	int id[MAXH], hop[MAXH];
};

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

static const struct http_head *msg_head(const struct msg *m)
{
	return m->is_req ? &m->req.h : &m->res.h;
}

static void put_off(long out[2], struct slice s, const char *buf)
{
	out[0] = s.p ? (long)(s.p - buf) : -1;
	out[1] = (long)s.len;
}

static void snap_of(const struct msg *m, const char *buf, int rc, struct snap *s)
{
	memset(s, 0, sizeof *s);
	s->rc = rc;
	if (rc <= 0)
		return;
	const struct http_head *h = msg_head(m);
	if (m->is_req) {
		put_off(s->sl[0], m->req.method, buf);
		put_off(s->sl[1], m->req.target, buf);
		s->method_id = m->req.method_id;
		s->target_form = m->req.target_form;
	} else {
		put_off(s->sl[2], m->res.reason, buf);
		s->status = m->res.status;
	}
	put_off(s->sl[3], h->host, buf);
	put_off(s->sl[4], h->upgrade, buf);
	s->minor = h->minor;
	s->body = h->body;
	s->cl = h->content_length;
	s->flags = h->flags;
	s->nhdr = h->nhdr;
	for (size_t i = 0; i < h->nhdr && i < MAXH; i++) {
		put_off(&s->h[i][0], h->hdr[i].name, buf);
		put_off(&s->h[i][2], h->hdr[i].value, buf);
		s->id[i] = h->hdr[i].id;
		s->hop[i] = h->hdr[i].hop;
	}
}

/* What must hold for any successfully parsed head. */
static void check_head(const struct msg *m, const char *buf, size_t len, int rc, size_t cap,
		       const struct http_limits *lim)
{
	const struct http_head *h = msg_head(m);
	size_t n = (size_t)rc;
	FUZZ_ASSERT(n <= len && n >= 4);
	FUZZ_ASSERT(memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
	FUZZ_ASSERT(h->minor == 0 || h->minor == 1);
	FUZZ_ASSERT(h->nhdr <= cap && h->nhdr <= lim->max_headers);
	size_t hosts = 0;
	for (size_t i = 0; i < h->nhdr; i++) {
		const struct http_header *f = &h->hdr[i];
		FUZZ_ASSERT(inside(f->name, buf, n) && inside(f->value, buf, n));
		FUZZ_ASSERT(f->name.len > 0 && all_class(f->name, HC_TCHAR));
		FUZZ_ASSERT(all_class(f->value, HC_VALUE));
		if (f->value.len)
			FUZZ_ASSERT(!(http_cclass[(unsigned char)f->value.p[0]] & HC_OWS) &&
				    !(http_cclass[(unsigned char)f->value.p[f->value.len - 1]] &
				      HC_OWS));
		hosts += f->id == HTTP_H_HOST;
	}
	switch (h->body) {
	case HTTP_BODY_LENGTH:
		FUZZ_ASSERT((h->flags & HTTP_F_HAS_CL) && !(h->flags & HTTP_F_HAS_TE));
		FUZZ_ASSERT(h->content_length <= lim->max_body);
		break;
	case HTTP_BODY_CHUNKED:
		FUZZ_ASSERT((h->flags & HTTP_F_HAS_TE) && !(h->flags & HTTP_F_HAS_CL));
		FUZZ_ASSERT(h->minor == 1);
		break;
	case HTTP_BODY_CLOSE: FUZZ_ASSERT(!m->is_req && !(h->flags & HTTP_F_KEEP_ALIVE)); break;
	case HTTP_BODY_NONE: break;
	default: FUZZ_ASSERT(0);
	}
	if (m->is_req) {
		const struct http_request *r = &m->req;
		FUZZ_ASSERT(inside(r->method, buf, n) && inside(r->target, buf, n));
		FUZZ_ASSERT(r->method.len > 0 && all_class(r->method, HC_TCHAR));
		FUZZ_ASSERT(r->target.len > 0 && all_class(r->target, HC_TARGET));
		FUZZ_ASSERT(hosts <= 1 && (h->minor == 0 || hosts == 1));
		FUZZ_ASSERT(!(h->flags & HTTP_F_TE_CODED));
		if (r->target_form == HTTP_T_ASTERISK)
			FUZZ_ASSERT(r->method_id == HTTP_M_OPTIONS);
		FUZZ_ASSERT((r->method_id == HTTP_M_CONNECT) ==
			    (r->target_form == HTTP_T_AUTHORITY));
	} else {
		const struct http_response *s = &m->res;
		FUZZ_ASSERT(s->status >= 100 && s->status <= 599);
		FUZZ_ASSERT(inside(s->reason, buf, n) && all_class(s->reason, HC_VALUE));
		if (s->req_method == HTTP_M_HEAD || s->status < 200 || s->status == 204 ||
		    s->status == 304)
			FUZZ_ASSERT(h->body == HTTP_BODY_NONE);
	}
}

/* Write the parsed head back and parse it again: same message. */
static void check_rewrite(const struct msg *m, size_t n, const struct http_limits *lim)
{
	const struct http_head *h = msg_head(m);
	size_t cap = 2 * n + 64;
	uint8_t *mem = malloc(cap);
	FUZZ_ASSERT(mem != NULL);
	struct buf b;
	buf_init(&b, mem, cap);
	int rc;
	if (m->is_req)
		rc = http_write_request_head(&b, m->req.method, m->req.target, h->minor, h->hdr,
					     h->nhdr, 0);
	else
		rc = http_write_response_head(&b, h->minor, m->res.status, m->res.reason, h->hdr,
					      h->nhdr, 0);
	FUZZ_ASSERT(rc == 0);

	struct http_limits big = *lim;
	big.max_line = 2 * lim->max_line + 64;
	big.max_header_bytes = 2 * lim->max_header_bytes + 64;
	struct msg *m2 = malloc(sizeof *m2);
	FUZZ_ASSERT(m2 != NULL);
	msg_init(m2, m->is_req, m->is_req ? HTTP_M_GET : m->res.req_method, MAXH);
	rc = msg_parse(m2, (const char *)b.data, b.len, &big);
	FUZZ_ASSERT(rc == (int)b.len);
	const struct http_head *h2 = msg_head(m2);
	FUZZ_ASSERT(h2->nhdr == h->nhdr && h2->minor == h->minor && h2->body == h->body &&
		    h2->flags == h->flags && h2->content_length == h->content_length);
	for (size_t i = 0; i < h->nhdr; i++) {
		FUZZ_ASSERT(slice_eq(h2->hdr[i].name, h->hdr[i].name));
		FUZZ_ASSERT(slice_eq(h2->hdr[i].value, h->hdr[i].value));
		FUZZ_ASSERT(h2->hdr[i].id == h->hdr[i].id && h2->hdr[i].hop == h->hdr[i].hop);
	}
	if (m->is_req) {
		FUZZ_ASSERT(slice_eq(m2->req.method, m->req.method));
		FUZZ_ASSERT(slice_eq(m2->req.target, m->req.target));
	} else {
		FUZZ_ASSERT(m2->res.status == m->res.status);
		if (m->res.reason.len)
			FUZZ_ASSERT(slice_eq(m2->res.reason, m->res.reason));
	}
	free(m2);
	free(mem);
}

static void chunked_check(const uint8_t *d, size_t n, size_t split, const struct http_limits *lim);

/* Parse d[0..n) as one kind of head, whole, split and byte by byte. */
static void head_check(const uint8_t *d, size_t n, size_t split, int is_req, enum http_method rm,
		       size_t cap, const struct http_limits *lim)
{
	struct msg *m = malloc(sizeof *m);
	FUZZ_ASSERT(m != NULL);
	struct snap whole, other;

	char *w = dup_exact(d, n);
	msg_init(m, is_req, rm, cap);
	int rc = msg_parse(m, w, n, lim);
	FUZZ_ASSERT(rc > 0 || rc == -ERR_PARTIAL || (rc < 0 && http_error_status(rc) >= 400));
	snap_of(m, w, rc, &whole);
	if (rc > 0) {
		check_head(m, w, n, rc, cap, lim);
		check_rewrite(m, (size_t)rc, lim);
	}
	int chunked = rc > 0 && msg_head(m)->body == HTTP_BODY_CHUNKED;
	free(w);

	/* split: the prefix in its own block, then all of it in another */
	char *a = dup_exact(d, split), *b = dup_exact(d, n);
	msg_init(m, is_req, rm, cap);
	int ra = msg_parse(m, a, split, lim);
	FUZZ_ASSERT(ra == -ERR_PARTIAL || ra == rc);
	int rb = msg_parse(m, b, n, lim);
	FUZZ_ASSERT(rb == rc);
	snap_of(m, b, rb, &other);
	FUZZ_ASSERT(memcmp(&whole, &other, sizeof whole) == 0);

	/* byte by byte over one buffer */
	msg_init(m, is_req, rm, cap);
	int ri = -ERR_PARTIAL;
	for (size_t i = 0; i <= n; i++) {
		ri = msg_parse(m, b, i, lim);
		FUZZ_ASSERT(ri == -ERR_PARTIAL || ri == rc);
	}
	FUZZ_ASSERT(ri == rc);
	snap_of(m, b, ri, &other);
	FUZZ_ASSERT(memcmp(&whole, &other, sizeof whole) == 0);
	free(a);
	free(b);
	free(m);

	if (chunked) {
		size_t body = n - (size_t)rc;
		chunked_check(d + rc, body, body ? split % (body + 1) : 0, lim);
	}
}

/* ---- chunked bodies --------------------------------------------------------------------- */

struct ck_res {
	int rc;
	size_t used;
	size_t dlen;
	uint64_t hash;
};

static void ck_feed(struct http_chunked *c, const char *p, size_t n, const struct http_limits *lim,
		    struct ck_res *r, char *collect)
{
	while (n > 0 && r->rc == 0) {
		size_t used = (size_t)-1;
		struct slice data;
		int rc = http_chunked_decode(c, p, n, lim, &used, &data);
		FUZZ_ASSERT(used <= n);
		FUZZ_ASSERT(rc != 0 || used > 0);
		FUZZ_ASSERT(data.len == 0 || inside(data, p, used));
		r->hash = fnv(data.p, data.len, r->hash);
		if (collect)
			memcpy(collect + r->dlen, data.p, data.len);
		r->dlen += data.len;
		r->used += used;
		p += used;
		n -= used;
		r->rc = rc;
	}
}

static void chunked_check(const uint8_t *d, size_t n, size_t split, const struct http_limits *lim)
{
	struct http_chunked c;
	struct ck_res whole = {0, 0, 0, 14695981039346656037u}, o;
	char *w = dup_exact(d, n);
	char *data = malloc(n ? n : 1);
	FUZZ_ASSERT(data != NULL);
	http_chunked_init(&c);
	ck_feed(&c, w, n, lim, &whole, data);
	FUZZ_ASSERT(whole.rc == 0 || whole.rc == 1 || http_error_status(whole.rc) >= 400);
	FUZZ_ASSERT(whole.dlen <= whole.used && whole.used <= n);
	FUZZ_ASSERT(whole.dlen <= lim->max_body);
	FUZZ_ASSERT(whole.rc != 0 || whole.used == n);

	/* split in two blocks */
	char *a = dup_exact(d, split), *b = dup_exact(d + split, n - split);
	o = (struct ck_res){0, 0, 0, 14695981039346656037u};
	http_chunked_init(&c);
	ck_feed(&c, a, split, lim, &o, NULL);
	FUZZ_ASSERT(o.rc == 0 || o.rc == whole.rc);
	ck_feed(&c, b, n - split, lim, &o, NULL);
	FUZZ_ASSERT(o.rc == whole.rc && o.used == whole.used && o.dlen == whole.dlen &&
		    o.hash == whole.hash);
	free(a);
	free(b);

	/* byte by byte */
	o = (struct ck_res){0, 0, 0, 14695981039346656037u};
	http_chunked_init(&c);
	for (size_t i = 0; i < n && o.rc == 0; i++)
		ck_feed(&c, w + i, 1, lim, &o, NULL);
	FUZZ_ASSERT(o.rc == whole.rc && o.used == whole.used && o.dlen == whole.dlen &&
		    o.hash == whole.hash);

	/* re-encode what was decoded and decode that: the same bytes */
	if (whole.rc == 1) {
		size_t cap = whole.dlen + 64;
		uint8_t *mem = malloc(cap);
		FUZZ_ASSERT(mem != NULL);
		struct buf out;
		buf_init(&out, mem, cap);
		if (whole.dlen)
			FUZZ_ASSERT(http_write_chunk(&out, (struct slice){data, whole.dlen}) == 0);
		FUZZ_ASSERT(http_write_last_chunk(&out) == 0);
		o = (struct ck_res){0, 0, 0, 14695981039346656037u};
		http_chunked_init(&c);
		ck_feed(&c, (const char *)out.data, out.len, lim, &o, NULL);
		FUZZ_ASSERT(o.rc == 1 && o.used == out.len && o.dlen == whole.dlen &&
			    o.hash == whole.hash);
		free(mem);
	}
	free(data);
	free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Small caps, so inputs of fuzzing size reach every limit. */
	struct http_limits lim = {
		.max_line = 200,
		.max_headers = 12,
		.max_header_bytes = 600,
		.max_body = 100000,
		.max_chunk_line = 40,
		.max_trailer_bytes = 120,
	};
	uint64_t h = fnv(data, size, 14695981039346656037u);
	size_t split = (size_t)(h % (size + 1));
	size_t cap = (h >> 32) & 1 ? MAXH : 8; /* below or above max_headers */
	static const enum http_method rms[4] = {HTTP_M_GET, HTTP_M_HEAD, HTTP_M_CONNECT,
						HTTP_M_POST};

	head_check(data, size, split, 1, HTTP_M_GET, cap, &lim);
	head_check(data, size, split, 0, rms[(h >> 40) & 3], cap, &lim);
	chunked_check(data, size, split, &lim);
	return 0;
}
