/* node_joinlimit.h — a per-source-address limit on FAILED join attempts (POST /join).
 *
 * Contract
 *   Pure logic: no I/O, no clock, no allocation. The caller (h_join in node_ctl_api.c) passes
 *   a monotonic "now" in milliseconds and owns the struct (48 KiB: keep it static).
 *
 *   Every source gets a token bucket of `burst` failed attempts that refills by one every
 *   `refill_ms`. Before looking at a join at all the caller asks joinlimit_check: a source
 *   with no attempt left is answered 429 with the wait, and its token is never checked (no
 *   CPU, no timing signal). A join that fails (a proof that does not verify, a nonce this
 *   cluster did not issue, a malformed request) is counted with joinlimit_fail; a join that
 *   succeeds is not counted at all.
 *
 *   Sources: an IPv4 address is one source; an IPv6 address counts by its /64 (one host's
 *   prefix: rotating addresses inside it does not buy attempts); an IPv4-mapped IPv6 address
 *   (::ffff:a.b.c.d, from a dual-stack listener) is the IPv4 address.
 *
 *   Bounded memory: JOINLIMIT_SLOTS entries, fixed. A source whose bucket is full again
 *   carries no information, so its entry is free for another. When a failure comes from a
 *   source with no entry and no slot is free, the entry with the MOST attempts left goes
 *   (ties: the one that failed longest ago), and the newcomer takes over that entry's
 *   budget and refill clock instead of a full bucket: an eviction never creates attempts,
 *   so cycling through many sources cannot reset anyone's budget. The sum of attempts over
 *   the table only grows by refills. When every entry has no attempt left (more than
 *   JOINLIMIT_SLOTS sources are being limited at once: a distributed attack), sources not
 *   in the table are refused too (JOINLIMIT_SATURATED) until an entry refills: joins fail
 *   closed rather than let the overflow guess freely.
 *
 *   Logging is the caller's; the answers say when a line is due (once per source when it
 *   runs out, again only after its bucket was full once more; once when the table
 *   saturates), so an attacker hammering at the limit cannot flood the log.
 */
#ifndef NODE_NODE_JOINLIMIT_H
#define NODE_NODE_JOINLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOINLIMIT_SLOTS 1024             /* sources remembered at once */
#define JOINLIMIT_BURST_DEFAULT 10       /* failed attempts in a burst */
#define JOINLIMIT_REFILL_MS_DEFAULT 6000 /* one more attempt every 6 s: 10 a minute */
#define JOINLIMIT_BURST_MAX 1000
#define JOINLIMIT_REFILL_S_MAX 3600
#define JOINLIMIT_ENV "TRAEFIKEE_JOIN_LIMIT" /* "<burst>/<seconds>", for tests */
#define JOINLIMIT_KEY_TEXT 64                /* "a.b.c.d", "xxxx:xxxx:xxxx:xxxx::/64", NUL */

/* A source: 16 bytes, an IPv4 address as ::ffff:a.b.c.d, an IPv6 one with its low 64 bits
 * cleared. */
struct joinlimit_key {
	uint8_t b[16];
};

struct joinlimit_entry {
	struct joinlimit_key key;
	uint64_t stamp_ms; /* tokens was exact at stamp_ms (refills count from it) */
	uint64_t seen_ms;  /* the last failure */
	uint32_t tokens;   /* attempts left at stamp_ms */
	uint32_t fails;    /* failures counted since the entry was made */
	bool used;
	bool reported; /* "ran out" was reported; cleared when the bucket is full again */
};

struct joinlimit {
	uint32_t burst;
	uint32_t refill_ms;
	bool sat_reported; /* "table saturated" was reported; cleared when a newcomer passes */
	struct joinlimit_entry e[JOINLIMIT_SLOTS];
};

enum joinlimit_verdict {
	JOINLIMIT_OK = 0,        /* the source may try */
	JOINLIMIT_LIMITED = 1,   /* the source has no attempt left */
	JOINLIMIT_SATURATED = 2, /* the source has no entry and the table has no budget left */
};

struct joinlimit_answer {
	enum joinlimit_verdict verdict; /* joinlimit_fail: the state after the failure */
	uint64_t wait_ms;               /* verdict != OK: until the next attempt is allowed */
	uint32_t fails;                 /* failures counted for the source (0: no entry) */
	bool report;                    /* log this now (see the top) */
};

/* Empty table with burst attempts refilling one per refill_ms (both clamped to at least 1). */
void joinlimit_init(struct joinlimit *jl, uint32_t burst, uint32_t refill_ms);

/* Parse "<burst>/<seconds>" (JOINLIMIT_ENV): burst 1 .. JOINLIMIT_BURST_MAX, seconds 1 ..
 * JOINLIMIT_REFILL_S_MAX. 0 with *burst, *refill_ms; -ERR_INVAL (outputs untouched). */
int joinlimit_parse_params(const char *s, uint32_t *burst, uint32_t *refill_ms);

/* The source of a peer address as api_peer gives it ("10.0.0.5:41234", "[::1]:41234"), or
 * of a bare IPv4/IPv6 address. -ERR_INVAL for anything else ("unix"). */
int joinlimit_key_from_addr(const char *addr, struct joinlimit_key *k);

/* The source as text: "10.0.0.5" or "2001:db8:1:2::/64". out: JOINLIMIT_KEY_TEXT bytes. */
void joinlimit_key_text(const struct joinlimit_key *k, char out[JOINLIMIT_KEY_TEXT]);

/* May k try a join at now_ms? Nothing is counted. The answer's report is set on the first
 * JOINLIMIT_SATURATED since the table last let a newcomer through. */
void joinlimit_check(struct joinlimit *jl, const struct joinlimit_key *k, uint64_t now_ms,
		     struct joinlimit_answer *out);

/* Count one failed join by k at now_ms (an entry is made for it if needed; see the top for
 * the eviction). The answer describes k after the failure: JOINLIMIT_LIMITED when it has no
 * attempt left, with report set exactly when this failure used its last attempt for the
 * first time since its bucket was full. */
void joinlimit_fail(struct joinlimit *jl, const struct joinlimit_key *k, uint64_t now_ms,
		    struct joinlimit_answer *out);

#endif
