/* Unit tests for http_gzip: every stream is decoded by the system's `gzip -dc` (which checks
 * the CRC-32 and ISIZE trailer) and compared with the input.
 *
 * Inputs: empty, one byte, 1 MB of zeros, 200 KB of random bytes (must not grow beyond
 * the stored-block overhead), ~1 MB of generated HTML and JSON, at every level 1..9. They
 * are fed in random-size pieces with random output capacities down to 1 byte, with SYNC
 * flushes at random points; after each SYNC the output so far must end with 00 00 ff ff
 * and decode to exactly the input given so far. Every call is checked for the contract:
 * no byte written past cap (a canary follows the output window), progress whenever
 * cap > 0, FINISH returning 1 once and then nothing more.
 *
 * Also: CRC-32 vectors; the length-limited code construction on its own (through the
 * test-build hook), with Fibonacci frequencies that make over-deep trees; a SYNC exactly
 * where a block of stored data was kept back with no symbol after it.
 */
#include "http/http_gzip.h"
#include "test.h"

#include <unistd.h>

/* --- helpers ------------------------------------------------------------------------ */

static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static size_t rnd_upto(size_t max) /* 1..max, skewed towards small values */
{
	size_t lim = (size_t)1 << (rnd() % 18);
	if (lim > max)
		lim = max;
	return 1 + rnd() % lim;
}

static struct http_gzip *gz_new(int level)
{
	struct http_gzip *z = aligned_alloc(16, (http_gzip_size() + 15) & ~(size_t)15);
	if (z)
		http_gzip_init(z, level);
	return z;
}

/* Decode src[0..n) with `gzip -dc`; returns the decoded length (malloc'd in *dst) or -1.
 * `strict`: gzip must exit 0 (complete stream, CRC and ISIZE right); otherwise a
 * truncated stream is accepted and whatever it decodes to is returned. */
static long gunzip(const uint8_t *src, size_t n, uint8_t **dst, int strict)
{
	char path[] = "/tmp/tee-gzip-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (write(fd, src, n) != (ssize_t)n) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "gzip -dc < %s 2>/dev/null", path);
	FILE *p = popen(cmd, "r");
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);
	if (!p || !buf) {
		unlink(path);
		free(buf);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap *= 2;
			uint8_t *nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		size_t k = fread(buf + len, 1, cap - len, p);
		if (k == 0)
			break;
		len += k;
	}
	int st = pclose(p);
	unlink(path);
	if (strict && st != 0) {
		free(buf);
		return -1;
	}
	*dst = buf;
	return (long)len;
}

struct run_opt {
	int level;
	size_t piece_max;     /* input bytes per call: 1..piece_max (0: all at once) */
	size_t cap_max;       /* output capacity per call: 1..cap_max (0: large) */
	unsigned sync_pct;    /* chance of a SYNC after a piece, percent */
	unsigned sync_verify; /* decode the stream after that many SYNCs at most */
};

#define CANARY 0xa5

/* Compress in[0..n) under `o`; returns the stream (malloc'd) and its length in *outlen.
 * Contract violations are reported as test failures. */
