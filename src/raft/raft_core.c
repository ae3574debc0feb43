/* raft_core.c — life cycle, the input functions, term rules and the ready.
 *
 * Contract (see raft.h): the core is a pure function of its inputs. Every
 * array is allocated here, in raft_init, from the caps; after that nothing
 * allocates. Time is raft_tick, randomness is io->rand, storage is io->log_*.
 * Outputs accumulate in the outbox and the log window until the caller takes
 * them with raft_ready_get and acknowledges them with raft_ready_advance.
 */
#define RAFT_INTERNAL
#include "raft/raft.h"

#include "base/base_err.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void raft_options_default(struct raft_options *o, uint64_t id)
{
	memset(o, 0, sizeof *o);
	o->id = id;
	o->election_ticks = 10;
	o->heartbeat_ticks = 2;
	o->caps = (struct raft_caps){
		.max_voters = RAFT_MAX_VOTERS,
		.max_servers = RAFT_MAX_SERVERS,
		.max_entry_bytes = 1u << 20,
		.window_entries = 4096,
		.window_bytes = 8u << 20,
		.max_log_entries = 65536,
		.snapshot_threshold = 8192,
		.snapshot_trailing = 1024,
		.max_inflight_msgs = 64,
		.max_inflight_bytes = 4u << 20,
		.max_msg_entries = 256,
		.max_msg_bytes = 1u << 20,
		.max_outbox_msgs = 256,
		.max_outbox_bytes = 4u << 20,
		.max_apply_batch = 256,
		.max_pending_reads = 1024,
	};
}

/* Each inconsistent cap is a start-up error, never a surprise later. */
static int caps_check(const struct raft_options *o)
{
	const struct raft_caps *c = &o->caps;
	if (o->id == 0 || o->election_ticks < 2 || o->heartbeat_ticks < 1 ||
	    o->heartbeat_ticks >= o->election_ticks || o->election_ticks > (1u << 20))
		return -ERR_INVAL;
	if (c->max_voters < 1 || c->max_voters > RAFT_MAX_VOTERS ||
	    c->max_servers < c->max_voters || c->max_servers > RAFT_MAX_SERVERS)
		return -ERR_INVAL;
	if (c->max_entry_bytes < 1 || c->max_entry_bytes > (1u << 30) || c->window_entries < 2 ||
	    c->window_bytes < c->max_entry_bytes || c->max_msg_bytes < c->max_entry_bytes ||
	    c->max_msg_bytes < RAFT_CONF_MAX_BYTES || c->max_inflight_bytes < c->max_msg_bytes)
		return -ERR_INVAL;
	if (c->max_inflight_msgs < 1 || c->max_msg_entries < 1 || c->max_apply_batch < 1 ||
	    c->max_pending_reads < 1 || c->max_outbox_msgs < 2 * RAFT_MAX_SERVERS)
		return -ERR_INVAL;
	/* One full AppendEntries (headers and payload) must fit in the outbox. */
	if ((uint64_t)c->max_outbox_bytes <
	    (uint64_t)c->max_msg_bytes + (uint64_t)c->max_msg_entries * sizeof(struct raft_entry) +
		    64)
		return -ERR_INVAL;
	if (c->max_log_entries < 2 || c->snapshot_threshold < 1 ||
	    c->snapshot_threshold >= c->max_log_entries)
		return -ERR_INVAL;
	return 0;
}

void raft_fini(struct raft *r)
{
	free(r->win);
	free(r->pay);
	free(r->infl_last);
	free(r->infl_size);
	free(r->reads);
	free(r->read_out);
	free(r->out);
	free(r->arena);
	free(r->rsnap_buf);
	free(r->rd_ents);
	free(r->rd_apply);
	free(r->apply_buf);
	memset(r, 0, sizeof *r);
}

