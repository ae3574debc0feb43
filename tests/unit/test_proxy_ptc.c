/* Unit tests for proxy_ptc.h: passTLSCert / passTLSClientCert field values from a client
 * certificate (a real one made by openssl, and synthetic ones written with pki_der to reach
 * every rule: Name attribute selection, string types, SAN kinds and order, IPv6 text, time
 * forms, missing extension), Go url.QueryEscape escaping, whole field lines, every buffer
 * capacity below the need (nothing half-written), malformed DER byte by byte, the owned field
 * names; buffering limits and the over-limit test at its boundary. */
#include "base/base_err.h"
#include "pki/pki_der.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_ptc.h"
#include "test.h"

/* leaf.der, made once with OpenSSL 3.0.19:
 *   openssl ecparam -genkey -name prime256v1 -noout -out ca.key
 *   openssl req -x509 -new -key ca.key -days 3650 -out ca.pem \
 *     -subj "/DC=org/DC=example/C=FR/O=Test CA Org/CN=Test CA"
 *   openssl ecparam -genkey -name prime256v1 -noout -out leaf.key
 *   openssl req -new -key leaf.key -out leaf.csr -subj "/DC=com/DC=acme/C=US/ST=California/\
 *     L=San Francisco/O=Acme Co/O=Acme R&D/serialNumber=SN-42/CN=client one"
 *   leaf.ext: subjectAltName=DNS:client.acme.com,DNS:alt.acme.com,email:ops@acme.com,
 *     IP:10.1.2.3,IP:2001:db8::1,IP:::ffff:192.0.2.7,URI:spiffe://acme.com/c1 (+ CA:FALSE,
 *     keyUsage=digitalSignature, extendedKeyUsage=clientAuth)
 *   openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 10000 \
 *     -extfile leaf.ext -outform DER -out leaf.der
 * notBefore 261127065502Z (UTCTime) = 1795762502, notAfter 20540414065502Z (GeneralizedTime)
 * = 2659762502 (date -u -d ... +%s). The expected values below were computed with Python's
 * urllib.parse.quote_plus(s, safe="") (the same escaping as Go's url.QueryEscape) over
 * base64(DER) and over the infos string Traefik v1.7 builds. */
