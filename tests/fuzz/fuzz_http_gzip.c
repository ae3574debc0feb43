/* fuzz_http_gzip.c — libFuzzer harness for src/http/http_gzip (streaming gzip compressor).
 *
 * Input layout: byte 0 picks the level (1..9), bytes 1..4 seed a PRNG that picks the size
 * of each input piece, each output capacity (1 byte up to 64 KiB, mostly small) and the
 * points where a SYNC flush is asked for; the rest is the data to compress. The data is
 * compressed three times: under that schedule, in one call with a large buffer, and under
 * the schedule without its SYNCs. Invariants, checked with abort():
 *  - no byte is written past cap (canary after the output window), *used <= n,
 *    *wrote <= cap, the return value is 0 or 1;
 *  - every call that is not finished makes progress (consumes or writes) when cap > 0,
 *    and FINISH ends within a bounded number of calls;
 *  - a SYNC flush leaves output that ends with 00 00 ff ff, and a second SYNC with no new
 *    input writes nothing;
 *  - the stream starts with the gzip header and ends with the CRC-32 and ISIZE of the data;
 *  - the output size is within the worst case of the format (the compressor picks the
 *    cheapest of stored, fixed and dynamic: never more than 5/4 of the input plus framing);
 *  - after FINISH, calls return 1, consume nothing and write nothing;
 *  - the strict inflater below decodes each stream to the data, and each SYNC ended right
 *    where an empty stored block ends with all the data given so far decoded;
 *  - without SYNCs the stream is the same bytes as the one-call stream, however the input
 *    and the output were cut.
 * Memory errors are the sanitizers' business.
 */
#include "http/http_gzip.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(c)                \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

#define CANARY 0x5a
#define MAX_DATA (256u * 1024u)

