/* node_web.c — the control node's web endpoints with --api (node_web.h).
 *
 * Routes (GET, anonymous, read-only; every listener's route table, served for browsers and
 * scrapers on the plain --api.listen):
 *   /                         302 to /dashboard/
 *   /dashboard/               the dashboard page (node_dashboard.c), polls the JSON below
 *   /api, /api/providers      {"<provider>":{"frontends":{...},"backends":{...}}} (Traefik v1)
 *   /api/providers/{p}[/frontends|/backends[/{name}]]
 *   /api/nodes                the node table, with the leader
 *   /api/cluster              what the dashboard's header shows: cluster, this node, Raft,
 *                             routing revision, provider state, entry points
 *   /health                   Traefik's /health fields that mean something here
 *   /metrics                  control-plane metrics (Prometheus text)
 *   (/ping and /status are node_ctl_api.c's)
 * The routing document is parsed once per revision into a token array allocated at start
 * (NODE_WEB_TOKENS); every value leaves through node_web_redact.
 */
#include "node/node_web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/base_err.h"
#include "base/base_log.h"
#include "node/node_control.h"

#include "version.h"

/* --- Pure builders -------------------------------------------------------------------- */

static const char *const secret_keys[] = {
	"keyFile",   "key",           "password",
	"secret",    "token",         "users",
	"usersFile", "authorization", "proxy-authorization",
	"cookie",    "x-api-key",
};

static bool key_is_secret(const char *k, size_t n)
{
	for (size_t i = 0; i < sizeof secret_keys / sizeof secret_keys[0]; i++)
		if (strlen(secret_keys[i]) == n && strncasecmp(secret_keys[i], k, n) == 0)
			return true;
	return false;
}

static bool has_ci(const char *s, size_t n, const char *needle)
{
	size_t m = strlen(needle);
	for (size_t i = 0; i + m <= n; i++)
		if (strncasecmp(s + i, needle, m) == 0)
			return true;
	return false;
}

int node_web_redact(struct json_writer *w, const struct json_doc *d, int t, char *scratch,
		    size_t cap)
{
	struct json_iter it;
	int key, v, n;
	char note[64];
	switch (json_typeof(d, t)) {
	case JSON_OBJECT:
		json_w_obj_begin(w);
		json_iter_begin(d, t, &it);
		while ((v = json_iter_next(d, &it, &key)) >= 0) {
			n = json_get_strn(d, key, scratch, cap);
			if (n < 0)
				continue; /* a key longer than the scratch: not shown */
			bool secret = key_is_secret(scratch, (size_t)n);
			json_w_key_slice(w, (struct slice){scratch, (size_t)n});
			if (secret)
				json_w_str(w, NODE_WEB_REDACTED);
			else
				node_web_redact(w, d, v, scratch, cap);
		}
		json_w_obj_end(w);
		break;
	case JSON_ARRAY:
		json_w_arr_begin(w);
		json_iter_begin(d, t, &it);
		while ((v = json_iter_next(d, &it, NULL)) >= 0)
			node_web_redact(w, d, v, scratch, cap);
		json_w_arr_end(w);
		break;
	case JSON_STRING:
		n = json_str_len(d, t);
		if (n > NODE_WEB_STR_MAX || (size_t)n > cap) {
			snprintf(note, sizeof note, "(%d bytes)", n);
			json_w_str(w, note);
			break;
		}
		n = json_get_strn(d, t, scratch, cap);
		if (n < 0) {
			json_w_str(w, NODE_WEB_REDACTED);
		} else if (has_ci(scratch, (size_t)n, "PRIVATE KEY")) {
			json_w_str(w, NODE_WEB_REDACTED);
		} else if (has_ci(scratch, (size_t)n, "-----BEGIN")) {
			snprintf(note, sizeof note, "(PEM, %d bytes)", n);
			json_w_str(w, note);
		} else {
			json_w_str_slice(w, (struct slice){scratch, (size_t)n});
		}
		break;
	case JSON_NUMBER:
	case JSON_BOOL:
	case JSON_NULL: json_w_raw(w, json_raw(d, t)); break;
	default: json_w_null(w); break;
	}
	return json_w_error(w);
}

