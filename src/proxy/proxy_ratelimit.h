/* proxy_ratelimit.h — frontend rate limiting (Traefik v1 `rateLimit`, oxy's TokenLimiter).
 *
 * Contract
 *   A frontend with rate sets (struct proxy_frontend.ratesets, proxy_config.h) limits each
 *   key its extractor gives (client.ip, request.host, request.header.<Name>): per key, one
 *   token bucket per rate set, of capacity `burst`, refilled with `average` tokens every
 *   `period`. A request takes one token from every bucket of its key, or — if any of them is
 *   empty — none at all and is answered 429 with the delay after which it would pass.
 *   docs/internals/proxy-ratelimit.md has the user-facing semantics.
 *
 *   Buckets are kept as GCRA "theoretical arrival times" (one 64-bit time each: a bucket is
 *   full when that time is not after now), in one open-addressing table of max_ratelimit_keys
 *   entries of 16 bytes, allocated by proxy_rl_init and never again. An entry is named by a
 *   keyed SipHash-2-4 of (frontend name, key, period, average, burst): no key text is kept, a
 *   frontend that survives a reload under the same name keeps its buckets, a changed rate set
 *   starts full, and clients cannot aim collisions at the table (the key is random per
 *   engine). When the probe window of a new entry is full, the entry that is idle (its bucket
 *   full: it carries no information) or else closest to idle is replaced; replacing a bucket
 *   that was not full is counted and logged (at most once a second, setting=max_ratelimit_keys).
 *
 *   Time is passed in (milliseconds of a monotonic clock); nothing reads a clock or allocates
 *   after init.
 *
 *   Two modes, the same verdicts:
 *   - private (proxy_rl_init, the default): the table belongs to one process and is used
 *     single-threaded like its event loop; no locks. With N worker processes a client may get
 *     N x the rate.
 *   - shared (proxy_rl_init_shared): the table lives in a MAP_SHARED mapping the master made
 *     before forking, and every worker that attaches it takes from the same buckets, so the
 *     limit holds for the whole node. The table is set-associative (sets of PROXY_RL_PROBE
 *     entries, two cache lines each) with one 32-bit spinlock word per set holding the pid
 *     of its holder; a take locks the sets of its buckets in ascending order, checks and
 *     commits under them (all-or-nothing as in the private mode), and logs only after
 *     unlocking. A lock whose holder died is taken over (kill(pid, 0) == ESRCH); one held
 *     longer than any critical section can last (PROXY_RL_LOCK_YIELDS yields) is broken.
 *     Only the buckets are shared: stats and log pacing (rl->st, log_ms) stay per process.
 *   docs/internals/proxy-ratelimit.md, "Shared mode", has the layout and the reasons.
 */
#ifndef PROXY_RATELIMIT_H
#define PROXY_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "base/base_slice.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_metrics.h"
#include "proxy/proxy_rule.h"
#include "proxy/proxy_shlock.h"

/* Slots probed from an entry's home slot (lookups and replacement stay within them); in the
 * shared mode, the entries of one set. */
#define PROXY_RL_PROBE 8u
/* Most entries of a shared table (the cap of max_ratelimit_keys, proxy_limits.c). */
#define PROXY_RL_SHARED_MAX_KEYS (1u << 24)
/* Shared mode, waiting for a set lock (proxy_shlock.h, shared with the maxConn table): busy
 * polls before each sched_yield(), the holder's pid is checked with kill(pid, 0) every
 * PROXY_RL_LOCK_CHECK yields, and after PROXY_RL_LOCK_YIELDS yields a lock whose holder still
 * exists is broken (it cannot be in a critical section). */
#define PROXY_RL_LOCK_SPINS PROXY_SHLOCK_SPINS
#define PROXY_RL_LOCK_CHECK PROXY_SHLOCK_CHECK
#define PROXY_RL_LOCK_YIELDS PROXY_SHLOCK_YIELDS
/* Longest Go duration text proxy_rl_go_duration writes ("2562047h47m16.854775807s"). */
#define PROXY_RL_DURATION_MAX 32u
/* Longest body of a rate-limited 429 ("max rate reached: retry-in " + a duration). */
#define PROXY_RL_BODY_MAX 64u

struct proxy_rl_entry {
	uint64_t h;   /* 0: empty */
	uint64_t tat; /* ns: the bucket is full from this time on */
};

struct proxy_rl_stats {
	uint64_t allowed;  /* requests that took their tokens */
	uint64_t limited;  /* requests answered 429 */
	uint64_t invalid;  /* requests of a frontend whose rate set is unusable (404) */
	uint64_t inserted; /* buckets created */
	uint64_t
		evicted; /* buckets replaced while not full (table too small: max_ratelimit_keys) */
	uint32_t used;   /* slots holding a bucket (full ones included); shared mode: the slots
			  * this process filled first */
	uint64_t lock_stolen; /* shared mode: set locks taken over from a dead holder */
	uint64_t lock_broken; /* shared mode: set locks broken after PROXY_RL_LOCK_YIELDS */
};

/* Shared mode (proxy_ratelimit.c): one set of PROXY_RL_PROBE entries; its lock word is a
 * struct proxy_shlock. */
struct proxy_rl_shset;

