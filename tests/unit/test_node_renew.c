/* Unit tests for the pure parts of the certificate renewer (node_renew.h), which the renewer
 * itself calls: node_renew_check_answer, the check of the leader's answer to POST /renew
 * (one certificate, this cluster's CA, the new key, this node's ID and role, within its
 * validity, verifying against the CA), and the timer plan: node_renew_plan_at (50 % to 80 %
 * of the lifetime counted from issue) and node_renew_delay_ms (never more than an hour).
 *
 * Certificates come from src/pki at a fixed time, so nothing here reads a clock. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_err.h"
#include "cluster/cluster_cmd.h"
#include "node/node.h"
#include "node/node_renew.h"
#include "pki/pki_cert.h"
#include "pki/pki_key.h"
#include "pki/pki_pem.h"
#include "test.h"

#define NODE_ID "k3ld9a0zq8w7e6r5t4y3u2i1o"
#define OTHER_ID "z9y8x7w6v5u4t3s2r1q0p9o8n"
#define T0 1790000000LL /* "now" of every case: 2026-09-21 */
#define HOUR 3600
#define DAY 86400

/* A PEM text and its length. */
struct pem {
	char s[2 * NODE_PEM_MAX];
	size_t len;
};

/* Two CAs with the same subject (a CA of another cluster with the same name: only the
 * signature tells them apart), both made 30 days before T0; the node's current credentials
 * (only the CA matters to the check); the new key and another one. */
static struct {
	struct rand r;
	struct pki_ca ca, ca2;
	struct pki_key key, other_key;
	struct node_creds cur;
	struct pem ca_pem, ca2_pem;
	char why[300];
} fx;

static void pem_of(const void *der, size_t len, const char *banner, struct pem *out)
{
	struct buf b;
	buf_init(&b, out->s, sizeof out->s);
	REQUIRE(pki_pem_encode(banner, der, len, &b) == 0);
	out->len = b.len;
}

static void pem_cat(struct pem *p, const struct pem *q)
{
	REQUIRE(p->len + q->len < sizeof p->s);
	memcpy(p->s + p->len, q->s, q->len);
	p->len += q->len;
	p->s[p->len] = '\0';
}

static void setup(void)
{
	memset(&fx, 0, sizeof fx);
	rand_init_seed(&fx.r, "node-renew-tests", 16);
	REQUIRE(pki_ca_create(&fx.ca, &fx.r, "test-cluster", T0 - 30 * DAY) == 0);
	REQUIRE(pki_ca_create(&fx.ca2, &fx.r, "test-cluster", T0 - 30 * DAY) == 0);
	REQUIRE(pki_key_generate(&fx.key, &fx.r) == 0);
	REQUIRE(pki_key_generate(&fx.other_key, &fx.r) == 0);
	pem_of(fx.ca.cert, fx.ca.cert_len, PKI_PEM_CERT, &fx.ca_pem);
	pem_of(fx.ca2.cert, fx.ca2.cert_len, PKI_PEM_CERT, &fx.ca2_pem);
	memcpy(fx.cur.ca, fx.ca_pem.s, fx.ca_pem.len);
	fx.cur.ca_len = fx.ca_pem.len;
}

/* A node certificate as the leader issues it, as DER (PKI_CERT_MAX bytes): its length. */
static size_t issue_der(struct pki_ca *ca, enum pki_role role, const char *id,
			const struct pki_key *k, int64_t lifetime, int64_t at, uint8_t *der)
{
	static const char *const dns[] = {"node1.cluster.local"};
	struct pki_cert_req req = {role, id, k->pub, lifetime, NULL, 0, NULL, 0};
	if (role != PKI_ROLE_ADMIN) {
		req.dns = dns;
		req.ndns = 1;
	}
	struct buf b;
	buf_init(&b, der, PKI_CERT_MAX);
	if (pki_cert_issue(ca, &fx.r, &req, at, &b) < 0) {
		TEST_FAIL_("pki_cert_issue failed");
		return 0;
	}
	return b.len;
}

/* The same as PEM. */
static void issue(struct pki_ca *ca, enum pki_role role, const char *id, const struct pki_key *k,
		  int64_t lifetime, int64_t at, struct pem *out)
{
	static uint8_t der[PKI_CERT_MAX];
	size_t n = issue_der(ca, role, id, k, lifetime, at, der);
	pem_of(der, n, PKI_PEM_CERT, out);
}

