/* tls_conn.c — one TLS connection: the BearSSL engine glue.
 *
 * A struct tls_conn holds a BearSSL server or client context, our X.509
 * engine (tls_x509.c), the SNI policy (servers) and the 33178-byte
 * full-duplex I/O buffer. It never touches a socket except through
 * tls_conn_on_readable / tls_conn_on_writable, which the event loop's fd
 * callback calls; everything else moves bytes between the caller's buffers
 * and the engine's (the buffer/ack pairs of bearssl_ssl.h, one level up).
 * An idle connection can give the I/O buffer's pages back (tls_conn_trim,
 * the one other syscall here: madvise).
 *
 * State is read back from the engine after every operation (conn_sync):
 * the handshake is done when the engine first accepts or yields application
 * data; a closed engine is either a clean close_notify exchange (error 0) or
 * a failure, whose BearSSL code is mapped by tls_err_from_br and latched
 * with its message. Transport events (EOF, read/write errors) are latched
 * here. The first error wins; after it every call returns it and
 * tls_conn_want returns 0.
 */
#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base_err.h"
#include "loop/loop.h"
#include "tls/tls_ecdsa.h"
#include "tls/tls_p256.h"

_Static_assert(TLS_WANT_READ == LOOP_READ, "TLS_WANT_READ must equal LOOP_READ");
_Static_assert(TLS_WANT_WRITE == LOOP_WRITE, "TLS_WANT_WRITE must equal LOOP_WRITE");
_Static_assert(sizeof(struct tls_conn) == TLS_CONN_SLOT,
	       "tls_conn outgrew TLS_CONN_SLOT: update it and docs/internals/tls.md");
/* What an idle connection keeps (tls_conn_trim) fits the slot's first page: our fields, the
 * whole client context, the server context up to its handshake-only tail. */
_Static_assert(offsetof(struct tls_conn, u) + offsetof(br_ssl_server_context, chain_handler) <=
		       4096,
	       "tls_conn's permanent part outgrew its first page: see tls_conn_trim");
_Static_assert(offsetof(struct tls_conn, u) + sizeof(br_ssl_client_context) <= 4096,
	       "tls_conn's permanent part outgrew its first page: see tls_conn_trim");

/* ECDHE only (forward secrecy), AEAD only. AES-GCM first when the CPU has
 * AES-NI (BearSSL then uses it), ChaCha20-Poly1305 first otherwise (constant
 * time and fast in software). Servers enforce their order. */
static const uint16_t suites_aes_first[] = {
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
};

static const uint16_t suites_chacha_first[] = {
	BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
};

_Static_assert(sizeof suites_aes_first == sizeof suites_chacha_first, "suite lists differ");
/* tools/deps.sh builds BearSSL with BR_MAX_CIPHER_SUITES 8 (its server scans every slot). */
_Static_assert(sizeof suites_aes_first / sizeof suites_aes_first[0] <= BR_MAX_CIPHER_SUITES,
	       "more suites than BearSSL's BR_MAX_CIPHER_SUITES");

static const br_hash_class *hash_by_id(int id)
{
	switch (id) {
	case br_sha1_ID: return &br_sha1_vtable;
	case br_sha224_ID: return &br_sha224_vtable;
	case br_sha256_ID: return &br_sha256_vtable;
	case br_sha384_ID: return &br_sha384_vtable;
	case br_sha512_ID: return &br_sha512_vtable;
	default: return NULL;
	}
}

static const unsigned char *rsa_hash_oid(int id)
{
	switch (id) {
	case br_sha1_ID: return BR_HASH_OID_SHA1;
	case br_sha224_ID: return BR_HASH_OID_SHA224;
	case br_sha256_ID: return BR_HASH_OID_SHA256;
	case br_sha384_ID: return BR_HASH_OID_SHA384;
	case br_sha512_ID: return BR_HASH_OID_SHA512;
	default: return NULL;
	}
}

/* Errors ------------------------------------------------------------------------- */

static void conn_latch(struct tls_conn *c, int err, int br_err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Keep the first error. A detail written to errmsg before the failure (the
 * SNI policy does that) is kept in front of the message. */
static void conn_latch(struct tls_conn *c, int err, int br_err, const char *fmt, ...)
{
	char msg[TLS_ERRMSG_MAX];
	va_list ap;

	if (c->err)
		return;
	c->err = err;
	c->br_err = br_err;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->errmsg[0]) {
		size_t n = strlen(c->errmsg);
		snprintf(c->errmsg + n, sizeof c->errmsg - n, ": %s", msg);
	} else {
		memcpy(c->errmsg, msg, sizeof msg);
	}
}

