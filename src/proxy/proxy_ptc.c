/* proxy_ptc.c — passTLSCert / passTLSClientCert request fields from a client certificate, and
 * the buffering limits' bookkeeping (proxy_ptc.h; docs/internals/proxy-ptc.md).
 *
 * The certificate is read with the DER reader of src/pki (RFC 5280 §4.1 structure: Certificate
 * → TBSCertificate → issuer, validity, subject, extensions → subjectAltName). What Traefik
 * v1.7 writes comes from Go's crypto/x509 view of the certificate, so the same view is taken
 * here:
 *  - a Name's attribute counts only with a string value (PrintableString, UTF8String,
 *    IA5String, T61String, NumericString); commonName and serialNumber are the last ones
 *    seen, country / province / locality / organization every one in order, domainComponent
 *    every one (even empty), as pkix.Name.FillFromRDNSequence and tlsClientHeaders.go do;
 *  - SANs are listed DNS names first, then e-mail addresses, then IP addresses (net.IP's
 *    String: dotted IPv4, also for IPv4-mapped IPv6; RFC 5952 IPv6), then URIs as written;
 *  - NB / NA are Unix seconds of the validity times (UTCTime years 1950..2049).
 * Escaping is Go's url.QueryEscape: A-Z a-z 0-9 - _ . ~ stay, space becomes '+', every other
 * byte %XX (upper-case hex). So the fields carry printable ASCII only, whatever the
 * certificate holds.
 */
#include "proxy/proxy_ptc.h"

#include "base/base_err.h"
#include "base/base_log.h"
#include "pki/pki_der.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_engine_int.h"
#include "tls/tls.h"

#include <string.h>

/* ---- query escaping -------------------------------------------------------------------------- */

/* An escaping writer: the first failure latches (b is restored by the caller). */
struct esc {
	struct buf *b;
	int err;
};

static inline bool esc_plain(uint8_t ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_' || ch == '.' || ch == '~';
}

static const char hex_upper[] = "0123456789ABCDEF";

/* One pointer walk, one capacity test per byte (on the data path for every request). */
static void esc_put(struct esc *w, const void *p, size_t n)
{
	if (w->err)
		return;
	const uint8_t *s = p;
	struct buf *b = w->b;
	uint8_t *o = b->data + b->len, *end = b->data + b->cap;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = s[i];
		if (esc_plain(ch) || ch == ' ') {
			if (o == end)
				goto full;
			*o++ = ch == ' ' ? '+' : ch;
			continue;
		}
		if (end - o < 3)
			goto full;
		o[0] = '%';
		o[1] = (uint8_t)hex_upper[ch >> 4];
		o[2] = (uint8_t)hex_upper[ch & 15];
		o += 3;
	}
	b->len = (size_t)(o - b->data);
	return;
full:
	w->err = -ERR_BUF_FULL;
}

static void esc_str(struct esc *w, const char *s)
{
	esc_put(w, s, strlen(s));
}

