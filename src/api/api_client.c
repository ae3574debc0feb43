/* api_client.c — blocking control API client over a unix socket or TCP + TLS (api_client.h).
 *
 * Every call has one deadline (now + timeout_ms). Sockets are non-blocking and every wait is a
 * poll(2) bounded by what is left of it. Over TLS the sans-I/O engine is driven the same way:
 * poll for what tls_conn_want asks, then tls_conn_on_readable / _on_writable.
 */
#include "api/api_client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/base_err.h"
#include "base/base_time.h"
#include "http/http_write.h"
#include "json/json.h"
#include "pki/pki_key.h"

#define EARLY_RESPONSE 1 /* client_send: the server answered before the request was sent */

static int cli_err(struct api_client *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int cli_err(struct api_client *c, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
	va_end(ap);
	return err;
}

void api_result_init(struct api_result *r, char *buf, size_t cap)
{
	memset(r, 0, sizeof *r);
	r->body = buf;
	r->cap = cap;
	if (cap)
		buf[0] = 0;
}

const char *api_client_errmsg(const struct api_client *c)
{
	return c->errmsg;
}

void api_client_set_timeout(struct api_client *c, uint32_t ms)
{
	c->timeout_ms = ms ? ms : API_CLIENT_TIMEOUT_MS;
}

static void client_reset(struct api_client *c, enum api_client_kind kind)
{
	memset(c, 0, sizeof *c);
	c->kind = kind;
	c->fd = -1;
	c->timeout_ms = API_CLIENT_TIMEOUT_MS;
	http_limits_default(&c->hlim);
	c->hlim.max_line = 4096;
	c->hlim.max_header_bytes = API_CLIENT_RBUF / 2;
	c->hlim.max_headers = API_CLIENT_HEADERS;
	c->hlim.max_body = UINT32_MAX; /* the caller's buffer is the real cap */
}

int api_client_init_unix(struct api_client *c, const char *path)
{
	client_reset(c, API_CLIENT_UNIX);
	if (!path || !path[0])
		return cli_err(c, -ERR_INVAL, "no socket path");
	if (strlen(path) >= API_UNIX_PATH_MAX)
		return cli_err(c, -ERR_RANGE, "socket path over %d bytes: %s",
			       API_UNIX_PATH_MAX - 1, path);
	snprintf(c->target, sizeof c->target, "%s", path);
	snprintf(c->host, sizeof c->host, "localhost");
	return 0;
}

static int tcp_target(struct api_client *c, const char *address)
{
	if (!address || api_creds_address_check(address) != 0)
		return cli_err(c, -ERR_INVAL, "invalid API address \"%s\" (want host:port)",
			       address ? address : "");
	snprintf(c->target, sizeof c->target, "%s", address);
	api_addr_split(address, c->host, sizeof c->host, &c->port);
	return 0;
}

int api_client_init_tls(struct api_client *c, const char *address, const void *ca_pem,
			size_t ca_len, const void *cert_pem, size_t cert_len, const void *key_pem,
			size_t key_len)
{
	client_reset(c, API_CLIENT_TLS);
	int rc = tcp_target(c, address);
	if (rc)
		return rc;
	rc = tls_client_config_init(&c->tcfg, c->store, sizeof c->store);
	if (rc)
		return cli_err(c, rc, "TLS set-up: %s", err_str(rc));
	rc = tls_client_add_ca(&c->tcfg, ca_pem, ca_len);
	if (rc < 0)
		return cli_err(c, rc, "cluster CA: %s", c->tcfg.errmsg);
	if (cert_pem) {
		rc = tls_client_set_cert(&c->tcfg, cert_pem, cert_len, key_pem, key_len);
		if (rc < 0)
			return cli_err(c, rc, "client certificate: %s", c->tcfg.errmsg);
	} else {
		c->anonymous = true;
	}
	return 0;
}

int api_client_init_creds(struct api_client *c, const struct api_creds *cr)
{
	return api_client_init_tls(c, cr->address, cr->ca_pem, cr->ca_len, cr->cert_pem,
				   cr->cert_len, cr->key_pem, cr->key_len);
}

int api_client_init_pinned(struct api_client *c, const char *address, const uint8_t ca_digest[32])
{
	client_reset(c, API_CLIENT_TLS);
	int rc = tcp_target(c, address);
	if (rc)
		return rc;
	rc = tls_client_config_init(&c->tcfg, c->store, sizeof c->store);
	if (rc)
		return cli_err(c, rc, "TLS set-up: %s", err_str(rc));
	tls_client_set_pin(&c->tcfg, ca_digest);
	c->anonymous = true;
	return 0;
}

void api_client_close(struct api_client *c)
{
	if (c->fd >= 0) {
		if (c->tls_on && tls_conn_handshake_done(&c->tls) && !tls_conn_done(&c->tls)) {
			/* close_notify, best effort: one non-blocking send */
			tls_conn_close(&c->tls);
			if (tls_conn_want(&c->tls) & TLS_WANT_WRITE)
				tls_conn_on_writable(&c->tls, c->fd);
		}
		close(c->fd);
	}
	if (c->tls_on)
		tls_conn_wipe(&c->tls);
	c->tls_on = false;
	c->fd = -1;
	c->reused = c->eof = c->truncated = c->in_body = c->keep = false;
	c->roff = c->rlen = c->pend_off = c->pend_len = 0;
}

void api_client_fini(struct api_client *c)
{
	api_client_close(c);
	pki_wipe(c, sizeof *c);
	c->fd = -1;
}

/* Waiting ---------------------------------------------------------------------------------- */

static int left_ms(const struct api_client *c)
{
	uint64_t now = time_mono_ms();
	if (now >= c->deadline)
		return 0;
	uint64_t d = c->deadline - now;
	return d > INT32_MAX ? INT32_MAX : (int)d;
}

/* poll fd for events until the deadline: revents, or -ERR_TIMEOUT. */
static int wait_fd(struct api_client *c, short events)
{
	for (;;) {
		struct pollfd p = {c->fd, events, 0};
		int ms = c->deadline == UINT64_MAX ? -1 : left_ms(c);
		int n = poll(&p, 1, ms);
		if (n > 0)
			return p.revents;
		if (n == 0)
			return -ERR_TIMEOUT;
		if (errno != EINTR)
			return err_from_errno(errno);
	}
}

/* Drive the TLS engine one step: wait for what it wants, move ciphertext. 0, or an error;
 * -ERR_CLOSED when it wants nothing and holds no plaintext (finished). */
static int tls_pump(struct api_client *c)
{
	int err = tls_conn_error(&c->tls);
	if (err)
		return err;
	unsigned want = tls_conn_want(&c->tls);
	if (want == 0)
		return tls_conn_done(&c->tls) ? -ERR_CLOSED : 0;
	int rev = wait_fd(c, (short)(((want & TLS_WANT_READ) ? POLLIN : 0) |
				     ((want & TLS_WANT_WRITE) ? POLLOUT : 0)));
	if (rev < 0)
		return rev;
	if (rev & (POLLIN | POLLHUP | POLLERR))
		tls_conn_on_readable(&c->tls, c->fd);
	if (rev & POLLOUT)
		tls_conn_on_writable(&c->tls, c->fd);
	return tls_conn_error(&c->tls);
}

/* Connecting ------------------------------------------------------------------------------- */

static int connect_unix(struct api_client *c)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, c->target, strlen(c->target));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cli_err(c, err_from_errno(errno), "cannot create a socket: %s",
			       strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
		c->fd = fd;
		return 0;
	}
	int e = errno;
	close(fd);
	const char *why;
	switch (e) {
	case ENOENT: why = "no such file (is the node running?)"; break;
	case ECONNREFUSED: why = "connection refused (is the node running?)"; break;
	case EACCES:
	case EPERM:
		why = "permission denied (the socket is mode 0600: run this as the user that "
		      "runs the node, or root)";
		break;
	case EAGAIN: why = "the node is not accepting connections fast enough (try again)"; break;
	case ENOTSOCK: why = "not a socket"; break;
	default: why = strerror(e); break;
	}
	return cli_err(c, -ERR_API_CONNECT, "cannot connect to %s: %s", c->target, why);
}

