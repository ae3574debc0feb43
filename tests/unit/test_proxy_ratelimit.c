/* Unit tests for proxy_ratelimit.h: bucket arithmetic on a fake clock (burst, refill, the cap
 * after idling, several rate sets, a 429 that takes nothing), keys (per key, per frontend
 * name, a changed rate set starts full), unusable rate sets, replacement at a tiny table, the
 * key extractors, Go durations and the 429's fields. */
#include "base/base_err.h"
#include "http/http_parse.h"
#include "proxy/proxy_ratelimit.h"
#include "test.h"

#define MS 1000000ull /* ns */

static struct proxy_frontend fe_make(const char *name, const struct proxy_rateset *sets, uint32_t n)
{
	struct proxy_frontend fe;
	memset(&fe, 0, sizeof fe);
	fe.name = slice_from_cstr(name);
	fe.ratesets = sets;
	fe.nratesets = n;
	fe.ratelimit_extractor = PROXY_EXTRACT_HOST;
	return fe;
}

static int take(struct proxy_rl *rl, const struct proxy_frontend *fe, const char *key,
		uint64_t now_ms, uint64_t *retry)
{
	uint64_t r;
	int v = (int)proxy_rl_take(rl, fe, slice_from_cstr(key), now_ms, retry ? retry : &r);
	return v;
}

