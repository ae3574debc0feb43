/* node_link.h — one outgoing HTTP/1.1 connection over mutual TLS, on the event loop.
 *
 * Contract
 *
 * - Nodes talk to each other with the control API's protocol (api_server.h) over TLS with
 *   their node certificates. The blocking api_client is for command-line paths; a daemon
 *   needs the same thing without blocking: this is it. A link carries one request at a time
 *   (no pipelining) and keeps its connection between requests (keep-alive); it reconnects
 *   when the next request is asked for after the server closed it.
 * - Identity: the server's certificate must verify against the cluster CA (the TLS client
 *   configuration given) and name a control node (OU=control). When the caller knows which
 *   node it dials (want_id), the certificate's CN must be that node ID. Host names in the
 *   certificate are not checked: identity is the node ID, as api_client does for a VIP.
 * - Responses: a normal response is read whole (head and body, bounded by in_cap: a larger
 *   body is -ERR_TOO_LARGE) and handed to on_resp. A streamed request (node_link_stream)
 *   hands every piece of the (chunked) body to on_data as it arrives and ends with on_resp
 *   (status, empty body) when the server ends the stream.
 * - Failures (connect, TLS, timeout, malformed response, server closed) close the
 *   connection and call on_err once; the request in flight is lost. The caller decides
 *   whether and when to retry (back-off is the caller's).
 * - Timeouts: connect + handshake (connect_timeout_ms), then the whole response
 *   (response_timeout_ms); a stream must see bytes at least every stream_idle_ms.
 * - Memory: node_link_init allocates the output buffer (out_cap: request head and body),
 *   the input buffer (in_cap) and the TLS slot once; nothing after.
 * - Address resolution: numeric IPv4/IPv6 and "localhost" are resolved without blocking;
 *   other host names go through getaddrinfo once, when the address is set (blocking).
 * - Callbacks run on the loop; they may call any node_link function, including closing or
 *   reusing this link.
 */
#ifndef NODE_NODE_LINK_H
#define NODE_NODE_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/base_id.h"
#include "base/base_rand.h"
#include "base/base_slice.h"
#include "http/http_parse.h"
#include "loop/loop.h"
#include "pki/pki_cert.h"
#include "tls/tls.h"

#define NODE_ADDR_MAX 262
#define NODE_LINK_HEADERS 32

struct node_link;

/* A whole response (status >= 100, body valid during the call), or the end of a stream. */
typedef void (*node_link_resp_fn)(struct node_link *k, int status, struct slice body, void *arg);
/* A piece of a streamed body. */
typedef void (*node_link_data_fn)(struct node_link *k, struct slice data, void *arg);
/* The connection failed or closed; err is negative, why a sentence for the log. */
typedef void (*node_link_err_fn)(struct node_link *k, int err, const char *why, void *arg);

struct node_link_config {
	struct loop *loop;
	struct rand *rng;
	const struct tls_client_config *tls; /* cluster CA + this node's certificate */
	size_t out_cap;                      /* request head + body */
	size_t in_cap;                       /* response head + body (not streams) */
	uint32_t connect_timeout_ms;
	uint32_t response_timeout_ms;
	uint32_t stream_idle_ms;
	node_link_resp_fn on_resp;
	node_link_data_fn on_data;
	node_link_err_fn on_err;
	void *arg;
};

enum node_link_state {
	NODE_LINK_DOWN = 0,
	NODE_LINK_CONNECTING,
	NODE_LINK_HANDSHAKE,
	NODE_LINK_IDLE, /* connected, no request */
	NODE_LINK_BUSY, /* request sent or being sent, response not complete */
};

struct node_link {
	struct node_link_config cfg;
	enum node_link_state state;
	int fd;
	char addr[NODE_ADDR_MAX];
	char host[NODE_ADDR_MAX];
	struct sockaddr_storage sa;
	socklen_t salen;
	bool has_addr;
	char want_id[ID_LEN + 1]; /* "" : any control node */
	struct tls_conn *tls;
	bool identified;
	bool pending_req; /* a request waits for the connection */
	bool stream;
	/* output */
	uint8_t *out;
	size_t out_len, out_off;
	/* input */
	uint8_t *in;
	size_t in_len;
	uint8_t *body; /* decoded body (chunked), in_cap bytes */
	size_t body_len;
	struct http_header hdr[NODE_LINK_HEADERS];
	struct http_response res;
	struct http_limits hlim;
	struct http_chunked chunk;
	size_t head_len;
	bool head_done;
	uint64_t left; /* Content-Length bytes still expected */
	bool keep;
	struct loop_timer_id timer;
	uint64_t deadline;
	bool in_cb; /* a callback is running: defer the close */
	char peer_id[PKI_ATTR_MAX + 1];
	uint64_t requests, failures;
	char errmsg[192];
};

/* Allocate the buffers and the TLS slot. 0 or -ERR_NOMEM / -ERR_INVAL. */
int node_link_init(struct node_link *k, const struct node_link_config *cfg);
void node_link_fini(struct node_link *k);

/* Set where the link goes ("host:port") and which node must answer (NULL/"": any control
 * node). Closes a connection to another address. -ERR_INVAL for an address that is not
 * host:port or does not resolve. */
int node_link_set_addr(struct node_link *k, const char *addr, const char *want_id);

/* Use tls for the next connection (a renewed certificate); an open connection keeps its
 * session. tls must outlive the link or the next call. */
void node_link_set_tls(struct node_link *k, const struct tls_client_config *tls);

/* True when a request may be started (no request in flight). */
bool node_link_can_send(const struct node_link *k);

/* Start a request: method, path, extra header lines ("Name: value\r\n"... or NULL), body
 * (NULL, 0 for none; sent with Content-Length). Connects first when needed.
 * -ERR_AGAIN (a request is in flight), -ERR_TOO_LARGE (over out_cap), -ERR_INVAL (no
 * address), or a connect error (on_err is NOT called for a synchronous failure). */
int node_link_request(struct node_link *k, const char *method, const char *path, const char *hdrs,
		      const void *body, size_t len);
/* The same for a GET whose response body is streamed to on_data. */
int node_link_stream(struct node_link *k, const char *path, const char *hdrs);

/* Close the connection (the request in flight, if any, is dropped silently). */
void node_link_close(struct node_link *k);

#endif
