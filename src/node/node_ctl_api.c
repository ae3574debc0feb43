/* node_ctl_api.c — the control node's API routes (docs/internals/node.md, "API").
 *
 * Listeners: the unix socket (--traefikeesocket, local admin), mutual TLS on
 * --controlapi.listen (traefikeectl) and on --listen (other nodes: joins, Raft, routing
 * streams), and with --api a plaintext listener on --api.listen for anonymous status routes
 * and the dashboard, JSON API and /metrics (node_web.c).
 * One route table serves them all; each route's access mask decides who may call it.
 *
 * Writes (deploy, license, rm-node, join) are proposed by the leader and answered once
 * committed (deferred responses). A follower passes them on to the leader over one link with
 * its node certificate (control nodes may do what an admin does: they hold the CA key) and
 * relays the answer; a request that arrives forwarded at a node that is no longer the leader
 * is answered 503 RAFT_NOT_LEADER rather than forwarded again.
 *
 * Routing streams: GET /stream/routing?after=REV. The body is a sequence of lines and
 * documents:
 *     P <addr>,<addr>,...\n          the control nodes' advertise addresses
 *     R <revision> <length>\n<document>\n
 *     H\n                            heartbeat, every second when idle
 *     A <ACTIVE|PAUSE|DRAIN>\n      the data node's availability: at the start and on every
 *                                   change, only to a stream opened with ?avail=1
 * A PAUSEd data node gets no new document until it is ACTIVE or DRAIN again (it keeps serving
 * the one it has); DRAIN is the data node's to act on (its /ping answers 503).
 * pushed with back-pressure (api_stream_push / API_EV_DRAINED). Open streams of data nodes
 * are how the leader learns that they are alive: every second each control node reports the
 * data nodes it serves (the leader directly, followers with POST /nodes/seen).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "base/base_err.h"
#include "base/base_log.h"
#include "cluster/cluster_backup.h"
#include "node/node_control.h"
#include "node/node_joinlimit.h"
#include "node/node_health_report.h"
#include "node/node_web.h"
#include "pki/pki_pem.h"
#include "pki/pki_token.h"

#include "version.h"

#define NONCE_TTL_MS 60000

/* --- Helpers -------------------------------------------------------------------------- */

static int json_str_field(const struct json_doc *d, const char *key, char *out, size_t cap)
{
	if (!d)
		return -ERR_NOTFOUND;
	return json_get_str(d, json_obj_get(d, JSON_ROOT, key), out, cap);
}

/* Answer `resp` (inside a handler) or the deferred h with an error. */
static void finish_error(struct ctl *c, struct api_handle h, int err, const char *msg)
{
	struct api_resp *r = api_resp_get(&c->api, h);
	if (!r)
		return;
	api_resp_error(r, 0, err, "%s", msg);
	api_resp_finish(&c->api, h);
}

/* Pass the request on to the leader; the handler returns what this returns. */
static int forward(struct ctl *c, struct api_req *req, struct api_resp *resp)
{
	if (req->peer->kind == API_PEER_CONTROL)
		return api_resp_error(resp, 0, -ERR_RAFT_NOT_LEADER,
				      "this node is not the leader any more; retry");
	if (req->body.len > CTL_FWD_BODY)
		return -ERR_TOO_LARGE;
	char path[256];
	int n = snprintf(path, sizeof path, "%.*s%s%.*s", (int)req->path.len, req->path.p,
			 req->query.len ? "?" : "", (int)req->query.len, req->query.p);
	if (n < 0 || (size_t)n >= sizeof path)
		return -ERR_TOO_LARGE;
	char method[8];
	if (slice_to_cstr(req->method, method, sizeof method) < 0)
		return -ERR_INVAL;
	struct api_handle h;
	int rc = api_resp_defer(resp, &h);
	int frc = ctl_fwd_submit(c, &h, false, method, path, req->body.p, req->body.len);
	if (frc < 0)
		finish_error(c, h, frc,
			     frc == -ERR_AGAIN ? "too many requests waiting for the leader; retry"
					       : err_str(frc));
	return rc;
}

/* --- Forwarding link ------------------------------------------------------------------ */

/* A write the leader committed at {"index":N,...} that this node has not applied yet: hold
 * the answer (true) so that a read on this node right after it sees the write. The leader
 * tells followers its commit index with its next message, so without this a client that
 * writes and then reads through the same follower often reads the state before its write. */
static bool fwd_park(struct ctl *c, struct api_handle h, struct slice body)
{
	static const char pre[] = "{\"index\":";
	if (body.len <= sizeof pre - 1 || memcmp(body.p, pre, sizeof pre - 1) != 0)
		return false;
	uint64_t index = 0;
	for (size_t i = sizeof pre - 1; i < body.len && body.p[i] >= '0' && body.p[i] <= '9'; i++)
		index = index * 10 + (uint64_t)(body.p[i] - '0');
	if (!index || index > UINT64_MAX / 20 || index <= store_applied(&c->store))
		return false;
	for (int i = 0; i < CTL_FWD_JOBS; i++) {
		if (c->parked[i].index)
			continue;
		c->parked[i].h = h;
		c->parked[i].index = index;
		c->parked[i].until_ms = loop_now_ms(&c->loop) + 3000;
		return true;
	}
	return false; /* all held: answer now */
}

static void fwd_done(struct ctl *c, int status, struct slice body, int err, const char *why)
{
	if (c->fwd_cur < 0)
		return;
	struct ctl_fwd_job *j = &c->jobs[c->fwd_cur];
	c->fwd_cur = -1;
	if (!j->internal) {
		struct api_resp *r = api_resp_get(&c->api, j->h);
		if (r) {
			if (status >= 100) {
				r->status = status;
				r->content_type = "application/json";
				buf_reset(&r->body);
				if (buf_append(&r->body, body.p, body.len) < 0)
					api_resp_error(r, 502, -ERR_TOO_LARGE,
						       "the leader's answer is too large");
				else if (status == 200 && fwd_park(c, j->h, body))
					r = NULL; /* answered once this node has applied it */
			} else {
				api_resp_error(r, 503, err, "cannot reach the leader: %s",
					       why ? why : "unknown");
			}
			if (r)
				api_resp_finish(&c->api, j->h);
		}
	}
	j->used = false;
}

void ctl_parked_release(struct ctl *c)
{
	uint64_t applied = store_applied(&c->store), now = loop_now_ms(&c->loop);
	for (int i = 0; i < CTL_FWD_JOBS; i++) {
		if (!c->parked[i].index ||
		    (c->parked[i].index > applied && now < c->parked[i].until_ms))
			continue;
		c->parked[i].index = 0;
		if (api_resp_get(&c->api, c->parked[i].h))
			api_resp_finish(&c->api, c->parked[i].h);
	}
}

static void fwd_resp(struct node_link *k, int status, struct slice body, void *arg)
{
	struct ctl *c = arg;
	fwd_done(c, status, body, 0, NULL);
	ctl_fwd_pump(c);
}

static void fwd_err(struct node_link *k, int err, const char *why, void *arg)
{
	struct ctl *c = arg;
	fwd_done(c, 0, (struct slice){0}, err, why);
	c->fwd_retry_at = loop_now_ms(&c->loop) + 200;
}

int ctl_fwd_submit(struct ctl *c, const struct api_handle *h, bool internal, const char *method,
		   const char *path, const void *body, size_t len)
{
	if (len > CTL_FWD_BODY || strlen(path) >= sizeof c->jobs[0].path)
		return -ERR_TOO_LARGE;
	for (int i = 0; i < CTL_FWD_JOBS; i++) {
		struct ctl_fwd_job *j = &c->jobs[i];
		if (j->used)
			continue;
		if (!j->body && !(j->body = malloc(CTL_FWD_BODY)))
			return -ERR_NOMEM;
		j->used = true;
		j->internal = internal;
		if (h)
			j->h = *h;
		snprintf(j->method, sizeof j->method, "%s", method);
		snprintf(j->path, sizeof j->path, "%s", path);
		memcpy(j->body, body, len);
		j->len = len;
		ctl_fwd_pump(c);
		return 0;
	}
	return -ERR_AGAIN;
}

void ctl_fwd_pump(struct ctl *c)
{
	if (c->fwd_cur >= 0 || loop_now_ms(&c->loop) < c->fwd_retry_at)
		return;
	int next = -1;
	for (int i = 0; i < CTL_FWD_JOBS && next < 0; i++)
		if (c->jobs[i].used)
			next = i;
	if (next < 0)
		return;
	struct ctl_fwd_job *j = &c->jobs[next];
	if (!j->internal && !api_resp_get(&c->api, j->h)) {
		j->used = false; /* the client gave up */
		ctl_fwd_pump(c);
		return;
	}
	char lid[ID_LEN + 1], laddr[NODE_ADDR_MAX];
	if (!ctl_leader(c, lid, sizeof lid, laddr, sizeof laddr))
		return; /* no leader known yet: the status timer retries */
	if (strcmp(lid, c->ident.node_id) == 0) {
		/* This node won the election while the writes waited to be forwarded:
		 * there is no one to forward them to. Answer each client with a 503 it
		 * can retry (here, now the leader); internal reports are dropped, the
		 * leader records what they carried itself. Waiting would hang the
		 * clients and hold the queue for good. */
		for (int i = 0; i < CTL_FWD_JOBS; i++) {
			if (!c->jobs[i].used)
				continue;
			c->fwd_cur = i;
			fwd_done(c, 0, (struct slice){0}, -ERR_AGAIN,
				 "this node has just become the leader; retry the request");
		}
		return;
	}
	if (node_link_set_addr(&c->fwd, laddr, lid) < 0) {
		fwd_done(c, 0, (struct slice){0}, -ERR_API_CONNECT,
			 "the leader's address does not "
			 "resolve");
		return;
	}
	c->fwd_cur = next;
	int rc = node_link_request(&c->fwd, j->method, j->path, NULL, j->body, j->len);
	if (rc < 0) {
		fwd_done(c, 0, (struct slice){0}, rc,
			 c->fwd.errmsg[0] ? c->fwd.errmsg : err_str(rc));
		c->fwd_retry_at = loop_now_ms(&c->loop) + 200;
	}
}

/* --- Proposals answered after the commit ---------------------------------------------- */

static int join_answer(struct ctl *c, struct ctl_pending *p, struct json_writer *w);

