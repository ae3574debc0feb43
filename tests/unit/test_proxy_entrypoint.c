/* Unit tests for proxy_entrypoint.h (Traefik v1 --entryPoints values: the seed's strings, every
 * option, booleans, addresses, every refusal, JSON written and loaded back as a routing
 * document) and proxy_cidr.h (IPv4/IPv6 addresses and ranges, matching, X-Forwarded-For). */
#include "base/base_buf.h"
#include "base/base_err.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_entrypoint.h"
#include "test.h"

/* Test certificates (generated with openssl for these tests only). */
static const char CERT[] = "-----BEGIN CERTIFICATE-----\n"
			   "MIIBijCCATGgAwIBAgIUSqpqFonn2A8ObFBhVrNcFOfUExMwCgYIKoZIzj0EAwIw\n"
			   "GjEYMBYGA1UEAwwPd3d3LmV4YW1wbGUuY29tMCAXDTI2MTEyNjIzMTExMVoYDzIx\n"
			   "MjYxMTAyMjMxMTExWjAaMRgwFgYDVQQDDA93d3cuZXhhbXBsZS5jb20wWTATBgcq\n"
			   "hkjOPQIBBggqhkjOPQMBBwNCAAT5VvN0tUQPpT//+IdsD4DxYZoEYqwIh9qZo1ri\n"
			   "btA9ggPkNrzItyTa/lDjraM0/a6mhrKSdjecd28b2FvfgYEFo1MwUTAdBgNVHQ4E\n"
			   "FgQUnUy4B/NLSc8uei3G76LsJaszPiYwHwYDVR0jBBgwFoAUnUy4B/NLSc8uei3G\n"
			   "76LsJaszPiYwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiBzGYdU\n"
			   "xYx3Xdzsy9dc9XEnUQFn2xk4pUnoGxfZqian8AIgQDZXtDFpcetcdGw/E78yjQms\n"
			   "TyMyvy+ypAFdkhhZyhY=\n"
			   "-----END CERTIFICATE-----\n";
static const char KEY[] = "-----BEGIN EC PRIVATE KEY-----\n"
			  "MHcCAQEEIPMdYPgXo2/KIqzw5anf1WU2Ll/TOpr1CLXQNn4oB/GDoAoGCCqGSM49\n"
			  "AwEHoUQDQgAE+VbzdLVED6U///iHbA+A8WGaBGKsCIfamaNa4m7QPYID5Da8yLck\n"
			  "2v5Q462jNP2upoayknY3nHdvG9hb34GBBQ==\n"
			  "-----END EC PRIVATE KEY-----\n";
static const char CA[] = "-----BEGIN CERTIFICATE-----\n"
			 "MIIBkDCCATWgAwIBAgIUZx6S2oVm0DJjg/Y0i7eFgalUDGswCgYIKoZIzj0EAwIw\n"
			 "HDEaMBgGA1UEAwwRRXhhbXBsZSBDbGllbnQgQ0EwIBcNMjYxMTI2MjMxMTQ0WhgP\n"
			 "MjEyNjExMDIyMzExNDRaMBwxGjAYBgNVBAMMEUV4YW1wbGUgQ2xpZW50IENBMFkw\n"
			 "EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEbAwHFTa0j53ASXbKUFj0tdSAKkeoNR1N\n"
			 "UYSJbgpQLY6RHpszZ50vB8vL7XvsB48y9PB7glN2PTFqtodfuS5A9KNTMFEwHQYD\n"
			 "VR0OBBYEFEmOuSJIoioYP/EndpMiqKtluHNYMB8GA1UdIwQYMBaAFEmOuSJIoioY\n"
			 "P/EndpMiqKtluHNYMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIh\n"
			 "ANoyIoADXBUHgpKeWp8Z012U8JYdqP3AuoBPOCahf2uyAiEApuqCrtIr48BVDt3T\n"
			 "t71RzzW9BfMjCP9buRhxiO4MPvc=\n"
			 "-----END CERTIFICATE-----\n";

