/* tls.h — TLS 1.2 client and server engines (BearSSL) for the event loop.
 *
 * Contract
 *
 * - Two kinds of objects. Configurations (struct tls_server_config,
 *   struct tls_client_config) are built once at start-up from PEM text into
 *   caller-owned storage: the struct itself plus a byte "store" the caller
 *   hands to *_config_init, which receives every DER certificate, key
 *   element, distinguished name and SNI name. Connections (struct tls_conn)
 *   are caller-owned fixed-size slots (a pool entry): tls_conn_size() bytes,
 *   I/O buffer included. Nothing here ever calls malloc.
 * - Lifetimes: a configuration, and the store behind it, must outlive every
 *   connection initialised from it and must not be changed while such a
 *   connection exists (connections point into it).
 * - Caps are compile-time constants below; going over one is an error with
 *   its own code, and a refused call leaves the configuration as it was:
 *   TLS_CHAIN_MAX -> -ERR_TLS_CHAIN_FULL, TLS_SNI_MAX -> -ERR_TLS_SNI_FULL,
 *   TLS_TA_MAX -> -ERR_TLS_TA_FULL, store bytes -> -ERR_TLS_STORE_FULL.
 * - Sans-I/O: a connection never blocks and never owns a socket. Ciphertext
 *   moves through buffer/ack pairs (tls_conn_send_buf/_ack,
 *   tls_conn_recv_buf/_ack, tls_conn_recv_eof); tls_conn_on_readable and
 *   tls_conn_on_writable are thin helpers that do the read(2)/send(2) on a
 *   non-blocking fd for a loop callback. tls_conn_want says which readiness
 *   the connection waits for (TLS_WANT_READ == LOOP_READ, TLS_WANT_WRITE ==
 *   LOOP_WRITE, so it can be given to loop_mod_fd as is).
 * - Errors: the first failure is latched in the connection (tls_conn_error,
 *   tls_conn_errmsg, tls_conn_br_error); every later call returns it. A
 *   latched error is final: close the fd and release the slot.
 * - Protocol: TLS 1.2 only (BearSSL 0.6 has no TLS 1.3), ECDHE key exchange
 *   with AES-GCM or ChaCha20-Poly1305 only. Servers sign with ECDSA (P-256
 *   and other curves BearSSL knows) or RSA keys; clients accept ECDSA and RSA
 *   server certificates. docs/internals/tls.md has the design: memory per
 *   connection, cipher suites, SNI rules, CA pinning.
 */
#ifndef TLS_TLS_H
#define TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <bearssl.h>

#include "base/base_rand.h"

/* Caps -------------------------------------------------------------------- */

#define TLS_CHAIN_MAX 4         /* certificates in one chain we send (leaf first) */
#define TLS_SNI_MAX 16          /* certificate entries in one server config */
#define TLS_TA_MAX 16           /* trust anchors (CA certificates) in one config */
#define TLS_PEER_CERT_MAX 4096  /* peer leaf certificate bytes kept per connection */
#define TLS_CN_MAX 128          /* peer common name, NUL included */
#define TLS_SERVER_NAME_MAX 255 /* server name given to a client connection */
#define TLS_ERRMSG_MAX 160      /* errmsg buffers, NUL included */

/* The engine's I/O buffer: full-duplex, room for one maximal record each way
 * (16384 + 325 in, 16384 + 85 out = 33178 bytes). See tls.md. */
#define TLS_IOBUF_SIZE BR_SSL_BUFSIZE_BIDI

/* Readiness a connection waits for; equal to LOOP_READ / LOOP_WRITE. */
#define TLS_WANT_READ 0x01u
#define TLS_WANT_WRITE 0x02u

/* tls_server_add_cert flags. */
#define TLS_CERT_DEFAULT 0x01u /* served when no entry matches the SNI name */

typedef uint64_t (*tls_clock_fn)(void *ctx); /* wall clock: Unix seconds, UTC */

enum tls_client_auth {
	TLS_CLIENT_AUTH_NONE,     /* no certificate requested */
	TLS_CLIENT_AUTH_OPTIONAL, /* requested; handshake goes on without a valid one */
	TLS_CLIENT_AUTH_REQUIRED, /* requested; no valid certificate -> handshake fails */
};

