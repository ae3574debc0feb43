/* proxy_engine_int.h — private structures shared by the connection engine's files:
 * proxy_engine.c (engine, listeners, tables, buffers, standalone mode), proxy_conn.c (client
 * side), proxy_upstream.c (upstream connections and pools), proxy_forward.c (head rewriting,
 * body framing), proxy_health.c (health checks). Not an API: nothing outside those files
 * includes it but white-box tests. docs/internals/proxy-engine.md describes the design.
 *
 * Ownership, in one place:
 *  - The engine owns every pool; objects come from pools sized at start-up and go back to
 *    them. After proxy_engine_create nothing on the data path allocates.
 *  - A client connection (struct proxy_conn) owns its fd, its TLS slot and a reference on
 *    the TLS configuration that slot uses, and while a request is in flight two buffers (rq:
 *    client -> upstream, rs: upstream -> client), the pinned routing generation and the
 *    upstream connection it uses; a tunnel owns the two buffers and the upstream connection
 *    but no generation. Releasing a connection releases all of them.
 *  - An upstream connection (struct proxy_up) is owned by a client connection while busy
 *    (up->owner, conn->up point at each other and are cleared together) and by its target's
 *    idle list while idle. It never owns a buffer.
 *  - Routing generations (struct proxy_gen) are reference-counted: the engine holds one
 *    reference on the current one, every request in flight (from its routing to the end of
 *    its response, or to the 101 of an upgrade) one on the generation it started with.
 *    Idle keep-alive connections and tunnels hold none, so a generation drains within one
 *    request and max_tables bounds nothing but requests in flight. A generation is freed
 *    when its count reaches 0.
 *  - An entry point's TLS server configuration (struct proxy_tlscfg) lives in its own slot
 *    of a pool of max_tls_generations, reference-counted apart from the tables: every
 *    generation holds one reference per TLS entry point, every TLS connection one on the
 *    configuration it was accepted with. Consecutive generations share the object when the
 *    entry point's TLS source (certificates, keys, client CAs, options: digest) is the same.
 *    A connection whose configuration is no longer its entry point's in the current
 *    generation (NULL for plain on both sides) is stale: closed when idle, after its
 *    response when busy (proxy_conn_swap_notice).
 *  - Raw pointers between objects are safe because every link is cleared on both sides when
 *    either object is released, and loop registrations are deleted before release (the loop
 *    never calls back a deleted registration).
 */
#ifndef PROXY_ENGINE_INT_H
#define PROXY_ENGINE_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/base_buf.h"
#include "base/base_pool.h"
#include "base/base_rand.h"
#include "http/http_parse.h"
#include "loop/loop.h"
#include "proxy/proxy_accesslog.h"
#include "proxy/proxy_auth.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_engine.h"
#include "proxy/proxy_fwdauth.h"
#include "proxy/proxy_gzip.h"
#include "proxy/proxy_healthboard.h"
#include "proxy/proxy_lb.h"
#include "proxy/proxy_limits.h"
#include "proxy/proxy_metrics.h"
#include "proxy/proxy_ratelimit.h"
#include "tls/tls.h"

struct proxy_engine;
struct proxy_conn;
struct proxy_up;
struct proxy_hc;
struct proxy_breaker;

/* ---- buffers --------------------------------------------------------------------------- */

/* A buffer slot: message parse state and header array first, data after. Streaming slots
 * hold buf_size data bytes, large slots proxy_dp_large_buf_size. */
struct proxy_bslot {
	union {
		struct http_request req;
		struct http_response res;
	} m;
	struct http_chunked ck;
	/* A request slot: the request as the matcher saw it (proxy_fwd_view), slices into this
	 * buffer; built by route_frontend, read by the later route steps and
	 * proxy_fwd_request_head, moved by stream_grow with the buffer. Kept here rather than on
	 * the connection so an idle keep-alive connection (no buffer) does not pay for it. */
	struct proxy_req_view view;
	struct http_header hdr[]; /* max_headers entries; data follows */
};