static struct proxy_ep_spec ep_;
static char err_[256];

static int parse(const char *s)
{
	static char *copy;
	free(copy);
	size_t n = strlen(s);
	copy = malloc(n ? n : 1);
	memcpy(copy, s, n);
	return proxy_ep_parse((struct slice){copy, n}, &ep_, err_, sizeof err_);
}

#define SEEN(o) ((ep_.seen >> (o)) & 1)

static void seed_strings(void)
{
	REQUIRE(parse("Name:http Address::80") == 0);
	CHECK_EQ_MEM(ep_.name.p, ep_.name.len, "http");
	CHECK_EQ_MEM(ep_.address.p, ep_.address.len, ":80"); /* split at the FIRST colon */
	CHECK(ep_.any_addr && ep_.port == 80 && !ep_.tls && !ep_.compress);
	CHECK(ep_.fwd_insecure); /* Traefik v1's default */
	REQUIRE(parse("Name:https Address::443 TLS") == 0);
	CHECK(ep_.tls && ep_.ntls_certs == 0 && ep_.port == 443);
	CHECK_EQ_INT(ep_.tls_certs.len, 0);
	/* Whitespace of any kind and amount, any order, names in any case. */
	REQUIRE(parse("  address::8080\t\tNAME:web\n tls  ") == 0);
	CHECK_EQ_MEM(ep_.name.p, ep_.name.len, "web");
	CHECK(ep_.tls && ep_.port == 8080);
}

static void addresses(void)
{
	static const struct {
		const char *addr;
		int ok;
		bool any;
		uint16_t port;
	} t[] = {
		{":80", 1, true, 80},
		{"0.0.0.0:80", 1, false, 80},
		{"10.0.0.1:8080", 1, false, 8080},
		{"[::1]:443", 1, false, 443},
		{"[::]:443", 1, false, 443},
		{"[fe80::1:2]:65535", 1, false, 65535},
		{"localhost:8081", 1, false, 8081},
		{"80", 0, false, 0},
		{":0", 0, false, 0},
		{":65536", 0, false, 0},
		{":080", 0, false, 0},
		{":", 0, false, 0},
		{"::1:443", 0, false, 0},
		{"[::1]", 0, false, 0},
		{"[::1]443", 0, false, 0},
		{"[10.0.0.1]:80", 0, false, 0},
		{"example.com:80", 0, false, 0},
		{"10.0.0.256:80", 0, false, 0},
		{":+80", 0, false, 0},
	};
	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		char s[64];
		snprintf(s, sizeof s, "Name:x Address:%s", t[k].addr);
		int rc = parse(s);
		if ((rc == 0) != t[k].ok)
			TEST_FAIL_("Address:%s: rc %d (%s)", t[k].addr, rc, err_);
		else if (rc == 0 && (ep_.any_addr != t[k].any || ep_.port != t[k].port))
			TEST_FAIL_("Address:%s: any %d port %u", t[k].addr, ep_.any_addr, ep_.port);
		else if (rc != 0 && !strstr(err_, "Address:"))
			TEST_FAIL_("Address:%s: message \"%s\"", t[k].addr, err_);
	}
	REQUIRE(parse("Name:x Address:[::1]:443") == 0);
	char ip[PROXY_IP_STR_MAX];
	CHECK(proxy_ip_format(&ep_.ip, ip, sizeof ip) > 0);
	CHECK_EQ_STR(ip, "::1");
	REQUIRE(parse("Name:x Address:localhost:1") == 0);
	CHECK(proxy_ip_format(&ep_.ip, ip, sizeof ip) > 0);
	CHECK_EQ_STR(ip, "127.0.0.1");
}

