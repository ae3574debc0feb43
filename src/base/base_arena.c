/* base_arena.c — see base_arena.h. */
#include "base/base_arena.h"

#include "base/base_err.h"

#include <stdalign.h>
#include <stdint.h>
#include <string.h>

void arena_init(struct arena *a, void *mem, size_t cap)
{
	a->mem = mem;
	a->cap = cap;
	a->used = 0;
	a->err = 0;
	a->fail_after = -1;
}

void *arena_alloc(struct arena *a, size_t size)
{
	const size_t align = alignof(max_align_t);
	if (a->fail_after >= 0 && a->fail_after-- == 0)
		goto full;
	uintptr_t base = (uintptr_t)a->mem;
	uintptr_t at = (base + a->used + align - 1) & ~(uintptr_t)(align - 1);
	size_t start = (size_t)(at - base);
	if (start > a->cap || size > a->cap - start)
		goto full;
	a->used = start + size;
	return a->mem + start;
full:
	if (!a->err)
		a->err = -ERR_ARENA_FULL;
	return NULL;
}

char *arena_strndup(struct arena *a, const char *s, size_t len)
{
	if (len == SIZE_MAX) {
		if (!a->err)
			a->err = -ERR_ARENA_FULL;
		return NULL;
	}
	char *out = arena_alloc(a, len + 1);
	if (!out)
		return NULL;
	if (len)
		memcpy(out, s, len);
	out[len] = 0;
	return out;
}

void arena_reset(struct arena *a)
{
	a->used = 0;
	a->err = 0;
}
