/* api_server.c — the control API server: listeners, clients, routing, responses.
 *
 * One client is a struct api_conn from a pool (max_clients) plus a fixed slice of one big
 * buffer block (header array, input, output) found by its pool index, and for TLS clients a
 * struct tls_conn from a second pool (max_tls_clients). Everything is sized in api_server_init.
 *
 * A client runs a small state machine, driven by conn_kick from every entry point (fd event,
 * timer, api_resp_finish, api_stream_*). conn_kick is not re-entrant on purpose: a nested call
 * (a handler pushing to its own stream) only asks for another pass, and a client that must die
 * is freed by the outermost call, so no stack frame ever holds a freed client.
 *
 *   HANDSHAKE -> HEAD -> BODY -> (handler) -> WRITE -> HEAD ...      keep-alive
 *                                         \-> PENDING -> WRITE          deferred
 *                                         \-> STREAM -> HEAD ...        chunked stream
 *   any error response with close, or Connection: close -> CLOSING -> freed
 *
 * docs/internals/api.md has the design; api_server.h the contract.
 */
#include "api/api_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/base_err.h"
#include "base/base_log.h"
#include "http/http_write.h"

enum conn_state {
	ST_HANDSHAKE, /* TLS handshake running */
	ST_HEAD,      /* reading a request head; idle while in_len == 0 */
	ST_BODY,      /* reading its body */
	ST_HANDLER,   /* inside the handler call */
	ST_PENDING,   /* the handler deferred the response */
	ST_STREAM,    /* a chunked stream is open */
	ST_WRITE,     /* a complete response is going out */
	ST_CLOSING,   /* last response out; FIN or close_notify sent; draining input */
};

struct api_conn {
	struct api_server *srv;
	struct api_conn *prev, *next; /* srv->live */
	struct api_listener *ls;
	int fd;
	enum conn_state state;
	struct tls_conn *tls; /* NULL for unix and plain TCP */
	struct api_peer peer;
	uint32_t seq; /* request number: handles carry it */
	struct loop_timer_id timer;
	uint64_t timer_at; /* deadline the armed timer fires at; 0: none armed */
	uint64_t deadline; /* what the current state allows; 0: none */
	uint32_t interest; /* registered LOOP_* bits */
	uint32_t ev;       /* events not yet handled */
	bool running, rerun, dead, timed_out;
	bool eof;           /* the client stopped sending */
	bool req_started;   /* bytes of the next request arrived */
	bool close_after;   /* close once the response is out */
	bool want_drain;    /* a stream push was short: API_EV_DRAINED when the window empties */
	bool chunked_out;   /* stream framing: chunked (HTTP/1.1) or until close (HTTP/1.0) */
	bool stream_ended;  /* last chunk queued */
	bool fin_requested; /* api_resp_finish / api_stream_end called inside the handler */

	/* input: in[0..in_len); the head at [0, head_len), the decoded body after it */
	uint8_t *in;
	size_t in_len;
	struct http_header *hdr;
	struct http_request req;
	size_t head_len;    /* 0 while the head is incomplete */
	size_t body_len;    /* decoded body bytes at in + head_len */
	size_t raw_off;     /* chunked: first byte not decoded yet */
	uint64_t body_need; /* Content-Length */
	bool chunked_in;
	struct http_chunked ch;
	size_t req_end; /* bytes of in the current request used */
	const struct api_route *route;
	struct api_req areq;
	uint64_t linger_bytes;

	/* output: out[out_off..out_len) waits to be sent */
	uint8_t *out;
	size_t out_off, out_len;
	size_t hs_off, hs_len; /* TLS handshake ciphertext staged in out, see hs_pump */
	struct api_resp resp;
};

/* printf arguments for a slice: "%.*s" */
#define SL(x) (int)(x).len, ((x).p ? (x).p : "")

#define LINGER_MAX_BYTES (1u << 20) /* discarded while closing before giving up */
#define ACCEPT_BURST 64
#define ACCEPT_PAUSE_MS 100
#define CHUNK_LINE_MAX 256
#define TRAILER_MAX 1024

static void conn_kick(struct api_conn *c);
static void conn_deadline(struct api_conn *c, uint64_t at);

/* Limits ---------------------------------------------------------------------------------- */

void api_limits_default(struct api_limits *lim)
{
	*lim = (struct api_limits){
		.max_clients = 32,
		.max_tls_clients = 16,
		.max_routes = 64,
		.max_line = 4096,
		.max_headers = 32,
		.max_header_bytes = 8192,
		.max_body = 64 * 1024,
		.max_resp = 256 * 1024,
		.max_json_tokens = 4096,
		.header_timeout_ms = 10000,
		.idle_timeout_ms = 60000,
		.handler_timeout_ms = 30000,
		.linger_ms = 2000,
	};
}

static size_t align16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

static size_t in_cap_of(const struct api_limits *lim)
{
	/* head, body, and a decode pass of chunk framing (consumed as it arrives) */
	return (size_t)lim->max_line + 2 + lim->max_header_bytes + 2 * HTTP_MAX_EMPTY_LINES +
	       lim->max_body + CHUNK_LINE_MAX + 64;
}

static size_t out_cap_of(const struct api_limits *lim)
{
	return API_HEAD_MAX + (size_t)lim->max_resp;
}

size_t api_limits_client_bytes(const struct api_limits *lim)
{
	return align16(lim->max_headers * sizeof(struct http_header)) + align16(in_cap_of(lim)) +
	       align16(out_cap_of(lim)) + sizeof(struct api_conn);
}

static int limits_check(struct api_server *s, const struct api_limits *lim)
{
	const char *bad = NULL;
	if (lim->max_clients < 1 || lim->max_clients > 65536)
		bad = "max_clients must be 1 .. 65536";
	else if (lim->max_tls_clients > lim->max_clients)
		bad = "max_tls_clients must not exceed max_clients";
	else if (lim->max_routes < 1 || lim->max_routes > 4096)
		bad = "max_routes must be 1 .. 4096";
	else if (lim->max_line < 16 || lim->max_line > (1u << 20))
		bad = "max_line must be 16 .. 1 MiB";
	else if (lim->max_headers < 1 || lim->max_headers > 1024)
		bad = "max_headers must be 1 .. 1024";
	else if (lim->max_header_bytes < 64 || lim->max_header_bytes > (1u << 20))
		bad = "max_header_bytes must be 64 .. 1 MiB";
	else if (lim->max_body > (1u << 26))
		bad = "max_body must be at most 64 MiB";
	else if (lim->max_resp < 2048 || lim->max_resp > (1u << 26))
		bad = "max_resp must be 2 KiB .. 64 MiB";
	else if (lim->max_json_tokens < 16 || lim->max_json_tokens > (1u << 22))
		bad = "max_json_tokens must be 16 .. 4 Mi";
	else if (lim->header_timeout_ms < 1 || lim->idle_timeout_ms < 1)
		bad = "header_timeout_ms and idle_timeout_ms must be at least 1";
	if (!bad)
		return 0;
	snprintf(s->errmsg, sizeof s->errmsg, "api limits: %s", bad);
	return -ERR_INVAL;
}

/* Init / fini ------------------------------------------------------------------------------ */

int api_server_init(struct api_server *s, struct loop *l, struct rand *rng,
		    const struct api_limits *lim)
{
	memset(s, 0, sizeof *s);
	for (int i = 0; i < API_LISTENERS_MAX; i++)
		s->ls[i].fd = -1;
	if (!l || !lim)
		return -ERR_INVAL;
	int rc = limits_check(s, lim);
	if (rc)
		return rc;
	s->loop = l;
	s->rng = rng;
	s->lim = *lim;
	http_limits_default(&s->hlim);
	s->hlim.max_line = lim->max_line;
	s->hlim.max_headers = lim->max_headers;
	s->hlim.max_header_bytes = lim->max_header_bytes;
	s->hlim.max_body = lim->max_body;
	s->hlim.max_chunk_line = CHUNK_LINE_MAX;
	s->hlim.max_trailer_bytes = TRAILER_MAX;
	s->in_cap = in_cap_of(lim);
	s->out_cap = out_cap_of(lim);
	s->slot_bytes = align16(lim->max_headers * sizeof(struct http_header)) +
			align16(s->in_cap) + align16(s->out_cap);

	rc = pool_init(&s->conns, "max_clients", sizeof(struct api_conn), lim->max_clients);
	if (rc)
		goto fail;
	if (lim->max_tls_clients) {
		rc = pool_init(&s->tls, "max_tls_clients", tls_conn_size(), lim->max_tls_clients);
		if (rc)
			goto fail;
	}
	rc = -ERR_NOMEM;
	/* Not touched here: pages of unused client slots stay unmapped until used. */
	s->bufs = malloc(s->slot_bytes * lim->max_clients);
	s->routes = calloc(lim->max_routes, sizeof *s->routes);
	s->toks = malloc(lim->max_json_tokens * sizeof *s->toks);
	if (!s->bufs || !s->routes || !s->toks)
		goto fail;
	s->ready = true;
	return 0;
fail:
	snprintf(s->errmsg, sizeof s->errmsg, "api: cannot allocate %zu client slots: %s",
		 (size_t)lim->max_clients, err_str(rc));
	pool_fini(&s->conns);
	pool_fini(&s->tls);
	free(s->bufs);
	free(s->routes);
	free(s->toks);
	s->bufs = NULL;
	s->routes = NULL;
	s->toks = NULL;
	return rc;
}

static void conn_free(struct api_conn *c);

static void listener_close(struct api_server *s, struct api_listener *ls)
{
	if (ls->fd < 0)
		return;
	loop_timer_cancel(s->loop, ls->pause);
	loop_del_fd(s->loop, ls->fd);
	close(ls->fd);
	ls->fd = -1;
	if (ls->kind == API_LISTEN_UNIX && ls->path[0]) {
		struct stat st;
		/* Remove the path only if it is still the socket we made. */
		if (lstat(ls->path, &st) == 0 && st.st_dev == ls->dev && st.st_ino == ls->ino)
			unlink(ls->path);
	}
}