static const uint8_t leaf_der[771] = {
	0x30, 0x82, 0x02, 0xff, 0x30, 0x82, 0x02, 0xa6, 0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x14,
	0x2a, 0x6f, 0x2b, 0x5c, 0xd9, 0xb2, 0xe7, 0x8c, 0x4d, 0xdb, 0xe2, 0xdd, 0x70, 0x94, 0x8d,
	0xef, 0x00, 0xa8, 0x56, 0x5b, 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04,
	0x03, 0x02, 0x30, 0x63, 0x31, 0x13, 0x30, 0x11, 0x06, 0x0a, 0x09, 0x92, 0x26, 0x89, 0x93,
	0xf2, 0x2c, 0x64, 0x01, 0x19, 0x16, 0x03, 0x6f, 0x72, 0x67, 0x31, 0x17, 0x30, 0x15, 0x06,
	0x0a, 0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19, 0x16, 0x07, 0x65, 0x78,
	0x61, 0x6d, 0x70, 0x6c, 0x65, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13,
	0x02, 0x46, 0x52, 0x31, 0x14, 0x30, 0x12, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x0b, 0x54,
	0x65, 0x73, 0x74, 0x20, 0x43, 0x41, 0x20, 0x4f, 0x72, 0x67, 0x31, 0x10, 0x30, 0x0e, 0x06,
	0x03, 0x55, 0x04, 0x03, 0x0c, 0x07, 0x54, 0x65, 0x73, 0x74, 0x20, 0x43, 0x41, 0x30, 0x20,
	0x17, 0x0d, 0x32, 0x36, 0x31, 0x31, 0x32, 0x37, 0x30, 0x36, 0x35, 0x35, 0x30, 0x32, 0x5a,
	0x18, 0x0f, 0x32, 0x30, 0x35, 0x34, 0x30, 0x34, 0x31, 0x34, 0x30, 0x36, 0x35, 0x35, 0x30,
	0x32, 0x5a, 0x30, 0x81, 0xaf, 0x31, 0x13, 0x30, 0x11, 0x06, 0x0a, 0x09, 0x92, 0x26, 0x89,
	0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19, 0x16, 0x03, 0x63, 0x6f, 0x6d, 0x31, 0x14, 0x30, 0x12,
	0x06, 0x0a, 0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19, 0x16, 0x04, 0x61,
	0x63, 0x6d, 0x65, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, 0x55,
	0x53, 0x31, 0x13, 0x30, 0x11, 0x06, 0x03, 0x55, 0x04, 0x08, 0x0c, 0x0a, 0x43, 0x61, 0x6c,
	0x69, 0x66, 0x6f, 0x72, 0x6e, 0x69, 0x61, 0x31, 0x16, 0x30, 0x14, 0x06, 0x03, 0x55, 0x04,
	0x07, 0x0c, 0x0d, 0x53, 0x61, 0x6e, 0x20, 0x46, 0x72, 0x61, 0x6e, 0x63, 0x69, 0x73, 0x63,
	0x6f, 0x31, 0x10, 0x30, 0x0e, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x07, 0x41, 0x63, 0x6d,
	0x65, 0x20, 0x43, 0x6f, 0x31, 0x11, 0x30, 0x0f, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x08,
	0x41, 0x63, 0x6d, 0x65, 0x20, 0x52, 0x26, 0x44, 0x31, 0x0e, 0x30, 0x0c, 0x06, 0x03, 0x55,
	0x04, 0x05, 0x13, 0x05, 0x53, 0x4e, 0x2d, 0x34, 0x32, 0x31, 0x13, 0x30, 0x11, 0x06, 0x03,
	0x55, 0x04, 0x03, 0x0c, 0x0a, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x20, 0x6f, 0x6e, 0x65,
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
	0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04, 0xe4, 0x61, 0xe2,
	0x76, 0x95, 0x80, 0x36, 0x20, 0xeb, 0x5d, 0x07, 0xd6, 0xd6, 0x26, 0xc4, 0x87, 0xc8, 0xaf,
	0xda, 0xda, 0x3b, 0x39, 0x83, 0x54, 0x6c, 0x2a, 0x74, 0xdf, 0x2d, 0xb7, 0xfe, 0x83, 0xeb,
	0x6f, 0x2b, 0xf7, 0x3e, 0x5c, 0x7d, 0xc0, 0x6f, 0xb6, 0x73, 0x4a, 0xe4, 0xc6, 0x96, 0x0d,
	0x04, 0x82, 0x04, 0x40, 0x68, 0x0c, 0x05, 0x9a, 0xb9, 0x85, 0x53, 0xca, 0xd3, 0xe6, 0x7e,
	0x22, 0xa3, 0x81, 0xe8, 0x30, 0x81, 0xe5, 0x30, 0x76, 0x06, 0x03, 0x55, 0x1d, 0x11, 0x04,
	0x6f, 0x30, 0x6d, 0x82, 0x0f, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x2e, 0x61, 0x63, 0x6d,
	0x65, 0x2e, 0x63, 0x6f, 0x6d, 0x82, 0x0c, 0x61, 0x6c, 0x74, 0x2e, 0x61, 0x63, 0x6d, 0x65,
	0x2e, 0x63, 0x6f, 0x6d, 0x81, 0x0c, 0x6f, 0x70, 0x73, 0x40, 0x61, 0x63, 0x6d, 0x65, 0x2e,
	0x63, 0x6f, 0x6d, 0x87, 0x04, 0x0a, 0x01, 0x02, 0x03, 0x87, 0x10, 0x20, 0x01, 0x0d, 0xb8,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x87, 0x10, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xc0, 0x00, 0x02, 0x07,
	0x86, 0x14, 0x73, 0x70, 0x69, 0x66, 0x66, 0x65, 0x3a, 0x2f, 0x2f, 0x61, 0x63, 0x6d, 0x65,
	0x2e, 0x63, 0x6f, 0x6d, 0x2f, 0x63, 0x31, 0x30, 0x09, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x04,
	0x02, 0x30, 0x00, 0x30, 0x0b, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x04, 0x04, 0x03, 0x02, 0x07,
	0x80, 0x30, 0x13, 0x06, 0x03, 0x55, 0x1d, 0x25, 0x04, 0x0c, 0x30, 0x0a, 0x06, 0x08, 0x2b,
	0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02, 0x30, 0x1d, 0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04,
	0x16, 0x04, 0x14, 0xc9, 0x89, 0x73, 0x56, 0x62, 0xa7, 0x9c, 0xd4, 0x8b, 0xd2, 0xa6, 0xa1,
	0xd4, 0x5c, 0x57, 0xd1, 0x45, 0x0c, 0xe9, 0xe6, 0x30, 0x1f, 0x06, 0x03, 0x55, 0x1d, 0x23,
	0x04, 0x18, 0x30, 0x16, 0x80, 0x14, 0x47, 0x14, 0x03, 0xe8, 0xbf, 0x74, 0x14, 0x86, 0xc6,
	0xc0, 0x02, 0xfc, 0x03, 0x6a, 0x41, 0xd6, 0x36, 0x92, 0x5b, 0x42, 0x30, 0x0a, 0x06, 0x08,
	0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x03, 0x47, 0x00, 0x30, 0x44, 0x02, 0x20,
	0x75, 0x3e, 0xa4, 0xf8, 0x17, 0x41, 0x43, 0x72, 0x5e, 0x54, 0xd0, 0xd2, 0xaf, 0x31, 0xd6,
	0x8a, 0x9c, 0xd5, 0x6d, 0x1d, 0xfe, 0x89, 0xc5, 0x5a, 0x09, 0x10, 0x95, 0x18, 0xa8, 0x90,
	0x61, 0xb4, 0x02, 0x20, 0x5a, 0x75, 0x5e, 0xa0, 0xba, 0x83, 0x21, 0xbc, 0xdf, 0x7c, 0xa8,
	0x9b, 0x8a, 0xa3, 0x85, 0x7c, 0xad, 0xc3, 0xc8, 0x16, 0x3f, 0x5f, 0x51, 0x12, 0x02, 0x4c,
	0xff, 0x9c, 0x87, 0x6a, 0xd1, 0xec,
};

