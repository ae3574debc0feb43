/* proxy_entrypoint.c — see proxy_entrypoint.h. */
#include "proxy/proxy_entrypoint.h"

#include "base/base_arena.h"
#include "base/base_err.h"
#include "proxy/proxy_rule.h"
#include "tls/tls.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { V_STR, V_BOOL, V_LIST, V_CIDRS };

static const struct {
	const char *name;
	uint8_t kind;
	uint8_t needs_tls;
} opts[PROXY_EP_NOPTS] = {
	[PROXY_EP_NAME] = {"Name", V_STR, 0},
	[PROXY_EP_ADDRESS] = {"Address", V_STR, 0},
	[PROXY_EP_TLS] = {"TLS", V_STR, 0},
	[PROXY_EP_TLS_MINVERSION] = {"TLS.MinVersion", V_STR, 1},
	[PROXY_EP_TLS_CIPHERSUITES] = {"TLS.CipherSuites", V_LIST, 1},
	[PROXY_EP_TLS_SNISTRICT] = {"TLS.SniStrict", V_BOOL, 1},
	[PROXY_EP_TLS_DEFAULT_CERT] = {"TLS.DefaultCertificate.Cert", V_STR, 1},
	[PROXY_EP_TLS_DEFAULT_KEY] = {"TLS.DefaultCertificate.Key", V_STR, 1},
	[PROXY_EP_CA] = {"CA", V_LIST, 1},
	[PROXY_EP_CA_OPTIONAL] = {"CA.Optional", V_BOOL, 1},
	[PROXY_EP_REDIRECT_ENTRYPOINT] = {"Redirect.EntryPoint", V_STR, 0},
	[PROXY_EP_REDIRECT_REGEX] = {"Redirect.Regex", V_STR, 0},
	[PROXY_EP_REDIRECT_REPLACEMENT] = {"Redirect.Replacement", V_STR, 0},
	[PROXY_EP_REDIRECT_PERMANENT] = {"Redirect.Permanent", V_BOOL, 0},
	[PROXY_EP_COMPRESS] = {"Compress", V_BOOL, 0},
	[PROXY_EP_WHITELIST_SOURCERANGE] = {"WhiteList.SourceRange", V_CIDRS, 0},
	[PROXY_EP_WHITELIST_XFF] = {"WhiteList.UseXForwardedFor", V_BOOL, 0},
	[PROXY_EP_WHITELISTSOURCERANGE] = {"WhitelistSourceRange", V_CIDRS, 0},
	[PROXY_EP_PROXYPROTOCOL_TRUSTEDIPS] = {"ProxyProtocol.TrustedIPs", V_CIDRS, 0},
	[PROXY_EP_PROXYPROTOCOL_INSECURE] = {"ProxyProtocol.Insecure", V_BOOL, 0},
	[PROXY_EP_FORWARDED_TRUSTEDIPS] = {"ForwardedHeaders.TrustedIPs", V_CIDRS, 0},
	[PROXY_EP_FORWARDED_INSECURE] = {"ForwardedHeaders.Insecure", V_BOOL, 0},
	[PROXY_EP_AUTH_BASIC_USERS] = {"Auth.Basic.Users", V_LIST, 0},
	[PROXY_EP_AUTH_BASIC_REMOVEHEADER] = {"Auth.Basic.RemoveHeader", V_BOOL, 0},
	[PROXY_EP_AUTH_DIGEST_USERS] = {"Auth.Digest.Users", V_LIST, 0},
	[PROXY_EP_AUTH_DIGEST_REMOVEHEADER] = {"Auth.Digest.RemoveHeader", V_BOOL, 0},
	[PROXY_EP_AUTH_HEADERFIELD] = {"Auth.HeaderField", V_STR, 0},
	[PROXY_EP_AUTH_FORWARD_ADDRESS] = {"Auth.Forward.Address", V_STR, 0},
	[PROXY_EP_AUTH_FORWARD_RESPONSEHEADERS] = {"Auth.Forward.AuthResponseHeaders", V_LIST, 0},
	[PROXY_EP_AUTH_FORWARD_TRUST] = {"Auth.Forward.TrustForwardHeader", V_BOOL, 0},
	[PROXY_EP_AUTH_FORWARD_TLS_CA] = {"Auth.Forward.TLS.CA", V_STR, 0},
	[PROXY_EP_AUTH_FORWARD_TLS_CAOPTIONAL] = {"Auth.Forward.TLS.CAOptional", V_BOOL, 0},
	[PROXY_EP_AUTH_FORWARD_TLS_CERT] = {"Auth.Forward.TLS.Cert", V_STR, 0},
	[PROXY_EP_AUTH_FORWARD_TLS_KEY] = {"Auth.Forward.TLS.Key", V_STR, 0},
	[PROXY_EP_AUTH_FORWARD_TLS_INSECURE] = {"Auth.Forward.TLS.InsecureSkipVerify", V_BOOL, 0},
};

