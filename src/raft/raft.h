/* raft.h — the pure Raft consensus core.
 *
 * Contract. The core is a deterministic state machine: it makes no system
 * call, reads no clock, owns no randomness and allocates only in raft_init.
 * It is driven by four inputs:
 *
 *     raft_tick(r)               one unit of logical time has passed
 *     raft_step(r, msg)          a message arrived from a peer
 *     raft_propose(r, data, n)   a client command (leader only)
 *     raft_read_index(r, ctx)    a linearizable read request (leader only)
 *
 * (plus membership changes, leadership transfer and snapshot notices), and
 * produces every output through one "ready" structure that the caller drains
 * in a fixed order and then acknowledges:
 *
 *     struct raft_ready rd;
 *     while (raft_ready_get(r, &rd) > 0) {
 *             1. persist  rd.snapshot (if any), then rd.entries (deleting the
 *                stored entries with index >= rd.entries_first first when
 *                rd.truncate or rd.n_entries), then rd.hs; make it durable
 *             2. send     rd.msgs (only now: they may depend on step 1)
 *             3. apply    rd.committed, in order, to the state machine
 *             4. answer   rd.reads once the state machine reached their index
 *             5. raft_ready_advance(r);
 *     }
 *
 * THE PERSISTENCE RULE: nothing in rd.msgs may leave the process before the
 * hard state, entries and snapshot chunk of the same ready are durable. A vote
 * or an AppendEntries acknowledgement promises durable state (Raft paper §5.1,
 * Figure 2 "updated on stable storage before responding to RPCs"); sending it
 * early breaks election safety and commitment across crashes.
 * Between raft_ready_get and raft_ready_advance every input function returns
 * -ERR_RAFT_BUSY: the pointers in the ready stay valid exactly that long.
 *
 * Storage is the caller's (LMDB in the product, memory in the simulator). The
 * core keeps only a bounded in-memory tail of the log (caps.window_entries /
 * window_bytes); older entries are read back through the io vtable. Entries
 * the core has not yet seen acknowledged in a ready ("unstable") always stay
 * in memory.
 *
 * Implemented from Ongaro & Ousterhout, "In Search of an Understandable
 * Consensus Algorithm" (2014) and Ongaro's thesis "Consensus: Bridging Theory
 * and Practice" (2014): leader election with pre-vote (§9.6) and check-quorum
 * (§6.2), log replication and the commit rule (§5.3, §5.4.2), snapshots and
 * InstallSnapshot (§7 of the paper, ch. 5 of the thesis), single-server
 * membership changes with learners (thesis ch. 4), leadership transfer
 * (thesis §3.10) and ReadIndex reads (thesis §6.4). Section numbers in the
 * .c files refer to the paper ("paper §") or the thesis ("thesis §").
 *
 * Files: raft_core.c (init, start, tick, step dispatch, ready), raft_log.c
 * (in-memory window, storage reads), raft_election.c, raft_replication.c,
 * raft_snapshot.c, raft_membership.c, raft_read.c, raft_msg.c (wire codec).
 * Design notes and the storage/transport contract: docs/internals/raft.md.
 */
#ifndef RAFT_RAFT_H
#define RAFT_RAFT_H

#include <stddef.h>
#include <stdint.h>

/* Hard limits of the data structures; the caps below may only lower them. */
#define RAFT_MAX_VOTERS 9
#define RAFT_MAX_SERVERS 16
/* Encoded size of a configuration: u32 count + 9 bytes per server. */
#define RAFT_CONF_MAX_BYTES (4 + 9 * RAFT_MAX_SERVERS)

enum raft_role {
	RAFT_FOLLOWER = 0,
	RAFT_PRECANDIDATE = 1, /* pre-vote round (thesis §9.6): term not yet bumped */
	RAFT_CANDIDATE = 2,
	RAFT_LEADER = 3,
};

enum raft_entry_type {
	RAFT_ENTRY_NORMAL = 1, /* client command: opaque bytes for the state machine */
	RAFT_ENTRY_CONF = 2,   /* configuration: raft_conf_encode() bytes (thesis §4.1) */
	RAFT_ENTRY_NOOP = 3,   /* appended by every new leader (paper §8) */
};

enum raft_server_role {
	RAFT_LEARNER = 1, /* receives the log, never votes or counts (thesis §4.2.1) */
	RAFT_VOTER = 2,
};

