/* http_parse.c — HTTP/1.1 head parser and chunked decoder; contract in http_parse.h, design
 * and the rejection rules in docs/internals/http.md.
 *
 * Shape: the head is read line by line. memchr finds the LF ending a line, then the line is
 * checked in one pass with the class table below; because every line handed to the line
 * parsers ends in CR (bare LF is refused first), the CR is a sentinel that stops every class
 * loop, so those loops need no bounds checks. An unfinished line is left for the next call,
 * which resumes the LF search where the previous one stopped.
 */
#include "http/http_parse.h"

#include "base/base_err.h"

#include <assert.h>
#include <string.h>

enum { PH_START = 0, PH_FIELDS };

/* Limit sizes above this would let a head length overflow the int return value. */
#define HTTP_LIMIT_CAP ((size_t)1 << 28)

/* Character classes, one byte per octet (bits: http_parse.h HC_*):
 *   TCHAR  token characters, RFC 9110 §5.6.2
 *   VALUE  field-value octets: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5)
 *   TARGET request-target octets: VCHAR (no SP, CTL, DEL or obs-text)
 *   HOST   uri-host and port: unreserved, pct-encoded, sub-delims but ",", ":" "[" "]"
 *          (RFC 3986; "," is left out so no Host value can read as a list of hosts)
 *   HEX    HEXDIG
 *   OWS    SP, HTAB
 *   QDTEXT quoted-string text, RFC 9110 §5.6.4
 *   SCHEME URI scheme characters after the first (RFC 3986 §3.1) */
const uint8_t http_cclass[256] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 00 */
	0x00, 0x62, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 08 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 10 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 18 */
	0x62, 0x4f, 0x06, 0x47, 0x4f, 0x4f, 0x4f, 0x4f, /* 20 */
	0x4e, 0x4e, 0x4f, 0xcf, 0x46, 0xcf, 0xcf, 0x46, /* 28 */
	0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, /* 30 */
	0xdf, 0xdf, 0x4e, 0x4e, 0x46, 0x4e, 0x46, 0x46, /* 38 */
	0x46, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xcf, /* 40 */
	0xcf, 0xcf, 0xcf, 0xcf, 0xcf, 0xcf, 0xcf, 0xcf, /* 48 */
	0xcf, 0xcf, 0xcf, 0xcf, 0xcf, 0xcf, 0xcf, 0xcf, /* 50 */
	0xcf, 0xcf, 0xcf, 0x4e, 0x06, 0x4e, 0x47, 0x4f, /* 58 */
	0x47, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xcf, /* 60 */
	0xcf, 0xcf, 0xcf, 0xcf, 0xcf, 0xcf, 0xcf, 0xcf, /* 68 */
	0xcf, 0xcf, 0xcf, 0xcf, 0xcf, 0xcf, 0xcf, 0xcf, /* 70 */
	0xcf, 0xcf, 0xcf, 0x46, 0x47, 0x46, 0x4f, 0x00, /* 78 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 80 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 88 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 90 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 98 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* a0 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* a8 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* b0 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* b8 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* c0 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* c8 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* d0 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* d8 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* e0 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* e8 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* f0 */
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* f8 */
};

#define CC(c) http_cclass[(unsigned char)(c)]
#define IS_OWS(c) ((c) == ' ' || (c) == '\t')

_Static_assert(HC_TCHAR == 0x01 && HC_VALUE == 0x02 && HC_TARGET == 0x04 && HC_HOST == 0x08 &&
		       HC_HEX == 0x10 && HC_OWS == 0x20 && HC_QDTEXT == 0x40 && HC_SCHEME == 0x80,
	       "http_cclass was generated for these bit values");

void http_limits_default(struct http_limits *lim)
{
	lim->max_line = 8192;
	lim->max_headers = 100;
	lim->max_header_bytes = 32768;
	lim->max_body = (uint64_t)1 << 30;
	lim->max_chunk_line = 1024;
	lim->max_trailer_bytes = 8192;
}

int http_error_status(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case ERR_HTTP_LINE_TOO_LONG: return 414;
	case ERR_HTTP_TOO_MANY_HEADERS:
	case ERR_HTTP_HEADERS_TOO_LARGE:
	case ERR_HTTP_TRAILER_TOO_LARGE: return 431;
	case ERR_HTTP_BODY_TOO_LARGE: return 413;
	case ERR_HTTP_UNKNOWN_CODING: return 501;
	case ERR_HTTP_BAD_VERSION: return 505;
	default: return 400;
	}
}

/* ---- small helpers ---------------------------------------------------------------------- */

/* Word-at-a-time scans (8 octets per step). Words are loaded so that the first octet in
 * memory is the least significant byte. Masks have bit 7 of a byte set where that byte
 * matches; the borrow trick used for "below n" and "equal to c" can only give false positives
 * in bytes more significant than a true match, so the least significant set byte is always
 * a real one, and it is the first in memory. */
#define ONES 0x0101010101010101u
#define HIGHS 0x8080808080808080u

