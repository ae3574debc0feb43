/* proxy_config.h — the routing document (docs/internals/routing.md, JSON version 1) loaded,
 * validated and compiled into an immutable routing table.
 *
 * Contract
 *   proxy_table_load() checks the whole document and builds a struct proxy_table in one
 *   caller-provided arena. It either succeeds completely or fails with one error code and one
 *   message naming the key at fault ("frontends.web.routes.r1.rule: unknown matcher \"Hots\"");
 *   on failure the arena is rolled back to where it was (nothing half-built survives) and the
 *   running table is untouched, because it lives elsewhere.
 *
 *   A table is self-contained (every string is copied out of the document, unescaped and
 *   NUL-terminated; an absent string is "", never NULL; server host/authority are slices of the
 *   server's url) and immutable: readers share it without locks, and replacing it is a pointer
 *   swap by the engine.
 *   It stays valid until the caller reuses or frees the arena's memory, which it does once no
 *   request still holds the old table (drain).
 *
 *   Memory: proxy_table_bytes(limits) is the worst case for any document within the limits;
 *   an arena of that size never fails with -ERR_ARENA_FULL. The JSON tokens are scratch
 *   (proxy_scratch_tokens(limits) entries, caller-provided, reusable right after the call).
 *   A loaded table uses far less; table->bytes says how much.
 *
 *   Caps, each with its own error and message naming the setting:
 *     max_doc_bytes -ERR_PROXY_DOC_TOO_LARGE     max_tokens     -ERR_JSON_TOO_MANY_TOKENS
 *     max_entrypoints -ERR_PROXY_ENTRYPOINTS_FULL max_frontends -ERR_PROXY_FRONTENDS_FULL
 *     max_backends  -ERR_PROXY_BACKENDS_FULL     max_servers    -ERR_PROXY_SERVERS_FULL
 *     max_routes    -ERR_PROXY_ROUTES_FULL       max_rule_bytes -ERR_PROXY_RULE_TOO_LONG
 *     max_matchers  -ERR_PROXY_MATCHERS_FULL     max_regex_insts -ERR_PROXY_REGEX_TOO_BIG
 *     max_certs     -ERR_PROXY_CERTS_FULL        max_cert_bytes -ERR_PROXY_CERT_TOO_LARGE
 *     max_list_items -ERR_PROXY_LIST_TOO_LONG
 *   Other errors: -ERR_PROXY_VERSION (version is not 1), -ERR_PROXY_CONFIG (anything else
 *   invalid: unknown key, wrong type, unknown backend or entry point, bad address, URL,
 *   duration, CIDR or certificate), -ERR_PROXY_RULE (a rule or regexp), JSON parse errors
 *   (-ERR_JSON_PARSE, -ERR_PARTIAL, -ERR_JSON_DEPTH, -ERR_JSON_DUP_KEY), -ERR_ARENA_FULL
 *   (arena smaller than proxy_table_bytes).
 */
#ifndef PROXY_CONFIG_H
#define PROXY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_arena.h"
#include "base/base_slice.h"
#include "json/json.h"
#include "proxy/proxy_cidr.h"
#include "proxy/proxy_rule.h"

#define PROXY_MAX_ENTRYPOINTS 64 /* entry point sets are uint64_t masks */
#define PROXY_NAME_MAX 255       /* bytes of an entry point, frontend, backend or route name */

struct proxy_limits {
	uint32_t max_entrypoints; /* <= PROXY_MAX_ENTRYPOINTS */
	uint32_t max_frontends;
	uint32_t max_backends;
	uint32_t max_servers;     /* over all backends */
	uint32_t max_routes;      /* over all frontends */
	uint32_t max_rule_bytes;  /* one route string */
	uint32_t max_matchers;    /* matcher values over all rules ("Host:a,b" counts 2) */
	uint32_t max_regex_insts; /* NFA instructions over all programs (one program is also
				   * capped at PROXY_RE_MAX_INSTS) */
	uint32_t max_certs;       /* certificate/key pairs and CA files, entry points + tls */
	uint32_t max_list_items;  /* items of every list and map together (headers, CIDRs,
				   * users, status ranges, rate sets, entry point names ...) */
	uint32_t max_tokens;      /* JSON tokens of the document */
	size_t max_cert_bytes;    /* PEM bytes of every certificate, key and CA together */
	size_t max_doc_bytes;     /* the document's size */
};

/* Defaults: 16 entry points, 1024 frontends, 1024 backends, 4096 servers, 4096 routes,
 * 1024-byte rules, 16384 matcher values, 16384 NFA instructions, 256 certificates, 16384 list
 * items, 131072 tokens, 2 MiB of PEM, 4 MiB documents. */
void proxy_limits_default(struct proxy_limits *lim);

