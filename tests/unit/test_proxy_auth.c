/* Unit tests for proxy_auth.h: htpasswd hash formats against vectors made by Debian's
 * apache2-utils (htpasswd -nbm / -nbs / -nbB -C 4|5|10, htdigest) and openssl passwd -1,
 * pasted here so the test needs none of them; basic and digest request checks (malformed
 * headers, wrong passwords, nonce expiry and tampering); the verified-credential cache; the
 * load-time validation through proxy_table_load.
 */
#include "base/base_err.h"
#include "proxy/proxy_auth.h"
#include "proxy/proxy_auth_pi.h"
#include "proxy/proxy_config.h"
#include "test.h"

#include <bearssl.h>
#include <stdio.h>
#include <time.h>

/* ---- vectors (user, password, htpasswd line) -------------------------------------------- */

struct vec {
	const char *pw;
	const char *line;
};

static const struct vec vecs[] = {
	/* htpasswd -nbm (Apache MD5) */
	{"secret1", "alice:$apr1$PlLBqpSq$UjqndTPAicz8OrJ.bgLB00"},
	{"p:with:colons", "bob:$apr1$D3NaP032$JsvmDCBg4iZWeJUQYrKW9."},
	{"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN",
	 "ivan:$apr1$EdmEUMMJ$lnfDu.fGMO5PigGAX1oi10"},
	/* openssl passwd -1 -salt saltsalt (MD5-crypt) */
	{"md5pass", "mary:$1$saltsalt$cCPENxTVtU4kpnV2ngztX0"},
	/* htpasswd -nbs (SHA-1) */
	{"hunter2", "carol:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0="},
	{"", "judy:{SHA}2jmj7l5rSw0yVb/vlWAYkK/YBwk="},
	/* htpasswd -nbB -C 4 / -C 5 (bcrypt $2y$) */
	{"correct horse", "dave:$2y$04$gxceeQUJiv.Kw0Y.gDmoc.JMoy3233xQdMbFiGTzAqPgmnwUXuuqW"},
	{"x", "erin:$2y$05$xjgFsZcxTkKk0Mm8vduECuF3.uD1Tm8wsxI53RtyUbZeYESEHFSJq"},
	{"", "frank:$2y$04$zg2tB0lO1Xuw36j24HOE8udCMnHTRUlWQBL82PlMCphojb2b4Eh16"},
	/* the same hash under the other bcrypt prefixes (identical for short passwords) */
	{"correct horse", "dave2a:$2a$04$gxceeQUJiv.Kw0Y.gDmoc.JMoy3233xQdMbFiGTzAqPgmnwUXuuqW"},
	{"correct horse", "dave2b:$2b$04$gxceeQUJiv.Kw0Y.gDmoc.JMoy3233xQdMbFiGTzAqPgmnwUXuuqW"},
	/* an 80-byte password: bcrypt uses its first 72 bytes */
	{"verylongpasswordverylongpasswordverylongpasswordverylongpasswordverylongpassword",
	 "gina:$2y$04$nhJgRs9V/FOejetMHHCSTOh/qHnnK7UXyTND9/DeRARzew0gfJAD6"},
	{"verylongpasswordverylongpasswordverylongpasswordverylongpasswordverylong",
	 "gina:$2y$04$nhJgRs9V/FOejetMHHCSTOh/qHnnK7UXyTND9/DeRARzew0gfJAD6"},
	{"verylongpasswordverylongpasswordverylongpasswordverylongpasswordverylong",
	 "gina72:$2y$04$zvUNSBo64v9FBERCRvzj9uL9V8pSnnQ8UFZQKLpDt.BfNRuOvr3xK"},
};

static struct slice hash_of(const char *line)
{
	const char *c = strchr(line, ':');
	return slice_from_cstr(c + 1);
}

static void blowfish_pi(void)
{
	CHECK_EQ_INT(proxy_auth_bf_p0(), 0x243F6A88u);
	/* The table's ends, as published with Blowfish. */
	CHECK_EQ_INT(proxy_bf_pi_p[0], 0x243F6A88u);
	CHECK_EQ_INT(proxy_bf_pi_p[17], 0x8979FB1Bu);
	CHECK_EQ_INT(proxy_bf_pi_s[0][0], 0xD1310BA6u);
	CHECK_EQ_INT(proxy_bf_pi_s[3][255], 0x3AC372E6u);
}