enum tls_peer_status {
	TLS_PEER_NONE,       /* no certificate presented (or handshake not done) */
	TLS_PEER_REJECTED,   /* presented but not valid (optional client auth only) */
	TLS_PEER_UNVERIFIED, /* accepted without any check (insecure_skip_verify) */
	TLS_PEER_VERIFIED,   /* chain verified against a CA or the pinned CA */
};

/* Configuration storage (fields are private to tls_*.c) -------------------- */

struct tls_store {
	uint8_t *mem;
	size_t cap;
	size_t len;
	bool overflow; /* an append did not fit (reset by each loader) */
};

struct tls_chain {
	br_x509_certificate certs[TLS_CHAIN_MAX]; /* DER in the store, leaf first */
	size_t ncerts;
	unsigned key_type;        /* BR_KEYTYPE_EC or BR_KEYTYPE_RSA */
	unsigned issuer_key_type; /* key type that signed the leaf */
	union {
		br_ec_private_key ec;
		br_rsa_private_key rsa;
	} key; /* elements in the store */
};

struct tls_verify {
	br_x509_trust_anchor tas[TLS_TA_MAX]; /* DN and key bytes in the store */
	size_t ntas;
	uint8_t pin[32]; /* SHA-256 of a CA certificate (DER) */
	bool has_pin;
	bool insecure; /* accept any certificate: dangerous, see tls.md */
	tls_clock_fn clock;
	void *clock_ctx;
};

struct tls_server_cert {
	struct tls_chain chain;
	const char *names; /* "a.test,*.b.test" in the store; "" for none */
};

struct tls_server_config {
	struct tls_store store;
	struct tls_server_cert certs[TLS_SNI_MAX];
	size_t ncerts;
	size_t default_cert; /* index; the first entry unless one is flagged */
	bool has_default;    /* an entry was added with TLS_CERT_DEFAULT */
	bool sni_strict;
	enum tls_client_auth client_auth;
	struct tls_verify verify; /* for client certificates */
	/* Session cache (tls_server_enable_session_cache): the one part of a server config that
	 * connections write to (an LRU of resumable sessions, in the store). */
	br_ssl_session_cache_lru cache;
	bool has_cache;
	/* Cipher suite restriction (tls_server_restrict_suites): 0 = every suite we offer, else
	 * TLS_SUITE_BIT(id) of each allowed one. policy_choose tests it once per client suite. */
	uint64_t suite_mask;
	char errmsg[TLS_ERRMSG_MAX];
};

struct tls_client_config {
	struct tls_store store;
	struct tls_chain cert; /* client certificate, if has_cert */
	bool has_cert;
	struct tls_verify verify; /* for server certificates */
	char errmsg[TLS_ERRMSG_MAX];
};

/* Server configuration ------------------------------------------------------ */

/* Start an empty server config whose variable-size data goes to store
 * (store_cap bytes, caller-owned, kept as long as the config). -ERR_INVAL
 * for NULL arguments. */
int tls_server_config_init(struct tls_server_config *cfg, void *store, size_t store_cap);
/* Let clients resume sessions (TLS 1.2 session IDs): an LRU cache of `bytes` (at least 4096;
 * about 100 bytes a session) taken from the config's store, shared by every connection of this
 * config and by nothing else, so a session never resumes under another entry point's
 * certificates or policy. Connections of a config that authenticates clients never use it (a
 * resumed session would skip the certificate check). 0, -ERR_INVAL (too small),
 * -ERR_TLS_STORE_FULL. */
int tls_server_enable_session_cache(struct tls_server_config *cfg, size_t bytes);
/* Add a certificate entry: chain_pem holds the leaf then its intermediates
 * (CERTIFICATE objects, at most TLS_CHAIN_MAX), key_pem the leaf's private
 * key ("EC PRIVATE KEY", "RSA PRIVATE KEY" or unencrypted PKCS#8 "PRIVATE
 * KEY"). names is a comma-separated list of SNI names this entry serves,
 * exact ("a.example.com") or wildcard ("*.example.com": exactly one label);
 * NULL or "" for none. flags: TLS_CERT_DEFAULT makes it the entry served
 * when the client's name matches nothing (default: the first entry). The PEM
 * buffers need not stay alive. Returns the entry index (>= 0), or
 * -ERR_TLS_PEM (malformed PEM/DER, no certificate, no or encrypted key),
 * -ERR_TLS_CONFIG (key does not match the leaf, bad name pattern),
 * -ERR_TLS_CHAIN_FULL, -ERR_TLS_SNI_FULL, -ERR_TLS_STORE_FULL; cfg->errmsg
 * says more. */