static const char leaf_pem_esc[] =
	"MIIC%2FzCCAqagAwIBAgIUKm8rXNmy54xN2%"
	"2BLdcJSN7wCoVlswCgYIKoZIzj0EAwIwYzETMBEGCgmSJomT8ixk"
	"ARkWA29yZzEXMBUGCgmSJomT8ixkARkWB2V4YW1wbGUxCzAJBgNVBAYTAkZSMRQwEgYDVQQKDAtUZXN0IE"
	"NBIE9y"
	"ZzEQMA4GA1UEAwwHVGVzdCBDQTAgFw0yNjExMjcwNjU1MDJaGA8yMDU0MDQxNDA2NTUwMlowga8xEzARBg"
	"oJkiaJ"
	"k%2FIsZAEZFgNjb20xFDASBgoJkiaJk%"
	"2FIsZAEZFgRhY21lMQswCQYDVQQGEwJVUzETMBEGA1UECAwKQ2FsaWZv"
	"cm5pYTEWMBQGA1UEBwwNU2FuIEZyYW5jaXNjbzEQMA4GA1UECgwHQWNtZSBDbzERMA8GA1UECgwIQWNtZS"
	"BSJkQx"
	"DjAMBgNVBAUTBVNOLTQyMRMwEQYDVQQDDApjbGllbnQgb25lMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQg"
	"AE5GHi"
	"dpWANiDrXQfW1ibEh8iv2to7OYNUbCp03y23%2FoPrbyv3Plx9wG%2B2c0rkxpYNBIIEQGgMBZq5hVPK0%"
	"2BZ%2B"
	"IqOB6DCB5TB2BgNVHREEbzBtgg9jbGllbnQuYWNtZS5jb22CDGFsdC5hY21lLmNvbYEMb3BzQGFjbWUuY2"
	"9thwQK"
	"AQIDhxAgAQ24AAAAAAAAAAAAAAABhxAAAAAAAAAAAAAA%2F%2F%"
	"2FAAAIHhhRzcGlmZmU6Ly9hY21lLmNvbS9jMT"
	"AJBgNVHRMEAjAAMAsGA1UdDwQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDAjAdBgNVHQ4EFgQUyYlzVmKn"
	"nNSL0q"
	"ah1FxX0UUM6eYwHwYDVR0jBBgwFoAURxQD6L90FIbGwAL8A2pB1jaSW0IwCgYIKoZIzj0EAwIDRwAwRAIg"
	"dT6k%2"
	"BBdBQ3JeVNDSrzHWipzVbR3%2BicVaCRCVGKiQYbQCIFp1XqC6gyG833yom4qjhXytw8gWP19REgJM%"
	"2F5yHatHs";

static const char leaf_infos_all[] =
	"Subject%3D%22DC%3Dcom%2CDC%3Dacme%2CC%3DUS%2CST%3DCalifornia%2CL%3DSan+Francisco%2CO%3DA"
	"cme+Co%2CO%3DAcme+R%26D%2CSN%3DSN-42%2CCN%3Dclient+one%22%2CIssuer%3D%22DC%3Dorg%2CDC%3D"
	"example%2CC%3DFR%2CO%3DTest+CA+Org%2CCN%3DTest+CA%22%2CNB%3D1795762502%2CNA%3D2659762502"
	"%2CSAN%3Dclient.acme.com%2Calt.acme.com%2Cops%40acme.com%2C10.1.2.3%2C2001%3Adb8%3A%3A1%"
	"2C192.0.2.7%2Cspiffe%3A%2F%2Facme.com%2Fc1";

#define SUBJ(f) (1u << (PROXY_PTC_SUBJECT + (f)))
#define ISS(f) (1u << (PROXY_PTC_ISSUER + (f)))
enum { F_CN = 0, F_C, F_DC, F_L, F_O, F_ST, F_SN, F_N };
#define ALL_DN ((1u << F_N) - 1)
#define ALL_BITS                                                                       \
	(PROXY_PTC_PEM | PROXY_PTC_NOT_AFTER | PROXY_PTC_NOT_BEFORE | PROXY_PTC_SANS | \
	 (ALL_DN << PROXY_PTC_SUBJECT) | (ALL_DN << PROXY_PTC_ISSUER))

static char out_[32768];

/* Infos value of der for bits, as a C string in out_ (or "ERR <code>"). */
static const char *infos(const uint8_t *der, size_t len, uint32_t bits)
{
	struct buf b;
	buf_init(&b, out_, sizeof out_ - 1);
	int rc = proxy_ptc_infos_value(&b, der, len, bits);
	if (rc) {
		snprintf(out_, sizeof out_, "ERR %d", rc);
		return out_;
	}
	out_[b.len] = 0;
	return out_;
}