void api_server_fini(struct api_server *s)
{
	if (!s->ready)
		return;
	for (int i = 0; i < API_LISTENERS_MAX; i++)
		listener_close(s, &s->ls[i]);
	while (s->live) {
		s->live->dead = true;
		conn_free(s->live);
	}
	pool_fini(&s->conns);
	pool_fini(&s->tls);
	free(s->bufs);
	free(s->routes);
	free(s->toks);
	s->bufs = NULL;
	s->routes = NULL;
	s->toks = NULL;
	s->ready = false;
}

size_t api_server_bytes(const struct api_server *s)
{
	if (!s->ready)
		return 0;
	size_t n = pool_bytes(&s->conns) + s->slot_bytes * s->lim.max_clients +
		   s->lim.max_routes * sizeof *s->routes + s->lim.max_json_tokens * sizeof *s->toks;
	if (s->lim.max_tls_clients)
		n += pool_bytes(&s->tls);
	return n;
}

void api_server_set_peer_check(struct api_server *s, api_peer_check_fn fn, void *arg)
{
	s->peer_check = fn;
	s->peer_check_arg = arg;
}

const char *api_peer_kind_name(enum api_peer_kind kind)
{
	switch (kind) {
	case API_PEER_LOCAL: return "local";
	case API_PEER_ADMIN: return "admin";
	case API_PEER_CONTROL: return "control";
	case API_PEER_DATA: return "data";
	case API_PEER_ANON: break;
	}
	return "anonymous";
}

/* Routes ---------------------------------------------------------------------------------- */

static bool is_tchar(char ch)
{
	return (http_cclass[(uint8_t)ch] & HC_TCHAR) != 0;
}

/* Next '/'-separated segment of *p (which points after a '/'); advances *p past it and its
 * slash. Returns false at the end. */
static bool seg_next(struct slice *p, struct slice *seg)
{
	if (!p->p)
		return false;
	const char *slash = memchr(p->p, '/', p->len);
	if (slash) {
		seg->p = p->p;
		seg->len = (size_t)(slash - p->p);
		p->len -= seg->len + 1;
		p->p = slash + 1;
	} else {
		*seg = *p;
		p->p = NULL;
		p->len = 0;
	}
	return true;
}

static bool seg_is_param(struct slice seg)
{
	return seg.len >= 3 && seg.p[0] == '{' && seg.p[seg.len - 1] == '}';
}

static bool seg_is_star(struct slice seg)
{
	return seg.len == 1 && seg.p[0] == '*';
}

/* Pattern syntax (see api_server_add_routes); NULL when valid, else why not. */
static const char *pattern_check(const char *pat)
{
	if (!pat || pat[0] != '/')
		return "pattern must start with '/'";
	if (strcmp(pat, "/") == 0)
		return NULL;
	struct slice rest = {pat + 1, strlen(pat) - 1}, seg, names[API_MAX_PARAMS];
	size_t nseg = 0, nparam = 0;
	while (seg_next(&rest, &seg)) {
		if (++nseg > API_MAX_SEGMENTS)
			return "too many segments (API_MAX_SEGMENTS)";
		if (seg.len == 0)
			return "empty segment";
		if (seg_is_star(seg)) {
			if (rest.p)
				return "'*' must be the last segment";
			continue;
		}
		if (seg.p[0] == '{' || memchr(seg.p, '}', seg.len)) {
			if (!seg_is_param(seg))
				return "a parameter must be a whole segment: {name}";
			struct slice name = {seg.p + 1, seg.len - 2};
			for (size_t i = 0; i < name.len; i++)
				if (!((name.p[i] >= 'a' && name.p[i] <= 'z') ||
				      (name.p[i] >= '0' && name.p[i] <= '9') || name.p[i] == '_'))
					return "parameter names are [a-z0-9_]";
			for (size_t i = 0; i < nparam; i++)
				if (slice_eq(names[i], name))
					return "parameter name used twice";
			if (nparam == API_MAX_PARAMS)
				return "too many parameters (API_MAX_PARAMS)";
			names[nparam++] = name;
			continue;
		}
		for (size_t i = 0; i < seg.len; i++) {
			char ch = seg.p[i];
			if (ch <= ' ' || ch >= 0x7f || ch == '?' || ch == '#' || ch == '{' ||
			    ch == '*')
				return "literal segments take printable characters but ? # { } *";
		}
	}
	return NULL;
}

/* Same shape: equal but for parameter names. */
static bool pattern_same_shape(const char *a, const char *b)
{
	struct slice ra = slice_from_cstr(a), rb = slice_from_cstr(b), sa, sb;
	for (;;) {
		bool ha = seg_next(&ra, &sa), hb = seg_next(&rb, &sb);
		if (ha != hb)
			return false;
		if (!ha)
			return true;
		if (seg_is_param(sa) && seg_is_param(sb))
			continue;
		if (!slice_eq(sa, sb))
			return false;
	}
}

int api_server_add_routes(struct api_server *s, const struct api_route *routes, size_t n)
{
	const unsigned roles = API_ROLE_ANY | API_ROLE_ANON;
	if (!s->ready || (!routes && n))
		return -ERR_INVAL;
	if (n > s->lim.max_routes - s->nroutes) {
		snprintf(s->errmsg, sizeof s->errmsg, "api: %zu routes over max_routes %u",
			 s->nroutes + n, s->lim.max_routes);
		return -ERR_API_ROUTES_FULL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct api_route *r = &routes[i];
		const char *why = pattern_check(r->pattern);
		size_t mlen = r->method ? strlen(r->method) : 0;
		if (!why && (mlen == 0 || mlen > 16))
			why = "method must be 1 .. 16 characters";
		for (size_t k = 0; !why && k < mlen; k++)
			if (!is_tchar(r->method[k]))
				why = "method must be a token";
		if (!why && (!(r->access & roles) || (r->access & ~(roles | API_F_RAW_BODY))))
			why = "access needs API_ROLE_* bits and nothing unknown";
		if (!why && !r->fn)
			why = "handler is NULL";
		if (why) {
			snprintf(s->errmsg, sizeof s->errmsg, "api route %s %s: %s",
				 r->method ? r->method : "(null)",
				 r->pattern ? r->pattern : "(null)", why);
			return -ERR_INVAL;
		}
		for (size_t k = 0; k < s->nroutes + i; k++) {
			const struct api_route *o =
				k < s->nroutes ? &s->routes[k] : &routes[k - s->nroutes];
			if (strcmp(o->method, r->method) == 0 &&
			    pattern_same_shape(o->pattern, r->pattern)) {
				snprintf(s->errmsg, sizeof s->errmsg,
					 "api route %s %s: same as %s %s", r->method, r->pattern,
					 o->method, o->pattern);
				return -ERR_EXISTS;
			}
		}
	}
	memcpy(s->routes + s->nroutes, routes, n * sizeof *routes);
	s->nroutes += (uint32_t)n;
	return 0;
}

struct match {
	struct slice names[API_MAX_PARAMS], vals[API_MAX_PARAMS];
	size_t n;
	struct slice rest;
	uint64_t score;
};

/* Match path (starting with '/') against pattern. Score: one base-4 digit per segment, left
 * first — literal 3, {param} 2, '*' 0 — with a pattern that ended exactly scoring 3 for the
 * remaining positions, so the most specific route wins. */
static bool route_match(const char *pattern, struct slice path, struct match *m)
{
	memset(m, 0, sizeof *m);
	if (path.len == 0 || path.p[0] != '/')
		return false;
	struct slice pr = slice_from_cstr(pattern + 1), qr = {path.p + 1, path.len - 1};
	unsigned digits = 0;
	if (strcmp(pattern, "/") == 0)
		pr = (struct slice){NULL, 0};
	if (path.len == 1)
		qr = (struct slice){NULL, 0};
	for (;;) {
		struct slice ps, qs;
		bool hp = seg_next(&pr, &ps);
		if (hp && seg_is_star(ps)) {
			m->rest = qr.p ? qr : (struct slice){path.p + path.len, 0};
			break;
		}
		bool hq = seg_next(&qr, &qs);
		if (!hp && !hq)
			break;
		if (!hp || !hq)
			return false;
		unsigned d;
		if (seg_is_param(ps)) {
			if (qs.len == 0)
				return false;
			m->names[m->n] = (struct slice){ps.p + 1, ps.len - 2};
			m->vals[m->n++] = qs;
			d = 2;
		} else {
			if (!slice_eq(ps, qs))
				return false;
			d = 3;
		}
		if (digits < API_MAX_SEGMENTS) {
			m->score = m->score * 4 + d;
			digits++;
		}
	}
	bool exact = !m->rest.p;
	for (; digits < API_MAX_SEGMENTS; digits++)
		m->score = m->score * 4 + (exact ? 3 : 0);
	return true;
}

/* Peers and access ------------------------------------------------------------------------ */

static bool access_ok(unsigned access, enum api_peer_kind k)
{
	if (access & API_ROLE_ANON)
		return true;
	switch (k) {
	case API_PEER_LOCAL:
	case API_PEER_ADMIN: return (access & API_ROLE_ADMIN) != 0;
	case API_PEER_CONTROL: return (access & API_ROLE_CONTROL) != 0;
	case API_PEER_DATA: return (access & API_ROLE_DATA) != 0;
	case API_PEER_ANON: break;
	}
	return false;
}

static const char *access_need(unsigned access)
{
	if ((access & API_ROLE_ANY) == API_ROLE_ANY)
		return "an admin or node certificate";
	if ((access & API_ROLE_ANY) == API_ROLE_NODE)
		return "a node certificate";
	if (access & API_ROLE_ADMIN)
		return (access & API_ROLE_NODE) ? "an admin or node certificate"
						: "an admin certificate";
	if (access & API_ROLE_CONTROL)
		return "a control node certificate";
	return "a data node certificate";
}

