/* proxy_ratelimit.c — see proxy_ratelimit.h and docs/internals/proxy-ratelimit.md.
 *
 * One bucket is one GCRA state (the "virtual scheduling" form of the token bucket): with
 * T = period / average (ns between two tokens) and tau = (burst - 1) x T, a request at `now`
 * conforms when max(tat, now) - now <= tau, and then tat = max(tat, now) + T. That is exactly
 * a bucket of `burst` tokens refilled continuously at average/period, stored in one number.
 * A missing entry and an entry whose tat is not after now are both a full bucket.
 *
 * The shared mode keeps the same arithmetic and the same two passes (check, then take), on a
 * set-associative table in memory shared by the worker processes; see "shared mode" below.
 */
#include "proxy/proxy_ratelimit.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base_err.h"
#include "base/base_log.h"
#include "proxy/proxy_lb.h"

/* ---- SipHash-2-4, streaming ------------------------------------------------------------- */

struct sip {
	uint64_t v0, v1, v2, v3;
	uint64_t tail; /* pending bytes, little endian */
	uint32_t ntail;
	uint64_t total;
};

static inline uint64_t rotl64(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline void sip_round(struct sip *s)
{
	s->v0 += s->v1;
	s->v1 = rotl64(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl64(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl64(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl64(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl64(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl64(s->v2, 32);
}

static void sip_init(struct sip *s, uint64_t k0, uint64_t k1)
{
	s->v0 = 0x736f6d6570736575ull ^ k0;
	s->v1 = 0x646f72616e646f6dull ^ k1;
	s->v2 = 0x6c7967656e657261ull ^ k0;
	s->v3 = 0x7465646279746573ull ^ k1;
	s->tail = 0;
	s->ntail = 0;
	s->total = 0;
}

static void sip_word(struct sip *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

static inline uint64_t load_le64(const uint8_t *b)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}

/* Append the 8 bytes of v (little endian). */
static void sip_u64(struct sip *s, uint64_t v)
{
	s->total += 8;
	if (s->ntail == 0) {
		sip_word(s, v);
		return;
	}
	unsigned sh = 8 * s->ntail; /* 8 .. 56 */
	sip_word(s, s->tail | (v << sh));
	s->tail = v >> (64 - sh);
}

static void sip_update(struct sip *s, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i = 0;
	while (i < n && s->ntail != 0) { /* complete a pending word */
		s->tail |= (uint64_t)b[i++] << (8 * s->ntail);
		s->total++;
		if (++s->ntail == 8) {
			sip_word(s, s->tail);
			s->tail = 0;
			s->ntail = 0;
		}
	}
	for (; n - i >= 8; i += 8) {
		sip_word(s, load_le64(b + i));
		s->total += 8;
	}
	for (; i < n; i++) {
		s->tail |= (uint64_t)b[i] << (8 * s->ntail++);
		s->total++;
	}
}

static uint64_t sip_final(struct sip s)
{
	sip_word(&s, s.tail | ((s.total & 0xff) << 56));
	s.v2 ^= 0xff;
	for (int i = 0; i < 4; i++)
		sip_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

/* ---- table ------------------------------------------------------------------------------ */

int proxy_rl_init(struct proxy_rl *rl, uint32_t max_keys, uint64_t k0, uint64_t k1)
{
	memset(rl, 0, sizeof *rl);
	if (max_keys == 0)
		return -ERR_INVAL;
	rl->slot = calloc(max_keys, sizeof *rl->slot);
	if (!rl->slot)
		return -ERR_NOMEM;
	rl->n = max_keys;
	rl->k0 = k0;
	rl->k1 = k1;
	return 0;
}

void proxy_rl_fini(struct proxy_rl *rl)
{
	free(rl->slot); /* NULL in the shared mode: the mapping is the caller's */
	rl->slot = NULL;
	rl->sets = NULL;
	rl->locks = NULL;
	rl->nsets = 0;
	rl->n = 0;
}

size_t proxy_rl_bytes(uint32_t max_keys)
{
	return (size_t)max_keys * sizeof(struct proxy_rl_entry);
}

static uint32_t home(const struct proxy_rl *rl, uint64_t h)
{
	return (uint32_t)(((h >> 32) * (uint64_t)rl->n) >> 32);
}

static uint32_t window(const struct proxy_rl *rl)
{
	return rl->n < PROXY_RL_PROBE ? rl->n : PROXY_RL_PROBE;
}

static struct proxy_rl_entry *rl_find(struct proxy_rl *rl, uint64_t h)
{
	uint32_t i = home(rl, h), w = window(rl);
	for (uint32_t k = 0; k < w; k++) {
		struct proxy_rl_entry *e = &rl->slot[i];
		if (e->h == h)
			return e;
		if (++i == rl->n)
			i = 0;
	}
	return NULL;
}

/* Count k buckets replaced while not full; log at most once a second. Shared mode: called after
 * the set locks are released. */
static void rl_evicted(struct proxy_rl *rl, uint64_t now_ms, uint32_t k)
{
	for (; k > 0; k--) {
		rl->st.evicted++;
		if (rl->log_ms && now_ms - rl->log_ms < 1000) {
			rl->log_skipped++;
			continue;
		}
		log_warn("rate limit table full: a bucket that was not full was replaced",
			 "setting=max_ratelimit_keys limit=%u evicted=%llu skipped=%llu", rl->n,
			 (unsigned long long)rl->st.evicted, (unsigned long long)rl->log_skipped);
		rl->log_ms = now_ms ? now_ms : 1;
		rl->log_skipped = 0;
	}
}

/* The entry of h, made (as a full bucket) when missing: in the first empty slot of the window,
 * else one whose bucket is full, else the one closest to full (smallest tat). */
static struct proxy_rl_entry *rl_get(struct proxy_rl *rl, uint64_t h, uint64_t now, uint64_t now_ms)
{
	uint32_t i = home(rl, h), w = window(rl);
	struct proxy_rl_entry *empty = NULL, *idle = NULL, *oldest = NULL;
	for (uint32_t k = 0; k < w; k++) {
		struct proxy_rl_entry *e = &rl->slot[i];
		if (e->h == h)
			return e;
		if (e->h == 0) {
			if (!empty)
				empty = e;
		} else if (e->tat <= now) {
			if (!idle)
				idle = e;
		} else if (!oldest || e->tat < oldest->tat) {
			oldest = e;
		}
		if (++i == rl->n)
			i = 0;
	}
	struct proxy_rl_entry *v = empty ? empty : idle ? idle : oldest;
	if (empty)
		rl->st.used++;
	else if (!idle)
		rl_evicted(rl, now_ms, 1);
	rl->st.inserted++;
	v->h = h;
	v->tat = now; /* a full bucket */
	return v;
}

/* ---- buckets ------------------------------------------------------------------------------ */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* T and tau of a rate set, in ns. T == 0: more than one token per nanosecond, no limit. */
static void set_params(const struct proxy_rateset *rs, uint64_t *t, uint64_t *tau)
{
	uint64_t period = sat_mul(rs->period_ms, 1000000u);
	*t = period / (uint64_t)rs->average;
	*tau = sat_mul((uint64_t)rs->burst - 1, *t);
}

static uint64_t set_hash(const struct sip *base, const struct proxy_rateset *rs)
{
	struct sip s = *base;
	sip_u64(&s, rs->period_ms);
	sip_u64(&s, (uint64_t)rs->average);
	sip_u64(&s, (uint64_t)rs->burst);
	uint64_t h = sip_final(s);
	return h ? h : 1;
}

/* ---- shared mode -------------------------------------------------------------------------- *
 *
 * Layout of the caller's mapping: nsets lock words (rounded up to a cache line), then nsets
 * sets of PROXY_RL_PROBE entries, 128 bytes (two cache lines) each. A bucket lives in set
 * set_of(h) and may take any of its ways; the last set has only the ways left over so the table
 * holds max_keys buckets, as the private one does.
 *
 * A set is read and written only under its lock, a struct proxy_shlock (proxy_shlock.h: 0 when
 * free, else the pid of the holder; taken over when the holder is gone, broken after
 * PROXY_RL_LOCK_YIELDS yields; the maxConn table uses the same). Entries are relaxed atomics:
 * plain loads and stores on x86-64 and arm64, and no undefined behaviour even when a broken
 * lock lets two processes into one set (the result is then a wrong count, never a crash).
 * Lock-free atomics are address-free, which is what makes them work across processes. */

struct proxy_rl_shentry {
	_Atomic uint64_t h;   /* 0: empty */
	_Atomic uint64_t tat; /* ns */
};

struct proxy_rl_shset {
	struct proxy_rl_shentry e[PROXY_RL_PROBE];
};

_Static_assert(sizeof(struct proxy_rl_shset) == 128, "a set is two cache lines");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
	       "shared buckets need lock-free (address-free) 32- and 64-bit atomics");
_Static_assert((uint64_t)PROXY_RL_SHARED_MAX_KEYS * 17 < SIZE_MAX, "shared table size fits");

/* Hashes of the first RL_HCACHE rate sets of a request are kept on the stack; more (a
 * frontend may have any number) are recomputed when needed. */
#define RL_HCACHE 16u

static uint32_t sh_nsets(uint32_t max_keys)
{
	return (max_keys + PROXY_RL_PROBE - 1) / PROXY_RL_PROBE;
}

static size_t sh_lock_bytes(uint32_t nsets)
{
	return ((size_t)nsets * sizeof(struct proxy_shlock) + 63u) & ~(size_t)63u;
}

size_t proxy_rl_shared_bytes(uint32_t max_keys)
{
	if (max_keys == 0 || max_keys > PROXY_RL_SHARED_MAX_KEYS)
		return 0;
	uint32_t ns = sh_nsets(max_keys);
	return sh_lock_bytes(ns) + (size_t)ns * sizeof(struct proxy_rl_shset);
}

int proxy_rl_init_shared(struct proxy_rl *rl, void *mem, size_t bytes, uint32_t max_keys,
			 uint64_t k0, uint64_t k1)
{
	memset(rl, 0, sizeof *rl);
	size_t need = proxy_rl_shared_bytes(max_keys);
	if (need == 0 || !mem || ((uintptr_t)mem & 63u) != 0 || bytes < need)
		return -ERR_INVAL;
	rl->nsets = sh_nsets(max_keys);
	rl->locks = mem;
	rl->sets = (struct proxy_rl_shset *)((char *)mem + sh_lock_bytes(rl->nsets));
	rl->n = max_keys;
	rl->k0 = k0;
	rl->k1 = k1;
	rl->pid = (uint32_t)getpid();
	return 0;
}

static uint32_t set_of(const struct proxy_rl *rl, uint64_t h)
{
	return (uint32_t)(((h >> 32) * (uint64_t)rl->nsets) >> 32);
}

static uint32_t set_ways(const struct proxy_rl *rl, uint32_t s)
{
	return s + 1 < rl->nsets ? PROXY_RL_PROBE : rl->n - PROXY_RL_PROBE * (rl->nsets - 1);
}

/* Take set s's lock (proxy_shlock.h), counting a take-over. */
static void sh_lock(struct proxy_rl *rl, uint32_t s)
{
	enum proxy_shlock_took how = proxy_shlock_lock(&rl->locks[s], rl->pid);
	if (how == PROXY_SHLOCK_STOLEN)
		rl->st.lock_stolen++;
	else if (how == PROXY_SHLOCK_BROKEN)
		rl->st.lock_broken++;
}

static void sh_unlock(struct proxy_rl *rl, uint32_t s)
{
	proxy_shlock_unlock(&rl->locks[s], rl->pid);
}

/* The bucket hash of rate set i of the request, 0 when it limits nothing (no bucket). */
static uint64_t bucket_hash(const struct sip *base, const struct proxy_frontend *fe, uint32_t i)
{
	uint64_t t, tau;
	set_params(&fe->ratesets[i], &t, &tau);
	return t == 0 ? 0 : set_hash(base, &fe->ratesets[i]);
}

struct sh_req {
	const struct proxy_frontend *fe;
	const struct sip *base;
	uint64_t hc[RL_HCACHE]; /* bucket_hash of the first rate sets */
};

static uint64_t req_hash(const struct sh_req *q, uint32_t i)
{
	return i < RL_HCACHE ? q->hc[i] : bucket_hash(q->base, q->fe, i);
}

/* The lowest set above `after` (-1: none yet) holding a bucket of the request; -1 when none. */
static int64_t next_set(const struct proxy_rl *rl, const struct sh_req *q, int64_t after)
{
	int64_t best = -1;
	for (uint32_t i = 0; i < q->fe->nratesets; i++) {
		uint64_t h = req_hash(q, i);
		if (!h)
			continue;
		int64_t s = set_of(rl, h);
		if (s > after && (best < 0 || s < best))
			best = s;
	}
	return best;
}

/* Lock every set the request touches, each once, in ascending order: two takes that need the
 * same sets always want them in the same order, so they cannot deadlock. */
static void sh_lock_all(struct proxy_rl *rl, const struct sh_req *q)
{
	for (int64_t s = next_set(rl, q, -1); s >= 0; s = next_set(rl, q, s))
		sh_lock(rl, (uint32_t)s);
}

static void sh_unlock_all(struct proxy_rl *rl, const struct sh_req *q)
{
	for (int64_t s = next_set(rl, q, -1); s >= 0; s = next_set(rl, q, s))
		sh_unlock(rl, (uint32_t)s);
}

/* rl_find in a set (its lock held). */
static struct proxy_rl_shentry *sh_find(struct proxy_rl *rl, uint64_t h)
{
	uint32_t s = set_of(rl, h), w = set_ways(rl, s);
	struct proxy_rl_shentry *e = rl->sets[s].e;
	for (uint32_t k = 0; k < w; k++)
		if (atomic_load_explicit(&e[k].h, memory_order_relaxed) == h)
			return &e[k];
	return NULL;
}

/* rl_get in a set (its lock held): the same choice (an empty way, else an idle bucket, else
 * the one closest to full); evictions are added to *evicted and reported after unlocking. The
 * new entry's tat is written before its hash (release): a holder that dies in between leaves
 * the old key with a full bucket, never the new key with the old one's time. */
static struct proxy_rl_shentry *sh_get(struct proxy_rl *rl, uint64_t h, uint64_t now,
				       uint32_t *evicted)
{
	uint32_t s = set_of(rl, h), w = set_ways(rl, s);
	struct proxy_rl_shentry *e = rl->sets[s].e;
	struct proxy_rl_shentry *empty = NULL, *idle = NULL, *oldest = NULL;
	uint64_t oldest_tat = 0;
	for (uint32_t k = 0; k < w; k++) {
		uint64_t eh = atomic_load_explicit(&e[k].h, memory_order_relaxed);
		if (eh == h)
			return &e[k];
		uint64_t tat = atomic_load_explicit(&e[k].tat, memory_order_relaxed);
		if (eh == 0) {
			if (!empty)
				empty = &e[k];
		} else if (tat <= now) {
			if (!idle)
				idle = &e[k];
		} else if (!oldest || tat < oldest_tat) {
			oldest = &e[k];
			oldest_tat = tat;
		}
	}
	struct proxy_rl_shentry *v = empty ? empty : idle ? idle : oldest;
	if (empty)
		rl->st.used++;
	else if (!idle)
		(*evicted)++;
	rl->st.inserted++;
	atomic_store_explicit(&v->tat, now, memory_order_relaxed); /* a full bucket */
	atomic_store_explicit(&v->h, h, memory_order_release);
	return v;
}

/* proxy_rl_take's two passes under the locks of every set involved. */
static enum proxy_rl_verdict take_shared(struct proxy_rl *rl, const struct proxy_frontend *fe,
					 const struct sip *base, uint64_t now, uint64_t now_ms,
					 uint64_t *retry_ns)
{
	struct sh_req q = {.fe = fe, .base = base};
	for (uint32_t i = 0; i < fe->nratesets && i < RL_HCACHE; i++)
		q.hc[i] = bucket_hash(base, fe, i);
	uint64_t taken_over = rl->st.lock_stolen + rl->st.lock_broken;
	uint32_t evicted = 0;
	uint64_t wait = 0;

	sh_lock_all(rl, &q);
	/* Pass 1, read only: does every bucket have a token? */
	for (uint32_t i = 0; i < fe->nratesets; i++) {
		uint64_t h = req_hash(&q, i), t, tau;
		if (!h)
			continue;
		set_params(&fe->ratesets[i], &t, &tau);
		const struct proxy_rl_shentry *e = sh_find(rl, h);
		uint64_t tat = e ? atomic_load_explicit(&e->tat, memory_order_relaxed) : 0;
		if (tat < now)
			tat = now;
		if (tat - now > tau && tat - now - tau > wait)
			wait = tat - now - tau;
	}
	/* Pass 2: take one token from each. */
	for (uint32_t i = 0; wait == 0 && i < fe->nratesets; i++) {
		uint64_t h = req_hash(&q, i), t, tau;
		if (!h)
			continue;
		set_params(&fe->ratesets[i], &t, &tau);
		struct proxy_rl_shentry *e = sh_get(rl, h, now, &evicted);
		uint64_t tat = atomic_load_explicit(&e->tat, memory_order_relaxed);
		atomic_store_explicit(&e->tat, sat_add(tat > now ? tat : now, t),
				      memory_order_relaxed);
	}
	sh_unlock_all(rl, &q);

	/* Counting and logging, after the locks. */
	if (rl->st.lock_stolen + rl->st.lock_broken != taken_over &&
	    (!rl->lock_log_ms || now_ms - rl->lock_log_ms >= 1000)) {
		rl->lock_log_ms = now_ms ? now_ms : 1;
		log_warn("rate limit: took over a lock of the shared table (stolen: its holder "
			 "had exited; broken: held far too long)",
			 "stolen=%llu broken=%llu", (unsigned long long)rl->st.lock_stolen,
			 (unsigned long long)rl->st.lock_broken);
	}
	if (evicted)
		rl_evicted(rl, now_ms, evicted);
	if (wait > 0) {
		rl->st.limited++;
		if (rl->metrics)
			rl->metrics->eng.rl_rejected++;
		*retry_ns = wait;
		return PROXY_RL_LIMITED;
	}
	rl->st.allowed++;
	return PROXY_RL_ALLOW;
}

struct slice proxy_rl_key(const struct proxy_frontend *fe, const struct proxy_req_view *v,
			  struct slice client_ip)
{
	return proxy_extract_key(fe->ratelimit_extractor, fe->ratelimit_header, v, client_ip);
}

enum proxy_rl_verdict proxy_rl_take(struct proxy_rl *rl, const struct proxy_frontend *fe,
				    struct slice key, uint64_t now_ms, uint64_t *retry_ns)
{
	*retry_ns = 0;
	for (uint32_t i = 0; i < fe->nratesets; i++) {
		const struct proxy_rateset *rs = &fe->ratesets[i];
		if (rs->average < 1 || rs->burst < 1 || rs->period_ms == 0) {
			rl->st.invalid++;
			if (!rl->bad_log_ms || now_ms - rl->bad_log_ms >= 1000) {
				rl->bad_log_ms = now_ms ? now_ms : 1;
				log_warn("rate limit: unusable rate set, the frontend answers 404 "
					 "(Traefik v1 skips it)",
					 "frontend=\"%.*s\" rateset=\"%.*s\" average=%lld "
					 "burst=%lld",
					 (int)fe->name.len, fe->name.p, (int)rs->name.len,
					 rs->name.p, (long long)rs->average, (long long)rs->burst);
			}
			return PROXY_RL_INVALID;
		}
	}
	uint64_t now = sat_mul(now_ms, 1000000u);
	struct sip base;
	sip_init(&base, rl->k0, rl->k1);
	sip_u64(&base, fe->name.len);
	sip_update(&base, fe->name.p, fe->name.len);
	sip_update(&base, key.p, key.len);
	if (rl->sets)
		return take_shared(rl, fe, &base, now, now_ms, retry_ns);

	/* Pass 1, read only: does every bucket have a token? */
	uint64_t wait = 0;
	for (uint32_t i = 0; i < fe->nratesets; i++) {
		uint64_t t, tau;
		set_params(&fe->ratesets[i], &t, &tau);
		if (t == 0)
			continue;
		const struct proxy_rl_entry *e = rl_find(rl, set_hash(&base, &fe->ratesets[i]));
		uint64_t tat = e && e->tat > now ? e->tat : now;
		if (tat - now > tau && tat - now - tau > wait)
			wait = tat - now - tau;
	}
	if (wait > 0) {
		rl->st.limited++;
		if (rl->metrics)
			rl->metrics->eng.rl_rejected++;
		*retry_ns = wait;
		return PROXY_RL_LIMITED;
	}
	/* Pass 2: take one token from each. */
	for (uint32_t i = 0; i < fe->nratesets; i++) {
		uint64_t t, tau;
		set_params(&fe->ratesets[i], &t, &tau);
		if (t == 0)
			continue;
		struct proxy_rl_entry *e =
			rl_get(rl, set_hash(&base, &fe->ratesets[i]), now, now_ms);
		e->tat = sat_add(e->tat > now ? e->tat : now, t);
	}
	rl->st.allowed++;
	return PROXY_RL_ALLOW;
}

uint32_t proxy_rl_table_check(const struct proxy_table *t)
{
	uint32_t bad = 0;
	for (uint32_t f = 0; f < t->nfe; f++) {
		const struct proxy_frontend *fe = &t->fe[f];
		for (uint32_t i = 0; i < fe->nratesets; i++) {
			const struct proxy_rateset *rs = &fe->ratesets[i];
			if (rs->average >= 1 && rs->burst >= 1)
				continue;
			bad++;
			log_warn("rate limit: average and burst must be at least 1; Traefik v1 "
				 "skips "
				 "this frontend, its requests get 404",
				 "frontend=\"%.*s\" rateset=\"%.*s\" average=%lld burst=%lld",
				 (int)fe->name.len, fe->name.p, (int)rs->name.len, rs->name.p,
				 (long long)rs->average, (long long)rs->burst);
		}
	}
	return bad;
}

/* ---- the 429 ------------------------------------------------------------------------------ */

/* Decimal digits of v into p, then `frac` as `width` digits with trailing zeros dropped (and
 * the dot too when nothing is left). */
static size_t put_num(char *p, uint64_t v, uint64_t frac, int width)
{
	char tmp[24];
	size_t n = 0, k = 0;
	do {
		tmp[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (k)
		p[n++] = tmp[--k];
	if (frac) {
		char f[12];
		for (int i = width - 1; i >= 0; i--) {
			f[i] = (char)('0' + frac % 10);
			frac /= 10;
		}
		int len = width;
		while (len > 0 && f[len - 1] == '0')
			len--;
		p[n++] = '.';
		memcpy(p + n, f, (size_t)len);
		n += (size_t)len;
	}
	return n;
}

size_t proxy_rl_go_duration(uint64_t ns, char *out, size_t cap)
{
	char b[PROXY_RL_DURATION_MAX];
	size_t n = 0;
	if (ns == 0) {
		memcpy(b, "0s", 2);
		n = 2;
	} else if (ns < 1000u) {
		n = put_num(b, ns, 0, 0);
		memcpy(b + n, "ns", 2);
		n += 2;
	} else if (ns < 1000000u) {
		n = put_num(b, ns / 1000u, ns % 1000u, 3);
		memcpy(b + n, "\xc2\xb5s", 3); /* U+00B5 MICRO SIGN, as Go writes it */
		n += 3;
	} else if (ns < 1000000000u) {
		n = put_num(b, ns / 1000000u, ns % 1000000u, 6);
		memcpy(b + n, "ms", 2);
		n += 2;
	} else {
		uint64_t s = ns / 1000000000u, frac = ns % 1000000000u;
		uint64_t h = s / 3600u, m = (s / 60u) % 60u;
		s %= 60u;
		if (h) {
			n += put_num(b + n, h, 0, 0);
			b[n++] = 'h';
		}
		if (h || m) {
			n += put_num(b + n, m, 0, 0);
			b[n++] = 'm';
		}
		n += put_num(b + n, s, frac, 9);
		b[n++] = 's';
	}
	if (cap == 0)
		return 0;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, b, n);
	out[n] = 0;
	return n;
}

int proxy_rl_response_fields(struct buf *b, struct slice delay, char *body, size_t cap,
			     size_t *body_len)
{
	uint64_t ns = 0;
	if (delay.len == 0 || delay.len > 20 || cap < PROXY_RL_BODY_MAX)
		return -ERR_INVAL;
	for (size_t i = 0; i < delay.len; i++) {
		if (delay.p[i] < '0' || delay.p[i] > '9' || __builtin_mul_overflow(ns, 10u, &ns) ||
		    __builtin_add_overflow(ns, (uint64_t)(delay.p[i] - '0'), &ns))
			return -ERR_INVAL;
	}
	char d[PROXY_RL_DURATION_MAX];
	size_t dn = proxy_rl_go_duration(ns, d, sizeof d);
	uint64_t secs = ns / 1000000000u + (ns % 1000000000u != 0);
	size_t saved = b->len;
	int rc = buf_printf(b, "X-Retry-In: %.*s\r\nRetry-After: %llu\r\n", (int)dn, d,
			    (unsigned long long)secs);
	if (rc) {
		b->len = saved;
		return rc;
	}
	static const char pre[] = "max rate reached: retry-in ";
	memcpy(body, pre, sizeof pre - 1);
	memcpy(body + sizeof pre - 1, d, dn);
	*body_len = sizeof pre - 1 + dn;
	return 0;
}
