/* proxy_errpage.c — frontend error pages (proxy_errpage.h, docs/internals/proxy-errpage.md).
 *
 * The fetch is an ordinary upstream request of the transaction: proxy_conn.c calls
 * proxy_errpage_begin where a response is decided (response_head for an upstream's, conn_local
 * for the proxy's own), then its normal upstream_connect, which builds this file's head
 * (proxy_errpage_request_head) instead of the forwarded one. When the page's head arrives,
 * response_head gives it the original status. A fetch is marked by c->errpage_status, so its
 * answer is never replaced again and any failure of it (no server, refused, reset, timeout,
 * malformed) ends in conn_local with the original status: no loop, no new state, nothing
 * allocated.
 */
#include "proxy/proxy_errpage.h"

#include "base/base_err.h"
#include "base/base_log.h"
#include "http/http_write.h"
#include "proxy/proxy_engine_int.h"

#include <string.h>

/* ---- pure helpers ---------------------------------------------------------------------- */

bool proxy_errpage_covers(const struct proxy_error_page *p, int status)
{
	for (uint32_t i = 0; i < p->nstatus; i++)
		if (status >= p->status[i].lo && status <= p->status[i].hi)
			return true;
	return false;
}

int proxy_errpage_find(const struct proxy_frontend *fe, int status)
{
	if (status < 200)
		return -1;
	for (uint32_t i = 0; i < fe->nerrors; i++)
		if (proxy_errpage_covers(&fe->errors[i], status))
			return (int)i;
	return -1;
}

long proxy_errpage_path(struct slice query, int status, char *out, size_t cap)
{
	static const char tok[] = "{status}";
	const size_t tl = sizeof tok - 1;
	char code[4];
	code[0] = (char)('0' + status / 100 % 10);
	code[1] = (char)('0' + status / 10 % 10);
	code[2] = (char)('0' + status % 10);
	code[3] = 0;
	size_t n = 0;
	if (cap < 1)
		return -ERR_BUF_FULL;
	out[n++] = '/';
	size_t i = 0;
	if (query.len && query.p[0] == '/')
		i = 1; /* Traefik: "/" + strings.TrimPrefix(query, "/") */
	for (; i < query.len; i++) {
		unsigned char ch = (unsigned char)query.p[i];
		if (ch == '#')
			break; /* a fragment never goes in a request target (RFC 9112 §3.2) */
		if (ch <= 0x20 || ch == 0x7f)
			return -ERR_INVAL;
		if (ch == '{' && query.len - i >= tl && memcmp(query.p + i, tok, tl) == 0) {
			if (cap - n < 3)
				return -ERR_BUF_FULL;
			memcpy(out + n, code, 3);
			n += 3;
			i += tl - 1;
			continue;
		}
		if (cap - n < 1)
			return -ERR_BUF_FULL;
		out[n++] = (char)ch;
	}
	return (long)n;
}

/* Client fields that do not go to the error backend: framing and hop-by-hop (regenerated or
 * meaningless for a body-less GET), Expect (no body), conditionals and Range (the page must
 * come whole: a 304 or 206 would leave the client with an empty or partial page), and the
 * X-Forwarded-* family and X-Real-Ip (the proxy writes its own). */
static bool errpage_drops(const struct http_header *h)
{
	static const char *const drop[] = {
		"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
		"If-Range", "Range",         "X-Real-Ip"};
	if (h->hop || h->id == HTTP_H_HOST || h->id == HTTP_H_CONTENT_LENGTH ||
	    h->id == HTTP_H_TRANSFER_ENCODING || h->id == HTTP_H_EXPECT)
		return true;
	struct slice n = h->name;
	if (n.len > 12 && (n.p[0] == 'X' || n.p[0] == 'x') &&
	    slice_eq_cstr_ci((struct slice){n.p, 12}, "X-Forwarded-"))
		return true;
	if (n.len && n.p[0] != 'I' && n.p[0] != 'i' && n.p[0] != 'R' && n.p[0] != 'r' &&
	    n.p[0] != 'X' && n.p[0] != 'x')
		return false;
	for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
		if (slice_eq_cstr_ci(n, drop[i]))
			return true;
	return false;
}

static int put(struct buf *b, struct slice name, struct slice value)
{
	if (buf_avail(b) < name.len + value.len + 4)
		return -ERR_BUF_FULL;
	buf_append_slice(b, name);
	buf_append(b, ": ", 2);
	if (value.len)
		buf_append_slice(b, value);
	buf_append(b, "\r\n", 2);
	return 0;
}

