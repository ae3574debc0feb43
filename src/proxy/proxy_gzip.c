/* proxy_gzip.c — entry point response compression; see proxy_gzip.h and
 * docs/internals/proxy-gzip.md.
 *
 * The decision mirrors NYTimes/gziphandler as Traefik v1.7 configures it (default level,
 * MinSize 1400) with the refusals a proxy owes RFC 9110 besides (no-transform, ranges,
 * bodiless statuses). The stream compresses into its own output buffer; for an HTTP/1.1
 * client each batch of compressed bytes becomes one chunk (RFC 9112 §7.1): the size line is
 * written right-aligned into reserved bytes in front of the data, so the chunk leaves the
 * buffer in one piece without a copy.
 */
#include "proxy/proxy_engine_int.h"

#include "base/base_err.h"
#include "base/base_log.h"
#include "http/http_gzip.h"
#include "http/http_write.h"

#include <string.h>

#define GZ_LEVEL 6      /* compress/gzip DefaultCompression is zlib's level 6 */
#define GZ_CHUNK_HEAD 8 /* room for "<hex>\r\n" in front of a chunk (4 hex digits + 2) */
#define GZ_CHUNK_TAIL 7 /* "\r\n" after the data and "0\r\n\r\n" at the end */

_Static_assert(PROXY_GZIP_OUT_CAP <= 0xffffu, "a chunk size must fit 4 hex digits");

/* ---- decision -------------------------------------------------------------------------------- */

/* A q-value (RFC 9110 §12.4.2): 1 above zero, 0 zero, -1 malformed. */
static int qvalue_positive(struct slice v)
{
	if (v.len == 0 || v.len > 5 || (v.p[0] != '0' && v.p[0] != '1'))
		return -1;
	int pos = v.p[0] == '1';
	if (v.len == 1)
		return pos;
	if (v.p[1] != '.')
		return -1;
	for (size_t i = 2; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		if (v.p[i] != '0')
			pos = 1; /* "1.5" is out of range; clamped to 1 as gziphandler does */
	}
	return pos;
}

/* Whether a comma-separated list value holds `token` (ASCII case-insensitive), parameters
 * after ';' ignored. */
static bool list_has(struct slice v, const char *token)
{
	struct slice rest = v;
	while (rest.p && rest.len) {
		struct slice el = slice_cut(rest, ',', &rest);
		struct slice params;
		el = slice_trim_ows(slice_cut(el, ';', &params));
		if (slice_eq_cstr_ci(el, token))
			return true;
	}
	return false;
}

bool proxy_gzip_accepts(const struct http_header *h, size_t n)
{
	int verdict = 0; /* the last "gzip" element wins */
	for (size_t i = 0; i < n; i++) {
		if (!slice_eq_cstr_ci(h[i].name, "Accept-Encoding"))
			continue;
		struct slice rest = h[i].value;
		while (rest.p && rest.len) {
			struct slice el = slice_cut(rest, ',', &rest);
			struct slice params;
			struct slice coding = slice_trim_ows(slice_cut(el, ';', &params));
			if (!slice_eq_cstr_ci(coding, "gzip"))
				continue;
			int q = 1;
			while (params.p && params.len) {
				struct slice prm = slice_trim_ows(slice_cut(params, ';', &params));
				struct slice val;
				struct slice name = slice_trim_ows(slice_cut(prm, '=', &val));
				if (slice_eq_cstr_ci(name, "q"))
					q = val.p ? qvalue_positive(slice_trim_ows(val)) : -1;
			}
			if (q >= 0) /* a malformed element is ignored */
				verdict = q;
		}
	}
	return verdict > 0;
}

static bool starts_with_ci(struct slice v, const char *prefix)
{
	size_t n = strlen(prefix);
	return v.len >= n && slice_eq_cstr_ci((struct slice){v.p, n}, prefix);
}