static enum tls_peer_status peer_status_of(const struct tls_conn *c)
{
	const struct tls_x509 *x = &c->x509;

	if (!x->started || x->ncerts == 0)
		return TLS_PEER_NONE;
	if (x->result != 0)
		return TLS_PEER_REJECTED;
	return x->verify->insecure ? TLS_PEER_UNVERIFIED : TLS_PEER_VERIFIED;
}

/* After the handshake, an engine that takes no more records and holds no
 * plaintext has received close_notify (it is sending its own). */
static bool peer_sent_close(const struct tls_conn *c)
{
	if (!c->handshake_done)
		return false;
	unsigned st = br_ssl_engine_current_state(c->eng);
	return !(st & (BR_SSL_CLOSED | BR_SSL_RECVREC | BR_SSL_RECVAPP));
}

/* The transport is at EOF: decide once no plaintext is left to read. */
static void eof_check(struct tls_conn *c)
{
	unsigned st = br_ssl_engine_current_state(c->eng);

	if (st & BR_SSL_RECVAPP)
		return;
	if (c->close_called || peer_sent_close(c)) {
		/* We sent close_notify (the peer need not answer), or the peer
		 * did and our answer is still queued: both are clean ends. */
		c->closed = true;
	} else if (!c->handshake_done) {
		conn_latch(c, -ERR_TLS_HANDSHAKE, 0,
			   "peer closed the connection during the handshake");
	} else {
		conn_latch(c, -ERR_TLS_TRUNCATED, 0,
			   "peer closed the connection without close_notify");
	}
}

/* Read the engine's state back into c: closure, failure, handshake end. */
static void conn_sync(struct tls_conn *c)
{
	if (c->err || c->closed)
		return;
	unsigned st = br_ssl_engine_current_state(c->eng);
	if (st & BR_SSL_CLOSED) {
		int br = br_ssl_engine_last_error(c->eng);
		if (br == BR_ERR_OK && (c->handshake_done || c->close_called)) {
			c->closed = true;
			return;
		}
		if (br == BR_ERR_OK) {
			conn_latch(c, -ERR_TLS_HANDSHAKE, 0, "peer closed during the handshake");
			return;
		}
		char msg[TLS_ERRMSG_MAX];
		int e = tls_err_from_br(br, c->handshake_done, msg, sizeof msg);
		if (e == -ERR_TLS_CERT && br != BR_ERR_NO_CLIENT_AUTH)
			conn_latch(c, e, br, "%s certificate: %s",
				   c->is_server ? "client" : "server", msg);
		else
			conn_latch(c, e, br, "%s", msg);
		return;
	}
	if (!c->handshake_done && (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))) {
		c->handshake_done = true;
		c->peer = peer_status_of(c);
	}
	if (c->eof)
		eof_check(c);
}

/* A failed read(2)/send(2). During the handshake it is a handshake failure;
 * after, errno's code. Once we closed, or the peer did, it ends the
 * connection cleanly. */
static void conn_transport_error(struct tls_conn *c, const char *op, int errnum)
{
	if (c->close_called || peer_sent_close(c)) {
		c->closed = true;
		return;
	}
	if (!c->handshake_done)
		conn_latch(c, -ERR_TLS_HANDSHAKE, 0, "%s: %s (during the handshake)", op,
			   strerror(errnum));
	else
		conn_latch(c, err_from_errno(errnum), 0, "%s: %s", op, strerror(errnum));
}

/* Server policy: SNI choice, suite, signing ------------------------------------- */

static struct tls_conn *conn_of_policy(const br_ssl_server_policy_class **pctx)
{
	return (struct tls_conn *)(void *)((char *)pctx - offsetof(struct tls_conn, policy));
}

/* Strongest hash the peer accepts, from the bit mask of hash ids. */
static int pick_hash(uint32_t mask)
{
	static const int pref[] = {br_sha256_ID, br_sha384_ID, br_sha512_ID, br_sha224_ID,
				   br_sha1_ID};
	for (size_t i = 0; i < sizeof pref / sizeof pref[0]; i++)
		if (mask >> pref[i] & 1)
			return pref[i];
	return 0;
}

