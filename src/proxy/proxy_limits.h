/* proxy_limits.h — the data plane's caps and timeouts, their defaults, and the worst-case
 * memory they size.
 *
 * Contract
 *   struct proxy_dp_limits holds every number the connection engine sizes itself from: pool
 *   capacities (connections, upstream connections, I/O buffers, TLS slots...), header
 *   limits, and timeouts. proxy_dp_limits_default fills the defaults below; proxy_dp_limits_set
 *   changes one by name (for command-line flags); proxy_dp_limits_check validates the whole
 *   set (relations between fields included) before an engine is built from it.
 *
 *   Every timeout is finite: 0 is refused by proxy_dp_limits_check (unlike Traefik v1's
 *   "0 = none"), so nothing the proxy waits for can wait forever.
 *
 *   proxy_dp_limits_memory computes, from the limits alone, the most memory one worker can hold
 *   (every pool full); proxy_dp_limits_format writes that table. The engine allocates exactly the
 *   pools counted here at start-up and nothing on the data path afterwards.
 *
 *   The routing table's own caps (struct proxy_limits, proxy_config.h: frontends, backends,
 *   servers, document bytes...) travel inside as `table`, so one flag parser sets both.
 *
 *   Pure functions: no I/O.
 */
#ifndef PROXY_LIMITS_H
#define PROXY_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "proxy/proxy_config.h"

/* Headroom kept in front of a message head in its buffer, so the rewritten head (a few
 * X-Forwarded-* fields longer) usually fits in place, contiguous with the body bytes that
 * follow it (docs/internals/proxy-engine.md, "Buffers"). */
#define PROXY_HEADROOM 1024u
/* Bytes a rewritten request head may grow by (forwarded fields, custom headers). */
#define PROXY_HEAD_EXTRA 4096u

struct proxy_dp_limits {
	/* Pools, per worker process. */
	uint32_t workers;             /* worker processes ("auto": one per online CPU) */
	uint32_t max_conns;           /* client connections: over it the listeners pause */
	uint32_t max_tls_conns;       /* TLS client connections (48 KiB each, 4 KiB when idle) */
	uint32_t max_upstream_conns;  /* upstream connections, busy and idle */
	uint32_t max_idle_per_server; /* idle keep-alive upstream connections per server */
	uint32_t max_targets;         /* distinct upstream addresses with connections */
	uint32_t max_bufs;            /* streaming buffers of buf_size bytes */
	uint32_t buf_size;            /* bytes per streaming buffer */
	uint32_t max_large_bufs;      /* head buffers for heads over a streaming buffer */
	uint32_t max_tables;          /* routing tables alive at once (current + draining) */
	uint32_t max_tls_generations; /* entry point TLS configurations alive at once */
	uint32_t tls_session_cache;   /* bytes of resumable sessions per TLS configuration */
	uint32_t max_health_checks;   /* health probes in flight */
	uint32_t max_metric_series;   /* Prometheus series (label combinations) */
	uint32_t max_metric_names;    /* entry point / frontend / backend names in metrics */
	uint32_t max_conn_keys;       /* distinct maxConn keys open at once: per table with one
				       * worker, per worker (all tables) with several */
	uint32_t max_ratelimit_keys;  /* rate-limit buckets (key x rate set), per worker */
	/* Forward auth sub-requests in flight (503 over it); of those, to https:// auth
	 * servers (a 48 KiB TLS slot each). */
	uint32_t max_forward_auth;
	uint32_t max_forward_auth_tls;
	/* Responses being compressed at once (entry point compress: true; proxy-gzip.md): a
	 * compressor and its output buffer each; over it a response goes uncompressed. */
	uint32_t max_gzip_streams;
	/* Upstream connections that are TLS (https:// servers and their health probes, 48 KiB
	 * each): at most this many, and at most max_upstream_conns. */
	uint32_t max_upstream_tls_conns;

	/* HTTP limits (request side; responses share the header limits). */
	uint32_t max_line;         /* request line: 414 */
	uint32_t max_headers;      /* field lines: 431 */
	uint32_t max_header_bytes; /* header section: 431 */
	uint64_t max_body;         /* request body: 413 */

	/* Timeouts in milliseconds; all finite. */
	uint32_t connect_timeout_ms;         /* upstream TCP connect: 504 */
	uint32_t response_header_timeout_ms; /* request sent -> response head: 504 */
	uint32_t upstream_read_timeout_ms;   /* between two reads of a response body */
	uint32_t idle_timeout_ms;            /* client keep-alive idle */
	uint32_t client_header_timeout_ms;   /* first byte -> whole request head: 408 */
	uint32_t client_body_timeout_ms;     /* between two reads of a request body: 408 */
	uint32_t send_timeout_ms;            /* a write to the client makes no progress */
	uint32_t upstream_idle_timeout_ms;   /* pooled idle upstream connection */
	uint32_t tunnel_timeout_ms;          /* WebSocket / upgraded tunnel idle */
	uint32_t grace_timeout_ms;           /* draining at shutdown */
	uint32_t health_interval_ms;         /* health check period when the backend sets none */
	uint32_t health_timeout_ms;          /* health check timeout when the backend sets none */

	struct proxy_limits table; /* routing table caps (proxy_config.h) */
};

