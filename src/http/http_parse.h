/* http_parse.h — incremental, zero-copy HTTP/1.1 message head parser and chunked decoder.
 *
 * Contract (RFC 9112; design and every rejection rule: docs/internals/http.md):
 *
 *  - The caller owns every byte. A parse function is given the bytes received so far,
 *    (buf, len), and a message object holding the caller's header array and its
 *    capacity. Nothing is allocated and no global state is touched.
 *  - Results are slices into buf: method, target, reason, header names and values. They
 *    stay valid as long as those bytes of buf do.
 *  - Incremental: a call returns the length of the complete head (> 0), -ERR_PARTIAL when
 *    the head is not complete yet, or another negative -ERR_* code. After -ERR_PARTIAL,
 *    call again with the same message object and all bytes so far (len never shrinks);
 *    the work already done is kept (only the unfinished line is looked at again), so
 *    byte-by-byte arrival costs O(n) in total. Between calls the bytes already passed must
 *    not change, but they may move (a compacted or reallocated buffer): slices are rebased
 *    on the next call. A shorter len is a programmer error (assert).
 *  - The first error or the completed head length is latched: calling again returns it
 *    unchanged. Bytes after the head (the body, a pipelined request) are not looked at.
 *  - Strict: anything that two HTTP implementations could frame differently is an error,
 *    not a guess. Each error maps to a response status via http_error_status().
 */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "base/base_slice.h"

/* Empty lines (CRLF) accepted before a start line (RFC 9112 §2.2 asks for at least one);
 * one more is -ERR_PARSE. */
#define HTTP_MAX_EMPTY_LINES 2

/* Octet classes: http_cclass[c] & HC_* (read-only; shared with http_write.c). */
enum {
	HC_TCHAR = 0x01,  /* tchar, RFC 9110 §5.6.2 */
	HC_VALUE = 0x02,  /* field-value octet: HTAB, SP, VCHAR, obs-text */
	HC_TARGET = 0x04, /* request-target octet: VCHAR */
	HC_HOST = 0x08,   /* uri-host / port octet (RFC 3986 reg-name but ",", IP-literal, ":") */
	HC_HEX = 0x10,    /* HEXDIG */
	HC_OWS = 0x20,    /* SP, HTAB */
	HC_QDTEXT = 0x40, /* qdtext, RFC 9110 §5.6.4 */
	HC_SCHEME = 0x80, /* URI scheme octet after the first: ALPHA DIGIT "+" "-" "." */
};
extern const uint8_t http_cclass[256];

/* Caps applied while parsing; each names the error (and status) it produces. */
struct http_limits {
	size_t max_line;          /* start line bytes, CRLF excluded: ERR_HTTP_LINE_TOO_LONG, 414 */
	size_t max_headers;       /* field lines in the head: ERR_HTTP_TOO_MANY_HEADERS, 431 */
	size_t max_header_bytes;  /* header section after the start line, final CRLF
				   * included: ERR_HTTP_HEADERS_TOO_LARGE, 431 */
	uint64_t max_body;        /* Content-Length, or decoded chunked data: 413 */
	size_t max_chunk_line;    /* chunk-size line with extensions, CRLF excluded: 400 */
	size_t max_trailer_bytes; /* trailer section, final CRLF included: 431 */
};

/* Defaults: 8192 / 100 / 32768 / 1 GiB / 1024 / 8192. Sizes must stay below 2^28 so a head
 * length always fits the int return value (asserted by the parse functions). */
void http_limits_default(struct http_limits *lim);

/* Methods the proxy gives a meaning to (RFC 9110 §9); others parse as HTTP_M_OTHER. */
enum http_method {
	HTTP_M_OTHER = 0,
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_POST,
	HTTP_M_PUT,
	HTTP_M_DELETE,
	HTTP_M_CONNECT,
	HTTP_M_OPTIONS,
	HTTP_M_TRACE,
	HTTP_M_PATCH,
};

/* Request-target forms, RFC 9112 §3.2. */
enum http_target {
	HTTP_T_ORIGIN = 0, /* "/path?query" */
	HTTP_T_ABSOLUTE,   /* "http://host/path" */
	HTTP_T_AUTHORITY,  /* "host:port", CONNECT only */
	HTTP_T_ASTERISK,   /* "*", OPTIONS only */
};

