/* Unit tests for tls: PEM loading and caps, SNI rules, the X.509 engine
 * (CA, pin, names, dates, insecure), handshakes driven by a real struct loop
 * over socketpairs and loopback TCP, a byte-by-byte in-memory handshake,
 * large transfers, close_notify / truncation / mid-handshake hang-ups, and
 * interop with the openssl and curl command-line tools.
 *
 * Certificates are made once per run with the openssl CLI in a mkdtemp
 * directory (removed at exit). Child processes listen on 127.0.0.1 only and
 * are killed by PID.
 */
#include "base/base_err.h"
#include "base/base_rand.h"
#include "loop/loop.h"
#include "tls/tls.h"
#include "test.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Fixture: certificates ------------------------------------------------------ */

static const char gen_script[] =
	"set -e\n"
	"cat > req.cnf <<'X'\n"
	"[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
	"[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
	"subjectKeyIdentifier = hash\n"
	"X\n"
	"ec() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -config req.cnf"
	" -keyout \"$1.key\" -out \"$1.csr\" -subj \"/CN=$2\"; }\n"
	"ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -config "
	"req.cnf"
	" -extensions v3_ca -keyout \"$1.key\" -out \"$1.pem\" -days 3650 -subj \"/CN=$2\"; }\n"
	"leafext() { printf 'basicConstraints=critical,CA:FALSE\\nkeyUsage=critical,"
	"digitalSignature,keyEncipherment\\nextendedKeyUsage=serverAuth,clientAuth\\n' > "
	"\"$1.ext\";"
	" if [ -n \"$2\" ]; then printf 'subjectAltName=%s\\n' \"$2\" >> \"$1.ext\"; fi; }\n"
	"sign() { openssl x509 -req -in \"$1.csr\" -CA \"$2.pem\" -CAkey \"$2.key\" -CAcreateserial"
	" -days 30 -extfile \"$1.ext\" -out \"$1.pem\"; }\n"
	"ca ca 'Test CA'\n"
	"ca ca2 'Other CA'\n"
	"ec srv localhost; leafext srv DNS:localhost,IP:127.0.0.1; sign srv ca\n"
	"ec cli client-1; leafext cli ''; sign cli ca\n"
	"ec cli2 intruder; leafext cli2 ''; sign cli2 ca2\n"
	"ec srv2 localhost; leafext srv2 DNS:localhost,IP:127.0.0.1; sign srv2 ca2\n"
	"ec a a.test; leafext a DNS:a.test; sign a ca\n"
	"ec b b.test; leafext b DNS:b.test; sign b ca\n"
	"ec dflt default.test; leafext dflt DNS:default.test; sign dflt ca\n"
	"ec w wild.w.test; leafext w 'DNS:*.w.test'; sign w ca\n"
	"openssl ec -in srv.key -out srv_ec.key\n"
	"openssl genrsa -traditional -out rsa_trad.key 2048\n"
	"openssl pkcs8 -topk8 -nocrypt -in rsa_trad.key -out rsa.key\n"
	"openssl req -new -key rsa.key -config req.cnf -out rsa.csr -subj /CN=localhost\n"
	"leafext rsa DNS:localhost,IP:127.0.0.1; sign rsa ca\n"
	"openssl pkcs8 -topk8 -in srv.key -passout pass:secret -out enc.key\n"
	"ec int 'Test Intermediate'\n"
	"printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\n'"
	" > int.ext; sign int ca\n"
	"ec leaf localhost; leafext leaf DNS:localhost; sign leaf int\n"
	"mkdir -p db; : > db/index.txt; echo 1000 > db/serial\n"
	"cat > ca_sign.cnf <<'X'\n"
	"[ca]\ndefault_ca = CA_default\n[CA_default]\ndir = .\ndatabase = db/index.txt\n"
	"new_certs_dir = db\nserial = db/serial\ndefault_md = sha256\npolicy = pol\n"
	"unique_subject = no\n[pol]\ncommonName = supplied\n"
	"X\n"
	"ec exp localhost; leafext exp DNS:localhost\n"
	"openssl ca -batch -config ca_sign.cnf -cert ca.pem -keyfile ca.key -in exp.csr -out "
	"exp.pem"
	" -startdate 20200101000000Z -enddate 20200201000000Z -extfile exp.ext -notext\n"
	"san=DNS:localhost,IP:127.0.0.1; i=0\n"
	"while [ $i -lt 90 ]; do san=\"$san,DNS:host-$i.a-rather-long-domain-name.example.test\";"
	" i=$((i+1)); done\n"
	"ec big localhost; leafext big \"$san\"; sign big ca\n"
	"cat srv.pem ca.pem > srv_ca.pem\n"
	"cat leaf.pem int.pem ca.pem > leaf_int_ca.pem\n"
	"cat leaf.pem int.pem > leaf_int.pem\n"
	"cat ca.pem ca2.pem > cas.pem\n"
	"openssl x509 -in ca.pem -outform DER -out ca.der\n"
	"openssl x509 -in int.pem -outform DER -out int.der\n";

struct blob {
	char *p;
	size_t n;
};

static struct {
	bool tried, ok;
	char dir[64];
	uint8_t ca_sha256[32], int_sha256[32];
} fx;

static void fx_cleanup(void)
{
	char cmd[128];
	if (fx.dir[0]) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", fx.dir);
	}
}

static struct blob fx_read(const char *name)
{
	char path[128];
	struct blob b = {NULL, 0};
	snprintf(path, sizeof path, "%s/%s", fx.dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return b;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b.p = malloc((size_t)n + 1);
	if (b.p && fread(b.p, 1, (size_t)n, f) == (size_t)n) {
		b.n = (size_t)n;
		b.p[n] = 0;
	}
	fclose(f);
	return b;
}

static void sha256_file(const char *name, uint8_t out[32])
{
	struct blob b = fx_read(name);
	br_sha256_context h;
	br_sha256_init(&h);
	br_sha256_update(&h, b.p, b.n);
	br_sha256_out(&h, out);
	free(b.p);
}

static bool fx_setup(void)
{
	if (fx.tried)
		return fx.ok;
	fx.tried = true;
	snprintf(fx.dir, sizeof fx.dir, "/tmp/tee-tls-XXXXXX");
	if (!mkdtemp(fx.dir)) {
		fx.dir[0] = 0;
		return false;
	}
	atexit(fx_cleanup);
	char path[128];
	snprintf(path, sizeof path, "%s/gen.sh", fx.dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	fputs(gen_script, f);
	fclose(f);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "cd '%s' && sh gen.sh > gen.log 2>&1", fx.dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "certificate generation failed; see %s/gen.log\n", fx.dir);
		return false;
	}
	sha256_file("ca.der", fx.ca_sha256);
	sha256_file("int.der", fx.int_sha256);
	fx.ok = true;
	return true;
}

#define FX_REQUIRE() REQUIRE(fx_setup())

/* Config builders --------------------------------------------------------------- */

#define STORE_SIZE (64 * 1024)

struct srv_setup {
	struct tls_server_config cfg;
	uint8_t store[STORE_SIZE];
};

struct cli_setup {
	struct tls_client_config cfg;
	uint8_t store[STORE_SIZE];
};

static int add_cert_files(struct tls_server_config *cfg, const char *names, const char *chain,
			  const char *key, unsigned flags)
{
	struct blob c = fx_read(chain), k = fx_read(key);
	int r = tls_server_add_cert(cfg, names, c.p, c.n, k.p, k.n, flags);
	free(c.p);
	free(k.p);
	return r;
}

static int add_client_ca_file(struct tls_server_config *cfg, const char *name)
{
	struct blob b = fx_read(name);
	int r = tls_server_add_client_ca(cfg, b.p, b.n);
	free(b.p);
	return r;
}

static int cli_add_ca_file(struct tls_client_config *cfg, const char *name)
{
	struct blob b = fx_read(name);
	int r = tls_client_add_ca(cfg, b.p, b.n);
	free(b.p);
	return r;
}

static int cli_set_cert_files(struct tls_client_config *cfg, const char *chain, const char *key)
{
	struct blob c = fx_read(chain), k = fx_read(key);
	int r = tls_client_set_cert(cfg, c.p, c.n, k.p, k.n);
	free(c.p);
	free(k.p);
	return r;
}

/* A server with srv.pem (localhost) and, if auth != NONE, ca.pem for clients. */
static struct srv_setup *srv_new(const char *chain, const char *key, enum tls_client_auth auth)
{
	struct srv_setup *s = calloc(1, sizeof *s);
	if (!s || tls_server_config_init(&s->cfg, s->store, sizeof s->store) != 0)
		return NULL;
	if (add_cert_files(&s->cfg, "localhost", chain, key, 0) < 0) {
		fprintf(stderr, "  add_cert: %s\n", s->cfg.errmsg);
		free(s);
		return NULL;
	}
	if (auth != TLS_CLIENT_AUTH_NONE) {
		if (add_client_ca_file(&s->cfg, "ca.pem") != 1 ||
		    tls_server_set_client_auth(&s->cfg, auth) != 0) {
			free(s);
			return NULL;
		}
	}
	return s;
}

/* A client trusting ca (NULL: nothing), presenting chain/key (NULL: none). */
static struct cli_setup *cli_new(const char *ca, const char *chain, const char *key)
{
	struct cli_setup *s = calloc(1, sizeof *s);
	if (!s || tls_client_config_init(&s->cfg, s->store, sizeof s->store) != 0)
		return NULL;
	if (ca && cli_add_ca_file(&s->cfg, ca) < 1) {
		free(s);
		return NULL;
	}
	if (chain && cli_set_cert_files(&s->cfg, chain, key) != 0) {
		fprintf(stderr, "  set_cert: %s\n", s->cfg.errmsg);
		free(s);
		return NULL;
	}
	return s;
}

static struct rand *test_rng(void)
{
	static struct rand r;
	static bool init;
	if (!init) {
		rand_init_seed(&r, "tls-test-seed", 13);
		init = true;
	}
	return &r;
}

/* Driving connections through a real loop ------------------------------------------ */

enum app_mode {
	APP_PLAIN, /* send tx, collect rx */
	APP_UPPER, /* echo rx back upper-cased (servers for s_client) */
	APP_HTTP,  /* answer one HTTP request, then close (server for curl) */
};

struct side {
	const char *name;
	struct tls_conn *conn;
	struct loop *l;
	int fd;
	bool registered;
	enum app_mode mode;
	const uint8_t *tx;
	size_t tx_len, tx_off;
	bool close_after_tx; /* tls_conn_close once tx is out */
	bool close_sent;
	uint8_t *rx;
	size_t rx_cap, rx_len;
	size_t read_chunk; /* bytes per tls_conn_read call */
	bool eof;          /* tls_conn_read returned 0 */
	int again_writes;  /* tls_conn_write said -ERR_AGAIN */
	uint8_t echo[64 * 1024];
	size_t echo_len, echo_off;
	bool http_answered;
};

static void side_app(struct side *s)
{
	struct tls_conn *c = s->conn;

	if (!tls_conn_handshake_done(c))
		return;
	for (;;) {
		uint8_t buf[16384];
		size_t chunk = s->read_chunk ? s->read_chunk : sizeof buf;
		if (chunk > sizeof buf)
			chunk = sizeof buf;
		ssize_t n = tls_conn_read(c, buf, chunk);
		if (n == 0)
			s->eof = true;
		if (n <= 0)
			break;
		if (s->rx && s->rx_len + (size_t)n <= s->rx_cap) {
			memcpy(s->rx + s->rx_len, buf, (size_t)n);
			s->rx_len += (size_t)n;
		}
		if (s->mode == APP_UPPER && s->echo_len + (size_t)n <= sizeof s->echo) {
			for (ssize_t i = 0; i < n; i++)
				s->echo[s->echo_len++] = (uint8_t)toupper(buf[i]);
		}
	}
	if (s->mode == APP_HTTP && !s->http_answered && s->rx &&
	    memmem(s->rx, s->rx_len, "\r\n\r\n", 4)) {
		static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n"
					   "Connection: close\r\n\r\nhello\n";
		s->tx = (const uint8_t *)resp;
		s->tx_len = sizeof resp - 1;
		s->tx_off = 0;
		s->close_after_tx = true;
		s->http_answered = true;
	}
	while (s->echo_off < s->echo_len) {
		ssize_t n = tls_conn_write(c, s->echo + s->echo_off, s->echo_len - s->echo_off);
		if (n <= 0)
			break;
		s->echo_off += (size_t)n;
	}
	while (s->tx && s->tx_off < s->tx_len) {
		ssize_t n = tls_conn_write(c, s->tx + s->tx_off, s->tx_len - s->tx_off);
		if (n == -ERR_AGAIN)
			s->again_writes++;
		if (n <= 0)
			break;
		s->tx_off += (size_t)n;
	}
	if (s->close_after_tx && !s->close_sent && s->tx_off == s->tx_len) {
		tls_conn_close(c);
		s->close_sent = true;
	}
}

static void side_update(struct side *s, uint32_t events)
{
	if (!s->registered)
		return;
	unsigned want = tls_conn_want(s->conn);
	bool stuck = (events & (LOOP_HUP | LOOP_ERR)) && !(want & TLS_WANT_WRITE);
	if (tls_conn_done(s->conn) || stuck) {
		/* As an owner would: stop watching, and let the peer see EOF. */
		loop_del_fd(s->l, s->fd);
		shutdown(s->fd, SHUT_RDWR);
		s->registered = false;
		return;
	}
	loop_mod_fd(s->l, s->fd, want);
}

static void side_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct side *s = arg;

	if (events & (LOOP_READ | LOOP_RDHUP | LOOP_HUP | LOOP_ERR))
		tls_conn_on_readable(s->conn, fd);
	if (events & LOOP_WRITE)
		tls_conn_on_writable(s->conn, fd);
	side_app(s);
	side_update(s, events);
}

static void side_start(struct side *s, struct loop *l, int fd)
{
	s->l = l;
	s->fd = fd;
	side_app(s);
	s->registered = loop_add_fd(l, fd, tls_conn_want(s->conn), side_cb, s) == 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool both_done(void *a, void *b)
{
	struct side *x = a, *y = b;
	return tls_conn_done(x->conn) && tls_conn_done(y->conn);
}

/* Run the loop until done(a, b) or timeout_ms. */
static bool run_until(struct loop *l, bool (*done)(void *, void *), void *a, void *b,
		      int timeout_ms)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;
	while (!done(a, b)) {
		if (mono_ms() > end)
			return false;
		if (loop_run_once(l, 20) < 0)
			return false;
	}
	return true;
}

static void loop_small(struct loop *l)
{
	struct loop_config c = {.max_fds = 16, .max_timers = 4, .max_events = 16};
	if (loop_init(l, &c) != 0)
		abort();
}