static int connect_tcp(struct api_client *c)
{
	char port[8];
	snprintf(port, sizeof port, "%u", c->port);
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int g = getaddrinfo(c->host, port, &hints, &res);
	if (g != 0)
		return cli_err(c, -ERR_API_CONNECT, "cannot resolve %s: %s", c->host,
			       gai_strerror(g));
	int last = 0;
	bool timed_out = false;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			last = errno;
			continue;
		}
		int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (rc != 0 && errno == EINPROGRESS) {
			c->fd = fd;
			int rev = wait_fd(c, POLLOUT);
			c->fd = -1;
			int soerr = 0;
			socklen_t sl = sizeof soerr;
			if (rev == -ERR_TIMEOUT) {
				timed_out = true;
				soerr = ETIMEDOUT;
			} else if (rev < 0) {
				soerr = EIO;
			} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
				soerr = errno;
			}
			rc = soerr ? -1 : 0;
			errno = soerr;
		}
		if (rc == 0) {
			freeaddrinfo(res);
			c->fd = fd;
			return 0;
		}
		last = errno;
		close(fd);
		if (timed_out)
			break;
	}
	freeaddrinfo(res);
	if (timed_out)
		return cli_err(
			c, -ERR_API_CONNECT,
			"cannot connect to %s: no answer within %u ms (is port %u reachable?)",
			c->target, c->timeout_ms, c->port);
	return cli_err(c, -ERR_API_CONNECT, "cannot connect to %s: %s", c->target,
		       last == ECONNREFUSED ? "connection refused (is a control node listening "
					      "on that port?)"
					    : strerror(last ? last : EINVAL));
}

