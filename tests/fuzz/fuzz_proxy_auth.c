/* fuzz_proxy_auth.c — libFuzzer harness for src/proxy/proxy_auth (Authorization parsing,
 * basic and digest checks, user line validation).
 *
 * Input: lines. Line 1 is an Authorization value, line 2 the method, line 3 the
 * request-target, line 4 a user line. For every input:
 *   1. Line 1 is judged against a basic list and a digest list (fixed key, fixed clock). The
 *      verdict is one of the three; OK only with a user that is the name of a line of the
 *      list; STALE only from the digest list. Slices passed in are exact-size copies, so a
 *      read past their end is an ASan report.
 *   2. Line 4 is validated as a basic and as a digest line; the hash of a basic line that
 *      passes is checked against line 2 as a password (bcrypt only up to cost 5, to keep
 *      runs short): the answer is the same without the cache, filling it and hitting it.
 *   3. The challenge for each list fits PROXY_AUTH_CHALLENGE_MAX.
 * Any violation calls abort().
 */
#include "proxy/proxy_auth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(c)                \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static const struct slice basic_users[] = {
	{"alice:$apr1$PlLBqpSq$UjqndTPAicz8OrJ.bgLB00", 43},
	{"carol:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=", 39},
	{"mary:$1$saltsalt$cCPENxTVtU4kpnV2ngztX0", 39},
};
static const struct slice digest_users[] = {
	{"dora:traefik:0bf25fb6d80091616f92df7cd3a24bf4", 45},
	{"olga:elsewhere:5f4dcc3b5aa765d61d8327deb882cf99", 47},
};

static bool names_a_line(struct slice u, const struct slice *l, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (u.p == l[i].p && u.len < l[i].len && l[i].p[u.len] == ':')
			return true;
	return false;
}

/* An exact-size heap copy (NULL for an empty slice). */
static struct slice dup_slice(struct slice s)
{
	if (!s.len)
		return (struct slice){NULL, 0};
	char *p = malloc(s.len);
	memcpy(p, s.p, s.len);
	return (struct slice){p, s.len};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proxy_auth_state st;
	static bool init;
	if (!init) {
		uint8_t key[32] = {1, 2, 3};
		proxy_auth_state_init(&st, key);
		init = true;
	}
	struct slice rest = {(const char *)data, size};
	struct slice l[4];
	for (int i = 0; i < 4; i++)
		l[i] = dup_slice(slice_cut(rest, '\n', &rest));

	struct proxy_auth ab, ad;
	memset(&ab, 0, sizeof ab);
	memset(&ad, 0, sizeof ad);
	ab.enabled = ad.enabled = true;
	ab.basic = basic_users;
	ab.nbasic = 3;
	ad.digest = digest_users;
	ad.ndigest = 2;
	struct proxy_auth_req r = {l[0], l[1], l[2], 1000000};
	struct slice u;
	enum proxy_auth_verdict v = proxy_auth_check(&st, &ab, &r, &u);
	ASSERT(v == PROXY_AUTH_OK || v == PROXY_AUTH_DENIED);
	ASSERT(v == PROXY_AUTH_OK ? names_a_line(u, basic_users, 3) : u.len == 0);
	v = proxy_auth_check(&st, &ad, &r, &u);
	ASSERT(v == PROXY_AUTH_OK || v == PROXY_AUTH_DENIED || v == PROXY_AUTH_STALE);
	ASSERT(v == PROXY_AUTH_OK ? names_a_line(u, digest_users, 2) : u.len == 0);

	if (l[3].len) {
		(void)proxy_auth_digest_line_error(l[3]);
		if (!proxy_auth_basic_line_error(l[3])) {
			struct slice hash;
			slice_cut(l[3], ':', &hash);
			bool slow = hash.len > 6 && hash.p[0] == '$' && hash.p[1] == '2' &&
				    (hash.p[4] != '0' || hash.p[5] > '5');
			if (!slow) {
				bool a = proxy_auth_password_ok(NULL, hash, l[1]);
				bool b = proxy_auth_password_ok(&st, hash, l[1]);
				bool c = proxy_auth_password_ok(&st, hash, l[1]);
				ASSERT(a == b && b == c);
			}
		}
	}

	char ch[PROXY_AUTH_CHALLENGE_MAX];
	ASSERT(proxy_auth_challenge(&st, &ab, 1000000, false, ch, sizeof ch) > 0);
	ASSERT(proxy_auth_challenge(&st, &ad, 1000000, true, ch, sizeof ch) > 0);
	for (int i = 0; i < 4; i++)
		free((void *)l[i].p);
	return 0;
}