/* Header fields the parser interprets (http_header.id); everything else is HTTP_H_OTHER. */
enum http_hdr {
	HTTP_H_OTHER = 0,
	HTTP_H_HOST,
	HTTP_H_CONTENT_LENGTH,
	HTTP_H_TRANSFER_ENCODING,
	HTTP_H_CONNECTION,
	HTTP_H_UPGRADE,
	HTTP_H_EXPECT,
	HTTP_H_KEEP_ALIVE,
	HTTP_H_TE,
	HTTP_H_PROXY_CONNECTION,
};

struct http_header {
	struct slice name;  /* token, as received (case kept) */
	struct slice value; /* leading and trailing OWS removed; may be empty */
	uint8_t id;         /* enum http_hdr */
	uint8_t hop;        /* 1: hop-by-hop, a proxy must not forward it (RFC 9110 §7.6.1):
			     * Connection, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding,
			     * Upgrade, and any field named by a Connection option (except Host
			     * and Content-Length, which a proxy always regenerates itself) */
};

/* How the body after a head is delimited (RFC 9112 §6.3). */
enum http_body {
	HTTP_BODY_NONE = 0, /* no body: GET without framing, HEAD/1xx/204/304 responses */
	HTTP_BODY_LENGTH,   /* exactly content_length bytes (may be 0) */
	HTTP_BODY_CHUNKED,  /* chunked coding: decode with http_chunked_decode */
	HTTP_BODY_CLOSE,    /* responses only: the body runs until the server closes */
};

/* http_head.flags */
enum {
	HTTP_F_KEEP_ALIVE = 1u << 0,      /* the connection may carry another message */
	HTTP_F_CONN_CLOSE = 1u << 1,      /* Connection: close */
	HTTP_F_CONN_KEEP_ALIVE = 1u << 2, /* Connection: keep-alive */
	HTTP_F_CONN_UPGRADE = 1u << 3,    /* Connection: upgrade */
	HTTP_F_UPGRADE = 1u << 4,         /* request: HTTP/1.1 with Upgrade and Connection: upgrade;
					   * response: 101 Switching Protocols */
	HTTP_F_EXPECT_CONTINUE = 1u << 5, /* request: Expect: 100-continue (HTTP/1.1 only) */
	HTTP_F_EXPECT_OTHER = 1u << 6,    /* request: another expectation (answer 417) */
	HTTP_F_TUNNEL = 1u << 7,          /* response: 101, or 2xx to CONNECT: after the head the
					   * connection carries raw bytes both ways */
	HTTP_F_HAS_CL = 1u << 8,          /* a Content-Length field was present */
	HTTP_F_HAS_TE = 1u << 9,          /* a Transfer-Encoding field was present */
	HTTP_F_TE_CODED = 1u << 10,       /* response: codings besides chunked (e.g. gzip, chunked);
					   * a proxy must keep those in Transfer-Encoding */
};

/* Parser progress; private to http_parse.c, zeroed by the init functions. */
struct http_pstate {
	uintptr_t base;   /* address of buf at the previous call, to rebase slices */
	size_t off;       /* start of the first unfinished line */
	size_t scan;      /* bytes already searched for the LF ending that line */
	size_t hdr_start; /* offset of the header section (after the start line) */
	uint64_t cl;      /* Content-Length value, once seen */
	int rc;           /* latched result: 0 while in progress */
	uint16_t empty;   /* empty lines skipped before the start line */
	uint16_t nhost;   /* Host fields seen */
	uint16_t te_n;    /* transfer codings listed, all fields together */
	uint8_t te_chunked;
	uint8_t te_last_chunked;
	uint8_t te_unknown;
	uint8_t te_other;
	uint8_t phase;
	uint8_t conn_other; /* Connection names some field: mark hop-by-hop fields at the end */
};

/* What both kinds of head share: the header section and what it means. */
struct http_head {
	struct http_header *hdr; /* caller's array */
	size_t cap;              /* its capacity (effective cap: min(cap, max_headers)) */
	size_t nhdr;             /* fields stored, in order of arrival */
	int minor;               /* HTTP/1.<minor>: 0 or 1 */
	enum http_body body;
	uint64_t content_length; /* valid for HTTP_BODY_LENGTH (and reported when HAS_CL) */
	unsigned flags;          /* HTTP_F_* */
	struct slice host;       /* request: the Host value (empty if absent) */
	struct slice upgrade;    /* the first Upgrade value (empty if absent) */
	struct http_pstate st;
};

struct http_request {
	struct http_head h;
	struct slice method; /* token, case-sensitive */
	struct slice target; /* as received */
	enum http_method method_id;
	enum http_target target_form;
};

struct http_response {
	struct http_head h;
	int status;                  /* 100..599 */
	struct slice reason;         /* may be empty */
	enum http_method req_method; /* of the request this answers, set by http_response_init */
};

