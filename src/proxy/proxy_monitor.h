/* proxy_monitor.h — the data node's monitoring port: GET /metrics and GET|HEAD /ping.
 *
 * Contract
 *   A small plaintext HTTP/1.1 responder on the caller's loop, for Prometheus scrapes and
 *   readiness probes (SPEC-FACTS §1.5: data nodes had a ping port and a scrape port; here both
 *   are one address, `--metrics.listen`). It serves:
 *     GET /metrics        Prometheus text (version 0.0.4) of the sum of the registries parts[]
 *                         (proxy_metrics_render), Content-Type text/plain; version=0.0.4
 *     GET|HEAD /ping      200 "OK"; 503 "Service Unavailable" once proxy_monitor_set_draining
 *     anything else       404 (unknown path) or 405 (other methods), text bodies
 *   Every response carries Content-Length and `Connection: close`; the connection closes
 *   after it (one request per connection: a scrape every few seconds needs no keep-alive).
 *
 *   Memory is fixed at proxy_monitor_start: max_clients slots, each with a request buffer
 *   (PROXY_MONITOR_HEAD_MAX) and a response buffer (max_text + PROXY_MONITOR_RESP_HEAD). A
 *   client over max_clients gets a canned 503 and is closed; a head over the buffer 431; a
 *   rendering over max_text 500 naming the cap. Each client has one deadline (timeout_ms)
 *   from accept to the last byte sent; past it the connection is closed.
 *   The loop needs room for max_clients + 1 fds and max_clients timers.
 *
 *   Readers of parts[] tolerate counters that move while they are read (each worker writes
 *   only its own registry; see proxy_metrics.h), so a master process can render its workers'
 *   shared registries.
 */
#ifndef PROXY_MONITOR_H
#define PROXY_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "loop/loop.h"
#include "proxy/proxy_metrics.h"

#define PROXY_MONITOR_HEAD_MAX 4096 /* request head bytes (431 beyond) */
#define PROXY_MONITOR_RESP_HEAD 256 /* response head bytes reserved in front of the body */
#define PROXY_MONITOR_CLIENTS 4     /* default max_clients */
#define PROXY_MONITOR_TIMEOUT 10000 /* default timeout_ms */
#define PROXY_MONITOR_PARTS_MAX 64  /* registries summed (workers) */

struct proxy_monitor;

struct proxy_monitor_config {
	struct loop *loop; /* outlives the monitor */
	const char *addr;  /* "host:port", ":port" (every IPv4 address), "[v6]:port"; numeric */
	const struct proxy_metrics *const *parts; /* copied (the pointers); registries outlive */
	size_t nparts;                            /* 1 .. PROXY_MONITOR_PARTS_MAX */
	uint32_t max_clients;                     /* 0: PROXY_MONITOR_CLIENTS */
	size_t max_text;     /* bytes of one /metrics body; 0: proxy_monitor_text_bytes(4096) */
	uint32_t timeout_ms; /* per connection, accept to last byte; 0: PROXY_MONITOR_TIMEOUT */
};

/* Body bytes a rendering of max_series series is given by default: 16 KiB + 512 B a series
 * (a series of short names renders in 100-700 bytes). */
size_t proxy_monitor_text_bytes(uint32_t max_series);
/* Worst-case bytes of a monitor with these caps (for --print-limits and docs). */
size_t proxy_monitor_bytes(uint32_t max_clients, size_t max_text);

/* One --print-limits line for a monitor on addr sized from max_series (default caps), after
 * proxy_dp_limits_format's text. 0 or -ERR_BUF_FULL. */
int proxy_monitor_limits_line(struct buf *b, const char *addr, uint32_t max_series);

/* Parse addr, listen, allocate every slot, watch the listener. 0 and *out, or -ERR_INVAL
 * (bad address or caps), -ERR_PROXY_LISTEN (bind/listen failed), -ERR_NOMEM, a loop error;
 * msg (cap bytes) says why. */
int proxy_monitor_start(const struct proxy_monitor_config *cfg, struct proxy_monitor **out,
			char *msg, size_t cap);
/* Close the listener and every client, free everything. NULL is a no-op. Not from a
 * callback of this monitor. */
void proxy_monitor_stop(struct proxy_monitor *m);
/* In a child after fork(): close the monitor's descriptors (the parent keeps serving); the
 * child must not use or free the monitor afterwards. */
void proxy_monitor_forget_fds(struct proxy_monitor *m);
/* Bound TCP port (the address may say port 0). */
int proxy_monitor_port(const struct proxy_monitor *m);
/* /ping answers 503 while on (the node is draining: take it out of rotation). */
void proxy_monitor_set_draining(struct proxy_monitor *m, bool on);

struct proxy_monitor_stats {
	uint64_t accepted, refused_full, requests, metrics, pings, errors, timeouts;
	uint32_t clients;
};
void proxy_monitor_get_stats(const struct proxy_monitor *m, struct proxy_monitor_stats *st);

#endif
