/* proxy_breaker.h — backend circuit breakers: Traefik v1's `circuitBreaker.expression`, with
 * the semantics of the oxy cbreaker and memmetrics packages Traefik v1.7 runs
 * (docs/internals/proxy-breaker.md).
 *
 * Contract
 *   An expression is compiled once into a struct proxy_breaker_prog (fixed size, no pointers):
 *   proxy_breaker_compile when the routing document loads (validation, with a message that
 *   says what is wrong) and again when the engine builds a table generation. Everything that
 *   changes while requests flow lives in one struct proxy_breaker per backend that has an
 *   expression, fixed size (a few KiB), so memory is bounded by the number of backends.
 *   Nothing here allocates, reads a clock or logs but state changes: the engine passes its
 *   loop's monotonic milliseconds. Single-threaded, like the event loop that drives it.
 *   With several workers (proxy_breaker_use_shared) a breaker is a handle to the node's state
 *   in a table shared by the worker processes (proxy_breaker_shared.h): the same calls lock
 *   it, and log after unlocking.
 *
 * Expression language (the Go expression subset oxy's predicate parser accepts)
 *   NetworkErrorRatio()                  network errors / requests (float)
 *   ResponseCodeRatio(a, b, c, d)        requests with status in [a,b) / those in [c,d) (float)
 *   LatencyAtQuantileMS(q)               latency at quantile q (percent, a float such as 50.0)
 *                                        in whole milliseconds (int)
 *   comparisons  >  >=  <  <=  ==  !=    function on the left, number on the right; a float
 *                                        function takes a float literal (0.5, 1.0), an int
 *                                        function an int literal (50), as oxy insists
 *   &&  ||  ( )                          Go precedence: comparisons, then &&, then ||
 *
 * Metrics (per breaker): requests, network errors (status 502 or 504) and each status range
 * the expression names, over 10 buckets of 1 s (the current second and the 9 before it);
 * latencies over 6 buckets of 10 s, counted against the thresholds the expression compares
 * with, so LatencyAtQuantileMS is exact at the engine's millisecond clock.
 *
 * States (oxy cbreaker): Standby (every request passes; the expression is checked after a
 * response, at most every 100 ms) -> Tripped when it is true (every request answered 503 for
 * 10 s, metrics cleared) -> Recovering (10 s: the share of requests let through since it
 * began is held under 0.5 x elapsed / 10 s, so at a steady rate the pass rate rises linearly
 * from 0 to all; the expression is still checked and trips again when true) -> Standby.
 */
#ifndef PROXY_BREAKER_H
#define PROXY_BREAKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_slice.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_metrics.h"

#define PROXY_BREAKER_MAX_EXPR 1024        /* expression bytes */
#define PROXY_BREAKER_MAX_FUNCS 8          /* function calls (so comparisons) in one expression */
#define PROXY_BREAKER_MAX_DEPTH 16         /* nested parentheses */
#define PROXY_BREAKER_MAX_INT 2147483647LL /* largest integer literal */

#define PROXY_BREAKER_CHECK_MS 100      /* oxy defaultCheckPeriod */
#define PROXY_BREAKER_FALLBACK_MS 10000 /* oxy defaultFallbackDuration: Tripped */
#define PROXY_BREAKER_RECOVERY_MS 10000 /* oxy defaultRecoveryDuration: Recovering */

#define PROXY_BREAKER_BUCKETS 10       /* counters: 10 x 1 s (memmetrics counterBuckets) */
#define PROXY_BREAKER_BUCKET_MS 1000   /* memmetrics counterResolution */
#define PROXY_BREAKER_LBUCKETS 6       /* latencies: 6 x 10 s (memmetrics histBuckets) */
#define PROXY_BREAKER_LBUCKET_MS 10000 /* memmetrics histPeriod */

enum proxy_breaker_fn { PB_NETERR = 0, PB_CODES, PB_LATENCY };
enum proxy_breaker_op { PB_GT = 0, PB_GE, PB_LT, PB_LE, PB_EQ, PB_NE };
enum proxy_breaker_state { PB_STANDBY = 0, PB_TRIPPED, PB_RECOVERING };