void ctl_pending_fail(struct ctl *c, struct ctl_pending *p, int err, const char *msg)
{
	if (p->kind == CTL_P_PLAIN || p->kind == CTL_P_JOIN || p->kind == CTL_P_RENEW)
		finish_error(c, p->h, err, msg);
	p->kind = CTL_P_NONE;
}

void ctl_pending_done(struct ctl *c, struct ctl_pending *p, const struct cluster_result *res)
{
	if (p->kind != CTL_P_PLAIN && p->kind != CTL_P_JOIN && p->kind != CTL_P_RENEW) {
		p->kind = CTL_P_NONE;
		return;
	}
	struct api_resp *r = api_resp_get(&c->api, p->h);
	if (r) {
		if (res->code < 0) {
			api_resp_error(r, 0, res->code, "%s", res->msg);
		} else {
			struct json_writer *w = api_resp_json(r);
			json_w_obj_begin(w);
			json_w_key(w, "index");
			json_w_uint(w, p->index);
			json_w_key(w, "message");
			json_w_str(w, res->msg);
			if (p->kind != CTL_P_PLAIN && join_answer(c, p, w) < 0) {
				api_resp_error(r, 500, -ERR_INVAL, "cannot build the join answer");
			} else {
				json_w_obj_end(w);
			}
		}
		api_resp_finish(&c->api, p->h);
	}
	p->kind = CTL_P_NONE;
}

/* --- Read routes ---------------------------------------------------------------------- */

struct nodes_ctx {
	struct json_writer *w;
	const char *leader;
};

static int nodes_cb(void *arg, const struct cluster_node *n)
{
	struct nodes_ctx *x = arg;
	struct json_writer *w = x->w;
	json_w_obj_begin(w);
	node_json_members(w, n, x->leader && strcmp(x->leader, n->id) == 0);
	json_w_obj_end(w);
	return json_w_error(w) ? json_w_error(w) : 0;
}

static int h_nodes(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	struct store_txn t;
	char lid[ID_LEN + 1] = "", laddr[NODE_ADDR_MAX];
	if (!ctl_leader(c, lid, sizeof lid, laddr, sizeof laddr)) {
		/* the leader's ID is known even without its address */
		struct ctl_peer *p = ctl_peer_by_raft(c, raft_leader(&c->raft));
		if (p)
			snprintf(lid, sizeof lid, "%s", p->node_id);
	}
	int rc = store_txn_begin(&c->store, &t, STORE_TXN_READ);
	if (rc < 0)
		return rc;
	struct json_writer *w = api_resp_json(resp);
	json_w_obj_begin(w);
	json_w_key(w, "leader");
	json_w_str(w, lid);
	json_w_key(w, "nodes");
	json_w_arr_begin(w);
	struct nodes_ctx x = {w, lid};
	rc = cluster_sm_nodes_each(&c->sm, &t, nodes_cb, &x);
	store_txn_abort(&t);
	if (rc < 0)
		return rc;
	json_w_arr_end(w);
	json_w_obj_end(w);
	return API_DONE;
}

static int h_env(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	static struct cluster_tokens tk;
	int rc = cluster_sm_tokens(&c->sm, NULL, &tk);
	if (rc < 0)
		return rc;
	struct json_writer *w = api_resp_json(resp);
	json_w_obj_begin(w);
	json_w_key(w, "controlNodeToken");
	json_w_str(w, tk.control.text);
	json_w_key(w, "dataNodeToken");
	json_w_str(w, tk.data.text);
	json_w_obj_end(w);
	pki_wipe(&tk, sizeof tk);
	return API_DONE;
}

static int propose_plain(struct ctl *c, struct api_req *req, struct api_resp *resp,
			 const struct cluster_cmd *cmd);

/* POST /tokens/rotate {"role":"control"|"data"}: a new join token for that role (env
 * --rotate). The old one stops admitting nodes once the change commits; nodes already joined
 * are not affected (they hold certificates). The answer is {}: read the new text with GET /env. */
static int h_rotate(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	char role_s[16];
	int n = json_str_field(req->json, "role", role_s, sizeof role_s);
	int role = n > 0 && !strcmp(role_s, "control") ? CLUSTER_ROLE_CONTROL
		   : n > 0 && !strcmp(role_s, "data")  ? CLUSTER_ROLE_DATA
						       : 0;
	if (!role)
		return api_resp_error(resp, 400, -ERR_INVAL,
				      "want {\"role\":\"control\"|\"data\"}");
	if (!ctl_is_leader(c))
		return forward(c, req, resp);
	struct store_txn t;
	struct slice ca_cert, ca_key;
	unsigned char digest[PKI_CA_DIGEST_LEN];
	int rc = store_txn_begin(&c->store, &t, STORE_TXN_READ);
	if (rc < 0)
		return rc;
	rc = cluster_sm_ca(&c->sm, &t, &ca_cert, &ca_key);
	if (rc == 0)
		pki_ca_digest(ca_cert.p, ca_cert.len, digest);
	store_txn_abort(&t);
	if (rc < 0)
		return rc;
	struct pki_token tok;
	char text[PKI_TOKEN_LEN + 1];
	unsigned char ver[PKI_VERIFIER_LEN];
	rc = pki_token_new(&tok, &c->rng,
			   role == CLUSTER_ROLE_CONTROL ? PKI_ROLE_CONTROL : PKI_ROLE_DATA, digest);
	if (rc < 0)
		return rc;
	pki_token_format(&tok, text);
	pki_token_verifier(&tok, ver);
	pki_token_wipe(&tok);
	struct cluster_cmd cmd = {.type = CLUSTER_CMD_TOKEN_ROTATE};
	cmd.u.token.role = (uint8_t)role;
	cmd.u.token.verifier = (struct slice){(const char *)ver, sizeof ver};
	cmd.u.token.token = slice_from_cstr(text);
	cmd.u.token.at = ctl_wall_ms();
	rc = propose_plain(c, req, resp, &cmd);
	pki_wipe(text, sizeof text);
	log_info("join token rotation proposed", "role=%s", role_s);
	return rc;
}

static int h_status(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	struct cluster_info ci;
	char lid[ID_LEN + 1] = "", laddr[NODE_ADDR_MAX] = "";
	ctl_leader(c, lid, sizeof lid, laddr, sizeof laddr);
	if (cluster_sm_info(&c->sm, NULL, &ci) < 0)
		memset(&ci, 0, sizeof ci);
	const struct raft_conf *conf = raft_config(&c->raft);
	struct json_writer *w = api_resp_json(resp);
	json_w_obj_begin(w);
	json_w_key(w, "nodeId");
	json_w_str(w, c->ident.node_id);
	json_w_key(w, "name");
	json_w_str(w, c->ident.name);
	json_w_key(w, "clusterId");
	json_w_str(w, c->ident.cluster_id);
	json_w_key(w, "clusterName");
	json_w_str(w, c->ident.cluster_name);
	json_w_key(w, "version");
	json_w_str(w, TEE_VERSION);
	json_w_key(w, "raftRole");
	json_w_str(w, raft_role_name(raft_role(&c->raft)));
	json_w_key(w, "term");
	json_w_uint(w, raft_term(&c->raft));
	json_w_key(w, "leader");
	json_w_str(w, lid);
	json_w_key(w, "leaderAddress");
	json_w_str(w, laddr);
	json_w_key(w, "commit");
	json_w_uint(w, raft_commit_index(&c->raft));
	json_w_key(w, "applied");
	json_w_uint(w, store_applied(&c->store));
	json_w_key(w, "voters");
	json_w_uint(w, raft_conf_voters(conf));
	json_w_key(w, "servers");
	json_w_uint(w, conf->n);
	json_w_key(w, "initialised");
	json_w_bool(w, ci.initialised);
	json_w_key(w, "bootstrapDone");
	json_w_bool(w, ci.bootstrap_done);
	json_w_key(w, "routingRevision");
	json_w_uint(w, ci.routing_revision);
	json_w_key(w, "deployed");
	json_w_bool(w, ci.deployed);
	json_w_obj_end(w);
	return API_DONE;
}

static int h_ping(struct api_req *req, struct api_resp *resp, void *arg)
{
	resp->content_type = "text/plain";
	buf_append_cstr(&resp->body, "OK");
	return API_DONE;
}

/* --- Write routes --------------------------------------------------------------------- */

static int propose_plain(struct ctl *c, struct api_req *req, struct api_resp *resp,
			 const struct cluster_cmd *cmd)
{
	char why[CLUSTER_WHY_MAX];
	int rc = cluster_cmd_check(cmd, why, sizeof why);
	if (rc < 0)
		return api_resp_error(resp, 400, rc, "%s", why);
	struct api_handle h;
	struct ctl_pending *p;
	int drc = api_resp_defer(resp, &h);
	rc = ctl_propose(c, cmd, CTL_P_PLAIN, &h, &p);
	if (rc < 0)
		finish_error(c, h, rc,
			     rc == -ERR_RAFT_NOT_LEADER ? "no leader at the moment; retry"
			     : rc == -ERR_RAFT_ENTRY_TOO_LARGE
				     ? "the change is larger than a Raft entry may be"
				     : err_str(rc));
	return drc;
}

static int h_deploy(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	if (!ctl_is_leader(c))
		return forward(c, req, resp);
	json_tok *toks = c->sm.toks;
	char why[CLUSTER_WHY_MAX];
	int rc = cluster_cmd_check_deploy(req->body, toks, CLUSTER_DEPLOY_TOKENS, why, sizeof why);
	if (rc < 0)
		return api_resp_error(resp, 400, rc, "%s", why);
	struct cluster_cmd cmd = {.type = CLUSTER_CMD_DEPLOY};
	cmd.u.deploy.config = req->body;
	cmd.u.deploy.at = ctl_wall_ms();
	return propose_plain(c, req, resp, &cmd);
}

static int h_license(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	static char lic[CLUSTER_LICENSE_MAX + 1];
	int n = json_str_field(req->json, "licenseKey", lic, sizeof lic);
	if (n <= 0)
		return api_resp_error(resp, 400, -ERR_INVAL, "want {\"licenseKey\":\"...\"}");
	if (!ctl_is_leader(c))
		return forward(c, req, resp);
	struct cluster_cmd cmd = {.type = CLUSTER_CMD_LICENSE_SET};
	cmd.u.license.license = (struct slice){lic, (size_t)n};
	cmd.u.license.at = ctl_wall_ms();
	return propose_plain(c, req, resp, &cmd);
}

/* The node called key (ID or name) for a write: 0 and *n, or the answer to give (404 none,
 * 409 several of that name: *answered) or an error. */
