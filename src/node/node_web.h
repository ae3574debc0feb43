/* node_web.h — the control node's web endpoints with --api: dashboard, JSON API, /health,
 * /metrics (docs/internals/node.md, "Web endpoints").
 *
 * Contract
 *   Every route is GET, read-only and anonymous (API_ROLE_ANON, like Traefik v1's api entry
 *   point), registered on the control node's one route table (ctl_web_start). Nothing secret
 *   is ever served: the routing document goes out only through node_web_redact, which drops
 *   private keys, passwords, tokens, auth users and credential headers, whatever their
 *   spelling (escaped text is decoded before it is checked). Every response is bounded by the
 *   API server's max_resp (256 KiB; over it: 500 API_RESP_TOO_LARGE).
 *
 *   The builders below are pure (no clock, no store) so the unit tests exercise them whole.
 */
#ifndef NODE_NODE_WEB_H
#define NODE_NODE_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "json/json.h"
#include "json/json_write.h"

#define NODE_WEB_TOKENS 32768 /* JSON tokens of a routing document the API can show */
#define NODE_WEB_STR_MAX 4096 /* longest string value shown; longer ones are summarised */
#define NODE_WEB_REDACTED "(redacted)"

/* Copy value t of d into w, with secrets replaced by "(redacted)": the value of any member
 * whose key is (case-insensitively) keyFile, key, password, secret, token, users, usersFile,
 * authorization, proxy-authorization, cookie, x-api-key; any string containing "PRIVATE KEY";
 * other PEM text becomes "(PEM, N bytes)", strings over NODE_WEB_STR_MAX "(N bytes)".
 * scratch[0..cap) (cap > NODE_WEB_STR_MAX) decodes strings. Returns 0 or the writer's error. */
int node_web_redact(struct json_writer *w, const struct json_doc *d, int t, char *scratch,
		    size_t cap);

/* Traefik v1 /api/providers shape from routing document d:
 *   {"<provider>":{"frontends":{...},"backends":{...}}}
 * narrowed by the optional selectors (NULL: all): only_provider (another name: -ERR_NOTFOUND),
 * section ("frontends" / "backends": that object alone), name (one frontend or backend:
 * -ERR_NOTFOUND if absent). Values are redacted (node_web_redact). */
int node_web_providers(struct json_writer *w, const struct json_doc *d, const char *provider,
		       const char *only_provider, const char *section, const char *name,
		       char *scratch, size_t cap);

/* Control-plane figures for /metrics. */
struct node_web_cp {
	uint64_t term, commit, applied, voters, routing_revision;
	bool leader;
	uint32_t nodes[2][2];       /* [0 control, 1 data][0 ready, 1 down] */
	uint64_t routing_changes;   /* routing documents this node took since it started */
	int64_t routing_changed_at; /* Unix s of the last one, 0: none */
	bool provider_running;      /* this node (the leader) runs the provider */
	uint64_t provider_errors;   /* failed provider reads since the provider started */
	uint64_t api_requests;      /* API requests served, all listeners */
	uint64_t api_status[6];     /* responses by class, index status / 100 */
	int64_t started_at;         /* Unix s */
	int64_t cert_earliest; /* Unix s: the soonest notAfter of a node's certificate, 0 none */
	int64_t cert_own;      /* Unix s: this node's certificate's notAfter */
	uint64_t cert_renewals, cert_renew_failures; /* this node's, since it started */
};
/* Prometheus text (version 0.0.4). 0 or -ERR_BUF_FULL. */
int node_web_metrics_text(struct buf *b, const struct node_web_cp *cp);

/* Traefik's /health: {"pid","uptime" (Go duration text),"uptime_sec","time","unixtime",
 * "total_count"}. Times in Unix milliseconds. */
int node_web_health(struct json_writer *w, long pid, int64_t start_ms, int64_t now_ms,
		    uint64_t total_count);
/* Go's time.Duration text: "1h2m3.5s", "250ms", "0s". */
void node_web_duration(char *out, size_t cap, int64_t ms);

/* The dashboard page (HTML, CSS and JS in one text; no external asset). */
extern const char node_web_dashboard_html[];

/* Control node wiring (node_web.c; struct ctl in node_control.h). */
struct ctl;
/* Allocate the web state and register the routes. 0 or -ERR_NOMEM / a route error. */
int ctl_web_start(struct ctl *c);
void ctl_web_fini(struct ctl *c);
/* The committed routing document changed on this node (count it for /metrics). */
void ctl_web_routing_changed(struct ctl *c);

#endif