struct raft_server {
	uint64_t id; /* non-zero, unique for the cluster's lifetime: never reuse an id */
	uint8_t role;
};

/* A cluster configuration: voters and learners. */
struct raft_conf {
	uint32_t n;
	struct raft_server s[RAFT_MAX_SERVERS];
};

/* A log entry. `data` is a view: who owns it is stated where entries appear. */
struct raft_entry {
	uint64_t term;
	uint64_t index;
	const uint8_t *data;
	uint32_t len;
	uint8_t type; /* enum raft_entry_type */
};

/* Persistent state of Figure 2 (plus the commit index, which is safe to
 * persist lazily and lets a restarted server apply without waiting). */
struct raft_hard_state {
	uint64_t term;
	uint64_t vote; /* 0: none in this term */
	uint64_t commit;
};

enum raft_msg_type {
	RAFT_MSG_PREVOTE = 1,      /* vote.* ; term = the term the sender would campaign in */
	RAFT_MSG_PREVOTE_RESP = 2, /* vote_resp.* */
	RAFT_MSG_VOTE = 3,         /* vote.* (RequestVote, paper §5.2) */
	RAFT_MSG_VOTE_RESP = 4,    /* vote_resp.* */
	RAFT_MSG_APPEND = 5,       /* append.* (AppendEntries, paper §5.3; empty = heartbeat) */
	RAFT_MSG_APPEND_RESP = 6,  /* append_resp.* */
	RAFT_MSG_SNAP = 7,         /* snap.* (InstallSnapshot, paper §7, one chunk) */
	RAFT_MSG_SNAP_RESP = 8,    /* snap_resp.* */
	RAFT_MSG_TIMEOUT_NOW = 9,  /* leadership transfer (thesis §3.10); no body */
};
#define RAFT_MSG_TYPE_MAX 9

/* A message between cores. Entry and chunk data are views: into the core's
 * outbox for messages in a ready (valid until raft_ready_advance), into the
 * decoded buffer for messages from raft_msg_decode. */
struct raft_msg {
	uint8_t type;
	uint64_t from;
	uint64_t to;
	uint64_t term;
	union {
		struct {
			uint64_t last_index;
			uint64_t last_term;
			uint8_t transfer; /* sent on TimeoutNow: bypasses the leader lease */
		} vote;
		struct {
			uint8_t granted;
		} vote_resp;
		struct {
			uint64_t prev_index;
			uint64_t prev_term;
			uint64_t commit;
			uint64_t seq; /* heartbeat round, echoed back (ReadIndex, thesis §6.4) */
			const struct raft_entry *entries;
			uint32_t n_entries; /* entries[k].index == prev_index + 1 + k */
		} append;
		struct {
			uint8_t ok;
			uint64_t index; /* ok: last index known to match; else prev_index refused */
			uint64_t hint_index; /* refused: a probe point for the leader */
			uint64_t hint_term;  /* refused: the follower's term at hint_index */
			uint64_t seq;
		} append_resp;
		struct {
			uint64_t index; /* last index covered by the snapshot */
			uint64_t term;
			struct raft_conf conf; /* configuration as of index */
			uint64_t offset;       /* of this chunk in the snapshot blob */
			const uint8_t *data;
			uint32_t len;
			uint8_t done; /* last chunk */
		} snap;
		struct {
			uint64_t index;       /* snapshot the reply is about */
			uint64_t next_offset; /* first byte the follower still needs */
			uint8_t done;         /* installed (or no longer needed) */
		} snap_resp;
	};
};

/* Storage and environment callbacks. Each is synchronous and must not call
 * back into the core. `ctx` is passed through untouched. */
struct raft_io {
	void *ctx;
	/* Term of the stored entry at `index`. Called only for indexes the core
	 * knows are durable and not compacted. 0, or -ERR_NOTFOUND / -ERR_IO. */
	int (*log_term)(void *ctx, uint64_t index, uint64_t *term);
	/* Copy up to max_n consecutive stored entries starting at `first` into
	 * out[], their payloads into buf (cap bytes); data pointers point into
	 * buf. Stop early before an entry whose payload does not fit. Returns the
	 * number copied (>= 1), -ERR_BUF_FULL when the first one does not fit,
	 * -ERR_NOTFOUND or -ERR_IO. */
	int (*log_read)(void *ctx, uint64_t first, uint32_t max_n, struct raft_entry *out,
			uint8_t *buf, size_t cap);
	/* Copy bytes [offset, offset + cap) of the stored snapshot covering
	 * `index` into buf; *total = its size. Returns bytes copied (0 at the
	 * end), -ERR_NOTFOUND if the current snapshot is not the one at `index`. */
	int (*snapshot_read)(void *ctx, uint64_t index, uint64_t offset, uint8_t *buf, size_t cap,
			     uint64_t *total);
	/* Uniform 64-bit random value (election timeout jitter, paper §5.2). */
	uint64_t (*rand)(void *ctx);
};

