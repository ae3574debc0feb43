/* Unit tests for proxy_breaker.h: the expression parser (accepted forms, each refusal and its
 * message, the caps), the loader's refusal naming the key, the rolling metrics on a fake
 * clock (window edges, half-open status ranges, network errors, latency quantiles exact at
 * the millisecond), the state machine (check period, Tripped for 10 s, the recovery ramp,
 * tripping again while Recovering, back to Standby) and the evaluation of && / ||. */
#include "base/base_err.h"
#include "base/base_log.h"
#include "proxy/proxy_breaker.h"
#include "test.h"

static struct proxy_breaker br_; /* a few KiB: not on the stack */

static int compile(const char *s, struct proxy_breaker_prog *p, char *msg, size_t cap)
{
	return proxy_breaker_compile(slice_from_cstr(s), p, msg, cap);
}

static void parse_good(void)
{
	static const char *const good[] = {
		"NetworkErrorRatio() > 0.5",
		"NetworkErrorRatio()>0.5",
		"  NetworkErrorRatio()  >=  .5 ",
		"NetworkErrorRatio() > 5e-1",
		"NetworkErrorRatio() > 1.",
		"NetworkErrorRatio() < 0.5",
		"NetworkErrorRatio() <= 0.5",
		"NetworkErrorRatio() == 0.0",
		"NetworkErrorRatio() != 1.0",
		"LatencyAtQuantileMS(50.0) > 50",
		"LatencyAtQuantileMS(99.9) >= 0",
		"LatencyAtQuantileMS(150.0) > 50",
		"ResponseCodeRatio(500, 600, 0, 600) > 0.5",
		"ResponseCodeRatio(500,600,0,600,) > 0.5",
		"(NetworkErrorRatio() > 0.5)",
		"((NetworkErrorRatio()) > (0.5))",
		"NetworkErrorRatio() > 0.5 || LatencyAtQuantileMS(50.0) > 100",
		"NetworkErrorRatio() > 0.5 && ResponseCodeRatio(500, 600, 0, 600) > 0.25 || "
		"LatencyAtQuantileMS(50.0) > 100",
		"(NetworkErrorRatio() > 0.5 || LatencyAtQuantileMS(50.0) > 100) && "
		"ResponseCodeRatio(400, 500, 0, 600) > 0.1",
		"NetworkErrorRatio() > 0.5\n&&\tNetworkErrorRatio() < 0.9",
		NULL,
	};
	struct proxy_breaker_prog p;
	char msg[200];
	for (int i = 0; good[i]; i++) {
		int rc = compile(good[i], &p, msg, sizeof msg);
		if (rc != 0)
			TEST_FAIL_("\"%s\" refused: %s", good[i], msg);
		CHECK_EQ_INT(proxy_breaker_validate(slice_from_cstr(good[i]), msg, sizeof msg), 0);
	}
	/* The shape of a program: a || b && c is a, b, c, AND, OR (&& binds tighter). */
	REQUIRE(compile("NetworkErrorRatio() > 0.5 || LatencyAtQuantileMS(50.0) > 100 && "
			"ResponseCodeRatio(500, 600, 0, 600) > 0.25",
			&p, msg, sizeof msg) == 0);
	CHECK_EQ_INT(p.ncmp, 3);
	CHECK_EQ_INT(p.ncode, 5);
	CHECK_EQ_INT(p.code[0], 0);
	CHECK_EQ_INT(p.code[1], 1);
	CHECK_EQ_INT(p.code[2], 2);
	CHECK_EQ_INT(p.code[3], PB_CODE_AND);
	CHECK_EQ_INT(p.code[4], PB_CODE_OR);
	CHECK_EQ_INT(p.cmp[0].fn, PB_NETERR);
	CHECK_EQ_INT(p.cmp[0].op, PB_GT);
	CHECK(p.cmp[0].fval == 0.5);
	CHECK_EQ_INT(p.cmp[1].fn, PB_LATENCY);
	CHECK(p.cmp[1].q == 50.0);
	CHECK_EQ_INT(p.cmp[1].ival, 100);
	CHECK_EQ_INT(p.nthr, 2);
	CHECK_EQ_INT(p.thr_ms[0], 100);
	CHECK_EQ_INT(p.thr_ms[1], 101);
	CHECK_EQ_INT(p.cmp[2].fn, PB_CODES);
	CHECK_EQ_INT(p.nranges, 2);
	CHECK_EQ_INT(p.range_lo[0], 500);
	CHECK_EQ_INT(p.range_hi[0], 600);
	CHECK_EQ_INT(p.range_lo[1], 0);
	CHECK_EQ_INT(p.range_hi[1], 600);
	/* Each operator maps to its own code. */
	static const struct {
		const char *s;
		int op;
	} ops[] = {{"NetworkErrorRatio() > 0.5", PB_GT},  {"NetworkErrorRatio() >= 0.5", PB_GE},
		   {"NetworkErrorRatio() < 0.5", PB_LT},  {"NetworkErrorRatio() <= 0.5", PB_LE},
		   {"NetworkErrorRatio() == 0.5", PB_EQ}, {"NetworkErrorRatio() != 0.5", PB_NE}};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		REQUIRE(compile(ops[i].s, &p, msg, sizeof msg) == 0);
		CHECK_EQ_INT(p.cmp[0].op, ops[i].op);
	}
	/* A quantile over 100 counts as 100 (HdrHistogram's ValueAtQuantile). */
	REQUIRE(compile("LatencyAtQuantileMS(150.0) > 50", &p, msg, sizeof msg) == 0);
	CHECK(p.cmp[0].q == 100.0);
}

