/* proxy_fwdauth.c — forward authentication: one sub-request to the auth server per request
 * (proxy_fwdauth.h has the contract, docs/internals/proxy-auth.md the semantics).
 *
 * As Traefik v1 (middlewares/auth/forward.go): a GET to the address with the client's fields
 * (hop-by-hop and framing fields removed), X-Forwarded-Method / -Proto / -Host / -Uri / -For
 * set from the request (kept as the client sent them with trustForwardHeader, the For list
 * then extended with the peer), no body, redirects not followed. A 2xx lets the request go
 * on with each authResponseHeaders field copied from the answer (replacing the client's);
 * anything else is the answer, returned to the client without its hop-by-hop fields. A
 * connection failure, a malformed or oversized answer, or a timeout is 500.
 *
 * I/O: non-blocking socket registered once, edge-triggered; readiness remembered in
 * can_read / can_write like proxy_upstream.c. https addresses run a TLS client engine
 * (src/tls) in a slot from the engine's fa_tls pool.
 */
#include "proxy/proxy_fwdauth.h"

#include "base/base_err.h"
#include "base/base_log.h"
#include "http/http_write.h"
#include "proxy/proxy_engine_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum fa_phase { FA_IDLE = 0, FA_CONNECT, FA_SEND, FA_RECV, FA_DONE };

struct proxy_fwdauth {
	struct proxy_engine *eng;
	struct proxy_conn *owner;
	const struct proxy_fwdauth_addr *addr;
	const struct proxy_auth *au; /* the auth being checked */
	struct tls_conn *tls;        /* https only */
	int fd;
	uint8_t phase;
	uint8_t can_read, can_write, hup;
	uint8_t head_done;
	uint8_t tls_closed;
	uint32_t out_off, out_len; /* request head in owner->rs */
	uint32_t head_len;         /* answer head bytes at the start of rs */
	uint64_t t_phase;          /* when the current phase started */
	/* authResponseHeaders of the auths passed (entry point and frontend) */
	const struct proxy_auth *passed[2];
	uint32_t npassed;
	uint32_t nkept, keep_len;
	struct {
		struct slice name; /* slice of the pinned table */
		uint32_t off, len; /* value in keep */
	} kept[PROXY_FWDAUTH_MAX_FIELDS];
	char keep[PROXY_FWDAUTH_KEEP_MAX];
};

size_t proxy_fwdauth_size(void)
{
	return sizeof(struct proxy_fwdauth);
}

static bool prefix_ci(struct slice s, struct slice pre)
{
	return s.len >= pre.len && slice_eq_ci((struct slice){s.p, pre.len}, pre);
}

/* ---- addresses (load time) ---------------------------------------------------------------- */

int proxy_fwdauth_parse_url(struct slice url, bool *https, struct slice *authority,
			    struct slice *host, uint16_t *port, struct slice *path)
{
	size_t off;
	if (url.len >= 7 && prefix_ci(url, SLICE_LIT("http://"))) {
		*https = false;
		off = 7;
	} else if (url.len >= 8 && prefix_ci(url, SLICE_LIT("https://"))) {
		*https = true;
		off = 8;
	} else {
		return -ERR_INVAL;
	}
	size_t a = off;
	while (a < url.len && url.p[a] != '/' && url.p[a] != '?' && url.p[a] != '#')
		a++;
	*authority = (struct slice){url.p + off, a - off};
	if (!authority->len || memchr(authority->p, '@', authority->len))
		return -ERR_INVAL;
	size_t e = a;
	while (e < url.len && url.p[e] != '#')
		e++;
	*path = (struct slice){url.p + a, e - a};
	for (size_t i = 0; i < path->len; i++) {
		unsigned char ch = (unsigned char)path->p[i];
		if (ch <= 0x20 || ch >= 0x7f)
			return -ERR_INVAL;
	}
	/* host[:port], [v6][:port] */
	struct slice au = *authority, pt = {NULL, 0};
	if (au.p[0] == '[') {
		const char *rb = memchr(au.p, ']', au.len);
		if (!rb)
			return -ERR_INVAL;
		*host = (struct slice){au.p + 1, (size_t)(rb - au.p) - 1};
		size_t after = (size_t)(rb - au.p) + 1;
		if (after < au.len) {
			if (au.p[after] != ':')
				return -ERR_INVAL;
			pt = (struct slice){au.p + after + 1, au.len - after - 1};
		}
	} else {
		const char *colon = memchr(au.p, ':', au.len);
		if (colon) {
			*host = (struct slice){au.p, (size_t)(colon - au.p)};
			pt = (struct slice){colon + 1, au.len - (size_t)(colon - au.p) - 1};
		} else {
			*host = au;
		}
	}
	if (!host->len)
		return -ERR_INVAL;
	for (size_t i = 0; i < host->len; i++) {
		unsigned char ch = (unsigned char)host->p[i];
		if (ch <= 0x20 || ch >= 0x7f || ch == '/' || ch == '[' || ch == ']')
			return -ERR_INVAL;
	}
	*port = *https ? 443 : 80;
	if (pt.p) {
		uint32_t v = 0;
		if (!pt.len || pt.len > 5)
			return -ERR_INVAL;
		for (size_t i = 0; i < pt.len; i++) {
			if (pt.p[i] < '0' || pt.p[i] > '9')
				return -ERR_INVAL;
			v = v * 10 + (uint32_t)(pt.p[i] - '0');
		}
		if (v == 0 || v > 65535)
			return -ERR_INVAL;
		*port = (uint16_t)v;
	}
	return 0;
}

