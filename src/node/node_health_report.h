/* node_health_report.h — data nodes' health verdicts, reported to the control nodes
 * (docs/internals/node.md, "Health reports").
 *
 * Contract
 *
 * - A data node tells a control node which of its servers it finds up: POST /nodes/health
 *   over mutual TLS with its own certificate, body (compact JSON, at most NHR_BODY_MAX bytes)
 *       {"revision":R,"servers":[{"backend":"b","url":"http://…","up":true},…]}
 *   plus "truncated":true when servers were left out. Only servers of backends with an
 *   active health check are listed (the others are "not checked"), at most NHR_SERVERS_MAX,
 *   in document order: the ones after the cap (or with a URL over NHR_URL_MAX bytes, or
 *   that would take the body over NHR_BODY_MAX) are left out and show "no report".
 * - The control node keeps, per data node, the latest report as a sorted array of 64-bit
 *   entries: nhr_key(backend, url) with the low bit replaced by the verdict. Nothing else
 *   (no names: the dashboard API joins them with the committed routing document). A report
 *   older than NHR_STALE_MS is stale: it says nothing about up or down.
 * - Control nodes pass reports to each other as a copy:
 *       {"node":"<data node ID>","ageMs":N,"revision":R,"truncated":false,"entries":"<hex>"}
 *   entries: 16 hex digits per entry, at most NHR_SERVERS_MAX; at most NHR_COPY_MAX bytes.
 * - Parsers take (buf, len) and caller-provided JSON tokens (at least NHR_TOKENS, or the
 *   document's limit for nhr_doc_servers); nothing here allocates except nhr_table_put (one
 *   array of NHR_SERVERS_MAX entries per data node slot, on its first report, kept until
 *   nhr_table_fini). No clock: times are passed in (loop ms).
 * - Errors: -ERR_TOO_LARGE (over a cap: body bytes, servers, JSON values), -ERR_INVAL
 *   (anything malformed), -ERR_NOMEM (nhr_table_put); msg says which key is at fault.
 */
#ifndef NODE_NODE_HEALTH_REPORT_H
#define NODE_NODE_HEALTH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "base/base_id.h"
#include "base/base_slice.h"
#include "json/json.h"

#define NHR_SERVERS_MAX 1024u                   /* servers one report carries */
#define NHR_BODY_MAX (128u << 10)               /* bytes of a report body (POST /nodes/health) */
#define NHR_NAME_MAX 255u                       /* bytes of a backend name (PROXY_NAME_MAX) */
#define NHR_URL_MAX 2048u                       /* bytes of a server URL reported */
#define NHR_TOKENS (16u + 7u * NHR_SERVERS_MAX) /* JSON tokens a report may take */
#define NHR_COPY_MAX (512u + 16u * NHR_SERVERS_MAX) /* bytes of a copy between control nodes */
#define NHR_NODES_MAX 256u    /* data nodes whose report is kept (replicated max_nodes) */
#define NHR_PERIOD_MS 15000u  /* a data node reports at least this often */
#define NHR_DEBOUNCE_MS 1000u /* and at most this often */
#define NHR_STALE_MS 45000u   /* an older report is shown as stale */

/* The entry key of a server: FNV-1a 64 of (u32 backend length, backend, url), low bit 0. */
uint64_t nhr_key(struct slice backend, struct slice url);

/* --- the data node's side: write a report ---------------------------------------------- */

#define NHR_TAIL 24u /* bytes nhr_write_end may add */

struct nhr_writer {
	struct buf *out;
	uint32_t n;     /* servers written */
	bool truncated; /* servers left out */
	int err;        /* first error of begin */
};

/* Start a report in out (out->cap at least 64 bytes; NHR_BODY_MAX is the size to use). */
int nhr_write_begin(struct nhr_writer *w, struct buf *out, uint64_t revision);
/* Add one server; one that does not fit (cap, URL or body size) sets truncated instead. */
void nhr_write_server(struct nhr_writer *w, struct slice backend, struct slice url, bool up);
/* Close the report. 0, or the first error. */
int nhr_write_end(struct nhr_writer *w);

