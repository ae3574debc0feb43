/* node_util.c — small helpers shared by the node files: flag lookups, the files of a state
 * directory (node.json and the node's PEM files), raft ids, names, hex, DER serials.
 *
 * Everything here makes blocking system calls: start-up and CLI paths only, never the loop
 * (except node_raft_id, node_hex and node_cert_serial, which are pure).
 */
#include "node/node.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bearssl.h>

#include "api/api_server.h"
#include "base/base_buf.h"
#include "base/base_err.h"
#include "cluster/cluster_sm.h"
#include "json/json.h"
#include "json/json_write.h"
#include "pki/pki_der.h"
#include "pki/pki_pem.h"

/* --- Flags ------------------------------------------------------------------------------ */

static const struct node_arg *arg_find(const struct node_args *a, const char *name)
{
	for (size_t i = 0; i < a->n; i++)
		if (slice_eq_cstr_ci(slice_from_cstr(a->v[i].name), name))
			return &a->v[i];
	return NULL;
}

const char *node_arg_str(const struct node_args *a, const char *name)
{
	const struct node_arg *v = arg_find(a, name);
	return v ? v->value : NULL;
}

bool node_arg_given(const struct node_args *a, const char *name)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].set && slice_eq_cstr_ci(slice_from_cstr(a->v[i].name), name))
			return true;
	return false;
}

bool node_arg_bool(const struct node_args *a, const char *name)
{
	const char *s = node_arg_str(a, name);
	return s && strcmp(s, "true") == 0;
}

long long node_arg_int(const struct node_args *a, const char *name, long long def)
{
	const char *s = node_arg_str(a, name);
	if (!s || !*s)
		return def;
	char *end;
	long long v = strtoll(s, &end, 10);
	return *end ? def : v;
}

/* --- Pure helpers ----------------------------------------------------------------------- */

uint64_t node_raft_id(const char *node_id)
{
	/* Node IDs are 128 random bits; raft ids are 64. A hash keeps every id non-zero and the
	 * mapping the same on every node (raft.md: never reuse an id — new nodes get new IDs). */
	br_sha256_context c;
	uint8_t h[32];
	br_sha256_init(&c);
	br_sha256_update(&c, "traefikee raft id v1", 20);
	br_sha256_update(&c, node_id, strlen(node_id));
	br_sha256_out(&c, h);
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | h[i];
	return v ? v : 1;
}

void node_hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int node_unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
	if (slen != 2 * n)
		return -ERR_PARSE;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -ERR_PARSE;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int node_cert_serial(const uint8_t *der, size_t len, struct slice *serial)
{
	struct pki_der_rd r = pki_der_rd_make(der, len);
	struct pki_der_tlv cert, tbs, e;
	if (pki_der_expect(&r, PKI_DER_SEQUENCE, &cert) < 0)
		return -ERR_PKI_CERT;
	struct pki_der_rd c = pki_der_rd_inside(&cert);
	if (pki_der_expect(&c, PKI_DER_SEQUENCE, &tbs) < 0)
		return -ERR_PKI_CERT;
	struct pki_der_rd t = pki_der_rd_inside(&tbs);
	if (pki_der_next(&t, &e) < 0)
		return -ERR_PKI_CERT;
	if (e.tag == PKI_DER_CTX_CONS(0) && pki_der_next(&t, &e) < 0)
		return -ERR_PKI_CERT;
	if (e.tag != PKI_DER_INTEGER || e.len == 0 || e.len > CLUSTER_SERIAL_MAX)
		return -ERR_PKI_CERT;
	*serial = (struct slice){(const char *)e.v, e.len};
	return 0;
}

int node_pem_cert_der(const char *pem, size_t len, uint8_t *out, size_t cap)
{
	struct slice in = {pem, len};
	struct buf b;
	buf_init(&b, out, cap);
	int rc = pki_pem_decode(&in, PKI_PEM_CERT, &b, NULL, 0);
	return rc < 0 ? rc : (int)b.len;
}

/* --- Files ------------------------------------------------------------------------------ */

int node_path(char *out, size_t cap, const char *dir, const char *file)
{
	int n = snprintf(out, cap, "%s/%s", dir, file);
	return n < 0 || (size_t)n >= cap ? -ERR_RANGE : 0;
}

int node_mkdir_p(const char *dir)
{
	char p[NODE_PATH_MAX];
	if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
		return -ERR_RANGE;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return err_from_errno(errno);
		*s = '/';
	}
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		return err_from_errno(errno);
	return 0;
}

int node_dir_lock(const char *dir, char *err, size_t cap)
{
	char p[NODE_PATH_MAX];
	int rc = node_mkdir_p(dir);
	if (rc < 0) {
		snprintf(err, cap, "cannot create the state directory %s: %s", dir, err_str(rc));
		return rc;
	}
	if (node_path(p, sizeof p, dir, "lock") < 0)
		return -ERR_RANGE;
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = err_from_errno(errno);
		snprintf(err, cap, "cannot open %s: %s", p, strerror(errno));
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		snprintf(err, cap,
			 "the state directory %s is in use by another node process (one process "
			 "per --statedir)",
			 dir);
		return -ERR_STORE_LOCKED;
	}
	return fd;
}