/* A connected pair of sides over a socketpair, with fresh conns. */
struct pair {
	struct loop l;
	int fds[2];
	struct side srv, cli;
};

static struct pair *pair_new(void)
{
	struct pair *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	loop_small(&p->l);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->fds) != 0)
		abort();
	p->srv.name = "server";
	p->cli.name = "client";
	p->srv.conn = malloc(tls_conn_size());
	p->cli.conn = malloc(tls_conn_size());
	return p;
}

static void pair_free(struct pair *p)
{
	if (p->srv.registered)
		loop_del_fd(&p->l, p->fds[0]);
	if (p->cli.registered)
		loop_del_fd(&p->l, p->fds[1]);
	loop_fini(&p->l);
	if (p->fds[0] >= 0)
		close(p->fds[0]);
	if (p->fds[1] >= 0)
		close(p->fds[1]);
	tls_conn_wipe(p->srv.conn);
	tls_conn_wipe(p->cli.conn);
	free(p->srv.conn);
	free(p->cli.conn);
	free(p->srv.rx);
	free(p->cli.rx);
	free(p);
}

/* Handshake srv against cli over a fresh pair, the client sending msg (if
 * any) and closing. Returns the pair for inspection. */
static struct pair *run_pair(struct srv_setup *ss, struct cli_setup *cs, const char *server_name,
			     const char *msg)
{
	struct pair *p = pair_new();
	if (!p)
		return NULL;
	if (tls_conn_init_server(p->srv.conn, &ss->cfg, test_rng()) != 0 ||
	    tls_conn_init_client(p->cli.conn, &cs->cfg, server_name, test_rng()) != 0) {
		fprintf(stderr, "  init: %s / %s\n", tls_conn_errmsg(p->srv.conn),
			tls_conn_errmsg(p->cli.conn));
		pair_free(p);
		return NULL;
	}
	p->srv.rx_cap = p->cli.rx_cap = 4096;
	p->srv.rx = calloc(1, 4096);
	p->cli.rx = calloc(1, 4096);
	p->srv.mode = APP_UPPER;
	if (msg) {
		p->cli.tx = (const uint8_t *)msg;
		p->cli.tx_len = strlen(msg);
	}
	side_start(&p->srv, &p->l, p->fds[0]);
	side_start(&p->cli, &p->l, p->fds[1]);
	return p;
}

static bool got_reply(void *a, void *b)
{
	struct side *cli = a;
	size_t want = (size_t)(uintptr_t)b;
	return cli->rx_len >= want || tls_conn_done(cli->conn);
}

/* Config: PEM, keys, caps ------------------------------------------------------------- */

static void pem_key_formats(void)
{
	FX_REQUIRE();
	struct srv_setup *s = calloc(1, sizeof *s);
	REQUIRE(s && tls_server_config_init(&s->cfg, s->store, sizeof s->store) == 0);
	CHECK_EQ_INT(add_cert_files(&s->cfg, "localhost", "srv.pem", "srv.key", 0), 0);
	CHECK_EQ_INT(add_cert_files(&s->cfg, "ec.test", "srv.pem", "srv_ec.key", 0), 1);
	CHECK_EQ_INT(add_cert_files(&s->cfg, "rsa.test", "rsa.pem", "rsa.key", 0), 2);
	CHECK_EQ_INT(add_cert_files(&s->cfg, "rsa2.test", "rsa.pem", "rsa_trad.key", 0), 3);
	CHECK_EQ_INT(s->cfg.certs[0].chain.key_type, BR_KEYTYPE_EC);
	CHECK_EQ_INT(s->cfg.certs[1].chain.key.ec.curve, BR_EC_secp256r1);
	CHECK_EQ_INT(s->cfg.certs[2].chain.key_type, BR_KEYTYPE_RSA);
	CHECK_EQ_INT(s->cfg.certs[3].chain.key.rsa.n_bitlen, 2048);
	CHECK_EQ_INT(s->cfg.certs[0].chain.ncerts, 1);
	CHECK_EQ_INT(s->cfg.certs[0].chain.issuer_key_type, BR_KEYTYPE_EC);
	CHECK_EQ_STR(s->cfg.certs[0].names, "localhost");
	/* A chain of three, leaf first. */
	CHECK_EQ_INT(add_cert_files(&s->cfg, NULL, "leaf_int_ca.pem", "leaf.key", 0), 4);
	CHECK_EQ_INT(s->cfg.certs[4].chain.ncerts, 3);
	CHECK_EQ_STR(s->cfg.certs[4].names, "");
	free(s);
}

static void pem_errors(void)
{
	FX_REQUIRE();
	struct srv_setup *s = calloc(1, sizeof *s);
	REQUIRE(s && tls_server_config_init(&s->cfg, s->store, sizeof s->store) == 0);
	struct blob cert = fx_read("srv.pem"), key = fx_read("srv.key");
	struct blob enc = fx_read("enc.key"), other = fx_read("cli.key");
	REQUIRE(cert.p && key.p && enc.p && other.p);
	static const char junk[] = "this is not PEM at all\n";
	static const char bad64[] =
		"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
	static const char notder[] =
		"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

	CHECK_EQ_INT(tls_server_add_cert(&s->cfg, NULL, junk, sizeof junk - 1, key.p, key.n, 0),
		     -ERR_TLS_PEM);
	CHECK(strstr(s->cfg.errmsg, "no CERTIFICATE") != NULL);
	CHECK_EQ_INT(tls_server_add_cert(&s->cfg, NULL, bad64, sizeof bad64 - 1, key.p, key.n, 0),
		     -ERR_TLS_PEM);
	CHECK_EQ_INT(tls_server_add_cert(&s->cfg, NULL, notder, sizeof notder - 1, key.p, key.n, 0),
		     -ERR_TLS_PEM);
	/* Truncated: no END line. */
	CHECK_EQ_INT(tls_server_add_cert(&s->cfg, NULL, cert.p, cert.n - 30, key.p, key.n, 0),
		     -ERR_TLS_PEM);
	CHECK_EQ_INT(tls_server_add_cert(&s->cfg, NULL, cert.p, cert.n, junk, sizeof junk - 1, 0),
		     -ERR_TLS_PEM);
	CHECK(strstr(s->cfg.errmsg, "no private key") != NULL);
	CHECK_EQ_INT(tls_server_add_cert(&s->cfg, NULL, cert.p, cert.n, enc.p, enc.n, 0),
		     -ERR_TLS_PEM);
	CHECK(strstr(s->cfg.errmsg, "encrypted") != NULL);
	CHECK_EQ_INT(tls_server_add_cert(&s->cfg, NULL, cert.p, cert.n, other.p, other.n, 0),
		     -ERR_TLS_CONFIG);
	CHECK(strstr(s->cfg.errmsg, "does not match") != NULL);
	/* Bad names and flags. */
	CHECK_EQ_INT(tls_server_add_cert(&s->cfg, "a b", cert.p, cert.n, key.p, key.n, 0),
		     -ERR_TLS_CONFIG);
	CHECK_EQ_INT(
		tls_server_add_cert(&s->cfg, "a.test,,b.test", cert.p, cert.n, key.p, key.n, 0),
		-ERR_TLS_CONFIG);
	CHECK_EQ_INT(tls_server_add_cert(&s->cfg, "*.", cert.p, cert.n, key.p, key.n, 0),
		     -ERR_TLS_CONFIG);
	CHECK_EQ_INT(tls_server_add_cert(&s->cfg, "x", cert.p, cert.n, key.p, key.n, 0x80),
		     -ERR_INVAL);
	/* Nothing of the above was kept. */
	CHECK_EQ_INT(s->cfg.ncerts, 0);
	CHECK_EQ_INT(s->cfg.store.len, 0);

	/* Without the final newline, and with CRLF line ends: still fine. */
	CHECK_EQ_INT(tls_server_add_cert(&s->cfg, NULL, cert.p, cert.n - 1, key.p, key.n - 1, 0),
		     0);
	char *crlf = malloc(cert.n * 2 + 1);
	size_t m = 0;
	for (size_t i = 0; i < cert.n; i++) {
		if (cert.p[i] == '\n')
			crlf[m++] = '\r';
		crlf[m++] = cert.p[i];
	}
	CHECK_EQ_INT(tls_server_add_cert(&s->cfg, " A.Test , *.W.test ", crlf, m, key.p, key.n,
					 TLS_CERT_DEFAULT),
		     1);
	CHECK_EQ_STR(s->cfg.certs[1].names, "a.test,*.w.test");
	CHECK(s->cfg.has_default && s->cfg.default_cert == 1);
	CHECK_EQ_INT(
		tls_server_add_cert(&s->cfg, NULL, cert.p, cert.n, key.p, key.n, TLS_CERT_DEFAULT),
		-ERR_TLS_CONFIG); /* two defaults */
	/* CA PEM errors. */
	CHECK_EQ_INT(tls_server_add_client_ca(&s->cfg, junk, sizeof junk - 1), -ERR_TLS_PEM);
	CHECK_EQ_INT(tls_server_add_client_ca(&s->cfg, notder, sizeof notder - 1), -ERR_TLS_PEM);
	CHECK_EQ_INT(s->cfg.verify.ntas, 0);
	CHECK_EQ_INT(tls_server_set_client_auth(&s->cfg, TLS_CLIENT_AUTH_REQUIRED),
		     -ERR_TLS_CONFIG);
	CHECK_EQ_INT(tls_server_set_client_auth(&s->cfg, (enum tls_client_auth)7), -ERR_INVAL);
	free(crlf);
	free(cert.p);
	free(key.p);
	free(enc.p);
	free(other.p);
	free(s);
}

/* A PEM made of `first` then n copies of `rest`. */
static struct blob pem_cat(const char *first, const char *rest, int n)
{
	struct blob a = first ? fx_read(first) : (struct blob){NULL, 0}, b = fx_read(rest);
	struct blob out = {malloc(a.n + b.n * (size_t)n + 1), 0};
	if (a.n)
		memcpy(out.p, a.p, a.n);
	out.n = a.n;
	for (int i = 0; i < n; i++) {
		memcpy(out.p + out.n, b.p, b.n);
		out.n += b.n;
	}
	free(a.p);
	free(b.p);
	return out;
}

static void cap_chain(void)
{
	FX_REQUIRE();
	struct srv_setup *s = calloc(1, sizeof *s);
	REQUIRE(s && tls_server_config_init(&s->cfg, s->store, sizeof s->store) == 0);
	struct blob key = fx_read("srv.key");
	struct blob under = pem_cat("srv.pem", "ca.pem", TLS_CHAIN_MAX - 1);
	struct blob over = pem_cat("srv.pem", "ca.pem", TLS_CHAIN_MAX);

	CHECK_EQ_INT(tls_server_add_cert(&s->cfg, "x.test", under.p, under.n, key.p, key.n, 0), 0);
	CHECK_EQ_INT(s->cfg.certs[0].chain.ncerts, TLS_CHAIN_MAX);
	size_t used = s->cfg.store.len;
	CHECK_EQ_INT(tls_server_add_cert(&s->cfg, "y.test", over.p, over.n, key.p, key.n, 0),
		     -ERR_TLS_CHAIN_FULL);
	CHECK(strstr(s->cfg.errmsg, "TLS_CHAIN_MAX") != NULL);
	CHECK_EQ_INT(s->cfg.ncerts, 1);
	CHECK_EQ_INT(s->cfg.store.len, used);

	/* Client side: the same cap. */
	struct cli_setup *c = calloc(1, sizeof *c);
	REQUIRE(c && tls_client_config_init(&c->cfg, c->store, sizeof c->store) == 0);
	CHECK_EQ_INT(tls_client_set_cert(&c->cfg, over.p, over.n, key.p, key.n),
		     -ERR_TLS_CHAIN_FULL);
	CHECK(!c->cfg.has_cert);
	CHECK_EQ_INT(tls_client_set_cert(&c->cfg, under.p, under.n, key.p, key.n), 0);
	CHECK_EQ_INT(c->cfg.cert.ncerts, TLS_CHAIN_MAX);
	CHECK_EQ_INT(tls_client_set_cert(&c->cfg, under.p, under.n, key.p, key.n), -ERR_EXISTS);
	free(under.p);
	free(over.p);
	free(key.p);
	free(s);
	free(c);
}

static void cap_sni_entries(void)
{
	FX_REQUIRE();
	struct srv_setup *s = calloc(1, sizeof *s);
	REQUIRE(s && tls_server_config_init(&s->cfg, s->store, sizeof s->store) == 0);
	for (int i = 0; i < TLS_SNI_MAX; i++) {
		char name[32];
		snprintf(name, sizeof name, "h%d.test", i);
		CHECK_EQ_INT(add_cert_files(&s->cfg, name, "srv.pem", "srv.key", 0), i);
	}
	size_t used = s->cfg.store.len;
	CHECK_EQ_INT(add_cert_files(&s->cfg, "one-more.test", "srv.pem", "srv.key", 0),
		     -ERR_TLS_SNI_FULL);
	CHECK(strstr(s->cfg.errmsg, "TLS_SNI_MAX") != NULL);
	CHECK_EQ_INT(s->cfg.ncerts, TLS_SNI_MAX);
	CHECK_EQ_INT(s->cfg.store.len, used);
	CHECK_EQ_INT(tls_server_pick_(&s->cfg, "h15.test"), 15);
	free(s);
}

static void cap_trust_anchors(void)
{
	FX_REQUIRE();
	struct cli_setup *c = calloc(1, sizeof *c);
	REQUIRE(c && tls_client_config_init(&c->cfg, c->store, sizeof c->store) == 0);
	struct blob under = pem_cat(NULL, "ca.pem", TLS_TA_MAX);
	struct blob over = pem_cat(NULL, "ca.pem", TLS_TA_MAX + 1);
	struct blob two = fx_read("cas.pem");

	CHECK_EQ_INT(tls_client_add_ca(&c->cfg, over.p, over.n), -ERR_TLS_TA_FULL);
	CHECK(strstr(c->cfg.errmsg, "TLS_TA_MAX") != NULL);
	CHECK_EQ_INT(c->cfg.verify.ntas, 0);
	CHECK_EQ_INT(c->cfg.store.len, 0);
	CHECK_EQ_INT(tls_client_add_ca(&c->cfg, under.p, under.n), TLS_TA_MAX);
	CHECK_EQ_INT(c->cfg.verify.ntas, TLS_TA_MAX);
	CHECK(c->cfg.verify.tas[0].flags & BR_X509_TA_CA);
	CHECK_EQ_INT(c->cfg.verify.tas[0].pkey.key_type, BR_KEYTYPE_EC);
	CHECK_EQ_INT(c->cfg.verify.tas[0].pkey.key.ec.qlen, 65);

	/* Incremental: MAX - 1, then two more is one too many, then one fits. */
	REQUIRE(tls_client_config_init(&c->cfg, c->store, sizeof c->store) == 0);
	struct blob most = pem_cat(NULL, "ca.pem", TLS_TA_MAX - 1);
	CHECK_EQ_INT(tls_client_add_ca(&c->cfg, most.p, most.n), TLS_TA_MAX - 1);
	size_t used = c->cfg.store.len;
	CHECK_EQ_INT(tls_client_add_ca(&c->cfg, two.p, two.n), -ERR_TLS_TA_FULL);
	CHECK_EQ_INT(c->cfg.verify.ntas, TLS_TA_MAX - 1);
	CHECK_EQ_INT(c->cfg.store.len, used);
	CHECK_EQ_INT(cli_add_ca_file(&c->cfg, "ca2.pem"), 1);
	CHECK_EQ_INT(c->cfg.verify.ntas, TLS_TA_MAX);
	free(under.p);
	free(over.p);
	free(two.p);
	free(most.p);
	free(c);
}