static void parse_bad(void)
{
	static const struct {
		const char *expr;
		const char *why; /* a part of the message */
	} bad[] = {
		{"", "empty expression"},
		{"   ", "empty expression"},
		{"NetworkErrorRatio()", "must be a comparison"},
		{"NetworkErrorRatio() > 1", "compare it with a float, as 1.0"},
		{"ResponseCodeRatio(500, 600, 0, 600) > 1", "compare it with a float"},
		{"LatencyAtQuantileMS(50.0) > 50.5", "compare it with an integer"},
		{"LatencyAtQuantileMS(50) > 50", "write 50.0, not 50"},
		{"ResponseCodeRatio(500.0, 600, 0, 600) > 0.5", "integer status codes"},
		{"ResponseCodeRatio(500, 600, 0) > 0.5", "takes 4 arguments, not 3"},
		{"ResponseCodeRatio(500, 600, 0, 600, 1) > 0.5", "takes 4 arguments"},
		{"NetworkErrorRatio(1.0) > 0.5", "takes 0 arguments, not 1"},
		{"LatencyAtQuantileMS() > 5", "takes 1 argument, not 0"},
		{"LatencyAtQuantileMS((50.0)) > 5", "expected a number as argument at byte 20"},
		{"Foo() > 0.5", "unsupported function \"Foo\" at byte 0"},
		{"networkErrorRatio() > 0.5", "unsupported function"},
		{"NetworkErrorRatio > 0.5", "is not a function call"},
		{"NetworkErrorRatio() GT 0.5", "unknown word \"GT\""},
		{"NetworkErrorRatio() > 0.5 AND NetworkErrorRatio() < 0.9", "unknown word \"AND\""},
		{"NetworkErrorRatio() > 0.5 and NetworkErrorRatio() < 0.9", "unknown word \"and\""},
		{"0.5 < NetworkErrorRatio()", "needs a function call on its left"},
		{"NetworkErrorRatio() > NetworkErrorRatio()", "needs a number on its right"},
		{"NetworkErrorRatio() > -0.5", "unexpected \"-\" at byte 22"},
		{"!(NetworkErrorRatio() > 0.5)", "unexpected \"!\" at byte 0"},
		{"NetworkErrorRatio() + 0.5 > 0.5", "unexpected \"+\""},
		{"NetworkErrorRatio() > 0.5 > 0.1", "cannot be chained"},
		{"NetworkErrorRatio() > 0.5 & NetworkErrorRatio() < 0.9", "unexpected \"&\""},
		{"NetworkErrorRatio() > 0.5 &&",
		 "expected a function call, a number or ( at byte 28, "
		 "found the end of the expression"},
		{"NetworkErrorRatio() > 0.5 && 0.5",
		 "&& at byte 26 needs a comparison on each side"},
		{"NetworkErrorRatio() || NetworkErrorRatio() > 0.5",
		 "|| at byte 20 needs a comparison"},
		{"(NetworkErrorRatio() > 0.5", "expected ) at byte 26"},
		{"NetworkErrorRatio() > 0.5)", "unexpected \")\" at byte 25"},
		{"NetworkErrorRatio() > 0.5 NetworkErrorRatio()",
		 "unexpected \"NetworkErrorRatio\""},
		{"NetworkErrorRatio() > 0x1", "malformed number"},
		{"NetworkErrorRatio() > 1_0", "malformed number"},
		{"NetworkErrorRatio() > 0.5.1", "malformed number"},
		{"NetworkErrorRatio() > \"0.5\"", "unexpected \"\"\""},
		{"LatencyAtQuantileMS(50.0) > 2147483648", "integer out of range"},
		{"NetworkErrorRatio() > 1e999", "number out of range"},
		{"NetworkErrorRatio() > 0.5 = 1", "unexpected \"=\""},
		{"NetworkErrorRatio() > 0.5 \x01", "unexpected byte 0x01 at byte 26"},
		{"a.B() > 0.5", "unexpected \".\" at byte 1"},
	};
	struct proxy_breaker_prog p;
	char msg[200];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		msg[0] = 0;
		int rc = compile(bad[i].expr, &p, msg, sizeof msg);
		if (rc != -ERR_PROXY_CONFIG)
			TEST_FAIL_("\"%s\" accepted (rc %d)", bad[i].expr, rc);
		else if (!strstr(msg, bad[i].why))
			TEST_FAIL_("\"%s\": message \"%s\" lacks \"%s\"", bad[i].expr, msg,
				   bad[i].why);
		CHECK_EQ_INT(p.ncmp, 0); /* nothing half-built survives */
	}
}