struct proxy_bufpool {
	const char *name;   /* the setting behind the cap */
	unsigned char *mem; /* cap * stride */
	uint32_t *free;     /* stack of free slot indices */
	size_t stride;      /* bytes per slot */
	size_t data_off;    /* offset of the data inside a slot */
	uint32_t data_cap;  /* data bytes per slot */
	uint32_t cap;
	uint32_t nfree;
	uint32_t high_water;
	uint64_t exhausted;
	long fail_after; /* fault injection, as struct pool */
};

/* Body framing of one direction (proxy_forward.c). */
enum proxy_mode {
	PM_NONE = 0, /* no body */
	PM_LENGTH,   /* Content-Length: `left` bytes */
	PM_CHUNKED,  /* chunked, forwarded as received (validated by the decoder) */
	PM_DECHUNK,  /* chunked in, plain out (HTTP/1.0 client): data moved down in place */
	PM_CLOSE,    /* until the sender closes */
	PM_TUNNEL,   /* raw bytes both ways after an upgrade */
};

/* One direction of a transaction. Offsets into the buffer's data:
 *   [0, base)       the raw message head (rq: kept for the access log and for a retry)
 *   [start, ready)  bytes to send, ready <= parse
 *   [parse, end)    received bytes not yet framed (for rq after `done`: the next request)
 */
struct proxy_stream {
	struct proxy_bslot *slot; /* NULL: no buffer */
	uint8_t *b;               /* slot data */
	uint32_t cap;
	uint32_t base, start, ready, parse, end;
	uint64_t left;     /* PM_LENGTH: body bytes still to frame */
	uint64_t body;     /* body bytes framed so far */
	uint8_t mode;      /* enum proxy_mode */
	uint8_t large;     /* slot from the large pool */
	uint8_t done;      /* the message ended at `ready` */
	uint8_t eof;       /* the source reached end of file */
	uint8_t compacted; /* body bytes were dropped from the buffer (no replay) */
};

/* ---- routing generations ---------------------------------------------------------------- */

struct proxy_gen_srv {
	struct sockaddr_storage addr;
	socklen_t alen;
	bool resolved;
	bool probing;    /* a health probe is in flight */
	uint64_t hb_key; /* health board key (proxy_lb_srv_key), when the engine has a board */
	int m_url;       /* metric name id of the URL */
	/* The upstream target of addr (proxy_up_get), a handle into e->targets: stale once the
	 * target is freed (no connection left to it), then looked up again. */
	struct pool_handle tg;
	/* TLS failures of this https:// server are logged at most once a second (under load a
	 * misconfigured server would log every request): when the last line went out, and how
	 * many were left out since (the next line says so). upstream_tls_failures counts all. */
	uint64_t tls_log_ms;
	uint64_t tls_log_skipped;
};

struct proxy_gen_be {
	struct proxy_gen *g; /* back pointers for the health timer */
	uint32_t idx;
	int m_be; /* metric name id */
	struct loop_timer_id hc_timer;
	struct proxy_breaker *cb; /* circuit breaker (proxy_breaker.h), NULL: none */
};

/* One entry point's TLS server configuration (see the header comment). refs == 0: free. */
struct proxy_tlscfg {
	struct proxy_engine *eng;
	uint32_t refs;
	uint8_t digest[32];            /* SHA-256 of the entry point's TLS source */
	struct tls_server_config *cfg; /* malloc'd at load time: config head + its store */
};

struct proxy_gen {
	struct proxy_engine *eng;
	const struct proxy_table *t;
	void *arena_mem; /* table memory (malloc'd at load time: control path) */
	uint32_t refs;
	bool current;
	uint32_t slot;             /* index in eng->gens */
	struct proxy_gen_srv *srv; /* t->nsrv */
	struct proxy_gen_be *be;   /* t->nbe */
	int *m_ep;                 /* t->nep metric ids */
	int *m_fe;                 /* t->nfe metric ids */
	struct proxy_tlscfg **tls; /* t->nep, one reference each; NULL for plain entry points */
	/* https:// servers (proxy_upstream.c): trust anchors from rootCAs, insecureSkipVerify.
	 * Built with the table and freed with it; NULL when the table has no https server.
	 * Upstream TLS connections made with it are closed (idle) or never pooled again (busy)
	 * when it goes (proxy_up_tls_gen_free). */
	struct tls_client_config *upcfg;
	struct proxy_lb lb; /* runtime load-balancer state (proxy_lb.h): health, wrr/drr, maxConn */
	/* A follower worker (the engine has a health board and does not probe): the timer that
	 * copies the board's verdicts into lb while this table is current (proxy_health.c) */
	struct loop_timer_id hb_timer;
	void *lb_mem;
	void *cb_mem; /* the circuit breakers of g->be[].cb (proxy_breaker_gen_build) */
	/* forward auth addresses (proxy_fwdauth.c): t->nep and t->nfe entries, load time */
	struct proxy_fwdauth_addr *fa_ep, *fa_fe;
};

