/* raft_election.c — leader election (paper §5.2, §5.4.1), pre-vote (thesis
 * §9.6), check-quorum and the leader lease on votes (thesis §6.2, §4.2.3),
 * and leadership transfer (thesis §3.10).
 *
 * Contract: votes are counted only from voters of this server's latest
 * configuration (thesis §4.1); a vote granted here goes out in a ready whose
 * hard state records it, so it is durable before the candidate sees it.
 */
#define RAFT_INTERNAL
#include "raft/raft.h"

#include "base/base_err.h"

#include <string.h>

/* Thesis §4.2.3 / §6.2: we heard from a live leader (or are one) within the
 * minimum election timeout. */
int raft_in_lease(const struct raft *r)
{
	if (r->role == RAFT_LEADER)
		return 1;
	return r->leader != 0 && r->election_elapsed < r->opt.election_ticks;
}

static void votes_reset(struct raft *r)
{
	r->n_granted = 0;
	r->n_refused = 0;
}

/* Record one answer; returns 1 when won, -1 when lost, 0 undecided. */
static int votes_record(struct raft *r, uint64_t id, int granted)
{
	if (raft_conf_role(&r->conf, id) != RAFT_VOTER)
		return 0;
	for (uint32_t i = 0; i < r->n_granted; i++)
		if (r->granted[i] == id)
			return 0;
	for (uint32_t i = 0; i < r->n_refused; i++)
		if (r->refused[i] == id)
			return 0;
	if (granted)
		r->granted[r->n_granted++] = id;
	else
		r->refused[r->n_refused++] = id;
	int q = raft_quorum(r);
	if ((int)r->n_granted >= q)
		return 1;
	if ((int)r->n_refused > (int)raft_conf_voters(&r->conf) - q)
		return -1;
	return 0;
}

void raft_become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
	if (term > r->term)
		raft_set_term(r, term);
	if (r->role == RAFT_LEADER) {
		raft_reads_drop(r);
		r->transfer_to = 0;
		r->need_noop = 0;
	}
	r->role = RAFT_FOLLOWER;
	r->leader = leader;
	votes_reset(r);
	raft_reset_timeout(r);
}

static void send_vote_requests(struct raft *r, uint8_t type, uint64_t term, int transfer)
{
	for (uint32_t i = 0; i < r->conf.n; i++) {
		const struct raft_server *s = &r->conf.s[i];
		if (s->role != RAFT_VOTER || s->id == r->opt.id)
			continue;
		struct raft_msg *m = raft_send(r, type, s->id);
		if (!m)
			continue;
		m->term = term;
		m->vote.last_index = r->last_index;
		m->vote.last_term = r->last_term;
		m->vote.transfer = (uint8_t)transfer;
	}
}

/* Paper §5.2: increment the term, vote for ourselves, ask the others. */
static void become_candidate(struct raft *r, int transfer)
{
	raft_set_term(r, r->term + 1);
	r->vote = r->opt.id;
	r->role = RAFT_CANDIDATE;
	r->leader = 0;
	r->stats.elections++;
	votes_reset(r);
	raft_reset_timeout(r);
	/* Our own vote counts only if we are a voter of the latest configuration. */
	if (votes_record(r, r->opt.id, 1) == 1) {
		raft_become_leader(r);
		return;
	}
	send_vote_requests(r, RAFT_MSG_VOTE, r->term, transfer);
}

/* Thesis §9.6: ask first whether we could win, without touching any term,
 * so a server that was partitioned away cannot force a new term on rejoin. */
static void become_precandidate(struct raft *r)
{
	r->role = RAFT_PRECANDIDATE;
	r->leader = 0;
	r->stats.prevotes++;
	votes_reset(r);
	raft_reset_timeout(r);
	if (votes_record(r, r->opt.id, 1) == 1) {
		become_candidate(r, 0);
		return;
	}
	send_vote_requests(r, RAFT_MSG_PREVOTE, r->term + 1, 0);
}

void raft_campaign(struct raft *r, int transfer)
{
	if (!raft_can_campaign(r))
		return;
	if (transfer)
		become_candidate(r, 1);
	else
		become_precandidate(r);
}

void raft_become_leader(struct raft *r)
{
	r->role = RAFT_LEADER;
	r->leader = r->opt.id;
	r->transfer_to = 0;
	r->hb_seq = 0;
	r->heartbeat_elapsed = 0;
	r->check_elapsed = 0;
	r->election_elapsed = 0;
	r->term_start = 0;
	r->stats.leader_terms++;
	for (uint32_t i = 0; i < RAFT_MAX_SERVERS; i++)
		r->prs[i].id = 0;
	raft_progress_sync(r);
	/* Paper §8 / thesis §6.4: a no-op of the new term lets the leader learn
	 * the commit index (§5.4.2 forbids counting older entries alone). */
	if (raft_log_append(r, r->term, RAFT_ENTRY_NOOP, NULL, 0) == 0)
		r->term_start = r->last_index;
	else
		r->need_noop = 1;
	raft_bcast_append(r);
	raft_maybe_commit(r);
}