/* https: the client TLS configuration of a forward auth (trust: tls.ca; client certificate:
 * tls.cert / tls.key; insecureSkipVerify). caOptional only concerns servers in Traefik's
 * ClientTLS and is ignored. Without a CA and not insecure there is nothing to trust (no
 * system store is read): the address is unusable. */
static int fwdauth_tls_build(const struct proxy_auth *au, struct proxy_fwdauth_addr *a)
{
	size_t store =
		2 * (au->forward_tls_ca.len + au->forward_tls_cert.len + au->forward_tls_key.len) +
		(16u << 10);
	void *mem = calloc(1, sizeof(struct tls_client_config) + store);
	if (!mem)
		return -ERR_NOMEM;
	struct tls_client_config *cfg = mem;
	int rc = tls_client_config_init(cfg, (uint8_t *)mem + sizeof *cfg, store);
	if (!rc && au->forward_tls_ca.len) {
		int n = tls_client_add_ca(cfg, au->forward_tls_ca.p, au->forward_tls_ca.len);
		rc = n < 0 ? n : 0;
	}
	if (!rc && au->forward_tls_cert.len)
		rc = tls_client_set_cert(cfg, au->forward_tls_cert.p, au->forward_tls_cert.len,
					 au->forward_tls_key.p, au->forward_tls_key.len);
	if (!rc && au->forward_tls_insecure) {
		tls_client_set_insecure_skip_verify(cfg, true);
		log_warn("forward auth: insecureSkipVerify, the auth server's certificate is not "
			 "checked",
			 "address=%.*s", (int)au->forward_address.len, au->forward_address.p);
	}
	if (!rc && !au->forward_tls_ca.len && !au->forward_tls_insecure) {
		log_warn("forward auth https address without tls.ca (no system trust store is "
			 "read): set tls.ca or tls.insecureSkipVerify",
			 "address=%.*s", (int)au->forward_address.len, au->forward_address.p);
		rc = -ERR_INVAL;
	}
	if (rc) {
		free(mem);
		return rc;
	}
	a->tls = cfg;
	return 0;
}

static void fwdauth_tls_free(struct proxy_fwdauth_addr *a)
{
	free(a->tls);
	a->tls = NULL;
}

static void addr_build(const struct proxy_auth *au, struct proxy_fwdauth_addr *a, const char *where,
		       struct slice name)
{
	memset(a, 0, sizeof *a);
	if (!au->enabled || au->nbasic || au->ndigest || !au->forward_address.len)
		return; /* basic and digest win over forward (Traefik's order) */
	struct slice host;
	uint16_t port;
	if (proxy_fwdauth_parse_url(au->forward_address, &a->https, &a->authority, &host, &port,
				    &a->path) < 0) {
		a->state = PROXY_FWDAUTH_ADDR_BAD;
		log_warn("forward auth address is not an http:// or https:// URL: its requests "
			 "get 500",
			 "%s=%.*s address=%.*s", where, (int)name.len, name.p,
			 (int)au->forward_address.len, au->forward_address.p);
		return;
	}
	if (!a->path.len)
		a->path = SLICE_LIT("/");
	char h[256], p[8];
	if (host.len >= sizeof h) {
		a->state = PROXY_FWDAUTH_ADDR_BAD;
		return;
	}
	memcpy(h, host.p, host.len);
	h[host.len] = 0;
	snprintf(p, sizeof p, "%u", port);
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	/* Control path: a name is resolved once per load (like server addresses). */
	if (getaddrinfo(h, p, &hints, &res) != 0 || !res || res->ai_addrlen > sizeof a->addr) {
		if (res)
			freeaddrinfo(res);
		a->state = PROXY_FWDAUTH_ADDR_UNRESOLVED;
		log_warn("forward auth address does not resolve: its requests get 500",
			 "%s=%.*s address=%.*s", where, (int)name.len, name.p,
			 (int)au->forward_address.len, au->forward_address.p);
		return;
	}
	memcpy(&a->addr, res->ai_addr, res->ai_addrlen);
	a->alen = res->ai_addrlen;
	freeaddrinfo(res);
	a->state = PROXY_FWDAUTH_ADDR_OK;
	if (a->https) {
		struct in6_addr tmp;
		bool ip = inet_pton(AF_INET, h, &tmp) == 1 || inet_pton(AF_INET6, h, &tmp) == 1;
		snprintf(a->sni, sizeof a->sni, "%s", ip ? "" : h);
		if (fwdauth_tls_build(au, a) < 0) {
			a->state = PROXY_FWDAUTH_ADDR_TLS_FAILED;
			log_warn("forward auth TLS configuration does not build: its requests get "
				 "500",
				 "%s=%.*s address=%.*s", where, (int)name.len, name.p,
				 (int)au->forward_address.len, au->forward_address.p);
		}
	}
}