static uint8_t *gz_run(const uint8_t *in, size_t n, const struct run_opt *o, size_t *outlen)
{
	struct http_gzip *z = gz_new(o->level);
	size_t ocap = n + n / 8 + 4096, olen = 0;
	uint8_t *ob = malloc(ocap + 64);
	if (!z || !ob) {
		TEST_FAIL_("out of memory");
		free(z);
		free(ob);
		return NULL;
	}
	size_t pos = 0;
	unsigned verified = 0;
	int done = 0, calls = 0;
	while (!done) {
		size_t piece = n - pos;
		if (o->piece_max && piece > o->piece_max)
			piece = rnd_upto(o->piece_max < piece ? o->piece_max : piece);
		int flush = HTTP_GZIP_NONE;
		if (pos + piece == n)
			flush = HTTP_GZIP_FINISH;
		else if (o->sync_pct && rnd() % 100 < o->sync_pct)
			flush = HTTP_GZIP_SYNC;
		/* feed this piece until it is consumed and the flush, if any, is complete */
		size_t off = 0;
		for (;;) {
			size_t cap = o->cap_max ? rnd_upto(o->cap_max) : 1 << 16;
			if (cap > ocap - olen)
				cap = ocap - olen;
			if (cap == 0) {
				TEST_FAIL_("output grows past %zu bytes for %zu input", ocap, n);
				goto fail;
			}
			memset(ob + olen + cap, CANARY, 64);
			size_t used = 7777, wrote = 7777;
			int r = http_gzip_step(z, in + pos + off, piece - off, &used, ob + olen,
					       cap, &wrote, flush);
			calls++;
			for (int i = 0; i < 64; i++)
				if (ob[olen + cap + i] != CANARY) {
					TEST_FAIL_("wrote past cap %zu", cap);
					goto fail;
				}
			if (used > piece - off || wrote > cap || (r != 0 && r != 1)) {
				TEST_FAIL_("bad report used %zu wrote %zu r %d", used, wrote, r);
				goto fail;
			}
			if (used == 0 && wrote == 0 && r == 0 &&
			    (off < piece || flush == HTTP_GZIP_FINISH)) {
				TEST_FAIL_("no progress");
				goto fail;
			}
			off += used;
			olen += wrote;
			if (r == 1) {
				if (flush != HTTP_GZIP_FINISH || off != piece)
					TEST_FAIL_("finished early");
				done = 1;
				break;
			}
			if (off == piece && wrote < cap && flush != HTTP_GZIP_FINISH)
				break;
		}
		pos += piece;
		if (flush == HTTP_GZIP_SYNC) {
			if (olen < 4 || memcmp(ob + olen - 4, "\x00\x00\xff\xff", 4) != 0)
				TEST_FAIL_("SYNC output does not end with 00 00 ff ff");
			/* a second SYNC with no new input writes nothing */
			size_t used, wrote;
			uint8_t tmp[16];
			http_gzip_step(z, NULL, 0, &used, tmp, sizeof tmp, &wrote, HTTP_GZIP_SYNC);
			CHECK_EQ_INT(wrote, 0);
			if (verified < o->sync_verify) {
				verified++;
				uint8_t *dec = NULL;
				long dn = gunzip(ob, olen, &dec, 0);
				if (dn != (long)pos || memcmp(dec, in, pos) != 0)
					TEST_FAIL_("SYNC at %zu: prefix decodes to %ld bytes", pos,
						   dn);
				free(dec);
			}
		}
	}
	/* after FINISH: returns 1, writes nothing, consumes nothing */
	{
		size_t used, wrote;
		uint8_t tmp[8];
		CHECK_EQ_INT(
			http_gzip_step(z, in, n ? 1 : 0, &used, tmp, 8, &wrote, HTTP_GZIP_NONE), 1);
		CHECK_EQ_INT(used, 0);
		CHECK_EQ_INT(wrote, 0);
	}
	free(z);
	*outlen = olen;
	return ob;
fail:
	free(z);
	free(ob);
	return NULL;
}

/* With GZ_DUMP=<prefix> in the environment, a failing stream and its input are kept in
 * <prefix>.gz and <prefix>.in for a closer look. */
static void dump_failure(const uint8_t *c, size_t clen, const uint8_t *in, size_t n)
{
	const char *pre = getenv("GZ_DUMP");
	char path[256];
	FILE *f;
	if (!pre)
		return;
	snprintf(path, sizeof path, "%s.gz", pre);
	if ((f = fopen(path, "wb"))) {
		fwrite(c, 1, clen, f);
		fclose(f);
	}
	snprintf(path, sizeof path, "%s.in", pre);
	if ((f = fopen(path, "wb"))) {
		fwrite(in, 1, n, f);
		fclose(f);
	}
}

