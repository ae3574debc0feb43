/* proxy_config.c — see proxy_config.h; the rules are docs/internals/routing.md and
 * docs/internals/proxy-routing.md.
 *
 * The loader walks the parsed document once, object by object. Every value it keeps is copied
 * into one string region (sized beforehand from the document's string tokens), every array is
 * allocated once with its exact length (known from the JSON before it is filled), so a table is
 * a handful of arena allocations whose worst case proxy_table_bytes() can bound. The key path of
 * the object being read is kept in l->path, so any error names the key.
 */
#include "proxy/proxy_config.h"

#include "base/base_err.h"
#include "proxy/proxy_auth.h"
#include "proxy/proxy_breaker.h"
#include "tls/tls.h"

#include <assert.h>
#include <bearssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void proxy_limits_default(struct proxy_limits *lim)
{
	lim->max_entrypoints = 16;
	lim->max_frontends = 1024;
	lim->max_backends = 1024;
	lim->max_servers = 4096;
	lim->max_routes = 4096;
	lim->max_rule_bytes = 1024;
	lim->max_matchers = 16384;
	lim->max_regex_insts = 16384;
	lim->max_certs = 256;
	lim->max_list_items = 16384;
	lim->max_tokens = 131072;
	lim->max_cert_bytes = 2u << 20;
	lim->max_doc_bytes = 4u << 20;
}

size_t proxy_scratch_tokens(const struct proxy_limits *lim)
{
	return lim->max_tokens;
}

/* Lists an entry point / frontend / backend may own (each one arena allocation). */
#define EP_LISTS 11
#define FE_LISTS 16
#define BE_LISTS 1
#define ALLOC_PAD 16 /* arena_alloc aligns every allocation to max_align_t */

/* Largest item a list can hold. */
static size_t max_item(void)
{
	size_t m = sizeof(struct proxy_kv);
	const size_t sizes[] = {sizeof(struct slice),
				sizeof(struct proxy_cidr),
				sizeof(struct proxy_status_range),
				sizeof(struct proxy_rateset),
				sizeof(struct proxy_error_page),
				sizeof(struct proxy_pem_pair),
				sizeof(struct proxy_cert)};
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
		if (sizes[k] > m)
			m = sizes[k];
	return m;
}

size_t proxy_table_bytes(const struct proxy_limits *lim)
{
	size_t E = lim->max_entrypoints, F = lim->max_frontends, B = lim->max_backends;
	size_t S = lim->max_servers, R = lim->max_routes, M = lim->max_matchers;
	size_t I = lim->max_regex_insts, L = lim->max_list_items, C = lim->max_certs;
	size_t D = lim->max_doc_bytes, T = lim->max_tokens;
	/* Programs: each has at least 2 instructions (a MATCH and something before it);
	 * capture programs (redirects, ReplacePathRegex) are at most E + 2F. */
	size_t P = I / 2 + 1, PC = E + 2 * F;
	size_t n = 0;
	n += sizeof(struct proxy_table);
	n += D + T + 7 * B;                             /* strings + NULs + cookie names */
	n += E * (sizeof(struct proxy_entrypoint) + 4); /* ep[] + ep_by_name */
	n += E * F * (4 + 8);                           /* fe_order + fe_hostmask lists */
	n += F * (sizeof(struct proxy_frontend) + 4);   /* fe[] + fe_by_name */
	n += B * (sizeof(struct proxy_backend) + 4);    /* be[] + be_by_name */
	n += S * sizeof(struct proxy_server);
	n += R * 2 * sizeof(struct slice); /* route names and rules */
	n += M * (sizeof(struct proxy_matcher) + sizeof(struct proxy_mval));
	n += D; /* rule literal copies (<= rule text) */
	n += P * (sizeof(struct proxy_re) + 8) + I * (sizeof(struct proxy_re_inst) + 32);
	n += PC * PROXY_RE_MAX_GROUPS * sizeof(struct slice);
	n += L * max_item();
	n += C * sizeof(struct proxy_cert);
	/* arena padding: one per allocation */
	size_t allocs = 16 + E * (EP_LISTS + 2) + F * (FE_LISTS + 4) + B * (BE_LISTS + 1) + P + L;
	n += allocs * ALLOC_PAD;
	return n;
}

/* ==== loader state ========================================================================== */

struct ld {
	const struct json_doc *d;
	const struct proxy_limits *lim;
	struct arena *a;
	struct proxy_cfg_err *err;
	int rc;
	char path[200];
	size_t plen;
	char *chars;
	size_t nchars, capchars;
	uint32_t items, matchers, insts, routes, certs;
	size_t cert_bytes;
	struct proxy_table *t;
	struct proxy_entrypoint *ep;
	struct proxy_backend *be;
	struct proxy_server *srv;
};

static void sanitize(char *dst, size_t cap, const char *s, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[k++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	dst[k] = 0;
}

static int lfail(struct ld *l, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int lfail(struct ld *l, int code, const char *fmt, ...)
{
	if (l->rc)
		return l->rc;
	char what[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	/* "<path>: <what>", cut to the message size. */
	char *out = l->err->msg;
	size_t cap = sizeof l->err->msg, n = 0;
	if (l->plen) {
		n = l->plen < cap - 3 ? l->plen : cap - 3;
		memcpy(out, l->path, n);
		memcpy(out + n, ": ", 2);
		n += 2;
	}
	size_t wl = strlen(what);
	if (wl > cap - 1 - n)
		wl = cap - 1 - n;
	memcpy(out + n, what, wl);
	out[n + wl] = 0;
	l->rc = code;
	return code;
}

/* Append ".key" (or "key" at the root) to the path; returns the length to restore. */
static size_t push(struct ld *l, struct slice key)
{
	size_t old = l->plen;
	char tmp[64];
	sanitize(tmp, sizeof tmp, key.p, key.len);
	int n = snprintf(l->path + l->plen, sizeof l->path - l->plen, "%s%s", l->plen ? "." : "",
			 tmp);
	if (n > 0)
		l->plen += (size_t)n < sizeof l->path - l->plen ? (size_t)n
								: sizeof l->path - l->plen - 1;
	return old;
}

static size_t push_c(struct ld *l, const char *key)
{
	return push(l, slice_from_cstr(key));
}

static size_t push_idx(struct ld *l, size_t i)
{
	size_t old = l->plen;
	int n = snprintf(l->path + l->plen, sizeof l->path - l->plen, "[%zu]", i);
	if (n > 0)
		l->plen += (size_t)n < sizeof l->path - l->plen ? (size_t)n
								: sizeof l->path - l->plen - 1;
	return old;
}

static void pop(struct ld *l, size_t old)
{
	l->plen = old;
	l->path[old] = 0;
}

static void *lalloc(struct ld *l, size_t n, size_t size)
{
	if (n == 0)
		return NULL;
	void *p = arena_alloc(l->a, n * size);
	if (!p)
		lfail(l, -ERR_ARENA_FULL, "arena full (size it with proxy_table_bytes)");
	return p;
}

static const struct slice empty = {"", 0};

/* Copy string token t into the string region. */
static int copy_str(struct ld *l, int t, struct slice *out)
{
	int n = json_str_len(l->d, t);
	if (n < 0)
		return lfail(l, -ERR_PROXY_CONFIG, "expected a string");
	assert(l->nchars + (size_t)n + 1 <= l->capchars);
	char *dst = l->chars + l->nchars;
	int got = json_get_strn(l->d, t, dst, (size_t)n);
	assert(got == n);
	dst[n] = 0;
	l->nchars += (size_t)n + 1;
	*out = (struct slice){dst, (size_t)n};
	return 0;
}

/* Member `key` of obj, or -ERR_NOTFOUND when absent or null. */
static int member(struct ld *l, int obj, const char *key)
{
	int t = json_obj_get(l->d, obj, key);
	if (t >= 0 && json_is_null(l->d, t))
		return -ERR_NOTFOUND;
	return t;
}

/* obj must be an object whose keys are all in keys[] (NULL-terminated). */
static int check_obj(struct ld *l, int obj, const char *const *keys)
{
	struct json_iter it;
	int key, v;
	if (json_typeof(l->d, obj) != JSON_OBJECT)
		return lfail(l, -ERR_PROXY_CONFIG, "expected an object");
	json_iter_begin(l->d, obj, &it);
	while ((v = json_iter_next(l->d, &it, &key)) >= 0) {
		const char *const *k;
		for (k = keys; *k; k++)
			if (json_str_eq(l->d, key, *k))
				break;
		if (!*k) {
			struct slice name;
			char tmp[64];
			name = json_raw(l->d, key);
			sanitize(tmp, sizeof tmp, name.p, name.len);
			return lfail(l, -ERR_PROXY_CONFIG, "unknown key \"%s\"", tmp);
		}
	}
	return 0;
}

static int get_str(struct ld *l, int obj, const char *key, bool required, struct slice *out)
{
	*out = empty;
	int t = member(l, obj, key);
	if (t == -ERR_NOTFOUND) {
		if (required) {
			size_t m = push_c(l, key);
			lfail(l, -ERR_PROXY_CONFIG, "required");
			pop(l, m);
			return l->rc;
		}
		return 0;
	}
	size_t m = push_c(l, key);
	int rc = copy_str(l, t, out);
	pop(l, m);
	return rc;
}

static int get_bool(struct ld *l, int obj, const char *key, bool dflt, bool *out)
{
	*out = dflt;
	int t = member(l, obj, key);
	if (t == -ERR_NOTFOUND)
		return 0;
	if (json_get_bool(l->d, t, out) < 0) {
		size_t m = push_c(l, key);
		lfail(l, -ERR_PROXY_CONFIG, "expected true or false");
		pop(l, m);
		return l->rc;
	}
	return 0;
}

static int get_int(struct ld *l, int obj, const char *key, int64_t min, int64_t max, int64_t dflt,
		   int64_t *out)
{
	*out = dflt;
	int t = member(l, obj, key);
	if (t == -ERR_NOTFOUND)
		return 0;
	int64_t v;
	if (json_get_int(l->d, t, &v) < 0 || v < min || v > max) {
		size_t m = push_c(l, key);
		lfail(l, -ERR_PROXY_CONFIG, "expected an integer from %lld to %lld", (long long)min,
		      (long long)max);
		pop(l, m);
		return l->rc;
	}
	*out = v;
	return 0;
}

/* Go duration syntax ("1m30s", "1.5s", "500ms", "0") into nanoseconds. */
static int parse_duration(struct slice s, uint64_t *ns)
{
	static const struct {
		const char *u;
		uint64_t mul;
	} units[] = {{"ns", 1},
		     {"us", 1000},
		     {"\xc2\xb5s", 1000},
		     {"\xce\xbcs", 1000},
		     {"ms", 1000000},
		     {"s", 1000000000ull},
		     {"m", 60000000000ull},
		     {"h", 3600000000000ull}};
	size_t i = 0;
	uint64_t total = 0;
	if (s.len == 1 && s.p[0] == '0') {
		*ns = 0;
		return 0;
	}
	if (s.len == 0)
		return -ERR_PARSE;
	while (i < s.len) {
		uint64_t whole = 0, frac = 0, scale = 1;
		size_t d0 = i;
		while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9') {
			if (whole > (UINT64_MAX - 9) / 10)
				return -ERR_RANGE;
			whole = whole * 10 + (uint64_t)(s.p[i++] - '0');
		}
		bool digits = i > d0;
		if (i < s.len && s.p[i] == '.') {
			i++;
			size_t f0 = i;
			while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9') {
				if (scale < 1000000000000000000ull) {
					frac = frac * 10 + (uint64_t)(s.p[i] - '0');
					scale *= 10;
				}
				i++;
			}
			digits = digits || i > f0;
		}
		if (!digits)
			return -ERR_PARSE;
		size_t u0 = i;
		while (i < s.len && !(s.p[i] >= '0' && s.p[i] <= '9') && s.p[i] != '.')
			i++;
		struct slice unit = {s.p + u0, i - u0};
		uint64_t mul = 0;
		for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
			if (slice_eq_cstr(unit, units[k].u))
				mul = units[k].mul;
		if (!mul)
			return -ERR_PARSE;
		if (whole > UINT64_MAX / mul)
			return -ERR_RANGE;
		uint64_t v = whole * mul + (uint64_t)((double)frac * (double)mul / (double)scale);
		if (v > UINT64_MAX - total)
			return -ERR_RANGE;
		total += v;
	}
	*ns = total;
	return 0;
}

/* A duration: a Go duration string or an integer number of seconds. */
static int get_duration(struct ld *l, int obj, const char *key, uint64_t dflt_ms, uint64_t *ms)
{
	*ms = dflt_ms;
	int t = member(l, obj, key);
	if (t == -ERR_NOTFOUND)
		return 0;
	size_t m = push_c(l, key);
	int64_t secs;
	if (json_typeof(l->d, t) == JSON_NUMBER) {
		if (json_get_int(l->d, t, &secs) < 0 || secs < 0 || secs > 100000000)
			lfail(l, -ERR_PROXY_CONFIG, "expected a duration");
		else
			*ms = (uint64_t)secs * 1000;
	} else {
		char buf[48];
		uint64_t ns;
		int n = json_get_str(l->d, t, buf, sizeof buf);
		if (n < 0 || parse_duration((struct slice){buf, (size_t)n}, &ns) < 0)
			lfail(l, -ERR_PROXY_CONFIG,
			      "expected a duration (\"30s\", \"1m30s\", \"500ms\")");
		else
			*ms = ns / 1000000;
	}
	pop(l, m);
	return l->rc;
}

static int take_items(struct ld *l, size_t n)
{
	if (n > l->lim->max_list_items - l->items)
		return lfail(l, -ERR_PROXY_LIST_TOO_LONG,
			     "more than max_list_items (%u) list and map items in the document",
			     (unsigned)l->lim->max_list_items);
	l->items += (uint32_t)n;
	return 0;
}

/* The array member `key` (absent/null: *t = -1, n = 0). */
static int get_array(struct ld *l, int obj, const char *key, int *t, uint32_t *n)
{
	*n = 0;
	*t = member(l, obj, key);
	if (*t == -ERR_NOTFOUND) {
		*t = -1;
		return 0;
	}
	if (json_typeof(l->d, *t) != JSON_ARRAY) {
		size_t m = push_c(l, key);
		lfail(l, -ERR_PROXY_CONFIG, "expected an array");
		pop(l, m);
		return l->rc;
	}
	*n = (uint32_t)json_len(l->d, *t);
	return take_items(l, *n);
}

/* Array of strings. */
static int get_strlist(struct ld *l, int obj, const char *key, const struct slice **out,
		       uint32_t *n)
{
	int arr, v;
	*out = NULL;
	if (get_array(l, obj, key, &arr, n) < 0 || *n == 0)
		return l->rc;
	struct slice *items = lalloc(l, *n, sizeof *items);
	if (!items)
		return l->rc;
	size_t m = push_c(l, key);
	for (uint32_t i = 0; i < *n && !l->rc; i++) {
		v = json_arr_get(l->d, arr, i);
		size_t mi = push_idx(l, i);
		copy_str(l, v, &items[i]);
		pop(l, mi);
	}
	pop(l, m);
	*out = items;
	return l->rc;
}

static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token(struct slice s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!is_tchar((unsigned char)s.p[i]))
			return false;
	return true;
}

