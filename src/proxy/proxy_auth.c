/* proxy_auth.c — basic and digest authentication (proxy_auth.h, docs/internals/proxy-auth.md).
 *
 * Basic: RFC 7617 credentials checked against htpasswd hashes: Apache MD5 ($apr1$) and
 * MD5-crypt ($1$) — both Poul-Henning Kamp's MD5-crypt, differing only in the magic string —
 * SHA-1 ({SHA}, base64 of the digest) and bcrypt ($2a$/$2b$/$2y$: the Provos–Mazières
 * "eksblowfish" key schedule, Blowfish written here from Schneier's description with the pi
 * table of proxy_auth_pi.h).
 * Digest: RFC 2617 §3.2 with qop=auth and MD5 only, the way go-http-auth (Traefik v1) checks
 * it, except that nonces are stateless: hex(issue time) + hex(HMAC-SHA256(key, time)).
 */
#include "proxy/proxy_auth.h"

#include <bearssl.h>
#include <stdio.h>
#include <string.h>

#include "base/base_b64.h"
#include "base/base_err.h"
#include "proxy/proxy_auth_pi.h"

/* ---- small helpers -------------------------------------------------------------------- */

static bool ct_eq(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (uint8_t)(x[i] ^ y[i]);
	return d == 0;
}

static const char hexdig[] = "0123456789abcdef";

static void hex_out(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[p[i] >> 4];
		out[2 * i + 1] = hexdig[p[i] & 15];
	}
}

static int hex_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool all_hex(struct slice s)
{
	for (size_t i = 0; i < s.len; i++)
		if (hex_val((unsigned char)s.p[i]) < 0)
			return false;
	return true;
}

static struct slice nz(struct slice s)
{
	return s.p ? s : (struct slice){"", 0};
}

/* ---- MD5-crypt ($1$, $apr1$) ---------------------------------------------------------- */

static const char itoa64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static bool in_itoa64(struct slice s)
{
	for (size_t i = 0; i < s.len; i++)
		if (!memchr(itoa64, s.p[i], sizeof itoa64 - 1))
			return false;
	return true;
}

static char *to64(char *p, uint32_t v, int n)
{
	while (n-- > 0) {
		*p++ = itoa64[v & 0x3f];
		v >>= 6;
	}
	return p;
}

int proxy_auth_md5crypt(struct slice magic, struct slice salt, struct slice pw, char *out,
			size_t cap)
{
	if (cap < 40 || (!slice_eq_cstr(magic, "$1$") && !slice_eq_cstr(magic, "$apr1$")))
		return -ERR_INVAL;
	pw = nz(pw);
	salt = nz(salt);
	const char *d = memchr(salt.p, '$', salt.len);
	if (d)
		salt.len = (size_t)(d - salt.p);
	if (salt.len > 8)
		salt.len = 8;
	uint8_t fin[16];
	br_md5_context ctx, alt;
	br_md5_init(&alt);
	br_md5_update(&alt, pw.p, pw.len);
	br_md5_update(&alt, salt.p, salt.len);
	br_md5_update(&alt, pw.p, pw.len);
	br_md5_out(&alt, fin);
	br_md5_init(&ctx);
	br_md5_update(&ctx, pw.p, pw.len);
	br_md5_update(&ctx, magic.p, magic.len);
	br_md5_update(&ctx, salt.p, salt.len);
	for (size_t left = pw.len; left > 0; left -= left > 16 ? 16 : left)
		br_md5_update(&ctx, fin, left > 16 ? 16 : left);
	memset(fin, 0, sizeof fin);
	for (size_t i = pw.len; i; i >>= 1)
		br_md5_update(&ctx, (i & 1) ? (const void *)fin : (const void *)pw.p, 1);
	br_md5_out(&ctx, fin);
	/* 1000 rounds "to slow things down" (PHK). */
	for (int i = 0; i < 1000; i++) {
		br_md5_init(&ctx);
		if (i & 1)
			br_md5_update(&ctx, pw.p, pw.len);
		else
			br_md5_update(&ctx, fin, 16);
		if (i % 3)
			br_md5_update(&ctx, salt.p, salt.len);
		if (i % 7)
			br_md5_update(&ctx, pw.p, pw.len);
		if (i & 1)
			br_md5_update(&ctx, fin, 16);
		else
			br_md5_update(&ctx, pw.p, pw.len);
		br_md5_out(&ctx, fin);
	}
	char *p = out;
	memcpy(p, magic.p, magic.len);
	p += magic.len;
	memcpy(p, salt.p, salt.len);
	p += salt.len;
	*p++ = '$';
	p = to64(p, (uint32_t)fin[0] << 16 | (uint32_t)fin[6] << 8 | fin[12], 4);
	p = to64(p, (uint32_t)fin[1] << 16 | (uint32_t)fin[7] << 8 | fin[13], 4);
	p = to64(p, (uint32_t)fin[2] << 16 | (uint32_t)fin[8] << 8 | fin[14], 4);
	p = to64(p, (uint32_t)fin[3] << 16 | (uint32_t)fin[9] << 8 | fin[15], 4);
	p = to64(p, (uint32_t)fin[4] << 16 | (uint32_t)fin[10] << 8 | fin[5], 4);
	p = to64(p, fin[11], 2);
	*p = 0;
	return (int)(p - out);
}

