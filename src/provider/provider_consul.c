/* provider_consul.c — Consul KV watcher (see provider_consul.h).
 *
 * One loop: query -> on_done -> (translate, submit) -> schedule the next query. Only one
 * request is ever in flight, on one kept-alive connection.
 */
#include "provider/provider_consul.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_err.h"

static void query(struct provider_consul *pc);

/* Response parsing ---------------------------------------------------------------------- */

int provider_consul_parse(struct slice body, json_tok *toks, size_t ntoks, struct provider_kv *kv,
			  size_t max, char *vals, size_t cap, struct provider_diag *d)
{
	struct json_doc doc;
	int rc = json_parse(&doc, body.p, body.len, toks, ntoks);
	if (rc == -ERR_JSON_TOO_MANY_TOKENS)
		return -ERR_PROVIDER_TOO_MANY_KEYS;
	if (rc < 0)
		return rc;
	if (json_typeof(&doc, JSON_ROOT) != JSON_ARRAY)
		return -ERR_JSON_TYPE;
	struct json_iter it;
	int e;
	size_t n = 0, used = 0;
	json_iter_begin(&doc, JSON_ROOT, &it);
	while ((e = json_iter_next(&doc, &it, NULL)) >= 0) {
		int k = json_obj_get(&doc, e, "Key");
		int v = json_obj_get(&doc, e, "Value");
		if (json_typeof(&doc, k) != JSON_STRING)
			return -ERR_JSON_TYPE;
		if (n == max)
			return -ERR_PROVIDER_TOO_MANY_KEYS;
		int kl = json_get_strn(&doc, k, vals + used, cap - used);
		if (kl < 0)
			return kl;
		kv[n].key = (struct slice){vals + used, (size_t)kl};
		used += (size_t)kl;
		kv[n].val = (struct slice){vals + used, 0};
		if (json_typeof(&doc, v) == JSON_STRING) {
			int bl = json_get_strn(&doc, v, vals + used, cap - used);
			if (bl < 0)
				return bl;
			int dl = base64_decode((struct slice){vals + used, (size_t)bl}, vals + used,
					       (size_t)bl);
			if (dl < 0) {
				char key[PROVIDER_KV_KEY_MAX];
				provider_fmt(key, sizeof key, "%.*s", kl, kv[n].key.p);
				provider_report(d, LOG_ERROR, key,
						"value is not valid base64; ignored");
				continue;
			}
			kv[n].val.len = (size_t)dl;
			used += (size_t)dl;
		} else if (v >= 0 && !json_is_null(&doc, v)) {
			return -ERR_JSON_TYPE;
		}
		n++;
	}
	return (int)n;
}

/* Helpers ------------------------------------------------------------------------------ */

static size_t url_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s && o + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~/", c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = 0;
	return o;
}

static void normalise(const char *in, char *out, size_t cap)
{
	struct slice s = slice_from_cstr(in);
	while (s.len && s.p[0] == '/') {
		s.p++;
		s.len--;
	}
	while (s.len && s.p[s.len - 1] == '/')
		s.len--;
	provider_fmt(out, cap, "%.*s", (int)s.len, s.p);
}

static void on_timer(struct loop *l, void *arg)
{
	struct provider_consul *pc = arg;
	pc->timer = (struct loop_timer_id){0, 0};
	if (pc->state != PROVIDER_WATCHING)
		pc->state = PROVIDER_CONNECTING; /* the retry after a back-off */
	query(pc);
}

static void schedule(struct provider_consul *pc, uint64_t delay)
{
	loop_timer_cancel(pc->loop, pc->timer);
	pc->timer = (struct loop_timer_id){0, 0};
	if (loop_timer_add(pc->loop, delay, on_timer, pc, &pc->timer) < 0)
		log_error("consul: cannot arm a timer", "err=%s", pc->loop->errmsg);
}

/* After a success: the next query, rate-limited to min_query_gap_ms between starts. */
static void schedule_next(struct provider_consul *pc)
{
	uint64_t now = loop_now_ms(pc->loop),
		 at = pc->last_query_ms + pc->cfg.limits.min_query_gap_ms;
	schedule(pc, at > now ? at - now : 0);
}

/* Errors that retrying alone will not fix: an operator must act. */
static bool needs_operator(int err)
{
	return err == -ERR_PROVIDER_AUTH || err == -ERR_PROVIDER_TOO_MANY_KEYS ||
	       err == -ERR_PROVIDER_DOC_TOO_LARGE || err == -ERR_PROVIDER_RESPONSE_TOO_LARGE;
}

static void retry_later(struct provider_consul *pc, int err)
{
	pc->errors++;
	pc->last_err = err;
	pc->state = needs_operator(err) ? PROVIDER_ERROR : PROVIDER_BACKOFF;
	provider_fmt(pc->errmsg, sizeof pc->errmsg, "%s", pc->http.errmsg);
	uint64_t d = provider_backoff_next(&pc->backoff, pc->cfg.rand);
	log_warn("consul: query failed; retrying", "endpoint=%s err=%s detail=\"%s\" retry_ms=%llu",
		 pc->cfg.endpoint, err_name(err), pc->http.errmsg, (unsigned long long)d);
	schedule(pc, d);
}

