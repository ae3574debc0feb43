/* tls_x509.c — our X.509 engine: BearSSL's "minimal" validator plus pinning,
 * IP-address names, insecure mode and a copy of the peer's leaf.
 *
 * The engine is a br_x509_class whose context (struct tls_x509, inside the
 * connection) wraps a br_x509_minimal_context. The TLS engine streams the
 * peer's chain through start_chain / start_cert / append / end_cert /
 * end_chain; every call goes on to the minimal engine, and on the way:
 *
 *  - each certificate is hashed with SHA-256; a hash equal to the configured
 *    pin marks the chain "pin matched" (tls.md, "CA pinning");
 *  - the leaf (first certificate) is copied into ee_der, up to
 *    TLS_PEER_CERT_MAX bytes, for the application (DER, subject DN, SHA-256)
 *    and for the checks minimal cannot do: iPAddress names and insecure mode
 *    (the key is then decoded from the copy, nothing else is checked);
 *  - the subject CN is gathered by minimal through a name element.
 *
 * end_chain decides: minimal's verdict, where "chain verified but linked to
 * no anchor" (BR_ERR_X509_NOT_TRUSTED) becomes success when the pin matched.
 * Minimal only reports NOT_TRUSTED after every certificate was decoded, each
 * one's validity dates and CA constraints checked, and each certificate's
 * signature verified with the key of the next one, so the pinned certificate
 * really signs the path down to the leaf.
 *
 * No allocation; the only stack user is the leaf decoder at end_chain
 * (about 1.2 KiB, once per handshake).
 */
#include "tls/tls.h"

#include <stddef.h>
#include <string.h>

static struct tls_x509 *x509_of(const br_x509_class *const *ctx)
{
	return (struct tls_x509 *)(void *)((char *)(uintptr_t)ctx -
					   offsetof(struct tls_x509, vtable));
}

/* Minimal DER reading over the copied leaf -------------------------------------- */

struct der {
	const uint8_t *p;
	size_t n;
};

/* Take the next element off the front of *d: its tag, its contents (*val)
 * and its whole encoding (*all). False for what certificates never use
 * (multi-byte tags, indefinite or over-long lengths) or truncation. */
static bool der_take(struct der *d, uint8_t *tag, struct der *val, struct der *all)
{
	if (d->n < 2 || (d->p[0] & 0x1f) == 0x1f)
		return false;
	size_t len = d->p[1], hl = 2;
	if (len & 0x80) {
		size_t k = len & 0x7f;
		if (k == 0 || k > 3 || d->n < 2 + k)
			return false;
		len = 0;
		for (size_t i = 0; i < k; i++)
			len = len << 8 | d->p[2 + i];
		hl = 2 + k;
	}
	if (d->n - hl < len)
		return false;
	*tag = d->p[0];
	val->p = d->p + hl;
	val->n = len;
	if (all) {
		all->p = d->p;
		all->n = hl + len;
	}
	d->p += hl + len;
	d->n -= hl + len;
	return true;
}

/* Our own CN extraction, for when minimal stopped before the subject (an
 * expired leaf in insecure mode): Name ::= SEQUENCE OF SET OF SEQUENCE {
 * type OID, value }; the first 2.5.4.3 with a plain string value. */
static void dn_copy_cn(struct tls_x509 *x, struct der dn)
{
	static const uint8_t oid_cn[] = {0x55, 0x04, 0x03};
	struct der set, atv, oid, val;
	uint8_t tag;

	while (dn.n && der_take(&dn, &tag, &set, NULL) && tag == 0x31) {
		while (set.n && der_take(&set, &tag, &atv, NULL) && tag == 0x30) {
			if (!der_take(&atv, &tag, &oid, NULL) || tag != 0x06 ||
			    oid.n != sizeof oid_cn || memcmp(oid.p, oid_cn, oid.n) != 0)
				continue;
			if (!der_take(&atv, &tag, &val, NULL) || val.n >= sizeof x->cn)
				return;
			if (tag != 0x0c && tag != 0x13 && tag != 0x16)
				return; /* UTF8String, PrintableString, IA5String only */
			for (size_t i = 0; i < val.n; i++)
				if (val.p[i] < 0x20 || val.p[i] == 0x7f)
					return;
			memcpy(x->cn, val.p, val.n);
			x->cn[val.n] = 0;
			x->cn_elt.status = 1;
			return;
		}
	}
}

/* Find the subject DN and look for the IP address in the SAN extension.
 * Certificate ::= SEQUENCE { tbs, sigAlg, sig }; tbs ::= SEQUENCE { [0]
 * version OPTIONAL, serial, sigAlg, issuer, validity, subject, spki, [1], [2],
 * [3] extensions OPTIONAL } (RFC 5280 4.1). */
