/* proxy_engine.h — the data plane: an HTTP/1.1 reverse proxy on the event loop.
 *
 * Contract
 *   One engine per worker process (or thread), on that worker's struct loop. The engine owns
 *   its pools, sized once by struct proxy_dp_limits (proxy_limits.h) in proxy_engine_create:
 *   client connections, TLS slots, upstream connections, upstream addresses, streaming and
 *   large head buffers, health probes, metric series. Nothing on the data path allocates;
 *   at a cap the engine refuses cleanly (listeners pause and resume, 503, 431...) and
 *   recovers when objects are released. docs/internals/proxy-engine.md has the state
 *   machines, buffers, timeouts and statuses.
 *
 *   Routing comes from the routing document (docs/internals/routing.md) compiled by
 *   proxy_config.h. proxy_engine_load validates a document and swaps to it atomically:
 *   requests in flight finish on the table they started with (tables are reference-counted),
 *   listeners of entry points whose name and address did not change are kept (never closed),
 *   new ones are opened, removed ones closed. A document that fails validation changes
 *   nothing.
 *
 *   Time comes from the loop (loop_now_ms) and, for logs, from cfg.wall_ms; the engine never
 *   reads a clock itself.
 *
 * Errors: negative -ERR_* codes; the detail of the last failure is in proxy_engine_errmsg.
 */
#ifndef PROXY_ENGINE_H
#define PROXY_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "loop/loop.h"
#include "proxy/proxy_limits.h"
#include "proxy/proxy_metrics.h"

struct proxy_engine;

struct proxy_engine_config {
	struct loop *loop;                 /* the worker's loop; outlives the engine */
	const struct proxy_dp_limits *lim; /* copied */
	/* Metrics registry (proxy_metrics_init) shared with a renderer, or NULL: the engine
	 * makes its own. */
	struct proxy_metrics *metrics;
	int access_log_fd; /* -1: no access log */
	/* The access log's request count, shared by the workers of one node (a uint64_t in a
	 * MAP_SHARED mapping made before they fork; proxy_accesslog.h), or NULL: this engine
	 * counts alone. */
	uint64_t *shared_requests;
	const char *server_name; /* X-Forwarded-Server; NULL: the host name */
	bool reuse_port;         /* SO_REUSEPORT on listeners (several workers, one address) */
	/* 32-byte key of digest-auth nonces, shared by the workers of one node so a nonce from
	 * one verifies at another (proxy-auth.md); NULL: a random key for this engine. */
	const uint8_t *auth_key;
	/* The rateLimit table shared by the workers of one node (proxy_rl_init_shared: a zeroed
	 * MAP_SHARED mapping of rl_shared_bytes made before they fork, and its SipHash key, drawn
	 * once), or NULL: this engine's own table. Attached in the worker's own process. */
	void *rl_shared;
	size_t rl_shared_bytes;
	uint64_t rl_key[2];
	/* Backend maxConn counts shared by the workers of one node (proxy_maxconn.h: a zeroed
	 * MAP_SHARED mapping of mc_shared_bytes = proxy_mc_bytes(max_conn_keys, workers) made
	 * before they fork, its SipHash key drawn once, and this worker's slot 0 .. workers-1,
	 * whose holdings the master zeroes before starting it), or NULL: private counts
	 * (proxy_lb.h). Attached in the worker's own process. */
	void *mc_shared;
	size_t mc_shared_bytes;
	uint64_t mc_key[2];
	uint32_t mc_slot;
	/* Health verdicts shared by the workers of one node (proxy_healthboard.h: a zeroed
	 * MAP_SHARED mapping of hb_shared_bytes = proxy_hb_bytes(table.max_servers) made before
	 * they fork, and its SipHash key, drawn once), or NULL: this engine probes every server
	 * itself (private mode). With a board the worker in slot mc_slot 0 probes and writes
	 * the verdicts; the others do not probe and follow them (proxy_health.c). */
	void *hb_shared;
	size_t hb_shared_bytes;
	uint64_t hb_key[2];
	int64_t (*wall_ms)(void *ctx); /* Unix ms for logs; NULL: the system clock */
	void *wall_ctx;
};

