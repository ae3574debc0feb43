/* Unit tests for tls_ecdsa: the arithmetic modulo the P-256 order n against
 * a slow bit-serial reference written here (mul, Montgomery mul, add,
 * inverse, reduction of values >= n), and the signatures against BearSSL's
 * br_ecdsa_i31_sign_asn1 byte for byte (random keys and hashes of every
 * length from SHA-1 to SHA-512, edge keys and encodings, hashes >= n),
 * each verified by br_ecdsa_i31_vrfy_asn1; P-384 and P-521 keys go through
 * the fallback.
 *
 * Randomness is an HMAC-DRBG with a fixed seed: every run is the same. */
#include "tls/tls_ecdsa.h"
#include "tls/tls_p256.h"
#include "test.h"

typedef unsigned __int128 u128;

static const uint64_t N[4] = {0xF3B9CAC2FC632551u, 0xBCE6FAADA7179E84u, 0xFFFFFFFFFFFFFFFFu,
			      0xFFFFFFFF00000000u};
static const unsigned char N_BE[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
				       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				       0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
				       0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

static br_hmac_drbg_context rng;

static void rng_init(const char *label)
{
	br_hmac_drbg_init(&rng, &br_sha256_vtable, label, strlen(label));
}

static void rnd(void *p, size_t len)
{
	br_hmac_drbg_generate(&rng, p, len);
}

static unsigned rnd_u(unsigned bound)
{
	uint32_t v;
	rnd(&v, sizeof v);
	return v % bound;
}

/* --- reference arithmetic: plain, branchy, bit-serial -------------------- */

static int ref_cmp(const uint64_t a[4], const uint64_t b[4])
{
	for (int j = 3; j >= 0; j--)
		if (a[j] != b[j])
			return a[j] < b[j] ? -1 : 1;
	return 0;
}

/* a -= b, returns borrow */
static unsigned ref_sub(uint64_t a[4], const uint64_t b[4])
{
	unsigned br = 0;
	for (int j = 0; j < 4; j++) {
		uint64_t x = a[j], y = b[j];
		uint64_t d = x - y - br;
		br = (x < y) || (x == y && br);
		a[j] = d;
	}
	return br;
}

/* a += b, returns carry */
static unsigned ref_add(uint64_t a[4], const uint64_t b[4])
{
	unsigned c = 0;
	for (int j = 0; j < 4; j++) {
		uint64_t s = a[j] + b[j];
		unsigned c1 = s < a[j];
		uint64_t s2 = s + c;
		unsigned c2 = s2 < s;
		a[j] = s2;
		c = c1 | c2;
	}
	return c;
}

/* r = a mod n, any a < 2^256 */
static void ref_mod(uint64_t r[4], const uint64_t a[4])
{
	memcpy(r, a, 32);
	while (ref_cmp(r, N) >= 0)
		ref_sub(r, N);
}

/* r = (a + b) mod n, a, b < n */
static void ref_addmod(uint64_t r[4], const uint64_t a[4], const uint64_t b[4])
{
	uint64_t t[4];
	memcpy(t, a, 32);
	unsigned c = ref_add(t, b);
	if (c || ref_cmp(t, N) >= 0)
		ref_sub(t, N);
	memcpy(r, t, 32);
}

/* r = a * b mod n by double-and-add over b's bits, a, b < n */
static void ref_mulmod(uint64_t r[4], const uint64_t a[4], const uint64_t b[4])
{
	uint64_t acc[4] = {0, 0, 0, 0};
	for (int i = 255; i >= 0; i--) {
		ref_addmod(acc, acc, acc);
		if ((b[i >> 6] >> (i & 63)) & 1)
			ref_addmod(acc, acc, a);
	}
	memcpy(r, acc, 32);
}

static void rnd_mod_n(uint64_t a[4])
{
	uint64_t t[4];
	rnd(t, sizeof t);
	ref_mod(a, t);
}

static int is_eq(const uint64_t a[4], const uint64_t b[4])
{
	return memcmp(a, b, 32) == 0;
}

/* Interesting values below n. */
static void edge_value(uint64_t a[4], int i)
{
	static const uint64_t one[4] = {1, 0, 0, 0};
	memset(a, 0, 32);
	switch (i) {
	case 0: break;           /* 0 */
	case 1: a[0] = 1; break; /* 1 */
	case 2: a[0] = 2; break; /* 2 */
	case 3:
		memcpy(a, N, 32);
		ref_sub(a, one);
		break; /* n - 1 */
	case 4:
		memcpy(a, N, 32);
		a[0] -= 2;
		break;                      /* n - 2 */
	case 5: a[3] = 1ull << 63; break;   /* 2^255 */
	case 6: a[0] = a[1] = ~0ull; break; /* 2^128 - 1 */
	case 7: a[0] = ~0ull; break;        /* 2^64 - 1 */
	case 8:
		memcpy(a, N, 32);
		a[0] = 0;
		break; /* n with a zero low limb */
	case 9:
		a[3] = 0xFFFFFFFEFFFFFFFFu;
		a[2] = a[1] = a[0] = ~0ull;
		break; /* < n */
	default: a[(unsigned)i & 3] = 1ull << (i & 63); break;
	}
}

/* --- arithmetic ----------------------------------------------------------- */

static void check_mul(const uint64_t a[4], const uint64_t b[4])
{
	uint64_t want[4], got[4], mm[4], r_mod_n[4], back[4];
	ref_mulmod(want, a, b);
	tls_modn_mul(got, a, b);
	if (!is_eq(got, want)) {
		TEST_FAIL_("mul %016llx.. * %016llx..", (unsigned long long)a[3],
			   (unsigned long long)b[3]);
		return;
	}
	/* montmul(a, b) * R == a b */
	uint64_t r256[4] = {0, 0, 0, 0};
	ref_sub(r256, N); /* 2^256 - n = R mod n */
	ref_mod(r_mod_n, r256);
	tls_modn_montmul(mm, a, b);
	CHECK(ref_cmp(mm, N) < 0);
	ref_mulmod(back, mm, r_mod_n);
	CHECK(is_eq(back, want));
}

static void test_modn_mul(void)
{
	rng_init("modn mul");
	uint64_t a[4], b[4];
	for (int i = 0; i < 12; i++)
		for (int j = 0; j < 12; j++) {
			edge_value(a, i);
			edge_value(b, j);
			check_mul(a, b);
		}
	for (int i = 0; i < 3000; i++) {
		rnd_mod_n(a);
		if (i % 3 == 0)
			edge_value(b, (int)rnd_u(80));
		else
			rnd_mod_n(b);
		check_mul(a, b);
		check_mul(b, a);
	}
}

static void test_modn_add_reduce(void)
{
	rng_init("modn add");
	uint64_t a[4], b[4], want[4], got[4];
	for (int i = 0; i < 12; i++)
		for (int j = 0; j < 12; j++) {
			edge_value(a, i);
			edge_value(b, j);
			ref_addmod(want, a, b);
			tls_modn_add(got, a, b);
			CHECK(is_eq(got, want));
		}
	for (int i = 0; i < 5000; i++) {
		rnd_mod_n(a);
		rnd_mod_n(b);
		ref_addmod(want, a, b);
		tls_modn_add(got, a, b);
		CHECK(is_eq(got, want));
	}
	/* Reduction: values >= n (n, n+1, 2^256-1, random in [n, 2^256)) and < n. */
	static const uint64_t one[4] = {1, 0, 0, 0};
	uint64_t v[4];
	memcpy(v, N, 32);
	tls_modn_reduce(got, v);
	CHECK(got[0] == 0 && got[1] == 0 && got[2] == 0 && got[3] == 0);
	ref_add(v, one);
	tls_modn_reduce(got, v);
	CHECK(is_eq(got, one));
	memset(v, 0xff, 32);
	tls_modn_reduce(got, v);
	ref_mod(want, v);
	CHECK(is_eq(got, want));
	for (int i = 0; i < 5000; i++) {
		rnd(v, sizeof v);
		if (i & 1)
			v[3] |= 0xFFFFFFFF00000000u; /* mostly >= n */
		ref_mod(want, v);
		tls_modn_reduce(got, v);
		CHECK(is_eq(got, want));
	}
	for (int i = 0; i < 80; i++) {
		edge_value(v, i);
		tls_modn_reduce(got, v);
		CHECK(is_eq(got, v));
	}
	/* encode/decode */
	unsigned char be[32];
	tls_modn_decode(v, N_BE);
	CHECK(is_eq(v, N));
	tls_modn_encode(be, N);
	CHECK(memcmp(be, N_BE, 32) == 0);
}

static void check_inv(const uint64_t a[4])
{
	static const uint64_t one[4] = {1, 0, 0, 0};
	uint64_t inv[4], prod[4];
	tls_modn_inv(inv, a);
	CHECK(ref_cmp(inv, N) < 0);
	ref_mulmod(prod, a, inv);
	if (!is_eq(prod, one))
		TEST_FAIL_("inverse of %016llx%016llx%016llx%016llx", (unsigned long long)a[3],
			   (unsigned long long)a[2], (unsigned long long)a[1],
			   (unsigned long long)a[0]);
}

static void test_modn_inv(void)
{
	rng_init("modn inv");
	uint64_t a[4], r[4];
	edge_value(a, 0);
	tls_modn_inv(r, a);
	CHECK(r[0] == 0 && r[1] == 0 && r[2] == 0 && r[3] == 0); /* 0^(n-2) */
	edge_value(a, 1);
	tls_modn_inv(r, a);
	CHECK(is_eq(r, a)); /* 1 */
	edge_value(a, 3);
	tls_modn_inv(r, a);
	CHECK(is_eq(r, a)); /* n - 1 is its own inverse */
	for (int i = 1; i < 80; i++) {
		edge_value(a, i);
		check_inv(a);
	}
	for (int i = 0; i < 400; i++) {
		rnd_mod_n(a);
		check_inv(a);
	}
}

/* --- signatures ----------------------------------------------------------- */

static const br_hash_class *hash_of_len(size_t len)
{
	switch (len) {
	case 20: return &br_sha1_vtable;
	case 28: return &br_sha224_vtable;
	case 32: return &br_sha256_vtable;
	case 48: return &br_sha384_vtable;
	default: return &br_sha512_vtable;
	}
}

static int n_sigs;

/* bits2int(h) mod n == 0? (The hash is then 0 or n.) */
static int hash_is_zero_mod_n(const unsigned char *hv, size_t hlen)
{
	unsigned char b[32] = {0};
	uint64_t m[4], r[4];
	if (hlen >= 32)
		memcpy(b, hv, 32);
	else
		memcpy(b + 32 - hlen, hv, hlen);
	tls_modn_decode(m, b);
	ref_mod(r, m);
	return (r[0] | r[1] | r[2] | r[3]) == 0;
}

/* BearSSL's verifier refuses a hash that is 0 mod n (u1 = 0 makes its muladd
 * fail). Then check by hand: r == X((r / s) Q) mod n. */
static int verify_zero_hash(const br_ec_public_key *pk, const unsigned char *der, size_t len)
{
	unsigned char raw[80], u2b[32], q[65];
	uint64_t r[4], s[4], si[4], u2[4], one[4] = {1, 0, 0, 0}, xq[4];
	memcpy(raw, der, len);
	if (br_ecdsa_asn1_to_raw(raw, len) != 64 || pk->qlen != 65)
		return 0;
	tls_modn_decode(r, raw);
	tls_modn_decode(s, raw + 32);
	tls_modn_inv(si, s);
	ref_mulmod(u2, si, one); /* si < n */
	CHECK(is_eq(u2, si));
	ref_mulmod(u2, r, si);
	tls_modn_encode(u2b, u2);
	memcpy(q, pk->q, 65);
	if (!br_ec_p256_m31.mul(q, 65, u2b, 32, BR_EC_secp256r1))
		return 0;
	tls_modn_decode(xq, q + 1);
	ref_mod(xq, xq);
	return is_eq(xq, r);
}

/* Sign with ours and BearSSL's; both results must be equal (length and
 * bytes); a non-zero one must verify. Returns the length. */
static size_t check_sign(const br_ec_impl *impl, const br_hash_class *hf, const void *hv,
			 const br_ec_private_key *sk)
{
	unsigned char s1[160], s2[160], pub[140];
	memset(s1, 0xAA, sizeof s1);
	memset(s2, 0x55, sizeof s2);
	size_t l1 = tls_ecdsa_p256_sign_asn1(impl, hf, hv, sk, s1);
	size_t l2 = br_ecdsa_i31_sign_asn1(impl, hf, hv, sk, s2);
	n_sigs++;
	if (l1 != l2 || memcmp(s1, s2, l1) != 0) {
		TEST_FAIL_("signature differs from BearSSL's (curve %d, xlen %zu, hash %zu bytes, "
			   "lengths %zu/%zu)",
			   sk->curve, sk->xlen,
			   (size_t)((hf->desc >> BR_HASHDESC_OUT_OFF) & BR_HASHDESC_OUT_MASK), l1,
			   l2);
		return l1;
	}
	if (l1 == 0)
		return 0;
	size_t hlen = (hf->desc >> BR_HASHDESC_OUT_OFF) & BR_HASHDESC_OUT_MASK;
	size_t pl = br_ec_compute_pub(&br_ec_all_m31, NULL, pub, sk);
	br_ec_public_key pk = {sk->curve, pub, pl};
	if (pl == 0 || !br_ecdsa_i31_vrfy_asn1(&br_ec_all_m31, hv, hlen, &pk, s1, l1)) {
		if (sk->curve == BR_EC_secp256r1 && hash_is_zero_mod_n(hv, hlen) &&
		    verify_zero_hash(&pk, s1, l1))
			return l1;
		TEST_FAIL_("signature does not verify (curve %d)", sk->curve);
	}
	return l1;
}

static void test_sign_random(void)
{
	rng_init("ecdsa sign random");
	static const size_t lens[] = {20, 32, 48, 64, 28};
	for (int i = 0; i < 2500; i++) {
		unsigned char x[32], hv[64];
		rnd(x, sizeof x);
		if (i % 4 == 0)
			x[0] &= 0x7f; /* mostly below n already; leave some >= n */
		rnd(hv, sizeof hv);
		const br_hash_class *hf = hash_of_len(lens[i % 5]);
		br_ec_private_key sk = {BR_EC_secp256r1, x, 32};
		check_sign(i & 1 ? &tls_p256_ec_all : &tls_p256_ec, hf, hv, &sk);
		if (test_failures_ > 5)
			return;
	}
}

static void test_sign_hash_lengths(void)
{
	rng_init("ecdsa hash lengths");
	static const size_t lens[] = {20, 28, 32, 48, 64};
	unsigned char x[32], hv[64];
	rnd(x, sizeof x);
	x[0] &= 0x7f;
	br_ec_private_key sk = {BR_EC_secp256r1, x, 32};
	for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
		const br_hash_class *hf = hash_of_len(lens[l]);
		for (int i = 0; i < 40; i++) {
			rnd(hv, sizeof hv);
			if (i == 0)
				memset(hv, 0xff, sizeof hv); /* leftmost 256 bits >= n */
			if (i == 1)
				memcpy(hv, N_BE, 32); /* exactly n: reduces to 0 */
			if (i == 2)
				memset(hv, 0, sizeof hv);
			CHECK(check_sign(&tls_p256_ec_all, hf, hv, &sk) > 0);
		}
	}
	/* The bytes past the hash length do not matter, those before do. */
	unsigned char s1[80], s2[80];
	rnd(hv, sizeof hv);
	size_t l1 = tls_ecdsa_p256_sign_asn1(&tls_p256_ec_all, &br_sha1_vtable, hv, &sk, s1);
	hv[25] ^= 1;
	size_t l2 = tls_ecdsa_p256_sign_asn1(&tls_p256_ec_all, &br_sha1_vtable, hv, &sk, s2);
	CHECK(l1 == l2 && memcmp(s1, s2, l1) == 0);
	hv[19] ^= 1;
	l2 = tls_ecdsa_p256_sign_asn1(&tls_p256_ec_all, &br_sha1_vtable, hv, &sk, s2);
	CHECK(l1 != l2 || memcmp(s1, s2, l1) != 0);
}

