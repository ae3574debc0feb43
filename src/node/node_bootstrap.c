/* node_bootstrap.c — the material of a new cluster, made by `traefikee bootstrap`.
 *
 * Before the loop starts, with the store open and empty:
 *   1. refuse an --mtlscertsoutputdir that already holds admin credentials (they are written
 *      once per cluster and must not be overwritten by another cluster's);
 *   2. make the cluster CA (or load it from --archivepath), the two join tokens, this node's
 *      key and certificate (control node, SAN = the --advertise host), and admin credentials,
 *      written to --mtlscertsoutputdir (api_creds_write);
 *   3. encode the commands that create the cluster: CLUSTER_INIT (identity, license, CA,
 *      token verifiers and texts, limits) — or, for a restore, the archive's commands
 *      (cluster_restore_next) — then NODE_JOIN of this node. node_control.c proposes them
 *      once this node leads its single-voter configuration;
 *   4. write node.json, the node's PEM files and the bootstrap record (below), then the
 *      store identity.
 * Secrets (the CA key, token secrets) are wiped from every local copy once encoded.
 *
 * The bootstrap record, BOOTSTRAP_FILE in the state directory, says that this directory holds
 * the node that created its cluster, with the --controlnodes it waits for and its deadline
 * (wall clock). A restart from the directory (`start-control-node --statedir`, what the
 * bootstrap VM's supervisor runs once the directory holds a node) reads it in
 * ctl_bootstrap_resume: a hand-over still in progress is resumed (same Raft log, same
 * deadline as the joiners were told); a completed one is not run again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "api/api_creds.h"
#include "base/base_err.h"
#include "base/base_log.h"
#include "base/base_time.h"
#include "cluster/cluster_backup.h"
#include "node/node_control.h"
#include "pki/pki_pem.h"
#include "pki/pki_token.h"

#define BOOTSTRAP_FILE "bootstrap"
#define BOOTSTRAP_MAGIC "traefikee-bootstrap-v1"

/* Append one command, length-prefixed, to c->boot_cmds (cap already sized). */
static int boot_add(struct ctl *c, size_t cap, const struct cluster_cmd *cmd, char *err,
		    size_t errcap)
{
	char why[CLUSTER_WHY_MAX];
	int rc = cluster_cmd_check(cmd, why, sizeof why);
	if (rc < 0) {
		snprintf(err, errcap, "cannot create the cluster: %s", why);
		return rc;
	}
	size_t need = cluster_cmd_size(cmd);
	if (c->boot_cmds_len + 4 + need > cap || need > CTL_MAX_ENTRY) {
		snprintf(err, errcap,
			 "cannot create the cluster: a %s command of %zu bytes is too "
			 "large",
			 cluster_cmd_type_name(cmd->type), need);
		return -ERR_TOO_LARGE;
	}
	struct buf b;
	buf_init(&b, c->boot_cmds + c->boot_cmds_len + 4, cap - c->boot_cmds_len - 4);
	rc = cluster_cmd_encode(cmd, &b);
	if (rc < 0) {
		snprintf(err, errcap, "cannot encode %s: %s", cluster_cmd_type_name(cmd->type),
			 err_str(rc));
		return rc;
	}
	uint8_t *p = c->boot_cmds + c->boot_cmds_len;
	p[0] = (uint8_t)(b.len >> 24);
	p[1] = (uint8_t)(b.len >> 16);
	p[2] = (uint8_t)(b.len >> 8);
	p[3] = (uint8_t)b.len;
	c->boot_cmds_len += 4 + b.len;
	return 0;
}

static int pem_of(const char *banner, const void *der, size_t len, char *out, size_t cap,
		  size_t *olen)
{
	struct buf b;
	buf_init(&b, out, cap);
	int rc = pki_pem_encode(banner, der, len, &b);
	*olen = b.len;
	return rc;
}