/* Field value: no CR, LF, NUL (RFC 9110 §5.5). */
static bool is_field_value(struct slice s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

/* Object of header name -> string value. */
static int get_headers(struct ld *l, int obj, const char *key, const struct proxy_kv **out,
		       uint32_t *n)
{
	struct json_iter it;
	int k, v;
	*out = NULL;
	*n = 0;
	int t = member(l, obj, key);
	if (t == -ERR_NOTFOUND)
		return 0;
	size_t m = push_c(l, key);
	if (json_typeof(l->d, t) != JSON_OBJECT) {
		lfail(l, -ERR_PROXY_CONFIG, "expected an object of header names and values");
		goto out;
	}
	*n = (uint32_t)json_len(l->d, t);
	if (*n == 0 || take_items(l, *n) < 0)
		goto out;
	struct proxy_kv *kv = lalloc(l, *n, sizeof *kv);
	if (!kv)
		goto out;
	json_iter_begin(l->d, t, &it);
	for (uint32_t i = 0; (v = json_iter_next(l->d, &it, &k)) >= 0 && !l->rc; i++) {
		copy_str(l, k, &kv[i].name);
		size_t mi = push(l, kv[i].name);
		if (!is_token(kv[i].name))
			lfail(l, -ERR_PROXY_CONFIG, "not a valid header name");
		else if (copy_str(l, v, &kv[i].value) == 0 && !is_field_value(kv[i].value))
			lfail(l, -ERR_PROXY_CONFIG, "control character in header value");
		pop(l, mi);
	}
	*out = kv;
out:
	pop(l, m);
	return l->rc;
}

static int get_cidrs(struct ld *l, int obj, const char *key, struct proxy_whitelist *wl)
{
	int arr;
	uint32_t n;
	wl->cidr = NULL;
	wl->n = 0;
	if (get_array(l, obj, key, &arr, &n) < 0 || n == 0)
		return l->rc;
	struct proxy_cidr *c = lalloc(l, n, sizeof *c);
	if (!c)
		return l->rc;
	size_t m = push_c(l, key);
	for (uint32_t i = 0; i < n && !l->rc; i++) {
		int v = json_arr_get(l->d, arr, i);
		char buf[64];
		size_t mi = push_idx(l, i);
		int len = json_get_str(l->d, v, buf, sizeof buf);
		if (len < 0 || proxy_cidr_parse((struct slice){buf, (size_t)len}, &c[i]) < 0)
			lfail(l, -ERR_PROXY_CONFIG, "not an IP address or CIDR range");
		pop(l, mi);
	}
	pop(l, m);
	wl->cidr = c;
	wl->n = n;
	return l->rc;
}

/* Entry point names -> mask. */
static int ep_lookup(struct ld *l, struct slice name)
{
	return proxy_table_entrypoint(l->t, name);
}

static int get_ep_mask(struct ld *l, int obj, const char *key, uint64_t *mask, bool *present)
{
	int arr;
	uint32_t n;
	*mask = 0;
	*present = false;
	if (get_array(l, obj, key, &arr, &n) < 0)
		return l->rc;
	*present = arr >= 0;
	size_t m = push_c(l, key);
	for (uint32_t i = 0; i < n && !l->rc; i++) {
		int v = json_arr_get(l->d, arr, i);
		char buf[PROXY_NAME_MAX + 1];
		size_t mi = push_idx(l, i);
		int len = json_get_str(l->d, v, buf, sizeof buf);
		int e = len < 0 ? -1 : ep_lookup(l, (struct slice){buf, (size_t)len});
		if (len < 0 && json_typeof(l->d, v) != JSON_STRING)
			lfail(l, -ERR_PROXY_CONFIG, "expected an entry point name");
		else if (e < 0) {
			char tmp[64];
			sanitize(tmp, sizeof tmp, buf, len < 0 ? 0 : (size_t)len);
			lfail(l, -ERR_PROXY_CONFIG, "unknown entry point \"%s\"", tmp);
		} else {
			*mask |= 1ull << e;
		}
		pop(l, mi);
	}
	pop(l, m);
	return l->rc;
}

/* ==== certificates ========================================================================== */

struct pem_scan {
	int kind; /* 0 certificate(s), 1 private key */
	int objects;
	bool bad;
	bool leaf_done;
	int key_type;
	br_x509_decoder_context x509;  /* the leaf */
	br_x509_decoder_context other; /* any further certificate */
	br_skey_decoder_context skey;
};

static void pem_to_x509(void *ctx, const void *data, size_t len)
{
	struct pem_scan *s = ctx;
	br_x509_decoder_push(&s->x509, data, len);
}

static void pem_to_other(void *ctx, const void *data, size_t len)
{
	struct pem_scan *s = ctx;
	br_x509_decoder_push(&s->other, data, len);
}

static void pem_to_skey(void *ctx, const void *data, size_t len)
{
	struct pem_scan *s = ctx;
	br_skey_decoder_push(&s->skey, data, len);
}

/* Decode every PEM object of pem: certificates are checked as X.509 (the first one is kept
 * in s->x509 as the leaf), keys with the private key decoder. */
static void pem_scan(struct pem_scan *s, struct slice pem)
{
	br_pem_decoder_context pc;
	const unsigned char *p = (const unsigned char *)pem.p;
	size_t len = pem.len;
	bool in_obj = false, want = false;

	br_pem_decoder_init(&pc);
	/* BearSSL's PEM decoder needs the END line terminated; feed a final newline. */
	for (int pass = 0; pass < 2 && !s->bad; pass++) {
		if (pass == 1) {
			p = (const unsigned char *)"\n";
			len = 1;
		}
		while (len > 0 && !s->bad) {
			size_t k = br_pem_decoder_push(&pc, p, len);
			p += k;
			len -= k;
			switch (br_pem_decoder_event(&pc)) {
			case BR_PEM_BEGIN_OBJ: {
				const char *name = br_pem_decoder_name(&pc);
				in_obj = true;
				want = false;
				if (s->kind == 0 && strcmp(name, "CERTIFICATE") == 0) {
					want = true;
					if (!s->leaf_done) {
						br_x509_decoder_init(&s->x509, 0, 0);
						br_pem_decoder_setdest(&pc, pem_to_x509, s);
					} else {
						br_x509_decoder_init(&s->other, 0, 0);
						br_pem_decoder_setdest(&pc, pem_to_other, s);
					}
				} else if (s->kind == 1 && (strcmp(name, "EC PRIVATE KEY") == 0 ||
							    strcmp(name, "RSA PRIVATE KEY") == 0 ||
							    strcmp(name, "PRIVATE KEY") == 0)) {
					want = true;
					if (s->objects > 0) {
						s->bad = true; /* one key only */
						break;
					}
					br_skey_decoder_init(&s->skey);
					br_pem_decoder_setdest(&pc, pem_to_skey, s);
				} else {
					br_pem_decoder_setdest(&pc, 0, 0);
				}
				break;
			}
			case BR_PEM_END_OBJ:
				if (in_obj && want) {
					if (s->kind == 0 && !s->leaf_done) {
						s->bad |=
							br_x509_decoder_last_error(&s->x509) != 0 ||
							!br_x509_decoder_get_pkey(&s->x509);
						s->leaf_done = true;
					} else if (s->kind == 0) {
						s->bad |=
							br_x509_decoder_last_error(&s->other) != 0;
					} else {
						s->bad |= br_skey_decoder_last_error(&s->skey) != 0;
						s->key_type = br_skey_decoder_key_type(&s->skey);
					}
					s->objects++;
				}
				in_obj = false;
				break;
			case BR_PEM_ERROR: s->bad = true; break;
			default: break;
			}
		}
	}
	if (in_obj)
		s->bad = true;
}

static int take_cert(struct ld *l, size_t bytes, uint32_t count)
{
	if (count > l->lim->max_certs - l->certs)
		return lfail(l, -ERR_PROXY_CERTS_FULL, "more than max_certs (%u) certificates",
			     (unsigned)l->lim->max_certs);
	if (bytes > l->lim->max_cert_bytes - l->cert_bytes)
		return lfail(l, -ERR_PROXY_CERT_TOO_LARGE,
			     "certificates over max_cert_bytes (%zu bytes)",
			     l->lim->max_cert_bytes);
	l->certs += count;
	l->cert_bytes += bytes;
	return 0;
}

/* Does the private key belong to the leaf certificate? */
static bool key_matches(struct pem_scan *cs, struct pem_scan *ks)
{
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&cs->x509);
	if (!pk || pk->key_type != ks->key_type)
		return false;
	if (pk->key_type == BR_KEYTYPE_EC) {
		const br_ec_private_key *sk = br_skey_decoder_get_ec(&ks->skey);
		unsigned char buf[BR_EC_KBUF_PUB_MAX_SIZE];
		br_ec_public_key pub;
		if (sk->curve != pk->key.ec.curve)
			return false;
		size_t n = br_ec_compute_pub(br_ec_get_default(), &pub, buf, sk);
		return n && n == pk->key.ec.qlen && memcmp(buf, pk->key.ec.q, n) == 0;
	}
	if (pk->key_type == BR_KEYTYPE_RSA) {
		const br_rsa_private_key *sk = br_skey_decoder_get_rsa(&ks->skey);
		unsigned char buf[512];
		br_rsa_compute_modulus mod = br_rsa_compute_modulus_get_default();
		if ((sk->n_bitlen + 7) / 8 > sizeof buf)
			return false;
		size_t n = mod(buf, sk);
		const unsigned char *q = pk->key.rsa.n;
		size_t qlen = pk->key.rsa.nlen;
		while (qlen && *q == 0) {
			q++;
			qlen--;
		}
		const unsigned char *b = buf;
		while (n && *b == 0) {
			b++;
			n--;
		}
		return n == qlen && memcmp(b, q, n) == 0;
	}
	return false;
}

