/* api_server.h — the control API server: HTTP/1.1 + JSON over a unix socket and mutual TLS.
 *
 * Contract
 *
 * - One server per process, on the caller's event loop (single thread). The caller owns the
 *   struct api_server (embed it or keep it static); api_server_init makes every allocation the
 *   server will ever do, sized from struct api_limits: the client pool, the TLS connection pool,
 *   the per-client input/output buffers, the route table and the JSON token array. After init
 *   nothing allocates; a full pool is refused with a JSON 503 and a log line.
 * - Listeners: a unix socket (mode 0600; the peer is the local admin) and TCP listeners with TLS
 *   (peer identity from the client certificate) or, for anonymous endpoints only, plain TCP.
 * - Requests are parsed with http/http_parse.h, routed by method and path to handler callbacks,
 *   checked against the route's access mask, their body read in full (bounded by max_body) and
 *   parsed as JSON, then handed to the handler. A handler writes a JSON response into a bounded
 *   buffer (max_resp), or defers it (a write waiting for a Raft commit), or turns it into a
 *   chunked stream (logs --follow, the routing document for data nodes).
 * - Every error is a JSON body {"error":"<message>","code":"<ERR name>"} with the right status;
 *   docs/internals/api.md lists them.
 * - Lifetimes: route tables' strings and handler args must outlive the server. A struct
 *   api_req and every slice in it (path, params, body, JSON doc) are valid only during the
 *   handler call: copy what a deferred completion needs. A struct api_handle may be kept
 *   anywhere: once the client is gone or the response is finished it is stale, and every
 *   function taking it returns -ERR_NOTFOUND (never touches another client).
 * - Callbacks (handlers, api_event_fn, the peer check) run on the loop and must not block.
 *   They may call any api_* function below except api_server_init/fini.
 *
 * Caps and the errors they produce: max_clients (503 API_CLIENTS_FULL), max_tls_clients
 * (connection closed, API_TLS_CLIENTS_FULL logged), max_line (414), max_headers and
 * max_header_bytes (431), max_body (413), max_json_tokens (400 JSON_TOO_MANY_TOKENS),
 * max_resp (500 API_RESP_TOO_LARGE), max_routes (-ERR_API_ROUTES_FULL at registration).
 * Timeouts: header (408), idle keep-alive (quiet close), handler (504), stalled writes (close).
 */
#ifndef API_API_SERVER_H
#define API_API_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/base_buf.h"
#include "base/base_pool.h"
#include "base/base_rand.h"
#include "base/base_slice.h"
#include "http/http_parse.h"
#include "json/json.h"
#include "json/json_write.h"
#include "loop/loop.h"
#include "pki/pki_cert.h"
#include "tls/tls.h"

#define API_LISTENERS_MAX 4    /* listening sockets per server (-ERR_API_LISTENERS_FULL) */
#define API_MAX_PARAMS 4       /* {name} segments in one route pattern */
#define API_MAX_SEGMENTS 16    /* path segments in one route pattern */
#define API_HEAD_MAX 1024      /* response head bytes reserved per client */
#define API_EXTRA_HDR_MAX 512  /* header lines a handler may add (api_resp_header) */
#define API_ERRMSG_MAX 256     /* longest "error" text in an error body */
#define API_ADDR_MAX 262       /* "host:port" text, NUL included (253-byte names, [v6]) */
#define API_UNIX_PATH_MAX 108  /* sizeof sun_path */
#define API_STREAM_OVERHEAD 20 /* chunk framing bytes per api_stream_push */

/* Handler return values (negative values are -ERR_* codes, answered as JSON errors). */
#define API_DONE 0    /* the response in resp is complete: send it */
#define API_PENDING 1 /* deferred (api_resp_defer) or streaming (api_resp_stream) */