/* Caps: function calls, nesting, length; just under passes, just over fails. */
static void parse_caps(void)
{
	char e[2048], msg[200];
	struct proxy_breaker_prog p;
	size_t n = 0;
	for (int i = 0; i < PROXY_BREAKER_MAX_FUNCS; i++)
		n += (size_t)snprintf(e + n, sizeof e - n,
				      "%sResponseCodeRatio(500, 600, 0, 600) > 0.5",
				      i ? " || " : "");
	REQUIRE(compile(e, &p, msg, sizeof msg) == 0);
	CHECK_EQ_INT(p.ncmp, PROXY_BREAKER_MAX_FUNCS);
	CHECK_EQ_INT(p.nranges, 2 * PROXY_BREAKER_MAX_FUNCS);
	snprintf(e + n, sizeof e - n, " || NetworkErrorRatio() > 0.5");
	CHECK_EQ_INT(compile(e, &p, msg, sizeof msg), -ERR_PROXY_CONFIG);
	CHECK(strstr(msg, "too many function calls (at most 8)") != NULL);

	n = 0;
	for (int i = 0; i < PROXY_BREAKER_MAX_DEPTH; i++)
		e[n++] = '(';
	n += (size_t)snprintf(e + n, sizeof e - n, "NetworkErrorRatio() > 0.5");
	for (int i = 0; i < PROXY_BREAKER_MAX_DEPTH; i++)
		e[n++] = ')';
	e[n] = 0;
	CHECK_EQ_INT(compile(e, &p, msg, sizeof msg), 0);
	memmove(e + 1, e, n + 1);
	e[0] = '(';
	e[n + 1] = ')';
	e[n + 2] = 0;
	CHECK_EQ_INT(compile(e, &p, msg, sizeof msg), -ERR_PROXY_CONFIG);
	CHECK(strstr(msg, "nested deeper than 16") != NULL);

	memset(e, ' ', PROXY_BREAKER_MAX_EXPR);
	memcpy(e, "NetworkErrorRatio() > 0.5", 25);
	e[PROXY_BREAKER_MAX_EXPR] = 0;
	CHECK_EQ_INT(compile(e, &p, msg, sizeof msg), 0);
	e[PROXY_BREAKER_MAX_EXPR] = ' ';
	e[PROXY_BREAKER_MAX_EXPR + 1] = 0;
	CHECK_EQ_INT(compile(e, &p, msg, sizeof msg), -ERR_PROXY_CONFIG);
	CHECK(strstr(msg, "expression over 1024 bytes") != NULL);
}

