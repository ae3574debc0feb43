/* proxy_conn.c — the client side: one state machine per accepted connection.
 *
 * States (docs/internals/proxy-engine.md has the diagram):
 *
 *   IDLE ──bytes──> HEAD ──head──> (route) ──> CONNECT ──> FORWARD ──head──> RESPONSE ──┐
 *     ^               │                 └──> LOCAL (404, 503, redirect...) ───────────┤
 *     │               └─> WAIT_BUF (no buffers: queued, FIFO)                          │
 *     │                                        FORWARD ──101──> TUNNEL ──> close       │
 *     └──────────── keep-alive (pipelined bytes go straight to HEAD) <─────────────────┤
 *                                               CLOSING ──> LINGER ──> close <─────────┘
 *
 * A connection holds no buffer while idle. When bytes arrive it takes two streaming
 * buffers at once (rq for the client -> upstream direction, rs for upstream -> client), so a
 * request never waits for a second buffer while holding a first (no deadlock at the cap);
 * when none are free it queues (FIFO) without reading, and its header timeout still runs.
 *
 * Sockets are edge-triggered; can_read / can_write remember readiness (see proxy_upstream.c).
 * proxy_conn_run drives the machine until nothing moves; it is called from the fd callback,
 * from the upstream connection's callback, from the run queue (a buffer became free) and
 * from the timer. Timeouts: one loop timer per connection, re-armed lazily — the deadline of
 * the current phase is recomputed after every run, and the timer is moved only when the
 * deadline comes earlier than the armed one; when it fires late it re-arms itself.
 *
 * TLS (1.2, src/tls): ciphertext is pumped between the socket and the sans-I/O engine here
 * (tls_conn_recv_buf / send_buf), so this file knows when the socket said EAGAIN; plaintext
 * goes through tls_conn_read / tls_conn_write, which copy. Each write ends a record, so a
 * response head and its first body bytes are written together from the contiguous rs buffer.
 */
#include "proxy/proxy_engine_int.h"
#include "proxy/proxy_secure.h"

#include "base/base_err.h"
#include "base/base_log.h"
#include "http/http_write.h"
#include "proxy/proxy_breaker.h"
#include "proxy/proxy_errpage.h"
#include "proxy/proxy_pp.h"
#include "proxy/proxy_ptc.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define LINGER_MS 2000u      /* lingering close: how long input is drained */
#define RUN_GUARD 64         /* steps per run before yielding to other connections */
#define TLS_WRITE_MAX 16384u /* plaintext per TLS record */
#define TLS_TRIM_MS 250u     /* idle time before a TLS connection gives its buffer back */

size_t proxy_conn_size(void)
{
	return sizeof(struct proxy_conn);
}

static void conn_arm(struct proxy_conn *c);
static bool conn_local(struct proxy_conn *c, int status, struct slice detail, bool close);
static void conn_free(struct proxy_conn *c);

static uint64_t now_ms(const struct proxy_conn *c)
{
	return loop_now_ms(c->eng->loop);
}

/* ---- client I/O ------------------------------------------------------------------------------ */

/* Move ciphertext between the socket and the TLS engine until neither moves (proxy_tls_pump).
 * Returns true if anything moved. A socket error marks the connection dead for I/O (rdhup +
 * end of file for the engine). */
static bool tls_io(struct proxy_conn *c)
{
	return proxy_tls_pump(c->tls, c->fd, &c->can_read, &c->can_write, &c->rdhup);
}

/* Read plaintext: bytes (> 0), 0 at the peer's end, -ERR_AGAIN, or an error. */
static ssize_t cl_read(struct proxy_conn *c, void *p, size_t n)
{
	if (!c->tls) {
		if (!c->can_read)
			return -ERR_AGAIN;
		ssize_t r;
		/* recv, not read: no trip through the VFS layer */
		do
			r = recv(c->fd, p, n, 0);
		while (r < 0 && errno == EINTR);
		if (r > 0) {
			if ((size_t)r < n && c->can_read != 2)
				c->can_read = 0;
			return r;
		}
		if (r == 0) {
			c->can_read = 0;
			c->rdhup = 1;
			return 0;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->can_read = 0;
			return -ERR_AGAIN;
		}
		return err_from_errno(errno);
	}
	for (int i = 0; i < 4; i++) {
		ssize_t r = tls_conn_read(c->tls, p, n);
		if (r != -ERR_AGAIN)
			return r;
		if (!tls_io(c))
			return -ERR_AGAIN;
	}
	return -ERR_AGAIN;
}

/* Write plaintext: bytes taken (> 0), -ERR_AGAIN, or an error. */
static ssize_t cl_write(struct proxy_conn *c, const void *p, size_t n)
{
	if (!c->tls) {
		if (!c->can_write)
			return -ERR_AGAIN;
		ssize_t r;
		do
			r = send(c->fd, p, n, MSG_NOSIGNAL);
		while (r < 0 && errno == EINTR);
		if (r >= 0) {
			if ((size_t)r < n)
				c->can_write = 0;
			return r;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->can_write = 0;
			return -ERR_AGAIN;
		}
		return err_from_errno(errno);
	}
	size_t want = n < TLS_WRITE_MAX ? n : TLS_WRITE_MAX;
	ssize_t r = tls_conn_write(c->tls, p, want);
	if (r == -ERR_AGAIN && tls_io(c))
		r = tls_conn_write(c->tls, p, want);
	if (r > 0)
		tls_io(c);
	return r;
}

/* ---- buffers and streams ----------------------------------------------------------------------
 */

static void stream_reset(struct proxy_stream *s)
{
	s->base = s->start = s->ready = s->parse = s->end = 0;
	s->left = s->body = 0;
	s->mode = PM_NONE;
	s->done = s->eof = s->compacted = 0;
}

/* After everything ready was sent: move the unframed bytes down to base. */
static void stream_compact(struct proxy_stream *s)
{
	if (s->start < s->ready || s->parse == s->base)
		return;
	uint32_t n = s->end - s->parse;
	if (s->parse > s->base && s->body)
		s->compacted = 1;
	if (n)
		memmove(s->b + s->base, s->b + s->parse, n);
	s->start = s->ready = s->parse = s->base;
	s->end = s->base + n;
}

static void conn_bufs_put(struct proxy_conn *c)
{
	struct proxy_engine *e = c->eng;
	if (c->rq.slot)
		proxy_buf_put(e, &c->rq);
	if (c->rs.slot)
		proxy_buf_put(e, &c->rs);
}

/* Replace s's streaming slot with a large one, data and parse state included. The parser
 * rebases its slices on its next call (http_parse.h: the buffer may move). routed: the
 * slot's request view (route_frontend's) is valid and moves along. */
static int stream_grow(struct proxy_engine *e, struct proxy_stream *s, bool request, bool routed)
{
	if (s->large)
		return -ERR_PROXY_LARGE_BUFS_FULL;
	struct proxy_stream big;
	memset(&big, 0, sizeof big);
	if (!proxy_buf_get(e, &big, true))
		return -ERR_PROXY_LARGE_BUFS_FULL;
	memcpy(big.b, s->b, s->end);
	size_t nh = request ? s->slot->m.req.h.nhdr : s->slot->m.res.h.nhdr;
	big.slot->m = s->slot->m;
	big.slot->ck = s->slot->ck;
	big.slot->view = s->slot->view;
	memcpy(big.slot->hdr, s->slot->hdr, nh * sizeof(struct http_header));
	if (request)
		big.slot->m.req.h.hdr = big.slot->hdr;
	else
		big.slot->m.res.h.hdr = big.slot->hdr;
	if (request && s->base) {
		/* A complete head (base > 0): the parser will not run again to rebase its slices,
		 * so move them here. */
		struct http_request *r = &big.slot->m.req;
		const char *from = (const char *)s->b, *to = (const char *)big.b;
		struct slice *sl[] = {&r->method, &r->target, &r->h.host, &r->h.upgrade};
		for (size_t i = 0; i < sizeof sl / sizeof sl[0]; i++)
			if (sl[i]->p >= from && sl[i]->p <= from + s->end)
				sl[i]->p = to + (sl[i]->p - from);
		for (size_t i = 0; i < nh; i++) {
			struct http_header *h = &r->h.hdr[i];
			if (h->name.p >= from && h->name.p <= from + s->end)
				h->name.p = to + (h->name.p - from);
			if (h->value.p >= from && h->value.p <= from + s->end)
				h->value.p = to + (h->value.p - from);
		}
		struct proxy_req_view *view = &big.slot->view;
		if (routed) {
			struct slice *vs[] = {&view->method, &view->host, &view->path,
					      &view->query};
			for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++)
				if (vs[i]->p >= from && vs[i]->p <= from + s->end)
					vs[i]->p = to + (vs[i]->p - from);
			if (view->hdr == s->slot->hdr)
				view->hdr = big.slot->hdr;
		}
	}
	big.base = s->base;
	big.start = s->start;
	big.ready = s->ready;
	big.parse = s->parse;
	big.end = s->end;
	big.left = s->left;
	big.body = s->body;
	big.mode = s->mode;
	big.done = s->done;
	big.eof = s->eof;
	big.compacted = s->compacted;
	proxy_buf_put(e, s);
	*s = big;
	return 0;
}

/* ---- transaction end
 * ----------------------------------------------------------------------------- */

static int metric_ep(struct proxy_conn *c)
{
	struct proxy_gen *g = c->gen ? c->gen : c->eng->cur;
	if (!g)
		return -1;
	if (c->gen)
		return c->ep >= 0 ? g->m_ep[c->ep] : -1;
	return c->ls && c->ls->ep >= 0 ? g->m_ep[c->ls->ep] : -1;
}