/* The check as the renewer of a control node NODE_ID runs it, with the new key fx.key. */
static int check_at(const struct pem *cert, const struct pem *ca, int role, int64_t now)
{
	memset(fx.why, 0, sizeof fx.why);
	return node_renew_check_answer(&fx.cur, fx.key.pub, NODE_ID, role, cert->s, cert->len,
				       ca->s, ca->len, now, fx.why, sizeof fx.why);
}

static int check(const struct pem *cert)
{
	return check_at(cert, &fx.ca_pem, CLUSTER_ROLE_CONTROL, T0);
}

/* The refusal names its reason. */
#define CHECK_WHY(s)                                                               \
	do {                                                                       \
		if (!strstr(fx.why, (s)))                                          \
			TEST_FAIL_("why == \"%s\", expected \"%s\"", fx.why, (s)); \
	} while (0)

/* ---- the answer ------------------------------------------------------------------------ */

static void answer_accepted(void)
{
	static struct pem cert;
	setup();
	issue(&fx.ca, PKI_ROLE_CONTROL, NODE_ID, &fx.key, 0, T0, &cert);
	CHECK_EQ_INT(check(&cert), 0);
	CHECK_EQ_STR(fx.why, "");
	/* A data node's. */
	issue(&fx.ca, PKI_ROLE_DATA, NODE_ID, &fx.key, 0, T0, &cert);
	CHECK_EQ_INT(check_at(&cert, &fx.ca_pem, CLUSTER_ROLE_DATA, T0), 0);
	/* Text around the one object is ignored (PEM allows it). */
	static struct pem wrapped;
	memcpy(wrapped.s, "\n# the certificate\n", 19);
	wrapped.len = 19;
	pem_cat(&wrapped, &cert);
	CHECK_EQ_INT(check_at(&wrapped, &fx.ca_pem, CLUSTER_ROLE_DATA, T0), 0);
}

/* Signed by another CA with the same name, the answer naming our CA: only the signature
 * tells, and it does not verify. */
static void refuses_other_signer(void)
{
	static struct pem cert;
	setup();
	issue(&fx.ca2, PKI_ROLE_CONTROL, NODE_ID, &fx.key, 0, T0, &cert);
	CHECK_EQ_INT(check(&cert), -ERR_PKI_CERT);
	CHECK_WHY("does not verify against the cluster CA");
}

/* The answer names another CA (and its certificate comes from it). */
static void refuses_other_ca(void)
{
	static struct pem cert;
	setup();
	issue(&fx.ca2, PKI_ROLE_CONTROL, NODE_ID, &fx.key, 0, T0, &cert);
	CHECK_EQ_INT(check_at(&cert, &fx.ca2_pem, CLUSTER_ROLE_CONTROL, T0), -ERR_PKI_CA_MISMATCH);
	CHECK_WHY("CA is not this cluster's");
	/* Our CA, then another one: not one certificate. */
	static struct pem two;
	two = fx.ca_pem;
	pem_cat(&two, &fx.ca2_pem);
	issue(&fx.ca, PKI_ROLE_CONTROL, NODE_ID, &fx.key, 0, T0, &cert);
	CHECK_EQ_INT(check_at(&cert, &two, CLUSTER_ROLE_CONTROL, T0), -ERR_PARSE);
	CHECK_WHY("CA holds more than one PEM object");
	/* No CA at all. */
	static struct pem empty;
	CHECK_EQ_INT(check_at(&cert, &empty, CLUSTER_ROLE_CONTROL, T0), -ERR_PARSE);
	CHECK_WHY("CA holds no PEM object");
	/* This node's own CA unreadable (a damaged state directory): nothing to compare with. */
	memcpy(fx.cur.ca, "garbage", 7);
	fx.cur.ca_len = 7;
	CHECK_EQ_INT(check(&cert), -ERR_PKI_CERT);
	CHECK_WHY("this node's CA does not parse");
}

static void refuses_other_key(void)
{
	static struct pem cert;
	setup();
	issue(&fx.ca, PKI_ROLE_CONTROL, NODE_ID, &fx.other_key, 0, T0, &cert);
	CHECK_EQ_INT(check(&cert), -ERR_PKI_CERT);
	CHECK_WHY("not for the new key");
}

