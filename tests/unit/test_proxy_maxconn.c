/* Unit tests for proxy_maxconn.h, the maxConn counts shared by the worker processes of a node:
 * sizes and attach errors; acquire up to amount, the refusal, release; the per-worker key cap
 * and a full set; two forked workers hammering one key never holding more than amount at once
 * (a shared counter of slots held concurrently); a worker SIGKILLed while it holds counts,
 * released by the master's proxy_mc_reap; a worker dying between the two steps of an acquire
 * or a release (inside the set lock): the lock is taken over, totals are clamped at 0 and
 * exact again once the key's requests are done; a worker killed in a backward shift of its
 * holdings (the pair counted once); holdings churn. */
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base_err.h"
#include "proxy/proxy_maxconn.h"
#include "test.h"

struct region {
	void *mem;
	size_t bytes;
};

static int region_open(struct region *r, uint32_t max_keys, uint32_t workers)
{
	r->bytes = proxy_mc_bytes(max_keys, workers);
	if (r->bytes == 0)
		return -1;
	r->mem = mmap(NULL, r->bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return r->mem == MAP_FAILED ? -1 : 0;
}

static void region_close(struct region *r)
{
	munmap(r->mem, r->bytes);
}

/* A key in set 0 of a table of nsets sets (set_of takes the high 32 bits). */
static uint64_t key_in_first_set(uint32_t i)
{
	return 0x100u + i;
}

static void sizes_and_attach(void)
{
	CHECK_EQ_INT(proxy_mc_bytes(0, 2), 0);
	CHECK_EQ_INT(proxy_mc_bytes(4, 0), 0);
	CHECK_EQ_INT(proxy_mc_bytes(4, PROXY_MC_MAX_WORKERS + 1), 0);
	CHECK_EQ_INT(proxy_mc_bytes(PROXY_MC_MAX_KEYS + 1, 2), 0);
	/* 4 keys, 2 workers: 16 ways = 2 sets (64 bytes of locks, 256 of totals), 2 x 8 holdings */
	CHECK_EQ_INT(proxy_mc_bytes(4, 2), 64 + 2 * 128 + 2 * 8 * 16);
	CHECK_EQ_INT(proxy_mc_bytes(4096, 2) % 64, 0);
	struct region r;
	REQUIRE(region_open(&r, 4, 2) == 0);
	struct proxy_mc mc;
	CHECK_EQ_INT(proxy_mc_attach(&mc, r.mem, r.bytes - 1, 4, 2, 0, 1, 2), -ERR_INVAL);
	CHECK_EQ_INT(proxy_mc_attach(&mc, (char *)r.mem + 8, r.bytes, 4, 2, 0, 1, 2), -ERR_INVAL);
	CHECK_EQ_INT(proxy_mc_attach(&mc, r.mem, r.bytes, 4, 2, 2, 1, 2), -ERR_INVAL);
	CHECK_EQ_INT(proxy_mc_attach(&mc, NULL, r.bytes, 4, 2, 0, 1, 2), -ERR_INVAL);
	CHECK_EQ_INT(proxy_mc_attach(&mc, r.mem, r.bytes, 4, 2, 1, 11, 12), 0);
	CHECK(mc.hold != NULL);
	CHECK_EQ_INT(mc.k0, 11);
	CHECK_EQ_INT(mc.k1, 12);
	CHECK_EQ_INT(proxy_mc_attach(&mc, r.mem, r.bytes, 4, 2, PROXY_MC_MASTER, 11, 12), 0);
	CHECK(mc.hold == NULL);
	region_close(&r);
}

/* Two workers of one node (two views, one process): amount is the node's. */
static void acquire_refuse_release(void)
{
	struct region r;
	REQUIRE(region_open(&r, 16, 2) == 0);
	struct proxy_mc a, b;
	REQUIRE(proxy_mc_attach(&a, r.mem, r.bytes, 16, 2, 0, 1, 2) == 0);
	REQUIRE(proxy_mc_attach(&b, r.mem, r.bytes, 16, 2, 1, 1, 2) == 0);
	const uint64_t k = 0x123456789abcdefull, k2 = 0xfedcba9876543210ull;
	CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), 0);
	CHECK_EQ_INT(proxy_mc_acquire(&b, k, 3), 0);
	CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), 0);
	CHECK_EQ_INT(proxy_mc_total(&a, k), 3);
	/* just over: refused in both workers, nothing changed */
	CHECK_EQ_INT(proxy_mc_acquire(&b, k, 3), -ERR_PROXY_MAXCONN);
	CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), -ERR_PROXY_MAXCONN);
	CHECK_EQ_INT(proxy_mc_total(&b, k), 3);
	CHECK_EQ_INT(b.hused, 1); /* the refused acquire left no holding behind */
	/* another key is not limited by k */
	CHECK_EQ_INT(proxy_mc_acquire(&b, k2, 1), 0);
	CHECK_EQ_INT(proxy_mc_acquire(&a, k2, 1), -ERR_PROXY_MAXCONN);
	CHECK_EQ_INT(a.hused, 1);
	/* a release frees a slot for any worker */
	proxy_mc_release(&a, k);
	CHECK_EQ_INT(proxy_mc_total(&a, k), 2);
	CHECK_EQ_INT(proxy_mc_acquire(&b, k, 3), 0);
	CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), -ERR_PROXY_MAXCONN);
	/* a key a worker does not hold: its release changes nothing */
	proxy_mc_release(&a, k2);
	CHECK_EQ_INT(proxy_mc_total(&a, k2), 1);
	proxy_mc_release(&a, k);
	proxy_mc_release(&b, k);
	proxy_mc_release(&b, k);
	proxy_mc_release(&b, k2);
	CHECK_EQ_INT(proxy_mc_total(&a, k), 0);
	CHECK_EQ_INT(proxy_mc_total(&a, k2), 0);
	CHECK_EQ_INT(a.hused, 0);
	CHECK_EQ_INT(b.hused, 0);
	/* released more often than acquired: still 0, and amount is whole again */
	proxy_mc_release(&b, k);
	CHECK_EQ_INT(proxy_mc_total(&a, k), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), 0);
	CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), -ERR_PROXY_MAXCONN);
	region_close(&r);
}

