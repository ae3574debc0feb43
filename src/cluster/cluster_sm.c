/* cluster_sm.c — see cluster_sm.h; records and the snapshot stream are described in
 * docs/internals/cluster-state.md.
 *
 * Implementation notes
 *
 * - Every command handler has two phases: read and decide (no write), then write. A refusal
 *   is always decided in the first phase, so a refused command leaves the transaction as it
 *   found it, and apply_txn can be used for batches without savepoints.
 * - Values read with store_sm_get are views into the map that die at the next write in the
 *   transaction: they are decoded into structs (or consumed) before anything is written.
 * - A stored record that does not decode is -ERR_STORE_CORRUPT: fatal, never a refusal, since
 *   the same bytes would not be corrupt on the other nodes.
 */
#include "cluster/cluster_sm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_err.h"

/* --- Small helpers ------------------------------------------------------------------------ */

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static int64_t get_time(const uint8_t *p)
{
	uint64_t v = get_u64(p);
	return v > INT64_MAX ? -1 : (int64_t)v;
}

static int sm_fail(struct cluster_sm *sm, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int sm_fail(struct cluster_sm *sm, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sm->errmsg, sizeof sm->errmsg, fmt, ap);
	va_end(ap);
	return code;
}

/* A store error: keep the store's detail. */
static int sm_store_fail(struct cluster_sm *sm, int rc, const char *what)
{
	return sm_fail(sm, rc, "%s: %s", what, sm->store ? sm->store->errmsg : err_str(rc));
}

static int corrupt(struct cluster_sm *sm, const char *what)
{
	return sm_fail(sm, -ERR_STORE_CORRUPT, "cluster state: %s does not decode", what);
}

static void copy_cstr(char *dst, size_t cap, struct slice s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;
	if (n)
		memcpy(dst, s.p, n);
	dst[n] = '\0';
}

static int all_printable(struct slice s, unsigned char lo)
{
	for (size_t i = 0; i < s.len; i++)
		if ((unsigned char)s.p[i] < lo || (unsigned char)s.p[i] > 0x7e)
			return 0;
	return 1;
}

/* --- Records ------------------------------------------------------------------------------ */

/* Meta keys, in byte order (the order they appear in the table and in snapshots). */
enum meta_key {
	MK_CA_CERT,
	MK_CA_KEY,
	MK_DEPLOY,
	MK_DEPLOY_JSON,
	MK_IDENTITY,
	MK_LICENSE,
	MK_LIMITS,
	MK_ROUTING,
	MK_ROUTING_JSON,
	MK_TOK_CONTROL,
	MK_TOK_DATA,
	MK_COUNT
};
static const char *const meta_keys[MK_COUNT] = {
	"ca.cert", "ca.key",  "deploy",       "deploy.json", "identity", "license",
	"limits",  "routing", "routing.json", "tok.control", "tok.data",
};
/* Present in every initialised cluster. */
#define MK_REQUIRED                                                                          \
	((1u << MK_CA_CERT) | (1u << MK_CA_KEY) | (1u << MK_IDENTITY) | (1u << MK_LICENSE) | \
	 (1u << MK_LIMITS) | (1u << MK_TOK_CONTROL) | (1u << MK_TOK_DATA))

static struct slice mkey(enum meta_key k)
{
	return slice_from_cstr(meta_keys[k]);
}

/* identity: ver, flags, name_len, boot_id_len, created_at, done_at, init_index, id, boot id,
 * name. */
#define IDENT_HDR 28
#define IDENT_MAX (IDENT_HDR + 2 * ID_LEN + CLUSTER_NAME_MAX)
struct ident {
	char id[ID_LEN + 1];
	char name[CLUSTER_NAME_MAX + 1];
	int64_t created_at;
	uint64_t init_index;
	bool done;
	char boot_id[ID_LEN + 1];
	int64_t done_at;
};

static size_t ident_encode(const struct ident *in, uint8_t out[IDENT_MAX])
{
	size_t nl = strlen(in->name), bl = in->done ? ID_LEN : 0;
	out[0] = 1;
	out[1] = in->done ? 1 : 0;
	out[2] = (uint8_t)nl;
	out[3] = (uint8_t)bl;
	put_u64(out + 4, (uint64_t)in->created_at);
	put_u64(out + 12, (uint64_t)in->done_at);
	put_u64(out + 20, in->init_index);
	memcpy(out + IDENT_HDR, in->id, ID_LEN);
	memcpy(out + IDENT_HDR + ID_LEN, in->boot_id, bl);
	memcpy(out + IDENT_HDR + ID_LEN + bl, in->name, nl);
	return IDENT_HDR + ID_LEN + bl + nl;
}

static int ident_decode(struct slice v, struct ident *out)
{
	const uint8_t *p = (const uint8_t *)v.p;
	memset(out, 0, sizeof *out);
	if (v.len < IDENT_HDR || p[0] != 1 || (p[1] & ~1u) || (p[3] != (p[1] ? ID_LEN : 0)))
		return -1;
	size_t nl = p[2], bl = p[3];
	if (v.len != IDENT_HDR + ID_LEN + bl + nl)
		return -1;
	struct slice id = {v.p + IDENT_HDR, ID_LEN}, boot = {v.p + IDENT_HDR + ID_LEN, bl},
		     name = {v.p + IDENT_HDR + ID_LEN + bl, nl};
	if (!cluster_id_valid(id) || (bl && !cluster_id_valid(boot)) ||
	    !cluster_name_valid(name, CLUSTER_NAME_MAX))
		return -1;
	out->created_at = get_time(p + 4);
	out->done_at = get_time(p + 12);
	out->init_index = get_u64(p + 20);
	if (out->created_at < 0 || out->done_at < 0)
		return -1;
	out->done = p[1] != 0;
	copy_cstr(out->id, sizeof out->id, id);
	copy_cstr(out->boot_id, sizeof out->boot_id, boot);
	copy_cstr(out->name, sizeof out->name, name);
	return 0;
}

/* limits: ver, 3 zero bytes, four u32. */
#define LIMITS_LEN 20
static void limits_encode(const struct cluster_limits *l, uint8_t out[LIMITS_LEN])
{
	memset(out, 0, LIMITS_LEN);
	out[0] = 1;
	put_u32(out + 4, l->max_nodes);
	put_u32(out + 8, l->max_routing_bytes);
	put_u32(out + 12, l->max_deploy_bytes);
	put_u32(out + 16, l->max_revoked);
}

static int limits_decode(struct slice v, struct cluster_limits *l)
{
	const uint8_t *p = (const uint8_t *)v.p;
	if (v.len != LIMITS_LEN || p[0] != 1 || p[1] || p[2] || p[3])
		return -1;
	l->max_nodes = get_u32(p + 4);
	l->max_routing_bytes = get_u32(p + 8);
	l->max_deploy_bytes = get_u32(p + 12);
	l->max_revoked = get_u32(p + 16);
	return cluster_limits_check(l, NULL, 0) < 0 ? -1 : 0;
}

/* license: at, then the text. */
#define LICENSE_HDR 8
static int license_decode(struct slice v, struct slice *license, int64_t *at)
{
	if (v.len < LICENSE_HDR + 1 || v.len > LICENSE_HDR + CLUSTER_LICENSE_MAX)
		return -1;
	*at = get_time((const uint8_t *)v.p);
	*license = (struct slice){v.p + LICENSE_HDR, v.len - LICENSE_HDR};
	return *at < 0 || !all_printable(*license, 0x20) ? -1 : 0;
}

/* token: ver, text_len, 2 zero bytes, at, verifier, text. */
#define TOKEN_HDR (12 + PKI_VERIFIER_LEN)
#define TOKEN_MAX (TOKEN_HDR + PKI_TOKEN_LEN)
static size_t token_encode(struct slice verifier, struct slice text, int64_t at,
			   uint8_t out[TOKEN_MAX])
{
	out[0] = 1;
	out[1] = (uint8_t)text.len;
	out[2] = out[3] = 0;
	put_u64(out + 4, (uint64_t)at);
	memcpy(out + 12, verifier.p, PKI_VERIFIER_LEN);
	if (text.len)
		memcpy(out + TOKEN_HDR, text.p, text.len);
	return TOKEN_HDR + text.len;
}

static int token_decode(struct slice v, struct cluster_token_info *out)
{
	const uint8_t *p = (const uint8_t *)v.p;
	memset(out, 0, sizeof *out);
	if (v.len < TOKEN_HDR || p[0] != 1 || p[2] || p[3] ||
	    (p[1] != 0 && p[1] != PKI_TOKEN_LEN) || v.len != TOKEN_HDR + (size_t)p[1])
		return -1;
	out->at = get_time(p + 4);
	memcpy(out->verifier, p + 12, PKI_VERIFIER_LEN);
	struct slice text = {v.p + TOKEN_HDR, p[1]};
	if (out->at < 0 || !all_printable(text, 0x21))
		return -1;
	copy_cstr(out->text, sizeof out->text, text);
	return 0;
}

/* deploy: at, index; the JSON itself under "deploy.json". routing: revision, at, index; the
 * JSON under "routing.json". Keeping the documents apart lets apply store the command's bytes
 * as they are, with no copy and no buffer sized by a local setting. */
#define DEPLOY_LEN 16
#define ROUTING_LEN 24
static int deploy_decode(struct slice v, struct cluster_deployed *out)
{
	memset(out, 0, sizeof *out);
	if (v.len != DEPLOY_LEN)
		return -1;
	out->at = get_time((const uint8_t *)v.p);
	out->index = get_u64((const uint8_t *)v.p + 8);
	return out->at < 0 ? -1 : 0;
}

static int routing_decode(struct slice v, struct cluster_routing *out)
{
	memset(out, 0, sizeof *out);
	if (v.len != ROUTING_LEN)
		return -1;
	out->revision = get_u64((const uint8_t *)v.p);
	out->at = get_time((const uint8_t *)v.p + 8);
	out->index = get_u64((const uint8_t *)v.p + 16);
	return out->at < 0 || out->revision == 0 ? -1 : 0;
}

/* node, version 1: ver, role, membership, status, availability, name_len, addr_len,
 * serial_len, joined_at, status_at, cert_not_after, name, addr, serial. The key is the ID.
 * Version 2, for a row with a previous certificate: the same, ver 2, followed by
 * prev_serial_len (1..20), prev_not_after, prev_serial. A row without one is written as
 * version 1, so each row has one byte form, and rows written before the previous certificate
 * existed (always version 1) decode with none. */
