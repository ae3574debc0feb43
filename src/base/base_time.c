/* base_time.c — see base_time.h. */
#include "base/base_time.h"

#include <stdio.h>
#include <time.h>

uint64_t time_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t time_mono_ms(void)
{
	return time_mono_ns() / 1000000u;
}

int64_t time_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's public-domain
 * derivation of the Gregorian calendar arithmetic, re-derived here). */
void time_civil_from_epoch(int64_t secs, struct time_civil *out)
{
	int64_t days = secs / 86400, rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	out->hour = (int)(rem / 3600);
	out->min = (int)(rem % 3600 / 60);
	out->sec = (int)(rem % 60);
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;                                      /* [0, 146096] */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
	int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
	out->day = (int)(doy - (153 * mp + 2) / 5 + 1);
	out->month = (int)(mp < 10 ? mp + 3 : mp - 9);
	out->year = (int)(yoe + era * 400 + (out->month <= 2));
}

void time_format_rfc3339(int64_t wall_ms, char out[TIME_RFC3339_LEN + 1])
{
	int64_t secs = wall_ms / 1000, ms = wall_ms % 1000;
	if (ms < 0) {
		ms += 1000;
		secs--;
	}
	struct time_civil c;
	time_civil_from_epoch(secs, &c);
	if (c.year < 0 || c.year > 9999)
		c.year = c.year < 0 ? 0 : 9999;
	snprintf(out, TIME_RFC3339_LEN + 1, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", c.year, c.month,
		 c.day, c.hour, c.min, c.sec, (int)ms);
}

uint64_t time_backoff_next(uint64_t cur, uint64_t first, uint64_t max)
{
	if (!cur)
		return first < max ? first : max;
	return cur >= max / 2 ? max : cur * 2;
}
