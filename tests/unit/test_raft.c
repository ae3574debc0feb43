/* Unit tests for the Raft core (src/raft): single-step behaviours on a small
 * scripted cluster. Each node has an in-memory disk written from its ready
 * (snapshot chunk, entries, hard state, in that order); messages are queued
 * encoded (through raft_msg_encode/decode) and delivered in FIFO order, with
 * per-link cuts for partitions. The random simulator (tests/sim/sim_raft.c)
 * covers interleavings; these pin down individual rules, each cap on both
 * sides, and the message decoder on malformed input. */
#include "base/base_err.h"
#include "raft/raft.h"
#include "test.h"

#define TN 8
#define TQ 4096

/* ---- in-memory disk ------------------------------------------------------ */

struct tent {
	uint64_t term;
	uint8_t type;
	uint32_t len;
	uint8_t data[512];
};

struct tstore {
	struct raft_hard_state hs;
	uint64_t snap_index, snap_term;
	struct raft_conf snap_conf;
	uint8_t blob[4096], part[4096];
	size_t blob_len, part_len;
	uint64_t first; /* log[i - first], n entries */
	uint64_t n;
	struct tent log[1024];
};

struct tnode {
	uint64_t id;
	int up;
	struct raft r;
	struct tstore st;
	uint64_t rng;
	uint64_t sm_index; /* last applied */
	uint64_t applied_terms[1024];
	int apply_errors;
	struct raft_read_result reads[64];
	int n_reads;
	int auto_snapshot; /* take a snapshot when asked */
	int storage_reads;
	int fail_reads; /* the next N storage reads fail with -ERR_IO */
};

struct tmsg {
	uint64_t from, to;
	size_t len;
	uint8_t buf[8192];
};

static struct tnode T[TN + 1];
static int n_nodes;
static struct tmsg Q[TQ];
static int q_head, q_len;
static int cut[TN + 1][TN + 1];
static struct raft_options base_opt;

static int io_term(void *ctx, uint64_t index, uint64_t *term)
{
	struct tnode *n = ctx;
	if (n->fail_reads > 0 && n->fail_reads--)
		return -ERR_IO;
	if (!n->st.n || index < n->st.first || index >= n->st.first + n->st.n)
		return -ERR_NOTFOUND;
	*term = n->st.log[index - n->st.first].term;
	return 0;
}

static int io_read(void *ctx, uint64_t first, uint32_t max_n, struct raft_entry *out, uint8_t *buf,
		   size_t cap)
{
	struct tnode *n = ctx;
	n->storage_reads++;
	if (n->fail_reads > 0 && n->fail_reads--)
		return -ERR_IO;
	if (!n->st.n || first < n->st.first || first >= n->st.first + n->st.n)
		return -ERR_NOTFOUND;
	uint32_t k = 0;
	size_t used = 0;
	while (k < max_n && first + k < n->st.first + n->st.n) {
		const struct tent *e = &n->st.log[first + k - n->st.first];
		if (e->len > cap - used)
			break;
		memcpy(buf + used, e->data, e->len);
		out[k] = (struct raft_entry){e->term, first + k, buf + used, e->len, e->type};
		used += e->len;
		k++;
	}
	return k ? (int)k : -ERR_BUF_FULL;
}

static int io_snap(void *ctx, uint64_t index, uint64_t off, uint8_t *buf, size_t cap,
		   uint64_t *total)
{
	struct tnode *n = ctx;
	if (n->st.snap_index != index)
		return -ERR_NOTFOUND;
	*total = n->st.blob_len;
	size_t k = n->st.blob_len - (size_t)off;
	if (k > cap)
		k = cap;
	memcpy(buf, n->st.blob + off, k);
	return (int)k;
}

static uint64_t io_rand(void *ctx)
{
	struct tnode *n = ctx;
	n->rng ^= n->rng << 13;
	n->rng ^= n->rng >> 7;
	n->rng ^= n->rng << 17;
	return n->rng;
}

/* ---- harness --------------------------------------------------------------- */

static void opt_defaults(void)
{
	raft_options_default(&base_opt, 1);
	base_opt.election_ticks = 10;
	base_opt.heartbeat_ticks = 2;
	struct raft_caps *c = &base_opt.caps;
	c->max_entry_bytes = 256;
	c->window_entries = 64;
	c->window_bytes = 4096;
	c->max_log_entries = 512;
	c->snapshot_threshold = 400;
	c->snapshot_trailing = 2;
	c->max_inflight_msgs = 4;
	c->max_inflight_bytes = 4096;
	c->max_msg_entries = 8;
	c->max_msg_bytes = 1024;
	c->max_outbox_msgs = 64;
	c->max_outbox_bytes = 16384;
	c->max_apply_batch = 16;
	c->max_pending_reads = 8;
}

static struct raft_io io_of(struct tnode *n)
{
	return (struct raft_io){n, io_term, io_read, io_snap, io_rand};
}

static int node_boot(int k)
{
	struct tnode *n = &T[k];
	struct raft_options o = base_opt;
	o.id = n->id;
	struct raft_io io = io_of(n);
	int rc = raft_init(&n->r, &o, &io);
	if (rc)
		return rc;
	struct raft_boot b = {.hs = n->st.hs,
			      .snap_index = n->st.snap_index,
			      .snap_term = n->st.snap_term,
			      .snap_conf = n->st.snap_conf,
			      .first_index = n->st.n ? n->st.first : n->st.snap_index + 1,
			      .last_index = n->st.n ? n->st.first + n->st.n - 1 : n->st.snap_index,
			      .applied = n->st.snap_index};
	rc = raft_start(&n->r, &b);
	if (rc)
		return rc;
	n->sm_index = n->st.snap_index;
	n->up = 1;
	return 0;
}

static void node_down(int k)
{
	if (T[k].up)
		raft_fini(&T[k].r);
	T[k].up = 0;
}

static void cluster_fini(void)
{
	for (int k = 1; k <= n_nodes; k++)
		node_down(k);
	n_nodes = 0;
}

static void take_snapshot(struct tnode *n)
{
	struct raft_snapshot_meta m;
	if (raft_snapshot_meta(&n->r, &m) || m.index <= n->st.snap_index)
		return;
	n->st.snap_index = m.index;
	n->st.snap_term = m.term;
	n->st.snap_conf = m.conf;
	n->st.blob_len = 600 + (m.index % 50); /* a few chunks */
	for (size_t i = 0; i < n->st.blob_len; i++)
		n->st.blob[i] = (uint8_t)(m.index + i);
	uint64_t upto = 0;
	if (raft_snapshot_done(&n->r, &m, &upto) == 0) {
		while (n->st.n && n->st.first <= upto) {
			memmove(n->st.log, n->st.log + 1,
				(size_t)(n->st.n - 1) * sizeof n->st.log[0]);
			n->st.n--;
			n->st.first++;
		}
		if (!n->st.n)
			n->st.first = upto + 1;
	}
}

static void persist_snapshot(struct tnode *n, const struct raft_snapshot_in *c)
{
	if (c->offset == 0)
		n->st.part_len = 0;
	memcpy(n->st.part + n->st.part_len, c->data, c->len);
	n->st.part_len += c->len;
	if (!c->last)
		return;
	memcpy(n->st.blob, n->st.part, n->st.part_len);
	n->st.blob_len = n->st.part_len;
	n->st.snap_index = c->index;
	n->st.snap_term = c->term;
	n->st.snap_conf = c->conf;
	if (c->keep_log) {
		while (n->st.n && n->st.first <= c->index) {
			memmove(n->st.log, n->st.log + 1,
				(size_t)(n->st.n - 1) * sizeof n->st.log[0]);
			n->st.n--;
			n->st.first++;
		}
	} else {
		n->st.n = 0;
	}
	if (!n->st.n)
		n->st.first = c->index + 1;
	n->sm_index = c->index;
}

/* Drain k's ready completely, in the documented order. */
static void ready(int k)
{
	struct tnode *n = &T[k];
	struct raft_ready rd;
	while (n->up && raft_ready_get(&n->r, &rd) > 0) {
		if (rd.snapshot)
			persist_snapshot(n, rd.snapshot);
		if (rd.n_entries || rd.truncate) {
			uint64_t keep =
				rd.entries_first > n->st.first ? rd.entries_first - n->st.first : 0;
			if (keep < n->st.n)
				n->st.n = keep;
			if (!n->st.n)
				n->st.first = rd.entries_first;
			for (uint32_t i = 0; i < rd.n_entries; i++) {
				struct tent *e = &n->st.log[n->st.n++];
				e->term = rd.entries[i].term;
				e->type = rd.entries[i].type;
				e->len = rd.entries[i].len;
				memcpy(e->data, rd.entries[i].data, e->len);
			}
		}
		if (rd.hs)
			n->st.hs = *rd.hs;
		for (uint32_t i = 0; i < rd.n_msgs; i++) {
			int at = (q_head + q_len) % TQ;
			struct tmsg *q = &Q[at];
			int len = raft_msg_encode(&rd.msgs[i], q->buf, sizeof q->buf);
			if (len < 0 || q_len == TQ)
				continue;
			q->from = rd.msgs[i].from;
			q->to = rd.msgs[i].to;
			q->len = (size_t)len;
			q_len++;
		}
		for (uint32_t i = 0; i < rd.n_committed; i++) {
			const struct raft_entry *e = &rd.committed[i];
			if (e->index != n->sm_index + 1)
				n->apply_errors++;
			n->sm_index = e->index;
			if (e->index < 1024)
				n->applied_terms[e->index] = e->term;
		}
		for (uint32_t i = 0; i < rd.n_reads && n->n_reads < 64; i++)
			n->reads[n->n_reads++] = rd.reads[i];
		raft_ready_advance(&n->r);
		if (rd.want_snapshot && n->auto_snapshot)
			take_snapshot(n);
	}
}