static void hashes_match(void)
{
	for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
		struct slice h = hash_of(vecs[i].line);
		if (!proxy_auth_password_ok(NULL, h, slice_from_cstr(vecs[i].pw)))
			TEST_FAIL_("vector %zu (%s) does not verify", i, vecs[i].line);
		if (proxy_auth_basic_line_error(slice_from_cstr(vecs[i].line)))
			TEST_FAIL_("vector %zu (%s) refused at load", i, vecs[i].line);
	}
}

static void hashes_wrong_password(void)
{
	static const char *const wrong[] = {"wrong", "", "secret", "Secret1", "x "};
	for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
		struct slice h = hash_of(vecs[i].line);
		for (size_t k = 0; k < sizeof wrong / sizeof wrong[0]; k++) {
			if (!strcmp(wrong[k], vecs[i].pw))
				continue;
			if (proxy_auth_password_ok(NULL, h, slice_from_cstr(wrong[k])))
				TEST_FAIL_("vector %zu accepts \"%s\"", i, wrong[k]);
		}
	}
	/* One bit of the stored hash flipped. */
	char buf[128];
	snprintf(buf, sizeof buf, "%s", hash_of(vecs[6].line).p);
	buf[40] ^= 1;
	CHECK(!proxy_auth_password_ok(NULL, slice_from_cstr(buf), SLICE_LIT("correct horse")));
}

static void bcrypt_and_md5crypt_outputs(void)
{
	char out[64];
	REQUIRE(proxy_auth_bcrypt(hash_of(vecs[7].line), SLICE_LIT("x"), out) == 0);
	CHECK_EQ_STR(out, hash_of(vecs[7].line).p);
	/* The crypt_blowfish test suite's classic vector. */
	REQUIRE(proxy_auth_bcrypt(SLICE_LIT("$2a$05$CCCCCCCCCCCCCCCCCCCCC."), SLICE_LIT("U*U"),
				  out) == 0);
	CHECK_EQ_STR(out, "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW");
	CHECK(proxy_auth_bcrypt(SLICE_LIT("$2y$03$CCCCCCCCCCCCCCCCCCCCC."), SLICE_LIT("x"), out) ==
	      -ERR_INVAL);
	CHECK(proxy_auth_bcrypt(SLICE_LIT("$2x$05$CCCCCCCCCCCCCCCCCCCCC."), SLICE_LIT("x"), out) ==
	      -ERR_INVAL);
	CHECK(proxy_auth_bcrypt(SLICE_LIT("$2y$05$CCCC"), SLICE_LIT("x"), out) == -ERR_INVAL);
	int n = proxy_auth_md5crypt(SLICE_LIT("$apr1$"), SLICE_LIT("PlLBqpSq"),
				    SLICE_LIT("secret1"), out, sizeof out);
	CHECK(n == 37);
	CHECK_EQ_STR(out, "$apr1$PlLBqpSq$UjqndTPAicz8OrJ.bgLB00");
	CHECK(proxy_auth_md5crypt(SLICE_LIT("$5$"), SLICE_LIT("x"), SLICE_LIT("x"), out,
				  sizeof out) == -ERR_INVAL);
}