/* Route access mask: who may call it. A request outside the mask gets 403 API_FORBIDDEN. */
#define API_ROLE_ADMIN 0x01u   /* admin certificate (OU=admin), or the local unix socket */
#define API_ROLE_CONTROL 0x02u /* control node certificate (OU=control) */
#define API_ROLE_DATA 0x04u    /* data node certificate (OU=data) */
#define API_ROLE_NODE (API_ROLE_CONTROL | API_ROLE_DATA)
#define API_ROLE_ANY (API_ROLE_ADMIN | API_ROLE_NODE)
/* No client certificate required: anyone who completed the TLS handshake, anonymous peers
 * included (POST /join: the joiner has no certificate yet, it pins the CA from its token). */
#define API_ROLE_ANON 0x08u
/* Route flags */
#define API_F_RAW_BODY 0x100u /* the body is not parsed as JSON (req->json stays NULL) */

/* Limits --------------------------------------------------------------------------------- */

struct api_limits {
	uint32_t max_clients;        /* connections at once, all listeners; 1 .. 65536 */
	uint32_t max_tls_clients;    /* of which TLS (about 45 KiB each); 0 .. max_clients */
	uint32_t max_routes;         /* routes registered; >= 1 */
	uint32_t max_line;           /* request line bytes (414) */
	uint32_t max_headers;        /* header fields (431) */
	uint32_t max_header_bytes;   /* header section bytes (431) */
	uint32_t max_body;           /* request body bytes, decoded (413) */
	uint32_t max_resp;           /* response body bytes per client; the stream window */
	uint32_t max_json_tokens;    /* JSON tokens in a request body (400) */
	uint32_t header_timeout_ms;  /* TLS handshake + request head, then the body: 408 */
	uint32_t idle_timeout_ms;    /* keep-alive idle, and a write making no progress: close */
	uint32_t handler_timeout_ms; /* deferred response not finished: 504; 0 = no limit */
	uint32_t linger_ms;          /* after the last response, drain the client before close */
};

/* Defaults: 32 clients, 16 TLS, 64 routes, 4096 / 32 / 8192 head bytes, 64 KiB body, 256 KiB
 * response, 4096 tokens; header 10 s, idle 60 s, handler 30 s, linger 2 s. */
void api_limits_default(struct api_limits *lim);

/* Peers ---------------------------------------------------------------------------------- */

enum api_peer_kind {
	API_PEER_ANON = 0, /* TLS without a (valid) client certificate, or plain TCP */
	API_PEER_LOCAL,    /* the unix socket: local admin */
	API_PEER_ADMIN,    /* admin certificate */
	API_PEER_CONTROL,  /* control node certificate */
	API_PEER_DATA,     /* data node certificate */
};

struct api_peer {
	enum api_peer_kind kind;
	char id[PKI_ATTR_MAX + 1];      /* certificate CN (node ID, admin name); "local"; "" */
	char cluster[PKI_ATTR_MAX + 1]; /* certificate O; "" otherwise */
	uint8_t cert_sha256[32];        /* of the client's leaf, when has_cert */
	bool has_cert;                  /* a verified client certificate */
	pid_t pid;                      /* unix socket: SO_PEERCRED, else 0 */
	uid_t uid;
	char addr[64]; /* "10.0.0.5:41234", "[::1]:41234" or "unix" */
};

/* "anonymous", "local", "admin", "control", "data". */
const char *api_peer_kind_name(enum api_peer_kind kind);

/* Called once per TLS client after the handshake, before any request (e.g. refuse a revoked
 * certificate). cert/cert_len is the client's leaf (NULL, 0 for an anonymous peer), valid
 * during the call. Return 0 to accept, a negative -ERR_* to close the connection. */
typedef int (*api_peer_check_fn)(const struct api_peer *peer, const uint8_t *cert, size_t cert_len,
				 void *arg);

/* Requests and responses ---------------------------------------------------------------- */

/* Names a response across events: the client slot and its request number. */
struct api_handle {
	struct pool_handle conn;
	uint32_t seq;
};

struct api_route;
struct api_server;

/* What a handler gets. Everything is a view into the client's input buffer, valid only
 * during the handler call. */