int proxy_fwdauth_gen_build(struct proxy_engine *e, struct proxy_gen *g, char *msg, size_t cap)
{
	(void)e;
	const struct proxy_table *t = g->t;
	g->fa_ep = calloc(t->nep ? t->nep : 1, sizeof *g->fa_ep);
	g->fa_fe = calloc(t->nfe ? t->nfe : 1, sizeof *g->fa_fe);
	if (!g->fa_ep || !g->fa_fe) {
		snprintf(msg, cap, "out of memory building the table");
		return -ERR_NOMEM;
	}
	for (uint32_t i = 0; i < t->nep; i++)
		addr_build(&t->ep[i].auth, &g->fa_ep[i], "entrypoint", t->ep[i].name);
	for (uint32_t i = 0; i < t->nfe; i++)
		addr_build(&t->fe[i].auth, &g->fa_fe[i], "frontend", t->fe[i].name);
	return 0;
}

void proxy_fwdauth_gen_free(struct proxy_gen *g)
{
	if (g->t) {
		for (uint32_t i = 0; g->fa_ep && i < g->t->nep; i++)
			fwdauth_tls_free(&g->fa_ep[i]);
		for (uint32_t i = 0; g->fa_fe && i < g->t->nfe; i++)
			fwdauth_tls_free(&g->fa_fe[i]);
	}
	free(g->fa_ep);
	free(g->fa_fe);
	g->fa_ep = g->fa_fe = NULL;
}

/* ---- heads ---------------------------------------------------------------------------------- */

static int put_field(struct buf *b, struct slice name, struct slice value)
{
	if (buf_avail(b) < name.len + value.len + 4)
		return -ERR_BUF_FULL;
	memcpy(b->data + b->len, name.p, name.len);
	b->len += name.len;
	b->data[b->len++] = ':';
	b->data[b->len++] = ' ';
	if (value.len)
		memcpy(b->data + b->len, value.p, value.len);
	b->len += value.len;
	b->data[b->len++] = '\r';
	b->data[b->len++] = '\n';
	return 0;
}

/* Client fields that never reach the auth server: hop-by-hop (oxy's list and what Connection
 * names), framing (the auth request has no body), Host (the auth server's), Expect. */
static bool req_dropped(const struct http_header *h)
{
	static const char *const names[] = {"Proxy-Authorization", "Proxy-Authenticate", "Trailer",
					    "Trailers", "Expect"};
	if (h->hop || h->id == HTTP_H_HOST || h->id == HTTP_H_CONTENT_LENGTH ||
	    h->id == HTTP_H_TRANSFER_ENCODING || h->id == HTTP_H_EXPECT)
		return true;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (slice_eq_cstr_ci(h->name, names[i]))
			return true;
	return false;
}

static bool is_xf(struct slice name)
{
	return name.len >= 11 && prefix_ci(name, SLICE_LIT("X-Forwarded-"));
}