/* Fill the defaults (docs/internals/proxy-engine.md has the table):
 *   workers 1, max_conns 4096, max_tls_conns 1024, max_upstream_conns 4096,
 *   max_upstream_tls_conns 256,
 *   max_idle_per_server 1024, max_targets 1024, max_bufs 2048, buf_size 16384,
 *   max_large_bufs 64, max_tables 4, max_tls_generations 16, tls_session_cache 512 KiB (about
 *   100 bytes a session), max_health_checks 256, max_gzip_streams 32,
 *   max_metric_series 4096, max_metric_names 1024, max_conn_keys 4096, max_ratelimit_keys 16384,
 *   max_line 8192, max_headers
 * 100, max_header_bytes 32768, max_body 1 GiB; timeouts: connect 5 s, response header 60 s,
 * upstream read 60 s, idle 180 s, client header 10 s, client body 60 s, send 60 s, upstream idle 90
 * s, tunnel 3600 s, grace 10 s, health interval 30 s, health timeout 5 s. */
void proxy_dp_limits_default(struct proxy_dp_limits *lim);

/* Set one field by name: the field name above with '_' or '-' (or none), ASCII
 * case-insensitive ("max_conns", "max-conns", "maxconns"). Timeouts take Go durations
 * ("5s", "500ms", "1m30s") or plain milliseconds; sizes take a number with an optional
 * k/m/g suffix (powers of 1024); workers also takes "auto" (online CPUs, at most 64). 0,
 * -ERR_NOTFOUND (unknown name), -ERR_PARSE (bad value), -ERR_RANGE (over 2^32-1 where the field is
 * 32-bit). */
int proxy_dp_limits_set(struct proxy_dp_limits *lim, const char *name, const char *value);

/* Validate the set: every cap >= 1, every timeout >= 1 ms, buf_size in 4 KiB .. 1 MiB,
 * max_line + max_header_bytes under 2^27, max_tls_conns <= max_conns, buf_size <= large
 * head buffer. 0, or -ERR_PROXY_LIMITS with the reason in msg (cap bytes). */
int proxy_dp_limits_check(const struct proxy_dp_limits *lim, char *msg, size_t cap);

/* Parse a Go duration ("300ms", "1.5s", "2m", "1h30m") or a plain number of milliseconds.
 * 0 and *ms, -ERR_PARSE, -ERR_RANGE (over 2^32-1 ms). */
int proxy_dp_duration_parse(const char *s, uint32_t *ms);

/* TLS upstream connections possible at once: max_upstream_tls_conns, at most
 * max_upstream_conns (a TLS upstream connection is also an upstream connection). */
uint32_t proxy_dp_upstream_tls_cap(const struct proxy_dp_limits *lim);

/* Bytes of one large head buffer: a whole request head at its limits plus headroom. */
size_t proxy_dp_large_buf_size(const struct proxy_dp_limits *lim);

/* Worst-case memory of one worker, by pool. The per-object sizes are filled by the engine
 * (proxy_engine_mem_sizes) because only it knows its structs; proxy_dp_limits_memory
 * multiplies. */
struct proxy_mem_sizes {
	size_t conn;     /* sizeof client connection */
	size_t upstream; /* sizeof upstream connection */
	size_t tls;      /* tls_conn_size() */
	size_t target;   /* sizeof upstream target */
	size_t health;   /* sizeof health probe */
	size_t series;   /* one metric series */
	size_t name;     /* one metric name */
	size_t loop_fd;  /* loop bytes per fd (slot + index) */
	size_t loop_timer;
	size_t table;        /* one routing table generation wrapper (without the table itself) */
	size_t tls_cfg;      /* one entry point TLS configuration at the table caps' worst case */
	size_t fixed;        /* per-worker fixed state (scratch head buffer, regex workspace...) */
	size_t buf_overhead; /* per buffer slot: parse state and header array */
	size_t reload;       /* scratch while a document loads (worst-case arena, JSON tokens) */
	size_t fwdauth;      /* one forward auth sub-request */
	size_t ratelimit;    /* one rate-limit bucket (proxy_ratelimit.h) */
	size_t maxconn;      /* workers > 1: a worker's share of the node's maxConn table */
	size_t healthboard;  /* workers > 1: a worker's share of the node's health board */
	size_t gzip;         /* one compression stream (proxy_gzip_slot_size) */
};

struct proxy_mem_report {
	size_t conns, tls, upstreams, bufs, large_bufs, targets, health, metrics, loop, tables,
		tls_cfgs, reload, fixed;
	size_t upstream_tls; /* max_upstream_tls_conns TLS slots */
	size_t total;
	size_t per_idle_conn; /* an idle keep-alive plain connection */
	size_t per_busy_conn; /* a plain connection proxying a request (two buffers) */
	size_t fwdauth;       /* max_forward_auth sub-requests and max_forward_auth_tls slots */
	size_t ratelimit;     /* max_ratelimit_keys buckets */
	size_t maxconn;       /* workers > 1: a worker's share of the node's maxConn table */
	size_t healthboard;   /* workers > 1: a worker's share of the node's health board */
	size_t gzip;          /* max_gzip_streams compression streams */
};

void proxy_dp_limits_memory(const struct proxy_dp_limits *lim, const struct proxy_mem_sizes *sz,
			    struct proxy_mem_report *out);

/* Write the limits and the memory table as text into b (all or nothing: -ERR_BUF_FULL). */
int proxy_dp_limits_format(const struct proxy_dp_limits *lim, const struct proxy_mem_report *r,
			   struct buf *b);

#endif
