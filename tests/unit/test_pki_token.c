/* Unit tests for pki_token: the text form (known answer, every malformed
 * part, every prefix, every one-character change), CA pinning, the join
 * proof (and each way it must fail), and OpenSSL computing the same CA
 * digest and HMACs independently. */
#include "base/base_err.h"
#include "pki/pki_pem.h"
#include "pki/pki_token.h"
#include "test.h"

#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

/* Fixed values for the known answers (computed outside this code base). */
static void fixed_token(struct pki_token *t, enum pki_role role)
{
	memset(t, 0, sizeof *t);
	t->role = role;
	for (int i = 0; i < PKI_CA_DIGEST_LEN; i++)
		t->ca_digest[i] = (unsigned char)i;
	for (int i = 0; i < PKI_TOKEN_SECRET_LEN; i++)
		t->secret[i] = (unsigned char)i;
}

#define FIXED_D_TOKEN                                                              \
	"TEE1-D-000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f-" \
	"aaaqeayeaudaocajbifqydiob4ibceqt"

static void hex_of(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void token_known_answer(void)
{
	struct pki_token t, back;
	char s[PKI_TOKEN_LEN + 1];
	fixed_token(&t, PKI_ROLE_DATA);
	pki_token_format(&t, s);
	CHECK_EQ_STR(s, FIXED_D_TOKEN);
	CHECK_EQ_INT(strlen(s), PKI_TOKEN_LEN);
	CHECK_EQ_INT(PKI_TOKEN_LEN, 104);
	const char *why = "unset";
	CHECK_EQ_INT(pki_token_parse(slice_from_cstr(s), &back, &why), 0);
	CHECK(why == NULL);
	CHECK(memcmp(&t, &back, sizeof t) == 0);
	fixed_token(&t, PKI_ROLE_CONTROL);
	pki_token_format(&t, s);
	CHECK(strncmp(s, "TEE1-C-0001", 11) == 0);
}

static void token_random_roundtrip(void)
{
	struct rand r;
	unsigned char digest[PKI_CA_DIGEST_LEN];
	rand_init_seed(&r, "tok", 3);
	memset(digest, 0xcd, sizeof digest);
	for (int i = 0; i < 200; i++) {
		struct pki_token t, back;
		char s[PKI_TOKEN_LEN + 1];
		REQUIRE(pki_token_new(&t, &r, i & 1 ? PKI_ROLE_CONTROL : PKI_ROLE_DATA, digest) ==
			0);
		pki_token_format(&t, s);
		REQUIRE(pki_token_parse(slice_from_cstr(s), &back, NULL) == 0);
		CHECK(memcmp(&t, &back, sizeof t) == 0);
		CHECK(pki_token_secret_eq(&t, &back));
	}
	struct pki_token a, b;
	REQUIRE(pki_token_new(&a, &r, PKI_ROLE_DATA, digest) == 0);
	REQUIRE(pki_token_new(&b, &r, PKI_ROLE_DATA, digest) == 0);
	CHECK(!pki_token_secret_eq(&a, &b));
	CHECK_EQ_INT(pki_token_new(&a, &r, PKI_ROLE_ADMIN, digest), -ERR_INVAL);
	CHECK_EQ_INT(pki_token_new(&a, &r, PKI_ROLE_NONE, digest), -ERR_INVAL);
}

/* Each malformed part gives -ERR_PKI_TOKEN_FORMAT and a sentence naming it. */
static void token_malformed_parts(void)
{
	static char buf[64][160];
	const struct {
		const char *text;
		const char *why; /* substring of the explanation */
	} cases[] = {
		{"", "empty"},
		{"TEE2-D-00-aa", "version"},
		{"TEE-D-00-aa", "version"},
		{"SWMTKN-1-abc", "does not start with TEE1-"},
		{"tee1-D-00-aa", "does not start with TEE1-"},
		{"TEE1", "role, CA digest and secret are missing"},
		{"TEE1-", "role must be C"},
		{"TEE1-X-00-aa", "role must be C"},
		{"TEE1-d-00-aa", "role must be C"},
		{"TEE1-CD-00-aa", "role must be C"},
		{"TEE1-D", "CA digest and secret are missing"},
		{"TEE1-D-", "64 hex digits"},
		{"TEE1-D-00-aa", "64 hex digits"},
		{NULL, NULL},
	};
	size_t k = 0;
	for (; cases[k].text; k++) {
		struct pki_token t;
		const char *why = NULL;
		int rc = pki_token_parse(slice_from_cstr(cases[k].text), &t, &why);
		CHECK_EQ_INT(rc, -ERR_PKI_TOKEN_FORMAT);
		if (!why || !strstr(why, cases[k].why))
			TEST_FAIL_("\"%s\": why \"%s\", expected \"%s\"", cases[k].text,
				   why ? why : "(null)", cases[k].why);
	}

	/* Edits of the valid token, one part at a time. */
	const char *good = FIXED_D_TOKEN;
	const size_t dig = 7, sec = 72; /* offsets of the digest and secret */
	const struct {
		size_t at;      /* where to edit */
		size_t cut;     /* bytes removed there */
		const char *in; /* bytes inserted there */
		const char *why;
	} edits[] = {
		{dig, 1, "", "64 hex digits"},  /* 63 digits */
		{dig, 0, "0", "64 hex digits"}, /* 65 digits */
		{dig, 1, "A", "lowercase hex"}, /* uppercase */
		{dig + 10, 1, "g", "lowercase hex"},
		{dig + 63, 1, " ", "lowercase hex"},
		{sec - 1, 33, "", "secret is missing"}, /* "TEE1-D-<digest>" */
		{sec, 32, "", "32 base32"},             /* empty secret */
		{sec, 1, "", "32 base32"},              /* 31 characters */
		{sec, 0, "a", "32 base32"},             /* 33 characters */
		{sec, 1, "1", "outside base32"},        /* not in the alphabet */
		{sec + 5, 1, "8", "outside base32"},
		{sec + 31, 1, "0", "outside base32"},
		{sec + 2, 1, "A", "outside base32"}, /* uppercase */
		{sec + 2, 1, "=", "outside base32"}, /* padding */
		{sec + 32, 0, "-x", "more than four parts"},
		{sec + 32, 0, "\n", "32 base32"}, /* trailing newline */
		{sec + 32, 0, " ", "32 base32"},
		{0, 0, " ", "does not start"},  /* leading space */
		{0, 0, "\"", "does not start"}, /* quoted */
	};
	for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
		char *s = buf[i];
		size_t n = 0;
		memcpy(s, good, edits[i].at);
		n = edits[i].at;
		memcpy(s + n, edits[i].in, strlen(edits[i].in));
		n += strlen(edits[i].in);
		strcpy(s + n, good + edits[i].at + edits[i].cut);
		struct pki_token t;
		const char *why = NULL;
		int rc = pki_token_parse(slice_from_cstr(s), &t, &why);
		if (rc != -ERR_PKI_TOKEN_FORMAT || !why || !strstr(why, edits[i].why))
			TEST_FAIL_("edit %zu \"%s\": rc %d why \"%s\", expected \"%s\"", i, s, rc,
				   why ? why : "(null)", edits[i].why);
		static const struct pki_token zero;
		CHECK(memcmp(&t, &zero, sizeof t) == 0); /* nothing half-parsed left behind */
	}
}

