/* Unit tests for cluster_cmd: the command encoding (round trips of every type, canonical
 * bytes, every prefix and every one-byte change of every command), field bounds on both sides
 * of each limit, the CA and token checks of CLUSTER_INIT / TOKEN_ROTATE, and the static
 * configuration's shape.
 */
#include "base/base_err.h"
#include "base/base_rand.h"
#include "cluster/cluster_cmd.h"
#include "pki/pki_cert.h"
#include "pki/pki_key.h"
#include "pki/pki_token.h"
#include "test.h"

#include <string.h>

/* A real CA and tokens, made once from a fixed seed. */
static struct {
	int ready;
	struct rand r;
	struct pki_ca ca, other;
	unsigned char key_der[PKI_KEY_DER_MAX], other_key_der[PKI_KEY_DER_MAX];
	size_t key_len, other_key_len;
	char ctext[PKI_TOKEN_LEN + 1], dtext[PKI_TOKEN_LEN + 1], xtext[PKI_TOKEN_LEN + 1];
	unsigned char cver[PKI_VERIFIER_LEN], dver[PKI_VERIFIER_LEN], xver[PKI_VERIFIER_LEN];
} fx;

static const char ID1[] = "o92ldyepge8379vbo0ktaixi4";
static const char CID[] = "v9m7zaq16ipo0ihhstovjo96r";

static void fx_init(void)
{
	struct buf b;
	struct pki_token t;
	unsigned char dg[PKI_CA_DIGEST_LEN];
	if (fx.ready)
		return;
	rand_init_seed(&fx.r, "cluster-cmd", 11);
	pki_ca_create(&fx.ca, &fx.r, "traefikee", 1700000000);
	pki_ca_create(&fx.other, &fx.r, "other", 1700000000);
	buf_init(&b, fx.key_der, sizeof fx.key_der);
	pki_key_to_der(&fx.ca.key, PKI_KEY_SEC1, &b);
	fx.key_len = b.len;
	buf_init(&b, fx.other_key_der, sizeof fx.other_key_der);
	pki_key_to_der(&fx.other.key, PKI_KEY_PKCS8, &b);
	fx.other_key_len = b.len;
	pki_ca_digest(fx.ca.cert, fx.ca.cert_len, dg);
	pki_token_new(&t, &fx.r, PKI_ROLE_CONTROL, dg);
	pki_token_format(&t, fx.ctext);
	pki_token_verifier(&t, fx.cver);
	pki_token_new(&t, &fx.r, PKI_ROLE_DATA, dg);
	pki_token_format(&t, fx.dtext);
	pki_token_verifier(&t, fx.dver);
	pki_ca_digest(fx.other.cert, fx.other.cert_len, dg);
	pki_token_new(&t, &fx.r, PKI_ROLE_CONTROL, dg);
	pki_token_format(&t, fx.xtext);
	pki_token_verifier(&t, fx.xver);
	fx.ready = 1;
}

static struct slice S(const char *s) {
	return slice_from_cstr(s);
}

static struct slice
B(const void *p, size_t n) {
	return (struct slice){p, n};
}

static struct cluster_cmd
cmd_init(void)
{
	struct cluster_cmd c = {.type = CLUSTER_CMD_INIT};
	fx_init();
	c.u.init.cluster_id = S(CID);
	c.u.init.name = S("traefikee");
	c.u.init.created_at = 1700000000123;
	c.u.init.license = S("fakeLicense");
	c.u.init.ca_cert = B(fx.ca.cert, fx.ca.cert_len);
	c.u.init.ca_key = B(fx.key_der, fx.key_len);
	c.u.init.control_verifier = B(fx.cver, PKI_VERIFIER_LEN);
	c.u.init.data_verifier = B(fx.dver, PKI_VERIFIER_LEN);
	c.u.init.control_token = S(fx.ctext);
	c.u.init.data_token = S(fx.dtext);
	cluster_limits_default(&c.u.init.limits);
	return c;
}