/* ---- listeners ---------------------------------------------------------------------------- */

struct proxy_listener {
	struct proxy_engine *eng;
	int fd; /* -1: free */
	char name[64];
	struct sockaddr_storage addr;
	socklen_t alen;
	int ep;        /* index in the current table, -1: entry point gone (draining) */
	bool tls;      /* current table says TLS */
	bool paused;   /* not accepting (pool full) */
	bool keep;     /* swap bookkeeping */
	uint16_t port; /* bound port (useful with port 0) */
};

/* ---- upstream ---------------------------------------------------------------------------- */

struct proxy_target {
	struct sockaddr_storage addr;
	socklen_t alen;
	uint32_t hash;
	struct proxy_target *hnext; /* hash chain */
	uint32_t nconns;            /* upstream connections (busy + idle) to this address */
	uint32_t nidle;
	struct proxy_up *idle_head; /* most recently used first */
};

enum proxy_up_state { PU_FREE = 0, PU_CONNECTING, PU_BUSY, PU_IDLE };

struct proxy_up {
	struct proxy_engine *eng;
	int fd;
	uint8_t state;
	uint8_t can_read, can_write, rdhup;
	uint8_t reused; /* served a request before this one */
	struct proxy_target *tg;
	struct proxy_conn *owner;
	struct proxy_up *tnext, *tprev; /* target idle list */
	struct proxy_up *lnext, *lprev; /* engine idle LRU (oldest at head) */
	uint64_t idle_since;
	uint32_t requests;
	/* TLS (https:// servers): the slot (max_upstream_tls_conns), the configuration it was
	 * made with and a hash of the server name, so that an idle connection is reused only
	 * for the same configuration and name. can_read / can_write then stay 1 (the engine is
	 * asked), sock_r / sock_w remember the socket's readiness instead. */
	struct tls_conn *tls;
	const struct tls_client_config *tcfg;
	uint64_t name_hash;
	uint8_t sock_r, sock_w;
	uint8_t tcp_up;      /* TCP connected, handshake running or done */
	uint8_t tcfg_gone;   /* its configuration was freed: never pooled again */
	uint8_t tls_trimmed; /* idle and its I/O buffer given back (proxy_up_sweep, tls_conn_trim)
			      */
	struct proxy_up *xnext, *xprev; /* every TLS upstream connection (e->up_tls_all) */
};

/* ---- client connections --------------------------------------------------------------------- */

enum proxy_conn_state {
	PC_FREE = 0,
	PC_IDLE,     /* between requests (or before the first), no buffer */
	PC_WAIT_BUF, /* bytes may be waiting; no buffers free yet */
	PC_HEAD,     /* reading a request head */
	PC_CONNECT,  /* waiting for the upstream connection */
	PC_FORWARD,  /* request head/body to upstream; waiting for the response head */
	PC_RESPONSE, /* response body to the client */
	PC_TUNNEL,   /* upgraded: raw bytes both ways */
	PC_LOCAL,    /* sending a response the proxy made (error, redirect) */
	PC_CLOSING,  /* flushing the last bytes, then close */
	PC_LINGER,   /* write side shut; discarding input until EOF or a short deadline */
	PC_AUTH,     /* parked: waiting for the forward auth sub-request (c->fa) */
	PC_PROXYHDR, /* new connection, trusted peer: a PROXY protocol header may come first
			(proxy_pp.h); no byte reaches TLS or HTTP before it is consumed */
};

