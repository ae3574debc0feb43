/* proxy_fwdauth.h — forward authentication (Traefik v1 `auth.forward`) of entry points and
 * frontends: a sub-request to the auth server for every request, on the worker's event loop
 * (docs/internals/proxy-auth.md, "Forward auth").
 *
 * Contract
 *   - Per routing generation, proxy_fwdauth_gen_build parses and resolves every forward auth
 *     address once, at load time (control path: getaddrinfo may block there and nowhere
 *     else). A malformed or unresolvable address loads (logged) and its requests get 500.
 *   - Per request, a struct proxy_fwdauth comes from the engine's pool (max_forward_auth) and
 *     belongs to the client connection (c->fa) until the transaction ends. It owns the
 *     socket to the auth server (a new connection per auth request, closed as soon as the
 *     answer is read: no reuse) and the authResponseHeaders values copied from a 2xx answer
 *     (at most PROXY_FWDAUTH_KEEP_MAX bytes), which the upstream request head takes from it.
 *     The auth request head goes out of, and the answer comes into, the client connection's
 *     rs buffer, which is free until the upstream response; a denial's answer is rewritten
 *     in place in rs and sent to the client from there.
 *   - The client connection drives everything (proxy_conn.c, state PC_AUTH): the auth
 *     socket's events run the owner's state machine, whose step calls proxy_fwdauth_step.
 *     Timeouts: connect_timeout (connect), then response_header_timeout for the whole answer.
 *   - Nothing here allocates on the data path.
 */
#ifndef PROXY_FWDAUTH_H
#define PROXY_FWDAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/base_buf.h"
#include "base/base_slice.h"
#include "http/http_parse.h"

struct proxy_engine;
struct proxy_conn;
struct proxy_gen;
struct proxy_auth;
struct tls_client_config;

/* Bytes of authResponseHeaders values kept from a 2xx answer, and how many fields. */
#define PROXY_FWDAUTH_KEEP_MAX 4096u
#define PROXY_FWDAUTH_MAX_FIELDS 32u

enum proxy_fwdauth_addr_state {
	PROXY_FWDAUTH_ADDR_NONE = 0, /* no forward auth here */
	PROXY_FWDAUTH_ADDR_OK,
	PROXY_FWDAUTH_ADDR_BAD,        /* not an http:// or https:// URL */
	PROXY_FWDAUTH_ADDR_UNRESOLVED, /* the host did not resolve at load */
	PROXY_FWDAUTH_ADDR_TLS_FAILED, /* https: the client TLS configuration did not build */
};

/* One forward auth address of a generation (entry point or frontend). */
struct proxy_fwdauth_addr {
	uint8_t state; /* enum proxy_fwdauth_addr_state */
	bool https;
	struct sockaddr_storage addr;
	socklen_t alen;
	struct slice authority;        /* Host field of the auth request (slice of the table) */
	struct slice path;             /* path and query of the auth request ("/" when none) */
	char sni[256];                 /* https: server name (host without port), "" for an IP */
	struct tls_client_config *tls; /* https: malloc'd at load time; NULL for http */
};

/* Parse "http[s]://authority[/path[?query]]" (no userinfo, no fragment): 0 and the parts
 * (port 80 / 443 by default), or -ERR_INVAL. host excludes brackets of an IPv6 literal. */
int proxy_fwdauth_parse_url(struct slice url, bool *https, struct slice *authority,
			    struct slice *host, uint16_t *port, struct slice *path);

/* Build / free g->fa_ep and g->fa_fe (load time). 0 or -ERR_NOMEM (msg says why). */
int proxy_fwdauth_gen_build(struct proxy_engine *e, struct proxy_gen *g, char *msg, size_t cap);
void proxy_fwdauth_gen_free(struct proxy_gen *g);

/* Outcome of proxy_fwdauth_start / proxy_fwdauth_step. */
enum proxy_fwdauth_result {
	PROXY_FWDAUTH_PENDING = 0, /* waiting for the auth server */
	PROXY_FWDAUTH_ALLOW,       /* 2xx: the request goes on (kept fields in c->fa) */
	PROXY_FWDAUTH_DENY,        /* the auth server's answer is ready in c->rs: send it */
	PROXY_FWDAUTH_ERROR,       /* unreachable, garbage, too large, timeout: 500 (logged) */
	PROXY_FWDAUTH_FULL,        /* max_forward_auth reached: 503 (logged) */
};

/* Start the auth request of c (route pinned, rs free) for au, the auth of its entry point
 * (frontend = false) or frontend. On DENY the rs fields describe the answer: [0, rs.end) to
 * send, rs.body body bytes, c->status, and *close whether the connection must close. */
int proxy_fwdauth_start(struct proxy_conn *c, const struct proxy_auth *au, bool frontend);
int proxy_fwdauth_step(struct proxy_conn *c, bool *close);
/* Deadline of the sub-request in flight (monotonic ms), UINT64_MAX when none. */
uint64_t proxy_fwdauth_deadline(const struct proxy_conn *c);
/* The deadline passed: logged, the socket closed; the caller answers 500. */
void proxy_fwdauth_expired(struct proxy_conn *c);
/* Give c->fa back to the pool (transaction end). */
void proxy_fwdauth_release(struct proxy_conn *c);

/* Upstream request head (proxy_forward.c): whether a client field must be dropped because a
 * passed forward auth names it in authResponseHeaders, and the i-th field to add. */
bool proxy_fwdauth_drops(const struct proxy_conn *c, struct slice name);
bool proxy_fwdauth_field(const struct proxy_conn *c, uint32_t i, struct slice *name,
			 struct slice *value);

/* ---- building blocks (exposed for tests) ---------------------------------------------- */

struct proxy_fwdauth_req {
	struct slice method; /* client request method */
	struct slice uri;    /* client request-URI: path and query */
	struct slice host;   /* client Host (or absolute-form authority) */
	bool tls;            /* the client came over TLS */
	struct slice client_ip;
	const struct http_header *hdr; /* client fields */
	size_t nhdr;
	bool trust; /* trustForwardHeader: keep the client's X-Forwarded-* values */
	struct slice auth_authority, auth_path;
};

/* The auth request head ("GET path HTTP/1.1", Host, client fields, X-Forwarded-Method,
 * -Proto, -Host, -Uri, -For, Connection: close). 0 or -ERR_BUF_FULL. */
int proxy_fwdauth_request_head(const struct proxy_fwdauth_req *r, struct buf *b);

/* The client response head of a denial: status line, the auth server's fields without
 * hop-by-hop and framing fields, Content-Length: body_len (not for 1xx/204/304), Connection.
 * 0 or -ERR_BUF_FULL / -ERR_INVAL. */
int proxy_fwdauth_response_head(const struct http_response *res, uint64_t body_len, bool close,
				int minor, struct buf *b);

size_t proxy_fwdauth_size(void);

#endif
