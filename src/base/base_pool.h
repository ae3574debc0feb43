/* base_pool.h — typed fixed-capacity object pools.
 *
 * A pool hands out objects of one size from memory allocated once, at
 * start-up, from a configured capacity. After pool_init nothing allocates:
 * when every slot is in use pool_get fails with -ERR_POOL_EMPTY, which the
 * caller turns into a clear refusal (503, stop accepting) and a log line.
 *
 * Objects are also reachable through handles (slot index + generation).
 * A handle kept across events survives the object's release safely:
 * pool_deref returns NULL once the slot was put back, even if it was
 * handed out again since. Prefer handles to raw pointers between objects.
 *
 * Fault injection (tests): pool->fail_after = N makes the (N+1)-th
 * pool_get from now fail with -ERR_POOL_EMPTY as if the pool were full;
 * negative disables it (the default).
 */
#ifndef BASE_POOL_H
#define BASE_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool_handle {
	uint32_t index;
	uint32_t gen; /* 0 is never a live generation: a zeroed handle is null */
};

struct pool {
	const char *name;    /* for logs: the setting behind the cap, e.g. "max_conns" */
	unsigned char *mem;  /* cap * stride bytes */
	uint32_t *gens;      /* per slot; odd = in use, even = free */
	uint32_t *free_next; /* free list links */
	size_t stride;       /* object size rounded up to max_align_t */
	uint32_t cap;
	uint32_t used;
	uint32_t high_water;
	uint32_t free_head;
	uint64_t exhausted; /* times pool_get failed for want of a slot */
	long fail_after;    /* fault injection; < 0 disables */
	/* The owner zeroes every object before pool_put (a wipe it needs anyway), so
	 * pool_get zeroes a slot only on its first use: set after pool_init. Test builds
	 * check the promise. */
	bool put_zeroed;
};

/* Allocate cap slots of obj_size bytes (the only allocation). cap >= 1.
 * -ERR_INVAL for cap 0 or absurd sizes, -ERR_NOMEM if memory is short. */
int pool_init(struct pool *p, const char *name, size_t obj_size, uint32_t cap);
/* The same with every object on an `align` boundary (a power of two, at least
 * alignof(max_align_t), at most 1 MiB; e.g. the page size, so that objects
 * whose size is a multiple of it can give pages back with madvise). */
int pool_init_aligned(struct pool *p, const char *name, size_t obj_size, uint32_t cap,
		      size_t align);
void pool_fini(struct pool *p);
/* Take a zeroed object (zeroed here, or by its last owner under put_zeroed). 0 and *out
 * set, or -ERR_POOL_EMPTY. */
int pool_get(struct pool *p, void **out);
/* Return an object obtained from pool_get. Putting an object twice or one
 * from another pool is a programmer error (asserts). */
void pool_put(struct pool *p, void *obj);
struct pool_handle pool_handle_of(const struct pool *p, const void *obj);
/* The live object of a handle, or NULL if it was released (or is null). */
void *pool_deref(const struct pool *p, struct pool_handle h);
/* Worst-case bytes this pool holds (for --print-limits). */
size_t pool_bytes(const struct pool *p);

#endif