static void booleans(void)
{
	static const struct {
		const char *v;
		bool b;
	} t[] = {{"true", 1},  {"TRUE", 1}, {"enable", 1}, {"Enable", 1}, {"on", 1}, {"ON", 1},
		 {"false", 0}, {"yes", 0},  {"1", 0},      {"t", 0},      {"", 0},   {"onn", 0}};
	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		char s[64];
		snprintf(s, sizeof s, "Name:x Address::80 Compress:%s", t[k].v);
		REQUIRE(parse(s) == 0);
		if (ep_.compress != t[k].b)
			TEST_FAIL_("Compress:%s gave %d", t[k].v, ep_.compress);
	}
	/* A bare Compress is false (SPEC-FACTS §2.2). */
	REQUIRE(parse("Name:x Address::80 Compress") == 0);
	CHECK(!ep_.compress && SEEN(PROXY_EP_COMPRESS));
}

static void every_option(void)
{
	static const char full[] =
		"Name:https Address:10.0.0.1:443 TLS:/c1.pem,/k1.pem;/c2.pem,/k2.pem "
		"TLS.MinVersion:VersionTLS12 "
		"TLS.CipherSuites:TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256 "
		"TLS.SniStrict:true TLS.DefaultCertificate.Cert:/d.pem "
		"TLS.DefaultCertificate.Key:/d.key CA:/ca1.pem,/ca2.pem CA.Optional:on "
		"Redirect.EntryPoint:other Redirect.Permanent:true Compress:enable "
		"WhiteList.SourceRange:10.0.0.0/8,192.168.1.1,::1/128 "
		"WhiteList.UseXForwardedFor:true "
		"ProxyProtocol.TrustedIPs:10.0.0.0/8 ProxyProtocol.Insecure:false "
		"ForwardedHeaders.TrustedIPs:10.0.0.1,10.0.0.2 "
		"Auth.Basic.Users:test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/,u2:$2y$05$x "
		"Auth.Basic.RemoveHeader:true "
		"Auth.Digest.Users:test:traefik:a2688e031edb4be6a3797f3882655c05 "
		"Auth.Digest.RemoveHeader:on Auth.HeaderField:X-WebAuth-User "
		"Auth.Forward.Address:https://auth.example.com/check "
		"Auth.Forward.AuthResponseHeaders:X-Auth-User,X-Secret "
		"Auth.Forward.TrustForwardHeader:true Auth.Forward.TLS.CA:/fca.pem "
		"Auth.Forward.TLS.CAOptional:true Auth.Forward.TLS.Cert:/fc.pem "
		"Auth.Forward.TLS.Key:/fk.pem Auth.Forward.TLS.InsecureSkipVerify:true";
	int rc = parse(full);
	if (rc)
		fprintf(stderr, "  %s\n", err_);
	REQUIRE(rc == 0);
	for (int o = 0; o < PROXY_EP_NOPTS; o++)
		if (!SEEN(o) && o != PROXY_EP_WHITELISTSOURCERANGE &&
		    o != PROXY_EP_REDIRECT_REGEX && o != PROXY_EP_REDIRECT_REPLACEMENT &&
		    o != PROXY_EP_FORWARDED_INSECURE)
			TEST_FAIL_("option %s not seen", proxy_ep_opt_name(o));
	CHECK_EQ_INT(ep_.ntls_certs, 2);
	CHECK_EQ_MEM(ep_.min_version.p, ep_.min_version.len, "VersionTLS12");
	CHECK(ep_.sni_strict && ep_.ca_optional && ep_.redirect_permanent && ep_.compress);
	CHECK(ep_.whitelist_xff && !ep_.pp_insecure && !ep_.fwd_insecure);
	CHECK(ep_.basic_remove_header && ep_.digest_remove_header && ep_.forward_trust);
	CHECK(ep_.forward_tls_ca_optional && ep_.forward_tls_insecure);
	CHECK_EQ_MEM(ep_.basic_users.p, ep_.basic_users.len,
		     "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/,u2:$2y$05$x");
	CHECK_EQ_MEM(ep_.redirect_entrypoint.p, ep_.redirect_entrypoint.len, "other");
	CHECK_EQ_MEM(ep_.header_field.p, ep_.header_field.len, "X-WebAuth-User");
	/* Separators: '_' for '.', any case; the deprecated whitelist spelling; a regex
	 * redirect. */
	REQUIRE(parse("name:x address::80 whitelistsourcerange:10.0.0.0/8 "
		      "REDIRECT_REGEX:^http://localhost/(.*) redirect_replacement:http://x/$1 "
		      "forwardedheaders.insecure:true") == 0);
	CHECK_EQ_MEM(ep_.whitelist.p, ep_.whitelist.len, "10.0.0.0/8");
	CHECK_EQ_MEM(ep_.redirect_regex.p, ep_.redirect_regex.len, "^http://localhost/(.*)");
	CHECK(ep_.fwd_insecure);
	/* Values may hold colons: only the first one splits. */
	REQUIRE(parse("Name:x Address::80 Redirect.Regex:^https?://a:8080/(.*) "
		      "Redirect.Replacement:https://b:8443/${1}") == 0);
	CHECK_EQ_MEM(ep_.redirect_replacement.p, ep_.redirect_replacement.len,
		     "https://b:8443/${1}");
}

