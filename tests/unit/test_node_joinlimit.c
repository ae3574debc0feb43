/* Unit tests for node_joinlimit.c: the per-source limit on failed join attempts (POST /join).
 * A token bucket per source (IPv4 address, IPv6 /64) in a fixed table; the clock is passed
 * in, so every case picks its own milliseconds. Default values unless a case says otherwise:
 * 10 failed attempts in a burst, one more every 6 s. */
#include <stdio.h>
#include <string.h>

#include "base/base_err.h"
#include "node/node_joinlimit.h"
#include "test.h"

#define T0 1000000ULL /* a monotonic "now" well away from 0 */
#define R JOINLIMIT_REFILL_MS_DEFAULT
#define B JOINLIMIT_BURST_DEFAULT

static struct joinlimit jl;

static struct joinlimit_key key(const char *addr)
{
	struct joinlimit_key k;
	memset(&k, 0xAA, sizeof k);
	int rc = joinlimit_key_from_addr(addr, &k);
	if (rc != 0)
		TEST_FAIL_("joinlimit_key_from_addr(%s) == %d", addr, rc);
	return k;
}

static enum joinlimit_verdict check(const char *addr, uint64_t now, uint64_t *wait)
{
	struct joinlimit_key k = key(addr);
	struct joinlimit_answer a;
	joinlimit_check(&jl, &k, now, &a);
	if (wait)
		*wait = a.wait_ms;
	return a.verdict;
}

static struct joinlimit_answer fail(const char *addr, uint64_t now)
{
	struct joinlimit_key k = key(addr);
	struct joinlimit_answer a;
	joinlimit_fail(&jl, &k, now, &a);
	return a;
}

/* How many attempts addr is allowed in a row at now, failing each (stops at 2 * B). */
static int drain(const char *addr, uint64_t now)
{
	int n = 0;
	while (n < 2 * B && check(addr, now, NULL) == JOINLIMIT_OK) {
		fail(addr, now);
		n++;
	}
	return n;
}

/* Exactly the burst is allowed; the one after is refused with the wait to the next refill. */
static void burst_then_refusal(void)
{
	joinlimit_init(&jl, B, R);
	for (int i = 0; i < B; i++) {
		uint64_t w = 0;
		CHECK_EQ_INT(check("192.0.2.7:5000", T0 + (uint64_t)i, &w), JOINLIMIT_OK);
		CHECK_EQ_INT(w, 0);
		struct joinlimit_answer a = fail("192.0.2.7:5000", T0 + (uint64_t)i);
		CHECK_EQ_INT(a.fails, i + 1);
		CHECK_EQ_INT(a.verdict, i == B - 1 ? JOINLIMIT_LIMITED : JOINLIMIT_OK);
	}
	uint64_t w = 0;
	CHECK_EQ_INT(check("192.0.2.7:5001", T0 + B, &w), JOINLIMIT_LIMITED);
	CHECK_EQ_INT(w, R - 10); /* the refill clock started at the first failure, T0 */
	/* Another burst size: the cap follows the setting, both sides of it. */
	joinlimit_init(&jl, 3, R);
	CHECK_EQ_INT(drain("192.0.2.7:1", T0), 3);
	joinlimit_init(&jl, 1, R);
	CHECK_EQ_INT(drain("192.0.2.7:1", T0), 1);
}

/* One attempt comes back every R ms counted from the first failure: refused 1 ms before,
 * allowed at the boundary, and only one; a full bucket after B * R. */
static void refill_over_time(void)
{
	joinlimit_init(&jl, B, R);
	CHECK_EQ_INT(drain("198.51.100.1:9", T0), B);
	uint64_t w = 0;
	CHECK_EQ_INT(check("198.51.100.1:9", T0 + R - 1, &w), JOINLIMIT_LIMITED);
	CHECK_EQ_INT(w, 1);
	CHECK_EQ_INT(check("198.51.100.1:9", T0 + R, &w), JOINLIMIT_OK);
	CHECK_EQ_INT(drain("198.51.100.1:9", T0 + R), 1);
	/* The refill clock kept its phase: the next attempt is due at T0 + 2R. */
	CHECK_EQ_INT(check("198.51.100.1:9", T0 + 2 * R - 1, &w), JOINLIMIT_LIMITED);
	CHECK_EQ_INT(w, 1);
	CHECK_EQ_INT(check("198.51.100.1:9", T0 + 2 * R, NULL), JOINLIMIT_OK);
	/* Half way: a few attempts; long after: exactly the burst again, never more. */
	CHECK_EQ_INT(drain("198.51.100.1:9", T0 + 5 * R), 4); /* the one due at 2R, 3 more */
	CHECK_EQ_INT(drain("198.51.100.1:9", T0 + 1000 * R), B);
}