#define NODE_HDR 32
#define NODE_PREV_HDR 9
#define NODE_MAX                                                                    \
	(NODE_HDR + CLUSTER_NODE_NAME_MAX + CLUSTER_ADDR_MAX + CLUSTER_SERIAL_MAX + \
	 NODE_PREV_HDR + CLUSTER_SERIAL_MAX)
static size_t node_encode(const struct cluster_node *n, uint8_t out[NODE_MAX])
{
	size_t nl = strlen(n->name), al = strlen(n->addr);
	size_t len = NODE_HDR + nl + al + n->serial_len;
	out[0] = n->prev_serial_len ? 2 : 1;
	out[1] = n->role;
	out[2] = n->membership;
	out[3] = n->status;
	out[4] = n->availability;
	out[5] = (uint8_t)nl;
	out[6] = (uint8_t)al;
	out[7] = n->serial_len;
	put_u64(out + 8, (uint64_t)n->joined_at);
	put_u64(out + 16, (uint64_t)n->status_at);
	put_u64(out + 24, (uint64_t)n->cert_not_after);
	memcpy(out + NODE_HDR, n->name, nl);
	memcpy(out + NODE_HDR + nl, n->addr, al);
	memcpy(out + NODE_HDR + nl + al, n->serial, n->serial_len);
	if (!n->prev_serial_len)
		return len;
	out[len] = n->prev_serial_len;
	put_u64(out + len + 1, (uint64_t)n->prev_not_after);
	memcpy(out + len + NODE_PREV_HDR, n->prev_serial, n->prev_serial_len);
	return len + NODE_PREV_HDR + n->prev_serial_len;
}

static int node_decode(struct slice id, struct slice v, struct cluster_node *out)
{
	const uint8_t *p = (const uint8_t *)v.p;
	memset(out, 0, sizeof *out);
	if (!cluster_id_valid(id) || v.len < NODE_HDR || (p[0] != 1 && p[0] != 2))
		return -1;
	size_t nl = p[5], al = p[6], sl = p[7], base = NODE_HDR + nl + al + sl;
	if (sl < 1 || sl > CLUSTER_SERIAL_MAX)
		return -1;
	if (p[0] == 1 ? v.len != base : v.len < base + NODE_PREV_HDR)
		return -1;
	if (p[1] < CLUSTER_ROLE_CONTROL || p[1] > CLUSTER_ROLE_DATA ||
	    p[2] < CLUSTER_MEMBER_PENDING || p[2] > CLUSTER_MEMBER_ACCEPTED ||
	    p[3] < CLUSTER_STATUS_READY || p[3] > CLUSTER_STATUS_DOWN ||
	    p[4] < CLUSTER_AVAIL_ACTIVE || p[4] > CLUSTER_AVAIL_DRAIN)
		return -1;
	struct slice name = {v.p + NODE_HDR, nl}, addr = {v.p + NODE_HDR + nl, al};
	if (!cluster_name_valid(name, CLUSTER_NODE_NAME_MAX) || al < 1 ||
	    !all_printable(addr, 0x21))
		return -1;
	out->role = p[1];
	out->membership = p[2];
	out->status = p[3];
	out->availability = p[4];
	out->joined_at = get_time(p + 8);
	out->status_at = get_time(p + 16);
	out->cert_not_after = get_time(p + 24);
	if (out->joined_at < 0 || out->status_at < 0 || out->cert_not_after < 0)
		return -1;
	copy_cstr(out->id, sizeof out->id, id);
	copy_cstr(out->name, sizeof out->name, name);
	copy_cstr(out->addr, sizeof out->addr, addr);
	memcpy(out->serial, p + NODE_HDR + nl + al, sl);
	out->serial_len = (uint8_t)sl;
	if (p[0] == 1)
		return 0;
	/* Version 2: a previous certificate, 1..20 bytes (none is version 1), not the current. */
	size_t pl = p[base];
	if (pl < 1 || pl > CLUSTER_SERIAL_MAX || v.len != base + NODE_PREV_HDR + pl)
		return -1;
	out->prev_not_after = get_time(p + base + 1);
	if (out->prev_not_after < 0)
		return -1;
	memcpy(out->prev_serial, p + base + NODE_PREV_HDR, pl);
	out->prev_serial_len = (uint8_t)pl;
	if (pl == sl && memcmp(out->prev_serial, out->serial, sl) == 0)
		return -1;
	return 0;
}

/* revoked: ver, id_len, not_after, revoked_at, node id. The key is the serial. */
#define REVOKED_HDR 18
#define REVOKED_MAX (REVOKED_HDR + ID_LEN)
static size_t revoked_encode(const struct cluster_revoked *r, uint8_t out[REVOKED_MAX])
{
	size_t il = strlen(r->node_id);
	out[0] = 1;
	out[1] = (uint8_t)il;
	put_u64(out + 2, (uint64_t)r->not_after);
	put_u64(out + 10, (uint64_t)r->revoked_at);
	memcpy(out + REVOKED_HDR, r->node_id, il);
	return REVOKED_HDR + il;
}

static int revoked_decode(struct slice serial, struct slice v, struct cluster_revoked *out)
{
	const uint8_t *p = (const uint8_t *)v.p;
	memset(out, 0, sizeof *out);
	if (serial.len < 1 || serial.len > CLUSTER_SERIAL_MAX || v.len < REVOKED_HDR || p[0] != 1 ||
	    (p[1] != 0 && p[1] != ID_LEN) || v.len != REVOKED_HDR + (size_t)p[1])
		return -1;
	struct slice id = {v.p + REVOKED_HDR, p[1]};
	if (p[1] && !cluster_id_valid(id))
		return -1;
	out->not_after = get_time(p + 2);
	out->revoked_at = get_time(p + 10);
	if (out->not_after < 0 || out->revoked_at < 0)
		return -1;
	memcpy(out->serial, serial.p, serial.len);
	out->serial_len = (uint8_t)serial.len;
	copy_cstr(out->node_id, sizeof out->node_id, id);
	return 0;
}

/* names index key: name, NUL, ID. */
#define NAMEKEY_MAX (CLUSTER_NODE_NAME_MAX + 1 + ID_LEN)
static struct slice name_key(const struct cluster_node *n, char out[NAMEKEY_MAX])
{
	size_t nl = strlen(n->name);
	memcpy(out, n->name, nl);
	out[nl] = '\0';
	memcpy(out + nl + 1, n->id, ID_LEN);
	return (struct slice){out, nl + 1 + ID_LEN};
}

/* --- Table access ------------------------------------------------------------------------- */

/* 0 (found), -ERR_NOTFOUND, or a store error with sm->errmsg. */
static int tget(struct cluster_sm *sm, struct store_txn *t, const char *table, struct slice key,
		struct slice *v)
{
	int rc = store_sm_get(t, table, key, v);
	if (rc < 0 && rc != -ERR_NOTFOUND)
		return sm_store_fail(sm, rc, table);
	return rc;
}

static int tput(struct cluster_sm *sm, struct store_txn *t, const char *table, struct slice key,
		const void *val, size_t len)
{
	int rc = store_sm_put(t, table, key, (struct slice){val, len});
	return rc < 0 ? sm_store_fail(sm, rc, table) : 0;
}

static int tdel(struct cluster_sm *sm, struct store_txn *t, const char *table, struct slice key)
{
	int rc = store_sm_del(t, table, key);
	return rc < 0 ? sm_store_fail(sm, rc, table) : 0;
}

static int tcount(struct cluster_sm *sm, struct store_txn *t, const char *table, uint64_t *n)
{
	int rc = store_sm_count(t, table, n);
	return rc < 0 ? sm_store_fail(sm, rc, table) : 0;
}

/* Identity: 0, -ERR_CLUSTER_NOT_INIT, or a fatal error. */
static int load_ident(struct cluster_sm *sm, struct store_txn *t, struct ident *id)
{
	struct slice v;
	int rc = tget(sm, t, CLUSTER_TABLE_META, mkey(MK_IDENTITY), &v);
	if (rc == -ERR_NOTFOUND)
		return sm_fail(sm, -ERR_CLUSTER_NOT_INIT, "cluster not initialised yet");
	if (rc < 0)
		return rc;
	return ident_decode(v, id) < 0 ? corrupt(sm, "identity") : 0;
}

static int load_limits(struct cluster_sm *sm, struct store_txn *t, struct cluster_limits *l)
{
	struct slice v;
	int rc = tget(sm, t, CLUSTER_TABLE_META, mkey(MK_LIMITS), &v);
	if (rc == -ERR_NOTFOUND)
		return corrupt(sm, "limits (missing)");
	if (rc < 0)
		return rc;
	return limits_decode(v, l) < 0 ? corrupt(sm, "limits") : 0;
}

static int node_load(struct cluster_sm *sm, struct store_txn *t, struct slice id,
		     struct cluster_node *n)
{
	struct slice v;
	if (!cluster_id_valid(id))
		return -ERR_NOTFOUND;
	int rc = tget(sm, t, CLUSTER_TABLE_NODES, id, &v);
	if (rc < 0)
		return rc;
	return node_decode(id, v, n) < 0 ? corrupt(sm, "node record") : 0;
}

static int node_save(struct cluster_sm *sm, struct store_txn *t, const struct cluster_node *n)
{
	uint8_t rec[NODE_MAX];
	size_t len = node_encode(n, rec);
	return tput(sm, t, CLUSTER_TABLE_NODES, (struct slice){n->id, ID_LEN}, rec, len);
}

/* 1 revoked, 0 not, < 0 error. */
static int revoked_has(struct cluster_sm *sm, struct store_txn *t, struct slice serial)
{
	struct slice v;
	if (serial.len < 1 || serial.len > CLUSTER_SERIAL_MAX)
		return 0;
	int rc = tget(sm, t, CLUSTER_TABLE_REVOKED, serial, &v);
	return rc == -ERR_NOTFOUND ? 0 : rc < 0 ? rc : 1;
}

/* Count revoked entries, and those with not_after < before. */
struct rcount {
	struct cluster_sm *sm;
	int64_t before;
	uint64_t total, expired;
};

static int rcount_cb(void *arg, struct slice key, struct slice val)
{
	struct rcount *c = arg;
	struct cluster_revoked r;
	if (revoked_decode(key, val, &r) < 0)
		return corrupt(c->sm, "revoked record");
	c->total++;
	if (r.not_after < c->before)
		c->expired++;
	return 0;
}