/* Capacities: every array of the core is sized from these at raft_init. */
struct raft_caps {
	uint32_t max_voters;         /* <= RAFT_MAX_VOTERS */
	uint32_t max_servers;        /* voters + learners, <= RAFT_MAX_SERVERS */
	uint32_t max_entry_bytes;    /* largest proposal payload */
	uint32_t window_entries;     /* in-memory log tail, entries */
	uint32_t window_bytes;       /* in-memory log tail, payload bytes */
	uint32_t max_log_entries;    /* entries past the snapshot before proposals are refused */
	uint32_t snapshot_threshold; /* applied entries past the snapshot before asking for one */
	uint32_t snapshot_trailing;  /* entries kept in storage behind a snapshot */
	uint32_t max_inflight_msgs;  /* AppendEntries in flight per follower */
	uint32_t max_inflight_bytes; /* payload bytes in flight per follower */
	uint32_t max_msg_entries;    /* entries per AppendEntries */
	uint32_t max_msg_bytes;      /* payload bytes per AppendEntries / snapshot chunk */
	uint32_t max_outbox_msgs;    /* messages per ready */
	uint32_t max_outbox_bytes;   /* bytes of entries and chunks per ready */
	uint32_t max_apply_batch;    /* committed entries per ready */
	uint32_t max_pending_reads;  /* ReadIndex requests waiting for a quorum */
};

struct raft_options {
	uint64_t id;              /* this server, non-zero */
	uint32_t election_ticks;  /* minimum election timeout; randomised in [e, 2e) */
	uint32_t heartbeat_ticks; /* < election_ticks */
	struct raft_caps caps;
#ifdef TEE_TEST_BUILD
	/* Test builds only: deliberately broken behaviour the simulator must
	 * catch (docs/internals/raft.md). 0 = correct. */
	int plant_bug;
#endif
};

/* What storage holds, handed to raft_start after a (re)start. */
struct raft_boot {
	struct raft_hard_state hs;
	uint64_t snap_index; /* 0: no snapshot */
	uint64_t snap_term;
	struct raft_conf snap_conf;
	uint64_t first_index; /* first stored entry; last_index + 1 when none */
	uint64_t last_index;  /* last stored entry, >= snap_index */
	uint64_t applied;     /* state machine position: snap_index <= applied <= hs.commit */
};

/* A received snapshot chunk to persist (ready step 1). Chunk `offset == 0`
 * starts a new blob; `last` means: the blob is complete, make it the current
 * snapshot, delete stored entries up to `index` (all of them unless
 * `keep_log`), and restore the state machine from it before applying
 * rd.committed. `data` is valid until raft_ready_advance. */
struct raft_snapshot_in {
	uint64_t index;
	uint64_t term;
	struct raft_conf conf;
	uint64_t offset;
	const uint8_t *data;
	uint32_t len;
	uint8_t last;
	uint8_t keep_log; /* entries after `index` stay (paper §7, Figure 13 step 6) */
};

/* A confirmed ReadIndex request (thesis §6.4): answer it from the state
 * machine once it has applied `index`. status is 0, or -ERR_RAFT_NOT_LEADER
 * when leadership was lost first (the client should retry elsewhere). */
struct raft_read_result {
	uint64_t ctx;
	uint64_t index;
	int status;
};

struct raft_ready {
	/* soft state, for information */
	uint64_t term;
	uint64_t leader; /* 0: unknown */
	uint8_t role;
	/* 1. persist, in this order */
	const struct raft_snapshot_in *snapshot; /* NULL: none */
	uint64_t entries_first; /* delete stored entries >= this, then append entries */
	uint8_t truncate;       /* stored entries >= entries_first must go even if n_entries == 0 */
	const struct raft_entry *entries;
	uint32_t n_entries;
	const struct raft_hard_state *hs; /* NULL: unchanged */
	/* 2. send */
	const struct raft_msg *msgs;
	uint32_t n_msgs;
	/* 3. apply */
	const struct raft_entry *committed;
	uint32_t n_committed;
	/* 4. answer */
	const struct raft_read_result *reads;
	uint32_t n_reads;
	/* the log passed caps.snapshot_threshold: call raft_snapshot_meta, save
	 * the state machine with it, then raft_snapshot_done. Set in every ready
	 * until a snapshot is done, so a failed attempt is retried. */
	uint8_t want_snapshot;
};