struct api_req {
	struct api_server *srv;
	const struct api_peer *peer;
	const struct api_route *route;
	const struct http_request *http; /* method, target, header fields */
	struct slice method;
	struct slice path;  /* target up to '?', as received (percent-encoded) */
	struct slice query; /* after '?', raw; empty if none */
	struct slice rest;  /* prefix routes ("/logs/ *"): the rest of the path, no leading '/' */
	struct slice param_names[API_MAX_PARAMS];
	struct slice params[API_MAX_PARAMS]; /* raw; api_req_param decodes */
	size_t nparams;
	struct slice body;           /* decoded (chunked coding removed) */
	const struct json_doc *json; /* parsed body; NULL when empty or API_F_RAW_BODY */
};

/* How the response of one request goes out (private). */
enum api_resp_mode {
	API_RESP_NORMAL = 0,
	API_RESP_DEFERRED,
	API_RESP_STREAM,
};

/* What the response's owner is told about a deferred or streaming response. */
enum api_event {
	API_EV_DRAINED, /* stream: the output window emptied after a short api_stream_push */
	API_EV_CLOSED,  /* the client went away, timed out, or the server stops: the handle is
			 * stale from now on. Not sent after api_resp_finish / api_stream_end. */
};
typedef void (*api_event_fn)(struct api_server *s, struct api_handle h, enum api_event ev,
			     void *arg);

/* The response a handler fills. status (200), content_type ("application/json") and body
 * are the handler's to set; the rest is private. */
struct api_resp {
	int status;
	const char *content_type; /* static string */
	struct buf body;          /* max_resp bytes in the client's output buffer */
	struct buf hdrs;          /* extra header lines (api_resp_header) */
	struct json_writer json;  /* over body, after api_resp_json */
	bool json_used;
	enum api_resp_mode mode;
	api_event_fn ev_fn;
	void *ev_arg;
	uint8_t hdr_mem[API_EXTRA_HDR_MAX];
};

/* int handler(struct api_req *req, struct api_resp *resp, void *arg):
 * API_DONE, API_PENDING (after api_resp_defer or api_resp_stream), or a negative -ERR_*
 * answered as {"error": err_str(e), "code": err_name(e)} with api_err_status(e). */
typedef int (*api_handler_fn)(struct api_req *req, struct api_resp *resp, void *arg);

struct api_route {
	const char *method;  /* "GET", "POST", ... (exact, case-sensitive) */
	const char *pattern; /* "/nodes", "/nodes/{id}", "/logs/ *" (no space: a final "*"
			      * segment matches any rest, including none) */
	unsigned access;     /* API_ROLE_* mask | API_F_* */
	api_handler_fn fn;
	void *arg;
};

/* Server --------------------------------------------------------------------------------- */

enum api_listen_kind {
	API_LISTEN_UNIX = 1,
	API_LISTEN_TLS,
	API_LISTEN_TCP, /* plaintext: every peer is anonymous */
};

struct api_listener {
	int fd; /* -1 when the slot is free */
	enum api_listen_kind kind;
	const struct tls_server_config *tls; /* borrowed */
	uint16_t port;                       /* TCP: bound port */
	char path[API_UNIX_PATH_MAX];        /* unix: removed by api_server_fini */
	dev_t dev;                           /* unix: the socket file we made */
	ino_t ino;
	struct loop_timer_id pause; /* accept paused (out of fds) until it fires */
	struct api_server *srv;
};

struct api_stats {
	uint64_t accepted;
	uint64_t refused_full;     /* max_clients */
	uint64_t refused_tls_full; /* max_tls_clients */
	uint64_t requests;
	uint64_t status[6];         /* responses by class: [1] 1xx .. [5] 5xx */
	uint64_t tls_failed;        /* handshakes that failed or timed out */
	uint64_t tls_rejected_cert; /* client certificate presented but not valid */
	uint64_t timeouts;          /* 408, 504, idle and stalled-write closes */
	uint32_t clients;           /* now */
	uint32_t tls_clients;       /* now */
};

struct api_conn;