/* "$1$salt$hash" / "$apr1$salt$hash": magic, salt and the 22-character hash. */
static bool md5_split(struct slice h, struct slice *magic, struct slice *salt)
{
	size_t ml = slice_starts_with(h, SLICE_LIT("$apr1$")) ? 6
		    : slice_starts_with(h, SLICE_LIT("$1$"))  ? 3
							      : 0;
	if (!ml)
		return false;
	*magic = (struct slice){h.p, ml};
	struct slice rest = {h.p + ml, h.len - ml};
	const char *d = memchr(rest.p, '$', rest.len);
	if (!d)
		return false;
	*salt = (struct slice){rest.p, (size_t)(d - rest.p)};
	struct slice hash = {d + 1, (size_t)(rest.p + rest.len - d - 1)};
	return salt->len <= 8 && in_itoa64(*salt) && hash.len == 22 && in_itoa64(hash);
}

/* ---- Blowfish and bcrypt -------------------------------------------------------------- */

struct bf {
	uint32_t p[18];
	uint32_t s[4][256];
};

uint32_t proxy_auth_bf_p0(void)
{
	return proxy_bf_pi_p[0];
}

static inline uint32_t bf_f(const struct bf *c, uint32_t x)
{
	return ((c->s[0][x >> 24] + c->s[1][(x >> 16) & 0xff]) ^ c->s[2][(x >> 8) & 0xff]) +
	       c->s[3][x & 0xff];
}

/* One 64-bit block, 16 Feistel rounds (Schneier 1993). */
static void bf_encrypt(const struct bf *c, uint32_t *xl, uint32_t *xr)
{
	uint32_t l = *xl, r = *xr;
	for (int i = 0; i < 16; i += 2) {
		l ^= c->p[i];
		r ^= bf_f(c, l);
		r ^= c->p[i + 1];
		l ^= bf_f(c, r);
	}
	l ^= c->p[16];
	r ^= c->p[17];
	*xl = r;
	*xr = l;
}

/* Next big-endian word of a cyclic byte stream. */
static uint32_t stream_word(const uint8_t *d, size_t len, size_t *j)
{
	uint32_t w = 0;
	for (int i = 0; i < 4; i++) {
		w = w << 8 | d[*j];
		*j = *j + 1 == len ? 0 : *j + 1;
	}
	return w;
}

/* ExpandKey(state, salt, key) of the bcrypt paper; salt NULL: the plain Blowfish schedule
 * (ExpandKey(state, 0, key)). */
static void bf_expand(struct bf *c, const uint8_t *salt, size_t slen, const uint8_t *key,
		      size_t klen)
{
	size_t j = 0;
	for (int i = 0; i < 18; i++)
		c->p[i] ^= stream_word(key, klen, &j);
	uint32_t l = 0, r = 0;
	j = 0;
	for (int i = 0; i < 18; i += 2) {
		if (salt) {
			l ^= stream_word(salt, slen, &j);
			r ^= stream_word(salt, slen, &j);
		}
		bf_encrypt(c, &l, &r);
		c->p[i] = l;
		c->p[i + 1] = r;
	}
	for (int b = 0; b < 4; b++)
		for (int i = 0; i < 256; i += 2) {
			if (salt) {
				l ^= stream_word(salt, slen, &j);
				r ^= stream_word(salt, slen, &j);
			}
			bf_encrypt(c, &l, &r);
			c->s[b][i] = l;
			c->s[b][i + 1] = r;
		}
}

