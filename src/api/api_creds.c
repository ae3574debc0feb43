/* api_creds.c — admin credentials: issue, check, write, load, copy (api_creds.h). */
#include "api/api_creds.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base_err.h"
#include "json/json.h"
#include "json/json_write.h"
#include "pki/pki_key.h"
#include "pki/pki_pem.h"
#include "tls/tls.h"

static int creds_err(struct api_creds *cr, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int creds_err(struct api_creds *cr, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cr->errmsg, sizeof cr->errmsg, fmt, ap);
	va_end(ap);
	return err;
}

void api_creds_wipe(struct api_creds *cr)
{
	pki_wipe(cr, sizeof *cr);
}

static int path_join(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= cap ? -ERR_RANGE : 0;
}

/* Issue ------------------------------------------------------------------------------------ */

int api_creds_issue(struct api_creds *cr, const struct pki_ca *ca, struct rand *r, const char *name,
		    int64_t lifetime, int64_t now)
{
	memset(cr, 0, sizeof *cr);
	struct pki_key key;
	int rc = pki_key_generate(&key, r);
	if (rc)
		return creds_err(cr, rc, "cannot generate the admin key: %s", err_str(rc));
	if (lifetime == 0)
		lifetime = ca->info.not_after - now;
	if (lifetime < PKI_LIFETIME_MIN)
		lifetime = PKI_LIFETIME_MIN;
	struct pki_cert_req req = {PKI_ROLE_ADMIN, name, key.pub, lifetime, NULL, 0, NULL, 0};
	/* base64 (4/3), a LF per 64 columns, two banner lines, a NUL */
	_Static_assert(PKI_CERT_MAX / 3 * 4 + 4 + PKI_CERT_MAX / 48 + 2 + 64 + 1 <=
			       API_CREDS_PEM_MAX,
		       "the PEM of any certificate fits its buffer");
	uint8_t der[PKI_CERT_MAX];
	struct buf db, pb;
	buf_init(&db, der, sizeof der);
	rc = pki_cert_issue(ca, r, &req, now, &db);
	if (rc) {
		pki_key_wipe(&key);
		return creds_err(cr, rc, "cannot issue the admin certificate: %s", err_str(rc));
	}
	buf_init(&pb, cr->cert_pem, sizeof cr->cert_pem);
	rc = pki_pem_encode(PKI_PEM_CERT, der, db.len, &pb);
	cr->cert_len = pb.len;
	buf_init(&pb, cr->ca_pem, sizeof cr->ca_pem);
	rc = rc ? rc : pki_pem_encode(PKI_PEM_CERT, ca->cert, ca->cert_len, &pb);
	cr->ca_len = pb.len;
	buf_init(&pb, cr->key_pem, sizeof cr->key_pem);
	rc = rc ? rc : pki_key_to_pem(&key, PKI_KEY_SEC1, &pb);
	cr->key_len = pb.len;
	pki_key_wipe(&key);
	if (rc)
		return creds_err(cr, rc, "cannot encode the admin credentials: %s", err_str(rc));
	return api_creds_check(cr, now);
}

/* Check ------------------------------------------------------------------------------------ */

static int pem_cert(struct api_creds *cr, const char *file, const char *pem, size_t len,
		    uint8_t *der, size_t *der_len, struct pki_cert_info *info)
{
	struct slice in = {pem, len};
	struct buf b;
	buf_init(&b, der, PKI_CERT_MAX);
	int rc = pki_pem_decode(&in, PKI_PEM_CERT, &b, NULL, 0);
	if (rc == -ERR_NOTFOUND)
		return creds_err(cr, -ERR_API_CREDS, "%s holds no PEM CERTIFICATE", file);
	if (rc)
		return creds_err(cr, -ERR_API_CREDS, "%s: malformed PEM (%s)", file, err_str(rc));
	if (pki_cert_parse(b.data, b.len, info) != 0)
		return creds_err(cr, -ERR_API_CREDS,
				 "%s: not a cluster certificate (malformed, or not ECDSA P-256)",
				 file);
	*der_len = b.len;
	return 0;
}

