/* raft_snapshot.c — log compaction and InstallSnapshot (paper §7, Figure 13;
 * thesis ch. 5).
 *
 * Taking a snapshot: the ready sets want_snapshot once the applied index is
 * caps.snapshot_threshold entries past the last snapshot. The caller saves
 * the state machine with raft_snapshot_meta() (index, term, configuration as
 * of the applied index), then calls raft_snapshot_done(); storage may then
 * drop entries up to index - caps.snapshot_trailing, which keeps a short tail
 * for followers that lag a little.
 *
 * Sending: a follower that needs a compacted entry is sent the snapshot in
 * chunks of at most caps.max_msg_bytes, read through io->snapshot_read, one
 * chunk outstanding at a time; the follower answers each with the offset it
 * needs next. A chunk lost or a follower restarted mid-way costs one
 * heartbeat: the leader resends the chunk at the acknowledged offset, and a
 * follower that lost its partial blob answers offset 0.
 *
 * Receiving: every accepted chunk is handed to the caller in the ready
 * (raft_snapshot_in) to be written before the answer goes out; the last one
 * also tells it to install the blob, drop the covered log and restore the
 * state machine.
 */
#define RAFT_INTERNAL
#include "raft/raft.h"

#include "base/base_err.h"

#include <string.h>

void raft_send_snap_chunk(struct raft *r, struct raft_progress *pr)
{
	if (!r->io.snapshot_read || r->snap_index == 0)
		return;
	if (pr->snap_index != r->snap_index) { /* a newer snapshot replaced it */
		pr->snap_index = r->snap_index;
		pr->snap_offset = 0;
	}
	uint32_t out_mark = r->n_out;
	size_t arena_mark = r->arena_used;
	struct raft_msg *m = raft_send(r, RAFT_MSG_SNAP, pr->id);
	if (!m)
		return;
	uint8_t *buf = raft_arena_alloc(r, 0);
	size_t cap = buf ? r->arena_cap - r->arena_used : 0;
	if (cap > r->opt.caps.max_msg_bytes)
		cap = r->opt.caps.max_msg_bytes;
	uint64_t total = 0;
	int n = buf && cap ? r->io.snapshot_read(r->io.ctx, pr->snap_index, pr->snap_offset, buf,
						 cap, &total)
			   : -ERR_BUF_FULL;
	if (n < 0 || (size_t)n > cap || pr->snap_offset + (uint64_t)n > total ||
	    (n == 0 && pr->snap_offset < total)) {
		r->n_out = out_mark; /* retry on the next heartbeat */
		r->arena_used = arena_mark;
		return;
	}
	r->arena_used += (size_t)n;
	m->snap.index = r->snap_index;
	m->snap.term = r->snap_term;
	m->snap.conf = r->snap_conf;
	m->snap.offset = pr->snap_offset;
	m->snap.data = buf;
	m->snap.len = (uint32_t)n;
	m->snap.done = pr->snap_offset + (uint64_t)n >= total;
	r->stats.snapshots_sent++;
}

void raft_handle_snap_resp(struct raft *r, const struct raft_msg *m)
{
	if (r->role != RAFT_LEADER)
		return;
	struct raft_progress *pr = raft_progress_of(r, m->from);
	if (!pr)
		return;
	pr->active = 1;
	if (pr->state != RAFT_PR_SNAPSHOT || m->snap_resp.index != pr->snap_index)
		return; /* stale */
	if (m->snap_resp.done) {
		if (pr->match < pr->snap_index)
			pr->match = pr->snap_index;
		pr->state = RAFT_PR_PROBE;
		pr->next = pr->match + 1;
		pr->probe_sent = 0;
		raft_maybe_commit(r);
		if (r->role == RAFT_LEADER)
			raft_send_append(r, pr, 0);
		return;
	}
	/* Move on only when the follower made progress (or lost its partial
	 * blob); duplicates wait for the heartbeat, so copies do not multiply. */
	if (m->snap_resp.next_offset == pr->snap_offset)
		return;
	pr->snap_offset = m->snap_resp.next_offset;
	raft_send_snap_chunk(r, pr);
}

static void snap_reply(struct raft *r, uint64_t to, uint64_t index, uint64_t next, int done)
{
	struct raft_msg *o = raft_send(r, RAFT_MSG_SNAP_RESP, to);
	if (!o)
		return;
	o->snap_resp.index = index;
	o->snap_resp.next_offset = next;
	o->snap_resp.done = (uint8_t)done;
}