/* One valid command of each type. */
static struct cluster_cmd sample(int type)
{
	struct cluster_cmd c = {.type = (enum cluster_cmd_type)type};
	static const unsigned char serial[16] = {0x7f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
	fx_init();
	switch (type) {
	case CLUSTER_CMD_INIT: return cmd_init();
	case CLUSTER_CMD_NODE_JOIN:
		c.u.join = (struct cluster_cmd_join){S(ID1),
						     S("control-node-1"),
						     CLUSTER_ROLE_CONTROL,
						     S("10.0.0.2:4242"),
						     B(serial, 16),
						     1707776000000,
						     1700000001000};
		break;
	case CLUSTER_CMD_NODE_STATUS:
		c.u.status = (struct cluster_cmd_status){S(ID1), CLUSTER_STATUS_READY, 5};
		break;
	case CLUSTER_CMD_NODE_AVAIL:
		c.u.avail = (struct cluster_cmd_avail){S(ID1), CLUSTER_AVAIL_DRAIN, 6};
		break;
	case CLUSTER_CMD_NODE_REMOVE: c.u.remove = (struct cluster_cmd_remove){S(ID1), 1, 7}; break;
	case CLUSTER_CMD_DEPLOY:
		c.u.deploy.config = S("{\"entryPoints\":{\"http\":{\"address\":\":80\"}}}");
		c.u.deploy.at = 8;
		break;
	case CLUSTER_CMD_ROUTING_SET:
		c.u.routing = (struct cluster_cmd_routing){42, 9, S("{\"version\":1}")};
		break;
	case CLUSTER_CMD_LICENSE_SET:
		c.u.license = (struct cluster_cmd_license){S("newLicense"), 10};
		break;
	case CLUSTER_CMD_CERT_REVOKE:
		c.u.revoke = (struct cluster_cmd_revoke){B(serial, 3), 11, 12};
		break;
	case CLUSTER_CMD_TOKEN_ROTATE:
		c.u.token = (struct cluster_cmd_token){
			CLUSTER_ROLE_DATA, B(fx.dver, PKI_VERIFIER_LEN), S(fx.dtext), 13};
		break;
	case CLUSTER_CMD_BOOTSTRAP_DONE:
		c.u.bootstrap_done = (struct cluster_cmd_bootstrap_done){S(ID1), 14};
		break;
	case CLUSTER_CMD_REVOKED_PURGE: c.u.purge.before = 15; break;
	case CLUSTER_CMD_LIMITS_SET: cluster_limits_default(&c.u.limits.limits); break;
	case CLUSTER_CMD_NODE_CERT:
		c.u.cert =
			(struct cluster_cmd_cert){S(ID1),        B(serial, 16), B(serial + 1, 15),
						  1715552000000, 1707776000000, 1707000000000};
		break;
	case CLUSTER_CMD_NODE_ADDR:
		c.u.addr = (struct cluster_cmd_addr){S(ID1), S("10.0.0.9:4242"), 16};
		break;
	}
	return c;
}

static uint8_t enc[1 << 16], enc2[1 << 16];

static int encode(const struct cluster_cmd *c, uint8_t *out, size_t cap)
{
	struct buf b;
	buf_init(&b, out, cap);
	return cluster_cmd_encode(c, &b);
}

/* Decode must give back bytes that encode identically. */
static int roundtrip_ok(const uint8_t *p, size_t n)
{
	struct cluster_cmd d;
	if (cluster_cmd_decode(p, n, &d, NULL, 0) < 0)
		return 0;
	int m = encode(&d, enc2, sizeof enc2);
	return m == (int)n && memcmp(p, enc2, n) == 0;
}

/* --- Encoding ----------------------------------------------------------------------------- */

static void roundtrip_every_type(void)
{
	for (int type = 1; type <= CLUSTER_CMD_TYPE_MAX; type++) {
		struct cluster_cmd c = sample(type), d;
		char why[CLUSTER_WHY_MAX];
		int n = encode(&c, enc, sizeof enc);
		REQUIRE(n > 0);
		CHECK_EQ_INT(n, cluster_cmd_size(&c));
		CHECK_EQ_INT(enc[0], 'T');
		CHECK_EQ_INT(enc[2], CLUSTER_CMD_VERSION);
		CHECK_EQ_INT(enc[3], type);
		int rc = cluster_cmd_decode(enc, (size_t)n, &d, why, sizeof why);
		if (rc != 0)
			fprintf(stderr, "  type %d: %s\n", type, why);
		REQUIRE(rc == 0);
		CHECK_EQ_INT(d.type, type);
		CHECK(roundtrip_ok(enc, (size_t)n));
	}
}

static void decoded_fields_are_views(void)
{
	struct cluster_cmd c = sample(CLUSTER_CMD_NODE_JOIN), d;
	int n = encode(&c, enc, sizeof enc);
	REQUIRE(n > 0);
	REQUIRE(cluster_cmd_decode(enc, (size_t)n, &d, NULL, 0) == 0);
	CHECK_EQ_MEM(d.u.join.id.p, d.u.join.id.len, ID1);
	CHECK_EQ_MEM(d.u.join.name.p, d.u.join.name.len, "control-node-1");
	CHECK_EQ_MEM(d.u.join.addr.p, d.u.join.addr.len, "10.0.0.2:4242");
	CHECK_EQ_INT(d.u.join.role, CLUSTER_ROLE_CONTROL);
	CHECK_EQ_INT(d.u.join.serial.len, 16);
	CHECK_EQ_INT(d.u.join.cert_not_after, 1707776000000);
	CHECK_EQ_INT(d.u.join.at, 1700000001000);
	/* The views point into the input. */
	CHECK((const uint8_t *)d.u.join.name.p > enc && (const uint8_t *)d.u.join.name.p < enc + n);

	c = sample(CLUSTER_CMD_ROUTING_SET);
	n = encode(&c, enc, sizeof enc);
	REQUIRE(cluster_cmd_decode(enc, (size_t)n, &d, NULL, 0) == 0);
	CHECK_EQ_INT(d.u.routing.revision, 42);
	CHECK_EQ_MEM(d.u.routing.doc.p, d.u.routing.doc.len, "{\"version\":1}");
}

static void encode_buf_full_leaves_buf(void)
{
	struct cluster_cmd c = sample(CLUSTER_CMD_NODE_JOIN);
	size_t n = cluster_cmd_size(&c);
	struct buf b;
	memset(enc, 0xAA, sizeof enc);
	buf_init(&b, enc, n - 1);
	CHECK_EQ_INT(cluster_cmd_encode(&c, &b), -ERR_BUF_FULL);
	CHECK_EQ_INT(b.len, 0);
	CHECK_EQ_INT(enc[0], 0xAA);
	buf_init(&b, enc, n);
	CHECK_EQ_INT(cluster_cmd_encode(&c, &b), (int)n);
	CHECK_EQ_INT(b.len, n);
}

static void encode_refuses_invalid(void)
{
	struct cluster_cmd c = sample(CLUSTER_CMD_NODE_JOIN);
	c.u.join.role = 3;
	CHECK_EQ_INT(encode(&c, enc, sizeof enc), -ERR_CLUSTER_CMD);
	c = sample(CLUSTER_CMD_NODE_JOIN);
	c.u.join.at = -1;
	CHECK_EQ_INT(encode(&c, enc, sizeof enc), -ERR_CLUSTER_CMD);
	c.type = (enum cluster_cmd_type)99;
	CHECK_EQ_INT(encode(&c, enc, sizeof enc), -ERR_CLUSTER_CMD_VERSION);
}

/* --- Decoding untrusted bytes ------------------------------------------------------------- */

static void every_prefix_is_refused(void)
{
	for (int type = 1; type <= CLUSTER_CMD_TYPE_MAX; type++) {
		struct cluster_cmd c = sample(type), d;
		int n = encode(&c, enc, sizeof enc);
		REQUIRE(n > 0);
		for (int len = 0; len < n; len++) {
			/* An exact-size heap copy: ASan catches any read past it. */
			uint8_t *copy = malloc((size_t)len + 1);
			memcpy(copy, enc, (size_t)len);
			int rc = cluster_cmd_decode(copy, (size_t)len, &d, NULL, 0);
			free(copy);
			if (rc != -ERR_CLUSTER_CMD) {
				TEST_FAIL_("type %d prefix %d: %d", type, len, rc);
				break;
			}
		}
	}
}

static void trailing_byte_is_refused(void)
{
	struct cluster_cmd c = sample(CLUSTER_CMD_NODE_STATUS), d;
	char why[CLUSTER_WHY_MAX];
	int n = encode(&c, enc, sizeof enc);
	enc[n] = 0;
	CHECK_EQ_INT(cluster_cmd_decode(enc, (size_t)n + 1, &d, why, sizeof why), -ERR_CLUSTER_CMD);
	CHECK(strstr(why, "after the last field") != NULL);
}

/* Every single-byte change decodes to an error or to a command that re-encodes to exactly the
 * changed bytes (the encoding is canonical). */
static void every_byte_flip_is_safe(void)
{
	for (int type = 1; type <= CLUSTER_CMD_TYPE_MAX; type++) {
		if (type == CLUSTER_CMD_INIT)
			continue; /* covered by the fuzzer; 100 000 CA loads are slow under ASan */
		struct cluster_cmd c = sample(type);
		int n = encode(&c, enc, sizeof enc);
		REQUIRE(n > 0);
		for (int i = 0; i < n; i++) {
			static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
			for (size_t v = 0; v < sizeof vals; v++) {
				uint8_t save = enc[i];
				struct cluster_cmd d;
				enc[i] = vals[v];
				if (cluster_cmd_decode(enc, (size_t)n, &d, NULL, 0) == 0 &&
				    !roundtrip_ok(enc, (size_t)n))
					TEST_FAIL_("type %d byte %d value %u", type, i, vals[v]);
				enc[i] = save;
			}
		}
	}
}

static void header_versions(void)
{
	struct cluster_cmd c = sample(CLUSTER_CMD_NODE_STATUS), d;
	int n = encode(&c, enc, sizeof enc);
	enc[2] = 2;
	CHECK_EQ_INT(cluster_cmd_decode(enc, (size_t)n, &d, NULL, 0), -ERR_CLUSTER_CMD_VERSION);
	enc[2] = CLUSTER_CMD_VERSION;
	enc[3] = 0;
	CHECK_EQ_INT(cluster_cmd_decode(enc, (size_t)n, &d, NULL, 0), -ERR_CLUSTER_CMD_VERSION);
	enc[3] = CLUSTER_CMD_TYPE_MAX + 1;
	CHECK_EQ_INT(cluster_cmd_decode(enc, (size_t)n, &d, NULL, 0), -ERR_CLUSTER_CMD_VERSION);
	enc[3] = CLUSTER_CMD_NODE_STATUS;
	enc[0] = 'X';
	CHECK_EQ_INT(cluster_cmd_decode(enc, (size_t)n, &d, NULL, 0), -ERR_CLUSTER_CMD);
	CHECK_EQ_INT(cluster_cmd_decode(NULL, 0, &d, NULL, 0), -ERR_CLUSTER_CMD);
}

static void huge_length_is_refused(void)
{
	struct cluster_cmd c = sample(CLUSTER_CMD_DEPLOY), d;
	char why[CLUSTER_WHY_MAX];
	int n = encode(&c, enc, sizeof enc);
	REQUIRE(n > 8);
	/* The config length field right after the header. */
	memset(enc + 4, 0xff, 4);
	CHECK_EQ_INT(cluster_cmd_decode(enc, (size_t)n, &d, why, sizeof why), -ERR_CLUSTER_CMD);
	CHECK(strstr(why, "deploy.config") != NULL);
	/* Within the field's bound but past the input. */
	enc[4] = 0;
	enc[5] = 0;
	enc[6] = 0x10;
	enc[7] = 0;
	CHECK_EQ_INT(cluster_cmd_decode(enc, (size_t)n, &d, why, sizeof why), -ERR_CLUSTER_CMD);
	CHECK(strstr(why, "left") != NULL);
}

static void negative_time_is_refused(void)
{
	struct cluster_cmd c = sample(CLUSTER_CMD_REVOKED_PURGE), d;
	int n = encode(&c, enc, sizeof enc);
	REQUIRE(n == 12);
	enc[4] = 0x80;
	CHECK_EQ_INT(cluster_cmd_decode(enc, (size_t)n, &d, NULL, 0), -ERR_CLUSTER_CMD);
	enc[4] = 0x7f;
	CHECK_EQ_INT(cluster_cmd_decode(enc, (size_t)n, &d, NULL, 0), 0);
	CHECK_EQ_INT(d.u.purge.before >> 56, 0x7f);
}

/* --- Field bounds, both sides -------------------------------------------------------------- */

static int check_join(const char *id, const char *name, const char *addr, size_t serial_len)
{
	static const unsigned char serial[32];
	struct cluster_cmd c = sample(CLUSTER_CMD_NODE_JOIN);
	c.u.join.id = S(id);
	c.u.join.name = S(name);
	c.u.join.addr = S(addr);
	c.u.join.serial = B(serial, serial_len);
	return cluster_cmd_check(&c, NULL, 0);
}

static void join_field_bounds(void)
{
	char name[80], addr[300];
	memset(name, 'n', sizeof name);
	memset(addr, 'a', sizeof addr);
	name[CLUSTER_NODE_NAME_MAX] = '\0';
	CHECK_EQ_INT(check_join(ID1, name, "a:1", 16), 0);
	name[CLUSTER_NODE_NAME_MAX] = 'n';
	name[CLUSTER_NODE_NAME_MAX + 1] = '\0';
	CHECK_EQ_INT(check_join(ID1, name, "a:1", 16), -ERR_CLUSTER_CMD);
	addr[CLUSTER_ADDR_MAX] = '\0';
	CHECK_EQ_INT(check_join(ID1, "n", addr, 16), 0);
	addr[CLUSTER_ADDR_MAX] = 'a';
	addr[CLUSTER_ADDR_MAX + 1] = '\0';
	CHECK_EQ_INT(check_join(ID1, "n", addr, 16), -ERR_CLUSTER_CMD);
	CHECK_EQ_INT(check_join(ID1, "n", "a:1", CLUSTER_SERIAL_MAX), 0);
	CHECK_EQ_INT(check_join(ID1, "n", "a:1", CLUSTER_SERIAL_MAX + 1), -ERR_CLUSTER_CMD);
	CHECK_EQ_INT(check_join(ID1, "n", "a:1", 0), -ERR_CLUSTER_CMD);
	CHECK_EQ_INT(check_join(ID1, "", "a:1", 1), -ERR_CLUSTER_CMD);
	CHECK_EQ_INT(check_join(ID1, "n", "", 1), -ERR_CLUSTER_CMD);
}

static void join_field_characters(void)
{
	char why[CLUSTER_WHY_MAX];
	struct cluster_cmd c = sample(CLUSTER_CMD_NODE_JOIN);
	CHECK_EQ_INT(check_join("O92ldyepge8379vbo0ktaixi4", "n", "a:1", 1), -ERR_CLUSTER_CMD);
	CHECK_EQ_INT(check_join("o92ldyepge8379vbo0ktaixi", "n", "a:1", 1), -ERR_CLUSTER_CMD);
	CHECK_EQ_INT(check_join(ID1, "node 1", "a:1", 1), -ERR_CLUSTER_CMD);
	CHECK_EQ_INT(check_join(ID1, "node\"1", "a:1", 1), -ERR_CLUSTER_CMD);
	CHECK_EQ_INT(check_join(ID1, "Node_1.a-b", "a:1", 1), 0);
	CHECK_EQ_INT(check_join(ID1, "n", "a :1", 1), -ERR_CLUSTER_CMD);
	CHECK_EQ_INT(check_join(ID1, "n", "[::1]:4242", 1), 0);
	c.u.join.name = S("bad\nname");
	CHECK_EQ_INT(cluster_cmd_check(&c, why, sizeof why), -ERR_CLUSTER_CMD);
	CHECK_EQ_STR(why, "node_join.name: character 3 not allowed");
}

static void license_bounds(void)
{
	static char lic[CLUSTER_LICENSE_MAX + 2];
	struct cluster_cmd c = sample(CLUSTER_CMD_LICENSE_SET);
	memset(lic, 'L', sizeof lic);
	c.u.license.license = B(lic, CLUSTER_LICENSE_MAX);
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), 0);
	c.u.license.license = B(lic, CLUSTER_LICENSE_MAX + 1);
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), -ERR_CLUSTER_CMD);
	c.u.license.license = S("with space is fine");
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), 0);
	c.u.license.license = S("tab\tis not");
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), -ERR_CLUSTER_CMD);
}