int proxy_errpage_head(const struct proxy_errpage_req *r, struct buf *b)
{
	size_t saved = b->len;
	char path[PROXY_ERRPAGE_PATH_MAX];
	long pl = proxy_errpage_path(r->query, r->status, path, sizeof path);
	if (pl < 0)
		return (int)pl;
	int rc = http_write_request_line(b, r->head ? SLICE_LIT("HEAD") : SLICE_LIT("GET"),
					 (struct slice){path, (size_t)pl}, 1);
	rc = rc ? rc : put(b, SLICE_LIT("Host"), r->host);
	for (size_t i = 0; !rc && i < r->nhdr; i++)
		if (!errpage_drops(&r->hdr[i]))
			rc = put(b, r->hdr[i].name, r->hdr[i].value);
	if (!rc && r->peer.len)
		rc = put(b, SLICE_LIT("X-Forwarded-For"), r->peer);
	if (!rc)
		rc = put(b, SLICE_LIT("X-Forwarded-Proto"),
			 r->tls ? SLICE_LIT("https") : SLICE_LIT("http"));
	if (!rc && r->client_host.len)
		rc = put(b, SLICE_LIT("X-Forwarded-Host"), r->client_host);
	if (!rc && r->server.len)
		rc = put(b, SLICE_LIT("X-Forwarded-Server"), r->server);
	if (!rc && r->peer.len)
		rc = put(b, SLICE_LIT("X-Real-Ip"), r->peer);
	if (!rc)
		rc = http_write_head_end(b);
	if (rc)
		b->len = saved;
	return rc;
}

/* ---- engine glue ----------------------------------------------------------------------- */

bool proxy_errpage_local_ok(int status)
{
	switch (status) {
	case 400:
	case 408:
	case 413:
	case 414:
	case 417:
	case 431:
	case 501:
	case 505: return false;
	default: return status >= 400 && status < 600;
	}
}

bool proxy_errpage_begin(struct proxy_conn *c, int status)
{
	struct proxy_gen *g = c->gen;
	if (c->errpage_status || !g || c->fe < 0 || c->res_started || !c->rq.slot || !c->rs.slot)
		return false;
	const struct proxy_frontend *fe = &g->t->fe[c->fe];
	int i = proxy_errpage_find(fe, status);
	if (i < 0)
		return false;
	const struct proxy_error_page *p = &fe->errors[i];
	struct proxy_lb_pick pick;
	if (proxy_lb_pick(&g->lb, p->backend, (struct slice){NULL, 0}, &pick) < 0) {
		log_debug("error page backend has no server", "frontend=%.*s page=%.*s status=%d",
			  (int)fe->name.len, fe->name.p, (int)p->name.len, p->name.p, status);
		return false;
	}
	struct proxy_engine *e = c->eng;
	/* The original answer's body is not read: its connection cannot be reused. */
	if (c->up)
		proxy_up_release(e, c->up, false);
	if (c->srv >= 0) {
		uint64_t us = (loop_now_ms(e->loop) - c->t_start) * 1000;
		proxy_lb_done(&g->lb, (uint32_t)c->srv, us > UINT32_MAX ? UINT32_MAX : (uint32_t)us,
			      status < 500);
	}
	c->srv = (int)pick.srv;
	c->set_cookie = 0; /* the frontend backend's sticky cookie would name the error server */
	c->upgrade = 0;    /* the fetch asks for no upgrade: a 101 from it is malformed */
	c->errpage_status = (uint16_t)status;
	c->errpage_idx = (uint16_t)i;
	c->errpage_ok = 0;
	c->status = status;
	c->res_ka = 0;
	c->attempts = 0;
	c->out_head_len = c->out_head_off = 0;
	/* The client's request sends nothing more upstream. A body not read whole cannot be
	 * skipped to find the next request: close after the answer, lingering so the client
	 * reads it rather than a reset (RFC 9112 §9.6). conn_finish lingers when unframed bytes
	 * remain (rq.end > rq.parse), so the read position is put one byte behind the end of the
	 * head: nothing reads rq's data past the head for a closing connection. */
	struct proxy_stream *rq = &c->rq;
	if (!rq->done) {
		c->close_after = 1;
		rq->parse = rq->base - 1;
		if (rq->end < rq->base)
			rq->end = rq->base;
	}
	rq->done = 1;
	rq->mode = PM_NONE;
	rq->start = rq->ready = rq->parse;
	log_debug("error page", "frontend=%.*s page=%.*s status=%d", (int)fe->name.len, fe->name.p,
		  (int)p->name.len, p->name.p, status);
	return true;
}

int proxy_errpage_request_head(struct proxy_conn *c, struct buf *b)
{
	const struct proxy_table *t = c->gen->t;
	const struct proxy_error_page *p = &t->fe[c->fe].errors[c->errpage_idx];
	const struct http_request *req = &c->rq.slot->m.req;
	struct proxy_req_view v;
	proxy_fwd_view(c, &v);
	struct proxy_errpage_req r = {
		.head = c->head_req != 0,
		.query = p->query,
		.status = c->errpage_status,
		.host = t->srv[c->srv].authority,
		.hdr = req->h.hdr,
		.nhdr = req->h.nhdr,
		.client_host = v.host,
		.peer = proxy_conn_peer(c),
		.tls = c->tls != NULL,
		.server = slice_from_cstr(c->eng->server_name),
	};
	return proxy_errpage_head(&r, b);
}