static uint32_t rng;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static size_t pick_size(size_t max) /* 1..max, mostly small */
{
	size_t lim = (size_t)1 << (rnd() % 17);
	if (lim > max)
		lim = max;
	return 1 + rnd() % lim;
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* --- a strict inflater (RFC 1951/1952), for checking only ------------------------------
 * Slow and simple: canonical codes decoded bit by bit. Stricter than zlib on purpose:
 * every Huffman code must be complete (the compressor promises it), and the stream must
 * be exactly one gzip member. Each empty stored block (a SYNC marker) is recorded with
 * the compressed and decoded offsets where it ends. */

#define MAX_MARKS 4096

struct inf {
	const uint8_t *src;
	size_t len, bit; /* bit position */
	uint8_t *dst;
	size_t cap, out;
	size_t mark_in[MAX_MARKS], mark_out[MAX_MARKS];
	size_t nmark;
};

struct huff {
	uint16_t count[16];   /* codes per length */
	uint16_t symbol[320]; /* symbols by code order */
};

static int getbit(struct inf *s)
{
	ASSERT(s->bit < 8 * s->len);
	int b = (s->src[s->bit >> 3] >> (s->bit & 7)) & 1;
	s->bit++;
	return b;
}

static unsigned getbits(struct inf *s, unsigned n)
{
	unsigned v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (unsigned)getbit(s) << i;
	return v;
}

/* Build from lengths; the code must be complete. */
static void huff_build(struct huff *h, const uint8_t *len, unsigned n)
{
	uint16_t offs[16];
	memset(h->count, 0, sizeof h->count);
	for (unsigned i = 0; i < n; i++)
		h->count[len[i]]++;
	long left = 1;
	for (unsigned l = 1; l < 16; l++) {
		left = 2 * left - h->count[l];
		ASSERT(left >= 0); /* over-subscribed */
	}
	ASSERT(left == 0); /* incomplete */
	offs[1] = 0;
	for (unsigned l = 1; l < 15; l++)
		offs[l + 1] = (uint16_t)(offs[l] + h->count[l]);
	for (unsigned i = 0; i < n; i++)
		if (len[i])
			h->symbol[offs[len[i]]++] = (uint16_t)i;
}

/* Canonical decoding: codes of one length are consecutive, first code of each length is
 * (first of the previous length + its count) * 2. */
static unsigned huff_decode(struct inf *s, const struct huff *h)
{
	int code = 0, first = 0, index = 0;
	for (unsigned l = 1; l < 16; l++) {
		code |= getbit(s);
		int count = h->count[l];
		if (code - first < count)
			return h->symbol[index + code - first];
		index += count;
		first = (first + count) << 1;
		code <<= 1;
	}
	ASSERT(0);
	return 0;
}

static const uint16_t t_lbase[29] = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
				     15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
				     67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint16_t t_dbase[30] = {1,    2,    3,    4,    5,    7,    9,    13,    17,    25,
				     33,   49,   65,   97,   129,  193,  257,  385,   513,   769,
				     1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};

static unsigned lextra(unsigned c)
{
	return c < 8 || c == 28 ? 0 : (c - 4) / 4;
}
static unsigned dextra(unsigned c)
{
	return c < 4 ? 0 : (c - 2) / 2;
}

static void inf_codes(struct inf *s, const struct huff *lh, const struct huff *dh)
{
	for (;;) {
		unsigned sym = huff_decode(s, lh);
		if (sym < 256) {
			ASSERT(s->out < s->cap);
			s->dst[s->out++] = (uint8_t)sym;
		} else if (sym == 256) {
			return;
		} else {
			sym -= 257;
			ASSERT(sym < 29);
			unsigned len = t_lbase[sym] + getbits(s, lextra(sym));
			unsigned dc = huff_decode(s, dh);
			ASSERT(dc < 30);
			unsigned dist = t_dbase[dc] + getbits(s, dextra(dc));
			ASSERT(dist <= s->out && dist <= 32768);
			ASSERT(s->out + len <= s->cap);
			for (unsigned i = 0; i < len; i++, s->out++)
				s->dst[s->out] = s->dst[s->out - dist];
		}
	}
}

/* Decode a whole gzip member; returns the decoded length. */
static size_t inflate_gzip(struct inf *s)
{
	static const uint8_t order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
					  11, 4,  12, 3, 13, 2, 14, 1, 15};
	struct huff lh, dh;
	uint8_t lens[320];

	ASSERT(s->len >= 18 && s->src[0] == 0x1f && s->src[1] == 0x8b && s->src[2] == 8 &&
	       s->src[3] == 0);
	s->bit = 80;
	int last;
	do {
		last = getbit(s);
		unsigned type = getbits(s, 2);
		if (type == 0) {
			s->bit = (s->bit + 7) & ~(size_t)7;
			unsigned len = getbits(s, 16), nlen = getbits(s, 16);
			ASSERT(len == (~nlen & 0xffff));
			ASSERT(s->bit / 8 + len <= s->len && s->out + len <= s->cap);
			memcpy(s->dst + s->out, s->src + s->bit / 8, len);
			s->out += len;
			s->bit += 8 * (size_t)len;
			if (len == 0 && s->nmark < MAX_MARKS) {
				s->mark_in[s->nmark] = s->bit / 8;
				s->mark_out[s->nmark++] = s->out;
			}
		} else if (type == 1) {
			for (unsigned i = 0; i < 288; i++)
				lens[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
			huff_build(&lh, lens, 288);
			for (unsigned i = 0; i < 30; i++)
				lens[i] = 5;
			/* 30 codes of 5 bits are incomplete; pad with the two unused ones */
			lens[30] = lens[31] = 5;
			huff_build(&dh, lens, 32);
			inf_codes(s, &lh, &dh);
		} else {
			ASSERT(type == 2);
			unsigned hlit = getbits(s, 5) + 257, hdist = getbits(s, 5) + 1;
			unsigned hclen = getbits(s, 4) + 4;
			ASSERT(hlit <= 286 && hdist <= 30);
			uint8_t cl[19] = {0};
			for (unsigned i = 0; i < hclen; i++)
				cl[order[i]] = (uint8_t)getbits(s, 3);
			struct huff ch;
			huff_build(&ch, cl, 19);
			unsigned i = 0;
			while (i < hlit + hdist) {
				unsigned sym = huff_decode(s, &ch), rep = 0, v = 0;
				if (sym < 16) {
					lens[i++] = (uint8_t)sym;
					continue;
				}
				if (sym == 16) {
					ASSERT(i > 0);
					v = lens[i - 1];
					rep = 3 + getbits(s, 2);
				} else if (sym == 17) {
					rep = 3 + getbits(s, 3);
				} else {
					rep = 11 + getbits(s, 7);
				}
				ASSERT(i + rep <= hlit + hdist);
				while (rep--)
					lens[i++] = (uint8_t)v;
			}
			ASSERT(lens[256] != 0);
			huff_build(&lh, lens, hlit);
			huff_build(&dh, lens + hlit, hdist);
			inf_codes(s, &lh, &dh);
		}
	} while (!last);
	s->bit = (s->bit + 7) & ~(size_t)7;
	ASSERT(s->bit / 8 + 8 == s->len); /* the trailer, then nothing */
	return s->out;
}

/* Compress data[0..n) under the schedule of the current PRNG (or in one call when `whole`);
 * returns the output length. */
static size_t sync_out[MAX_MARKS], sync_in[MAX_MARKS], nsync;

static size_t run(struct http_gzip *z, int level, const uint8_t *data, size_t n, uint8_t *out,
		  size_t ocap, int whole, int nosync)
{
	nsync = 0;
	size_t pos = 0, olen = 0, syncs = 0;
	unsigned long calls = 0;
	int done = 0;

	http_gzip_init(z, level);
	while (!done) {
		size_t piece = n - pos;
		if (!whole && piece > 0)
			piece = pick_size(piece);
		int flush = HTTP_GZIP_NONE;
		if (pos + piece == n)
			flush = HTTP_GZIP_FINISH;
		else if (!nosync && rnd() % 8 == 0)
			flush = HTTP_GZIP_SYNC;
		size_t off = 0;
		for (;;) {
			size_t cap = whole ? ocap - olen : pick_size(65536);
			ASSERT(olen <= ocap);
			if (cap > ocap - olen)
				cap = ocap - olen;
			ASSERT(cap > 0); /* else the output is over its worst case */
			memset(out + olen + cap, CANARY, 16);
			size_t used = (size_t)-1, wrote = (size_t)-1;
			int r = http_gzip_step(z, data + pos + off, piece - off, &used, out + olen,
					       cap, &wrote, flush);
			for (int i = 0; i < 16; i++)
				ASSERT(out[olen + cap + i] == CANARY);
			ASSERT(r == 0 || r == 1);
			ASSERT(used <= piece - off && wrote <= cap);
			ASSERT(r == 1 || used > 0 || wrote > 0 ||
			       (off == piece && flush != HTTP_GZIP_FINISH));
			ASSERT(++calls < 4 * (n + ocap) + 64);
			off += used;
			olen += wrote;
			if (r == 1) {
				ASSERT(flush == HTTP_GZIP_FINISH && off == piece);
				done = 1;
				break;
			}
			if (off == piece && wrote < cap)
				break;
		}
		pos += piece;
		if (flush == HTTP_GZIP_SYNC) {
			syncs++;
			if (nsync < MAX_MARKS) {
				sync_out[nsync] = olen;
				sync_in[nsync++] = pos;
			}
			ASSERT(olen >= 4 && memcmp(out + olen - 4, "\x00\x00\xff\xff", 4) == 0);
			size_t used, wrote;
			uint8_t tmp[8];
			ASSERT(http_gzip_step(z, NULL, 0, &used, tmp, sizeof tmp, &wrote,
					      HTTP_GZIP_SYNC) == 0);
			ASSERT(used == 0 && wrote == 0);
		}
	}
	/* finished: nothing more, whatever is asked */
	size_t used, wrote;
	uint8_t tmp[8];
	ASSERT(http_gzip_step(z, data, n, &used, tmp, sizeof tmp, &wrote, HTTP_GZIP_NONE) == 1);
	ASSERT(used == 0 && wrote == 0);

	/* framing: header, trailer */
	ASSERT(olen >= 10 + 2 + 8);
	ASSERT(out[0] == 0x1f && out[1] == 0x8b && out[2] == 8 && out[3] == 0);
	ASSERT(le32(out + olen - 8) == http_gzip_crc32(0, data, n));
	ASSERT(le32(out + olen - 4) == (uint32_t)n);
	/* 10 bits per byte is the most fixed Huffman can cost; each block or flush adds a
	 * header, an end code and padding */
	ASSERT(olen <= n + n / 4 + 64 * (syncs + n / 8192 + 2));
	return olen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5 || size - 5 > MAX_DATA)
		return 0;
	int level = 1 + data[0] % 9;
	rng = le32(data + 1) | 1;
	const uint8_t *in = data + 5;
	size_t n = size - 5;
	size_t ocap = n + n / 4 + 64 * (n / 8192 + 2) + 64 * (n + 2);
	struct http_gzip *z = aligned_alloc(16, (http_gzip_size() + 15) & ~(size_t)15);
	uint8_t *a = malloc(ocap + 16);
	ASSERT(z && a);

	static struct inf st;
	uint8_t *dec = malloc(n + 1), *b = malloc(ocap + 16);
	size_t lb = 0;
	ASSERT(dec && b);
	/* 0: the schedule with SYNCs; 1: one call; 2: the schedule without SYNCs */
	for (int pass = 0; pass < 3; pass++) {
		size_t len = run(z, level, in, n, a, ocap, pass == 1, pass == 2);
		memset(&st, 0, sizeof st);
		st.src = a;
		st.len = len;
		st.dst = dec;
		st.cap = n;
		ASSERT(inflate_gzip(&st) == n && memcmp(dec, in, n) == 0);
		/* every SYNC ended where an empty stored block ends, with all input so far
		 * decodable there */
		size_t k = 0;
		for (size_t i = 0; i < nsync; i++) {
			while (k < st.nmark && st.mark_in[k] < sync_out[i])
				k++;
			ASSERT(k < st.nmark || st.nmark == MAX_MARKS);
			if (k < st.nmark)
				ASSERT(st.mark_in[k] == sync_out[i] &&
				       st.mark_out[k] == sync_in[i]);
		}
		/* without SYNCs, how the input and output were cut changes nothing */
		if (pass == 1) {
			memcpy(b, a, len);
			lb = len;
		} else if (pass == 2) {
			ASSERT(len == lb && memcmp(a, b, len) == 0);
		}
	}
	free(b);
	free(dec);
	free(z);
	free(a);
	return 0;
}
