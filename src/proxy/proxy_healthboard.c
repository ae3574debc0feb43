/* proxy_healthboard.c — see proxy_healthboard.h and docs/internals/proxy-engine.md ("Health
 * checks with several workers").
 *
 * Layout: one cache line of header, then cap entries. An entry is free while its key is 0.
 * Slots are never emptied again (a key of an older epoch is replaced in place), so a lookup
 * that meets an empty slot can stop: nothing was ever placed beyond it for that home.
 *
 * state = epoch << 32 | (changes & 0x7fffffff) << 1 | up. */
#include "proxy/proxy_healthboard.h"

#include <stdatomic.h>
#include <string.h>

#include "base/base_err.h"

struct proxy_hb_head {
	_Atomic uint32_t epoch;
	uint32_t pad[15];
};

struct proxy_hb_entry {
	_Atomic uint64_t key; /* 0: free */
	_Atomic uint64_t state;
};

_Static_assert(sizeof(struct proxy_hb_head) == 64, "the header is one cache line");
_Static_assert(sizeof(struct proxy_hb_entry) == 16, "an entry is 16 bytes");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
	       "a shared board needs lock-free (address-free) 32- and 64-bit atomics");

#define LD(p) atomic_load_explicit((p), memory_order_relaxed)
#define LD_ACQ(p) atomic_load_explicit((p), memory_order_acquire)
#define ST(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define ST_REL(p, v) atomic_store_explicit((p), (v), memory_order_release)

static uint32_t hb_cap(uint32_t max_servers)
{
	uint32_t n = PROXY_HB_WINDOW;
	while (n < 4ull * max_servers)
		n *= 2;
	return n;
}

size_t proxy_hb_bytes(uint32_t max_servers)
{
	if (max_servers == 0 || max_servers > PROXY_HB_MAX_SERVERS)
		return 0;
	return sizeof(struct proxy_hb_head) +
	       (size_t)hb_cap(max_servers) * sizeof(struct proxy_hb_entry);
}

int proxy_hb_attach(struct proxy_hb *hb, void *mem, size_t bytes, uint32_t max_servers, bool writer,
		    uint64_t k0, uint64_t k1)
{
	memset(hb, 0, sizeof *hb);
	size_t need = proxy_hb_bytes(max_servers);
	if (need == 0 || !mem || ((uintptr_t)mem & 63u) != 0 || bytes < need)
		return -ERR_INVAL;
	hb->head = mem;
	hb->e = (struct proxy_hb_entry *)((unsigned char *)mem + sizeof(struct proxy_hb_head));
	hb->cap = hb_cap(max_servers);
	hb->writer = writer;
	hb->epoch = writer ? LD(&hb->head->epoch) : 0;
	hb->k0 = k0;
	hb->k1 = k1;
	return 0;
}

void proxy_hb_epoch_begin(struct proxy_hb *hb)
{
	uint32_t e = LD(&hb->head->epoch) + 1;
	if (e == 0)
		e = 1;
	ST(&hb->head->epoch, e);
	hb->epoch = e;
}

static uint64_t pack(uint32_t epoch, uint32_t changes, bool up)
{
	return (uint64_t)epoch << 32 | (uint64_t)(changes & 0x7fffffffu) << 1 | (up ? 1u : 0u);
}

int proxy_hb_set(struct proxy_hb *hb, uint64_t key, bool up)
{
	uint32_t mask = hb->cap - 1, home = (uint32_t)key & mask, reuse = UINT32_MAX;
	for (uint32_t d = 0; d < PROXY_HB_WINDOW; d++) {
		struct proxy_hb_entry *x = &hb->e[(home + d) & mask];
		uint64_t k = LD(&x->key);
		if (k == key) {
			uint64_t s = LD(&x->state);
			uint32_t changes = (uint32_t)(s >> 1) & 0x7fffffffu;
			if ((bool)(s & 1) != up)
				changes++;
			ST_REL(&x->state, pack(hb->epoch, changes, up));
			return 0;
		}
		if (k == 0) {
			if (reuse == UINT32_MAX)
				reuse = (home + d) & mask;
			break;
		}
		if (reuse == UINT32_MAX && (uint32_t)(LD(&x->state) >> 32) != hb->epoch)
			reuse = (home + d) & mask;
	}
	if (reuse == UINT32_MAX) {
		hb->st.full++;
		return -ERR_PROXY_SERVERS_FULL;
	}
	struct proxy_hb_entry *x = &hb->e[reuse];
	if (LD(&x->key)) {
		hb->st.evicted++;
		ST(&x->key, 0); /* a reader between the stores below sees a changed key */
	}
	ST_REL(&x->state, pack(hb->epoch, 0, up));
	ST_REL(&x->key, key);
	return 0;
}

int proxy_hb_get(const struct proxy_hb *hb, uint64_t key, struct proxy_hb_verdict *out)
{
	uint32_t mask = hb->cap - 1, home = (uint32_t)key & mask;
	for (uint32_t d = 0; d < PROXY_HB_WINDOW; d++) {
		struct proxy_hb_entry *x = &hb->e[(home + d) & mask];
		uint64_t k = LD_ACQ(&x->key);
		if (k == 0)
			return -ERR_NOTFOUND;
		if (k != key)
			continue;
		uint64_t s = LD_ACQ(&x->state);
		if (LD_ACQ(&x->key) != key)
			return -ERR_NOTFOUND; /* taken by another key meanwhile */
		out->up = s & 1;
		out->changes = (uint32_t)(s >> 1) & 0x7fffffffu;
		out->epoch = (uint32_t)(s >> 32);
		return 0;
	}
	return -ERR_NOTFOUND;
}