/* One comparison: fn(args) op constant. */
struct proxy_breaker_cmp {
	uint8_t fn;   /* enum proxy_breaker_fn */
	uint8_t op;   /* enum proxy_breaker_op */
	uint8_t slot; /* PB_CODES: counters slot, slot + 1 (ranges); PB_LATENCY: thresholds */
	double q;     /* PB_LATENCY: the quantile, percent (above 100 counts as 100) */
	double fval;  /* PB_NETERR, PB_CODES: the constant */
	int64_t ival; /* PB_LATENCY: the constant, milliseconds */
	int32_t r[4]; /* PB_CODES: [r0, r1) over [r2, r3) */
};

#define PB_CODE_AND 0xfe
#define PB_CODE_OR 0xff

/* A compiled expression: comparisons and a postfix program over them (code[i] < ncmp pushes
 * comparison code[i], PB_CODE_AND / PB_CODE_OR combine the two values on top). */
struct proxy_breaker_prog {
	uint8_t ncmp, ncode;
	uint8_t nranges; /* status ranges counted: range_lo[i] <= status < range_hi[i] */
	uint8_t nthr;    /* latency thresholds counted: latency_ms < thr_ms[i] */
	uint8_t code[2 * PROXY_BREAKER_MAX_FUNCS];
	struct proxy_breaker_cmp cmp[PROXY_BREAKER_MAX_FUNCS];
	int32_t range_lo[2 * PROXY_BREAKER_MAX_FUNCS], range_hi[2 * PROXY_BREAKER_MAX_FUNCS];
	uint64_t thr_ms[2 * PROXY_BREAKER_MAX_FUNCS];
};

/* Counter columns: 0 requests, 1 network errors, 2.. status ranges. */
#define PB_COLS (2 + 2 * PROXY_BREAKER_MAX_FUNCS)
/* Latency columns: 0 requests, 1.. thresholds. */
#define PB_LCOLS (1 + 2 * PROXY_BREAKER_MAX_FUNCS)

/* A rolling window of buckets; ep1[i] is 1 + the period index bucket i holds, 0 if none. */
struct proxy_breaker_win {
	uint64_t ep1[PROXY_BREAKER_BUCKETS];
	uint32_t v[PROXY_BREAKER_BUCKETS][PB_COLS];
};

struct proxy_breaker_lwin {
	uint64_t ep1[PROXY_BREAKER_LBUCKETS];
	uint32_t v[PROXY_BREAKER_LBUCKETS][PB_LCOLS];
};

/* Everything of a breaker that changes while requests flow. Pointer-free and position-free,
 * so that it can live in memory shared by the worker processes of a node
 * (proxy_breaker_shared.h); a private breaker holds it inline (the same fields, named
 * directly: b->state). */
#define PROXY_BREAKER_CORE_FIELDS                                            \
	uint8_t state;  /* enum proxy_breaker_state */                       \
	uint64_t until; /* Tripped / Recovering: when the state ends (ms) */ \
	uint64_t next_check;                                                 \
	uint64_t rc_start; /* Recovering: ratio controller */                \
	uint64_t rc_allowed, rc_denied;                                      \
	uint64_t trips;     /* times tripped */                              \
	uint64_t fallbacks; /* requests answered by the fallback (503) */    \
	struct proxy_breaker_win win;                                        \
	struct proxy_breaker_lwin lwin;

struct proxy_breaker_core {
	PROXY_BREAKER_CORE_FIELDS
};

struct proxy_cbs;
struct proxy_cbs_slot;

struct proxy_breaker {
	struct proxy_breaker_prog prog;
	struct slice name; /* the backend's (for log lines); memory owned by the caller */
	/* The engine's registry and the backend's name id in it (proxy_breaker_gen_build), or
	 * NULL: a trip also counts traefikee_breaker_trips_total{backend}. */
	struct proxy_metrics *metrics;
	int m_be;
	/* 0: private, the state is the inline core below. 1: the node's, in a slot of the
	 * shared table (proxy_breaker_shared.h) that sh names; the inline core is not used
	 * (its bytes hold sh), so the struct is the same size either way. */
	uint32_t shared;
	union {
		struct {
			PROXY_BREAKER_CORE_FIELDS
		};
		struct proxy_breaker_core core;
		struct {
			struct proxy_cbs *cbs;       /* this process's view of the table */
			struct proxy_cbs_slot *slot; /* the node's breaker */
			uint32_t idx;                /* its index, for proxy_cbs_put */
		} sh;
	};
};

