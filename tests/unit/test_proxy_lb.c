/* Unit tests for proxy_lb.h: smooth weighted round-robin sequences and distributions, health,
 * dynamic round-robin boosts, sticky cookies (valid, unknown, unhealthy), cookie parsing and
 * Set-Cookie values, maxConn at the boundary and the key table's cap, state carried across a
 * table swap, memory sizing; maxConn in the shared mode (proxy_maxconn.h): the same verdicts,
 * the same backend name counted together from two tables and two worker processes. */
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base_err.h"
#include "proxy/proxy_lb.h"
#include "test.h"

#define NTOK 4096
static json_tok toks_[NTOK];
static _Alignas(16) unsigned char tmem_[2][1 << 18];
static _Alignas(16) unsigned char lmem_[2][1 << 16];
static struct arena tarena_[2], larena_[2];
static const uint8_t seed_[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* Load a document (' for ") into slot k and prepare its balancer state. */
static const struct proxy_table *setup(int k, const char *tmpl, struct proxy_lb *lb,
				       uint32_t max_conn_keys)
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
	arena_init(&larena_[k], lmem_[k], sizeof lmem_[k]);
	if (proxy_lb_init(lb, t, &larena_[k], max_conn_keys, seed_) != 0)
		return NULL;
	return t;
}

#define BACKENDS(b) "{'version':1,'revision':1,'backends':{" b "}}"

/* Pick n times from backend 0; write server names' first letters into out. */
static void picks(struct proxy_lb *lb, int n, char *out)
{
	for (int i = 0; i < n; i++) {
		struct proxy_lb_pick p;
		if (proxy_lb_pick(lb, 0, (struct slice){"", 0}, &p) != 0) {
			out[i] = '-';
			continue;
		}
		out[i] = lb->t->srv[p.srv].name.p[0];
		proxy_lb_done(lb, p.srv, 1000, true);
	}
	out[n] = 0;
}

static void wrr_sequence(void)
{
	struct proxy_lb lb;
	char seq[64];
	REQUIRE(setup(0,
		      BACKENDS("'b':{'servers':{'a':{'url':'http://a','weight':5},"
			       "'b':{'url':'http://b','weight':1},"
			       "'c':{'url':'http://c','weight':1}}}"),
		      &lb, 4));
	/* nginx's smooth weighted round-robin: interleaved, never aaaaabc. */
	picks(&lb, 14, seq);
	CHECK_EQ_STR(seq, "aabacaaaabacaa");
	/* Equal weights: plain round-robin in document order. */
	REQUIRE(setup(0,
		      BACKENDS("'b':{'servers':{'x':{'url':'http://x'},'y':{'url':'http://y'},"
			       "'z':{'url':'http://z'}}}"),
		      &lb, 4));
	picks(&lb, 6, seq);
	CHECK_EQ_STR(seq, "xyzxyz");
	/* Weight 0 counts as 1. */
	REQUIRE(setup(0,
		      BACKENDS("'b':{'servers':{'x':{'url':'http://x','weight':0},"
			       "'y':{'url':'http://y','weight':1}}}"),
		      &lb, 4));
	picks(&lb, 4, seq);
	CHECK_EQ_STR(seq, "xyxy");
}

static void wrr_distribution(void)
{
	struct proxy_lb lb;
	const struct proxy_table *t;
	t = setup(0,
		  BACKENDS("'b':{'servers':{'a':{'url':'http://a','weight':5},"
			   "'b':{'url':'http://b','weight':1},"
			   "'c':{'url':'http://c','weight':1}}}"),
		  &lb, 4);
	REQUIRE(t);
	int count[3] = {0, 0, 0}, run = 0, maxrun = 0, last = -1;
	for (int i = 0; i < 1000; i++) {
		struct proxy_lb_pick p;
		REQUIRE(proxy_lb_pick(&lb, 0, (struct slice){"", 0}, &p) == 0);
		count[p.srv]++;
		run = (int)p.srv == last ? run + 1 : 1;
		last = (int)p.srv;
		if (run > maxrun)
			maxrun = run;
	}
	/* 1000 = 142 cycles of 7 + 6: exact shares, within one pick. */
	CHECK(count[0] >= 714 && count[0] <= 715);
	CHECK(count[1] >= 142 && count[1] <= 143);
	CHECK(count[2] >= 142 && count[2] <= 143);
	CHECK_EQ_INT(count[0] + count[1] + count[2], 1000);
	CHECK(maxrun <= 4); /* smooth: the heavy server never runs 5 in a row */
	CHECK_EQ_INT(lb.srv[0].picks, count[0]);
	CHECK_EQ_INT(lb.srv[0].active, count[0]); /* never reported done */
}

static void health(void)
{
	struct proxy_lb lb;
	struct proxy_lb_pick p;
	char seq[16];
	REQUIRE(setup(0,
		      BACKENDS("'b':{'servers':{'a':{'url':'http://a'},'b':{'url':'http://b'}}},"
			       "'empty':{}"),
		      &lb, 4));
	CHECK_EQ_INT(lb.be[0].nup, 2);
	CHECK(proxy_lb_set_up(&lb, 0, false));
	CHECK(!proxy_lb_set_up(&lb, 0, false)); /* no change */
	picks(&lb, 3, seq);
	CHECK_EQ_STR(seq, "bbb");
	CHECK(proxy_lb_set_up(&lb, 1, false));
	CHECK_EQ_INT(proxy_lb_pick(&lb, 0, (struct slice){"", 0}, &p), -ERR_PROXY_NO_SERVER);
	CHECK(proxy_lb_set_up(&lb, 0, true));
	picks(&lb, 2, seq);
	CHECK_EQ_STR(seq, "aa");
	CHECK(proxy_lb_set_up(&lb, 1, true));
	picks(&lb, 4, seq);
	CHECK_EQ_STR(seq, "abab");
	/* A backend without servers: 503. */
	CHECK_EQ_INT(proxy_lb_pick(&lb, 1, (struct slice){"", 0}, &p), -ERR_PROXY_NO_SERVER);
	CHECK_EQ_INT(proxy_lb_pick(&lb, 7, (struct slice){"", 0}, &p), -ERR_INVAL);
	CHECK(!proxy_lb_set_up(&lb, 99, false));
}

static void drr_boosts(void)
{
	struct proxy_lb lb;
	const struct proxy_table *t;
	t = setup(0,
		  BACKENDS("'b':{'loadBalancer':{'method':'drr'},'servers':{"
			   "'fast':{'url':'http://f'},'slow':{'url':'http://s'},"
			   "'mid':{'url':'http://m'}}}"),
		  &lb, 4);
	REQUIRE(t);
	/* Latencies: fast 1 ms, mid 4 ms, slow 10 ms. Several windows. */
	int count[3] = {0, 0, 0};
	for (int i = 0; i < 20 * PROXY_DRR_WINDOW; i++) {
		struct proxy_lb_pick p;
		REQUIRE(proxy_lb_pick(&lb, 0, (struct slice){"", 0}, &p) == 0);
		uint32_t lat = p.srv == 0 ? 1000 : p.srv == 1 ? 10000 : 4000;
		if (i >= 10 * PROXY_DRR_WINDOW)
			count[p.srv]++;
		proxy_lb_done(&lb, p.srv, lat, true);
	}
	CHECK_EQ_INT(lb.srv[0].boost, PROXY_DRR_MAX_BOOST);
	CHECK_EQ_INT(lb.srv[1].boost, 1);
	CHECK(lb.be[0].rebalances >= 19);
	CHECK(count[0] > 4 * count[1]);      /* the fast server gets most of the traffic */
	CHECK(count[1] > 0 && count[2] > 0); /* but nobody starves */
	/* Mostly failing: back to 1 at the next window. */
	for (int i = 0; i < PROXY_DRR_WINDOW; i++)
		proxy_lb_done(&lb, 0, 0, false);
	CHECK_EQ_INT(lb.srv[0].boost, 1);
	CHECK_EQ_INT(lb.srv[0].fails, PROXY_DRR_WINDOW);
	/* A health change resets every boost of the backend. */
	lb.srv[2].boost = 4;
	CHECK(proxy_lb_set_up(&lb, 1, false));
	CHECK(lb.srv[2].boost == 1 && lb.srv[2].ew == 1);
	/* wrr ignores boosts. */
	t = setup(0, BACKENDS("'b':{'servers':{'f':{'url':'http://f'},'s':{'url':'http://s'}}}"),
		  &lb, 4);
	REQUIRE(t);
	for (int i = 0; i < 3 * PROXY_DRR_WINDOW; i++) {
		struct proxy_lb_pick p;
		REQUIRE(proxy_lb_pick(&lb, 0, (struct slice){"", 0}, &p) == 0);
		proxy_lb_done(&lb, p.srv, p.srv ? 50000 : 10, true);
	}
	CHECK(lb.srv[0].boost == 1 && lb.be[0].rebalances == 0);
}

#define STICKY                                                                        \
	BACKENDS("'b':{'loadBalancer':{'stickiness':{'secure':true,'httpOnly':true,"  \
		 "'sameSite':'strict'}},'servers':{'a':{'url':'http://10.0.0.1:80'}," \
		 "'b':{'url':'http://10.0.0.2:80'}}},"                                \
		 "'plain':{'servers':{'a':{'url':'http://10.0.0.3:80'}}}")

static void sticky_cookie(void)
{
	struct proxy_lb lb;
	struct proxy_lb_pick p;
	const struct proxy_table *t = setup(0, STICKY, &lb, 4);
	REQUIRE(t);
	/* No cookie: a pick and a cookie to set. */
	REQUIRE(proxy_lb_pick(&lb, 0, (struct slice){"", 0}, &p) == 0);
	CHECK(p.set_cookie && p.srv == 0);
	/* A cookie naming server b: b, every time, no new cookie. */
	for (int i = 0; i < 5; i++) {
		REQUIRE(proxy_lb_pick(&lb, 0, SLICE_LIT("http://10.0.0.2:80"), &p) == 0);
		CHECK(p.srv == 1 && !p.set_cookie);
	}
	/* An unknown server: picked again, fresh cookie. */
	REQUIRE(proxy_lb_pick(&lb, 0, SLICE_LIT("http://10.9.9.9:80"), &p) == 0);
	CHECK(p.set_cookie);
	/* b unhealthy: its cookie is ignored, a is picked, fresh cookie. */
	proxy_lb_set_up(&lb, 1, false);
	REQUIRE(proxy_lb_pick(&lb, 0, SLICE_LIT("http://10.0.0.2:80"), &p) == 0);
	CHECK(p.srv == 0 && p.set_cookie);
	/* Non-sticky backend: cookies are not looked at, none set. */
	REQUIRE(proxy_lb_pick(&lb, 1, SLICE_LIT("http://10.0.0.3:80"), &p) == 0);
	CHECK(!p.set_cookie);
	/* Set-Cookie value. */
	char out[PROXY_COOKIE_MAX];
	int n = proxy_lb_cookie(t, 1, out, sizeof out);
	CHECK(n > 0);
	CHECK_EQ_STR(out, "_e9d71=http://10.0.0.2:80; Path=/; Secure; HttpOnly; SameSite=Strict");
	CHECK_EQ_INT(proxy_lb_cookie(t, 1, out, (size_t)n), -ERR_BUF_FULL);
	CHECK_EQ_INT(proxy_lb_cookie(t, 1, out, (size_t)n + 1), n);
	CHECK_EQ_INT(proxy_lb_cookie(t, 42, out, sizeof out), -ERR_INVAL);
}

static void cookie_parsing(void)
{
	struct slice v;
	struct slice h = SLICE_LIT("a=1; _e9d71=http://10.0.0.2:80;b=\"q\" ;  c = 3 ;bad; d=");
	CHECK(proxy_cookie_get(h, SLICE_LIT("_e9d71"), &v) == 0);
	CHECK_EQ_MEM(v.p, v.len, "http://10.0.0.2:80");
	CHECK(proxy_cookie_get(h, SLICE_LIT("a"), &v) == 0);
	CHECK_EQ_MEM(v.p, v.len, "1");
	CHECK(proxy_cookie_get(h, SLICE_LIT("b"), &v) == 0);
	CHECK_EQ_MEM(v.p, v.len, "q");
	CHECK(proxy_cookie_get(h, SLICE_LIT("c"), &v) == 0);
	CHECK_EQ_MEM(v.p, v.len, "3");
	CHECK(proxy_cookie_get(h, SLICE_LIT("d"), &v) == 0);
	CHECK_EQ_INT(v.len, 0);
	CHECK(proxy_cookie_get(h, SLICE_LIT("bad"), &v) == -ERR_NOTFOUND);
	CHECK(proxy_cookie_get(h, SLICE_LIT("A"), &v) == -ERR_NOTFOUND); /* case-sensitive */
	CHECK(proxy_cookie_get(SLICE_LIT(""), SLICE_LIT("a"), &v) == -ERR_NOTFOUND);
}

#define MAXCONN(amount, ex)                                                      \
	BACKENDS(                                                                \
		"'b':{'maxConn':{'amount':" amount ",'extractorFunc':'" ex "'}," \
		"'servers':{'a':{'url':'http://a'}}},'free':{'servers':{'a':{'url':'http://a'}}}")

static void maxconn_boundary(void)
{
	struct proxy_lb lb;
	uint64_t r1, r2, r3, r4;
	REQUIRE(setup(0, MAXCONN("2", "request.host"), &lb, 8));
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("a.com"), &r1), 0);
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("a.com"), &r2), 0);
	CHECK_EQ_INT(proxy_lb_conn_count(&lb, 0, SLICE_LIT("a.com")), 2);
	/* The third concurrent request for the same key: 429. */
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("a.com"), &r3), -ERR_PROXY_MAXCONN);
	CHECK(r3 == 0);
	/* Other keys are counted apart. */
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("b.com"), &r4), 0);
	proxy_lb_conn_release(&lb, r1);
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("a.com"), &r3), 0);
	proxy_lb_conn_release(&lb, r2);
	proxy_lb_conn_release(&lb, r3);
	proxy_lb_conn_release(&lb, r4);
	CHECK_EQ_INT(lb.conn_keys, 0);
	CHECK_EQ_INT(proxy_lb_conn_count(&lb, 0, SLICE_LIT("a.com")), 0);
	/* No maxConn: always allowed, null ref. */
	for (int i = 0; i < 100; i++) {
		CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 1, SLICE_LIT("a.com"), &r1), 0);
		CHECK(r1 == 0);
	}
	proxy_lb_conn_release(&lb, 0);
	/* amount 1 */
	REQUIRE(setup(0, MAXCONN("1", "client.ip"), &lb, 8));
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("10.0.0.1"), &r1), 0);
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("10.0.0.1"), &r2), -ERR_PROXY_MAXCONN);
}

