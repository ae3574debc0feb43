/* provider_etcd.c — etcd v3 watcher over the JSON gateway (see provider_etcd.h).
 *
 * Two connections: `kvc` carries authenticate and range requests one at a time; `watch` holds
 * the streaming watch. The watch only says "something changed at revision N"; the state is
 * always re-read whole with one range (the same full rebuild Traefik does, but with one
 * request instead of one per key).
 */
#include "provider/provider_etcd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_err.h"
#include "json/json_write.h"

#define PROVIDER_ETCD_STALE_MAX 3 /* consecutive older revisions before a store reset */

static void range(struct provider_etcd *pe);
static void watch_start(struct provider_etcd *pe);
static void authenticate(struct provider_etcd *pe);

/* Pure helpers --------------------------------------------------------------------------- */

size_t provider_etcd_range_end(struct slice prefix, char *out, size_t cap)
{
	size_t n = prefix.len < cap ? prefix.len : cap;
	memcpy(out, prefix.p, n);
	while (n > 0) {
		unsigned char c = (unsigned char)out[n - 1];
		if (c < 0xff) {
			out[n - 1] = (char)(c + 1);
			return n;
		}
		n--;
	}
	if (cap)
		out[0] = 0;
	return cap ? 1 : 0;
}

long provider_etcd_next_message(struct slice s, size_t *skip)
{
	size_t i = 0;
	while (i < s.len && (s.p[i] == ' ' || s.p[i] == '\n' || s.p[i] == '\r' || s.p[i] == '\t'))
		i++;
	*skip = i;
	if (i == s.len)
		return 0;
	if (s.p[i] != '{' && s.p[i] != '[')
		return -ERR_PARSE;
	size_t start = i;
	int depth = 0;
	bool str = false, esc = false;
	for (; i < s.len; i++) {
		char c = s.p[i];
		if (str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				str = false;
			continue;
		}
		if (c == '"')
			str = true;
		else if (c == '{' || c == '[')
			depth++;
		else if ((c == '}' || c == ']') && --depth == 0)
			return (long)(i + 1 - start);
	}
	return 0;
}

static int get_i64(const struct json_doc *doc, int t, int64_t *out)
{
	if (json_typeof(doc, t) == JSON_NUMBER)
		return json_get_int(doc, t, out);
	if (json_typeof(doc, t) != JSON_STRING)
		return t < 0 ? t : -ERR_JSON_TYPE;
	uint64_t v;
	int rc = slice_to_u64(json_raw(doc, t), INT64_MAX, &v);
	if (rc < 0)
		return rc;
	*out = (int64_t)v;
	return 0;
}

/* The gRPC status code of an error body ({"error":..., "code":N} or {"error":{"grpc_code":N}}). */
static int grpc_code(struct slice body, json_tok *toks, size_t ntoks)
{
	struct json_doc doc;
	if (json_parse(&doc, body.p, body.len, toks, ntoks) < 0)
		return -1;
	int64_t c;
	if (get_i64(&doc, json_obj_get(&doc, JSON_ROOT, "code"), &c) == 0)
		return (int)c;
	if (get_i64(&doc, json_get_path(&doc, JSON_ROOT, "error.grpc_code"), &c) == 0)
		return (int)c;
	return -1;
}

/* Scheduling ------------------------------------------------------------------------------ */

static void on_retry(struct loop *l, void *arg)
{
	struct provider_etcd *pe = arg;
	pe->timer = (struct loop_timer_id){0, 0};
	pe->state = PROVIDER_CONNECTING;
	if (pe->cfg.username[0] && !pe->token[0])
		authenticate(pe);
	else
		range(pe);
}

