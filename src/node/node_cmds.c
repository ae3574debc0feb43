/* node_cmds.c — the command implementations behind the CLIs (node.h has the contract).
 *
 *   traefikee bootstrap | start-control-node | start-data-node
 *       flags -> struct node_opts, checked here (addresses, token, license), then the daemon
 *       runs in the foreground (node_control_run / node_data_run).
 *   traefikee list-nodes | env | deploy | backup | rm-node | update-license
 *       one request to the local node over --traefikeesocket (api_client, local admin).
 *   traefikeectl connect | list-nodes | deploy | backup | rm-node
 *       the same requests over mutual TLS with the credentials saved by `connect`
 *       ($HOME/.config/traefikee/<clustername>).
 * Writes that meet a leader change (503 RAFT_NOT_LEADER) are retried for a few seconds.
 * Output follows the seed document (cluster_table.h) so its grep/cut pipelines work.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api_client.h"
#include "api/api_creds.h"
#include "base/base_err.h"
#include "base/base_time.h"
#include "cluster/cluster_backup.h"
#include "cluster/cluster_table.h"
#include "json/json_write.h"
#include "node/node.h"
#include "proxy/proxy_standalone.h"
#include "proxy/proxy_workers.h"
#include "pki/pki_pem.h"
#include "proxy/proxy_engine.h"
#include "proxy/proxy_entrypoint.h"

#define RESP_MAX (512u << 10)

static int fail(const struct node_args *a, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(const struct node_args *a, int code, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s %s: ", a->prog, a->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* --- Daemons ------------------------------------------------------------------------- */

static int addr_check(const struct node_args *a, const char *flag, const char *v, bool need_host)
{
	char host[NODE_ADDR_MAX];
	uint16_t port;
	if (!v || api_addr_split(v, host, sizeof host, &port) < 0 || (need_host && !host[0]))
		return fail(a, 2, "--%s: \"%s\" is not %s", flag, v ? v : "",
			    need_host ? "host:port" : "[host]:port");
	for (const char *p = v; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '\\' || *p > '~')
			return fail(a, 2, "--%s: \"%s\" has a character not allowed", flag, v);
	return 0;
}

static int opts_fill(const struct node_args *a, struct node_opts *o, int role)
{
	char err[300];
	memset(o, 0, sizeof *o);
	o->role = role;
	const char *lvl = node_arg_str(a, "log.level");
	enum log_level level;
	if (lvl && log_level_parse(lvl, &level) == 0)
		log_set_level(level);
	else if (lvl)
		return fail(a, 2, "--log.level: \"%s\" is not debug, info, warn or error", lvl);
	o->statedir = node_arg_str(a, "statedir");
	o->socket = node_arg_str(a, "traefikeesocket");
	o->listen = node_arg_str(a, "listen");
	o->advertise = node_arg_str(a, "advertise");
	o->controlapi = node_arg_str(a, "controlapi.listen");
	o->api = node_arg_bool(a, "api");
	o->api_listen = node_arg_str(a, "api.listen");
	o->license = node_arg_str(a, "licensekey");
	o->archive = node_arg_str(a, "archivepath");
	o->controlnodes = (int)node_arg_int(a, "controlnodes", 1);
	o->timeout_s = (int)node_arg_int(a, "timeout", 300);
	o->certs_out = node_arg_str(a, "mtlscertsoutputdir");
	o->clustername = node_arg_str(a, "clustername");
	o->grace_s = (int)node_arg_int(a, "cleanup.grace", 60);
	o->down_after_s = (int)node_arg_int(a, "status.downafter", 5);
	o->snap_every = (int)node_arg_int(a, "raft.snapshot", 4096);
	o->accesslog = node_arg_bool(a, "accesslog");
	o->accesslog_path = node_arg_str(a, "accesslog.filepath");
	if (o->accesslog_path && !*o->accesslog_path)
		o->accesslog_path = NULL;
	if (o->accesslog_path)
		o->accesslog = true;
	o->metrics_listen = node_arg_str(a, "metrics.listen");
	if (o->metrics_listen && !*o->metrics_listen)
		o->metrics_listen = NULL;
	o->print_limits = node_arg_bool(a, "print-limits");
	for (size_t i = 0; i < a->n; i++) {
		if (strcasecmp(a->v[i].name, "limit") != 0 || !a->v[i].value)
			continue;
		const char *eq = strchr(a->v[i].value, '=');
		if (!eq || eq == a->v[i].value || !eq[1])
			return fail(a, 2, "--limit: \"%s\" is not NAME=VALUE", a->v[i].value);
		if (o->nlimits >= sizeof o->limits / sizeof o->limits[0])
			return fail(a, 2, "--limit: too many");
		o->limits[o->nlimits++] = a->v[i].value;
	}
	if (!o->statedir || !*o->statedir)
		return fail(a, 2, "--statedir is empty");
	int rc;
	if (o->advertise && (rc = addr_check(a, "advertise", o->advertise, true)))
		return rc;
	if (o->listen && (rc = addr_check(a, "listen", o->listen, false)))
		return rc;
	if (o->controlapi && (rc = addr_check(a, "controlapi.listen", o->controlapi, false)))
		return rc;
	if (o->api && o->api_listen && (rc = addr_check(a, "api.listen", o->api_listen, false)))
		return rc;
	if (o->metrics_listen && (rc = addr_check(a, "metrics.listen", o->metrics_listen, false)))
		return rc;
	if (o->clustername &&
	    !cluster_name_valid(slice_from_cstr(o->clustername), CLUSTER_NAME_MAX))
		return fail(a, 2, "--clustername: \"%s\" is not 1..%d of [A-Za-z0-9._-]",
			    o->clustername, CLUSTER_NAME_MAX);
	if (node_name_resolve(o->name, sizeof o->name, node_arg_str(a, "name"), err, sizeof err))
		return fail(a, 2, "%s", err);
	if (node_peers_parse(o, node_arg_str(a, "peeraddresses"), err, sizeof err))
		return fail(a, 2, "%s", err);
	o->token = node_arg_str(a, "token");
	if (!o->token || !*o->token)
		o->token = getenv(role == CLUSTER_ROLE_CONTROL ? "CONTROL_NODE_TOKEN"
							       : "DATA_NODE_TOKEN");
	if (o->advertise && role == CLUSTER_ROLE_CONTROL) {
		char host[NODE_ADDR_MAX];
		uint16_t port;
		api_addr_split(o->advertise, host, sizeof host, &port);
		if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::"))
			fprintf(stderr,
				"%s %s: warning: --advertise=%s cannot be reached by other nodes; "
				"give this machine's address (--advertise=<ip>:4242)\n",
				a->prog, a->cmd, o->advertise);
	}
	return 0;
}