static void maxconn_key_table(void)
{
	struct proxy_lb lb;
	uint64_t refs[64];
	char key[16];
	REQUIRE(setup(0, MAXCONN("3", "request.host"), &lb, 16));
	/* Exactly max_conn_keys distinct keys fit; one more is refused with its own code. */
	for (int i = 0; i < 16; i++) {
		snprintf(key, sizeof key, "h%d", i);
		CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, slice_from_cstr(key), &refs[i]), 0);
	}
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("one-more"), &refs[16]),
		     -ERR_PROXY_CONN_KEYS_FULL);
	CHECK_EQ_INT(lb.conn_full, 1);
	/* An existing key still counts up. */
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("h3"), &refs[17]), 0);
	proxy_lb_conn_release(&lb, refs[17]);
	/* Release in a scrambled order: counts stay right for the keys left (backward-shift
	 * deletion keeps every probe chain intact). */
	for (int i = 0; i < 16; i += 2)
		proxy_lb_conn_release(&lb, refs[i]);
	for (int i = 0; i < 16; i++) {
		snprintf(key, sizeof key, "h%d", i);
		CHECK_EQ_INT(proxy_lb_conn_count(&lb, 0, slice_from_cstr(key)), i % 2);
	}
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("one-more"), &refs[16]), 0);
	/* Churn: many keys in and out, the table never leaks a slot. */
	for (int round = 0; round < 200; round++) {
		uint64_t r;
		snprintf(key, sizeof key, "k%d", round);
		REQUIRE(proxy_lb_conn_acquire(&lb, 0, slice_from_cstr(key), &r) == 0);
		proxy_lb_conn_release(&lb, r);
	}
	CHECK_EQ_INT(lb.conn_keys, 9);
}

