/* sim_raft.c — deterministic simulator for the Raft core (src/raft).
 *
 * One process runs a cluster of 3, 5 or 7 raft cores (more after membership
 * changes) over a simulated network, one simulated clock and simulated disks,
 * all driven from one seed. Every seed draws its own fault mix (swarm
 * testing): message loss, duplication, delay and reordering; symmetric and
 * one-way partitions; crashes and restarts; membership changes (learner, then
 * promotion; removals, the leader's included); leadership transfers;
 * snapshots and compaction with a small log window; client proposals and
 * ReadIndex reads.
 *
 * Storage model: a node's disk holds what it acknowledged with
 * raft_ready_advance — hard state, log, snapshot. A ready is processed by a
 * "persist" event some simulated time after the input that produced it; a
 * crash before that loses everything the core had not handed out. Messages
 * leave only from the persist event, after the writes (the core's contract).
 *
 * After every event the checker verifies:
 *   election safety       at most one leader per term
 *   leader append-only    a leader never removes or rewrites its entries,
 *                         in memory or on disk
 *   log matching          an (index, term) pair identifies the whole prefix:
 *                         every persisted entry carries a prefix hash, and
 *                         all nodes must agree on it
 *   leader completeness   a new leader holds every entry committed in an
 *                         earlier term (committed = under some node's commit
 *                         index)
 *   state machine safety  nodes apply the same entry at each index, each
 *                         index once and in order; installed snapshots equal
 *                         the applied history
 *   read linearizability  a read is answered from a state at least as new as
 *                         every write acknowledged before the read began
 *   durability            a granted vote and an acknowledged entry are on
 *                         disk when the message leaves
 *   codec                 every message survives encode/decode unchanged
 * and, at the end of each seed, liveness: all faults heal, then a leader must
 * be elected and a new proposal committed within LIVE_MS of simulated time.
 *
 * Planted bugs (options.plant_bug, test builds only) must each be caught:
 *   1 commit entries of older terms by counting replicas (paper §5.4.2)
 *   2 grant a second vote in the same term (§5.2)
 *   3 never persist the vote before answering (§5.1, Figure 2)
 *   4 answer ReadIndex without a quorum round (thesis §6.4)
 *   5 vote for candidates whose log is behind ours (§5.4.1)
 *   6 (in this driver, not the core) apply entries once they are on disk,
 *     before they are committed
 * The searches for planted bugs use a harsher fault mix (--harsh): frequent
 * faults aimed at leaders, quick restarts, one entry per message, so that
 * interleavings like the paper's Figure 8 come up within a few seeds.
 *
 * Usage: sim_raft [--seeds=N] [--from=S] [--steps=K] [--seed=S -v] [--bug=N]
 *                 [--harsh] [--liveness] [--mutants | --no-mutants]
 *                 [--bug-seeds=N] [--bug-steps=K]
 *        RAFT_PLANT_BUG=N in the environment is the same as --bug=N;
 *        SIM_SEEDS, SIM_STEPS and SIM_LIVENESS=1 set the defaults of
 *        --seeds, --steps and --liveness (tools/mk/raft.mk).
 *   default     1000 seeds of 3000 steps, then one search per planted bug
 *   --liveness  after healing, every member of the leader's configuration
 *               must apply the fresh write, not only its proposer (1500
 *               steps per seed unless --steps)
 *   --mutants   only the planted-bug searches, one "mutant N" line each
 * The last line of a run is "seeds: N, violations: V".
 * Randomness: each seed initialises a struct rand (rand_init_seed) with
 * "sim_raft" and the seed number; the fault mix is drawn from it, and it
 * seeds a xoshiro256** stream used for the per-event draws (the DRBG is too
 * slow per event under ASan).
 */
#include "base/base_err.h"
#include "base/base_rand.h"
#include "raft/raft.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXN 12      /* node slots: initial nodes plus joiners */
#define TICK_MS 10   /* one raft tick */
#define LIVE_MS 6000 /* after healing: time allowed to elect and commit */
#define MAX_ENTS 256 /* decode array */
#define LIVE_MAX_EVENTS 400000

/* ---- small utilities ------------------------------------------------- */

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "sim_raft: out of memory\n");
		exit(2);
	}
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "sim_raft: out of memory\n");
		exit(2);
	}
	return p;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t hash_entry(uint64_t term, uint8_t type, const uint8_t *d, uint32_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ mix64(term * 31 + type);
	for (uint32_t i = 0; i < len; i++)
		h = (h ^ d[i]) * 0x100000001b3ull;
	return mix64(h ^ len);
}

