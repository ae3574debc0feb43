/* Unit tests for cluster_sm: every command applied through a real store (LMDB in a mkdtemp
 * directory, entries appended to the log as Raft would), the refusals and their result codes,
 * "a refused command changes nothing" checked on the exported bytes, caps on both sides
 * (max_nodes, max_routing_bytes, max_deploy_bytes, max_revoked), determinism across two
 * replicas, snapshot export/import (whole, piece by piece, damaged), batches, fault injection
 * and reopening.
 */
#include "base/base_err.h"
#include "base/base_id.h"
#include "base/base_rand.h"
#include "cluster/cluster_cmd.h"
#include "cluster/cluster_sm.h"
#include "pki/pki_cert.h"
#include "pki/pki_key.h"
#include "pki/pki_token.h"
#include "store/store.h"
#include "test.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- Fixture ------------------------------------------------------------------------------ */

static struct {
	int ready;
	struct rand r;
	struct pki_ca ca, other;
	unsigned char key_der[PKI_KEY_DER_MAX];
	size_t key_len;
	char ctext[PKI_TOKEN_LEN + 1], dtext[PKI_TOKEN_LEN + 1], xtext[PKI_TOKEN_LEN + 1];
	char ntext[PKI_TOKEN_LEN + 1];
	unsigned char cver[PKI_VERIFIER_LEN], dver[PKI_VERIFIER_LEN], xver[PKI_VERIFIER_LEN];
	unsigned char nver[PKI_VERIFIER_LEN];
} fx;

