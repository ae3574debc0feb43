/* provider_etcd.h — etcd v3 watcher over the JSON gRPC gateway (etcd 3.4 and later).
 *
 * Contract
 *
 * - List: `POST /v3/kv/range` with key = prefix + "/" and range_end = that key with its last
 *   byte incremented (both base64); the header revision R is remembered. Watch:
 *   `POST /v3/watch` {"create_request":{key, range_end, start_revision: R+1}} on a second
 *   connection; the chunked stream of {"result":{…}} objects is parsed as it arrives. Every
 *   message with events triggers one new range (coalesced while one is in flight), whose
 *   revision is at least the event's, so no change is missed and a burst costs one re-list.
 * - A watch answer with compact_revision set (the start revision was compacted), "canceled",
 *   or an error object restarts from the list. A closed stream or a failed request is retried
 *   after back-off with jitter.
 * - Auth: with a user name, `POST /v3/auth/authenticate` first; the token is sent as the raw
 *   Authorization header; a 401 (or gRPC code 16) clears it and authenticates again.
 * - `alias`: as Consul (one more range under the alias value; the watch stays on the prefix).
 * - Memory: allocated once in provider_etcd_init (two connections' buffers, tokens, pairs,
 *   values, document).
 */
#ifndef PROVIDER_PROVIDER_ETCD_H
#define PROVIDER_PROVIDER_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json/json.h"
#include "provider/provider.h"
#include "provider/provider_http.h"
#include "provider/provider_kv.h"

struct provider_etcd_config {
	const char *endpoint; /* "127.0.0.1:2379"; a comma list uses its first entry */
	const char *prefix;   /* "/traefik" */
	const char *username; /* "" for none */
	const char *password;
	bool tls;
	const struct tls_client_config *tls_cfg;
	const char *http_proxy, *https_proxy, *no_proxy;
	struct provider_limits limits;
	struct rand *rand;
	struct provider_emit *emit;
	struct provider_diag *diag;
};

struct provider_etcd {
	struct loop *loop;
	struct provider_etcd_config cfg;
	struct phttp kvc;              /* auth and range */
	struct phttp watch;            /* the watch stream */
	char prefix[PROVIDER_STR_MAX]; /* as configured, with a leading '/' kept */
	char alias[PROVIDER_STR_MAX];
	char token[1024]; /* auth token ("" when none) */
	int64_t revision; /* header revision of the last range */
	bool watching;
	bool range_busy;
	bool range_again; /* an event arrived while a range was in flight */
	bool reading_alias;
	struct provider_backoff backoff;
	struct loop_timer_id timer;
	json_tok *toks;
	size_t ntoks;
	json_tok *wtoks; /* for watch messages */
	size_t nwtoks;
	struct provider_kv *kv;
	char *vals;
	size_t vals_cap;
	struct buf doc;
	void *mem;
	enum provider_state state;
	int64_t applied;       /* revision of the last document submitted (0: none) */
	unsigned stale_streak; /* consecutive ranges older than applied */
	uint64_t ranges;
	uint64_t stale;  /* ranges dropped: revision older than applied */
	uint64_t resets; /* a revision that stayed older: the store was replaced, accepted */
	uint64_t watch_events;
	uint64_t compactions;
	uint64_t errors;
	int last_err;
	char errmsg[256]; /* detail of last_err */
};

int provider_etcd_init(struct provider_etcd *pe, struct loop *l,
		       const struct provider_etcd_config *cfg, char *errmsg, size_t cap);
int provider_etcd_start(struct provider_etcd *pe);
void provider_etcd_fini(struct provider_etcd *pe);
/* Drop the current watch stream and watch again from `revision` (recovery tooling and tests:
 * a revision already compacted makes etcd cancel the watch with compact_revision, which
 * triggers a re-list). 0 or the request error. */
int provider_etcd_watch_from(struct provider_etcd *pe, int64_t revision);

/* range_end for a prefix: the prefix with its last byte incremented (bytes 0xff dropped first);
 * "\0" (all keys) when nothing is left. Returns the length written to out (cap bytes). */
size_t provider_etcd_range_end(struct slice prefix, char *out, size_t cap);

/* Length of the first complete JSON value at the start of s (after whitespace), 0 if s holds
 * only an incomplete one, -ERR_PARSE for bytes that cannot start one. *skip gets the leading
 * whitespace length. Used to cut the watch stream into messages. Exposed for tests. */
long provider_etcd_next_message(struct slice s, size_t *skip);

#endif