static void peer_addr(struct api_peer *p, const struct sockaddr_storage *ss)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
		snprintf(p->addr, sizeof p->addr, "%s:%u", ip, ntohs(a->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
		snprintf(p->addr, sizeof p->addr, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		snprintf(p->addr, sizeof p->addr, "unix");
	}
}

/* Timers ---------------------------------------------------------------------------------- */

static void on_conn_timer(struct loop *l, void *arg)
{
	struct api_conn *c = arg;
	c->timer_at = 0;
	c->timer = (struct loop_timer_id){0, 0};
	if (!c->deadline)
		return;
	if (loop_now_ms(l) < c->deadline) {
		/* The deadline moved later since the timer was armed (lazy re-arm). */
		conn_deadline(c, c->deadline);
		if (c->dead)
			conn_kick(c);
		return;
	}
	c->timed_out = true;
	conn_kick(c);
}

/* Set the deadline of the current state (absolute ms; 0: none). A later deadline reuses the
 * armed timer, which re-arms itself when it fires early. */
static void conn_deadline(struct api_conn *c, uint64_t at)
{
	struct loop *l = c->srv->loop;
	c->deadline = at;
	if (!at || (c->timer_at && c->timer_at <= at))
		return;
	if (c->timer_at)
		loop_timer_cancel(l, c->timer);
	c->timer_at = 0;
	uint64_t now = loop_now_ms(l);
	if (loop_timer_add(l, at > now ? at - now : 0, on_conn_timer, c, &c->timer) != 0) {
		log_error("api: no timer for a client (loop max_timers too small)", NULL);
		c->dead = true;
		return;
	}
	c->timer_at = at;
}

static uint64_t now_plus(struct api_conn *c, uint32_t ms)
{
	return loop_now_ms(c->srv->loop) + ms;
}

/* Transport -------------------------------------------------------------------------------- */

/* Plaintext from the client: > 0 bytes, 0 at end of stream, -ERR_AGAIN, or an error. */
static ssize_t xport_read(struct api_conn *c, void *p, size_t n)
{
	if (c->tls)
		return tls_conn_read(c->tls, p, n);
	for (;;) {
		ssize_t r = read(c->fd, p, n);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -ERR_AGAIN;
		return err_from_errno(errno);
	}
}

static ssize_t xport_write(struct api_conn *c, const void *p, size_t n)
{
	if (c->tls) {
		ssize_t r = tls_conn_write(c->tls, p, n > 16384 ? 16384 : n);
		if (r > 0)
			tls_conn_on_writable(c->tls, c->fd);
		return r;
	}
	for (;;) {
		ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -ERR_AGAIN;
		return err_from_errno(errno);
	}
}

static void conn_gone(struct api_conn *c, const char *why, int err)
{
	if (c->dead)
		return;
	c->dead = true;
	if (err && err != -ERR_CLOSED && err != -ERR_TLS_TRUNCATED)
		log_debug("api client dropped", "peer=%s why=\"%s\" err=%s", c->peer.addr, why,
			  err_name(err));
}

static bool conn_wants_input(const struct api_conn *c)
{
	if (c->eof)
		return false;
	switch (c->state) {
	case ST_HANDSHAKE:
	case ST_HANDLER: return false;
	case ST_CLOSING: return true;
	default: return c->in_len < c->srv->in_cap;
	}
}

/* Read what the client sent. Returns true if anything happened. */
static bool conn_fill(struct api_conn *c)
{
	struct api_server *s = c->srv;
	bool any = false;
	while (!c->dead && conn_wants_input(c)) {
		uint8_t scratch[4096];
		bool discard = c->state == ST_CLOSING;
		uint8_t *dst = discard ? scratch : c->in + c->in_len;
		size_t room = discard ? sizeof scratch : s->in_cap - c->in_len;
		ssize_t n = xport_read(c, dst, room);
		if (n > 0) {
			any = true;
			if (discard) {
				c->linger_bytes += (size_t)n;
				if (c->linger_bytes > LINGER_MAX_BYTES)
					conn_gone(c, "client kept sending while we closed", 0);
				continue;
			}
			if (c->state == ST_HEAD && !c->req_started) {
				/* The first byte of a request: the head must follow in time. */
				c->req_started = true;
				conn_deadline(c, now_plus(c, s->lim.header_timeout_ms));
			}
			c->in_len += (size_t)n;
			if (!c->tls && (size_t)n < room)
				break; /* the socket is empty: save a read(2) */
			continue;
		}
		if (n == 0 || n == -ERR_TLS_TRUNCATED) {
			c->eof = true;
			any = true;
			break;
		}
		if (n == -ERR_AGAIN)
			break;
		conn_gone(c, "read failed", (int)n);
		break;
	}
	return any;
}

/* Send what is queued. Returns true if anything moved. */
static bool conn_flush(struct api_conn *c)
{
	bool any = false;
	while (!c->dead && c->out_off < c->out_len) {
		ssize_t n = xport_write(c, c->out + c->out_off, c->out_len - c->out_off);
		if (n > 0) {
			c->out_off += (size_t)n;
			any = true;
			continue;
		}
		if (n == -ERR_AGAIN)
			break;
		conn_gone(c, "write failed", (int)n);
		return false;
	}
	if (any && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (any && (c->state == ST_WRITE || c->state == ST_STREAM)) {
		if (c->out_len == 0 && c->state == ST_STREAM)
			conn_deadline(c, 0); /* an idle stream may stay open */
		else if (c->out_len != 0)
			/* a slow reader gets idle_timeout_ms per bit of progress */
			conn_deadline(c, now_plus(c, c->srv->lim.idle_timeout_ms));
	}
	return any;
}

/* Responses ------------------------------------------------------------------------------- */

static struct api_conn *conn_of_resp(struct api_resp *resp)
{
	return (struct api_conn *)((char *)resp - offsetof(struct api_conn, resp));
}

static struct api_handle conn_handle(struct api_conn *c)
{
	return (struct api_handle){pool_handle_of(&c->srv->conns, c), c->seq};
}

static void resp_reset(struct api_conn *c)
{
	struct api_resp *r = &c->resp;
	r->status = 200;
	r->content_type = "application/json";
	buf_init(&r->body, c->out + API_HEAD_MAX, c->srv->lim.max_resp);
	buf_init(&r->hdrs, r->hdr_mem, sizeof r->hdr_mem);
	r->json_used = false;
	r->mode = API_RESP_NORMAL;
	r->ev_fn = NULL;
	r->ev_arg = NULL;
}

static void resp_error_body(struct api_resp *r, int err, const char *msg)
{
	char code[64];
	snprintf(code, sizeof code, "%s", err_name(err));
	buf_reset(&r->body);
	r->json_used = false;
	struct json_writer w;
	json_w_init(&w, &r->body);
	json_w_obj_begin(&w);
	json_w_key(&w, "error");
	json_w_str(&w, msg);
	json_w_key(&w, "code");
	json_w_str(&w, code);
	json_w_obj_end(&w);
	if (json_w_finish(&w) != 0) {
		buf_reset(&r->body);
		buf_append_cstr(&r->body, "{\"error\":\"internal error\",\"code\":\"INTERNAL\"}");
	}
}

int api_err_status(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case ERR_OK: return 200;
	case ERR_INVAL:
	case ERR_PARSE:
	case ERR_PARTIAL:
	case ERR_RANGE:
	case ERR_USAGE:
	case ERR_JSON_PARSE:
	case ERR_JSON_TOO_MANY_TOKENS:
	case ERR_JSON_TYPE:
	case ERR_JSON_DEPTH:
	case ERR_JSON_DUP_KEY:
	case ERR_HTTP_BAD_FRAMING:
	case ERR_HTTP_BAD_CHUNK:
	case ERR_HTTP_BAD_HOST:
	case ERR_PKI_TOKEN_FORMAT:
	case ERR_PKI_TOKEN_ROLE:
	case ERR_PKI_CA_MISMATCH:
	case ERR_PKI_CERT:
	case ERR_PKI_KEY:
	case ERR_PROXY_CONFIG:
	case ERR_PROXY_VERSION:
	case ERR_PROXY_RULE:
	case ERR_PROXY_ENTRYPOINT:
	case ERR_PROVIDER_CONFIG: return 400;
	case ERR_PERM:
	case ERR_API_FORBIDDEN:
	case ERR_PKI_BAD_PROOF: return 403;
	case ERR_NOTFOUND:
	case ERR_API_NOT_FOUND: return 404;
	case ERR_API_METHOD: return 405;
	case ERR_EXISTS: return 409;
	case ERR_TOO_LARGE:
	case ERR_HTTP_BODY_TOO_LARGE:
	case ERR_PROXY_DOC_TOO_LARGE: return 413;
	case ERR_HTTP_LINE_TOO_LONG: return 414;
	case ERR_HTTP_TOO_MANY_HEADERS:
	case ERR_HTTP_HEADERS_TOO_LARGE:
	case ERR_HTTP_TRAILER_TOO_LARGE: return 431;
	case ERR_UNSUPPORTED:
	case ERR_HTTP_UNKNOWN_CODING: return 501;
	case ERR_HTTP_BAD_VERSION: return 505;
	case ERR_AGAIN:
	case ERR_POOL_EMPTY:
	case ERR_LOOP_FULL:
	case ERR_API_CLIENTS_FULL:
	case ERR_API_TLS_CLIENTS_FULL:
	case ERR_RAFT_NOT_LEADER:
	case ERR_RAFT_LOG_FULL:
	case ERR_RAFT_CONF_PENDING:
	case ERR_RAFT_TRANSFERRING:
	case ERR_RAFT_NOT_CAUGHT_UP:
	case ERR_RAFT_READS_FULL:
	case ERR_RAFT_BUSY:
	case ERR_STORE_FULL:
	case ERR_STORE_READERS_FULL: return 503;
	case ERR_TIMEOUT: return 504;
	default: return 500;
	}
}

static void resp_errorv(struct api_resp *r, int status, int err, const char *fmt, va_list ap)
{
	char msg[API_ERRMSG_MAX];
	if (fmt)
		vsnprintf(msg, sizeof msg, fmt, ap);
	else
		snprintf(msg, sizeof msg, "%s", err_str(err));
	r->status = status ? status : api_err_status(err);
	resp_error_body(r, err, msg);
}

int api_resp_error(struct api_resp *resp, int status, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	resp_errorv(resp, status, err, fmt, ap);
	va_end(ap);
	return API_DONE;
}

struct json_writer *api_resp_json(struct api_resp *resp)
{
	buf_reset(&resp->body);
	json_w_init(&resp->json, &resp->body);
	resp->json_used = true;
	return &resp->json;
}

int api_resp_header(struct api_resp *resp, const char *name, const char *value)
{
	struct slice n = slice_from_cstr(name);
	if (slice_eq_cstr_ci(n, "content-length") || slice_eq_cstr_ci(n, "transfer-encoding") ||
	    slice_eq_cstr_ci(n, "connection") || slice_eq_cstr_ci(n, "content-type"))
		return -ERR_INVAL;
	return http_write_header(&resp->hdrs, n, slice_from_cstr(value));
}

/* Queue the head of the response in resp: Content-Length body_len, or chunked (or close-
 * delimited) when stream. The head goes right before out + API_HEAD_MAX, where the body
 * already is, so head and body leave in one piece; an interim 100 Continue not yet sent moves
 * in front of it. */
static void conn_queue_head(struct api_conn *c, bool stream)
{
	struct api_server *s = c->srv;
	struct api_resp *r = &c->resp;
	uint8_t mem[API_HEAD_MAX];
	struct buf h;
	buf_init(&h, mem, API_HEAD_MAX - 64);
	int status = r->status >= 200 && r->status <= 599 ? r->status : 500;
	int rc = http_write_status_line(&h, 1, status, (struct slice){NULL, 0});
	rc = rc ? rc
		: http_write_header(
			  &h, SLICE_LIT("Content-Type"),
			  slice_from_cstr(r->content_type ? r->content_type : "application/json"));
	if (!stream)
		rc = rc ? rc : http_write_header_u64(&h, SLICE_LIT("Content-Length"), r->body.len);
	else if (c->chunked_out)
		rc = rc ? rc
			: http_write_header(&h, SLICE_LIT("Transfer-Encoding"),
					    SLICE_LIT("chunked"));
	rc = rc ? rc : http_write_header(&h, SLICE_LIT("Cache-Control"), SLICE_LIT("no-store"));
	if (c->close_after)
		rc = rc ? rc : http_write_header(&h, SLICE_LIT("Connection"), SLICE_LIT("close"));
	rc = rc ? rc : buf_append(&h, r->hdrs.data, r->hdrs.len);
	rc = rc ? rc : http_write_head_end(&h);
	if (rc) {
		/* Cannot happen with sane content types: the head is bounded. */
		log_error("api: response head over API_HEAD_MAX", "status=%d", status);
		buf_reset(&h);
		buf_printf(&h, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
			       "Connection: close\r\n\r\n");
		r->body.len = 0;
		c->close_after = true;
		status = 500;
	}
	size_t pending = c->out_len - c->out_off; /* an interim response not yet sent */
	size_t start = API_HEAD_MAX - h.len;
	if (pending) {
		memmove(c->out + start - pending, c->out + c->out_off, pending);
		c->out_off = start - pending;
	} else {
		c->out_off = start;
	}
	memcpy(c->out + start, h.data, h.len);
	c->out_len = API_HEAD_MAX + (stream ? 0 : r->body.len);
	s->stats.status[status / 100]++;
	log_debug("api request", "method=%.*s path=%.*s status=%d peer=%s role=%s",
		  SL(c->req.method), SL(c->areq.path), status, c->peer.addr,
		  api_peer_kind_name(c->peer.kind));
	if (status >= 500)
		log_warn("api request failed", "method=%.*s path=%.*s status=%d body=%.*s",
			 SL(c->req.method), SL(c->areq.path), status,
			 (int)(r->body.len > 200 ? 200 : r->body.len), (const char *)r->body.data);
}

/* The response in c->resp is complete: finish its JSON, queue it, start writing. */
static void conn_respond(struct api_conn *c)
{
	struct api_resp *r = &c->resp;
	if (r->json_used) {
		int rc = json_w_finish(&r->json);
		r->json_used = false;
		if (rc == -ERR_BUF_FULL)
			api_resp_error(r, 500, -ERR_API_RESP_TOO_LARGE,
				       "response over max_resp (%u bytes)", c->srv->lim.max_resp);
		else if (rc)
			api_resp_error(r, 500, rc, "handler wrote malformed JSON: %s", err_str(rc));
	}
	r->mode = API_RESP_NORMAL;
	r->ev_fn = NULL;
	c->seq++; /* handles of this request are stale from now on */
	conn_queue_head(c, false);
	c->state = ST_WRITE;
	conn_deadline(c, now_plus(c, c->srv->lim.idle_timeout_ms));
}

/* Put an error in c->resp (not queued yet). */
static void conn_set_error(struct api_conn *c, int status, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void conn_set_error(struct api_conn *c, int status, int err, const char *fmt, ...)
{
	va_list ap;
	resp_reset(c);
	va_start(ap, fmt);
	resp_errorv(&c->resp, status, err, fmt, ap);
	va_end(ap);
}

/* Answer with an error at once. */
#define conn_fail_req(c, ...)                     \
	do {                                      \
		conn_set_error((c), __VA_ARGS__); \
		conn_respond(c);                  \
	} while (0)

/* Fire API_EV_CLOSED for a deferred or streaming response that will never complete. */
static void conn_abandon_resp(struct api_conn *c, api_event_fn *fn, void **arg,
			      struct api_handle *h)
{
	*fn = NULL;
	if ((c->state == ST_PENDING || c->state == ST_STREAM) && c->resp.ev_fn) {
		*fn = c->resp.ev_fn;
		*arg = c->resp.ev_arg;
		*h = conn_handle(c);
	}
	c->resp.ev_fn = NULL;
	c->seq++;
}

/* Last response out: send FIN (or close_notify), then read and drop what the client still
 * sends for up to linger_ms, so a client that is still writing a body we refused reads our
 * answer instead of a reset. */
static void conn_begin_close(struct api_conn *c)
{
	uint32_t linger = c->srv->lim.linger_ms;
	c->state = ST_CLOSING;
	c->out_off = c->out_len = 0;
	if (c->tls)
		tls_conn_close(c->tls);
	else
		shutdown(c->fd, SHUT_WR);
	if (c->eof || linger == 0) {
		if (!c->tls || tls_conn_done(c->tls)) {
			c->dead = true;
			return;
		}
		linger = 200; /* only for close_notify to leave */
	}
	conn_deadline(c, now_plus(c, linger));
}

/* The response is out: next request, or close. */
static void conn_response_done(struct api_conn *c)
{
	struct api_server *s = c->srv;
	if (c->close_after || c->eof) {
		conn_begin_close(c);
		return;
	}
	size_t rest = c->in_len - c->req_end;
	memmove(c->in, c->in + c->req_end, rest);
	c->in_len = rest;
	c->head_len = c->body_len = c->raw_off = c->req_end = 0;
	c->body_need = 0;
	c->chunked_in = false;
	c->route = NULL;
	c->stream_ended = c->want_drain = c->fin_requested = false;
	c->out_off = c->out_len = 0;
	http_request_init(&c->req, c->hdr, s->lim.max_headers);
	c->state = ST_HEAD;
	c->req_started = rest > 0;
	conn_deadline(c, now_plus(c, rest ? s->lim.header_timeout_ms : s->lim.idle_timeout_ms));
}

/* Requests -------------------------------------------------------------------------------- */

static void conn_dispatch(struct api_conn *c);

/* Is method in the ", "-separated list? */
static bool allow_has(struct slice list, const char *method)
{
	struct slice item;
	while (list.p && list.len) {
		item = slice_cut(list, ',', &list);
		if (slice_eq_cstr(slice_trim_ows(item), method))
			return true;
	}
	return false;
}

/* Find the route: set c->route and the params, or put a 404/405/403 in c->resp and return
 * false. */
static bool conn_route(struct api_conn *c)
{
	struct api_server *s = c->srv;
	struct api_req *q = &c->areq;
	const struct api_route *best = NULL;
	struct match m, bm = {0};
	char allow[128];
	struct buf ab;
	buf_init(&ab, allow, sizeof allow - 1);
	bool path_known = false;
	for (uint32_t i = 0; i < s->nroutes; i++) {
		const struct api_route *r = &s->routes[i];
		if (!route_match(r->pattern, q->path, &m))
			continue;
		path_known = true;
		if (!slice_eq_cstr(c->req.method, r->method)) {
			if (!allow_has(buf_slice(&ab), r->method) &&
			    (ab.len == 0 || buf_append_cstr(&ab, ", ") == 0))
				buf_append_cstr(&ab, r->method);
			continue;
		}
		if (!best || m.score > bm.score) {
			best = r;
			bm = m;
		}
	}
	allow[ab.len] = 0;
	if (!best) {
		if (path_known) {
			conn_set_error(c, 405, -ERR_API_METHOD, "%.*s is not allowed on %.*s",
				       SL(c->req.method), SL(q->path));
			api_resp_header(&c->resp, "Allow", allow);
		} else {
			conn_set_error(c, 404, -ERR_API_NOT_FOUND, "no API endpoint %.*s",
				       SL(q->path));
		}
		return false;
	}
	if (!access_ok(best->access, c->peer.kind)) {
		conn_set_error(c, 403, -ERR_API_FORBIDDEN, "%s %s needs %s (this client: %s)",
			       best->method, best->pattern, access_need(best->access),
			       api_peer_kind_name(c->peer.kind));
		return false;
	}
	c->route = best;
	q->route = best;
	q->nparams = bm.n;
	for (size_t i = 0; i < bm.n; i++) {
		q->param_names[i] = bm.names[i];
		q->params[i] = bm.vals[i];
	}
	q->rest = bm.rest.p ? bm.rest : (struct slice){NULL, 0};
	return true;
}

/* A complete head was parsed: check it, route it, set up the body. */
static void conn_start_request(struct api_conn *c)
{
	struct api_server *s = c->srv;
	struct http_request *r = &c->req;
	struct api_req *q = &c->areq;

	memset(q, 0, sizeof *q);
	q->srv = s;
	q->peer = &c->peer;
	q->http = r;
	q->method = r->method;
	s->stats.requests++;
	c->close_after = !(r->h.flags & HTTP_F_KEEP_ALIVE);
	c->req_end = c->head_len;
	c->raw_off = c->head_len;
	if (r->target_form != HTTP_T_ORIGIN) {
		c->close_after = true;
		conn_fail_req(c, 400, -ERR_PARSE, "the request target must be a path");
		return;
	}
	struct slice query;
	q->path = slice_cut(r->target, '?', &query);
	q->query = query.p ? query : (struct slice){NULL, 0};

	switch (r->h.body) {
	case HTTP_BODY_LENGTH: c->body_need = r->h.content_length; break;
	case HTTP_BODY_CHUNKED:
		c->chunked_in = true;
		http_chunked_init(&c->ch);
		break;
	default: c->body_need = 0; break;
	}
	/* An error answered before the body is read keeps the connection only when the whole
	 * body is already here (it is then skipped). */
	bool body_here = !c->chunked_in && c->in_len - c->head_len >= c->body_need;
	if (body_here)
		c->req_end = c->head_len + (size_t)c->body_need;
	if (r->h.flags & HTTP_F_EXPECT_OTHER) {
		c->close_after |= !body_here;
		conn_fail_req(c, 417, -ERR_UNSUPPORTED,
			      "only the 100-continue expectation is supported");
		return;
	}
	if (!conn_route(c)) {
		c->close_after |= !body_here;
		conn_respond(c);
		return;
	}
	if ((r->h.flags & HTTP_F_EXPECT_CONTINUE) && !body_here) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		memcpy(c->out, cont, sizeof cont - 1);
		c->out_off = 0;
		c->out_len = sizeof cont - 1;
	}
	c->state = ST_BODY;
	conn_deadline(c, now_plus(c, s->lim.header_timeout_ms));
}

/* Read the body as far as the buffer goes; dispatch it once complete. */
static bool conn_body(struct api_conn *c)
{
	struct api_server *s = c->srv;
	if (!c->chunked_in) {
		if (c->in_len - c->head_len < c->body_need) {
			if (c->eof)
				conn_gone(c, "client closed mid-body", 0);
			return false;
		}
		c->body_len = (size_t)c->body_need;
		c->req_end = c->head_len + c->body_len;
		conn_dispatch(c);
		return true;
	}
	bool any = false;
	while (c->raw_off < c->in_len) {
		size_t used = 0;
		struct slice data = {NULL, 0};
		int rc = http_chunked_decode(&c->ch, (const char *)c->in + c->raw_off,
					     c->in_len - c->raw_off, &s->hlim, &used, &data);
		if (rc < 0) {
			c->close_after = true;
			conn_fail_req(c, http_error_status(rc), rc, "%s", err_str(rc));
			return true;
		}
		any = true;
		if (data.len) {
			memmove(c->in + c->head_len + c->body_len, data.p, data.len);
			c->body_len += data.len;
		}
		c->raw_off += used;
		if (rc == 1) {
			c->req_end = c->raw_off;
			conn_dispatch(c);
			return true;
		}
	}
	/* Everything received was decoded: reclaim the framing bytes. */
	c->in_len = c->head_len + c->body_len;
	c->raw_off = c->in_len;
	if (c->eof)
		conn_gone(c, "client closed mid-body", 0);
	return any;
}

/* Queue the last chunk of a stream; its handles go stale. */
static void conn_stream_end(struct api_conn *c)
{
	struct api_server *s = c->srv;
	if (c->stream_ended)
		return;
	if (c->chunked_out) {
		if (c->out_off == c->out_len)
			c->out_off = c->out_len = 0;
		if (s->out_cap - c->out_len < 8 && c->out_off > 0) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		struct buf b;
		buf_init(&b, c->out + c->out_len, s->out_cap - c->out_len);
		if (http_write_last_chunk(&b) == 0)
			c->out_len += b.len;
		else
			c->close_after = true; /* no room even for the last chunk: end by closing */
	}
	c->stream_ended = true;
	c->want_drain = false;
	c->seq++;
	c->resp.ev_fn = NULL;
	conn_deadline(c, now_plus(c, s->lim.idle_timeout_ms));
}

static void conn_dispatch(struct api_conn *c)
{
	struct api_server *s = c->srv;
	struct api_req *q = &c->areq;
	const struct api_route *r = c->route;

	q->body = (struct slice){(const char *)c->in + c->head_len, c->body_len};
	q->json = NULL;
	resp_reset(c);
	if (c->body_len && !(r->access & API_F_RAW_BODY)) {
		int rc = json_parse(&s->jdoc, q->body.p, q->body.len, s->toks,
				    s->lim.max_json_tokens);
		if (rc == -ERR_PARTIAL)
			rc = -ERR_JSON_PARSE;
		if (rc < 0) {
			conn_fail_req(c, 400, rc, "request body is not valid JSON (%s at byte %zu)",
				      err_str(rc), s->jdoc.err_off);
			return;
		}
		q->json = &s->jdoc;
	}
	c->state = ST_HANDLER;
	c->fin_requested = false;
	conn_deadline(c, 0);
	int rc = r->fn(q, &c->resp, r->arg);
	struct slice path = q->path; /* kept for the access log */
	memset(q, 0, sizeof *q);
	q->path = path;
	if (c->dead) {
		/* the write side failed during a stream push inside the handler */
		return;
	}
	enum api_resp_mode mode = c->resp.mode;
	if (rc == API_PENDING && mode == API_RESP_DEFERRED && !c->fin_requested) {
		c->state = ST_PENDING;
		if (s->lim.handler_timeout_ms)
			conn_deadline(c, now_plus(c, s->lim.handler_timeout_ms));
		return;
	}
	if (mode == API_RESP_STREAM) {
		c->state = ST_STREAM;
		if (rc < 0)
			log_warn("api stream handler failed after the head was sent", "err=%s",
				 err_name(rc));
		if (rc != API_PENDING || c->fin_requested)
			conn_stream_end(c); /* ended (or failed) inside the handler */
		if (c->out_off < c->out_len)
			conn_deadline(c, now_plus(c, s->lim.idle_timeout_ms));
		return;
	}
	if (rc == API_PENDING && mode != API_RESP_DEFERRED) {
		log_error("api handler returned API_PENDING without api_resp_defer or "
			  "api_resp_stream",
			  "route=\"%s %s\"", r->method, r->pattern);
		api_resp_error(&c->resp, 500, -ERR_INVAL,
			       "internal error: the handler lost the response");
	} else if (rc < 0) {
		api_resp_error(&c->resp, 0, rc, NULL);
	} else if (rc != API_DONE && rc != API_PENDING) {
		api_resp_error(&c->resp, 500, -ERR_INVAL, "internal error: bad handler result %d",
			       rc);
	}
	conn_respond(c);
}

/* Parse what arrived of a head. */
static bool conn_head(struct api_conn *c)
{
	struct api_server *s = c->srv;
	if (c->in_len == 0) {
		if (c->eof)
			c->dead = true; /* idle client left */
		return false;
	}
	int rc = http_parse_request(&c->req, (const char *)c->in, c->in_len, &s->hlim);
	if (rc == -ERR_PARTIAL) {
		if (c->eof) {
			c->dead = true;
			return false;
		}
		if (c->in_len == s->in_cap) {
			c->close_after = true;
			conn_fail_req(c, 431, -ERR_HTTP_HEADERS_TOO_LARGE, "%s",
				      err_str(-ERR_HTTP_HEADERS_TOO_LARGE));
			return true;
		}
		return false;
	}
	if (rc < 0) {
		memset(&c->areq, 0, sizeof c->areq);
		c->close_after = true;
		s->stats.requests++;
		conn_fail_req(c, http_error_status(rc), rc, "%s", err_str(rc));
		return true;
	}
	c->head_len = (size_t)rc;
	conn_start_request(c);
	return true;
}

/* The client's certificate decides who it is. false: the client was refused. */
static bool conn_identify(struct api_conn *c)
{
	struct api_server *s = c->srv;
	struct api_peer *p = &c->peer;
	enum tls_peer_status st = tls_conn_peer_status(c->tls);
	p->kind = API_PEER_ANON;
	if (st == TLS_PEER_REJECTED) {
		/* Optional client auth lets the handshake finish; a certificate that does not
		 * verify is refused here, before our Finished leaves, so the client sees its
		 * handshake fail. */
		s->stats.tls_rejected_cert++;
		log_info("api client certificate rejected", "peer=%s reason=%s", p->addr,
			 tls_br_err_name(tls_conn_peer_br_error(c->tls)));
		c->dead = true;
		return false;
	}
	size_t cert_len = 0;
	const uint8_t *cert = NULL;
	if (st == TLS_PEER_VERIFIED) {
		size_t dn_len = 0;
		const uint8_t *dn = tls_conn_peer_dn(c->tls, &dn_len);
		struct pki_identity id;
		if (!dn || pki_name_identity(dn, dn_len, &id) != 0) {
			s->stats.tls_rejected_cert++;
			log_info("api client certificate has no usable identity", "peer=%s",
				 p->addr);
			c->dead = true;
			return false;
		}
		switch (id.role) {
		case PKI_ROLE_ADMIN: p->kind = API_PEER_ADMIN; break;
		case PKI_ROLE_CONTROL: p->kind = API_PEER_CONTROL; break;
		case PKI_ROLE_DATA: p->kind = API_PEER_DATA; break;
		case PKI_ROLE_NONE: p->kind = API_PEER_ANON; break;
		}
		snprintf(p->id, sizeof p->id, "%s", id.id);
		snprintf(p->cluster, sizeof p->cluster, "%s", id.cluster);
		const uint8_t *h = tls_conn_peer_cert_sha256(c->tls);
		if (h) {
			memcpy(p->cert_sha256, h, sizeof p->cert_sha256);
			p->has_cert = true;
		}
		cert = tls_conn_peer_cert(c->tls, &cert_len);
	}
	if (s->peer_check) {
		int rc = s->peer_check(p, cert, cert ? cert_len : 0, s->peer_check_arg);
		if (rc < 0) {
			log_info("api client refused by the peer check", "peer=%s id=%s err=%s",
				 p->addr, p->id, err_name(rc));
			c->dead = true;
			return false;
		}
	}
	c->state = ST_HEAD;
	return true;
}

/* Handshake output goes through out[] instead of straight to the socket: each flight is
 * taken from the engine (send_buf/ack) before it is sent. When taking a flight completes the
 * handshake, that flight ends with our Finished, and the client certificate is judged before
 * it leaves: a client whose certificate is refused never completes its handshake. */
static void hs_pump(struct api_conn *c)
{
	for (;;) {
		while (c->hs_off < c->hs_len) {
			ssize_t n = send(c->fd, c->out + c->hs_off, c->hs_len - c->hs_off,
					 MSG_NOSIGNAL);
			if (n > 0) {
				c->hs_off += (size_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			c->srv->stats.tls_failed++;
			conn_gone(c, "handshake write failed", n < 0 ? err_from_errno(errno) : 0);
			return;
		}
		c->hs_off = c->hs_len = 0;
		if (c->state != ST_HANDSHAKE)
			return;
		size_t len = 0;
		const uint8_t *p = tls_conn_send_buf(c->tls, &len);
		if (p && len) {
			size_t n = len < c->srv->out_cap ? len : c->srv->out_cap;
			memcpy(c->out, p, n);
			tls_conn_send_ack(c->tls, n);
			c->hs_len = n;
		}
		if (tls_conn_error(c->tls)) {
			c->srv->stats.tls_failed++;
			c->dead = true;
			return;
		}
		if (tls_conn_handshake_done(c->tls) && !conn_identify(c)) {
			c->hs_len = 0; /* our Finished never leaves */
			return;
		}
		if (!c->hs_len)
			return;
	}
}

static bool conn_process(struct api_conn *c)
{
	switch (c->state) {
	case ST_HEAD: return conn_head(c);
	case ST_BODY: return conn_body(c);
	case ST_WRITE:
		if (c->out_len == 0) {
			conn_response_done(c);
			return true;
		}
		return false;
	case ST_STREAM:
		if (c->out_len != 0)
			return false;
		if (c->stream_ended) {
			conn_response_done(c);
			return true;
		}
		if (c->want_drain && c->resp.ev_fn) {
			c->want_drain = false;
			c->resp.ev_fn(c->srv, conn_handle(c), API_EV_DRAINED, c->resp.ev_arg);
			return true;
		}
		c->want_drain = false;
		return false;
	case ST_CLOSING:
		if (c->tls && (tls_conn_want(c->tls) & TLS_WANT_WRITE))
			tls_conn_on_writable(c->tls, c->fd);
		if (c->tls && !tls_conn_done(c->tls) && (tls_conn_want(c->tls) & TLS_WANT_WRITE))
			return false; /* close_notify still going out */
		if (c->eof || (c->tls && tls_conn_done(c->tls)))
			c->dead = true;
		return false;
	case ST_PENDING:
	case ST_HANDSHAKE:
	case ST_HANDLER: return false;
	}
	return false;
}

static void conn_on_timeout(struct api_conn *c)
{
	struct api_server *s = c->srv;
	s->stats.timeouts++;
	switch (c->state) {
	case ST_HANDSHAKE:
		s->stats.tls_failed++;
		log_debug("api TLS handshake timed out", "peer=%s", c->peer.addr);
		c->dead = true;
		return;
	case ST_HEAD:
	case ST_BODY:
		if (c->state == ST_HEAD && !c->req_started) {
			/* idle keep-alive, or nothing ever sent: a quiet close (with close_notify,
			 * best effort, so a TLS client sees a clean end) */
			if (c->tls) {
				tls_conn_close(c->tls);
				tls_conn_on_writable(c->tls, c->fd);
			}
			c->dead = true;
			return;
		}
		memset(&c->areq, 0, sizeof c->areq);
		c->close_after = true;
		conn_fail_req(c, 408, -ERR_TIMEOUT, "request %s not received within %u ms",
			      c->state == ST_HEAD ? "head" : "body", s->lim.header_timeout_ms);
		return;
	case ST_PENDING: {
		api_event_fn fn;
		void *arg = NULL;
		struct api_handle h;
		conn_abandon_resp(c, &fn, &arg, &h);
		c->close_after = true;
		resp_reset(c);
		api_resp_error(&c->resp, 504, -ERR_TIMEOUT, "no response within %u ms",
			       s->lim.handler_timeout_ms);
		conn_respond(c);
		if (fn)
			fn(s, h, API_EV_CLOSED, arg);
		return;
	}
	case ST_STREAM:
	case ST_WRITE:
		log_debug("api client stopped reading", "peer=%s", c->peer.addr);
		c->dead = true;
		return;
	case ST_CLOSING:
	case ST_HANDLER: c->dead = true; return;
	}
}

/* One pass over the client: TLS records, input, requests, output. */
static void conn_step(struct api_conn *c)
{
	uint32_t ev = c->ev;
	c->ev = 0;
	if (c->timed_out && c->state == ST_HANDSHAKE) {
		c->timed_out = false;
		conn_on_timeout(c);
		return;
	}
	if (c->tls) {
		if (ev & (LOOP_READ | LOOP_RDHUP | LOOP_HUP | LOOP_ERR))
			tls_conn_on_readable(c->tls, c->fd);
		if (c->state == ST_HANDSHAKE || c->hs_len) {
			if (tls_conn_error(c->tls)) {
				c->srv->stats.tls_failed++;
				log_debug("api TLS handshake failed", "peer=%s err=\"%s\"",
					  c->peer.addr, tls_conn_errmsg(c->tls));
				c->dead = true;
				return;
			}
			hs_pump(c);
			if (c->dead || c->state == ST_HANDSHAKE || c->hs_len)
				return;
		} else if (ev & LOOP_WRITE) {
			tls_conn_on_writable(c->tls, c->fd);
		}
	} else if (ev & (LOOP_HUP | LOOP_ERR)) {
		/* both directions are gone: nobody will read an answer */
		conn_gone(c, "hang-up", 0);
		return;
	}
	if (c->timed_out) {
		c->timed_out = false;
		conn_on_timeout(c);
		if (c->dead)
			return;
	}
	for (int pass = 0; pass < 64 && !c->dead; pass++) {
		bool any = conn_fill(c);
		if (c->dead)
			return;
		any |= conn_process(c);
		if (c->dead)
			return;
		any |= conn_flush(c);
		if (!any)
			break;
	}
	if (c->dead || !c->tls)
		return;
	if (tls_conn_want(c->tls) & TLS_WANT_WRITE)
		tls_conn_on_writable(c->tls, c->fd);
	int err = tls_conn_error(c->tls);
	if (err) {
		conn_gone(c, tls_conn_errmsg(c->tls), err);
		return;
	}
	if (tls_conn_done(c->tls))
		c->dead = true;
}

static void conn_interest(struct api_conn *c)
{
	uint32_t want = 0;
	if (c->tls) {
		want = tls_conn_want(c->tls);
		if (c->hs_off < c->hs_len)
			want |= LOOP_WRITE;
	} else {
		if (conn_wants_input(c))
			want |= LOOP_READ;
		if (c->out_off < c->out_len)
			want |= LOOP_WRITE;
	}
	if (want == c->interest)
		return;
	if (loop_mod_fd(c->srv->loop, c->fd, want) == 0)
		c->interest = want;
	else
		c->dead = true;
}

static void conn_kick(struct api_conn *c)
{
	if (c->running) {
		c->rerun = true;
		return;
	}
	c->running = true;
	while (!c->dead) {
		c->rerun = false;
		conn_step(c);
		if (!c->rerun)
			break;
	}
	if (!c->dead)
		conn_interest(c);
	c->running = false;
	if (c->dead)
		conn_free(c);
}

static void on_conn_fd(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct api_conn *c = arg;
	(void)l;
	(void)fd;
	c->ev |= events;
	conn_kick(c);
}

static void conn_free(struct api_conn *c)
{
	struct api_server *s = c->srv;
	api_event_fn fn;
	void *arg = NULL;
	struct api_handle h;
	conn_abandon_resp(c, &fn, &arg, &h);
	loop_del_fd(s->loop, c->fd);
	close(c->fd);
	if (c->timer_at)
		loop_timer_cancel(s->loop, c->timer);
	if (c->tls) {
		tls_conn_wipe(c->tls);
		pool_put(&s->tls, c->tls);
		s->stats.tls_clients--;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		s->live = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->stats.clients--;
	pool_put(&s->conns, c);
	if (fn)
		fn(s, h, API_EV_CLOSED, arg);
}

/* Accepting -------------------------------------------------------------------------------- */

static bool log_full_now(struct api_server *s)
{
	uint64_t now = loop_now_ms(s->loop);
	if (s->last_full_log_ms && now - s->last_full_log_ms < 1000)
		return false;
	s->last_full_log_ms = now ? now : 1;
	return true;
}

/* A plaintext client over the cap gets a JSON 503 (best effort: one non-blocking send). */
static void refuse_full(struct api_server *s, struct api_listener *ls, int fd)
{
	s->stats.refused_full++;
	if (log_full_now(s))
		log_warn("api client refused", "err=%s clients=%u", err_name(-ERR_API_CLIENTS_FULL),
			 s->stats.clients);
	if (ls->kind == API_LISTEN_TLS)
		return;
	char body[160], msg[400];
	int bl = snprintf(body, sizeof body, "{\"error\":\"%s\",\"code\":\"%s\"}",
			  err_str(-ERR_API_CLIENTS_FULL), err_name(-ERR_API_CLIENTS_FULL));
	int ml = snprintf(msg, sizeof msg,
			  "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
			  "Content-Length: %d\r\nCache-Control: no-store\r\nConnection: close\r\n"
			  "Retry-After: 1\r\n\r\n%s",
			  bl, body);
	ssize_t n = send(fd, msg, (size_t)ml, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)n;
	shutdown(fd, SHUT_WR);
}

static void conn_accept(struct api_server *s, struct api_listener *ls, int fd,
			const struct sockaddr_storage *ss)
{
	struct api_conn *c;
	if (pool_get(&s->conns, (void **)&c) != 0) {
		refuse_full(s, ls, fd);
		close(fd);
		return;
	}
	c->srv = s;
	c->ls = ls;
	c->fd = fd;
	peer_addr(&c->peer, ss);
	if (ls->kind == API_LISTEN_TLS) {
		void *t;
		if (pool_get(&s->tls, &t) != 0) {
			s->stats.refused_tls_full++;
			if (log_full_now(s))
				log_warn("api TLS client refused", "err=%s tls_clients=%u",
					 err_name(-ERR_API_TLS_CLIENTS_FULL), s->stats.tls_clients);
			pool_put(&s->conns, c);
			close(fd);
			return;
		}
		c->tls = t;
		int rc = tls_conn_init_server(c->tls, ls->tls, s->rng);
		if (rc) {
			log_error("api TLS set-up failed", "err=\"%s\"", tls_conn_errmsg(c->tls));
			tls_conn_wipe(c->tls);
			pool_put(&s->tls, c->tls);
			pool_put(&s->conns, c);
			close(fd);
			return;
		}
		c->state = ST_HANDSHAKE;
	} else {
		c->state = ST_HEAD;
		if (ls->kind == API_LISTEN_UNIX) {
			struct ucred cred;
			socklen_t cl = sizeof cred;
			c->peer.kind = API_PEER_LOCAL;
			snprintf(c->peer.id, sizeof c->peer.id, "local");
			if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0) {
				c->peer.pid = cred.pid;
				c->peer.uid = cred.uid;
			}
		}
	}
	uint32_t idx = pool_handle_of(&s->conns, c).index;
	uint8_t *slot = s->bufs + (size_t)idx * s->slot_bytes;
	size_t hb = align16(s->lim.max_headers * sizeof(struct http_header));
	c->hdr = (struct http_header *)(void *)slot;
	c->in = slot + hb;
	c->out = slot + hb + align16(s->in_cap);
	http_request_init(&c->req, c->hdr, s->lim.max_headers);
	c->seq = 1;
	if (loop_add_fd(s->loop, fd, LOOP_READ, on_conn_fd, c) != 0) {
		if (log_full_now(s))
			log_warn("api client refused", "err=%s", err_name(-ERR_LOOP_FULL));
		if (c->tls) {
			tls_conn_wipe(c->tls);
			pool_put(&s->tls, c->tls);
		}
		pool_put(&s->conns, c);
		close(fd);
		return;
	}
	c->interest = LOOP_READ;
	c->next = s->live;
	if (s->live)
		s->live->prev = c;
	s->live = c;
	s->stats.accepted++;
	s->stats.clients++;
	if (c->tls)
		s->stats.tls_clients++;
	conn_deadline(c, now_plus(c, s->lim.header_timeout_ms));
	if (c->dead) {
		conn_free(c);
		return;
	}
}

static void on_listen_resume(struct loop *l, void *arg)
{
	struct api_listener *ls = arg;
	ls->pause = (struct loop_timer_id){0, 0};
	if (ls->fd >= 0)
		loop_mod_fd(l, ls->fd, LOOP_READ);
}

static void on_listen_fd(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct api_listener *ls = arg;
	struct api_server *s = ls->srv;
	(void)events;
	for (int i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		memset(&ss, 0, sizeof ss);
		int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Out of descriptors: stop accepting for a moment rather than spin.
				 */
				if (log_full_now(s))
					log_warn("api accept failed; pausing", "errno=%d", errno);
				if (loop_mod_fd(l, fd, 0) == 0 &&
				    loop_timer_add(l, ACCEPT_PAUSE_MS, on_listen_resume, ls,
						   &ls->pause) != 0)
					loop_mod_fd(l, fd, LOOP_READ);
			}
			return;
		}
		conn_accept(s, ls, cfd, &ss);
	}
}

/* Listening -------------------------------------------------------------------------------- */

static struct api_listener *listener_slot(struct api_server *s)
{
	for (int i = 0; i < API_LISTENERS_MAX; i++)
		if (s->ls[i].fd < 0)
			return &s->ls[i];
	return NULL;
}

static int listener_start(struct api_server *s, struct api_listener *ls, int fd)
{
	if (listen(fd, 128) != 0) {
		int e = errno;
		snprintf(s->errmsg, sizeof s->errmsg, "api listen: %s", strerror(e));
		return err_from_errno(e);
	}
	int rc = loop_add_fd(s->loop, fd, LOOP_READ, on_listen_fd, ls);
	if (rc) {
		snprintf(s->errmsg, sizeof s->errmsg, "api listen: %s", s->loop->errmsg);
		return rc;
	}
	ls->fd = fd;
	ls->srv = s;
	return (int)(ls - s->ls);
}

int api_server_listen_unix(struct api_server *s, const char *path)
{
	if (!s->ready || !path || !path[0])
		return -ERR_INVAL;
	struct api_listener *ls = listener_slot(s);
	if (!ls)
		return -ERR_API_LISTENERS_FULL;
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(s->errmsg, sizeof s->errmsg, "api socket path over %zu bytes: %s",
			 sizeof sa.sun_path - 1, path);
		return -ERR_RANGE;
	}
	memcpy(sa.sun_path, path, strlen(path));
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(s->errmsg, sizeof s->errmsg,
				 "%s exists and is not a socket; not replacing it", path);
			return -ERR_EXISTS;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe < 0)
			return err_from_errno(errno);
		int cr = connect(probe, (struct sockaddr *)&sa, sizeof sa);
		int ce = errno;
		close(probe);
		if (cr == 0) {
			snprintf(s->errmsg, sizeof s->errmsg,
				 "%s is in use by another process (is a node already running?)",
				 path);
			return -ERR_EXISTS;
		}
		if (ce != ECONNREFUSED) {
			snprintf(s->errmsg, sizeof s->errmsg, "cannot check %s: %s", path,
				 strerror(ce));
			return err_from_errno(ce);
		}
		unlink(path); /* stale: left by a node that died */
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_from_errno(errno);
	/* The socket file takes its mode from the umask at bind(2): 0600 from the start, so no
	 * other user can connect even for an instant. Start-up only (umask is per process). */
	mode_t old = umask(0177);
	int br = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	int be = errno;
	umask(old);
	if (br != 0 || chmod(path, 0600) != 0 || lstat(path, &st) != 0) {
		int e = br != 0 ? be : errno;
		snprintf(s->errmsg, sizeof s->errmsg, "cannot bind %s: %s", path, strerror(e));
		close(fd);
		if (br == 0)
			unlink(path);
		return err_from_errno(e);
	}
	ls->kind = API_LISTEN_UNIX;
	ls->tls = NULL;
	ls->port = 0;
	snprintf(ls->path, sizeof ls->path, "%s", path);
	ls->dev = st.st_dev;
	ls->ino = st.st_ino;
	int rc = listener_start(s, ls, fd);
	if (rc < 0) {
		close(fd);
		unlink(path);
		ls->fd = -1;
		return rc;
	}
	log_info("api listening", "socket=%s mode=0600", path);
	return rc;
}