static int node_lookup(struct ctl *c, struct api_resp *resp, const char *key,
		       struct cluster_node *n, bool *answered)
{
	*answered = false;
	int rc = cluster_sm_node_find(&c->sm, NULL, slice_from_cstr(key), n);
	if (rc == -ERR_NOTFOUND || rc == -ERR_CLUSTER_AMBIGUOUS) {
		*answered = true;
		return rc == -ERR_NOTFOUND
			       ? api_resp_error(resp, 404, rc, "no node has the ID or name \"%s\"",
						key)
			       : api_resp_error(resp, 409, rc,
						"several nodes are called \"%s\": give the node ID",
						key);
	}
	return rc;
}

static int h_rm_node(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	char key[CLUSTER_NODE_NAME_MAX + 1], force[8] = "";
	if (api_req_param(req, "id", key, sizeof key) <= 0)
		return api_resp_error(resp, 400, -ERR_INVAL, "bad node ID or name");
	api_req_query(req, "force", force, sizeof force);
	if (!ctl_is_leader(c))
		return forward(c, req, resp);
	struct cluster_node n;
	bool answered;
	int rc = node_lookup(c, resp, key, &n, &answered);
	if (answered || rc < 0)
		return rc;
	struct cluster_cmd cmd = {.type = CLUSTER_CMD_NODE_REMOVE};
	cmd.u.remove.id = slice_from_cstr(n.id);
	cmd.u.remove.force = strcmp(force, "true") == 0;
	cmd.u.remove.at = ctl_wall_ms();
	return propose_plain(c, req, resp, &cmd);
}

/* PUT /nodes/{id}/availability {"availability":"ACTIVE"|"PAUSE"|"DRAIN"}: a data node's. */
static int h_avail(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	char key[CLUSTER_NODE_NAME_MAX + 1], want[16];
	if (api_req_param(req, "id", key, sizeof key) <= 0)
		return api_resp_error(resp, 400, -ERR_INVAL, "bad node ID or name");
	int wl = json_str_field(req->json, "availability", want, sizeof want);
	enum cluster_avail av;
	if (wl <= 0 || cluster_avail_parse((struct slice){want, (size_t)wl}, &av) < 0)
		return api_resp_error(resp, 400, -ERR_INVAL,
				      "want {\"availability\":\"ACTIVE\"|\"PAUSE\"|\"DRAIN\"}");
	if (!ctl_is_leader(c))
		return forward(c, req, resp);
	struct cluster_node n;
	bool answered;
	int rc = node_lookup(c, resp, key, &n, &answered);
	if (answered || rc < 0)
		return rc;
	if (n.role != CLUSTER_ROLE_DATA)
		return api_resp_error(resp, 400, -ERR_INVAL,
				      "%s is a control node: only data nodes have an availability "
				      "(PAUSE: no new configuration; DRAIN: /ping answers 503)",
				      n.name);
	struct cluster_cmd cmd = {.type = CLUSTER_CMD_NODE_AVAIL};
	cmd.u.avail.id = slice_from_cstr(n.id);
	cmd.u.avail.availability = (uint8_t)av;
	cmd.u.avail.at = ctl_wall_ms();
	return propose_plain(c, req, resp, &cmd);
}

/* --- Backup --------------------------------------------------------------------------- */

static struct {
	bool busy;
	struct api_handle h;
	uint8_t *data;
	size_t len, off;
} bk;

static void backup_push(struct ctl *c)
{
	while (bk.busy && bk.off < bk.len) {
		ssize_t n = api_stream_push(&c->api, bk.h, bk.data + bk.off, bk.len - bk.off);
		if (n < 0) {
			bk.busy = false;
			break;
		}
		bk.off += (size_t)n;
		if (bk.off < bk.len)
			return; /* wait for DRAINED */
	}
	if (bk.busy)
		api_stream_end(&c->api, bk.h);
	bk.busy = false;
	free(bk.data);
	bk.data = NULL;
}

static void backup_event(struct api_server *s, struct api_handle h, enum api_event ev, void *arg)
{
	struct ctl *c = arg;
	if (ev == API_EV_CLOSED) {
		bk.busy = false;
		free(bk.data);
		bk.data = NULL;
		return;
	}
	backup_push(c);
}

static int h_backup(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	struct cluster_info ci;
	if (bk.busy)
		return api_resp_error(resp, 503, -ERR_AGAIN, "a backup is being sent; retry");
	int rc = cluster_sm_info(&c->sm, NULL, &ci);
	if (rc < 0)
		return rc;
	if (!ci.initialised)
		return -ERR_CLUSTER_NOT_INIT;
	size_t cap = cluster_backup_max_bytes(&ci.limits);
	uint8_t *mem = malloc(cap);
	if (!mem)
		return -ERR_NOMEM;
	struct buf b;
	buf_init(&b, mem, cap);
	int64_t now = ctl_wall_ms();
	rc = cluster_backup_write(&c->sm, NULL, now, &b);
	if (rc < 0) {
		free(mem);
		return api_resp_error(resp, 0, rc, "%s",
				      c->sm.errmsg[0] ? c->sm.errmsg : err_str(rc));
	}
	char name[CLUSTER_BACKUP_NAME_LEN + 1], disp[CLUSTER_BACKUP_NAME_LEN + 40];
	cluster_backup_filename(now, name);
	snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", name);
	resp->content_type = "application/x-tar";
	api_resp_header(resp, "Content-Disposition", disp);
	rc = api_resp_stream(resp, &bk.h);
	api_resp_on_event(resp, backup_event, c);
	bk.busy = true;
	bk.data = mem;
	bk.len = b.len;
	bk.off = 0;
	backup_push(c);
	return rc;
}

/* --- Join (server side) --------------------------------------------------------------- */

/* Nonces need no state: expiry (8) || random (8) || HMAC(K, expiry || random) (16), with K
 * derived from the CA key every control node holds, so any of them can check one. */
static int nonce_key(struct ctl *c, uint8_t key[32])
{
	struct store_txn t;
	struct slice cert, ckey;
	int rc = store_txn_begin(&c->store, &t, STORE_TXN_READ);
	if (rc < 0)
		return rc;
	rc = cluster_sm_ca(&c->sm, &t, &cert, &ckey);
	if (rc == 0) {
		br_sha256_context h;
		br_sha256_init(&h);
		br_sha256_update(&h, "traefikee join nonce key v1", 27);
		br_sha256_update(&h, ckey.p, ckey.len);
		br_sha256_out(&h, key);
	}
	store_txn_abort(&t);
	return rc;
}

static void nonce_mac(const uint8_t key[32], const uint8_t head[16], uint8_t out[16])
{
	br_hmac_key_context kc;
	br_hmac_context hc;
	uint8_t full[32];
	br_hmac_key_init(&kc, &br_sha256_vtable, key, 32);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, head, 16);
	br_hmac_out(&hc, full);
	memcpy(out, full, 16);
}

static int h_challenge(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	uint8_t key[32], nonce[PKI_NONCE_LEN];
	int rc = nonce_key(c, key);
	if (rc < 0)
		return rc == -ERR_CLUSTER_NOT_INIT ? api_resp_error(resp, 503, rc,
								    "the cluster is not created "
								    "yet; retry")
						   : rc;
	uint64_t exp = (uint64_t)ctl_wall_ms() + NONCE_TTL_MS;
	for (int i = 0; i < 8; i++)
		nonce[i] = (uint8_t)(exp >> (56 - 8 * i));
	rand_bytes(&c->rng, nonce + 8, 8);
	nonce_mac(key, nonce, nonce + 16);
	pki_wipe(key, sizeof key);
	char hex[2 * PKI_NONCE_LEN + 1];
	node_hex(nonce, sizeof nonce, hex);
	struct json_writer *w = api_resp_json(resp);
	json_w_obj_begin(w);
	json_w_key(w, "nonce");
	json_w_str(w, hex);
	json_w_obj_end(w);
	return API_DONE;
}

static int nonce_check(struct ctl *c, const uint8_t nonce[PKI_NONCE_LEN])
{
	uint8_t key[32], mac[16];
	int rc = nonce_key(c, key);
	if (rc < 0)
		return rc;
	nonce_mac(key, nonce, mac);
	pki_wipe(key, sizeof key);
	if (!pki_ct_eq(mac, nonce + 16, 16))
		return -ERR_PKI_BAD_PROOF;
	uint64_t exp = 0;
	for (int i = 0; i < 8; i++)
		exp = exp << 8 | nonce[i];
	if ((uint64_t)ctl_wall_ms() > exp)
		return -ERR_TIMEOUT;
	return 0;
}

static int join_answer(struct ctl *c, struct ctl_pending *p, struct json_writer *w)
{
	static char pem[2 * PKI_CERT_MAX + 128];
	struct buf b;
	struct store_txn t;
	struct slice cert, key;
	json_w_key(w, "nodeId");
	json_w_str(w, p->node_id);
	json_w_key(w, "clusterId");
	json_w_str(w, c->ident.cluster_id);
	json_w_key(w, "clusterName");
	json_w_str(w, c->ident.cluster_name);
	buf_init(&b, pem, sizeof pem);
	if (pki_pem_encode(PKI_PEM_CERT, p->cert, p->cert_len, &b) < 0)
		return -1;
	json_w_key(w, "certificate");
	json_w_str_slice(w, buf_slice(&b));
	if (store_txn_begin(&c->store, &t, STORE_TXN_READ) < 0)
		return -1;
	int rc = cluster_sm_ca(&c->sm, &t, &cert, &key);
	buf_reset(&b);
	if (rc == 0)
		rc = pki_pem_encode(PKI_PEM_CERT, cert.p, cert.len, &b);
	store_txn_abort(&t);
	if (rc < 0)
		return -1;
	json_w_key(w, "ca");
	json_w_str_slice(w, buf_slice(&b));
	json_w_key(w, "controlNodes");
	json_w_arr_begin(w);
	json_w_obj_begin(w);
	json_w_key(w, "id");
	json_w_str(w, c->ident.node_id);
	json_w_key(w, "address");
	json_w_str(w, c->o->advertise);
	json_w_obj_end(w);
	for (int i = 0; i < NODE_PEERS_MAX; i++) {
		struct ctl_peer *pe = &c->peers[i];
		if (!pe->used || !pe->addr[0] || strcmp(pe->node_id, p->node_id) == 0)
			continue;
		json_w_obj_begin(w);
		json_w_key(w, "id");
		json_w_str(w, pe->node_id);
		json_w_key(w, "address");
		json_w_str(w, pe->addr);
		json_w_obj_end(w);
	}
	json_w_arr_end(w);
	json_w_key(w, "bootstrapWaitMs");
	int64_t wait = -1;
	if (c->boot && c->boot_deadline_ms && !c->boot_handing) {
		uint64_t now = loop_now_ms(&c->loop);
		wait = c->boot_deadline_ms > now ? (int64_t)(c->boot_deadline_ms - now) : 0;
	}
	json_w_int(w, wait);
	return json_w_error(w) ? -1 : 0;
}