/* Metrics and the access log line of the transaction that ends. */
static void conn_record(struct proxy_conn *c)
{
	struct proxy_engine *e = c->eng;
	if (!c->in_tx)
		return;
	c->in_tx = 0;
	struct slice user = c->auth_user; /* the transaction's authenticated user */
	c->auth_user = (struct slice){NULL, 0};
	c->auth_strip = 0;
	uint64_t now = now_ms(c);
	uint64_t dur = now - c->t_start;
	struct proxy_gen *g = c->gen;
	int ep = metric_ep(c);
	int fe = g && c->fe >= 0 ? g->m_fe[c->fe] : -1;
	int be = g && c->be >= 0 ? g->be[c->be].m_be : -1;
	proxy_metrics_request(e->metrics, ep, fe, be, c->status, (enum http_method)c->method,
			      (enum proxy_proto)c->proto, dur * 1000);
	if (c->counted_open) {
		proxy_metrics_open(e->metrics, ep, be, (enum http_method)c->method,
				   (enum proxy_proto)c->proto, -1);
		c->counted_open = 0;
	}
	e->st.responses++;
	if (e->al.fd < 0) {
		proxy_accesslog_count(
			&e->al); /* what proxy_accesslog_add counts; no line to build */
		return;
	}

	struct proxy_access_entry a;
	memset(&a, 0, sizeof a);
	a.client = proxy_conn_peer(c);
	a.minor = c->minor;
	a.status = c->status;
	a.size = c->res_body_sent;
	a.start_ms = c->wall_start;
	a.duration_ms = dur;
	if (c->req_head_len && c->rq.slot) {
		const struct http_request *req = &c->rq.slot->m.req;
		a.method = req->method;
		a.path = req->target;
		a.referer = proxy_hdr_find(req->h.hdr, req->h.nhdr, "Referer");
		a.agent = proxy_hdr_find(req->h.hdr, req->h.nhdr, "User-Agent");
	}
	if (g && c->fe >= 0)
		a.frontend = g->t->fe[c->fe].name;
	if (g && c->srv >= 0)
		a.backend_url = g->t->srv[c->srv].url;
	a.user = user;
	proxy_accesslog_add(&e->al, &a);
}

/* Drop what the transaction holds on the routing side. */
static void conn_untable(struct proxy_conn *c)
{
	if (c->fa)
		proxy_fwdauth_release(c); /* forward auth kept fields, sub-request */
	if (c->gzf)
		proxy_gzip_end(c); /* compression stream, Vary flag */
	if (!c->gen)
		return;
	if (c->cb_pass) { /* status, latency, network error for the backend's breaker */
		uint64_t now = now_ms(c);
		c->cb_pass = 0;
		proxy_breaker_record(c->gen->be[c->be].cb, c->status, now - c->t_start, now);
	}
	if (c->srv >= 0) {
		uint64_t us = (now_ms(c) - c->t_start) * 1000;
		bool ok = c->status > 0 && c->status < 500;
		if (c->errpage_status)
			ok = c->errpage_ok; /* c->srv served an error page: its own answer counts */
		proxy_lb_done(&c->gen->lb, (uint32_t)c->srv,
			      us > UINT32_MAX ? UINT32_MAX : (uint32_t)us, ok);
	}
	if (c->conn_ref)
		proxy_lb_conn_release(&c->gen->lb, c->conn_ref);
	c->conn_ref = 0;
	proxy_gen_unref(c->gen);
	c->gen = NULL;
	c->fe = c->be = c->srv = -1;
}

static bool request_sent(const struct proxy_conn *c)
{
	return c->out_head_len == 0 && c->rq.done && c->rq.start == c->rq.ready;
}

static void set_state(struct proxy_conn *c, uint8_t st)
{
	c->state = st;
	c->t_state = now_ms(c);
	c->tls_trim = 0; /* a new idle period may trim again */
}

static void conn_close_later(struct proxy_conn *c, bool linger)
{
	c->linger = linger;
	set_state(c, PC_CLOSING);
}

/* The response is out (or the transaction is abandoned): record, release, and either close
 * or get ready for the next request on this connection. */
static void conn_finish(struct proxy_conn *c)
{
	struct proxy_engine *e = c->eng;
	conn_record(c);
	if (c->up) {
		bool keep = c->res_ka && c->rs.done && !c->rs.eof && c->rs.parse == c->rs.end &&
			    request_sent(c) && c->rs.mode != PM_CLOSE && c->rs.mode != PM_TUNNEL;
		proxy_up_release(e, c->up, keep);
	}
	conn_untable(c);
	c->requests++;
	c->req_head_len = 0;
	if (c->close_after || e->draining) {
		/* Linger when the client may still be sending (unread body, pipelined bytes). */
		conn_close_later(c, !c->rq.done || c->rq.end > c->rq.parse);
		return;
	}
	/* Keep-alive (RFC 9112 §9.3). Bytes after the request are the next one (pipelining). */
	uint32_t left = c->rq.end - c->rq.parse;
	if (left) {
		memmove(c->rq.b, c->rq.b + c->rq.parse, left);
		if (c->rq.large) {
			/* back to a streaming buffer when the leftover fits one */
			struct proxy_stream small;
			memset(&small, 0, sizeof small);
			if (left <= e->bufs.data_cap && proxy_buf_get(e, &small, false)) {
				memcpy(small.b, c->rq.b, left);
				proxy_buf_put(e, &c->rq);
				c->rq = small;
			}
		}
		stream_reset(&c->rq);
		c->rq.end = left;
		stream_reset(&c->rs);
		http_request_init(&c->rq.slot->m.req, c->rq.slot->hdr, e->lim.max_headers);
		set_state(c, PC_HEAD);
		return;
	}
	conn_bufs_put(c);
	stream_reset(&c->rq);
	stream_reset(&c->rs);
	set_state(c, PC_IDLE);
}

/* Close now: everything goes back to its pool (deferred while inside proxy_conn_run). */
static void conn_kill(struct proxy_conn *c)
{
	if (c->in_run) {
		c->dead = 1;
		return;
	}
	conn_free(c);
}

/* ---- local responses ----------------------------------------------------------------------------
 */

static bool upstream_connect(struct proxy_conn *c, bool fresh);

/* Start sending a response the proxy makes (detail: see proxy_fwd_local_response). The
 * transaction's upstream side is dropped. */
static bool conn_local(struct proxy_conn *c, int status, struct slice detail, bool close)
{
	struct proxy_engine *e = c->eng;
	/* Error pages (proxy_errpage.h): a failed fetch answers the status it replaced; a
	 * response of the matched frontend may be replaced by a fetch. */
	if (c->errpage_status) {
		status = c->errpage_status;
		detail = (struct slice){NULL, 0};
	} else if (c->fe >= 0 && c->gen && c->gen->t->fe[c->fe].nerrors &&
		   proxy_errpage_local_ok(status) && proxy_errpage_begin(c, status))
		return upstream_connect(c, false);
	if (c->up)
		proxy_up_release(e, c->up, false);
	if (c->gzf)
		proxy_gzip_end(c); /* our own answer is never compressed */
	if (!c->rq.done || !c->req_head_len)
		close = true; /* unread request bytes: the next message cannot be found */
	if (c->close_after)
		close = true; /* closing anyway (1.0, Connection: close): say so, RFC 9112 §9.6 */
	c->status = status;
	if (status >= 100 && status < 600)
		e->st.status_local[status / 100]++;
	if (!c->rs.slot) {
		/* No buffer at all (pool empty): a canned answer, then close. */
		static const char canned[] = "HTTP/1.1 503 Service Unavailable\r\n"
					     "Content-Type: text/plain; charset=utf-8\r\n"
					     "Content-Length: 20\r\nConnection: close\r\n\r\n"
					     "Service Unavailable\n";
		c->status = 503;
		if (cl_write(c, canned, sizeof canned - 1) < 0)
			c->linger = 0;
		conn_close_later(c, true);
		return true;
	}
	stream_reset(&c->rs);
	struct buf b;
	buf_init(&b, c->rs.b, c->rs.cap);
	int body = proxy_fwd_local_response(c, &b, status, detail, close);
	if (body < 0) {
		buf_reset(&b);
		body = proxy_fwd_local_response(c, &b, status, (struct slice){NULL, 0}, true);
		if (body < 0) {
			conn_kill(c);
			return true;
		}
		close = true;
	}
	c->close_after = c->close_after || close;
	c->rs.ready = c->rs.parse = c->rs.end = (uint32_t)b.len;
	c->rs.body = (uint64_t)body;
	c->rs.done = 1;
	c->res_started = 1;
	c->res_ka = 0;
	c->t_write = now_ms(c);
	set_state(c, PC_LOCAL);
	return true;
}

/* An upstream failure before or after the response head. Retries once, on a fresh
 * connection, a safe method without body whose reused keep-alive connection failed before
 * any response byte (the server closed it as we wrote: RFC 9112 §9.3.1). */
static bool upstream_connect(struct proxy_conn *c, bool fresh);

static bool upstream_failed(struct proxy_conn *c, int err, bool nothing_received)
{
	struct proxy_engine *e = c->eng;
	bool reused = c->up && c->up->reused;
	if (c->up)
		proxy_up_release(e, c->up, false);
	bool safe = c->method == HTTP_M_GET || c->method == HTTP_M_HEAD ||
		    c->method == HTTP_M_OPTIONS || c->method == HTTP_M_TRACE ||
		    c->errpage_status; /* an error page request is a GET or HEAD */
	if (nothing_received && reused && !c->res_started && c->attempts == 0 && safe &&
	    c->rq.mode == PM_NONE && c->gen) {
		c->attempts++;
		e->st.upstream_retries++;
		proxy_metrics_retry(e->metrics, c->be >= 0 ? c->gen->be[c->be].m_be : -1);
		return upstream_connect(c, true);
	}
	if (!c->res_started)
		return conn_local(c, err == -ERR_PROXY_UPSTREAM_TIMEOUT ? 504 : 502,
				  (struct slice){NULL, 0}, false);
	/* The head is out: the client can only learn of the failure by the connection ending
	 * before the body does. */
	conn_kill(c);
	return true;
}

/* ---- starting a request -------------------------------------------------------------------------
 */

