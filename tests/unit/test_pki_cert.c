/* Unit tests for pki_key, pki_pem and pki_cert, with OpenSSL as the
 * independent judge.
 *
 * Cross-checks run the openssl command-line tool from this test (never
 * from src/): `openssl x509 -text`, `openssl verify -x509_strict`,
 * `openssl ec -check`, `openssl pkey -pubout`, and TLS handshakes both ways
 * (`openssl s_server` against a BearSSL client, a BearSSL server against
 * `openssl s_client`), over loopback only. Every file goes to a mkdtemp()
 * directory that is removed at the end of the case; every child process is
 * killed by its PID and reaped.
 */
#include "base/base_err.h"
#include "pki/pki_cert.h"
#include "pki/pki_der.h"
#include "pki/pki_key.h"
#include "pki/pki_pem.h"
#include "test.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* --- fixture ------------------------------------------------------------- */

static const char *const node_dns[] = {"localhost", "node1.cluster.local"};
#define NODE_ID "k3ld9a0zq8w7e6r5t4y3u2i1o"

struct cert {
	uint8_t der[PKI_CERT_MAX];
	size_t len;
};

/* The world the tests look at: two independent CAs, and from each a node
 * certificate and an admin certificate. */
static struct {
	struct rand r;
	int64_t now;
	struct pki_ca ca, ca2;
	struct pki_key node_key, admin_key;
	struct cert node, admin, node2, admin2; /* node2/admin2: issued by ca2 */
	struct pki_ip ips[2];
	char dir[64];
} fx;

static int issue(struct pki_ca *ca, enum pki_role role, const char *id, const struct pki_key *k,
		 int64_t now, struct cert *out)
{
	struct pki_cert_req req = {role, id, k->pub, 0, NULL, 0, NULL, 0};
	if (role != PKI_ROLE_ADMIN) {
		req.dns = node_dns;
		req.ndns = 2;
		req.ips = fx.ips;
		req.nips = 2;
	}
	struct buf b;
	buf_init(&b, out->der, sizeof out->der);
	int rc = pki_cert_issue(ca, &fx.r, &req, now, &b);
	out->len = b.len;
	return rc;
}

/* Build the fixture at `now` (real time for anything OpenSSL looks at). */
static int fx_setup(int64_t now)
{
	memset(&fx, 0, sizeof fx);
	rand_init_seed(&fx.r, "pki-cert-tests", 14);
	fx.now = now;
	if (pki_ip_parse("127.0.0.1", &fx.ips[0]) || pki_ip_parse("::1", &fx.ips[1]))
		return -1;
	if (pki_ca_create(&fx.ca, &fx.r, "test-cluster", now) ||
	    pki_ca_create(&fx.ca2, &fx.r, "test-cluster", now))
		return -1;
	if (pki_key_generate(&fx.node_key, &fx.r) || pki_key_generate(&fx.admin_key, &fx.r))
		return -1;
	if (issue(&fx.ca, PKI_ROLE_CONTROL, NODE_ID, &fx.node_key, now, &fx.node) ||
	    issue(&fx.ca, PKI_ROLE_ADMIN, "admin", &fx.admin_key, now, &fx.admin) ||
	    issue(&fx.ca2, PKI_ROLE_CONTROL, NODE_ID, &fx.node_key, now, &fx.node2) ||
	    issue(&fx.ca2, PKI_ROLE_ADMIN, "admin", &fx.admin_key, now, &fx.admin2))
		return -1;
	return 0;
}

static int64_t wall_now(void)
{
	return (int64_t)time(NULL);
}

/* --- files and commands (test side only) --------------------------------- */

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", fx.dir, name);
}

static int tmpdir_make(void)
{
	snprintf(fx.dir, sizeof fx.dir, "/tmp/tee-pki-XXXXXX");
	return mkdtemp(fx.dir) ? 0 : -1;
}