/* A node certificate for (role, id, pub), issued by ca at now_ms with the configured lifetime
 * (node_cert_lifetime) and named for a control node's advertise address addr (its IP or DNS
 * name; data nodes get no name). der: PKI_CERT_MAX bytes. 0 with *der_len, *serial (into der)
 * and *info, or an error. */
static int issue_node_cert(struct ctl *c, const struct pki_ca *ca, int role, const char *id,
			   const uint8_t *pub, const char *addr, int64_t now_ms, uint8_t *der,
			   size_t *der_len, struct slice *serial, struct pki_cert_info *info)
{
	struct pki_ip ip;
	char host[NODE_ADDR_MAX];
	uint16_t port;
	const char *dnsv[1] = {host};
	size_t nips = 0, ndns = 0;
	if (role == CLUSTER_ROLE_CONTROL && api_addr_split(addr, host, sizeof host, &port) == 0 &&
	    host[0]) {
		if (pki_ip_parse(host, &ip) == 0)
			nips = 1;
		else if (pki_dns_name_valid(host))
			ndns = 1;
	}
	struct pki_cert_req cr = {.role = role == CLUSTER_ROLE_CONTROL ? PKI_ROLE_CONTROL
								       : PKI_ROLE_DATA,
				  .id = id,
				  .pub = pub,
				  .dns = dnsv,
				  .ndns = ndns,
				  .ips = &ip,
				  .nips = nips,
				  .lifetime = node_cert_lifetime()};
	struct buf b;
	buf_init(&b, der, PKI_CERT_MAX);
	int rc = pki_cert_issue(ca, &c->rng, &cr, now_ms / 1000, &b);
	if (rc < 0)
		return rc;
	*der_len = b.len;
	if (node_cert_serial(der, b.len, serial) < 0 || pki_cert_parse(der, b.len, info) < 0)
		return -ERR_PKI_CERT;
	return 0;
}

/* Check cmd, then propose it and answer the request after the commit with the certificate der
 * (join_answer). Returns what the route handler returns. */
static int propose_with_cert(struct ctl *c, struct api_resp *resp, const struct cluster_cmd *cmd,
			     enum ctl_pending_kind kind, const uint8_t *der, size_t der_len,
			     int role, const char *id)
{
	char why[CLUSTER_WHY_MAX];
	int rc = cluster_cmd_check(cmd, why, sizeof why);
	if (rc < 0)
		return api_resp_error(resp, 400, rc, "%s", why);
	struct api_handle h;
	struct ctl_pending *p = NULL;
	int drc = api_resp_defer(resp, &h);
	rc = ctl_propose(c, cmd, kind, &h, &p);
	if (rc < 0) {
		finish_error(c, h, rc,
			     rc == -ERR_RAFT_NOT_LEADER ? "no leader; retry" : err_str(rc));
		return drc;
	}
	if (!p->cert && !(p->cert = malloc(PKI_CERT_MAX))) {
		ctl_pending_fail(c, p, -ERR_NOMEM, "out of memory");
		return drc;
	}
	memcpy(p->cert, der, der_len);
	p->cert_len = der_len;
	p->role = role;
	snprintf(p->node_id, sizeof p->node_id, "%.*s", ID_LEN, id);
	return drc;
}

/* Failed joins per client address (node_joinlimit.h). They are counted on the node the client
 * talks to: a follower checks the proof of a join it passes on itself (the leader's answer is
 * still the one the client gets), and the leader does not count joins a follower passed on
 * under the follower's address. One table per control node (c->join_limit), set up on the first
 * join. */
static struct joinlimit *join_limiter(struct ctl *c)
{
	if (c->join_limit.burst)
		return &c->join_limit;
	uint32_t burst = JOINLIMIT_BURST_DEFAULT, refill_ms = JOINLIMIT_REFILL_MS_DEFAULT;
	const char *env = getenv(JOINLIMIT_ENV);
	if (env && *env && joinlimit_parse_params(env, &burst, &refill_ms) == 0)
		log_warn("join limit set by " JOINLIMIT_ENV " (for tests)", "burst=%u refill=%us",
			 burst, refill_ms / 1000);
	joinlimit_init(&c->join_limit, burst, refill_ms);
	return &c->join_limit;
}

/* Count a failed join by src; the first time it runs out, say so (once: node_joinlimit.h). */
static void join_failed(struct ctl *c, const struct joinlimit_key *src, uint64_t now_ms)
{
	struct joinlimit_answer a;
	joinlimit_fail(join_limiter(c), src, now_ms, &a);
	if (a.report) {
		char who[JOINLIMIT_KEY_TEXT];
		joinlimit_key_text(src, who);
		log_warn("join attempts limited: too many failed joins from one address",
			 "addr=%s failures=%u retryIn=%llus", who, a.fails,
			 (unsigned long long)((a.wait_ms + 999) / 1000));
	}
}

/* 429 for src, out of failed attempts (or the table, out of budget for newcomers): Retry-After
 * and {"error","code","retryAfterSeconds"}. The join itself is not looked at. */
static int join_refuse(struct api_resp *resp, const struct joinlimit_key *src,
		       const struct joinlimit_answer *a)
{
	char who[JOINLIMIT_KEY_TEXT], msg[API_ERRMSG_MAX], secs[24];
	unsigned long long s = (a->wait_ms + 999) / 1000;
	joinlimit_key_text(src, who);
	if (a->verdict == JOINLIMIT_SATURATED) {
		if (a->report)
			log_warn("join attempts limited: too many addresses made failed joins; "
				 "refusing joins from new addresses",
				 "addresses=%d retryIn=%llus", JOINLIMIT_SLOTS, s);
		snprintf(msg, sizeof msg,
			 "too many addresses made failed join attempts; joins from %s are "
			 "refused for now; retry in %llu s",
			 who, s);
	} else {
		snprintf(msg, sizeof msg,
			 "%s made too many failed join attempts (%u); retry in %llu s", who,
			 a->fails, s);
	}
	snprintf(secs, sizeof secs, "%llu", s);
	struct json_writer *w = api_resp_json(resp);
	resp->status = 429;
	json_w_obj_begin(w);
	json_w_key(w, "error");
	json_w_str(w, msg);
	json_w_key(w, "code");
	json_w_str(w, err_name(-ERR_AGAIN));
	json_w_key(w, "retryAfterSeconds");
	json_w_uint(w, s);
	json_w_obj_end(w);
	api_resp_header(resp, "Retry-After", secs);
	return API_DONE;
}

/* Check proof (for role, nonce and pub) against the role's token verifier this node holds.
 * 0 (with ca: the CA loaded into *ca, for the caller to wipe), -ERR_PKI_BAD_PROOF, or another
 * error (with ca: *ca wiped). */
static int join_proof_check(struct ctl *c, int role, const uint8_t *nonce, const uint8_t *pub,
			    const uint8_t *proof, struct pki_ca *ca)
{
	static struct cluster_tokens tk;
	struct store_txn t;
	struct slice ca_cert, ca_key;
	unsigned char digest[PKI_CA_DIGEST_LEN];
	int rc = cluster_sm_tokens(&c->sm, NULL, &tk);
	if (rc < 0)
		return rc;
	if ((rc = store_txn_begin(&c->store, &t, STORE_TXN_READ)) < 0) {
		pki_wipe(&tk, sizeof tk);
		return rc;
	}
	rc = cluster_sm_ca(&c->sm, &t, &ca_cert, &ca_key);
	if (rc == 0) {
		pki_ca_digest(ca_cert.p, ca_cert.len, digest);
		if (ca)
			rc = pki_ca_load(ca, ca_cert.p, ca_cert.len, ca_key.p, ca_key.len);
	}
	store_txn_abort(&t);
	if (rc == 0) {
		const unsigned char *ver =
			role == CLUSTER_ROLE_CONTROL ? tk.control.verifier : tk.data.verifier;
		enum pki_role pr = role == CLUSTER_ROLE_CONTROL ? PKI_ROLE_CONTROL : PKI_ROLE_DATA;
		if (pki_token_verify_proof(ver, pr, digest, nonce, pub, proof) < 0)
			rc = -ERR_PKI_BAD_PROOF;
	}
	pki_wipe(&tk, sizeof tk);
	if (rc < 0 && ca)
		pki_ca_wipe(ca);
	return rc;
}