static void cap_store_bytes(void)
{
	FX_REQUIRE();
	struct srv_setup *s = calloc(1, sizeof *s);
	REQUIRE(s && tls_server_config_init(&s->cfg, s->store, sizeof s->store) == 0);
	REQUIRE(add_cert_files(&s->cfg, "a.test,b.test", "leaf_int_ca.pem", "leaf.key", 0) == 0);
	REQUIRE(add_client_ca_file(&s->cfg, "cas.pem") == 2);
	size_t need = s->cfg.store.len;

	/* Exactly enough: both fit. */
	REQUIRE(tls_server_config_init(&s->cfg, s->store, need) == 0);
	CHECK_EQ_INT(add_cert_files(&s->cfg, "a.test,b.test", "leaf_int_ca.pem", "leaf.key", 0), 0);
	CHECK_EQ_INT(add_client_ca_file(&s->cfg, "cas.pem"), 2);
	CHECK_EQ_INT(s->cfg.store.len, need);

	/* One byte short: the anchors no longer fit, and nothing changes. */
	REQUIRE(tls_server_config_init(&s->cfg, s->store, need - 1) == 0);
	CHECK_EQ_INT(add_cert_files(&s->cfg, "a.test,b.test", "leaf_int_ca.pem", "leaf.key", 0), 0);
	size_t used = s->cfg.store.len;
	CHECK_EQ_INT(add_client_ca_file(&s->cfg, "cas.pem"), -ERR_TLS_STORE_FULL);
	CHECK(strstr(s->cfg.errmsg, "store full") != NULL);
	CHECK_EQ_INT(s->cfg.verify.ntas, 0);
	CHECK_EQ_INT(s->cfg.store.len, used);

	/* Each piece of a certificate entry: chain, key, names. */
	size_t cert_need = used;
	for (size_t cap = cert_need - 12; cap < cert_need; cap++) {
		REQUIRE(tls_server_config_init(&s->cfg, s->store, cap) == 0);
		CHECK_EQ_INT(
			add_cert_files(&s->cfg, "a.test,b.test", "leaf_int_ca.pem", "leaf.key", 0),
			-ERR_TLS_STORE_FULL);
		CHECK_EQ_INT(s->cfg.ncerts, 0);
		CHECK_EQ_INT(s->cfg.store.len, 0);
	}
	REQUIRE(tls_server_config_init(&s->cfg, s->store, 600) == 0); /* inside the chain */
	CHECK_EQ_INT(add_cert_files(&s->cfg, NULL, "leaf_int_ca.pem", "leaf.key", 0),
		     -ERR_TLS_STORE_FULL);
	CHECK_EQ_INT(s->cfg.store.len, 0);
	free(s);
}

static void name_rules(void)
{
	CHECK(tls_name_match("a.test", "a.test"));
	CHECK(tls_name_match("a.test", "A.TEST"));
	CHECK(tls_name_match("a.test", "a.test."));
	CHECK(!tls_name_match("a.test", "b.test"));
	CHECK(!tls_name_match("a.test", "aa.test"));
	CHECK(!tls_name_match("a.test", ""));
	CHECK(tls_name_match("*.w.test", "x.w.test"));
	CHECK(tls_name_match("*.w.test", "X.W.Test"));
	CHECK(!tls_name_match("*.w.test", "w.test"));
	CHECK(!tls_name_match("*.w.test", "a.b.w.test"));
	CHECK(!tls_name_match("*.w.test", ".w.test"));
	CHECK(!tls_name_match("*.w.test", "xw.test"));
	CHECK(!tls_name_match("", "a"));
}

static void sni_pick_rules(void)
{
	FX_REQUIRE();
	struct srv_setup *s = calloc(1, sizeof *s);
	REQUIRE(s && tls_server_config_init(&s->cfg, s->store, sizeof s->store) == 0);
	CHECK_EQ_INT(tls_server_pick_(&s->cfg, "a.test"), -1); /* no entries */
	REQUIRE(add_cert_files(&s->cfg, "*.w.test", "w.pem", "w.key", 0) == 0);
	REQUIRE(add_cert_files(&s->cfg, "a.test,x.w.test", "a.pem", "a.key", 0) == 1);
	REQUIRE(add_cert_files(&s->cfg, "b.test", "b.pem", "b.key", 0) == 2);
	CHECK_EQ_INT(tls_server_pick_(&s->cfg, "b.test"), 2);
	CHECK_EQ_INT(tls_server_pick_(&s->cfg, "A.test"), 1);
	CHECK_EQ_INT(tls_server_pick_(&s->cfg, "x.w.test"), 1); /* exact beats wildcard */
	CHECK_EQ_INT(tls_server_pick_(&s->cfg, "y.w.test"), 0);
	CHECK_EQ_INT(tls_server_pick_(&s->cfg, "nope.test"), 0); /* first entry by default */
	CHECK_EQ_INT(tls_server_pick_(&s->cfg, ""), 0);
	REQUIRE(add_cert_files(&s->cfg, "default.test", "dflt.pem", "dflt.key", TLS_CERT_DEFAULT) ==
		3);
	CHECK_EQ_INT(tls_server_pick_(&s->cfg, "nope.test"), 3);
	CHECK_EQ_INT(tls_server_pick_(&s->cfg, NULL), 3);
	tls_server_set_sni_strict(&s->cfg, true);
	CHECK_EQ_INT(tls_server_pick_(&s->cfg, "nope.test"), -1);
	CHECK_EQ_INT(tls_server_pick_(&s->cfg, ""), -1);
	CHECK_EQ_INT(tls_server_pick_(&s->cfg, "b.test"), 2);
	free(s);
}