static const char bcrypt64[] = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static int bcrypt64_val(unsigned char c)
{
	const char *p = c ? memchr(bcrypt64, c, sizeof bcrypt64 - 1) : NULL;
	return p ? (int)(p - bcrypt64) : -1;
}

/* bcrypt's base64 (its own alphabet, no padding): n bytes into out. */
static size_t bcrypt64_encode(const uint8_t *p, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t w = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			w |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			w |= p[i + 2];
		out[o++] = bcrypt64[w >> 18];
		out[o++] = bcrypt64[(w >> 12) & 63];
		if (i + 1 < n)
			out[o++] = bcrypt64[(w >> 6) & 63];
		if (i + 2 < n)
			out[o++] = bcrypt64[w & 63];
	}
	return o;
}

/* The 16-byte salt from its 22 characters (the last one's low 4 bits unused). */
static bool bcrypt64_salt(const char *in, uint8_t out[16])
{
	uint8_t v[24] = {0};
	for (int i = 0; i < 22; i++) {
		int x = bcrypt64_val((unsigned char)in[i]);
		if (x < 0)
			return false;
		v[i] = (uint8_t)x;
	}
	for (int g = 0, o = 0; o < 16; g += 4) {
		uint32_t w = (uint32_t)v[g] << 18 | (uint32_t)v[g + 1] << 12 |
			     (uint32_t)v[g + 2] << 6 | v[g + 3];
		out[o++] = (uint8_t)(w >> 16);
		if (o < 16)
			out[o++] = (uint8_t)(w >> 8);
		if (o < 16)
			out[o++] = (uint8_t)w;
	}
	return true;
}

/* "$2a$NN$" / "$2b$" / "$2y$" with NN in 04..PROXY_AUTH_BCRYPT_MAX_COST: the cost, or -1. */
static int bcrypt_cost(struct slice h)
{
	if (h.len < 29 || h.p[0] != '$' || h.p[1] != '2' ||
	    (h.p[2] != 'a' && h.p[2] != 'b' && h.p[2] != 'y') || h.p[3] != '$' || h.p[6] != '$' ||
	    h.p[4] < '0' || h.p[4] > '9' || h.p[5] < '0' || h.p[5] > '9')
		return -1;
	int cost = (h.p[4] - '0') * 10 + (h.p[5] - '0');
	return cost >= 4 && cost <= PROXY_AUTH_BCRYPT_MAX_COST ? cost : -1;
}

int proxy_auth_bcrypt(struct slice setting, struct slice pw, char out[61])
{
	int cost = bcrypt_cost(setting);
	uint8_t salt[16];
	if (cost < 0 || !bcrypt64_salt(setting.p + 7, salt))
		return -ERR_INVAL;
	/* The key is the password and its NUL, at most 72 bytes (longer ones are cut). */
	uint8_t key[72];
	pw = nz(pw);
	size_t klen = pw.len < 72 ? pw.len : 72;
	memcpy(key, pw.p, klen);
	if (klen < 72)
		key[klen++] = 0;
	struct bf c;
	memcpy(c.p, proxy_bf_pi_p, sizeof c.p);
	memcpy(c.s, proxy_bf_pi_s, sizeof c.s);
	bf_expand(&c, salt, sizeof salt, key, klen);
	for (uint32_t i = 0, n = 1u << cost; i < n; i++) {
		bf_expand(&c, NULL, 0, key, klen);
		bf_expand(&c, NULL, 0, salt, sizeof salt);
	}
	static const char magic[] = "OrpheanBeholderScryDoubt";
	uint32_t cd[6];
	size_t j = 0;
	for (int i = 0; i < 6; i++)
		cd[i] = stream_word((const uint8_t *)magic, 24, &j);
	for (int r = 0; r < 64; r++)
		for (int i = 0; i < 6; i += 2)
			bf_encrypt(&c, &cd[i], &cd[i + 1]);
	uint8_t raw[24];
	for (int i = 0; i < 6; i++) {
		raw[4 * i] = (uint8_t)(cd[i] >> 24);
		raw[4 * i + 1] = (uint8_t)(cd[i] >> 16);
		raw[4 * i + 2] = (uint8_t)(cd[i] >> 8);
		raw[4 * i + 3] = (uint8_t)cd[i];
	}
	memcpy(out, setting.p, 29); /* prefix, cost and salt as given */
	bcrypt64_encode(raw, 23, out + 29);
	out[60] = 0;
	memset(key, 0, sizeof key);
	memset(&c, 0, sizeof c);
	return 0;
}

