/* store.h — a control node's durable state over LMDB: the Raft log, the hard
 * state, the latest snapshot and the state-machine tables, in one LMDB
 * environment inside the state directory (--statedir).
 *
 * Contract
 *
 * - The caller owns struct store (embed it or keep it on the stack).
 *   store_open creates the directory (mode 0700) when missing, takes an
 *   exclusive lock on it, opens or creates the environment and checks what
 *   it finds; store_close releases everything. store_close is harmless after
 *   a failed store_open. The detail of the last failure is in s->errmsg.
 * - One process per state directory: store_open takes flock(LOCK_EX) on
 *   <dir>/lock and fails with -ERR_STORE_LOCKED while another open store (in
 *   this process or another) holds it. Do not use a store in a child after
 *   fork(); open it again there once the parent has closed it.
 * - Not thread-safe: one thread at a time uses a struct store and all that
 *   comes from it (transactions, snapshot writers).
 * - Durability: every call that writes returns only after LMDB has committed
 *   and synced the transaction (data pages, then the meta page, each flushed
 *   with fdatasync). The environment never uses MDB_NOSYNC, MDB_NOMETASYNC,
 *   MDB_MAPASYNC or MDB_WRITEMAP. What a write call reports as done survives
 *   a process crash and a power cut; what it reports as failed was not
 *   written at all (one call = one LMDB transaction = all or nothing).
 * - Integrity: every log entry, record and snapshot chunk carries a CRC-32C
 *   checked on every read; a mismatch is -ERR_STORE_CORRUPT with the index or
 *   record named in errmsg. A state directory that is damaged
 *   (-ERR_STORE_CORRUPT), written by something else (-ERR_STORE_FOREIGN) or
 *   by a newer format (-ERR_STORE_VERSION) is refused by store_open.
 * - Raft invariants are checked, not assumed: the log stays contiguous, terms
 *   never decrease along it, the hard state's term and commit never go back,
 *   a vote never changes within a term, a committed entry is never replaced
 *   by a different one, nothing newer than the snapshot is compacted.
 *   Violations are -ERR_RANGE and change nothing.
 * - Memory: the store's own code never allocates. LMDB allocates inside write
 *   transactions (dirty page copies, recycled through its own free list) and
 *   for each cursor (state-machine iteration, snapshot chunk clean-up). Log,
 *   hard-state and snapshot reads use one reader handle and one cursor made
 *   at store_open and reused, so they allocate nothing. Values returned as
 *   views (store_sm_get, store_sm_iterate) point into the memory map and are
 *   valid until the transaction ends or writes again.
 * - Caps are fixed at store_open (struct store_config); each has its own
 *   error: map_size -> -ERR_STORE_FULL, max_readers -> -ERR_STORE_READERS_FULL,
 *   max_dbs -> -ERR_STORE_TABLES_FULL, max_entry -> -ERR_STORE_ENTRY_TOO_LARGE,
 *   max_batch -> -ERR_STORE_BATCH_TOO_LARGE. A failed write leaves the store
 *   exactly as it was and usable.
 * - Errors: 0 (or a count) on success, a negative -ERR_* on failure. LMDB and
 *   errno codes are converted here and never returned raw.
 *
 * docs/internals/store.md has the on-disk layout, the choice of LMDB flags
 * and the measured append rates.
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_slice.h"

struct MDB_env;
struct MDB_txn;
struct MDB_cursor;

/* Caps: defaults (used where struct store_config holds 0) and limits. */
#define STORE_MAP_SIZE_DEFAULT ((size_t)256 << 20)
#define STORE_MAP_SIZE_MIN ((size_t)64 << 10)
#define STORE_MAP_SIZE_LIMIT ((size_t)1 << (sizeof(size_t) > 4 ? 40 : 30))
#define STORE_MAX_READERS_DEFAULT 16u
#define STORE_MAX_READERS_LIMIT 1024u
#define STORE_DBS_INTERNAL 4u /* "meta", "log", "hard", "snap" */
#define STORE_MAX_DBS_DEFAULT 32u
#define STORE_MAX_DBS_LIMIT 1024u
#define STORE_MAX_ENTRY_DEFAULT (1u << 20)
#define STORE_MAX_ENTRY_LIMIT (64u << 20)
#define STORE_MAX_BATCH_DEFAULT 1024u
#define STORE_MAX_BATCH_LIMIT 65536u

