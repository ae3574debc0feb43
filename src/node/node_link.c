/* node_link.c — see node_link.h. One connection, one request at a time:
 *
 *   DOWN --request--> CONNECTING --connected--> HANDSHAKE --identified--> BUSY
 *   BUSY --response--> IDLE --request--> BUSY          any failure --> DOWN (on_err)
 *
 * The TLS engine is sans-I/O (tls.h); this file owns the socket, the timer and the HTTP
 * framing (requests written here, responses parsed with http_parse_response and the chunked
 * decoder). Every piece of input is bounded by the buffers allocated at init.
 */
#include "node/node_link.h"

#include <errno.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "api/api_server.h"
#include "base/base_err.h"
#include "base/base_log.h"

static void link_pump(struct node_link *k);

int node_link_init(struct node_link *k, const struct node_link_config *cfg)
{
	memset(k, 0, sizeof *k);
	k->fd = -1;
	if (!cfg || !cfg->loop || !cfg->tls || cfg->out_cap < 1024 || cfg->in_cap < 1024 ||
	    !cfg->on_resp || !cfg->on_err)
		return -ERR_INVAL;
	k->cfg = *cfg;
	if (!k->cfg.connect_timeout_ms)
		k->cfg.connect_timeout_ms = 5000;
	if (!k->cfg.response_timeout_ms)
		k->cfg.response_timeout_ms = 15000;
	if (!k->cfg.stream_idle_ms)
		k->cfg.stream_idle_ms = 5000;
	k->out = malloc(cfg->out_cap);
	k->in = malloc(cfg->in_cap);
	k->body = malloc(cfg->in_cap);
	k->tls = malloc(tls_conn_size());
	if (!k->out || !k->in || !k->body || !k->tls) {
		node_link_fini(k);
		return -ERR_NOMEM;
	}
	http_limits_default(&k->hlim);
	k->hlim.max_line = 1024;
	k->hlim.max_header_bytes = 8192;
	k->hlim.max_headers = NODE_LINK_HEADERS;
	k->hlim.max_body = cfg->in_cap;
	return 0;
}

void node_link_fini(struct node_link *k)
{
	node_link_close(k);
	if (k->tls)
		tls_conn_wipe(k->tls);
	free(k->out);
	free(k->in);
	free(k->body);
	free(k->tls);
	k->out = k->in = k->body = NULL;
	k->tls = NULL;
}

/* Resolve "host:port" into k->sa. Numeric forms and "localhost" never block. */
static int link_resolve(struct node_link *k, const char *addr)
{
	char host[NODE_ADDR_MAX];
	uint16_t port;
	if (api_addr_split(addr, host, sizeof host, &port) < 0 || port == 0 || !host[0])
		return -ERR_INVAL;
	memset(&k->sa, 0, sizeof k->sa);
	struct sockaddr_in *v4 = (struct sockaddr_in *)&k->sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&k->sa;
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		k->salen = sizeof *v4;
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		k->salen = sizeof *v6;
	} else {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
		if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
			return -ERR_INVAL;
		memcpy(&k->sa, res->ai_addr, res->ai_addrlen);
		k->salen = res->ai_addrlen;
		if (k->sa.ss_family == AF_INET)
			v4->sin_port = htons(port);
		else
			v6->sin6_port = htons(port);
		freeaddrinfo(res);
	}
	/* 0.0.0.0 and :: are listen addresses, not destinations. */
	if ((k->sa.ss_family == AF_INET && v4->sin_addr.s_addr == 0) ||
	    (k->sa.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr)))
		return -ERR_INVAL;
	snprintf(k->host, sizeof k->host, "%s", host);
	return 0;
}