static int revoked_count(struct cluster_sm *sm, struct store_txn *t, int64_t before,
			 uint64_t *total, uint64_t *expired)
{
	struct rcount c = {sm, before, 0, 0};
	int rc = store_sm_iterate(t, CLUSTER_TABLE_REVOKED, (struct slice){NULL, 0}, rcount_cb, &c);
	if (rc < 0 && rc != -ERR_NOTFOUND)
		return rc == -ERR_STORE_CORRUPT ? rc : sm_store_fail(sm, rc, "revoked");
	*total = c.total;
	*expired = c.expired;
	return 0;
}

/* Delete entries with not_after < before, in passes of PURGE_BATCH keys (a table may not be
 * written while it is iterated). */
#define PURGE_BATCH 128
struct purge {
	struct cluster_sm *sm;
	int64_t before;
	int n;
	uint8_t lens[PURGE_BATCH];
	uint8_t keys[PURGE_BATCH][CLUSTER_SERIAL_MAX];
};

static int purge_cb(void *arg, struct slice key, struct slice val)
{
	struct purge *p = arg;
	struct cluster_revoked r;
	if (revoked_decode(key, val, &r) < 0)
		return corrupt(p->sm, "revoked record");
	if (r.not_after < p->before) {
		memcpy(p->keys[p->n], key.p, key.len);
		p->lens[p->n++] = (uint8_t)key.len;
	}
	return p->n == PURGE_BATCH ? 1 : 0;
}

static int revoked_purge(struct cluster_sm *sm, struct store_txn *t, int64_t before,
			 uint64_t *purged)
{
	struct purge p = {.sm = sm, .before = before};
	uint8_t from[CLUSTER_SERIAL_MAX];
	size_t from_len = 0;

	*purged = 0;
	for (;;) {
		p.n = 0;
		int rc = store_sm_iterate(t, CLUSTER_TABLE_REVOKED,
					  (struct slice){(const char *)from, from_len}, purge_cb,
					  &p);
		if (rc < 0 && rc != -ERR_NOTFOUND)
			return rc == -ERR_STORE_CORRUPT ? rc : sm_store_fail(sm, rc, "revoked");
		for (int i = 0; i < p.n; i++) {
			rc = tdel(sm, t, CLUSTER_TABLE_REVOKED,
				  (struct slice){(const char *)p.keys[i], p.lens[i]});
			if (rc < 0)
				return rc;
		}
		*purged += (uint64_t)p.n;
		if (p.n < PURGE_BATCH)
			return 0;
		/* Go on after the last deleted key: iteration from it starts at the next one. */
		from_len = p.lens[p.n - 1];
		memcpy(from, p.keys[p.n - 1], from_len);
	}
}

/* --- Apply -------------------------------------------------------------------------------- */

struct actx {
	struct cluster_sm *sm;
	struct store_txn *t;
	uint64_t index;
	struct cluster_result *res;
	struct ident id;
	struct cluster_limits lim;
};

static int res_set(struct cluster_result *res, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int res_set(struct cluster_result *res, int code, const char *fmt, ...)
{
	va_list ap;
	res->code = code;
	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof res->msg, fmt, ap);
	va_end(ap);
	return 0;
}

/* Load identity and limits; refuse (return 1) when the cluster does not exist yet. */
static int need_init(struct actx *a)
{
	int rc = load_ident(a->sm, a->t, &a->id);
	if (rc == -ERR_CLUSTER_NOT_INIT) {
		res_set(a->res, rc, "the cluster is not initialised yet");
		return 1;
	}
	if (rc < 0)
		return rc;
	return load_limits(a->sm, a->t, &a->lim);
}

static int apply_init(struct actx *a, const struct cluster_cmd_init *c)
{
	struct slice v;
	int rc = tget(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_IDENTITY), &v);
	if (rc == 0) {
		struct ident cur;
		if (ident_decode(v, &cur) < 0)
			return corrupt(a->sm, "identity");
		return res_set(a->res, -ERR_CLUSTER_INITIALISED, "cluster %s (%s) already exists",
			       cur.name, cur.id);
	}
	if (rc != -ERR_NOTFOUND)
		return rc;

	struct ident id = {.created_at = c->created_at, .init_index = a->index};
	uint8_t rec[IDENT_MAX];
	uint8_t lim[LIMITS_LEN];
	uint8_t lic[LICENSE_HDR + CLUSTER_LICENSE_MAX];
	uint8_t tok[TOKEN_MAX];
	size_t len;

	copy_cstr(id.id, sizeof id.id, c->cluster_id);
	copy_cstr(id.name, sizeof id.name, c->name);
	len = ident_encode(&id, rec);
	if ((rc = tput(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_IDENTITY), rec, len)) < 0)
		return rc;
	limits_encode(&c->limits, lim);
	if ((rc = tput(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_LIMITS), lim, sizeof lim)) < 0)
		return rc;
	put_u64(lic, (uint64_t)c->created_at);
	memcpy(lic + LICENSE_HDR, c->license.p, c->license.len);
	rc = tput(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_LICENSE), lic,
		  LICENSE_HDR + c->license.len);
	if (rc < 0)
		return rc;
	rc = tput(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_CA_CERT), c->ca_cert.p, c->ca_cert.len);
	if (rc < 0)
		return rc;
	rc = tput(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_CA_KEY), c->ca_key.p, c->ca_key.len);
	if (rc < 0)
		return rc;
	len = token_encode(c->control_verifier, c->control_token, c->created_at, tok);
	rc = tput(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_TOK_CONTROL), tok, len);
	pki_wipe(tok, sizeof tok);
	if (rc < 0)
		return rc;
	len = token_encode(c->data_verifier, c->data_token, c->created_at, tok);
	rc = tput(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_TOK_DATA), tok, len);
	pki_wipe(tok, sizeof tok);
	if (rc < 0)
		return rc;
	return res_set(a->res, 0, "cluster %s (%s) created", id.name, id.id);
}

static int apply_join(struct actx *a, const struct cluster_cmd_join *c)
{
	struct cluster_node n;
	uint64_t count;
	int rc = node_load(a->sm, a->t, c->id, &n);
	if (rc == 0)
		return res_set(a->res, -ERR_EXISTS, "node %s (%.*s) already joined%s", n.name,
			       (int)c->id.len, c->id.p,
			       n.serial_len == c->serial.len &&
					       !memcmp(n.serial, c->serial.p, c->serial.len)
				       ? " with this certificate"
				       : "");
	if (rc != -ERR_NOTFOUND)
		return rc;
	if ((rc = tcount(a->sm, a->t, CLUSTER_TABLE_NODES, &count)) < 0)
		return rc;
	if (count >= a->lim.max_nodes)
		return res_set(a->res, -ERR_CLUSTER_NODES_FULL,
			       "the cluster has %llu nodes, max_nodes is %u",
			       (unsigned long long)count, a->lim.max_nodes);
	if ((rc = revoked_has(a->sm, a->t, c->serial)) < 0)
		return rc;
	if (rc)
		return res_set(a->res, -ERR_CLUSTER_REVOKED,
			       "the certificate of node %.*s has a revoked serial",
			       (int)c->name.len, c->name.p);

	memset(&n, 0, sizeof n);
	copy_cstr(n.id, sizeof n.id, c->id);
	copy_cstr(n.name, sizeof n.name, c->name);
	copy_cstr(n.addr, sizeof n.addr, c->addr);
	memcpy(n.serial, c->serial.p, c->serial.len);
	n.serial_len = (uint8_t)c->serial.len;
	n.role = c->role;
	n.membership = CLUSTER_MEMBER_PENDING;
	n.status = CLUSTER_STATUS_DOWN;
	n.availability = CLUSTER_AVAIL_ACTIVE;
	n.joined_at = n.status_at = c->at;
	n.cert_not_after = c->cert_not_after;
	if ((rc = node_save(a->sm, a->t, &n)) < 0)
		return rc;
	char nk[NAMEKEY_MAX];
	if ((rc = tput(a->sm, a->t, CLUSTER_TABLE_NAMES, name_key(&n, nk), "", 0)) < 0)
		return rc;
	return res_set(a->res, 0, "node %s (%s) joined as %s", n.name, n.id,
		       cluster_role_str(n.role));
}

static int apply_status(struct actx *a, const struct cluster_cmd_status *c)
{
	struct cluster_node n;
	int rc = node_load(a->sm, a->t, c->id, &n);
	if (rc == -ERR_NOTFOUND)
		return res_set(a->res, rc, "no node %.*s", (int)c->id.len, c->id.p);
	if (rc < 0)
		return rc;
	if (n.status == c->status)
		return res_set(a->res, -ERR_CLUSTER_UNCHANGED, "node %s is already %s", n.name,
			       cluster_status_str(n.status));
	n.status = c->status;
	n.status_at = c->at;
	if (c->status == CLUSTER_STATUS_READY)
		n.membership = CLUSTER_MEMBER_ACCEPTED;
	if ((rc = node_save(a->sm, a->t, &n)) < 0)
		return rc;
	return res_set(a->res, 0, "node %s is %s", n.name, cluster_status_str(n.status));
}

static int apply_avail(struct actx *a, const struct cluster_cmd_avail *c)
{
	struct cluster_node n;
	int rc = node_load(a->sm, a->t, c->id, &n);
	if (rc == -ERR_NOTFOUND)
		return res_set(a->res, rc, "no node %.*s", (int)c->id.len, c->id.p);
	if (rc < 0)
		return rc;
	if (n.availability == c->availability)
		return res_set(a->res, -ERR_CLUSTER_UNCHANGED, "node %s is already %s", n.name,
			       cluster_avail_str(n.availability));
	n.availability = c->availability;
	if ((rc = node_save(a->sm, a->t, &n)) < 0)
		return rc;
	return res_set(a->res, 0, "node %s is %s", n.name, cluster_avail_str(n.availability));
}

static int apply_addr(struct actx *a, const struct cluster_cmd_addr *c)
{
	struct cluster_node n;
	int rc = node_load(a->sm, a->t, c->id, &n);
	if (rc == -ERR_NOTFOUND)
		return res_set(a->res, rc, "no node %.*s", (int)c->id.len, c->id.p);
	if (rc < 0)
		return rc;
	if (slice_eq(slice_from_cstr(n.addr), c->addr))
		return res_set(a->res, -ERR_CLUSTER_UNCHANGED, "node %s is already at %s", n.name,
			       n.addr);
	copy_cstr(n.addr, sizeof n.addr, c->addr);
	if ((rc = node_save(a->sm, a->t, &n)) < 0)
		return rc;
	return res_set(a->res, 0, "node %s is now at %s", n.name, n.addr);
}

/* Decide whether `need` (1 or 2) more revoked serials fit at time `now`: 0 (room, *purge set
 * when expired entries must go first) or 1 (refused, res set). */