/* Give up on both connections and start over (auth, range, watch) after back-off. */
static void restart_later(struct provider_etcd *pe, int err, const char *what, const char *detail)
{
	pe->errors++;
	pe->last_err = err;
	pe->state = err == -ERR_PROVIDER_AUTH || err == -ERR_PROVIDER_TOO_MANY_KEYS ||
				    err == -ERR_PROVIDER_RESPONSE_TOO_LARGE
			    ? PROVIDER_ERROR
			    : PROVIDER_BACKOFF;
	provider_fmt(pe->errmsg, sizeof pe->errmsg, "%s: %s", what, detail);
	phttp_cancel(&pe->watch);
	phttp_cancel(&pe->kvc);
	pe->watching = false;
	pe->range_busy = false;
	pe->range_again = false;
	pe->reading_alias = false;
	uint64_t d = provider_backoff_next(&pe->backoff, pe->cfg.rand);
	log_warn("etcd: request failed; retrying", "what=%s err=%s detail=\"%s\" retry_ms=%llu",
		 what, err_name(err), detail, (unsigned long long)d);
	loop_timer_cancel(pe->loop, pe->timer);
	pe->timer = (struct loop_timer_id){0, 0};
	loop_timer_add(pe->loop, d, on_retry, pe, &pe->timer);
}

static size_t hdrs(struct provider_etcd *pe, struct http_header *h)
{
	size_t n = 0;
	h[n++] = (struct http_header){.name = SLICE_LIT("Content-Type"),
				      .value = SLICE_LIT("application/json")};
	if (pe->token[0])
		h[n++] = (struct http_header){.name = SLICE_LIT("Authorization"),
					      .value = slice_from_cstr(pe->token)};
	return n;
}

/* {"key":b64(p/), "range_end":b64(end)} members into w. */
static int w_range(struct json_writer *w, const char *prefix)
{
	char key[PROVIDER_STR_MAX + 1], end[PROVIDER_STR_MAX + 1];
	char kb[2 * PROVIDER_STR_MAX + 8], eb[2 * PROVIDER_STR_MAX + 8];
	struct slice p = slice_from_cstr(prefix);
	while (p.len && p.p[p.len - 1] == '/')
		p.len--;
	int kl = provider_fmt(key, sizeof key, "%.*s/", (int)p.len, p.p);
	if (kl < 0 || (size_t)kl >= sizeof key)
		return -ERR_BUF_FULL;
	size_t el = provider_etcd_range_end((struct slice){key, (size_t)kl}, end, sizeof end);
	int a = base64_encode((struct slice){key, (size_t)kl}, kb, sizeof kb);
	int b = base64_encode((struct slice){end, el}, eb, sizeof eb);
	if (a < 0 || b < 0)
		return -ERR_BUF_FULL;
	json_w_key(w, "key");
	json_w_str_slice(w, (struct slice){kb, (size_t)a});
	json_w_key(w, "range_end");
	json_w_str_slice(w, (struct slice){eb, (size_t)b});
	return 0;
}

/* Authentication ---------------------------------------------------------------------------- */

static void on_auth(void *arg, int err)
{
	struct provider_etcd *pe = arg;
	if (err < 0) {
		restart_later(pe, err, "authenticate", pe->kvc.errmsg);
		return;
	}
	int st = pe->kvc.res.status;
	struct json_doc doc;
	struct slice body = phttp_body(&pe->kvc);
	if (st == 200 && json_parse(&doc, body.p, body.len, pe->wtoks, pe->nwtoks) > 0 &&
	    json_get_str(&doc, json_obj_get(&doc, JSON_ROOT, "token"), pe->token,
			 sizeof pe->token) > 0) {
		log_info("etcd: authenticated", "user=%s", pe->cfg.username);
		range(pe);
		return;
	}
	pe->token[0] = 0;
	char detail[160];
	provider_fmt(detail, sizeof detail,
		     "status %d for user %s: check --etcd.username and "
		     "--etcd.password",
		     st, pe->cfg.username);
	log_error("etcd: authentication refused", "user=%s status=%d", pe->cfg.username, st);
	restart_later(pe, -ERR_PROVIDER_AUTH, "authenticate", detail);
}

static void authenticate(struct provider_etcd *pe)
{
	char body[3 * PROVIDER_STR_MAX];
	struct buf b;
	struct json_writer w;
	buf_init(&b, body, sizeof body);
	json_w_init(&w, &b);
	json_w_obj_begin(&w);
	json_w_key(&w, "name");
	json_w_str(&w, pe->cfg.username);
	json_w_key(&w, "password");
	json_w_str(&w, pe->cfg.password ? pe->cfg.password : "");
	json_w_obj_end(&w);
	int rc = json_w_finish(&w);
	if (rc == 0) {
		struct http_header h[1] = {{.name = SLICE_LIT("Content-Type"),
					    .value = SLICE_LIT("application/json")}};
		rc = phttp_request(&pe->kvc, "POST", "/v3/auth/authenticate", h, 1, buf_slice(&b),
				   30000, on_auth, NULL, pe);
	}
	if (rc < 0)
		restart_later(pe, rc, "authenticate", "request");
}