static void error_mapping(void)
{
	char msg[TLS_ERRMSG_MAX];
	CHECK_EQ_INT(tls_err_from_br(BR_ERR_OK, false, msg, sizeof msg), 0);
	CHECK_EQ_INT(tls_err_from_br(BR_ERR_X509_NOT_TRUSTED, false, msg, sizeof msg),
		     -ERR_TLS_CERT);
	CHECK_EQ_STR(msg, "certificate not trusted (BR_ERR_X509_NOT_TRUSTED)");
	CHECK_EQ_INT(tls_err_from_br(BR_ERR_X509_EXPIRED, false, msg, sizeof msg), -ERR_TLS_CERT);
	CHECK_EQ_INT(tls_err_from_br(BR_ERR_NO_CLIENT_AUTH, false, msg, sizeof msg), -ERR_TLS_CERT);
	CHECK_EQ_INT(tls_err_from_br(BR_ERR_BAD_MAC, true, msg, sizeof msg), -ERR_TLS_PROTOCOL);
	CHECK_EQ_INT(tls_err_from_br(BR_ERR_UNSUPPORTED_VERSION, false, msg, sizeof msg),
		     -ERR_TLS_HANDSHAKE);
	CHECK_EQ_INT(tls_err_from_br(BR_ERR_RECV_FATAL_ALERT + 42, false, msg, sizeof msg),
		     -ERR_TLS_HANDSHAKE);
	CHECK(strstr(msg, "bad_certificate") != NULL);
	CHECK_EQ_INT(tls_err_from_br(BR_ERR_SEND_FATAL_ALERT + 40, true, msg, sizeof msg),
		     -ERR_TLS_PROTOCOL);
	CHECK(strstr(msg, "handshake_failure") != NULL);
	CHECK_EQ_INT(tls_err_from_br(9999, false, msg, sizeof msg), -ERR_TLS_HANDSHAKE);
	CHECK_EQ_STR(tls_br_err_name(BR_ERR_X509_EXPIRED), "BR_ERR_X509_EXPIRED");
	CHECK_EQ_STR(tls_br_err_name(BR_ERR_RECV_FATAL_ALERT + 40), "BR_ERR_RECV_FATAL_ALERT");
	CHECK_EQ_STR(tls_br_err_name(4242), "BR_ERR_UNKNOWN");
	CHECK_EQ_STR(tls_suite_name(BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
		     "ECDHE-ECDSA-CHACHA20-POLY1305");
	CHECK_EQ_STR(tls_suite_name(0x1234), "unknown");
	CHECK_EQ_STR(err_name(-ERR_TLS_STORE_FULL), "TLS_STORE_FULL");
	CHECK_EQ_INT(ERR_TLS_HANDSHAKE, 100);
	CHECK_EQ_INT(ERR_TLS_STORE_FULL, 109);
}

static void conn_init_errors(void)
{
	FX_REQUIRE();
	struct tls_conn *c = malloc(tls_conn_size());
	struct srv_setup *s = calloc(1, sizeof *s);
	struct cli_setup *k = calloc(1, sizeof *k);
	REQUIRE(c && s && k);
	REQUIRE(tls_server_config_init(&s->cfg, s->store, sizeof s->store) == 0);
	REQUIRE(tls_client_config_init(&k->cfg, k->store, sizeof k->store) == 0);
	CHECK_EQ_INT(tls_conn_size(), sizeof(struct tls_conn));
	CHECK_EQ_INT(tls_conn_size(), TLS_CONN_SLOT);
	CHECK_EQ_INT(tls_conn_size() % 4096, 0);
	printf("# sizeof(struct tls_conn) = %zu (I/O buffer %d)\n", tls_conn_size(),
	       TLS_IOBUF_SIZE);

	CHECK_EQ_INT(tls_conn_init_server(c, &s->cfg, NULL), -ERR_TLS_CONFIG);
	CHECK(strstr(tls_conn_errmsg(c), "no certificate") != NULL);
	CHECK_EQ_INT(tls_conn_want(c), 0);
	CHECK_EQ_INT(tls_conn_init_client(c, &k->cfg, "a.test", NULL), -ERR_TLS_CONFIG);
	CHECK(tls_conn_done(c));
	char longname[300];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	tls_client_set_insecure_skip_verify(&k->cfg, true);
	CHECK_EQ_INT(tls_conn_init_client(c, &k->cfg, longname, NULL), -ERR_INVAL);
	CHECK_EQ_INT(tls_conn_init_client(c, &k->cfg, "a.test", NULL), 0); /* OS entropy */
	CHECK(tls_conn_want(c) & TLS_WANT_WRITE);                          /* the ClientHello */
	CHECK(!tls_conn_handshake_done(c));
	CHECK_EQ_STR(tls_conn_server_name(c), "a.test");
	uint8_t buf[8];
	CHECK_EQ_INT(tls_conn_write(c, "x", 1), -ERR_AGAIN); /* handshake first */
	CHECK_EQ_INT(tls_conn_read(c, buf, sizeof buf), -ERR_AGAIN);
	CHECK_EQ_INT(tls_conn_read(c, buf, 0), -ERR_INVAL);
	CHECK_EQ_INT(tls_conn_peer_status(c), TLS_PEER_NONE);
	size_t n;
	CHECK(tls_conn_peer_cert(c, &n) == NULL && n == 0);
	CHECK(tls_conn_peer_cn(c) == NULL);
	CHECK_EQ_INT(tls_conn_version(c), 0);
	CHECK_EQ_INT(tls_conn_cipher_suite(c), 0);
	/* Closing before the handshake abandons the connection. */
	tls_conn_close(c);
	CHECK(tls_conn_done(c));
	CHECK_EQ_INT(tls_conn_error(c), 0);
	CHECK_EQ_INT(tls_conn_want(c), 0);
	CHECK_EQ_INT(tls_conn_write(c, "x", 1), -ERR_CLOSED);
	CHECK_EQ_INT(tls_conn_read(c, buf, sizeof buf), 0);
	REQUIRE(add_cert_files(&s->cfg, "localhost", "srv.pem", "srv.key", 0) == 0);
	CHECK_EQ_INT(tls_conn_init_server(c, &s->cfg, test_rng()), 0);
	CHECK_EQ_INT(tls_conn_want(c), TLS_WANT_READ);
	CHECK_EQ_INT(tls_conn_cert_index(c), -1);
	free(c);
	free(s);
	free(k);
}

/* Each connection's engine DRBG is its own: drawn from the caller's generator (so two
 * connections never share a random stream), fully determined by it (a test seed gives the
 * same stream), and marked seeded so that the reset neither fails nor reseeds. */
static void conn_engine_rng_per_connection(void)
{
	FX_REQUIRE();
	struct tls_conn *a = malloc(tls_conn_size()), *b = malloc(tls_conn_size()),
			*c = malloc(tls_conn_size());
	struct srv_setup *s = calloc(1, sizeof *s);
	REQUIRE(a && b && c && s);
	REQUIRE(tls_server_config_init(&s->cfg, s->store, sizeof s->store) == 0);
	REQUIRE(add_cert_files(&s->cfg, "localhost", "srv.pem", "srv.key", 0) == 0);
	struct rand r1, r2;
	rand_init_seed(&r1, "engine-rng", 10);
	rand_init_seed(&r2, "engine-rng", 10);
	REQUIRE(tls_conn_init_server(a, &s->cfg, &r1) == 0);
	REQUIRE(tls_conn_init_server(b, &s->cfg, &r1) == 0);
	REQUIRE(tls_conn_init_server(c, &s->cfg, &r2) == 0);
	CHECK_EQ_INT(a->eng->rng_init_done, 2);
	CHECK_EQ_INT(a->eng->rng_os_rand_done, 1);
	/* The state itself, before anything draws from it: K and V independent, per connection. */
	CHECK(memcmp(a->eng->rng.K, b->eng->rng.K, 32) != 0);
	CHECK(memcmp(a->eng->rng.V, b->eng->rng.V, 32) != 0);
	CHECK(memcmp(a->eng->rng.K, a->eng->rng.V, 32) != 0);
	CHECK(memcmp(a->eng->rng.K, c->eng->rng.K, 32) == 0);
	CHECK(memcmp(a->eng->rng.V, c->eng->rng.V, 32) == 0);
	uint8_t ga[32], gb[32], gc[32], zero[32] = {0};
	br_hmac_drbg_generate(&a->eng->rng, ga, sizeof ga);
	br_hmac_drbg_generate(&b->eng->rng, gb, sizeof gb);
	br_hmac_drbg_generate(&c->eng->rng, gc, sizeof gc);
	CHECK(memcmp(ga, gb, sizeof ga) != 0);
	CHECK(memcmp(ga, gc, sizeof ga) == 0);
	CHECK(memcmp(ga, zero, sizeof ga) != 0);
	/* Without a generator: getrandom, still distinct per connection. */
	REQUIRE(tls_conn_init_server(a, &s->cfg, NULL) == 0);
	REQUIRE(tls_conn_init_server(b, &s->cfg, NULL) == 0);
	br_hmac_drbg_generate(&a->eng->rng, ga, sizeof ga);
	br_hmac_drbg_generate(&b->eng->rng, gb, sizeof gb);
	CHECK(memcmp(ga, gb, sizeof ga) != 0);
	free(a);
	free(b);
	free(c);
	free(s);
}

/* In memory, byte by byte ------------------------------------------------------------- */

/* Move at most chunk bytes from one engine to the other; true if any. */
static bool pump_dir(struct tls_conn *from, struct tls_conn *to, size_t chunk)
{
	size_t len, room;
	const uint8_t *p = tls_conn_send_buf(from, &len);
	if (!p)
		return false;
	uint8_t *q = tls_conn_recv_buf(to, &room);
	if (!q)
		return false;
	size_t n = len < room ? len : room;
	if (n > chunk)
		n = chunk;
	memcpy(q, p, n);
	tls_conn_send_ack(from, n);
	tls_conn_recv_ack(to, n);
	return true;
}

/* Both ways; true if anything moved. */
static bool pump_mem(struct tls_conn *a, struct tls_conn *b, size_t chunk)
{
	bool ab = pump_dir(a, b, chunk);
	bool ba = pump_dir(b, a, chunk);
	return ab || ba;
}

/* Pages of [p, p + len) resident now (mincore), len a multiple of the page size. */
static size_t resident_pages(const void *p, size_t len)
{
	unsigned char vec[64];
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = len / pg, r = 0;
	if (n > sizeof vec || mincore((void *)(uintptr_t)p, len, vec) != 0)
		return (size_t)-1;
	for (size_t i = 0; i < n; i++)
		r += vec[i] & 1;
	return r;
}

/* Exchange one message each way between s and c, in memory; true if both arrived. */
static bool trim_exchange(struct tls_conn *s, struct tls_conn *c, const char *q, const char *a)
{
	char buf[64];
	size_t ql = strlen(q), al = strlen(a);
	if (tls_conn_write(c, q, ql) != (ssize_t)ql)
		return false;
	while (pump_mem(s, c, 4096))
		;
	if (tls_conn_read(s, buf, sizeof buf) != (ssize_t)ql || memcmp(buf, q, ql) != 0)
		return false;
	if (tls_conn_write(s, a, al) != (ssize_t)al)
		return false;
	while (pump_mem(s, c, 4096))
		;
	return tls_conn_read(c, buf, sizeof buf) == (ssize_t)al && memcmp(buf, a, al) == 0;
}

/* tls_conn_trim: only an idle, handshaken connection gives pages back, and it works as
 * before afterwards (the pages come back zeroed). Slots page-aligned as the proxy's pool. */
static void conn_trim_idle(void)
{
	FX_REQUIRE();
	if (sysconf(_SC_PAGESIZE) != 4096) {
		printf("# conn_trim_idle: skipped (page size %ld)\n", sysconf(_SC_PAGESIZE));
		return;
	}
	struct srv_setup *ss = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_NONE);
	struct srv_setup *sm = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_REQUIRED);
	struct cli_setup *cs = cli_new("ca.pem", "cli.pem", "cli.key");
	struct tls_conn *s = aligned_alloc(4096, tls_conn_size());
	struct tls_conn *c = aligned_alloc(4096, tls_conn_size());
	REQUIRE(ss && sm && cs && s && c);
	memset(s, 0, tls_conn_size());
	memset(c, 0, tls_conn_size());
	size_t pages = tls_conn_size() / 4096;

	REQUIRE(tls_conn_init_server(s, &ss->cfg, test_rng()) == 0);
	REQUIRE(tls_conn_init_client(c, &cs->cfg, "localhost", test_rng()) == 0);
	CHECK_EQ_INT(tls_conn_trim(s), 0); /* handshake not started */
	CHECK_EQ_INT(tls_conn_trim(c), 0); /* ClientHello waiting to be sent */
	CHECK(pump_dir(c, s, 50));         /* part of the ClientHello */
	CHECK_EQ_INT(tls_conn_trim(s), 0);
	while (pump_mem(s, c, 4096))
		;
	REQUIRE(tls_conn_handshake_done(s) && tls_conn_handshake_done(c));
	CHECK(trim_exchange(s, c, "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"));
	CHECK_EQ_INT(resident_pages(s, tls_conn_size()), pages);

	/* Idle on both sides: the server (no client certificate) keeps one page, the
	 * client (it keeps the server's certificate) four. */
	CHECK_EQ_INT(tls_conn_trim(s), 1);
	CHECK_EQ_INT(resident_pages(s, tls_conn_size()), 1);
	CHECK_EQ_INT(tls_conn_trim(c), 1);
	CHECK_EQ_INT(resident_pages(c, tls_conn_size()), 4);
	CHECK_EQ_STR(tls_conn_peer_cn(c), "localhost"); /* kept */
	CHECK_EQ_INT(tls_conn_peer_status(s), TLS_PEER_NONE);
	CHECK_EQ_INT(tls_conn_trim(s), 1); /* idempotent: still idle */
	CHECK(trim_exchange(s, c, "second", "answer two"));
	CHECK(trim_exchange(s, c, "third", "answer three"));
	CHECK_EQ_INT(tls_conn_error(s), 0);
	CHECK_EQ_INT(tls_conn_error(c), 0);

	/* Refused mid-record: half a record arrived, the rest comes after. */
	CHECK_EQ_INT(tls_conn_write(c, "split record", 12), 12);
	CHECK_EQ_INT(tls_conn_trim(c), 0); /* the record waits to be sent */
	size_t len;
	REQUIRE(tls_conn_send_buf(c, &len) && len > 20);
	CHECK(pump_dir(c, s, len / 2));
	CHECK_EQ_INT(tls_conn_trim(s), 0); /* half a record in the buffer */
	CHECK_EQ_INT(tls_conn_trim(c), 0); /* the other half waits */
	while (pump_mem(s, c, 4096))
		;
	/* Plaintext unread: refused too. */
	CHECK_EQ_INT(tls_conn_trim(s), 0);
	char buf[32];
	CHECK_EQ_INT(tls_conn_read(s, buf, 5), 5);
	CHECK_EQ_INT(tls_conn_trim(s), 0); /* part of it still unread */
	CHECK_EQ_INT(tls_conn_read(s, buf + 5, sizeof buf - 5), 7);
	CHECK(memcmp(buf, "split record", 12) == 0);
	/* Three bytes of the next record's header: refused. */
	CHECK_EQ_INT(tls_conn_write(c, "hdr", 3), 3);
	CHECK(pump_dir(c, s, 3));
	CHECK_EQ_INT(tls_conn_trim(s), 0);
	while (pump_mem(s, c, 4096))
		;
	CHECK_EQ_INT(tls_conn_read(s, buf, sizeof buf), 3);
	CHECK_EQ_INT(tls_conn_trim(s), 1);
	CHECK(trim_exchange(s, c, "after", "all good"));

	/* Closing or closed: refused. */
	tls_conn_close(c);
	CHECK_EQ_INT(tls_conn_trim(c), 0);
	while (pump_mem(s, c, 4096))
		;
	CHECK_EQ_INT(tls_conn_read(s, buf, sizeof buf), 0);
	CHECK_EQ_INT(tls_conn_trim(s), 0);
	CHECK_EQ_INT(tls_conn_trim(NULL), 0);

	/* A verified client certificate stays readable after a trim. */
	REQUIRE(tls_conn_init_server(s, &sm->cfg, test_rng()) == 0);
	REQUIRE(tls_conn_init_client(c, &cs->cfg, "localhost", test_rng()) == 0);
	while (pump_mem(s, c, 4096))
		;
	REQUIRE(tls_conn_peer_status(s) == TLS_PEER_VERIFIED);
	CHECK_EQ_INT(tls_conn_trim(s), 1);
	CHECK_EQ_INT(resident_pages(s, tls_conn_size()), 4);
	CHECK_EQ_STR(tls_conn_peer_cn(s), "client-1");
	CHECK(tls_conn_peer_cert(s, &len) != NULL && len > 100);
	CHECK(trim_exchange(s, c, "mtls", "ok"));

	/* A client asking to renegotiate a server trimmed down to one page: the server refuses
	 * (no_renegotiation alert, which BearSSL's client takes as fatal, trimmed or not) without
	 * touching the handshake-only state it released. */
	REQUIRE(tls_conn_init_server(s, &ss->cfg, test_rng()) == 0);
	REQUIRE(tls_conn_init_client(c, &cs->cfg, "localhost", test_rng()) == 0);
	while (pump_mem(s, c, 4096))
		;
	CHECK(trim_exchange(s, c, "before", "renegotiation"));
	CHECK_EQ_INT(tls_conn_trim(s), 1);
	CHECK_EQ_INT(resident_pages(s, tls_conn_size()), 1);
	br_ssl_engine_remove_flags(c->eng, BR_OPT_NO_RENEGOTIATION);
	CHECK(br_ssl_engine_renegotiate(c->eng));
	while (pump_mem(s, c, 4096))
		;
	CHECK_EQ_INT(tls_conn_error(s), 0);
	CHECK_EQ_INT(tls_conn_br_error(c), BR_ERR_RECV_FATAL_ALERT + 100);

	/* tls_conn_wipe_release: every byte reads back as zero, and only the first page stays
	 * resident, whether the slot was trimmed (s: trimmed, then the refused renegotiation's
	 * records brought two pages back) or busy (c: its whole slot resident and dirty).
	 * tls_conn_wipe faults every page back in. */
	size_t sz = tls_conn_size();
	CHECK(resident_pages(s, sz) < pages);
	tls_conn_wipe_release(s);
	CHECK_EQ_INT(resident_pages(s, sz), 1);
	memset((char *)c + 4096, 0x5a, sz - 4096);
	tls_conn_wipe_release(c);
	CHECK_EQ_INT(resident_pages(c, sz), 1);
	size_t nonzero = 0;
	for (size_t i = 0; i < sz; i++)
		nonzero += ((const unsigned char *)s)[i] != 0 || ((const unsigned char *)c)[i] != 0;
	CHECK_EQ_INT(nonzero, 0);
	tls_conn_wipe(s);
	CHECK_EQ_INT(resident_pages(s, sz), pages);
	tls_conn_wipe(c);
	free(s);
	free(c);
	free(ss);
	free(sm);
	free(cs);
}

static void memory_handshake_byte_by_byte(void)
{
	FX_REQUIRE();
	struct srv_setup *ss = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_REQUIRED);
	struct cli_setup *cs = cli_new("ca.pem", "cli.pem", "cli.key");
	struct tls_conn *s = malloc(tls_conn_size()), *c = malloc(tls_conn_size());
	REQUIRE(ss && cs && s && c);
	REQUIRE(tls_conn_init_server(s, &ss->cfg, test_rng()) == 0);
	REQUIRE(tls_conn_init_client(c, &cs->cfg, "localhost", test_rng()) == 0);
	int steps = 0;
	while (pump_mem(s, c, 1) && steps < 100000)
		steps++;
	CHECK(steps > 500); /* every byte moved on its own */
	CHECK(tls_conn_handshake_done(s));
	CHECK(tls_conn_handshake_done(c));
	CHECK_EQ_INT(tls_conn_error(s), 0);
	CHECK_EQ_INT(tls_conn_error(c), 0);
	CHECK_EQ_INT(tls_conn_version(c), BR_TLS12);
	CHECK_EQ_INT(tls_conn_peer_status(s), TLS_PEER_VERIFIED);
	CHECK_EQ_STR(tls_conn_peer_cn(s), "client-1");
	CHECK_EQ_STR(tls_conn_peer_cn(c), "localhost");

	CHECK_EQ_INT(tls_conn_write(c, "ping", 4), 4);
	while (pump_mem(s, c, 3))
		;
	char buf[16];
	CHECK_EQ_INT(tls_conn_read(s, buf, sizeof buf), 4);
	CHECK(memcmp(buf, "ping", 4) == 0);
	CHECK_EQ_INT(tls_conn_write(s, "pong!", 5), 5);
	while (pump_mem(s, c, 7))
		;
	CHECK_EQ_INT(tls_conn_read(c, buf, 2), 2); /* partial reads of one record */
	CHECK_EQ_INT(tls_conn_read(c, buf + 2, sizeof buf - 2), 3);
	CHECK(memcmp(buf, "pong!", 5) == 0);
	CHECK_EQ_INT(tls_conn_read(c, buf, sizeof buf), -ERR_AGAIN);

	/* close_notify both ways, in memory. */
	tls_conn_close(c);
	CHECK_EQ_INT(tls_conn_write(c, "x", 1), -ERR_CLOSED);
	while (pump_mem(s, c, 1))
		;
	CHECK_EQ_INT(tls_conn_read(s, buf, sizeof buf), 0);
	CHECK(tls_conn_done(s) && tls_conn_done(c));
	CHECK_EQ_INT(tls_conn_error(s), 0);
	CHECK_EQ_INT(tls_conn_error(c), 0);

	/* EOF while plaintext waits: the data is read first, then the
	 * truncation is reported. */
	REQUIRE(tls_conn_init_server(s, &ss->cfg, test_rng()) == 0);
	REQUIRE(tls_conn_init_client(c, &cs->cfg, "localhost", test_rng()) == 0);
	while (pump_mem(s, c, 4096))
		;
	CHECK_EQ_INT(tls_conn_write(s, "last words", 10), 10);
	while (pump_dir(s, c, 4096))
		;
	tls_conn_recv_eof(c);
	CHECK_EQ_INT(tls_conn_error(c), 0);
	CHECK_EQ_INT(tls_conn_want(c), 0);
	CHECK_EQ_INT(tls_conn_read(c, buf, 4), 4);
	CHECK_EQ_INT(tls_conn_read(c, buf + 4, sizeof buf - 4), 6);
	CHECK(memcmp(buf, "last words", 10) == 0);
	CHECK_EQ_INT(tls_conn_read(c, buf, sizeof buf), -ERR_TLS_TRUNCATED);
	CHECK(tls_conn_done(c));

	/* The peer's close_notify arrives, then EOF before our answer left:
	 * still a clean end. */
	REQUIRE(tls_conn_init_server(s, &ss->cfg, test_rng()) == 0);
	REQUIRE(tls_conn_init_client(c, &cs->cfg, "localhost", test_rng()) == 0);
	while (pump_mem(s, c, 4096))
		;
	REQUIRE(tls_conn_handshake_done(s) && tls_conn_handshake_done(c));
	tls_conn_close(c);
	while (pump_dir(c, s, 4096))
		;
	CHECK_EQ_INT(tls_conn_want(s), TLS_WANT_WRITE); /* its close_notify, queued */
	CHECK_EQ_INT(tls_conn_read(s, buf, sizeof buf), -ERR_AGAIN);
	tls_conn_recv_eof(s);
	CHECK(tls_conn_done(s));
	CHECK_EQ_INT(tls_conn_error(s), 0);
	CHECK_EQ_INT(tls_conn_read(s, buf, sizeof buf), 0);
	tls_conn_wipe(s);
	for (size_t i = 0; i < tls_conn_size(); i++)
		if (((uint8_t *)s)[i] != 0) {
			CHECK(!"tls_conn_wipe left a byte");
			break;
		}
	free(s);
	free(c);
	free(ss);
	free(cs);
}

