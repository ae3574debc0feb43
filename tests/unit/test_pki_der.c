/* Unit tests for pki_der: the DER writer (known answers from X.690 and
 * RFC 5280, both sides of every length form and of the buffer cap) and the
 * DER reader (round trips, every prefix, every non-DER form rejected). */
#include "base/base_err.h"
#include "pki/pki_der.h"
#include "test.h"

/* Parse "30 03 02 01 05" (spaces optional) into bytes; returns the count. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;
	for (; *hex; hex++) {
		int v;
		char c = *hex;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			if (n < cap)
				out[n] = (uint8_t)(hi << 4 | v);
			n++;
			hi = -1;
		}
	}
	return n;
}

/* 1 if buf holds exactly the bytes spelled by hex. */
static int buf_is(const struct buf *b, const char *hex)
{
	uint8_t want[256];
	size_t n = unhex(hex, want, sizeof want);
	if (n != b->len || memcmp(b->data, want, n) != 0) {
		fprintf(stderr, "  got:");
		for (size_t i = 0; i < b->len; i++)
			fprintf(stderr, " %02x", b->data[i]);
		fprintf(stderr, "\n  want: %s\n", hex);
		return 0;
	}
	return 1;
}

static uint8_t mem[1 << 17];

/* Fresh writer over the shared scratch memory. */
static void fresh(struct buf *b, struct pki_der *w, size_t cap)
{
	buf_init(b, mem, cap);
	pki_der_init(w, b);
}

static void der_integers(void)
{
	struct buf b;
	struct pki_der w;
	static const struct {
		uint64_t v;
		const char *hex;
	} cases[] = {
		{0, "02 01 00"},           {1, "02 01 01"},
		{127, "02 01 7f"},         {128, "02 02 00 80"},
		{255, "02 02 00 ff"},      {256, "02 02 01 00"},
		{32768, "02 03 00 80 00"}, {UINT64_MAX, "02 09 00 ff ff ff ff ff ff ff ff"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fresh(&b, &w, sizeof mem);
		pki_der_int_u64(&w, cases[i].v);
		CHECK_EQ_INT(pki_der_finish(&w), 0);
		CHECK(buf_is(&b, cases[i].hex));
	}
	/* Magnitudes: leading zeros dropped, 0x00 added for a set top bit. */
	static const uint8_t lead[] = {0, 0, 0x7f, 1}, top[] = {0x80, 0}, zeros[] = {0, 0, 0};
	fresh(&b, &w, sizeof mem);
	pki_der_int_bytes(&w, lead, sizeof lead);
	pki_der_int_bytes(&w, top, sizeof top);
	pki_der_int_bytes(&w, zeros, sizeof zeros);
	pki_der_int_bytes(&w, NULL, 0);
	CHECK_EQ_INT(pki_der_finish(&w), 0);
	CHECK(buf_is(&b, "02 02 7f 01  02 03 00 80 00  02 01 00  02 01 00"));
}

/* Header bytes of a primitive of every length form, both sides of each
 * boundary (X.690 §8.1.3: short form < 128, then 1, 2, 3 length bytes). */
static void der_length_forms(void)
{
	static const struct {
		size_t n;
		const char *hdr;
	} cases[] = {
		{0, "04 00"},           {1, "04 01"},
		{127, "04 7f"},         {128, "04 81 80"},
		{255, "04 81 ff"},      {256, "04 82 01 00"},
		{65535, "04 82 ff ff"}, {65536, "04 83 01 00 00"},
	};
	static uint8_t content[65536];
	memset(content, 0xab, sizeof content);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b;
		struct pki_der w;
		uint8_t hdr[8];
		size_t hl = unhex(cases[i].hdr, hdr, sizeof hdr);
		fresh(&b, &w, sizeof mem);
		pki_der_octets(&w, content, cases[i].n);
		CHECK_EQ_INT(pki_der_finish(&w), 0);
		CHECK_EQ_INT(b.len, hl + cases[i].n);
		CHECK(memcmp(b.data, hdr, hl) == 0);
		/* The same through begin/end: the back-patched length must match. */
		fresh(&b, &w, sizeof mem);
		pki_der_begin(&w, PKI_DER_OCTET_STRING);
		pki_der_raw(&w, content, cases[i].n);
		pki_der_end(&w);
		CHECK_EQ_INT(pki_der_finish(&w), 0);
		CHECK_EQ_INT(b.len, hl + cases[i].n);
		CHECK(memcmp(b.data, hdr, hl) == 0);
		CHECK(cases[i].n == 0 || b.data[b.len - 1] == 0xab);
	}
}