/* The SAN of a node certificate: the --advertise host, as an IP or a DNS name. */
static void san_of(const char *advertise, struct pki_ip *ip, size_t *nips, char *dns, size_t dcap,
		   size_t *ndns)
{
	char host[NODE_ADDR_MAX];
	uint16_t port;
	*nips = *ndns = 0;
	if (api_addr_split(advertise, host, sizeof host, &port) < 0 || !host[0])
		return;
	if (pki_ip_parse(host, ip) == 0) {
		*nips = 1;
		return;
	}
	if (pki_dns_name_valid(host) && strlen(host) < dcap) {
		memcpy(dns, host, strlen(host) + 1);
		*ndns = 1;
	}
}

/* Issue this node's certificate from ca into c->creds, and fill a NODE_JOIN for it. */
static int issue_self(struct ctl *c, const struct pki_ca *ca, int64_t now_s, uint8_t *der,
		      size_t *der_len, char *err, size_t errcap)
{
	struct pki_key key;
	struct buf b;
	struct pki_ip ip;
	char dns[PKI_DNS_NAME_MAX + 1];
	const char *dnsv[1] = {dns};
	size_t nips, ndns;
	int rc = pki_key_generate(&key, &c->rng);
	if (rc < 0)
		goto fail;
	san_of(c->o->advertise, &ip, &nips, dns, sizeof dns, &ndns);
	struct pki_cert_req req = {.role = PKI_ROLE_CONTROL,
				   .id = c->ident.node_id,
				   .pub = key.pub,
				   .dns = dnsv,
				   .ndns = ndns,
				   .ips = &ip,
				   .nips = nips,
				   .lifetime = node_cert_lifetime()};
	buf_init(&b, der, PKI_CERT_MAX);
	if ((rc = pki_cert_issue(ca, &c->rng, &req, now_s, &b)) < 0)
		goto fail;
	*der_len = b.len;
	if ((rc = pem_of(PKI_PEM_CERT, der, b.len, c->creds.cert, sizeof c->creds.cert,
			 &c->creds.cert_len)) < 0)
		goto fail;
	buf_init(&b, c->creds.key, sizeof c->creds.key);
	if ((rc = pki_key_to_pem(&key, PKI_KEY_SEC1, &b)) < 0)
		goto fail;
	c->creds.key_len = b.len;
	if ((rc = pem_of(PKI_PEM_CERT, ca->cert, ca->cert_len, c->creds.ca, sizeof c->creds.ca,
			 &c->creds.ca_len)) < 0)
		goto fail;
	pki_key_wipe(&key);
	return 0;
fail:
	pki_key_wipe(&key);
	snprintf(err, errcap, "cannot issue this node's certificate: %s", err_str(rc));
	return rc;
}

static int read_archive(const char *path, uint8_t **out, size_t *len, char *err, size_t cap)
{
	struct cluster_limits top = {CLUSTER_MAX_NODES_LIMIT, CLUSTER_MAX_ROUTING_LIMIT,
				     CLUSTER_MAX_DEPLOY_LIMIT, CLUSTER_MAX_REVOKED_LIMIT};
	size_t max = cluster_backup_max_bytes(&top);
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, cap, "--archivepath %s: not a readable file", path);
		return -ERR_NOTFOUND;
	}
	if ((size_t)st.st_size > max) {
		snprintf(err, cap, "--archivepath %s: %lld bytes, over the largest archive (%zu)",
			 path, (long long)st.st_size, max);
		return -ERR_TOO_LARGE;
	}
	*out = malloc((size_t)st.st_size + 1);
	if (!*out)
		return -ERR_NOMEM;
	struct buf b;
	buf_init(&b, *out, (size_t)st.st_size + 1);
	int rc = pki_file_read(path, &b);
	if (rc < 0) {
		snprintf(err, cap, "--archivepath %s: %s", path, err_str(rc));
		free(*out);
		*out = NULL;
		return rc;
	}
	*len = b.len;
	return 0;
}