static void extractor_keys(void)
{
	struct proxy_lb lb;
	struct http_header h[2] = {{SLICE_LIT("x-tenant"), SLICE_LIT("acme"), 0, 0},
				   {SLICE_LIT("X-Tenant"), SLICE_LIT("other"), 0, 0}};
	struct proxy_req_view v = {
		SLICE_LIT("GET"), SLICE_LIT("a.com:8080"), SLICE_LIT("/"), SLICE_LIT(""), h, 2};
	const struct proxy_table *t = setup(0, MAXCONN("1", "request.header.X-Tenant"), &lb, 4);
	REQUIRE(t);
	struct slice k = proxy_lb_conn_key(&t->be[0], &v, SLICE_LIT("10.1.1.1"));
	CHECK_EQ_MEM(k.p, k.len, "acme");
	v.nhdr = 0;
	k = proxy_lb_conn_key(&t->be[0], &v, SLICE_LIT("10.1.1.1"));
	CHECK_EQ_INT(k.len, 0);
	t = setup(0, MAXCONN("1", "client.ip"), &lb, 4);
	REQUIRE(t);
	k = proxy_lb_conn_key(&t->be[0], &v, SLICE_LIT("10.1.1.1"));
	CHECK_EQ_MEM(k.p, k.len, "10.1.1.1");
	t = setup(0, MAXCONN("1", "request.host"), &lb, 4);
	REQUIRE(t);
	k = proxy_lb_conn_key(&t->be[0], &v, SLICE_LIT("10.1.1.1"));
	CHECK_EQ_MEM(k.p, k.len, "a.com:8080");
}

