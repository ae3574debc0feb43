/* Unit tests for proxy_breaker_shared.h, the circuit breakers of a node shared by its worker
 * processes: sizes and attach errors; keys; two forked workers recording into one breaker
 * (no update lost under the slot lock; 75% network errors on each trip it once for the node,
 * and then both answer the fallback); a reload (a new epoch, so a new key) starting fresh
 * while the old table's holder keeps recording into the old breaker; a worker's clock a little
 * behind another's; slots of old generations reclaimed over thousands of reloads with workers
 * a reload apart; a worker SIGKILLed holding a slot's lock, then one holding the table lock:
 * neither wedges the others, and the master's reap gives the dead one's references back. */
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base_err.h"
#include "base/base_log.h"
#include "proxy/proxy_breaker.h"
#include "proxy/proxy_breaker_shared.h"
#include "test.h"

struct region {
	void *mem;
	size_t bytes;
	uint32_t max_backends, max_tables;
};

static int region_open(struct region *r, uint32_t max_backends, uint32_t max_tables)
{
	r->max_backends = max_backends;
	r->max_tables = max_tables;
	r->bytes = proxy_cbs_bytes(max_backends, max_tables);
	if (r->bytes == 0)
		return -1;
	r->mem = mmap(NULL, r->bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return r->mem == MAP_FAILED ? -1 : 0;
}

static void region_close(struct region *r)
{
	munmap(r->mem, r->bytes);
}

static int attach(struct proxy_cbs *s, struct region *r, uint32_t worker)
{
	return proxy_cbs_attach(s, r->mem, r->bytes, r->max_backends, r->max_tables, worker, 11,
				22);
}

static struct proxy_breaker_prog prog_of(const char *expr)
{
	struct proxy_breaker_prog p;
	char msg[200];
	int rc = proxy_breaker_compile(slice_from_cstr(expr), &p, msg, sizeof msg);
	if (rc != 0)
		fprintf(stderr, "  compile %s: %s\n", expr, msg);
	return p;
}

/* A handle b of worker view s to the breaker of (name, expr, revision 7, epoch): as
 * proxy_breaker_gen_build makes one. Returns proxy_cbs_get's result. */
static int handle(struct proxy_cbs *s, struct proxy_breaker *b, const char *name, const char *expr,
		  uint64_t epoch)
{
	struct proxy_breaker_prog p = prog_of(expr);
	uint64_t key = proxy_cbs_key(s, slice_from_cstr(name), slice_from_cstr(expr), 7, epoch);
	uint32_t idx;
	struct proxy_cbs_slot *sl;
	int rc = proxy_cbs_get(s, key, &idx, &sl);
	if (rc >= 0)
		proxy_breaker_init_shared(b, &p, slice_from_cstr(name), s, sl, idx);
	return rc;
}

/* Trips summed over every slot's core: what the node did. */
static uint64_t node_trips(struct proxy_cbs *m)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < m->nslots; i++)
		n += m->slots[i].core.trips;
	return n;
}