static int tls_handshake(struct api_client *c)
{
	int rc = tls_conn_init_client(&c->tls, &c->tcfg, NULL, NULL);
	c->tls_on = true;
	if (rc)
		return cli_err(c, rc, "TLS set-up for %s: %s", c->target, tls_conn_errmsg(&c->tls));
	while (!tls_conn_handshake_done(&c->tls)) {
		rc = tls_pump(c);
		if (rc == -ERR_TIMEOUT)
			return cli_err(c, rc, "TLS handshake with %s: no answer within %u ms",
				       c->target, c->timeout_ms);
		if (rc < 0 && rc != -ERR_CLOSED) {
			const char *hint = "";
			if (!c->anonymous && rc == -ERR_TLS_HANDSHAKE)
				hint = " (the server refused our certificate? check that the "
				       "credentials belong to this cluster)";
			if (rc == -ERR_TLS_CERT)
				hint = c->anonymous ? " (the join token is not for this cluster?)"
						    : " (the server is not a node of the cluster "
						      "whose ca.pem we have)";
			return cli_err(c, rc, "TLS handshake with %s failed: %s%s", c->target,
				       tls_conn_errmsg(&c->tls), hint);
		}
		if (rc == -ERR_CLOSED)
			return cli_err(c, -ERR_TLS_HANDSHAKE,
				       "TLS handshake with %s failed: connection closed",
				       c->target);
	}
	size_t dn_len = 0;
	const uint8_t *dn = tls_conn_peer_dn(&c->tls, &dn_len);
	if (!dn || pki_name_identity(dn, dn_len, &c->server) != 0 ||
	    c->server.role != PKI_ROLE_CONTROL) {
		const char *what = dn ? pki_role_ou(c->server.role) : NULL;
		return cli_err(c, -ERR_TLS_CERT,
			       "%s presented a %s certificate, not a control node's", c->target,
			       what ? what : "non-cluster");
	}
	return 0;
}

static int client_connect(struct api_client *c)
{
	int rc;
	c->reused = c->eof = c->truncated = c->in_body = c->keep = false;
	c->roff = c->rlen = c->pend_off = c->pend_len = 0;
	switch (c->kind) {
	case API_CLIENT_UNIX: return connect_unix(c);
	case API_CLIENT_TLS:
		rc = connect_tcp(c);
		if (rc == 0)
			rc = tls_handshake(c);
		if (rc)
			api_client_close(c);
		return rc;
	case API_CLIENT_NONE: break;
	}
	return cli_err(c, -ERR_INVAL, "client not initialised");
}