static inline uint64_t load8(const char *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

static inline uint64_t bytes_below(uint64_t w, unsigned n)
{
	return (w - ONES * n) & ~w & HIGHS;
}

static inline uint64_t bytes_equal(uint64_t w, unsigned c)
{
	uint64_t d = w ^ (ONES * c);
	return (d - ONES) & ~d & HIGHS;
}

/* Offset in memory of the first matching byte of a non-zero mask. */
static inline unsigned first_match(uint64_t m)
{
	return (unsigned)__builtin_ctzll(m) >> 3;
}

/* Compare a token or field value with a lower-case literal of letters, digits and '-'.
 * (c | 0x20) folds case only for letters here: no other octet allowed in a token or a field
 * value maps onto a lower-case letter, '-' or a digit that way. */
static int lit_is(const char *p, size_t n, const char *lit, size_t litlen)
{
	if (n != litlen)
		return 0;
	if (n >= 8) { /* the same fold, eight octets at a time; the last word may overlap */
		for (size_t i = 0; i + 8 <= n; i += 8)
			if ((load8(p + i) | ONES * 0x20) != load8(lit + i))
				return 0;
		return (n & 7) == 0 || (load8(p + n - 8) | ONES * 0x20) == load8(lit + n - 8);
	}
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)p[i] | 0x20) != (unsigned char)lit[i])
			return 0;
	return 1;
}

#define LIT_IS(p, n, lit) lit_is((p), (n), lit, sizeof(lit) - 1)

static unsigned char lower(unsigned char c)
{
	return (unsigned char)(c - 'A') < 26 ? (unsigned char)(c | 0x20) : c;
}

static int token_eq_ci(struct slice a, struct slice b)
{
	if (a.len != b.len)
		return 0;
	for (size_t i = 0; i < a.len; i++)
		if (lower((unsigned char)a.p[i]) != lower((unsigned char)b.p[i]))
			return 0;
	return 1;
}

/* Next element of a comma-separated list of tokens (RFC 9110 §5.6.1): empty elements and OWS
 * are skipped. Returns 1 with *tok set, 0 at the end of the list, -1 when an element is not
 * exactly one token (parameters, quoted strings and stray octets all land here). */
static int list_next(const char **pp, const char *e, struct slice *tok)
{
	const char *p = *pp;
	while (p < e && (*p == ',' || IS_OWS(*p)))
		p++;
	if (p == e) {
		*pp = p;
		return 0;
	}
	const char *t = p;
	while (p < e && (CC(*p) & HC_TCHAR))
		p++;
	if (p == t)
		return -1;
	*tok = (struct slice){t, (size_t)(p - t)};
	while (p < e && IS_OWS(*p))
		p++;
	if (p < e && *p != ',')
		return -1;
	*pp = p;
	return 1;
}

/* First octet in [q, e) that is not a field-value octet (HTAB, SP, VCHAR, obs-text), or e. */
static const char *scan_value(const char *q, const char *e)
{
	while (e - q >= 8) {
		uint64_t w = load8(q);
		uint64_t m = bytes_below(w, 0x20) | bytes_equal(w, 0x7f);
		if (!m) {
			q += 8;
			continue;
		}
		q += first_match(m);
		if (*q != '\t')
			return q;
		q++;
	}
	while (q < e && (CC(*q) & HC_VALUE))
		q++;
	return q;
}

/* First octet in [q, e) that is not a request-target octet (VCHAR), or e. */
static const char *scan_target(const char *q, const char *e)
{
	while (e - q >= 8) {
		uint64_t w = load8(q);
		uint64_t m = bytes_below(w, 0x21) | bytes_equal(w, 0x7f) | (w & HIGHS);
		if (m)
			return q + first_match(m);
		q += 8;
	}
	while (q < e && (CC(*q) & HC_TARGET))
		q++;
	return q;
}

/* First octet in [q, e) that is not a tchar, or e. Unrolled by four with one bounds check per
 * step; the first failing octet returns at once (tokens are short: no octet is looked at
 * twice). */
static const char *scan_token(const char *q, const char *e)
{
	while (e - q >= 4) {
		if (!(CC(q[0]) & HC_TCHAR))
			return q;
		if (!(CC(q[1]) & HC_TCHAR))
			return q + 1;
		if (!(CC(q[2]) & HC_TCHAR))
			return q + 2;
		if (!(CC(q[3]) & HC_TCHAR))
			return q + 3;
		q += 4;
	}
	while (q < e && (CC(*q) & HC_TCHAR))
		q++;
	return q;
}

static void rebase(struct slice *s, uintptr_t from, const char *to)
{
	if (s->p)
		s->p = to + ((uintptr_t)s->p - from);
}

static void rebase_head(struct http_head *h, const char *buf)
{
	uintptr_t from = h->st.base;
	for (size_t i = 0; i < h->nhdr; i++) {
		rebase(&h->hdr[i].name, from, buf);
		rebase(&h->hdr[i].value, from, buf);
	}
	rebase(&h->host, from, buf);
	rebase(&h->upgrade, from, buf);
}

void http_request_init(struct http_request *req, struct http_header *hdr, size_t cap)
{
	memset(req, 0, sizeof *req); /* the head and its parser state too */
	req->h.hdr = hdr;
	req->h.cap = cap;
}

void http_response_init(struct http_response *res, struct http_header *hdr, size_t cap,
			enum http_method req_method)
{
	memset(res, 0, sizeof *res);
	res->h.hdr = hdr;
	res->h.cap = cap;
	res->req_method = req_method;
}

/* ---- start lines ------------------------------------------------------------------------ */

/* HTTP-version, RFC 9112 §2.3: exactly "HTTP/1.0" or "HTTP/1.1" (HTTP-name is case-sensitive).
 * Another well-formed HTTP/d.d is -ERR_HTTP_BAD_VERSION (505); anything else -ERR_PARSE. */
