/* proxy_entrypoint.h — Traefik v1's --entryPoints flag value, parsed and turned into the routing
 * document's entryPoints.<name> JSON object (docs/internals/routing.md).
 *
 * Contract (SPEC-FACTS §2.2)
 *   The value is whitespace-separated tokens; each token is split at its FIRST ':' into option
 *   and value ("Address::80" is Address = ":80"). Option names are case-insensitive and '.'
 *   and '_' are the same separator ("Redirect.EntryPoint" = "redirect_entrypoint"). A bare
 *   "TLS" enables TLS with no static certificate; other bare options have an empty value.
 *   Booleans are true only for "true", "enable" or "on" (any case): a bare "Compress" is
 *   false. Lists are comma-separated.
 *
 *   Stricter than Traefik v1 on purpose: an unknown option, an option given twice, a TLS.* or
 *   CA option without TLS, a malformed address, CIDR, redirect regexp or certificate pair, a
 *   missing Name or Address is an error naming the option, not a silent default.
 *
 *   Parsing never allocates: every slice in struct proxy_ep_spec points into the input, which
 *   must outlive the spec. Writing JSON needs file contents for the certificate options (which
 *   take a path or inline PEM): the caller passes a loader (the CLI reads files); values that
 *   already hold "-----BEGIN" are written as they are. This module does no I/O.
 *
 * Errors: -ERR_PROXY_ENTRYPOINT with a message in err ("WhiteList.SourceRange: \"10.0.0/8\" is
 * not an IP address or CIDR range"); the writer also returns the json_writer's error or the
 * loader's.
 */
#ifndef PROXY_ENTRYPOINT_H
#define PROXY_ENTRYPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_slice.h"
#include "json/json_write.h"
#include "proxy/proxy_cidr.h"

/* Option identifiers (bit positions in proxy_ep_spec.seen). */
enum proxy_ep_opt {
	PROXY_EP_NAME = 0,
	PROXY_EP_ADDRESS,
	PROXY_EP_TLS,
	PROXY_EP_TLS_MINVERSION,
	PROXY_EP_TLS_CIPHERSUITES,
	PROXY_EP_TLS_SNISTRICT,
	PROXY_EP_TLS_DEFAULT_CERT,
	PROXY_EP_TLS_DEFAULT_KEY,
	PROXY_EP_CA,
	PROXY_EP_CA_OPTIONAL,
	PROXY_EP_REDIRECT_ENTRYPOINT,
	PROXY_EP_REDIRECT_REGEX,
	PROXY_EP_REDIRECT_REPLACEMENT,
	PROXY_EP_REDIRECT_PERMANENT,
	PROXY_EP_COMPRESS,
	PROXY_EP_WHITELIST_SOURCERANGE,
	PROXY_EP_WHITELIST_XFF,
	PROXY_EP_WHITELISTSOURCERANGE, /* deprecated spelling */
	PROXY_EP_PROXYPROTOCOL_TRUSTEDIPS,
	PROXY_EP_PROXYPROTOCOL_INSECURE,
	PROXY_EP_FORWARDED_TRUSTEDIPS,
	PROXY_EP_FORWARDED_INSECURE,
	PROXY_EP_AUTH_BASIC_USERS,
	PROXY_EP_AUTH_BASIC_REMOVEHEADER,
	PROXY_EP_AUTH_DIGEST_USERS,
	PROXY_EP_AUTH_DIGEST_REMOVEHEADER,
	PROXY_EP_AUTH_HEADERFIELD,
	PROXY_EP_AUTH_FORWARD_ADDRESS,
	PROXY_EP_AUTH_FORWARD_RESPONSEHEADERS,
	PROXY_EP_AUTH_FORWARD_TRUST,
	PROXY_EP_AUTH_FORWARD_TLS_CA,
	PROXY_EP_AUTH_FORWARD_TLS_CAOPTIONAL,
	PROXY_EP_AUTH_FORWARD_TLS_CERT,
	PROXY_EP_AUTH_FORWARD_TLS_KEY,
	PROXY_EP_AUTH_FORWARD_TLS_INSECURE,
	PROXY_EP_NOPTS
};

/* The option's canonical spelling ("Redirect.EntryPoint"). */
const char *proxy_ep_opt_name(enum proxy_ep_opt o);

/* One parsed flag value. Lists are kept as written (comma-separated), already validated. */
struct proxy_ep_spec {
	uint64_t seen; /* bit (1 << enum proxy_ep_opt) per option given */
	struct slice name;
	struct slice address;
	struct proxy_ip ip; /* parsed address */
	bool any_addr;
	uint16_t port;
	bool tls;
	struct slice tls_certs; /* "cert,key;cert2,key2" (paths or PEM); empty with bare TLS */
	uint32_t ntls_certs;
	struct slice min_version;   /* "VersionTLS12" */
	struct slice cipher_suites; /* list */
	bool sni_strict;
	struct slice default_cert, default_key;
	struct slice ca; /* list of files */
	bool ca_optional;
	struct slice redirect_entrypoint, redirect_regex, redirect_replacement;
	bool redirect_permanent;
	bool compress;
	struct slice whitelist; /* CIDR list (either spelling) */
	bool whitelist_xff;
	struct slice pp_trusted; /* ProxyProtocol.TrustedIPs */
	bool pp_insecure;
	struct slice fwd_trusted;               /* ForwardedHeaders.TrustedIPs */
	bool fwd_insecure;                      /* default true unless TrustedIPs given */
	struct slice basic_users, digest_users; /* lists */
	bool basic_remove_header, digest_remove_header;
	struct slice header_field;
	struct slice forward_address, forward_response_headers; /* URL, list */
	bool forward_trust;
	struct slice forward_tls_ca, forward_tls_cert, forward_tls_key;
	bool forward_tls_ca_optional, forward_tls_insecure;
};

/* Parse one --entryPoints value. 0, or -ERR_PROXY_ENTRYPOINT with err (errcap bytes) set. */
int proxy_ep_parse(struct slice s, struct proxy_ep_spec *out, char *err, size_t errcap);

/* True only for true / enable / on, any case (Traefik v1's rule). */
bool proxy_ep_bool(struct slice v);

/* Next item of a comma-separated list (spaces around items trimmed, empty items skipped). */
bool proxy_ep_list_next(struct slice *rest, struct slice *item);

/* Gives the PEM text behind a path-or-PEM value (reads the file, in the CLI). The returned
 * slice must stay valid until proxy_ep_write_json returns. 0 or a negative -ERR_* code. */
typedef int (*proxy_ep_load_fn)(void *ctx, struct slice path_or_pem, struct slice *pem);

/* Write the entry point's JSON object (the value of entryPoints.<name>; the caller writes the
 * key) with w. load may be NULL when every certificate value is inline PEM. 0 or a negative
 * code (err says which option when it is the loader's or a missing loader). */
int proxy_ep_write_json(const struct proxy_ep_spec *ep, struct json_writer *w,
			proxy_ep_load_fn load, void *ctx, char *err, size_t errcap);

#endif