static void esc_u64(struct esc *w, uint64_t v)
{
	char d[24];
	size_t n = sizeof d;
	do {
		d[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	esc_put(w, d + n, sizeof d - n);
}

/* ---- PEM value ------------------------------------------------------------------------------- */

/* base64 digit d as Go's QueryEscape leaves it: 1 byte, or 3 for '+' and '/'. */
static const char b64_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static inline uint8_t *b64_digit(uint8_t *o, unsigned d)
{
	if (d < 62) {
		*o = (uint8_t)b64_alpha[d];
		return o + 1;
	}
	memcpy(o, d == 62 ? "%2B" : "%2F", 3);
	return o + 3;
}

int proxy_ptc_pem_value(struct buf *b, const uint8_t *der, size_t len)
{
	uint8_t *o = b->data + b->len, *end = b->data + b->cap;
	size_t i = 0;
	/* Whole groups while 12 bytes (4 escaped digits) surely fit: no test per digit. */
	for (; i + 3 <= len && end - o >= 12; i += 3) {
		uint32_t v = (uint32_t)der[i] << 16 | (uint32_t)der[i + 1] << 8 | der[i + 2];
		o = b64_digit(o, v >> 18);
		o = b64_digit(o, (v >> 12) & 63);
		o = b64_digit(o, (v >> 6) & 63);
		o = b64_digit(o, v & 63);
	}
	/* The rest (the tail, or near the end of the buffer): digit by digit. */
	for (; i < len; i += 3) {
		size_t k = len - i < 3 ? len - i : 3;
		uint32_t v = (uint32_t)der[i] << 16;
		if (k > 1)
			v |= (uint32_t)der[i + 1] << 8;
		if (k > 2)
			v |= der[i + 2];
		unsigned d[4] = {v >> 18, (v >> 12) & 63, k > 1 ? (v >> 6) & 63 : 64,
				 k > 2 ? v & 63 : 64}; /* 64: padding '=' */
		for (int j = 0; j < 4; j++) {
			size_t need = d[j] < 62 ? 1 : 3;
			if ((size_t)(end - o) < need)
				return -ERR_BUF_FULL;
			if (d[j] == 64) {
				memcpy(o, "%3D", 3);
				o += 3;
			} else {
				o = b64_digit(o, d[j]);
			}
		}
	}
	b->len = (size_t)(o - b->data);
	return 0;
}

/* ---- certificate reading --------------------------------------------------------------------- */

/* What the infos need from a certificate: views into its DER. */
struct ptc_cert {
	struct pki_der_tlv issuer, subject; /* Name SEQUENCEs */
	int64_t not_before, not_after;
	struct pki_der_tlv san; /* GeneralNames content; len 0 with v NULL: no extension */
};

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const uint8_t *p, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*out = v;
	return true;
}

/* UTCTime "YYMMDDHHMM[SS]" or GeneralizedTime "YYYYMMDDHHMMSS[.f*]", then "Z" or "+hhmm" /
 * "-hhmm" (what Go's parsers accept; RFC 5280 §4.1.2.5 allows only the Z forms). */
static int parse_time(const struct pki_der_tlv *t, int64_t *out)
{
	const uint8_t *p = t->v;
	size_t n = t->len, i = 0;
	unsigned y, mo, d, h, mi, s = 0;
	if (t->tag == PKI_DER_UTC_TIME) {
		if (n < 11 || !digits(p, 2, &y))
			return -ERR_PARSE;
		y += y < 50 ? 2000 : 1900;
		i = 2;
	} else if (t->tag == PKI_DER_GENERALIZED_TIME) {
		if (n < 15 || !digits(p, 4, &y))
			return -ERR_PARSE;
		i = 4;
	} else {
		return -ERR_PARSE;
	}
	if (!digits(p + i, 2, &mo) || !digits(p + i + 2, 2, &d) || !digits(p + i + 4, 2, &h) ||
	    !digits(p + i + 6, 2, &mi))
		return -ERR_PARSE;
	i += 8;
	if (i + 2 <= n && p[i] >= '0' && p[i] <= '9') {
		if (!digits(p + i, 2, &s))
			return -ERR_PARSE;
		i += 2;
	} else if (t->tag == PKI_DER_GENERALIZED_TIME) {
		return -ERR_PARSE; /* seconds are required there */
	}
	if (t->tag == PKI_DER_GENERALIZED_TIME && i < n && p[i] == '.') {
		i++;
		size_t f = i;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == f)
			return -ERR_PARSE;
	}
	int64_t off = 0;
	if (i + 1 == n && p[i] == 'Z') {
		i++;
	} else if (i + 5 == n && (p[i] == '+' || p[i] == '-')) {
		unsigned oh, om;
		if (!digits(p + i + 1, 2, &oh) || !digits(p + i + 3, 2, &om) || om > 59)
			return -ERR_PARSE;
		off = ((int64_t)oh * 60 + om) * 60 * (p[i] == '-' ? -1 : 1);
		i += 5;
	} else {
		return -ERR_PARSE;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return -ERR_PARSE;
	*out = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + s - off;
	return 0;
}

static const uint8_t OID_SAN[] = {0x55, 0x1d, 0x11}; /* 2.5.29.17 */

static int cert_read(const uint8_t *der, size_t len, struct ptc_cert *pc)
{
	memset(pc, 0, sizeof *pc);
	struct pki_der_rd r = pki_der_rd_make(der, len);
	struct pki_der_tlv cert, tbs, t;
	if (pki_der_expect(&r, PKI_DER_SEQUENCE, &cert) < 0 || !pki_der_rd_empty(&r))
		return -ERR_PARSE;
	struct pki_der_rd cr = pki_der_rd_inside(&cert);
	if (pki_der_expect(&cr, PKI_DER_SEQUENCE, &tbs) < 0)
		return -ERR_PARSE;
	struct pki_der_rd tr = pki_der_rd_inside(&tbs);
	if (pki_der_next(&tr, &t) < 0)
		return -ERR_PARSE;
	if (t.tag == PKI_DER_CTX_CONS(0) && pki_der_next(&tr, &t) < 0) /* version */
		return -ERR_PARSE;
	if (t.tag != PKI_DER_INTEGER) /* serialNumber */
		return -ERR_PARSE;
	struct pki_der_tlv alg, val, nb, na;
	if (pki_der_expect(&tr, PKI_DER_SEQUENCE, &alg) < 0 ||
	    pki_der_expect(&tr, PKI_DER_SEQUENCE, &pc->issuer) < 0 ||
	    pki_der_expect(&tr, PKI_DER_SEQUENCE, &val) < 0 ||
	    pki_der_expect(&tr, PKI_DER_SEQUENCE, &pc->subject) < 0 ||
	    pki_der_expect(&tr, PKI_DER_SEQUENCE, &t) < 0) /* subjectPublicKeyInfo */
		return -ERR_PARSE;
	struct pki_der_rd vr = pki_der_rd_inside(&val);
	if (pki_der_next(&vr, &nb) < 0 || pki_der_next(&vr, &na) < 0 ||
	    parse_time(&nb, &pc->not_before) < 0 || parse_time(&na, &pc->not_after) < 0)
		return -ERR_PARSE;
	while (!pki_der_rd_empty(&tr)) {
		if (pki_der_next(&tr, &t) < 0)
			return -ERR_PARSE;
		if (t.tag != PKI_DER_CTX_CONS(3)) /* issuerUniqueID, subjectUniqueID */
			continue;
		struct pki_der_rd er = pki_der_rd_inside(&t);
		struct pki_der_tlv exts;
		if (pki_der_expect(&er, PKI_DER_SEQUENCE, &exts) < 0)
			return -ERR_PARSE;
		struct pki_der_rd xr = pki_der_rd_inside(&exts);
		while (!pki_der_rd_empty(&xr)) {
			struct pki_der_tlv ext, oid, v;
			if (pki_der_expect(&xr, PKI_DER_SEQUENCE, &ext) < 0)
				return -ERR_PARSE;
			struct pki_der_rd e = pki_der_rd_inside(&ext);
			if (pki_der_expect(&e, PKI_DER_OID, &oid) < 0 || pki_der_next(&e, &v) < 0)
				return -ERR_PARSE;
			if (v.tag == PKI_DER_BOOLEAN && pki_der_next(&e, &v) < 0) /* critical */
				return -ERR_PARSE;
			if (v.tag != PKI_DER_OCTET_STRING)
				return -ERR_PARSE;
			if (!pki_der_is_oid(&oid, OID_SAN, sizeof OID_SAN))
				continue;
			struct pki_der_rd sr = pki_der_rd_inside(&v);
			if (pki_der_expect(&sr, PKI_DER_SEQUENCE, &pc->san) < 0)
				return -ERR_PARSE;
		}
	}
	return 0;
}

/* ---- names ----------------------------------------------------------------------------------- */

static const uint8_t OID_DC[] = {0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19};

/* The X.520 attribute 2.5.4.<arc> as an index in the field order of proxy_config.h
 * (commonName, country, domainComponent, locality, organization, province, serialNumber), or
 * -1. */
enum { DN_CN = 0, DN_C, DN_DC, DN_L, DN_O, DN_ST, DN_SN, DN_N };

static int dn_kind(const struct pki_der_tlv *oid)
{
	if (pki_der_is_oid(oid, OID_DC, sizeof OID_DC))
		return DN_DC;
	if (oid->len != 3 || oid->v[0] != 0x55 || oid->v[1] != 0x04)
		return -1;
	switch (oid->v[2]) {
	case 3: return DN_CN;
	case 5: return DN_SN;
	case 6: return DN_C;
	case 7: return DN_L;
	case 8: return DN_ST;
	case 10: return DN_O;
	default: return -1;
	}
}

static bool is_string_tag(uint8_t tag)
{
	return tag == PKI_DER_PRINTABLE_STRING || tag == PKI_DER_UTF8_STRING ||
	       tag == PKI_DER_IA5_STRING || tag == 0x14 /* T61String */ ||
	       tag == 0x12 /* NumericString */;
}

/* The Name's string attributes of the seven kinds, in certificate order (one walk). A Name
 * with more than DN_ATTR_MAX of them is refused (-ERR_PARSE: no Infos field, logged); a
 * 4 KiB certificate could hold a few hundred, none real holds near 32. */
#define DN_ATTR_MAX 32
struct dn_attrs {
	struct {
		uint8_t kind;
		const uint8_t *v;
		size_t len;
	} a[DN_ATTR_MAX];
	unsigned n;
};

static int dn_collect(const struct pki_der_tlv *name, struct dn_attrs *out)
{
	struct pki_der_rd nr = pki_der_rd_inside(name);
	out->n = 0;
	while (!pki_der_rd_empty(&nr)) {
		struct pki_der_tlv rdn;
		if (pki_der_expect(&nr, PKI_DER_SET, &rdn) < 0)
			return -ERR_PARSE;
		struct pki_der_rd rr = pki_der_rd_inside(&rdn);
		while (!pki_der_rd_empty(&rr)) {
			struct pki_der_tlv atv, oid, v;
			if (pki_der_expect(&rr, PKI_DER_SEQUENCE, &atv) < 0)
				return -ERR_PARSE;
			struct pki_der_rd ar = pki_der_rd_inside(&atv);
			if (pki_der_expect(&ar, PKI_DER_OID, &oid) < 0 || pki_der_next(&ar, &v) < 0)
				return -ERR_PARSE;
			int kind = dn_kind(&oid);
			if (kind < 0 || !is_string_tag(v.tag))
				continue;
			if (out->n == DN_ATTR_MAX)
				return -ERR_PARSE;
			out->a[out->n].kind = (uint8_t)kind;
			out->a[out->n].v = v.v;
			out->a[out->n].len = v.len;
			out->n++;
		}
	}
	return 0;
}

/* `prefix="DC=..,C=..,ST=..,L=..,O=..,SN=..,CN=.."` for the selected fields (sel: bit per
 * kind), nothing when none has a value. *nparts counts the infos' comma-separated parts.
 * Go's rules: every domainComponent (even empty); every non-empty country, province,
 * locality, organization; the last serialNumber and commonName, when not empty. */
static int dn_put(struct esc *w, const char *prefix, const struct pki_der_tlv *name, uint32_t sel,
		  unsigned *nparts)
{
	static const struct {
		uint8_t kind;
		bool last;
		const char *label;
	} order[] = {
		{DN_DC, false, "DC="}, {DN_C, false, "C="}, {DN_ST, false, "ST="},
		{DN_L, false, "L="},   {DN_O, false, "O="}, {DN_SN, true, "SN="},
		{DN_CN, true, "CN="},
	};
	if (!sel)
		return 0;
	struct dn_attrs at;
	int rc = dn_collect(name, &at);
	if (rc)
		return rc;
	size_t saved = w->b->len;
	if (*nparts)
		esc_str(w, ",");
	esc_str(w, prefix);
	esc_str(w, "=\"");
	unsigned n = 0;
	for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
		if (!(sel & (1u << order[k].kind)))
			continue;
		int last = -1;
		for (unsigned i = 0; i < at.n; i++) {
			if (at.a[i].kind != order[k].kind)
				continue;
			if (order[k].last) {
				last = (int)i;
				continue;
			}
			if (at.a[i].len == 0 && order[k].kind != DN_DC)
				continue;
			if (n++)
				esc_str(w, ",");
			esc_str(w, order[k].label);
			esc_put(w, at.a[i].v, at.a[i].len);
		}
		if (last >= 0 && at.a[last].len) {
			if (n++)
				esc_str(w, ",");
			esc_str(w, order[k].label);
			esc_put(w, at.a[last].v, at.a[last].len);
		}
	}
	if (!n) { /* no content: no part at all */
		w->b->len = saved;
		return 0;
	}
	esc_str(w, "\"");
	(*nparts)++;
	return 0;
}