/* Every proper prefix fails; so does replacing any one character by one
 * that is never valid there. */
static void token_every_prefix_and_substitution(void)
{
	const char *good = FIXED_D_TOKEN;
	size_t n = strlen(good);
	for (size_t i = 0; i < n; i++) {
		struct pki_token t;
		const char *why = NULL;
		if (pki_token_parse((struct slice){good, i}, &t, &why) != -ERR_PKI_TOKEN_FORMAT ||
		    !why)
			TEST_FAIL_("prefix of %zu accepted or unexplained", i);
	}
	char s[PKI_TOKEN_LEN + 1];
	for (size_t i = 0; i < n; i++) {
		memcpy(s, good, n + 1);
		s[i] = '!';
		struct pki_token t;
		if (pki_token_parse((struct slice){s, n}, &t, NULL) != -ERR_PKI_TOKEN_FORMAT)
			TEST_FAIL_("substitution at %zu accepted", i);
	}
	/* An embedded NUL inside the slice is a character like any other. */
	memcpy(s, good, n + 1);
	s[80] = 0;
	struct pki_token t;
	CHECK_EQ_INT(pki_token_parse((struct slice){s, n}, &t, NULL), -ERR_PKI_TOKEN_FORMAT);
}

static void token_role_check(void)
{
	struct pki_token t;
	fixed_token(&t, PKI_ROLE_DATA);
	CHECK_EQ_INT(pki_token_check_role(&t, PKI_ROLE_DATA), 0);
	CHECK_EQ_INT(pki_token_check_role(&t, PKI_ROLE_CONTROL), -ERR_PKI_TOKEN_ROLE);
	fixed_token(&t, PKI_ROLE_CONTROL);
	CHECK_EQ_INT(pki_token_check_role(&t, PKI_ROLE_CONTROL), 0);
	CHECK_EQ_INT(pki_token_check_role(&t, PKI_ROLE_DATA), -ERR_PKI_TOKEN_ROLE);
	CHECK_EQ_INT(pki_token_check_role(&t, PKI_ROLE_ADMIN), -ERR_PKI_TOKEN_ROLE);
}

