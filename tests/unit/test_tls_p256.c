/* Unit tests for tls_p256: our 64-bit-limb P-256 against BearSSL's own
 * br_ec_p256_m31 (differential, thousands of random and sparse scalars and
 * points), known answers (1G, 2G, 3G, (n-1)G), every generator-table entry,
 * the br_ec_impl contract's edge cases (scalars 0, 1, n-1, n, n+1, 2^256-1,
 * long and short encodings; invalid points; infinity results; P+P and P-P
 * in muladd), ECDSA sign/verify and ECDH through BearSSL's generic code with
 * either implementation on each side, and the all-curves wrapper. The
 * field operations (multiplication, squaring, inversion) are also checked on
 * their own (a test-build hook) against a plain reference, on edge values
 * (0, 1, p - 1, ...), random values and values made of extreme words.
 *
 * Randomness is an HMAC-DRBG with a fixed seed: every run is the same. */
#include "tls/tls_p256.h"
#include "test.h"

#include <stdbool.h>

#define P256 BR_EC_secp256r1

static const br_ec_impl *ours = &tls_p256_ec;
static const br_ec_impl *ref = &br_ec_p256_m31;

static const unsigned char N_BE[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
				       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				       0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
				       0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

static br_hmac_drbg_context rng;

static void rng_init(const char *label)
{
	br_hmac_drbg_init(&rng, &br_sha256_vtable, label, strlen(label));
}

/* Big-endian 32-byte helpers (test code: branches are fine). */
static int be_cmp(const unsigned char *a, const unsigned char *b)
{
	return memcmp(a, b, 32);
}

/* r = a + d (mod 2^256), d small. */
static void be_add_small(unsigned char *r, const unsigned char *a, unsigned d)
{
	unsigned c = d;
	for (int i = 31; i >= 0; i--) {
		c += a[i];
		r[i] = (unsigned char)c;
		c >>= 8;
	}
}

/* r = n - a (a <= n). */
static void be_n_minus(unsigned char *r, const unsigned char *a)
{
	int br = 0;
	for (int i = 31; i >= 0; i--) {
		int d = N_BE[i] - a[i] - br;
		br = d < 0;
		r[i] = (unsigned char)(d + (br ? 256 : 0));
	}
}

/* r = (a + b) mod n, a, b < n. */
static void be_add_mod_n(unsigned char *r, const unsigned char *a, const unsigned char *b)
{
	unsigned c = 0;
	unsigned char s[33];
	for (int i = 31; i >= 0; i--) {
		c += (unsigned)a[i] + b[i];
		s[i + 1] = (unsigned char)c;
		c >>= 8;
	}
	s[0] = (unsigned char)c;
	if (s[0] || be_cmp(s + 1, N_BE) >= 0) {
		int br = 0;
		for (int i = 31; i >= 0; i--) {
			int d = s[i + 1] - N_BE[i] - br;
			br = d < 0;
			s[i + 1] = (unsigned char)(d + (br ? 256 : 0));
		}
	}
	memcpy(r, s + 1, 32);
}

static bool be_iszero(const unsigned char *a)
{
	for (int i = 0; i < 32; i++)
		if (a[i])
			return false;
	return true;
}

/* A scalar in [1, n-1]. Kind 0: uniform; 1: sparse (a few random nonzero
 * 4-bit digits, the rest zero: long runs of the "accumulator is infinity"
 * and "digit 0" paths); 2: near n or near 0. */
static void rand_scalar(unsigned char *k, int kind)
{
	for (;;) {
		br_hmac_drbg_generate(&rng, k, 32);
		if (kind == 1) {
			unsigned char r[8];
			br_hmac_drbg_generate(&rng, r, sizeof r);
			memset(k, 0, 32);
			for (int j = 0; j < 1 + r[0] % 6; j++)
				k[r[1 + j] % 32] |=
					(unsigned char)((r[j + 2] & 0xf) << ((r[j] & 1) * 4));
		} else if (kind == 2) {
			unsigned char r[2];
			br_hmac_drbg_generate(&rng, r, sizeof r);
			memset(k, 0, 32);
			k[31] = r[0];
			if (r[1] & 1) {
				unsigned char t[32];
				be_n_minus(t, k);
				memcpy(k, t, 32);
			}
		}
		if (!be_iszero(k) && be_cmp(k, N_BE) < 0)
			return;
	}
}

/* A random point of the curve (k G by the reference). */
static void rand_point(unsigned char *pt)
{
	unsigned char k[32];
	rand_scalar(k, 0);
	ref->mulgen(pt, k, 32, P256);
}

static void hex_to(unsigned char *out, const char *hex)
{
	for (size_t i = 0; hex[2 * i]; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (unsigned char)v;
	}
}

static const char *G2 = "04"
			"7cf27b188d034f7e8a52380304b51ac3c08969e277f21b35a60b48fc47669978"
			"07775510db8ed040293d9ac69f7430dbba7dade63ce982299e04b79d227873d1";
static const char *G3 = "04"
			"5ecbe4d1a6330a44c8f7ef951d4bf165e6c6b721efada985fb41661bc6e7fd6c"
			"8734640c4998ff7e374b06ce1a64a2ecd82ab036384fb83d9a79b127a27d5032";

/* Field elements (limbs little-endian; test code: slow and simple) ------------- */

/* Test builds only (tls_p256.c): op 0 r = fe_mul(a, b), 1 fe_sqr(a), 2 fe_inv(a),
 * 3, 4, 5 the same in place (r holds a). */
void tls_p256__test_fe(int op, uint64_t r[4], const uint64_t a[4], const uint64_t b[4]);

static const uint64_t FE_P[4] = {0xffffffffffffffffu, 0x00000000ffffffffu, 0, 0xffffffff00000001u};
/* 2^256 mod p: the Montgomery form of 1. */
static const uint64_t FE_R[4] = {1, 0xffffffff00000000u, 0xffffffffffffffffu, 0x00000000fffffffeu};

static bool fe_ge(const uint64_t *a, const uint64_t *b)
{
	for (int i = 3; i >= 0; i--)
		if (a[i] != b[i])
			return a[i] > b[i];
	return true;
}

static bool fe_eq(const uint64_t *a, const uint64_t *b)
{
	return memcmp(a, b, 4 * sizeof *a) == 0;
}

/* r = a * b mod p for any a, b < 2^256: schoolbook product, then binary
 * long division, one bit at a time. */
static void ref_mulmod(uint64_t r[4], const uint64_t a[4], const uint64_t b[4])
{
	uint64_t t[8] = {0}, x[5] = {0};
	for (int i = 0; i < 4; i++) {
		unsigned __int128 c = 0;
		for (int j = 0; j < 4; j++) {
			c += (unsigned __int128)a[i] * b[j] + t[i + j];
			t[i + j] = (uint64_t)c;
			c >>= 64;
		}
		t[i + 4] = (uint64_t)c;
	}
	for (int bit = 511; bit >= 0; bit--) {
		x[4] = x[3] >> 63;
		for (int i = 3; i > 0; i--)
			x[i] = (x[i] << 1) | (x[i - 1] >> 63);
		x[0] = (x[0] << 1) | ((t[bit / 64] >> (bit % 64)) & 1);
		if (x[4] || fe_ge(x, FE_P)) {
			unsigned __int128 br = 0;
			for (int i = 0; i < 4; i++) {
				unsigned __int128 d = (unsigned __int128)x[i] - FE_P[i] - br;
				x[i] = (uint64_t)d;
				br = (d >> 64) & 1;
			}
			x[4] = 0;
		}
	}
	memcpy(r, x, 4 * sizeof *r);
}

/* Edge values below p: 0, 1, 2, p - 1, p - 2, 2^256 mod p, 2^64 - 1, 2^255,
 * (p - 1) / 2, and words of all ones or zero next to p's own. */
static const uint64_t FE_EDGE[][4] = {
	{0, 0, 0, 0},
	{1, 0, 0, 0},
	{2, 0, 0, 0},
	{0xfffffffffffffffeu, 0x00000000ffffffffu, 0, 0xffffffff00000001u},
	{0xfffffffffffffffdu, 0x00000000ffffffffu, 0, 0xffffffff00000001u},
	{1, 0xffffffff00000000u, 0xffffffffffffffffu, 0x00000000fffffffeu},
	{0xffffffffffffffffu, 0, 0, 0},
	{0, 0, 0, 0x8000000000000000u},
	{0xffffffffffffffffu, 0x000000007fffffffu, 0x8000000000000000u, 0x7fffffff80000000u},
	{0xffffffffffffffffu, 0xffffffffffffffffu, 0xffffffffffffffffu, 0xffffffff00000000u},
	{0, 0, 0, 0xffffffff00000001u},
	{0xffffffffffffffffu, 0x00000000ffffffffu, 0xffffffffffffffffu, 0xffffffff00000000u},
	{0, 0x0000000100000000u, 0, 0xffffffff00000001u},
	{0xffffffffffffffffu, 0xffffffffffffffffu, 0xffffffffffffffffu, 0},
};
#define FE_NEDGE (sizeof FE_EDGE / sizeof FE_EDGE[0])

/* A value below p: uniform (kind 0), or each word from a short list of
 * extreme words (kind 1: long carry chains in the product and reduction). */
static void rand_fe(uint64_t a[4], int kind)
{
	static const uint64_t words[] = {0,
					 1,
					 0xffffffffffffffffu,
					 0xfffffffffffffffeu,
					 0x00000000ffffffffu,
					 0x0000000100000000u,
					 0xffffffff00000000u,
					 0xffffffff00000001u,
					 0x8000000000000000u,
					 0x7fffffffffffffffu};
	do {
		br_hmac_drbg_generate(&rng, a, 4 * sizeof *a);
		if (kind == 1)
			for (int i = 0; i < 4; i++) {
				uint64_t w = a[i];
				a[i] = words[w % (sizeof words / sizeof words[0])];
				if ((w >> 32) % 4 == 0) /* now and then a random word among them */
					a[i] = w >> 8 ^ w;
			}
	} while (fe_ge(a, FE_P));
}

/* fe_mul(a, b) for a < 2^256, b < p: fully reduced, and times 2^256 it is
 * a b mod p; in place too. Returns the number of failures. */
static int fe_check_mul(const uint64_t a[4], const uint64_t b[4])
{
	uint64_t r[4], r2[4], want[4], got[4];
	int bad = 0;
	tls_p256__test_fe(0, r, a, b);
	ref_mulmod(want, a, b);
	ref_mulmod(got, r, FE_R);
	bad += fe_ge(r, FE_P) || !fe_eq(got, want);
	memcpy(r2, a, sizeof r2);
	tls_p256__test_fe(3, r2, r2, b);
	bad += !fe_eq(r2, r);
	return bad;
}

/* fe_sqr(a) == fe_mul(a, a), checked as above; in place too. */
static int fe_check_sqr(const uint64_t a[4])
{
	uint64_t r[4], r2[4], m[4];
	int bad = fe_check_mul(a, a);
	tls_p256__test_fe(1, r, a, NULL);
	tls_p256__test_fe(0, m, a, a);
	bad += !fe_eq(r, m);
	memcpy(r2, a, sizeof r2);
	tls_p256__test_fe(4, r2, r2, NULL);
	bad += !fe_eq(r2, r);
	return bad;
}

/* fe_inv(a) * a == 1 (Montgomery: fe_mul gives 2^256 mod p), fe_inv(0) == 0;
 * in place too. */
static int fe_check_inv(const uint64_t a[4])
{
	static const uint64_t zero[4] = {0};
	uint64_t r[4], r2[4], one[4];
	int bad = 0;
	tls_p256__test_fe(2, r, a, NULL);
	bad += fe_ge(r, FE_P);
	if (fe_eq(a, zero)) {
		bad += !fe_eq(r, zero);
	} else {
		tls_p256__test_fe(0, one, a, r);
		bad += !fe_eq(one, FE_R);
	}
	memcpy(r2, a, sizeof r2);
	tls_p256__test_fe(5, r2, r2, NULL);
	bad += !fe_eq(r2, r);
	return bad;
}

/* Cases ------------------------------------------------------------------------ */

/* The field operations directly: every pair of edge values, random and
 * extreme-word values against a plain reference, fe_mul with its first
 * operand in [p, 2^256) (as p256_decode can give it), and inversion. */
static void p256_field_mul_sqr(void)
{
	int bad = 0;
	rng_init("p256 field mul");
	for (size_t i = 0; i < FE_NEDGE; i++) {
		bad += fe_check_sqr(FE_EDGE[i]);
		for (size_t j = 0; j < FE_NEDGE; j++)
			bad += fe_check_mul(FE_EDGE[i], FE_EDGE[j]);
	}
	for (int n = 0; n < 3000; n++) {
		uint64_t a[4], b[4];
		rand_fe(a, n % 2);
		rand_fe(b, (n / 2) % 2);
		bad += fe_check_mul(a, b);
		bad += fe_check_sqr(a);
		if ((size_t)n < FE_NEDGE * 20)
			bad += fe_check_mul(a, FE_EDGE[n % FE_NEDGE]);
	}
	/* a >= p: p, p + 1, 2^256 - 1, random high values */
	uint64_t big[4][4] = {
		{0xffffffffffffffffu, 0x00000000ffffffffu, 0, 0xffffffff00000001u},
		{0, 0x0000000100000000u, 0, 0xffffffff00000001u},
		{0xffffffffffffffffu, 0xffffffffffffffffu, 0xffffffffffffffffu,
		 0xffffffffffffffffu},
	};
	br_hmac_drbg_generate(&rng, big[3], sizeof big[3]);
	big[3][3] |= 0xffffffff00000002u;
	for (int i = 0; i < 4; i++)
		for (size_t j = 0; j < FE_NEDGE; j++)
			bad += fe_check_mul(big[i], FE_EDGE[j]);
	CHECK_EQ_INT(bad, 0);
}

static void p256_field_inv(void)
{
	int bad = 0;
	rng_init("p256 field inv");
	for (size_t i = 0; i < FE_NEDGE; i++)
		bad += fe_check_inv(FE_EDGE[i]);
	for (int n = 0; n < 300; n++) {
		uint64_t a[4];
		rand_fe(a, n % 2);
		bad += fe_check_inv(a);
	}
	CHECK_EQ_INT(bad, 0);
}

static void p256_constants(void)
{
	size_t l1, l2;
	const unsigned char *a = ours->generator(P256, &l1), *b = ref->generator(P256, &l2);
	CHECK(l1 == 65 && l2 == 65 && memcmp(a, b, 65) == 0);
	a = ours->order(P256, &l1);
	b = ref->order(P256, &l2);
	CHECK(l1 == 32 && l2 == 32 && memcmp(a, b, 32) == 0);
	CHECK(ours->xoff(P256, &l1) == 1 && l1 == 32);
	CHECK_EQ_INT(ours->supported_curves, 1u << BR_EC_secp256r1);
	CHECK_EQ_INT(tls_p256_ec_all.supported_curves, br_ec_all_m31.supported_curves);
	a = tls_p256_ec_all.generator(BR_EC_secp384r1, &l1);
	b = br_ec_all_m31.generator(BR_EC_secp384r1, &l2);
	CHECK(l1 == 97 && l1 == l2 && memcmp(a, b, l1) == 0);
}

static void p256_known_answers(void)
{
	unsigned char k[32] = {0}, out[65], pt[65], want[65];
	size_t gl;
	const unsigned char *g = ours->generator(P256, &gl);

	k[31] = 1;
	CHECK_EQ_INT(ours->mulgen(out, k, 32, P256), 65);
	CHECK(memcmp(out, g, 65) == 0);
	memcpy(pt, g, 65);
	CHECK_EQ_INT(ours->mul(pt, 65, k, 32, P256), 1);
	CHECK(memcmp(pt, g, 65) == 0);

	hex_to(want, G2);
	k[31] = 2;
	CHECK_EQ_INT(ours->mulgen(out, k, 32, P256), 65);
	CHECK(memcmp(out, want, 65) == 0);
	memcpy(pt, g, 65);
	CHECK_EQ_INT(ours->mul(pt, 65, k, 32, P256), 1);
	CHECK(memcmp(pt, want, 65) == 0);

	hex_to(want, G3);
	k[31] = 3;
	CHECK_EQ_INT(ours->mulgen(out, k, 32, P256), 65);
	CHECK(memcmp(out, want, 65) == 0);
	memcpy(pt, g, 65);
	CHECK_EQ_INT(ours->mul(pt, 65, k, 1 + 31, P256), 1);
	CHECK(memcmp(pt, want, 65) == 0);
	/* 1-byte scalar */
	memcpy(pt, g, 65);
	CHECK_EQ_INT(ours->mul(pt, 65, k + 31, 1, P256), 1);
	CHECK(memcmp(pt, want, 65) == 0);

	/* (n-1) G = -G = (Gx, p - Gy) */
	unsigned char one[32] = {0}, nm1[32];
	one[31] = 1;
	be_n_minus(nm1, one);
	CHECK_EQ_INT(ours->mulgen(out, nm1, 32, P256), 65);
	CHECK(memcmp(out, g, 33) == 0);
	static const unsigned char p_be[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01,
					       0,    0,    0,    0,    0,    0,    0,    0,
					       0,    0,    0,    0,    0xff, 0xff, 0xff, 0xff,
					       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	unsigned char negy[32];
	int br = 0;
	for (int i = 31; i >= 0; i--) {
		int d = p_be[i] - g[33 + i] - br;
		br = d < 0;
		negy[i] = (unsigned char)(d + (br ? 256 : 0));
	}
	CHECK(memcmp(out + 33, negy, 32) == 0);
}

/* Every entry of the generator table: scalar j * 16^i. */
static void p256_mulgen_table(void)
{
	int bad = 0;
	for (int i = 0; i < 64; i++) {
		for (unsigned j = 1; j < 16; j++) {
			unsigned char k[32] = {0}, a[65], b[65];
			k[31 - i / 2] = (unsigned char)(j << (4 * (i % 2)));
			size_t la = ours->mulgen(a, k, 32, P256), lb = ref->mulgen(b, k, 32, P256);
			if (la != 65 || lb != 65 || memcmp(a, b, 65) != 0)
				bad++;
		}
	}
	CHECK_EQ_INT(bad, 0);
}

static void p256_diff_mulgen(void)
{
	int bad = 0;
	rng_init("mulgen");
	for (int t = 0; t < 3000; t++) {
		unsigned char k[32], a[65], b[65];
		rand_scalar(k, t % 3);
		size_t la = ours->mulgen(a, k, 32, P256);
		ref->mulgen(b, k, 32, P256);
		if (la != 65 || memcmp(a, b, 65) != 0)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
}

static void p256_diff_mul(void)
{
	int bad = 0;
	rng_init("mul");
	for (int t = 0; t < 2000; t++) {
		unsigned char k[32], a[65], b[65];
		rand_point(a);
		memcpy(b, a, 65);
		rand_scalar(k, t % 3);
		uint32_t ra = ours->mul(a, 65, k, 32, P256), rb = ref->mul(b, 65, k, 32, P256);
		if (ra != 1 || rb != 1 || memcmp(a, b, 65) != 0)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
}

static void p256_diff_muladd(void)
{
	int bad = 0;
	rng_init("muladd");
	for (int t = 0; t < 1000; t++) {
		unsigned char x[32], y[32], a[65], b[65], pb[65];
		rand_point(a);
		rand_point(pb);
		memcpy(b, a, 65);
		rand_scalar(x, t % 3);
		rand_scalar(y, (t / 3) % 3);
		const unsigned char *B = (t & 1) ? pb : NULL;
		uint32_t ra = ours->muladd(a, B, 65, x, 32, y, 32, P256);
		uint32_t rb = ref->muladd(b, B, 65, x, 32, y, 32, P256);
		if (ra != 1 || rb != 1 || memcmp(a, b, 65) != 0)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
}

/* Scalars 0, n, n+1, 2^256-1, long and short encodings. */
static void p256_scalar_edges(void)
{
	unsigned char pt[65], ptc[65], out[65], want[65], k[40];
	unsigned char zero[32] = {0}, one[32] = {0}, np1[32], nm1[32], ff[32];
	one[31] = 1;
	be_add_small(np1, N_BE, 1);
	be_n_minus(nm1, one);
	memset(ff, 0xff, 32);
	rng_init("edges");
	rand_point(pt);

	/* 0 and n: infinity, reported as errors */
	memcpy(ptc, pt, 65);
	CHECK_EQ_INT(ours->mul(ptc, 65, zero, 32, P256), 0);
	memcpy(ptc, pt, 65);
	CHECK_EQ_INT(ours->mul(ptc, 65, N_BE, 32, P256), 0);
	CHECK_EQ_INT(ours->mulgen(out, zero, 32, P256), 0);
	CHECK_EQ_INT(ours->mulgen(out, N_BE, 32, P256), 0);
	CHECK_EQ_INT(ours->mulgen(out, zero, 0, P256), 0);

	/* 1: the point itself; n-1: its opposite (reference) */
	memcpy(ptc, pt, 65);
	CHECK_EQ_INT(ours->mul(ptc, 65, one, 32, P256), 1);
	CHECK(memcmp(ptc, pt, 65) == 0);
	memcpy(ptc, pt, 65);
	memcpy(want, pt, 65);
	CHECK_EQ_INT(ours->mul(ptc, 65, nm1, 32, P256), 1);
	ref->mul(want, 65, nm1, 32, P256);
	CHECK(memcmp(ptc, want, 65) == 0);
	CHECK(memcmp(ptc, pt, 33) == 0 && memcmp(ptc + 33, pt + 33, 32) != 0);

	/* n+1 is reduced: P and G */
	memcpy(ptc, pt, 65);
	CHECK_EQ_INT(ours->mul(ptc, 65, np1, 32, P256), 1);
	CHECK(memcmp(ptc, pt, 65) == 0);
	size_t gl;
	const unsigned char *g = ours->generator(P256, &gl);
	CHECK_EQ_INT(ours->mulgen(out, np1, 32, P256), 65);
	CHECK(memcmp(out, g, 65) == 0);

	/* 2^256 - 1 = (2^256 - 1 - n) mod n */
	unsigned char red[32];
	int br = 0;
	for (int i = 31; i >= 0; i--) {
		int d = 0xff - N_BE[i] - br;
		br = d < 0;
		red[i] = (unsigned char)(d + (br ? 256 : 0));
	}
	memcpy(ptc, pt, 65);
	memcpy(want, pt, 65);
	CHECK_EQ_INT(ours->mul(ptc, 65, ff, 32, P256), 1);
	ref->mul(want, 65, red, 32, P256);
	CHECK(memcmp(ptc, want, 65) == 0);
	CHECK_EQ_INT(ours->mulgen(out, ff, 32, P256), 65);
	ref->mulgen(want, red, 32, P256);
	CHECK(memcmp(out, want, 65) == 0);

	/* longer encodings: leading zeros are fine, anything else is an error */
	unsigned char s[32];
	rand_scalar(s, 0);
	memset(k, 0, 8);
	memcpy(k + 8, s, 32);
	memcpy(ptc, pt, 65);
	memcpy(want, pt, 65);
	CHECK_EQ_INT(ours->mul(ptc, 65, k, 40, P256), 1);
	ref->mul(want, 65, s, 32, P256);
	CHECK(memcmp(ptc, want, 65) == 0);
	CHECK_EQ_INT(ours->mulgen(out, k, 40, P256), 65);
	ref->mulgen(want, s, 32, P256);
	CHECK(memcmp(out, want, 65) == 0);
	k[3] = 1;
	memcpy(ptc, pt, 65);
	CHECK_EQ_INT(ours->mul(ptc, 65, k, 40, P256), 0);
	CHECK_EQ_INT(ours->mulgen(out, k, 40, P256), 0);

	/* shorter encodings (leading zeros dropped) */
	for (size_t len = 1; len < 32; len += 5) {
		unsigned char full[32] = {0};
		br_hmac_drbg_generate(&rng, full + 32 - len, len);
		full[32 - len] |= 1;
		memcpy(ptc, pt, 65);
		memcpy(want, pt, 65);
		CHECK_EQ_INT(ours->mul(ptc, 65, full + 32 - len, len, P256), 1);
		ref->mul(want, 65, full, 32, P256);
		CHECK(memcmp(ptc, want, 65) == 0);
		CHECK_EQ_INT(ours->mulgen(out, full + 32 - len, len, P256), 65);
		ref->mulgen(want, full, 32, P256);
		CHECK(memcmp(out, want, 65) == 0);
	}
}

/* Points that are not on the curve, bad lengths and prefixes. */
static void p256_invalid_points(void)
{
	unsigned char pt[65], bad[65], k[32], y[32];
	rng_init("invalid");
	rand_point(pt);
	rand_scalar(k, 0);
	rand_scalar(y, 0);

	struct {
		int what;
	} cases[] = {{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		memcpy(bad, pt, 65);
		switch (cases[c].what) {
		case 0: bad[0] = 0x02; break;          /* compressed prefix */
		case 1: bad[0] = 0x00; break;          /* not a point encoding */
		case 2: bad[64] ^= 1; break;           /* y off the curve */
		case 3: bad[10] ^= 0x40; break;        /* x changed */
		case 4: memset(bad + 1, 0, 64); break; /* (0, 0) */
		case 5:                                /* x = p (not reduced) */
			memset(bad + 1, 0, 32);
			bad[1] = bad[2] = bad[3] = bad[4] = 0xff;
			bad[8] = 0x01;
			memset(bad + 21, 0xff, 12);
			break;
		case 6: bad[0] = 0x06; break;              /* hybrid */
		case 7: memset(bad + 33, 0xff, 32); break; /* y > p */
		}
		unsigned char t[65];
		memcpy(t, bad, 65);
		CHECK_EQ_INT(ours->mul(t, 65, k, 32, P256), 0);
		memcpy(t, bad, 65);
		CHECK_EQ_INT(ours->muladd(t, NULL, 65, k, 32, y, 32, P256), 0);
		memcpy(t, pt, 65);
		CHECK_EQ_INT(ours->muladd(t, bad, 65, k, 32, y, 32, P256), 0);
		/* the reference agrees the point is invalid */
		memcpy(t, bad, 65);
		CHECK_EQ_INT(ref->mul(t, 65, k, 32, P256), 0);
	}
	/* y replaced by p - y + p? (y + p overflows the field: >= p) */
	/* wrong lengths */
	unsigned char big[66] = {0};
	memcpy(big, pt, 65);
	CHECK_EQ_INT(ours->mul(big, 64, k, 32, P256), 0);
	CHECK_EQ_INT(ours->mul(big, 66, k, 32, P256), 0);
	CHECK_EQ_INT(ours->mul(big, 1, k, 32, P256), 0); /* a 1-byte "infinity" */
	CHECK_EQ_INT(ours->muladd(big, NULL, 64, k, 32, y, 32, P256), 0);
	CHECK(memcmp(big, pt, 65) == 0); /* nothing written on a length error */
}

/* muladd: P + P (a doubling), P + (-P) (infinity), zero scalars. */
static void p256_muladd_edges(void)
{
	unsigned char a[65], b[65], t[65], want[65], x[32], y[32], z[32] = {0}, sum[32];
	size_t gl;
	const unsigned char *g = ours->generator(P256, &gl);
	rng_init("muladd-edges");
	for (int it = 0; it < 50; it++) {
		rand_point(a);
		rand_scalar(x, it % 3);
		rand_scalar(y, 0);

		/* x A + x A = 2x A */
		memcpy(t, a, 65);
		CHECK_EQ_INT(ours->muladd(t, a, 65, x, 32, x, 32, P256), 1);
		be_add_mod_n(sum, x, x);
		memcpy(want, a, 65);
		ref->mul(want, 65, sum, 32, P256);
		CHECK(memcmp(t, want, 65) == 0);

		/* x A + y A with B = A: (x + y) A, and a doubling when x + y
		 * wraps to 2x... covered above; here the generic path */
		memcpy(t, a, 65);
		CHECK_EQ_INT(ours->muladd(t, a, 65, x, 32, y, 32, P256), 1);
		be_add_mod_n(sum, x, y);
		memcpy(want, a, 65);
		ref->mul(want, 65, sum, 32, P256);
		CHECK(memcmp(t, want, 65) == 0);

		/* x A + (n - x) A = infinity: error */
		unsigned char nx[32];
		be_n_minus(nx, x);
		memcpy(t, a, 65);
		CHECK_EQ_INT(ours->muladd(t, a, 65, x, 32, nx, 32, P256), 0);
		/* x A + y (-A) with y = x: infinity */
		memcpy(b, a, 65);
		unsigned char nm1[32], one[32] = {0};
		one[31] = 1;
		be_n_minus(nm1, one);
		ref->mul(b, 65, nm1, 32, P256); /* b = -A */
		memcpy(t, a, 65);
		CHECK_EQ_INT(ours->muladd(t, b, 65, x, 32, x, 32, P256), 0);

		/* generator: x G + x G (B NULL and A = G) */
		memcpy(t, g, 65);
		CHECK_EQ_INT(ours->muladd(t, NULL, 65, x, 32, x, 32, P256), 1);
		be_add_mod_n(sum, x, x);
		ref->mulgen(want, sum, 32, P256);
		CHECK(memcmp(t, want, 65) == 0);
		memcpy(t, g, 65);
		CHECK_EQ_INT(ours->muladd(t, NULL, 65, x, 32, nx, 32, P256), 0);

		/* zero (and n) scalars are errors */
		memcpy(t, a, 65);
		CHECK_EQ_INT(ours->muladd(t, NULL, 65, z, 32, y, 32, P256), 0);
		memcpy(t, a, 65);
		CHECK_EQ_INT(ours->muladd(t, NULL, 65, x, 32, z, 32, P256), 0);
		memcpy(t, a, 65);
		CHECK_EQ_INT(ours->muladd(t, a, 65, N_BE, 32, y, 32, P256), 0);
	}
}

/* ECDSA through BearSSL's generic i31 code: sign with one implementation,
 * verify with the other; a changed hash or signature fails. */
static void p256_ecdsa_cross(void)
{
	rng_init("ecdsa");
	for (int it = 0; it < 40; it++) {
		unsigned char skb[32], pkb[65], pkb2[65], hv[32], sig[80], sig2[80];
		rand_scalar(skb, 0);
		br_ec_private_key sk = {P256, skb, 32};
		br_ec_public_key pk;
		CHECK_EQ_INT(br_ec_compute_pub(&tls_p256_ec_all, &pk, pkb, &sk), 65);
		br_ec_public_key pk2;
		CHECK_EQ_INT(br_ec_compute_pub(&br_ec_all_m31, &pk2, pkb2, &sk), 65);
		CHECK(memcmp(pkb, pkb2, 65) == 0);
		br_hmac_drbg_generate(&rng, hv, 32);

		const br_ec_impl *sign_impl = (it & 1) ? &tls_p256_ec_all : ours;
		size_t sl = br_ecdsa_i31_sign_asn1(sign_impl, &br_sha256_vtable, hv, &sk, sig);
		REQUIRE(sl > 0);
		CHECK_EQ_INT(br_ecdsa_i31_vrfy_asn1(ref, hv, 32, &pk, sig, sl), 1);
		CHECK_EQ_INT(br_ecdsa_i31_vrfy_asn1(ours, hv, 32, &pk, sig, sl), 1);
		size_t sl2 = br_ecdsa_i31_sign_asn1(ref, &br_sha256_vtable, hv, &sk, sig2);
		REQUIRE(sl2 > 0);
		/* RFC 6979 nonces: the same signature either way */
		CHECK(sl == sl2 && memcmp(sig, sig2, sl) == 0);
		CHECK_EQ_INT(br_ecdsa_i31_vrfy_asn1(ours, hv, 32, &pk, sig2, sl2), 1);
		CHECK_EQ_INT(br_ecdsa_i31_vrfy_asn1(&tls_p256_ec_all, hv, 32, &pk, sig2, sl2), 1);

		hv[it % 32] ^= 1;
		CHECK_EQ_INT(br_ecdsa_i31_vrfy_asn1(ours, hv, 32, &pk, sig, sl), 0);
		hv[it % 32] ^= 1;
		sig[sl - 1] ^= 0x10;
		CHECK_EQ_INT(br_ecdsa_i31_vrfy_asn1(ours, hv, 32, &pk, sig, sl), 0);
		/* raw signatures too */
		unsigned char raw[64];
		size_t rl = br_ecdsa_i31_sign_raw(ours, &br_sha256_vtable, hv, &sk, raw);
		CHECK_EQ_INT(rl, 64);
		CHECK_EQ_INT(br_ecdsa_i31_vrfy_raw(ref, hv, 32, &pk, raw, rl), 1);
		CHECK_EQ_INT(br_ecdsa_i31_vrfy_raw(ours, hv, 32, &pk, raw, rl), 1);
	}
}

/* ECDH: both sides' shared X coordinates agree, whoever computes them. */
static void p256_ecdh(void)
{
	rng_init("ecdh");
	for (int it = 0; it < 100; it++) {
		unsigned char ka[32], kb[32], pa[65], pb[65], sa[65], sb[65];
		rand_scalar(ka, 0);
		rand_scalar(kb, it % 3);
		CHECK_EQ_INT(ours->mulgen(pa, ka, 32, P256), 65);
		CHECK_EQ_INT(ref->mulgen(pb, kb, 32, P256), 65);
		memcpy(sa, pb, 65);
		memcpy(sb, pa, 65);
		CHECK_EQ_INT(ours->mul(sa, 65, ka, 32, P256), 1);
		CHECK_EQ_INT(ref->mul(sb, 65, kb, 32, P256), 1);
		CHECK(memcmp(sa + 1, sb + 1, 32) == 0);
	}
}

/* The wrapper forwards the other curves to br_ec_all_m31. */
static void p256_wrapper_other_curves(void)
{
	rng_init("wrapper");
	unsigned char k[48], a[133], b[133];
	br_hmac_drbg_generate(&rng, k, sizeof k);
	k[0] = 0x7f; /* below the P-384 order */
	size_t la = tls_p256_ec_all.mulgen(a, k, 48, BR_EC_secp384r1);
	size_t lb = br_ec_all_m31.mulgen(b, k, 48, BR_EC_secp384r1);
	CHECK(la == 97 && la == lb && memcmp(a, b, la) == 0);
	CHECK_EQ_INT(tls_p256_ec_all.mul(a, la, k, 48, BR_EC_secp384r1), 1);
	CHECK_EQ_INT(br_ec_all_m31.mul(b, lb, k, 48, BR_EC_secp384r1), 1);
	CHECK(memcmp(a, b, la) == 0);

	unsigned char u[32], v[32];
	size_t gl;
	memcpy(u, br_ec_all_m31.generator(BR_EC_curve25519, &gl), 32);
	memcpy(v, u, 32);
	CHECK_EQ_INT(tls_p256_ec_all.mul(u, 32, k, 32, BR_EC_curve25519), 1);
	CHECK_EQ_INT(br_ec_all_m31.mul(v, 32, k, 32, BR_EC_curve25519), 1);
	CHECK(memcmp(u, v, 32) == 0);
	size_t xl;
	CHECK_EQ_INT(tls_p256_ec_all.xoff(BR_EC_curve25519, &xl), 0);
	CHECK_EQ_INT(xl, 32);

	/* and P-256 goes to ours */
	unsigned char s[32], c[65], d[65];
	rand_scalar(s, 0);
	CHECK_EQ_INT(tls_p256_ec_all.mulgen(c, s, 32, P256), 65);
	ref->mulgen(d, s, 32, P256);
	CHECK(memcmp(c, d, 65) == 0);
}

/* A full TLS 1.2 handshake in memory through BearSSL's engines, the client
 * limited to P-256 (so ECDHE is P-256, not Curve25519): `srv_ec` does the
 * server's ECDHE and ServerKeyExchange signature, `cli_ec` the client's
 * ECDHE and the signature check. The client trusts the key directly
 * (known-key validator), so the "certificate" bytes are never parsed.
 * Returns the server's ECDHE curve, or -1 when the handshake failed. */
static int handshake(const br_ec_impl *srv_ec, const br_ec_impl *cli_ec, bool corrupt_sig)
{
	static unsigned char sbuf[BR_SSL_BUFSIZE_BIDI], cbuf[BR_SSL_BUFSIZE_BIDI];
	static const uint16_t suite[] = {BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256};
	static unsigned char dummy_cert[] = {0x30, 0x03, 0x02, 0x01, 0x00};
	br_x509_certificate chain = {dummy_cert, sizeof dummy_cert};
	unsigned char skb[32], pkb[65], seed[32];
	br_ssl_server_context sc;
	br_ssl_client_context cc;
	br_x509_minimal_context xc;
	br_x509_knownkey_context kk;

	rand_scalar(skb, 0);
	br_ec_private_key sk = {P256, skb, 32};
	br_ec_public_key pk;
	br_ec_compute_pub(ref, &pk, pkb, &sk);
	if (corrupt_sig) /* the client expects another key: the signature must fail */
		ref->mulgen(pkb, (unsigned char[32]){[31] = 7}, 32, P256);

	br_ssl_server_init_full_ec(&sc, &chain, 1, BR_KEYTYPE_EC, &sk);
	br_ssl_server_set_single_ec(&sc, &chain, 1, &sk, BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN,
				    BR_KEYTYPE_EC, srv_ec, br_ecdsa_i31_sign_asn1);
	br_ssl_engine_set_ec(&sc.eng, srv_ec);
	br_ssl_engine_set_versions(&sc.eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(&sc.eng, suite, 1);
	br_ssl_engine_set_buffer(&sc.eng, sbuf, sizeof sbuf, 1);
	br_hmac_drbg_generate(&rng, seed, sizeof seed);
	br_ssl_engine_inject_entropy(&sc.eng, seed, sizeof seed);

	br_ssl_client_init_full(&cc, &xc, NULL, 0);
	br_x509_knownkey_init_ec(&kk, &pk, BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN);
	br_ssl_engine_set_x509(&cc.eng, &kk.vtable);
	br_ssl_engine_set_ec(&cc.eng, cli_ec);
	br_ssl_engine_set_ecdsa(&cc.eng, br_ecdsa_i31_vrfy_asn1);
	br_ssl_engine_set_versions(&cc.eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(&cc.eng, suite, 1);
	br_ssl_engine_set_buffer(&cc.eng, cbuf, sizeof cbuf, 1);
	br_hmac_drbg_generate(&rng, seed, sizeof seed);
	br_ssl_engine_inject_entropy(&cc.eng, seed, sizeof seed);

	if (!br_ssl_server_reset(&sc) || !br_ssl_client_reset(&cc, "p256.test", 0))
		return -1;
	br_ssl_engine_context *e[2] = {&cc.eng, &sc.eng};
	for (int round = 0; round < 100; round++) {
		bool moved = false;
		for (int i = 0; i < 2; i++) {
			size_t len, cap;
			unsigned char *out = br_ssl_engine_sendrec_buf(e[i], &len);
			if (!out)
				continue;
			unsigned char *in = br_ssl_engine_recvrec_buf(e[1 - i], &cap);
			if (!in)
				continue;
			size_t n = len < cap ? len : cap;
			memcpy(in, out, n);
			br_ssl_engine_sendrec_ack(e[i], n);
			br_ssl_engine_recvrec_ack(e[1 - i], n);
			moved = true;
		}
		unsigned s0 = br_ssl_engine_current_state(e[0]);
		unsigned s1 = br_ssl_engine_current_state(e[1]);
		if ((s0 & BR_SSL_CLOSED) || (s1 & BR_SSL_CLOSED))
			return -1;
		if ((s0 & BR_SSL_SENDAPP) && (s1 & BR_SSL_SENDAPP))
			return sc.eng.ecdhe_curve;
		if (!moved)
			return -1;
	}
	return -1;
}

static void p256_tls_handshake(void)
{
	rng_init("handshake");
	/* server ours, client m31; server m31, client ours: P-256 is the only common curve */
	CHECK_EQ_INT(handshake(&tls_p256_ec_all, ref, false), P256);
	CHECK_EQ_INT(handshake(ref, &tls_p256_ec_all, false), P256);
	/* both with every curve: BearSSL servers prefer Curve25519 (forwarded to m31) */
	CHECK_EQ_INT(handshake(&tls_p256_ec_all, &tls_p256_ec_all, false), BR_EC_curve25519);
	CHECK_EQ_INT(handshake(ours, ours, false), P256);
	/* a signature by the wrong key fails with ours verifying */
	CHECK_EQ_INT(handshake(ref, &tls_p256_ec_all, true), -1);
	CHECK_EQ_INT(handshake(&tls_p256_ec_all, ref, true), -1);
}

TEST_MAIN(p256_field_mul_sqr, p256_field_inv, p256_constants, p256_known_answers, p256_mulgen_table,
	  p256_diff_mulgen, p256_diff_mul, p256_diff_muladd, p256_scalar_edges, p256_invalid_points,
	  p256_muladd_edges, p256_ecdsa_cross, p256_ecdh, p256_wrapper_other_curves,
	  p256_tls_handshake)