static int h_join(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	struct joinlimit_key src;
	uint64_t now_ms = loop_now_ms(&c->loop);
	bool counted = req->peer->kind != API_PEER_CONTROL &&
		       joinlimit_key_from_addr(req->peer->addr, &src) == 0;
	if (counted) {
		struct joinlimit_answer la;
		joinlimit_check(join_limiter(c), &src, now_ms, &la);
		if (la.verdict != JOINLIMIT_OK)
			return join_refuse(resp, &src, &la);
	}
	char role_s[16], name[CLUSTER_NODE_NAME_MAX + 1], adv[NODE_ADDR_MAX];
	char pub_h[2 * PKI_KEY_PUB_LEN + 1], nonce_h[2 * PKI_NONCE_LEN + 1],
		proof_h[2 * PKI_PROOF_LEN + 1];
	uint8_t pub[PKI_KEY_PUB_LEN], nonce[PKI_NONCE_LEN], proof[PKI_PROOF_LEN];
	const struct json_doc *d = req->json;
	int nr = json_str_field(d, "role", role_s, sizeof role_s);
	int nn = json_str_field(d, "name", name, sizeof name);
	int na = json_str_field(d, "advertise", adv, sizeof adv);
	int np = json_str_field(d, "pub", pub_h, sizeof pub_h);
	int no = json_str_field(d, "nonce", nonce_h, sizeof nonce_h);
	int nf = json_str_field(d, "proof", proof_h, sizeof proof_h);
	int role = nr > 0 && strcmp(role_s, "control") == 0 ? CLUSTER_ROLE_CONTROL
		   : nr > 0 && strcmp(role_s, "data") == 0  ? CLUSTER_ROLE_DATA
							    : 0;
	if (!role || nn <= 0 || na <= 0 || np < 0 || no < 0 || nf < 0 ||
	    node_unhex(pub_h, (size_t)np, pub, sizeof pub) < 0 ||
	    node_unhex(nonce_h, (size_t)no, nonce, sizeof nonce) < 0 ||
	    node_unhex(proof_h, (size_t)nf, proof, sizeof proof) < 0) {
		if (counted)
			join_failed(c, &src, now_ms);
		return api_resp_error(resp, 400, -ERR_INVAL,
				      "want {\"role\",\"name\",\"advertise\",\"pub\",\"nonce\","
				      "\"proof\"}");
	}
	if (!cluster_name_valid(slice_from_cstr(name), CLUSTER_NODE_NAME_MAX))
		return api_resp_error(resp, 400, -ERR_INVAL, "node name not allowed");
	if (!ctl_is_leader(c)) {
		int vrc = counted ? nonce_check(c, nonce) : 0;
		if (counted && vrc == 0)
			vrc = join_proof_check(c, role, nonce, pub, proof, NULL);
		if (vrc == -ERR_PKI_BAD_PROOF)
			join_failed(c, &src, now_ms);
		return forward(c, req, resp);
	}

	int rc = nonce_check(c, nonce);
	if (rc < 0) {
		if (counted && rc == -ERR_PKI_BAD_PROOF)
			join_failed(c, &src, now_ms);
		return api_resp_error(resp, 403, rc == -ERR_TIMEOUT ? rc : -ERR_PKI_BAD_PROOF,
				      rc == -ERR_TIMEOUT ? "join challenge expired; retry"
							 : "join challenge not issued by this "
							   "cluster");
	}
	static struct pki_ca ca;
	rc = join_proof_check(c, role, nonce, pub, proof, &ca);
	char q[80];
	if (rc == -ERR_PKI_BAD_PROOF) {
		log_warn("join refused: bad token proof", "peer=%s role=%s name=%s",
			 req->peer->addr, role_s, log_q(q, sizeof q, name));
		if (counted)
			join_failed(c, &src, now_ms);
		return api_resp_error(resp, 403, -ERR_PKI_BAD_PROOF,
				      "the join token is not valid for a %s node of this cluster",
				      role_s);
	}
	if (rc < 0)
		return rc;
	if (pki_key_pub_check(pub, sizeof pub) < 0) {
		pki_ca_wipe(&ca);
		return api_resp_error(resp, 400, -ERR_PKI_KEY,
				      "the public key is not a P-256 point");
	}
	/* Issue the certificate now; the node exists once NODE_JOIN commits. */
	char id[ID_LEN + 1];
	uint8_t der[PKI_CERT_MAX];
	size_t der_len;
	struct slice serial;
	struct pki_cert_info info;
	id_generate(&c->rng, id);
	int64_t now = ctl_wall_ms();
	rc = issue_node_cert(c, &ca, role, id, pub, adv, now, der, &der_len, &serial, &info);
	pki_ca_wipe(&ca);
	if (rc < 0)
		return api_resp_error(resp, 500, rc, "cannot issue the node certificate: %s",
				      err_str(rc));
	struct cluster_cmd cmd = {.type = CLUSTER_CMD_NODE_JOIN};
	cmd.u.join.id = slice_from_cstr(id);
	cmd.u.join.name = slice_from_cstr(name);
	cmd.u.join.role = (uint8_t)role;
	cmd.u.join.addr = slice_from_cstr(adv);
	cmd.u.join.serial = serial;
	cmd.u.join.cert_not_after = info.not_after * 1000;
	cmd.u.join.at = now;
	int drc = propose_with_cert(c, resp, &cmd, CTL_P_JOIN, der, der_len, role, id);
	log_info("join accepted, waiting for the commit", "node=%s name=%s role=%s peer=%s", id,
		 log_q(q, sizeof q, name), role_s, req->peer->addr);
	return drc;
}

/* POST /renew {"id","pub","serial"}: a new certificate for a node that still holds a valid
 * one (node_renew.h). A data node asks for itself; a control node asks for itself, or passes
 * a data node's request on to the leader. serial (hex) is the certificate the node presents:
 * the cluster keeps it valid (NODE_CERT keep_serial), so a lost answer never locks the node
 * out; it must be the node's current or previous one. The leader issues a certificate for the
 * same ID, role and names with the new key, and answers once NODE_CERT has committed. */
static int h_renew(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	char id[ID_LEN + 2], pub_h[2 * PKI_KEY_PUB_LEN + 1], ser_h[2 * CLUSTER_SERIAL_MAX + 2];
	uint8_t pub[PKI_KEY_PUB_LEN], ser[CLUSTER_SERIAL_MAX];
	const struct json_doc *d = req->json;
	int ni = json_str_field(d, "id", id, sizeof id);
	int np = json_str_field(d, "pub", pub_h, sizeof pub_h);
	int ns = json_str_field(d, "serial", ser_h, sizeof ser_h);
	size_t ser_len = ns > 0 ? (size_t)ns / 2 : 0;
	if (ni != ID_LEN || np < 0 || node_unhex(pub_h, (size_t)np, pub, sizeof pub) < 0 ||
	    ns < 2 || ns % 2 || ser_len > sizeof ser ||
	    node_unhex(ser_h, (size_t)ns, ser, ser_len) < 0)
		return api_resp_error(resp, 400, -ERR_INVAL, "want {\"id\",\"pub\",\"serial\"}");
	if (req->peer->kind != API_PEER_CONTROL && strcmp(req->peer->id, id) != 0)
		return api_resp_error(resp, 403, -ERR_INVAL,
				      "a node renews its own certificate only");
	if (!ctl_is_leader(c))
		return forward(c, req, resp);
	if (pki_key_pub_check(pub, sizeof pub) < 0)
		return api_resp_error(resp, 400, -ERR_PKI_KEY,
				      "the public key is not a P-256 point");
	static struct cluster_node n;
	int rc = cluster_sm_node_get(&c->sm, NULL, slice_from_cstr(id), &n);
	if (rc == -ERR_NOTFOUND)
		return api_resp_error(resp, 404, rc, "no node %s in this cluster", id);
	if (rc < 0)
		return rc;
	int64_t keep_not_after;
	if (ser_len == n.serial_len && memcmp(ser, n.serial, ser_len) == 0)
		keep_not_after = n.cert_not_after;
	else if (ser_len == n.prev_serial_len && memcmp(ser, n.prev_serial, ser_len) == 0)
		keep_not_after = n.prev_not_after;
	else
		return api_resp_error(resp, 409, -ERR_CLUSTER_STALE,
				      "serial %s is not a certificate of node %s", ser_h, id);
	struct store_txn t;
	struct slice ca_cert, ca_key;
	static struct pki_ca ca;
	if ((rc = store_txn_begin(&c->store, &t, STORE_TXN_READ)) < 0)
		return rc;
	rc = cluster_sm_ca(&c->sm, &t, &ca_cert, &ca_key);
	if (rc == 0)
		rc = pki_ca_load(&ca, ca_cert.p, ca_cert.len, ca_key.p, ca_key.len);
	store_txn_abort(&t);
	if (rc < 0)
		return rc;
	uint8_t der[PKI_CERT_MAX];
	size_t der_len;
	struct slice serial;
	struct pki_cert_info info;
	int64_t now = ctl_wall_ms();
	rc = issue_node_cert(c, &ca, n.role, id, pub, n.addr, now, der, &der_len, &serial, &info);
	pki_ca_wipe(&ca);
	if (rc < 0)
		return api_resp_error(resp, 500, rc, "cannot issue the node certificate: %s",
				      err_str(rc));
	struct cluster_cmd cmd = {.type = CLUSTER_CMD_NODE_CERT};
	cmd.u.cert.id = slice_from_cstr(id);
	cmd.u.cert.keep_serial = (struct slice){(const char *)ser, ser_len};
	cmd.u.cert.keep_not_after = keep_not_after;
	cmd.u.cert.serial = serial;
	cmd.u.cert.cert_not_after = info.not_after * 1000;
	cmd.u.cert.at = now;
	log_info("certificate renewal accepted, waiting for the commit", "node=%s name=%s peer=%s",
		 id, n.name, req->peer->addr);
	return propose_with_cert(c, resp, &cmd, CTL_P_RENEW, der, der_len, n.role, id);
}

/* --- Raft and node reports ------------------------------------------------------------ */

static int h_raft(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	char err[160];
	int rc = ctl_transport_receive(c, req->peer->id, req->body,
				       api_req_header(req, "X-Tee-Advertise"), err, sizeof err);
	if (rc < 0)
		return api_resp_error(resp, 400, rc, "%s", err);
	/* What the sender's build reads (ctl_cmd_supported); none: an older build. */
	struct ctl_peer *p = ctl_peer_by_raft(c, node_raft_id(req->peer->id));
	if (p) {
		struct slice v = api_req_header(req, "X-Tee-Commands");
		unsigned n = 0;
		for (size_t i = 0; i < v.len && n <= 255; i++)
			n = v.p[i] >= '0' && v.p[i] <= '9' ? n * 10 + (unsigned)(v.p[i] - '0')
							   : 256;
		p->cmd_max = n <= 255 ? (uint8_t)n : 0;
	}
	buf_append_cstr(&resp->body, "{}");
	return API_DONE;
}

/* POST /nodes/address {"id","addr"} (control nodes, to the leader): a control node restarted
 * with another --advertise asks for it to be recorded (ctl_addr_check). A node may only move
 * itself. Answers {} once proposed; the node sees the commit in its own copy of the table. */
static int h_node_addr(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	if (!ctl_is_leader(c))
		return -ERR_RAFT_NOT_LEADER;
	char id[ID_LEN + 1], addr[CLUSTER_ADDR_MAX + 1];
	int il = json_str_field(req->json, "id", id, sizeof id);
	int al = json_str_field(req->json, "addr", addr, sizeof addr);
	if (il != ID_LEN || al <= 0)
		return api_resp_error(resp, 400, -ERR_INVAL,
				      "want {\"id\":<node ID>,\"addr\":<host:port>} (an address of "
				      "1..%d characters)",
				      CLUSTER_ADDR_MAX);
	if (strcmp(req->peer->id, id) != 0)
		return api_resp_error(resp, 403, -ERR_INVAL, "a control node may only move itself");
	struct cluster_node n;
	int rc = cluster_sm_node_get(&c->sm, NULL, slice_from_cstr(id), &n);
	if (rc < 0)
		return api_resp_error(resp, 404, rc, "no node %s", id);
	if (n.role != CLUSTER_ROLE_CONTROL)
		return api_resp_error(resp, 400, -ERR_INVAL, "%s is not a control node", n.name);
	char host[CLUSTER_ADDR_MAX + 1];
	uint16_t port;
	if (api_addr_split(addr, host, sizeof host, &port) < 0 || !host[0] || !port)
		return api_resp_error(resp, 400, -ERR_INVAL, "addr: not host:port: %s", addr);
	if (strcmp(n.addr, addr) != 0 && (rc = ctl_addr_propose(c, id, addr)) < 0)
		return rc;
	buf_append_cstr(&resp->body, "{}");
	return API_DONE;
}

