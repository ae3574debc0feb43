/* provider_http.c — asynchronous HTTP/1.1 client for providers (see provider_http.h).
 *
 * States: IDLE (no connection) -> CONNECTING (non-blocking connect) -> PROXY (CONNECT tunnel
 * through an HTTPS proxy, plain bytes) -> XFER (TLS handshake if any, request out, response
 * in) -> KEEP (idle kept-alive connection) or IDLE. Every event ends in pump(), which moves
 * bytes until nothing progresses, then sets the fd interest from what is left to do.
 *
 * The response buffer holds the head, then the decoded body, then undecoded bytes: chunked
 * data is decoded in place (memmove down over the framing), so one buffer of
 * max_response_bytes bounds everything.
 */
#include "provider/provider_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base_err.h"
#include "base/base_log.h"
#include "http/http_write.h"
#include "provider/provider.h"

enum { PH_IDLE, PH_CONNECTING, PH_PROXY, PH_XFER, PH_KEEP };

static void on_fd(struct loop *l, int fd, uint32_t ev, void *arg);
static void pump(struct phttp *c);

/* Endpoints and proxies ------------------------------------------------------------------- */

int phttp_parse_endpoint(const char *ep, uint16_t default_port, char *host, size_t cap,
			 uint16_t *port, bool *scheme_tls, bool *has_scheme)
{
	const char *p = ep;
	*scheme_tls = false;
	*has_scheme = false;
	if (strncmp(p, "http://", 7) == 0) {
		p += 7;
		*has_scheme = true;
	} else if (strncmp(p, "https://", 8) == 0) {
		p += 8;
		*has_scheme = *scheme_tls = true;
	} else if (strstr(p, "://")) {
		return -ERR_PARSE;
	}
	/* drop user info and any path */
	const char *end = p + strcspn(p, "/?#");
	const char *at = memchr(p, '@', (size_t)(end - p));
	if (at)
		p = at + 1;
	const char *hs = p, *he, *ps = NULL;
	if (*p == '[') {
		he = memchr(p, ']', (size_t)(end - p));
		if (!he)
			return -ERR_PARSE;
		hs = p + 1;
		if (he + 1 < end) {
			if (he[1] != ':')
				return -ERR_PARSE;
			ps = he + 2;
		}
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		he = colon ? colon : end;
		if (colon)
			ps = colon + 1;
	}
	size_t hl = (size_t)(he - hs);
	if (hl == 0 || hl >= cap)
		return -ERR_PARSE;
	memcpy(host, hs, hl);
	host[hl] = 0;
	if (ps) {
		uint64_t v;
		if (slice_to_u64((struct slice){ps, (size_t)(end - ps)}, 65535, &v) < 0 || v == 0)
			return -ERR_PARSE;
		*port = (uint16_t)v;
	} else {
		*port = *has_scheme && *scheme_tls && default_port == 0 ? 443 : default_port;
		if (*port == 0)
			*port = *scheme_tls ? 443 : 80;
	}
	return 0;
}

bool phttp_no_proxy_match(const char *no_proxy, const char *host)
{
	if (!no_proxy || !*no_proxy)
		return false;
	struct slice rest = slice_from_cstr(no_proxy), item;
	struct slice h = slice_from_cstr(host);
	while (rest.p) {
		item = slice_trim_ows(slice_cut(rest, ',', &rest));
		if (!item.len)
			continue;
		if (slice_eq_cstr(item, "*"))
			return true;
		/* drop a port */
		const char *colon = memchr(item.p, ':', item.len);
		if (colon && !memchr(colon + 1, ':', item.len - (size_t)(colon - item.p) - 1))
			item.len = (size_t)(colon - item.p);
		if (item.len && item.p[0] == '.') {
			item.p++;
			item.len--;
		}
		if (!item.len)
			continue;
		if (slice_eq_ci(h, item))
			return true;
		if (h.len > item.len && h.p[h.len - item.len - 1] == '.' &&
		    slice_eq_ci((struct slice){h.p + h.len - item.len, item.len}, item))
			return true;
	}
	return false;
}