/* ---- SANs ------------------------------------------------------------------------------------ */

/* net.IP.String(): dotted quad for 4 bytes and IPv4-mapped 16 bytes, else RFC 5952 (the
 * longest run of two or more zero groups, the first of equals, becomes "::"). */
static size_t ip_text(const uint8_t *ip, size_t n, char *out)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	size_t k = 0;
	if (n == 16 && memcmp(ip, mapped, 12) == 0) {
		ip += 12;
		n = 4;
	}
	if (n == 4) {
		for (int i = 0; i < 4; i++) {
			unsigned v = ip[i];
			if (i)
				out[k++] = '.';
			if (v >= 100)
				out[k++] = (char)('0' + v / 100);
			if (v >= 10)
				out[k++] = (char)('0' + v / 10 % 10);
			out[k++] = (char)('0' + v % 10);
		}
		return k;
	}
	int best = -1, bestlen = 0;
	for (int i = 0; i < 8;) {
		int j = i;
		while (j < 8 && ip[2 * j] == 0 && ip[2 * j + 1] == 0)
			j++;
		if (j - i > bestlen && j - i >= 2) {
			best = i;
			bestlen = j - i;
		}
		i = j > i ? j : i + 1;
	}
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			out[k++] = ':';
			out[k++] = ':';
			i += bestlen - 1;
			continue;
		}
		if (i && !(best >= 0 && i == best + bestlen))
			out[k++] = ':';
		unsigned v = (unsigned)ip[2 * i] << 8 | ip[2 * i + 1];
		bool lead = true;
		for (int s = 12; s >= 0; s -= 4) {
			unsigned dgt = (v >> s) & 15;
			if (lead && dgt == 0 && s)
				continue;
			lead = false;
			out[k++] = hex[dgt];
		}
	}
	return k;
}