static int parse_version(const char *v, size_t n, int *minor)
{
	if (n != 8)
		return -ERR_PARSE;
	uint64_t w = load8(v), lit = load8("HTTP/1.0");
	if ((w & 0x00ffffffffffffffu) == (lit & 0x00ffffffffffffffu) &&
	    (v[7] == '0' || v[7] == '1')) {
		*minor = v[7] - '0';
		return 0;
	}
	if ((w & 0xffffffffffu) == (lit & 0xffffffffffu) && v[5] >= '0' && v[5] <= '9' &&
	    v[6] == '.' && v[7] >= '0' && v[7] <= '9')
		return -ERR_HTTP_BAD_VERSION;
	return -ERR_PARSE;
}

/* p[0..sizeof lit - 1) equals the literal (a short inline loop, no libc call). */
static int mem_is(const char *p, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != lit[i])
			return 0;
	return 1;
}

#define MEM_IS(p, lit) mem_is((p), lit, sizeof(lit) - 1)

static enum http_method method_id(struct slice m)
{
	const char *p = m.p;
	switch (m.len) {
	case 3:
		if (MEM_IS(p, "GET"))
			return HTTP_M_GET;
		if (MEM_IS(p, "PUT"))
			return HTTP_M_PUT;
		break;
	case 4:
		if (MEM_IS(p, "HEAD"))
			return HTTP_M_HEAD;
		if (MEM_IS(p, "POST"))
			return HTTP_M_POST;
		break;
	case 5:
		if (MEM_IS(p, "TRACE"))
			return HTTP_M_TRACE;
		if (MEM_IS(p, "PATCH"))
			return HTTP_M_PATCH;
		break;
	case 6:
		if (MEM_IS(p, "DELETE"))
			return HTTP_M_DELETE;
		break;
	case 7:
		if (MEM_IS(p, "CONNECT"))
			return HTTP_M_CONNECT;
		if (MEM_IS(p, "OPTIONS"))
			return HTTP_M_OPTIONS;
		break;
	}
	return HTTP_M_OTHER;
}