static void addr_resp(struct node_link *k, int status, struct slice body, void *arg)
{
	struct ctl *c = arg;
	c->addr_busy = false;
	if (status != 200)
		log_debug("address change not taken there", "addr=%s status=%d body=%.*s", k->addr,
			  status, (int)(body.len > 200 ? 200 : body.len), body.p);
}

static void addr_err(struct node_link *k, int err, const char *why, void *arg)
{
	struct ctl *c = arg;
	c->addr_busy = false;
	log_debug("address change not sent", "addr=%s err=%s", k->addr, err_name(err));
}

void ctl_addr_ask(struct ctl *c)
{
	if (c->addr_busy)
		return;
	if (!c->addr_link_init) {
		struct node_link_config lc = {
			.loop = &c->loop,
			.rng = &c->rng,
			.tls = &c->tls->cli,
			.out_cap = 2048,
			.in_cap = 4096,
			.connect_timeout_ms = 2000,
			.response_timeout_ms = 5000,
			.on_resp = addr_resp,
			.on_err = addr_err,
			.arg = c,
		};
		if (node_link_init(&c->addr_link, &lc) < 0)
			return;
		c->addr_link_init = true;
	}
	char body[64 + ID_LEN + 2 * CLUSTER_ADDR_MAX];
	struct buf b;
	buf_init(&b, body, sizeof body);
	struct json_writer w;
	json_w_init(&w, &b);
	json_w_obj_begin(&w);
	json_w_key(&w, "id");
	json_w_str(&w, c->ident.node_id);
	json_w_key(&w, "addr");
	json_w_str(&w, c->o->advertise);
	json_w_obj_end(&w);
	if (json_w_error(&w))
		return;
	for (int k = 1; k <= NODE_PEERS_MAX; k++) {
		int pi = (c->addr_peer + k) % NODE_PEERS_MAX;
		struct ctl_peer *p = &c->peers[pi];
		if (!p->used || !p->addr[0])
			continue;
		c->addr_peer = pi;
		if (node_link_set_addr(&c->addr_link, p->addr, p->node_id) == 0 &&
		    node_link_request(&c->addr_link, "POST", "/nodes/address",
				      "Content-Type: application/json\r\n", b.data, b.len) == 0) {
			c->addr_busy = true;
			return;
		}
	}
}

static int h_seen(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	if (!ctl_is_leader(c))
		return -ERR_RAFT_NOT_LEADER;
	const struct json_doc *d = req->json;
	struct json_iter it;
	int v;
	char id[ID_LEN + 1];
	if (!d || json_iter_begin(d, json_obj_get(d, JSON_ROOT, "ids"), &it) < 0)
		return api_resp_error(resp, 400, -ERR_INVAL, "want {\"ids\":[...]}");
	while ((v = json_iter_next(d, &it, NULL)) >= 0)
		if (json_get_str(d, v, id, sizeof id) == ID_LEN)
			ctl_leader_seen(c, id);
	buf_append_cstr(&resp->body, "{}");
	return API_DONE;
}

/* --- Health reports (node_health_report.h) --------------------------------------------- */

/* POST /nodes/health from a data node (its own certificate) keeps its latest verdicts here,
 * in memory only (they flap: never Raft), and owes one copy to each other control node
 * (POST /nodes/health/copy, control certificates; a copy is kept, never copied again). One
 * link sends the copies, one at a time, the latest report of a node each time (a newer
 * report replaces what was owed); a copy that fails is dropped: the data node reports again
 * within NHR_PERIOD_MS. GET /api/health (--api) joins the reports with the committed routing
 * document for the dashboard. */
struct ctl_health {
	struct nhr_table tab;
	struct nhr_report rep; /* scratch for one parse */
	json_tok *toks;        /* NHR_TOKENS */
	struct node_link fwd;
	bool fwd_init;
	int fwd_peer;  /* copy in flight to this peer slot, -1: none */
	int last_peer; /* where the link was last: copies to it go first */
	uint8_t *copy; /* NHR_COPY_MAX */
	/* GET /api/health: the committed document's health-checked servers */
	json_tok *doc_toks; /* NODE_WEB_TOKENS, on the first GET */
	struct nhr_srvlist *list;
	uint64_t list_rev;
	int list_err;
	struct {
		char id[ID_LEN + 1];
		char name[CLUSTER_NODE_NAME_MAX + 1];
	} dn[CTL_MAX_NODES];
	uint32_t ndn;
	uint64_t copies, copy_failures;
};

static void health_pump(struct ctl *c);

static void health_fwd_resp(struct node_link *k, int status, struct slice body, void *arg)
{
	struct ctl *c = arg;
	c->health->fwd_peer = -1;
	if (status != 200) {
		c->health->copy_failures++;
		log_debug("health report copy refused", "addr=%s status=%d", k->addr, status);
	}
	health_pump(c);
}

static void health_fwd_err(struct node_link *k, int err, const char *why, void *arg)
{
	struct ctl *c = arg;
	c->health->fwd_peer = -1;
	c->health->copy_failures++;
	log_debug("health report copy not sent", "addr=%s err=%s", k->addr, err_name(err));
}

/* Send the next copy owed, to the peer the link is on first. */
static void health_pump(struct ctl *c)
{
	struct ctl_health *h = c->health;
	if (!h || !h->fwd_init || h->fwd_peer >= 0 ||
	    (h->fwd.has_addr && !node_link_can_send(&h->fwd)))
		return;
	uint64_t now = loop_now_ms(&c->loop);
	for (int k = 0; k < NODE_PEERS_MAX; k++) {
		int pi = (h->last_peer + k) % NODE_PEERS_MAX;
		struct ctl_peer *p = &c->peers[pi];
		uint32_t bit = 1u << pi;
		bool live = p->used && p->addr[0];
		for (size_t i = 0; i < NHR_NODES_MAX; i++) {
			struct nhr_node *n = &h->tab.node[i];
			if (!n->used || !(n->fwd & bit))
				continue;
			n->fwd &= ~bit; /* once: a failure is not retried */
			if (!live)
				continue;
			struct buf b;
			buf_init(&b, h->copy, NHR_COPY_MAX);
			if (nhr_copy_write(&b, n, now) < 0 ||
			    node_link_set_addr(&h->fwd, p->addr, p->node_id) < 0 ||
			    node_link_request(&h->fwd, "POST", "/nodes/health/copy",
					      "Content-Type: application/json\r\n", b.data,
					      b.len) < 0) {
				h->copy_failures++;
				continue;
			}
			h->fwd_peer = pi;
			h->last_peer = pi;
			h->copies++;
			return;
		}
	}
}

void ctl_health_tick(struct ctl *c)
{
	health_pump(c);
}

void ctl_health_set_tls(struct ctl *c, const struct tls_client_config *tls)
{
	if (c->health && c->health->fwd_init)
		node_link_set_tls(&c->health->fwd, tls);
}

void ctl_health_fini(struct ctl *c)
{
	struct ctl_health *h = c->health;
	if (!h)
		return;
	if (h->fwd_init)
		node_link_fini(&h->fwd);
	nhr_table_fini(&h->tab);
	free(h->toks);
	free(h->copy);
	free(h->doc_toks);
	free(h->list);
	free(h);
	c->health = NULL;
}

static int health_start(struct ctl *c)
{
	struct ctl_health *h = calloc(1, sizeof *h);
	if (!h)
		return -ERR_NOMEM;
	c->health = h;
	nhr_table_init(&h->tab);
	h->fwd_peer = -1;
	h->toks = malloc(NHR_TOKENS * sizeof *h->toks);
	h->copy = malloc(NHR_COPY_MAX);
	if (!h->toks || !h->copy)
		return -ERR_NOMEM;
	struct node_link_config lc = {
		.loop = &c->loop,
		.rng = &c->rng,
		.tls = &c->tls->cli,
		.out_cap = NHR_COPY_MAX + 1024,
		.in_cap = 4096,
		.connect_timeout_ms = 3000,
		.response_timeout_ms = 5000,
		.on_resp = health_fwd_resp,
		.on_err = health_fwd_err,
		.arg = c,
	};
	int rc = node_link_init(&h->fwd, &lc);
	if (rc < 0)
		return rc;
	h->fwd_init = true;
	return 0;
}

/* 0 when id is a data node of the node table, else the answer's status (403, 500). */
static int health_data_node(struct ctl *c, const char *id)
{
	struct cluster_node n;
	int rc = cluster_sm_node_get(&c->sm, NULL, slice_from_cstr(id), &n);
	if (rc == -ERR_NOTFOUND || (rc == 0 && n.role != CLUSTER_ROLE_DATA))
		return 403;
	return rc < 0 ? 500 : 0;
}

static int health_parse_error(struct api_resp *resp, int rc, const char *msg)
{
	if (rc == -ERR_TOO_LARGE)
		return api_resp_error(resp, 413, rc, "%s", msg);
	return api_resp_error(resp, 400, rc, "%s", msg);
}

/* POST /nodes/health: a data node's verdicts (node_health_report.h has the body). */
static int h_health(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	struct ctl_health *h = c->health;
	char msg[160] = "";
	if (req->peer->kind != API_PEER_DATA)
		return api_resp_error(resp, 403, -ERR_INVAL, "data nodes report their health only");
	int st = health_data_node(c, req->peer->id);
	if (st)
		return api_resp_error(resp, st, -ERR_INVAL, "%s is not a data node of this cluster",
				      req->peer->id);
	int rc = nhr_parse(req->body.p, req->body.len, h->toks, NHR_TOKENS, &h->rep, msg,
			   sizeof msg);
	if (rc < 0)
		return health_parse_error(resp, rc, msg);
	struct nhr_node *n;
	if ((rc = nhr_table_put(&h->tab, req->peer->id, &h->rep, loop_now_ms(&c->loop), &n)) < 0)
		return api_resp_error(resp, 503, rc, "cannot keep the report: %s", err_str(rc));
	n->fwd = 0;
	for (int i = 0; i < NODE_PEERS_MAX; i++)
		if (c->peers[i].used && c->peers[i].addr[0])
			n->fwd |= 1u << i;
	health_pump(c);
	buf_append_cstr(&resp->body, "{}");
	return API_DONE;
}

