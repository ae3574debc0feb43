/* node_health_report.c — health reports: encoding, parsing, the control node's table
 * (node_health_report.h). */
#include "node/node_health_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_err.h"
#include "json/json_write.h"

uint64_t nhr_key(struct slice backend, struct slice url)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint8_t pre[4];
	for (int i = 0; i < 4; i++)
		pre[i] = (uint8_t)((uint32_t)backend.len >> (8 * i));
	const struct slice seg[3] = {{(const char *)pre, 4}, backend, url};
	for (int k = 0; k < 3; k++)
		for (size_t i = 0; i < seg[k].len; i++) {
			h ^= (uint8_t)seg[k].p[i];
			h *= 0x100000001b3ull;
		}
	return h & ~1ull;
}

/* --- writing ------------------------------------------------------------------------------ */

int nhr_write_begin(struct nhr_writer *w, struct buf *out, uint64_t revision)
{
	memset(w, 0, sizeof *w);
	w->out = out;
	buf_reset(out);
	if (out->cap < 64) {
		w->err = -ERR_BUF_FULL;
		return w->err;
	}
	buf_printf(out, "{\"revision\":%llu,\"servers\":[", (unsigned long long)revision);
	return 0;
}

void nhr_write_server(struct nhr_writer *w, struct slice backend, struct slice url, bool up)
{
	if (w->err)
		return;
	struct buf *out = w->out;
	size_t mark = out->len;
	if (w->n >= NHR_SERVERS_MAX || !backend.len || backend.len > NHR_NAME_MAX || !url.len ||
	    url.len > NHR_URL_MAX) {
		w->truncated = true;
		return;
	}
	if (w->n)
		buf_append_byte(out, ',');
	struct json_writer jw;
	json_w_init(&jw, out);
	json_w_obj_begin(&jw);
	json_w_key(&jw, "backend");
	json_w_str_slice(&jw, backend);
	json_w_key(&jw, "url");
	json_w_str_slice(&jw, url);
	json_w_key(&jw, "up");
	json_w_bool(&jw, up);
	json_w_obj_end(&jw);
	if (json_w_finish(&jw) < 0 || out->len + NHR_TAIL > out->cap) {
		out->len = mark; /* the body is full: leave this one and the rest out */
		w->truncated = true;
		return;
	}
	w->n++;
}

int nhr_write_end(struct nhr_writer *w)
{
	if (w->err)
		return w->err;
	return buf_append_cstr(w->out, w->truncated ? "],\"truncated\":true}" : "]}");
}

/* --- parsing -------------------------------------------------------------------------------- */

static int ent_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int parse_fail(char *msg, size_t cap, int err, const char *what)
{
	if (cap)
		snprintf(msg, cap, "%s", what);
	return err;
}

static int parse_json(struct json_doc *d, const char *body, size_t len, size_t max, json_tok *toks,
		      size_t ntoks, char *msg, size_t cap)
{
	if (len > max) {
		if (cap)
			snprintf(msg, cap, "the report is %zu bytes, over %zu", len, max);
		return -ERR_TOO_LARGE;
	}
	int rc = json_parse(d, body, len, toks, ntoks);
	if (rc == -ERR_JSON_TOO_MANY_TOKENS)
		return parse_fail(msg, cap, -ERR_TOO_LARGE, "too many JSON values in the report");
	if (rc < 0)
		return parse_fail(msg, cap, -ERR_INVAL, "the report is not JSON");
	if (json_typeof(d, JSON_ROOT) != JSON_OBJECT)
		return parse_fail(msg, cap, -ERR_INVAL, "the report is not a JSON object");
	return 0;
}

/* Optional "truncated" (bool) and required "revision" (unsigned) of the root object. */
static int parse_head(const struct json_doc *d, struct nhr_report *r, char *msg, size_t cap)
{
	int t = json_obj_get(d, JSON_ROOT, "revision");
	if (t < 0 || json_get_uint(d, t, &r->revision) < 0)
		return parse_fail(msg, cap, -ERR_INVAL, "revision: want an unsigned integer");
	t = json_obj_get(d, JSON_ROOT, "truncated");
	if (t >= 0) {
		struct slice v = json_raw(d, t);
		if (json_typeof(d, t) != JSON_BOOL)
			return parse_fail(msg, cap, -ERR_INVAL, "truncated: want true or false");
		r->truncated = v.len == 4;
	}
	return 0;
}

