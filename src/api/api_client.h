/* api_client.h — the JSON HTTP/1.1 client of the control API, for the CLIs.
 *
 * Contract
 *
 * - Blocking, with poll(2) deadlines: it is for command-line programs (traefikee's local
 *   commands, traefikeectl) and start-up paths (a node joining), never for the event loop.
 * - Three ways to reach a server:
 *     api_client_init_unix    the local unix socket (the node treats us as local admin);
 *     api_client_init_tls     TCP + mutual TLS with an admin (or node) certificate, trusting
 *                             only the cluster CA (api_client_init_creds from a credentials
 *                             bundle, see api_creds.h);
 *     api_client_init_pinned  TCP + TLS without a client certificate, trusting the CA whose
 *                             SHA-256 a join token carries (anonymous: API_ROLE_ANON routes).
 *   Over TLS the server must present a control node certificate of the cluster (its OU), not
 *   any certificate the CA signed; its name is not checked (a VIP may front the control nodes).
 * - Memory: the caller owns struct api_client (about 81 KiB, TLS engine included; make it static
 *   or put it on the heap); nothing is allocated. Response bodies go to the caller's buffer
 *   (struct api_result); a body that does not fit is -ERR_TOO_LARGE.
 * - One connection is kept open between calls (keep-alive) and re-opened when the server closed
 *   it; a call that finds a reused connection closed before any response byte is retried once
 *   on a fresh one.
 * - Errors: a call returns the HTTP status (100..599) — error statuses included, with the
 *   server's {"error","code"} copied to the result — or a negative -ERR_* when no response was
 *   had: -ERR_API_CONNECT (cannot connect), -ERR_TLS_* (handshake, certificate), -ERR_TIMEOUT,
 *   -ERR_CLOSED (the server closed without answering), -ERR_PARSE (malformed response),
 *   -ERR_TOO_LARGE (response over the caller's buffer). api_client_errmsg says what happened in
 *   a sentence fit for the user, e.g. "cannot connect to /var/run/traefikee.sock: no such file
 *   (is the node running?)".
 */
#ifndef API_API_CLIENT_H
#define API_API_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/api_creds.h"
#include "api/api_server.h"
#include "http/http_parse.h"
#include "pki/pki_cert.h"
#include "tls/tls.h"

#define API_CLIENT_RBUF 16384        /* response head and read-ahead */
#define API_CLIENT_STORE 16384       /* TLS configuration store (CA, certificate, key) */
#define API_CLIENT_HEADERS 32        /* response header fields */
#define API_CLIENT_TIMEOUT_MS 30000  /* default: connect + request + response */
#define API_CLIENT_REQ_HEAD_MAX 2048 /* request head; the path must fit in it */

enum api_client_kind {
	API_CLIENT_NONE = 0,
	API_CLIENT_UNIX,
	API_CLIENT_TLS,
};

/* Fields are private; read only errmsg (through api_client_errmsg) and server. */
struct api_client {
	enum api_client_kind kind;
	char target[API_ADDR_MAX > API_UNIX_PATH_MAX ? API_ADDR_MAX : API_UNIX_PATH_MAX];
	char host[API_ADDR_MAX]; /* TCP: host part; the Host header */
	uint16_t port;
	uint32_t timeout_ms;
	bool anonymous; /* no client certificate (pinned CA) */
	int fd;         /* -1 when not connected */
	bool reused;    /* the connection already carried a response */
	bool tls_on;
	bool eof;
	bool truncated;             /* TLS ended without close_notify */
	struct pki_identity server; /* TLS: the server's certificate identity */
	/* response state */
	struct http_header hdr[API_CLIENT_HEADERS];
	struct http_response res;
	struct http_limits hlim;
	enum http_body body_mode;
	uint64_t body_left;
	struct http_chunked chunk;
	bool in_body; /* a response body is being read */
	bool keep;    /* the connection may carry the next request */
	uint8_t rbuf[API_CLIENT_RBUF];
	size_t roff, rlen;         /* unread bytes: rbuf[roff..rlen) */
	size_t pend_off, pend_len; /* decoded chunk data not yet returned, in rbuf */
	uint64_t deadline;
	struct tls_client_config tcfg;
	uint8_t store[API_CLIENT_STORE];
	struct tls_conn tls;
	char errmsg[512];
};

/* A call's outcome. body is the caller's buffer (cap bytes, NUL-terminated on return). */
struct api_result {
	int status;
	char *body;
	size_t cap, len;
	char error[API_ERRMSG_MAX]; /* "error" of an error body ({"error","code"}), else "" */
	char code[64];              /* its "code", else "" */
};

void api_result_init(struct api_result *r, char *buf, size_t cap);

/* Set up a client (c is overwritten; nothing connects yet). -ERR_INVAL (bad path/address),
 * -ERR_RANGE (path over sun_path), TLS configuration errors (-ERR_TLS_PEM, ...; errmsg). */
int api_client_init_unix(struct api_client *c, const char *path);
int api_client_init_tls(struct api_client *c, const char *address, const void *ca_pem,
			size_t ca_len, const void *cert_pem, size_t cert_len, const void *key_pem,
			size_t key_len);
/* From a loaded bundle (api_creds_load): cr->address is the server. */
int api_client_init_creds(struct api_client *c, const struct api_creds *cr);
int api_client_init_pinned(struct api_client *c, const char *address, const uint8_t ca_digest[32]);
/* Deadline of each call (connect + request + response), ms. 0 restores the default. */
void api_client_set_timeout(struct api_client *c, uint32_t ms);
/* Close the connection (the next call opens a new one). */
void api_client_close(struct api_client *c);
/* Close and wipe the client, private key included. */
void api_client_fini(struct api_client *c);
const char *api_client_errmsg(const struct api_client *c);

/* One request: method ("GET"), path ("/nodes", percent-encoded by the caller), body (a JSON
 * text, or NULL for none). Returns the status (>= 100) or a negative -ERR_* (see top). */
int api_call(struct api_client *c, const char *method, const char *path, const char *body,
	     struct api_result *res);

/* Like api_call, but a 2xx response's body is not read: it is left for
 * api_client_stream_read (logs --follow). Other statuses are read into res as api_call does. */
int api_call_stream(struct api_client *c, const char *method, const char *path, const char *body,
		    struct api_result *res);
/* The next body bytes of a streamed response: > 0 bytes, 0 at its end, -ERR_TIMEOUT when
 * nothing came within timeout_ms (-1: wait forever; the stream stays usable), or an error. */
ssize_t api_client_stream_read(struct api_client *c, void *buf, size_t cap, int timeout_ms);

#endif
