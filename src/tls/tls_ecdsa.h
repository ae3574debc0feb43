/* tls_ecdsa.h — ECDSA P-256 signing with 64-bit-limb arithmetic modulo the group order.
 *
 * tls_ecdsa_p256_sign_asn1 has the br_ecdsa_sign contract of bearssl_ec.h
 * (ASN.1 DER output, at most 72 bytes for P-256; 0 on error). For keys on
 * P-256 it computes the signature itself: the nonce k comes from the same
 * RFC 6979-style HMAC_DRBG procedure as BearSSL's br_ecdsa_i31_sign_raw
 * (seeded with x || (bits2int(h) mod n), candidates that are 0 or >= n
 * skipped), k*G through impl->mulgen, and k^-1 (h + r*x) mod n with
 * constant-time Montgomery arithmetic on 4 x 64-bit limbs (k^-1 by Fermat,
 * k^(n-2)). The signature is therefore byte for byte the one BearSSL's
 * br_ecdsa_i31_sign_asn1 gives, except in the cases r == 0 or s == 0
 * (probability about 2^-255), where this one draws the next k as the
 * standard says and BearSSL returns the degenerate signature. Keys on any
 * other curve are handed to br_ecdsa_i31_sign_asn1.
 *
 * Constant time with respect to the private key and the nonce: no branch
 * or memory index depends on them, except the key-validity test (0 < x < n,
 * an error either way) and the rejection of a nonce candidate (0, >= n, or
 * giving r == 0 or s == 0), which reveals nothing about the nonce finally
 * used. tools/bench/bench_p256.c "ct" checks this under valgrind.
 */
#ifndef TLS_ECDSA_H
#define TLS_ECDSA_H

#include <bearssl.h>
#include <stddef.h>
#include <stdint.h>

size_t tls_ecdsa_p256_sign_asn1(const br_ec_impl *impl, const br_hash_class *hf,
				const void *hash_value, const br_ec_private_key *sk, void *sig);

/* Arithmetic modulo the P-256 order n, exposed for the unit tests.
 * Values are 4 little-endian 64-bit limbs; inputs are < n unless stated,
 * outputs are always < n. Output may alias inputs. */

/* r = a * b / 2^256 mod n (Montgomery multiplication). */
void tls_modn_montmul(uint64_t r[4], const uint64_t a[4], const uint64_t b[4]);
/* r = a * b mod n. */
void tls_modn_mul(uint64_t r[4], const uint64_t a[4], const uint64_t b[4]);
/* r = (a + b) mod n. */
void tls_modn_add(uint64_t r[4], const uint64_t a[4], const uint64_t b[4]);
/* r = a^-1 mod n, as a^(n-2) (so 0 gives 0). */
void tls_modn_inv(uint64_t r[4], const uint64_t a[4]);
/* r = a mod n, for any a < 2^256. */
void tls_modn_reduce(uint64_t r[4], const uint64_t a[4]);
/* Big-endian 32 bytes <-> limbs (no reduction). */
void tls_modn_decode(uint64_t r[4], const unsigned char src[32]);
void tls_modn_encode(unsigned char dst[32], const uint64_t a[4]);

#endif