/* The loader refuses a bad expression naming the key, keeps a good one verbatim, and a
 * missing or empty expression means no breaker. */
#define NTOK 2048
static json_tok toks_[NTOK];
static _Alignas(16) unsigned char tmem_[1 << 17];

static int load(const char *tmpl, const struct proxy_table **t, struct proxy_cfg_err *err)
{
	static char doc[4096];
	size_t n = strlen(tmpl);
	for (size_t i = 0; i < n; i++)
		doc[i] = tmpl[i] == '\'' ? '"' : tmpl[i];
	struct proxy_limits lim;
	struct arena a;
	proxy_limits_default(&lim);
	arena_init(&a, tmem_, sizeof tmem_);
	err->msg[0] = 0;
	return proxy_table_load(doc, n, &lim, &a, toks_, NTOK, t, err);
}

static void loader(void)
{
	const struct proxy_table *t;
	struct proxy_cfg_err err;
	CHECK_EQ_INT(load("{'version':1,'revision':1,'backends':{'b':{'servers':{'s':{'url':'http:/"
			  "/127.0.0.1:1'}},'circuitBreaker':{'expression':'NetworkErrorRatio() > "
			  "1'}}}}",
			  &t, &err),
		     -ERR_PROXY_CONFIG);
	CHECK_EQ_STR(err.msg, "backends.b.circuitBreaker.expression: NetworkErrorRatio() is a "
			      "ratio: compare it with a float, as 1.0 (at byte 22)");
	CHECK_EQ_INT(load("{'version':1,'revision':1,'backends':{'b':{'servers':{'s':{'url':'http:/"
			  "/127.0.0.1:1'}},'circuitBreaker':{'expression':'Bogus()'}}}}",
			  &t, &err),
		     -ERR_PROXY_CONFIG);
	CHECK(strstr(err.msg, "backends.b.circuitBreaker.expression: unsupported function "
			      "\"Bogus\"") == err.msg);
	REQUIRE(load("{'version':1,'revision':1,'backends':{'b':{'servers':{'s':{'url':'http://"
		     "127.0.0.1:1'}},'circuitBreaker':{'expression':'ResponseCodeRatio(500, 600, "
		     "0, 600) > 0.5'}},'c':{'circuitBreaker':{'expression':''}},'d':{}}}",
		     &t, &err) == 0);
	REQUIRE(t->nbe == 3);
	CHECK_EQ_MEM(t->be[0].cb_expression.p, t->be[0].cb_expression.len,
		     "ResponseCodeRatio(500, 600, 0, 600) > 0.5");
	CHECK_EQ_INT(t->be[1].cb_expression.len, 0);
	CHECK_EQ_INT(t->be[2].cb_expression.len, 0);
}

static struct proxy_breaker *mk(const char *expr)
{
	struct proxy_breaker_prog p;
	char msg[200];
	if (compile(expr, &p, msg, sizeof msg) != 0) {
		fprintf(stderr, "  compile: %s\n", msg);
		return NULL;
	}
	proxy_breaker_init(&br_, &p, SLICE_LIT("b"));
	return &br_;
}