static int policy_choose(const br_ssl_server_policy_class **pctx, const br_ssl_server_context *cc,
			 br_ssl_server_choices *choices)
{
	struct tls_conn *c = conn_of_policy(pctx);
	const struct tls_server_config *cfg = c->scfg;
	const char *sni = br_ssl_engine_get_server_name(&cc->eng);

	int idx = tls_server_pick_(cfg, sni);
	if (idx < 0) {
		snprintf(c->errmsg, sizeof c->errmsg, "no certificate for server name \"%.64s\"%s",
			 sni, cfg->sni_strict ? " (sni_strict)" : "");
		return 0;
	}
	const struct tls_chain *ch = &cfg->certs[idx].chain;
	bool ec = ch->key_type == BR_KEYTYPE_EC;
	uint32_t hashes = br_ssl_server_get_client_hashes(cc);
	int hid = pick_hash(ec ? (hashes >> 8) & 0xff : hashes & 0xff);
	if (!hid) {
		snprintf(c->errmsg, sizeof c->errmsg, "client accepts no %s signature we make",
			 ec ? "ECDSA" : "RSA");
		return 0;
	}
	size_t n;
	const br_suite_translated *st = br_ssl_server_get_client_suites(cc, &n);
	unsigned kx = ec ? BR_SSLKEYX_ECDHE_ECDSA : BR_SSLKEYX_ECDHE_RSA;
	/* cipherSuites (tls_server_restrict_suites): st is in our preference order
	 * (BR_OPT_ENFORCE_SERVER_PREFERENCES) and holds only suites we offer, so skipping the
	 * ones not allowed keeps that order. One mask test per suite. */
	uint64_t allow = cfg->suite_mask ? cfg->suite_mask : ~(uint64_t)0;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned)(st[i][1] >> 12) != kx || !(allow & TLS_SUITE_BIT(st[i][0])))
			continue;
		choices->cipher_suite = st[i][0];
		choices->algo_id = 0xff00u + (unsigned)hid;
		choices->chain = ch->certs;
		choices->chain_len = ch->ncerts;
		c->cert_index = idx;
		/* The ECDHE curve. BearSSL takes X25519 whenever the client offers it, but our
		 * P-256 (tls_p256.c) costs about half as much per handshake, and a client that
		 * offers both is as well served by either: keep P-256 alone in the common set
		 * the ServerKeyExchange chooses from (cc and c->u.srv are the same context). */
		if ((c->u.srv.curves >> BR_EC_secp256r1) & 1)
			c->u.srv.curves &= ~((uint32_t)1 << BR_EC_curve25519);
		return 1;
	}
	snprintf(c->errmsg, sizeof c->errmsg, "no cipher suite in common for an %s certificate%s",
		 ec ? "ECDSA" : "RSA", cfg->suite_mask ? " (cipherSuites restricted)" : "");
	return 0;
}

/* Only ECDHE suites are offered: no static ECDH or RSA key exchange. */
static uint32_t policy_do_keyx(const br_ssl_server_policy_class **pctx, unsigned char *data,
			       size_t *len)
{
	return 0;
}

/* Sign the ServerKeyExchange hash (data[0..hv_len)) in place. */
static size_t policy_do_sign(const br_ssl_server_policy_class **pctx, unsigned algo_id,
			     unsigned char *data, size_t hv_len, size_t len)
{
	struct tls_conn *c = conn_of_policy(pctx);
	const struct tls_chain *ch = &c->scfg->certs[c->cert_index].chain;
	int hid = (int)(algo_id & 0xff);
	const br_hash_class *hc = hash_by_id(hid);
	uint8_t hv[64];

	if (algo_id < 0xff00u || !hc || hv_len > sizeof hv ||
	    hv_len != ((hc->desc >> BR_HASHDESC_OUT_OFF) & BR_HASHDESC_OUT_MASK))
		return 0;
	memcpy(hv, data, hv_len);
	if (ch->key_type == BR_KEYTYPE_EC) {
		uint8_t sig[160]; /* ASN.1 ECDSA signature, P-521 at most 139 bytes */
		size_t sl = tls_ecdsa_p256_sign_asn1(&tls_p256_ec_all, hc, hv, &ch->key.ec, sig);
		if (sl == 0 || sl > len)
			return 0;
		memcpy(data, sig, sl);
		return sl;
	}
	size_t ml = (ch->key.rsa.n_bitlen + 7) / 8;
	if (ml > len)
		return 0;
	if (!br_rsa_pkcs1_sign_get_default()(rsa_hash_oid(hid), hv, hv_len, &ch->key.rsa, data))
		return 0;
	return ml;
}

