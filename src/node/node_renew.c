/* node_renew.c — a node's TLS configurations and the renewal of its certificate
 * (node_renew.h). */
#include "node/node_renew.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_server.h"
#include "base/base_err.h"
#include "base/base_log.h"
#include "base/base_time.h"
#include "json/json.h"
#include "pki/pki_cert.h"
#include "pki/pki_key.h"
#include "pki/pki_pem.h"

#define RENEW_RETRY_FIRST_MS 10000u
#define RENEW_RETRY_MAX_MS 600000u
#define RENEW_RECHECK_S 3600 /* the timer never sleeps longer: a wall clock may jump */

/* ---- TLS configurations ---------------------------------------------------------------- */

int node_tls_build(const struct node_creds *cr, bool servers, struct node_tls **out, char *err,
		   size_t cap)
{
	struct node_tls *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, cap, "out of memory for the TLS configuration");
		return -ERR_NOMEM;
	}
	t->servers = servers;
	int rc = 0;
	if (servers) {
		static char chain[2 * NODE_PEM_MAX];
		int n = snprintf(chain, sizeof chain, "%s%s", cr->cert, cr->ca);
		if (n < 0 || (size_t)n >= sizeof chain) {
			snprintf(err, cap, "node certificate too large");
			node_tls_free(t);
			return -ERR_TOO_LARGE;
		}
		rc = api_tls_server_config(&t->srv, t->store_srv, NODE_TLS_STORE, chain, (size_t)n,
					   cr->key, cr->key_len, cr->ca, cr->ca_len);
		if (rc < 0) {
			snprintf(err, cap, "TLS server configuration: %s", t->srv.errmsg);
			node_tls_free(t);
			return rc;
		}
		/* The control API (--controlapi.listen) serves admins and nodes only: a client
		 * without a certificate of this cluster is refused during the handshake. Joins go
		 * to --listen, which must accept certificate-less joiners and checks roles per
		 * route instead. */
		rc = api_tls_server_config(&t->srv_mtls, t->store_mtls, NODE_TLS_STORE, chain,
					   (size_t)n, cr->key, cr->key_len, cr->ca, cr->ca_len);
		if (rc == 0)
			rc = tls_server_set_client_auth(&t->srv_mtls, TLS_CLIENT_AUTH_REQUIRED);
		pki_wipe(chain, sizeof chain);
		if (rc < 0) {
			snprintf(err, cap, "TLS server configuration (control API): %s",
				 t->srv_mtls.errmsg);
			node_tls_free(t);
			return rc;
		}
	}
	rc = tls_client_config_init(&t->cli, t->store_cli, NODE_TLS_STORE);
	if (rc == 0)
		rc = tls_client_add_ca(&t->cli, cr->ca, cr->ca_len) < 0 ? -ERR_TLS_PEM : 0;
	if (rc == 0)
		rc = tls_client_set_cert(&t->cli, cr->cert, cr->cert_len, cr->key, cr->key_len);
	if (rc < 0) {
		snprintf(err, cap, "TLS client configuration: %s", t->cli.errmsg);
		node_tls_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void node_tls_free(struct node_tls *t)
{
	if (!t)
		return;
	pki_wipe(t, sizeof *t);
	free(t);
}

int64_t node_cert_lifetime(void)
{
	const char *s = getenv("TRAEFIKEE_CERT_LIFETIME");
	if (!s || !*s)
		return 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*end || v < PKI_LIFETIME_MIN || v > 10LL * 365 * 86400)
		return 0;
	return (int64_t)v;
}

/* ---- the renewer ---------------------------------------------------------------------- */

static void renew_timer_cb(struct loop *l, void *arg);

static int64_t now_s(void)
{
	return time_wall_ms() / 1000;
}

static void fmt_time(int64_t secs, char out[TIME_RFC3339_LEN + 1])
{
	time_format_rfc3339(secs * 1000, out);
}

static int cert_info(const char *pem, size_t len, struct pki_cert_info *info, uint8_t *der,
		     size_t cap, size_t *der_len)
{
	int n = node_pem_cert_der(pem, len, der, cap);
	if (n < 0)
		return n;
	*der_len = (size_t)n;
	return pki_cert_parse(der, (size_t)n, info);
}

int64_t node_renew_plan_at(int64_t not_before, int64_t not_after, uint64_t rnd)
{
	int64_t start = not_before + PKI_BACKDATE;
	if (start >= not_after)
		start = not_before;
	if (not_after <= start)
		return start;
	/* 50 % .. 80 % of the lifetime, uniformly: nodes of one cluster spread out. The times
	 * come from X.509 (years 0 to 9999), so life * 800 is far from overflowing. */
	int64_t life = not_after - start;
	int64_t permille = 500 + (int64_t)(rnd % 301);
	return start + life * permille / 1000;
}