int api_creds_check(struct api_creds *cr, int64_t now)
{
	uint8_t ca_der[PKI_CERT_MAX], der[PKI_CERT_MAX];
	size_t ca_len, len;
	struct pki_cert_info ca, leaf;
	struct pki_identity ca_id;

	memset(&cr->admin, 0, sizeof cr->admin);
	cr->not_after = 0;
	int rc = pem_cert(cr, API_CREDS_CA_FILE, cr->ca_pem, cr->ca_len, ca_der, &ca_len, &ca);
	if (rc)
		return rc;
	if (!ca.is_ca)
		return creds_err(cr, -ERR_API_CREDS, "%s is not a CA certificate",
				 API_CREDS_CA_FILE);
	rc = pem_cert(cr, API_CREDS_CERT_FILE, cr->cert_pem, cr->cert_len, der, &len, &leaf);
	if (rc)
		return rc;
	if (pki_name_identity(leaf.dn, leaf.dn_len, &cr->admin) != 0 ||
	    cr->admin.role != PKI_ROLE_ADMIN)
		return creds_err(cr, -ERR_API_CREDS,
				 "%s is not an admin certificate (its subject has no OU=admin)",
				 API_CREDS_CERT_FILE);
	if (pki_name_identity(ca.dn, ca.dn_len, &ca_id) == 0 &&
	    strcmp(ca_id.cluster, cr->admin.cluster) != 0)
		return creds_err(cr, -ERR_API_CREDS, "%s is for cluster \"%s\" but %s for \"%s\"",
				 API_CREDS_CERT_FILE, cr->admin.cluster, API_CREDS_CA_FILE,
				 ca_id.cluster);
	br_x509_trust_anchor ta;
	pki_cert_trust_anchor(&ca, &ta);
	int br = 0;
	if (pki_cert_verify(&ta, 1, der, len, now, NULL, &br) != 0) {
		const char *why = "not signed by the CA in " API_CREDS_CA_FILE;
		if (br == BR_ERR_X509_EXPIRED)
			why = "expired, or not valid yet (check the clock)";
		return creds_err(cr, -ERR_API_CREDS, "%s is not valid: %s (%s)",
				 API_CREDS_CERT_FILE, why, tls_br_err_name(br));
	}
	struct pki_key key;
	rc = pki_key_from_pem(&key, cr->key_pem, cr->key_len);
	if (rc) {
		pki_key_wipe(&key);
		return creds_err(cr, -ERR_API_CREDS, "%s: %s", API_CREDS_KEY_FILE,
				 rc == -ERR_NOTFOUND ? "no PEM EC PRIVATE KEY or PRIVATE KEY"
						     : "malformed or not a P-256 key");
	}
	bool match = memcmp(key.pub, leaf.pub, sizeof key.pub) == 0;
	pki_key_wipe(&key);
	if (!match)
		return creds_err(cr, -ERR_API_CREDS, "%s does not belong to %s", API_CREDS_KEY_FILE,
				 API_CREDS_CERT_FILE);
	cr->not_after = leaf.not_after;
	cr->errmsg[0] = 0;
	return 0;
}

int api_creds_address_check(const char *addr)
{
	char host[API_ADDR_MAX];
	uint16_t port;
	if (api_addr_split(addr, host, sizeof host, &port) != 0 || host[0] == 0 || port == 0)
		return -ERR_INVAL;
	return 0;
}

/* Write ------------------------------------------------------------------------------------ */

/* mkdir -p with mode 0700 for what it creates; dir itself ends up 0700. */
static int dir_make_private(struct api_creds *cr, const char *dir)
{
	char p[PKI_PATH_MAX];
	size_t n = strlen(dir);
	if (n == 0)
		return creds_err(cr, -ERR_INVAL, "empty credentials directory");
	if (n >= sizeof p)
		return creds_err(cr, -ERR_RANGE, "credentials directory path too long");
	memcpy(p, dir, n + 1);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = 0;
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != 0)
			continue;
		char save = p[i];
		p[i] = 0;
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			int e = errno;
			return creds_err(cr, err_from_errno(e), "cannot create %s: %s", p,
					 strerror(e));
		}
		p[i] = save;
	}
	struct stat st;
	if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
		return creds_err(cr, -ERR_EXISTS, "%s is not a directory", p);
	if ((st.st_mode & 0777) != 0700 && chmod(p, 0700) != 0) {
		int e = errno;
		return creds_err(cr, err_from_errno(e), "cannot make %s private (chmod 0700): %s",
				 p, strerror(e));
	}
	return 0;
}

