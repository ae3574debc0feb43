/* Unit tests for base_pool and base_arena: caps on both sides, handles,
 * fault injection. */
#include "base/base_arena.h"
#include "base/base_err.h"
#include "base/base_pool.h"
#include "test.h"

#include <stdalign.h>
#include <stdint.h>

struct conn {
	int fd;
	char name[13];
};

static void pool_cap_both_sides(void)
{
	struct pool p;
	REQUIRE(pool_init(&p, "max_conns", sizeof(struct conn), 4) == 0);
	void *objs[4];
	for (int i = 0; i < 4; i++) /* up to the cap: every get succeeds */
		CHECK_EQ_INT(pool_get(&p, &objs[i]), 0);
	CHECK_EQ_INT(p.used, 4);
	void *extra = NULL;
	CHECK_EQ_INT(pool_get(&p, &extra), -ERR_POOL_EMPTY); /* just over */
	CHECK(extra == NULL);
	CHECK_EQ_INT(p.exhausted, 1);
	pool_put(&p, objs[2]); /* recovers after a release */
	CHECK_EQ_INT(pool_get(&p, &extra), 0);
	CHECK(extra == objs[2]);
	CHECK_EQ_INT(p.high_water, 4);
	pool_fini(&p);
}

static void pool_objects_zeroed_aligned_distinct(void)
{
	struct pool p;
	REQUIRE(pool_init(&p, "t", 3, 8) == 0);
	void *a, *b;
	REQUIRE(pool_get(&p, &a) == 0);
	memset(a, 0xab, 3);
	pool_put(&p, a);
	REQUIRE(pool_get(&p, &b) == 0);
	CHECK(b == a);
	CHECK(((unsigned char *)b)[0] == 0 && ((unsigned char *)b)[2] == 0);
	void *c;
	REQUIRE(pool_get(&p, &c) == 0);
	CHECK(c != b);
	CHECK((uintptr_t)c % alignof(max_align_t) == 0);
	CHECK(pool_bytes(&p) >= 8 * 3);
	pool_fini(&p);
}

/* put_zeroed: a slot's first get still zeroes it (aligned_alloc's memory is dirty); after
 * that the owner's wipe is what makes it zero, and the pool leaves it alone. */
static void pool_put_zeroed_first_use(void)
{
	struct pool p;
	REQUIRE(pool_init(&p, "t", 64, 2) == 0);
	p.put_zeroed = true;
	memset(p.mem, 0x5a, p.stride * 2); /* as if the allocator returned used memory */
	unsigned char *a, *b;
	REQUIRE(pool_get(&p, (void **)&a) == 0);
	CHECK(a[0] == 0 && a[63] == 0);
	memset(a, 0, 64); /* the owner's wipe */
	pool_put(&p, a);
	REQUIRE(pool_get(&p, (void **)&b) == 0);
	CHECK(b == a && b[0] == 0 && b[63] == 0);
	unsigned char *c;
	REQUIRE(pool_get(&p, (void **)&c) == 0); /* the second slot, first use: zeroed too */
	CHECK(c != b && c[0] == 0 && c[63] == 0);
	pool_fini(&p);
}

static void pool_handles_go_stale(void)
{
	struct pool p;
	REQUIRE(pool_init(&p, "t", sizeof(struct conn), 1) == 0);
	struct conn *c;
	REQUIRE(pool_get(&p, (void **)&c) == 0);
	struct pool_handle h = pool_handle_of(&p, c);
	CHECK(pool_deref(&p, h) == c);
	pool_put(&p, c);
	CHECK(pool_deref(&p, h) == NULL); /* released */
	struct conn *again;
	REQUIRE(pool_get(&p, (void **)&again) == 0);
	CHECK(again == c);                /* same slot reused ... */
	CHECK(pool_deref(&p, h) == NULL); /* ... but the old handle stays stale */
	CHECK(pool_deref(&p, pool_handle_of(&p, again)) == again);
	struct pool_handle null = {0, 0};
	CHECK(pool_deref(&p, null) == NULL);
	struct pool_handle bad = {7, 1};
	CHECK(pool_deref(&p, bad) == NULL);
	pool_fini(&p);
}