/* Translate pairs[0..n) (full keys) under root and offer the document. */
static void translate(struct provider_consul *pc, size_t n, const char *root, bool alias_pass)
{
	n = provider_kv_strip_root(pc->kv, n, slice_from_cstr(root));
	provider_kv_sort(pc->kv, n);
	struct slice alias;
	if (!alias_pass && provider_kv_alias(pc->kv, n, &alias)) {
		provider_fmt(pc->alias, sizeof pc->alias, "%.*s", (int)alias.len, alias.p);
		pc->reading_alias = true;
		log_info("consul: alias set; reading the aliased tree", "prefix=%s alias=%s",
			 pc->prefix, pc->alias);
		return;
	}
	buf_reset(&pc->doc);
	int rc = provider_kv_translate(pc->kv, n, &pc->doc, pc->cfg.diag);
	if (rc < 0) {
		provider_report(pc->cfg.diag, LOG_ERROR, root,
				"cannot build the routing document: %s; keeping the last good one",
				err_str(rc));
		return;
	}
	log_info("consul: read prefix", "prefix=%s keys=%zu doc_bytes=%zu index=%llu", root, n,
		 pc->doc.len, (unsigned long long)pc->index);
	rc = provider_emit_submit(pc->cfg.emit, buf_slice(&pc->doc));
	if (rc < 0) {
		provider_report(pc->cfg.diag, LOG_ERROR, root, "document not applied: %s",
				err_str(rc));
		return;
	}
	pc->applied = pc->index;
}

/* The response ---------------------------------------------------------------------------- */

static void on_done(void *arg, int err)
{
	struct provider_consul *pc = arg;
	if (err < 0) {
		retry_later(pc, err);
		return;
	}
	int status = pc->http.res.status;
	pc->last_status = status;
	if (status == 403) {
		pc->errors++;
		pc->last_err = -ERR_PROVIDER_AUTH;
		pc->state = PROVIDER_ERROR;
		provider_fmt(pc->errmsg, sizeof pc->errmsg,
			     "permission denied (403): check --consul.token");
		uint64_t d = provider_backoff_next(&pc->backoff, pc->cfg.rand);
		log_error("consul: permission denied (403): check --consul.token or "
			  "CONSUL_HTTP_TOKEN and the token's key:read ACL on the prefix",
			  "prefix=%s retry_ms=%llu", pc->prefix, (unsigned long long)d);
		schedule(pc, d);
		return;
	}
	if (status != 200 && status != 404) {
		provider_fmt(pc->http.errmsg, sizeof pc->http.errmsg, "HTTP status %d", status);
		retry_later(pc, -ERR_PROVIDER_STATUS);
		return;
	}
	if (pc->reading_alias) {
		pc->reading_alias = false;
		if (status == 404) {
			provider_report(pc->cfg.diag, LOG_ERROR, "alias",
					"alias \"%s\" names an empty tree; keeping the last good "
					"document",
					pc->alias);
		} else {
			int n = provider_consul_parse(phttp_body(&pc->http), pc->toks, pc->ntoks,
						      pc->kv, pc->cfg.limits.max_keys, pc->vals,
						      pc->vals_cap, pc->cfg.diag);
			if (n < 0) {
				retry_later(pc, n);
				return;
			}
			translate(pc, (size_t)n, pc->alias, true);
		}
		provider_backoff_reset(&pc->backoff);
		pc->state = PROVIDER_WATCHING;
		schedule_next(pc);
		return;
	}
	struct slice hv = phttp_header(&pc->http, "X-Consul-Index");
	uint64_t idx = 0;
	if (!hv.p || slice_to_u64(hv, UINT64_MAX, &idx) < 0)
		log_warn("consul: response without a valid X-Consul-Index", "prefix=%s",
			 pc->prefix);
	if (pc->have_data && idx < pc->index) {
		/* snapshot restore, a deleted highest key, a new cluster: start over */
		pc->resets++;
		log_info("consul: X-Consul-Index went backwards; resetting", "old=%llu new=%llu",
			 (unsigned long long)pc->index, (unsigned long long)idx);
		pc->index = 0;
		pc->have_data = false;
		schedule_next(pc);
		return;
	}
	if (idx == 0)
		idx = 1; /* never block on index 0 */
	bool changed = !pc->have_data || idx != pc->index;
	pc->index = idx;
	if (changed) {
		if (status == 404) {
			log_warn("consul: no key under the prefix; the routing document is empty",
				 "prefix=%s", pc->prefix);
			translate(pc, 0, pc->prefix, false);
		} else {
			int n = provider_consul_parse(phttp_body(&pc->http), pc->toks, pc->ntoks,
						      pc->kv, pc->cfg.limits.max_keys, pc->vals,
						      pc->vals_cap, pc->cfg.diag);
			if (n < 0) {
				if (n == -ERR_PROVIDER_TOO_MANY_KEYS)
					provider_fmt(pc->http.errmsg, sizeof pc->http.errmsg,
						     "more than max_keys (%zu) keys under %s",
						     pc->cfg.limits.max_keys, pc->prefix);
				else
					provider_fmt(pc->http.errmsg, sizeof pc->http.errmsg,
						     "malformed KV list: %s", err_str(n));
				pc->have_data = false;
				retry_later(pc, n);
				return;
			}
			translate(pc, (size_t)n, pc->prefix, false);
		}
	}
	pc->have_data = true;
	provider_backoff_reset(&pc->backoff);
	pc->state = PROVIDER_WATCHING;
	schedule_next(pc);
}