/* A certificate chain with its key: object {certFile, keyFile} (inline PEM). */
static int get_pem_pair(struct ld *l, int obj, struct proxy_pem_pair *pair)
{
	static const char *const keys[] = {"certFile", "keyFile", NULL};
	struct pem_scan cs, ks;
	if (check_obj(l, obj, keys) < 0 || get_str(l, obj, "certFile", true, &pair->cert) < 0 ||
	    get_str(l, obj, "keyFile", true, &pair->key) < 0)
		return l->rc;
	if (take_cert(l, pair->cert.len + pair->key.len, 1) < 0)
		return l->rc;
	memset(&cs, 0, sizeof cs);
	memset(&ks, 0, sizeof ks);
	cs.kind = 0;
	ks.kind = 1;
	pem_scan(&cs, pair->cert);
	size_t m;
	if (cs.bad || cs.objects == 0) {
		m = push_c(l, "certFile");
		lfail(l, -ERR_PROXY_CONFIG, "not a PEM certificate (inline PEM is required)");
		pop(l, m);
		return l->rc;
	}
	pem_scan(&ks, pair->key);
	m = push_c(l, "keyFile");
	if (ks.bad || ks.objects != 1)
		lfail(l, -ERR_PROXY_CONFIG, "not a PEM private key (inline PEM is required)");
	else if (!key_matches(&cs, &ks))
		lfail(l, -ERR_PROXY_CONFIG, "private key does not match the certificate");
	pop(l, m);
	return l->rc;
}

/* Certificates only (CA bundles). */
static int check_cert_pem(struct ld *l, struct slice pem)
{
	struct pem_scan cs;
	memset(&cs, 0, sizeof cs);
	pem_scan(&cs, pem);
	if (cs.bad || cs.objects == 0)
		return lfail(l, -ERR_PROXY_CONFIG,
			     "not a PEM certificate (inline PEM is required)");
	return 0;
}

/* ==== entry points ========================================================================== */

static int get_redirect(struct ld *l, int obj, int self, struct proxy_redirect *r)
{
	static const char *const keys[] = {"entryPoint", "regex", "replacement", "permanent", NULL};
	struct slice ep;
	r->entrypoint = -1;
	r->re = NULL;
	r->regex = r->replacement = empty;
	r->permanent = false;
	int t = member(l, obj, "redirect");
	if (t == -ERR_NOTFOUND)
		return 0;
	size_t m = push_c(l, "redirect");
	if (check_obj(l, t, keys) < 0 || get_str(l, t, "entryPoint", false, &ep) < 0 ||
	    get_str(l, t, "regex", false, &r->regex) < 0 ||
	    get_str(l, t, "replacement", false, &r->replacement) < 0 ||
	    get_bool(l, t, "permanent", false, &r->permanent) < 0)
		goto out;
	if (ep.len) {
		size_t me = push_c(l, "entryPoint");
		int e = ep_lookup(l, ep);
		if (e < 0)
			lfail(l, -ERR_PROXY_CONFIG, "unknown entry point \"%s\"", ep.p);
		else if (e == self)
			lfail(l, -ERR_PROXY_CONFIG, "an entry point cannot redirect to itself");
		r->entrypoint = e;
		pop(l, me);
	} else if (r->regex.len) {
		char msg[96];
		size_t mr = push_c(l, "regex");
		if (r->replacement.len == 0) {
			pop(l, mr);
			push_c(l, "replacement");
			lfail(l, -ERR_PROXY_CONFIG, "required with regex");
		} else {
			int rc =
				proxy_re_compile(r->regex, PROXY_RE_CAPTURE, PROXY_RE_CAP_MAX_INSTS,
						 l->a, &r->re, msg, sizeof msg);
			if (rc < 0)
				lfail(l, rc == -ERR_PROXY_RULE ? -ERR_PROXY_CONFIG : rc, "%s", msg);
			else if (r->re->ninst > l->lim->max_regex_insts - l->insts)
				lfail(l, -ERR_PROXY_REGEX_TOO_BIG,
				      "regexps over max_regex_insts (%u instructions)",
				      (unsigned)l->lim->max_regex_insts);
			else
				l->insts += r->re->ninst;
		}
		pop(l, mr);
	} else if (r->replacement.len) {
		size_t mr = push_c(l, "regex");
		lfail(l, -ERR_PROXY_CONFIG, "required with replacement");
		pop(l, mr);
	}
out:
	pop(l, m);
	return l->rc;
}

static int get_whitelist(struct ld *l, int obj, struct proxy_whitelist *wl)
{
	static const char *const keys[] = {"sourceRange", "useXForwardedFor", NULL};
	memset(wl, 0, sizeof *wl);
	int t = member(l, obj, "whitelist");
	int t2 = member(l, obj, "whiteList");
	const char *name = "whitelist";
	if (t >= 0 && t2 >= 0) {
		size_t m = push_c(l, "whiteList");
		lfail(l, -ERR_PROXY_CONFIG, "give either whitelist or whiteList");
		pop(l, m);
		return l->rc;
	}
	if (t2 >= 0) {
		t = t2;
		name = "whiteList";
	}
	if (t < 0)
		return 0;
	size_t m = push_c(l, name);
	if (check_obj(l, t, keys) == 0 && get_cidrs(l, t, "sourceRange", wl) == 0)
		get_bool(l, t, "useXForwardedFor", false, &wl->use_xff);
	pop(l, m);
	return l->rc;
}

static int get_users(struct ld *l, int obj, const char *key, int colons, const struct slice **out,
		     uint32_t *n)
{
	if (get_strlist(l, obj, key, out, n) < 0)
		return l->rc;
	size_t m = push_c(l, key);
	for (uint32_t i = 0; i < *n && !l->rc; i++) {
		/* Hash formats are checked here, once, not per request (proxy-auth.md). */
		const char *why = colons == 1 ? proxy_auth_basic_line_error((*out)[i])
					      : proxy_auth_digest_line_error((*out)[i]);
		if (why) {
			size_t mi = push_idx(l, i);
			lfail(l, -ERR_PROXY_CONFIG, "%s", why);
			pop(l, mi);
		}
	}
	pop(l, m);
	return l->rc;
}

static int get_auth(struct ld *l, int obj, struct proxy_auth *au)
{
	static const char *const keys[] = {"basic", "digest", "forward", "headerField", NULL};
	static const char *const bkeys[] = {"users", "usersFile", "removeHeader", NULL};
	static const char *const fkeys[] = {"address", "trustForwardHeader", "authResponseHeaders",
					    "tls", NULL};
	static const char *const tkeys[] = {"ca",  "caOptional",         "cert",
					    "key", "insecureSkipVerify", NULL};
	memset(au, 0, sizeof *au);
	au->header_field = au->forward_address = empty;
	au->forward_tls_ca = au->forward_tls_cert = au->forward_tls_key = empty;
	int t = member(l, obj, "auth");
	if (t == -ERR_NOTFOUND)
		return 0;
	size_t m = push_c(l, "auth");
	if (check_obj(l, t, keys) < 0 || get_str(l, t, "headerField", false, &au->header_field) < 0)
		goto out;
	if (au->header_field.len && !is_token(au->header_field)) {
		size_t mh = push_c(l, "headerField");
		lfail(l, -ERR_PROXY_CONFIG, "not a valid header name");
		pop(l, mh);
		goto out;
	}
	for (int kind = 0; kind < 2; kind++) {
		const char *name = kind ? "digest" : "basic";
		int b = member(l, t, name);
		if (b < 0)
			continue;
		size_t mb = push_c(l, name);
		if (check_obj(l, b, bkeys) == 0) {
			if (member(l, b, "usersFile") >= 0) {
				size_t mu = push_c(l, "usersFile");
				lfail(l, -ERR_PROXY_CONFIG,
				      "files are not read by data nodes: inline the users");
				pop(l, mu);
			} else if (kind == 0) {
				if (get_users(l, b, "users", 1, &au->basic, &au->nbasic) == 0)
					get_bool(l, b, "removeHeader", false,
						 &au->basic_remove_header);
			} else {
				if (get_users(l, b, "users", 2, &au->digest, &au->ndigest) == 0)
					get_bool(l, b, "removeHeader", false,
						 &au->digest_remove_header);
			}
		}
		pop(l, mb);
		if (l->rc)
			goto out;
	}
	int f = member(l, t, "forward");
	if (f >= 0) {
		size_t mf = push_c(l, "forward");
		if (check_obj(l, f, fkeys) == 0 &&
		    get_str(l, f, "address", true, &au->forward_address) == 0 &&
		    get_bool(l, f, "trustForwardHeader", false, &au->forward_trust_header) == 0 &&
		    get_strlist(l, f, "authResponseHeaders", &au->forward_response_headers,
				&au->nforward_response_headers) == 0) {
			int tt = member(l, f, "tls");
			if (tt >= 0) {
				size_t mt = push_c(l, "tls");
				if (check_obj(l, tt, tkeys) == 0 &&
				    get_str(l, tt, "ca", false, &au->forward_tls_ca) == 0 &&
				    get_str(l, tt, "cert", false, &au->forward_tls_cert) == 0 &&
				    get_str(l, tt, "key", false, &au->forward_tls_key) == 0 &&
				    get_bool(l, tt, "caOptional", false,
					     &au->forward_tls_ca_optional) == 0 &&
				    get_bool(l, tt, "insecureSkipVerify", false,
					     &au->forward_tls_insecure) == 0) {
					if (au->forward_tls_ca.len) {
						size_t mc = push_c(l, "ca");
						if (take_cert(l, au->forward_tls_ca.len, 1) == 0)
							check_cert_pem(l, au->forward_tls_ca);
						pop(l, mc);
					}
					if (!l->rc &&
					    (au->forward_tls_cert.len || au->forward_tls_key.len)) {
						struct proxy_pem_pair pp;
						/* Checked as a pair through a temporary object
						 * view: the strings are already copied. */
						if (!au->forward_tls_cert.len ||
						    !au->forward_tls_key.len) {
							lfail(l, -ERR_PROXY_CONFIG,
							      "cert and key go together");
						} else {
							pp.cert = au->forward_tls_cert;
							pp.key = au->forward_tls_key;
							struct pem_scan cs, ks;
							memset(&cs, 0, sizeof cs);
							memset(&ks, 0, sizeof ks);
							ks.kind = 1;
							if (take_cert(l, pp.cert.len + pp.key.len,
								      1) == 0) {
								pem_scan(&cs, pp.cert);
								pem_scan(&ks, pp.key);
								if (cs.bad || !cs.objects ||
								    ks.bad || ks.objects != 1 ||
								    !key_matches(&cs, &ks))
									lfail(l, -ERR_PROXY_CONFIG,
									      "cert/key: not a "
									      "matching "
									      "PEM certificate and "
									      "key");
							}
						}
					}
				}
				pop(l, mt);
			}
		}
		pop(l, mf);
	}
out:
	pop(l, m);
	au->enabled = !l->rc && (au->nbasic || au->ndigest || au->forward_address.len);
	return l->rc;
}