int api_addr_split(const char *addr, char *host, size_t hcap, uint16_t *port)
{
	if (!addr || !host || hcap == 0 || !port)
		return -ERR_INVAL;
	host[0] = 0;
	const char *colon;
	struct slice h;
	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');
		if (!end || end[1] != ':')
			return -ERR_INVAL;
		h = (struct slice){addr + 1, (size_t)(end - addr - 1)};
		colon = end + 1;
		if (h.len == 0)
			return -ERR_INVAL;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return -ERR_INVAL;
		h = (struct slice){addr, (size_t)(colon - addr)};
		if (memchr(h.p, ':', h.len))
			return -ERR_INVAL; /* a bare IPv6 address needs brackets */
	}
	uint64_t p;
	if (slice_to_u64(slice_from_cstr(colon + 1), 65535, &p) != 0)
		return -ERR_INVAL;
	for (size_t i = 0; i < h.len; i++)
		if ((unsigned char)h.p[i] <= ' ' || h.p[i] == '/' || h.p[i] == '[' ||
		    h.p[i] == ']' || (unsigned char)h.p[i] >= 0x7f)
			return -ERR_INVAL;
	if (h.len >= hcap)
		return -ERR_BUF_FULL;
	memcpy(host, h.p, h.len);
	host[h.len] = 0;
	*port = (uint16_t)p;
	return 0;
}