int proxy_fwdauth_request_head(const struct proxy_fwdauth_req *r, struct buf *b)
{
	int rc = buf_append_cstr(b, "GET ");
	rc = rc ? rc : buf_append_slice(b, r->auth_path);
	rc = rc ? rc : buf_append_cstr(b, " HTTP/1.1\r\n");
	rc = rc ? rc : put_field(b, SLICE_LIT("Host"), r->auth_authority);
	if (rc)
		return rc;
	/* The client's X-Forwarded-* values (first of each, as Go's Header.Get) when trusted. */
	struct slice xmethod = {NULL, 0}, xproto = {NULL, 0}, xhost = {NULL, 0}, xuri = {NULL, 0};
	size_t nxff = 0;
	for (size_t i = 0; i < r->nhdr; i++) {
		const struct http_header *h = &r->hdr[i];
		if (req_dropped(h))
			continue;
		if (is_xf(h->name) || slice_eq_cstr_ci(h->name, "X-Real-Ip")) {
			if (!r->trust)
				continue; /* replaced by ours (and the rest not passed on) */
			struct slice *dst =
				slice_eq_cstr_ci(h->name, "X-Forwarded-Method")  ? &xmethod
				: slice_eq_cstr_ci(h->name, "X-Forwarded-Proto") ? &xproto
				: slice_eq_cstr_ci(h->name, "X-Forwarded-Host")  ? &xhost
				: slice_eq_cstr_ci(h->name, "X-Forwarded-Uri")   ? &xuri
										 : NULL;
			if (dst) {
				if (!dst->len)
					*dst = h->value;
				continue;
			}
			if (slice_eq_cstr_ci(h->name, "X-Forwarded-For")) {
				nxff++;
				continue;
			}
		}
		rc = put_field(b, h->name, h->value);
		if (rc)
			return rc;
	}
	rc = put_field(b, SLICE_LIT("X-Forwarded-Method"), xmethod.len ? xmethod : r->method);
	rc = rc ? rc
		: put_field(b, SLICE_LIT("X-Forwarded-Proto"),
			    xproto.len ? xproto
			    : r->tls   ? SLICE_LIT("https")
				       : SLICE_LIT("http"));
	if (!rc && (xhost.len || r->host.len))
		rc = put_field(b, SLICE_LIT("X-Forwarded-Host"), xhost.len ? xhost : r->host);
	if (!rc && (xuri.len || r->uri.len))
		rc = put_field(b, SLICE_LIT("X-Forwarded-Uri"), xuri.len ? xuri : r->uri);
	if (rc)
		return rc;
	/* X-Forwarded-For: the peer; with trust, after the received list. */
	rc = buf_append_cstr(b, "X-Forwarded-For: ");
	for (size_t i = 0; !rc && nxff && i < r->nhdr; i++) {
		const struct http_header *h = &r->hdr[i];
		if (!h->value.len || !slice_eq_cstr_ci(h->name, "X-Forwarded-For"))
			continue;
		rc = buf_append_slice(b, h->value);
		rc = rc ? rc : buf_append_cstr(b, ", ");
	}
	rc = rc ? rc : buf_append_slice(b, r->client_ip);
	rc = rc ? rc : buf_append_cstr(b, "\r\nConnection: close\r\n\r\n");
	return rc ? -ERR_BUF_FULL : 0;
}

int proxy_fwdauth_response_head(const struct http_response *res, uint64_t body_len, bool close,
				int minor, struct buf *b)
{
	int rc = http_write_status_line(b, 1, res->status, (struct slice){NULL, 0});
	if (rc == -ERR_INVAL)
		rc = http_write_status_line(b, 1, res->status, SLICE_LIT("Unknown"));
	if (rc)
		return rc;
	for (size_t i = 0; i < res->h.nhdr; i++) {
		const struct http_header *h = &res->h.hdr[i];
		if (h->hop || h->id == HTTP_H_CONTENT_LENGTH || h->id == HTTP_H_TRANSFER_ENCODING ||
		    slice_eq_cstr_ci(h->name, "Proxy-Authenticate") ||
		    slice_eq_cstr_ci(h->name, "Proxy-Authorization") ||
		    slice_eq_cstr_ci(h->name, "Trailer"))
			continue;
		rc = put_field(b, h->name, h->value);
		if (rc)
			return rc;
	}
	if (res->status >= 200 && res->status != 204 && res->status != 304)
		rc = http_write_header_u64(b, SLICE_LIT("Content-Length"), body_len);
	if (!rc && close)
		rc = put_field(b, SLICE_LIT("Connection"), SLICE_LIT("close"));
	else if (!rc && minor == 0)
		rc = put_field(b, SLICE_LIT("Connection"), SLICE_LIT("keep-alive"));
	return rc ? rc : http_write_head_end(b);
}

/* ---- the sub-request ------------------------------------------------------------------------ */

static uint64_t now_ms(const struct proxy_fwdauth *f)
{
	return loop_now_ms(f->eng->loop);
}

static void fa_close(struct proxy_fwdauth *f)
{
	struct proxy_engine *e = f->eng;
	if (f->fd >= 0) {
		loop_del_fd(e->loop, f->fd);
		close(f->fd);
		f->fd = -1;
	}
	if (f->tls) {
		tls_conn_wipe(f->tls);
		pool_put(&e->fa_tls, f->tls);
		f->tls = NULL;
	}
}