static int get_trust(struct ld *l, int obj, const char *key, struct proxy_whitelist *wl,
		     bool *present, bool *insecure, bool dflt_insecure)
{
	static const char *const keys[] = {"trustedIPs", "insecure", NULL};
	memset(wl, 0, sizeof *wl);
	*present = false;
	*insecure = dflt_insecure;
	int t = member(l, obj, key);
	if (t == -ERR_NOTFOUND)
		return 0;
	*present = true;
	size_t m = push_c(l, key);
	if (check_obj(l, t, keys) == 0 && get_cidrs(l, t, "trustedIPs", wl) == 0)
		get_bool(l, t, "insecure", dflt_insecure && wl->n == 0, insecure);
	pop(l, m);
	return l->rc;
}

static int parse_tls_version(struct slice v, uint16_t *out)
{
	static const struct {
		const char *name;
		uint16_t v;
	} tab[] = {{"VersionTLS10", PROXY_TLS10},
		   {"VersionTLS11", PROXY_TLS11},
		   {"VersionTLS12", PROXY_TLS12},
		   {"VersionTLS13", PROXY_TLS13}};
	if (v.len == 0) {
		*out = PROXY_TLS_DEFAULT;
		return 0;
	}
	for (size_t k = 0; k < sizeof tab / sizeof tab[0]; k++)
		if (slice_eq_cstr_ci(v, tab[k].name)) {
			*out = tab[k].v;
			return 0;
		}
	return -ERR_PARSE;
}

static int get_ep_tls(struct ld *l, int t, struct proxy_entrypoint *e)
{
	static const char *const keys[] = {
		"minVersion",         "cipherSuites", "sniStrict", "certificates",
		"defaultCertificate", "clientCA",     NULL};
	static const char *const ckeys[] = {"files", "optional", NULL};
	struct slice minv;
	int arr;
	uint32_t n;
	size_t m = push_c(l, "tls");
	e->tls = true;
	if (check_obj(l, t, keys) < 0 || get_str(l, t, "minVersion", false, &minv) < 0 ||
	    get_bool(l, t, "sniStrict", false, &e->sni_strict) < 0 ||
	    get_strlist(l, t, "cipherSuites", &e->cipher_suites, &e->ncipher_suites) < 0)
		goto out;
	/* We serve TLS 1.2 only (src/tls): it satisfies a minimum of 1.0, 1.1 or 1.2; a
	 * minimum of 1.3 cannot be met, so the document is refused rather than served below it. */
	int vr = parse_tls_version(minv, &e->min_version);
	if (vr < 0 || e->min_version == PROXY_TLS13) {
		size_t mv = push_c(l, "minVersion");
		if (vr < 0)
			lfail(l, -ERR_PROXY_CONFIG,
			      "expected VersionTLS10, VersionTLS11 or VersionTLS12");
		else
			lfail(l, -ERR_PROXY_CONFIG, "VersionTLS13 is not supported (TLS 1.2 only)");
		pop(l, mv);
		goto out;
	}
	/* cipherSuites: Go crypto/tls names. A name Go never had is refused; real suites we do
	 * not serve are dropped (the engine warns at each load, proxy_engine.c) as long as one
	 * we serve remains; gen_build_tls restricts the server to those. */
	uint32_t nserved = 0;
	for (uint32_t i = 0; i < e->ncipher_suites; i++) {
		const struct tls_suite_info *si =
			tls_suite_by_go_name(e->cipher_suites[i].p, e->cipher_suites[i].len);
		if (!si) {
			char tmp[72];
			sanitize(tmp, sizeof tmp, e->cipher_suites[i].p, e->cipher_suites[i].len);
			size_t mc = push_c(l, "cipherSuites");
			push_idx(l, i);
			lfail(l, -ERR_PROXY_CONFIG, "unknown cipher suite \"%s\"", tmp);
			pop(l, mc);
			goto out;
		}
		nserved += si->supported;
	}
	if (e->ncipher_suites && !nserved) {
		size_t mc = push_c(l, "cipherSuites");
		lfail(l, -ERR_PROXY_CONFIG,
		      "no supported cipher suite listed (supported: " TLS_SUITES_SUPPORTED_TEXT
		      ")");
		pop(l, mc);
		goto out;
	}
	if (get_array(l, t, "certificates", &arr, &n) < 0)
		goto out;
	if (n) {
		struct proxy_pem_pair *pp = lalloc(l, n, sizeof *pp);
		if (!pp)
			goto out;
		size_t mc = push_c(l, "certificates");
		for (uint32_t i = 0; i < n && !l->rc; i++) {
			size_t mi = push_idx(l, i);
			get_pem_pair(l, json_arr_get(l->d, arr, i), &pp[i]);
			pop(l, mi);
		}
		pop(l, mc);
		e->certs = pp;
		e->ncerts = n;
		if (l->rc)
			goto out;
	}
	e->default_cert.cert = e->default_cert.key = empty;
	int dc = member(l, t, "defaultCertificate");
	if (dc >= 0) {
		size_t md = push_c(l, "defaultCertificate");
		get_pem_pair(l, dc, &e->default_cert);
		pop(l, md);
		if (l->rc)
			goto out;
	}
	int ca = member(l, t, "clientCA");
	if (ca >= 0) {
		size_t mc = push_c(l, "clientCA");
		if (check_obj(l, ca, ckeys) == 0 &&
		    get_strlist(l, ca, "files", &e->client_ca, &e->nclient_ca) == 0 &&
		    get_bool(l, ca, "optional", false, &e->client_ca_optional) == 0) {
			for (uint32_t i = 0; i < e->nclient_ca && !l->rc; i++) {
				size_t mf = push_c(l, "files");
				push_idx(l, i);
				if (take_cert(l, e->client_ca[i].len, 1) == 0)
					check_cert_pem(l, e->client_ca[i]);
				pop(l, mf);
			}
		}
		pop(l, mc);
	}
out:
	pop(l, m);
	return l->rc;
}

static int load_entrypoint(struct ld *l, int t, uint32_t idx)
{
	static const char *const keys[] = {
		"address",  "tls",           "redirect",         "whitelist", "whiteList",
		"compress", "proxyProtocol", "forwardedHeaders", "auth",      NULL};
	struct proxy_entrypoint *e = &l->ep[idx];
	bool present;
	if (check_obj(l, t, keys) < 0 || get_str(l, t, "address", true, &e->address) < 0)
		return l->rc;
	if (proxy_addr_parse(e->address, &e->ip, &e->any_addr, &e->port) < 0) {
		size_t m = push_c(l, "address");
		lfail(l, -ERR_PROXY_CONFIG,
		      "expected [host]:port (\":80\", \"10.0.0.1:80\", "
		      "\"[::1]:443\")");
		pop(l, m);
		return l->rc;
	}
	int tls = member(l, t, "tls");
	if (tls >= 0 && get_ep_tls(l, tls, e) < 0)
		return l->rc;
	if (get_bool(l, t, "compress", false, &e->compress) < 0 ||
	    get_redirect(l, t, (int)idx, &e->redirect) < 0 ||
	    get_whitelist(l, t, &e->whitelist) < 0 ||
	    get_trust(l, t, "proxyProtocol", &e->proxy_protocol, &e->proxy_protocol_enabled,
		      &e->proxy_protocol_insecure, false) < 0 ||
	    get_trust(l, t, "forwardedHeaders", &e->forwarded_headers, &present,
		      &e->forwarded_headers_insecure, true) < 0 ||
	    get_auth(l, t, &e->auth) < 0)
		return l->rc;
	if (!present)
		e->forwarded_headers_insecure = true;
	return 0;
}

/* ==== backends ============================================================================== */

static int parse_url(struct slice u, struct proxy_server *s)
{
	struct slice rest;
	struct slice scheme = slice_cut(u, ':', &rest);
	if (!rest.p || rest.len < 2 || rest.p[0] != '/' || rest.p[1] != '/')
		return -ERR_PARSE;
	if (slice_eq_cstr_ci(scheme, "http"))
		s->scheme = PROXY_SCHEME_HTTP;
	else if (slice_eq_cstr_ci(scheme, "https"))
		s->scheme = PROXY_SCHEME_HTTPS;
	else if (slice_eq_cstr_ci(scheme, "h2c"))
		s->scheme = PROXY_SCHEME_H2C;
	else
		return -ERR_PARSE;
	rest.p += 2;
	rest.len -= 2;
	size_t alen = 0;
	while (alen < rest.len && rest.p[alen] != '/' && rest.p[alen] != '?' && rest.p[alen] != '#')
		alen++;
	struct slice auth = {rest.p, alen};
	struct slice host, port = {NULL, 0};
	if (alen == 0 || memchr(auth.p, '@', auth.len))
		return -ERR_PARSE;
	if (auth.p[0] == '[') {
		const char *rb = memchr(auth.p, ']', auth.len);
		if (!rb)
			return -ERR_PARSE;
		host = (struct slice){auth.p + 1, (size_t)(rb - auth.p) - 1};
		struct slice after = {rb + 1, auth.len - (size_t)(rb + 1 - auth.p)};
		if (after.len) {
			if (after.p[0] != ':')
				return -ERR_PARSE;
			port = (struct slice){after.p + 1, after.len - 1};
		}
		if (proxy_ip_parse(host, &s->ip) < 0 || !memchr(host.p, ':', host.len))
			return -ERR_PARSE;
		s->ip_literal = true;
	} else {
		host = slice_cut(auth, ':', &port);
		if (host.len == 0)
			return -ERR_PARSE;
		for (size_t i = 0; i < host.len; i++) {
			unsigned char c = (unsigned char)host.p[i];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			      (c >= 'A' && c <= 'Z') || c == '-' || c == '.' || c == '_'))
				return -ERR_PARSE;
		}
		s->ip_literal = proxy_ip_parse(host, &s->ip) == 0;
	}
	if (port.p) {
		if (proxy_port_parse(port, &s->port) < 0)
			return -ERR_PARSE;
	} else {
		s->port = s->scheme == PROXY_SCHEME_HTTPS ? 443 : 80;
	}
	s->host = host;
	s->authority = auth;
	return 0;
}

/* Cookie name of Traefik v1's stickiness when none is configured: "_" and the first five hex
 * digits of SHA-1(backend name), six characters in all (SPEC-FACTS §2.4: "_1d52e"). */
static int cookie_name(struct ld *l, struct slice backend, struct slice *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char sum[20];
	br_sha1_context sc;
	br_sha1_init(&sc);
	br_sha1_update(&sc, backend.p, backend.len);
	br_sha1_out(&sc, sum);
	assert(l->nchars + 7 <= l->capchars);
	char *d = l->chars + l->nchars;
	d[0] = '_';
	for (int k = 0; k < 5; k++)
		d[1 + k] = hex[(sum[k / 2] >> (k % 2 ? 0 : 4)) & 15];
	d[6] = 0;
	l->nchars += 7;
	*out = (struct slice){d, 6};
	return 0;
}

static int parse_extractor(struct slice v, uint8_t *ex, struct slice *header)
{
	*header = empty;
	if (v.len == 0 || slice_eq_cstr(v, "request.host")) {
		*ex = PROXY_EXTRACT_HOST;
		return 0;
	}
	if (slice_eq_cstr(v, "client.ip")) {
		*ex = PROXY_EXTRACT_CLIENT_IP;
		return 0;
	}
	struct slice pre = SLICE_LIT("request.header.");
	if (slice_starts_with(v, pre) && is_token((struct slice){v.p + pre.len, v.len - pre.len})) {
		*ex = PROXY_EXTRACT_HEADER;
		*header = (struct slice){v.p + pre.len, v.len - pre.len};
		return 0;
	}
	return -ERR_PARSE;
}