static void limits_bounds(void)
{
	struct cluster_limits l;
	char why[CLUSTER_WHY_MAX];
	cluster_limits_default(&l);
	CHECK_EQ_INT(l.max_nodes, 64);
	CHECK_EQ_INT(l.max_routing_bytes, 4u << 20);
	CHECK_EQ_INT(cluster_limits_check(&l, NULL, 0), 0);
	l.max_nodes = CLUSTER_MAX_NODES_LIMIT;
	CHECK_EQ_INT(cluster_limits_check(&l, NULL, 0), 0);
	l.max_nodes = CLUSTER_MAX_NODES_LIMIT + 1;
	CHECK_EQ_INT(cluster_limits_check(&l, why, sizeof why), -ERR_CLUSTER_LIMITS);
	CHECK(strstr(why, "max_nodes") != NULL);
	l.max_nodes = 0;
	CHECK_EQ_INT(cluster_limits_check(&l, NULL, 0), -ERR_CLUSTER_LIMITS);
	cluster_limits_default(&l);
	l.max_routing_bytes = CLUSTER_MAX_ROUTING_LIMIT;
	CHECK_EQ_INT(cluster_limits_check(&l, NULL, 0), 0);
	l.max_routing_bytes = CLUSTER_MAX_ROUTING_LIMIT + 1;
	CHECK_EQ_INT(cluster_limits_check(&l, why, sizeof why), -ERR_CLUSTER_LIMITS);
	CHECK(strstr(why, "max_routing_bytes") != NULL);
	l.max_routing_bytes = CLUSTER_MAX_ROUTING_MIN - 1;
	CHECK_EQ_INT(cluster_limits_check(&l, NULL, 0), -ERR_CLUSTER_LIMITS);

	struct cluster_cmd c = sample(CLUSTER_CMD_LIMITS_SET);
	c.u.limits.limits.max_revoked = CLUSTER_MAX_REVOKED_LIMIT + 1;
	CHECK_EQ_INT(cluster_cmd_check(&c, why, sizeof why), -ERR_CLUSTER_CMD);
	CHECK(strstr(why, "limits_set.max_revoked") != NULL);
}