static void fa_cb(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct proxy_fwdauth *f = arg;
	(void)l;
	(void)fd;
	if (ev & (LOOP_READ | LOOP_RDHUP | LOOP_HUP | LOOP_ERR))
		f->can_read = 1;
	if (ev & (LOOP_WRITE | LOOP_HUP | LOOP_ERR))
		f->can_write = 1;
	if (ev & (LOOP_HUP | LOOP_ERR | LOOP_RDHUP))
		f->hup = 1;
	if (f->owner)
		proxy_conn_run(f->owner);
}

static void fa_log(const struct proxy_fwdauth *f, const char *what, const char *detail)
{
	log_warn(what, "address=%.*s detail=\"%s\"", (int)f->au->forward_address.len,
		 f->au->forward_address.p, detail ? detail : "");
}

/* Plain socket I/O: bytes, 0 at EOF, -ERR_AGAIN, or an error. */
static ssize_t sock_send(struct proxy_fwdauth *f, const void *p, size_t n)
{
	if (!f->can_write)
		return -ERR_AGAIN;
	ssize_t w;
	do
		w = send(f->fd, p, n, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w >= 0) {
		if ((size_t)w < n)
			f->can_write = 0;
		return w;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		f->can_write = 0;
		return -ERR_AGAIN;
	}
	return err_from_errno(errno);
}

static ssize_t sock_recv(struct proxy_fwdauth *f, void *p, size_t n)
{
	if (!f->can_read)
		return -ERR_AGAIN;
	ssize_t r;
	do
		r = recv(f->fd, p, n, 0);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		return r; /* no short-read shortcut: the next recv says EAGAIN */
	if (r == 0)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		f->can_read = 0;
		return -ERR_AGAIN;
	}
	return err_from_errno(errno);
}

/* TLS: move ciphertext between the socket and the engine until neither moves. */
static void tls_pump(struct proxy_fwdauth *f)
{
	for (int round = 0; round < 8; round++) {
		bool any = false;
		for (;;) {
			size_t len = 0;
			const uint8_t *p = tls_conn_send_buf(f->tls, &len);
			if (!p || !len)
				break;
			ssize_t n = sock_send(f, p, len);
			if (n > 0) {
				tls_conn_send_ack(f->tls, (size_t)n);
				any = true;
				continue;
			}
			if (n != -ERR_AGAIN)
				tls_conn_recv_eof(f->tls);
			break;
		}
		for (;;) {
			size_t len = 0;
			uint8_t *p = tls_conn_recv_buf(f->tls, &len);
			if (!p || !len)
				break;
			ssize_t n = sock_recv(f, p, len);
			if (n > 0) {
				tls_conn_recv_ack(f->tls, (size_t)n);
				any = true;
				continue;
			}
			if (n != -ERR_AGAIN) {
				tls_conn_recv_eof(f->tls);
				any = true;
			}
			break;
		}
		if (!any)
			break;
	}
}

static ssize_t fa_write(struct proxy_fwdauth *f, const void *p, size_t n)
{
	if (!f->tls)
		return sock_send(f, p, n);
	ssize_t r = tls_conn_write(f->tls, p, n > 16384 ? 16384 : n);
	if (r == -ERR_AGAIN) {
		tls_pump(f);
		r = tls_conn_write(f->tls, p, n > 16384 ? 16384 : n);
	}
	tls_pump(f);
	return r;
}

static ssize_t fa_read(struct proxy_fwdauth *f, void *p, size_t n)
{
	if (!f->tls)
		return sock_recv(f, p, n);
	for (int i = 0; i < 4; i++) {
		ssize_t r = tls_conn_read(f->tls, p, n);
		if (r != -ERR_AGAIN)
			return r;
		tls_pump(f);
	}
	return -ERR_AGAIN;
}

void proxy_fwdauth_release(struct proxy_conn *c)
{
	struct proxy_fwdauth *f = c->fa;
	if (!f)
		return;
	fa_close(f);
	f->owner = NULL;
	c->fa = NULL;
	pool_put(&c->eng->fas, f);
}

/* The client's request-URI (path and query) for X-Forwarded-Uri. */
static struct slice request_uri(const struct http_request *req, const struct proxy_req_view *v)
{
	if (req->target_form != HTTP_T_ABSOLUTE || !v->path.p || !v->path.len)
		return req->target;
	return (struct slice){v->path.p, (size_t)(req->target.p + req->target.len - v->path.p)};
}

