/* proxy_forward.c — what crosses the proxy: body framing of each direction, the request head
 * sent upstream, the response head sent to the client, and responses the proxy makes.
 *
 * Framing (RFC 9112 §6, §7.1). Bodies are streamed through the connection's fixed buffers,
 * never held whole. Content-Length bodies are counted down; chunked bodies are run through
 * the strict decoder (http_chunked_decode), which finds the end of the message and rejects
 * anything two implementations could frame differently, and are forwarded byte for byte as
 * received (so chunk boundaries, extensions and trailers cross unchanged) — except towards an
 * HTTP/1.0 client, which cannot read chunked: the data is then moved down in place and the
 * response is delimited by closing the connection.
 *
 * Heads. Every field value written comes either from the parser (already checked against the
 * field-value grammar: no CR, LF or NUL can reach a head) or from the validated routing
 * table, so fields are appended directly. Hop-by-hop fields (Connection, Keep-Alive,
 * Proxy-Connection, TE, Transfer-Encoding, Upgrade and every field Connection names;
 * RFC 9110 §7.6.1) never cross; the framing fields are regenerated for the framing this side
 * uses.
 */
#include "proxy/proxy_engine_int.h"
#include "proxy/proxy_ptc.h"
#include "proxy/proxy_secure.h"

#include "base/base_err.h"
#include "http/http_write.h"

#include <string.h>

/* ---- framing ------------------------------------------------------------------------------ */

void proxy_stream_body(struct proxy_stream *s, uint8_t mode, uint64_t length)
{
	s->mode = mode;
	s->left = length;
	s->body = 0;
	s->done = mode == PM_NONE || (mode == PM_LENGTH && length == 0);
	if (mode == PM_CHUNKED || mode == PM_DECHUNK)
		http_chunked_init(&s->slot->ck);
}

int proxy_stream_frame(struct proxy_stream *s, const struct http_limits *lim)
{
	while (!s->done && s->parse < s->end) {
		uint32_t avail = s->end - s->parse;
		switch (s->mode) {
		case PM_LENGTH: {
			uint32_t n = s->left < avail ? (uint32_t)s->left : avail;
			s->parse += n;
			s->ready = s->parse;
			s->left -= n;
			s->body += n;
			if (s->left == 0)
				s->done = 1;
			break;
		}
		case PM_CHUNKED:
		case PM_DECHUNK: {
			size_t used = 0;
			struct slice d = {NULL, 0};
			int rc = http_chunked_decode(&s->slot->ck, (const char *)s->b + s->parse,
						     avail, lim, &used, &d);
			if (rc < 0)
				return rc;
			if (s->mode == PM_DECHUNK) {
				if (d.len)
					memmove(s->b + s->ready, d.p, d.len);
				s->ready += (uint32_t)d.len;
				s->parse += (uint32_t)used;
			} else {
				s->parse += (uint32_t)used;
				s->ready = s->parse;
			}
			s->body += d.len;
			if (rc == 1)
				s->done = 1;
			break;
		}
		case PM_CLOSE:
		case PM_TUNNEL:
			s->parse = s->end;
			s->ready = s->end;
			s->body += avail;
			break;
		default: s->done = 1; break;
		}
	}
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

struct slice proxy_hdr_find(const struct http_header *h, size_t n, const char *name)
{
	struct slice nm = slice_from_cstr(name); /* one strlen, not one per field */
	for (size_t i = 0; i < n; i++)
		if (h[i].name.len == nm.len && slice_eq_ci(h[i].name, nm))
			return h[i].value;
	return (struct slice){NULL, 0};
}

/* "name: value\r\n" from checked parts (see the top comment). */
static int put_field(struct buf *b, struct slice name, struct slice value)
{
	if (buf_avail(b) < name.len + value.len + 4)
		return -ERR_BUF_FULL;
	uint8_t *d = b->data + b->len; /* a local cursor: b->len is stored once */
	http_copy_short(d, name.p, name.len);
	d += name.len;
	*d++ = ':';
	*d++ = ' ';
	http_copy_short(d, value.p, value.len); /* an empty value may be {NULL, 0} */
	d += value.len;
	*d++ = '\r';
	*d++ = '\n';
	b->len = (size_t)(d - b->data);
	return 0;
}

/* A field whose name is a string literal (the "" "" makes anything else a compile error): its
 * length is known at compile time, no strlen per field. */
#define put_field_c(b, name, ...) put_field((b), SLICE_LIT("" name ""), (__VA_ARGS__))

static bool kv_has_any(const struct proxy_kv *kv, uint32_t n, struct slice name)
{
	for (uint32_t i = 0; i < n; i++)
		if (slice_eq_ci(kv[i].name, name))
			return true;
	return false;
}

/* Whether kv[0..n) names the field (case-insensitive). Most frontends set no custom header:
 * the n == 0 test stays at the call site. */
static inline bool kv_has(const struct proxy_kv *kv, uint32_t n, struct slice name)
{
	return n && kv_has_any(kv, n, name);
}

/* Fields a custom header never sets (Traefik v1's Go transport and oxy drop them too): framing
 * is regenerated, hop-by-hop fields never cross, Host is written once by the caller. */
static bool custom_reserved(struct slice name)
{
	static const char *const r[] = {"Host",       "Content-Length",   "Transfer-Encoding",
					"Connection", "Proxy-Connection", "Keep-Alive",
					"TE",         "Trailer",          "Upgrade"};
	for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
		if (slice_eq_cstr_ci(name, r[i]))
			return true;
	return false;
}

static int put_custom(struct buf *b, const struct proxy_kv *kv, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (kv[i].value.len == 0 || custom_reserved(kv[i].name))
			continue; /* empty value: the field is removed */
		int rc = put_field(b, kv[i].name, kv[i].value);
		if (rc)
			return rc;
	}
	return 0;
}