int node_link_set_addr(struct node_link *k, const char *addr, const char *want_id)
{
	const char *w = want_id ? want_id : "";
	if (k->has_addr && strcmp(addr, k->addr) == 0 && strcmp(w, k->want_id) == 0)
		return 0;
	node_link_close(k);
	k->has_addr = false;
	if (strlen(addr) >= sizeof k->addr || strlen(w) > ID_LEN)
		return -ERR_INVAL;
	int rc = link_resolve(k, addr);
	if (rc < 0)
		return rc;
	snprintf(k->addr, sizeof k->addr, "%s", addr);
	snprintf(k->want_id, sizeof k->want_id, "%s", w);
	k->has_addr = true;
	return 0;
}

void node_link_set_tls(struct node_link *k, const struct tls_client_config *tls)
{
	if (tls)
		k->cfg.tls = tls;
}

bool node_link_can_send(const struct node_link *k)
{
	return k->has_addr && (k->state == NODE_LINK_DOWN || k->state == NODE_LINK_IDLE);
}

static void link_timer_cb(struct loop *l, void *arg);

static void link_arm(struct node_link *k, uint32_t ms)
{
	loop_timer_cancel(k->cfg.loop, k->timer);
	k->timer = (struct loop_timer_id){0};
	k->deadline = loop_now_ms(k->cfg.loop) + ms;
	loop_timer_add(k->cfg.loop, ms, link_timer_cb, k, &k->timer);
}

static void link_disarm(struct node_link *k)
{
	loop_timer_cancel(k->cfg.loop, k->timer);
	k->timer = (struct loop_timer_id){0};
}

void node_link_close(struct node_link *k)
{
	if (!k->cfg.loop)
		return; /* never initialised */
	if (k->fd >= 0) {
		loop_del_fd(k->cfg.loop, k->fd);
		close(k->fd);
		k->fd = -1;
	}
	link_disarm(k);
	k->state = NODE_LINK_DOWN;
	k->pending_req = false;
	k->identified = false;
	k->out_len = k->out_off = 0;
	k->in_len = 0;
}

static void link_fail(struct node_link *k, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void link_fail(struct node_link *k, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(k->errmsg, sizeof k->errmsg, fmt, ap);
	va_end(ap);
	/* An idle connection closed by the server (its keep-alive timeout) is no failure. */
	bool had = k->state != NODE_LINK_DOWN && k->state != NODE_LINK_IDLE;
	node_link_close(k);
	k->failures++;
	if (had)
		k->cfg.on_err(k, err, k->errmsg, k->cfg.arg);
}

static void link_timer_cb(struct loop *l, void *arg)
{
	struct node_link *k = arg;
	k->timer = (struct loop_timer_id){0};
	if (k->state == NODE_LINK_DOWN || k->state == NODE_LINK_IDLE)
		return;
	link_fail(k, -ERR_TIMEOUT, "%s: no answer in time (%s)", k->addr,
		  k->state == NODE_LINK_CONNECTING  ? "connecting"
		  : k->state == NODE_LINK_HANDSHAKE ? "TLS handshake"
		  : k->stream                       ? "stream idle"
						    : "waiting for the response");
}

static void link_on_fd(struct loop *l, int fd, uint32_t events, void *arg);

static int link_connect(struct node_link *k)
{
	int fd = socket(k->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_from_errno(errno);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&k->sa, k->salen) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		snprintf(k->errmsg, sizeof k->errmsg, "%.120s: connect: %s", k->addr, strerror(e));
		return -ERR_API_CONNECT;
	}
	int rc = loop_add_fd(k->cfg.loop, fd, LOOP_WRITE, link_on_fd, k);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	k->fd = fd;
	k->state = NODE_LINK_CONNECTING;
	k->identified = false;
	link_arm(k, k->cfg.connect_timeout_ms);
	return 0;
}

