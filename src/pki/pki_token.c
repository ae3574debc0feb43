/* pki_token.c — see pki_token.h. */
#include "pki/pki_token.h"

#include "base/base_err.h"

#include <bearssl.h>
#include <string.h>

static const char hex_digits[] = "0123456789abcdef";
static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567"; /* RFC 4648 §6 */

/* Domain-separation labels; the NUL ends each, so no label is a prefix of
 * a message under another. */
static const char label_verifier[] = "traefikee join verifier v1";
static const char label_proof[] = "traefikee join proof v1";

static char role_char(enum pki_role role)
{
	return role == PKI_ROLE_CONTROL ? 'C' : role == PKI_ROLE_DATA ? 'D' : 0;
}

int pki_ct_eq(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= (unsigned)(x[i] ^ y[i]);
	/* 1 when acc == 0, without a data-dependent branch. */
	return (int)(1 & ((acc - 1) >> 8));
}

void pki_ca_digest(const void *cert_der, size_t len, unsigned char out[PKI_CA_DIGEST_LEN])
{
	br_sha256_context h;
	br_sha256_init(&h);
	br_sha256_update(&h, cert_der, len);
	br_sha256_out(&h, out);
}

int pki_token_new(struct pki_token *t, struct rand *r, enum pki_role role,
		  const unsigned char ca_digest[PKI_CA_DIGEST_LEN])
{
	memset(t, 0, sizeof *t);
	if (!role_char(role))
		return -ERR_INVAL;
	t->role = role;
	memcpy(t->ca_digest, ca_digest, PKI_CA_DIGEST_LEN);
	rand_bytes(r, t->secret, sizeof t->secret);
	return 0;
}

/* RFC 4648 §6, for whole 5-byte groups: 8 characters per group. */
static void b32_encode(const unsigned char *in, size_t n, char *out)
{
	for (size_t g = 0; g < n; g += 5) {
		uint64_t v = 0;
		for (size_t i = 0; i < 5; i++)
			v = v << 8 | in[g + i];
		for (int i = 7; i >= 0; i--) {
			out[g / 5 * 8 + (size_t)i] = b32_alphabet[v & 31];
			v >>= 5;
		}
	}
}

