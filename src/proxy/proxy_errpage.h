/* proxy_errpage.h — frontend error pages (Traefik v1 `frontends.<n>.errors.<name>`).
 *
 * When the response a frontend would send has a status in one of an error page's ranges,
 * the client gets that status with the head fields and body of a GET (HEAD for a HEAD request)
 * of the page's query, "{status}" replaced by the code, sent to a server of the page's
 * backend. docs/internals/proxy-errpage.md has the user-facing semantics.
 *
 * Two halves:
 *  - pure helpers (no engine, unit-tested alone): range matching, the request path, the
 *    request head;
 *  - the engine glue used by proxy_conn.c (proxy_errpage_begin, proxy_errpage_request_head):
 *    the fetch reuses the engine's upstream machinery (server pick, pooled connection, the
 *    streaming buffers), so it allocates nothing and holds no state beyond two fields of
 *    struct proxy_conn (errpage_status, errpage_idx).
 */
#ifndef PROXY_ERRPAGE_H
#define PROXY_ERRPAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base_buf.h"
#include "base/base_slice.h"
#include "http/http_parse.h"
#include "proxy/proxy_config.h"

/* Longest request path built from a query (longer: -ERR_BUF_FULL, the fetch is not made). */
#define PROXY_ERRPAGE_PATH_MAX 2048

/* Whether one of p's ranges (inclusive) contains status. */
bool proxy_errpage_covers(const struct proxy_error_page *p, int status);

/* The first of fe's error pages (document order) that covers status, or -1. Statuses below
 * 200 are never covered (interim responses and 101 pass). */
int proxy_errpage_find(const struct proxy_frontend *fe, int status);

/* The request path of a page: "/" + query without one leading "/" (as Traefik v1), every
 * "{status}" replaced by the three digits of status, a "#fragment" dropped; an empty query
 * gives "/". Written to out (not NUL-terminated). The length, -ERR_BUF_FULL (over cap), or
 * -ERR_INVAL (a control octet, space or DEL in the query: it cannot go in a request line). */
long proxy_errpage_path(struct slice query, int status, char *out, size_t cap);

/* What the error page request is made of. */
struct proxy_errpage_req {
	bool head;                     /* HEAD instead of GET (the client's request was a HEAD) */
	struct slice query;            /* the page's query */
	int status;                    /* the status being replaced ({status}) */
	struct slice host;             /* Host: the error server's authority */
	const struct http_header *hdr; /* the client's request fields */
	size_t nhdr;
	struct slice client_host; /* X-Forwarded-Host; empty: none */
	struct slice peer;        /* the client's address: X-Forwarded-For, X-Real-Ip */
	bool tls;                 /* the client came over TLS: X-Forwarded-Proto https */
	struct slice server;      /* X-Forwarded-Server; empty: none */
};

/* The request head "GET <path> HTTP/1.1" with Host, the client's fields minus hop-by-hop,
 * framing, Expect, conditional and Range fields and the X-Forwarded-* family, then the
 * proxy's own X-Forwarded-For/-Proto/-Host/-Server and X-Real-Ip. No body, no framing field.
 * 0, -ERR_BUF_FULL, -ERR_INVAL (see proxy_errpage_path). b is left as it was on error. */
int proxy_errpage_head(const struct proxy_errpage_req *r, struct buf *b);

/* ---- engine glue (proxy_conn.c) -------------------------------------------------------- */

struct proxy_conn;

/* The response c's frontend would send has this status and nothing of it went to the client.
 * When an error page of the frontend covers it and its backend has a server to pick, the
 * transaction switches to fetching that page: the original upstream connection (if any) is
 * closed, the load balancer is told the original server is done, c->srv is the error server,
 * c->errpage_status the status, and the client's request is marked as having nothing more to
 * send (a body not read whole: the client connection closes after the answer). Returns true,
 * and the caller connects (upstream_connect). False: nothing changed (no page covers it, a
 * fetch already ran, or the page's backend has no server: the original response stands). */
bool proxy_errpage_begin(struct proxy_conn *c, int status);

/* Whether a response the proxy makes itself with this status (conn_local) is one an error
 * page may replace: >= 400, except the statuses about the client's own request bytes (400,
 * 408, 413, 414, 417, 431, 501, 505), which close the connection. */
bool proxy_errpage_local_ok(int status);

/* The error page request head for c's fetch into b (build_upstream_head). */
int proxy_errpage_request_head(struct proxy_conn *c, struct buf *b);

#endif