uint64_t node_renew_delay_ms(int64_t due, int64_t now)
{
	if (due <= now)
		return 0;
	uint64_t wait = (uint64_t)due - (uint64_t)now; /* exact: due > now */
	return (wait > RENEW_RECHECK_S ? RENEW_RECHECK_S : wait) * 1000;
}

/* Arm the timer for delay_ms (node_renew_delay_ms: at most an hour ahead). */
static void renew_arm(struct node_renew *r, uint64_t delay_ms)
{
	loop_timer_cancel(r->cfg.loop, r->timer);
	loop_timer_add(r->cfg.loop, delay_ms, renew_timer_cb, r, &r->timer);
}

static int renew_plan(struct node_renew *r)
{
	static uint8_t der[PKI_CERT_MAX];
	struct pki_cert_info info;
	size_t dl;
	int rc = cert_info(r->creds.cert, r->creds.cert_len, &info, der, sizeof der, &dl);
	if (rc < 0)
		return rc;
	r->not_after = info.not_after;
	r->due = node_renew_plan_at(info.not_before, info.not_after, rand_u64(r->cfg.rng));
	char a[TIME_RFC3339_LEN + 1], b[TIME_RFC3339_LEN + 1];
	fmt_time(r->due, a);
	fmt_time(r->not_after, b);
	log_info("node certificate renewal planned", "at=%s expires=%s", a, b);
	return 0;
}

static void renew_schedule(struct node_renew *r)
{
	renew_arm(r, node_renew_delay_ms(r->due, now_s()));
}

static void renew_fail(struct node_renew *r, const char *why)
{
	r->busy = false;
	r->failures++;
	r->attempt++;
	r->backoff_ms = (uint32_t)time_backoff_next(r->backoff_ms, RENEW_RETRY_FIRST_MS,
						    RENEW_RETRY_MAX_MS);
	char b[TIME_RFC3339_LEN + 1], q[300];
	fmt_time(r->not_after, b);
	if (now_s() >= r->not_after)
		log_error("the node certificate has expired and cannot be renewed: remove this "
			  "node (rm-node) and join it again with a token",
			  "expired=%s why=%s", b, log_q(q, sizeof q, why));
	else
		log_warn("cannot renew the node certificate yet; retrying",
			 "expires=%s retry_ms=%u why=%s", b, r->backoff_ms,
			 log_q(q, sizeof q, why));
	renew_arm(r, r->backoff_ms);
}

static struct pki_key renew_key; /* the key being certified (one renewal at a time) */

static void renew_ask(struct node_renew *r)
{
	const char *addr = r->cfg.addr(r->cfg.arg, r->attempt);
	if (!addr || !*addr) {
		renew_fail(r, "no control node known");
		return;
	}
	int rc = pki_key_generate(&renew_key, r->cfg.rng);
	if (rc < 0) {
		renew_fail(r, "cannot make a key");
		return;
	}
	/* The serial of the certificate we present: the leader keeps it valid whatever happens
	 * to its answer (a lost answer must not lock this node out). */
	static uint8_t der[PKI_CERT_MAX];
	struct slice serial;
	int dl = node_pem_cert_der(r->creds.cert, r->creds.cert_len, der, sizeof der);
	if (dl < 0 || node_cert_serial(der, (size_t)dl, &serial) < 0 || serial.len > 20) {
		renew_fail(r, "the current certificate does not parse");
		return;
	}
	char pub_h[2 * PKI_KEY_PUB_LEN + 1], ser_h[41], body[360];
	node_hex(renew_key.pub, sizeof renew_key.pub, pub_h);
	node_hex((const uint8_t *)serial.p, serial.len, ser_h);
	int n = snprintf(body, sizeof body, "{\"id\":\"%s\",\"pub\":\"%s\",\"serial\":\"%s\"}",
			 r->cfg.node_id, pub_h, ser_h);
	if ((rc = node_link_set_addr(&r->link, addr, NULL)) < 0 ||
	    (rc = node_link_request(&r->link, "POST", "/renew",
				    "Content-Type: application/json\r\n", body, (size_t)n)) < 0) {
		char why[300];
		snprintf(why, sizeof why, "%s: %s", addr,
			 r->link.errmsg[0] ? r->link.errmsg : err_str(rc));
		renew_fail(r, why);
		return;
	}
	r->busy = true;
	log_info("renewing the node certificate", "via=%s", addr);
}

static void renew_timer_cb(struct loop *l, void *arg)
{
	(void)l;
	struct node_renew *r = arg;
	if (r->busy)
		return;
	if (now_s() < r->due) {
		renew_schedule(r);
		return;
	}
	renew_ask(r);
}

/* The one PEM object of the answer's `what` ("certificate", "CA"), a CERTIFICATE, as DER
 * into der (PKI_CERT_MAX bytes): its length, or -ERR_PARSE with why set. */
