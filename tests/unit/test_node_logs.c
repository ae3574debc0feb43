/* Unit tests for node_logs.c: the control node's in-memory copy of its log lines (GET /logs).
 * The ring keeps whole lines, the newest ones, filtered by level on the way out; a reader
 * that falls behind by more than the ring is told how many bytes it lost and goes on from the
 * oldest line kept. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base_log.h"
#include "node/node_control.h"
#include "test.h"

static char out[1 << 20];

/* Everything from off on, in one read (levels >= min). */
static size_t read_all(uint64_t *off, uint8_t min, uint64_t *skipped)
{
	size_t part = 0;
	return ctl_logs_read(off, &part, min, out, sizeof out - 1, skipped);
}

static void keeps_lines_and_filters(void)
{
	int null = open("/dev/null", O_WRONLY);
	REQUIRE(null >= 0);
	log_set_fd(null);
	log_set_level(LOG_DEBUG);
	ctl_logs_start(NULL);
	uint64_t off = 0, skipped;
	read_all(&off, LOG_DEBUG, &skipped); /* whatever came before */
	uint64_t mark = off;
	log_info("first line", "n=%d", 1);
	log_warn("second line", "n=%d", 2);
	log_debug("third line", NULL);
	log_error("fourth line", NULL);
	size_t n = read_all(&off, LOG_DEBUG, &skipped);
	out[n] = 0;
	CHECK_EQ_INT(skipped, 0);
	CHECK(strstr(out, "level=info msg=\"first line\" n=1\n") != NULL);
	CHECK(strstr(out, "level=debug msg=\"third line\"\n") != NULL);
	int lines = 0;
	for (size_t i = 0; i < n; i++)
		lines += out[i] == '\n';
	CHECK_EQ_INT(lines, 4);
	/* warn and above: two of the four */
	uint64_t off2 = mark;
	n = read_all(&off2, LOG_WARN, &skipped);
	out[n] = 0;
	CHECK(strstr(out, "second line") && strstr(out, "fourth line"));
	CHECK(!strstr(out, "first line") && !strstr(out, "third line"));
	CHECK(off2 == off);
	/* nothing new: nothing read */
	CHECK_EQ_INT(read_all(&off, LOG_DEBUG, &skipped), 0);
	/* A small buffer takes a line in pieces, never splitting it wrongly. */
	log_info("piecewise", "x=%s", "0123456789");
	char small[7], whole[256];
	size_t part = 0, got = 0, k;
	while ((k = ctl_logs_read(&off, &part, LOG_DEBUG, small, sizeof small, &skipped)) > 0) {
		REQUIRE(got + k < sizeof whole);
		memcpy(whole + got, small, k);
		got += k;
	}
	whole[got] = 0;
	CHECK(strstr(whole, "msg=\"piecewise\" x=0123456789\n") != NULL);
	CHECK_EQ_INT(part, 0);
	ctl_logs_stop();
	log_set_fd(2);
	log_set_level(LOG_INFO);
	close(null);
}

static void laps_and_says_so(void)
{
	int null = open("/dev/null", O_WRONLY);
	REQUIRE(null >= 0);
	log_set_fd(null);
	ctl_logs_start(NULL);
	uint64_t off = 0, skipped;
	read_all(&off, LOG_DEBUG, &skipped);
	uint64_t behind = off;
	/* Over 256 KiB of lines: the first ones are gone. */
	for (int i = 0; i < 4000; i++)
		log_info("filler line to lap the ring", "i=%d pad=%s", i,
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	size_t n = read_all(&behind, LOG_DEBUG, &skipped);
	out[n] = 0;
	CHECK(skipped > 0);
	CHECK(n <= (256u << 10));
	CHECK(n > (200u << 10));
	/* What is left starts at a line and ends with the last one logged. */
	CHECK(strncmp(out, "time=", 5) == 0);
	CHECK(strstr(out, " i=3999 ") != NULL);
	CHECK(strstr(out, " i=0 ") == NULL);
	CHECK(n > 0 && out[n - 1] == '\n');
	/* A reader that was caught up loses nothing. */
	read_all(&off, LOG_DEBUG, &skipped);
	CHECK(skipped > 0); /* it was caught up before the 4000 lines: it lost some too */
	log_info("after", NULL);
	n = read_all(&off, LOG_DEBUG, &skipped);
	out[n] = 0;
	CHECK_EQ_INT(skipped, 0);
	CHECK(strstr(out, "msg=\"after\"") != NULL);
	ctl_logs_stop();
	/* Stopped: nothing more is kept. */
	log_info("not kept", NULL);
	CHECK_EQ_INT(read_all(&off, LOG_DEBUG, &skipped), 0);
	log_set_fd(2);
	close(null);
}

TEST_MAIN(keeps_lines_and_filters, laps_and_says_so)