static int load_lb(struct ld *l, int t, struct proxy_backend *b)
{
	static const char *const keys[] = {"method", "sticky", "stickiness", NULL};
	static const char *const skeys[] = {"cookieName", "secure", "httpOnly", "sameSite", NULL};
	struct slice method, same;
	bool sticky_old;
	size_t m = push_c(l, "loadBalancer");
	if (check_obj(l, t, keys) < 0 || get_str(l, t, "method", false, &method) < 0 ||
	    get_bool(l, t, "sticky", false, &sticky_old) < 0)
		goto out;
	if (method.len == 0 || slice_eq_cstr_ci(method, "wrr")) {
		b->method = PROXY_LB_WRR;
	} else if (slice_eq_cstr_ci(method, "drr")) {
		b->method = PROXY_LB_DRR;
	} else {
		push_c(l, "method");
		lfail(l, -ERR_PROXY_CONFIG, "expected wrr or drr");
		goto out;
	}
	int s = member(l, t, "stickiness");
	if (s >= 0) {
		size_t ms = push_c(l, "stickiness");
		if (check_obj(l, s, skeys) == 0 &&
		    get_str(l, s, "cookieName", false, &b->cookie_name) == 0 &&
		    get_bool(l, s, "secure", false, &b->cookie_secure) == 0 &&
		    get_bool(l, s, "httpOnly", false, &b->cookie_http_only) == 0 &&
		    get_str(l, s, "sameSite", false, &same) == 0) {
			b->sticky = true;
			if (b->cookie_name.len && !is_token(b->cookie_name)) {
				push_c(l, "cookieName");
				lfail(l, -ERR_PROXY_CONFIG, "not a valid cookie name");
			} else if (same.len == 0) {
				b->cookie_same_site = PROXY_SAMESITE_UNSET;
			} else if (slice_eq_cstr_ci(same, "none")) {
				b->cookie_same_site = PROXY_SAMESITE_NONE;
			} else if (slice_eq_cstr_ci(same, "lax")) {
				b->cookie_same_site = PROXY_SAMESITE_LAX;
			} else if (slice_eq_cstr_ci(same, "strict")) {
				b->cookie_same_site = PROXY_SAMESITE_STRICT;
			} else {
				push_c(l, "sameSite");
				lfail(l, -ERR_PROXY_CONFIG, "expected none, lax or strict");
			}
		}
		pop(l, ms);
	} else if (sticky_old) {
		/* Deprecated loadBalancer.sticky: fixed cookie name (PR #2266). */
		b->sticky = true;
		b->cookie_name = SLICE_LIT("_TRAEFIK_BACKEND");
	}
out:
	pop(l, m);
	return l->rc;
}

static int load_health(struct ld *l, int t, struct proxy_backend *b)
{
	static const char *const keys[] = {"path",   "interval", "timeout", "port",
					   "scheme", "hostname", "headers", NULL};
	int64_t port;
	size_t m = push_c(l, "healthCheck");
	if (check_obj(l, t, keys) < 0 || get_str(l, t, "path", false, &b->hc_path) < 0 ||
	    get_duration(l, t, "interval", 30000, &b->hc_interval_ms) < 0 ||
	    get_duration(l, t, "timeout", 5000, &b->hc_timeout_ms) < 0 ||
	    get_int(l, t, "port", 0, 65535, 0, &port) < 0 ||
	    get_str(l, t, "scheme", false, &b->hc_scheme) < 0 ||
	    get_str(l, t, "hostname", false, &b->hc_hostname) < 0 ||
	    get_headers(l, t, "headers", &b->hc_headers, &b->nhc_headers) < 0)
		goto out;
	b->hc_port = (uint16_t)port;
	b->health = b->hc_path.len > 0;
	if (b->health && (b->hc_path.p[0] != '/' || !is_field_value(b->hc_path) ||
			  memchr(b->hc_path.p, ' ', b->hc_path.len))) {
		push_c(l, "path");
		lfail(l, -ERR_PROXY_CONFIG, "expected a path starting with /");
	} else if (b->health && (b->hc_interval_ms == 0 || b->hc_timeout_ms == 0)) {
		push_c(l, b->hc_interval_ms == 0 ? "interval" : "timeout");
		lfail(l, -ERR_PROXY_CONFIG, "must be at least 1ms");
	} else if (b->hc_scheme.len && !slice_eq_cstr_ci(b->hc_scheme, "http") &&
		   !slice_eq_cstr_ci(b->hc_scheme, "https")) {
		push_c(l, "scheme");
		lfail(l, -ERR_PROXY_CONFIG, "expected http or https");
	}
out:
	pop(l, m);
	return l->rc;
}

static int load_backend(struct ld *l, int t, uint32_t idx, uint32_t *next_srv)
{
	static const char *const keys[] = {
		"servers",        "loadBalancer", "healthCheck",        "maxConn",
		"circuitBreaker", "buffering",    "responseForwarding", NULL};
	struct proxy_backend *b = &l->be[idx];
	struct json_iter it;
	int k, v;

	b->cookie_name = b->maxconn_header = b->cb_expression = b->retry_expression = empty;
	b->hc_path = b->hc_scheme = b->hc_hostname = empty;
	b->hc_interval_ms = 30000;
	b->hc_timeout_ms = 5000;
	b->flush_interval_ms = -1;
	if (check_obj(l, t, keys) < 0)
		return l->rc;
	b->first_server = *next_srv;
	int servers = member(l, t, "servers");
	if (servers >= 0) {
		size_t m = push_c(l, "servers");
		if (json_typeof(l->d, servers) != JSON_OBJECT) {
			lfail(l, -ERR_PROXY_CONFIG, "expected an object of servers");
		} else {
			json_iter_begin(l->d, servers, &it);
			while ((v = json_iter_next(l->d, &it, &k)) >= 0 && !l->rc) {
				static const char *const skeys[] = {"url", "weight", NULL};
				struct proxy_server *s = &l->srv[*next_srv];
				int64_t w;
				copy_str(l, k, &s->name);
				size_t ms = push(l, s->name);
				s->backend = idx;
				if (check_obj(l, v, skeys) == 0 &&
				    get_str(l, v, "url", true, &s->url) == 0 &&
				    get_int(l, v, "weight", 0, 1000000, 1, &w) == 0) {
					s->weight = w ? (uint32_t)w : 1;
					if (parse_url(s->url, s) < 0) {
						push_c(l, "url");
						lfail(l, -ERR_PROXY_CONFIG,
						      "expected http://, https:// or h2c:// "
						      "host[:port]");
					}
					/* The URL is the sticky cookie's value: keep it a
					 * cookie-octet string (RFC 6265 §4.1.1). */
					for (size_t i = 0; i < s->url.len && !l->rc; i++) {
						unsigned char c = (unsigned char)s->url.p[i];
						if (c <= 0x20 || c >= 0x7f || c == '"' ||
						    c == ',' || c == ';' || c == '\\') {
							push_c(l, "url");
							lfail(l, -ERR_PROXY_CONFIG,
							      "character not allowed in a URL");
						}
					}
				}
				pop(l, ms);
				(*next_srv)++;
				b->nservers++;
			}
		}
		pop(l, m);
		if (l->rc)
			return l->rc;
	}
	int lb = member(l, t, "loadBalancer");
	if (lb >= 0 && load_lb(l, lb, b) < 0)
		return l->rc;
	if (b->sticky && b->cookie_name.len == 0)
		cookie_name(l, b->name, &b->cookie_name);
	int hc = member(l, t, "healthCheck");
	if (hc >= 0 && load_health(l, hc, b) < 0)
		return l->rc;
	int mc = member(l, t, "maxConn");
	if (mc >= 0) {
		static const char *const mkeys[] = {"amount", "extractorFunc", NULL};
		struct slice ex;
		int64_t amount;
		size_t m = push_c(l, "maxConn");
		if (check_obj(l, mc, mkeys) == 0 &&
		    get_int(l, mc, "amount", 0, INT64_MAX, 0, &amount) == 0 &&
		    get_str(l, mc, "extractorFunc", false, &ex) == 0) {
			b->maxconn = (uint64_t)amount;
			if (parse_extractor(ex, &b->maxconn_extractor, &b->maxconn_header) < 0) {
				push_c(l, "extractorFunc");
				lfail(l, -ERR_PROXY_CONFIG,
				      "expected request.host, client.ip or request.header.<Name>");
			}
		}
		pop(l, m);
		if (l->rc)
			return l->rc;
	}
	int cb = member(l, t, "circuitBreaker");
	if (cb >= 0) {
		static const char *const ckeys[] = {"expression", NULL};
		size_t m = push_c(l, "circuitBreaker");
		char why[160];
		if (check_obj(l, cb, ckeys) == 0 &&
		    get_str(l, cb, "expression", false, &b->cb_expression) == 0 &&
		    b->cb_expression.len &&
		    proxy_breaker_validate(b->cb_expression, why, sizeof why) < 0) {
			push_c(l, "expression"); /* proxy_breaker.h: oxy's expression language */
			lfail(l, -ERR_PROXY_CONFIG, "%s", why);
		}
		pop(l, m);
		if (l->rc)
			return l->rc;
	}
	int bu = member(l, t, "buffering");
	if (bu >= 0) {
		static const char *const bkeys[] = {"maxRequestBodyBytes",  "memRequestBodyBytes",
						    "maxResponseBodyBytes", "memResponseBodyBytes",
						    "retryExpression",      NULL};
		size_t m = push_c(l, "buffering");
		b->buffering = true;
		if (check_obj(l, bu, bkeys) == 0 &&
		    get_int(l, bu, "maxRequestBodyBytes", 0, INT64_MAX, 0, &b->max_request_body) ==
			    0 &&
		    get_int(l, bu, "memRequestBodyBytes", 0, INT64_MAX, 0, &b->mem_request_body) ==
			    0 &&
		    get_int(l, bu, "maxResponseBodyBytes", 0, INT64_MAX, 0,
			    &b->max_response_body) == 0 &&
		    get_int(l, bu, "memResponseBodyBytes", 0, INT64_MAX, 0,
			    &b->mem_response_body) == 0)
			get_str(l, bu, "retryExpression", false, &b->retry_expression);
		pop(l, m);
		if (l->rc)
			return l->rc;
	}
	int rf = member(l, t, "responseForwarding");
	if (rf >= 0) {
		static const char *const rkeys[] = {"flushInterval", NULL};
		uint64_t ms;
		size_t m = push_c(l, "responseForwarding");
		if (check_obj(l, rf, rkeys) == 0 &&
		    get_duration(l, rf, "flushInterval", UINT64_MAX, &ms) == 0)
			b->flush_interval_ms = ms == UINT64_MAX ? -1 : (int64_t)ms;
		pop(l, m);
	}
	return l->rc;
}

/* ==== frontends ============================================================================= */