static uint64_t chain(uint64_t prev, uint64_t h)
{
	return mix64(prev ^ mix64(h + 0x9e37));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* xoshiro256**, seeded from the seed's struct rand. */
struct xrng {
	uint64_t s[4];
};

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t xr_next(struct xrng *r)
{
	uint64_t res = rotl(r->s[1] * 5, 7) * 9, t = r->s[1] << 17;
	r->s[2] ^= r->s[0];
	r->s[3] ^= r->s[1];
	r->s[1] ^= r->s[2];
	r->s[0] ^= r->s[3];
	r->s[2] ^= t;
	r->s[3] = rotl(r->s[3], 45);
	return res;
}

/* ---- (index, term) -> value map -------------------------------------- */

struct map {
	uint64_t *k1, *k2, *v;
	size_t cap, n;
};

static void map_free(struct map *m)
{
	free(m->k1);
	free(m->k2);
	free(m->v);
	memset(m, 0, sizeof *m);
}

static size_t map_slot(const struct map *m, uint64_t a, uint64_t b)
{
	size_t i = (size_t)(mix64(a * 0x9e3779b97f4a7c15ull ^ b) & (m->cap - 1));
	while (m->k1[i] && (m->k1[i] != a || m->k2[i] != b))
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int map_get(const struct map *m, uint64_t a, uint64_t b, uint64_t *v)
{
	if (!m->cap)
		return 0;
	size_t i = map_slot(m, a, b);
	if (!m->k1[i])
		return 0;
	*v = m->v[i];
	return 1;
}

static void map_put(struct map *m, uint64_t a, uint64_t b, uint64_t v); /* a != 0 */

static void map_grow(struct map *m)
{
	struct map o = *m;
	m->cap = o.cap ? o.cap * 2 : 1024;
	m->n = 0;
	m->k1 = calloc(m->cap, 8);
	m->k2 = calloc(m->cap, 8);
	m->v = calloc(m->cap, 8);
	if (!m->k1 || !m->k2 || !m->v)
		exit(2);
	for (size_t i = 0; i < o.cap; i++)
		if (o.k1[i])
			map_put(m, o.k1[i], o.k2[i], o.v[i]);
	map_free(&o);
}

static void map_put(struct map *m, uint64_t a, uint64_t b, uint64_t v)
{
	if ((m->n + 1) * 2 > m->cap)
		map_grow(m);
	size_t i = map_slot(m, a, b);
	if (!m->k1[i])
		m->n++;
	m->k1[i] = a;
	m->k2[i] = b;
	m->v[i] = v;
}

/* ---- simulated world --------------------------------------------------- */

struct sent {
	uint64_t term;
	uint64_t ph; /* prefix hash through this entry */
	uint8_t *data;
	uint32_t len;
	uint8_t type;
};

/* A node's disk: what it acknowledged. */
struct store {
	struct raft_hard_state hs;
	uint64_t snap_index, snap_term, snap_ph;
	struct raft_conf snap_conf;
	uint8_t *blob;
	size_t blob_len;
	uint8_t *part; /* snapshot being received */
	size_t part_len;
	struct sent *log; /* log[i - first] */
	uint64_t first;
	uint64_t n;
	size_t cap;
};

static uint64_t st_last(const struct store *st)
{
	return st->first + st->n - 1;
}

struct waiter {
	uint64_t rid, index;
};

struct node {
	uint64_t id;
	int exists; /* started at least once */
	int up;
	int want_voter;       /* membership driver's goal */
	uint32_t gen;         /* incarnation: stale events are ignored */
	uint32_t lost_before; /* power loss: packets sent before this gen are gone */
	int persist_pending;
	struct raft r;
	struct store st;
	struct sim *s;
	/* state machine (volatile: rebuilt from the snapshot on restart) */
	uint64_t sm_index, sm_hash, sm_writes;
	/* checker */
	uint64_t seen_commit;
	uint64_t lead_term, lead_last, lead_last_term;
	struct waiter *waits;
	size_t n_waits, cap_waits;
};

struct pkt {
	uint32_t from_gen;
	uint64_t from, to;
	uint8_t *b;
	size_t n;
};

enum ev_kind {
	EV_TICK,
	EV_PERSIST,
	EV_DELIVER,
	EV_CHAOS,
	EV_CLIENT,
	EV_MEMBER,
	EV_RESTART,
	EV_CRASH
};

struct ev {
	uint64_t t, seq;
	int kind;
	int node;
	uint32_t gen;
	struct pkt *p;
};

struct cfg {
	int n0;              /* initial nodes */
	int single_boot;     /* node 1 bootstraps alone; the rest join */
	uint32_t loss, dup;  /* per mille */
	uint32_t dmin, dmax; /* one-way delay, ms */
	uint32_t disk_max;   /* persist delay, ms */
	int partitions, crashes, membership, transfers;
	uint32_t chaos_min, chaos_max; /* ms between faults */
	uint32_t client_ms;
	uint32_t read_pct;
	uint32_t max_payload;
	uint32_t snap_pad;
	uint32_t election_ticks, heartbeat_ticks;
	uint32_t restart_max;  /* ms a crashed node stays down */
	uint32_t leader_crash; /* per mille: a new leader crashes soon after election */
	uint32_t power_loss;   /* per mille of crashes that also lose unsent messages */
	uint32_t crash_window; /* ms after election within which that crash comes */
	uint32_t io_fail;      /* per mille of storage reads that fail (-ERR_IO) */
	struct raft_caps caps;
};

struct cent {
	uint64_t term;        /* entry term at this committed index */
	uint64_t commit_term; /* term of the first node seen committing it */
};

struct aent {
	uint64_t term, h, chain;
};

struct prop {
	uint64_t node, index;
};

struct rdreq {
	uint64_t need;
};

struct stats {
	uint64_t seeds, steps, leaders, commits, snaps_installed, snaps_taken, conf_changes,
		transfers, reads, writes_acked, crashes, truncations, partitions, msgs,
		old_term_commits, failed, fail_stops;
};

struct sim {
	uint64_t seed;
	int verbose;
	int bug;
	struct rand drbg;
	struct xrng rng;
	struct cfg cfg;
	uint64_t now, step, max_steps;
	int quiet; /* storage faults off: start-up and the checker's own reads */
	struct ev *h;
	size_t hn, hcap;
	uint64_t ev_seq;
	struct node nodes[MAXN];
	int n_slots;
	uint8_t blocked[MAXN][MAXN];
	/* oracles */
	uint64_t *leader_of; /* by term */
	size_t leader_cap;
	struct map ph;
	struct cent *cm;
	size_t cm_cap;
	uint64_t cmax;
	struct aent *ap;
	size_t ap_cap;
	uint64_t amax;
	struct prop *props;
	size_t props_cap;
	uint64_t n_props;
	struct rdreq *rds;
	size_t rds_cap;
	uint64_t n_rds;
	uint64_t acked_max;
	/* liveness */
	int healing;
	uint64_t heal_at;
	int live_ok;
	uint64_t live_wid, live_node;
	int live_all;        /* --liveness: every member must apply the live write */
	uint64_t live_index; /* where the live write was applied */
	/* result */
	int failed;
	char group[40];
	char msg[300];
	uint64_t fail_step;
	struct stats st;
};

static struct raft_entry dec_ents[MAX_ENTS];

static uint64_t rnd(struct sim *s, uint64_t n)
{
	return n ? xr_next(&s->rng) % n : 0;
}
static int chance(struct sim *s, uint32_t per_mille)
{
	return rnd(s, 1000) < per_mille;
}

static void trace(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace(struct sim *s, const char *fmt, ...)
{
	if (!s->verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	printf("# t=%-7" PRIu64 " step=%-6" PRIu64 " ", s->now, s->step);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
}

static void fail(struct sim *s, const char *group, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct sim *s, const char *group, const char *fmt, ...)
{
	if (s->failed)
		return;
	s->failed = 1;
	s->fail_step = s->step;
	snprintf(s->group, sizeof s->group, "%s", group);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->msg, sizeof s->msg, fmt, ap);
	va_end(ap);
	trace(s, "VIOLATION %s: %s", s->group, s->msg);
}

/* ---- event heap -------------------------------------------------------- */

static int ev_less(const struct ev *a, const struct ev *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void ev_push(struct sim *s, uint64_t t, int kind, int node, struct pkt *p)
{
	if (s->hn == s->hcap) {
		s->hcap = s->hcap ? s->hcap * 2 : 256;
		s->h = xrealloc(s->h, s->hcap * sizeof *s->h);
	}
	struct ev e = {t, s->ev_seq++, kind, node, node >= 0 ? s->nodes[node].gen : 0, p};
	size_t i = s->hn++;
	while (i > 0) {
		size_t up = (i - 1) / 2;
		if (!ev_less(&e, &s->h[up]))
			break;
		s->h[i] = s->h[up];
		i = up;
	}
	s->h[i] = e;
}

static struct ev ev_pop(struct sim *s)
{
	struct ev top = s->h[0], last = s->h[--s->hn];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->hn)
			break;
		if (c + 1 < s->hn && ev_less(&s->h[c + 1], &s->h[c]))
			c++;
		if (!ev_less(&s->h[c], &last))
			break;
		s->h[i] = s->h[c];
		i = c;
	}
	if (s->hn)
		s->h[i] = last;
	return top;
}

/* ---- oracle tables ----------------------------------------------------- */

static void grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need < *cap)
		return;
	size_t nc = *cap ? *cap : 256;
	while (nc <= need)
		nc *= 2;
	*p = xrealloc(*p, nc * elem);
	memset((char *)*p + *cap * elem, 0, (nc - *cap) * elem);
	*cap = nc;
}

static struct cent *cm_at(struct sim *s, uint64_t i)
{
	grow((void **)&s->cm, &s->cm_cap, (size_t)i, sizeof *s->cm);
	return &s->cm[i];
}

static struct aent *ap_at(struct sim *s, uint64_t i)
{
	grow((void **)&s->ap, &s->ap_cap, (size_t)i, sizeof *s->ap);
	return &s->ap[i];
}

static int node_idx(struct sim *s, uint64_t id)
{
	for (int k = 0; k < s->n_slots; k++)
		if (s->nodes[k].id == id)
			return k;
	return -1;
}

/* ---- storage (the io vtable) ------------------------------------------ */

static int io_fault(struct node *n)
{
	return !n->s->quiet && chance(n->s, n->s->cfg.io_fail);
}

static int io_log_term(void *ctx, uint64_t index, uint64_t *term)
{
	struct node *n = ctx;
	if (io_fault(n))
		return -ERR_IO;
	if (index < n->st.first || index > st_last(&n->st) || n->st.n == 0)
		return -ERR_NOTFOUND;
	*term = n->st.log[index - n->st.first].term;
	return 0;
}

static int io_log_read(void *ctx, uint64_t first, uint32_t max_n, struct raft_entry *out,
		       uint8_t *buf, size_t cap)
{
	struct node *n = ctx;
	if (io_fault(n))
		return -ERR_IO;
	if (n->st.n == 0 || first < n->st.first || first > st_last(&n->st))
		return -ERR_NOTFOUND;
	uint32_t k = 0;
	size_t used = 0;
	while (k < max_n && first + k <= st_last(&n->st)) {
		const struct sent *e = &n->st.log[first + k - n->st.first];
		if (e->len > cap - used)
			break;
		memcpy(buf + used, e->data, e->len);
		out[k] = (struct raft_entry){.term = e->term,
					     .index = first + k,
					     .data = buf + used,
					     .len = e->len,
					     .type = e->type};
		used += e->len;
		k++;
	}
	return k ? (int)k : -ERR_BUF_FULL;
}

static int io_snap_read(void *ctx, uint64_t index, uint64_t offset, uint8_t *buf, size_t cap,
			uint64_t *total)
{
	struct node *n = ctx;
	if (io_fault(n))
		return -ERR_IO;
	if (n->st.snap_index != index || !n->st.blob)
		return -ERR_NOTFOUND;
	*total = n->st.blob_len;
	if (offset > n->st.blob_len)
		return -ERR_RANGE;
	size_t k = n->st.blob_len - (size_t)offset;
	if (k > cap)
		k = cap;
	memcpy(buf, n->st.blob + offset, k);
	return (int)k;
}

static uint64_t io_rand(void *ctx)
{
	struct node *n = ctx;
	return xr_next(&n->s->rng);
}

static void st_free_from(struct store *st, uint64_t idx) /* drop entries >= idx */
{
	while (st->n && st_last(st) >= idx) {
		free(st->log[st->n - 1].data);
		st->n--;
	}
}

static void st_compact(struct store *st, uint64_t upto) /* drop entries <= upto */
{
	uint64_t k = 0;
	while (k < st->n && st->first + k <= upto) {
		free(st->log[k].data);
		k++;
	}
	if (k) {
		memmove(st->log, st->log + k, (size_t)(st->n - k) * sizeof *st->log);
		st->n -= k;
		st->first += k;
	}
	if (st->n == 0 && st->first <= upto)
		st->first = upto + 1;
}

static void st_free(struct store *st)
{
	st_free_from(st, 0);
	free(st->log);
	free(st->blob);
	free(st->part);
	memset(st, 0, sizeof *st);
}

