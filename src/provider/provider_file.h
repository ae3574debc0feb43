/* provider_file.h — the file provider: a routing file, JSON or Traefik v1 TOML, watched with
 * inotify.
 *
 * Contract
 *
 * - The file holds the dynamic configuration: JSON in the routing document's vocabulary
 *   (docs/internals/routing.md: an object with "frontends", "backends", "tls"), or the Traefik
 *   v1 TOML subset with [frontends.*], [backends.*] and [[tls]] tables (chosen by a ".toml"
 *   extension, or by content that does not start with '{').
 * - JSON is parsed strictly (src/json), checked (types of the members the data plane needs,
 *   frontends naming existing backends) and rewritten compactly; TOML is read into the KV
 *   layout and translated by provider_kv_translate, so both give the same document for the
 *   same configuration. An invalid file is reported with its line (and the key) and the last
 *   good document stays.
 * - Watching: inotify on the file's DIRECTORY (editors replace files by rename, which a watch
 *   on the file itself would lose); events naming the file schedule a re-read, applied after
 *   the shared throttle. file.watch=false reads the file once.
 * - Memory: provider_file_init allocates the file buffer (max_file_bytes), JSON tokens, the
 *   TOML key/value store and the output document once. Reading the file is a blocking read of
 *   a local file on the loop thread (bounded by max_file_bytes).
 */
#ifndef PROVIDER_PROVIDER_FILE_H
#define PROVIDER_PROVIDER_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "json/json.h"
#include "provider/provider.h"
#include "provider/provider_kv.h"

struct provider_file_config {
	const char *filename;
	bool watch;
	struct provider_limits limits;
	struct provider_emit *emit;
	struct provider_diag *diag;
};

struct provider_file {
	struct loop *loop;
	struct provider_file_config cfg;
	char path[PROVIDER_STR_MAX];
	char dir[PROVIDER_STR_MAX];
	char base[PROVIDER_STR_MAX];
	int ifd; /* inotify fd, -1 when not watching */
	struct loop_timer_id timer;
	char *text; /* file contents (max_file_bytes + 1) */
	size_t text_cap;
	json_tok *toks;
	size_t ntoks;
	struct provider_kv *kv; /* TOML leaves */
	size_t kv_cap;
	char *kbuf; /* TOML keys and decoded values; JSON string scratch */
	size_t kbuf_cap;
	struct buf doc;
	void *mem;
	uint64_t reads;
	uint64_t errors;
	int last_err;
	bool failing;     /* the last read failed: the last good document stays */
	uint64_t applied; /* successful reads */
};

int provider_file_init(struct provider_file *pf, struct loop *l,
		       const struct provider_file_config *cfg, char *errmsg, size_t cap);
/* Read the file now (the first document) and start watching. */
int provider_file_start(struct provider_file *pf);
void provider_file_fini(struct provider_file *pf);

/* Pure parts, exposed for tests ------------------------------------------------------------ */

/* JSON routing file text -> compact document in out; scratch (scap >= text.len) holds
 * unescaped strings. 0, -ERR_PROVIDER_FILE (reported to d with the key path and "line N") or
 * -ERR_PROVIDER_DOC_TOO_LARGE. */
int provider_file_json(struct slice text, json_tok *toks, size_t ntoks, char *scratch, size_t scap,
		       struct buf *out, struct provider_diag *d);

/* TOML subset text -> KV pairs (relative keys like "frontends/f1/routes/r1/rule"); keys and
 * string values are written to kbuf. Returns the number of pairs, -ERR_PROVIDER_FILE
 * (reported with "line N"), -ERR_PROVIDER_TOO_MANY_KEYS or -ERR_BUF_FULL. */
int provider_file_toml(struct slice text, struct provider_kv *kv, size_t max, char *kbuf,
		       size_t kcap, struct provider_diag *d);

/* The same for a Traefik v1 static configuration (`deploy --configfile`): entry point names
 * (entryPoints.<name>) keep their case, and every [table] header also gives a key ending in
 * '/' with an empty value ("file/", "entrypoints/https/tls/"), so an empty table such as
 * [file] or [entryPoints.https.tls] is seen. */
int provider_file_toml_static(struct slice text, struct provider_kv *kv, size_t max, char *kbuf,
			      size_t kcap, struct provider_diag *d);

#endif