/* Handshakes through the loop --------------------------------------------------------- */

/* The public key of the leaf in a chain we loaded. */
static bool same_key_as_leaf(const br_x509_pkey *pk, const struct tls_chain *ch)
{
	br_x509_decoder_context dec;
	br_x509_decoder_init(&dec, NULL, NULL);
	br_x509_decoder_push(&dec, ch->certs[0].data, ch->certs[0].data_len);
	const br_x509_pkey *want = br_x509_decoder_get_pkey(&dec);
	return pk && want && pk->key_type == BR_KEYTYPE_EC && want->key_type == BR_KEYTYPE_EC &&
	       pk->key.ec.curve == want->key.ec.curve && pk->key.ec.qlen == want->key.ec.qlen &&
	       memcmp(pk->key.ec.q, want->key.ec.q, pk->key.ec.qlen) == 0;
}

static void mtls_ok(void)
{
	FX_REQUIRE();
	struct srv_setup *ss = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_REQUIRED);
	struct cli_setup *cs = cli_new("ca.pem", "cli.pem", "cli.key");
	REQUIRE(ss && cs);
	struct pair *p = run_pair(ss, cs, "localhost", "hello over tls");
	REQUIRE(p);
	CHECK(run_until(&p->l, got_reply, &p->cli, (void *)(uintptr_t)14, 5000));
	CHECK_EQ_INT(tls_conn_error(p->srv.conn), 0);
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), 0);
	CHECK_EQ_MEM(p->srv.rx, p->srv.rx_len, "hello over tls");
	CHECK_EQ_MEM(p->cli.rx, p->cli.rx_len, "HELLO OVER TLS");

	struct tls_conn *s = p->srv.conn, *c = p->cli.conn;
	CHECK_EQ_INT(tls_conn_version(s), BR_TLS12);
	unsigned suite = tls_conn_cipher_suite(c);
	CHECK_EQ_INT(suite, tls_conn_cipher_suite(s));
	CHECK(strncmp(tls_suite_name(suite), "ECDHE-ECDSA-", 12) == 0);
	printf("# negotiated %s\n", tls_suite_name(suite));
	CHECK_EQ_STR(tls_conn_server_name(s), "localhost");
	CHECK_EQ_INT(tls_conn_cert_index(s), 0);
	/* The server sees who the client is. */
	CHECK_EQ_INT(tls_conn_peer_status(s), TLS_PEER_VERIFIED);
	CHECK_EQ_STR(tls_conn_peer_cn(s), "client-1");
	size_t dn_len, cert_len;
	const uint8_t *dn = tls_conn_peer_dn(s, &dn_len);
	REQUIRE(dn && dn_len > 10);
	CHECK(dn[0] == 0x30 && memmem(dn, dn_len, "client-1", 8) != NULL);
	const uint8_t *der = tls_conn_peer_cert(s, &cert_len);
	CHECK(der && cert_len == cs->cfg.cert.certs[0].data_len &&
	      memcmp(der, cs->cfg.cert.certs[0].data, cert_len) == 0);
	uint8_t h[32];
	br_sha256_context sh;
	br_sha256_init(&sh);
	br_sha256_update(&sh, cs->cfg.cert.certs[0].data, cs->cfg.cert.certs[0].data_len);
	br_sha256_out(&sh, h);
	CHECK(memcmp(tls_conn_peer_cert_sha256(s), h, 32) == 0);
	CHECK(same_key_as_leaf(tls_conn_peer_key(s), &cs->cfg.cert));
	/* And the client sees the server. */
	CHECK_EQ_INT(tls_conn_peer_status(c), TLS_PEER_VERIFIED);
	CHECK_EQ_STR(tls_conn_peer_cn(c), "localhost");
	CHECK(same_key_as_leaf(tls_conn_peer_key(c), &ss->cfg.certs[0].chain));
	CHECK_EQ_INT(tls_conn_peer_br_error(c), 0);
	pair_free(p);
	free(ss);
	free(cs);
}

/* Run a handshake expected to fail; returns the pair (both sides done). */
static struct pair *run_fail(struct srv_setup *ss, struct cli_setup *cs, const char *name)
{
	struct pair *p = run_pair(ss, cs, name, "never delivered");
	if (p && !run_until(&p->l, both_done, &p->srv, &p->cli, 5000))
		fprintf(stderr, "  handshake did not finish\n");
	return p;
}

static void mtls_client_from_other_ca(void)
{
	FX_REQUIRE();
	struct srv_setup *ss = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_REQUIRED);
	struct cli_setup *cs = cli_new("ca.pem", "cli2.pem", "cli2.key");
	REQUIRE(ss && cs);
	struct pair *p = run_fail(ss, cs, "localhost");
	REQUIRE(p);
	CHECK_EQ_INT(tls_conn_error(p->srv.conn), -ERR_TLS_CERT);
	CHECK_EQ_INT(tls_conn_br_error(p->srv.conn), BR_ERR_X509_NOT_TRUSTED);
	CHECK_EQ_STR(tls_conn_errmsg(p->srv.conn),
		     "client certificate: certificate not trusted (BR_ERR_X509_NOT_TRUSTED)");
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), -ERR_TLS_HANDSHAKE);
	CHECK(strstr(tls_conn_errmsg(p->cli.conn), "during the handshake") != NULL);
	printf("# client sees: %s\n", tls_conn_errmsg(p->cli.conn));
	CHECK_EQ_INT(p->srv.rx_len, 0);
	CHECK(!tls_conn_handshake_done(p->srv.conn));
	pair_free(p);
	free(ss);
	free(cs);
}

static void mtls_no_client_cert_required(void)
{
	FX_REQUIRE();
	struct srv_setup *ss = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_REQUIRED);
	struct cli_setup *cs = cli_new("ca.pem", NULL, NULL);
	REQUIRE(ss && cs);
	struct pair *p = run_fail(ss, cs, "localhost");
	REQUIRE(p);
	CHECK_EQ_INT(tls_conn_error(p->srv.conn), -ERR_TLS_CERT);
	CHECK_EQ_INT(tls_conn_br_error(p->srv.conn), BR_ERR_NO_CLIENT_AUTH);
	CHECK_EQ_STR(tls_conn_errmsg(p->srv.conn),
		     "client sent no certificate (BR_ERR_NO_CLIENT_AUTH)");
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), -ERR_TLS_HANDSHAKE);
	pair_free(p);
	free(ss);
	free(cs);
}

static void mtls_optional(void)
{
	FX_REQUIRE();
	struct srv_setup *ss = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_OPTIONAL);
	struct cli_setup *none = cli_new("ca.pem", NULL, NULL);
	struct cli_setup *bad = cli_new("ca.pem", "cli2.pem", "cli2.key");
	struct cli_setup *good = cli_new("ca.pem", "cli.pem", "cli.key");
	REQUIRE(ss && none && bad && good);

	struct pair *p = run_pair(ss, none, "localhost", "anon");
	REQUIRE(p);
	CHECK(run_until(&p->l, got_reply, &p->cli, (void *)(uintptr_t)4, 5000));
	CHECK_EQ_MEM(p->cli.rx, p->cli.rx_len, "ANON");
	CHECK_EQ_INT(tls_conn_peer_status(p->srv.conn), TLS_PEER_NONE);
	CHECK(tls_conn_peer_cn(p->srv.conn) == NULL);
	pair_free(p);

	p = run_pair(ss, bad, "localhost", "bad");
	REQUIRE(p);
	CHECK(run_until(&p->l, got_reply, &p->cli, (void *)(uintptr_t)3, 5000));
	CHECK_EQ_MEM(p->cli.rx, p->cli.rx_len, "BAD");
	CHECK_EQ_INT(tls_conn_peer_status(p->srv.conn), TLS_PEER_REJECTED);
	CHECK_EQ_INT(tls_conn_peer_br_error(p->srv.conn), BR_ERR_X509_NOT_TRUSTED);
	CHECK(tls_conn_peer_cn(p->srv.conn) == NULL);
	CHECK(tls_conn_peer_key(p->srv.conn) == NULL);
	pair_free(p);

	p = run_pair(ss, good, "localhost", "good");
	REQUIRE(p);
	CHECK(run_until(&p->l, got_reply, &p->cli, (void *)(uintptr_t)4, 5000));
	CHECK_EQ_INT(tls_conn_peer_status(p->srv.conn), TLS_PEER_VERIFIED);
	CHECK_EQ_STR(tls_conn_peer_cn(p->srv.conn), "client-1");
	pair_free(p);
	free(ss);
	free(none);
	free(bad);
	free(good);
}

/* A pinned client (no CA) against a server sending chain. */
static void pin_case(const char *chain, const char *key, const uint8_t *pin, bool expect_ok)
{
	struct srv_setup *ss = srv_new(chain, key, TLS_CLIENT_AUTH_NONE);
	struct cli_setup *cs = cli_new(NULL, NULL, NULL);
	REQUIRE(ss && cs);
	tls_client_set_pin(&cs->cfg, pin);
	struct pair *p = run_pair(ss, cs, "localhost", "pinned");
	REQUIRE(p);
	run_until(&p->l, got_reply, &p->cli, (void *)(uintptr_t)6, 5000);
	if (expect_ok) {
		CHECK_EQ_INT(tls_conn_error(p->cli.conn), 0);
		CHECK_EQ_MEM(p->cli.rx, p->cli.rx_len, "PINNED");
		CHECK_EQ_INT(tls_conn_peer_status(p->cli.conn), TLS_PEER_VERIFIED);
	} else {
		CHECK_EQ_INT(tls_conn_error(p->cli.conn), -ERR_TLS_CERT);
		CHECK_EQ_INT(tls_conn_br_error(p->cli.conn), BR_ERR_X509_NOT_TRUSTED);
		CHECK_EQ_INT(p->cli.rx_len, 0);
	}
	pair_free(p);
	free(ss);
	free(cs);
}

static void pin_ca_digest(void)
{
	FX_REQUIRE();
	uint8_t wrong[32];
	memcpy(wrong, fx.ca_sha256, 32);
	wrong[31] ^= 1;
	pin_case("srv_ca.pem", "srv.key", fx.ca_sha256, true);
	pin_case("srv_ca.pem", "srv.key", wrong, false);
	pin_case("srv.pem", "srv.key", fx.ca_sha256, false); /* CA not in the chain */
	/* Through an intermediate: pin the root, or the intermediate. */
	pin_case("leaf_int_ca.pem", "leaf.key", fx.ca_sha256, true);
	pin_case("leaf_int.pem", "leaf.key", fx.int_sha256, true);
	pin_case("leaf_int.pem", "leaf.key", fx.ca_sha256, false);
}

static void pin_does_not_skip_checks(void)
{
	FX_REQUIRE();
	/* A chain from another CA ending in our CA's certificate: the link from
	 * the leaf to the pinned certificate does not verify. */
	struct blob fake = pem_cat("srv2.pem", "ca.pem", 1);
	struct blob key = fx_read("srv2.key");
	struct srv_setup *ss = calloc(1, sizeof *ss);
	struct cli_setup *cs = cli_new(NULL, NULL, NULL);
	REQUIRE(ss && cs && tls_server_config_init(&ss->cfg, ss->store, sizeof ss->store) == 0);
	REQUIRE(tls_server_add_cert(&ss->cfg, NULL, fake.p, fake.n, key.p, key.n, 0) == 0);
	tls_client_set_pin(&cs->cfg, fx.ca_sha256);
	struct pair *p = run_fail(ss, cs, "localhost");
	REQUIRE(p);
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), -ERR_TLS_CERT);
	CHECK(tls_conn_br_error(p->cli.conn) == BR_ERR_X509_BAD_SIGNATURE ||
	      tls_conn_br_error(p->cli.conn) == BR_ERR_X509_DN_MISMATCH);
	pair_free(p);
	/* The pin does not excuse a wrong name or an expired chain. */
	struct srv_setup *s2 = srv_new("srv_ca.pem", "srv.key", TLS_CLIENT_AUTH_NONE);
	REQUIRE(s2);
	p = run_fail(s2, cs, "other.test");
	REQUIRE(p);
	CHECK_EQ_INT(tls_conn_br_error(p->cli.conn), BR_ERR_X509_BAD_SERVER_NAME);
	pair_free(p);
	free(fake.p);
	free(key.p);
	free(ss);
	free(s2);
	free(cs);
}

static struct srv_setup *sni_server(bool strict)
{
	struct srv_setup *s = calloc(1, sizeof *s);
	if (!s || tls_server_config_init(&s->cfg, s->store, sizeof s->store) != 0)
		return NULL;
	if (add_cert_files(&s->cfg, "a.test", "a.pem", "a.key", 0) != 0 ||
	    add_cert_files(&s->cfg, "b.test", "b.pem", "b.key", 0) != 1 ||
	    add_cert_files(&s->cfg, "*.w.test", "w.pem", "w.key", 0) != 2 ||
	    add_cert_files(&s->cfg, NULL, "dflt.pem", "dflt.key", TLS_CERT_DEFAULT) != 3)
		return NULL;
	tls_server_set_sni_strict(&s->cfg, strict);
	return s;
}