/* uri-host ":" port, RFC 9112 §3.2.3: host octets, a last ':' followed by 1*DIGIT. */
static int authority_ok(const char *p, size_t n)
{
	size_t colon = n;
	for (size_t i = 0; i < n; i++) {
		if (!(CC(p[i]) & HC_HOST))
			return 0;
		if (p[i] == ':')
			colon = i;
	}
	if (colon == 0 || colon + 1 >= n)
		return 0;
	for (size_t i = colon + 1; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

/* Request-target form, RFC 9112 §3.2: CONNECT takes authority-form only, "*" goes with
 * OPTIONS only, otherwise origin-form ("/...") or absolute-form (scheme ":" ...). */
static int target_form(struct http_request *req)
{
	const char *t = req->target.p;
	size_t n = req->target.len;
	if (req->method_id == HTTP_M_CONNECT) {
		if (!authority_ok(t, n))
			return -ERR_PARSE;
		req->target_form = HTTP_T_AUTHORITY;
		return 0;
	}
	if (t[0] == '/') {
		req->target_form = HTTP_T_ORIGIN;
		return 0;
	}
	if (n == 1 && t[0] == '*') {
		if (req->method_id != HTTP_M_OPTIONS)
			return -ERR_PARSE;
		req->target_form = HTTP_T_ASTERISK;
		return 0;
	}
	if ((unsigned char)((t[0] | 0x20) - 'a') >= 26)
		return -ERR_PARSE;
	size_t i = 1;
	while (i < n && (CC(t[i]) & HC_SCHEME))
		i++;
	if (i == n || t[i] != ':')
		return -ERR_PARSE;
	req->target_form = HTTP_T_ABSOLUTE;
	return 0;
}

/* request-line = method SP request-target SP HTTP-version, RFC 9112 §3: one SP exactly
 * between the parts. p[n] is the CR ending the line. */
static int request_line(struct http_request *req, const char *p, size_t n)
{
	const char *e = p + n, *q = scan_token(p, e), *t;
	if (q == p || *q != ' ')
		return -ERR_PARSE;
	req->method = (struct slice){p, (size_t)(q - p)};
	t = ++q;
	q = scan_target(q, e);
	if (q == t || *q != ' ')
		return -ERR_PARSE;
	req->target = (struct slice){t, (size_t)(q - t)};
	q++;
	int rc = parse_version(q, (size_t)(e - q), &req->h.minor);
	if (rc)
		return rc;
	req->method_id = method_id(req->method);
	return target_form(req);
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ], RFC 9112 §4. The SP before
 * an empty reason may be missing (common, and harmless to framing). p[n] is the CR. */
static int status_line(struct http_response *res, const char *p, size_t n)
{
	if (n < 12)
		return -ERR_PARSE;
	int rc = parse_version(p, 8, &res->h.minor);
	if (rc)
		return rc;
	if (p[8] != ' ')
		return -ERR_PARSE;
	int status = 0;
	for (int i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -ERR_PARSE;
		status = status * 10 + (p[i] - '0');
	}
	if (status < 100 || status > 599)
		return -ERR_PARSE;
	res->status = status;
	if (n == 12) {
		res->reason = (struct slice){p + 12, 0};
		return 0;
	}
	if (p[12] != ' ')
		return -ERR_PARSE;
	const char *r = p + 13, *q = r;
	while (CC(*q) & HC_VALUE)
		q++;
	if (q != p + n)
		return -ERR_PARSE;
	res->reason = (struct slice){r, (size_t)(q - r)};
	return 0;
}

/* ---- field lines ------------------------------------------------------------------------ */

static enum http_hdr header_id(const char *p, size_t n)
{
	unsigned char c0 = (unsigned char)(p[0] | 0x20); /* n > 0: a field name is a token */
	switch (n) {
	case 2:
		if (c0 == 't' && LIT_IS(p, n, "te"))
			return HTTP_H_TE;
		break;
	case 4:
		if (c0 == 'h' && LIT_IS(p, n, "host"))
			return HTTP_H_HOST;
		break;
	case 6:
		if (c0 == 'e' && LIT_IS(p, n, "expect"))
			return HTTP_H_EXPECT;
		break;
	case 7:
		if (c0 == 'u' && LIT_IS(p, n, "upgrade"))
			return HTTP_H_UPGRADE;
		break;
	case 10:
		if (c0 == 'c' && LIT_IS(p, n, "connection"))
			return HTTP_H_CONNECTION;
		if (c0 == 'k' && LIT_IS(p, n, "keep-alive"))
			return HTTP_H_KEEP_ALIVE;
		break;
	case 14:
		if (c0 == 'c' && LIT_IS(p, n, "content-length"))
			return HTTP_H_CONTENT_LENGTH;
		break;
	case 16:
		if (c0 == 'p' && LIT_IS(p, n, "proxy-connection"))
			return HTTP_H_PROXY_CONNECTION;
		break;
	case 17:
		if (c0 == 't' && LIT_IS(p, n, "transfer-encoding"))
			return HTTP_H_TRANSFER_ENCODING;
		break;
	}
	return HTTP_H_OTHER;
}

/* Content-Length = 1*DIGIT, RFC 9112 §6.2 / RFC 9110 §8.6. A list of identical values
 * ("5, 5", as a proxy may have merged duplicate fields) is taken as that value; differing
 * values, empty elements, signs, spaces inside a number and overflow are not. Leading zeros
 * are accepted: they are part of the grammar and change no implementation's reading. */
static int parse_content_length(struct slice v, uint64_t *out)
{
	const char *p = v.p, *e = v.p + v.len;
	int have = 0;
	uint64_t first = 0;
	for (;;) {
		while (p < e && IS_OWS(*p))
			p++;
		if (p == e || *p < '0' || *p > '9')
			return -ERR_HTTP_BAD_FRAMING;
		uint64_t x = 0;
		while (p < e && *p >= '0' && *p <= '9') {
			unsigned d = (unsigned)(*p++ - '0');
			if (x > (UINT64_MAX - d) / 10)
				return -ERR_HTTP_BAD_FRAMING;
			x = x * 10 + d;
		}
		while (p < e && IS_OWS(*p))
			p++;
		if (have && x != first)
			return -ERR_HTTP_BAD_FRAMING;
		first = x;
		have = 1;
		if (p == e)
			break;
		if (*p++ != ',')
			return -ERR_HTTP_BAD_FRAMING;
	}
	*out = first;
	return 0;
}

/* Transfer-Encoding, RFC 9112 §6.1 / §7: the codings of all fields, in order, form one list.
 * Record what the end-of-head decision needs. No registered coding takes parameters, so any
 * parameter (or other non-token element) is malformed. */
static int transfer_encoding(struct http_pstate *st, struct slice v)
{
	const char *p = v.p, *e = v.p + v.len;
	struct slice c;
	int rc;
	while ((rc = list_next(&p, e, &c)) > 0) {
		if (st->te_n < UINT16_MAX)
			st->te_n++;
		if (LIT_IS(c.p, c.len, "chunked")) {
			if (st->te_chunked < UINT8_MAX)
				st->te_chunked++;
			st->te_last_chunked = 1;
			continue;
		}
		st->te_last_chunked = 0;
		if (LIT_IS(c.p, c.len, "gzip") || LIT_IS(c.p, c.len, "x-gzip") ||
		    LIT_IS(c.p, c.len, "deflate") || LIT_IS(c.p, c.len, "compress") ||
		    LIT_IS(c.p, c.len, "x-compress"))
			st->te_other = 1;
		else
			st->te_unknown = 1;
	}
	return rc < 0 ? -ERR_HTTP_BAD_FRAMING : 0;
}

/* Connection = #connection-option, RFC 9110 §7.6.1. */
static int connection(struct http_head *h, struct slice v)
{
	/* The usual whole values first: a one-token list means just that token. */
	if (LIT_IS(v.p, v.len, "keep-alive")) {
		h->flags |= HTTP_F_CONN_KEEP_ALIVE;
		return 0;
	}
	if (LIT_IS(v.p, v.len, "close")) {
		h->flags |= HTTP_F_CONN_CLOSE;
		return 0;
	}
	const char *p = v.p, *e = v.p + v.len;
	struct slice t;
	int rc;
	while ((rc = list_next(&p, e, &t)) > 0) {
		if (LIT_IS(t.p, t.len, "close"))
			h->flags |= HTTP_F_CONN_CLOSE;
		else if (LIT_IS(t.p, t.len, "keep-alive"))
			h->flags |= HTTP_F_CONN_KEEP_ALIVE;
		else if (LIT_IS(t.p, t.len, "upgrade"))
			h->flags |= HTTP_F_CONN_UPGRADE;
		else
			h->st.conn_other = 1;
	}
	return rc < 0 ? -ERR_PARSE : 0;
}

/* Store a field line already checked for syntax: name[0..namelen), value from v to vend
 * (leading OWS already skipped), then apply what the parser interprets in it. */
static int field_store(struct http_head *h, const char *name, size_t namelen, const char *v,
		       const char *vend, int is_request)
{
	while (vend > v && IS_OWS(vend[-1]))
		vend--;
	struct http_header *f = &h->hdr[h->nhdr++];
	f->name = (struct slice){name, namelen};
	f->value = (struct slice){v, (size_t)(vend - v)};
	f->id = (uint8_t)header_id(name, namelen);
	f->hop = 0;

	uint64_t cl;
	int rc;
	switch (f->id) {
	case HTTP_H_HOST:
		if (!is_request)
			break;
		if (++h->st.nhost > 1)
			return -ERR_HTTP_BAD_HOST;
		for (size_t i = 0; i < f->value.len; i++)
			if (!(CC(v[i]) & HC_HOST))
				return -ERR_HTTP_BAD_HOST;
		h->host = f->value;
		break;
	case HTTP_H_CONTENT_LENGTH:
		rc = parse_content_length(f->value, &cl);
		if (rc)
			return rc;
		if ((h->flags & HTTP_F_HAS_CL) && cl != h->st.cl)
			return -ERR_HTTP_BAD_FRAMING;
		h->st.cl = cl;
		h->flags |= HTTP_F_HAS_CL;
		break;
	case HTTP_H_TRANSFER_ENCODING:
		f->hop = 1;
		h->flags |= HTTP_F_HAS_TE;
		return transfer_encoding(&h->st, f->value);
	case HTTP_H_CONNECTION: f->hop = 1; return connection(h, f->value);
	case HTTP_H_UPGRADE:
		f->hop = 1;
		if (!h->upgrade.p)
			h->upgrade = f->value;
		break;
	case HTTP_H_EXPECT:
		if (!is_request || f->value.len == 0)
			break;
		if (LIT_IS(v, f->value.len, "100-continue"))
			h->flags |= HTTP_F_EXPECT_CONTINUE;
		else
			h->flags |= HTTP_F_EXPECT_OTHER;
		break;
	case HTTP_H_KEEP_ALIVE:
	case HTTP_H_TE:
	case HTTP_H_PROXY_CONNECTION: f->hop = 1; break;
	}
	return 0;
}

/* field-line = field-name ":" OWS field-value OWS, RFC 9112 §5. p[n] is the CR ending the
 * line. A line starting with SP or HTAB (obs-fold, §5.2, or whitespace after the start line,
 * §2.2) has an empty name and fails like any other bad name; so does whitespace between the
 * name and the colon (§5.1). */
static int field_line(struct http_head *h, const char *p, size_t n, int is_request)
{
	const char *e = p + n, *q = scan_token(p, e), *v;
	if (q == p || *q != ':')
		return -ERR_PARSE;
	size_t namelen = (size_t)(q - p);
	q++;
	while (IS_OWS(*q))
		q++;
	v = q;
	if (scan_value(q, e) != e)
		return -ERR_PARSE; /* CTL, DEL, NUL or a bare CR inside the value */
	return field_store(h, p, namelen, v, e, is_request);
}

/* Fast path for field lines not looked at before: each in one pass, no LF search first. It
 * takes only lines that are complete, well-formed and within the caps, which is exactly what
 * parse_lines would accept with the same slices (LF is in no class the scan accepts, so the
 * CRLF found is the line's first LF), and the empty line ending the head. Anything else stops
 * it and the general path decides, so errors stay the same whichever path runs. Returns 1
 * when it stopped at a line for the general path (st->off and st->scan at that line), 0 when
 * the head ended, or the error field_store gave (or the header-section cap, for the empty
 * line, as the general path checks it). */
static int fast_fields(struct http_head *h, const char *buf, size_t len,
		       const struct http_limits *lim, size_t max_fields, int is_request)
{
	struct http_pstate *st = &h->st;
	const char *e = buf + len;
	size_t off = st->off, hdr_start = st->hdr_start, max_bytes = lim->max_header_bytes;
	for (;;) {
		const char *p = buf + off, *q = scan_token(p, e), *v;
		if (q == p) {
			if (e - p < 2 || p[0] != '\r' || p[1] != '\n')
				break;
			st->off = st->scan = off + 2; /* the empty line: LF right after a CR */
			return off + 2 - hdr_start > max_bytes ? -ERR_HTTP_HEADERS_TOO_LARGE : 0;
		}
		if (q == e || *q != ':' || h->nhdr >= max_fields)
			break;
		size_t namelen = (size_t)(q - p);
		q++;
		while (q < e && IS_OWS(*q))
			q++;
		v = q;
		q = scan_value(q, e);
		if (e - q < 2 || q[0] != '\r' || q[1] != '\n')
			break;
		size_t next = (size_t)(q + 2 - buf);
		if (next - hdr_start > max_bytes)
			break;
		int rc = field_store(h, p, namelen, v, q, is_request);
		off = next;
		if (rc) {
			st->off = st->scan = off;
			return rc;
		}
	}
	st->off = st->scan = off;
	return 1;
}

/* Mark the fields a Connection option names as hop-by-hop (RFC 9110 §7.6.1). Host and
 * Content-Length stay unmarked: a proxy sets both itself, and letting a client strip them
 * through Connection is a known way to desynchronise a proxy from its origin. */
static void mark_connection_options(struct http_head *h)
{
	for (size_t i = 0; i < h->nhdr; i++) {
		if (h->hdr[i].id != HTTP_H_CONNECTION)
			continue;
		const char *p = h->hdr[i].value.p, *e = p + h->hdr[i].value.len;
		struct slice t;
		while (list_next(&p, e, &t) > 0) {
			for (size_t j = 0; j < h->nhdr; j++) {
				struct http_header *f = &h->hdr[j];
				if (f->id != HTTP_H_HOST && f->id != HTTP_H_CONTENT_LENGTH &&
				    token_eq_ci(f->name, t))
					f->hop = 1;
			}
		}
	}
}

/* Read lines until the empty line ending the head (0), the end of buf (-ERR_PARTIAL), or an
 * error. Limits are checked before a line's content, and on the unfinished tail, so a prefix
 * of any input gives either -ERR_PARTIAL or the result of the whole input. */
static int parse_lines(struct http_head *h, const char *buf, size_t len,
		       const struct http_limits *lim, struct http_request *req,
		       struct http_response *res)
{
	struct http_pstate *st = &h->st;
	size_t max_fields = h->cap < lim->max_headers ? h->cap : lim->max_headers;
	for (;;) {
		if (st->phase == PH_FIELDS && st->scan == st->off) {
			int rc = fast_fields(h, buf, len, lim, max_fields, req != NULL);
			if (rc <= 0)
				return rc; /* 0: the head ended */
		}
		size_t start = st->off;
		const char *lf =
			st->scan < len ? memchr(buf + st->scan, '\n', len - st->scan) : NULL;
		if (!lf) {
			st->scan = len;
			if (st->phase == PH_START)
				return len - start > lim->max_line + 1 ? -ERR_HTTP_LINE_TOO_LONG
								       : -ERR_PARTIAL;
			return len - st->hdr_start > lim->max_header_bytes
				       ? -ERR_HTTP_HEADERS_TOO_LARGE
				       : -ERR_PARTIAL;
		}
		size_t end = (size_t)(lf - buf);
		size_t n = end - start; /* octets before the LF */
		int cr = n > 0 && buf[end - 1] == '\r';
		st->off = st->scan = end + 1;
		int rc;
		if (st->phase == PH_START) {
			if (n - (size_t)cr > lim->max_line)
				return -ERR_HTTP_LINE_TOO_LONG;
			if (!cr)
				return -ERR_PARSE; /* bare LF */
			if (n == 1) {
				if (++st->empty > HTTP_MAX_EMPTY_LINES)
					return -ERR_PARSE;
				continue;
			}
			rc = req ? request_line(req, buf + start, n - 1)
				 : status_line(res, buf + start, n - 1);
			if (rc)
				return rc;
			st->phase = PH_FIELDS;
			st->hdr_start = st->off;
			continue;
		}
		if (st->off - st->hdr_start > lim->max_header_bytes)
			return -ERR_HTTP_HEADERS_TOO_LARGE;
		if (!cr)
			return -ERR_PARSE; /* bare LF */
		if (n == 1)
			return 0;
		if (h->nhdr >= max_fields)
			return -ERR_HTTP_TOO_MANY_HEADERS;
		rc = field_line(h, buf + start, n - 1, req != NULL);
		if (rc)
			return rc;
	}
}

/* Message framing of a request, RFC 9112 §6.1 and §6.3, with the server-side choices of
 * docs/internals/http.md: Transfer-Encoding must be exactly "chunked". */
static int finish_request(struct http_request *req, const struct http_limits *lim)
{
	struct http_head *h = &req->h;
	struct http_pstate *st = &h->st;

	if (h->minor == 1 && st->nhost == 0)
		return -ERR_HTTP_BAD_HOST;
	h->content_length = st->cl;
	if (h->flags & HTTP_F_HAS_TE) {
		if (h->minor == 0 || (h->flags & HTTP_F_HAS_CL))
			return -ERR_HTTP_BAD_FRAMING;
		if (st->te_chunked != 1 || !st->te_last_chunked)
			return -ERR_HTTP_BAD_FRAMING;
		if (st->te_unknown)
			return -ERR_HTTP_UNKNOWN_CODING;
		if (st->te_other)
			return -ERR_HTTP_BAD_FRAMING;
		h->body = HTTP_BODY_CHUNKED;
	} else if (h->flags & HTTP_F_HAS_CL) {
		if (st->cl > lim->max_body)
			return -ERR_HTTP_BODY_TOO_LARGE;
		h->body = HTTP_BODY_LENGTH;
	} else {
		h->body = HTTP_BODY_NONE;
	}
	if (st->conn_other)
		mark_connection_options(h);

	unsigned f = h->flags;
	if (!(f & HTTP_F_CONN_CLOSE) && (h->minor == 1 || (f & HTTP_F_CONN_KEEP_ALIVE)))
		f |= HTTP_F_KEEP_ALIVE;
	if (h->minor == 1 && (f & HTTP_F_CONN_UPGRADE) && h->upgrade.p)
		f |= HTTP_F_UPGRADE;
	if (h->minor == 0) /* RFC 9110 §10.1.1: ignore 100-continue from HTTP/1.0 */
		f &= ~(unsigned)(HTTP_F_EXPECT_CONTINUE | HTTP_F_EXPECT_OTHER);
	h->flags = f;
	return 0;
}

/* Message framing of a response, RFC 9112 §6.3 rules 1-7, given the request method. */
static int finish_response(struct http_response *res, const struct http_limits *lim)
{
	struct http_head *h = &res->h;
	struct http_pstate *st = &h->st;
	int s = res->status;

	if (h->flags & HTTP_F_HAS_TE) {
		if (h->minor == 0 || (h->flags & HTTP_F_HAS_CL))
			return -ERR_HTTP_BAD_FRAMING;
		if (st->te_n == 0 || st->te_chunked > 1)
			return -ERR_HTTP_BAD_FRAMING;
	}
	h->content_length = st->cl;
	if (s < 200) {
		h->body = HTTP_BODY_NONE;
		if (s == 101)
			h->flags |= HTTP_F_UPGRADE | HTTP_F_TUNNEL;
	} else if (res->req_method == HTTP_M_HEAD || s == 204 || s == 304) {
		h->body = HTTP_BODY_NONE;
	} else if (res->req_method == HTTP_M_CONNECT && s < 300) {
		h->body = HTTP_BODY_NONE;
		h->flags |= HTTP_F_TUNNEL;
	} else if (h->flags & HTTP_F_HAS_TE) {
		h->body = st->te_last_chunked ? HTTP_BODY_CHUNKED : HTTP_BODY_CLOSE;
		if (st->te_last_chunked && st->te_n > 1)
			h->flags |= HTTP_F_TE_CODED;
	} else if (h->flags & HTTP_F_HAS_CL) {
		if (st->cl > lim->max_body)
			return -ERR_HTTP_BODY_TOO_LARGE;
		h->body = HTTP_BODY_LENGTH;
	} else {
		h->body = HTTP_BODY_CLOSE;
	}
	if (st->conn_other)
		mark_connection_options(h);

	unsigned f = h->flags;
	if (!(f & (HTTP_F_CONN_CLOSE | HTTP_F_TUNNEL)) && h->body != HTTP_BODY_CLOSE &&
	    (h->minor == 1 || (f & HTTP_F_CONN_KEEP_ALIVE)))
		f |= HTTP_F_KEEP_ALIVE;
	h->flags = f;
	return 0;
}

static void check_limits(const struct http_limits *lim)
{
	assert(lim->max_line < HTTP_LIMIT_CAP && lim->max_header_bytes < HTTP_LIMIT_CAP);
	(void)lim;
}

int http_parse_request(struct http_request *req, const char *buf, size_t len,
		       const struct http_limits *lim)
{
	struct http_pstate *st = &req->h.st;
	if (st->base != (uintptr_t)buf) {
		rebase_head(&req->h, buf);
		rebase(&req->method, st->base, buf);
		rebase(&req->target, st->base, buf);
		st->base = (uintptr_t)buf;
	}
	if (st->rc)
		return st->rc;
	check_limits(lim);
	assert(len >= st->scan); /* bytes already seen may not be taken back */
	int rc = parse_lines(&req->h, buf, len, lim, req, NULL);
	if (rc == 0)
		rc = finish_request(req, lim);
	if (rc == 0)
		rc = (int)st->off;
	if (rc != -ERR_PARTIAL)
		st->rc = rc;
	return rc;
}

int http_parse_response(struct http_response *res, const char *buf, size_t len,
			const struct http_limits *lim)
{
	struct http_pstate *st = &res->h.st;
	if (st->base != (uintptr_t)buf) {
		rebase_head(&res->h, buf);
		rebase(&res->reason, st->base, buf);
		st->base = (uintptr_t)buf;
	}
	if (st->rc)
		return st->rc;
	check_limits(lim);
	assert(len >= st->scan);
	int rc = parse_lines(&res->h, buf, len, lim, NULL, res);
	if (rc == 0)
		rc = finish_response(res, lim);
	if (rc == 0)
		rc = (int)st->off;
	if (rc != -ERR_PARTIAL)
		st->rc = rc;
	return rc;
}

/* ---- chunked decoder -------------------------------------------------------------------- */

enum {
	CK_SIZE = 0,     /* chunk-size: HEXDIG */
	CK_SIZE_BWS,     /* BWS after the size or a value: only ";" may follow */
	CK_EXT_NAME0,    /* after ";": BWS, then a name */
	CK_EXT_NAME,     /* chunk-ext-name */
	CK_EXT_NAME_BWS, /* BWS after a name: "=" or ";" */
	CK_EXT_VAL0,     /* after "=": BWS, then token or quoted-string */
	CK_EXT_VAL,      /* token value */
	CK_EXT_QUOTED,   /* quoted-string value */
	CK_EXT_QPAIR,    /* after a backslash inside it */
	CK_EXT_AFTER,    /* after the closing quote */
	CK_SIZE_LF,      /* CR of the size line seen */
	CK_DATA,
	CK_DATA_CR, /* chunk data done: CRLF must follow */
	CK_DATA_LF,
	CK_TR_START, /* start of a trailer line, or the final CRLF */
	CK_TR_NAME,
	CK_TR_VALUE,
	CK_TR_LF,
	CK_END_LF, /* CR of the final empty line seen */
	CK_DONE,
};

void http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof *c);
	c->state = CK_SIZE;
}

