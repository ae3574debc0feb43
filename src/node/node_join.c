/* node_join.c — the joiner's side of the join protocol (RELIABILITY-ANCHORS §3.4).
 *
 *   1. parse the token (pki_token_parse): role, CA digest, secret; refuse a token of the other
 *      role before anything goes on the wire;
 *   2. make this node's P-256 key locally (it never leaves the node);
 *   3. for each --peeraddresses entry: TLS without a client certificate, accepting the server
 *      only if its chain holds the CA whose SHA-256 the token carries and its leaf is a
 *      control node's (api_client_init_pinned) — nothing secret is sent before that;
 *   4. POST /join/challenge -> a fresh nonce; POST /join with the role, name, advertise
 *      address, public key, nonce and proof = pki_token_proof(token, nonce, pub): the secret
 *      itself never travels, and the proof is bound to this nonce, key, role and CA;
 *   5. the leader checks the proof against the verifier it stores, issues the certificate,
 *      commits NODE_JOIN and answers: node ID, certificate, CA, the control nodes;
 *   6. the answer is checked (the CA is the pinned one, the certificate carries our key) and
 *      from then on every connection is mutual TLS with that certificate.
 * A refused proof (403) ends the attempt at once; unreachable peers and a cluster that is
 * still being created are retried every second for up to a minute. A control node that
 * answers 429 (too many failed joins from this address: node_joinlimit.h) is asked again
 * only after the Retry-After it gives, within that minute; when every control node asks
 * for a wait past the minute the join gives up at once, saying how long to wait.
 *
 * Blocking (api_client): runs before the daemon's loop starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_client.h"
#include "base/base_err.h"
#include "base/base_log.h"
#include "base/base_time.h"
#include "json/json.h"
#include "node/node.h"
#include "pki/pki_pem.h"
#include "pki/pki_token.h"

#define JOIN_WAIT_MS 60000

static struct slice token_trim(const char *t)
{
	struct slice s = slice_trim_ows(slice_from_cstr(t));
	while (s.len && (s.p[s.len - 1] == '\n' || s.p[s.len - 1] == '\r'))
		s.len--;
	if (s.len >= 2 && (s.p[0] == '"' || s.p[0] == '\'') && s.p[s.len - 1] == s.p[0]) {
		s.p++;
		s.len -= 2;
	}
	return s;
}

static int answer_parse(const char *body, size_t len, const struct pki_token *tok,
			const struct pki_key *key, struct node_join_result *out, char *err,
			size_t cap)
{
	static json_tok toks[256];
	struct json_doc d;
	if (json_parse(&d, body, len, toks, 256) < 0)
		goto bad;
	int r = JSON_ROOT;
	if (json_get_str(&d, json_obj_get(&d, r, "nodeId"), out->node_id, sizeof out->node_id) !=
		    ID_LEN ||
	    json_get_str(&d, json_obj_get(&d, r, "clusterId"), out->cluster_id,
			 sizeof out->cluster_id) != ID_LEN ||
	    json_get_str(&d, json_obj_get(&d, r, "clusterName"), out->cluster_name,
			 sizeof out->cluster_name) < 1)
		goto bad;
	int n = json_get_str(&d, json_obj_get(&d, r, "certificate"), out->creds.cert,
			     sizeof out->creds.cert);
	int m = json_get_str(&d, json_obj_get(&d, r, "ca"), out->creds.ca, sizeof out->creds.ca);
	if (n <= 0 || m <= 0)
		goto bad;
	out->creds.cert_len = (size_t)n;
	out->creds.ca_len = (size_t)m;
	int64_t wait = -1;
	if (json_get_int(&d, json_obj_get(&d, r, "bootstrapWaitMs"), &wait) < 0)
		wait = -1;
	out->bootstrap_wait_ms = wait;
	struct json_iter it;
	int v;
	out->npeers = 0;
	if (json_iter_begin(&d, json_obj_get(&d, r, "controlNodes"), &it) == 0)
		while ((v = json_iter_next(&d, &it, NULL)) >= 0 && out->npeers < NODE_PEERS_MAX) {
			size_t k = out->npeers;
			if (json_get_str(&d, json_obj_get(&d, v, "id"), out->peer_ids[k],
					 sizeof out->peer_ids[k]) == ID_LEN &&
			    json_get_str(&d, json_obj_get(&d, v, "address"), out->peers[k],
					 sizeof out->peers[k]) > 0)
				out->npeers++;
		}

	/* The CA is the one the token pins; the certificate carries our key. */
	uint8_t der[PKI_CERT_MAX];
	int dl = node_pem_cert_der(out->creds.ca, out->creds.ca_len, der, sizeof der);
	if (dl < 0 || pki_token_check_ca(tok, der, (size_t)dl) < 0) {
		snprintf(err, cap, "the join answer's CA is not the one the token pins");
		return -ERR_PKI_CA_MISMATCH;
	}
	struct pki_cert_info info;
	dl = node_pem_cert_der(out->creds.cert, out->creds.cert_len, der, sizeof der);
	if (dl < 0 || pki_cert_parse(der, (size_t)dl, &info) < 0 ||
	    memcmp(info.pub, key->pub, PKI_KEY_PUB_LEN) != 0) {
		snprintf(err, cap, "the join answer's certificate is not for this node's key");
		return -ERR_PKI_CERT;
	}
	return 0;