static void sizes_and_attach(void)
{
	CHECK_EQ_INT(proxy_cbs_bytes(0, 4), 0);
	CHECK_EQ_INT(proxy_cbs_bytes(4, 0), 0);
	CHECK_EQ_INT(proxy_cbs_bytes(PROXY_CBS_MAX_SLOTS / 2 + 1, 1), 0);
	CHECK(proxy_cbs_bytes(PROXY_CBS_MAX_SLOTS / 2, 1) > 0);
	/* 3 backends x 2 tables: 12 slots wanted, 2 sets of 8 */
	CHECK_EQ_INT(proxy_cbs_bytes(3, 2), 64 + 16 * 16 + 16 * sizeof(struct proxy_cbs_slot));
	/* the defaults (max_backends 1024, max_tables 4): 8192 slots */
	CHECK_EQ_INT(proxy_cbs_bytes(1024, 4), 64 + 8192 * (16 + sizeof(struct proxy_cbs_slot)));
	CHECK_EQ_INT(proxy_cbs_bytes(1024, 4) % 64, 0);
	CHECK_EQ_INT(sizeof(struct proxy_cbs_slot) % 64, 0);
	/* the handle is the size of a private breaker: its core's bytes hold the slot's name */
	CHECK(sizeof(struct proxy_breaker) ==
	      offsetof(struct proxy_breaker, core) + sizeof(struct proxy_breaker_core));
	struct region r;
	REQUIRE(region_open(&r, 3, 2) == 0);
	struct proxy_cbs s, m;
	CHECK_EQ_INT(proxy_cbs_attach(&s, r.mem, r.bytes - 1, 3, 2, 0, 1, 2), -ERR_INVAL);
	CHECK_EQ_INT(proxy_cbs_attach(&s, (char *)r.mem + 8, r.bytes, 3, 2, 0, 1, 2), -ERR_INVAL);
	CHECK_EQ_INT(proxy_cbs_attach(&s, NULL, r.bytes, 3, 2, 0, 1, 2), -ERR_INVAL);
	CHECK_EQ_INT(proxy_cbs_attach(&s, r.mem, r.bytes, 3, 2, PROXY_CBS_MAX_WORKERS, 1, 2),
		     -ERR_INVAL);
	REQUIRE(attach(&m, &r, PROXY_CBS_MASTER) == 0);
	CHECK_EQ_INT(m.nslots, 16);
	CHECK(m.refs == NULL);
	/* a worker attaching with other limits than the master's is refused */
	CHECK_EQ_INT(proxy_cbs_attach(&s, r.mem, r.bytes, 1, 2, 0, 1, 2), -ERR_INVAL);
	REQUIRE(attach(&s, &r, 3) == 0);
	CHECK(s.refs != NULL);
	/* the master holds no references */
	uint32_t idx;
	struct proxy_cbs_slot *sl;
	CHECK_EQ_INT(proxy_cbs_get(&m, 5, &idx, &sl), -ERR_INVAL);
	proxy_cbs_detach(&s);
	region_close(&r);
}

static void keys_and_epochs(void)
{
	struct region r;
	REQUIRE(region_open(&r, 3, 2) == 0);
	struct proxy_cbs m;
	REQUIRE(attach(&m, &r, PROXY_CBS_MASTER) == 0);
	struct slice a = SLICE_LIT("api"), e = SLICE_LIT("NetworkErrorRatio() > 0.5");
	uint64_t k = proxy_cbs_key(&m, a, e, 1, 0);
	CHECK(k != 0);
	CHECK_EQ_INT(proxy_cbs_key(&m, a, e, 1, 0), k);
	CHECK(proxy_cbs_key(&m, a, e, 2, 0) != k); /* revision */
	CHECK(proxy_cbs_key(&m, a, e, 1, 1) != k); /* epoch */
	CHECK(proxy_cbs_key(&m, SLICE_LIT("ap"), e, 1, 0) != k);
	CHECK(proxy_cbs_key(&m, a, SLICE_LIT("NetworkErrorRatio() > 0.6"), 1, 0) != k);
	/* the NUL between name and expression: "a" + "bc" differs from "ab" + "c" */
	CHECK(proxy_cbs_key(&m, SLICE_LIT("a"), SLICE_LIT("bc"), 1, 0) !=
	      proxy_cbs_key(&m, SLICE_LIT("ab"), SLICE_LIT("c"), 1, 0));
	struct proxy_cbs other = m;
	other.k0 ^= 1; /* another node's key */
	CHECK(proxy_cbs_key(&other, a, e, 1, 0) != k);
	CHECK_EQ_INT(proxy_cbs_epoch(&m), 0);
	CHECK_EQ_INT(proxy_cbs_epoch_advance(&m), 1);
	CHECK_EQ_INT(proxy_cbs_epoch_advance(&m), 2);
	struct proxy_cbs w;
	REQUIRE(attach(&w, &r, 0) == 0);
	CHECK_EQ_INT(proxy_cbs_epoch(&w), 2); /* the workers read the master's */
	proxy_cbs_detach(&w);
	region_close(&r);
}

/* ---- two processes, one breaker ------------------------------------------------------------ */

struct shared_ctl {
	_Atomic uint32_t ready;    /* workers at the start line */
	_Atomic uint32_t done;     /* workers done recording */
	_Atomic uint32_t idx[2];   /* the slot each worker's handle names */
	_Atomic uint32_t denied;   /* workers whose next request got the fallback */
	_Atomic uint64_t trips[2]; /* trips each worker saw in its own process (its log lines) */
};