static bool whitelist_ok(const struct proxy_conn *c, const struct proxy_whitelist *wl)
{
	if (wl->n == 0)
		return true;
	if (proxy_cidr_list_match(wl->cidr, wl->n, &c->peer_ip))
		return true;
	if (wl->use_xff) {
		const struct http_request *req = &c->rq.slot->m.req;
		for (size_t i = 0; i < req->h.nhdr; i++)
			if (slice_eq_cstr_ci(req->h.hdr[i].name, "X-Forwarded-For") &&
			    proxy_cidr_xff_match(wl->cidr, wl->n, req->h.hdr[i].value))
				return true;
	}
	return false;
}

/* The Host a client that sent none addressed: the local address of its connection (see
 * proxy_local_host). The length, or < 0 (then the host stays empty). */
static int local_host(const struct proxy_conn *c, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	struct proxy_ip ip;
	uint16_t port;
	if (getsockname(c->fd, (struct sockaddr *)(void *)&ss, &sl) < 0)
		return err_from_errno(errno);
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)&ss;
		proxy_ip_from_bytes(&a->sin_addr, 4, &ip);
		port = ntohs(a->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)&ss;
		proxy_ip_from_bytes(&a->sin6_addr, 16, &ip);
		port = ntohs(a->sin6_port);
	} else {
		return -ERR_INVAL;
	}
	return proxy_local_host(&ip, port, c->tls != NULL, out, cap);
}

/* Redirect (entry point or frontend): true when a response was started. */
static bool try_redirect(struct proxy_conn *c, const struct proxy_redirect *r)
{
	if (r->entrypoint < 0 && !r->re)
		return false;
	struct proxy_engine *e = c->eng;
	const struct http_request *req = &c->rq.slot->m.req;
	struct proxy_req_view v;
	proxy_fwd_view(c, &v);
	/* No Host (HTTP/1.0) or an empty one: the address the client connected to stands in,
	 * for the entry point Location and for the URL a regex redirect sees. */
	char local[PROXY_LOCAL_HOST_MAX];
	if (v.host.len == 0) {
		int hl = local_host(c, local, sizeof local);
		if (hl > 0)
			v.host = (struct slice){local, (size_t)hl};
	}
	/* The URL as the client sent it: scheme://host/path?query. */
	struct buf u;
	buf_init(&u, e->scratch, e->scratch_cap / 2);
	struct slice pq = req->target;
	if (req->target_form == HTTP_T_ABSOLUTE) {
		const char *p = v.path.p ? v.path.p : req->target.p + req->target.len;
		pq = (struct slice){p, (size_t)(req->target.p + req->target.len - p)};
	}
	if (buf_printf(&u, "%s://", c->tls ? "https" : "http") < 0 ||
	    buf_append_slice(&u, v.host) < 0 || buf_append_slice(&u, pq) < 0)
		return conn_local(c, 414, (struct slice){NULL, 0}, true);
	int status = 302;
	char *out = (char *)e->scratch + e->scratch_cap / 2;
	long n = proxy_redirect_url(c->gen->t, r, req->method, buf_slice(&u), v.host, pq, e->rework,
				    out, e->scratch_cap / 2, &status);
	if (n == -ERR_NOTFOUND)
		return false;
	if (n < 0)
		return conn_local(c, 500, (struct slice){NULL, 0}, true);
	return conn_local(c, status, (struct slice){out, (size_t)n}, false);
}

static uint8_t request_proto(const struct http_request *req)
{
	if ((req->h.flags & HTTP_F_UPGRADE) && slice_eq_cstr_ci(req->h.upgrade, "websocket"))
		return PROXY_PROTO_WEBSOCKET;
	/* proxy_hdr_find(..., "Accept"), with the name's length known here (no strlen) */
	const struct slice name = SLICE_LIT("Accept");
	for (size_t i = 0; i < req->h.nhdr; i++) {
		const struct http_header *f = &req->h.hdr[i];
		if (f->name.len == name.len && slice_eq_ci(f->name, name)) {
			if (f->value.len >= 17 &&
			    memmem(f->value.p, f->value.len, "text/event-stream", 17))
				return PROXY_PROTO_SSE;
			break; /* the first Accept field, as proxy_hdr_find */
		}
	}
	return PROXY_PROTO_HTTP;
}

/* Build the upstream request head into rs (from 0). */
static int build_upstream_head(struct proxy_conn *c)
{
	struct proxy_engine *e = c->eng;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct buf b;
		buf_init(&b, c->rs.b, c->rs.cap);
		int rc = c->errpage_status ? proxy_errpage_request_head(c, &b)
					   : proxy_fwd_request_head(c, &b);
		if (rc == 0) {
			c->out_head_off = 0;
			c->out_head_len = (uint32_t)b.len;
			return 0;
		}
		if (rc != -ERR_BUF_FULL)
			return rc;
		if (c->rs.large)
			return -ERR_BUF_FULL; /* over even a large buffer: 431 */
		rc = stream_grow(e, &c->rs, false, false);
		if (rc < 0)
			return rc; /* no large buffer free: 503 */
	}
	return -ERR_BUF_FULL;
}

static bool upstream_connect(struct proxy_conn *c, bool fresh)
{
	struct proxy_engine *e = c->eng;
	struct proxy_gen_srv *gs = &c->gen->srv[c->srv];
	const struct proxy_server *sv = &c->gen->t->srv[c->srv];
	if (!gs->resolved || sv->scheme == PROXY_SCHEME_H2C) /* https: proxy_upstream.c */
		return conn_local(c, 502, (struct slice){NULL, 0}, false);
	int rc = proxy_up_get(e, c, &gs->addr, gs->alen, fresh, &gs->tg);
	if (rc == -ERR_PROXY_UPSTREAM_REFUSED)
		return conn_local(c, 502, (struct slice){NULL, 0}, false);
	if (rc < 0) {
		log_warn("upstream connection refused locally", "reason=\"%s\"", err_str(rc));
		return conn_local(c, 503, (struct slice){NULL, 0}, false);
	}
	/* A retry replays the request from the start of its body (an error page fetch has none). */
	c->rq.start = c->errpage_status ? c->rq.ready : c->rq.base;
	stream_reset(&c->rs);
	rc = build_upstream_head(c);
	if (rc < 0)
		return conn_local(c,
				  rc == -ERR_BUF_FULL                ? 431
				  : rc == -ERR_PROXY_LARGE_BUFS_FULL ? 503
								     : 500,
				  (struct slice){NULL, 0}, true);
	c->t_up = now_ms(c);
	set_state(c, c->up->state == PU_CONNECTING ? PC_CONNECT : PC_FORWARD);
	return true;
}

static bool auth_forward(struct proxy_conn *c, const struct proxy_auth *au);

/* Basic or digest auth of an entry point or frontend (docs/internals/proxy-auth.md): false
 * when the request may go on (the user is remembered for headerField and the access log),
 * true when a 401 with the challenge is on its way. A forward-only auth always returns true:
 * the request is parked on its sub-request (auth_forward) or answered. */
static bool auth_denied(struct proxy_conn *c, const struct proxy_auth *au)
{
	if (!au->nbasic && !au->ndigest)
		return auth_forward(c, au); /* only forward: always parks or answers */
	const struct http_request *req = &c->rq.slot->m.req;
	struct proxy_auth_req ar;
	ar.authz = c->auth_strip ? (struct slice){NULL, 0} /* an entry point removed it */
				 : proxy_hdr_find(req->h.hdr, req->h.nhdr, "Authorization");
	ar.method = req->method;
	ar.target = req->target;
	ar.now_ms = now_ms(c);
	struct slice user;
	enum proxy_auth_verdict v = proxy_auth_check(&c->eng->auth, au, &ar, &user);
	if (v == PROXY_AUTH_OK) {
		c->auth_user = user;
		if (au->nbasic ? au->basic_remove_header : au->digest_remove_header)
			c->auth_strip = 1;
		return false;
	}
	char ch[PROXY_AUTH_CHALLENGE_MAX];
	size_t n = proxy_auth_challenge(&c->eng->auth, au, ar.now_ms, v == PROXY_AUTH_STALE, ch,
					sizeof ch);
	return conn_local(c, 401, (struct slice){ch, n}, false);
}

/* Whether c's TLS configuration (NULL: plain) is no longer its entry point's in the current
 * table: certificates or options changed, or the entry point switched between plain and
 * TLS. Such a connection serves no request after the one it is reading or serving. */
static bool conn_stale(const struct proxy_conn *c)
{
	const struct proxy_engine *e = c->eng;
	if (!e->cur || !c->ls || c->ls->ep < 0)
		return true;
	return e->cur->tls[c->ls->ep] != c->tlscfg;
}

static bool route_frontend(struct proxy_conn *c);
static bool route_backend(struct proxy_conn *c);

/* Forward auth (proxy_fwdauth.h, proxy-auth.md): the request parks in PC_AUTH until the
 * auth server answers; step_auth resumes the route step or answers. */
static bool auth_forward(struct proxy_conn *c, const struct proxy_auth *au)
{
	bool frontend = c->fe >= 0;
	c->fa_stage = frontend ? 2 : 1;
	int r = proxy_fwdauth_start(c, au, frontend);
	if (r == PROXY_FWDAUTH_PENDING) {
		set_state(c, PC_AUTH);
		return true;
	}
	return conn_local(c, r == PROXY_FWDAUTH_FULL ? 503 : 500, (struct slice){NULL, 0}, false);
}

static bool step_auth(struct proxy_conn *c)
{
	bool close = false;
	switch (proxy_fwdauth_step(c, &close)) {
	case PROXY_FWDAUTH_PENDING: return false;
	case PROXY_FWDAUTH_ALLOW: return c->fa_stage == 1 ? route_frontend(c) : route_backend(c);
	case PROXY_FWDAUTH_DENY:
		/* The auth server's answer is in rs (status in c->status): send it as is. */
		c->close_after = c->close_after || close;
		c->res_started = 1;
		c->res_ka = 0;
		c->t_write = now_ms(c);
		set_state(c, PC_LOCAL);
		return true;
	default: return conn_local(c, 500, (struct slice){NULL, 0}, false);
	}
}

