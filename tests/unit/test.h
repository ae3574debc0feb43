/* test.h — the unit-test harness shared by tests/unit/test_*.c.
 *
 * Each test file defines its cases as functions and ends with
 *
 *     TEST_MAIN(case_a, case_b, ...)
 *
 * Each case runs in order; CHECK* macros record a failure (with file and
 * line) and let the case go on, REQUIRE* macros end the case. The binary
 * prints one line per case and a closing line that tools/testrun.sh
 * aggregates:   "<file>: N passed, N failed"  (cases, not checks).
 * Exit status is 0 only when every case passed.
 *
 * `test_only=<substring>` in the environment runs the matching cases only.
 */
#ifndef TEST_H
#define TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int test_failures_; /* failures in the current case */

#define TEST_FAIL_(...)                                           \
	do {                                                      \
		fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__);                     \
		fputc('\n', stderr);                              \
		test_failures_++;                                 \
	} while (0)

#define CHECK(cond)                                            \
	do {                                                   \
		if (!(cond))                                   \
			TEST_FAIL_("CHECK(%s) failed", #cond); \
	} while (0)

#define REQUIRE(cond)                                            \
	do {                                                     \
		if (!(cond)) {                                   \
			TEST_FAIL_("REQUIRE(%s) failed", #cond); \
			return;                                  \
		}                                                \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                             \
	do {                                                                           \
		long long a_ = (long long)(a), b_ = (long long)(b);                    \
		if (a_ != b_)                                                          \
			TEST_FAIL_("%s == %lld, expected %s == %lld", #a, a_, #b, b_); \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                                  \
	do {                                                                                \
		const char *a_ = (a), *b_ = (b);                                            \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                                      \
			TEST_FAIL_("%s == \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)", \
				   b_ ? b_ : "(null)");                                     \
	} while (0)

/* Compare a (pointer, length) pair with a C string. */
#define CHECK_EQ_MEM(p, n, s)                                                                    \
	do {                                                                                     \
		const char *p_ = (const char *)(p), *s_ = (s);                                   \
		size_t n_ = (n);                                                                 \
		if (n_ != strlen(s_) || (n_ && memcmp(p_, s_, n_) != 0))                         \
			TEST_FAIL_("%s == \"%.*s\", expected \"%s\"", #p, (int)n_, p_ ? p_ : "", \
				   s_);                                                          \
	} while (0)

struct test_case {
	const char *name;
	void (*fn)(void);
};

int test_run_(const char *file, const struct test_case *cases, size_t n);

#define TEST_CASE_(fn) {#fn, fn},
#define TEST_MAIN(...)                                                                             \
	int main(void)                                                                             \
	{                                                                                          \
		static const struct test_case cases_[] = {TEST_FOREACH_(TEST_CASE_, __VA_ARGS__)}; \
		return test_run_(__FILE__, cases_, sizeof cases_ / sizeof cases_[0]);              \
	}

/* Apply M to each of up to 64 arguments. */
#define TEST_FOREACH_(M, ...) TEST_FE_N_(__VA_ARGS__, TEST_FE_SEQ_)(M, __VA_ARGS__)
#define TEST_FE_N_(...) TEST_FE_PICK_(__VA_ARGS__)
#define TEST_FE_PICK_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, \
		      _18, _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30, _31, _32,  \
		      _33, _34, _35, _36, _37, _38, _39, _40, _41, _42, _43, _44, _45, _46, _47,  \
		      _48, _49, _50, _51, _52, _53, _54, _55, _56, _57, _58, _59, _60, _61, _62,  \
		      _63, _64, N, ...)                                                           \
	TEST_FE_##N
#define TEST_FE_SEQ_                                                                            \
	64, 63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, \
		42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, \
		22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1
#define TEST_FE_1(M, a) M(a)
#define TEST_FE_2(M, a, ...) M(a) TEST_FE_1(M, __VA_ARGS__)
#define TEST_FE_3(M, a, ...) M(a) TEST_FE_2(M, __VA_ARGS__)
#define TEST_FE_4(M, a, ...) M(a) TEST_FE_3(M, __VA_ARGS__)
#define TEST_FE_5(M, a, ...) M(a) TEST_FE_4(M, __VA_ARGS__)
#define TEST_FE_6(M, a, ...) M(a) TEST_FE_5(M, __VA_ARGS__)
#define TEST_FE_7(M, a, ...) M(a) TEST_FE_6(M, __VA_ARGS__)
#define TEST_FE_8(M, a, ...) M(a) TEST_FE_7(M, __VA_ARGS__)
#define TEST_FE_9(M, a, ...) M(a) TEST_FE_8(M, __VA_ARGS__)
#define TEST_FE_10(M, a, ...) M(a) TEST_FE_9(M, __VA_ARGS__)
#define TEST_FE_11(M, a, ...) M(a) TEST_FE_10(M, __VA_ARGS__)
#define TEST_FE_12(M, a, ...) M(a) TEST_FE_11(M, __VA_ARGS__)
#define TEST_FE_13(M, a, ...) M(a) TEST_FE_12(M, __VA_ARGS__)
#define TEST_FE_14(M, a, ...) M(a) TEST_FE_13(M, __VA_ARGS__)
#define TEST_FE_15(M, a, ...) M(a) TEST_FE_14(M, __VA_ARGS__)
#define TEST_FE_16(M, a, ...) M(a) TEST_FE_15(M, __VA_ARGS__)
#define TEST_FE_17(M, a, ...) M(a) TEST_FE_16(M, __VA_ARGS__)
#define TEST_FE_18(M, a, ...) M(a) TEST_FE_17(M, __VA_ARGS__)
#define TEST_FE_19(M, a, ...) M(a) TEST_FE_18(M, __VA_ARGS__)
#define TEST_FE_20(M, a, ...) M(a) TEST_FE_19(M, __VA_ARGS__)
#define TEST_FE_21(M, a, ...) M(a) TEST_FE_20(M, __VA_ARGS__)
#define TEST_FE_22(M, a, ...) M(a) TEST_FE_21(M, __VA_ARGS__)
#define TEST_FE_23(M, a, ...) M(a) TEST_FE_22(M, __VA_ARGS__)
#define TEST_FE_24(M, a, ...) M(a) TEST_FE_23(M, __VA_ARGS__)
#define TEST_FE_25(M, a, ...) M(a) TEST_FE_24(M, __VA_ARGS__)
#define TEST_FE_26(M, a, ...) M(a) TEST_FE_25(M, __VA_ARGS__)
#define TEST_FE_27(M, a, ...) M(a) TEST_FE_26(M, __VA_ARGS__)
#define TEST_FE_28(M, a, ...) M(a) TEST_FE_27(M, __VA_ARGS__)
#define TEST_FE_29(M, a, ...) M(a) TEST_FE_28(M, __VA_ARGS__)
#define TEST_FE_30(M, a, ...) M(a) TEST_FE_29(M, __VA_ARGS__)
#define TEST_FE_31(M, a, ...) M(a) TEST_FE_30(M, __VA_ARGS__)
#define TEST_FE_32(M, a, ...) M(a) TEST_FE_31(M, __VA_ARGS__)
#define TEST_FE_33(M, a, ...) M(a) TEST_FE_32(M, __VA_ARGS__)
#define TEST_FE_34(M, a, ...) M(a) TEST_FE_33(M, __VA_ARGS__)
#define TEST_FE_35(M, a, ...) M(a) TEST_FE_34(M, __VA_ARGS__)
#define TEST_FE_36(M, a, ...) M(a) TEST_FE_35(M, __VA_ARGS__)
#define TEST_FE_37(M, a, ...) M(a) TEST_FE_36(M, __VA_ARGS__)
#define TEST_FE_38(M, a, ...) M(a) TEST_FE_37(M, __VA_ARGS__)
#define TEST_FE_39(M, a, ...) M(a) TEST_FE_38(M, __VA_ARGS__)
#define TEST_FE_40(M, a, ...) M(a) TEST_FE_39(M, __VA_ARGS__)
#define TEST_FE_41(M, a, ...) M(a) TEST_FE_40(M, __VA_ARGS__)
#define TEST_FE_42(M, a, ...) M(a) TEST_FE_41(M, __VA_ARGS__)
#define TEST_FE_43(M, a, ...) M(a) TEST_FE_42(M, __VA_ARGS__)
#define TEST_FE_44(M, a, ...) M(a) TEST_FE_43(M, __VA_ARGS__)
#define TEST_FE_45(M, a, ...) M(a) TEST_FE_44(M, __VA_ARGS__)
#define TEST_FE_46(M, a, ...) M(a) TEST_FE_45(M, __VA_ARGS__)
#define TEST_FE_47(M, a, ...) M(a) TEST_FE_46(M, __VA_ARGS__)
#define TEST_FE_48(M, a, ...) M(a) TEST_FE_47(M, __VA_ARGS__)
#define TEST_FE_49(M, a, ...) M(a) TEST_FE_48(M, __VA_ARGS__)
#define TEST_FE_50(M, a, ...) M(a) TEST_FE_49(M, __VA_ARGS__)
#define TEST_FE_51(M, a, ...) M(a) TEST_FE_50(M, __VA_ARGS__)
#define TEST_FE_52(M, a, ...) M(a) TEST_FE_51(M, __VA_ARGS__)
#define TEST_FE_53(M, a, ...) M(a) TEST_FE_52(M, __VA_ARGS__)
#define TEST_FE_54(M, a, ...) M(a) TEST_FE_53(M, __VA_ARGS__)
#define TEST_FE_55(M, a, ...) M(a) TEST_FE_54(M, __VA_ARGS__)
#define TEST_FE_56(M, a, ...) M(a) TEST_FE_55(M, __VA_ARGS__)
#define TEST_FE_57(M, a, ...) M(a) TEST_FE_56(M, __VA_ARGS__)
#define TEST_FE_58(M, a, ...) M(a) TEST_FE_57(M, __VA_ARGS__)
#define TEST_FE_59(M, a, ...) M(a) TEST_FE_58(M, __VA_ARGS__)
#define TEST_FE_60(M, a, ...) M(a) TEST_FE_59(M, __VA_ARGS__)
#define TEST_FE_61(M, a, ...) M(a) TEST_FE_60(M, __VA_ARGS__)
#define TEST_FE_62(M, a, ...) M(a) TEST_FE_61(M, __VA_ARGS__)
#define TEST_FE_63(M, a, ...) M(a) TEST_FE_62(M, __VA_ARGS__)
#define TEST_FE_64(M, a, ...) M(a) TEST_FE_63(M, __VA_ARGS__)

#endif