/* Prepare for one message. hdr[0..cap) receives the fields; it must outlive the message.
 * Call again (or a new object) for every message on a connection. */
void http_request_init(struct http_request *req, struct http_header *hdr, size_t cap);
/* req_method: the method of the request being answered (HEAD and CONNECT change the
 * framing of the response, RFC 9112 §6.3). */
void http_response_init(struct http_response *res, struct http_header *hdr, size_t cap,
			enum http_method req_method);

/* Parse a request head from buf[0..len).
 * Returns the head length (> 0) when the empty line ending it is in buf; the body (if any)
 * starts at buf + return value, framed as req->h.body says. Otherwise:
 *   -ERR_PARTIAL                 incomplete: call again with more bytes
 *   -ERR_HTTP_LINE_TOO_LONG      request line over max_line (414)
 *   -ERR_HTTP_TOO_MANY_HEADERS   more fields than max_headers or the array capacity (431)
 *   -ERR_HTTP_HEADERS_TOO_LARGE  header section over max_header_bytes (431)
 *   -ERR_HTTP_BAD_FRAMING        Content-Length / Transfer-Encoding unusable or ambiguous (400)
 *   -ERR_HTTP_BODY_TOO_LARGE     Content-Length over max_body (413)
 *   -ERR_HTTP_UNKNOWN_CODING     an unregistered transfer coding before chunked (501)
 *   -ERR_HTTP_BAD_HOST           Host missing (HTTP/1.1), repeated or malformed (400)
 *   -ERR_HTTP_BAD_VERSION        HTTP/x.y other than 1.0 and 1.1 (505)
 *   -ERR_PARSE                   any other syntax error (400)
 * After any error the connection must be closed once the error response is sent. */
int http_parse_request(struct http_request *req, const char *buf, size_t len,
		       const struct http_limits *lim);

/* Parse a response head; same contract and codes (no host or coding errors; an unusable
 * coding list makes the body HTTP_BODY_CLOSE, as RFC 9112 §6.3 rule 4 says). A proxy
 * answers every response error with 502. A 1xx response other than 101 is interim: after
 * it, init again and parse the final response from the following bytes. */
int http_parse_response(struct http_response *res, const char *buf, size_t len,
			const struct http_limits *lim);

/* The status a server answers a request-parse error with: 414, 431, 413, 501, 505, or 400
 * for everything else (including a connection closed mid-head, -ERR_PARTIAL). Accepts
 * err or -err. */
int http_error_status(int err);

/* ---- chunked body decoder (RFC 9112 §7.1) ---------------------------------------------
 *
 * Consumes a chunked body in pieces of any size and hands the data back as slices of the
 * piece it was given (no copy). Chunk extensions are checked against the grammar and
 * ignored. Trailer fields are checked (field syntax, no obs-fold) and discarded, which
 * RFC 9112 §7.1.2 permits. Bare LF or CR anywhere in the framing is an error.
 */
struct http_chunked {
	uint64_t left;  /* data bytes of the current chunk not yet returned */
	uint64_t total; /* data bytes of the body so far (max_body) */
	uint64_t size;  /* chunk size being read */
	size_t line;    /* bytes of the current size line (max_chunk_line) */
	size_t trailer; /* bytes of the trailer section (max_trailer_bytes) */
	int rc;         /* latched error */
	uint8_t state;
	uint8_t digits; /* hex digits of the size seen */
};

void http_chunked_init(struct http_chunked *c);

/* Decode from buf[0..len). On return *used bytes of buf were consumed and *data is the
 * chunk data found among them (a slice of buf, possibly empty); the decoder stops right
 * after each data run, so call again with buf + *used while bytes remain.
 * Returns 1 when the body ended (last chunk and trailer section complete; bytes after
 * buf + *used belong to the next message), 0 when it needs more bytes, or:
 *   -ERR_HTTP_BAD_CHUNK          bad size (no digit, non-hex, overflow), size line over
 *                                max_chunk_line, bad extension, missing CRLF after data,
 *                                bad trailer field, bare CR or LF (400)
 *   -ERR_HTTP_BODY_TOO_LARGE     data over max_body (413)
 *   -ERR_HTTP_TRAILER_TOO_LARGE  trailer section over max_trailer_bytes (431)
 * With len > 0 and a 0 return, *used > 0: every call makes progress. Errors are latched. */
int http_chunked_decode(struct http_chunked *c, const char *buf, size_t len,
			const struct http_limits *lim, size_t *used, struct slice *data);

#endif
