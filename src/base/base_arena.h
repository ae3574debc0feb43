/* base_arena.h — request-scoped bump allocators over caller memory.
 *
 * An arena carves allocations out of one block the caller owns (usually a
 * pool slot) and frees them all at once with arena_reset. It never grows:
 * when the block is spent arena_alloc returns NULL and latches
 * -ERR_ARENA_FULL in arena->err, so a sequence of allocations can be
 * checked once at the end.
 *
 * Fault injection (tests): arena->fail_after = N makes the (N+1)-th
 * allocation from now fail; negative disables it (the default).
 */
#ifndef BASE_ARENA_H
#define BASE_ARENA_H

#include <stddef.h>

struct arena {
	unsigned char *mem;
	size_t cap;
	size_t used;
	int err; /* first error, latched until arena_reset */
	long fail_after;
};

void arena_init(struct arena *a, void *mem, size_t cap);
/* size bytes aligned to max_align_t, or NULL (a->err = -ERR_ARENA_FULL). */
void *arena_alloc(struct arena *a, size_t size);
/* Copy of s (len bytes) plus a NUL, or NULL. */
char *arena_strndup(struct arena *a, const char *s, size_t len);
void arena_reset(struct arena *a);

#endif
