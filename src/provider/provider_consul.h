/* provider_consul.h — Consul KV watcher: one recursive blocking query for the whole prefix.
 *
 * Contract
 *
 * - The watcher asks `GET /v1/kv/<prefix>?recurse=true` (never a read per key), then repeats it
 *   as a blocking query `&index=<X-Consul-Index>&wait=<consul_wait_ms>` forever. Values come
 *   base64-encoded in a JSON array; they are decoded into the watcher's own buffer, sorted,
 *   translated (provider_kv_translate) and offered to the shared provider_emit (throttle,
 *   de-duplication).
 * - Index rules (docs/internals/providers.md, SPEC-FACTS §3): a 404 carries an index and means
 *   "no keys" (an empty document is emitted once, loudly logged); an index of 0 becomes 1, so
 *   a blocking query never uses index 0 after the first read; an index lower than the last one
 *   resets to 0 (a fresh, non-blocking read); an unchanged index after a wait is not a change.
 *   Queries are at least min_query_gap_ms apart after a change (rate limit under churn).
 * - `alias`: when <prefix>/alias is set, the tree under its value is read with one more
 *   recursive GET and translated instead; the watch stays on the prefix (flip the alias to
 *   switch configurations atomically).
 * - Errors: connection failures, timeouts and 5xx are retried after provider_backoff (jitter
 *   from the injected rand); 403 is logged as a refused ACL token (--consul.token /
 *   CONSUL_HTTP_TOKEN) and retried with back-off too; the last good document stays.
 * - Memory: provider_consul_init allocates the response buffer (max_response_bytes), the JSON
 *   tokens and pairs (max_keys) and a value buffer once.
 */
#ifndef PROVIDER_PROVIDER_CONSUL_H
#define PROVIDER_PROVIDER_CONSUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json/json.h"
#include "provider/provider.h"
#include "provider/provider_http.h"
#include "provider/provider_kv.h"

struct provider_consul_config {
	const char *endpoint; /* "127.0.0.1:8500", "http://…", "https://…" */
	const char *prefix;   /* "traefik" */
	const char *token;    /* "" for none: X-Consul-Token */
	bool tls;
	const struct tls_client_config *tls_cfg;
	const char *http_proxy, *https_proxy, *no_proxy;
	struct provider_limits limits;
	struct rand *rand;
	struct provider_emit *emit; /* borrowed */
	struct provider_diag *diag; /* borrowed */
};

struct provider_consul {
	struct loop *loop;
	struct provider_consul_config cfg;
	struct phttp http;
	char prefix[PROVIDER_STR_MAX]; /* no leading or trailing '/' */
	char alias[PROVIDER_STR_MAX];  /* alias being read ("" when none) */
	uint64_t index;                /* last X-Consul-Index; 0 before the first read */
	bool have_data;                /* a 200/404 was processed at this index */
	bool reading_alias;
	struct provider_backoff backoff;
	struct loop_timer_id timer;
	uint64_t last_query_ms;
	json_tok *toks;
	size_t ntoks;
	struct provider_kv *kv;
	char *vals; /* decoded values (and keys) */
	size_t vals_cap;
	struct buf doc; /* translation output (max_doc_bytes) */
	void *mem;
	enum provider_state state;
	uint64_t applied; /* X-Consul-Index of the last document submitted (0: none) */
	/* counters, for tests and metrics */
	uint64_t queries;
	uint64_t errors;
	uint64_t resets;
	int last_status;
	int last_err;
	char errmsg[256]; /* detail of last_err */
};

int provider_consul_init(struct provider_consul *pc, struct loop *l,
			 const struct provider_consul_config *cfg, char *errmsg, size_t cap);
int provider_consul_start(struct provider_consul *pc);
void provider_consul_fini(struct provider_consul *pc);

/* Parse a Consul KV list response body (JSON array of {Key, Value(base64|null), …}) into
 * kv[0..max): keys and decoded values are copied into vals (cap bytes). Returns the count, or
 * -ERR_JSON_* / -ERR_PARSE (bad base64) / -ERR_PROVIDER_TOO_MANY_KEYS / -ERR_BUF_FULL.
 * Exposed for tests. */
int provider_consul_parse(struct slice body, json_tok *toks, size_t ntoks, struct provider_kv *kv,
			  size_t max, char *vals, size_t cap, struct provider_diag *d);

#endif