/* Counters: 10 buckets of 1 s, the current second and the 9 before. */
static void metrics_window(void)
{
	struct proxy_breaker *b = mk("NetworkErrorRatio() > 2.0"); /* never trips */
	REQUIRE(b);
	uint64_t t0 = 100000;
	CHECK(proxy_breaker_neterr_ratio(b, t0) == 0); /* no requests: 0, not NaN */
	for (int i = 0; i < 3; i++)
		proxy_breaker_record(b, 502, 1, t0);
	proxy_breaker_record(b, 504, 1, t0 + 999);
	proxy_breaker_record(b, 200, 1, t0 + 999);
	proxy_breaker_record(b, 503, 1, t0 + 999); /* not a network error */
	proxy_breaker_record(b, 0, 1, t0 + 999);   /* no response: not counted */
	CHECK_EQ_INT(proxy_breaker_requests(b, t0 + 999), 6);
	CHECK(proxy_breaker_neterr_ratio(b, t0 + 999) == 4.0 / 6.0);
	/* second 1: two more successes */
	proxy_breaker_record(b, 200, 1, t0 + 1000);
	proxy_breaker_record(b, 200, 1, t0 + 1500);
	CHECK_EQ_INT(proxy_breaker_requests(b, t0 + 1500), 8);
	CHECK(proxy_breaker_neterr_ratio(b, t0 + 1500) == 0.5);
	/* the first second is in the window until t0 + 9999, out at t0 + 10000 */
	CHECK_EQ_INT(proxy_breaker_requests(b, t0 + 9999), 8);
	CHECK_EQ_INT(proxy_breaker_requests(b, t0 + 10000), 2);
	CHECK(proxy_breaker_neterr_ratio(b, t0 + 10000) == 0);
	CHECK_EQ_INT(proxy_breaker_requests(b, t0 + 11000), 0);
	/* A bucket reused a lap later starts from zero. */
	proxy_breaker_record(b, 502, 1, t0 + 10000);
	CHECK_EQ_INT(proxy_breaker_requests(b, t0 + 10000), 3);
	CHECK(proxy_breaker_neterr_ratio(b, t0 + 10000) == 1.0 / 3.0);
	CHECK_EQ_INT(proxy_breaker_requests(b, t0 + 60000), 0);
	CHECK_EQ_INT(b->state, PB_STANDBY);
}

/* ResponseCodeRatio: half-open ranges, 0 when the divisor range saw nothing. */
static void metrics_codes(void)
{
	struct proxy_breaker *b = mk("ResponseCodeRatio(500, 600, 0, 600) > 2.0 || "
				     "ResponseCodeRatio(400, 500, 500, 501) > 2.0");
	REQUIRE(b);
	uint64_t t = 5000;
	CHECK(proxy_breaker_code_ratio(b, 0, t) == 0);
	CHECK(proxy_breaker_code_ratio(b, 1, t) == 0);
	static const int st[] = {200, 201, 399, 400, 499, 500, 599, 600, 404, 500};
	for (size_t i = 0; i < sizeof st / sizeof st[0]; i++)
		proxy_breaker_record(b, st[i], 1, t);
	/* [500,600): 500 599 500 = 3; [0,600): all but 600 = 9 */
	CHECK(proxy_breaker_code_ratio(b, 0, t) == 3.0 / 9.0);
	/* [400,500): 400 499 404 = 3; [500,501): 500 500 = 2 */
	CHECK(proxy_breaker_code_ratio(b, 1, t) == 1.5);
}