/* Raw I/O ---------------------------------------------------------------------------------- */

/* Up to cap bytes from the server: > 0, 0 at end of stream, or an error (-ERR_TIMEOUT). */
static ssize_t client_recv(struct api_client *c, void *buf, size_t cap)
{
	if (c->eof)
		return 0;
	for (;;) {
		ssize_t n;
		if (c->tls_on) {
			n = tls_conn_read(&c->tls, buf, cap);
			if (n == -ERR_TLS_TRUNCATED) {
				c->truncated = true;
				n = 0;
			}
		} else {
			n = read(c->fd, buf, cap);
			if (n < 0)
				n = (errno == EAGAIN || errno == EWOULDBLOCK) ? -ERR_AGAIN
				    : errno == EINTR                          ? -ERR_AGAIN
						     : err_from_errno(errno);
		}
		if (n == 0)
			c->eof = true;
		if (n != -ERR_AGAIN)
			return n;
		int rc;
		if (c->tls_on) {
			rc = tls_pump(c);
			if (rc == -ERR_CLOSED)
				return 0;
			if (rc == -ERR_TLS_TRUNCATED) {
				/* an end without close_notify: what came before is complete
				 * only if its framing says so (body_read checks) */
				c->truncated = c->eof = true;
				return 0;
			}
		} else {
			rc = wait_fd(c, POLLIN);
			rc = rc < 0 ? rc : 0;
		}
		if (rc < 0)
			return rc;
	}
}

