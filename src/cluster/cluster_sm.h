/* cluster_sm.h — the cluster's replicated state machine: what every control node applies, in
 * the same order, from the committed Raft log, and the queries the API answers from it.
 *
 * Contract
 *
 * - State: cluster identity, limits and license, the cluster CA (certificate and key), the join
 *   tokens (verifiers, and the token texts when the proposer kept them), the node table, the
 *   deployed static configuration, the routing document with its revision, and the revoked
 *   certificate serials. All of it lives in four store tables (cl_meta, cl_nodes, cl_names,
 *   cl_revoked) of the node's LMDB store; docs/internals/cluster-state.md has every record.
 * - Apply: cluster_sm_apply decodes one committed entry, applies it and records `index` as the
 *   applied index in ONE store write transaction, durable when it returns 0. A command the
 *   state refuses (a join of a known ID, a removal of an unknown node, a stale revision, a
 *   certificate renewal made with a serial the node holds neither as its current nor as its
 *   previous certificate, a cap reached, malformed bytes) is not a failure: the entry is still
 *   applied, the state is left exactly as it was, and res->code (negative -ERR_*) with
 *   res->msg tells the proposer why.
 *   A negative return means nothing was written (store error, index not after the applied
 *   one): the caller must not go on to later entries; store errors are fatal for the node.
 * - Determinism: apply reads nothing but the command bytes, the index and the tables. No clock,
 *   no randomness, no local setting: the caps it enforces are the replicated ones (struct
 *   cluster_limits from CLUSTER_INIT / LIMITS_SET), not this node's configuration. Every check
 *   is made before the first write, so a refused command changes nothing.
 * - Queries take a store transaction (read or write) so several of them see one state. Those
 *   that copy out (info, tokens, nodes, is_revoked) also accept t == NULL and use a read
 *   transaction of their own. Those that return views (license, CA, deployed configuration,
 *   routing document) need t: the views point into the memory map and are valid until t ends
 *   or writes.
 * - Node listing order: by name (bytes, so upper case before lower case), then by ID. The seed
 *   document's listings look unsorted; a stable order makes the output diffable.
 * - Snapshot: the tables themselves. cluster_sm_export streams them as bytes for Raft's
 *   InstallSnapshot (and the store's snapshot blob); cluster_sm_import_* reads such a stream
 *   back into an open write transaction, checking every record, the count and the CRC-32C, so
 *   a damaged stream is refused and the caller aborts the transaction: nothing changes.
 * - Memory: cluster_sm_init allocates once (the JSON token array for DEPLOY checks, the import
 *   scratch sized from this node's limits, the export staging buffer); nothing else allocates.
 *   Not thread-safe; one thread uses a struct cluster_sm at a time.
 * - Errors are negative -ERR_* codes; sm->errmsg holds the detail of the last failure.
 */
#ifndef CLUSTER_CLUSTER_SM_H
#define CLUSTER_CLUSTER_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_id.h"
#include "base/base_slice.h"
#include "cluster/cluster_cmd.h"
#include "json/json.h"
#include "store/store.h"

#define CLUSTER_SM_ERRMSG_MAX 256
#define CLUSTER_MSG_MAX 192

/* Store tables. */
#define CLUSTER_TABLE_META "cl_meta"
#define CLUSTER_TABLE_NODES "cl_nodes"
#define CLUSTER_TABLE_NAMES "cl_names"
#define CLUSTER_TABLE_REVOKED "cl_revoked"

/* Snapshot stream: format version and the largest piece handed to the export callback. */
#define CLUSTER_SNAP_VERSION 1u
#define CLUSTER_SNAP_PIECE (64u << 10)

struct cluster_sm_config {
	/* This node's view of the caps: what it proposes in CLUSTER_INIT, and what sizes the
	 * snapshot import scratch (a stream with a larger record is refused, naming the setting).
	 * The caps apply enforces are the replicated ones. Zero fields take the defaults. */
	struct cluster_limits limits;
};

struct cluster_sm {
	struct store *store; /* borrowed; NULL: only checks and import verification work */
	struct cluster_limits local;
	json_tok *toks;   /* CLUSTER_DEPLOY_TOKENS */
	uint8_t *scratch; /* import: one record value */
	size_t scratch_cap;
	uint8_t *piece; /* export: CLUSTER_SNAP_PIECE bytes */
	char errmsg[CLUSTER_SM_ERRMSG_MAX];
};