int ctl_bootstrap_prepare(struct ctl *c, char *err, size_t cap)
{
	struct node_opts *o = c->o;
	int64_t now_ms = ctl_wall_ms(), now_s = now_ms / 1000;
	static struct pki_ca ca;
	static struct api_creds cr;
	static struct cluster_backup bk;
	uint8_t *archive = NULL;
	size_t archive_len = 0;
	char path[NODE_PATH_MAX];
	struct stat st;
	int rc;

	if (node_path(path, sizeof path, o->certs_out, API_CREDS_KEY_FILE) == 0 &&
	    stat(path, &st) == 0) {
		snprintf(err, cap,
			 "%s already holds admin credentials (%s): they are written once per "
			 "cluster; move them away or choose another --mtlscertsoutputdir",
			 o->certs_out, path);
		return -ERR_EXISTS;
	}
	id_generate(&c->rng, c->ident.node_id);
	snprintf(c->ident.name, sizeof c->ident.name, "%s", o->name);
	c->ident.role = CLUSTER_ROLE_CONTROL;

	size_t cmds_cap = 3 * (size_t)CTL_MAX_ENTRY + (256u << 10);
	if (o->archive) {
		if ((rc = read_archive(o->archive, &archive, &archive_len, err, cap)) < 0)
			return rc;
		rc = cluster_backup_read(&bk, archive, archive_len);
		if (rc < 0) {
			snprintf(err, cap, "--archivepath %s: %s", o->archive, bk.errmsg);
			goto out;
		}
		rc = pki_ca_load(&ca, bk.ca_cert, bk.ca_cert_len, bk.ca_key, bk.ca_key_len);
		if (rc < 0) {
			snprintf(err, cap, "--archivepath %s: the CA does not load", o->archive);
			goto out;
		}
		snprintf(c->ident.cluster_id, sizeof c->ident.cluster_id, "%s", bk.cluster_id);
		snprintf(c->ident.cluster_name, sizeof c->ident.cluster_name, "%s", bk.name);
		cmds_cap += bk.nrevoked * 64u + archive_len;
	} else {
		id_generate(&c->rng, c->ident.cluster_id);
		snprintf(c->ident.cluster_name, sizeof c->ident.cluster_name, "%s", o->clustername);
		rc = pki_ca_create(&ca, &c->rng, o->clustername, now_s);
		if (rc < 0) {
			snprintf(err, cap, "cannot create the cluster CA: %s", err_str(rc));
			goto out;
		}
	}
	c->boot_cmds = malloc(cmds_cap);
	if (!c->boot_cmds) {
		rc = -ERR_NOMEM;
		goto out;
	}

	/* The commands that create the cluster. */
	struct cluster_cmd cmd;
	if (o->archive) {
		struct cluster_restore rs;
		cluster_restore_begin(&rs, &bk, NULL, now_ms);
		while ((rc = cluster_restore_next(&rs, &cmd)) == 1)
			if ((rc = boot_add(c, cmds_cap, &cmd, err, cap)) < 0)
				goto out;
		if (rc < 0) {
			snprintf(err, cap, "--archivepath %s: %s", o->archive, err_str(rc));
			goto out;
		}
	} else {
		struct pki_token tc, td;
		unsigned char digest[PKI_CA_DIGEST_LEN], vc[PKI_VERIFIER_LEN], vd[PKI_VERIFIER_LEN];
		char txc[PKI_TOKEN_LEN + 1], txd[PKI_TOKEN_LEN + 1];
		uint8_t keyder[PKI_KEY_DER_MAX];
		struct buf kb;
		pki_ca_digest(ca.cert, ca.cert_len, digest);
		pki_token_new(&tc, &c->rng, PKI_ROLE_CONTROL, digest);
		pki_token_new(&td, &c->rng, PKI_ROLE_DATA, digest);
		pki_token_format(&tc, txc);
		pki_token_format(&td, txd);
		pki_token_verifier(&tc, vc);
		pki_token_verifier(&td, vd);
		pki_token_wipe(&tc);
		pki_token_wipe(&td);
		buf_init(&kb, keyder, sizeof keyder);
		rc = pki_key_to_der(&ca.key, PKI_KEY_SEC1, &kb);
		if (rc < 0) {
			snprintf(err, cap, "cannot encode the CA key: %s", err_str(rc));
			goto out;
		}
		memset(&cmd, 0, sizeof cmd);
		cmd.type = CLUSTER_CMD_INIT;
		struct cluster_cmd_init *in = &cmd.u.init;
		in->cluster_id = slice_from_cstr(c->ident.cluster_id);
		in->name = slice_from_cstr(c->ident.cluster_name);
		in->created_at = now_ms;
		in->license = slice_from_cstr(o->license);
		in->ca_cert = (struct slice){(const char *)ca.cert, ca.cert_len};
		in->ca_key = (struct slice){(const char *)keyder, kb.len};
		in->control_verifier = (struct slice){(const char *)vc, sizeof vc};
		in->data_verifier = (struct slice){(const char *)vd, sizeof vd};
		in->control_token = slice_from_cstr(txc);
		in->data_token = slice_from_cstr(txd);
		cluster_limits_default(&in->limits);
		in->limits.max_nodes = CTL_MAX_NODES;
		in->limits.max_routing_bytes = CTL_MAX_ROUTING;
		rc = boot_add(c, cmds_cap, &cmd, err, cap);
		pki_wipe(keyder, sizeof keyder);
		pki_wipe(txc, sizeof txc);
		pki_wipe(txd, sizeof txd);
		if (rc < 0)
			goto out;
	}

	/* This node: certificate and NODE_JOIN. */
	uint8_t der[PKI_CERT_MAX];
	size_t der_len = 0;
	struct slice serial;
	struct pki_cert_info info;
	if ((rc = issue_self(c, &ca, now_s, der, &der_len, err, cap)) < 0)
		goto out;
	if (node_cert_serial(der, der_len, &serial) < 0 ||
	    pki_cert_parse(der, der_len, &info) < 0) {
		snprintf(err, cap, "cannot read back this node's certificate");
		rc = -ERR_PKI_CERT;
		goto out;
	}
	memset(&cmd, 0, sizeof cmd);
	cmd.type = CLUSTER_CMD_NODE_JOIN;
	cmd.u.join.id = slice_from_cstr(c->ident.node_id);
	cmd.u.join.name = slice_from_cstr(c->ident.name);
	cmd.u.join.role = CLUSTER_ROLE_CONTROL;
	cmd.u.join.addr = slice_from_cstr(o->advertise);
	cmd.u.join.serial = serial;
	cmd.u.join.cert_not_after = info.not_after * 1000;
	cmd.u.join.at = now_ms;
	if ((rc = boot_add(c, cmds_cap, &cmd, err, cap)) < 0)
		goto out;

	/* Admin credentials, once. */
	rc = api_creds_issue(&cr, &ca, &c->rng, "admin", 0, now_s);
	if (rc == 0)
		rc = api_creds_write(&cr, o->certs_out);
	api_creds_wipe(&cr);
	if (rc < 0) {
		snprintf(err, cap, "cannot write the admin credentials to %s: %s", o->certs_out,
			 err_str(rc));
		goto out;
	}

	/* The state directory: files, then the store identity (the point of no return). */
	char rec[128], rpath[NODE_PATH_MAX];
	int rlen = snprintf(rec, sizeof rec, "%s controlnodes=%d deadline_ms=%lld\n",
			    BOOTSTRAP_MAGIC, o->controlnodes,
			    o->controlnodes > 1 ? (long long)(now_ms + (int64_t)o->timeout_s * 1000)
						: 0LL);
	if ((rc = node_creds_save(o->statedir, &c->creds)) < 0 ||
	    (rc = node_ident_save(o->statedir, &c->ident)) < 0 ||
	    (rc = node_path(rpath, sizeof rpath, o->statedir, BOOTSTRAP_FILE)) < 0 ||
	    (rc = pki_file_write_atomic(rpath, rec, (size_t)rlen, 0600)) < 0) {
		snprintf(err, cap, "cannot write to %s: %s", o->statedir, err_str(rc));
		goto out;
	}
	rc = store_identity_set(&c->store, c->ident.cluster_id, c->ident.node_id);
	if (rc < 0) {
		snprintf(err, cap, "cannot record the identity in %s: %s", o->statedir,
			 c->store.errmsg);
		goto out;
	}
	log_info("cluster material created", "cluster=%s name=%s node=%s credentials=%s%s",
		 c->ident.cluster_id, c->ident.cluster_name, c->ident.node_id, o->certs_out,
		 o->archive ? " restored=true" : "");
	rc = 0;
out:
	pki_ca_wipe(&ca);
	if (o->archive)
		cluster_backup_wipe(&bk);
	if (archive) {
		pki_wipe(archive, archive_len);
		free(archive);
	}
	return rc;
}

