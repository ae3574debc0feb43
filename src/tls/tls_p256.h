/* tls_p256.h — constant-time NIST P-256 with 64-bit limbs, as BearSSL EC implementations.
 *
 * BearSSL 0.6's fastest P-256 (br_ec_p256_m31) works on 30-bit words; this
 * one uses 4 x 64-bit limbs, Montgomery multiplication with unsigned
 * __int128 products, Jacobian coordinates, a 4-bit fixed window for
 * arbitrary points and a 64 x 15 precomputed table of generator multiples
 * (60 KiB of constant data) for mulgen. Design, verification and the
 * constant-time rules: docs/internals/tls.md, "P-256 with 64-bit limbs".
 *
 * Both structs follow the br_ec_impl contract of bearssl_ec.h. Beyond it:
 * a result that is the point at infinity (a scalar that is 0 modulo the
 * order) makes mul and muladd return 0 and mulgen return 0 (no length);
 * scalars may be longer than 32 bytes only with zero leading bytes (else
 * the same error); scalars in [n, 2^256) are reduced modulo n.
 */
#ifndef TLS_P256_H
#define TLS_P256_H

#include <bearssl.h>

/* P-256 only (supported_curves = 1 << BR_EC_secp256r1). */
extern const br_ec_impl tls_p256_ec;

/* Every curve of br_ec_all_m31 (P-256, P-384, P-521, Curve25519): P-256
 * through tls_p256_ec, the others forwarded to br_ec_all_m31. The
 * implementation to give BearSSL's engines and ECDSA calls. */
extern const br_ec_impl tls_p256_ec_all;

#endif