/* Metadata of a snapshot taken at the applied index. */
struct raft_snapshot_meta {
	uint64_t index;
	uint64_t term;
	struct raft_conf conf;
};

struct raft_stats {
	uint64_t elections;      /* campaigns started (after a won pre-vote) */
	uint64_t prevotes;       /* pre-vote rounds */
	uint64_t leader_terms;   /* times this server became leader */
	uint64_t outbox_dropped; /* messages not queued: outbox full (retried later) */
	uint64_t storage_reads;  /* log_read calls */
	uint64_t snapshots_sent; /* chunks sent */
	uint64_t snapshots_installed;
	uint64_t truncations; /* conflicting suffixes removed (paper §5.3) */
	uint64_t check_quorum_stepdowns;
	uint64_t transfers;
	uint64_t reads_served;
	uint64_t proposals_refused;
};

/* ---- private state: read only through the accessors below -------------- */

struct raft_win_ent {
	uint64_t term;
	uint64_t voff; /* virtual offset of the payload in the byte ring */
	uint32_t len;
	uint8_t type;
};

enum raft_pr_state {
	RAFT_PR_PROBE = 0,     /* one AppendEntries at a time, searching the match point */
	RAFT_PR_REPLICATE = 1, /* pipelined, bounded by the inflight caps */
	RAFT_PR_SNAPSHOT = 2,  /* sending the snapshot chunk by chunk */
};

/* Leader's view of one follower or learner (paper Figure 2 nextIndex/matchIndex). */
struct raft_progress {
	uint64_t id; /* 0: slot free */
	uint64_t match;
	uint64_t next;
	uint64_t ack_seq;     /* highest heartbeat round acknowledged in this term */
	uint64_t snap_index;  /* SNAPSHOT: the snapshot being sent */
	uint64_t snap_offset; /* SNAPSHOT: bytes acknowledged */
	uint64_t infl_bytes;
	uint32_t infl_head; /* ring of in-flight AppendEntries in r->infl_* */
	uint32_t infl_n;
	uint32_t stall_ticks; /* ticks with messages in flight and no progress */
	uint8_t state;        /* enum raft_pr_state */
	uint8_t active;       /* heard from during this check-quorum period */
	uint8_t probe_sent;   /* PROBE: one message out, wait */
	uint8_t timeout_sent; /* transfer target: TimeoutNow sent */
};

struct raft_pending_read {
	uint64_t ctx;
	uint64_t index; /* commit index when the read was admitted */
	uint64_t seq;   /* heartbeat round that must be acknowledged by a quorum */
};

struct raft {
	struct raft_options opt;
	struct raft_io io;

	/* persistent (paper Figure 2) */
	uint64_t term;
	uint64_t vote;
	uint64_t commit;
	struct raft_hard_state hs_saved; /* last hard state handed out in a ready */

	/* volatile */
	uint8_t role;
	uint64_t leader;
	uint64_t applied; /* handed out in a ready and acknowledged */

	/* the log: [log_first, win_first) in storage, [win_first, last_index] in memory */
	uint64_t snap_index;
	uint64_t snap_term;
	struct raft_conf snap_conf;
	uint64_t log_first; /* first entry in storage */
	uint64_t last_index;
	uint64_t last_term;
	uint64_t stable;      /* entries <= stable are durable */
	uint64_t stored_last; /* last entry storage may hold (> stable after a truncation) */
	uint64_t win_first;
	struct raft_win_ent *win;
	uint32_t win_head;
	uint32_t win_n;
	uint8_t *pay; /* payload ring, caps.window_bytes */
	uint64_t pay_tail;

	/* configuration: the latest in the log takes effect (thesis §4.1) */
	struct raft_conf conf;
	uint64_t conf_index;
	struct raft_conf conf_prev;    /* the one before it (may still be the cluster's) */
	struct raft_conf conf_applied; /* as of `applied`: goes into snapshots */
	uint64_t conf_applied_index;