/* Counters and gauges for tests and logs. */
struct proxy_engine_stats {
	uint64_t accepted, requests, responses;
	uint64_t status_local[6]; /* locally made responses by class (index status / 100) */
	uint64_t upstream_connects, upstream_reused, upstream_retries;
	uint64_t conns_refused_paused; /* times the listeners paused at max_conns */
	uint64_t buf_waits;            /* requests that waited for buffers */
	uint64_t swaps, swap_failures;
	uint64_t tls_trims; /* idle TLS connections that gave their I/O buffer back */
	uint32_t conns, tls_conns, upstream_busy, upstream_idle, bufs_used, large_used;
	uint32_t tables_alive, listeners;
	uint32_t tls_cfgs_alive; /* entry point TLS configurations (max_tls_generations) */
	/* https:// servers: TLS upstream connections open (max_upstream_tls_conns), handshakes
	 * completed, handshakes failed (verification included) */
	uint32_t upstream_tls;
	uint64_t upstream_tls_handshakes, upstream_tls_failures;
	uint64_t upstream_tls_trims; /* idle pooled TLS connections that gave their buffer back */
	/* Features (filled by proxy_engine_get_stats; the registry's traefikee_* counters are
	 * the same counts: docs/internals/proxy-engine.md "Metrics and access log"): */
	uint64_t rl_limited; /* requests answered 429 by rateLimit */
	uint64_t rl_evicted; /* buckets replaced while not full (max_ratelimit_keys) */
	uint64_t cb_trips;   /* circuit breaker trips */
	uint32_t cb_tripped; /* backends of the current table whose breaker is Tripped now */
	uint64_t gz_responses, gz_pool_full; /* compressed; left identity at max_gzip_streams */
	uint64_t pp_ok, pp_malformed;        /* PROXY headers consumed; refused (closed) */
	uint32_t conns_proxyhdr;             /* connections waiting for a PROXY header */
};

/* Build an engine (allocates every pool). 0 and *out, or -ERR_PROXY_LIMITS, -ERR_NOMEM,
 * -ERR_RAND; msg (cap bytes) says why. */
int proxy_engine_create(const struct proxy_engine_config *cfg, struct proxy_engine **out, char *msg,
			size_t cap);
/* Close every connection and listener at once and free everything. Not from a callback of
 * this engine. */
void proxy_engine_destroy(struct proxy_engine *e);

/* Validate doc[0..len) and make it the current table (see the top comment). 0, or the
 * loader's error (-ERR_PROXY_CONFIG ...; message in msg), -ERR_PROXY_TABLES_FULL (older
 * tables, max_tables, or TLS configurations, max_tls_generations, still in use: retry
 * later; the message names the limit), -ERR_PROXY_LISTEN (a new entry point could not listen;
 * nothing changed), -ERR_TLS_* (a certificate the TLS layer refused). */
int proxy_engine_load(struct proxy_engine *e, const char *doc, size_t len, char *msg, size_t cap);

/* Stop accepting, let requests in flight finish for at most grace_timeout_ms, then close
 * everything and call loop_stop. */
void proxy_engine_shutdown(struct proxy_engine *e);
/* True once a shutdown has finished draining. */
bool proxy_engine_stopped(const struct proxy_engine *e);

/* Prometheus text of this engine's registry into b. 0 or -ERR_BUF_FULL. */
int proxy_engine_metrics_text(struct proxy_engine *e, struct buf *b);
struct proxy_metrics *proxy_engine_metrics(struct proxy_engine *e);
void proxy_engine_get_stats(struct proxy_engine *e, struct proxy_engine_stats *st);
/* Test hook (tests/fuzz/fuzz_proxy_request.c): serve fd, an already connected non-blocking
 * stream socket (a socketpair end will do), as if the listener of entry point `entry_point`
 * had just accepted it from `peer` (NULL: getpeername; a unix socket leaves the client
 * address unspecified). The engine owns fd from the call on, also on failure (closed).
 * 0, -ERR_NOTFOUND (no listener for that entry point), -ERR_PROXY_CONNS_FULL (max_conns,
 * max_tls_conns, or draining). */
struct sockaddr_storage;
int proxy_engine_adopt(struct proxy_engine *e, int fd, const char *entry_point,
		       const struct sockaddr_storage *peer);
/* Port a listener of entry point `name` is bound to (entry points may say ":0"), or -1. */
int proxy_engine_listen_port(const struct proxy_engine *e, const char *name);
const char *proxy_engine_errmsg(const struct proxy_engine *e);

/* Per-object sizes, for proxy_dp_limits_memory. */
void proxy_engine_mem_sizes(const struct proxy_dp_limits *lim, struct proxy_mem_sizes *out);

/* Revision of the document being served (its "revision"), 0 before the first. */
uint64_t proxy_engine_revision(const struct proxy_engine *e);

/* Log two info lines: the engine's counters with its connections by state, and the
 * features' counters (rateLimit, circuit breakers, compress, proxyProtocol). SIGUSR1. */
void proxy_engine_log_stats(struct proxy_engine *e);

/* Validate a routing document against lim without an engine (nothing is bound or kept):
 * 0, or the error proxy_engine_load would give for its content, with the detail in msg. */
int proxy_engine_check_doc(const struct proxy_dp_limits *lim, const char *doc, size_t len,
			   char *msg, size_t cap);

/* Each server of the current table's health-checked backends (the ones proxy_health.c
 * probes) with the verdict the engine routes by: fn(arg, backend name, server URL, up), in
 * table order. Read-only; the slices live until the next proxy_engine_load. Returns the
 * number of servers visited (0: no table yet). */
typedef void (*proxy_engine_health_fn)(void *arg, struct slice backend, struct slice url, bool up);
uint32_t proxy_engine_health_each(const struct proxy_engine *e, proxy_engine_health_fn fn,
				  void *arg);

#endif