static int b32_value(char c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

/* Decode 8*k characters into 5*k bytes; -1 on a character outside the
 * alphabet (all characters are looked at either way). */
static int b32_decode(const char *in, size_t nchars, unsigned char *out)
{
	int bad = 0;
	for (size_t g = 0; g < nchars; g += 8) {
		uint64_t v = 0;
		for (size_t i = 0; i < 8; i++) {
			int d = b32_value(in[g + i]);
			bad |= d < 0;
			v = v << 5 | (uint64_t)(d & 31);
		}
		for (int i = 4; i >= 0; i--) {
			out[g / 8 * 5 + (size_t)i] = (unsigned char)v;
			v >>= 8;
		}
	}
	return bad ? -1 : 0;
}

void pki_token_format(const struct pki_token *t, char out[PKI_TOKEN_LEN + 1])
{
	char *p = out;
	memcpy(p, PKI_TOKEN_VERSION "-", 5);
	p += 5;
	*p++ = role_char(t->role) ? role_char(t->role) : '?';
	*p++ = '-';
	for (size_t i = 0; i < PKI_CA_DIGEST_LEN; i++) {
		*p++ = hex_digits[t->ca_digest[i] >> 4];
		*p++ = hex_digits[t->ca_digest[i] & 15];
	}
	*p++ = '-';
	b32_encode(t->secret, PKI_TOKEN_SECRET_LEN, p);
	p += PKI_TOKEN_SECRET_CHARS;
	*p = 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int token_bad(struct pki_token *out, const char **why, const char *msg)
{
	pki_token_wipe(out);
	if (why)
		*why = msg;
	return -ERR_PKI_TOKEN_FORMAT;
}

int pki_token_parse(struct slice s, struct pki_token *out, const char **why)
{
	struct slice version, role, digest, secret, rest;
	memset(out, 0, sizeof *out);
	if (why)
		*why = NULL;
	if (s.len == 0)
		return token_bad(out, why, "the join token is empty");

	version = slice_cut(s, '-', &rest);
	if (!slice_eq_cstr(version, PKI_TOKEN_VERSION)) {
		if (version.len >= 3 && memcmp(version.p, "TEE", 3) == 0)
			return token_bad(out, why, "unsupported join token version (want TEE1)");
		return token_bad(out, why, "not a join token: it does not start with TEE1-");
	}
	if (!rest.p)
		return token_bad(out, why,
				 "join token ends after TEE1: role, CA digest and "
				 "secret are missing");
	role = slice_cut(rest, '-', &rest);
	if (slice_eq_cstr(role, "C"))
		out->role = PKI_ROLE_CONTROL;
	else if (slice_eq_cstr(role, "D"))
		out->role = PKI_ROLE_DATA;
	else
		return token_bad(out, why,
				 "join token role must be C (control node) or D "
				 "(data node)");
	if (!rest.p)
		return token_bad(out, why,
				 "join token ends after the role: CA digest and "
				 "secret are missing");
	digest = slice_cut(rest, '-', &rest);
	if (digest.len != PKI_TOKEN_DIGEST_CHARS)
		return token_bad(out, why, "join token CA digest must be 64 hex digits");
	for (size_t i = 0; i < PKI_CA_DIGEST_LEN; i++) {
		int hi = hex_value(digest.p[2 * i]), lo = hex_value(digest.p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return token_bad(out, why,
					 "join token CA digest has a character "
					 "that is not a lowercase hex digit");
		out->ca_digest[i] = (unsigned char)(hi << 4 | lo);
	}
	if (!rest.p)
		return token_bad(out, why,
				 "join token ends after the CA digest: the secret "
				 "is missing");
	secret = rest;
	if (memchr(secret.p, '-', secret.len))
		return token_bad(out, why, "join token has more than four parts");
	if (secret.len != PKI_TOKEN_SECRET_CHARS)
		return token_bad(out, why, "join token secret must be 32 base32 characters");
	if (b32_decode(secret.p, secret.len, out->secret))
		return token_bad(out, why,
				 "join token secret has a character outside "
				 "base32 (a-z, 2-7)");
	return 0;
}

int pki_token_check_role(const struct pki_token *t, enum pki_role want)
{
	return t->role == want ? 0 : -ERR_PKI_TOKEN_ROLE;
}

int pki_token_check_ca(const struct pki_token *t, const void *cert_der, size_t len)
{
	unsigned char d[PKI_CA_DIGEST_LEN];
	pki_ca_digest(cert_der, len, d);
	return pki_ct_eq(d, t->ca_digest, sizeof d) ? 0 : -ERR_PKI_CA_MISMATCH;
}

/* HMAC-SHA256(key, label NUL role digest [nonce pub]). */
static void token_mac(const unsigned char *key, size_t keylen, const char *label, char role,
		      const unsigned char digest[PKI_CA_DIGEST_LEN], const unsigned char *nonce,
		      const unsigned char *pub, unsigned char out[32])
{
	br_hmac_key_context kc;
	br_hmac_context hc;
	br_hmac_key_init(&kc, &br_sha256_vtable, key, keylen);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, label, strlen(label) + 1);
	br_hmac_update(&hc, &role, 1);
	br_hmac_update(&hc, digest, PKI_CA_DIGEST_LEN);
	if (nonce) {
		br_hmac_update(&hc, nonce, PKI_NONCE_LEN);
		br_hmac_update(&hc, pub, PKI_KEY_PUB_LEN);
	}
	br_hmac_out(&hc, out);
	pki_wipe(&kc, sizeof kc);
	pki_wipe(&hc, sizeof hc);
}

void pki_token_verifier(const struct pki_token *t, unsigned char v[PKI_VERIFIER_LEN])
{
	token_mac(t->secret, sizeof t->secret, label_verifier, role_char(t->role), t->ca_digest,
		  NULL, NULL, v);
}

void pki_token_proof(const struct pki_token *t, const unsigned char nonce[PKI_NONCE_LEN],
		     const unsigned char pub[PKI_KEY_PUB_LEN], unsigned char proof[PKI_PROOF_LEN])
{
	unsigned char v[PKI_VERIFIER_LEN];
	pki_token_verifier(t, v);
	token_mac(v, sizeof v, label_proof, role_char(t->role), t->ca_digest, nonce, pub, proof);
	pki_wipe(v, sizeof v);
}

int pki_token_verify_proof(const unsigned char verifier[PKI_VERIFIER_LEN], enum pki_role role,
			   const unsigned char ca_digest[PKI_CA_DIGEST_LEN],
			   const unsigned char nonce[PKI_NONCE_LEN],
			   const unsigned char pub[PKI_KEY_PUB_LEN],
			   const unsigned char proof[PKI_PROOF_LEN])
{
	unsigned char want[PKI_PROOF_LEN];
	char rc = role_char(role);
	if (!rc)
		return -ERR_PKI_BAD_PROOF;
	token_mac(verifier, PKI_VERIFIER_LEN, label_proof, rc, ca_digest, nonce, pub, want);
	int ok = pki_ct_eq(want, proof, sizeof want);
	pki_wipe(want, sizeof want);
	return ok ? 0 : -ERR_PKI_BAD_PROOF;
}

int pki_token_secret_eq(const struct pki_token *a, const struct pki_token *b)
{
	return pki_ct_eq(a->secret, b->secret, PKI_TOKEN_SECRET_LEN);
}