/* POST /nodes/health/copy: another control node's copy of a report (kept, not copied on). */
static int h_health_copy(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	struct ctl_health *h = c->health;
	char msg[160] = "", id[ID_LEN + 1];
	uint64_t age;
	int rc = nhr_copy_parse(req->body.p, req->body.len, h->toks, NHR_TOKENS, id, &age, &h->rep,
				msg, sizeof msg);
	if (rc < 0)
		return health_parse_error(resp, rc, msg);
	int st = health_data_node(c, id);
	if (st)
		return api_resp_error(resp, st == 403 ? 400 : st, -ERR_INVAL,
				      "%s is not a data node of this cluster", id);
	uint64_t now = loop_now_ms(&c->loop);
	struct nhr_node *n;
	if ((rc = nhr_table_put(&h->tab, id, &h->rep, now > age ? now - age : 0, &n)) < 0)
		return api_resp_error(resp, 503, rc, "cannot keep the report: %s", err_str(rc));
	buf_append_cstr(&resp->body, "{}");
	return API_DONE;
}

static int health_dn_cb(void *arg, const struct cluster_node *n)
{
	struct ctl_health *h = arg;
	if (n->role != CLUSTER_ROLE_DATA || h->ndn >= CTL_MAX_NODES)
		return 0;
	snprintf(h->dn[h->ndn].id, sizeof h->dn[0].id, "%s", n->id);
	snprintf(h->dn[h->ndn].name, sizeof h->dn[0].name, "%s", n->name);
	h->ndn++;
	return 0;
}

/* The committed document's health-checked servers, read again when the revision moved. */
static int health_list(struct ctl *c)
{
	struct ctl_health *h = c->health;
	if (!h->doc_toks && !(h->doc_toks = malloc(NODE_WEB_TOKENS * sizeof *h->doc_toks)))
		return -ERR_NOMEM;
	if (!h->list && !(h->list = malloc(sizeof *h->list)))
		return -ERR_NOMEM;
	if (h->list_rev == c->doc_rev && h->list_rev)
		return h->list_err;
	h->list->n = 0;
	h->list->truncated = false;
	h->list_rev = c->doc_rev;
	h->list_err = 0;
	const uint8_t *nl = c->doc ? memchr(c->doc, '\n', c->doc_len) : NULL;
	if (!nl)
		return 0; /* nothing deployed */
	size_t off = (size_t)(nl + 1 - c->doc);
	if (off + 1 > c->doc_len)
		return 0;
	h->list_err = nhr_doc_servers((const char *)c->doc + off, c->doc_len - off - 1, h->doc_toks,
				      NODE_WEB_TOKENS, h->list);
	return h->list_err;
}

/* GET /api/health (--api): per data node, its last report; per health-checked server of
 * the committed document, one letter per node of "nodes": u up, d down, s the node's report
 * is stale, n no report (or the server is not in it). */
static int h_api_health(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	struct ctl_health *h = c->health;
	struct store_txn t;
	int rc = health_list(c);
	if (rc < 0)
		return api_resp_error(resp, 500, rc, "cannot read the routing document: %s",
				      err_str(rc));
	if ((rc = store_txn_begin(&c->store, &t, STORE_TXN_READ)) < 0)
		return rc;
	h->ndn = 0;
	rc = cluster_sm_nodes_each(&c->sm, &t, health_dn_cb, h);
	store_txn_abort(&t);
	if (rc < 0)
		return rc;
	uint64_t now = loop_now_ms(&c->loop);
	struct nhr_node *rn[CTL_MAX_NODES];
	struct json_writer *w = api_resp_json(resp);
	json_w_obj_begin(w);
	json_w_key(w, "staleAfterSeconds");
	json_w_uint(w, NHR_STALE_MS / 1000);
	json_w_key(w, "revision");
	json_w_uint(w, c->doc_rev);
	json_w_key(w, "truncated");
	json_w_bool(w, h->list->truncated);
	json_w_key(w, "nodes");
	json_w_arr_begin(w);
	for (uint32_t i = 0; i < h->ndn; i++) {
		struct nhr_node *n = rn[i] = nhr_table_get(&h->tab, h->dn[i].id);
		json_w_obj_begin(w);
		json_w_key(w, "id");
		json_w_str(w, h->dn[i].id);
		json_w_key(w, "name");
		json_w_str(w, h->dn[i].name);
		json_w_key(w, "reported");
		json_w_bool(w, n != NULL);
		if (n) {
			uint64_t age = nhr_node_age(n, now);
			json_w_key(w, "ageSeconds");
			json_w_uint(w, age / 1000);
			json_w_key(w, "stale");
			json_w_bool(w, age > NHR_STALE_MS);
			json_w_key(w, "revision");
			json_w_uint(w, n->revision);
			json_w_key(w, "servers");
			json_w_uint(w, n->n);
			json_w_key(w, "truncated");
			json_w_bool(w, n->truncated);
		}
		json_w_obj_end(w);
	}
	json_w_arr_end(w);
	json_w_key(w, "backends");
	json_w_obj_begin(w);
	const struct nhr_srvlist *l = h->list;
	for (uint32_t i = 0; i < l->n; i++) {
		struct slice be = nhr_srv_backend(l, i), url = nhr_srv_url(l, i);
		if (i == 0 || l->s[i].be_off != l->s[i - 1].be_off) {
			if (i)
				json_w_obj_end(w);
			json_w_key_slice(w, be);
			json_w_obj_begin(w);
		}
		char st[CTL_MAX_NODES + 1];
		uint64_t key = nhr_key(be, url);
		uint32_t up = 0, down = 0;
		for (uint32_t k = 0; k < h->ndn; k++) {
			enum nhr_state s = nhr_node_state(rn[k], now, key);
			static const char letter[] = {[NHR_NONE] = 'n',
						      [NHR_STALE] = 's',
						      [NHR_UP] = 'u',
						      [NHR_DOWN] = 'd'};
			st[k] = letter[s];
			up += s == NHR_UP;
			down += s == NHR_DOWN;
		}
		st[h->ndn] = '\0';
		json_w_key_slice(w, url);
		json_w_obj_begin(w);
		json_w_key(w, "up");
		json_w_uint(w, up);
		json_w_key(w, "down");
		json_w_uint(w, down);
		json_w_key(w, "nodes");
		json_w_str(w, st);
		json_w_obj_end(w);
	}
	if (l->n)
		json_w_obj_end(w);
	json_w_obj_end(w);
	json_w_obj_end(w);
	if (json_w_error(w))
		return api_resp_error(resp, 500, -ERR_API_RESP_TOO_LARGE,
				      "the health answer is over the API's response size");
	return API_DONE;
}

/* --- Routing streams ------------------------------------------------------------------ */

static void stream_free(struct ctl_stream *s)
{
	s->used = false;
}

/* Push what is due; stops at a short push (then API_EV_DRAINED calls again). */
static void stream_kick(struct ctl *c, struct ctl_stream *s)
{
	for (int guard = 0; guard < 8 && s->used && !s->blocked; guard++) {
		if (!s->line_on && !s->doc_on) {
			if (s->peers_gen != c->peers_gen) {
				struct buf b;
				buf_init(&b, s->line, sizeof s->line);
				buf_printf(&b, "P %s", c->o->advertise);
				for (int i = 0; i < NODE_PEERS_MAX; i++)
					if (c->peers[i].used && c->peers[i].addr[0])
						buf_printf(&b, ",%s", c->peers[i].addr);
				buf_append_byte(&b, '\n');
				s->line_len = b.len;
				s->line_off = 0;
				s->line_on = true;
				s->peers_gen = c->peers_gen;
			} else if (s->caps_avail && s->avail != s->avail_sent) {
				snprintf(s->line, sizeof s->line, "A %s\n",
					 cluster_avail_str(s->avail));
				s->line_len = strlen(s->line);
				s->line_off = 0;
				s->line_on = true;
				s->avail_sent = s->avail;
			} else if (c->doc && c->doc_rev > s->sent_rev &&
				   s->avail != CLUSTER_AVAIL_PAUSE) {
				s->doc_on = true;
				s->doc_off = 0;
				s->doc_rev = c->doc_rev;
			} else {
				return;
			}
		}
		const char *p;
		size_t len;
		size_t *off;
		if (s->line_on) {
			p = s->line;
			len = s->line_len;
			off = &s->line_off;
		} else {
			p = (const char *)c->doc;
			len = c->doc_len;
			off = &s->doc_off;
		}
		ssize_t n = api_stream_push(&c->api, s->h, p + *off, len - *off);
		if (n < 0) {
			stream_free(s);
			return;
		}
		*off += (size_t)n;
		if (*off < len) {
			s->blocked = true;
			return;
		}
		if (s->line_on) {
			s->line_on = false;
		} else {
			s->doc_on = false;
			s->sent_rev = s->doc_rev;
		}
	}
}

static void stream_event(struct api_server *srv, struct api_handle h, enum api_event ev, void *arg)
{
	struct ctl_stream *s = arg;
	if (!s->used || s->h.seq != h.seq || s->h.conn.gen != h.conn.gen)
		return;
	if (ev == API_EV_CLOSED) {
		stream_free(s);
		return;
	}
	s->blocked = false;
	stream_kick(s->ctl, s);
}

/* The availability of node id in the committed table (ACTIVE when it cannot be read). */
static uint8_t node_avail(struct ctl *c, const char *id)
{
	struct cluster_node n;
	if (cluster_sm_node_find(&c->sm, NULL, slice_from_cstr(id), &n) < 0)
		return CLUSTER_AVAIL_ACTIVE;
	return n.availability;
}

void ctl_api_avail_changed(struct ctl *c)
{
	for (int i = 0; i < CTL_STREAMS_MAX; i++) {
		struct ctl_stream *s = &c->streams[i];
		if (!s->used || !s->data_node)
			continue;
		s->avail = node_avail(c, s->node_id);
		stream_kick(c, s);
	}
}