/* Prefix hash of the entry before idx on this disk. */
static int st_prev_ph(struct sim *s, struct node *n, uint64_t idx, uint64_t *ph)
{
	struct store *st = &n->st;
	if (idx == 1) {
		*ph = 0;
		return 1;
	}
	if (st->n && idx - 1 >= st->first && idx - 1 <= st_last(st)) {
		*ph = st->log[idx - 1 - st->first].ph;
		return 1;
	}
	if (idx - 1 == st->snap_index) {
		*ph = st->snap_ph;
		return 1;
	}
	fail(s, "log matching",
	     "node %" PRIu64 " appends %" PRIu64 " after a hole (last %" PRIu64 ")", n->id, idx,
	     st_last(st));
	return 0;
}

static void st_append(struct sim *s, struct node *n, const struct raft_entry *e)
{
	struct store *st = &n->st;
	uint64_t prev;
	if (st->n == 0)
		st->first = e->index;
	else if (e->index != st_last(st) + 1) {
		fail(s, "log matching", "node %" PRIu64 " stores %" PRIu64 " after %" PRIu64, n->id,
		     e->index, st_last(st));
		return;
	}
	if (!st_prev_ph(s, n, e->index, &prev))
		return;
	uint64_t ph = chain(prev, hash_entry(e->term, e->type, e->data, e->len));
	uint64_t seen;
	if (map_get(&s->ph, e->index, e->term, &seen)) {
		if (seen != ph)
			fail(s, "log matching",
			     "node %" PRIu64 " entry (%" PRIu64 ", term %" PRIu64
			     ") has a different prefix than another node's",
			     n->id, e->index, e->term);
	} else {
		map_put(&s->ph, e->index, e->term, ph);
	}
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 64;
		st->log = xrealloc(st->log, st->cap * sizeof *st->log);
	}
	struct sent *se = &st->log[st->n++];
	se->term = e->term;
	se->type = e->type;
	se->len = e->len;
	se->ph = ph;
	se->data = xmalloc(e->len);
	if (e->len)
		memcpy(se->data, e->data, e->len);
}

/* ---- state machine ----------------------------------------------------- */

/* Snapshot blob: u64 index, u64 chain hash, u64 writes, then padding. */
static void sm_snapshot(struct sim *s, struct node *n, uint8_t **blob, size_t *len)
{
	size_t pad = s->cfg.snap_pad;
	*len = 24 + pad;
	*blob = xmalloc(*len);
	put64(*blob, n->sm_index);
	put64(*blob + 8, n->sm_hash);
	put64(*blob + 16, n->sm_writes);
	for (size_t i = 0; i < pad; i++)
		(*blob)[24 + i] = (uint8_t)(mix64(n->sm_hash + i) & 0xff);
}

static void sm_restore(struct sim *s, struct node *n)
{
	n->sm_index = n->sm_hash = n->sm_writes = 0;
	if (!n->st.blob)
		return;
	if (n->st.blob_len < 24) {
		fail(s, "state machine safety", "node %" PRIu64 " snapshot blob truncated", n->id);
		return;
	}
	n->sm_index = get64(n->st.blob);
	n->sm_hash = get64(n->st.blob + 8);
	n->sm_writes = get64(n->st.blob + 16);
	if (n->sm_index != n->st.snap_index)
		fail(s, "state machine safety",
		     "node %" PRIu64 " snapshot blob at %" PRIu64 " labelled %" PRIu64, n->id,
		     n->sm_index, n->st.snap_index);
	if (n->sm_index && (n->sm_index > s->amax || s->ap[n->sm_index].chain != n->sm_hash))
		fail(s, "state machine safety",
		     "node %" PRIu64 " snapshot at %" PRIu64 " differs from the applied history",
		     n->id, n->sm_index);
}

static void serve_reads(struct sim *s, struct node *n)
{
	size_t k = 0;
	for (size_t i = 0; i < n->n_waits; i++) {
		struct waiter *w = &n->waits[i];
		if (w->index > n->sm_index) {
			n->waits[k++] = *w;
			continue;
		}
		uint64_t need = s->rds[w->rid].need;
		s->st.reads++;
		trace(s,
		      "n%" PRIu64 " read r%" PRIu64 " served at %" PRIu64 " (read index %" PRIu64
		      ", needs %" PRIu64 ")",
		      n->id, w->rid, n->sm_index, w->index, need);
		if (n->sm_index < need)
			fail(s, "read linearizability",
			     "node %" PRIu64 " served read %" PRIu64 " from state %" PRIu64
			     " but write at %" PRIu64 " was acknowledged before it began",
			     n->id, w->rid, n->sm_index, need);
	}
	n->n_waits = k;
}

static void apply_entry(struct sim *s, struct node *n, const struct raft_entry *e)
{
	if (e->index != n->sm_index + 1) {
		fail(s, "state machine safety",
		     "node %" PRIu64 " applies %" PRIu64 " after %" PRIu64, n->id, e->index,
		     n->sm_index);
		return;
	}
	uint64_t h = hash_entry(e->term, e->type, e->data, e->len);
	uint64_t c = chain(n->sm_hash, h);
	if (e->index <= s->amax) {
		struct aent *a = ap_at(s, e->index);
		if (a->term != e->term || a->h != h || a->chain != c) {
			fail(s, "state machine safety",
			     "node %" PRIu64 " applies (%" PRIu64 ", term %" PRIu64
			     ") but (%" PRIu64 ", term %" PRIu64 ") was applied elsewhere",
			     n->id, e->index, e->term, e->index, a->term);
			return;
		}
	} else if (e->index == s->amax + 1) {
		*ap_at(s, e->index) = (struct aent){e->term, h, c};
		s->amax = e->index;
	} else {
		fail(s, "state machine safety",
		     "node %" PRIu64 " applies %" PRIu64 " past %" PRIu64, n->id, e->index,
		     s->amax);
		return;
	}
	n->sm_index = e->index;
	n->sm_hash = c;
	if (e->type != RAFT_ENTRY_NORMAL || e->len < 8)
		return;
	n->sm_writes++;
	uint64_t wid = get64(e->data);
	if (wid == 0 || wid > s->n_props)
		return;
	struct prop *p = &s->props[wid];
	if (p->node == n->id && p->index == e->index) {
		/* the proposing node applied it: the client gets its answer */
		s->st.writes_acked++;
		if (e->index > s->acked_max)
			s->acked_max = e->index;
		if (wid == s->live_wid) {
			s->live_ok = 1;
			s->live_index = e->index;
		}
		p->node = 0;
	}
}

/* ---- network ----------------------------------------------------------- */

static void net_send(struct sim *s, const struct raft_msg *m)
{
	size_t sz = raft_msg_size(m);
	uint8_t *b = xmalloc(sz);
	int rc = raft_msg_encode(m, b, sz);
	if (rc != (int)sz) {
		fail(s, "codec", "encode of %s returned %d for %zu bytes",
		     raft_msg_type_name(m->type), rc, sz);
		free(b);
		return;
	}
	s->st.msgs++;
	int copies = 1;
	if (!s->healing) {
		if (chance(s, s->cfg.loss)) {
			free(b);
			return;
		}
		if (chance(s, s->cfg.dup))
			copies = 2;
	}
	for (int c = 0; c < copies; c++) {
		struct pkt *p = xmalloc(sizeof *p);
		int f = node_idx(s, m->from);
		p->from_gen = f >= 0 ? s->nodes[f].gen : 0;
		p->from = m->from;
		p->to = m->to;
		p->n = sz;
		if (c == 0) {
			p->b = b;
		} else {
			p->b = xmalloc(sz);
			memcpy(p->b, b, sz);
		}
		uint64_t d = s->cfg.dmin + rnd(s, s->cfg.dmax - s->cfg.dmin + 1);
		ev_push(s, s->now + d, EV_DELIVER, -1, p);
	}
}

/* The persistence rule, checked on every message as it leaves. */
static void check_durable(struct sim *s, struct node *n, const struct raft_msg *m)
{
	const struct store *st = &n->st;
	if (m->type != RAFT_MSG_PREVOTE && m->type != RAFT_MSG_PREVOTE_RESP &&
	    m->term > st->hs.term)
		fail(s, "durability",
		     "node %" PRIu64 " sends %s in term %" PRIu64
		     " before persisting the term (%" PRIu64 ")",
		     n->id, raft_msg_type_name(m->type), m->term, st->hs.term);
	if (m->type == RAFT_MSG_VOTE_RESP && m->vote_resp.granted &&
	    (st->hs.term != m->term || st->hs.vote != m->to))
		fail(s, "durability",
		     "node %" PRIu64 " grants its vote to %" PRIu64 " in term %" PRIu64
		     " but its disk says vote %" PRIu64 " in term %" PRIu64,
		     n->id, m->to, m->term, st->hs.vote, st->hs.term);
	if (m->type == RAFT_MSG_APPEND_RESP && m->append_resp.ok) {
		uint64_t i = m->append_resp.index;
		int have = i <= st->snap_index || (st->n && i >= st->first && i <= st_last(st));
		if (!have)
			fail(s, "durability",
			     "node %" PRIu64 " acknowledges index %" PRIu64 " not on its disk",
			     n->id, i);
	}
}