/* Read what is already waiting (without blocking) into rbuf: true if anything came. */
static bool client_peek_response(struct api_client *c)
{
	if (c->rlen >= sizeof c->rbuf)
		return false;
	ssize_t n;
	if (c->tls_on)
		n = tls_conn_read(&c->tls, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
	else
		n = recv(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen, MSG_DONTWAIT);
	if (n > 0) {
		c->rlen += (size_t)n;
		return true;
	}
	return false;
}

/* Send all of data. 0, EARLY_RESPONSE (the server answered first: stop sending and read it),
 * -ERR_CLOSED (the server closed; an answer may still be waiting), or an error. */
static int client_send(struct api_client *c, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t off = 0;
	while (off < len) {
		ssize_t n;
		if (c->tls_on) {
			n = tls_conn_write(&c->tls, p + off, len - off);
			if (n > 0)
				tls_conn_on_writable(&c->tls, c->fd);
		} else {
			n = send(c->fd, p + off, len - off, MSG_NOSIGNAL);
			if (n < 0)
				n = (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					    ? -ERR_AGAIN
					    : err_from_errno(errno);
		}
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n != -ERR_AGAIN)
			return n;
		int rc;
		if (c->tls_on) {
			rc = tls_pump(c);
			if (rc == -ERR_CLOSED)
				return -ERR_CLOSED;
		} else {
			rc = wait_fd(c, POLLOUT | POLLIN);
			if (rc > 0 && (rc & (POLLIN | POLLHUP)) && !(rc & POLLOUT))
				return client_peek_response(c) ? EARLY_RESPONSE : -ERR_CLOSED;
			rc = rc < 0 ? rc : 0;
		}
		if (rc < 0)
			return rc;
		/* The engine holding plaintext (want 0) is an answer too, even if rbuf is full. */
		if (c->tls_on && (client_peek_response(c) || tls_conn_want(&c->tls) == 0))
			return EARLY_RESPONSE;
	}
	if (!c->tls_on)
		return 0;
	/* Push the last records out. */
	while (tls_conn_want(&c->tls) & TLS_WANT_WRITE) {
		tls_conn_on_writable(&c->tls, c->fd);
		if (!(tls_conn_want(&c->tls) & TLS_WANT_WRITE))
			break;
		int rev = wait_fd(c, POLLOUT);
		if (rev < 0)
			return rev;
	}
	return tls_conn_error(&c->tls);
}

/* Responses -------------------------------------------------------------------------------- */

static enum http_method method_id(const char *m)
{
	if (strcmp(m, "HEAD") == 0)
		return HTTP_M_HEAD;
	if (strcmp(m, "CONNECT") == 0)
		return HTTP_M_CONNECT;
	return HTTP_M_GET;
}

/* Read and parse a response head (interim 1xx skipped). The status, or an error. */
static int read_head(struct api_client *c, enum http_method mid)
{
	for (;;) {
		http_response_init(&c->res, c->hdr, API_CLIENT_HEADERS, mid);
		int rc;
		for (;;) {
			rc = http_parse_response(&c->res, (const char *)c->rbuf + c->roff,
						 c->rlen - c->roff, &c->hlim);
			if (rc != -ERR_PARTIAL)
				break;
			if (c->rlen == sizeof c->rbuf) {
				if (c->roff == 0)
					return cli_err(c, -ERR_TOO_LARGE,
						       "response head from %s over %zu bytes",
						       c->target, sizeof c->rbuf);
				memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
				c->rlen -= c->roff;
				c->roff = 0;
				http_response_init(&c->res, c->hdr, API_CLIENT_HEADERS, mid);
				continue;
			}
			ssize_t n = client_recv(c, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
			if (n == -ERR_TIMEOUT)
				return cli_err(c, -ERR_TIMEOUT, "no response from %s within %u ms",
					       c->target, c->timeout_ms);
			if (n < 0)
				return cli_err(
					c, (int)n, "reading the response from %s: %s", c->target,
					c->tls_on ? tls_conn_errmsg(&c->tls) : err_str((int)n));
			if (n == 0) {
				if (c->rlen == c->roff)
					return cli_err(c, -ERR_CLOSED,
						       "%s closed the connection without answering",
						       c->target);
				return cli_err(c, -ERR_PARSE, "response from %s cut short",
					       c->target);
			}
			c->rlen += (size_t)n;
		}
		if (rc < 0)
			return cli_err(c, -ERR_PARSE, "malformed response from %s: %s", c->target,
				       err_str(rc));
		c->roff += (size_t)rc;
		if (c->res.status >= 200 || c->res.status == 101)
			break;
		/* 1xx interim (100 Continue): the final response follows */
	}
	c->body_mode = c->res.h.body;
	c->body_left = c->res.h.content_length;
	c->keep = (c->res.h.flags & HTTP_F_KEEP_ALIVE) && c->body_mode != HTTP_BODY_CLOSE;
	if (c->body_mode == HTTP_BODY_CHUNKED)
		http_chunked_init(&c->chunk);
	c->in_body = c->body_mode != HTTP_BODY_NONE &&
		     !(c->body_mode == HTTP_BODY_LENGTH && c->body_left == 0);
	return c->res.status;
}

/* Make sure raw body bytes are in rbuf[roff..rlen): > 0 available, 0 at end of stream. */
static ssize_t body_fill(struct api_client *c)
{
	if (c->roff < c->rlen)
		return (ssize_t)(c->rlen - c->roff);
	c->roff = c->rlen = 0;
	ssize_t n = client_recv(c, c->rbuf, sizeof c->rbuf);
	if (n > 0)
		c->rlen = (size_t)n;
	return n;
}

/* Next body bytes into buf: > 0, 0 when the body is over, or an error. Decoded chunk data
 * that does not fit buf stays in rbuf (pend_off, pend_len) for the next call. */
static ssize_t body_read(struct api_client *c, uint8_t *buf, size_t cap)
{
	while (c->pend_len || c->in_body) {
		if (c->pend_len) {
			size_t k = c->pend_len < cap ? c->pend_len : cap;
			memcpy(buf, c->rbuf + c->pend_off, k);
			c->pend_off += k;
			c->pend_len -= k;
			return (ssize_t)k;
		}
		ssize_t n = body_fill(c);
		if (n < 0)
			return n;
		if (n == 0) {
			if (c->body_mode == HTTP_BODY_CLOSE && !c->truncated) {
				c->in_body = false;
				return 0;
			}
			return cli_err(c, -ERR_PARSE, "response body from %s cut short", c->target);
		}
		const uint8_t *raw = c->rbuf + c->roff;
		size_t avail = (size_t)n;
		if (c->body_mode == HTTP_BODY_CHUNKED) {
			size_t used = 0;
			struct slice data = {NULL, 0};
			int rc = http_chunked_decode(&c->chunk, (const char *)raw, avail, &c->hlim,
						     &used, &data);
			if (rc < 0)
				return cli_err(c, -ERR_PARSE, "malformed chunked body from %s: %s",
					       c->target, err_str(rc));
			c->roff += used;
			if (rc == 1)
				c->in_body = false;
			if (data.len) {
				c->pend_off = (size_t)((const uint8_t *)data.p - c->rbuf);
				c->pend_len = data.len;
			}
			continue;
		}
		size_t k = avail < cap ? avail : cap;
		if (c->body_mode == HTTP_BODY_LENGTH && k > c->body_left)
			k = (size_t)c->body_left;
		memcpy(buf, raw, k);
		c->roff += k;
		if (c->body_mode == HTTP_BODY_LENGTH) {
			c->body_left -= k;
			if (c->body_left == 0)
				c->in_body = false;
		}
		return (ssize_t)k;
	}
	return 0;
}

/* Copy the {"error","code"} of an error body into res. */
static void result_error_fields(struct api_result *res)
{
	res->error[0] = res->code[0] = 0;
	if (res->status < 400 || res->len == 0)
		return;
	json_tok toks[32];
	struct json_doc doc;
	if (json_parse(&doc, res->body, res->len, toks, 32) >= 1) {
		int e = json_get_str(&doc, json_obj_get(&doc, JSON_ROOT, "error"), res->error,
				     sizeof res->error);
		json_get_str(&doc, json_obj_get(&doc, JSON_ROOT, "code"), res->code,
			     sizeof res->code);
		if (e >= 0)
			return;
	}
	/* not our error format: the first line of the body */
	size_t n = strcspn(res->body, "\r\n");
	if (n >= sizeof res->error)
		n = sizeof res->error - 1;
	memcpy(res->error, res->body, n);
	res->error[n] = 0;
}

/* Read the whole body into res. 0 or an error. */
static int read_body(struct api_client *c, struct api_result *res)
{
	res->len = 0;
	for (;;) {
		size_t room = res->cap > res->len + 1 ? res->cap - res->len - 1 : 0;
		if (room == 0) {
			uint8_t probe[1];
			ssize_t n = c->in_body ? body_read(c, probe, 1) : 0;
			if (n > 0)
				return cli_err(c, -ERR_TOO_LARGE,
					       "response from %s over the %zu-byte buffer",
					       c->target, res->cap ? res->cap - 1 : 0);
			if (n < 0)
				return (int)n;
			break;
		}
		ssize_t n = body_read(c, (uint8_t *)res->body + res->len, room);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		res->len += (size_t)n;
	}
	if (res->cap)
		res->body[res->len] = 0;
	result_error_fields(res);
	return 0;
}

/* Requests --------------------------------------------------------------------------------- */

static int send_request(struct api_client *c, const char *method, const char *path,
			const char *body)
{
	uint8_t mem[API_CLIENT_REQ_HEAD_MAX];
	struct buf h;
	buf_init(&h, mem, sizeof mem);
	size_t blen = body ? strlen(body) : 0;
	bool want_len = body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
			strcmp(method, "PATCH") == 0;
	int rc = http_write_request_line(&h, slice_from_cstr(method), slice_from_cstr(path), 1);
	if (rc == 0 && c->kind == API_CLIENT_TLS)
		rc = http_write_header(&h, SLICE_LIT("Host"), slice_from_cstr(c->target));
	else if (rc == 0)
		rc = http_write_header(&h, SLICE_LIT("Host"), SLICE_LIT("localhost"));
	rc = rc ? rc : http_write_header(&h, SLICE_LIT("User-Agent"), SLICE_LIT("traefikee"));
	rc = rc ? rc : http_write_header(&h, SLICE_LIT("Accept"), SLICE_LIT("application/json"));
	if (body)
		rc = rc ? rc
			: http_write_header(&h, SLICE_LIT("Content-Type"),
					    SLICE_LIT("application/json"));
	if (want_len)
		rc = rc ? rc : http_write_header_u64(&h, SLICE_LIT("Content-Length"), blen);
	rc = rc ? rc : http_write_head_end(&h);
	if (rc)
		return cli_err(c, -ERR_INVAL, "cannot write the request %s %s: %s", method, path,
			       rc == -ERR_BUF_FULL ? "path too long" : "invalid method or path");
	/* One write for a small request (one TLS record, one segment). */
	if (blen && blen <= buf_avail(&h)) {
		buf_append(&h, body, blen);
		blen = 0;
	}
	rc = client_send(c, h.data, h.len);
	if (rc == 0 && blen)
		rc = client_send(c, body, blen);
	if (rc == EARLY_RESPONSE)
		return 0;
	if (rc == -ERR_CLOSED) {
		/* The server closed: it may have answered first (503 when full). */
		client_peek_response(c);
		return 0;
	}
	if (rc == -ERR_TIMEOUT)
		return cli_err(c, rc, "sending the request to %s: no progress within %u ms",
			       c->target, c->timeout_ms);
	if (rc < 0)
		return cli_err(c, rc, "sending the request to %s: %s", c->target,
			       c->tls_on ? tls_conn_errmsg(&c->tls) : err_str(rc));
	return 0;
}

/* Drain what is left of a previous (streamed) response, or drop the connection. */
static void finish_previous(struct api_client *c)
{
	if (c->fd >= 0 && (c->in_body || c->pend_len))
		api_client_close(c);
	if (c->fd >= 0 && (!c->keep || c->eof))
		api_client_close(c);
}

static int call(struct api_client *c, const char *method, const char *path, const char *body,
		struct api_result *res, bool stream)
{
	if (!method || !path || !res)
		return cli_err(c, -ERR_INVAL, "api_call: missing method, path or result");
	c->errmsg[0] = 0;
	res->status = 0;
	res->len = 0;
	res->error[0] = res->code[0] = 0;
	if (res->cap)
		res->body[0] = 0;
	c->deadline = time_mono_ms() + c->timeout_ms;
	finish_previous(c);
	for (int attempt = 0; attempt < 2; attempt++) {
		bool reused = c->fd >= 0;
		if (!reused) {
			int rc = client_connect(c);
			if (rc)
				return rc;
		}
		int rc = send_request(c, method, path, body);
		if (rc == 0)
			rc = read_head(c, method_id(method));
		if (rc == -ERR_CLOSED && reused && attempt == 0) {
			/* the server dropped an idle keep-alive connection: once more, fresh */
			api_client_close(c);
			continue;
		}
		if (rc < 0) {
			api_client_close(c);
			return rc;
		}
		res->status = rc;
		c->reused = true;
		if (stream && rc >= 200 && rc < 300)
			return rc;
		int brc = read_body(c, res);
		if (brc < 0 || !c->keep || c->in_body || c->pend_len) {
			api_client_close(c);
			if (brc < 0)
				return brc;
		}
		return rc;
	}
	return cli_err(c, -ERR_CLOSED, "%s closed the connection without answering", c->target);
}

int api_call(struct api_client *c, const char *method, const char *path, const char *body,
	     struct api_result *res)
{
	return call(c, method, path, body, res, false);
}

int api_call_stream(struct api_client *c, const char *method, const char *path, const char *body,
		    struct api_result *res)
{
	return call(c, method, path, body, res, true);
}

ssize_t api_client_stream_read(struct api_client *c, void *buf, size_t cap, int timeout_ms)
{
	if (cap == 0)
		return -ERR_INVAL;
	if (c->fd < 0 || (!c->in_body && !c->pend_len))
		return 0;
	c->deadline = timeout_ms < 0 ? UINT64_MAX : time_mono_ms() + (uint64_t)timeout_ms;
	ssize_t n = body_read(c, buf, cap);
	if (n == -ERR_TIMEOUT) {
		cli_err(c, -ERR_TIMEOUT, "no data from %s within %d ms", c->target, timeout_ms);
		return n;
	}
	if (n < 0) {
		api_client_close(c);
		return n;
	}
	if (n == 0 && (!c->keep || c->eof))
		api_client_close(c);
	return n;
}