/* A join that succeeds is only checked, never counted: any number of them leave the budget
 * whole, and they pass while the source still has an attempt left. */
static void success_does_not_consume(void)
{
	joinlimit_init(&jl, B, R);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ_INT(check("203.0.113.9:1", T0 + (uint64_t)i, NULL), JOINLIMIT_OK);
	for (int i = 0; i < B - 1; i++)
		fail("203.0.113.9:1", T0);
	for (int i = 0; i < 100; i++)
		CHECK_EQ_INT(check("203.0.113.9:1", T0, NULL), JOINLIMIT_OK);
	struct joinlimit_answer a = fail("203.0.113.9:1", T0);
	CHECK_EQ_INT(a.fails, B);
	CHECK_EQ_INT(a.verdict, JOINLIMIT_LIMITED);
}

/* IPv6 sources are /64 prefixes: every address in one counts against one budget; the next
 * /64 is another source. IPv4-mapped addresses are their IPv4 address. */
static void ipv6_grouped_by_64(void)
{
	joinlimit_init(&jl, B, R);
	CHECK_EQ_INT(drain("[2001:db8:1:2::1]:443", T0), B);
	CHECK_EQ_INT(check("[2001:db8:1:2:ffff:ffff:ffff:fffe]:9", T0, NULL), JOINLIMIT_LIMITED);
	CHECK_EQ_INT(check("2001:db8:1:2:8000::", T0, NULL), JOINLIMIT_LIMITED);
	CHECK_EQ_INT(check("[2001:db8:1:3::1]:443", T0, NULL), JOINLIMIT_OK);
	CHECK_EQ_INT(check("[2001:db8:1:1:ffff:ffff:ffff:ffff]:443", T0, NULL), JOINLIMIT_OK);
	/* Rotating the low 64 bits buys nothing. */
	char a[64];
	int spent = 0;
	for (int i = 0; i < 50; i++) {
		snprintf(a, sizeof a, "[2001:db8:9:9:%x::%x]:1", i, i + 1);
		if (check(a, T0, NULL) == JOINLIMIT_OK) {
			fail(a, T0);
			spent++;
		}
	}
	CHECK_EQ_INT(spent, B);
	/* ::ffff:10.0.0.1 is 10.0.0.1, not a /64 holding every IPv4 address. */
	CHECK_EQ_INT(drain("[::ffff:10.0.0.1]:1", T0), B);
	CHECK_EQ_INT(check("10.0.0.1:2", T0, NULL), JOINLIMIT_LIMITED);
	CHECK_EQ_INT(check("[::ffff:10.0.0.2]:1", T0, NULL), JOINLIMIT_OK);
	CHECK_EQ_INT(check("10.0.0.2:2", T0, NULL), JOINLIMIT_OK);
	char t[JOINLIMIT_KEY_TEXT];
	struct joinlimit_key k = key("[2001:db8:1:2:3:4:5:6]:7");
	joinlimit_key_text(&k, t);
	CHECK_EQ_STR(t, "2001:db8:1:2::/64");
	k = key("[::ffff:10.0.0.1]:1");
	joinlimit_key_text(&k, t);
	CHECK_EQ_STR(t, "10.0.0.1");
}

/* IPv4 sources are whole addresses: the port does not matter; neighbours are independent. */
static void ipv4_addresses_independent(void)
{
	joinlimit_init(&jl, B, R);
	CHECK_EQ_INT(drain("127.0.0.1:40000", T0), B);
	CHECK_EQ_INT(check("127.0.0.1:40001", T0, NULL), JOINLIMIT_LIMITED);
	CHECK_EQ_INT(check("127.0.0.1", T0, NULL), JOINLIMIT_LIMITED);
	CHECK_EQ_INT(drain("127.0.0.2:40000", T0), B);
	CHECK_EQ_INT(drain("127.0.1.1:40000", T0), B);
	CHECK_EQ_INT(drain("128.0.0.1:40000", T0), B);
	struct joinlimit_key k;
	CHECK_EQ_INT(joinlimit_key_from_addr("unix", &k), -ERR_INVAL);
	CHECK_EQ_INT(joinlimit_key_from_addr("example.com:1", &k), -ERR_INVAL);
	CHECK_EQ_INT(joinlimit_key_from_addr("[::1]", &k), -ERR_INVAL);
	CHECK_EQ_INT(joinlimit_key_from_addr(NULL, &k), -ERR_INVAL);
}