static bool start_request(struct proxy_conn *c)
{
	struct proxy_engine *e = c->eng;
	const struct http_request *req = &c->rq.slot->m.req;
	uint64_t now = now_ms(c);
	c->t_start = now;
	c->wall_start = e->al.fd >= 0 ? proxy_wall_ms(e) : 0; /* the access log's only */
	c->status = 0;
	c->res_body_sent = 0;
	c->res_started = 0;
	c->res_ka = 0;
	c->attempts = 0;
	c->out_head_len = c->out_head_off = 0;
	c->interim_len = c->interim_off = 0;
	c->fe = c->be = c->srv = c->ep = -1;
	c->in_tx = 1;
	c->set_cookie = 0;
	c->sec = 0;
	c->conn_ref = 0;
	c->buf_lim = 0; /* set by a buffering backend (proxy_ptc.h) */
	c->auth_user = (struct slice){NULL, 0};
	c->auth_strip = 0;
	c->errpage_status = 0;
	c->method = (uint8_t)req->method_id;
	c->minor = (uint8_t)req->h.minor;
	c->head_req = req->method_id == HTTP_M_HEAD;
	c->upgrade = (req->h.flags & HTTP_F_UPGRADE) != 0;
	c->expect = (req->h.flags & HTTP_F_EXPECT_CONTINUE) != 0;
	c->client_ka = (req->h.flags & HTTP_F_KEEP_ALIVE) != 0;
	c->proto = request_proto(req);
	c->close_after = !c->client_ka || e->draining || conn_stale(c);
	e->st.requests++;

	uint8_t mode = req->h.body == HTTP_BODY_LENGTH    ? PM_LENGTH
		       : req->h.body == HTTP_BODY_CHUNKED ? PM_CHUNKED
							  : PM_NONE;
	proxy_stream_body(&c->rq, mode, req->h.content_length);
	int rc = proxy_stream_frame(&c->rq, &e->hl_req);
	if (rc < 0)
		return conn_local(c, http_error_status(rc), (struct slice){NULL, 0}, true);
	if (req->h.flags & HTTP_F_EXPECT_OTHER)
		return conn_local(c, 417, (struct slice){NULL, 0}, true);
	if (req->method_id == HTTP_M_CONNECT)
		return conn_local(c, 405, (struct slice){NULL, 0}, true);

	/* Routing: pin the current table for the whole transaction. */
	struct proxy_gen *g = e->cur;
	if (!g || !c->ls || c->ls->ep < 0)
		return conn_local(c, 404, (struct slice){NULL, 0}, true);
	proxy_gen_ref(g);
	c->gen = g;
	c->ep = c->ls->ep;
	const struct proxy_table *t = g->t;
	const struct proxy_entrypoint *ep = &t->ep[c->ep];
	if (try_redirect(c, &ep->redirect))
		return true;
	if (!whitelist_ok(c, &ep->whitelist))
		return conn_local(c, 403, (struct slice){NULL, 0}, false);
	if (ep->auth.enabled && auth_denied(c, &ep->auth))
		return true;
	return route_frontend(c);
}

/* The route step after the entry point's checks (and its forward auth, when it resumes). */
static bool route_frontend(struct proxy_conn *c)
{
	struct proxy_gen *g = c->gen;
	const struct proxy_table *t = g->t;
	proxy_fwd_view(c, &c->rq.slot->view); /* kept for the later steps and the upstream head */
	struct proxy_match m;
	if (proxy_table_match(t, (uint32_t)c->ep, &c->rq.slot->view, &m) < 0)
		return conn_local(c, 404, (struct slice){NULL, 0}, false);
	c->fe = (int)m.fe;
	c->be = (int)m.be;
	c->hit = m.hit;
	const struct proxy_frontend *fe = &t->fe[m.fe];
	if (try_redirect(c, &fe->redirect))
		return true;
	if (!whitelist_ok(c, &fe->whitelist))
		return conn_local(c, 403, (struct slice){NULL, 0}, false);
	if (fe->headers.secure) { /* allowedHosts, SSL redirect (proxy-secure.md) */
		struct slice loc = {NULL, 0};
		int st = proxy_secure_request(c, &fe->headers, &loc);
		if (st)
			return conn_local(c, st, loc, st == 414);
	}
	if (fe->auth.enabled && auth_denied(c, &fe->auth))
		return true;
	return route_backend(c);
}

/* Frontend rateLimit (proxy-ratelimit.md): true when a 429 (or, for a rate set Traefik v1
 * would refuse, a 404) is on its way. The 429 carries the delay as decimal ns in `detail`
 * (proxy_fwd_local_response writes X-Retry-In, Retry-After and oxy's body from it). */
static bool rate_limited(struct proxy_conn *c, const struct proxy_frontend *fe,
			 const struct proxy_req_view *v)
{
	uint64_t wait;
	struct slice key = proxy_rl_key(fe, v, proxy_conn_peer(c));
	enum proxy_rl_verdict r = proxy_rl_take(&c->eng->rl, fe, key, now_ms(c), &wait);
	if (r == PROXY_RL_ALLOW)
		return false;
	if (r == PROXY_RL_INVALID)
		return conn_local(c, 404, (struct slice){NULL, 0}, false);
	char d[24];
	struct buf db;
	buf_init(&db, d, sizeof d);
	if (buf_printf(&db, "%llu", (unsigned long long)wait) < 0)
		buf_reset(&db); /* cannot happen: 20 digits at most; a plain 429 then */
	return conn_local(c, 429, buf_slice(&db), false);
}

/* The route step after the frontend's checks (every auth included, also when a forward auth
 * resumes here): rateLimit, maxConn, server pick, upstream. */
static bool route_backend(struct proxy_conn *c)
{
	struct proxy_engine *e = c->eng;
	struct proxy_gen *g = c->gen;
	const struct proxy_table *t = g->t;
	const struct http_request *req = &c->rq.slot->m.req;
	const struct proxy_req_view *v = &c->rq.slot->view; /* route_frontend's */
	const struct proxy_backend *be = &t->be[c->be];
	if (t->fe[c->fe].nratesets && rate_limited(c, &t->fe[c->fe], v))
		return true;
	struct proxy_match m = {.fe = (uint32_t)c->fe, .be = (uint32_t)c->be};
	proxy_metrics_open(e->metrics, g->m_ep[c->ep], g->be[c->be].m_be,
			   (enum http_method)c->method, (enum proxy_proto)c->proto, 1);
	c->counted_open = 1;
	/* Circuit breaker (proxy_breaker.h): Tripped, or Recovering over its share, is 503. */
	if (g->be[c->be].cb) {
		if (!proxy_breaker_allow(g->be[c->be].cb, now_ms(c)))
			return conn_local(c, 503, (struct slice){NULL, 0}, false);
		c->cb_pass = 1; /* conn_untable records the outcome */
	}
	/* Buffering (proxy_ptc.h): maxRequestBodyBytes already over: 413, nothing sent. */
	if (t->be[m.be].buffering && proxy_buffering_begin(c, &t->be[m.be]))
		return conn_local(c, 413, (struct slice){NULL, 0}, true);
	/* maxConn (Traefik: keyed by request.host, client.ip or a header): 429 over it. */
	if (be->maxconn) {
		struct slice key = proxy_lb_conn_key(be, v, proxy_conn_peer(c));
		int rc2 = proxy_lb_conn_acquire(&g->lb, m.be, key, &c->conn_ref);
		if (rc2 == -ERR_PROXY_CONN_KEYS_FULL)
			log_warn("maxConn key table full", "setting=max_conn_keys");
		if (rc2 < 0)
			return conn_local(c, 429, (struct slice){NULL, 0}, false);
	}
	struct slice cookie = {NULL, 0};
	if (be->sticky) {
		for (size_t i = 0; i < req->h.nhdr; i++)
			if (req->h.hdr[i].id == HTTP_H_OTHER &&
			    slice_eq_cstr_ci(req->h.hdr[i].name, "Cookie") &&
			    proxy_cookie_get(req->h.hdr[i].value, be->cookie_name, &cookie) == 0)
				break;
	}
	struct proxy_lb_pick pick;
	if (proxy_lb_pick(&g->lb, m.be, cookie, &pick) < 0)
		return conn_local(c, 503, (struct slice){NULL, 0}, false);
	c->srv = (int)pick.srv;
	c->set_cookie = pick.set_cookie;
	return upstream_connect(c, false);
}

/* ---- reading a request head ---------------------------------------------------------------------
 */

/* Whether the client may have bytes for us (so taking buffers is worth it). */
static bool client_has_input(struct proxy_conn *c)
{
	if (!c->tls)
		return c->can_read;
	if (tls_conn_error(c->tls) || tls_conn_done(c->tls))
		return true; /* let the read report it */
	if (!tls_conn_handshake_done(c->tls))
		return false;
	/* Plaintext waits in the engine when it wants nothing from the socket. */
	return c->can_read || !(tls_conn_want(c->tls) & TLS_WANT_READ);
}

