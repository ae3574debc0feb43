/* proxy_breaker_shared.c — see proxy_breaker_shared.h. */
#include "proxy/proxy_breaker_shared.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base_err.h"
#include "base/base_hash.h"

_Static_assert(PROXY_CBS_MAX_WORKERS <= 64, "holders is a uint64_t");

/* ---- layout --------------------------------------------------------------------------------- */

static uint32_t nsets_for(uint32_t max_backends, uint32_t max_tables)
{
	if (max_backends == 0 || max_tables == 0)
		return 0;
	uint64_t want = 2ull * max_backends * max_tables;
	if (want > PROXY_CBS_MAX_SLOTS)
		return 0;
	return (uint32_t)((want + PROXY_CBS_WAYS - 1) / PROXY_CBS_WAYS);
}

size_t proxy_cbs_bytes(uint32_t max_backends, uint32_t max_tables)
{
	uint32_t nsets = nsets_for(max_backends, max_tables);
	if (nsets == 0)
		return 0;
	size_t n = (size_t)nsets * PROXY_CBS_WAYS;
	return sizeof(struct proxy_cbs_head) + n * 2 * sizeof(uint64_t) +
	       n * sizeof(struct proxy_cbs_slot);
}

int proxy_cbs_attach(struct proxy_cbs *s, void *mem, size_t bytes, uint32_t max_backends,
		     uint32_t max_tables, uint32_t worker, uint64_t k0, uint64_t k1)
{
	memset(s, 0, sizeof *s);
	size_t need = proxy_cbs_bytes(max_backends, max_tables);
	if (!mem || need == 0 || bytes < need || ((uintptr_t)mem & 63) ||
	    (worker != PROXY_CBS_MASTER && worker >= PROXY_CBS_MAX_WORKERS))
		return -ERR_INVAL;
	s->nsets = nsets_for(max_backends, max_tables);
	s->nslots = s->nsets * PROXY_CBS_WAYS;
	s->head = mem;
	unsigned char *p = (unsigned char *)mem + sizeof *s->head;
	s->keys = (_Atomic uint64_t *)(void *)p;
	s->holders = s->keys + s->nslots;
	s->slots = (struct proxy_cbs_slot *)(void *)(p + (size_t)s->nslots * 2 * sizeof(uint64_t));
	/* The master attaches first (before forking); a worker checks it agrees. */
	if (s->head->nslots == 0)
		s->head->nslots = s->nslots;
	else if (s->head->nslots != s->nslots)
		return -ERR_INVAL;
	s->worker = worker;
	s->pid = (uint32_t)getpid();
	s->k0 = k0;
	s->k1 = k1;
	if (worker != PROXY_CBS_MASTER) {
		s->refs = calloc(s->nslots, sizeof *s->refs);
		if (!s->refs)
			return -ERR_NOMEM;
	}
	return 0;
}

void proxy_cbs_detach(struct proxy_cbs *s)
{
	free(s->refs);
	s->refs = NULL;
}

/* ---- keys and epochs ---------------------------------------------------------------------- */

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t proxy_cbs_key(const struct proxy_cbs *s, struct slice name, struct slice expr,
		       uint64_t revision, uint64_t epoch)
{
	uint8_t tail[16];
	le64(tail, revision);
	le64(tail + 8, epoch);
	static const char nul = 0;
	struct slice seg[5] = {name, {&nul, 1}, expr, {&nul, 1}, {(const char *)tail, 16}};
	uint64_t k = hash_sip24_segs(s->k0, s->k1, seg, 5);
	return k ? k : 1;
}

uint64_t proxy_cbs_epoch(const struct proxy_cbs *s)
{
	return atomic_load_explicit(&s->head->epoch, memory_order_acquire);
}

uint64_t proxy_cbs_epoch_advance(struct proxy_cbs *s)
{
	return atomic_fetch_add_explicit(&s->head->epoch, 1, memory_order_acq_rel) + 1;
}

/* ---- locks ---------------------------------------------------------------------------------- */

static void took(struct proxy_cbs *s, enum proxy_shlock_took t)
{
	if (t == PROXY_SHLOCK_STOLEN)
		s->st.lock_stolen++;
	else if (t == PROXY_SHLOCK_BROKEN)
		s->st.lock_broken++;
}

uint64_t proxy_cbs_lock(struct proxy_cbs *s, struct proxy_cbs_slot *sl, uint64_t now_ms)
{
	took(s, proxy_shlock_lock(&sl->lock, s->pid));
	if (now_ms < sl->last_ms)
		now_ms = sl->last_ms; /* another worker's loop woke up later than ours */
	sl->last_ms = now_ms;
	return now_ms;
}

void proxy_cbs_unlock(struct proxy_cbs *s, struct proxy_cbs_slot *sl)
{
	proxy_shlock_unlock(&sl->lock, s->pid);
}

static void table_lock(struct proxy_cbs *s)
{
	took(s, proxy_shlock_lock(&s->head->lock, s->pid));
}

