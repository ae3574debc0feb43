/* bench_raft.c — Raft commit rate and latency on real, synced LMDB stores.
 *
 * Three raft cores in one process, each with its own store (src/store) in a
 * mkdtemp directory under $TMPDIR (default /tmp), removed at the end.
 * Messages go through the wire codec into an in-memory FIFO; there is no
 * network, so the figures are the cost of the core plus the synced writes:
 * every ready is one store_write (one LMDB transaction, fdatasync'ed), and
 * the three nodes share one thread, so their syncs are serialised.
 *
 * The leader proposes N entries of 128 bytes, keeping at most DEPTH
 * proposals in flight (1 = one client waiting for each write). An entry
 * counts as committed when the leader applies it (the client's answer);
 * its latency is from raft_propose to that point.
 *
 * Usage: bench_raft [N [DEPTH [MAX_SECONDS]]]   (defaults 500 1 10)
 * Time comes from CLOCK_MONOTONIC here, in the tool; the core only sees
 * logical ticks, given when no node has anything to do.
 */
#include "base/base_err.h"
#include "raft/raft.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NODES 3
#define PAYLOAD 128
#define MAX_DEC 1024

struct bnode {
	uint64_t id;
	struct raft r;
	struct store st;
	char dir[300];
	struct store_entry *sents; /* window_entries: one ready's entries */
	struct store_entry *rd_tmp;
	uint32_t sents_cap;
};

struct pkt {
	uint64_t to;
	uint8_t *b;
	size_t n;
};

struct bench {
	struct bnode n[NODES];
	struct pkt *q; /* FIFO of encoded messages */
	size_t q_head, q_n, q_cap;
	uint64_t rng;
	double *t_prop; /* by log index: proposal time, 0 = not ours */
	double *lat;    /* commit latencies, ms */
	uint64_t n_lat, max_index;
	uint64_t inflight, syncs;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char g_root[256]; /* the mkdtemp directory, removed on every exit */

static int rm_store_dir(const char *dir)
{
	static const char *const files[] = {"data.mdb", "lock.mdb", "lock"};
	char p[400];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, files[i]);
		unlink(p);
	}
	return rmdir(dir);
}

static void rm_root(void)
{
	char d[300];
	for (int k = 0; k < NODES && g_root[0]; k++) {
		snprintf(d, sizeof d, "%s/n%d", g_root, k + 1);
		rm_store_dir(d);
	}
	if (g_root[0] && rmdir(g_root) < 0)
		fprintf(stderr, "bench_raft: cannot remove %s\n", g_root);
	g_root[0] = 0;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_raft: %s: %s\n", what, err_name(rc));
	rm_root();
	exit(1);
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);
	if (!p)
		die("calloc", -ERR_NOMEM);
	return p;
}

/* ---- raft_io over the store (as src/node/node_control.c does) ---------- */

static int io_log_term(void *ctx, uint64_t index, uint64_t *term)
{
	struct bnode *n = ctx;
	int rc = store_term(&n->st, index, term);
	return rc == -ERR_NOTFOUND ? rc : rc < 0 ? -ERR_IO : 0;
}

static int io_log_read(void *ctx, uint64_t first, uint32_t max_n, struct raft_entry *out,
		       uint8_t *buf, size_t cap)
{
	struct bnode *n = ctx;
	if (max_n > n->sents_cap)
		max_n = n->sents_cap;
	int k = store_log_read(&n->st, first, max_n, n->rd_tmp, buf, cap);
	if (k < 0)
		return k == -ERR_BUF_FULL || k == -ERR_NOTFOUND ? k : -ERR_IO;
	for (int i = 0; i < k; i++)
		out[i] =
			(struct raft_entry){n->rd_tmp[i].term, n->rd_tmp[i].index,
					    n->rd_tmp[i].data, n->rd_tmp[i].len, n->rd_tmp[i].type};
	return k;
}

static int io_snap_read(void *ctx, uint64_t index, uint64_t offset, uint8_t *buf, size_t cap,
			uint64_t *total)
{
	return -ERR_NOTFOUND; /* the bench never snapshots */
}

static uint64_t io_rand(void *ctx)
{
	struct bnode *n = ctx;
	uint64_t x = n->id * 0x9e3779b97f4a7c15ull + (uint64_t)(uintptr_t)n;
	static uint64_t ctr;
	x ^= ++ctr * 0xbf58476d1ce4e5b9ull;
	x ^= x >> 31;
	return x * 0x94d049bb133111ebull;
}

/* ---- the cluster ------------------------------------------------------- */

static void q_push(struct bench *b, uint64_t to, uint8_t *buf, size_t n)
{
	if (b->q_n == b->q_cap) {
		size_t cap = b->q_cap ? b->q_cap * 2 : 256;
		struct pkt *q = xcalloc(cap, sizeof *q);
		for (size_t i = 0; i < b->q_n; i++)
			q[i] = b->q[(b->q_head + i) % b->q_cap];
		free(b->q);
		b->q = q;
		b->q_cap = cap;
		b->q_head = 0;
	}
	b->q[(b->q_head + b->q_n) % b->q_cap] = (struct pkt){to, buf, n};
	b->q_n++;
}