static void sni_select(void)
{
	FX_REQUIRE();
	struct srv_setup *ss = sni_server(false);
	struct cli_setup *cs = cli_new("ca.pem", NULL, NULL);
	struct cli_setup *anyc = cli_new(NULL, NULL, NULL);
	REQUIRE(ss && cs && anyc);
	tls_client_set_insecure_skip_verify(&anyc->cfg, true);
	static const struct {
		const char *ask;
		int index;
		const char *cn;
		bool verify;
	} cases[] = {
		{"b.test", 1, "b.test", true},
		{"a.test", 0, "a.test", true},
		{"B.Test", 1, "b.test", true},
		{"x.w.test", 2, "wild.w.test", true},
		{"c.test", 3, "default.test", false},
		{"default.test", 3, "default.test", true},
		{"a.x.w.test", 3, "default.test", false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct pair *p = run_pair(ss, cases[i].verify ? cs : anyc, cases[i].ask, "sni");
		REQUIRE(p);
		CHECK(run_until(&p->l, got_reply, &p->cli, (void *)(uintptr_t)3, 5000));
		CHECK_EQ_INT(tls_conn_error(p->cli.conn), 0);
		CHECK_EQ_INT(tls_conn_cert_index(p->srv.conn), cases[i].index);
		CHECK_EQ_STR(tls_conn_server_name(p->srv.conn), cases[i].ask);
		CHECK_EQ_STR(tls_conn_peer_cn(p->cli.conn), cases[i].cn);
		CHECK_EQ_INT(tls_conn_peer_status(p->cli.conn),
			     cases[i].verify ? TLS_PEER_VERIFIED : TLS_PEER_UNVERIFIED);
		pair_free(p);
	}
	/* The default cert does not pass a verifying client asking c.test. */
	struct pair *p = run_fail(ss, cs, "c.test");
	REQUIRE(p);
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), -ERR_TLS_CERT);
	CHECK_EQ_INT(tls_conn_br_error(p->cli.conn), BR_ERR_X509_BAD_SERVER_NAME);
	pair_free(p);
	free(ss);
	free(cs);
	free(anyc);
}

static void sni_strict_refuses(void)
{
	FX_REQUIRE();
	struct srv_setup *ss = sni_server(true);
	struct cli_setup *cs = cli_new(NULL, NULL, NULL);
	REQUIRE(ss && cs);
	tls_client_set_insecure_skip_verify(&cs->cfg, true);
	struct pair *p = run_fail(ss, cs, "unknown.test");
	REQUIRE(p);
	CHECK_EQ_INT(tls_conn_error(p->srv.conn), -ERR_TLS_HANDSHAKE);
	CHECK(strstr(tls_conn_errmsg(p->srv.conn), "no certificate for server name \"unknown.test\""
						   " (sni_strict)") != NULL);
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), -ERR_TLS_HANDSHAKE);
	CHECK_EQ_INT(tls_conn_br_error(p->cli.conn),
		     BR_ERR_RECV_FATAL_ALERT + BR_ALERT_HANDSHAKE_FAILURE);
	printf("# server: %s\n# client: %s\n", tls_conn_errmsg(p->srv.conn),
	       tls_conn_errmsg(p->cli.conn));
	pair_free(p);
	/* No SNI at all is refused too; a known name passes. */
	p = run_fail(ss, cs, NULL);
	REQUIRE(p);
	CHECK_EQ_INT(tls_conn_error(p->srv.conn), -ERR_TLS_HANDSHAKE);
	pair_free(p);
	p = run_pair(ss, cs, "a.test", "ok");
	REQUIRE(p);
	CHECK(run_until(&p->l, got_reply, &p->cli, (void *)(uintptr_t)2, 5000));
	CHECK_EQ_INT(tls_conn_cert_index(p->srv.conn), 0);
	pair_free(p);
	free(ss);
	free(cs);
}

static void server_name_checks(void)
{
	FX_REQUIRE();
	struct srv_setup *ss = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_NONE);
	struct cli_setup *cs = cli_new("ca.pem", NULL, NULL);
	REQUIRE(ss && cs);
	static const struct {
		const char *name;
		int br;
	} cases[] = {
		{"localhost", 0},
		{"LOCALHOST", 0},
		{NULL, 0}, /* no name: any certificate from the CA */
		{"127.0.0.1", 0},
		{"127.0.0.2", BR_ERR_X509_BAD_SERVER_NAME},
		{"::1", BR_ERR_X509_BAD_SERVER_NAME},
		{"wrong.test", BR_ERR_X509_BAD_SERVER_NAME},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct pair *p = run_pair(ss, cs, cases[i].name, "n");
		REQUIRE(p);
		run_until(&p->l, got_reply, &p->cli, (void *)(uintptr_t)1, 5000);
		if (cases[i].br == 0) {
			CHECK_EQ_INT(tls_conn_error(p->cli.conn), 0);
			CHECK_EQ_MEM(p->cli.rx, p->cli.rx_len, "N");
		} else {
			CHECK_EQ_INT(tls_conn_error(p->cli.conn), -ERR_TLS_CERT);
			CHECK_EQ_INT(tls_conn_br_error(p->cli.conn), cases[i].br);
		}
		/* IP literals are not sent as SNI. */
		if (cases[i].name && strchr(cases[i].name, '.') && isdigit(cases[i].name[0]))
			CHECK_EQ_STR(tls_conn_server_name(p->srv.conn), "");
		pair_free(p);
	}
	free(ss);
	free(cs);
}

static uint64_t clock_future(void *ctx)
{
	return (uint64_t)time(NULL) + 400 * 86400ull;
}

static uint64_t clock_past(void *ctx)
{
	return (uint64_t)time(NULL) - 400 * 86400ull;
}

static uint64_t clock_jan2020(void *ctx)
{
	return 1579046400ull; /* 2020-01-15 */
}

static void validity_dates(void)
{
	FX_REQUIRE();
	struct srv_setup *ss = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_NONE);
	struct srv_setup *old = srv_new("exp.pem", "exp.key", TLS_CLIENT_AUTH_NONE);
	struct cli_setup *cs = cli_new("ca.pem", NULL, NULL);
	REQUIRE(ss && old && cs);

	tls_client_set_clock(&cs->cfg, clock_future, NULL);
	struct pair *p = run_fail(ss, cs, "localhost");
	REQUIRE(p);
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), -ERR_TLS_CERT);
	CHECK_EQ_INT(tls_conn_br_error(p->cli.conn), BR_ERR_X509_EXPIRED);
	CHECK_EQ_STR(tls_conn_errmsg(p->cli.conn), "server certificate: certificate expired or "
						   "not yet valid (BR_ERR_X509_EXPIRED)");
	pair_free(p);

	tls_client_set_clock(&cs->cfg, clock_past, NULL);
	p = run_fail(ss, cs, "localhost");
	REQUIRE(p);
	CHECK_EQ_INT(tls_conn_br_error(p->cli.conn), BR_ERR_X509_EXPIRED);
	pair_free(p);

	/* A certificate that expired in 2020, with the system clock ... */
	tls_client_set_clock(&cs->cfg, NULL, NULL);
	p = run_fail(old, cs, "localhost");
	REQUIRE(p);
	CHECK_EQ_INT(tls_conn_br_error(p->cli.conn), BR_ERR_X509_EXPIRED);
	pair_free(p);
	/* ... and with a clock inside its validity. */
	tls_client_set_clock(&cs->cfg, clock_jan2020, NULL);
	p = run_pair(old, cs, "localhost", "old");
	REQUIRE(p);
	CHECK(run_until(&p->l, got_reply, &p->cli, (void *)(uintptr_t)3, 5000));
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), 0);
	pair_free(p);

	/* Servers check client certificates' dates with their clock too. */
	struct srv_setup *auth = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_REQUIRED);
	struct cli_setup *cc = cli_new("ca.pem", "cli.pem", "cli.key");
	REQUIRE(auth && cc);
	tls_server_set_clock(&auth->cfg, clock_future, NULL);
	p = run_fail(auth, cc, "localhost");
	REQUIRE(p);
	CHECK_EQ_INT(tls_conn_error(p->srv.conn), -ERR_TLS_CERT);
	CHECK_EQ_INT(tls_conn_br_error(p->srv.conn), BR_ERR_X509_EXPIRED);
	pair_free(p);
	free(ss);
	free(old);
	free(cs);
	free(auth);
	free(cc);
}

static void insecure_skip_verify(void)
{
	FX_REQUIRE();
	struct srv_setup *ss = srv_new("srv2.pem", "srv2.key", TLS_CLIENT_AUTH_NONE);
	struct cli_setup *strict = cli_new("ca.pem", NULL, NULL);
	struct cli_setup *any = cli_new(NULL, NULL, NULL);
	REQUIRE(ss && strict && any);
	tls_client_set_insecure_skip_verify(&any->cfg, true);
	tls_client_set_clock(&any->cfg, clock_future, NULL); /* dates ignored too */

	struct pair *p = run_fail(ss, strict, "localhost");
	REQUIRE(p);
	CHECK_EQ_INT(tls_conn_br_error(p->cli.conn), BR_ERR_X509_NOT_TRUSTED);
	pair_free(p);

	p = run_pair(ss, any, "wrong.name", "insecure");
	REQUIRE(p);
	CHECK(run_until(&p->l, got_reply, &p->cli, (void *)(uintptr_t)8, 5000));
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), 0);
	CHECK_EQ_MEM(p->cli.rx, p->cli.rx_len, "INSECURE");
	CHECK_EQ_INT(tls_conn_peer_status(p->cli.conn), TLS_PEER_UNVERIFIED);
	CHECK_EQ_STR(tls_conn_peer_cn(p->cli.conn), "localhost");
	CHECK(tls_conn_peer_key(p->cli.conn) != NULL);
	pair_free(p);
	free(ss);
	free(strict);
	free(any);
}

static void rsa_server_cert(void)
{
	FX_REQUIRE();
	struct srv_setup *ss = srv_new("rsa.pem", "rsa_trad.key", TLS_CLIENT_AUTH_REQUIRED);
	struct cli_setup *cs = cli_new("ca.pem", "cli.pem", "cli.key");
	REQUIRE(ss && cs);
	struct pair *p = run_pair(ss, cs, "localhost", "rsa");
	REQUIRE(p);
	CHECK(run_until(&p->l, got_reply, &p->cli, (void *)(uintptr_t)3, 5000));
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), 0);
	CHECK_EQ_MEM(p->cli.rx, p->cli.rx_len, "RSA");
	CHECK(strncmp(tls_suite_name(tls_conn_cipher_suite(p->cli.conn)), "ECDHE-RSA-", 10) == 0);
	const br_x509_pkey *pk = tls_conn_peer_key(p->cli.conn);
	CHECK(pk && pk->key_type == BR_KEYTYPE_RSA && pk->key.rsa.nlen >= 256);
	CHECK_EQ_STR(tls_conn_peer_cn(p->srv.conn), "client-1");
	pair_free(p);
	free(ss);
	free(cs);
}

static void big_peer_certificate(void)
{
	FX_REQUIRE();
	struct srv_setup *ss = srv_new("big.pem", "big.key", TLS_CLIENT_AUTH_NONE);
	struct cli_setup *cs = cli_new("ca.pem", NULL, NULL);
	REQUIRE(ss && cs);
	REQUIRE(ss->cfg.certs[0].chain.certs[0].data_len > TLS_PEER_CERT_MAX);
	struct pair *p = run_pair(ss, cs, "localhost", "big");
	REQUIRE(p);
	CHECK(run_until(&p->l, got_reply, &p->cli, (void *)(uintptr_t)3, 5000));
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), 0);
	size_t n;
	CHECK(tls_conn_peer_cert(p->cli.conn, &n) == NULL); /* over TLS_PEER_CERT_MAX */
	CHECK(tls_conn_peer_dn(p->cli.conn, &n) == NULL);
	CHECK_EQ_STR(tls_conn_peer_cn(p->cli.conn), "localhost");
	CHECK(tls_conn_peer_key(p->cli.conn) != NULL); /* from the validator */
	CHECK(tls_conn_peer_cert_sha256(p->cli.conn) != NULL);
	pair_free(p);
	/* An IP name needs the copy: refused with a clear code. */
	p = run_fail(ss, cs, "127.0.0.1");
	REQUIRE(p);
	CHECK_EQ_INT(tls_conn_br_error(p->cli.conn), BR_ERR_X509_LIMIT_EXCEEDED);
	pair_free(p);
	free(ss);
	free(cs);
}

/* Closing ------------------------------------------------------------------------------ */

static void close_notify_both_ways(void)
{
	FX_REQUIRE();
	struct srv_setup *ss = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_NONE);
	struct cli_setup *cs = cli_new("ca.pem", NULL, NULL);
	REQUIRE(ss && cs);
	struct pair *p = run_pair(ss, cs, "localhost", "bye");
	REQUIRE(p);
	p->srv.mode = APP_PLAIN;
	p->cli.close_after_tx = true;
	CHECK(run_until(&p->l, both_done, &p->srv, &p->cli, 5000));
	CHECK_EQ_MEM(p->srv.rx, p->srv.rx_len, "bye");
	CHECK(p->srv.eof); /* read() returned 0 after the data */
	CHECK_EQ_INT(tls_conn_error(p->srv.conn), 0);
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), 0);
	CHECK(tls_conn_done(p->cli.conn));
	CHECK_EQ_INT(tls_conn_want(p->srv.conn), 0);
	uint8_t b[4];
	CHECK_EQ_INT(tls_conn_read(p->srv.conn, b, sizeof b), 0);
	CHECK_EQ_INT(tls_conn_write(p->srv.conn, "x", 1), -ERR_CLOSED);
	pair_free(p);
	free(ss);
	free(cs);
}

static void truncation_without_close_notify(void)
{
	FX_REQUIRE();
	struct srv_setup *ss = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_NONE);
	struct cli_setup *cs = cli_new("ca.pem", NULL, NULL);
	REQUIRE(ss && cs);
	struct pair *p = run_pair(ss, cs, "localhost", "cut");
	REQUIRE(p);
	CHECK(run_until(&p->l, got_reply, &p->cli, (void *)(uintptr_t)3, 5000));
	/* The client's socket goes away without a close_notify. */
	loop_del_fd(&p->l, p->fds[1]);
	p->cli.registered = false;
	close(p->fds[1]);
	p->fds[1] = -1;
	CHECK(run_until(&p->l, both_done, &p->srv, &p->srv, 5000));
	CHECK_EQ_INT(tls_conn_error(p->srv.conn), -ERR_TLS_TRUNCATED);
	CHECK(strstr(tls_conn_errmsg(p->srv.conn), "without close_notify") != NULL);
	uint8_t b[4];
	CHECK_EQ_INT(tls_conn_read(p->srv.conn, b, sizeof b), -ERR_TLS_TRUNCATED);
	pair_free(p);
	free(ss);
	free(cs);
}