	/* timers, in ticks */
	uint32_t election_elapsed;
	uint32_t heartbeat_elapsed;
	uint32_t check_elapsed;
	uint32_t rand_timeout;
	uint32_t transfer_elapsed;

	/* candidate */
	uint64_t granted[RAFT_MAX_SERVERS];
	uint64_t refused[RAFT_MAX_SERVERS];
	uint32_t n_granted;
	uint32_t n_refused;

	/* leader */
	struct raft_progress prs[RAFT_MAX_SERVERS];
	uint64_t *infl_last; /* max_servers * max_inflight_msgs */
	uint32_t *infl_size;
	uint64_t term_start;  /* index of this leader's no-op */
	uint64_t transfer_to; /* 0: none */
	uint64_t hb_seq;
	uint8_t need_noop;

	/* ReadIndex */
	struct raft_pending_read *reads;
	uint32_t n_reads;
	struct raft_read_result *read_out;
	uint32_t n_read_out;

	/* outbox: messages and a bump arena for their entries and chunks */
	struct raft_msg *out;
	uint32_t n_out;
	uint8_t *arena;
	size_t arena_used;
	size_t arena_cap;

	/* snapshot being received (paper §7) */
	uint64_t rsnap_index;
	uint64_t rsnap_term;
	uint64_t rsnap_offset;
	struct raft_snapshot_in rsnap;
	uint8_t *rsnap_buf;
	uint8_t has_rsnap;
	uint8_t snap_asked;

	/* ready bookkeeping */
	uint8_t ready_out;
	struct raft_entry *rd_ents;  /* window_entries */
	struct raft_entry *rd_apply; /* max_apply_batch */
	uint8_t *apply_buf;          /* max_msg_bytes: committed entries read from storage */
	struct raft_hard_state rd_hs;
	uint64_t rd_last;
	uint64_t rd_applied;

	struct raft_stats stats;
	int err;      /* first storage error, latched */
	uint8_t dead; /* fail-stop: state could not be rebuilt; restart from storage */
};

/* ---- life cycle -------------------------------------------------------- */

/* Defaults: election 10 ticks, heartbeat 2, caps for a control plane. */
void raft_options_default(struct raft_options *o, uint64_t id);
/* Allocate every array from o->caps (the only allocation). 0, -ERR_INVAL for
 * inconsistent caps (each one is checked), -ERR_NOMEM. */
int raft_init(struct raft *r, const struct raft_options *o, const struct raft_io *io);
void raft_fini(struct raft *r);
/* Load what storage holds (all zero for a brand-new server, which then
 * waits, without campaigning, until a leader adds it). Reads the log back
 * through io to find the latest configuration. 0 or -ERR_INVAL /
 * -ERR_RAFT_STORAGE. */
int raft_start(struct raft *r, const struct raft_boot *b);
/* A brand-new server that creates the cluster: appends configuration `c` as
 * entry 1 of term 1. Every server listed must be bootstrapped with the same
 * `c` (or `c` lists this server alone and the others join later). */
int raft_bootstrap(struct raft *r, const struct raft_conf *c);

/* ---- inputs (each returns -ERR_RAFT_BUSY while a ready is out) ----------
 *
 * Storage read failures are retried (the next heartbeat, the next ready),
 * except where the core cannot go on safely: rebuilding the configuration
 * after a configuration entry was truncated or a snapshot installed. Then it
 * stops: every call returns -ERR_RAFT_STORAGE until the caller drops it
 * (raft_fini) and starts again from storage (raft_init, raft_start). */

int raft_tick(struct raft *r);
/* A message for this server. -ERR_INVAL if it is not addressed here or is
 * malformed (it is then ignored); 0 otherwise, including messages Raft
 * ignores (stale terms). */
int raft_step(struct raft *r, const struct raft_msg *m);
/* Append a client command. 0 and *index (may be NULL), or -ERR_RAFT_NOT_LEADER,
 * -ERR_RAFT_TRANSFERRING, -ERR_RAFT_ENTRY_TOO_LARGE (max_entry_bytes),
 * -ERR_RAFT_LOG_FULL (max_log_entries: take a snapshot; window: drain ready). */