struct proxy_conn {
	struct proxy_engine *eng;
	int fd;
	uint8_t state;
	uint8_t can_read, can_write, rdhup;
	uint8_t close_after; /* close once the current response is out */
	uint8_t waitq;       /* on the buffer wait queue */
	uint8_t runq;        /* on the run queue */
	uint8_t in_run;      /* inside conn_run (re-entry guard) */
	uint8_t dead;        /* released while in_run: free at the end of conn_run */
	uint8_t in_tx;       /* a transaction is open (not yet logged) */
	uint8_t tls_closed;  /* tls_conn_close was called */
	uint8_t set_cookie;  /* sticky backend without a valid cookie: send Set-Cookie */
	uint8_t tls_trim;    /* tls_conn_trim tries in this idle period; 0xff: trimmed */
	struct tls_conn *tls;
	struct proxy_tlscfg *tlscfg; /* TLS configuration serving this connection (a reference) */
	struct proxy_listener *ls;
	struct proxy_ip peer_ip;
	uint16_t peer_port;
	uint8_t peer_len; /* strlen(peer_text) */
	char peer_text[PROXY_IP_STR_MAX];

	struct loop_timer_id timer;
	uint64_t timer_at; /* deadline the armed timer fires at; 0: none */
	uint64_t t_state;  /* when the current phase started */
	uint64_t t_read;   /* last client read */
	uint64_t t_write;  /* last client write progress (or when output became pending) */
	uint64_t t_up;     /* last upstream read or write */
	uint32_t requests; /* requests served on this connection */

	struct proxy_stream rq, rs;
	/* The transaction in flight (valid from PC_HEAD's completion to its end). */
	struct proxy_gen *gen;
	struct proxy_up *up;
	int ep, fe, be, srv;
	struct proxy_rule_hit hit;
	uint64_t conn_ref;      /* maxConn reference (proxy_lb_conn_acquire), 0: none */
	uint64_t res_body_sent; /* body bytes to the client */
	uint64_t t_start;       /* request start (monotonic ms) */
	int64_t wall_start;     /* request start (Unix ms) */
	/* Authenticated user (proxy-auth.md): a slice of the pinned table's user line; empty:
	 * none. auth_strip: a removeHeader auth passed, Authorization does not go upstream. */
	struct slice auth_user;
	/* Forward auth (proxy_fwdauth.h): the sub-request and kept fields, and the route step
	 * to resume at (fa_stage 1: after the entry point auth, 2: after the frontend auth). */
	struct proxy_fwdauth *fa;
	/* Entry point compress (proxy_gzip.h): PROXY_GZ_* applied to this response (gzf), and
	 * the compression stream (max_gzip_streams) while the body goes through it. */
	struct proxy_gz *gz;
	uint32_t req_head_len;
	uint32_t out_head_len; /* request: rewritten head bytes in rs not yet sent (from 0) */
	uint32_t out_head_off;
	int status; /* status of the response sent to the client */
	/* Error pages (proxy_errpage.h): while the page of fe->errors[errpage_idx] is fetched in
	 * place of a response, the status the client gets; 0: no fetch (a fetched answer is
	 * never replaced again). */
	uint16_t errpage_status;
	uint16_t errpage_idx;
	uint16_t interim_status; /* a 1xx status line on its way to the client (interim_line) */
	uint8_t interim_len, interim_off;
	uint8_t method;      /* enum http_method */
	uint8_t minor;       /* request HTTP/1.<minor> */
	uint8_t proto;       /* enum proxy_proto (metrics) */
	uint8_t head_req;    /* HEAD request */
	uint8_t upgrade;     /* request asks for an upgrade */
	uint8_t expect;      /* Expect: 100-continue */
	uint8_t client_ka;   /* the request allows keep-alive */
	uint8_t res_started; /* response head handed to the client output */
	uint8_t res_ka;      /* the upstream response allows keep-alive */
	uint8_t attempts;
	uint8_t counted_open; /* open-connection gauges were raised */
	uint8_t linger;       /* lingering close after the output */
	uint8_t sec;          /* security headers (proxy_secure.h PROXY_SECTX_*); 0: none */
	uint8_t auth_strip;
	uint8_t cb_pass; /* passed c->be's circuit breaker: record the outcome (conn_untable) */
	uint8_t fa_stage;
	uint8_t gzf;
	uint8_t errpage_ok; /* the page's own answer was not a 5xx (load balancer statistics) */
	uint8_t buf_lim;    /* backend buffering limits apply (proxy_ptc.h PROXY_BUFLIM_*) */

