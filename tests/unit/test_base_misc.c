/* Unit tests for base_id, base_rand, base_time and base_log. */
#include "base/base_err.h"
#include "base/base_hash.h"
#include "base/base_id.h"
#include "base/base_log.h"
#include "base/base_rand.h"
#include "base/base_time.h"
#include "test.h"

#include <unistd.h>

static void id_known_values(void)
{
	unsigned char zero[16] = {0}, ones[16];
	memset(ones, 0xff, sizeof ones);
	char out[ID_LEN + 1];
	id_from_bytes(zero, out);
	CHECK_EQ_STR(out, "0000000000000000000000000");
	unsigned char one[16] = {0};
	one[15] = 35;
	id_from_bytes(one, out);
	CHECK_EQ_STR(out, "000000000000000000000000z");
	one[15] = 36;
	id_from_bytes(one, out);
	CHECK_EQ_STR(out, "0000000000000000000000010");
	/* 2^128 - 1 in base 36 */
	id_from_bytes(ones, out);
	CHECK_EQ_STR(out, "f5lxx1zz5pnorynqglhzmsp33");
	CHECK(id_valid(slice_from_cstr(out)));
}

static void id_valid_edges(void)
{
	CHECK(id_valid(SLICE_LIT("f5lxx1zz5pnorynqglhzmsp33")));  /* 2^128-1: fits */
	CHECK(!id_valid(SLICE_LIT("f5lxx1zz5pnorynqglhzmsp34"))); /* 2^128: does not */
	CHECK(!id_valid(SLICE_LIT("zzzzzzzzzzzzzzzzzzzzzzzzz")));
	CHECK(!id_valid(SLICE_LIT("000000000000000000000000")));   /* 24 chars */
	CHECK(!id_valid(SLICE_LIT("00000000000000000000000000"))); /* 26 chars */
	CHECK(!id_valid(SLICE_LIT("000000000000000000000000A")));  /* uppercase */
	CHECK(!id_valid((struct slice){"000000000000000000000000\0", 25}));
}

static void id_generate_distinct(void)
{
	struct rand r;
	REQUIRE(rand_init_os(&r) == 0);
	char a[ID_LEN + 1], b[ID_LEN + 1];
	id_generate(&r, a);
	id_generate(&r, b);
	CHECK(strlen(a) == ID_LEN && id_valid(slice_from_cstr(a)));
	CHECK(strcmp(a, b) != 0);
}

static void rand_seeded_is_reproducible(void)
{
	struct rand r1, r2;
	rand_init_seed(&r1, "seed", 4);
	rand_init_seed(&r2, "seed", 4);
	CHECK(rand_u64(&r1) == rand_u64(&r2));
	rand_init_seed(&r2, "seeD", 4);
	CHECK(rand_u64(&r1) != rand_u64(&r2));
	unsigned hist[6] = {0};
	for (int i = 0; i < 6000; i++) {
		uint64_t v = rand_below(&r1, 6);
		REQUIRE(v < 6);
		hist[v]++;
	}
	for (int i = 0; i < 6; i++) /* loose: each face 1000 +- 200 */
		CHECK(hist[i] > 800 && hist[i] < 1200);
	CHECK_EQ_INT(rand_below(&r1, 1), 0);
}

static void time_civil_dates(void)
{
	struct time_civil c;
	time_civil_from_epoch(0, &c);
	CHECK(c.year == 1970 && c.month == 1 && c.day == 1 && c.hour == 0);
	time_civil_from_epoch(951782400, &c); /* 2000-02-29 00:00:00 */
	CHECK(c.year == 2000 && c.month == 2 && c.day == 29);
	time_civil_from_epoch(4107542399, &c); /* 2100-02-28 23:59:59 (not a leap year) */
	CHECK(c.year == 2100 && c.month == 2 && c.day == 28 && c.sec == 59);
	time_civil_from_epoch(-1, &c);
	CHECK(c.year == 1969 && c.month == 12 && c.day == 31 && c.hour == 23);
	char ts[TIME_RFC3339_LEN + 1];
	time_format_rfc3339(1795731885123, ts);
	CHECK_EQ_STR(ts, "2026-11-26T22:24:45.123Z");
	CHECK(time_mono_ms() > 0);
	uint64_t a = time_mono_ns(), b = time_mono_ns();
	CHECK(b >= a);
}

static void read_log(int fd, char *out, size_t cap)
{
	ssize_t n = read(fd, out, cap - 1);
	out[n > 0 ? n : 0] = 0;
}