static void refusals(void)
{
	static const struct {
		const char *s, *msg;
	} t[] = {
		{"Address::80", "Name is required"},
		{"Name:x", "Address is required"},
		{"Name: Address::80", "Name"},
		{"Name:x Address::80 Foo:bar", "unknown option \"Foo\""},
		{"Name:x Address::80 Compres:true", "unknown option \"Compres\""},
		{"Name:x Name:y Address::80", "Name given twice"},
		{"Name:x Address::80 TLS TLS:/a,/b", "TLS given twice"},
		{"Name:x Address::80 TLS.SniStrict:true", "TLS.SniStrict needs TLS"},
		{"Name:x Address::80 CA:/ca.pem", "CA needs TLS"},
		{"Name:x Address::80 TLS.MinVersion:VersionTLS12", "TLS.MinVersion needs TLS"},
		{"Name:x Address::80 TLS TLS.MinVersion:SSL3", "TLS.MinVersion: expected"},
		{"Name:x Address::80 TLS:/a", "TLS: each certificate is \"cert,key\""},
		{"Name:x Address::80 TLS:/a,/b,/c", "cert,key"},
		{"Name:x Address::80 TLS:/a,/b;/c", "cert,key"},
		{"Name:x Address::80 TLS:,/b", "cert,key"},
		{"Name:x Address::80 TLS TLS.DefaultCertificate.Cert:/a", "go together"},
		{"Name:x Address::80 TLS TLS.CipherSuites:tls_bad-name", "not a cipher suite"},
		/* the routing document's rules (proxy_config.c), checked at deploy already */
		{"Name:x Address::80 TLS TLS.CipherSuites:TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,"
		 "TLS_FOO",
		 "TLS.CipherSuites: unknown cipher suite \"TLS_FOO\""},
		{"Name:x Address::80 TLS TLS.CipherSuites:TLS_RSA_WITH_AES_128_CBC_SHA",
		 "TLS.CipherSuites: no supported cipher suite listed (supported: TLS_ECDHE_ECDSA_"},
		{"Name:x Address::80 TLS TLS.MinVersion:VersionTLS13",
		 "TLS.MinVersion: VersionTLS13 is not supported (TLS 1.2 only)"},
		{"Name:x Address::80 WhiteList.SourceRange:10.0.0/8", "\"10.0.0/8\" is not an IP"},
		{"Name:x Address::80 WhiteList.SourceRange:10.0.0.0/33", "is not an IP"},
		{"Name:x Address::80 WhiteList.SourceRange:,", "at least one"},
		{"Name:x Address::80 WhitelistSourceRange:::1/129", "is not an IP"},
		{"Name:x Address::80 WhiteList.SourceRange:1.2.3.4 WhitelistSourceRange:1.2.3.4",
		 "not both"},
		{"Name:x Address::80 WhiteList.UseXForwardedFor:true",
		 "needs WhiteList.SourceRange"},
		{"Name:x Address::80 ProxyProtocol.TrustedIPs:nope", "ProxyProtocol.TrustedIPs"},
		{"Name:x Address::80 ForwardedHeaders.TrustedIPs:1.2.3.4/", "ForwardedHeaders"},
		{"Name:x Address::80 Redirect.EntryPoint:x", "cannot redirect to itself"},
		{"Name:x Address::80 Redirect.Regex:^/(.*)", "go together"},
		{"Name:x Address::80 Redirect.Regex:^/(.* Redirect.Replacement:/$1", "missing )"},
		{"Name:x Address::80 Redirect.Permanent:true", "needs Redirect.EntryPoint"},
		{"Name:x Address::80 Auth.Basic.Users:nocolon", "expected user:hash"},
		{"Name:x Address::80 Auth.Digest.Users:u:hash", "expected user:realm:hash"},
		{"Name:x Address::80 Auth.Forward.Address:auth.example.com", "http:// or https://"},
		{"Name:x Address::80 Auth.Forward.TrustForwardHeader:true",
		 "need Auth.Forward.Address"},
		{"Name:x Address::80 Auth.Forward.Address:http://a Auth.Forward.TLS.Cert:/c",
		 "go together"},
		{"Name:x Address::80 Auth.HeaderField:X-User", "needs Auth.Basic.Users"},
		{"Name:x Address", "Address needs a value"},
		{"Name", "Name needs a value"},
		{"", "Name is required"},
	};
	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		int rc = parse(t[k].s);
		if (rc != -ERR_PROXY_ENTRYPOINT || !strstr(err_, t[k].msg))
			TEST_FAIL_("\"%s\": rc %d \"%s\", expected \"%s\"", t[k].s, rc, err_,
				   t[k].msg);
	}
}