/* Authentication (proxy-auth.md): after a removeHeader auth the Authorization field stays
 * here; a client's own copy of a headerField the proxy fills never passes. */
static bool auth_drops(const struct proxy_conn *c, const struct proxy_entrypoint *ep,
		       const struct proxy_frontend *fe, struct slice name)
{
	if (!c->auth_user.len)
		return false;
	if (c->auth_strip && slice_eq_cstr_ci(name, "Authorization"))
		return true;
	return (ep->auth.enabled && ep->auth.header_field.len &&
		slice_eq_ci(name, ep->auth.header_field)) ||
	       (fe->auth.enabled && fe->auth.header_field.len &&
		slice_eq_ci(name, fe->auth.header_field));
}

/* headerField: the authenticated user name upstream (unless a custom header sets it). */
static int put_auth_user(struct buf *b, const struct proxy_conn *c, const struct proxy_auth *au,
			 const struct proxy_kv *cust, uint32_t ncust)
{
	if (!c->auth_user.len || !au->enabled || !au->header_field.len ||
	    kv_has(cust, ncust, au->header_field))
		return 0;
	return put_field(b, au->header_field, c->auth_user);
}

/* The X-Forwarded-* family: dropped from untrusted peers, regenerated by us. */
enum xf {
	XF_FOR = 1u << 0,
	XF_PROTO = 1u << 1,
	XF_HOST = 1u << 2,
	XF_PORT = 1u << 3,
	XF_SERVER = 1u << 4,
	XF_REAL_IP = 1u << 5,
	XF_PREFIX = 1u << 6,
	XF_REPLACED = 1u << 7,
	XF_PTC = 1u << 8, /* passTLSCert / passTLSClientCert fields (proxy_ptc.h) */
};

static unsigned xf_of(struct slice name)
{
	static const struct {
		const char *name;
		unsigned bit;
	} xf[] = {
		{"X-Forwarded-For", XF_FOR},       {"X-Forwarded-Proto", XF_PROTO},
		{"X-Forwarded-Host", XF_HOST},     {"X-Forwarded-Port", XF_PORT},
		{"X-Forwarded-Server", XF_SERVER}, {"X-Real-Ip", XF_REAL_IP},
		{"X-Forwarded-Prefix", XF_PREFIX}, {"X-Replaced-Path", XF_REPLACED},
	};
	if (name.len < 9 || (name.p[0] != 'X' && name.p[0] != 'x') || name.p[1] != '-')
		return 0;
	for (size_t i = 0; i < sizeof xf / sizeof xf[0]; i++)
		if (slice_eq_cstr_ci(name, xf[i].name))
			return xf[i].bit;
	return proxy_ptc_owned_field(name) ? XF_PTC : 0;
}