/* Private to api_server.c; in the header so the caller can own the storage. */
struct api_server {
	struct loop *loop;
	struct rand *rng;
	struct api_limits lim;
	struct http_limits hlim;
	struct pool conns; /* struct api_conn */
	struct pool tls;   /* struct tls_conn slots */
	uint8_t *bufs;     /* per client: headers, input, output */
	size_t in_cap, out_cap, slot_bytes;
	struct api_route *routes;
	uint32_t nroutes;
	json_tok *toks;        /* max_json_tokens, shared: one handler runs at a time */
	struct json_doc jdoc;  /* the body being handled */
	struct api_conn *live; /* every client, linked */
	struct api_listener ls[API_LISTENERS_MAX];
	api_peer_check_fn peer_check;
	void *peer_check_arg;
	struct api_stats stats;
	uint64_t last_full_log_ms;
	bool ready;
	char errmsg[160]; /* last failure of a set-up call */
};

/* Allocate everything from lim (copied). loop and rng (for TLS engines) are borrowed and
 * must outlive the server. -ERR_INVAL (a limit out of range; errmsg names it), -ERR_NOMEM.
 * On failure nothing is held and api_server_fini is a no-op. */
int api_server_init(struct api_server *s, struct loop *l, struct rand *rng,
		    const struct api_limits *lim);
/* Close every listener (removing the unix socket path) and client (API_EV_CLOSED is sent
 * for every deferred or streaming response), free everything. Idempotent; not from a
 * handler or api callback. */
void api_server_fini(struct api_server *s);

/* Register n routes (copied; their strings and args are borrowed). Patterns: '/' then
 * segments separated by '/', each a literal, "{name}", or a final "*". -ERR_INVAL (bad
 * pattern, method or access mask; errmsg says which), -ERR_EXISTS (same method and pattern
 * twice), -ERR_API_ROUTES_FULL (max_routes). All or nothing. Matching prefers, segment by
 * segment from the left, a literal over {name} over "*". */
int api_server_add_routes(struct api_server *s, const struct api_route *routes, size_t n);

/* Listen on a unix socket at path, mode 0600 (set with umask around bind(2), then checked).
 * A stale socket (nobody accepting) is replaced; a live one is -ERR_EXISTS ("in use by
 * another process"), so is a path that is not a socket. -ERR_RANGE for a path over
 * sun_path. Returns the listener index (>= 0). Start-up only: it makes blocking syscalls. */
int api_server_listen_unix(struct api_server *s, const char *path);
/* Listen on TCP "host:port", ":port" (all IPv4 addresses) or "[v6]:port"; numeric hosts
 * only; port 0 picks a free port (api_server_port). tls NULL: plaintext, every peer
 * anonymous (API_ROLE_ANON routes only). With tls: see api_tls_server_config; the
 * configuration must outlive the server. Returns the listener index. */
int api_server_listen_tcp(struct api_server *s, const char *addr,
			  const struct tls_server_config *tls);
/* Serve the connections accepted from now on with tls instead of old on every listener that
 * uses old (a renewed certificate). Connections open keep theirs: old must stay alive until
 * they are gone (in practice: until the next renewal). Returns how many listeners changed. */
int api_server_swap_tls(struct api_server *s, const struct tls_server_config *old,
			const struct tls_server_config *tls);
/* Bound TCP port of a listener, 0 for a unix one or a bad index. */
uint16_t api_server_port(const struct api_server *s, int index);

void api_server_set_peer_check(struct api_server *s, api_peer_check_fn fn, void *arg);
static inline const struct api_stats *api_server_stats(const struct api_server *s)
{
	return &s->stats;
}
/* Worst-case bytes the server was sized for (for --print-limits). */
size_t api_server_bytes(const struct api_server *s);
/* Bytes per client slot, TLS excluded, for the given limits. */
size_t api_limits_client_bytes(const struct api_limits *lim);

/* The recommended TLS configuration of the API listener, built into caller storage:
 * chain_pem (the node certificate then the cluster CA, so a joiner can pin the CA), its key,
 * the cluster CA as the only client CA, and OPTIONAL client authentication — routes enforce
 * roles, a certificate from another CA is refused. Errors of tls_server_* (cfg->errmsg). */