unsigned proxy_gzip_decide(const struct http_request *req, bool head_req,
			   const struct http_response *res)
{
	const struct http_header *rh = req->h.hdr;
	size_t rn = req->h.nhdr;
	/* Traefik v1: a gRPC request bypasses gziphandler altogether. */
	for (size_t i = 0; i < rn; i++)
		if (slice_eq_cstr_ci(rh[i].name, "Content-Type") &&
		    starts_with_ci(rh[i].value, "application/grpc"))
			return 0;
	if (res->status < 200)
		return 0; /* 1xx, 101: nothing varies */
	unsigned d = PROXY_GZ_VARY;
	bool ok = !head_req && res->status != 204 && res->status != 206 && res->status != 304 &&
		  res->h.body != HTTP_BODY_NONE && !(res->h.flags & HTTP_F_TE_CODED) &&
		  (res->h.body != HTTP_BODY_LENGTH || res->h.content_length >= PROXY_GZIP_MIN_SIZE);
	const struct http_header *h = res->h.hdr;
	for (size_t i = 0; i < res->h.nhdr; i++) {
		struct slice nm = h[i].name;
		if (slice_eq_cstr_ci(nm, "Vary")) {
			if (list_has(h[i].value, "Accept-Encoding") || list_has(h[i].value, "*"))
				d &= ~PROXY_GZ_VARY;
		} else if (!ok) {
			continue;
		} else if (slice_eq_cstr_ci(nm, "Content-Encoding")) {
			if (h[i].value.len)
				ok = false; /* already encoded (gziphandler: any non-empty value) */
		} else if (slice_eq_cstr_ci(nm, "Content-Range")) {
			ok = false;
		} else if (slice_eq_cstr_ci(nm, "Cache-Control")) {
			if (list_has(h[i].value, "no-transform"))
				ok = false; /* RFC 9111 §5.2.2.6 */
		}
	}
	if (ok && proxy_gzip_accepts(rh, rn))
		d |= PROXY_GZ_COMPRESS;
	return d;
}

/* ---- the stream ------------------------------------------------------------------------------ */

static size_t align16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

size_t proxy_gzip_slot_size(void)
{
	return align16(sizeof(struct proxy_gz)) + align16(http_gzip_size()) + PROXY_GZIP_OUT_CAP;
}

int proxy_gzip_start(struct proxy_gz *z, bool chunked)
{
	uint8_t *base = (uint8_t *)z;
	z->st = base + align16(sizeof *z);
	z->out = base + align16(sizeof *z) + align16(http_gzip_size());
	z->off = z->len = 0;
	z->head_end = 0;
	z->chunked = chunked;
	z->finished = 0;
	z->dirty = 0;
	z->in_total = z->out_total = 0;
	http_gzip_init(z->st, GZ_LEVEL);
	return 0;
}

int proxy_gzip_feed(struct proxy_gz *z, const uint8_t *in, size_t n, size_t *used,
		    enum proxy_gz_flush flush)
{
	*used = 0;
	if (z->finished)
		return 1;
	if (z->off < z->len)
		return 0; /* the last batch is still on its way */
	if (n == 0 && (flush == PROXY_GZ_NONE || (flush == PROXY_GZ_SYNC && !z->dirty)))
		return 0;
	size_t head = z->chunked ? GZ_CHUNK_HEAD : 0;
	size_t tail = z->chunked ? GZ_CHUNK_TAIL : 0;
	uint8_t *data = z->out + head;
	size_t cap = PROXY_GZIP_OUT_CAP - head - tail;
	size_t wrote = 0;
	int mode = flush == PROXY_GZ_FINISH ? HTTP_GZIP_FINISH
		   : flush == PROXY_GZ_SYNC ? HTTP_GZIP_SYNC
					    : HTTP_GZIP_NONE;
	int rc = http_gzip_step(z->st, in, n, used, data, cap, &wrote, mode);
	if (*used)
		z->dirty = 1;
	if (flush == PROXY_GZ_SYNC && *used == n && wrote < cap)
		z->dirty = 0; /* the flush completed: everything so far is decodable */
	z->in_total += *used;
	z->out_total += wrote;
	z->off = z->len = (uint32_t)head;
	if (wrote) {
		if (z->chunked) {
			char hex[8];
			size_t k = sizeof hex;
			hex[--k] = '\n';
			hex[--k] = '\r';
			for (size_t v = wrote; v; v >>= 4)
				hex[--k] = "0123456789abcdef"[v & 15];
			size_t hl = sizeof hex - k;
			z->off = (uint32_t)(head - hl);
			memcpy(z->out + z->off, hex + k, hl);
		}
		z->len = (uint32_t)(head + wrote);
		if (z->chunked) {
			z->out[z->len++] = '\r';
			z->out[z->len++] = '\n';
		}
	}
	if (rc == 1) {
		z->finished = 1;
		if (z->chunked) {
			memcpy(z->out + z->len, "0\r\n\r\n", 5);
			z->len += 5;
		}
	}
	return z->finished ? 1 : 0;
}