static void bad_lines(void)
{
	static const char *const basic_bad[] = {
		"nocolon",
		":$apr1$PlLBqpSq$UjqndTPAicz8OrJ.bgLB00",
		"a:b:c",
		"u:plaintext",
		"u:$apr1$x$y",                              /* hash too short */
		"u:$apr1$PlLBqpSqX$UjqndTPAicz8OrJ.bgLB00", /* salt over 8 */
		"u:$apr1$PlLBqpSq$UjqndTPAicz8OrJ.bgLB0!",
		"u:$5$saltsalt$abc",
		"u:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0",                             /* no padding */
		"u:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=x",                           /* too long */
		"u:$2y$03$gxceeQUJiv.Kw0Y.gDmoc.JMoy3233xQdMbFiGTzAqPgmnwUXuuqW", /* cost 3 */
		"u:$2y$18$gxceeQUJiv.Kw0Y.gDmoc.JMoy3233xQdMbFiGTzAqPgmnwUXuuqW", /* cost 18 */
		"u:$2x$04$gxceeQUJiv.Kw0Y.gDmoc.JMoy3233xQdMbFiGTzAqPgmnwUXuuqW",
		"u:$2y$04$gxceeQUJiv.Kw0Y.gDmoc.JMoy3233xQdMbFiGTzAqPgmnwUXuuq",  /* short */
		"u:$2y$04$gxceeQUJiv.Kw0Y.gDmoc.JMoy3233xQdMbFiGTzAqPgmnwUXuu+W", /* '+' */
	};
	for (size_t i = 0; i < sizeof basic_bad / sizeof basic_bad[0]; i++)
		if (!proxy_auth_basic_line_error(slice_from_cstr(basic_bad[i])))
			TEST_FAIL_("basic line %s accepted", basic_bad[i]);
	CHECK(!proxy_auth_digest_line_error(
		SLICE_LIT("dora:traefik:0bf25fb6d80091616f92df7cd3a24bf4")));
	CHECK(!proxy_auth_digest_line_error(
		SLICE_LIT("dora:elsewhere:0BF25FB6D80091616F92DF7CD3A24BF4")));
	static const char *const digest_bad[] = {
		"dora:0bf25fb6d80091616f92df7cd3a24bf4",
		"dora:traefik:0bf25fb6d80091616f92df7cd3a24bf",
		"dora:traefik:0bf25fb6d80091616f92df7cd3a24bfg",
		"dora:traefik:x:0bf25fb6d80091616f92df7cd3a24bf4",
		":traefik:0bf25fb6d80091616f92df7cd3a24bf4",
	};
	for (size_t i = 0; i < sizeof digest_bad / sizeof digest_bad[0]; i++)
		if (!proxy_auth_digest_line_error(slice_from_cstr(digest_bad[i])))
			TEST_FAIL_("digest line %s accepted", digest_bad[i]);
}

/* ---- request checks --------------------------------------------------------------------- */

static struct proxy_auth_state st;

static void state_init(void)
{
	uint8_t key[32];
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(i * 7 + 1);
	proxy_auth_state_init(&st, key);
}

static const struct slice basic_users[] = {
	{"alice:$apr1$PlLBqpSq$UjqndTPAicz8OrJ.bgLB00", 43},
	{"carol:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=", 39},
	{"dave:$2y$04$gxceeQUJiv.Kw0Y.gDmoc.JMoy3233xQdMbFiGTzAqPgmnwUXuuqW", 65},
	{"carol:$apr1$PlLBqpSq$UjqndTPAicz8OrJ.bgLB00", 43}, /* overrides carol above */
};

static enum proxy_auth_verdict basic(const char *authz, struct slice *user)
{
	struct proxy_auth au;
	memset(&au, 0, sizeof au);
	au.enabled = true;
	au.basic = basic_users;
	au.nbasic = sizeof basic_users / sizeof basic_users[0];
	struct proxy_auth_req r = {slice_from_cstr(authz), SLICE_LIT("GET"), SLICE_LIT("/"), 1000};
	return proxy_auth_check(&st, &au, &r, user);
}