/* --- NODE_CERT ---------------------------------------------------------------------------- */

static void node_cert_roundtrip(void)
{
	struct cluster_cmd c = sample(CLUSTER_CMD_NODE_CERT), d;
	char why[CLUSTER_WHY_MAX];
	int n = encode(&c, enc, sizeof enc);
	/* header, id, two serials, three times */
	REQUIRE(n == 4 + (4 + ID_LEN) + (4 + 16) + (4 + 15) + 3 * 8);
	CHECK_EQ_INT(enc[3], CLUSTER_CMD_NODE_CERT);
	REQUIRE(cluster_cmd_decode(enc, (size_t)n, &d, why, sizeof why) == 0);
	CHECK_EQ_INT(d.type, CLUSTER_CMD_NODE_CERT);
	CHECK_EQ_MEM(d.u.cert.id.p, d.u.cert.id.len, ID1);
	CHECK(d.u.cert.keep_serial.len == 16 &&
	      memcmp(d.u.cert.keep_serial.p, c.u.cert.keep_serial.p, 16) == 0);
	CHECK(d.u.cert.serial.len == 15 && memcmp(d.u.cert.serial.p, c.u.cert.serial.p, 15) == 0);
	CHECK_EQ_INT(d.u.cert.cert_not_after, 1715552000000);
	CHECK_EQ_INT(d.u.cert.keep_not_after, 1707776000000);
	CHECK_EQ_INT(d.u.cert.at, 1707000000000);
	/* Views into the input. */
	CHECK((const uint8_t *)d.u.cert.serial.p > enc &&
	      (const uint8_t *)d.u.cert.serial.p < enc + n);
	CHECK(roundtrip_ok(enc, (size_t)n));
	CHECK_EQ_STR(cluster_cmd_type_name(CLUSTER_CMD_NODE_CERT), "NODE_CERT");
}

