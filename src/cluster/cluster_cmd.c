/* cluster_cmd.c — see cluster_cmd.h; the byte layout is in docs/internals/cluster-state.md.
 *
 * Every command type is described by a table of fields (kind, bounds, allowed characters,
 * where the value lives in struct cluster_cmd). Encoding, decoding, sizing and checking all walk
 * the same table, so they cannot disagree about a field. Commands are then checked as a whole
 * (cmd_check_semantic): the CA must load, token texts must match their verifiers, documents
 * must be JSON objects.
 */
#include "cluster/cluster_cmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/base_err.h"

/* Field kinds. Integers are big-endian; BYTES is a u32 length then the bytes. */
enum fkind { F_U8, F_U32, F_U64, F_I64, F_BYTES };
/* Allowed bytes of a BYTES field. */
enum fclass {
	C_ANY,     /* anything (DER, verifiers, serials, JSON checked separately) */
	C_PRINT,   /* 0x20..0x7e */
	C_VISIBLE, /* 0x21..0x7e */
	C_NAME,    /* [A-Za-z0-9._-] */
	C_ID,      /* exactly 25 of [0-9a-z] */
	C_TOKEN,   /* empty, or PKI_TOKEN_LEN visible characters (parsed by the semantic check) */
};

struct field {
	const char *name;
	uint8_t kind;
	uint8_t cls;
	uint16_t off; /* offset in struct cluster_cmd */
	uint64_t min; /* value (integers) or length (BYTES) */
	uint64_t max;
};

struct cmd_spec {
	const char *name; /* for `why`: "node_join" */
	const struct field *fields;
	size_t n;
};

#define OFF(m) ((uint16_t)offsetof(struct cluster_cmd, u.m))
#define FB(nm, m, cls, lo, hi)                   \
	{                                        \
		nm, F_BYTES, cls, OFF(m), lo, hi \
	}
#define FI64(nm, m)                                    \
	{                                              \
		nm, F_I64, C_ANY, OFF(m), 0, INT64_MAX \
	}
#define FU8(nm, m, lo, hi)                      \
	{                                       \
		nm, F_U8, C_ANY, OFF(m), lo, hi \
	}
#define FU32(nm, m, lo, hi)                      \
	{                                        \
		nm, F_U32, C_ANY, OFF(m), lo, hi \
	}
#define FU64(nm, m, lo, hi)                      \
	{                                        \
		nm, F_U64, C_ANY, OFF(m), lo, hi \
	}

/* Limits are fields of two commands; their bounds live here once. */
#define FLIMITS(m)                                                                      \
	FU32("max_nodes", m.max_nodes, 1, CLUSTER_MAX_NODES_LIMIT),                     \
		FU32("max_routing_bytes", m.max_routing_bytes, CLUSTER_MAX_ROUTING_MIN, \
		     CLUSTER_MAX_ROUTING_LIMIT),                                        \
		FU32("max_deploy_bytes", m.max_deploy_bytes, CLUSTER_MAX_DEPLOY_MIN,    \
		     CLUSTER_MAX_DEPLOY_LIMIT),                                         \
		FU32("max_revoked", m.max_revoked, 1, CLUSTER_MAX_REVOKED_LIMIT)