	struct proxy_conn *wnext, *wprev; /* buffer wait queue / run queue */
	struct proxy_conn *rnext;
	struct proxy_conn *next, *prev; /* every live connection */
};

/* The client address as text (c->peer_text, which the PROXY protocol may have replaced). */
static inline struct slice proxy_conn_peer(const struct proxy_conn *c)
{
	return (struct slice){c->peer_text, c->peer_len};
}

/* ---- engine -------------------------------------------------------------------------------- */

struct proxy_engine {
	struct loop *loop;
	struct proxy_dp_limits lim;
	struct http_limits hl_req; /* request heads and bodies */
	struct http_limits hl_res; /* response heads; bodies unlimited */
	struct pool conns, ups, tlss, targets;
	struct proxy_bufpool bufs, large;
	struct proxy_gen **gens;      /* max_tables slots */
	struct proxy_tlscfg *tlscfgs; /* max_tls_generations slots */
	struct proxy_gen *cur;
	struct proxy_listener ls[PROXY_MAX_ENTRYPOINTS];
	struct proxy_metrics *metrics;
	void *metrics_mem; /* owned when the caller gave none: an anonymous mapping */
	size_t metrics_len;
	struct proxy_accesslog al;
	void *al_mem;
	uint8_t *scratch; /* per-worker head building area (large buffer size) */
	size_t scratch_cap;
	char path_buf[8192 + 256]; /* rewritten request path */
	struct proxy_re_work *rework;
	struct rand rng;
	struct proxy_target **thash;
	uint32_t thash_mask;
	struct proxy_conn *wait_head, *wait_tail; /* waiting for buffers, FIFO */
	struct proxy_conn *run_head;              /* to run before sleeping */
	struct proxy_conn *all;                   /* every live client connection */
	struct proxy_up *lru_head, *lru_tail;     /* idle upstream connections, oldest first */
	struct pool up_tls;                       /* TLS slots of upstream connections */
	struct proxy_up *up_tls_all;              /* every TLS upstream connection */
	struct loop_timer_id sweep_timer;
	struct loop_timer_id resume_timer;
	struct loop_timer_id grace_timer;
	bool accept_paused;
	bool draining;
	bool stopped;
	bool reuse_port;
	int64_t (*wall_ms)(void *ctx);
	void *wall_ctx;
	char server_name[64];    /* X-Forwarded-Server */
	uint8_t server_name_len; /* strlen(server_name), set with it */
	/* default self-signed certificate (TLS entry points without one) */
	char *default_cert_pem, *default_key_pem;
	size_t default_cert_len, default_key_len;
	struct proxy_engine_stats st;
	struct proxy_auth_state auth; /* digest nonce key, verified-credential cache */
	struct pool hcs;
	/* forward auth sub-requests (max_forward_auth) and their TLS slots */
	struct pool fas, fa_tls;
	/* response compression streams (max_gzip_streams, proxy_gzip.c): compressed responses,
	 * responses sent uncompressed at the cap, and the cap's once-a-second log line */
	struct pool gzs;
	uint64_t gz_responses, gz_full, gz_log_ms, gz_log_skipped;
	/* frontend rate limiting (proxy_ratelimit.h): max_ratelimit_keys buckets, this worker's */
	struct proxy_rl rl;
	/* backend maxConn counts of the node (proxy_maxconn.h), attached when mc_on; otherwise
	 * each table's load balancer counts privately */
	struct proxy_mc mc;
	bool mc_on;
	/* health verdicts of the node (proxy_healthboard.h), attached when hb_on: hb.writer
	 * (worker slot 0) probes and writes them, the other workers follow them */
	struct proxy_hb hb;
	bool hb_on;
	struct proxy_hc *hc_head; /* probes in flight */
	uint32_t nhc_running;
	char errmsg[256];
};

