/* proxy_breaker_shared.h — the circuit breakers of a data node, shared by its worker processes
 * (docs/internals/proxy-breaker.md, "Workers").
 *
 * Contract
 *   With one worker each routing table generation has private breakers (proxy_breaker.h). With
 *   N > 1 workers the master maps one zero-filled MAP_SHARED | MAP_ANONYMOUS region of
 *   proxy_cbs_bytes(max_backends, max_tables) bytes before forking and draws one SipHash key
 *   for the node; every worker attaches it with its slot number (0 .. workers-1), the master
 *   with PROXY_CBS_MASTER. A worker's table generation then holds handles to the node's
 *   breakers: every worker records its outcomes into, and takes its decisions from, the same
 *   state machine, which runs once for the node.
 *
 *   Keys. A breaker is named by proxy_cbs_key: SipHash-2-4 under the node's key of the
 *   backend's name, its expression text, the document's revision and the node's load epoch.
 *   The epoch is a counter in the region that the master advances (proxy_cbs_epoch_advance)
 *   before it forwards a reload (SIGHUP) to the workers; a worker reads it when it builds a
 *   table. Traefik v1 rebuilds its breakers at every configuration load; here the workers
 *   load one document at slightly different moments, so each (document, reload) must reset
 *   the breaker once for the node, not once per worker: every worker building its table for
 *   reload E computes the same key, the first claims a fresh slot (Standby, empty metrics),
 *   the others join it. A worker still on the previous table keeps its handle to the
 *   previous key's slot, which it holds until that table goes: it never touches the new
 *   one. The revision is in the key too, so a worker that (re)starts and reads a newer file
 *   than the others' before the reload reaches them does not join their breaker.
 *
 *   Layout: a header (the table lock, the epoch), the slots' keys and holders, and
 *   nslots = PROXY_CBS_WAYS x nsets slots,
 *   nsets = ceil(2 x max_tables x max_backends / PROXY_CBS_WAYS): a worker keeps at most
 *   max_tables tables of at most max_backends breakers, so while the workers follow the same
 *   documents at most half of the slots are held; the other half absorbs workers a reload
 *   apart and the hashing. A key may live in either of two sets (two choices: claims go to
 *   the emptier one), so a set is rarely full while the table is not. A slot
 *   is {its key, its holders, and (struct proxy_cbs_slot) its lock, last_ms, the breaker's
 *   core}; no pointers anywhere, so every process may map the region at its own address.
 *   Pages are touched only as slots are used.
 *
 *   Reclamation. holders has bit w set while worker w has at least one table using the slot
 *   (the worker counts its references per slot privately). proxy_cbs_put at a table's end
 *   clears the bit when the worker's last reference goes; a slot with no holder is free and
 *   the next claim in its set takes it (its key stays until then, so a key rebuilt before
 *   that rejoins its state). A worker that dies (SIGKILL, crash) leaves its bits: the
 *   master, after reaping it and before starting its replacement, clears them
 *   (proxy_cbs_reap). So the table never fills over reloads: at most max_tables tables per
 *   worker hold slots.
 *
 *   Locks (proxy_shlock.h: a pid spinlock; a lock whose holder died is taken over). The table
 *   lock serialises claims, joins, releases and reaps (the control path: loads, table ends,
 *   a worker's death); a slot's lock serialises its state machine (every request through a
 *   breaker: proxy_breaker_allow and proxy_breaker_record, a few hundred instructions). Order:
 *   table lock, then a slot's. A worker killed inside a critical section leaves a slot's
 *   state half-updated at worst (a count missing or doubled), never a broken invariant that
 *   crashes: every index the state machine computes is reduced modulo its ring.
 *
 *   Clocks. The state machine takes the engine's loop milliseconds. A worker's loop reads
 *   time_mono_ms (CLOCK_MONOTONIC in milliseconds, base_time.c; pw_loop_init sets no
 *   injected clock), one clock for the whole machine, so the workers' timestamps are
 *   comparable; but a loop's time is that of its last wake-up, so one worker's now may lag
 *   another's by a loop iteration. proxy_cbs_lock therefore clamps now to the latest time
 *   any worker gave the slot (last_ms): the shared state machine never sees time go back.
 *
 *   Nothing here allocates after attach (a worker's reference counts are malloc'd there);
 *   nothing logs (callers log after unlocking). Calls of one process must not overlap.
 */
#ifndef PROXY_BREAKER_SHARED_H
#define PROXY_BREAKER_SHARED_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_slice.h"
#include "proxy/proxy_breaker.h"
#include "proxy/proxy_shlock.h"

#define PROXY_CBS_WAYS 8u
#define PROXY_CBS_MAX_WORKERS 64u      /* holders is a 64-bit mask */
#define PROXY_CBS_MASTER UINT32_MAX    /* proxy_cbs_attach's worker for the master */
#define PROXY_CBS_MAX_SLOTS (1u << 22) /* the cap of 2 x max_tables x max_backends */