static bool step_head(struct proxy_conn *c)
{
	struct proxy_engine *e = c->eng;
	if (!c->rq.slot) {
		/* clientCA optional is Traefik's VerifyClientCertIfGiven: a certificate that
		 * was given but did not verify ends the connection before any request. */
		if (c->tls && (tls_conn_error(c->tls) || tls_conn_done(c->tls) ||
			       tls_conn_peer_status(c->tls) == TLS_PEER_REJECTED)) {
			conn_kill(c);
			return true;
		}
		if (!client_has_input(c)) {
			if (c->rdhup) {
				conn_kill(
					c); /* the client half-closed and all it sent is answered */
				return true;
			}
			return false;
		}
		if (!proxy_bufs_take2(e, c)) {
			e->st.buf_waits++;
			proxy_waitq_add(e, c);
			set_state(c, PC_WAIT_BUF);
			return false;
		}
		stream_reset(&c->rq);
		stream_reset(&c->rs);
		http_request_init(&c->rq.slot->m.req, c->rq.slot->hdr, e->lim.max_headers);
	}
	struct http_request *req = &c->rq.slot->m.req;
	for (;;) {
		ssize_t n = -ERR_AGAIN;
		if (c->rq.end < c->rq.cap) {
			n = cl_read(c, c->rq.b + c->rq.end, c->rq.cap - c->rq.end);
			if (n > 0) {
				if (c->state == PC_IDLE)
					set_state(c, PC_HEAD);
				c->rq.end += (uint32_t)n;
				c->t_read = now_ms(c);
			} else if (n < 0 && n != -ERR_AGAIN) {
				conn_kill(c); /* the client went away */
				return true;
			} else if (n == 0 && c->rq.end == 0) {
				conn_kill(c); /* closed between requests */
				return true;
			}
			/* n == 0 with bytes buffered: the client half-closed after pipelining;
			 * what it sent whole is still answered (below), a partial head is not. */
		}
		bool eof = n == 0 || c->rdhup;
		if (c->rq.end == 0 && eof) {
			conn_kill(c);
			return true;
		}
		if (c->rq.end == 0) {
			/* Nothing arrived (a TLS record without data, a spurious wake-up): an
			 * idle connection holds no buffer. */
			conn_bufs_put(c);
			if (c->state != PC_IDLE)
				set_state(c, PC_IDLE);
			return false;
		}
		int rc = http_parse_request(req, (const char *)c->rq.b, c->rq.end, &e->hl_req);
		if (rc == -ERR_PARTIAL) {
			if (c->rq.end == c->rq.cap) {
				int g = stream_grow(e, &c->rq, true, false); /* not routed yet */
				if (g == -ERR_PROXY_LARGE_BUFS_FULL && c->rq.large)
					rc = -ERR_HTTP_HEADERS_TOO_LARGE; /* cannot happen at sane
									     limits */
				else if (g < 0)
					return conn_local(c, 503, (struct slice){NULL, 0}, true);
				else {
					req = &c->rq.slot->m.req;
					continue;
				}
			} else if (n > 0) {
				continue;
			} else if (eof) {
				conn_kill(c); /* a partial head, then the end: nobody to answer */
				return true;
			} else {
				if (c->state == PC_IDLE)
					set_state(c, PC_HEAD);
				return false;
			}
		}
		if (rc < 0) {
			if (c->state == PC_IDLE)
				set_state(c, PC_HEAD);
			c->minor = 1;
			c->method = HTTP_M_OTHER;
			c->head_req = 0;
			c->in_tx = 1;
			c->t_start = now_ms(c);
			c->wall_start = proxy_wall_ms(e);
			return conn_local(c, http_error_status(rc), (struct slice){NULL, 0}, true);
		}
		c->req_head_len = (uint32_t)rc;
		c->rq.base = c->rq.start = c->rq.ready = c->rq.parse = (uint32_t)rc;
		return start_request(c);
	}
}

/* ---- proxying
 * -------------------------------------------------------------------------------------- */

static bool step_connect(struct proxy_conn *c)
{
	int rc = proxy_up_connected(c->up);
	if (rc == -ERR_AGAIN)
		return false;
	if (rc < 0)
		return upstream_failed(c, rc, false);
	c->t_up = now_ms(c);
	set_state(c, PC_FORWARD);
	return true;
}

/* Client -> upstream: the rewritten head (in rs) and the body (in rq). */
static bool pump_request(struct proxy_conn *c)
{
	struct proxy_engine *e = c->eng;
	bool progress = false;
	for (int guard = 0; guard < 16; guard++) {
		bool moved = false;
		if (!c->rq.done && c->rq.end == c->rq.cap && c->rq.start == c->rq.ready &&
		    c->rq.parse == c->rq.end && stream_grow(e, &c->rq, true, true) < 0) {
			/* The head filled the whole buffer: no room left for its body. */
			return conn_local(c, 503, (struct slice){NULL, 0}, true);
		}
		if (!c->rq.done && c->rq.end < c->rq.cap) {
			ssize_t n = cl_read(c, c->rq.b + c->rq.end, c->rq.cap - c->rq.end);
			if (n > 0) {
				c->rq.end += (uint32_t)n;
				c->t_read = now_ms(c);
				moved = true;
				int rc = proxy_stream_frame(&c->rq, &e->hl_req);
				if (rc == 0 && (c->buf_lim & PROXY_BUFLIM_RQ) &&
				    proxy_buffering_rq_over(c))
					rc = -ERR_HTTP_BODY_TOO_LARGE; /* maxRequestBodyBytes: 413
									*/
				if (rc < 0) {
					if (c->res_started) {
						conn_kill(c);
						return true;
					}
					return conn_local(c, http_error_status(rc),
							  (struct slice){NULL, 0}, true);
				}
			} else if (n == 0 || (n < 0 && n != -ERR_AGAIN)) {
				conn_kill(c); /* the client left in the middle of its body */
				return true;
			}
		}
		struct iovec iov[2];
		int k = 0;
		if (c->out_head_len)
			iov[k++] = (struct iovec){c->rs.b + c->out_head_off, c->out_head_len};
		if (c->rq.ready > c->rq.start)
			iov[k++] = (struct iovec){c->rq.b + c->rq.start, c->rq.ready - c->rq.start};
		if (k && c->up->can_write) {
			ssize_t w = proxy_up_writev(c->up, iov, k);
			if (w > 0) {
				size_t left = (size_t)w;
				if (c->out_head_len) {
					size_t h = left < c->out_head_len ? left : c->out_head_len;
					c->out_head_off += (uint32_t)h;
					c->out_head_len -= (uint32_t)h;
					left -= h;
				}
				c->rq.start += (uint32_t)left;
				c->t_up = now_ms(c);
				moved = true;
			} else if (w != -ERR_AGAIN) {
				return upstream_failed(c, -ERR_PROXY_UPSTREAM_REFUSED, true);
			}
		}
		if (!c->rq.done && c->rq.start == c->rq.ready && c->out_head_len == 0)
			stream_compact(&c->rq);
		if (request_sent(c)) {
			c->t_state = now_ms(c); /* the response header timeout starts now */
			return true;
		}
		if (!moved)
			break;
		progress = true;
	}
	return progress;
}

/* Send [start, ready) of rs to the client. */
static bool flush_rs(struct proxy_conn *c, bool *failed)
{
	bool moved = false;
	*failed = false;
	while (c->rs.start < c->rs.ready) {
		ssize_t w = cl_write(c, c->rs.b + c->rs.start, c->rs.ready - c->rs.start);
		if (w > 0) {
			c->rs.start += (uint32_t)w;
			c->t_write = now_ms(c);
			moved = true;
			continue;
		}
		if (w != -ERR_AGAIN)
			*failed = true;
		break;
	}
	return moved;
}

/* Parse the response head in rs; place the rewritten head in front of the body. */
/* The status line (and empty line) relayed for an interim response: "HTTP/1.1 100
 * Continue\r\n\r\n". A function of the status alone, so the connection keeps the status and
 * rebuilds the bytes at each write instead of holding them. Returns the length; 0 if it does
 * not fit (nothing is relayed then). */
#define INTERIM_LINE_MAX 64
static size_t interim_line(uint16_t status, char out[INTERIM_LINE_MAX])
{
	struct buf ib;
	buf_init(&ib, out, INTERIM_LINE_MAX);
	if (http_write_status_line(&ib, 1, status, (struct slice){NULL, 0}) < 0 ||
	    http_write_head_end(&ib) < 0)
		return 0;
	return ib.len;
}

static bool response_head(struct proxy_conn *c, int rc)
{
	struct proxy_engine *e = c->eng;
	struct http_response *res = &c->rs.slot->m.res;
	const uint32_t H = PROXY_HEADROOM;
	if (res->status < 200 && res->status != 101) {
		/* Interim (RFC 9110 §15.2): relay the status line to HTTP/1.1 clients; drop its
		 * fields (103 links are a hint). Then parse the next head. */
		if (c->minor == 1 && !c->interim_len && !c->errpage_status) {
			char line[INTERIM_LINE_MAX];
			c->interim_status = (uint16_t)res->status;
			c->interim_len = (uint8_t)interim_line(c->interim_status, line);
			c->interim_off = 0;
		}
		uint32_t rest = c->rs.end - (H + (uint32_t)rc);
		memmove(c->rs.b + H, c->rs.b + H + rc, rest);
		c->rs.end = H + rest;
		http_response_init(res, c->rs.slot->hdr, e->lim.max_headers,
				   (enum http_method)c->method);
		return true;
	}
	if (res->status == 101 && !c->upgrade)
		return upstream_failed(c, -ERR_PROXY_UPSTREAM_MALFORMED, false);
	if (c->gen->t->fe[c->fe].nerrors) {
		/* Error pages (proxy_errpage.h): a fetched page takes the status it replaces; a
		 * covered status starts the fetch (the original answer is dropped unread). */
		if (c->errpage_status) {
			c->errpage_ok = res->status < 500;
			res->status = c->errpage_status;
			res->reason = (struct slice){NULL, 0};
		} else if (proxy_errpage_begin(c, res->status)) {
			return upstream_connect(c, false);
		}
	}
	c->status = res->status;
	c->res_ka = (res->h.flags & HTTP_F_KEEP_ALIVE) != 0;
	if (!request_sent(c)) {
		/* A final answer before the whole request went (RFC 9110 §15: e.g. 413): stop
		 * sending; neither connection can carry another message. */
		c->close_after = 1;
		c->res_ka = 0;
		c->out_head_len = 0;
	}
	if (c->gen->t->ep[c->ep].compress)
		proxy_gzip_response(c, res); /* entry point compress (proxy_gzip.h) */
	struct buf b;
	buf_init(&b, e->scratch, e->scratch_cap);
	if (proxy_fwd_response_head(c, res, &b) < 0)
		return upstream_failed(c, -ERR_PROXY_UPSTREAM_MALFORMED, false);
	uint32_t body = H + (uint32_t)rc;
	uint32_t hl = (uint32_t)b.len;
	uint32_t pos;
	if (hl <= body) {
		pos = body - hl;
	} else {
		uint32_t delta = hl - body;
		if (c->rs.end + delta > c->rs.cap)
			return upstream_failed(c, -ERR_PROXY_UPSTREAM_MALFORMED, false);
		memmove(c->rs.b + hl, c->rs.b + body, c->rs.end - body);
		c->rs.end += delta;
		body = hl;
		pos = 0;
	}
	memcpy(c->rs.b + pos, b.data, hl);
	uint8_t mode = c->rs.mode;
	uint64_t len = c->rs.left;
	c->rs.base = 0;
	c->rs.start = pos;
	c->rs.ready = c->rs.parse = body;
	if (c->gz)
		c->gz->head_end = body; /* pump_gz sends the head, then compressed bytes */
	proxy_stream_body(&c->rs, mode, len);
	c->res_started = 1;
	c->t_write = now_ms(c);
	if (mode == PM_TUNNEL) {
		c->rs.done = 0;
		c->rs.ready = c->rs.parse = c->rs.end; /* bytes after the 101 are tunnel data */
	} else if (proxy_stream_frame(&c->rs, &e->hl_res) < 0) {
		return upstream_failed(c, -ERR_PROXY_UPSTREAM_MALFORMED, false);
	}
	if ((c->buf_lim & PROXY_BUFLIM_RS) && proxy_buffering_rs_head_over(c, res))
		return conn_local(c, 500, (struct slice){NULL, 0}, false); /* nothing sent yet */
	if (mode != PM_TUNNEL)
		set_state(c, PC_RESPONSE);
	return true;
}