static void refuses_other_node(void)
{
	static struct pem cert;
	setup();
	issue(&fx.ca, PKI_ROLE_CONTROL, OTHER_ID, &fx.key, 0, T0, &cert);
	CHECK_EQ_INT(check(&cert), -ERR_PKI_CERT);
	CHECK_WHY("names node " OTHER_ID ", not this node " NODE_ID);
	/* A prefix of our ID is another ID. */
	issue(&fx.ca, PKI_ROLE_CONTROL, "k3ld9a0zq8w7e6r5t4y3u2i1", &fx.key, 0, T0, &cert);
	CHECK_EQ_INT(check(&cert), -ERR_PKI_CERT);
	CHECK_WHY("names node k3ld9a0zq8w7e6r5t4y3u2i1,");
}

/* The subject's OU attribute type (2.5.4.11) in a DER certificate, rewritten to `type`: the
 * issuer (the CA) has no OU, so the one match is the subject's. The signature no longer
 * holds, but the identity is checked first. */
static void patch_ou(uint8_t *der, size_t len, uint8_t type)
{
	static const uint8_t ou[] = {0x06, 0x03, 0x55, 0x04, 0x0b};
	int found = 0;
	for (size_t i = 0; i + sizeof ou <= len; i++)
		if (memcmp(der + i, ou, sizeof ou) == 0) {
			der[i + 4] = type;
			found++;
		}
	CHECK_EQ_INT(found, 1);
}

static void refuses_other_role(void)
{
	static struct pem cert;
	setup();
	issue(&fx.ca, PKI_ROLE_DATA, NODE_ID, &fx.key, 0, T0, &cert);
	CHECK_EQ_INT(check_at(&cert, &fx.ca_pem, CLUSTER_ROLE_CONTROL, T0), -ERR_PKI_CERT);
	CHECK_WHY("is for role data, not control");
	issue(&fx.ca, PKI_ROLE_CONTROL, NODE_ID, &fx.key, 0, T0, &cert);
	CHECK_EQ_INT(check_at(&cert, &fx.ca_pem, CLUSTER_ROLE_DATA, T0), -ERR_PKI_CERT);
	CHECK_WHY("is for role control, not data");
	issue(&fx.ca, PKI_ROLE_ADMIN, NODE_ID, &fx.key, 0, T0, &cert);
	CHECK_EQ_INT(check_at(&cert, &fx.ca_pem, CLUSTER_ROLE_DATA, T0), -ERR_PKI_CERT);
	CHECK_WHY("is for role admin, not data");
	/* No OU at all (it became a title, 2.5.4.12): no role. */
	static uint8_t der[PKI_CERT_MAX];
	size_t n = issue_der(&fx.ca, PKI_ROLE_CONTROL, NODE_ID, &fx.key, 0, T0, der);
	patch_ou(der, n, 0x0c);
	pem_of(der, n, PKI_PEM_CERT, &cert);
	CHECK_EQ_INT(check(&cert), -ERR_PKI_CERT);
	CHECK_WHY("is for role (none), not control");
	/* A second CN instead of the OU: no identity can be read. */
	n = issue_der(&fx.ca, PKI_ROLE_CONTROL, NODE_ID, &fx.key, 0, T0, der);
	patch_ou(der, n, 0x03);
	pem_of(der, n, PKI_PEM_CERT, &cert);
	CHECK_EQ_INT(check(&cert), -ERR_PKI_CERT);
	CHECK_WHY("has no node identity");
}

/* Issued 2 h ago for an hour: notAfter T0 - 1 h. Valid up to notAfter itself, as BearSSL. */
static void refuses_expired(void)
{
	static struct pem cert;
	setup();
	int64_t at = T0 - 2 * HOUR;
	issue(&fx.ca, PKI_ROLE_CONTROL, NODE_ID, &fx.key, HOUR, at, &cert);
	CHECK_EQ_INT(check(&cert), -ERR_PKI_CERT);
	CHECK_WHY("expired at 2026-09-21T13:13:20.000Z");
	CHECK_EQ_INT(check_at(&cert, &fx.ca_pem, CLUSTER_ROLE_CONTROL, at + HOUR), 0);
	CHECK_EQ_INT(check_at(&cert, &fx.ca_pem, CLUSTER_ROLE_CONTROL, at + HOUR + 1),
		     -ERR_PKI_CERT);
	CHECK_WHY("expired at");
}