/* n nodes with ids 1..n, all voters, bootstrapped with the same entry 1. */
static void cluster(int n)
{
	cluster_fini();
	opt_defaults();
	memset(T, 0, sizeof T);
	memset(cut, 0, sizeof cut);
	q_head = q_len = 0;
	n_nodes = n;
	struct raft_conf c = {0};
	for (int k = 1; k <= n; k++)
		c.s[c.n++] = (struct raft_server){.id = (uint64_t)k, .role = RAFT_VOTER};
	for (int k = 1; k <= n; k++) {
		T[k].id = (uint64_t)k;
		T[k].rng = 0x9e3779b97f4a7c15ull * (uint64_t)k;
		T[k].st.first = 1;
		node_boot(k);
		raft_bootstrap(&T[k].r, &c);
		ready(k);
	}
}

/* Deliver queued messages FIFO until none is left (or max). */
static int deliver(int max)
{
	int done = 0;
	static struct raft_entry ents[256];
	while (q_len && done < max) {
		struct tmsg *q = &Q[q_head];
		q_head = (q_head + 1) % TQ;
		q_len--;
		done++;
		int to = (int)q->to, from = (int)q->from;
		if (to < 1 || to > n_nodes || !T[to].up || cut[from][to])
			continue;
		struct raft_msg m;
		if (raft_msg_decode(q->buf, q->len, &m, ents, 256))
			continue;
		raft_step(&T[to].r, &m);
		ready(to);
	}
	return done;
}

static void drop_queue(void)
{
	q_head = q_len = 0;
}

static void tick(int k, int times)
{
	for (int i = 0; i < times; i++) {
		if (!T[k].up)
			return;
		raft_tick(&T[k].r);
		ready(k);
	}
}

/* Tick everyone and deliver, `rounds` times. */
static void run(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		for (int k = 1; k <= n_nodes; k++)
			tick(k, 1);
		deliver(100000);
	}
}

/* White-box: j stops trusting its leader, as if it had been silent for the
 * minimum election timeout (the lease of thesis §4.2.3 is over). j itself
 * does not campaign: it is not ticked. */
static void lease_over(int j)
{
	if (T[j].up && T[j].r.election_elapsed < T[j].r.opt.election_ticks)
		T[j].r.election_elapsed = T[j].r.opt.election_ticks;
}

/* Make k leader: the others' leases end, k times out, deliver everything. */
static int elect(int k)
{
	for (int j = 1; j <= n_nodes; j++)
		if (j != k)
			lease_over(j);
	for (int i = 0; i < 40 && raft_role(&T[k].r) != RAFT_LEADER; i++) {
		tick(k, 1);
		deliver(100000);
	}
	deliver(100000);
	return raft_role(&T[k].r) == RAFT_LEADER;
}

static int queued(int type, int from, int to)
{
	int c = 0;
	for (int i = 0; i < q_len; i++) {
		const struct tmsg *q = &Q[(q_head + i) % TQ];
		if ((from == 0 || (int)q->from == from) && (to == 0 || (int)q->to == to) &&
		    q->buf[1] == type)
			c++;
	}
	return c;
}

static int isolate(int k, int on)
{
	for (int j = 1; j <= TN; j++)
		cut[k][j] = cut[j][k] = on && j != k;
	return 0;
}

static int propose_str(int k, const char *s, uint64_t *idx)
{
	return raft_propose(&T[k].r, s, (uint32_t)strlen(s), idx);
}

/* ---- election ---------------------------------------------------------------- */

static void election_with_prevote(void)
{
	cluster(3);
	uint64_t t0 = raft_term(&T[1].r);
	/* time out: a pre-vote round first, term unchanged */
	for (int i = 0; i < 40 && raft_role(&T[1].r) == RAFT_FOLLOWER; i++)
		tick(1, 1);
	CHECK_EQ_INT(raft_role(&T[1].r), RAFT_PRECANDIDATE);
	CHECK_EQ_INT(raft_term(&T[1].r), t0);
	CHECK_EQ_INT(queued(RAFT_MSG_PREVOTE, 1, 0), 2);
	CHECK_EQ_INT(queued(RAFT_MSG_VOTE, 1, 0), 0);
	/* pre-votes granted: a real election at term + 1 */
	deliver(4);
	CHECK_EQ_INT(raft_role(&T[1].r), RAFT_CANDIDATE);
	CHECK_EQ_INT(raft_term(&T[1].r), t0 + 1);
	CHECK_EQ_INT(T[1].st.hs.vote, 1); /* own vote durable before asking */
	deliver(100);
	CHECK_EQ_INT(raft_role(&T[1].r), RAFT_LEADER);
	CHECK_EQ_INT(raft_leader(&T[2].r), 1);
	CHECK_EQ_INT(T[2].st.hs.vote, 1);
	CHECK_EQ_INT(raft_term(&T[2].r), t0 + 1);
	cluster_fini();
}

static void prevote_keeps_partitioned_term(void)
{
	cluster(3);
	REQUIRE(elect(1));
	uint64_t t = raft_term(&T[3].r);
	isolate(3, 1);
	for (int i = 0; i < 20; i++)
		run(5);
	/* node 3 kept pre-voting but never bumped its term (thesis §9.6) */
	CHECK_EQ_INT(raft_term(&T[3].r), t);
	CHECK(T[3].r.stats.prevotes > 2);
	CHECK_EQ_INT(T[3].r.stats.elections, 0);
	isolate(3, 0);
	run(10);
	CHECK_EQ_INT(raft_role(&T[1].r), RAFT_LEADER); /* not disrupted */
	CHECK_EQ_INT(raft_term(&T[1].r), t);
	cluster_fini();
}

static void vote_requires_up_to_date_log(void)
{
	cluster(3);
	REQUIRE(elect(1));
	REQUIRE(propose_str(1, "x", NULL) == 0);
	deliver(1000);
	uint64_t term = raft_term(&T[2].r), last = raft_last_index(&T[2].r);
	struct raft_msg m = {.type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = term + 1};
	m.vote.last_index = last - 1; /* shorter log, same last term: refused */
	m.vote.last_term = term;
	drop_queue();
	raft_step(&T[2].r, &m);
	ready(2);
	/* node 2 is in its leader's lease: a non-transfer vote is ignored */
	CHECK_EQ_INT(q_len, 0);
	CHECK_EQ_INT(raft_term(&T[2].r), term);
	tick(2, 25); /* let the lease expire (node 1 is silent: we do not deliver) */
	drop_queue();
	raft_step(&T[2].r, &m);
	ready(2);
	CHECK_EQ_INT(raft_term(&T[2].r), term + 1); /* term adopted (paper §5.1) */
	REQUIRE(q_len == 1);
	struct raft_msg r;
	struct raft_entry e[1];
	REQUIRE(raft_msg_decode(Q[q_head].buf, Q[q_head].len, &r, e, 1) == 0);
	CHECK_EQ_INT(r.type, RAFT_MSG_VOTE_RESP);
	CHECK_EQ_INT(r.vote_resp.granted, 0);
	CHECK_EQ_INT(T[2].st.hs.vote, 0);
	/* lower last term: refused; equal log: granted */
	drop_queue();
	m.term = term + 1;
	m.vote.last_index = last + 5;
	m.vote.last_term = term - 1;
	raft_step(&T[2].r, &m);
	ready(2);
	REQUIRE(raft_msg_decode(Q[q_head].buf, Q[q_head].len, &r, e, 1) == 0);
	CHECK_EQ_INT(r.vote_resp.granted, 0);
	drop_queue();
	m.vote.last_index = last;
	m.vote.last_term = term;
	raft_step(&T[2].r, &m);
	ready(2);
	REQUIRE(raft_msg_decode(Q[q_head].buf, Q[q_head].len, &r, e, 1) == 0);
	CHECK_EQ_INT(r.vote_resp.granted, 1);
	CHECK_EQ_INT(T[2].st.hs.vote, 3); /* durable before the reply left */
	cluster_fini();
}

static void one_vote_per_term(void)
{
	cluster(3);
	uint64_t t = raft_term(&T[1].r) + 1;
	struct raft_msg m = {.type = RAFT_MSG_VOTE, .from = 2, .to = 1, .term = t};
	m.vote.last_index = raft_last_index(&T[1].r);
	m.vote.last_term = 1;
	struct raft_msg r;
	struct raft_entry e[1];
	raft_step(&T[1].r, &m);
	ready(1);
	REQUIRE(raft_msg_decode(Q[q_head].buf, Q[q_head].len, &r, e, 1) == 0);
	CHECK_EQ_INT(r.vote_resp.granted, 1);
	drop_queue();
	m.from = 3; /* another candidate, same term */
	raft_step(&T[1].r, &m);
	ready(1);
	REQUIRE(raft_msg_decode(Q[q_head].buf, Q[q_head].len, &r, e, 1) == 0);
	CHECK_EQ_INT(r.vote_resp.granted, 0);
	drop_queue();
	m.from = 2; /* the same candidate again (a retry): granted */
	raft_step(&T[1].r, &m);
	ready(1);
	REQUIRE(raft_msg_decode(Q[q_head].buf, Q[q_head].len, &r, e, 1) == 0);
	CHECK_EQ_INT(r.vote_resp.granted, 1);
	/* the vote survives a restart */
	node_down(1);
	REQUIRE(node_boot(1) == 0);
	drop_queue();
	m.from = 3;
	raft_step(&T[1].r, &m);
	ready(1);
	REQUIRE(raft_msg_decode(Q[q_head].buf, Q[q_head].len, &r, e, 1) == 0);
	CHECK_EQ_INT(r.vote_resp.granted, 0);
	cluster_fini();
}

