/* proxy_ptc.h — two per-request policies of the routing document that the engine applies
 * (docs/internals/proxy-ptc.md):
 *
 *  1. A frontend's passTLSCert / passTLSClientCert: request fields built from the client's
 *     TLS certificate (the leaf DER the TLS layer keeps, tls_conn_peer_cert), with Traefik
 *     v1.7's names and formats (middlewares/tlsClientHeaders.go):
 *       X-Forwarded-Ssl-Client-Cert        passTLSCert: the certificate, as below
 *       X-Forwarded-Tls-Client-Cert        pem: base64 of the DER (the PEM body without its
 *                                          BEGIN/END lines and newlines), URL query-escaped
 *       X-Forwarded-Tls-Client-Cert-Infos  infos: Subject="...",Issuer="...",NB=<unix>,
 *                                          NA=<unix>,SAN=<list>, URL query-escaped as a whole
 *     A client's own copies of these fields (and of the older
 *     X-Forwarded-Ssl-Client-Cert-Infos) never cross a frontend that has either option.
 *
 *  2. A backend's buffering limits (oxy's buffer middleware as Traefik v1.7 used it):
 *     maxRequestBodyBytes (413) and maxResponseBodyBytes (500 before the head, a cut
 *     connection after it); 0 means no limit. Bodies stream: nothing is held whole.
 *
 * Contract
 *   No allocation, no state but a per-worker log rate limiter (each worker is one
 *   single-threaded process). The certificate parsers read a caller's DER (at most
 *   TLS_PEER_CERT_MAX bytes in practice) through the bounds-checked pki_der reader and write
 *   straight into the caller's buffer: no scratch. Every function that writes leaves b as it
 *   was on error.
 */
#ifndef PROXY_PTC_H
#define PROXY_PTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "base/base_slice.h"

struct proxy_frontend;
struct proxy_backend;
struct proxy_conn;
struct tls_conn;

/* ---- passTLSCert / passTLSClientCert ------------------------------------------------------ */

/* Whether a frontend has either option (the engine's only test on its hot path). */
static inline bool proxy_ptc_enabled(bool pass_tls_cert, uint32_t pass_tls_client_cert)
{
	return pass_tls_cert || pass_tls_client_cert != 0;
}

/* Whether `name` is one of the fields the options own (ASCII case-insensitive): the client's
 * copy is dropped. */
bool proxy_ptc_owned_field(struct slice name);

/* Append the certificate, query-escaped base64 of der[0..len): the value of
 * X-Forwarded-Tls-Client-Cert. 0, or -ERR_BUF_FULL (b unchanged). */
int proxy_ptc_pem_value(struct buf *b, const uint8_t *der, size_t len);

/* Append the X-Forwarded-Tls-Client-Cert-Infos value for the PROXY_PTC_* bits (subject /
 * issuer fields, NB, NA, SAN), query-escaped. 0, -ERR_BUF_FULL, or -ERR_PARSE when der is not
 * a certificate this reader understands (b unchanged either way). */
int proxy_ptc_infos_value(struct buf *b, const uint8_t *der, size_t len, uint32_t bits);

/* Append every field of the options (whole "Name: value\r\n" lines) for the certificate
 * der[0..len); nothing when der is NULL (no client certificate). A certificate the infos
 * reader refuses gets no Infos field (logged, rate-limited). 0 or -ERR_BUF_FULL. */
int proxy_ptc_put_fields(struct buf *b, bool pass_tls_cert, uint32_t bits, const uint8_t *der,
			 size_t len, uint64_t now_ms);

/* The same for frontend fe and the leaf TLS connection tls verified (NULL tls, or no
 * certificate: nothing). now_ms (monotonic) paces the log line. */
int proxy_ptc_put(struct buf *b, const struct proxy_frontend *fe, const struct tls_conn *tls,
		  uint64_t now_ms);

/* ---- buffering ---------------------------------------------------------------------------- */

/* The limits of backend be for one request (0: none); be->buffering must be set. A negative
 * or zero configured value is no limit. */
void proxy_buffering_limits(const struct proxy_backend *be, uint64_t *rq_max, uint64_t *rs_max);

/* Whether a body is over max (max > 0): by its announced length when known (has_length),
 * else by the bytes framed so far. */
static inline bool proxy_buffering_over(uint64_t max, bool has_length, uint64_t length,
					uint64_t framed)
{
	return max && (has_length ? length : framed) > max;
}

/* The engine's checks (c->buf_lim says which of c's backend's limits apply; the limits are
 * read from c's backend (c->gen->t->be[c->be]) when checked; each check that says "over" has
 * logged it):
 *  - proxy_buffering_begin: at routing, set c->buf_lim from backend be (be->buffering set);
 *    true when the request is already over (Content-Length, or chunked bytes read with the
 *    head): answer 413 before anything goes upstream.
 *  - proxy_buffering_rq_over: after request body bytes were framed (chunked growing past it).
 *  - proxy_buffering_rs_head_over: a final response whose head is built but not sent yet,
 *    over by its Content-Length or by the body bytes that came with the head: 500.
 *  - proxy_buffering_rs_over: after response body bytes were framed; sent says whether the
 *    head may have reached the client (then the connection is cut, else 500). */
enum { PROXY_BUFLIM_RQ = 1, PROXY_BUFLIM_RS = 2 }; /* c->buf_lim bits */
struct http_response;
bool proxy_buffering_begin(struct proxy_conn *c, const struct proxy_backend *be);
bool proxy_buffering_rq_over(struct proxy_conn *c);
bool proxy_buffering_rs_head_over(struct proxy_conn *c, const struct http_response *res);
bool proxy_buffering_rs_over(struct proxy_conn *c, bool sent);

enum proxy_buffering_event {
	PROXY_BUFFERING_REQUEST = 0, /* request body over maxRequestBodyBytes: 413 */
	PROXY_BUFFERING_RESPONSE,    /* response over maxResponseBodyBytes before its head: 500 */
	PROXY_BUFFERING_CUT,         /* ... after its head: the client connection is cut */
};

/* Log an over-limit event (rate-limited: at most one line a second per kind, saying how many
 * were left out since). */
void proxy_buffering_log(enum proxy_buffering_event ev, struct slice backend, uint64_t max,
			 uint64_t now_ms);

#endif