int node_cmd_bootstrap(const struct node_args *a)
{
	static struct node_opts o;
	int rc = opts_fill(a, &o, CLUSTER_ROLE_CONTROL);
	if (rc)
		return rc;
	bool lic = o.license && *o.license, arc = o.archive && *o.archive;
	if (lic == arc)
		return fail(a, 2,
			    "give --licensekey (a new cluster) or --archivepath (restore a "
			    "backup), not %s",
			    lic ? "both" : "neither");
	if (!arc)
		o.archive = NULL;
	if (lic) {
		for (const char *p = o.license; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				return fail(a, 2, "--licensekey: only printable ASCII is allowed");
		if (strlen(o.license) > CLUSTER_LICENSE_MAX)
			return fail(a, 2, "--licensekey: over %d bytes", CLUSTER_LICENSE_MAX);
	}
	o.mode = NODE_MODE_BOOTSTRAP;
	return node_control_run(&o);
}

int node_cmd_start_control(const struct node_args *a)
{
	static struct node_opts o;
	int rc = opts_fill(a, &o, CLUSTER_ROLE_CONTROL);
	if (rc)
		return rc;
	o.controlnodes = 1;
	o.mode = NODE_MODE_JOIN; /* resumes when the state directory holds the node */
	return node_control_run(&o);
}

/* --standalone=FILE: no cluster, no state directory; the proxy's own standalone runner
 * (proxy_engine.h) serves the file, with the same limits and access log flags. */
static int start_standalone(const struct node_args *a, const struct node_opts *o,
			    const char *workers)
{
	static char flags[40][300];
	static char *argv[42];
	int n = 0;
	argv[n++] = (char *)a->cmd;
#define SA_FLAG(...) (snprintf(flags[n], sizeof flags[n], __VA_ARGS__), argv[n] = flags[n], n++)
	SA_FLAG("--routing=%s", node_arg_str(a, "standalone"));
	SA_FLAG("--workers=%s", workers);
	const char *lvl = node_arg_str(a, "log.level");
	if (lvl)
		SA_FLAG("--loglevel=%s", lvl);
	if (o->accesslog_path)
		SA_FLAG("--accesslog=%s", o->accesslog_path);
	else if (o->accesslog)
		SA_FLAG("--accesslog");
	if (o->print_limits)
		SA_FLAG("--print-limits");
	if (o->metrics_listen)
		SA_FLAG("--metrics.listen=%s", o->metrics_listen);
	static struct proxy_dp_limits check;
	proxy_dp_limits_default(&check);
	for (size_t i = 0; i < o->nlimits; i++) {
		if (strlen(o->limits[i]) >= sizeof flags[0] - 3)
			return fail(a, 2, "--limit: \"%.40s...\" is too long", o->limits[i]);
		char name[64];
		size_t nl = (size_t)(strchr(o->limits[i], '=') - o->limits[i]);
		snprintf(name, sizeof name, "%.*s", (int)nl, o->limits[i]);
		int lr = nl < sizeof name ? proxy_dp_limits_set(&check, name, o->limits[i] + nl + 1)
					  : -ERR_NOTFOUND;
		if (lr < 0)
			return fail(a, 2, "--limit %s: %s", o->limits[i],
				    lr == -ERR_NOTFOUND ? "unknown limit (see --print-limits)"
							: "bad value");
		SA_FLAG("--%s", o->limits[i]);
	}
#undef SA_FLAG
	argv[n] = NULL;
	return proxy_standalone_main(n, argv);
}

int node_cmd_start_data(const struct node_args *a)
{
	static struct node_opts o;
	int rc = opts_fill(a, &o, CLUSTER_ROLE_DATA);
	if (rc)
		return rc;
	/* --workers=N|auto: checked here, so both modes say the same thing about a bad value. */
	static char workers[32];
	const char *wv = node_arg_str(a, "workers");
	static struct proxy_dp_limits wl;
	proxy_dp_limits_default(&wl);
	if (!wv || strlen(wv) >= sizeof workers - 8 ||
	    proxy_dp_limits_set(&wl, "workers", wv) < 0 || wl.workers < 1 ||
	    wl.workers > PROXY_WORKERS_MAX)
		return fail(a, 2, "--workers=%s: a number of processes from 1 to 64, or auto",
			    wv ? wv : "");
	snprintf(workers, sizeof workers, "workers=%u", wl.workers);
	const char *sa = node_arg_str(a, "standalone");
	if (sa && *sa)
		return start_standalone(a, &o, workers + 8);
	if (o.nlimits >= sizeof o.limits / sizeof o.limits[0])
		return fail(a, 2, "--limit: too many");
	/* First, so that a --limit workers=N, which says the same, comes after it and wins. */
	memmove(o.limits + 1, o.limits, o.nlimits * sizeof o.limits[0]);
	o.limits[0] = workers;
	o.nlimits++;
	o.mode = NODE_MODE_JOIN;
	return node_data_run(&o);
}

/* --- Clients ------------------------------------------------------------------------- */

static struct api_client cl;
static char resp_buf[RESP_MAX];

/* Open the client for this command: the local socket (traefikee) or mutual TLS with the
 * saved credentials (traefikeectl). */
static int client_open(const struct node_args *a)
{
	if (strcmp(a->prog, "traefikeectl") != 0) {
		const char *sock = node_arg_str(a, "traefikeesocket");
		if (api_client_init_unix(&cl, sock) < 0)
			return fail(a, 2, "--traefikeesocket: %s", api_client_errmsg(&cl));
		return 0;
	}
	static struct api_creds cr;
	char dir[NODE_PATH_MAX];
	const char *home = getenv("HOME");
	int rc = api_creds_cluster_dir(dir, sizeof dir, home ? home : "",
				       node_arg_str(a, "clustername"));
	if (rc < 0)
		return fail(a, 2, "cannot find the credentials: $HOME or --clustername unusable");
	rc = api_creds_load(&cr, dir, true, time_wall_ms() / 1000);
	if (rc < 0)
		return fail(a, 1, "%s (run `traefikeectl connect` first)", cr.errmsg);
	rc = api_client_init_creds(&cl, &cr);
	api_creds_wipe(&cr);
	if (rc < 0)
		return fail(a, 1, "%s", api_client_errmsg(&cl));
	return 0;
}

/* One call, with retries while the cluster has no leader. Returns 0 (2xx) or an exit code. */
static int call(const struct node_args *a, const char *method, const char *path, const char *body,
		struct api_result *res)
{
	int st = 0;
	for (int attempt = 0; attempt < 20; attempt++) {
		api_result_init(res, resp_buf, sizeof resp_buf);
		st = api_call(&cl, method, path, body, res);
		/* Transient refusals of a write: no leader yet, a leadership transfer, or Raft busy
		 * handing out its previous batch (two writes in a row, e.g. env --rotate=all). */
		bool busy = st == 503 && strcmp(res->code, "RAFT_BUSY") == 0;
		bool again = busy || (st == 503 && (strcmp(res->code, "RAFT_NOT_LEADER") == 0 ||
						    strcmp(res->code, "RAFT_TRANSFERRING") == 0));
		if (!again)
			break;
		api_client_close(&cl);
		sleep_ms(busy ? 100 : 500);
	}
	if (st < 0)
		return fail(a, 1, "%s", api_client_errmsg(&cl));
	if (st >= 300)
		return fail(a, 1, "%s (%s)", res->error[0] ? res->error : "request failed",
			    res->code[0] ? res->code : "HTTP error");
	return 0;
}

/* --- list-nodes ---------------------------------------------------------------------- */

static int str_to(const struct json_doc *d, int obj, const char *key, const char *const *names,
		  int n, int base)
{
	int t = json_obj_get(d, obj, key);
	for (int i = 0; i < n; i++)
		if (json_str_eq(d, t, names[i]))
			return base + i;
	return 0;
}

static int list_nodes(const struct node_args *a, enum cluster_table_style style)
{
	struct api_result res;
	int rc = client_open(a);
	if (rc)
		return rc;
	if ((rc = call(a, "GET", "/nodes", NULL, &res)))
		return rc;
	static json_tok toks[16384];
	static struct cluster_node nodes[1024];
	static char out[256 << 10];
	struct json_doc d;
	if (json_parse(&d, res.body, res.len, toks, 16384) < 0)
		return fail(a, 1, "malformed answer from the node");
	char leader[ID_LEN + 1] = "";
	json_get_str(&d, json_obj_get(&d, JSON_ROOT, "leader"), leader, sizeof leader);
	struct json_iter it;
	int v;
	size_t n = 0;
	static const char *const roles[] = {"CONTROL NODE", "DATA NODE"};
	static const char *const members[] = {"PENDING", "ACCEPTED"};
	static const char *const statuses[] = {"READY", "DOWN"};
	static const char *const avails[] = {"ACTIVE", "PAUSE", "DRAIN"};
	json_iter_begin(&d, json_obj_get(&d, JSON_ROOT, "nodes"), &it);
	while ((v = json_iter_next(&d, &it, NULL)) >= 0 && n < 1024) {
		struct cluster_node *nd = &nodes[n];
		memset(nd, 0, sizeof *nd);
		if (json_get_str(&d, json_obj_get(&d, v, "id"), nd->id, sizeof nd->id) < 0 ||
		    json_get_str(&d, json_obj_get(&d, v, "name"), nd->name, sizeof nd->name) < 0)
			continue;
		nd->role = (uint8_t)str_to(&d, v, "role", roles, 2, 1);
		nd->membership = (uint8_t)str_to(&d, v, "membership", members, 2, 1);
		nd->status = (uint8_t)str_to(&d, v, "status", statuses, 2, 1);
		nd->availability = (uint8_t)str_to(&d, v, "availability", avails, 3, 1);
		n++;
	}
	struct buf b;
	buf_init(&b, out, sizeof out);
	if (cluster_table_nodes(&b, style, nodes, n, leader) < 0)
		return fail(a, 1, "the node table does not fit the output buffer");
	fwrite(b.data, 1, b.len, stdout);
	return 0;
}

int node_cmd_list_nodes(const struct node_args *a)
{
	return list_nodes(a, node_arg_bool(a, "details") ? CLUSTER_TABLE_DETAILS
							 : CLUSTER_TABLE_BRIEF);
}

int node_ctl_list_nodes(const struct node_args *a)
{
	return list_nodes(a,
			  node_arg_bool(a, "details") ? CLUSTER_TABLE_DETAILS : CLUSTER_TABLE_CTL);
}

/* --- env ----------------------------------------------------------------------------- */

/* GET /env into ct and dt (PKI_TOKEN_LEN + 1 each). 0 or an exit status. */
static int env_get(const struct node_args *a, char *ct, char *dt)
{
	static json_tok toks[16];
	struct api_result res;
	struct json_doc d;
	int rc = call(a, "GET", "/env", NULL, &res);
	if (rc)
		return rc;
	ct[0] = dt[0] = '\0';
	rc = json_parse(&d, res.body, res.len, toks, 16);
	if (rc >= 0) {
		json_get_str(&d, json_obj_get(&d, JSON_ROOT, "controlNodeToken"), ct,
			     PKI_TOKEN_LEN + 1);
		json_get_str(&d, json_obj_get(&d, JSON_ROOT, "dataNodeToken"), dt,
			     PKI_TOKEN_LEN + 1);
	}
	pki_wipe(resp_buf, res.len);
	return rc < 0 ? fail(a, 1, "malformed answer from the node") : 0;
}

/* env --rotate=control|data|all: POST /tokens/rotate per role, then wait until this node's
 * GET /env shows the new text (a follower applies the change a moment after the leader). */
static int env_rotate(const struct node_args *a, const char *which, char *ct, char *dt)
{
	bool rc_ctl = !strcmp(which, "control") || !strcmp(which, "all");
	bool rc_data = !strcmp(which, "data") || !strcmp(which, "all");
	if (!rc_ctl && !rc_data)
		return fail(a, 2, "--rotate=%s: give control, data or all", which);
	char oc[PKI_TOKEN_LEN + 1], od[PKI_TOKEN_LEN + 1];
	int rc = env_get(a, oc, od);
	struct api_result res;
	for (int i = 0; i < 2 && !rc; i++) {
		if (!(i ? rc_data : rc_ctl))
			continue;
		rc = call(a, "POST", "/tokens/rotate",
			  i ? "{\"role\":\"data\"}" : "{\"role\":\"control\"}", &res);
	}
	for (int tries = 0; !rc; tries++) {
		if ((rc = env_get(a, ct, dt)))
			break;
		bool done = (!rc_ctl || strcmp(ct, oc)) && (!rc_data || strcmp(dt, od));
		if (done)
			break;
		if (tries == 100) {
			rc = fail(a, 1,
				  "the token was rotated, but this node does not show it yet; "
				  "run env again");
			break;
		}
		sleep_ms(100);
	}
	pki_wipe(oc, sizeof oc);
	pki_wipe(od, sizeof od);
	return rc;
}

int node_cmd_env(const struct node_args *a)
{
	int rc = client_open(a);
	if (rc)
		return rc;
	char ct[PKI_TOKEN_LEN + 1] = "", dt[PKI_TOKEN_LEN + 1] = "", out[512];
	const char *rot = node_arg_str(a, "rotate");
	if (node_arg_given(a, "rotate"))
		rc = env_rotate(a, rot ? rot : "", ct, dt);
	else
		rc = env_get(a, ct, dt);
	if (rc)
		return rc;
	struct buf b;
	buf_init(&b, out, sizeof out);
	rc = cluster_table_env(&b, ct, dt);
	if (rc < 0)
		return fail(a, 1, "the cluster keeps no token texts (%s)", err_str(rc));
	fwrite(b.data, 1, b.len, stdout);
	pki_wipe(out, sizeof out);
	pki_wipe(ct, sizeof ct);
	pki_wipe(dt, sizeof dt);
	return 0;
}

/* --- deploy -------------------------------------------------------------------------- */

static char pem_pool[16][64 << 10];
static int pem_used;

static int pem_load(void *ctx, struct slice path_or_pem, struct slice *pem)
{
	if (slice_starts_with(path_or_pem, SLICE_LIT("-----BEGIN"))) {
		*pem = path_or_pem;
		return 0;
	}
	char path[NODE_PATH_MAX];
	if (pem_used == 16 || slice_to_cstr(path_or_pem, path, sizeof path) < 0)
		return -ERR_TOO_LARGE;
	struct buf b;
	buf_init(&b, pem_pool[pem_used], sizeof pem_pool[0]);
	int rc = pki_file_read(path, &b);
	if (rc < 0)
		return rc;
	*pem = buf_slice(&b);
	pem_used++;
	return 0;
}

/* Provider flags given for `prov` (consul, etcd): any --prov.* or --prov itself. */
static bool prov_given(const struct node_args *a, const char *prov)
{
	size_t pl = strlen(prov);
	for (size_t i = 0; i < a->n; i++) {
		const char *nm = a->v[i].name;
		if (!a->v[i].set || strncasecmp(nm, prov, pl) != 0)
			continue;
		if (nm[pl] == '\0' || nm[pl] == '.') {
			if (nm[pl] == '\0' && strcmp(a->v[i].value, "false") == 0)
				continue;
			return true;
		}
	}
	return false;
}

static void prov_write(const struct node_args *a, struct json_writer *w, const char *prov)
{
	size_t pl = strlen(prov);
	json_w_key(w, prov);
	json_w_obj_begin(w);
	for (size_t i = 0; i < a->n; i++) {
		const char *nm = a->v[i].name;
		if (strncasecmp(nm, prov, pl) != 0 || nm[pl] != '.' || !a->v[i].value)
			continue;
		if (!a->v[i].set && strcmp(nm + pl + 1, "endpoint") != 0 &&
		    strcmp(nm + pl + 1, "prefix") != 0)
			continue;
		json_w_key(w, nm + pl + 1);
		if (!strcmp(a->v[i].value, "true") || !strcmp(a->v[i].value, "false"))
			json_w_bool(w, !strcmp(a->v[i].value, "true"));
		else
			json_w_str(w, a->v[i].value);
	}
	json_w_obj_end(w);
}

static int deploy_build(const struct node_args *a, struct buf *out)
{
	struct json_writer w;
	char err[300];
	json_w_init(&w, out);
	json_w_obj_begin(&w);
	json_w_key(&w, "entryPoints");
	json_w_obj_begin(&w);
	size_t neps = 0;
	for (size_t i = 0; i < a->n; i++) {
		if (strcasecmp(a->v[i].name, "entryPoints") != 0 || !a->v[i].set)
			continue;
		struct proxy_ep_spec ep;
		int rc = proxy_ep_parse(slice_from_cstr(a->v[i].value), &ep, err, sizeof err);
		if (rc < 0)
			return fail(a, 2, "--entryPoints='%s': %s", a->v[i].value, err);
		json_w_key_slice(&w, ep.name);
		rc = proxy_ep_write_json(&ep, &w, pem_load, NULL, err, sizeof err);
		if (rc < 0)
			return fail(a, 2, "--entryPoints='%s': %s", a->v[i].value,
				    err[0] ? err : err_str(rc));
		neps++;
	}
	json_w_obj_end(&w);
	if (!neps)
		return fail(a, 2,
			    "give at least one --entryPoints (e.g. --entryPoints='Name:http "
			    "Address::80')");
	const char *defs = node_arg_str(a, "defaultentrypoints");
	if (defs && *defs) {
		json_w_key(&w, "defaultEntryPoints");
		json_w_arr_begin(&w);
		struct slice rest = slice_from_cstr(defs), item;
		while (rest.p && rest.len) {
			item = slice_trim_ows(slice_cut(rest, ',', &rest));
			if (item.len)
				json_w_str_slice(&w, item);
		}
		json_w_arr_end(&w);
	}
	bool file = node_arg_given(a, "file.filename") || node_arg_bool(a, "file");
	bool consul = prov_given(a, "consul"), etcd = prov_given(a, "etcd");
	if (file + consul + etcd > 1)
		return fail(a, 2, "give one provider (file, consul or etcd), not several");
	if (file) {
		const char *fn = node_arg_str(a, "file.filename");
		char abs[PATH_MAX];
		if (!fn || !*fn)
			return fail(a, 2, "--file needs --file.filename");
		if (!realpath(fn, abs))
			return fail(a, 2, "--file.filename: %s: %s", fn, strerror(errno));
		json_w_key(&w, "providers");
		json_w_obj_begin(&w);
		json_w_key(&w, "file");
		json_w_obj_begin(&w);
		json_w_key(&w, "filename");
		json_w_str(&w, abs);
		json_w_key(&w, "watch");
		json_w_bool(&w, node_arg_bool(a, "file.watch"));
		json_w_obj_end(&w);
		json_w_obj_end(&w);
	} else if (consul || etcd) {
		json_w_key(&w, "providers");
		json_w_obj_begin(&w);
		prov_write(a, &w, consul ? "consul" : "etcd");
		json_w_obj_end(&w);
	}
	if (node_arg_given(a, "providersthrottleduration")) {
		json_w_key(&w, "providersThrottleDuration");
		json_w_str(&w, node_arg_str(a, "providersthrottleduration"));
	}
	if (node_arg_bool(a, "insecureskipverify")) {
		json_w_key(&w, "insecureSkipVerify");
		json_w_bool(&w, true);
	}
	const char *cas = node_arg_str(a, "rootcas");
	if (cas && *cas) {
		json_w_key(&w, "rootCAs");
		json_w_arr_begin(&w);
		struct slice rest = slice_from_cstr(cas), item, pem;
		while (rest.p && rest.len) {
			item = slice_trim_ows(slice_cut(rest, ',', &rest));
			if (!item.len)
				continue;
			int rc = pem_load(NULL, item, &pem);
			if (rc < 0)
				return fail(a, 2, "--rootcas: %.*s: %s", (int)item.len, item.p,
					    err_str(rc));
			json_w_str_slice(&w, pem);
		}
		json_w_arr_end(&w);
	}
	json_w_obj_end(&w);
	int rc = json_w_finish(&w);
	if (rc < 0)
		return fail(a, 1, "the configuration is too large (%s)", err_str(rc));
	buf_append_byte(out, '\0');
	return 0;
}

int node_cmd_deploy(const struct node_args *given)
{
	static char body[300 << 10];
	struct buf b;
	struct api_result res;
	struct node_args merged;
	char err[512];
	if (node_configfile_merge(given, &merged, err, sizeof err) < 0)
		return fail(given, 2, "%s", err);
	const struct node_args *a = &merged;
	buf_init(&b, body, sizeof body);
	int rc = deploy_build(a, &b);
	if (rc || (rc = client_open(a)) || (rc = call(a, "POST", "/deploy", body, &res)))
		return rc;
	printf("Configuration deployed.\n");
	return 0;
}

int node_ctl_deploy(const struct node_args *a)
{
	return node_cmd_deploy(a);
}

/* --- logs ---------------------------------------------------------------------------- */

/* logs [--level=warn] [--follow]: the recent lines the control node kept (GET /logs); with
 * --follow, new ones as they come until interrupted or the node goes away. */
int node_cmd_logs(const struct node_args *a)
{
	const char *lv = node_arg_str(a, "level");
	enum log_level min;
	if (lv && *lv && log_level_parse(lv, &min) < 0)
		return fail(a, 2, "--level=%s: debug, info, warn or error", lv);
	bool follow = node_arg_bool(a, "follow");
	char path[64];
	snprintf(path, sizeof path, "/logs?level=%s%s", lv && *lv ? lv : "debug",
		 follow ? "&follow=true" : "");
	struct api_result res;
	int rc = client_open(a);
	if (rc)
		return rc;
	api_result_init(&res, resp_buf, sizeof resp_buf);
	int st = api_call_stream(&cl, "GET", path, NULL, &res);
	if (st < 0)
		return fail(a, 1, "%s", api_client_errmsg(&cl));
	if (st != 200)
		return fail(a, 1, "%s (%s)", res.error, res.code);
	for (;;) {
		ssize_t n = api_client_stream_read(&cl, resp_buf, sizeof resp_buf, -1);
		if (n == 0)
			break;
		if (n < 0)
			return fail(a, 1, "the log stream ended: %s", api_client_errmsg(&cl));
		if (fwrite(resp_buf, 1, (size_t)n, stdout) != (size_t)n)
			return 1;
		if (follow)
			fflush(stdout);
	}
	return 0;
}

int node_ctl_logs(const struct node_args *a)
{
	return node_cmd_logs(a);
}

/* --- backup -------------------------------------------------------------------------- */

int node_cmd_backup(const struct node_args *a)
{
	struct api_result res;
	int rc = client_open(a);
	if (rc)
		return rc;
	char name[CLUSTER_BACKUP_NAME_LEN + 1], path[NODE_PATH_MAX], tmp[NODE_PATH_MAX + 8];
	cluster_backup_filename(time_wall_ms(), name);
	const char *dir = node_arg_str(a, "outputdir");
	if (node_path(path, sizeof path, dir && *dir ? dir : ".", name) < 0)
		return fail(a, 2, "--outputdir: path too long");
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	api_result_init(&res, resp_buf, sizeof resp_buf);
	int st = api_call_stream(&cl, "GET", "/backup", NULL, &res);
	if (st < 0)
		return fail(a, 1, "%s", api_client_errmsg(&cl));
	if (st != 200)
		return fail(a, 1, "%s (%s)", res.error, res.code);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(a, 1, "cannot create %s: %s", tmp, strerror(errno));
	size_t total = 0;
	for (;;) {
		ssize_t n = api_client_stream_read(&cl, resp_buf, sizeof resp_buf, 30000);
		if (n == 0)
			break;
		if (n < 0 || write(fd, resp_buf, (size_t)n) != n) {
			close(fd);
			unlink(tmp);
			return fail(a, 1, "backup interrupted: %s",
				    n < 0 ? api_client_errmsg(&cl) : strerror(errno));
		}
		total += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return fail(a, 1, "cannot write %s: %s", path, strerror(errno));
	}
	printf("%s\n", path);
	fprintf(stderr,
		"Backup written: %s (%zu bytes). It holds the CA key and the join "
		"tokens: keep it safe.\n",
		path, total);
	return 0;
}

int node_ctl_backup(const struct node_args *a)
{
	return node_cmd_backup(a);
}

/* --- rm-node, update-license --------------------------------------------------------- */

int node_cmd_rm_node(const struct node_args *a)
{
	struct api_result res;
	int rc = client_open(a);
	if (rc)
		return rc;
	bool force = node_arg_bool(a, "force");
	for (size_t i = 0; i < a->npos; i++) {
		const char *k = a->pos[i];
		if (!cluster_name_valid(slice_from_cstr(k), CLUSTER_NODE_NAME_MAX))
			return fail(a, 2, "\"%s\" is not a node ID or name", k);
		char path[128];
		snprintf(path, sizeof path, "/nodes/%s%s", k, force ? "?force=true" : "");
		if ((rc = call(a, "DELETE", path, NULL, &res)))
			return rc;
		printf("%s removed\n", k);
	}
	return 0;
}

int node_ctl_rm_node(const struct node_args *a)
{
	return node_cmd_rm_node(a);
}

/* update-node <ID|NAME> --availability=ACTIVE|PAUSE|DRAIN */
int node_cmd_update_node(const struct node_args *a)
{
	const char *k = a->npos ? a->pos[0] : "";
	const char *av = node_arg_str(a, "availability");
	enum cluster_avail v;
	if (!cluster_name_valid(slice_from_cstr(k), CLUSTER_NODE_NAME_MAX))
		return fail(a, 2, "\"%s\" is not a node ID or name", k);
	if (!av || cluster_avail_parse(slice_from_cstr(av), &v) < 0)
		return fail(a, 2, "give --availability=ACTIVE, PAUSE or DRAIN");
	char path[128], body[64];
	snprintf(path, sizeof path, "/nodes/%s/availability", k);
	snprintf(body, sizeof body, "{\"availability\":\"%s\"}", cluster_avail_str(v));
	struct api_result res;
	int rc = client_open(a);
	if (rc || (rc = call(a, "PUT", path, body, &res)))
		return rc;
	printf("%s is %s\n", k, cluster_avail_str(v));
	return 0;
}

int node_ctl_update_node(const struct node_args *a)
{
	return node_cmd_update_node(a);
}

int node_cmd_update_license(const struct node_args *a)
{
	static char body[CLUSTER_LICENSE_MAX * 6 + 64];
	struct buf b;
	struct json_writer w;
	struct api_result res;
	const char *lic = node_arg_str(a, "licensekey");
	if (!lic || !*lic)
		return fail(a, 2, "give the new key with --licensekey");
	buf_init(&b, body, sizeof body - 1);
	json_w_init(&w, &b);
	json_w_obj_begin(&w);
	json_w_key(&w, "licenseKey");
	json_w_str(&w, lic);
	json_w_obj_end(&w);
	if (json_w_finish(&w) < 0)
		return fail(a, 2, "--licensekey is too long");
	body[b.len] = '\0';
	int rc = client_open(a);
	if (rc || (rc = call(a, "PUT", "/license", body, &res)))
		return rc;
	printf("License updated.\n");
	return 0;
}

/* --- traefikeectl connect ------------------------------------------------------------ */

int node_ctl_connect(const struct node_args *a)
{
	static struct api_creds cr;
	char dir[NODE_PATH_MAX];
	const char *src = node_arg_str(a, "onpremise.mtlscertsdir");
	const char *addr = node_arg_str(a, "onpremise.apiaddress");
	const char *home = getenv("HOME");
	if (!src || !*src || !addr || !*addr)
		return fail(a, 2,
			    "give --onpremise.mtlscertsdir (the credentials bootstrap wrote) "
			    "and --onpremise.apiaddress (a control node, host:55055)");
	if (api_creds_cluster_dir(dir, sizeof dir, home ? home : "",
				  node_arg_str(a, "clustername")) < 0)
		return fail(a, 2,
			    "cannot place the credentials: $HOME is unset or relative, or "
			    "--clustername is not [A-Za-z0-9._-]");
	printf("Retrieving TraefikEE Control credentials...");
	fflush(stdout);
	int rc = api_creds_connect(&cr, src, addr, dir, time_wall_ms() / 1000);
	if (rc < 0) {
		printf("failed\n");
		return fail(a, 1, "%s", cr.errmsg);
	}
	printf("ok\n");
	/* Check that the cluster answers with these credentials. */
	struct api_result res;
	rc = api_client_init_creds(&cl, &cr);
	api_creds_wipe(&cr);
	if (rc == 0) {
		api_result_init(&res, resp_buf, sizeof resp_buf);
		rc = api_call(&cl, "GET", "/status", NULL, &res);
	}
	printf("Removing cluster credentials from platform...ok\n");
	printf("Credentials saved in \"%s\", please make sure to keep them safe as they can never "
	       "be retrieved again.\n",
	       dir);
	if (rc != 200) {
		fprintf(stderr,
			"traefikeectl connect: the credentials are saved, but %s did not answer: "
			"%s\n",
			addr, rc < 0 ? api_client_errmsg(&cl) : res.error);
		return 1;
	}
	printf("\xe2\x9c\x94 Successfuly gained access to the cluster. You can now use other "
	       "traefikeectl commands.\n");
	return 0;
}