const char *proxy_ep_opt_name(enum proxy_ep_opt o)
{
	return (unsigned)o < PROXY_EP_NOPTS ? opts[o].name : "?";
}

static int epfail(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int epfail(char *err, size_t cap, const char *fmt, ...)
{
	if (err && cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return -ERR_PROXY_ENTRYPOINT;
}

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Case-insensitive, '.' == '_'. */
static bool opt_eq(struct slice given, const char *name)
{
	size_t n = strlen(name);
	if (given.len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char a = lower((unsigned char)given.p[i]),
			      b = lower((unsigned char)name[i]);
		if (a == '_')
			a = '.';
		if (a != b)
			return false;
	}
	return true;
}

bool proxy_ep_bool(struct slice v)
{
	return slice_eq_cstr_ci(v, "true") || slice_eq_cstr_ci(v, "enable") ||
	       slice_eq_cstr_ci(v, "on");
}

bool proxy_ep_list_next(struct slice *rest, struct slice *item)
{
	while (rest->p) {
		*item = slice_trim_ows(slice_cut(*rest, ',', rest));
		if (item->len)
			return true;
	}
	return false;
}

/* Printable excerpt of a value for messages. */
static const char *show(struct slice s, char *buf, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < s.len && k + 4 < cap && i < 60; i++) {
		unsigned char c = (unsigned char)s.p[i];
		buf[k++] = (c < 0x20 || c >= 0x7f || c == '"') ? '?' : (char)c;
	}
	if (s.len > 60 && k + 4 < cap) {
		memcpy(buf + k, "...", 3);
		k += 3;
	}
	buf[k] = 0;
	return buf;
}

static bool printable(struct slice s)
{
	for (size_t i = 0; i < s.len; i++)
		if ((unsigned char)s.p[i] <= 0x20 || (unsigned char)s.p[i] >= 0x7f)
			return false;
	return true;
}

static int check_cidrs(const char *opt, struct slice v, char *err, size_t cap)
{
	struct slice rest = v, item;
	struct proxy_cidr c;
	char sb[72];
	int n = 0;
	while (proxy_ep_list_next(&rest, &item)) {
		if (proxy_cidr_parse(item, &c) < 0)
			return epfail(err, cap, "%s: \"%s\" is not an IP address or CIDR range",
				      opt, show(item, sb, sizeof sb));
		n++;
	}
	if (n == 0)
		return epfail(err, cap, "%s: needs at least one IP address or CIDR range", opt);
	return 0;
}

/* "cert,key;cert2,key2": count pairs; each pair exactly two non-empty items. */
static int check_pairs(struct slice v, uint32_t *n, char *err, size_t cap)
{
	struct slice rest = v, pair;
	*n = 0;
	while (rest.p) {
		pair = slice_trim_ows(slice_cut(rest, ';', &rest));
		if (pair.len == 0)
			continue;
		struct slice key;
		struct slice cert = slice_trim_ows(slice_cut(pair, ',', &key));
		key = slice_trim_ows(key);
		if (!key.p || cert.len == 0 || key.len == 0 || memchr(key.p, ',', key.len))
			return epfail(err, cap,
				      "TLS: each certificate is \"cert,key\"; pairs are "
				      "separated by ';'");
		(*n)++;
	}
	return 0;
}

static int check_value(enum proxy_ep_opt o, struct slice v, struct proxy_ep_spec *ep, char *err,
		       size_t cap)
{
	char sb[72];
	struct slice rest, item;
	switch (o) {
	case PROXY_EP_NAME:
		if (v.len == 0 || v.len > 255 || !printable(v))
			return epfail(err, cap, "Name: expected 1 to 255 printable characters");
		return 0;
	case PROXY_EP_ADDRESS:
		if (proxy_addr_parse(v, &ep->ip, &ep->any_addr, &ep->port) < 0)
			return epfail(err, cap,
				      "Address: \"%s\" is not [host]:port (\":80\", "
				      "\"10.0.0.1:80\", \"[::1]:443\")",
				      show(v, sb, sizeof sb));
		return 0;
	case PROXY_EP_TLS: return check_pairs(v, &ep->ntls_certs, err, cap);
	/* The same rules as the routing document's loader (proxy_config.c, get_ep_tls), so that
	 * `traefikee deploy` refuses at once what every data node would refuse. */
	case PROXY_EP_TLS_MINVERSION:
		if (slice_eq_cstr_ci(v, "VersionTLS13"))
			return epfail(
				err, cap,
				"TLS.MinVersion: VersionTLS13 is not supported (TLS 1.2 only)");
		if (!slice_eq_cstr_ci(v, "VersionTLS10") && !slice_eq_cstr_ci(v, "VersionTLS11") &&
		    !slice_eq_cstr_ci(v, "VersionTLS12"))
			return epfail(err, cap,
				      "TLS.MinVersion: expected VersionTLS10, "
				      "VersionTLS11 or VersionTLS12");
		return 0;
	case PROXY_EP_TLS_CIPHERSUITES: {
		size_t nserved = 0;
		rest = v;
		while (proxy_ep_list_next(&rest, &item)) {
			for (size_t i = 0; i < item.len; i++) {
				unsigned char c = (unsigned char)item.p[i];
				if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
					return epfail(err, cap,
						      "TLS.CipherSuites: \"%s\" is not a cipher "
						      "suite name",
						      show(item, sb, sizeof sb));
			}
			const struct tls_suite_info *si = tls_suite_by_go_name(item.p, item.len);
			if (!si)
				return epfail(err, cap,
					      "TLS.CipherSuites: unknown cipher suite \"%s\"",
					      show(item, sb, sizeof sb));
			nserved += si->supported;
		}
		if (!nserved)
			return epfail(err, cap,
				      "TLS.CipherSuites: no supported cipher suite listed "
				      "(supported: " TLS_SUITES_SUPPORTED_TEXT ")");
		return 0;
	}
	case PROXY_EP_REDIRECT_ENTRYPOINT:
		if (v.len == 0 || !printable(v))
			return epfail(err, cap,
				      "Redirect.EntryPoint: expected an entry point name");
		return 0;
	case PROXY_EP_REDIRECT_REGEX: {
		/* Compile once to report a bad regexp now rather than at deploy time. */
		_Alignas(16) unsigned char mem[16384];
		struct arena a;
		const struct proxy_re *re;
		char msg[96];
		arena_init(&a, mem, sizeof mem);
		if (v.len == 0 || proxy_re_compile(v, PROXY_RE_CAPTURE, PROXY_RE_CAP_MAX_INSTS, &a,
						   &re, msg, sizeof msg) < 0)
			return epfail(err, cap, "Redirect.Regex: %s", v.len ? msg : "empty");
		return 0;
	}
	case PROXY_EP_AUTH_BASIC_USERS:
	case PROXY_EP_AUTH_DIGEST_USERS:
		rest = v;
		while (proxy_ep_list_next(&rest, &item)) {
			int colons = 0;
			for (size_t i = 0; i < item.len; i++)
				colons += item.p[i] == ':';
			if (item.p[0] == ':' || colons < (o == PROXY_EP_AUTH_BASIC_USERS ? 1 : 2))
				return epfail(err, cap, "%s: expected %s", opts[o].name,
					      o == PROXY_EP_AUTH_BASIC_USERS ? "user:hash"
									     : "user:realm:hash");
		}
		return 0;
	case PROXY_EP_AUTH_FORWARD_ADDRESS:
		if (!(v.len > 7 && slice_starts_with(v, SLICE_LIT("http://"))) &&
		    !(v.len > 8 && slice_starts_with(v, SLICE_LIT("https://"))))
			return epfail(err, cap,
				      "Auth.Forward.Address: expected an http:// or "
				      "https:// URL");
		return 0;
	default: return 0;
	}
}

int proxy_ep_parse(struct slice s, struct proxy_ep_spec *ep, char *err, size_t errcap)
{
	char sb[72];
	size_t i = 0;
	memset(ep, 0, sizeof *ep);
	if (err && errcap)
		err[0] = 0;
	while (i < s.len) {
		while (i < s.len && (s.p[i] == ' ' || s.p[i] == '\t' || s.p[i] == '\n' ||
				     s.p[i] == '\r' || s.p[i] == '\v' || s.p[i] == '\f'))
			i++;
		size_t start = i;
		while (i < s.len && !(s.p[i] == ' ' || s.p[i] == '\t' || s.p[i] == '\n' ||
				      s.p[i] == '\r' || s.p[i] == '\v' || s.p[i] == '\f'))
			i++;
		if (i == start)
			break;
		struct slice tok = {s.p + start, i - start}, value;
		struct slice name = slice_cut(tok, ':', &value);
		bool bare = value.p == NULL;
		if (bare)
			value = (struct slice){tok.p + tok.len, 0};
		int o;
		for (o = 0; o < PROXY_EP_NOPTS; o++)
			if (opt_eq(name, opts[o].name))
				break;
		if (o == PROXY_EP_NOPTS)
			return epfail(err, errcap, "unknown option \"%s\"",
				      show(name, sb, sizeof sb));
		if (ep->seen & (1ull << o))
			return epfail(err, errcap, "%s given twice", opts[o].name);
		ep->seen |= 1ull << o;
		if (o != PROXY_EP_TLS && opts[o].kind != V_BOOL && bare)
			return epfail(err, errcap, "%s needs a value (%s:...)", opts[o].name,
				      opts[o].name);
		if (opts[o].kind == V_CIDRS && check_cidrs(opts[o].name, value, err, errcap) < 0)
			return -ERR_PROXY_ENTRYPOINT;
		if (check_value((enum proxy_ep_opt)o, value, ep, err, errcap) < 0)
			return -ERR_PROXY_ENTRYPOINT;
		bool b = proxy_ep_bool(value);
		switch ((enum proxy_ep_opt)o) {
		case PROXY_EP_NAME: ep->name = value; break;
		case PROXY_EP_ADDRESS: ep->address = value; break;
		case PROXY_EP_TLS:
			ep->tls = true;
			ep->tls_certs = value;
			break;
		case PROXY_EP_TLS_MINVERSION: ep->min_version = value; break;
		case PROXY_EP_TLS_CIPHERSUITES: ep->cipher_suites = value; break;
		case PROXY_EP_TLS_SNISTRICT: ep->sni_strict = b; break;
		case PROXY_EP_TLS_DEFAULT_CERT: ep->default_cert = value; break;
		case PROXY_EP_TLS_DEFAULT_KEY: ep->default_key = value; break;
		case PROXY_EP_CA: ep->ca = value; break;
		case PROXY_EP_CA_OPTIONAL: ep->ca_optional = b; break;
		case PROXY_EP_REDIRECT_ENTRYPOINT: ep->redirect_entrypoint = value; break;
		case PROXY_EP_REDIRECT_REGEX: ep->redirect_regex = value; break;
		case PROXY_EP_REDIRECT_REPLACEMENT: ep->redirect_replacement = value; break;
		case PROXY_EP_REDIRECT_PERMANENT: ep->redirect_permanent = b; break;
		case PROXY_EP_COMPRESS: ep->compress = b; break;
		case PROXY_EP_WHITELIST_SOURCERANGE:
		case PROXY_EP_WHITELISTSOURCERANGE: ep->whitelist = value; break;
		case PROXY_EP_WHITELIST_XFF: ep->whitelist_xff = b; break;
		case PROXY_EP_PROXYPROTOCOL_TRUSTEDIPS: ep->pp_trusted = value; break;
		case PROXY_EP_PROXYPROTOCOL_INSECURE: ep->pp_insecure = b; break;
		case PROXY_EP_FORWARDED_TRUSTEDIPS: ep->fwd_trusted = value; break;
		case PROXY_EP_FORWARDED_INSECURE: ep->fwd_insecure = b; break;
		case PROXY_EP_AUTH_BASIC_USERS: ep->basic_users = value; break;
		case PROXY_EP_AUTH_BASIC_REMOVEHEADER: ep->basic_remove_header = b; break;
		case PROXY_EP_AUTH_DIGEST_USERS: ep->digest_users = value; break;
		case PROXY_EP_AUTH_DIGEST_REMOVEHEADER: ep->digest_remove_header = b; break;
		case PROXY_EP_AUTH_HEADERFIELD: ep->header_field = value; break;
		case PROXY_EP_AUTH_FORWARD_ADDRESS: ep->forward_address = value; break;
		case PROXY_EP_AUTH_FORWARD_RESPONSEHEADERS:
			ep->forward_response_headers = value;
			break;
		case PROXY_EP_AUTH_FORWARD_TRUST: ep->forward_trust = b; break;
		case PROXY_EP_AUTH_FORWARD_TLS_CA: ep->forward_tls_ca = value; break;
		case PROXY_EP_AUTH_FORWARD_TLS_CAOPTIONAL: ep->forward_tls_ca_optional = b; break;
		case PROXY_EP_AUTH_FORWARD_TLS_CERT: ep->forward_tls_cert = value; break;
		case PROXY_EP_AUTH_FORWARD_TLS_KEY: ep->forward_tls_key = value; break;
		case PROXY_EP_AUTH_FORWARD_TLS_INSECURE: ep->forward_tls_insecure = b; break;
		case PROXY_EP_NOPTS: break;
		}
	}
	/* Whole-value checks. */
	uint64_t seen = ep->seen;
	if (!(seen & (1ull << PROXY_EP_NAME)))
		return epfail(err, errcap, "Name is required (Name:http)");
	if (!(seen & (1ull << PROXY_EP_ADDRESS)))
		return epfail(err, errcap, "Address is required (Address::80)");
	for (int o = 0; o < PROXY_EP_NOPTS; o++)
		if ((seen & (1ull << o)) && opts[o].needs_tls && !ep->tls)
			return epfail(err, errcap, "%s needs TLS", opts[o].name);
	if (!!ep->default_cert.len != !!ep->default_key.len)
		return epfail(err, errcap,
			      "TLS.DefaultCertificate.Cert and "
			      "TLS.DefaultCertificate.Key go together");
	if ((seen & (1ull << PROXY_EP_WHITELIST_SOURCERANGE)) &&
	    (seen & (1ull << PROXY_EP_WHITELISTSOURCERANGE)))
		return epfail(err, errcap,
			      "give WhiteList.SourceRange or WhitelistSourceRange, "
			      "not both");
	if (ep->whitelist_xff && !ep->whitelist.len)
		return epfail(err, errcap,
			      "WhiteList.UseXForwardedFor needs WhiteList.SourceRange");
	if (ep->redirect_entrypoint.len && slice_eq(ep->redirect_entrypoint, ep->name))
		return epfail(err, errcap,
			      "Redirect.EntryPoint: an entry point cannot redirect "
			      "to itself");
	if (!ep->redirect_entrypoint.len &&
	    !!ep->redirect_regex.len != !!ep->redirect_replacement.len)
		return epfail(err, errcap, "Redirect.Regex and Redirect.Replacement go together");
	if ((ep->redirect_permanent || (seen & (1ull << PROXY_EP_REDIRECT_PERMANENT))) &&
	    !ep->redirect_entrypoint.len && !ep->redirect_regex.len)
		return epfail(err, errcap,
			      "Redirect.Permanent needs Redirect.EntryPoint or "
			      "Redirect.Regex");
	if (!!ep->forward_tls_cert.len != !!ep->forward_tls_key.len)
		return epfail(err, errcap,
			      "Auth.Forward.TLS.Cert and Auth.Forward.TLS.Key go "
			      "together");
	if (ep->header_field.len && !ep->basic_users.len && !ep->digest_users.len &&
	    !ep->forward_address.len)
		return epfail(err, errcap,
			      "Auth.HeaderField needs Auth.Basic.Users, "
			      "Auth.Digest.Users or Auth.Forward.Address");
	const uint64_t fwd_opts =
		(1ull << PROXY_EP_AUTH_FORWARD_RESPONSEHEADERS) |
		(1ull << PROXY_EP_AUTH_FORWARD_TRUST) | (1ull << PROXY_EP_AUTH_FORWARD_TLS_CA) |
		(1ull << PROXY_EP_AUTH_FORWARD_TLS_CAOPTIONAL) |
		(1ull << PROXY_EP_AUTH_FORWARD_TLS_CERT) | (1ull << PROXY_EP_AUTH_FORWARD_TLS_KEY) |
		(1ull << PROXY_EP_AUTH_FORWARD_TLS_INSECURE);
	if ((seen & fwd_opts) && !ep->forward_address.len)
		return epfail(err, errcap, "Auth.Forward options need Auth.Forward.Address");
	if (!(seen & (1ull << PROXY_EP_FORWARDED_INSECURE)))
		ep->fwd_insecure = ep->fwd_trusted.len == 0; /* Traefik v1's default */
	return 0;
}

/* ==== JSON ================================================================================== */

struct wctx {
	struct json_writer *w;
	proxy_ep_load_fn load;
	void *ctx;
	char *err;
	size_t errcap;
	int rc;
};

static bool is_pem(struct slice v)
{
	static const char tag[] = "-----BEGIN";
	if (v.len < sizeof tag - 1)
		return false;
	for (size_t i = 0; i + sizeof tag - 1 <= v.len; i++)
		if (memcmp(v.p + i, tag, sizeof tag - 1) == 0)
			return true;
	return false;
}

/* A path-or-PEM value as a JSON string of PEM. */
static void w_pem(struct wctx *c, const char *opt, struct slice v)
{
	struct slice pem = v;
	if (c->rc)
		return;
	if (!is_pem(v)) {
		if (!c->load) {
			c->rc = epfail(c->err, c->errcap, "%s: no file loader for \"%.*s\"", opt,
				       (int)(v.len > 60 ? 60 : v.len), v.p);
			return;
		}
		int rc = c->load(c->ctx, v, &pem);
		if (rc < 0) {
			epfail(c->err, c->errcap, "%s: cannot read \"%.*s\": %s", opt,
			       (int)(v.len > 60 ? 60 : v.len), v.p, err_str(rc));
			c->rc = rc;
			return;
		}
	}
	json_w_str_slice(c->w, pem);
}

static void w_list(struct wctx *c, const char *key, struct slice v)
{
	struct slice rest = v, item;
	json_w_key(c->w, key);
	json_w_arr_begin(c->w);
	while (proxy_ep_list_next(&rest, &item))
		json_w_str_slice(c->w, item);
	json_w_arr_end(c->w);
}

static void w_pair(struct wctx *c, const char *opt, struct slice cert, struct slice key)
{
	json_w_obj_begin(c->w);
	json_w_key(c->w, "certFile");
	w_pem(c, opt, cert);
	json_w_key(c->w, "keyFile");
	w_pem(c, opt, key);
	json_w_obj_end(c->w);
}

static void w_trust(struct wctx *c, const char *key, struct slice trusted, bool insecure)
{
	json_w_key(c->w, key);
	json_w_obj_begin(c->w);
	w_list(c, "trustedIPs", trusted);
	json_w_key(c->w, "insecure");
	json_w_bool(c->w, insecure);
	json_w_obj_end(c->w);
}

int proxy_ep_write_json(const struct proxy_ep_spec *ep, struct json_writer *w,
			proxy_ep_load_fn load, void *ctx, char *err, size_t errcap)
{
	struct wctx c = {w, load, ctx, err, errcap, 0};
	uint64_t seen = ep->seen;
	if (err && errcap)
		err[0] = 0;
	json_w_obj_begin(w);
	json_w_key(w, "address");
	json_w_str_slice(w, ep->address);
	if (ep->tls) {
		json_w_key(w, "tls");
		json_w_obj_begin(w);
		if (ep->min_version.len) {
			json_w_key(w, "minVersion");
			json_w_str_slice(w, ep->min_version);
		}
		if (ep->cipher_suites.len)
			w_list(&c, "cipherSuites", ep->cipher_suites);
		json_w_key(w, "sniStrict");
		json_w_bool(w, ep->sni_strict);
		json_w_key(w, "certificates");
		json_w_arr_begin(w);
		struct slice rest = ep->tls_certs, pair;
		while (rest.p && !c.rc) {
			pair = slice_trim_ows(slice_cut(rest, ';', &rest));
			if (pair.len == 0)
				continue;
			struct slice key;
			struct slice cert = slice_trim_ows(slice_cut(pair, ',', &key));
			w_pair(&c, "TLS", cert, slice_trim_ows(key));
		}
		json_w_arr_end(w);
		if (ep->default_cert.len) {
			json_w_key(w, "defaultCertificate");
			w_pair(&c, "TLS.DefaultCertificate", ep->default_cert, ep->default_key);
		}
		if (ep->ca.len) {
			struct slice r = ep->ca, item;
			json_w_key(w, "clientCA");
			json_w_obj_begin(w);
			json_w_key(w, "files");
			json_w_arr_begin(w);
			while (proxy_ep_list_next(&r, &item))
				w_pem(&c, "CA", item);
			json_w_arr_end(w);
			json_w_key(w, "optional");
			json_w_bool(w, ep->ca_optional);
			json_w_obj_end(w);
		}
		json_w_obj_end(w);
	}
	if (ep->redirect_entrypoint.len || ep->redirect_regex.len) {
		json_w_key(w, "redirect");
		json_w_obj_begin(w);
		if (ep->redirect_entrypoint.len) {
			json_w_key(w, "entryPoint");
			json_w_str_slice(w, ep->redirect_entrypoint);
		} else {
			json_w_key(w, "regex");
			json_w_str_slice(w, ep->redirect_regex);
			json_w_key(w, "replacement");
			json_w_str_slice(w, ep->redirect_replacement);
		}
		json_w_key(w, "permanent");
		json_w_bool(w, ep->redirect_permanent);
		json_w_obj_end(w);
	}
	if (ep->whitelist.len) {
		json_w_key(w, "whitelist");
		json_w_obj_begin(w);
		w_list(&c, "sourceRange", ep->whitelist);
		json_w_key(w, "useXForwardedFor");
		json_w_bool(w, ep->whitelist_xff);
		json_w_obj_end(w);
	}
	json_w_key(w, "compress");
	json_w_bool(w, ep->compress);
	if (seen & ((1ull << PROXY_EP_PROXYPROTOCOL_TRUSTEDIPS) |
		    (1ull << PROXY_EP_PROXYPROTOCOL_INSECURE)))
		w_trust(&c, "proxyProtocol", ep->pp_trusted, ep->pp_insecure);
	if (seen &
	    ((1ull << PROXY_EP_FORWARDED_TRUSTEDIPS) | (1ull << PROXY_EP_FORWARDED_INSECURE)))
		w_trust(&c, "forwardedHeaders", ep->fwd_trusted, ep->fwd_insecure);
	if (ep->basic_users.len || ep->digest_users.len || ep->forward_address.len) {
		json_w_key(w, "auth");
		json_w_obj_begin(w);
		if (ep->basic_users.len) {
			json_w_key(w, "basic");
			json_w_obj_begin(w);
			w_list(&c, "users", ep->basic_users);
			json_w_key(w, "removeHeader");
			json_w_bool(w, ep->basic_remove_header);
			json_w_obj_end(w);
		}
		if (ep->digest_users.len) {
			json_w_key(w, "digest");
			json_w_obj_begin(w);
			w_list(&c, "users", ep->digest_users);
			json_w_key(w, "removeHeader");
			json_w_bool(w, ep->digest_remove_header);
			json_w_obj_end(w);
		}
		if (ep->forward_address.len) {
			json_w_key(w, "forward");
			json_w_obj_begin(w);
			json_w_key(w, "address");
			json_w_str_slice(w, ep->forward_address);
			json_w_key(w, "trustForwardHeader");
			json_w_bool(w, ep->forward_trust);
			if (ep->forward_response_headers.len)
				w_list(&c, "authResponseHeaders", ep->forward_response_headers);
			if (ep->forward_tls_ca.len || ep->forward_tls_cert.len ||
			    (seen & ((1ull << PROXY_EP_AUTH_FORWARD_TLS_INSECURE) |
				     (1ull << PROXY_EP_AUTH_FORWARD_TLS_CAOPTIONAL)))) {
				json_w_key(w, "tls");
				json_w_obj_begin(w);
				if (ep->forward_tls_ca.len) {
					json_w_key(w, "ca");
					w_pem(&c, "Auth.Forward.TLS.CA", ep->forward_tls_ca);
				}
				if (ep->forward_tls_cert.len) {
					json_w_key(w, "cert");
					w_pem(&c, "Auth.Forward.TLS.Cert", ep->forward_tls_cert);
					json_w_key(w, "key");
					w_pem(&c, "Auth.Forward.TLS.Key", ep->forward_tls_key);
				}
				json_w_key(w, "caOptional");
				json_w_bool(w, ep->forward_tls_ca_optional);
				json_w_key(w, "insecureSkipVerify");
				json_w_bool(w, ep->forward_tls_insecure);
				json_w_obj_end(w);
			}
			json_w_obj_end(w);
		}
		if (ep->header_field.len) {
			json_w_key(w, "headerField");
			json_w_str_slice(w, ep->header_field);
		}
		json_w_obj_end(w);
	}
	json_w_obj_end(w);
	if (c.rc)
		return c.rc;
	return json_w_error(w);
}
