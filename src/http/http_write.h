/* http_write.h — HTTP/1.1 message head and chunk framing writer (RFC 9112).
 *
 * Contract:
 *  - Output goes into a struct buf the caller owns (fixed capacity, never grows).
 *  - Every function is all or nothing: on any error b->len is what it was before the call,
 *    so the buffer never holds a half-written line the caller might send.
 *  - Inputs are checked before they are written, so a value taken from a client or an
 *    origin cannot inject lines: CR, LF, NUL and other control octets are refused in every
 *    part of a head (-ERR_INVAL), names and methods must be tokens, targets VCHAR only.
 *  - Errors: -ERR_BUF_FULL (no room; nothing written), -ERR_INVAL (input not allowed).
 */
#ifndef HTTP_WRITE_H
#define HTTP_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "base/base_slice.h"
#include "http/http_parse.h"

#include <string.h>

/* flags for http_write_headers and the head writers */
enum {
	HTTP_WRITE_SKIP_HOP = 1u << 0,     /* leave out fields with hop == 1 */
	HTTP_WRITE_SKIP_FRAMING = 1u << 1, /* leave out Content-Length and Transfer-Encoding */
};

/* Standard reason phrase of a status (RFC 9110 §15), or "" for an unregistered one. */
const char *http_status_reason(int status);

/* "<method> <target> HTTP/1.<minor>\r\n". minor is 0 or 1. */
int http_write_request_line(struct buf *b, struct slice method, struct slice target, int minor);

/* "HTTP/1.<minor> <status> <reason>\r\n"; status 100..599; reason.len == 0 picks the
 * standard phrase. The reason may hold HTAB, SP, VCHAR and obs-text. */
int http_write_status_line(struct buf *b, int minor, int status, struct slice reason);

/* "<name>: <value>\r\n". name: token; value: field-value octets (HTAB, SP, VCHAR, obs-text)
 * without leading or trailing whitespace, which a parser would strip. */
int http_write_header(struct buf *b, struct slice name, struct slice value);

/* "<name>: <decimal>\r\n", e.g. Content-Length. */
int http_write_header_u64(struct buf *b, struct slice name, uint64_t v);

/* Fields hdr[0..n) in order, minus those `flags` skip. */
int http_write_headers(struct buf *b, const struct http_header *hdr, size_t n, unsigned flags);

/* The CRLF ending a head. */
int http_write_head_end(struct buf *b);

/* A whole head: start line, fields (filtered by flags) and the final CRLF. */
int http_write_request_head(struct buf *b, struct slice method, struct slice target, int minor,
			    const struct http_header *hdr, size_t n, unsigned flags);
int http_write_response_head(struct buf *b, int minor, int status, struct slice reason,
			     const struct http_header *hdr, size_t n, unsigned flags);

/* Chunked coding, RFC 9112 §7.1: for each chunk write http_write_chunk_size(n), then the n
 * data octets (the caller sends them from where they are), then http_write_chunk_end; end
 * the body with http_write_last_chunk. A zero size is refused (-ERR_INVAL): it would end the
 * body, which only http_write_last_chunk may do. */
int http_write_chunk_size(struct buf *b, uint64_t n); /* "<hex>\r\n" */
int http_write_chunk_end(struct buf *b);              /* "\r\n" after the data */
int http_write_last_chunk(struct buf *b);             /* "0\r\n\r\n" (no trailers) */
/* Size line, data and CRLF in one go (copies the data). */
int http_write_chunk(struct buf *b, struct slice data);

/* memcpy for the short, non-overlapping pieces of a head (names, values: mostly under 32
 * bytes): word moves, the last one overlapping, instead of a call that aligns byte by byte
 * first. Longer pieces go to memcpy. s may be NULL when n is 0. */
static inline void http_copy_short(uint8_t *d, const char *s, size_t n)
{
	if (n > 64) {
		memcpy(d, s, n);
	} else if (n >= 8) {
		uint64_t w;
		size_t i = 0;
		for (; i + 8 < n; i += 8) {
			memcpy(&w, s + i, 8);
			memcpy(d + i, &w, 8);
		}
		memcpy(&w, s + n - 8, 8); /* the last 8 bytes (may overlap the loop's) */
		memcpy(d + n - 8, &w, 8);
	} else if (n >= 4) {
		uint32_t a, z;
		memcpy(&a, s, 4);
		memcpy(&z, s + n - 4, 4);
		memcpy(d, &a, 4);
		memcpy(d + n - 4, &z, 4);
	} else if (n) {
		d[0] = (uint8_t)s[0];
		d[n / 2] = (uint8_t)s[n / 2];
		d[n - 1] = (uint8_t)s[n - 1];
	}
}

#endif