int node_web_providers(struct json_writer *w, const struct json_doc *d, const char *provider,
		       const char *only_provider, const char *section, const char *name,
		       char *scratch, size_t cap)
{
	if (only_provider && strcmp(only_provider, provider) != 0)
		return -ERR_NOTFOUND;
	if (section) {
		if (strcmp(section, "frontends") != 0 && strcmp(section, "backends") != 0)
			return -ERR_NOTFOUND;
		int s = d ? json_obj_get(d, JSON_ROOT, section) : -ERR_NOTFOUND;
		if (name) {
			int v = s >= 0 ? json_obj_get(d, s, name) : -ERR_NOTFOUND;
			if (v < 0)
				return -ERR_NOTFOUND;
			return node_web_redact(w, d, v, scratch, cap);
		}
		if (s < 0 || json_typeof(d, s) != JSON_OBJECT) {
			json_w_obj_begin(w);
			json_w_obj_end(w);
			return json_w_error(w);
		}
		return node_web_redact(w, d, s, scratch, cap);
	}
	if (!only_provider) {
		json_w_obj_begin(w);
		if (!d) { /* nothing deployed yet: no provider */
			json_w_obj_end(w);
			return json_w_error(w);
		}
		json_w_key(w, provider);
	}
	json_w_obj_begin(w);
	static const char *const sections[] = {"frontends", "backends"};
	for (size_t i = 0; i < 2; i++) {
		json_w_key(w, sections[i]);
		int s = d ? json_obj_get(d, JSON_ROOT, sections[i]) : -ERR_NOTFOUND;
		if (s >= 0 && json_typeof(d, s) == JSON_OBJECT) {
			node_web_redact(w, d, s, scratch, cap);
		} else {
			json_w_obj_begin(w);
			json_w_obj_end(w);
		}
	}
	json_w_obj_end(w);
	if (!only_provider)
		json_w_obj_end(w);
	return json_w_error(w);
}

static int gauge(struct buf *b, const char *name, const char *help, const char *type,
		 unsigned long long v)
{
	return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
			  v);
}

