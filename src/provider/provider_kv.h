/* provider_kv.h — Traefik v1 KV layout (Consul, etcd) -> routing document, a pure function.
 *
 * Contract
 *
 * - Input: n (key, value) pairs whose keys are RELATIVE to the provider prefix
 *   ("frontends/web/backend", not "traefik/frontends/web/backend"), sorted with
 *   provider_kv_sort (byte order, except that '/' sorts before every other byte, so the keys of
 *   one object are contiguous and object names come out in byte order). Keys and values are
 *   slices the caller owns; they must stay valid during the call. Nothing is allocated.
 * - Output: one compact JSON object {"frontends":{…},"backends":{…},"tls":[…]} appended to
 *   `out` in the vocabulary of docs/internals/routing.md; the same input always gives the same
 *   bytes. On -ERR_PROVIDER_DOC_TOO_LARGE out is left as it was.
 * - Invalid entries are reported to `d` with their key and skipped the way Traefik v1 skips
 *   them: a frontend without a backend or with an unknown one, a route without a rule, a
 *   server without a URL (or not http/https), a TLS entry without entry points or with a
 *   certificate that is a file path (data nodes read no files; the PEM must be in the value);
 *   a bad boolean, integer or duration falls back to the default with a warning. Unknown keys
 *   are reported as warnings and ignored. docs/providers.md lists every key.
 * - Lists are a comma-separated value or children /0, /1, … (the value is checked first);
 *   maps (headers) are children whose last segment is the header name, canonicalised like Go's
 *   textproto ("x-foo" -> "X-Foo"); a second spelling of the same header is skipped.
 * - Errors: 0; -ERR_INVAL (keys not sorted); -ERR_PROVIDER_DOC_TOO_LARGE (out is full: the
 *   setting behind out's capacity is max_doc_bytes).
 */
#ifndef PROVIDER_PROVIDER_KV_H
#define PROVIDER_PROVIDER_KV_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base_b64.h"
#include "base/base_buf.h"
#include "base/base_slice.h"
#include "provider/provider.h"

#define PROVIDER_KV_KEY_MAX 512  /* longest key handled (relative); longer: skipped */
#define PROVIDER_KV_LIST_MAX 256 /* items in one list or map */

struct provider_kv {
	struct slice key;
	struct slice val;
};

/* Is root (a lower-cased first key segment) a Traefik v1 static setting that TraefikEE sets on
 * the nodes rather than in a deploy (loglevel, api, metrics, accesslog, ...)? The translation
 * skips these keys quietly; `deploy --configfile` ignores them with a warning. */
bool provider_kv_node_root(struct slice root);

/* Sort kv[0..n) in the order provider_kv_translate expects. */
void provider_kv_sort(struct provider_kv *kv, size_t n);
/* Compare two keys in that order (< 0, 0, > 0). */
int provider_kv_keycmp(struct slice a, struct slice b);

/* Make keys relative to root ("traefik", "/traefik", "traefik/"; leading and trailing '/'
 * ignored on both sides) and drop every pair not under root/, compacting kv. Returns the new
 * count. The key slices are narrowed in place (they still point into the caller's bytes). */
size_t provider_kv_strip_root(struct provider_kv *kv, size_t n, struct slice root);

/* The `alias` key among relative, sorted pairs: true and *alias (leading/trailing '/' removed)
 * when it exists with a non-empty value. Traefik v1: the configuration is then read under the
 * alias value instead of the prefix (an atomic switch of a whole tree). */
bool provider_kv_alias(const struct provider_kv *kv, size_t n, struct slice *alias);

int provider_kv_translate(const struct provider_kv *kv, size_t n, struct buf *out,
			  struct provider_diag *d);

/* Canonical MIME header name (Go textproto rules): out gets a copy of name with the first
 * letter and every letter after '-' upper-case, the rest lower-case; a name with a byte that
 * is not a token character is copied unchanged. out must hold name.len bytes. */
void provider_kv_canon_header(struct slice name, char *out);

/* Go strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False. 0 or -ERR_PARSE. */
int provider_kv_parse_bool(struct slice s, bool *out);

/* Base64 of keys and values: base/base_b64.h. */

#endif