/* SEQ { SEQ { OCTET STRING(n) } } written with begin/end equals the same
 * written inside-out with tlv(), for n across the 1- to 3-byte lengths of
 * every level. */
static void der_nested_backpatch(void)
{
	static uint8_t a[1024], bm[1024], c[1024];
	uint8_t content[400];
	for (size_t i = 0; i < sizeof content; i++)
		content[i] = (uint8_t)i;
	for (size_t n = 0; n <= sizeof content; n++) {
		struct buf b1, b2, b3;
		struct pki_der w;
		buf_init(&b1, a, sizeof a);
		pki_der_init(&w, &b1);
		pki_der_begin(&w, PKI_DER_SEQUENCE);
		pki_der_begin(&w, PKI_DER_SEQUENCE);
		pki_der_octets(&w, content, n);
		pki_der_end(&w);
		pki_der_end(&w);
		REQUIRE(pki_der_finish(&w) == 0);

		buf_init(&b2, bm, sizeof bm);
		pki_der_init(&w, &b2);
		pki_der_octets(&w, content, n);
		REQUIRE(pki_der_finish(&w) == 0);
		buf_init(&b3, c, sizeof c);
		pki_der_init(&w, &b3);
		pki_der_tlv(&w, PKI_DER_SEQUENCE, b2.data, b2.len);
		REQUIRE(pki_der_finish(&w) == 0);
		buf_init(&b2, bm, sizeof bm);
		pki_der_init(&w, &b2);
		pki_der_tlv(&w, PKI_DER_SEQUENCE, b3.data, b3.len);
		REQUIRE(pki_der_finish(&w) == 0);

		if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0) {
			TEST_FAIL_("nested encoding differs at n=%zu", n);
			return;
		}
	}
}

static void der_oids(void)
{
	struct buf b;
	struct pki_der w;
	static const uint32_t ec[] = {1, 2, 840, 10045, 2, 1}, cn[] = {2, 5, 4, 3},
			      x690[] = {2, 999, 3}, eku[] = {1, 3, 6, 1, 5, 5, 7, 3, 1},
			      big[] = {1, 2, 4294967295u};
	fresh(&b, &w, sizeof mem);
	pki_der_oid_arcs(&w, ec, 6);
	CHECK_EQ_INT(pki_der_finish(&w), 0);
	CHECK(buf_is(&b, "06 07 2a 86 48 ce 3d 02 01"));
	fresh(&b, &w, sizeof mem);
	pki_der_oid_arcs(&w, cn, 4);
	pki_der_oid_arcs(&w, x690, 3); /* X.690 §8.19.5 example */
	pki_der_oid_arcs(&w, eku, 9);
	pki_der_oid_arcs(&w, big, 3);
	CHECK_EQ_INT(pki_der_finish(&w), 0);
	CHECK(buf_is(&b, "06 03 55 04 03  06 03 88 37 03  06 08 2b 06 01 05 05 07 03 01"
			 "  06 06 2a 8f ff ff ff 7f"));

	static const uint32_t bad0[] = {3, 1}, bad1[] = {1, 40}, one[] = {1};
	const uint32_t *bad[] = {bad0, bad1, one};
	size_t nbad[] = {2, 2, 1};
	for (int i = 0; i < 3; i++) {
		fresh(&b, &w, sizeof mem);
		buf_append(&b, "xy", 2);
		pki_der_init(&w, &b);
		CHECK_EQ_INT(pki_der_oid_arcs(&w, bad[i], nbad[i]), -ERR_RANGE);
		CHECK_EQ_INT(pki_der_finish(&w), -ERR_RANGE);
		CHECK_EQ_INT(b.len, 2); /* back to what it was at init */
	}
	static const uint32_t ok2[] = {2, 100};
	fresh(&b, &w, sizeof mem);
	pki_der_oid_arcs(&w, ok2, 2);
	CHECK_EQ_INT(pki_der_finish(&w), 0);
	CHECK(buf_is(&b, "06 02 81 34"));
}

/* RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 and
 * before 1950. */