static void carry_over(void)
{
	struct proxy_lb old, nw;
	const struct proxy_table *t0, *t1;
	t0 = setup(0,
		   BACKENDS("'b':{'loadBalancer':{'method':'drr'},'servers':{"
			    "'a':{'url':'http://a'},'b':{'url':'http://b'}}},"
			    "'gone':{'servers':{'x':{'url':'http://x'}}}"),
		   &old, 4);
	REQUIRE(t0);
	proxy_lb_set_up(&old, 1, false);
	old.srv[0].boost = 4;
	old.srv[0].lat_us = 1234;
	/* New table: servers reordered, one added, backend renamed away, another added. */
	t1 = setup(1,
		   BACKENDS("'new':{'servers':{'n':{'url':'http://n'}}},"
			    "'b':{'loadBalancer':{'method':'drr'},'servers':{"
			    "'c':{'url':'http://c'},'b':{'url':'http://b'},"
			    "'a':{'url':'http://a'}}}"),
		   &nw, 4);
	REQUIRE(t1);
	proxy_lb_carry(&nw, &old);
	int b = proxy_table_backend(t1, SLICE_LIT("b"));
	REQUIRE(b == 1);
	uint32_t first = t1->be[b].first_server;
	CHECK(nw.srv[first].up);      /* c: new, healthy */
	CHECK(!nw.srv[first + 1].up); /* b: was down, stays down */
	CHECK(nw.srv[first + 2].up && nw.srv[first + 2].boost == 4 &&
	      nw.srv[first + 2].lat_us == 1234);
	CHECK_EQ_INT(nw.be[b].nup, 2);
	CHECK_EQ_INT(nw.srv[first + 2].ew, 4);
}

