/* Unit tests for cluster_backup: the archive name, writing a backup from a real state machine
 * (LMDB in a mkdtemp directory) and reading it back, GNU tar reading what we write, the
 * restore plan recreating the cluster in a fresh store, and the reader refusing damaged or
 * forged archives (checksums, hashes, truncation, versions, member sets, contents) with a
 * message, before anything is done with them.
 */
#include "base/base_err.h"
#include "base/base_id.h"
#include "base/base_rand.h"
#include "cluster/cluster_backup.h"
#include "cluster/cluster_cmd.h"
#include "cluster/cluster_sm.h"
#include "pki/pki_cert.h"
#include "pki/pki_key.h"
#include "pki/pki_pem.h"
#include "pki/pki_token.h"
#include "store/store.h"
#include "test.h"

#include <bearssl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- Fixture: a CA, tokens, a state machine in a temporary store --------------------------- */

static struct {
	int ready;
	struct rand r;
	struct pki_ca ca, other;
	unsigned char key_der[PKI_KEY_DER_MAX];
	size_t key_len;
	char ctext[PKI_TOKEN_LEN + 1], dtext[PKI_TOKEN_LEN + 1];
	unsigned char cver[PKI_VERIFIER_LEN], dver[PKI_VERIFIER_LEN];
} fx;