static int get_fe_headers(struct ld *l, int obj, struct proxy_headers *h)
{
	static const char *const keys[] = {"customRequestHeaders",
					   "customResponseHeaders",
					   "sslProxyHeaders",
					   "allowedHosts",
					   "hostsProxyHeaders",
					   "sslRedirect",
					   "sslTemporaryRedirect",
					   "sslForceHost",
					   "sslHost",
					   "stsSeconds",
					   "stsIncludeSubdomains",
					   "stsPreload",
					   "forceSTSHeader",
					   "frameDeny",
					   "customFrameOptionsValue",
					   "contentTypeNosniff",
					   "browserXssFilter",
					   "customBrowserXSSValue",
					   "contentSecurityPolicy",
					   "publicKey",
					   "referrerPolicy",
					   "isDevelopment",
					   NULL};
	static const struct {
		const char *key;
		size_t off;
	} bools[] =
		{
			{"sslRedirect", offsetof(struct proxy_headers, ssl_redirect)},
			{"sslTemporaryRedirect",
			 offsetof(struct proxy_headers, ssl_temporary_redirect)},
			{"sslForceHost", offsetof(struct proxy_headers, ssl_force_host)},
			{"stsIncludeSubdomains",
			 offsetof(struct proxy_headers, sts_include_subdomains)},
			{"stsPreload", offsetof(struct proxy_headers, sts_preload)},
			{"forceSTSHeader", offsetof(struct proxy_headers, force_sts_header)},
			{"frameDeny", offsetof(struct proxy_headers, frame_deny)},
			{"contentTypeNosniff",
			 offsetof(struct proxy_headers, content_type_nosniff)},
			{"browserXssFilter", offsetof(struct proxy_headers, browser_xss_filter)},
			{"isDevelopment", offsetof(struct proxy_headers, is_development)},
		},
	  strs[] = {
		  {"sslHost", offsetof(struct proxy_headers, ssl_host)},
		  {"customFrameOptionsValue",
		   offsetof(struct proxy_headers, custom_frame_options_value)},
		  {"customBrowserXSSValue",
		   offsetof(struct proxy_headers, custom_browser_xss_value)},
		  {"contentSecurityPolicy",
		   offsetof(struct proxy_headers, content_security_policy)},
		  {"publicKey", offsetof(struct proxy_headers, public_key)},
		  {"referrerPolicy", offsetof(struct proxy_headers, referrer_policy)},
	  };
	memset(h, 0, sizeof *h);
	for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++)
		*(struct slice *)((char *)h + strs[k].off) = empty;
	int t = member(l, obj, "headers");
	if (t == -ERR_NOTFOUND)
		return 0;
	size_t m = push_c(l, "headers");
	if (check_obj(l, t, keys) < 0 ||
	    get_headers(l, t, "customRequestHeaders", &h->request, &h->nrequest) < 0 ||
	    get_headers(l, t, "customResponseHeaders", &h->response, &h->nresponse) < 0 ||
	    get_headers(l, t, "sslProxyHeaders", &h->ssl_proxy, &h->nssl_proxy) < 0 ||
	    get_strlist(l, t, "allowedHosts", &h->allowed_hosts, &h->nallowed_hosts) < 0 ||
	    get_strlist(l, t, "hostsProxyHeaders", &h->hosts_proxy_headers,
			&h->nhosts_proxy_headers) < 0 ||
	    get_int(l, t, "stsSeconds", 0, INT64_MAX, 0, &h->sts_seconds) < 0)
		goto out;
	for (size_t k = 0; k < sizeof bools / sizeof bools[0] && !l->rc; k++) {
		bool *b = (bool *)((char *)h + bools[k].off);
		get_bool(l, t, bools[k].key, false, b);
		h->secure |= *b;
	}
	for (size_t k = 0; k < sizeof strs / sizeof strs[0] && !l->rc; k++) {
		struct slice *s = (struct slice *)((char *)h + strs[k].off);
		if (get_str(l, t, strs[k].key, false, s) == 0 && !is_field_value(*s)) {
			push_c(l, strs[k].key);
			lfail(l, -ERR_PROXY_CONFIG, "control character in header value");
		}
		h->secure |= s->len > 0;
	}
	h->secure |= h->sts_seconds > 0 || h->nallowed_hosts > 0 || h->nssl_proxy > 0;
out:
	pop(l, m);
	return l->rc;
}

/* "500-599" or "404" */
static int parse_status_range(struct slice s, struct proxy_status_range *r)
{
	struct slice hi;
	struct slice lo = slice_cut(s, '-', &hi);
	uint64_t a, b;
	if (slice_to_u64(lo, 599, &a) < 0 || a < 100)
		return -ERR_PARSE;
	b = a;
	if (hi.p && (slice_to_u64(hi, 599, &b) < 0 || b < a))
		return -ERR_PARSE;
	r->lo = (uint16_t)a;
	r->hi = (uint16_t)b;
	return 0;
}

static int get_errors(struct ld *l, int obj, struct proxy_frontend *f)
{
	static const char *const keys[] = {"status", "backend", "query", NULL};
	struct json_iter it;
	int k, v;
	int t = member(l, obj, "errors");
	if (t == -ERR_NOTFOUND)
		return 0;
	size_t m = push_c(l, "errors");
	if (json_typeof(l->d, t) != JSON_OBJECT) {
		lfail(l, -ERR_PROXY_CONFIG, "expected an object of error pages");
		goto out;
	}
	uint32_t n = (uint32_t)json_len(l->d, t);
	if (n == 0 || take_items(l, n) < 0)
		goto out;
	struct proxy_error_page *pages = lalloc(l, n, sizeof *pages);
	if (!pages)
		goto out;
	json_iter_begin(l->d, t, &it);
	for (uint32_t i = 0; (v = json_iter_next(l->d, &it, &k)) >= 0 && !l->rc; i++) {
		struct proxy_error_page *p = &pages[i];
		struct slice be;
		int arr;
		uint32_t ns;
		copy_str(l, k, &p->name);
		size_t mp = push(l, p->name);
		if (check_obj(l, v, keys) == 0 && get_str(l, v, "backend", true, &be) == 0 &&
		    get_str(l, v, "query", false, &p->query) == 0 &&
		    get_array(l, v, "status", &arr, &ns) == 0) {
			int bi = proxy_table_backend(l->t, be);
			if (bi < 0) {
				push_c(l, "backend");
				lfail(l, -ERR_PROXY_CONFIG, "unknown backend \"%s\"", be.p);
			} else if (ns == 0) {
				push_c(l, "status");
				lfail(l, -ERR_PROXY_CONFIG, "required");
			} else {
				struct proxy_status_range *r = lalloc(l, ns, sizeof *r);
				p->backend = (uint32_t)bi;
				p->status = r;
				p->nstatus = ns;
				push_c(l, "status");
				for (uint32_t j = 0; r && j < ns && !l->rc; j++) {
					char buf[16];
					int len = json_get_str(l->d, json_arr_get(l->d, arr, j),
							       buf, sizeof buf);
					if (len < 0 ||
					    parse_status_range((struct slice){buf, (size_t)len},
							       &r[j]) < 0) {
						push_idx(l, j);
						lfail(l, -ERR_PROXY_CONFIG,
						      "expected a status or a range (\"500-599\")");
					}
				}
			}
		}
		pop(l, mp);
	}
	f->errors = pages;
	f->nerrors = n;
out:
	pop(l, m);
	return l->rc;
}

static int get_ratelimit(struct ld *l, int obj, struct proxy_frontend *f)
{
	static const char *const keys[] = {"extractorFunc", "rateSet", NULL};
	static const char *const rkeys[] = {"period", "average", "burst", NULL};
	struct json_iter it;
	int k, v;
	struct slice ex;
	f->ratelimit_header = empty;
	int t = member(l, obj, "rateLimit");
	if (t == -ERR_NOTFOUND)
		return 0;
	size_t m = push_c(l, "rateLimit");
	if (check_obj(l, t, keys) < 0 || get_str(l, t, "extractorFunc", true, &ex) < 0)
		goto out;
	if (parse_extractor(ex, &f->ratelimit_extractor, &f->ratelimit_header) < 0) {
		push_c(l, "extractorFunc");
		lfail(l, -ERR_PROXY_CONFIG,
		      "expected request.host, client.ip or request.header.<Name>");
		goto out;
	}
	int rs = member(l, t, "rateSet");
	if (rs < 0 || json_typeof(l->d, rs) != JSON_OBJECT || json_len(l->d, rs) == 0) {
		push_c(l, "rateSet");
		lfail(l, -ERR_PROXY_CONFIG, "expected an object of rate sets");
		goto out;
	}
	uint32_t n = (uint32_t)json_len(l->d, rs);
	if (take_items(l, n) < 0)
		goto out;
	struct proxy_rateset *sets = lalloc(l, n, sizeof *sets);
	if (!sets)
		goto out;
	push_c(l, "rateSet");
	json_iter_begin(l->d, rs, &it);
	for (uint32_t i = 0; (v = json_iter_next(l->d, &it, &k)) >= 0 && !l->rc; i++) {
		copy_str(l, k, &sets[i].name);
		size_t mr = push(l, sets[i].name);
		if (check_obj(l, v, rkeys) == 0 &&
		    get_duration(l, v, "period", 0, &sets[i].period_ms) == 0 &&
		    get_int(l, v, "average", 0, INT64_MAX, 0, &sets[i].average) == 0 &&
		    get_int(l, v, "burst", 0, INT64_MAX, 0, &sets[i].burst) == 0) {
			if (sets[i].period_ms == 0) {
				push_c(l, "period");
				lfail(l, -ERR_PROXY_CONFIG, "must be at least 1ms");
			}
			for (uint32_t j = 0; j < i && !l->rc; j++)
				if (sets[j].period_ms == sets[i].period_ms) {
					push_c(l, "period");
					lfail(l, -ERR_PROXY_CONFIG, "periods must be unique");
				}
		}
		pop(l, mr);
	}
	f->ratesets = sets;
	f->nratesets = n;
out:
	pop(l, m);
	return l->rc;
}

static int get_ptc(struct ld *l, int obj, uint32_t *bits)
{
	static const char *const keys[] = {"pem", "infos", NULL};
	static const char *const ikeys[] = {"notAfter", "notBefore", "sans",
					    "subject",  "issuer",    NULL};
	static const char *const dn[] = {"commonName",   "country",  "domainComponent", "locality",
					 "organization", "province", "serialNumber",    NULL};
	bool b;
	*bits = 0;
	int t = member(l, obj, "passTLSClientCert");
	if (t == -ERR_NOTFOUND)
		return 0;
	size_t m = push_c(l, "passTLSClientCert");
	if (check_obj(l, t, keys) < 0 || get_bool(l, t, "pem", false, &b) < 0)
		goto out;
	*bits |= b ? PROXY_PTC_PEM : 0;
	int in = member(l, t, "infos");
	if (in >= 0) {
		push_c(l, "infos");
		if (check_obj(l, in, ikeys) < 0)
			goto out;
		const char *flat[] = {"notAfter", "notBefore", "sans"};
		for (int k = 0; k < 3; k++) {
			if (get_bool(l, in, flat[k], false, &b) < 0)
				goto out;
			*bits |= b ? (PROXY_PTC_NOT_AFTER << k) : 0;
		}
		for (int who = 0; who < 2; who++) {
			const char *name = who ? "issuer" : "subject";
			int s = member(l, in, name);
			if (s < 0)
				continue;
			size_t ms = push_c(l, name);
			if (check_obj(l, s, dn) < 0)
				goto out;
			for (int k = 0; dn[k]; k++) {
				if (get_bool(l, s, dn[k], false, &b) < 0)
					goto out;
				if (b)
					*bits |= 1u
						 << ((who ? PROXY_PTC_ISSUER : PROXY_PTC_SUBJECT) +
						     k);
			}
			pop(l, ms);
		}
	}
out:
	pop(l, m);
	return l->rc;
}