struct proxy_rl {
	struct proxy_rl_entry *slot; /* n entries; NULL in the shared mode */
	uint32_t n;
	uint64_t k0, k1; /* SipHash key */
	struct proxy_rl_stats st;
	uint64_t log_ms;      /* last "table full" line (0: never) */
	uint64_t log_skipped; /* lines left out since */
	uint64_t bad_log_ms;  /* last "unusable rate set" line */
	/* The engine's registry, or NULL: each 429 also counts there
	 * (traefikee_ratelimit_rejected_total). Set by the owner after proxy_rl_init. */
	struct proxy_metrics *metrics;
	/* Shared mode only (sets != NULL): views into the caller's mapping. */
	struct proxy_rl_shset *sets; /* nsets sets; the last one has n - 8 x (nsets - 1) ways */
	struct proxy_shlock *locks;  /* nsets lock words, at the start of the mapping */
	uint32_t nsets;
	uint32_t pid;         /* this process (getpid() at attach): the lock words' owner value */
	uint64_t lock_log_ms; /* last "lock taken over" line */
};

enum proxy_rl_verdict {
	PROXY_RL_ALLOW = 0, /* tokens taken: go on */
	PROXY_RL_LIMITED,   /* 429; *retry_ns says when it would pass */
	PROXY_RL_INVALID,   /* a rate set has average or burst < 1: Traefik v1 skips the frontend */
};

/* Allocate the table (max_keys entries, calloc: pages never touched are never resident) with
 * the SipHash key (k0, k1). 0 or -ERR_NOMEM, -ERR_INVAL (max_keys 0). */
int proxy_rl_init(struct proxy_rl *rl, uint32_t max_keys, uint64_t k0, uint64_t k1);
/* Private mode: free the table. Shared mode: forget the mapping (it is not unmapped). */
void proxy_rl_fini(struct proxy_rl *rl);

/* Bytes to map for a shared table of max_keys entries (lock words included; a multiple of 64):
 * 64 x ceil(nsets x 4 / 64) bytes of lock words (one uint32 per set, 0: free, else the pid of
 * the holder), then nsets x 128 bytes of entries, nsets = ceil(max_keys / PROXY_RL_PROBE).
 * 0 when max_keys is 0 or above PROXY_RL_SHARED_MAX_KEYS. */
size_t proxy_rl_shared_bytes(uint32_t max_keys);

/* Use mem (at least proxy_rl_shared_bytes(max_keys) bytes, zero-filled when mapped, 64-byte
 * aligned, mapped MAP_SHARED | MAP_ANONYMOUS before fork) as the table. Every process that
 * attaches the same mem with the same (k0, k1) and max_keys shares the buckets. Attach in the
 * process that takes (each worker, after fork): its pid is what its locks hold. mem is only
 * read here, so attaching while other processes take is fine. Nothing is allocated;
 * proxy_rl_fini does not unmap mem. 0, -ERR_INVAL (mem NULL or misaligned, bytes too small,
 * max_keys 0 or above PROXY_RL_SHARED_MAX_KEYS). */
int proxy_rl_init_shared(struct proxy_rl *rl, void *mem, size_t bytes, uint32_t max_keys,
			 uint64_t k0, uint64_t k1);

/* The key of a request for fe's extractor: the client address text (client.ip), the Host as
 * received, port included (request.host), or the first value of the named header, "" when
 * absent (oxy's Header.Get: every request without it shares one bucket). A slice of v or ip. */
struct slice proxy_rl_key(const struct proxy_frontend *fe, const struct proxy_req_view *v,
			  struct slice client_ip);

/* Take one token from every bucket of (fe, key) at now_ms. fe->nratesets must be > 0.
 * PROXY_RL_LIMITED leaves every bucket as it was, sets *retry_ns (> 0) to the time until
 * the request would pass and counts st.limited (and rl->metrics' rl_rejected). PROXY_RL_INVALID is
 * logged at most once a second. */
enum proxy_rl_verdict proxy_rl_take(struct proxy_rl *rl, const struct proxy_frontend *fe,
				    struct slice key, uint64_t now_ms, uint64_t *retry_ns);

/* Go's time.Duration.String of ns ("200ms", "1.5s", "1m0s", "999.5µs"). Bytes written
 * (NUL-terminated; cap >= PROXY_RL_DURATION_MAX). */
size_t proxy_rl_go_duration(uint64_t ns, char *out, size_t cap);

/* The fields and body of a rate-limited 429, for proxy_fwd_local_response: delay is the
 * decimal nanoseconds proxy_conn.c passes as the local response's `location`. Appends
 * "X-Retry-In: <Go duration>" (oxy) and "Retry-After: <seconds, rounded up>" to b and
 * writes the body "max rate reached: retry-in <Go duration>" (oxy) into body (cap >=
 * PROXY_RL_BODY_MAX), *body_len its length. 0, -ERR_BUF_FULL (b restored), -ERR_INVAL. */
int proxy_rl_response_fields(struct buf *b, struct slice delay, char *body, size_t cap,
			     size_t *body_len);

/* Warn (log) about every rate set of t that Traefik v1 refuses (average or burst below 1: it
 * skips the frontend; here the frontend answers 404). Called when a document is applied.
 * Returns how many were found. */
uint32_t proxy_rl_table_check(const struct proxy_table *t);

/* Bytes of the private table for max_keys (the worst-case memory report). */
size_t proxy_rl_bytes(uint32_t max_keys);

#endif