static const br_ssl_server_policy_class policy_vtable = {
	sizeof(const br_ssl_server_policy_class *),
	policy_choose,
	policy_do_keyx,
	policy_do_sign,
};

/* Set-up ------------------------------------------------------------------------- */

/* What client and server engines share: TLS 1.2 only, our suites, hashes,
 * PRFs, AEADs, curves, signature verifiers, our X.509 engine, the buffer. */
static void engine_setup(struct tls_conn *c)
{
	br_ssl_engine_context *eng = c->eng;

	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	if (br_aes_x86ni_ctr_get_vtable())
		br_ssl_engine_set_suites(eng, suites_aes_first,
					 sizeof suites_aes_first / sizeof suites_aes_first[0]);
	else
		br_ssl_engine_set_suites(eng, suites_chacha_first,
					 sizeof suites_chacha_first /
						 sizeof suites_chacha_first[0]);
	for (int id = br_sha1_ID; id <= br_sha512_ID; id++)
		br_ssl_engine_set_hash(eng, id, hash_by_id(id));
	br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
	br_ssl_engine_set_default_aes_gcm(eng);
	br_ssl_engine_set_default_chapol(eng);
	br_ssl_engine_set_default_ecdsa(eng); /* CertificateVerify / ServerKeyExchange */
	/* After set_default_ecdsa, which also sets the default EC: our P-256
	 * (tls_p256.c) for ECDHE and ECDSA verification, m31 for the others. */
	br_ssl_engine_set_ec(eng, &tls_p256_ec_all);
	br_ssl_engine_set_default_rsavrfy(eng);
	br_ssl_engine_set_x509(eng, &c->x509.vtable);
	br_ssl_engine_set_buffer(eng, c->iobuf, sizeof c->iobuf, 1);
	br_ssl_engine_add_flags(eng, BR_OPT_NO_RENEGOTIATION);
}

/* The engine's random generator (server and client randoms, session IDs, ECDHE keys) is an
 * HMAC_DRBG over SHA-256 inside the engine context, so every connection needs a fresh one.
 * BearSSL 0.6 never calls getrandom itself, and our static build of it has no system seeder
 * at all (tools/deps.sh). br_ssl_engine_inject_entropy would instantiate the DRBG on a fixed
 * state, then run an update over our seed: 4 HMACs with 4 key schedules, 86 k instructions,
 * 15% of a resumed handshake. We set the state it would derive directly: K and V (32 bytes
 * each for SHA-256) uniformly random, from rng (our DRBG, seeded from getrandom) or from
 * getrandom, and mark the engine seeded so that its reset neither reseeds nor fails. */
_Static_assert(sizeof(((br_hmac_drbg_context *)0)->K) >= 32 &&
		       sizeof(((br_hmac_drbg_context *)0)->V) >= 32,
	       "br_hmac_drbg_context holds less than SHA-256's K and V");
static int engine_seed(struct tls_conn *c, struct rand *rng)
{
	br_ssl_engine_context *eng = c->eng;
	uint8_t kv[64];

	if (rng) {
		rand_bytes(rng, kv, sizeof kv);
	} else {
		int r = rand_os_bytes(kv, sizeof kv);
		if (r) {
			conn_latch(c, r, 0, "no entropy for the TLS engine");
			return r;
		}
	}
	eng->rng.vtable = &br_hmac_drbg_vtable;
	eng->rng.digest_class = &br_sha256_vtable;
	memcpy(eng->rng.K, kv, 32);
	memcpy(eng->rng.V, kv + 32, 32);
	eng->rng_init_done = 2;    /* seeded */
	eng->rng_os_rand_done = 1; /* no system seeder on top (a host build's BearSSL has one) */
	explicit_bzero(kv, sizeof kv);
	return 0;
}

static void conn_clear(struct tls_conn *c)
{
	/* The I/O buffer needs no clearing: the engine tracks what it holds. */
	memset(c, 0, offsetof(struct tls_conn, iobuf));
	c->cert_index = -1;
}

