/* pki_cert.h — X.509 v3 certificates (RFC 5280) for the cluster: the CA,
 * node certificates, admin client certificates; reading them back, and
 * checking them with BearSSL's X.509 "minimal" validator.
 *
 * Profiles (every certificate: v3, ECDSA P-256 with SHA-256, a random
 * positive 128-bit serial, UTF8String names, subject/authority key IDs):
 *
 *   CA     subject O=<cluster>, CN=traefikee cluster CA; self-signed;
 *          basicConstraints critical CA:TRUE, pathLen 0; keyUsage critical
 *          keyCertSign, cRLSign; 10 years.
 *   node   subject O=<cluster>, OU=control|data, CN=<node ID>; issued by the
 *          CA; basicConstraints critical CA:FALSE; keyUsage critical
 *          digitalSignature; extKeyUsage serverAuth, clientAuth;
 *          subjectAltName dNSName and iPAddress (v4 and v6) as given;
 *          90 days by default.
 *   admin  subject O=<cluster>, OU=admin, CN=<name>; as node, but
 *          extKeyUsage clientAuth only and no subjectAltName.
 *
 * The role lives in the subject's OU and the node ID in its CN, so a peer's
 * role and identity come from its validated certificate
 * (pki_name_identity, pki_name_elts_*), never from what it claims.
 *
 * Time is injected: builders and checks take `now` (seconds since the Unix
 * epoch) and never read a clock. notBefore is backdated PKI_BACKDATE
 * seconds for clock skew between nodes; a certificate never outlives its
 * CA (notAfter is clamped to the CA's).
 *
 * Memory: certificates are written into caller buffers (PKI_CERT_MAX is
 * the largest this module writes, with every SAN slot full of the longest
 * names); struct pki_ca and struct pki_cert_info hold fixed-size copies.
 */
#ifndef PKI_CERT_H
#define PKI_CERT_H

#include <stddef.h>
#include <stdint.h>

#include <bearssl.h>

#include "base/base_buf.h"
#include "base/base_rand.h"
#include "pki/pki_key.h"

#define PKI_CERT_MAX 4096 /* largest certificate DER this module writes */
#define PKI_NAME_MAX 256  /* largest subject Name DER kept from a certificate */
#define PKI_ATTR_MAX 64   /* CN, OU, O: RFC 5280 ub-common-name etc. */
#define PKI_SAN_DNS_MAX 8 /* dNSName entries in a node certificate */
#define PKI_SAN_IP_MAX 8  /* iPAddress entries in a node certificate */
#define PKI_DNS_NAME_MAX 253
#define PKI_SERIAL_LEN 16 /* 128 random bits */

#define PKI_NODE_LIFETIME_DEFAULT (90 * 86400) /* SwarmKit's 2160 h */
#define PKI_CA_LIFETIME (3650 * 86400)
#define PKI_LIFETIME_MIN 60 /* short lifetimes are for tests (TRAEFIKEE_CERT_LIFETIME) */
#define PKI_BACKDATE 300

#define PKI_CA_CN "traefikee cluster CA"

enum pki_role {
	PKI_ROLE_NONE = 0, /* the CA, or a subject without OU */
	PKI_ROLE_CONTROL,  /* OU=control */
	PKI_ROLE_DATA,     /* OU=data */
	PKI_ROLE_ADMIN,    /* OU=admin */
};

/* "control", "data", "admin", or NULL for PKI_ROLE_NONE / unknown. */
const char *pki_role_ou(enum pki_role role);

/* An IP address for a subjectAltName: 4 (IPv4) or 16 (IPv6) bytes, network order. */
struct pki_ip {
	unsigned char len;
	unsigned char addr[16];
};
/* Dotted IPv4 or RFC 4291 IPv6 text. 0 or -ERR_INVAL. */
int pki_ip_parse(const char *s, struct pki_ip *out);
/* 1 if s is a DNS name RFC 5280 §4.2.1.6 accepts: LDH labels of 1..63
 * characters, no leading or trailing hyphen, at most PKI_DNS_NAME_MAX. */
int pki_dns_name_valid(const char *s);

/* What a certificate says, read with br_x509_decoder (no validation). */
struct pki_cert_info {
	unsigned char pub[PKI_KEY_PUB_LEN]; /* subject key: P-256 only */
	int64_t not_before, not_after;      /* epoch seconds */
	int is_ca;                          /* basicConstraints CA:TRUE */
	unsigned char dn[PKI_NAME_MAX];     /* subject Name, DER, tag included */
	size_t dn_len;
};

/* Decode one DER certificate. 0, or -ERR_PKI_CERT: not a certificate
 * (bytes left over, BearSSL decoding error), a key that is not P-256, or a
 * subject over PKI_NAME_MAX. Signatures are NOT checked: see pki_cert_verify. */
int pki_cert_parse(const void *der, size_t len, struct pki_cert_info *out);

/* The cluster CA: its key, its certificate, and what issuing needs. */
struct pki_ca {
	struct pki_key key;
	unsigned char cert[PKI_CERT_MAX];
	size_t cert_len;
	struct pki_cert_info info;
	unsigned char key_id[PKI_KEY_ID_LEN];
	char cluster[PKI_ATTR_MAX + 1]; /* subject O; "" if none */
};