int node_web_metrics_text(struct buf *b, const struct node_web_cp *cp)
{
	int rc = 0;
	rc = rc ? rc
		: gauge(b, "traefikee_raft_term", "Current Raft term of this control node.",
			"gauge", cp->term);
	rc = rc ? rc
		: gauge(b, "traefikee_raft_commit_index", "Highest Raft log index known committed.",
			"gauge", cp->commit);
	rc = rc ? rc
		: gauge(b, "traefikee_raft_applied_index",
			"Highest Raft log index applied to the state machine.", "gauge",
			cp->applied);
	rc = rc ? rc
		: gauge(b, "traefikee_raft_is_leader", "1 if this control node is the Raft leader.",
			"gauge", cp->leader);
	rc = rc ? rc
		: gauge(b, "traefikee_raft_voters", "Voters in the Raft configuration.", "gauge",
			cp->voters);
	rc = rc ? rc
		: buf_printf(b, "# HELP traefikee_nodes Nodes in the cluster by role and status.\n"
				"# TYPE traefikee_nodes gauge\n");
	static const char *const roles[2] = {"control", "data"}, *const sts[2] = {"ready", "down"};
	for (int r = 0; r < 2 && !rc; r++)
		for (int s = 0; s < 2 && !rc; s++)
			rc = buf_printf(b, "traefikee_nodes{role=\"%s\",status=\"%s\"} %u\n",
					roles[r], sts[s], cp->nodes[r][s]);
	rc = rc ? rc
		: gauge(b, "traefikee_routing_revision",
			"Revision of the committed routing document.", "gauge",
			cp->routing_revision);
	rc = rc ? rc
		: gauge(b, "traefik_config_reloads_total",
			"Routing documents this control node took since it started.", "counter",
			cp->routing_changes);
	rc = rc ? rc
		: gauge(b, "traefik_config_last_reload_success",
			"Unix time of the last routing document this control node took.", "gauge",
			(unsigned long long)(cp->routing_changed_at > 0 ? cp->routing_changed_at
									: 0));
	rc = rc ? rc
		: gauge(b, "traefikee_provider_running",
			"1 if this control node (the leader) runs the provider.", "gauge",
			cp->provider_running);
	rc = rc ? rc
		: gauge(b, "traefikee_provider_errors_total",
			"Failed provider reads since the provider started on this node.", "counter",
			cp->provider_errors);
	rc = rc ? rc
		: gauge(b, "traefikee_api_requests_total", "API requests served by this node.",
			"counter", cp->api_requests);
	rc = rc ? rc
		: buf_printf(b, "# HELP traefikee_api_responses_total API responses by status "
				"class.\n# TYPE traefikee_api_responses_total counter\n");
	for (int i = 1; i < 6 && !rc; i++)
		rc = buf_printf(b, "traefikee_api_responses_total{class=\"%dxx\"} %llu\n", i,
				(unsigned long long)cp->api_status[i]);
	rc = rc ? rc
		: gauge(b, "traefikee_start_time_seconds", "Unix time this node started.", "gauge",
			(unsigned long long)(cp->started_at > 0 ? cp->started_at : 0));
	rc = rc ? rc
		: gauge(b, "traefikee_cluster_certificate_expiry_earliest_seconds",
			"Unix time of the soonest notAfter among the current certificates of the "
			"cluster's nodes (renewed at 50-80 % of their lifetime: alert well before "
			"it).",
			"gauge",
			(unsigned long long)(cp->cert_earliest > 0 ? cp->cert_earliest : 0));
	rc = rc ? rc
		: gauge(b, "traefikee_certificate_expiry_seconds",
			"Unix time this node's certificate expires.", "gauge",
			(unsigned long long)(cp->cert_own > 0 ? cp->cert_own : 0));
	rc = rc ? rc
		: gauge(b, "traefikee_certificate_renewals_total",
			"Certificates this node renewed since it started.", "counter",
			cp->cert_renewals);
	rc = rc ? rc
		: gauge(b, "traefikee_certificate_renewal_failures_total",
			"Failed renewal attempts of this node since it started.", "counter",
			cp->cert_renew_failures);
	return rc;
}

void node_web_duration(char *out, size_t cap, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms < 1000) {
		snprintf(out, cap, ms ? "%lldms" : "0s", (long long)ms);
		return;
	}
	long long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, f = ms % 1000;
	char sec[32];
	if (f) {
		snprintf(sec, sizeof sec, "%lld.%03lld", s, f);
		size_t n = strlen(sec);
		while (sec[n - 1] == '0')
			sec[--n] = 0;
	} else {
		snprintf(sec, sizeof sec, "%lld", s);
	}
	if (h)
		snprintf(out, cap, "%lldh%lldm%ss", h, m, sec);
	else if (m)
		snprintf(out, cap, "%lldm%ss", m, sec);
	else
		snprintf(out, cap, "%ss", sec);
}

int node_web_health(struct json_writer *w, long pid, int64_t start_ms, int64_t now_ms,
		    uint64_t total_count)
{
	char up[48], tm[64];
	int64_t ms = now_ms - start_ms;
	node_web_duration(up, sizeof up, ms);
	time_t secs = (time_t)(now_ms / 1000);
	struct tm g;
	gmtime_r(&secs, &g);
	/* Go's time.Time.String() in UTC, as Traefik prints it */
	snprintf(tm, sizeof tm, "%04d-%02d-%02d %02d:%02d:%02d.%03d +0000 UTC", g.tm_year + 1900,
		 g.tm_mon + 1, g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec, (int)(now_ms % 1000));
	json_w_obj_begin(w);
	json_w_key(w, "pid");
	json_w_int(w, pid);
	json_w_key(w, "uptime");
	json_w_str(w, up);
	json_w_key(w, "uptime_sec");
	json_w_double(w, (double)(ms < 0 ? 0 : ms) / 1000.0);
	json_w_key(w, "time");
	json_w_str(w, tm);
	json_w_key(w, "unixtime");
	json_w_int(w, now_ms / 1000);
	json_w_key(w, "total_count");
	json_w_uint(w, total_count);
	json_w_obj_end(w);
	return json_w_error(w);
}