int raft_init(struct raft *r, const struct raft_options *o, const struct raft_io *io)
{
	memset(r, 0, sizeof *r);
	int rc = caps_check(o);
	if (rc)
		return rc;
	if (!io || !io->rand)
		return -ERR_INVAL;
	r->opt = *o;
	r->io = *io;
	const struct raft_caps *c = &o->caps;
	size_t infl = (size_t)c->max_servers * c->max_inflight_msgs;
	r->win = calloc(c->window_entries, sizeof *r->win);
	r->pay = malloc(c->window_bytes);
	r->infl_last = calloc(infl, sizeof *r->infl_last);
	r->infl_size = calloc(infl, sizeof *r->infl_size);
	r->reads = calloc(c->max_pending_reads, sizeof *r->reads);
	r->read_out = calloc(c->max_pending_reads, sizeof *r->read_out);
	r->out = calloc(c->max_outbox_msgs, sizeof *r->out);
	r->arena = malloc(c->max_outbox_bytes);
	r->rsnap_buf = malloc(c->max_msg_bytes);
	r->rd_ents = calloc(c->window_entries, sizeof *r->rd_ents);
	r->rd_apply = calloc(c->max_apply_batch, sizeof *r->rd_apply);
	r->apply_buf = malloc(c->max_msg_bytes);
	if (!r->win || !r->pay || !r->infl_last || !r->infl_size || !r->reads || !r->read_out ||
	    !r->out || !r->arena || !r->rsnap_buf || !r->rd_ents || !r->rd_apply || !r->apply_buf) {
		raft_fini(r);
		return -ERR_NOMEM;
	}
	r->arena_cap = c->max_outbox_bytes;
	r->log_first = 1;
	r->win_first = 1;
	r->role = RAFT_FOLLOWER;
	raft_reset_timeout(r);
	return 0;
}

int raft_start(struct raft *r, const struct raft_boot *b)
{
	if (r->ready_out)
		return -ERR_RAFT_BUSY;
	if (b->last_index < b->snap_index || b->first_index > b->last_index + 1 ||
	    (b->snap_index && b->first_index > b->snap_index + 1) ||
	    (!b->snap_index && b->last_index && b->first_index != 1) ||
	    b->hs.commit > b->last_index || b->applied < b->snap_index ||
	    b->applied > b->hs.commit || (b->snap_index && b->snap_term == 0) ||
	    b->snap_term > b->hs.term || b->snap_conf.n > RAFT_MAX_SERVERS)
		return -ERR_INVAL;
	r->term = b->hs.term;
	r->vote = b->hs.vote;
	r->commit = b->hs.commit;
	r->hs_saved = b->hs;
	r->snap_index = b->snap_index;
	r->snap_term = b->snap_term;
	r->snap_conf = b->snap_conf;
	r->log_first = b->first_index ? b->first_index : 1;
	r->last_index = b->last_index;
	r->stable = b->last_index;
	r->stored_last = b->last_index;
	r->win_first = b->last_index + 1;
	r->win_n = 0;
	r->applied = b->applied;
	if (b->last_index == b->snap_index) {
		r->last_term = b->snap_term;
	} else {
		int rc = raft_term_at(r, b->last_index, &r->last_term);
		if (rc)
			return -ERR_RAFT_STORAGE;
		if (r->last_term > r->term)
			return -ERR_INVAL;
	}
	int rc = raft_conf_rebuild(r);
	if (rc)
		return rc;
	r->role = RAFT_FOLLOWER;
	r->leader = 0;
	raft_reset_timeout(r);
	return 0;
}

int raft_bootstrap(struct raft *r, const struct raft_conf *c)
{
	uint8_t buf[RAFT_CONF_MAX_BYTES];
	if (r->ready_out)
		return -ERR_RAFT_BUSY;
	if (r->term != 0 || r->last_index != 0 || r->snap_index != 0)
		return -ERR_EXISTS;
	if (raft_conf_voters(c) < 1 || raft_conf_voters(c) > r->opt.caps.max_voters ||
	    c->n > r->opt.caps.max_servers)
		return -ERR_INVAL;
	int n = raft_conf_encode(c, buf, sizeof buf);
	if (n < 0)
		return n;
	struct raft_conf check;
	if (raft_conf_decode(buf, (size_t)n, &check))
		return -ERR_INVAL; /* duplicate or zero ids */
	r->term = 1;
	int rc = raft_log_append(r, 1, RAFT_ENTRY_CONF, buf, (uint32_t)n);
	if (rc) {
		r->term = 0;
		return rc;
	}
	raft_conf_set(r, c, 1);
	return 0;
}

/* ---- helpers shared by the other files --------------------------------- */

uint32_t raft_conf_voters(const struct raft_conf *c)
{
	uint32_t v = 0;
	for (uint32_t i = 0; i < c->n; i++)
		v += c->s[i].role == RAFT_VOTER;
	return v;
}