struct proxy_cbs_head {
	struct proxy_shlock lock; /* the table lock: claims, joins, releases, reaps */
	uint32_t nslots;          /* written by the first attach, checked by the others */
	_Atomic uint64_t epoch;   /* the node's load epoch (proxy_cbs_epoch_advance) */
	uint8_t pad_[48];
};

/* A slot's key (0: never used) and holders (bit w: worker w holds it; 0: free) are in two
 * arrays of their own, written under the table lock, so that scans (claims, reaps) touch
 * 16 bytes per slot, not the slot's pages. */
struct proxy_cbs_slot {
	_Alignas(64) struct proxy_shlock lock; /* guards last_ms and core */
	uint32_t pad_;
	uint64_t last_ms; /* the latest now the state machine saw */
	struct proxy_breaker_core core;
};

_Static_assert(sizeof(struct proxy_cbs_head) == 64, "the header is one cache line");
_Static_assert(sizeof(struct proxy_cbs_slot) % 64 == 0, "slots are whole cache lines");

struct proxy_cbs_stats {
	uint64_t claimed;     /* slots claimed fresh */
	uint64_t joined;      /* handles to a slot that existed */
	uint64_t full;        /* proxy_cbs_get refusals (-ERR_PROXY_BACKENDS_FULL) */
	uint64_t lock_stolen; /* locks taken over from a dead holder */
	uint64_t lock_broken; /* locks broken after PROXY_SHLOCK_YIELDS */
	uint64_t reaped;      /* references of dead workers cleared (master) */
};

/* One process's view of the region. */
struct proxy_cbs {
	struct proxy_cbs_head *head;
	_Atomic uint64_t *keys;       /* nslots */
	_Atomic uint64_t *holders;    /* nslots */
	struct proxy_cbs_slot *slots; /* nslots */
	uint16_t *refs;               /* this worker's references per slot; NULL in the master */
	uint32_t nsets, nslots;
	uint32_t worker; /* 0 .. PROXY_CBS_MAX_WORKERS-1, or PROXY_CBS_MASTER */
	uint32_t pid;    /* getpid() at attach: the lock words' owner value */
	uint64_t k0, k1;
	struct proxy_cbs_stats st;
};

/* Bytes to map (a multiple of 64): 64 of header, nslots x 8 of keys, nslots x 8 of holders,
 * nslots x sizeof(struct proxy_cbs_slot) (1,344 on x86-64).
 * 0 when an argument is 0 or the slots would exceed PROXY_CBS_MAX_SLOTS. */
size_t proxy_cbs_bytes(uint32_t max_backends, uint32_t max_tables);

/* Attach mem (proxy_cbs_bytes(...) bytes at least, 64-byte aligned, zero-filled when mapped)
 * in the calling process: worker < PROXY_CBS_MAX_WORKERS (allocates its reference counts),
 * or PROXY_CBS_MASTER. (k0, k1): the node's SipHash key. 0, -ERR_INVAL or -ERR_NOMEM. */
int proxy_cbs_attach(struct proxy_cbs *s, void *mem, size_t bytes, uint32_t max_backends,
		     uint32_t max_tables, uint32_t worker, uint64_t k0, uint64_t k1);
/* Free what attach allocated (the region stays). */
void proxy_cbs_detach(struct proxy_cbs *s);

/* The key of a backend's breaker (never 0): SipHash-2-4 under the node's key of the name, a
 * NUL, the expression, a NUL, the revision and the epoch (8 bytes each, little-endian). */
uint64_t proxy_cbs_key(const struct proxy_cbs *s, struct slice name, struct slice expr,
		       uint64_t revision, uint64_t epoch);
/* The node's load epoch now. */
uint64_t proxy_cbs_epoch(const struct proxy_cbs *s);
/* Master, before it forwards a reload: epoch + 1 (returned). */
uint64_t proxy_cbs_epoch_advance(struct proxy_cbs *s);

/* A reference to key's slot for this worker: joined (returns 0) when a slot holds key, else a
 * free slot of its two sets claimed and initialised (returns 1: Standby, empty metrics).
 * *idx and *slot name it. -ERR_PROXY_BACKENDS_FULL when both sets are held (counted in
 * st.full), -ERR_INVAL in the master. Control path. */
int proxy_cbs_get(struct proxy_cbs *s, uint64_t key, uint32_t *idx, struct proxy_cbs_slot **slot);
/* Give back a reference proxy_cbs_get returned (the worker's bit goes with its last one). */
void proxy_cbs_put(struct proxy_cbs *s, uint32_t idx);
/* Master, after worker `worker` ended and before its replacement starts: clear its bit in
 * every slot. Returns the slots it held. */
uint32_t proxy_cbs_reap(struct proxy_cbs *s, uint32_t worker);
/* Slots held by some worker now (tests, logs). */
uint32_t proxy_cbs_held(const struct proxy_cbs *s);

/* Take sl's lock and return the time to run its state machine at: max(now_ms, the latest any
 * worker gave it), which becomes the latest. */
uint64_t proxy_cbs_lock(struct proxy_cbs *s, struct proxy_cbs_slot *sl, uint64_t now_ms);
void proxy_cbs_unlock(struct proxy_cbs *s, struct proxy_cbs_slot *sl);

#endif
