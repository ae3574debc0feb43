/* proxy_metrics.h — Prometheus counters of the data plane, in fixed memory.
 *
 * Contract
 *   A struct proxy_metrics lives in memory the caller provides (proxy_metrics_size bytes for
 *   the struct and its tables together), so a standalone master can place every worker's
 *   registry in one shared mapping and render the sum: each worker writes only its own
 *   registry (single writer, no locks); readers tolerate counters that move while read.
 *
 *   Names (entry points, frontends, backends, server URLs) are interned with a reference
 *   count: a routing table generation takes a reference on every name it uses and drops them
 *   when it is released; a name whose count falls to 0 is removed with its series, which is
 *   how "metrics of backends that disappear from the config are removed on reload"
 *   (SPEC-FACTS §5.2). A series is one label combination; both tables are capped
 *   (max_metric_series, max_metric_names). When full, new series are not recorded (counted
 *   in `dropped`, error -ERR_PROXY_METRICS_FULL for names): metrics never allocate.
 *
 *   Metric names and labels follow Traefik v1.7 (metrics/prometheus.go), SPEC-FACTS §5.2:
 *     traefik_config_reloads_total, traefik_config_reloads_failure_total,
 *     traefik_config_last_reload_success, traefik_config_last_reload_failure,
 *     traefik_entrypoint_requests_total{code,method,protocol,entrypoint},
 *     traefik_entrypoint_request_duration_seconds{code,method,protocol,entrypoint} (histogram),
 *     traefik_entrypoint_open_connections{method,protocol,entrypoint},
 *     traefik_backend_requests_total{code,method,protocol,backend},
 *     traefik_backend_request_duration_seconds{code,method,protocol,backend} (histogram),
 *     traefik_backend_open_connections{method,protocol,backend},
 *     traefik_backend_retries_total{backend}, traefik_backend_server_up{backend,url}
 *   plus one extension: traefik_frontend_requests_total{code,method,protocol,frontend}.
 *   Histogram buckets are Traefik's defaults: 0.1, 0.3, 1.2, 5 seconds.
 *
 *   Counters of features Traefik v1 exports nothing for live in our own namespace
 *   (docs/internals/proxy-engine.md "Metrics and access log"), summed over the parts:
 *     traefikee_ratelimit_rejected_total                     requests answered 429 by rateLimit
 *     traefikee_breaker_trips_total{backend}                 circuit breaker trips (a series per
 *                                                            backend with a breaker, from 0)
 *     traefikee_compress_responses_total{result="gzip|pool_full"}
 *                                                            compressed / left identity at
 *                                                            max_gzip_streams
 *     traefikee_proxyprotocol_headers_total{result="ok|malformed"}
 *                                                            PROXY headers consumed / refused
 *   The engine-wide ones are plain fields of struct proxy_metrics_eng, incremented in place by
 *   the feature modules (only on their own paths); the breaker's is a series like the others.
 */
#ifndef PROXY_METRICS_H
#define PROXY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "base/base_slice.h"
#include "http/http_parse.h"

#define PROXY_METRIC_NAME_MAX 128 /* bytes of one interned name; longer names are cut */
#define PROXY_METRIC_BUCKETS 4

enum proxy_metric_kind {
	PROXY_MK_ENTRYPOINT = 0,
	PROXY_MK_FRONTEND,
	PROXY_MK_BACKEND,
	PROXY_MK_URL,
};

enum proxy_proto {
	PROXY_PROTO_HTTP = 0,
	PROXY_PROTO_WEBSOCKET,
	PROXY_PROTO_SSE,
};

struct proxy_metric_name {
	uint32_t refs; /* 0: free slot */
	uint8_t kind;  /* enum proxy_metric_kind */
	uint8_t len;
	char s[PROXY_METRIC_NAME_MAX];
};

/* One label combination of one family (private layout; in the header for sizing). */
struct proxy_metric_series {
	uint32_t name;   /* name index + 1; 0: empty slot */
	uint32_t name2;  /* second name (server_up: the URL) index + 1, else 0 */
	uint16_t code;   /* HTTP status; 0 for gauges */
	uint8_t family;  /* private enum */
	uint8_t method;  /* enum http_method */
	uint8_t proto;   /* enum proxy_proto */
	uint64_t count;  /* counter, or observations */
	uint64_t sum_us; /* histogram: sum of durations in microseconds */
	uint64_t bucket[PROXY_METRIC_BUCKETS];
	int64_t gauge;
};

/* Engine-wide counters of the traefikee_ namespace (see the top comment). Single writer: the
 * worker owning the registry; plain increments. */