static void start_tunnel(struct proxy_conn *c)
{
	/* The 101 is out: for the routing side the transaction ends here. Its metrics and
	 * access log line are recorded (status 101), the open-connection gauges, the load
	 * balancer's in-flight count and the maxConn reference released, and the generation
	 * let go, so a tunnel never holds a table (reloads never wait for tunnels) and no
	 * longer counts towards maxConn. The raw head is still in rq for the log line. */
	conn_record(c);
	conn_untable(c);
	/* The client's bytes after its request head are the first tunnel bytes. */
	uint32_t left = c->rq.end - c->rq.parse;
	memmove(c->rq.b, c->rq.b + c->rq.parse, left);
	c->rq.base = c->rq.start = c->rq.ready = c->rq.parse = 0;
	c->rq.end = left;
	c->rq.ready = left;
	c->rq.mode = c->rs.mode = PM_TUNNEL;
	c->rq.done = c->rs.done = 0;
	c->rq.eof = c->rs.eof = 0;
	c->req_head_len = 0; /* the raw head is gone */
	c->close_after = 1;
	set_state(c, PC_TUNNEL);
	c->t_up = now_ms(c);
}

/* One upstream read into rs while a response body streams: frame what came (bad framing or
 * maxResponseBodyBytes cut the client off) and notice the end of a close-delimited body (or a
 * truncated one: cut). RS_DATA: bytes came, RS_END: the upstream closed, 0: nothing to read
 * now, -1: the client connection was killed. */
enum { RS_DATA = 1, RS_END = 2 };
static int rs_read_body(struct proxy_conn *c)
{
	ssize_t n = proxy_up_read(c->up, c->rs.b + c->rs.end, c->rs.cap - c->rs.end);
	if (n > 0) {
		c->rs.end += (uint32_t)n;
		c->t_up = now_ms(c);
		if (proxy_stream_frame(&c->rs, &c->eng->hl_res) < 0 ||
		    ((c->buf_lim & PROXY_BUFLIM_RS) && proxy_buffering_rs_over(c, true))) {
			conn_kill(c);
			return -1;
		}
		return RS_DATA;
	}
	if (n == -ERR_AGAIN)
		return 0;
	c->rs.eof = 1;
	if (c->rs.mode == PM_CLOSE && n == 0)
		c->rs.done = 1;
	else if (!c->rs.done) {
		conn_kill(c); /* truncated body */
		return -1;
	}
	return RS_END;
}

/* Upstream -> client through the compressor (entry point compress, proxy_gzip.h): the
 * rewritten head leaves from rs, then the compressed body from the stream's own buffer.
 * rs [start, ready) holds decoded body bytes waiting for the compressor, which is asked for
 * a SYNC flush whenever the upstream has nothing more for now (streamed responses are not
 * held back) and for FINISH when the body is complete. */
static bool pump_gz(struct proxy_conn *c, bool progress)
{
	struct proxy_gz *z = c->gz;
	for (int guard = 0; guard < 64; guard++) {
		bool moved = false;
		const uint8_t *p;
		size_t n;
		if (z->head_end) {
			ssize_t w = cl_write(c, c->rs.b + c->rs.start, z->head_end - c->rs.start);
			if (w > 0) {
				c->rs.start += (uint32_t)w;
				c->t_write = now_ms(c);
				moved = true;
				if (c->rs.start == z->head_end)
					z->head_end = 0;
			} else if (w != -ERR_AGAIN) {
				conn_kill(c);
				return true;
			}
		}
		while (!z->head_end && proxy_gzip_out(z, &p, &n)) {
			ssize_t w = cl_write(c, p, n);
			if (w > 0) {
				proxy_gzip_sent(z, (size_t)w);
				c->t_write = now_ms(c);
				moved = true;
				continue;
			}
			if (w != -ERR_AGAIN) {
				conn_kill(c);
				return true;
			}
			break;
		}
		if (!z->head_end && !proxy_gzip_out(z, &p, &n)) {
			if (proxy_gzip_done(z)) {
				c->res_body_sent = proxy_gzip_out_bytes(z);
				conn_finish(c);
				return true;
			}
			enum proxy_gz_flush f = PROXY_GZ_NONE;
			if (c->rs.done)
				f = PROXY_GZ_FINISH;
			else if (!c->up || !c->up->can_read)
				f = PROXY_GZ_SYNC; /* nothing more for now */
			size_t used = 0;
			int rc = proxy_gzip_feed(z, c->rs.b + c->rs.start,
						 c->rs.ready - c->rs.start, &used, f);
			if (rc < 0) {
				conn_kill(c); /* the compressor failed: cut the client off */
				return true;
			}
			c->rs.start += (uint32_t)used;
			if (proxy_gzip_out(z, &p, &n))
				c->t_write = now_ms(c); /* output pending from now (send_timeout) */
			if (used || proxy_gzip_out(z, &p, &n))
				moved = true;
		}
		if (!z->head_end && c->rs.start == c->rs.ready)
			stream_compact(&c->rs);
		if (c->up && !c->rs.eof && c->rs.end < c->rs.cap && c->up->can_read) {
			int r = rs_read_body(c);
			if (r < 0)
				return true;
			moved = moved || r > 0;
		}
		if (!moved)
			break;
		progress = true;
	}
	return progress;
}

/* Upstream -> client. */
static bool pump_response(struct proxy_conn *c)
{
	struct proxy_engine *e = c->eng;
	bool progress = false;
	const uint32_t H = PROXY_HEADROOM;
again:
	while (c->interim_len > c->interim_off) {
		char line[INTERIM_LINE_MAX];
		interim_line(c->interim_status, line); /* the same bytes as when it was counted */
		ssize_t w = cl_write(c, line + c->interim_off, c->interim_len - c->interim_off);
		if (w > 0) {
			c->interim_off += (uint8_t)w;
			progress = true;
			continue;
		}
		if (w != -ERR_AGAIN) {
			conn_kill(c);
			return true;
		}
		return progress;
	}
	c->interim_len = c->interim_off = 0;
	if (!c->res_started) {
		if (c->out_head_len)
			return progress; /* rs still holds the request head */
		if (c->rs.end < H) {
			c->rs.base = c->rs.start = c->rs.ready = c->rs.parse = c->rs.end = H;
			http_response_init(&c->rs.slot->m.res, c->rs.slot->hdr, e->lim.max_headers,
					   (enum http_method)c->method);
		}
		for (int guard = 0; guard < 16 && !c->res_started; guard++) {
			ssize_t n = -ERR_AGAIN;
			if (c->rs.end < c->rs.cap && c->up->can_read) {
				n = proxy_up_read(c->up, c->rs.b + c->rs.end,
						  c->rs.cap - c->rs.end);
				if (n > 0) {
					c->rs.end += (uint32_t)n;
					c->t_up = now_ms(c);
					progress = true;
				} else if (n != -ERR_AGAIN) {
					return upstream_failed(c, -ERR_PROXY_UPSTREAM_REFUSED,
							       c->rs.end == H);
				}
			}
			if (c->rs.end == H)
				return progress;
			struct http_response *res = &c->rs.slot->m.res;
			int rc = http_parse_response(res, (const char *)c->rs.b + H, c->rs.end - H,
						     &e->hl_res);
			if (rc == -ERR_PARTIAL) {
				if (c->rs.end == c->rs.cap) {
					if (stream_grow(e, &c->rs, false, false) < 0)
						return upstream_failed(
							c, -ERR_PROXY_UPSTREAM_MALFORMED, false);
					continue;
				}
				if (n > 0)
					continue;
				return progress;
			}
			if (rc < 0)
				return upstream_failed(c, -ERR_PROXY_UPSTREAM_MALFORMED, false);
			if (!response_head(c, rc) || c->dead || c->state == PC_LOCAL ||
			    c->state == PC_CLOSING || c->out_head_len /* an error page fetch */)
				return true;
			progress = true;
			if (c->interim_len)
				goto again;
		}
		if (!c->res_started)
			return progress;
	}
	if (c->gz)
		return pump_gz(c, progress); /* the body goes through the compressor */
	for (int guard = 0; guard < 64; guard++) {
		bool failed;
		bool moved = flush_rs(c, &failed);
		if (failed) {
			conn_kill(c);
			return true;
		}
		if (c->rs.start == c->rs.ready) {
			if (c->rs.mode == PM_TUNNEL) {
				start_tunnel(c);
				return true;
			}
			if (c->rs.done) {
				c->res_body_sent = c->rs.body;
				conn_finish(c);
				return true;
			}
			stream_compact(&c->rs);
		}
		if (c->up && !c->rs.eof && c->rs.end < c->rs.cap && c->up->can_read) {
			bool was_empty = c->rs.start == c->rs.ready;
			int r = rs_read_body(c);
			if (r < 0)
				return true;
			if (r == RS_DATA && was_empty)
				c->t_write = c->t_up; /* output pending from now (send_timeout) */
			moved = moved || r > 0;
		}
		if (!moved)
			break;
		progress = true;
	}
	return progress;
}

