/* provider.h — routing-document providers on the event loop: file, Consul KV, etcd v3.
 *
 * Contract
 *
 * - A control node (the Raft leader) runs one provider. The provider watches its source and,
 *   whenever the source changes, computes the dynamic part of the routing document
 *   (docs/internals/routing.md): a JSON object with exactly the members "frontends", "backends"
 *   and "tls". The leader adds version, revision, entryPoints and defaultEntryPoints from the
 *   deployed static configuration before it commits the document.
 * - Emission: the document is handed to cfg->on_doc as a slice that is valid only during the
 *   callback (copy it to keep it). A new document is emitted after the throttle (debounce, see
 *   below); a document byte-identical to the last one emitted is never emitted again.
 * - Errors in the source (a malformed file, a bad KV value, an unknown backend) are reported
 *   with the file line or the KV key through the log (or cfg->diag for tests); invalid entries
 *   are skipped as Traefik v1 skips them, and a source that cannot be read or parsed at all
 *   leaves the last good document in force (nothing is emitted).
 * - Connection errors are retried with exponential back-off and jitter (cfg->rand); they never
 *   end the provider. A refused credential (Consul 403, etcd 401) is logged as such.
 * - Memory: provider_init allocates every buffer once, from struct provider_limits; nothing
 *   allocates afterwards. Running into a cap is an error naming it (max_doc_bytes,
 *   max_response_bytes, max_keys, max_file_bytes); the last good document stays.
 * - Everything runs on the caller's loop; nothing blocks except reading a local file (the file
 *   provider, and certificate files named by --*.tls.* at init) and resolving an endpoint
 *   host name, which happens once in provider_init.
 *
 * Throttle (providersThrottleDuration, default 2 s, 0 allowed): the first document is emitted
 * at once. After that, every change re-arms a timer of throttle ms (trailing debounce), so a
 * burst of non-atomic multi-key writes becomes one document; a change pending for 5 × throttle
 * is emitted even if the source keeps changing, so churn cannot starve updates.
 */
#ifndef PROVIDER_PROVIDER_H
#define PROVIDER_PROVIDER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "base/base_log.h"
#include "base/base_rand.h"
#include "base/base_slice.h"
#include "loop/loop.h"

/* Flags ----------------------------------------------------------------------------------- */

#define PROVIDER_STR_MAX 512 /* each string flag, NUL included */

struct provider_tls_flags {
	char ca[PROVIDER_STR_MAX];   /* CA certificate file (PEM), "" = system-less: required */
	char cert[PROVIDER_STR_MAX]; /* client certificate file (PEM) */
	char key[PROVIDER_STR_MAX];  /* client key file (PEM) */
	bool insecure_skip_verify;
	bool set; /* any --x.tls.* flag given: use TLS even for a bare host:port endpoint */
};

/* Traefik v1 provider flags as `traefikee deploy` passes them (names case-insensitive). */
struct provider_flags {
	bool file;                            /* --file */
	char file_filename[PROVIDER_STR_MAX]; /* --file.filename */
	bool file_watch;                      /* --file.watch (default true) */

	bool consul;                            /* --consul */
	char consul_endpoint[PROVIDER_STR_MAX]; /* --consul.endpoint (127.0.0.1:8500) */
	char consul_prefix[PROVIDER_STR_MAX];   /* --consul.prefix (traefik) */
	char consul_token[PROVIDER_STR_MAX];    /* --consul.token, else CONSUL_HTTP_TOKEN */
	struct provider_tls_flags consul_tls;   /* --consul.tls.ca|cert|key|insecureskipverify */

	bool etcd;                            /* --etcd */
	char etcd_endpoint[PROVIDER_STR_MAX]; /* --etcd.endpoint (127.0.0.1:2379) */
	char etcd_prefix[PROVIDER_STR_MAX];   /* --etcd.prefix (/traefik) */
	bool etcd_useapiv3;                   /* --etcd.useapiv3 (only v3 is served) */
	char etcd_username[PROVIDER_STR_MAX]; /* --etcd.username */
	char etcd_password[PROVIDER_STR_MAX]; /* --etcd.password */
	struct provider_tls_flags etcd_tls;   /* --etcd.tls.* */