/* Worst-case arena bytes of a table within lim (see docs/internals/proxy-routing.md §5).
 * Limits themselves must be sane: every count >= 1, max_entrypoints <= 64. */
size_t proxy_table_bytes(const struct proxy_limits *lim);
/* JSON tokens the loader needs as scratch (= lim->max_tokens). */
size_t proxy_scratch_tokens(const struct proxy_limits *lim);

/* ---- the table ------------------------------------------------------------------------ */

/* A certificate (chain) and its key, inline PEM, NUL-terminated. */
struct proxy_pem_pair {
	struct slice cert;
	struct slice key;
};

struct proxy_kv {
	struct slice name;
	struct slice value;
};

/* Redirect of an entry point or a frontend. Active when entrypoint >= 0 or re != NULL. */
struct proxy_redirect {
	int32_t entrypoint;        /* index in table->ep; wins over regex */
	const struct proxy_re *re; /* capture program of `regex` (see proxy_redirect_url) */
	struct slice regex;
	struct slice replacement;
	bool permanent; /* 301/308 instead of 302/307 */
};

/* IP allow-list: active when n > 0. */
struct proxy_whitelist {
	const struct proxy_cidr *cidr;
	uint32_t n;
	bool use_xff; /* also accept when an X-Forwarded-For element matches */
};

struct proxy_auth {
	bool enabled;              /* any of basic, digest, forward */
	const struct slice *basic; /* "user:hash" (MD5-apr1, SHA1, bcrypt) */
	uint32_t nbasic;
	bool basic_remove_header;
	const struct slice *digest; /* "user:realm:hash" */
	uint32_t ndigest;
	bool digest_remove_header;
	struct slice header_field;    /* pass the user name upstream in this header; may be empty */
	struct slice forward_address; /* forward auth URL; empty = none */
	bool forward_trust_header;
	const struct slice *forward_response_headers;
	uint32_t nforward_response_headers;
	struct slice forward_tls_ca, forward_tls_cert, forward_tls_key; /* PEM, may be empty */
	bool forward_tls_ca_optional;
	bool forward_tls_insecure;
};

enum proxy_tls_version {
	PROXY_TLS_DEFAULT = 0, /* the TLS layer's minimum */
	PROXY_TLS10 = 0x0301,
	PROXY_TLS11 = 0x0302,
	PROXY_TLS12 = 0x0303,
	PROXY_TLS13 = 0x0304,
};

struct proxy_entrypoint {
	struct slice name;
	struct slice address; /* as written */
	struct proxy_ip ip;   /* listen address (:: mapped form); any when any_addr */
	bool any_addr;        /* ":80": every address */
	uint16_t port;
	bool tls;
	const struct proxy_pem_pair *certs; /* static certificates */
	uint32_t ncerts;
	struct proxy_pem_pair default_cert; /* .cert.len == 0: none */
	uint16_t min_version;               /* enum proxy_tls_version */
	bool sni_strict;
	const struct slice
		*cipher_suites; /* Go names, e.g. TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 */
	uint32_t ncipher_suites;
	const struct slice *client_ca; /* PEM; mutual TLS when nclient_ca > 0 */
	uint32_t nclient_ca;
	bool client_ca_optional;
	bool compress;
	struct proxy_redirect redirect;
	struct proxy_whitelist whitelist;
	struct proxy_whitelist proxy_protocol; /* PROXY protocol from these peers */
	bool proxy_protocol_enabled;
	bool proxy_protocol_insecure;             /* from any peer (logs a warning) */
	struct proxy_whitelist forwarded_headers; /* peers trusted to set X-Forwarded-* */
	bool forwarded_headers_insecure;          /* default true unless trustedIPs given */
	struct proxy_auth auth;
	/* Frontends serving this entry point, best first (indices in table->fe), and for each a
	 * 64-bit filter of the Host literals its rule requires: bit (proxy_host_hash(host) & 63)
	 * is set for every allowed host; all ones when the rule does not pin literal hosts. The
	 * matcher skips a frontend whose filter lacks the request host's bit without touching it.
	 */
	const uint32_t *fe_order;
	const uint64_t *fe_hostmask;
	uint32_t nfe_order;
};

struct proxy_status_range {
	uint16_t lo, hi; /* inclusive */
};

struct proxy_error_page {
	struct slice name;
	const struct proxy_status_range *status;
	uint32_t nstatus;
	uint32_t backend;   /* index in table->be */
	struct slice query; /* path; "{status}" is replaced by the code */
};

enum proxy_extractor {
	PROXY_EXTRACT_HOST = 0,  /* request.host (default) */
	PROXY_EXTRACT_CLIENT_IP, /* client.ip */
	PROXY_EXTRACT_HEADER,    /* request.header.<Name> */
};

