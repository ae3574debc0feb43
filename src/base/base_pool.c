/* base_pool.c — see base_pool.h. */
#include "base/base_pool.h"

#include "base/base_err.h"

#include <assert.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define POOL_NIL UINT32_MAX

int pool_init(struct pool *p, const char *name, size_t obj_size, uint32_t cap)
{
	return pool_init_aligned(p, name, obj_size, cap, alignof(max_align_t));
}

int pool_init_aligned(struct pool *p, const char *name, size_t obj_size, uint32_t cap, size_t align)
{
	memset(p, 0, sizeof *p);
	p->fail_after = -1;
	if (align < alignof(max_align_t) || (align & (align - 1)) || align > ((size_t)1 << 20))
		return -ERR_INVAL;
	if (cap == 0 || cap == POOL_NIL || obj_size == 0 || obj_size > ((size_t)1 << 30))
		return -ERR_INVAL;
	size_t stride = (obj_size + align - 1) / align * align;
	if (stride > SIZE_MAX / cap)
		return -ERR_INVAL;
	p->mem = aligned_alloc(align, stride * cap);
	p->gens = calloc(cap, sizeof *p->gens);
	p->free_next = calloc(cap, sizeof *p->free_next);
	if (!p->mem || !p->gens || !p->free_next) {
		pool_fini(p);
		return -ERR_NOMEM;
	}
	p->name = name;
	p->stride = stride;
	p->cap = cap;
	for (uint32_t i = 0; i < cap; i++)
		p->free_next[i] = i + 1 < cap ? i + 1 : POOL_NIL;
	p->free_head = 0;
	return 0;
}

void pool_fini(struct pool *p)
{
	free(p->mem);
	free(p->gens);
	free(p->free_next);
	p->mem = NULL;
	p->gens = NULL;
	p->free_next = NULL;
	p->cap = p->used = 0;
}

int pool_get(struct pool *p, void **out)
{
	if (p->fail_after >= 0 && p->fail_after-- == 0) {
		p->exhausted++;
		return -ERR_POOL_EMPTY;
	}
	if (p->free_head == POOL_NIL) {
		p->exhausted++;
		return -ERR_POOL_EMPTY;
	}
	uint32_t i = p->free_head;
	bool first = p->gens[i] == 0; /* never handed out: aligned_alloc's memory, not zeroed */
	p->free_head = p->free_next[i];
	p->gens[i]++; /* even -> odd: in use */
	assert(p->gens[i] & 1);
	p->used++;
	if (p->used > p->high_water)
		p->high_water = p->used;
	unsigned char *obj = p->mem + (size_t)i * p->stride;
	if (!p->put_zeroed || first) {
		memset(obj, 0, p->stride);
	} else {
#ifdef TEE_TEST_BUILD
		for (size_t k = 0; k < p->stride; k++)
			assert(obj[k] == 0 && "put_zeroed pool got an object back unwiped");
#endif
	}
	*out = obj;
	return 0;
}

static uint32_t pool_index(const struct pool *p, const void *obj)
{
	const unsigned char *o = obj;
	assert(o >= p->mem && o < p->mem + (size_t)p->cap * p->stride);
	size_t off = (size_t)(o - p->mem);
	assert(off % p->stride == 0);
	return (uint32_t)(off / p->stride);
}

void pool_put(struct pool *p, void *obj)
{
	uint32_t i = pool_index(p, obj);
	assert(p->gens[i] & 1); /* double put */
	p->gens[i]++;           /* odd -> even: free; old handles go stale */
	p->free_next[i] = p->free_head;
	p->free_head = i;
	p->used--;
}

struct pool_handle pool_handle_of(const struct pool *p, const void *obj)
{
	uint32_t i = pool_index(p, obj);
	return (struct pool_handle){i, p->gens[i]};
}

void *pool_deref(const struct pool *p, struct pool_handle h)
{
	if (h.gen == 0 || h.index >= p->cap || p->gens[h.index] != h.gen)
		return NULL;
	return p->mem + (size_t)h.index * p->stride;
}

size_t pool_bytes(const struct pool *p)
{
	return (size_t)p->cap * (p->stride + 2 * sizeof(uint32_t));
}