static bool step_proxy(struct proxy_conn *c)
{
	bool progress = false;
	if (c->state == PC_FORWARD && !request_sent(c) && c->up) {
		progress = pump_request(c);
		if (c->dead || c->state != PC_FORWARD)
			return true;
	}
	if (c->state == PC_FORWARD || c->state == PC_RESPONSE || c->state == PC_LOCAL)
		progress = pump_response(c) || progress;
	return progress;
}

/* ---- tunnel
 * -------------------------------------------------------------------------------------- */

static bool step_tunnel(struct proxy_conn *c)
{
	bool progress = false;
	struct proxy_up *u = c->up;
	if (!u) {
		conn_kill(c);
		return true;
	}
	for (int guard = 0; guard < 32; guard++) {
		bool moved = false;
		/* client -> upstream */
		if (!c->rq.eof && c->rq.end < c->rq.cap) {
			ssize_t n = cl_read(c, c->rq.b + c->rq.end, c->rq.cap - c->rq.end);
			if (n > 0) {
				c->rq.end += (uint32_t)n;
				c->rq.ready = c->rq.end;
				moved = true;
			} else if (n == 0 || (n < 0 && n != -ERR_AGAIN)) {
				c->rq.eof = 1;
				moved = true;
			}
		}
		if (c->rq.ready > c->rq.start && u->can_write) {
			struct iovec iov = {c->rq.b + c->rq.start, c->rq.ready - c->rq.start};
			ssize_t w = proxy_up_writev(u, &iov, 1);
			if (w > 0) {
				c->rq.start += (uint32_t)w;
				moved = true;
			} else if (w != -ERR_AGAIN) {
				conn_kill(c);
				return true;
			}
		}
		if (c->rq.start == c->rq.ready) {
			c->rq.start = c->rq.ready = c->rq.parse = c->rq.end = 0;
			if (c->rq.eof && !c->rq.done) {
				proxy_up_shutdown_write(u);
				c->rq.done = 1;
			}
		}
		/* upstream -> client */
		if (!c->rs.eof && c->rs.end < c->rs.cap && u->can_read) {
			ssize_t n = proxy_up_read(u, c->rs.b + c->rs.end, c->rs.cap - c->rs.end);
			if (n > 0) {
				c->rs.end += (uint32_t)n;
				c->rs.ready = c->rs.end;
				moved = true;
			} else if (n == 0 || (n < 0 && n != -ERR_AGAIN)) {
				c->rs.eof = 1;
				moved = true;
			}
		}
		bool failed;
		if (flush_rs(c, &failed))
			moved = true;
		if (failed) {
			conn_kill(c);
			return true;
		}
		if (c->rs.start == c->rs.ready) {
			c->rs.start = c->rs.ready = c->rs.parse = c->rs.end = 0;
			if (c->rs.eof && !c->rs.done) {
				c->rs.done = 1;
				if (c->tls) {
					tls_conn_close(c->tls);
					c->tls_closed = 1;
				} else
					shutdown(c->fd, SHUT_WR);
			}
		}
		if (c->rq.done && c->rs.done) {
			conn_finish(c); /* close_after is set for tunnels */
			return true;
		}
		if (moved) {
			c->t_up = now_ms(c);
			progress = true;
		} else {
			break;
		}
	}
	return progress;
}

/* ---- closing
 * --------------------------------------------------------------------------------------- */

static bool step_closing(struct proxy_conn *c)
{
	bool failed = false;
	bool moved = false;
	if (c->rs.slot && c->rs.start < c->rs.ready) {
		moved = flush_rs(c, &failed);
		if (!failed && c->rs.start < c->rs.ready)
			return moved;
	}
	if (c->tls && !failed) {
		if (!c->tls_closed) {
			tls_conn_close(c->tls);
			c->tls_closed = 1;
		}
		tls_io(c);
		size_t len = 0;
		if (tls_conn_send_buf(c->tls, &len) && len && !tls_conn_error(c->tls) && !c->rdhup)
			return moved; /* close_notify still on its way */
	}
	conn_bufs_put(c);
	if (!c->linger || failed || c->rdhup) {
		conn_kill(c);
		return true;
	}
	/* Lingering close: half-close and drain, so the client reads our response before a
	 * reset (RFC 9112 §9.6). */
	shutdown(c->fd, SHUT_WR);
	set_state(c, PC_LINGER);
	c->can_read = 1;
	return true;
}

static bool step_linger(struct proxy_conn *c)
{
	char sink[4096];
	for (int i = 0; i < 16; i++) {
		ssize_t n = read(c->fd, sink, sizeof sink);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->can_read = 0;
			return false;
		}
		conn_kill(c);
		return true;
	}
	return false;
}

/* ---- PROXY protocol header (proxy_pp.h, docs/internals/proxy-pp.md) ------------------------ */

/* PC_PROXYHDR: a connection from a peer its entry point trusts may start with a PROXY
 * header. It is peeked at and consumed before TLS or the HTTP parser see any byte (a TLS
 * connection's engine exists but is not pumped in this state: conn_cb, proxy_conn_run). A
 * header's source address becomes the client address for everything after it (whitelists,
 * X-Forwarded-For / X-Real-Ip, the access log, maxConn keys); UNKNOWN / LOCAL keep the real
 * peer, no header at all is served as is, a malformed one closes the connection. The state
 * keeps t_state: client_header_timeout runs from the accept, header and request together. */
static bool step_proxyhdr(struct proxy_conn *c)
{
	if (!c->can_read)
		return false;
	struct proxy_pp_result r;
	size_t avail = 0;
	int rc = proxy_pp_recv(c->fd, &r, &avail);
	if (rc > 0) /* traefikee_proxyprotocol_headers_total */
		c->eng->metrics->eng.pp_ok++;
	else if (rc == -ERR_PARSE)
		c->eng->metrics->eng.pp_malformed++;
	if (rc == -ERR_AGAIN || (rc == -ERR_PARTIAL && c->can_read == 1 && !c->rdhup)) {
		c->can_read = 0; /* all that arrived was seen: wait for the next edge */
		return false;
	}
	if (rc == -ERR_PARSE)
		log_debug("PROXY protocol header malformed: connection closed",
			  "client=%s entrypoint=%s", c->peer_text, c->ls ? c->ls->name : "-");
	if (rc < 0 && rc != -ERR_NOTFOUND) {
		conn_kill(c); /* malformed, or the peer left before the header ended */
		return true;
	}
	if (rc > 0) {
		if (!r.local) {
			c->peer_ip = r.src;
			c->peer_port = r.src_port;
			if (proxy_ip_format(&c->peer_ip, c->peer_text, sizeof c->peer_text) < 0)
				strcpy(c->peer_text, "-");
			c->peer_len = (uint8_t)strlen(c->peer_text);
		}
		if (avail == (size_t)rc && c->can_read == 1)
			c->can_read = 0; /* the header was all there was: no read to EAGAIN */
	}
	c->state = PC_IDLE; /* t_state kept (see above) */
	return true;
}

/* ---- driver
 * -------------------------------------------------------------------------------------- */

void proxy_conn_run(struct proxy_conn *c)
{
	if (c->in_run || c->state == PC_FREE)
		return;
	c->in_run = 1;
	int guard;
	for (guard = 0; guard < RUN_GUARD; guard++) {
		uint8_t before = c->state;
		bool progress = false;
		switch (c->state) {
		case PC_IDLE:
		case PC_HEAD: progress = step_head(c); break;
		case PC_CONNECT: progress = step_connect(c); break;
		case PC_FORWARD:
		case PC_RESPONSE:
		case PC_LOCAL: progress = step_proxy(c); break;
		case PC_TUNNEL: progress = step_tunnel(c); break;
		case PC_CLOSING: progress = step_closing(c); break;
		case PC_LINGER: progress = step_linger(c); break;
		case PC_AUTH: progress = step_auth(c); break;
		case PC_PROXYHDR: progress = step_proxyhdr(c); break;
		default: break;
		}
		if (c->dead)
			break;
		if (!progress && c->state == before)
			break;
	}
	c->in_run = 0;
	if (c->dead) {
		conn_free(c);
		return;
	}
	if (c->tls && c->state != PC_PROXYHDR)
		tls_io(c);
	if (guard == RUN_GUARD)
		proxy_runq_add(c->eng, c); /* more to do: yield, come back before sleeping */
	conn_arm(c);
}

void proxy_conn_upstream_event(struct proxy_conn *c)
{
	proxy_conn_run(c);
}

static void conn_cb(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct proxy_conn *c = arg;
	/* can_read 2: the peer's end (FIN) came in the same edge as data, so a short read does
	 * not mean drained: the next read sees the end (no further edge would report it). */
	if (ev & (LOOP_READ | LOOP_RDHUP | LOOP_HUP | LOOP_ERR))
		c->can_read = (ev & (LOOP_RDHUP | LOOP_HUP | LOOP_ERR)) ? 2 : 1;
	if (ev & (LOOP_HUP | LOOP_ERR))
		c->rdhup = 1;
	if (ev & (LOOP_WRITE | LOOP_HUP | LOOP_ERR))
		c->can_write = 1;
	if (c->tls && c->state != PC_PROXYHDR) /* no TLS byte before the PROXY header */
		tls_io(c);
	proxy_conn_run(c);
}