/* Fixed limits. */
#define STORE_ERRMSG_SIZE 256
#define STORE_ID_MAX 64            /* bytes of a cluster or node ID */
#define STORE_CONF_MAX (64u << 10) /* bytes of a snapshot's configuration */
#define STORE_TABLE_NAME_MAX 48    /* characters of a state-machine table name */
#define STORE_KEY_MAX 511          /* bytes of a state-machine key (LMDB's key limit) */
#define STORE_COMPACT_CHUNK 4096u  /* entries deleted per transaction by store_log_compact */

/* On-disk format written by this build; a directory with a higher one is
 * refused with -ERR_STORE_VERSION. */
#define STORE_FORMAT_VERSION 1u

struct store_config {
	size_t map_size;      /* bytes data.mdb may grow to (-ERR_STORE_FULL) */
	uint32_t max_readers; /* read transactions at once, the store's own included */
	uint32_t max_dbs;     /* named databases: the 4 internal ones + state-machine tables */
	uint32_t max_entry;   /* payload bytes of one log entry or snapshot chunk */
	uint32_t max_batch;   /* entries per store_write */
	bool skip_verify;     /* store_open checks only the log's ends, not every checksum */
};

/* A log entry. On input (store_write) data/len are the caller's and only
 * read during the call. On output they point into the caller's buffer. */
struct store_entry {
	uint64_t term;
	uint64_t index;
	const uint8_t *data;
	uint32_t len;
	uint8_t type; /* opaque to the store (the Raft core's entry type) */
};

/* Raft's persistent state (paper Figure 2) plus the commit index. */
struct store_hard {
	uint64_t term;
	uint64_t vote; /* 0: none in this term */
	uint64_t commit;
};

/* The current snapshot. index == 0: none. */
struct store_snap_info {
	uint64_t index;    /* last log index the snapshot covers */
	uint64_t term;     /* term of that entry */
	uint64_t size;     /* blob bytes */
	uint32_t chunks;   /* blob pieces as written by store_snap_write */
	uint32_t blob_crc; /* CRC-32C of the whole blob */
	uint32_t conf_len; /* bytes of the cluster configuration stored with it */
};

struct store {
	struct MDB_env *env;
	struct MDB_txn *rtxn;    /* the store's reader, reset between calls */
	struct MDB_cursor *rcur; /* cursor on "snap" bound to rtxn */
	unsigned int dbi_meta, dbi_log, dbi_hard, dbi_snap;
	int lock_fd;
	struct store_config cfg; /* with defaults filled in */
	/* Committed state, cached (the directory lock makes the cache the truth). */
	uint64_t log_first, log_last; /* stored entries; both 0 when none */
	uint64_t last_term;           /* of log_last, or of the snapshot when no entry */
	struct store_hard hard;
	uint64_t applied;
	struct store_snap_info snap;
	uint8_t snap_slot;
	bool is_open;
	bool rtxn_busy;
	bool wtxn_open; /* a store_txn for writing is open */
	bool snap_busy; /* a snapshot writer is active */
	uint32_t txns_open;
#ifdef TEE_TEST_BUILD
	/* Test builds only: the Nth write commit from now fails with -ERR_FAULT
	 * after aborting its transaction (1 = the next one; 0 = never). */
	uint32_t fault_commit;
#endif
	char errmsg[STORE_ERRMSG_SIZE];
};

/* Open (creating when needed) the store in `dir`. cfg may be NULL (all
 * defaults); zero fields take their default. On failure everything opened is
 * released again and s->errmsg says why.
 * Errors: -ERR_RANGE (a cap outside its limits), -ERR_INVAL (dir empty, too
 * long or not a directory), -ERR_PERM, -ERR_STORE_LOCKED, -ERR_STORE_CORRUPT,
 * -ERR_STORE_FOREIGN, -ERR_STORE_VERSION, -ERR_STORE_TABLES_FULL (the
 * directory holds more tables than max_dbs allows), -ERR_STORE_READERS_FULL,
 * -ERR_NOMEM (map_size does not fit the address space), -ERR_IO, -ERR_SYS. */
int store_open(struct store *s, const char *dir, const struct store_config *cfg);
/* Release everything; keeps s->errmsg. No transaction may be open. */
void store_close(struct store *s);

/* Check every checksum and invariant (what store_open does unless
 * cfg.skip_verify): the log is contiguous with non-decreasing terms, meets
 * the snapshot, every entry's and chunk's CRC-32C matches, the blob is whole.
 * 0 or -ERR_STORE_CORRUPT naming the first bad index or record. */
