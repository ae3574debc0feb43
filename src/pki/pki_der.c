/* pki_der.c — see pki_der.h. X.690 (DER) sections are cited per function. */
#include "pki/pki_der.h"

#include "base/base_err.h"
#include "base/base_time.h"

#include <string.h>

void pki_der_init(struct pki_der *w, struct buf *out)
{
	w->out = out;
	w->start = out->len;
	w->depth = 0;
	w->err = 0;
}

static int der_fail(struct pki_der *w, int err)
{
	if (!w->err)
		w->err = err;
	return w->err;
}

int pki_der_finish(struct pki_der *w)
{
	if (!w->err && w->depth != 0)
		der_fail(w, -ERR_INVAL);
	if (w->err)
		w->out->len = w->start;
	return w->err;
}

/* Bytes a definite length takes (X.690 §8.1.3): short form below 128, else
 * one byte of count plus the big-endian value without leading zeros. */
static size_t der_len_size(size_t n)
{
	size_t k = 1;
	if (n < 0x80)
		return 1;
	while (n) {
		k++;
		n >>= 8;
	}
	return k;
}

static void der_len_put(uint8_t *p, size_t n)
{
	size_t k = der_len_size(n);
	if (k == 1) {
		p[0] = (uint8_t)n;
		return;
	}
	p[0] = (uint8_t)(0x80 | (k - 1));
	for (size_t i = k - 1; i >= 1; i--) {
		p[i] = (uint8_t)n;
		n >>= 8;
	}
}

static int der_put(struct pki_der *w, const void *p, size_t n)
{
	if (w->err)
		return w->err;
	int rc = buf_append(w->out, p, n);
	return rc ? der_fail(w, rc) : 0;
}

int pki_der_begin(struct pki_der *w, uint8_t tag)
{
	if (w->err)
		return w->err;
	if (w->depth >= PKI_DER_MAX_DEPTH)
		return der_fail(w, -ERR_RANGE);
	size_t off = w->out->len;
	uint8_t hdr[2] = {tag, 0};
	if (der_put(w, hdr, sizeof hdr))
		return w->err;
	w->open[w->depth++] = off;
	return 0;
}

int pki_der_end(struct pki_der *w)
{
	if (w->err)
		return w->err;
	if (w->depth == 0)
		return der_fail(w, -ERR_INVAL);
	size_t off = w->open[--w->depth];
	size_t body = off + 2, clen = w->out->len - body;
	size_t extra = der_len_size(clen) - 1;
	if (extra) {
		if (buf_avail(w->out) < extra)
			return der_fail(w, -ERR_BUF_FULL);
		memmove(w->out->data + body + extra, w->out->data + body, clen);
		w->out->len += extra;
	}
	der_len_put(w->out->data + off + 1, clen);
	return 0;
}

int pki_der_tlv(struct pki_der *w, uint8_t tag, const void *p, size_t n)
{
	if (w->err)
		return w->err;
	uint8_t hdr[1 + 1 + sizeof(size_t)];
	hdr[0] = tag;
	der_len_put(hdr + 1, n);
	size_t hlen = 1 + der_len_size(n);
	if (buf_avail(w->out) < hlen || buf_avail(w->out) - hlen < n)
		return der_fail(w, -ERR_BUF_FULL);
	der_put(w, hdr, hlen);
	return der_put(w, p, n);
}

int pki_der_raw(struct pki_der *w, const void *p, size_t n)
{
	return der_put(w, p, n);
}

/* X.690 §8.3: two's complement, minimal octets. A magnitude with its top
 * bit set gets a 0x00 in front so it reads as positive. */