static int write_one(struct api_creds *cr, const char *dir, const char *name, const void *data,
		     size_t len, mode_t mode)
{
	char path[PKI_PATH_MAX];
	if (path_join(path, sizeof path, dir, name))
		return creds_err(cr, -ERR_RANGE, "path too long: %s/%s", dir, name);
	int rc = pki_file_write_atomic(path, data, len, mode);
	if (rc)
		return creds_err(cr, rc, "cannot write %s: %s", path, err_str(rc));
	return 0;
}

int api_creds_write(struct api_creds *cr, const char *dir)
{
	int rc = dir_make_private(cr, dir);
	rc = rc ? rc
		: write_one(cr, dir, API_CREDS_CA_FILE, cr->ca_pem, cr->ca_len, PKI_FILE_MODE_CERT);
	rc = rc ? rc
		: write_one(cr, dir, API_CREDS_CERT_FILE, cr->cert_pem, cr->cert_len,
			    PKI_FILE_MODE_CERT);
	rc = rc ? rc
		: write_one(cr, dir, API_CREDS_KEY_FILE, cr->key_pem, cr->key_len,
			    PKI_FILE_MODE_KEY);
	if (rc || !cr->address[0])
		return rc;
	if (api_creds_address_check(cr->address))
		return creds_err(cr, -ERR_INVAL, "invalid API address \"%s\" (want host:port)",
				 cr->address);
	char text[API_CREDS_CONFIG_MAX];
	struct buf b;
	struct json_writer w;
	buf_init(&b, text, sizeof text - 1);
	json_w_init(&w, &b);
	json_w_obj_begin(&w);
	json_w_key(&w, "apiAddress");
	json_w_str(&w, cr->address);
	json_w_obj_end(&w);
	rc = json_w_finish(&w);
	if (rc == 0)
		rc = buf_append_byte(&b, '\n');
	if (rc)
		return creds_err(cr, rc, "cannot encode %s", API_CREDS_CONFIG_FILE);
	return write_one(cr, dir, API_CREDS_CONFIG_FILE, b.data, b.len, PKI_FILE_MODE_KEY);
}

/* Load ------------------------------------------------------------------------------------- */

static int read_one(struct api_creds *cr, const char *dir, const char *name, char *out, size_t cap,
		    size_t *len)
{
	char path[PKI_PATH_MAX];
	struct buf b;
	*len = 0;
	if (path_join(path, sizeof path, dir, name))
		return creds_err(cr, -ERR_RANGE, "path too long: %s/%s", dir, name);
	buf_init(&b, out, cap);
	int rc = pki_file_read(path, &b);
	switch (rc) {
	case 0: *len = b.len; return 0;
	case -ERR_NOTFOUND:
		return creds_err(cr, rc,
				 "missing %s (the credentials written by bootstrap: "
				 "ca.pem, admin.pem, admin.key)",
				 path);
	case -ERR_PERM: return creds_err(cr, rc, "cannot read %s: permission denied", path);
	case -ERR_TOO_LARGE:
		return creds_err(cr, -ERR_API_CREDS, "%s is over %zu bytes: not a credentials file",
				 path, cap);
	default: return creds_err(cr, rc, "cannot read %s: %s", path, err_str(rc));
	}
}

static int read_config(struct api_creds *cr, const char *dir, bool need)
{
	char text[API_CREDS_CONFIG_MAX];
	size_t len;
	int rc = read_one(cr, dir, API_CREDS_CONFIG_FILE, text, sizeof text, &len);
	if (rc == -ERR_NOTFOUND && !need) {
		cr->errmsg[0] = 0;
		return 0;
	}
	if (rc == -ERR_NOTFOUND)
		return creds_err(cr, rc,
				 "missing %s/%s: run traefikeectl connect "
				 "--onpremise.apiaddress=HOST:55055 first",
				 dir, API_CREDS_CONFIG_FILE);
	if (rc)
		return rc;
	json_tok toks[16];
	struct json_doc doc;
	int t = json_parse(&doc, text, len, toks, 16);
	if (t >= 0)
		t = json_obj_get(&doc, JSON_ROOT, "apiAddress");
	if (t >= 0)
		t = json_get_str(&doc, t, cr->address, sizeof cr->address);
	if (t < 0 || api_creds_address_check(cr->address) != 0) {
		cr->address[0] = 0;
		return creds_err(cr, -ERR_API_CREDS,
				 "%s/%s is malformed: want {\"apiAddress\":\"host:port\"}", dir,
				 API_CREDS_CONFIG_FILE);
	}
	return 0;
}