int tls_server_add_cert(struct tls_server_config *cfg, const char *names, const void *chain_pem,
			size_t chain_pem_len, const void *key_pem, size_t key_pem_len,
			unsigned flags);
/* Add the CA certificates in pem as trust anchors for client certificates.
 * Returns the number added, or -ERR_TLS_PEM, -ERR_TLS_TA_FULL,
 * -ERR_TLS_STORE_FULL (nothing added). */
int tls_server_add_client_ca(struct tls_server_config *cfg, const void *pem, size_t pem_len);
/* Request client certificates. OPTIONAL and REQUIRED need at least one
 * client CA (-ERR_TLS_CONFIG otherwise); -ERR_INVAL for an unknown mode. */
int tls_server_set_client_auth(struct tls_server_config *cfg, enum tls_client_auth mode);
/* SniStrict: refuse clients that send no SNI name or one no entry serves. */
void tls_server_set_sni_strict(struct tls_server_config *cfg, bool strict);
/* Serve only the suites ids[0..n) (IANA ids; each must be one we support, see
 * tls_suite_by_go_name): the server still picks in its own preference order, skipping client
 * suites not listed; a client offering none of them fails the handshake (handshake_failure).
 * n == 0 lifts the restriction. 0, or -ERR_INVAL (NULL with n > 0, an id we do not serve;
 * the config is then unchanged). Connections already made keep the old choice. */
int tls_server_restrict_suites(struct tls_server_config *cfg, const uint16_t *ids, size_t n);
/* Clock for certificate validity (NULL: BearSSL reads the system clock). */
void tls_server_set_clock(struct tls_server_config *cfg, tls_clock_fn clock, void *ctx);

/* Client configuration ------------------------------------------------------ */

int tls_client_config_init(struct tls_client_config *cfg, void *store, size_t store_cap);
/* Trust the CA certificates in pem (as tls_server_add_client_ca). */
int tls_client_add_ca(struct tls_client_config *cfg, const void *pem, size_t pem_len);
/* Pin a CA by the SHA-256 of its DER certificate: a server chain is also
 * accepted when it verifies up to a certificate (sent by the server in its
 * chain) with that digest. See tls.md, "CA pinning". */
void tls_client_set_pin(struct tls_client_config *cfg, const uint8_t sha256[32]);
/* DANGEROUS: accept any server certificate, unverified (chain, dates and
 * name). For providers talking to test services only; logged by callers. */
void tls_client_set_insecure_skip_verify(struct tls_client_config *cfg, bool insecure);
/* Client certificate sent when a server asks for one (as tls_server_add_cert,
 * without names). Errors as tls_server_add_cert except -ERR_TLS_SNI_FULL. */
int tls_client_set_cert(struct tls_client_config *cfg, const void *chain_pem, size_t chain_pem_len,
			const void *key_pem, size_t key_pem_len);
void tls_client_set_clock(struct tls_client_config *cfg, tls_clock_fn clock, void *ctx);

/* Connections ----------------------------------------------------------------- */

/* Everything is private to tls_*.c; in the header so pools can hold it. */
struct tls_x509 {
	const br_x509_class *vtable; /* our engine: wraps `minimal` */
	br_x509_minimal_context minimal;
	const struct tls_verify *verify;
	br_name_element cn_elt;
	br_sha256_context sha; /* over the current certificate */
	uint32_t ncerts;       /* certificates started in this chain */
	bool started;          /* a chain was received */
	bool pin_matched;      /* some certificate hashed to the pin */
	bool ee_overflow;      /* leaf over TLS_PEER_CERT_MAX: not kept */
	bool ee_decoded;       /* pkey, dn below are valid */
	uint8_t ip[16];        /* IP literal to find in the leaf's SAN */
	uint8_t ip_len;        /* 0, 4 or 16 */
	unsigned result;       /* end_chain: 0 or a BR_ERR_X509_* code */
	uint8_t ee_sha256[32];
	size_t ee_len;
	size_t dn_off, dn_len; /* subject DN inside ee_der */
	br_x509_pkey pkey;     /* leaf key, elements in pkey_buf */
	uint8_t pkey_buf[BR_X509_BUFSIZE_KEY];
	char cn[TLS_CN_MAX];
	uint8_t ee_der[TLS_PEER_CERT_MAX];
};

