/* proxy_lb.h — server selection for a routing table: smooth weighted round-robin, Traefik's
 * dynamic round-robin, sticky cookies, health flags and maxConn accounting.
 *
 * Contract
 *   The routing table (proxy_config.h) is immutable; everything that changes while requests
 *   flow lives here, in a struct proxy_lb the engine owns, one per table, keyed by the table's
 *   indices (server i is t->srv[i], backend b is t->be[b]). All memory comes from the caller's
 *   arena at proxy_lb_init (proxy_lb_bytes() tells how much); nothing allocates afterwards.
 *   No clock and no randomness are read: latencies are reported by the engine, and the hash
 *   key of the maxConn table is a seed the engine passes (from its DRBG) so clients cannot
 *   aim collisions at it. With several worker processes the maxConn counts live in the
 *   node's shared table instead (proxy_lb_init_shared, proxy_maxconn.h); everything else
 *   stays this process's.
 *
 *   Single-threaded like the event loop that drives it: calls on one struct proxy_lb must not
 *   overlap.
 *
 * Selection (docs/internals/proxy-routing.md §4)
 *   wrr  smooth weighted round-robin as nginx does it: every pick adds each healthy server's
 *        weight to its current weight, takes the largest (first in document order on ties) and
 *        subtracts the total from it. Weights {5,1,1} give a a b a c a a: interleaved, exact
 *        over every window of sum(weights) picks.
 *   drr  the same over effective weights weight x boost, where boost (1..PROXY_DRR_MAX_BOOST)
 *        is recomputed every PROXY_DRR_WINDOW completed requests of the backend from each
 *        server's latency average: clearly faster than the backend's mean (< 3/4) doubles the
 *        boost, clearly slower (> 5/4) halves it, mostly failing (error average > 1/2) resets
 *        it to 1. Boosts reset when the set of healthy servers changes.
 *   sticky  a cookie naming a healthy server of the backend (its URL) picks that server; an
 *        unknown, stale or unhealthy one is ignored: a server is picked as above and the
 *        engine sets a fresh cookie (also on 401 and error answers).
 *   No healthy server: -ERR_PROXY_NO_SERVER, which the engine answers with 503.
 *   Servers start healthy; the engine's health checker flips them with proxy_lb_set_up.
 */
#ifndef PROXY_LB_H
#define PROXY_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_arena.h"
#include "base/base_slice.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_maxconn.h"

#define PROXY_DRR_WINDOW 100  /* completed requests of a backend between rebalances */
#define PROXY_DRR_MAX_BOOST 8 /* effective weight is at most weight x 8 */
#define PROXY_COOKIE_MAX 512  /* longest Set-Cookie value proxy_lb_cookie writes */

/* Runtime state of one server (read it for metrics; change it only through the API). */
struct proxy_lb_srv {
	int64_t cw;      /* smooth WRR current weight */
	uint64_t ew;     /* effective weight: weight x boost */
	uint32_t boost;  /* drr: 1..PROXY_DRR_MAX_BOOST */
	uint32_t active; /* picked and not yet done */
	uint32_t lat_us; /* drr: latency average (EWMA 1/8), 0 = no sample yet */
	uint32_t err;    /* drr: failure average, 0..1024 */
	uint64_t picks;  /* times picked */
	uint64_t fails;  /* reported failures */
	bool up;         /* in rotation */
};

struct proxy_lb_be {
	uint32_t nup;     /* healthy servers */
	uint32_t reports; /* drr: completions since the last rebalance */
	uint64_t rebalances;
};

/* One maxConn key: hash of (backend, extracted value) and its open count. */
struct proxy_lb_conn {
	uint64_t key; /* 0: free slot */
	uint32_t count;
};

struct proxy_lb {
	const struct proxy_table *t;
	struct proxy_lb_srv *srv;   /* t->nsrv */
	struct proxy_lb_be *be;     /* t->nbe */
	struct proxy_lb_conn *conn; /* private mode; NULL in the shared mode */
	uint32_t conn_slots;        /* power of two, >= 2 x max_conn_keys; 0 when shared */
	uint32_t conn_keys;         /* keys in use */
	uint32_t max_conn_keys;
	uint64_t k0, k1;    /* SipHash key (shared mode: the node's, mc->k0/k1) */
	uint64_t conn_full; /* times a new key found the table full */
	/* Shared mode (proxy_lb_init_shared): the node's maxConn counts, the engine's; NULL in
	 * the private mode. */
	struct proxy_mc *mc;
};

/* Bytes proxy_lb_init takes from its arena for table t (padding included); max_conn_keys 0:
 * what proxy_lb_init_shared takes (no private maxConn table). */
size_t proxy_lb_bytes(const struct proxy_table *t, uint32_t max_conn_keys);
/* The same for any table within lim. */
size_t proxy_lb_bytes_max(const struct proxy_limits *lim, uint32_t max_conn_keys);