/* LatencyAtQuantileMS against its constant: exact at the millisecond. */
static void metrics_latency(void)
{
	struct proxy_breaker *b = mk("LatencyAtQuantileMS(50.0) > 50 || "
				     "LatencyAtQuantileMS(90.0) > 100 || "
				     "LatencyAtQuantileMS(100.0) > 0");
	REQUIRE(b);
	uint64_t t = 20000;
	b->next_check = UINT64_MAX; /* keep it in Standby: evaluate by hand */
	/* No requests: the quantile is 0 (HdrHistogram), so not above 50, equal to 0. */
	CHECK_EQ_INT(proxy_breaker_latency_ms_cmp(b, 0, t), -1);
	CHECK_EQ_INT(proxy_breaker_latency_ms_cmp(b, 2, t), 0);
	/* 10 requests: 1..10 ms x 10 = 10, 20, ..., 100 ms */
	for (int i = 1; i <= 10; i++)
		proxy_breaker_record(b, 200, (uint64_t)i * 10, t);
	/* median: rank 5 -> 50 ms: equal to 50 */
	CHECK_EQ_INT(proxy_breaker_latency_ms_cmp(b, 0, t), 0);
	/* p90: rank 9 -> 90 ms, below 100 */
	CHECK_EQ_INT(proxy_breaker_latency_ms_cmp(b, 1, t), -1);
	CHECK_EQ_INT(proxy_breaker_latency_ms_cmp(b, 2, t), 1);
	CHECK(proxy_breaker_eval(b, t)); /* p100 > 0 holds */
	/* one more at 51 ms: 11 requests, rank round(5.5) = 6 -> 51 ms > 50 */
	proxy_breaker_record(b, 200, 51, t);
	CHECK_EQ_INT(proxy_breaker_latency_ms_cmp(b, 0, t), 1);
	/* The latency window is 6 x 10 s: still there 59 s later, gone at 60 s. */
	CHECK_EQ_INT(proxy_breaker_latency_ms_cmp(b, 0, t + 59999), 1);
	CHECK_EQ_INT(proxy_breaker_latency_ms_cmp(b, 0, t + 60000), -1);
	/* while the counters forget after 10 s */
	CHECK_EQ_INT(proxy_breaker_requests(b, t + 10000), 0);
}

/* && and || on the comparisons' values. */
static void eval_logic(void)
{
	struct proxy_breaker *b = mk("(NetworkErrorRatio() > 0.5 || "
				     "ResponseCodeRatio(500, 600, 0, 600) >= 0.5) && "
				     "LatencyAtQuantileMS(50.0) < 10");
	REQUIRE(b);
	uint64_t t = 3000;
	b->next_check = UINT64_MAX; /* keep it in Standby: evaluate by hand */
	proxy_breaker_record(b, 200, 1, t);
	CHECK(!proxy_breaker_eval(b, t));
	proxy_breaker_record(b, 500, 1, t); /* codes 1/2 >= 0.5, latency 1 ms < 10 */
	CHECK(proxy_breaker_eval(b, t));
	for (int i = 0; i < 3; i++)
		proxy_breaker_record(b, 200, 30, t); /* median 30 ms, codes 1/5 */
	CHECK(!proxy_breaker_eval(b, t));
	for (int i = 0; i < 6; i++)
		proxy_breaker_record(b, 502, 1, t); /* neterr 6/11; median 1 ms */
	CHECK(proxy_breaker_eval(b, t));
	struct proxy_breaker *c = mk("NetworkErrorRatio() == 0.0 && NetworkErrorRatio() != 1.0");
	REQUIRE(c);
	CHECK(proxy_breaker_eval(c, t));
	c->next_check = UINT64_MAX;
	proxy_breaker_record(c, 502, 1, t);
	CHECK(!proxy_breaker_eval(c, t));
}

