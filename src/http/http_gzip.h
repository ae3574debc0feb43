/* http_gzip.h — streaming gzip compressor (RFC 1951 deflate in RFC 1952 gzip framing) for
 * response bodies, in a fixed-size caller-allocated state.
 *
 * Contract:
 *  - Memory: the caller allocates http_gzip_size() bytes (at most HTTP_GZIP_STATE_BYTES),
 *    aligned to 16, e.g. from a pool; nothing is allocated inside, no global is written.
 *    The state holds no pointer to caller memory between calls; it may be copied or freed
 *    (returned to its pool) at any time, e.g. when a client goes away mid-body.
 *  - http_gzip_init(z, level): level 1..9 (out-of-range values are clamped; 6 is the usual
 *    default). The 10-byte gzip header (no name, mtime 0) is the first output.
 *  - http_gzip_step(z, in, n, used, out, cap, wrote, flush) consumes up to n bytes of `in`
 *    and writes up to cap bytes to `out`; *used and *wrote report how many. It never
 *    fails, never writes past cap, and makes progress whenever cap > 0 and there is work.
 *    `in` may be NULL when n == 0 and `out` NULL when cap == 0. Bytes consumed are copied
 *    into the state: `in` need not stay valid after the call.
 *    The caller calls again (with more output space, or the remaining input) while
 *    *wrote == cap or *used < n.
 *  - flush:
 *      HTTP_GZIP_NONE    the compressor may keep data back (up to one block).
 *      HTTP_GZIP_SYNC    once all n bytes are consumed, everything so far is written and
 *                        the output ends on a byte boundary with an empty stored block
 *                        (00 00 ff ff), like zlib's Z_SYNC_FLUSH: a client can decode every
 *                        byte given so far. A SYNC with no new input since the last
 *                        completed SYNC writes nothing, so repeating it cannot loop.
 *      HTTP_GZIP_FINISH  once all n bytes are consumed: last block, CRC-32 and ISIZE.
 *                        Returns 1 when the trailer has been written completely.
 *    Any other value counts as SYNC. Once FINISH has begun (all its input consumed), no
 *    input is consumed any more (*used == 0); after it completed every call returns 1 and
 *    writes nothing.
 *  - Returns 1 when FINISH completed, 0 otherwise. There are no error codes.
 *  - Output: valid for any gzip decoder (gzip -d, zlib inflate, browsers). A block is coded
 *    as whichever of dynamic Huffman, fixed Huffman and stored is smallest, and
 *    consecutive stored blocks are merged, so incompressible input grows by the stored-block
 *    overhead only: 5 bytes per 32 to 64 KiB (and per flush), plus the 18-byte gzip header
 *    and trailer.
 */
#ifndef HTTP_GZIP_H
#define HTTP_GZIP_H

#include <stddef.h>
#include <stdint.h>

/* Upper bound of http_gzip_size(); checked by a _Static_assert in http_gzip.c. */
#define HTTP_GZIP_STATE_BYTES (200u * 1024u)

struct http_gzip;

enum { HTTP_GZIP_NONE = 0, HTTP_GZIP_SYNC = 1, HTTP_GZIP_FINISH = 2 };

size_t http_gzip_size(void);
void http_gzip_init(struct http_gzip *z, int level);
int http_gzip_step(struct http_gzip *z, const uint8_t *in, size_t n, size_t *used, uint8_t *out,
		   size_t cap, size_t *wrote, int flush);

/* CRC-32 of RFC 1952 §8 (ISO 3309, reflected, polynomial 0xedb88320): pass crc == 0 for the
 * first piece and the previous result for the next ones. "123456789" gives 0xcbf43926. */
uint32_t http_gzip_crc32(uint32_t crc, const uint8_t *p, size_t n);

#ifdef TEE_TEST_BUILD
/* Test builds only: the length-limited Huffman code lengths the encoder would use for
 * freq[0..n) (n <= 286), none over maxbits (7..15), into len[0..n). */
void http_gzip_test_code_lengths(const uint16_t *freq, unsigned n, unsigned maxbits, uint8_t *len);
#endif

#endif