int raft_conf_role(const struct raft_conf *c, uint64_t id)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->s[i].id == id)
			return c->s[i].role;
	return 0;
}

int raft_quorum(const struct raft *r)
{
	return (int)raft_conf_voters(&r->conf) / 2 + 1;
}

int raft_self_voter(const struct raft *r)
{
	return raft_conf_role(&r->conf, r->opt.id) == RAFT_VOTER;
}

/* Who may start an election: a voter of the latest configuration, and also a
 * voter of the previous one while the latest is not known to be committed.
 * Without the second case a leader that appended its own removal and then
 * lost leadership before committing it would never campaign, although the
 * cluster may still be in the old configuration and need its vote and its
 * log. Votes are always counted in the latest configuration; consecutive
 * single-server configurations share a majority (thesis §4.1), so this adds
 * no second leader. */
int raft_can_campaign(const struct raft *r)
{
	if (raft_self_voter(r))
		return 1;
	return r->conf_index > r->commit && raft_conf_role(&r->conf_prev, r->opt.id) == RAFT_VOTER;
}

/* Paper §5.2: a fresh random election timeout in [e, 2e) every reset. */
void raft_reset_timeout(struct raft *r)
{
	r->election_elapsed = 0;
	r->rand_timeout =
		r->opt.election_ticks + (uint32_t)(r->io.rand(r->io.ctx) % r->opt.election_ticks);
}

/* 0, or the error every input returns: a ready is out, or the core stopped. */
int raft_check(const struct raft *r)
{
	if (r->dead)
		return -ERR_RAFT_STORAGE;
	return r->ready_out ? -ERR_RAFT_BUSY : 0;
}

void raft_fail_stop(struct raft *r)
{
	r->dead = 1;
	if (!r->err)
		r->err = -ERR_RAFT_STORAGE;
}

/* Bump allocation in the outbox arena, 8-byte aligned; NULL when full. */
void *raft_arena_alloc(struct raft *r, size_t n)
{
	size_t at = (r->arena_used + 7) & ~(size_t)7;
	if (at > r->arena_cap || n > r->arena_cap - at)
		return NULL;
	r->arena_used = at + n;
	return r->arena + at;
}

/* Queue a message stamped with the current term. NULL when the outbox is
 * full: the message is dropped, which Raft tolerates like a network loss
 * (heartbeats and retries resend); counted in stats.outbox_dropped. */
struct raft_msg *raft_send(struct raft *r, uint8_t type, uint64_t to)
{
	if (r->n_out == r->opt.caps.max_outbox_msgs) {
		r->stats.outbox_dropped++;
		return NULL;
	}
	struct raft_msg *m = &r->out[r->n_out++];
	memset(m, 0, sizeof *m);
	m->type = type;
	m->from = r->opt.id;
	m->to = to;
	m->term = r->term;
	return m;
}

/* A new term: forget the vote and drop queued messages of older terms. An
 * acknowledgement queued in term t must not be sent once entries it covers
 * may have been replaced under a later term, before the ready goes out. */
void raft_set_term(struct raft *r, uint64_t term)
{
	assert(term > r->term);
	r->term = term;
	r->vote = 0;
	uint32_t k = 0;
	for (uint32_t i = 0; i < r->n_out; i++)
		if (r->out[i].term >= term)
			r->out[k++] = r->out[i];
	r->n_out = k;
}

/* ---- inputs ------------------------------------------------------------ */

int raft_tick(struct raft *r)
{
	int rc = raft_check(r);
	if (rc)
		return rc;
	if (r->role == RAFT_LEADER) {
		raft_tick_leader_checks(r);
		if (r->role == RAFT_LEADER)
			raft_tick_replication(r);
		return 0;
	}
	if (r->election_elapsed < UINT32_MAX)
		r->election_elapsed++;
	/* Learners, removed servers and servers not yet added never campaign
	 * (thesis §4.2.1, §4.2.3). */
	if (raft_can_campaign(r) && r->election_elapsed >= r->rand_timeout)
		raft_campaign(r, 0);
	return 0;
}