static void test_pem_value(void)
{
	struct buf b;
	buf_init(&b, out_, sizeof out_ - 1);
	REQUIRE(proxy_ptc_pem_value(&b, leaf_der, sizeof leaf_der) == 0);
	out_[b.len] = 0;
	CHECK_EQ_STR(out_, leaf_pem_esc);
	/* the three base64 characters Go escapes, and padding of 1 and 2 bytes */
	static const uint8_t a[] = {0xfb, 0xff}, z[] = {0x00}, abc[] = {'a', 'b', 'c'};
	buf_init(&b, out_, sizeof out_);
	CHECK(proxy_ptc_pem_value(&b, a, 2) == 0);
	CHECK_EQ_MEM(out_, b.len, "%2B%2F8%3D");
	buf_init(&b, out_, sizeof out_);
	CHECK(proxy_ptc_pem_value(&b, z, 1) == 0);
	CHECK_EQ_MEM(out_, b.len, "AA%3D%3D");
	buf_init(&b, out_, sizeof out_);
	CHECK(proxy_ptc_pem_value(&b, abc, 3) == 0);
	CHECK_EQ_MEM(out_, b.len, "YWJj");
	buf_init(&b, out_, sizeof out_);
	CHECK(proxy_ptc_pem_value(&b, abc, 0) == 0);
	CHECK_EQ_INT(b.len, 0);
}

static void test_infos_known(void)
{
	CHECK_EQ_STR(infos(leaf_der, sizeof leaf_der, ALL_BITS), leaf_infos_all);
	/* pem alone selects no infos part: empty value */
	CHECK_EQ_STR(infos(leaf_der, sizeof leaf_der, PROXY_PTC_PEM), "");
	CHECK_EQ_STR(infos(leaf_der, sizeof leaf_der, SUBJ(F_CN)),
		     "Subject%3D%22CN%3Dclient+one%22");
	CHECK_EQ_STR(infos(leaf_der, sizeof leaf_der, SUBJ(F_O)),
		     "Subject%3D%22O%3DAcme+Co%2CO%3DAcme+R%26D%22");
	/* field order is fixed (DC, C, ST, L, O, SN, CN), not the certificate's */
	CHECK_EQ_STR(infos(leaf_der, sizeof leaf_der, SUBJ(F_CN) | SUBJ(F_SN) | SUBJ(F_DC)),
		     "Subject%3D%22DC%3Dcom%2CDC%3Dacme%2CSN%3DSN-42%2CCN%3Dclient+one%22");
	CHECK_EQ_STR(infos(leaf_der, sizeof leaf_der, ISS(F_C) | SUBJ(F_C)),
		     "Subject%3D%22C%3DUS%22%2CIssuer%3D%22C%3DFR%22");
	CHECK_EQ_STR(infos(leaf_der, sizeof leaf_der, PROXY_PTC_NOT_BEFORE | PROXY_PTC_NOT_AFTER),
		     "NB%3D1795762502%2CNA%3D2659762502");
	CHECK_EQ_STR(infos(leaf_der, sizeof leaf_der, PROXY_PTC_NOT_AFTER), "NA%3D2659762502");
	CHECK_EQ_STR(infos(leaf_der, sizeof leaf_der, PROXY_PTC_SANS),
		     "SAN%3Dclient.acme.com%2Calt.acme.com%2Cops%40acme.com%2C10.1.2.3%2C2001%3Adb8"
		     "%3A%3A1%2C192.0.2.7%2Cspiffe%3A%2F%2Facme.com%2Fc1");
	/* a selected field the Name lacks: no Issuer part at all, no stray comma */
	CHECK_EQ_STR(infos(leaf_der, sizeof leaf_der, ISS(F_ST)), "");
	CHECK_EQ_STR(infos(leaf_der, sizeof leaf_der, ISS(F_ST) | ISS(F_L) | PROXY_PTC_NOT_BEFORE),
		     "NB%3D1795762502");
	CHECK_EQ_STR(infos(leaf_der, sizeof leaf_der, SUBJ(F_ST) | ISS(F_SN) | ISS(F_CN)),
		     "Subject%3D%22ST%3DCalifornia%22%2CIssuer%3D%22CN%3DTest+CA%22");
}

/* ---- synthetic certificates ------------------------------------------------------------- */

struct atv {
	uint8_t oid[10];
	uint8_t oidlen;
	uint8_t tag;
	const char *v;
};
#define A_CN                                                     \
	{                                                        \
		{0x55, 0x04, 0x03}, 3, PKI_DER_UTF8_STRING, NULL \
	}
struct gn {
	uint8_t tag;
	const void *v;
	size_t len;
};

struct fake {
	const struct atv *subj;
	size_t nsubj;
	uint8_t nb_tag, na_tag;
	const char *nb, *na;
	const struct gn *san;
	size_t nsan;
	int ext; /* 0: no extensions, 1: SAN (+ a critical basicConstraints first) */
};

static void name(struct pki_der *w, const struct atv *a, size_t n)
{
	pki_der_begin(w, PKI_DER_SEQUENCE);
	for (size_t i = 0; i < n; i++) {
		pki_der_begin(w, PKI_DER_SET);
		pki_der_begin(w, PKI_DER_SEQUENCE);
		pki_der_oid(w, a[i].oid, a[i].oidlen);
		pki_der_tlv(w, a[i].tag, a[i].v, strlen(a[i].v));
		pki_der_end(w);
		pki_der_end(w);
	}
	pki_der_end(w);
}