/* Whether the client may set X-Forwarded-* (Traefik v1 forwardedHeaders: insecure by
 * default, else only peers in trustedIPs). */
static bool trust_forwarded(const struct proxy_conn *c, const struct proxy_entrypoint *ep)
{
	if (ep->forwarded_headers_insecure)
		return true;
	if (ep->forwarded_headers.n == 0)
		return false;
	return proxy_cidr_list_match(ep->forwarded_headers.cidr, ep->forwarded_headers.n,
				     &c->peer_ip);
}

/* Split a request target into path and query (RFC 9112 §3.2); an absolute-form target gives
 * its authority too. */
static void split_target(const struct http_request *req, struct slice *authority,
			 struct slice *path, struct slice *query)
{
	struct slice t = req->target;
	*authority = (struct slice){NULL, 0};
	if (req->target_form == HTTP_T_ABSOLUTE) {
		const char *p = memchr(t.p, ':', t.len);
		size_t off = p ? (size_t)(p - t.p) + 1 : 0;
		if (off + 2 <= t.len && t.p[off] == '/' && t.p[off + 1] == '/')
			off += 2;
		size_t a = off;
		while (a < t.len && t.p[a] != '/' && t.p[a] != '?')
			a++;
		*authority = (struct slice){t.p + off, a - off};
		t = (struct slice){t.p + a, t.len - a};
	} else if (req->target_form != HTTP_T_ORIGIN) {
		*path = t;
		*query = (struct slice){NULL, 0};
		return;
	}
	const char *q = NULL; /* the first '?': a plain loop, paths are short (no memchr call) */
	for (size_t i = 0; i < t.len; i++)
		if (t.p[i] == '?') {
			q = t.p + i;
			break;
		}
	if (q) {
		*path = (struct slice){t.p, (size_t)(q - t.p)};
		*query = (struct slice){q + 1, t.len - (size_t)(q - t.p) - 1};
	} else {
		*path = t;
		*query = (struct slice){NULL, 0};
	}
}

void proxy_fwd_view(const struct proxy_conn *c, struct proxy_req_view *v)
{
	const struct http_request *req = &c->rq.slot->m.req;
	struct slice a, p, q;
	split_target(req, &a, &p, &q);
	v->method = req->method;
	v->host = a.len ? a : req->h.host;
	v->path = p;
	v->query = q;
	/* Empty slices point at "" rather than NULL: the matchers hand them to memchr. */
	if (!v->host.p)
		v->host = (struct slice){"", 0};
	if (!v->path.p)
		v->path = (struct slice){"", 0};
	v->hdr = req->h.hdr;
	v->nhdr = req->h.nhdr;
}

/* ---- request head --------------------------------------------------------------------------- */

