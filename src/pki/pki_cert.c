/* pki_cert.c — see pki_cert.h. Field order and contents follow RFC 5280
 * §4.1 (TBSCertificate) and §4.2 (extensions); section numbers are cited
 * where each part is written. */
#include "pki/pki_cert.h"

#include "base/base_err.h"
#include "pki/pki_der.h"

#include <arpa/inet.h>
#include <string.h>

/* 1970-01-01 counted in days since 0000-01-01 (proleptic Gregorian), the
 * epoch BearSSL's X.509 code uses: 366 days of year 0 plus 719162 days
 * from 0001-01-01. */
#define X509_UNIX_EPOCH_DAYS 719528

/* Encoded OID contents. */
static const unsigned char oid_ecdsa_sha256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const unsigned char oid_at_cn[] = {0x55, 0x04, 0x03};   /* 2.5.4.3 */
static const unsigned char oid_at_o[] = {0x55, 0x04, 0x0a};    /* 2.5.4.10 */
static const unsigned char oid_at_ou[] = {0x55, 0x04, 0x0b};   /* 2.5.4.11 */
static const unsigned char oid_ext_ski[] = {0x55, 0x1d, 0x0e}; /* 2.5.29.14 */
static const unsigned char oid_ext_ku[] = {0x55, 0x1d, 0x0f};  /* 2.5.29.15 */
static const unsigned char oid_ext_san[] = {0x55, 0x1d, 0x11}; /* 2.5.29.17 */
static const unsigned char oid_ext_bc[] = {0x55, 0x1d, 0x13};  /* 2.5.29.19 */
static const unsigned char oid_ext_aki[] = {0x55, 0x1d, 0x23}; /* 2.5.29.35 */
static const unsigned char oid_ext_eku[] = {0x55, 0x1d, 0x25}; /* 2.5.29.37 */
static const unsigned char oid_kp_server_auth[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01};
static const unsigned char oid_kp_client_auth[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02};

/* The same attribute OIDs as br_name_element wants them: length first. */
static const unsigned char elt_oid_cn[] = {3, 0x55, 0x04, 0x03};
static const unsigned char elt_oid_ou[] = {3, 0x55, 0x04, 0x0b};
static const unsigned char elt_oid_o[] = {3, 0x55, 0x04, 0x0a};

/* keyUsage named bits (RFC 5280 §4.2.1.3). */
#define KU_DIGITAL_SIGNATURE (1u << 0)
#define KU_KEY_CERT_SIGN (1u << 5)
#define KU_CRL_SIGN (1u << 6)

/* GeneralName tags (RFC 5280 §4.2.1.6), IMPLICIT. */
#define GN_DNS_NAME PKI_DER_CTX(2)
#define GN_IP_ADDRESS PKI_DER_CTX(7)

const char *pki_role_ou(enum pki_role role)
{
	switch (role) {
	case PKI_ROLE_CONTROL: return "control";
	case PKI_ROLE_DATA: return "data";
	case PKI_ROLE_ADMIN: return "admin";
	default: return NULL;
	}
}

static enum pki_role role_from_ou(const char *ou)
{
	for (int r = PKI_ROLE_CONTROL; r <= PKI_ROLE_ADMIN; r++)
		if (strcmp(ou, pki_role_ou((enum pki_role)r)) == 0)
			return (enum pki_role)r;
	return PKI_ROLE_NONE;
}

int pki_ip_parse(const char *s, struct pki_ip *out)
{
	memset(out, 0, sizeof *out);
	int v6 = strchr(s, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, s, out->addr) != 1)
		return -ERR_INVAL;
	out->len = v6 ? 16 : 4;
	return 0;
}

int pki_dns_name_valid(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > PKI_DNS_NAME_MAX)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		char c = s[i];
		if (c == '.' || c == 0) {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		int ldh = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-';
		if (!ldh || (label == 0 && c == '-'))
			return 0;
		label++;
	}
	return 1;
}

/* Attribute values we write and accept: 1..PKI_ATTR_MAX bytes of printable
 * ASCII, so a name can go to a log line or a terminal as is. */