static int link_start(struct node_link *k, const char *method, const char *path, const char *hdrs,
		      const void *body, size_t len, bool stream)
{
	if (!k->has_addr)
		return -ERR_INVAL;
	if (k->state != NODE_LINK_DOWN && k->state != NODE_LINK_IDLE)
		return -ERR_AGAIN;
	int n;
	if (body)
		n = snprintf((char *)k->out, k->cfg.out_cap,
			     "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
			     "Content-Length: %zu\r\n%s\r\n",
			     method, path, k->host, len, hdrs ? hdrs : "");
	else
		n = snprintf((char *)k->out, k->cfg.out_cap, "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n",
			     method, path, k->host, hdrs ? hdrs : "");
	if (n < 0 || (size_t)n + len > k->cfg.out_cap)
		return -ERR_TOO_LARGE;
	if (body && len)
		memcpy(k->out + n, body, len);
	k->out_len = (size_t)n + len;
	k->out_off = 0;
	k->stream = stream;
	k->in_len = 0;
	k->body_len = 0;
	k->head_done = false;
	k->keep = true;
	http_response_init(&k->res, k->hdr, NODE_LINK_HEADERS,
			   strcmp(method, "HEAD") == 0 ? HTTP_M_HEAD : HTTP_M_GET);
	k->requests++;
	if (k->state == NODE_LINK_DOWN) {
		int rc = link_connect(k);
		if (rc < 0)
			return rc;
		k->pending_req = true;
		return 0;
	}
	k->state = NODE_LINK_BUSY;
	link_arm(k, stream ? k->cfg.stream_idle_ms : k->cfg.response_timeout_ms);
	link_pump(k);
	return 0;
}

int node_link_request(struct node_link *k, const char *method, const char *path, const char *hdrs,
		      const void *body, size_t len)
{
	return link_start(k, method, path, hdrs, body ? body : "", body ? len : 0, false);
}

int node_link_stream(struct node_link *k, const char *path, const char *hdrs)
{
	return link_start(k, "GET", path, hdrs, NULL, 0, true);
}

/* The server's certificate names a control node (and the one we dialled, when known). */
static int link_identify(struct node_link *k)
{
	size_t dn_len;
	const uint8_t *dn;
	struct pki_identity id;
	if (tls_conn_peer_status(k->tls) != TLS_PEER_VERIFIED ||
	    !(dn = tls_conn_peer_dn(k->tls, &dn_len)) || pki_name_identity(dn, dn_len, &id) < 0) {
		link_fail(k, -ERR_TLS_CERT, "%s: server certificate not verified", k->addr);
		return -1;
	}
	if (id.role != PKI_ROLE_CONTROL) {
		link_fail(k, -ERR_TLS_CERT, "%s presented a %s certificate, not a control node's",
			  k->addr, pki_role_ou(id.role) ? pki_role_ou(id.role) : "role-less");
		return -1;
	}
	if (k->want_id[0] && strcmp(k->want_id, id.id) != 0) {
		link_fail(k, -ERR_TLS_CERT, "%s is node %s, not %s", k->addr, id.id, k->want_id);
		return -1;
	}
	snprintf(k->peer_id, sizeof k->peer_id, "%s", id.id);
	k->identified = true;
	return 0;
}

/* Finish the response in hand: back to IDLE (or DOWN) and tell the owner. Returns false
 * when the link was closed or reused by the callback (stop touching it). */
static bool link_complete(struct node_link *k, int status, struct slice body)
{
	link_disarm(k);
	bool keep = k->keep;
	k->state = NODE_LINK_IDLE;
	k->out_len = k->out_off = 0;
	if (!keep)
		node_link_close(k);
	int fd = k->fd;
	uint64_t req = k->requests;
	k->cfg.on_resp(k, status, body, k->cfg.arg);
	return k->fd == fd && k->requests == req && k->fd >= 0;
}