int raft_propose(struct raft *r, const void *data, uint32_t len, uint64_t *index);
/* Linearizable read (thesis §6.4): the answer arrives in a ready's reads
 * with the index the state machine must reach first. 0, -ERR_RAFT_NOT_LEADER,
 * -ERR_RAFT_READS_FULL (max_pending_reads). */
int raft_read_index(struct raft *r, uint64_t ctx);
/* Single-server membership changes (thesis §4.1–4.3). Leader only; one at a
 * time; not before this leader committed an entry of its term. Errors:
 * -ERR_RAFT_NOT_LEADER, -ERR_RAFT_CONF_PENDING, -ERR_RAFT_TRANSFERRING,
 * -ERR_EXISTS / -ERR_NOTFOUND (id), -ERR_RAFT_TOO_MANY_SERVERS (max_servers),
 * -ERR_RAFT_TOO_MANY_VOTERS (max_voters), -ERR_RAFT_NOT_CAUGHT_UP (promote),
 * -ERR_INVAL (would leave no voter), -ERR_RAFT_LOG_FULL. */
int raft_add_learner(struct raft *r, uint64_t id);
int raft_promote(struct raft *r, uint64_t id);
int raft_remove(struct raft *r, uint64_t id);
/* Hand leadership to voter `id` (thesis §3.10). Proposals are refused until
 * it completes or an election timeout passes. 0, -ERR_RAFT_NOT_LEADER,
 * -ERR_RAFT_TRANSFERRING, -ERR_NOTFOUND (not a voter), -ERR_INVAL (self). */
int raft_transfer(struct raft *r, uint64_t id);
/* Snapshot metadata for the state machine as of the applied index. Call it
 * after raft_ready_advance, when the state machine is at that index.
 * 0, -ERR_RAFT_BUSY, -ERR_RAFT_STORAGE. */
int raft_snapshot_meta(struct raft *r, struct raft_snapshot_meta *m);
/* The caller durably saved a snapshot described by m (from raft_snapshot_meta,
 * possibly some time ago). *compact_upto: the caller may delete stored entries
 * with index <= it. 0, or -ERR_INVAL if m is older than the current one. */
int raft_snapshot_done(struct raft *r, const struct raft_snapshot_meta *m, uint64_t *compact_upto);

/* ---- outputs ------------------------------------------------------------ */

/* 1 and *rd filled when there is something to do, 0 when idle, -ERR_RAFT_BUSY
 * if the previous ready was not advanced, -ERR_RAFT_STORAGE when reading
 * committed entries back failed (retry later). */
int raft_ready_get(struct raft *r, struct raft_ready *rd);
/* The ready was processed in the documented order. */
int raft_ready_advance(struct raft *r);

/* ---- accessors ---------------------------------------------------------- */

static inline uint8_t raft_role(const struct raft *r)
{
	return r->role;
}
static inline uint64_t raft_term(const struct raft *r)
{
	return r->term;
}
static inline uint64_t raft_leader(const struct raft *r)
{
	return r->leader;
}
static inline uint64_t raft_commit_index(const struct raft *r)
{
	return r->commit;
}
static inline uint64_t raft_applied_index(const struct raft *r)
{
	return r->applied;
}
static inline uint64_t raft_last_index(const struct raft *r)
{
	return r->last_index;
}
static inline uint64_t raft_snapshot_index(const struct raft *r)
{
	return r->snap_index;
}
static inline const struct raft_conf *raft_config(const struct raft *r)
{
	return &r->conf;
}
/* Term of the entry at index (0 for index 0): from memory or storage. 0, or
 * -ERR_NOTFOUND (compacted or past the end), -ERR_RAFT_STORAGE. */
int raft_term_at(struct raft *r, uint64_t index, uint64_t *term);
/* Role of id in c (RAFT_VOTER / RAFT_LEARNER) or 0 if absent. */
int raft_conf_role(const struct raft_conf *c, uint64_t id);
uint32_t raft_conf_voters(const struct raft_conf *c);

/* ---- wire codec (fixed little-endian layout, docs/internals/raft.md) ---- */

/* Encoded size of m. */
size_t raft_msg_size(const struct raft_msg *m);
/* Encode into buf: bytes written, or -ERR_BUF_FULL. */
int raft_msg_encode(const struct raft_msg *m, uint8_t *buf, size_t cap);
/* Decode exactly len bytes. Entry and chunk data point into buf; entries go
 * to ents[max_ents]. 0, -ERR_PARSE (truncated, bad type, bad length, bad
 * field, trailing bytes) or -ERR_TOO_LARGE (more entries than max_ents). */