/* ---- timeouts
 * ------------------------------------------------------------------------------------- */

static uint64_t conn_deadline(const struct proxy_conn *c)
{
	const struct proxy_dp_limits *L = &c->eng->lim;
	switch (c->state) {
	case PC_IDLE:
		return c->t_state +
		       (c->requests ? L->idle_timeout_ms : L->client_header_timeout_ms);
	case PC_WAIT_BUF:
	case PC_PROXYHDR:
	case PC_HEAD: return c->t_state + L->client_header_timeout_ms;
	case PC_CONNECT: return c->t_state + L->connect_timeout_ms;
	case PC_FORWARD:
		if (!request_sent(c)) {
			if (c->out_head_len || c->rq.ready > c->rq.start)
				return c->t_up +
				       L->response_header_timeout_ms; /* upstream stalls */
			uint64_t d = c->t_read + L->client_body_timeout_ms;
			if (c->expect) /* the client waits for our 100 Continue */
				d = c->t_state + L->response_header_timeout_ms;
			return d;
		}
		return c->t_state + L->response_header_timeout_ms;
	case PC_RESPONSE:
	case PC_LOCAL:
		if (c->rs.start < c->rs.ready || c->interim_len ||
		    (c->gz && c->gz->off < c->gz->len)) /* compressed bytes waiting */
			return c->t_write + L->send_timeout_ms;
		return c->t_up + L->upstream_read_timeout_ms;
	case PC_TUNNEL: return c->t_up + L->tunnel_timeout_ms;
	case PC_CLOSING: return c->t_state + L->send_timeout_ms;
	case PC_LINGER: return c->t_state + LINGER_MS;
	case PC_AUTH: return proxy_fwdauth_deadline(c);
	default: return UINT64_MAX;
	}
}

/* An idle TLS connection gives its engine's I/O buffer back (tls_conn_trim: 44 of its 48 KiB)
 * once it has been idle TLS_TRIM_MS: at most one madvise per idle period, none on a busy
 * connection (only the timer, there anyway for the idle timeout, comes sooner). A try that
 * finds the engine busy (handshake still running, part of a record in) makes no syscall and
 * is retried at 2, 4, 8 and 16 x TLS_TRIM_MS: a browser's pre-connected TLS connection sits
 * idle right after its handshake. */
#define TLS_TRIM_TRIES 5u
#define TLS_TRIM_DONE 0xffu
static uint64_t conn_trim_at(const struct proxy_conn *c)
{
	if (!c->tls || c->state != PC_IDLE || c->tls_trim >= TLS_TRIM_TRIES || c->rq.slot)
		return UINT64_MAX;
	return c->t_state + ((uint64_t)TLS_TRIM_MS << c->tls_trim);
}

static void conn_timeout(struct proxy_conn *c)
{
	switch (c->state) {
	case PC_HEAD: conn_local(c, 408, (struct slice){NULL, 0}, true); break;
	case PC_WAIT_BUF:
		proxy_waitq_del(c->eng, c);
		set_state(c, PC_IDLE);
		conn_local(c, 503, (struct slice){NULL, 0}, true);
		break;
	case PC_CONNECT: upstream_failed(c, -ERR_PROXY_UPSTREAM_TIMEOUT, false); break;
	case PC_FORWARD:
		if (!request_sent(c) && !c->out_head_len && c->rq.ready == c->rq.start &&
		    !c->expect)
			conn_local(c, 408, (struct slice){NULL, 0}, true);
		else
			upstream_failed(c, -ERR_PROXY_UPSTREAM_TIMEOUT, false);
		break;
	case PC_AUTH:
		proxy_fwdauth_expired(c);
		conn_local(c, 500, (struct slice){NULL, 0}, false);
		break;
	default: conn_kill(c); break;
	}
}

static void conn_timer_cb(struct loop *l, void *arg)
{
	struct proxy_conn *c = arg;
	c->timer_at = 0;
	c->timer = (struct loop_timer_id){0, 0};
	uint64_t now = loop_now_ms(l);
	if (now >= conn_trim_at(c)) {
		if (tls_conn_trim(c->tls)) {
			c->tls_trim = TLS_TRIM_DONE;
			c->eng->st.tls_trims++;
		} else {
			c->tls_trim++;
		}
	}
	if (now < conn_deadline(c)) {
		conn_arm(c);
		return;
	}
	c->in_run = 1;
	conn_timeout(c);
	c->in_run = 0;
	if (c->dead) {
		conn_free(c);
		return;
	}
	proxy_conn_run(c);
}

static void conn_arm(struct proxy_conn *c)
{
	uint64_t d = conn_deadline(c);
	uint64_t trim = conn_trim_at(c);
	if (trim < d)
		d = trim;
	if (c->timer_at && c->timer_at <= d)
		return; /* fires earlier; it re-arms itself for the real deadline */
	if (c->timer_at)
		loop_timer_cancel(c->eng->loop, c->timer);
	uint64_t now = now_ms(c);
	uint64_t delay = d > now ? d - now : 0;
	if (loop_timer_add(c->eng->loop, delay, conn_timer_cb, c, &c->timer) == 0)
		c->timer_at = d;
	else
		c->timer_at = 0; /* timer table full: sized not to happen (see limits) */
}

/* ---- life cycle
 * ---------------------------------------------------------------------------------- */

static void conn_free(struct proxy_conn *c)
{
	struct proxy_engine *e = c->eng;
	conn_record(c); /* a transaction cut short is logged too (status as far as known) */
	if (c->up)
		proxy_up_release(e, c->up, false);
	conn_untable(c);
	if (c->waitq || c->runq)
		proxy_waitq_del(e, c);
	if (c->timer_at)
		loop_timer_cancel(e->loop, c->timer);
	if (c->fd >= 0) {
		loop_forget_fd(e->loop, c->fd); /* ours alone: close removes it from epoll */
		close(c->fd);
	}
	if (c->tls) {
		/* A trimmed slot is wiped without faulting its buffer back in: after a burst of
		 * idle TLS connections the free slots hold no memory. */
		if (c->tls_trim == TLS_TRIM_DONE)
			tls_conn_wipe_release(c->tls);
		else
			tls_conn_wipe(c->tls);
		pool_put(&e->tlss, c->tls);
		e->st.tls_conns--;
	}
	if (c->tlscfg)
		proxy_tlscfg_unref(c->tlscfg);
	c->tlscfg = NULL;
	conn_bufs_put(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		e->all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->state = PC_FREE;
	e->st.conns--;
	pool_put(&e->conns, c);
	proxy_accept_resume(e);
}

void proxy_conn_abort(struct proxy_conn *c)
{
	conn_kill(c);
}

void proxy_conn_accept(struct proxy_listener *ls, int fd, const struct sockaddr_storage *ss,
		       socklen_t slen)
{
	struct proxy_engine *e = ls->eng;
	void *obj;
	if (pool_get(&e->conns, &obj) < 0) {
		close(fd); /* the caller checked; only fault injection gets here */
		return;
	}
	struct proxy_conn *c = obj;
	c->eng = e;
	c->fd = fd;
	c->ls = ls;
	c->fe = c->be = c->srv = c->ep = -1;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ss;
		proxy_ip_from_bytes(&a->sin_addr, 4, &c->peer_ip);
		c->peer_port = ntohs(a->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)ss;
		proxy_ip_from_bytes(&a->sin6_addr, 16, &c->peer_ip);
		c->peer_port = ntohs(a->sin6_port);
	}
	(void)slen;
	if (proxy_ip_format(&c->peer_ip, c->peer_text, sizeof c->peer_text) < 0)
		strcpy(c->peer_text, "-");
	c->peer_len = (uint8_t)strlen(c->peer_text);
	c->next = e->all;
	if (e->all)
		e->all->prev = c;
	e->all = c;
	e->st.conns++;
	e->st.accepted++;
	set_state(c, PC_IDLE);
	if (e->cur && ls->ep >= 0 && e->cur->t->ep[ls->ep].proxy_protocol_enabled &&
	    proxy_pp_trusted(&e->cur->t->ep[ls->ep], &c->peer_ip))
		c->state = PC_PROXYHDR; /* step_proxyhdr; a TLS engine below waits for it */
	if (ls->tls && e->cur && ls->ep >= 0 && e->cur->tls[ls->ep]) {
		struct proxy_tlscfg *x = e->cur->tls[ls->ep];
		void *t = NULL;
		if (pool_get(&e->tlss, &t) < 0 || tls_conn_init_server(t, x->cfg, &e->rng) < 0) {
			if (t) {
				tls_conn_wipe(t); /* the pool is put_zeroed */
				pool_put(&e->tlss, t);
			}
			c->fd = -1;
			close(fd);
			conn_free(c);
			return;
		}
		c->tls = t;
		e->st.tls_conns++;
		c->tlscfg = x; /* the configuration only: no routing generation */
		proxy_tlscfg_ref(x);
	}
	if (loop_add_fd(e->loop, fd, LOOP_READ | LOOP_WRITE | LOOP_EDGE, conn_cb, c) < 0) {
		c->fd = -1;
		close(fd);
		conn_free(c);
		return;
	}
	conn_arm(c);
}

void proxy_conn_swap_notice(struct proxy_engine *e)
{
	struct proxy_conn *c = e->all;
	while (c) {
		struct proxy_conn *next = c->next;
		bool gone = !c->ls || c->ls->ep < 0;
		if (gone || conn_stale(c)) {
			/* A TLS connection before its first request (handshake in progress, or
			 * the request not read yet) is not idle for its client: it finishes that
			 * request on the old configuration, then closes. */
			if (c->state == PC_IDLE && (gone || c->requests > 0))
				conn_kill(c);
			else
				c->close_after = 1;
		}
		c = next;
	}
}
