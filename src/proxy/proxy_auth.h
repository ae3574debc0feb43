/* proxy_auth.h — basic and digest authentication of entry points and frontends, as Traefik v1
 * does it (docs/internals/proxy-auth.md).
 *
 * Contract
 *   Pure functions over the routing table's user lists (struct proxy_auth, proxy_config.h):
 *   proxy_config.c validates every user line at document load with
 *   proxy_auth_basic_line_error / proxy_auth_digest_line_error (an invalid line rejects the
 *   document), so the checks below may assume well-formed lines.
 *
 *   proxy_auth_check() judges one request's Authorization value. Basic wins over digest and
 *   digest over forward auth when several are configured (Traefik v1's order). Forward auth
 *   needs I/O and lives in proxy_fwdauth.h (proxy_conn.c hands it forward-only auths); given
 *   a forward-only auth, proxy_auth_check answers PROXY_AUTH_DENIED (fail closed).
 *
 *   The only state is struct proxy_auth_state, one per engine (worker), sized at compile
 *   time: the per-process key of the stateless digest nonces and a bounded cache of verified
 *   slow credentials (bcrypt, MD5-crypt), so a keep-alive client does not pay bcrypt on every
 *   request. Nothing here allocates; time comes in through the request (monotonic ms).
 *
 *   Hash formats (htpasswd): $apr1$ (Apache MD5), $1$ (MD5-crypt), {SHA} (base64 SHA-1),
 *   $2a$ / $2b$ / $2y$ bcrypt with cost 4..PROXY_AUTH_BCRYPT_MAX_COST. Digest lines are
 *   htdigest's "user:realm:HA1" (HA1 = 32 hex digits); only realm "traefik" can match.
 *   Every comparison of secrets is constant-time.
 */
#ifndef PROXY_AUTH_H
#define PROXY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_slice.h"
#include "proxy/proxy_config.h"

#define PROXY_AUTH_REALM "traefik"
/* Digest nonces are accepted this long after they were issued; an older one that is
 * otherwise right gets a new challenge with stale=true (browsers retry without asking). */
#define PROXY_AUTH_NONCE_TTL_MS (5u * 60u * 1000u)
#define PROXY_AUTH_NONCE_LEN 48 /* 16 hex digits of time, 32 of MAC */
/* Verified-credential cache: PROXY_AUTH_CACHE_SETS x PROXY_AUTH_CACHE_WAYS entries. */
#define PROXY_AUTH_CACHE_SETS 64
#define PROXY_AUTH_CACHE_WAYS 4
/* Longest Authorization value looked at (longer: denied) and longest WWW-Authenticate. */
#define PROXY_AUTH_HEADER_MAX 4096
#define PROXY_AUTH_CHALLENGE_MAX 192
/* bcrypt costs above this are refused at load: each miss of the cache costs 2^cost. */
#define PROXY_AUTH_BCRYPT_MAX_COST 17

struct proxy_auth_state {
	uint8_t key[32]; /* MAC key of the nonces, salt of the cache digests */
	char opaque[33]; /* digest "opaque": derived from the key, hex */
	uint8_t cache[PROXY_AUTH_CACHE_SETS][PROXY_AUTH_CACHE_WAYS][16];
	uint8_t cache_used[PROXY_AUTH_CACHE_SETS]; /* bit w: way w holds an entry */
	uint8_t cache_next[PROXY_AUTH_CACHE_SETS]; /* round-robin victim */
	uint64_t cache_hits, cache_misses;         /* slow hashes served / computed */
};

/* Start with a 32-byte key: a random one per process, or one shared by the workers of a
 * node (so a nonce issued by one worker verifies at another). The cache starts empty. */
void proxy_auth_state_init(struct proxy_auth_state *s, const uint8_t key[32]);

/* Load-time checks of one list item: NULL when usable, else why not (static text). Basic:
 * exactly "user:hash" with a supported, well-formed hash. Digest: "user:realm:HA1". */
const char *proxy_auth_basic_line_error(struct slice line);
const char *proxy_auth_digest_line_error(struct slice line);

struct proxy_auth_req {
	struct slice authz;  /* the Authorization field value; empty (p may be NULL): none */
	struct slice method; /* request method as received */
	struct slice target; /* request-target as received (digest "uri") */
	uint64_t now_ms;     /* monotonic clock (nonce issue and expiry) */
};

enum proxy_auth_verdict {
	PROXY_AUTH_OK = 0,
	PROXY_AUTH_DENIED, /* answer 401 with proxy_auth_challenge(stale = false) */
	PROXY_AUTH_STALE,  /* digest right but the nonce expired: 401 with stale = true */
};

/* Judge a request against au (au->enabled). On PROXY_AUTH_OK *user is the user name: a
 * slice of au's matching user line, valid as long as the table. */
enum proxy_auth_verdict proxy_auth_check(struct proxy_auth_state *s, const struct proxy_auth *au,
					 const struct proxy_auth_req *r, struct slice *user);

/* The WWW-Authenticate value of a 401 for au into out (NUL-terminated); its length, or 0
 * if cap < PROXY_AUTH_CHALLENGE_MAX. Basic: `Basic realm="traefik"`; digest: `Digest
 * realm="traefik", nonce="…", opaque="…", algorithm="MD5", qop="auth"` (+ `, stale=true`). */
size_t proxy_auth_challenge(const struct proxy_auth_state *s, const struct proxy_auth *au,
			    uint64_t now_ms, bool stale, char *out, size_t cap);

/* ---- building blocks (exposed for tests) ----------------------------------------------- */

/* Whether pw matches an htpasswd hash (the part after "user:"). s may be NULL (no cache);
 * with s, a bcrypt or MD5-crypt success is remembered under a keyed digest of (hash, pw). */
bool proxy_auth_password_ok(struct proxy_auth_state *s, struct slice hash, struct slice pw);
/* bcrypt of pw with the cost and salt of setting ("$2y$04$" + 22 salt characters, more is
 * ignored): the 60-character hash and a NUL into out. 0, or -ERR_INVAL (bad setting). */
int proxy_auth_bcrypt(struct slice setting, struct slice pw, char out[61]);
/* MD5-crypt with magic "$1$" or "$apr1$" and salt (up to 8 bytes used): magic, salt, "$" and
 * 22 characters, NUL-terminated, into out (cap >= 40). Length, or -ERR_INVAL. */
int proxy_auth_md5crypt(struct slice magic, struct slice salt, struct slice pw, char *out,
			size_t cap);
/* A nonce issued at now_ms (PROXY_AUTH_NONCE_LEN characters and a NUL). */
void proxy_auth_nonce(const struct proxy_auth_state *s, uint64_t now_ms,
		      char out[PROXY_AUTH_NONCE_LEN + 1]);
/* 0: ours and fresh; 1: ours but older than PROXY_AUTH_NONCE_TTL_MS; -1: not ours. */
int proxy_auth_nonce_check(const struct proxy_auth_state *s, struct slice nonce, uint64_t now_ms);
/* Blowfish's initial P[0] (0x243F6A88, the first hex digits of pi): a test hook. */
uint32_t proxy_auth_bf_p0(void);

#endif