/* max_keys distinct keys per worker; a set of totals that is full refuses a new key. */
static void keys_full(void)
{
	struct region r;
	REQUIRE(region_open(&r, 8, 2) == 0); /* 32 ways: 4 sets */
	struct proxy_mc a, b;
	REQUIRE(proxy_mc_attach(&a, r.mem, r.bytes, 8, 2, 0, 1, 2) == 0);
	REQUIRE(proxy_mc_attach(&b, r.mem, r.bytes, 8, 2, 1, 1, 2) == 0);
	REQUIRE(a.nsets == 4);
	/* worker a: 8 keys, all in set 0, fill it and its holdings */
	for (uint32_t i = 0; i < 8; i++)
		CHECK_EQ_INT(proxy_mc_acquire(&a, key_in_first_set(i), 5), 0);
	const uint64_t far = 0xf0000000f0000000ull;                            /* set 3 */
	CHECK_EQ_INT(proxy_mc_acquire(&a, far, 5), -ERR_PROXY_CONN_KEYS_FULL); /* 9th key */
	CHECK_EQ_INT(a.st.full, 1);
	CHECK_EQ_INT(proxy_mc_acquire(&a, key_in_first_set(3), 5), 0); /* a key it holds */
	/* worker b: set 0 is full, set 3 is not */
	CHECK_EQ_INT(proxy_mc_acquire(&b, key_in_first_set(8), 5), -ERR_PROXY_CONN_KEYS_FULL);
	CHECK_EQ_INT(b.st.full, 1);
	CHECK_EQ_INT(b.hused, 0);
	CHECK_EQ_INT(proxy_mc_acquire(&b, far, 5), 0);
	CHECK_EQ_INT(proxy_mc_acquire(&b, key_in_first_set(2), 5), 0); /* counted with a's */
	CHECK_EQ_INT(proxy_mc_total(&b, key_in_first_set(2)), 2);
	/* a key released to 0 frees its way */
	proxy_mc_release(&a, key_in_first_set(5));
	CHECK_EQ_INT(proxy_mc_acquire(&b, key_in_first_set(8), 5), 0);
	CHECK_EQ_INT(proxy_mc_acquire(&a, far, 5), 0);
	CHECK_EQ_INT(proxy_mc_total(&a, far), 2);
	region_close(&r);
}

/* Two worker processes take and give back slots of one key as fast as they can; a shared
 * counter of slots held at once must never exceed amount. */
struct hammer {
	_Atomic uint32_t held;     /* slots held right now, by both */
	_Atomic uint32_t max_held; /* the most seen */
	_Atomic uint32_t over;     /* times held went over amount */
	_Atomic uint64_t got, refused;
};

