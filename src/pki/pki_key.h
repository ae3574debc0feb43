/* pki_key.h — EC P-256 key pairs: generation, DER/PEM forms, public key
 * encodings, signing.
 *
 * One curve only: NIST P-256 (secp256r1), the curve every peer (BearSSL,
 * OpenSSL, browsers) supports for ECDHE_ECDSA suites. A struct pki_key is
 * plain bytes (no pointers), so it can be copied and stored; BearSSL's
 * views of it (br_ec_private_key / br_ec_public_key) point into it and are
 * valid only while the struct lives where it was when the view was taken.
 *
 * Keys come from an OS-seeded DRBG (struct rand): never from a clock or a
 * non-cryptographic generator. Private key bytes are wiped from every
 * temporary this module uses; callers wipe their own copies with
 * pki_key_wipe() / pki_wipe().
 *
 * Encodings (all DER written or checked here, never copied from elsewhere):
 *   private key   SEC1 ECPrivateKey (RFC 5915 §3, PEM "EC PRIVATE KEY"),
 *                 or PKCS#8 OneAsymmetricKey (RFC 5958, PEM "PRIVATE KEY");
 *                 BearSSL writes both, and its decoder reads both.
 *   public key    the uncompressed point 04 || X || Y (SEC1 §2.3.3, 65
 *                 bytes), and SubjectPublicKeyInfo (RFC 5480 §2) around it.
 *   key ID        SHA-1 of the point, RFC 5280 §4.2.1.2 method (1).
 */
#ifndef PKI_KEY_H
#define PKI_KEY_H

#include <stddef.h>

#include <bearssl.h>

#include "base/base_buf.h"
#include "base/base_rand.h"

#define PKI_KEY_PRIV_LEN 32 /* P-256 scalar, big-endian */
#define PKI_KEY_PUB_LEN 65  /* 04 || X || Y */
#define PKI_KEY_ID_LEN 20   /* SHA-1 */
#define PKI_SPKI_LEN 91     /* SubjectPublicKeyInfo of a P-256 key */
#define PKI_SIG_MAX 72      /* DER ECDSA-Sig-Value for P-256 */
#define PKI_KEY_DER_MAX 160 /* PKCS#8 with public key: 138 bytes */
#define PKI_KEY_PEM_MAX 320 /* PEM of PKI_KEY_DER_MAX, with banners */

enum pki_key_format {
	PKI_KEY_SEC1,  /* RFC 5915 ECPrivateKey, "EC PRIVATE KEY" */
	PKI_KEY_PKCS8, /* RFC 5958 OneAsymmetricKey, "PRIVATE KEY" */
};

struct pki_key {
	unsigned char priv[PKI_KEY_PRIV_LEN];
	unsigned char pub[PKI_KEY_PUB_LEN];
};

/* New key pair from `r`. 0, or -ERR_PKI_KEY if BearSSL refuses the curve
 * (a build without P-256: a programming error, reported, not asserted). */
int pki_key_generate(struct pki_key *k, struct rand *r);

/* BearSSL views of *k; valid while *k is neither moved nor freed. */
br_ec_private_key pki_key_br_priv(struct pki_key *k);
br_ec_public_key pki_key_br_pub(struct pki_key *k);

/* Private key DER appended to `out`. -ERR_BUF_FULL when it does not fit
 * (nothing appended), -ERR_PKI_KEY if BearSSL cannot encode it. */
int pki_key_to_der(const struct pki_key *k, enum pki_key_format f, struct buf *out);
/* Read a SEC1 or PKCS#8 EC private key. The curve must be P-256 and the
 * scalar in [1, n-1]; the public key is recomputed from it. 0 or
 * -ERR_PKI_KEY (*k is wiped on error). */
int pki_key_from_der(struct pki_key *k, const void *der, size_t len);
/* PEM forms of the above. from_pem takes the first "EC PRIVATE KEY" or
 * "PRIVATE KEY" object, skipping others (OpenSSL's "EC PARAMETERS"):
 * -ERR_NOTFOUND if there is none, -ERR_PARSE for broken PEM. */
int pki_key_to_pem(const struct pki_key *k, enum pki_key_format f, struct buf *out);
int pki_key_from_pem(struct pki_key *k, const void *pem, size_t len);

/* 0 if (pub, len) is an uncompressed point on P-256 (not the point at
 * infinity), -ERR_PKI_KEY otherwise. Check every key received from a peer. */
int pki_key_pub_check(const unsigned char *pub, size_t len);
/* SubjectPublicKeyInfo DER (id-ecPublicKey, prime256v1), appended. */
int pki_key_spki(const unsigned char pub[PKI_KEY_PUB_LEN], struct buf *out);
/* Key identifier: SHA-1 over the 65-byte point (RFC 5280 §4.2.1.2 (1)). */
void pki_key_id(const unsigned char pub[PKI_KEY_PUB_LEN], unsigned char id[PKI_KEY_ID_LEN]);

/* ECDSA over a SHA-256 digest, deterministic (RFC 6979, BearSSL); DER
 * ECDSA-Sig-Value into sig (PKI_SIG_MAX bytes), length in *siglen.
 * 0 or -ERR_PKI_KEY. */
int pki_key_sign(const struct pki_key *k, const unsigned char hash[32], unsigned char *sig,
		 size_t *siglen);
/* 1 if (sig, siglen) is a valid DER signature of `hash` under pub. */
int pki_key_verify(const unsigned char pub[PKI_KEY_PUB_LEN], const unsigned char hash[32],
		   const unsigned char *sig, size_t siglen);

/* Zero memory in a way the compiler may not drop. */
void pki_wipe(void *p, size_t n);
static inline void pki_key_wipe(struct pki_key *k)
{
	pki_wipe(k, sizeof *k);
}

#endif