/* ---- hash formats --------------------------------------------------------------------- */

enum hash_kind { H_BAD = 0, H_MD5, H_SHA, H_BCRYPT };

static enum hash_kind hash_kind(struct slice h)
{
	struct slice magic, salt;
	if (slice_starts_with(h, SLICE_LIT("{SHA}"))) {
		uint8_t d[24];
		struct slice b = {h.p + 5, h.len - 5};
		return b.len == 28 && base64_decode(b, (char *)d, sizeof d) == 20 ? H_SHA : H_BAD;
	}
	if (slice_starts_with(h, SLICE_LIT("$2"))) {
		if (h.len != 60 || bcrypt_cost(h) < 0)
			return H_BAD;
		for (size_t i = 7; i < 60; i++)
			if (bcrypt64_val((unsigned char)h.p[i]) < 0)
				return H_BAD;
		return H_BCRYPT;
	}
	return md5_split(h, &magic, &salt) ? H_MD5 : H_BAD;
}

static void cache_digest(const struct proxy_auth_state *s, struct slice hash, struct slice pw,
			 uint8_t out[16])
{
	br_hmac_key_context kc;
	br_hmac_context hc;
	br_hmac_key_init(&kc, &br_sha256_vtable, s->key, sizeof s->key);
	br_hmac_init(&hc, &kc, 16);
	br_hmac_update(&hc, hash.p, hash.len);
	br_hmac_update(&hc, "", 1);
	br_hmac_update(&hc, pw.p, pw.len);
	br_hmac_out(&hc, out);
}

static bool cache_find(struct proxy_auth_state *s, const uint8_t d[16])
{
	uint32_t set = d[0] % PROXY_AUTH_CACHE_SETS;
	for (int w = 0; w < PROXY_AUTH_CACHE_WAYS; w++)
		if ((s->cache_used[set] >> w & 1) && ct_eq(s->cache[set][w], d, 16))
			return true;
	return false;
}

static void cache_put(struct proxy_auth_state *s, const uint8_t d[16])
{
	uint32_t set = d[0] % PROXY_AUTH_CACHE_SETS;
	int w = s->cache_next[set] % PROXY_AUTH_CACHE_WAYS;
	s->cache_next[set] = (uint8_t)((w + 1) % PROXY_AUTH_CACHE_WAYS);
	memcpy(s->cache[set][w], d, 16);
	s->cache_used[set] |= (uint8_t)(1u << w);
}

bool proxy_auth_password_ok(struct proxy_auth_state *s, struct slice hash, struct slice pw)
{
	pw = nz(pw);
	enum hash_kind k = hash_kind(hash);
	if (k == H_SHA) {
		uint8_t d[20];
		char b[28];
		br_sha1_context sc;
		br_sha1_init(&sc);
		br_sha1_update(&sc, pw.p, pw.len);
		br_sha1_out(&sc, d);
		base64_encode((struct slice){(const char *)d, sizeof d}, b, sizeof b);
		return ct_eq(b, hash.p + 5, 28);
	}
	if (k != H_MD5 && k != H_BCRYPT)
		return false;
	uint8_t cd[16];
	if (s) {
		cache_digest(s, hash, pw, cd);
		if (cache_find(s, cd)) {
			s->cache_hits++;
			return true;
		}
		s->cache_misses++;
	}
	char out[64];
	bool ok;
	if (k == H_BCRYPT) {
		ok = proxy_auth_bcrypt(hash, pw, out) == 0 && ct_eq(out, hash.p, 60);
	} else {
		struct slice magic, salt;
		md5_split(hash, &magic, &salt);
		int n = proxy_auth_md5crypt(magic, salt, pw, out, sizeof out);
		ok = n > 0 && (size_t)n == hash.len && ct_eq(out, hash.p, hash.len);
	}
	if (ok && s)
		cache_put(s, cd);
	return ok;
}

/* ---- load-time checks ----------------------------------------------------------------- */

static size_t count_colons(struct slice s)
{
	size_t n = 0;
	for (size_t i = 0; i < s.len; i++)
		n += s.p[i] == ':';
	return n;
}