struct proxy_rateset {
	struct slice name;
	uint64_t period_ms;
	int64_t average;
	int64_t burst;
};

struct proxy_headers {
	const struct proxy_kv *request; /* customRequestHeaders; empty value = remove */
	uint32_t nrequest;
	const struct proxy_kv *response; /* customResponseHeaders */
	uint32_t nresponse;
	const struct proxy_kv *ssl_proxy; /* sslProxyHeaders */
	uint32_t nssl_proxy;
	const struct slice *allowed_hosts;
	uint32_t nallowed_hosts;
	const struct slice *hosts_proxy_headers;
	uint32_t nhosts_proxy_headers;
	bool secure; /* any security option below is set */
	bool ssl_redirect, ssl_temporary_redirect, ssl_force_host;
	bool sts_include_subdomains, sts_preload, force_sts_header;
	bool frame_deny, content_type_nosniff, browser_xss_filter, is_development;
	int64_t sts_seconds;
	struct slice ssl_host, custom_frame_options_value, custom_browser_xss_value;
	struct slice content_security_policy, public_key, referrer_policy;
};

/* passTLSClientCert bits */
enum {
	PROXY_PTC_PEM = 1u << 0,
	PROXY_PTC_NOT_AFTER = 1u << 1,
	PROXY_PTC_NOT_BEFORE = 1u << 2,
	PROXY_PTC_SANS = 1u << 3,
	PROXY_PTC_SUBJECT = 4, /* shift: subject fields at bits 4..10, in the order below */
	PROXY_PTC_ISSUER = 11, /* shift: issuer fields at bits 11..17 */
	/* field order: commonName, country, domainComponent, locality, organization, province,
	 * serialNumber */
};

struct proxy_frontend {
	struct slice name;
	uint64_t ep_mask;  /* bit i: serves table->ep[i] */
	uint32_t backend;  /* index in table->be */
	uint32_t priority; /* effective: the configured one, or the rule length sum */
	bool priority_set; /* priority came from the document */
	bool pass_host_header;
	bool pass_tls_cert;
	uint32_t pass_tls_client_cert;   /* PROXY_PTC_* bits */
	const struct slice *route_names; /* nroutes, in document order */
	const struct slice *route_rules;
	uint32_t nroutes;
	struct proxy_rule rule; /* every route ANDed */
	struct proxy_headers headers;
	struct proxy_redirect redirect;
	struct proxy_whitelist whitelist;
	struct proxy_auth auth;
	const struct proxy_error_page *errors;
	uint32_t nerrors;
	uint8_t ratelimit_extractor; /* enum proxy_extractor; meaningful when nratesets > 0 */
	struct slice ratelimit_header;
	const struct proxy_rateset *ratesets;
	uint32_t nratesets;
};

enum proxy_scheme { PROXY_SCHEME_HTTP = 0, PROXY_SCHEME_HTTPS, PROXY_SCHEME_H2C };
enum proxy_lb_method { PROXY_LB_WRR = 0, PROXY_LB_DRR };
enum proxy_same_site {
	PROXY_SAMESITE_UNSET = 0,
	PROXY_SAMESITE_NONE,
	PROXY_SAMESITE_LAX,
	PROXY_SAMESITE_STRICT,
};

struct proxy_server {
	struct slice name;
	struct slice url;       /* as configured: also the sticky cookie value */
	struct slice host;      /* host part: name or address, IPv6 without brackets */
	struct slice authority; /* host[:port] as in the URL (Host header when not passed) */
	struct proxy_ip ip;     /* when ip_literal */
	bool ip_literal;
	uint8_t scheme;   /* enum proxy_scheme */
	uint16_t port;    /* explicit, or 80 / 443 */
	uint32_t weight;  /* >= 1 (0 in the document is 1) */
	uint32_t backend; /* index in table->be */
};

struct proxy_backend {
	struct slice name;
	uint32_t first_server; /* servers are table->srv[first_server .. + nservers) */
	uint32_t nservers;
	uint8_t method; /* enum proxy_lb_method */
	bool sticky;
	struct slice cookie_name; /* sticky: configured or generated ("_" + 5 hex of SHA-1) */
	bool cookie_secure, cookie_http_only;
	uint8_t cookie_same_site; /* enum proxy_same_site */
	bool health;              /* health check configured (path non-empty) */
	struct slice hc_path, hc_scheme, hc_hostname;
	uint64_t hc_interval_ms; /* default 30000 */
	uint64_t hc_timeout_ms;  /* default 5000 */
	uint16_t hc_port;        /* 0: the server's port */
	const struct proxy_kv *hc_headers;
	uint32_t nhc_headers;
	uint64_t maxconn;          /* 0: no limit */
	uint8_t maxconn_extractor; /* enum proxy_extractor */
	struct slice maxconn_header;
	struct slice cb_expression; /* circuit breaker expression, empty: none (kept verbatim) */
	bool buffering;
	int64_t max_request_body, mem_request_body, max_response_body, mem_response_body;
	struct slice retry_expression;
	int64_t flush_interval_ms; /* responseForwarding.flushInterval; -1 when unset */
};