static void term_rules(void)
{
	cluster(3);
	REQUIRE(elect(1));
	uint64_t t = raft_term(&T[1].r);
	/* an AppendEntries of an older term is refused with our term */
	struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 3, .to = 2, .term = t - 1};
	drop_queue();
	raft_step(&T[2].r, &m);
	ready(2);
	struct raft_msg r;
	struct raft_entry e[1];
	REQUIRE(q_len == 1 && raft_msg_decode(Q[q_head].buf, Q[q_head].len, &r, e, 1) == 0);
	CHECK_EQ_INT(r.type, RAFT_MSG_APPEND_RESP);
	CHECK_EQ_INT(r.term, t);
	CHECK_EQ_INT(r.append_resp.ok, 0);
	CHECK_EQ_INT(raft_leader(&T[2].r), 1);
	/* a leader seeing a higher term steps down (paper §5.1) */
	drop_queue();
	struct raft_msg h = {.type = RAFT_MSG_APPEND_RESP, .from = 2, .to = 1, .term = t + 3};
	raft_step(&T[1].r, &h);
	ready(1);
	CHECK_EQ_INT(raft_role(&T[1].r), RAFT_FOLLOWER);
	CHECK_EQ_INT(raft_term(&T[1].r), t + 3);
	CHECK_EQ_INT(T[1].st.hs.term, t + 3);
	CHECK_EQ_INT(T[1].st.hs.vote, 0);
	/* messages not for us, or from nobody, are refused */
	h.to = 9;
	CHECK_EQ_INT(raft_step(&T[1].r, &h), -ERR_INVAL);
	h.to = 1;
	h.from = 0;
	CHECK_EQ_INT(raft_step(&T[1].r, &h), -ERR_INVAL);
	h.from = 1;
	CHECK_EQ_INT(raft_step(&T[1].r, &h), -ERR_INVAL);
	cluster_fini();
}

static void check_quorum_steps_down(void)
{
	cluster(3);
	REQUIRE(elect(1));
	isolate(1, 1);
	int ticks = 0;
	while (raft_role(&T[1].r) == RAFT_LEADER && ticks < 50) {
		tick(1, 1);
		deliver(1000);
		ticks++;
	}
	CHECK_EQ_INT(raft_role(&T[1].r), RAFT_FOLLOWER);
	CHECK(ticks <= 2 * 10);
	CHECK_EQ_INT(T[1].r.stats.check_quorum_stepdowns, 1);
	cluster_fini();
}

static void lease_ignores_disruptive_votes(void)
{
	cluster(3);
	REQUIRE(elect(1));
	run(2);
	uint64_t t = raft_term(&T[2].r);
	struct raft_msg m = {.type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = t + 5};
	m.vote.last_index = 100;
	m.vote.last_term = t;
	drop_queue();
	raft_step(&T[2].r, &m);
	ready(2);
	CHECK_EQ_INT(raft_term(&T[2].r), t); /* thesis §4.2.3 */
	CHECK_EQ_INT(q_len, 0);
	m.vote.transfer = 1; /* but a transfer campaign is answered */
	raft_step(&T[2].r, &m);
	ready(2);
	CHECK_EQ_INT(raft_term(&T[2].r), t + 5);
	CHECK_EQ_INT(T[2].st.hs.vote, 3);
	cluster_fini();
}

/* ---- replication ------------------------------------------------------------- */

static void replicate_commit_apply(void)
{
	cluster(3);
	REQUIRE(elect(1));
	uint64_t idx = 0;
	REQUIRE(propose_str(1, "hello", &idx) == 0);
	CHECK_EQ_INT(propose_str(2, "nope", NULL), -ERR_RAFT_NOT_LEADER);
	deliver(1000);
	run(2);
	for (int k = 1; k <= 3; k++) {
		CHECK_EQ_INT(raft_commit_index(&T[k].r), idx);
		CHECK_EQ_INT(T[k].sm_index, idx);
		CHECK_EQ_INT(T[k].apply_errors, 0);
		CHECK_EQ_INT(T[k].st.first + T[k].st.n - 1, idx);
	}
	CHECK_EQ_MEM(T[3].st.log[idx - 1].data, T[3].st.log[idx - 1].len, "hello");
	cluster_fini();
}

static void append_consistency_check(void)
{
	cluster(3);
	REQUIRE(elect(1));
	run(2);
	uint64_t t = raft_term(&T[2].r), last = raft_last_index(&T[2].r);
	struct raft_entry en = {.term = t,
				.index = last + 5,
				.data = (const uint8_t *)"z",
				.len = 1,
				.type = RAFT_ENTRY_NORMAL};
	struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = t};
	m.append.prev_index = last + 4; /* a hole */
	m.append.prev_term = t;
	m.append.entries = &en;
	m.append.n_entries = 1;
	drop_queue();
	raft_step(&T[2].r, &m);
	ready(2);
	struct raft_msg r;
	struct raft_entry e[1];
	REQUIRE(raft_msg_decode(Q[q_head].buf, Q[q_head].len, &r, e, 1) == 0);
	CHECK_EQ_INT(r.append_resp.ok, 0);
	CHECK_EQ_INT(r.append_resp.index, last + 4);
	CHECK_EQ_INT(r.append_resp.hint_index, last); /* where to probe next */
	CHECK_EQ_INT(raft_last_index(&T[2].r), last);
	/* right index, wrong term: refused too */
	drop_queue();
	m.append.prev_index = last;
	m.append.prev_term = t + 1;
	m.term = t + 1;
	en.index = last + 1;
	en.term = t + 1;
	raft_step(&T[2].r, &m);
	ready(2);
	REQUIRE(raft_msg_decode(Q[q_head].buf, Q[q_head].len, &r, e, 1) == 0);
	CHECK_EQ_INT(r.append_resp.ok, 0);
	CHECK_EQ_INT(raft_last_index(&T[2].r), last);
	cluster_fini();
}

/* A follower with entries the new leader does not have drops them. */
static void conflict_truncation(void)
{
	cluster(3);
	REQUIRE(elect(1));
	run(2);
	/* node 1 appends two entries nobody else sees, then loses leadership */
	isolate(1, 1);
	REQUIRE(propose_str(1, "lost-a", NULL) == 0);
	REQUIRE(propose_str(1, "lost-b", NULL) == 0);
	uint64_t old_last = raft_last_index(&T[1].r);
	drop_queue();
	REQUIRE(elect(2));
	REQUIRE(propose_str(2, "kept", NULL) == 0);
	deliver(1000);
	run(3);
	isolate(1, 0);
	run(20);
	CHECK_EQ_INT(raft_leader(&T[1].r), 2);
	CHECK(T[1].r.stats.truncations >= 1);
	uint64_t last = raft_last_index(&T[2].r);
	CHECK_EQ_INT(raft_last_index(&T[1].r), last);
	CHECK(last <= old_last + 1);
	/* the disk followed: same entries as the leader's */
	for (uint64_t i = T[1].st.first; i <= last; i++)
		CHECK_EQ_INT(T[1].st.log[i - T[1].st.first].term,
			     T[2].st.log[i - T[2].st.first].term);
	CHECK_EQ_INT(T[1].apply_errors, 0);
	CHECK_EQ_INT(T[1].sm_index, raft_commit_index(&T[2].r));
	cluster_fini();
}

/* Paper Figure 8 and §5.4.2: an entry of an older term that is stored on a
 * majority is not committed by counting; it commits only together with an
 * entry of the leader's current term. */
static void commit_rule_figure8(void)
{
	cluster(3);
	REQUIRE(elect(1));
	run(2);
	uint64_t base = raft_commit_index(&T[1].r);
	/* leader 1 of term a appends an entry nobody else gets, then steps
	 * down (check-quorum): the entry is on one server, uncommitted */
	isolate(1, 1);
	REQUIRE(propose_str(1, "old", NULL) == 0);
	ready(1);
	uint64_t i_old = raft_last_index(&T[1].r), term_a = raft_term(&T[1].r);
	for (int i = 0; i < 30 && raft_role(&T[1].r) == RAFT_LEADER; i++)
		tick(1, 1);
	REQUIRE(raft_role(&T[1].r) == RAFT_FOLLOWER);
	drop_queue();
	/* node 1 wins term > a (its log is the longest) and appends its no-op */
	isolate(1, 0);
	REQUIRE(elect(1));
	uint64_t noop = raft_last_index(&T[1].r);
	CHECK(raft_term(&T[1].r) > term_a);
	CHECK_EQ_INT(noop, i_old + 1);
	/* the messages that carried the entries were lost; pretend node 3
	 * stored only the old entry */
	drop_queue();
	T[1].r.commit = base; /* white-box: undo what the delivery committed */
	struct raft_msg ack = {
		.type = RAFT_MSG_APPEND_RESP, .from = 3, .to = 1, .term = raft_term(&T[1].r)};
	ack.append_resp.ok = 1;
	ack.append_resp.index = i_old;
	T[1].r.prs[0].match = T[1].r.prs[1].match = base; /* both followers at base */
	raft_step(&T[1].r, &ack);
	ready(1);
	CHECK_EQ_INT(raft_commit_index(&T[1].r), base); /* 2 of 3, term a: not committed */
	ack.append_resp.index = noop;
	raft_step(&T[1].r, &ack);
	ready(1);
	CHECK_EQ_INT(raft_commit_index(&T[1].r), noop); /* both, through the no-op */
	cluster_fini();
}

