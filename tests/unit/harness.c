/* harness.c — runner behind TEST_MAIN (see test.h). */
#include "test.h"

int test_failures_;

int test_run_(const char *file, const struct test_case *cases, size_t n)
{
	const char *only = getenv("test_only");
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	unsigned passed = 0, failed = 0;
	for (size_t i = 0; i < n; i++) {
		if (only && !strstr(cases[i].name, only))
			continue;
		test_failures_ = 0;
		cases[i].fn();
		if (test_failures_) {
			failed++;
			printf("not ok - %s %s (%d failed checks)\n", base, cases[i].name,
			       test_failures_);
		} else {
			passed++;
			printf("ok - %s %s\n", base, cases[i].name);
		}
		fflush(stdout);
	}
	printf("%s: %u passed, %u failed\n", base, passed, failed);
	return failed ? 1 : 0;
}