static int answer_one_cert(const char *what, const char *pem, size_t len, uint8_t *der, char *why,
			   size_t cap)
{
	static uint8_t extra[PKI_CERT_MAX];
	struct slice in = {pem, len};
	struct buf b;
	char label[32];
	buf_init(&b, der, PKI_CERT_MAX);
	int rc = pki_pem_decode(&in, NULL, &b, label, sizeof label);
	if (rc < 0) {
		if (rc == -ERR_NOTFOUND)
			snprintf(why, cap, "the answer's %s holds no PEM object", what);
		else
			snprintf(why, cap, "the answer's %s is not valid PEM: %s", what,
				 err_str(rc));
		return -ERR_PARSE;
	}
	if (strcmp(label, PKI_PEM_CERT) != 0) {
		snprintf(why, cap, "the answer's %s is a PEM \"%s\", not a certificate", what,
			 label);
		return -ERR_PARSE;
	}
	size_t n = b.len;
	buf_init(&b, extra, sizeof extra);
	rc = pki_pem_decode(&in, NULL, &b, NULL, 0);
	pki_wipe(extra, sizeof extra); /* whatever it was: it might be a key */
	if (rc != -ERR_NOTFOUND) {
		snprintf(why, cap, "the answer's %s holds more than one PEM object", what);
		return -ERR_PARSE;
	}
	return (int)n;
}

int node_renew_check_answer(const struct node_creds *cur, const uint8_t pub[PKI_KEY_PUB_LEN],
			    const char *node_id, int role, const char *cert_pem, size_t cert_len,
			    const char *ca_pem, size_t ca_len, int64_t now, char *why, size_t cap)
{
	static uint8_t der[PKI_CERT_MAX], ca_der[PKI_CERT_MAX], our_ca[PKI_CERT_MAX];
	struct pki_cert_info info, ca;
	char t[TIME_RFC3339_LEN + 1];
	int cl = answer_one_cert("CA", ca_pem, ca_len, ca_der, why, cap);
	if (cl < 0)
		return cl;
	int ol = node_pem_cert_der(cur->ca, cur->ca_len, our_ca, sizeof our_ca);
	if (ol < 0 || pki_cert_parse(our_ca, (size_t)ol, &ca) < 0) {
		snprintf(why, cap, "this node's CA does not parse");
		return -ERR_PKI_CERT;
	}
	if (cl != ol || memcmp(ca_der, our_ca, (size_t)cl) != 0) {
		snprintf(why, cap, "the answer's CA is not this cluster's");
		return -ERR_PKI_CA_MISMATCH;
	}
	int dl = answer_one_cert("certificate", cert_pem, cert_len, der, why, cap);
	if (dl < 0)
		return dl;
	if (pki_cert_parse(der, (size_t)dl, &info) < 0) {
		snprintf(why, cap, "the answer's certificate does not decode");
		return -ERR_PARSE;
	}
	if (memcmp(info.pub, pub, PKI_KEY_PUB_LEN) != 0) {
		snprintf(why, cap, "the answer's certificate is not for the new key");
		return -ERR_PKI_CERT;
	}
	struct pki_identity id;
	enum pki_role want = role == CLUSTER_ROLE_CONTROL ? PKI_ROLE_CONTROL : PKI_ROLE_DATA;
	if (pki_name_identity(info.dn, info.dn_len, &id) < 0) {
		snprintf(why, cap, "the answer's certificate has no node identity");
		return -ERR_PKI_CERT;
	}
	if (strcmp(id.id, node_id) != 0) {
		snprintf(why, cap, "the answer's certificate names node %s, not this node %s",
			 id.id, node_id);
		return -ERR_PKI_CERT;
	}
	if (id.role != want) {
		const char *ou = pki_role_ou(id.role);
		snprintf(why, cap, "the answer's certificate is for role %s, not %s",
			 ou ? ou : "(none)", pki_role_ou(want));
		return -ERR_PKI_CERT;
	}
	/* BearSSL checks the dates too, with one error for both sides: say which. */
	if (now < info.not_before) {
		fmt_time(info.not_before, t);
		snprintf(why, cap, "the answer's certificate is not valid before %s", t);
		return -ERR_PKI_CERT;
	}
	if (now > info.not_after) {
		fmt_time(info.not_after, t);
		snprintf(why, cap, "the answer's certificate expired at %s", t);
		return -ERR_PKI_CERT;
	}
	br_x509_trust_anchor ta;
	pki_cert_trust_anchor(&ca, &ta);
	int br = 0;
	if (pki_cert_verify(&ta, 1, der, (size_t)dl, now, NULL, &br) < 0) {
		snprintf(why, cap,
			 "the answer's certificate does not verify against the cluster CA "
			 "(BearSSL error %d)",
			 br);
		return -ERR_PKI_CERT;
	}
	return 0;
}