/* One report per source when it runs out; none while it stays limited or only partly
 * refills; again once its bucket was full. */
static void reports_once(void)
{
	joinlimit_init(&jl, 3, R);
	CHECK(!fail("192.0.2.1:1", T0).report);
	CHECK(!fail("192.0.2.1:1", T0).report);
	struct joinlimit_answer a = fail("192.0.2.1:1", T0);
	CHECK(a.report);
	CHECK_EQ_INT(a.fails, 3);
	CHECK(!fail("192.0.2.1:1", T0 + 1).report); /* counted with no budget: no new report */
	CHECK_EQ_INT(drain("192.0.2.1:1", T0 + 2 * R), 2);
	CHECK_EQ_INT(check("192.0.2.1:1", T0 + 2 * R, NULL), JOINLIMIT_LIMITED);
	CHECK(!fail("192.0.2.1:1", T0 + 100 * R).report); /* full again: forgotten */
	CHECK(!fail("192.0.2.1:1", T0 + 100 * R).report);
	CHECK(fail("192.0.2.1:1", T0 + 100 * R).report);
}

/* Bounded table: full buckets are reused first; otherwise the entry with the most attempts
 * left goes and its budget passes to the newcomer (no attempt is created); when no entry has
 * an attempt left, newcomers are refused until the soonest refill. */