/* Range ------------------------------------------------------------------------------- */

/* Parse a range response into pe->kv; returns the count or an error. */
static int parse_range(struct provider_etcd *pe, struct slice body, int64_t *rev)
{
	struct json_doc doc;
	int rc = json_parse(&doc, body.p, body.len, pe->toks, pe->ntoks);
	if (rc == -ERR_JSON_TOO_MANY_TOKENS)
		return -ERR_PROVIDER_TOO_MANY_KEYS;
	if (rc < 0)
		return rc;
	rc = get_i64(&doc, json_get_path(&doc, JSON_ROOT, "header.revision"), rev);
	if (rc < 0)
		return rc;
	bool more = false;
	json_get_bool(&doc, json_obj_get(&doc, JSON_ROOT, "more"), &more);
	if (more)
		return -ERR_PROVIDER_TOO_MANY_KEYS;
	int kvs = json_obj_get(&doc, JSON_ROOT, "kvs");
	if (kvs == -ERR_NOTFOUND)
		return 0;
	struct json_iter it;
	int e;
	size_t n = 0, used = 0;
	if (json_iter_begin(&doc, kvs, &it) < 0)
		return -ERR_JSON_TYPE;
	while ((e = json_iter_next(&doc, &it, NULL)) >= 0) {
		if (n == pe->cfg.limits.max_keys)
			return -ERR_PROVIDER_TOO_MANY_KEYS;
		const int t[2] = {json_obj_get(&doc, e, "key"), json_obj_get(&doc, e, "value")};
		struct slice out[2] = {{NULL, 0}, {NULL, 0}};
		for (int i = 0; i < 2; i++) {
			out[i].p = pe->vals + used;
			if (t[i] == -ERR_NOTFOUND)
				continue;
			int l = json_get_strn(&doc, t[i], pe->vals + used, pe->vals_cap - used);
			if (l < 0)
				return l;
			int d = base64_decode((struct slice){pe->vals + used, (size_t)l},
					      pe->vals + used, (size_t)l);
			if (d < 0)
				return d;
			out[i].len = (size_t)d;
			used += (size_t)d;
		}
		if (!out[0].len)
			continue;
		pe->kv[n].key = out[0];
		pe->kv[n].val = out[1];
		n++;
	}
	return (int)n;
}