int pki_der_int_bytes(struct pki_der *w, const void *be, size_t n)
{
	const uint8_t *p = be;
	while (n > 0 && p[0] == 0) {
		p++;
		n--;
	}
	if (n == 0) {
		static const uint8_t zero = 0;
		return pki_der_tlv(w, PKI_DER_INTEGER, &zero, 1);
	}
	if (!(p[0] & 0x80))
		return pki_der_tlv(w, PKI_DER_INTEGER, p, n);
	if (w->err)
		return w->err;
	uint8_t hdr[3 + sizeof(size_t)]; /* tag, length (up to 9 bytes), 0x00 */
	hdr[0] = PKI_DER_INTEGER;
	der_len_put(hdr + 1, n + 1);
	size_t hlen = 1 + der_len_size(n + 1);
	hdr[hlen++] = 0;
	if (buf_avail(w->out) < hlen || buf_avail(w->out) - hlen < n)
		return der_fail(w, -ERR_BUF_FULL);
	der_put(w, hdr, hlen);
	return der_put(w, p, n);
}

int pki_der_int_u64(struct pki_der *w, uint64_t v)
{
	uint8_t be[8];
	for (int i = 7; i >= 0; i--) {
		be[i] = (uint8_t)v;
		v >>= 8;
	}
	return pki_der_int_bytes(w, be, sizeof be);
}

int pki_der_oid(struct pki_der *w, const void *content, size_t n)
{
	return pki_der_tlv(w, PKI_DER_OID, content, n);
}

/* X.690 §8.19: the first two arcs share one subidentifier (40 * a0 + a1);
 * each subidentifier is base 128, most significant group first, with the
 * top bit set on every byte but the last. */
int pki_der_oid_arcs(struct pki_der *w, const uint32_t *arcs, size_t n)
{
	if (w->err)
		return w->err;
	if (n < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] >= 40) || n > 32)
		return der_fail(w, -ERR_RANGE);
	uint8_t body[32 * 10];
	size_t len = 0;
	for (size_t i = 1; i < n; i++) {
		uint64_t v = i == 1 ? (uint64_t)arcs[0] * 40 + arcs[1] : arcs[i];
		uint8_t tmp[10];
		size_t k = 0;
		do {
			tmp[k++] = (uint8_t)(v & 0x7f);
			v >>= 7;
		} while (v);
		while (k > 0) {
			k--;
			body[len++] = (uint8_t)(tmp[k] | (k ? 0x80 : 0));
		}
	}
	return pki_der_tlv(w, PKI_DER_OID, body, len);
}

int pki_der_utf8(struct pki_der *w, const char *s, size_t n)
{
	return pki_der_tlv(w, PKI_DER_UTF8_STRING, s, n);
}

static int der_printable_char(unsigned char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr(" '()+,-./:=?", c) != NULL;
}

int pki_der_printable(struct pki_der *w, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!der_printable_char((unsigned char)s[i]))
			return der_fail(w, -ERR_INVAL);
	return pki_der_tlv(w, PKI_DER_PRINTABLE_STRING, s, n);
}

int pki_der_ia5(struct pki_der *w, uint8_t tag, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] > 0x7f)
			return der_fail(w, -ERR_INVAL);
	return pki_der_tlv(w, tag, s, n);
}

static void der_digits(uint8_t *p, int v, int ndigits)
{
	for (int i = ndigits - 1; i >= 0; i--) {
		p[i] = (uint8_t)('0' + v % 10);
		v /= 10;
	}
}

/* RFC 5280 §4.1.2.5.1/.2: seconds always present, always "Z", no
 * fractions; UTCTime's two-digit year means 1950..2049. */
int pki_der_time(struct pki_der *w, int64_t epoch_secs)
{
	struct time_civil c;
	time_civil_from_epoch(epoch_secs, &c);
	if (c.year < 0 || c.year > 9999)
		return der_fail(w, -ERR_RANGE);
	uint8_t s[15];
	size_t k = 0;
	int utc = c.year >= 1950 && c.year <= 2049;
	if (utc) {
		der_digits(s, c.year % 100, 2);
		k = 2;
	} else {
		der_digits(s, c.year, 4);
		k = 4;
	}
	der_digits(s + k, c.month, 2);
	der_digits(s + k + 2, c.day, 2);
	der_digits(s + k + 4, c.hour, 2);
	der_digits(s + k + 6, c.min, 2);
	der_digits(s + k + 8, c.sec, 2);
	s[k + 10] = 'Z';
	return pki_der_tlv(w, utc ? PKI_DER_UTC_TIME : PKI_DER_GENERALIZED_TIME, s, k + 11);
}

