/* Unit tests for proxy_healthboard.h, the health verdicts shared by the worker processes of a
 * node: sizes and attach errors; set and get (the change counter, the epoch); board keys by
 * backend NAME and server URL (proxy_lb_srv_key) agreeing across two tables that order them
 * differently; a forked reader seeing the writer's changes; the capacity edge (a window of
 * current-epoch keys full, then reusable after a new epoch), a restarted writer continuing the
 * epoch; a forked reader racing a writer that keeps replacing keys never gets another key's
 * verdict; the board counted in the worst-case memory with several workers only. */
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base_err.h"
#include "base/base_buf.h"
#include "proxy/proxy_engine.h"
#include "proxy/proxy_healthboard.h"
#include "proxy/proxy_lb.h"
#include "proxy/proxy_limits.h"
#include "test.h"

struct region {
	void *mem;
	size_t bytes;
};

static int region_open(struct region *r, uint32_t max_servers)
{
	r->bytes = proxy_hb_bytes(max_servers);
	if (r->bytes == 0)
		return -1;
	r->mem = mmap(NULL, r->bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return r->mem == MAP_FAILED ? -1 : 0;
}

static void region_close(struct region *r)
{
	munmap(r->mem, r->bytes);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void sizes_and_attach(void)
{
	CHECK_EQ_INT(proxy_hb_bytes(0), 0);
	CHECK_EQ_INT(proxy_hb_bytes(PROXY_HB_MAX_SERVERS + 1), 0);
	/* at least one window of slots; else the power of two >= 4 x max_servers */
	CHECK_EQ_INT(proxy_hb_bytes(1), 64 + PROXY_HB_WINDOW * 16);
	CHECK_EQ_INT(proxy_hb_bytes(8), 64 + 32 * 16);
	CHECK_EQ_INT(proxy_hb_bytes(9), 64 + 64 * 16);
	CHECK_EQ_INT(proxy_hb_bytes(4096), 64 + 16384 * 16);
	CHECK(proxy_hb_bytes(PROXY_HB_MAX_SERVERS) > 0);
	struct region r;
	REQUIRE(region_open(&r, 8) == 0);
	struct proxy_hb hb;
	CHECK_EQ_INT(proxy_hb_attach(&hb, r.mem, r.bytes - 1, 8, true, 1, 2), -ERR_INVAL);
	CHECK_EQ_INT(proxy_hb_attach(&hb, (char *)r.mem + 8, r.bytes, 8, true, 1, 2), -ERR_INVAL);
	CHECK_EQ_INT(proxy_hb_attach(&hb, NULL, r.bytes, 8, true, 1, 2), -ERR_INVAL);
	CHECK_EQ_INT(proxy_hb_attach(&hb, r.mem, r.bytes, 0, true, 1, 2), -ERR_INVAL);
	CHECK_EQ_INT(proxy_hb_attach(&hb, r.mem, r.bytes, 9, true, 1, 2), -ERR_INVAL);
	CHECK_EQ_INT(proxy_hb_attach(&hb, r.mem, r.bytes, 8, true, 1, 2), 0);
	CHECK_EQ_INT(hb.cap, 32);
	CHECK(hb.writer);
	CHECK_EQ_INT(hb.k0, 1);
	CHECK_EQ_INT(hb.k1, 2);
	region_close(&r);
}

static void set_get(void)
{
	struct region r;
	REQUIRE(region_open(&r, 16) == 0);
	struct proxy_hb w, rd;
	REQUIRE(proxy_hb_attach(&w, r.mem, r.bytes, 16, true, 1, 2) == 0);
	REQUIRE(proxy_hb_attach(&rd, r.mem, r.bytes, 16, false, 1, 2) == 0);
	proxy_hb_epoch_begin(&w);
	CHECK_EQ_INT(w.epoch, 1);
	struct proxy_hb_verdict v;
	CHECK_EQ_INT(proxy_hb_get(&rd, 0x1234, &v), -ERR_NOTFOUND);
	CHECK_EQ_INT(proxy_hb_set(&w, 0x1234, false), 0);
	REQUIRE(proxy_hb_get(&rd, 0x1234, &v) == 0);
	CHECK(!v.up);
	CHECK_EQ_INT(v.changes, 0);
	CHECK_EQ_INT(v.epoch, 1);
	/* the same verdict again: no change */
	CHECK_EQ_INT(proxy_hb_set(&w, 0x1234, false), 0);
	REQUIRE(proxy_hb_get(&rd, 0x1234, &v) == 0);
	CHECK_EQ_INT(v.changes, 0);
	CHECK_EQ_INT(proxy_hb_set(&w, 0x1234, true), 0);
	REQUIRE(proxy_hb_get(&rd, 0x1234, &v) == 0);
	CHECK(v.up);
	CHECK_EQ_INT(v.changes, 1);
	/* another key on the same home: both kept */
	CHECK_EQ_INT(proxy_hb_set(&w, 0x1234 + 64, true), 0);
	REQUIRE(proxy_hb_get(&rd, 0x1234 + 64, &v) == 0);
	CHECK(v.up);
	REQUIRE(proxy_hb_get(&rd, 0x1234, &v) == 0);
	CHECK(v.up);
	CHECK_EQ_INT(v.changes, 1);
	/* a new epoch: the verdicts stay readable; a write moves the entry to it in place */
	proxy_hb_epoch_begin(&w);
	REQUIRE(proxy_hb_get(&rd, 0x1234, &v) == 0);
	CHECK_EQ_INT(v.epoch, 1);
	CHECK_EQ_INT(proxy_hb_set(&w, 0x1234, false), 0);
	REQUIRE(proxy_hb_get(&rd, 0x1234, &v) == 0);
	CHECK(!v.up);
	CHECK_EQ_INT(v.changes, 2);
	CHECK_EQ_INT(v.epoch, 2);
	CHECK_EQ_INT(w.st.evicted, 0);
	/* a restarted writer continues the epoch kept in the region */
	struct proxy_hb w2;
	REQUIRE(proxy_hb_attach(&w2, r.mem, r.bytes, 16, true, 1, 2) == 0);
	CHECK_EQ_INT(w2.epoch, 2);
	proxy_hb_epoch_begin(&w2);
	CHECK_EQ_INT(w2.epoch, 3);
	REQUIRE(proxy_hb_get(&rd, 0x1234, &v) == 0);
	CHECK(!v.up);
	region_close(&r);
}

#define NTOK 4096
static json_tok toks_[NTOK];
static _Alignas(16) unsigned char tmem_[2][1 << 18];
static struct arena tarena_[2];

/* Load a document (' for ") into slot k. */
static const struct proxy_table *load(int k, const char *tmpl)
{
	static char doc[2][8192];
	size_t n = strlen(tmpl);
	for (size_t i = 0; i < n; i++)
		doc[k][i] = tmpl[i] == '\'' ? '"' : tmpl[i];
	struct proxy_limits lim;
	const struct proxy_table *t;
	struct proxy_cfg_err err;
	proxy_limits_default(&lim);
	arena_init(&tarena_[k], tmem_[k], sizeof tmem_[k]);
	if (proxy_table_load(doc[k], n, &lim, &tarena_[k], toks_, NTOK, &t, &err) != 0) {
		fprintf(stderr, "  load: %s\n", err.msg);
		return NULL;
	}
	return t;
}

/* Index of the server of backend `be` with URL `url` in t, or -1. */
static int srv_of(const struct proxy_table *t, const char *be, const char *url)
{
	for (uint32_t i = 0; i < t->nsrv; i++)
		if (slice_eq_cstr(t->be[t->srv[i].backend].name, be) &&
		    slice_eq_cstr(t->srv[i].url, url))
			return (int)i;
	return -1;
}

static void keys_by_name(void)
{
	/* The old table: backends a, b; the new: z first, b before a, servers reordered and
	 * renamed. A server is the same when its backend's name and its URL are. */
	const struct proxy_table *t1 =
		load(0, "{'version':1,'revision':1,'backends':{"
			"'a':{'servers':{'s1':{'url':'http://10.0.0.1:80'},"
			"'s2':{'url':'http://10.0.0.2:80'}}},"
			"'b':{'servers':{'s1':{'url':'http://10.0.0.1:80'}}}}}");
	const struct proxy_table *t2 = load(1, "{'version':1,'revision':2,'backends':{"
					       "'z':{'servers':{'q':{'url':'http://10.0.0.9:80'}}},"
					       "'b':{'servers':{'x':{'url':'http://10.0.0.1:80'}}},"
					       "'a':{'servers':{'n2':{'url':'http://10.0.0.2:80'},"
					       "'n1':{'url':'http://10.0.0.1:80'}}}}}");
	REQUIRE(t1 && t2);
	int a1 = srv_of(t1, "a", "http://10.0.0.1:80"), a2 = srv_of(t1, "a", "http://10.0.0.2:80");
	int b1 = srv_of(t1, "b", "http://10.0.0.1:80");
	int na1 = srv_of(t2, "a", "http://10.0.0.1:80"),
	    na2 = srv_of(t2, "a", "http://10.0.0.2:80");
	int nb1 = srv_of(t2, "b", "http://10.0.0.1:80"), nz = srv_of(t2, "z", "http://10.0.0.9:80");
	REQUIRE(a1 >= 0 && a2 >= 0 && b1 >= 0 && na1 >= 0 && na2 >= 0 && nb1 >= 0 && nz >= 0);
	CHECK(a1 != na1); /* the indices differ: only names can make them agree */
	uint64_t k0 = 0x0123456789abcdefull, k1 = 0xfedcba9876543210ull;
	CHECK(proxy_lb_srv_key(t1, (uint32_t)a1, k0, k1) ==
	      proxy_lb_srv_key(t2, (uint32_t)na1, k0, k1));
	CHECK(proxy_lb_srv_key(t1, (uint32_t)a2, k0, k1) ==
	      proxy_lb_srv_key(t2, (uint32_t)na2, k0, k1));
	CHECK(proxy_lb_srv_key(t1, (uint32_t)b1, k0, k1) ==
	      proxy_lb_srv_key(t2, (uint32_t)nb1, k0, k1));
	/* same URL in another backend, another URL in the same backend, another node key */
	CHECK(proxy_lb_srv_key(t1, (uint32_t)a1, k0, k1) !=
	      proxy_lb_srv_key(t1, (uint32_t)b1, k0, k1));
	CHECK(proxy_lb_srv_key(t1, (uint32_t)a1, k0, k1) !=
	      proxy_lb_srv_key(t1, (uint32_t)a2, k0, k1));
	CHECK(proxy_lb_srv_key(t1, (uint32_t)a1, k0, k1) !=
	      proxy_lb_srv_key(t1, (uint32_t)a1, k0, k1 + 1));
	for (uint32_t i = 0; i < t2->nsrv; i++)
		CHECK(proxy_lb_srv_key(t2, i, k0, k1) != 0);

	/* The writer on the old table, a reader on the new. */
	struct region r;
	REQUIRE(region_open(&r, 16) == 0);
	struct proxy_hb w, rd;
	REQUIRE(proxy_hb_attach(&w, r.mem, r.bytes, 16, true, k0, k1) == 0);
	REQUIRE(proxy_hb_attach(&rd, r.mem, r.bytes, 16, false, k0, k1) == 0);
	proxy_hb_epoch_begin(&w);
	CHECK_EQ_INT(proxy_hb_set(&w, proxy_lb_srv_key(t1, (uint32_t)a1, w.k0, w.k1), false), 0);
	CHECK_EQ_INT(proxy_hb_set(&w, proxy_lb_srv_key(t1, (uint32_t)a2, w.k0, w.k1), true), 0);
	CHECK_EQ_INT(proxy_hb_set(&w, proxy_lb_srv_key(t1, (uint32_t)b1, w.k0, w.k1), true), 0);
	struct proxy_hb_verdict v;
	REQUIRE(proxy_hb_get(&rd, proxy_lb_srv_key(t2, (uint32_t)na1, rd.k0, rd.k1), &v) == 0);
	CHECK(!v.up);
	REQUIRE(proxy_hb_get(&rd, proxy_lb_srv_key(t2, (uint32_t)na2, rd.k0, rd.k1), &v) == 0);
	CHECK(v.up);
	REQUIRE(proxy_hb_get(&rd, proxy_lb_srv_key(t2, (uint32_t)nb1, rd.k0, rd.k1), &v) == 0);
	CHECK(v.up); /* the same address in backend b is another server */
	CHECK_EQ_INT(proxy_hb_get(&rd, proxy_lb_srv_key(t2, (uint32_t)nz, rd.k0, rd.k1), &v),
		     -ERR_NOTFOUND);
	region_close(&r);
}

/* A forked reader sees the writer's changes: it waits for each verdict in turn (the writer
 * flips one key down, then up, then down) and reports through a shared word. */
static void forked_reader(void)
{
	struct region r;
	REQUIRE(region_open(&r, 64) == 0);
	_Atomic uint32_t *seen =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(seen != MAP_FAILED);
	atomic_store(seen, 0);
	const uint64_t key = 0xabcdef0012345ull;
	pid_t child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		struct proxy_hb rd;
		if (proxy_hb_attach(&rd, r.mem, r.bytes, 64, false, 1, 2) < 0)
			_exit(2);
		/* want: down (changes 0), up (1), down (2) */
		for (uint32_t step = 0; step < 3;) {
			struct proxy_hb_verdict v;
			if (proxy_hb_get(&rd, key, &v) == 0 && v.changes == step &&
			    v.up == (step == 1)) {
				step++;
				atomic_store(seen, step);
			}
			sleep_ms(1);
		}
		_exit(0);
	}
	struct proxy_hb w;
	REQUIRE(proxy_hb_attach(&w, r.mem, r.bytes, 64, true, 1, 2) == 0);
	proxy_hb_epoch_begin(&w);
	for (uint32_t step = 0; step < 3; step++) {
		CHECK_EQ_INT(proxy_hb_set(&w, key, step == 1), 0);
		int waited = 0;
		while (atomic_load(seen) < step + 1 && waited++ < 5000)
			sleep_ms(1);
		CHECK_EQ_INT(atomic_load(seen), step + 1);
	}
	int status = 0;
	if (atomic_load(seen) < 3)
		kill(child, SIGKILL);
	CHECK_EQ_INT(waitpid(child, &status, 0), child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	munmap((void *)seen, 4096);
	region_close(&r);
}

/* Keys whose home is slot `home` of a 32-slot board (max_servers 8). */
static uint64_t key_at(uint32_t home, uint32_t i)
{
	return ((uint64_t)(i + 1) << 32) | home;
}

static void capacity_edge(void)
{
	struct region r;
	REQUIRE(region_open(&r, 8) == 0);
	struct proxy_hb w, rd;
	REQUIRE(proxy_hb_attach(&w, r.mem, r.bytes, 8, true, 1, 2) == 0);
	REQUIRE(proxy_hb_attach(&rd, r.mem, r.bytes, 8, false, 1, 2) == 0);
	REQUIRE(w.cap == PROXY_HB_WINDOW);
	proxy_hb_epoch_begin(&w);
	/* A window of keys with one home: all fit, the next does not. */
	for (uint32_t i = 0; i < PROXY_HB_WINDOW; i++)
		CHECK_EQ_INT(proxy_hb_set(&w, key_at(5, i), i % 2 == 0), 0);
	CHECK_EQ_INT(proxy_hb_set(&w, key_at(5, PROXY_HB_WINDOW), true), -ERR_PROXY_SERVERS_FULL);
	CHECK_EQ_INT(w.st.full, 1);
	/* a key already there is still updated in place */
	CHECK_EQ_INT(proxy_hb_set(&w, key_at(5, PROXY_HB_WINDOW - 1), true), 0);
	struct proxy_hb_verdict v;
	for (uint32_t i = 0; i < PROXY_HB_WINDOW - 1; i++) {
		REQUIRE(proxy_hb_get(&rd, key_at(5, i), &v) == 0);
		CHECK(v.up == (i % 2 == 0));
	}
	CHECK_EQ_INT(proxy_hb_get(&rd, key_at(5, PROXY_HB_WINDOW), &v), -ERR_NOTFOUND);
	/* A new epoch (a reload): the old keys stay readable until a new key needs a slot; the
	 * first slot of an older epoch from the home is taken. */
	proxy_hb_epoch_begin(&w);
	CHECK_EQ_INT(proxy_hb_set(&w, key_at(5, 1), false), 0); /* refreshed in place */
	CHECK_EQ_INT(proxy_hb_set(&w, key_at(5, PROXY_HB_WINDOW), true), 0);
	CHECK_EQ_INT(w.st.evicted, 1);
	CHECK_EQ_INT(proxy_hb_get(&rd, key_at(5, 0), &v), -ERR_NOTFOUND); /* slot 5 reused */
	REQUIRE(proxy_hb_get(&rd, key_at(5, PROXY_HB_WINDOW), &v) == 0);
	CHECK(v.up);
	REQUIRE(proxy_hb_get(&rd, key_at(5, 1), &v) == 0);
	CHECK(!v.up);
	REQUIRE(proxy_hb_get(&rd, key_at(5, 2), &v) == 0);
	CHECK(v.up);
	/* the next new key skips the refreshed key_at(5, 1) and takes key_at(5, 2)'s slot */
	CHECK_EQ_INT(proxy_hb_set(&w, key_at(5, PROXY_HB_WINDOW + 1), false), 0);
	CHECK_EQ_INT(proxy_hb_get(&rd, key_at(5, 2), &v), -ERR_NOTFOUND);
	REQUIRE(proxy_hb_get(&rd, key_at(5, 1), &v) == 0);
	CHECK_EQ_INT(w.st.evicted, 2);
	/* On a larger board too, a key lies at most PROXY_HB_WINDOW slots from its home. */
	region_close(&r);
	REQUIRE(region_open(&r, 16) == 0);
	REQUIRE(proxy_hb_attach(&w, r.mem, r.bytes, 16, true, 1, 2) == 0);
	REQUIRE(proxy_hb_attach(&rd, r.mem, r.bytes, 16, false, 1, 2) == 0);
	REQUIRE(w.cap == 2 * PROXY_HB_WINDOW);
	proxy_hb_epoch_begin(&w);
	for (uint32_t i = 0; i < PROXY_HB_WINDOW; i++)
		CHECK_EQ_INT(proxy_hb_set(&w, key_at(5, i), true), 0);
	CHECK_EQ_INT(proxy_hb_set(&w, key_at(5, PROXY_HB_WINDOW), true), -ERR_PROXY_SERVERS_FULL);
	CHECK_EQ_INT(proxy_hb_get(&rd, key_at(5, PROXY_HB_WINDOW), &v), -ERR_NOTFOUND);
	/* a key whose home is the slot after the window still fits */
	CHECK_EQ_INT(proxy_hb_set(&w, key_at(5 + PROXY_HB_WINDOW, 0), false), 0);
	REQUIRE(proxy_hb_get(&rd, key_at(5 + PROXY_HB_WINDOW, 0), &v) == 0);
	CHECK(!v.up);
	/* Just under the edge on another board: max_servers keys spread over their homes all
	 * fit in one epoch, over and over across epochs with fresh keys. */
	region_close(&r);
	REQUIRE(region_open(&r, 8) == 0);
	REQUIRE(proxy_hb_attach(&w, r.mem, r.bytes, 8, true, 1, 2) == 0);
	REQUIRE(proxy_hb_attach(&rd, r.mem, r.bytes, 8, false, 1, 2) == 0);
	for (uint32_t round = 0; round < 50; round++) {
		proxy_hb_epoch_begin(&w);
		for (uint32_t i = 0; i < 8; i++)
			CHECK_EQ_INT(proxy_hb_set(&w, key_at((i * 7 + round) % 32, round * 8 + i),
						  (i + round) % 3 == 0),
				     0);
		for (uint32_t i = 0; i < 8; i++) {
			REQUIRE(proxy_hb_get(&rd, key_at((i * 7 + round) % 32, round * 8 + i),
					     &v) == 0);
			CHECK(v.up == ((i + round) % 3 == 0));
		}
	}
	CHECK_EQ_INT(w.st.full, 0);
	region_close(&r);
}

/* A forked reader racing a writer that keeps replacing keys in a full board: a verdict read
 * is always the verdict of the key asked for (even keys are up, odd ones down), never the
 * state of another key that took the slot meanwhile. */
static void race_replace(void)
{
	struct region r;
	REQUIRE(region_open(&r, 8) == 0);
	_Atomic uint32_t *flag =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(flag != MAP_FAILED);
	atomic_store(&flag[0], 0); /* stop */
	atomic_store(&flag[1], 0); /* wrong verdicts */
	atomic_store(&flag[2], 0); /* verdicts read */
	pid_t child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		struct proxy_hb rd;
		if (proxy_hb_attach(&rd, r.mem, r.bytes, 8, false, 1, 2) < 0)
			_exit(2);
		uint32_t i = 0;
		while (!atomic_load(&flag[0])) {
			struct proxy_hb_verdict v;
			uint64_t key = key_at(i % 32, i % 64);
			if (proxy_hb_get(&rd, key, &v) == 0) {
				atomic_fetch_add(&flag[2], 1);
				if (v.up != ((i % 64) % 2 == 0))
					atomic_fetch_add(&flag[1], 1);
			}
			i++;
		}
		_exit(0);
	}
	struct proxy_hb w;
	REQUIRE(proxy_hb_attach(&w, r.mem, r.bytes, 8, true, 1, 2) == 0);
	for (uint32_t round = 0; round < 20000; round++) {
		proxy_hb_epoch_begin(&w);
		for (uint32_t i = round % 2; i < 64; i += 2)
			proxy_hb_set(&w, key_at(i % 32, i), i % 2 == 0);
	}
	atomic_store(&flag[0], 1);
	int status = 0;
	CHECK_EQ_INT(waitpid(child, &status, 0), child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ_INT(atomic_load(&flag[1]), 0);
	CHECK(atomic_load(&flag[2]) > 0);
	munmap((void *)flag, 4096);
	region_close(&r);
}

/* The board in the worst-case memory (--print-limits, the start-up line): a worker's share of
 * the page-rounded mapping with several workers, nothing with one. */
static void memory_counted(void)
{
	struct proxy_dp_limits lim;
	struct proxy_mem_sizes sz;
	struct proxy_mem_report r1, r2;
	static char text[8192];
	struct buf b;
	proxy_dp_limits_default(&lim);
	lim.workers = 1;
	proxy_engine_mem_sizes(&lim, &sz);
	CHECK_EQ_INT(sz.healthboard, 0);
	proxy_dp_limits_memory(&lim, &sz, &r1);
	CHECK_EQ_INT(r1.healthboard, 0);
	buf_init(&b, text, sizeof text);
	REQUIRE(proxy_dp_limits_format(&lim, &r1, &b) == 0);
	CHECK(!memmem(text, b.len, "health board", 12));
	lim.workers = 3;
	proxy_engine_mem_sizes(&lim, &sz);
	size_t mapped = (proxy_hb_bytes(lim.table.max_servers) + 4095) / 4096 * 4096;
	CHECK_EQ_INT(sz.healthboard, (mapped + 2) / 3);
	proxy_dp_limits_memory(&lim, &sz, &r2);
	CHECK_EQ_INT(r2.healthboard, sz.healthboard);
	struct proxy_mem_report r3;
	sz.healthboard = 0;
	proxy_dp_limits_memory(&lim, &sz, &r3);
	CHECK_EQ_INT(r2.total - r3.total, r2.healthboard); /* in the total */
	buf_init(&b, text, sizeof text);
	REQUIRE(proxy_dp_limits_format(&lim, &r2, &b) == 0);
	CHECK(memmem(text, b.len, "health board", 12) != NULL);
}

TEST_MAIN(sizes_and_attach, set_get, keys_by_name, forked_reader, capacity_edge, race_replace,
	  memory_counted)