/* average 5 per 1 s, burst 5: five at once, the sixth waits 200 ms; one token every 200 ms. */
static void test_burst_and_refill(void)
{
	struct proxy_rl rl;
	REQUIRE(proxy_rl_init(&rl, 64, 1, 2) == 0);
	/* each 429 also counts in the engine's registry (traefikee_ratelimit_rejected_total) */
	size_t msz = proxy_metrics_size(8, 4);
	void *mmem = malloc(msz);
	REQUIRE(mmem);
	rl.metrics = proxy_metrics_init(mmem, msz, 8, 4);
	REQUIRE(rl.metrics);
	struct proxy_rateset rs = {SLICE_LIT("s"), 1000, 5, 5};
	struct proxy_frontend fe = fe_make("web", &rs, 1);
	uint64_t t0 = 5000, retry = 0;
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(take(&rl, &fe, "k", t0, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &fe, "k", t0, &retry), PROXY_RL_LIMITED);
	CHECK_EQ_INT(retry, 200 * MS);
	CHECK_EQ_INT(take(&rl, &fe, "k", t0 + 150, &retry), PROXY_RL_LIMITED);
	CHECK_EQ_INT(retry, 50 * MS);
	CHECK_EQ_INT(take(&rl, &fe, "k", t0 + 199, &retry), PROXY_RL_LIMITED);
	CHECK_EQ_INT(retry, 1 * MS);
	/* exactly one token after 200 ms */
	CHECK_EQ_INT(take(&rl, &fe, "k", t0 + 200, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &fe, "k", t0 + 200, &retry), PROXY_RL_LIMITED);
	CHECK_EQ_INT(retry, 200 * MS);
	/* after 1 s of quiet: 5 tokens again, not more */
	uint64_t t1 = t0 + 200 + 1000;
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(take(&rl, &fe, "k", t1, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &fe, "k", t1, NULL), PROXY_RL_LIMITED);
	/* a long idle period does not bank more than burst */
	uint64_t t2 = t1 + 3600 * 1000;
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(take(&rl, &fe, "k", t2, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &fe, "k", t2, NULL), PROXY_RL_LIMITED);
	/* a steady 5/s passes indefinitely */
	for (int i = 1; i <= 50; i++)
		CHECK_EQ_INT(take(&rl, &fe, "k", t2 + 200u * (unsigned)i, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(rl.st.allowed, 5 + 1 + 5 + 5 + 50);
	CHECK_EQ_INT(rl.st.limited, 1 + 2 + 1 + 1 + 1);
	CHECK_EQ_INT(rl.metrics->eng.rl_rejected, 1 + 2 + 1 + 1 + 1);
	CHECK_EQ_INT(proxy_metrics_value(rl.metrics, "traefikee_ratelimit_rejected_total", NULL, 0),
		     6);
	/* burst below average: 1 at once, then 10/s */
	struct proxy_rateset rs2 = {SLICE_LIT("s"), 1000, 10, 1};
	struct proxy_frontend fe2 = fe_make("api", &rs2, 1);
	CHECK_EQ_INT(take(&rl, &fe2, "k", t0, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &fe2, "k", t0, &retry), PROXY_RL_LIMITED);
	CHECK_EQ_INT(retry, 100 * MS);
	CHECK_EQ_INT(take(&rl, &fe2, "k", t0 + 100, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(rl.metrics->eng.rl_rejected, rl.st.limited);
	proxy_rl_fini(&rl);
	free(mmem);
}

/* Two rate sets: a request takes from both, and a refused one from neither. */
static void test_ratesets_all_or_nothing(void)
{
	struct proxy_rl rl;
	REQUIRE(proxy_rl_init(&rl, 64, 3, 4) == 0);
	struct proxy_rateset rs[2] = {
		{SLICE_LIT("fast"), 100, 1, 1},  /* 1 per 100 ms */
		{SLICE_LIT("slow"), 60000, 1, 3} /* 3 at once, then 1 per minute */
	};
	struct proxy_frontend fe = fe_make("web", rs, 2);
	uint64_t t0 = 1000, retry;
	CHECK_EQ_INT(take(&rl, &fe, "k", t0, NULL), PROXY_RL_ALLOW);
	/* "fast" is empty: these are refused and must not drain "slow" */
	for (int i = 0; i < 10; i++) {
		CHECK_EQ_INT(take(&rl, &fe, "k", t0 + (unsigned)i, &retry), PROXY_RL_LIMITED);
		CHECK_EQ_INT(retry, (100 - (unsigned)i) * MS);
	}
	CHECK_EQ_INT(take(&rl, &fe, "k", t0 + 100, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &fe, "k", t0 + 200, NULL), PROXY_RL_ALLOW);
	/* "slow" is empty now; the delay is the larger of the two (slow: 59.7 s) */
	CHECK_EQ_INT(take(&rl, &fe, "k", t0 + 300, &retry), PROXY_RL_LIMITED);
	CHECK_EQ_INT(retry, 59700 * MS);
	CHECK_EQ_INT(take(&rl, &fe, "k", t0 + 60000, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &fe, "k", t0 + 60100, NULL), PROXY_RL_LIMITED);
	CHECK_EQ_INT(rl.st.used, 2); /* one bucket per rate set of the one key */
	proxy_rl_fini(&rl);
}

/* Keys are independent, per frontend NAME (a reloaded frontend keeps its buckets), and a
 * changed rate set starts with a full bucket. */
static void test_keys_and_frontends(void)
{
	struct proxy_rl rl;
	REQUIRE(proxy_rl_init(&rl, 256, 5, 6) == 0);
	struct proxy_rateset rs = {SLICE_LIT("s"), 1000, 1, 2};
	struct proxy_frontend a = fe_make("a", &rs, 1), b = fe_make("b", &rs, 1);
	uint64_t t = 777;
	CHECK_EQ_INT(take(&rl, &a, "x", t, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &a, "x", t, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &a, "x", t, NULL), PROXY_RL_LIMITED);
	CHECK_EQ_INT(take(&rl, &a, "y", t, NULL), PROXY_RL_ALLOW); /* other key */
	CHECK_EQ_INT(take(&rl, &a, "", t, NULL), PROXY_RL_ALLOW);  /* the empty key is a key */
	CHECK_EQ_INT(take(&rl, &b, "x", t, NULL), PROXY_RL_ALLOW); /* other frontend */
	CHECK_EQ_INT(take(&rl, &b, "x", t, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &b, "x", t, NULL), PROXY_RL_LIMITED);
	/* name and key are not just concatenated: ("a","bx") is not ("ab","x") */
	struct proxy_frontend ab = fe_make("ab", &rs, 1);
	CHECK_EQ_INT(take(&rl, &ab, "x", t, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &a, "bx", t, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &a, "bx", t, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &a, "bx", t, NULL), PROXY_RL_LIMITED);
	/* the same frontend in a new table (another struct, same name and rate set): still empty */
	struct proxy_rateset rs_copy = rs;
	struct proxy_frontend a2 = fe_make("a", &rs_copy, 1);
	CHECK_EQ_INT(take(&rl, &a2, "x", t + 10, NULL), PROXY_RL_LIMITED);
	/* the rate set changed (burst 3): a fresh, full bucket */
	struct proxy_rateset rs3 = {SLICE_LIT("s"), 1000, 1, 3};
	struct proxy_frontend a3 = fe_make("a", &rs3, 1);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(take(&rl, &a3, "x", t + 10, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &a3, "x", t + 10, NULL), PROXY_RL_LIMITED);
	proxy_rl_fini(&rl);
}

/* average or burst 0 (the loader's defaults): Traefik v1 refuses the rate set and skips the
 * frontend; here every request of that frontend is PROXY_RL_INVALID (404) and no bucket is
 * made. A rate over one token per nanosecond is no limit. */
static void test_invalid_and_unlimited(void)
{
	struct proxy_rl rl;
	REQUIRE(proxy_rl_init(&rl, 16, 7, 8) == 0);
	struct proxy_rateset bad[2] = {{SLICE_LIT("ok"), 1000, 1, 1},
				       {SLICE_LIT("nb"), 1000, 5, 0}};
	struct proxy_frontend fe = fe_make("web", bad, 2);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(take(&rl, &fe, "k", 10, NULL), PROXY_RL_INVALID);
	struct proxy_rateset na = {SLICE_LIT("na"), 1000, 0, 5};
	struct proxy_frontend fe2 = fe_make("web2", &na, 1);
	CHECK_EQ_INT(take(&rl, &fe2, "k", 10, NULL), PROXY_RL_INVALID);
	CHECK_EQ_INT(rl.st.invalid, 4);
	CHECK_EQ_INT(rl.st.used, 0);
	/* the load-time warning finds both (and nothing in a good frontend) */
	struct proxy_rateset good = {SLICE_LIT("g"), 1000, 1, 1};
	struct proxy_frontend fes[3] = {fe, fe2, fe_make("ok", &good, 1)};
	struct proxy_table tbl;
	memset(&tbl, 0, sizeof tbl);
	tbl.fe = fes;
	tbl.nfe = 3;
	CHECK_EQ_INT(proxy_rl_table_check(&tbl), 2);
	tbl.fe = &fes[2];
	tbl.nfe = 1;
	CHECK_EQ_INT(proxy_rl_table_check(&tbl), 0);
	struct proxy_rateset fast = {SLICE_LIT("f"), 1, 2000000, 1};
	struct proxy_frontend fe3 = fe_make("fast", &fast, 1);
	for (int i = 0; i < 100; i++)
		CHECK_EQ_INT(take(&rl, &fe3, "k", 10, NULL), PROXY_RL_ALLOW);
	/* huge numbers saturate instead of wrapping */
	struct proxy_rateset huge = {SLICE_LIT("h"), UINT64_MAX / 2, 1, INT64_MAX};
	struct proxy_frontend fe4 = fe_make("huge", &huge, 1);
	for (int i = 0; i < 10; i++)
		CHECK_EQ_INT(take(&rl, &fe4, "k", 10, NULL), PROXY_RL_ALLOW);
	struct proxy_rateset once = {SLICE_LIT("o"), UINT64_MAX / 2, 1, 1};
	struct proxy_frontend fe5 = fe_make("once", &once, 1);
	uint64_t retry;
	CHECK_EQ_INT(take(&rl, &fe5, "k", 10, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &fe5, "k", 20, &retry), PROXY_RL_LIMITED);
	CHECK(retry > 0);
	proxy_rl_fini(&rl);
	CHECK_EQ_INT(proxy_rl_init(&rl, 0, 1, 1), -ERR_INVAL);
}

/* A table of 4 slots: new keys take empty slots, then idle (full) buckets without counting an
 * eviction, and only when every slot is busy the one closest to full. */
static void test_replacement(void)
{
	struct proxy_rl rl;
	REQUIRE(proxy_rl_init(&rl, 4, 9, 10) == 0);
	struct proxy_rateset rs = {SLICE_LIT("s"), 1000, 1, 1}; /* 1 per second */
	struct proxy_frontend fe = fe_make("web", &rs, 1);
	char key[16];
	for (int i = 0; i < 4; i++) {
		snprintf(key, sizeof key, "k%d", i);
		CHECK_EQ_INT(take(&rl, &fe, key, 1000 + (unsigned)i * 100, NULL), PROXY_RL_ALLOW);
	}
	CHECK_EQ_INT(rl.st.used, 4);
	CHECK_EQ_INT(rl.st.evicted, 0);
	/* every bucket busy: k0 (tat 2000, the smallest) goes */
	CHECK_EQ_INT(take(&rl, &fe, "new", 1500, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(rl.st.evicted, 1);
	CHECK_EQ_INT(take(&rl, &fe, "k1", 1500, NULL), PROXY_RL_LIMITED); /* kept */
	CHECK_EQ_INT(take(&rl, &fe, "k0", 1500, NULL), PROXY_RL_ALLOW);   /* forgotten: full */
	CHECK_EQ_INT(rl.st.evicted, 2);
	CHECK_EQ_INT(rl.st.used, 4);
	/* later, every bucket is full again: replacing them loses nothing */
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof key, "later%d", i);
		CHECK_EQ_INT(take(&rl, &fe, key, 10000 + (unsigned)i * 2000, NULL), PROXY_RL_ALLOW);
	}
	CHECK_EQ_INT(rl.st.evicted, 2);
	/* a flood of new keys never fails, never crashes, and the table never grows */
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof key, "f%d", i);
		CHECK_EQ_INT(take(&rl, &fe, key, 100000, NULL), PROXY_RL_ALLOW);
	}
	CHECK_EQ_INT(rl.st.used, 4);
	CHECK_EQ_INT(proxy_rl_bytes(4), 4 * sizeof(struct proxy_rl_entry));
	proxy_rl_fini(&rl);
	/* one slot */
	REQUIRE(proxy_rl_init(&rl, 1, 9, 10) == 0);
	CHECK_EQ_INT(take(&rl, &fe, "a", 1000, NULL), PROXY_RL_ALLOW);
	CHECK_EQ_INT(take(&rl, &fe, "a", 1000, NULL), PROXY_RL_LIMITED);
	CHECK_EQ_INT(take(&rl, &fe, "b", 1000, NULL), PROXY_RL_ALLOW);
	proxy_rl_fini(&rl);
}

static void test_key_extractors(void)
{
	struct http_header h[2] = {
		{SLICE_LIT("X-Key"), SLICE_LIT("alice"), HTTP_H_OTHER, 0},
		{SLICE_LIT("x-key"), SLICE_LIT("bob"), HTTP_H_OTHER, 0},
	};
	struct proxy_req_view v = {
		SLICE_LIT("GET"), SLICE_LIT("Example.com:8080"), SLICE_LIT("/"), {NULL, 0}, h, 2};
	struct slice ip = SLICE_LIT("127.0.0.1");
	struct proxy_frontend fe = fe_make("web", NULL, 0);
	struct slice k = proxy_rl_key(&fe, &v, ip);
	CHECK_EQ_MEM(k.p, k.len, "Example.com:8080");
	fe.ratelimit_extractor = PROXY_EXTRACT_CLIENT_IP;
	k = proxy_rl_key(&fe, &v, ip);
	CHECK_EQ_MEM(k.p, k.len, "127.0.0.1");
	fe.ratelimit_extractor = PROXY_EXTRACT_HEADER;
	fe.ratelimit_header = SLICE_LIT("x-KEY");
	k = proxy_rl_key(&fe, &v, ip);
	CHECK_EQ_MEM(k.p, k.len, "alice"); /* the first one */
	fe.ratelimit_header = SLICE_LIT("X-Other");
	k = proxy_rl_key(&fe, &v, ip);
	CHECK(k.p != NULL && k.len == 0);
}

static void check_dur(uint64_t ns, const char *want)
{
	char b[PROXY_RL_DURATION_MAX];
	size_t n = proxy_rl_go_duration(ns, b, sizeof b);
	CHECK_EQ_STR(b, want);
	CHECK_EQ_INT(n, strlen(want));
}

static void test_go_duration(void)
{
	check_dur(0, "0s");
	check_dur(1, "1ns");
	check_dur(999, "999ns");
	check_dur(1000, "1\xc2\xb5s");
	check_dur(1500, "1.5\xc2\xb5s");
	check_dur(999999, "999.999\xc2\xb5s");
	check_dur(1000000, "1ms");
	check_dur(200000000, "200ms");
	check_dur(1234567, "1.234567ms");
	check_dur(1000000000, "1s");
	check_dur(1500000000, "1.5s");
	check_dur(59700000000ull, "59.7s");
	check_dur(60000000000ull, "1m0s");
	check_dur(90500000000ull, "1m30.5s");
	check_dur(3600000000000ull, "1h0m0s");
	check_dur(3661000000001ull, "1h1m1.000000001s");
	check_dur(INT64_MAX, "2562047h47m16.854775807s");
	check_dur(UINT64_MAX, "5124095h34m33.709551615s");
	char small[4];
	CHECK_EQ_INT(proxy_rl_go_duration(200000000, small, sizeof small), 3);
	CHECK_EQ_STR(small, "200");
}

static void test_response_fields(void)
{
	char mem[256], body[PROXY_RL_BODY_MAX];
	size_t bl = 0;
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	REQUIRE(proxy_rl_response_fields(&b, SLICE_LIT("200000000"), body, sizeof body, &bl) == 0);
	CHECK_EQ_MEM(b.data, b.len, "X-Retry-In: 200ms\r\nRetry-After: 1\r\n");
	CHECK_EQ_MEM(body, bl, "max rate reached: retry-in 200ms");
	buf_reset(&b);
	REQUIRE(proxy_rl_response_fields(&b, SLICE_LIT("59700000000"), body, sizeof body, &bl) ==
		0);
	CHECK_EQ_MEM(b.data, b.len, "X-Retry-In: 59.7s\r\nRetry-After: 60\r\n");
	buf_reset(&b);
	REQUIRE(proxy_rl_response_fields(&b, SLICE_LIT("2000000000"), body, sizeof body, &bl) == 0);
	CHECK_EQ_MEM(b.data, b.len, "X-Retry-In: 2s\r\nRetry-After: 2\r\n");
	buf_reset(&b);
	CHECK_EQ_INT(proxy_rl_response_fields(&b, SLICE_LIT("12a"), body, sizeof body, &bl),
		     -ERR_INVAL);
	CHECK_EQ_INT(proxy_rl_response_fields(&b, SLICE_LIT(""), body, sizeof body, &bl),
		     -ERR_INVAL);
	CHECK_EQ_INT(proxy_rl_response_fields(&b, SLICE_LIT("99999999999999999999"), body,
					      sizeof body, &bl),
		     -ERR_INVAL);
	CHECK_EQ_INT(b.len, 0);
	/* no room: nothing written */
	struct buf tiny;
	buf_init(&tiny, mem, 10);
	CHECK(proxy_rl_response_fields(&tiny, SLICE_LIT("1"), body, sizeof body, &bl) < 0);
	CHECK_EQ_INT(tiny.len, 0);
}

TEST_MAIN(test_burst_and_refill, test_ratesets_all_or_nothing, test_keys_and_frontends,
	  test_invalid_and_unlimited, test_replacement, test_key_extractors, test_go_duration,
	  test_response_fields)