int store_verify(struct store *s);

/* Cluster and node identity, written once. Set: -ERR_INVAL (empty),
 * -ERR_TOO_LARGE (over STORE_ID_MAX), -ERR_EXISTS (already set to other
 * values; setting the same values again is 0). Get: NUL-terminated copies;
 * -ERR_NOTFOUND before the first set, -ERR_BUF_FULL if a buffer is short. */
int store_identity_set(struct store *s, const char *cluster_id, const char *node_id);
int store_identity_get(struct store *s, char *cluster_id, size_t cluster_cap, char *node_id,
		       size_t node_cap);

/* --- Log and hard state (store_log.c) ------------------------------------ */

/* First stored index (last + 1 when no entry is stored). */
static inline uint64_t store_first_index(const struct store *s)
{
	return s->log_last ? s->log_first : s->snap.index + 1;
}
/* Last stored index, or the snapshot's index when no entry is stored. */
static inline uint64_t store_last_index(const struct store *s)
{
	return s->log_last ? s->log_last : s->snap.index;
}
static inline uint64_t store_last_term(const struct store *s)
{
	return s->last_term;
}
static inline struct store_hard store_get_hard(const struct store *s)
{
	return s->hard;
}
/* Index of the last entry applied to the state machine (store_txn_set_applied). */
static inline uint64_t store_applied(const struct store *s)
{
	return s->applied;
}

/* One durable write, one LMDB transaction, in this order: delete the stored
 * entries >= truncate_from (0: none), append n entries, set the hard state
 * (NULL: unchanged). Returns when synced. This is exactly a Raft "persist"
 * step; the wrappers below do one part each.
 *
 * Checks, all before anything is written:
 * - n <= max_batch (-ERR_STORE_BATCH_TOO_LARGE), each len <= max_entry
 *   (-ERR_STORE_ENTRY_TOO_LARGE);
 * - truncate_from > snapshot index; entries at or below the stored commit
 *   index may only be "replaced" by entries of the same term (-ERR_RANGE);
 * - ents[0].index == last index after the truncation + 1, indexes
 *   consecutive, terms >= 1 and non-decreasing from the last stored term
 *   (-ERR_RANGE);
 * - the hard state's term and commit do not go back, its vote does not change
 *   within a term once set (-ERR_RANGE).
 * Other errors: -ERR_INVAL (bad arguments, store not open, a store_txn for
 * writing is open), -ERR_STORE_FULL, -ERR_IO, -ERR_STORE_PANIC,
 * -ERR_STORE_CORRUPT. */
struct store_write {
	uint64_t truncate_from;
	const struct store_entry *ents;
	uint32_t n;
	const struct store_hard *hard;
};
int store_write(struct store *s, const struct store_write *w);
int store_append(struct store *s, const struct store_entry *ents, uint32_t n);
int store_set_hard(struct store *s, const struct store_hard *h);
int store_log_truncate(struct store *s, uint64_t from);

/* Delete the entries <= upto, which must not be past the snapshot's index
 * (-ERR_RANGE). Works in transactions of STORE_COMPACT_CHUNK entries, each
 * synced; a crash in between leaves a shorter, still contiguous log. */
int store_log_compact(struct store *s, uint64_t upto);

/* Term at `index`: the snapshot's term at its own index (0 at index 0 with no
 * snapshot), else the stored entry's. -ERR_NOTFOUND (compacted or past the
 * end), -ERR_STORE_CORRUPT. */
int store_term(struct store *s, uint64_t index, uint64_t *term);

/* Copy entry `index` into buf (cap bytes); e->data points into buf.
 * -ERR_BUF_FULL when it does not fit: e->len (and term, type) still tell the
 * size needed. -ERR_NOTFOUND, -ERR_STORE_CORRUPT (errmsg names the index). */
int store_entry_get(struct store *s, uint64_t index, struct store_entry *e, void *buf, size_t cap);

/* Copy up to max_n consecutive entries starting at `first` into out[], their
 * payloads packed into buf (cap bytes). Stops before an entry that does not
 * fit. Returns the number copied (>= 1); -ERR_BUF_FULL when the first does
 * not fit (out[0].len tells its size), -ERR_NOTFOUND, -ERR_STORE_CORRUPT. */
int store_log_read(struct store *s, uint64_t first, uint32_t max_n, struct store_entry *out,
		   void *buf, size_t cap);