size_t tls_conn_size(void)
{
	return sizeof(struct tls_conn);
}

void tls_conn_wipe_release(struct tls_conn *c)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), s = (uintptr_t)c, e = s + sizeof *c;
	uintptr_t a = (s + pg) & ~(pg - 1); /* the end of the first page */
	uintptr_t b = e & ~(pg - 1);
	if (pg == 0 || (pg & (pg - 1)) || b <= a || madvise((void *)a, b - a, MADV_DONTNEED) != 0) {
		tls_conn_wipe(c);
		return;
	}
	explicit_bzero(c, a - s);
	explicit_bzero((void *)b, e - b);
}

/* explicit_bzero: memset's speed (a byte-wise volatile loop over the 48 KiB slot was 5% of
 * a full handshake's instructions) and a store the compiler may not drop. */
void tls_conn_wipe(struct tls_conn *c)
{
	explicit_bzero(c, sizeof *c);
}

int tls_conn_init_server(struct tls_conn *c, const struct tls_server_config *cfg, struct rand *rng)
{
	if (!c || !cfg)
		return -ERR_INVAL;
	conn_clear(c);
	c->is_server = true;
	c->scfg = cfg;
	br_ssl_server_context *sc = &c->u.srv;
	br_ssl_server_zero(sc);
	c->eng = &sc->eng;
	if (cfg->ncerts == 0) {
		conn_latch(c, -ERR_TLS_CONFIG, 0, "server config has no certificate");
		return c->err;
	}
	if (cfg->client_auth != TLS_CLIENT_AUTH_NONE && cfg->verify.ntas == 0) {
		conn_latch(c, -ERR_TLS_CONFIG, 0, "client authentication without a client CA");
		return c->err;
	}
	tls_x509_init_(&c->x509, &cfg->verify, NULL, 0);
	engine_setup(c);
	br_ssl_engine_add_flags(c->eng, BR_OPT_ENFORCE_SERVER_PREFERENCES);
	c->policy = &policy_vtable;
	br_ssl_server_set_policy(sc, &c->policy);
	if (cfg->has_cache && cfg->client_auth == TLS_CLIENT_AUTH_NONE) {
		/* The cache is the config's one writable part (tls.h). */
		struct tls_server_config *w = (struct tls_server_config *)(uintptr_t)cfg;
		br_ssl_server_set_cache(sc, &w->cache.vtable);
	}
	if (cfg->client_auth != TLS_CLIENT_AUTH_NONE) {
		/* Sending the CA names is what makes BearSSL ask for a certificate. */
		br_ssl_server_set_trust_anchor_names_alt(sc, cfg->verify.tas, cfg->verify.ntas);
		if (cfg->client_auth == TLS_CLIENT_AUTH_OPTIONAL)
			br_ssl_engine_add_flags(c->eng, BR_OPT_TOLERATE_NO_CLIENT_AUTH);
	}
	int r = engine_seed(c, rng);
	if (r)
		return r;
	if (!br_ssl_server_reset(sc)) {
		conn_sync(c);
		conn_latch(c, -ERR_TLS_HANDSHAKE, 0, "server engine reset failed");
		return c->err;
	}
	return 0;
}