int api_server_listen_tcp(struct api_server *s, const char *addr,
			  const struct tls_server_config *tls)
{
	if (!s->ready || !addr)
		return -ERR_INVAL;
	struct api_listener *ls = listener_slot(s);
	if (!ls)
		return -ERR_API_LISTENERS_FULL;
	if (tls && tls->ncerts == 0) {
		snprintf(s->errmsg, sizeof s->errmsg,
			 "api listen %s: TLS config has no certificate", addr);
		return -ERR_TLS_CONFIG;
	}
	if (tls && s->lim.max_tls_clients == 0) {
		snprintf(s->errmsg, sizeof s->errmsg, "api listen %s: max_tls_clients is 0", addr);
		return -ERR_INVAL;
	}
	char host[INET6_ADDRSTRLEN + 1];
	uint16_t port;
	int rc = api_addr_split(addr, host, sizeof host, &port);
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (rc == 0 && host[0] == 0) {
		a4->sin_family = AF_INET;
		a4->sin_addr.s_addr = htonl(INADDR_ANY);
		a4->sin_port = htons(port);
		sl = sizeof *a4;
	} else if (rc == 0 && inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		sl = sizeof *a4;
	} else if (rc == 0 && inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		sl = sizeof *a6;
	} else {
		snprintf(s->errmsg, sizeof s->errmsg,
			 "api listen address %s: want host:port with a numeric host", addr);
		return -ERR_INVAL;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_from_errno(errno);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
		int e = errno;
		snprintf(s->errmsg, sizeof s->errmsg, "cannot listen on %s: %s", addr, strerror(e));
		close(fd);
		return e == EADDRINUSE ? -ERR_EXISTS : err_from_errno(e);
	}
	struct sockaddr_storage bound;
	socklen_t bl = sizeof bound;
	if (getsockname(fd, (struct sockaddr *)&bound, &bl) == 0)
		port = ntohs(bound.ss_family == AF_INET
				     ? ((struct sockaddr_in *)&bound)->sin_port
				     : ((struct sockaddr_in6 *)&bound)->sin6_port);
	ls->kind = tls ? API_LISTEN_TLS : API_LISTEN_TCP;
	ls->tls = tls;
	ls->port = port;
	ls->path[0] = 0;
	rc = listener_start(s, ls, fd);
	if (rc < 0) {
		close(fd);
		ls->fd = -1;
		return rc;
	}
	log_info("api listening", "addr=%s port=%u tls=%s", addr, port, tls ? "mutual" : "off");
	return rc;
}

