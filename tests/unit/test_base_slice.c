/* Unit tests for base_slice and base_buf. */
#include "base/base_buf.h"
#include "base/base_err.h"
#include "base/base_slice.h"
#include "test.h"

static void slice_compare(void)
{
	CHECK(slice_eq_cstr(SLICE_LIT("Host"), "Host"));
	CHECK(!slice_eq_cstr(SLICE_LIT("Host"), "host"));
	CHECK(slice_eq_cstr_ci(SLICE_LIT("Host"), "hOST"));
	CHECK(!slice_eq_cstr_ci(SLICE_LIT("Host"), "Hosts"));
	CHECK(slice_starts_with(SLICE_LIT("/api/v1"), SLICE_LIT("/api")));
	CHECK(!slice_starts_with(SLICE_LIT("/a"), SLICE_LIT("/api")));
	struct slice t = slice_trim_ows(SLICE_LIT(" \t x y\t "));
	CHECK_EQ_MEM(t.p, t.len, "x y");
	t = slice_trim_ows(SLICE_LIT("  "));
	CHECK_EQ_INT(t.len, 0);
}

static void slice_cut_parts(void)
{
	struct slice rest;
	struct slice head = slice_cut(SLICE_LIT("a:b:c"), ':', &rest);
	CHECK_EQ_MEM(head.p, head.len, "a");
	CHECK_EQ_MEM(rest.p, rest.len, "b:c");
	head = slice_cut(SLICE_LIT("abc"), ':', &rest);
	CHECK_EQ_MEM(head.p, head.len, "abc");
	CHECK(rest.p == NULL && rest.len == 0);
}

static void slice_u64_limits(void)
{
	uint64_t v = 0;
	CHECK_EQ_INT(slice_to_u64(SLICE_LIT("0"), 10, &v), 0);
	CHECK_EQ_INT(v, 0);
	CHECK_EQ_INT(slice_to_u64(SLICE_LIT("10"), 10, &v), 0); /* at the cap */
	CHECK_EQ_INT(v, 10);
	CHECK_EQ_INT(slice_to_u64(SLICE_LIT("11"), 10, &v), -ERR_RANGE); /* just over */
	CHECK_EQ_INT(slice_to_u64(SLICE_LIT("18446744073709551615"), UINT64_MAX, &v), 0);
	CHECK(v == UINT64_MAX);
	CHECK_EQ_INT(slice_to_u64(SLICE_LIT("18446744073709551616"), UINT64_MAX, &v), -ERR_RANGE);
	CHECK_EQ_INT(slice_to_u64(SLICE_LIT("9"), 5, &v),
		     -ERR_RANGE); /* a digit over a small max */
	CHECK_EQ_INT(slice_to_u64(SLICE_LIT("5"), 5, &v), 0);
	CHECK_EQ_INT(slice_to_u64(SLICE_LIT("0"), 0, &v), 0);
	CHECK_EQ_INT(slice_to_u64(SLICE_LIT("1"), 0, &v), -ERR_RANGE);
	CHECK_EQ_INT(slice_to_u64(SLICE_LIT(""), 10, &v), -ERR_PARSE);
	CHECK_EQ_INT(slice_to_u64(SLICE_LIT("+1"), 10, &v), -ERR_PARSE);
	CHECK_EQ_INT(slice_to_u64(SLICE_LIT("1 "), 10, &v), -ERR_PARSE);
}

static void slice_cstr_cap(void)
{
	char out[4];
	CHECK_EQ_INT(slice_to_cstr(SLICE_LIT("abc"), out, sizeof out), 0);
	CHECK_EQ_STR(out, "abc");
	CHECK_EQ_INT(slice_to_cstr(SLICE_LIT("abcd"), out, sizeof out), -ERR_BUF_FULL);
	CHECK_EQ_STR(out, "");
}

static void buf_caps(void)
{
	uint8_t mem[8];
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	CHECK_EQ_INT(buf_append(&b, "1234567", 7), 0);
	CHECK_EQ_INT(buf_append(&b, "89", 2), -ERR_BUF_FULL); /* just over: unchanged */
	CHECK_EQ_INT(b.len, 7);
	CHECK_EQ_INT(buf_append_byte(&b, '8'), 0); /* exactly full */
	CHECK_EQ_MEM(b.data, b.len, "12345678");
	CHECK_EQ_INT(buf_append_byte(&b, '9'), -ERR_BUF_FULL);
	buf_consume(&b, 3);
	CHECK_EQ_MEM(b.data, b.len, "45678");
	buf_reset(&b);
	/* printf needs room for its NUL: 7 chars fit in 8, 8 do not. */
	CHECK_EQ_INT(buf_printf(&b, "%d", 1234567), 0);
	CHECK_EQ_INT(b.len, 7);
	buf_reset(&b);
	CHECK_EQ_INT(buf_printf(&b, "%d", 12345678), -ERR_BUF_FULL);
	CHECK_EQ_INT(b.len, 0);
}

static void err_table(void)
{
	CHECK_EQ_STR(err_name(-ERR_POOL_EMPTY), "POOL_EMPTY");
	CHECK_EQ_STR(err_name(ERR_POOL_EMPTY), "POOL_EMPTY");
	CHECK_EQ_STR(err_str(-ERR_BUF_FULL), "buffer full");
	CHECK_EQ_STR(err_name(-9999), "UNKNOWN");
	CHECK_EQ_INT(err_from_errno(0), 0);
	CHECK(err_from_errno(2 /* ENOENT */) == -ERR_NOTFOUND);
}

/* Two codes with one number would make err_name lie: numbers must be unique. */
static void err_numbers_unique(void)
{
	static const int nums[] = {
#define ERR_NUM_(name, num, msg) num,
		ERR_TABLE(ERR_NUM_)
#undef ERR_NUM_
	};
	size_t n = sizeof nums / sizeof nums[0];
	CHECK(n > 10);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (nums[i] == nums[j])
				TEST_FAIL_("error number %d used twice", nums[i]);
}

TEST_MAIN(slice_compare, slice_cut_parts, slice_u64_limits, slice_cstr_cap, buf_caps, err_table,
	  err_numbers_unique)