static int hexval(unsigned char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* One framing octet of a size line (chunk-size [ chunk-ext ] CRLF, RFC 9112 §7.1 and
 * §7.1.1), trailer section (§7.1.2) or data delimiter. Returns 1 at the end of the body. */
static int chunked_octet(struct http_chunked *c, unsigned char ch, const struct http_limits *lim)
{
	int cls = CC(ch);
	if (c->state <= CK_EXT_AFTER && ch != '\r' && ++c->line > lim->max_chunk_line)
		return -ERR_HTTP_BAD_CHUNK;
	if (c->state >= CK_TR_START && ++c->trailer > lim->max_trailer_bytes)
		return -ERR_HTTP_TRAILER_TOO_LARGE;

	switch (c->state) {
	case CK_SIZE:
		if (cls & HC_HEX) {
			if (c->size >> 60)
				return -ERR_HTTP_BAD_CHUNK; /* over 2^64 - 1 */
			c->size = c->size << 4 | (uint64_t)hexval(ch);
			c->digits = 1;
			return 0;
		}
		if (!c->digits)
			return -ERR_HTTP_BAD_CHUNK;
		goto after_value;
	case CK_SIZE_BWS:
		if (ch == ';')
			c->state = CK_EXT_NAME0;
		else if (!IS_OWS(ch))
			return -ERR_HTTP_BAD_CHUNK;
		return 0;
	case CK_EXT_NAME0:
		if (cls & HC_TCHAR)
			c->state = CK_EXT_NAME;
		else if (!IS_OWS(ch))
			return -ERR_HTTP_BAD_CHUNK;
		return 0;
	case CK_EXT_NAME:
		if (cls & HC_TCHAR)
			return 0;
		if (IS_OWS(ch))
			c->state = CK_EXT_NAME_BWS;
		else if (ch == '=')
			c->state = CK_EXT_VAL0;
		else if (ch == ';')
			c->state = CK_EXT_NAME0;
		else if (ch == '\r')
			c->state = CK_SIZE_LF;
		else
			return -ERR_HTTP_BAD_CHUNK;
		return 0;
	case CK_EXT_NAME_BWS:
		if (ch == '=')
			c->state = CK_EXT_VAL0;
		else if (ch == ';')
			c->state = CK_EXT_NAME0;
		else if (!IS_OWS(ch))
			return -ERR_HTTP_BAD_CHUNK;
		return 0;
	case CK_EXT_VAL0:
		if (cls & HC_TCHAR)
			c->state = CK_EXT_VAL;
		else if (ch == '"')
			c->state = CK_EXT_QUOTED;
		else if (!IS_OWS(ch))
			return -ERR_HTTP_BAD_CHUNK;
		return 0;
	case CK_EXT_VAL:
		if (cls & HC_TCHAR)
			return 0;
		goto after_value;
	case CK_EXT_QUOTED:
		if (ch == '"')
			c->state = CK_EXT_AFTER;
		else if (ch == '\\')
			c->state = CK_EXT_QPAIR;
		else if (!(cls & HC_QDTEXT))
			return -ERR_HTTP_BAD_CHUNK;
		return 0;
	case CK_EXT_QPAIR:
		if (!(cls & HC_VALUE))
			return -ERR_HTTP_BAD_CHUNK;
		c->state = CK_EXT_QUOTED;
		return 0;
	case CK_EXT_AFTER: goto after_value;
	case CK_SIZE_LF:
		if (ch != '\n')
			return -ERR_HTTP_BAD_CHUNK;
		c->line = 0;
		if (c->size == 0) {
			c->state = CK_TR_START;
			return 0;
		}
		if (c->size > lim->max_body - c->total)
			return -ERR_HTTP_BODY_TOO_LARGE;
		c->total += c->size;
		c->left = c->size;
		c->state = CK_DATA;
		return 0;
	case CK_DATA_CR:
		if (ch != '\r')
			return -ERR_HTTP_BAD_CHUNK;
		c->state = CK_DATA_LF;
		return 0;
	case CK_DATA_LF:
		if (ch != '\n')
			return -ERR_HTTP_BAD_CHUNK;
		c->state = CK_SIZE;
		c->size = 0;
		c->digits = 0;
		return 0;
	case CK_TR_START:
		if (ch == '\r')
			c->state = CK_END_LF;
		else if (cls & HC_TCHAR)
			c->state = CK_TR_NAME;
		else
			return -ERR_HTTP_BAD_CHUNK; /* obs-fold, empty name, CTL */
		return 0;
	case CK_TR_NAME:
		if (ch == ':')
			c->state = CK_TR_VALUE;
		else if (!(cls & HC_TCHAR))
			return -ERR_HTTP_BAD_CHUNK;
		return 0;
	case CK_TR_VALUE:
		if (ch == '\r')
			c->state = CK_TR_LF;
		else if (!(cls & HC_VALUE))
			return -ERR_HTTP_BAD_CHUNK;
		return 0;
	case CK_TR_LF:
		if (ch != '\n')
			return -ERR_HTTP_BAD_CHUNK;
		c->state = CK_TR_START;
		return 0;
	case CK_END_LF:
		if (ch != '\n')
			return -ERR_HTTP_BAD_CHUNK;
		c->state = CK_DONE;
		return 1;
	}
	return -ERR_HTTP_BAD_CHUNK;

after_value: /* after the size or an extension value: BWS ";", ";", or CR */
	if (ch == ';')
		c->state = CK_EXT_NAME0;
	else if (IS_OWS(ch))
		c->state = CK_SIZE_BWS;
	else if (ch == '\r')
		c->state = CK_SIZE_LF;
	else
		return -ERR_HTTP_BAD_CHUNK;
	return 0;
}

int http_chunked_decode(struct http_chunked *c, const char *buf, size_t len,
			const struct http_limits *lim, size_t *used, struct slice *data)
{
	size_t i = 0;
	*data = (struct slice){buf, 0};
	*used = 0;
	if (c->rc)
		return c->rc;
	if (c->state == CK_DONE)
		return 1;
	while (i < len) {
		if (c->state == CK_DATA) {
			size_t n = len - i;
			if (n > c->left)
				n = (size_t)c->left;
			*data = (struct slice){buf + i, n};
			c->left -= n;
			if (c->left == 0)
				c->state = CK_DATA_CR;
			*used = i + n;
			return 0;
		}
		int rc = chunked_octet(c, (unsigned char)buf[i++], lim);
		if (rc < 0) {
			c->rc = rc;
			*used = i;
			return rc;
		}
		if (rc > 0) {
			*used = i;
			return 1;
		}
	}
	*used = i;
	return 0;
}