static void table_full_eviction(void)
{
	char a[32];
	joinlimit_init(&jl, B, R);
	/* 1. Every slot used by a source that failed once: 9 left each. */
	for (int i = 0; i < JOINLIMIT_SLOTS; i++) {
		snprintf(a, sizeof a, "10.1.%d.%d:1", i / 256, i % 256);
		fail(a, T0 + (uint64_t)i);
	}
	/* The attacker drains its budget; a newcomer still gets in (it takes over the entry
	 * that failed longest ago: 10.1.0.0, 9 left, so 8 after its failure). */
	CHECK_EQ_INT(drain("10.1.0.5:1", T0 + JOINLIMIT_SLOTS), B - 1);
	CHECK_EQ_INT(check("10.9.9.9:1", T0 + JOINLIMIT_SLOTS, NULL), JOINLIMIT_OK);
	struct joinlimit_answer ans = fail("10.9.9.9:1", T0 + JOINLIMIT_SLOTS);
	CHECK_EQ_INT(ans.fails, 1);
	CHECK_EQ_INT(drain("10.9.9.9:1", T0 + JOINLIMIT_SLOTS), B - 2);
	CHECK_EQ_INT(check("10.1.0.5:1", T0 + JOINLIMIT_SLOTS, NULL), JOINLIMIT_LIMITED);
	/* 10.1.0.0 was the one evicted: it is a newcomer again; 10.1.0.1 is still known. */
	CHECK_EQ_INT(fail("10.1.0.1:1", T0 + JOINLIMIT_SLOTS).fails, 2);
	/* 2. A limited attacker cannot be pushed out by sources that do not fail enough: 2000
	 * newcomers failing once each never evict the empty entry. */
	for (int i = 0; i < 2000; i++) {
		snprintf(a, sizeof a, "10.2.%d.%d:1", i / 256, i % 256);
		if (check(a, T0 + JOINLIMIT_SLOTS, NULL) == JOINLIMIT_OK)
			fail(a, T0 + JOINLIMIT_SLOTS);
	}
	CHECK_EQ_INT(check("10.1.0.5:1", T0 + JOINLIMIT_SLOTS, NULL), JOINLIMIT_LIMITED);
	CHECK_EQ_INT(check("10.9.9.9:1", T0 + JOINLIMIT_SLOTS, NULL), JOINLIMIT_LIMITED);

	/* 3. Full buckets carry nothing: long after, every entry is reusable, and a newcomer
	 * taking one starts with a whole burst. */
	uint64_t later = T0 + 1000 * R;
	for (int i = 0; i < JOINLIMIT_SLOTS; i++) {
		snprintf(a, sizeof a, "10.3.%d.%d:1", i / 256, i % 256);
		CHECK_EQ_INT(check(a, later, NULL), JOINLIMIT_OK);
		struct joinlimit_answer f = fail(a, later);
		CHECK_EQ_INT(f.fails, 1);
		CHECK_EQ_INT(f.verdict, JOINLIMIT_OK);
	}
	CHECK_EQ_INT(drain(a, later), B - 1);
	CHECK_EQ_INT(check("10.1.0.5:1", later, NULL), JOINLIMIT_OK); /* evicted, forgotten */

	/* 4. Every entry empty: newcomers are refused until the soonest refill, with one report;
	 * they pass again once an entry has an attempt back. */
	joinlimit_init(&jl, 2, R);
	for (int i = 0; i < JOINLIMIT_SLOTS; i++) {
		snprintf(a, sizeof a, "10.4.%d.%d:1", i / 256, i % 256);
		CHECK_EQ_INT(drain(a, T0 + (uint64_t)i), 2);
	}
	uint64_t now = T0 + JOINLIMIT_SLOTS;
	struct joinlimit_key k = key("10.5.0.1:1");
	joinlimit_check(&jl, &k, now, &ans);
	CHECK_EQ_INT(ans.verdict, JOINLIMIT_SATURATED);
	CHECK_EQ_INT(ans.wait_ms, T0 + R - now); /* 10.4.0.0's refill, the soonest */
	CHECK(ans.report);
	joinlimit_check(&jl, &k, now + 1, &ans);
	CHECK_EQ_INT(ans.verdict, JOINLIMIT_SATURATED);
	CHECK(!ans.report);
	CHECK_EQ_INT(check("[2001:db8::1]:1", now, NULL), JOINLIMIT_SATURATED);
	CHECK_EQ_INT(check("10.5.0.1:1", T0 + R - 1, NULL), JOINLIMIT_SATURATED);
	CHECK_EQ_INT(check("10.5.0.1:1", T0 + R, NULL), JOINLIMIT_OK);
	/* It takes over 10.4.0.0's single attempt: after its failure it is limited at once,
	 * and the table is saturated again. */
	ans = fail("10.5.0.1:1", T0 + R);
	CHECK_EQ_INT(ans.verdict, JOINLIMIT_LIMITED);
	CHECK_EQ_INT(check("10.5.0.2:1", T0 + R, NULL), JOINLIMIT_SATURATED);
	CHECK_EQ_INT(check("10.4.0.0:1", T0 + R, NULL), JOINLIMIT_SATURATED);
}

/* TRAEFIKEE_JOIN_LIMIT's text: "<burst>/<seconds>", both in range; anything else refused and
 * the outputs left alone. */
static void params(void)
{
	uint32_t b = 7, r = 7;
	CHECK_EQ_INT(joinlimit_parse_params("3/5", &b, &r), 0);
	CHECK_EQ_INT(b, 3);
	CHECK_EQ_INT(r, 5000);
	CHECK_EQ_INT(joinlimit_parse_params("1000/3600", &b, &r), 0);
	CHECK_EQ_INT(b, 1000);
	CHECK_EQ_INT(r, 3600000);
	CHECK_EQ_INT(joinlimit_parse_params("1/1", &b, &r), 0);
	b = r = 7;
	static const char *bad[] = {"",       "3",      "/5",   "3/",  "0/5",  "3/0",
				    "1001/5", "3/3601", "3/5x", "x/5", "-1/5", "3/5/1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (joinlimit_parse_params(bad[i], &b, &r) != -ERR_INVAL)
			TEST_FAIL_("\"%s\" accepted", bad[i]);
	}
	CHECK_EQ_INT(joinlimit_parse_params(NULL, &b, &r), -ERR_INVAL);
	CHECK_EQ_INT(b, 7);
	CHECK_EQ_INT(r, 7);
}

TEST_MAIN(burst_then_refusal, refill_over_time, success_does_not_consume, ipv6_grouped_by_64,
	  ipv4_addresses_independent, reports_once, table_full_eviction, params)