static void fx_init(void)
{
	struct buf b;
	struct pki_token t;
	unsigned char dg[PKI_CA_DIGEST_LEN];
	if (fx.ready)
		return;
	rand_init_seed(&fx.r, "cluster-backup", 14);
	pki_ca_create(&fx.ca, &fx.r, "traefikee", 1700000000);
	pki_ca_create(&fx.other, &fx.r, "traefikee", 1700000000);
	buf_init(&b, fx.key_der, sizeof fx.key_der);
	pki_key_to_der(&fx.ca.key, PKI_KEY_PKCS8, &b);
	fx.key_len = b.len;
	pki_ca_digest(fx.ca.cert, fx.ca.cert_len, dg);
	pki_token_new(&t, &fx.r, PKI_ROLE_CONTROL, dg);
	pki_token_format(&t, fx.ctext);
	pki_token_verifier(&t, fx.cver);
	pki_token_new(&t, &fx.r, PKI_ROLE_DATA, dg);
	pki_token_format(&t, fx.dtext);
	pki_token_verifier(&t, fx.dver);
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
	uint64_t index;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int env_open(struct env *e)
{
	const char *t = getenv("TMPDIR");
	memset(e, 0, sizeof *e);
	snprintf(e->dir, sizeof e->dir, "%s/tee-backup.XXXXXX", t && t[0] ? t : "/tmp");
	if (!mkdtemp(e->dir) || store_open(&e->st, e->dir, NULL) < 0)
		return -1;
	return cluster_sm_init(&e->sm, &e->st, NULL);
}

static void env_close(struct env *e)
{
	cluster_sm_fini(&e->sm);
	store_close(&e->st);
	nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint8_t cmdbuf[1 << 20];

static int commit(struct env *e, const struct cluster_cmd *c, struct cluster_result *res)
{
	struct buf b;
	buf_init(&b, cmdbuf, sizeof cmdbuf);
	int n = cluster_cmd_encode(c, &b);
	if (n < 0)
		return n;
	struct store_entry ent = {1, e->index + 1, cmdbuf, (uint32_t)n, 1};
	if (store_append(&e->st, &ent, 1) < 0)
		return -1000;
	e->index++;
	return cluster_sm_apply(&e->sm, cmdbuf, (size_t)n, e->index, res);
}

#define APPLY(e, c)                                                                   \
	do {                                                                          \
		struct cluster_result r_;                                             \
		int rc_ = commit((e), (c), &r_);                                      \
		if (rc_ != 0 || r_.code != 0)                                         \
			TEST_FAIL_("apply: rc %d code %d: %s", rc_, r_.code, r_.msg); \
	} while (0)

static const char CID[] = "v9m7zaq16ipo0ihhstovjo96r";
static const char DEPLOY[] = "{\"entryPoints\":{\"http\":{\"address\":\":80\"},"
			     "\"https\":{\"address\":\":443\",\"tls\":{}}},"
			     "\"defaultEntryPoints\":[\"http\",\"https\"],"
			     "\"providers\":{\"consul\":{\"endpoint\":\"10.0.0.9:8500\"}}}";
static const char ROUTING[] = "{\"version\":1,\"revision\":7,\"frontends\":{},\"backends\":{}}";

static void cluster_init(struct env *e, int with_tokens)
{
	struct cluster_cmd c = {.type = CLUSTER_CMD_INIT};
	fx_init();
	c.u.init.cluster_id = S(CID);
	c.u.init.name = S("prod-edge");
	c.u.init.created_at = 1700000000000;
	c.u.init.license = S("fakeLicense");
	c.u.init.ca_cert = B(fx.ca.cert, fx.ca.cert_len);
	c.u.init.ca_key = B(fx.key_der, fx.key_len);
	c.u.init.control_verifier = B(fx.cver, PKI_VERIFIER_LEN);
	c.u.init.data_verifier = B(fx.dver, PKI_VERIFIER_LEN);
	c.u.init.control_token = S(with_tokens ? fx.ctext : "");
	c.u.init.data_token = S(with_tokens ? fx.dtext : "");
	cluster_limits_default(&c.u.init.limits);
	APPLY(e, &c);
}

/* A cluster with nodes (one removed: a revoked serial), a deployment and a routing document. */
static void full_state(struct env *e)
{
	char id[ID_LEN + 1];
	unsigned char b[16] = {0x21};
	cluster_init(e, 1);
	for (int i = 0; i < 4; i++) {
		b[15] = (unsigned char)i;
		id_from_bytes(b, id);
		char name[16];
		snprintf(name, sizeof name, "node-%d", i);
		struct cluster_cmd c = {.type = CLUSTER_CMD_NODE_JOIN};
		c.u.join = (struct cluster_cmd_join){S(id),
						     S(name),
						     (uint8_t)(i < 3 ? 1 : 2),
						     S("10.0.0.1:4242"),
						     B(b, 16),
						     1900000000000,
						     1700000001000};
		APPLY(e, &c);
	}
	/* node-0 renewed: its row has a previous certificate (the join's, 21 00 .. 00). */
	unsigned char renewed[4] = {0x5e, 0x41, 0x1e, 0x0d};
	b[15] = 0;
	id_from_bytes(b, id);
	struct cluster_cmd nc = {.type = CLUSTER_CMD_NODE_CERT};
	nc.u.cert = (struct cluster_cmd_cert){S(id),         B(b, 16),      B(renewed, 4),
					      1910000000000, 1900000000000, 1700000001500};
	APPLY(e, &nc);
	b[15] = 3;
	id_from_bytes(b, id);
	struct cluster_cmd rm = {.type = CLUSTER_CMD_NODE_REMOVE};
	rm.u.remove = (struct cluster_cmd_remove){S(id), 0, 1700000002000};
	APPLY(e, &rm);
	unsigned char serial[3] = {0xab, 0xcd, 0xef};
	struct cluster_cmd rv = {.type = CLUSTER_CMD_CERT_REVOKE};
	rv.u.revoke = (struct cluster_cmd_revoke){B(serial, 3), 1800000000000, 1700000003000};
	APPLY(e, &rv);
	struct cluster_cmd d = {.type = CLUSTER_CMD_DEPLOY};
	d.u.deploy = (struct cluster_cmd_deploy){S(DEPLOY), 1700000004000};
	APPLY(e, &d);
	struct cluster_cmd rt = {.type = CLUSTER_CMD_ROUTING_SET};
	rt.u.routing = (struct cluster_cmd_routing){7, 1700000005000, S(ROUTING)};
	APPLY(e, &rt);
}

static uint8_t archive[1 << 20], work[1 << 20];
static struct cluster_backup bk;

static const int64_t NOW = 1552498950000; /* 2019-03-13T17:42:30Z */

static size_t write_backup(struct env *e, uint8_t *out, size_t cap)
{
	struct buf b;
	buf_init(&b, out, cap);
	int rc = cluster_backup_write(&e->sm, NULL, NOW, &b);
	if (rc < 0) {
		fprintf(stderr, "  backup: %s\n", e->sm.errmsg);
		return 0;
	}
	return b.len;
}

/* --- A small tar reader and writer of our own, to forge archives ---------------------------- */

struct mem {
	char name[100];
	uint8_t data[16384];
	size_t size;
};
static struct mem mems[12];

static unsigned long octal(const uint8_t *p, size_t n)
{
	unsigned long v = 0;
	for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '7'; i++)
		v = v * 8 + (unsigned long)(p[i] - '0');
	return v;
}

static int tar_split(const uint8_t *a, size_t len)
{
	int n = 0;
	for (size_t off = 0; off + 512 <= len && a[off] && n < 12; n++) {
		size_t size = octal(a + off + 124, 12);
		snprintf(mems[n].name, sizeof mems[n].name, "%s", (const char *)a + off);
		if (size > sizeof mems[n].data)
			return -1;
		memcpy(mems[n].data, a + off + 512, size);
		mems[n].size = size;
		off += 512 + (size + 511) / 512 * 512;
	}
	return n;
}

static size_t tar_join(uint8_t *out, int n)
{
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		uint8_t *h = out + off;
		memset(h, 0, 512);
		memcpy(h, mems[i].name, strlen(mems[i].name));
		snprintf((char *)h + 100, 8, "%07o", 0600);
		snprintf((char *)h + 108, 8, "%07o", 0);
		snprintf((char *)h + 116, 8, "%07o", 0);
		snprintf((char *)h + 124, 12, "%011lo", (unsigned long)mems[i].size);
		snprintf((char *)h + 136, 12, "%011lo", 1552498950ul);
		h[156] = '0';
		memcpy(h + 257, "ustar", 6);
		memcpy(h + 263, "00", 2);
		memset(h + 148, ' ', 8);
		unsigned sum = 0;
		for (int k = 0; k < 512; k++)
			sum += h[k];
		snprintf((char *)h + 148, 8, "%06o", sum);
		h[155] = ' ';
		memcpy(h + 512, mems[i].data, mems[i].size);
		size_t padded = (mems[i].size + 511) / 512 * 512;
		memset(h + 512 + mems[i].size, 0, padded - mems[i].size);
		off += 512 + padded;
	}
	memset(out + off, 0, 1024);
	return off + 1024;
}