static int attr_valid(const char *s, size_t n)
{
	if (n == 0 || n > PKI_ATTR_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* Name (RFC 5280 §4.1.2.4): RDNSequence, one attribute per RDN, most
 * significant first: O, OU, CN. NULL attributes are left out. */
static int name_encode(struct buf *out, const char *o, const char *ou, const char *cn)
{
	const char *vals[3] = {o, ou, cn};
	const unsigned char *oids[3] = {oid_at_o, oid_at_ou, oid_at_cn};
	struct pki_der w;
	pki_der_init(&w, out);
	pki_der_begin(&w, PKI_DER_SEQUENCE);
	for (int i = 0; i < 3; i++) {
		if (!vals[i])
			continue;
		pki_der_begin(&w, PKI_DER_SET);
		pki_der_begin(&w, PKI_DER_SEQUENCE);
		pki_der_oid(&w, oids[i], 3);
		pki_der_utf8(&w, vals[i], strlen(vals[i]));
		pki_der_end(&w);
		pki_der_end(&w);
	}
	pki_der_end(&w);
	return pki_der_finish(&w);
}

/* Everything that differs between the CA, node and admin profiles. */
struct cert_tmpl {
	const unsigned char *issuer, *subject; /* Name DER */
	size_t issuer_len, subject_len;
	const unsigned char *pub;           /* subject key */
	const unsigned char *issuer_key_id; /* PKI_KEY_ID_LEN bytes */
	const struct pki_key *signer;
	unsigned char serial[PKI_SERIAL_LEN];
	int64_t not_before, not_after;
	int is_ca;
	uint32_t key_usage;
	int server_auth, client_auth;
	const char *const *dns;
	size_t ndns;
	const struct pki_ip *ips;
	size_t nips;
};

/* Extension (RFC 5280 §4.1.2.9): SEQUENCE { extnID, critical DEFAULT
 * FALSE (so written only when TRUE, X.690 §11.5), extnValue OCTET STRING
 * holding the DER of the extension's own value }. */
static void ext_begin(struct pki_der *w, const unsigned char *oid, size_t n, int critical)
{
	pki_der_begin(w, PKI_DER_SEQUENCE);
	pki_der_oid(w, oid, n);
	if (critical)
		pki_der_bool(w, 1);
	pki_der_begin(w, PKI_DER_OCTET_STRING);
}

static void ext_end(struct pki_der *w)
{
	pki_der_end(w);
	pki_der_end(w);
}

static void alg_ecdsa_sha256(struct pki_der *w)
{
	/* RFC 5758 §3.2: parameters absent. */
	pki_der_begin(w, PKI_DER_SEQUENCE);
	pki_der_oid(w, oid_ecdsa_sha256, sizeof oid_ecdsa_sha256);
	pki_der_end(w);
}

static void cert_extensions(struct pki_der *w, const struct cert_tmpl *t)
{
	unsigned char ski[PKI_KEY_ID_LEN];
	pki_key_id(t->pub, ski);

	pki_der_begin(w, PKI_DER_CTX_CONS(3));
	pki_der_begin(w, PKI_DER_SEQUENCE);

	/* §4.2.1.9 basicConstraints, critical; cA DEFAULT FALSE is omitted
	 * for end entities; pathLen 0: this CA signs no intermediate CAs. */
	ext_begin(w, oid_ext_bc, sizeof oid_ext_bc, 1);
	pki_der_begin(w, PKI_DER_SEQUENCE);
	if (t->is_ca) {
		pki_der_bool(w, 1);
		pki_der_int_u64(w, 0);
	}
	pki_der_end(w);
	ext_end(w);

	/* §4.2.1.3 keyUsage, critical. */
	ext_begin(w, oid_ext_ku, sizeof oid_ext_ku, 1);
	pki_der_named_bits(w, t->key_usage);
	ext_end(w);

	/* §4.2.1.12 extKeyUsage, not critical. */
	if (t->server_auth || t->client_auth) {
		ext_begin(w, oid_ext_eku, sizeof oid_ext_eku, 0);
		pki_der_begin(w, PKI_DER_SEQUENCE);
		if (t->server_auth)
			pki_der_oid(w, oid_kp_server_auth, sizeof oid_kp_server_auth);
		if (t->client_auth)
			pki_der_oid(w, oid_kp_client_auth, sizeof oid_kp_client_auth);
		pki_der_end(w);
		ext_end(w);
	}

	/* §4.2.1.6 subjectAltName: not critical, the subject is not empty. */
	if (t->ndns || t->nips) {
		ext_begin(w, oid_ext_san, sizeof oid_ext_san, 0);
		pki_der_begin(w, PKI_DER_SEQUENCE);
		for (size_t i = 0; i < t->ndns; i++)
			pki_der_ia5(w, GN_DNS_NAME, t->dns[i], strlen(t->dns[i]));
		for (size_t i = 0; i < t->nips; i++)
			pki_der_tlv(w, GN_IP_ADDRESS, t->ips[i].addr, t->ips[i].len);
		pki_der_end(w);
		ext_end(w);
	}

	/* §4.2.1.2 subjectKeyIdentifier. */
	ext_begin(w, oid_ext_ski, sizeof oid_ext_ski, 0);
	pki_der_octets(w, ski, sizeof ski);
	ext_end(w);

	/* §4.2.1.1 authorityKeyIdentifier: keyIdentifier [0] only. */
	ext_begin(w, oid_ext_aki, sizeof oid_ext_aki, 0);
	pki_der_begin(w, PKI_DER_SEQUENCE);
	pki_der_tlv(w, PKI_DER_CTX(0), t->issuer_key_id, PKI_KEY_ID_LEN);
	pki_der_end(w);
	ext_end(w);

	pki_der_end(w);
	pki_der_end(w);
}

/* Certificate (§4.1.1): SEQUENCE { tbsCertificate, signatureAlgorithm,
 * signatureValue }, appended to out; out unchanged on error. */
static int cert_write(const struct cert_tmpl *t, struct buf *out)
{
	unsigned char spki_mem[PKI_SPKI_LEN];
	struct buf spki;
	buf_init(&spki, spki_mem, sizeof spki_mem);
	int rc = pki_key_spki(t->pub, &spki);
	if (rc)
		return rc;

	struct pki_der w;
	pki_der_init(&w, out);
	pki_der_begin(&w, PKI_DER_SEQUENCE);
	size_t tbs = out->len;
	pki_der_begin(&w, PKI_DER_SEQUENCE);
	pki_der_begin(&w, PKI_DER_CTX_CONS(0)); /* §4.1.2.1 version v3 = 2 */
	pki_der_int_u64(&w, 2);
	pki_der_end(&w);
	pki_der_int_bytes(&w, t->serial, sizeof t->serial); /* §4.1.2.2 */
	alg_ecdsa_sha256(&w);                               /* §4.1.2.3 */
	pki_der_raw(&w, t->issuer, t->issuer_len);          /* §4.1.2.4 */
	pki_der_begin(&w, PKI_DER_SEQUENCE);                /* §4.1.2.5 */
	pki_der_time(&w, t->not_before);
	pki_der_time(&w, t->not_after);
	pki_der_end(&w);
	pki_der_raw(&w, t->subject, t->subject_len); /* §4.1.2.6 */
	pki_der_raw(&w, spki.data, spki.len);        /* §4.1.2.7 */
	cert_extensions(&w, t);                      /* §4.1.2.9 */
	pki_der_end(&w);
	if (w.err)
		return pki_der_finish(&w);

	/* §4.1.1.3: the signature covers the DER of tbsCertificate. */
	unsigned char hash[32], sig[PKI_SIG_MAX];
	size_t siglen;
	br_sha256_context h;
	br_sha256_init(&h);
	br_sha256_update(&h, out->data + tbs, out->len - tbs);
	br_sha256_out(&h, hash);
	rc = pki_key_sign(t->signer, hash, sig, &siglen);
	if (rc) {
		out->len = w.start;
		return rc;
	}
	alg_ecdsa_sha256(&w);
	pki_der_bits(&w, sig, siglen);
	pki_der_end(&w);
	return pki_der_finish(&w);
}

static void cert_serial(struct rand *r, unsigned char serial[PKI_SERIAL_LEN])
{
	/* §4.1.2.2: positive, at most 20 octets; 128 bits of DRBG output, a
	 * 0x00 is prepended by the INTEGER encoder when the top bit is set. */
	unsigned acc = 0;
	rand_bytes(r, serial, PKI_SERIAL_LEN);
	for (size_t i = 0; i < PKI_SERIAL_LEN; i++)
		acc |= serial[i];
	if (!acc)
		serial[PKI_SERIAL_LEN - 1] = 1;
}

struct dn_sink {
	unsigned char *p;
	size_t cap, len;
	int over;
};

static void dn_append(void *ctx, const void *data, size_t n)
{
	struct dn_sink *s = ctx;
	if (s->over || n > s->cap - s->len) {
		s->over = 1;
		return;
	}
	memcpy(s->p + s->len, data, n);
	s->len += n;
}

int pki_cert_parse(const void *der, size_t len, struct pki_cert_info *out)
{
	memset(out, 0, sizeof *out);
	/* One certificate and nothing after it. */
	struct pki_der_rd rd = pki_der_rd_make(der, len);
	struct pki_der_tlv cert;
	if (pki_der_expect(&rd, PKI_DER_SEQUENCE, &cert) || !pki_der_rd_empty(&rd))
		return -ERR_PKI_CERT;

	br_x509_decoder_context dc;
	struct dn_sink sink = {out->dn, sizeof out->dn, 0, 0};
	br_x509_decoder_init(&dc, dn_append, &sink);
	br_x509_decoder_push(&dc, der, len);
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&dc);
	if (br_x509_decoder_last_error(&dc) || !pk || sink.over)
		goto bad;
	if (pk->key_type != BR_KEYTYPE_EC || pk->key.ec.curve != BR_EC_secp256r1 ||
	    pk->key.ec.qlen != PKI_KEY_PUB_LEN)
		goto bad;
	memcpy(out->pub, pk->key.ec.q, PKI_KEY_PUB_LEN);
	out->dn_len = sink.len;
	out->is_ca = br_x509_decoder_isCA(&dc);
	out->not_before = pki_time_from_x509(dc.notbefore_days, dc.notbefore_seconds);
	out->not_after = pki_time_from_x509(dc.notafter_days, dc.notafter_seconds);
	return 0;
bad:
	memset(out, 0, sizeof *out);
	return -ERR_PKI_CERT;
}

/* Copy an attribute value into a NUL-terminated field. */
static int attr_copy(char *dst, const unsigned char *v, size_t n)
{
	if (!attr_valid((const char *)v, n))
		return -ERR_PKI_CERT;
	memcpy(dst, v, n);
	dst[n] = 0;
	return 0;
}

int pki_name_identity(const void *dn, size_t len, struct pki_identity *out)
{
	struct pki_der_rd rd = pki_der_rd_make(dn, len);
	struct pki_der_tlv name, rdn, atv, oid, val;
	char ou[PKI_ATTR_MAX + 1] = "";
	int seen_cn = 0, seen_ou = 0, seen_o = 0;

	memset(out, 0, sizeof *out);
	if (pki_der_expect(&rd, PKI_DER_SEQUENCE, &name) || !pki_der_rd_empty(&rd))
		goto bad;
	struct pki_der_rd rdns = pki_der_rd_inside(&name);
	while (!pki_der_rd_empty(&rdns)) {
		if (pki_der_expect(&rdns, PKI_DER_SET, &rdn) || rdn.len == 0)
			goto bad; /* RDN is SET SIZE (1..MAX) */
		struct pki_der_rd atvs = pki_der_rd_inside(&rdn);
		while (!pki_der_rd_empty(&atvs)) {
			if (pki_der_expect(&atvs, PKI_DER_SEQUENCE, &atv))
				goto bad;
			struct pki_der_rd in = pki_der_rd_inside(&atv);
			if (pki_der_expect(&in, PKI_DER_OID, &oid) || pki_der_next(&in, &val) ||
			    !pki_der_rd_empty(&in))
				goto bad;
			char *dst;
			int *seen;
			if (pki_der_is_oid(&oid, oid_at_cn, sizeof oid_at_cn)) {
				dst = out->id;
				seen = &seen_cn;
			} else if (pki_der_is_oid(&oid, oid_at_ou, sizeof oid_at_ou)) {
				dst = ou;
				seen = &seen_ou;
			} else if (pki_der_is_oid(&oid, oid_at_o, sizeof oid_at_o)) {
				dst = out->cluster;
				seen = &seen_o;
			} else {
				continue; /* other attributes do not make an identity */
			}
			if (*seen ||
			    (val.tag != PKI_DER_UTF8_STRING && val.tag != PKI_DER_PRINTABLE_STRING))
				goto bad;
			*seen = 1;
			if (attr_copy(dst, val.v, val.len))
				goto bad;
		}
	}
	if (!seen_cn)
		goto bad;
	if (seen_ou && (out->role = role_from_ou(ou)) == PKI_ROLE_NONE)
		goto bad;
	return 0;
bad:
	memset(out, 0, sizeof *out);
	return -ERR_PKI_CERT;
}

void pki_name_elts_init(struct pki_name_elts *n)
{
	memset(n, 0, sizeof *n);
	n->elts[0] = (br_name_element){elt_oid_cn, n->cn, sizeof n->cn, 0};
	n->elts[1] = (br_name_element){elt_oid_ou, n->ou, sizeof n->ou, 0};
	n->elts[2] = (br_name_element){elt_oid_o, n->o, sizeof n->o, 0};
}

int pki_name_elts_identity(const struct pki_name_elts *n, struct pki_identity *out)
{
	memset(out, 0, sizeof *out);
	if (n->elts[0].status != 1 || n->elts[1].status < 0 || n->elts[2].status < 0)
		goto bad;
	if (attr_copy(out->id, (const unsigned char *)n->cn, strlen(n->cn)))
		goto bad;
	if (n->elts[2].status == 1 &&
	    attr_copy(out->cluster, (const unsigned char *)n->o, strlen(n->o)))
		goto bad;
	if (n->elts[1].status == 1 && (out->role = role_from_ou(n->ou)) == PKI_ROLE_NONE)
		goto bad;
	return 0;
bad:
	memset(out, 0, sizeof *out);
	return -ERR_PKI_CERT;
}

void pki_cert_trust_anchor(const struct pki_cert_info *ca, br_x509_trust_anchor *ta)
{
	memset(ta, 0, sizeof *ta);
	ta->dn.data = (unsigned char *)ca->dn;
	ta->dn.len = ca->dn_len;
	ta->flags = BR_X509_TA_CA;
	ta->pkey.key_type = BR_KEYTYPE_EC;
	ta->pkey.key.ec.curve = BR_EC_secp256r1;
	ta->pkey.key.ec.q = (unsigned char *)ca->pub;
	ta->pkey.key.ec.qlen = PKI_KEY_PUB_LEN;
}

void pki_time_to_x509(int64_t epoch, uint32_t *days, uint32_t *secs)
{
	int64_t d = epoch / 86400, s = epoch % 86400;
	if (s < 0) {
		s += 86400;
		d--;
	}
	d += X509_UNIX_EPOCH_DAYS;
	if (d < 0) {
		d = 0;
		s = 0;
	} else if (d > UINT32_MAX) {
		d = UINT32_MAX;
	}
	*days = (uint32_t)d;
	*secs = (uint32_t)s;
}

int64_t pki_time_from_x509(uint32_t days, uint32_t secs)
{
	return ((int64_t)days - X509_UNIX_EPOCH_DAYS) * 86400 + secs;
}

int pki_cert_verify(const br_x509_trust_anchor *tas, size_t ntas, const void *der, size_t len,
		    int64_t now, const char *server_name, int *br_err)
{
	br_x509_minimal_context xc;
	uint32_t days, secs;
	br_x509_minimal_init_full(&xc, tas, ntas);
	pki_time_to_x509(now, &days, &secs);
	br_x509_minimal_set_time(&xc, days, secs);
	const br_x509_class **vt = &xc.vtable;
	(*vt)->start_chain(vt, server_name);
	(*vt)->start_cert(vt, (uint32_t)len);
	(*vt)->append(vt, der, len);
	(*vt)->end_cert(vt);
	unsigned err = (*vt)->end_chain(vt);
	if (br_err)
		*br_err = (int)err;
	return err ? -ERR_PKI_CERT : 0;
}

int pki_ca_create(struct pki_ca *ca, struct rand *r, const char *cluster, int64_t now)
{
	memset(ca, 0, sizeof *ca);
	if (!cluster || !attr_valid(cluster, strlen(cluster)))
		return -ERR_INVAL;
	int rc = pki_key_generate(&ca->key, r);
	if (rc)
		return rc;

	unsigned char name_mem[PKI_NAME_MAX];
	struct buf name;
	buf_init(&name, name_mem, sizeof name_mem);
	rc = name_encode(&name, cluster, NULL, PKI_CA_CN);

	struct cert_tmpl t = {0};
	pki_key_id(ca->key.pub, ca->key_id);
	t.issuer = t.subject = name.data;
	t.issuer_len = t.subject_len = name.len;
	t.pub = ca->key.pub;
	t.issuer_key_id = ca->key_id;
	t.signer = &ca->key;
	cert_serial(r, t.serial);
	t.not_before = now - PKI_BACKDATE;
	t.not_after = now + PKI_CA_LIFETIME;
	t.is_ca = 1;
	t.key_usage = KU_KEY_CERT_SIGN | KU_CRL_SIGN;

	struct buf cert;
	buf_init(&cert, ca->cert, sizeof ca->cert);
	if (!rc)
		rc = cert_write(&t, &cert);
	if (!rc)
		rc = pki_cert_parse(cert.data, cert.len, &ca->info);
	if (rc) {
		pki_ca_wipe(ca);
		return rc;
	}
	ca->cert_len = cert.len;
	memcpy(ca->cluster, cluster, strlen(cluster) + 1);
	return 0;
}

int pki_ca_load(struct pki_ca *ca, const void *cert_der, size_t cert_len, const void *key_der,
		size_t key_len)
{
	struct pki_identity id;
	memset(ca, 0, sizeof *ca);
	int rc = -ERR_PKI_CERT;
	if (cert_len > sizeof ca->cert || pki_cert_parse(cert_der, cert_len, &ca->info) ||
	    !ca->info.is_ca || pki_name_identity(ca->info.dn, ca->info.dn_len, &id))
		goto fail;
	rc = pki_key_from_der(&ca->key, key_der, key_len);
	if (rc)
		goto fail;
	if (memcmp(ca->key.pub, ca->info.pub, PKI_KEY_PUB_LEN) != 0) {
		rc = -ERR_PKI_KEY;
		goto fail;
	}
	memcpy(ca->cert, cert_der, cert_len);
	ca->cert_len = cert_len;
	pki_key_id(ca->key.pub, ca->key_id);
	memcpy(ca->cluster, id.cluster, sizeof ca->cluster);
	return 0;
fail:
	pki_ca_wipe(ca);
	return rc;
}

void pki_ca_wipe(struct pki_ca *ca)
{
	pki_wipe(ca, sizeof *ca);
}

int pki_cert_issue(const struct pki_ca *ca, struct rand *r, const struct pki_cert_req *req,
		   int64_t now, struct buf *out)
{
	const char *ou = pki_role_ou(req->role);
	if (!ou || !req->id || !attr_valid(req->id, strlen(req->id)) || !req->pub)
		return -ERR_INVAL;
	if (req->ndns > PKI_SAN_DNS_MAX || req->nips > PKI_SAN_IP_MAX)
		return -ERR_RANGE;
	if (req->role == PKI_ROLE_ADMIN && (req->ndns || req->nips))
		return -ERR_INVAL;
	for (size_t i = 0; i < req->ndns; i++)
		if (!req->dns[i] || !pki_dns_name_valid(req->dns[i]))
			return -ERR_INVAL;
	for (size_t i = 0; i < req->nips; i++)
		if (req->ips[i].len != 4 && req->ips[i].len != 16)
			return -ERR_INVAL;
	int64_t lifetime = req->lifetime ? req->lifetime : PKI_NODE_LIFETIME_DEFAULT;
	if (lifetime < PKI_LIFETIME_MIN || now >= ca->info.not_after)
		return -ERR_RANGE;
	int rc = pki_key_pub_check(req->pub, PKI_KEY_PUB_LEN);
	if (rc)
		return rc;

	unsigned char name_mem[PKI_NAME_MAX];
	struct buf name;
	buf_init(&name, name_mem, sizeof name_mem);
	rc = name_encode(&name, ca->cluster[0] ? ca->cluster : NULL, ou, req->id);
	if (rc)
		return rc;

	struct cert_tmpl t = {0};
	t.issuer = ca->info.dn;
	t.issuer_len = ca->info.dn_len;
	t.subject = name.data;
	t.subject_len = name.len;
	t.pub = req->pub;
	t.issuer_key_id = ca->key_id;
	t.signer = &ca->key;
	cert_serial(r, t.serial);
	t.not_before = now - PKI_BACKDATE;
	t.not_after = lifetime > ca->info.not_after - now ? ca->info.not_after : now + lifetime;
	t.key_usage = KU_DIGITAL_SIGNATURE;
	t.server_auth = req->role != PKI_ROLE_ADMIN;
	t.client_auth = 1;
	t.dns = req->dns;
	t.ndns = req->ndns;
	t.ips = req->ips;
	t.nips = req->nips;
	return cert_write(&t, out);
}