static struct shared_ctl *ctl_map(void)
{
	struct shared_ctl *c =
		mmap(NULL, sizeof *c, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c != MAP_FAILED)
		memset(c, 0, sizeof *c);
	return c == MAP_FAILED ? NULL : c;
}

static void start_line(struct shared_ctl *c, uint32_t n)
{
	atomic_fetch_add(&c->ready, 1);
	while (atomic_load(&c->ready) < n)
		sched_yield();
}

/* Worker w: `rounds` outcomes recorded with the never-true expression, at times within one
 * second, racing the other worker. */
static void hammer_child(struct region *r, struct shared_ctl *c, uint32_t w, int rounds)
{
	struct proxy_cbs s;
	static struct proxy_breaker b;
	if (attach(&s, r, w) != 0 || handle(&s, &b, "api", "NetworkErrorRatio() > 2.0", 0) < 0)
		_exit(2);
	atomic_store(&c->idx[w], b.sh.idx);
	start_line(c, 2);
	for (int i = 0; i < rounds; i++) {
		if (!proxy_breaker_allow(&b, 5000))
			_exit(3);
		proxy_breaker_record(&b, i % 3 ? 200 : 502, 1, 5000 + (uint64_t)(i % 500));
	}
	_exit(0);
}

static void two_processes_no_lost_update(void)
{
	struct region r;
	REQUIRE(region_open(&r, 4, 2) == 0);
	struct proxy_cbs m;
	REQUIRE(attach(&m, &r, PROXY_CBS_MASTER) == 0);
	struct shared_ctl *c = ctl_map();
	REQUIRE(c);
	const int rounds = 100000;
	pid_t pid[2];
	for (uint32_t w = 0; w < 2; w++) {
		pid[w] = fork();
		REQUIRE(pid[w] >= 0);
		if (pid[w] == 0) {
			alarm(60);
			hammer_child(&r, c, w, rounds);
		}
	}
	for (int w = 0; w < 2; w++) {
		int status = 0;
		CHECK_EQ_INT(waitpid(pid[w], &status, 0), pid[w]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK_EQ_INT(atomic_load(&c->idx[0]), atomic_load(&c->idx[1])); /* one breaker */
	/* every outcome of both counted once: the window has 2 x rounds requests */
	struct proxy_cbs_slot *sl = &m.slots[atomic_load(&c->idx[0])];
	uint64_t req = 0, neterr = 0;
	for (int i = 0; i < PROXY_BREAKER_BUCKETS; i++) {
		req += sl->core.win.v[i][0];
		neterr += sl->core.win.v[i][1];
	}
	CHECK_EQ_INT(req, 2 * rounds);
	CHECK_EQ_INT(neterr, 2 * ((rounds + 2) / 3));
	CHECK_EQ_INT(sl->core.state, PB_STANDBY);
	CHECK_EQ_INT(atomic_load(&sl->lock.owner), 0);
	munmap(c, sizeof *c);
	region_close(&r);
}

/* Both workers see 3 network errors in 4 (each one's share alone would trip its own breaker):
 * the node's breaker trips once, and then each worker answers the fallback. */
static void trip_child(struct region *r, struct shared_ctl *c, uint32_t w)
{
	struct proxy_cbs s;
	static struct proxy_breaker b;
	if (attach(&s, r, w) != 0 || handle(&s, &b, "api", "NetworkErrorRatio() > 0.5", 0) < 0)
		_exit(2);
	atomic_store(&c->idx[w], b.sh.idx);
	start_line(c, 2);
	/* 400 outcomes over 4 s, each worker at its own pace; the check runs every 100 ms */
	uint64_t seen = 0;
	for (int i = 0; i < 400; i++) {
		uint64_t now = 10000 + (uint64_t)i * 10 + w;
		if (proxy_breaker_allow(&b, now))
			proxy_breaker_record(&b, i % 4 ? 502 : 200, 1, now);
		if (proxy_breaker_state(&b) == PB_TRIPPED && !seen)
			seen = 1;
		if (i % 16 == 0)
			sched_yield();
	}
	atomic_store(&c->trips[w], seen);
	atomic_fetch_add(&c->done, 1);
	while (atomic_load(&c->done) < 2)
		sched_yield();
	/* both done, well inside the 10 s fallback: the next request is refused here too */
	if (!proxy_breaker_allow(&b, 14100))
		atomic_fetch_add(&c->denied, 1);
	_exit(0);
}

static void two_processes_trip_once(void)
{
	struct region r;
	REQUIRE(region_open(&r, 4, 2) == 0);
	struct proxy_cbs m;
	REQUIRE(attach(&m, &r, PROXY_CBS_MASTER) == 0);
	struct shared_ctl *c = ctl_map();
	REQUIRE(c);
	pid_t pid[2];
	for (uint32_t w = 0; w < 2; w++) {
		pid[w] = fork();
		REQUIRE(pid[w] >= 0);
		if (pid[w] == 0) {
			alarm(60);
			trip_child(&r, c, w);
		}
	}
	for (int w = 0; w < 2; w++) {
		int status = 0;
		CHECK_EQ_INT(waitpid(pid[w], &status, 0), pid[w]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK_EQ_INT(atomic_load(&c->idx[0]), atomic_load(&c->idx[1]));
	CHECK_EQ_INT(node_trips(&m), 1); /* per-worker breakers would trip twice */
	struct proxy_cbs_slot *sl = &m.slots[atomic_load(&c->idx[0])];
	CHECK_EQ_INT(sl->core.state, PB_TRIPPED);
	CHECK_EQ_INT(atomic_load(&c->denied), 2);
	CHECK_EQ_INT(atomic_load(&c->trips[0]) + atomic_load(&c->trips[1]), 2); /* both saw it */
	/* it trips at its first check (the first outcome: a 200, ratio 0), then 100 ms later */
	CHECK(sl->core.until >= 10000 + PROXY_BREAKER_FALLBACK_MS);
	CHECK(sl->core.until <= 10000 + 300 + PROXY_BREAKER_FALLBACK_MS);
	munmap(c, sizeof *c);
	region_close(&r);
}

/* ---- reloads --------------------------------------------------------------------------------- */

/* Two workers (views 0 and 1 in this process): one breaker for epoch 0; the master hands out
 * epoch 1; worker 1 builds its new table first and gets a fresh breaker while worker 0, still on
 * the old table, keeps recording into the old one, which neither resets nor touches the new. */
static void reload_starts_fresh(void)
{
	struct region r;
	REQUIRE(region_open(&r, 4, 2) == 0);
	struct proxy_cbs m, a, b;
	REQUIRE(attach(&m, &r, PROXY_CBS_MASTER) == 0);
	REQUIRE(attach(&a, &r, 0) == 0);
	REQUIRE(attach(&b, &r, 1) == 0);
	const char *ex = "NetworkErrorRatio() > 0.5";
	static struct proxy_breaker a0, b0, a1, b1, a0again;
	CHECK_EQ_INT(handle(&a, &a0, "api", ex, proxy_cbs_epoch(&a)), 1); /* claimed */
	CHECK_EQ_INT(handle(&b, &b0, "api", ex, proxy_cbs_epoch(&b)), 0); /* joined */
	CHECK_EQ_INT(a0.sh.idx, b0.sh.idx);
	CHECK_EQ_INT(proxy_cbs_held(&m), 1);
	CHECK_EQ_INT(a.st.claimed, 1);
	CHECK_EQ_INT(b.st.joined, 1);
	/* half the node's failures come through each worker: one trip */
	for (uint64_t t = 1000; t < 2000; t += 10) {
		proxy_breaker_record(&a0, 502, 1, t);
		proxy_breaker_record(&b0, t % 20 ? 200 : 502, 1, t + 1);
	}
	CHECK_EQ_INT(proxy_breaker_state(&a0), PB_TRIPPED);
	CHECK_EQ_INT(proxy_breaker_state(&b0), PB_TRIPPED);
	CHECK(!proxy_breaker_allow(&b0, 2100));
	CHECK_EQ_INT(node_trips(&m), 1);

	/* the reload */
	CHECK_EQ_INT(proxy_cbs_epoch_advance(&m), 1);
	CHECK_EQ_INT(handle(&b, &b1, "api", ex, proxy_cbs_epoch(&b)), 1); /* fresh */
	CHECK(b1.sh.idx != b0.sh.idx);
	CHECK_EQ_INT(proxy_breaker_state(&b1), PB_STANDBY);
	CHECK_EQ_INT(proxy_breaker_requests(&b1, 2200), 0);
	CHECK(proxy_breaker_allow(&b1, 2200));
	/* worker 0 still serves the old table: its breaker is the old one, still Tripped */
	CHECK(!proxy_breaker_allow(&a0, 2300));
	for (uint64_t t = 2300; t < 3000; t += 10)
		proxy_breaker_record(&a0, 502, 1, t); /* late outcomes of the old table */
	/* a retry of the old document (same epoch) rejoins the old breaker, not the new one */
	CHECK_EQ_INT(handle(&a, &a0again, "api", ex, 0), 0);
	CHECK_EQ_INT(a0again.sh.idx, a0.sh.idx);
	CHECK_EQ_INT(proxy_breaker_state(&b1), PB_STANDBY);
	CHECK_EQ_INT(proxy_breaker_requests(&b1, 3000), 0);
	proxy_breaker_record(&b1, 200, 1, 3000);
	CHECK_EQ_INT(proxy_breaker_requests(&b1, 3000), 1);
	CHECK_EQ_INT(proxy_breaker_state(&b1), PB_STANDBY);
	/* worker 0 reaches the new document: it joins worker 1's breaker */
	CHECK_EQ_INT(handle(&a, &a1, "api", ex, proxy_cbs_epoch(&a)), 0);
	CHECK_EQ_INT(a1.sh.idx, b1.sh.idx);
	CHECK_EQ_INT(proxy_breaker_requests(&a1, 3000), 1);
	/* the old tables end: the old slot is free once both workers let go */
	proxy_cbs_put(&a, a0.sh.idx);
	proxy_cbs_put(&a, a0again.sh.idx);
	CHECK_EQ_INT(proxy_cbs_held(&m), 2);
	proxy_cbs_put(&b, b0.sh.idx);
	CHECK_EQ_INT(proxy_cbs_held(&m), 1);
	CHECK_EQ_INT(atomic_load(&m.holders[b1.sh.idx]), 3);
	CHECK_EQ_INT(node_trips(&m), 1);
	proxy_cbs_detach(&a);
	proxy_cbs_detach(&b);
	region_close(&r);
}

/* One worker's loop clock a little behind the other's: the slot's time never goes back, so a
 * late timestamp neither clears a newer bucket nor loses the count. */
static void clocks_behind(void)
{
	struct region r;
	REQUIRE(region_open(&r, 4, 2) == 0);
	struct proxy_cbs a, b;
	REQUIRE(attach(&a, &r, 0) == 0);
	REQUIRE(attach(&b, &r, 1) == 0);
	static struct proxy_breaker ha, hb;
	const char *ex = "NetworkErrorRatio() > 0.5";
	REQUIRE(handle(&a, &ha, "api", ex, 0) == 1);
	REQUIRE(handle(&b, &hb, "api", ex, 0) == 0);
	for (int i = 0; i < 10; i++)
		proxy_breaker_record(&ha, 200, 1, 20000); /* second 20 */
	/* b's loop woke up 10 s earlier than a's last (same bucket index, 10 s older) */
	proxy_breaker_record(&hb, 200, 1, 10000);
	CHECK_EQ_INT(proxy_breaker_requests(&ha, 20000), 11);
	CHECK_EQ_INT(hb.sh.slot->last_ms, 20000);
	/* and the Recovering ramp never sees a negative elapsed time */
	static struct proxy_breaker hc, hd;
	REQUIRE(handle(&a, &hc, "web", ex, 0) == 1);
	REQUIRE(handle(&b, &hd, "web", ex, 0) == 0);
	proxy_breaker_record(&hc, 502, 1, 30000); /* first check: trips */
	CHECK_EQ_INT(proxy_breaker_state(&hc), PB_TRIPPED);
	CHECK(!proxy_breaker_allow(&hc, 40000 - 1));
	CHECK(!proxy_breaker_allow(&hc, 40000)); /* Recovering at its start: 0 % pass */
	CHECK_EQ_INT(proxy_breaker_state(&hd), PB_RECOVERING);
	CHECK(!proxy_breaker_allow(&hd, 39990)); /* behind: taken as 40000, still 0 % */
	proxy_cbs_detach(&a);
	proxy_cbs_detach(&b);
	region_close(&r);
}

/* Thousands of reloads with 3 backends, 2 tables kept per worker (max_tables) and worker 1 a
 * reload behind worker 0: every breaker finds a slot, both workers share each generation's,
 * and the slots of generations both let go are reused (the table holds 16). */
static void many_reloads_reclaim(void)
{
	struct region r;
	REQUIRE(region_open(&r, 3, 2) == 0);
	struct proxy_cbs m, a, b;
	REQUIRE(attach(&m, &r, PROXY_CBS_MASTER) == 0);
	REQUIRE(attach(&a, &r, 0) == 0);
	REQUIRE(attach(&b, &r, 1) == 0);
	static const char *const names[3] = {"api", "web", "auth"};
	const char *ex = "ResponseCodeRatio(500, 600, 0, 600) > 0.5";
	enum { KEEP = 2, RELOADS = 5000 };
	static struct proxy_breaker ga[KEEP + 1][3], gb[KEEP + 1][3];
	int bad_get = 0, bad_share = 0, max_held = 0;
	for (int n = 0; n < RELOADS; n++) {
		uint64_t ep = proxy_cbs_epoch(&m);
		int cur = n % (KEEP + 1);
		/* worker 0 builds generation n; it keeps KEEP tables, so n - KEEP ends */
		if (n >= KEEP)
			for (int k = 0; k < 3; k++)
				proxy_cbs_put(&a, ga[(n - KEEP) % (KEEP + 1)][k].sh.idx);
		for (int k = 0; k < 3; k++)
			if (handle(&a, &ga[cur][k], names[k], ex, ep) < 0)
				bad_get++;
		/* some traffic on the current one */
		proxy_breaker_record(&ga[cur][n % 3], 200, 1, 1000 + (uint64_t)n);
		/* worker 1 builds generation n - 1 only now (a reload behind) */
		if (n >= 1) {
			int prev = (n - 1) % (KEEP + 1);
			if (n - 1 >= KEEP)
				for (int k = 0; k < 3; k++)
					proxy_cbs_put(&b,
						      gb[(n - 1 - KEEP) % (KEEP + 1)][k].sh.idx);
			for (int k = 0; k < 3; k++) {
				if (handle(&b, &gb[prev][k], names[k], ex, ep - 1) < 0)
					bad_get++;
				else if (gb[prev][k].sh.idx != ga[prev][k].sh.idx)
					bad_share++;
			}
		}
		int held = (int)proxy_cbs_held(&m);
		if (held > max_held)
			max_held = held;
		proxy_cbs_epoch_advance(&m);
	}
	CHECK_EQ_INT(bad_get, 0);
	CHECK_EQ_INT(bad_share, 0);
	CHECK_EQ_INT(a.st.full + b.st.full, 0);
	CHECK(max_held <= 3 * (KEEP + 1));
	CHECK_EQ_INT(a.st.claimed, 3 * RELOADS);
	CHECK_EQ_INT(b.st.joined, 3 * (RELOADS - 1));
	/* the workers stop: everything is given back */
	for (int g = 0; g < KEEP + 1; g++)
		for (int k = 0; k < 3; k++) {
			if (g != (RELOADS - 1 - KEEP) % (KEEP + 1))
				proxy_cbs_put(&a, ga[g][k].sh.idx);
			if (g != (RELOADS - 2 - KEEP) % (KEEP + 1))
				proxy_cbs_put(&b, gb[g][k].sh.idx);
		}
	CHECK_EQ_INT(proxy_cbs_held(&m), 0);
	/* a full table: 16 keys held, a 17th cannot be placed (its two sets are the only two) */
	static struct proxy_breaker hs[17];
	int got = 0;
	char nm[16];
	for (int i = 0; i < 17; i++) {
		snprintf(nm, sizeof nm, "be%d", i);
		if (handle(&a, &hs[i], nm, ex, 999) >= 0)
			got++;
	}
	CHECK_EQ_INT(got, 16);
	CHECK_EQ_INT(a.st.full, 1);
	proxy_cbs_detach(&a);
	proxy_cbs_detach(&b);
	region_close(&r);
}

/* ---- a worker killed holding a lock ------------------------------------------------------------
 */

/* Fork worker 1; it takes a handle to ("api", epoch 0) and then `what`: 1, the slot's lock; 2,
 * the table lock; says so on the pipe and waits to be SIGKILLed. */
static pid_t die_holding(struct region *r, int what)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t child = fork();
	if (child == 0) {
		alarm(60);
		close(fds[0]);
		struct proxy_cbs s;
		static struct proxy_breaker b;
		if (attach(&s, r, 1) != 0 ||
		    handle(&s, &b, "api", "NetworkErrorRatio() > 0.5", 0) < 0)
			_exit(2);
		if (what == 1)
			proxy_cbs_lock(&s, b.sh.slot, 1000);
		else
			proxy_shlock_lock(&s.head->lock, s.pid);
		char c = 'x';
		if (write(fds[1], &c, 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(fds[1]);
	char c;
	ssize_t n = child > 0 ? read(fds[0], &c, 1) : -1;
	close(fds[0]);
	if (child > 0) {
		kill(child, SIGKILL);
		int status = 0;
		waitpid(child, &status, 0);
		if (n != 1 || !WIFSIGNALED(status))
			return -1;
	}
	return child;
}

static void killed_holding_lock(void)
{
	struct region r;
	REQUIRE(region_open(&r, 4, 2) == 0);
	struct proxy_cbs m, a;
	REQUIRE(attach(&m, &r, PROXY_CBS_MASTER) == 0);
	REQUIRE(attach(&a, &r, 0) == 0);
	static struct proxy_breaker h;
	REQUIRE(handle(&a, &h, "api", "NetworkErrorRatio() > 0.5", 0) == 1);
	pid_t dead = die_holding(&r, 1);
	REQUIRE(dead > 0);
	CHECK_EQ_INT(atomic_load(&h.sh.slot->lock.owner), (uint32_t)dead); /* left locked */
	CHECK_EQ_INT(proxy_cbs_held(&m), 1);
	CHECK_EQ_INT(atomic_load(&m.holders[h.sh.idx]), 3); /* both workers' bits */
	alarm(30); /* a wedge fails the test instead of hanging it */
	/* worker 0 goes on: the dead holder's lock is taken over */
	CHECK(proxy_breaker_allow(&h, 1000));
	proxy_breaker_record(&h, 200, 1, 1000);
	CHECK_EQ_INT(proxy_breaker_requests(&h, 1000), 1);
	CHECK_EQ_INT(a.st.lock_stolen, 1);
	CHECK_EQ_INT(atomic_load(&h.sh.slot->lock.owner), 0);
	/* the master reaps worker 1: its reference goes, worker 0's stays */
	CHECK_EQ_INT(proxy_cbs_reap(&m, 1), 1);
	CHECK_EQ_INT(atomic_load(&m.holders[h.sh.idx]), 1);
	CHECK_EQ_INT(proxy_cbs_reap(&m, 1), 0);
	/* now one dies holding the table lock: claims, releases and reaps go on */
	dead = die_holding(&r, 2);
	REQUIRE(dead > 0);
	CHECK_EQ_INT(atomic_load(&m.head->lock.owner), (uint32_t)dead);
	static struct proxy_breaker h2;
	CHECK_EQ_INT(handle(&a, &h2, "web", "NetworkErrorRatio() > 0.5", 0), 1);
	CHECK_EQ_INT(a.st.lock_stolen, 2);
	CHECK_EQ_INT(atomic_load(&m.head->lock.owner), 0);
	CHECK_EQ_INT(proxy_cbs_reap(&m, 1), 1); /* its "api" reference */
	proxy_cbs_put(&a, h.sh.idx);
	proxy_cbs_put(&a, h2.sh.idx);
	CHECK_EQ_INT(proxy_cbs_held(&m), 0);
	alarm(0);
	proxy_cbs_detach(&a);
	region_close(&r);
}

TEST_MAIN(sizes_and_attach, keys_and_epochs, two_processes_no_lost_update, two_processes_trip_once,
	  reload_starts_fresh, clocks_behind, many_reloads_reclaim, killed_holding_lock)