/* Allocate the buffers. store may be NULL (see above); cfg may be NULL (defaults).
 * -ERR_CLUSTER_LIMITS (a cap out of bounds), -ERR_NOMEM. */
int cluster_sm_init(struct cluster_sm *sm, struct store *store,
		    const struct cluster_sm_config *cfg);
/* Free the buffers; harmless after a failed init or twice. */
void cluster_sm_fini(struct cluster_sm *sm);
/* Bytes allocated by init (for --print-limits). */
size_t cluster_sm_bytes(const struct cluster_sm *sm);

/* What a command did, for the proposer. */
struct cluster_result {
	int code; /* 0: applied as asked; -ERR_*: refused, state unchanged */
	int type; /* enum cluster_cmd_type; 0 when the bytes did not decode */
	char msg[CLUSTER_MSG_MAX];
};

/* Apply the command in cmd[0..len) committed at `index`, in one write transaction with the
 * applied index. cmd == NULL with len == 0 records the index only (a Raft no-op or
 * configuration entry). index must be past the applied index: -ERR_RANGE otherwise. Other
 * errors are the store's (-ERR_STORE_FULL, -ERR_IO, -ERR_STORE_PANIC, -ERR_STORE_CORRUPT for a
 * record that does not decode); nothing is written then. */
int cluster_sm_apply(struct cluster_sm *sm, const void *cmd, size_t len, uint64_t index,
		     struct cluster_result *res);
/* The same inside the caller's write transaction, for batches: apply each entry, then
 * store_txn_set_applied(t, last index) and commit. On a negative return abort t. */
int cluster_sm_apply_txn(struct cluster_sm *sm, struct store_txn *t, const void *cmd, size_t len,
			 uint64_t index, struct cluster_result *res);

/* --- Queries ------------------------------------------------------------------------------ */

struct cluster_info {
	bool initialised; /* CLUSTER_INIT applied; the rest is zero otherwise */
	char id[ID_LEN + 1];
	char name[CLUSTER_NAME_MAX + 1];
	int64_t created_at;
	uint64_t init_index; /* entry that created the cluster */
	bool bootstrap_done;
	char bootstrap_id[ID_LEN + 1];
	int64_t bootstrap_done_at;
	struct cluster_limits limits;
	uint32_t nodes, control_nodes, data_nodes, ready_nodes;
	uint32_t revoked;
	uint64_t routing_revision; /* 0: none */
	bool deployed;
};
int cluster_sm_info(struct cluster_sm *sm, struct store_txn *t, struct cluster_info *out);

/* Views (t required). -ERR_CLUSTER_NOT_INIT before CLUSTER_INIT. */
int cluster_sm_license(struct cluster_sm *sm, struct store_txn *t, struct slice *license,
		       int64_t *set_at);
int cluster_sm_ca(struct cluster_sm *sm, struct store_txn *t, struct slice *cert_der,
		  struct slice *key_der);

struct cluster_deployed {
	struct slice config; /* the static configuration JSON */
	int64_t at;
	uint64_t index; /* entry that deployed it: changes with every DEPLOY */
};
/* -ERR_NOTFOUND: nothing deployed yet. */
int cluster_sm_deployed(struct cluster_sm *sm, struct store_txn *t, struct cluster_deployed *out);

struct cluster_routing {
	struct slice doc;
	uint64_t revision;
	int64_t at;
	uint64_t index;
};
/* -ERR_NOTFOUND: no routing document yet. */
int cluster_sm_routing(struct cluster_sm *sm, struct store_txn *t, struct cluster_routing *out);

struct cluster_token_info {
	unsigned char verifier[PKI_VERIFIER_LEN];
	char text[PKI_TOKEN_LEN + 1]; /* "" when the cluster keeps only the verifier */
	int64_t at;                   /* created or last rotated */
};
struct cluster_tokens {
	struct cluster_token_info control, data;
};
/* The token texts are secrets: never log them. -ERR_CLUSTER_NOT_INIT. */
int cluster_sm_tokens(struct cluster_sm *sm, struct store_txn *t, struct cluster_tokens *out);

