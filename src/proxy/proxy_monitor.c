/* proxy_monitor.c — the monitoring port: GET /metrics, GET|HEAD /ping (proxy_monitor.h).
 *
 * One connection = one request: READ (the head, parsed with http_parse_request) → the
 * response is built whole in the slot's buffer (the head is written right in front of the
 * body, so both leave in one send) → WRITE until sent → shutdown(SHUT_WR) and close. Every
 * slot is allocated at start; nothing allocates afterwards.
 */
#include "proxy/proxy_monitor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base_buf.h"
#include "base/base_err.h"
#include "base/base_log.h"
#include "http/http_parse.h"

#define MON_HEADERS 32

enum mon_state {
	MON_FREE = 0,
	MON_READ,
	MON_WRITE,
};

struct mon_client {
	int fd;
	enum mon_state state;
	struct loop_timer_id timer;
	struct proxy_monitor *m;
	size_t in_len;
	uint8_t *out; /* PROXY_MONITOR_RESP_HEAD + max_text */
	size_t out_off, out_end;
	char in[PROXY_MONITOR_HEAD_MAX];
};

struct proxy_monitor {
	struct loop *loop;
	int fd;
	uint16_t port;
	bool draining;
	uint32_t max_clients;
	uint32_t timeout_ms;
	size_t max_text;
	const struct proxy_metrics *parts[PROXY_MONITOR_PARTS_MAX];
	size_t nparts;
	struct mon_client *clients;
	uint8_t *outs;
	struct http_limits hlim;
	struct http_header hdr[MON_HEADERS];
	struct proxy_monitor_stats st;
};

size_t proxy_monitor_text_bytes(uint32_t max_series)
{
	return (16u << 10) + (size_t)max_series * 512u;
}

size_t proxy_monitor_bytes(uint32_t max_clients, size_t max_text)
{
	if (!max_clients)
		max_clients = PROXY_MONITOR_CLIENTS;
	return sizeof(struct proxy_monitor) +
	       (size_t)max_clients *
		       (sizeof(struct mon_client) + PROXY_MONITOR_RESP_HEAD + max_text);
}

int proxy_monitor_limits_line(struct buf *b, const char *addr, uint32_t max_series)
{
	size_t text = proxy_monitor_text_bytes(max_series);
	size_t bytes = proxy_monitor_bytes(PROXY_MONITOR_CLIENTS, text);
	return buf_printf(b,
			  "  + metrics port %s: %zu bytes (%.1f MiB) worst case, %u clients with "
			  "%zu-byte texts (pages touched only as texts grow)\n",
			  addr, bytes, (double)bytes / (1024.0 * 1024.0), PROXY_MONITOR_CLIENTS,
			  text);
}

static void mon_close(struct mon_client *c)
{
	struct proxy_monitor *m = c->m;
	loop_timer_cancel(m->loop, c->timer);
	c->timer = (struct loop_timer_id){0};
	loop_del_fd(m->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	c->state = MON_FREE;
	m->st.clients--;
}

static void mon_timeout(struct loop *l, void *arg)
{
	struct mon_client *c = arg;
	(void)l;
	c->timer = (struct loop_timer_id){0};
	c->m->st.timeouts++;
	mon_close(c);
}

/* Put the response head in front of the body already at out + RESP_HEAD [0..body_len). */
static void mon_respond(struct mon_client *c, int status, const char *reason, const char *ctype,
			size_t body_len, bool head_only)
{
	char head[PROXY_MONITOR_RESP_HEAD];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
			 status, reason, ctype, body_len);
	if (n < 0 || (size_t)n >= sizeof head)
		n = 0; /* cannot happen: the fields above are short */
	c->out_off = PROXY_MONITOR_RESP_HEAD - (size_t)n;
	memcpy(c->out + c->out_off, head, (size_t)n);
	c->out_end = PROXY_MONITOR_RESP_HEAD + (head_only ? 0 : body_len);
	c->state = MON_WRITE;
	if (status >= 400 && status != 404)
		c->m->st.errors++;
}

static void mon_text(struct mon_client *c, int status, const char *reason, const char *text,
		     bool head_only)
{
	size_t len = strlen(text);
	if (len > c->m->max_text)
		len = c->m->max_text;
	memcpy(c->out + PROXY_MONITOR_RESP_HEAD, text, len);
	mon_respond(c, status, reason, "text/plain; charset=utf-8", len, head_only);
}

static bool path_is(struct slice target, const char *p)
{
	size_t n = target.len;
	for (size_t i = 0; i < target.len; i++)
		if (target.p[i] == '?') {
			n = i;
			break;
		}
	return n == strlen(p) && memcmp(target.p, p, n) == 0;
}

