/* proxy_maxconn.c — see proxy_maxconn.h and docs/internals/proxy-engine.md ("maxConn").
 *
 * Layout of the region: nsets lock words (rounded up to a cache line), nsets sets of
 * PROXY_MC_WAYS totals (128 bytes each), then `workers` holdings tables of hslots pairs.
 *
 * Totals. A way is free when its total is 0 (its key is then meaningless); a key's entry is
 * the way of its set with that key and a total above 0. Read and written only under the set's
 * lock. An entry is made by writing the key, then the total: a process that dies in between
 * leaves a way whose total is 0, which is free.
 *
 * Holdings. Worker `slot` alone writes its table, an open-addressing table with linear probing
 * and backward-shift deletion; the master reads it only after the worker is dead (reaped) and
 * before another starts in the slot. A pair is published count first, key second; a worker
 * killed during a backward shift may leave one pair twice (copied, not yet cleared): both
 * copies carry the same count, and proxy_mc_reap counts a key once (the copy nearer its home).
 *
 * Steps of a worker, and what its death between them costs (the master subtracts exactly what
 * the holdings say, clamping totals at 0):
 *   acquire: under the set lock, check total < amount; holding += 1; total += 1.
 *     Dead after the holding and before the total: the master subtracts one the total never
 *     got: the key's total is one below the requests really open, so the node may admit one
 *     request too many while they last; the first release that finds 0 clamps, and the count
 *     is exact again when the key's requests are done. Never a count left behind.
 *   release: total -= 1; then holding -= 1.
 *     Dead in between: the same, one subtracted twice (transient over-admission of one).
 *   The opposite orders would leave a count in the totals that no holding records: a
 *   permanent leak, refusing requests for that key for ever. Stores are ordered by the
 *   compiler and the CPU with release stores (a SIGKILL stops a process between two
 *   instructions; what it stored before stays).
 * A broken lock (a holder stopped for PROXY_SHLOCK_YIELDS yields) may let two processes into
 * one set: a wrong count, never a crash (relaxed atomics, no torn values). */
#include "proxy/proxy_maxconn.h"

#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "base/base_err.h"

struct proxy_mc_entry {
	_Atomic uint64_t key;
	_Atomic uint32_t total; /* 0: a free way */
	uint32_t pad;
};

struct proxy_mc_set {
	struct proxy_mc_entry e[PROXY_MC_WAYS];
};

struct proxy_mc_hold {
	_Atomic uint64_t key; /* 0: empty */
	_Atomic uint32_t count;
	uint32_t pad;
};

_Static_assert(sizeof(struct proxy_mc_set) == 128, "a set is two cache lines");
_Static_assert(sizeof(struct proxy_mc_hold) == 16, "a holding is 16 bytes");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
	       "shared counts need lock-free (address-free) 32- and 64-bit atomics");

#define LD(p) atomic_load_explicit((p), memory_order_relaxed)
#define ST(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define ST_REL(p, v) atomic_store_explicit((p), (v), memory_order_release)

static uint32_t mc_nsets(uint32_t max_keys, uint32_t workers)
{
	uint64_t ways = 2ull * workers * max_keys;
	return (uint32_t)((ways + PROXY_MC_WAYS - 1) / PROXY_MC_WAYS);
}

static uint32_t mc_hslots(uint32_t max_keys)
{
	uint32_t n = 4;
	while (n < 2ull * max_keys)
		n *= 2;
	return n;
}

static size_t mc_lock_bytes(uint32_t nsets)
{
	return ((size_t)nsets * sizeof(struct proxy_shlock) + 63u) & ~(size_t)63u;
}

size_t proxy_mc_bytes(uint32_t max_keys, uint32_t workers)
{
	if (max_keys == 0 || max_keys > PROXY_MC_MAX_KEYS || workers == 0 ||
	    workers > PROXY_MC_MAX_WORKERS)
		return 0;
	uint32_t ns = mc_nsets(max_keys, workers);
	return mc_lock_bytes(ns) + (size_t)ns * sizeof(struct proxy_mc_set) +
	       (size_t)workers * mc_hslots(max_keys) * sizeof(struct proxy_mc_hold);
}

static struct proxy_mc_hold *mc_hold_of(const struct proxy_mc *mc, uint32_t slot)
{
	return (struct proxy_mc_hold *)(mc->hold_base +
					(size_t)slot * mc->hslots * sizeof(struct proxy_mc_hold));
}