static int revoked_room(struct actx *a, int64_t now, uint64_t need, bool *purge)
{
	uint64_t total, expired;
	int rc = revoked_count(a->sm, a->t, now, &total, &expired);
	if (rc < 0)
		return rc;
	*purge = false;
	if (total + need <= a->lim.max_revoked)
		return 0;
	if (total - expired + need <= a->lim.max_revoked) {
		*purge = true;
		return 0;
	}
	res_set(a->res, -ERR_CLUSTER_REVOKED_FULL,
		"%llu revoked certificates have not expired yet, max_revoked is %u (%llu to add)",
		(unsigned long long)(total - expired), a->lim.max_revoked,
		(unsigned long long)need);
	return 1;
}

static int revoke_write(struct actx *a, const struct cluster_revoked *r, bool purge, int64_t now)
{
	uint8_t rec[REVOKED_MAX];
	uint64_t purged;
	int rc;
	if (purge && (rc = revoked_purge(a->sm, a->t, now, &purged)) < 0)
		return rc;
	size_t len = revoked_encode(r, rec);
	return tput(a->sm, a->t, CLUSTER_TABLE_REVOKED,
		    (struct slice){(const char *)r->serial, r->serial_len}, rec, len);
}

/* Serials of a node row to revoke: its current and previous certificates, each with the
 * notAfter the row holds for it. */
struct node_revocations {
	struct cluster_revoked r[2];
	uint64_t n;
};

/* Queue one of the row's serials (ignored when empty or already revoked: an earlier
 * CERT_REVOKE keeps its own entry). 0 or a fatal error. */
static int revocation_add(struct actx *a, struct node_revocations *q, const struct cluster_node *n,
			  const uint8_t *serial, uint8_t len, int64_t not_after, int64_t at)
{
	if (!len)
		return 0;
	int rc = revoked_has(a->sm, a->t, (struct slice){(const char *)serial, len});
	if (rc <= 0) {
		struct cluster_revoked *r = &q->r[q->n];
		if (rc < 0)
			return rc;
		memset(r, 0, sizeof *r);
		memcpy(r->serial, serial, len);
		r->serial_len = len;
		r->not_after = not_after;
		r->revoked_at = at;
		memcpy(r->node_id, n->id, sizeof r->node_id);
		q->n++;
	}
	return 0;
}

/* Write the queued revocations; purge (decided by revoked_room) happens once, first. */
static int revocations_write(struct actx *a, const struct node_revocations *q, bool purge,
			     int64_t now)
{
	for (uint64_t i = 0; i < q->n; i++) {
		int rc = revoke_write(a, &q->r[i], purge && i == 0, now);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A removal revokes both of the row's certificates: the current one and the previous one (the
 * node may still hold it). Room for both is decided before anything is written. */
static int apply_remove(struct actx *a, const struct cluster_cmd_remove *c)
{
	struct cluster_node n;
	struct node_revocations q = {.n = 0};
	bool purge = false;
	int rc = node_load(a->sm, a->t, c->id, &n);
	if (rc == -ERR_NOTFOUND)
		return res_set(a->res, rc, "no node %.*s", (int)c->id.len, c->id.p);
	if (rc < 0)
		return rc;
	if (n.status == CLUSTER_STATUS_READY && !c->force)
		return res_set(a->res, -ERR_CLUSTER_NODE_UP,
			       "node %s is READY: stop it first or force the removal", n.name);
	if ((rc = revocation_add(a, &q, &n, n.serial, n.serial_len, n.cert_not_after, c->at)) < 0)
		return rc;
	rc = revocation_add(a, &q, &n, n.prev_serial, n.prev_serial_len, n.prev_not_after, c->at);
	if (rc < 0)
		return rc;
	if (q.n && (rc = revoked_room(a, c->at, q.n, &purge)) != 0)
		return rc < 0 ? rc : 0;

	char nk[NAMEKEY_MAX];
	if ((rc = tdel(a->sm, a->t, CLUSTER_TABLE_NODES, (struct slice){n.id, ID_LEN})) < 0)
		return rc;
	if ((rc = tdel(a->sm, a->t, CLUSTER_TABLE_NAMES, name_key(&n, nk))) < 0)
		return rc;
	if ((rc = revocations_write(a, &q, purge, c->at)) < 0)
		return rc;
	return res_set(a->res, 0, "node %s (%s) removed and its %s revoked", n.name, n.id,
		       n.prev_serial_len ? "certificates" : "certificate");
}

static int apply_deploy(struct actx *a, const struct cluster_cmd_deploy *c)
{
	char why[CLUSTER_WHY_MAX];
	if (c->config.len > a->lim.max_deploy_bytes)
		return res_set(a->res, -ERR_CLUSTER_DEPLOY_TOO_LARGE,
			       "static configuration of %zu bytes, max_deploy_bytes is %u",
			       c->config.len, a->lim.max_deploy_bytes);
	int rc = cluster_cmd_check_deploy(c->config, a->sm->toks, CLUSTER_DEPLOY_TOKENS, why,
					  sizeof why);
	if (rc < 0)
		return res_set(a->res, rc, "%s", why);
	uint8_t hdr[DEPLOY_LEN];
	put_u64(hdr, (uint64_t)c->at);
	put_u64(hdr + 8, a->index);
	if ((rc = tput(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_DEPLOY), hdr, sizeof hdr)) < 0)
		return rc;
	rc = tput(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_DEPLOY_JSON), c->config.p,
		  c->config.len);
	if (rc < 0)
		return rc;
	return res_set(a->res, 0, "static configuration deployed (%zu bytes)", c->config.len);
}

static int apply_routing(struct actx *a, const struct cluster_cmd_routing *c)
{
	struct slice v;
	struct cluster_routing cur;
	if (c->doc.len > a->lim.max_routing_bytes)
		return res_set(a->res, -ERR_CLUSTER_ROUTING_TOO_LARGE,
			       "routing document of %zu bytes, max_routing_bytes is %u", c->doc.len,
			       a->lim.max_routing_bytes);
	int rc = tget(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_ROUTING), &v);
	if (rc == 0) {
		if (routing_decode(v, &cur) < 0)
			return corrupt(a->sm, "routing record");
		if (c->revision <= cur.revision)
			return res_set(a->res, -ERR_CLUSTER_STALE,
				       "routing revision %llu is not after the current %llu",
				       (unsigned long long)c->revision,
				       (unsigned long long)cur.revision);
	} else if (rc != -ERR_NOTFOUND) {
		return rc;
	}
	uint8_t hdr[ROUTING_LEN];
	put_u64(hdr, c->revision);
	put_u64(hdr + 8, (uint64_t)c->at);
	put_u64(hdr + 16, a->index);
	if ((rc = tput(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_ROUTING), hdr, sizeof hdr)) < 0)
		return rc;
	rc = tput(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_ROUTING_JSON), c->doc.p, c->doc.len);
	if (rc < 0)
		return rc;
	return res_set(a->res, 0, "routing revision %llu (%zu bytes)",
		       (unsigned long long)c->revision, c->doc.len);
}

static int apply_license(struct actx *a, const struct cluster_cmd_license *c)
{
	uint8_t lic[LICENSE_HDR + CLUSTER_LICENSE_MAX];
	put_u64(lic, (uint64_t)c->at);
	memcpy(lic + LICENSE_HDR, c->license.p, c->license.len);
	int rc = tput(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_LICENSE), lic,
		      LICENSE_HDR + c->license.len);
	if (rc < 0)
		return rc;
	return res_set(a->res, 0, "license updated");
}

static int apply_revoke(struct actx *a, const struct cluster_cmd_revoke *c)
{
	bool purge;
	int rc = revoked_has(a->sm, a->t, c->serial);
	if (rc < 0)
		return rc;
	if (rc)
		return res_set(a->res, -ERR_CLUSTER_UNCHANGED, "serial already revoked");
	if ((rc = revoked_room(a, c->at, 1, &purge)) != 0)
		return rc < 0 ? rc : 0;
	struct cluster_revoked r = {.serial_len = (uint8_t)c->serial.len,
				    .not_after = c->not_after,
				    .revoked_at = c->at};
	memcpy(r.serial, c->serial.p, c->serial.len);
	if ((rc = revoke_write(a, &r, purge, c->at)) < 0)
		return rc;
	return res_set(a->res, 0, "certificate revoked");
}

static int apply_token(struct actx *a, const struct cluster_cmd_token *c)
{
	struct slice cert;
	unsigned char digest[PKI_CA_DIGEST_LEN];
	uint8_t tok[TOKEN_MAX];
	char why[CLUSTER_WHY_MAX];
	int rc = tget(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_CA_CERT), &cert);
	if (rc == -ERR_NOTFOUND)
		return corrupt(a->sm, "CA certificate (missing)");
	if (rc < 0)
		return rc;
	pki_ca_digest(cert.p, cert.len, digest);
	rc = cluster_token_check(c->token, c->verifier, c->role, digest, why, sizeof why);
	if (rc < 0)
		return res_set(a->res, rc, "%s", why);
	size_t len = token_encode(c->verifier, c->token, c->at, tok);
	enum meta_key k = c->role == CLUSTER_ROLE_CONTROL ? MK_TOK_CONTROL : MK_TOK_DATA;
	rc = tput(a->sm, a->t, CLUSTER_TABLE_META, mkey(k), tok, len);
	pki_wipe(tok, sizeof tok);
	if (rc < 0)
		return rc;
	return res_set(a->res, 0, "%s token rotated",
		       c->role == CLUSTER_ROLE_CONTROL ? "control node" : "data node");
}

static int apply_bootstrap_done(struct actx *a, const struct cluster_cmd_bootstrap_done *c)
{
	struct cluster_node n;
	uint8_t rec[IDENT_MAX];
	if (a->id.done)
		return res_set(a->res, -ERR_CLUSTER_UNCHANGED, "bootstrap already done");
	int rc = node_load(a->sm, a->t, c->id, &n);
	if (rc == -ERR_NOTFOUND)
		return res_set(a->res, rc, "no node %.*s", (int)c->id.len, c->id.p);
	if (rc < 0)
		return rc;
	a->id.done = true;
	a->id.done_at = c->at;
	memcpy(a->id.boot_id, n.id, sizeof a->id.boot_id);
	size_t len = ident_encode(&a->id, rec);
	if ((rc = tput(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_IDENTITY), rec, len)) < 0)
		return rc;
	return res_set(a->res, 0, "bootstrap by node %s done", n.name);
}