int pki_der_bits(struct pki_der *w, const void *p, size_t n)
{
	if (pki_der_begin(w, PKI_DER_BIT_STRING))
		return w->err;
	uint8_t unused = 0;
	der_put(w, &unused, 1);
	der_put(w, p, n);
	return pki_der_end(w);
}

/* X.690 §11.2.2: a named-bit list drops its trailing zero bits; the
 * initial octet says how many bits of the last octet are unused. */
int pki_der_named_bits(struct pki_der *w, uint32_t mask)
{
	uint8_t body[1 + 4] = {0};
	if (mask == 0)
		return pki_der_tlv(w, PKI_DER_BIT_STRING, body, 1);
	int top = 31;
	while (!(mask & (UINT32_C(1) << top)))
		top--;
	size_t nbytes = (size_t)top / 8 + 1;
	body[0] = (uint8_t)(7 - top % 8);
	for (int i = 0; i <= top; i++)
		if (mask & (UINT32_C(1) << i))
			body[1 + i / 8] |= (uint8_t)(0x80 >> (i % 8));
	return pki_der_tlv(w, PKI_DER_BIT_STRING, body, 1 + nbytes);
}

int pki_der_octets(struct pki_der *w, const void *p, size_t n)
{
	return pki_der_tlv(w, PKI_DER_OCTET_STRING, p, n);
}

int pki_der_bool(struct pki_der *w, int v)
{
	uint8_t b = v ? 0xff : 0x00;
	return pki_der_tlv(w, PKI_DER_BOOLEAN, &b, 1);
}

int pki_der_null(struct pki_der *w)
{
	return pki_der_tlv(w, PKI_DER_NULL, NULL, 0);
}

/* --- reader --------------------------------------------------------------- */

/* X.690 §8.1.2 (identifier) and §10.1 (DER: definite, minimal lengths). */
int pki_der_next(struct pki_der_rd *r, struct pki_der_tlv *out)
{
	if (r->len == 0)
		return -ERR_NOTFOUND;
	const uint8_t *p = r->p;
	size_t left = r->len;
	uint8_t tag = p[0];
	if ((tag & 0x1f) == 0x1f)
		return -ERR_PARSE; /* high tag number form: never used here */
	if (left < 2)
		return -ERR_PARSE;
	size_t pos = 2, len = p[1];
	if (len == 0x80)
		return -ERR_PARSE; /* indefinite length is BER, not DER */
	if (len > 0x80) {
		size_t k = len & 0x7f;
		if (k > 4 || left - 2 < k || p[2] == 0)
			return -ERR_PARSE;
		len = 0;
		for (size_t i = 0; i < k; i++)
			len = len << 8 | p[2 + i];
		if (len < 0x80)
			return -ERR_PARSE; /* long form for a short length */
		pos += k;
	}
	if (len > left - pos)
		return -ERR_PARSE;
	out->tag = tag;
	out->v = p + pos;
	out->len = len;
	r->p = p + pos + len;
	r->len = left - pos - len;
	return 0;
}

int pki_der_expect(struct pki_der_rd *r, uint8_t tag, struct pki_der_tlv *out)
{
	struct pki_der_rd save = *r;
	int rc = pki_der_next(r, out);
	if (rc == -ERR_NOTFOUND)
		return -ERR_PARSE;
	if (rc)
		return rc;
	if (out->tag != tag) {
		*r = save;
		return -ERR_PARSE;
	}
	return 0;
}

int pki_der_is_oid(const struct pki_der_tlv *t, const void *content, size_t n)
{
	return t->tag == PKI_DER_OID && t->len == n && memcmp(t->v, content, n) == 0;
}