/* --- Control node wiring -------------------------------------------------------------- */

struct node_web {
	json_tok *toks; /* NODE_WEB_TOKENS: the routing document, parsed once per revision */
	struct json_doc doc;
	bool parsed;
	uint64_t parsed_rev;
	int parse_err;
	int64_t started_ms; /* wall clock */
	uint64_t routing_changes;
	int64_t routing_changed_at;
	char scratch[NODE_WEB_STR_MAX + 1];
	char provider[32];
	uint64_t provider_index;               /* deploy entry the name was read from */
	json_tok dtoks[CLUSTER_DEPLOY_TOKENS]; /* the deployed configuration */
};

/* The routing document of this node (c->doc framed "R <rev> <len>\n<doc>\n"), parsed; NULL
 * (and *err) when there is none yet or it cannot be parsed. */
static const struct json_doc *web_doc(struct ctl *c, int *err)
{
	struct node_web *web = c->web;
	*err = 0;
	if (!c->doc || !c->doc_len)
		return NULL;
	if (!web->parsed || web->parsed_rev != c->doc_rev) {
		const char *p = (const char *)c->doc;
		const char *nl = memchr(p, '\n', c->doc_len);
		size_t off = nl ? (size_t)(nl - p) + 1 : c->doc_len;
		size_t len = c->doc_len > off ? c->doc_len - off - 1 : 0;
		web->parse_err = json_parse(&web->doc, p + off, len, web->toks, NODE_WEB_TOKENS);
		web->parsed = true;
		web->parsed_rev = c->doc_rev;
	}
	if (web->parse_err < 0) {
		*err = web->parse_err;
		return NULL;
	}
	return &web->doc;
}

/* The deployed provider's name ("file", "consul", "etcd"), or "" when nothing is deployed.
 * Only the name: the provider's settings (tokens, passwords) are never served. */
static const char *web_provider(struct ctl *c)
{
	struct node_web *web = c->web;
	struct store_txn t;
	struct cluster_deployed dep;
	if (store_txn_begin(&c->store, &t, STORE_TXN_READ) < 0)
		return web->provider;
	if (cluster_sm_deployed(&c->sm, &t, &dep) == 0 && dep.index != web->provider_index) {
		struct json_doc d;
		web->provider[0] = 0;
		web->provider_index = dep.index;
		if (json_parse(&d, dep.config.p, dep.config.len, web->dtoks,
			       CLUSTER_DEPLOY_TOKENS) > 0) {
			int prov = json_obj_get(&d, JSON_ROOT, "providers");
			struct json_iter it;
			int key;
			if (prov >= 0 && json_iter_begin(&d, prov, &it) == 0 &&
			    json_iter_next(&d, &it, &key) >= 0)
				json_get_str(&d, key, web->provider, sizeof web->provider);
		}
	}
	store_txn_abort(&t);
	return web->provider;
}

static int web_redirect(struct api_req *req, struct api_resp *resp, void *arg)
{
	resp->status = 302;
	resp->content_type = "text/plain; charset=utf-8";
	api_resp_header(resp, "Location", "/dashboard/");
	buf_append_cstr(&resp->body, "Found\n");
	return API_DONE;
}

static int web_dashboard(struct api_req *req, struct api_resp *resp, void *arg)
{
	if (req->path.len == 10) /* "/dashboard": the page's relative URLs need the slash */
		return web_redirect(req, resp, arg);
	if (req->rest.len && !(req->rest.len == 10 && memcmp(req->rest.p, "index.html", 10) == 0))
		return api_resp_error(resp, 404, -ERR_NOTFOUND, "no such page");
	resp->content_type = "text/html; charset=utf-8";
	api_resp_header(resp, "Content-Security-Policy",
			"default-src 'none'; script-src 'unsafe-inline'; style-src "
			"'unsafe-inline'; connect-src 'self'; img-src data:");
	api_resp_header(resp, "X-Frame-Options", "DENY");
	api_resp_header(resp, "X-Content-Type-Options", "nosniff");
	int rc = buf_append_cstr(&resp->body, node_web_dashboard_html);
	return rc < 0 ? -ERR_API_RESP_TOO_LARGE : API_DONE;
}