static bool leaf_parse(struct tls_x509 *x, bool *ip_found)
{
	static const uint8_t oid_san[] = {0x55, 0x1d, 0x11}; /* 2.5.29.17 */
	struct der d = {x->ee_der, x->ee_len}, v, all, tbs;
	uint8_t tag;

	*ip_found = false;
	if (!der_take(&d, &tag, &v, NULL) || tag != 0x30)
		return false;
	d = v;
	if (!der_take(&d, &tag, &tbs, NULL) || tag != 0x30)
		return false;
	d = tbs;
	if (!der_take(&d, &tag, &v, NULL))
		return false;
	if (tag == 0xa0 && !der_take(&d, &tag, &v, NULL)) /* version, then serial */
		return false;
	for (int i = 0; i < 3; i++) /* signature, issuer, validity */
		if (!der_take(&d, &tag, &v, NULL))
			return false;
	if (!der_take(&d, &tag, &v, &all) || tag != 0x30)
		return false;
	x->dn_off = (size_t)(all.p - x->ee_der);
	x->dn_len = all.n;
	if (x->cn_elt.status != 1)
		dn_copy_cn(x, v);
	if (!der_take(&d, &tag, &v, NULL)) /* subjectPublicKeyInfo */
		return false;
	while (d.n) {
		if (!der_take(&d, &tag, &v, NULL))
			return false;
		if (tag != 0xa3)
			continue;
		struct der exts;
		if (!der_take(&v, &tag, &exts, NULL) || tag != 0x30)
			return false;
		while (exts.n) {
			struct der ext, oid, val;
			if (!der_take(&exts, &tag, &ext, NULL) || tag != 0x30)
				return false;
			if (!der_take(&ext, &tag, &oid, NULL) || tag != 0x06)
				return false;
			if (oid.n != sizeof oid_san || memcmp(oid.p, oid_san, oid.n) != 0)
				continue;
			if (!der_take(&ext, &tag, &val, NULL))
				return false;
			if (tag == 0x01 && !der_take(&ext, &tag, &val, NULL)) /* critical */
				return false;
			struct der names, gn;
			if (tag != 0x04 || !der_take(&val, &tag, &names, NULL) || tag != 0x30)
				return false;
			while (names.n) {
				if (!der_take(&names, &tag, &gn, NULL))
					return false;
				if (tag == 0x87 && x->ip_len && gn.n == x->ip_len &&
				    memcmp(gn.p, x->ip, gn.n) == 0)
					*ip_found = true;
			}
		}
	}
	return true;
}

/* Decode the copied leaf: key into pkey/pkey_buf, subject DN span. Returns 0
 * or a BR_ERR_X509_* code. */
static unsigned leaf_decode(struct tls_x509 *x, bool *ip_found)
{
	br_x509_decoder_context dec;

	*ip_found = false;
	if (x->ncerts == 0)
		return BR_ERR_X509_EMPTY_CHAIN;
	if (x->ee_overflow)
		return BR_ERR_X509_LIMIT_EXCEEDED;
	br_x509_decoder_init(&dec, NULL, NULL);
	br_x509_decoder_push(&dec, x->ee_der, x->ee_len);
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&dec);
	if (!pk) {
		int e = br_x509_decoder_last_error(&dec);
		return e ? (unsigned)e : BR_ERR_X509_INVALID_VALUE;
	}
	memset(&x->pkey, 0, sizeof x->pkey);
	x->pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_EC) {
		if (pk->key.ec.qlen > sizeof x->pkey_buf)
			return BR_ERR_X509_LIMIT_EXCEEDED;
		memcpy(x->pkey_buf, pk->key.ec.q, pk->key.ec.qlen);
		x->pkey.key.ec.curve = pk->key.ec.curve;
		x->pkey.key.ec.q = x->pkey_buf;
		x->pkey.key.ec.qlen = pk->key.ec.qlen;
	} else {
		size_t nl = pk->key.rsa.nlen, el = pk->key.rsa.elen;
		if (nl + el > sizeof x->pkey_buf)
			return BR_ERR_X509_LIMIT_EXCEEDED;
		memcpy(x->pkey_buf, pk->key.rsa.n, nl);
		memcpy(x->pkey_buf + nl, pk->key.rsa.e, el);
		x->pkey.key.rsa.n = x->pkey_buf;
		x->pkey.key.rsa.nlen = nl;
		x->pkey.key.rsa.e = x->pkey_buf + nl;
		x->pkey.key.rsa.elen = el;
	}
	if (!leaf_parse(x, ip_found))
		x->dn_len = 0; /* decodable by BearSSL but not by our walker: no DN */
	x->ee_decoded = true;
	return 0;
}