/* ---- node life cycle ---------------------------------------------------- */

static void schedule_persist(struct sim *s, int k)
{
	struct node *n = &s->nodes[k];
	if (!n->up || n->persist_pending)
		return;
	n->persist_pending = 1;
	ev_push(s, s->now + rnd(s, s->cfg.disk_max + 1), EV_PERSIST, k, NULL);
}

static int node_start(struct sim *s, int k)
{
	struct node *n = &s->nodes[k];
	struct raft_options o;
	raft_options_default(&o, n->id);
	o.election_ticks = s->cfg.election_ticks;
	o.heartbeat_ticks = s->cfg.heartbeat_ticks;
	o.caps = s->cfg.caps;
	o.plant_bug = s->bug;
	struct raft_io io = {n, io_log_term, io_log_read, io_snap_read, io_rand};
	int rc = raft_init(&n->r, &o, &io);
	if (rc) {
		fail(s, "setup", "raft_init: %s", err_name(rc));
		return rc;
	}
	struct raft_boot b = {
		.hs = n->st.hs,
		.snap_index = n->st.snap_index,
		.snap_term = n->st.snap_term,
		.snap_conf = n->st.snap_conf,
		.first_index = n->st.n ? n->st.first : st_last(&n->st) + 1,
		.last_index = n->st.n ? st_last(&n->st) : n->st.snap_index,
		.applied = n->st.snap_index,
	};
	if (!n->st.n)
		b.first_index = b.last_index + 1;
	s->quiet++; /* a real node would retry its start-up; keep it simple */
	rc = raft_start(&n->r, &b);
	s->quiet--;
	if (rc) {
		fail(s, "setup", "node %" PRIu64 " raft_start: %s", n->id, err_name(rc));
		raft_fini(&n->r);
		return rc;
	}
	sm_restore(s, n);
	n->up = 1;
	n->exists = 1;
	n->gen++;
	n->persist_pending = 0;
	n->seen_commit = n->r.commit;
	n->lead_term = 0;
	n->n_waits = 0;
	ev_push(s, s->now + 1 + rnd(s, TICK_MS), EV_TICK, k, NULL);
	return 0;
}

static void node_crash(struct sim *s, int k)
{
	struct node *n = &s->nodes[k];
	if (!n->up)
		return;
	trace(s, "n%" PRIu64 " CRASH (term %" PRIu64 " role %s)", n->id, n->r.term,
	      raft_role_name(n->r.role));
	s->st.crashes++;
	s->st.truncations += n->r.stats.truncations;
	raft_fini(&n->r);
	n->up = 0;
	n->gen++;
	if (chance(s, s->cfg.power_loss)) /* power loss: what it had not yet sent is gone too */
		n->lost_before = n->gen;
	n->persist_pending = 0;
	n->n_waits = 0;
}

static void take_snapshot(struct sim *s, struct node *n)
{
	struct raft_snapshot_meta m;
	int rc = raft_snapshot_meta(&n->r, &m);
	if (rc)
		return; /* a storage read failed: the core asks again later */
	if (m.index != n->sm_index || m.index <= n->st.snap_index)
		return;
	uint64_t ph;
	if (!(n->st.n && m.index >= n->st.first && m.index <= st_last(&n->st))) {
		fail(s, "durability", "node %" PRIu64 " snapshot at %" PRIu64 " not on disk", n->id,
		     m.index);
		return;
	}
	ph = n->st.log[m.index - n->st.first].ph;
	free(n->st.blob);
	sm_snapshot(s, n, &n->st.blob, &n->st.blob_len);
	n->st.snap_index = m.index;
	n->st.snap_term = m.term;
	n->st.snap_conf = m.conf;
	n->st.snap_ph = ph;
	uint64_t upto = 0;
	rc = raft_snapshot_done(&n->r, &m, &upto);
	if (rc) {
		fail(s, "setup", "raft_snapshot_done: %s", err_name(rc));
		return;
	}
	st_compact(&n->st, upto);
	s->st.snaps_taken++;
	trace(s, "n%" PRIu64 " snapshot at %" PRIu64 " compact <= %" PRIu64, n->id, m.index, upto);
}

static void install_chunk(struct sim *s, struct node *n, const struct raft_snapshot_in *c)
{
	struct store *st = &n->st;
	if (c->offset == 0)
		st->part_len = 0;
	if (c->offset != st->part_len) {
		fail(s, "durability", "node %" PRIu64 " snapshot chunk at %" PRIu64 ", have %zu",
		     n->id, c->offset, st->part_len);
		return;
	}
	st->part = xrealloc(st->part, st->part_len + c->len);
	memcpy(st->part + st->part_len, c->data, c->len);
	st->part_len += c->len;
	if (!c->last)
		return;
	uint64_t ph;
	if (!map_get(&s->ph, c->index, c->term, &ph)) {
		fail(s, "log matching",
		     "snapshot (%" PRIu64 ", term %" PRIu64 ") has no such entry", c->index,
		     c->term);
		return;
	}
	free(st->blob);
	st->blob = st->part;
	st->blob_len = st->part_len;
	st->part = NULL;
	st->part_len = 0;
	st->snap_index = c->index;
	st->snap_term = c->term;
	st->snap_conf = c->conf;
	st->snap_ph = ph;
	if (c->keep_log) {
		st_compact(st, c->index);
	} else {
		st_free_from(st, 0);
		st->first = c->index + 1;
	}
	sm_restore(s, n);
	s->st.snaps_installed++;
	trace(s, "n%" PRIu64 " installed snapshot %" PRIu64 " keep_log=%d", n->id, c->index,
	      c->keep_log);
}

static void process_ready(struct sim *s, int k, const struct raft_ready *rd)
{
	struct node *n = &s->nodes[k];
	struct store *st = &n->st;
	/* 1. persist */
	if (rd->snapshot)
		install_chunk(s, n, rd->snapshot);
	if (rd->n_entries || rd->truncate) {
		if (rd->role == RAFT_LEADER && st->n && rd->entries_first <= st_last(st))
			fail(s, "leader append-only",
			     "leader %" PRIu64 " term %" PRIu64
			     " overwrites its disk from %" PRIu64,
			     n->id, rd->term, rd->entries_first);
		st_free_from(st, rd->entries_first);
		for (uint32_t i = 0; i < rd->n_entries; i++) {
			if (rd->entries[i].index != rd->entries_first + i)
				fail(s, "log matching", "ready entries not contiguous");
			st_append(s, n, &rd->entries[i]);
		}
	}
	if (rd->hs)
		st->hs = *rd->hs;
	/* 2. send */
	for (uint32_t i = 0; i < rd->n_msgs; i++) {
		check_durable(s, n, &rd->msgs[i]);
		net_send(s, &rd->msgs[i]);
	}
	/* 3. apply */
	if (s->bug == 6) {
		/* Planted bug 6 (the driver, not the core): apply entries as soon
		 * as they are on disk, before they are committed; committed
		 * entries already applied are skipped. */
		for (uint32_t i = 0; i < rd->n_entries; i++)
			if (rd->entries[i].index == n->sm_index + 1)
				apply_entry(s, n, &rd->entries[i]);
	}
	for (uint32_t i = 0; i < rd->n_committed; i++)
		if (s->bug != 6 || rd->committed[i].index > n->sm_index)
			apply_entry(s, n, &rd->committed[i]);
	/* 4. reads */
	for (uint32_t i = 0; i < rd->n_reads; i++) {
		const struct raft_read_result *rr = &rd->reads[i];
		if (rr->status)
			continue;
		if (n->n_waits == n->cap_waits) {
			n->cap_waits = n->cap_waits ? n->cap_waits * 2 : 16;
			n->waits = xrealloc(n->waits, n->cap_waits * sizeof *n->waits);
		}
		n->waits[n->n_waits++] = (struct waiter){rr->ctx, rr->index};
	}
	serve_reads(s, n);
}

/* The core stopped (a storage read failed where it could not go on): do
 * what the daemon does, drop it and start again from the disk. */
static int restart_if_dead(struct sim *s, int k)
{
	struct node *n = &s->nodes[k];
	if (!n->up || !n->r.dead)
		return 0;
	trace(s, "n%" PRIu64 " fail-stop on a storage error: restart", n->id);
	s->st.fail_stops++;
	node_crash(s, k);
	ev_push(s, s->now + 1, EV_RESTART, k, NULL);
	return 1;
}

static void do_persist(struct sim *s, int k)
{
	struct node *n = &s->nodes[k];
	n->persist_pending = 0;
	for (int round = 0; round < 64 && !s->failed; round++) {
		struct raft_ready rd;
		int rc = raft_ready_get(&n->r, &rd);
		if (rc == 0)
			break;
		if (rc == -ERR_RAFT_STORAGE) { /* retry later, or restart if it stopped */
			if (!restart_if_dead(s, k))
				schedule_persist(s, k);
			return;
		}
		if (rc < 0) {
			fail(s, "setup", "node %" PRIu64 " raft_ready_get: %s", n->id,
			     err_name(rc));
			return;
		}
		process_ready(s, k, &rd);
		if (raft_ready_advance(&n->r)) {
			fail(s, "setup", "raft_ready_advance failed");
			return;
		}
		if (rd.want_snapshot)
			take_snapshot(s, n);
	}
}