int proxy_fwd_request_head(struct proxy_conn *c, struct buf *b)
{
	struct proxy_engine *e = c->eng;
	const struct proxy_table *t = c->gen->t;
	const struct proxy_frontend *fe = &t->fe[c->fe];
	const struct proxy_server *sv = &t->srv[c->srv];
	const struct proxy_entrypoint *ep = &t->ep[c->ep];
	const struct http_request *req = &c->rq.slot->m.req;
	const struct http_header *h = req->h.hdr;
	size_t n = req->h.nhdr;

	const struct proxy_req_view *v = &c->rq.slot->view; /* route_frontend's (the match's) */
	struct proxy_req_ctx ctx; /* the match is done: the rewrite reads only the path */
	proxy_req_prepare_path(&ctx, v);
	struct proxy_rewrite rw;
	int rc = proxy_rule_rewrite(&fe->rule, &c->hit, &ctx, e->path_buf, sizeof e->path_buf,
				    e->rework, &rw);
	if (rc)
		return rc;

	/* Request line, RFC 9112 §3: origin-form towards the origin. */
	struct slice path = rw.path.len ? rw.path : SLICE_LIT("/");
	if (req->target_form == HTTP_T_ASTERISK)
		path = SLICE_LIT("*");
	size_t need = req->method.len + path.len + v->query.len + 16;
	if (buf_avail(b) < need)
		return -ERR_BUF_FULL;
	uint8_t *d = b->data + b->len; /* room checked: written directly */
	http_copy_short(d, req->method.p, req->method.len);
	d += req->method.len;
	*d++ = ' ';
	http_copy_short(d, path.p, path.len);
	d += path.len;
	if (v->query.p) {
		*d++ = '?';
		http_copy_short(d, v->query.p, v->query.len);
		d += v->query.len;
	}
	memcpy(d, " HTTP/1.1\r\n", 11);
	d += 11;
	b->len = (size_t)(d - b->data);

	/* Host: the client's (passHostHeader, the default) or the server's authority; a non-empty
	 * custom Host replaces it (one Host field only, RFC 9112 §3.2; as Traefik PR #6502). */
	/* The host the client addressed: the absolute-form authority wins over Host (RFC 9112
	 * §3.2.2); proxy_fwd_view chose it ("" when none: every use below tests the length). */
	struct slice host = v->host;
	struct slice hv = fe->pass_host_header && host.len ? host : sv->authority;
	for (uint32_t i = 0; i < fe->headers.nrequest; i++)
		if (fe->headers.request[i].value.len &&
		    slice_eq_cstr_ci(fe->headers.request[i].name, "Host"))
			hv = fe->headers.request[i].value;
	rc = put_field_c(b, "Host", hv);
	if (rc)
		return rc;

	bool trust = trust_forwarded(c, ep);
	const struct proxy_kv *cust = fe->headers.request;
	uint32_t ncust = fe->headers.nrequest;
	unsigned seen = 0;
	struct slice xff[8];
	size_t nxff = 0;
	bool xff_over = false;
	for (size_t i = 0; i < n; i++) {
		if (h[i].hop || h[i].id == HTTP_H_HOST || h[i].id == HTTP_H_CONTENT_LENGTH ||
		    h[i].id == HTTP_H_TRANSFER_ENCODING)
			continue;
		if (ncust && kv_has(cust, ncust, h[i].name))
			continue;
		if (c->auth_user.len && auth_drops(c, ep, fe, h[i].name))
			continue;
		if (c->fa && proxy_fwdauth_drops(c, h[i].name))
			continue; /* forward auth authResponseHeaders replace the client's */
		unsigned xf = xf_of(h[i].name);
		if (xf) {
			if (xf == XF_PTC) {
				if (proxy_ptc_enabled(fe->pass_tls_cert, fe->pass_tls_client_cert))
					continue; /* passTLSCert / passTLSClientCert: only ours */
			} else if (!trust || xf == XF_PREFIX || xf == XF_REPLACED)
				continue; /* ours replace them */
			if (xf == XF_FOR) {
				if (nxff < sizeof xff / sizeof xff[0])
					xff[nxff++] = h[i].value;
				else
					xff_over = true;
				continue;
			}
			seen |= xf;
		}
		rc = put_field(b, h[i].name, h[i].value);
		if (rc)
			return rc;
	}
	rc = put_custom(b, cust, ncust);
	if (!rc && c->auth_user.len && ep->auth.header_field.len &&
	    !(fe->auth.enabled && slice_eq_ci(fe->auth.header_field, ep->auth.header_field)))
		rc = put_auth_user(b, c, &ep->auth, cust, ncust);
	if (!rc && c->auth_user.len)
		rc = put_auth_user(b, c, &fe->auth, cust, ncust);
	struct slice fan, fav; /* forward auth: authResponseHeaders from the auth answer */
	for (uint32_t i = 0; !rc && c->fa && proxy_fwdauth_field(c, i, &fan, &fav); i++)
		if (!kv_has(cust, ncust, fan) && !custom_reserved(fan))
			rc = put_field(b, fan, fav);
	if (rc)
		return rc;
	if (xff_over)
		nxff = 0; /* more X-Forwarded-For fields than we keep: start the list afresh */

	/* X-Forwarded-For: the received list (trusted peers only) and the peer (RFC 7239 §5.2
	 * semantics in the de facto header). */
	if (!kv_has(cust, ncust, SLICE_LIT("X-Forwarded-For"))) {
		size_t plen = c->peer_len;
		size_t want = 21 + plen;
		for (size_t i = 0; i < nxff; i++)
			want += xff[i].len + 2;
		if (buf_avail(b) < want)
			return -ERR_BUF_FULL;
		uint8_t *x = b->data + b->len; /* room checked: written directly */
		memcpy(x, "X-Forwarded-For: ", 17);
		x += 17;
		for (size_t i = 0; i < nxff; i++) {
			if (!xff[i].len)
				continue;
			memcpy(x, xff[i].p, xff[i].len);
			x += xff[i].len;
			*x++ = ',';
			*x++ = ' ';
		}
		memcpy(x, c->peer_text, plen);
		x += plen;
		*x++ = '\r';
		*x++ = '\n';
		b->len = (size_t)(x - b->data);
	}
	const bool tls = c->tls != NULL;
	if (!(seen & XF_PROTO) && !kv_has(cust, ncust, SLICE_LIT("X-Forwarded-Proto"))) {
		bool ws = c->upgrade && slice_eq_cstr_ci(req->h.upgrade, "websocket");
		rc = put_field_c(b, "X-Forwarded-Proto",
				 ws ? (tls ? SLICE_LIT("wss") : SLICE_LIT("ws"))
				    : (tls ? SLICE_LIT("https") : SLICE_LIT("http")));
		if (rc)
			return rc;
	}
	if (!(seen & XF_HOST) && host.len && !kv_has(cust, ncust, SLICE_LIT("X-Forwarded-Host"))) {
		rc = put_field_c(b, "X-Forwarded-Host", host);
		if (rc)
			return rc;
	}
	if (!(seen & XF_PORT) && !kv_has(cust, ncust, SLICE_LIT("X-Forwarded-Port"))) {
		/* The port of the Host the client used, else the scheme's default. */
		struct slice port = tls ? SLICE_LIT("443") : SLICE_LIT("80");
		const char *colon = NULL;
		if (host.len && host.p[host.len - 1] != ']') {
			for (size_t i = host.len; i-- > 0;)
				if (host.p[i] == ':' || host.p[i] == ']') {
					colon = host.p[i] == ':' ? host.p + i : NULL;
					break;
				}
		}
		if (colon && colon + 1 < host.p + host.len)
			port = (struct slice){colon + 1, (size_t)(host.p + host.len - colon - 1)};
		rc = put_field_c(b, "X-Forwarded-Port", port);
		if (rc)
			return rc;
	}
	if (!(seen & XF_SERVER) && e->server_name_len &&
	    !kv_has(cust, ncust, SLICE_LIT("X-Forwarded-Server"))) {
		rc = put_field_c(b, "X-Forwarded-Server",
				 (struct slice){e->server_name, e->server_name_len});
		if (rc)
			return rc;
	}
	if (!(seen & XF_REAL_IP) && !kv_has(cust, ncust, SLICE_LIT("X-Real-Ip"))) {
		rc = put_field_c(b, "X-Real-Ip", proxy_conn_peer(c));
		if (rc)
			return rc;
	}
	if (rw.forwarded_prefix.p) {
		rc = put_field_c(b, "X-Forwarded-Prefix", rw.forwarded_prefix);
		if (rc)
			return rc;
	}
	if (rw.replaced_path.p) {
		rc = put_field_c(b, "X-Replaced-Path", rw.replaced_path);
		if (rc)
			return rc;
	}
	if (proxy_ptc_enabled(fe->pass_tls_cert, fe->pass_tls_client_cert)) { /* proxy_ptc.h */
		rc = proxy_ptc_put(b, fe, c->tls, loop_now_ms(e->loop));
		if (rc)
			return rc;
	}

	/* Framing, regenerated (RFC 9112 §6): the parser refused TE with CL, so exactly one. */
	if (req->h.body == HTTP_BODY_LENGTH)
		rc = http_write_header_u64(b, SLICE_LIT("Content-Length"), req->h.content_length);
	else if (req->h.body == HTTP_BODY_CHUNKED)
		rc = put_field_c(b, "Transfer-Encoding", SLICE_LIT("chunked"));
	if (rc)
		return rc;
	if (c->upgrade) {
		rc = put_field_c(b, "Connection", SLICE_LIT("Upgrade"));
		rc = rc ? rc : put_field_c(b, "Upgrade", req->h.upgrade);
		if (rc)
			return rc;
	}
	return http_write_head_end(b);
}