static void persist(struct bench *b, struct bnode *n, const struct raft_ready *rd)
{
	if (rd->snapshot)
		die("unexpected snapshot", -ERR_INVAL);
	if (!rd->n_entries && !rd->truncate && !rd->hs)
		return;
	if (rd->n_entries > n->sents_cap)
		die("entries per ready", -ERR_RANGE);
	for (uint32_t i = 0; i < rd->n_entries; i++) {
		const struct raft_entry *e = &rd->entries[i];
		n->sents[i] = (struct store_entry){e->term, e->index, e->data, e->len, e->type};
	}
	struct store_hard hs;
	if (rd->hs)
		hs = (struct store_hard){rd->hs->term, rd->hs->vote, rd->hs->commit};
	struct store_write w = {
		.truncate_from = (rd->truncate || rd->n_entries) ? rd->entries_first : 0,
		.ents = n->sents,
		.n = rd->n_entries,
		.hard = rd->hs ? &hs : NULL,
	};
	int rc = store_write(&n->st, &w);
	if (rc < 0) {
		fprintf(stderr, "bench_raft: %s\n", n->st.errmsg);
		die("store_write", rc);
	}
	b->syncs++;
}

/* Process every ready of node k in the documented order. 1 if any. */
static int drain(struct bench *b, int k)
{
	struct bnode *n = &b->n[k];
	int any = 0;
	for (;;) {
		struct raft_ready rd;
		int rc = raft_ready_get(&n->r, &rd);
		if (rc == 0)
			break;
		if (rc < 0)
			die("raft_ready_get", rc);
		any = 1;
		persist(b, n, &rd);
		for (uint32_t i = 0; i < rd.n_msgs; i++) {
			size_t sz = raft_msg_size(&rd.msgs[i]);
			uint8_t *buf = xcalloc(1, sz);
			if (raft_msg_encode(&rd.msgs[i], buf, sz) != (int)sz)
				die("raft_msg_encode", -ERR_BUF_FULL);
			q_push(b, rd.msgs[i].to, buf, sz);
		}
		double t = now_ms();
		for (uint32_t i = 0; i < rd.n_committed; i++) {
			uint64_t idx = rd.committed[i].index;
			if (idx <= b->max_index && b->t_prop[idx] > 0) {
				b->lat[b->n_lat++] = t - b->t_prop[idx];
				b->t_prop[idx] = 0;
				b->inflight--;
			}
		}
		if ((rc = raft_ready_advance(&n->r)) < 0)
			die("raft_ready_advance", rc);
	}
	return any;
}

static int deliver_all(struct bench *b)
{
	static struct raft_entry ents[MAX_DEC];
	int any = 0;
	size_t n = b->q_n; /* what is queued now; replies go to the next round */
	for (size_t i = 0; i < n; i++) {
		struct pkt p = b->q[b->q_head];
		b->q_head = (b->q_head + 1) % b->q_cap;
		b->q_n--;
		struct raft_msg m;
		int rc = raft_msg_decode(p.b, p.n, &m, ents, MAX_DEC);
		if (rc < 0)
			die("raft_msg_decode", rc);
		if (p.to >= 1 && p.to <= NODES) {
			rc = raft_step(&b->n[p.to - 1].r, &m);
			if (rc < 0 && rc != -ERR_INVAL)
				die("raft_step", rc);
		}
		free(p.b);
		any = 1;
	}
	return any;
}

static int leader(struct bench *b)
{
	for (int k = 0; k < NODES; k++)
		if (raft_role(&b->n[k].r) == RAFT_LEADER)
			return k;
	return -1;
}