static int read_file(const char *dir, const char *name, char *out, size_t cap, size_t *len)
{
	char p[NODE_PATH_MAX];
	struct buf b;
	if (node_path(p, sizeof p, dir, name) < 0)
		return -ERR_RANGE;
	buf_init(&b, out, cap - 1);
	int rc = pki_file_read(p, &b);
	if (rc < 0)
		return rc;
	out[b.len] = '\0';
	*len = b.len;
	return 0;
}

static int write_file(const char *dir, const char *name, const void *p, size_t len, mode_t mode)
{
	char path[NODE_PATH_MAX];
	if (node_path(path, sizeof path, dir, name) < 0)
		return -ERR_RANGE;
	return pki_file_write_atomic(path, p, len, mode);
}

static int role_parse(const struct json_doc *d, int t)
{
	if (json_str_eq(d, t, "control"))
		return CLUSTER_ROLE_CONTROL;
	if (json_str_eq(d, t, "data"))
		return CLUSTER_ROLE_DATA;
	return -ERR_PARSE;
}

int node_ident_load(const char *dir, struct node_ident *id, char *err, size_t cap)
{
	static char text[8192];
	json_tok toks[128];
	struct json_doc d;
	size_t len;
	memset(id, 0, sizeof *id);
	int rc = read_file(dir, "node.json", text, sizeof text, &len);
	if (rc == -ERR_NOTFOUND)
		return rc;
	if (rc < 0) {
		snprintf(err, cap, "cannot read %s/node.json: %s", dir, err_str(rc));
		return rc;
	}
	rc = json_parse(&d, text, len, toks, 128);
	if (rc < 0 || json_typeof(&d, JSON_ROOT) != JSON_OBJECT)
		goto bad;
	if (json_get_str(&d, json_obj_get(&d, JSON_ROOT, "clusterId"), id->cluster_id,
			 sizeof id->cluster_id) != ID_LEN ||
	    json_get_str(&d, json_obj_get(&d, JSON_ROOT, "nodeId"), id->node_id,
			 sizeof id->node_id) != ID_LEN ||
	    json_get_str(&d, json_obj_get(&d, JSON_ROOT, "clusterName"), id->cluster_name,
			 sizeof id->cluster_name) < 1 ||
	    json_get_str(&d, json_obj_get(&d, JSON_ROOT, "name"), id->name, sizeof id->name) < 1)
		goto bad;
	id->role = role_parse(&d, json_obj_get(&d, JSON_ROOT, "role"));
	if (id->role < 0)
		goto bad;
	int peers = json_obj_get(&d, JSON_ROOT, "peers");
	struct json_iter it;
	int v;
	if (json_iter_begin(&d, peers, &it) == 0)
		while ((v = json_iter_next(&d, &it, NULL)) >= 0 && id->npeers < NODE_PEERS_MAX)
			if (json_get_str(&d, v, id->peers[id->npeers], NODE_ADDR_MAX) > 0)
				id->npeers++;
	return 0;
bad:
	snprintf(err, cap, "%s/node.json is malformed (remove the state directory to start over)",
		 dir);
	return -ERR_PARSE;
}

int node_ident_save(const char *dir, const struct node_ident *id)
{
	char text[8192];
	struct buf b;
	struct json_writer w;
	buf_init(&b, text, sizeof text);
	json_w_init(&w, &b);
	json_w_obj_begin(&w);
	json_w_key(&w, "clusterId");
	json_w_str(&w, id->cluster_id);
	json_w_key(&w, "clusterName");
	json_w_str(&w, id->cluster_name);
	json_w_key(&w, "nodeId");
	json_w_str(&w, id->node_id);
	json_w_key(&w, "name");
	json_w_str(&w, id->name);
	json_w_key(&w, "role");
	json_w_str(&w, id->role == CLUSTER_ROLE_CONTROL ? "control" : "data");
	json_w_key(&w, "peers");
	json_w_arr_begin(&w);
	for (size_t i = 0; i < id->npeers; i++)
		json_w_str(&w, id->peers[i]);
	json_w_arr_end(&w);
	json_w_obj_end(&w);
	int rc = json_w_finish(&w);
	if (rc < 0)
		return rc;
	buf_append_byte(&b, '\n');
	return write_file(dir, "node.json", b.data, b.len, 0600);
}

/* A renewal that a crash interrupted: renew.pem holds the new certificate then its key
 * (node_creds_replace); finish putting them in place. */