static void tmpdir_remove(void)
{
	DIR *d = opendir(fx.dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char p[256];
		path_of(p, sizeof p, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(fx.dir);
}

static int write_pem(const char *name, const char *banner, const void *der, size_t len)
{
	static char pem[8192];
	char p[256];
	struct buf b;
	buf_init(&b, pem, sizeof pem);
	if (pki_pem_encode(banner, der, len, &b))
		return -1;
	path_of(p, sizeof p, name);
	return pki_file_write_atomic(p, b.data, b.len, PKI_FILE_MODE_CERT);
}

static int write_key(const char *name, struct pki_key *k, enum pki_key_format f)
{
	static char pem[PKI_KEY_PEM_MAX];
	char p[256];
	struct buf b;
	buf_init(&b, pem, sizeof pem);
	if (pki_key_to_pem(k, f, &b))
		return -1;
	path_of(p, sizeof p, name);
	return pki_file_write_atomic(p, b.data, b.len, PKI_FILE_MODE_KEY);
}

/* ca.pem ca2.pem node.pem node.key admin.pem admin.key node2.pem admin2.pem */
static int write_all_files(void)
{
	return write_pem("ca.pem", PKI_PEM_CERT, fx.ca.cert, fx.ca.cert_len) ||
	       write_pem("ca2.pem", PKI_PEM_CERT, fx.ca2.cert, fx.ca2.cert_len) ||
	       write_pem("node.pem", PKI_PEM_CERT, fx.node.der, fx.node.len) ||
	       write_pem("admin.pem", PKI_PEM_CERT, fx.admin.der, fx.admin.len) ||
	       write_pem("node2.pem", PKI_PEM_CERT, fx.node2.der, fx.node2.len) ||
	       write_pem("admin2.pem", PKI_PEM_CERT, fx.admin2.der, fx.admin2.len) ||
	       write_key("node.key", &fx.node_key, PKI_KEY_SEC1) ||
	       write_key("admin.key", &fx.admin_key, PKI_KEY_PKCS8);
}

/* Run a shell command in the fixture directory; stdout and stderr go to
 * out (NUL-terminated, cut at cap). Returns the exit status, or -1. */
static int run(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[1024];
	int k = snprintf(cmd, sizeof cmd, "cd '%s' && ", fx.dir);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd + k, sizeof cmd - (size_t)k, fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	size_t n = 0;
	if (cap)
		out[0] = 0;
	for (;;) {
		size_t got = fread(out + n, 1, cap - 1 - n, p);
		if (got == 0)
			break;
		n += got;
		if (n == cap - 1) { /* drain the rest */
			char sink[256];
			while (fread(sink, 1, sizeof sink, p) > 0)
				;
			break;
		}
	}
	out[n] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define CHECK_HAS(hay, needle)                                                   \
	do {                                                                     \
		if (!strstr((hay), (needle)))                                    \
			TEST_FAIL_("output lacks \"%s\":\n%s", (needle), (hay)); \
	} while (0)
#define CHECK_LACKS(hay, needle)                                               \
	do {                                                                   \
		if (strstr((hay), (needle)))                                   \
			TEST_FAIL_("output has \"%s\":\n%s", (needle), (hay)); \
	} while (0)

/* --- keys ------------------------------------------------------------------ */

static void key_generate_is_seeded_and_valid(void)
{
	struct rand r1, r2, r3;
	struct pki_key a, b, c;
	rand_init_seed(&r1, "k", 1);
	rand_init_seed(&r2, "k", 1);
	rand_init_seed(&r3, "K", 1);
	REQUIRE(pki_key_generate(&a, &r1) == 0);
	REQUIRE(pki_key_generate(&b, &r2) == 0);
	REQUIRE(pki_key_generate(&c, &r3) == 0);
	CHECK(memcmp(&a, &b, sizeof a) == 0);
	CHECK(memcmp(a.priv, c.priv, sizeof a.priv) != 0);
	CHECK_EQ_INT(a.pub[0], 0x04);
	CHECK_EQ_INT(pki_key_pub_check(a.pub, sizeof a.pub), 0);
	CHECK_EQ_INT(pki_key_pub_check(c.pub, sizeof c.pub), 0);
	pki_key_wipe(&c);
	static const struct pki_key zero;
	CHECK(memcmp(&c, &zero, sizeof c) == 0);
}

static void key_der_and_pem_roundtrip(void)
{
	struct rand r;
	struct pki_key k, back;
	rand_init_seed(&r, "der", 3);
	REQUIRE(pki_key_generate(&k, &r) == 0);
	static const struct {
		enum pki_key_format f;
		size_t der_len;
		const char *banner;
	} forms[] = {{PKI_KEY_SEC1, 121, "-----BEGIN EC PRIVATE KEY-----\n"},
		     {PKI_KEY_PKCS8, 138, "-----BEGIN PRIVATE KEY-----\n"}};
	for (size_t i = 0; i < 2; i++) {
		uint8_t der[PKI_KEY_DER_MAX];
		char pem[PKI_KEY_PEM_MAX];
		struct buf b;
		buf_init(&b, der, sizeof der);
		REQUIRE(pki_key_to_der(&k, forms[i].f, &b) == 0);
		CHECK_EQ_INT(b.len, forms[i].der_len);
		memset(&back, 0x55, sizeof back);
		CHECK_EQ_INT(pki_key_from_der(&back, der, b.len), 0);
		CHECK(memcmp(&k, &back, sizeof k) == 0);
		/* The cap: one byte short fails and appends nothing. */
		buf_init(&b, der, forms[i].der_len - 1);
		CHECK_EQ_INT(pki_key_to_der(&k, forms[i].f, &b), -ERR_BUF_FULL);
		CHECK_EQ_INT(b.len, 0);

		buf_init(&b, pem, sizeof pem);
		REQUIRE(pki_key_to_pem(&k, forms[i].f, &b) == 0);
		CHECK(strncmp(pem, forms[i].banner, strlen(forms[i].banner)) == 0);
		CHECK_EQ_INT(strlen(pem), b.len);
		memset(&back, 0, sizeof back);
		CHECK_EQ_INT(pki_key_from_pem(&back, pem, b.len), 0);
		CHECK(memcmp(&k, &back, sizeof k) == 0);
	}
	/* A certificate is not a key: no key object in it. */
	char pem[PKI_KEY_PEM_MAX];
	struct buf b;
	buf_init(&b, pem, sizeof pem);
	REQUIRE(pki_pem_encode(PKI_PEM_CERT, "abc", 3, &b) == 0);
	CHECK_EQ_INT(pki_key_from_pem(&back, pem, b.len), -ERR_NOTFOUND);
}

/* Hand-written SEC1 ECPrivateKey (RFC 5915 §3) with a chosen scalar/curve. */
static size_t sec1_with(const uint8_t *x, size_t xlen, const uint8_t *curve_oid, size_t oidlen,
			uint8_t *out, size_t cap)
{
	struct buf b;
	struct pki_der w;
	buf_init(&b, out, cap);
	pki_der_init(&w, &b);
	pki_der_begin(&w, PKI_DER_SEQUENCE);
	pki_der_int_u64(&w, 1);
	pki_der_octets(&w, x, xlen);
	pki_der_begin(&w, PKI_DER_CTX_CONS(0));
	pki_der_oid(&w, curve_oid, oidlen);
	pki_der_end(&w);
	pki_der_end(&w);
	return pki_der_finish(&w) ? 0 : b.len;
}

static void key_from_der_rejects(void)
{
	static const uint8_t p256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	static const uint8_t p384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
	static const uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
				      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				      0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
				      0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
	uint8_t x[32], der[200];
	struct pki_key k;
	size_t len;

	memset(x, 0, sizeof x);
	len = sec1_with(x, 32, p256, sizeof p256, der, sizeof der);
	CHECK_EQ_INT(pki_key_from_der(&k, der, len), -ERR_PKI_KEY); /* zero */
	len = sec1_with(n, 32, p256, sizeof p256, der, sizeof der);
	CHECK_EQ_INT(pki_key_from_der(&k, der, len), -ERR_PKI_KEY); /* n */
	memcpy(x, n, 32);
	x[31]--; /* n - 1: the largest valid scalar */
	len = sec1_with(x, 32, p256, sizeof p256, der, sizeof der);
	CHECK_EQ_INT(pki_key_from_der(&k, der, len), 0);
	CHECK_EQ_INT(pki_key_pub_check(k.pub, sizeof k.pub), 0);
	memset(x, 0, sizeof x);
	x[31] = 1; /* 1: the smallest; its public key is the base point */
	len = sec1_with(x, 32, p256, sizeof p256, der, sizeof der);
	CHECK_EQ_INT(pki_key_from_der(&k, der, len), 0);
	CHECK_EQ_INT(k.pub[1], 0x6b); /* Gx begins 6B17D1F2 */
	len = sec1_with(x, 32, p384, sizeof p384, der, sizeof der);
	CHECK_EQ_INT(pki_key_from_der(&k, der, len), -ERR_PKI_KEY); /* wrong curve */

	/* Every truncation of a real key, and garbage. */
	struct rand r;
	struct pki_key good;
	rand_init_seed(&r, "t", 1);
	REQUIRE(pki_key_generate(&good, &r) == 0);
	struct buf b;
	buf_init(&b, der, sizeof der);
	REQUIRE(pki_key_to_der(&good, PKI_KEY_PKCS8, &b) == 0);
	for (size_t i = 0; i < b.len; i++)
		if (pki_key_from_der(&k, der, i) != -ERR_PKI_KEY)
			TEST_FAIL_("accepted a %zu-byte prefix", i);
	CHECK_EQ_INT(pki_key_from_der(&k, "garbage", 7), -ERR_PKI_KEY);
	static const struct pki_key zero;
	CHECK(memcmp(&k, &zero, sizeof k) == 0); /* wiped on error */
}

static void key_pub_check_rejects(void)
{
	struct rand r;
	struct pki_key k;
	rand_init_seed(&r, "p", 1);
	REQUIRE(pki_key_generate(&k, &r) == 0);
	uint8_t pub[PKI_KEY_PUB_LEN];
	CHECK_EQ_INT(pki_key_pub_check(k.pub, 64), -ERR_PKI_KEY);
	memcpy(pub, k.pub, sizeof pub);
	pub[0] = 0x02;
	CHECK_EQ_INT(pki_key_pub_check(pub, sizeof pub), -ERR_PKI_KEY);
	memcpy(pub, k.pub, sizeof pub);
	pub[64] ^= 1; /* off the curve */
	CHECK_EQ_INT(pki_key_pub_check(pub, sizeof pub), -ERR_PKI_KEY);
	memset(pub, 0, sizeof pub);
	pub[0] = 0x04;
	CHECK_EQ_INT(pki_key_pub_check(pub, sizeof pub), -ERR_PKI_KEY);
}

static void key_spki_id_and_signature(void)
{
	struct rand r;
	struct pki_key k;
	rand_init_seed(&r, "s", 1);
	REQUIRE(pki_key_generate(&k, &r) == 0);
	uint8_t spki[PKI_SPKI_LEN];
	struct buf b;
	buf_init(&b, spki, sizeof spki);
	REQUIRE(pki_key_spki(k.pub, &b) == 0);
	CHECK_EQ_INT(b.len, PKI_SPKI_LEN);
	static const uint8_t head[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
				       0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
				       0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
	CHECK(memcmp(spki, head, sizeof head) == 0);
	CHECK(memcmp(spki + sizeof head, k.pub, PKI_KEY_PUB_LEN) == 0);
	buf_init(&b, spki, PKI_SPKI_LEN - 1);
	CHECK_EQ_INT(pki_key_spki(k.pub, &b), -ERR_BUF_FULL);

	uint8_t id[PKI_KEY_ID_LEN], id2[PKI_KEY_ID_LEN];
	pki_key_id(k.pub, id);
	pki_key_id(k.pub, id2);
	CHECK(memcmp(id, id2, sizeof id) == 0);

	uint8_t hash[32], sig[PKI_SIG_MAX];
	size_t siglen;
	memset(hash, 0x42, sizeof hash);
	REQUIRE(pki_key_sign(&k, hash, sig, &siglen) == 0);
	CHECK(siglen >= 8 && siglen <= PKI_SIG_MAX && sig[0] == 0x30);
	CHECK(pki_key_verify(k.pub, hash, sig, siglen));
	hash[0] ^= 1;
	CHECK(!pki_key_verify(k.pub, hash, sig, siglen));
}

/* --- PEM and files ---------------------------------------------------------- */

static void pem_roundtrip_chain_and_errors(void)
{
	static char text[4096];
	uint8_t der1[300], der2[5], out[400];
	for (size_t i = 0; i < sizeof der1; i++)
		der1[i] = (uint8_t)(i * 7);
	memcpy(der2, "\x30\x03\x02\x01\x07", 5);
	struct buf t, o;
	buf_init(&t, text, sizeof text);
	buf_append_cstr(&t, "junk before\n");
	REQUIRE(pki_pem_encode("CERTIFICATE", der1, sizeof der1, &t) == 0);
	REQUIRE(pki_pem_encode("EC PARAMETERS", "x", 1, &t) == 0);
	REQUIRE(pki_pem_encode("CERTIFICATE", der2, sizeof der2, &t) == 0);
	CHECK_EQ_INT(strlen(text), t.len);
	CHECK(strstr(text, "-----BEGIN CERTIFICATE-----\n") != NULL);

	/* Walk the certificates, skipping the other object. */
	struct slice in = buf_slice(&t);
	char label[32];
	buf_init(&o, out, sizeof out);
	CHECK_EQ_INT(pki_pem_decode(&in, PKI_PEM_CERT, &o, label, sizeof label), 0);
	CHECK(o.len == sizeof der1 && memcmp(out, der1, sizeof der1) == 0);
	CHECK_EQ_STR(label, "CERTIFICATE");
	buf_init(&o, out, sizeof out);
	CHECK_EQ_INT(pki_pem_decode(&in, PKI_PEM_CERT, &o, NULL, 0), 0);
	CHECK(o.len == 5 && memcmp(out, der2, 5) == 0);
	CHECK_EQ_INT(pki_pem_decode(&in, PKI_PEM_CERT, &o, NULL, 0), -ERR_NOTFOUND);
	CHECK_EQ_INT(in.len, 0);

	/* Any label, and the label reported. */
	in = buf_slice(&t);
	buf_init(&o, out, sizeof out);
	REQUIRE(pki_pem_decode(&in, NULL, &o, label, sizeof label) == 0);
	REQUIRE(pki_pem_decode(&in, NULL, &o, label, sizeof label) == 0);
	CHECK_EQ_STR(label, "EC PARAMETERS");

	/* Output cap: one byte short fails with nothing appended. */
	in = buf_slice(&t);
	buf_init(&o, out, sizeof der1 - 1);
	CHECK_EQ_INT(pki_pem_decode(&in, PKI_PEM_CERT, &o, NULL, 0), -ERR_BUF_FULL);
	CHECK_EQ_INT(o.len, 0);

	/* Without a final newline it still decodes. */
	char one[200];
	struct buf ob;
	buf_init(&ob, one, sizeof one);
	REQUIRE(pki_pem_encode("CERTIFICATE", der2, 5, &ob) == 0);
	in = (struct slice){one, ob.len - 1};
	buf_init(&o, out, sizeof out);
	CHECK_EQ_INT(pki_pem_decode(&in, PKI_PEM_CERT, &o, NULL, 0), 0);

	/* Cut before END, and broken base64. */
	in = (struct slice){one, ob.len - 20};
	buf_init(&o, out, sizeof out);
	CHECK_EQ_INT(pki_pem_decode(&in, PKI_PEM_CERT, &o, NULL, 0), -ERR_PARSE);
	CHECK_EQ_INT(o.len, 0);
	static const char bad[] = "-----BEGIN CERTIFICATE-----\nMA*D\n-----END CERTIFICATE-----\n";
	in = (struct slice){bad, sizeof bad - 1};
	CHECK_EQ_INT(pki_pem_decode(&in, PKI_PEM_CERT, &o, NULL, 0), -ERR_PARSE);

	/* Encode cap: size + 1 (the NUL) fits, size does not. */
	size_t need = pki_pem_size("CERTIFICATE", sizeof der1);
	buf_init(&o, text, need);
	CHECK_EQ_INT(pki_pem_encode("CERTIFICATE", der1, sizeof der1, &o), -ERR_BUF_FULL);
	CHECK_EQ_INT(o.len, 0);
	buf_init(&o, text, need + 1);
	CHECK_EQ_INT(pki_pem_encode("CERTIFICATE", der1, sizeof der1, &o), 0);
	CHECK_EQ_INT(o.len, need);
}

static void file_write_atomic_and_read(void)
{
	REQUIRE(tmpdir_make() == 0);
	char p[256], tmp[260];
	path_of(p, sizeof p, "key.pem");
	snprintf(tmp, sizeof tmp, "%s.tmp", p);
	struct stat st;

	CHECK_EQ_INT(pki_file_write_atomic(p, "first", 5, PKI_FILE_MODE_KEY), 0);
	REQUIRE(stat(p, &st) == 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0600);
	CHECK_EQ_INT(st.st_size, 5);
	/* A stale .tmp from a crashed writer does not block the next write. */
	int fd = open(tmp, O_WRONLY | O_CREAT, 0644);
	REQUIRE(fd >= 0);
	close(fd);
	CHECK_EQ_INT(pki_file_write_atomic(p, "second!", 7, PKI_FILE_MODE_KEY), 0);
	CHECK(access(tmp, F_OK) != 0);
	REQUIRE(stat(p, &st) == 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0600);

	uint8_t mem[8];
	struct buf b;
	buf_init(&b, mem, 7); /* exactly the size */
	CHECK_EQ_INT(pki_file_read(p, &b), 0);
	CHECK_EQ_MEM(b.data, b.len, "second!");
	buf_init(&b, mem, 6); /* one short */
	CHECK_EQ_INT(pki_file_read(p, &b), -ERR_TOO_LARGE);
	CHECK_EQ_INT(b.len, 0);

	char missing[256];
	path_of(missing, sizeof missing, "nodir/x.pem");
	CHECK_EQ_INT(pki_file_write_atomic(missing, "x", 1, PKI_FILE_MODE_CERT), -ERR_NOTFOUND);
	CHECK_EQ_INT(pki_file_read(missing, &b), -ERR_NOTFOUND);
	static char longpath[PKI_PATH_MAX + 10];
	memset(longpath, 'a', sizeof longpath - 1);
	CHECK_EQ_INT(pki_file_write_atomic(longpath, "x", 1, PKI_FILE_MODE_CERT), -ERR_RANGE);
	tmpdir_remove();
}

/* --- certificates ----------------------------------------------------------- */

static void ca_profile_and_determinism(void)
{
	const int64_t now = 1800000000; /* 2027-01-15 */
	REQUIRE(fx_setup(now) == 0);
	const struct pki_cert_info *ci = &fx.ca.info;
	CHECK(ci->is_ca);
	CHECK(memcmp(ci->pub, fx.ca.key.pub, PKI_KEY_PUB_LEN) == 0);
	CHECK_EQ_INT(ci->not_before, now - PKI_BACKDATE);
	CHECK_EQ_INT(ci->not_after, now + PKI_CA_LIFETIME);
	CHECK_EQ_STR(fx.ca.cluster, "test-cluster");
	struct pki_identity id;
	REQUIRE(pki_name_identity(ci->dn, ci->dn_len, &id) == 0);
	CHECK_EQ_INT(id.role, PKI_ROLE_NONE);
	CHECK_EQ_STR(id.id, PKI_CA_CN);
	CHECK_EQ_STR(id.cluster, "test-cluster");

	/* Same seed, same time: the same bytes (RFC 6979 signatures). */
	static struct pki_ca again;
	struct rand r;
	rand_init_seed(&r, "pki-cert-tests", 14);
	REQUIRE(pki_ca_create(&again, &r, "test-cluster", now) == 0);
	CHECK(again.cert_len == fx.ca.cert_len &&
	      memcmp(again.cert, fx.ca.cert, again.cert_len) == 0);
	/* A CA validates itself as a trust anchor. */
	br_x509_trust_anchor ta;
	pki_cert_trust_anchor(ci, &ta);
	CHECK_EQ_INT(pki_cert_verify(&ta, 1, fx.ca.cert, fx.ca.cert_len, now, NULL, NULL), 0);

	const char *bad[] = {"", "tab\there", "x\x7f", NULL};
	for (int i = 0; i < 4; i++)
		CHECK_EQ_INT(pki_ca_create(&again, &r, bad[i], now), -ERR_INVAL);
	char long_name[PKI_ATTR_MAX + 2];
	memset(long_name, 'c', sizeof long_name - 1);
	long_name[PKI_ATTR_MAX + 1] = 0;
	CHECK_EQ_INT(pki_ca_create(&again, &r, long_name, now), -ERR_INVAL);
	long_name[PKI_ATTR_MAX] = 0; /* exactly the cap */
	CHECK_EQ_INT(pki_ca_create(&again, &r, long_name, now), 0);
	CHECK_EQ_STR(again.cluster, long_name);
}

static void ca_load_roundtrip_and_mismatch(void)
{
	const int64_t now = 1800000000;
	REQUIRE(fx_setup(now) == 0);
	uint8_t key[PKI_KEY_DER_MAX], key2[PKI_KEY_DER_MAX];
	struct buf kb, kb2;
	buf_init(&kb, key, sizeof key);
	buf_init(&kb2, key2, sizeof key2);
	REQUIRE(pki_key_to_der(&fx.ca.key, PKI_KEY_SEC1, &kb) == 0);
	REQUIRE(pki_key_to_der(&fx.ca2.key, PKI_KEY_PKCS8, &kb2) == 0);

	static struct pki_ca loaded;
	REQUIRE(pki_ca_load(&loaded, fx.ca.cert, fx.ca.cert_len, key, kb.len) == 0);
	CHECK(memcmp(loaded.key_id, fx.ca.key_id, PKI_KEY_ID_LEN) == 0);
	CHECK_EQ_STR(loaded.cluster, "test-cluster");
	CHECK(memcmp(&loaded.info, &fx.ca.info, sizeof loaded.info) == 0);

	/* The loaded CA issues what the original's anchor accepts. */
	struct cert c;
	REQUIRE(issue(&loaded, PKI_ROLE_DATA, NODE_ID, &fx.node_key, now, &c) == 0);
	br_x509_trust_anchor ta;
	pki_cert_trust_anchor(&fx.ca.info, &ta);
	CHECK_EQ_INT(pki_cert_verify(&ta, 1, c.der, c.len, now, NULL, NULL), 0);

	CHECK_EQ_INT(pki_ca_load(&loaded, fx.ca.cert, fx.ca.cert_len, key2, kb2.len), -ERR_PKI_KEY);
	CHECK_EQ_INT(pki_ca_load(&loaded, fx.ca.cert, fx.ca.cert_len, "bad", 3), -ERR_PKI_KEY);
	CHECK_EQ_INT(pki_ca_load(&loaded, fx.node.der, fx.node.len, key, kb.len), -ERR_PKI_CERT);
	CHECK_EQ_INT(pki_ca_load(&loaded, fx.ca.cert, fx.ca.cert_len - 1, key, kb.len),
		     -ERR_PKI_CERT);
	static const struct pki_key zero;
	CHECK(memcmp(&loaded.key, &zero, sizeof zero) == 0); /* wiped on failure */
}

static void node_cert_profile(void)
{
	const int64_t now = 1800000000;
	REQUIRE(fx_setup(now) == 0);
	struct pki_cert_info ci;
	REQUIRE(pki_cert_parse(fx.node.der, fx.node.len, &ci) == 0);
	CHECK(!ci.is_ca);
	CHECK(memcmp(ci.pub, fx.node_key.pub, PKI_KEY_PUB_LEN) == 0);
	CHECK_EQ_INT(ci.not_before, now - PKI_BACKDATE);
	CHECK_EQ_INT(ci.not_after, now + PKI_NODE_LIFETIME_DEFAULT);
	struct pki_identity id;
	REQUIRE(pki_name_identity(ci.dn, ci.dn_len, &id) == 0);
	CHECK_EQ_INT(id.role, PKI_ROLE_CONTROL);
	CHECK_EQ_STR(id.id, NODE_ID);
	CHECK_EQ_STR(id.cluster, "test-cluster");

	REQUIRE(pki_cert_parse(fx.admin.der, fx.admin.len, &ci) == 0);
	REQUIRE(pki_name_identity(ci.dn, ci.dn_len, &id) == 0);
	CHECK_EQ_INT(id.role, PKI_ROLE_ADMIN);
	CHECK_EQ_STR(id.id, "admin");

	struct cert c;
	REQUIRE(issue(&fx.ca, PKI_ROLE_DATA, "d1", &fx.node_key, now, &c) == 0);
	REQUIRE(pki_cert_parse(c.der, c.len, &ci) == 0);
	REQUIRE(pki_name_identity(ci.dn, ci.dn_len, &id) == 0);
	CHECK_EQ_INT(id.role, PKI_ROLE_DATA);

	/* Name checks by BearSSL: SAN dNSName entries. */
	br_x509_trust_anchor ta;
	int be = 0;
	pki_cert_trust_anchor(&fx.ca.info, &ta);
	CHECK_EQ_INT(pki_cert_verify(&ta, 1, fx.node.der, fx.node.len, now, "localhost", &be), 0);
	CHECK_EQ_INT(
		pki_cert_verify(&ta, 1, fx.node.der, fx.node.len, now, "node1.cluster.local", &be),
		0);
	CHECK_EQ_INT(pki_cert_verify(&ta, 1, fx.node.der, fx.node.len, now, "other.example", &be),
		     -ERR_PKI_CERT);
	CHECK_EQ_INT(be, BR_ERR_X509_BAD_SERVER_NAME);
	CHECK_EQ_INT(pki_cert_verify(&ta, 1, fx.admin.der, fx.admin.len, now, NULL, &be), 0);
}

/* Walk the DER: serial positive and at most 17 bytes, extensions in the
 * profile with the right criticality. */
static void cert_der_structure(void)
{
	REQUIRE(fx_setup(1800000000) == 0);
	static const uint8_t bc[] = {0x55, 0x1d, 0x13}, ku[] = {0x55, 0x1d, 0x0f},
			     eku[] = {0x55, 0x1d, 0x25}, san[] = {0x55, 0x1d, 0x11},
			     ski[] = {0x55, 0x1d, 0x0e}, aki[] = {0x55, 0x1d, 0x23};
	const struct cert *certs[] = {&fx.node, &fx.admin};
	uint8_t serial0[32] = {0};
	size_t serial0_len = 0;
	for (int c = 0; c < 2; c++) {
		struct pki_der_rd r = pki_der_rd_make(certs[c]->der, certs[c]->len), tbs, in;
		struct pki_der_tlv t, f;
		REQUIRE(pki_der_expect(&r, PKI_DER_SEQUENCE, &t) == 0 && pki_der_rd_empty(&r));
		r = pki_der_rd_inside(&t);
		REQUIRE(pki_der_expect(&r, PKI_DER_SEQUENCE, &t) == 0);
		tbs = pki_der_rd_inside(&t);
		REQUIRE(pki_der_expect(&tbs, PKI_DER_CTX_CONS(0), &f) == 0);
		REQUIRE(pki_der_expect(&tbs, PKI_DER_INTEGER, &f) == 0);
		CHECK(f.len >= 1 && f.len <= PKI_SERIAL_LEN + 1 && !(f.v[0] & 0x80));
		CHECK(f.len == 1 || f.v[0] != 0 || (f.v[1] & 0x80)); /* minimal */
		if (c == 0) {
			memcpy(serial0, f.v, f.len);
			serial0_len = f.len;
		} else {
			CHECK(f.len != serial0_len || memcmp(f.v, serial0, f.len) != 0);
		}
		for (int skip = 0; skip < 5; skip++) /* sigalg issuer validity subject spki */
			REQUIRE(pki_der_next(&tbs, &f) == 0);
		REQUIRE(pki_der_expect(&tbs, PKI_DER_CTX_CONS(3), &f) == 0);
		CHECK(pki_der_rd_empty(&tbs));
		in = pki_der_rd_inside(&f);
		REQUIRE(pki_der_expect(&in, PKI_DER_SEQUENCE, &f) == 0);
		struct pki_der_rd exts = pki_der_rd_inside(&f);
		int seen = 0;
		while (!pki_der_rd_empty(&exts)) {
			struct pki_der_tlv ext, oid, crit;
			REQUIRE(pki_der_expect(&exts, PKI_DER_SEQUENCE, &ext) == 0);
			struct pki_der_rd e = pki_der_rd_inside(&ext);
			REQUIRE(pki_der_expect(&e, PKI_DER_OID, &oid) == 0);
			int critical = pki_der_expect(&e, PKI_DER_BOOLEAN, &crit) == 0;
			CHECK(!critical || (crit.len == 1 && crit.v[0] == 0xff));
			REQUIRE(pki_der_expect(&e, PKI_DER_OCTET_STRING, &crit) == 0);
			if (pki_der_is_oid(&oid, bc, 3)) {
				CHECK(critical);
				CHECK(crit.len == 2 && crit.v[0] == 0x30 && crit.v[1] == 0);
				seen |= 1;
			} else if (pki_der_is_oid(&oid, ku, 3)) {
				CHECK(critical);
				CHECK(crit.len == 4 && memcmp(crit.v, "\x03\x02\x07\x80", 4) == 0);
				seen |= 2;
			} else if (pki_der_is_oid(&oid, eku, 3)) {
				CHECK(!critical);
				CHECK_EQ_INT(crit.len, c == 0 ? 22 : 12);
				seen |= 4;
			} else if (pki_der_is_oid(&oid, san, 3)) {
				CHECK(!critical);
				seen |= 8;
			} else if (pki_der_is_oid(&oid, ski, 3)) {
				uint8_t id[PKI_KEY_ID_LEN];
				pki_key_id(c == 0 ? fx.node_key.pub : fx.admin_key.pub, id);
				CHECK(crit.len == 22 && memcmp(crit.v + 2, id, 20) == 0);
				seen |= 16;
			} else if (pki_der_is_oid(&oid, aki, 3)) {
				CHECK(crit.len == 24 && memcmp(crit.v + 4, fx.ca.key_id, 20) == 0);
				seen |= 32;
			} else {
				TEST_FAIL_("unexpected extension");
			}
		}
		CHECK_EQ_INT(seen, c == 0 ? 63 : 63 & ~8); /* admin: no SAN */
	}
}

static void cert_from_other_ca_rejected(void)
{
	const int64_t now = 1800000000;
	REQUIRE(fx_setup(now) == 0);
	br_x509_trust_anchor ta;
	int be = 0;
	pki_cert_trust_anchor(&fx.ca.info, &ta);
	/* ca2 has the same subject Name: only the signature tells them apart. */
	CHECK(fx.ca.info.dn_len == fx.ca2.info.dn_len &&
	      memcmp(fx.ca.info.dn, fx.ca2.info.dn, fx.ca.info.dn_len) == 0);
	CHECK_EQ_INT(pki_cert_verify(&ta, 1, fx.node2.der, fx.node2.len, now, NULL, &be),
		     -ERR_PKI_CERT);
	CHECK(be == BR_ERR_X509_NOT_TRUSTED || be == BR_ERR_X509_BAD_SIGNATURE);
	CHECK_EQ_INT(pki_cert_verify(&ta, 1, fx.admin2.der, fx.admin2.len, now, NULL, &be),
		     -ERR_PKI_CERT);
	/* With both anchors it is fine; a flipped signature byte is not. */
	br_x509_trust_anchor tas[2];
	pki_cert_trust_anchor(&fx.ca2.info, &tas[0]);
	pki_cert_trust_anchor(&fx.ca.info, &tas[1]);
	CHECK_EQ_INT(pki_cert_verify(tas, 1, fx.node2.der, fx.node2.len, now, NULL, &be), 0);
	struct cert c = fx.node;
	c.der[c.len - 5] ^= 0x01;
	CHECK_EQ_INT(pki_cert_verify(&tas[1], 1, c.der, c.len, now, NULL, &be), -ERR_PKI_CERT);
}

/* Validity with BearSSL's clock set by br_x509_minimal_set_time. */
static void cert_validity_window(void)
{
	const int64_t now = 1800000000;
	REQUIRE(fx_setup(now) == 0);
	br_x509_trust_anchor ta;
	int be = 0;
	pki_cert_trust_anchor(&fx.ca.info, &ta);
	int64_t nb = now - PKI_BACKDATE, na = now + PKI_NODE_LIFETIME_DEFAULT;
	CHECK_EQ_INT(pki_cert_verify(&ta, 1, fx.node.der, fx.node.len, nb, NULL, &be), 0);
	CHECK_EQ_INT(pki_cert_verify(&ta, 1, fx.node.der, fx.node.len, na, NULL, &be), 0);
	CHECK_EQ_INT(pki_cert_verify(&ta, 1, fx.node.der, fx.node.len, na + 1, NULL, &be),
		     -ERR_PKI_CERT);
	CHECK_EQ_INT(be, BR_ERR_X509_EXPIRED);
	CHECK_EQ_INT(pki_cert_verify(&ta, 1, fx.node.der, fx.node.len, nb - 1, NULL, &be),
		     -ERR_PKI_CERT);
	CHECK_EQ_INT(be, BR_ERR_X509_EXPIRED);
}

static void cert_lifetime_rules(void)
{
	const int64_t now = 1800000000;
	REQUIRE(fx_setup(now) == 0);
	struct pki_cert_req req = {PKI_ROLE_DATA, "d", fx.node_key.pub, 0, NULL, 0, NULL, 0};
	struct cert c;
	struct buf b;
	struct pki_cert_info ci;

	req.lifetime = PKI_LIFETIME_MIN - 1;
	buf_init(&b, c.der, sizeof c.der);
	CHECK_EQ_INT(pki_cert_issue(&fx.ca, &fx.r, &req, now, &b), -ERR_RANGE);
	req.lifetime = PKI_LIFETIME_MIN;
	CHECK_EQ_INT(pki_cert_issue(&fx.ca, &fx.r, &req, now, &b), 0);
	REQUIRE(pki_cert_parse(b.data, b.len, &ci) == 0);
	CHECK_EQ_INT(ci.not_after, now + PKI_LIFETIME_MIN);

	/* Near the CA's end the certificate ends with the CA. */
	int64_t late = fx.ca.info.not_after - 10 * 86400;
	req.lifetime = 0;
	buf_init(&b, c.der, sizeof c.der);
	REQUIRE(pki_cert_issue(&fx.ca, &fx.r, &req, late, &b) == 0);
	REQUIRE(pki_cert_parse(b.data, b.len, &ci) == 0);
	CHECK_EQ_INT(ci.not_after, fx.ca.info.not_after);
	buf_init(&b, c.der, sizeof c.der);
	CHECK_EQ_INT(pki_cert_issue(&fx.ca, &fx.r, &req, fx.ca.info.not_after, &b), -ERR_RANGE);
	CHECK_EQ_INT(b.len, 0);
}

/* The worst case fits PKI_CERT_MAX; one SAN more is refused; a buffer one
 * byte short fails cleanly. */
static void cert_san_caps(void)
{
	const int64_t now = 1800000000;
	REQUIRE(fx_setup(now) == 0);
	static char names[PKI_SAN_DNS_MAX + 1][PKI_DNS_NAME_MAX + 1];
	const char *dns[PKI_SAN_DNS_MAX + 1];
	for (int i = 0; i <= PKI_SAN_DNS_MAX; i++) {
		/* 63+1+63+1+63+1+61 = 253 characters */
		memset(names[i], 'a' + i, PKI_DNS_NAME_MAX);
		names[i][63] = names[i][127] = names[i][191] = '.';
		names[i][PKI_DNS_NAME_MAX] = 0;
		dns[i] = names[i];
		CHECK(pki_dns_name_valid(names[i]));
	}
	struct pki_ip ips[PKI_SAN_IP_MAX + 1];
	for (int i = 0; i <= PKI_SAN_IP_MAX; i++) {
		memset(&ips[i], 0xfe, sizeof ips[i]);
		ips[i].len = 16;
	}
	static struct pki_ca big;
	char cluster[PKI_ATTR_MAX + 1], id[PKI_ATTR_MAX + 1];
	memset(cluster, 'C', PKI_ATTR_MAX);
	memset(id, 'i', PKI_ATTR_MAX);
	cluster[PKI_ATTR_MAX] = id[PKI_ATTR_MAX] = 0;
	REQUIRE(pki_ca_create(&big, &fx.r, cluster, now) == 0);

	static struct cert c;
	struct buf b;
	struct pki_cert_req req = {PKI_ROLE_CONTROL, id,  fx.node_key.pub, 0, dns,
				   PKI_SAN_DNS_MAX,  ips, PKI_SAN_IP_MAX};
	buf_init(&b, c.der, sizeof c.der);
	REQUIRE(pki_cert_issue(&big, &fx.r, &req, now, &b) == 0);
	size_t need = b.len;
	CHECK(need <= PKI_CERT_MAX);
	fprintf(stderr, "  worst-case node certificate: %zu bytes (cap %d)\n", need, PKI_CERT_MAX);
	br_x509_trust_anchor ta;
	pki_cert_trust_anchor(&big.info, &ta);
	CHECK_EQ_INT(pki_cert_verify(&ta, 1, c.der, need, now, dns[7], NULL), 0);

	req.ndns = PKI_SAN_DNS_MAX + 1;
	buf_init(&b, c.der, sizeof c.der);
	CHECK_EQ_INT(pki_cert_issue(&big, &fx.r, &req, now, &b), -ERR_RANGE);
	req.ndns = PKI_SAN_DNS_MAX;
	req.nips = PKI_SAN_IP_MAX + 1;
	CHECK_EQ_INT(pki_cert_issue(&big, &fx.r, &req, now, &b), -ERR_RANGE);
	req.nips = PKI_SAN_IP_MAX;

	/* The cap: replay the same DRBG state (same serial, same signature,
	 * same size) with a buffer one byte short, then exactly the size. */
	struct rand saved = fx.r;
	buf_init(&b, c.der, sizeof c.der);
	REQUIRE(pki_cert_issue(&big, &fx.r, &req, now, &b) == 0);
	need = b.len;
	fx.r = saved;
	buf_init(&b, c.der, need - 1);
	CHECK_EQ_INT(pki_cert_issue(&big, &fx.r, &req, now, &b), -ERR_BUF_FULL);
	CHECK_EQ_INT(b.len, 0);
	fx.r = saved;
	buf_init(&b, c.der, need);
	CHECK_EQ_INT(pki_cert_issue(&big, &fx.r, &req, now, &b), 0);
	CHECK_EQ_INT(b.len, need);
}

static void cert_request_validation(void)
{
	const int64_t now = 1800000000;
	REQUIRE(fx_setup(now) == 0);
	static const char *bad_dns[] = {"",   "-a",  "a-",  "a..b", ".a",
					"a.", "a_b", "*.x", "a b",  "\xc3\xa9t\xc3\xa9"};
	for (size_t i = 0; i < sizeof bad_dns / sizeof bad_dns[0]; i++)
		if (pki_dns_name_valid(bad_dns[i]))
			TEST_FAIL_("accepted DNS name \"%s\"", bad_dns[i]);
	char label64[80];
	memset(label64, 'x', 64);
	label64[64] = 0;
	CHECK(!pki_dns_name_valid(label64));
	label64[63] = 0;
	CHECK(pki_dns_name_valid(label64));
	static char too_long[PKI_DNS_NAME_MAX + 2];
	memset(too_long, 'a', PKI_DNS_NAME_MAX + 1);
	for (int i = 50; i < PKI_DNS_NAME_MAX; i += 50)
		too_long[i] = '.';
	CHECK(!pki_dns_name_valid(too_long));
	static const char *good_dns[] = {"a", "localhost", "x-1.y", "A9.b-c.example"};
	for (size_t i = 0; i < sizeof good_dns / sizeof good_dns[0]; i++)
		CHECK(pki_dns_name_valid(good_dns[i]));

	struct cert c;
	struct buf b;
	buf_init(&b, c.der, sizeof c.der);
	const char *one_bad[] = {"bad_name"};
	struct pki_cert_req req = {PKI_ROLE_CONTROL, "n", fx.node_key.pub, 0, one_bad, 1, NULL, 0};
	CHECK_EQ_INT(pki_cert_issue(&fx.ca, &fx.r, &req, now, &b), -ERR_INVAL);
	req.ndns = 0;
	struct pki_ip odd = {5, {0}};
	req.ips = &odd;
	req.nips = 1;
	CHECK_EQ_INT(pki_cert_issue(&fx.ca, &fx.r, &req, now, &b), -ERR_INVAL);
	req.nips = 0;
	req.role = PKI_ROLE_ADMIN; /* admin certificates carry no SAN */
	req.ips = fx.ips;
	req.nips = 1;
	CHECK_EQ_INT(pki_cert_issue(&fx.ca, &fx.r, &req, now, &b), -ERR_INVAL);
	req.nips = 0;
	req.role = PKI_ROLE_NONE;
	CHECK_EQ_INT(pki_cert_issue(&fx.ca, &fx.r, &req, now, &b), -ERR_INVAL);
	req.role = PKI_ROLE_CONTROL;
	const char *bad_ids[] = {"", "line\nbreak", NULL};
	for (int i = 0; i < 3; i++) {
		req.id = bad_ids[i];
		CHECK_EQ_INT(pki_cert_issue(&fx.ca, &fx.r, &req, now, &b), -ERR_INVAL);
	}
	req.id = "n";
	uint8_t off_curve[PKI_KEY_PUB_LEN];
	memcpy(off_curve, fx.node_key.pub, sizeof off_curve);
	off_curve[10] ^= 0x40;
	req.pub = off_curve;
	CHECK_EQ_INT(pki_cert_issue(&fx.ca, &fx.r, &req, now, &b), -ERR_PKI_KEY);
	CHECK_EQ_INT(b.len, 0);
}

static void ip_parse_forms(void)
{
	struct pki_ip ip;
	CHECK_EQ_INT(pki_ip_parse("10.1.2.3", &ip), 0);
	CHECK(ip.len == 4 && memcmp(ip.addr, "\x0a\x01\x02\x03", 4) == 0);
	CHECK_EQ_INT(pki_ip_parse("fe80::1", &ip), 0);
	CHECK(ip.len == 16 && ip.addr[0] == 0xfe && ip.addr[1] == 0x80 && ip.addr[15] == 1);
	CHECK_EQ_INT(pki_ip_parse("::ffff:1.2.3.4", &ip), 0);
	CHECK(ip.len == 16 && ip.addr[10] == 0xff && ip.addr[15] == 4);
	const char *bad[] = {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "abc", "1::2::3", "[::1]"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ_INT(pki_ip_parse(bad[i], &ip), -ERR_INVAL);
}

/* Build a Name from (oid, tag, value) triples; NULL oid ends it. A triple
 * whose oid is "+" puts the next attribute in the same RDN. */
struct attr {
	const char *oid; /* encoded content, as a string of bytes */
	uint8_t tag;
	const char *value;
};

static size_t name_build(const struct attr *a, uint8_t *out, size_t cap)
{
	struct buf b;
	struct pki_der w;
	int open = 0;
	buf_init(&b, out, cap);
	pki_der_init(&w, &b);
	pki_der_begin(&w, PKI_DER_SEQUENCE);
	for (; a->oid; a++) {
		int join = strcmp(a->oid, "+") == 0;
		if (join)
			a++;
		if (!join) {
			if (open)
				pki_der_end(&w);
			pki_der_begin(&w, PKI_DER_SET);
			open = 1;
		}
		pki_der_begin(&w, PKI_DER_SEQUENCE);
		pki_der_oid(&w, a->oid, strlen(a->oid));
		pki_der_tlv(&w, a->tag, a->value, strlen(a->value));
		pki_der_end(&w);
	}
	if (open)
		pki_der_end(&w);
	pki_der_end(&w);
	return pki_der_finish(&w) ? 0 : b.len;
}

#define A_CN "\x55\x04\x03"
#define A_OU "\x55\x04\x0b"
#define A_O "\x55\x04\x0a"
#define A_C "\x55\x04\x06"

static void name_identity_rules(void)
{
	uint8_t dn[512];
	struct pki_identity id;
	size_t n;

	const struct attr ok1[] = {{A_C, PKI_DER_PRINTABLE_STRING, "US"},
				   {A_O, PKI_DER_UTF8_STRING, "c1"},
				   {A_OU, PKI_DER_UTF8_STRING, "data"},
				   {A_CN, PKI_DER_PRINTABLE_STRING, "node-7"},
				   {NULL, 0, NULL}};
	n = name_build(ok1, dn, sizeof dn);
	REQUIRE(n > 0);
	CHECK_EQ_INT(pki_name_identity(dn, n, &id), 0);
	CHECK_EQ_INT(id.role, PKI_ROLE_DATA);
	CHECK_EQ_STR(id.id, "node-7");
	CHECK_EQ_STR(id.cluster, "c1");
	/* Every truncation, and trailing bytes, are refused. */
	for (size_t i = 0; i < n; i++)
		if (pki_name_identity(dn, i, &id) != -ERR_PKI_CERT)
			TEST_FAIL_("accepted a %zu-byte prefix", i);
	dn[n] = 0;
	CHECK_EQ_INT(pki_name_identity(dn, n + 1, &id), -ERR_PKI_CERT);

	/* A multi-valued RDN (OU + CN in one SET) is read too. */
	const struct attr multi[] = {{A_OU, PKI_DER_UTF8_STRING, "admin"},
				     {"+", 0, NULL},
				     {A_CN, PKI_DER_UTF8_STRING, "root"},
				     {NULL, 0, NULL}};
	n = name_build(multi, dn, sizeof dn);
	REQUIRE(n > 0);
	CHECK_EQ_INT(pki_name_identity(dn, n, &id), 0);
	CHECK_EQ_INT(id.role, PKI_ROLE_ADMIN);
	CHECK_EQ_STR(id.id, "root");
	CHECK_EQ_STR(id.cluster, "");

	const struct attr no_cn[] = {{A_OU, PKI_DER_UTF8_STRING, "data"}, {NULL, 0, NULL}};
	const struct attr two_cn[] = {{A_CN, PKI_DER_UTF8_STRING, "a"},
				      {A_CN, PKI_DER_UTF8_STRING, "b"},
				      {NULL, 0, NULL}};
	const struct attr two_ou[] = {{A_OU, PKI_DER_UTF8_STRING, "data"},
				      {A_OU, PKI_DER_UTF8_STRING, "control"},
				      {A_CN, PKI_DER_UTF8_STRING, "b"},
				      {NULL, 0, NULL}};
	const struct attr bad_ou[] = {{A_OU, PKI_DER_UTF8_STRING, "Control"},
				      {A_CN, PKI_DER_UTF8_STRING, "b"},
				      {NULL, 0, NULL}};
	const struct attr ia5_cn[] = {{A_CN, PKI_DER_IA5_STRING, "b"}, {NULL, 0, NULL}};
	const struct attr ctl_cn[] = {{A_CN, PKI_DER_UTF8_STRING, "a\x1b[31m"}, {NULL, 0, NULL}};
	const struct attr *bad[] = {no_cn, two_cn, two_ou, bad_ou, ia5_cn, ctl_cn};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = name_build(bad[i], dn, sizeof dn);
		REQUIRE(n > 0);
		if (pki_name_identity(dn, n, &id) != -ERR_PKI_CERT)
			TEST_FAIL_("accepted bad name %zu", i);
	}
	static const uint8_t empty_set[] = {0x30, 0x02, 0x31, 0x00};
	CHECK_EQ_INT(pki_name_identity(empty_set, sizeof empty_set, &id), -ERR_PKI_CERT);
}

static void time_conversions(void)
{
	uint32_t d, s;
	pki_time_to_x509(0, &d, &s);
	CHECK(d == 719528 && s == 0);
	pki_time_to_x509(-1, &d, &s);
	CHECK(d == 719527 && s == 86399);
	pki_time_to_x509(1800000000, &d, &s);
	CHECK_EQ_INT(pki_time_from_x509(d, s), 1800000000);
	pki_time_to_x509(INT64_MIN / 2, &d, &s);
	CHECK(d == 0 && s == 0);
	/* BearSSL's decoder agrees on a real certificate's dates. */
	REQUIRE(fx_setup(1800000000) == 0);
	CHECK_EQ_INT(fx.ca.info.not_before, 1800000000 - PKI_BACKDATE);
	/* A CA made in 2045 ends in 2055: notAfter is a GeneralizedTime. */
	static struct pki_ca late;
	const int64_t y2045 = 2366841600; /* 2045-01-01 */
	REQUIRE(pki_ca_create(&late, &fx.r, "late", y2045) == 0);
	CHECK_EQ_INT(late.info.not_after, y2045 + PKI_CA_LIFETIME);
}

/* --- OpenSSL as the judge ---------------------------------------------------- */

static void openssl_reads_the_profiles(void)
{
	REQUIRE(fx_setup(wall_now()) == 0);
	REQUIRE(tmpdir_make() == 0);
	REQUIRE(write_all_files() == 0);
	static char out[16384];

	CHECK_EQ_INT(run(out, sizeof out, "openssl x509 -noout -text -in ca.pem"), 0);
	CHECK_HAS(out, "Version: 3 (0x2)");
	CHECK_HAS(out, "Signature Algorithm: ecdsa-with-SHA256");
	CHECK_HAS(out, "Subject: O = test-cluster, CN = traefikee cluster CA");
	CHECK_HAS(out, "NIST CURVE: P-256");
	CHECK_HAS(out, "X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0");
	CHECK_HAS(out, "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign");
	CHECK_HAS(out, "X509v3 Subject Key Identifier");
	CHECK_HAS(out, "X509v3 Authority Key Identifier");

	CHECK_EQ_INT(run(out, sizeof out, "openssl x509 -noout -text -in node.pem"), 0);
	CHECK_HAS(out, "Issuer: O = test-cluster, CN = traefikee cluster CA");
	CHECK_HAS(out, "Subject: O = test-cluster, OU = control, CN = " NODE_ID);
	CHECK_HAS(out, "X509v3 Basic Constraints: critical\n                CA:FALSE");
	CHECK_HAS(out, "X509v3 Key Usage: critical\n                Digital Signature");
	CHECK_HAS(out, "TLS Web Server Authentication, TLS Web Client Authentication");
	CHECK_HAS(out, "DNS:localhost, DNS:node1.cluster.local, IP Address:127.0.0.1, "
		       "IP Address:0:0:0:0:0:0:0:1");

	CHECK_EQ_INT(run(out, sizeof out, "openssl x509 -noout -text -in admin.pem"), 0);
	CHECK_HAS(out, "Subject: O = test-cluster, OU = admin, CN = admin");
	CHECK_HAS(out,
		  "X509v3 Extended Key Usage: \n                TLS Web Client Authentication\n");
	CHECK_LACKS(out, "Server Authentication");
	CHECK_LACKS(out, "Subject Alternative Name");

	/* Serial, dates, fingerprint as OpenSSL prints them. */
	CHECK_EQ_INT(run(out, sizeof out, "openssl x509 -noout -serial -dates -in node.pem"), 0);
	CHECK_HAS(out, "serial=");
	CHECK_HAS(out, "notAfter=");
	tmpdir_remove();
}

static void openssl_verifies_the_chain(void)
{
	REQUIRE(fx_setup(wall_now()) == 0);
	REQUIRE(tmpdir_make() == 0);
	REQUIRE(write_all_files() == 0);
	static char out[8192];

	CHECK_EQ_INT(run(out, sizeof out,
			 "openssl verify -x509_strict -CAfile ca.pem node.pem "
			 "admin.pem"),
		     0);
	CHECK_HAS(out, "node.pem: OK");
	CHECK_HAS(out, "admin.pem: OK");
	CHECK_EQ_INT(run(out, sizeof out, "openssl verify -x509_strict -CAfile ca.pem ca.pem"), 0);
	CHECK_EQ_INT(run(out, sizeof out,
			 "openssl verify -x509_strict -purpose sslserver "
			 "-CAfile ca.pem node.pem"),
		     0);
	CHECK_EQ_INT(run(out, sizeof out,
			 "openssl verify -x509_strict -purpose sslclient "
			 "-CAfile ca.pem node.pem admin.pem"),
		     0);
	CHECK_EQ_INT(run(out, sizeof out,
			 "openssl verify -x509_strict -verify_ip 127.0.0.1 "
			 "-verify_hostname node1.cluster.local "
			 "-CAfile ca.pem node.pem"),
		     0);
	CHECK_EQ_INT(run(out, sizeof out,
			 "openssl verify -x509_strict -verify_ip ::1 "
			 "-CAfile ca.pem node.pem"),
		     0);

	/* Refusals: an admin certificate cannot serve; another CA's
	 * certificates do not chain; a name not in the SAN fails. */
	CHECK(run(out, sizeof out,
		  "openssl verify -purpose sslserver -CAfile ca.pem "
		  "admin.pem") != 0);
	CHECK_HAS(out, "unsuitable certificate purpose");
	CHECK(run(out, sizeof out, "openssl verify -CAfile ca.pem node2.pem") != 0);
	CHECK(run(out, sizeof out, "openssl verify -CAfile ca2.pem admin.pem") != 0);
	CHECK(run(out, sizeof out,
		  "openssl verify -verify_hostname evil.example -CAfile ca.pem "
		  "node.pem") != 0);
	CHECK(run(out, sizeof out,
		  "openssl verify -verify_ip 10.9.9.9 -CAfile ca.pem "
		  "node.pem") != 0);
	tmpdir_remove();
}

static void openssl_checks_the_keys(void)
{
	REQUIRE(fx_setup(wall_now()) == 0);
	REQUIRE(tmpdir_make() == 0);
	REQUIRE(write_all_files() == 0);
	static char out[8192];

	CHECK_EQ_INT(run(out, sizeof out, "openssl ec -in node.key -noout -check"), 0);
	CHECK_HAS(out, "EC Key valid.");
	CHECK_EQ_INT(run(out, sizeof out, "openssl ec -in admin.key -noout -check"),
		     0); /* PKCS#8 */
	CHECK_HAS(out, "EC Key valid.");
	CHECK_EQ_INT(run(out, sizeof out, "openssl pkey -in admin.key -noout -text"), 0);
	CHECK_HAS(out, "NIST CURVE: P-256");
	struct stat st;
	char p[256];
	path_of(p, sizeof p, "node.key");
	REQUIRE(stat(p, &st) == 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0600);

	/* Our SubjectPublicKeyInfo is byte for byte what OpenSSL derives. */
	CHECK_EQ_INT(run(out, sizeof out,
			 "openssl pkey -in node.key -pubout -outform DER "
			 "-out node.spki"),
		     0);
	uint8_t spki[PKI_SPKI_LEN], theirs[256];
	struct buf b, t;
	buf_init(&b, spki, sizeof spki);
	REQUIRE(pki_key_spki(fx.node_key.pub, &b) == 0);
	buf_init(&t, theirs, sizeof theirs);
	path_of(p, sizeof p, "node.spki");
	REQUIRE(pki_file_read(p, &t) == 0);
	CHECK(t.len == b.len && memcmp(spki, theirs, b.len) == 0);

	/* Keys made by OpenSSL load here, with or without "EC PARAMETERS". */
	CHECK_EQ_INT(run(out, sizeof out,
			 "openssl ecparam -name prime256v1 -genkey -out o1.key && "
			 "openssl genpkey -algorithm EC -pkeyopt "
			 "ec_paramgen_curve:P-256 -out o2.key && "
			 "openssl pkey -in o1.key -pubout -outform DER -out o1.spki"),
		     0);
	const char *files[] = {"o1.key", "o2.key"};
	for (int i = 0; i < 2; i++) {
		static char pem[4096];
		struct pki_key k;
		struct buf pb;
		buf_init(&pb, pem, sizeof pem);
		path_of(p, sizeof p, files[i]);
		REQUIRE(pki_file_read(p, &pb) == 0);
		CHECK_EQ_INT(pki_key_from_pem(&k, pem, pb.len), 0);
		if (i == 0) {
			buf_init(&b, spki, sizeof spki);
			REQUIRE(pki_key_spki(k.pub, &b) == 0);
			buf_init(&t, theirs, sizeof theirs);
			path_of(p, sizeof p, "o1.spki");
			REQUIRE(pki_file_read(p, &t) == 0);
			CHECK(t.len == b.len && memcmp(spki, theirs, b.len) == 0);
		}
	}
	tmpdir_remove();
}

/* --- TLS interop --------------------------------------------------------------- */

static int sock_read(void *ctx, unsigned char *buf, size_t len)
{
	int fd = *(int *)ctx;
	for (;;) {
		ssize_t n = recv(fd, buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		return n <= 0 ? -1 : (int)n;
	}
}

static int sock_write(void *ctx, const unsigned char *buf, size_t len)
{
	int fd = *(int *)ctx;
	for (;;) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		return n <= 0 ? -1 : (int)n;
	}
}

static void sock_timeouts(int fd, int secs)
{
	struct timeval tv = {secs, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* A listening socket on 127.0.0.1 with a kernel-chosen port. */
static int listen_loopback(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = loopback(0);
	socklen_t al = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4) ||
	    getsockname(fd, (struct sockaddr *)&a, &al)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static int free_port(void)
{
	int port = 0, fd = listen_loopback(&port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Connect to 127.0.0.1:port, retrying while the server starts (5 s). */
static int connect_retry(int port)
{
	for (int i = 0; i < 100; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = loopback(port);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
			sock_timeouts(fd, 10);
			return fd;
		}
		if (fd >= 0)
			close(fd);
		usleep(50 * 1000);
	}
	return -1;
}

static void tls_entropy(br_ssl_engine_context *eng)
{
	unsigned char seed[32];
	rand_os_bytes(seed, sizeof seed); /* BUILD-NOTES §2: BearSSL's seeder may find nothing */
	br_ssl_engine_inject_entropy(eng, seed, sizeof seed);
}

/* BearSSL client with a client certificate: connect, send `req`, read the
 * answer until the peer closes. Returns BearSSL's last error (0 when the
 * exchange completed), or -1 if the connection could not be made. */
static int bearssl_client(int port, const struct pki_cert_info *ca, const struct cert *cert,
			  struct pki_key *key, const char *server_name, const char *req, char *resp,
			  size_t cap)
{
	static br_ssl_client_context cc;
	static br_x509_minimal_context xc;
	static unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
	br_sslio_context io;
	br_x509_trust_anchor ta;
	br_x509_certificate chain = {(unsigned char *)cert->der, cert->len};
	br_ec_private_key sk = pki_key_br_priv(key);
	uint32_t days, secs;

	int fd = connect_retry(port);
	if (fd < 0)
		return -1;
	pki_cert_trust_anchor(ca, &ta);
	br_ssl_client_init_full(&cc, &xc, &ta, 1);
	pki_time_to_x509(wall_now(), &days, &secs);
	br_x509_minimal_set_time(&xc, days, secs);
	br_ssl_client_set_single_ec(&cc, &chain, 1, &sk, BR_KEYTYPE_SIGN, BR_KEYTYPE_EC,
				    br_ec_get_default(), br_ecdsa_sign_asn1_get_default());
	br_ssl_engine_set_buffer(&cc.eng, iobuf, sizeof iobuf, 1);
	tls_entropy(&cc.eng);
	br_ssl_client_reset(&cc, server_name, 0);
	br_sslio_init(&io, &cc.eng, sock_read, &fd, sock_write, &fd);

	size_t n = 0;
	if (br_sslio_write_all(&io, req, strlen(req)) == 0 && br_sslio_flush(&io) == 0) {
		for (;;) {
			int got = br_sslio_read(&io, resp + n, cap - 1 - n);
			if (got <= 0)
				break;
			n += (size_t)got;
			if (n == cap - 1)
				break;
		}
	}
	resp[n] = 0;
	int err = br_ssl_engine_last_error(&cc.eng);
	close(fd);
	/* The peer closing the TCP connection after its answer without a
	 * close_notify is an I/O "error" once the answer is in. */
	if (err == BR_ERR_IO && n > 0)
		err = 0;
	return err;
}

/* openssl s_server as a child, killed by PID. Returns the PID or -1. */
static pid_t s_server_start(int port, const char *cert, const char *key)
{
	char accept[64], logp[256], certp[256], keyp[256], cap[256];
	snprintf(accept, sizeof accept, "127.0.0.1:%d", port);
	path_of(logp, sizeof logp, "s_server.log");
	path_of(certp, sizeof certp, cert);
	path_of(keyp, sizeof keyp, key);
	path_of(cap, sizeof cap, "ca.pem");
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	int log = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int nul = open("/dev/null", O_RDONLY);
	if (log < 0 || nul < 0)
		_exit(126);
	dup2(nul, 0);
	dup2(log, 1);
	dup2(log, 2);
	execlp("openssl", "openssl", "s_server", "-cert", certp, "-key", keyp, "-CAfile", cap,
	       "-Verify", "1", "-verify_return_error", "-accept", accept, "-naccept", "1", "-www",
	       (char *)NULL);
	_exit(127);
}

static void s_server_stop(pid_t pid)
{
	int st;
	if (pid <= 0)
		return;
	/* With -naccept 1 it may have exited already; kill only this PID. */
	for (int i = 0; i < 40; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		usleep(25 * 1000);
	}
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
}

static void tls_bearssl_client_to_openssl_server(void)
{
	REQUIRE(fx_setup(wall_now()) == 0);
	REQUIRE(tmpdir_make() == 0);
	REQUIRE(write_all_files() == 0);
	static char resp[32768];

	int port = free_port();
	REQUIRE(port > 0);
	pid_t pid = s_server_start(port, "node.pem", "node.key");
	REQUIRE(pid > 0);
	int err = bearssl_client(port, &fx.ca.info, &fx.admin, &fx.admin_key, "localhost",
				 "GET / HTTP/1.0\r\n\r\n", resp, sizeof resp);
	s_server_stop(pid);
	CHECK_EQ_INT(err, 0);
	CHECK_HAS(resp, "HTTP/1.0 200 ok");
	CHECK_HAS(resp, "ECDHE-ECDSA");        /* the negotiated suite, as s_server reports it */
	CHECK_HAS(resp, "OU=admin, CN=admin"); /* s_server saw our client certificate */
	tmpdir_remove();
}

/* The BearSSL client refuses a server whose certificate is from another
 * CA; s_server refuses a client certificate from another CA. */
static void tls_openssl_server_other_ca_fails(void)
{
	REQUIRE(fx_setup(wall_now()) == 0);
	REQUIRE(tmpdir_make() == 0);
	REQUIRE(write_all_files() == 0);
	static char resp[8192];

	int port = free_port();
	REQUIRE(port > 0);
	pid_t pid = s_server_start(port, "node2.pem", "node.key");
	REQUIRE(pid > 0);
	int err = bearssl_client(port, &fx.ca.info, &fx.admin, &fx.admin_key, "localhost",
				 "GET / HTTP/1.0\r\n\r\n", resp, sizeof resp);
	s_server_stop(pid);
	CHECK_EQ_INT(err, BR_ERR_X509_NOT_TRUSTED);
	CHECK_LACKS(resp, "200 ok");

	port = free_port();
	pid = s_server_start(port, "node.pem", "node.key");
	REQUIRE(pid > 0);
	err = bearssl_client(port, &fx.ca.info, &fx.admin2, &fx.admin_key, "localhost",
			     "GET / HTTP/1.0\r\n\r\n", resp, sizeof resp);
	s_server_stop(pid);
	CHECK(err != 0);
	CHECK_LACKS(resp, "200 ok");

	/* Right CA, wrong name: the SAN check fails. */
	port = free_port();
	pid = s_server_start(port, "node.pem", "node.key");
	REQUIRE(pid > 0);
	err = bearssl_client(port, &fx.ca.info, &fx.admin, &fx.admin_key, "evil.example",
			     "GET / HTTP/1.0\r\n\r\n", resp, sizeof resp);
	s_server_stop(pid);
	CHECK_EQ_INT(err, BR_ERR_X509_BAD_SERVER_NAME);
	tmpdir_remove();
}

/* One connection served by BearSSL with client authentication required. */
struct srv {
	int lfd;
	int err;      /* BearSSL's last error after the exchange */
	char got[64]; /* what the client sent */
	int id_rc;    /* pki_name_elts_identity on the client's certificate */
	struct pki_identity peer;
};

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	static br_ssl_server_context sc;
	static br_x509_minimal_context xc;
	static unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
	static struct pki_name_elts names;
	br_sslio_context io;
	br_x509_trust_anchor ta;
	br_x509_certificate chain = {fx.node.der, fx.node.len};
	br_ec_private_key sk = pki_key_br_priv(&fx.node_key);
	uint32_t days, secs;

	s->err = -1;
	s->id_rc = -1;
	struct pollfd pfd = {s->lfd, POLLIN, 0};
	if (poll(&pfd, 1, 15000) != 1)
		return NULL;
	int fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	sock_timeouts(fd, 10);

	pki_cert_trust_anchor(&fx.ca.info, &ta);
	br_ssl_server_init_full_ec(&sc, &chain, 1, BR_KEYTYPE_EC, &sk);
	br_ssl_server_set_trust_anchor_names_alt(&sc, &ta, 1);
	br_x509_minimal_init_full(&xc, &ta, 1);
	pki_time_to_x509(wall_now(), &days, &secs);
	br_x509_minimal_set_time(&xc, days, secs);
	pki_name_elts_init(&names);
	br_x509_minimal_set_name_elements(&xc, names.elts, PKI_NAME_ELTS);
	br_ssl_engine_set_x509(&sc.eng, &xc.vtable);
	br_ssl_engine_set_default_ecdsa(&sc.eng); /* BUILD-NOTES §3 */
	br_ssl_engine_set_versions(&sc.eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_buffer(&sc.eng, iobuf, sizeof iobuf, 1);
	tls_entropy(&sc.eng);
	br_ssl_server_reset(&sc);
	br_sslio_init(&io, &sc.eng, sock_read, &fd, sock_write, &fd);

	size_t n = 0;
	while (n < sizeof s->got - 1) {
		int got = br_sslio_read(&io, s->got + n, 1);
		if (got <= 0)
			break;
		n += (size_t)got;
		if (s->got[n - 1] == '\n')
			break;
	}
	s->got[n] = 0;
	if (n > 0) {
		br_sslio_write_all(&io, "pong\n", 5);
		s->id_rc = pki_name_elts_identity(&names, &s->peer);
		/* close_notify both ways, so s_client sees a clean end. */
		br_sslio_close(&io);
	}
	s->err = br_ssl_engine_last_error(&sc.eng);
	close(fd);
	return NULL;
}

/* Run s_client with the given client cert/key against a BearSSL server;
 * fills *s. Returns s_client's exit status. */
static int s_client_against_bearssl(const char *cert, const char *key, struct srv *s, char *out,
				    size_t cap)
{
	int port = 0;
	memset(s, 0, sizeof *s);
	s->lfd = listen_loopback(&port);
	if (s->lfd < 0)
		return -1;
	pthread_t th;
	if (pthread_create(&th, NULL, srv_main, s)) {
		close(s->lfd);
		return -1;
	}
	char p[256];
	path_of(p, sizeof p, "ping.txt");
	pki_file_write_atomic(p, "ping\n", 5, PKI_FILE_MODE_CERT);
	int rc = run(out, cap,
		     "timeout 20 openssl s_client -connect 127.0.0.1:%d -cert %s -key %s "
		     "-CAfile ca.pem -verify_return_error -verify_ip 127.0.0.1 "
		     "-servername localhost -ign_eof < ping.txt",
		     port, cert, key);
	/* If s_client never connected, wake the server so the thread ends. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = loopback(port);
	if (fd >= 0) {
		connect(fd, (struct sockaddr *)&a, sizeof a);
		close(fd);
	}
	pthread_join(th, NULL);
	close(s->lfd);
	return rc;
}

static void tls_openssl_client_to_bearssl_server(void)
{
	REQUIRE(fx_setup(wall_now()) == 0);
	REQUIRE(tmpdir_make() == 0);
	REQUIRE(write_all_files() == 0);
	static char out[32768];
	struct srv s;

	int rc = s_client_against_bearssl("admin.pem", "admin.key", &s, out, sizeof out);
	CHECK_EQ_INT(rc, 0);
	if (rc != 0)
		fprintf(stderr, "  s_client said:\n%s\n", out);
	CHECK_HAS(out, "Verify return code: 0 (ok)");
	CHECK_HAS(out, "Protocol  : TLSv1.2");
	CHECK_HAS(out, "ECDHE-ECDSA");
	CHECK_EQ_STR(s.got, "ping\n");
	CHECK_EQ_INT(s.err, 0);
	CHECK_HAS(out, "pong");
	CHECK_EQ_INT(s.id_rc, 0);
	CHECK_EQ_INT(s.peer.role, PKI_ROLE_ADMIN);
	CHECK_EQ_STR(s.peer.id, "admin");
	CHECK_EQ_STR(s.peer.cluster, "test-cluster");

	/* A client certificate from another CA: the BearSSL server aborts. */
	rc = s_client_against_bearssl("admin2.pem", "admin.key", &s, out, sizeof out);
	CHECK(rc != 0);
	CHECK_EQ_STR(s.got, "");
	CHECK_EQ_INT(s.err, BR_ERR_X509_NOT_TRUSTED);
	tmpdir_remove();
}

TEST_MAIN(key_generate_is_seeded_and_valid, key_der_and_pem_roundtrip, key_from_der_rejects,
	  key_pub_check_rejects, key_spki_id_and_signature, pem_roundtrip_chain_and_errors,
	  file_write_atomic_and_read, ca_profile_and_determinism, ca_load_roundtrip_and_mismatch,
	  node_cert_profile, cert_der_structure, cert_from_other_ca_rejected, cert_validity_window,
	  cert_lifetime_rules, cert_san_caps, cert_request_validation, ip_parse_forms,
	  name_identity_rules, time_conversions, openssl_reads_the_profiles,
	  openssl_verifies_the_chain, openssl_checks_the_keys, tls_bearssl_client_to_openssl_server,
	  tls_openssl_server_other_ca_fails, tls_openssl_client_to_bearssl_server)