/* sizeof(struct tls_conn): twelve whole 4 KiB pages, so that a slot starting on a page
 * boundary gives whole pages back in tls_conn_trim (see tls.md, "Memory"). */
#define TLS_CONN_SLOT (12u * 4096u)

/* Layout (tls_conn_trim depends on it): the small fields first, then the engine context (the
 * two make up the first page, bar the server context's handshake-only tail), then the X.509
 * state (needed after the handshake only to answer tls_conn_peer_* about a certificate the
 * peer sent), then the I/O buffer, then padding up to TLS_CONN_SLOT. */
struct tls_conn {
	union {
		struct {
			br_ssl_engine_context *eng;               /* &u.srv.eng or &u.cli.eng */
			const br_ssl_server_policy_class *policy; /* server: our SNI policy */
			const struct tls_server_config *scfg;
			const struct tls_client_config *ccfg;
			bool is_server;
			bool handshake_done;
			bool close_called; /* tls_conn_close was called */
			bool closed;       /* finished cleanly (close_notify, or abandoned) */
			bool eof;          /* the transport reached end of file */
			int err;           /* latched negative ERR_*; 0 while healthy */
			int br_err;        /* BearSSL code behind err (0 if none) */
			int cert_index;    /* server: entry chosen for this client, -1 before */
			enum tls_peer_status peer;
			char errmsg[TLS_ERRMSG_MAX];
			union {
				br_ssl_server_context srv;
				br_ssl_client_context cli;
			} u;
			struct tls_x509 x509;
			uint8_t iobuf[TLS_IOBUF_SIZE];
		};
		uint8_t slot_[TLS_CONN_SLOT]; /* the size: whole pages */
	};
};

/* sizeof(struct tls_conn) == TLS_CONN_SLOT: the pool slot size (48 KiB, see tls.md). Pools
 * should start slots on page boundaries so that tls_conn_trim can release whole pages. */
size_t tls_conn_size(void);
/* Zero the whole slot (session keys, plaintext left in the I/O buffer)
 * before it goes back to its pool. No other release is needed: a
 * connection holds nothing but its own storage. */
void tls_conn_wipe(struct tls_conn *c);
/* The same wipe for a slot whose I/O buffer tls_conn_trim gave back: the first page is zeroed
 * and every later one released with madvise (it reads back as zeros), so wiping faults
 * nothing back in and the free slot holds one page of memory. On any slot it leaves what
 * tls_conn_wipe leaves; on a busy one it is merely slower (page faults on the next use). */
void tls_conn_wipe_release(struct tls_conn *c);

/* Prepare c (caller storage, overwritten) for one accepted connection.
 * rng supplies the 32 bytes of entropy injected into the engine (NULL:
 * getrandom). Errors: -ERR_INVAL, -ERR_TLS_CONFIG (no certificate, or
 * client auth without CAs), -ERR_RAND, -ERR_TLS_HANDSHAKE (engine reset). */
int tls_conn_init_server(struct tls_conn *c, const struct tls_server_config *cfg, struct rand *rng);
/* Prepare c for one outgoing connection. server_name (copied; NULL for none)
 * is sent as SNI and checked against the server certificate's DNS names; an
 * IP literal is not sent as SNI and is checked against the certificate's IP
 * addresses instead. Errors as tls_conn_init_server; -ERR_TLS_CONFIG also
 * when cfg has no CA, no pin and is not insecure, -ERR_INVAL for a name over
 * TLS_SERVER_NAME_MAX. */
int tls_conn_init_client(struct tls_conn *c, const struct tls_client_config *cfg,
			 const char *server_name, struct rand *rng);

/* TLS_WANT_READ and/or TLS_WANT_WRITE, or 0 when nothing will happen without
 * the application (plaintext waiting to be read with tls_conn_read) or when
 * the connection is finished (tls_conn_done). */
unsigned tls_conn_want(const struct tls_conn *c);