static void test_sign_edge_keys(void)
{
	rng_init("ecdsa edge keys");
	unsigned char hv[64], x[40];
	memset(x, 0, sizeof x);
	rnd(hv, sizeof hv);
	br_ec_private_key sk = {BR_EC_secp256r1, x, 32};

	memset(x, 0, 32); /* x = 1 */
	x[31] = 1;
	CHECK(check_sign(&tls_p256_ec_all, &br_sha256_vtable, hv, &sk) > 0);
	memcpy(x, N_BE, 32); /* x = n - 1 */
	x[31] -= 1;
	CHECK(check_sign(&tls_p256_ec_all, &br_sha256_vtable, hv, &sk) > 0);
	CHECK(check_sign(&tls_p256_ec_all, &br_sha512_vtable, hv, &sk) > 0);
	x[31] -= 1; /* n - 2 */
	CHECK(check_sign(&tls_p256_ec_all, &br_sha1_vtable, hv, &sk) > 0);

	/* Invalid: x = 0, x = n, x = 2^256 - 1: both refuse. */
	memset(x, 0, 32);
	CHECK(check_sign(&tls_p256_ec_all, &br_sha256_vtable, hv, &sk) == 0);
	memcpy(x, N_BE, 32);
	CHECK(check_sign(&tls_p256_ec_all, &br_sha256_vtable, hv, &sk) == 0);
	memset(x, 0xff, 32);
	CHECK(check_sign(&tls_p256_ec_all, &br_sha256_vtable, hv, &sk) == 0);

	/* Other lengths: 1 byte, 33 bytes with a leading zero (valid), 33 with a
	 * leading non-zero byte (invalid), 0 bytes (invalid). */
	x[0] = 7;
	sk.xlen = 1;
	CHECK(check_sign(&tls_p256_ec_all, &br_sha256_vtable, hv, &sk) > 0);
	x[0] = 0;
	rnd(x + 1, 32);
	x[1] &= 0x7f;
	sk.xlen = 33;
	CHECK(check_sign(&tls_p256_ec_all, &br_sha256_vtable, hv, &sk) > 0);
	memset(x, 0, 8);
	x[7] = 1;
	sk.xlen = 40; /* 8 leading bytes, the first non-zero... */
	x[0] = 1;
	x[7] = 0;
	CHECK(check_sign(&tls_p256_ec_all, &br_sha256_vtable, hv, &sk) == 0);
	x[0] = 0;
	x[7] = 1;
	CHECK(check_sign(&tls_p256_ec_all, &br_sha256_vtable, hv, &sk) == 0);
	x[7] = 0; /* ...all zero: valid */
	CHECK(check_sign(&tls_p256_ec_all, &br_sha256_vtable, hv, &sk) > 0);
	sk.xlen = 0;
	CHECK(check_sign(&tls_p256_ec_all, &br_sha256_vtable, hv, &sk) == 0);

	/* An implementation without P-256: both refuse. */
	memset(x, 0, 32);
	x[31] = 5;
	sk.xlen = 32;
	unsigned char sig[80];
	CHECK(tls_ecdsa_p256_sign_asn1(&br_ec_c25519_m31, &br_sha256_vtable, hv, &sk, sig) == 0);
}

