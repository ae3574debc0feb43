/* node_configfile.c — `deploy --configfile=traefik.toml`: a Traefik v1 TOML static configuration
 * read into the deploy flags it stands for.
 *
 * The file is parsed by the file provider's TOML reader (provider_file_toml_static: keys in the
 * KV layout, lower-cased except entry point names, a "path/" key for each [table] header), then
 * every key is either turned into a flag, ignored with a warning (settings that belong to the
 * nodes, not to a deploy), or refused with its name: an unknown key is an error, never a silent
 * default. Entry points become --entryPoints values in Traefik's flag syntax, so they are
 * checked by the same parser (proxy_ep_parse) as the flag. Flags given on the command line win:
 * a flag replaces the file's value, an --entryPoints replaces the file's entry point of the same
 * name, and a provider on the command line replaces the file's.
 *
 * Frontends, backends and [[tls]] in the file itself (Traefik v1's [file] section without a
 * filename) make the file the file provider's: file.filename becomes the file's absolute path,
 * which the leader reads and watches (the provider skips the static keys quietly).
 *
 * One-shot CLI code: the storage is static (untouched pages cost nothing) and a second call
 * replaces the first's result.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base_err.h"
#include "node/node.h"
#include "provider/provider_file.h"
#include "provider/provider_kv.h"
#include "proxy/proxy_entrypoint.h"

#define CF_TEXT_MAX (1u << 20)
#define CF_KV_MAX 8192u
#define CF_KBUF (1u << 20)
#define CF_ARGS_MAX 1024u
#define CF_STR (512u << 10)
#define CF_EP_MAX 64u

static char cf_text[CF_TEXT_MAX + 1];
static struct provider_kv cf_kv[CF_KV_MAX];
static char cf_kbuf[CF_KBUF];
static struct node_arg cf_args[CF_ARGS_MAX];
static char cf_str[CF_STR];

struct cf {
	const char *path;
	size_t nkv;
	size_t str_used;
	size_t nargs;
	char *err;
	size_t cap;
	bool failed;
};

static bool cf_fail(struct cf *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool cf_fail(struct cf *c, const char *fmt, ...)
{
	if (c->failed)
		return false;
	c->failed = true;
	int o = snprintf(c->err, c->cap, "--configfile=%s: ", c->path);
	if (o < 0 || (size_t)o >= c->cap)
		return false;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err + o, c->cap - (size_t)o, fmt, ap);
	va_end(ap);
	return false;
}

/* A NUL-terminated copy of the concatenation being built: cf_begin, cf_put..., cf_end. */
static size_t cf_mark;

static void cf_begin(struct cf *c)
{
	cf_mark = c->str_used;
}

static bool cf_put(struct cf *c, const char *p, size_t n)
{
	if (c->str_used + n + 1 > CF_STR)
		return cf_fail(c, "the configuration is too large");
	memcpy(cf_str + c->str_used, p, n);
	c->str_used += n;
	return true;
}

static const char *cf_end(struct cf *c)
{
	if (c->failed || !cf_put(c, "", 0))
		return NULL;
	cf_str[c->str_used++] = '\0';
	return cf_str + cf_mark;
}

static bool cf_add(struct cf *c, const char *name, const char *value)
{
	if (!value)
		return false;
	if (c->nargs == CF_ARGS_MAX)
		return cf_fail(c, "too many settings");
	cf_args[c->nargs++] = (struct node_arg){name, value, true};
	return true;
}

/* A key in the file's spelling ("entryPoints.https.tls.minversion" for messages). */
static const char *show(struct slice k, char *out, size_t cap)
{
	size_t n = k.len && k.p[k.len - 1] == '/' ? k.len - 1 : k.len;
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = k.p[i] == '/' ? '.' : k.p[i];
	out[n] = '\0';
	if (!strncmp(out, "entrypoints.", 12))
		memcpy(out, "entryPoints.", 12);
	return out;
}