static void reply_stale(struct raft *r, const struct raft_msg *m)
{
	/* A message from an older term. Answer leaders and pre-candidates with
	 * our term so they learn it (paper §5.1); ignore the rest. */
	if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAP) {
		struct raft_msg *o = raft_send(r, RAFT_MSG_APPEND_RESP, m->from);
		if (o)
			o->append_resp.index =
				m->type == RAFT_MSG_APPEND ? m->append.prev_index : 0;
	} else if (m->type == RAFT_MSG_PREVOTE) {
		(void)raft_send(r, RAFT_MSG_PREVOTE_RESP, m->from); /* refused, our term */
	}
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
	int rc = raft_check(r);
	if (rc)
		return rc;
	if (!m || m->type < 1 || m->type > RAFT_MSG_TYPE_MAX || m->to != r->opt.id ||
	    m->from == 0 || m->from == r->opt.id)
		return -ERR_INVAL;
	if ((m->type == RAFT_MSG_APPEND && m->append.n_entries && !m->append.entries) ||
	    (m->type == RAFT_MSG_SNAP && m->snap.len && !m->snap.data))
		return -ERR_INVAL;

	if (m->term > r->term) {
		int prevote = m->type == RAFT_MSG_PREVOTE ||
			      (m->type == RAFT_MSG_PREVOTE_RESP && m->vote_resp.granted);
		if (prevote) {
			/* Pre-vote traffic never changes terms (thesis §9.6). */
		} else if (m->type == RAFT_MSG_VOTE && !m->vote.transfer && raft_in_lease(r)) {
			/* Thesis §4.2.3: a server that heard from a leader within
			 * the minimum election timeout neither updates its term
			 * nor votes; this keeps removed servers from disrupting. */
			return 0;
		} else {
			int from_leader = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAP ||
					  m->type == RAFT_MSG_TIMEOUT_NOW;
			raft_become_follower(r, m->term, from_leader ? m->from : 0);
		}
	} else if (m->term < r->term) {
		reply_stale(r, m);
		return 0;
	}

	switch (m->type) {
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE: raft_handle_vote(r, m); break;
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP: raft_handle_vote_resp(r, m); break;
	case RAFT_MSG_APPEND: raft_handle_append(r, m); break;
	case RAFT_MSG_APPEND_RESP: raft_handle_append_resp(r, m); break;
	case RAFT_MSG_SNAP: raft_handle_snap(r, m); break;
	case RAFT_MSG_SNAP_RESP: raft_handle_snap_resp(r, m); break;
	case RAFT_MSG_TIMEOUT_NOW: raft_handle_timeout_now(r, m); break;
	}
	return 0;
}

/* Room left in the log for entries a client asked for: the uncompacted
 * length is bounded so storage is bounded (caps.max_log_entries). */
int raft_log_room(const struct raft *r)
{
	return r->last_index - r->snap_index < r->opt.caps.max_log_entries;
}

int raft_propose(struct raft *r, const void *data, uint32_t len, uint64_t *index)
{
	int rc = raft_check(r);
	if (rc)
		return rc;
	if (r->role != RAFT_LEADER) {
		r->stats.proposals_refused++;
		return -ERR_RAFT_NOT_LEADER;
	}
	if (r->transfer_to) {
		r->stats.proposals_refused++;
		return -ERR_RAFT_TRANSFERRING;
	}
	if (len > r->opt.caps.max_entry_bytes) {
		r->stats.proposals_refused++;
		return -ERR_RAFT_ENTRY_TOO_LARGE;
	}
	if (!raft_log_room(r)) {
		r->stats.proposals_refused++;
		return -ERR_RAFT_LOG_FULL;
	}
	if (len && !data)
		return -ERR_INVAL;
	rc = raft_log_append(r, r->term, RAFT_ENTRY_NORMAL, data, len);
	if (rc) {
		r->stats.proposals_refused++;
		return rc;
	}
	if (index)
		*index = r->last_index;
	raft_bcast_append(r);
	raft_maybe_commit(r); /* a single voter commits on its own (after persisting) */
	return 0;
}

/* ---- outputs ----------------------------------------------------------- */