static void hammer_worker(struct region *r, struct hammer *hm, uint32_t slot, uint64_t key,
			  uint32_t amount, int rounds)
{
	struct proxy_mc mc;
	if (proxy_mc_attach(&mc, r->mem, r->bytes, 64, 2, slot, 1, 2) != 0)
		_exit(2);
	uint64_t mine = 0;
	for (int i = 0; i < rounds; i++) {
		/* each worker wants `amount` slots at once: together they want twice that */
		uint32_t n = 0;
		for (uint32_t j = 0; j < amount; j++) {
			int rc = proxy_mc_acquire(&mc, key, amount);
			if (rc == -ERR_PROXY_MAXCONN) {
				atomic_fetch_add(&hm->refused, 1);
				continue;
			}
			if (rc != 0)
				_exit(3);
			n++;
			uint32_t now = atomic_fetch_add(&hm->held, 1) + 1;
			uint32_t m = atomic_load(&hm->max_held);
			while (now > m && !atomic_compare_exchange_weak(&hm->max_held, &m, now))
				;
			if (now > amount)
				atomic_fetch_add(&hm->over, 1);
		}
		mine += n;
		if (i % 7 == 0)
			sched_yield();
		for (; n > 0; n--) {
			atomic_fetch_sub(&hm->held, 1);
			proxy_mc_release(&mc, key);
		}
	}
	atomic_fetch_add(&hm->got, mine);
	_exit(mc.hused == 0 ? 0 : 4);
}

static void two_processes_one_key(void)
{
	struct region r;
	REQUIRE(region_open(&r, 64, 2) == 0);
	struct hammer *hm =
		mmap(NULL, sizeof *hm, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(hm != MAP_FAILED);
	memset(hm, 0, sizeof *hm);
	const uint64_t key = 0x5555aaaa5555aaaaull;
	const uint32_t amount = 3;
	const int rounds = 40000;
	pid_t pid[2];
	for (uint32_t s = 0; s < 2; s++) {
		pid[s] = fork();
		REQUIRE(pid[s] >= 0);
		if (pid[s] == 0) {
			alarm(60);
			hammer_worker(&r, hm, s, key, amount, rounds);
		}
	}
	for (int s = 0; s < 2; s++) {
		int status = 0;
		CHECK_EQ_INT(waitpid(pid[s], &status, 0), pid[s]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK_EQ_INT(atomic_load(&hm->over), 0);
	CHECK(atomic_load(&hm->max_held) <= amount);
	CHECK_EQ_INT(atomic_load(&hm->max_held), amount); /* reached: the bound was tested */
	CHECK(atomic_load(&hm->refused) > 0);             /* they did compete */
	CHECK_EQ_INT(atomic_load(&hm->got) + atomic_load(&hm->refused), 2 * rounds * amount);
	struct proxy_mc m;
	REQUIRE(proxy_mc_attach(&m, r.mem, r.bytes, 64, 2, PROXY_MC_MASTER, 1, 2) == 0);
	CHECK_EQ_INT(proxy_mc_total(&m, key), 0);
	if (getenv("PROXY_BENCH"))
		printf("# hammer: got %llu refused %llu max_held %u\n",
		       (unsigned long long)atomic_load(&hm->got),
		       (unsigned long long)atomic_load(&hm->refused), atomic_load(&hm->max_held));
	munmap(hm, sizeof *hm);
	region_close(&r);
}

/* A worker SIGKILLed while it holds counts: until the master reaps its slot the node's
 * capacity is short; after, it is whole, and the slot's holdings are zero for the next one. */
static void dead_worker_reaped(void)
{
	struct region r;
	REQUIRE(region_open(&r, 16, 2) == 0);
	const uint64_t k = 0x0102030405060708ull, k2 = 0x1112131415161718ull;
	int fds[2];
	REQUIRE(pipe(fds) == 0);
	pid_t child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		struct proxy_mc w;
		alarm(60);
		close(fds[0]);
		if (proxy_mc_attach(&w, r.mem, r.bytes, 16, 2, 1, 1, 2) != 0)
			_exit(2);
		for (int i = 0; i < 3; i++)
			if (proxy_mc_acquire(&w, k, 3) != 0)
				_exit(3);
		if (proxy_mc_acquire(&w, k2, 3) != 0)
			_exit(3);
		char c = 'x';
		if (write(fds[1], &c, 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(fds[1]);
	char c;
	CHECK_EQ_INT(read(fds[0], &c, 1), 1);
	close(fds[0]);
	kill(child, SIGKILL);
	int status = 0;
	CHECK_EQ_INT(waitpid(child, &status, 0), child);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	struct proxy_mc a, m;
	REQUIRE(proxy_mc_attach(&a, r.mem, r.bytes, 16, 2, 0, 1, 2) == 0);
	REQUIRE(proxy_mc_attach(&m, r.mem, r.bytes, 16, 2, PROXY_MC_MASTER, 1, 2) == 0);
	CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), -ERR_PROXY_MAXCONN); /* the dead one's 3 */
	CHECK_EQ_INT(proxy_mc_acquire(&a, k2, 3), 0);
	CHECK_EQ_INT(proxy_mc_total(&m, k2), 2);
	CHECK_EQ_INT(proxy_mc_reap(&m, 1), 4);
	CHECK_EQ_INT(m.st.reaped, 4);
	CHECK_EQ_INT(proxy_mc_total(&m, k), 0);
	CHECK_EQ_INT(proxy_mc_total(&m, k2), 1); /* worker a's own stays */
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), 0);
	CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), -ERR_PROXY_MAXCONN);
	/* reaped once: the slot is zero, a second reap subtracts nothing */
	CHECK_EQ_INT(proxy_mc_reap(&m, 1), 0);
	CHECK_EQ_INT(proxy_mc_total(&m, k), 3);
	/* a replacement in slot 1 starts with no holdings */
	struct proxy_mc b;
	REQUIRE(proxy_mc_attach(&b, r.mem, r.bytes, 16, 2, 1, 1, 2) == 0);
	proxy_mc_release(&b, k); /* not its count */
	CHECK_EQ_INT(proxy_mc_total(&m, k), 3);
	/* reaping a live worker's slot is the caller's mistake; an unknown slot is refused */
	CHECK_EQ_INT(proxy_mc_reap(&m, 2), 0);
	region_close(&r);
}