/* ---- response head -------------------------------------------------------------------------- */

int proxy_fwd_response_head(struct proxy_conn *c, const struct http_response *res, struct buf *b)
{
	const struct proxy_frontend *fe = &c->gen->t->fe[c->fe];
	const struct http_header *h = res->h.hdr;
	size_t n = res->h.nhdr;
	const struct proxy_kv *cust = fe->headers.response;
	uint32_t ncust = fe->headers.nresponse;
	bool tunnel = res->status == 101 && c->upgrade;

	int rc = http_write_status_line(b, 1, res->status, res->reason);
	if (rc == -ERR_INVAL) /* a reason with octets our writer refuses: use the standard one */
		rc = http_write_status_line(b, 1, res->status, (struct slice){NULL, 0});
	if (rc)
		return rc;
	bool te_coded = (res->h.flags & HTTP_F_TE_CODED) != 0;
	/* Security headers (proxy-secure.md): the upstream's copies of ours are marked hop. */
	if (c->sec & PROXY_SECTX_ON) /* c->rs.slot's fields: ours to change */
		proxy_secure_resp_mark(&fe->headers, c->sec, (struct http_header *)h, n);
	for (size_t i = 0; i < n; i++) {
		if (h[i].hop || h[i].id == HTTP_H_CONTENT_LENGTH ||
		    h[i].id == HTTP_H_TRANSFER_ENCODING)
			continue;
		if (ncust && kv_has(cust, ncust, h[i].name))
			continue;
		rc = put_field(b, h[i].name, h[i].value);
		if (rc)
			return rc;
	}
	rc = put_custom(b, cust, ncust);
	if (!rc && (c->sec & PROXY_SECTX_ON))
		rc = proxy_secure_resp_put(&fe->headers, c->sec, h, n, cust, ncust, b);
	if (rc)
		return rc;
	if (c->set_cookie && c->srv >= 0) {
		/* Stickiness: the cookie names the server by its URL (SPEC-FACTS §2.4). */
		char ck[PROXY_COOKIE_MAX];
		int ckn = proxy_lb_cookie(c->gen->t, (uint32_t)c->srv, ck, sizeof ck);
		if (ckn > 0)
			rc = put_field_c(b, "Set-Cookie", (struct slice){ck, (size_t)ckn});
		if (rc)
			return rc;
	}
	if (c->gzf & PROXY_GZ_VARY) { /* entry point compress (proxy_gzip.h) */
		rc = put_field_c(b, "Vary", SLICE_LIT("Accept-Encoding"));
		if (rc)
			return rc;
	}

	/* Client framing (RFC 9112 §6.3). */
	bool close = c->close_after != 0;
	uint8_t mode = PM_NONE;
	uint64_t len = 0;
	if (tunnel) {
		/* A 101 names the protocol switched to (RFC 9110 §15.2.2); without it: 502. */
		if (res->h.upgrade.len == 0)
			return -ERR_INVAL;
		mode = PM_TUNNEL;
		rc = put_field_c(b, "Connection", SLICE_LIT("Upgrade"));
		rc = rc ? rc : put_field_c(b, "Upgrade", res->h.upgrade);
		if (rc)
			return rc;
	} else if (c->gz) {
		/* compressed: Content-Encoding, chunked or close-delimited (proxy_gzip.c) */
		rc = proxy_gzip_head(c, res, b, &mode, &len, &close);
		if (rc)
			return rc;
	} else {
		switch (res->h.body) {
		case HTTP_BODY_NONE:
			/* HEAD and 304 keep the representation's length (RFC 9110 §8.6). */
			if ((res->h.flags & HTTP_F_HAS_CL) && res->status != 204 &&
			    (res->status >= 200 || res->status == 101))
				rc = http_write_header_u64(b, SLICE_LIT("Content-Length"),
							   res->h.content_length);
			break;
		case HTTP_BODY_LENGTH:
			mode = PM_LENGTH;
			len = res->h.content_length;
			rc = http_write_header_u64(b, SLICE_LIT("Content-Length"), len);
			break;
		case HTTP_BODY_CHUNKED:
			if (c->minor == 0) {
				mode = PM_DECHUNK; /* HTTP/1.0 reads until close */
				close = true;
				break;
			}
			mode = PM_CHUNKED;
			if (!te_coded) {
				rc = put_field_c(b, "Transfer-Encoding", SLICE_LIT("chunked"));
				break;
			}
			for (size_t i = 0; i < n && !rc; i++)
				if (h[i].id == HTTP_H_TRANSFER_ENCODING)
					rc = put_field(b, h[i].name, h[i].value);
			break;
		case HTTP_BODY_CLOSE:
		default:
			mode = PM_CLOSE;
			close = true;
			break;
		}
		if (rc)
			return rc;
		if (!c->client_ka)
			close = true;
		if (close)
			rc = put_field_c(b, "Connection", SLICE_LIT("close"));
		else if (c->minor == 0)
			rc = put_field_c(b, "Connection", SLICE_LIT("keep-alive"));
		if (rc)
			return rc;
	}
	rc = http_write_head_end(b);
	if (rc)
		return rc;
	c->close_after = close;
	c->rs.mode = mode;
	c->rs.left = len;
	return 0;
}

