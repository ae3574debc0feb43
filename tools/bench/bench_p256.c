/* bench_p256.c — P-256 speed: tls_p256_ec (64-bit limbs) against BearSSL's
 * br_ec_p256_m31, our ECDSA signer (tls_ecdsa.c) against BearSSL's, and a
 * constant-time check under valgrind.
 *
 * Not built by the Makefile; run by hand (static musl, the shipped -Os, or -O2):
 *
 *   musl-gcc -static -std=c11 -D_GNU_SOURCE -Os -Isrc -isystem build/deps/include/bearssl \
 *       -o build/bench/bench_p256 tools/bench/bench_p256.c src/tls/tls_p256.c \
 *       src/tls/tls_ecdsa.c build/deps/lib/libbearssl.a
 *   build/bench/bench_p256 [SECONDS_PER_FIGURE]        (default 0.5)
 *
 * Figures: microseconds per mul (arbitrary point), mulgen (generator),
 * muladd (B = NULL, as ECDSA verification) and a full ECDSA sign
 * (br_ecdsa_i31_sign_asn1, SHA-256 hash, RFC 6979 nonce), for each impl;
 * the same signature by tls_ecdsa_p256_sign_asn1 ("ecdsa ours", same
 * bytes, our arithmetic modulo n); and one X25519 multiplication by
 * br_ec_c25519_m31 for comparison.
 *
 * Instruction counts (callgrind, noise-free): "sign-bear N" and
 * "sign-ours N" make N signatures with tls_p256_ec_all, e.g.
 *
 *   valgrind --tool=callgrind --toggle-collect=br_ecdsa_i31_sign_asn1 \
 *       build/bench/bench_p256 sign-bear 100
 *   valgrind --tool=callgrind --toggle-collect=tls_ecdsa_p256_sign_asn1 \
 *       build/bench/bench_p256 sign-ours 100
 *
 * Constant-time check (glibc build, valgrind's memcheck headers):
 *
 *   gcc -std=c11 -D_GNU_SOURCE -O2 -gdwarf-4 -Isrc -o build/bench/bench_p256_ct \
 *       tools/bench/bench_p256.c src/tls/tls_p256.c -lbearssl
 *   valgrind --error-exitcode=1 build/bench/bench_p256_ct ct
 *
 * "ct" marks the scalar bytes undefined (VALGRIND_MAKE_MEM_UNDEFINED) and
 * calls mul, mulgen and muladd of tls_p256_ec: memcheck then reports any
 * conditional jump or memory address that depends on the scalar. The
 * results are marked defined again before they are looked at.
 */
#include "tls/tls_ecdsa.h"
#include "tls/tls_p256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time: the build VM is shared */
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned char sk_bytes[32], pt[65], hv[32];
static volatile unsigned sink;

enum op { OP_MUL, OP_MULGEN, OP_MULADD, OP_SIGN, OP_SIGN_OURS };
static const char *op_name[] = {"mul", "mulgen", "muladd", "ecdsa sign", "ecdsa ours"};

static void run_once(const br_ec_impl *impl, enum op op, unsigned i)
{
	unsigned char buf[65], sig[80], k[32];
	memcpy(k, sk_bytes, 32);
	k[31] ^= (unsigned char)i; /* vary the scalar a little */
	switch (op) {
	case OP_MUL:
		memcpy(buf, pt, 65);
		sink += impl->mul(buf, 65, k, 32, BR_EC_secp256r1);
		break;
	case OP_MULGEN: sink += (unsigned)impl->mulgen(buf, k, 32, BR_EC_secp256r1); break;
	case OP_MULADD:
		memcpy(buf, pt, 65);
		sink += impl->muladd(buf, NULL, 65, k, 32, sk_bytes, 32, BR_EC_secp256r1);
		break;
	case OP_SIGN: {
		br_ec_private_key sk = {BR_EC_secp256r1, k, 32};
		sink += (unsigned)br_ecdsa_i31_sign_asn1(impl, &br_sha256_vtable, hv, &sk, sig);
		break;
	}
	case OP_SIGN_OURS: {
		br_ec_private_key sk = {BR_EC_secp256r1, k, 32};
		sink += (unsigned)tls_ecdsa_p256_sign_asn1(impl, &br_sha256_vtable, hv, &sk, sig);
		break;
	}
	}
}

/* Microseconds per operation over about `secs` seconds. */
static double measure(const br_ec_impl *impl, enum op op, double secs)
{
	unsigned n = 0;
	double t0 = now(), t;
	do {
		for (int j = 0; j < 20; j++)
			run_once(impl, op, n++);
		t = now();
	} while (t - t0 < secs);
	return (t - t0) * 1e6 / n;
}

