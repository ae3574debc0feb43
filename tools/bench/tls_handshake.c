/* tls_handshake.c — full TLS handshakes per second against one server (tools/bench/bench_tls.sh).
 *
 *   tls_handshake HOST PORT CERT.pem SECONDS [PROCS [resume]]
 *
 * Each of PROCS processes (default 4) opens a new TCP connection per handshake to
 * HOST:PORT, runs a full TLS 1.2 handshake with BearSSL (ECDHE-ECDSA-AES128-GCM-SHA256 only,
 * fresh client context each time, so no session resumption), sends close_notify and closes,
 * for SECONDS. The server must present the key of CERT.pem (BearSSL's known-key validator:
 * the bench cert is self-signed, and this keeps chain validation out of the client's cost).
 * With "resume", each process offers its last session (TLS 1.2 session ID) on the next
 * connection: abbreviated handshakes, as far as the server's cache keeps them; the output then
 * ends with "resumed N".
 * Prints "handshakes N failures F seconds S rate R/s" for all processes together. Exit status
 * 1 if nothing succeeded. Blocking sockets: a benchmark client, not project code.
 */
#include <arpa/inet.h>
#include <bearssl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned char cert_der[8192];
static size_t cert_len;

static void pem_cb(void *ctx, const void *buf, size_t len)
{
	(void)ctx;
	if (cert_len + len <= sizeof cert_der) {
		memcpy(cert_der + cert_len, buf, len);
		cert_len += len;
	}
}

/* First CERTIFICATE object of the PEM file, as DER. */
static int load_cert(const char *path)
{
	FILE *f = fopen(path, "rb");
	static char pem[16384];
	if (!f)
		return -1;
	size_t n = fread(pem, 1, sizeof pem, f);
	fclose(f);
	br_pem_decoder_context pc;
	br_pem_decoder_init(&pc);
	int inobj = 0;
	size_t off = 0;
	while (off < n) {
		off += br_pem_decoder_push(&pc, pem + off, n - off);
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ:
			inobj = strcmp(br_pem_decoder_name(&pc), "CERTIFICATE") == 0;
			br_pem_decoder_setdest(&pc, inobj ? pem_cb : NULL, NULL);
			break;
		case BR_PEM_END_OBJ:
			if (inobj && cert_len)
				return 0;
			break;
		case BR_PEM_ERROR: return -1;
		default: break;
		}
	}
	return -1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sock_read(void *ctx, unsigned char *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(*(int *)ctx, buf, len);
		if (n > 0)
			return (int)n;
		if (n < 0 && errno == EINTR)
			continue;
		return -1;
	}
}

static int sock_write(void *ctx, const unsigned char *buf, size_t len)
{
	for (;;) {
		ssize_t n = send(*(int *)ctx, buf, len, MSG_NOSIGNAL);
		if (n > 0)
			return (int)n;
		if (n < 0 && errno == EINTR)
			continue;
		return -1;
	}
}

static const uint16_t suites[] = {BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256};

static int resume;			/* offer the last session */
static br_ssl_session_parameters last; /* this process's last session (cipher_suite 0: none) */

/* One handshake on a new connection: 0 full, 1 resumed, -1 failed. */
static int one(const struct sockaddr_in *sa, const br_x509_pkey *pk, unsigned char *iobuf)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one_ = 1, rc = -1;
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one_, sizeof one_);
	if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) != 0)
		goto out;
	br_ssl_client_context cc;
	br_x509_knownkey_context kk;
	br_ssl_client_init_full(&cc, &(br_x509_minimal_context){0}, NULL, 0);
	br_x509_knownkey_init_ec(&kk, &pk->key.ec, BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN);
	br_ssl_engine_set_x509(&cc.eng, &kk.vtable);
	br_ssl_engine_set_versions(&cc.eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(&cc.eng, suites, 1);
	br_ssl_engine_set_buffer(&cc.eng, iobuf, BR_SSL_BUFSIZE_BIDI, 1);
	unsigned char seed[32]; /* the static BearSSL has no system seeder (tools/deps.sh) */
	if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed)
		goto out;
	br_ssl_engine_inject_entropy(&cc.eng, seed, sizeof seed);
	int offer = resume && last.cipher_suite != 0;
	if (offer)
		br_ssl_engine_set_session_parameters(&cc.eng, &last);
	if (!br_ssl_client_reset(&cc, "localhost", offer))
		goto out;
	br_sslio_context io;
	br_sslio_init(&io, &cc.eng, sock_read, &fd, sock_write, &fd);
	if (br_sslio_flush(&io) != 0) /* drives the whole handshake */
		goto out;
	rc = (br_ssl_engine_current_state(&cc.eng) & BR_SSL_SENDAPP) ? 0 : -1;
	if (rc == 0 && resume) {
		br_ssl_session_parameters now;
		br_ssl_engine_get_session_parameters(&cc.eng, &now);
		if (offer && now.session_id_len == last.session_id_len &&
		    memcmp(now.session_id, last.session_id, now.session_id_len) == 0)
			rc = 1;
		last = now;
	}
	br_sslio_close(&io);
out:
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: tls_handshake HOST PORT CERT.pem SECONDS [PROCS [resume]]\n");
		return 2;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1 || load_cert(argv[3]) != 0) {
		fprintf(stderr, "tls_handshake: bad address or certificate\n");
		return 2;
	}
	br_x509_decoder_context dc;
	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, cert_der, cert_len);
	br_x509_pkey *pk = br_x509_decoder_get_pkey(&dc);
	if (!pk || pk->key_type != BR_KEYTYPE_EC) {
		fprintf(stderr, "tls_handshake: certificate has no EC key\n");
		return 2;
	}
	double secs = atof(argv[4]);
	int procs = argc > 5 ? atoi(argv[5]) : 4;
	if (procs < 1 || procs > 64)
		procs = 4;
	resume = argc > 6 && strcmp(argv[6], "resume") == 0;
	uint64_t *counts = mmap(NULL, 3 * 64 * sizeof(uint64_t), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counts == MAP_FAILED)
		return 2;
	double t0 = now_s();
	for (int p = 0; p < procs; p++) {
		pid_t pid = fork();
		if (pid == 0) {
			static unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
			while (now_s() - t0 < secs) {
				int r = one(&sa, pk, iobuf);
				counts[3 * p + (r < 0 ? 1 : r == 1 ? 2 : 0)]++;
			}
			_exit(0);
		}
	}
	for (int p = 0; p < procs; p++)
		wait(NULL);
	double el = now_s() - t0;
	uint64_t ok = 0, bad = 0, res = 0;
	for (int p = 0; p < procs; p++) {
		ok += counts[3 * p] + counts[3 * p + 2];
		bad += counts[3 * p + 1];
		res += counts[3 * p + 2];
	}
	printf("handshakes %llu failures %llu seconds %.2f rate %.0f/s", (unsigned long long)ok,
	       (unsigned long long)bad, el, (double)ok / el);
	if (resume)
		printf(" resumed %llu", (unsigned long long)res);
	printf("\n");
	return ok ? 0 : 1;
}