int nhr_parse(const char *body, size_t len, json_tok *toks, size_t ntoks, struct nhr_report *r,
	      char *msg, size_t cap)
{
	struct json_doc d;
	r->revision = 0;
	r->n = 0;
	r->truncated = false;
	int rc = parse_json(&d, body, len, NHR_BODY_MAX, toks, ntoks, msg, cap);
	if (rc < 0 || (rc = parse_head(&d, r, msg, cap)) < 0)
		return rc;
	int arr = json_obj_get(&d, JSON_ROOT, "servers");
	if (arr < 0 || json_typeof(&d, arr) != JSON_ARRAY)
		return parse_fail(msg, cap, -ERR_INVAL, "servers: want an array");
	if (json_len(&d, arr) > (int)NHR_SERVERS_MAX) {
		if (cap)
			snprintf(msg, cap, "servers: %d, over %u", json_len(&d, arr),
				 NHR_SERVERS_MAX);
		return -ERR_TOO_LARGE;
	}
	static const char *const keys[] = {"backend", "url", "up"};
	struct json_iter it;
	int v;
	json_iter_begin(&d, arr, &it);
	while ((v = json_iter_next(&d, &it, NULL)) >= 0) {
		if (json_typeof(&d, v) != JSON_OBJECT)
			return parse_fail(msg, cap, -ERR_INVAL,
					  "servers: want {\"backend\",\"url\",\"up\"} objects");
		int t[3];
		for (int k = 0; k < 3; k++)
			t[k] = json_obj_get(&d, v, keys[k]);
		int bl = t[0] >= 0 ? json_str_len(&d, t[0]) : -1;
		int ul = t[1] >= 0 ? json_str_len(&d, t[1]) : -1;
		if (bl <= 0 || bl > (int)NHR_NAME_MAX)
			return parse_fail(msg, cap, -ERR_INVAL,
					  "servers: backend: want a name of 1 to 255 bytes");
		if (ul <= 0 || ul > (int)NHR_URL_MAX)
			return parse_fail(msg, cap, -ERR_INVAL,
					  "servers: url: want a URL of 1 to 2048 bytes");
		if (t[2] < 0 || json_typeof(&d, t[2]) != JSON_BOOL)
			return parse_fail(msg, cap, -ERR_INVAL, "servers: up: want true or false");
		char be[NHR_NAME_MAX + 1], url[NHR_URL_MAX + 1];
		int bn = json_get_strn(&d, t[0], be, sizeof be);
		int un = json_get_strn(&d, t[1], url, sizeof url);
		if (bn != bl || un != ul)
			return parse_fail(msg, cap, -ERR_INVAL,
					  "servers: a string does not decode");
		uint64_t k =
			nhr_key((struct slice){be, (size_t)bn}, (struct slice){url, (size_t)un});
		r->ent[r->n++] = k | (json_raw(&d, t[2]).len == 4 ? 1u : 0u);
	}
	qsort(r->ent, r->n, sizeof r->ent[0], ent_cmp);
	return 0;
}