static void fx_init(void)
{
	struct buf b;
	struct pki_token t;
	unsigned char dg[PKI_CA_DIGEST_LEN];
	if (fx.ready)
		return;
	rand_init_seed(&fx.r, "cluster-sm", 10);
	pki_ca_create(&fx.ca, &fx.r, "traefikee", 1700000000);
	pki_ca_create(&fx.other, &fx.r, "other", 1700000000);
	buf_init(&b, fx.key_der, sizeof fx.key_der);
	pki_key_to_der(&fx.ca.key, PKI_KEY_SEC1, &b);
	fx.key_len = b.len;
	pki_ca_digest(fx.ca.cert, fx.ca.cert_len, dg);
	pki_token_new(&t, &fx.r, PKI_ROLE_CONTROL, dg);
	pki_token_format(&t, fx.ctext);
	pki_token_verifier(&t, fx.cver);
	pki_token_new(&t, &fx.r, PKI_ROLE_DATA, dg);
	pki_token_format(&t, fx.dtext);
	pki_token_verifier(&t, fx.dver);
	pki_token_new(&t, &fx.r, PKI_ROLE_DATA, dg);
	pki_token_format(&t, fx.ntext);
	pki_token_verifier(&t, fx.nver);
	pki_ca_digest(fx.other.cert, fx.other.cert_len, dg);
	pki_token_new(&t, &fx.r, PKI_ROLE_DATA, dg);
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

struct env {
	char dir[256];
	struct store st;
	struct cluster_sm sm;
	uint64_t index; /* last entry appended */
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int env_open_cfg(struct env *e, const struct cluster_sm_config *cfg, uint32_t max_entry)
{
	const char *t = getenv("TMPDIR");
	struct store_config sc = {.max_entry = max_entry};
	memset(e, 0, sizeof *e);
	snprintf(e->dir, sizeof e->dir, "%s/tee-cluster.XXXXXX", t && t[0] ? t : "/tmp");
	if (!mkdtemp(e->dir))
		return -1;
	if (store_open(&e->st, e->dir, &sc) < 0)
		return -1;
	return cluster_sm_init(&e->sm, &e->st, cfg);
}

static int env_open(struct env *e)
{
	return env_open_cfg(e, NULL, 0);
}

static void env_close(struct env *e)
{
	cluster_sm_fini(&e->sm);
	store_close(&e->st);
	nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint8_t cmdbuf[9 << 20];

/* Append raw bytes to the log at the next index and apply them. */
static int commit_raw(struct env *e, const void *p, size_t n, struct cluster_result *res)
{
	struct store_entry ent = {1, e->index + 1, p, (uint32_t)n, 1};
	if (store_append(&e->st, &ent, 1) < 0)
		return -1000;
	e->index++;
	return cluster_sm_apply(&e->sm, p, n, e->index, res);
}

static int commit(struct env *e, const struct cluster_cmd *c, struct cluster_result *res)
{
	struct buf b;
	buf_init(&b, cmdbuf, sizeof cmdbuf);
	int n = cluster_cmd_encode(c, &b);
	if (n < 0)
		return n;
	return commit_raw(e, cmdbuf, (size_t)n, res);
}

static const char CID[] = "v9m7zaq16ipo0ihhstovjo96r";

static struct cluster_cmd init_cmd(void)
{
	struct cluster_cmd c = {.type = CLUSTER_CMD_INIT};
	fx_init();
	c.u.init.cluster_id = S(CID);
	c.u.init.name = S("traefikee");
	c.u.init.created_at = 1700000000000;
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

/* Expect a command applied with this result code. */
#define APPLY(e, c, want)                                                                  \
	do {                                                                               \
		struct cluster_result r_;                                                  \
		int rc_ = commit((e), (c), &r_);                                           \
		if (rc_ != 0 || r_.code != (want))                                         \
			TEST_FAIL_("apply: rc %d code %d (%s), expected code %d: %s", rc_, \
				   r_.code, err_name(r_.code), (want), r_.msg);            \
	} while (0)

static void do_init(struct env *e)
{
	struct cluster_cmd c = init_cmd();
	APPLY(e, &c, 0);
}

static void mkid(int n, char out[ID_LEN + 1])
{
	unsigned char b[16] = {0};
	b[0] = 0x11;
	b[14] = (unsigned char)(n >> 8);
	b[15] = (unsigned char)n;
	id_from_bytes(b, out);
}

static struct cluster_cmd join_cmd(const char *id, const char *name, int role,
				   const unsigned char *serial)
{
	struct cluster_cmd c = {.type = CLUSTER_CMD_NODE_JOIN};
	c.u.join = (struct cluster_cmd_join){
		S(id),         S(name),       (uint8_t)role, S("10.0.0.1:4242"),
		B(serial, 16), 1900000000000, 1700000001000};
	return c;
}

static void join(struct env *e, const char *id, const char *name, int role, int code)
{
	unsigned char serial[16];
	memcpy(serial, id + ID_LEN - 16, 16);
	struct cluster_cmd c = join_cmd(id, name, role, serial);
	APPLY(e, &c, code);
}

static void status(struct env *e, const char *id, int st, int64_t at, int code)
{
	struct cluster_cmd c = {.type = CLUSTER_CMD_NODE_STATUS};
	c.u.status = (struct cluster_cmd_status){S(id), (uint8_t)st, at};
	APPLY(e, &c, code);
}

/* The whole state as exported bytes (the header's applied index zeroed and the CRC dropped, so
 * two states compare whatever their index). */
static uint8_t snap_a[6 << 20], snap_b[6 << 20];
struct sink {
	uint8_t *p;
	size_t len, cap, max_piece;
	int fail_at; /* piece number that fails, 0: none */
	int pieces;
};

static int sink_write(void *arg, const void *data, size_t len)
{
	struct sink *s = arg;
	s->pieces++;
	if (s->fail_at && s->pieces == s->fail_at)
		return -ERR_IO;
	if (len > s->max_piece)
		s->max_piece = len;
	if (s->len + len > s->cap)
		return -ERR_BUF_FULL;
	memcpy(s->p + s->len, data, len);
	s->len += len;
	return 0;
}

static size_t export_state(struct env *e, uint8_t *out, size_t cap)
{
	struct store_txn t;
	struct sink s = {out, 0, cap, 0, 0, 0};
	if (store_txn_begin(&e->st, &t, STORE_TXN_READ) < 0)
		return 0;
	int rc = cluster_sm_export(&e->sm, &t, sink_write, &s);
	store_txn_abort(&t);
	if (rc < 0)
		return 0;
	return s.len;
}

static int same_state(struct env *a, struct env *b)
{
	size_t na = export_state(a, snap_a, sizeof snap_a);
	size_t nb = export_state(b, snap_b, sizeof snap_b);
	if (na < 20 || na != nb)
		return 0;
	return memcmp(snap_a + 16, snap_b + 16, na - 20) == 0;
}

/* --- Init and refusals before it ---------------------------------------------------------- */

static void init_then_queries(void)
{
	struct env e;
	struct cluster_info in;
	struct cluster_tokens tok;
	struct store_txn t;
	struct slice lic, cert, key;
	int64_t at;
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	REQUIRE(cluster_sm_info(&e.sm, NULL, &in) == 0);
	CHECK(in.initialised);
	CHECK_EQ_STR(in.id, CID);
	CHECK_EQ_STR(in.name, "traefikee");
	CHECK_EQ_INT(in.created_at, 1700000000000);
	CHECK_EQ_INT(in.init_index, 1);
	CHECK_EQ_INT(in.limits.max_nodes, 64);
	CHECK_EQ_INT(in.nodes, 0);
	CHECK(!in.deployed && in.routing_revision == 0 && !in.bootstrap_done);
	CHECK_EQ_INT(store_applied(&e.st), 1);

	REQUIRE(cluster_sm_tokens(&e.sm, NULL, &tok) == 0);
	CHECK_EQ_STR(tok.control.text, fx.ctext);
	CHECK_EQ_STR(tok.data.text, fx.dtext);
	CHECK(memcmp(tok.control.verifier, fx.cver, PKI_VERIFIER_LEN) == 0);
	CHECK_EQ_INT(tok.data.at, 1700000000000);

	REQUIRE(store_txn_begin(&e.st, &t, STORE_TXN_READ) == 0);
	CHECK_EQ_INT(cluster_sm_license(&e.sm, &t, &lic, &at), 0);
	CHECK_EQ_MEM(lic.p, lic.len, "fakeLicense");
	CHECK_EQ_INT(cluster_sm_ca(&e.sm, &t, &cert, &key), 0);
	CHECK(cert.len == fx.ca.cert_len && memcmp(cert.p, fx.ca.cert, cert.len) == 0);
	CHECK(key.len == fx.key_len && memcmp(key.p, fx.key_der, key.len) == 0);
	struct cluster_deployed dep;
	struct cluster_routing rt;
	CHECK_EQ_INT(cluster_sm_deployed(&e.sm, &t, &dep), -ERR_NOTFOUND);
	CHECK_EQ_INT(cluster_sm_routing(&e.sm, &t, &rt), -ERR_NOTFOUND);
	store_txn_abort(&t);
	/* Views need the caller's transaction. */
	CHECK_EQ_INT(cluster_sm_license(&e.sm, NULL, &lic, &at), -ERR_INVAL);
	env_close(&e);
}

static void commands_before_init_are_refused(void)
{
	struct env e;
	struct cluster_info in;
	struct store_txn t;
	struct slice lic;
	REQUIRE(env_open(&e) == 0);
	char id[ID_LEN + 1];
	mkid(1, id);
	join(&e, id, "n1", CLUSTER_ROLE_CONTROL, -ERR_CLUSTER_NOT_INIT);
	CHECK_EQ_INT(store_applied(&e.st), 1);
	REQUIRE(cluster_sm_info(&e.sm, NULL, &in) == 0);
	CHECK(!in.initialised);
	REQUIRE(store_txn_begin(&e.st, &t, STORE_TXN_READ) == 0);
	CHECK_EQ_INT(cluster_sm_license(&e.sm, &t, &lic, NULL), -ERR_CLUSTER_NOT_INIT);
	store_txn_abort(&t);
	struct cluster_tokens tok;
	CHECK_EQ_INT(cluster_sm_tokens(&e.sm, NULL, &tok), -ERR_CLUSTER_NOT_INIT);
	env_close(&e);
}

static void init_twice_is_refused(void)
{
	struct env e, ref;
	REQUIRE(env_open(&e) == 0 && env_open(&ref) == 0);
	do_init(&e);
	do_init(&ref);
	struct cluster_cmd c = init_cmd();
	c.u.init.name = S("another");
	APPLY(&e, &c, -ERR_CLUSTER_INITIALISED);
	CHECK_EQ_INT(store_applied(&e.st), 2);
	CHECK(same_state(&e, &ref));
	env_close(&e);
	env_close(&ref);
}

/* --- Node table --------------------------------------------------------------------------- */

static void join_and_list_sorted(void)
{
	struct env e;
	struct cluster_node n[8];
	char a[ID_LEN + 1], b[ID_LEN + 1], c[ID_LEN + 1], d[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(4, a);
	mkid(3, b);
	mkid(2, c);
	mkid(1, d);
	join(&e, a, "data-node-1", CLUSTER_ROLE_DATA, 0);
	join(&e, b, "control-node-2", CLUSTER_ROLE_CONTROL, 0);
	join(&e, c, "control-node-1", CLUSTER_ROLE_CONTROL, 0);
	join(&e, d, "control-node-2", CLUSTER_ROLE_CONTROL, 0); /* same name, smaller ID */
	int total = cluster_sm_nodes(&e.sm, NULL, n, 8);
	REQUIRE(total == 4);
	CHECK_EQ_STR(n[0].name, "control-node-1");
	CHECK_EQ_STR(n[1].name, "control-node-2");
	CHECK_EQ_STR(n[1].id, d);
	CHECK_EQ_STR(n[2].id, b);
	CHECK_EQ_STR(n[3].name, "data-node-1");
	CHECK_EQ_INT(n[3].role, CLUSTER_ROLE_DATA);
	CHECK_EQ_INT(n[0].membership, CLUSTER_MEMBER_PENDING);
	CHECK_EQ_INT(n[0].status, CLUSTER_STATUS_DOWN);
	CHECK_EQ_INT(n[0].availability, CLUSTER_AVAIL_ACTIVE);
	CHECK_EQ_STR(n[0].addr, "10.0.0.1:4242");
	CHECK_EQ_INT(n[0].serial_len, 16);
	CHECK_EQ_INT(n[0].joined_at, 1700000001000);
	CHECK_EQ_INT(n[0].status_at, 1700000001000);
	CHECK_EQ_INT(n[0].cert_not_after, 1900000000000);
	/* A short array gets the first rows; the count is the total. */
	memset(n, 0, sizeof n);
	CHECK_EQ_INT(cluster_sm_nodes(&e.sm, NULL, n, 2), 4);
	CHECK_EQ_STR(n[1].id, d);
	CHECK_EQ_STR(n[2].id, "");
	env_close(&e);
}

static void join_existing_id_is_refused(void)
{
	struct env e, ref;
	char a[ID_LEN + 1];
	struct cluster_result r;
	REQUIRE(env_open(&e) == 0 && env_open(&ref) == 0);
	do_init(&e);
	do_init(&ref);
	mkid(1, a);
	join(&e, a, "n1", CLUSTER_ROLE_CONTROL, 0);
	join(&ref, a, "n1", CLUSTER_ROLE_CONTROL, 0);
	unsigned char serial[16];
	memcpy(serial, a + ID_LEN - 16, 16);
	struct cluster_cmd c = join_cmd(a, "renamed", CLUSTER_ROLE_DATA, serial);
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_EXISTS);
	CHECK_EQ_INT(r.type, CLUSTER_CMD_NODE_JOIN);
	CHECK(strstr(r.msg, "already joined with this certificate") != NULL);
	CHECK(same_state(&e, &ref));
	env_close(&e);
	env_close(&ref);
}

static void status_transitions(void)
{
	struct env e;
	struct cluster_node n;
	char a[ID_LEN + 1], x[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(1, a);
	mkid(9, x);
	join(&e, a, "n1", CLUSTER_ROLE_CONTROL, 0);
	status(&e, a, CLUSTER_STATUS_DOWN, 1700000002000, -ERR_CLUSTER_UNCHANGED);
	status(&e, a, CLUSTER_STATUS_READY, 1700000003000, 0);
	REQUIRE(cluster_sm_node_get(&e.sm, NULL, S(a), &n) == 0);
	CHECK_EQ_INT(n.status, CLUSTER_STATUS_READY);
	CHECK_EQ_INT(n.membership, CLUSTER_MEMBER_ACCEPTED);
	CHECK_EQ_INT(n.status_at, 1700000003000);
	status(&e, a, CLUSTER_STATUS_READY, 1700000004000, -ERR_CLUSTER_UNCHANGED);
	status(&e, a, CLUSTER_STATUS_DOWN, 1700000005000, 0);
	REQUIRE(cluster_sm_node_get(&e.sm, NULL, S(a), &n) == 0);
	CHECK_EQ_INT(n.status, CLUSTER_STATUS_DOWN);
	CHECK_EQ_INT(n.membership, CLUSTER_MEMBER_ACCEPTED); /* stays accepted */
	CHECK_EQ_INT(n.status_at, 1700000005000);
	status(&e, x, CLUSTER_STATUS_READY, 1, -ERR_NOTFOUND);
	env_close(&e);
}

static void availability_changes(void)
{
	struct env e;
	struct cluster_node n;
	char a[ID_LEN + 1], x[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(1, a);
	mkid(2, x);
	join(&e, a, "n1", CLUSTER_ROLE_DATA, 0);
	struct cluster_cmd c = {.type = CLUSTER_CMD_NODE_AVAIL};
	c.u.avail = (struct cluster_cmd_avail){S(a), CLUSTER_AVAIL_DRAIN, 5};
	APPLY(&e, &c, 0);
	APPLY(&e, &c, -ERR_CLUSTER_UNCHANGED);
	REQUIRE(cluster_sm_node_get(&e.sm, NULL, S(a), &n) == 0);
	CHECK_EQ_INT(n.availability, CLUSTER_AVAIL_DRAIN);
	CHECK_EQ_INT(n.status_at, 1700000001000); /* availability is not a status change */
	c.u.avail.availability = CLUSTER_AVAIL_PAUSE;
	APPLY(&e, &c, 0);
	c.u.avail.id = S(x);
	APPLY(&e, &c, -ERR_NOTFOUND);
	env_close(&e);
}

static void address_changes(void)
{
	struct env e;
	struct cluster_node n;
	char a[ID_LEN + 1], x[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(1, a);
	mkid(2, x);
	join(&e, a, "n1", CLUSTER_ROLE_CONTROL, 0);
	REQUIRE(cluster_sm_node_get(&e.sm, NULL, S(a), &n) == 0);
	char before[CLUSTER_ADDR_MAX + 1];
	snprintf(before, sizeof before, "%s", n.addr);
	struct cluster_cmd c = {.type = CLUSTER_CMD_NODE_ADDR};
	c.u.addr = (struct cluster_cmd_addr){S(a), S("10.9.8.7:4242"), 5};
	APPLY(&e, &c, 0);
	REQUIRE(cluster_sm_node_get(&e.sm, NULL, S(a), &n) == 0);
	CHECK_EQ_STR(n.addr, "10.9.8.7:4242");
	CHECK_EQ_STR(n.name, "n1"); /* the rest of the row stays */
	CHECK_EQ_INT(n.role, CLUSTER_ROLE_CONTROL);
	CHECK_EQ_INT(n.status_at, 1700000001000);
	APPLY(&e, &c, -ERR_CLUSTER_UNCHANGED);
	c.u.addr.addr = S(before); /* and back */
	APPLY(&e, &c, 0);
	REQUIRE(cluster_sm_node_get(&e.sm, NULL, S(a), &n) == 0);
	CHECK_EQ_STR(n.addr, before);
	c.u.addr.id = S(x);
	APPLY(&e, &c, -ERR_NOTFOUND);
	env_close(&e);
}

static void remove_revokes_certificate(void)
{
	struct env e;
	struct cluster_node n;
	struct cluster_info in;
	char a[ID_LEN + 1], b[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(1, a);
	mkid(2, b);
	join(&e, a, "n1", CLUSTER_ROLE_CONTROL, 0);
	join(&e, b, "n2", CLUSTER_ROLE_DATA, 0);
	status(&e, a, CLUSTER_STATUS_READY, 10, 0);
	struct cluster_cmd c = {.type = CLUSTER_CMD_NODE_REMOVE};
	c.u.remove = (struct cluster_cmd_remove){S(a), 0, 20};
	APPLY(&e, &c, -ERR_CLUSTER_NODE_UP);
	CHECK_EQ_INT(cluster_sm_node_get(&e.sm, NULL, S(a), &n), 0);
	c.u.remove.force = 1;
	APPLY(&e, &c, 0);
	CHECK_EQ_INT(cluster_sm_node_get(&e.sm, NULL, S(a), &n), -ERR_NOTFOUND);
	CHECK_EQ_INT(cluster_sm_node_find(&e.sm, NULL, S("n1"), &n), -ERR_NOTFOUND);
	CHECK_EQ_INT(cluster_sm_is_revoked(&e.sm, NULL, B(a + ID_LEN - 16, 16)), 1);
	CHECK_EQ_INT(cluster_sm_is_revoked(&e.sm, NULL, B(b + ID_LEN - 16, 16)), 0);
	APPLY(&e, &c, -ERR_NOTFOUND);
	/* A DOWN node goes without force. */
	c.u.remove = (struct cluster_cmd_remove){S(b), 0, 30};
	APPLY(&e, &c, 0);
	REQUIRE(cluster_sm_info(&e.sm, NULL, &in) == 0);
	CHECK_EQ_INT(in.nodes, 0);
	CHECK_EQ_INT(in.revoked, 2);
	/* Its certificate cannot join again. */
	join(&e, b, "n2", CLUSTER_ROLE_DATA, -ERR_CLUSTER_REVOKED);
	env_close(&e);
}

static int revoked_collect(void *arg, const struct cluster_revoked *r)
{
	struct cluster_revoked *out = arg;
	out[out[0].serial_len == 0 ? 0 : 1] = *r;
	return 0;
}

static void revoked_records(void)
{
	struct env e;
	struct store_txn t;
	struct cluster_revoked got[2];
	char a[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(1, a);
	join(&e, a, "n1", CLUSTER_ROLE_CONTROL, 0);
	struct cluster_cmd c = {.type = CLUSTER_CMD_NODE_REMOVE};
	c.u.remove = (struct cluster_cmd_remove){S(a), 0, 77};
	APPLY(&e, &c, 0);
	memset(got, 0, sizeof got);
	REQUIRE(store_txn_begin(&e.st, &t, STORE_TXN_READ) == 0);
	CHECK_EQ_INT(cluster_sm_revoked_each(&e.sm, &t, revoked_collect, got), 0);
	store_txn_abort(&t);
	CHECK_EQ_INT(got[0].serial_len, 16);
	CHECK_EQ_STR(got[0].node_id, a);
	CHECK_EQ_INT(got[0].revoked_at, 77);
	CHECK_EQ_INT(got[0].not_after, 1900000000000);
	env_close(&e);
}

static void find_by_id_or_name(void)
{
	struct env e;
	struct cluster_node n;
	char a[ID_LEN + 1], b[ID_LEN + 1], c[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(1, a);
	mkid(2, b);
	mkid(3, c);
	join(&e, a, "alpha", CLUSTER_ROLE_CONTROL, 0);
	join(&e, b, "twin", CLUSTER_ROLE_DATA, 0);
	join(&e, c, "twin", CLUSTER_ROLE_DATA, 0);
	CHECK_EQ_INT(cluster_sm_node_find(&e.sm, NULL, S(a), &n), 0);
	CHECK_EQ_STR(n.name, "alpha");
	CHECK_EQ_INT(cluster_sm_node_find(&e.sm, NULL, S("alpha"), &n), 0);
	CHECK_EQ_STR(n.id, a);
	CHECK_EQ_INT(cluster_sm_node_find(&e.sm, NULL, S("alph"), &n), -ERR_NOTFOUND);
	CHECK_EQ_INT(cluster_sm_node_find(&e.sm, NULL, S("twin"), &n), -ERR_CLUSTER_AMBIGUOUS);
	CHECK(strstr(e.sm.errmsg, "twin") != NULL);
	CHECK_EQ_INT(cluster_sm_node_find(&e.sm, NULL, S(c), &n), 0);
	CHECK_EQ_INT(cluster_sm_node_find(&e.sm, NULL, S("no such node"), &n), -ERR_NOTFOUND);
	CHECK_EQ_INT(cluster_sm_node_find(&e.sm, NULL, S(""), &n), -ERR_NOTFOUND);
	env_close(&e);
}

/* max_nodes = 64 (the default): the 64th joins, the 65th is refused. */
static void max_nodes_boundary(void)
{
	struct env e;
	struct cluster_info in;
	char id[ID_LEN + 1], name[16];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	for (int i = 0; i < 64; i++) {
		mkid(i, id);
		snprintf(name, sizeof name, "node-%02d", i);
		join(&e, id, name, i < 3 ? CLUSTER_ROLE_CONTROL : CLUSTER_ROLE_DATA, 0);
	}
	mkid(64, id);
	join(&e, id, "node-64", CLUSTER_ROLE_DATA, -ERR_CLUSTER_NODES_FULL);
	REQUIRE(cluster_sm_info(&e.sm, NULL, &in) == 0);
	CHECK_EQ_INT(in.nodes, 64);
	CHECK_EQ_INT(in.control_nodes, 3);
	CHECK_EQ_INT(in.data_nodes, 61);
	/* Room again after a removal. */
	mkid(10, id);
	struct cluster_cmd c = {.type = CLUSTER_CMD_NODE_REMOVE};
	c.u.remove = (struct cluster_cmd_remove){S(id), 0, 5};
	APPLY(&e, &c, 0);
	mkid(64, id);
	join(&e, id, "node-64", CLUSTER_ROLE_DATA, 0);
	env_close(&e);
}

/* --- Documents ---------------------------------------------------------------------------- */

/* A JSON object of exactly len bytes: {"a":"xxx…"}. */
static size_t make_doc(char *out, size_t len)
{
	memcpy(out, "{\"a\":\"", 6);
	memset(out + 6, 'x', len - 8);
	memcpy(out + len - 2, "\"}", 2);
	return len;
}

static void routing_set_and_stale(void)
{
	struct env e;
	struct store_txn t;
	struct cluster_routing rt;
	struct cluster_info in;
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	struct cluster_cmd c = {.type = CLUSTER_CMD_ROUTING_SET};
	c.u.routing = (struct cluster_cmd_routing){5, 100, S("{\"version\":1,\"revision\":5}")};
	APPLY(&e, &c, 0);
	c.u.routing.doc = S("{\"version\":1,\"revision\":4}");
	c.u.routing.revision = 4;
	APPLY(&e, &c, -ERR_CLUSTER_STALE);
	c.u.routing.revision = 5;
	APPLY(&e, &c, -ERR_CLUSTER_STALE);
	REQUIRE(store_txn_begin(&e.st, &t, STORE_TXN_READ) == 0);
	REQUIRE(cluster_sm_routing(&e.sm, &t, &rt) == 0);
	CHECK_EQ_INT(rt.revision, 5);
	CHECK_EQ_INT(rt.at, 100);
	CHECK_EQ_INT(rt.index, 2);
	CHECK_EQ_MEM(rt.doc.p, rt.doc.len, "{\"version\":1,\"revision\":5}");
	store_txn_abort(&t);
	c.u.routing.revision = 6;
	APPLY(&e, &c, 0);
	REQUIRE(cluster_sm_info(&e.sm, NULL, &in) == 0);
	CHECK_EQ_INT(in.routing_revision, 6);
	env_close(&e);
}

/* max_routing_bytes = 4 MiB (the default): a document of exactly 4 MiB is kept, one byte more
 * is refused and the previous document stays. */
static void routing_cap_boundary(void)
{
	static char doc[(4 << 20) + 1];
	struct env e;
	struct store_txn t;
	struct cluster_routing rt;
	REQUIRE(env_open_cfg(&e, NULL, 8u << 20) == 0);
	do_init(&e);
	struct cluster_cmd c = {.type = CLUSTER_CMD_ROUTING_SET};
	c.u.routing = (struct cluster_cmd_routing){1, 1, B(doc, make_doc(doc, 4u << 20))};
	APPLY(&e, &c, 0);
	c.u.routing = (struct cluster_cmd_routing){2, 2, B(doc, make_doc(doc, (4u << 20) + 1))};
	struct cluster_result r;
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_ROUTING_TOO_LARGE);
	CHECK(strstr(r.msg, "max_routing_bytes") != NULL);
	REQUIRE(store_txn_begin(&e.st, &t, STORE_TXN_READ) == 0);
	REQUIRE(cluster_sm_routing(&e.sm, &t, &rt) == 0);
	CHECK_EQ_INT(rt.revision, 1);
	CHECK_EQ_INT(rt.doc.len, 4u << 20);
	store_txn_abort(&t);
	env_close(&e);
}

static const char DEPLOY_OK[] = "{\"entryPoints\":{\"http\":{\"address\":\":80\"},"
				"\"https\":{\"address\":\":443\",\"tls\":{}}},"
				"\"defaultEntryPoints\":[\"http\",\"https\"],"
				"\"providers\":{\"consul\":{\"endpoint\":\"10.0.0.9:8500\"}}}";

static void deploy_valid_and_invalid(void)
{
	struct env e;
	struct store_txn t;
	struct cluster_deployed dep;
	struct cluster_result r;
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	struct cluster_cmd c = {.type = CLUSTER_CMD_DEPLOY};
	c.u.deploy = (struct cluster_cmd_deploy){S(DEPLOY_OK), 300};
	APPLY(&e, &c, 0);
	c.u.deploy.config = S("{\"entryPoints\":{\"http\":{}}}");
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_DEPLOY);
	CHECK_EQ_STR(r.msg, "entryPoints.http.address: missing or empty");
	REQUIRE(store_txn_begin(&e.st, &t, STORE_TXN_READ) == 0);
	REQUIRE(cluster_sm_deployed(&e.sm, &t, &dep) == 0);
	CHECK_EQ_MEM(dep.config.p, dep.config.len, DEPLOY_OK);
	CHECK_EQ_INT(dep.at, 300);
	CHECK_EQ_INT(dep.index, 2);
	store_txn_abort(&t);
	env_close(&e);
}

static void limits_set_and_deploy_cap(void)
{
	static char doc[2048];
	struct env e;
	struct cluster_info in;
	struct cluster_result r;
	char id[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(1, id);
	join(&e, id, "n1", CLUSTER_ROLE_CONTROL, 0);
	mkid(2, id);
	join(&e, id, "n2", CLUSTER_ROLE_CONTROL, 0);
	struct cluster_cmd c = {.type = CLUSTER_CMD_LIMITS_SET};
	cluster_limits_default(&c.u.limits.limits);
	c.u.limits.limits.max_nodes = 1; /* below the 2 nodes */
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_LIMITS);
	CHECK(strstr(r.msg, "max_nodes") != NULL);
	c.u.limits.limits.max_nodes = 2;
	c.u.limits.limits.max_deploy_bytes = 1024;
	APPLY(&e, &c, 0);
	REQUIRE(cluster_sm_info(&e.sm, NULL, &in) == 0);
	CHECK_EQ_INT(in.limits.max_nodes, 2);
	CHECK_EQ_INT(in.limits.max_deploy_bytes, 1024);
	mkid(3, id);
	join(&e, id, "n3", CLUSTER_ROLE_CONTROL, -ERR_CLUSTER_NODES_FULL);

	/* max_deploy_bytes = 1024: 1024 bytes deploy, 1025 do not. */
	const char *head = "{\"entryPoints\":{\"e\":{\"address\":\":80\",\"x\":\"";
	size_t hl = strlen(head);
	memcpy(doc, head, hl);
	memset(doc + hl, 'y', 1024 - hl - 4);
	memcpy(doc + 1024 - 4, "\"}}}", 4);
	struct cluster_cmd d = {.type = CLUSTER_CMD_DEPLOY};
	d.u.deploy = (struct cluster_cmd_deploy){B(doc, 1024), 1};
	APPLY(&e, &d, 0);
	memmove(doc + hl + 1, doc + hl, 1024 - hl);
	d.u.deploy.config = B(doc, 1025);
	APPLY(&e, &d, -ERR_CLUSTER_DEPLOY_TOO_LARGE);
	/* Limits may not drop under what is deployed. */
	c.u.limits.limits.max_deploy_bytes = CLUSTER_MAX_DEPLOY_MIN;
	APPLY(&e, &c, 0);
	env_close(&e);
}

static void license_and_bootstrap_done(void)
{
	struct env e;
	struct store_txn t;
	struct slice lic;
	struct cluster_info in;
	int64_t at;
	char id[ID_LEN + 1], x[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	struct cluster_cmd c = {.type = CLUSTER_CMD_LICENSE_SET};
	c.u.license = (struct cluster_cmd_license){S("realLicense-2"), 555};
	APPLY(&e, &c, 0);
	REQUIRE(store_txn_begin(&e.st, &t, STORE_TXN_READ) == 0);
	REQUIRE(cluster_sm_license(&e.sm, &t, &lic, &at) == 0);
	CHECK_EQ_MEM(lic.p, lic.len, "realLicense-2");
	CHECK_EQ_INT(at, 555);
	store_txn_abort(&t);

	mkid(1, id);
	mkid(2, x);
	join(&e, id, "bootstrap", CLUSTER_ROLE_CONTROL, 0);
	struct cluster_cmd b = {.type = CLUSTER_CMD_BOOTSTRAP_DONE};
	b.u.bootstrap_done = (struct cluster_cmd_bootstrap_done){S(x), 9};
	APPLY(&e, &b, -ERR_NOTFOUND);
	b.u.bootstrap_done.id = S(id);
	APPLY(&e, &b, 0);
	APPLY(&e, &b, -ERR_CLUSTER_UNCHANGED);
	REQUIRE(cluster_sm_info(&e.sm, NULL, &in) == 0);
	CHECK(in.bootstrap_done);
	CHECK_EQ_STR(in.bootstrap_id, id);
	CHECK_EQ_INT(in.bootstrap_done_at, 9);
	CHECK_EQ_STR(in.name, "traefikee"); /* the rest of the identity is kept */
	env_close(&e);
}

static void token_rotate(void)
{
	struct env e;
	struct cluster_tokens tok;
	struct cluster_result r;
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	struct cluster_cmd c = {.type = CLUSTER_CMD_TOKEN_ROTATE};
	c.u.token = (struct cluster_cmd_token){CLUSTER_ROLE_DATA, B(fx.nver, PKI_VERIFIER_LEN),
					       S(fx.ntext), 42};
	APPLY(&e, &c, 0);
	REQUIRE(cluster_sm_tokens(&e.sm, NULL, &tok) == 0);
	CHECK_EQ_STR(tok.data.text, fx.ntext);
	CHECK_EQ_STR(tok.control.text, fx.ctext);
	CHECK_EQ_INT(tok.data.at, 42);
	/* A token pinning another CA: refused at apply (the CA is in the state). */
	c.u.token = (struct cluster_cmd_token){CLUSTER_ROLE_DATA, B(fx.xver, PKI_VERIFIER_LEN),
					       S(fx.xtext), 43};
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_TOKEN);
	CHECK(strstr(r.msg, "pin") != NULL);
	/* Verifier only: the text is forgotten. */
	c.u.token = (struct cluster_cmd_token){CLUSTER_ROLE_CONTROL, B(fx.xver, PKI_VERIFIER_LEN),
					       S(""), 44};
	APPLY(&e, &c, 0);
	REQUIRE(cluster_sm_tokens(&e.sm, NULL, &tok) == 0);
	CHECK_EQ_STR(tok.control.text, "");
	CHECK(memcmp(tok.control.verifier, fx.xver, PKI_VERIFIER_LEN) == 0);
	env_close(&e);
}

/* --- Revocations -------------------------------------------------------------------------- */

static void revoke_serial(struct env *e, unsigned char tag, int64_t not_after, int64_t at, int code)
{
	unsigned char serial[4] = {0xee, 0, 0, tag};
	struct cluster_cmd c = {.type = CLUSTER_CMD_CERT_REVOKE};
	c.u.revoke = (struct cluster_cmd_revoke){B(serial, 4), not_after, at};
	APPLY(e, &c, code);
}

/* max_revoked = 2: two fit, a third is refused unless an entry has expired by then. */
static void max_revoked_boundary(void)
{
	struct env e;
	struct cluster_info in;
	char id[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	struct cluster_cmd c = {.type = CLUSTER_CMD_LIMITS_SET};
	cluster_limits_default(&c.u.limits.limits);
	c.u.limits.limits.max_revoked = 2;
	APPLY(&e, &c, 0);
	revoke_serial(&e, 1, 1000, 10, 0);
	revoke_serial(&e, 1, 1000, 10, -ERR_CLUSTER_UNCHANGED);
	revoke_serial(&e, 2, 5000, 10, 0);
	revoke_serial(&e, 3, 5000, 20, -ERR_CLUSTER_REVOKED_FULL);
	/* A node removal that would need room is refused too, and the node stays. */
	mkid(1, id);
	join(&e, id, "n1", CLUSTER_ROLE_DATA, 0);
	struct cluster_cmd rm = {.type = CLUSTER_CMD_NODE_REMOVE};
	rm.u.remove = (struct cluster_cmd_remove){S(id), 0, 30};
	APPLY(&e, &rm, -ERR_CLUSTER_REVOKED_FULL);
	REQUIRE(cluster_sm_info(&e.sm, NULL, &in) == 0);
	CHECK_EQ_INT(in.nodes, 1);
	/* At 2000, serial 1 has expired: it makes room. */
	revoke_serial(&e, 3, 5000, 2000, 0);
	CHECK_EQ_INT(cluster_sm_is_revoked(&e.sm, NULL, B("\xee\0\0\x01", 4)), 0);
	CHECK_EQ_INT(cluster_sm_is_revoked(&e.sm, NULL, B("\xee\0\0\x03", 4)), 1);
	REQUIRE(cluster_sm_info(&e.sm, NULL, &in) == 0);
	CHECK_EQ_INT(in.revoked, 2);
	env_close(&e);
}

/* 300 revocations applied in one transaction (the batch API), then purged in passes. */
static void batch_then_purge(void)
{
	struct env e;
	struct store_txn t;
	struct cluster_result r;
	struct cluster_info in;
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	static uint8_t ents[300][64];
	static struct store_entry se[300];
	size_t lens[300];
	for (int i = 0; i < 300; i++) {
		unsigned char serial[2] = {(unsigned char)(i >> 8), (unsigned char)i};
		struct cluster_cmd c = {.type = CLUSTER_CMD_CERT_REVOKE};
		c.u.revoke = (struct cluster_cmd_revoke){B(serial, 2), i < 250 ? 100 : 9000, 1};
		struct buf b;
		buf_init(&b, ents[i], sizeof ents[i]);
		REQUIRE(cluster_cmd_encode(&c, &b) > 0);
		lens[i] = b.len;
		se[i] = (struct store_entry){1, e.index + 1 + (uint64_t)i, ents[i], (uint32_t)b.len,
					     1};
	}
	REQUIRE(store_append(&e.st, se, 300) == 0);
	REQUIRE(store_txn_begin(&e.st, &t, STORE_TXN_WRITE) == 0);
	for (int i = 0; i < 300; i++) {
		REQUIRE(cluster_sm_apply_txn(&e.sm, &t, ents[i], lens[i], e.index + 1, &r) == 0);
		CHECK_EQ_INT(r.code, 0);
		e.index++;
	}
	REQUIRE(store_txn_set_applied(&t, e.index) == 0);
	REQUIRE(store_txn_commit(&t) == 0);
	REQUIRE(cluster_sm_info(&e.sm, NULL, &in) == 0);
	CHECK_EQ_INT(in.revoked, 300);

	struct cluster_cmd p = {.type = CLUSTER_CMD_REVOKED_PURGE};
	p.u.purge.before = 50;
	APPLY(&e, &p, -ERR_CLUSTER_UNCHANGED);
	p.u.purge.before = 101;
	REQUIRE(commit(&e, &p, &r) == 0);
	CHECK_EQ_INT(r.code, 0);
	CHECK_EQ_STR(r.msg, "250 expired revocations purged");
	REQUIRE(cluster_sm_info(&e.sm, NULL, &in) == 0);
	CHECK_EQ_INT(in.revoked, 50);
	env_close(&e);
}

/* --- Certificate renewal (NODE_CERT) ------------------------------------------------------ */

/* join() gives a node the last 16 characters of its ID as serial, not after 1900000000000. */
#define JOIN_NOT_AFTER 1900000000000
#define NA1 1910000000000 /* NEW1's notAfter */
#define NA2 1920000000000 /* NEW2's */
#define NA3 1930000000000 /* NEW3's */
static struct slice join_serial(const char *id)
{
	return B(id + ID_LEN - 16, 16);
}

static struct cluster_cmd cert_cmd(const char *id, struct slice keep_serial, struct slice serial,
				   int64_t not_after, int64_t keep_not_after, int64_t at)
{
	struct cluster_cmd c = {.type = CLUSTER_CMD_NODE_CERT};
	c.u.cert = (struct cluster_cmd_cert){S(id),     keep_serial,    serial,
					     not_after, keep_not_after, at};
	return c;
}

static int revoked_find_cb(void *arg, const struct cluster_revoked *r)
{
	struct cluster_revoked *want = arg;
	if (r->serial_len != want->serial_len || memcmp(r->serial, want->serial, r->serial_len))
		return 0;
	*want = *r;
	return 1;
}

/* The revoked record of a serial: 1 found (*out filled), 0 not. */
static int revoked_get(struct env *e, struct slice serial, struct cluster_revoked *out)
{
	struct store_txn t;
	memset(out, 0, sizeof *out);
	memcpy(out->serial, serial.p, serial.len);
	out->serial_len = (uint8_t)serial.len;
	if (store_txn_begin(&e->st, &t, STORE_TXN_READ) < 0)
		return -1;
	int rc = cluster_sm_revoked_each(&e->sm, &t, revoked_find_cb, out);
	store_txn_abort(&t);
	return rc;
}

static const unsigned char NEW1[12] = {0x5e, 0x41, 0x1e, 0x0d, 1, 2, 3, 4, 5, 6, 7, 1};
static const unsigned char NEW2[20] = {0x5e, 0x41, 0x1e, 0x0d, 1, 2, 3, 4, 5, 6, 7, 2};
static const unsigned char NEW3[5] = {0x5e, 0x41, 0x1e, 0x0d, 3};
#define SNEW1 B(NEW1, sizeof NEW1)
#define SNEW2 B(NEW2, sizeof NEW2)
#define SNEW3 B(NEW3, sizeof NEW3)

/* The row of node id holds {current: cur until cur_na, previous: prev until prev_na} (prev.len
 * 0: none, prev_not_after 0). */
static int row_is(struct env *e, const char *id, struct slice cur, int64_t cur_na,
		  struct slice prev, int64_t prev_na)
{
	struct cluster_node n;
	if (cluster_sm_node_get(&e->sm, NULL, S(id), &n) != 0)
		return 0;
	return n.serial_len == cur.len && memcmp(n.serial, cur.p, cur.len) == 0 &&
	       n.cert_not_after == cur_na && n.prev_serial_len == prev.len &&
	       memcmp(n.prev_serial, prev.p, prev.len) == 0 && n.prev_not_after == prev_na;
}

static int revoked(struct env *e, struct slice serial)
{
	return cluster_sm_is_revoked(&e->sm, NULL, serial);
}

static uint32_t revoked_total(struct env *e)
{
	struct cluster_info in;
	return cluster_sm_info(&e->sm, NULL, &in) == 0 ? in.revoked : UINT32_MAX;
}

/* A normal renewal (the node presents its current certificate) keeps that certificate as the
 * row's previous one and revokes nothing; the next renewal revokes the older previous one and
 * keeps the one presented. Nothing else in the row changes. */
static void node_cert_renewal_keeps_presented(void)
{
	struct env e;
	struct cluster_node before, n;
	struct cluster_revoked rv;
	struct cluster_result r;
	char a[ID_LEN + 1], b[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(1, a);
	mkid(2, b);
	join(&e, a, "n1", CLUSTER_ROLE_CONTROL, 0);
	join(&e, b, "n2", CLUSTER_ROLE_DATA, 0);
	status(&e, a, CLUSTER_STATUS_READY, 1700000002000, 0);
	REQUIRE(cluster_sm_node_get(&e.sm, NULL, S(a), &before) == 0);
	CHECK_EQ_INT(before.prev_serial_len, 0);
	CHECK_EQ_INT(before.prev_not_after, 0);

	struct cluster_cmd c =
		cert_cmd(a, join_serial(a), SNEW1, NA1, JOIN_NOT_AFTER, 1800000000000);
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, 0);
	CHECK_EQ_INT(r.type, CLUSTER_CMD_NODE_CERT);
	CHECK(strstr(r.msg, "renewed") != NULL);
	CHECK(row_is(&e, a, SNEW1, NA1, join_serial(a), JOIN_NOT_AFTER));
	/* Everything else as it was. */
	REQUIRE(cluster_sm_node_get(&e.sm, NULL, S(a), &n) == 0);
	memcpy(n.serial, before.serial, sizeof n.serial);
	n.serial_len = before.serial_len;
	n.cert_not_after = before.cert_not_after;
	memset(n.prev_serial, 0, sizeof n.prev_serial);
	n.prev_serial_len = 0;
	n.prev_not_after = 0;
	CHECK(memcmp(&n, &before, sizeof n) == 0);
	/* The presented certificate is not revoked: nothing is. */
	CHECK_EQ_INT(revoked(&e, join_serial(a)), 0);
	CHECK_EQ_INT(revoked(&e, SNEW1), 0);
	CHECK_EQ_INT(revoked_total(&e), 0);
	CHECK(row_is(&e, b, join_serial(b), JOIN_NOT_AFTER, B("", 0), 0));

	/* The node got NEW1 and renews with it: the older previous one (the join's) is revoked
	 * with its own notAfter, NEW1 is kept as previous. */
	c = cert_cmd(a, SNEW1, SNEW2, NA2, NA1, 1810000000000);
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, 0);
	CHECK(strstr(r.msg, "older one revoked") != NULL);
	CHECK(row_is(&e, a, SNEW2, NA2, SNEW1, NA1));
	CHECK_EQ_INT(revoked(&e, join_serial(a)), 1);
	CHECK_EQ_INT(revoked(&e, SNEW1), 0);
	CHECK_EQ_INT(revoked(&e, SNEW2), 0);
	REQUIRE(revoked_get(&e, join_serial(a), &rv) == 1);
	CHECK_EQ_INT(rv.not_after, JOIN_NOT_AFTER);
	CHECK_EQ_INT(rv.revoked_at, 1810000000000);
	CHECK_EQ_STR(rv.node_id, a);
	CHECK_EQ_INT(revoked_total(&e), 1);
	/* And once more: NEW1 goes, NEW2 is kept. */
	c = cert_cmd(a, SNEW2, SNEW3, NA3, NA2, 1820000000000);
	APPLY(&e, &c, 0);
	CHECK(row_is(&e, a, SNEW3, NA3, SNEW2, NA2));
	CHECK_EQ_INT(revoked(&e, SNEW1), 1);
	REQUIRE(revoked_get(&e, SNEW1, &rv) == 1);
	CHECK_EQ_INT(rv.not_after, NA1);
	CHECK_EQ_INT(revoked(&e, SNEW2), 0);
	CHECK_EQ_INT(revoked_total(&e), 2);
	env_close(&e);
}

/* The answer to a renewal is lost: the node never got NEW1 and renews again with the join's
 * certificate, the row's previous one. The undelivered NEW1 is revoked, the presented one is
 * kept and the node goes on. */
static void node_cert_lost_answer(void)
{
	struct env e;
	struct cluster_revoked rv;
	struct cluster_result r;
	char a[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(1, a);
	join(&e, a, "n1", CLUSTER_ROLE_CONTROL, 0);
	struct cluster_cmd c = cert_cmd(a, join_serial(a), SNEW1, NA1, JOIN_NOT_AFTER, 1000);
	APPLY(&e, &c, 0);
	CHECK(row_is(&e, a, SNEW1, NA1, join_serial(a), JOIN_NOT_AFTER));

	c = cert_cmd(a, join_serial(a), SNEW2, NA2, JOIN_NOT_AFTER, 2000);
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, 0);
	CHECK(strstr(r.msg, "undelivered one revoked") != NULL);
	CHECK(row_is(&e, a, SNEW2, NA2, join_serial(a), JOIN_NOT_AFTER));
	CHECK_EQ_INT(revoked(&e, SNEW1), 1);
	REQUIRE(revoked_get(&e, SNEW1, &rv) == 1);
	CHECK_EQ_INT(rv.not_after, NA1);
	CHECK_EQ_INT(rv.revoked_at, 2000);
	CHECK_EQ_STR(rv.node_id, a);
	CHECK_EQ_INT(revoked(&e, join_serial(a)), 0);
	CHECK_EQ_INT(revoked(&e, SNEW2), 0);
	CHECK_EQ_INT(revoked_total(&e), 1);

	/* The first entry again, late (a duplicate): NEW1 is revoked now, refused. */
	struct cluster_cmd dup = cert_cmd(a, join_serial(a), SNEW1, NA1, JOIN_NOT_AFTER, 1000);
	REQUIRE(commit(&e, &dup, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_REVOKED);
	CHECK(strstr(r.msg, "new certificate has a revoked serial") != NULL);
	/* A node that did get NEW1 after all does not renew with it. */
	c = cert_cmd(a, SNEW1, SNEW3, NA3, NA1, 2500);
	APPLY(&e, &c, -ERR_CLUSTER_STALE);
	CHECK(row_is(&e, a, SNEW2, NA2, join_serial(a), JOIN_NOT_AFTER));

	/* The node receives NEW2 this time and renews with it: the join's goes. */
	c = cert_cmd(a, SNEW2, SNEW3, NA3, NA2, 3000);
	APPLY(&e, &c, 0);
	CHECK(row_is(&e, a, SNEW3, NA3, SNEW2, NA2));
	CHECK_EQ_INT(revoked(&e, join_serial(a)), 1);
	CHECK_EQ_INT(revoked(&e, SNEW2), 0);
	CHECK_EQ_INT(revoked_total(&e), 2);
	env_close(&e);
}

/* NODE_REMOVE after a renewal revokes both of the row's certificates, each until its own
 * notAfter; a serial already revoked keeps its entry. */
static void node_cert_remove_revokes_both(void)
{
	struct env e;
	struct cluster_revoked rv;
	struct cluster_result r;
	char a[ID_LEN + 1], b[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(1, a);
	mkid(2, b);
	join(&e, a, "n1", CLUSTER_ROLE_CONTROL, 0);
	join(&e, b, "n2", CLUSTER_ROLE_DATA, 0);
	struct cluster_cmd c = cert_cmd(a, join_serial(a), SNEW1, NA1, JOIN_NOT_AFTER, 1000);
	APPLY(&e, &c, 0);
	struct cluster_cmd rm = {.type = CLUSTER_CMD_NODE_REMOVE};
	rm.u.remove = (struct cluster_cmd_remove){S(a), 0, 2000};
	REQUIRE(commit(&e, &rm, &r) == 0);
	CHECK_EQ_INT(r.code, 0);
	CHECK(strstr(r.msg, "certificates revoked") != NULL);
	CHECK_EQ_INT(revoked(&e, SNEW1), 1);
	CHECK_EQ_INT(revoked(&e, join_serial(a)), 1);
	REQUIRE(revoked_get(&e, SNEW1, &rv) == 1);
	CHECK_EQ_INT(rv.not_after, NA1);
	CHECK_EQ_INT(rv.revoked_at, 2000);
	CHECK_EQ_STR(rv.node_id, a);
	REQUIRE(revoked_get(&e, join_serial(a), &rv) == 1);
	CHECK_EQ_INT(rv.not_after, JOIN_NOT_AFTER);
	CHECK_EQ_STR(rv.node_id, a);
	CHECK_EQ_INT(revoked_total(&e), 2);
	/* A removed node does not renew. */
	c = cert_cmd(a, SNEW1, SNEW2, NA2, NA1, 3000);
	APPLY(&e, &c, -ERR_NOTFOUND);

	/* b's previous certificate was revoked by hand first: its entry stays as it was. */
	c = cert_cmd(b, join_serial(b), SNEW2, NA2, JOIN_NOT_AFTER, 4000);
	APPLY(&e, &c, 0);
	struct cluster_cmd rvk = {.type = CLUSTER_CMD_CERT_REVOKE};
	rvk.u.revoke = (struct cluster_cmd_revoke){join_serial(b), 1950000000000, 4500};
	APPLY(&e, &rvk, 0);
	rm.u.remove = (struct cluster_cmd_remove){S(b), 0, 5000};
	APPLY(&e, &rm, 0);
	REQUIRE(revoked_get(&e, join_serial(b), &rv) == 1);
	CHECK_EQ_INT(rv.not_after, 1950000000000);
	CHECK_EQ_STR(rv.node_id, "");
	REQUIRE(revoked_get(&e, SNEW2, &rv) == 1);
	CHECK_EQ_INT(rv.not_after, NA2);
	CHECK_EQ_INT(revoked_total(&e), 4);
	env_close(&e);
}

/* Each refusal leaves the exported state byte for byte as a replica that never saw it. */
static void node_cert_refusals_change_nothing(void)
{
	struct env e, ref;
	struct cluster_result r;
	char a[ID_LEN + 1], b[ID_LEN + 1], x[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0 && env_open(&ref) == 0);
	mkid(1, a);
	mkid(2, b);
	mkid(9, x);
	/* a: {current NEW1, previous join's}; b: {current join's, no previous}. */
	struct cluster_cmd first = cert_cmd(a, join_serial(a), SNEW1, NA1, JOIN_NOT_AFTER, 1000);
	struct env *both[2] = {&e, &ref};
	for (int i = 0; i < 2; i++) {
		do_init(both[i]);
		join(both[i], a, "n1", CLUSTER_ROLE_CONTROL, 0);
		join(both[i], b, "n2", CLUSTER_ROLE_DATA, 0);
		revoke_serial(both[i], 7, 1950000000000, 1, 0);
		APPLY(both[i], &first, 0);
	}

	/* The same renewal again (a duplicate entry): the row holds its serial already. */
	REQUIRE(commit(&e, &first, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_STALE);
	CHECK(strstr(r.msg, "already renewed with this certificate") != NULL);
	/* A new serial that is the row's previous one. */
	struct cluster_cmd c = cert_cmd(a, SNEW1, join_serial(a), JOIN_NOT_AFTER, NA1, 1100);
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_STALE);
	CHECK(strstr(r.msg, "previous certificate") != NULL);
	/* keep_serial neither current nor previous: another node's, and one nobody has. */
	c = cert_cmd(a, join_serial(b), SNEW2, NA2, JOIN_NOT_AFTER, 1200);
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_STALE);
	CHECK(strstr(r.msg, "renewed since") != NULL);
	c = cert_cmd(a, SNEW3, SNEW2, NA2, NA3, 1200);
	APPLY(&e, &c, -ERR_CLUSTER_STALE);
	/* Right keep_serial, wrong keep_not_after: for the current, for the previous (another
	 * certificate's notAfter), for a row without previous. */
	c = cert_cmd(a, SNEW1, SNEW2, NA2, NA1 - 1, 1300);
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_STALE);
	CHECK(strstr(r.msg, "keep_not_after") != NULL && strstr(r.msg, "current") != NULL);
	c = cert_cmd(a, join_serial(a), SNEW2, NA2, NA1, 1300);
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_STALE);
	CHECK(strstr(r.msg, "keep_not_after") != NULL && strstr(r.msg, "previous") != NULL);
	c = cert_cmd(b, join_serial(b), SNEW2, NA2, JOIN_NOT_AFTER + 1, 1300);
	APPLY(&e, &c, -ERR_CLUSTER_STALE);
	/* Unknown node (a well-formed ID nobody has). */
	c = cert_cmd(x, join_serial(x), SNEW2, 1, 1, 1);
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_NOTFOUND);
	CHECK(strstr(r.msg, x) != NULL);
	/* A new serial that is revoked. */
	c = cert_cmd(b, join_serial(b), B("\xee\0\0\x07", 4), NA2, JOIN_NOT_AFTER, 1400);
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_REVOKED);
	CHECK(strstr(r.msg, "new certificate has a revoked serial") != NULL);
	/* A refused command still advances the applied index. */
	CHECK_EQ_INT(store_applied(&e.st), e.index);
	CHECK(same_state(&e, &ref));

	/* A revoked keep_serial does not renew: b's current one, a's previous one (both revoked
	 * by hand on both replicas). */
	struct cluster_cmd rv = {.type = CLUSTER_CMD_CERT_REVOKE};
	rv.u.revoke = (struct cluster_cmd_revoke){join_serial(b), JOIN_NOT_AFTER, 2};
	APPLY(&e, &rv, 0);
	APPLY(&ref, &rv, 0);
	rv.u.revoke = (struct cluster_cmd_revoke){join_serial(a), JOIN_NOT_AFTER, 2};
	APPLY(&e, &rv, 0);
	APPLY(&ref, &rv, 0);
	c = cert_cmd(b, join_serial(b), SNEW2, NA2, JOIN_NOT_AFTER, 3);
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_REVOKED);
	CHECK(strstr(r.msg, "certificate it presented is revoked") != NULL);
	c = cert_cmd(a, join_serial(a), SNEW2, NA2, JOIN_NOT_AFTER, 3);
	APPLY(&e, &c, -ERR_CLUSTER_REVOKED);
	CHECK(same_state(&e, &ref));
	CHECK(row_is(&e, a, SNEW1, NA1, join_serial(a), JOIN_NOT_AFTER));
	CHECK(row_is(&e, b, join_serial(b), JOIN_NOT_AFTER, B("", 0), 0));
	env_close(&e);
	env_close(&ref);
}

/* max_revoked: a renewal needs room for the serial it replaces (none for a first renewal).
 * Full: refused (a replaced serial is always revoked), nothing changes; room once an entry has
 * expired, or once the cap grows. */
static void node_cert_max_revoked(void)
{
	struct env e, ref;
	struct cluster_result r;
	char a[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0 && env_open(&ref) == 0);
	mkid(1, a);
	struct cluster_cmd lim = {.type = CLUSTER_CMD_LIMITS_SET};
	cluster_limits_default(&lim.u.limits.limits);
	lim.u.limits.limits.max_revoked = 2;
	struct env *both[2] = {&e, &ref};
	struct cluster_cmd first = cert_cmd(a, join_serial(a), SNEW1, NA1, JOIN_NOT_AFTER, 3000);
	for (int i = 0; i < 2; i++) {
		do_init(both[i]);
		APPLY(both[i], &lim, 0);
		join(both[i], a, "n1", CLUSTER_ROLE_CONTROL, 0);
		revoke_serial(both[i], 1, 5000, 10, 0);
		revoke_serial(both[i], 2, 1960000000000, 10, 0);
		/* The list is full, but a first renewal revokes nothing. */
		APPLY(both[i], &first, 0);
	}
	/* The next one must revoke the join's serial. Full, nothing expired at 4000: refused. */
	struct cluster_cmd c = cert_cmd(a, SNEW1, SNEW2, NA2, NA1, 4000);
	REQUIRE(commit(&e, &c, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_REVOKED_FULL);
	CHECK(strstr(r.msg, "max_revoked is 2") != NULL);
	CHECK(same_state(&e, &ref));
	CHECK(row_is(&e, a, SNEW1, NA1, join_serial(a), JOIN_NOT_AFTER));
	CHECK_EQ_INT(revoked(&e, join_serial(a)), 0);
	/* The lost-answer form needs room too (for NEW1). */
	struct cluster_cmd lost = cert_cmd(a, join_serial(a), SNEW2, NA2, JOIN_NOT_AFTER, 4000);
	APPLY(&e, &lost, -ERR_CLUSTER_REVOKED_FULL);
	CHECK(same_state(&e, &ref));
	/* At 5000 serial 1 (not after 5000) has not expired yet: still full. */
	c.u.cert.at = 5000;
	APPLY(&e, &c, -ERR_CLUSTER_REVOKED_FULL);
	CHECK(same_state(&e, &ref));
	/* At 5001 it has: purged to make room, in the same transaction. */
	c.u.cert.at = 5001;
	APPLY(&e, &c, 0);
	CHECK_EQ_INT(revoked(&e, B("\xee\0\0\x01", 4)), 0);
	CHECK_EQ_INT(revoked(&e, B("\xee\0\0\x02", 4)), 1);
	CHECK_EQ_INT(revoked(&e, join_serial(a)), 1);
	CHECK_EQ_INT(revoked_total(&e), 2);
	CHECK(row_is(&e, a, SNEW2, NA2, SNEW1, NA1));
	/* Full again with nothing expiring: refused; one more slot and it fits (just under). */
	c = cert_cmd(a, SNEW2, SNEW3, NA3, NA2, 6000);
	APPLY(&e, &c, -ERR_CLUSTER_REVOKED_FULL);
	lim.u.limits.limits.max_revoked = 3;
	APPLY(&e, &lim, 0);
	APPLY(&e, &c, 0);
	CHECK_EQ_INT(revoked_total(&e), 3);
	env_close(&e);
	env_close(&ref);
}

/* NODE_REMOVE of a renewed node needs room for two entries: refused with room for one only
 * (nothing changes), accepted with room for exactly two. */
static void node_remove_needs_room_for_two(void)
{
	struct env e, ref;
	struct cluster_result r;
	char a[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0 && env_open(&ref) == 0);
	mkid(1, a);
	struct cluster_cmd lim = {.type = CLUSTER_CMD_LIMITS_SET};
	cluster_limits_default(&lim.u.limits.limits);
	lim.u.limits.limits.max_revoked = 3;
	struct cluster_cmd renew = cert_cmd(a, join_serial(a), SNEW1, NA1, JOIN_NOT_AFTER, 1000);
	struct env *both[2] = {&e, &ref};
	for (int i = 0; i < 2; i++) {
		do_init(both[i]);
		APPLY(both[i], &lim, 0);
		join(both[i], a, "n1", CLUSTER_ROLE_CONTROL, 0);
		APPLY(both[i], &renew, 0);
		revoke_serial(both[i], 1, 1960000000000, 10, 0);
		revoke_serial(both[i], 2, 1960000000000, 10, 0);
	}
	/* 2 kept + 2 > 3. */
	struct cluster_cmd rm = {.type = CLUSTER_CMD_NODE_REMOVE};
	rm.u.remove = (struct cluster_cmd_remove){S(a), 0, 2000};
	REQUIRE(commit(&e, &rm, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_REVOKED_FULL);
	CHECK(strstr(r.msg, "max_revoked is 3 (2 to add)") != NULL);
	CHECK(same_state(&e, &ref));
	CHECK(row_is(&e, a, SNEW1, NA1, join_serial(a), JOIN_NOT_AFTER));
	/* One more slot: 2 + 2 = 4, just fits. */
	lim.u.limits.limits.max_revoked = 4;
	APPLY(&e, &lim, 0);
	APPLY(&e, &rm, 0);
	CHECK_EQ_INT(revoked(&e, SNEW1), 1);
	CHECK_EQ_INT(revoked(&e, join_serial(a)), 1);
	CHECK_EQ_INT(revoked_total(&e), 4);
	env_close(&e);
	env_close(&ref);
}

/* The replaced serial's entry lives until its notAfter, then REVOKED_PURGE drops it. */
static void node_cert_purge_after_not_after(void)
{
	struct env e;
	struct cluster_result r;
	char a[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(1, a);
	join(&e, a, "n1", CLUSTER_ROLE_CONTROL, 0);
	struct cluster_cmd c = cert_cmd(a, join_serial(a), SNEW1, NA1, JOIN_NOT_AFTER, 1000);
	APPLY(&e, &c, 0);
	c = cert_cmd(a, SNEW1, SNEW2, NA2, NA1, 2000);
	APPLY(&e, &c, 0);
	struct cluster_cmd p = {.type = CLUSTER_CMD_REVOKED_PURGE};
	p.u.purge.before = JOIN_NOT_AFTER; /* not_after < before: not yet */
	APPLY(&e, &p, -ERR_CLUSTER_UNCHANGED);
	CHECK_EQ_INT(revoked(&e, join_serial(a)), 1);
	p.u.purge.before = JOIN_NOT_AFTER + 1;
	REQUIRE(commit(&e, &p, &r) == 0);
	CHECK_EQ_INT(r.code, 0);
	CHECK_EQ_STR(r.msg, "1 expired revocations purged");
	CHECK_EQ_INT(revoked(&e, join_serial(a)), 0);
	/* The node keeps its two certificates. */
	CHECK(row_is(&e, a, SNEW2, NA2, SNEW1, NA1));
	CHECK_EQ_INT(revoked(&e, SNEW1), 0);
	CHECK_EQ_INT(revoked(&e, SNEW2), 0);
	env_close(&e);
}

/* Before CLUSTER_INIT, and as bytes that do not decode. */
static void node_cert_before_init_and_malformed(void)
{
	struct env e;
	struct cluster_result r;
	char a[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	mkid(1, a);
	struct cluster_cmd c = cert_cmd(a, join_serial(a), SNEW1, 1, 1, 1);
	APPLY(&e, &c, -ERR_CLUSTER_NOT_INIT);
	do_init(&e);
	join(&e, a, "n1", CLUSTER_ROLE_CONTROL, 0);
	/* Encoded, then cut by one byte: refused as malformed, the index advances. */
	struct buf b;
	c = cert_cmd(a, join_serial(a), SNEW1, NA1, JOIN_NOT_AFTER, 1);
	buf_init(&b, cmdbuf, sizeof cmdbuf);
	REQUIRE(cluster_cmd_encode(&c, &b) > 0);
	REQUIRE(commit_raw(&e, cmdbuf, b.len - 1, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_CMD);
	CHECK(strstr(r.msg, "node_cert.at") != NULL);
	CHECK_EQ_INT(store_applied(&e.st), e.index);
	CHECK(row_is(&e, a, join_serial(a), JOIN_NOT_AFTER, B("", 0), 0));
	env_close(&e);
}

/* --- Node row encoding -------------------------------------------------------------------- */

/* A version 1 row as the code before the previous certificate wrote it, byte by byte: ver,
 * role, membership, status, availability, name_len, addr_len, serial_len, joined_at,
 * status_at, cert_not_after, name, addr, serial. */
static size_t old_row(uint8_t *out, const char *name, const char *addr, struct slice serial,
		      int64_t joined, int64_t status_at, int64_t not_after)
{
	size_t nl = strlen(name), al = strlen(addr);
	const int64_t t[3] = {joined, status_at, not_after};
	out[0] = 1;
	out[1] = CLUSTER_ROLE_DATA;
	out[2] = CLUSTER_MEMBER_ACCEPTED;
	out[3] = CLUSTER_STATUS_READY;
	out[4] = CLUSTER_AVAIL_DRAIN;
	out[5] = (uint8_t)nl;
	out[6] = (uint8_t)al;
	out[7] = (uint8_t)serial.len;
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 8; i++)
			out[8 + 8 * k + i] = (uint8_t)((uint64_t)t[k] >> (56 - 8 * i));
	memcpy(out + 32, name, nl);
	memcpy(out + 32 + nl, addr, al);
	memcpy(out + 32 + nl + al, serial.p, serial.len);
	return 32 + nl + al + serial.len;
}

static int row_put(struct env *e, const char *id, const uint8_t *v, size_t len)
{
	struct store_txn t;
	if (store_txn_begin(&e->st, &t, STORE_TXN_WRITE) < 0)
		return -1;
	int rc = store_sm_put(&t, CLUSTER_TABLE_NODES, S(id), B(v, len));
	if (rc == 0)
		rc = store_txn_commit(&t);
	else
		store_txn_abort(&t);
	return rc;
}

/* The stored bytes of a row (copied out): their length, 0 if none. */
static size_t row_get(struct env *e, const char *id, uint8_t *out, size_t cap)
{
	struct store_txn t;
	struct slice v;
	size_t n = 0;
	if (store_txn_begin(&e->st, &t, STORE_TXN_READ) < 0)
		return 0;
	if (store_sm_get(&t, CLUSTER_TABLE_NODES, S(id), &v) == 0 && v.len <= cap) {
		memcpy(out, v.p, v.len);
		n = v.len;
	}
	store_txn_abort(&t);
	return n;
}

/* Rows written before the previous certificate existed decode with none, renew, and are
 * rewritten as version 2 then; a row without a previous certificate is still written as the
 * old bytes; damaged version 2 rows are corrupt. */
static void node_row_old_format(void)
{
	struct env e;
	struct cluster_node n;
	uint8_t row[512], got[512];
	char a[ID_LEN + 1], b[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(1, a);
	mkid(2, b);
	size_t len = old_row(row, "old-node", "10.0.0.9:4242", join_serial(a), 1700000001000,
			     1700000005000, JOIN_NOT_AFTER);
	REQUIRE(row_put(&e, a, row, len) == 0);
	REQUIRE(cluster_sm_node_get(&e.sm, NULL, S(a), &n) == 0);
	CHECK_EQ_STR(n.name, "old-node");
	CHECK_EQ_STR(n.addr, "10.0.0.9:4242");
	CHECK_EQ_INT(n.role, CLUSTER_ROLE_DATA);
	CHECK_EQ_INT(n.membership, CLUSTER_MEMBER_ACCEPTED);
	CHECK_EQ_INT(n.status, CLUSTER_STATUS_READY);
	CHECK_EQ_INT(n.availability, CLUSTER_AVAIL_DRAIN);
	CHECK_EQ_INT(n.joined_at, 1700000001000);
	CHECK_EQ_INT(n.status_at, 1700000005000);
	CHECK(row_is(&e, a, join_serial(a), JOIN_NOT_AFTER, B("", 0), 0));

	/* What the new code writes for a row without a previous certificate is those bytes. */
	struct cluster_cmd st = {.type = CLUSTER_CMD_NODE_AVAIL};
	st.u.avail = (struct cluster_cmd_avail){S(a), CLUSTER_AVAIL_ACTIVE, 1};
	APPLY(&e, &st, 0);
	st.u.avail.availability = CLUSTER_AVAIL_DRAIN;
	APPLY(&e, &st, 0);
	CHECK(row_get(&e, a, got, sizeof got) == len && memcmp(got, row, len) == 0);

	/* It renews; the row becomes version 2: the old bytes, then the previous certificate. */
	struct cluster_cmd c = cert_cmd(a, join_serial(a), SNEW1, NA1, JOIN_NOT_AFTER, 1000);
	APPLY(&e, &c, 0);
	CHECK(row_is(&e, a, SNEW1, NA1, join_serial(a), JOIN_NOT_AFTER));
	size_t len2 = row_get(&e, a, got, sizeof got);
	REQUIRE(len2 == len - 16 + sizeof NEW1 + 9 + 16);
	CHECK_EQ_INT(got[0], 2);
	CHECK_EQ_INT(got[len - 16 + sizeof NEW1], 16);
	CHECK(memcmp(got + len2 - 16, a + ID_LEN - 16, 16) == 0);

	/* Damaged version 2 rows, stored under b: corrupt, never a refusal. */
	uint8_t bad[512];
	const size_t tail = len2 - 9 - 16; /* prev_serial_len's offset */
	struct {
		size_t off;
		uint8_t v;
		size_t len;
	} cases[] = {
		{0, 3, len2},           /* unknown version */
		{0, 1, len2},           /* version 1 with a tail */
		{tail, 0, len2 - 16},   /* version 2 without a previous certificate */
		{tail, 21, len2},       /* previous serial over 20 bytes */
		{tail, 15, len2},       /* length disagrees with the row */
		{tail + 1, 0x80, len2}, /* negative prev_not_after */
		{0, 2, len2 - 1},       /* cut */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memcpy(bad, got, len2);
		bad[cases[i].off] = cases[i].v;
		REQUIRE(row_put(&e, b, bad, cases[i].len) == 0);
		if (cluster_sm_node_get(&e.sm, NULL, S(b), &n) != -ERR_STORE_CORRUPT)
			TEST_FAIL_("damaged row case %zu decoded", i);
	}
	/* A previous certificate equal to the current one. */
	memcpy(bad, got, len2);
	bad[tail] = sizeof NEW1;
	memcpy(bad + tail + 9, NEW1, sizeof NEW1);
	REQUIRE(row_put(&e, b, bad, tail + 9 + sizeof NEW1) == 0);
	CHECK_EQ_INT(cluster_sm_node_get(&e.sm, NULL, S(b), &n), -ERR_STORE_CORRUPT);
	/* The undamaged row under b decodes. */
	REQUIRE(row_put(&e, b, got, len2) == 0);
	CHECK_EQ_INT(cluster_sm_node_get(&e.sm, NULL, S(b), &n), 0);
	env_close(&e);
}

/* --- Apply mechanics ---------------------------------------------------------------------- */

static void malformed_entry_advances_index(void)
{
	struct env e, ref;
	struct cluster_result r;
	REQUIRE(env_open(&e) == 0 && env_open(&ref) == 0);
	do_init(&e);
	do_init(&ref);
	REQUIRE(commit_raw(&e, "garbage", 7, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_CMD);
	CHECK_EQ_INT(r.type, 0);
	CHECK_EQ_INT(store_applied(&e.st), 2);
	/* A newer encoding version. */
	uint8_t v2[] = {'T', 'C', 2, 3, 0};
	REQUIRE(commit_raw(&e, v2, sizeof v2, &r) == 0);
	CHECK_EQ_INT(r.code, -ERR_CLUSTER_CMD_VERSION);
	CHECK_EQ_INT(store_applied(&e.st), 3);
	/* A Raft no-op entry: only the index. */
	REQUIRE(commit_raw(&e, NULL, 0, &r) == 0);
	CHECK_EQ_INT(r.code, 0);
	CHECK_EQ_INT(store_applied(&e.st), 4);
	CHECK(same_state(&e, &ref));
	env_close(&e);
	env_close(&ref);
}

static void index_must_advance(void)
{
	struct env e;
	struct cluster_result r;
	char id[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(1, id);
	join(&e, id, "n1", CLUSTER_ROLE_CONTROL, 0);
	/* Entry 2 again: refused before anything is written. */
	struct store_entry ent;
	uint8_t buf[512];
	REQUIRE(store_entry_get(&e.st, 2, &ent, buf, sizeof buf) == 0);
	CHECK_EQ_INT(cluster_sm_apply(&e.sm, ent.data, ent.len, 2, &r), -ERR_RANGE);
	CHECK_EQ_INT(cluster_sm_apply(&e.sm, ent.data, ent.len, 1, &r), -ERR_RANGE);
	CHECK_EQ_INT(store_applied(&e.st), 2);
	/* Past the log's end: the store refuses the applied index, nothing is kept. */
	CHECK_EQ_INT(cluster_sm_apply(&e.sm, NULL, 0, 9, &r), -ERR_RANGE);
	CHECK_EQ_INT(store_applied(&e.st), 2);
	env_close(&e);
}

/* Every refusal leaves the exported state byte for byte as it was. */
static void refusals_change_nothing(void)
{
	struct env e, ref;
	char a[ID_LEN + 1], x[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0 && env_open(&ref) == 0);
	struct env *both[2] = {&e, &ref};
	mkid(1, a);
	mkid(2, x);
	for (int i = 0; i < 2; i++) {
		do_init(both[i]);
		join(both[i], a, "n1", CLUSTER_ROLE_CONTROL, 0);
		status(both[i], a, CLUSTER_STATUS_READY, 5, 0);
		revoke_serial(both[i], 1, 100, 1, 0);
	}
	struct cluster_cmd c = init_cmd();
	APPLY(&e, &c, -ERR_CLUSTER_INITIALISED);
	join(&e, a, "n1", CLUSTER_ROLE_DATA, -ERR_EXISTS);
	status(&e, a, CLUSTER_STATUS_READY, 6, -ERR_CLUSTER_UNCHANGED);
	status(&e, x, CLUSTER_STATUS_DOWN, 6, -ERR_NOTFOUND);
	struct cluster_cmd rm = {.type = CLUSTER_CMD_NODE_REMOVE};
	rm.u.remove = (struct cluster_cmd_remove){S(a), 0, 7};
	APPLY(&e, &rm, -ERR_CLUSTER_NODE_UP);
	revoke_serial(&e, 1, 100, 1, -ERR_CLUSTER_UNCHANGED);
	struct cluster_cmd d = {.type = CLUSTER_CMD_DEPLOY};
	d.u.deploy = (struct cluster_cmd_deploy){S("{\"entryPoints\":1}"), 1};
	APPLY(&e, &d, -ERR_CLUSTER_DEPLOY);
	struct cluster_cmd l = {.type = CLUSTER_CMD_LIMITS_SET};
	cluster_limits_default(&l.u.limits.limits);
	l.u.limits.limits.max_nodes = 0;
	struct cluster_result r;
	CHECK_EQ_INT(commit(&e, &l, &r), -ERR_CLUSTER_CMD); /* the encoder refuses it */
	struct cluster_cmd p = {.type = CLUSTER_CMD_REVOKED_PURGE};
	p.u.purge.before = 50;
	APPLY(&e, &p, -ERR_CLUSTER_UNCHANGED);
	CHECK(same_state(&e, &ref));
	env_close(&e);
	env_close(&ref);
}

/* Two replicas applying the same entries end in the same bytes with the same results. */
static void replicas_agree(void)
{
	struct env a, b;
	char id[ID_LEN + 1];
	REQUIRE(env_open(&a) == 0 && env_open(&b) == 0);
	struct env *both[2] = {&a, &b};
	for (int i = 0; i < 2; i++) {
		struct env *e = both[i];
		do_init(e);
		for (int k = 0; k < 6; k++) {
			char name[16];
			mkid(k, id);
			snprintf(name, sizeof name, "n%d", k % 4);
			join(e, id, name, k % 2 ? CLUSTER_ROLE_DATA : CLUSTER_ROLE_CONTROL, 0);
			status(e, id, CLUSTER_STATUS_READY, k, 0);
		}
		mkid(2, id);
		status(e, id, CLUSTER_STATUS_DOWN, 50, 0);
		struct cluster_cmd rm = {.type = CLUSTER_CMD_NODE_REMOVE};
		rm.u.remove = (struct cluster_cmd_remove){S(id), 0, 60};
		APPLY(e, &rm, 0);
		struct cluster_cmd d = {.type = CLUSTER_CMD_DEPLOY};
		d.u.deploy = (struct cluster_cmd_deploy){S(DEPLOY_OK), 70};
		APPLY(e, &d, 0);
		struct cluster_cmd rt = {.type = CLUSTER_CMD_ROUTING_SET};
		rt.u.routing = (struct cluster_cmd_routing){3, 80, S("{\"frontends\":{}}")};
		APPLY(e, &rt, 0);
		APPLY(e, &rt, -ERR_CLUSTER_STALE);
	}
	CHECK(same_state(&a, &b));
	/* Same applied index too: the whole exports are equal, header and CRC included. */
	size_t na = export_state(&a, snap_a, sizeof snap_a);
	size_t nb = export_state(&b, snap_b, sizeof snap_b);
	CHECK(na == nb && na > 0 && memcmp(snap_a, snap_b, na) == 0);
	env_close(&a);
	env_close(&b);
}

static void fault_on_commit_changes_nothing(void)
{
	struct env e;
	struct cluster_result r;
	struct cluster_info in;
	char id[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(1, id);
	unsigned char serial[16] = {1};
	struct cluster_cmd c = join_cmd(id, "n1", CLUSTER_ROLE_CONTROL, serial);
	struct buf b;
	buf_init(&b, cmdbuf, sizeof cmdbuf);
	REQUIRE(cluster_cmd_encode(&c, &b) > 0);
	struct store_entry ent = {1, 2, cmdbuf, (uint32_t)b.len, 1};
	REQUIRE(store_append(&e.st, &ent, 1) == 0);
	e.st.fault_commit = 1;
	CHECK_EQ_INT(cluster_sm_apply(&e.sm, cmdbuf, b.len, 2, &r), -ERR_FAULT);
	CHECK_EQ_INT(store_applied(&e.st), 1);
	REQUIRE(cluster_sm_info(&e.sm, NULL, &in) == 0);
	CHECK_EQ_INT(in.nodes, 0);
	/* The same entry applies once the store works again. */
	CHECK_EQ_INT(cluster_sm_apply(&e.sm, cmdbuf, b.len, 2, &r), 0);
	CHECK_EQ_INT(r.code, 0);
	REQUIRE(cluster_sm_info(&e.sm, NULL, &in) == 0);
	CHECK_EQ_INT(in.nodes, 1);
	env_close(&e);
}

static void state_survives_reopen(void)
{
	struct env e;
	struct cluster_node n;
	char id[ID_LEN + 1];
	REQUIRE(env_open(&e) == 0);
	do_init(&e);
	mkid(1, id);
	join(&e, id, "n1", CLUSTER_ROLE_CONTROL, 0);
	cluster_sm_fini(&e.sm);
	store_close(&e.st);
	REQUIRE(store_open(&e.st, e.dir, NULL) == 0);
	REQUIRE(cluster_sm_init(&e.sm, &e.st, NULL) == 0);
	CHECK_EQ_INT(store_applied(&e.st), 2);
	CHECK_EQ_INT(cluster_sm_node_find(&e.sm, NULL, S("n1"), &n), 0);
	CHECK_EQ_STR(n.id, id);
	env_close(&e);
}

/* --- Snapshot stream ---------------------------------------------------------------------- */

static void build_state(struct env *e)
{
	char id[ID_LEN + 1];
	do_init(e);
	for (int k = 0; k < 5; k++) {
		char name[16];
		mkid(k, id);
		snprintf(name, sizeof name, "node-%d", 4 - k);
		join(e, id, name, k < 3 ? CLUSTER_ROLE_CONTROL : CLUSTER_ROLE_DATA, 0);
	}
	/* Node 1 renewed: its row carries a previous certificate (a version 2 record). */
	mkid(1, id);
	struct cluster_cmd c = cert_cmd(id, join_serial(id), SNEW1, NA1, JOIN_NOT_AFTER, 60);
	APPLY(e, &c, 0);
	revoke_serial(e, 9, 100000, 1, 0);
	struct cluster_cmd d = {.type = CLUSTER_CMD_DEPLOY};
	d.u.deploy = (struct cluster_cmd_deploy){S(DEPLOY_OK), 70};
	APPLY(e, &d, 0);
	struct cluster_cmd rt = {.type = CLUSTER_CMD_ROUTING_SET};
	rt.u.routing = (struct cluster_cmd_routing){3, 80, S("{\"frontends\":{}}")};
	APPLY(e, &rt, 0);
}

/* Import `n` bytes into e at index `index`, fed in pieces of `piece` bytes. */
static int import_into(struct env *e, const uint8_t *p, size_t n, size_t piece, uint64_t index)
{
	struct store_txn t;
	struct cluster_sm_import im;
	/* The log must reach the snapshot's index before the applied index can. */
	while (e->index < index) {
		struct store_entry ent = {1, e->index + 1, (const uint8_t *)"x", 1, 1};
		if (store_append(&e->st, &ent, 1) < 0)
			return -1000;
		e->index++;
	}
	if (store_txn_begin(&e->st, &t, STORE_TXN_WRITE) < 0)
		return -1001;
	int rc = cluster_sm_import_begin(&im, &e->sm, &t);
	for (size_t off = 0; rc == 0 && off < n; off += piece)
		rc = cluster_sm_import_feed(&im, p + off, n - off < piece ? n - off : piece);
	if (rc == 0)
		rc = cluster_sm_import_end(&im);
	if (rc == 0)
		rc = store_txn_set_applied(&t, index);
	if (rc == 0)
		rc = store_txn_commit(&t);
	if (rc < 0)
		store_txn_abort(&t);
	return rc;
}

static uint8_t stream[1 << 20];

static void export_import_roundtrip(void)
{
	struct env a, b;
	struct cluster_node n[8];
	REQUIRE(env_open(&a) == 0 && env_open(&b) == 0);
	build_state(&a);
	size_t len = export_state(&a, stream, sizeof stream);
	REQUIRE(len > 0);
	CHECK(memcmp(stream, "TEESM\x01", 6) == 0);
	/* Something already in b is replaced. */
	do_init(&b);
	char id[ID_LEN + 1];
	mkid(77, id);
	join(&b, id, "stale", CLUSTER_ROLE_DATA, 0);
	CHECK_EQ_INT(import_into(&b, stream, len, len, a.index), 0);
	CHECK_EQ_INT(store_applied(&b.st), a.index);
	size_t na = export_state(&a, snap_a, sizeof snap_a);
	size_t nb = export_state(&b, snap_b, sizeof snap_b);
	CHECK(na == nb && memcmp(snap_a, snap_b, na) == 0);
	/* The name index was rebuilt. */
	CHECK_EQ_INT(cluster_sm_nodes(&b.sm, NULL, n, 8), 5);
	CHECK_EQ_STR(n[0].name, "node-0");
	CHECK_EQ_INT(cluster_sm_node_find(&b.sm, NULL, S("node-2"), &n[0]), 0);
	CHECK_EQ_INT(cluster_sm_node_find(&b.sm, NULL, S("stale"), &n[0]), -ERR_NOTFOUND);
	/* The renewed node's previous certificate came along. */
	mkid(1, id);
	CHECK(row_is(&b, id, SNEW1, NA1, join_serial(id), JOIN_NOT_AFTER));
	mkid(2, id);
	CHECK(row_is(&b, id, join_serial(id), JOIN_NOT_AFTER, B("", 0), 0));
	env_close(&a);
	env_close(&b);
}

static void import_byte_by_byte(void)
{
	struct env a, b;
	REQUIRE(env_open(&a) == 0 && env_open(&b) == 0);
	build_state(&a);
	size_t len = export_state(&a, stream, sizeof stream);
	REQUIRE(len > 0);
	CHECK_EQ_INT(import_into(&b, stream, len, 1, a.index), 0);
	CHECK(same_state(&a, &b));
	env_close(&a);
	env_close(&b);
}

/* Verification only (no transaction): every prefix is refused at the end, every flipped byte
 * somewhere; the whole stream passes. */
static void import_refuses_damage(void)
{
	struct env a;
	struct cluster_sm_import im;
	REQUIRE(env_open(&a) == 0);
	build_state(&a);
	size_t len = export_state(&a, stream, sizeof stream);
	REQUIRE(len > 0);
	REQUIRE(cluster_sm_import_begin(&im, &a.sm, NULL) == 0);
	CHECK_EQ_INT(cluster_sm_import_feed(&im, stream, len), 0);
	CHECK_EQ_INT(cluster_sm_import_end(&im), 0);
	CHECK_EQ_INT(im.index, a.index);
	for (size_t cut = 0; cut < len; cut += 7) {
		cluster_sm_import_begin(&im, &a.sm, NULL);
		int rc = cluster_sm_import_feed(&im, stream, cut);
		if (rc == 0)
			rc = cluster_sm_import_end(&im);
		if (rc != -ERR_CLUSTER_SNAPSHOT) {
			TEST_FAIL_("prefix %zu: %d", cut, rc);
			break;
		}
	}
	for (size_t i = 0; i < len; i++) {
		stream[i] ^= 0x20;
		cluster_sm_import_begin(&im, &a.sm, NULL);
		int rc = cluster_sm_import_feed(&im, stream, len);
		if (rc == 0)
			rc = cluster_sm_import_end(&im);
		stream[i] ^= 0x20;
		if (rc != -ERR_CLUSTER_SNAPSHOT) {
			TEST_FAIL_("flip at %zu: %d", i, rc);
			break;
		}
	}
	/* A byte more. */
	stream[len] = 0;
	cluster_sm_import_begin(&im, &a.sm, NULL);
	CHECK_EQ_INT(cluster_sm_import_feed(&im, stream, len + 1), -ERR_CLUSTER_SNAPSHOT);
	CHECK(strstr(a.sm.errmsg, "after the end") != NULL);
	CHECK_EQ_INT(cluster_sm_import_end(&im), -ERR_CLUSTER_SNAPSHOT);
	env_close(&a);
}

/* A refused import, aborted, leaves the previous state. */
static void failed_import_keeps_state(void)
{
	struct env a, b, ref;
	REQUIRE(env_open(&a) == 0 && env_open(&b) == 0 && env_open(&ref) == 0);
	build_state(&a);
	do_init(&b);
	do_init(&ref);
	size_t len = export_state(&a, stream, sizeof stream);
	REQUIRE(len > 0);
	stream[len - 1] ^= 1; /* CRC */
	CHECK_EQ_INT(import_into(&b, stream, len, 4096, a.index), -ERR_CLUSTER_SNAPSHOT);
	CHECK(strstr(b.sm.errmsg, "CRC") != NULL);
	CHECK_EQ_INT(store_applied(&b.st), 1);
	CHECK(same_state(&b, &ref));
	env_close(&a);
	env_close(&b);
	env_close(&ref);
}

/* A record over this node's own limit is refused, naming the setting. */
static void import_over_local_limit(void)
{
	static char doc[3000];
	struct env a, small;
	struct cluster_sm_config cfg = {
		.limits = {.max_routing_bytes = 1024, .max_deploy_bytes = 1024}};
	REQUIRE(env_open(&a) == 0 && env_open_cfg(&small, &cfg, 0) == 0);
	do_init(&a);
	struct cluster_cmd rt = {.type = CLUSTER_CMD_ROUTING_SET};
	rt.u.routing = (struct cluster_cmd_routing){1, 1, B(doc, make_doc(doc, sizeof doc))};
	APPLY(&a, &rt, 0);
	size_t len = export_state(&a, stream, sizeof stream);
	REQUIRE(len > 0);
	CHECK_EQ_INT(import_into(&small, stream, len, len, a.index), -ERR_CLUSTER_SNAPSHOT);
	CHECK(strstr(small.sm.errmsg, "max_routing_bytes") != NULL);
	/* The small node's buffers: 16 KiB license at most, so that is the scratch. */
	CHECK(cluster_sm_bytes(&small.sm) < cluster_sm_bytes(&a.sm));
	env_close(&a);
	env_close(&small);
}

/* Export hands out pieces of at most CLUSTER_SNAP_PIECE bytes; a failing sink stops it. */
static void export_pieces(void)
{
	static char doc[300000];
	struct env a;
	struct store_txn t;
	REQUIRE(env_open(&a) == 0);
	do_init(&a);
	struct cluster_cmd rt = {.type = CLUSTER_CMD_ROUTING_SET};
	rt.u.routing = (struct cluster_cmd_routing){1, 1, B(doc, make_doc(doc, sizeof doc))};
	APPLY(&a, &rt, 0);
	REQUIRE(store_txn_begin(&a.st, &t, STORE_TXN_READ) == 0);
	struct sink s = {stream, 0, sizeof stream, 0, 0, 0};
	CHECK_EQ_INT(cluster_sm_export(&a.sm, &t, sink_write, &s), 0);
	CHECK_EQ_INT(s.max_piece, CLUSTER_SNAP_PIECE);
	CHECK(s.pieces >= 5);
	struct sink f = {stream, 0, sizeof stream, 0, 2, 0};
	CHECK_EQ_INT(cluster_sm_export(&a.sm, &t, sink_write, &f), -ERR_IO);
	store_txn_abort(&t);
	CHECK_EQ_INT(cluster_sm_export(&a.sm, NULL, sink_write, &s), -ERR_INVAL);
	env_close(&a);
}

static void empty_state_snapshot(void)
{
	struct env a, b;
	struct cluster_info in;
	REQUIRE(env_open(&a) == 0 && env_open(&b) == 0);
	size_t len = export_state(&a, stream, sizeof stream);
	CHECK_EQ_INT(len, 16 + 7 + 8);
	CHECK_EQ_INT(import_into(&b, stream, len, 3, 0), 0);
	REQUIRE(cluster_sm_info(&b.sm, NULL, &in) == 0);
	CHECK(!in.initialised);
	env_close(&a);
	env_close(&b);
}

TEST_MAIN(init_then_queries, commands_before_init_are_refused, init_twice_is_refused,
	  join_and_list_sorted, join_existing_id_is_refused, status_transitions,
	  availability_changes, address_changes, remove_revokes_certificate, revoked_records,
	  find_by_id_or_name, max_nodes_boundary, routing_set_and_stale, routing_cap_boundary,
	  deploy_valid_and_invalid, limits_set_and_deploy_cap, license_and_bootstrap_done,
	  token_rotate, max_revoked_boundary, batch_then_purge, malformed_entry_advances_index,
	  index_must_advance, refusals_change_nothing, replicas_agree,
	  fault_on_commit_changes_nothing, state_survives_reopen, export_import_roundtrip,
	  import_byte_by_byte, import_refuses_damage, failed_import_keeps_state,
	  import_over_local_limit, export_pieces, empty_state_snapshot,
	  node_cert_renewal_keeps_presented, node_cert_lost_answer, node_cert_remove_revokes_both,
	  node_cert_refusals_change_nothing, node_cert_max_revoked, node_remove_needs_room_for_two,
	  node_cert_purge_after_not_after, node_cert_before_init_and_malformed, node_row_old_format)