static void single_node_cluster(void)
{
	cluster(1);
	REQUIRE(elect(1));
	uint64_t idx;
	REQUIRE(propose_str(1, "solo", &idx) == 0);
	ready(1);
	CHECK_EQ_INT(raft_commit_index(&T[1].r), idx);
	CHECK_EQ_INT(T[1].sm_index, idx);
	T[1].n_reads = 0;
	REQUIRE(raft_read_index(&T[1].r, 7) == 0);
	ready(1);
	REQUIRE(T[1].n_reads == 1);
	CHECK_EQ_INT(T[1].reads[0].ctx, 7);
	CHECK_EQ_INT(T[1].reads[0].index, idx);
	cluster_fini();
}

static void restart_recovers_state(void)
{
	cluster(3);
	REQUIRE(elect(1));
	for (int i = 0; i < 5; i++)
		REQUIRE(propose_str(1, "abc", NULL) == 0);
	deliver(1000);
	run(3);
	uint64_t commit = raft_commit_index(&T[2].r), term = raft_term(&T[2].r);
	node_down(2);
	REQUIRE(node_boot(2) == 0);
	CHECK_EQ_INT(raft_term(&T[2].r), term);
	CHECK_EQ_INT(raft_last_index(&T[2].r), T[2].st.first + T[2].st.n - 1);
	CHECK_EQ_INT(raft_config(&T[2].r)->n, 3); /* rebuilt from the log */
	T[2].sm_index = 0;
	ready(2); /* re-applies from the snapshot (none) up to the durable commit */
	CHECK(T[2].sm_index >= commit - 1);
	run(3);
	CHECK_EQ_INT(T[2].sm_index, raft_commit_index(&T[1].r));
	cluster_fini();
}

static void apply_in_order_in_batches(void)
{
	cluster(3);
	base_opt.caps.max_apply_batch = 3;
	for (int k = 1; k <= 3; k++) { /* reboot with the smaller batch */
		node_down(k);
		node_boot(k);
	}
	REQUIRE(elect(1));
	for (int i = 0; i < 20; i++)
		REQUIRE(propose_str(1, "b", NULL) == 0);
	deliver(10000);
	run(5);
	for (int k = 1; k <= 3; k++) {
		CHECK_EQ_INT(T[k].apply_errors, 0);
		CHECK_EQ_INT(T[k].sm_index, raft_last_index(&T[1].r));
	}
	cluster_fini();
}

/* The leader reads entries older than its window back from storage. */
static void lagging_follower_reads_storage(void)
{
	cluster(3);
	base_opt.caps.window_entries = 4;
	for (int k = 1; k <= 3; k++) {
		node_down(k);
		node_boot(k);
	}
	REQUIRE(elect(1));
	isolate(3, 1);
	for (int i = 0; i < 30; i++) {
		REQUIRE(propose_str(1, "0123456789", NULL) == 0);
		ready(1);
		deliver(1000);
	}
	run(2);
	int before = T[1].storage_reads;
	isolate(3, 0);
	run(30);
	CHECK(T[1].storage_reads > before);
	CHECK_EQ_INT(raft_last_index(&T[3].r), raft_last_index(&T[1].r));
	CHECK_EQ_INT(T[3].sm_index, raft_commit_index(&T[1].r));
	CHECK_EQ_INT(T[3].apply_errors, 0);
	cluster_fini();
}

/* Failed storage reads are retried; a core that cannot go on stops. */
static void storage_errors(void)
{
	cluster(3);
	base_opt.caps.window_entries = 4;
	for (int k = 1; k <= 3; k++) {
		node_down(k);
		node_boot(k);
	}
	REQUIRE(elect(1));
	isolate(3, 1);
	for (int i = 0; i < 12; i++) {
		REQUIRE(propose_str(1, "s", NULL) == 0);
		ready(1);
		deliver(1000);
	}
	run(2);
	isolate(3, 0);
	T[1].fail_reads = 6; /* the reads for node 3's catch-up fail for a while */
	run(30);
	CHECK_EQ_INT(T[1].fail_reads, 0);
	CHECK(T[1].r.err == -ERR_RAFT_STORAGE); /* latched, for the logs */
	CHECK_EQ_INT(raft_role(&T[1].r), RAFT_LEADER);
	CHECK_EQ_INT(T[3].sm_index, raft_commit_index(&T[1].r));
	/* start-up reads the log back for the configuration: a failure is reported */
	node_down(2);
	T[2].fail_reads = 1000;
	CHECK_EQ_INT(node_boot(2), -ERR_RAFT_STORAGE);
	raft_fini(&T[2].r);
	T[2].fail_reads = 0;
	REQUIRE(node_boot(2) == 0);
	/* fail-stop: every input refuses until the caller restarts the core */
	T[2].r.dead = 1;
	struct raft_ready rd;
	CHECK_EQ_INT(raft_tick(&T[2].r), -ERR_RAFT_STORAGE);
	CHECK_EQ_INT(raft_ready_get(&T[2].r, &rd), -ERR_RAFT_STORAGE);
	CHECK_EQ_INT(propose_str(2, "x", NULL), -ERR_RAFT_STORAGE);
	CHECK_EQ_INT(raft_read_index(&T[2].r, 1), -ERR_RAFT_STORAGE);
	cluster_fini();
}

/* ---- snapshots --------------------------------------------------------------- */

static void snapshot_and_install(void)
{
	cluster(3);
	base_opt.caps.snapshot_threshold = 10;
	base_opt.caps.snapshot_trailing = 0;
	base_opt.caps.max_msg_bytes = 300; /* several chunks */
	base_opt.caps.window_entries = 8;  /* compacted entries are not in memory either */
	for (int k = 1; k <= 3; k++) {
		node_down(k);
		node_boot(k);
		T[k].auto_snapshot = 1;
	}
	REQUIRE(elect(1));
	isolate(3, 1);
	for (int i = 0; i < 30; i++) {
		REQUIRE(propose_str(1, "payload", NULL) == 0);
		ready(1);
		deliver(1000);
	}
	run(2);
	CHECK(T[1].st.snap_index >= 10);
	CHECK(T[1].st.first > 1); /* compacted */
	isolate(3, 0);
	run(40);
	CHECK_EQ_INT(T[3].r.stats.snapshots_installed, 1);
	CHECK(T[1].r.stats.snapshots_sent >= 2);
	CHECK(T[3].st.snap_index >= 10);
	CHECK_EQ_INT(T[3].st.blob_len, T[1].st.blob_len);
	CHECK(memcmp(T[3].st.blob, T[1].st.blob, T[3].st.blob_len) == 0);
	CHECK_EQ_INT(T[3].sm_index, raft_commit_index(&T[1].r));
	CHECK_EQ_INT(T[3].apply_errors, 0);
	CHECK_EQ_INT(raft_config(&T[3].r)->n, 3);
	/* it restarts from the installed snapshot */
	node_down(3);
	REQUIRE(node_boot(3) == 0);
	CHECK_EQ_INT(raft_snapshot_index(&T[3].r), T[3].st.snap_index);
	run(5);
	CHECK_EQ_INT(T[3].sm_index, raft_commit_index(&T[1].r));
	/* snapshot_done refuses going back */
	struct raft_snapshot_meta m = {.index = 1, .term = 1};
	CHECK_EQ_INT(raft_snapshot_done(&T[1].r, &m, NULL), -ERR_INVAL);
	cluster_fini();
}

static void snapshot_follower_restart_midway(void)
{
	cluster(3);
	base_opt.caps.snapshot_threshold = 10;
	base_opt.caps.snapshot_trailing = 0;
	base_opt.caps.max_msg_bytes = 256;
	base_opt.caps.window_entries = 8;
	for (int k = 1; k <= 3; k++) {
		node_down(k);
		node_boot(k);
		T[k].auto_snapshot = 1;
	}
	REQUIRE(elect(1));
	isolate(3, 1);
	for (int i = 0; i < 20; i++) {
		REQUIRE(propose_str(1, "p", NULL) == 0);
		ready(1);
		deliver(1000);
	}
	run(2);
	isolate(3, 0);
	/* let the first chunk through, then crash the follower */
	for (int i = 0; i < 200 && T[3].st.part_len == 0; i++) {
		tick(1, 1);
		while (q_len && T[3].st.part_len == 0)
			deliver(1);
	}
	CHECK(T[3].st.part_len > 0);
	CHECK_EQ_INT(T[3].st.snap_index, 0); /* not complete yet */
	node_down(3);
	REQUIRE(node_boot(3) == 0);
	run(40);
	CHECK_EQ_INT(T[3].r.stats.snapshots_installed, 1);
	CHECK_EQ_INT(T[3].st.blob_len, T[1].st.blob_len);
	CHECK_EQ_INT(T[3].sm_index, raft_commit_index(&T[1].r));
	cluster_fini();
}

/* ---- membership ---------------------------------------------------------------- */