static int load_routes(struct ld *l, int obj, struct proxy_frontend *f)
{
	struct json_iter it;
	int k, v;
	int t = member(l, obj, "routes");
	size_t m = push_c(l, "routes");
	if (t == -ERR_NOTFOUND || json_typeof(l->d, t) != JSON_OBJECT || json_len(l->d, t) == 0) {
		lfail(l, -ERR_PROXY_CONFIG,
		      t == -ERR_NOTFOUND ? "required" : "expected an object of routes");
		goto out;
	}
	uint32_t n = (uint32_t)json_len(l->d, t);
	if (n > l->lim->max_routes - l->routes) {
		lfail(l, -ERR_PROXY_ROUTES_FULL, "more than max_routes (%u) routes in the document",
		      (unsigned)l->lim->max_routes);
		goto out;
	}
	l->routes += n;
	struct slice *names = lalloc(l, n, sizeof *names);
	struct slice *rules = lalloc(l, n, sizeof *rules);
	if (!names || !rules)
		goto out;
	json_iter_begin(l->d, t, &it);
	for (uint32_t i = 0; (v = json_iter_next(l->d, &it, &k)) >= 0 && !l->rc; i++) {
		static const char *const rkeys[] = {"rule", NULL};
		copy_str(l, k, &names[i]);
		size_t mr = push(l, names[i]);
		if (check_obj(l, v, rkeys) == 0)
			get_str(l, v, "rule", true, &rules[i]);
		pop(l, mr);
	}
	if (l->rc)
		goto out;
	f->route_names = names;
	f->route_rules = rules;
	f->nroutes = n;
	struct proxy_rule_opts opts = {l->lim->max_rule_bytes, PROXY_RE_MAX_INSTS};
	struct proxy_rule_err rerr;
	int rc = proxy_rule_compile(rules, n, &opts, l->a, &f->rule, &rerr);
	if (rc < 0) {
		push(l, names[rerr.route < n ? rerr.route : 0]);
		push_c(l, "rule");
		if (rc == -ERR_ARENA_FULL)
			lfail(l, rc, "arena full (size it with proxy_table_bytes)");
		else
			lfail(l, rc, "%s", rerr.msg);
		goto out;
	}
	if (f->rule.nval > l->lim->max_matchers - l->matchers) {
		lfail(l, -ERR_PROXY_MATCHERS_FULL,
		      "more than max_matchers (%u) rule values in the document",
		      (unsigned)l->lim->max_matchers);
		goto out;
	}
	l->matchers += f->rule.nval;
	if (f->rule.ninsts > l->lim->max_regex_insts - l->insts) {
		lfail(l, -ERR_PROXY_REGEX_TOO_BIG,
		      "regexps over max_regex_insts (%u instructions) in the document",
		      (unsigned)l->lim->max_regex_insts);
		goto out;
	}
	l->insts += f->rule.ninsts;
out:
	pop(l, m);
	return l->rc;
}

static int load_frontend(struct ld *l, int t, struct proxy_frontend *f)
{
	static const char *const keys[] = {"entryPoints",
					   "backend",
					   "routes",
					   "priority",
					   "passHostHeader",
					   "passTLSCert",
					   "passTLSClientCert",
					   "headers",
					   "redirect",
					   "whitelist",
					   "whiteList",
					   "auth",
					   "errors",
					   "rateLimit",
					   NULL};
	struct slice be;
	bool present;
	int64_t prio;
	if (check_obj(l, t, keys) < 0 || get_str(l, t, "backend", true, &be) < 0)
		return l->rc;
	int bi = proxy_table_backend(l->t, be);
	if (bi < 0) {
		size_t m = push_c(l, "backend");
		lfail(l, -ERR_PROXY_CONFIG, "unknown backend \"%s\"", be.p);
		pop(l, m);
		return l->rc;
	}
	f->backend = (uint32_t)bi;
	if (get_ep_mask(l, t, "entryPoints", &f->ep_mask, &present) < 0)
		return l->rc;
	if (!present)
		f->ep_mask = l->t->default_ep_mask;
	if (f->ep_mask == 0) {
		size_t m = push_c(l, "entryPoints");
		lfail(l, -ERR_PROXY_CONFIG,
		      present ? "no entry point"
			      : "none given and defaultEntryPoints names no "
				"existing entry point");
		pop(l, m);
		return l->rc;
	}
	if (load_routes(l, t, f) < 0 || get_int(l, t, "priority", 0, INT32_MAX, 0, &prio) < 0 ||
	    get_bool(l, t, "passHostHeader", true, &f->pass_host_header) < 0 ||
	    get_bool(l, t, "passTLSCert", false, &f->pass_tls_cert) < 0 ||
	    get_ptc(l, t, &f->pass_tls_client_cert) < 0 || get_fe_headers(l, t, &f->headers) < 0 ||
	    get_redirect(l, t, -1, &f->redirect) < 0 || get_whitelist(l, t, &f->whitelist) < 0 ||
	    get_auth(l, t, &f->auth) < 0 || get_errors(l, t, f) < 0 || get_ratelimit(l, t, f) < 0)
		return l->rc;
	f->priority_set = prio > 0;
	f->priority = prio > 0 ? (uint32_t)prio : f->rule.text_len;
	return 0;
}

/* The Host filter of a rule (see proxy_entrypoint.fe_hostmask): from its first Host matcher
 * whose values are all literals without a port. */
static uint64_t host_mask(const struct proxy_rule *r)
{
	for (uint32_t i = 0; i < r->nm; i++) {
		const struct proxy_matcher *m = &r->m[i];
		if (m->type != PROXY_MT_HOST)
			continue;
		uint64_t mask = 0;
		uint32_t k;
		for (k = 0; k < m->nval; k++) {
			if (m->val[k].re || m->val[k].with_port)
				break;
			mask |= 1ull << (m->val[k].hash & 63);
		}
		if (k == m->nval)
			return mask;
	}
	return ~0ull;
}

/* ==== ordering ============================================================================== */

static int cmp_slice(struct slice a, struct slice b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.p, b.p, n) : 0;
	if (c)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

static int cmp_fe(const void *x, const void *y)
{
	const struct proxy_frontend *a = x, *b = y;
	if (a->priority != b->priority)
		return a->priority > b->priority ? -1 : 1;
	return cmp_slice(a->name, b->name);
}

/* Sort indices 0..n-1 by name (insertion sort: n is small; names are unique). */
static void sort_by_name(uint32_t *idx, uint32_t n, const void *base, size_t stride)
{
	for (uint32_t i = 0; i < n; i++)
		idx[i] = i;
	for (uint32_t i = 1; i < n; i++) {
		uint32_t key = idx[i];
		struct slice ks = *(const struct slice *)((const char *)base + key * stride);
		uint32_t j = i;
		while (j > 0 &&
		       cmp_slice(*(const struct slice *)((const char *)base + idx[j - 1] * stride),
				 ks) > 0) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = key;
	}
}

static int find_by_name(const uint32_t *idx, uint32_t n, const void *base, size_t stride,
			struct slice name)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = cmp_slice(*(const struct slice *)((const char *)base + idx[mid] * stride),
				  name);
		if (c == 0)
			return (int)idx[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ERR_NOTFOUND;
}

int proxy_table_entrypoint(const struct proxy_table *t, struct slice name)
{
	return find_by_name(t->ep_by_name, t->nep, t->ep, sizeof t->ep[0], name);
}

int proxy_table_backend(const struct proxy_table *t, struct slice name)
{
	return find_by_name(t->be_by_name, t->nbe, t->be, sizeof t->be[0], name);
}

int proxy_table_frontend(const struct proxy_table *t, struct slice name)
{
	return find_by_name(t->fe_by_name, t->nfe, t->fe, sizeof t->fe[0], name);
}

/* ==== document ============================================================================== */

/* Names of the members of an object into base[i].name (stride apart), with a count cap. */
static int load_names(struct ld *l, int obj, void *base, size_t stride)
{
	struct json_iter it;
	int k;
	json_iter_begin(l->d, obj, &it);
	for (uint32_t i = 0; json_iter_next(l->d, &it, &k) >= 0 && !l->rc; i++) {
		struct slice *name = (struct slice *)((char *)base + i * stride);
		copy_str(l, k, name);
		if (name->len == 0 || name->len > PROXY_NAME_MAX || !is_field_value(*name)) {
			size_t m = push(l, *name);
			lfail(l, -ERR_PROXY_CONFIG,
			      "names are 1 to %d bytes without control characters", PROXY_NAME_MAX);
			pop(l, m);
		}
	}
	return l->rc;
}

static int section(struct ld *l, int root, const char *key, uint32_t cap, int code,
		   const char *capname, int *t, uint32_t *n)
{
	*n = 0;
	*t = member(l, root, key);
	if (*t == -ERR_NOTFOUND)
		return 0;
	size_t m = push_c(l, key);
	if (json_typeof(l->d, *t) != JSON_OBJECT)
		lfail(l, -ERR_PROXY_CONFIG, "expected an object");
	else if ((uint32_t)json_len(l->d, *t) > cap)
		lfail(l, code, "%d %s, over %s (%u)", json_len(l->d, *t), key, capname,
		      (unsigned)cap);
	else
		*n = (uint32_t)json_len(l->d, *t);
	pop(l, m);
	return l->rc;
}

static int load_tls(struct ld *l, int root)
{
	static const char *const keys[] = {"entryPoints", "certificate", NULL};
	int arr;
	uint32_t n;
	if (get_array(l, root, "tls", &arr, &n) < 0 || n == 0)
		return l->rc;
	struct proxy_cert *c = lalloc(l, n, sizeof *c);
	if (!c)
		return l->rc;
	size_t m = push_c(l, "tls");
	for (uint32_t i = 0; i < n && !l->rc; i++) {
		int v = json_arr_get(l->d, arr, i);
		bool present;
		size_t mi = push_idx(l, i);
		if (check_obj(l, v, keys) == 0 &&
		    get_ep_mask(l, v, "entryPoints", &c[i].ep_mask, &present) == 0) {
			int ct = member(l, v, "certificate");
			if (!present || c[i].ep_mask == 0) {
				push_c(l, "entryPoints");
				lfail(l, -ERR_PROXY_CONFIG, "required");
			} else if (ct < 0) {
				push_c(l, "certificate");
				lfail(l, -ERR_PROXY_CONFIG, "required");
			} else {
				push_c(l, "certificate");
				get_pem_pair(l, ct, &c[i].pem);
			}
		}
		pop(l, mi);
	}
	pop(l, m);
	l->t->certs = c;
	l->t->ncerts = n;
	return l->rc;
}