static const struct field f_init[] = {
	FB("cluster_id", init.cluster_id, C_ID, ID_LEN, ID_LEN),
	FB("name", init.name, C_NAME, 1, CLUSTER_NAME_MAX),
	FI64("created_at", init.created_at),
	FB("license", init.license, C_PRINT, 1, CLUSTER_LICENSE_MAX),
	FB("ca_cert", init.ca_cert, C_ANY, 1, PKI_CERT_MAX),
	FB("ca_key", init.ca_key, C_ANY, 1, PKI_KEY_DER_MAX),
	FB("control_verifier", init.control_verifier, C_ANY, PKI_VERIFIER_LEN, PKI_VERIFIER_LEN),
	FB("data_verifier", init.data_verifier, C_ANY, PKI_VERIFIER_LEN, PKI_VERIFIER_LEN),
	FB("control_token", init.control_token, C_TOKEN, 0, PKI_TOKEN_LEN),
	FB("data_token", init.data_token, C_TOKEN, 0, PKI_TOKEN_LEN),
	FLIMITS(init.limits),
};
static const struct field f_join[] = {
	FB("id", join.id, C_ID, ID_LEN, ID_LEN),
	FB("name", join.name, C_NAME, 1, CLUSTER_NODE_NAME_MAX),
	FU8("role", join.role, CLUSTER_ROLE_CONTROL, CLUSTER_ROLE_DATA),
	FB("addr", join.addr, C_VISIBLE, 1, CLUSTER_ADDR_MAX),
	FB("serial", join.serial, C_ANY, 1, CLUSTER_SERIAL_MAX),
	FI64("cert_not_after", join.cert_not_after),
	FI64("at", join.at),
};
static const struct field f_status[] = {
	FB("id", status.id, C_ID, ID_LEN, ID_LEN),
	FU8("status", status.status, CLUSTER_STATUS_READY, CLUSTER_STATUS_DOWN),
	FI64("at", status.at),
};
static const struct field f_avail[] = {
	FB("id", avail.id, C_ID, ID_LEN, ID_LEN),
	FU8("availability", avail.availability, CLUSTER_AVAIL_ACTIVE, CLUSTER_AVAIL_DRAIN),
	FI64("at", avail.at),
};
static const struct field f_remove[] = {
	FB("id", remove.id, C_ID, ID_LEN, ID_LEN),
	FU8("force", remove.force, 0, 1),
	FI64("at", remove.at),
};
static const struct field f_deploy[] = {
	FB("config", deploy.config, C_ANY, 1, CLUSTER_MAX_DEPLOY_LIMIT),
	FI64("at", deploy.at),
};
static const struct field f_routing[] = {
	FU64("revision", routing.revision, 1, UINT64_MAX),
	FI64("at", routing.at),
	FB("doc", routing.doc, C_ANY, 1, CLUSTER_MAX_ROUTING_LIMIT),
};
static const struct field f_license[] = {
	FB("license", license.license, C_PRINT, 1, CLUSTER_LICENSE_MAX),
	FI64("at", license.at),
};
static const struct field f_revoke[] = {
	FB("serial", revoke.serial, C_ANY, 1, CLUSTER_SERIAL_MAX),
	FI64("not_after", revoke.not_after),
	FI64("at", revoke.at),
};
static const struct field f_token[] = {
	FU8("role", token.role, CLUSTER_ROLE_CONTROL, CLUSTER_ROLE_DATA),
	FB("verifier", token.verifier, C_ANY, PKI_VERIFIER_LEN, PKI_VERIFIER_LEN),
	FB("token", token.token, C_TOKEN, 0, PKI_TOKEN_LEN),
	FI64("at", token.at),
};
static const struct field f_bootstrap_done[] = {
	FB("id", bootstrap_done.id, C_ID, ID_LEN, ID_LEN),
	FI64("at", bootstrap_done.at),
};
static const struct field f_purge[] = {
	FI64("before", purge.before),
};
static const struct field f_limits[] = {
	FLIMITS(limits.limits),
};
static const struct field f_cert[] = {
	FB("id", cert.id, C_ID, ID_LEN, ID_LEN),
	FB("keep_serial", cert.keep_serial, C_ANY, 1, CLUSTER_SERIAL_MAX),
	FB("serial", cert.serial, C_ANY, 1, CLUSTER_SERIAL_MAX),
	FI64("cert_not_after", cert.cert_not_after),
	FI64("keep_not_after", cert.keep_not_after),
	FI64("at", cert.at),
};
static const struct field f_addr[] = {
	FB("id", addr.id, C_ID, ID_LEN, ID_LEN),
	FB("addr", addr.addr, C_VISIBLE, 1, CLUSTER_ADDR_MAX),
	FI64("at", addr.at),
};

#define SPEC(nm, f)                               \
	{                                         \
		nm, f, sizeof(f) / sizeof((f)[0]) \
	}
static const struct cmd_spec specs[CLUSTER_CMD_TYPE_MAX + 1] = {
	[CLUSTER_CMD_INIT] = SPEC("cluster_init", f_init),
	[CLUSTER_CMD_NODE_JOIN] = SPEC("node_join", f_join),
	[CLUSTER_CMD_NODE_STATUS] = SPEC("node_status", f_status),
	[CLUSTER_CMD_NODE_AVAIL] = SPEC("node_availability", f_avail),
	[CLUSTER_CMD_NODE_REMOVE] = SPEC("node_remove", f_remove),
	[CLUSTER_CMD_DEPLOY] = SPEC("deploy", f_deploy),
	[CLUSTER_CMD_ROUTING_SET] = SPEC("routing_set", f_routing),
	[CLUSTER_CMD_LICENSE_SET] = SPEC("license_set", f_license),
	[CLUSTER_CMD_CERT_REVOKE] = SPEC("cert_revoke", f_revoke),
	[CLUSTER_CMD_TOKEN_ROTATE] = SPEC("token_rotate", f_token),
	[CLUSTER_CMD_BOOTSTRAP_DONE] = SPEC("bootstrap_done", f_bootstrap_done),
	[CLUSTER_CMD_REVOKED_PURGE] = SPEC("revoked_purge", f_purge),
	[CLUSTER_CMD_LIMITS_SET] = SPEC("limits_set", f_limits),
	[CLUSTER_CMD_NODE_CERT] = SPEC("node_cert", f_cert),
	[CLUSTER_CMD_NODE_ADDR] = SPEC("node_address", f_addr),
};