/* ---- JSON ---------------------------------------------------------------------------------- */

/* A fake file loader: /cert.pem, /key.pem and /ca.pem exist. */
static int fake_load(void *ctx, struct slice path, struct slice *pem)
{
	(*(int *)ctx)++;
	if (slice_eq_cstr(path, "/cert.pem"))
		*pem = slice_from_cstr(CERT);
	else if (slice_eq_cstr(path, "/key.pem"))
		*pem = slice_from_cstr(KEY);
	else if (slice_eq_cstr(path, "/ca.pem"))
		*pem = slice_from_cstr(CA);
	else
		return -ERR_NOTFOUND;
	return 0;
}

/* Write the given --entryPoints values as a routing document's entryPoints and load it. */
static int to_table(const char *const *flags, size_t n, const struct proxy_table **t, char *doc,
		    size_t cap)
{
	static struct proxy_ep_spec specs[4];
	static char *copies[4];
	static json_tok toks[4096];
	static _Alignas(16) unsigned char mem[1 << 18];
	static struct arena a;
	struct buf b;
	struct json_writer w;
	int loads = 0, rc;
	buf_init(&b, doc, cap);
	json_w_init(&w, &b);
	json_w_obj_begin(&w);
	json_w_key(&w, "version");
	json_w_int(&w, 1);
	json_w_key(&w, "revision");
	json_w_int(&w, 1);
	json_w_key(&w, "entryPoints");
	json_w_obj_begin(&w);
	for (size_t k = 0; k < n; k++) {
		free(copies[k]);
		copies[k] = strdup(flags[k]);
		rc = proxy_ep_parse(slice_from_cstr(copies[k]), &specs[k], err_, sizeof err_);
		if (rc)
			return rc;
		json_w_key_slice(&w, specs[k].name);
		rc = proxy_ep_write_json(&specs[k], &w, fake_load, &loads, err_, sizeof err_);
		if (rc)
			return rc;
	}
	json_w_obj_end(&w);
	json_w_obj_end(&w);
	if ((rc = json_w_finish(&w)) != 0)
		return rc;
	struct proxy_limits lim;
	struct proxy_cfg_err cerr;
	proxy_limits_default(&lim);
	arena_init(&a, mem, sizeof mem);
	rc = proxy_table_load(doc, b.len, &lim, &a, toks, 4096, t, &cerr);
	if (rc)
		snprintf(err_, sizeof err_, "%s", cerr.msg);
	return rc;
}