const char *proxy_auth_basic_line_error(struct slice line)
{
	if (count_colons(line) != 1 || line.p[0] == ':')
		return "expected \"user:hash\"";
	struct slice hash;
	slice_cut(line, ':', &hash);
	if (hash_kind(hash) == H_BAD)
		return "unsupported or malformed hash (expected htpasswd $apr1$, $1$, {SHA}, or "
		       "bcrypt $2a$/$2b$/$2y$ with cost 04-17)";
	return NULL;
}

const char *proxy_auth_digest_line_error(struct slice line)
{
	if (count_colons(line) != 2 || line.p[0] == ':')
		return "expected \"user:realm:hash\"";
	struct slice rest, ha1;
	slice_cut(line, ':', &rest);
	slice_cut(rest, ':', &ha1);
	if (ha1.len != 32 || !all_hex(ha1))
		return "expected an htdigest hash of 32 hex digits";
	return NULL;
}

/* ---- state, nonces -------------------------------------------------------------------- */

static void mac16(const struct proxy_auth_state *s, const char *label, const void *p, size_t n,
		  uint8_t out[16])
{
	br_hmac_key_context kc;
	br_hmac_context hc;
	br_hmac_key_init(&kc, &br_sha256_vtable, s->key, sizeof s->key);
	br_hmac_init(&hc, &kc, 16);
	br_hmac_update(&hc, label, strlen(label) + 1);
	br_hmac_update(&hc, p, n);
	br_hmac_out(&hc, out);
}

void proxy_auth_state_init(struct proxy_auth_state *s, const uint8_t key[32])
{
	memset(s, 0, sizeof *s);
	memcpy(s->key, key, sizeof s->key);
	uint8_t o[16];
	mac16(s, "opaque", "", 0, o);
	hex_out(s->opaque, o, sizeof o);
	s->opaque[32] = 0;
}

void proxy_auth_nonce(const struct proxy_auth_state *s, uint64_t now_ms,
		      char out[PROXY_AUTH_NONCE_LEN + 1])
{
	uint8_t t[8], m[16];
	for (int i = 0; i < 8; i++)
		t[i] = (uint8_t)(now_ms >> (56 - 8 * i));
	mac16(s, "nonce", t, sizeof t, m);
	hex_out(out, t, sizeof t);
	hex_out(out + 16, m, sizeof m);
	out[PROXY_AUTH_NONCE_LEN] = 0;
}

int proxy_auth_nonce_check(const struct proxy_auth_state *s, struct slice nonce, uint64_t now_ms)
{
	if (nonce.len != PROXY_AUTH_NONCE_LEN)
		return -1;
	uint64_t t = 0;
	for (int i = 0; i < 16; i++) {
		int v = hex_val((unsigned char)nonce.p[i]);
		if (v < 0)
			return -1;
		t = t << 4 | (uint64_t)v;
	}
	char want[PROXY_AUTH_NONCE_LEN + 1];
	proxy_auth_nonce(s, t, want);
	if (!ct_eq(want, nonce.p, PROXY_AUTH_NONCE_LEN))
		return -1;
	/* Workers sharing a key read the same monotonic clock, up to the loops' caching. */
	if (t > now_ms + 5000)
		return -1;
	return now_ms > t && now_ms - t > PROXY_AUTH_NONCE_TTL_MS ? 1 : 0;
}