/* Issued an hour ahead (a leader whose clock runs fast): notBefore T0 + 1 h - PKI_BACKDATE. */
static void refuses_not_yet_valid(void)
{
	static struct pem cert;
	setup();
	int64_t at = T0 + HOUR;
	issue(&fx.ca, PKI_ROLE_CONTROL, NODE_ID, &fx.key, 0, at, &cert);
	CHECK_EQ_INT(check(&cert), -ERR_PKI_CERT);
	CHECK_WHY("not valid before 2026-09-21T15:08:20.000Z");
	CHECK_EQ_INT(check_at(&cert, &fx.ca_pem, CLUSTER_ROLE_CONTROL, at - PKI_BACKDATE), 0);
	CHECK_EQ_INT(check_at(&cert, &fx.ca_pem, CLUSTER_ROLE_CONTROL, at - PKI_BACKDATE - 1),
		     -ERR_PKI_CERT);
	CHECK_WHY("not valid before");
}

/* Empty, garbage, every prefix of a good answer, a corrupted body, a body that is not a
 * whole certificate: refused, no crash (ASan watches the reads). */
static void refuses_broken_pem(void)
{
	static struct pem cert, cut, bad;
	setup();
	issue(&fx.ca, PKI_ROLE_CONTROL, NODE_ID, &fx.key, 0, T0, &cert);
	CHECK_EQ_INT(check_at(&cert, &fx.ca_pem, CLUSTER_ROLE_CONTROL, T0), 0);

	cut.len = 0;
	CHECK_EQ_INT(check(&cut), -ERR_PARSE);
	CHECK_WHY("certificate holds no PEM object");
	strcpy(cut.s, "not a certificate at all");
	cut.len = strlen(cut.s);
	CHECK_EQ_INT(check(&cut), -ERR_PARSE);
	CHECK_WHY("certificate holds no PEM object");

	/* Every prefix cut before the END line's "-----END " is refused. BearSSL's PEM decoder
	 * ends an object there and does not read the rest of that line, so the longer prefixes
	 * hold the whole certificate and pass: its base64 body is complete. Each prefix is in a
	 * buffer of its exact length, so ASan sees a read past it. */
	const char *end = strstr(cert.s, "-----END CERTIFICATE-----");
	REQUIRE(end != NULL);
	size_t first_ok = (size_t)(end - cert.s) + strlen("-----END ");
	int refused = 0, accepted = 0;
	for (size_t n = 0; n <= cert.len; n++) {
		char *p = malloc(n ? n : 1);
		REQUIRE(p != NULL);
		memcpy(p, cert.s, n);
		memset(fx.why, 0, sizeof fx.why);
		int rc = node_renew_check_answer(&fx.cur, fx.key.pub, NODE_ID, CLUSTER_ROLE_CONTROL,
						 p, n, fx.ca_pem.s, fx.ca_pem.len, T0, fx.why,
						 sizeof fx.why);
		free(p);
		if (n < first_ok && rc == -ERR_PARSE && fx.why[0])
			refused++;
		else if (n >= first_ok && rc == 0)
			accepted++;
		else
			TEST_FAIL_("prefix of %zu bytes: %d (%s)", n, rc, fx.why);
	}
	CHECK_EQ_INT(refused, (int)first_ok);
	CHECK_EQ_INT(accepted, (int)(cert.len + 1 - first_ok));

	/* A character outside base64 in the body. */
	bad = cert;
	bad.s[40] = '*';
	CHECK_EQ_INT(check(&bad), -ERR_PARSE);
	CHECK_WHY("certificate is not valid PEM");

	/* Well-formed PEM around a certificate cut short. */
	static uint8_t der[PKI_CERT_MAX];
	struct buf b;
	buf_init(&b, der, sizeof der);
	struct slice in = {cert.s, cert.len};
	REQUIRE(pki_pem_decode(&in, PKI_PEM_CERT, &b, NULL, 0) == 0);
	pem_of(der, b.len - 10, PKI_PEM_CERT, &bad);
	CHECK_EQ_INT(check(&bad), -ERR_PARSE);
	CHECK_WHY("certificate does not decode");

	/* A small why buffer is cut, not overrun. */
	char small[8];
	CHECK(node_renew_check_answer(&fx.cur, fx.key.pub, NODE_ID, CLUSTER_ROLE_CONTROL, cut.s, 3,
				      fx.ca_pem.s, fx.ca_pem.len, T0, small, sizeof small) < 0);
	CHECK_EQ_INT(strlen(small), sizeof small - 1);
}