/* Run `die_at` in a forked worker of slot 1 after it acquired `pre` slots of k (amount 3):
 * it _exits inside the set lock. */
static void die_in_child(struct region *r, uint64_t k, int pre, uint8_t die_at)
{
	pid_t child = fork();
	if (child < 0)
		return;
	if (child == 0) {
		struct proxy_mc w;
		alarm(60);
		if (proxy_mc_attach(&w, r->mem, r->bytes, 16, 2, 1, 1, 2) != 0)
			_exit(2);
		for (int i = 0; i < pre; i++)
			if (proxy_mc_acquire(&w, k, 3) != 0)
				_exit(3);
		w.die_at = die_at;
		if (die_at == PROXY_MC_DIE_ACQUIRE)
			proxy_mc_acquire(&w, k, 3);
		else
			proxy_mc_release(&w, k);
		_exit(5); /* not reached */
	}
	int status = 0;
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void death_between_steps(void)
{
	struct region r;
	REQUIRE(region_open(&r, 16, 2) == 0);
	const uint64_t k = 0x7777000077770000ull;
	struct proxy_mc a, m;
	REQUIRE(proxy_mc_attach(&a, r.mem, r.bytes, 16, 2, 0, 1, 2) == 0);
	REQUIRE(proxy_mc_attach(&m, r.mem, r.bytes, 16, 2, PROXY_MC_MASTER, 1, 2) == 0);

	/* acquire: the holding was recorded, the total not; the dead worker held the lock */
	CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), 0);
	CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), 0);
	die_in_child(&r, k, 0, PROXY_MC_DIE_ACQUIRE);
	CHECK_EQ_INT(proxy_mc_reap(&m, 1), 1);
	CHECK_EQ_INT(m.st.lock_stolen, 1);      /* the master took the dead worker's lock over */
	CHECK_EQ_INT(proxy_mc_total(&m, k), 1); /* one below the 2 open: over-admission of one */
	CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), 0);
	CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), 0);
	CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), -ERR_PROXY_MAXCONN); /* 4 open, total 3 */
	for (int i = 0; i < 4; i++)
		proxy_mc_release(&a, k);
	CHECK_EQ_INT(proxy_mc_total(&m, k), 0); /* clamped, never wrapped */
	CHECK_EQ_INT(a.hused, 0);
	for (int i = 0; i < 3; i++) /* exact again: amount, not more, not less */
		CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), 0);
	CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), -ERR_PROXY_MAXCONN);
	for (int i = 0; i < 3; i++)
		proxy_mc_release(&a, k);

	/* release: the total was lowered, the holding not */
	die_in_child(&r, k, 2, PROXY_MC_DIE_RELEASE);
	CHECK_EQ_INT(proxy_mc_total(&a, k), 1); /* the second one is still held (its slot) */
	CHECK_EQ_INT(a.st.lock_stolen, 1);      /* a found the dead worker's lock */
	CHECK_EQ_INT(proxy_mc_reap(&m, 1), 2);  /* it says 2: one subtracted twice */
	CHECK_EQ_INT(proxy_mc_total(&m, k), 0); /* clamped */
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), 0);
	CHECK_EQ_INT(proxy_mc_acquire(&a, k, 3), -ERR_PROXY_MAXCONN);
	region_close(&r);
}