bool proxy_gzip_out(const struct proxy_gz *z, const uint8_t **p, size_t *n)
{
	if (z->off >= z->len)
		return false;
	*p = z->out + z->off;
	*n = z->len - z->off;
	return true;
}

void proxy_gzip_sent(struct proxy_gz *z, size_t n)
{
	z->off += (uint32_t)n;
	if (z->off >= z->len)
		z->off = z->len = 0;
}

bool proxy_gzip_done(const struct proxy_gz *z)
{
	return z->finished && z->off >= z->len;
}

uint64_t proxy_gzip_in_bytes(const struct proxy_gz *z)
{
	return z->in_total;
}

uint64_t proxy_gzip_out_bytes(const struct proxy_gz *z)
{
	return z->out_total;
}

/* ---- engine glue ----------------------------------------------------------------------------- */

void proxy_gzip_response(struct proxy_conn *c, const struct http_response *res)
{
	struct proxy_engine *e = c->eng;
	if (c->gz)
		proxy_gzip_end(c); /* cannot happen: every transaction end releases it */
	unsigned d = proxy_gzip_decide(&c->rq.slot->m.req, c->head_req, res);
	if (d & PROXY_GZ_COMPRESS) {
		void *obj = NULL;
		if (pool_get(&e->gzs, &obj) < 0) {
			/* The cap: this response goes out uncompressed, which is still correct. */
			d &= ~PROXY_GZ_COMPRESS;
			e->gz_full++;
			if (e->metrics) /* traefikee_compress_responses_total{result="pool_full"} */
				e->metrics->eng.gz_pool_full++;
			uint64_t now = loop_now_ms(e->loop);
			if (!e->gz_log_ms || now - e->gz_log_ms >= 1000) {
				log_warn("gzip streams full: response sent uncompressed",
					 "setting=max_gzip_streams limit=%u skipped=%llu",
					 e->lim.max_gzip_streams,
					 (unsigned long long)e->gz_log_skipped);
				e->gz_log_ms = now ? now : 1;
				e->gz_log_skipped = 0;
			} else {
				e->gz_log_skipped++;
			}
		} else if (proxy_gzip_start(obj, c->minor >= 1) < 0) {
			memset(obj, 0, sizeof(struct proxy_gz));
			pool_put(&e->gzs, obj);
			d &= ~PROXY_GZ_COMPRESS;
		} else {
			c->gz = obj;
			e->gz_responses++;
			if (e->metrics) /* traefikee_compress_responses_total{result="gzip"} */
				e->metrics->eng.gz_responses++;
		}
	}
	c->gzf = (uint8_t)d;
}

void proxy_gzip_end(struct proxy_conn *c)
{
	if (c->gz) {
		pool_put(&c->eng->gzs, c->gz);
		c->gz = NULL;
	}
	c->gzf = 0;
}

int proxy_gzip_head(struct proxy_conn *c, const struct http_response *res, struct buf *b,
		    uint8_t *mode, uint64_t *len, bool *close)
{
	int rc = http_write_header(b, SLICE_LIT("Content-Encoding"), SLICE_LIT("gzip"));
	*len = 0;
	switch (res->h.body) {
	case HTTP_BODY_LENGTH:
		*mode = PM_LENGTH;
		*len = res->h.content_length;
		break;
	case HTTP_BODY_CHUNKED: *mode = PM_DECHUNK; break; /* the compressor reads the data */
	default: *mode = PM_CLOSE; break;
	}
	/* The compressed length is not known in advance (RFC 9112 §6.3): chunked to HTTP/1.1,
	 * delimited by the close to HTTP/1.0. */
	if (c->minor >= 1)
		rc = rc ? rc
			: http_write_header(b, SLICE_LIT("Transfer-Encoding"),
					    SLICE_LIT("chunked"));
	else
		*close = true;
	if (!c->client_ka)
		*close = true;
	if (rc)
		return rc;
	if (*close)
		return http_write_header(b, SLICE_LIT("Connection"), SLICE_LIT("close"));
	if (c->minor == 0)
		return http_write_header(b, SLICE_LIT("Connection"), SLICE_LIT("keep-alive"));
	return 0;
}
