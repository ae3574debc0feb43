/* raft_read.c — linearizable reads without writing to the log: ReadIndex
 * (thesis §6.4).
 *
 * 1. The leader must have committed an entry of its current term, so its
 *    commit index is at least that of any earlier leader; until then a read
 *    waits (its round is assigned in raft_reads_on_commit).
 * 2. It records its commit index as the read index.
 * 3. It starts a new heartbeat round (hb_seq + 1) and waits until a majority
 *    of the voters of its configuration answered a message of that round or
 *    a later one: then no other leader with a newer term existed when the read
 *    arrived. A leader cut off from the majority never gets there, and drops
 *    its reads (status -ERR_RAFT_NOT_LEADER) when it steps down.
 * 4. The caller answers once its state machine applied the read index.
 *
 * Reads are kept in arrival order; rounds only grow, so confirmations
 * always release a prefix.
 */
#define RAFT_INTERNAL
#include "raft/raft.h"

#include "base/base_err.h"

static int term_committed(const struct raft *r)
{
	return r->term_start && r->commit >= r->term_start;
}

/* Highest heartbeat round acknowledged by a quorum of voters. */
static uint64_t quorum_seq(struct raft *r)
{
	uint64_t v[RAFT_MAX_SERVERS];
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->conf.n; i++) {
		const struct raft_server *s = &r->conf.s[i];
		if (s->role != RAFT_VOTER)
			continue;
		uint64_t x = 0;
		if (s->id == r->opt.id) {
			x = r->hb_seq;
		} else {
			const struct raft_progress *pr = raft_progress_of(r, s->id);
			x = pr ? pr->ack_seq : 0;
		}
		uint32_t j = n++;
		while (j > 0 && v[j - 1] < x) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
	int q = raft_quorum(r);
	return n >= (uint32_t)q ? v[q - 1] : 0;
}

void raft_reads_on_ack(struct raft *r)
{
	if (r->role != RAFT_LEADER || r->n_reads == 0)
		return;
	uint64_t q = quorum_seq(r);
	uint32_t done = 0;
	while (done < r->n_reads && r->reads[done].seq && r->reads[done].seq <= q) {
		const struct raft_pending_read *p = &r->reads[done];
		r->read_out[r->n_read_out++] =
			(struct raft_read_result){.ctx = p->ctx, .index = p->index, .status = 0};
		r->stats.reads_served++;
		done++;
	}
	if (!done)
		return;
	for (uint32_t i = done; i < r->n_reads; i++)
		r->reads[i - done] = r->reads[i];
	r->n_reads -= done;
}

void raft_reads_on_commit(struct raft *r)
{
	if (!term_committed(r) || r->n_reads == 0)
		return;
	int started = 0;
	for (uint32_t i = 0; i < r->n_reads; i++) {
		if (r->reads[i].seq)
			continue;
		if (!started) {
			r->hb_seq++;
			started = 1;
		}
		r->reads[i].index = r->commit;
		r->reads[i].seq = r->hb_seq;
	}
	if (started) {
		raft_bcast_heartbeat(r);
		raft_reads_on_ack(r);
	}
}

void raft_reads_drop(struct raft *r)
{
	for (uint32_t i = 0; i < r->n_reads; i++)
		r->read_out[r->n_read_out++] = (struct raft_read_result){
			.ctx = r->reads[i].ctx, .index = 0, .status = -ERR_RAFT_NOT_LEADER};
	r->n_reads = 0;
}

int raft_read_index(struct raft *r, uint64_t ctx)
{
	int busy = raft_check(r);
	if (busy)
		return busy;
	if (r->role != RAFT_LEADER)
		return -ERR_RAFT_NOT_LEADER;
	if (r->n_reads + r->n_read_out >= r->opt.caps.max_pending_reads)
		return -ERR_RAFT_READS_FULL;
	if (RAFT_BUG(r, 4)) {
		/* planted: answer from the local commit index, no quorum round */
		r->read_out[r->n_read_out++] =
			(struct raft_read_result){.ctx = ctx, .index = r->commit, .status = 0};
		return 0;
	}
	struct raft_pending_read *p = &r->reads[r->n_reads++];
	p->ctx = ctx;
	p->index = 0;
	p->seq = 0;
	if (term_committed(r)) {
		p->index = r->commit;
		p->seq = ++r->hb_seq;
		if (quorum_seq(r) < p->seq)
			raft_bcast_heartbeat(r);
		raft_reads_on_ack(r);
	}
	return 0;
}