/* A wall-clock time in ms as "2026-11-27T02:05:36Z". */
static void utc_text(int64_t ms, char *out, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (ms <= 0 || !gmtime_r(&t, &tm) || !strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, cap, "?");
}

int ctl_bootstrap_resume(struct ctl *c, char *err, size_t cap)
{
	struct node_opts *o = c->o;
	char path[NODE_PATH_MAX], text[160], when[32];
	struct buf b;
	if (node_path(path, sizeof path, o->statedir, BOOTSTRAP_FILE) < 0)
		return 0;
	buf_init(&b, text, sizeof text - 1);
	int rc = pki_file_read(path, &b);
	if (rc == -ERR_NOTFOUND)
		return 0; /* a node that joined: nothing to resume */
	if (rc < 0) {
		snprintf(err, cap, "cannot read %s: %s", path, err_str(rc));
		return rc;
	}
	text[b.len] = '\0';
	int n = 0;
	long long deadline = 0;
	if (sscanf(text, BOOTSTRAP_MAGIC " controlnodes=%d deadline_ms=%lld", &n, &deadline) != 2 ||
	    n < 1) {
		snprintf(err, cap, "%s is malformed", path);
		return -ERR_STORE_CORRUPT;
	}
	if (n == 1)
		return 0; /* --controlnodes=1: the bootstrap node stays the cluster's control node
			   */

	struct cluster_info ci;
	if (cluster_sm_info(&c->sm, NULL, &ci) < 0 || !ci.initialised) {
		snprintf(err, cap,
			 "%s holds the bootstrap node %s, which stopped before it created its "
			 "cluster (no node could join it): empty %s and run `traefikee bootstrap` "
			 "again",
			 o->statedir, c->ident.node_id, o->statedir);
		return -ERR_NOTFOUND;
	}
	if (ci.bootstrap_done) {
		utc_text(ci.bootstrap_done_at, when, sizeof when);
		fprintf(stderr,
			"traefikee: %s holds the bootstrap node of cluster %s (%s), which handed "
			"the "
			"cluster over to its %d control nodes at %s. Its job is done and it does "
			"not run again (it is no longer a member). Nothing to do: manage the "
			"cluster from a control node (traefikee list-nodes there); the bootstrap "
			"node can be powered off and deleted with its state. To create another "
			"cluster, use an empty --statedir.\n",
			o->statedir, ci.id, ci.name, n, when);
		return 1;
	}
	int64_t now = ctl_wall_ms(), left = deadline - now;
	if (left <= 0) {
		utc_text(deadline, when, sizeof when);
		snprintf(
			err, cap,
			"%s holds the bootstrap node of cluster %s, whose --timeout ran out at %s "
			"before %d control nodes joined (%u did): the cluster is not created. "
			"Empty %s (and the state directories of the control nodes that joined it), "
			"then run `traefikee bootstrap` again",
			o->statedir, ci.id, when, n, ci.control_nodes ? ci.control_nodes - 1 : 0,
			o->statedir);
		return -ERR_TIMEOUT;
	}
	/* Resume the hand-over: the commands that created the cluster are in the log already. */
	c->boot = true;
	c->boot_proposed = true;
	c->boot_created = true;
	o->controlnodes = n;
	o->timeout_s = (int)((left + 999) / 1000);
	c->boot_deadline_ms = time_mono_ms() + (uint64_t)left;
	log_info("this is the bootstrap node of a cluster still waiting for its control nodes: "
		 "resuming the bootstrap",
		 "cluster=%s wanted=%d joined=%u left=%llds", ci.id, n,
		 ci.control_nodes ? ci.control_nodes - 1 : 0, (long long)(left / 1000));
	return 0;
}