static void query(struct provider_consul *pc)
{
	char path[3 * PROVIDER_STR_MAX + 128], esc[3 * PROVIDER_STR_MAX + 4];
	uint64_t timeout;
	if (pc->reading_alias) {
		url_escape(pc->alias, esc, sizeof esc);
		provider_fmt(path, sizeof path, "/v1/kv/%s?recurse=true", esc);
		timeout = 30000;
	} else {
		url_escape(pc->prefix, esc, sizeof esc);
		if (pc->have_data) {
			uint64_t w = pc->cfg.limits.consul_wait_ms;
			provider_fmt(path, sizeof path,
				     "/v1/kv/%s?recurse=true&index=%llu&wait=%llums", esc,
				     (unsigned long long)pc->index, (unsigned long long)w);
			timeout = w + w / 16 + 10000;
		} else {
			provider_fmt(path, sizeof path, "/v1/kv/%s?recurse=true", esc);
			timeout = 30000;
		}
	}
	struct http_header h[1];
	size_t nh = 0;
	if (pc->cfg.token && pc->cfg.token[0]) {
		h[0] = (struct http_header){.name = SLICE_LIT("X-Consul-Token"),
					    .value = slice_from_cstr(pc->cfg.token)};
		nh = 1;
	}
	pc->queries++;
	pc->last_query_ms = loop_now_ms(pc->loop);
	int rc = phttp_request(&pc->http, "GET", path, h, nh, (struct slice){NULL, 0}, timeout,
			       on_done, NULL, pc);
	if (rc < 0) {
		provider_fmt(pc->http.errmsg, sizeof pc->http.errmsg, "request: %s", err_str(rc));
		retry_later(pc, rc);
	}
}

/* Lifecycle ------------------------------------------------------------------------------ */

int provider_consul_init(struct provider_consul *pc, struct loop *l,
			 const struct provider_consul_config *cfg, char *errmsg, size_t cap)
{
	memset(pc, 0, sizeof *pc);
	pc->loop = l;
	pc->cfg = *cfg;
	normalise(cfg->prefix ? cfg->prefix : "traefik", pc->prefix, sizeof pc->prefix);
	pc->backoff.min_ms = cfg->limits.backoff_min_ms;
	pc->backoff.max_ms = cfg->limits.backoff_max_ms;
	struct phttp_config hc = {
		.endpoint = cfg->endpoint,
		.default_port = 8500,
		.tls = cfg->tls,
		.tls_cfg = cfg->tls_cfg,
		.rand = cfg->rand,
		.http_proxy = cfg->http_proxy,
		.https_proxy = cfg->https_proxy,
		.no_proxy = cfg->no_proxy,
		.max_response_bytes = cfg->limits.max_response_bytes,
		.connect_timeout_ms = cfg->limits.connect_timeout_ms,
	};
	int rc = phttp_init(&pc->http, l, &hc);
	if (rc < 0) {
		provider_fmt(errmsg, cap, "consul: %s", pc->http.errmsg);
		return rc;
	}
	size_t maxk = cfg->limits.max_keys ? cfg->limits.max_keys : 1;
	pc->ntoks = maxk * 16 + 16;
	pc->vals_cap = cfg->limits.max_response_bytes;
	size_t sz = pc->ntoks * sizeof(json_tok) + maxk * sizeof(struct provider_kv) +
		    pc->vals_cap + cfg->limits.max_doc_bytes;
	pc->mem = malloc(sz);
	if (!pc->mem) {
		provider_fmt(errmsg, cap, "consul: cannot allocate %zu bytes", sz);
		return -ERR_NOMEM;
	}
	char *m = pc->mem;
	pc->toks = (json_tok *)m;
	m += pc->ntoks * sizeof(json_tok);
	pc->kv = (struct provider_kv *)m;
	m += maxk * sizeof(struct provider_kv);
	pc->vals = m;
	m += pc->vals_cap;
	buf_init(&pc->doc, m, cfg->limits.max_doc_bytes);
	return 0;
}

int provider_consul_start(struct provider_consul *pc)
{
	log_info("consul: watching", "endpoint=%s prefix=%s", pc->cfg.endpoint, pc->prefix);
	query(pc);
	return 0;
}

void provider_consul_fini(struct provider_consul *pc)
{
	if (!pc->loop)
		return;
	loop_timer_cancel(pc->loop, pc->timer);
	phttp_fini(&pc->http);
	free(pc->mem);
	pc->mem = NULL;
	pc->loop = NULL;
}
