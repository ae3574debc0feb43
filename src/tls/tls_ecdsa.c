/* tls_ecdsa.c — ECDSA P-256 signing, arithmetic modulo the order n on 4 x 64-bit limbs.
 *
 * See tls_ecdsa.h for the contract. All arithmetic on secret values (the
 * private key x, the nonce k and what derives from them) uses masks, never
 * branches or secret-dependent indices. The exponent of the inversion
 * (n - 2) is public, so the fixed-window exponentiation may branch on its
 * digits and index its table by them.
 */
#include "tls/tls_ecdsa.h"

#include <string.h>

typedef unsigned __int128 u128;

/* n, little-endian limbs. */
static const uint64_t N[4] = {0xF3B9CAC2FC632551u, 0xBCE6FAADA7179E84u, 0xFFFFFFFFFFFFFFFFu,
			      0xFFFFFFFF00000000u};
/* -n^-1 mod 2^64. */
#define N0I 0xCCD1C8AAEE00BC4Fu
/* 2^512 mod n (to enter the Montgomery domain). */
static const uint64_t RR[4] = {0x83244C95BE79EEA2u, 0x4699799C49BD6FA6u, 0x2845B2392B6BEC59u,
			       0x66E12D94F3D95620u};
/* n - 2, the Fermat exponent (public). */
static const uint64_t NM2[4] = {0xF3B9CAC2FC63254Fu, 0xBCE6FAADA7179E84u, 0xFFFFFFFFFFFFFFFFu,
				0xFFFFFFFF00000000u};

/* d = a - b; returns the borrow (0 or 1). */
static uint64_t sub4(uint64_t d[4], const uint64_t a[4], const uint64_t b[4])
{
	uint64_t br = 0;
	for (int j = 0; j < 4; j++) {
		u128 t = (u128)a[j] - b[j] - br;
		d[j] = (uint64_t)t;
		br = (uint64_t)(t >> 64) & 1;
	}
	return br;
}

/* r = mask ? a : b, mask all-ones or zero. */
static void sel4(uint64_t r[4], uint64_t mask, const uint64_t a[4], const uint64_t b[4])
{
	for (int j = 0; j < 4; j++)
		r[j] = (a[j] & mask) | (b[j] & ~mask);
}

/* All-ones if a == 0, else zero. */
static uint64_t iszero4(const uint64_t a[4])
{
	uint64_t z = a[0] | a[1] | a[2] | a[3];
	return ((z | (0 - z)) >> 63) - 1;
}

/* r = (hi * 2^256 + t) - n if that is >= 0, else t; hi is 0 or 1 and the
 * value below 2n. */
static void final_sub(uint64_t r[4], uint64_t hi, const uint64_t t[4])
{
	uint64_t d[4];
	uint64_t br = sub4(d, t, N);
	uint64_t use_d = 0 - ((hi | (br ^ 1)) & 1);
	sel4(r, use_d, d, t);
}

/* t[0..4] += a * bi, then one Montgomery reduction step (divide by 2^64),
 * on the locals t0..t4 of tls_modn_montmul; fully unrolled because the
 * shipped build is -Os, which unrolls nothing. */
#define MAC(t, x, y, c)                                \
	do {                                           \
		u128 p_ = (u128)(x) * (y) + (t) + (c); \
		(t) = (uint64_t)p_;                    \
		(c) = (uint64_t)(p_ >> 64);            \
	} while (0)
#define MONT_ROUND(bi)                                                        \
	do {                                                                  \
		uint64_t c_ = 0, m_, t5_;                                     \
		MAC(t0, a[0], (bi), c_);                                      \
		MAC(t1, a[1], (bi), c_);                                      \
		MAC(t2, a[2], (bi), c_);                                      \
		MAC(t3, a[3], (bi), c_);                                      \
		u128 q_ = (u128)t4 + c_;                                      \
		t4 = (uint64_t)q_;                                            \
		t5_ = (uint64_t)(q_ >> 64);                                   \
		m_ = t0 * N0I;                                                \
		q_ = (u128)m_ * N[0] + t0; /* low word zero by choice of m */ \
		c_ = (uint64_t)(q_ >> 64);                                    \
		MAC(t1, m_, N[1], c_);                                        \
		MAC(t2, m_, N[2], c_);                                        \
		MAC(t3, m_, N[3], c_);                                        \
		q_ = (u128)t4 + c_;                                           \
		t0 = t1;                                                      \
		t1 = t2;                                                      \
		t2 = t3;                                                      \
		t3 = (uint64_t)q_;                                            \
		t4 = t5_ + (uint64_t)(q_ >> 64);                              \
	} while (0)