/* Check a NODE_CERT with one field changed; the sentence in why must name the field. */
static int check_cert(const struct cluster_cmd *c, const char *want_in_why)
{
	char why[CLUSTER_WHY_MAX] = "";
	int rc = cluster_cmd_check(c, why, sizeof why);
	if (want_in_why && !strstr(why, want_in_why))
		TEST_FAIL_("why \"%s\" does not name %s", why, want_in_why);
	/* The encoder refuses what check refuses. */
	if (rc < 0 && encode(c, enc, sizeof enc) != rc)
		TEST_FAIL_("encode accepted what check refused (%d)", rc);
	return rc;
}

static void node_cert_field_checks(void)
{
	static const unsigned char big[CLUSTER_SERIAL_MAX + 1] = {1, 2, 3};
	struct cluster_cmd c = sample(CLUSTER_CMD_NODE_CERT);
	CHECK_EQ_INT(check_cert(&c, NULL), 0);
	/* id: shape */
	c.u.cert.id = S("O92ldyepge8379vbo0ktaixi4");
	CHECK_EQ_INT(check_cert(&c, "node_cert.id: character 0"), -ERR_CLUSTER_CMD);
	c.u.cert.id = S("o92ldyepge8379vbo0ktaixi");
	CHECK_EQ_INT(check_cert(&c, "node_cert.id: 24 bytes"), -ERR_CLUSTER_CMD);
	c.u.cert.id = S("");
	CHECK_EQ_INT(check_cert(&c, "node_cert.id"), -ERR_CLUSTER_CMD);
	/* keep_serial: 1..CLUSTER_SERIAL_MAX */
	c = sample(CLUSTER_CMD_NODE_CERT);
	c.u.cert.keep_serial = B(big, 0);
	CHECK_EQ_INT(check_cert(&c, "node_cert.keep_serial: 0 bytes"), -ERR_CLUSTER_CMD);
	c.u.cert.keep_serial = B(big, CLUSTER_SERIAL_MAX + 1);
	CHECK_EQ_INT(check_cert(&c, "node_cert.keep_serial: 21 bytes"), -ERR_CLUSTER_CMD);
	c.u.cert.keep_serial = B(big, CLUSTER_SERIAL_MAX);
	CHECK_EQ_INT(check_cert(&c, NULL), 0);
	c.u.cert.keep_serial = B(big, 1);
	CHECK_EQ_INT(check_cert(&c, NULL), 0);
	c.u.cert.keep_serial = B(NULL, 1);
	CHECK_EQ_INT(check_cert(&c, "node_cert.keep_serial: no data"), -ERR_CLUSTER_CMD);
	/* serial: 1..CLUSTER_SERIAL_MAX */
	c = sample(CLUSTER_CMD_NODE_CERT);
	c.u.cert.serial = B(big, 0);
	CHECK_EQ_INT(check_cert(&c, "node_cert.serial: 0 bytes"), -ERR_CLUSTER_CMD);
	c.u.cert.serial = B(big, CLUSTER_SERIAL_MAX + 1);
	CHECK_EQ_INT(check_cert(&c, "node_cert.serial: 21 bytes"), -ERR_CLUSTER_CMD);
	c.u.cert.serial = B(big, CLUSTER_SERIAL_MAX);
	CHECK_EQ_INT(check_cert(&c, NULL), 0);
	/* serial != keep_serial: the same bytes elsewhere in memory are still equal... */
	c = sample(CLUSTER_CMD_NODE_CERT);
	unsigned char copy[16];
	memcpy(copy, c.u.cert.keep_serial.p, 16);
	c.u.cert.serial = B(copy, 16);
	CHECK_EQ_INT(check_cert(&c, "node_cert.serial: equal to keep_serial"), -ERR_CLUSTER_CMD);
	/* ...and a prefix is not equal. */
	c.u.cert.serial = B(copy, 15);
	CHECK_EQ_INT(check_cert(&c, NULL), 0);
	/* times: never negative */
	c = sample(CLUSTER_CMD_NODE_CERT);
	c.u.cert.cert_not_after = -1;
	CHECK_EQ_INT(check_cert(&c, "node_cert.cert_not_after: negative"), -ERR_CLUSTER_CMD);
	c = sample(CLUSTER_CMD_NODE_CERT);
	c.u.cert.keep_not_after = -1;
	CHECK_EQ_INT(check_cert(&c, "node_cert.keep_not_after: negative"), -ERR_CLUSTER_CMD);
	c = sample(CLUSTER_CMD_NODE_CERT);
	c.u.cert.at = INT64_MIN;
	CHECK_EQ_INT(check_cert(&c, "node_cert.at: negative"), -ERR_CLUSTER_CMD);
	c.u.cert.at = 0;
	CHECK_EQ_INT(check_cert(&c, NULL), 0);
}