static void json_roundtrip(void)
{
	static char doc[65536];
	const struct proxy_table *t;
	const char *flags[] = {
		"Name:http Address::80 Redirect.EntryPoint:https Redirect.Permanent:true",
		"Name:https Address::443 TLS:/cert.pem,/key.pem TLS.MinVersion:VersionTLS12 "
		"TLS.SniStrict:true TLS.DefaultCertificate.Cert:/cert.pem "
		"TLS.DefaultCertificate.Key:/key.pem CA:/ca.pem CA.Optional:true Compress:true "
		"WhiteList.SourceRange:10.0.0.0/8,::1 WhiteList.UseXForwardedFor:true "
		"ProxyProtocol.TrustedIPs:10.0.0.0/8 ForwardedHeaders.TrustedIPs:10.1.0.0/16 "
		"Auth.Basic.Users:a:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/ Auth.HeaderField:X-User "
		"TLS.CipherSuites:TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
		"Name:rx Address:127.0.0.1:8080 Redirect.Regex:^http://([^/:]+)(:\\d+)?/(.*) "
		"Redirect.Replacement:https://${1}/${3}",
		"Name:fwd Address:[::1]:9000 Auth.Forward.Address:http://auth:4181 "
		"Auth.Forward.AuthResponseHeaders:X-User Auth.Forward.TLS.CA:/ca.pem "
		"Auth.Forward.TLS.Cert:/cert.pem Auth.Forward.TLS.Key:/key.pem",
	};
	int rc = to_table(flags, 4, &t, doc, sizeof doc);
	if (rc)
		fprintf(stderr, "  %d: %s\n", rc, err_);
	REQUIRE(rc == 0);
	REQUIRE(t->nep == 4);
	const struct proxy_entrypoint *e = &t->ep[0];
	CHECK_EQ_STR(e->name.p, "http");
	CHECK(e->any_addr && e->port == 80 && e->redirect.permanent);
	CHECK_EQ_STR(t->ep[e->redirect.entrypoint].name.p, "https");
	e = &t->ep[1];
	CHECK(e->tls && e->ncerts == 1 && e->default_cert.cert.len == strlen(CERT));
	CHECK(e->min_version == PROXY_TLS12 && e->sni_strict && e->nclient_ca == 1);
	CHECK(e->client_ca_optional && e->compress && e->whitelist.n == 2 && e->whitelist.use_xff);
	CHECK(e->proxy_protocol_enabled && e->proxy_protocol.n == 1);
	CHECK(e->forwarded_headers.n == 1 && !e->forwarded_headers_insecure);
	CHECK(e->auth.enabled && e->auth.nbasic == 1 && e->ncipher_suites == 1);
	CHECK_EQ_STR(e->auth.header_field.p, "X-User");
	e = &t->ep[2];
	CHECK(e->redirect.re != NULL && e->redirect.entrypoint == -1 && e->port == 8080);
	static struct proxy_re_work w;
	char out[128];
	int status;
	long n = proxy_redirect_url(t, &e->redirect, SLICE_LIT("GET"),
				    SLICE_LIT("http://example.com:8080/a/b?c"), SLICE_LIT(""),
				    SLICE_LIT(""), &w, out, sizeof out, &status);
	CHECK_EQ_MEM(out, n < 0 ? 0 : (size_t)n, "https://example.com/a/b?c");
	e = &t->ep[3];
	CHECK(e->auth.enabled && e->auth.forward_tls_ca.len && e->auth.forward_tls_key.len);
	CHECK(e->forwarded_headers_insecure);
	/* Inline PEM needs no loader; a path without one is an error naming the option. */
	struct proxy_ep_spec s;
	struct buf b;
	struct json_writer jw;
	REQUIRE(proxy_ep_parse(SLICE_LIT("Name:a Address::1 TLS:/c,/k"), &s, err_, sizeof err_) ==
		0);
	buf_init(&b, doc, sizeof doc);
	json_w_init(&jw, &b);
	CHECK_EQ_INT(proxy_ep_write_json(&s, &jw, NULL, NULL, err_, sizeof err_),
		     -ERR_PROXY_ENTRYPOINT);
	CHECK(strstr(err_, "TLS: no file loader") != NULL);
	int loads = 0;
	REQUIRE(proxy_ep_parse(SLICE_LIT("Name:a Address::1 TLS:/missing.pem,/key.pem"), &s, err_,
			       sizeof err_) == 0);
	buf_init(&b, doc, sizeof doc);
	json_w_init(&jw, &b);
	CHECK_EQ_INT(proxy_ep_write_json(&s, &jw, fake_load, &loads, err_, sizeof err_),
		     -ERR_NOTFOUND);
	CHECK(strstr(err_, "cannot read \"/missing.pem\"") != NULL);
	/* The seed's two entry points give exactly this JSON. */
	const char *seed[] = {"Name:http Address::80", "Name:https Address::443 TLS"};
	REQUIRE(to_table(seed, 2, &t, doc, sizeof doc) == 0);
	CHECK(strstr(doc, "\"http\":{\"address\":\":80\",\"compress\":false}") != NULL);
	CHECK(strstr(doc, "\"https\":{\"address\":\":443\",\"tls\":{\"sniStrict\":false,"
			  "\"certificates\":[]},\"compress\":false}") != NULL);
	CHECK(t->ep[1].tls && t->ep[1].ncerts == 0);
	/* Writer errors are the writer's: a full buffer. */
	buf_init(&b, doc, 10);
	json_w_init(&jw, &b);
	REQUIRE(proxy_ep_parse(SLICE_LIT("Name:a Address::1"), &s, err_, sizeof err_) == 0);
	CHECK_EQ_INT(proxy_ep_write_json(&s, &jw, NULL, NULL, err_, sizeof err_), -ERR_BUF_FULL);
}