static int resolve(struct phttp_addr *a, char *errmsg, size_t cap)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	char port[8];
	provider_fmt(port, sizeof port, "%u", a->port);
	hints.ai_flags = AI_NUMERICSERV;
	int rc = getaddrinfo(a->host, port, &hints, &res);
	if (rc != 0 || !res) {
		provider_fmt(errmsg, cap, "cannot resolve %s: %s", a->host, gai_strerror(rc));
		return -ERR_PROVIDER_CONFIG;
	}
	memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
	a->salen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int phttp_init(struct phttp *c, struct loop *l, const struct phttp_config *cfg)
{
	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->loop = l;
	c->rand = cfg->rand;
	c->tls_cfg = cfg->tls_cfg;
	c->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 10000;
	bool stls, has_scheme;
	if (!cfg->endpoint ||
	    phttp_parse_endpoint(cfg->endpoint, cfg->default_port, c->target.host,
				 sizeof c->target.host, &c->target.port, &stls, &has_scheme) < 0) {
		provider_fmt(c->errmsg, sizeof c->errmsg,
			     "bad endpoint \"%s\" (want host:port or "
			     "http[s]://host:port)",
			     cfg->endpoint ? cfg->endpoint : "");
		return -ERR_PROVIDER_CONFIG;
	}
	c->use_tls = stls || (!has_scheme && cfg->tls);
	if (c->use_tls && !cfg->tls_cfg) {
		provider_fmt(c->errmsg, sizeof c->errmsg,
			     "TLS endpoint %s without a TLS configuration", cfg->endpoint);
		return -ERR_PROVIDER_CONFIG;
	}
	const char *px = c->use_tls ? cfg->https_proxy : cfg->http_proxy;
	if (px && *px && !phttp_no_proxy_match(cfg->no_proxy, c->target.host)) {
		bool ptls, phs;
		if (phttp_parse_endpoint(px, 0, c->proxy.host, sizeof c->proxy.host, &c->proxy.port,
					 &ptls, &phs) < 0 ||
		    ptls) {
			provider_fmt(c->errmsg, sizeof c->errmsg,
				     "bad proxy \"%s\" (want http://host:port)", px);
			return -ERR_PROVIDER_CONFIG;
		}
		if (!phs && !strchr(px, ':'))
			c->proxy.port = 80;
		c->use_proxy = true;
		int rc = resolve(&c->proxy, c->errmsg, sizeof c->errmsg);
		if (rc < 0)
			return rc;
	} else {
		int rc = resolve(&c->target, c->errmsg, sizeof c->errmsg);
		if (rc < 0)
			return rc;
	}
	if (cfg->max_response_bytes < 1024) {
		provider_fmt(c->errmsg, sizeof c->errmsg, "max_response_bytes too small");
		return -ERR_PROVIDER_CONFIG;
	}
	size_t tls_sz = c->use_tls ? tls_conn_size() : 0;
	size_t total = tls_sz + PHTTP_REQUEST_MAX + 1024 + cfg->max_response_bytes;
	c->mem = calloc(1, total);
	if (!c->mem)
		return -ERR_NOMEM;
	unsigned char *m = c->mem;
	if (tls_sz) {
		c->tls = (struct tls_conn *)m;
		m += tls_sz;
	}
	buf_init(&c->out, m, PHTTP_REQUEST_MAX);
	m += PHTTP_REQUEST_MAX;
	buf_init(&c->pre, m, 1024);
	m += 1024;
	c->in = (char *)m;
	c->in_cap = cfg->max_response_bytes;
	http_limits_default(&c->lim);
	c->lim.max_body = UINT64_MAX / 4; /* the buffer is the bound; streams run forever */
	c->state = PH_IDLE;
	return 0;
}

/* Connection ------------------------------------------------------------------------------ */