/* New CA: fresh key from `r`, self-signed, valid PKI_CA_LIFETIME from now.
 * `cluster` (1..PKI_ATTR_MAX printable ASCII) becomes O in every
 * certificate it issues. 0, -ERR_INVAL (bad cluster), -ERR_PKI_KEY. */
int pki_ca_create(struct pki_ca *ca, struct rand *r, const char *cluster, int64_t now);
/* Rebuild a CA from stored certificate and private key DER (SEC1 or
 * PKCS#8). -ERR_PKI_CERT if the certificate is not a CA certificate,
 * -ERR_PKI_KEY if the key is malformed or does not match it. */
int pki_ca_load(struct pki_ca *ca, const void *cert_der, size_t cert_len, const void *key_der,
		size_t key_len);
/* Forget the CA's private key and everything else. */
void pki_ca_wipe(struct pki_ca *ca);

/* What to certify. Strings are borrowed for the call. */
struct pki_cert_req {
	enum pki_role role;       /* CONTROL, DATA or ADMIN */
	const char *id;           /* CN: node ID, or admin name (1..PKI_ATTR_MAX printable ASCII) */
	const unsigned char *pub; /* subject key, PKI_KEY_PUB_LEN bytes, checked on the curve */
	int64_t lifetime;         /* seconds; 0 = PKI_NODE_LIFETIME_DEFAULT */
	const char *const *dns;   /* subjectAltName dNSName (not for ADMIN) */
	size_t ndns;              /* <= PKI_SAN_DNS_MAX */
	const struct pki_ip *ips; /* subjectAltName iPAddress (not for ADMIN) */
	size_t nips;              /* <= PKI_SAN_IP_MAX */
};

/* Issue a certificate signed by `ca`, appended to `out` as DER.
 * Errors: -ERR_INVAL (role, id, a DNS name or IP malformed, SANs on an
 * admin certificate), -ERR_RANGE (too many SANs, lifetime under
 * PKI_LIFETIME_MIN, or the CA is expired at `now`), -ERR_PKI_KEY (pub is
 * not a P-256 point), -ERR_BUF_FULL (out unchanged). */
int pki_cert_issue(const struct pki_ca *ca, struct rand *r, const struct pki_cert_req *req,
		   int64_t now, struct buf *out);

/* Identity from a subject Name (DER, as in pki_cert_info.dn or from
 * br_x509_decoder's DN callback). CN and O must each appear at most once,
 * OU at most once. */
struct pki_identity {
	enum pki_role role;             /* from OU; NONE when there is no OU */
	char id[PKI_ATTR_MAX + 1];      /* CN */
	char cluster[PKI_ATTR_MAX + 1]; /* O, "" when absent */
};
/* 0, or -ERR_PKI_CERT: not a DER Name, no CN, a repeated CN/OU/O, a value
 * over PKI_ATTR_MAX or with bytes outside printable ASCII, an OU that
 * names no role. */
int pki_name_identity(const void *dn, size_t len, struct pki_identity *out);

/* For a TLS peer: the name elements BearSSL's minimal validator fills
 * (CN, OU, O). Init, then br_x509_minimal_set_name_elements(xc, n->elts,
 * PKI_NAME_ELTS); after a successful handshake, read the identity. The
 * struct must stay in place while the validator may write to it. */
#define PKI_NAME_ELTS 3
struct pki_name_elts {
	br_name_element elts[PKI_NAME_ELTS];
	char cn[PKI_ATTR_MAX + 1], ou[PKI_ATTR_MAX + 1], o[PKI_ATTR_MAX + 1];
};
void pki_name_elts_init(struct pki_name_elts *n);
/* 0, or -ERR_PKI_CERT when CN is missing or OU names no role. */
int pki_name_elts_identity(const struct pki_name_elts *n, struct pki_identity *out);

/* A BearSSL trust anchor for a CA certificate. The anchor borrows
 * ca->dn and ca->pub: keep *ca in place while the anchor is used. */
void pki_cert_trust_anchor(const struct pki_cert_info *ca, br_x509_trust_anchor *ta);

/* Validate an end-entity certificate issued directly by one of the trust
 * anchors, at time `now`, with BearSSL's minimal validator (signature,
 * validity, critical extensions, key usage). server_name, when not NULL,
 * must match a dNSName. 0, or -ERR_PKI_CERT with BearSSL's reason
 * (BR_ERR_X509_NOT_TRUSTED, _EXPIRED...) in *br_err when br_err is not NULL. */
int pki_cert_verify(const br_x509_trust_anchor *tas, size_t ntas, const void *der, size_t len,
		    int64_t now, const char *server_name, int *br_err);

/* Epoch seconds <-> BearSSL's (days since 0000-01-01, seconds in day),
 * for br_x509_minimal_set_time. Times before 0000-01-01 clamp to it. */
void pki_time_to_x509(int64_t epoch, uint32_t *days, uint32_t *secs);
int64_t pki_time_from_x509(uint32_t days, uint32_t secs);

#endif