int api_tls_server_config(struct tls_server_config *cfg, void *store, size_t store_cap,
			  const void *chain_pem, size_t chain_len, const void *key_pem,
			  size_t key_len, const void *ca_pem, size_t ca_len);

/* Handler helpers ------------------------------------------------------------------------ */

/* Path parameter `name` percent-decoded into out (cap bytes, NUL-terminated). Returns the
 * length, -ERR_NOTFOUND, -ERR_BUF_FULL, or -ERR_PARSE (bad escape, or a decoded '/' or NUL). */
int api_req_param(const struct api_req *req, const char *name, char *out, size_t cap);
/* Query value of `key` ("a=1&b=x+y"), decoded ('+' is a space). Returns the length (a key
 * without '=' gives ""), -ERR_NOTFOUND, -ERR_BUF_FULL, -ERR_PARSE. */
int api_req_query(const struct api_req *req, const char *key, char *out, size_t cap);
/* First header field called name (case-insensitive); {NULL, 0} if absent. */
struct slice api_req_header(const struct api_req *req, const char *name);

/* Start (or restart) a JSON document in resp->body; the server finishes it. */
struct json_writer *api_resp_json(struct api_resp *resp);
/* Add "name: value" to the response head. -ERR_INVAL (not a token / bad value, or a field
 * the server writes: Content-Length, Transfer-Encoding, Connection), -ERR_BUF_FULL. */
int api_resp_header(struct api_resp *resp, const char *name, const char *value);
/* Replace the body with {"error": <message>, "code": err_name(err)}; status 0 picks
 * api_err_status(err). fmt NULL uses err_str(err). Returns API_DONE. */
int api_resp_error(struct api_resp *resp, int status, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The status a -ERR_* code is answered with (accepts e or -e): 400 malformed input,
 * 403 permission, 404, 405, 409 exists, 413, 431, 503 busy / not leader / pool full,
 * 504 timeout, 501 unsupported, 500 otherwise. */
int api_err_status(int err);

/* Defer: the handler returns API_PENDING (this function's value); later, on the loop, get
 * the response back with api_resp_get, fill it, and api_resp_finish it. handler_timeout_ms
 * bounds the wait (then 504 and API_EV_CLOSED). */
int api_resp_defer(struct api_resp *resp, struct api_handle *out);
/* The deferred response of h, or NULL when h is stale. */
struct api_resp *api_resp_get(struct api_server *s, struct api_handle h);
/* Send it. 0, or -ERR_NOTFOUND when h is stale (the client is gone). */
int api_resp_finish(struct api_server *s, struct api_handle h);
/* Be told about h's fate (API_EV_*); fn NULL stops it. */
void api_resp_on_event(struct api_resp *resp, api_event_fn fn, void *arg);

/* Stream: the head (status, content_type, extra headers, Transfer-Encoding: chunked; for an
 * HTTP/1.0 client the body runs until close) is queued now; returns API_PENDING for the
 * handler to return. Push data with api_stream_push, end with api_stream_end. No handler
 * timeout applies; a client that stops reading is closed after idle_timeout_ms. */
int api_resp_stream(struct api_resp *resp, struct api_handle *out);
/* Queue data as one chunk. Returns the bytes taken (0 .. len: at most the free window,
 * max_resp + API_HEAD_MAX - API_STREAM_OVERHEAD); when fewer than len, API_EV_DRAINED comes
 * once the window is empty. -ERR_NOTFOUND stale, -ERR_INVAL (len 0, not a stream). */
ssize_t api_stream_push(struct api_server *s, struct api_handle h, const void *data, size_t len);
/* End the stream (last chunk); the connection then serves the next request. */
int api_stream_end(struct api_server *s, struct api_handle h);

/* Addresses ------------------------------------------------------------------------------ */

/* Split "host:port", ":port", "[v6]:port" into host (brackets removed; "" for none) and port
 * (0 .. 65535). -ERR_INVAL when malformed, -ERR_BUF_FULL when host does not fit hcap. */
int api_addr_split(const char *addr, char *host, size_t hcap, uint16_t *port);

#endif