/* Compress, decode with gzip, compare; returns the compressed size or -1. */
static long roundtrip(const uint8_t *in, size_t n, const struct run_opt *o)
{
	size_t clen;
	uint8_t *c = gz_run(in, n, o, &clen);
	if (!c)
		return -1;
	uint8_t *dec = NULL;
	long dn = gunzip(c, clen, &dec, 1);
	long ret = (long)clen;
	if (dn != (long)n || (n && memcmp(dec, in, n) != 0)) {
		TEST_FAIL_("level %d: %zu bytes decode to %ld bytes (or differ)", o->level, n, dn);
		dump_failure(c, clen, in, n);
		ret = -1;
	}
	/* trailer: CRC-32 and ISIZE, little-endian */
	if (clen >= 18) {
		uint32_t crc = http_gzip_crc32(0, in, n);
		const uint8_t *t = c + clen - 8;
		uint32_t tc = t[0] | t[1] << 8 | t[2] << 16 | (uint32_t)t[3] << 24;
		uint32_t ts = t[4] | t[5] << 8 | t[6] << 16 | (uint32_t)t[7] << 24;
		CHECK_EQ_INT(tc, crc);
		CHECK_EQ_INT(ts, (uint32_t)n);
	} else {
		TEST_FAIL_("stream of %zu bytes is too short", clen);
	}
	free(dec);
	free(c);
	return ret;
}

/* ~n bytes of HTML with JSON islands, built from a small vocabulary with random choices */
static uint8_t *gen_text(size_t n)
{
	static const char *words[] = {
		"the",    "proxy",    "router",     "backend",     "frontend", "service", "request",
		"header", "cluster",  "node",       "traefik",     "entry",    "point",   "health",
		"check",  "weight",   "server",     "load",        "balancer", "sticky",  "session",
		"cookie", "redirect", "https",      "certificate", "acme",     "rule",    "host",
		"path",   "prefix",   "middleware", "retry",
	};
	static const char *tags[] = {"div", "span", "p", "li", "td", "a", "section", "h2"};
	const size_t nw = sizeof words / sizeof words[0];
	uint8_t *b = malloc(n + 512);
	size_t len = 0;
	if (!b)
		return NULL;
	while (len < n) {
		int k = (int)(rnd() % 4);
		char tmp[512];
		int m;
		if (k == 0) {
			m = snprintf(tmp, sizeof tmp,
				     "{\"id\": %u, \"name\": \"%s-%s\", \"weight\": %u, "
				     "\"url\": \"http://10.0.%u.%u:%u/%s\", \"healthy\": %s},\n",
				     rnd() % 100000, words[rnd() % nw], words[rnd() % nw],
				     rnd() % 10, rnd() % 256, rnd() % 256, 8000 + rnd() % 100,
				     words[rnd() % nw], rnd() % 2 ? "true" : "false");
		} else {
			const char *t = tags[rnd() % 8];
			m = snprintf(tmp, sizeof tmp, "<%s class=\"%s-%s\">", t, words[rnd() % nw],
				     words[rnd() % nw]);
			int words_n = 3 + (int)(rnd() % 12);
			for (int i = 0; i < words_n && m < 400; i++)
				m += snprintf(tmp + m, sizeof tmp - (size_t)m, "%s%s", i ? " " : "",
					      words[rnd() % nw]);
			m += snprintf(tmp + m, sizeof tmp - (size_t)m, "</%s>\n", t);
		}
		memcpy(b + len, tmp, (size_t)m);
		len += (size_t)m;
	}
	return b;
}

/* --- cases -------------------------------------------------------------------------- */

static void crc32_vector(void)
{
	CHECK_EQ_INT(http_gzip_crc32(0, (const uint8_t *)"123456789", 9), 0xcbf43926u);
	CHECK_EQ_INT(http_gzip_crc32(0, NULL, 0), 0);
	/* piecewise equals whole */
	uint32_t c = http_gzip_crc32(0, (const uint8_t *)"1234", 4);
	CHECK_EQ_INT(http_gzip_crc32(c, (const uint8_t *)"56789", 5), 0xcbf43926u);
	CHECK_EQ_INT(http_gzip_crc32(
			     0, (const uint8_t *)"The quick brown fox jumps over the lazy dog", 43),
		     0x414fa339u);
}