/* ---- proxy_engine.c ------------------------------------------------------------------------ */

uint8_t *proxy_buf_get(struct proxy_engine *e, struct proxy_stream *s, bool large);
void proxy_buf_put(struct proxy_engine *e, struct proxy_stream *s);
/* Both streaming buffers for a new request, or false (the connection queues). */
bool proxy_bufs_take2(struct proxy_engine *e, struct proxy_conn *c);
void proxy_waitq_add(struct proxy_engine *e, struct proxy_conn *c);
void proxy_waitq_del(struct proxy_engine *e, struct proxy_conn *c);
void proxy_runq_add(struct proxy_engine *e, struct proxy_conn *c);
void proxy_gen_ref(struct proxy_gen *g);
void proxy_gen_unref(struct proxy_gen *g);
void proxy_tlscfg_ref(struct proxy_tlscfg *x);
void proxy_tlscfg_unref(struct proxy_tlscfg *x);
int64_t proxy_wall_ms(struct proxy_engine *e);
/* Listener bookkeeping after a connection slot was freed. */
void proxy_accept_resume(struct proxy_engine *e);

/* ---- proxy_conn.c -------------------------------------------------------------------------- */

void proxy_conn_accept(struct proxy_listener *ls, int fd, const struct sockaddr_storage *ss,
		       socklen_t slen);
/* Drive the state machine as far as it goes without blocking. */
void proxy_conn_run(struct proxy_conn *c);
/* Close now (shutdown, errors); everything the connection holds is released. */
void proxy_conn_abort(struct proxy_conn *c);
/* The upstream side saw events for c's transaction. */
void proxy_conn_upstream_event(struct proxy_conn *c);
/* At a table swap: connections whose entry point is gone or whose TLS configuration is no
 * longer their entry point's (stale, see the header comment) close when idle, busy ones
 * after their response. */
void proxy_conn_swap_notice(struct proxy_engine *e);
size_t proxy_conn_size(void);

/* ---- proxy_upstream.c ---------------------------------------------------------------------- */

int proxy_targets_init(struct proxy_engine *e);
void proxy_targets_fini(struct proxy_engine *e);
/* An upstream connection for c to addr: an idle one (reused = 1) or a new connect. 0 and
 * c->up set (state PU_BUSY or PU_CONNECTING), or -ERR_PROXY_UPSTREAMS_FULL,
 * -ERR_PROXY_TARGETS_FULL, -ERR_PROXY_UPSTREAM_REFUSED (connect failed at once).
 * tgh (NULL: none) caches addr's target across calls: a handle that is still valid is used
 * without the hash lookup, and it is set to the target found otherwise. */
int proxy_up_get(struct proxy_engine *e, struct proxy_conn *c, const struct sockaddr_storage *a,
		 socklen_t alen, bool fresh, struct pool_handle *tgh);
/* Give the connection back: to the idle pool when keep is true and it is reusable, else
 * close it. Clears c->up and up->owner. */
void proxy_up_release(struct proxy_engine *e, struct proxy_up *u, bool keep);
/* Close every idle upstream connection (shutdown, tests). */
void proxy_up_close_idle(struct proxy_engine *e);
/* Close idle connections idle for longer than upstream_idle_timeout_ms. */
void proxy_up_sweep(struct proxy_engine *e);
/* Non-blocking I/O on a busy upstream connection: bytes, 0 at EOF, -ERR_AGAIN, or an error
 * (-ERR_CLOSED for reset / broken pipe). */
/* Move ciphertext between socket fd and TLS engine t until neither moves (at most 8 rounds);
 * true if anything moved. *can_read / *can_write are the socket's readiness as an
 * edge-triggered caller tracks it: cleared at EAGAIN or a short transfer, except that a short
 * read keeps *can_read when it is 2 or *hup is set (the end was reported in the same edge:
 * read on to see it). A socket error or the end of the stream sets *hup and is handed to the
 * engine as end of file, which latches the right error or a clean end after close_notify.
 * Client connections (proxy_conn.c) and https:// upstreams (proxy_upstream.c) share it. */