/* Bytes a proposer could not have encoded are refused by decode too. */
static void node_cert_decode_refusals(void)
{
	struct cluster_cmd c = sample(CLUSTER_CMD_NODE_CERT), d;
	char why[CLUSTER_WHY_MAX];
	int n = encode(&c, enc, sizeof enc);
	REQUIRE(n > 0);
	/* Truncated anywhere, down to the header. */
	CHECK_EQ_INT(cluster_cmd_decode(enc, (size_t)n - 1, &d, why, sizeof why), -ERR_CLUSTER_CMD);
	CHECK(strstr(why, "node_cert.at: command cut short") != NULL);
	CHECK_EQ_INT(cluster_cmd_decode(enc, 4 + 4 + ID_LEN + 4, &d, why, sizeof why),
		     -ERR_CLUSTER_CMD);
	CHECK(strstr(why, "node_cert.keep_serial") != NULL);
	CHECK_EQ_INT(cluster_cmd_decode(enc, 4, &d, why, sizeof why), -ERR_CLUSTER_CMD);
	CHECK(strstr(why, "node_cert.id") != NULL);
	/* The new serial overwritten with the kept one's first 15 bytes, then the kept one
	 * shortened to match: serial == keep_serial. */
	const size_t keep_at = 4 + 4 + ID_LEN; /* keep_serial's length field */
	const size_t new_at = keep_at + 4 + 16;
	memcpy(enc2, enc, (size_t)n);
	memcpy(enc2 + new_at + 4, enc2 + keep_at + 4, 15);
	CHECK_EQ_INT(cluster_cmd_decode(enc2, (size_t)n, &d, NULL, 0), 0);
	memcpy(enc2 + keep_at + 4, enc2 + new_at + 4, 15);
	memmove(enc2 + keep_at + 4 + 15, enc2 + keep_at + 4 + 16, (size_t)n - (keep_at + 4 + 16));
	enc2[keep_at + 3] = 15;
	CHECK_EQ_INT(cluster_cmd_decode(enc2, (size_t)n - 1, &d, why, sizeof why),
		     -ERR_CLUSTER_CMD);
	CHECK_EQ_STR(why, "node_cert.serial: equal to keep_serial");
	/* A serial length over the bound, and a negative time. */
	memcpy(enc2, enc, (size_t)n);
	enc2[new_at + 3] = CLUSTER_SERIAL_MAX + 1;
	CHECK_EQ_INT(cluster_cmd_decode(enc2, (size_t)n, &d, why, sizeof why), -ERR_CLUSTER_CMD);
	CHECK(strstr(why, "node_cert.serial: 21 bytes") != NULL);
	memcpy(enc2, enc, (size_t)n);
	enc2[n - 16] = 0x80; /* keep_not_after's top byte */
	CHECK_EQ_INT(cluster_cmd_decode(enc2, (size_t)n, &d, why, sizeof why), -ERR_CLUSTER_CMD);
	CHECK_EQ_STR(why, "node_cert.keep_not_after: negative time");
}

/* --- CLUSTER_INIT and TOKEN_ROTATE checks --------------------------------------------------- */

static void init_ca_must_load(void)
{
	struct cluster_cmd c = cmd_init();
	char why[CLUSTER_WHY_MAX];
	CHECK_EQ_INT(cluster_cmd_check(&c, why, sizeof why), 0);
	/* A key from another CA. */
	c.u.init.ca_key = B(fx.other_key_der, fx.other_key_len);
	CHECK_EQ_INT(cluster_cmd_check(&c, why, sizeof why), -ERR_PKI_KEY);
	CHECK(strstr(why, "cluster_init.ca") != NULL);
	/* Not a certificate. */
	c = cmd_init();
	c.u.init.ca_cert = S("not DER at all");
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), -ERR_PKI_CERT);
	/* PKCS#8 is accepted as well as SEC1. */
	c = cmd_init();
	c.u.init.ca_cert = B(fx.other.cert, fx.other.cert_len);
	c.u.init.ca_key = B(fx.other_key_der, fx.other_key_len);
	c.u.init.control_token = S("");
	c.u.init.data_token = S("");
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), 0);
}

static void init_tokens_must_match(void)
{
	struct cluster_cmd c = cmd_init();
	char why[CLUSTER_WHY_MAX];
	/* Token of another CA, with its own verifier: pins the wrong CA. */
	c.u.init.control_token = S(fx.xtext);
	c.u.init.control_verifier = B(fx.xver, PKI_VERIFIER_LEN);
	CHECK_EQ_INT(cluster_cmd_check(&c, why, sizeof why), -ERR_CLUSTER_TOKEN);
	CHECK(strstr(why, "pin") != NULL);
	CHECK(strstr(why, fx.xtext + 7) == NULL); /* never the secret */
	/* Right token, wrong verifier. */
	c = cmd_init();
	c.u.init.control_verifier = B(fx.dver, PKI_VERIFIER_LEN);
	CHECK_EQ_INT(cluster_cmd_check(&c, why, sizeof why), -ERR_CLUSTER_TOKEN);
	CHECK(strstr(why, "verifier") != NULL);
	/* A data token in the control slot. */
	c = cmd_init();
	c.u.init.control_token = S(fx.dtext);
	c.u.init.control_verifier = B(fx.dver, PKI_VERIFIER_LEN);
	CHECK_EQ_INT(cluster_cmd_check(&c, why, sizeof why), -ERR_CLUSTER_TOKEN);
	CHECK(strstr(why, "role") != NULL);
	/* Verifiers only. */
	c = cmd_init();
	c.u.init.control_token = S("");
	c.u.init.data_token = S("");
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), 0);
	/* A token text of the wrong length. */
	c.u.init.data_token = S("TEE1-D-short");
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), -ERR_CLUSTER_CMD);
}