/* Kraft sum of the lengths, scaled by 2^15: exactly 2^15 for a complete code. */
static long kraft(const uint8_t *len, unsigned n)
{
	long k = 0;
	for (unsigned i = 0; i < n; i++)
		if (len[i] > 15)
			return -1;
		else if (len[i])
			k += 1L << (15 - len[i]);
	return k;
}

static void code_lengths(void)
{
	uint16_t freq[286];
	uint8_t len[286];
	/* Fibonacci frequencies make the deepest Huffman trees: 24 symbols give a tree of
	 * depth 23, which must be cut down to 15 (literal/length) and 7 (code lengths) */
	for (unsigned maxbits = 7; maxbits <= 15; maxbits += 8) {
		memset(freq, 0, sizeof freq);
		unsigned a = 1, b = 1, nsym = maxbits == 7 ? 19 : 286;
		for (unsigned i = 0; i < (nsym < 24 ? nsym : 24); i++) {
			freq[(i * 7) % nsym] = (uint16_t)a;
			unsigned c = a + b;
			a = b;
			b = c;
		}
		http_gzip_test_code_lengths(freq, nsym, maxbits, len);
		unsigned maxl = 0;
		for (unsigned i = 0; i < nsym; i++) {
			CHECK((freq[i] == 0) == (len[i] == 0));
			if (len[i] > maxl)
				maxl = len[i];
			/* more frequent, never longer */
			for (unsigned j = 0; j < nsym; j++)
				if (freq[i] && freq[j] && freq[i] > freq[j] && len[i] > len[j])
					TEST_FAIL_("freq %u has length %u > %u of freq %u", freq[i],
						   len[i], len[j], freq[j]);
		}
		CHECK_EQ_INT(maxl, maxbits);
		CHECK_EQ_INT(kraft(len, nsym), 1L << 15);
	}
	/* one and zero used symbols still give a complete code of two 1-bit codes */
	memset(freq, 0, sizeof freq);
	http_gzip_test_code_lengths(freq, 30, 15, len);
	CHECK(len[0] == 1 && len[1] == 1 && kraft(len, 30) == 1L << 15);
	freq[7] = 100;
	http_gzip_test_code_lengths(freq, 30, 15, len);
	CHECK(len[7] == 1 && len[0] == 1 && kraft(len, 30) == 1L << 15);
	/* flat frequencies: a balanced code */
	for (unsigned i = 0; i < 256; i++)
		freq[i] = 10;
	http_gzip_test_code_lengths(freq, 256, 15, len);
	for (unsigned i = 0; i < 256; i++)
		CHECK_EQ_INT(len[i], 8);
}

static void state_size(void)
{
	CHECK(http_gzip_size() > 0);
	CHECK(http_gzip_size() <= HTTP_GZIP_STATE_BYTES);
}

static void empty_input(void)
{
	rng_state = 1;
	for (int level = 1; level <= 9; level++) {
		struct run_opt o = {.level = level};
		long c = roundtrip((const uint8_t *)"", 0, &o);
		CHECK(c > 0 && c <= 20 + 5);
		o.cap_max = 1;
		CHECK(roundtrip((const uint8_t *)"", 0, &o) == c);
	}
	/* SYNC first, then FINISH, nothing in between */
	struct http_gzip *z = gz_new(6);
	REQUIRE(z);
	uint8_t out[64];
	size_t used, w1, w2;
	CHECK_EQ_INT(http_gzip_step(z, NULL, 0, &used, out, sizeof out, &w1, HTTP_GZIP_SYNC), 0);
	CHECK(w1 >= 10 + 4 && memcmp(out + w1 - 4, "\x00\x00\xff\xff", 4) == 0);
	CHECK_EQ_INT(
		http_gzip_step(z, NULL, 0, &used, out + w1, sizeof out - w1, &w2, HTTP_GZIP_FINISH),
		1);
	uint8_t *dec = NULL;
	CHECK_EQ_INT(gunzip(out, w1 + w2, &dec, 1), 0);
	free(dec);
	free(z);
}