static int creds_finish_replace(const char *dir)
{
	static char text[2 * NODE_PEM_MAX];
	size_t len;
	int rc = read_file(dir, "renew.pem", text, sizeof text, &len);
	if (rc == -ERR_NOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	const char *k = strstr(text, "-----BEGIN EC PRIVATE KEY-----");
	if (!k || k == text)
		return -ERR_PARSE;
	size_t cl = (size_t)(k - text);
	if ((rc = write_file(dir, "node.key", k, len - cl, PKI_FILE_MODE_KEY)) < 0 ||
	    (rc = write_file(dir, "node.crt", text, cl, PKI_FILE_MODE_CERT)) < 0)
		return rc;
	char p[NODE_PATH_MAX];
	if (node_path(p, sizeof p, dir, "renew.pem") == 0 && unlink(p) < 0 && errno != ENOENT)
		return -ERR_IO;
	pki_wipe(text, sizeof text);
	return 0;
}

int node_creds_replace(const char *dir, const struct node_creds *c)
{
	static char text[2 * NODE_PEM_MAX];
	if (c->cert_len + c->key_len > sizeof text)
		return -ERR_TOO_LARGE;
	memcpy(text, c->cert, c->cert_len);
	memcpy(text + c->cert_len, c->key, c->key_len);
	int rc = write_file(dir, "renew.pem", text, c->cert_len + c->key_len, PKI_FILE_MODE_KEY);
	pki_wipe(text, sizeof text);
	return rc < 0 ? rc : creds_finish_replace(dir);
}

int node_creds_load(const char *dir, struct node_creds *c)
{
	int rc = creds_finish_replace(dir);
	if (rc < 0)
		return rc;
	rc = read_file(dir, "node.crt", c->cert, sizeof c->cert, &c->cert_len);
	if (rc == 0)
		rc = read_file(dir, "node.key", c->key, sizeof c->key, &c->key_len);
	if (rc == 0)
		rc = read_file(dir, "ca.crt", c->ca, sizeof c->ca, &c->ca_len);
	return rc;
}

int node_creds_save(const char *dir, const struct node_creds *c)
{
	int rc = write_file(dir, "node.key", c->key, c->key_len, PKI_FILE_MODE_KEY);
	if (rc == 0)
		rc = write_file(dir, "node.crt", c->cert, c->cert_len, PKI_FILE_MODE_CERT);
	if (rc == 0)
		rc = write_file(dir, "ca.crt", c->ca, c->ca_len, PKI_FILE_MODE_CERT);
	return rc;
}

/* --- Options ---------------------------------------------------------------------------- */

int node_peers_parse(struct node_opts *o, const char *list, char *err, size_t cap)
{
	struct slice rest = slice_from_cstr(list ? list : ""), item;
	while (rest.p && rest.len) {
		item = slice_trim_ows(slice_cut(rest, ',', &rest));
		if (!item.len)
			continue;
		char a[NODE_ADDR_MAX], host[NODE_ADDR_MAX];
		uint16_t port;
		if (slice_to_cstr(item, a, sizeof a) < 0 ||
		    api_addr_split(a, host, sizeof host, &port) < 0 || !host[0] || !port) {
			snprintf(err, cap, "--peeraddresses: \"%.*s\" is not host:port",
				 (int)(item.len > 100 ? 100 : item.len), item.p);
			return -ERR_USAGE;
		}
		bool dup = false;
		for (size_t i = 0; i < o->npeers; i++)
			dup |= strcmp(o->peers[i], a) == 0;
		if (dup)
			continue;
		if (o->npeers == NODE_PEERS_MAX) {
			snprintf(err, cap, "--peeraddresses: more than %d addresses",
				 NODE_PEERS_MAX);
			return -ERR_USAGE;
		}
		snprintf(o->peers[o->npeers++], NODE_ADDR_MAX, "%s", a);
	}
	return 0;
}

int node_name_resolve(char *out, size_t cap, const char *flag, char *err, size_t errcap)
{
	char host[256];
	const char *n = flag;
	if (!n || !*n) {
		if (gethostname(host, sizeof host) < 0)
			snprintf(host, sizeof host, "node");
		host[sizeof host - 1] = '\0';
		char *dot = strchr(host, '.');
		if (dot)
			*dot = '\0';
		n = host;
	}
	if (!cluster_name_valid(slice_from_cstr(n), CLUSTER_NODE_NAME_MAX)) {
		snprintf(err, errcap,
			 "node name \"%.64s\" is not 1..%d characters of [A-Za-z0-9._-]%s", n,
			 CLUSTER_NODE_NAME_MAX, flag && *flag ? "" : " (set one with --name)");
		return -ERR_USAGE;
	}
	snprintf(out, cap, "%s", n);
	return 0;
}

void node_daemon_signals(void)
{
	signal(SIGPIPE, SIG_IGN);
}

void node_json_members(struct json_writer *w, const struct cluster_node *n, bool leader)
{
	json_w_key(w, "id");
	json_w_str(w, n->id);
	json_w_key(w, "name");
	json_w_str(w, n->name);
	json_w_key(w, "role");
	json_w_str(w, cluster_role_str(n->role));
	json_w_key(w, "membership");
	json_w_str(w, cluster_membership_str(n->membership));
	json_w_key(w, "status");
	json_w_str(w, cluster_status_str(n->status));
	json_w_key(w, "availability");
	json_w_str(w, cluster_avail_str(n->availability));
	json_w_key(w, "address");
	json_w_str(w, n->addr);
	json_w_key(w, "leader");
	json_w_bool(w, leader);
}