/* A dynamic certificate (top-level "tls" list). */
struct proxy_cert {
	uint64_t ep_mask;
	struct proxy_pem_pair pem;
};

struct proxy_table {
	uint64_t revision;
	uint64_t default_ep_mask;
	const struct proxy_entrypoint *ep; /* document order */
	uint32_t nep;
	const struct proxy_frontend *fe; /* priority descending, then name ascending */
	uint32_t nfe;
	const struct proxy_backend *be; /* document order */
	uint32_t nbe;
	const struct proxy_server *srv; /* grouped by backend, document order within one */
	uint32_t nsrv;
	const struct proxy_cert *certs;
	uint32_t ncerts;
	/* Upstream TLS, Traefik v1's global options (top-level keys): https:// servers are
	 * verified against root_cas (inline PEM, each one or more CERTIFICATE objects) unless
	 * insecure_skip_verify; with neither, requests to them get 502. */
	bool insecure_skip_verify;
	const struct slice *root_cas;
	uint32_t nroot_cas;
	const uint32_t *ep_by_name; /* indices sorted by name, for lookups */
	const uint32_t *be_by_name;
	const uint32_t *fe_by_name;
	/* totals, for logs and metrics */
	uint32_t nroutes, nmatchers, ninsts, cert_pairs, nitems;
	size_t cert_bytes;
	size_t bytes; /* arena bytes this table used */
};

struct proxy_cfg_err {
	char msg[256]; /* "<key path>: <what is wrong>" */
};

/* Load doc[0..len) (see the top comment). toks (ntoks entries, ideally
 * proxy_scratch_tokens(lim)) is scratch. On success *out points into the arena. */
int proxy_table_load(const char *doc, size_t len, const struct proxy_limits *lim, struct arena *a,
		     json_tok *toks, size_t ntoks, const struct proxy_table **out,
		     struct proxy_cfg_err *err);

/* Lookups by name: index, or -ERR_NOTFOUND. O(log n). */
int proxy_table_entrypoint(const struct proxy_table *t, struct slice name);
int proxy_table_backend(const struct proxy_table *t, struct slice name);
int proxy_table_frontend(const struct proxy_table *t, struct slice name);

/* The result of routing one request. */
struct proxy_match {
	uint32_t fe; /* index in t->fe */
	uint32_t be; /* t->fe[fe].backend */
	struct proxy_rule_hit hit;
};

/* Route a request that arrived on entry point `ep` (index in t->ep): the first frontend of
 * that entry point, in priority order, whose rule matches. 0 and *m, or -ERR_NOTFOUND (answer
 * 404). No allocation; no state. */
int proxy_table_match(const struct proxy_table *t, uint32_t ep, const struct proxy_req_view *v,
		      struct proxy_match *m);

/* Build the Location of a redirect for the request URL `url` (scheme://host/path?query as the
 * client sent it): with an entry point redirect, scheme https when the target has TLS (else
 * http), the request's host without port, the target's port unless it is the scheme's
 * default, the same path and query; with a regex redirect, Go's ReplaceAllString of url.
 * For a request without a Host the caller passes proxy_local_host's text as host (and in
 * url).
 * Writes out (cap) and returns the length; *status gets 302/307 (301/308 permanent) for
 * GET/HEAD and other methods respectively. -ERR_NOTFOUND when the regex does not match (no
 * redirect), -ERR_BUF_FULL, -ERR_INVAL (redirect not active). */
long proxy_redirect_url(const struct proxy_table *t, const struct proxy_redirect *r,
			struct slice method, struct slice url, struct slice host,
			struct slice path_and_query, struct proxy_re_work *w, char *out, size_t cap,
			int *status);

/* The Host a client names when it reaches local address `ip` port `port` (the socket's
 * getsockname) without sending one (HTTP/1.0 without Host, or an empty Host): the address
 * literal (IPv6 in brackets, IPv4-mapped IPv6 as a dotted quad), then ":port" unless it is the
 * scheme's default (443 when tls, else 80). Redirects use it in place of the missing Host so
 * the Location names the address the client connected to. Writes out NUL-terminated and
 * returns the length; -ERR_BUF_FULL when cap is too small (PROXY_LOCAL_HOST_MAX always
 * suffices). No allocation. */
#define PROXY_LOCAL_HOST_MAX (PROXY_IP_STR_MAX + 8)
int proxy_local_host(const struct proxy_ip *ip, uint16_t port, bool tls, char *out, size_t cap);

#endif