static void on_range(void *arg, int err)
{
	struct provider_etcd *pe = arg;
	pe->range_busy = false;
	if (err < 0) {
		restart_later(pe, err, "range", pe->kvc.errmsg);
		return;
	}
	int st = pe->kvc.res.status;
	struct slice body = phttp_body(&pe->kvc);
	bool anon = st != 200 && body.len && memmem(body.p, body.len, "user name is empty", 18);
	if (st == 401 || anon || (st != 200 && grpc_code(body, pe->wtoks, pe->nwtoks) == 16)) {
		pe->token[0] = 0;
		restart_later(pe, -ERR_PROVIDER_AUTH, "range",
			      pe->cfg.username[0] ? "token refused; authenticating again"
						  : "authentication required: set --etcd.username");
		return;
	}
	if (st != 200) {
		char detail[200];
		provider_fmt(detail, sizeof detail, "status %d: %.*s", st,
			     (int)(body.len > 120 ? 120 : body.len), body.p ? body.p : "");
		restart_later(pe, -ERR_PROVIDER_STATUS, "range", detail);
		return;
	}
	int64_t rev = 0;
	int n = parse_range(pe, body, &rev);
	if (n < 0) {
		char detail[128];
		provider_fmt(detail, sizeof detail,
			     n == -ERR_PROVIDER_TOO_MANY_KEYS
				     ? "more than max_keys keys under the prefix"
				     : "malformed range response");
		restart_later(pe, n, "range", detail);
		return;
	}
	if (!pe->reading_alias && rev < pe->applied) {
		/* Never go back to an older state: a lagging member, or a store restored from an
		 * older snapshot. Dropped and listed again after back-off; a revision that stays
		 * older for PROVIDER_ETCD_STALE_MAX lists is a replaced store and is accepted. */
		if (++pe->stale_streak < PROVIDER_ETCD_STALE_MAX) {
			pe->stale++;
			char detail[128];
			provider_fmt(detail, sizeof detail,
				     "revision %lld older than the applied %lld; keeping the last "
				     "good document",
				     (long long)rev, (long long)pe->applied);
			restart_later(pe, -ERR_PROVIDER_STALE, "range", detail);
			return;
		}
		pe->resets++;
		log_warn("etcd: revision stayed older than the applied one; the store was "
			 "replaced, accepting it",
			 "revision=%lld applied=%lld", (long long)rev, (long long)pe->applied);
		pe->applied = 0;
	}
	if (!pe->reading_alias)
		pe->stale_streak = 0;
	pe->ranges++;
	const char *root = pe->reading_alias ? pe->alias : pe->prefix;
	size_t cnt = provider_kv_strip_root(pe->kv, (size_t)n, slice_from_cstr(root));
	provider_kv_sort(pe->kv, cnt);
	struct slice alias;
	if (!pe->reading_alias) {
		pe->revision = rev;
		if (provider_kv_alias(pe->kv, cnt, &alias)) {
			provider_fmt(pe->alias, sizeof pe->alias, "/%.*s", (int)alias.len, alias.p);
			pe->reading_alias = true;
			range(pe);
			return;
		}
	}
	pe->reading_alias = false;
	buf_reset(&pe->doc);
	int rc = provider_kv_translate(pe->kv, cnt, &pe->doc, pe->cfg.diag);
	if (rc < 0) {
		provider_report(pe->cfg.diag, LOG_ERROR, root,
				"cannot build the routing document: %s; keeping the last good one",
				err_str(rc));
	} else {
		log_info("etcd: read prefix", "prefix=%s keys=%zu doc_bytes=%zu revision=%lld",
			 root, cnt, pe->doc.len, (long long)pe->revision);
		rc = provider_emit_submit(pe->cfg.emit, buf_slice(&pe->doc));
		if (rc < 0)
			provider_report(pe->cfg.diag, LOG_ERROR, root, "document not applied: %s",
					err_str(rc));
		else
			pe->applied = pe->revision;
	}
	pe->state = PROVIDER_WATCHING;
	if (!pe->watching) {
		watch_start(pe);
	} else if (pe->range_again) {
		pe->range_again = false;
		range(pe);
	}
}

static void range(struct provider_etcd *pe)
{
	char body[6 * PROVIDER_STR_MAX];
	struct buf b;
	struct json_writer w;
	buf_init(&b, body, sizeof body);
	json_w_init(&w, &b);
	json_w_obj_begin(&w);
	int rc = w_range(&w, pe->reading_alias ? pe->alias : pe->prefix);
	json_w_obj_end(&w);
	if (rc == 0)
		rc = json_w_finish(&w);
	struct http_header h[2];
	size_t nh = hdrs(pe, h);
	if (rc == 0)
		rc = phttp_request(&pe->kvc, "POST", "/v3/kv/range", h, nh, buf_slice(&b), 30000,
				   on_range, NULL, pe);
	if (rc < 0) {
		restart_later(pe, rc, "range", "request");
		return;
	}
	pe->range_busy = true;
}

/* Watch ------------------------------------------------------------------------------ */