/* Standby -> Tripped (check period), 503 for 10 s, Recovering, Standby. */
static void state_machine(void)
{
	struct proxy_breaker *b = mk("NetworkErrorRatio() > 0.5");
	REQUIRE(b);
	/* trips also count in the engine's registry: traefikee_breaker_trips_total{backend} */
	size_t msz = proxy_metrics_size(8, 4);
	void *mmem = malloc(msz);
	REQUIRE(mmem);
	b->metrics = proxy_metrics_init(mmem, msz, 8, 4);
	REQUIRE(b->metrics);
	b->m_be = proxy_metrics_name_get(b->metrics, PROXY_MK_BACKEND, SLICE_LIT("app"));
	uint64_t t = 1000000;
	CHECK(proxy_breaker_allow(b, t));
	proxy_breaker_record(b, 200, 1, t); /* checked now: false; next check at t + 100 */
	CHECK_EQ_INT(b->state, PB_STANDBY);
	proxy_breaker_record(b, 502, 1, t + 10);
	proxy_breaker_record(b, 502, 1, t + 99); /* true, but not checked before t + 100 */
	CHECK_EQ_INT(b->state, PB_STANDBY);
	CHECK(proxy_breaker_allow(b, t + 99));
	proxy_breaker_record(b, 502, 1, t + 100);
	CHECK_EQ_INT(b->state, PB_TRIPPED);
	CHECK_EQ_INT(b->trips, 1);
	CHECK_EQ_INT(b->until, t + 100 + PROXY_BREAKER_FALLBACK_MS);
	CHECK_EQ_INT(b->metrics->eng.cb_trips, 1);
	CHECK_EQ_INT(proxy_metrics_value(b->metrics, "traefikee_breaker_trips_total", "app", 0), 1);
	CHECK_EQ_INT(proxy_breaker_requests(b, t + 100), 0); /* metrics cleared on trip */
	/* Tripped: every request is the fallback until the fallback duration ends. */
	uint64_t tt = t + 100;
	for (uint64_t d = 0; d < PROXY_BREAKER_FALLBACK_MS; d += 250)
		CHECK(!proxy_breaker_allow(b, tt + d));
	CHECK(!proxy_breaker_allow(b, tt + PROXY_BREAKER_FALLBACK_MS - 1));
	CHECK_EQ_INT(b->fallbacks, 41);
	/* Responses still arriving while Tripped are counted, never checked. */
	proxy_breaker_record(b, 502, 1, tt + 5000);
	CHECK_EQ_INT(b->state, PB_TRIPPED);
	/* At the end: Recovering; the first request is refused (target share 0). */
	uint64_t tr = tt + PROXY_BREAKER_FALLBACK_MS;
	CHECK(!proxy_breaker_allow(b, tr));
	CHECK_EQ_INT(b->state, PB_RECOVERING);
	CHECK_EQ_INT(b->until, tr + PROXY_BREAKER_RECOVERY_MS);
	/* Past the recovery duration: Standby, the request passes. */
	CHECK(proxy_breaker_allow(b, tr + PROXY_BREAKER_RECOVERY_MS + 1));
	CHECK_EQ_INT(b->state, PB_STANDBY);
	CHECK(proxy_breaker_allow(b, tr + PROXY_BREAKER_RECOVERY_MS + 2));
	CHECK_EQ_INT(b->metrics->eng.cb_trips, 1); /* leaving Tripped counts nothing */
	b->metrics = NULL;
	free(mmem);
}

/* Recovering holds the share let through since it began under 0.5 x elapsed / 10 s: with a
 * request every 10 ms, about half pass in all, ~5 % in the first second, ~95 % in the last
 * (the instantaneous rate rises linearly from 0 to 1). */
static void recovery_ramp(void)
{
	struct proxy_breaker *b = mk("ResponseCodeRatio(500, 600, 0, 600) > 0.5");
	REQUIRE(b);
	uint64_t t = 50000;
	proxy_breaker_record(b, 500, 1, t);
	REQUIRE(b->state == PB_TRIPPED);
	uint64_t tr = t + PROXY_BREAKER_FALLBACK_MS;
	int allowed[10] = {0}, total = 0;
	for (uint64_t d = 0; d < PROXY_BREAKER_RECOVERY_MS; d += 10) {
		if (proxy_breaker_allow(b, tr + d)) {
			allowed[d / 1000]++;
			total++;
			proxy_breaker_record(b, 200, 1, tr + d); /* healthy again: no trip */
		}
	}
	CHECK_EQ_INT(b->state, PB_RECOVERING);
	CHECK(allowed[0] <= 6);
	for (int i = 1; i < 10; i++)
		CHECK(allowed[i] >= allowed[i - 1] + 5); /* growing by ~10 a second */
	CHECK(allowed[9] >= 85 && allowed[9] <= 100);
	CHECK(total >= 480 && total <= 505);
	CHECK_EQ_INT(b->rc_allowed, (uint64_t)total);
	CHECK_EQ_INT(b->rc_allowed + b->rc_denied, 1000);
	CHECK(proxy_breaker_allow(b, tr + PROXY_BREAKER_RECOVERY_MS + 1));
	CHECK_EQ_INT(b->state, PB_STANDBY);
}