static const struct cmd_spec *spec_of(int type)
{
	if (type < 1 || type > CLUSTER_CMD_TYPE_MAX)
		return NULL;
	return &specs[type];
}

/* Fill `why` (may be NULL) and return code. */
static int fail(int code, char *why, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(int code, char *why, size_t cap, const char *fmt, ...)
{
	if (why && cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* --- Names and small helpers --------------------------------------------------------------- */

void cluster_limits_default(struct cluster_limits *l)
{
	l->max_nodes = CLUSTER_MAX_NODES_DEFAULT;
	l->max_routing_bytes = CLUSTER_MAX_ROUTING_DEFAULT;
	l->max_deploy_bytes = CLUSTER_MAX_DEPLOY_DEFAULT;
	l->max_revoked = CLUSTER_MAX_REVOKED_DEFAULT;
}

int cluster_limits_check(const struct cluster_limits *l, char *why, size_t cap)
{
	const struct cmd_spec *sp = spec_of(CLUSTER_CMD_LIMITS_SET);
	const uint32_t v[4] = {l->max_nodes, l->max_routing_bytes, l->max_deploy_bytes,
			       l->max_revoked};
	_Static_assert(sizeof(f_limits) / sizeof(f_limits[0]) == 4, "four limits");
	for (size_t i = 0; i < sp->n; i++) {
		const struct field *f = &sp->fields[i];
		if (v[i] < f->min || v[i] > f->max)
			return fail(-ERR_CLUSTER_LIMITS, why, cap, "%s %u outside %llu..%llu",
				    f->name, (unsigned)v[i], (unsigned long long)f->min,
				    (unsigned long long)f->max);
	}
	return 0;
}

int cluster_id_valid(struct slice s)
{
	if (s.len != ID_LEN)
		return 0;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')))
			return 0;
	}
	return 1;
}

static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int cluster_name_valid(struct slice s, size_t max)
{
	if (s.len < 1 || s.len > max)
		return 0;
	for (size_t i = 0; i < s.len; i++)
		if (!name_char(s.p[i]))
			return 0;
	return 1;
}

const char *cluster_cmd_type_name(int type)
{
	static const char *const names[CLUSTER_CMD_TYPE_MAX + 1] = {
		[CLUSTER_CMD_INIT] = "CLUSTER_INIT",
		[CLUSTER_CMD_NODE_JOIN] = "NODE_JOIN",
		[CLUSTER_CMD_NODE_STATUS] = "NODE_STATUS",
		[CLUSTER_CMD_NODE_AVAIL] = "NODE_AVAILABILITY",
		[CLUSTER_CMD_NODE_REMOVE] = "NODE_REMOVE",
		[CLUSTER_CMD_DEPLOY] = "DEPLOY",
		[CLUSTER_CMD_ROUTING_SET] = "ROUTING_SET",
		[CLUSTER_CMD_LICENSE_SET] = "LICENSE_SET",
		[CLUSTER_CMD_CERT_REVOKE] = "CERT_REVOKE",
		[CLUSTER_CMD_TOKEN_ROTATE] = "TOKEN_ROTATE",
		[CLUSTER_CMD_BOOTSTRAP_DONE] = "BOOTSTRAP_DONE",
		[CLUSTER_CMD_REVOKED_PURGE] = "REVOKED_PURGE",
		[CLUSTER_CMD_LIMITS_SET] = "LIMITS_SET",
		[CLUSTER_CMD_NODE_CERT] = "NODE_CERT",
		[CLUSTER_CMD_NODE_ADDR] = "NODE_ADDRESS",
	};
	return type >= 1 && type <= CLUSTER_CMD_TYPE_MAX ? names[type] : "?";
}

const char *cluster_role_str(int role)
{
	return role == CLUSTER_ROLE_CONTROL ? "CONTROL NODE"
	       : role == CLUSTER_ROLE_DATA  ? "DATA NODE"
					    : "?";
}

const char *cluster_membership_str(int m)
{
	return m == CLUSTER_MEMBER_PENDING    ? "PENDING"
	       : m == CLUSTER_MEMBER_ACCEPTED ? "ACCEPTED"
					      : "?";
}

const char *cluster_status_str(int s)
{
	return s == CLUSTER_STATUS_READY ? "READY" : s == CLUSTER_STATUS_DOWN ? "DOWN" : "?";
}

const char *cluster_avail_str(int a)
{
	switch (a) {
	case CLUSTER_AVAIL_ACTIVE: return "ACTIVE";
	case CLUSTER_AVAIL_PAUSE: return "PAUSE";
	case CLUSTER_AVAIL_DRAIN: return "DRAIN";
	default: return "?";
	}
}

int cluster_avail_parse(struct slice s, enum cluster_avail *out)
{
	if (slice_eq_cstr_ci(s, "active"))
		*out = CLUSTER_AVAIL_ACTIVE;
	else if (slice_eq_cstr_ci(s, "pause"))
		*out = CLUSTER_AVAIL_PAUSE;
	else if (slice_eq_cstr_ci(s, "drain"))
		*out = CLUSTER_AVAIL_DRAIN;
	else
		return -ERR_INVAL;
	return 0;
}

/* --- Field access ------------------------------------------------------------------------- */

static void *fptr(struct cluster_cmd *c, const struct field *f)
{
	return (char *)c + f->off;
}

static const void *fcptr(const struct cluster_cmd *c, const struct field *f)
{
	return (const char *)c + f->off;
}

static uint64_t field_uint(const struct cluster_cmd *c, const struct field *f)
{
	const void *p = fcptr(c, f);
	switch (f->kind) {
	case F_U8: return *(const uint8_t *)p;
	case F_U32: return *(const uint32_t *)p;
	case F_U64: return *(const uint64_t *)p;
	default: return 0;
	}
}

/* One field's own constraints: bounds and characters. */
static int field_check(const struct cluster_cmd *c, const struct cmd_spec *sp,
		       const struct field *f, char *why, size_t cap)
{
	if (f->kind == F_I64) {
		int64_t v = *(const int64_t *)fcptr(c, f);
		if (v < 0)
			return fail(-ERR_CLUSTER_CMD, why, cap, "%s.%s: negative time", sp->name,
				    f->name);
		return 0;
	}
	if (f->kind != F_BYTES) {
		uint64_t v = field_uint(c, f);
		if (v < f->min || v > f->max)
			return fail(-ERR_CLUSTER_CMD, why, cap, "%s.%s: %llu outside %llu..%llu",
				    sp->name, f->name, (unsigned long long)v,
				    (unsigned long long)f->min, (unsigned long long)f->max);
		return 0;
	}
	const struct slice *s = fcptr(c, f);
	if (s->len < f->min || s->len > f->max)
		return fail(-ERR_CLUSTER_CMD, why, cap, "%s.%s: %zu bytes, want %llu..%llu",
			    sp->name, f->name, s->len, (unsigned long long)f->min,
			    (unsigned long long)f->max);
	if (s->len && !s->p)
		return fail(-ERR_CLUSTER_CMD, why, cap, "%s.%s: no data", sp->name, f->name);
	if (f->cls == C_TOKEN && s->len != 0 && s->len != PKI_TOKEN_LEN)
		return fail(-ERR_CLUSTER_CMD, why, cap, "%s.%s: %zu bytes, want 0 or %d", sp->name,
			    f->name, s->len, PKI_TOKEN_LEN);
	for (size_t i = 0; i < s->len && f->cls != C_ANY; i++) {
		unsigned char ch = (unsigned char)s->p[i];
		int ok;
		switch (f->cls) {
		case C_PRINT: ok = ch >= 0x20 && ch <= 0x7e; break;
		case C_VISIBLE:
		case C_TOKEN: ok = ch >= 0x21 && ch <= 0x7e; break;
		case C_NAME: ok = name_char((char)ch); break;
		case C_ID: ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z'); break;
		default: ok = 1; break;
		}
		if (!ok)
			return fail(-ERR_CLUSTER_CMD, why, cap, "%s.%s: character %zu not allowed",
				    sp->name, f->name, i);
	}
	return 0;
}

/* --- Whole-command checks ----------------------------------------------------------------- */

int cluster_token_check(struct slice text, struct slice verifier, int role,
			const unsigned char *ca_digest, char *why, size_t cap)
{
	struct pki_token tok;
	unsigned char v[PKI_VERIFIER_LEN];
	const char *reason = NULL;
	enum pki_role want = role == CLUSTER_ROLE_CONTROL ? PKI_ROLE_CONTROL : PKI_ROLE_DATA;
	const char *what = role == CLUSTER_ROLE_CONTROL ? "control token" : "data token";
	int rc = 0;

	if (verifier.len != PKI_VERIFIER_LEN || !verifier.p)
		return fail(-ERR_CLUSTER_CMD, why, cap, "%s: verifier is not %d bytes", what,
			    PKI_VERIFIER_LEN);
	if (text.len == 0)
		return 0;
	if (pki_token_parse(text, &tok, &reason) < 0)
		return fail(-ERR_CLUSTER_TOKEN, why, cap, "%s: %s", what,
			    reason ? reason : "malformed");
	if (pki_token_check_role(&tok, want) < 0)
		rc = fail(-ERR_CLUSTER_TOKEN, why, cap, "%s admits another role", what);
	else if (ca_digest && !pki_ct_eq(tok.ca_digest, ca_digest, PKI_CA_DIGEST_LEN))
		rc = fail(-ERR_CLUSTER_TOKEN, why, cap, "%s does not pin the cluster CA", what);
	if (rc == 0) {
		pki_token_verifier(&tok, v);
		if (!pki_ct_eq(v, verifier.p, PKI_VERIFIER_LEN))
			rc = fail(-ERR_CLUSTER_TOKEN, why, cap, "%s does not match its verifier",
				  what);
		pki_wipe(v, sizeof v);
	}
	pki_token_wipe(&tok);
	return rc;
}

/* A JSON document whose root is an object. */
static int check_json_object(struct slice doc, const char *what, char *why, size_t cap)
{
	int depth = 0;
	int rc = json_validate(doc.p, doc.len, &depth);
	if (rc < 0)
		return fail(-ERR_CLUSTER_CMD, why, cap, "%s: not JSON (%s)", what, err_name(rc));
	size_t i = 0;
	while (i < doc.len &&
	       (doc.p[i] == ' ' || doc.p[i] == '\t' || doc.p[i] == '\n' || doc.p[i] == '\r'))
		i++;
	if (i >= doc.len || doc.p[i] != '{')
		return fail(-ERR_CLUSTER_CMD, why, cap, "%s: not a JSON object", what);
	return 0;
}

static int cmd_check_semantic(const struct cluster_cmd *c, char *why, size_t cap)
{
	switch (c->type) {
	case CLUSTER_CMD_INIT: {
		const struct cluster_cmd_init *in = &c->u.init;
		struct pki_ca ca;
		unsigned char digest[PKI_CA_DIGEST_LEN];
		int rc = pki_ca_load(&ca, in->ca_cert.p, in->ca_cert.len, in->ca_key.p,
				     in->ca_key.len);
		pki_ca_wipe(&ca);
		if (rc < 0)
			return fail(rc, why, cap, "cluster_init.ca: %s", err_str(rc));
		pki_ca_digest(in->ca_cert.p, in->ca_cert.len, digest);
		rc = cluster_token_check(in->control_token, in->control_verifier,
					 CLUSTER_ROLE_CONTROL, digest, why, cap);
		if (rc == 0)
			rc = cluster_token_check(in->data_token, in->data_verifier,
						 CLUSTER_ROLE_DATA, digest, why, cap);
		return rc;
	}
	case CLUSTER_CMD_TOKEN_ROTATE:
		return cluster_token_check(c->u.token.token, c->u.token.verifier, c->u.token.role,
					   NULL, why, cap);
	case CLUSTER_CMD_ROUTING_SET:
		return check_json_object(c->u.routing.doc, "routing_set.doc", why, cap);
	case CLUSTER_CMD_DEPLOY:
		return check_json_object(c->u.deploy.config, "deploy.config", why, cap);
	case CLUSTER_CMD_NODE_CERT:
		/* A renewal must bring a new serial: the row would hold one serial twice. */
		if (slice_eq(c->u.cert.serial, c->u.cert.keep_serial))
			return fail(-ERR_CLUSTER_CMD, why, cap,
				    "node_cert.serial: equal to keep_serial");
		return 0;
	default: return 0;
	}
}

int cluster_cmd_check(const struct cluster_cmd *c, char *why, size_t cap)
{
	const struct cmd_spec *sp = spec_of((int)c->type);
	if (!sp)
		return fail(-ERR_CLUSTER_CMD_VERSION, why, cap, "unknown command type %d",
			    (int)c->type);
	for (size_t i = 0; i < sp->n; i++) {
		int rc = field_check(c, sp, &sp->fields[i], why, cap);
		if (rc < 0)
			return rc;
	}
	return cmd_check_semantic(c, why, cap);
}

/* --- Encoding ----------------------------------------------------------------------------- */

static size_t field_size(const struct cluster_cmd *c, const struct field *f)
{
	switch (f->kind) {
	case F_U8: return 1;
	case F_U32: return 4;
	case F_U64:
	case F_I64: return 8;
	default: return 4 + ((const struct slice *)fcptr(c, f))->len;
	}
}

size_t cluster_cmd_size(const struct cluster_cmd *c)
{
	const struct cmd_spec *sp = spec_of((int)c->type);
	size_t n = CLUSTER_CMD_HEADER;
	for (size_t i = 0; sp && i < sp->n; i++)
		n += field_size(c, &sp->fields[i]);
	return n;
}

static uint8_t *put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
	return p + bytes;
}

int cluster_cmd_encode(const struct cluster_cmd *c, struct buf *out)
{
	int rc = cluster_cmd_check(c, NULL, 0);
	if (rc < 0)
		return rc;
	size_t n = cluster_cmd_size(c);
	if (n > buf_avail(out) || n > INT32_MAX)
		return -ERR_BUF_FULL;
	const struct cmd_spec *sp = spec_of((int)c->type);
	uint8_t *p = out->data + out->len;
	*p++ = CLUSTER_CMD_MAGIC0;
	*p++ = CLUSTER_CMD_MAGIC1;
	*p++ = CLUSTER_CMD_VERSION;
	*p++ = (uint8_t)c->type;
	for (size_t i = 0; i < sp->n; i++) {
		const struct field *f = &sp->fields[i];
		switch (f->kind) {
		case F_U8: p = put_be(p, field_uint(c, f), 1); break;
		case F_U32: p = put_be(p, field_uint(c, f), 4); break;
		case F_U64: p = put_be(p, field_uint(c, f), 8); break;
		case F_I64: p = put_be(p, (uint64_t) * (const int64_t *)fcptr(c, f), 8); break;
		default: {
			const struct slice *s = fcptr(c, f);
			p = put_be(p, s->len, 4);
			if (s->len)
				memcpy(p, s->p, s->len);
			p += s->len;
		}
		}
	}
	buf_commit(out, n);
	return (int)n;
}

/* --- Decoding ----------------------------------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t left;
};

static int rd_be(struct rd *r, int bytes, uint64_t *v)
{
	if (r->left < (size_t)bytes)
		return -1;
	uint64_t x = 0;
	for (int i = 0; i < bytes; i++)
		x = x << 8 | r->p[i];
	r->p += bytes;
	r->left -= (size_t)bytes;
	*v = x;
	return 0;
}

int cluster_cmd_decode(const void *buf, size_t len, struct cluster_cmd *out, char *why, size_t cap)
{
	struct rd r = {buf, len};
	const uint8_t *h = buf;

	memset(out, 0, sizeof *out);
	if (why && cap)
		why[0] = '\0';
	if (!buf || len < CLUSTER_CMD_HEADER)
		return fail(-ERR_CLUSTER_CMD, why, cap, "command shorter than its header");
	if (len > CLUSTER_CMD_MAX)
		return fail(-ERR_CLUSTER_CMD, why, cap, "command of %zu bytes over %zu", len,
			    (size_t)CLUSTER_CMD_MAX);
	if (h[0] != CLUSTER_CMD_MAGIC0 || h[1] != CLUSTER_CMD_MAGIC1)
		return fail(-ERR_CLUSTER_CMD, why, cap, "not a cluster command (bad magic)");
	if (h[2] != CLUSTER_CMD_VERSION)
		return fail(-ERR_CLUSTER_CMD_VERSION, why, cap,
			    "encoding version %u, this build reads %u", h[2], CLUSTER_CMD_VERSION);
	const struct cmd_spec *sp = spec_of(h[3]);
	if (!sp)
		return fail(-ERR_CLUSTER_CMD_VERSION, why, cap, "unknown command type %u", h[3]);
	out->type = (enum cluster_cmd_type)h[3];
	r.p += CLUSTER_CMD_HEADER;
	r.left -= CLUSTER_CMD_HEADER;

	for (size_t i = 0; i < sp->n; i++) {
		const struct field *f = &sp->fields[i];
		uint64_t v;
		int bytes = f->kind == F_U8 ? 1 : f->kind == F_U32 || f->kind == F_BYTES ? 4 : 8;
		if (rd_be(&r, bytes, &v) < 0)
			return fail(-ERR_CLUSTER_CMD, why, cap, "%s.%s: command cut short",
				    sp->name, f->name);
		void *dst = fptr(out, f);
		switch (f->kind) {
		case F_U8: *(uint8_t *)dst = (uint8_t)v; break;
		case F_U32: *(uint32_t *)dst = (uint32_t)v; break;
		case F_U64: *(uint64_t *)dst = v; break;
		case F_I64:
			if (v > INT64_MAX)
				return fail(-ERR_CLUSTER_CMD, why, cap, "%s.%s: negative time",
					    sp->name, f->name);
			*(int64_t *)dst = (int64_t)v;
			break;
		default:
			/* Length first against the field's bound, then against what is left. */
			if (v > f->max || v < f->min)
				return fail(-ERR_CLUSTER_CMD, why, cap,
					    "%s.%s: %llu bytes, want %llu..%llu", sp->name, f->name,
					    (unsigned long long)v, (unsigned long long)f->min,
					    (unsigned long long)f->max);
			if (v > r.left)
				return fail(-ERR_CLUSTER_CMD, why, cap,
					    "%s.%s: %llu bytes announced, %zu left", sp->name,
					    f->name, (unsigned long long)v, r.left);
			((struct slice *)dst)->p = (const char *)r.p;
			((struct slice *)dst)->len = (size_t)v;
			r.p += v;
			r.left -= (size_t)v;
		}
	}
	if (r.left)
		return fail(-ERR_CLUSTER_CMD, why, cap, "%s: %zu bytes after the last field",
			    sp->name, r.left);
	return cluster_cmd_check(out, why, cap);
}