int tls_conn_init_client(struct tls_conn *c, const struct tls_client_config *cfg,
			 const char *server_name, struct rand *rng)
{
	uint8_t ip[16];
	size_t ip_len = 0;

	if (!c || !cfg)
		return -ERR_INVAL;
	if (server_name && strlen(server_name) > TLS_SERVER_NAME_MAX)
		return -ERR_INVAL;
	conn_clear(c);
	c->ccfg = cfg;
	br_ssl_client_context *cc = &c->u.cli;
	br_ssl_client_zero(cc);
	c->eng = &cc->eng;
	const struct tls_verify *v = &cfg->verify;
	if (!v->insecure && !v->has_pin && v->ntas == 0) {
		conn_latch(c, -ERR_TLS_CONFIG, 0,
			   "client config has no CA, no pin and is not insecure_skip_verify");
		return c->err;
	}
	const char *sni = server_name && *server_name ? server_name : NULL;
	if (sni && inet_pton(AF_INET, sni, ip) == 1)
		ip_len = 4;
	else if (sni && inet_pton(AF_INET6, sni, ip) == 1)
		ip_len = 16;
	if (ip_len)
		sni = NULL; /* RFC 6066 3: no IP literals in SNI; checked as iPAddress */
	tls_x509_init_(&c->x509, v, ip, ip_len);
	engine_setup(c);
	br_ssl_client_set_default_rsapub(cc);
	if (cfg->has_cert) {
		const struct tls_chain *ch = &cfg->cert;
		if (ch->key_type == BR_KEYTYPE_EC)
			br_ssl_client_set_single_ec(cc, ch->certs, ch->ncerts, &ch->key.ec,
						    BR_KEYTYPE_SIGN, ch->issuer_key_type,
						    &tls_p256_ec_all,
						    br_ecdsa_sign_asn1_get_default());
		else
			br_ssl_client_set_single_rsa(cc, ch->certs, ch->ncerts, &ch->key.rsa,
						     br_rsa_pkcs1_sign_get_default());
	}
	int r = engine_seed(c, rng);
	if (r)
		return r;
	if (!br_ssl_client_reset(cc, sni, 0)) {
		conn_sync(c);
		conn_latch(c, -ERR_TLS_HANDSHAKE, 0, "client engine reset failed");
		return c->err;
	}
	return 0;
}

/* Ciphertext side ----------------------------------------------------------------- */

unsigned tls_conn_want(const struct tls_conn *c)
{
	if (!c->eng || c->err || c->closed)
		return 0;
	unsigned st = br_ssl_engine_current_state(c->eng);
	unsigned w = 0;
	if (st & BR_SSL_CLOSED)
		return 0;
	if (st & BR_SSL_SENDREC)
		w |= TLS_WANT_WRITE;
	if ((st & BR_SSL_RECVREC) && !c->eof)
		w |= TLS_WANT_READ;
	return w;
}

const uint8_t *tls_conn_send_buf(struct tls_conn *c, size_t *len)
{
	*len = 0;
	if (!c->eng || c->err || c->closed)
		return NULL;
	return br_ssl_engine_sendrec_buf(c->eng, len);
}

void tls_conn_send_ack(struct tls_conn *c, size_t n)
{
	if (!c->eng || c->err || c->closed || n == 0)
		return;
	br_ssl_engine_sendrec_ack(c->eng, n);
	conn_sync(c);
}

uint8_t *tls_conn_recv_buf(struct tls_conn *c, size_t *len)
{
	*len = 0;
	if (!c->eng || c->err || c->closed || c->eof)
		return NULL;
	return br_ssl_engine_recvrec_buf(c->eng, len);
}

void tls_conn_recv_ack(struct tls_conn *c, size_t n)
{
	if (!c->eng || c->err || c->closed || c->eof || n == 0)
		return;
	br_ssl_engine_recvrec_ack(c->eng, n);
	conn_sync(c);
}

void tls_conn_recv_eof(struct tls_conn *c)
{
	if (!c->eng || c->err || c->closed)
		return;
	c->eof = true;
	conn_sync(c);
}

int tls_conn_on_readable(struct tls_conn *c, int fd)
{
	for (;;) {
		size_t room;
		uint8_t *p = tls_conn_recv_buf(c, &room);
		if (!p)
			return c->err;
		ssize_t n = read(fd, p, room);
		if (n > 0) {
			tls_conn_recv_ack(c, (size_t)n);
			continue;
		}
		if (n == 0) {
			tls_conn_recv_eof(c);
			return c->err;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		conn_transport_error(c, "read", errno);
		return c->err;
	}
}

int tls_conn_on_writable(struct tls_conn *c, int fd)
{
	for (;;) {
		size_t len;
		const uint8_t *p = tls_conn_send_buf(c, &len);
		if (!p)
			return c->err;
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n > 0) {
			tls_conn_send_ack(c, (size_t)n);
			continue;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		conn_transport_error(c, "write", errno);
		return c->err;
	}
}

/* Plaintext side ------------------------------------------------------------------ */

ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len)
{
	if (!c->eng || len == 0)
		return -ERR_INVAL;
	if (c->err)
		return c->err;
	if (c->closed)
		return 0;
	size_t n;
	uint8_t *p = br_ssl_engine_recvapp_buf(c->eng, &n);
	if (p) {
		if (n > len)
			n = len;
		memcpy(buf, p, n);
		br_ssl_engine_recvapp_ack(c->eng, n);
		conn_sync(c);
		return (ssize_t)n;
	}
	conn_sync(c);
	if (c->err)
		return c->err;
	if (c->closed)
		return 0;
	return -ERR_AGAIN;
}

ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len)
{
	if (!c->eng || len == 0)
		return -ERR_INVAL;
	if (c->err)
		return c->err;
	if (c->closed || c->close_called)
		return -ERR_CLOSED;
	size_t room;
	uint8_t *p = br_ssl_engine_sendapp_buf(c->eng, &room);
	if (!p) {
		conn_sync(c);
		if (c->err)
			return c->err;
		return c->closed ? -ERR_CLOSED : -ERR_AGAIN;
	}
	if (room > len)
		room = len;
	memcpy(p, buf, room);
	br_ssl_engine_sendapp_ack(c->eng, room);
	br_ssl_engine_flush(c->eng, 0);
	conn_sync(c);
	return (ssize_t)room;
}