static bool has_space(struct slice v)
{
	for (size_t i = 0; i < v.len; i++)
		if (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == '\n' || v.p[i] == '\r')
			return true;
	return false;
}

static bool all_digits(struct slice s)
{
	if (!s.len)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
	return true;
}

/* Does key k name sub under prefix: exactly (a scalar) or as sub/<index> (a list item)? */
enum { M_NO, M_SCALAR, M_ITEM };
static int key_is(struct slice k, struct slice prefix, const char *sub)
{
	size_t sl = strlen(sub);
	if (k.len < prefix.len + sl || memcmp(k.p, prefix.p, prefix.len) != 0 ||
	    memcmp(k.p + prefix.len, sub, sl) != 0)
		return M_NO;
	struct slice rest = {k.p + prefix.len + sl, k.len - prefix.len - sl};
	if (!rest.len)
		return M_SCALAR;
	if (rest.p[0] == '/' && all_digits((struct slice){rest.p + 1, rest.len - 1}))
		return M_ITEM;
	return M_NO;
}

/* Entry points ---------------------------------------------------------------------------- */

/* Key under entryPoints.<name>. (lower-cased) -> flag option; list: items joined with ','. */
static const struct {
	const char *sub;
	const char *opt;
	bool list;
} ep_map[] = {
	{"address", "Address", false},
	{"compress", "Compress", false},
	{"tls/minversion", "TLS.MinVersion", false},
	{"tls/ciphersuites", "TLS.CipherSuites", true},
	{"tls/snistrict", "TLS.SniStrict", false},
	{"tls/defaultcertificate/certfile", "TLS.DefaultCertificate.Cert", false},
	{"tls/defaultcertificate/keyfile", "TLS.DefaultCertificate.Key", false},
	{"tls/clientca/files", "CA", true},
	{"tls/clientca/optional", "CA.Optional", false},
	{"redirect/entrypoint", "Redirect.EntryPoint", false},
	{"redirect/regex", "Redirect.Regex", false},
	{"redirect/replacement", "Redirect.Replacement", false},
	{"redirect/permanent", "Redirect.Permanent", false},
	{"whitelist/sourcerange", "WhiteList.SourceRange", true},
	{"whitelist/usexforwardedfor", "WhiteList.UseXForwardedFor", false},
	{"whitelistsourcerange", "WhitelistSourceRange", true},
	{"proxyprotocol/trustedips", "ProxyProtocol.TrustedIPs", true},
	{"proxyprotocol/insecure", "ProxyProtocol.Insecure", false},
	{"forwardedheaders/trustedips", "ForwardedHeaders.TrustedIPs", true},
	{"forwardedheaders/insecure", "ForwardedHeaders.Insecure", false},
	{"auth/basic/users", "Auth.Basic.Users", true},
	{"auth/basic/removeheader", "Auth.Basic.RemoveHeader", false},
	{"auth/digest/users", "Auth.Digest.Users", true},
	{"auth/digest/removeheader", "Auth.Digest.RemoveHeader", false},
	{"auth/headerfield", "Auth.HeaderField", false},
	{"auth/forward/address", "Auth.Forward.Address", false},
	{"auth/forward/authresponseheaders", "Auth.Forward.AuthResponseHeaders", true},
	{"auth/forward/trustforwardheader", "Auth.Forward.TrustForwardHeader", false},
	{"auth/forward/tls/ca", "Auth.Forward.TLS.CA", false},
	{"auth/forward/tls/caoptional", "Auth.Forward.TLS.CAOptional", false},
	{"auth/forward/tls/cert", "Auth.Forward.TLS.Cert", false},
	{"auth/forward/tls/key", "Auth.Forward.TLS.Key", false},
	{"auth/forward/tls/insecureskipverify", "Auth.Forward.TLS.InsecureSkipVerify", false},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Sub-tables that only group the keys above ([entryPoints.x.redirect] ...): their markers. */
static const char *const ep_tables[] = {
	"tls/defaultcertificate", "tls/clientca", "redirect",   "whitelist",   "proxyprotocol",
	"forwardedheaders",       "auth",         "auth/basic", "auth/digest", "auth/forward",
	"auth/forward/tls",
};

/* Is k (under entryPoints.<name>. = prefix) one this file knows? */
static bool ep_key_known(struct slice k, struct slice prefix)
{
	struct slice sub = {k.p + prefix.len, k.len - prefix.len};
	if (sub.len == 0 || slice_eq_cstr(sub, "tls/"))
		return true; /* the entry point's own table, [entryPoints.x.tls] */
	if (sub.p[sub.len - 1] == '/') {
		struct slice t = {sub.p, sub.len - 1};
		for (size_t i = 0; i < NELEM(ep_tables); i++)
			if (slice_eq_cstr(t, ep_tables[i]))
				return true;
		return false;
	}
	for (size_t i = 0; i < NELEM(ep_map); i++) {
		int m = key_is(k, prefix, ep_map[i].sub);
		if (m == M_SCALAR || (m == M_ITEM && ep_map[i].list))
			return true;
	}
	/* [[entryPoints.x.tls.certificates]] certFile / keyFile */
	struct slice rest;
	if (slice_starts_with(sub, SLICE_LIT("tls/certificates/"))) {
		rest = (struct slice){sub.p + 17, sub.len - 17};
		struct slice tail, idx = slice_cut(rest, '/', &tail);
		return all_digits(idx) &&
		       (slice_eq_cstr(tail, "certfile") || slice_eq_cstr(tail, "keyfile"));
	}
	return false;
}

static size_t cf_nkv; /* keys in cf_kv */

/* The value of the certificates entry i's field (certfile/keyfile); p NULL when absent. */
static struct slice ep_cert_field(struct slice prefix, unsigned i, const char *field)
{
	char sub[64];
	snprintf(sub, sizeof sub, "tls/certificates/%u/%s", i, field);
	for (size_t j = 0; j < cf_nkv; j++)
		if (key_is(cf_kv[j].key, prefix, sub) == M_SCALAR)
			return cf_kv[j].val;
	return (struct slice){NULL, 0};
}

static bool put_value(struct cf *c, struct slice key, struct slice v)
{
	char kb[160];
	if (!v.len)
		return cf_fail(c, "%s: empty value", show(key, kb, sizeof kb));
	if (has_space(v))
		return cf_fail(c,
			       "%s: a value with spaces cannot be given to an entry point (inline "
			       "PEM: give a file path)",
			       show(key, kb, sizeof kb));
	return cf_put(c, v.p, v.len);
}

/* The --entryPoints value of entry point `name` (keys prefixed by prefix), or NULL. */
static const char *ep_flag(struct cf *c, struct slice name, struct slice prefix)
{
	cf_begin(c);
	cf_put(c, "Name:", 5);
	cf_put(c, name.p, name.len);
	bool tls = false; /* [entryPoints.<name>.tls], even empty, or any key under it */
	for (size_t j = 0; j < c->nkv; j++)
		tls |= slice_starts_with(cf_kv[j].key, prefix) &&
		       slice_starts_with((struct slice){cf_kv[j].key.p + prefix.len,
							cf_kv[j].key.len - prefix.len},
					 SLICE_LIT("tls/"));
	for (size_t i = 0; i < NELEM(ep_map) && !c->failed; i++) {
		bool any = false;
		for (size_t j = 0; j < c->nkv && !c->failed; j++) {
			int m = key_is(cf_kv[j].key, prefix, ep_map[i].sub);
			if (m == M_NO || (m == M_ITEM && !ep_map[i].list))
				continue;
			if (m == M_ITEM && memchr(cf_kv[j].val.p, ',', cf_kv[j].val.len)) {
				char kb[160];
				cf_fail(c, "%s: an item holds ','",
					show(cf_kv[j].key, kb, sizeof kb));
				break;
			}
			cf_put(c, any ? "," : " ", 1);
			if (!any) {
				cf_put(c, ep_map[i].opt, strlen(ep_map[i].opt));
				cf_put(c, ":", 1);
			}
			any = true;
			put_value(c, cf_kv[j].key, cf_kv[j].val);
		}
	}
	/* TLS: the certificate pairs, "TLS:cert,key;cert,key", or a bare TLS. */
	bool certs = false;
	for (unsigned i = 0; i < 256 && !c->failed; i++) {
		struct slice cert = ep_cert_field(prefix, i, "certfile");
		struct slice key = ep_cert_field(prefix, i, "keyfile");
		if (!cert.p && !key.p)
			break;
		if (!cert.len || !key.len) {
			cf_fail(c,
				"entryPoints.%.*s.tls.certificates[%u]: give both certFile and "
				"keyFile",
				(int)name.len, name.p, i);
			break;
		}
		cf_put(c, certs ? ";" : " TLS:", certs ? 1 : 5);
		certs = true;
		char ck[200], kk[200];
		int cl = snprintf(ck, sizeof ck, "%.*stls/certificates/%u/certfile",
				  (int)prefix.len, prefix.p, i);
		int kl = snprintf(kk, sizeof kk, "%.*stls/certificates/%u/keyfile", (int)prefix.len,
				  prefix.p, i);
		put_value(c, (struct slice){ck, cl > 0 && (size_t)cl < sizeof ck ? (size_t)cl : 0},
			  cert);
		cf_put(c, ",", 1);
		put_value(c, (struct slice){kk, kl > 0 && (size_t)kl < sizeof kk ? (size_t)kl : 0},
			  key);
	}
	if (tls && !certs)
		cf_put(c, " TLS", 4);
	return cf_end(c);
}

/* Everything else --------------------------------------------------------------------------- */

/* Keys that map to a deploy flag of the same name ('/' -> '.'). */
static const char *const simple_keys[] = {
	"file/filename",
	"file/watch",
	"consul/endpoint",
	"consul/prefix",
	"consul/token",
	"consul/tls/ca",
	"consul/tls/cert",
	"consul/tls/key",
	"consul/tls/insecureskipverify",
	"etcd/endpoint",
	"etcd/prefix",
	"etcd/useapiv3",
	"etcd/username",
	"etcd/password",
	"etcd/tls/ca",
	"etcd/tls/cert",
	"etcd/tls/key",
	"etcd/tls/insecureskipverify",
	"providersthrottleduration",
	"insecureskipverify",
};

/* Providers and features of Traefik v1 this cluster does not have: refused. */
static const char *const unsupported_roots[] = {
	"docker",   "kubernetes",  "marathon",      "mesos",   "ecs",           "rancher",
	"dynamodb", "zookeeper",   "boltdb",        "eureka",  "servicefabric", "consulcatalog",
	"acme",     "constraints", "kubernetescrd", "cluster",
};

static bool in_list(struct slice s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (slice_eq_cstr(s, list[i]))
			return true;
	return false;
}

static const char *join_list(struct cf *c, const char *key)
{
	struct slice pre = {"", 0};
	bool any = false;
	cf_begin(c);
	for (size_t j = 0; j < c->nkv && !c->failed; j++) {
		int m = key_is(cf_kv[j].key, pre, key);
		if (m == M_NO)
			continue;
		if (any)
			cf_put(c, ",", 1);
		any = true;
		cf_put(c, cf_kv[j].val.p, cf_kv[j].val.len);
	}
	const char *v = cf_end(c);
	return any ? v : NULL;
}

static const char *dup_cstr(struct cf *c, struct slice s)
{
	cf_begin(c);
	cf_put(c, s.p, s.len);
	return cf_end(c);
}

/* Flags whose name says "a provider" on the command line. */
static bool cmdline_provider(const struct node_args *a)
{
	for (size_t i = 0; i < a->n; i++) {
		const char *nm = a->v[i].name;
		if (!a->v[i].set)
			continue;
		if (!strncasecmp(nm, "file", 4) || !strncasecmp(nm, "consul", 6) ||
		    !strncasecmp(nm, "etcd", 4))
			return true;
	}
	return false;
}

static bool read_file(struct cf *c, size_t *len)
{
	FILE *f = fopen(c->path, "rb");
	if (!f)
		return cf_fail(c, "%s", strerror(errno));
	size_t n = fread(cf_text, 1, CF_TEXT_MAX + 1, f);
	bool bad = ferror(f);
	fclose(f);
	if (bad)
		return cf_fail(c, "cannot read it");
	if (n > CF_TEXT_MAX)
		return cf_fail(c, "over %u bytes", CF_TEXT_MAX);
	cf_text[n] = '\0';
	*len = n;
	return true;
}

static void cf_report(void *ctx, enum log_level level, const char *key, const char *msg)
{
	struct cf *c = ctx;
	if (level >= LOG_WARN)
		cf_fail(c, "%s%s%s", key && *key ? key : "", key && *key ? ": " : "", msg);
}

int node_configfile_merge(const struct node_args *in, struct node_args *out, char *err, size_t cap)
{
	*out = *in;
	const char *path = node_arg_str(in, "configfile");
	if (!node_arg_given(in, "configfile") || !path)
		return 0;
	struct cf c = {.path = path, .err = err, .cap = cap};
	size_t len = 0;
	if (!path[0]) {
		cf_fail(&c, "give a file name");
		return -ERR_INVAL;
	}
	if (!read_file(&c, &len))
		return -ERR_INVAL;
	return node_configfile_merge_text(in, path, cf_text, len, out, err, cap);
}

int node_configfile_merge_text(const struct node_args *in, const char *path, const char *text,
			       size_t len, struct node_args *out, char *err, size_t cap)
{
	*out = *in;
	struct cf c = {.path = path, .err = err, .cap = cap};
	if (len > CF_TEXT_MAX) {
		cf_fail(&c, "over %u bytes", CF_TEXT_MAX);
		return -ERR_INVAL;
	}
	cf_nkv = 0;
	struct provider_diag d;
	provider_diag_init(&d, "configfile", cf_report, &c);
	int n = provider_file_toml_static((struct slice){text, len}, cf_kv, CF_KV_MAX, cf_kbuf,
					  sizeof cf_kbuf, &d);
	if (n < 0) {
		cf_fail(&c, "%s", err_str(n));
		return -ERR_INVAL;
	}
	c.nkv = cf_nkv = (size_t)n;

	/* Sort every key into its place, or refuse it. */
	struct slice ep_names[CF_EP_MAX];
	size_t neps = 0;
	bool has_file = false, has_consul = false, has_etcd = false, inline_routes = false;
	struct slice warned[32];
	size_t nwarned = 0;
	for (size_t j = 0; j < c.nkv && !c.failed; j++) {
		struct slice k = cf_kv[j].key, rest, root = slice_cut(k, '/', &rest);
		char kb[160];
		if (slice_eq_cstr(root, "entrypoints")) {
			struct slice tail, name = slice_cut(rest, '/', &tail);
			if (!name.len) {
				if (!tail.len && k.p[k.len - 1] == '/')
					continue; /* [entryPoints] */
				cf_fail(&c, "%s: expected entryPoints.<name>",
					show(k, kb, sizeof kb));
				break;
			}
			size_t e;
			for (e = 0; e < neps; e++)
				if (slice_eq(ep_names[e], name))
					break;
			if (e == neps) {
				if (neps == CF_EP_MAX) {
					cf_fail(&c, "over %u entry points", CF_EP_MAX);
					break;
				}
				ep_names[neps++] = name;
			}
			struct slice prefix = {k.p, (size_t)(name.p + name.len - k.p) + 1};
			if (k.len < prefix.len) /* "entrypoints/<name>" without a '/' */
				prefix.len = k.len;
			if (k.len > prefix.len && !ep_key_known(k, prefix)) {
				if (slice_eq_cstr(
					    (struct slice){k.p + prefix.len, k.len - prefix.len},
					    "auth/basic/usersfile") ||
				    slice_eq_cstr(
					    (struct slice){k.p + prefix.len, k.len - prefix.len},
					    "auth/digest/usersfile"))
					cf_fail(&c,
						"%s: not supported; list the users in users = "
						"[...]",
						show(k, kb, sizeof kb));
				else
					cf_fail(&c, "%s: unknown entry point option",
						show(k, kb, sizeof kb));
			}
			continue;
		}
		if (slice_eq_cstr(root, "frontends") || slice_eq_cstr(root, "backends") ||
		    slice_eq_cstr(root, "tls")) {
			inline_routes = true; /* the file provider reads and checks them */
			continue;
		}
		if (slice_eq_cstr(root, "defaultentrypoints") || slice_eq_cstr(root, "rootcas")) {
			if (rest.len && !all_digits(rest)) {
				cf_fail(&c, "%s: expected a list", show(k, kb, sizeof kb));
				break;
			}
			continue;
		}
		if (slice_eq_cstr(root, "file"))
			has_file = true;
		else if (slice_eq_cstr(root, "consul"))
			has_consul = true;
		else if (slice_eq_cstr(root, "etcd"))
			has_etcd = true;
		bool known = false;
		if (k.len && k.p[k.len - 1] == '/') { /* a table header */
			struct slice t = {k.p, k.len - 1};
			known = slice_eq_cstr(t, "file") || slice_eq_cstr(t, "consul") ||
				slice_eq_cstr(t, "etcd") || slice_eq_cstr(t, "consul/tls") ||
				slice_eq_cstr(t, "etcd/tls");
		}
		for (size_t i = 0; i < NELEM(simple_keys) && !known; i++)
			known = slice_eq_cstr(k, simple_keys[i]);
		if (known)
			continue;
		if (provider_kv_node_root(root)) {
			known = true;
			bool seen = false; /* one warning per section, however many keys */
			for (size_t w = 0; w < nwarned && !seen; w++)
				seen = slice_eq(warned[w], root);
			if (!seen && nwarned < NELEM(warned))
				warned[nwarned++] = root;
			if (!seen && in->prog)
				fprintf(stderr,
					"%s %s: warning: --configfile: %.*s is ignored: on "
					"TraefikEE it is set on the nodes (docs/install.md)\n",
					in->prog, in->cmd, (int)root.len, root.p);
		}
		if (known)
			continue;
		if (in_list(root, unsupported_roots, NELEM(unsupported_roots)))
			cf_fail(&c,
				"[%.*s] is not supported (the providers are file, consul and etcd)",
				(int)root.len, root.p);
		else if (slice_eq_cstr(root, "file") && slice_eq_cstr(rest, "directory"))
			cf_fail(&c, "file.directory is not supported: name one file with filename");
		else
			cf_fail(&c, "%s: unknown key", show(k, kb, sizeof kb));
	}
	if (c.failed)
		return -ERR_INVAL;
	if (has_file + has_consul + has_etcd > 1) {
		cf_fail(&c, "give one provider ([file], [consul] or [etcd]), not several");
		return -ERR_INVAL;
	}

	/* The file's settings first (node_arg_str takes the first), each unless the command line
	 * gave it. */
	bool cmd_prov = cmdline_provider(in);
	for (size_t e = 0; e < neps && !c.failed; e++) {
		bool replaced = false;
		for (size_t i = 0; i < in->n && !replaced; i++) {
			if (!in->v[i].set || strcasecmp(in->v[i].name, "entryPoints") != 0)
				continue;
			struct proxy_ep_spec sp;
			char perr[160];
			replaced = proxy_ep_parse(slice_from_cstr(in->v[i].value), &sp, perr,
						  sizeof perr) == 0 &&
				   slice_eq(sp.name, ep_names[e]);
		}
		if (replaced)
			continue;
		char pre[200];
		int pl = snprintf(pre, sizeof pre, "entrypoints/%.*s/", (int)ep_names[e].len,
				  ep_names[e].p);
		if (pl < 0 || (size_t)pl >= sizeof pre) {
			cf_fail(&c, "entry point name too long");
			break;
		}
		const char *v = ep_flag(&c, ep_names[e], (struct slice){pre, (size_t)pl});
		struct proxy_ep_spec sp;
		char perr[200];
		if (v && proxy_ep_parse(slice_from_cstr(v), &sp, perr, sizeof perr) < 0) {
			cf_fail(&c, "entryPoints.%.*s: %s", (int)ep_names[e].len, ep_names[e].p,
				perr);
			break;
		}
		cf_add(&c, "entryPoints", v);
	}
	if (!node_arg_given(in, "defaultentrypoints")) {
		const char *v = join_list(&c, "defaultentrypoints");
		if (v)
			cf_add(&c, "defaultentrypoints", v);
	}
	if (!node_arg_given(in, "rootcas")) {
		const char *v = join_list(&c, "rootcas");
		if (v)
			cf_add(&c, "rootcas", v);
	}
	for (size_t i = 0; i < NELEM(simple_keys) && !c.failed; i++) {
		char flag[64];
		snprintf(flag, sizeof flag, "%s", simple_keys[i]);
		for (char *p = flag; *p; p++)
			if (*p == '/')
				*p = '.';
		bool prov = !strncmp(flag, "file", 4) || !strncmp(flag, "consul", 6) ||
			    !strncmp(flag, "etcd", 4);
		if ((prov && cmd_prov) || node_arg_given(in, flag))
			continue;
		for (size_t j = 0; j < c.nkv; j++)
			if (slice_eq_cstr(cf_kv[j].key, simple_keys[i])) {
				const char *name = dup_cstr(&c, slice_from_cstr(flag));
				cf_add(&c, name, dup_cstr(&c, cf_kv[j].val));
				break;
			}
	}
	if (!cmd_prov && (has_consul || has_etcd))
		cf_add(&c, has_consul ? "consul" : "etcd", "true");
	if (!cmd_prov && has_file) {
		bool named = false;
		for (size_t j = 0; j < c.nkv; j++)
			named |= slice_eq_cstr(cf_kv[j].key, "file/filename");
		if (!named && !inline_routes) {
			cf_fail(&c,
				"[file] needs a filename, or frontends and backends in this file");
			return -ERR_INVAL;
		}
		if (!named) {
			char abs[PATH_MAX];
			if (!realpath(path, abs)) {
				cf_fail(&c, "%s", strerror(errno));
				return -ERR_INVAL;
			}
			cf_add(&c, "file.filename", dup_cstr(&c, slice_from_cstr(abs)));
		} else if (inline_routes && in->prog) {
			fprintf(stderr,
				"%s %s: warning: --configfile: the frontends and backends in this "
				"file are ignored: [file] names another file\n",
				in->prog, in->cmd);
		}
	} else if (inline_routes && !has_file) {
		cf_fail(&c, "frontends and backends here need a [file] section (Traefik v1 "
			    "reads them through the file provider)");
		return -ERR_INVAL;
	}
	if (c.failed)
		return -ERR_INVAL;

	/* Then the command line, less the defaults the file's settings replace. */
	size_t nfile = c.nargs;
	for (size_t i = 0; i < in->n; i++) {
		bool shadowed = false;
		for (size_t f = 0; f < nfile && !in->v[i].set && !shadowed; f++)
			shadowed = !strcasecmp(cf_args[f].name, in->v[i].name);
		if (shadowed)
			continue;
		if (c.nargs == CF_ARGS_MAX) {
			cf_fail(&c, "too many settings");
			return -ERR_INVAL;
		}
		cf_args[c.nargs++] = in->v[i];
	}
	out->v = cf_args;
	out->n = c.nargs;
	return 0;
}