/* Prepare state for t (every server up, counters zero). seed: 16 bytes from the engine's DRBG.
 * max_conn_keys >= 1: distinct maxConn keys open at once. 0, -ERR_ARENA_FULL or -ERR_INVAL. */
int proxy_lb_init(struct proxy_lb *lb, const struct proxy_table *t, struct arena *a,
		  uint32_t max_conn_keys, const uint8_t seed[16]);

/* The same with maxConn counted in the node's shared table mc (proxy_maxconn.h, attached by a
 * worker: mc->hold set) instead of a private one: keys are SipHash of the backend's NAME and
 * the extracted value under the node's key (mc->k0, k1), so the counts of a backend are the
 * same whichever table or worker a request went through. mc outlives lb. 0, -ERR_ARENA_FULL
 * or -ERR_INVAL. */
int proxy_lb_init_shared(struct proxy_lb *lb, const struct proxy_table *t, struct arena *a,
			 struct proxy_mc *mc);

/* After a table swap: copy health and drr statistics of every server of the old state whose
 * (backend name, URL) also exists in the new table, so a reload neither resurrects a dead
 * server nor forgets latencies. maxConn counts are not copied. Private mode: requests still
 * open on the old table release into the old state, so old and new requests are counted
 * apart (a backend may briefly have amount open on each). Shared mode: there is nothing to
 * copy, both tables count in the node's table under the backend's name, so requests open on
 * the old table and new ones count together against the new table's amount. */
void proxy_lb_carry(struct proxy_lb *to, const struct proxy_lb *from);

/* The health board key of server srv of t (proxy_healthboard.h): SipHash-2-4 under (k0, k1)
 * of the backend's NAME (its length in 4 bytes, little endian, then its bytes) and the
 * server's URL, never 0, so every table of every worker names a server alike. */
uint64_t proxy_lb_srv_key(const struct proxy_table *t, uint32_t srv, uint64_t k0, uint64_t k1);

/* Health checker verdict for server srv. Returns true when the flag changed (log it). */
bool proxy_lb_set_up(struct proxy_lb *lb, uint32_t srv, bool up);

struct proxy_lb_pick {
	uint32_t srv;    /* index in t->srv */
	bool set_cookie; /* sticky backend and the request had no valid cookie: send one */
};

/* Pick a server of backend be. cookie: the value of the request's sticky cookie (find it with
 * proxy_cookie_get), empty if none or not sticky. 0 and *out, or -ERR_PROXY_NO_SERVER (503).
 * Counts the server as active until proxy_lb_done. */
int proxy_lb_pick(struct proxy_lb *lb, uint32_t be, struct slice cookie, struct proxy_lb_pick *out);

/* The request sent to srv finished: latency in microseconds, ok = got a response that was not
 * a 5xx. Feeds drr. */
void proxy_lb_done(struct proxy_lb *lb, uint32_t srv, uint32_t latency_us, bool ok);

/* The value of cookie `name` in a Cookie header value ("a=1; b=2"), RFC 6265 §5.4; quotes
 * around the value are removed. 0 and *value, or -ERR_NOTFOUND. */
int proxy_cookie_get(struct slice cookie_header, struct slice name, struct slice *value);

/* The Set-Cookie value for a sticky pick: "<name>=<url>; Path=/[; Secure][; HttpOnly]
 * [; SameSite=...]". Returns the length written to out (NUL-terminated), or -ERR_BUF_FULL. */
int proxy_lb_cookie(const struct proxy_table *t, uint32_t srv, char *out, size_t cap);

/* The key an extractor (enum proxy_extractor: maxConn's, rateLimit's) takes from a request:
 * request.host (the Host value as received), client.ip (the caller's client_ip text) or
 * request.header.<Name> (the first such field; empty if absent). */
struct slice proxy_extract_key(uint8_t extractor, struct slice header,
			       const struct proxy_req_view *v, struct slice client_ip);

/* maxConn: proxy_extract_key with the backend's extractor. */
struct slice proxy_lb_conn_key(const struct proxy_backend *b, const struct proxy_req_view *v,
			       struct slice client_ip);

/* Count one more open request for (be, key). 0 and *ref (pass it to proxy_lb_conn_release),
 * or -ERR_PROXY_MAXCONN when amount are already open (answer 429), or
 * -ERR_PROXY_CONN_KEYS_FULL when max_conn_keys distinct keys are open (answer 429 too; log
 * max_conn_keys). A backend without maxConn always succeeds with a null ref (0).
 * Shared mode: amount bounds the node's open requests (every worker, every table), and
 * -ERR_PROXY_CONN_KEYS_FULL means this worker holds max_conn_keys keys or the key's set in
 * the node's table is full (proxy_maxconn.h). */
int proxy_lb_conn_acquire(struct proxy_lb *lb, uint32_t be, struct slice key, uint64_t *ref);
void proxy_lb_conn_release(struct proxy_lb *lb, uint64_t ref);
/* Open count of (be, key), for tests and metrics. */
uint32_t proxy_lb_conn_count(const struct proxy_lb *lb, uint32_t be, struct slice key);

#endif