static int apply_purge(struct actx *a, const struct cluster_cmd_purge *c)
{
	uint64_t total, expired, purged;
	int rc = revoked_count(a->sm, a->t, c->before, &total, &expired);
	if (rc < 0)
		return rc;
	if (expired == 0)
		return res_set(a->res, -ERR_CLUSTER_UNCHANGED, "no revoked certificate expired");
	if ((rc = revoked_purge(a->sm, a->t, c->before, &purged)) < 0)
		return rc;
	return res_set(a->res, 0, "%llu expired revocations purged", (unsigned long long)purged);
}

static int apply_limits(struct actx *a, const struct cluster_cmd_limits_set *c)
{
	const struct cluster_limits *l = &c->limits;
	uint64_t nodes, revoked;
	struct slice v;
	size_t deploy_len = 0, routing_len = 0;
	int rc;

	if ((rc = tcount(a->sm, a->t, CLUSTER_TABLE_NODES, &nodes)) < 0)
		return rc;
	if ((rc = tcount(a->sm, a->t, CLUSTER_TABLE_REVOKED, &revoked)) < 0)
		return rc;
	rc = tget(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_DEPLOY_JSON), &v);
	if (rc == 0)
		deploy_len = v.len;
	else if (rc != -ERR_NOTFOUND)
		return rc;
	rc = tget(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_ROUTING_JSON), &v);
	if (rc == 0)
		routing_len = v.len;
	else if (rc != -ERR_NOTFOUND)
		return rc;
	if (nodes > l->max_nodes)
		return res_set(a->res, -ERR_CLUSTER_LIMITS, "max_nodes %u is below the %llu nodes",
			       l->max_nodes, (unsigned long long)nodes);
	if (revoked > l->max_revoked)
		return res_set(a->res, -ERR_CLUSTER_LIMITS,
			       "max_revoked %u is below the %llu revoked certificates",
			       l->max_revoked, (unsigned long long)revoked);
	if (deploy_len > l->max_deploy_bytes)
		return res_set(a->res, -ERR_CLUSTER_LIMITS,
			       "max_deploy_bytes %u is below the deployed %zu bytes",
			       l->max_deploy_bytes, deploy_len);
	if (routing_len > l->max_routing_bytes)
		return res_set(a->res, -ERR_CLUSTER_LIMITS,
			       "max_routing_bytes %u is below the current document's %zu bytes",
			       l->max_routing_bytes, routing_len);
	uint8_t rec[LIMITS_LEN];
	limits_encode(l, rec);
	if ((rc = tput(a->sm, a->t, CLUSTER_TABLE_META, mkey(MK_LIMITS), rec, sizeof rec)) < 0)
		return rc;
	return res_set(a->res, 0,
		       "limits: max_nodes %u, max_routing_bytes %u, max_deploy_bytes %u, "
		       "max_revoked %u",
		       l->max_nodes, l->max_routing_bytes, l->max_deploy_bytes, l->max_revoked);
}

/* A renewal: the row takes the new certificate as current and the presented one (keep_serial,
 * the row's current or previous) as previous; the row's other certificate, when it has one, is
 * revoked until its notAfter. keep_serial itself is never revoked: if the answer carrying the
 * new certificate is lost, the node still holds a valid one and renews again with it (the
 * undelivered certificate is revoked then). Refusals, all decided before the first write:
 * no such node (NOTFOUND); the row already holds the new serial (a duplicate entry), keep_serial
 * is neither of the row's serials (renewed twice since), or keep_not_after is not the row's
 * notAfter for it (CLUSTER_STALE); keep_serial or the new serial is revoked (CLUSTER_REVOKED);
 * no room to revoke the replaced serial (CLUSTER_REVOKED_FULL: refused rather than leave a
 * replaced serial usable). */
static int apply_cert(struct actx *a, const struct cluster_cmd_cert *c)
{
	struct cluster_node n;
	struct node_revocations q = {.n = 0};
	bool purge = false;
	int rc = node_load(a->sm, a->t, c->id, &n);
	if (rc == -ERR_NOTFOUND)
		return res_set(a->res, rc, "no node %.*s", (int)c->id.len, c->id.p);
	if (rc < 0)
		return rc;
	struct slice cur = {(const char *)n.serial, n.serial_len};
	struct slice prev = {(const char *)n.prev_serial, n.prev_serial_len};
	if (slice_eq(cur, c->serial) || (prev.len && slice_eq(prev, c->serial)))
		return res_set(a->res, -ERR_CLUSTER_STALE, "node %s: %s", n.name,
			       slice_eq(cur, c->serial)
				       ? "already renewed with this certificate"
				       : "the new serial is the node's previous certificate's");
	bool keep_cur = slice_eq(cur, c->keep_serial);
	if (!keep_cur && !(prev.len && slice_eq(prev, c->keep_serial)))
		return res_set(
			a->res, -ERR_CLUSTER_STALE,
			"node %s: keep_serial is neither the node's current nor its previous "
			"certificate serial (renewed since)",
			n.name);
	int64_t held = keep_cur ? n.cert_not_after : n.prev_not_after;
	if (c->keep_not_after != held)
		return res_set(
			a->res, -ERR_CLUSTER_STALE,
			"node %s: keep_not_after %lld is not the node's %s certificate's %lld",
			n.name, (long long)c->keep_not_after, keep_cur ? "current" : "previous",
			(long long)held);
	if ((rc = revoked_has(a->sm, a->t, c->keep_serial)) < 0)
		return rc;
	if (rc)
		return res_set(a->res, -ERR_CLUSTER_REVOKED,
			       "node %s: the certificate it presented is revoked", n.name);
	if ((rc = revoked_has(a->sm, a->t, c->serial)) < 0)
		return rc;
	if (rc)
		return res_set(a->res, -ERR_CLUSTER_REVOKED,
			       "node %s: the new certificate has a revoked serial", n.name);
	/* The row's serial that is not kept: the previous one after a normal renewal, the
	 * undelivered current one when the node came back with its previous certificate. */
	if (keep_cur)
		rc = revocation_add(a, &q, &n, n.prev_serial, n.prev_serial_len, n.prev_not_after,
				    c->at);
	else
		rc = revocation_add(a, &q, &n, n.serial, n.serial_len, n.cert_not_after, c->at);
	if (rc < 0)
		return rc;
	if (q.n && (rc = revoked_room(a, c->at, q.n, &purge)) != 0)
		return rc < 0 ? rc : 0;

	memcpy(n.prev_serial, c->keep_serial.p, c->keep_serial.len);
	n.prev_serial_len = (uint8_t)c->keep_serial.len;
	n.prev_not_after = c->keep_not_after;
	memcpy(n.serial, c->serial.p, c->serial.len);
	n.serial_len = (uint8_t)c->serial.len;
	n.cert_not_after = c->cert_not_after;
	if ((rc = node_save(a->sm, a->t, &n)) < 0)
		return rc;
	if ((rc = revocations_write(a, &q, purge, c->at)) < 0)
		return rc;
	return res_set(
		a->res, 0, "node %s (%s): certificate renewed, the presented one kept%s", n.name,
		n.id,
		q.n ? (keep_cur ? ", the older one revoked" : ", the undelivered one revoked")
		    : "");
}

