/* node_joinlimit.c — the per-source limit on failed join attempts (node_joinlimit.h).
 *
 * A token bucket per source in a fixed table, found by a linear scan: JOINLIMIT_SLOTS
 * entries of 48 bytes are scanned only on a join (a rare, anonymous request already behind
 * a TLS handshake), which costs far less than the handshake itself. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "api/api_server.h"
#include "base/base_err.h"
#include "base/base_slice.h"
#include "node/node_joinlimit.h"

_Static_assert(JOINLIMIT_BURST_DEFAULT <= JOINLIMIT_BURST_MAX, "default burst over its cap");
_Static_assert(JOINLIMIT_REFILL_MS_DEFAULT / 1000 <= JOINLIMIT_REFILL_S_MAX,
	       "default refill over its cap");

void joinlimit_init(struct joinlimit *jl, uint32_t burst, uint32_t refill_ms)
{
	memset(jl, 0, sizeof *jl);
	jl->burst = burst ? burst : 1;
	jl->refill_ms = refill_ms ? refill_ms : 1;
}

int joinlimit_parse_params(const char *s, uint32_t *burst, uint32_t *refill_ms)
{
	if (!s)
		return -ERR_INVAL;
	const char *slash = strchr(s, '/');
	if (!slash)
		return -ERR_INVAL;
	uint64_t b, r;
	if (slice_to_u64((struct slice){s, (size_t)(slash - s)}, JOINLIMIT_BURST_MAX, &b) != 0 ||
	    slice_to_u64(slice_from_cstr(slash + 1), JOINLIMIT_REFILL_S_MAX, &r) != 0 || b == 0 ||
	    r == 0)
		return -ERR_INVAL;
	*burst = (uint32_t)b;
	*refill_ms = (uint32_t)r * 1000;
	return 0;
}

int joinlimit_key_from_addr(const char *addr, struct joinlimit_key *k)
{
	char host[64];
	uint16_t port;
	uint8_t a[16];
	if (!addr)
		return -ERR_INVAL;
	if (api_addr_split(addr, host, sizeof host, &port) < 0) {
		if (strlen(addr) >= sizeof host)
			return -ERR_INVAL;
		snprintf(host, sizeof host, "%s", addr); /* a bare address */
	}
	memset(k, 0, sizeof *k);
	if (inet_pton(AF_INET, host, a) == 1) {
		k->b[10] = k->b[11] = 0xff;
		memcpy(k->b + 12, a, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, a) != 1)
		return -ERR_INVAL;
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(a, v4mapped, 12) == 0)
		memcpy(k->b, a, 16); /* the IPv4 address */
	else
		memcpy(k->b, a, 8); /* the /64 */
	return 0;
}

void joinlimit_key_text(const struct joinlimit_key *k, char out[JOINLIMIT_KEY_TEXT])
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char ip[INET6_ADDRSTRLEN];
	if (memcmp(k->b, v4mapped, 12) == 0) {
		inet_ntop(AF_INET, k->b + 12, ip, sizeof ip);
		snprintf(out, JOINLIMIT_KEY_TEXT, "%s", ip);
	} else {
		inet_ntop(AF_INET6, k->b, ip, sizeof ip);
		snprintf(out, JOINLIMIT_KEY_TEXT, "%s/64", ip);
	}
}

/* Bring e's bucket to now_ms: whole refill steps only, so the next step stays due at
 * stamp_ms + refill_ms. A bucket full again forgets that its running out was reported. */
static void refill(const struct joinlimit *jl, struct joinlimit_entry *e, uint64_t now_ms)
{
	if (e->tokens >= jl->burst) {
		e->tokens = jl->burst;
		e->reported = false;
		return;
	}
	if (now_ms <= e->stamp_ms)
		return;
	uint64_t n = (now_ms - e->stamp_ms) / jl->refill_ms;
	if (n >= jl->burst - e->tokens) {
		e->tokens = jl->burst;
		e->reported = false;
	} else {
		e->tokens += (uint32_t)n;
		e->stamp_ms += n * jl->refill_ms;
	}
}