/* A whole head is in c->in: build the response. */
static void mon_handle(struct mon_client *c, const struct http_request *rq)
{
	struct proxy_monitor *m = c->m;
	bool get = rq->method_id == HTTP_M_GET, head = rq->method_id == HTTP_M_HEAD;
	bool ping = path_is(rq->target, "/ping"), metrics = path_is(rq->target, "/metrics");
	m->st.requests++;
	if (!ping && !metrics) {
		mon_text(c, 404, "Not Found", "404 page not found\n", false);
	} else if (!get && !head) {
		mon_text(c, 405, "Method Not Allowed", "Method Not Allowed\n", false);
	} else if (ping) {
		m->st.pings++;
		if (m->draining)
			mon_text(c, 503, "Service Unavailable", "Service Unavailable", head);
		else
			mon_text(c, 200, "OK", "OK", head);
	} else {
		m->st.metrics++;
		struct buf b;
		buf_init(&b, c->out + PROXY_MONITOR_RESP_HEAD, m->max_text);
		if (proxy_metrics_render(m->parts, m->nparts, &b) < 0) {
			char why[160];
			snprintf(
				why, sizeof why,
				"metrics text over %zu bytes (raise max_metric_series, which sizes "
				"it)\n",
				m->max_text);
			log_warn("metrics text does not fit", "bytes=%zu", m->max_text);
			mon_text(c, 500, "Internal Server Error", why, false);
		} else {
			mon_respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b.len,
				    head);
		}
	}
}

static void mon_write(struct mon_client *c)
{
	while (c->out_off < c->out_end) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_end - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			loop_mod_fd(c->m->loop, c->fd, LOOP_WRITE);
			return;
		}
		if (n <= 0) {
			mon_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	mon_close(c);
}

static void mon_read(struct mon_client *c)
{
	struct proxy_monitor *m = c->m;
	for (;;) {
		if (c->in_len == sizeof c->in) {
			mon_text(c, 431, "Request Header Fields Too Large",
				 "request head too large\n", false);
			mon_write(c);
			return;
		}
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			mon_close(c);
			return;
		}
		c->in_len += (size_t)n;
		struct http_request rq;
		http_request_init(&rq, m->hdr, MON_HEADERS);
		int rc = http_parse_request(&rq, c->in, c->in_len, &m->hlim);
		if (rc == -ERR_PARTIAL)
			continue;
		if (rc < 0) {
			int st = http_error_status(rc);
			mon_text(c, st, st == 400 ? "Bad Request" : "Request Refused", err_str(rc),
				 false);
		} else {
			mon_handle(c, &rq);
		}
		mon_write(c);
		return;
	}
}

static void mon_client_cb(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct mon_client *c = arg;
	(void)l;
	(void)fd;
	if (c->state == MON_READ)
		mon_read(c);
	else if (c->state == MON_WRITE && (ev & (LOOP_WRITE | LOOP_ERR | LOOP_HUP)))
		mon_write(c);
}

static void mon_listen_cb(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct proxy_monitor *m = arg;
	(void)ev;
	for (int burst = 0; burst < 64; burst++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return; /* EAGAIN, or a transient error: the next readiness retries */
		m->st.accepted++;
		struct mon_client *c = NULL;
		for (uint32_t i = 0; i < m->max_clients && !c; i++)
			if (m->clients[i].state == MON_FREE)
				c = &m->clients[i];
		if (c) {
			c->fd = cfd;
			c->in_len = 0;
			c->out_off = c->out_end = 0;
			if (loop_add_fd(l, cfd, LOOP_READ, mon_client_cb, c) < 0) {
				close(cfd);
				continue;
			}
			if (loop_timer_add(l, m->timeout_ms, mon_timeout, c, &c->timer) < 0) {
				loop_del_fd(l, cfd);
				close(cfd);
				continue;
			}
			c->state = MON_READ;
			m->st.clients++;
			continue;
		}
		static const char full[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
					   "text/plain\r\nContent-Length: 21\r\nRetry-After: 1\r\n"
					   "Connection: close\r\n\r\nmonitor clients full\n";
		m->st.refused_full++;
		ssize_t w = send(cfd, full, sizeof full - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w;
		close(cfd);
	}
}

/* "host:port", ":port", "[v6]:port" (numeric) into ss. */
static int mon_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
	const char *colon = strrchr(addr, ':');
	if (!colon || !colon[1] || strlen(colon + 1) > 5)
		return -ERR_INVAL;
	char *end;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end || port > 65535)
		return -ERR_INVAL;
	char host[64];
	size_t hl = (size_t)(colon - addr);
	if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
		addr++;
		hl -= 2;
	}
	if (hl >= sizeof host)
		return -ERR_INVAL;
	memcpy(host, addr, hl);
	host[hl] = 0;
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *a4 = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)(void *)ss;
	if (!host[0]) {
		a4->sin_family = AF_INET;
		a4->sin_addr.s_addr = htonl(INADDR_ANY);
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof *a4;
	} else if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof *a4;
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof *a6;
	} else {
		return -ERR_INVAL;
	}
	return 0;
}