int cluster_sm_apply_txn(struct cluster_sm *sm, struct store_txn *t, const void *cmd, size_t len,
			 uint64_t index, struct cluster_result *res)
{
	struct cluster_cmd c;
	char why[CLUSTER_WHY_MAX];

	memset(res, 0, sizeof *res);
	if (!sm->store || !t || !t->s || !t->write)
		return sm_fail(sm, -ERR_INVAL, "apply needs an open write transaction");
	uint64_t applied = t->set_applied ? t->applied : store_applied(sm->store);
	if (index <= applied)
		return sm_fail(sm, -ERR_RANGE, "entry %llu is not after the applied index %llu",
			       (unsigned long long)index, (unsigned long long)applied);
	if (!cmd && len == 0)
		return res_set(res, 0, "no-op");

	int rc = cluster_cmd_decode(cmd, len, &c, why, sizeof why);
	res->type = (int)c.type;
	if (rc < 0)
		return res_set(res, rc, "%s", why);

	struct actx a = {.sm = sm, .t = t, .index = index, .res = res};
	if (c.type != CLUSTER_CMD_INIT) {
		rc = need_init(&a);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	switch (c.type) {
	case CLUSTER_CMD_INIT: return apply_init(&a, &c.u.init);
	case CLUSTER_CMD_NODE_JOIN: return apply_join(&a, &c.u.join);
	case CLUSTER_CMD_NODE_STATUS: return apply_status(&a, &c.u.status);
	case CLUSTER_CMD_NODE_AVAIL: return apply_avail(&a, &c.u.avail);
	case CLUSTER_CMD_NODE_REMOVE: return apply_remove(&a, &c.u.remove);
	case CLUSTER_CMD_DEPLOY: return apply_deploy(&a, &c.u.deploy);
	case CLUSTER_CMD_ROUTING_SET: return apply_routing(&a, &c.u.routing);
	case CLUSTER_CMD_LICENSE_SET: return apply_license(&a, &c.u.license);
	case CLUSTER_CMD_CERT_REVOKE: return apply_revoke(&a, &c.u.revoke);
	case CLUSTER_CMD_TOKEN_ROTATE: return apply_token(&a, &c.u.token);
	case CLUSTER_CMD_BOOTSTRAP_DONE: return apply_bootstrap_done(&a, &c.u.bootstrap_done);
	case CLUSTER_CMD_REVOKED_PURGE: return apply_purge(&a, &c.u.purge);
	case CLUSTER_CMD_LIMITS_SET: return apply_limits(&a, &c.u.limits);
	case CLUSTER_CMD_NODE_CERT: return apply_cert(&a, &c.u.cert);
	case CLUSTER_CMD_NODE_ADDR: return apply_addr(&a, &c.u.addr);
	}
	return res_set(res, -ERR_CLUSTER_CMD_VERSION, "unknown command type");
}

int cluster_sm_apply(struct cluster_sm *sm, const void *cmd, size_t len, uint64_t index,
		     struct cluster_result *res)
{
	struct store_txn t;
	if (!sm->store) {
		memset(res, 0, sizeof *res);
		return sm_fail(sm, -ERR_INVAL, "no store");
	}
	int rc = store_txn_begin(sm->store, &t, STORE_TXN_WRITE);
	if (rc < 0) {
		memset(res, 0, sizeof *res);
		return sm_store_fail(sm, rc, "begin");
	}
	rc = cluster_sm_apply_txn(sm, &t, cmd, len, index, res);
	if (rc == 0 && (rc = store_txn_set_applied(&t, index)) < 0)
		sm_store_fail(sm, rc, "set applied");
	if (rc == 0 && (rc = store_txn_commit(&t)) < 0)
		sm_store_fail(sm, rc, "commit");
	if (rc < 0)
		store_txn_abort(&t);
	return rc;
}

/* --- Life cycle --------------------------------------------------------------------------- */

static size_t max3(size_t a, size_t b, size_t c)
{
	size_t m = a > b ? a : b;
	return m > c ? m : c;
}

int cluster_sm_init(struct cluster_sm *sm, struct store *store, const struct cluster_sm_config *cfg)
{
	memset(sm, 0, sizeof *sm);
	sm->store = store;
	cluster_limits_default(&sm->local);
	if (cfg) {
		const struct cluster_limits *l = &cfg->limits;
		if (l->max_nodes)
			sm->local.max_nodes = l->max_nodes;
		if (l->max_routing_bytes)
			sm->local.max_routing_bytes = l->max_routing_bytes;
		if (l->max_deploy_bytes)
			sm->local.max_deploy_bytes = l->max_deploy_bytes;
		if (l->max_revoked)
			sm->local.max_revoked = l->max_revoked;
	}
	int rc = cluster_limits_check(&sm->local, sm->errmsg, sizeof sm->errmsg);
	if (rc < 0)
		return rc;
	sm->scratch_cap = max3(sm->local.max_routing_bytes, sm->local.max_deploy_bytes,
			       LICENSE_HDR + CLUSTER_LICENSE_MAX);
	if (sm->scratch_cap < PKI_CERT_MAX)
		sm->scratch_cap = PKI_CERT_MAX;
	sm->toks = malloc(CLUSTER_DEPLOY_TOKENS * sizeof *sm->toks);
	sm->scratch = malloc(sm->scratch_cap);
	sm->piece = malloc(CLUSTER_SNAP_PIECE);
	if (!sm->toks || !sm->scratch || !sm->piece) {
		cluster_sm_fini(sm);
		sm->store = store;
		return sm_fail(sm, -ERR_NOMEM, "cluster state machine buffers (%zu bytes)",
			       sm->scratch_cap + CLUSTER_SNAP_PIECE);
	}
	return 0;
}

void cluster_sm_fini(struct cluster_sm *sm)
{
	free(sm->toks);
	free(sm->scratch);
	free(sm->piece);
	sm->toks = NULL;
	sm->scratch = NULL;
	sm->piece = NULL;
	sm->scratch_cap = 0;
}

size_t cluster_sm_bytes(const struct cluster_sm *sm)
{
	return CLUSTER_DEPLOY_TOKENS * sizeof(json_tok) + sm->scratch_cap + CLUSTER_SNAP_PIECE;
}

/* --- Queries ------------------------------------------------------------------------------ */

/* Use t, or a read transaction of our own (returns 1 then: end it with txn_end). */
static int txn_use(struct cluster_sm *sm, struct store_txn **t, struct store_txn *own)
{
	if (*t)
		return 0;
	if (!sm->store)
		return sm_fail(sm, -ERR_INVAL, "no store");
	int rc = store_txn_begin(sm->store, own, STORE_TXN_READ);
	if (rc < 0)
		return sm_store_fail(sm, rc, "begin");
	*t = own;
	return 1;
}

static void txn_end(int owned, struct store_txn *t)
{
	if (owned == 1)
		store_txn_abort(t);
}

static int info_cb(void *arg, struct slice key, struct slice val)
{
	struct cluster_info *in = arg;
	struct cluster_node n;
	if (node_decode(key, val, &n) < 0)
		return -ERR_STORE_CORRUPT;
	in->nodes++;
	if (n.role == CLUSTER_ROLE_CONTROL)
		in->control_nodes++;
	else
		in->data_nodes++;
	if (n.status == CLUSTER_STATUS_READY)
		in->ready_nodes++;
	return 0;
}

int cluster_sm_info(struct cluster_sm *sm, struct store_txn *t, struct cluster_info *out)
{
	struct store_txn own;
	struct ident id;
	struct slice v;
	uint64_t n;
	memset(out, 0, sizeof *out);
	int owned = txn_use(sm, &t, &own);
	if (owned < 0)
		return owned;
	int rc = load_ident(sm, t, &id);
	if (rc == -ERR_CLUSTER_NOT_INIT) {
		rc = 0;
		goto out;
	}
	if (rc < 0 || (rc = load_limits(sm, t, &out->limits)) < 0)
		goto out;
	out->initialised = true;
	memcpy(out->id, id.id, sizeof out->id);
	memcpy(out->name, id.name, sizeof out->name);
	out->created_at = id.created_at;
	out->init_index = id.init_index;
	out->bootstrap_done = id.done;
	memcpy(out->bootstrap_id, id.boot_id, sizeof out->bootstrap_id);
	out->bootstrap_done_at = id.done_at;
	rc = store_sm_iterate(t, CLUSTER_TABLE_NODES, (struct slice){NULL, 0}, info_cb, out);
	if (rc == -ERR_STORE_CORRUPT) {
		rc = corrupt(sm, "node record");
		goto out;
	}
	if (rc < 0 && rc != -ERR_NOTFOUND) {
		rc = sm_store_fail(sm, rc, "nodes");
		goto out;
	}
	if ((rc = tcount(sm, t, CLUSTER_TABLE_REVOKED, &n)) < 0)
		goto out;
	out->revoked = (uint32_t)n;
	rc = tget(sm, t, CLUSTER_TABLE_META, mkey(MK_ROUTING), &v);
	if (rc == 0) {
		struct cluster_routing r;
		if (routing_decode(v, &r) < 0) {
			rc = corrupt(sm, "routing record");
			goto out;
		}
		out->routing_revision = r.revision;
	} else if (rc != -ERR_NOTFOUND) {
		goto out;
	}
	rc = tget(sm, t, CLUSTER_TABLE_META, mkey(MK_DEPLOY), &v);
	out->deployed = rc == 0;
	rc = rc == -ERR_NOTFOUND ? 0 : rc;
out:
	txn_end(owned, t);
	return rc;
}

/* A meta value that exists once the cluster does. */
static int meta_view(struct cluster_sm *sm, struct store_txn *t, enum meta_key k, struct slice *v)
{
	if (!t)
		return sm_fail(sm, -ERR_INVAL, "a view needs the caller's transaction");
	int rc = tget(sm, t, CLUSTER_TABLE_META, mkey(k), v);
	if (rc == -ERR_NOTFOUND) {
		struct ident id;
		rc = load_ident(sm, t, &id);
		return rc < 0 ? rc : corrupt(sm, meta_keys[k]);
	}
	return rc;
}

int cluster_sm_license(struct cluster_sm *sm, struct store_txn *t, struct slice *license,
		       int64_t *set_at)
{
	struct slice v;
	int64_t at;
	int rc = meta_view(sm, t, MK_LICENSE, &v);
	if (rc < 0)
		return rc;
	if (license_decode(v, license, &at) < 0)
		return corrupt(sm, "license");
	if (set_at)
		*set_at = at;
	return 0;
}

int cluster_sm_ca(struct cluster_sm *sm, struct store_txn *t, struct slice *cert_der,
		  struct slice *key_der)
{
	int rc = meta_view(sm, t, MK_CA_CERT, cert_der);
	if (rc == 0)
		rc = meta_view(sm, t, MK_CA_KEY, key_der);
	return rc;
}

int cluster_sm_deployed(struct cluster_sm *sm, struct store_txn *t, struct cluster_deployed *out)
{
	struct slice v;
	memset(out, 0, sizeof *out);
	if (!t)
		return sm_fail(sm, -ERR_INVAL, "a view needs the caller's transaction");
	int rc = tget(sm, t, CLUSTER_TABLE_META, mkey(MK_DEPLOY), &v);
	if (rc < 0)
		return rc;
	if (deploy_decode(v, out) < 0)
		return corrupt(sm, "deploy record");
	rc = tget(sm, t, CLUSTER_TABLE_META, mkey(MK_DEPLOY_JSON), &out->config);
	return rc == -ERR_NOTFOUND ? corrupt(sm, "deploy.json (missing)") : rc;
}

int cluster_sm_routing(struct cluster_sm *sm, struct store_txn *t, struct cluster_routing *out)
{
	struct slice v;
	memset(out, 0, sizeof *out);
	if (!t)
		return sm_fail(sm, -ERR_INVAL, "a view needs the caller's transaction");
	int rc = tget(sm, t, CLUSTER_TABLE_META, mkey(MK_ROUTING), &v);
	if (rc < 0)
		return rc;
	if (routing_decode(v, out) < 0)
		return corrupt(sm, "routing record");
	rc = tget(sm, t, CLUSTER_TABLE_META, mkey(MK_ROUTING_JSON), &out->doc);
	return rc == -ERR_NOTFOUND ? corrupt(sm, "routing.json (missing)") : rc;
}

int cluster_sm_tokens(struct cluster_sm *sm, struct store_txn *t, struct cluster_tokens *out)
{
	struct store_txn own;
	struct slice v;
	memset(out, 0, sizeof *out);
	int owned = txn_use(sm, &t, &own);
	if (owned < 0)
		return owned;
	int rc = meta_view(sm, t, MK_TOK_CONTROL, &v);
	if (rc == 0 && token_decode(v, &out->control) < 0)
		rc = corrupt(sm, "control token");
	if (rc == 0)
		rc = meta_view(sm, t, MK_TOK_DATA, &v);
	if (rc == 0 && token_decode(v, &out->data) < 0)
		rc = corrupt(sm, "data token");
	txn_end(owned, t);
	if (rc < 0)
		pki_wipe(out, sizeof *out);
	return rc;
}

int cluster_sm_node_get(struct cluster_sm *sm, struct store_txn *t, struct slice id,
			struct cluster_node *out)
{
	struct store_txn own;
	int owned = txn_use(sm, &t, &own);
	if (owned < 0)
		return owned;
	int rc = node_load(sm, t, id, out);
	txn_end(owned, t);
	return rc;
}

struct byname {
	struct cluster_sm *sm;
	struct store_txn *t;
	struct slice prefix; /* name + NUL */
	int matches;
	struct cluster_node *out;
	int err;
};

static int byname_cb(void *arg, struct slice key, struct slice val)
{
	struct byname *b = arg;
	if (key.len != b->prefix.len + ID_LEN || memcmp(key.p, b->prefix.p, b->prefix.len) != 0)
		return 1; /* past the name */
	if (++b->matches > 1)
		return 1;
	int rc = node_load(b->sm, b->t, (struct slice){key.p + b->prefix.len, ID_LEN}, b->out);
	if (rc < 0) {
		b->err = rc == -ERR_NOTFOUND ? corrupt(b->sm, "name index") : rc;
		return rc == -ERR_NOTFOUND ? -ERR_STORE_CORRUPT : rc;
	}
	return 0;
}

int cluster_sm_node_find(struct cluster_sm *sm, struct store_txn *t, struct slice key,
			 struct cluster_node *out)
{
	struct store_txn own;
	char prefix[CLUSTER_NODE_NAME_MAX + 1];
	memset(out, 0, sizeof *out);
	int owned = txn_use(sm, &t, &own);
	if (owned < 0)
		return owned;
	int rc = node_load(sm, t, key, out);
	if (rc != -ERR_NOTFOUND)
		goto out;
	if (!cluster_name_valid(key, CLUSTER_NODE_NAME_MAX)) {
		rc = sm_fail(sm, -ERR_NOTFOUND, "no node %.*s", (int)(key.len > 64 ? 64 : key.len),
			     key.p ? key.p : "");
		goto out;
	}
	memcpy(prefix, key.p, key.len);
	prefix[key.len] = '\0';
	struct byname b = {sm, t, {prefix, key.len + 1}, 0, out, 0};
	rc = store_sm_iterate(t, CLUSTER_TABLE_NAMES, b.prefix, byname_cb, &b);
	if (b.err < 0) {
		rc = b.err;
	} else if (rc < 0 && rc != -ERR_NOTFOUND) {
		rc = sm_store_fail(sm, rc, "names");
	} else if (b.matches == 0) {
		rc = sm_fail(sm, -ERR_NOTFOUND, "no node %.*s", (int)key.len, key.p);
	} else if (b.matches > 1) {
		memset(out, 0, sizeof *out);
		rc = sm_fail(sm, -ERR_CLUSTER_AMBIGUOUS, "several nodes are named %.*s",
			     (int)key.len, key.p);
	} else {
		rc = 0;
	}
out:
	txn_end(owned, t);
	return rc;
}

struct list {
	struct cluster_sm *sm;
	struct store_txn *t;
	struct cluster_node *out;
	size_t cap, n;
	int err;
};

static int list_cb(void *arg, struct slice key, struct slice val)
{
	struct list *l = arg;
	const char *nul = memchr(key.p, '\0', key.len);
	if (!nul || (size_t)(key.p + key.len - (nul + 1)) != ID_LEN)
		return l->err = corrupt(l->sm, "name index");
	if (l->n < l->cap) {
		struct slice id = {nul + 1, ID_LEN};
		int rc = node_load(l->sm, l->t, id, &l->out[l->n]);
		if (rc < 0)
			return l->err = rc == -ERR_NOTFOUND ? corrupt(l->sm, "name index") : rc;
	}
	l->n++;
	return 0;
}

int cluster_sm_nodes(struct cluster_sm *sm, struct store_txn *t, struct cluster_node *out,
		     size_t cap)
{
	struct store_txn own;
	int owned = txn_use(sm, &t, &own);
	if (owned < 0)
		return owned;
	struct list l = {sm, t, out, cap, 0, 0};
	int rc = store_sm_iterate(t, CLUSTER_TABLE_NAMES, (struct slice){NULL, 0}, list_cb, &l);
	if (l.err < 0)
		rc = l.err;
	else if (rc < 0 && rc != -ERR_NOTFOUND)
		rc = sm_store_fail(sm, rc, "names");
	else
		rc = l.n > INT32_MAX ? INT32_MAX : (int)l.n;
	txn_end(owned, t);
	return rc;
}

struct nodes_each {
	struct cluster_sm *sm;
	struct store_txn *t;
	int (*fn)(void *arg, const struct cluster_node *n);
	void *arg;
	int err;
};

static int nodes_each_cb(void *arg, struct slice key, struct slice val)
{
	struct nodes_each *e = arg;
	struct cluster_node n;
	const char *nul = memchr(key.p, '\0', key.len);
	if (!nul || (size_t)(key.p + key.len - (nul + 1)) != ID_LEN)
		return e->err = corrupt(e->sm, "name index");
	int rc = node_load(e->sm, e->t, (struct slice){nul + 1, ID_LEN}, &n);
	if (rc < 0)
		return e->err = rc == -ERR_NOTFOUND ? corrupt(e->sm, "name index") : rc;
	return e->fn(e->arg, &n);
}

int cluster_sm_nodes_each(struct cluster_sm *sm, struct store_txn *t,
			  int (*fn)(void *arg, const struct cluster_node *n), void *arg)
{
	struct nodes_each e = {sm, t, fn, arg, 0};
	if (!t)
		return sm_fail(sm, -ERR_INVAL, "needs the caller's transaction");
	int rc = store_sm_iterate(t, CLUSTER_TABLE_NAMES, (struct slice){NULL, 0}, nodes_each_cb,
				  &e);
	return e.err < 0 ? e.err : rc;
}

int cluster_sm_is_revoked(struct cluster_sm *sm, struct store_txn *t, struct slice serial)
{
	struct store_txn own;
	int owned = txn_use(sm, &t, &own);
	if (owned < 0)
		return owned;
	int rc = revoked_has(sm, t, serial);
	txn_end(owned, t);
	return rc;
}

struct each {
	struct cluster_sm *sm;
	int (*fn)(void *arg, const struct cluster_revoked *r);
	void *arg;
};

static int each_cb(void *arg, struct slice key, struct slice val)
{
	struct each *e = arg;
	struct cluster_revoked r;
	if (revoked_decode(key, val, &r) < 0)
		return corrupt(e->sm, "revoked record");
	return e->fn(e->arg, &r);
}

int cluster_sm_revoked_each(struct cluster_sm *sm, struct store_txn *t,
			    int (*fn)(void *arg, const struct cluster_revoked *r), void *arg)
{
	struct each e = {sm, fn, arg};
	if (!t)
		return sm_fail(sm, -ERR_INVAL, "needs the caller's transaction");
	int rc = store_sm_iterate(t, CLUSTER_TABLE_REVOKED, (struct slice){NULL, 0}, each_cb, &e);
	return rc == -ERR_NOTFOUND ? 0 : rc;
}

/* --- Snapshot export ---------------------------------------------------------------------- */

/* Stream layout (docs/internals/cluster-state.md):
 *   header   "TEESM", version u8, 2 zero bytes, applied index u64          16 bytes
 *   record   table u8 (1 meta, 2 nodes, 3 revoked), key_len u16, val_len u32, key, value
 *   end      7 zero bytes (a record of table 0), record count u32, CRC-32C u32 of all before it
 */
#define SNAP_MAGIC "TEESM"
#define SNAP_HDR 16
#define SNAP_REC_HDR 7
enum { TBL_END = 0, TBL_META = 1, TBL_NODES = 2, TBL_REVOKED = 3 };
static const char *const snap_tables[] = {NULL, CLUSTER_TABLE_META, CLUSTER_TABLE_NODES,
					  CLUSTER_TABLE_REVOKED};

struct exp {
	struct cluster_sm *sm;
	cluster_sm_write_fn fn;
	void *arg;
	size_t len; /* bytes staged in sm->piece */
	uint32_t crc;
	uint32_t count;
	uint8_t table;
};

static int exp_flush(struct exp *e)
{
	if (!e->len)
		return 0;
	int rc = e->fn(e->arg, e->sm->piece, e->len);
	e->len = 0;
	return rc < 0 ? rc : 0;
}

static int exp_put(struct exp *e, const void *data, size_t n, bool crc)
{
	const uint8_t *p = data;
	if (crc)
		e->crc = store_crc32c(e->crc, data, n);
	while (n) {
		size_t take = CLUSTER_SNAP_PIECE - e->len;
		if (take > n)
			take = n;
		memcpy(e->sm->piece + e->len, p, take);
		e->len += take;
		p += take;
		n -= take;
		if (e->len == CLUSTER_SNAP_PIECE) {
			int rc = exp_flush(e);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int exp_cb(void *arg, struct slice key, struct slice val)
{
	struct exp *e = arg;
	uint8_t h[SNAP_REC_HDR];
	if (key.len > UINT16_MAX || val.len > UINT32_MAX)
		return corrupt(e->sm, "record size");
	h[0] = e->table;
	put_u16(h + 1, (uint16_t)key.len);
	put_u32(h + 3, (uint32_t)val.len);
	int rc = exp_put(e, h, sizeof h, true);
	if (rc == 0)
		rc = exp_put(e, key.p, key.len, true);
	if (rc == 0)
		rc = exp_put(e, val.p, val.len, true);
	e->count++;
	return rc;
}

int cluster_sm_export(struct cluster_sm *sm, struct store_txn *t, cluster_sm_write_fn fn, void *arg)
{
	struct exp e = {sm, fn, arg, 0, 0, 0, 0};
	uint8_t h[SNAP_HDR] = {0};
	if (!t || !t->s || !sm->piece)
		return sm_fail(sm, -ERR_INVAL, "export needs a transaction");
	memcpy(h, SNAP_MAGIC, 5);
	h[5] = CLUSTER_SNAP_VERSION;
	put_u64(h + 8, t->set_applied ? t->applied : store_applied(t->s));
	int rc = exp_put(&e, h, sizeof h, true);
	for (uint8_t tb = TBL_META; rc == 0 && tb <= TBL_REVOKED; tb++) {
		e.table = tb;
		rc = store_sm_iterate(t, snap_tables[tb], (struct slice){NULL, 0}, exp_cb, &e);
		if (rc == -ERR_NOTFOUND)
			rc = 0;
		else if (rc < 0 && rc != -ERR_STORE_CORRUPT)
			sm_fail(sm, rc, "export %s: %s", snap_tables[tb], err_str(rc));
	}
	if (rc < 0)
		return rc;
	uint8_t end[SNAP_REC_HDR + 8] = {0};
	put_u32(end + SNAP_REC_HDR, e.count);
	rc = exp_put(&e, end, SNAP_REC_HDR + 4, true);
	if (rc == 0) {
		put_u32(end + SNAP_REC_HDR + 4, e.crc);
		rc = exp_put(&e, end + SNAP_REC_HDR + 4, 4, false);
	}
	if (rc == 0)
		rc = exp_flush(&e);
	return rc;
}

/* --- Snapshot import ---------------------------------------------------------------------- */

enum { S_HDR, S_REC, S_KEY, S_VAL, S_COUNT, S_CRC, S_DONE };

static int imp_fail(struct cluster_sm_import *im, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int imp_fail(struct cluster_sm_import *im, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(im->sm->errmsg, sizeof im->sm->errmsg, fmt, ap);
	va_end(ap);
	return im->err = -ERR_CLUSTER_SNAPSHOT;
}

static void imp_want(struct cluster_sm_import *im, int state, void *dst, size_t n)
{
	im->state = state;
	im->dst = dst;
	im->want = n;
	im->have = 0;
}

/* Keys within a table strictly increase (LMDB's order: bytes, then length). */
static int key_after(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = memcmp(a, b, n);
	return c > 0 || (c == 0 && alen > blen);
}

static int imp_meta(struct cluster_sm_import *im, struct slice key, struct slice val)
{
	int k;
	for (k = 0; k < MK_COUNT; k++)
		if (slice_eq_cstr(key, meta_keys[k]))
			break;
	if (k == MK_COUNT)
		return imp_fail(im, "snapshot: unknown meta key");
	struct ident id;
	struct cluster_token_info tok;
	struct cluster_deployed dep;
	struct cluster_routing rt;
	struct slice lic;
	int64_t at;
	int bad = 0;
	switch (k) {
	case MK_CA_CERT: bad = val.len < 1 || val.len > PKI_CERT_MAX; break;
	case MK_CA_KEY: bad = val.len < 1 || val.len > PKI_KEY_DER_MAX; break;
	case MK_DEPLOY: bad = deploy_decode(val, &dep) < 0; break;
	case MK_DEPLOY_JSON:
		if (val.len > im->sm->local.max_deploy_bytes)
			return imp_fail(
				im,
				"snapshot: static configuration of %zu bytes over this node's "
				"max_deploy_bytes (%u)",
				val.len, im->sm->local.max_deploy_bytes);
		bad = val.len < 1;
		im->deploy_len = val.len;
		break;
	case MK_IDENTITY: bad = ident_decode(val, &id) < 0; break;
	case MK_LICENSE: bad = license_decode(val, &lic, &at) < 0; break;
	case MK_LIMITS: bad = limits_decode(val, &im->limits) < 0; break;
	case MK_ROUTING: bad = routing_decode(val, &rt) < 0; break;
	case MK_ROUTING_JSON:
		if (val.len > im->sm->local.max_routing_bytes)
			return imp_fail(im,
					"snapshot: routing document of %zu bytes over this node's "
					"max_routing_bytes (%u)",
					val.len, im->sm->local.max_routing_bytes);
		bad = val.len < 1;
		im->routing_len = val.len;
		break;
	default:
		bad = token_decode(val, &tok) < 0;
		pki_wipe(&tok, sizeof tok);
		break;
	}
	if (bad)
		return imp_fail(im, "snapshot: meta record %s does not decode", meta_keys[k]);
	im->meta_seen |= 1u << k;
	return 0;
}

static int imp_record(struct cluster_sm_import *im)
{
	struct slice key = {(const char *)im->key, im->key_len};
	struct slice val = {(const char *)im->sm->scratch, im->val_len};
	struct cluster_node n;
	struct cluster_revoked r;
	int rc = 0;

	if (im->table < im->last_table)
		return imp_fail(im, "snapshot: tables out of order");
	if (im->table == im->last_table &&
	    !key_after(im->key, im->key_len, im->last_key, im->last_key_len))
		return imp_fail(im, "snapshot: keys out of order in table %u", im->table);
	switch (im->table) {
	case TBL_META: rc = imp_meta(im, key, val); break;
	case TBL_NODES:
		if (node_decode(key, val, &n) < 0)
			rc = imp_fail(im, "snapshot: node record %llu does not decode",
				      (unsigned long long)im->records);
		im->nodes++;
		break;
	default:
		if (revoked_decode(key, val, &r) < 0)
			rc = imp_fail(im, "snapshot: revoked record %llu does not decode",
				      (unsigned long long)im->records);
		im->revoked++;
		break;
	}
	if (rc < 0)
		return rc;
	im->last_table = im->table;
	memcpy(im->last_key, im->key, im->key_len);
	im->last_key_len = im->key_len;
	im->records++;
	if (im->t) {
		rc = store_sm_put(im->t, snap_tables[im->table], key, val);
		if (rc < 0)
			return im->err = sm_store_fail(im->sm, rc, snap_tables[im->table]);
	}
	return 0;
}

/* The piece in progress is complete: act on it and say what comes next. */
static int imp_step(struct cluster_sm_import *im)
{
	switch (im->state) {
	case S_HDR:
		if (memcmp(im->hdr, SNAP_MAGIC, 5) != 0)
			return imp_fail(im, "snapshot: bad magic");
		if (im->hdr[5] != CLUSTER_SNAP_VERSION)
			return imp_fail(im, "snapshot: format version %u, this build reads %u",
					im->hdr[5], CLUSTER_SNAP_VERSION);
		if (im->hdr[6] || im->hdr[7])
			return imp_fail(im, "snapshot: reserved header bytes set");
		im->index = get_u64(im->hdr + 8);
		imp_want(im, S_REC, im->hdr, SNAP_REC_HDR);
		return 0;
	case S_REC:
		im->table = im->hdr[0];
		im->key_len = (uint16_t)(im->hdr[1] << 8 | im->hdr[2]);
		im->val_len = get_u32(im->hdr + 3);
		if (im->table == TBL_END) {
			if (im->key_len || im->val_len)
				return imp_fail(im, "snapshot: bad end marker");
			imp_want(im, S_COUNT, im->hdr, 4);
			return 0;
		}
		if (im->table > TBL_REVOKED)
			return imp_fail(im, "snapshot: unknown table %u", im->table);
		if (im->key_len < 1 || im->key_len > STORE_KEY_MAX)
			return imp_fail(im, "snapshot: key of %u bytes", im->key_len);
		if (im->val_len > im->sm->scratch_cap)
			return imp_fail(im,
					"snapshot: record of %u bytes over this node's limits "
					"(max_routing_bytes %u, max_deploy_bytes %u)",
					im->val_len, im->sm->local.max_routing_bytes,
					im->sm->local.max_deploy_bytes);
		imp_want(im, S_KEY, im->key, im->key_len);
		return 0;
	case S_KEY:
	case S_VAL:
		/* After the key, an empty value is complete already. */
		if (im->state == S_KEY && im->val_len) {
			imp_want(im, S_VAL, im->sm->scratch, im->val_len);
			return 0;
		}
		if (imp_record(im) < 0)
			return im->err;
		imp_want(im, S_REC, im->hdr, SNAP_REC_HDR);
		return 0;
	case S_COUNT:
		if (get_u32(im->hdr) != im->records)
			return imp_fail(im, "snapshot: %llu records, the stream says %u",
					(unsigned long long)im->records, get_u32(im->hdr));
		imp_want(im, S_CRC, im->hdr, 4);
		return 0;
	case S_CRC:
		if (get_u32(im->hdr) != im->crc)
			return imp_fail(im, "snapshot: CRC-32C mismatch");
		imp_want(im, S_DONE, NULL, 0);
		return 0;
	default: return imp_fail(im, "snapshot: bytes after the end");
	}
}

int cluster_sm_import_begin(struct cluster_sm_import *im, struct cluster_sm *sm,
			    struct store_txn *t)
{
	memset(im, 0, sizeof *im);
	im->sm = sm;
	im->t = t;
	if (!sm->scratch)
		return im->err = sm_fail(sm, -ERR_INVAL, "state machine not initialised");
	if (t && (!t->s || !t->write))
		return im->err = sm_fail(sm, -ERR_INVAL, "import needs a write transaction");
	imp_want(im, S_HDR, im->hdr, SNAP_HDR);
	for (int tb = TBL_META; t && tb <= TBL_REVOKED + 1; tb++) {
		const char *name = tb <= TBL_REVOKED ? snap_tables[tb] : CLUSTER_TABLE_NAMES;
		int rc = store_sm_clear(t, name);
		if (rc < 0)
			return im->err = sm_store_fail(sm, rc, name);
	}
	return 0;
}

int cluster_sm_import_feed(struct cluster_sm_import *im, const void *data, size_t len)
{
	const uint8_t *p = data;
	if (im->err)
		return im->err;
	while (len) {
		if (im->state == S_DONE)
			return imp_fail(im, "snapshot: bytes after the end");
		size_t take = im->want - im->have;
		if (take > len)
			take = len;
		memcpy(im->dst + im->have, p, take);
		if (im->state != S_CRC)
			im->crc = store_crc32c(im->crc, p, take);
		im->have += take;
		p += take;
		len -= take;
		if (im->have == im->want) {
			int rc = imp_step(im);
			if (rc < 0)
				return im->err = rc;
		}
	}
	return 0;
}

struct rebuild {
	struct cluster_sm *sm;
	struct store_txn *t;
};

static int rebuild_cb(void *arg, struct slice key, struct slice val)
{
	struct rebuild *r = arg;
	struct cluster_node n;
	char nk[NAMEKEY_MAX];
	if (node_decode(key, val, &n) < 0)
		return corrupt(r->sm, "node record");
	return tput(r->sm, r->t, CLUSTER_TABLE_NAMES, name_key(&n, nk), "", 0);
}

int cluster_sm_import_end(struct cluster_sm_import *im)
{
	if (im->err)
		return im->err;
	if (im->state != S_DONE)
		return imp_fail(im, "snapshot: stream cut short");
	if (im->records && (im->meta_seen & MK_REQUIRED) != MK_REQUIRED)
		return imp_fail(im, "snapshot: cluster records missing");
	if (!(im->meta_seen & (1u << MK_DEPLOY)) != !(im->meta_seen & (1u << MK_DEPLOY_JSON)) ||
	    !(im->meta_seen & (1u << MK_ROUTING)) != !(im->meta_seen & (1u << MK_ROUTING_JSON)))
		return imp_fail(im, "snapshot: a document without its header or the reverse");
	if (im->records) {
		const struct cluster_limits *l = &im->limits;
		if (im->nodes > l->max_nodes || im->revoked > l->max_revoked ||
		    im->deploy_len > l->max_deploy_bytes || im->routing_len > l->max_routing_bytes)
			return imp_fail(im, "snapshot: contents over the cluster's own limits");
	}
	if (im->t) {
		struct rebuild r = {im->sm, im->t};
		int rc = store_sm_iterate(im->t, CLUSTER_TABLE_NODES, (struct slice){NULL, 0},
					  rebuild_cb, &r);
		if (rc < 0 && rc != -ERR_NOTFOUND)
			return im->err = rc;
	}
	return 0;
}