static uint8_t fder_[4096];

/* Write a certificate-shaped DER (the signature is junk: nothing here verifies it). */
static size_t mkcert(const struct fake *f)
{
	static const uint8_t alg[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
	static const uint8_t ec[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
	static const uint8_t san[] = {0x55, 0x1d, 0x11}, bc[] = {0x55, 0x1d, 0x13};
	static const struct atv iss[] = {{{0x55, 0x04, 0x03}, 3, PKI_DER_UTF8_STRING, "ca"}};
	struct buf b;
	buf_init(&b, fder_, sizeof fder_);
	struct pki_der w;
	pki_der_init(&w, &b);
	pki_der_begin(&w, PKI_DER_SEQUENCE);
	pki_der_begin(&w, PKI_DER_SEQUENCE);
	pki_der_begin(&w, PKI_DER_CTX_CONS(0));
	pki_der_int_u64(&w, 2);
	pki_der_end(&w);
	pki_der_int_u64(&w, 7);
	pki_der_begin(&w, PKI_DER_SEQUENCE);
	pki_der_oid(&w, alg, sizeof alg);
	pki_der_end(&w);
	name(&w, iss, 1);
	pki_der_begin(&w, PKI_DER_SEQUENCE);
	pki_der_tlv(&w, f->nb_tag ? f->nb_tag : PKI_DER_UTC_TIME, f->nb ? f->nb : "200101000000Z",
		    strlen(f->nb ? f->nb : "200101000000Z"));
	pki_der_tlv(&w, f->na_tag ? f->na_tag : PKI_DER_UTC_TIME, f->na ? f->na : "300101000000Z",
		    strlen(f->na ? f->na : "300101000000Z"));
	pki_der_end(&w);
	name(&w, f->subj, f->nsubj);
	pki_der_begin(&w, PKI_DER_SEQUENCE);
	pki_der_begin(&w, PKI_DER_SEQUENCE);
	pki_der_oid(&w, ec, sizeof ec);
	pki_der_end(&w);
	pki_der_bits(&w, "key", 3);
	pki_der_end(&w);
	if (f->ext) {
		pki_der_begin(&w, PKI_DER_CTX_CONS(3));
		pki_der_begin(&w, PKI_DER_SEQUENCE);
		pki_der_begin(&w, PKI_DER_SEQUENCE); /* basicConstraints, critical */
		pki_der_oid(&w, bc, sizeof bc);
		pki_der_bool(&w, 1);
		pki_der_begin(&w, PKI_DER_OCTET_STRING);
		pki_der_begin(&w, PKI_DER_SEQUENCE);
		pki_der_end(&w);
		pki_der_end(&w);
		pki_der_end(&w);
		pki_der_begin(&w, PKI_DER_SEQUENCE);
		pki_der_oid(&w, san, sizeof san);
		pki_der_begin(&w, PKI_DER_OCTET_STRING);
		pki_der_begin(&w, PKI_DER_SEQUENCE);
		for (size_t i = 0; i < f->nsan; i++)
			pki_der_tlv(&w, f->san[i].tag, f->san[i].v, f->san[i].len);
		pki_der_end(&w);
		pki_der_end(&w);
		pki_der_end(&w);
		pki_der_end(&w);
		pki_der_end(&w);
	}
	pki_der_end(&w); /* tbs */
	pki_der_begin(&w, PKI_DER_SEQUENCE);
	pki_der_oid(&w, alg, sizeof alg);
	pki_der_end(&w);
	pki_der_bits(&w, "sig", 3);
	pki_der_end(&w);
	if (pki_der_finish(&w) != 0)
		return 0;
	return b.len;
}

static void test_names(void)
{
	static const struct atv subj[] = {
		{{0x55, 0x04, 0x03}, 3, PKI_DER_UTF8_STRING, "first"},
		{{0x55, 0x04, 0x0b}, 3, PKI_DER_UTF8_STRING, "unit"}, /* OU: not a field */
		{{0x55, 0x04, 0x0a}, 3, 0x14 /* T61String */, "t61 org"},
		{{0x55, 0x04, 0x0a}, 3, 0x1e /* BMPString: not a string to Go */, "xx"},
		{{0x55, 0x04, 0x0a}, 3, PKI_DER_UTF8_STRING, ""}, /* empty: skipped */
		{{0x55, 0x04, 0x06}, 3, PKI_DER_PRINTABLE_STRING, "DE"},
		{{0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19},
		 10,
		 PKI_DER_IA5_STRING,
		 ""}, /* empty DC: kept */
		{{0x55, 0x04, 0x05}, 3, 0x12 /* NumericString */, "123"},
		{{0x55, 0x04, 0x03}, 3, PKI_DER_UTF8_STRING, "last; \"quoted\" \xc3\xa9"},
		{{0x55, 0x04, 0x07}, 3, PKI_DER_UTF8_STRING, "a+b/c~d_e.f-g"},
	};
	struct fake f = {.subj = subj, .nsubj = sizeof subj / sizeof subj[0]};
	size_t n = mkcert(&f);
	REQUIRE(n > 0);
	CHECK_EQ_STR(
		infos(fder_, n, ALL_DN << PROXY_PTC_SUBJECT),
		"Subject%3D%22DC%3D%2CC%3DDE%2CL%3Da%2Bb%2Fc~d_e.f-g%2CO%3Dt61+org%2CSN%3D123%2C"
		"CN%3Dlast%3B+%22quoted%22+%C3%A9%22");
	/* the last CN wins even when empty, and an empty one writes nothing */
	static const struct atv two[] = {{{0x55, 0x04, 0x03}, 3, PKI_DER_UTF8_STRING, "x"},
					 {{0x55, 0x04, 0x03}, 3, PKI_DER_UTF8_STRING, ""}};
	f = (struct fake){.subj = two, .nsubj = 2};
	n = mkcert(&f);
	REQUIRE(n > 0);
	CHECK_EQ_STR(infos(fder_, n, SUBJ(F_CN) | PROXY_PTC_NOT_AFTER), "NA%3D1893456000");
	/* no SAN extension at all: SAN= with nothing after it */
	CHECK_EQ_STR(infos(fder_, n, PROXY_PTC_SANS), "SAN%3D");
	CHECK_EQ_STR(infos(fder_, n, ISS(F_CN)), "Issuer%3D%22CN%3Dca%22");
	/* at most 32 field attributes in a Name (OU and others do not count): 33 is refused */
	static struct atv many[40];
	for (int i = 0; i < 40; i++)
		many[i] = (struct atv){
			{0x55, 0x04, (uint8_t)(i < 33 ? 0x0a : 0x0b)}, 3, PKI_DER_UTF8_STRING, "o"};
	f = (struct fake){.subj = many, .nsubj = 40};
	n = mkcert(&f);
	REQUIRE(n > 0);
	CHECK_EQ_STR(infos(fder_, n, SUBJ(F_CN)), "ERR -11");
	f.subj = many + 1; /* 32 organizations and 7 OUs */
	f.nsubj = 39;
	n = mkcert(&f);
	REQUIRE(n > 0);
	CHECK_EQ_STR(infos(fder_, n, SUBJ(F_CN)), "");
	CHECK(strncmp(infos(fder_, n, SUBJ(F_O)), "Subject%3D%22O%3Do%2CO%3Do", 26) == 0);
	/* a subject the infos do not ask for is not read at all */
	f.subj = many;
	f.nsubj = 40;
	n = mkcert(&f);
	REQUIRE(n > 0);
	CHECK_EQ_STR(infos(fder_, n, ISS(F_CN)), "Issuer%3D%22CN%3Dca%22");
}

static void test_sans(void)
{
	static const struct atv cn[] = {{{0x55, 0x04, 0x03}, 3, PKI_DER_UTF8_STRING, "c"}};
	static const uint8_t v6a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};
	static const uint8_t v6b[16] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
	static const uint8_t v6c[16] = {0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0};
	static const uint8_t lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	static const uint8_t any[16] = {0};
	static const uint8_t ll[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t full[16] = {0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0xab, 0xcd};
	static const uint8_t v4[4] = {0, 10, 255, 100}, odd[5] = {1, 2, 3, 4, 5};
	static const struct gn san[] = {
		{PKI_DER_CTX(6), "urn:x", 5},
		{PKI_DER_CTX(7), v6a, 16},
		{PKI_DER_CTX(1), "a@b.c", 5},
		{PKI_DER_CTX(2), "one.test", 8},
		{PKI_DER_CTX(7), v6b, 16},
		{PKI_DER_CTX(7), v6c, 16},
		{PKI_DER_CTX(7), lo, 16},
		{PKI_DER_CTX(7), any, 16},
		{PKI_DER_CTX(7), ll, 16},
		{PKI_DER_CTX(7), full, 16},
		{PKI_DER_CTX(7), v4, 4},
		{PKI_DER_CTX(7), odd, 5},            /* not an address */
		{PKI_DER_CTX(8), "\x06\x01\x2a", 3}, /* registeredID */
		{PKI_DER_CTX(2), "two.test", 8},
	};
	struct fake f = {
		.subj = cn, .nsubj = 1, .san = san, .nsan = sizeof san / sizeof san[0], .ext = 1};
	size_t n = mkcert(&f);
	REQUIRE(n > 0);
	CHECK_EQ_STR(infos(fder_, n, PROXY_PTC_SANS),
		     "SAN%3Done.test%2Ctwo.test%2Ca%40b.c%2C2001%3Adb8%3A%3A1%3A0%3A0%3A1%2C"
		     "0%3A0%3A1%3A%3A1%3A0%2C1%3A0%3A2%3A0%3A3%3A0%3A4%3A0%2C%3A%3A1%2C%3A%3A%2C"
		     "fe80%3A%3A%2C1%3A2%3A3%3A4%3A5%3A6%3A7%3Aabcd%2C0.10.255.100%2Curn%3Ax");
	/* an empty GeneralNames */
	f.nsan = 0;
	n = mkcert(&f);
	REQUIRE(n > 0);
	CHECK_EQ_STR(infos(fder_, n, PROXY_PTC_SANS | PROXY_PTC_NOT_BEFORE),
		     "NB%3D1577836800%2CSAN%3D");
}

static void test_times(void)
{
	static const struct atv cn[] = {{{0x55, 0x04, 0x03}, 3, PKI_DER_UTF8_STRING, "c"}};
	static const struct {
		uint8_t tag;
		const char *t;
		const char *want; /* NB value, or NULL: refused */
	} cases[] = {
		{PKI_DER_UTC_TIME, "491231235959Z", "2524607999"},
		{PKI_DER_UTC_TIME, "500101000000Z", "18446744073078399616"}, /* Go's uint64(-x) */
		{PKI_DER_UTC_TIME, "2611270655Z", "1795762500"},             /* no seconds */
		{PKI_DER_UTC_TIME, "261127065502+0100", "1795758902"},
		{PKI_DER_UTC_TIME, "261127065502-0130", "1795767902"},
		{PKI_DER_GENERALIZED_TIME, "20540414065502Z", "2659762502"},
		{PKI_DER_GENERALIZED_TIME, "20540414065502.125Z", "2659762502"},
		{PKI_DER_GENERALIZED_TIME, "19700101000000Z", "0"},
		{PKI_DER_GENERALIZED_TIME, "20000229120000Z", "951825600"},
		{PKI_DER_GENERALIZED_TIME, "205404140655Z", NULL}, /* seconds required */
		{PKI_DER_UTC_TIME, "261327065502Z", NULL},         /* month 13 */
		{PKI_DER_UTC_TIME, "26112706550Z", NULL},
		{PKI_DER_UTC_TIME, "261127065502", NULL}, /* no zone */
		{PKI_DER_UTC_TIME, "2611270655x2Z", NULL},
		{PKI_DER_OCTET_STRING, "261127065502Z", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fake f = {.subj = cn, .nsubj = 1, .nb_tag = cases[i].tag, .nb = cases[i].t};
		size_t n = mkcert(&f);
		REQUIRE(n > 0);
		char want[64];
		if (cases[i].want)
			snprintf(want, sizeof want, "NB%%3D%s", cases[i].want);
		else
			snprintf(want, sizeof want, "ERR %d", -ERR_PARSE);
		const char *got = infos(fder_, n, PROXY_PTC_NOT_BEFORE);
		if (strcmp(got, want) != 0)
			TEST_FAIL_("time %s: got %s, want %s", cases[i].t, got, want);
	}
}

/* Every prefix of the certificate (and a byte too many) is refused, b untouched. */
static void test_malformed(void)
{
	uint8_t buf[sizeof leaf_der + 1];
	memcpy(buf, leaf_der, sizeof leaf_der);
	buf[sizeof leaf_der] = 0;
	for (size_t n = 0; n <= sizeof leaf_der + 1; n++) {
		if (n == sizeof leaf_der)
			continue;
		struct buf b;
		buf_init(&b, out_, sizeof out_);
		buf_append_cstr(&b, "keep");
		int rc = proxy_ptc_infos_value(&b, buf, n, ALL_BITS);
		if (rc != -ERR_PARSE || b.len != 4)
			TEST_FAIL_("prefix %zu: rc %d len %zu", n, rc, b.len);
	}
	/* not a certificate: the fields line has the PEM but no Infos field */
	static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x05};
	struct buf b;
	buf_init(&b, out_, sizeof out_ - 1);
	REQUIRE(proxy_ptc_put_fields(&b, false, PROXY_PTC_PEM | PROXY_PTC_SANS, junk, sizeof junk,
				     1000) == 0);
	out_[b.len] = 0;
	CHECK_EQ_STR(out_, "X-Forwarded-Tls-Client-Cert: MAMCAQU%3D\r\n");
}

static void test_fields(void)
{
	struct buf b;
	buf_init(&b, out_, sizeof out_ - 1);
	REQUIRE(proxy_ptc_put_fields(&b, true, PROXY_PTC_PEM | PROXY_PTC_NOT_AFTER | SUBJ(F_CN),
				     leaf_der, sizeof leaf_der, 1) == 0);
	out_[b.len] = 0;
	char want[8192];
	snprintf(want, sizeof want,
		 "X-Forwarded-Ssl-Client-Cert: %s\r\nX-Forwarded-Tls-Client-Cert: %s\r\n"
		 "X-Forwarded-Tls-Client-Cert-Infos: Subject%%3D%%22CN%%3Dclient+one%%22%%2CNA%%3D"
		 "2659762502\r\n",
		 leaf_pem_esc, leaf_pem_esc);
	CHECK_EQ_STR(out_, want);
	/* infos selected but nothing in the certificate: the field is there, empty */
	buf_init(&b, out_, sizeof out_ - 1);
	REQUIRE(proxy_ptc_put_fields(&b, false, ISS(F_ST), leaf_der, sizeof leaf_der, 1) == 0);
	CHECK_EQ_MEM(out_, b.len, "X-Forwarded-Tls-Client-Cert-Infos: \r\n");
	/* no certificate: nothing */
	buf_init(&b, out_, sizeof out_);
	CHECK(proxy_ptc_put_fields(&b, true, ALL_BITS, NULL, 0, 1) == 0);
	CHECK_EQ_INT(b.len, 0);
	/* only passTLSCert */
	buf_init(&b, out_, sizeof out_ - 1);
	REQUIRE(proxy_ptc_put_fields(&b, true, 0, leaf_der, sizeof leaf_der, 1) == 0);
	CHECK_EQ_INT(b.len, strlen("X-Forwarded-Ssl-Client-Cert: \r\n") + strlen(leaf_pem_esc));
}

/* Every capacity short of the need fails with -ERR_BUF_FULL and leaves b as it was. */
static void test_capacity(void)
{
	static char mem[8192];
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	REQUIRE(proxy_ptc_put_fields(&b, true, ALL_BITS, leaf_der, sizeof leaf_der, 1) == 0);
	size_t need = b.len;
	CHECK(need > 2 * strlen(leaf_pem_esc) + strlen(leaf_infos_all));
	int bad = 0;
	for (size_t cap = 3; cap < need + 3; cap++) {
		buf_init(&b, mem, cap);
		buf_append(&b, "abc", 3);
		int rc = proxy_ptc_put_fields(&b, true, ALL_BITS, leaf_der, sizeof leaf_der, 1);
		if (rc != -ERR_BUF_FULL || b.len != 3)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
	buf_init(&b, mem, need + 3);
	buf_append(&b, "abc", 3);
	CHECK(proxy_ptc_put_fields(&b, true, ALL_BITS, leaf_der, sizeof leaf_der, 1) == 0);
	CHECK_EQ_INT(b.len, need + 3);
	/* the value writers alone */
	for (size_t cap = 0; cap < strlen(leaf_infos_all); cap++) {
		buf_init(&b, mem, cap);
		if (proxy_ptc_infos_value(&b, leaf_der, sizeof leaf_der, ALL_BITS) !=
			    -ERR_BUF_FULL ||
		    b.len != 0)
			bad++;
	}
	for (size_t cap = 0; cap < strlen(leaf_pem_esc); cap++) {
		buf_init(&b, mem, cap);
		if (proxy_ptc_pem_value(&b, leaf_der, sizeof leaf_der) != -ERR_BUF_FULL || b.len)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
}

static void test_owned(void)
{
	CHECK(proxy_ptc_owned_field(SLICE_LIT("X-Forwarded-Tls-Client-Cert")));
	CHECK(proxy_ptc_owned_field(SLICE_LIT("x-forwarded-tls-client-cert")));
	CHECK(proxy_ptc_owned_field(SLICE_LIT("X-FORWARDED-TLS-CLIENT-CERT-INFOS")));
	CHECK(proxy_ptc_owned_field(SLICE_LIT("X-Forwarded-Ssl-Client-Cert")));
	CHECK(proxy_ptc_owned_field(SLICE_LIT("X-Forwarded-Ssl-Client-Cert-Infos")));
	CHECK(!proxy_ptc_owned_field(SLICE_LIT("X-Forwarded-Tls-Client-Cer")));
	CHECK(!proxy_ptc_owned_field(SLICE_LIT("X-Forwarded-Tls-Client-Cert-Info")));
	CHECK(!proxy_ptc_owned_field(SLICE_LIT("X-Forwarded-For")));
	CHECK(!proxy_ptc_owned_field(SLICE_LIT("Y-Forwarded-Tls-Client-Cert")));
	CHECK(!proxy_ptc_enabled(false, 0));
	CHECK(proxy_ptc_enabled(true, 0));
	CHECK(proxy_ptc_enabled(false, PROXY_PTC_SANS));
}

static void test_buffering(void)
{
	struct proxy_backend be;
	memset(&be, 0, sizeof be);
	be.buffering = true;
	uint64_t rq = 9, rs = 9;
	proxy_buffering_limits(&be, &rq, &rs);
	CHECK(rq == 0 && rs == 0);
	be.max_request_body = 10;
	be.max_response_body = -1;
	be.mem_request_body = 1; /* accepted, no effect */
	proxy_buffering_limits(&be, &rq, &rs);
	CHECK(rq == 10 && rs == 0);
	be.max_response_body = INT64_MAX;
	proxy_buffering_limits(&be, &rq, &rs);
	CHECK(rs == (uint64_t)INT64_MAX);
	/* by length */
	CHECK(!proxy_buffering_over(10, true, 10, 0));
	CHECK(proxy_buffering_over(10, true, 11, 0));
	CHECK(!proxy_buffering_over(10, true, 0, 500)); /* the length decides */
	/* by bytes framed */
	CHECK(!proxy_buffering_over(10, false, 999, 10));
	CHECK(proxy_buffering_over(10, false, 0, 11));
	/* no limit */
	CHECK(!proxy_buffering_over(0, true, UINT64_MAX, UINT64_MAX));
	CHECK(!proxy_buffering_over(0, false, 0, UINT64_MAX));
	/* the log is paced: must not crash, whatever the clock says */
	for (int i = 0; i < 5; i++)
		proxy_buffering_log(PROXY_BUFFERING_CUT, SLICE_LIT("web"), 10, 5000 + (uint64_t)i);
}

TEST_MAIN(test_pem_value, test_infos_known, test_names, test_sans, test_times, test_malformed,
	  test_fields, test_capacity, test_owned, test_buffering)