/* One message of the stream. 0 to go on, 1 when the watch was torn down. */
static int watch_message(struct provider_etcd *pe, struct slice msg)
{
	struct json_doc doc;
	int rc = json_parse(&doc, msg.p, msg.len, pe->wtoks, pe->nwtoks);
	if (rc == -ERR_JSON_TOO_MANY_TOKENS) {
		/* a big batch of events (a mass delete): whatever it says, list again */
		pe->watch_events++;
		if (pe->range_busy)
			pe->range_again = true;
		else
			range(pe);
		return 0;
	}
	if (rc < 0) {
		restart_later(pe, rc, "watch", "malformed watch message");
		return 1;
	}
	int res = json_obj_get(&doc, JSON_ROOT, "result");
	if (res < 0) {
		char detail[200];
		provider_fmt(detail, sizeof detail, "%.*s", (int)(msg.len > 150 ? 150 : msg.len),
			     msg.p);
		int code = grpc_code(msg, pe->wtoks, pe->nwtoks);
		if (code == 16)
			pe->token[0] = 0;
		restart_later(pe, code == 16 ? -ERR_PROVIDER_AUTH : -ERR_PROVIDER_STATUS, "watch",
			      detail);
		return 1;
	}
	int64_t compact = 0;
	get_i64(&doc, json_obj_get(&doc, res, "compact_revision"), &compact);
	bool canceled = false;
	json_get_bool(&doc, json_obj_get(&doc, res, "canceled"), &canceled);
	if (canceled && compact <= 0) {
		char reason[160] = "";
		json_get_str(&doc, json_obj_get(&doc, res, "cancel_reason"), reason, sizeof reason);
		bool auth = strstr(reason, "user name") || strstr(reason, "auth") ||
			    strstr(reason, "permission");
		if (auth)
			pe->token[0] = 0;
		restart_later(pe, auth ? -ERR_PROVIDER_AUTH : -ERR_PROVIDER_STATUS,
			      "watch canceled", reason);
		return 1;
	}
	if (compact > 0) {
		pe->compactions++;
		pe->last_err = -ERR_PROVIDER_COMPACTED;
		log_warn("etcd: watch canceled; listing again",
			 "compact_revision=%lld revision=%lld", (long long)compact,
			 (long long)pe->revision);
		phttp_cancel(&pe->watch);
		pe->watching = false;
		if (pe->range_busy)
			pe->range_again = false; /* its completion restarts the watch */
		else
			range(pe);
		return 1;
	}
	bool created = false;
	json_get_bool(&doc, json_obj_get(&doc, res, "created"), &created);
	if (created)
		provider_backoff_reset(&pe->backoff);
	int ev = json_obj_get(&doc, res, "events");
	if (ev >= 0 && json_len(&doc, ev) > 0) {
		pe->watch_events += (uint64_t)json_len(&doc, ev);
		if (pe->range_busy)
			pe->range_again = true;
		else
			range(pe);
	}
	return 0;
}

static long on_watch_data(void *arg, struct slice body)
{
	struct provider_etcd *pe = arg;
	size_t off = 0;
	for (;;) {
		size_t skip;
		struct slice rest = {body.p + off, body.len - off};
		long n = provider_etcd_next_message(rest, &skip);
		if (n < 0)
			return n;
		if (n == 0)
			return (long)(off + skip);
		if (watch_message(pe, (struct slice){rest.p + skip, (size_t)n}))
			return (long)(off + skip + (size_t)n);
		off += skip + (size_t)n;
	}
}

static void on_watch_done(void *arg, int err)
{
	struct provider_etcd *pe = arg;
	pe->watching = false;
	if (err == 0 && pe->watch.res.status != 200) {
		int st = pe->watch.res.status;
		if (st == 401)
			pe->token[0] = 0;
		char detail[64];
		provider_fmt(detail, sizeof detail, "status %d", st);
		restart_later(pe, st == 401 ? -ERR_PROVIDER_AUTH : -ERR_PROVIDER_STATUS, "watch",
			      detail);
		return;
	}
	restart_later(pe, err ? err : -ERR_CLOSED, "watch",
		      err ? pe->watch.errmsg : "the server ended the watch stream");
}

static void watch_start(struct provider_etcd *pe)
{
	char body[6 * PROVIDER_STR_MAX];
	struct buf b;
	struct json_writer w;
	char rev[24];
	buf_init(&b, body, sizeof body);
	json_w_init(&w, &b);
	json_w_obj_begin(&w);
	json_w_key(&w, "create_request");
	json_w_obj_begin(&w);
	int rc = w_range(&w, pe->prefix);
	provider_fmt(rev, sizeof rev, "%lld", (long long)(pe->revision + 1));
	json_w_key(&w, "start_revision");
	json_w_str(&w, rev);
	json_w_obj_end(&w);
	json_w_obj_end(&w);
	if (rc == 0)
		rc = json_w_finish(&w);
	struct http_header h[2];
	size_t nh = hdrs(pe, h);
	if (rc == 0)
		rc = phttp_request(&pe->watch, "POST", "/v3/watch", h, nh, buf_slice(&b), 0,
				   on_watch_done, on_watch_data, pe);
	if (rc < 0) {
		restart_later(pe, rc, "watch", "request");
		return;
	}
	pe->watching = true;
}

