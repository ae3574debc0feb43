/* cluster_backup.c — see cluster_backup.h.
 *
 * Tar: POSIX.1-1988 ustar headers (IEEE 1003.1 "ustar Interchange Format"): 512-byte blocks;
 * name in the first 100 bytes; mode, uid, gid, size, mtime as zero-padded octal with a NUL;
 * checksum = the unsigned sum of the header bytes with the checksum field read as 8 spaces,
 * written as 6 octal digits, NUL, space; type '0'; magic "ustar\0", version "00"; data padded
 * with zeros to a block; two zero blocks at the end. GNU and BSD tar read it; the reader accepts
 * only what the writer produces (plus extra zero blocks after the end), since a backup is ours.
 */
#include "cluster/cluster_backup.h"

#include <bearssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/base_err.h"
#include "base/base_time.h"
#include "json/json_write.h"
#include "pki/pki_pem.h"

#define TAR_BLOCK 512u
#define MANIFEST_MAX 4096u
#define MANIFEST_SUM_LEN (64 + 2 + 13 + 1) /* sha256sum's line for manifest.json */
#define TOKENS_JSON_MAX 1024u
#define NODE_JSON_MAX 1024u   /* one node in nodes.json, escapes included (at most 977) */
#define REVOKED_LINE_MAX 112u /* serial hex, two times, node ID, spaces, newline */

enum member_id {
	M_MANIFEST,
	M_LICENSE,
	M_CA_CRT,
	M_CA_KEY,
	M_TOKENS,
	M_DEPLOY,
	M_ROUTING,
	M_NODES,
	M_REVOKED,
	M_MANIFEST_SUM,
	M_COUNT
};
static const char *const member_names[M_COUNT] = {
	"manifest.json",      "license.txt",  "ca.crt",     "ca.key",      "tokens.json",
	"static-config.json", "routing.json", "nodes.json", "revoked.txt", "manifest.sha256",
};
#define M_OPTIONAL ((1u << M_DEPLOY) | (1u << M_ROUTING))
_Static_assert(M_COUNT == CLUSTER_BACKUP_MEMBERS_MAX, "member count");