/* ---- per-step checks ---------------------------------------------------- */

static void check_leader_completeness(struct sim *s, struct node *n)
{
	/* Newest entries committed in an earlier term must be in this
	 * leader's log (paper §5.4, Figure 3). Log matching covers the prefix. */
	int checked = 0;
	for (uint64_t i = s->cmax; i > n->r.snap_index && i > 0 && checked < 4; i--) {
		struct cent *c = &s->cm[i];
		if (!c->term || c->commit_term >= n->r.term)
			continue;
		uint64_t t = 0;
		if (raft_term_at(&n->r, i, &t) || t != c->term) {
			fail(s, "leader completeness",
			     "leader %" PRIu64 " of term %" PRIu64 " lacks committed (%" PRIu64
			     ", term %" PRIu64 ")",
			     n->id, n->r.term, i, c->term);
			return;
		}
		checked++;
	}
}

static void check_node(struct sim *s, struct node *n)
{
	struct raft *r = &n->r;
	if (r->role == RAFT_LEADER) {
		grow((void **)&s->leader_of, &s->leader_cap, (size_t)r->term, sizeof *s->leader_of);
		uint64_t *l = &s->leader_of[r->term];
		if (*l && *l != n->id)
			fail(s, "election safety",
			     "nodes %" PRIu64 " and %" PRIu64 " both lead term %" PRIu64, *l, n->id,
			     r->term);
		if (!*l) {
			*l = n->id;
			s->st.leaders++;
			trace(s, "n%" PRIu64 " LEADER term %" PRIu64 " last %" PRIu64, n->id,
			      r->term, r->last_index);
			/* unstable-leader nemesis: crash it before it settles */
			if (!s->healing && chance(s, s->cfg.leader_crash))
				ev_push(s, s->now + 1 + rnd(s, s->cfg.crash_window), EV_CRASH,
					(int)(n - s->nodes), NULL);
		}
		if (n->lead_term == r->term) {
			uint64_t t = 0;
			if (r->last_index < n->lead_last || raft_term_at(r, n->lead_last, &t) ||
			    t != n->lead_last_term)
				fail(s, "leader append-only",
				     "leader %" PRIu64 " term %" PRIu64
				     " lost or changed entry %" PRIu64,
				     n->id, r->term, n->lead_last);
		} else {
			n->lead_term = r->term;
			check_leader_completeness(s, n);
		}
		n->lead_last = r->last_index;
		n->lead_last_term = r->last_term;
	} else {
		n->lead_term = 0;
	}
	if (r->commit > n->seen_commit && r->role == RAFT_LEADER) {
		uint64_t t;
		if (raft_term_at(r, r->commit, &t) == 0 && t != r->term)
			s->st.old_term_commits++; /* only planted bug 1 does this */
	}
	if (r->commit > n->seen_commit) {
		for (uint64_t i = n->seen_commit + 1; i <= r->commit; i++) {
			uint64_t t;
			if (i <= r->snap_index || raft_term_at(r, i, &t))
				continue;
			struct cent *c = cm_at(s, i);
			if (!c->term) {
				c->term = t;
				c->commit_term = r->term;
				if (i > s->cmax)
					s->cmax = i;
				s->st.commits++;
			} else if (c->term != t) {
				fail(s, "state machine safety",
				     "node %" PRIu64 " commits (%" PRIu64 ", term %" PRIu64
				     ") but term %" PRIu64 " was committed there",
				     n->id, i, t, c->term);
				return;
			}
		}
		n->seen_commit = r->commit;
	}
}

static void check_all(struct sim *s)
{
	s->quiet++; /* the checker's reads never fail */
	for (int k = 0; k < s->n_slots && !s->failed; k++)
		if (s->nodes[k].up)
			check_node(s, &s->nodes[k]);
	s->quiet--;
}

/* ---- drivers: faults, clients, membership -------------------------------- */

static int find_leader(struct sim *s)
{
	int best = -1;
	for (int k = 0; k < s->n_slots; k++) {
		struct node *n = &s->nodes[k];
		if (n->up && n->r.role == RAFT_LEADER &&
		    (best < 0 || n->r.term > s->nodes[best].r.term))
			best = k;
	}
	return best;
}

static int random_up(struct sim *s)
{
	int c[MAXN], m = 0;
	for (int k = 0; k < s->n_slots; k++)
		if (s->nodes[k].up)
			c[m++] = k;
	return m ? c[rnd(s, (uint64_t)m)] : -1;
}

static int add_node(struct sim *s, int want_voter)
{
	if (s->n_slots == MAXN)
		return -1;
	int k = s->n_slots++;
	struct node *n = &s->nodes[k];
	memset(n, 0, sizeof *n);
	n->id = (uint64_t)k + 1;
	n->s = s;
	n->want_voter = want_voter;
	n->st.first = 1;
	return k;
}

static void propose(struct sim *s, int k, int live)
{
	struct node *n = &s->nodes[k];
	uint32_t len = 8 + (uint32_t)rnd(s, s->cfg.max_payload - 8 + 1);
	uint8_t buf[1024];
	uint64_t wid = s->n_props + 1;
	put64(buf, wid);
	for (uint32_t i = 8; i < len; i++)
		buf[i] = (uint8_t)(wid * 7 + i);
	uint64_t idx = 0;
	int rc = raft_propose(&n->r, buf, len, &idx);
	if (rc)
		return;
	grow((void **)&s->props, &s->props_cap, (size_t)wid, sizeof *s->props);
	s->props[wid] = (struct prop){n->id, idx};
	s->n_props = wid;
	if (live) {
		s->live_wid = wid;
		s->live_node = n->id;
	}
	trace(s, "n%" PRIu64 " propose w%" PRIu64 " at %" PRIu64 " (%u bytes)", n->id, wid, idx,
	      len);
	schedule_persist(s, k);
}

static void client_op(struct sim *s)
{
	int k = chance(s, 800) ? find_leader(s) : random_up(s);
	if (k < 0)
		return;
	struct node *n = &s->nodes[k];
	if (chance(s, s->cfg.read_pct * 10)) {
		uint64_t rid = s->n_rds + 1;
		if (raft_read_index(&n->r, rid) == 0) {
			grow((void **)&s->rds, &s->rds_cap, (size_t)rid, sizeof *s->rds);
			s->rds[rid].need = s->acked_max;
			s->n_rds = rid;
			trace(s, "n%" PRIu64 " read r%" PRIu64 " begins (needs %" PRIu64 ")", n->id,
			      rid, s->acked_max);
			schedule_persist(s, k);
		}
		return;
	}
	propose(s, k, 0);
}

/* Move the configuration one step towards the nodes' want_voter goals. */
static void member_op(struct sim *s)
{
	int k = find_leader(s);
	if (k < 0)
		return;
	struct raft *r = &s->nodes[k].r;
	const struct raft_conf *c = raft_config(r);
	int rc = 1;
	/* Grow first, then shrink: a replacement keeps the cluster's size. */
	for (int pass = 0, j = 0; pass < 2 && rc; j = (j + 1) % s->n_slots, pass += j == 0) {
		struct node *n = &s->nodes[j];
		int role = raft_conf_role(c, n->id);
		if (pass == 0 && n->want_voter && !role)
			rc = raft_add_learner(r, n->id);
		else if (pass == 0 && n->want_voter && role == RAFT_LEARNER)
			rc = raft_promote(r, n->id);
		else if (pass == 1 && !n->want_voter && role && n->exists)
			rc = raft_remove(r, n->id);
		else
			continue;
		if (rc == 0) {
			s->st.conf_changes++;
			trace(s, "n%" PRIu64 " conf change for n%" PRIu64 " (now %u servers)",
			      s->nodes[k].id, n->id, raft_config(r)->n);
			schedule_persist(s, k);
			if (!n->exists)
				node_start(s, j); /* a brand-new server with an empty disk */
		}
		break;
	}
}

static int voters_wanted(struct sim *s)
{
	int v = 0;
	for (int k = 0; k < s->n_slots; k++)
		v += s->nodes[k].want_voter;
	return v;
}

