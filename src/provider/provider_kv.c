/* provider_kv.c — Traefik v1 KV layout -> routing document (see provider_kv.h).
 *
 * The pairs are sorted so that every object's keys are contiguous: a lookup is a binary search,
 * the children of a path are a run found by one lower-bound search, and nothing is copied. The
 * writer builds the document in the caller's buffer; its latched error is checked once at the
 * end. Blocks are described by field tables (KV name, JSON name, type, default) so the
 * translation reads like the key list in docs/providers.md.
 */
#include "provider/provider_kv.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_err.h"
#include "json/json_write.h"

/* Ordering ------------------------------------------------------------------------------- */

static inline int kmap(unsigned char c)
{
	return c == '/' ? 0 : (int)c + 1;
}

int provider_kv_keycmp(struct slice a, struct slice b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	for (size_t i = 0; i < n; i++) {
		int ca = kmap((unsigned char)a.p[i]), cb = kmap((unsigned char)b.p[i]);
		if (ca != cb)
			return ca - cb;
	}
	return (a.len > b.len) - (a.len < b.len);
}

static int kv_qcmp(const void *a, const void *b)
{
	const struct provider_kv *x = a, *y = b;
	return provider_kv_keycmp(x->key, y->key);
}

void provider_kv_sort(struct provider_kv *kv, size_t n)
{
	if (n > 1)
		qsort(kv, n, sizeof *kv, kv_qcmp);
}

static struct slice trim_slashes(struct slice s)
{
	while (s.len && s.p[0] == '/') {
		s.p++;
		s.len--;
	}
	while (s.len && s.p[s.len - 1] == '/')
		s.len--;
	return s;
}

size_t provider_kv_strip_root(struct provider_kv *kv, size_t n, struct slice root)
{
	root = trim_slashes(root);
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		struct slice k = kv[i].key;
		while (k.len && k.p[0] == '/') {
			k.p++;
			k.len--;
		}
		if (root.len) {
			if (k.len <= root.len || memcmp(k.p, root.p, root.len) != 0 ||
			    k.p[root.len] != '/')
				continue;
			k.p += root.len + 1;
			k.len -= root.len + 1;
		}
		if (k.len == 0)
			continue;
		kv[out].key = k;
		kv[out].val = kv[i].val;
		out++;
	}
	return out;
}

/* Translation context -------------------------------------------------------------------- */

struct kvx {
	const struct provider_kv *kv;
	size_t n;
	struct json_writer w;
	struct provider_diag *d;
};

typedef char kkey[PROVIDER_KV_KEY_MAX];

/* key = base + suffix; false (and reported once by callers) when too long. */
static bool kjoin(char *key, const char *base, const char *suffix)
{
	int r = provider_fmt(key, PROVIDER_KV_KEY_MAX, "%s%s", base, suffix);
	return r >= 0 && r < PROVIDER_KV_KEY_MAX;
}