void tls_conn_close(struct tls_conn *c)
{
	if (!c->eng || c->err || c->closed || c->close_called)
		return;
	c->close_called = true;
	if (!c->handshake_done) {
		c->closed = true; /* nothing worth a close_notify yet: abandon */
		return;
	}
	br_ssl_engine_close(c->eng);
	conn_sync(c);
}

/* Idle memory -------------------------------------------------------------------------- */

/* Whether the engine's I/O buffer holds nothing it will read again. BearSSL 0.6
 * (ssl_engine.c) splits our bidirectional buffer into ibuf (incoming records) and obuf
 * (outgoing ones), each tracked by three indices:
 *
 * - in: make_ready_in() sets ixa = ixb = 0, ixc = 5 once a record has been fully consumed
 *   (recvpld_ack) — the engine waits for the next header and will write it at ibuf[0]. A
 *   partial header has 0 < ixa < 5; a partial or undecrypted record has ixa >= 5; unread
 *   plaintext has ixa != ixb (BR_SSL_RECVAPP). So ixa == ixb == 0 && ixc == 5 means no
 *   byte of ibuf is live: every byte the engine reads later it first receives.
 * - out: make_ready_out() sets oxa = oxc = start of the payload area (after room for the
 *   header and explicit nonce), oxb = its end. Accumulated plaintext has oxa > oxc; a
 *   record being sent has oxa == oxb < oxc (BR_SSL_SENDREC). So oxa == oxc with no
 *   SENDREC means no byte of obuf is live: sendapp copies plaintext in and the record
 *   layer's encrypt() writes header, nonce and tag around it before anything is sent.
 * - the handshake is over (application_data set: BR_SSL_SENDAPP) and renegotiation is
 *   refused (BR_OPT_NO_RENEGOTIATION: a later ClientHello is skipped record by record),
 *   so no handshake message lives across records either. hbuf_in / hbuf_out point into
 *   the buffers but are recomputed on each entry into the handshake code; the keys,
 *   sequence numbers and handshake stacks live in the context, not in the buffer.
 *
 * current_state == SENDAPP | RECVREC also rules out a failed or closing engine and implies
 * iomode == BR_IO_INOUT (RECVREC needs IN or INOUT, SENDAPP needs OUT or INOUT). Pages
 * that read back as zeros (or, in a shared mapping, as anything) are then as good as the
 * old contents. */
static bool iobuf_idle(const struct tls_conn *c)
{
	const br_ssl_engine_context *e = c->eng;

	if (!e || c->err || c->closed || c->close_called || c->eof || !c->handshake_done)
		return false;
	if (br_ssl_engine_current_state(e) != (BR_SSL_SENDAPP | BR_SSL_RECVREC))
		return false;
	return e->ixa == 0 && e->ixb == 0 && e->ixc == 5 && e->oxa == e->oxc;
}