/* --- the control node's side: parse and keep ------------------------------------------- */

struct nhr_report {
	uint64_t revision;
	uint32_t n;
	bool truncated;
	uint64_t ent[NHR_SERVERS_MAX]; /* sorted: key | up */
};

/* Parse a report body. toks: at least NHR_TOKENS. 0, -ERR_TOO_LARGE or -ERR_INVAL. */
int nhr_parse(const char *body, size_t len, json_tok *toks, size_t ntoks, struct nhr_report *r,
	      char *msg, size_t cap);

/* The verdict of key in the sorted entries: 1 up, 0 down, -ERR_NOTFOUND. */
int nhr_entries_get(const uint64_t *ent, uint32_t n, uint64_t key);

struct nhr_node {
	bool used;
	char id[ID_LEN + 1];
	uint64_t at_ms; /* loop ms the report was made (received, less a copy's age) */
	uint64_t revision;
	uint32_t n;
	bool truncated;
	uint32_t fwd;  /* control node peer slots this report is still to be copied to */
	uint64_t *ent; /* NHR_SERVERS_MAX, sorted */
};

struct nhr_table {
	struct nhr_node node[NHR_NODES_MAX];
	uint64_t reports, evicted;
};

void nhr_table_init(struct nhr_table *t);
void nhr_table_fini(struct nhr_table *t);
/* Keep r as node id's latest report, made at at_ms. A report older than the one kept is
 * ignored (1). With every slot taken, the slot with the oldest report is reused. 0, 1 or
 * -ERR_NOMEM / -ERR_INVAL (id not a node ID). *out: the node's slot (0 and 1). */
int nhr_table_put(struct nhr_table *t, const char *id, const struct nhr_report *r, uint64_t at_ms,
		  struct nhr_node **out);
struct nhr_node *nhr_table_get(struct nhr_table *t, const char *id);

enum nhr_state {
	NHR_NONE = 0, /* no report, or the server is not in it */
	NHR_STALE,    /* the report is older than NHR_STALE_MS */
	NHR_UP,
	NHR_DOWN,
};
/* What node n (NULL: no report) says of key at now_ms. */
enum nhr_state nhr_node_state(const struct nhr_node *n, uint64_t now_ms, uint64_t key);
/* ms since the report was made (0 when in the future). */
uint64_t nhr_node_age(const struct nhr_node *n, uint64_t now_ms);

/* A copy of n for the other control nodes, into out (NHR_COPY_MAX). 0 or -ERR_BUF_FULL. */
int nhr_copy_write(struct buf *out, const struct nhr_node *n, uint64_t now_ms);
/* Parse a copy. toks: at least 32. 0, -ERR_TOO_LARGE or -ERR_INVAL. */
int nhr_copy_parse(const char *body, size_t len, json_tok *toks, size_t ntoks, char id[ID_LEN + 1],
		   uint64_t *age_ms, struct nhr_report *r, char *msg, size_t cap);

/* --- the servers a routing document health-checks --------------------------------------- */

struct nhr_srv {
	uint32_t be_off, be_len, url_off, url_len; /* in str */
};

struct nhr_srvlist {
	uint32_t n;
	bool truncated; /* servers past NHR_SERVERS_MAX or the string space were left out */
	struct nhr_srv s[NHR_SERVERS_MAX];
	size_t str_len;
	char str[NHR_BODY_MAX];
};

static inline struct slice nhr_srv_backend(const struct nhr_srvlist *l, uint32_t i)
{
	return (struct slice){l->str + l->s[i].be_off, l->s[i].be_len};
}
static inline struct slice nhr_srv_url(const struct nhr_srvlist *l, uint32_t i)
{
	return (struct slice){l->str + l->s[i].url_off, l->s[i].url_len};
}

/* The servers of doc's backends that have an active health check (a healthCheck.path and
 * a scheme of "", http or https, as the proxy), in document order, grouped by backend.
 * 0, or a json_parse error / -ERR_INVAL (not a routing document). */
int nhr_doc_servers(const char *doc, size_t len, json_tok *toks, size_t ntoks,
		    struct nhr_srvlist *out);

#endif