static void chaos(struct sim *s)
{
	int n = s->n_slots;
	int lead = find_leader(s);
	uint64_t what = rnd(s, 8);
	switch (what) {
	case 0:
	case 1:
		if (!s->cfg.partitions)
			break;
		memset(s->blocked, 0, sizeof s->blocked);
		if (what == 0 || lead < 0) { /* random symmetric split */
			uint32_t side = (uint32_t)rnd(s, 1u << n);
			for (int a = 0; a < n; a++)
				for (int b = 0; b < n; b++)
					if (((side >> a) & 1) != ((side >> b) & 1))
						s->blocked[a][b] = 1;
			trace(s, "PARTITION split %#x", side);
		} else if (chance(s, 500)) { /* isolate the leader */
			for (int b = 0; b < n; b++)
				s->blocked[lead][b] = s->blocked[b][lead] = b != lead;
			trace(s, "PARTITION isolate leader n%" PRIu64, s->nodes[lead].id);
		} else { /* one-way: some links drop in one direction only */
			for (int a = 0; a < n; a++)
				for (int b = 0; b < n; b++)
					s->blocked[a][b] = a != b && chance(s, 300);
			trace(s, "PARTITION one-way links");
		}
		s->st.partitions++;
		break;
	case 2:
		memset(s->blocked, 0, sizeof s->blocked);
		trace(s, "HEAL network");
		break;
	case 3:
	case 4: {
		if (!s->cfg.crashes)
			break;
		int k = what == 3 && lead >= 0 ? lead : random_up(s);
		if (k < 0)
			break;
		node_crash(s, k);
		ev_push(s, s->now + 20 + rnd(s, s->cfg.restart_max), EV_RESTART, k, NULL);
		break;
	}
	case 5:
		if (!s->cfg.transfers || lead < 0)
			break;
		{
			const struct raft_conf *c = raft_config(&s->nodes[lead].r);
			if (c->n < 2)
				break;
			const struct raft_server *sv = &c->s[rnd(s, c->n)];
			if (raft_transfer(&s->nodes[lead].r, sv->id) == 0) {
				trace(s, "TRANSFER n%" PRIu64 " -> n%" PRIu64, s->nodes[lead].id,
				      sv->id);
				s->st.transfers++;
				schedule_persist(s, lead);
			}
		}
		break;
	case 6:
	case 7: {
		if (!s->cfg.membership)
			break;
		int v = voters_wanted(s);
		int grow_it = v < 3 || (v < 7 && chance(s, 500));
		if (grow_it || chance(s, 500)) { /* add a fresh server */
			if (add_node(s, 1) < 0)
				break;
			trace(s, "MEMBER want new node n%d", s->n_slots);
		}
		if (!grow_it && v > 3) { /* and/or retire one, maybe the leader */
			int cands[MAXN], m = 0;
			for (int k = 0; k < s->n_slots; k++)
				if (s->nodes[k].want_voter && s->nodes[k].exists)
					cands[m++] = k;
			if (m) {
				int k = lead >= 0 && chance(s, 300) ? lead
								    : cands[rnd(s, (uint64_t)m)];
				s->nodes[k].want_voter = 0;
				trace(s, "MEMBER retire n%" PRIu64, s->nodes[k].id);
			}
		}
		break;
	}
	}
}

/* ---- one seed ----------------------------------------------------------- */

static void draw_cfg(struct sim *s, int harsh)
{
	struct rand *d = &s->drbg;
	struct cfg *c = &s->cfg;
	static const int sizes[] = {3, 5, 7};
	memset(c, 0, sizeof *c);
	c->n0 = sizes[rand_below(d, 3)];
	c->single_boot = rand_below(d, 4) == 0;
	c->loss = rand_below(d, 2) ? (uint32_t)rand_below(d, 200) : 0;
	c->dup = rand_below(d, 2) ? (uint32_t)rand_below(d, 100) : 0;
	c->dmin = 1 + (uint32_t)rand_below(d, 5);
	c->dmax = c->dmin + (uint32_t)rand_below(d, 40);
	c->disk_max = (uint32_t)rand_below(d, 8);
	c->partitions = rand_below(d, 3) != 0;
	c->crashes = rand_below(d, 3) != 0;
	c->membership = rand_below(d, 2) != 0;
	c->transfers = rand_below(d, 2) != 0;
	c->chaos_min = 30 + (uint32_t)rand_below(d, 200);
	c->chaos_max = c->chaos_min + (uint32_t)rand_below(d, 600);
	c->client_ms = 2 + (uint32_t)rand_below(d, 30);
	c->read_pct = (uint32_t)rand_below(d, 50);
	c->max_payload = 8 + (uint32_t)rand_below(d, 200);
	c->snap_pad = (uint32_t)rand_below(d, 3000);
	c->election_ticks = 10;
	c->heartbeat_ticks = 1 + (uint32_t)rand_below(d, 3);
	struct raft_caps *k = &c->caps;
	k->max_voters = RAFT_MAX_VOTERS;
	k->max_servers = RAFT_MAX_SERVERS;
	k->max_entry_bytes = 256;
	k->window_entries = 4 + (uint32_t)rand_below(d, 60);
	k->window_bytes = 256 + (uint32_t)rand_below(d, 4096);
	k->max_msg_entries = 1 + (uint32_t)rand_below(d, 16);
	k->max_msg_bytes = 512 + (uint32_t)rand_below(d, 2048);
	k->max_inflight_msgs = 1 + (uint32_t)rand_below(d, 8);
	k->max_inflight_bytes = k->max_msg_bytes + (uint32_t)rand_below(d, 8192);
	k->snapshot_threshold = 8 + (uint32_t)rand_below(d, 120);
	k->snapshot_trailing = (uint32_t)rand_below(d, 16);
	k->max_log_entries = k->snapshot_threshold * 4 + 64;
	k->max_outbox_msgs = 256;
	k->max_outbox_bytes = 64 * 1024;
	k->max_apply_batch = 1 + (uint32_t)rand_below(d, 64);
	k->max_pending_reads = 64;
	c->restart_max = 800;
	c->leader_crash = c->crashes && rand_below(d, 3) == 0 ? (uint32_t)rand_below(d, 300) : 0;
	c->power_loss = 500;
	c->io_fail = rand_below(d, 3) == 0 ? (uint32_t)rand_below(d, 30) : 0;
	c->crash_window = 2 * c->dmax + c->disk_max;
	if (harsh) {
		c->n0 = 3;
		c->leader_crash = 600 + (uint32_t)rand_below(d, 400);
		c->partitions = c->crashes = 1;
		c->chaos_min = 10 + (uint32_t)rand_below(d, 40);
		c->chaos_max = c->chaos_min + (uint32_t)rand_below(d, 150);
		c->restart_max = 50 + (uint32_t)rand_below(d, 200);
		c->client_ms = 2 + (uint32_t)rand_below(d, 8);
		k->max_msg_entries = 1;
	}
}

static void sim_free(struct sim *s)
{
	for (int k = 0; k < s->n_slots; k++) {
		struct node *n = &s->nodes[k];
		if (n->up)
			raft_fini(&n->r);
		st_free(&n->st);
		free(n->waits);
	}
	while (s->hn) {
		struct ev e = ev_pop(s);
		if (e.p) {
			free(e.p->b);
			free(e.p);
		}
	}
	free(s->h);
	free(s->leader_of);
	map_free(&s->ph);
	free(s->cm);
	free(s->ap);
	free(s->props);
	free(s->rds);
}

static void deliver(struct sim *s, struct pkt *p)
{
	int k = node_idx(s, p->to), f = node_idx(s, p->from);
	if (k < 0 || !s->nodes[k].up || (f >= 0 && s->blocked[f][k] && !s->healing))
		return;
	if (f >= 0 && p->from_gen < s->nodes[f].lost_before)
		return; /* still in the sender's buffers when it lost power */
	struct raft_msg m;
	int rc = raft_msg_decode(p->b, p->n, &m, dec_ents, MAX_ENTS);
	if (rc) {
		fail(s, "codec", "decode: %s", err_name(rc));
		return;
	}
	/* Round trip: re-encoding gives the same bytes. */
	uint8_t *again = xmalloc(p->n);
	if (raft_msg_encode(&m, again, p->n) != (int)p->n || memcmp(again, p->b, p->n) != 0)
		fail(s, "codec", "%s does not survive a round trip", raft_msg_type_name(m.type));
	free(again);
	if (s->verbose && m.type == RAFT_MSG_APPEND)
		trace(s,
		      "n%" PRIu64 " <- n%" PRIu64 " append term %" PRIu64 " prev %" PRIu64
		      "/%" PRIu64 " +%u commit %" PRIu64 " seq %" PRIu64,
		      m.to, m.from, m.term, m.append.prev_index, m.append.prev_term,
		      m.append.n_entries, m.append.commit, m.append.seq);
	else if (s->verbose && m.type == RAFT_MSG_APPEND_RESP)
		trace(s,
		      "n%" PRIu64 " <- n%" PRIu64 " append_resp term %" PRIu64 " %s %" PRIu64
		      " hint %" PRIu64 "/%" PRIu64,
		      m.to, m.from, m.term, m.append_resp.ok ? "ok" : "refused",
		      m.append_resp.index, m.append_resp.hint_index, m.append_resp.hint_term);
	else if (s->verbose)
		trace(s, "n%" PRIu64 " <- n%" PRIu64 " %s term %" PRIu64, m.to, m.from,
		      raft_msg_type_name(m.type), m.term);
	rc = raft_step(&s->nodes[k].r, &m);
	if (restart_if_dead(s, k))
		return;
	if (rc)
		fail(s, "codec", "raft_step refused a decoded %s: %s", raft_msg_type_name(m.type),
		     err_name(rc));
	schedule_persist(s, k);
}