static void token_rotate_checks(void)
{
	struct cluster_cmd c = sample(CLUSTER_CMD_TOKEN_ROTATE);
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), 0);
	c.u.token.role = CLUSTER_ROLE_CONTROL;
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), -ERR_CLUSTER_TOKEN);
	c.u.token.token = S("");
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), 0);
	c.u.token.verifier = B(fx.dver, 31);
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), -ERR_CLUSTER_CMD);
	/* The text parses but a secret character was changed: verifier mismatch. */
	char t[PKI_TOKEN_LEN + 1];
	memcpy(t, fx.dtext, sizeof t);
	t[PKI_TOKEN_LEN - 1] = t[PKI_TOKEN_LEN - 1] == 'a' ? 'b' : 'a';
	c = sample(CLUSTER_CMD_TOKEN_ROTATE);
	c.u.token.token = S(t);
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), -ERR_CLUSTER_TOKEN);
}

static void routing_doc_must_be_object(void)
{
	struct cluster_cmd c = sample(CLUSTER_CMD_ROUTING_SET);
	c.u.routing.doc = S(" \n{\"a\":1}");
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), 0);
	c.u.routing.doc = S("[1]");
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), -ERR_CLUSTER_CMD);
	c.u.routing.doc = S("{\"a\":");
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), -ERR_CLUSTER_CMD);
	c.u.routing.doc = S("{} {}");
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), -ERR_CLUSTER_CMD);
	c = sample(CLUSTER_CMD_ROUTING_SET);
	c.u.routing.revision = 0;
	CHECK_EQ_INT(cluster_cmd_check(&c, NULL, 0), -ERR_CLUSTER_CMD);
}

/* --- Static configuration ---------------------------------------------------------------- */

static json_tok toks[CLUSTER_DEPLOY_TOKENS];

static int deploy(const char *json, char *why)
{
	return cluster_cmd_check_deploy(S(json), toks, CLUSTER_DEPLOY_TOKENS, why, CLUSTER_WHY_MAX);
}

static void deploy_seed_config(void)
{
	char why[CLUSTER_WHY_MAX];
	/* The seed's deploy: two entry points, defaults, consul. */
	CHECK_EQ_INT(deploy("{\"entryPoints\":{\"http\":{\"address\":\":80\"},"
			    "\"https\":{\"address\":\":443\",\"tls\":{}}},"
			    "\"defaultEntryPoints\":[\"http\",\"https\"],"
			    "\"providers\":{\"consul\":{\"endpoint\":\"10.0.0.9:8500\","
			    "\"prefix\":\"traefik\"}},\"providersThrottleDuration\":\"2s\"}",
			    why),
		     0);
	CHECK_EQ_INT(deploy("{\"entryPoints\":{}}", why), 0);
	/* Global options for https:// backends. */
	CHECK_EQ_INT(deploy("{\"entryPoints\":{},\"insecureSkipVerify\":true,"
			    "\"rootCAs\":[\"-----BEGIN CERTIFICATE-----\\nAA==\\n\"]}",
			    why),
		     0);
}

static void deploy_shape_errors(void)
{
	char why[CLUSTER_WHY_MAX];
	CHECK_EQ_INT(deploy("[]", why), -ERR_CLUSTER_DEPLOY);
	CHECK_EQ_INT(deploy("{\"defaultEntryPoints\":[]}", why), -ERR_CLUSTER_DEPLOY);
	CHECK_EQ_STR(why, "entryPoints: missing");
	CHECK_EQ_INT(deploy("{\"entryPoints\":{\"http\":{\"addr\":\":80\"}}}", why),
		     -ERR_CLUSTER_DEPLOY);
	CHECK_EQ_STR(why, "entryPoints.http.address: missing or empty");
	CHECK_EQ_INT(deploy("{\"entryPoints\":{\"h t\":{\"address\":\":80\"}}}", why),
		     -ERR_CLUSTER_DEPLOY);
	CHECK_EQ_INT(deploy("{\"entryPoints\":{\"http\":{\"address\":\":80\"}},"
			    "\"defaultEntryPoints\":[\"https\"]}",
			    why),
		     -ERR_CLUSTER_DEPLOY);
	CHECK_EQ_STR(why, "defaultEntryPoints.0: not the name of an entry point");
	CHECK_EQ_INT(deploy("{\"entryPoints\":{},\"providers\":{\"consul\":{},\"etcd\":{}}}", why),
		     -ERR_CLUSTER_DEPLOY);
	CHECK_EQ_INT(deploy("{\"entryPoints\":{},\"providers\":{\"zookeeper\":{}}}", why),
		     -ERR_CLUSTER_DEPLOY);
	CHECK(strstr(why, "zookeeper") != NULL);
	CHECK_EQ_INT(deploy("{\"entryPoints\":{},\"Entrypoints\":{}}", why), -ERR_CLUSTER_DEPLOY);
	CHECK_EQ_STR(why, "Entrypoints: unknown key");
	CHECK_EQ_INT(deploy("{\"entryPoints\":{},\"\\u0001\":1}", why), -ERR_CLUSTER_DEPLOY);
	CHECK_EQ_STR(why, "?: unknown key");
	CHECK_EQ_INT(deploy("{\"entryPoints\":{},", why), -ERR_CLUSTER_DEPLOY);
	CHECK_EQ_INT(deploy("{\"entryPoints\":{},\"insecureSkipVerify\":\"yes\"}", why),
		     -ERR_CLUSTER_DEPLOY);
	CHECK_EQ_STR(why, "insecureSkipVerify: not a boolean");
	CHECK_EQ_INT(deploy("{\"entryPoints\":{},\"rootCAs\":\"ca.pem\"}", why),
		     -ERR_CLUSTER_DEPLOY);
	CHECK_EQ_STR(why, "rootCAs: not an array");
	CHECK_EQ_INT(deploy("{\"entryPoints\":{},\"rootCAs\":[\"x\",\"\"]}", why),
		     -ERR_CLUSTER_DEPLOY);
	CHECK_EQ_STR(why, "rootCAs.1: not a PEM certificate string");
	CHECK_EQ_INT(deploy("{\"entryPoints\":{},\"rootCAs\":[1]}", why), -ERR_CLUSTER_DEPLOY);
	CHECK_EQ_STR(why, "rootCAs.0: not a PEM certificate string");
	/* Token cap: a small array. */
	CHECK_EQ_INT(cluster_cmd_check_deploy(S("{\"entryPoints\":{}}"), toks, 3, why, sizeof why),
		     0);
	CHECK_EQ_INT(cluster_cmd_check_deploy(S("{\"entryPoints\":{}}"), toks, 2, why, sizeof why),
		     -ERR_CLUSTER_DEPLOY);
}