static void setup(struct bench *b, const char *root, uint64_t n_props)
{
	struct raft_conf conf = {.n = NODES};
	for (int k = 0; k < NODES; k++)
		conf.s[k] = (struct raft_server){(uint64_t)k + 1, RAFT_VOTER};
	for (int k = 0; k < NODES; k++) {
		struct bnode *n = &b->n[k];
		n->id = (uint64_t)k + 1;
		snprintf(n->dir, sizeof n->dir, "%s/n%d", root, k + 1);
		int rc = store_open(&n->st, n->dir, NULL);
		if (rc < 0) {
			fprintf(stderr, "bench_raft: %s\n", n->st.errmsg);
			die("store_open", rc);
		}
		struct raft_options o;
		raft_options_default(&o, n->id);
		o.caps.max_log_entries = (uint32_t)n_props + 2048;
		o.caps.snapshot_threshold = (uint32_t)n_props + 1024;
		o.caps.max_entry_bytes = 4096;
		n->sents_cap = o.caps.window_entries;
		n->sents = xcalloc(n->sents_cap, sizeof *n->sents);
		n->rd_tmp = xcalloc(n->sents_cap, sizeof *n->rd_tmp);
		struct raft_io io = {n, io_log_term, io_log_read, io_snap_read, io_rand};
		if ((rc = raft_init(&n->r, &o, &io)) < 0)
			die("raft_init", rc);
		struct raft_boot boot = {.first_index = 1};
		if ((rc = raft_start(&n->r, &boot)) < 0)
			die("raft_start", rc);
		if ((rc = raft_bootstrap(&n->r, &conf)) < 0)
			die("raft_bootstrap", rc);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	uint64_t n_props = argc > 1 ? strtoull(argv[1], NULL, 10) : 500;
	uint64_t depth = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
	double max_s = argc > 3 ? strtod(argv[3], NULL) : 10;
	if (!n_props || !depth || n_props > 1000000) {
		fprintf(stderr, "usage: bench_raft [N [DEPTH [MAX_SECONDS]]]\n");
		return 2;
	}
	const char *tmp = getenv("TMPDIR");
	char root[256];
	snprintf(root, sizeof root, "%s/bench_raft.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		perror("bench_raft: mkdtemp");
		return 1;
	}
	snprintf(g_root, sizeof g_root, "%s", root);
	static struct bench B;
	struct bench *b = &B;
	b->max_index = n_props + 64;
	b->t_prop = xcalloc(b->max_index + 1, sizeof *b->t_prop);
	b->lat = xcalloc(n_props, sizeof *b->lat);
	setup(b, root, n_props);

	uint64_t ticks = 0, proposed = 0;
	double t0 = 0, t_start = now_ms();
	int l = -1;
	while (b->n_lat < n_props) {
		int busy = 0;
		for (int k = 0; k < NODES; k++)
			busy |= drain(b, k);
		busy |= deliver_all(b);
		l = leader(b);
		/* Wait for the leader's first commit (its no-op) before measuring. */
		if (l >= 0 && raft_commit_index(&b->n[l].r) >= raft_last_index(&b->n[l].r) && !t0 &&
		    !proposed)
			t0 = now_ms();
		while (t0 && l >= 0 && b->inflight < depth && proposed < n_props) {
			uint8_t buf[PAYLOAD];
			memset(buf, (int)(proposed & 0xff), sizeof buf);
			memcpy(buf, &proposed, sizeof proposed);
			uint64_t idx = 0;
			int rc = raft_propose(&b->n[l].r, buf, sizeof buf, &idx);
			if (rc == -ERR_RAFT_LOG_FULL)
				break;
			if (rc < 0)
				die("raft_propose", rc);
			if (idx > b->max_index)
				die("proposal index", -ERR_RANGE);
			b->t_prop[idx] = now_ms();
			b->inflight++;
			proposed++;
			busy = 1;
		}
		if (!busy) {
			for (int k = 0; k < NODES; k++)
				raft_tick(&b->n[k].r);
			ticks++;
		}
		if ((now_ms() - t_start) / 1e3 > max_s)
			break;
		if (ticks > 100000)
			die("no progress", -ERR_TIMEOUT);
	}
	double el = now_ms() - (t0 ? t0 : t_start);

	if (b->n_lat) {
		qsort(b->lat, b->n_lat, sizeof *b->lat, cmp_double);
		double p50 = b->lat[b->n_lat / 2];
		double p99 = b->lat[(b->n_lat * 99) / 100 < b->n_lat ? (b->n_lat * 99) / 100
								     : b->n_lat - 1];
		printf("bench_raft: 3 nodes, LMDB synced stores in %s, %u-byte entries, "
		       "depth %" PRIu64 "\n",
		       root, PAYLOAD, depth);
		printf("bench_raft: %" PRIu64 " commits in %.2f s: %.0f commits/s, "
		       "latency p50 %.2f ms p99 %.2f ms max %.2f ms, %.1f syncs/commit%s\n",
		       b->n_lat, el / 1e3, (double)b->n_lat * 1e3 / el, p50, p99,
		       b->lat[b->n_lat - 1], (double)b->syncs / (double)b->n_lat,
		       b->n_lat < n_props ? " (stopped at the time limit)" : "");
	} else {
		printf("bench_raft: nothing committed in %.1f s (leader %d)\n", el / 1e3, l);
	}
	for (int k = 0; k < NODES; k++) {
		raft_fini(&b->n[k].r);
		store_close(&b->n[k].st);
		free(b->n[k].sents);
		free(b->n[k].rd_tmp);
	}
	rm_root();
	while (b->q_n) {
		free(b->q[b->q_head].b);
		b->q_head = (b->q_head + 1) % b->q_cap;
		b->q_n--;
	}
	free(b->q);
	free(b->t_prop);
	free(b->lat);
	return b->n_lat ? 0 : 1;
}