static int find_mem(int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(mems[i].name, name) == 0)
			return i;
	return -1;
}

static void sha_hex(const void *p, size_t n, char out[65])
{
	unsigned char d[32];
	br_sha256_context c;
	br_sha256_init(&c);
	br_sha256_update(&c, p, n);
	br_sha256_out(&c, d);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Replace member `name`'s content and fix its entry in the manifest (member 0). */
static void replace_member(int n, const char *name, const void *data, size_t size)
{
	int i = find_mem(n, name);
	char oldh[65], newh[65], olds[256], news[256];
	static char man[16384];
	if (i < 0)
		return;
	sha_hex(mems[i].data, mems[i].size, oldh);
	sha_hex(data, size, newh);
	snprintf(olds, sizeof olds, "\"name\":\"%s\",\"size\":%zu,\"sha256\":\"%s\"", name,
		 mems[i].size, oldh);
	snprintf(news, sizeof news, "\"name\":\"%s\",\"size\":%zu,\"sha256\":\"%s\"", name, size,
		 newh);
	memcpy(mems[i].data, data, size);
	mems[i].size = size;
	mems[0].data[mems[0].size] = '\0';
	char *at = strstr((char *)mems[0].data, olds);
	if (!at)
		return;
	size_t pre = (size_t)(at - (char *)mems[0].data);
	snprintf(man, sizeof man, "%.*s%s%s", (int)pre, (char *)mems[0].data, news,
		 at + strlen(olds));
	mems[0].size = strlen(man);
	memcpy(mems[0].data, man, mems[0].size);
}

/* Replace text in the manifest (no hash to fix: the manifest is not hashed). */
static void manifest_sub(const char *from, const char *to)
{
	static char man[16384];
	mems[0].data[mems[0].size] = '\0';
	char *at = strstr((char *)mems[0].data, from);
	if (!at)
		return;
	snprintf(man, sizeof man, "%.*s%s%s", (int)(at - (char *)mems[0].data),
		 (char *)mems[0].data, to, at + strlen(from));
	mems[0].size = strlen(man);
	memcpy(mems[0].data, man, mems[0].size);
}

/* Keep manifest.sha256 (when there is one) in step with the manifest, so that forged
 * manifests reach the deeper checks. */
static void fix_manifest_sum(int n)
{
	int i = find_mem(n, "manifest.sha256");
	char hex[65];
	if (i < 0)
		return;
	sha_hex(mems[0].data, mems[0].size, hex);
	mems[i].size = (size_t)snprintf((char *)mems[i].data, sizeof mems[i].data,
					"%s  manifest.json\n", hex);
}

static int read_forged(int n, const char *expect_in_msg)
{
	fix_manifest_sum(n);
	size_t len = tar_join(work, n);
	int rc = cluster_backup_read(&bk, work, len);
	if (expect_in_msg && (rc == 0 || !strstr(bk.errmsg, expect_in_msg)))
		fprintf(stderr, "  got %d \"%s\", wanted \"%s\"\n", rc, bk.errmsg, expect_in_msg);
	return expect_in_msg ? (rc < 0 && strstr(bk.errmsg, expect_in_msg) != NULL) : rc;
}

/* --- Cases -------------------------------------------------------------------------------- */

static void filename(void)
{
	char name[CLUSTER_BACKUP_NAME_LEN + 1];
	cluster_backup_filename(NOW, name);
	CHECK_EQ_STR(name, "2019-03-13T174230_traefikee-backup.tar");
	CHECK_EQ_INT(strlen(name), CLUSTER_BACKUP_NAME_LEN);
	cluster_backup_filename(0, name);
	CHECK_EQ_STR(name, "1970-01-01T000000_traefikee-backup.tar");
	cluster_backup_filename(-1, name);
	CHECK_EQ_STR(name, "1969-12-31T235959_traefikee-backup.tar");
}

static void write_then_read(void)
{
	struct env e;
	REQUIRE(env_open(&e) == 0);
	full_state(&e);
	size_t len = write_backup(&e, archive, sizeof archive);
	REQUIRE(len > 0);
	CHECK_EQ_INT(len % 512, 0);
	int rc = cluster_backup_read(&bk, archive, len);
	if (rc)
		fprintf(stderr, "  %s\n", bk.errmsg);
	REQUIRE(rc == 0);
	CHECK_EQ_STR(bk.cluster_id, CID);
	CHECK_EQ_STR(bk.name, "prod-edge");
	CHECK_EQ_STR(bk.created_at, "2019-03-13T17:42:30.000Z");
	CHECK_EQ_INT(bk.source_index, e.index);
	CHECK_EQ_INT(bk.routing_revision, 7);
	CHECK_EQ_INT(bk.limits.max_nodes, 64);
	CHECK_EQ_MEM(bk.license.p, bk.license.len, "fakeLicense");
	CHECK(bk.ca_cert_len == fx.ca.cert_len && !memcmp(bk.ca_cert, fx.ca.cert, bk.ca_cert_len));
	struct pki_key k;
	REQUIRE(pki_key_from_der(&k, bk.ca_key, bk.ca_key_len) == 0);
	CHECK(memcmp(k.pub, fx.ca.key.pub, PKI_KEY_PUB_LEN) == 0);
	CHECK_EQ_STR(bk.control.text, fx.ctext);
	CHECK_EQ_STR(bk.data.text, fx.dtext);
	CHECK(memcmp(bk.data.verifier, fx.dver, PKI_VERIFIER_LEN) == 0);
	CHECK_EQ_MEM(bk.deploy.p, bk.deploy.len, DEPLOY);
	CHECK_EQ_MEM(bk.routing.p, bk.routing.len, ROUTING);
	CHECK_EQ_INT(bk.nrevoked, 2);
	CHECK(memmem(bk.nodes.p, bk.nodes.len, "\"name\":\"node-0\"", 15) != NULL);
	CHECK(memmem(bk.nodes.p, bk.nodes.len, "node-3", 6) == NULL); /* removed */
	/* The renewed node's two certificates; none before for the others. */
	static const char renewed[] = "\"certSerial\":\"5e411e0d\",\"certNotAfter\":1910000000000,"
				      "\"prevCertSerial\":\"21000000000000000000000000000000\","
				      "\"prevCertNotAfter\":1900000000000}";
	CHECK(memmem(bk.nodes.p, bk.nodes.len, renewed, sizeof renewed - 1) != NULL);
	static const char plain[] = "\"certSerial\":\"21000000000000000000000000000001\","
				    "\"certNotAfter\":1900000000000,"
				    "\"prevCertSerial\":\"\",\"prevCertNotAfter\":0}";
	CHECK(memmem(bk.nodes.p, bk.nodes.len, plain, sizeof plain - 1) != NULL);
	/* The key material goes away on request. */
	cluster_backup_wipe(&bk);
	CHECK_EQ_INT(bk.ca_key_len, 0);
	CHECK_EQ_STR(bk.control.text, "");
	env_close(&e);
}

/* GNU tar lists our members in order and extracts them byte for byte. */
static void gnu_tar_reads_it(void)
{
	struct env e;
	char path[256], cmd[512], got[1024];
	const char *t = getenv("TMPDIR");
	REQUIRE(env_open(&e) == 0);
	full_state(&e);
	size_t len = write_backup(&e, archive, sizeof archive);
	REQUIRE(len > 0);
	snprintf(path, sizeof path, "%s/tee-tar.XXXXXX", t && t[0] ? t : "/tmp");
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	FILE *f = fdopen(fd, "wb");
	REQUIRE(f && fwrite(archive, 1, len, f) == len);
	fclose(f);
	snprintf(cmd, sizeof cmd, "tar -tf '%s' 2>&1", path);
	FILE *p = popen(cmd, "r");
	REQUIRE(p);
	size_t n = fread(got, 1, sizeof got - 1, p);
	pclose(p);
	got[n] = '\0';
	CHECK_EQ_STR(
		got,
		"manifest.json\nlicense.txt\nca.crt\nca.key\ntokens.json\n"
		"static-config.json\nrouting.json\nnodes.json\nrevoked.txt\nmanifest.sha256\n");
	snprintf(cmd, sizeof cmd, "tar -xOf '%s' routing.json 2>&1", path);
	p = popen(cmd, "r");
	REQUIRE(p);
	n = fread(got, 1, sizeof got - 1, p);
	pclose(p);
	got[n] = '\0';
	CHECK_EQ_STR(got, ROUTING);
	snprintf(cmd, sizeof cmd, "tar -tvf '%s' ca.key 2>&1", path);
	p = popen(cmd, "r");
	REQUIRE(p);
	n = fread(got, 1, sizeof got - 1, p);
	pclose(p);
	got[n] = '\0';
	CHECK(strncmp(got, "-rw-------", 10) == 0);
	/* Extracted, the manifest checks by hand with sha256sum. */
	char dir[256];
	snprintf(dir, sizeof dir, "%s/tee-untar.XXXXXX", t && t[0] ? t : "/tmp");
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(cmd, sizeof cmd, "cd '%s' && tar -xf '%s' && sha256sum -c manifest.sha256 2>&1",
		 dir, path);
	p = popen(cmd, "r");
	REQUIRE(p);
	n = fread(got, 1, sizeof got - 1, p);
	pclose(p);
	got[n] = '\0';
	CHECK_EQ_STR(got, "manifest.json: OK\n");
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	remove(path);
	env_close(&e);
}

/* The restore plan recreates the cluster in a fresh store under a new ID. */
static void restore_recreates_cluster(void)
{
	struct env a, b;
	struct cluster_restore r;
	struct cluster_cmd c;
	static const char NEW_ID[] = "0123456789abcdefghijklmno";
	int types[16], n = 0, rc;
	REQUIRE(env_open(&a) == 0 && env_open(&b) == 0);
	full_state(&a);
	size_t len = write_backup(&a, archive, sizeof archive);
	REQUIRE(len > 0 && cluster_backup_read(&bk, archive, len) == 0);
	cluster_restore_begin(&r, &bk, NEW_ID, 1800000000000);
	while ((rc = cluster_restore_next(&r, &c)) == 1 && n < 16) {
		types[n++] = c.type;
		APPLY(&b, &c);
	}
	CHECK_EQ_INT(rc, 0);
	REQUIRE(n == 5);
	CHECK_EQ_INT(types[0], CLUSTER_CMD_INIT);
	CHECK_EQ_INT(types[1], CLUSTER_CMD_CERT_REVOKE);
	CHECK_EQ_INT(types[2], CLUSTER_CMD_CERT_REVOKE);
	CHECK_EQ_INT(types[3], CLUSTER_CMD_DEPLOY);
	CHECK_EQ_INT(types[4], CLUSTER_CMD_ROUTING_SET);

	struct cluster_info ia, ib;
	REQUIRE(cluster_sm_info(&a.sm, NULL, &ia) == 0 && cluster_sm_info(&b.sm, NULL, &ib) == 0);
	CHECK_EQ_STR(ib.id, NEW_ID);
	CHECK_EQ_STR(ib.name, "prod-edge");
	CHECK_EQ_INT(ib.created_at, 1800000000000);
	CHECK_EQ_INT(ib.nodes, 0);
	CHECK_EQ_INT(ib.revoked, ia.revoked);
	CHECK_EQ_INT(ib.routing_revision, 7);
	CHECK(ib.deployed);
	struct cluster_tokens ta, tb;
	REQUIRE(cluster_sm_tokens(&a.sm, NULL, &ta) == 0 &&
		cluster_sm_tokens(&b.sm, NULL, &tb) == 0);
	CHECK_EQ_STR(tb.control.text, ta.control.text);
	CHECK(memcmp(tb.data.verifier, ta.data.verifier, PKI_VERIFIER_LEN) == 0);
	/* Every serial revoked in a is revoked in b (the CA is the same). */
	unsigned char serial[3] = {0xab, 0xcd, 0xef};
	CHECK_EQ_INT(cluster_sm_is_revoked(&b.sm, NULL, B(serial, 3)), 1);
	struct store_txn t;
	struct cluster_routing rt;
	struct slice cert, key;
	REQUIRE(store_txn_begin(&b.st, &t, STORE_TXN_READ) == 0);
	REQUIRE(cluster_sm_routing(&b.sm, &t, &rt) == 0);
	CHECK_EQ_MEM(rt.doc.p, rt.doc.len, ROUTING);
	REQUIRE(cluster_sm_ca(&b.sm, &t, &cert, &key) == 0);
	CHECK(cert.len == fx.ca.cert_len && !memcmp(cert.p, fx.ca.cert, cert.len));
	store_txn_abort(&t);

	/* A backup of the restored cluster restores again (NULL keeps the archive's ID). */
	len = write_backup(&b, archive, sizeof archive);
	REQUIRE(len > 0 && cluster_backup_read(&bk, archive, len) == 0);
	CHECK_EQ_STR(bk.cluster_id, NEW_ID);
	cluster_restore_begin(&r, &bk, NULL, 1);
	REQUIRE(cluster_restore_next(&r, &c) == 1);
	CHECK_EQ_MEM(c.u.init.cluster_id.p, c.u.init.cluster_id.len, NEW_ID);
	env_close(&a);
	env_close(&b);
}

/* No deployment, no routing document, verifiers only: optional members are absent. */
static void minimal_cluster(void)
{
	struct env e;
	struct cluster_restore r;
	struct cluster_cmd c;
	REQUIRE(env_open(&e) == 0);
	cluster_init(&e, 0);
	size_t len = write_backup(&e, archive, sizeof archive);
	REQUIRE(len > 0);
	REQUIRE(cluster_backup_read(&bk, archive, len) == 0);
	CHECK_EQ_INT(bk.deploy.len, 0);
	CHECK_EQ_INT(bk.routing.len, 0);
	CHECK_EQ_INT(bk.nrevoked, 0);
	CHECK_EQ_STR(bk.control.text, "");
	CHECK_EQ_MEM(bk.nodes.p, bk.nodes.len, "[]");
	int n = tar_split(archive, len);
	CHECK_EQ_INT(n, 8);
	cluster_restore_begin(&r, &bk, NULL, 5);
	CHECK_EQ_INT(cluster_restore_next(&r, &c), 1);
	CHECK_EQ_INT(c.type, CLUSTER_CMD_INIT);
	CHECK_EQ_INT(cluster_restore_next(&r, &c), 0);
	CHECK_EQ_INT(cluster_restore_next(&r, &c), 0);
	env_close(&e);
}

static void write_needs_room_and_a_cluster(void)
{
	struct env e;
	struct buf b;
	REQUIRE(env_open(&e) == 0);
	buf_init(&b, archive, sizeof archive);
	CHECK_EQ_INT(cluster_backup_write(&e.sm, NULL, NOW, &b), -ERR_CLUSTER_NOT_INIT);
	CHECK_EQ_INT(b.len, 0);
	full_state(&e);
	size_t len = write_backup(&e, archive, sizeof archive);
	REQUIRE(len > 0);
	/* Every shorter buffer fails cleanly, leaving what was in it. */
	for (size_t cap = 0; cap < len; cap += 97) {
		memcpy(work, "keep", 4);
		buf_init(&b, work, cap + 4);
		b.len = 4;
		if (cluster_backup_write(&e.sm, NULL, NOW, &b) != -ERR_BUF_FULL || b.len != 4 ||
		    memcmp(work, "keep", 4) != 0) {
			TEST_FAIL_("cap %zu", cap);
			break;
		}
	}
	buf_init(&b, work, len);
	CHECK_EQ_INT(cluster_backup_write(&e.sm, NULL, NOW, &b), 0);
	CHECK(b.len == len && memcmp(work, archive, len) == 0);
	struct cluster_limits l;
	cluster_limits_default(&l);
	CHECK(cluster_backup_max_bytes(&l) >= len);
	env_close(&e);
}

/* The size bound holds for the largest members: names and addresses at their limits, addresses
 * full of characters JSON escapes, every node and revocation slot used. */
static void max_bytes_bound_holds(void)
{
	struct env e;
	char id[ID_LEN + 1], name[CLUSTER_NODE_NAME_MAX + 1], addr[CLUSTER_ADDR_MAX + 1];
	unsigned char b[16] = {0x33};
	REQUIRE(env_open(&e) == 0);
	cluster_init(&e, 1);
	struct cluster_cmd l = {.type = CLUSTER_CMD_LIMITS_SET};
	cluster_limits_default(&l.u.limits.limits);
	l.u.limits.limits.max_nodes = 4;
	l.u.limits.limits.max_revoked = 3;
	l.u.limits.limits.max_deploy_bytes = 1024;
	l.u.limits.limits.max_routing_bytes = 1024;
	APPLY(&e, &l);
	memset(addr, '"', CLUSTER_ADDR_MAX);
	addr[CLUSTER_ADDR_MAX] = '\0';
	for (int i = 0; i < 4; i++) {
		b[15] = (unsigned char)i;
		id_from_bytes(b, id);
		memset(name, 'a' + i, CLUSTER_NODE_NAME_MAX);
		name[CLUSTER_NODE_NAME_MAX] = '\0';
		unsigned char first[CLUSTER_SERIAL_MAX], next[CLUSTER_SERIAL_MAX];
		memset(first, 0x40 + i, sizeof first);
		memset(next, 0x50 + i, sizeof next);
		struct cluster_cmd c = {.type = CLUSTER_CMD_NODE_JOIN};
		c.u.join = (struct cluster_cmd_join){
			S(id), S(name), 1, S(addr), B(first, sizeof first), INT64_MAX, INT64_MAX};
		APPLY(&e, &c);
		/* Renewed: two serials of the largest size in the row. */
		c = (struct cluster_cmd){.type = CLUSTER_CMD_NODE_CERT};
		c.u.cert = (struct cluster_cmd_cert){S(id),       B(first, sizeof first),
						     B(next, 20), INT64_MAX,
						     INT64_MAX,   INT64_MAX};
		APPLY(&e, &c);
	}
	for (int i = 0; i < 3; i++) {
		unsigned char serial[CLUSTER_SERIAL_MAX];
		memset(serial, 0xf0 + i, sizeof serial);
		struct cluster_cmd c = {.type = CLUSTER_CMD_CERT_REVOKE};
		c.u.revoke = (struct cluster_cmd_revoke){B(serial, sizeof serial), INT64_MAX, 1};
		APPLY(&e, &c);
	}
	struct cluster_info in;
	REQUIRE(cluster_sm_info(&e.sm, NULL, &in) == 0);
	size_t len = write_backup(&e, archive, sizeof archive);
	REQUIRE(len > 0);
	CHECK(len <= cluster_backup_max_bytes(&in.limits));
	CHECK_EQ_INT(cluster_backup_read(&bk, archive, len), 0);
	CHECK_EQ_INT(bk.nrevoked, 3);
	env_close(&e);
}

/* Damage anywhere is found: a changed byte in any member, a bad header, any truncation. */
static void damaged_archives_are_refused(void)
{
	struct env e;
	REQUIRE(env_open(&e) == 0);
	full_state(&e);
	size_t len = write_backup(&e, archive, sizeof archive);
	REQUIRE(len > 0);
	/* Every byte flipped, one at a time. */
	for (size_t i = 0; i < len; i++) {
		archive[i] ^= 0x04;
		int rc = cluster_backup_read(&bk, archive, len);
		archive[i] ^= 0x04;
		/* Flips in unused header bytes (mode digits, mtime) still break the checksum; a
		 * flip in the zero end blocks breaks the end. Nothing passes. */
		if (rc == 0) {
			TEST_FAIL_("flip at %zu accepted", i);
			break;
		}
	}
	CHECK_EQ_INT(cluster_backup_read(&bk, archive, len), 0);
	/* Truncated at every block boundary, and not on one. */
	for (size_t cut = 0; cut < len; cut += 512)
		if (cluster_backup_read(&bk, archive, cut) == 0) {
			TEST_FAIL_("cut at %zu accepted", cut);
			break;
		}
	CHECK_EQ_INT(cluster_backup_read(&bk, archive, len - 1), -ERR_CLUSTER_BACKUP);
	CHECK(strstr(bk.errmsg, "whole number of blocks") != NULL);
	/* Extra zero blocks (tar's record padding) are fine; anything else after the end is not. */
	memset(archive + len, 0, 4096);
	CHECK_EQ_INT(cluster_backup_read(&bk, archive, len + 4096), 0);
	archive[len + 100] = 1;
	CHECK_EQ_INT(cluster_backup_read(&bk, archive, len + 512), -ERR_CLUSTER_BACKUP);
	CHECK(strstr(bk.errmsg, "end of archive") != NULL);
	/* A header checksum. */
	archive[150] ^= 1;
	CHECK_EQ_INT(cluster_backup_read(&bk, archive, len), -ERR_CLUSTER_BACKUP);
	CHECK(strstr(bk.errmsg, "checksum") != NULL);
	archive[150] ^= 1;
	/* Key material is not left behind by a refusal. */
	CHECK_EQ_INT(bk.ca_key_len, 0);
	CHECK_EQ_INT(cluster_backup_read(&bk, NULL, 0), -ERR_CLUSTER_BACKUP);
	CHECK_EQ_INT(cluster_backup_read(&bk, archive, (size_t)1 << 40), -ERR_CLUSTER_BACKUP);
	env_close(&e);
}

static void member_hash_is_checked(void)
{
	struct env e;
	REQUIRE(env_open(&e) == 0);
	full_state(&e);
	size_t len = write_backup(&e, archive, sizeof archive);
	int n = tar_split(archive, len);
	REQUIRE(n == 10);
	CHECK_EQ_INT(read_forged(n, NULL), 0); /* our own tar writer gives an equal archive */
	int i = find_mem(n, "license.txt");
	mems[i].data[0] ^= 1;
	CHECK(read_forged(n, "license.txt: SHA-256 does not match"));
	mems[i].data[0] ^= 1;
	mems[i].size--;
	CHECK(read_forged(n, "license.txt: size differs"));
	env_close(&e);
}

static void manifest_is_checked(void)
{
	struct env e;
	REQUIRE(env_open(&e) == 0);
	full_state(&e);
	size_t len = write_backup(&e, archive, sizeof archive);
	int n = tar_split(archive, len);
	REQUIRE(n == 10);
	/* The manifest's own hash. */
	manifest_sub("\"sourceIndex\":", "\"sourceIndex\":1");
	CHECK_EQ_INT(cluster_backup_read(&bk, work, tar_join(work, n)), -ERR_CLUSTER_BACKUP);
	CHECK(strstr(bk.errmsg, "manifest.json: SHA-256 does not match manifest.sha256") != NULL);
	n = tar_split(archive, len);
	manifest_sub("\"version\":1", "\"version\":2");
	CHECK(read_forged(n, "format version 2"));
	CHECK_EQ_INT(cluster_backup_read(&bk, work, tar_join(work, n)),
		     -ERR_CLUSTER_BACKUP_VERSION);
	manifest_sub("\"version\":2", "\"version\":0");
	CHECK(read_forged(n, "version 0"));
	manifest_sub("\"version\":0", "\"version\":1");
	manifest_sub("traefikee-backup", "something-else");
	CHECK(read_forged(n, "not a traefikee backup"));
	manifest_sub("something-else", "traefikee-backup");
	manifest_sub("\"maxNodes\":64", "\"maxNodes\":0");
	CHECK(read_forged(n, "max_nodes"));
	manifest_sub("\"maxNodes\":0", "\"maxNodes\":64");
	manifest_sub("\"createdAt\":\"", "\"createdAt\":\"\\u001b[2J");
	CHECK(read_forged(n, "bad createdAt"));
	manifest_sub("\"createdAt\":\"\\u001b[2J", "\"createdAt\":\"");
	manifest_sub("\"routingRevision\":7", "\"routingRevision\":0");
	CHECK(read_forged(n, "without a revision"));
	manifest_sub("\"routingRevision\":0", "\"routingRevision\":7");
	CHECK_EQ_INT(read_forged(n, NULL), 0);
	/* The manifest must come first. */
	struct mem tmp = mems[0];
	mems[0] = mems[1];
	mems[1] = tmp;
	CHECK(read_forged(n, "manifest.json is not the first member"));
	mems[1] = mems[0];
	mems[0] = tmp;
	env_close(&e);
}

static void member_set_is_checked(void)
{
	struct env e;
	REQUIRE(env_open(&e) == 0);
	full_state(&e);
	size_t len = write_backup(&e, archive, sizeof archive);
	int n = tar_split(archive, len);
	REQUIRE(n == 10);
	/* An extra member the manifest does not know. */
	snprintf(mems[n].name, sizeof mems[n].name, "evil.sh");
	mems[n].size = 3;
	memcpy(mems[n].data, "rm\n", 3);
	CHECK(read_forged(n + 1, "unexpected member \"evil.sh\""));
	/* The same member twice. */
	mems[n] = mems[1];
	CHECK(read_forged(n + 1, "license.txt appears twice"));
	/* A required member missing (and so not in the archive the manifest lists). */
	int i = find_mem(n, "revoked.txt");
	mems[i] = mems[n - 1];
	CHECK(read_forged(n - 1, "lists \"revoked.txt\""));
	n = tar_split(archive, len);
	CHECK(read_forged(n - 1, "manifest.sha256 is missing"));
	/* A manifest entry without a name. */
	manifest_sub("{\"name\":\"nodes.json\"", "{\"nam\":\"nodes.json\"");
	CHECK(read_forged(n, "member without a name"));
	env_close(&e);
}

static void contents_are_checked(void)
{
	struct env e;
	static char buf[8192];
	REQUIRE(env_open(&e) == 0);
	full_state(&e);
	size_t len = write_backup(&e, archive, sizeof archive);
	int n = tar_split(archive, len);
	REQUIRE(n == 10);

	/* A CA key that is not the certificate's. */
	struct buf b;
	buf_init(&b, buf, sizeof buf);
	REQUIRE(pki_key_to_pem(&fx.other.key, PKI_KEY_SEC1, &b) == 0);
	replace_member(n, "ca.key", buf, b.len);
	CHECK(read_forged(n, "ca.crt/ca.key"));
	n = tar_split(archive, len);
	replace_member(n, "ca.crt", "no pem here", 11);
	CHECK(read_forged(n, "ca.crt: no PEM certificate"));

	/* A token that does not match its verifier. */
	n = tar_split(archive, len);
	int i = find_mem(n, "tokens.json");
	memcpy(buf, mems[i].data, mems[i].size);
	buf[mems[i].size] = '\0';
	char *tok = strstr(buf, "TEE1-D-");
	REQUIRE(tok != NULL);
	tok[PKI_TOKEN_LEN - 1] = tok[PKI_TOKEN_LEN - 1] == 'a' ? 'b' : 'a';
	replace_member(n, "tokens.json", buf, strlen(buf));
	CHECK(read_forged(n, "tokens.json: data token does not match its verifier"));

	/* A static configuration of the wrong shape. */
	n = tar_split(archive, len);
	replace_member(n, "static-config.json", "{\"entryPoints\":[]}", 18);
	CHECK(read_forged(n, "static-config.json: entryPoints: not an object"));

	/* revoked.txt lines. */
	static const char *const bad_lines[] = {
		"abc 1 2 -\n", "ab 1 2\n",         "ab 1 2 -",    "ab 01 2 -\n",
		"AB 1 2 -\n",  "ab 1 2 notanid\n", "ab -1 2 -\n", "ab 1 2 - x\n",
	};
	for (size_t k = 0; k < sizeof bad_lines / sizeof bad_lines[0]; k++) {
		n = tar_split(archive, len);
		replace_member(n, "revoked.txt", bad_lines[k], strlen(bad_lines[k]));
		if (!read_forged(n, "revoked.txt: line 1 malformed"))
			TEST_FAIL_("line \"%s\" accepted", bad_lines[k]);
	}
	n = tar_split(archive, len);
	replace_member(n, "revoked.txt", "", 0);
	CHECK_EQ_INT(read_forged(n, NULL), 0);
	CHECK_EQ_INT(bk.nrevoked, 0);

	/* The license must be printable text. */
	n = tar_split(archive, len);
	replace_member(n, "license.txt", "a\nb", 3);
	CHECK(read_forged(n, "license.txt: not printable"));
	env_close(&e);
}

TEST_MAIN(filename, write_then_read, gnu_tar_reads_it, restore_recreates_cluster, minimal_cluster,
	  write_needs_room_and_a_cluster, max_bytes_bound_holds, damaged_archives_are_refused,
	  member_hash_is_checked, manifest_is_checked, member_set_is_checked, contents_are_checked)
