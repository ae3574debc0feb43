/* provider_http.h — a small asynchronous HTTP/1.1 client on the loop, for provider connections.
 *
 * Contract
 *
 * - One struct phttp is one logical connection to one endpoint (Consul agent, etcd member),
 *   carrying one request at a time. phttp_init allocates, once, the response buffer
 *   (max_response_bytes), the request buffer and, for TLS, one struct tls_conn; nothing
 *   allocates afterwards. The endpoint (and proxy) host names are resolved in phttp_init
 *   (getaddrinfo: the only blocking call, made at start-up).
 * - phttp_request queues one request and returns at once; the loop does the rest: connect
 *   (with connect_timeout_ms), optional CONNECT through an HTTPS proxy, TLS handshake, write,
 *   read and parse (src/http: heads, Content-Length, chunked, close-delimited bodies). When the
 *   response is complete, or on any failure, `done(arg, err)` is called exactly once:
 *   err == 0 with c->res (status, headers) and phttp_body(c) valid until the next
 *   phttp_request / phttp_cancel / phttp_fini, or err < 0 with c->errmsg saying why:
 *     -ERR_TIMEOUT (connect_timeout_ms, or the request's timeout_ms), -ERR_CLOSED (the server
 *     closed early), -ERR_PROVIDER_RESPONSE_TOO_LARGE (max_response_bytes), -ERR_PROVIDER_PROXY
 *     (the proxy refused CONNECT), a TLS code, a socket code, or an http_parse code.
 *   done may start the next request on the same object.
 * - Streaming (etcd watch): with a `data` callback and a 200 response, decoded body bytes are
 *   handed to data(arg, body) as they arrive; it returns how many leading bytes it consumed
 *   (the rest stays buffered and is shown again with more), or a negative error that ends the
 *   request (done is then called with that error). Non-200 responses are buffered whole.
 * - Keep-alive: a response that allows it leaves the connection open for the next request; a
 *   request written on a reused connection that dies before any response byte is retried once
 *   on a fresh connection (every provider request is idempotent).
 * - Long polls: timeout_ms per request (Consul blocking queries pass wait × 17/16 + margin); 0
 *   means no timeout (etcd watch streams; TCP keep-alive is on).
 * - Proxies (HTTP_PROXY, HTTPS_PROXY, NO_PROXY in struct phttp_config): a plain-http endpoint
 *   goes through http_proxy with absolute-form request targets; an https endpoint through
 *   https_proxy with a CONNECT tunnel, TLS end to end. NO_PROXY: "*", or a comma list of host
 *   names / domain suffixes (".example.com" or "example.com") / IP literals.
 */
#ifndef PROVIDER_PROVIDER_HTTP_H
#define PROVIDER_PROVIDER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/base_buf.h"
#include "base/base_rand.h"
#include "base/base_slice.h"
#include "http/http_parse.h"
#include "loop/loop.h"
#include "tls/tls.h"

#define PHTTP_HOST_MAX 256
#define PHTTP_MAX_HEADERS 64
#define PHTTP_REQUEST_MAX 16384 /* request head + body */

struct phttp_config {
	const char *endpoint;  /* "host:port", "http://host:port", "https://host:port" */
	uint16_t default_port; /* when the endpoint has none */
	bool tls;              /* use TLS even for a bare host:port */
	const struct tls_client_config *tls_cfg; /* required for TLS; borrowed, outlives c */
	struct rand *rand;                       /* TLS entropy; borrowed */
	const char *http_proxy;                  /* "" or NULL: none */
	const char *https_proxy;
	const char *no_proxy;
	size_t max_response_bytes; /* response head + body buffer */
	uint64_t connect_timeout_ms;
};

struct phttp_addr {
	char host[PHTTP_HOST_MAX]; /* as written (IPv6 without brackets) */
	uint16_t port;
	struct sockaddr_storage sa;
	socklen_t salen;
};