int raft_msg_decode(const uint8_t *buf, size_t len, struct raft_msg *m, struct raft_entry *ents,
		    uint32_t max_ents);
/* Configuration <-> RAFT_ENTRY_CONF payload. encode: bytes or -ERR_BUF_FULL;
 * decode: 0 or -ERR_PARSE (also duplicate or zero ids, bad roles). */
int raft_conf_encode(const struct raft_conf *c, uint8_t *buf, size_t cap);
int raft_conf_decode(const uint8_t *buf, size_t len, struct raft_conf *c);

const char *raft_role_name(int role);
const char *raft_msg_type_name(int type);

/* ---- internal: shared between src/raft/raft_*.c only -------------------- */
#ifdef RAFT_INTERNAL

#ifdef TEE_TEST_BUILD
#define RAFT_BUG(r, n) ((r)->opt.plant_bug == (n))
#else
#define RAFT_BUG(r, n) 0
#endif

/* raft_log.c */
int raft_log_append(struct raft *r, uint64_t term, uint8_t type, const uint8_t *data, uint32_t len);
void raft_log_truncate(struct raft *r, uint64_t from, uint64_t term_before);
const struct raft_win_ent *raft_log_win(const struct raft *r, uint64_t index);
const uint8_t *raft_log_win_data(const struct raft *r, const struct raft_win_ent *e);
int raft_log_read(struct raft *r, uint64_t first, uint64_t last, uint32_t max_n,
		  struct raft_entry *out, uint8_t *buf, size_t cap, int copy);
void raft_log_reset(struct raft *r, uint64_t index, uint64_t term);
void raft_log_drop_upto(struct raft *r, uint64_t index);
int raft_log_up_to_date(struct raft *r, uint64_t last_index, uint64_t last_term);

/* raft_core.c */
struct raft_msg *raft_send(struct raft *r, uint8_t type, uint64_t to);
void raft_set_term(struct raft *r, uint64_t term);
int raft_log_room(const struct raft *r);
int raft_check(const struct raft *r);
void raft_fail_stop(struct raft *r);
void *raft_arena_alloc(struct raft *r, size_t n);
int raft_quorum(const struct raft *r);
int raft_self_voter(const struct raft *r);
int raft_can_campaign(const struct raft *r);
void raft_reset_timeout(struct raft *r);

/* raft_election.c */
void raft_become_follower(struct raft *r, uint64_t term, uint64_t leader);
void raft_become_leader(struct raft *r);
void raft_campaign(struct raft *r, int transfer);
void raft_handle_vote(struct raft *r, const struct raft_msg *m);
void raft_handle_vote_resp(struct raft *r, const struct raft_msg *m);
void raft_handle_timeout_now(struct raft *r, const struct raft_msg *m);
void raft_tick_leader_checks(struct raft *r);
int raft_in_lease(const struct raft *r);
void raft_transfer_maybe_send(struct raft *r, struct raft_progress *pr);

/* raft_replication.c */
struct raft_progress *raft_progress_of(struct raft *r, uint64_t id);
void raft_progress_reset(struct raft *r, struct raft_progress *pr);
void raft_send_append(struct raft *r, struct raft_progress *pr, int heartbeat);
void raft_bcast_append(struct raft *r);
void raft_bcast_heartbeat(struct raft *r);
void raft_handle_append(struct raft *r, const struct raft_msg *m);
void raft_handle_append_resp(struct raft *r, const struct raft_msg *m);
void raft_maybe_commit(struct raft *r);
void raft_tick_replication(struct raft *r);

/* raft_snapshot.c */
void raft_send_snap_chunk(struct raft *r, struct raft_progress *pr);
void raft_handle_snap(struct raft *r, const struct raft_msg *m);
void raft_handle_snap_resp(struct raft *r, const struct raft_msg *m);

/* raft_membership.c */
void raft_conf_set(struct raft *r, const struct raft_conf *c, uint64_t index);
int raft_conf_rebuild(struct raft *r);
void raft_progress_sync(struct raft *r);
void raft_conf_applied(struct raft *r, const struct raft_entry *e);

/* raft_read.c */
void raft_reads_on_commit(struct raft *r);
void raft_reads_on_ack(struct raft *r);
void raft_reads_drop(struct raft *r);

#endif /* RAFT_INTERNAL */

#endif