static void sizing(void)
{
	struct proxy_lb lb;
	const struct proxy_table *t = setup(0, STICKY, &lb, 4);
	REQUIRE(t);
	size_t need = proxy_lb_bytes(t, 100);
	struct proxy_limits lim;
	proxy_limits_default(&lim);
	CHECK(need <= proxy_lb_bytes_max(&lim, 100));
	static _Alignas(16) unsigned char m[1 << 14];
	struct arena a;
	arena_init(&a, m, need);
	CHECK_EQ_INT(proxy_lb_init(&lb, t, &a, 100, seed_), 0);
	CHECK(a.used <= need);
	arena_init(&a, m, 64);
	CHECK_EQ_INT(proxy_lb_init(&lb, t, &a, 100, seed_), -ERR_ARENA_FULL);
	arena_init(&a, m, sizeof m);
	CHECK_EQ_INT(proxy_lb_init(&lb, t, &a, 0, seed_), -ERR_INVAL);
	CHECK_EQ_INT(proxy_lb_init(&lb, NULL, &a, 1, seed_), -ERR_INVAL);
	if (getenv("PROXY_BENCH"))
		printf("# proxy_lb_bytes_max(defaults, 4096 keys) = %zu\n",
		       proxy_lb_bytes_max(&lim, 4096));
}

