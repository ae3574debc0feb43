/* proxy_secure.h — a frontend's security headers (Traefik v1 `headers` security options, with
 * the semantics of unrolled/secure as Traefik v1.7 ran it; docs/internals/proxy-secure.md).
 *
 * Two halves, both driven by the frontend's `struct proxy_headers` (proxy_config.h), which is
 * only looked at when `headers.secure` is set:
 *  - the request check (proxy_secure_check): allowedHosts (500 "Bad Host"), the SSL redirect
 *    (301, or 307 with sslTemporaryRedirect) and sslForceHost, and whether the request counts
 *    as SSL (TLS connection, an `https://` absolute-form target, or an sslProxyHeaders match);
 *  - the response fields (proxy_secure_resp_*): Strict-Transport-Security, X-Frame-Options,
 *    X-Content-Type-Options, X-XSS-Protection, Public-Key-Pins, Content-Security-Policy,
 *    Referrer-Policy replace the upstream's copies; an upstream `Location: http://<sslHost>...`
 *    on an SSL request becomes `https://`. customResponseHeaders win over all of them (Traefik
 *    v1.7 runs its header modifier after secure's).
 *
 * The pure functions take slices and a caller's buffer and never allocate; nothing is kept
 * between requests but one byte per connection (`proxy_conn.sec`, PROXY_SECTX_*).
 */
#ifndef PROXY_SECURE_H
#define PROXY_SECURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "base/base_slice.h"
#include "http/http_parse.h"
#include "proxy/proxy_config.h"

/* Response fields secure sets for one response (proxy_secure_resp_mask). */
enum {
	PROXY_SEC_STS = 1u << 0,      /* Strict-Transport-Security */
	PROXY_SEC_FRAME = 1u << 1,    /* X-Frame-Options */
	PROXY_SEC_NOSNIFF = 1u << 2,  /* X-Content-Type-Options */
	PROXY_SEC_XSS = 1u << 3,      /* X-XSS-Protection */
	PROXY_SEC_HPKP = 1u << 4,     /* Public-Key-Pins */
	PROXY_SEC_CSP = 1u << 5,      /* Content-Security-Policy */
	PROXY_SEC_REFERRER = 1u << 6, /* Referrer-Policy */
	PROXY_SEC_LOCATION = 1u << 7, /* rewrite Location http://<sslHost> to https:// */
};

/* proxy_conn.sec, set per transaction: 0 = the frontend has no security options (or none was
 * routed yet); the response side looks at nothing else then. */
enum {
	PROXY_SECTX_ON = 1u << 0,       /* the frontend's check passed: add the response fields */
	PROXY_SECTX_SSL = 1u << 1,      /* the request counted as SSL */
	PROXY_SECTX_BAD_HOST = 1u << 2, /* the 500 being answered is secure's "Bad Host" */
};

/* What the request check needs to know about a request. Slices point into the request. */
struct proxy_secure_req {
	struct slice host;   /* absolute-form authority, else Host; port included; may be empty */
	struct slice target; /* the request target as received */
	bool absolute;       /* target is in absolute-form ("http://h/p") */
	bool tls;            /* the connection is TLS */
	bool trust_xf;       /* the peer may set X-Forwarded-* / X-Real-Ip (forwardedHeaders) */
	const struct http_header *hdr;
	size_t nhdr;
};

struct proxy_secure_verdict {
	int status;          /* 0: go on; 500: bad host; 301 / 307: redirect */
	bool ssl;            /* the request counts as SSL */
	size_t location_len; /* redirect: length of the Location written to the caller's buffer */
};

/* Apply h's request-side options to r. A redirect's Location ("https://" + sslHost or host +
 * path?query) is written to out[0..cap). Returns 0, or -ERR_BUF_FULL when the Location does
 * not fit (the caller answers 414, as for a frontend redirect). */
int proxy_secure_check(const struct proxy_headers *h, const struct proxy_secure_req *r, char *out,
		       size_t cap, struct proxy_secure_verdict *v);

/* The PROXY_SEC_* fields h sets on a response to a request that was (or was not) SSL. */
unsigned proxy_secure_resp_mask(const struct proxy_headers *h, bool ssl);

/* http_header.hop values secure sets on upstream response fields (the parser's are 0 / 1):
 * any non-zero hop keeps a field out of the copied head. */
enum {
	PROXY_SEC_HOP = 2,          /* a field secure replaces */
	PROXY_SEC_HOP_LOCATION = 3, /* the Location secure rewrites to https */
};

/* Before the upstream's fields are copied: mark the fields secure replaces (PROXY_SEC_HOP),
 * and every Location when the first one is to be rewritten (that one PROXY_SEC_HOP_LOCATION).
 * sec: proxy_conn.sec (PROXY_SECTX_SSL decides the field set). */
void proxy_secure_resp_mark(const struct proxy_headers *h, unsigned sec, struct http_header *hdr,
			    size_t n);

/* Append the rewritten Location (hdr[0..n) as marked) and secure's fields to b, except those
 * customResponseHeaders (cust) name, which the caller writes (or removes, empty value) itself.
 * 0 or -ERR_BUF_FULL (b unchanged). */
int proxy_secure_resp_put(const struct proxy_headers *h, unsigned sec,
			  const struct http_header *hdr, size_t n, const struct proxy_kv *cust,
			  uint32_t ncust, struct buf *b);

/* Engine glue (proxy_conn.c, route_frontend): run the check for the transaction c routes to
 * a frontend with h->secure. Sets c->sec. Returns 0 to go on, else the status to answer with
 * conn_local (500, 301 / 307 with *location in the worker's scratch area, 414). */
struct proxy_conn;
int proxy_secure_request(struct proxy_conn *c, const struct proxy_headers *h,
			 struct slice *location);

#endif