int raft_ready_get(struct raft *r, struct raft_ready *rd)
{
	int rc = raft_check(r);
	if (rc)
		return rc;
	memset(rd, 0, sizeof *rd);
	rd->term = r->term;
	rd->leader = r->leader;
	rd->role = r->role;
	int any = 0;

	if (r->has_rsnap) {
		rd->snapshot = &r->rsnap;
		any = 1;
	}
	rd->entries_first = r->stable + 1;
	if (r->stored_last > r->stable) {
		rd->truncate = 1;
		any = 1;
	}
	if (r->last_index > r->stable) {
		assert(r->stable + 1 >= r->win_first);
		uint32_t n = 0;
		for (uint64_t i = r->stable + 1; i <= r->last_index; i++) {
			const struct raft_win_ent *e = raft_log_win(r, i);
			r->rd_ents[n++] = (struct raft_entry){.term = e->term,
							      .index = i,
							      .data = raft_log_win_data(r, e),
							      .len = e->len,
							      .type = e->type};
		}
		rd->entries = r->rd_ents;
		rd->n_entries = n;
		any = 1;
	}

	r->rd_hs = (struct raft_hard_state){r->term, r->vote, r->commit};
	if (RAFT_BUG(r, 3))
		r->rd_hs.vote = 0; /* planted: votes are never made durable */
	if (memcmp(&r->rd_hs, &r->hs_saved, sizeof r->rd_hs) != 0) {
		rd->hs = &r->rd_hs;
		any = 1;
	}

	if (r->n_out) {
		rd->msgs = r->out;
		rd->n_msgs = r->n_out;
		any = 1;
	}

	r->rd_applied = r->applied;
	uint64_t hi = r->commit < r->last_index ? r->commit : r->last_index;
	if (hi > r->applied + r->opt.caps.max_apply_batch)
		hi = r->applied + r->opt.caps.max_apply_batch;
	if (hi > r->applied) {
		int n = raft_log_read(r, r->applied + 1, hi, r->opt.caps.max_apply_batch,
				      r->rd_apply, r->apply_buf, r->opt.caps.max_msg_bytes, 0);
		if (n > 0) {
			rd->committed = r->rd_apply;
			rd->n_committed = (uint32_t)n;
			r->rd_applied = r->applied + (uint64_t)n;
			any = 1;
		} else if (!any && !r->n_read_out) {
			return -ERR_RAFT_STORAGE;
		}
	}

	if (r->n_read_out) {
		rd->reads = r->read_out;
		rd->n_reads = r->n_read_out;
		any = 1;
	}

	/* Asked in every ready while it holds (a caller whose snapshot failed
	 * hears it again), but only the first time is it a reason for a ready:
	 * an idle caller is not woken up over and over. */
	if (r->rd_applied - r->snap_index >= r->opt.caps.snapshot_threshold) {
		rd->want_snapshot = 1;
		if (!r->snap_asked)
			any = 1;
		r->snap_asked = 1;
	}
	if (!any)
		return 0;
	r->rd_last = r->last_index;
	r->ready_out = 1;
	return 1;
}

int raft_ready_advance(struct raft *r)
{
	if (!r->ready_out)
		return -ERR_INVAL;
	r->ready_out = 0;
	r->stable = r->rd_last;
	r->stored_last = r->rd_last;
	r->hs_saved = r->rd_hs;
	r->n_out = 0;
	r->arena_used = 0;
	r->n_read_out = 0;
	r->has_rsnap = 0;
	for (uint64_t i = r->applied + 1; i <= r->rd_applied; i++) {
		const struct raft_entry *e = &r->rd_apply[i - r->applied - 1];
		if (e->type == RAFT_ENTRY_CONF)
			raft_conf_applied(r, e);
	}
	r->applied = r->rd_applied;
	/* Our own entries just became durable: they count for commitment now
	 * (paper §5.3; the leader may persist in parallel, thesis §10.2.1). */
	if (r->role == RAFT_LEADER)
		raft_maybe_commit(r);
	return 0;
}

const char *raft_role_name(int role)
{
	switch (role) {
	case RAFT_FOLLOWER: return "follower";
	case RAFT_PRECANDIDATE: return "precandidate";
	case RAFT_CANDIDATE: return "candidate";
	case RAFT_LEADER: return "leader";
	}
	return "?";
}

const char *raft_msg_type_name(int type)
{
	static const char *const names[] = {"?",         "prevote",    "prevote_resp", "vote",
					    "vote_resp", "append",     "append_resp",  "snap",
					    "snap_resp", "timeout_now"};
	return type >= 1 && type <= RAFT_MSG_TYPE_MAX ? names[type] : "?";
}