/* Ciphertext to send: a view of *len bytes inside c (NULL, 0 if none), valid
 * until the next call on c. Acknowledge what the transport took, n > 0. */
const uint8_t *tls_conn_send_buf(struct tls_conn *c, size_t *len);
void tls_conn_send_ack(struct tls_conn *c, size_t n);
/* Room for received ciphertext (NULL, 0 if the engine takes none now);
 * acknowledge the n > 0 bytes written there. */
uint8_t *tls_conn_recv_buf(struct tls_conn *c, size_t *len);
void tls_conn_recv_ack(struct tls_conn *c, size_t n);
/* The transport reached end of file. Clean when the TLS stream was already
 * closed (or we closed it ourselves); else latches -ERR_TLS_HANDSHAKE
 * (during the handshake) or -ERR_TLS_TRUNCATED (no close_notify) — once the
 * plaintext the engine already holds has been read. */
void tls_conn_recv_eof(struct tls_conn *c);

/* Loop helpers: read(2) from / send(2) (MSG_NOSIGNAL; write(2) for non
 * sockets) to the non-blocking fd until it would block or the engine has
 * nothing more to take/give. 0, or the latched error. A failed read/write
 * latches -ERR_TLS_HANDSHAKE during the handshake, else its errno converted
 * by err_from_errno (-ERR_CLOSED for a reset or EPIPE); after a close_notify
 * either way it is a clean end instead. Call on_readable for LOOP_READ and
 * also for LOOP_RDHUP / LOOP_HUP / LOOP_ERR (it then sees the EOF or the
 * error), on_writable for LOOP_WRITE. */
int tls_conn_on_readable(struct tls_conn *c, int fd);
int tls_conn_on_writable(struct tls_conn *c, int fd);

/* Application data. read: bytes copied (> 0), 0 at the peer's close_notify,
 * -ERR_AGAIN when nothing is available yet, or the latched error. write:
 * bytes accepted (> 0; each call ends a record), -ERR_AGAIN while the
 * handshake runs or records wait to be sent, -ERR_CLOSED after
 * tls_conn_close, or the latched error. len 0 returns -ERR_INVAL. */
ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len);
ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len);
/* Send close_notify (after buffered data). Keep writing while tls_conn_want
 * has TLS_WANT_WRITE; the fd may then be closed. Before the handshake is
 * done the connection is just abandoned (tls_conn_done at once). */
void tls_conn_close(struct tls_conn *c);

/* Give the idle connection's memory back: when the engine holds nothing in its I/O buffer
 * (handshake done, no partial incoming record, no plaintext unread, no outgoing record
 * pending or partly filled, not closing or failed), release the whole pages inside the I/O
 * buffer (and the padding after it) with madvise(MADV_DONTNEED); when the peer presented no
 * certificate, the X.509 state before it too, and for a server the handshake-only tail of
 * BearSSL's server context (a page-aligned server slot then keeps 4 KiB resident; see
 * tls_conn.c for why each part is dead). The pages come back (zero-filled) when the
 * engine next touches them; nothing else changes. Returns 1 when pages were released, else
 * 0 and nothing is done. One madvise(2) per call: call it when a connection has been idle a
 * while, not per request. The only syscall in src/tls/ besides the two fd helpers. */
int tls_conn_trim(struct tls_conn *c);

/* State ------------------------------------------------------------------------- */

bool tls_conn_handshake_done(const struct tls_conn *c);
/* Finished: closed cleanly or failed; nothing more will move. */
bool tls_conn_done(const struct tls_conn *c);
/* Latched error (negative ERR_*) or 0; its text; the BearSSL code behind it
 * (BR_ERR_*, 0 for transport errors). */
int tls_conn_error(const struct tls_conn *c);
const char *tls_conn_errmsg(const struct tls_conn *c);
int tls_conn_br_error(const struct tls_conn *c);
/* Negotiated protocol version (0x0303) and cipher suite, once done. */
unsigned tls_conn_version(const struct tls_conn *c);
unsigned tls_conn_cipher_suite(const struct tls_conn *c);
/* Server: the SNI name the client sent ("" if none); client: the name
 * given to init. */
const char *tls_conn_server_name(const struct tls_conn *c);
/* Server: index of the certificate entry chosen, -1 before ServerHello. */
int tls_conn_cert_index(const struct tls_conn *c);