static void der_times(void)
{
	static const struct {
		int64_t t;
		const char *hex;
	} cases[] = {
		{0, "17 0d 373030313031303030303030 5a"},                /* 700101000000Z */
		{2524607999, "17 0d 343931323331323335393539 5a"},       /* 491231235959Z */
		{2524608000, "18 0f 3230353030313031303030303030 5a"},   /* 20500101000000Z */
		{-631152001, "18 0f 3139343931323331323335393539 5a"},   /* 19491231235959Z */
		{-631152000, "17 0d 353030313031303030303030 5a"},       /* 500101000000Z */
		{253402300799, "18 0f 3939393931323331323335393539 5a"}, /* 99991231235959Z */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b;
		struct pki_der w;
		fresh(&b, &w, sizeof mem);
		pki_der_time(&w, cases[i].t);
		CHECK_EQ_INT(pki_der_finish(&w), 0);
		CHECK(buf_is(&b, cases[i].hex));
	}
	struct buf b;
	struct pki_der w;
	fresh(&b, &w, sizeof mem);
	CHECK_EQ_INT(pki_der_time(&w, 253402300800), -ERR_RANGE); /* year 10000 */
	CHECK_EQ_INT(pki_der_finish(&w), -ERR_RANGE);
}

/* X.690 §11.2.2 named bits; the keyUsage values RFC 5280 certificates use. */
static void der_named_bits(void)
{
	static const struct {
		uint32_t mask;
		const char *hex;
	} cases[] = {
		{0, "03 01 00"},
		{1u << 0, "03 02 07 80"},               /* digitalSignature */
		{(1u << 5) | (1u << 6), "03 02 01 06"}, /* keyCertSign, cRLSign */
		{(1u << 0) | (1u << 2), "03 02 05 a0"}, /* digitalSignature, keyEncipherment */
		{1u << 7, "03 02 00 01"},
		{1u << 8, "03 03 07 00 80"}, /* decipherOnly */
		{(1u << 0) | (1u << 8), "03 03 07 80 80"},
		{1u << 31, "03 05 00 00 00 00 01"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b;
		struct pki_der w;
		fresh(&b, &w, sizeof mem);
		pki_der_named_bits(&w, cases[i].mask);
		CHECK_EQ_INT(pki_der_finish(&w), 0);
		CHECK(buf_is(&b, cases[i].hex));
	}
}

static void der_strings_and_simple_types(void)
{
	struct buf b;
	struct pki_der w;
	fresh(&b, &w, sizeof mem);
	pki_der_bool(&w, 1);
	pki_der_bool(&w, 0);
	pki_der_null(&w);
	pki_der_utf8(&w, "h\xc3\xa9", 3);
	pki_der_printable(&w, "Ab 0'()+,-./:=?", 15);
	pki_der_ia5(&w, PKI_DER_CTX(2), "a.b", 3);
	pki_der_bits(&w, "\x04\x01", 2);
	pki_der_tlv(&w, PKI_DER_CTX(0), "k", 1);
	pki_der_begin(&w, PKI_DER_CTX_CONS(3));
	pki_der_end(&w);
	CHECK_EQ_INT(pki_der_finish(&w), 0);
	CHECK(buf_is(&b, "01 01 ff  01 01 00  05 00  0c 03 68 c3 a9"
			 "  13 0f 41 62 20 30 27 28 29 2b 2c 2d 2e 2f 3a 3d 3f"
			 "  82 03 61 2e 62  03 03 00 04 01  80 01 6b  a3 00"));

	/* Characters outside the string type's set latch -ERR_INVAL. */
	const char *not_printable[] = {"a@b", "a*b", "a_b", "a\x01", "\xc3\xa9"};
	for (size_t i = 0; i < sizeof not_printable / sizeof not_printable[0]; i++) {
		fresh(&b, &w, sizeof mem);
		CHECK_EQ_INT(pki_der_printable(&w, not_printable[i], strlen(not_printable[i])),
			     -ERR_INVAL);
		CHECK_EQ_INT(pki_der_finish(&w), -ERR_INVAL);
		CHECK_EQ_INT(b.len, 0);
	}
	fresh(&b, &w, sizeof mem);
	CHECK_EQ_INT(pki_der_ia5(&w, PKI_DER_IA5_STRING, "\x80", 1), -ERR_INVAL);
	CHECK_EQ_INT(pki_der_finish(&w), -ERR_INVAL);
}

static void encode_sample(struct pki_der *w, const uint8_t *content, size_t n)
{
	pki_der_begin(w, PKI_DER_SEQUENCE);
	pki_der_int_u64(w, 1);
	pki_der_begin(w, PKI_DER_SEQUENCE);
	pki_der_octets(w, content, n);
	pki_der_end(w);
	pki_der_utf8(w, "tail", 4);
	pki_der_end(w);
}

/* Every capacity below the exact need fails with -ERR_BUF_FULL and leaves
 * the buffer as it was; the exact capacity succeeds with the same bytes. */
static void der_buffer_cap_boundary(void)
{
	uint8_t content[200];
	memset(content, 7, sizeof content);
	static uint8_t ref[512], m[512];
	struct buf b;
	struct pki_der w;
	buf_init(&b, ref, sizeof ref);
	pki_der_init(&w, &b);
	encode_sample(&w, content, sizeof content);
	REQUIRE(pki_der_finish(&w) == 0);
	size_t need = b.len;
	CHECK_EQ_INT(need, 3 + 3 + 3 + 3 + 200 + 6);

	for (size_t cap = 3; cap <= need + 3; cap++) {
		memset(m, 0xee, sizeof m);
		buf_init(&b, m, cap);
		buf_append(&b, "pre", 3);
		pki_der_init(&w, &b);
		encode_sample(&w, content, sizeof content);
		int rc = pki_der_finish(&w);
		if (cap - 3 < need) {
			CHECK_EQ_INT(rc, -ERR_BUF_FULL);
			CHECK_EQ_INT(b.len, 3);
			CHECK(memcmp(m, "pre", 3) == 0);
		} else {
			CHECK_EQ_INT(rc, 0);
			CHECK_EQ_INT(b.len, 3 + need);
			CHECK(memcmp(m + 3, ref, need) == 0);
		}
	}
}

static void der_misuse_and_latching(void)
{
	struct buf b;
	struct pki_der w;
	fresh(&b, &w, sizeof mem);
	CHECK_EQ_INT(pki_der_end(&w), -ERR_INVAL);
	CHECK_EQ_INT(pki_der_int_u64(&w, 5), -ERR_INVAL); /* latched: no-op */
	CHECK_EQ_INT(pki_der_finish(&w), -ERR_INVAL);
	CHECK_EQ_INT(b.len, 0);

	fresh(&b, &w, sizeof mem);
	pki_der_begin(&w, PKI_DER_SEQUENCE);
	CHECK_EQ_INT(pki_der_finish(&w), -ERR_INVAL); /* still open */
	CHECK_EQ_INT(b.len, 0);

	/* Depth cap: PKI_DER_MAX_DEPTH opens succeed, one more does not. */
	fresh(&b, &w, sizeof mem);
	for (int i = 0; i < PKI_DER_MAX_DEPTH; i++)
		CHECK_EQ_INT(pki_der_begin(&w, PKI_DER_SEQUENCE), 0);
	CHECK_EQ_INT(pki_der_begin(&w, PKI_DER_SEQUENCE), -ERR_RANGE);
	CHECK_EQ_INT(pki_der_finish(&w), -ERR_RANGE);
	fresh(&b, &w, sizeof mem);
	for (int i = 0; i < PKI_DER_MAX_DEPTH; i++)
		pki_der_begin(&w, PKI_DER_SEQUENCE);
	for (int i = 0; i < PKI_DER_MAX_DEPTH; i++)
		pki_der_end(&w);
	CHECK_EQ_INT(pki_der_finish(&w), 0);
	CHECK_EQ_INT(b.len, 2 * PKI_DER_MAX_DEPTH);
}

static void der_reader_roundtrip(void)
{
	struct buf b;
	struct pki_der w;
	uint8_t content[300];
	memset(content, 0x5a, sizeof content);
	fresh(&b, &w, sizeof mem);
	encode_sample(&w, content, sizeof content);
	REQUIRE(pki_der_finish(&w) == 0);

	struct pki_der_rd r = pki_der_rd_make(b.data, b.len), in, in2;
	struct pki_der_tlv t, u;
	REQUIRE(pki_der_expect(&r, PKI_DER_SEQUENCE, &t) == 0);
	CHECK(pki_der_rd_empty(&r));
	CHECK_EQ_INT(pki_der_next(&r, &t), -ERR_NOTFOUND);
	in = pki_der_rd_inside(&t);
	REQUIRE(pki_der_expect(&in, PKI_DER_INTEGER, &u) == 0);
	CHECK(u.len == 1 && u.v[0] == 1);
	/* A wrong tag fails and leaves the position where it was. */
	CHECK_EQ_INT(pki_der_expect(&in, PKI_DER_SET, &u), -ERR_PARSE);
	REQUIRE(pki_der_expect(&in, PKI_DER_SEQUENCE, &u) == 0);
	in2 = pki_der_rd_inside(&u);
	REQUIRE(pki_der_expect(&in2, PKI_DER_OCTET_STRING, &t) == 0);
	CHECK(t.len == 300 && memcmp(t.v, content, 300) == 0);
	CHECK(pki_der_rd_empty(&in2));
	REQUIRE(pki_der_expect(&in, PKI_DER_UTF8_STRING, &u) == 0);
	CHECK_EQ_MEM(u.v, u.len, "tail");
	CHECK(pki_der_rd_empty(&in));
	CHECK_EQ_INT(pki_der_expect(&in, PKI_DER_UTF8_STRING, &u), -ERR_PARSE);

	static const uint8_t oid[] = {0x55, 0x04, 0x03};
	uint8_t enc[] = {0x06, 0x03, 0x55, 0x04, 0x03};
	r = pki_der_rd_make(enc, sizeof enc);
	REQUIRE(pki_der_next(&r, &t) == 0);
	CHECK(pki_der_is_oid(&t, oid, 3));
	CHECK(!pki_der_is_oid(&t, oid, 2));
}

/* Inputs that are BER or broken but not DER: each is refused and the
 * reader does not move. */
static void der_reader_rejects(void)
{
	static const char *bad[] = {
		"30",                   /* tag only */
		"30 80 00 00",          /* indefinite length */
		"04 81 05 0102030405",  /* long form for a short length */
		"04 82 00 80",          /* long form with a leading zero */
		"04 85 01 00 00 00 00", /* five length bytes */
		"04 03 01 02",          /* content past the input */
		"04 81",                /* length bytes missing */
		"1f 01 00",             /* high tag number form */
		"3f 22 00",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t in[32];
		size_t n = unhex(bad[i], in, sizeof in);
		struct pki_der_rd r = pki_der_rd_make(in, n);
		struct pki_der_tlv t;
		if (pki_der_next(&r, &t) != -ERR_PARSE)
			TEST_FAIL_("accepted %s", bad[i]);
		CHECK(r.p == in && r.len == n);
	}
	/* The long forms that are minimal are accepted. */
	static uint8_t big[3 + 200];
	big[0] = 0x04;
	big[1] = 0x81;
	big[2] = 200;
	struct pki_der_rd r = pki_der_rd_make(big, sizeof big);
	struct pki_der_tlv t;
	CHECK_EQ_INT(pki_der_next(&r, &t), 0);
	CHECK_EQ_INT(t.len, 200);
}

/* Every prefix of a valid encoding is refused, whole and element by element. */
static void der_reader_every_prefix(void)
{
	struct buf b;
	struct pki_der w;
	uint8_t content[150];
	memset(content, 1, sizeof content);
	fresh(&b, &w, sizeof mem);
	encode_sample(&w, content, sizeof content);
	REQUIRE(pki_der_finish(&w) == 0);
	for (size_t n = 0; n < b.len; n++) {
		struct pki_der_rd r = pki_der_rd_make(b.data, n);
		struct pki_der_tlv t;
		int rc = pki_der_next(&r, &t);
		if (rc != (n == 0 ? -ERR_NOTFOUND : -ERR_PARSE))
			TEST_FAIL_("prefix %zu of %zu: rc %d", n, b.len, rc);
	}
	struct pki_der_rd r = pki_der_rd_make(b.data, b.len);
	struct pki_der_tlv t;
	CHECK_EQ_INT(pki_der_next(&r, &t), 0);
}

TEST_MAIN(der_integers, der_length_forms, der_nested_backpatch, der_oids, der_times, der_named_bits,
	  der_strings_and_simple_types, der_buffer_cap_boundary, der_misuse_and_latching,
	  der_reader_roundtrip, der_reader_rejects, der_reader_every_prefix)