/* Parse what is in k->in. Returns false when the link must not be touched further. */
static bool link_input(struct node_link *k)
{
	if (!k->head_done) {
		int rc = http_parse_response(&k->res, (const char *)k->in, k->in_len, &k->hlim);
		if (rc == -ERR_PARTIAL) {
			if (k->in_len == k->cfg.in_cap) {
				link_fail(k, -ERR_TOO_LARGE, "%s: response head too large",
					  k->addr);
				return false;
			}
			return true;
		}
		if (rc < 0 || k->res.status < 200) {
			link_fail(k, -ERR_PARSE, "%s: malformed response (%s)", k->addr,
				  rc < 0 ? err_str(rc) : "interim status");
			return false;
		}
		k->head_done = true;
		k->keep = (k->res.h.flags & HTTP_F_KEEP_ALIVE) != 0;
		k->left = k->res.h.content_length;
		if (k->res.h.body == HTTP_BODY_CLOSE) {
			link_fail(k, -ERR_PARSE, "%s: response without framing", k->addr);
			return false;
		}
		if (k->res.h.body == HTTP_BODY_LENGTH && k->left > k->cfg.in_cap) {
			link_fail(k, -ERR_TOO_LARGE, "%s: response body of %llu bytes over %zu",
				  k->addr, (unsigned long long)k->left, k->cfg.in_cap);
			return false;
		}
		http_chunked_init(&k->chunk);
		/* Drop the head: only its framing was needed. */
		memmove(k->in, k->in + rc, k->in_len - (size_t)rc);
		k->in_len -= (size_t)rc;
	}
	int status = k->res.status;
	if (k->res.h.body == HTTP_BODY_NONE)
		return link_complete(k, status, (struct slice){"", 0});
	if (k->res.h.body == HTTP_BODY_LENGTH) {
		if (k->in_len < k->left)
			return true;
		if (k->in_len > k->left)
			k->keep = false; /* bytes we did not ask for */
		memcpy(k->body, k->in, k->left);
		return link_complete(k, status, (struct slice){(const char *)k->body, k->left});
	}
	/* Chunked: hand pieces over (streams) or collect them. */
	bool streaming = k->stream && status == 200;
	size_t pos = 0;
	while (pos < k->in_len) {
		size_t used = 0;
		struct slice data = {0};
		int rc = http_chunked_decode(&k->chunk, (const char *)k->in + pos, k->in_len - pos,
					     &k->hlim, &used, &data);
		if (rc < 0) {
			link_fail(k, rc, "%s: bad chunked body (%s)", k->addr, err_str(rc));
			return false;
		}
		pos += used;
		if (data.len) {
			if (streaming) {
				int fd = k->fd;
				uint64_t req = k->requests;
				if (k->cfg.on_data)
					k->cfg.on_data(k, data, k->cfg.arg);
				if (k->fd != fd || k->requests != req || k->fd < 0)
					return false;
			} else {
				if (k->body_len + data.len > k->cfg.in_cap) {
					link_fail(k, -ERR_TOO_LARGE, "%s: response body too large",
						  k->addr);
					return false;
				}
				memcpy(k->body + k->body_len, data.p, data.len);
				k->body_len += data.len;
			}
		}
		if (rc == 1) {
			if (pos < k->in_len)
				k->keep = false;
			k->in_len = 0;
			return link_complete(k, status,
					     (struct slice){(const char *)k->body, k->body_len});
		}
		if (used == 0)
			break;
	}
	memmove(k->in, k->in + pos, k->in_len - pos);
	k->in_len -= pos;
	if (streaming)
		link_arm(k, k->cfg.stream_idle_ms);
	return true;
}