static int ct_check(void)
{
#ifdef HAVE_MEMCHECK
	unsigned char k[32], buf[65], out[65], y[32];
	memcpy(k, sk_bytes, 32);
	memcpy(y, hv, 32);
	y[0] &= 0x7f;

	memcpy(buf, pt, 65);
	VALGRIND_MAKE_MEM_UNDEFINED(k, sizeof k);
	uint32_t r1 = tls_p256_ec.mul(buf, 65, k, 32, BR_EC_secp256r1);
	VALGRIND_MAKE_MEM_DEFINED(&r1, sizeof r1);
	VALGRIND_MAKE_MEM_DEFINED(buf, sizeof buf);

	size_t r2 = tls_p256_ec.mulgen(out, k, 32, BR_EC_secp256r1);
	VALGRIND_MAKE_MEM_DEFINED(&r2, sizeof r2);
	VALGRIND_MAKE_MEM_DEFINED(out, sizeof out);

	/* ECDSA-signing-like scalar lengths: 33 bytes with a leading zero */
	unsigned char k33[33] = {0};
	memcpy(k33 + 1, sk_bytes, 32);
	VALGRIND_MAKE_MEM_UNDEFINED(k33, sizeof k33);
	size_t r3 = tls_p256_ec.mulgen(out, k33, 33, BR_EC_secp256r1);
	VALGRIND_MAKE_MEM_DEFINED(&r3, sizeof r3);
	VALGRIND_MAKE_MEM_DEFINED(out, sizeof out);

	memcpy(buf, pt, 65);
	VALGRIND_MAKE_MEM_UNDEFINED(y, sizeof y);
	uint32_t r4 = tls_p256_ec.muladd(buf, pt, 65, k, 32, y, 32, BR_EC_secp256r1);
	VALGRIND_MAKE_MEM_DEFINED(&r4, sizeof r4);
	memcpy(buf, pt, 65); /* the result is secret-derived: start again from the public point */
	uint32_t r5 = tls_p256_ec.muladd(buf, NULL, 65, k, 32, y, 32, BR_EC_secp256r1);
	VALGRIND_MAKE_MEM_DEFINED(&r5, sizeof r5);
	printf("ct: mul %u mulgen %zu/%zu muladd %u/%u (memcheck reports above, if any)\n", r1, r2,
	       r3, r4, r5);

	/* Arithmetic modulo n (tls_ecdsa.c) on secret operands. */
	uint64_t a[4], b[4], c[4];
	tls_modn_decode(a, k);
	tls_modn_decode(b, y);
	VALGRIND_MAKE_MEM_UNDEFINED(a, sizeof a);
	VALGRIND_MAKE_MEM_UNDEFINED(b, sizeof b);
	tls_modn_reduce(a, a);
	tls_modn_mul(c, a, b);
	tls_modn_add(c, c, b);
	tls_modn_inv(c, c);
	VALGRIND_MAKE_MEM_DEFINED(c, sizeof c);
	printf("ct: modn reduce/mul/add/inv done (memcheck reports above, if any)\n");

	/* A whole signature with a secret key. Reports expected, and only
	 * these: in sign_raw_p256 the key-validity test (0 < x < n), the
	 * nonce-candidate rejections (0 < k < n, mulgen's status, r != 0,
	 * s != 0), which say nothing of the k finally used; and in BearSSL's
	 * br_ecdsa_raw_to_asn1 the leading-zero handling of the (public) r
	 * and s. */
	unsigned char sig[80];
	br_ec_private_key sk = {BR_EC_secp256r1, k, 32};
	memcpy(k, sk_bytes, 32);
	VALGRIND_MAKE_MEM_UNDEFINED(k, sizeof k);
	size_t sl = tls_ecdsa_p256_sign_asn1(&tls_p256_ec, &br_sha256_vtable, hv, &sk, sig);
	VALGRIND_MAKE_MEM_DEFINED(&sl, sizeof sl);
	printf("ct: ecdsa sign %zu bytes (memcheck reports above, if any)\n", sl);
	return 0;
#else
	fprintf(stderr, "bench_p256: built without <valgrind/memcheck.h>\n");
	return 2;
#endif
}

int main(int argc, char **argv)
{
	br_hmac_drbg_context rng;
	br_hmac_drbg_init(&rng, &br_sha256_vtable, "bench_p256", 10);
	br_hmac_drbg_generate(&rng, sk_bytes, 32);
	sk_bytes[0] &= 0x7f; /* below the order */
	br_hmac_drbg_generate(&rng, hv, 32);
	br_ec_p256_m31.mulgen(pt, hv, 32, BR_EC_secp256r1); /* a random public point */

	if (argc > 1 && strcmp(argv[1], "ct") == 0)
		return ct_check();
	if (argc > 1 && strncmp(argv[1], "sign-", 5) == 0) {
		int ours = strcmp(argv[1], "sign-ours") == 0;
		unsigned count = argc > 2 ? (unsigned)atoi(argv[2]) : 100;
		for (unsigned i = 0; i < count; i++)
			run_once(&tls_p256_ec_all, ours ? OP_SIGN_OURS : OP_SIGN, i);
		printf("%u signatures (%s)\n", count, ours ? "tls_ecdsa" : "br_ecdsa_i31");
		return 0;
	}
	double secs = argc > 1 ? atof(argv[1]) : 0.5;
	if (secs <= 0)
		secs = 0.5;
	printf("%-11s %12s %12s %8s\n", "op (us)", "p256_m31", "tls_p256", "speed-up");
	for (int op = OP_MUL; op <= OP_SIGN_OURS; op++) {
		double a = measure(&br_ec_p256_m31, (enum op)op, secs);
		double b = measure(&tls_p256_ec, (enum op)op, secs);
		printf("%-11s %12.1f %12.1f %7.2fx\n", op_name[op], a, b, a / b);
	}
	/* For comparison: BearSSL's X25519, which its servers prefer for ECDHE. */
	unsigned n = 0;
	double t0 = now(), t;
	do {
		unsigned char u[32];
		size_t gl;
		memcpy(u, br_ec_c25519_m31.generator(BR_EC_curve25519, &gl), 32);
		sink += br_ec_c25519_m31.mul(u, 32, sk_bytes, 32, BR_EC_curve25519);
		n++;
		t = now();
	} while (t - t0 < secs);
	printf("%-11s %12.1f  (c25519_m31 mul, for comparison)\n", "x25519", (t - t0) * 1e6 / n);
	return 0;
}