int provider_etcd_watch_from(struct provider_etcd *pe, int64_t revision)
{
	phttp_cancel(&pe->watch);
	pe->watching = false;
	pe->revision = revision > 0 ? revision - 1 : 0;
	watch_start(pe);
	return pe->watching ? 0 : pe->last_err;
}

/* Lifecycle ------------------------------------------------------------------------------ */

int provider_etcd_init(struct provider_etcd *pe, struct loop *l,
		       const struct provider_etcd_config *cfg, char *errmsg, size_t cap)
{
	memset(pe, 0, sizeof *pe);
	pe->loop = l;
	pe->cfg = *cfg;
	if (!pe->cfg.username)
		pe->cfg.username = "";
	provider_fmt(pe->prefix, sizeof pe->prefix, "%s", cfg->prefix ? cfg->prefix : "/traefik");
	pe->backoff.min_ms = cfg->limits.backoff_min_ms;
	pe->backoff.max_ms = cfg->limits.backoff_max_ms;
	/* a comma-separated endpoint list: the first one */
	char ep[PROVIDER_STR_MAX];
	provider_fmt(ep, sizeof ep, "%s", cfg->endpoint ? cfg->endpoint : "127.0.0.1:2379");
	ep[strcspn(ep, ",")] = 0;
	struct phttp_config hc = {
		.endpoint = ep,
		.default_port = 2379,
		.tls = cfg->tls,
		.tls_cfg = cfg->tls_cfg,
		.rand = cfg->rand,
		.http_proxy = cfg->http_proxy,
		.https_proxy = cfg->https_proxy,
		.no_proxy = cfg->no_proxy,
		.max_response_bytes = cfg->limits.max_response_bytes,
		.connect_timeout_ms = cfg->limits.connect_timeout_ms,
	};
	int rc = phttp_init(&pe->kvc, l, &hc);
	if (rc == 0) {
		/* the watch stream needs room for one message, not a whole listing */
		hc.max_response_bytes = cfg->limits.max_response_bytes / 4 > 65536
						? cfg->limits.max_response_bytes / 4
						: 65536;
		rc = phttp_init(&pe->watch, l, &hc);
	}
	if (rc < 0) {
		provider_fmt(errmsg, cap, "etcd: %s",
			     pe->kvc.errmsg[0] ? pe->kvc.errmsg : pe->watch.errmsg);
		return rc;
	}
	size_t maxk = cfg->limits.max_keys ? cfg->limits.max_keys : 1;
	pe->ntoks = maxk * 16 + 32;
	pe->nwtoks = 4096;
	pe->vals_cap = cfg->limits.max_response_bytes;
	size_t sz = (pe->ntoks + pe->nwtoks) * sizeof(json_tok) +
		    maxk * sizeof(struct provider_kv) + pe->vals_cap + cfg->limits.max_doc_bytes;
	pe->mem = malloc(sz);
	if (!pe->mem) {
		provider_fmt(errmsg, cap, "etcd: cannot allocate %zu bytes", sz);
		return -ERR_NOMEM;
	}
	char *m = pe->mem;
	pe->toks = (json_tok *)m;
	m += pe->ntoks * sizeof(json_tok);
	pe->wtoks = (json_tok *)m;
	m += pe->nwtoks * sizeof(json_tok);
	pe->kv = (struct provider_kv *)m;
	m += maxk * sizeof(struct provider_kv);
	pe->vals = m;
	m += pe->vals_cap;
	buf_init(&pe->doc, m, cfg->limits.max_doc_bytes);
	return 0;
}

int provider_etcd_start(struct provider_etcd *pe)
{
	log_info("etcd: watching", "endpoint=%s prefix=%s", pe->cfg.endpoint, pe->prefix);
	if (pe->cfg.username[0])
		authenticate(pe);
	else
		range(pe);
	return 0;
}

void provider_etcd_fini(struct provider_etcd *pe)
{
	if (!pe->loop)
		return;
	loop_timer_cancel(pe->loop, pe->timer);
	phttp_fini(&pe->watch);
	phttp_fini(&pe->kvc);
	free(pe->mem);
	pe->mem = NULL;
	pe->loop = NULL;
}