/* --- Transactions and state-machine tables (store.c, store_sm.c) ---------- */

#define STORE_TXN_READ 0u
#define STORE_TXN_WRITE 1u

/* A transaction over the state-machine tables, the applied index and (for a
 * snapshot install) the snapshot. Applying entries and recording the applied
 * index belong in one write transaction:
 *
 *     store_txn_begin(s, &t, STORE_TXN_WRITE);
 *     for each committed entry: store_sm_put/del(&t, ...);
 *     store_txn_set_applied(&t, last_index_applied);
 *     store_txn_commit(&t);         -- durable when it returns 0
 *
 * One write transaction at a time; while it is open, store_write and the
 * other log writers fail with -ERR_INVAL (LMDB serialises writers). Reads
 * through store_term/store_entry_get/store_log_read still work and see the
 * last committed state. A read transaction sees one consistent state for its
 * whole life and holds a reader slot (max_readers); keep it short: old pages
 * cannot be reused while it lives. */
struct store_txn {
	struct store *s; /* NULL once committed or aborted */
	struct MDB_txn *txn;
	bool write;
	bool set_applied;
	uint64_t applied;
	bool set_snap; /* store_snap_finish ran inside this transaction */
	struct store_snap_info snap;
	uint8_t snap_slot;
	uint64_t log_first, log_last, last_term;
};

/* -ERR_INVAL (store not open, bad flags, a write transaction already open),
 * -ERR_STORE_READERS_FULL (max_readers), -ERR_STORE_PANIC. */
int store_txn_begin(struct store *s, struct store_txn *t, unsigned flags);
/* Write: commit and sync; on failure nothing of it is written. Read: ends it.
 * -ERR_INVAL (already ended), -ERR_STORE_FULL, -ERR_IO, -ERR_STORE_PANIC. */
int store_txn_commit(struct store_txn *t);
/* Drop the transaction and everything it wrote. Harmless when ended. */
void store_txn_abort(struct store_txn *t);
/* Record the applied index in t (write). It never goes back and never passes
 * the last stored index (-ERR_RANGE). */
int store_txn_set_applied(struct store_txn *t, uint64_t index);

/* Tables are created on first put. Names: 1..STORE_TABLE_NAME_MAX characters
 * of [a-z0-9_.-] (-ERR_INVAL). Keys: 1..STORE_KEY_MAX bytes (-ERR_INVAL,
 * -ERR_TOO_LARGE). A new table beyond max_dbs: -ERR_STORE_TABLES_FULL. */
int store_sm_put(struct store_txn *t, const char *table, struct slice key, struct slice val);
/* *val views the map until t writes again or ends. -ERR_NOTFOUND. */
int store_sm_get(struct store_txn *t, const char *table, struct slice key, struct slice *val);
/* -ERR_NOTFOUND when the key (or table) does not exist. */
int store_sm_del(struct store_txn *t, const char *table, struct slice key);
/* Called for each row in key order from `from` (empty slice: the first).
 * Return 0 to go on, > 0 to stop (store_sm_iterate returns it), < 0 to fail
 * (returned as is). The views are valid during the call only. The callback
 * may read and write other tables, not the one being iterated. */
typedef int (*store_sm_iter_fn)(void *arg, struct slice key, struct slice val);
int store_sm_iterate(struct store_txn *t, const char *table, struct slice from, store_sm_iter_fn fn,
		     void *arg);
/* Remove every row (the table itself stays). A missing table is 0. */
int store_sm_clear(struct store_txn *t, const char *table);
/* Rows in the table (0 when it does not exist). */
int store_sm_count(struct store_txn *t, const char *table, uint64_t *n);
/* Call fn for each table name, in name order; same return rules as above. */
int store_sm_tables(struct store_txn *t, int (*fn)(void *arg, const char *table), void *arg);

/* --- Snapshot (store_snap.c) ---------------------------------------------- */

/* A snapshot is written piece by piece into a spare slot while the current one
 * stays readable, then made current in one transaction:
 *
 *     store_snap_begin(s, &w, index, term);
 *     store_snap_write(&w, piece, len);  ... (each piece synced)
 *     store_snap_finish(&w, txn or NULL, conf, conf_len, mode);
 *
 * finish with a caller's write transaction makes the switch atomic with
 * whatever else the transaction holds (restoring the state machine from the
 * blob and store_txn_set_applied(index) when installing a received snapshot);
 * it becomes visible when that transaction commits. The previous snapshot's
 * chunks are deleted in the same transaction. */