static int snap_conf_ok(const struct raft_conf *c)
{
	if (c->n > RAFT_MAX_SERVERS || raft_conf_voters(c) > RAFT_MAX_VOTERS)
		return 0;
	for (uint32_t i = 0; i < c->n; i++) {
		if (c->s[i].id == 0 || (c->s[i].role != RAFT_VOTER && c->s[i].role != RAFT_LEARNER))
			return 0;
		for (uint32_t j = 0; j < i; j++)
			if (c->s[j].id == c->s[i].id)
				return 0;
	}
	return 1;
}

void raft_handle_snap(struct raft *r, const struct raft_msg *m)
{
	if (r->role != RAFT_FOLLOWER)
		raft_become_follower(r, r->term, m->from);
	r->leader = m->from;
	raft_reset_timeout(r);

	uint64_t idx = m->snap.index;
	if (m->snap.len > r->opt.caps.max_msg_bytes || idx == 0 || m->snap.term == 0 ||
	    m->snap.term > m->term || !snap_conf_ok(&m->snap.conf))
		return; /* malformed */
	if (idx <= r->commit) {
		/* We already hold everything it covers (Figure 13: ignore). */
		snap_reply(r, m->from, idx, 0, 1);
		return;
	}
	if (m->snap.offset == 0) {
		r->rsnap_index = idx;
		r->rsnap_term = m->snap.term;
		r->rsnap_offset = 0;
	}
	if (idx != r->rsnap_index || m->snap.term != r->rsnap_term) {
		snap_reply(r, m->from, idx, 0, 0); /* we lost it: start over */
		return;
	}
	if (m->snap.offset != r->rsnap_offset) {
		snap_reply(r, m->from, idx, r->rsnap_offset, 0);
		return;
	}
	if (r->has_rsnap)
		return; /* one chunk per ready; the leader resends */

	memcpy(r->rsnap_buf, m->snap.data, m->snap.len);
	r->rsnap = (struct raft_snapshot_in){.index = idx,
					     .term = m->snap.term,
					     .conf = m->snap.conf,
					     .offset = m->snap.offset,
					     .data = r->rsnap_buf,
					     .len = m->snap.len};
	r->has_rsnap = 1;
	r->rsnap_offset += m->snap.len;
	if (!m->snap.done) {
		snap_reply(r, m->from, idx, r->rsnap_offset, 0);
		return;
	}

	/* Figure 13 steps 6–8: keep the log after the snapshot if it holds the
	 * snapshot's last entry, else discard it; reset the state machine. */
	uint64_t t;
	int keep = idx <= r->last_index && raft_term_at(r, idx, &t) == 0 && t == m->snap.term;
	if (keep)
		raft_log_drop_upto(r, idx);
	else
		raft_log_reset(r, idx, m->snap.term);
	r->snap_index = idx;
	r->snap_term = m->snap.term;
	r->snap_conf = m->snap.conf;
	r->commit = idx;
	r->applied = idx;
	r->conf_applied = m->snap.conf;
	r->conf_applied_index = idx;
	if (raft_conf_rebuild(r))
		raft_fail_stop(r);
	r->rsnap.last = 1;
	r->rsnap.keep_log = (uint8_t)keep;
	r->rsnap_index = 0;
	r->rsnap_term = 0;
	r->rsnap_offset = 0;
	r->snap_asked = 0;
	r->stats.snapshots_installed++;
	snap_reply(r, m->from, idx, 0, 1);
}

int raft_snapshot_meta(struct raft *r, struct raft_snapshot_meta *m)
{
	int busy = raft_check(r);
	if (busy)
		return busy;
	m->index = r->applied;
	m->conf = r->conf_applied;
	if (raft_term_at(r, r->applied, &m->term))
		return -ERR_RAFT_STORAGE;
	return 0;
}

int raft_snapshot_done(struct raft *r, const struct raft_snapshot_meta *m, uint64_t *compact_upto)
{
	int busy = raft_check(r);
	if (busy)
		return busy;
	if (m->index <= r->snap_index || m->index > r->applied || !snap_conf_ok(&m->conf))
		return -ERR_INVAL;
	r->snap_index = m->index;
	r->snap_term = m->term;
	r->snap_conf = m->conf;
	r->snap_asked = 0;
	uint64_t upto = m->index > r->opt.caps.snapshot_trailing
				? m->index - r->opt.caps.snapshot_trailing
				: 0;
	if (upto >= r->log_first)
		r->log_first = upto + 1;
	if (compact_upto)
		*compact_upto = r->log_first - 1;
	return 0;
}