int proxy_fwdauth_start(struct proxy_conn *c, const struct proxy_auth *au, bool frontend)
{
	struct proxy_engine *e = c->eng;
	struct proxy_gen *g = c->gen;
	const struct proxy_fwdauth_addr *a = frontend ? &g->fa_fe[c->fe] : &g->fa_ep[c->ep];
	struct proxy_fwdauth *f = c->fa;
	if (!f) {
		void *obj;
		if (pool_get(&e->fas, &obj) < 0) {
			log_warn("forward auth refused locally: 503",
				 "setting=max_forward_auth "
				 "limit=%u",
				 e->lim.max_forward_auth);
			return PROXY_FWDAUTH_FULL;
		}
		f = obj;
		memset(f, 0, offsetof(struct proxy_fwdauth, keep));
		f->eng = e;
		f->fd = -1;
		f->owner = c;
		c->fa = f;
	}
	f->au = au;
	f->addr = a;
	f->phase = FA_IDLE;
	f->head_done = 0;
	f->can_read = f->can_write = f->hup = 0;
	f->tls_closed = 0;
	if (a->state != PROXY_FWDAUTH_ADDR_OK) {
		fa_log(f, "forward auth address unusable: 500",
		       a->state == PROXY_FWDAUTH_ADDR_UNRESOLVED   ? "does not resolve"
		       : a->state == PROXY_FWDAUTH_ADDR_TLS_FAILED ? "TLS configuration failed"
								   : "not an http(s) URL");
		return PROXY_FWDAUTH_ERROR;
	}
	/* The auth request head, into rs (free until the upstream response). */
	const struct http_request *req = &c->rq.slot->m.req;
	struct proxy_req_view v;
	proxy_fwd_view(c, &v);
	struct proxy_fwdauth_req r = {
		.method = req->method,
		.uri = request_uri(req, &v),
		.host = v.host,
		.tls = c->tls != NULL,
		.client_ip = proxy_conn_peer(c),
		.hdr = req->h.hdr,
		.nhdr = req->h.nhdr,
		.trust = au->forward_trust_header,
		.auth_authority = a->authority,
		.auth_path = a->path,
	};
	struct buf b;
	buf_init(&b, c->rs.b, c->rs.cap);
	if (proxy_fwdauth_request_head(&r, &b) < 0) {
		fa_log(f, "forward auth request head over buf_size: 500", NULL);
		return PROXY_FWDAUTH_ERROR;
	}
	f->out_off = 0;
	f->out_len = (uint32_t)b.len;

	if (a->https) {
		void *t = NULL;
		if (pool_get(&e->fa_tls, &t) < 0) {
			log_warn("forward auth refused locally: 503",
				 "setting=max_forward_auth_tls limit=%u",
				 e->lim.max_forward_auth_tls);
			return PROXY_FWDAUTH_FULL;
		}
		if (tls_conn_init_client(t, a->tls, a->sni[0] ? a->sni : NULL, &e->rng) < 0) {
			tls_conn_wipe(t);
			pool_put(&e->fa_tls, t);
			fa_log(f, "forward auth TLS client does not start: 500", NULL);
			return PROXY_FWDAUTH_ERROR;
		}
		f->tls = t;
	}
	int fd = socket(a->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fa_log(f, "forward auth socket failed: 500", strerror(errno));
		return PROXY_FWDAUTH_ERROR;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (const struct sockaddr *)&a->addr, a->alen) < 0 && errno != EINPROGRESS) {
		int err = errno;
		close(fd);
		fa_log(f, "forward auth server unreachable: 500", strerror(err));
		return PROXY_FWDAUTH_ERROR;
	}
	if (loop_add_fd(e->loop, fd, LOOP_READ | LOOP_WRITE | LOOP_EDGE, fa_cb, f) < 0) {
		close(fd);
		fa_log(f, "forward auth: no event loop slot: 500", NULL);
		return PROXY_FWDAUTH_ERROR;
	}
	f->fd = fd;
	f->phase = FA_CONNECT;
	f->t_phase = now_ms(f);
	return PROXY_FWDAUTH_PENDING;
}

uint64_t proxy_fwdauth_deadline(const struct proxy_conn *c)
{
	const struct proxy_fwdauth *f = c->fa;
	if (!f)
		return UINT64_MAX;
	const struct proxy_dp_limits *L = &f->eng->lim;
	switch (f->phase) {
	case FA_CONNECT: return f->t_phase + L->connect_timeout_ms;
	case FA_SEND:
	case FA_RECV: return f->t_phase + L->response_header_timeout_ms;
	default: return UINT64_MAX;
	}
}

void proxy_fwdauth_expired(struct proxy_conn *c)
{
	struct proxy_fwdauth *f = c->fa;
	if (!f)
		return;
	fa_log(f, "forward auth timed out: 500",
	       f->phase == FA_CONNECT ? "connect (connect_timeout)"
				      : "answer (response_header_timeout)");
	fa_close(f);
	f->phase = FA_DONE;
}