int tls_conn_trim(struct tls_conn *c)
{
	if (!c || !iobuf_idle(c))
		return 0;
	/* The X.509 state is read after the handshake only for a certificate the peer sent
	 * (tls_conn_peer_br_error, tls_conn_peer_cn/dn/cert/cert_sha256/key); with none
	 * (c->peer is TLS_PEER_NONE, latched at the handshake's end) it is dead too, and the
	 * engine's x509ctx is not called again (no renegotiation). So is the server context
	 * from chain_handler on (ssl_hs_server.c): chain_handler serves the single_rsa/_ec
	 * policies (we set our own), ecdhe_key is the ephemeral key of ServerKeyExchange
	 * (wiped after ClientKeyExchange), ta_names/tas/num_tas/cur_dn* write the CA names of
	 * CertificateRequest, hash_CV* check CertificateVerify: all handshake-only, and a
	 * refused renegotiation (skip-ClientHello, then a no_renegotiation warning) touches
	 * none of them. A server trims from there: one page (4 KiB) stays. */
	const uint8_t *from = c->iobuf;
	if (c->peer == TLS_PEER_NONE)
		from = c->is_server ? (const uint8_t *)&c->u.srv.chain_handler
				    : (const uint8_t *)&c->x509;
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)from + pg - 1) & ~(pg - 1);
	uintptr_t b = ((uintptr_t)c + sizeof *c) & ~(pg - 1);
	if (b <= a)
		return 0;
	if (madvise((void *)a, b - a, MADV_DONTNEED) != 0)
		return 0; /* nothing was changed: the contents stay as they were */
	return 1;
}

/* State --------------------------------------------------------------------------- */

bool tls_conn_handshake_done(const struct tls_conn *c)
{
	return c->handshake_done;
}

bool tls_conn_done(const struct tls_conn *c)
{
	return c->err != 0 || c->closed;
}

int tls_conn_error(const struct tls_conn *c)
{
	return c->err;
}

const char *tls_conn_errmsg(const struct tls_conn *c)
{
	return c->err ? c->errmsg : "";
}

int tls_conn_br_error(const struct tls_conn *c)
{
	return c->br_err;
}

unsigned tls_conn_version(const struct tls_conn *c)
{
	return c->handshake_done ? br_ssl_engine_get_version(c->eng) : 0;
}

unsigned tls_conn_cipher_suite(const struct tls_conn *c)
{
	br_ssl_session_parameters sp;

	if (!c->handshake_done)
		return 0;
	br_ssl_engine_get_session_parameters(c->eng, &sp);
	unsigned suite = sp.cipher_suite;
	memset(&sp, 0, sizeof sp); /* holds the master secret */
	return suite;
}

const char *tls_conn_server_name(const struct tls_conn *c)
{
	return c->eng ? br_ssl_engine_get_server_name(c->eng) : "";
}

int tls_conn_cert_index(const struct tls_conn *c)
{
	return c->cert_index;
}

enum tls_peer_status tls_conn_peer_status(const struct tls_conn *c)
{
	return c->handshake_done ? c->peer : TLS_PEER_NONE;
}

int tls_conn_peer_br_error(const struct tls_conn *c)
{
	return tls_conn_peer_status(c) == TLS_PEER_REJECTED ? (int)c->x509.result : 0;
}

static bool peer_known(const struct tls_conn *c)
{
	enum tls_peer_status s = tls_conn_peer_status(c);
	return s == TLS_PEER_VERIFIED || s == TLS_PEER_UNVERIFIED;
}

const char *tls_conn_peer_cn(const struct tls_conn *c)
{
	if (!peer_known(c) || c->x509.cn_elt.status != 1)
		return NULL;
	return c->x509.cn;
}

const uint8_t *tls_conn_peer_dn(const struct tls_conn *c, size_t *len)
{
	*len = 0;
	if (!peer_known(c) || !c->x509.ee_decoded || c->x509.dn_len == 0)
		return NULL;
	*len = c->x509.dn_len;
	return c->x509.ee_der + c->x509.dn_off;
}

const uint8_t *tls_conn_peer_cert(const struct tls_conn *c, size_t *len)
{
	*len = 0;
	if (!peer_known(c) || c->x509.ee_overflow)
		return NULL;
	*len = c->x509.ee_len;
	return c->x509.ee_der;
}

const uint8_t *tls_conn_peer_cert_sha256(const struct tls_conn *c)
{
	return peer_known(c) ? c->x509.ee_sha256 : NULL;
}

const br_x509_pkey *tls_conn_peer_key(const struct tls_conn *c)
{
	if (!peer_known(c))
		return NULL;
	if (c->x509.ee_decoded)
		return &c->x509.pkey;
	/* Leaf too large to keep: minimal still holds the verified key. */
	return c->x509.minimal.vtable->get_pkey(&c->x509.minimal.vtable, NULL);
}