static bool kjoinf(char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool kjoinf(char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(key, PROVIDER_KV_KEY_MAX, fmt, ap);
	va_end(ap);
	return r >= 0 && r < PROVIDER_KV_KEY_MAX;
}

/* First index whose key is >= k. */
static size_t kv_lower(const struct kvx *x, struct slice k)
{
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (provider_kv_keycmp(x->kv[mid].key, k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct provider_kv *kv_find(const struct kvx *x, const char *key)
{
	struct slice k = slice_from_cstr(key);
	size_t i = kv_lower(x, k);
	if (i < x->n && slice_eq(x->kv[i].key, k))
		return &x->kv[i];
	return NULL;
}

/* Any key starting with prefix (which ends in '/')? */
static bool kv_has_prefix(const struct kvx *x, const char *prefix)
{
	struct slice p = slice_from_cstr(prefix);
	size_t i = kv_lower(x, p);
	return i < x->n && slice_starts_with(x->kv[i].key, p);
}

static const struct provider_kv *kv_at(const struct kvx *x, const char *base, const char *suffix,
				       char *key)
{
	if (!kjoin(key, base, suffix))
		return NULL;
	return kv_find(x, key);
}

/* Children of a prefix ending in '/': one name per distinct next segment, in order. */
struct kv_it {
	size_t i;
	struct slice prefix;
};

static void kv_it_begin(const struct kvx *x, struct kv_it *it, const char *prefix)
{
	it->prefix = slice_from_cstr(prefix);
	it->i = kv_lower(x, it->prefix);
}

static bool kv_it_next(const struct kvx *x, struct kv_it *it, struct slice *name)
{
	size_t pl = it->prefix.len;
	while (it->i < x->n) {
		struct slice k = x->kv[it->i].key;
		if (!slice_starts_with(k, it->prefix))
			return false;
		const char *s = k.p + pl;
		const char *slash = memchr(s, '/', k.len - pl);
		size_t nl = slash ? (size_t)(slash - s) : k.len - pl;
		size_t j = it->i + 1;
		while (j < x->n) {
			struct slice kj = x->kv[j].key;
			if (kj.len >= pl + nl && memcmp(kj.p, k.p, pl + nl) == 0 &&
			    (kj.len == pl + nl || kj.p[pl + nl] == '/'))
				j++;
			else
				break;
		}
		it->i = j;
		if (nl == 0)
			continue; /* "prefix/" directory marker */
		*name = (struct slice){s, nl};
		return true;
	}
	return false;
}

/* Scalars -------------------------------------------------------------------------------- */

int provider_kv_parse_bool(struct slice s, bool *out)
{
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < 6; i++) {
		if (slice_eq_cstr(s, t[i])) {
			*out = true;
			return 0;
		}
		if (slice_eq_cstr(s, f[i])) {
			*out = false;
			return 0;
		}
	}
	return -ERR_PARSE;
}

static int parse_i64(struct slice s, int64_t *out)
{
	bool neg = false;
	if (s.len && (s.p[0] == '-' || s.p[0] == '+')) {
		neg = s.p[0] == '-';
		s.p++;
		s.len--;
	}
	uint64_t v;
	int rc = slice_to_u64(s, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &v);
	if (rc < 0)
		return rc;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static void report_key(struct kvx *x, enum log_level lvl, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void report_key(struct kvx *x, enum log_level lvl, const char *key, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	provider_report(x->d, lvl, key, "%s", msg);
}

/* A short printable rendering of a value for messages. */
static const char *vshow(struct slice v, char *out, size_t cap)
{
	size_t n = v.len < cap - 1 ? v.len : cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = isprint((unsigned char)v.p[i]) ? v.p[i] : '?';
	out[n] = 0;
	return out;
}

/* Lists and maps ------------------------------------------------------------------------- */

static bool all_digits(struct slice s)
{
	if (s.len == 0 || s.len > 9)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
	return true;
}

/* The list at `key`: a comma-separated value, else children key/0, key/1, … in numeric order.
 * Items (trimmed, non-empty) go to items[0..cap); returns the count. */
static size_t kv_list(struct kvx *x, const char *key, struct slice *items, size_t cap)
{
	size_t n = 0;
	const struct provider_kv *p = kv_find(x, key);
	if (p && slice_trim_ows(p->val).len) {
		struct slice rest = p->val, item;
		while (rest.p) {
			item = slice_trim_ows(slice_cut(rest, ',', &rest));
			if (!item.len)
				continue;
			if (n == cap) {
				report_key(x, LOG_WARN, key,
					   "more than %zu items; the rest is ignored", cap);
				break;
			}
			items[n++] = item;
		}
		return n;
	}
	kkey pfx, ck;
	if (!kjoin(pfx, key, "/"))
		return 0;
	uint32_t idx[PROVIDER_KV_LIST_MAX];
	struct kv_it it;
	struct slice name;
	kv_it_begin(x, &it, pfx);
	while (kv_it_next(x, &it, &name)) {
		if (!kjoinf(ck, "%s%.*s", pfx, (int)name.len, name.p))
			continue;
		if (!all_digits(name)) {
			report_key(x, LOG_WARN, ck, "list item name is not a number; ignored");
			continue;
		}
		const struct provider_kv *c = kv_find(x, ck);
		struct slice v = c ? slice_trim_ows(c->val) : (struct slice){NULL, 0};
		if (!v.len)
			continue;
		if (n == cap || n == PROVIDER_KV_LIST_MAX) {
			report_key(x, LOG_WARN, ck, "more than %zu items; ignored", n);
			continue;
		}
		uint64_t u = 0;
		slice_to_u64(name, UINT32_MAX, &u);
		/* insertion by index */
		size_t j = n++;
		while (j > 0 && idx[j - 1] > u) {
			idx[j] = idx[j - 1];
			items[j] = items[j - 1];
			j--;
		}
		idx[j] = (uint32_t)u;
		items[j] = v;
	}
	return n;
}

static void w_list(struct kvx *x, const char *jkey, const struct slice *items, size_t n)
{
	json_w_key(&x->w, jkey);
	json_w_arr_begin(&x->w);
	for (size_t i = 0; i < n; i++)
		json_w_str_slice(&x->w, items[i]);
	json_w_arr_end(&x->w);
}

static bool token_char(unsigned char c)
{
	return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

void provider_kv_canon_header(struct slice name, char *out)
{
	memcpy(out, name.p, name.len);
	for (size_t i = 0; i < name.len; i++)
		if (!token_char((unsigned char)name.p[i]) || name.p[i] == 0)
			return;
	bool upper = true;
	for (size_t i = 0; i < name.len; i++) {
		char c = out[i];
		if (upper && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!upper && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		out[i] = c;
		upper = c == '-';
	}
}

/* The map at key/: returns the number of entries written (0: nothing written). */
static size_t kv_map(struct kvx *x, const char *key, const char *jkey, bool canon)
{
	kkey pfx, ck;
	if (!kjoin(pfx, key, "/"))
		return 0;
	struct slice names[PROVIDER_KV_LIST_MAX], vals[PROVIDER_KV_LIST_MAX];
	size_t n = 0;
	struct kv_it it;
	struct slice name;
	kv_it_begin(x, &it, pfx);
	while (kv_it_next(x, &it, &name)) {
		if (!kjoinf(ck, "%s%.*s", pfx, (int)name.len, name.p))
			continue;
		const struct provider_kv *c = kv_find(x, ck);
		if (!c) {
			report_key(x, LOG_WARN, ck, "map entry has children, not a value; ignored");
			continue;
		}
		bool dup = false;
		for (size_t i = 0; i < n && !dup; i++)
			dup = canon ? slice_eq_ci(names[i], name) : slice_eq(names[i], name);
		if (dup) {
			report_key(x, LOG_WARN, ck, "same header given twice; this one is ignored");
			continue;
		}
		if (n == PROVIDER_KV_LIST_MAX) {
			report_key(x, LOG_WARN, ck, "more than %d entries; ignored",
				   PROVIDER_KV_LIST_MAX);
			continue;
		}
		names[n] = name;
		vals[n] = c->val;
		n++;
	}
	if (!n)
		return 0;
	json_w_key(&x->w, jkey);
	json_w_obj_begin(&x->w);
	for (size_t i = 0; i < n; i++) {
		char cn[PROVIDER_KV_KEY_MAX];
		if (canon) {
			provider_kv_canon_header(names[i], cn);
			json_w_key_slice(&x->w, (struct slice){cn, names[i].len});
		} else {
			json_w_key_slice(&x->w, names[i]);
		}
		json_w_str_slice(&x->w, vals[i]);
	}
	json_w_obj_end(&x->w);
	return n;
}

/* Field tables --------------------------------------------------------------------------- */

enum ftype {
	F_STR, /* string, written as is (empty allowed) */
	F_BOOL,
	F_INT,
	F_DUR,  /* Go duration string */
	F_LIST, /* written only when non-empty */
	F_MAP,  /* header map, written only when non-empty */
};

struct field {
	const char *kv;   /* key below the block's base */
	const char *json; /* member name */
	enum ftype type;
	const char *def; /* default when absent or invalid; NULL: omit */
};

/* Write the fields of one block found under base (ending in '/'). */
static void w_fields(struct kvx *x, const char *base, const struct field *f, size_t nf)
{
	kkey key;
	char shown[64];
	for (size_t i = 0; i < nf; i++) {
		const struct provider_kv *p = kv_at(x, base, f[i].kv, key);
		struct slice v = p ? slice_trim_ows(p->val) : (struct slice){NULL, 0};
		switch (f[i].type) {
		case F_STR:
			if (!p && !f[i].def)
				break;
			json_w_key(&x->w, f[i].json);
			json_w_str_slice(&x->w, p ? p->val : slice_from_cstr(f[i].def));
			break;
		case F_BOOL: {
			bool b = false;
			bool ok = p && provider_kv_parse_bool(v, &b) == 0;
			if (p && !ok)
				report_key(x, LOG_WARN, key,
					   "\"%s\" is not a boolean; using the default (%s)",
					   vshow(v, shown, sizeof shown),
					   f[i].def ? f[i].def : "unset");
			if (!ok) {
				if (!f[i].def)
					break;
				b = strcmp(f[i].def, "true") == 0;
			}
			json_w_key(&x->w, f[i].json);
			json_w_bool(&x->w, b);
			break;
		}
		case F_INT: {
			int64_t iv = 0;
			bool ok = p && parse_i64(v, &iv) == 0;
			if (p && !ok)
				report_key(x, LOG_WARN, key,
					   "\"%s\" is not an integer; using the default (%s)",
					   vshow(v, shown, sizeof shown),
					   f[i].def ? f[i].def : "unset");
			if (!ok) {
				if (!f[i].def)
					break;
				parse_i64(slice_from_cstr(f[i].def), &iv);
			}
			json_w_key(&x->w, f[i].json);
			json_w_int(&x->w, iv);
			break;
		}
		case F_DUR: {
			bool ok = p && provider_duration_ok(v);
			if (p && !ok)
				report_key(x, LOG_WARN, key,
					   "\"%s\" is not a duration (like 30s); using the default "
					   "(%s)",
					   vshow(v, shown, sizeof shown),
					   f[i].def ? f[i].def : "unset");
			if (!ok && !f[i].def)
				break;
			json_w_key(&x->w, f[i].json);
			json_w_str_slice(&x->w, ok ? v : slice_from_cstr(f[i].def));
			break;
		}
		case F_LIST: {
			struct slice items[PROVIDER_KV_LIST_MAX];
			if (!kjoin(key, base, f[i].kv))
				break;
			size_t n = kv_list(x, key, items, PROVIDER_KV_LIST_MAX);
			if (n)
				w_list(x, f[i].json, items, n);
			break;
		}
		case F_MAP:
			if (kjoin(key, base, f[i].kv))
				kv_map(x, key, f[i].json, true);
			break;
		}
	}
}

#define NF(t) (sizeof(t) / sizeof((t)[0]))

static const struct field f_headers[] = {
	{"customrequestheaders", "customRequestHeaders", F_MAP, NULL},
	{"customresponseheaders", "customResponseHeaders", F_MAP, NULL},
	{"allowedhosts", "allowedHosts", F_LIST, NULL},
	{"hostsproxyheaders", "hostsProxyHeaders", F_LIST, NULL},
	{"sslredirect", "sslRedirect", F_BOOL, NULL},
	{"ssltemporaryredirect", "sslTemporaryRedirect", F_BOOL, NULL},
	{"sslhost", "sslHost", F_STR, NULL},
	{"sslforcehost", "sslForceHost", F_BOOL, NULL},
	{"sslproxyheaders", "sslProxyHeaders", F_MAP, NULL},
	{"stsseconds", "stsSeconds", F_INT, NULL},
	{"stsincludesubdomains", "stsIncludeSubdomains", F_BOOL, NULL},
	{"stspreload", "stsPreload", F_BOOL, NULL},
	{"forcestsheader", "forceSTSHeader", F_BOOL, NULL},
	{"framedeny", "frameDeny", F_BOOL, NULL},
	{"customframeoptionsvalue", "customFrameOptionsValue", F_STR, NULL},
	{"contenttypenosniff", "contentTypeNosniff", F_BOOL, NULL},
	{"browserxssfilter", "browserXssFilter", F_BOOL, NULL},
	{"custombrowserxssvalue", "customBrowserXSSValue", F_STR, NULL},
	{"contentsecuritypolicy", "contentSecurityPolicy", F_STR, NULL},
	{"publickey", "publicKey", F_STR, NULL},
	{"referrerpolicy", "referrerPolicy", F_STR, NULL},
	{"isdevelopment", "isDevelopment", F_BOOL, NULL},
};

static const struct field f_basic[] = {
	{"users", "users", F_LIST, NULL},
	{"usersfile", "usersFile", F_STR, NULL},
	{"removeheader", "removeHeader", F_BOOL, "false"},
};

static const struct field f_forward[] = {
	{"address", "address", F_STR, NULL},
	{"trustforwardheader", "trustForwardHeader", F_BOOL, "false"},
	{"authresponseheaders", "authResponseHeaders", F_LIST, NULL},
};

static const struct field f_forward_tls[] = {
	{"ca", "ca", F_STR, NULL},
	{"caoptional", "caOptional", F_BOOL, "false"},
	{"cert", "cert", F_STR, NULL},
	{"key", "key", F_STR, NULL},
	{"insecureskipverify", "insecureSkipVerify", F_BOOL, "false"},
};

static const struct field f_dn[] = {
	{"commonname", "commonName", F_BOOL, "false"},
	{"country", "country", F_BOOL, "false"},
	{"domaincomponent", "domainComponent", F_BOOL, "false"},
	{"locality", "locality", F_BOOL, "false"},
	{"organization", "organization", F_BOOL, "false"},
	{"province", "province", F_BOOL, "false"},
	{"serialnumber", "serialNumber", F_BOOL, "false"},
};

static const struct field f_infos[] = {
	{"notafter", "notAfter", F_BOOL, "false"},
	{"notbefore", "notBefore", F_BOOL, "false"},
	{"sans", "sans", F_BOOL, "false"},
};

static const struct field f_stickiness[] = {
	{"cookiename", "cookieName", F_STR, ""},
	{"secure", "secure", F_BOOL, "false"},
	{"httponly", "httpOnly", F_BOOL, "false"},
	{"samesite", "sameSite", F_STR, ""},
};

static const struct field f_health[] = {
	{"path", "path", F_STR, NULL},       {"interval", "interval", F_DUR, "30s"},
	{"timeout", "timeout", F_DUR, "5s"}, {"port", "port", F_INT, "0"},
	{"scheme", "scheme", F_STR, ""},     {"hostname", "hostname", F_STR, ""},
};

static const struct field f_buffering[] = {
	{"maxrequestbodybytes", "maxRequestBodyBytes", F_INT, "0"},
	{"memrequestbodybytes", "memRequestBodyBytes", F_INT, "0"},
	{"maxresponsebodybytes", "maxResponseBodyBytes", F_INT, "0"},
	{"memresponsebodybytes", "memResponseBodyBytes", F_INT, "0"},
	{"retryexpression", "retryExpression", F_STR, ""},
};

/* Frontends -------------------------------------------------------------------------------- */

static bool backend_exists(const struct kvx *x, struct slice name)
{
	kkey p;
	if (!kjoinf(p, "backends/%.*s/", (int)name.len, name.p))
		return false;
	return kv_has_prefix(x, p);
}

static void w_routes(struct kvx *x, const char *base)
{
	kkey pfx, key;
	struct kv_it it;
	struct slice name;
	size_t n = 0;
	kjoin(pfx, base, "routes/");
	json_w_key(&x->w, "routes");
	json_w_obj_begin(&x->w);
	kv_it_begin(x, &it, pfx);
	while (kv_it_next(x, &it, &name)) {
		if (!kjoinf(key, "%s%.*s/rule", pfx, (int)name.len, name.p))
			continue;
		const struct provider_kv *r = kv_find(x, key);
		struct slice rule = r ? slice_trim_ows(r->val) : (struct slice){NULL, 0};
		if (!rule.len) {
			report_key(x, LOG_WARN, key, "route has no rule; route skipped");
			continue;
		}
		json_w_key_slice(&x->w, name);
		json_w_obj_begin(&x->w);
		json_w_key(&x->w, "rule");
		json_w_str_slice(&x->w, rule);
		json_w_obj_end(&x->w);
		n++;
	}
	json_w_obj_end(&x->w);
	if (!n) {
		kjoin(key, base, "routes");
		report_key(x, LOG_WARN, key,
			   "frontend has no route with a rule; it matches nothing");
	}
}

static void w_auth(struct kvx *x, const char *base)
{
	kkey b, key;
	struct slice items[PROVIDER_KV_LIST_MAX];
	kjoin(key, base, "basicauth");
	size_t legacy = kv_list(x, key, items, PROVIDER_KV_LIST_MAX);
	kjoin(b, base, "auth/");
	if (!legacy && !kv_has_prefix(x, b))
		return;
	json_w_key(&x->w, "auth");
	json_w_obj_begin(&x->w);
	const struct provider_kv *hf = kv_at(x, b, "headerfield", key);
	json_w_key(&x->w, "headerField");
	json_w_str_slice(&x->w, hf ? hf->val : SLICE_LIT(""));
	kkey sub;
	kjoin(sub, b, "basic/");
	if (kv_has_prefix(x, sub)) {
		json_w_key(&x->w, "basic");
		json_w_obj_begin(&x->w);
		w_fields(x, sub, f_basic, NF(f_basic));
		json_w_obj_end(&x->w);
	} else if (legacy) {
		json_w_key(&x->w, "basic");
		json_w_obj_begin(&x->w);
		w_list(x, "users", items, legacy);
		json_w_key(&x->w, "removeHeader");
		json_w_bool(&x->w, false);
		json_w_obj_end(&x->w);
	}
	kjoin(sub, b, "digest/");
	if (kv_has_prefix(x, sub)) {
		json_w_key(&x->w, "digest");
		json_w_obj_begin(&x->w);
		w_fields(x, sub, f_basic, NF(f_basic));
		json_w_obj_end(&x->w);
	}
	kjoin(sub, b, "forward/");
	if (kv_has_prefix(x, sub)) {
		json_w_key(&x->w, "forward");
		json_w_obj_begin(&x->w);
		w_fields(x, sub, f_forward, NF(f_forward));
		/* v1.7's key constant has a leading dot: accept it too. */
		kjoin(key, sub, "authresponseheaders");
		if (!kv_list(x, key, items, PROVIDER_KV_LIST_MAX)) {
			kjoin(key, sub, ".authresponseheaders");
			size_t n = kv_list(x, key, items, PROVIDER_KV_LIST_MAX);
			if (n)
				w_list(x, "authResponseHeaders", items, n);
		}
		kkey t;
		kjoin(t, sub, "tls/");
		if (kv_has_prefix(x, t)) {
			json_w_key(&x->w, "tls");
			json_w_obj_begin(&x->w);
			w_fields(x, t, f_forward_tls, NF(f_forward_tls));
			json_w_obj_end(&x->w);
		}
		json_w_obj_end(&x->w);
	}
	json_w_obj_end(&x->w);
}

static void w_redirect(struct kvx *x, const char *base)
{
	kkey key, b;
	kjoin(b, base, "redirect/");
	if (!kv_has_prefix(x, b))
		return;
	const struct provider_kv *ep = kv_at(x, b, "entrypoint", key);
	struct slice e = ep ? slice_trim_ows(ep->val) : SLICE_LIT("");
	const struct provider_kv *re = kv_at(x, b, "regex", key);
	const struct provider_kv *rp = kv_at(x, b, "replacement", key);
	struct slice r = re ? re->val : SLICE_LIT(""), p = rp ? rp->val : SLICE_LIT("");
	if (!e.len && (!r.len || !p.len)) {
		kjoin(key, base, "redirect");
		report_key(x, LOG_WARN, key,
			   "redirect needs an entrypoint, or both regex and replacement; ignored");
		return;
	}
	if (e.len) {
		r = SLICE_LIT("");
		p = SLICE_LIT("");
	}
	json_w_key(&x->w, "redirect");
	json_w_obj_begin(&x->w);
	json_w_key(&x->w, "entryPoint");
	json_w_str_slice(&x->w, e);
	json_w_key(&x->w, "regex");
	json_w_str_slice(&x->w, r);
	json_w_key(&x->w, "replacement");
	json_w_str_slice(&x->w, p);
	static const struct field perm[] = {{"permanent", "permanent", F_BOOL, "false"}};
	w_fields(x, b, perm, 1);
	json_w_obj_end(&x->w);
}

static void w_errors(struct kvx *x, const char *base)
{
	kkey pfx, pb, key;
	struct kv_it it;
	struct slice name;
	bool open = false;
	kjoin(pfx, base, "errors/");
	kv_it_begin(x, &it, pfx);
	while (kv_it_next(x, &it, &name)) {
		if (!kjoinf(pb, "%s%.*s/", pfx, (int)name.len, name.p))
			continue;
		const struct provider_kv *be = kv_at(x, pb, "backend", key);
		struct slice bn = be ? slice_trim_ows(be->val) : SLICE_LIT("");
		if (!bn.len || !backend_exists(x, bn)) {
			char shown[64];
			report_key(x, LOG_ERROR, key,
				   bn.len ? "unknown backend \"%s\"; error page skipped"
					  : "error page has no backend%s; skipped",
				   vshow(bn, shown, sizeof shown));
			continue;
		}
		struct slice items[PROVIDER_KV_LIST_MAX];
		kjoin(key, pb, "status");
		size_t ns = kv_list(x, key, items, PROVIDER_KV_LIST_MAX);
		if (!ns) {
			report_key(x, LOG_WARN, key, "error page has no status; skipped");
			continue;
		}
		if (!open) {
			json_w_key(&x->w, "errors");
			json_w_obj_begin(&x->w);
			open = true;
		}
		json_w_key_slice(&x->w, name);
		json_w_obj_begin(&x->w);
		w_list(x, "status", items, ns);
		json_w_key(&x->w, "backend");
		json_w_str_slice(&x->w, bn);
		static const struct field q[] = {{"query", "query", F_STR, ""}};
		w_fields(x, pb, q, 1);
		json_w_obj_end(&x->w);
	}
	if (open)
		json_w_obj_end(&x->w);
}

static void w_ratelimit(struct kvx *x, const char *base)
{
	kkey b, key, pfx, rb;
	kjoin(b, base, "ratelimit/");
	if (!kv_has_prefix(x, b))
		return;
	const struct provider_kv *ef = kv_at(x, b, "extractorfunc", key);
	if (!ef || !slice_trim_ows(ef->val).len) {
		report_key(x, LOG_WARN, key, "rate limit without extractorfunc; ignored");
		return;
	}
	json_w_key(&x->w, "rateLimit");
	json_w_obj_begin(&x->w);
	json_w_key(&x->w, "extractorFunc");
	json_w_str_slice(&x->w, slice_trim_ows(ef->val));
	json_w_key(&x->w, "rateSet");
	json_w_obj_begin(&x->w);
	kjoin(pfx, b, "rateset/");
	struct kv_it it;
	struct slice name;
	kv_it_begin(x, &it, pfx);
	while (kv_it_next(x, &it, &name)) {
		if (!kjoinf(rb, "%s%.*s/", pfx, (int)name.len, name.p))
			continue;
		const struct provider_kv *pe = kv_at(x, rb, "period", key);
		struct slice pv = pe ? slice_trim_ows(pe->val) : SLICE_LIT("");
		if (!provider_duration_ok(pv)) {
			report_key(x, LOG_ERROR, key,
				   "missing or invalid period; rate set skipped");
			continue;
		}
		json_w_key_slice(&x->w, name);
		json_w_obj_begin(&x->w);
		json_w_key(&x->w, "period");
		json_w_str_slice(&x->w, pv);
		static const struct field ab[] = {{"average", "average", F_INT, "0"},
						  {"burst", "burst", F_INT, "0"}};
		w_fields(x, rb, ab, NF(ab));
		json_w_obj_end(&x->w);
	}
	json_w_obj_end(&x->w);
	json_w_obj_end(&x->w);
}

static void w_frontend(struct kvx *x, struct slice name)
{
	kkey base, key, sub;
	char shown[64];
	if (!kjoinf(base, "frontends/%.*s/", (int)name.len, name.p)) {
		report_key(x, LOG_ERROR, "frontends/", "frontend name too long; skipped");
		return;
	}
	const struct provider_kv *be = kv_at(x, base, "backend", key);
	struct slice bn = be ? slice_trim_ows(be->val) : SLICE_LIT("");
	if (!bn.len) {
		report_key(x, LOG_ERROR, key, "frontend has no backend; frontend skipped");
		return;
	}
	if (!backend_exists(x, bn)) {
		report_key(x, LOG_ERROR, key, "unknown backend \"%s\"; frontend skipped",
			   vshow(bn, shown, sizeof shown));
		return;
	}
	json_w_key_slice(&x->w, name);
	json_w_obj_begin(&x->w);

	struct slice items[PROVIDER_KV_LIST_MAX];
	kjoin(key, base, "entrypoints");
	size_t n = kv_list(x, key, items, PROVIDER_KV_LIST_MAX);
	if (n)
		w_list(x, "entryPoints", items, n);
	json_w_key(&x->w, "backend");
	json_w_str_slice(&x->w, bn);
	w_routes(x, base);

	static const struct field f1[] = {{"priority", "priority", F_INT, "0"}};
	w_fields(x, base, f1, 1);
	/* passhostheader, with the legacy camel-case key as a fallback */
	const char *phk =
		kv_at(x, base, "passhostheader", key) ? "passhostheader" : "passHostHeader";
	const struct field f2[] = {{phk, "passHostHeader", F_BOOL, "true"},
				   {"passtlscert", "passTLSCert", F_BOOL, NULL}};
	w_fields(x, base, f2, NF(f2));

	kjoin(sub, base, "passtlsclientcert/");
	if (kv_has_prefix(x, sub)) {
		json_w_key(&x->w, "passTLSClientCert");
		json_w_obj_begin(&x->w);
		static const struct field pem[] = {{"pem", "pem", F_BOOL, "false"}};
		w_fields(x, sub, pem, 1);
		kkey inf;
		kjoin(inf, sub, "infos/");
		if (kv_has_prefix(x, inf)) {
			json_w_key(&x->w, "infos");
			json_w_obj_begin(&x->w);
			w_fields(x, inf, f_infos, NF(f_infos));
			static const char *const dns[2][2] = {{"subject/", "subject"},
							      {"issuer/", "issuer"}};
			for (int i = 0; i < 2; i++) {
				kkey dn;
				kjoin(dn, inf, dns[i][0]);
				if (!kv_has_prefix(x, dn))
					continue;
				json_w_key(&x->w, dns[i][1]);
				json_w_obj_begin(&x->w);
				w_fields(x, dn, f_dn, NF(f_dn));
				json_w_obj_end(&x->w);
			}
			json_w_obj_end(&x->w);
		}
		json_w_obj_end(&x->w);
	}

	/* whitelist (and the v1.5 whitelistsourcerange key) */
	kjoin(key, base, "whitelist/sourcerange");
	n = kv_list(x, key, items, PROVIDER_KV_LIST_MAX);
	if (!n) {
		kjoin(key, base, "whitelistsourcerange");
		n = kv_list(x, key, items, PROVIDER_KV_LIST_MAX);
	}
	if (n) {
		json_w_key(&x->w, "whitelist");
		json_w_obj_begin(&x->w);
		w_list(x, "sourceRange", items, n);
		kjoin(sub, base, "whitelist/");
		static const struct field xff[] = {
			{"usexforwardedfor", "useXForwardedFor", F_BOOL, "false"}};
		w_fields(x, sub, xff, 1);
		json_w_obj_end(&x->w);
	}

	w_auth(x, base);
	w_redirect(x, base);
	w_errors(x, base);
	w_ratelimit(x, base);

	kjoin(sub, base, "headers/");
	if (kv_has_prefix(x, sub)) {
		json_w_key(&x->w, "headers");
		json_w_obj_begin(&x->w);
		w_fields(x, sub, f_headers, NF(f_headers));
		json_w_obj_end(&x->w);
	}
	json_w_obj_end(&x->w);
}

/* Backends --------------------------------------------------------------------------------- */

static bool url_ok(struct slice u)
{
	struct slice rest;
	if (slice_starts_with(u, SLICE_LIT("http://")))
		rest = (struct slice){u.p + 7, u.len - 7};
	else if (slice_starts_with(u, SLICE_LIT("https://")))
		rest = (struct slice){u.p + 8, u.len - 8};
	else
		return false;
	if (!rest.len || rest.p[0] == '/' || rest.p[0] == ':')
		return false;
	for (size_t i = 0; i < u.len; i++)
		if ((unsigned char)u.p[i] <= ' ' || u.p[i] == 0x7f)
			return false;
	return true;
}

static void w_servers(struct kvx *x, const char *base)
{
	kkey pfx, sb, key;
	struct kv_it it;
	struct slice name;
	char shown[64];
	kjoin(pfx, base, "servers/");
	json_w_key(&x->w, "servers");
	json_w_obj_begin(&x->w);
	kv_it_begin(x, &it, pfx);
	while (kv_it_next(x, &it, &name)) {
		if (!kjoinf(sb, "%s%.*s/", pfx, (int)name.len, name.p))
			continue;
		const struct provider_kv *u = kv_at(x, sb, "url", key);
		struct slice url = u ? slice_trim_ows(u->val) : SLICE_LIT("");
		if (!url.len) {
			report_key(x, LOG_WARN, key, "server has no url; server skipped");
			continue;
		}
		if (!url_ok(url)) {
			report_key(x, LOG_ERROR, key,
				   "\"%s\" is not an http:// or https:// URL; server skipped",
				   vshow(url, shown, sizeof shown));
			continue;
		}
		json_w_key_slice(&x->w, name);
		json_w_obj_begin(&x->w);
		json_w_key(&x->w, "url");
		json_w_str_slice(&x->w, url);
		static const struct field wt[] = {{"weight", "weight", F_INT, "1"}};
		w_fields(x, sb, wt, 1);
		json_w_obj_end(&x->w);
	}
	json_w_obj_end(&x->w);
}

static void w_backend(struct kvx *x, struct slice name)
{
	kkey base, key, sub;
	char shown[64];
	if (!kjoinf(base, "backends/%.*s/", (int)name.len, name.p)) {
		report_key(x, LOG_ERROR, "backends/", "backend name too long; skipped");
		return;
	}
	json_w_key_slice(&x->w, name);
	json_w_obj_begin(&x->w);
	w_servers(x, base);

	/* loadBalancer: always written, method wrr by default */
	json_w_key(&x->w, "loadBalancer");
	json_w_obj_begin(&x->w);
	const struct provider_kv *m = kv_at(x, base, "loadbalancer/method", key);
	struct slice method = SLICE_LIT("wrr");
	if (m && slice_eq_cstr_ci(slice_trim_ows(m->val), "drr"))
		method = SLICE_LIT("drr");
	else if (m && !slice_eq_cstr_ci(slice_trim_ows(m->val), "wrr"))
		report_key(x, LOG_WARN, key, "unknown method \"%s\"; using wrr",
			   vshow(m->val, shown, sizeof shown));
	json_w_key(&x->w, "method");
	json_w_str_slice(&x->w, method);
	bool sticky = false, stickiness = false;
	const struct provider_kv *s = kv_at(x, base, "loadbalancer/stickiness", key);
	if (s && provider_kv_parse_bool(slice_trim_ows(s->val), &stickiness) < 0)
		report_key(x, LOG_WARN, key, "\"%s\" is not a boolean; stickiness off",
			   vshow(s->val, shown, sizeof shown));
	const struct provider_kv *st = kv_at(x, base, "loadbalancer/sticky", key);
	if (st && provider_kv_parse_bool(slice_trim_ows(st->val), &sticky) < 0)
		report_key(x, LOG_WARN, key, "\"%s\" is not a boolean; sticky off",
			   vshow(st->val, shown, sizeof shown));
	if (stickiness) {
		kjoin(sub, base, "loadbalancer/stickiness/");
		json_w_key(&x->w, "stickiness");
		json_w_obj_begin(&x->w);
		w_fields(x, sub, f_stickiness, NF(f_stickiness));
		json_w_obj_end(&x->w);
	} else if (sticky) {
		report_key(x, LOG_WARN, key,
			   "loadbalancer/sticky is deprecated; use loadbalancer/stickiness");
		json_w_key(&x->w, "stickiness");
		json_w_obj_begin(&x->w);
		json_w_key(&x->w, "cookieName");
		json_w_str(&x->w, "_TRAEFIK_BACKEND");
		json_w_key(&x->w, "secure");
		json_w_bool(&x->w, false);
		json_w_key(&x->w, "httpOnly");
		json_w_bool(&x->w, false);
		json_w_key(&x->w, "sameSite");
		json_w_str(&x->w, "");
		json_w_obj_end(&x->w);
	}
	json_w_obj_end(&x->w);

	const struct provider_kv *hp = kv_at(x, base, "healthcheck/path", key);
	if (hp && slice_trim_ows(hp->val).len) {
		kjoin(sub, base, "healthcheck/");
		json_w_key(&x->w, "healthCheck");
		json_w_obj_begin(&x->w);
		w_fields(x, sub, f_health, NF(f_health));
		kjoin(key, sub, "headers");
		kv_map(x, key, "headers", true);
		json_w_obj_end(&x->w);
	}
	const struct provider_kv *cb = kv_at(x, base, "circuitbreaker/expression", key);
	if (cb && slice_trim_ows(cb->val).len) {
		json_w_key(&x->w, "circuitBreaker");
		json_w_obj_begin(&x->w);
		json_w_key(&x->w, "expression");
		json_w_str_slice(&x->w, slice_trim_ows(cb->val));
		json_w_obj_end(&x->w);
	}
	const struct provider_kv *ma = kv_at(x, base, "maxconn/amount", key);
	int64_t amount;
	if (ma && parse_i64(slice_trim_ows(ma->val), &amount) < 0) {
		report_key(x, LOG_WARN, key, "\"%s\" is not an integer; maxConn ignored",
			   vshow(ma->val, shown, sizeof shown));
	} else if (ma) {
		kjoin(sub, base, "maxconn/");
		json_w_key(&x->w, "maxConn");
		json_w_obj_begin(&x->w);
		json_w_key(&x->w, "amount");
		json_w_int(&x->w, amount);
		static const struct field ef[] = {
			{"extractorfunc", "extractorFunc", F_STR, "request.host"}};
		w_fields(x, sub, ef, 1);
		json_w_obj_end(&x->w);
	}
	kjoin(sub, base, "buffering/");
	if (kv_has_prefix(x, sub)) {
		json_w_key(&x->w, "buffering");
		json_w_obj_begin(&x->w);
		w_fields(x, sub, f_buffering, NF(f_buffering));
		json_w_obj_end(&x->w);
	}
	const struct provider_kv *fi = kv_at(x, base, "responseforwarding/flushinterval", key);
	if (fi) {
		if (provider_duration_ok(slice_trim_ows(fi->val))) {
			json_w_key(&x->w, "responseForwarding");
			json_w_obj_begin(&x->w);
			json_w_key(&x->w, "flushInterval");
			json_w_str_slice(&x->w, slice_trim_ows(fi->val));
			json_w_obj_end(&x->w);
		} else {
			report_key(x, LOG_WARN, key, "\"%s\" is not a duration; ignored",
				   vshow(fi->val, shown, sizeof shown));
		}
	}
	json_w_obj_end(&x->w);
}

/* TLS ------------------------------------------------------------------------------------ */

static bool looks_pem(struct slice v)
{
	static const char tag[] = "-----BEGIN ";
	for (size_t i = 0; i + sizeof tag - 1 <= v.len; i++)
		if (memcmp(v.p + i, tag, sizeof tag - 1) == 0)
			return true;
	return false;
}

static void w_tls(struct kvx *x)
{
	kkey base, key;
	struct kv_it it;
	struct slice name;
	json_w_key(&x->w, "tls");
	json_w_arr_begin(&x->w);
	kv_it_begin(x, &it, "tls/");
	while (kv_it_next(x, &it, &name)) {
		if (!kjoinf(base, "tls/%.*s/", (int)name.len, name.p))
			continue;
		struct slice items[PROVIDER_KV_LIST_MAX];
		kjoin(key, base, "entrypoints");
		size_t n = kv_list(x, key, items, PROVIDER_KV_LIST_MAX);
		if (!n) {
			report_key(x, LOG_WARN, key, "TLS entry without entry points; skipped");
			continue;
		}
		kkey ck, kk;
		const struct provider_kv *c = kv_at(x, base, "certificate/certfile", ck);
		const struct provider_kv *k = kv_at(x, base, "certificate/keyfile", kk);
		struct slice cv = c ? c->val : SLICE_LIT(""), kvv = k ? k->val : SLICE_LIT("");
		if (!slice_trim_ows(cv).len && !slice_trim_ows(kvv).len) {
			report_key(x, LOG_WARN, ck, "TLS entry without certificate; skipped");
			continue;
		}
		if (!looks_pem(cv) || !looks_pem(kvv)) {
			report_key(
				x, LOG_ERROR, looks_pem(cv) ? kk : ck,
				"not inline PEM (a file path?): data nodes read no files, put the "
				"PEM text in the key; TLS entry skipped");
			continue;
		}
		json_w_obj_begin(&x->w);
		w_list(x, "entryPoints", items, n);
		json_w_key(&x->w, "certificate");
		json_w_obj_begin(&x->w);
		json_w_key(&x->w, "certFile");
		json_w_str_slice(&x->w, cv);
		json_w_key(&x->w, "keyFile");
		json_w_str_slice(&x->w, kvv);
		json_w_obj_end(&x->w);
		json_w_obj_end(&x->w);
	}
	json_w_arr_end(&x->w);
}

/* Unknown keys ----------------------------------------------------------------------------- */

/* Key patterns: '*' one segment (a name), '#' a list index, "[]" a list (key or key/#),
 * "{}" a map (key/<name>). Anything else is reported as unknown. */
static const char *const known[] = {
	"alias",
	"frontends/*/backend",
	"frontends/*/entrypoints[]",
	"frontends/*/routes/*/rule",
	"frontends/*/priority",
	"frontends/*/passhostheader",
	"frontends/*/passHostHeader",
	"frontends/*/passtlscert",
	"frontends/*/passtlsclientcert/pem",
	"frontends/*/passtlsclientcert/infos/notafter",
	"frontends/*/passtlsclientcert/infos/notbefore",
	"frontends/*/passtlsclientcert/infos/sans",
	"frontends/*/passtlsclientcert/infos/subject/*",
	"frontends/*/passtlsclientcert/infos/issuer/*",
	"frontends/*/whitelist/sourcerange[]",
	"frontends/*/whitelist/usexforwardedfor",
	"frontends/*/whitelistsourcerange[]",
	"frontends/*/basicauth[]",
	"frontends/*/auth/headerfield",
	"frontends/*/auth/basic/users[]",
	"frontends/*/auth/basic/usersfile",
	"frontends/*/auth/basic/removeheader",
	"frontends/*/auth/digest/users[]",
	"frontends/*/auth/digest/usersfile",
	"frontends/*/auth/digest/removeheader",
	"frontends/*/auth/forward/address",
	"frontends/*/auth/forward/trustforwardheader",
	"frontends/*/auth/forward/authresponseheaders[]",
	"frontends/*/auth/forward/.authresponseheaders[]",
	"frontends/*/auth/forward/tls/*",
	"frontends/*/redirect/entrypoint",
	"frontends/*/redirect/regex",
	"frontends/*/redirect/replacement",
	"frontends/*/redirect/permanent",
	"frontends/*/errors/*/status[]",
	"frontends/*/errors/*/backend",
	"frontends/*/errors/*/query",
	"frontends/*/ratelimit/extractorfunc",
	"frontends/*/ratelimit/rateset/*/period",
	"frontends/*/ratelimit/rateset/*/average",
	"frontends/*/ratelimit/rateset/*/burst",
	"frontends/*/headers/customrequestheaders{}",
	"frontends/*/headers/customresponseheaders{}",
	"frontends/*/headers/sslproxyheaders{}",
	"frontends/*/headers/allowedhosts[]",
	"frontends/*/headers/hostsproxyheaders[]",
	"frontends/*/headers/*",
	"backends/*/servers/*/url",
	"backends/*/servers/*/weight",
	"backends/*/servers/*/tags[]",
	"backends/*/loadbalancer/method",
	"backends/*/loadbalancer/sticky",
	"backends/*/loadbalancer/stickiness",
	"backends/*/loadbalancer/stickiness/*",
	"backends/*/healthcheck/headers{}",
	"backends/*/healthcheck/*",
	"backends/*/circuitbreaker/expression",
	"backends/*/maxconn/amount",
	"backends/*/maxconn/extractorfunc",
	"backends/*/buffering/*",
	"backends/*/responseforwarding/flushinterval",
	"tls/*/entrypoints[]",
	"tls/*/certificate/certfile",
	"tls/*/certificate/keyfile",
};

/* Does key k match pattern pat (segments)? */
static bool pat_match(const char *pat, struct slice k)
{
	size_t plen = strlen(pat);
	bool list = plen > 2 && strcmp(pat + plen - 2, "[]") == 0;
	bool map = plen > 2 && strcmp(pat + plen - 2, "{}") == 0;
	if (list || map)
		plen -= 2;
	size_t pi = 0, ki = 0;
	while (pi < plen) {
		if (ki > k.len)
			return false;
		/* one segment of each */
		size_t pe = pi;
		while (pe < plen && pat[pe] != '/')
			pe++;
		size_t ke = ki;
		while (ke < k.len && k.p[ke] != '/')
			ke++;
		if (ki == k.len && pi < plen)
			return false;
		bool star = pe - pi == 1 && pat[pi] == '*';
		if (!star && (pe - pi != ke - ki || memcmp(pat + pi, k.p + ki, pe - pi) != 0))
			return false;
		if (star && ke == ki)
			return false;
		pi = pe + 1;
		ki = ke + 1;
	}
	if (ki >= k.len + 1)
		return true; /* exact */
	/* the key continues after the pattern: k[ki..] is the rest */
	struct slice rest = {k.p + ki, k.len - ki};
	if (list)
		return all_digits(rest);
	if (map)
		return rest.len && memchr(rest.p, '/', rest.len) == NULL;
	return false;
}

/* Roots of a Traefik v1 static configuration: a traefik.toml read by the file provider (its
 * [file] section without a filename, `deploy --configfile`) holds them beside its frontends
 * and backends. They are the deploy's business, or the nodes', not the routing document's:
 * skipped quietly. */
static const char *const deploy_roots[] = {
	"entrypoints",
	"defaultentrypoints",
	"file",
	"consul",
	"etcd",
	"providersthrottleduration",
	"insecureskipverify",
	"rootcas",
};

static const char *const node_roots[] = {
	"loglevel",
	"debug",
	"checknewversion",
	"sendanonymoususage",
	"gracetimeout",
	"maxidleconnsperhost",
	"idletimeout",
	"allowminweightzero",
	"keeptrailingslash",
	"traefiklog",
	"accesslog",
	"api",
	"ping",
	"metrics",
	"rest",
	"retry",
	"healthcheck",
	"respondingtimeouts",
	"forwardingtimeouts",
	"lifecycle",
	"web",
	"tracing",
	"hostresolver",
};

bool provider_kv_node_root(struct slice root)
{
	for (size_t j = 0; j < NF(node_roots); j++)
		if (slice_eq_cstr(root, node_roots[j]))
			return true;
	return false;
}

static bool static_root(struct slice k)
{
	struct slice rest, first = slice_cut(k, '/', &rest);
	for (size_t j = 0; j < NF(deploy_roots); j++)
		if (slice_eq_cstr(first, deploy_roots[j]))
			return true;
	return provider_kv_node_root(first);
}

static void check_unknown(struct kvx *x)
{
	for (size_t i = 0; i < x->n; i++) {
		struct slice k = x->kv[i].key;
		if (k.len && k.p[k.len - 1] == '/')
			continue; /* directory marker (Consul) */
		if (static_root(k))
			continue;
		/* an intermediate key that has children is a directory too (etcd, file trees) */
		if (i + 1 < x->n && x->kv[i + 1].key.len > k.len &&
		    slice_starts_with(x->kv[i + 1].key, k) && x->kv[i + 1].key.p[k.len] == '/' &&
		    !x->kv[i].val.len)
			continue;
		bool ok = false;
		for (size_t j = 0; j < NF(known) && !ok; j++)
			ok = pat_match(known[j], k);
		if (!ok) {
			char key[PROVIDER_KV_KEY_MAX];
			vshow(k, key, sizeof key);
			report_key(x, LOG_WARN, key, "unknown key; ignored");
		}
	}
}

/* Entry point ---------------------------------------------------------------------------- */

bool provider_kv_alias(const struct provider_kv *kv, size_t n, struct slice *alias)
{
	struct kvx x = {.kv = kv, .n = n};
	const struct provider_kv *a = kv_find(&x, "alias");
	if (!a)
		return false;
	struct slice v = trim_slashes(slice_trim_ows(a->val));
	if (!v.len)
		return false;
	*alias = v;
	return true;
}

int provider_kv_translate(const struct provider_kv *kv, size_t n, struct buf *out,
			  struct provider_diag *d)
{
	for (size_t i = 1; i < n; i++)
		if (provider_kv_keycmp(kv[i - 1].key, kv[i].key) >= 0)
			return -ERR_INVAL;
	struct kvx x = {.kv = kv, .n = n, .d = d};
	struct kv_it it;
	struct slice name;
	check_unknown(&x);
	json_w_init(&x.w, out);
	json_w_obj_begin(&x.w);
	json_w_key(&x.w, "frontends");
	json_w_obj_begin(&x.w);
	kv_it_begin(&x, &it, "frontends/");
	while (kv_it_next(&x, &it, &name))
		w_frontend(&x, name);
	json_w_obj_end(&x.w);
	json_w_key(&x.w, "backends");
	json_w_obj_begin(&x.w);
	kv_it_begin(&x, &it, "backends/");
	while (kv_it_next(&x, &it, &name))
		w_backend(&x, name);
	json_w_obj_end(&x.w);
	w_tls(&x);
	json_w_obj_end(&x.w);
	int rc = json_w_finish(&x.w);
	if (rc == -ERR_BUF_FULL)
		return -ERR_PROVIDER_DOC_TOO_LARGE;
	return rc;
}