/* A failure while Recovering trips again for a full fallback duration. */
static void recovery_trips_again(void)
{
	struct proxy_breaker *b = mk("NetworkErrorRatio() > 0.5");
	REQUIRE(b);
	uint64_t t = 70000;
	proxy_breaker_record(b, 504, 1, t);
	REQUIRE(b->state == PB_TRIPPED);
	uint64_t tr = t + PROXY_BREAKER_FALLBACK_MS;
	CHECK(!proxy_breaker_allow(b, tr));
	REQUIRE(b->state == PB_RECOVERING);
	uint64_t d = 0;
	while (!proxy_breaker_allow(b, tr + d) && d < PROXY_BREAKER_RECOVERY_MS)
		d += 10;
	REQUIRE(d < PROXY_BREAKER_RECOVERY_MS);
	proxy_breaker_record(b, 502, 1, tr + d); /* the one let through fails */
	CHECK_EQ_INT(b->state, PB_TRIPPED);
	CHECK_EQ_INT(b->trips, 2);
	CHECK_EQ_INT(b->until, tr + d + PROXY_BREAKER_FALLBACK_MS);
	CHECK(!proxy_breaker_allow(b, tr + d + PROXY_BREAKER_FALLBACK_MS - 1));
	CHECK_EQ_INT(b->state, PB_TRIPPED);
}

/* A healthy Recovering period ends in Standby, and the breaker trips again later. */
static void standby_after_recovery(void)
{
	struct proxy_breaker *b = mk("NetworkErrorRatio() > 0.5");
	REQUIRE(b);
	uint64_t t = 90000;
	proxy_breaker_record(b, 502, 1, t);
	REQUIRE(b->state == PB_TRIPPED);
	uint64_t tr = t + PROXY_BREAKER_FALLBACK_MS;
	for (uint64_t d = 0; d <= PROXY_BREAKER_RECOVERY_MS + 100; d += 50)
		if (proxy_breaker_allow(b, tr + d))
			proxy_breaker_record(b, 200, 1, tr + d);
	CHECK_EQ_INT(b->state, PB_STANDBY);
	uint64_t ts = tr + PROXY_BREAKER_RECOVERY_MS + 11000; /* the recovery's 200s aged out */
	for (int i = 0; i < 5; i++)
		CHECK(proxy_breaker_allow(b, ts + (uint64_t)i));
	proxy_breaker_record(b, 502, 1, ts + 200);
	proxy_breaker_record(b, 502, 1, ts + 400);
	CHECK_EQ_INT(b->state, PB_TRIPPED);
	CHECK_EQ_INT(b->trips, 2);
}

static void sizes(void)
{
	struct proxy_limits lim;
	proxy_limits_default(&lim);
	/* bounded per backend: a few KiB each */
	CHECK(sizeof(struct proxy_breaker) < 4096);
	CHECK_EQ_INT(proxy_breaker_bytes_max(&lim),
		     (size_t)lim.max_backends * sizeof(struct proxy_breaker));
	CHECK_EQ_STR(proxy_breaker_state_name(PB_STANDBY), "standby");
	CHECK_EQ_STR(proxy_breaker_state_name(PB_TRIPPED), "tripped");
	CHECK_EQ_STR(proxy_breaker_state_name(PB_RECOVERING), "recovering");
}

static void quiet(void)
{
	log_set_level(LOG_OFF);
}

TEST_MAIN(quiet, parse_good, parse_bad, parse_caps, loader, metrics_window, metrics_codes,
	  metrics_latency, eval_logic, state_machine, recovery_ramp, recovery_trips_again,
	  standby_after_recovery, sizes)