static int web_providers(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	char p[64], section[16], name[256];
	bool has_p = api_req_param(req, "p", p, sizeof p) >= 0;
	bool has_s = api_req_param(req, "section", section, sizeof section) >= 0;
	bool has_n = api_req_param(req, "name", name, sizeof name) >= 0;
	int err;
	const struct json_doc *d = web_doc(c, &err);
	if (err < 0)
		return api_resp_error(resp, 500, err, "the routing document cannot be shown: %s",
				      err_str(err));
	const char *prov = web_provider(c);
	if (!prov[0] && has_p)
		return api_resp_error(resp, 404, -ERR_NOTFOUND, "no provider is deployed");
	int rc = node_web_providers(api_resp_json(resp), prov[0] ? d : NULL, prov, has_p ? p : NULL,
				    has_s ? section : NULL, has_n ? name : NULL, c->web->scratch,
				    sizeof c->web->scratch);
	if (rc == -ERR_NOTFOUND)
		return api_resp_error(resp, 404, rc, "not found");
	if (rc == -ERR_BUF_FULL)
		return api_resp_error(resp, 500, -ERR_API_RESP_TOO_LARGE,
				      "the routing document is too large to show (max_resp)");
	return rc < 0 ? rc : API_DONE;
}

struct web_nodes_ctx {
	struct json_writer *w;
	const char *leader;
	uint32_t (*count)[2];
	int64_t *cert_earliest; /* with count: the soonest certificate notAfter (Unix s) */
};

static int web_node_cb(void *arg, const struct cluster_node *n)
{
	struct web_nodes_ctx *x = arg;
	if (x->count) {
		int r = n->role == CLUSTER_ROLE_CONTROL ? 0 : 1;
		int s = n->status == CLUSTER_STATUS_READY ? 0 : 1;
		x->count[r][s]++;
		int64_t na = n->cert_not_after / 1000;
		if (na > 0 && (*x->cert_earliest == 0 || na < *x->cert_earliest))
			*x->cert_earliest = na;
		return 0;
	}
	struct json_writer *w = x->w;
	json_w_obj_begin(w);
	node_json_members(w, n, x->leader[0] && strcmp(x->leader, n->id) == 0);
	json_w_key(w, "joinedAt");
	json_w_int(w, n->joined_at / 1000);
	json_w_key(w, "statusAt");
	json_w_int(w, n->status_at / 1000);
	json_w_key(w, "certNotAfter");
	json_w_int(w, n->cert_not_after / 1000);
	json_w_obj_end(w);
	return json_w_error(w);
}

static void web_leader_id(struct ctl *c, char *lid, size_t cap)
{
	char laddr[NODE_ADDR_MAX];
	lid[0] = 0;
	if (!ctl_leader(c, lid, cap, laddr, sizeof laddr)) {
		struct ctl_peer *p = ctl_peer_by_raft(c, raft_leader(&c->raft));
		if (p)
			snprintf(lid, cap, "%s", p->node_id);
		else if (ctl_is_leader(c))
			snprintf(lid, cap, "%s", c->ident.node_id);
	}
}

static int web_nodes(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	char lid[ID_LEN + 1];
	web_leader_id(c, lid, sizeof lid);
	struct store_txn t;
	int rc = store_txn_begin(&c->store, &t, STORE_TXN_READ);
	if (rc < 0)
		return rc;
	struct json_writer *w = api_resp_json(resp);
	json_w_obj_begin(w);
	json_w_key(w, "leader");
	json_w_str(w, lid);
	json_w_key(w, "nodes");
	json_w_arr_begin(w);
	struct web_nodes_ctx x = {w, lid, NULL, NULL};
	rc = cluster_sm_nodes_each(&c->sm, &t, web_node_cb, &x);
	store_txn_abort(&t);
	if (rc < 0)
		return rc;
	json_w_arr_end(w);
	json_w_obj_end(w);
	return API_DONE;
}