static void heal(struct sim *s)
{
	s->healing = 1;
	s->heal_at = s->now;
	s->cfg.dmax = s->cfg.dmin; /* no more reordering: constant delay is FIFO */
	memset(s->blocked, 0, sizeof s->blocked);
	for (int k = 0; k < s->n_slots; k++)
		if (s->nodes[k].exists && !s->nodes[k].up)
			node_start(s, k);
	trace(s, "HEAL everything; liveness phase");
}

static void dump_nodes(struct sim *s)
{
	for (int k = 0; k < s->n_slots && s->verbose; k++) {
		struct node *n = &s->nodes[k];
		if (!n->up) {
			trace(s, "  n%" PRIu64 " down%s", n->id,
			      n->exists ? "" : " (never started)");
			continue;
		}
		const struct raft *r = &n->r;
		char conf[160] = "";
		size_t at = 0;
		for (uint32_t i = 0; i < r->conf.n && at < sizeof conf - 16; i++)
			at += (size_t)snprintf(conf + at, sizeof conf - at, " %" PRIu64 "%s",
					       r->conf.s[i].id,
					       r->conf.s[i].role == RAFT_VOTER ? "" : "L");
		trace(s,
		      "  n%" PRIu64 " %s term %" PRIu64 " vote %" PRIu64 " leader %" PRIu64
		      " last %" PRIu64 "/%" PRIu64 " commit %" PRIu64 " applied %" PRIu64
		      " elapsed %u/%u conf@%" PRIu64 "[%s ]",
		      n->id, raft_role_name(r->role), r->term, r->vote, r->leader, r->last_index,
		      r->last_term, r->commit, r->applied, r->election_elapsed, r->rand_timeout,
		      r->conf_index, conf);
		for (int i = 0; r->role == RAFT_LEADER && i < RAFT_MAX_SERVERS; i++) {
			const struct raft_progress *pr = &r->prs[i];
			if (pr->id)
				trace(s,
				      "    -> n%" PRIu64 " state %d match %" PRIu64 " next %" PRIu64
				      " infl %u/%" PRIu64 " probe_sent %d stall %u snap %" PRIu64
				      "@%" PRIu64,
				      pr->id, pr->state, pr->match, pr->next, pr->infl_n,
				      pr->infl_bytes, pr->probe_sent, pr->stall_ticks,
				      pr->snap_index, pr->snap_offset);
		}
		trace(s,
		      "    window %" PRIu64 "+%u stable %" PRIu64 " log_first %" PRIu64
		      " snap %" PRIu64 " out %u arena %zu err %d dropped %" PRIu64,
		      r->win_first, r->win_n, r->stable, r->log_first, r->snap_index, r->n_out,
		      r->arena_used, r->err, r->stats.outbox_dropped);
	}
}

/* --liveness: the live write must also reach every member of the current
 * leader's configuration (each applies it, or a snapshot past it). */
static int converged(struct sim *s)
{
	int l = find_leader(s);
	if (l < 0)
		return 0;
	const struct raft_conf *c = raft_config(&s->nodes[l].r);
	for (uint32_t i = 0; i < c->n; i++) {
		int k = node_idx(s, c->s[i].id);
		if (k < 0 || !s->nodes[k].up || s->nodes[k].sm_index < s->live_index)
			return 0;
	}
	return 1;
}

/* Liveness: once healed, propose on the leader until one write commits. */
static void live_step(struct sim *s)
{
	if (s->live_ok)
		return;
	int k = find_leader(s);
	if (k < 0)
		return;
	if (s->live_wid && s->live_node == s->nodes[k].id && s->props[s->live_wid].node)
		return; /* still waiting for it */
	propose(s, k, 1);
}

static int run_seed(struct sim *s, uint64_t seed, int bug, uint64_t steps, int verbose, int harsh,
		    int live_all)
{
	memset(s, 0, sizeof *s);
	s->seed = seed;
	s->live_all = live_all;
	s->bug = bug;
	s->verbose = verbose;
	s->max_steps = steps;
	char sd[32];
	int sl = snprintf(sd, sizeof sd, "sim_raft/%" PRIu64, seed);
	rand_init_seed(&s->drbg, sd, (size_t)sl);
	draw_cfg(s, harsh);
	rand_bytes(&s->drbg, s->rng.s, sizeof s->rng.s);
	const struct cfg *c = &s->cfg;
	trace(s,
	      "seed %" PRIu64 ": %d nodes%s loss %u‰ dup %u‰ delay %u-%u ms disk <=%u ms "
	      "partitions %d crashes %d membership %d transfers %d window %u/%u snap %u "
	      "io-fail %u‰ bug %d",
	      seed, c->n0, c->single_boot ? " (single bootstrap)" : "", c->loss, c->dup, c->dmin,
	      c->dmax, c->disk_max, c->partitions, c->crashes, c->membership, c->transfers,
	      c->caps.window_entries, c->caps.window_bytes, c->caps.snapshot_threshold, c->io_fail,
	      bug);

	struct raft_conf conf = {0};
	for (int k = 0; k < c->n0; k++) {
		add_node(s, 1);
		conf.s[conf.n++] = (struct raft_server){.id = (uint64_t)k + 1, .role = RAFT_VOTER};
	}
	if (c->single_boot)
		conf.n = 1;
	for (int k = 0; k < c->n0; k++) {
		if (c->single_boot && k > 0)
			continue; /* joins once the leader adds it */
		if (node_start(s, k))
			break;
		int rc = raft_bootstrap(&s->nodes[k].r, &conf);
		if (rc)
			fail(s, "setup", "raft_bootstrap: %s", err_name(rc));
		schedule_persist(s, k);
	}
	ev_push(s, s->now + c->chaos_min, EV_CHAOS, -1, NULL);
	ev_push(s, s->now + 50, EV_CLIENT, -1, NULL);
	ev_push(s, s->now + 20, EV_MEMBER, -1, NULL);

	uint64_t live_events = 0;
	while (!s->failed && s->hn) {
		if (!s->healing && s->step >= s->max_steps)
			heal(s);
		if (s->healing) {
			if (s->live_ok && (!s->live_all || converged(s)))
				break;
			if (s->now > s->heal_at + LIVE_MS || ++live_events > LIVE_MAX_EVENTS) {
				int k = find_leader(s);
				dump_nodes(s);
				fail(s, "liveness",
				     k < 0 ? "no leader %d ms after healing"
				     : !s->live_ok
					     ? "leader elected but no proposal committed %d ms "
					       "after healing"
					     : "a member has not applied the new write %d ms "
					       "after healing",
				     LIVE_MS);
				break;
			}
		}
		struct ev e = ev_pop(s);
		s->now = e.t;
		s->step++;
		struct node *n = e.node >= 0 ? &s->nodes[e.node] : NULL;
		int stale = n && (e.gen != n->gen || !n->up) && e.kind != EV_RESTART;
		switch (e.kind) {
		case EV_TICK:
			if (stale)
				break;
			raft_tick(&n->r);
			if (restart_if_dead(s, e.node))
				break;
			schedule_persist(s, e.node);
			ev_push(s, s->now + TICK_MS, EV_TICK, e.node, NULL);
			break;
		case EV_PERSIST:
			if (!stale)
				do_persist(s, e.node);
			break;
		case EV_DELIVER:
			deliver(s, e.p);
			free(e.p->b);
			free(e.p);
			break;
		case EV_RESTART:
			/* Restarts from before the healing are stale (heal()
			 * restarted the node); one after it follows a storage
			 * fail-stop and must happen, or the node stays down. */
			if (!n->up && e.gen == n->gen) {
				trace(s, "n%" PRIu64 " RESTART", n->id);
				node_start(s, e.node);
			}
			break;
		case EV_CRASH:
			if (stale || s->healing)
				break;
			node_crash(s, e.node);
			ev_push(s, s->now + 20 + rnd(s, c->restart_max), EV_RESTART, e.node, NULL);
			break;
		case EV_CHAOS:
			if (s->healing)
				break;
			chaos(s);
			ev_push(s, s->now + c->chaos_min + rnd(s, c->chaos_max - c->chaos_min + 1),
				EV_CHAOS, -1, NULL);
			break;
		case EV_CLIENT:
			if (s->healing)
				live_step(s);
			else
				client_op(s);
			ev_push(s, s->now + c->client_ms, EV_CLIENT, -1, NULL);
			break;
		case EV_MEMBER:
			member_op(s);
			ev_push(s, s->now + 20, EV_MEMBER, -1, NULL);
			break;
		}
		check_all(s);
	}
	for (int k = 0; k < s->n_slots; k++)
		if (s->nodes[k].up)
			s->st.truncations += s->nodes[k].r.stats.truncations;
	return s->failed;
}

/* ---- main --------------------------------------------------------------- */