void tls_modn_montmul(uint64_t r[4], const uint64_t a[4], const uint64_t b[4])
{
	/* CIOS: t < 2n after every round when one input is < n. */
	uint64_t t0 = 0, t1 = 0, t2 = 0, t3 = 0, t4 = 0;
	uint64_t b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
	MONT_ROUND(b0);
	MONT_ROUND(b1);
	MONT_ROUND(b2);
	MONT_ROUND(b3);

	/* Final subtraction: t - n if t4 is set or t >= n. */
	uint64_t d0, d1, d2, d3, br;
	u128 w;
	w = (u128)t0 - N[0];
	d0 = (uint64_t)w;
	br = (uint64_t)(w >> 64) & 1;
	w = (u128)t1 - N[1] - br;
	d1 = (uint64_t)w;
	br = (uint64_t)(w >> 64) & 1;
	w = (u128)t2 - N[2] - br;
	d2 = (uint64_t)w;
	br = (uint64_t)(w >> 64) & 1;
	w = (u128)t3 - N[3] - br;
	d3 = (uint64_t)w;
	br = (uint64_t)(w >> 64) & 1;
	uint64_t use_d = 0 - ((t4 | (br ^ 1)) & 1);
	r[0] = (d0 & use_d) | (t0 & ~use_d);
	r[1] = (d1 & use_d) | (t1 & ~use_d);
	r[2] = (d2 & use_d) | (t2 & ~use_d);
	r[3] = (d3 & use_d) | (t3 & ~use_d);
}

void tls_modn_mul(uint64_t r[4], const uint64_t a[4], const uint64_t b[4])
{
	uint64_t t[4];
	tls_modn_montmul(t, a, b);  /* a b / R */
	tls_modn_montmul(r, t, RR); /* a b */
}

void tls_modn_add(uint64_t r[4], const uint64_t a[4], const uint64_t b[4])
{
	uint64_t t[4], c = 0;
	for (int j = 0; j < 4; j++) {
		u128 p = (u128)a[j] + b[j] + c;
		t[j] = (uint64_t)p;
		c = (uint64_t)(p >> 64);
	}
	final_sub(r, c, t);
}

void tls_modn_reduce(uint64_t r[4], const uint64_t a[4])
{
	final_sub(r, 0, a); /* a < 2^256 < 2n */
}

static void wipe(void *p, size_t len)
{
	volatile unsigned char *v = p;
	while (len--)
		*v++ = 0;
}

/* r = am^(n-2) in the Montgomery domain (am = a R, r = a^-1 R); 4-bit
 * fixed window over the public exponent. */
static void pow_nm2_monty(uint64_t r[4], const uint64_t am[4])
{
	uint64_t tab[16][4], acc[4];
	memcpy(tab[1], am, sizeof tab[1]);
	for (int i = 2; i < 16; i++)
		tls_modn_montmul(tab[i], tab[i - 1], am);
	int started = 0;
	for (int w = 63; w >= 0; w--) {
		unsigned d = (unsigned)(NM2[w >> 4] >> ((w & 15) * 4)) & 15;
		if (started) {
			for (int s = 0; s < 4; s++)
				tls_modn_montmul(acc, acc, acc);
			if (d)
				tls_modn_montmul(acc, acc, tab[d]);
		} else if (d) {
			memcpy(acc, tab[d], sizeof acc);
			started = 1;
		}
	}
	memcpy(r, acc, sizeof acc);
	wipe(tab, sizeof tab); /* powers of a secret */
	wipe(acc, sizeof acc);
}

void tls_modn_inv(uint64_t r[4], const uint64_t a[4])
{
	static const uint64_t one[4] = {1, 0, 0, 0};
	uint64_t t[4];
	tls_modn_montmul(t, a, RR); /* a R */
	pow_nm2_monty(t, t);        /* a^-1 R */
	tls_modn_montmul(r, t, one);
}

void tls_modn_decode(uint64_t r[4], const unsigned char src[32])
{
	for (int j = 0; j < 4; j++) {
		uint64_t w = 0;
		for (int b = 0; b < 8; b++)
			w = (w << 8) | src[(3 - j) * 8 + b];
		r[j] = w;
	}
}

void tls_modn_encode(unsigned char dst[32], const uint64_t a[4])
{
	for (int j = 0; j < 4; j++)
		for (int b = 0; b < 8; b++)
			dst[(3 - j) * 8 + b] = (unsigned char)(a[j] >> (56 - 8 * b));
}

/* The private key: any length, big-endian, must be in [1, n-1]. Returns
 * all-ones if valid (x set), zero if not (x zeroed). */