/* The 10-byte header (RFC 1952 §2.3) comes out first, even with 1-byte capacities, and
 * out-of-range levels are clamped to 1..9. */
static void header_and_levels(void)
{
	static const struct {
		int level, xfl;
	} v[] = {{1, 4}, {6, 0}, {9, 2}, {0, 4}, {-5, 4}, {10, 2}, {1000, 2}};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct http_gzip *z = gz_new(v[i].level);
		REQUIRE(z);
		uint8_t h[10];
		size_t used, wrote;
		for (int k = 0; k < 10; k++) {
			CHECK_EQ_INT(http_gzip_step(z, (const uint8_t *)"abc", 3, &used, h + k, 1,
						    &wrote, HTTP_GZIP_NONE),
				     0);
			CHECK_EQ_INT(wrote, 1);
			/* input is taken once the header is out (the last call may) */
			CHECK(used == 0 || (k == 9 && used == 3));
		}
		CHECK(memcmp(h, "\x1f\x8b\x08\x00\x00\x00\x00\x00", 8) == 0);
		CHECK_EQ_INT(h[8], v[i].xfl);
		CHECK_EQ_INT(h[9], 255);
		free(z);
		struct run_opt o = {.level = v[i].level};
		CHECK(roundtrip((const uint8_t *)"abcabcabcabc", 12, &o) > 0);
	}
	/* cap == 0 writes nothing and is not an error */
	struct http_gzip *z = gz_new(6);
	REQUIRE(z);
	size_t used = 1, wrote = 1;
	CHECK_EQ_INT(http_gzip_step(z, NULL, 0, &used, NULL, 0, &wrote, HTTP_GZIP_FINISH), 0);
	CHECK(used == 0 && wrote == 0);
	free(z);
}

static void one_byte(void)
{
	rng_state = 2;
	for (int level = 1; level <= 9; level++) {
		struct run_opt o = {.level = level};
		CHECK(roundtrip((const uint8_t *)"x", 1, &o) > 0);
		o.cap_max = 1;
		CHECK(roundtrip((const uint8_t *)"\0", 1, &o) > 0);
	}
}

static void zeros_1mb(void)
{
	size_t n = 1 << 20;
	uint8_t *in = calloc(n, 1);
	REQUIRE(in);
	rng_state = 3;
	for (int level = 1; level <= 9; level++) {
		struct run_opt o = {.level = level};
		long c = roundtrip(in, n, &o);
		CHECK(c > 0);
		if (level == 6)
			printf("  zeros 1 MiB level 6: %ld bytes\n", c);
	}
	free(in);
}

static void random_200k(void)
{
	size_t n = 200 * 1000;
	uint8_t *in = malloc(n);
	REQUIRE(in);
	rng_state = 4;
	for (size_t i = 0; i < n; i++)
		in[i] = (uint8_t)rnd();
	for (int level = 1; level <= 9; level++) {
		struct run_opt o = {.level = level, .piece_max = level == 5 ? 3000 : 0};
		long c = roundtrip(in, n, &o);
		/* stored blocks only: 18 bytes of framing + 5 per stored block; consecutive
		 * stored blocks are written as one, of up to 64 KiB, cut where the window
		 * slides (every 32 KiB) */
		long bound = (long)n + 18 + 5 * (long)(n / 32768 + 2);
		if (c < 0 || c > bound)
			TEST_FAIL_("level %d: %ld bytes, bound %ld", level, c, bound);
	}
	free(in);
}

static void text_1mb(void)
{
	size_t n = 1 << 20;
	rng_state = 5;
	uint8_t *in = gen_text(n);
	REQUIRE(in);
	for (int level = 1; level <= 9; level++) {
		struct run_opt o = {.level = level};
		long c = roundtrip(in, n, &o);
		CHECK(c > 0);
		printf("  text 1 MiB level %d: %ld bytes\n", level, c);
	}
	free(in);
}