/* ---- local responses ------------------------------------------------------------------------ */

static struct slice local_body(int status)
{
	switch (status) {
	case 404: return SLICE_LIT("404 page not found\n");
	case 400: return SLICE_LIT("400 Bad Request\n");
	case 401: return SLICE_LIT("401 Unauthorized\n");
	case 403: return SLICE_LIT("Forbidden\n");
	case 408: return SLICE_LIT("408 Request Timeout\n");
	case 413: return SLICE_LIT("413 Request Entity Too Large\n");
	case 414: return SLICE_LIT("414 Request URI Too Long\n");
	case 417: return SLICE_LIT("417 Expectation Failed\n");
	case 429: return SLICE_LIT("Too Many Requests\n");
	case 431: return SLICE_LIT("431 Request Header Fields Too Large\n");
	case 500: return SLICE_LIT("Internal Server Error\n");
	case 501: return SLICE_LIT("Not Implemented\n");
	case 502: return SLICE_LIT("Bad Gateway\n");
	case 503: return SLICE_LIT("Service Unavailable\n");
	case 504: return SLICE_LIT("Gateway Timeout\n");
	case 505: return SLICE_LIT("HTTP Version Not Supported\n");
	default: return (struct slice){NULL, 0};
	}
}

int proxy_fwd_local_response(struct proxy_conn *c, struct buf *b, int status, struct slice detail,
			     bool close)
{
	size_t saved = b->len;
	struct slice body = local_body(status);
	if (status == 500 && (c->sec & PROXY_SECTX_BAD_HOST))
		body = SLICE_LIT("Bad Host\n"); /* unrolled/secure's answer to allowedHosts */
	int rc = http_write_status_line(b, 1, status, (struct slice){NULL, 0});
	if (!rc && detail.len && status != 401 && status != 429)
		rc = put_field_c(b, "Location", detail);
	if (!rc && status == 401) /* detail: the challenge (proxy-auth.md) */
		rc = put_field_c(b, "WWW-Authenticate",
				 detail.len ? detail : SLICE_LIT("Basic realm=\"traefik\""));
	char rl_body[PROXY_RL_BODY_MAX];
	size_t rl_len = 0;
	if (!rc && status == 429 && detail.len) { /* rateLimit: the delay (proxy-ratelimit.md) */
		rc = proxy_rl_response_fields(b, detail, rl_body, sizeof rl_body, &rl_len);
		body = (struct slice){rl_body, rl_len};
	}
	if (!rc && body.len)
		rc = put_field_c(b, "Content-Type", SLICE_LIT("text/plain; charset=utf-8"));
	if (!rc && status != 204 && status != 304)
		rc = http_write_header_u64(b, SLICE_LIT("Content-Length"), body.len);
	if (!rc && close)
		rc = put_field_c(b, "Connection", SLICE_LIT("close"));
	else if (!rc && c->minor == 0)
		rc = put_field_c(b, "Connection", SLICE_LIT("keep-alive"));
	if (!rc)
		rc = http_write_head_end(b);
	if (!rc && !c->head_req && body.len)
		rc = buf_append_slice(b, body);
	if (rc) {
		b->len = saved;
		return rc;
	}
	return c->head_req ? 0 : (int)body.len;
}