/* ---- maxConn, shared mode ------------------------------------------------------------------ */

/* Table k's state over the node's counts mc instead of a private table. */
static const struct proxy_table *setup_shared(int k, const char *tmpl, struct proxy_lb *lb,
					      struct proxy_mc *mc)
{
	const struct proxy_table *t = setup(k, tmpl, lb, 1);
	if (!t)
		return NULL;
	arena_init(&larena_[k], lmem_[k], sizeof lmem_[k]);
	return proxy_lb_init_shared(lb, t, &larena_[k], mc) == 0 ? t : NULL;
}

struct shmap {
	void *mem;
	size_t bytes;
};

static int shmap_open(struct shmap *m, uint32_t keys, uint32_t workers)
{
	m->bytes = proxy_mc_bytes(keys, workers);
	m->mem = mmap(NULL, m->bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return m->mem == MAP_FAILED ? -1 : 0;
}

static void maxconn_shared_boundary(void)
{
	struct shmap sm;
	REQUIRE(shmap_open(&sm, 8, 2) == 0);
	struct proxy_mc mc, master;
	REQUIRE(proxy_mc_attach(&mc, sm.mem, sm.bytes, 8, 2, 0, 7, 8) == 0);
	REQUIRE(proxy_mc_attach(&master, sm.mem, sm.bytes, 8, 2, PROXY_MC_MASTER, 7, 8) == 0);
	struct proxy_lb lb;
	uint64_t r1, r2, r3, r4;
	/* the master's view holds nothing: it cannot count requests */
	REQUIRE(setup(0, MAXCONN("2", "request.host"), &lb, 1));
	arena_init(&larena_[0], lmem_[0], sizeof lmem_[0]);
	CHECK_EQ_INT(proxy_lb_init_shared(&lb, lb.t, &larena_[0], &master), -ERR_INVAL);
	REQUIRE(setup_shared(0, MAXCONN("2", "request.host"), &lb, &mc));
	CHECK(lb.conn == NULL);
	CHECK_EQ_INT(proxy_lb_bytes(lb.t, 0) < proxy_lb_bytes(lb.t, 8), 1);
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("a.com"), &r1), 0);
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("a.com"), &r2), 0);
	CHECK_EQ_INT(proxy_lb_conn_count(&lb, 0, SLICE_LIT("a.com")), 2);
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("a.com"), &r3), -ERR_PROXY_MAXCONN);
	CHECK(r3 == 0);
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("b.com"), &r4), 0);
	proxy_lb_conn_release(&lb, r1);
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("a.com"), &r3), 0);
	proxy_lb_conn_release(&lb, r2);
	proxy_lb_conn_release(&lb, r3);
	proxy_lb_conn_release(&lb, r4);
	CHECK_EQ_INT(proxy_lb_conn_count(&lb, 0, SLICE_LIT("a.com")), 0);
	CHECK_EQ_INT(proxy_lb_conn_count(&lb, 0, SLICE_LIT("b.com")), 0);
	CHECK_EQ_INT(mc.hused, 0);
	/* no maxConn: always allowed, null ref, nothing counted */
	for (int i = 0; i < 20; i++) {
		CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 1, SLICE_LIT("a.com"), &r1), 0);
		CHECK(r1 == 0);
	}
	CHECK_EQ_INT(mc.hused, 0);
	/* this worker's key cap (max_conn_keys 8) */
	char key[16];
	uint64_t refs[9];
	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof key, "k%d", i);
		CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, slice_from_cstr(key), &refs[i]), 0);
	}
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("k8"), &refs[8]),
		     -ERR_PROXY_CONN_KEYS_FULL);
	CHECK_EQ_INT(lb.conn_full, 1);
	for (int i = 0; i < 8; i++)
		proxy_lb_conn_release(&lb, refs[i]);
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lb, 0, SLICE_LIT("k8"), &refs[8]), 0);
	proxy_lb_conn_release(&lb, refs[8]);
	munmap(sm.mem, sm.bytes);
}