/* Compile expr. 0, or -ERR_PROXY_CONFIG with a one-line reason in msg (no key path: the
 * caller prefixes it). */
int proxy_breaker_compile(struct slice expr, struct proxy_breaker_prog *out, char *msg, size_t cap);
/* The same, for the loader: the program is thrown away. */
int proxy_breaker_validate(struct slice expr, char *msg, size_t cap);

/* Start a breaker in Standby with empty metrics. name is kept for log lines. */
void proxy_breaker_init(struct proxy_breaker *b, const struct proxy_breaker_prog *p,
			struct slice name);
/* Before a request goes to the backend: true if it may pass, false to answer 503 (the
 * fallback). Moves Tripped -> Recovering -> Standby as time passes. */
bool proxy_breaker_allow(struct proxy_breaker *b, uint64_t now_ms);
/* After a request that passed: its status (0: no response at all, not counted) and latency.
 * Then checks the expression (at most every PROXY_BREAKER_CHECK_MS) and trips when true. */
void proxy_breaker_record(struct proxy_breaker *b, int status, uint64_t latency_ms,
			  uint64_t now_ms);
/* The expression's value on the metrics as of now_ms (tests, the check). */
bool proxy_breaker_eval(struct proxy_breaker *b, uint64_t now_ms);
/* Metric values as the expression sees them (tests, logs). */
double proxy_breaker_neterr_ratio(struct proxy_breaker *b, uint64_t now_ms);
double proxy_breaker_code_ratio(struct proxy_breaker *b, uint32_t k, uint64_t now_ms);
int64_t proxy_breaker_latency_ms_cmp(struct proxy_breaker *b, uint32_t k, uint64_t now_ms);
uint64_t proxy_breaker_requests(struct proxy_breaker *b, uint64_t now_ms);
const char *proxy_breaker_state_name(uint8_t state);
/* The state as of the last call (any mode; shared: read under the slot's lock). */
uint8_t proxy_breaker_state(struct proxy_breaker *b);

/* Make b the handle of the node's breaker in slot (proxy_cbs_get, which initialised the
 * slot's core when it claimed it); prog, name as proxy_breaker_init. */
void proxy_breaker_init_shared(struct proxy_breaker *b, const struct proxy_breaker_prog *p,
			       struct slice name, struct proxy_cbs *cbs,
			       struct proxy_cbs_slot *slot, uint32_t idx);

/* ---- engine glue (proxy_engine.c) ---- */
struct proxy_gen;
/* Worst case of what proxy_breaker_gen_build allocates for a table within lim (every
 * backend with a breaker), for --print-limits. */
size_t proxy_breaker_bytes_max(const struct proxy_limits *lim);
/* A breaker for every backend of g's table with an expression: g->cb_mem (malloc'd at load
 * time, the control path; NULL when no backend has one) and g->be[i].cb, each counting its
 * trips in the engine's registry under g->be[i].m_be (whose series is made here, at 0).
 * With a shared table (proxy_breaker_use_shared) each is a handle to the node's breaker of
 * proxy_cbs_key(backend name, expression, the table's revision, the node's load epoch):
 * joined when another worker (or an earlier table of this one) made it, claimed fresh in
 * Standby otherwise; a full table leaves that backend a private breaker (logged).
 * 0, or -ERR_NOMEM / -ERR_PROXY_CONFIG with msg set. */
int proxy_breaker_gen_build(struct proxy_gen *g, char *msg, size_t cap);
/* Breakers of g Tripped at now_ms (as proxy_breaker_allow would see them), for SIGUSR1. */
uint32_t proxy_breaker_gen_tripped(const struct proxy_gen *g, uint64_t now_ms);
/* Gives g's references to shared breakers back (proxy_cbs_put), then frees g->cb_mem. */
void proxy_breaker_gen_free(struct proxy_gen *g);
/* This process's view of the node's shared breaker table (proxy_breaker_shared.h), set once by
 * a worker of a node with several workers before its engine starts, or NULL (the default:
 * private breakers). proxy_breaker_gen_build uses it. */
void proxy_breaker_use_shared(struct proxy_cbs *cbs);

#endif