/* "SAN=" and the names: DNS, then e-mail, then IP, then URI (each in certificate order). */
static int san_put(struct esc *w, const struct pki_der_tlv *san, unsigned *nparts)
{
	static const uint8_t kinds[] = {PKI_DER_CTX(2), PKI_DER_CTX(1), PKI_DER_CTX(7),
					PKI_DER_CTX(6)};
	if ((*nparts)++)
		esc_str(w, ",");
	esc_str(w, "SAN=");
	unsigned n = 0;
	for (size_t k = 0; k < sizeof kinds && san->v; k++) {
		struct pki_der_rd r = pki_der_rd_inside(san);
		while (!pki_der_rd_empty(&r)) {
			struct pki_der_tlv g;
			if (pki_der_next(&r, &g) < 0)
				return -ERR_PARSE;
			if (g.tag != kinds[k])
				continue;
			if (g.tag == PKI_DER_CTX(7)) {
				if (g.len != 4 && g.len != 16)
					continue; /* not an address */
				char ip[48];
				size_t m = ip_text(g.v, g.len, ip);
				if (n++)
					esc_str(w, ",");
				esc_put(w, ip, m);
				continue;
			}
			if (n++)
				esc_str(w, ",");
			esc_put(w, g.v, g.len);
		}
	}
	return 0;
}