static void conn_close(struct phttp *c)
{
	if (c->fd >= 0) {
		loop_del_fd(c->loop, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	if (c->tls_on) {
		tls_conn_wipe(c->tls);
		c->tls_on = false;
	}
	c->state = PH_IDLE;
}

static void timers_stop(struct phttp *c)
{
	loop_timer_cancel(c->loop, c->timer);
	loop_timer_cancel(c->loop, c->kick);
	c->timer = (struct loop_timer_id){0, 0};
	c->kick = (struct loop_timer_id){0, 0};
}

void phttp_fini(struct phttp *c)
{
	if (!c->loop)
		return;
	timers_stop(c);
	conn_close(c);
	free(c->mem);
	c->mem = NULL;
	c->done = NULL;
	c->loop = NULL;
}

bool phttp_busy(const struct phttp *c)
{
	return c->done != NULL;
}

/* End the request: err 0 = response complete. The callback runs last and may start another. */
static void finish(struct phttp *c, int err)
{
	timers_stop(c);
	bool keep = err == 0 && c->state == PH_XFER && (c->res.h.flags & HTTP_F_KEEP_ALIVE) &&
		    c->res.h.body != HTTP_BODY_CLOSE && c->raw_off == c->in_len && !c->eof;
	if (keep) {
		c->state = PH_KEEP;
		loop_mod_fd(c->loop, c->fd, LOOP_READ);
	} else {
		conn_close(c);
	}
	phttp_done_fn done = c->done;
	void *arg = c->arg;
	c->done = NULL;
	c->data = NULL;
	c->gen++;
	if (done)
		done(arg, err);
}

static void fail(struct phttp *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct phttp *c, int err, const char *fmt, ...)
{
	char msg[sizeof c->errmsg]; /* the arguments may point into c->errmsg */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	memcpy(c->errmsg, msg, sizeof msg);
	finish(c, err);
}

static void on_timeout(struct loop *l, void *arg)
{
	struct phttp *c = arg;
	c->timer = (struct loop_timer_id){0, 0};
	fail(c, -ERR_TIMEOUT, "%s %s:%u timed out",
	     c->state == PH_CONNECTING ? "connect to" : "request to", c->target.host,
	     c->target.port);
}

static void arm_timer(struct phttp *c, uint64_t ms)
{
	loop_timer_cancel(c->loop, c->timer);
	c->timer = (struct loop_timer_id){0, 0};
	if (ms)
		loop_timer_add(c->loop, ms, on_timeout, c, &c->timer);
}

static void start_xfer(struct phttp *c)
{
	c->state = PH_XFER;
	if (c->use_tls && !c->tls_on) {
		int rc = tls_conn_init_client(c->tls, c->tls_cfg, c->target.host, c->rand);
		if (rc < 0) {
			fail(c, rc, "TLS set-up for %s: %s", c->target.host,
			     tls_conn_errmsg(c->tls));
			return;
		}
		c->tls_on = true;
	}
	arm_timer(c, c->timeout_ms);
}

static int conn_open(struct phttp *c)
{
	const struct phttp_addr *a = c->use_proxy ? &c->proxy : &c->target;
	int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_from_errno(errno);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	if (connect(fd, (const struct sockaddr *)&a->sa, a->salen) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		provider_fmt(c->errmsg, sizeof c->errmsg, "connect to %s:%u: %s", a->host, a->port,
			     strerror(e));
		return err_from_errno(e);
	}
	int rc = loop_add_fd(c->loop, fd, LOOP_WRITE, on_fd, c);
	if (rc < 0) {
		close(fd);
		provider_fmt(c->errmsg, sizeof c->errmsg, "loop: %s", c->loop->errmsg);
		return rc;
	}
	c->fd = fd;
	c->state = PH_CONNECTING;
	c->eof = false;
	arm_timer(c, c->connect_timeout_ms);
	return 0;
}

/* Start (or restart, for the retry) the exchange: a fresh connection or the kept one. */
static void begin(struct phttp *c)
{
	c->out_off = 0;
	c->in_len = c->head_len = c->body_len = c->raw_off = 0;
	c->body_total = 0;
	c->body_done = false;
	http_response_init(&c->res, c->hdr, PHTTP_MAX_HEADERS, c->method);
	http_chunked_init(&c->ck);
	if (c->state == PH_KEEP) {
		c->reused = true;
		c->state = PH_XFER;
		arm_timer(c, c->timeout_ms);
		pump(c);
		return;
	}
	c->reused = false;
	conn_close(c);
	int rc = conn_open(c);
	if (rc < 0)
		finish(c, rc);
}

static void on_kick(struct loop *l, void *arg)
{
	struct phttp *c = arg;
	c->kick = (struct loop_timer_id){0, 0};
	begin(c);
}

int phttp_request(struct phttp *c, const char *method, const char *path,
		  const struct http_header *hdr, size_t n, struct slice body, uint64_t timeout_ms,
		  phttp_done_fn done, phttp_data_fn data, void *arg)
{
	if (!c->mem || c->done || !done)
		return -ERR_INVAL;
	char target[PHTTP_HOST_MAX + 2048];
	char hostport[PHTTP_HOST_MAX + 16];
	bool v6 = strchr(c->target.host, ':') != NULL;
	provider_fmt(hostport, sizeof hostport, v6 ? "[%s]:%u" : "%s:%u", c->target.host,
		     c->target.port);
	if (c->use_proxy && !c->use_tls) {
		if ((size_t)provider_fmt(target, sizeof target, "http://%s%s", hostport, path) >=
		    sizeof target)
			return -ERR_BUF_FULL;
	} else if ((size_t)provider_fmt(target, sizeof target, "%s", path) >= sizeof target) {
		return -ERR_BUF_FULL;
	}
	buf_reset(&c->out);
	int rc = http_write_request_line(&c->out, slice_from_cstr(method), slice_from_cstr(target),
					 1);
	if (rc == 0)
		rc = http_write_header(&c->out, SLICE_LIT("Host"), slice_from_cstr(hostport));
	if (rc == 0)
		rc = http_write_header(&c->out, SLICE_LIT("User-Agent"), SLICE_LIT("traefikee"));
	if (rc == 0)
		rc = http_write_headers(&c->out, hdr, n, 0);
	if (rc == 0 && (body.len || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0))
		rc = http_write_header_u64(&c->out, SLICE_LIT("Content-Length"), body.len);
	if (rc == 0)
		rc = http_write_head_end(&c->out);
	if (rc == 0 && body.len)
		rc = buf_append(&c->out, body.p, body.len);
	if (rc < 0) {
		buf_reset(&c->out);
		return rc;
	}
	c->method = strcmp(method, "HEAD") == 0 ? HTTP_M_HEAD : HTTP_M_OTHER;
	c->done = done;
	c->data = data;
	c->arg = arg;
	c->timeout_ms = timeout_ms;
	c->retried = false;
	c->errmsg[0] = 0;
	/* Never do I/O from inside the caller (it may be a done callback holding body slices). */
	rc = loop_timer_add(c->loop, 0, on_kick, c, &c->kick);
	if (rc < 0) {
		c->done = NULL;
		return rc;
	}
	return 0;
}

void phttp_cancel(struct phttp *c)
{
	if (!c->loop)
		return;
	timers_stop(c);
	conn_close(c);
	c->done = NULL;
	c->data = NULL;
	c->gen++;
}

struct slice phttp_body(const struct phttp *c)
{
	return (struct slice){c->in + c->head_len, c->body_len};
}

struct slice phttp_header(const struct phttp *c, const char *name)
{
	if (!c->head_len)
		return (struct slice){NULL, 0};
	for (size_t i = 0; i < c->res.h.nhdr; i++)
		if (slice_eq_cstr_ci(c->hdr[i].name, name))
			return c->hdr[i].value;
	return (struct slice){NULL, 0};
}

/* Byte moving -------------------------------------------------------------------------- */

/* Send what is pending of b from *off. > 0 progress, 0 would block, < 0 error. */
static int send_plain(struct phttp *c, struct buf *b, size_t *off)
{
	if (*off >= b->len)
		return 0;
	ssize_t n = send(c->fd, b->data + *off, b->len - *off, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		provider_fmt(c->errmsg, sizeof c->errmsg, "send to %s: %s", c->target.host,
			     strerror(errno));
		return err_from_errno(errno);
	}
	*off += (size_t)n;
	return 1;
}

/* Read into in. > 0 progress, 0 would block / nothing to do, -ERR_CLOSED-like errors < 0;
 * c->eof set at end of stream. */
static int recv_bytes(struct phttp *c)
{
	if (c->eof)
		return 0;
	if (c->in_len == c->in_cap)
		return 0;
	if (c->tls_on) {
		ssize_t n = tls_conn_read(c->tls, c->in + c->in_len, c->in_cap - c->in_len);
		if (n > 0) {
			c->in_len += (size_t)n;
			return 1;
		}
		if (n == 0) {
			c->eof = true;
			return 1;
		}
		if (n == -ERR_AGAIN)
			return 0;
		if (n == -ERR_TLS_TRUNCATED) {
			c->eof = true;
			return 1;
		}
		provider_fmt(c->errmsg, sizeof c->errmsg, "TLS with %s: %s", c->target.host,
			     tls_conn_errmsg(c->tls));
		return (int)n;
	}
	ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n > 0) {
		c->in_len += (size_t)n;
		return 1;
	}
	if (n == 0) {
		c->eof = true;
		return 1;
	}
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	provider_fmt(c->errmsg, sizeof c->errmsg, "read from %s: %s", c->target.host,
		     strerror(errno));
	if (errno == ECONNRESET) {
		c->eof = true;
		return -ERR_CLOSED;
	}
	return err_from_errno(errno);
}

/* Response processing ----------------------------------------------------------------- */

/* Move newly arrived body bytes into the decoded region. 0, or an error. */
static int decode_body(struct phttp *c)
{
	if (c->res.h.body == HTTP_BODY_CHUNKED) {
		while (!c->body_done && c->raw_off < c->in_len) {
			size_t used = 0;
			struct slice data;
			int rc = http_chunked_decode(&c->ck, c->in + c->raw_off,
						     c->in_len - c->raw_off, &c->lim, &used, &data);
			if (rc < 0) {
				provider_fmt(c->errmsg, sizeof c->errmsg,
					     "bad chunked body from %s: %s", c->target.host,
					     err_str(rc));
				return rc;
			}
			if (data.len) {
				memmove(c->in + c->head_len + c->body_len, data.p, data.len);
				c->body_len += data.len;
			}
			c->raw_off += used;
			if (rc == 1)
				c->body_done = true;
			if (used == 0)
				break;
		}
		/* compact: undecoded tail right after the decoded body */
		size_t dst = c->head_len + c->body_len;
		if (c->raw_off > dst) {
			memmove(c->in + dst, c->in + c->raw_off, c->in_len - c->raw_off);
			c->in_len -= c->raw_off - dst;
			c->raw_off = dst;
		}
		return 0;
	}
	/* identity: raw bytes are the body */
	size_t avail = c->in_len - c->raw_off;
	if (c->res.h.body == HTTP_BODY_LENGTH) {
		uint64_t left = c->res.h.content_length - c->body_total;
		if (avail > left)
			avail = (size_t)left;
		c->body_len += avail;
		c->body_total += avail;
		c->raw_off += avail;
		if (c->body_total == c->res.h.content_length)
			c->body_done = true;
	} else if (c->res.h.body == HTTP_BODY_CLOSE) {
		c->body_len += avail;
		c->raw_off += avail;
		if (c->eof)
			c->body_done = true;
	} else {
		c->body_done = true;
	}
	return 0;
}

/* Hand streamed bytes to the consumer; drop what it consumed. */
static int stream_out(struct phttp *c)
{
	if (!c->data || c->res.status != 200 || !c->body_len)
		return 0;
	unsigned gen = c->gen;
	long n = c->data(c->arg, (struct slice){c->in + c->head_len, c->body_len});
	if (gen != c->gen)
		return 1; /* cancelled or finished from inside */
	if (n < 0)
		return (int)n;
	if ((size_t)n > c->body_len)
		n = (long)c->body_len;
	size_t rest = c->in_len - c->head_len - (size_t)n;
	memmove(c->in + c->head_len, c->in + c->head_len + n, rest);
	c->body_len -= (size_t)n;
	c->raw_off -= (size_t)n;
	c->in_len -= (size_t)n;
	return 0;
}

/* Parse the CONNECT answer (plain bytes). 1: tunnel up, 0: more, < 0: failed. */
static int proxy_answer(struct phttp *c)
{
	int rc = http_parse_response(&c->res, c->in, c->in_len, &c->lim);
	if (rc == -ERR_PARTIAL)
		return c->eof ? -ERR_CLOSED : 0;
	if (rc < 0)
		return rc;
	if (c->res.status / 100 != 2) {
		provider_fmt(c->errmsg, sizeof c->errmsg, "proxy %s:%u refused CONNECT %s:%u: %d",
			     c->proxy.host, c->proxy.port, c->target.host, c->target.port,
			     c->res.status);
		return -ERR_PROVIDER_PROXY;
	}
	if ((size_t)rc != c->in_len)
		return -ERR_PROVIDER_PROXY; /* bytes before our ClientHello: not a tunnel */
	c->in_len = 0;
	http_response_init(&c->res, c->hdr, PHTTP_MAX_HEADERS, c->method);
	return 1;
}

/* A request on a reused connection died before any answer: once, on a fresh connection. */
static bool try_retry(struct phttp *c)
{
	if (!c->reused || c->retried || c->in_len || c->head_len)
		return false;
	c->retried = true;
	conn_close(c);
	begin(c);
	return true;
}

static void pump(struct phttp *c)
{
	for (int guard = 0; guard < 10000; guard++) {
		unsigned gen = c->gen;
		int progress = 0, rc;
		if (c->state == PH_PROXY) {
			rc = send_plain(c, &c->pre, &c->pre_off);
			if (rc < 0) {
				fail(c, rc, "%s", c->errmsg);
				return;
			}
			progress |= rc;
			rc = recv_bytes(c);
			if (rc < 0) {
				fail(c, rc, "%s", c->errmsg);
				return;
			}
			progress |= rc;
			rc = proxy_answer(c);
			if (rc < 0) {
				fail(c, rc, "%s", c->errmsg[0] ? c->errmsg : err_str(rc));
				return;
			}
			if (rc == 1) {
				start_xfer(c);
				if (gen != c->gen)
					return;
				progress = 1;
			}
			if (!progress)
				break;
			continue;
		}
		if (c->state != PH_XFER)
			return;
		/* out */
		if (c->tls_on) {
			if (c->out_off < c->out.len) {
				ssize_t n = tls_conn_write(c->tls, c->out.data + c->out_off,
							   c->out.len - c->out_off);
				if (n > 0) {
					c->out_off += (size_t)n;
					progress = 1;
				} else if (n != -ERR_AGAIN) {
					if (try_retry(c))
						return;
					{
						fail(c, (int)n, "TLS with %s: %s", c->target.host,
						     tls_conn_errmsg(c->tls));
						return;
					}
				}
			}
			rc = tls_conn_on_writable(c->tls, c->fd);
			if (rc < 0 && !c->eof) {
				if (try_retry(c))
					return;
				{
					fail(c, rc, "TLS with %s: %s", c->target.host,
					     tls_conn_errmsg(c->tls));
					return;
				}
			}
		} else {
			rc = send_plain(c, &c->out, &c->out_off);
			if (rc < 0) {
				if (try_retry(c))
					return;
				{
					fail(c, rc, "%s", c->errmsg);
					return;
				}
			}
			progress |= rc;
		}
		/* in */
		rc = recv_bytes(c);
		if (rc < 0) {
			if (try_retry(c))
				return;
			{
				fail(c, rc, "%s", c->errmsg);
				return;
			}
		}
		progress |= rc;
		if (!c->head_len && c->in_len) {
			rc = http_parse_response(&c->res, c->in, c->in_len, &c->lim);
			if (rc > 0 && c->res.status / 100 == 1 && c->res.status != 101) {
				/* interim: drop it and parse the final one */
				memmove(c->in, c->in + rc, c->in_len - (size_t)rc);
				c->in_len -= (size_t)rc;
				http_response_init(&c->res, c->hdr, PHTTP_MAX_HEADERS, c->method);
				progress = 1;
				continue;
			}
			if (rc > 0) {
				c->head_len = c->raw_off = (size_t)rc;
				progress = 1;
			} else if (rc != -ERR_PARTIAL) {
				{
					fail(c, rc, "bad response from %s: %s", c->target.host,
					     err_str(rc));
					return;
				}
			}
		}
		if (c->head_len && !c->body_done) {
			rc = decode_body(c);
			if (rc < 0) {
				fail(c, rc, "%s", c->errmsg);
				return;
			}
			rc = stream_out(c);
			if (rc == 1)
				return;
			if (rc < 0) {
				provider_fmt(c->errmsg, sizeof c->errmsg, "stream from %s: %s",
					     c->target.host, err_str(rc));
				{
					finish(c, rc);
					return;
				}
			}
		}
		if (c->head_len && c->body_done) {
			finish(c, 0);
			return;
		}
		if (c->eof) {
			if (try_retry(c))
				return;
			{
				fail(c, -ERR_CLOSED, "%s:%u closed the connection %s",
				     c->target.host, c->target.port,
				     c->head_len ? "in the middle of the body"
						 : "before answering");
				return;
			}
		}
		if (c->in_len == c->in_cap) {
			{
				fail(c, -ERR_PROVIDER_RESPONSE_TOO_LARGE,
				     "response from %s over max_response_bytes (%zu)",
				     c->target.host, c->in_cap);
				return;
			}
		}
		if (!progress)
			break;
	}
	/* interest */
	if (c->fd < 0)
		return;
	uint32_t want;
	if (c->state == PH_PROXY)
		want = LOOP_READ | (c->pre_off < c->pre.len ? LOOP_WRITE : 0);
	else if (c->tls_on)
		want = tls_conn_want(c->tls) | LOOP_READ;
	else
		want = LOOP_READ | (c->out_off < c->out.len ? LOOP_WRITE : 0);
	loop_mod_fd(c->loop, c->fd, want);
}

static void connected(struct phttp *c)
{
	if (c->use_proxy && c->use_tls) {
		char hp[PHTTP_HOST_MAX + 16];
		bool v6 = strchr(c->target.host, ':') != NULL;
		provider_fmt(hp, sizeof hp, v6 ? "[%s]:%u" : "%s:%u", c->target.host,
			     c->target.port);
		buf_reset(&c->pre);
		c->pre_off = 0;
		if (http_write_request_line(&c->pre, SLICE_LIT("CONNECT"), slice_from_cstr(hp), 1) <
			    0 ||
		    http_write_header(&c->pre, SLICE_LIT("Host"), slice_from_cstr(hp)) < 0 ||
		    http_write_head_end(&c->pre) < 0) {
			fail(c, -ERR_INVAL, "CONNECT request for %s does not fit", hp);
			return;
		}
		c->state = PH_PROXY;
		http_response_init(&c->res, c->hdr, PHTTP_MAX_HEADERS, HTTP_M_CONNECT);
		{
			pump(c);
			return;
		}
	}
	start_xfer(c);
	if (c->state == PH_XFER)
		pump(c);
}

static void on_fd(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct phttp *c = arg;
	switch (c->state) {
	case PH_CONNECTING: {
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err == 0 && !(ev & (LOOP_WRITE | LOOP_ERR | LOOP_HUP)))
			return;
		if (err != 0 || (ev & (LOOP_ERR | LOOP_HUP))) {
			const struct phttp_addr *a = c->use_proxy ? &c->proxy : &c->target;
			{
				fail(c, err ? err_from_errno(err) : -ERR_CLOSED,
				     "connect to %s:%u: %s", a->host, a->port,
				     err ? strerror(err) : "hang-up");
				return;
			}
		}
		{
			connected(c);
			return;
		}
	}
	case PH_KEEP: {
		/* an idle kept connection became readable: the server closed it (or talks out of
		 * turn); either way it is finished */
		conn_close(c);
		return;
	}
	case PH_PROXY:
	case PH_XFER:
		if (c->tls_on && (ev & (LOOP_READ | LOOP_RDHUP | LOOP_HUP | LOOP_ERR))) {
			int rc = tls_conn_on_readable(c->tls, fd);
			if (rc < 0 && rc != -ERR_TLS_TRUNCATED &&
			    !tls_conn_handshake_done(c->tls) && !try_retry(c)) {
				fail(c, rc, "TLS with %s: %s", c->target.host,
				     tls_conn_errmsg(c->tls));
				return;
			}
		}
		if (c->tls_on && (ev & LOOP_WRITE))
			tls_conn_on_writable(c->tls, fd);
		{
			pump(c);
			return;
		}
	default: conn_close(c);
	}
}