/* Pinning against real CA certificates: the right one passes; another CA,
 * or one changed byte, is a mismatch. */
static void token_ca_pin(void)
{
	static struct pki_ca ca, other;
	struct rand r;
	rand_init_seed(&r, "pin", 3);
	REQUIRE(pki_ca_create(&ca, &r, "c1", 1800000000) == 0);
	REQUIRE(pki_ca_create(&other, &r, "c1", 1800000000) == 0);
	unsigned char d[PKI_CA_DIGEST_LEN];
	pki_ca_digest(ca.cert, ca.cert_len, d);
	struct pki_token t;
	REQUIRE(pki_token_new(&t, &r, PKI_ROLE_CONTROL, d) == 0);
	CHECK_EQ_INT(pki_token_check_ca(&t, ca.cert, ca.cert_len), 0);
	CHECK_EQ_INT(pki_token_check_ca(&t, other.cert, other.cert_len), -ERR_PKI_CA_MISMATCH);
	ca.cert[ca.cert_len / 2] ^= 1;
	CHECK_EQ_INT(pki_token_check_ca(&t, ca.cert, ca.cert_len), -ERR_PKI_CA_MISMATCH);
	ca.cert[ca.cert_len / 2] ^= 1;
	CHECK_EQ_INT(pki_token_check_ca(&t, ca.cert, ca.cert_len - 1), -ERR_PKI_CA_MISMATCH);
	/* The digest survives the text form. */
	char s[PKI_TOKEN_LEN + 1];
	struct pki_token back;
	pki_token_format(&t, s);
	REQUIRE(pki_token_parse(slice_from_cstr(s), &back, NULL) == 0);
	CHECK_EQ_INT(pki_token_check_ca(&back, ca.cert, ca.cert_len), 0);
}

static void proof_inputs(unsigned char nonce[PKI_NONCE_LEN], unsigned char pub[PKI_KEY_PUB_LEN])
{
	memset(nonce, 0xa5, PKI_NONCE_LEN);
	pub[0] = 4;
	for (int i = 1; i < PKI_KEY_PUB_LEN; i++)
		pub[i] = (unsigned char)i;
}

