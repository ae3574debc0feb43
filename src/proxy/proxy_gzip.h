/* proxy_gzip.h — entry point response compression (Traefik v1 `compress: true`).
 *
 * Traefik v1.7 wraps an entry point with `compress` in NYTimes/gziphandler (default level,
 * DefaultMinSize 1400 bytes) and skips gRPC requests. This module holds the same decision
 * and the per-response stream; docs/internals/proxy-gzip.md has the user-facing rules.
 *
 * Contract
 *   - proxy_gzip_decide is pure: from the request head (Accept-Encoding, Content-Type) and
 *     the parsed response head it says whether the response gets `Vary: Accept-Encoding`
 *     and whether its body is compressed. No I/O, no allocation.
 *   - A compressed response holds one struct proxy_gz from the engine's pool of
 *     max_gzip_streams (proxy_limits.h): compressor state and a fixed output buffer in one
 *     slot, taken in response_head and given back at the transaction's end
 *     (proxy_gzip_end). The pool empty: the response is sent uncompressed (still correct),
 *     counted, and logged at most once a second.
 *   - The body is streamed: decoded body bytes of the rs buffer go through the compressor
 *     into the slot's output buffer, framed as chunks for HTTP/1.1 clients (raw, delimited
 *     by the close, for HTTP/1.0), and the engine writes that buffer to the client. Nothing
 *     is ever held whole. proxy_gzip_feed is asked for a SYNC flush whenever the upstream
 *     has nothing more for now, so streamed responses (SSE, long polls) are not held back.
 *
 * The engine side (proxy_conn.c pump_gz, proxy_forward.c proxy_fwd_response_head) calls
 * these; nothing here touches a socket.
 */
#ifndef PROXY_GZIP_H
#define PROXY_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "http/http_parse.h"

struct proxy_conn;
struct proxy_engine;

/* gziphandler.DefaultMinSize: bodies known to be shorter stay uncompressed. */
#define PROXY_GZIP_MIN_SIZE 1400u
/* Compressed bytes one stream buffers before they are written to the client. */
#define PROXY_GZIP_OUT_CAP 16384u

/* proxy_gzip_decide's answer (bits). */
#define PROXY_GZ_VARY 1u     /* add "Vary: Accept-Encoding" to the response head */
#define PROXY_GZ_COMPRESS 2u /* compress the body */

/* flush modes of proxy_gzip_feed (mirror http_gzip.h's) */
enum proxy_gz_flush { PROXY_GZ_NONE = 0, PROXY_GZ_SYNC, PROXY_GZ_FINISH };

/* Whether a request with these header fields accepts gzip: an Accept-Encoding element
 * "gzip" with a q-value above 0 (every Accept-Encoding line is read; the last "gzip"
 * element wins; "*" does not count, as in gziphandler). */
bool proxy_gzip_accepts(const struct http_header *h, size_t n);

/* The decision for one response on a compress entry point (PROXY_GZ_* bits):
 *   - gRPC requests (Content-Type application/grpc...) are left alone: 0.
 *   - VARY on every final response, unless its Vary already names Accept-Encoding or "*".
 *   - COMPRESS when the client accepts gzip, the request is not HEAD, the status is 2xx..5xx
 *     but not 204, 206 or 304, there is a body, no Content-Encoding (non-empty), no
 *     Content-Range, no Cache-Control no-transform, no transfer coding besides chunked, and
 *     a Content-Length (when there is one) of at least PROXY_GZIP_MIN_SIZE. Chunked and
 *     close-delimited bodies (length unknown) are compressed. */
unsigned proxy_gzip_decide(const struct http_request *req, bool head_req,
			   const struct http_response *res);

/* ---- the stream --------------------------------------------------------------------------- */

/* One compressed response: lives in a pool slot, followed there by the compressor state and
 * the output buffer (out[0, PROXY_GZIP_OUT_CAP)). Pending output is out[off, len). */
struct proxy_gz {
	void *st;          /* compressor state (http_gzip.h), inside the slot */
	uint8_t *out;      /* output buffer, inside the slot */
	uint32_t off, len; /* bytes waiting for the client */
	uint32_t head_end; /* rs offset where the response head ends while it is being sent;
			    * 0 once it is out (proxy_conn.c pump_gz) */
	uint8_t chunked;   /* chunk framing (HTTP/1.1 client), else raw until close */
	uint8_t finished;  /* FINISH done: trailer (and last chunk) in out */
	uint8_t dirty;     /* input taken since the last completed SYNC */
	uint64_t in_total, out_total;
};

/* Bytes of one pool slot (stream, compressor state, output buffer). */
size_t proxy_gzip_slot_size(void);
/* Prepare a slot taken from the pool: chunked framing for HTTP/1.1 clients. 0, or the
 * compressor's error. */
int proxy_gzip_start(struct proxy_gz *z, bool chunked);
/* Compress in[0, n) into the output buffer (only when it is empty: see proxy_gzip_out),
 * with `flush` applied once all of in is taken. *used: input bytes taken. Returns 1 once
 * FINISH has completed (the trailer, and the last chunk, are in the buffer), 0, or a
 * negative error. A SYNC without new input since the last one adds nothing. */
int proxy_gzip_feed(struct proxy_gz *z, const uint8_t *in, size_t n, size_t *used,
		    enum proxy_gz_flush flush);
/* Bytes waiting for the client: true and (*p, *n) when any. */
bool proxy_gzip_out(const struct proxy_gz *z, const uint8_t **p, size_t *n);
/* n bytes of those were written. */
void proxy_gzip_sent(struct proxy_gz *z, size_t n);
/* FINISH done and every byte written. */
bool proxy_gzip_done(const struct proxy_gz *z);
/* Body bytes taken / compressed bytes produced (chunk framing excluded). */
uint64_t proxy_gzip_in_bytes(const struct proxy_gz *z);
uint64_t proxy_gzip_out_bytes(const struct proxy_gz *z);

/* ---- engine glue (proxy_conn.c) -------------------------------------------------------------- */

/* In response_head, on a compress entry point, before the head is rewritten: decide, set
 * c->gzf (PROXY_GZ_* as applied) and take c->gz from the pool when compressing. Counts the
 * engine's gz_responses / gz_full and the registry's traefikee_compress_responses_total
 * (result gzip / pool_full). */
void proxy_gzip_response(struct proxy_conn *c, const struct http_response *res);
/* The transaction ends (or turns into a local response): give c->gz back, clear c->gzf. */
void proxy_gzip_end(struct proxy_conn *c);
/* Fields of the rewritten response head for c (proxy_fwd_response_head): Content-Encoding
 * and the client framing of a compressed body. Sets *mode (the upstream body's framing as
 * the engine reads it: PM_LENGTH, PM_DECHUNK or PM_CLOSE), *len and *close. 0 or
 * -ERR_BUF_FULL. */
int proxy_gzip_head(struct proxy_conn *c, const struct http_response *res, struct buf *b,
		    uint8_t *mode, uint64_t *len, bool *close);

#endif
