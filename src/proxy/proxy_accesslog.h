/* proxy_accesslog.h — access log lines in Traefik v1's "common" format.
 *
 *   <client host> - <user|-> [<02/Jan/2006:15:04:05 +0000>] "<method> <path> <proto>" <status>
 *   <size> "<referer>" "<user-agent>" <request count> "<frontend>" "<backend URL>" <ms>ms
 *
 * all on one line (SPEC-FACTS §5.3): CLF plus Traefik's extras, time in UTC, "-" for a
 * missing value, request count = requests the data node received since start (this request
 * included), duration in whole milliseconds.
 *
 * Request count
 *   One count per data node, not per worker: the workers of a node share one uint64_t in
 *   memory the node maps MAP_SHARED|MAP_ANONYMOUS before forking them (one cache line of its
 *   own), passed as `shared` (proxy_accesslog_share; proxy_engine_config.shared_requests).
 *   Each counted request takes its number with one relaxed atomic fetch-add, so the numbers
 *   in a node's log are 1, 2, 3 ... with no repeat and no gap, though lines from different
 *   workers may reach the file out of order. Without a shared counter (one worker, tests)
 *   the log counts privately in `requests`. Nothing is allocated on the data path.
 *
 * Contract
 *   Lines are formatted into a caller-provided buffer (cap bytes, fixed) and written with
 *   one write(2) per flush, so the data path never waits on the log: the engine flushes once
 *   per loop iteration (before sleeping) and when the buffer cannot take another line. A
 *   failed or short write drops what did not fit (counted in `dropped`): the proxy never
 *   blocks or grows because a log reader is slow. Values from the request are cut
 *   (PROXY_AL_FIELD_MAX) and escaped: '"', '\\' and bytes outside 0x20..0x7e become \xNN, so
 *   a client cannot forge a line. fd < 0 disables the log (formatting is then skipped).
 */
#ifndef PROXY_ACCESSLOG_H
#define PROXY_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "base/base_slice.h"

#define PROXY_AL_FIELD_MAX 1024 /* bytes of one value kept in a line */
#define PROXY_AL_LINE_MAX 8192  /* the longest line (several fields at their max) */

struct proxy_accesslog {
	int fd; /* not owned; -1: disabled */
	struct buf out;
	/* The number of the last counted request: the node's count when `shared` is set, else
	 * this log's own count (then also the counter itself). The line printed for a request
	 * shows this value. */
	uint64_t requests;
	uint64_t *shared; /* the node's counter (shared mapping, not owned), or NULL: private */
	uint64_t lines;   /* lines written */
	uint64_t dropped; /* lines lost (short write, buffer full) */
	int64_t time_sec; /* second of the cached time text */
	char time_text[32];
};

struct proxy_access_entry {
	struct slice client; /* client address, without port */
	struct slice user;   /* authenticated user, or empty */
	struct slice method;
	struct slice path;     /* request target as received */
	int minor;             /* HTTP/1.<minor> */
	int status;            /* status sent to the client (0: none was sent) */
	uint64_t size;         /* body bytes sent to the client */
	struct slice referer;  /* empty: "-" */
	struct slice agent;    /* User-Agent */
	struct slice frontend; /* empty: "-" */
	struct slice backend_url;
	int64_t start_ms; /* wall clock at the start of the request (Unix ms) */
	uint64_t duration_ms;
};

/* Start a log writing to fd (-1: disabled) with lines batched in mem[0..cap), cap >=
 * PROXY_AL_LINE_MAX. -ERR_INVAL otherwise. */
int proxy_accesslog_init(struct proxy_accesslog *al, int fd, void *mem, size_t cap);
/* Count requests in *counter, shared by the workers of one node (see "Request count"), from
 * now on; NULL: privately in al->requests. Call after proxy_accesslog_init. */
void proxy_accesslog_share(struct proxy_accesslog *al, uint64_t *counter);
/* Count one request (relaxed atomic fetch-add on the shared counter, or a private increment)
 * and return its number, also left in al->requests. */
static inline uint64_t proxy_accesslog_count(struct proxy_accesslog *al)
{
	if (al->shared)
		al->requests = __atomic_add_fetch(al->shared, 1, __ATOMIC_RELAXED);
	else
		al->requests++;
	return al->requests;
}
/* Count the request (proxy_accesslog_count, even when the log is disabled) and format its
 * line with that number. */
void proxy_accesslog_add(struct proxy_accesslog *al, const struct proxy_access_entry *e);
/* Format one line into b (for tests and other sinks) with al->requests as the request count
 * (counts nothing). 0 or -ERR_BUF_FULL. */
int proxy_accesslog_format(struct proxy_accesslog *al, const struct proxy_access_entry *e,
			   struct buf *b);
/* Write what is batched (one write(2)); what the fd did not take is dropped. */
void proxy_accesslog_flush(struct proxy_accesslog *al);

#endif