void raft_handle_vote(struct raft *r, const struct raft_msg *m)
{
	int pre = m->type == RAFT_MSG_PREVOTE;
	int up = raft_log_up_to_date(r, m->vote.last_index, m->vote.last_term);
	if (RAFT_BUG(r, 5))
		up = 1; /* planted: skip the election restriction of §5.4.1 */
	int grant;
	if (pre) {
		/* Grant a pre-vote if the candidate could win a real vote with
		 * us: a later term, a log at least as up-to-date, and no leader
		 * heard from recently. */
		grant = m->term > r->term && up && !raft_in_lease(r);
	} else {
		/* Paper §5.2, §5.4.1: one vote per term, first come first
		 * served, only for an up-to-date log. */
		int free_vote = r->vote == 0 || r->vote == m->from;
		if (RAFT_BUG(r, 2))
			free_vote = 1; /* planted: vote again in the same term */
		grant = m->term == r->term && free_vote && up;
	}
	struct raft_msg *o =
		raft_send(r, pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP, m->from);
	if (grant && !pre) {
		r->vote = m->from;
		raft_reset_timeout(r); /* paper §5.2: granting a vote resets the timer */
	}
	if (!o)
		return;
	o->term = grant && pre ? m->term : r->term;
	o->vote_resp.granted = (uint8_t)grant;
}

void raft_handle_vote_resp(struct raft *r, const struct raft_msg *m)
{
	int res;
	if (m->type == RAFT_MSG_PREVOTE_RESP) {
		if (r->role != RAFT_PRECANDIDATE)
			return;
		if (m->vote_resp.granted ? m->term != r->term + 1 : m->term > r->term)
			return;
		res = votes_record(r, m->from, m->vote_resp.granted);
		if (res > 0)
			become_candidate(r, 0);
		else if (res < 0)
			raft_become_follower(r, r->term, 0);
		return;
	}
	if (r->role != RAFT_CANDIDATE || m->term != r->term)
		return;
	res = votes_record(r, m->from, m->vote_resp.granted);
	if (res > 0)
		raft_become_leader(r);
	else if (res < 0)
		raft_become_follower(r, r->term, 0);
}

/* Thesis §3.10: the leader asks us to campaign at once, skipping pre-vote
 * and the lease, because it is about to stop leading. */
void raft_handle_timeout_now(struct raft *r, const struct raft_msg *m)
{
	if (r->role == RAFT_LEADER || m->from != r->leader || !raft_self_voter(r))
		return;
	r->stats.transfers++;
	raft_campaign(r, 1);
}

int raft_transfer(struct raft *r, uint64_t id)
{
	int busy = raft_check(r);
	if (busy)
		return busy;
	if (r->role != RAFT_LEADER)
		return -ERR_RAFT_NOT_LEADER;
	if (r->transfer_to)
		return -ERR_RAFT_TRANSFERRING;
	if (id == r->opt.id)
		return -ERR_INVAL;
	struct raft_progress *pr = raft_progress_of(r, id);
	if (!pr || raft_conf_role(&r->conf, id) != RAFT_VOTER)
		return -ERR_NOTFOUND;
	r->transfer_to = id;
	r->transfer_elapsed = 0;
	pr->timeout_sent = 0;
	raft_transfer_maybe_send(r, pr);
	if (!pr->timeout_sent)
		raft_send_append(r, pr, 0);
	return 0;
}

/* Send TimeoutNow once the target holds our whole log (thesis §3.10). */
void raft_transfer_maybe_send(struct raft *r, struct raft_progress *pr)
{
	if (r->transfer_to != pr->id || pr->timeout_sent || pr->match != r->last_index)
		return;
	struct raft_msg *m = raft_send(r, RAFT_MSG_TIMEOUT_NOW, pr->id);
	if (m)
		pr->timeout_sent = 1;
}

/* Leader, every tick: check-quorum (thesis §6.2) and the transfer deadline. */
void raft_tick_leader_checks(struct raft *r)
{
	if (++r->check_elapsed >= r->opt.election_ticks) {
		r->check_elapsed = 0;
		int active = raft_self_voter(r);
		for (uint32_t i = 0; i < RAFT_MAX_SERVERS; i++) {
			struct raft_progress *pr = &r->prs[i];
			if (!pr->id)
				continue;
			if (pr->active && raft_conf_role(&r->conf, pr->id) == RAFT_VOTER)
				active++;
			pr->active = 0;
		}
		if (active < raft_quorum(r)) {
			r->stats.check_quorum_stepdowns++;
			raft_become_follower(r, r->term, 0);
			return;
		}
	}
	if (r->transfer_to && ++r->transfer_elapsed >= r->opt.election_ticks)
		r->transfer_to = 0; /* gave up: accept proposals again */
	if (r->need_noop && raft_log_append(r, r->term, RAFT_ENTRY_NOOP, NULL, 0) == 0) {
		r->need_noop = 0;
		r->term_start = r->last_index;
		raft_bcast_append(r);
	}
}