int api_server_swap_tls(struct api_server *s, const struct tls_server_config *old,
			const struct tls_server_config *tls)
{
	int n = 0;
	for (int i = 0; i < API_LISTENERS_MAX; i++)
		if (s->ls[i].fd >= 0 && s->ls[i].tls == old && tls) {
			s->ls[i].tls = tls;
			n++;
		}
	return n;
}

uint16_t api_server_port(const struct api_server *s, int index)
{
	if (index < 0 || index >= API_LISTENERS_MAX || s->ls[index].fd < 0)
		return 0;
	return s->ls[index].port;
}

int api_tls_server_config(struct tls_server_config *cfg, void *store, size_t store_cap,
			  const void *chain_pem, size_t chain_len, const void *key_pem,
			  size_t key_len, const void *ca_pem, size_t ca_len)
{
	int rc = tls_server_config_init(cfg, store, store_cap);
	if (rc)
		return rc;
	rc = tls_server_add_cert(cfg, NULL, chain_pem, chain_len, key_pem, key_len,
				 TLS_CERT_DEFAULT);
	if (rc < 0)
		return rc;
	rc = tls_server_add_client_ca(cfg, ca_pem, ca_len);
	if (rc < 0)
		return rc;
	return tls_server_set_client_auth(cfg, TLS_CLIENT_AUTH_OPTIONAL);
}