/* The peer's leaf certificate, after the handshake. Only VERIFIED
 * identities may be trusted for authorisation. */
enum tls_peer_status tls_conn_peer_status(const struct tls_conn *c);
/* BearSSL X.509 code of a REJECTED client certificate (0 otherwise). */
int tls_conn_peer_br_error(const struct tls_conn *c);
/* The getters below return NULL unless the status is VERIFIED or UNVERIFIED;
 * dn and cert also when the leaf was over TLS_PEER_CERT_MAX. Views into c. */
const char *tls_conn_peer_cn(const struct tls_conn *c);
const uint8_t *tls_conn_peer_dn(const struct tls_conn *c, size_t *len); /* subject, DER */
const uint8_t *tls_conn_peer_cert(const struct tls_conn *c, size_t *len);
const uint8_t *tls_conn_peer_cert_sha256(const struct tls_conn *c);
const br_x509_pkey *tls_conn_peer_key(const struct tls_conn *c);

/* Helpers ----------------------------------------------------------------------- */

/* SNI rule: pattern is an exact name or "*.suffix" matching one more label;
 * ASCII case-insensitive; a trailing dot on name is ignored. */
bool tls_name_match(const char *pattern, const char *name);
/* "BR_ERR_X509_EXPIRED" and similar for a BearSSL error code. */
const char *tls_br_err_name(int br_err);
/* "ECDHE-ECDSA-AES128-GCM-SHA256" and similar, "unknown" otherwise. */
const char *tls_suite_name(unsigned suite);

/* Cipher suites by the names of Go's crypto/tls constants, as Traefik v1 documents them
 * (entryPoints.<n>.tls.cipherSuites): every name Go knew up to 1.14 (1.10's list, the TLS 1.3
 * names of 1.12 and the _SHA256 ChaCha20 aliases of 1.14), so that a real but unsupported
 * name can be told apart from a typo. tls_suites.c. */
struct tls_suite_info {
	const char *go_name; /* "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" */
	uint16_t id;         /* IANA id (0xc02b) */
	bool supported;      /* one of the six suites we serve (tls.md, "Protocol") */
};
/* The entry for name[0..len) (exact, case-sensitive like Go's map), or NULL for a name Go
 * never had. */
const struct tls_suite_info *tls_suite_by_go_name(const char *name, size_t len);
/* The six supported suites, compactly, for messages. */
#define TLS_SUITES_SUPPORTED_TEXT                        \
	"TLS_ECDHE_ECDSA_WITH_ and TLS_ECDHE_RSA_WITH_ " \
	"AES_128_GCM_SHA256, AES_256_GCM_SHA384, CHACHA20_POLY1305"
/* The bit of suite id in tls_server_config.suite_mask: the six suites we serve have distinct
 * low six bits (checked in tls_suites.c). */
#define TLS_SUITE_BIT(id) ((uint64_t)1 << ((unsigned)(id)&63u))
/* Map a BearSSL code to a project code and describe it in msg (cap bytes):
 * X.509 failures and a missing client certificate give -ERR_TLS_CERT, other
 * failures -ERR_TLS_HANDSHAKE before the handshake is done and
 * -ERR_TLS_PROTOCOL after; BR_ERR_OK gives 0. */
int tls_err_from_br(int br_err, bool handshake_done, char *msg, size_t cap);

/* Between tls_*.c only; not API ------------------------------------------------ */

/* tls.c: tls_name_match with a pattern of plen bytes (not NUL-terminated). */
bool tls_name_match_n_(const char *pattern, size_t plen, const char *name);
/* tls_config.c: the entry serving SNI name sni ("" or NULL: none): an exact
 * name first, then a wildcard, in the order entries were added; else the
 * default entry, or -1 under sni_strict (or with no entry). */
int tls_server_pick_(const struct tls_server_config *cfg, const char *sni);
/* tls_x509.c: set up x as the engine validating the peer's chain under v;
 * ip (ip_len 4 or 16, else none) must appear among the leaf's iPAddress
 * names. The connection then calls br_ssl_engine_set_x509(eng, &x->vtable). */
void tls_x509_init_(struct tls_x509 *x, const struct tls_verify *v, const uint8_t *ip,
		    size_t ip_len);

#endif
