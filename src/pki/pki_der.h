/* pki_der.h — a minimal DER writer and a bounds-checked DER reader (X.690).
 *
 * Writer. A struct pki_der appends Distinguished Encoding Rules TLVs to a
 * caller-owned struct buf (X.690 §10). Constructed elements are opened with
 * pki_der_begin() and closed with pki_der_end(): the writer puts a one-byte
 * length placeholder after the tag and, at the end, moves the content right
 * when the length needs the long form (X.690 §8.1.3.5), so every length is in
 * its minimal form without a sizing pass.
 *
 * Errors latch (BearSSL's habit): the first failure is kept in w->err and
 * every later call is a no-op returning it, so a long encoding is written
 * straight through and checked once, at pki_der_finish(). finish() also
 * checks that every begin() had its end(), and on any error puts the
 * buffer's length back to what it was at pki_der_init(): the caller never
 * sees half an encoding. Errors:
 *   -ERR_BUF_FULL  the encoding does not fit the buffer's capacity
 *   -ERR_RANGE     more than PKI_DER_MAX_DEPTH open elements, or a value
 *                  the type cannot hold (a year past 9999, an OID arc)
 *   -ERR_INVAL     end() without begin(), finish() with elements open, a
 *                  PrintableString/IA5String character outside its set
 *
 * Reader. pki_der_next() reads one TLV from a (pointer, length) view and
 * returns a view of its content; nothing is copied and nothing outlives the
 * caller's bytes. It accepts DER only: single-byte tags (number < 31),
 * definite lengths in minimal form, content within the input.
 */
#ifndef PKI_DER_H
#define PKI_DER_H

#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"

/* Universal tags (X.680 §8.4) used by certificates and keys. */
#define PKI_DER_BOOLEAN 0x01
#define PKI_DER_INTEGER 0x02
#define PKI_DER_BIT_STRING 0x03
#define PKI_DER_OCTET_STRING 0x04
#define PKI_DER_NULL 0x05
#define PKI_DER_OID 0x06
#define PKI_DER_UTF8_STRING 0x0c
#define PKI_DER_PRINTABLE_STRING 0x13
#define PKI_DER_IA5_STRING 0x16
#define PKI_DER_UTC_TIME 0x17
#define PKI_DER_GENERALIZED_TIME 0x18
#define PKI_DER_SEQUENCE 0x30
#define PKI_DER_SET 0x31
/* Context-specific tags: [n] primitive (IMPLICIT tagging of a primitive
 * type) and [n] constructed (EXPLICIT tagging, or IMPLICIT of a SEQUENCE). */
#define PKI_DER_CTX(n) (0x80 | (n))
#define PKI_DER_CTX_CONS(n) (0xa0 | (n))

/* Deepest nesting a certificate needs is 8 (Certificate, TBS, [3],
 * Extensions, Extension, OCTET STRING, GeneralNames...); 12 leaves room. */
#define PKI_DER_MAX_DEPTH 12

struct pki_der {
	struct buf *out;                /* caller's buffer; borrowed for the writer's life */
	size_t start;                   /* out->len at init, restored by finish() on error */
	size_t open[PKI_DER_MAX_DEPTH]; /* offset of each open element's tag */
	int depth;
	int err; /* first error, latched; 0 while all is well */
};

/* Start writing at the end of `out`'s current contents. */
void pki_der_init(struct pki_der *w, struct buf *out);
/* 0, or the latched error; on error out->len is back to its init value.
 * Also -ERR_INVAL when an element is still open. */
int pki_der_finish(struct pki_der *w);

/* Open a constructed element with tag `tag` (SEQUENCE, SET, [n]...). */
int pki_der_begin(struct pki_der *w, uint8_t tag);
/* Close the innermost open element, writing its length. */
int pki_der_end(struct pki_der *w);

/* A primitive TLV with the given content bytes (any tag). */
int pki_der_tlv(struct pki_der *w, uint8_t tag, const void *p, size_t n);
/* Already-encoded DER, copied as is (a Name copied from another cert). */
int pki_der_raw(struct pki_der *w, const void *p, size_t n);