/* ---- infos value ----------------------------------------------------------------------------- */

int proxy_ptc_infos_value(struct buf *b, const uint8_t *der, size_t len, uint32_t bits)
{
	struct ptc_cert pc;
	int rc = cert_read(der, len, &pc);
	if (rc)
		return rc;
	size_t saved = b->len;
	struct esc w = {b, 0};
	unsigned nparts = 0;
	const uint32_t fields = (1u << DN_N) - 1;
	rc = dn_put(&w, "Subject", &pc.subject, (bits >> PROXY_PTC_SUBJECT) & fields, &nparts);
	if (!rc)
		rc = dn_put(&w, "Issuer", &pc.issuer, (bits >> PROXY_PTC_ISSUER) & fields, &nparts);
	if (!rc && (bits & PROXY_PTC_NOT_BEFORE)) {
		esc_str(&w, nparts++ ? ",NB=" : "NB=");
		esc_u64(&w, (uint64_t)pc.not_before); /* Go: uint64(t.Unix()) */
	}
	if (!rc && (bits & PROXY_PTC_NOT_AFTER)) {
		esc_str(&w, nparts++ ? ",NA=" : "NA=");
		esc_u64(&w, (uint64_t)pc.not_after);
	}
	if (!rc && (bits & PROXY_PTC_SANS))
		rc = san_put(&w, &pc.san, &nparts);
	if (!rc)
		rc = w.err;
	if (rc)
		b->len = saved;
	return rc;
}