/* A row of the node table. */
struct cluster_node {
	char id[ID_LEN + 1];
	char name[CLUSTER_NODE_NAME_MAX + 1];
	char addr[CLUSTER_ADDR_MAX + 1];
	uint8_t serial[CLUSTER_SERIAL_MAX];
	uint8_t serial_len;
	uint8_t role;         /* enum cluster_role */
	uint8_t membership;   /* enum cluster_membership */
	uint8_t status;       /* enum cluster_status */
	uint8_t availability; /* enum cluster_avail */
	int64_t joined_at;
	int64_t status_at; /* last status change (joined_at until the first) */
	int64_t cert_not_after;
	/* The certificate the node presented at its last renewal (NODE_CERT keep_serial), still
	 * valid until the next renewal or the removal revokes it; prev_serial_len 0 and
	 * prev_not_after 0 when there is none (never renewed). Never equal to serial. */
	uint8_t prev_serial[CLUSTER_SERIAL_MAX];
	uint8_t prev_serial_len;
	int64_t prev_not_after;
};

/* By exact ID. -ERR_NOTFOUND. */
int cluster_sm_node_get(struct cluster_sm *sm, struct store_txn *t, struct slice id,
			struct cluster_node *out);
/* By ID, else by name: -ERR_NOTFOUND, -ERR_CLUSTER_AMBIGUOUS (several nodes have that name). */
int cluster_sm_node_find(struct cluster_sm *sm, struct store_txn *t, struct slice id_or_name,
			 struct cluster_node *out);
/* Every node, by name then ID, into out[0..cap). Returns how many there are (which may be more
 * than cap: then only the first cap are filled). */
int cluster_sm_nodes(struct cluster_sm *sm, struct store_txn *t, struct cluster_node *out,
		     size_t cap);

/* Call fn for every node in the same order; fn returns 0 to go on, > 0 to stop (that value is
 * returned), < 0 to fail (returned). t required. */
int cluster_sm_nodes_each(struct cluster_sm *sm, struct store_txn *t,
			  int (*fn)(void *arg, const struct cluster_node *n), void *arg);

/* 1 if the serial is revoked, 0 if not. */
int cluster_sm_is_revoked(struct cluster_sm *sm, struct store_txn *t, struct slice serial);

struct cluster_revoked {
	uint8_t serial[CLUSTER_SERIAL_MAX];
	uint8_t serial_len;
	int64_t not_after;
	int64_t revoked_at;
	char node_id[ID_LEN + 1]; /* the removed or renewed node, "" for CERT_REVOKE */
};
/* Call fn for every revoked serial in serial order; fn returns 0 to go on, > 0 to stop (that
 * value is returned), < 0 to fail (returned). t required. */
int cluster_sm_revoked_each(struct cluster_sm *sm, struct store_txn *t,
			    int (*fn)(void *arg, const struct cluster_revoked *r), void *arg);

/* --- Snapshot stream ----------------------------------------------------------------------- */

/* Receives the stream in pieces of at most CLUSTER_SNAP_PIECE bytes, in order; returns 0 or a
 * negative error that ends the export (returned as is). */
typedef int (*cluster_sm_write_fn)(void *arg, const void *data, size_t len);

/* Stream every table as seen by t (read or write). */
int cluster_sm_export(struct cluster_sm *sm, struct store_txn *t, cluster_sm_write_fn fn,
		      void *arg);

/* Import: begin clears the tables in t (an open write transaction) — or, with t == NULL, only
 * verifies the stream; feed takes the stream in pieces of any size; end checks it was whole
 * and consistent, then rebuilds the name index. The first error is latched and returned by
 * every later call. On any error abort t. The caller also sets the applied index (the
 * snapshot's) in t, and switches the store's snapshot, before committing. */
struct cluster_sm_import {
	struct cluster_sm *sm;
	struct store_txn *t;
	int err;
	int state;
	size_t want, have;
	uint8_t *dst;
	uint32_t crc;
	uint8_t hdr[16];
	uint8_t table, last_table;
	uint16_t key_len, last_key_len;
	uint32_t val_len;
	uint8_t key[STORE_KEY_MAX];
	uint8_t last_key[STORE_KEY_MAX];
	uint64_t records;
	uint64_t index; /* the applied index the stream says it was taken at */
	/* What was seen, for the consistency checks at the end. */
	uint32_t meta_seen; /* bit per known meta key */
	uint32_t nodes, revoked;
	size_t deploy_len, routing_len;
	struct cluster_limits limits;
};
int cluster_sm_import_begin(struct cluster_sm_import *im, struct cluster_sm *sm,
			    struct store_txn *t);
int cluster_sm_import_feed(struct cluster_sm_import *im, const void *data, size_t len);
int cluster_sm_import_end(struct cluster_sm_import *im);

#endif