/* Two certificates, or an object that is not a certificate, alone or next to one. */
static void refuses_extra_objects(void)
{
	static struct pem cert, other, two, keyp, mixed;
	setup();
	issue(&fx.ca, PKI_ROLE_CONTROL, NODE_ID, &fx.key, 0, T0, &cert);
	issue(&fx.ca, PKI_ROLE_CONTROL, NODE_ID, &fx.other_key, 0, T0, &other);

	two = cert; /* the right certificate first */
	pem_cat(&two, &other);
	CHECK_EQ_INT(check(&two), -ERR_PARSE);
	CHECK_WHY("certificate holds more than one PEM object");
	two = cert; /* the chain a server would send */
	pem_cat(&two, &fx.ca_pem);
	CHECK_EQ_INT(check(&two), -ERR_PARSE);
	CHECK_WHY("more than one PEM object");

	struct buf b;
	buf_init(&b, keyp.s, sizeof keyp.s);
	REQUIRE(pki_key_to_pem(&fx.other_key, PKI_KEY_SEC1, &b) == 0);
	keyp.len = b.len;
	CHECK_EQ_INT(check(&keyp), -ERR_PARSE);
	CHECK_WHY("certificate is a PEM \"EC PRIVATE KEY\", not a certificate");
	mixed = cert;
	pem_cat(&mixed, &keyp);
	CHECK_EQ_INT(check(&mixed), -ERR_PARSE);
	CHECK_WHY("more than one PEM object");
	mixed = keyp;
	pem_cat(&mixed, &cert);
	CHECK_EQ_INT(check(&mixed), -ERR_PARSE);
	CHECK_WHY("not a certificate");
	/* A broken object after the certificate. */
	static struct pem torn;
	strcpy(torn.s, "-----BEGIN CERTIFICATE-----\nQUFB\n");
	torn.len = strlen(torn.s);
	mixed = cert;
	pem_cat(&mixed, &torn);
	CHECK_EQ_INT(check(&mixed), -ERR_PARSE);
	CHECK_WHY("more than one PEM object");
}

/* ---- the plan -------------------------------------------------------------------------- */

/* due is within [50 %, 80 %] of the lifetime from start (floored as integer seconds). */
static int in_window(int64_t due, int64_t start, int64_t life)
{
	return due >= start + life / 2 && due <= start + life * 4 / 5;
}

static void plan_window(void)
{
	static const int64_t lives[] = {PKI_LIFETIME_MIN, HOUR, 7 * DAY, PKI_NODE_LIFETIME_DEFAULT,
					PKI_CA_LIFETIME};
	static const uint64_t rnds[] = {0, 1, 150, 299, 300, 301, 602, UINT64_MAX - 1, UINT64_MAX};
	struct rand r;
	rand_init_seed(&r, "plan", 4);
	for (size_t i = 0; i < sizeof lives / sizeof lives[0]; i++) {
		int64_t life = lives[i], nb = T0 - PKI_BACKDATE, na = T0 + life;
		/* The extremes are reached: 0 and 300 (mod 301). */
		CHECK_EQ_INT(node_renew_plan_at(nb, na, 0), T0 + life / 2);
		CHECK_EQ_INT(node_renew_plan_at(nb, na, 300), T0 + life * 4 / 5);
		CHECK_EQ_INT(node_renew_plan_at(nb, na, 301), T0 + life / 2);
		for (size_t k = 0; k < sizeof rnds / sizeof rnds[0]; k++) {
			int64_t due = node_renew_plan_at(nb, na, rnds[k]);
			if (!in_window(due, T0, life))
				TEST_FAIL_("life %lld rnd %llu: due T0%+lld", (long long)life,
					   (unsigned long long)rnds[k], (long long)(due - T0));
		}
		/* Random draws stay inside and spread over both halves of the window. */
		int low = 0, high = 0;
		for (int k = 0; k < 2000; k++) {
			int64_t due = node_renew_plan_at(nb, na, rand_u64(&r));
			if (!in_window(due, T0, life))
				TEST_FAIL_("life %lld: due T0%+lld", (long long)life,
					   (long long)(due - T0));
			if (due < T0 + life * 13 / 20)
				low++;
			else
				high++;
		}
		CHECK(low > 600 && high > 600);
	}
}

