/* proxy_maxconn.h — backend maxConn counts shared by the worker processes of one data node.
 *
 * Contract
 *   With one worker the load balancer counts open requests per (backend, extracted value) in
 *   its own table (proxy_lb.c, private mode). With N > 1 workers every worker attaches this
 *   table instead, so a backend's maxConn bounds the node's open requests, not each worker's.
 *
 *   The master maps one zero-filled MAP_SHARED | MAP_ANONYMOUS region of
 *   proxy_mc_bytes(max_keys, workers) bytes before forking and draws one SipHash key for the
 *   node; each worker attaches it with its slot number (0 .. workers-1), the master with
 *   PROXY_MC_MASTER. A count is named by a 64-bit key the caller computes (proxy_lb.c: SipHash
 *   of the backend NAME and the extracted value under the node's key), so a worker on the old
 *   routing table and one on the new count a backend together during a reload.
 *
 *   The region holds
 *   - the totals: a set-associative table (sets of PROXY_MC_WAYS entries {key, total}, two
 *     cache lines each) of 2 x workers x max_keys entries, one struct proxy_shlock per set
 *     (proxy_shlock.h: the pid spinlock of the shared rateLimit table);
 *   - per worker slot, its holdings: an open-addressing table of (key, count) pairs, the
 *     counts this worker added to the totals, written only by that worker (at most max_keys
 *     keys: max_conn_keys is the distinct keys a worker holds open at once).
 *   A worker that dies (SIGKILL, crash) leaves its holdings behind: the master, after reaping
 *   it and before starting its replacement, calls proxy_mc_reap(slot), which subtracts them
 *   from the totals (under the set locks; a lock the dead worker held is taken over) and
 *   zeroes the slot. So a death never leaks counts for good (see proxy_maxconn.c for what a
 *   death between the two steps of an acquire or a release costs: at most a transient
 *   over-admission of one request per key).
 *
 *   Nothing allocates; no clock, no randomness. Calls of one process must not overlap (the
 *   event loop's thread).
 */
#ifndef PROXY_MAXCONN_H
#define PROXY_MAXCONN_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/proxy_shlock.h"

#define PROXY_MC_WAYS 8u
#define PROXY_MC_MASTER UINT32_MAX /* proxy_mc_attach's slot for the master (no holdings) */
/* Most keys per worker (the cap of max_conn_keys for a shared table) and most workers. */
#define PROXY_MC_MAX_KEYS (1u << 22)
#define PROXY_MC_MAX_WORKERS 64u

struct proxy_mc_set;  /* PROXY_MC_WAYS totals */
struct proxy_mc_hold; /* one (key, count) pair of a worker's holdings */

struct proxy_mc_stats {
	uint64_t full;        /* acquires refused -ERR_PROXY_CONN_KEYS_FULL */
	uint64_t lock_stolen; /* set locks taken over from a dead holder */
	uint64_t lock_broken; /* set locks broken after PROXY_SHLOCK_YIELDS */
	uint64_t reaped;      /* counts of dead workers subtracted (master) */
};

/* One process's view of the shared region. */
struct proxy_mc {
	struct proxy_shlock *locks; /* nsets, at the start of the region */
	struct proxy_mc_set *sets;  /* nsets */
	struct proxy_mc_hold *hold; /* this worker's holdings (hslots); NULL in the master */
	unsigned char *hold_base;   /* slot 0's holdings */
	uint32_t nsets;
	uint32_t hslots; /* holdings slots per worker: a power of two >= 2 x max_keys */
	uint32_t hmax;   /* max_keys */
	uint32_t hused;  /* keys in this worker's holdings */
	uint32_t workers;
	uint32_t pid; /* getpid() at attach: the lock words' owner value */
	uint64_t k0, k1;
	struct proxy_mc_stats st;
#ifdef TEE_TEST_BUILD
	/* Tests: _exit(0) at this step, as a worker SIGKILLed there would stop (0: never). */
	uint8_t die_at;
#endif
};

#ifdef TEE_TEST_BUILD
enum {
	PROXY_MC_DIE_ACQUIRE = 1, /* acquire: after the holding, before the total (lock held) */
	PROXY_MC_DIE_RELEASE = 2, /* release: after the total, before the holding (lock held) */
	PROXY_MC_DIE_SHIFT = 3,   /* holdings: a pair moved by a backward shift, not yet cleared */
};
#endif

/* Bytes to map for max_keys keys per worker and `workers` workers (a multiple of 64):
 * 64 x ceil(nsets x 4 / 64) of lock words, nsets x 128 of totals (nsets =
 * ceil(2 x workers x max_keys / PROXY_MC_WAYS)), workers x hslots x 16 of holdings.
 * 0 when an argument is 0 or over its cap. */
size_t proxy_mc_bytes(uint32_t max_keys, uint32_t workers);

/* Attach mem (proxy_mc_bytes(max_keys, workers) bytes at least, 64-byte aligned, zero-filled
 * when mapped) in the calling process: slot < workers for a worker (its holdings, which must
 * be zero: the master zeroes a dead worker's), PROXY_MC_MASTER for the master. (k0, k1): the
 * node's SipHash key, kept for the caller's hashing. 0 or -ERR_INVAL. */
int proxy_mc_attach(struct proxy_mc *mc, void *mem, size_t bytes, uint32_t max_keys,
		    uint32_t workers, uint32_t slot, uint64_t k0, uint64_t k1);

/* One more open request for key (!= 0), refused when the node already has `amount` open:
 * 0, -ERR_PROXY_MAXCONN, or -ERR_PROXY_CONN_KEYS_FULL (this worker holds max_keys keys, or
 * the key's set of totals is full). A worker only. */
int proxy_mc_acquire(struct proxy_mc *mc, uint64_t key, uint64_t amount);
/* One fewer (the total is clamped at 0; an entry at 0 is free). A key this worker does not
 * hold is ignored. A worker only. */
void proxy_mc_release(struct proxy_mc *mc, uint64_t key);
/* The node's open count of key (tests, metrics). */
uint32_t proxy_mc_total(struct proxy_mc *mc, uint64_t key);
/* Master, after worker `slot` ended (reaped) and before its replacement starts: subtract its
 * holdings from the totals and zero them. Returns the counts subtracted. */
uint64_t proxy_mc_reap(struct proxy_mc *mc, uint32_t slot);

#endif