static const char *const groups[] = {
	"election safety",
	"leader append-only",
	"log matching",
	"leader completeness",
	"state machine safety",
	"read linearizability",
	"durability",
	"codec",
	"liveness",
	"setup",
};
#define N_GROUPS (sizeof groups / sizeof groups[0])

struct group_result {
	int failed;
	uint64_t seed, step;
	char msg[300];
};

static int arg_u64(const char *a, const char *name, uint64_t *v)
{
	size_t n = strlen(name);
	if (strncmp(a, name, n) != 0 || a[n] != '=')
		return 0;
	*v = strtoull(a + n + 1, NULL, 10);
	return 1;
}

static struct sim S; /* large: keep it off the stack */

#define N_BUGS 6
static const char *const bug_names[N_BUGS + 1] = {
	"none",
	"commit counting older-term entries",
	"double vote in one term",
	"vote not persisted before the reply",
	"ReadIndex without a quorum round",
	"vote without the up-to-date check",
	"driver applies entries before commit",
};

/* Search harsh seeds 1000001.. for one that makes the checker fire with
 * planted bug b. Returns the number of seeds tried (0: not caught). */
static uint64_t bug_search(int b, uint64_t bug_seeds, uint64_t steps, uint64_t *seed)
{
	for (uint64_t sd = 1; sd <= bug_seeds; sd++) {
		int caught = run_seed(&S, 1000000 + sd, b, steps, 0, 1, 0) &&
			     strcmp(S.group, "setup") != 0;
		if (caught) {
			*seed = 1000000 + sd;
			return sd; /* S keeps the failure until sim_free */
		}
		sim_free(&S);
	}
	return 0;
}

/* Wall-clock time, for the seeds/s figure only (never seen by the run). */
static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Environment defaults (arguments override them): SIM_SEEDS, SIM_STEPS,
 * SIM_LIVENESS=1; tools/mk/raft.mk sets them from make's SEEDS, STEPS and
 * LIVENESS. */
static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	return v && *v ? strtoull(v, NULL, 10) : def;
}

int main(int argc, char **argv)
{
	uint64_t seeds = env_u64("SIM_SEEDS", 1000), from = 1, one = 0, bug_seeds = 1000;
	uint64_t bug = env_u64("RAFT_PLANT_BUG", 0), bug_steps = 5000;
	int live_all = env_u64("SIM_LIVENESS", 0) != 0;
	uint64_t steps = env_u64("SIM_STEPS", 0);
	int verbose = 0, single = 0, harsh = 0, mutants = 0, no_mutants = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (arg_u64(a, "--seeds", &seeds) || arg_u64(a, "--from", &from) ||
		    arg_u64(a, "--steps", &steps) || arg_u64(a, "--bug", &bug) ||
		    arg_u64(a, "--bug-seeds", &bug_seeds) || arg_u64(a, "--bug-steps", &bug_steps))
			continue;
		if (arg_u64(a, "--seed", &one)) {
			single = 1;
			continue;
		}
		if (!strcmp(a, "-v")) {
			verbose = 1;
			continue;
		}
		if (!strcmp(a, "--harsh")) {
			harsh = 1;
			continue;
		}
		if (!strcmp(a, "--liveness")) {
			live_all = 1;
			continue;
		}
		if (!strcmp(a, "--mutants")) {
			mutants = 1;
			continue;
		}
		if (!strcmp(a, "--no-mutants")) {
			no_mutants = 1;
			continue;
		}
		fprintf(stderr, "usage: sim_raft [--seeds=N] [--from=S] [--steps=K] [--seed=S -v] "
				"[--bug=N] [--harsh] [--liveness]\n"
				"                [--mutants | --no-mutants] [--bug-seeds=N] "
				"[--bug-steps=K]\n");
		return 2;
	}
	if (!steps)
		steps = live_all ? 1500 : 3000;
	if (single) {
		seeds = 1;
		from = one;
	}

	int bad = 0;
	if (mutants) {
		/* Each planted bug must be caught within bug_seeds harsh seeds. */
		int caught = 0;
		for (int b = 1; b <= N_BUGS; b++) {
			uint64_t sd = 0, k = bug_search(b, bug_seeds, bug_steps, &sd);
			if (k) {
				caught++;
				printf("ok - sim_raft mutant %d caught\n", b);
				printf("mutant %d (%s): caught at seed %" PRIu64 " after %" PRIu64
				       " seeds (limit %" PRIu64 "), step %" PRIu64 ": %s: %s\n",
				       b, bug_names[b], sd, k, bug_seeds, S.fail_step, S.group,
				       S.msg);
				sim_free(&S);
			} else {
				bad = 1;
				printf("not ok - sim_raft mutant %d (%s) not caught in %" PRIu64
				       " seeds\n",
				       b, bug_names[b], bug_seeds);
			}
		}
		printf("mutants: %d, caught: %d\n", N_BUGS, caught);
		return bad;
	}

	struct group_result res[N_GROUPS];
	memset(res, 0, sizeof res);
	struct stats tot = {0};
	double t0 = wall_s();
	for (uint64_t sd = from; sd < from + seeds; sd++) {
		int f = run_seed(&S, sd, (int)bug, steps, verbose, harsh, live_all);
		tot.seeds++;
		tot.steps += S.step;
		tot.leaders += S.st.leaders;
		tot.commits += S.st.commits;
		tot.snaps_installed += S.st.snaps_installed;
		tot.snaps_taken += S.st.snaps_taken;
		tot.conf_changes += S.st.conf_changes;
		tot.transfers += S.st.transfers;
		tot.reads += S.st.reads;
		tot.writes_acked += S.st.writes_acked;
		tot.crashes += S.st.crashes;
		tot.truncations += S.st.truncations;
		tot.partitions += S.st.partitions;
		tot.msgs += S.st.msgs;
		tot.old_term_commits += S.st.old_term_commits;
		tot.failed += (uint64_t)f;
		tot.fail_stops += S.st.fail_stops;
		if (f) {
			for (size_t g = 0; g < N_GROUPS; g++) {
				if (strcmp(groups[g], S.group) || res[g].failed)
					continue;
				res[g].failed = 1;
				res[g].seed = sd;
				res[g].step = S.fail_step;
				snprintf(res[g].msg, sizeof res[g].msg, "%s", S.msg);
			}
		}
		sim_free(&S);
	}
	for (size_t g = 0; g < N_GROUPS; g++) {
		if (res[g].failed) {
			bad = 1;
			printf("not ok - sim_raft %s seed=%" PRIu64 " step=%" PRIu64 ": %s\n",
			       groups[g], res[g].seed, res[g].step, res[g].msg);
		} else if (g + 1 < N_GROUPS) {
			printf("ok - sim_raft %s (%" PRIu64 " seeds, %" PRIu64 " steps)\n",
			       groups[g], tot.seeds, tot.steps);
		}
	}
	printf("# %" PRIu64 " seeds from %" PRIu64 ", %" PRIu64 " steps: %" PRIu64
	       " leaders, %" PRIu64 " commits, %" PRIu64 " writes acked, %" PRIu64
	       " reads, %" PRIu64 " snapshots taken / %" PRIu64 " installed, %" PRIu64
	       " conf changes, %" PRIu64 " transfers, %" PRIu64 " crashes, %" PRIu64
	       " partitions, %" PRIu64 " truncations, %" PRIu64 " messages, %" PRIu64
	       " old-term commits, %" PRIu64 " storage fail-stops, %" PRIu64 " seeds failed%s%s\n",
	       tot.seeds, from, tot.steps, tot.leaders, tot.commits, tot.writes_acked, tot.reads,
	       tot.snaps_taken, tot.snaps_installed, tot.conf_changes, tot.transfers, tot.crashes,
	       tot.partitions, tot.truncations, tot.msgs, tot.old_term_commits, tot.fail_stops,
	       tot.failed, bug ? " (planted bug run)" : "",
	       live_all ? " (liveness: every member applies)" : "");

	double el = wall_s() - t0;
	printf("# seeds/s: %.1f (%" PRIu64 " seeds of %" PRIu64 " steps in %.2f s)\n",
	       el > 0 ? (double)tot.seeds / el : 0.0, tot.seeds, steps, el);

	/* The checker must catch each planted bug (default run only). */
	if (!single && !bug && !no_mutants) {
		for (int b = 1; b <= N_BUGS; b++) {
			uint64_t sd = 0;
			if (bug_search(b, bug_seeds, bug_steps, &sd)) {
				printf("ok - sim_raft planted bug %d caught (seed %" PRIu64
				       ", step %" PRIu64 ": %s: %s)\n",
				       b, sd, S.fail_step, S.group, S.msg);
				sim_free(&S);
			} else {
				bad = 1;
				printf("not ok - sim_raft planted bug %d not caught in %" PRIu64
				       " seeds\n",
				       b, bug_seeds);
			}
		}
	}
	/* Last line: seeds of the main run and how many broke a check. */
	printf("seeds: %" PRIu64 ", violations: %" PRIu64 "\n", tot.seeds, tot.failed);
	return bad;
}