static uint64_t decode_key(uint64_t x[4], const unsigned char *src, size_t len)
{
	unsigned char buf[32];
	unsigned hi = 0;
	memset(buf, 0, sizeof buf);
	for (size_t i = 0; i < len; i++) {
		if (i + 32 < len)
			hi |= src[i]; /* beyond 256 bits: must be zero */
		else
			buf[i + 32 - len] = src[i];
	}
	tls_modn_decode(x, buf);
	wipe(buf, sizeof buf);
	uint64_t d[4];
	uint64_t lt = 0 - sub4(d, x, N); /* all-ones if x < n */
	uint64_t hi_ok = (uint64_t)((hi + 0xFFu) >> 8) - 1;
	uint64_t ok = lt & hi_ok & ~iszero4(x);
	for (int j = 0; j < 4; j++)
		x[j] &= ok;
	return ok;
}

/* bits2int for a 256-bit order: the leftmost 256 bits of the hash. */
static void hash_to_int(uint64_t m[4], const unsigned char *h, size_t len)
{
	unsigned char buf[32];
	memset(buf, 0, sizeof buf);
	if (len >= 32)
		memcpy(buf, h, 32);
	else
		memcpy(buf + 32 - len, h, len);
	tls_modn_decode(m, buf);
}

/* Raw (r || s) signature, 64 bytes, or 0. */
static size_t sign_raw_p256(const br_ec_impl *impl, const br_hash_class *hf, const void *hash_value,
			    const br_ec_private_key *sk, unsigned char *sig)
{
	uint64_t x[4], m[4], k[4], r[4], s[4], t[4], d[4];
	unsigned char seed[64], kb[32], pt[65];
	br_hmac_drbg_context drbg;
	size_t ret = 0;

	if (((impl->supported_curves >> BR_EC_secp256r1) & 1) == 0)
		return 0;
	if (!decode_key(x, sk->x, sk->xlen))
		return 0;
	size_t hlen = (size_t)(hf->desc >> BR_HASHDESC_OUT_OFF) & BR_HASHDESC_OUT_MASK;
	hash_to_int(m, hash_value, hlen);
	tls_modn_reduce(m, m);

	/* The DRBG, as BearSSL: seeded with x || m, each 32 bytes. */
	tls_modn_encode(seed, x);
	tls_modn_encode(seed + 32, m);
	br_hmac_drbg_init(&drbg, hf, seed, sizeof seed);
	for (;;) {
		br_hmac_drbg_generate(&drbg, kb, sizeof kb);
		tls_modn_decode(k, kb);
		uint64_t ok = ~iszero4(k) & (0 - sub4(d, k, N)); /* 0 < k < n */
		if (!ok)
			continue; /* a rejected candidate: says nothing of the k used */

		if (impl->mulgen(pt, kb, sizeof kb, BR_EC_secp256r1) != sizeof pt)
			goto out;
		tls_modn_decode(r, pt + 1); /* X coordinate */
		tls_modn_reduce(r, r);
		if (iszero4(r))
			continue;

		/* s = (m + r x) / k: r x = montmul(montmul(r, x), R^2);
		 * 1/k in the Montgomery domain; then one montmul leaves it. */
		tls_modn_montmul(t, r, x);
		tls_modn_montmul(t, t, RR);
		tls_modn_add(t, t, m);
		tls_modn_montmul(k, k, RR);
		pow_nm2_monty(k, k);
		tls_modn_montmul(s, t, k);
		if (iszero4(s))
			continue;
		break;
	}
	tls_modn_encode(sig, r);
	tls_modn_encode(sig + 32, s);
	ret = 64;
out:
	wipe(x, sizeof x);
	wipe(k, sizeof k);
	wipe(t, sizeof t);
	wipe(kb, sizeof kb);
	wipe(seed, sizeof seed);
	wipe(&drbg, sizeof drbg);
	return ret;
}

size_t tls_ecdsa_p256_sign_asn1(const br_ec_impl *impl, const br_hash_class *hf,
				const void *hash_value, const br_ec_private_key *sk, void *sig)
{
	unsigned char rsig[64 + 12]; /* room for the DER form (at most 72 bytes) */

	if (sk->curve != BR_EC_secp256r1)
		return br_ecdsa_i31_sign_asn1(impl, hf, hash_value, sk, sig);
	size_t len = sign_raw_p256(impl, hf, hash_value, sk, rsig);
	if (len == 0)
		return 0;
	len = br_ecdsa_raw_to_asn1(rsig, len);
	memcpy(sig, rsig, len);
	return len;
}
