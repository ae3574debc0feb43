/* pki_key.c — see pki_key.h. */
#include "pki/pki_key.h"

#include "base/base_err.h"
#include "pki/pki_der.h"
#include "pki/pki_pem.h"

#include <string.h>

/* 1.2.840.10045.2.1 id-ecPublicKey and 1.2.840.10045.3.1.7 prime256v1
 * (RFC 5480 §2.1.1), as encoded OID contents. */
static const unsigned char oid_ec_public_key[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const unsigned char oid_prime256v1[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

/* The order n of the P-256 base point (FIPS 186-4 §D.1.2.3). */
static const unsigned char p256_order[PKI_KEY_PRIV_LEN] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
	0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

void pki_wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

br_ec_private_key pki_key_br_priv(struct pki_key *k)
{
	return (br_ec_private_key){BR_EC_secp256r1, k->priv, sizeof k->priv};
}

br_ec_public_key pki_key_br_pub(struct pki_key *k)
{
	return (br_ec_public_key){BR_EC_secp256r1, k->pub, sizeof k->pub};
}

/* Public point from the scalar in k->priv. 0 or -ERR_PKI_KEY. */
static int key_compute_pub(struct pki_key *k)
{
	br_ec_private_key sk = pki_key_br_priv(k);
	unsigned char pub[BR_EC_KBUF_PUB_MAX_SIZE];
	size_t n = br_ec_compute_pub(br_ec_get_default(), NULL, pub, &sk);
	if (n != PKI_KEY_PUB_LEN)
		return -ERR_PKI_KEY;
	memcpy(k->pub, pub, PKI_KEY_PUB_LEN);
	return 0;
}

int pki_key_generate(struct pki_key *k, struct rand *r)
{
	unsigned char kbuf[BR_EC_KBUF_PRIV_MAX_SIZE];
	size_t n = br_ec_keygen(rand_prng(r), br_ec_get_default(), NULL, kbuf, BR_EC_secp256r1);
	int rc = -ERR_PKI_KEY;
	if (n == PKI_KEY_PRIV_LEN) {
		memcpy(k->priv, kbuf, PKI_KEY_PRIV_LEN);
		rc = key_compute_pub(k);
	}
	pki_wipe(kbuf, sizeof kbuf);
	if (rc)
		pki_key_wipe(k);
	return rc;
}

int pki_key_to_der(const struct pki_key *k, enum pki_key_format f, struct buf *out)
{
	br_ec_private_key sk = {BR_EC_secp256r1, (unsigned char *)k->priv, PKI_KEY_PRIV_LEN};
	br_ec_public_key pk = {BR_EC_secp256r1, (unsigned char *)k->pub, PKI_KEY_PUB_LEN};
	size_t (*enc)(void *, const br_ec_private_key *, const br_ec_public_key *) =
		f == PKI_KEY_PKCS8 ? br_encode_ec_pkcs8_der : br_encode_ec_raw_der;
	size_t n = enc(NULL, &sk, &pk);
	if (n == 0)
		return -ERR_PKI_KEY;
	if (buf_avail(out) < n)
		return -ERR_BUF_FULL;
	enc(out->data + out->len, &sk, &pk);
	out->len += n;
	return 0;
}

/* 1 if the big-endian scalar x (any length) is in [1, n-1]. Not constant
 * time: it runs once when a stored key is loaded, on no path a peer can time. */
static int key_scalar_ok(const unsigned char *x, size_t len)
{
	while (len > PKI_KEY_PRIV_LEN) {
		if (*x)
			return 0;
		x++;
		len--;
	}
	unsigned char v[PKI_KEY_PRIV_LEN] = {0};
	memcpy(v + PKI_KEY_PRIV_LEN - len, x, len);
	unsigned nonzero = 0;
	int lt = 0, decided = 0;
	for (size_t i = 0; i < PKI_KEY_PRIV_LEN; i++) {
		nonzero |= v[i];
		if (!decided && v[i] != p256_order[i]) {
			lt = v[i] < p256_order[i];
			decided = 1;
		}
	}
	pki_wipe(v, sizeof v);
	return nonzero && lt;
}

int pki_key_from_der(struct pki_key *k, const void *der, size_t len)
{
	br_skey_decoder_context dc;
	int rc = -ERR_PKI_KEY;
	br_skey_decoder_init(&dc);
	br_skey_decoder_push(&dc, der, len);
	const br_ec_private_key *sk = NULL;
	if (br_skey_decoder_last_error(&dc) == 0 && br_skey_decoder_key_type(&dc) == BR_KEYTYPE_EC)
		sk = br_skey_decoder_get_ec(&dc);
	if (sk && sk->curve == BR_EC_secp256r1 && key_scalar_ok(sk->x, sk->xlen)) {
		const unsigned char *x = sk->x;
		size_t xlen = sk->xlen;
		while (xlen > PKI_KEY_PRIV_LEN) { /* leading zeros, checked above */
			x++;
			xlen--;
		}
		memset(k->priv, 0, sizeof k->priv);
		memcpy(k->priv + PKI_KEY_PRIV_LEN - xlen, x, xlen);
		rc = key_compute_pub(k);
	}
	pki_wipe(&dc, sizeof dc);
	if (rc)
		pki_key_wipe(k);
	return rc;
}

int pki_key_to_pem(const struct pki_key *k, enum pki_key_format f, struct buf *out)
{
	unsigned char der[PKI_KEY_DER_MAX];
	struct buf b;
	buf_init(&b, der, sizeof der);
	int rc = pki_key_to_der(k, f, &b);
	if (!rc)
		rc = pki_pem_encode(f == PKI_KEY_PKCS8 ? PKI_PEM_PKCS8 : PKI_PEM_EC_KEY, der, b.len,
				    out);
	pki_wipe(der, sizeof der);
	return rc;
}

int pki_key_from_pem(struct pki_key *k, const void *pem, size_t len)
{
	unsigned char der[512];
	struct buf b;
	struct slice in = {pem, len};
	char label[32];
	int rc;
	for (;;) {
		buf_init(&b, der, sizeof der);
		rc = pki_pem_decode(&in, NULL, &b, label, sizeof label);
		if (rc)
			break;
		if (strcmp(label, PKI_PEM_EC_KEY) == 0 || strcmp(label, PKI_PEM_PKCS8) == 0) {
			rc = pki_key_from_der(k, der, b.len);
			break;
		}
	}
	if (rc == -ERR_BUF_FULL)
		rc = -ERR_PKI_KEY;
	pki_wipe(der, sizeof der);
	return rc;
}

int pki_key_pub_check(const unsigned char *pub, size_t len)
{
	static const unsigned char one = 1;
	unsigned char pt[PKI_KEY_PUB_LEN];
	if (len != PKI_KEY_PUB_LEN || pub[0] != 0x04)
		return -ERR_PKI_KEY;
	/* mul() decodes the point and fails unless it is on the curve. */
	memcpy(pt, pub, sizeof pt);
	if (br_ec_get_default()->mul(pt, sizeof pt, &one, 1, BR_EC_secp256r1) != 1)
		return -ERR_PKI_KEY;
	return 0;
}

/* RFC 5480 §2: SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 },
 * BIT STRING point }. */
int pki_key_spki(const unsigned char pub[PKI_KEY_PUB_LEN], struct buf *out)
{
	struct pki_der w;
	pki_der_init(&w, out);
	pki_der_begin(&w, PKI_DER_SEQUENCE);
	pki_der_begin(&w, PKI_DER_SEQUENCE);
	pki_der_oid(&w, oid_ec_public_key, sizeof oid_ec_public_key);
	pki_der_oid(&w, oid_prime256v1, sizeof oid_prime256v1);
	pki_der_end(&w);
	pki_der_bits(&w, pub, PKI_KEY_PUB_LEN);
	pki_der_end(&w);
	return pki_der_finish(&w);
}

void pki_key_id(const unsigned char pub[PKI_KEY_PUB_LEN], unsigned char id[PKI_KEY_ID_LEN])
{
	br_sha1_context h;
	br_sha1_init(&h);
	br_sha1_update(&h, pub, PKI_KEY_PUB_LEN);
	br_sha1_out(&h, id);
}

int pki_key_sign(const struct pki_key *k, const unsigned char hash[32], unsigned char *sig,
		 size_t *siglen)
{
	br_ec_private_key sk = {BR_EC_secp256r1, (unsigned char *)k->priv, PKI_KEY_PRIV_LEN};
	size_t n = br_ecdsa_sign_asn1_get_default()(br_ec_get_default(), &br_sha256_vtable, hash,
						    &sk, sig);
	if (n == 0 || n > PKI_SIG_MAX)
		return -ERR_PKI_KEY;
	*siglen = n;
	return 0;
}

int pki_key_verify(const unsigned char pub[PKI_KEY_PUB_LEN], const unsigned char hash[32],
		   const unsigned char *sig, size_t siglen)
{
	br_ec_public_key pk = {BR_EC_secp256r1, (unsigned char *)pub, PKI_KEY_PUB_LEN};
	return br_ecdsa_vrfy_asn1_get_default()(br_ec_get_default(), hash, 32, &pk, sig, siglen) ==
	       1;
}