/* Handler helpers ------------------------------------------------------------------------- */

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decode in into out (NUL-terminated). */
static int pct_decode(struct slice in, char *out, size_t cap, bool plus_space, bool no_slash)
{
	size_t n = 0;
	if (cap == 0)
		return -ERR_BUF_FULL;
	for (size_t i = 0; i < in.len; i++) {
		char ch = in.p[i];
		if (ch == '%') {
			int hi = i + 1 < in.len ? hexval(in.p[i + 1]) : -1;
			int lo = i + 2 < in.len ? hexval(in.p[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return -ERR_PARSE;
			ch = (char)(hi * 16 + lo);
			i += 2;
			if (ch == 0 || (no_slash && ch == '/'))
				return -ERR_PARSE;
		} else if (plus_space && ch == '+') {
			ch = ' ';
		}
		if (n + 1 >= cap) {
			out[0] = 0;
			return -ERR_BUF_FULL;
		}
		out[n++] = ch;
	}
	out[n] = 0;
	return (int)n;
}

int api_req_param(const struct api_req *req, const char *name, char *out, size_t cap)
{
	for (size_t i = 0; i < req->nparams; i++)
		if (slice_eq_cstr(req->param_names[i], name))
			return pct_decode(req->params[i], out, cap, false, true);
	return -ERR_NOTFOUND;
}

int api_req_query(const struct api_req *req, const char *key, char *out, size_t cap)
{
	struct slice rest = req->query, item;
	while (rest.p && rest.len) {
		item = slice_cut(rest, '&', &rest);
		struct slice val;
		struct slice k = slice_cut(item, '=', &val);
		char kbuf[128];
		if (pct_decode(k, kbuf, sizeof kbuf, true, false) < 0)
			continue;
		if (strcmp(kbuf, key) != 0)
			continue;
		if (!val.p) {
			if (cap == 0)
				return -ERR_BUF_FULL;
			out[0] = 0;
			return 0;
		}
		return pct_decode(val, out, cap, true, false);
	}
	return -ERR_NOTFOUND;
}

struct slice api_req_header(const struct api_req *req, const char *name)
{
	const struct http_head *h = &req->http->h;
	for (size_t i = 0; i < h->nhdr; i++)
		if (slice_eq_cstr_ci(h->hdr[i].name, name))
			return h->hdr[i].value;
	return (struct slice){NULL, 0};
}

/* Deferred and streaming responses ------------------------------------------------------- */

int api_resp_defer(struct api_resp *resp, struct api_handle *out)
{
	struct api_conn *c = conn_of_resp(resp);
	if (c->state != ST_HANDLER || resp->mode != API_RESP_NORMAL)
		return -ERR_INVAL;
	resp->mode = API_RESP_DEFERRED;
	if (out)
		*out = conn_handle(c);
	return API_PENDING;
}

static struct api_conn *conn_resolve(struct api_server *s, struct api_handle h,
				     enum api_resp_mode mode)
{
	struct api_conn *c = pool_deref(&s->conns, h.conn);
	if (!c || c->dead || c->seq != h.seq || c->resp.mode != mode)
		return NULL;
	if (c->state != ST_HANDLER &&
	    c->state != (mode == API_RESP_STREAM ? ST_STREAM : ST_PENDING))
		return NULL;
	return c;
}

struct api_resp *api_resp_get(struct api_server *s, struct api_handle h)
{
	struct api_conn *c = conn_resolve(s, h, API_RESP_DEFERRED);
	return c && !c->fin_requested ? &c->resp : NULL;
}

int api_resp_finish(struct api_server *s, struct api_handle h)
{
	struct api_conn *c = conn_resolve(s, h, API_RESP_DEFERRED);
	if (!c || c->fin_requested)
		return -ERR_NOTFOUND;
	if (c->state == ST_HANDLER) {
		c->fin_requested = true; /* sent when the handler returns */
		return 0;
	}
	conn_respond(c);
	conn_kick(c);
	return 0;
}

void api_resp_on_event(struct api_resp *resp, api_event_fn fn, void *arg)
{
	resp->ev_fn = fn;
	resp->ev_arg = arg;
}

int api_resp_stream(struct api_resp *resp, struct api_handle *out)
{
	struct api_conn *c = conn_of_resp(resp);
	if (c->state != ST_HANDLER || resp->mode != API_RESP_NORMAL)
		return -ERR_INVAL;
	resp->mode = API_RESP_STREAM;
	c->chunked_out = c->req.h.minor == 1;
	if (!c->chunked_out)
		c->close_after = true; /* HTTP/1.0: the body ends when we close */
	resp->body.len = 0;
	resp->json_used = false;
	conn_queue_head(c, true);
	if (out)
		*out = conn_handle(c);
	return API_PENDING;
}

ssize_t api_stream_push(struct api_server *s, struct api_handle h, const void *data, size_t len)
{
	struct api_conn *c = conn_resolve(s, h, API_RESP_STREAM);
	if (!c)
		return -ERR_NOTFOUND;
	if (len == 0 || c->stream_ended || c->fin_requested)
		return -ERR_INVAL;
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	size_t room = s->out_cap - c->out_len;
	if (room < len + API_STREAM_OVERHEAD && c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		room = s->out_cap - c->out_len;
	}
	size_t n = room > API_STREAM_OVERHEAD ? room - API_STREAM_OVERHEAD : 0;
	if (n > len)
		n = len;
	if (n < len)
		c->want_drain = true;
	if (n == 0)
		return 0;
	struct buf b;
	buf_init(&b, c->out + c->out_len, s->out_cap - c->out_len);
	if (c->chunked_out) {
		int rc = http_write_chunk_size(&b, n);
		rc = rc ? rc : buf_append(&b, data, n);
		rc = rc ? rc : http_write_chunk_end(&b);
		if (rc)
			return rc; /* cannot happen: room was checked */
	} else {
		buf_append(&b, data, n);
	}
	bool was_empty = c->out_off == c->out_len;
	c->out_len += b.len;
	if (was_empty)
		conn_deadline(c, now_plus(c, s->lim.idle_timeout_ms));
	conn_kick(c);
	return (ssize_t)n;
}

int api_stream_end(struct api_server *s, struct api_handle h)
{
	struct api_conn *c = conn_resolve(s, h, API_RESP_STREAM);
	if (!c || c->stream_ended || c->fin_requested)
		return -ERR_NOTFOUND;
	if (c->state == ST_HANDLER) {
		c->fin_requested = true;
		return 0;
	}
	conn_stream_end(c);
	conn_kick(c);
	return 0;
}