int proxy_monitor_start(const struct proxy_monitor_config *cfg, struct proxy_monitor **out,
			char *msg, size_t cap)
{
	*out = NULL;
	if (!cfg->loop || !cfg->addr || !cfg->parts || cfg->nparts == 0 ||
	    cfg->nparts > PROXY_MONITOR_PARTS_MAX) {
		snprintf(msg, cap, "monitor: bad configuration");
		return -ERR_INVAL;
	}
	struct sockaddr_storage ss;
	socklen_t slen = 0;
	if (mon_addr(cfg->addr, &ss, &slen) < 0) {
		snprintf(msg, cap, "\"%s\" is not host:port, :port or [v6]:port (numeric)",
			 cfg->addr);
		return -ERR_INVAL;
	}
	struct proxy_monitor *m = calloc(1, sizeof *m);
	if (!m) {
		snprintf(msg, cap, "out of memory");
		return -ERR_NOMEM;
	}
	m->loop = cfg->loop;
	m->fd = -1;
	m->max_clients = cfg->max_clients ? cfg->max_clients : PROXY_MONITOR_CLIENTS;
	m->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : PROXY_MONITOR_TIMEOUT;
	m->max_text = cfg->max_text ? cfg->max_text : proxy_monitor_text_bytes(4096);
	m->nparts = cfg->nparts;
	memcpy(m->parts, cfg->parts, cfg->nparts * sizeof cfg->parts[0]);
	http_limits_default(&m->hlim);
	m->hlim.max_line = 1024;
	m->hlim.max_headers = MON_HEADERS;
	m->hlim.max_header_bytes = PROXY_MONITOR_HEAD_MAX;
	m->hlim.max_body = 0;
	size_t slot = PROXY_MONITOR_RESP_HEAD + m->max_text;
	m->clients = calloc(m->max_clients, sizeof *m->clients);
	/* Response buffers: malloc (not calloc) so pages never used are never touched. */
	m->outs = malloc(m->max_clients * slot);
	if (!m->clients || !m->outs) {
		snprintf(msg, cap, "out of memory (%u monitor clients of %zu bytes)",
			 m->max_clients, slot);
		proxy_monitor_stop(m);
		return -ERR_NOMEM;
	}
	for (uint32_t i = 0; i < m->max_clients; i++) {
		m->clients[i].fd = -1;
		m->clients[i].m = m;
		m->clients[i].out = m->outs + (size_t)i * slot;
	}
	m->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (m->fd < 0 || setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(m->fd, (struct sockaddr *)&ss, slen) < 0 || listen(m->fd, 64) < 0) {
		snprintf(msg, cap, "cannot listen on %s: %s", cfg->addr, strerror(errno));
		proxy_monitor_stop(m);
		return -ERR_PROXY_LISTEN;
	}
	struct sockaddr_storage b;
	socklen_t blen = sizeof b;
	if (getsockname(m->fd, (struct sockaddr *)&b, &blen) == 0)
		m->port = ntohs(b.ss_family == AF_INET
					? ((struct sockaddr_in *)(void *)&b)->sin_port
					: ((struct sockaddr_in6 *)(void *)&b)->sin6_port);
	int rc = loop_add_fd(m->loop, m->fd, LOOP_READ, mon_listen_cb, m);
	if (rc < 0) {
		snprintf(msg, cap, "event loop: %s", err_str(rc));
		close(m->fd);
		m->fd = -1;
		proxy_monitor_stop(m);
		return rc;
	}
	*out = m;
	return 0;
}

void proxy_monitor_stop(struct proxy_monitor *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; m->clients && i < m->max_clients; i++)
		if (m->clients[i].state != MON_FREE)
			mon_close(&m->clients[i]);
	if (m->fd >= 0) {
		loop_del_fd(m->loop, m->fd);
		close(m->fd);
	}
	free(m->clients);
	free(m->outs);
	free(m);
}

void proxy_monitor_forget_fds(struct proxy_monitor *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; m->clients && i < m->max_clients; i++)
		if (m->clients[i].fd >= 0)
			close(m->clients[i].fd);
	if (m->fd >= 0)
		close(m->fd);
}

int proxy_monitor_port(const struct proxy_monitor *m)
{
	return m ? m->port : -1;
}

void proxy_monitor_set_draining(struct proxy_monitor *m, bool on)
{
	if (m)
		m->draining = on;
}

void proxy_monitor_get_stats(const struct proxy_monitor *m, struct proxy_monitor_stats *st)
{
	*st = m->st;
}