/* A 2xx: keep the authResponseHeaders values (first field of each name). */
static int keep_fields(struct proxy_fwdauth *f, const struct http_response *res)
{
	const struct proxy_auth *au = f->au;
	if (f->npassed < 2)
		f->passed[f->npassed++] = au;
	for (uint32_t i = 0; i < au->nforward_response_headers; i++) {
		struct slice name = au->forward_response_headers[i];
		struct slice v = {NULL, 0};
		for (size_t k = 0; k < res->h.nhdr; k++)
			if (slice_eq_ci(res->h.hdr[k].name, name)) {
				v = res->h.hdr[k].value;
				break;
			}
		/* a name already kept (entry point and frontend both name it): later wins */
		uint32_t slot = f->nkept;
		for (uint32_t k = 0; k < f->nkept; k++)
			if (slice_eq_ci(f->kept[k].name, name))
				slot = k;
		if (slot == f->nkept && f->nkept == PROXY_FWDAUTH_MAX_FIELDS)
			return -ERR_BUF_FULL;
		if (f->keep_len + v.len > PROXY_FWDAUTH_KEEP_MAX)
			return -ERR_BUF_FULL;
		if (v.len)
			memcpy(f->keep + f->keep_len, v.p, v.len);
		f->kept[slot].name = name;
		f->kept[slot].off = f->keep_len;
		f->kept[slot].len = (uint32_t)v.len;
		f->keep_len += (uint32_t)v.len;
		if (slot == f->nkept)
			f->nkept++;
	}
	return 0;
}

bool proxy_fwdauth_drops(const struct proxy_conn *c, struct slice name)
{
	const struct proxy_fwdauth *f = c->fa;
	if (!f)
		return false;
	for (uint32_t i = 0; i < f->nkept; i++)
		if (slice_eq_ci(f->kept[i].name, name))
			return true;
	return false;
}

bool proxy_fwdauth_field(const struct proxy_conn *c, uint32_t i, struct slice *name,
			 struct slice *value)
{
	const struct proxy_fwdauth *f = c->fa;
	if (!f || i >= f->nkept)
		return false;
	*name = f->kept[i].name;
	*value = (struct slice){f->keep + f->kept[i].off, f->kept[i].len};
	return true;
}

/* A denial: the client response (head rewritten, body de-chunked) in rs from 0. */
static int build_denial(struct proxy_conn *c, struct proxy_fwdauth *f, bool *close)
{
	struct proxy_engine *e = c->eng;
	struct proxy_stream *s = &c->rs;
	const struct http_response *res = &s->slot->m.res;
	uint32_t body = s->ready - f->head_len;
	*close = c->close_after || !c->rq.done || !c->req_head_len || e->draining;
	struct buf b;
	buf_init(&b, e->scratch, e->scratch_cap);
	if (proxy_fwdauth_response_head(res, body, *close, c->minor, &b) < 0) {
		fa_log(f, "forward auth answer head not relayable: 500", NULL);
		return -1;
	}
	if (c->head_req)
		body = 0;
	if (b.len + body > s->cap) {
		fa_log(f, "forward auth answer over buf_size: 500", NULL);
		return -1;
	}
	memmove(s->b + b.len, s->b + f->head_len, body);
	memcpy(s->b, b.data, b.len);
	s->base = s->start = 0;
	s->ready = s->parse = s->end = (uint32_t)b.len + body;
	s->body = body;
	s->done = 1;
	s->mode = PM_NONE;
	c->status = res->status;
	return 0;
}

/* After the head: frame the body into [head_len, ready) (chunked decoded in place). */
static int frame_body(struct proxy_conn *c, struct proxy_fwdauth *f)
{
	struct proxy_stream *s = &c->rs;
	int rc = proxy_stream_frame(s, &c->eng->hl_res);
	if (rc < 0)
		return rc;
	if (s->parse > s->ready) {
		uint32_t n = s->end - s->parse;
		memmove(s->b + s->ready, s->b + s->parse, n);
		s->end = s->ready + n;
		s->parse = s->ready;
	}
	(void)f;
	return 0;
}