static void pieces_and_syncs(void)
{
	size_t n = 300 * 1000;
	rng_state = 6;
	uint8_t *in = gen_text(n);
	REQUIRE(in);
	/* a run of zeros and one of random bytes in the middle */
	memset(in + 100000, 0, 20000);
	for (size_t i = 150000; i < 170000; i++)
		in[i] = (uint8_t)rnd();
	for (int level = 1; level <= 9; level++) {
		struct run_opt o = {
			.level = level, .piece_max = 20000, .sync_pct = 10, .sync_verify = 3};
		CHECK(roundtrip(in, n, &o) > 0);
	}
	free(in);
}

static void tiny_output(void)
{
	size_t n = 70 * 1000;
	rng_state = 7;
	uint8_t *in = gen_text(n);
	REQUIRE(in);
	for (int level = 1; level <= 9; level += 4) {
		struct run_opt o = {.level = level, .cap_max = 1};
		CHECK(roundtrip(in, n, &o) > 0);
		o.piece_max = 5000;
		o.sync_pct = 20;
		o.sync_verify = 2;
		o.cap_max = 3;
		CHECK(roundtrip(in, n, &o) > 0);
	}
	free(in);
}

static void tiny_input(void)
{
	size_t n = 40 * 1000;
	rng_state = 8;
	uint8_t *in = gen_text(n);
	REQUIRE(in);
	struct run_opt o = {.level = 6, .piece_max = 1};
	CHECK(roundtrip(in, n, &o) > 0);
	o.sync_pct = 1;
	o.sync_verify = 2;
	o.cap_max = 7;
	CHECK(roundtrip(in, n, &o) > 0);
	free(in);
}

/* Without SYNCs the stream does not depend on how the input and the output were cut
 * (the matcher never looks at less than a full match's worth of input unless flushing,
 * and the window slides at the same point): a response compresses to the same bytes
 * whatever the network did. */
static void schedule_independent(void)
{
	size_t n = 200 * 1000;
	rng_state = 10;
	uint8_t *in = gen_text(n);
	REQUIRE(in);
	for (size_t i = 60000; i < 90000; i++) /* an incompressible stretch too */
		in[i] = (uint8_t)rnd();
	for (int level = 1; level <= 9; level += 4) {
		struct run_opt whole = {.level = level};
		struct run_opt cut = {.level = level, .piece_max = 3000, .cap_max = 700};
		size_t la = 0, lb = 0;
		uint8_t *a = gz_run(in, n, &whole, &la), *b = gz_run(in, n, &cut, &lb);
		CHECK(a && b && la == lb && memcmp(a, b, la) == 0);
		free(a);
		free(b);
	}
	free(in);
}

/* A SYNC right where the symbol buffer fills (8192 symbols): the block just closed was
 * kept back as stored, no symbol is open, and the SYNC must still write it out. Random
 * bytes have a few accidental matches, so the prefix lengths around 8192 are all tried. */
static void sync_at_block_end(void)
{
	size_t n = 8300;
	uint8_t *in = malloc(n), out[9000];
	REQUIRE(in);
	rng_state = 9;
	for (size_t i = 0; i < n; i++)
		in[i] = (uint8_t)rnd();
	for (int level = 1; level <= 6; level += 5) {
		for (size_t p = 8150; p <= n; p++) {
			struct http_gzip *z = gz_new(level);
			REQUIRE(z);
			size_t used, wrote;
			http_gzip_step(z, in, p, &used, out, sizeof out, &wrote, HTTP_GZIP_SYNC);
			free(z);
			uint8_t *dec = NULL;
			long dn = gunzip(out, wrote, &dec, 0);
			if (used != p || wrote < 4 ||
			    memcmp(out + wrote - 4, "\x00\x00\xff\xff", 4) || dn != (long)p ||
			    memcmp(dec, in, p) != 0)
				TEST_FAIL_("level %d: SYNC after %zu bytes decodes to %ld", level,
					   p, dn);
			free(dec);
		}
	}
	free(in);
}

TEST_MAIN(crc32_vector, code_lengths, state_size, header_and_levels, empty_input, one_byte,
	  zeros_1mb, random_200k, text_1mb, pieces_and_syncs, tiny_output, tiny_input,
	  schedule_independent, sync_at_block_end)