static void proof_known_answer(void)
{
	struct pki_token t;
	unsigned char v[PKI_VERIFIER_LEN], nonce[PKI_NONCE_LEN], pub[PKI_KEY_PUB_LEN],
		proof[PKI_PROOF_LEN];
	char hex[2 * 32 + 1];
	fixed_token(&t, PKI_ROLE_DATA);
	proof_inputs(nonce, pub);
	pki_token_verifier(&t, v);
	hex_of(v, sizeof v, hex);
	CHECK_EQ_STR(hex, "b92b63e66e01de0d039f61b03815c4b4198a715196e6e856db78aaab679df5ec");
	pki_token_proof(&t, nonce, pub, proof);
	hex_of(proof, sizeof proof, hex);
	CHECK_EQ_STR(hex, "dce4e733eb5c23f43ce10ee8d1eead05ef34af203fe9df7bd7e354d42c21f343");
	CHECK_EQ_INT(pki_token_verify_proof(v, PKI_ROLE_DATA, t.ca_digest, nonce, pub, proof), 0);
}

/* The negative suite: each input the proof binds, changed, is refused. */
static void proof_rejections(void)
{
	struct rand r;
	unsigned char digest[PKI_CA_DIGEST_LEN], other_digest[PKI_CA_DIGEST_LEN];
	rand_init_seed(&r, "proof", 5);
	memset(digest, 0x11, sizeof digest);
	memset(other_digest, 0x22, sizeof other_digest);
	struct pki_token ctl, data, wrong;
	REQUIRE(pki_token_new(&ctl, &r, PKI_ROLE_CONTROL, digest) == 0);
	REQUIRE(pki_token_new(&data, &r, PKI_ROLE_DATA, digest) == 0);
	unsigned char v_ctl[PKI_VERIFIER_LEN], v_data[PKI_VERIFIER_LEN];
	pki_token_verifier(&ctl, v_ctl);
	pki_token_verifier(&data, v_data);

	unsigned char nonce[PKI_NONCE_LEN], pub[PKI_KEY_PUB_LEN], proof[PKI_PROOF_LEN];
	proof_inputs(nonce, pub);
	pki_token_proof(&ctl, nonce, pub, proof);
	CHECK_EQ_INT(pki_token_verify_proof(v_ctl, PKI_ROLE_CONTROL, digest, nonce, pub, proof), 0);

	/* Wrong secret: a token with the same role and CA but another secret. */
	wrong = ctl;
	wrong.secret[0] ^= 1;
	unsigned char bad[PKI_PROOF_LEN];
	pki_token_proof(&wrong, nonce, pub, bad);
	CHECK_EQ_INT(pki_token_verify_proof(v_ctl, PKI_ROLE_CONTROL, digest, nonce, pub, bad),
		     -ERR_PKI_BAD_PROOF);

	/* A data-node token used to join as a control node: the server checks
	 * against the control verifier, or the role the proof was made for. */
	pki_token_proof(&data, nonce, pub, bad);
	CHECK_EQ_INT(pki_token_verify_proof(v_ctl, PKI_ROLE_CONTROL, digest, nonce, pub, bad),
		     -ERR_PKI_BAD_PROOF);
	CHECK_EQ_INT(pki_token_verify_proof(v_data, PKI_ROLE_CONTROL, digest, nonce, pub, bad),
		     -ERR_PKI_BAD_PROOF);
	CHECK_EQ_INT(pki_token_verify_proof(v_data, PKI_ROLE_DATA, digest, nonce, pub, bad), 0);
	CHECK_EQ_INT(pki_token_check_role(&data, PKI_ROLE_CONTROL), -ERR_PKI_TOKEN_ROLE);
	/* Same secret, other role letter: a different verifier. */
	wrong = data;
	wrong.role = PKI_ROLE_CONTROL;
	unsigned char v_wrong[PKI_VERIFIER_LEN];
	pki_token_verifier(&wrong, v_wrong);
	CHECK(!pki_ct_eq(v_wrong, v_data, sizeof v_data));

	/* Wrong CA digest, nonce, key, or a role that takes no token. */
	CHECK_EQ_INT(
		pki_token_verify_proof(v_ctl, PKI_ROLE_CONTROL, other_digest, nonce, pub, proof),
		-ERR_PKI_BAD_PROOF);
	nonce[31] ^= 1;
	CHECK_EQ_INT(pki_token_verify_proof(v_ctl, PKI_ROLE_CONTROL, digest, nonce, pub, proof),
		     -ERR_PKI_BAD_PROOF);
	nonce[31] ^= 1;
	pub[64] ^= 1;
	CHECK_EQ_INT(pki_token_verify_proof(v_ctl, PKI_ROLE_CONTROL, digest, nonce, pub, proof),
		     -ERR_PKI_BAD_PROOF);
	pub[64] ^= 1;
	CHECK_EQ_INT(pki_token_verify_proof(v_ctl, PKI_ROLE_ADMIN, digest, nonce, pub, proof),
		     -ERR_PKI_BAD_PROOF);
	CHECK_EQ_INT(pki_token_verify_proof(v_ctl, PKI_ROLE_NONE, digest, nonce, pub, proof),
		     -ERR_PKI_BAD_PROOF);

	/* Every single-bit change of the proof is refused. */
	for (int bit = 0; bit < 8 * PKI_PROOF_LEN; bit++) {
		memcpy(bad, proof, sizeof bad);
		bad[bit / 8] ^= (unsigned char)(1 << (bit % 8));
		if (pki_token_verify_proof(v_ctl, PKI_ROLE_CONTROL, digest, nonce, pub, bad) !=
		    -ERR_PKI_BAD_PROOF)
			TEST_FAIL_("proof with bit %d flipped accepted", bit);
	}
	/* The proof does not contain the secret or the verifier. */
	CHECK(memmem(proof, sizeof proof, ctl.secret, 8) == NULL);
	CHECK(!pki_ct_eq(proof, v_ctl, sizeof proof));
}