static void table_unlock(struct proxy_cbs *s)
{
	proxy_shlock_unlock(&s->head->lock, s->pid);
}

/* ---- slots ---------------------------------------------------------------------------------- */

/* The two sets key may live in: from its low and high halves (the second one differs from the
 * first whenever there are two sets or more). */
static void sets_of(const struct proxy_cbs *s, uint64_t key, uint32_t set[2])
{
	set[0] = (uint32_t)(key % s->nsets);
	set[1] = (uint32_t)((key >> 32) % s->nsets);
	if (set[1] == set[0] && s->nsets > 1)
		set[1] = (set[0] + 1) % s->nsets;
}

static void ref(struct proxy_cbs *s, uint32_t i)
{
	if (s->refs[i]++ == 0)
		atomic_fetch_or_explicit(&s->holders[i], 1ull << s->worker, memory_order_relaxed);
}

int proxy_cbs_get(struct proxy_cbs *s, uint64_t key, uint32_t *idx, struct proxy_cbs_slot **slot)
{
	if (s->worker == PROXY_CBS_MASTER || key == 0)
		return -ERR_INVAL;
	uint32_t set[2];
	sets_of(s, key, set);
	table_lock(s);
	/* A slot that holds key, held or not: join it (an unheld one still has its state). */
	for (int k = 0; k < 2; k++)
		for (uint32_t w = 0; w < PROXY_CBS_WAYS; w++) {
			uint32_t i = set[k] * PROXY_CBS_WAYS + w;
			if (atomic_load_explicit(&s->keys[i], memory_order_relaxed) != key)
				continue;
			ref(s, i);
			table_unlock(s);
			s->st.joined++;
			*idx = i;
			*slot = &s->slots[i];
			return 0;
		}
	/* Claim a free slot in the set with more free slots (never-used ones first within it,
	 * so a freed key keeps its state as long as there is room). */
	int best = -1;
	uint32_t best_free = 0, pick[2] = {0, 0};
	for (int k = 0; k < 2; k++) {
		uint32_t nfree = 0;
		int first = -1, unused = -1;
		for (uint32_t w = 0; w < PROXY_CBS_WAYS; w++) {
			uint32_t i = set[k] * PROXY_CBS_WAYS + w;
			if (atomic_load_explicit(&s->holders[i], memory_order_relaxed))
				continue;
			nfree++;
			if (first < 0)
				first = (int)i;
			if (unused < 0 &&
			    atomic_load_explicit(&s->keys[i], memory_order_relaxed) == 0)
				unused = (int)i;
		}
		pick[k] = (uint32_t)(unused >= 0 ? unused : first);
		if (nfree > best_free) {
			best_free = nfree;
			best = k;
		}
	}
	if (best < 0) {
		table_unlock(s);
		s->st.full++;
		return -ERR_PROXY_BACKENDS_FULL;
	}
	uint32_t i = pick[best];
	struct proxy_cbs_slot *sl = &s->slots[i];
	/* Nobody holds it, but a worker killed inside its state machine may have left its lock
	 * taken: take it (over) while the core is reset. */
	took(s, proxy_shlock_lock(&sl->lock, s->pid));
	memset(&sl->core, 0, sizeof sl->core); /* Standby, empty metrics */
	sl->core.state = PB_STANDBY;
	sl->last_ms = 0;
	proxy_shlock_unlock(&sl->lock, s->pid);
	atomic_store_explicit(&s->keys[i], key, memory_order_relaxed);
	ref(s, i);
	table_unlock(s);
	s->st.claimed++;
	*idx = i;
	*slot = sl;
	return 1;
}

void proxy_cbs_put(struct proxy_cbs *s, uint32_t idx)
{
	if (s->worker == PROXY_CBS_MASTER || idx >= s->nslots || s->refs[idx] == 0)
		return;
	if (--s->refs[idx] > 0)
		return;
	table_lock(s);
	atomic_fetch_and_explicit(&s->holders[idx], ~(1ull << s->worker), memory_order_relaxed);
	table_unlock(s);
}

uint32_t proxy_cbs_reap(struct proxy_cbs *s, uint32_t worker)
{
	if (worker >= PROXY_CBS_MAX_WORKERS)
		return 0;
	uint64_t bit = 1ull << worker;
	uint32_t n = 0;
	table_lock(s);
	for (uint32_t i = 0; i < s->nslots; i++) {
		uint64_t h = atomic_load_explicit(&s->holders[i], memory_order_relaxed);
		if (!(h & bit))
			continue;
		atomic_fetch_and_explicit(&s->holders[i], ~bit, memory_order_relaxed);
		n++;
	}
	table_unlock(s);
	s->st.reaped += n;
	return n;
}

uint32_t proxy_cbs_held(const struct proxy_cbs *s)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < s->nslots; i++)
		if (atomic_load_explicit(&s->holders[i], memory_order_relaxed))
			n++;
	return n;
}