int proxy_mc_attach(struct proxy_mc *mc, void *mem, size_t bytes, uint32_t max_keys,
		    uint32_t workers, uint32_t slot, uint64_t k0, uint64_t k1)
{
	memset(mc, 0, sizeof *mc);
	size_t need = proxy_mc_bytes(max_keys, workers);
	if (need == 0 || !mem || ((uintptr_t)mem & 63u) != 0 || bytes < need ||
	    (slot != PROXY_MC_MASTER && slot >= workers))
		return -ERR_INVAL;
	mc->nsets = mc_nsets(max_keys, workers);
	mc->locks = mem;
	mc->sets = (struct proxy_mc_set *)((unsigned char *)mem + mc_lock_bytes(mc->nsets));
	mc->hold_base = (unsigned char *)(mc->sets + mc->nsets);
	mc->hslots = mc_hslots(max_keys);
	mc->hmax = max_keys;
	mc->workers = workers;
	mc->hold = slot == PROXY_MC_MASTER ? NULL : mc_hold_of(mc, slot);
	mc->pid = (uint32_t)getpid();
	mc->k0 = k0;
	mc->k1 = k1;
	return 0;
}

/* ---- totals ------------------------------------------------------------------------------ */

static uint32_t set_of(const struct proxy_mc *mc, uint64_t key)
{
	return (uint32_t)(((key >> 32) * (uint64_t)mc->nsets) >> 32);
}

static void mc_lock(struct proxy_mc *mc, uint32_t s)
{
	enum proxy_shlock_took how = proxy_shlock_lock(&mc->locks[s], mc->pid);
	if (how == PROXY_SHLOCK_STOLEN)
		mc->st.lock_stolen++;
	else if (how == PROXY_SHLOCK_BROKEN)
		mc->st.lock_broken++;
}

static void mc_unlock(struct proxy_mc *mc, uint32_t s)
{
	proxy_shlock_unlock(&mc->locks[s], mc->pid);
}

/* The entry of key in its set (lock held), or NULL. */
static struct proxy_mc_entry *tot_find(struct proxy_mc *mc, uint64_t key)
{
	struct proxy_mc_entry *e = mc->sets[set_of(mc, key)].e;
	for (uint32_t k = 0; k < PROXY_MC_WAYS; k++)
		if (LD(&e[k].total) > 0 && LD(&e[k].key) == key)
			return &e[k];
	return NULL;
}

/* Subtract n from key's total (lock held), clamping at 0. */
static void tot_sub(struct proxy_mc *mc, uint64_t key, uint32_t n)
{
	struct proxy_mc_entry *e = tot_find(mc, key);
	if (!e)
		return;
	uint32_t t = LD(&e->total);
	ST(&e->total, t > n ? t - n : 0);
}

/* ---- holdings (this worker's) ------------------------------------------------------------ */

static uint32_t hold_home(const struct proxy_mc *mc, uint64_t key)
{
	return (uint32_t)key & (mc->hslots - 1);
}

/* The slot of key in holdings h, or of the empty slot that ends its chain (*found false). */
static uint32_t hold_find(const struct proxy_mc *mc, const struct proxy_mc_hold *h, uint64_t key,
			  bool *found)
{
	uint32_t mask = mc->hslots - 1, i = hold_home(mc, key);
	for (;;) {
		uint64_t k = LD(&h[i].key);
		if (k == key || k == 0) {
			*found = k == key;
			return i;
		}
		i = (i + 1) & mask;
	}
}

/* Remove slot i (count 0) with a backward shift. Each move publishes the copy before clearing
 * the original (a death in between leaves a duplicate, which proxy_mc_reap counts once). */
static void hold_remove(struct proxy_mc *mc, uint32_t i)
{
	struct proxy_mc_hold *h = mc->hold;
	uint32_t mask = mc->hslots - 1, j = i;
	ST_REL(&h[i].key, 0);
	mc->hused--;
	for (;;) {
		j = (j + 1) & mask;
		uint64_t kj = LD(&h[j].key);
		if (!kj)
			break;
		uint32_t home = hold_home(mc, kj);
		bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!in_range) {
			ST(&h[i].count, LD(&h[j].count));
			ST_REL(&h[i].key, kj);
#ifdef TEE_TEST_BUILD
			if (mc->die_at == PROXY_MC_DIE_SHIFT)
				_exit(0);
#endif
			ST_REL(&h[j].key, 0);
			ST(&h[j].count, 0);
			i = j;
		}
	}
}