/* A server conn fed raw bytes by a plain socket peer, which then closes. */
static void raw_peer_case(const void *bytes, size_t n, int expect_err, const char *expect_msg)
{
	struct srv_setup *ss = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_NONE);
	REQUIRE(ss);
	struct pair *p = pair_new();
	REQUIRE(p);
	REQUIRE(tls_conn_init_server(p->srv.conn, &ss->cfg, test_rng()) == 0);
	side_start(&p->srv, &p->l, p->fds[0]);
	if (n)
		CHECK_EQ_INT(write(p->fds[1], bytes, n), (ssize_t)n);
	shutdown(p->fds[1], SHUT_WR);
	CHECK(run_until(&p->l, both_done, &p->srv, &p->srv, 5000));
	CHECK_EQ_INT(tls_conn_error(p->srv.conn), expect_err);
	if (expect_msg)
		CHECK(strstr(tls_conn_errmsg(p->srv.conn), expect_msg) != NULL);
	printf("# raw peer (%zu bytes): %s\n", n, tls_conn_errmsg(p->srv.conn));
	pair_free(p);
	free(ss);
}

static void peer_hangs_up_mid_handshake(void)
{
	FX_REQUIRE();
	/* Nothing at all, then EOF. */
	raw_peer_case(NULL, 0, -ERR_TLS_HANDSHAKE, "during the handshake");
	/* The first bytes of a ClientHello, then EOF. */
	static const uint8_t part[] = {0x16, 0x03, 0x01, 0x00, 0xa0, 0x01, 0x00, 0x00, 0x9c, 0x03};
	raw_peer_case(part, sizeof part, -ERR_TLS_HANDSHAKE, "during the handshake");
	/* Not TLS at all. */
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	raw_peer_case(http, sizeof http - 1, -ERR_TLS_HANDSHAKE, "BR_ERR_");

	/* A client whose server answers a real ClientHello by hanging up. */
	struct cli_setup *cs = cli_new("ca.pem", NULL, NULL);
	REQUIRE(cs);
	struct pair *p = pair_new();
	REQUIRE(p);
	REQUIRE(tls_conn_init_client(p->cli.conn, &cs->cfg, "localhost", test_rng()) == 0);
	side_start(&p->cli, &p->l, p->fds[1]);
	for (int i = 0; i < 20 && tls_conn_want(p->cli.conn) & TLS_WANT_WRITE; i++)
		loop_run_once(&p->l, 10);
	uint8_t hello[512];
	CHECK(read(p->fds[0], hello, sizeof hello) > 0);
	close(p->fds[0]);
	p->fds[0] = -1;
	CHECK(run_until(&p->l, both_done, &p->cli, &p->cli, 5000));
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), -ERR_TLS_HANDSHAKE);
	printf("# client: %s\n", tls_conn_errmsg(p->cli.conn));
	pair_free(p);
	free(cs);
}

/* Large transfer over loopback TCP ------------------------------------------------------ */

static int tcp_listen(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 8) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* Blocking connect to 127.0.0.1:port, retried while refused; then
 * non-blocking. */
static int tcp_connect(uint16_t port, int timeout_ms)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons(port),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
			return fd;
		}
		close(fd);
		if (mono_ms() > end)
			return -1;
		usleep(20000);
	}
}

/* Small send buffers make every write partial. Over TCP the receive buffer
 * stays as is: a tiny one makes Linux stall on zero-window probes. */
static void small_buffers(int fd, bool rcv_too)
{
	int sz = 4096;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	if (rcv_too)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
}

static bool both_received(void *a, void *b)
{
	struct side *x = a, *y = b;
	return (x->rx_len == x->rx_cap && y->rx_len == y->rx_cap) || tls_conn_done(x->conn) ||
	       tls_conn_done(y->conn);
}

/* 1 MiB each way at once, mutual auth, odd read sizes. */
static void transfer_case(bool tcp)
{
	enum { SIZE = 1 << 20 };
	struct srv_setup *ss = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_REQUIRED);
	struct cli_setup *cs = cli_new("ca.pem", "cli.pem", "cli.key");
	struct pair *p = pair_new();
	REQUIRE(ss && cs && p);
	if (tcp) {
		close(p->fds[0]);
		close(p->fds[1]);
		uint16_t port;
		int lfd = tcp_listen(&port);
		REQUIRE(lfd >= 0);
		p->fds[1] = tcp_connect(port, 2000);
		REQUIRE(p->fds[1] >= 0);
		int afd = -1;
		for (int i = 0; i < 100 && afd < 0; i++) {
			afd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (afd < 0)
				usleep(10000);
		}
		close(lfd);
		REQUIRE(afd >= 0);
		p->fds[0] = afd;
	}
	small_buffers(p->fds[0], !tcp);
	small_buffers(p->fds[1], !tcp);

	uint8_t *a = malloc(SIZE), *b = malloc(SIZE);
	REQUIRE(a && b);
	for (size_t i = 0; i < SIZE; i++) {
		a[i] = (uint8_t)(i * 31 + 7);
		b[i] = (uint8_t)(i * 17 + (i >> 12));
	}
	REQUIRE(tls_conn_init_server(p->srv.conn, &ss->cfg, test_rng()) == 0);
	REQUIRE(tls_conn_init_client(p->cli.conn, &cs->cfg, "localhost", test_rng()) == 0);
	p->srv.tx = a;
	p->srv.tx_len = SIZE;
	p->cli.tx = b;
	p->cli.tx_len = SIZE;
	p->srv.rx = malloc(SIZE);
	p->cli.rx = malloc(SIZE);
	p->srv.rx_cap = p->cli.rx_cap = SIZE;
	p->srv.read_chunk = 1000; /* never a whole record */
	p->cli.read_chunk = 4099;
	uint64_t t0 = mono_ms();
	side_start(&p->srv, &p->l, p->fds[0]);
	side_start(&p->cli, &p->l, p->fds[1]);
	CHECK(run_until(&p->l, both_received, &p->srv, &p->cli, 30000));
	CHECK_EQ_INT(tls_conn_error(p->srv.conn), 0);
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), 0);
	CHECK_EQ_INT(p->srv.rx_len, SIZE);
	CHECK_EQ_INT(p->cli.rx_len, SIZE);
	CHECK(memcmp(p->srv.rx, b, SIZE) == 0);
	CHECK(memcmp(p->cli.rx, a, SIZE) == 0);
	CHECK(p->srv.again_writes > 0 && p->cli.again_writes > 0); /* back-pressure seen */
	printf("# %s: 1 MiB each way in %llu ms; write back-pressure %d/%d times\n",
	       tcp ? "loopback TCP" : "socketpair", (unsigned long long)(mono_ms() - t0),
	       p->srv.again_writes, p->cli.again_writes);
	pair_free(p);
	free(a);
	free(b);
	free(ss);
	free(cs);
}

static void large_transfer(void)
{
	FX_REQUIRE();
	transfer_case(false);
	transfer_case(true);
}

/* Interop with openssl and curl ---------------------------------------------------------- */

/* fork/exec argv with stdin from a pipe (*in_w, or /dev/null if NULL) and
 * stdout to a pipe (*out_r, non-blocking, or /dev/null), stderr to errfile. */
static pid_t spawn(char *const argv[], int *in_w, int *out_r, const char *errfile)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1};
	if ((in_w && pipe2(in, O_CLOEXEC) != 0) || (out_r && pipe2(out, O_CLOEXEC) != 0))
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		dup2(in_w ? in[0] : devnull, 0);
		dup2(out_r ? out[1] : devnull, 1);
		int e = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(e >= 0 ? e : devnull, 2);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (in_w) {
		close(in[0]);
		*in_w = in[1];
	}
	if (out_r) {
		close(out[1]);
		fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
		*out_r = out[0];
	}
	return pid;
}

static void kill_child(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	int st;
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

static uint16_t free_port(void)
{
	uint16_t port = 0;
	int fd = tcp_listen(&port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void fx_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", fx.dir, name);
}

/* Our client against `openssl s_server -rev` (answers each line reversed). */
static void openssl_server_case(const char *cert, const char *key, bool client_auth,
				const char *expect_suite_prefix)
{
	char certp[128], keyp[128], cap[128], errp[128], acc[32];
	uint16_t port = free_port();
	REQUIRE(port);
	fx_path(certp, sizeof certp, cert);
	fx_path(keyp, sizeof keyp, key);
	fx_path(cap, sizeof cap, "ca.pem");
	fx_path(errp, sizeof errp, "s_server.log");
	snprintf(acc, sizeof acc, "127.0.0.1:%u", port);
	char *argv[] = {"openssl",
			"s_server",
			"-accept",
			acc,
			"-cert",
			certp,
			"-key",
			keyp,
			"-rev",
			"-naccept",
			"1",
			"-CAfile",
			cap,
			client_auth ? "-Verify" : "-quiet",
			client_auth ? "1" : NULL,
			NULL};
	pid_t pid = spawn(argv, NULL, NULL, errp);
	REQUIRE(pid > 0);

	struct cli_setup *cs = cli_new("ca.pem", client_auth ? "cli.pem" : NULL, "cli.key");
	struct pair *p = pair_new();
	REQUIRE(cs && p);
	close(p->fds[0]);
	close(p->fds[1]);
	p->fds[0] = -1;
	p->fds[1] = tcp_connect(port, 5000);
	REQUIRE(p->fds[1] >= 0);
	REQUIRE(tls_conn_init_client(p->cli.conn, &cs->cfg, "localhost", test_rng()) == 0);
	p->cli.tx = (const uint8_t *)"hello traefikee\n";
	p->cli.tx_len = 16;
	p->cli.rx = calloc(1, 256);
	p->cli.rx_cap = 256;
	side_start(&p->cli, &p->l, p->fds[1]);
	CHECK(run_until(&p->l, got_reply, &p->cli, (void *)(uintptr_t)15, 10000));
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), 0);
	if (tls_conn_error(p->cli.conn))
		printf("# client error: %s\n", tls_conn_errmsg(p->cli.conn));
	CHECK(p->cli.rx_len >= 15 && memcmp(p->cli.rx, "eekifeart olleh", 15) == 0);
	CHECK_EQ_INT(tls_conn_version(p->cli.conn), BR_TLS12);
	const char *suite = tls_suite_name(tls_conn_cipher_suite(p->cli.conn));
	CHECK(strncmp(suite, expect_suite_prefix, strlen(expect_suite_prefix)) == 0);
	CHECK_EQ_INT(tls_conn_peer_status(p->cli.conn), TLS_PEER_VERIFIED);
	printf("# openssl s_server (%s): %s, reply \"%.*s\"\n", cert, suite,
	       (int)(p->cli.rx_len ? p->cli.rx_len - 1 : 0), (const char *)p->cli.rx);
	/* Close cleanly; s_server then exits (-naccept 1). */
	tls_conn_close(p->cli.conn);
	side_update(&p->cli, 0);
	run_until(&p->l, both_done, &p->cli, &p->cli, 3000);
	CHECK_EQ_INT(tls_conn_error(p->cli.conn), 0);
	kill_child(pid);
	pair_free(p);
	free(cs);
}

static void interop_openssl_server(void)
{
	FX_REQUIRE();
	openssl_server_case("srv.pem", "srv.key", true, "ECDHE-ECDSA-");
	openssl_server_case("rsa.pem", "rsa.key", false, "ECDHE-RSA-");
}

/* One listening socket whose first connection gets a server conn. */
struct listener {
	int fd;
	struct side *side;
	const struct tls_server_config *cfg;
	int accepted_fd;
};

static void listener_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct listener *ls = arg;
	int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0)
		return;
	if (ls->accepted_fd >= 0 || tls_conn_init_server(ls->side->conn, ls->cfg, test_rng())) {
		close(c);
		return;
	}
	ls->accepted_fd = c;
	side_start(ls->side, l, c);
}

/* Collects a child's stdout through the loop. */
struct outbuf {
	char buf[8192];
	size_t len;
	bool eof;
};

static void outbuf_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct outbuf *o = arg;
	for (;;) {
		ssize_t n = read(fd, o->buf + o->len, sizeof o->buf - 1 - o->len);
		if (n > 0) {
			o->len += (size_t)n;
			o->buf[o->len] = 0;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			o->eof = true;
			loop_del_fd(l, fd);
		}
		return;
	}
}

static bool out_has(void *a, void *b)
{
	struct outbuf *o = a;
	return strstr(o->buf, (const char *)b) != NULL || o->eof;
}

static void interop_openssl_client(void)
{
	FX_REQUIRE();
	struct srv_setup *ss = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_REQUIRED);
	struct pair *p = pair_new();
	REQUIRE(ss && p);
	close(p->fds[0]);
	close(p->fds[1]);
	p->fds[0] = p->fds[1] = -1;
	uint16_t port;
	struct listener ls = {.side = &p->srv, .cfg = &ss->cfg, .accepted_fd = -1};
	ls.fd = tcp_listen(&port);
	REQUIRE(ls.fd >= 0);
	REQUIRE(loop_add_fd(&p->l, ls.fd, LOOP_READ, listener_cb, &ls) == 0);
	p->srv.mode = APP_UPPER;
	p->srv.rx = calloc(1, 256);
	p->srv.rx_cap = 256;

	char cap[128], certp[128], keyp[128], errp[128], conn[32];
	fx_path(cap, sizeof cap, "ca.pem");
	fx_path(certp, sizeof certp, "cli.pem");
	fx_path(keyp, sizeof keyp, "cli.key");
	fx_path(errp, sizeof errp, "s_client.log");
	snprintf(conn, sizeof conn, "127.0.0.1:%u", port);
	char *argv[] = {"openssl",
			"s_client",
			"-connect",
			conn,
			"-servername",
			"localhost",
			"-CAfile",
			cap,
			"-cert",
			certp,
			"-key",
			keyp,
			"-verify_return_error",
			"-quiet",
			NULL};
	int in_w, out_r;
	pid_t pid = spawn(argv, &in_w, &out_r, errp);
	REQUIRE(pid > 0);
	struct outbuf out = {0};
	REQUIRE(loop_add_fd(&p->l, out_r, LOOP_READ, outbuf_cb, &out) == 0);
	CHECK_EQ_INT(write(in_w, "ping from s_client\n", 19), 19);
	CHECK(run_until(&p->l, out_has, &out, "PING FROM S_CLIENT", 10000));
	CHECK(strstr(out.buf, "PING FROM S_CLIENT") != NULL);
	CHECK_EQ_MEM(p->srv.rx, p->srv.rx_len, "ping from s_client\n");
	CHECK_EQ_INT(tls_conn_error(p->srv.conn), 0);
	CHECK_EQ_INT(tls_conn_peer_status(p->srv.conn), TLS_PEER_VERIFIED);
	CHECK_EQ_STR(tls_conn_peer_cn(p->srv.conn), "client-1");
	CHECK_EQ_STR(tls_conn_server_name(p->srv.conn), "localhost");
	printf("# openssl s_client: %s, got \"%.18s\"\n",
	       tls_suite_name(tls_conn_cipher_suite(p->srv.conn)), out.buf);
	/* s_client gets EOF on stdin and sends close_notify (or just goes). */
	close(in_w);
	kill_child(pid);
	if (!out.eof)
		loop_del_fd(&p->l, out_r);
	close(out_r);
	loop_del_fd(&p->l, ls.fd);
	close(ls.fd);
	p->fds[0] = ls.accepted_fd;
	pair_free(p);
	free(ss);
}