/* ---- fields ---------------------------------------------------------------------------------- */

static const char *const owned[] = {
	"X-Forwarded-Tls-Client-Cert",
	"X-Forwarded-Tls-Client-Cert-Infos",
	"X-Forwarded-Ssl-Client-Cert",
	"X-Forwarded-Ssl-Client-Cert-Infos",
};

bool proxy_ptc_owned_field(struct slice name)
{
	/* All four start "X-Forwarded-" and are 27 to 33 bytes long. */
	if (name.len < 27 || name.len > 33 || (name.p[0] != 'X' && name.p[0] != 'x'))
		return false;
	for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
		if (slice_eq_cstr_ci(name, owned[i]))
			return true;
	return false;
}

/* Per-worker log rate limit (see the header): one line a second per kind. */
static struct {
	uint64_t last_ms;
	uint64_t skipped;
} ptc_log_state[4];

static bool log_allowed(unsigned kind, uint64_t now_ms, uint64_t *skipped)
{
	if (ptc_log_state[kind].last_ms && now_ms - ptc_log_state[kind].last_ms < 1000) {
		ptc_log_state[kind].skipped++;
		return false;
	}
	ptc_log_state[kind].last_ms = now_ms ? now_ms : 1;
	*skipped = ptc_log_state[kind].skipped;
	ptc_log_state[kind].skipped = 0;
	return true;
}

static int put_name(struct buf *b, const char *name)
{
	size_t n = strlen(name);
	if (buf_avail(b) < n + 2)
		return -ERR_BUF_FULL;
	memcpy(b->data + b->len, name, n);
	b->len += n;
	b->data[b->len++] = ':';
	b->data[b->len++] = ' ';
	return 0;
}

static int put_eol(struct buf *b)
{
	if (buf_avail(b) < 2)
		return -ERR_BUF_FULL;
	b->data[b->len++] = '\r';
	b->data[b->len++] = '\n';
	return 0;
}

int proxy_ptc_put_fields(struct buf *b, bool pass_tls_cert, uint32_t bits, const uint8_t *der,
			 size_t len, uint64_t now_ms)
{
	if (!der)
		return 0;
	size_t saved = b->len;
	int rc = 0;
	if (pass_tls_cert) {
		rc = put_name(b, "X-Forwarded-Ssl-Client-Cert");
		rc = rc ? rc : proxy_ptc_pem_value(b, der, len);
		rc = rc ? rc : put_eol(b);
	}
	if (!rc && (bits & PROXY_PTC_PEM)) {
		rc = put_name(b, "X-Forwarded-Tls-Client-Cert");
		rc = rc ? rc : proxy_ptc_pem_value(b, der, len);
		rc = rc ? rc : put_eol(b);
	}
	if (!rc && (bits & ~(uint32_t)PROXY_PTC_PEM)) {
		size_t at = b->len;
		rc = put_name(b, "X-Forwarded-Tls-Client-Cert-Infos");
		int ri = rc ? rc : proxy_ptc_infos_value(b, der, len, bits);
		if (ri == -ERR_PARSE) {
			b->len = at; /* no field rather than a wrong one */
			uint64_t skipped = 0;
			if (log_allowed(3, now_ms, &skipped))
				log_warn("client certificate not understood: no "
					 "X-Forwarded-Tls-Client-Cert-Infos",
					 "der_bytes=%zu skipped=%llu", len,
					 (unsigned long long)skipped);
			rc = 0;
		} else {
			rc = ri ? ri : put_eol(b);
		}
	}
	if (rc)
		b->len = saved;
	return rc;
}