static int web_cluster(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	struct cluster_info ci;
	if (cluster_sm_info(&c->sm, NULL, &ci) < 0)
		memset(&ci, 0, sizeof ci);
	char lid[ID_LEN + 1];
	web_leader_id(c, lid, sizeof lid);
	int err;
	const struct json_doc *d = web_doc(c, &err);
	struct json_writer *w = api_resp_json(resp);
	json_w_obj_begin(w);
	json_w_key(w, "cluster");
	json_w_obj_begin(w);
	json_w_key(w, "name");
	json_w_str(w, c->ident.cluster_name);
	json_w_key(w, "id");
	json_w_str(w, c->ident.cluster_id);
	json_w_key(w, "nodes");
	json_w_uint(w, ci.nodes);
	json_w_key(w, "readyNodes");
	json_w_uint(w, ci.ready_nodes);
	json_w_obj_end(w);
	json_w_key(w, "node");
	json_w_obj_begin(w);
	json_w_key(w, "id");
	json_w_str(w, c->ident.node_id);
	json_w_key(w, "name");
	json_w_str(w, c->ident.name);
	json_w_key(w, "version");
	json_w_str(w, TEE_VERSION);
	json_w_key(w, "raftRole");
	json_w_str(w, raft_role_name(raft_role(&c->raft)));
	json_w_obj_end(w);
	json_w_key(w, "raft");
	json_w_obj_begin(w);
	json_w_key(w, "term");
	json_w_uint(w, raft_term(&c->raft));
	json_w_key(w, "leader");
	json_w_str(w, lid);
	json_w_key(w, "commit");
	json_w_uint(w, raft_commit_index(&c->raft));
	json_w_key(w, "applied");
	json_w_uint(w, store_applied(&c->store));
	json_w_key(w, "voters");
	json_w_uint(w, raft_conf_voters(raft_config(&c->raft)));
	json_w_obj_end(w);
	json_w_key(w, "routing");
	json_w_obj_begin(w);
	json_w_key(w, "revision");
	json_w_uint(w, ci.routing_revision);
	json_w_key(w, "deployed");
	json_w_bool(w, ci.deployed);
	json_w_key(w, "changedAt");
	json_w_int(w, c->web->routing_changed_at);
	if (err < 0) {
		json_w_key(w, "error");
		json_w_str(w, err_str(err));
	}
	json_w_obj_end(w);
	json_w_key(w, "provider");
	json_w_obj_begin(w);
	json_w_key(w, "name");
	json_w_str(w, web_provider(c));
	json_w_key(w, "runsHere");
	json_w_bool(w, c->prov_on);
	if (c->prov_on) {
		struct provider_status st;
		provider_status_get(&c->prov, &st);
		json_w_key(w, "state");
		json_w_str(w, provider_state_name(st.state));
		json_w_key(w, "errors");
		json_w_uint(w, st.errors);
		json_w_key(w, "lastError");
		json_w_str(w, st.last_err ? st.errmsg : "");
	}
	json_w_obj_end(w);
	json_w_key(w, "entryPoints");
	json_w_obj_begin(w);
	int eps = d ? json_obj_get(d, JSON_ROOT, "entryPoints") : -1;
	struct json_iter it;
	int key, v;
	if (eps >= 0 && json_iter_begin(d, eps, &it) == 0) {
		while ((v = json_iter_next(d, &it, &key)) >= 0) {
			char name[128], addr[128] = "";
			if (json_get_str(d, key, name, sizeof name) < 0)
				continue;
			json_get_str(d, json_obj_get(d, v, "address"), addr, sizeof addr);
			json_w_key(w, name);
			json_w_obj_begin(w);
			json_w_key(w, "address");
			json_w_str(w, addr);
			json_w_key(w, "tls");
			json_w_bool(w, json_obj_get(d, v, "tls") >= 0);
			int rd = json_get_path(d, v, "redirect.entryPoint");
			if (rd >= 0 && json_get_str(d, rd, addr, sizeof addr) >= 0) {
				json_w_key(w, "redirect");
				json_w_str(w, addr);
			}
			json_w_obj_end(w);
		}
	}
	json_w_obj_end(w);
	json_w_key(w, "defaultEntryPoints");
	int dep = d ? json_obj_get(d, JSON_ROOT, "defaultEntryPoints") : -1;
	if (dep >= 0 && json_typeof(d, dep) == JSON_ARRAY)
		node_web_redact(w, d, dep, c->web->scratch, sizeof c->web->scratch);
	else
		json_w_null(w);
	json_w_obj_end(w);
	return API_DONE;
}