static int h_stream(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	char after[24] = "";
	uint64_t rev = 0;
	if (api_req_query(req, "after", after, sizeof after) > 0 &&
	    slice_to_u64(slice_from_cstr(after), UINT64_MAX, &rev) < 0)
		return api_resp_error(resp, 400, -ERR_INVAL, "after: not a revision");
	struct ctl_stream *s = NULL;
	for (int i = 0; i < CTL_STREAMS_MAX && !s; i++)
		if (!c->streams[i].used)
			s = &c->streams[i];
	if (!s)
		return api_resp_error(resp, 503, -ERR_AGAIN, "too many routing streams here");
	memset(s, 0, offsetof(struct ctl_stream, line));
	s->line_len = s->line_off = s->doc_off = 0;
	s->doc_on = false;
	s->doc_rev = 0;
	s->ctl = c;
	s->sent_rev = rev;
	s->peers_gen = c->peers_gen - 1;
	s->data_node = req->peer->kind == API_PEER_DATA;
	snprintf(s->node_id, sizeof s->node_id, "%s", req->peer->id);
	char caps[4] = "";
	s->caps_avail = api_req_query(req, "avail", caps, sizeof caps) > 0 && !strcmp(caps, "1");
	s->avail = s->data_node ? node_avail(c, s->node_id) : CLUSTER_AVAIL_ACTIVE;
	s->avail_sent = 0;
	resp->content_type = "text/plain";
	int rc = api_resp_stream(resp, &s->h);
	api_resp_on_event(resp, stream_event, s);
	s->used = true;
	if (s->data_node && ctl_is_leader(c))
		ctl_leader_seen(c, s->node_id);
	stream_kick(c, s);
	return rc;
}

void ctl_api_peers_changed(struct ctl *c)
{
	for (int i = 0; i < CTL_STREAMS_MAX; i++)
		if (c->streams[i].used)
			stream_kick(c, &c->streams[i]);
}

/* The committed routing document changed (or the node started): frame it once for all. */
void ctl_api_routing_changed(struct ctl *c)
{
	struct store_txn t;
	struct cluster_routing r;
	if (store_txn_begin(&c->store, &t, STORE_TXN_READ) < 0)
		return;
	int rc = cluster_sm_routing(&c->sm, &t, &r);
	if (rc < 0 || r.revision == c->doc_rev) {
		store_txn_abort(&t);
		return;
	}
	/* Streams part-way through the old document end: the node reconnects for the new one. */
	for (int i = 0; i < CTL_STREAMS_MAX; i++) {
		struct ctl_stream *s = &c->streams[i];
		if (s->used && s->doc_on && s->doc_off) {
			api_stream_end(&c->api, s->h);
			stream_free(s);
		} else if (s->used) {
			s->doc_on = false;
		}
	}
	size_t cap = CTL_MAX_ROUTING + 64;
	if (!c->doc && !(c->doc = malloc(cap))) {
		store_txn_abort(&t);
		return;
	}
	struct buf b;
	buf_init(&b, c->doc, cap);
	if (r.doc.len > CTL_MAX_ROUTING ||
	    buf_printf(&b, "R %llu %zu\n", (unsigned long long)r.revision, r.doc.len) < 0 ||
	    buf_append(&b, r.doc.p, r.doc.len) < 0 || buf_append_byte(&b, '\n') < 0) {
		store_txn_abort(&t);
		log_error("routing document too large to serve", "revision=%llu bytes=%zu",
			  (unsigned long long)r.revision, r.doc.len);
		return;
	}
	store_txn_abort(&t);
	c->doc_len = b.len;
	c->doc_rev = r.revision;
	ctl_web_routing_changed(c);
	for (int i = 0; i < CTL_STREAMS_MAX; i++)
		if (c->streams[i].used)
			stream_kick(c, &c->streams[i]);
}

/* Every second: heartbeats on idle streams, and the data nodes we serve to the leader. */
void ctl_api_heartbeat(struct ctl *c)
{
	char body[CTL_STREAMS_MAX * (ID_LEN + 4) + 16];
	struct buf b;
	buf_init(&b, body, sizeof body);
	buf_append_cstr(&b, "{\"ids\":[");
	int n = 0;
	bool leader = ctl_is_leader(c);
	for (int i = 0; i < CTL_STREAMS_MAX; i++) {
		struct ctl_stream *s = &c->streams[i];
		if (!s->used)
			continue;
		if (!s->blocked && !s->line_on && !s->doc_on) {
			s->line[0] = 'H';
			s->line[1] = '\n';
			s->line_len = 2;
			s->line_off = 0;
			s->line_on = true;
		}
		stream_kick(c, s);
		if (!s->used || !s->data_node || !id_valid(slice_from_cstr(s->node_id)))
			continue;
		if (leader)
			ctl_leader_seen(c, s->node_id);
		else
			buf_printf(&b, "%s\"%s\"", n++ ? "," : "", s->node_id);
	}
	buf_append_cstr(&b, "]}");
	if (!leader && n) {
		bool queued = false;
		for (int i = 0; i < CTL_FWD_JOBS; i++)
			queued |= c->jobs[i].used && c->jobs[i].internal;
		if (!queued)
			ctl_fwd_submit(c, NULL, true, "POST", "/nodes/seen", b.data, b.len);
	}
	ctl_fwd_pump(c);
}

/* --- Start ---------------------------------------------------------------------------- */

static int peer_check(const struct api_peer *peer, const uint8_t *cert, size_t len, void *arg)
{
	struct ctl *c = arg;
	struct slice serial;
	if (!cert || peer->kind == API_PEER_ADMIN)
		return 0;
	if (node_cert_serial(cert, len, &serial) < 0)
		return -ERR_PKI_CERT;
	if (cluster_sm_is_revoked(&c->sm, NULL, serial) == 1) {
		log_warn("refused a revoked certificate", "peer=%s node=%s", peer->addr, peer->id);
		return -ERR_CLUSTER_REVOKED;
	}
	return 0;
}

#define ADMIN_W (API_ROLE_ADMIN | API_ROLE_CONTROL)

int ctl_api_start(struct ctl *c)
{
	struct node_opts *o = c->o;
	struct api_limits lim;
	api_limits_default(&lim);
	lim.max_clients = 96;
	lim.max_tls_clients = 80;
	lim.max_body = CTL_API_MAX_BODY;
	lim.max_resp = 256 << 10;
	int rc = api_server_init(&c->api, &c->loop, &c->rng, &lim);
	if (rc < 0)
		return rc;
	c->api_init = true;
	const struct api_route routes[] = {
		{"GET", "/nodes", ADMIN_W, h_nodes, c},
		{"DELETE", "/nodes/{id}", ADMIN_W, h_rm_node, c},
		{"PUT", "/nodes/{id}/availability", ADMIN_W, h_avail, c},
		{"GET", "/env", API_ROLE_ADMIN, h_env, c},
		{"GET", "/logs", API_ROLE_ADMIN, ctl_logs_get, c},
		{"POST", "/tokens/rotate", ADMIN_W, h_rotate, c},
		{"POST", "/deploy", ADMIN_W, h_deploy, c},
		{"PUT", "/license", ADMIN_W, h_license, c},
		{"GET", "/backup", API_ROLE_ADMIN, h_backup, c},
		{"POST", "/join/challenge", API_ROLE_ANON | API_ROLE_NODE, h_challenge, c},
		{"POST", "/join", API_ROLE_ANON | API_ROLE_CONTROL, h_join, c},
		{"POST", "/renew", API_ROLE_NODE, h_renew, c},
		{"POST", "/raft", API_ROLE_CONTROL | API_F_RAW_BODY, h_raft, c},
		{"POST", "/nodes/seen", API_ROLE_CONTROL, h_seen, c},
		{"POST", "/nodes/address", API_ROLE_CONTROL, h_node_addr, c},
		{"POST", "/nodes/health", API_ROLE_DATA | API_F_RAW_BODY, h_health, c},
		{"POST", "/nodes/health/copy", API_ROLE_CONTROL | API_F_RAW_BODY, h_health_copy, c},
		{"GET", "/stream/routing", API_ROLE_NODE, h_stream, c},
		{"GET", "/status", API_ROLE_ANY | API_ROLE_ANON, h_status, c},
		{"GET", "/ping", API_ROLE_ANY | API_ROLE_ANON, h_ping, c},
	};
	if ((rc = api_server_add_routes(&c->api, routes, sizeof routes / sizeof routes[0])) < 0)
		return rc;
	if (o->api && (rc = ctl_web_start(c)) < 0) /* dashboard, JSON API, /metrics */
		return rc;
	if ((rc = health_start(c)) < 0) /* data nodes' health reports */
		return rc;
	const struct api_route health_api[] = {
		{"GET", "/api/health", API_ROLE_ANY | API_ROLE_ANON, h_api_health, c},
	};
	if (o->api && (rc = api_server_add_routes(&c->api, health_api, 1)) < 0)
		return rc;
	api_server_set_peer_check(&c->api, peer_check, c);

	struct node_link_config lc = {
		.loop = &c->loop,
		.rng = &c->rng,
		.tls = &c->tls->cli,
		.out_cap = CTL_FWD_BODY + 2048,
		.in_cap = (256 << 10) + 4096,
		.connect_timeout_ms = 3000,
		.response_timeout_ms = 25000,
		.on_resp = fwd_resp,
		.on_err = fwd_err,
		.arg = c,
	};
	if ((rc = node_link_init(&c->fwd, &lc)) < 0)
		return rc;

	if ((rc = api_server_listen_unix(&c->api, o->socket)) < 0) {
		if (!c->api.errmsg[0])
			snprintf(c->api.errmsg, sizeof c->api.errmsg, "--traefikeesocket %s: %s",
				 o->socket, err_str(rc));
		return rc;
	}
	if ((rc = api_server_listen_tcp(&c->api, o->listen, &c->tls->srv)) < 0) {
		snprintf(c->api.errmsg, sizeof c->api.errmsg, "--listen %s: %s", o->listen,
			 err_str(rc));
		return rc;
	}
	if (strcmp(o->controlapi, o->listen) != 0 &&
	    (rc = api_server_listen_tcp(&c->api, o->controlapi, &c->tls->srv_mtls)) < 0) {
		snprintf(c->api.errmsg, sizeof c->api.errmsg, "--controlapi.listen %s: %s",
			 o->controlapi, err_str(rc));
		return rc;
	}
	if (o->api && (rc = api_server_listen_tcp(&c->api, o->api_listen, NULL)) < 0) {
		snprintf(c->api.errmsg, sizeof c->api.errmsg, "--api.listen %s: %s", o->api_listen,
			 err_str(rc));
		return rc;
	}
	return 0;
}