/* ---- the API ------------------------------------------------------------------------------ */

int proxy_mc_acquire(struct proxy_mc *mc, uint64_t key, uint64_t amount)
{
	struct proxy_mc_hold *h = mc->hold;
	bool found;
	uint32_t hi = hold_find(mc, h, key, &found);
	if (!found) {
		if (mc->hused >= mc->hmax) {
			mc->st.full++;
			return -ERR_PROXY_CONN_KEYS_FULL;
		}
		/* a pair with count 0 is harmless to proxy_mc_reap */
		ST(&h[hi].count, 0);
		ST_REL(&h[hi].key, key);
		mc->hused++;
	}
	uint32_t s = set_of(mc, key);
	int rc = 0;
	mc_lock(mc, s);
	struct proxy_mc_entry *e = tot_find(mc, key);
	uint32_t t = e ? LD(&e->total) : 0;
	if (e && t >= amount) {
		rc = -ERR_PROXY_MAXCONN;
	} else if (!e) {
		struct proxy_mc_entry *w = mc->sets[s].e;
		for (uint32_t k = 0; k < PROXY_MC_WAYS && !e; k++)
			if (LD(&w[k].total) == 0)
				e = &w[k];
		if (!e || amount == 0)
			rc = e ? -ERR_PROXY_MAXCONN : -ERR_PROXY_CONN_KEYS_FULL;
		else
			ST(&e->key, key); /* total 0: still free until the total is written */
	}
	if (rc == 0) {
		/* First the holding, then the total (see the top of the file). */
		ST_REL(&h[hi].count, LD(&h[hi].count) + 1);
#ifdef TEE_TEST_BUILD
		if (mc->die_at == PROXY_MC_DIE_ACQUIRE)
			_exit(0);
#endif
		ST_REL(&e->total, t + 1);
	}
	mc_unlock(mc, s);
	if (rc < 0) {
		if (rc == -ERR_PROXY_CONN_KEYS_FULL)
			mc->st.full++;
		if (LD(&h[hi].count) == 0)
			hold_remove(mc, hi);
	}
	return rc;
}

void proxy_mc_release(struct proxy_mc *mc, uint64_t key)
{
	struct proxy_mc_hold *h = mc->hold;
	bool found;
	uint32_t hi = hold_find(mc, h, key, &found);
	uint32_t c = found ? LD(&h[hi].count) : 0;
	if (c == 0)
		return; /* not ours */
	uint32_t s = set_of(mc, key);
	/* First the total, then the holding (see the top of the file). */
	mc_lock(mc, s);
	tot_sub(mc, key, 1);
#ifdef TEE_TEST_BUILD
	if (mc->die_at == PROXY_MC_DIE_RELEASE)
		_exit(0);
#endif
	mc_unlock(mc, s);
	ST_REL(&h[hi].count, c - 1);
	if (c == 1)
		hold_remove(mc, hi);
}

uint32_t proxy_mc_total(struct proxy_mc *mc, uint64_t key)
{
	uint32_t s = set_of(mc, key);
	mc_lock(mc, s);
	struct proxy_mc_entry *e = tot_find(mc, key);
	uint32_t t = e ? LD(&e->total) : 0;
	mc_unlock(mc, s);
	return t;
}

uint64_t proxy_mc_reap(struct proxy_mc *mc, uint32_t slot)
{
	if (slot >= mc->workers)
		return 0;
	struct proxy_mc_hold *h = mc_hold_of(mc, slot);
	uint32_t mask = mc->hslots - 1;
	uint64_t sum = 0;
	for (uint32_t j = 0; j < mc->hslots; j++) {
		uint64_t key = LD(&h[j].key);
		uint32_t c = LD(&h[j].count);
		if (!key || !c)
			continue;
		/* A duplicate left by a backward shift cut short lies between the key's home
		 * and j: count the one nearer home. */
		bool dup = false;
		for (uint32_t i = hold_home(mc, key); i != j && !dup; i = (i + 1) & mask)
			dup = LD(&h[i].key) == key;
		if (dup)
			continue;
		uint32_t s = set_of(mc, key);
		mc_lock(mc, s);
		tot_sub(mc, key, c);
		mc_unlock(mc, s);
		sum += c;
	}
	for (uint32_t j = 0; j < mc->hslots; j++) {
		ST(&h[j].key, 0);
		ST(&h[j].count, 0);
	}
	mc->st.reaped += sum;
	return sum;
}