bad:
	snprintf(err, cap, "malformed join answer");
	return -ERR_PARSE;
}

/* The wait a 429 answer asks for, in seconds: its "retryAfterSeconds" (the control node also
 * sends it as Retry-After), kept within 1 s .. 1 h; 6 s when it is missing. */
static uint64_t retry_after_s(const char *body, size_t len)
{
	static json_tok t16[16];
	struct json_doc d;
	int64_t s = -1;
	if (json_parse(&d, body, len, t16, 16) < 0 ||
	    json_get_int(&d, json_obj_get(&d, JSON_ROOT, "retryAfterSeconds"), &s) < 0)
		return 6;
	return s < 1 ? 1 : s > 3600 ? 3600 : (uint64_t)s;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int node_join(const struct node_opts *o, const char *token_text, int role,
	      struct node_join_result *out, char *err, size_t cap)
{
	static struct api_client cl;
	static char body[32768];
	struct pki_token tok;
	struct pki_key key;
	struct rand rng;
	const char *why = "";
	const char *env = role == CLUSTER_ROLE_CONTROL ? "CONTROL_NODE_TOKEN" : "DATA_NODE_TOKEN";
	const char *rname = role == CLUSTER_ROLE_CONTROL ? "control" : "data";
	int rc;

	memset(out, 0, sizeof *out);
	if (!token_text || !*token_text) {
		snprintf(err, cap,
			 "no join token: give --token or set %s (`traefikee env` on a "
			 "control node prints it)",
			 env);
		return -ERR_USAGE;
	}
	if (pki_token_parse(token_trim(token_text), &tok, &why) < 0) {
		snprintf(err, cap, "the join token is malformed: %s", why);
		return -ERR_USAGE;
	}
	if (pki_token_check_role(&tok, role == CLUSTER_ROLE_CONTROL ? PKI_ROLE_CONTROL
								    : PKI_ROLE_DATA) < 0) {
		snprintf(err, cap, "this token admits %s nodes; a %s node needs %s",
			 role == CLUSTER_ROLE_CONTROL ? "data" : "control", rname, env);
		pki_token_wipe(&tok);
		return -ERR_USAGE;
	}
	if (!o->npeers) {
		snprintf(err, cap,
			 "--peeraddresses is required to join (a control node's "
			 "host:port, 4242 by default)");
		pki_token_wipe(&tok);
		return -ERR_USAGE;
	}
	if ((rc = rand_init_os(&rng)) < 0 || (rc = pki_key_generate(&key, &rng)) < 0) {
		snprintf(err, cap, "cannot make the node key: %s", err_str(rc));
		pki_token_wipe(&tok);
		return rc;
	}

	char last[400] = "no peer answered";
	uint64_t deadline = time_mono_ms() + JOIN_WAIT_MS;
	uint64_t not_before[NODE_PEERS_MAX] = {0}; /* a 429's Retry-After, per peer */
	bool logged = false;
	rc = -ERR_API_CONNECT;
	while (time_mono_ms() < deadline) {
		for (size_t i = 0; i < o->npeers; i++) {
			if (time_mono_ms() < not_before[i])
				continue; /* it asked us to wait */
			struct api_result res;
			api_result_init(&res, body, sizeof body);
			if (api_client_init_pinned(&cl, o->peers[i], tok.ca_digest) < 0) {
				snprintf(last, sizeof last, "%s: %s", o->peers[i],
					 api_client_errmsg(&cl));
				continue;
			}
			api_client_set_timeout(&cl, 10000);
			char req[1024];
			snprintf(req, sizeof req, "{\"role\":\"%s\"}", rname);
			int st = api_call(&cl, "POST", "/join/challenge", req, &res);
			if (st != 200) {
				snprintf(last, sizeof last, "%s: %s", o->peers[i],
					 st < 0 ? api_client_errmsg(&cl) : res.error);
				api_client_fini(&cl);
				continue;
			}
			static json_tok t8[8];
			struct json_doc d;
			char nonce_h[2 * PKI_NONCE_LEN + 1];
			uint8_t nonce[PKI_NONCE_LEN], proof[PKI_PROOF_LEN];
			int nl = -1;
			if (json_parse(&d, body, res.len, t8, 8) >= 0)
				nl = json_get_str(&d, json_obj_get(&d, JSON_ROOT, "nonce"), nonce_h,
						  sizeof nonce_h);
			if (nl < 0 || node_unhex(nonce_h, (size_t)nl, nonce, sizeof nonce) < 0) {
				snprintf(last, sizeof last, "%s: malformed challenge", o->peers[i]);
				api_client_fini(&cl);
				continue;
			}
			pki_token_proof(&tok, nonce, key.pub, proof);
			char pub_h[2 * PKI_KEY_PUB_LEN + 1], proof_h[2 * PKI_PROOF_LEN + 1];
			node_hex(key.pub, sizeof key.pub, pub_h);
			node_hex(proof, sizeof proof, proof_h);
			snprintf(req, sizeof req,
				 "{\"role\":\"%s\",\"name\":\"%s\",\"advertise\":\"%s\",\"pub\":\"%"
				 "s\","
				 "\"nonce\":\"%s\",\"proof\":\"%s\"}",
				 rname, o->name, o->advertise, pub_h, nonce_h, proof_h);
			api_result_init(&res, body, sizeof body);
			st = api_call(&cl, "POST", "/join", req, &res);
			if (st < 0)
				snprintf(last, sizeof last, "%s: %s", o->peers[i],
					 api_client_errmsg(&cl));
			api_client_fini(&cl);
			if (st == 200) {
				rc = answer_parse(body, res.len, &tok, &key, out, err, cap);
				if (rc == 0) {
					struct buf kb;
					buf_init(&kb, out->creds.key, sizeof out->creds.key);
					rc = pki_key_to_pem(&key, PKI_KEY_SEC1, &kb);
					out->creds.key_len = kb.len;
				}
				log_info("joined the cluster", "node=%s cluster=%s via=%s",
					 out->node_id, out->cluster_name, o->peers[i]);
				goto done;
			}
			if (st == 403 || st == 400) {
				snprintf(err, cap, "%s refused to let this node join: %s",
					 o->peers[i], res.error[0] ? res.error : "forbidden");
				rc = st == 403 ? -ERR_PKI_BAD_PROOF : -ERR_INVAL;
				goto done;
			}
			if (st == 429) {
				uint64_t w = retry_after_s(body, res.len);
				not_before[i] = time_mono_ms() + w * 1000;
				snprintf(last, sizeof last, "%s: %s", o->peers[i],
					 res.error[0] ? res.error : "429 Too Many Requests");
				log_warn("join refused for now: too many failed join attempts from "
					 "this address; waiting before asking again",
					 "peer=%s wait=%llus", o->peers[i], (unsigned long long)w);
				continue;
			}
			if (st >= 0)
				snprintf(last, sizeof last, "%s: %s", o->peers[i], res.error);
		}
		/* Every peer asks for a wait: sleep until the first of them allows a try, or give
		 * up now if none will within the minute. */
		uint64_t now = time_mono_ms(), soonest = UINT64_MAX;
		for (size_t i = 0; i < o->npeers; i++)
			soonest = not_before[i] < soonest ? not_before[i] : soonest;
		if (soonest > now && soonest >= deadline) {
			unsigned long long wait_s = (soonest - now + 999) / 1000;
			snprintf(err, cap,
				 "cannot join the cluster: the control nodes refuse joins from "
				 "this address for now, after too many failed join attempts "
				 "from it (check the token); try again in %llu s (last answer: "
				 "%s)",
				 wait_s, last);
			rc = -ERR_AGAIN;
			goto done;
		}
		if (!logged) {
			log_warn("cannot join yet; retrying for a minute", "last=\"%s\"", last);
			logged = true;
		}
		sleep_ms(soonest > now && soonest - now < 60000 ? (unsigned)(soonest - now) : 1000);
	}
	snprintf(err, cap, "cannot join the cluster: %s", last);
	rc = -ERR_API_CONNECT;
done:
	pki_token_wipe(&tok);
	pki_key_wipe(&key);
	return rc;
}