/* Until e's next attempt (e refilled, no token left). */
static uint64_t wait_of(const struct joinlimit *jl, const struct joinlimit_entry *e,
			uint64_t now_ms)
{
	uint64_t due = e->stamp_ms + jl->refill_ms;
	return due > now_ms ? due - now_ms : 1;
}

static struct joinlimit_entry *find(struct joinlimit *jl, const struct joinlimit_key *k)
{
	for (size_t i = 0; i < JOINLIMIT_SLOTS; i++)
		if (jl->e[i].used && memcmp(jl->e[i].key.b, k->b, 16) == 0)
			return &jl->e[i];
	return NULL;
}

/* The entry a newcomer takes: a free one, else the one with the most attempts left (every
 * entry refilled to now_ms), ties to the one that failed longest ago. Never NULL. */
static struct joinlimit_entry *victim(struct joinlimit *jl, uint64_t now_ms)
{
	struct joinlimit_entry *best = NULL;
	for (size_t i = 0; i < JOINLIMIT_SLOTS; i++) {
		struct joinlimit_entry *e = &jl->e[i];
		if (!e->used)
			return e;
		refill(jl, e, now_ms);
		if (!best || e->tokens > best->tokens ||
		    (e->tokens == best->tokens && e->seen_ms < best->seen_ms))
			best = e;
	}
	return best;
}

void joinlimit_check(struct joinlimit *jl, const struct joinlimit_key *k, uint64_t now_ms,
		     struct joinlimit_answer *out)
{
	memset(out, 0, sizeof *out);
	struct joinlimit_entry *e = find(jl, k);
	if (e) {
		refill(jl, e, now_ms);
		out->fails = e->fails;
		if (e->tokens == 0) {
			out->verdict = JOINLIMIT_LIMITED;
			out->wait_ms = wait_of(jl, e, now_ms);
		}
		return;
	}
	/* A newcomer may try if a failure would find it an entry with an attempt left. */
	struct joinlimit_entry *v = victim(jl, now_ms);
	if (!v->used || v->tokens > 0) {
		jl->sat_reported = false;
		return;
	}
	/* Every entry is empty: the soonest refill is the newcomer's wait. */
	uint64_t wait = UINT64_MAX;
	for (size_t i = 0; i < JOINLIMIT_SLOTS; i++) {
		uint64_t w = wait_of(jl, &jl->e[i], now_ms);
		if (w < wait)
			wait = w;
	}
	out->verdict = JOINLIMIT_SATURATED;
	out->wait_ms = wait;
	out->report = !jl->sat_reported;
	jl->sat_reported = true;
}

void joinlimit_fail(struct joinlimit *jl, const struct joinlimit_key *k, uint64_t now_ms,
		    struct joinlimit_answer *out)
{
	memset(out, 0, sizeof *out);
	struct joinlimit_entry *e = find(jl, k);
	if (e) {
		refill(jl, e, now_ms);
	} else {
		e = victim(jl, now_ms);
		if (!e->used || e->tokens >= jl->burst) {
			/* a free entry, or one that carries nothing: a full bucket */
			memset(e, 0, sizeof *e);
			e->tokens = jl->burst;
		} else {
			/* take over its budget and refill clock: no attempt is created */
			e->fails = 0;
			e->reported = false;
		}
		e->used = true;
		e->key = *k;
	}
	if (e->tokens >= jl->burst)
		e->stamp_ms = now_ms; /* the refill clock starts at the first attempt spent */
	if (e->tokens > 0)
		e->tokens--;
	e->seen_ms = now_ms;
	if (e->fails < UINT32_MAX)
		e->fails++;
	out->fails = e->fails;
	if (e->tokens == 0) {
		out->verdict = JOINLIMIT_LIMITED;
		out->wait_ms = wait_of(jl, e, now_ms);
		out->report = !e->reported;
		e->reported = true;
	}
}