	uint64_t throttle_ms; /* --providersthrottleduration (Go duration, default 2s) */

	/* From the environment (provider_flags_env): proxies for provider connections. */
	char http_proxy[PROVIDER_STR_MAX];  /* HTTP_PROXY / http_proxy */
	char https_proxy[PROVIDER_STR_MAX]; /* HTTPS_PROXY / https_proxy */
	char no_proxy[PROVIDER_STR_MAX];    /* NO_PROXY / no_proxy */
};

/* Defaults of every flag. */
void provider_flags_default(struct provider_flags *f);
/* Set one flag by name, without the leading dashes ("consul.endpoint", case-insensitive);
 * value NULL for a bare boolean. 0, -ERR_NOTFOUND (not a provider flag: the caller may own
 * it), -ERR_USAGE (bad boolean or duration) or -ERR_BUF_FULL (value over PROVIDER_STR_MAX). */
int provider_flags_set(struct provider_flags *f, const char *name, const char *value);
/* Read CONSUL_HTTP_TOKEN (when --consul.token is empty) and the proxy variables through
 * getenv_fn (a wrapper around getenv in production, a table in tests). */
void provider_flags_env(struct provider_flags *f, const char *(*getenv_fn)(const char *name));
/* Exactly one provider enabled, required values present. 0 or -ERR_PROVIDER_CONFIG with
 * errmsg (cap bytes) saying why. Logs a warning for --etcd.useapiv3=false (v3 is used). */
int provider_flags_check(const struct provider_flags *f, char *errmsg, size_t cap);

/* Parse a Go duration ("2s", "1m30s", "500ms", "0") into milliseconds (rounded down).
 * 0 or -ERR_PARSE. Negative durations are refused. */
int provider_parse_duration_ms(struct slice s, uint64_t *ms);
/* true when s is a Go duration (time.ParseDuration syntax, sign allowed). */
bool provider_duration_ok(struct slice s);

/* Diagnostics ----------------------------------------------------------------------------- */

/* Where source problems go: the log by default, a test collector otherwise. key is the KV key
 * or "file:line" concerned ("" when none). */
typedef void (*provider_report_fn)(void *ctx, enum log_level level, const char *key,
				   const char *msg);

struct provider_diag {
	provider_report_fn report; /* NULL: log_write(level, msg, "key=...") */
	void *ctx;
	const char *source; /* "consul", "etcd", "file": added to log lines */
	unsigned warnings;
	unsigned errors;
};

void provider_diag_init(struct provider_diag *d, const char *source, provider_report_fn fn,
			void *ctx);