static void learner_then_promotion(void)
{
	cluster(3);
	REQUIRE(elect(1));
	run(2);
	/* node 4: brand new, empty disk, not in any configuration */
	n_nodes = 4;
	T[4].id = 4;
	T[4].rng = 77;
	T[4].st.first = 1;
	REQUIRE(node_boot(4) == 0);
	tick(4, 50);
	CHECK_EQ_INT(raft_role(&T[4].r), RAFT_FOLLOWER); /* never campaigns */
	CHECK_EQ_INT(raft_promote(&T[1].r, 4), -ERR_NOTFOUND);
	REQUIRE(raft_add_learner(&T[1].r, 4) == 0);
	CHECK_EQ_INT(raft_add_learner(&T[1].r, 4), -ERR_RAFT_CONF_PENDING);
	/* not caught up yet: promotion refused */
	CHECK_EQ_INT(raft_promote(&T[1].r, 4), -ERR_RAFT_CONF_PENDING);
	run(10);
	CHECK_EQ_INT(raft_conf_role(raft_config(&T[4].r), 4), RAFT_LEARNER);
	CHECK_EQ_INT(T[4].sm_index, raft_commit_index(&T[1].r));
	/* learners do not count: isolate 2 and 3, nothing commits */
	isolate(2, 1);
	isolate(3, 1);
	uint64_t c = raft_commit_index(&T[1].r);
	REQUIRE(propose_str(1, "w", NULL) == 0);
	run(3);
	CHECK_EQ_INT(raft_commit_index(&T[1].r), c);
	isolate(2, 0);
	isolate(3, 0);
	run(5);
	REQUIRE(raft_promote(&T[1].r, 4) == 0);
	CHECK_EQ_INT(raft_conf_role(raft_config(&T[1].r), 4), RAFT_VOTER); /* at append */
	run(5);
	CHECK_EQ_INT(raft_conf_role(raft_config(&T[4].r), 4), RAFT_VOTER);
	CHECK_EQ_INT(raft_conf_voters(raft_config(&T[2].r)), 4);
	CHECK_EQ_INT(raft_promote(&T[1].r, 4), -ERR_EXISTS);
	cluster_fini();
}

static void promotion_refused_when_lagging(void)
{
	cluster(3);
	REQUIRE(elect(1));
	run(2);
	n_nodes = 4;
	T[4].id = 4;
	T[4].rng = 5;
	T[4].st.first = 1;
	REQUIRE(node_boot(4) == 0);
	isolate(4, 1);
	REQUIRE(raft_add_learner(&T[1].r, 4) == 0);
	run(5);
	CHECK_EQ_INT(raft_promote(&T[1].r, 4), -ERR_RAFT_NOT_CAUGHT_UP);
	isolate(4, 0);
	run(10);
	CHECK_EQ_INT(raft_promote(&T[1].r, 4), 0);
	cluster_fini();
}

static void remove_the_leader(void)
{
	cluster(3);
	REQUIRE(elect(1));
	run(2);
	uint64_t prevotes = T[1].r.stats.prevotes;
	REQUIRE(raft_remove(&T[1].r, 1) == 0);
	/* effective on append: the leader no longer counts itself */
	CHECK_EQ_INT(raft_conf_role(raft_config(&T[1].r), 1), 0);
	CHECK_EQ_INT(raft_role(&T[1].r), RAFT_LEADER);
	deliver(1000);
	run(2);
	/* committed by nodes 2 and 3: node 1 stepped down (thesis §4.2.2) */
	CHECK_EQ_INT(raft_role(&T[1].r), RAFT_FOLLOWER);
	run(40);
	int leaders = 0;
	for (int k = 2; k <= 3; k++)
		leaders += raft_role(&T[k].r) == RAFT_LEADER;
	CHECK_EQ_INT(leaders, 1);
	CHECK_EQ_INT(raft_role(&T[1].r), RAFT_FOLLOWER); /* removed: never campaigns */
	CHECK_EQ_INT(T[1].r.stats.prevotes, prevotes);
	int l = raft_role(&T[2].r) == RAFT_LEADER ? 2 : 3;
	uint64_t idx;
	REQUIRE(propose_str(l, "after", &idx) == 0);
	run(3);
	CHECK_EQ_INT(raft_commit_index(&T[l].r), idx);
	CHECK_EQ_INT(raft_remove(&T[l].r, 9), -ERR_NOTFOUND);
	cluster_fini();
}

/* The product's bootstrap (DESIGN.md): one node creates the cluster alone,
 * the control nodes join as learners and are promoted, then the bootstrap
 * node hands leadership over and is removed. */
static void bootstrap_node_hands_over(void)
{
	cluster(1);
	REQUIRE(elect(1));
	ready(1);
	n_nodes = 3;
	for (int k = 2; k <= 3; k++) {
		T[k].id = (uint64_t)k;
		T[k].rng = (uint64_t)k * 1234567;
		T[k].st.first = 1;
		REQUIRE(node_boot(k) == 0); /* empty disk: waits to be added */
	}
	for (int k = 2; k <= 3; k++) {
		REQUIRE(raft_add_learner(&T[1].r, (uint64_t)k) == 0);
		run(5);
		REQUIRE(raft_promote(&T[1].r, (uint64_t)k) == 0);
		run(5);
	}
	CHECK_EQ_INT(raft_conf_voters(raft_config(&T[3].r)), 3);
	REQUIRE(raft_transfer(&T[1].r, 2) == 0);
	run(3);
	REQUIRE(raft_role(&T[2].r) == RAFT_LEADER);
	run(2);
	REQUIRE(raft_remove(&T[2].r, 1) == 0);
	run(5);
	CHECK_EQ_INT(raft_conf_role(raft_config(&T[3].r), 1), 0);
	CHECK_EQ_INT(raft_conf_voters(raft_config(&T[2].r)), 2);
	node_down(1); /* the bootstrap node stops */
	uint64_t idx;
	REQUIRE(propose_str(2, "after-bootstrap", &idx) == 0);
	run(3);
	CHECK_EQ_INT(T[3].sm_index, idx);
	CHECK_EQ_INT(T[2].apply_errors + T[3].apply_errors, 0);
	cluster_fini();
}

static void remove_last_voter_refused(void)
{
	cluster(1);
	REQUIRE(elect(1));
	ready(1);
	CHECK_EQ_INT(raft_remove(&T[1].r, 1), -ERR_INVAL);
	CHECK_EQ_INT(raft_add_learner(&T[1].r, 0), -ERR_INVAL);
	cluster_fini();
}

/* ---- leadership transfer ---------------------------------------------------------- */

static void transfer_leadership(void)
{
	cluster(3);
	REQUIRE(elect(1));
	run(2);
	uint64_t t = raft_term(&T[1].r);
	CHECK_EQ_INT(raft_transfer(&T[1].r, 1), -ERR_INVAL);
	CHECK_EQ_INT(raft_transfer(&T[1].r, 7), -ERR_NOTFOUND);
	CHECK_EQ_INT(raft_transfer(&T[2].r, 3), -ERR_RAFT_NOT_LEADER);
	REQUIRE(raft_transfer(&T[1].r, 3) == 0);
	CHECK_EQ_INT(propose_str(1, "x", NULL), -ERR_RAFT_TRANSFERRING);
	CHECK_EQ_INT(raft_transfer(&T[1].r, 2), -ERR_RAFT_TRANSFERRING);
	ready(1);
	CHECK_EQ_INT(queued(RAFT_MSG_TIMEOUT_NOW, 1, 3), 1);
	deliver(1000);
	CHECK_EQ_INT(raft_role(&T[3].r), RAFT_LEADER);
	CHECK_EQ_INT(raft_term(&T[3].r), t + 1);
	CHECK_EQ_INT(raft_role(&T[1].r), RAFT_FOLLOWER);
	CHECK_EQ_INT(T[3].r.stats.prevotes, 0); /* no pre-vote on TimeoutNow */
	cluster_fini();
}

static void transfer_waits_for_catch_up(void)
{
	cluster(3);
	REQUIRE(elect(1));
	run(2);
	isolate(3, 1);
	for (int i = 0; i < 5; i++)
		REQUIRE(propose_str(1, "y", NULL) == 0);
	deliver(1000);
	REQUIRE(raft_transfer(&T[1].r, 3) == 0);
	ready(1);
	CHECK_EQ_INT(queued(RAFT_MSG_TIMEOUT_NOW, 1, 3), 0); /* 3 lags */
	isolate(3, 0);
	for (int i = 0; i < 10 && raft_role(&T[3].r) != RAFT_LEADER; i++) {
		tick(1, 1);
		deliver(1000);
	}
	CHECK_EQ_INT(raft_role(&T[3].r), RAFT_LEADER);
	CHECK_EQ_INT(raft_last_index(&T[3].r), raft_last_index(&T[1].r));
	cluster_fini();
}

static void transfer_times_out(void)
{
	cluster(3);
	REQUIRE(elect(1));
	run(2);
	isolate(3, 1);
	REQUIRE(propose_str(1, "z", NULL) == 0);
	REQUIRE(raft_transfer(&T[1].r, 3) == 0);
	for (int i = 0; i < 10; i++) {
		tick(1, 1);
		tick(2, 1);
		deliver(1000);
	}
	CHECK_EQ_INT(raft_role(&T[1].r), RAFT_LEADER);
	CHECK_EQ_INT(propose_str(1, "again", NULL), 0); /* accepted again */
	cluster_fini();
}