static void basic_requests(void)
{
	state_init();
	CHECK_EQ_INT(strlen(basic_users[0].p), basic_users[0].len);
	CHECK_EQ_INT(strlen(basic_users[1].p), basic_users[1].len);
	CHECK_EQ_INT(strlen(basic_users[2].p), basic_users[2].len);
	CHECK_EQ_INT(strlen(basic_users[3].p), basic_users[3].len);
	struct slice u;
	/* alice:secret1 */
	CHECK(basic("Basic YWxpY2U6c2VjcmV0MQ==", &u) == PROXY_AUTH_OK);
	CHECK_EQ_MEM(u.p, u.len, "alice");
	CHECK(basic("basic   YWxpY2U6c2VjcmV0MQ==  ", &u) == PROXY_AUTH_OK); /* scheme any case */
	/* dave:correct horse (bcrypt) */
	CHECK(basic("Basic ZGF2ZTpjb3JyZWN0IGhvcnNl", &u) == PROXY_AUTH_OK);
	CHECK_EQ_MEM(u.p, u.len, "dave");
	/* carol:secret1 — the later line wins over carol:{SHA}(hunter2) */
	CHECK(basic("Basic Y2Fyb2w6c2VjcmV0MQ==", &u) == PROXY_AUTH_OK);
	CHECK(basic("Basic Y2Fyb2w6aHVudGVyMg==", &u) == PROXY_AUTH_DENIED); /* carol:hunter2 */
	/* alice:secret2, wrong password */
	CHECK(basic("Basic YWxpY2U6c2VjcmV0Mg==", &u) == PROXY_AUTH_DENIED);
	CHECK(u.len == 0);
	/* unknown user mallory:secret1 */
	CHECK(basic("Basic bWFsbG9yeTpzZWNyZXQx", &u) == PROXY_AUTH_DENIED);
	/* malformed: bad base64, no padding, missing colon ("alice"), other schemes, empty */
	CHECK(basic("Basic YWxpY2U6c2VjcmV0MQ=!", &u) == PROXY_AUTH_DENIED);
	CHECK(basic("Basic YWxpY2U6c2VjcmV0MQ", &u) == PROXY_AUTH_DENIED);
	CHECK(basic("Basic YWxp=2U6c2VjcmV0MQ==", &u) == PROXY_AUTH_DENIED);
	CHECK(basic("Basic YWxpY2U=", &u) == PROXY_AUTH_DENIED);
	CHECK(basic("Bearer YWxpY2U6c2VjcmV0MQ==", &u) == PROXY_AUTH_DENIED);
	CHECK(basic("BasicYWxpY2U6c2VjcmV0MQ==", &u) == PROXY_AUTH_DENIED);
	CHECK(basic("Basic", &u) == PROXY_AUTH_DENIED);
	CHECK(basic("", &u) == PROXY_AUTH_DENIED);
	/* oversize: a valid prefix padded past PROXY_AUTH_HEADER_MAX */
	static char big[PROXY_AUTH_HEADER_MAX + 64];
	strcpy(big, "Basic YWxpY2U6c2VjcmV0MQ==");
	memset(big + strlen(big), ' ', 8);
	memset(big + 6, 'A', PROXY_AUTH_HEADER_MAX);
	big[PROXY_AUTH_HEADER_MAX + 6] = 0;
	CHECK(basic(big, &u) == PROXY_AUTH_DENIED);
	/* digest credentials against a basic-only auth */
	CHECK(basic("Digest username=\"alice\"", &u) == PROXY_AUTH_DENIED);
	char ch[PROXY_AUTH_CHALLENGE_MAX];
	struct proxy_auth au;
	memset(&au, 0, sizeof au);
	au.nbasic = 1;
	au.basic = basic_users;
	size_t n = proxy_auth_challenge(&st, &au, 0, false, ch, sizeof ch);
	CHECK_EQ_MEM(ch, n, "Basic realm=\"traefik\"");
	CHECK(proxy_auth_challenge(&st, &au, 0, false, ch, 10) == 0);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cache_spares_bcrypt(void)
{
	state_init();
	static const char line[] =
		"hank:$2y$10$g2kUMkplxbn3cM5mz5ocs.r/d0RufNHJvlIKz2jeAJLBc1DQBqzJy";
	struct slice h = hash_of(line);
	double t0 = now_s();
	CHECK(proxy_auth_password_ok(&st, h, SLICE_LIT("cost10pw")));
	double t1 = now_s();
	CHECK(proxy_auth_password_ok(&st, h, SLICE_LIT("cost10pw")));
	double t2 = now_s();
	CHECK_EQ_INT(st.cache_misses, 1);
	CHECK_EQ_INT(st.cache_hits, 1);
	fprintf(stderr, "  bcrypt cost 10: %.1f ms computed, %.3f ms from the cache\n",
		(t1 - t0) * 1e3, (t2 - t1) * 1e3);
	CHECK(t2 - t1 < (t1 - t0) / 10);
	/* Failures are never cached: each one pays the hash. */
	CHECK(!proxy_auth_password_ok(&st, h, SLICE_LIT("cost10pX")));
	CHECK(!proxy_auth_password_ok(&st, h, SLICE_LIT("cost10pX")));
	CHECK_EQ_INT(st.cache_misses, 3);
	CHECK_EQ_INT(st.cache_hits, 1);
	/* The same password under another hash line is a different entry. */
	CHECK(!proxy_auth_password_ok(&st, hash_of(vecs[6].line), SLICE_LIT("cost10pw")));
	CHECK_EQ_INT(st.cache_hits, 1);
	/* Bounded: far more distinct successes than entries, the newest stay. */
	char hv[64];
	for (int i = 0; i < PROXY_AUTH_CACHE_SETS * PROXY_AUTH_CACHE_WAYS * 2; i++) {
		char pw[16];
		snprintf(pw, sizeof pw, "pw%d", i);
		int n = proxy_auth_md5crypt(SLICE_LIT("$1$"), SLICE_LIT("s"), slice_from_cstr(pw),
					    hv, sizeof hv);
		REQUIRE(n > 0);
		if (!proxy_auth_password_ok(&st, (struct slice){hv, (size_t)n},
					    slice_from_cstr(pw)))
			TEST_FAIL_("md5crypt %s", pw);
	}
	uint64_t hits = st.cache_hits;
	CHECK(proxy_auth_password_ok(&st, (struct slice){hv, strlen(hv)}, SLICE_LIT("pw511")));
	CHECK_EQ_INT(st.cache_hits, hits + 1);
}

/* ---- digest ----------------------------------------------------------------------------- */

static const struct slice digest_users[] = {
	{"dora:traefik:0bf25fb6d80091616f92df7cd3a24bf4", 45},
	/* dora's password in another realm: never matches (only realm traefik does) */
	{"olga:elsewhere:5f4dcc3b5aa765d61d8327deb882cf99", 47},
};

static void md5hex(const char *s, char out[33])
{
	br_md5_context c;
	uint8_t d[16];
	br_md5_init(&c);
	br_md5_update(&c, s, strlen(s));
	br_md5_out(&c, d);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void param(const char *ch, const char *name, char *out, size_t cap)
{
	char pat[32];
	snprintf(pat, sizeof pat, "%s=\"", name);
	const char *p = strstr(ch, pat);
	out[0] = 0;
	if (!p)
		return;
	p += strlen(pat);
	const char *q = strchr(p, '"');
	snprintf(out, cap, "%.*s", (int)(q - p), p);
}

/* An Authorization value as a browser would build it from a challenge. */
static void digest_authz(char *out, size_t cap, const char *user, const char *ha1,
			 const char *method, const char *uri, const char *nonce, const char *opaque,
			 const char *extra)
{
	char ha2[33], kd[33], buf[512];
	snprintf(buf, sizeof buf, "%s:%s", method, uri);
	md5hex(buf, ha2);
	snprintf(buf, sizeof buf, "%s:%s:00000001:0a4f113b:auth:%s", ha1, nonce, ha2);
	md5hex(buf, kd);
	snprintf(out, cap,
		 "Digest username=\"%s\", realm=\"traefik\", nonce=\"%s\", uri=\"%s\", "
		 "response=\"%s\", opaque=\"%s\", qop=auth, nc=00000001, cnonce=\"0a4f113b\"%s",
		 user, nonce, uri, kd, opaque, extra);
}

static const char HA1[] = "0bf25fb6d80091616f92df7cd3a24bf4";

static enum proxy_auth_verdict digest(const char *authz, const char *method, const char *target,
				      uint64_t now, struct slice *user)
{
	struct proxy_auth au;
	memset(&au, 0, sizeof au);
	au.enabled = true;
	au.digest = digest_users;
	au.ndigest = 2;
	struct proxy_auth_req r = {slice_from_cstr(authz), slice_from_cstr(method),
				   slice_from_cstr(target), now};
	return proxy_auth_check(&st, &au, &r, user);
}

static void digest_requests(void)
{
	state_init();
	CHECK_EQ_INT(strlen(digest_users[0].p), digest_users[0].len);
	CHECK_EQ_INT(strlen(digest_users[1].p), digest_users[1].len);
	struct proxy_auth au;
	memset(&au, 0, sizeof au);
	au.digest = digest_users;
	au.ndigest = 2;
	char ch[PROXY_AUTH_CHALLENGE_MAX], nonce[64], opaque[64], a[1024];
	uint64_t t0 = 5000000;
	size_t n = proxy_auth_challenge(&st, &au, t0, false, ch, sizeof ch);
	REQUIRE(n > 0);
	CHECK(strncmp(ch, "Digest realm=\"traefik\", nonce=\"", 31) == 0);
	CHECK(strstr(ch, "algorithm=\"MD5\", qop=\"auth\"") != NULL);
	CHECK(strstr(ch, "stale") == NULL);
	param(ch, "nonce", nonce, sizeof nonce);
	param(ch, "opaque", opaque, sizeof opaque);
	CHECK_EQ_INT(strlen(nonce), PROXY_AUTH_NONCE_LEN);
	CHECK_EQ_INT(strlen(opaque), 32);
	struct slice u;

	digest_authz(a, sizeof a, "dora", HA1, "GET", "/x?y=1", nonce, opaque, "");
	CHECK(digest(a, "GET", "/x?y=1", t0 + 10, &u) == PROXY_AUTH_OK);
	CHECK_EQ_MEM(u.p, u.len, "dora");
	/* The nonce stays good for PROXY_AUTH_NONCE_TTL_MS, then is stale. */
	CHECK(digest(a, "GET", "/x?y=1", t0 + PROXY_AUTH_NONCE_TTL_MS, &u) == PROXY_AUTH_OK);
	CHECK(digest(a, "GET", "/x?y=1", t0 + PROXY_AUTH_NONCE_TTL_MS + 1, &u) == PROXY_AUTH_STALE);
	CHECK(u.len == 0);
	n = proxy_auth_challenge(&st, &au, t0, true, ch, sizeof ch);
	CHECK(n > 10 && strcmp(ch + n - 12, ", stale=true") == 0);
	/* A nonce from the future (another key's clock) is not ours. */
	CHECK(digest(a, "GET", "/x?y=1", t0 - 6000, &u) == PROXY_AUTH_DENIED);
	/* Wrong method, other uri, a path the uri is not a prefix of. */
	CHECK(digest(a, "POST", "/x?y=1", t0 + 10, &u) == PROXY_AUTH_DENIED);
	CHECK(digest(a, "GET", "/z", t0 + 10, &u) == PROXY_AUTH_DENIED);
	/* go-http-auth's leniency: the uri's path may be a prefix of the request path. */
	digest_authz(a, sizeof a, "dora", HA1, "GET", "/x", nonce, opaque, "");
	CHECK(digest(a, "GET", "/x/deeper?q", t0 + 10, &u) == PROXY_AUTH_OK);
	/* Wrong password. */
	char bad[33];
	md5hex("dora:traefik:wrong", bad);
	digest_authz(a, sizeof a, "dora", bad, "GET", "/", nonce, opaque, "");
	CHECK(digest(a, "GET", "/", t0 + 10, &u) == PROXY_AUTH_DENIED);
	/* Tampered nonce (time changed, or MAC changed): denied even with a right response. */
	char tn[64];
	snprintf(tn, sizeof tn, "%s", nonce);
	tn[15] = tn[15] == '0' ? '1' : '0';
	digest_authz(a, sizeof a, "dora", HA1, "GET", "/", tn, opaque, "");
	CHECK(digest(a, "GET", "/", t0 + 10, &u) == PROXY_AUTH_DENIED);
	snprintf(tn, sizeof tn, "%s", nonce);
	tn[40] = tn[40] == 'a' ? 'b' : 'a';
	digest_authz(a, sizeof a, "dora", HA1, "GET", "/", tn, opaque, "");
	CHECK(digest(a, "GET", "/", t0 + 10, &u) == PROXY_AUTH_DENIED);
	/* A nonce made with another key. */
	struct proxy_auth_state other;
	uint8_t k2[32] = {9};
	proxy_auth_state_init(&other, k2);
	proxy_auth_nonce(&other, t0, tn);
	digest_authz(a, sizeof a, "dora", HA1, "GET", "/", tn, opaque, "");
	CHECK(digest(a, "GET", "/", t0 + 10, &u) == PROXY_AUTH_DENIED);
	CHECK(proxy_auth_nonce_check(&other, slice_from_cstr(tn), t0) == 0);
	CHECK(proxy_auth_nonce_check(&st, slice_from_cstr(tn), t0) == -1);
	/* Wrong opaque; qop other than auth; algorithm other than MD5; MD5 explicit. */
	digest_authz(a, sizeof a, "dora", HA1, "GET", "/", nonce, "00", "");
	CHECK(digest(a, "GET", "/", t0 + 10, &u) == PROXY_AUTH_DENIED);
	digest_authz(a, sizeof a, "dora", HA1, "GET", "/", nonce, opaque, ", algorithm=SHA-256");
	CHECK(digest(a, "GET", "/", t0 + 10, &u) == PROXY_AUTH_DENIED);
	digest_authz(a, sizeof a, "dora", HA1, "GET", "/", nonce, opaque, ", algorithm=MD5");
	CHECK(digest(a, "GET", "/", t0 + 10, &u) == PROXY_AUTH_OK);
	/* The same parameter twice. */
	digest_authz(a, sizeof a, "dora", HA1, "GET", "/", nonce, opaque, ", nc=00000002");
	CHECK(digest(a, "GET", "/", t0 + 10, &u) == PROXY_AUTH_DENIED);
	/* A user whose line has another realm never matches. */
	char olga[33];
	md5hex("olga:elsewhere:password", olga);
	digest_authz(a, sizeof a, "olga", olga, "GET", "/", nonce, opaque, "");
	CHECK(digest(a, "GET", "/", t0 + 10, &u) == PROXY_AUTH_DENIED);
	/* Malformed headers. */
	static const char *const junk[] = {
		"Digest",
		"Digest username",
		"Digest username=\"dora",
		"Digest username=\"dora\" nonce=\"x\"",
		"Digest =x",
		"Basic ZG9yYTpkaWdlc3Rwdw==",
		"Digest username=\"dora\", uri=\"/\"",
	};
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
		if (digest(junk[i], "GET", "/", t0 + 10, &u) != PROXY_AUTH_DENIED)
			TEST_FAIL_("accepted %s", junk[i]);
	/* Escapes inside quoted values are undone ("d\ora" is "dora"). */
	digest_authz(a, sizeof a, "d\\ora", HA1, "GET", "/", nonce, opaque, "");
	CHECK(digest(a, "GET", "/", t0 + 10, &u) == PROXY_AUTH_OK);
}

/* Every prefix of a good header, from an exact-size heap copy (ASan sees any read past its
 * end), is refused unless it is itself a complete good header. */
static void header_prefixes(void)
{
	state_init();
	struct proxy_auth ab, ad;
	memset(&ab, 0, sizeof ab);
	memset(&ad, 0, sizeof ad);
	ab.enabled = ad.enabled = true;
	ab.basic = basic_users;
	ab.nbasic = 1;
	ad.digest = digest_users;
	ad.ndigest = 1;
	char ch[PROXY_AUTH_CHALLENGE_MAX], nonce[64], opaque[64], a[1024];
	REQUIRE(proxy_auth_challenge(&st, &ad, 1000, false, ch, sizeof ch) > 0);
	param(ch, "nonce", nonce, sizeof nonce);
	param(ch, "opaque", opaque, sizeof opaque);
	digest_authz(a, sizeof a, "dora", HA1, "GET", "/", nonce, opaque, "");
	size_t base = strlen(a); /* complete without the algorithm, and with ", " after it */
	digest_authz(a, sizeof a, "dora", HA1, "GET", "/", nonce, opaque, ", algorithm=\"MD5\"");
	const struct {
		const char *h;
		const struct proxy_auth *au;
	} cases[] = {{"Basic YWxpY2U6c2VjcmV0MQ==", &ab}, {a, &ad}};
	int oks = 0;
	for (size_t k = 0; k < 2; k++) {
		size_t len = strlen(cases[k].h);
		for (size_t n = 0; n <= len; n++) {
			char *p = malloc(n ? n : 1);
			memcpy(p, cases[k].h, n);
			struct proxy_auth_req r = {{p, n}, SLICE_LIT("GET"), SLICE_LIT("/"), 1010};
			struct slice u;
			enum proxy_auth_verdict v = proxy_auth_check(&st, cases[k].au, &r, &u);
			bool want = n == len || (k == 1 && n >= base && n <= base + 2);
			if ((v == PROXY_AUTH_OK) != want)
				TEST_FAIL_("case %zu prefix %zu: verdict %d", k, n, (int)v);
			oks += v == PROXY_AUTH_OK;
			free(p);
		}
	}
	CHECK_EQ_INT(oks, 5);
}

/* ---- load-time validation ---------------------------------------------------------------- */

static int load_doc(const char *auth, struct proxy_cfg_err *err, const struct proxy_table **t)
{
	static char doc[4096];
	snprintf(doc, sizeof doc,
		 "{\"version\":1,\"revision\":1,\"entryPoints\":{\"http\":{\"address\":\":80\"}},"
		 "\"frontends\":{\"web\":{\"backend\":\"b\",\"routes\":{\"r\":{\"rule\":"
		 "\"PathPrefix:/\"}},\"auth\":%s}},"
		 "\"backends\":{\"b\":{\"servers\":{\"s\":{\"url\":\"http://127.0.0.1:1\"}}}}}",
		 auth);
	struct proxy_limits lim;
	proxy_limits_default(&lim);
	lim.max_tokens = 256;
	static json_tok toks[256];
	static unsigned char mem[1 << 20];
	static struct arena a;
	arena_init(&a, mem, sizeof mem);
	return proxy_table_load(doc, strlen(doc), &lim, &a, toks, 256, t, err);
}

static void config_validation(void)
{
	struct proxy_cfg_err err;
	const struct proxy_table *t;
	memset(&err, 0, sizeof err);
	CHECK(load_doc("{\"basic\":{\"users\":[\"alice:$apr1$PlLBqpSq$UjqndTPAicz8OrJ.bgLB00\","
		       "\"carol:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=\"],\"removeHeader\":true},"
		       "\"headerField\":\"X-WebAuth-User\"}",
		       &err, &t) == 0);
	CHECK(t && t->fe[0].auth.enabled && t->fe[0].auth.nbasic == 2);
	CHECK(load_doc("{\"digest\":{\"users\":[\"dora:traefik:0bf25fb6d80091616f92df7cd3a24bf4\"]}"
		       "}",
		       &err, &t) == 0);
	CHECK(load_doc("{\"basic\":{\"users\":[\"alice:$apr1$PlLBqpSq$UjqndTPAicz8OrJ.bgLB00\","
		       "\"bob:$apr1$x$y\"]}}",
		       &err, &t) == -ERR_PROXY_CONFIG);
	CHECK(strncmp(err.msg, "frontends.web.auth.basic.users[1]: unsupported or malformed hash",
		      64) == 0);
	CHECK(load_doc("{\"basic\":{\"users\":[\"alice\"]}}", &err, &t) == -ERR_PROXY_CONFIG);
	CHECK_EQ_STR(err.msg, "frontends.web.auth.basic.users[0]: expected \"user:hash\"");
	CHECK(load_doc("{\"digest\":{\"users\":[\"dora:traefik:nothex\"]}}", &err, &t) ==
	      -ERR_PROXY_CONFIG);
	CHECK_EQ_STR(err.msg,
		     "frontends.web.auth.digest.users[0]: expected an htdigest hash of 32 hex "
		     "digits");
	/* usersFile: data nodes read no files named by the control plane. */
	CHECK(load_doc("{\"basic\":{\"usersFile\":\"/etc/htpasswd\"}}", &err, &t) ==
	      -ERR_PROXY_CONFIG);
	CHECK(strstr(err.msg, "auth.basic.usersFile") != NULL);
}

TEST_MAIN(blowfish_pi, hashes_match, hashes_wrong_password, bcrypt_and_md5crypt_outputs, bad_lines,
	  basic_requests, cache_spares_bcrypt, digest_requests, header_prefixes, config_validation)