/* Two routing tables (the old and the new document of a reload) where backend "api" has
 * another index: its counts are the same; another backend's are not. */
#define TWO_A                                                                         \
	BACKENDS("'api':{'maxConn':{'amount':3,'extractorFunc':'request.host'},"      \
		 "'servers':{'a':{'url':'http://a'}}},'web':{'maxConn':{'amount':3}," \
		 "'servers':{'a':{'url':'http://a'}}}")
#define TWO_B                                                                               \
	BACKENDS("'aaa':{'servers':{'a':{'url':'http://a'}}},'api':{'maxConn':{'amount':3," \
		 "'extractorFunc':'request.host'},'servers':{'b':{'url':'http://b'}}}")

static void maxconn_shared_two_tables(void)
{
	struct shmap sm;
	REQUIRE(shmap_open(&sm, 8, 2) == 0);
	struct proxy_mc mc;
	REQUIRE(proxy_mc_attach(&mc, sm.mem, sm.bytes, 8, 2, 0, 7, 8) == 0);
	struct proxy_lb lo, ln;
	const struct proxy_table *to = setup_shared(0, TWO_A, &lo, &mc);
	const struct proxy_table *tn = setup_shared(1, TWO_B, &ln, &mc);
	REQUIRE(to && tn);
	int bo = proxy_table_backend(to, SLICE_LIT("api")),
	    bn = proxy_table_backend(tn, SLICE_LIT("api"));
	int web = proxy_table_backend(to, SLICE_LIT("web"));
	REQUIRE(bo >= 0 && bn >= 0 && web >= 0);
	REQUIRE(bo != bn); /* the index differs, the name does not */
	uint64_t r[4], w;
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lo, (uint32_t)bo, SLICE_LIT("h"), &r[0]), 0);
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lo, (uint32_t)bo, SLICE_LIT("h"), &r[1]), 0);
	CHECK_EQ_INT(proxy_lb_conn_acquire(&ln, (uint32_t)bn, SLICE_LIT("h"), &r[2]), 0);
	CHECK_EQ_INT(proxy_lb_conn_count(&ln, (uint32_t)bn, SLICE_LIT("h")), 3);
	CHECK_EQ_INT(proxy_lb_conn_count(&lo, (uint32_t)bo, SLICE_LIT("h")), 3);
	CHECK_EQ_INT(proxy_lb_conn_acquire(&ln, (uint32_t)bn, SLICE_LIT("h"), &r[3]),
		     -ERR_PROXY_MAXCONN);
	CHECK(r[0] == r[2]); /* one key */
	/* "web" at api's old index in the other table is another backend */
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lo, (uint32_t)web, SLICE_LIT("h"), &w), 0);
	CHECK(w != r[0]);
	CHECK_EQ_INT(proxy_lb_conn_count(&lo, (uint32_t)web, SLICE_LIT("h")), 1);
	/* a request of the old table released through it frees a slot for the new one */
	proxy_lb_conn_release(&lo, r[0]);
	CHECK_EQ_INT(proxy_lb_conn_acquire(&ln, (uint32_t)bn, SLICE_LIT("h"), &r[3]), 0);
	proxy_lb_conn_release(&lo, r[1]);
	proxy_lb_conn_release(&ln, r[2]);
	proxy_lb_conn_release(&ln, r[3]);
	proxy_lb_conn_release(&lo, w);
	CHECK_EQ_INT(proxy_lb_conn_count(&ln, (uint32_t)bn, SLICE_LIT("h")), 0);
	CHECK_EQ_INT(mc.hused, 0);

	/* Another worker process, with its own table of the new document: counted together. */
	pid_t child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		struct proxy_mc cm;
		struct proxy_lb cl;
		uint64_t cr;
		alarm(30);
		if (proxy_mc_attach(&cm, sm.mem, sm.bytes, 8, 2, 1, 7, 8) != 0 ||
		    !setup_shared(1, TWO_B, &cl, &cm))
			_exit(2);
		for (int i = 0; i < 2; i++)
			if (proxy_lb_conn_acquire(&cl, (uint32_t)bn, SLICE_LIT("h"), &cr) != 0)
				_exit(3);
		_exit(0);
	}
	int status = 0;
	CHECK_EQ_INT(waitpid(child, &status, 0), child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ_INT(proxy_lb_conn_count(&lo, (uint32_t)bo, SLICE_LIT("h")), 2);
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lo, (uint32_t)bo, SLICE_LIT("h"), &r[0]), 0);
	CHECK_EQ_INT(proxy_lb_conn_acquire(&lo, (uint32_t)bo, SLICE_LIT("h"), &r[1]),
		     -ERR_PROXY_MAXCONN);
	/* the child exited holding 2: the master's reap gives them back */
	struct proxy_mc master;
	REQUIRE(proxy_mc_attach(&master, sm.mem, sm.bytes, 8, 2, PROXY_MC_MASTER, 7, 8) == 0);
	CHECK_EQ_INT(proxy_mc_reap(&master, 1), 2);
	CHECK_EQ_INT(proxy_lb_conn_count(&ln, (uint32_t)bn, SLICE_LIT("h")), 1);
	proxy_lb_conn_release(&lo, r[0]);
	munmap(sm.mem, sm.bytes);
}

TEST_MAIN(wrr_sequence, wrr_distribution, health, drr_boosts, sticky_cookie, cookie_parsing,
	  maxconn_boundary, maxconn_key_table, extractor_keys, carry_over, sizing,
	  maxconn_shared_boundary, maxconn_shared_two_tables)