int nhr_entries_get(const uint64_t *ent, uint32_t n, uint64_t key)
{
	key &= ~1ull;
	uint32_t lo = 0, hi = n;
	while (lo < hi) { /* first entry >= key */
		uint32_t mid = lo + (hi - lo) / 2;
		if (ent[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && (ent[lo] & ~1ull) == key)
		return (int)(ent[lo] & 1u);
	return -ERR_NOTFOUND;
}

/* --- the table ------------------------------------------------------------------------------ */

void nhr_table_init(struct nhr_table *t)
{
	memset(t, 0, sizeof *t);
}

void nhr_table_fini(struct nhr_table *t)
{
	for (size_t i = 0; i < NHR_NODES_MAX; i++)
		free(t->node[i].ent);
	memset(t, 0, sizeof *t);
}

struct nhr_node *nhr_table_get(struct nhr_table *t, const char *id)
{
	for (size_t i = 0; i < NHR_NODES_MAX; i++)
		if (t->node[i].used && strcmp(t->node[i].id, id) == 0)
			return &t->node[i];
	return NULL;
}

int nhr_table_put(struct nhr_table *t, const char *id, const struct nhr_report *r, uint64_t at_ms,
		  struct nhr_node **out)
{
	if (!id_valid(slice_from_cstr(id)) || r->n > NHR_SERVERS_MAX)
		return -ERR_INVAL;
	struct nhr_node *n = nhr_table_get(t, id);
	if (n && at_ms < n->at_ms) {
		*out = n;
		return 1; /* a copy that arrived after a newer report */
	}
	if (!n) {
		struct nhr_node *oldest = NULL;
		for (size_t i = 0; i < NHR_NODES_MAX && !n; i++) {
			struct nhr_node *x = &t->node[i];
			if (!x->used)
				n = x;
			else if (!oldest || x->at_ms < oldest->at_ms)
				oldest = x;
		}
		if (!n) {
			n = oldest;
			t->evicted++;
		}
		if (!n->ent && !(n->ent = malloc(NHR_SERVERS_MAX * sizeof n->ent[0])))
			return -ERR_NOMEM;
		n->used = true;
		snprintf(n->id, sizeof n->id, "%s", id);
		n->fwd = 0;
	}
	n->at_ms = at_ms;
	n->revision = r->revision;
	n->truncated = r->truncated;
	n->n = r->n;
	memcpy(n->ent, r->ent, r->n * sizeof r->ent[0]);
	t->reports++;
	*out = n;
	return 0;
}

uint64_t nhr_node_age(const struct nhr_node *n, uint64_t now_ms)
{
	return now_ms > n->at_ms ? now_ms - n->at_ms : 0;
}

enum nhr_state nhr_node_state(const struct nhr_node *n, uint64_t now_ms, uint64_t key)
{
	if (!n || !n->used)
		return NHR_NONE;
	if (nhr_node_age(n, now_ms) > NHR_STALE_MS)
		return NHR_STALE;
	int v = nhr_entries_get(n->ent, n->n, key);
	if (v < 0)
		return NHR_NONE;
	return v ? NHR_UP : NHR_DOWN;
}

/* --- copies between control nodes ------------------------------------------------------------ */

int nhr_copy_write(struct buf *out, const struct nhr_node *n, uint64_t now_ms)
{
	static const char hex[] = "0123456789abcdef";
	buf_reset(out);
	if (buf_printf(out,
		       "{\"node\":\"%s\",\"ageMs\":%llu,\"revision\":%llu,\"truncated\":%s,"
		       "\"entries\":\"",
		       n->id, (unsigned long long)nhr_node_age(n, now_ms),
		       (unsigned long long)n->revision, n->truncated ? "true" : "false") < 0)
		return -ERR_BUF_FULL;
	if (buf_avail(out) < (size_t)n->n * 16 + 3)
		return -ERR_BUF_FULL;
	for (uint32_t i = 0; i < n->n; i++) {
		char h[16];
		for (int k = 0; k < 16; k++)
			h[k] = hex[(n->ent[i] >> (60 - 4 * k)) & 15];
		buf_append(out, h, 16);
	}
	return buf_append_cstr(out, "\"}");
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int nhr_copy_parse(const char *body, size_t len, json_tok *toks, size_t ntoks, char id[ID_LEN + 1],
		   uint64_t *age_ms, struct nhr_report *r, char *msg, size_t cap)
{
	struct json_doc d;
	r->revision = 0;
	r->n = 0;
	r->truncated = false;
	id[0] = '\0';
	int rc = parse_json(&d, body, len, NHR_COPY_MAX, toks, ntoks, msg, cap);
	if (rc < 0 || (rc = parse_head(&d, r, msg, cap)) < 0)
		return rc;
	int t = json_obj_get(&d, JSON_ROOT, "node");
	if (t < 0 || json_get_str(&d, t, id, ID_LEN + 1) != ID_LEN ||
	    !id_valid(slice_from_cstr(id))) {
		id[0] = '\0';
		return parse_fail(msg, cap, -ERR_INVAL, "node: want a node ID");
	}
	t = json_obj_get(&d, JSON_ROOT, "ageMs");
	if (t < 0 || json_get_uint(&d, t, age_ms) < 0 || *age_ms > 86400000ull)
		return parse_fail(msg, cap, -ERR_INVAL, "ageMs: want milliseconds (up to a day)");
	t = json_obj_get(&d, JSON_ROOT, "entries");
	if (t < 0 || json_typeof(&d, t) != JSON_STRING)
		return parse_fail(msg, cap, -ERR_INVAL, "entries: want a hex string");
	struct slice e = json_raw(&d, t);
	if (e.len % 16)
		return parse_fail(msg, cap, -ERR_INVAL, "entries: want 16 hex digits per entry");
	if (e.len / 16 > NHR_SERVERS_MAX)
		return parse_fail(msg, cap, -ERR_TOO_LARGE, "entries: over NHR_SERVERS_MAX");
	for (size_t i = 0; i < e.len / 16; i++) {
		uint64_t v = 0;
		for (size_t k = 0; k < 16; k++) {
			int x = hex_val(e.p[16 * i + k]);
			if (x < 0)
				return parse_fail(msg, cap, -ERR_INVAL,
						  "entries: want lower-case hex digits");
			v = v << 4 | (uint64_t)x;
		}
		r->ent[r->n++] = v;
	}
	qsort(r->ent, r->n, sizeof r->ent[0], ent_cmp);
	return 0;
}

/* --- the servers a routing document health-checks -------------------------------------------- */

/* As the proxy (proxy_health.c hc_enabled): a path, and a scheme "", http or https. */
static bool doc_checked(const struct json_doc *d, int be)
{
	int hc = json_obj_get(d, be, "healthCheck");
	if (hc < 0 || json_typeof(d, hc) != JSON_OBJECT)
		return false;
	int p = json_obj_get(d, hc, "path");
	if (p < 0 || json_str_len(d, p) <= 0)
		return false;
	int s = json_obj_get(d, hc, "scheme");
	if (s < 0 || json_str_len(d, s) == 0)
		return true;
	char sch[8];
	if (json_get_str(d, s, sch, sizeof sch) < 0)
		return false;
	return slice_eq_cstr_ci(slice_from_cstr(sch), "http") ||
	       slice_eq_cstr_ci(slice_from_cstr(sch), "https");
}

static int list_str(struct nhr_srvlist *l, const struct json_doc *d, int t, uint32_t max,
		    uint32_t *off, uint32_t *len)
{
	int n = json_str_len(d, t);
	if (n <= 0 || (uint32_t)n > max || l->str_len + (size_t)n > sizeof l->str)
		return -1;
	if (json_get_strn(d, t, l->str + l->str_len, (size_t)n) != n)
		return -1;
	*off = (uint32_t)l->str_len;
	*len = (uint32_t)n;
	l->str_len += (size_t)n;
	return 0;
}

int nhr_doc_servers(const char *doc, size_t len, json_tok *toks, size_t ntoks,
		    struct nhr_srvlist *out)
{
	struct json_doc d;
	out->n = 0;
	out->truncated = false;
	out->str_len = 0;
	int rc = json_parse(&d, doc, len, toks, ntoks);
	if (rc < 0)
		return rc;
	if (json_typeof(&d, JSON_ROOT) != JSON_OBJECT)
		return -ERR_INVAL;
	int bes = json_obj_get(&d, JSON_ROOT, "backends");
	if (bes < 0)
		return 0; /* no backend */
	struct json_iter it, si;
	int be, key, sv;
	if (json_iter_begin(&d, bes, &it) < 0 || json_typeof(&d, bes) != JSON_OBJECT)
		return -ERR_INVAL;
	while ((be = json_iter_next(&d, &it, &key)) >= 0) {
		if (json_typeof(&d, be) != JSON_OBJECT || !doc_checked(&d, be))
			continue;
		int svs = json_obj_get(&d, be, "servers");
		if (svs < 0 || json_iter_begin(&d, svs, &si) < 0)
			continue;
		size_t mark = out->str_len;
		uint32_t be_off, be_len;
		if (list_str(out, &d, key, NHR_NAME_MAX, &be_off, &be_len) < 0) {
			out->truncated = true;
			continue;
		}
		uint32_t added = 0;
		while ((sv = json_iter_next(&d, &si, NULL)) >= 0) {
			int u = json_obj_get(&d, sv, "url");
			struct nhr_srv *s = &out->s[out->n];
			if (u < 0 || json_typeof(&d, u) != JSON_STRING)
				continue;
			if (out->n == NHR_SERVERS_MAX ||
			    list_str(out, &d, u, NHR_URL_MAX, &s->url_off, &s->url_len) < 0) {
				out->truncated = true;
				continue;
			}
			s->be_off = be_off;
			s->be_len = be_len;
			out->n++;
			added++;
		}
		if (!added)
			out->str_len = mark; /* the name is not needed */
	}
	return 0;
}