static void log_lines(void)
{
	int fds[2];
	REQUIRE(pipe(fds) == 0);
	log_set_fd(fds[1]);
	log_set_level(LOG_INFO);
	char line[2048];
	log_debug("hidden", NULL);
	log_info("node \"a\" joined", "id=%s n=%d", "abc", 3);
	read_log(fds[0], line, sizeof line);
	CHECK(strncmp(line, "time=", 5) == 0);
	CHECK(strstr(line, " level=info msg=\"node \\\"a\\\" joined\" id=abc n=3\n") != NULL);
	char q[64];
	log_warn("x", "path=%s", log_q(q, sizeof q, "a b\n"));
	read_log(fds[0], line, sizeof line);
	CHECK(strstr(line, "level=warn msg=\"x\" path=\"a b\\n\"\n") != NULL);
	/* An over-long line is cut to LOG_LINE_MAX with a mark, never overflows. */
	char big[3000];
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = 0;
	log_error("big", "v=%s", big);
	read_log(fds[0], line, sizeof line);
	CHECK(strlen(line) <= LOG_LINE_MAX);
	CHECK(strstr(line, "\xe2\x80\xa6\n") != NULL);
	log_set_fd(2);
	close(fds[0]);
	close(fds[1]);
	enum log_level lv;
	CHECK_EQ_INT(log_level_parse("warning", &lv), 0);
	CHECK_EQ_INT(lv, LOG_WARN);
	CHECK_EQ_INT(log_level_parse("loud", &lv), -ERR_INVAL);
	CHECK_EQ_STR(log_q(q, sizeof q, "plain"), "plain");
	CHECK_EQ_STR(log_q(q, sizeof q, ""), "\"\"");
}

/* The back-off every retry loop steps with: the first delay, doubling, held at the cap
 * (the worker master's and workers' 1 s .. 30 s, the renewer's 10 s .. 10 min). */
static void backoff_steps_and_caps(void)
{
	const uint64_t workers[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000};
	uint64_t d = 0;
	for (size_t i = 0; i < sizeof workers / sizeof workers[0]; i++) {
		d = time_backoff_next(d, 1000, 30000);
		CHECK_EQ_INT(d, workers[i]);
	}
	const uint64_t renew[] = {10000, 20000, 40000, 80000, 160000, 320000, 600000, 600000};
	d = 0;
	for (size_t i = 0; i < sizeof renew / sizeof renew[0]; i++) {
		d = time_backoff_next(d, 10000, 600000);
		CHECK_EQ_INT(d, renew[i]);
	}
	/* Exactly half the cap doubles onto it; the cap never wraps or grows. */
	CHECK_EQ_INT(time_backoff_next(15000, 1000, 30000), 30000);
	CHECK_EQ_INT(time_backoff_next(14999, 1000, 30000), 29998);
	CHECK(time_backoff_next(UINT64_MAX - 1, 1, UINT64_MAX) == UINT64_MAX);
	CHECK(time_backoff_next(UINT64_MAX / 2 + 1, 1, UINT64_MAX) == UINT64_MAX);
	/* A first delay above the cap is held to it. */
	CHECK_EQ_INT(time_backoff_next(0, 50, 20), 20);
}

/* SipHash-2-4: the reference vectors (key 00..0f, message 00..len-1), and one message cut into
 * segments every way at two points gives the same value. */
static void siphash_vectors_and_segments(void)
{
	uint8_t key[16], msg[64];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	uint64_t k0 = 0, k1 = 0;
	for (int i = 7; i >= 0; i--) {
		k0 = k0 << 8 | key[i];
		k1 = k1 << 8 | key[8 + i];
	}
	struct slice one = {(const char *)msg, 0};
	CHECK(hash_sip24_segs(k0, k1, &one, 1) == 0x726fdb47dd0e0e31ull);
	CHECK(hash_sip24_segs(k0, k1, NULL, 0) == 0x726fdb47dd0e0e31ull);
	one.len = 15;
	CHECK(hash_sip24_segs(k0, k1, &one, 1) == 0xa129ca6149be45e5ull);
	one.len = 64;
	uint64_t whole = hash_sip24_segs(k0, k1, &one, 1);
	CHECK(whole == 0xacd2c40b8502cad8ull);
	int bad = 0;
	for (size_t a = 0; a <= 64; a++)
		for (size_t b = a; b <= 64; b++) {
			struct slice seg[3] = {{(const char *)msg, a},
					       {(const char *)msg + a, b - a},
					       {(const char *)msg + b, 64 - b}};
			bad += hash_sip24_segs(k0, k1, seg, 3) != whole;
		}
	CHECK_EQ_INT(bad, 0);
	CHECK(hash_sip24_segs(k0 ^ 1, k1, &one, 1) != whole); /* the key matters */
}

TEST_MAIN(id_known_values, id_valid_edges, id_generate_distinct, rand_seeded_is_reproducible,
	  time_civil_dates, log_lines, backoff_steps_and_caps, siphash_vectors_and_segments)