/* curl with or without a client certificate against our HTTPS-ish server. */
static void curl_case(bool with_cert)
{
	struct srv_setup *ss = srv_new("srv.pem", "srv.key", TLS_CLIENT_AUTH_REQUIRED);
	struct pair *p = pair_new();
	REQUIRE(ss && p);
	close(p->fds[0]);
	close(p->fds[1]);
	p->fds[0] = p->fds[1] = -1;
	uint16_t port;
	struct listener ls = {.side = &p->srv, .cfg = &ss->cfg, .accepted_fd = -1};
	ls.fd = tcp_listen(&port);
	REQUIRE(ls.fd >= 0);
	REQUIRE(loop_add_fd(&p->l, ls.fd, LOOP_READ, listener_cb, &ls) == 0);
	p->srv.mode = APP_HTTP;
	p->srv.rx = calloc(1, 4096);
	p->srv.rx_cap = 4096;

	char cap[128], certp[128], keyp[128], errp[128], url[64];
	fx_path(cap, sizeof cap, "ca.pem");
	fx_path(certp, sizeof certp, "cli.pem");
	fx_path(keyp, sizeof keyp, "cli.key");
	fx_path(errp, sizeof errp, "curl.log");
	snprintf(url, sizeof url, "https://127.0.0.1:%u/", port);
	char *argv_cert[] = {"curl",   "-sS", "-m",    "10", "--cacert", cap,
			     "--cert", certp, "--key", keyp, url,        NULL};
	char *argv_nocert[] = {"curl", "-sS", "-m", "10", "--cacert", cap, url, NULL};
	int out_r;
	pid_t pid = spawn(with_cert ? argv_cert : argv_nocert, NULL, &out_r, errp);
	REQUIRE(pid > 0);
	struct outbuf out = {0};
	REQUIRE(loop_add_fd(&p->l, out_r, LOOP_READ, outbuf_cb, &out) == 0);
	uint64_t end = mono_ms() + 10000;
	int st = -1;
	while (mono_ms() < end) {
		loop_run_once(&p->l, 20);
		if (waitpid(pid, &st, WNOHANG) == pid) {
			pid = 0;
			break;
		}
	}
	for (int i = 0; i < 20 && !out.eof; i++)
		loop_run_once(&p->l, 10);
	if (pid > 0)
		kill_child(pid);
	if (with_cert) {
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		CHECK_EQ_STR(out.buf, "hello\n");
		CHECK(memmem(p->srv.rx, p->srv.rx_len, "GET / HTTP/1.1\r\n", 16) != NULL);
		CHECK_EQ_STR(tls_conn_peer_cn(p->srv.conn), "client-1");
		CHECK_EQ_STR(tls_conn_server_name(p->srv.conn), ""); /* no SNI for an IP */
		CHECK_EQ_INT(tls_conn_error(p->srv.conn), 0);
		printf("# curl: %s, body \"hello\"\n",
		       tls_suite_name(tls_conn_cipher_suite(p->srv.conn)));
	} else {
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0);
		run_until(&p->l, both_done, &p->srv, &p->srv, 2000);
		CHECK_EQ_INT(tls_conn_error(p->srv.conn), -ERR_TLS_CERT);
		CHECK_EQ_INT(tls_conn_br_error(p->srv.conn), BR_ERR_NO_CLIENT_AUTH);
		printf("# curl without a certificate, exit %d; server: %s\n",
		       WIFEXITED(st) ? WEXITSTATUS(st) : -1, tls_conn_errmsg(p->srv.conn));
	}
	if (!out.eof)
		loop_del_fd(&p->l, out_r);
	close(out_r);
	loop_del_fd(&p->l, ls.fd);
	close(ls.fd);
	p->fds[0] = ls.accepted_fd;
	pair_free(p);
	free(ss);
}

/* Cipher suites by Go name --------------------------------------------------------------- */

/* The Go crypto/tls name table: every supported suite under its names, unsupported real
 * names known (so they are not typos), typos and near-misses unknown. */
static void suite_go_names(void)
{
	static const struct {
		const char *name;
		unsigned id;
		int supported; /* -1: unknown name */
	} t[] = {
		{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xc02b, 1},
		{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xc02c, 1},
		{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xc02f, 1},
		{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 0xc030, 1},
		{"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", 0xcca8, 1},
		{"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xcca8, 1},
		{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", 0xcca9, 1},
		{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", 0xcca9, 1},
		{"TLS_RSA_WITH_RC4_128_SHA", 0x0005, 0},
		{"TLS_RSA_WITH_3DES_EDE_CBC_SHA", 0x000a, 0},
		{"TLS_RSA_WITH_AES_128_CBC_SHA", 0x002f, 0},
		{"TLS_RSA_WITH_AES_256_CBC_SHA", 0x0035, 0},
		{"TLS_RSA_WITH_AES_128_CBC_SHA256", 0x003c, 0},
		{"TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009c, 0},
		{"TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009d, 0},
		{"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", 0xc007, 0},
		{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xc009, 0},
		{"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xc00a, 0},
		{"TLS_ECDHE_RSA_WITH_RC4_128_SHA", 0xc011, 0},
		{"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", 0xc012, 0},
		{"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xc013, 0},
		{"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0xc014, 0},
		{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", 0xc023, 0},
		{"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xc027, 0},
		{"TLS_FALLBACK_SCSV", 0x5600, 0},
		{"TLS_AES_128_GCM_SHA256", 0x1301, 0},
		{"TLS_AES_256_GCM_SHA384", 0x1302, 0},
		{"TLS_CHACHA20_POLY1305_SHA256", 0x1303, 0},
		{"TLS_FOO", 0, -1},
		{"tls_ecdhe_ecdsa_with_aes_128_gcm_sha256", 0, -1}, /* Go's map is case-sensitive */
		{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM", 0, -1},
		{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2566", 0, -1},
		{"TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", 0, -1}, /* not in Go */
		{"ECDHE-ECDSA-AES128-GCM-SHA256", 0, -1},         /* OpenSSL's name */
		{"", 0, -1},
	};
	int nsupported = 0;
	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		const struct tls_suite_info *si =
			tls_suite_by_go_name(t[k].name, strlen(t[k].name));
		if (t[k].supported < 0) {
			if (si)
				TEST_FAIL_("%s: known, expected unknown", t[k].name);
			continue;
		}
		if (!si) {
			TEST_FAIL_("%s: unknown", t[k].name);
			continue;
		}
		CHECK_EQ_STR(si->go_name, t[k].name);
		CHECK_EQ_INT(si->id, t[k].id);
		CHECK_EQ_INT(si->supported, t[k].supported);
		nsupported += si->supported;
		if (si->supported) /* one of the six tls_conn.c offers */
			CHECK(strcmp(tls_suite_name(si->id), "unknown") != 0);
	}
	CHECK_EQ_INT(nsupported, 8); /* six suites, two with a second name */
	/* a prefix of a real name with its length is not that name */
	CHECK(tls_suite_by_go_name("TLS_FALLBACK_SCSV", 8) == NULL);
	CHECK(tls_suite_by_go_name(NULL, 0) == NULL);
	/* the restriction takes only suites we serve */
	struct tls_server_config *cfg = calloc(1, sizeof *cfg);
	REQUIRE(cfg && tls_server_config_init(cfg, NULL, 0) == 0);
	uint16_t ids[] = {0xc02c, 0x002f};
	CHECK_EQ_INT(tls_server_restrict_suites(cfg, ids, 2), -ERR_INVAL);
	CHECK_EQ_INT(cfg->suite_mask, 0); /* unchanged */
	CHECK_EQ_INT(tls_server_restrict_suites(cfg, NULL, 1), -ERR_INVAL);
	CHECK_EQ_INT(tls_server_restrict_suites(NULL, ids, 1), -ERR_INVAL);
	CHECK_EQ_INT(tls_server_restrict_suites(cfg, ids, 1), 0);
	CHECK(cfg->suite_mask != 0);
	CHECK_EQ_INT(tls_server_restrict_suites(cfg, NULL, 0), 0); /* lifted */
	CHECK_EQ_INT(cfg->suite_mask, 0);
	free(cfg);
}

/* One in-memory handshake: a server with chain/key restricted to allow[0..nallow) (none: not
 * restricted), a client offering offer[0..noffer) (BearSSL, our client set-up with its suite
 * list replaced). Returns the negotiated suite, or 0 when the handshake failed (*smsg gets the
 * server's error message). */
static unsigned restricted_handshake(const char *chain, const char *key, const uint16_t *allow,
				     size_t nallow, const uint16_t *offer, size_t noffer,
				     char *smsg, size_t smsg_cap)
{
	struct srv_setup *ss = srv_new(chain, key, TLS_CLIENT_AUTH_NONE);
	struct cli_setup *cs = cli_new("ca.pem", NULL, NULL);
	struct tls_conn *s = malloc(tls_conn_size()), *c = malloc(tls_conn_size());
	unsigned got = 0;
	smsg[0] = 0;
	if (!ss || !cs || !s || !c || tls_server_restrict_suites(&ss->cfg, allow, nallow) != 0 ||
	    tls_conn_init_server(s, &ss->cfg, test_rng()) != 0 ||
	    tls_conn_init_client(c, &cs->cfg, "localhost", test_rng()) != 0) {
		TEST_FAIL_("restricted_handshake: set-up failed");
		goto out;
	}
	br_ssl_engine_set_suites(c->eng, offer, noffer);
	if (!br_ssl_client_reset(&c->u.cli, "localhost", 0)) {
		TEST_FAIL_("restricted_handshake: client reset failed");
		goto out;
	}
	for (int steps = 0; pump_mem(s, c, 4096) && steps < 1000; steps++)
		;
	if (tls_conn_handshake_done(s) && tls_conn_handshake_done(c) && !tls_conn_error(s) &&
	    !tls_conn_error(c)) {
		got = tls_conn_cipher_suite(s);
		if (tls_conn_cipher_suite(c) != got)
			TEST_FAIL_("client and server disagree on the suite");
	} else {
		snprintf(smsg, smsg_cap, "%s", tls_conn_errmsg(s));
	}
out:
	free(s);
	free(c);
	free(ss);
	free(cs);
	return got;
}

/* tls_server_restrict_suites: a client offering only a suite the server does not allow fails
 * the handshake; offering both, it gets the allowed one; the server's order is kept among
 * allowed suites; an unrestricted server is unchanged. */
static void restricted_suites(void)
{
	FX_REQUIRE();
	const uint16_t A128 = BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		       A256 = BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		       CHA = BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		       R256 = BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384;
	char m[TLS_ERRMSG_MAX];

	uint16_t only256[] = {A256}, only128[] = {A128}, both[] = {A128, A256};
	/* offering only a suite not allowed: refused */
	CHECK_EQ_INT(
		restricted_handshake("srv.pem", "srv.key", only256, 1, only128, 1, m, sizeof m), 0);
	CHECK(strstr(m, "no cipher suite in common") && strstr(m, "cipherSuites restricted"));
	/* offering both (128 first, the client's and our preference): the allowed one */
	CHECK_EQ_INT(restricted_handshake("srv.pem", "srv.key", only256, 1, both, 2, m, sizeof m),
		     A256);
	/* offering exactly the allowed one */
	CHECK_EQ_INT(
		restricted_handshake("srv.pem", "srv.key", only256, 1, only256, 1, m, sizeof m),
		A256);
	/* unrestricted: our first choice among the offered ones */
	CHECK_EQ_INT(restricted_handshake("srv.pem", "srv.key", NULL, 0, both, 2, m, sizeof m),
		     A128);
	CHECK_EQ_INT(restricted_handshake("srv.pem", "srv.key", NULL, 0, only256, 1, m, sizeof m),
		     A256);
	/* several allowed, the client's order reversed: our order decides (AES-128 before
	 * AES-256 in both of our lists) */
	uint16_t allow2[] = {A256, A128}, rev[] = {A256, CHA, A128};
	CHECK_EQ_INT(restricted_handshake("srv.pem", "srv.key", allow2, 2, rev, 3, m, sizeof m),
		     A128);
	/* allowed suites that do not fit the certificate's key: refused */
	uint16_t rsa_only[] = {R256}, cli_any[] = {A128, A256, CHA, R256};
	CHECK_EQ_INT(
		restricted_handshake("srv.pem", "srv.key", rsa_only, 1, cli_any, 4, m, sizeof m),
		0);
	CHECK(strstr(m, "for an ECDSA certificate (cipherSuites restricted)") != NULL);
	/* the same for an RSA certificate */
	uint16_t rsa_both[] = {BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, R256};
	CHECK_EQ_INT(restricted_handshake("rsa.pem", "rsa_trad.key", rsa_only, 1, rsa_both, 2, m,
					  sizeof m),
		     R256);
	CHECK_EQ_INT(restricted_handshake("rsa.pem", "rsa_trad.key", rsa_only, 1, rsa_both, 1, m,
					  sizeof m),
		     0);
}

static void interop_curl(void)
{
	FX_REQUIRE();
	curl_case(true);
	curl_case(false);
}

TEST_MAIN(pem_key_formats, pem_errors, cap_chain, cap_sni_entries, cap_trust_anchors,
	  cap_store_bytes, name_rules, sni_pick_rules, error_mapping, conn_init_errors,
	  conn_engine_rng_per_connection, memory_handshake_byte_by_byte, conn_trim_idle, mtls_ok,
	  mtls_client_from_other_ca, mtls_no_client_cert_required, mtls_optional, pin_ca_digest,
	  pin_does_not_skip_checks, sni_select, sni_strict_refuses, server_name_checks,
	  validity_dates, insecure_skip_verify, rsa_server_cert, big_peer_certificate,
	  close_notify_both_ways, truncation_without_close_notify, peer_hangs_up_mid_handshake,
	  large_transfer, suite_go_names, restricted_suites, interop_openssl_server,
	  interop_openssl_client, interop_curl)