/* INTEGER from an unsigned value. */
int pki_der_int_u64(struct pki_der *w, uint64_t v);
/* INTEGER from an unsigned big-endian magnitude: leading zero bytes are
 * dropped and a 0x00 is prepended when the top bit is set (X.690 §8.3.2),
 * so the value is always non-negative. An empty or all-zero input is 0. */
int pki_der_int_bytes(struct pki_der *w, const void *be, size_t n);
/* OBJECT IDENTIFIER from its encoded content bytes (e.g. 55 04 03). */
int pki_der_oid(struct pki_der *w, const void *content, size_t n);
/* OBJECT IDENTIFIER from its arcs (X.690 §8.19); n >= 2, arc0 <= 2,
 * arc1 < 40 unless arc0 is 2. -ERR_RANGE otherwise. */
int pki_der_oid_arcs(struct pki_der *w, const uint32_t *arcs, size_t n);
int pki_der_utf8(struct pki_der *w, const char *s, size_t n);
/* PrintableString: A-Z a-z 0-9 space ' ( ) + , - . / : = ? only (X.680 §41.4). */
int pki_der_printable(struct pki_der *w, const char *s, size_t n);
/* IA5String (ASCII 0..127) with the given tag (PKI_DER_IA5_STRING, or
 * PKI_DER_CTX(2) for an IMPLICIT dNSName). */
int pki_der_ia5(struct pki_der *w, uint8_t tag, const char *s, size_t n);
/* Time as RFC 5280 §4.1.2.5 wants it: UTCTime "YYMMDDHHMMSSZ" for years
 * 1950..2049, GeneralizedTime "YYYYMMDDHHMMSSZ" otherwise; years 0..9999. */
int pki_der_time(struct pki_der *w, int64_t epoch_secs);
/* BIT STRING of whole bytes (0 unused bits): SPKI keys, signatures. */
int pki_der_bits(struct pki_der *w, const void *p, size_t n);
/* BIT STRING of named bits (X.680 §22.7, X.690 §11.2.2): bit i of `mask`
 * is named bit i (keyUsage digitalSignature = bit 0); trailing zero bits
 * are removed, so 0 encodes as 03 01 00. */
int pki_der_named_bits(struct pki_der *w, uint32_t mask);
int pki_der_octets(struct pki_der *w, const void *p, size_t n);
/* BOOLEAN: DER TRUE is 0xff (X.690 §11.1). */
int pki_der_bool(struct pki_der *w, int v);
int pki_der_null(struct pki_der *w);

/* --- reader --------------------------------------------------------------- */

/* A read position over caller-owned bytes [p, p + len). */
struct pki_der_rd {
	const uint8_t *p;
	size_t len;
};

/* One element: its tag and a view of its content (into the reader's bytes). */
struct pki_der_tlv {
	uint8_t tag;
	const uint8_t *v;
	size_t len;
};

static inline struct pki_der_rd pki_der_rd_make(const void *p, size_t len)
{
	return (struct pki_der_rd){(const uint8_t *)p, len};
}
/* Content of an element as a new reader (to walk a SEQUENCE's members). */
static inline struct pki_der_rd pki_der_rd_inside(const struct pki_der_tlv *t)
{
	return (struct pki_der_rd){t->v, t->len};
}
static inline int pki_der_rd_empty(const struct pki_der_rd *r)
{
	return r->len == 0;
}

/* Read the next element and advance past it. 0, -ERR_NOTFOUND at the end
 * of input, -ERR_PARSE for anything that is not DER (tag number >= 31,
 * indefinite or non-minimal length, length past the input). On error the
 * reader does not move. */
int pki_der_next(struct pki_der_rd *r, struct pki_der_tlv *out);
/* pki_der_next, then -ERR_PARSE unless the tag is `tag`. */
int pki_der_expect(struct pki_der_rd *r, uint8_t tag, struct pki_der_tlv *out);
/* 1 if the element is an OID whose content equals (content, n). */
int pki_der_is_oid(const struct pki_der_tlv *t, const void *content, size_t n);

#endif