/* ---- ReadIndex ----------------------------------------------------------------- */

static void read_index_confirmed_by_quorum(void)
{
	cluster(3);
	REQUIRE(elect(1));
	run(2);
	uint64_t idx;
	REQUIRE(propose_str(1, "v1", &idx) == 0);
	ready(1);
	deliver(1000);
	REQUIRE(raft_commit_index(&T[1].r) == idx);
	T[1].n_reads = 0;
	CHECK_EQ_INT(raft_read_index(&T[2].r, 1), -ERR_RAFT_NOT_LEADER);
	REQUIRE(raft_read_index(&T[1].r, 42) == 0);
	ready(1);
	CHECK_EQ_INT(T[1].n_reads, 0); /* waits for a heartbeat round */
	deliver(1000);
	REQUIRE(T[1].n_reads == 1);
	CHECK_EQ_INT(T[1].reads[0].ctx, 42);
	CHECK_EQ_INT(T[1].reads[0].status, 0);
	CHECK_EQ_INT(T[1].reads[0].index, idx);
	cluster_fini();
}

static void read_index_partitioned_leader(void)
{
	cluster(3);
	REQUIRE(elect(1));
	run(2);
	isolate(1, 1);
	T[1].n_reads = 0;
	REQUIRE(raft_read_index(&T[1].r, 9) == 0);
	/* meanwhile 2 and 3 elect a new leader and commit a write */
	REQUIRE(elect(2));
	uint64_t idx;
	REQUIRE(propose_str(2, "new", &idx) == 0);
	deliver(1000);
	for (int i = 0; i < 30 && raft_role(&T[1].r) == RAFT_LEADER; i++) {
		CHECK_EQ_INT(T[1].n_reads, 0); /* never answered while cut off */
		tick(1, 1);
		deliver(1000);
	}
	/* stepped down: the read is failed, not answered with stale data */
	CHECK_EQ_INT(raft_role(&T[1].r), RAFT_FOLLOWER);
	REQUIRE(T[1].n_reads == 1);
	CHECK_EQ_INT(T[1].reads[0].status, -ERR_RAFT_NOT_LEADER);
	cluster_fini();
}

static void read_index_waits_for_term_commit(void)
{
	cluster(3);
	/* become leader but hold every message: the no-op is not committed */
	for (int i = 0; i < 40 && raft_role(&T[1].r) != RAFT_LEADER; i++) {
		tick(1, 1);
		deliver(1000);
		if (raft_role(&T[1].r) == RAFT_CANDIDATE) {
			deliver(2); /* votes come back */
		}
	}
	REQUIRE(raft_role(&T[1].r) == RAFT_LEADER);
	drop_queue();
	T[1].n_reads = 0;
	REQUIRE(raft_read_index(&T[1].r, 5) == 0);
	ready(1);
	CHECK_EQ_INT(T[1].n_reads, 0);
	run(3);
	REQUIRE(T[1].n_reads == 1);
	CHECK(T[1].reads[0].index >= raft_last_index(&T[1].r) - 0);
	CHECK_EQ_INT(T[1].reads[0].status, 0);
	cluster_fini();
}

/* ---- caps: just under succeeds, just over fails, nothing corrupted ----------------- */

static void cap_entry_size(void)
{
	cluster(1);
	REQUIRE(elect(1));
	uint8_t big[300];
	memset(big, 'e', sizeof big);
	uint64_t last = raft_last_index(&T[1].r);
	CHECK_EQ_INT(raft_propose(&T[1].r, big, 256, NULL), 0);
	CHECK_EQ_INT(raft_propose(&T[1].r, big, 257, NULL), -ERR_RAFT_ENTRY_TOO_LARGE);
	CHECK_EQ_INT(raft_last_index(&T[1].r), last + 1);
	ready(1);
	CHECK_EQ_INT(T[1].st.log[T[1].st.n - 1].len, 256);
	cluster_fini();
}

static void cap_window_unstable(void)
{
	cluster(1);
	base_opt.caps.window_entries = 8;
	node_down(1);
	node_boot(1);
	REQUIRE(elect(1));
	ready(1);
	/* fill the window with unstable entries: the 9th is refused */
	uint64_t last = raft_last_index(&T[1].r);
	int ok = 0;
	while (raft_propose(&T[1].r, "u", 1, NULL) == 0)
		ok++;
	CHECK_EQ_INT(ok, 8);
	CHECK_EQ_INT(raft_propose(&T[1].r, "u", 1, NULL), -ERR_RAFT_LOG_FULL);
	CHECK_EQ_INT(raft_last_index(&T[1].r), last + 8);
	ready(1); /* durable now: the window can let old entries go */
	CHECK_EQ_INT(raft_propose(&T[1].r, "u", 1, NULL), 0);
	ready(1);
	CHECK_EQ_INT(T[1].sm_index, last + 9);
	cluster_fini();
}

static void cap_window_bytes(void)
{
	cluster(1);
	base_opt.caps.window_bytes = 600;
	node_down(1);
	node_boot(1);
	REQUIRE(elect(1));
	ready(1);
	uint8_t b[256];
	memset(b, 1, sizeof b);
	CHECK_EQ_INT(raft_propose(&T[1].r, b, 256, NULL), 0);
	CHECK_EQ_INT(raft_propose(&T[1].r, b, 256, NULL), 0);
	CHECK_EQ_INT(raft_propose(&T[1].r, b, 256, NULL), -ERR_RAFT_LOG_FULL);
	ready(1);
	CHECK_EQ_INT(raft_propose(&T[1].r, b, 256, NULL), 0);
	ready(1);
	CHECK_EQ_INT(T[1].st.log[T[1].st.n - 1].len, 256);
	CHECK_EQ_INT(T[1].st.log[T[1].st.n - 1].data[255], 1);
	cluster_fini();
}

static void cap_log_length(void)
{
	cluster(1);
	base_opt.caps.max_log_entries = 20;
	base_opt.caps.snapshot_threshold = 10;
	node_down(1);
	node_boot(1);
	REQUIRE(elect(1));
	ready(1);
	int ok = 0, want = 0;
	struct raft_ready rd;
	while (raft_propose(&T[1].r, "L", 1, NULL) == 0) {
		ok++;
		if (raft_ready_get(&T[1].r, &rd) > 0) {
			want += rd.want_snapshot;
			raft_ready_advance(&T[1].r);
		}
	}
	CHECK(want > 1);          /* asked at the threshold, and again until it is done */
	CHECK_EQ_INT(ok, 20 - 2); /* entries 1 (configuration) and 2 (no-op) came first */
	CHECK_EQ_INT(raft_last_index(&T[1].r) - raft_snapshot_index(&T[1].r), 20);
	CHECK_EQ_INT(raft_propose(&T[1].r, "L", 1, NULL), -ERR_RAFT_LOG_FULL);
	T[1].auto_snapshot = 1;
	T[1].sm_index = raft_applied_index(&T[1].r);
	take_snapshot(&T[1]);
	CHECK(raft_snapshot_index(&T[1].r) > 0);
	CHECK_EQ_INT(raft_propose(&T[1].r, "L", 1, NULL), 0);
	cluster_fini();
}

static void cap_pending_reads(void)
{
	cluster(3);
	REQUIRE(elect(1));
	run(2);
	for (int i = 0; i < 8; i++)
		CHECK_EQ_INT(raft_read_index(&T[1].r, (uint64_t)i), 0);
	CHECK_EQ_INT(raft_read_index(&T[1].r, 8), -ERR_RAFT_READS_FULL);
	T[1].n_reads = 0;
	ready(1);
	deliver(1000);
	CHECK_EQ_INT(T[1].n_reads, 8);
	CHECK_EQ_INT(raft_read_index(&T[1].r, 9), 0);
	cluster_fini();
}

static void cap_voters_and_servers(void)
{
	cluster(1);
	base_opt.caps.max_voters = 2;
	base_opt.caps.max_servers = 3;
	node_down(1);
	node_boot(1);
	REQUIRE(elect(1));
	ready(1);
	n_nodes = 4;
	for (int k = 2; k <= 4; k++) {
		T[k].id = (uint64_t)k;
		T[k].rng = (uint64_t)k * 31;
		T[k].st.first = 1;
		REQUIRE(node_boot(k) == 0);
	}
	REQUIRE(raft_add_learner(&T[1].r, 2) == 0);
	run(5);
	REQUIRE(raft_add_learner(&T[1].r, 3) == 0);
	run(5);
	CHECK_EQ_INT(raft_add_learner(&T[1].r, 4), -ERR_RAFT_TOO_MANY_SERVERS); /* just over */
	CHECK_EQ_INT(raft_promote(&T[1].r, 2), 0); /* second voter: just under */
	run(5);
	CHECK_EQ_INT(raft_promote(&T[1].r, 3), -ERR_RAFT_TOO_MANY_VOTERS);
	CHECK_EQ_INT(raft_config(&T[1].r)->n, 3);
	CHECK_EQ_INT(raft_conf_voters(raft_config(&T[1].r)), 2);
	cluster_fini();
}