static int web_health(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	int rc = node_web_health(api_resp_json(resp), (long)getpid(), c->web->started_ms,
				 ctl_wall_ms(), api_server_stats(&c->api)->requests);
	return rc < 0 ? rc : API_DONE;
}

static int web_metrics(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	struct node_web_cp cp;
	memset(&cp, 0, sizeof cp);
	struct cluster_info ci;
	if (cluster_sm_info(&c->sm, NULL, &ci) < 0)
		memset(&ci, 0, sizeof ci);
	cp.term = raft_term(&c->raft);
	cp.commit = raft_commit_index(&c->raft);
	cp.applied = store_applied(&c->store);
	cp.voters = raft_conf_voters(raft_config(&c->raft));
	cp.leader = ctl_is_leader(c);
	cp.routing_revision = ci.routing_revision;
	cp.routing_changes = c->web->routing_changes;
	cp.routing_changed_at = c->web->routing_changed_at;
	cp.provider_running = c->prov_on;
	if (c->prov_on) {
		struct provider_status st;
		provider_status_get(&c->prov, &st);
		cp.provider_errors = st.errors;
	}
	const struct api_stats *as = api_server_stats(&c->api);
	cp.api_requests = as->requests;
	memcpy(cp.api_status, as->status, sizeof cp.api_status);
	cp.started_at = c->web->started_ms / 1000;
	struct store_txn t;
	if (store_txn_begin(&c->store, &t, STORE_TXN_READ) == 0) {
		struct web_nodes_ctx x = {NULL, "", cp.nodes, &cp.cert_earliest};
		cluster_sm_nodes_each(&c->sm, &t, web_node_cb, &x);
		store_txn_abort(&t);
	}
	cp.cert_own = c->renew.not_after;
	cp.cert_renewals = c->renew.renewals;
	cp.cert_renew_failures = c->renew.failures;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	int rc = node_web_metrics_text(&resp->body, &cp);
	return rc < 0 ? -ERR_API_RESP_TOO_LARGE : API_DONE;
}

#define WEB_ACCESS (API_ROLE_ANY | API_ROLE_ANON)

int ctl_web_start(struct ctl *c)
{
	struct node_web *web = calloc(1, sizeof *web);
	if (!web)
		return -ERR_NOMEM;
	web->toks = malloc(NODE_WEB_TOKENS * sizeof *web->toks);
	if (!web->toks) {
		free(web);
		return -ERR_NOMEM;
	}
	web->started_ms = ctl_wall_ms();
	c->web = web;
	const struct api_route routes[] = {
		{"GET", "/", WEB_ACCESS, web_redirect, c},
		{"GET", "/dashboard/*", WEB_ACCESS, web_dashboard, c},
		{"GET", "/api", WEB_ACCESS, web_providers, c},
		{"GET", "/api/providers", WEB_ACCESS, web_providers, c},
		{"GET", "/api/providers/{p}", WEB_ACCESS, web_providers, c},
		{"GET", "/api/providers/{p}/{section}", WEB_ACCESS, web_providers, c},
		{"GET", "/api/providers/{p}/{section}/{name}", WEB_ACCESS, web_providers, c},
		{"GET", "/api/nodes", WEB_ACCESS, web_nodes, c},
		{"GET", "/api/cluster", WEB_ACCESS, web_cluster, c},
		{"GET", "/health", WEB_ACCESS, web_health, c},
		{"GET", "/metrics", WEB_ACCESS, web_metrics, c},
	};
	return api_server_add_routes(&c->api, routes, sizeof routes / sizeof routes[0]);
}

void ctl_web_fini(struct ctl *c)
{
	if (!c->web)
		return;
	free(c->web->toks);
	free(c->web);
	c->web = NULL;
}

void ctl_web_routing_changed(struct ctl *c)
{
	if (!c->web)
		return;
	c->web->routing_changes++;
	c->web->routing_changed_at = ctl_wall_ms() / 1000;
	c->web->parsed = false;
}