/* --- Static configuration ----------------------------------------------------------------- */

/* A key of the document, safe to show: printable, cut to fit. */
static const char *key_text(const struct json_doc *d, int key, char *out, size_t cap)
{
	int n = json_get_strn(d, key, out, cap - 1);
	if (n < 0)
		n = (int)cap - 1;
	out[n] = '\0';
	for (int i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
			out[i] = '?';
	return out;
}

static int deploy_entrypoints(const struct json_doc *d, int eps, char *why, size_t cap)
{
	struct json_iter it;
	int key, v;
	char k[48];

	if (json_typeof(d, eps) != JSON_OBJECT)
		return fail(-ERR_CLUSTER_DEPLOY, why, cap, "entryPoints: not an object");
	json_iter_begin(d, eps, &it);
	while ((v = json_iter_next(d, &it, &key)) >= 0) {
		char name[CLUSTER_NAME_MAX + 1];
		int n = json_get_str(d, key, name, sizeof name);
		if (n < 0 || !cluster_name_valid((struct slice){name, (size_t)n}, CLUSTER_NAME_MAX))
			return fail(-ERR_CLUSTER_DEPLOY, why, cap,
				    "entryPoints.%s: name is not 1..%d of [A-Za-z0-9._-]",
				    key_text(d, key, k, sizeof k), CLUSTER_NAME_MAX);
		if (json_typeof(d, v) != JSON_OBJECT)
			return fail(-ERR_CLUSTER_DEPLOY, why, cap, "entryPoints.%s: not an object",
				    name);
		int a = json_obj_get(d, v, "address");
		if (json_typeof(d, a) != JSON_STRING || json_str_len(d, a) <= 0)
			return fail(-ERR_CLUSTER_DEPLOY, why, cap,
				    "entryPoints.%s.address: missing or empty", name);
	}
	return 0;
}

static int deploy_defaults(const struct json_doc *d, int defs, int eps, char *why, size_t cap)
{
	struct json_iter it;
	int v;
	size_t i = 0;
	char name[CLUSTER_NAME_MAX + 1];

	if (json_typeof(d, defs) != JSON_ARRAY)
		return fail(-ERR_CLUSTER_DEPLOY, why, cap, "defaultEntryPoints: not an array");
	json_iter_begin(d, defs, &it);
	for (; (v = json_iter_next(d, &it, NULL)) >= 0; i++) {
		int n = json_get_str(d, v, name, sizeof name);
		if (n < 0 || eps < 0 ||
		    json_obj_get_slice(d, eps, (struct slice){name, (size_t)n}) < 0)
			return fail(-ERR_CLUSTER_DEPLOY, why, cap,
				    "defaultEntryPoints.%zu: not the name of an entry point", i);
	}
	return 0;
}

/* rootCAs: PEM certificates for https:// backend servers (the routing document checks each
 * one when it loads; here only the shape). */
static int deploy_root_cas(const struct json_doc *d, int cas, char *why, size_t cap)
{
	struct json_iter it;
	int v;
	size_t i = 0;

	if (json_typeof(d, cas) != JSON_ARRAY)
		return fail(-ERR_CLUSTER_DEPLOY, why, cap, "rootCAs: not an array");
	json_iter_begin(d, cas, &it);
	for (; (v = json_iter_next(d, &it, NULL)) >= 0; i++)
		if (json_typeof(d, v) != JSON_STRING || json_str_len(d, v) <= 0)
			return fail(-ERR_CLUSTER_DEPLOY, why, cap,
				    "rootCAs.%zu: not a PEM certificate string", i);
	return 0;
}

static int deploy_providers(const struct json_doc *d, int prov, char *why, size_t cap)
{
	struct json_iter it;
	int key, v;
	char k[48];

	if (json_typeof(d, prov) != JSON_OBJECT)
		return fail(-ERR_CLUSTER_DEPLOY, why, cap, "providers: not an object");
	if (json_len(d, prov) > 1)
		return fail(-ERR_CLUSTER_DEPLOY, why, cap, "providers: more than one provider");
	json_iter_begin(d, prov, &it);
	while ((v = json_iter_next(d, &it, &key)) >= 0) {
		if (!json_str_eq(d, key, "consul") && !json_str_eq(d, key, "etcd") &&
		    !json_str_eq(d, key, "file"))
			return fail(-ERR_CLUSTER_DEPLOY, why, cap,
				    "providers.%s: unknown provider (consul, etcd, file)",
				    key_text(d, key, k, sizeof k));
		if (json_typeof(d, v) != JSON_OBJECT)
			return fail(-ERR_CLUSTER_DEPLOY, why, cap, "providers.%s: not an object",
				    key_text(d, key, k, sizeof k));
	}
	return 0;
}

int cluster_cmd_check_deploy(struct slice config, json_tok *toks, size_t ntoks, char *why,
			     size_t cap)
{
	struct json_doc d;
	struct json_iter it;
	int key, v, eps = -ERR_NOTFOUND, rc;
	char k[48];

	if (why && cap)
		why[0] = '\0';
	rc = json_parse(&d, config.p, config.len, toks, ntoks);
	if (rc < 0)
		return fail(-ERR_CLUSTER_DEPLOY, why, cap, "static configuration: %s at byte %zu",
			    err_str(rc), d.err_off);
	if (json_typeof(&d, JSON_ROOT) != JSON_OBJECT)
		return fail(-ERR_CLUSTER_DEPLOY, why, cap, "static configuration: not an object");
	eps = json_obj_get(&d, JSON_ROOT, "entryPoints");
	if (eps < 0)
		return fail(-ERR_CLUSTER_DEPLOY, why, cap, "entryPoints: missing");
	json_iter_begin(&d, JSON_ROOT, &it);
	while ((v = json_iter_next(&d, &it, &key)) >= 0) {
		if (json_str_eq(&d, key, "entryPoints"))
			rc = deploy_entrypoints(&d, v, why, cap);
		else if (json_str_eq(&d, key, "defaultEntryPoints"))
			rc = deploy_defaults(&d, v, eps, why, cap);
		else if (json_str_eq(&d, key, "providers"))
			rc = deploy_providers(&d, v, why, cap);
		else if (json_str_eq(&d, key, "rootCAs"))
			rc = deploy_root_cas(&d, v, why, cap);
		else if (json_str_eq(&d, key, "insecureSkipVerify"))
			rc = json_typeof(&d, v) == JSON_BOOL
				     ? 0
				     : fail(-ERR_CLUSTER_DEPLOY, why, cap,
					    "insecureSkipVerify: not a boolean");
		else if (json_str_eq(&d, key, "providersThrottleDuration"))
			rc = json_typeof(&d, v) == JSON_STRING
				     ? 0
				     : fail(-ERR_CLUSTER_DEPLOY, why, cap,
					    "providersThrottleDuration: not a string");
		else
			rc = fail(-ERR_CLUSTER_DEPLOY, why, cap, "%s: unknown key",
				  key_text(&d, key, k, sizeof k));
		if (rc < 0)
			return rc;
	}
	return 0;
}