size_t proxy_auth_challenge(const struct proxy_auth_state *s, const struct proxy_auth *au,
			    uint64_t now_ms, bool stale, char *out, size_t cap)
{
	if (cap < PROXY_AUTH_CHALLENGE_MAX)
		return 0;
	int n;
	if (!au->nbasic && au->ndigest) {
		char nonce[PROXY_AUTH_NONCE_LEN + 1];
		proxy_auth_nonce(s, now_ms, nonce);
		n = snprintf(out, cap,
			     "Digest realm=\"" PROXY_AUTH_REALM "\", nonce=\"%s\", opaque=\"%s\", "
			     "algorithm=\"MD5\", qop=\"auth\"%s",
			     nonce, s->opaque, stale ? ", stale=true" : "");
	} else {
		n = snprintf(out, cap, "Basic realm=\"" PROXY_AUTH_REALM "\"");
	}
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* ---- request checks ------------------------------------------------------------------- */

static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The scheme token and what follows it (spaces skipped). */
static struct slice auth_scheme(struct slice v, struct slice *rest)
{
	size_t i = 0;
	while (i < v.len && is_tchar((unsigned char)v.p[i]))
		i++;
	struct slice sch = {v.p, i};
	while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
		i++;
	*rest = (struct slice){v.p + i, v.len - i};
	return sch;
}

/* The user line whose name is user (the last one: later lines override earlier ones, as in
 * Traefik's user map) and, for digest lines, whose realm is "traefik". */
static const struct slice *find_user(const struct slice *lines, uint32_t n, struct slice user,
				     bool digest, struct slice *secret)
{
	for (uint32_t i = n; i-- > 0;) {
		struct slice rest, name = slice_cut(lines[i], ':', &rest);
		if (!slice_eq(name, user))
			continue;
		if (digest) {
			struct slice realm = slice_cut(rest, ':', &rest);
			if (!slice_eq_cstr(realm, PROXY_AUTH_REALM))
				continue;
		}
		*secret = rest;
		return &lines[i];
	}
	return NULL;
}

static enum proxy_auth_verdict check_basic(struct proxy_auth_state *s, const struct proxy_auth *au,
					   struct slice creds, struct slice *user)
{
	uint8_t buf[PROXY_AUTH_HEADER_MAX / 4 * 3];
	int n = base64_decode(creds, (char *)buf, sizeof buf);
	if (n < 0)
		return PROXY_AUTH_DENIED;
	struct slice dec = {(const char *)buf, (size_t)n}, pw;
	struct slice name = slice_cut(dec, ':', &pw);
	if (!pw.p)
		return PROXY_AUTH_DENIED; /* no colon */
	struct slice hash;
	const struct slice *line = find_user(au->basic, au->nbasic, name, false, &hash);
	bool ok = line && proxy_auth_password_ok(s, hash, pw);
	memset(buf, 0, (size_t)n);
	if (!ok)
		return PROXY_AUTH_DENIED;
	*user = (struct slice){line->p, name.len};
	return PROXY_AUTH_OK;
}

/* Digest parameters (RFC 7235 auth-params); quoted values with escapes are unescaped into
 * scratch. */
enum { D_USERNAME, D_NONCE, D_URI, D_RESPONSE, D_OPAQUE, D_ALGORITHM, D_QOP, D_NC, D_CNONCE, D_N };
static const char *const dnames[D_N] = {"username",  "nonce", "uri", "response", "opaque",
					"algorithm", "qop",   "nc",  "cnonce"};

static bool digest_params(struct slice v, struct slice *out, char *scratch, size_t cap)
{
	size_t i = 0, used = 0;
	for (;;) {
		while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
			i++;
		if (i == v.len)
			return true;
		size_t k0 = i;
		while (i < v.len && is_tchar((unsigned char)v.p[i]))
			i++;
		struct slice key = {v.p + k0, i - k0};
		while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
			i++;
		if (!key.len || i == v.len || v.p[i] != '=')
			return false;
		i++;
		while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
			i++;
		struct slice val;
		if (i < v.len && v.p[i] == '"') {
			size_t v0 = ++i;
			bool esc = false;
			while (i < v.len && v.p[i] != '"') {
				if (v.p[i] == '\\') {
					esc = true;
					i++;
				}
				i++;
			}
			if (i >= v.len)
				return false; /* unterminated */
			val = (struct slice){v.p + v0, i - v0};
			i++;
			if (esc) {
				char *d = scratch + used;
				size_t o = 0;
				for (size_t q = 0; q < val.len; q++) {
					if (val.p[q] == '\\')
						q++;
					if (used + o >= cap)
						return false;
					d[o++] = val.p[q];
				}
				used += o;
				val = (struct slice){d, o};
			}
		} else {
			size_t v0 = i;
			while (i < v.len && v.p[i] != ',' && v.p[i] != ' ' && v.p[i] != '\t')
				i++;
			val = (struct slice){v.p + v0, i - v0};
		}
		for (int d = 0; d < D_N; d++)
			if (slice_eq_cstr_ci(key, dnames[d])) {
				if (out[d].p)
					return false; /* twice */
				out[d] = val;
			}
		while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
			i++;
		if (i < v.len && v.p[i] != ',')
			return false;
	}
}

static void md5_hex(const struct slice *parts, size_t n, char out[32])
{
	br_md5_context c;
	uint8_t d[16];
	br_md5_init(&c);
	for (size_t i = 0; i < n; i++) {
		if (i)
			br_md5_update(&c, ":", 1);
		br_md5_update(&c, parts[i].p, parts[i].len);
	}
	br_md5_out(&c, d);
	hex_out(out, d, sizeof d);
}

/* The path of a request-target or digest uri: up to '?' or '#'. */
static struct slice target_path(struct slice t)
{
	for (size_t i = 0; i < t.len; i++)
		if (t.p[i] == '?' || t.p[i] == '#')
			return (struct slice){t.p, i};
	return t;
}

static enum proxy_auth_verdict check_digest(struct proxy_auth_state *s, const struct proxy_auth *au,
					    const struct proxy_auth_req *r, struct slice params,
					    struct slice *user)
{
	struct slice f[D_N];
	char scratch[1024];
	memset(f, 0, sizeof f);
	if (!digest_params(params, f, scratch, sizeof scratch))
		return PROXY_AUTH_DENIED;
	for (int d = 0; d < D_N; d++)
		if (!f[d].p && d != D_ALGORITHM)
			return PROXY_AUTH_DENIED;
	/* go-http-auth: algorithm absent means MD5; opaque and qop must be ours. */
	if ((f[D_ALGORITHM].p && !slice_eq_cstr_ci(f[D_ALGORITHM], "MD5")) ||
	    !slice_eq_cstr(f[D_QOP], "auth") || !slice_eq_cstr(f[D_OPAQUE], s->opaque))
		return PROXY_AUTH_DENIED;
	/* The uri is the request-target, or (go-http-auth's leniency) a prefix of its path. */
	struct slice target = nz(r->target);
	if (!slice_eq(f[D_URI], target)) {
		struct slice up = target_path(f[D_URI]), rp = target_path(target);
		if (up.len > rp.len || !slice_starts_with(rp, up))
			return PROXY_AUTH_DENIED;
	}
	struct slice ha1;
	const struct slice *line = find_user(au->digest, au->ndigest, f[D_USERNAME], true, &ha1);
	if (!line || ha1.len != 32)
		return PROXY_AUTH_DENIED;
	char ha1l[32], ha2[32], kd[32];
	for (int i = 0; i < 32; i++)
		ha1l[i] = hexdig[hex_val((unsigned char)ha1.p[i]) & 15];
	struct slice p2[2] = {nz(r->method), f[D_URI]};
	md5_hex(p2, 2, ha2);
	struct slice p6[6] = {{ha1l, 32}, f[D_NONCE], f[D_NC], f[D_CNONCE], f[D_QOP], {ha2, 32}};
	md5_hex(p6, 6, kd);
	if (f[D_RESPONSE].len != 32 || !ct_eq(kd, f[D_RESPONSE].p, 32))
		return PROXY_AUTH_DENIED;
	if (!f[D_NC].len || f[D_NC].len > 16 || !all_hex(f[D_NC]))
		return PROXY_AUTH_DENIED;
	int nc = proxy_auth_nonce_check(s, f[D_NONCE], r->now_ms);
	if (nc < 0)
		return PROXY_AUTH_DENIED;
	if (nc > 0)
		return PROXY_AUTH_STALE;
	*user = (struct slice){line->p, f[D_USERNAME].len};
	return PROXY_AUTH_OK;
}

enum proxy_auth_verdict proxy_auth_check(struct proxy_auth_state *s, const struct proxy_auth *au,
					 const struct proxy_auth_req *r, struct slice *user)
{
	*user = (struct slice){NULL, 0};
	struct slice v = slice_trim_ows(nz(r->authz));
	if (!v.len || v.len > PROXY_AUTH_HEADER_MAX)
		return PROXY_AUTH_DENIED;
	struct slice rest, sch = auth_scheme(v, &rest);
	if (au->nbasic)
		return slice_eq_cstr_ci(sch, "Basic") ? check_basic(s, au, rest, user)
						      : PROXY_AUTH_DENIED;
	if (au->ndigest)
		return slice_eq_cstr_ci(sch, "Digest") ? check_digest(s, au, r, rest, user)
						       : PROXY_AUTH_DENIED;
	return PROXY_AUTH_DENIED; /* forward only: judged by proxy_fwdauth.c, never here */
}