static void link_pump(struct node_link *k)
{
	for (int guard = 0; guard < 64 && k->fd >= 0; guard++) {
		int err = tls_conn_error(k->tls);
		if (err) {
			link_fail(k, err, "%s: %s", k->addr, tls_conn_errmsg(k->tls));
			return;
		}
		if (!k->identified && tls_conn_handshake_done(k->tls)) {
			if (link_identify(k) < 0)
				return;
			if (k->pending_req) {
				k->pending_req = false;
				k->state = NODE_LINK_BUSY;
				link_arm(k, k->stream ? k->cfg.stream_idle_ms
						      : k->cfg.response_timeout_ms);
			} else {
				k->state = NODE_LINK_IDLE;
				link_disarm(k);
			}
		}
		bool progress = false;
		if (k->identified && k->out_off < k->out_len) {
			ssize_t n = tls_conn_write(k->tls, k->out + k->out_off,
						   k->out_len - k->out_off);
			if (n > 0) {
				k->out_off += (size_t)n;
				progress = true;
			} else if (n != -ERR_AGAIN) {
				link_fail(k, (int)n, "%s: write: %s", k->addr, err_str((int)n));
				return;
			}
		}
		if (k->identified) {
			size_t room = k->cfg.in_cap - k->in_len;
			if (room) {
				ssize_t n = tls_conn_read(k->tls, k->in + k->in_len, room);
				if (n > 0) {
					if (k->state != NODE_LINK_BUSY) {
						link_fail(k, -ERR_PARSE, "%s: unexpected bytes",
							  k->addr);
						return;
					}
					k->in_len += (size_t)n;
					progress = true;
					if (!link_input(k))
						return;
				} else if (n == 0) {
					if (k->state == NODE_LINK_BUSY)
						link_fail(k, -ERR_CLOSED,
							  "%s: the server closed the connection",
							  k->addr);
					else
						node_link_close(k);
					return;
				} else if (n != -ERR_AGAIN) {
					link_fail(k, (int)n, "%s: read: %s", k->addr,
						  tls_conn_errmsg(k->tls));
					return;
				}
			} else if (k->state == NODE_LINK_BUSY) {
				link_fail(k, -ERR_TOO_LARGE, "%s: response over %zu bytes", k->addr,
					  k->cfg.in_cap);
				return;
			}
		}
		if (tls_conn_want(k->tls) & TLS_WANT_WRITE) {
			int rc = tls_conn_on_writable(k->tls, k->fd);
			if (rc < 0) {
				link_fail(k, rc, "%s: send: %s", k->addr, tls_conn_errmsg(k->tls));
				return;
			}
		}
		if (!progress)
			break;
	}
	if (k->fd < 0)
		return;
	unsigned want = tls_conn_want(k->tls);
	uint32_t ev = LOOP_READ;
	if (want & TLS_WANT_WRITE)
		ev |= LOOP_WRITE;
	loop_mod_fd(k->cfg.loop, k->fd, ev);
}

static void link_on_fd(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct node_link *k = arg;
	if (k->state == NODE_LINK_CONNECTING) {
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr) {
			link_fail(k, -ERR_API_CONNECT, "%s: connect: %s", k->addr, strerror(soerr));
			return;
		}
		if (!(events & (LOOP_WRITE | LOOP_ERR | LOOP_HUP)))
			return;
		int rc = tls_conn_init_client(k->tls, k->cfg.tls, NULL, k->cfg.rng);
		if (rc < 0) {
			link_fail(k, rc, "%s: TLS set-up: %s", k->addr, err_str(rc));
			return;
		}
		k->state = NODE_LINK_HANDSHAKE;
		int r2 = tls_conn_on_writable(k->tls, fd);
		if (r2 < 0) {
			link_fail(k, r2, "%s: TLS: %s", k->addr, tls_conn_errmsg(k->tls));
			return;
		}
		link_pump(k);
		return;
	}
	if (k->state == NODE_LINK_DOWN)
		return;
	if (events & (LOOP_READ | LOOP_RDHUP | LOOP_HUP | LOOP_ERR)) {
		int rc = tls_conn_on_readable(k->tls, fd);
		if (rc < 0 && !tls_conn_handshake_done(k->tls)) {
			link_fail(k, rc, "%s: TLS handshake: %s", k->addr, tls_conn_errmsg(k->tls));
			return;
		}
	}
	if (events & LOOP_WRITE) {
		int rc = tls_conn_on_writable(k->tls, fd);
		if (rc < 0 && !tls_conn_handshake_done(k->tls)) {
			link_fail(k, rc, "%s: TLS handshake: %s", k->addr, tls_conn_errmsg(k->tls));
			return;
		}
	}
	link_pump(k);
}