static void cap_inflight_and_batch(void)
{
	cluster(3);
	base_opt.caps.max_inflight_msgs = 2;
	base_opt.caps.max_msg_entries = 3;
	for (int k = 1; k <= 3; k++) {
		node_down(k);
		node_boot(k);
	}
	REQUIRE(elect(1));
	run(2);
	drop_queue();
	for (int i = 0; i < 20; i++)
		REQUIRE(propose_str(1, "f", NULL) == 0);
	ready(1);
	/* per follower: at most 2 messages carrying entries, at most 3 each */
	static struct raft_entry ents[256];
	int with_entries = 0;
	for (int i = 0; i < q_len; i++) {
		const struct tmsg *q = &Q[(q_head + i) % TQ];
		struct raft_msg m;
		REQUIRE(raft_msg_decode(q->buf, q->len, &m, ents, 256) == 0);
		if (m.type == RAFT_MSG_APPEND && m.to == 2 && m.append.n_entries) {
			with_entries++;
			CHECK(m.append.n_entries <= 3);
		}
	}
	CHECK_EQ_INT(with_entries, 2);
	run(20);
	CHECK_EQ_INT(T[2].sm_index, raft_last_index(&T[1].r));
	cluster_fini();
}

static void cap_msg_bytes(void)
{
	cluster(3);
	base_opt.caps.max_msg_bytes = 256;   /* == max_entry_bytes */
	base_opt.caps.max_inflight_msgs = 1; /* entries queue up behind the one in flight */
	for (int k = 1; k <= 3; k++) {
		node_down(k);
		node_boot(k);
	}
	REQUIRE(elect(1));
	run(2);
	uint8_t b[256];
	memset(b, 7, sizeof b);
	REQUIRE(raft_propose(&T[1].r, b, 256, NULL) == 0); /* exactly the cap: alone */
	REQUIRE(raft_propose(&T[1].r, b, 128, NULL) == 0); /* 128 + 128 = 256: together */
	REQUIRE(raft_propose(&T[1].r, b, 128, NULL) == 0);
	REQUIRE(raft_propose(&T[1].r, b, 129, NULL) == 0); /* 129 + 128 > 256: split */
	REQUIRE(raft_propose(&T[1].r, b, 128, NULL) == 0);
	ready(1);
	static struct raft_entry ents[256];
	uint32_t sizes[16];
	int msgs = 0;
	while (q_len && msgs < 16) {
		const struct tmsg *q = &Q[q_head];
		struct raft_msg m;
		REQUIRE(raft_msg_decode(q->buf, q->len, &m, ents, 256) == 0);
		if (m.type == RAFT_MSG_APPEND && m.to == 2 && m.append.n_entries) {
			uint32_t bytes = 0;
			for (uint32_t e = 0; e < m.append.n_entries; e++)
				bytes += m.append.entries[e].len;
			CHECK(bytes <= 256);
			sizes[msgs++] = bytes;
		}
		deliver(1);
	}
	REQUIRE(msgs == 4); /* [256] [128 128] [129] [128] */
	CHECK_EQ_INT(sizes[0], 256);
	CHECK_EQ_INT(sizes[1], 256);
	CHECK_EQ_INT(sizes[2], 129);
	CHECK_EQ_INT(sizes[3], 128);
	run(3); /* the next heartbeat carries the final commit index */
	CHECK_EQ_INT(T[2].sm_index, raft_last_index(&T[1].r));
	cluster_fini();
}

static void cap_outbox(void)
{
	cluster(3);
	base_opt.caps.max_outbox_msgs = 32; /* the minimum (2 * RAFT_MAX_SERVERS) */
	base_opt.caps.max_inflight_msgs = 64;
	base_opt.caps.max_msg_entries = 1;
	for (int k = 1; k <= 3; k++) {
		node_down(k);
		node_boot(k);
	}
	REQUIRE(elect(1));
	run(2);
	/* 8 read rounds and 20 one-entry appends per peer, without draining */
	for (int i = 0; i < 8; i++)
		raft_read_index(&T[1].r, (uint64_t)i);
	for (int i = 0; i < 20; i++)
		raft_propose(&T[1].r, "o", 1, NULL);
	struct raft_ready rd;
	REQUIRE(raft_ready_get(&T[1].r, &rd) == 1);
	CHECK(rd.n_msgs <= 32);
	CHECK(T[1].r.stats.outbox_dropped > 0);
	raft_ready_advance(&T[1].r);
	ready(1);
	run(20); /* drops are retried like losses */
	CHECK_EQ_INT(T[3].sm_index, raft_last_index(&T[1].r));
	cluster_fini();
}

static void init_rejects_bad_caps(void)
{
	opt_defaults();
	struct raft r;
	struct tnode n = {.rng = 1};
	struct raft_io io = io_of(&n);
	struct raft_options o = base_opt;
	CHECK_EQ_INT(raft_init(&r, &o, &io), 0);
	raft_fini(&r);
#define BAD(field, value)                                         \
	do {                                                      \
		o = base_opt;                                     \
		o.field = value;                                  \
		CHECK_EQ_INT(raft_init(&r, &o, &io), -ERR_INVAL); \
	} while (0)
	BAD(id, 0);
	BAD(election_ticks, 1);
	BAD(heartbeat_ticks, 10);
	BAD(caps.max_voters, 0);
	BAD(caps.max_voters, RAFT_MAX_VOTERS + 1);
	BAD(caps.max_servers, RAFT_MAX_SERVERS + 1);
	BAD(caps.max_entry_bytes, 0);
	BAD(caps.window_entries, 1);
	BAD(caps.window_bytes, 255); /* < max_entry_bytes */
	BAD(caps.max_msg_bytes, 255);
	BAD(caps.max_inflight_bytes, 1000);
	BAD(caps.max_inflight_msgs, 0);
	BAD(caps.max_msg_entries, 0);
	BAD(caps.max_apply_batch, 0);
	BAD(caps.max_pending_reads, 0);
	BAD(caps.max_outbox_msgs, 31);
	BAD(caps.max_outbox_bytes, 1024);
	BAD(caps.snapshot_threshold, 512);
	BAD(caps.max_log_entries, 1);
#undef BAD
	o = base_opt;
	io.rand = NULL;
	CHECK_EQ_INT(raft_init(&r, &o, &io), -ERR_INVAL);
}

static void busy_while_ready_out(void)
{
	cluster(1);
	REQUIRE(elect(1));
	REQUIRE(propose_str(1, "q", NULL) == 0);
	struct raft_ready rd;
	REQUIRE(raft_ready_get(&T[1].r, &rd) == 1);
	CHECK_EQ_INT(raft_ready_get(&T[1].r, &rd), -ERR_RAFT_BUSY);
	CHECK_EQ_INT(raft_tick(&T[1].r), -ERR_RAFT_BUSY);
	CHECK_EQ_INT(propose_str(1, "q", NULL), -ERR_RAFT_BUSY);
	CHECK_EQ_INT(raft_read_index(&T[1].r, 1), -ERR_RAFT_BUSY);
	struct raft_msg m = {.type = RAFT_MSG_VOTE, .from = 2, .to = 1, .term = 9};
	CHECK_EQ_INT(raft_step(&T[1].r, &m), -ERR_RAFT_BUSY);
	CHECK_EQ_INT(raft_ready_advance(&T[1].r), 0);
	CHECK_EQ_INT(raft_ready_advance(&T[1].r), -ERR_INVAL);
	cluster_fini();
}

static void bootstrap_rules(void)
{
	cluster(1);
	struct raft_conf c = {.n = 1, .s = {{.id = 1, .role = RAFT_VOTER}}};
	CHECK_EQ_INT(raft_bootstrap(&T[1].r, &c), -ERR_EXISTS); /* already has a log */
	cluster_fini();
	opt_defaults();
	struct raft r;
	struct tnode n = {.rng = 3};
	struct raft_io io = io_of(&n);
	REQUIRE(raft_init(&r, &base_opt, &io) == 0);
	struct raft_conf none = {0};
	CHECK_EQ_INT(raft_bootstrap(&r, &none), -ERR_INVAL);
	struct raft_conf dup = {.n = 2, .s = {{1, RAFT_VOTER}, {1, RAFT_VOTER}}};
	CHECK_EQ_INT(raft_bootstrap(&r, &dup), -ERR_INVAL);
	raft_fini(&r);
}

/* ---- wire codec --------------------------------------------------------------------- */

static const uint8_t payload[] = "payload-bytes";

static void sample_msgs(struct raft_msg *m, struct raft_entry *ents)
{
	memset(m, 0, 9 * sizeof *m);
	for (int i = 0; i < 9; i++) {
		m[i].type = (uint8_t)(i + 1);
		m[i].from = 0x0102030405060708ull;
		m[i].to = 2;
		m[i].term = 77;
	}
	m[0].vote.last_index = 10;
	m[0].vote.last_term = 3;
	m[2].vote.last_index = 11;
	m[2].vote.transfer = 1;
	m[1].vote_resp.granted = 1;
	ents[0] = (struct raft_entry){5, 101, payload, 13, RAFT_ENTRY_NORMAL};
	ents[1] = (struct raft_entry){5, 102, NULL, 0, RAFT_ENTRY_NOOP};
	m[4].append.prev_index = 100;
	m[4].append.prev_term = 4;
	m[4].append.commit = 99;
	m[4].append.seq = 12;
	m[4].append.entries = ents;
	m[4].append.n_entries = 2;
	m[5].append_resp.ok = 1;
	m[5].append_resp.index = 102;
	m[5].append_resp.hint_index = 7;
	m[5].append_resp.hint_term = 2;
	m[5].append_resp.seq = 12;
	m[6].snap.index = 500;
	m[6].snap.term = 6;
	m[6].snap.conf.n = 2;
	m[6].snap.conf.s[0] = (struct raft_server){1, RAFT_VOTER};
	m[6].snap.conf.s[1] = (struct raft_server){9, RAFT_LEARNER};
	m[6].snap.offset = 4096;
	m[6].snap.data = payload;
	m[6].snap.len = 13;
	m[6].snap.done = 1;
	m[7].snap_resp.index = 500;
	m[7].snap_resp.next_offset = 8192;
}