bool proxy_tls_pump(struct tls_conn *t, int fd, uint8_t *can_read, uint8_t *can_write,
		    uint8_t *hup);
ssize_t proxy_up_read(struct proxy_up *u, void *p, size_t n);
ssize_t proxy_up_writev(struct proxy_up *u, const struct iovec *iov, int n);
/* SO_ERROR of a connecting socket: 0 connected, -ERR_AGAIN still connecting, else error.
 * For a TLS connection 0 comes once the handshake is done (a failure is logged). */
int proxy_up_connected(struct proxy_up *u);
/* Half-close the write side (tunnels): shutdown(2), or close_notify for TLS. */
void proxy_up_shutdown_write(struct proxy_up *u);
/* The TLS slot pool of upstream connections (proxy_dp_upstream_tls_cap slots). */
int proxy_up_tls_init(struct proxy_engine *e);
void proxy_up_tls_fini(struct proxy_engine *e);
/* Build g->upcfg when g's table has https:// servers (rootCAs, insecureSkipVerify). 0, or an
 * error with msg naming the key. */
int proxy_up_tls_gen_build(struct proxy_engine *e, struct proxy_gen *g, char *msg, size_t cap);
/* g is being freed: close idle connections made with g->upcfg, mark busy ones, free it. */
void proxy_up_tls_gen_free(struct proxy_gen *g);
/* A TLS client slot for server k of g (health checks): 0 and *out initialised with SNI, or
 * -ERR_PROXY_UPSTREAMS_FULL (max_upstream_tls_conns; logged), -ERR_TLS_CONFIG (no rootCAs and
 * not insecure; logged). Give it back with proxy_up_tls_put. */
int proxy_up_tls_take(struct proxy_engine *e, struct proxy_gen *g, uint32_t k,
		      struct tls_conn **out);
void proxy_up_tls_put(struct proxy_engine *e, struct tls_conn *t);
size_t proxy_up_size(void);
size_t proxy_target_size(void);

/* ---- proxy_forward.c ----------------------------------------------------------------------- */

/* Frame newly received bytes of s ([parse, end)): advance ready/parse, set done. 0, or the
 * decoder's error (-ERR_HTTP_BAD_CHUNK, -ERR_HTTP_BODY_TOO_LARGE...). */
int proxy_stream_frame(struct proxy_stream *s, const struct http_limits *lim);
/* Start framing a body of the given mode after a head of head_len bytes. */
void proxy_stream_body(struct proxy_stream *s, uint8_t mode, uint64_t length);
/* Build the upstream request head for c into b. 0, -ERR_BUF_FULL, -ERR_INVAL. */
int proxy_fwd_request_head(struct proxy_conn *c, struct buf *b);
/* Build the client response head for c's parsed response into b, choosing the client framing
 * (sets c->rs.mode and c->close_after). 0, -ERR_BUF_FULL, -ERR_INVAL. */
int proxy_fwd_response_head(struct proxy_conn *c, const struct http_response *res, struct buf *b);
/* A response the proxy makes: status, a short text body, and `detail`, the one field that
 * depends on the status: a redirect's Location; a 401's WWW-Authenticate value (empty: Basic
 * realm="traefik"); a rate-limited 429's delay in decimal ns (X-Retry-In, Retry-After and
 * oxy's body: proxy_rl_response_fields); ignored otherwise. Returns the body bytes written
 * (>= 0), or -ERR_BUF_FULL. */
int proxy_fwd_local_response(struct proxy_conn *c, struct buf *b, int status, struct slice detail,
			     bool close);
/* The routing view of c's parsed request (slices into the rq buffer). */
void proxy_fwd_view(const struct proxy_conn *c, struct proxy_req_view *v);
/* Find a request header by name (case-insensitive); empty slice if absent. */
struct slice proxy_hdr_find(const struct http_header *h, size_t n, const char *name);

/* ---- proxy_health.c ------------------------------------------------------------------------ */

void proxy_health_start(struct proxy_gen *g);
void proxy_health_stop(struct proxy_gen *g);
size_t proxy_health_size(void);

#endif
