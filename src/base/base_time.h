/* base_time.h — clocks, read only at the I/O boundary.
 *
 * Logic modules never call these: they take time from their io vtable or
 * from the event loop's cached now (loop_now_ms), so simulators and tests
 * own the clock. These are what the real io implementations plug in.
 */
#ifndef BASE_TIME_H
#define BASE_TIME_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC: for timeouts and intervals. */
uint64_t time_mono_ns(void);
uint64_t time_mono_ms(void);
/* CLOCK_REALTIME in milliseconds since the Unix epoch: for logs, certificates, backup names. */
int64_t time_wall_ms(void);

/* Exponential back-off without jitter: `first` when cur is 0 (no delay yet), else cur doubled,
 * never above max (nor past it on overflow). The retry loops of the worker master, the
 * workers' reloads and the certificate renewer step their delays with it. */
uint64_t time_backoff_next(uint64_t cur, uint64_t first, uint64_t max);

/* "2026-11-26T22:24:45.123Z" (24 chars + NUL); out must hold TIME_RFC3339_LEN + 1. */
#define TIME_RFC3339_LEN 24
void time_format_rfc3339(int64_t wall_ms, char out[TIME_RFC3339_LEN + 1]);

/* Split epoch seconds into a UTC civil date (proleptic Gregorian), no libc tz. */
struct time_civil {
	int year, month, day, hour, min, sec;
};
void time_civil_from_epoch(int64_t secs, struct time_civil *out);

#endif