int api_creds_load(struct api_creds *cr, const char *dir, bool need_address, int64_t now)
{
	memset(cr, 0, sizeof *cr);
	struct stat st;
	if (stat(dir, &st) != 0) {
		int e = errno;
		if (e == ENOENT)
			return creds_err(
				cr, -ERR_NOTFOUND,
				"no credentials directory %s (copy the files bootstrap "
				"wrote to --mtlscertsoutputdir, or run traefikeectl connect)",
				dir);
		return creds_err(cr, err_from_errno(e), "cannot open %s: %s", dir, strerror(e));
	}
	if (!S_ISDIR(st.st_mode))
		return creds_err(cr, -ERR_API_CREDS, "%s is not a directory", dir);
	int rc = read_one(cr, dir, API_CREDS_CA_FILE, cr->ca_pem, sizeof cr->ca_pem, &cr->ca_len);
	rc = rc ? rc
		: read_one(cr, dir, API_CREDS_CERT_FILE, cr->cert_pem, sizeof cr->cert_pem,
			   &cr->cert_len);
	rc = rc ? rc
		: read_one(cr, dir, API_CREDS_KEY_FILE, cr->key_pem, sizeof cr->key_pem,
			   &cr->key_len);
	rc = rc ? rc : read_config(cr, dir, need_address);
	if (rc)
		return rc;
	rc = api_creds_check(cr, now);
	if (rc) {
		char why[sizeof cr->errmsg];
		memcpy(why, cr->errmsg, sizeof why);
		why[sizeof why - 100] = 0;
		return creds_err(cr, rc, "%s: %s", dir, why);
	}
	return 0;
}

/* Paths and connect ------------------------------------------------------------------------ */

static bool cluster_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > API_CLUSTER_NAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

int api_creds_cluster_dir(char *out, size_t cap, const char *home, const char *cluster)
{
	if (cap)
		out[0] = 0;
	if (!home || home[0] != '/' || !cluster || !cluster_name_ok(cluster))
		return -ERR_INVAL;
	size_t hl = strlen(home);
	while (hl > 1 && home[hl - 1] == '/')
		hl--;
	int n = snprintf(out, cap, "%.*s/.config/traefikee/%s", (int)hl, home, cluster);
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			out[0] = 0;
		return -ERR_RANGE;
	}
	return 0;
}

int api_creds_connect(struct api_creds *cr, const char *src_dir, const char *address,
		      const char *dst_dir, int64_t now)
{
	int rc = api_creds_load(cr, src_dir, false, now);
	if (rc)
		return rc;
	if (!address || !address[0])
		return creds_err(cr, -ERR_INVAL, "no API address (--onpremise.apiaddress=HOST:%d)",
				 API_DEFAULT_PORT);
	char addr[API_ADDR_MAX];
	int n;
	if (api_creds_address_check(address) == 0)
		n = snprintf(addr, sizeof addr, "%s", address);
	else if (!strchr(address, ':') ||
		 (address[0] == '[' && address[strlen(address) - 1] == ']'))
		n = snprintf(addr, sizeof addr, "%s:%d", address, API_DEFAULT_PORT);
	else
		n = -1;
	if (n < 0 || (size_t)n >= sizeof addr || api_creds_address_check(addr) != 0)
		return creds_err(cr, -ERR_INVAL,
				 "invalid API address \"%s\" (want HOST:PORT, e.g. 10.0.0.1:%d)",
				 address, API_DEFAULT_PORT);
	memcpy(cr->address, addr, sizeof addr);
	return api_creds_write(cr, dst_dir);
}