/* The br_x509_class methods --------------------------------------------------------- */

static void x_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct tls_x509 *x = x509_of(ctx);

	x->started = true;
	x->ncerts = 0;
	x->pin_matched = false;
	x->ee_overflow = false;
	x->ee_decoded = false;
	x->ee_len = 0;
	x->dn_off = x->dn_len = 0;
	x->result = BR_ERR_X509_EMPTY_CHAIN;
	x->minimal.vtable->start_chain(&x->minimal.vtable,
				       x->verify->insecure ? NULL : server_name);
}

static void x_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct tls_x509 *x = x509_of(ctx);

	br_sha256_init(&x->sha);
	if (x->ncerts == 0 && length > sizeof x->ee_der)
		x->ee_overflow = true;
	x->minimal.vtable->start_cert(&x->minimal.vtable, length);
}

static void x_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct tls_x509 *x = x509_of(ctx);

	br_sha256_update(&x->sha, buf, len);
	if (x->ncerts == 0 && !x->ee_overflow) {
		if (len > sizeof x->ee_der - x->ee_len) {
			x->ee_overflow = true;
		} else {
			memcpy(x->ee_der + x->ee_len, buf, len);
			x->ee_len += len;
		}
	}
	x->minimal.vtable->append(&x->minimal.vtable, buf, len);
}

static void x_end_cert(const br_x509_class **ctx)
{
	struct tls_x509 *x = x509_of(ctx);
	uint8_t h[32];

	br_sha256_out(&x->sha, h);
	if (x->ncerts == 0)
		memcpy(x->ee_sha256, h, sizeof h);
	if (x->verify->has_pin && memcmp(h, x->verify->pin, sizeof h) == 0)
		x->pin_matched = true;
	x->minimal.vtable->end_cert(&x->minimal.vtable);
	x->ncerts++;
}

static unsigned x_end_chain(const br_x509_class **ctx)
{
	struct tls_x509 *x = x509_of(ctx);
	const struct tls_verify *v = x->verify;
	bool ip_found;

	unsigned r = x->minimal.vtable->end_chain(&x->minimal.vtable);
	unsigned dr = leaf_decode(x, &ip_found);
	if (v->insecure) {
		r = dr; /* only "can we use the key"; nothing is verified */
	} else {
		if (r == BR_ERR_X509_NOT_TRUSTED && v->has_pin && x->pin_matched)
			r = 0;
		if (r == 0 && x->ip_len) {
			if (dr)
				r = dr;
			else if (!ip_found)
				r = BR_ERR_X509_BAD_SERVER_NAME;
		}
	}
	x->result = r;
	return r;
}

static const br_x509_pkey *x_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	struct tls_x509 *x = x509_of(ctx);

	if (x->result != 0)
		return NULL;
	if (x->verify->insecure) {
		if (usages)
			*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
		return &x->pkey;
	}
	return x->minimal.vtable->get_pkey(&x->minimal.vtable, usages);
}

static const br_x509_class tls_x509_vtable = {
	sizeof(struct tls_x509),
	x_start_chain,
	x_start_cert,
	x_append,
	x_end_cert,
	x_end_chain,
	x_get_pkey,
};

void tls_x509_init_(struct tls_x509 *x, const struct tls_verify *v, const uint8_t *ip,
		    size_t ip_len)
{
	static const unsigned char oid_cn[] = {3, 0x55, 0x04, 0x03}; /* 2.5.4.3 */

	x->vtable = &tls_x509_vtable;
	x->verify = v;
	x->started = false;
	x->ncerts = 0;
	x->result = BR_ERR_X509_EMPTY_CHAIN;
	x->ip_len = 0;
	if (ip_len == 4 || ip_len == 16) {
		memcpy(x->ip, ip, ip_len);
		x->ip_len = (uint8_t)ip_len;
	}
	br_x509_minimal_init_full(&x->minimal, v->tas, v->ntas);
	x->cn[0] = 0;
	x->cn_elt.oid = oid_cn;
	x->cn_elt.buf = x->cn;
	x->cn_elt.len = sizeof x->cn;
	x->cn_elt.status = 0;
	br_x509_minimal_set_name_elements(&x->minimal, &x->cn_elt, 1);
	if (v->clock) {
		/* BearSSL counts days from 0000-01-01 (proleptic Gregorian);
		 * 1970-01-01 is day 719528. */
		uint64_t t = v->clock(v->clock_ctx);
		br_x509_minimal_set_time(&x->minimal, (uint32_t)(t / 86400 + 719528),
					 (uint32_t)(t % 86400));
	}
}