/* Check the answer (node_renew_check_answer) and build r->next. 0, or -1 with why set. */
static int renew_answer(struct node_renew *r, struct slice body, char *why, size_t cap)
{
	static json_tok toks[32];
	struct json_doc d;
	struct node_creds *nx = &r->next;
	if (json_parse(&d, body.p, body.len, toks, 32) < 0) {
		snprintf(why, cap, "malformed answer");
		return -1;
	}
	int n = json_get_str(&d, json_obj_get(&d, JSON_ROOT, "certificate"), nx->cert,
			     sizeof nx->cert);
	int m = json_get_str(&d, json_obj_get(&d, JSON_ROOT, "ca"), nx->ca, sizeof nx->ca);
	if (n <= 0 || m <= 0) {
		snprintf(why, cap, "the answer has no certificate or CA");
		return -1;
	}
	nx->cert_len = (size_t)n;
	nx->ca_len = (size_t)m;
	if (node_renew_check_answer(&r->creds, renew_key.pub, r->cfg.node_id, r->cfg.role, nx->cert,
				    nx->cert_len, nx->ca, nx->ca_len, now_s(), why, cap) < 0)
		return -1;
	struct buf kb;
	buf_init(&kb, nx->key, sizeof nx->key);
	if (pki_key_to_pem(&renew_key, PKI_KEY_SEC1, &kb) < 0) {
		snprintf(why, cap, "cannot encode the key");
		return -1;
	}
	nx->key_len = kb.len;
	return 0;
}

static void renew_resp(struct node_link *k, int status, struct slice body, void *arg)
{
	struct node_renew *r = arg;
	char why[300];
	if (status != 200) {
		snprintf(why, sizeof why, "%s answered %d: %.*s", r->link.addr, status,
			 (int)(body.len > 200 ? 200 : body.len), body.p);
		renew_fail(r, why);
		return;
	}
	if (renew_answer(r, body, why, sizeof why) < 0) {
		pki_wipe(&r->next, sizeof r->next);
		renew_fail(r, why);
		return;
	}
	int rc = node_creds_replace(r->cfg.statedir, &r->next);
	if (rc < 0) {
		pki_wipe(&r->next, sizeof r->next);
		snprintf(why, sizeof why, "cannot write the new certificate to %s: %s",
			 r->cfg.statedir, err_str(rc));
		renew_fail(r, why);
		return;
	}
	const struct tls_client_config *tls = r->cfg.on_renewed(r->cfg.arg, &r->next);
	if (tls)
		node_link_set_tls(&r->link, tls);
	node_link_close(k); /* the next request shows the new certificate */
	r->creds = r->next;
	pki_wipe(&r->next, sizeof r->next);
	pki_key_wipe(&renew_key);
	r->busy = false;
	r->attempt = 0;
	r->backoff_ms = 0;
	r->renewals++;
	if (renew_plan(r) < 0) { /* cannot happen: the certificate was just parsed */
		renew_fail(r, "the new certificate does not parse");
		return;
	}
	log_info("node certificate renewed", "renewals=%llu", (unsigned long long)r->renewals);
	renew_schedule(r);
}

static void renew_err(struct node_link *k, int err, const char *why, void *arg)
{
	struct node_renew *r = arg;
	char w[300];
	snprintf(w, sizeof w, "%s: %s: %s", r->link.addr, err_name(err), why);
	renew_fail(r, w);
}

int node_renew_start(struct node_renew *r, const struct node_renew_config *cfg,
		     const struct node_creds *creds, const struct tls_client_config *tls)
{
	memset(r, 0, sizeof *r);
	r->cfg = *cfg;
	r->creds = *creds;
	struct node_link_config kc = {
		.loop = cfg->loop,
		.rng = cfg->rng,
		.tls = tls,
		.out_cap = 4096,
		.in_cap = 32 << 10,
		.connect_timeout_ms = 5000,
		.response_timeout_ms = 20000,
		.on_resp = renew_resp,
		.on_err = renew_err,
		.arg = r,
	};
	int rc = node_link_init(&r->link, &kc);
	if (rc < 0)
		return rc;
	r->link_init = true;
	if ((rc = renew_plan(r)) < 0)
		return rc;
	renew_schedule(r);
	return 0;
}

void node_renew_stop(struct node_renew *r)
{
	if (!r->link_init)
		return;
	loop_timer_cancel(r->cfg.loop, r->timer);
	node_link_fini(&r->link);
	r->link_init = false;
	pki_wipe(&r->creds, sizeof r->creds);
	pki_wipe(&r->next, sizeof r->next);
	pki_key_wipe(&renew_key);
}

int64_t node_renew_due(const struct node_renew *r)
{
	return r->due;
}