struct proxy_metrics_eng {
	uint64_t rl_rejected;  /* traefikee_ratelimit_rejected_total (proxy_ratelimit.c) */
	uint64_t cb_trips;     /* every breaker trip (the sum of traefikee_breaker_trips_total,
				* kept when a backend's series goes; SIGUSR1) */
	uint64_t gz_responses; /* traefikee_compress_responses_total{result="gzip"} */
	uint64_t gz_pool_full; /* ...{result="pool_full"} (proxy_gzip.c) */
	uint64_t pp_ok;        /* traefikee_proxyprotocol_headers_total{result="ok"} */
	uint64_t pp_malformed; /* ...{result="malformed"} (proxy_pp.c) */
};

struct proxy_metrics {
	struct proxy_metric_name *names;
	struct proxy_metric_series *series; /* open addressing, linear probing */
	uint32_t max_names;
	uint32_t max_series;
	uint32_t mask; /* series table size - 1 (a power of two >= 2 * max_series) */
	uint32_t nseries;
	uint64_t dropped; /* observations lost because the series table was full */
	uint64_t reloads, reload_failures;
	int64_t last_reload_success, last_reload_failure; /* Unix seconds; 0: never */
	struct proxy_metrics_eng eng;
	/* Per series family, the slot of the last series found (private to proxy_metrics.c): a
	 * hint tried before hashing. Never stale in a harmful way: a slot is taken only when it
	 * holds exactly the key looked for, and keys are unique in the table. */
	uint32_t hint[16];
};

/* Bytes proxy_metrics_init needs for these caps (struct included). */
size_t proxy_metrics_size(uint32_t max_series, uint32_t max_names);
/* Carve the registry out of mem (size bytes, aligned for uint64_t, caller-owned, outlives
 * it). Returns the registry (at the start of mem), or NULL if size is too small or a cap 0. */
struct proxy_metrics *proxy_metrics_init(void *mem, size_t size, uint32_t max_series,
					 uint32_t max_names);
/* The same for mem known to be zero-filled (a fresh anonymous mapping): only the header is
 * written, so the tables' pages stay untouched (not resident) until series use them. */
struct proxy_metrics *proxy_metrics_init_zeroed(void *mem, size_t size, uint32_t max_series,
						uint32_t max_names);

/* Intern a name and take a reference: its index (>= 0), or -ERR_PROXY_METRICS_FULL. */
int proxy_metrics_name_get(struct proxy_metrics *m, enum proxy_metric_kind kind, struct slice name);
/* Drop a reference; at 0 the name and every series using it are removed. id < 0: no-op. */
void proxy_metrics_name_put(struct proxy_metrics *m, int id);

/* One finished request: ep/fe/be are name ids (-1: none, e.g. 404 has no backend). */
void proxy_metrics_request(struct proxy_metrics *m, int ep, int fe, int be, int code,
			   enum http_method method, enum proxy_proto proto, uint64_t duration_us);
/* Open requests gauge (entry point and backend) moved by delta. */
void proxy_metrics_open(struct proxy_metrics *m, int ep, int be, enum http_method method,
			enum proxy_proto proto, int delta);
void proxy_metrics_server_up(struct proxy_metrics *m, int be, int url, bool up);
void proxy_metrics_retry(struct proxy_metrics *m, int be);
void proxy_metrics_reload(struct proxy_metrics *m, bool ok, int64_t unix_s);
/* traefikee_breaker_trips_total{backend}: trip true counts one trip (and eng.cb_trips);
 * false only makes the backend's series exist (0) when its breaker is built. be < 0: only
 * eng.cb_trips moves. */
void proxy_metrics_breaker(struct proxy_metrics *m, int be, bool trip);

/* Prometheus text exposition (version 0.0.4) of the sum of parts[0..n) into b. Series are
 * matched across parts by their label values; the reload counters and timestamps and
 * traefik_backend_server_up take the largest value instead (every worker loads the same
 * documents and probes the same servers). -ERR_BUF_FULL when b is too small (b then
 * holds a cut text: render into a bigger buffer). */
int proxy_metrics_render(const struct proxy_metrics *const *parts, size_t n, struct buf *b);

/* Value of one counter/gauge for tests: family name as above ("traefik_backend_requests_total"),
 * label values by kind (NULL: any), code 0: any. Sums over parts and matching series. For the
 * engine-wide traefikee_ families name is the `result` label value (NULL: every result). */
int64_t proxy_metrics_value(const struct proxy_metrics *m, const char *family, const char *name,
			    int code);

#endif