struct store_snap_writer {
	struct store *s; /* NULL when not active */
	uint64_t index, term;
	uint64_t size;
	uint32_t chunks;
	uint32_t crc;
	uint8_t slot;
};

enum store_snap_mode {
	/* A snapshot of our own state machine: the log is kept; the entry at
	 * `index` must be stored with `term`. Compact later (store_log_compact). */
	STORE_SNAP_KEEP_LOG = 0,
	/* Installed from the leader, whose snapshot matches our entry at `index`
	 * (paper Figure 13 step 6): delete entries <= index, keep the rest. */
	STORE_SNAP_DROP_UPTO = 1,
	/* Installed from the leader otherwise: delete the whole log. */
	STORE_SNAP_DROP_ALL = 2,
};

/* -ERR_INVAL (index or term 0, a writer already active, store not open),
 * -ERR_RANGE (index not past the current snapshot's), LMDB errors. */
int store_snap_begin(struct store *s, struct store_snap_writer *w, uint64_t index, uint64_t term);
/* Append len (1..max_entry) bytes to the blob: -ERR_STORE_ENTRY_TOO_LARGE,
 * -ERR_STORE_FULL. The writer stays active on failure. */
int store_snap_write(struct store_snap_writer *w, const void *data, size_t len);
/* Make the blob current with its configuration bytes (<= STORE_CONF_MAX,
 * -ERR_TOO_LARGE). t: NULL for a transaction of its own, or an open write
 * store_txn of the same store. The writer ends, whatever the result.
 * -ERR_RANGE when the log does not hold (index, term) as the mode needs. */
int store_snap_finish(struct store_snap_writer *w, struct store_txn *t, const void *conf,
		      uint32_t conf_len, enum store_snap_mode mode);
/* Forget the writer; its chunks are cleared by the next store_snap_begin. */
void store_snap_abort(struct store_snap_writer *w);

/* The current snapshot's description and configuration bytes (conf may be
 * NULL when conf_cap is 0). -ERR_NOTFOUND (none), -ERR_BUF_FULL (info is
 * filled: info->conf_len tells the size), -ERR_STORE_CORRUPT. */
int store_snap_get(struct store *s, struct store_snap_info *info, void *conf, size_t conf_cap);
/* Copy blob bytes [offset, offset + cap) of the current snapshot, which must
 * be the one at `index` (-ERR_NOTFOUND otherwise: it was replaced). Returns
 * the bytes copied (0 at the end, at most INT32_MAX); *total = blob size.
 * -ERR_STORE_CORRUPT. */
int store_snap_read(struct store *s, uint64_t index, uint64_t offset, void *buf, size_t cap,
		    uint64_t *total);

/* --- Utilities ------------------------------------------------------------ */

/* CRC-32C (Castagnoli, reflected 0x82F63B78), chained: pass 0 first, then the
 * previous result; crc(crc(0, a), b) == crc(0, a || b). */
uint32_t store_crc32c(uint32_t crc, const void *data, size_t len);

/* --- Shared by the store_*.c files only: not part of the API ------------- */

int store__fail(struct store *s, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int store__fail_mdb(struct store *s, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int store__rbegin(struct store *s);
void store__rend(struct store *s);
int store__wbegin(struct store *s, struct MDB_txn **txn, const char *what);
int store__wcommit(struct store *s, struct MDB_txn *txn, const char *what);
int store__rec_put(struct store *s, struct MDB_txn *txn, unsigned int dbi, const char *key,
		   const void *payload, size_t len);
int store__rec_get(struct store *s, struct MDB_txn *txn, unsigned int dbi, const char *key,
		   const uint8_t **payload, size_t *len);
int store__log_load(struct store *s, struct MDB_txn *txn);
int store__log_verify(struct store *s, struct MDB_txn *txn);
int store__log_term_txn(struct store *s, struct MDB_txn *txn, uint64_t index, uint64_t *term);
int store__log_del(struct store *s, struct MDB_txn *txn, uint64_t index);
int store__snap_load(struct store *s, struct MDB_txn *txn);
int store__snap_verify(struct store *s, struct MDB_txn *txn);
int store__sm_open_all(struct store *s, struct MDB_txn *txn);

static inline void store__put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}
static inline uint64_t store__get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}
static inline void store__put32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}
static inline uint32_t store__get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