typedef void (*phttp_done_fn)(void *arg, int err);
typedef long (*phttp_data_fn)(void *arg, struct slice body);

struct phttp {
	struct loop *loop;
	struct rand *rand;
	const struct tls_client_config *tls_cfg;
	struct phttp_addr target; /* the endpoint */
	struct phttp_addr proxy;  /* when use_proxy */
	bool use_tls;
	bool use_proxy;
	uint64_t connect_timeout_ms;

	int fd; /* -1 when not connected */
	int state;
	bool tls_on; /* TLS engine carries the bytes */
	struct tls_conn *tls;
	bool reused;  /* the current request went out on a kept-alive connection */
	bool retried; /* already retried once on a fresh connection */

	struct buf out; /* the request (kept until the response starts, for the retry) */
	size_t out_off;
	struct buf pre; /* CONNECT request */
	size_t pre_off;

	char *in; /* response bytes: head, decoded body, undecoded tail */
	size_t in_len;
	size_t in_cap;
	size_t head_len;     /* > 0 once the head is parsed */
	size_t body_len;     /* decoded body bytes at in + head_len, not yet consumed */
	uint64_t body_total; /* identity body bytes received (Content-Length accounting) */
	size_t raw_off;      /* first byte not yet decoded */
	bool body_done;
	bool eof;
	struct http_header hdr[PHTTP_MAX_HEADERS];
	struct http_response res;
	struct http_chunked ck;
	struct http_limits lim;
	enum http_method method;

	phttp_done_fn done;
	phttp_data_fn data;
	void *arg;
	uint64_t timeout_ms;
	struct loop_timer_id timer;
	struct loop_timer_id kick;
	unsigned gen; /* bumped when a request ends: stale callbacks notice */

	void *mem; /* the one allocation */
	char errmsg[256];
};

/* Parse cfg->endpoint, resolve names, allocate buffers. 0, -ERR_PROVIDER_CONFIG (bad endpoint,
 * TLS wanted without tls_cfg, unresolvable name; errmsg says which), -ERR_NOMEM. */
int phttp_init(struct phttp *c, struct loop *l, const struct phttp_config *cfg);
/* Close the connection (no callback) and free the memory. Idempotent. */
void phttp_fini(struct phttp *c);

/* Start a request. method "GET"/"POST"/"PUT"/"DELETE"; path is the origin-form target
 * ("/v1/kv/traefik?recurse=true"); hdr[0..n) extra fields (Host, Content-Length and
 * Connection are written by the client); body may be empty. timeout_ms 0 = none.
 * 0, -ERR_INVAL (a request is in flight, bad input) or -ERR_BUF_FULL (over
 * PHTTP_REQUEST_MAX). Failures after this point go to done. */
int phttp_request(struct phttp *c, const char *method, const char *path,
		  const struct http_header *hdr, size_t n, struct slice body, uint64_t timeout_ms,
		  phttp_done_fn done, phttp_data_fn data, void *arg);
/* Abandon the request in flight (no callback) and close the connection. */
void phttp_cancel(struct phttp *c);
/* True while a request is in flight. */
bool phttp_busy(const struct phttp *c);

/* The body of the last complete response (decoded). */
struct slice phttp_body(const struct phttp *c);
/* Value of the first response header named name (case-insensitive); {NULL, 0} if absent. */
struct slice phttp_header(const struct phttp *c, const char *name);

/* Split "scheme://host:port" or "host:port" (IPv6 in brackets) into parts. scheme_tls is set
 * for https://. 0 or -ERR_PARSE. Exposed for tests. */
int phttp_parse_endpoint(const char *ep, uint16_t default_port, char *host, size_t cap,
			 uint16_t *port, bool *scheme_tls, bool *has_scheme);
/* Does NO_PROXY list `no_proxy` exclude host? Exposed for tests. */
bool phttp_no_proxy_match(const char *no_proxy, const char *host);

#endif