void provider_report(struct provider_diag *d, enum log_level level, const char *key,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Emission (throttle + de-duplication), shared by every provider ------------------------- */

typedef void (*provider_doc_fn)(void *arg, struct slice doc);

struct provider_emit {
	struct loop *loop;
	uint64_t throttle_ms;
	provider_doc_fn on_doc;
	void *arg;
	struct buf pending; /* next document to emit (max_doc_bytes) */
	struct buf last;    /* last document emitted (max_doc_bytes) */
	bool has_pending;
	bool has_last;
	uint64_t pending_since_ms;
	struct loop_timer_id timer;
	uint64_t emitted; /* documents handed to on_doc */
	uint64_t skipped; /* identical documents not emitted */
	void *mem;        /* 2 × max_doc_bytes, allocated by provider_emit_init */
};

/* Allocates the two document buffers. 0, -ERR_INVAL or -ERR_NOMEM. */
int provider_emit_init(struct provider_emit *e, struct loop *l, size_t max_doc_bytes,
		       uint64_t throttle_ms, provider_doc_fn on_doc, void *arg);
void provider_emit_fini(struct provider_emit *e);
/* Offer a freshly computed document (copied). Identical to the pending or last one: counted
 * and dropped. 0, -ERR_PROVIDER_DOC_TOO_LARGE (over max_doc_bytes) or -ERR_LOOP_FULL. */
int provider_emit_submit(struct provider_emit *e, struct slice doc);
/* Emit a pending document now (shutdown, tests). */
void provider_emit_flush(struct provider_emit *e);

/* Back-off ------------------------------------------------------------------------------- */

struct provider_backoff {
	uint64_t min_ms; /* first delay (500) */
	uint64_t max_ms; /* cap (30000) */
	unsigned attempt;
};

/* Next delay: min × 2^attempt capped at max, then "equal jitter" (half fixed, half random
 * from r), and attempt++. reset sets attempt back to 0 after a success. */
uint64_t provider_backoff_next(struct provider_backoff *b, struct rand *r);
void provider_backoff_reset(struct provider_backoff *b);

/* Limits ------------------------------------------------------------------------------- */

struct provider_limits {
	size_t max_doc_bytes;        /* routing document (default 4 MiB) */
	size_t max_response_bytes;   /* one HTTP response from Consul/etcd (default 8 MiB) */
	size_t max_keys;             /* keys under the prefix (default 16384) */
	size_t max_file_bytes;       /* the file provider's file (default 4 MiB) */
	uint64_t connect_timeout_ms; /* TCP + TLS + proxy set-up (default 10 s) */
	uint64_t backoff_min_ms;     /* default 500 */
	uint64_t backoff_max_ms;     /* default 30000 */
	uint64_t consul_wait_ms;     /* blocking query wait (default 5 min) */
	uint64_t min_query_gap_ms;   /* rate limit between Consul queries (default 1000) */
};

void provider_limits_default(struct provider_limits *lim);

/* The provider ------------------------------------------------------------------------ */

struct provider_file;
struct provider_consul;
struct provider_etcd;
struct provider_tls;

struct provider_config {
	struct provider_flags flags; /* exactly one provider enabled (provider_flags_check) */
	struct provider_limits limits;
	struct rand *rand; /* jitter and TLS entropy; borrowed, outlives the provider */
	provider_doc_fn on_doc;
	void *arg;
	provider_report_fn report; /* NULL: the log */
	void *report_ctx;
};

struct provider {
	struct loop *loop;
	struct provider_config cfg;
	struct provider_emit emit;
	struct provider_diag diag;
	struct provider_file *file;
	struct provider_consul *consul;
	struct provider_etcd *etcd;
	struct provider_tls *tls; /* TLS client configuration for consul/etcd, or NULL */
	char errmsg[256];
};

/* State (for status pages, logs and tests) ---------------------------------------------- */

enum provider_state {
	PROVIDER_CONNECTING, /* started, or retrying after a back-off: a read is in flight */
	PROVIDER_WATCHING,   /* the last read succeeded; waiting for changes */
	PROVIDER_BACKOFF,    /* the last read failed; retrying after provider_backoff */
	PROVIDER_ERROR,      /* as BACKOFF, but the failure needs an operator: refused credentials,
				a cap (max_keys, max_doc_bytes), an invalid file */
};

struct provider_status {
	enum provider_state state;
	int last_err;     /* last -ERR_* seen (0: none); kept after a recovery */
	char errmsg[256]; /* its detail */
	uint64_t applied; /* Consul X-Consul-Index / etcd revision of the last document handed to
			     the emit stage (0: none yet); file: successful reads */
	uint64_t errors;  /* failed reads since start */
};

/* "connecting", "watching", "backoff", "error". */
const char *provider_state_name(enum provider_state s);
/* Snapshot of p's watcher state into *st (no I/O, callable at any time after provider_init). */
void provider_status_get(const struct provider *p, struct provider_status *st);

/* Build the configured provider (allocates all its memory; reads TLS files; resolves the
 * endpoint). 0, -ERR_PROVIDER_CONFIG (errmsg says why), -ERR_NOMEM, or a TLS/PEM error. */
int provider_init(struct provider *p, struct loop *l, const struct provider_config *cfg);
/* Begin watching: the first document follows as soon as the source is read. */
int provider_start(struct provider *p);
/* Stop everything, close connections and watches, free memory. Idempotent. */
void provider_fini(struct provider *p);

/* Between provider_*.c only -------------------------------------------------------------- */

/* snprintf that always NUL-terminates and whose truncation is intended (messages, keys checked
 * by length elsewhere). Returns what vsnprintf returns. */
int provider_fmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Read a whole file into a NUL-terminated malloc'd buffer (init time only). 0 or -errno code. */
int provider_read_file_(const char *path, char **out, size_t *len, size_t max);

#endif