static void pool_fault_injection(void)
{
	struct pool p;
	REQUIRE(pool_init(&p, "t", 8, 16) == 0);
	p.fail_after = 2;
	void *o;
	CHECK_EQ_INT(pool_get(&p, &o), 0);
	CHECK_EQ_INT(pool_get(&p, &o), 0);
	CHECK_EQ_INT(pool_get(&p, &o), -ERR_POOL_EMPTY); /* the 3rd fails */
	CHECK_EQ_INT(pool_get(&p, &o), 0);               /* then it is disarmed */
	CHECK_EQ_INT(p.used, 3);
	pool_fini(&p);
}

static void pool_init_rejects(void)
{
	struct pool p;
	CHECK_EQ_INT(pool_init(&p, "t", 8, 0), -ERR_INVAL);
	CHECK_EQ_INT(pool_init(&p, "t", 0, 8), -ERR_INVAL);
	CHECK_EQ_INT(pool_init(&p, "t", (size_t)1 << 31, 8), -ERR_INVAL);
}

static void arena_cap_both_sides(void)
{
	alignas(max_align_t) unsigned char mem[64];
	struct arena a;
	arena_init(&a, mem, sizeof mem);
	CHECK(arena_alloc(&a, 64) == mem); /* exactly the block */
	CHECK_EQ_INT(a.err, 0);
	CHECK(arena_alloc(&a, 1) == NULL); /* one byte over */
	CHECK_EQ_INT(a.err, -ERR_ARENA_FULL);
	arena_reset(&a);
	CHECK_EQ_INT(a.err, 0);
	void *x = arena_alloc(&a, 1);
	void *y = arena_alloc(&a, 1);
	CHECK(x && y && (uintptr_t)y % alignof(max_align_t) == 0);
	CHECK(arena_alloc(&a, 64) == NULL);
	CHECK(arena_alloc(&a, SIZE_MAX) == NULL);
	arena_reset(&a);
	char *s = arena_strndup(&a, "hello", 5);
	CHECK_EQ_STR(s, "hello");
	CHECK(arena_strndup(&a, "x", SIZE_MAX) == NULL);
}

static void arena_fault_injection(void)
{
	alignas(max_align_t) unsigned char mem[256];
	struct arena a;
	arena_init(&a, mem, sizeof mem);
	a.fail_after = 1;
	CHECK(arena_alloc(&a, 8) != NULL);
	CHECK(arena_alloc(&a, 8) == NULL);
	CHECK_EQ_INT(a.err, -ERR_ARENA_FULL);
	CHECK(arena_alloc(&a, 8) != NULL); /* disarmed; err stays latched */
	CHECK_EQ_INT(a.err, -ERR_ARENA_FULL);
}

/* pool_init_aligned: every object on the boundary asked for (a page here), stride included;
 * alignments that are not powers of two or below max_align_t are refused. */
static void pool_aligned_objects(void)
{
	struct pool p;
	CHECK_EQ_INT(pool_init_aligned(&p, "pg", 5000, 3, 4096), 0);
	void *o[3];
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(pool_get(&p, &o[i]), 0);
		CHECK(((uintptr_t)o[i] & 4095) == 0);
	}
	CHECK_EQ_INT(p.stride, 8192);
	pool_fini(&p);
	CHECK_EQ_INT(pool_init_aligned(&p, "odd", 64, 2, 3000), -ERR_INVAL);
	CHECK_EQ_INT(pool_init_aligned(&p, "small", 64, 2, 1), -ERR_INVAL);
}

TEST_MAIN(pool_cap_both_sides, pool_objects_zeroed_aligned_distinct, pool_put_zeroed_first_use,
	  pool_handles_go_stale, pool_fault_injection, pool_init_rejects, pool_aligned_objects,
	  arena_cap_both_sides, arena_fault_injection)
