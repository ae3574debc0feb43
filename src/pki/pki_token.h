/* pki_token.h — join tokens: CA pin + secret, and the join proof.
 *
 * Text form (104 ASCII characters, no spaces):
 *
 *     TEE1-<R>-<CA digest>-<secret>
 *
 *   TEE1       format version 1
 *   R          C (control node) or D (data node): the role the token admits
 *   CA digest  SHA-256 of the cluster CA certificate's DER, 64 lowercase hex
 *              digits: the same value `openssl x509 -in ca.pem -outform DER |
 *              sha256sum` prints, so an operator can check the pin by hand
 *   secret     160 bits from the OS-seeded DRBG, 32 characters of RFC 4648
 *              base32 in lowercase (a-z, 2-7), no padding
 *
 * Use. The joiner parses the token, connects over TLS and refuses the
 * server unless SHA-256 of the presented CA certificate equals the digest
 * (pki_token_check_ca) — before anything secret leaves it. The server sends
 * a fresh nonce; the joiner answers with
 *
 *     V     = HMAC-SHA256(secret, "traefikee join verifier v1" 0 R digest)
 *     proof = HMAC-SHA256(V, "traefikee join proof v1" 0 R digest nonce pub)
 *
 * (pki_token_proof), where pub is the 65-byte public key it wants
 * certified. Control nodes store only V (pki_token_verifier), never the
 * token or the secret; they recompute the proof for the role the joiner
 * asks for and compare in constant time (pki_token_verify_proof). The
 * secret never travels; a proof is bound to one nonce, one key, one role
 * and one CA, so it cannot be replayed for another key or role. See
 * docs/internals/pki.md for the threat model.
 *
 * Secrets are wiped by pki_token_wipe(); the text form contains the secret
 * and must never be logged.
 */
#ifndef PKI_TOKEN_H
#define PKI_TOKEN_H

#include <stddef.h>

#include "base/base_rand.h"
#include "base/base_slice.h"
#include "pki/pki_cert.h"

#define PKI_TOKEN_VERSION "TEE1"
#define PKI_CA_DIGEST_LEN 32
#define PKI_TOKEN_SECRET_LEN 20 /* 160 bits */
#define PKI_TOKEN_DIGEST_CHARS (2 * PKI_CA_DIGEST_LEN)
#define PKI_TOKEN_SECRET_CHARS (PKI_TOKEN_SECRET_LEN * 8 / 5)
#define PKI_TOKEN_LEN (4 + 1 + 1 + 1 + PKI_TOKEN_DIGEST_CHARS + 1 + PKI_TOKEN_SECRET_CHARS)
#define PKI_NONCE_LEN 32
#define PKI_PROOF_LEN 32
#define PKI_VERIFIER_LEN 32

struct pki_token {
	enum pki_role role; /* PKI_ROLE_CONTROL or PKI_ROLE_DATA */
	unsigned char ca_digest[PKI_CA_DIGEST_LEN];
	unsigned char secret[PKI_TOKEN_SECRET_LEN];
};

/* SHA-256 of a CA certificate's DER: the pin a token carries. */
void pki_ca_digest(const void *cert_der, size_t len, unsigned char out[PKI_CA_DIGEST_LEN]);

/* New token for `role` (CONTROL or DATA: -ERR_INVAL otherwise) pinning the
 * CA whose digest is given; the secret comes from `r`. */
int pki_token_new(struct pki_token *t, struct rand *r, enum pki_role role,
		  const unsigned char ca_digest[PKI_CA_DIGEST_LEN]);

/* The text form, NUL-terminated. */
void pki_token_format(const struct pki_token *t, char out[PKI_TOKEN_LEN + 1]);

/* Parse the text form exactly (no surrounding spaces or quotes). 0, or
 * -ERR_PKI_TOKEN_FORMAT with *why (when why is not NULL) set to a static
 * sentence naming the part that is wrong: version, role, CA digest,
 * secret, separators or length. *out is zeroed on error. */
int pki_token_parse(struct slice s, struct pki_token *out, const char **why);

/* 0, or -ERR_PKI_TOKEN_ROLE when the token admits another role (a data-node
 * token offered to start a control node). */
int pki_token_check_role(const struct pki_token *t, enum pki_role want);

/* CA pinning: 0 if SHA-256(cert_der) equals the token's digest, else
 * -ERR_PKI_CA_MISMATCH. */
int pki_token_check_ca(const struct pki_token *t, const void *cert_der, size_t len);

/* What control nodes store for a token: V above. */
void pki_token_verifier(const struct pki_token *t, unsigned char v[PKI_VERIFIER_LEN]);

/* Joiner: proof for the server's nonce and the joiner's public key. */
void pki_token_proof(const struct pki_token *t, const unsigned char nonce[PKI_NONCE_LEN],
		     const unsigned char pub[PKI_KEY_PUB_LEN], unsigned char proof[PKI_PROOF_LEN]);

/* Server: check a proof against the stored verifier of the token for
 * `role`, the server's own CA digest, the nonce it sent and the key the
 * joiner asks to certify. Constant time in the proof and verifier. 0, or
 * -ERR_PKI_BAD_PROOF (also for a role that is not CONTROL or DATA). */
int pki_token_verify_proof(const unsigned char verifier[PKI_VERIFIER_LEN], enum pki_role role,
			   const unsigned char ca_digest[PKI_CA_DIGEST_LEN],
			   const unsigned char nonce[PKI_NONCE_LEN],
			   const unsigned char pub[PKI_KEY_PUB_LEN],
			   const unsigned char proof[PKI_PROOF_LEN]);

/* 1 if the tokens' secrets are equal; constant time. */
int pki_token_secret_eq(const struct pki_token *a, const struct pki_token *b);

/* 1 if a[0..n) equals b[0..n); time depends on n only. */
int pki_ct_eq(const void *a, const void *b, size_t n);

static inline void pki_token_wipe(struct pki_token *t)
{
	pki_wipe(t, sizeof *t);
}

#endif
