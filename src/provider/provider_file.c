/* provider_file.c — file provider: JSON or Traefik v1 TOML, watched with inotify on the
 * directory (see provider_file.h).
 */
#include "provider/provider_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base_err.h"
#include "json/json_write.h"

/* JSON ------------------------------------------------------------------------------------ */

static unsigned line_of(struct slice text, const char *p)
{
	unsigned line = 1;
	for (const char *q = text.p; q < p && q < text.p + text.len; q++)
		line += *q == '\n';
	return line;
}

struct jf {
	struct json_doc doc;
	struct slice text;
	struct provider_diag *d;
	int backends; /* token of "backends" or < 0 */
	int err;
};

static void jf_err(struct jf *j, int t, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void jf_err(struct jf *j, int t, const char *path, const char *fmt, ...)
{
	char msg[256], key[PROVIDER_KV_KEY_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct slice r = json_raw(&j->doc, t);
	provider_fmt(key, sizeof key, "%s", path);
	provider_report(j->d, LOG_ERROR, key, "line %u: %s", r.p ? line_of(j->text, r.p) : 0, msg);
	j->err = -ERR_PROVIDER_FILE;
}

static bool jf_type(struct jf *j, int t, enum json_type want, const char *path, const char *what)
{
	if (json_typeof(&j->doc, t) == want)
		return true;
	jf_err(j, t, path, "must be %s", what);
	return false;
}

/* Optional member of the given type. */
static void jf_opt(struct jf *j, int obj, const char *key, enum json_type want, const char *path,
		   const char *what)
{
	int t = json_obj_get(&j->doc, obj, key);
	if (t < 0)
		return;
	char p[PROVIDER_KV_KEY_MAX];
	provider_fmt(p, sizeof p, "%s.%s", path, key);
	jf_type(j, t, want, p, what);
}

static void jf_name(const struct json_doc *doc, int key, char *out, size_t cap)
{
	int n = json_get_str(doc, key, out, cap);
	if (n < 0)
		provider_fmt(out, cap, "?");
}

static void jf_frontends(struct jf *j, int fs)
{
	if (!jf_type(j, fs, JSON_OBJECT, "frontends", "an object"))
		return;
	struct json_iter it;
	int k, f;
	json_iter_begin(&j->doc, fs, &it);
	while ((f = json_iter_next(&j->doc, &it, &k)) >= 0) {
		char name[128], path[PROVIDER_KV_KEY_MAX], p2[PROVIDER_KV_KEY_MAX];
		jf_name(&j->doc, k, name, sizeof name);
		provider_fmt(path, sizeof path, "frontends.%s", name);
		if (!jf_type(j, f, JSON_OBJECT, path, "an object"))
			continue;
		int b = json_obj_get(&j->doc, f, "backend");
		provider_fmt(p2, sizeof p2, "%s.backend", path);
		if (b < 0) {
			jf_err(j, f, p2, "missing");
		} else if (jf_type(j, b, JSON_STRING, p2, "a string") &&
			   json_obj_get_slice(&j->doc, j->backends, json_raw(&j->doc, b)) < 0) {
			char bn[128];
			jf_name(&j->doc, b, bn, sizeof bn);
			jf_err(j, b, p2, "unknown backend \"%s\"", bn);
		}
		int r = json_obj_get(&j->doc, f, "routes");
		provider_fmt(p2, sizeof p2, "%s.routes", path);
		if (r >= 0 && jf_type(j, r, JSON_OBJECT, p2, "an object")) {
			struct json_iter ri;
			int rk, rv;
			json_iter_begin(&j->doc, r, &ri);
			while ((rv = json_iter_next(&j->doc, &ri, &rk)) >= 0) {
				char rn[128], p3[PROVIDER_KV_KEY_MAX];
				jf_name(&j->doc, rk, rn, sizeof rn);
				provider_fmt(p3, sizeof p3, "%s.%s.rule", p2, rn);
				int rule = json_obj_get(&j->doc, rv, "rule");
				if (rule < 0 || json_str_len(&j->doc, rule) <= 0)
					jf_err(j, rule < 0 ? rv : rule, p3,
					       "missing or empty rule");
			}
		}
		jf_opt(j, f, "entryPoints", JSON_ARRAY, path, "an array of names");
		jf_opt(j, f, "priority", JSON_NUMBER, path, "an integer");
		jf_opt(j, f, "passHostHeader", JSON_BOOL, path, "true or false");
		jf_opt(j, f, "headers", JSON_OBJECT, path, "an object");
		jf_opt(j, f, "redirect", JSON_OBJECT, path, "an object");
		jf_opt(j, f, "whitelist", JSON_OBJECT, path, "an object");
		jf_opt(j, f, "auth", JSON_OBJECT, path, "an object");
	}
}

static void jf_backends(struct jf *j, int bs)
{
	if (!jf_type(j, bs, JSON_OBJECT, "backends", "an object"))
		return;
	struct json_iter it;
	int k, b;
	json_iter_begin(&j->doc, bs, &it);
	while ((b = json_iter_next(&j->doc, &it, &k)) >= 0) {
		char name[128], path[PROVIDER_KV_KEY_MAX], p2[PROVIDER_KV_KEY_MAX];
		jf_name(&j->doc, k, name, sizeof name);
		provider_fmt(path, sizeof path, "backends.%s", name);
		if (!jf_type(j, b, JSON_OBJECT, path, "an object"))
			continue;
		int s = json_obj_get(&j->doc, b, "servers");
		provider_fmt(p2, sizeof p2, "%s.servers", path);
		if (s >= 0 && jf_type(j, s, JSON_OBJECT, p2, "an object")) {
			struct json_iter si;
			int sk, sv;
			json_iter_begin(&j->doc, s, &si);
			while ((sv = json_iter_next(&j->doc, &si, &sk)) >= 0) {
				char sn[128], p3[PROVIDER_KV_KEY_MAX];
				jf_name(&j->doc, sk, sn, sizeof sn);
				provider_fmt(p3, sizeof p3, "%s.%s", p2, sn);
				if (!jf_type(j, sv, JSON_OBJECT, p3, "an object"))
					continue;
				int u = json_obj_get(&j->doc, sv, "url");
				char p4[PROVIDER_KV_KEY_MAX];
				provider_fmt(p4, sizeof p4, "%s.url", p3);
				struct slice ur = json_raw(&j->doc, u);
				if (u < 0 || json_typeof(&j->doc, u) != JSON_STRING ||
				    !(slice_starts_with(ur, SLICE_LIT("http://")) ||
				      slice_starts_with(ur, SLICE_LIT("https://"))))
					jf_err(j, u < 0 ? sv : u, p4,
					       "missing, or not an http:// or https:// URL");
				jf_opt(j, sv, "weight", JSON_NUMBER, p3, "an integer");
			}
		}
		jf_opt(j, b, "loadBalancer", JSON_OBJECT, path, "an object");
		jf_opt(j, b, "healthCheck", JSON_OBJECT, path, "an object");
		jf_opt(j, b, "maxConn", JSON_OBJECT, path, "an object");
	}
}

static void jf_tls(struct jf *j, int ts)
{
	if (!jf_type(j, ts, JSON_ARRAY, "tls", "an array"))
		return;
	struct json_iter it;
	int e;
	size_t i = 0;
	json_iter_begin(&j->doc, ts, &it);
	while ((e = json_iter_next(&j->doc, &it, NULL)) >= 0) {
		char path[64], p2[96];
		provider_fmt(path, sizeof path, "tls.%zu", i++);
		if (!jf_type(j, e, JSON_OBJECT, path, "an object"))
			continue;
		provider_fmt(p2, sizeof p2, "%s.certificate", path);
		int c = json_obj_get(&j->doc, e, "certificate");
		if (c < 0 || !jf_type(j, c, JSON_OBJECT, p2, "an object")) {
			if (c < 0)
				jf_err(j, e, p2, "missing");
			continue;
		}
		static const char *const f[] = {"certFile", "keyFile"};
		for (int k = 0; k < 2; k++) {
			int v = json_obj_get(&j->doc, c, f[k]);
			char p3[128];
			provider_fmt(p3, sizeof p3, "%s.%s", p2, f[k]);
			if (v < 0 || json_typeof(&j->doc, v) != JSON_STRING ||
			    !memmem(json_raw(&j->doc, v).p, json_raw(&j->doc, v).len, "-----BEGIN ",
				    11))
				jf_err(j, v < 0 ? c : v, p3,
				       "must be inline PEM (data nodes read no files)");
		}
		jf_opt(j, e, "entryPoints", JSON_ARRAY, path, "an array of names");
	}
}

/* Compact copy of token t (a value) into w, strings unescaped through scratch. */
static void jf_copy(const struct json_doc *doc, int t, struct json_writer *w, char *scratch,
		    size_t scap)
{
	struct json_iter it;
	int k, v;
	switch (json_typeof(doc, t)) {
	case JSON_OBJECT:
		json_w_obj_begin(w);
		json_iter_begin(doc, t, &it);
		while ((v = json_iter_next(doc, &it, &k)) >= 0) {
			int n = json_get_strn(doc, k, scratch, scap);
			json_w_key_slice(w, (struct slice){scratch, n < 0 ? 0 : (size_t)n});
			jf_copy(doc, v, w, scratch, scap);
		}
		json_w_obj_end(w);
		break;
	case JSON_ARRAY:
		json_w_arr_begin(w);
		json_iter_begin(doc, t, &it);
		while ((v = json_iter_next(doc, &it, NULL)) >= 0)
			jf_copy(doc, v, w, scratch, scap);
		json_w_arr_end(w);
		break;
	case JSON_STRING: {
		int n = json_get_strn(doc, t, scratch, scap);
		json_w_str_slice(w, (struct slice){scratch, n < 0 ? 0 : (size_t)n});
		break;
	}
	case JSON_NUMBER: json_w_raw(w, json_raw(doc, t)); break;
	case JSON_BOOL: {
		bool b = false;
		json_get_bool(doc, t, &b);
		json_w_bool(w, b);
		break;
	}
	default: json_w_null(w);
	}
}

int provider_file_json(struct slice text, json_tok *toks, size_t ntoks, char *scratch, size_t scap,
		       struct buf *out, struct provider_diag *d)
{
	struct jf j = {.text = text, .d = d};
	int rc = json_parse(&j.doc, text.p, text.len, toks, ntoks);
	if (rc < 0) {
		char where[32];
		provider_fmt(where, sizeof where, "line %u",
			     line_of(text, text.p + (j.doc.err_off < text.len ? j.doc.err_off
									      : text.len)));
		provider_report(d, LOG_ERROR, where, "%s",
				rc == -ERR_PARTIAL ? "JSON ends too early" : err_str(rc));
		return -ERR_PROVIDER_FILE;
	}
	if (json_typeof(&j.doc, JSON_ROOT) != JSON_OBJECT) {
		provider_report(d, LOG_ERROR, "line 1", "the file must hold one JSON object");
		return -ERR_PROVIDER_FILE;
	}
	struct json_iter it;
	int k, v;
	json_iter_begin(&j.doc, JSON_ROOT, &it);
	while ((v = json_iter_next(&j.doc, &it, &k)) >= 0) {
		if (json_str_eq(&j.doc, k, "frontends") || json_str_eq(&j.doc, k, "backends") ||
		    json_str_eq(&j.doc, k, "tls"))
			continue;
		char name[64];
		jf_name(&j.doc, k, name, sizeof name);
		jf_err(&j, k, name,
		       "unknown top-level key (a routing file has frontends, backends and tls; "
		       "entry points come from deploy)");
	}
	int fs = json_obj_get(&j.doc, JSON_ROOT, "frontends");
	int bs = json_obj_get(&j.doc, JSON_ROOT, "backends");
	int ts = json_obj_get(&j.doc, JSON_ROOT, "tls");
	j.backends = bs;
	if (bs >= 0)
		jf_backends(&j, bs);
	if (fs >= 0)
		jf_frontends(&j, fs);
	if (ts >= 0)
		jf_tls(&j, ts);
	if (j.err)
		return j.err;
	struct json_writer w;
	json_w_init(&w, out);
	json_w_obj_begin(&w);
	json_w_key(&w, "frontends");
	if (fs >= 0)
		jf_copy(&j.doc, fs, &w, scratch, scap);
	else
		json_w_raw(&w, SLICE_LIT("{}"));
	json_w_key(&w, "backends");
	if (bs >= 0)
		jf_copy(&j.doc, bs, &w, scratch, scap);
	else
		json_w_raw(&w, SLICE_LIT("{}"));
	json_w_key(&w, "tls");
	if (ts >= 0)
		jf_copy(&j.doc, ts, &w, scratch, scap);
	else
		json_w_raw(&w, SLICE_LIT("[]"));
	json_w_obj_end(&w);
	rc = json_w_finish(&w);
	return rc == -ERR_BUF_FULL ? -ERR_PROVIDER_DOC_TOO_LARGE : rc;
}

/* TOML subset ------------------------------------------------------------------------------
 *
 * Enough TOML for Traefik v1 routing files: comments, [a.b] tables, [[a]] arrays of tables,
 * key = value with dotted keys, basic/literal strings (also multi-line, for inline PEM),
 * integers, floats (kept as text), booleans and arrays of those. Not supported (reported):
 * inline tables, dates. Every leaf becomes a KV pair in Traefik's KV layout: segments are
 * lower-cased except object names (frontend, backend, route, server, error page, rate set and
 * header names), arrays become key/0, key/1, …, and [[tls]] entries become tls/<n>/…
 */

#define TOML_PATH_MAX 16
#define TOML_AOT_MAX 32

struct tseg {
	const char *p;
	size_t len;
};

struct toml {
	struct slice text;
	size_t pos;
	unsigned line;
	struct provider_kv *kv;
	size_t n, max;
	char *kbuf;
	size_t kused, kcap;
	struct provider_diag *d;
	int err;
	bool tables; /* also a "path/" key (empty value) for each [table] header */
	struct tseg table[TOML_PATH_MAX]; /* current table path (array indices included) */
	size_t ntable;
	struct {
		char path[128];
		unsigned count;
	} aot[TOML_AOT_MAX];
	size_t naot;
	char idx[TOML_PATH_MAX][12]; /* text of array indices used in table[] */
};

static void t_err(struct toml *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void t_err(struct toml *t, const char *fmt, ...)
{
	if (t->err)
		return;
	char msg[256], where[32];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	provider_fmt(where, sizeof where, "line %u", t->line);
	provider_report(t->d, LOG_ERROR, where, "%s", msg);
	t->err = -ERR_PROVIDER_FILE;
}

static int t_peek(const struct toml *t)
{
	return t->pos < t->text.len ? (unsigned char)t->text.p[t->pos] : -1;
}

static void t_ws(struct toml *t)
{
	while (t_peek(t) == ' ' || t_peek(t) == '\t')
		t->pos++;
}

/* Skip whitespace, newlines and comments (inside arrays). */
static void t_ws_nl(struct toml *t)
{
	for (;;) {
		int c = t_peek(t);
		if (c == ' ' || c == '\t' || c == '\r') {
			t->pos++;
		} else if (c == '\n') {
			t->pos++;
			t->line++;
		} else if (c == '#') {
			while (t_peek(t) >= 0 && t_peek(t) != '\n')
				t->pos++;
		} else {
			return;
		}
	}
}

/* End of a line: optional comment, then newline or end of text. */
static void t_eol(struct toml *t)
{
	t_ws(t);
	if (t_peek(t) == '#')
		while (t_peek(t) >= 0 && t_peek(t) != '\n')
			t->pos++;
	if (t_peek(t) == '\r')
		t->pos++;
	if (t_peek(t) == '\n') {
		t->pos++;
		t->line++;
	} else if (t_peek(t) >= 0) {
		t_err(t, "unexpected text after the value");
	}
}

static char *t_alloc(struct toml *t, size_t n)
{
	if (t->kused + n > t->kcap) {
		if (!t->err)
			t->err = -ERR_BUF_FULL;
		return NULL;
	}
	char *p = t->kbuf + t->kused;
	t->kused += n;
	return p;
}

static void utf8_put(char *out, size_t *o, uint32_t cp)
{
	if (cp < 0x80) {
		out[(*o)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char)(0xc0 | cp >> 6);
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char)(0xe0 | cp >> 12);
		out[(*o)++] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*o)++] = (char)(0xf0 | cp >> 18);
		out[(*o)++] = (char)(0x80 | (cp >> 12 & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	}
}

/* A string at pos (opening quote there); decoded bytes copied to kbuf. */
static bool t_string(struct toml *t, struct slice *out)
{
	char q = t->text.p[t->pos];
	bool multi = t->pos + 2 < t->text.len && t->text.p[t->pos + 1] == q &&
		     t->text.p[t->pos + 2] == q;
	t->pos += multi ? 3 : 1;
	if (multi && t_peek(t) == '\n') { /* a newline right after the opening is trimmed */
		t->pos++;
		t->line++;
	} else if (multi && t_peek(t) == '\r' && t->pos + 1 < t->text.len &&
		   t->text.p[t->pos + 1] == '\n') {
		t->pos += 2;
		t->line++;
	}
	/* worst case the decoded string is as long as the rest of the text */
	size_t room = t->text.len - t->pos + 4;
	if (t->kused + room > t->kcap)
		room = t->kcap - t->kused;
	char *dst = t->kbuf + t->kused;
	size_t o = 0;
	for (;;) {
		int c = t_peek(t);
		if (c < 0) {
			t_err(t, "string not closed");
			return false;
		}
		if (c == q && (!multi || (t->pos + 2 < t->text.len && t->text.p[t->pos + 1] == q &&
					  t->text.p[t->pos + 2] == q))) {
			t->pos += multi ? 3 : 1;
			break;
		}
		if (c == '\n') {
			if (!multi) {
				t_err(t, "newline inside a string");
				return false;
			}
			t->line++;
		}
		if (o + 4 > room) {
			t->err = -ERR_BUF_FULL;
			return false;
		}
		t->pos++;
		if (c != '\\' || q == '\'') {
			dst[o++] = (char)c;
			continue;
		}
		int e = t_peek(t);
		t->pos++;
		switch (e) {
		case 'n': dst[o++] = '\n'; break;
		case 't': dst[o++] = '\t'; break;
		case 'r': dst[o++] = '\r'; break;
		case 'b': dst[o++] = '\b'; break;
		case 'f': dst[o++] = '\f'; break;
		case '"': dst[o++] = '"'; break;
		case '\\': dst[o++] = '\\'; break;
		case 'u':
		case 'U': {
			size_t nd = e == 'u' ? 4 : 8;
			uint32_t cp = 0;
			for (size_t i = 0; i < nd; i++) {
				int h = t_peek(t);
				t->pos++;
				int v = h >= '0' && h <= '9'   ? h - '0'
					: h >= 'a' && h <= 'f' ? h - 'a' + 10
					: h >= 'A' && h <= 'F' ? h - 'A' + 10
							       : -1;
				if (v < 0) {
					t_err(t, "bad \\u escape");
					return false;
				}
				cp = cp << 4 | (uint32_t)v;
			}
			if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
				t_err(t, "bad \\u escape");
				return false;
			}
			utf8_put(dst, &o, cp);
			break;
		}
		case '\n':
		case ' ':
		case '\t':
		case '\r':
			if (!multi) {
				t_err(t, "bad escape");
				return false;
			}
			/* line-ending backslash: trim whitespace and newlines */
			t->pos--;
			while (t_peek(t) == ' ' || t_peek(t) == '\t' || t_peek(t) == '\r' ||
			       t_peek(t) == '\n') {
				if (t_peek(t) == '\n')
					t->line++;
				t->pos++;
			}
			break;
		default: t_err(t, "bad escape \\%c", e > 0 ? e : '?'); return false;
		}
	}
	t->kused += o;
	*out = (struct slice){dst, o};
	return true;
}

static bool bare_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* A dotted key: segments into seg[0..*n). */
static bool t_key(struct toml *t, struct tseg *seg, size_t *n, size_t max)
{
	*n = 0;
	for (;;) {
		t_ws(t);
		if (*n == max) {
			t_err(t, "key nested too deep");
			return false;
		}
		int c = t_peek(t);
		if (c == '"' || c == '\'') {
			struct slice s;
			if (!t_string(t, &s))
				return false;
			seg[*n] = (struct tseg){s.p, s.len};
		} else {
			size_t st = t->pos;
			while (bare_char(t_peek(t)))
				t->pos++;
			if (t->pos == st) {
				t_err(t, "expected a key");
				return false;
			}
			seg[*n] = (struct tseg){t->text.p + st, t->pos - st};
		}
		(*n)++;
		t_ws(t);
		if (t_peek(t) != '.')
			return true;
		t->pos++;
	}
}

static int tolower_ascii(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool seg_is(struct tseg s, const char *lit)
{
	size_t n = strlen(lit);
	if (s.len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((char)tolower_ascii(s.p[i]) != lit[i])
			return false;
	return true;
}

/* Is segment i of path a name (kept as written) rather than a field (lower-cased)? Names sit
 * at fixed depths of Traefik's layout and the parent is only looked at at that depth: a backend
 * called "errors" or a frontend called "routes" is a name at depth 1, and the keys under it
 * (circuitBreaker, entryPoints...) are still fields. */
static bool seg_is_name(const struct tseg *path, size_t i)
{
	if (i == 1) /* and a static configuration's entry point names */
		return seg_is(path[0], "frontends") || seg_is(path[0], "backends") ||
		       seg_is(path[0], "tls") || seg_is(path[0], "entrypoints");
	if (i == 3) /* frontends/<f>/routes/<r>, …/errors/<e>, backends/<b>/servers/<s> */
		return seg_is(path[2], "routes") || seg_is(path[2], "servers") ||
		       seg_is(path[2], "errors");
	if (i != 4)
		return false;
	struct tseg p = path[3], pp = path[2];
	if (seg_is(pp, "ratelimit"))
		return seg_is(p, "rateset");
	if (seg_is(pp, "headers"))
		return seg_is(p, "customrequestheaders") || seg_is(p, "customresponseheaders") ||
		       seg_is(p, "sslproxyheaders");
	return seg_is(pp, "healthcheck") && seg_is(p, "headers");
}

/* Build the KV key of path[0..n) into kbuf. */
static bool t_path_key(struct toml *t, const struct tseg *path, size_t n, struct slice *key)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += path[i].len + 1;
	char *k = t_alloc(t, len);
	if (!k)
		return false;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (path[i].len == 0 || memchr(path[i].p, '/', path[i].len)) {
			t_err(t, "empty key or a key with '/'");
			return false;
		}
		if (i)
			k[o++] = '/';
		bool name = seg_is_name(path, i);
		for (size_t j = 0; j < path[i].len; j++)
			k[o++] = name ? path[i].p[j] : (char)tolower_ascii(path[i].p[j]);
	}
	*key = (struct slice){k, o};
	return true;
}

static bool t_add(struct toml *t, const struct tseg *path, size_t n, struct slice val)
{
	if (t->n == t->max) {
		t->err = -ERR_PROVIDER_TOO_MANY_KEYS;
		return false;
	}
	struct slice key;
	if (!t_path_key(t, path, n, &key))
		return false;
	t->kv[t->n].key = key;
	t->kv[t->n].val = val;
	t->n++;
	return true;
}

/* A scalar (string, number, bool) at pos. */
static bool t_scalar(struct toml *t, struct slice *out)
{
	int c = t_peek(t);
	if (c == '"' || c == '\'')
		return t_string(t, out);
	if (c == '{') {
		t_err(t, "inline tables are not supported; use a [table]");
		return false;
	}
	size_t st = t->pos;
	while (t_peek(t) >= 0 && (bare_char(t_peek(t)) || t_peek(t) == '.' || t_peek(t) == '+'))
		t->pos++;
	struct slice s = {t->text.p + st, t->pos - st};
	if (!s.len) {
		t_err(t, "expected a value");
		return false;
	}
	if (slice_eq_cstr(s, "true") || slice_eq_cstr(s, "false")) {
		*out = s;
		return true;
	}
	/* numbers: digits, sign, '_', '.', exponent; underscores dropped */
	char *dst = t_alloc(t, s.len);
	if (!dst)
		return false;
	size_t o = 0;
	for (size_t i = 0; i < s.len; i++) {
		char ch = s.p[i];
		if (ch == '_')
			continue;
		if (!((ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.' ||
		      ch == 'e' || ch == 'E')) {
			t_err(t, "unsupported value \"%.*s\" (strings need quotes)", (int)s.len,
			      s.p);
			return false;
		}
		dst[o++] = ch;
	}
	*out = (struct slice){dst, o};
	return true;
}

/* key = value, relative to the current table. */
static void t_keyval(struct toml *t)
{
	struct tseg path[TOML_PATH_MAX];
	size_t np = t->ntable, nk;
	memcpy(path, t->table, np * sizeof path[0]);
	if (!t_key(t, path + np, &nk, TOML_PATH_MAX - np))
		return;
	np += nk;
	t_ws(t);
	if (t_peek(t) != '=') {
		t_err(t, "expected '=' after the key");
		return;
	}
	t->pos++;
	t_ws(t);
	if (t_peek(t) == '[') {
		t->pos++;
		if (np == TOML_PATH_MAX) {
			t_err(t, "key nested too deep");
			return;
		}
		char idx[PROVIDER_KV_LIST_MAX][4];
		unsigned i = 0;
		for (;;) {
			t_ws_nl(t);
			if (t_peek(t) == ']') {
				t->pos++;
				break;
			}
			if (i == PROVIDER_KV_LIST_MAX) {
				t_err(t, "array over %d items", PROVIDER_KV_LIST_MAX);
				return;
			}
			struct slice v;
			if (t_peek(t) == '[') {
				t_err(t, "nested arrays are not supported");
				return;
			}
			if (!t_scalar(t, &v))
				return;
			provider_fmt(idx[i], sizeof idx[i], "%u", i);
			path[np] = (struct tseg){idx[i], strlen(idx[i])};
			/* the key text is copied by t_add, so idx may be reused */
			if (!t_add(t, path, np + 1, v))
				return;
			i++;
			t_ws_nl(t);
			if (t_peek(t) == ',') {
				t->pos++;
				continue;
			}
			if (t_peek(t) != ']') {
				t_err(t, "expected ',' or ']' in the array");
				return;
			}
		}
		t_eol(t);
		return;
	}
	struct slice v;
	if (!t_scalar(t, &v))
		return;
	if (t_add(t, path, np, v))
		t_eol(t);
}

/* [a.b] or [[a.b]] */
static void t_table(struct toml *t)
{
	bool aot = t->pos + 1 < t->text.len && t->text.p[t->pos + 1] == '[';
	t->pos += aot ? 2 : 1;
	struct tseg seg[TOML_PATH_MAX];
	size_t n;
	if (!t_key(t, seg, &n, TOML_PATH_MAX / 2))
		return;
	if (t_peek(t) != ']' ||
	    (aot && (t->pos + 1 >= t->text.len || t->text.p[t->pos + 1] != ']'))) {
		t_err(t, "expected '%s'", aot ? "]]" : "]");
		return;
	}
	t->pos += aot ? 2 : 1;
	t_eol(t);
	/* rebuild the path, inserting the current index after each array-of-tables prefix */
	t->ntable = 0;
	char pfx[128];
	size_t pl = 0;
	for (size_t i = 0; i < n; i++) {
		int w = provider_fmt(pfx + pl, sizeof pfx - pl, "%s%.*s", i ? "." : "",
				     (int)seg[i].len, seg[i].p);
		if (w < 0 || (size_t)w >= sizeof pfx - pl) {
			t_err(t, "table name too long");
			return;
		}
		pl += (size_t)w;
		t->table[t->ntable++] = seg[i];
		size_t a;
		for (a = 0; a < t->naot; a++)
			if (strcasecmp(t->aot[a].path, pfx) == 0)
				break;
		bool last = i + 1 == n;
		if (last && aot) {
			if (a == t->naot) {
				if (t->naot == TOML_AOT_MAX) {
					t_err(t, "too many [[arrays of tables]]");
					return;
				}
				provider_fmt(t->aot[a].path, sizeof t->aot[a].path, "%s", pfx);
				t->aot[a].count = 0;
				t->naot++;
			}
			t->aot[a].count++;
		}
		if (a < t->naot) {
			if (t->ntable >= TOML_PATH_MAX / 2 + TOML_PATH_MAX / 4) {
				t_err(t, "table nested too deep");
				return;
			}
			provider_fmt(t->idx[t->ntable], sizeof t->idx[0], "%u",
				     t->aot[a].count - 1);
			t->table[t->ntable] =
				(struct tseg){t->idx[t->ntable], strlen(t->idx[t->ntable])};
			t->ntable++;
		}
	}
	if (t->tables && !aot) {
		struct slice key;
		char *k;
		if (!t_path_key(t, t->table, t->ntable, &key) || !(k = t_alloc(t, key.len + 1)))
			return;
		memcpy(k, key.p, key.len);
		k[key.len] = '/';
		if (t->n == t->max) {
			t->err = -ERR_PROVIDER_TOO_MANY_KEYS;
			return;
		}
		t->kv[t->n++] = (struct provider_kv){{k, key.len + 1}, {"", 0}};
	}
	/* In a file a [….loadBalancer.stickiness] table turns stickiness on (in KV it takes the
	 * key loadbalancer/stickiness = true): say so in KV terms. */
	if (!aot && n >= 2 && seg_is(seg[n - 1], "stickiness") &&
	    seg_is(seg[n - 2], "loadbalancer"))
		t_add(t, t->table, t->ntable, SLICE_LIT("true"));
}

static int toml_parse(struct slice text, struct provider_kv *kv, size_t max, char *kbuf,
		      size_t kcap, struct provider_diag *d, bool tables)
{
	struct toml t = {.text = text,
			 .line = 1,
			 .kv = kv,
			 .max = max,
			 .kbuf = kbuf,
			 .kcap = kcap,
			 .d = d,
			 .tables = tables};
	while (!t.err) {
		t_ws(&t);
		int c = t_peek(&t);
		if (c < 0)
			break;
		if (c == '#' || c == '\r' || c == '\n') {
			t_eol(&t);
			continue;
		}
		if (c == '[')
			t_table(&t);
		else
			t_keyval(&t);
	}
	if (t.err == -ERR_BUF_FULL || t.err == -ERR_PROVIDER_TOO_MANY_KEYS) {
		char where[32];
		provider_fmt(where, sizeof where, "line %u", t.line);
		provider_report(d, LOG_ERROR, where, "%s", err_str(t.err));
	}
	if (t.err)
		return t.err;
	return (int)t.n;
}

int provider_file_toml(struct slice text, struct provider_kv *kv, size_t max, char *kbuf,
		       size_t kcap, struct provider_diag *d)
{
	return toml_parse(text, kv, max, kbuf, kcap, d, false);
}

int provider_file_toml_static(struct slice text, struct provider_kv *kv, size_t max, char *kbuf,
			      size_t kcap, struct provider_diag *d)
{
	return toml_parse(text, kv, max, kbuf, kcap, d, true);
}

/* The watcher --------------------------------------------------------------------------- */

static void reread(struct provider_file *pf)
{
	pf->reads++;
	pf->failing = true; /* until the document is built */
	int fd = open(pf->path, O_RDONLY | O_CLOEXEC);
	struct provider_diag *d = pf->cfg.diag;
	if (fd < 0) {
		pf->errors++;
		pf->last_err = err_from_errno(errno);
		provider_report(d, LOG_ERROR, pf->path,
				"cannot open: %s; keeping the last good "
				"document",
				strerror(errno));
		return;
	}
	size_t got = 0;
	bool big = false;
	for (;;) {
		if (got == pf->text_cap) {
			char c;
			big = read(fd, &c, 1) > 0;
			break;
		}
		ssize_t n = read(fd, pf->text + got, pf->text_cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (big) {
		pf->errors++;
		pf->last_err = -ERR_TOO_LARGE;
		provider_report(d, LOG_ERROR, pf->path,
				"file over max_file_bytes (%zu); keeping the last good document",
				pf->text_cap);
		return;
	}
	struct slice text = {pf->text, got};
	size_t i = 0;
	while (i < got &&
	       (text.p[i] == ' ' || text.p[i] == '\n' || text.p[i] == '\r' || text.p[i] == '\t'))
		i++;
	if (i == got) {
		/* most likely a writer that truncated the file and has not written yet */
		pf->errors++;
		pf->last_err = -ERR_PROVIDER_FILE;
		provider_report(d, LOG_ERROR, pf->path,
				"file is empty; keeping the last good document");
		return;
	}
	size_t pl = strlen(pf->path);
	bool toml;
	if (pl > 5 && strcasecmp(pf->path + pl - 5, ".toml") == 0)
		toml = true;
	else if (pl > 5 && strcasecmp(pf->path + pl - 5, ".json") == 0)
		toml = false;
	else
		toml = text.p[i] != '{';
	buf_reset(&pf->doc);
	int rc;
	if (toml) {
		rc = provider_file_toml(text, pf->kv, pf->kv_cap, pf->kbuf, pf->kbuf_cap, d);
		if (rc >= 0) {
			size_t n = (size_t)rc;
			provider_kv_sort(pf->kv, n);
			for (size_t k = 1; k < n && rc >= 0; k++) {
				if (provider_kv_keycmp(pf->kv[k - 1].key, pf->kv[k].key) == 0) {
					char key[PROVIDER_KV_KEY_MAX];
					provider_fmt(key, sizeof key, "%.*s",
						     (int)pf->kv[k].key.len, pf->kv[k].key.p);
					provider_report(d, LOG_ERROR, key, "defined twice");
					rc = -ERR_PROVIDER_FILE;
				}
			}
			if (rc >= 0)
				rc = provider_kv_translate(pf->kv, n, &pf->doc, d);
		}
	} else {
		rc = provider_file_json(text, pf->toks, pf->ntoks, pf->kbuf, pf->kbuf_cap, &pf->doc,
					d);
	}
	if (rc < 0) {
		pf->errors++;
		pf->last_err = rc;
		provider_report(d, LOG_ERROR, pf->path,
				"invalid routing file (%s); keeping the last "
				"good document",
				err_str(rc));
		return;
	}
	log_info("file: read", "path=%s format=%s bytes=%zu doc_bytes=%zu", pf->path,
		 toml ? "toml" : "json", got, pf->doc.len);
	rc = provider_emit_submit(pf->cfg.emit, buf_slice(&pf->doc));
	if (rc < 0) {
		pf->errors++;
		pf->last_err = rc;
		provider_report(d, LOG_ERROR, pf->path, "document not applied: %s", err_str(rc));
		return;
	}
	pf->failing = false;
	pf->applied++;
}

static void on_reread(struct loop *l, void *arg)
{
	struct provider_file *pf = arg;
	pf->timer = (struct loop_timer_id){0, 0};
	reread(pf);
}

static void on_inotify(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct provider_file *pf = arg;
	char b[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool ours = false;
	for (;;) {
		ssize_t n = read(fd, b, sizeof b);
		if (n <= 0)
			break;
		for (char *p = b; p < b + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			if (e->len && strcmp(e->name, pf->base) == 0)
				ours = true;
			if (e->mask & IN_Q_OVERFLOW)
				ours = true;
			p += sizeof *e + e->len;
		}
	}
	if (ours && !loop_timer_pending(l, pf->timer)) {
		/* let a writer finish its burst of writes before reading */
		loop_timer_add(l, 50, on_reread, pf, &pf->timer);
	}
}

int provider_file_init(struct provider_file *pf, struct loop *l,
		       const struct provider_file_config *cfg, char *errmsg, size_t cap)
{
	memset(pf, 0, sizeof *pf);
	pf->loop = l;
	pf->cfg = *cfg;
	pf->ifd = -1;
	if (!cfg->filename || !cfg->filename[0] || strlen(cfg->filename) >= sizeof pf->path) {
		provider_fmt(errmsg, cap, "file: --file.filename missing or too long");
		return -ERR_PROVIDER_CONFIG;
	}
	provider_fmt(pf->path, sizeof pf->path, "%s", cfg->filename);
	const char *slash = strrchr(pf->path, '/');
	if (slash) {
		provider_fmt(pf->dir, sizeof pf->dir, "%.*s",
			     slash == pf->path ? 1 : (int)(slash - pf->path), pf->path);
		provider_fmt(pf->base, sizeof pf->base, "%s", slash + 1);
	} else {
		provider_fmt(pf->dir, sizeof pf->dir, ".");
		provider_fmt(pf->base, sizeof pf->base, "%s", pf->path);
	}
	size_t fb = cfg->limits.max_file_bytes;
	pf->text_cap = fb;
	pf->ntoks = fb / 2 + 64;
	pf->kv_cap = cfg->limits.max_keys ? cfg->limits.max_keys : 1;
	pf->kbuf_cap = 2 * fb + 4096;
	size_t sz = fb + 1 + pf->ntoks * sizeof(json_tok) +
		    pf->kv_cap * sizeof(struct provider_kv) + pf->kbuf_cap +
		    cfg->limits.max_doc_bytes + 64;
	pf->mem = malloc(sz);
	if (!pf->mem) {
		provider_fmt(errmsg, cap, "file: cannot allocate %zu bytes", sz);
		return -ERR_NOMEM;
	}
	char *m = pf->mem;
	pf->toks = (json_tok *)m;
	m += pf->ntoks * sizeof(json_tok);
	pf->kv = (struct provider_kv *)m;
	m += pf->kv_cap * sizeof(struct provider_kv);
	pf->text = m;
	m += fb + 1;
	pf->kbuf = m;
	m += pf->kbuf_cap;
	buf_init(&pf->doc, m, cfg->limits.max_doc_bytes);
	return 0;
}

int provider_file_start(struct provider_file *pf)
{
	if (pf->cfg.watch) {
		pf->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (pf->ifd < 0)
			return err_from_errno(errno);
		if (inotify_add_watch(pf->ifd, pf->dir,
				      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
					      IN_MOVED_FROM | IN_MODIFY | IN_ATTRIB) < 0) {
			int rc = err_from_errno(errno);
			log_error("file: cannot watch the directory", "dir=%s err=%s", pf->dir,
				  strerror(errno));
			close(pf->ifd);
			pf->ifd = -1;
			return rc;
		}
		int rc = loop_add_fd(pf->loop, pf->ifd, LOOP_READ, on_inotify, pf);
		if (rc < 0) {
			close(pf->ifd);
			pf->ifd = -1;
			return rc;
		}
	}
	log_info("file: watching", "path=%s watch=%s", pf->path, pf->cfg.watch ? "true" : "false");
	reread(pf);
	return 0;
}

void provider_file_fini(struct provider_file *pf)
{
	if (!pf->loop)
		return;
	loop_timer_cancel(pf->loop, pf->timer);
	if (pf->ifd >= 0) {
		loop_del_fd(pf->loop, pf->ifd);
		close(pf->ifd);
		pf->ifd = -1;
	}
	free(pf->mem);
	pf->mem = NULL;
	pf->loop = NULL;
}