static int load(struct ld *l)
{
	static const char *const keys[] = {
		"version",  "revision", "defaultEntryPoints", "entryPoints", "frontends",
		"backends", "tls",      "insecureSkipVerify", "rootCAs",     NULL};
	const struct json_doc *d = l->d;
	int64_t version;
	uint64_t revision;
	int t, eps, fes, bes;
	uint32_t nep, nfe, nbe;

	if (json_typeof(d, JSON_ROOT) != JSON_OBJECT)
		return lfail(l, -ERR_PROXY_CONFIG, "document: expected a JSON object");
	t = member(l, JSON_ROOT, "version");
	if (t < 0 || json_get_int(d, t, &version) < 0) {
		push_c(l, "version");
		return lfail(l, -ERR_PROXY_CONFIG, t < 0 ? "required" : "expected an integer");
	}
	if (version != 1) {
		push_c(l, "version");
		return lfail(l, version > 1 ? -ERR_PROXY_VERSION : -ERR_PROXY_CONFIG,
			     "version %lld is not supported (this data node reads version 1)",
			     (long long)version);
	}
	if (check_obj(l, JSON_ROOT, keys) < 0)
		return l->rc;
	t = member(l, JSON_ROOT, "revision");
	if (t < 0 || json_get_uint(d, t, &revision) < 0) {
		push_c(l, "revision");
		return lfail(l, -ERR_PROXY_CONFIG,
			     t < 0 ? "required" : "expected an unsigned integer");
	}

	/* The string region: every string token once, NUL-terminated, plus generated cookie
	 * names. */
	size_t chars = 0;
	for (int k = 0; k < d->ntok; k++)
		if (json_typeof(d, k) == JSON_STRING)
			chars += (size_t)json_str_len(d, k) + 1;
	if (section(l, JSON_ROOT, "entryPoints", l->lim->max_entrypoints,
		    -ERR_PROXY_ENTRYPOINTS_FULL, "max_entrypoints", &eps, &nep) < 0 ||
	    section(l, JSON_ROOT, "backends", l->lim->max_backends, -ERR_PROXY_BACKENDS_FULL,
		    "max_backends", &bes, &nbe) < 0 ||
	    section(l, JSON_ROOT, "frontends", l->lim->max_frontends, -ERR_PROXY_FRONTENDS_FULL,
		    "max_frontends", &fes, &nfe) < 0)
		return l->rc;
	if (nep > PROXY_MAX_ENTRYPOINTS) {
		push_c(l, "entryPoints");
		return lfail(l, -ERR_PROXY_ENTRYPOINTS_FULL, "more than %d entry points",
			     PROXY_MAX_ENTRYPOINTS);
	}
	chars += 7 * (size_t)nbe;
	struct proxy_table *tb = lalloc(l, 1, sizeof *tb);
	l->chars = lalloc(l, 1, chars ? chars : 1);
	if (l->rc)
		return l->rc;
	memset(tb, 0, sizeof *tb);
	l->t = tb;
	l->capchars = chars;
	tb->revision = revision;

	/* Entry points: names first (redirects name each other), then bodies. */
	struct proxy_entrypoint *ep = lalloc(l, nep, sizeof *ep);
	uint32_t *ep_idx = lalloc(l, nep, sizeof *ep_idx);
	if (l->rc)
		return l->rc;
	if (nep)
		memset(ep, 0, nep * sizeof *ep);
	l->ep = ep;
	tb->ep = ep;
	tb->nep = nep;
	tb->ep_by_name = ep_idx;
	if (nep) {
		size_t m = push_c(l, "entryPoints");
		if (load_names(l, eps, ep, sizeof *ep) == 0) {
			struct json_iter it;
			int k, v;
			sort_by_name(ep_idx, nep, ep, sizeof *ep);
			json_iter_begin(d, eps, &it);
			for (uint32_t i = 0; (v = json_iter_next(d, &it, &k)) >= 0 && !l->rc; i++) {
				size_t mi = push(l, ep[i].name);
				load_entrypoint(l, v, i);
				pop(l, mi);
			}
		}
		pop(l, m);
		if (l->rc)
			return l->rc;
	}
	bool present;
	if (get_ep_mask(l, JSON_ROOT, "defaultEntryPoints", &tb->default_ep_mask, &present) < 0)
		return l->rc;
	if (!present) {
		int http = proxy_table_entrypoint(tb, SLICE_LIT("http"));
		tb->default_ep_mask = http >= 0 ? 1ull << http : 0;
	}

	/* Backends: count servers first (one array for all), names, then bodies. */
	uint32_t nsrv = 0;
	if (nbe) {
		struct json_iter it;
		int k, v;
		json_iter_begin(d, bes, &it);
		while ((v = json_iter_next(d, &it, &k)) >= 0) {
			int s = json_obj_get(d, v, "servers");
			int ns = json_typeof(d, s) == JSON_OBJECT ? json_len(d, s) : 0;
			if ((uint32_t)ns > l->lim->max_servers - nsrv) {
				char tmp[64];
				struct slice kn = json_raw(d, k);
				sanitize(tmp, sizeof tmp, kn.p, kn.len);
				push_c(l, "backends");
				push_c(l, tmp);
				push_c(l, "servers");
				return lfail(l, -ERR_PROXY_SERVERS_FULL,
					     "more than max_servers (%u) servers in the document",
					     (unsigned)l->lim->max_servers);
			}
			nsrv += (uint32_t)ns;
		}
	}
	struct proxy_backend *be = lalloc(l, nbe, sizeof *be);
	uint32_t *be_idx = lalloc(l, nbe, sizeof *be_idx);
	struct proxy_server *srv = lalloc(l, nsrv, sizeof *srv);
	if (l->rc)
		return l->rc;
	if (nbe)
		memset(be, 0, nbe * sizeof *be);
	if (nsrv)
		memset(srv, 0, nsrv * sizeof *srv);
	l->be = be;
	l->srv = srv;
	tb->be = be;
	tb->nbe = nbe;
	tb->be_by_name = be_idx;
	tb->srv = srv;
	tb->nsrv = nsrv;
	if (nbe) {
		size_t m = push_c(l, "backends");
		if (load_names(l, bes, be, sizeof *be) == 0) {
			struct json_iter it;
			int k, v;
			uint32_t next = 0;
			sort_by_name(be_idx, nbe, be, sizeof *be);
			json_iter_begin(d, bes, &it);
			for (uint32_t i = 0; (v = json_iter_next(d, &it, &k)) >= 0 && !l->rc; i++) {
				size_t mi = push(l, be[i].name);
				load_backend(l, v, i, &next);
				pop(l, mi);
			}
		}
		pop(l, m);
		if (l->rc)
			return l->rc;
	}

	/* Frontends. */
	struct proxy_frontend *fe = lalloc(l, nfe, sizeof *fe);
	uint32_t *fe_idx = lalloc(l, nfe, sizeof *fe_idx);
	if (l->rc)
		return l->rc;
	if (nfe)
		memset(fe, 0, nfe * sizeof *fe);
	tb->fe = fe;
	tb->nfe = nfe;
	tb->fe_by_name = fe_idx;
	if (nfe) {
		size_t m = push_c(l, "frontends");
		if (load_names(l, fes, fe, sizeof *fe) == 0) {
			struct json_iter it;
			int k, v;
			json_iter_begin(d, fes, &it);
			for (uint32_t i = 0; (v = json_iter_next(d, &it, &k)) >= 0 && !l->rc; i++) {
				size_t mi = push(l, fe[i].name);
				load_frontend(l, v, &fe[i]);
				pop(l, mi);
			}
		}
		pop(l, m);
		if (l->rc)
			return l->rc;
		qsort(fe, nfe, sizeof *fe, cmp_fe);
		sort_by_name(fe_idx, nfe, fe, sizeof *fe);
	}
	/* Per entry point evaluation order (fe[] is already in priority order). */
	for (uint32_t e = 0; e < nep; e++) {
		uint32_t cnt = 0;
		for (uint32_t i = 0; i < nfe; i++)
			cnt += (fe[i].ep_mask >> e) & 1;
		uint32_t *order = lalloc(l, cnt, sizeof *order);
		uint64_t *mask = lalloc(l, cnt, sizeof *mask);
		if (l->rc)
			return l->rc;
		for (uint32_t i = 0, j = 0; i < nfe; i++)
			if ((fe[i].ep_mask >> e) & 1) {
				mask[j] = host_mask(&fe[i].rule);
				order[j++] = i;
			}
		ep[e].fe_order = order;
		ep[e].fe_hostmask = mask;
		ep[e].nfe_order = cnt;
	}
	if (load_tls(l, JSON_ROOT) < 0)
		return l->rc;
	/* Upstream TLS (global options): CA certificates for https:// servers, inline PEM. */
	if (get_bool(l, JSON_ROOT, "insecureSkipVerify", false, &tb->insecure_skip_verify) < 0 ||
	    get_strlist(l, JSON_ROOT, "rootCAs", &tb->root_cas, &tb->nroot_cas) < 0)
		return l->rc;
	for (uint32_t i = 0; i < tb->nroot_cas && !l->rc; i++) {
		size_t mr = push_c(l, "rootCAs");
		push_idx(l, i);
		if (take_cert(l, tb->root_cas[i].len, 1) == 0)
			check_cert_pem(l, tb->root_cas[i]);
		pop(l, mr);
	}
	if (l->rc)
		return l->rc;
	tb->nroutes = l->routes;
	tb->nmatchers = l->matchers;
	tb->ninsts = l->insts;
	tb->cert_pairs = l->certs;
	tb->nitems = l->items;
	tb->cert_bytes = l->cert_bytes;
	return 0;
}

int proxy_table_load(const char *doc, size_t len, const struct proxy_limits *lim, struct arena *a,
		     json_tok *toks, size_t ntoks, const struct proxy_table **out,
		     struct proxy_cfg_err *err)
{
	struct json_doc d;
	struct ld l;
	memset(&l, 0, sizeof l);
	l.d = &d;
	l.lim = lim;
	l.a = a;
	l.err = err;
	err->msg[0] = 0;
	*out = NULL;
	if (a->err)
		return lfail(&l, a->err, "arena already failed");
	size_t mark = a->used;
	if (len > lim->max_doc_bytes)
		return lfail(&l, -ERR_PROXY_DOC_TOO_LARGE,
			     "document is %zu bytes, over max_doc_bytes (%zu)", len,
			     lim->max_doc_bytes);
	size_t cap = ntoks < lim->max_tokens ? ntoks : lim->max_tokens;
	int n = json_parse(&d, doc, len, toks, cap);
	if (n < 0) {
		if (n == -ERR_JSON_TOO_MANY_TOKENS)
			return lfail(&l, n, "document needs more than max_tokens (%zu) JSON tokens",
				     cap);
		return lfail(&l, n == -ERR_PARTIAL ? -ERR_JSON_PARSE : n,
			     "document: %s at byte %zu", err_str(n), d.err_off);
	}
	int rc = load(&l);
	if (rc < 0) {
		a->used = mark; /* nothing half-built survives */
		a->err = 0;
		return rc;
	}
	l.t->bytes = a->used - mark;
	*out = l.t;
	return 0;
}

/* ==== per request =========================================================================== */

int proxy_table_match(const struct proxy_table *t, uint32_t ep, const struct proxy_req_view *v,
		      struct proxy_match *m)
{
	struct proxy_req_ctx c;
	if (ep >= t->nep)
		return -ERR_NOTFOUND;
	proxy_req_prepare(&c, v);
	const struct proxy_entrypoint *e = &t->ep[ep];
	const uint64_t bit = 1ull << (c.host_hash & 63);
	for (uint32_t k = 0; k < e->nfe_order; k++) {
		if (!(e->fe_hostmask[k] & bit))
			continue;
		uint32_t i = e->fe_order[k];
		if (proxy_rule_match(&t->fe[i].rule, &c, &m->hit)) {
			m->fe = i;
			m->be = t->fe[i].backend;
			return 0;
		}
	}
	return -ERR_NOTFOUND;
}

long proxy_redirect_url(const struct proxy_table *t, const struct proxy_redirect *r,
			struct slice method, struct slice url, struct slice host,
			struct slice path_and_query, struct proxy_re_work *w, char *out, size_t cap,
			int *status)
{
	bool safe = slice_eq_cstr(method, "GET") || slice_eq_cstr(method, "HEAD");
	*status = r->permanent ? (safe ? 301 : 308) : (safe ? 302 : 307);
	if (r->entrypoint >= 0 && (uint32_t)r->entrypoint < t->nep) {
		const struct proxy_entrypoint *e = &t->ep[r->entrypoint];
		const char *scheme = e->tls ? "https" : "http";
		bool dflt = (e->tls && e->port == 443) || (!e->tls && e->port == 80);
		/* Host without its port (IPv6 literals keep their brackets). */
		size_t hl = host.len;
		if (host.len && host.p[0] == '[') {
			const char *rb = memchr(host.p, ']', host.len);
			hl = rb ? (size_t)(rb - host.p) + 1 : host.len;
		} else {
			const char *colon = memchr(host.p, ':', host.len);
			if (colon)
				hl = (size_t)(colon - host.p);
		}
		if (path_and_query.len == 0)
			path_and_query = SLICE_LIT("/");
		int n;
		if (dflt)
			n = snprintf(out, cap, "%s://%.*s%.*s", scheme, (int)hl, host.p,
				     (int)path_and_query.len, path_and_query.p);
		else
			n = snprintf(out, cap, "%s://%.*s:%u%.*s", scheme, (int)hl, host.p,
				     (unsigned)e->port, (int)path_and_query.len, path_and_query.p);
		if (n < 0 || (size_t)n >= cap)
			return -ERR_BUF_FULL;
		return n;
	}
	if (!r->re)
		return -ERR_INVAL;
	if (!proxy_re_search(r->re, url))
		return -ERR_NOTFOUND;
	return proxy_re_replace(r->re, url, r->replacement, w, out, cap);
}

int proxy_local_host(const struct proxy_ip *ip, uint16_t port, bool tls, char *out, size_t cap)
{
	char lit[PROXY_IP_STR_MAX];
	if (proxy_ip_format(ip, lit, sizeof lit) < 0)
		return -ERR_BUF_FULL;
	const char *lb = proxy_ip_is_v4(ip) ? "" : "[", *rb = *lb ? "]" : "";
	int n;
	if (port == (tls ? 443 : 80))
		n = snprintf(out, cap, "%s%s%s", lb, lit, rb);
	else
		n = snprintf(out, cap, "%s%s%s:%u", lb, lit, rb, (unsigned)port);
	if (n < 0 || (size_t)n >= cap)
		return -ERR_BUF_FULL;
	return n;
}