static void ct_eq_edges(void)
{
	unsigned char a[64], b[64];
	memset(a, 7, sizeof a);
	memset(b, 7, sizeof b);
	CHECK(pki_ct_eq(a, b, sizeof a));
	CHECK(pki_ct_eq(a, b, 0));
	b[0] = 6;
	CHECK(!pki_ct_eq(a, b, sizeof a));
	b[0] = 7;
	b[63] = 0x87; /* high bit difference */
	CHECK(!pki_ct_eq(a, b, sizeof a));
	CHECK(pki_ct_eq(a, b, 63));
	for (int x = 1; x < 256; x++) {
		unsigned char c = (unsigned char)(7 ^ x);
		if (pki_ct_eq(a, &c, 1))
			TEST_FAIL_("difference %d missed", x);
	}
}

static void token_wipe_clears(void)
{
	struct pki_token t;
	fixed_token(&t, PKI_ROLE_CONTROL);
	pki_token_wipe(&t);
	static const struct pki_token zero;
	CHECK(memcmp(&t, &zero, sizeof t) == 0);
}

/* --- OpenSSL computes the same values -------------------------------------- */

static char dir[64];

static int run(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[1024];
	int k = snprintf(cmd, sizeof cmd, "cd '%s' && ", dir);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd + k, sizeof cmd - (size_t)k, fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int put_file(const char *name, const void *data, size_t len)
{
	char p[128];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return pki_file_write_atomic(p, data, len, PKI_FILE_MODE_KEY);
}

static void remove_dir(const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char p[128];
		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* The digest in the token is what `openssl x509 -outform DER | openssl
 * dgst -sha256` prints for the CA certificate, so operators can check it. */
static void openssl_ca_digest_matches(void)
{
	static struct pki_ca ca;
	struct rand r;
	rand_init_seed(&r, "ossl", 4);
	REQUIRE(pki_ca_create(&ca, &r, "c1", 1800000000) == 0);
	snprintf(dir, sizeof dir, "/tmp/tee-token-XXXXXX");
	REQUIRE(mkdtemp(dir) != NULL);
	static char pem[4096];
	struct buf b;
	buf_init(&b, pem, sizeof pem);
	REQUIRE(pki_pem_encode(PKI_PEM_CERT, ca.cert, ca.cert_len, &b) == 0);
	REQUIRE(put_file("ca.pem", pem, b.len) == 0);

	unsigned char d[PKI_CA_DIGEST_LEN];
	pki_ca_digest(ca.cert, ca.cert_len, d);
	struct pki_token t;
	REQUIRE(pki_token_new(&t, &r, PKI_ROLE_DATA, d) == 0);
	char s[PKI_TOKEN_LEN + 1], out[512];
	pki_token_format(&t, s);

	CHECK_EQ_INT(run(out, sizeof out,
			 "openssl x509 -in ca.pem -outform DER | "
			 "openssl dgst -sha256 -r"),
		     0);
	CHECK(strncmp(out, s + 7, 64) == 0);
	if (strncmp(out, s + 7, 64) != 0)
		fprintf(stderr, "  openssl: %.64s\n  token:   %.64s\n", out, s + 7);
	static const char *const names[] = {"ca.pem"};
	remove_dir(names, 1);
}

/* Verifier and proof recomputed with `openssl dgst -mac HMAC` from the
 * documented construction: the spec in pki_token.h is enough to interoperate. */
static void openssl_hmac_matches(void)
{
	struct pki_token t;
	unsigned char v[PKI_VERIFIER_LEN], nonce[PKI_NONCE_LEN], pub[PKI_KEY_PUB_LEN],
		proof[PKI_PROOF_LEN];
	fixed_token(&t, PKI_ROLE_CONTROL);
	t.secret[3] = 0x99;
	proof_inputs(nonce, pub);
	pki_token_verifier(&t, v);
	pki_token_proof(&t, nonce, pub, proof);

	snprintf(dir, sizeof dir, "/tmp/tee-token-XXXXXX");
	REQUIRE(mkdtemp(dir) != NULL);
	unsigned char msg[256];
	size_t n = 0;
	static const char lv[] = "traefikee join verifier v1", lp[] = "traefikee join proof v1";
	memcpy(msg, lv, sizeof lv); /* with its NUL */
	n = sizeof lv;
	msg[n++] = 'C';
	memcpy(msg + n, t.ca_digest, PKI_CA_DIGEST_LEN);
	n += PKI_CA_DIGEST_LEN;
	REQUIRE(put_file("v.msg", msg, n) == 0);
	memcpy(msg, lp, sizeof lp);
	n = sizeof lp;
	msg[n++] = 'C';
	memcpy(msg + n, t.ca_digest, PKI_CA_DIGEST_LEN);
	n += PKI_CA_DIGEST_LEN;
	memcpy(msg + n, nonce, PKI_NONCE_LEN);
	n += PKI_NONCE_LEN;
	memcpy(msg + n, pub, PKI_KEY_PUB_LEN);
	n += PKI_KEY_PUB_LEN;
	REQUIRE(put_file("p.msg", msg, n) == 0);

	char key[2 * 32 + 1], want[2 * 32 + 1], out[512];
	hex_of(t.secret, PKI_TOKEN_SECRET_LEN, key);
	hex_of(v, sizeof v, want);
	CHECK_EQ_INT(run(out, sizeof out,
			 "openssl dgst -sha256 -mac HMAC -macopt hexkey:%s -r v.msg", key),
		     0);
	CHECK(strncmp(out, want, 64) == 0);
	hex_of(v, sizeof v, key);
	hex_of(proof, sizeof proof, want);
	CHECK_EQ_INT(run(out, sizeof out,
			 "openssl dgst -sha256 -mac HMAC -macopt hexkey:%s -r p.msg", key),
		     0);
	CHECK(strncmp(out, want, 64) == 0);
	static const char *const names[] = {"v.msg", "p.msg"};
	remove_dir(names, 2);
}

TEST_MAIN(token_known_answer, token_random_roundtrip, token_malformed_parts,
	  token_every_prefix_and_substitution, token_role_check, token_ca_pin, proof_known_answer,
	  proof_rejections, ct_eq_edges, token_wipe_clears, openssl_ca_digest_matches,
	  openssl_hmac_matches)