/* A worker killed in the middle of a backward shift of its holdings (a pair copied towards its
 * home, the original not yet cleared): the master counts the pair once. */
static void death_during_shift(void)
{
	struct region r;
	REQUIRE(region_open(&r, 16, 2) == 0); /* holdings: 32 slots */
	/* same holdings home (low bits), different sets of totals (high bits) */
	const uint64_t ka = 0x1000000000000005ull, kb = 0x9000000000000025ull;
	struct proxy_mc a, m;
	REQUIRE(proxy_mc_attach(&a, r.mem, r.bytes, 16, 2, 0, 1, 2) == 0);
	REQUIRE(proxy_mc_attach(&m, r.mem, r.bytes, 16, 2, PROXY_MC_MASTER, 1, 2) == 0);
	REQUIRE(a.hslots == 32);
	CHECK_EQ_INT(proxy_mc_acquire(&a, kb, 5), 0); /* worker a holds one of kb too */
	pid_t child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		struct proxy_mc w;
		alarm(60);
		if (proxy_mc_attach(&w, r.mem, r.bytes, 16, 2, 1, 1, 2) != 0)
			_exit(2);
		/* ka at its home slot 5, kb (also home 5) at 6, held twice */
		if (proxy_mc_acquire(&w, ka, 5) || proxy_mc_acquire(&w, kb, 5) ||
		    proxy_mc_acquire(&w, kb, 5))
			_exit(3);
		w.die_at = PROXY_MC_DIE_SHIFT;
		proxy_mc_release(&w, ka); /* ka's slot empties: kb moves from 6 to 5 */
		_exit(5);
	}
	int status = 0;
	CHECK_EQ_INT(waitpid(child, &status, 0), child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ_INT(proxy_mc_total(&m, ka), 0);
	CHECK_EQ_INT(proxy_mc_total(&m, kb), 3);
	CHECK_EQ_INT(proxy_mc_reap(&m, 1), 2);   /* kb's 2, once */
	CHECK_EQ_INT(proxy_mc_total(&m, kb), 1); /* worker a's */
	region_close(&r);
}

/* Holdings survive many keys coming and going (backward-shift deletion): each key's count is
 * what was acquired minus released, and reaping the slot subtracts exactly that. */
static void holdings_churn(void)
{
	struct region r;
	REQUIRE(region_open(&r, 64, 2) == 0);
	struct proxy_mc a, b, m;
	REQUIRE(proxy_mc_attach(&a, r.mem, r.bytes, 64, 2, 0, 1, 2) == 0);
	REQUIRE(proxy_mc_attach(&b, r.mem, r.bytes, 64, 2, 1, 1, 2) == 0);
	REQUIRE(proxy_mc_attach(&m, r.mem, r.bytes, 64, 2, PROXY_MC_MASTER, 1, 2) == 0);
	uint32_t held[200] = {0};
	uint64_t x = 88172645463325252ull;
	for (int round = 0; round < 20000; round++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint32_t i = (uint32_t)(x % 200);
		/* keys share low bits (one holdings chain) and spread over the sets */
		uint64_t key = ((uint64_t)(i * 2654435761u) << 32) | 0x100u | (i % 3);
		if (held[i] && (x & 256)) {
			proxy_mc_release(&b, key);
			held[i]--;
		} else if (proxy_mc_acquire(&b, key, 1000) == 0) {
			held[i]++;
		}
	}
	uint64_t want = 0;
	uint32_t keys = 0;
	for (uint32_t i = 0; i < 200; i++) {
		uint64_t key = ((uint64_t)(i * 2654435761u) << 32) | 0x100u | (i % 3);
		CHECK_EQ_INT(proxy_mc_total(&m, key), held[i]);
		want += held[i];
		keys += held[i] > 0;
	}
	CHECK_EQ_INT(b.hused, keys);
	CHECK(keys <= 64);
	CHECK_EQ_INT(proxy_mc_reap(&m, 1), want);
	for (uint32_t i = 0; i < 200; i++) {
		uint64_t key = ((uint64_t)(i * 2654435761u) << 32) | 0x100u | (i % 3);
		CHECK_EQ_INT(proxy_mc_total(&a, key), 0);
	}
	region_close(&r);
}

TEST_MAIN(sizes_and_attach, acquire_refuse_release, keys_full, two_processes_one_key,
	  dead_worker_reaped, death_between_steps, death_during_shift, holdings_churn)