static size_t round_block(size_t n)
{
	return (n + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
}

static void hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Lowercase hex of exactly 2 * n digits into out[0..n). */
static int hex_decode(struct slice s, unsigned char *out, size_t n)
{
	if (s.len != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_val(s.p[2 * i]), lo = hex_val(s.p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static void sha256(const void *p, size_t n, unsigned char out[32])
{
	br_sha256_context c;
	br_sha256_init(&c);
	br_sha256_update(&c, p, n);
	br_sha256_out(&c, out);
}

void cluster_backup_filename(int64_t wall_ms, char out[CLUSTER_BACKUP_NAME_LEN + 1])
{
	struct time_civil c;
	int64_t secs = wall_ms / 1000;
	if (wall_ms % 1000 < 0)
		secs--;
	time_civil_from_epoch(secs, &c);
	if (c.year < 0 || c.year > 9999)
		c.year = c.year < 0 ? 0 : 9999;
	snprintf(out, CLUSTER_BACKUP_NAME_LEN + 1, "%04d-%02d-%02dT%02d%02d%02d%s", c.year, c.month,
		 c.day, c.hour, c.min, c.sec, CLUSTER_BACKUP_SUFFIX);
}

size_t cluster_backup_max_bytes(const struct cluster_limits *l)
{
	size_t n = 2 * TAR_BLOCK;
	n += TAR_BLOCK + round_block(MANIFEST_MAX);
	n += TAR_BLOCK + round_block(CLUSTER_LICENSE_MAX);
	n += TAR_BLOCK + round_block(pki_pem_size(PKI_PEM_CERT, PKI_CERT_MAX) + 1);
	n += TAR_BLOCK + round_block(PKI_KEY_PEM_MAX + 1);
	n += TAR_BLOCK + round_block(TOKENS_JSON_MAX);
	n += TAR_BLOCK + round_block(l->max_deploy_bytes);
	n += TAR_BLOCK + round_block(l->max_routing_bytes);
	n += TAR_BLOCK + round_block((size_t)l->max_nodes * NODE_JSON_MAX + 2);
	n += TAR_BLOCK + round_block((size_t)l->max_revoked * REVOKED_LINE_MAX);
	n += TAR_BLOCK + round_block(MANIFEST_SUM_LEN);
	return n;
}

/* --- Writing ------------------------------------------------------------------------------ */

struct bw {
	struct cluster_sm *sm;
	struct store_txn *t;
	struct buf *out;
	int64_t now;
	size_t hdr; /* offset of the current member's header block */
	int n;
	struct {
		int id;
		size_t size;
		unsigned char sha[32];
	} m[M_COUNT];
};

/* width - 1 octal digits, zero padded, then a NUL. */
static void tar_octal(uint8_t *dst, size_t width, uint64_t v)
{
	dst[width - 1] = '\0';
	for (size_t i = width - 1; i-- > 0; v >>= 3)
		dst[i] = (uint8_t)('0' + (v & 7));
}

static unsigned tar_sum(const uint8_t *h)
{
	unsigned sum = 0;
	for (size_t i = 0; i < TAR_BLOCK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	return sum;
}

static void tar_header(uint8_t *h, const char *name, uint64_t size, int64_t mtime)
{
	memset(h, 0, TAR_BLOCK);
	memcpy(h, name, strlen(name));
	tar_octal(h + 100, 8, 0600);
	tar_octal(h + 108, 8, 0);
	tar_octal(h + 116, 8, 0);
	tar_octal(h + 124, 12, size);
	tar_octal(h + 136, 12, mtime < 0 ? 0 : (uint64_t)mtime);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	tar_octal(h + 148, 7, tar_sum(h));
	h[155] = ' ';
}

static int bw_fail(struct bw *w, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bw_fail(struct bw *w, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->sm->errmsg, sizeof w->sm->errmsg, fmt, ap);
	va_end(ap);
	return code;
}

static int member_begin(struct bw *w)
{
	if (buf_avail(w->out) < TAR_BLOCK)
		return bw_fail(w, -ERR_BUF_FULL, "backup: buffer full");
	w->hdr = w->out->len;
	memset(w->out->data + w->hdr, 0, TAR_BLOCK);
	buf_commit(w->out, TAR_BLOCK);
	return 0;
}

static int member_end(struct bw *w, int id)
{
	size_t data = w->hdr + TAR_BLOCK, size = w->out->len - data;
	size_t pad = round_block(size) - size;
	if (buf_avail(w->out) < pad)
		return bw_fail(w, -ERR_BUF_FULL, "backup: buffer full");
	w->m[w->n].id = id;
	w->m[w->n].size = size;
	sha256(w->out->data + data, size, w->m[w->n].sha);
	w->n++;
	tar_header(w->out->data + w->hdr, member_names[id], size, w->now / 1000);
	memset(w->out->data + w->out->len, 0, pad);
	buf_commit(w->out, pad);
	return 0;
}

static int member_bytes(struct bw *w, int id, struct slice data)
{
	int rc = member_begin(w);
	if (rc == 0 && buf_append(w->out, data.p, data.len) < 0)
		rc = bw_fail(w, -ERR_BUF_FULL, "backup: buffer full");
	return rc < 0 ? rc : member_end(w, id);
}

static int write_ca(struct bw *w)
{
	struct slice cert, key;
	struct pki_key k;
	int rc = cluster_sm_ca(w->sm, w->t, &cert, &key);
	if (rc < 0)
		return rc;
	if ((rc = member_begin(w)) < 0)
		return rc;
	if (pki_pem_encode(PKI_PEM_CERT, cert.p, cert.len, w->out) < 0)
		return bw_fail(w, -ERR_BUF_FULL, "backup: buffer full");
	if ((rc = member_end(w, M_CA_CRT)) < 0)
		return rc;
	if (pki_key_from_der(&k, key.p, key.len) < 0)
		return bw_fail(w, -ERR_PKI_KEY, "backup: the cluster CA key does not decode");
	if ((rc = member_begin(w)) == 0 && pki_key_to_pem(&k, PKI_KEY_SEC1, w->out) < 0)
		rc = bw_fail(w, -ERR_BUF_FULL, "backup: buffer full");
	pki_key_wipe(&k);
	return rc < 0 ? rc : member_end(w, M_CA_KEY);
}

static void json_token(struct json_writer *jw, const char *role, const struct cluster_token_info *t)
{
	char hex[2 * PKI_VERIFIER_LEN + 1];
	hex_encode(t->verifier, PKI_VERIFIER_LEN, hex);
	json_w_key(jw, role);
	json_w_obj_begin(jw);
	json_w_key(jw, "verifier");
	json_w_str(jw, hex);
	if (t->text[0]) {
		json_w_key(jw, "token");
		json_w_str(jw, t->text);
	}
	json_w_key(jw, "at");
	json_w_int(jw, t->at);
	json_w_obj_end(jw);
}

static int write_tokens(struct bw *w)
{
	struct cluster_tokens tok;
	struct json_writer jw;
	int rc = cluster_sm_tokens(w->sm, w->t, &tok);
	if (rc < 0)
		return rc;
	if ((rc = member_begin(w)) == 0) {
		json_w_init(&jw, w->out);
		json_w_obj_begin(&jw);
		json_token(&jw, "control", &tok.control);
		json_token(&jw, "data", &tok.data);
		json_w_obj_end(&jw);
		if (json_w_finish(&jw) < 0)
			rc = bw_fail(w, -ERR_BUF_FULL, "backup: buffer full");
	}
	pki_wipe(&tok, sizeof tok);
	return rc < 0 ? rc : member_end(w, M_TOKENS);
}

static int node_json(void *arg, const struct cluster_node *n)
{
	struct json_writer *jw = arg;
	char serial[2 * CLUSTER_SERIAL_MAX + 1], prev[2 * CLUSTER_SERIAL_MAX + 1];
	hex_encode(n->serial, n->serial_len, serial);
	hex_encode(n->prev_serial, n->prev_serial_len, prev);
	json_w_obj_begin(jw);
	json_w_key(jw, "id");
	json_w_str(jw, n->id);
	json_w_key(jw, "name");
	json_w_str(jw, n->name);
	json_w_key(jw, "role");
	json_w_str(jw, cluster_role_str(n->role));
	json_w_key(jw, "membership");
	json_w_str(jw, cluster_membership_str(n->membership));
	json_w_key(jw, "status");
	json_w_str(jw, cluster_status_str(n->status));
	json_w_key(jw, "availability");
	json_w_str(jw, cluster_avail_str(n->availability));
	json_w_key(jw, "address");
	json_w_str(jw, n->addr);
	json_w_key(jw, "joinedAt");
	json_w_int(jw, n->joined_at);
	json_w_key(jw, "statusChangedAt");
	json_w_int(jw, n->status_at);
	json_w_key(jw, "certSerial");
	json_w_str(jw, serial);
	json_w_key(jw, "certNotAfter");
	json_w_int(jw, n->cert_not_after);
	/* The certificate presented at the last renewal, still valid: "" and 0 when none. */
	json_w_key(jw, "prevCertSerial");
	json_w_str(jw, prev);
	json_w_key(jw, "prevCertNotAfter");
	json_w_int(jw, n->prev_not_after);
	json_w_obj_end(jw);
	return json_w_error(jw);
}

static int write_nodes(struct bw *w)
{
	struct json_writer jw;
	int rc = member_begin(w);
	if (rc < 0)
		return rc;
	json_w_init(&jw, w->out);
	json_w_arr_begin(&jw);
	rc = cluster_sm_nodes_each(w->sm, w->t, node_json, &jw);
	if (rc < 0 && rc != json_w_error(&jw))
		return rc;
	json_w_arr_end(&jw);
	if (json_w_finish(&jw) < 0)
		return bw_fail(w, -ERR_BUF_FULL, "backup: buffer full");
	return member_end(w, M_NODES);
}

static int revoked_line_out(void *arg, const struct cluster_revoked *r)
{
	struct bw *w = arg;
	char serial[2 * CLUSTER_SERIAL_MAX + 1], line[REVOKED_LINE_MAX + 16];
	hex_encode(r->serial, r->serial_len, serial);
	int n = snprintf(line, sizeof line, "%s %lld %lld %s\n", serial, (long long)r->not_after,
			 (long long)r->revoked_at, r->node_id[0] ? r->node_id : "-");
	if (n < 0 || (size_t)n >= sizeof line || buf_append(w->out, line, (size_t)n) < 0)
		return bw_fail(w, -ERR_BUF_FULL, "backup: buffer full");
	return 0;
}

static int write_manifest(struct bw *w, size_t start, const struct cluster_info *info,
			  uint64_t index)
{
	char mem[MANIFEST_MAX], when[TIME_RFC3339_LEN + 1], hex[65];
	struct buf mb;
	struct json_writer jw;
	buf_init(&mb, mem, sizeof mem);
	json_w_init(&jw, &mb);
	time_format_rfc3339(w->now, when);
	json_w_obj_begin(&jw);
	json_w_key(&jw, "format");
	json_w_str(&jw, CLUSTER_BACKUP_FORMAT);
	json_w_key(&jw, "version");
	json_w_int(&jw, CLUSTER_BACKUP_VERSION);
	json_w_key(&jw, "createdAt");
	json_w_str(&jw, when);
	json_w_key(&jw, "clusterId");
	json_w_str(&jw, info->id);
	json_w_key(&jw, "clusterName");
	json_w_str(&jw, info->name);
	json_w_key(&jw, "sourceIndex");
	json_w_uint(&jw, index);
	json_w_key(&jw, "routingRevision");
	json_w_uint(&jw, info->routing_revision);
	json_w_key(&jw, "limits");
	json_w_obj_begin(&jw);
	json_w_key(&jw, "maxNodes");
	json_w_uint(&jw, info->limits.max_nodes);
	json_w_key(&jw, "maxRoutingBytes");
	json_w_uint(&jw, info->limits.max_routing_bytes);
	json_w_key(&jw, "maxDeployBytes");
	json_w_uint(&jw, info->limits.max_deploy_bytes);
	json_w_key(&jw, "maxRevoked");
	json_w_uint(&jw, info->limits.max_revoked);
	json_w_obj_end(&jw);
	json_w_key(&jw, "members");
	json_w_arr_begin(&jw);
	for (int i = 0; i < w->n; i++) {
		hex_encode(w->m[i].sha, 32, hex);
		json_w_obj_begin(&jw);
		json_w_key(&jw, "name");
		json_w_str(&jw, member_names[w->m[i].id]);
		json_w_key(&jw, "size");
		json_w_uint(&jw, w->m[i].size);
		json_w_key(&jw, "sha256");
		json_w_str(&jw, hex);
		json_w_obj_end(&jw);
	}
	json_w_arr_end(&jw);
	json_w_obj_end(&jw);
	if (json_w_finish(&jw) < 0)
		return bw_fail(w, -ERR_BUF_FULL, "backup: manifest over %u bytes", MANIFEST_MAX);

	/* The manifest goes first: move the members up by its size. */
	size_t mlen = TAR_BLOCK + round_block(mb.len), body = w->out->len - start;
	if (buf_avail(w->out) < mlen)
		return bw_fail(w, -ERR_BUF_FULL, "backup: buffer full");
	uint8_t *base = w->out->data + start;
	memmove(base + mlen, base, body);
	tar_header(base, member_names[M_MANIFEST], mb.len, w->now / 1000);
	memcpy(base + TAR_BLOCK, mem, mb.len);
	memset(base + TAR_BLOCK + mb.len, 0, mlen - TAR_BLOCK - mb.len);
	buf_commit(w->out, mlen);

	/* The manifest's own hash, last, in sha256sum's format: `sha256sum -c manifest.sha256`. */
	unsigned char sum[32];
	char line[MANIFEST_SUM_LEN + 1];
	sha256(mem, mb.len, sum);
	hex_encode(sum, 32, hex);
	snprintf(line, sizeof line, "%s  %s\n", hex, member_names[M_MANIFEST]);
	int rc = member_bytes(w, M_MANIFEST_SUM, (struct slice){line, MANIFEST_SUM_LEN});
	if (rc < 0)
		return rc;
	if (buf_avail(w->out) < 2 * TAR_BLOCK)
		return bw_fail(w, -ERR_BUF_FULL, "backup: buffer full");
	memset(w->out->data + w->out->len, 0, 2 * TAR_BLOCK);
	buf_commit(w->out, 2 * TAR_BLOCK);
	return 0;
}

static int backup_members(struct bw *w, const struct cluster_info *info)
{
	struct slice lic;
	struct cluster_deployed dep;
	struct cluster_routing rt;
	int rc;

	if ((rc = cluster_sm_license(w->sm, w->t, &lic, NULL)) < 0 ||
	    (rc = member_bytes(w, M_LICENSE, lic)) < 0)
		return rc;
	if ((rc = write_ca(w)) < 0 || (rc = write_tokens(w)) < 0)
		return rc;
	rc = cluster_sm_deployed(w->sm, w->t, &dep);
	if (rc == 0)
		rc = member_bytes(w, M_DEPLOY, dep.config);
	if (rc < 0 && rc != -ERR_NOTFOUND)
		return rc;
	rc = cluster_sm_routing(w->sm, w->t, &rt);
	if (rc == 0)
		rc = member_bytes(w, M_ROUTING, rt.doc);
	if (rc < 0 && rc != -ERR_NOTFOUND)
		return rc;
	if ((rc = write_nodes(w)) < 0 || (rc = member_begin(w)) < 0)
		return rc;
	rc = cluster_sm_revoked_each(w->sm, w->t, revoked_line_out, w);
	return rc < 0 ? rc : member_end(w, M_REVOKED);
}

int cluster_backup_write(struct cluster_sm *sm, struct store_txn *t, int64_t now_ms,
			 struct buf *out)
{
	struct store_txn own;
	struct cluster_info info;
	struct bw w = {.sm = sm, .t = t, .out = out, .now = now_ms};
	size_t start = out->len;
	int rc;

	if (!t) {
		if (!sm->store)
			return bw_fail(&w, -ERR_INVAL, "backup: no store");
		if ((rc = store_txn_begin(sm->store, &own, STORE_TXN_READ)) < 0)
			return bw_fail(&w, rc, "backup: %s", sm->store->errmsg);
		w.t = &own;
	}
	rc = cluster_sm_info(sm, w.t, &info);
	if (rc == 0 && !info.initialised)
		rc = bw_fail(&w, -ERR_CLUSTER_NOT_INIT, "backup: the cluster is not initialised");
	uint64_t index = w.t->set_applied ? w.t->applied : store_applied(w.t->s);
	if (rc == 0)
		rc = backup_members(&w, &info);
	if (rc == 0)
		rc = write_manifest(&w, start, &info, index);
	if (!t)
		store_txn_abort(&own);
	if (rc < 0)
		out->len = start;
	return rc;
}

/* --- Reading ------------------------------------------------------------------------------ */

struct member {
	const uint8_t *data;
	size_t size;
	int order; /* position in the archive, from 0; -1: absent */
};

static int bfail(struct cluster_backup *b, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bfail(struct cluster_backup *b, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(b->errmsg, sizeof b->errmsg, "backup archive: ");
	vsnprintf(b->errmsg + n, sizeof b->errmsg - (size_t)n, fmt, ap);
	va_end(ap);
	return code;
}

/* Octal digits, then NULs or spaces to the end of the field. */
static int tar_num(const uint8_t *f, size_t width, uint64_t *out)
{
	size_t i = 0;
	uint64_t v = 0;
	while (i < width && f[i] >= '0' && f[i] <= '7') {
		if (v >> 60)
			return -1;
		v = v * 8 + (uint64_t)(f[i] - '0');
		i++;
	}
	if (i == 0)
		return -1;
	for (; i < width; i++)
		if (f[i] != '\0' && f[i] != ' ')
			return -1;
	*out = v;
	return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* One header at h (a whole block): the member it names and its size. */
static int tar_parse_header(struct cluster_backup *b, const uint8_t *h, size_t off, int *id,
			    uint64_t *size)
{
	uint64_t sum, v;
	if (tar_num(h + 148, 8, &sum) < 0 || sum != tar_sum(h))
		return bfail(b, -ERR_CLUSTER_BACKUP, "tar header at byte %zu: bad checksum", off);
	if (memcmp(h + 257, "ustar", 6) != 0 || memcmp(h + 263, "00", 2) != 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "tar header at byte %zu: not ustar", off);
	if (h[156] != '0' && h[156] != '\0')
		return bfail(b, -ERR_CLUSTER_BACKUP,
			     "tar header at byte %zu: not a regular file (type %u)", off, h[156]);
	if (!memchr(h, '\0', 100) || !all_zero(h + 157, 100) || !all_zero(h + 345, 155))
		return bfail(b, -ERR_CLUSTER_BACKUP,
			     "tar header at byte %zu: unexpected name fields", off);
	if (tar_num(h + 100, 8, &v) < 0 || tar_num(h + 136, 12, &v) < 0 ||
	    tar_num(h + 124, 12, size) < 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "tar header at byte %zu: bad number", off);
	for (*id = 0; *id < M_COUNT; (*id)++)
		if (strcmp((const char *)h, member_names[*id]) == 0)
			return 0;
	char name[41];
	size_t i;
	for (i = 0; i < 40 && h[i]; i++)
		name[i] = h[i] >= 0x20 && h[i] < 0x7f ? (char)h[i] : '?';
	name[i] = '\0';
	return bfail(b, -ERR_CLUSTER_BACKUP, "unexpected member \"%s\"", name);
}

static int tar_walk(struct cluster_backup *b, const uint8_t *a, size_t len, struct member *m)
{
	size_t off = 0;
	int n = 0;
	for (int i = 0; i < M_COUNT; i++)
		m[i] = (struct member){NULL, 0, -1};
	if (len % TAR_BLOCK)
		return bfail(b, -ERR_CLUSTER_BACKUP, "%zu bytes is not a whole number of blocks",
			     len);
	for (;;) {
		int id;
		uint64_t size;
		if (len - off < TAR_BLOCK)
			return bfail(b, -ERR_CLUSTER_BACKUP, "cut short: no end blocks");
		if (all_zero(a + off, TAR_BLOCK)) {
			if (len - off < 2 * TAR_BLOCK || !all_zero(a + off, len - off))
				return bfail(b, -ERR_CLUSTER_BACKUP,
					     "bad end of archive at byte %zu", off);
			return 0;
		}
		int rc = tar_parse_header(b, a + off, off, &id, &size);
		if (rc < 0)
			return rc;
		if (m[id].order >= 0)
			return bfail(b, -ERR_CLUSTER_BACKUP, "%s appears twice", member_names[id]);
		size_t data = off + TAR_BLOCK;
		if (size > len - data || round_block((size_t)size) > len - data)
			return bfail(b, -ERR_CLUSTER_BACKUP, "%s: cut short", member_names[id]);
		if (!all_zero(a + data + size, round_block((size_t)size) - (size_t)size))
			return bfail(b, -ERR_CLUSTER_BACKUP, "%s: padding not zero",
				     member_names[id]);
		m[id] = (struct member){a + data, (size_t)size, n++};
		off = data + round_block((size_t)size);
	}
}

static struct slice mslice(const struct member *m)
{
	return (struct slice){(const char *)m->data, m->size};
}

/* Copy string t into out (cap bytes, NUL included); -1 when it is not a string or too long. */
static int get_str(const struct json_doc *d, int t, char *out, size_t cap)
{
	return json_get_str(d, t, out, cap) < 0 ? -1 : 0;
}

/* Shown to operators as it is: printable ASCII only. */
static int printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

static int read_manifest(struct cluster_backup *b, const struct member *m)
{
	struct json_doc d;
	const struct member *man = &m[M_MANIFEST];
	int64_t version;
	uint64_t u;
	int seen[M_COUNT] = {0};

	if (man->order != 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "manifest.json is not the first member");
	if (man->size > MANIFEST_MAX)
		return bfail(b, -ERR_CLUSTER_BACKUP, "manifest.json over %u bytes", MANIFEST_MAX);
	/* Its own hash first: nothing in it is believed before. */
	const struct member *ms = &m[M_MANIFEST_SUM];
	unsigned char sum[32];
	char line[MANIFEST_SUM_LEN + 1], hexsum[65];
	if (ms->order < 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "manifest.sha256 is missing");
	sha256(man->data, man->size, sum);
	hex_encode(sum, 32, hexsum);
	snprintf(line, sizeof line, "%s  %s\n", hexsum, member_names[M_MANIFEST]);
	if (ms->size != MANIFEST_SUM_LEN || memcmp(ms->data, line, MANIFEST_SUM_LEN) != 0)
		return bfail(b, -ERR_CLUSTER_BACKUP,
			     "manifest.json: SHA-256 does not match manifest.sha256 (damaged "
			     "archive)");
	int rc = json_parse(&d, (const char *)man->data, man->size, b->toks, CLUSTER_DEPLOY_TOKENS);
	if (rc < 0 || json_typeof(&d, JSON_ROOT) != JSON_OBJECT)
		return bfail(b, -ERR_CLUSTER_BACKUP, "manifest.json: not a JSON object");
	if (!json_str_eq(&d, json_obj_get(&d, JSON_ROOT, "format"), CLUSTER_BACKUP_FORMAT))
		return bfail(b, -ERR_CLUSTER_BACKUP, "manifest.json: not a traefikee backup");
	if (json_get_int(&d, json_obj_get(&d, JSON_ROOT, "version"), &version) < 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "manifest.json: no version");
	if (version > CLUSTER_BACKUP_VERSION)
		return bfail(b, -ERR_CLUSTER_BACKUP_VERSION,
			     "format version %lld, this build reads %d: use a newer traefikee",
			     (long long)version, CLUSTER_BACKUP_VERSION);
	if (version != CLUSTER_BACKUP_VERSION)
		return bfail(b, -ERR_CLUSTER_BACKUP, "manifest.json: version %lld",
			     (long long)version);
	if (get_str(&d, json_obj_get(&d, JSON_ROOT, "clusterId"), b->cluster_id,
		    sizeof b->cluster_id) < 0 ||
	    !cluster_id_valid(slice_from_cstr(b->cluster_id)))
		return bfail(b, -ERR_CLUSTER_BACKUP, "manifest.json: bad clusterId");
	if (get_str(&d, json_obj_get(&d, JSON_ROOT, "clusterName"), b->name, sizeof b->name) < 0 ||
	    !cluster_name_valid(slice_from_cstr(b->name), CLUSTER_NAME_MAX))
		return bfail(b, -ERR_CLUSTER_BACKUP, "manifest.json: bad clusterName");
	if (get_str(&d, json_obj_get(&d, JSON_ROOT, "createdAt"), b->created_at,
		    sizeof b->created_at) < 0 ||
	    !printable(b->created_at))
		return bfail(b, -ERR_CLUSTER_BACKUP, "manifest.json: bad createdAt");
	if (json_get_uint(&d, json_obj_get(&d, JSON_ROOT, "sourceIndex"), &b->source_index) < 0 ||
	    json_get_uint(&d, json_obj_get(&d, JSON_ROOT, "routingRevision"),
			  &b->routing_revision) < 0)
		return bfail(b, -ERR_CLUSTER_BACKUP,
			     "manifest.json: bad sourceIndex or "
			     "routingRevision");
	static const char *const lim_keys[4] = {"maxNodes", "maxRoutingBytes", "maxDeployBytes",
						"maxRevoked"};
	uint32_t *lim[4] = {&b->limits.max_nodes, &b->limits.max_routing_bytes,
			    &b->limits.max_deploy_bytes, &b->limits.max_revoked};
	int lo = json_obj_get(&d, JSON_ROOT, "limits");
	for (int i = 0; i < 4; i++) {
		if (json_get_uint(&d, json_obj_get(&d, lo, lim_keys[i]), &u) < 0 || u > UINT32_MAX)
			return bfail(b, -ERR_CLUSTER_BACKUP, "manifest.json: bad limits.%s",
				     lim_keys[i]);
		*lim[i] = (uint32_t)u;
	}
	char why[CLUSTER_WHY_MAX];
	if (cluster_limits_check(&b->limits, why, sizeof why) < 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "manifest.json: %s", why);

	struct json_iter it;
	int e, members = json_obj_get(&d, JSON_ROOT, "members");
	if (json_typeof(&d, members) != JSON_ARRAY || json_iter_begin(&d, members, &it) < 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "manifest.json: no members list");
	while ((e = json_iter_next(&d, &it, NULL)) >= 0) {
		char name[32], hex[65];
		unsigned char want[32], got[32];
		int id;
		if (get_str(&d, json_obj_get(&d, e, "name"), name, sizeof name) < 0)
			return bfail(b, -ERR_CLUSTER_BACKUP,
				     "manifest.json: member without a name");
		for (id = 1; id < M_MANIFEST_SUM; id++)
			if (strcmp(name, member_names[id]) == 0)
				break;
		if (id == M_MANIFEST_SUM || seen[id] || m[id].order < 0)
			return bfail(b, -ERR_CLUSTER_BACKUP,
				     "manifest.json lists \"%s\", which the archive does not hold "
				     "once",
				     id == M_MANIFEST_SUM ? "?" : member_names[id]);
		seen[id] = 1;
		if (json_get_uint(&d, json_obj_get(&d, e, "size"), &u) < 0 || u != m[id].size)
			return bfail(b, -ERR_CLUSTER_BACKUP, "%s: size differs from the manifest",
				     member_names[id]);
		if (get_str(&d, json_obj_get(&d, e, "sha256"), hex, sizeof hex) < 0 ||
		    hex_decode(slice_from_cstr(hex), want, 32) < 0)
			return bfail(b, -ERR_CLUSTER_BACKUP, "manifest.json: bad sha256 for %s",
				     member_names[id]);
		sha256(m[id].data, m[id].size, got);
		if (memcmp(want, got, 32) != 0)
			return bfail(b, -ERR_CLUSTER_BACKUP,
				     "%s: SHA-256 does not match the manifest (damaged archive)",
				     member_names[id]);
	}
	for (int id = 1; id < M_MANIFEST_SUM; id++) {
		if (m[id].order >= 0 && !seen[id])
			return bfail(b, -ERR_CLUSTER_BACKUP, "%s is not in the manifest",
				     member_names[id]);
		if (m[id].order < 0 && !(M_OPTIONAL & (1u << id)))
			return bfail(b, -ERR_CLUSTER_BACKUP, "%s is missing", member_names[id]);
	}
	return 0;
}

static int read_ca(struct cluster_backup *b, const struct member *m)
{
	struct buf out;
	struct pki_key k;
	struct pki_ca ca;
	struct slice pem = mslice(&m[M_CA_CRT]);

	buf_init(&out, b->ca_cert, sizeof b->ca_cert);
	if (pki_pem_decode(&pem, PKI_PEM_CERT, &out, NULL, 0) < 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "ca.crt: no PEM certificate");
	b->ca_cert_len = out.len;
	if (pki_key_from_pem(&k, m[M_CA_KEY].data, m[M_CA_KEY].size) < 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "ca.key: no usable PEM private key");
	buf_init(&out, b->ca_key, sizeof b->ca_key);
	int rc = pki_key_to_der(&k, PKI_KEY_SEC1, &out);
	pki_key_wipe(&k);
	if (rc < 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "ca.key: cannot re-encode the key");
	b->ca_key_len = out.len;
	rc = pki_ca_load(&ca, b->ca_cert, b->ca_cert_len, b->ca_key, b->ca_key_len);
	pki_ca_wipe(&ca);
	if (rc < 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "ca.crt/ca.key: %s", err_str(rc));
	return 0;
}

static int read_token(struct cluster_backup *b, const struct json_doc *d, const char *role_key,
		      int role, const unsigned char *digest, struct cluster_token_info *out)
{
	char hex[2 * PKI_VERIFIER_LEN + 1], why[CLUSTER_WHY_MAX];
	int o = json_obj_get(d, JSON_ROOT, role_key), tk;
	if (json_typeof(d, o) != JSON_OBJECT ||
	    get_str(d, json_obj_get(d, o, "verifier"), hex, sizeof hex) < 0 ||
	    hex_decode(slice_from_cstr(hex), out->verifier, PKI_VERIFIER_LEN) < 0 ||
	    json_get_int(d, json_obj_get(d, o, "at"), &out->at) < 0 || out->at < 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "tokens.json: bad %s entry", role_key);
	tk = json_obj_get(d, o, "token");
	if (tk >= 0 && get_str(d, tk, out->text, sizeof out->text) < 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "tokens.json: bad %s token", role_key);
	struct slice text = slice_from_cstr(out->text);
	if (text.len && text.len != PKI_TOKEN_LEN)
		return bfail(b, -ERR_CLUSTER_BACKUP, "tokens.json: bad %s token", role_key);
	int rc = cluster_token_check(text,
				     (struct slice){(const char *)out->verifier, PKI_VERIFIER_LEN},
				     role, digest, why, sizeof why);
	if (rc < 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "tokens.json: %s", why);
	return 0;
}

static int read_tokens(struct cluster_backup *b, const struct member *m)
{
	struct json_doc d;
	unsigned char digest[PKI_CA_DIGEST_LEN];
	if (m[M_TOKENS].size > TOKENS_JSON_MAX ||
	    json_parse(&d, (const char *)m[M_TOKENS].data, m[M_TOKENS].size, b->toks,
		       CLUSTER_DEPLOY_TOKENS) < 0 ||
	    json_typeof(&d, JSON_ROOT) != JSON_OBJECT)
		return bfail(b, -ERR_CLUSTER_BACKUP, "tokens.json: not a JSON object");
	pki_ca_digest(b->ca_cert, b->ca_cert_len, digest);
	int rc = read_token(b, &d, "control", CLUSTER_ROLE_CONTROL, digest, &b->control);
	if (rc == 0)
		rc = read_token(b, &d, "data", CLUSTER_ROLE_DATA, digest, &b->data);
	return rc;
}

/* One revoked.txt line from *off: "<serial hex> <not_after> <revoked_at> <node ID or ->\n".
 * 1 and the fields, 0 at the end, -1 when malformed. */
static int parse_i64(struct slice s, int64_t *out)
{
	uint64_t v;
	if (s.len > 1 && s.p[0] == '0')
		return -1;
	if (slice_to_u64(s, INT64_MAX, &v) < 0)
		return -1;
	*out = (int64_t)v;
	return 0;
}

static int revoked_line(struct slice txt, size_t *off, unsigned char *serial, size_t *slen,
			int64_t *not_after, int64_t *revoked_at, char node_id[ID_LEN + 1])
{
	if (*off >= txt.len)
		return 0;
	struct slice rest = {txt.p + *off, txt.len - *off}, line, f[4];
	const char *nl = memchr(rest.p, '\n', rest.len);
	if (!nl)
		return -1;
	line = (struct slice){rest.p, (size_t)(nl - rest.p)};
	*off += line.len + 1;
	for (int i = 0; i < 4; i++) {
		struct slice tail;
		f[i] = slice_cut(line, ' ', &tail);
		if ((i < 3) != (tail.p != NULL) || f[i].len == 0)
			return -1;
		line = tail;
	}
	if (f[0].len % 2 || f[0].len / 2 < 1 || f[0].len / 2 > CLUSTER_SERIAL_MAX ||
	    hex_decode(f[0], serial, f[0].len / 2) < 0)
		return -1;
	*slen = f[0].len / 2;
	if (parse_i64(f[1], not_after) < 0 || parse_i64(f[2], revoked_at) < 0)
		return -1;
	if (slice_eq_cstr(f[3], "-"))
		node_id[0] = '\0';
	else if (cluster_id_valid(f[3]))
		memcpy(node_id, f[3].p, ID_LEN), node_id[ID_LEN] = '\0';
	else
		return -1;
	return 1;
}

static int read_documents(struct cluster_backup *b, const struct member *m)
{
	char why[CLUSTER_WHY_MAX];
	b->license = mslice(&m[M_LICENSE]);
	if (b->license.len < 1 || b->license.len > CLUSTER_LICENSE_MAX)
		return bfail(b, -ERR_CLUSTER_BACKUP, "license.txt: empty or over %d bytes",
			     CLUSTER_LICENSE_MAX);
	for (size_t i = 0; i < b->license.len; i++)
		if ((unsigned char)b->license.p[i] < 0x20 || (unsigned char)b->license.p[i] > 0x7e)
			return bfail(b, -ERR_CLUSTER_BACKUP, "license.txt: not printable text");
	if (m[M_DEPLOY].order >= 0) {
		b->deploy = mslice(&m[M_DEPLOY]);
		if (b->deploy.len > b->limits.max_deploy_bytes)
			return bfail(b, -ERR_CLUSTER_BACKUP,
				     "static-config.json over the archived max_deploy_bytes");
		if (cluster_cmd_check_deploy(b->deploy, b->toks, CLUSTER_DEPLOY_TOKENS, why,
					     sizeof why) < 0)
			return bfail(b, -ERR_CLUSTER_BACKUP, "static-config.json: %s", why);
	}
	if (m[M_ROUTING].order >= 0) {
		b->routing = mslice(&m[M_ROUTING]);
		if (b->routing.len > b->limits.max_routing_bytes)
			return bfail(b, -ERR_CLUSTER_BACKUP,
				     "routing.json over the archived max_routing_bytes");
		if (b->routing_revision == 0)
			return bfail(b, -ERR_CLUSTER_BACKUP, "routing.json without a revision");
	} else if (b->routing_revision != 0) {
		return bfail(b, -ERR_CLUSTER_BACKUP, "a routing revision without routing.json");
	}
	b->nodes = mslice(&m[M_NODES]);
	if (json_validate(b->nodes.p, b->nodes.len, NULL) < 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "nodes.json: not JSON");
	b->revoked = mslice(&m[M_REVOKED]);
	size_t off = 0;
	unsigned char serial[CLUSTER_SERIAL_MAX];
	size_t slen;
	int64_t na, ra;
	char id[ID_LEN + 1];
	int rc;
	while ((rc = revoked_line(b->revoked, &off, serial, &slen, &na, &ra, id)) == 1)
		b->nrevoked++;
	if (rc < 0)
		return bfail(b, -ERR_CLUSTER_BACKUP, "revoked.txt: line %u malformed",
			     b->nrevoked + 1);
	if (b->nrevoked > b->limits.max_revoked)
		return bfail(b, -ERR_CLUSTER_BACKUP, "revoked.txt over the archived max_revoked");
	return 0;
}

int cluster_backup_read(struct cluster_backup *b, const void *archive, size_t len)
{
	struct member m[M_COUNT];
	struct cluster_limits hard = {CLUSTER_MAX_NODES_LIMIT, CLUSTER_MAX_ROUTING_LIMIT,
				      CLUSTER_MAX_DEPLOY_LIMIT, CLUSTER_MAX_REVOKED_LIMIT};
	memset(b, 0, offsetof(struct cluster_backup, toks));
	b->errmsg[0] = '\0';
	if (!archive || len > cluster_backup_max_bytes(&hard))
		return bfail(b, -ERR_CLUSTER_BACKUP, "missing or over %zu bytes",
			     cluster_backup_max_bytes(&hard));
	int rc = tar_walk(b, archive, len, m);
	if (rc == 0)
		rc = read_manifest(b, m);
	if (rc == 0)
		rc = read_ca(b, m);
	if (rc == 0)
		rc = read_tokens(b, m);
	if (rc == 0)
		rc = read_documents(b, m);

	/* The whole restore plan must pass the checks apply will make. */
	struct cluster_restore r;
	struct cluster_cmd c;
	char why[CLUSTER_WHY_MAX];
	cluster_restore_begin(&r, b, NULL, 0);
	while (rc == 0 && (rc = cluster_restore_next(&r, &c)) == 1) {
		rc = cluster_cmd_check(&c, why, sizeof why);
		if (rc < 0)
			rc = bfail(b, -ERR_CLUSTER_BACKUP, "cannot restore: %s", why);
	}
	if (rc < 0)
		cluster_backup_wipe(b);
	return rc < 0 ? rc : 0;
}

void cluster_backup_wipe(struct cluster_backup *b)
{
	pki_wipe(b->ca_key, sizeof b->ca_key);
	b->ca_key_len = 0;
	pki_wipe(&b->control, sizeof b->control);
	pki_wipe(&b->data, sizeof b->data);
}

/* --- Restore ------------------------------------------------------------------------------ */

enum { R_INIT, R_REVOKE, R_DEPLOY, R_ROUTING, R_DONE };

void cluster_restore_begin(struct cluster_restore *r, const struct cluster_backup *b,
			   const char *cluster_id, int64_t now_ms)
{
	memset(r, 0, sizeof *r);
	r->b = b;
	r->now = now_ms;
	const char *id = cluster_id ? cluster_id : b->cluster_id;
	size_t n = strnlen(id, ID_LEN + 1);
	memcpy(r->cluster_id, id, n > ID_LEN ? ID_LEN : n);
}

int cluster_restore_next(struct cluster_restore *r, struct cluster_cmd *c)
{
	const struct cluster_backup *b = r->b;
	memset(c, 0, sizeof *c);
	switch (r->step) {
	case R_INIT: {
		struct cluster_cmd_init *in = &c->u.init;
		c->type = CLUSTER_CMD_INIT;
		in->cluster_id = slice_from_cstr(r->cluster_id);
		in->name = slice_from_cstr(b->name);
		in->created_at = r->now;
		in->license = b->license;
		in->ca_cert = (struct slice){(const char *)b->ca_cert, b->ca_cert_len};
		in->ca_key = (struct slice){(const char *)b->ca_key, b->ca_key_len};
		in->control_verifier =
			(struct slice){(const char *)b->control.verifier, PKI_VERIFIER_LEN};
		in->data_verifier =
			(struct slice){(const char *)b->data.verifier, PKI_VERIFIER_LEN};
		in->control_token = slice_from_cstr(b->control.text);
		in->data_token = slice_from_cstr(b->data.text);
		in->limits = b->limits;
		r->step = R_REVOKE;
		return 1;
	}
	case R_REVOKE: {
		size_t slen;
		int64_t na, ra;
		char id[ID_LEN + 1];
		int rc = revoked_line(b->revoked, &r->off, r->serial, &slen, &na, &ra, id);
		if (rc < 0)
			return -ERR_CLUSTER_BACKUP;
		if (rc == 1) {
			c->type = CLUSTER_CMD_CERT_REVOKE;
			c->u.revoke.serial = (struct slice){(const char *)r->serial, slen};
			c->u.revoke.not_after = na;
			c->u.revoke.at = ra;
			return 1;
		}
		r->step = R_DEPLOY;
	}
		/* fall through */
	case R_DEPLOY:
		r->step = R_ROUTING;
		if (b->deploy.len) {
			c->type = CLUSTER_CMD_DEPLOY;
			c->u.deploy.config = b->deploy;
			c->u.deploy.at = r->now;
			return 1;
		}
		/* fall through */
	case R_ROUTING:
		r->step = R_DONE;
		if (b->routing.len) {
			c->type = CLUSTER_CMD_ROUTING_SET;
			c->u.routing.revision = b->routing_revision;
			c->u.routing.at = r->now;
			c->u.routing.doc = b->routing;
			return 1;
		}
		return 0;
	default: return 0;
	}
}
