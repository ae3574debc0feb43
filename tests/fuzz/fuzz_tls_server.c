/* fuzz_tls_server.c — libFuzzer harness for the TLS server engine (src/tls).
 *
 * The input is the client's side of one connection: ciphertext fed into a server connection
 * (tls_conn_init_server) through the sans-I/O buffer API, tls_conn_recv_buf/_ack, while
 * everything the engine wants to send is drained with tls_conn_send_buf/_ack. The server is
 * the API listener's configuration (api_tls_server_config: node certificate + CA chain,
 * OPTIONAL client authentication against the CA), so ClientHello parsing, SNI selection and
 * the client-certificate path are all reachable. The test PKI is made once at start-up with
 * src/pki from a fixed seed and a fixed clock, so every run is reproducible.
 *
 * The first input byte picks how the rest is cut into chunks (1 byte, small, record-sized,
 * whatever the engine takes), so record reassembly across reads is exercised. After the input
 * the transport reaches EOF. Invariants, checked with abort():
 *  - the feeding loop ends: every step consumes input, or the engine takes no more;
 *  - views returned by send_buf/recv_buf are non-empty when non-NULL;
 *  - a latched error stays latched (the same code on every later call);
 *  - after recv_eof without a finished handshake the connection is done.
 */
#include "api/api_server.h"
#include "base/base_buf.h"
#include "base/base_err.h"
#include "base/base_rand.h"
#include "pki/pki_cert.h"
#include "pki/pki_key.h"
#include "pki/pki_pem.h"
#include "tls/tls.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c)                                                                           \
	do {                                                                                     \
		if (!(c)) {                                                                      \
			fprintf(stderr, "fuzz_tls_server: invariant failed: %s (line %d)\n", #c, \
				__LINE__);                                                       \
			abort();                                                                 \
		}                                                                                \
	} while (0)

#define FUZZ_NOW 1700000000 /* fixed clock: certificates are valid around it */

static struct {
	int ready;
	struct rand r;
	struct pki_ca ca;
	struct tls_server_config cfg;
	uint8_t store[32768];
	struct tls_conn *conn; /* one slot, reused (tls_conn_size bytes) */
} F;

static uint64_t fixed_clock(void *ctx)
{
	(void)ctx;
	return FUZZ_NOW + 3600;
}

static void setup(void)
{
	static uint8_t chain[8192], key[PKI_KEY_PEM_MAX + 1], ca_pem[4096], der[PKI_CERT_MAX];
	struct buf b, kb, cb, db;
	struct pki_key k;
	struct pki_ip ip;
	static const char *const dns[] = {"localhost", "api.test"};

	rand_init_seed(&F.r, "fuzz-tls-server", 15);
	FUZZ_ASSERT(pki_ca_create(&F.ca, &F.r, "fuzz-cluster", FUZZ_NOW) == 0);
	FUZZ_ASSERT(pki_key_generate(&k, &F.r) == 0);
	FUZZ_ASSERT(pki_ip_parse("127.0.0.1", &ip) == 0);
	struct pki_cert_req req = {PKI_ROLE_CONTROL, "fuzznode", k.pub, 0, dns, 2, &ip, 1};
	buf_init(&db, der, sizeof der);
	FUZZ_ASSERT(pki_cert_issue(&F.ca, &F.r, &req, FUZZ_NOW, &db) == 0);
	buf_init(&b, chain, sizeof chain);
	FUZZ_ASSERT(pki_pem_encode(PKI_PEM_CERT, db.data, db.len, &b) == 0);
	FUZZ_ASSERT(pki_pem_encode(PKI_PEM_CERT, F.ca.cert, F.ca.cert_len, &b) == 0);
	buf_init(&cb, ca_pem, sizeof ca_pem);
	FUZZ_ASSERT(pki_pem_encode(PKI_PEM_CERT, F.ca.cert, F.ca.cert_len, &cb) == 0);
	buf_init(&kb, key, sizeof key);
	FUZZ_ASSERT(pki_key_to_pem(&k, PKI_KEY_SEC1, &kb) == 0);
	pki_key_wipe(&k);
	FUZZ_ASSERT(api_tls_server_config(&F.cfg, F.store, sizeof F.store, b.data, b.len, kb.data,
					  kb.len, cb.data, cb.len) == 0);
	tls_server_set_clock(&F.cfg, fixed_clock, NULL);
	F.conn = malloc(tls_conn_size());
	FUZZ_ASSERT(F.conn != NULL);
	F.ready = 1;
}

/* Take everything the engine wants to send. Returns the bytes drained. */
static size_t drain(struct tls_conn *c)
{
	size_t total = 0;
	for (int i = 0; i < 64; i++) {
		size_t len = 0;
		const uint8_t *p = tls_conn_send_buf(c, &len);
		if (!p)
			break;
		FUZZ_ASSERT(len > 0);
		tls_conn_send_ack(c, len);
		total += len;
	}
	return total;
}

/* Read whatever plaintext arrived and answer once, as an application would. */
static void app(struct tls_conn *c, int *answered)
{
	uint8_t tmp[512];
	if (!tls_conn_handshake_done(c))
		return;
	for (int i = 0; i < 64; i++) {
		ssize_t n = tls_conn_read(c, tmp, sizeof tmp);
		if (n <= 0)
			break;
	}
	if (!*answered && tls_conn_error(c) == 0) {
		static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
		ssize_t n = tls_conn_write(c, resp, sizeof resp - 1);
		if (n > 0)
			*answered = 1;
	}
}

static size_t chunk_size(uint8_t mode, size_t i)
{
	switch (mode & 3) {
	case 0: return 1;
	case 1: return 1 + ((i * 7 + mode) % 29);
	case 2: return 5 + (mode >> 2) * 64; /* about a record header plus some */
	default: return SIZE_MAX;            /* whatever the engine takes */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!F.ready)
		setup();
	if (size == 0)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;

	struct tls_conn *c = F.conn;
	struct rand cr;
	rand_init_seed(&cr, data, size < 32 ? size : 32);
	FUZZ_ASSERT(tls_conn_init_server(c, &F.cfg, &cr) == 0);
	FUZZ_ASSERT(tls_conn_want(c) & TLS_WANT_READ);

	size_t off = 0, steps = 0;
	int answered = 0;
	while (off < size && !tls_conn_done(c)) {
		drain(c);
		app(c, &answered);
		drain(c);
		size_t room = 0;
		uint8_t *in = tls_conn_recv_buf(c, &room);
		if (!in)
			break; /* the engine takes nothing more: failed, closed, or app-blocked */
		FUZZ_ASSERT(room > 0);
		size_t n = chunk_size(mode, steps++);
		if (n > room)
			n = room;
		if (n > size - off)
			n = size - off;
		memcpy(in, data + off, n);
		tls_conn_recv_ack(c, n);
		off += n;
		FUZZ_ASSERT(steps <= size + 1);
	}
	drain(c);
	app(c, &answered);
	drain(c);
	int err = tls_conn_error(c);
	bool hs = tls_conn_handshake_done(c);
	tls_conn_recv_eof(c);
	drain(c);
	if (err)
		FUZZ_ASSERT(tls_conn_error(c) == err);
	if (!hs) {
		FUZZ_ASSERT(tls_conn_done(c));
		FUZZ_ASSERT(tls_conn_error(c) != 0);
	} else {
		tls_conn_close(c);
		drain(c);
	}
	tls_conn_wipe(c);
	return 0;
}