static void codec_round_trip(void)
{
	struct raft_msg m[9], d;
	struct raft_entry ents[2], dents[4];
	uint8_t buf[512], again[512];
	sample_msgs(m, ents);
	for (int i = 0; i < 9; i++) {
		int n = raft_msg_encode(&m[i], buf, sizeof buf);
		REQUIRE(n > 0);
		CHECK_EQ_INT((size_t)n, raft_msg_size(&m[i]));
		CHECK_EQ_INT(raft_msg_decode(buf, (size_t)n, &d, dents, 4), 0);
		CHECK_EQ_INT(d.type, m[i].type);
		CHECK(d.from == m[i].from && d.to == m[i].to && d.term == m[i].term);
		CHECK_EQ_INT(raft_msg_encode(&d, again, sizeof again), n);
		CHECK(memcmp(buf, again, (size_t)n) == 0);
		/* one byte short of the size: the encoder refuses, writes nothing past */
		CHECK_EQ_INT(raft_msg_encode(&m[i], buf, (size_t)n - 1), -ERR_BUF_FULL);
	}
	int n = raft_msg_encode(&m[4], buf, sizeof buf);
	REQUIRE(raft_msg_decode(buf, (size_t)n, &d, dents, 4) == 0);
	REQUIRE(d.append.n_entries == 2);
	CHECK_EQ_INT(d.append.entries[1].index, 102);
	CHECK_EQ_MEM(d.append.entries[0].data, d.append.entries[0].len, "payload-bytes");
	CHECK(buf[0] == 1 && buf[1] == RAFT_MSG_APPEND && buf[2] == 0x08); /* little-endian */
}

static void codec_every_truncation(void)
{
	struct raft_msg m[9], d;
	struct raft_entry ents[2], dents[4];
	uint8_t buf[512];
	sample_msgs(m, ents);
	for (int i = 0; i < 9; i++) {
		int n = raft_msg_encode(&m[i], buf, sizeof buf);
		REQUIRE(n > 0);
		for (int len = 0; len < n; len++)
			CHECK_EQ_INT(raft_msg_decode(buf, (size_t)len, &d, dents, 4), -ERR_PARSE);
		buf[n] = 0; /* one trailing byte */
		CHECK_EQ_INT(raft_msg_decode(buf, (size_t)n + 1, &d, dents, 4), -ERR_PARSE);
	}
	CHECK_EQ_INT(raft_msg_decode(NULL, 0, &d, dents, 4), -ERR_PARSE);
}

static void codec_rejects_corruption(void)
{
	struct raft_msg m[9], d;
	struct raft_entry ents[2], dents[4];
	uint8_t buf[512], bad[512];
	sample_msgs(m, ents);
	int n = raft_msg_encode(&m[4], buf, sizeof buf); /* APPEND */
	REQUIRE(n > 0);
#define MUTATE(off, val, want)                                                     \
	do {                                                                       \
		memcpy(bad, buf, (size_t)n);                                       \
		bad[off] = (uint8_t)(val);                                         \
		CHECK_EQ_INT(raft_msg_decode(bad, (size_t)n, &d, dents, 4), want); \
	} while (0)
	MUTATE(0, 2, -ERR_PARSE);                    /* version */
	MUTATE(1, 0, -ERR_PARSE);                    /* type 0 */
	MUTATE(1, 10, -ERR_PARSE);                   /* type past the last */
	MUTATE(1, RAFT_MSG_APPEND_RESP, -ERR_PARSE); /* body of another size */
	for (int i = 2; i < 10; i++)
		bad[i] = 0;
	memcpy(bad, buf, (size_t)n);
	memset(bad + 2, 0, 8); /* from = 0 */
	CHECK_EQ_INT(raft_msg_decode(bad, (size_t)n, &d, dents, 4), -ERR_PARSE);
	/* entry count: 26 header + 32 fixed = offset 58 */
	MUTATE(58, 3, -ERR_PARSE);           /* more entries than bytes */
	MUTATE(61, 0x80, -ERR_PARSE);        /* absurd count */
	MUTATE(58 + 4 + 8, 0, -ERR_PARSE);   /* entry type 0 */
	MUTATE(58 + 4 + 8, 9, -ERR_PARSE);   /* entry type unknown */
	MUTATE(58 + 4 + 9, 200, -ERR_PARSE); /* entry length past the end */
	MUTATE(58 + 4 + 12, 0xff, -ERR_PARSE);
	/* more entries than the caller's array */
	CHECK_EQ_INT(raft_msg_decode(buf, (size_t)n, &d, dents, 1), -ERR_TOO_LARGE);
	/* flags must be 0 or 1 */
	n = raft_msg_encode(&m[1], buf, sizeof buf);
	MUTATE(26, 2, -ERR_PARSE);
	/* snapshot: configuration count and roles */
	n = raft_msg_encode(&m[6], buf, sizeof buf);
	MUTATE(42, 17, -ERR_PARSE);        /* n > RAFT_MAX_SERVERS */
	MUTATE(42 + 4 + 8, 3, -ERR_PARSE); /* role */
	memcpy(bad, buf, (size_t)n);
	memset(bad + 46, 0, 8); /* id 0 */
	CHECK_EQ_INT(raft_msg_decode(bad, (size_t)n, &d, dents, 4), -ERR_PARSE);
#undef MUTATE
	/* flipping any single byte never crashes and either parses or is refused */
	for (int i = 0; i < n; i++)
		for (int b = 0; b < 8; b++) {
			memcpy(bad, buf, (size_t)n);
			bad[i] ^= (uint8_t)(1 << b);
			int rc = raft_msg_decode(bad, (size_t)n, &d, dents, 4);
			CHECK(rc == 0 || rc == -ERR_PARSE);
		}
}

static void conf_codec(void)
{
	struct raft_conf c = {.n = 3, .s = {{1, RAFT_VOTER}, {2, RAFT_LEARNER}, {3, RAFT_VOTER}}},
			 d;
	uint8_t buf[RAFT_CONF_MAX_BYTES];
	int n = raft_conf_encode(&c, buf, sizeof buf);
	REQUIRE(n == 4 + 27);
	CHECK_EQ_INT(raft_conf_decode(buf, (size_t)n, &d), 0);
	CHECK_EQ_INT(d.n, 3);
	CHECK_EQ_INT(raft_conf_voters(&d), 2);
	CHECK_EQ_INT(raft_conf_role(&d, 2), RAFT_LEARNER);
	CHECK_EQ_INT(raft_conf_encode(&c, buf, (size_t)n - 1), -ERR_BUF_FULL);
	CHECK_EQ_INT(raft_conf_decode(buf, (size_t)n - 1, &d), -ERR_PARSE);
	buf[4 + 9] = 1; /* duplicate id 1 */
	CHECK_EQ_INT(raft_conf_decode(buf, (size_t)n, &d), -ERR_PARSE);
	n = raft_conf_encode(&c, buf, sizeof buf);
	buf[4 + 8] = 0; /* role 0 */
	CHECK_EQ_INT(raft_conf_decode(buf, (size_t)n, &d), -ERR_PARSE);
	struct raft_conf ten = {.n = 10};
	for (uint32_t i = 0; i < 10; i++)
		ten.s[i] = (struct raft_server){i + 1, RAFT_VOTER};
	n = raft_conf_encode(&ten, buf, sizeof buf);
	CHECK_EQ_INT(raft_conf_decode(buf, (size_t)n, &d), -ERR_PARSE); /* > 9 voters */
	CHECK_EQ_INT(raft_conf_decode(buf, 3, &d), -ERR_PARSE);
	CHECK_EQ_STR(raft_role_name(RAFT_LEADER), "leader");
	CHECK_EQ_STR(raft_msg_type_name(RAFT_MSG_TIMEOUT_NOW), "timeout_now");
	CHECK_EQ_STR(err_name(-ERR_RAFT_NOT_LEADER), "RAFT_NOT_LEADER");
}

TEST_MAIN(election_with_prevote, prevote_keeps_partitioned_term, vote_requires_up_to_date_log,
	  one_vote_per_term, term_rules, check_quorum_steps_down, lease_ignores_disruptive_votes,
	  replicate_commit_apply, append_consistency_check, conflict_truncation,
	  commit_rule_figure8, single_node_cluster, restart_recovers_state,
	  apply_in_order_in_batches, lagging_follower_reads_storage, storage_errors,
	  snapshot_and_install, snapshot_follower_restart_midway, learner_then_promotion,
	  promotion_refused_when_lagging, remove_the_leader, bootstrap_node_hands_over,
	  remove_last_voter_refused, transfer_leadership, transfer_waits_for_catch_up,
	  transfer_times_out, read_index_confirmed_by_quorum, read_index_partitioned_leader,
	  read_index_waits_for_term_commit, cap_entry_size, cap_window_unstable, cap_window_bytes,
	  cap_log_length, cap_pending_reads, cap_voters_and_servers, cap_inflight_and_batch,
	  cap_msg_bytes, cap_outbox, init_rejects_bad_caps, busy_while_ready_out, bootstrap_rules,
	  codec_round_trip, codec_every_truncation, codec_rejects_corruption, conf_codec)