static void test_sign_fallback(void)
{
	rng_init("ecdsa fallback");
	unsigned char x[66], hv[64];
	for (int i = 0; i < 10; i++) {
		rnd(x, sizeof x);
		rnd(hv, sizeof hv);
		x[0] = 0x01; /* P-521: 66 bytes below n; P-384: 48 bytes, first below 0xff */
		br_ec_private_key k384 = {BR_EC_secp384r1, x + 18, 48};
		x[18] &= 0x7f;
		CHECK(check_sign(&tls_p256_ec_all, &br_sha384_vtable, hv, &k384) > 0);
		CHECK(check_sign(&br_ec_all_m31, &br_sha256_vtable, hv, &k384) > 0);
		br_ec_private_key k521 = {BR_EC_secp521r1, x, 66};
		CHECK(check_sign(&tls_p256_ec_all, &br_sha512_vtable, hv, &k521) > 0);
	}
}

static void test_zz_count(void)
{
	printf("  %d signatures compared with BearSSL's\n", n_sigs);
	CHECK(n_sigs > 2500);
}

TEST_MAIN(test_modn_mul, test_modn_add_reduce, test_modn_inv, test_sign_random,
	  test_sign_hash_lengths, test_sign_edge_keys, test_sign_fallback, test_zz_count)