/* --- Names -------------------------------------------------------------------------------- */

static void vocabulary(void)
{
	enum cluster_avail a;
	CHECK_EQ_STR(cluster_cmd_type_name(CLUSTER_CMD_NODE_JOIN), "NODE_JOIN");
	CHECK_EQ_STR(cluster_cmd_type_name(0), "?");
	CHECK_EQ_STR(cluster_role_str(CLUSTER_ROLE_CONTROL), "CONTROL NODE");
	CHECK_EQ_STR(cluster_role_str(CLUSTER_ROLE_DATA), "DATA NODE");
	CHECK_EQ_STR(cluster_membership_str(CLUSTER_MEMBER_ACCEPTED), "ACCEPTED");
	CHECK_EQ_STR(cluster_membership_str(CLUSTER_MEMBER_PENDING), "PENDING");
	CHECK_EQ_STR(cluster_status_str(CLUSTER_STATUS_DOWN), "DOWN");
	CHECK_EQ_STR(cluster_avail_str(CLUSTER_AVAIL_PAUSE), "PAUSE");
	CHECK_EQ_STR(cluster_avail_str(9), "?");
	CHECK_EQ_INT(cluster_avail_parse(S("Drain"), &a), 0);
	CHECK_EQ_INT(a, CLUSTER_AVAIL_DRAIN);
	CHECK_EQ_INT(cluster_avail_parse(S("paused"), &a), -ERR_INVAL);
	/* The seed's IDs have the shape even when they do not fit 128 bits. */
	CHECK(cluster_id_valid(S("wnlqy33k9knic4eb44o4an0ve")));
	CHECK(!cluster_id_valid(S("wnlqy33k9knic4eb44o4an0v")));
	CHECK(cluster_name_valid(S("control-node-1"), CLUSTER_NODE_NAME_MAX));
	CHECK(!cluster_name_valid(S(""), CLUSTER_NODE_NAME_MAX));
}

/* --- NODE_ADDR ---------------------------------------------------------------------------- */

static void node_addr_roundtrip_and_bounds(void)
{
	struct cluster_cmd c = sample(CLUSTER_CMD_NODE_ADDR), d;
	char why[CLUSTER_WHY_MAX] = "";
	int n = encode(&c, enc, sizeof enc);
	REQUIRE(n == 4 + (4 + ID_LEN) + (4 + 13) + 8); /* header, id, address, time */
	CHECK_EQ_INT(enc[3], CLUSTER_CMD_NODE_ADDR);
	REQUIRE(cluster_cmd_decode(enc, (size_t)n, &d, why, sizeof why) == 0);
	CHECK_EQ_MEM(d.u.addr.id.p, d.u.addr.id.len, ID1);
	CHECK_EQ_MEM(d.u.addr.addr.p, d.u.addr.addr.len, "10.0.0.9:4242");
	CHECK_EQ_INT(d.u.addr.at, 16);
	CHECK(roundtrip_ok(enc, (size_t)n));
	CHECK_EQ_STR(cluster_cmd_type_name(CLUSTER_CMD_NODE_ADDR), "NODE_ADDRESS");
	/* The address as a join's: 1..CLUSTER_ADDR_MAX visible bytes, both sides of the cap. */
	char big[CLUSTER_ADDR_MAX + 2];
	memset(big, 'a', sizeof big);
	c.u.addr.addr = B(big, CLUSTER_ADDR_MAX);
	CHECK_EQ_INT(cluster_cmd_check(&c, why, sizeof why), 0);
	c.u.addr.addr = B(big, CLUSTER_ADDR_MAX + 1);
	CHECK_EQ_INT(cluster_cmd_check(&c, why, sizeof why), -ERR_CLUSTER_CMD);
	CHECK(strstr(why, "node_address.addr") != NULL);
	c.u.addr.addr = S("");
	CHECK_EQ_INT(cluster_cmd_check(&c, why, sizeof why), -ERR_CLUSTER_CMD);
	c.u.addr.addr = S("10.0.0.9 :4242");
	CHECK_EQ_INT(cluster_cmd_check(&c, why, sizeof why), -ERR_CLUSTER_CMD);
	c.u.addr.addr = S("10.0.0.9:4242");
	c.u.addr.id = S("not-an-id");
	CHECK_EQ_INT(cluster_cmd_check(&c, why, sizeof why), -ERR_CLUSTER_CMD);
}

TEST_MAIN(roundtrip_every_type, decoded_fields_are_views, encode_buf_full_leaves_buf,
	  encode_refuses_invalid, every_prefix_is_refused, trailing_byte_is_refused,
	  every_byte_flip_is_safe, header_versions, huge_length_is_refused,
	  negative_time_is_refused, join_field_bounds, join_field_characters, license_bounds,
	  limits_bounds, init_ca_must_load, init_tokens_must_match, token_rotate_checks,
	  routing_doc_must_be_object, deploy_seed_config, deploy_shape_errors, vocabulary,
	  node_cert_roundtrip, node_cert_field_checks, node_cert_decode_refusals,
	  node_addr_roundtrip_and_bounds)