/* ---- CIDR ---------------------------------------------------------------------------------- */

static bool in(const char *cidr, const char *ip)
{
	struct proxy_cidr c;
	struct proxy_ip a;
	if (proxy_cidr_parse(slice_from_cstr(cidr), &c) || proxy_ip_parse(slice_from_cstr(ip), &a))
		return false;
	return proxy_cidr_match(&c, &a);
}

static void cidr_parse_match(void)
{
	CHECK(in("10.0.0.0/8", "10.255.1.2"));
	CHECK(!in("10.0.0.0/8", "11.0.0.1"));
	CHECK(in("10.1.2.3/8", "10.9.9.9")); /* host bits cleared, as Go */
	CHECK(in("192.168.1.1", "192.168.1.1"));
	CHECK(!in("192.168.1.1", "192.168.1.2"));
	CHECK(in("0.0.0.0/0", "1.2.3.4"));
	CHECK(!in("0.0.0.0/0", "::1"));             /* an IPv4 range holds only IPv4 addresses */
	CHECK(in("10.0.0.0/8", "::ffff:10.1.1.1")); /* the same peer on a v6 socket */
	CHECK(in("192.168.0.0/23", "192.168.1.255"));
	CHECK(!in("192.168.0.0/23", "192.168.2.0"));
	CHECK(in("fd00::/8", "fd12:3456::1"));
	CHECK(!in("fd00::/8", "fe80::1"));
	CHECK(in("::/0", "2001:db8::1"));
	CHECK(in("2001:db8::/127", "2001:db8::1"));
	CHECK(!in("2001:db8::/127", "2001:db8::2"));
	CHECK(in("::1", "::1"));
	CHECK(in("1:2:3:4:5:6:7:8/128", "1:2:3:4:5:6:7:8"));
	CHECK(in("::ffff:0:0/96", "1.2.3.4"));
	static const char *bad[] = {"",
				    "10.0.0",
				    "10.0.0.0.0",
				    "256.0.0.1",
				    "010.0.0.1",
				    "1.2.3.4/33",
				    "1.2.3.4/",
				    "1.2.3.4/08",
				    "::1/129",
				    "1::2::3",
				    ":::1",
				    "1:2:3:4:5:6:7:8:9",
				    "fe80::1%eth0",
				    "[::1]",
				    "1.2.3.4 ",
				    "12345::",
				    "1:",
				    "::1.2.3",
				    "a.b.c.d",
				    "1.2.3.-4"};
	struct proxy_cidr c;
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
		if (proxy_cidr_parse(slice_from_cstr(bad[k]), &c) != -ERR_PARSE)
			TEST_FAIL_("\"%s\" accepted", bad[k]);
	/* Formatting (RFC 5952) */
	static const struct {
		const char *in, *out;
	} fmt[] = {{"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
		   {"::", "::"},
		   {"1:0:0:1:0:0:0:1", "1:0:0:1::1"},
		   {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
		   {"10.0.0.1", "10.0.0.1"},
		   {"fe80::1:0:0:0", "fe80::1:0:0:0"}, /* first of equal runs */
		   {"1:0:0:2:0:0:0:3", "1:0:0:2::3"}};
	for (size_t k = 0; k < sizeof fmt / sizeof fmt[0]; k++) {
		struct proxy_ip ip;
		char out[PROXY_IP_STR_MAX];
		REQUIRE(proxy_ip_parse(slice_from_cstr(fmt[k].in), &ip) == 0);
		CHECK(proxy_ip_format(&ip, out, sizeof out) > 0);
		CHECK_EQ_STR(out, fmt[k].out);
	}
	struct proxy_ip ip;
	char small[4];
	REQUIRE(proxy_ip_parse(SLICE_LIT("10.0.0.1"), &ip) == 0);
	CHECK_EQ_INT(proxy_ip_format(&ip, small, sizeof small), -ERR_BUF_FULL);
	const uint8_t raw4[4] = {192, 168, 0, 1};
	REQUIRE(proxy_ip_from_bytes(raw4, 4, &ip) == 0);
	CHECK(proxy_ip_is_v4(&ip) && in("192.168.0.0/16", "192.168.0.1"));
	CHECK_EQ_INT(proxy_ip_from_bytes(raw4, 5, &ip), -ERR_INVAL);
}

static void cidr_lists_xff(void)
{
	struct proxy_cidr list[3];
	REQUIRE(proxy_cidr_parse(SLICE_LIT("10.0.0.0/8"), &list[0]) == 0);
	REQUIRE(proxy_cidr_parse(SLICE_LIT("192.168.0.0/16"), &list[1]) == 0);
	REQUIRE(proxy_cidr_parse(SLICE_LIT("2001:db8::/32"), &list[2]) == 0);
	struct proxy_ip ip;
	REQUIRE(proxy_ip_parse(SLICE_LIT("2001:db8:1::5"), &ip) == 0);
	CHECK(proxy_cidr_list_match(list, 3, &ip));
	CHECK(!proxy_cidr_list_match(list, 0, &ip));
	CHECK(proxy_cidr_xff_match(list, 3, SLICE_LIT("1.1.1.1, garbage ,192.168.4.4")));
	CHECK(!proxy_cidr_xff_match(list, 3, SLICE_LIT("1.1.1.1, 8.8.8.8")));
	CHECK(!proxy_cidr_xff_match(list, 3, SLICE_LIT("")));
	CHECK(proxy_xff_first(SLICE_LIT(" unknown, 10.1.1.1, 1.1.1.1"), &ip) == 0);
	CHECK(proxy_cidr_match(&list[0], &ip));
	CHECK(proxy_xff_first(SLICE_LIT("nope"), &ip) == -ERR_NOTFOUND);
}

TEST_MAIN(seed_strings, addresses, booleans, every_option, refusals, json_roundtrip,
	  cidr_parse_match, cidr_lists_xff)