/* The window counts from issue, not from the backdated notBefore: a real certificate. */
static void plan_from_issue(void)
{
	static struct pem cert;
	static uint8_t der[PKI_CERT_MAX];
	setup();
	issue(&fx.ca, PKI_ROLE_DATA, NODE_ID, &fx.key, 0, T0, &cert);
	int n = node_pem_cert_der(cert.s, cert.len, der, sizeof der);
	REQUIRE(n > 0);
	struct pki_cert_info info;
	REQUIRE(pki_cert_parse(der, (size_t)n, &info) == 0);
	CHECK_EQ_INT(info.not_before, T0 - PKI_BACKDATE);
	CHECK_EQ_INT(node_renew_plan_at(info.not_before, info.not_after, 0),
		     T0 + PKI_NODE_LIFETIME_DEFAULT / 2);
	CHECK_EQ_INT(node_renew_plan_at(info.not_before, info.not_after, 300),
		     T0 + PKI_NODE_LIFETIME_DEFAULT * 4 / 5);
	/* A validity shorter than the backdating counts from notBefore itself. */
	CHECK_EQ_INT(node_renew_plan_at(1000, 1200, 0), 1100);
	CHECK_EQ_INT(node_renew_plan_at(1000, 1200, 300), 1160);
	CHECK_EQ_INT(node_renew_plan_at(1000, 1000 + PKI_BACKDATE, 0), 1000 + PKI_BACKDATE / 2);
	/* No validity at all: the start, at once. */
	CHECK_EQ_INT(node_renew_plan_at(1000, 1000, 300), 1000);
	CHECK_EQ_INT(node_renew_plan_at(1000, 900, 300), 1000);
}

/* A certificate already past 80 % of its life renews at once, whatever the draw. */
static void plan_late_renews_now(void)
{
	int64_t life = PKI_NODE_LIFETIME_DEFAULT;
	int64_t issued = T0 - life * 81 / 100;
	static const uint64_t rnds[] = {0, 150, 300, UINT64_MAX};
	for (size_t k = 0; k < sizeof rnds / sizeof rnds[0]; k++) {
		int64_t due = node_renew_plan_at(issued - PKI_BACKDATE, issued + life, rnds[k]);
		CHECK(due < T0);
		CHECK_EQ_INT(node_renew_delay_ms(due, T0), 0);
	}
	/* Even when already expired. */
	CHECK_EQ_INT(node_renew_delay_ms(node_renew_plan_at(T0 - 2 * DAY, T0 - DAY, 0), T0), 0);
}

/* The timer never sleeps more than an hour; exactly as long as needed below that. */
static void delay_at_most_an_hour(void)
{
	CHECK_EQ_INT(node_renew_delay_ms(T0, T0), 0);
	CHECK_EQ_INT(node_renew_delay_ms(T0 - 1, T0), 0);
	CHECK_EQ_INT(node_renew_delay_ms(T0 + 1, T0), 1000);
	CHECK_EQ_INT(node_renew_delay_ms(T0 + HOUR - 1, T0), (HOUR - 1) * 1000LL);
	CHECK_EQ_INT(node_renew_delay_ms(T0 + HOUR, T0), HOUR * 1000LL);
	CHECK_EQ_INT(node_renew_delay_ms(T0 + HOUR + 1, T0), HOUR * 1000LL);
	CHECK_EQ_INT(node_renew_delay_ms(T0 + 45 * DAY, T0), HOUR * 1000LL);
	/* A fresh certificate, any draw: the first sleep is the hour. */
	for (uint64_t rnd = 0; rnd < 301; rnd++)
		CHECK_EQ_INT(
			node_renew_delay_ms(node_renew_plan_at(T0 - PKI_BACKDATE,
							       T0 + PKI_NODE_LIFETIME_DEFAULT, rnd),
					    T0),
			HOUR * 1000LL);
	/* A wall clock thrown far either way: no overflow (UBSan watches). */
	CHECK_EQ_INT(node_renew_delay_ms(INT64_MAX, INT64_MIN), HOUR * 1000LL);
	CHECK_EQ_INT(node_renew_delay_ms(INT64_MIN, INT64_MAX), 0);
	CHECK_EQ_INT(node_renew_delay_ms(T0, 0), HOUR * 1000LL);
	CHECK_EQ_INT(node_renew_delay_ms(T0, -T0), HOUR * 1000LL);
}

TEST_MAIN(answer_accepted, refuses_other_signer, refuses_other_ca, refuses_other_key,
	  refuses_other_node, refuses_other_role, refuses_expired, refuses_not_yet_valid,
	  refuses_broken_pem, refuses_extra_objects, plan_window, plan_from_issue,
	  plan_late_renews_now, delay_at_most_an_hour)