int proxy_ptc_put(struct buf *b, const struct proxy_frontend *fe, const struct tls_conn *tls,
		  uint64_t now_ms)
{
	if (!tls)
		return 0;
	size_t len = 0;
	const uint8_t *der = tls_conn_peer_cert(tls, &len);
	return proxy_ptc_put_fields(b, fe->pass_tls_cert, fe->pass_tls_client_cert, der, len,
				    now_ms);
}

/* ---- buffering ------------------------------------------------------------------------------- */

void proxy_buffering_limits(const struct proxy_backend *be, uint64_t *rq_max, uint64_t *rs_max)
{
	*rq_max = be->max_request_body > 0 ? (uint64_t)be->max_request_body : 0;
	*rs_max = be->max_response_body > 0 ? (uint64_t)be->max_response_body : 0;
}

void proxy_buffering_log(enum proxy_buffering_event ev, struct slice backend, uint64_t max,
			 uint64_t now_ms)
{
	static const char *const what[] = {"request answered 413", "response answered 500",
					   "response cut mid-body"};
	uint64_t skipped = 0;
	if (!log_allowed((unsigned)ev, now_ms, &skipped))
		return;
	log_warn("buffering limit exceeded", "what=\"%s\" backend=%.*s limit=%llu skipped=%llu",
		 what[ev], (int)backend.len, backend.p ? backend.p : "", (unsigned long long)max,
		 (unsigned long long)skipped);
}

static struct slice be_name(const struct proxy_conn *c)
{
	if (!c->gen || c->be < 0)
		return (struct slice){NULL, 0};
	return c->gen->t->be[c->be].name;
}

/* The limit of c's current backend (an error page fetch has moved c->be to its error
 * backend: that backend's own limits apply to the page, none when it has no buffering). */
static uint64_t lim_of(const struct proxy_conn *c, bool request)
{
	if (!c->gen || c->be < 0 || !c->gen->t->be[c->be].buffering)
		return 0;
	uint64_t rq, rs;
	proxy_buffering_limits(&c->gen->t->be[c->be], &rq, &rs);
	return request ? rq : rs;
}

bool proxy_buffering_begin(struct proxy_conn *c, const struct proxy_backend *be)
{
	uint64_t rq, rs;
	proxy_buffering_limits(be, &rq, &rs);
	c->buf_lim = (uint8_t)((rq ? PROXY_BUFLIM_RQ : 0) | (rs ? PROXY_BUFLIM_RS : 0));
	return rq && proxy_buffering_rq_over(c);
}

bool proxy_buffering_rq_over(struct proxy_conn *c)
{
	const struct proxy_stream *s = &c->rq;
	uint64_t max = lim_of(c, true);
	if (!proxy_buffering_over(max, s->mode == PM_LENGTH, s->left + s->body, s->body))
		return false;
	proxy_buffering_log(PROXY_BUFFERING_REQUEST, be_name(c), max, loop_now_ms(c->eng->loop));
	return true;
}

bool proxy_buffering_rs_head_over(struct proxy_conn *c, const struct http_response *res)
{
	if (res->status < 200 || c->rs.mode == PM_TUNNEL)
		return false;
	uint64_t max = lim_of(c, false);
	/* by the upstream's Content-Length (whatever framing the client gets), else by the body
	 * bytes that came with the head */
	if (!(res->h.body == HTTP_BODY_LENGTH &&
	      proxy_buffering_over(max, true, res->h.content_length, 0)) &&
	    !proxy_buffering_over(max, false, 0, c->rs.body))
		return false;
	proxy_buffering_log(PROXY_BUFFERING_RESPONSE, be_name(c), max, loop_now_ms(c->eng->loop));
	return true;
}

bool proxy_buffering_rs_over(struct proxy_conn *c, bool sent)
{
	const struct proxy_stream *s = &c->rs;
	uint64_t max = lim_of(c, false);
	if (s->mode == PM_TUNNEL || !proxy_buffering_over(max, false, 0, s->body))
		return false;
	proxy_buffering_log(sent ? PROXY_BUFFERING_CUT : PROXY_BUFFERING_RESPONSE, be_name(c), max,
			    loop_now_ms(c->eng->loop));
	return true;
}