int proxy_fwdauth_step(struct proxy_conn *c, bool *close)
{
	struct proxy_engine *e = c->eng;
	struct proxy_fwdauth *f = c->fa;
	*close = false;
	if (!f || f->phase == FA_DONE || f->phase == FA_IDLE)
		return PROXY_FWDAUTH_ERROR;
	if (f->phase == FA_CONNECT) {
		if (!f->can_write && !f->hup)
			return PROXY_FWDAUTH_PENDING;
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err == EINPROGRESS || err == EALREADY)
			return PROXY_FWDAUTH_PENDING;
		if (err) {
			fa_log(f, "forward auth server unreachable: 500", strerror(err));
			goto fail;
		}
		if (!f->can_write)
			return PROXY_FWDAUTH_PENDING;
		f->phase = FA_SEND;
		f->t_phase = now_ms(f);
	}
	if (f->phase == FA_SEND) {
		if (f->tls)
			tls_pump(f);
		while (f->out_off < f->out_len) {
			ssize_t w = fa_write(f, c->rs.b + f->out_off, f->out_len - f->out_off);
			if (w > 0) {
				f->out_off += (uint32_t)w;
				continue;
			}
			if (w == -ERR_AGAIN && !(f->tls && tls_conn_error(f->tls)))
				return PROXY_FWDAUTH_PENDING;
			fa_log(f, "forward auth request failed: 500",
			       f->tls && tls_conn_error(f->tls) ? tls_conn_errmsg(f->tls)
								: err_str((int)w));
			goto fail;
		}
		f->phase = FA_RECV;
		struct proxy_stream *s = &c->rs;
		s->base = s->start = s->ready = s->parse = s->end = 0;
		s->left = s->body = 0;
		s->mode = PM_NONE;
		s->done = s->eof = s->compacted = 0;
		http_response_init(&s->slot->m.res, s->slot->hdr, e->lim.max_headers, HTTP_M_GET);
	}
	struct proxy_stream *s = &c->rs;
	for (int guard = 0; guard < 64; guard++) {
		ssize_t n = -ERR_AGAIN;
		if (s->end < s->cap) {
			n = fa_read(f, s->b + s->end, s->cap - s->end);
			if (n > 0)
				s->end += (uint32_t)n;
			else if (n != -ERR_AGAIN)
				s->eof = 1;
		}
		if (!f->head_done) {
			struct http_response *res = &s->slot->m.res;
			int rc = http_parse_response(res, (const char *)s->b, s->end, &e->hl_res);
			if (rc == -ERR_PARTIAL) {
				if (s->end == s->cap) {
					fa_log(f, "forward auth answer head over buf_size: 500",
					       NULL);
					goto fail;
				}
				if (s->eof) {
					fa_log(f,
					       "forward auth server closed without an answer: 500",
					       NULL);
					goto fail;
				}
				if (n > 0)
					continue;
				return PROXY_FWDAUTH_PENDING;
			}
			if (rc < 0) {
				fa_log(f, "forward auth answer malformed: 500", err_str(rc));
				goto fail;
			}
			if (res->status < 200) {
				if (res->status == 101) {
					fa_log(f, "forward auth answer malformed: 500",
					       "unsolicited 101");
					goto fail;
				}
				/* interim: dropped, the final answer follows */
				memmove(s->b, s->b + rc, s->end - (uint32_t)rc);
				s->end -= (uint32_t)rc;
				http_response_init(res, s->slot->hdr, e->lim.max_headers,
						   HTTP_M_GET);
				continue;
			}
			if (res->status >= 200 && res->status < 300) {
				if (keep_fields(f, res) < 0) {
					fa_log(f,
					       "forward auth response headers over "
					       "PROXY_FWDAUTH_KEEP_MAX: 500",
					       NULL);
					goto fail;
				}
				fa_close(f);
				f->phase = FA_DONE;
				return PROXY_FWDAUTH_ALLOW;
			}
			f->head_done = 1;
			f->head_len = (uint32_t)rc;
			uint8_t mode = res->h.body == HTTP_BODY_LENGTH    ? PM_LENGTH
				       : res->h.body == HTTP_BODY_CHUNKED ? PM_DECHUNK
				       : res->h.body == HTTP_BODY_CLOSE   ? PM_CLOSE
									  : PM_NONE;
			s->base = s->start = s->ready = s->parse = (uint32_t)rc;
			proxy_stream_body(s, mode, res->h.content_length);
		}
		if (frame_body(c, f) < 0) {
			fa_log(f, "forward auth answer body malformed: 500", NULL);
			goto fail;
		}
		if (!s->done && s->eof) {
			if (s->mode != PM_CLOSE) {
				fa_log(f, "forward auth answer truncated: 500", NULL);
				goto fail;
			}
			s->done = 1;
		}
		if (s->done) {
			fa_close(f);
			f->phase = FA_DONE;
			if (build_denial(c, f, close) < 0)
				return PROXY_FWDAUTH_ERROR;
			return PROXY_FWDAUTH_DENY;
		}
		if (s->end == s->cap) {
			fa_log(f, "forward auth answer body over buf_size: 500", NULL);
			goto fail;
		}
		if (n <= 0)
			return PROXY_FWDAUTH_PENDING;
	}
	return PROXY_FWDAUTH_PENDING;
fail:
	fa_close(f);
	f->phase = FA_DONE;
	return PROXY_FWDAUTH_ERROR;
}
