/* raft_replication.c — log replication (paper §5.3), the commit rule
 * (§5.4.2), and the follower side of AppendEntries.
 *
 * Leader side. Each follower or learner has a progress record (nextIndex,
 * matchIndex of Figure 2) in one of three states: PROBE sends one message at
 * a time until the match point is found; REPLICATE pipelines up to
 * caps.max_inflight_msgs messages / caps.max_inflight_bytes payload bytes,
 * released as acknowledgements arrive; SNAPSHOT streams the snapshot when
 * the entries the follower needs were compacted (raft_snapshot.c).
 * Heartbeats to a replicating follower carry prev = matchIndex, which the
 * follower always holds, so they never cause a spurious rejection; a lost
 * message is noticed by the rejection of the next one, or by stall_ticks
 * when nothing follows it.
 *
 * Messages carry copies of entries in the outbox arena: they stay valid
 * whatever happens to the log window before the ready is taken.
 */
#define RAFT_INTERNAL
#include "raft/raft.h"

#include "base/base_err.h"

#include <assert.h>
#include <string.h>

struct raft_progress *raft_progress_of(struct raft *r, uint64_t id)
{
	for (uint32_t i = 0; i < RAFT_MAX_SERVERS; i++)
		if (r->prs[i].id == id && id)
			return &r->prs[i];
	return NULL;
}

static uint32_t infl_base(const struct raft *r, const struct raft_progress *pr)
{
	return (uint32_t)(pr - r->prs) * r->opt.caps.max_inflight_msgs;
}

static void infl_clear(struct raft_progress *pr)
{
	pr->infl_head = 0;
	pr->infl_n = 0;
	pr->infl_bytes = 0;
	pr->stall_ticks = 0;
}

static int infl_full(const struct raft *r, const struct raft_progress *pr)
{
	return pr->infl_n >= r->opt.caps.max_inflight_msgs ||
	       pr->infl_bytes >= r->opt.caps.max_inflight_bytes;
}

static void infl_add(struct raft *r, struct raft_progress *pr, uint64_t last, uint32_t bytes)
{
	uint32_t cap = r->opt.caps.max_inflight_msgs;
	uint32_t k = infl_base(r, pr) + (pr->infl_head + pr->infl_n) % cap;
	r->infl_last[k] = last;
	r->infl_size[k] = bytes;
	pr->infl_n++;
	pr->infl_bytes += bytes;
}

static void infl_free_upto(struct raft *r, struct raft_progress *pr, uint64_t index)
{
	uint32_t cap = r->opt.caps.max_inflight_msgs;
	while (pr->infl_n) {
		uint32_t k = infl_base(r, pr) + pr->infl_head;
		if (r->infl_last[k] > index)
			break;
		pr->infl_bytes -= r->infl_size[k];
		pr->infl_head = (pr->infl_head + 1) % cap;
		pr->infl_n--;
	}
}

void raft_progress_reset(struct raft *r, struct raft_progress *pr)
{
	uint64_t id = pr->id;
	memset(pr, 0, sizeof *pr);
	pr->id = id;
	pr->next = r->last_index + 1;
	pr->state = RAFT_PR_PROBE;
}

static void enter_probe(struct raft_progress *pr, uint64_t next)
{
	pr->state = RAFT_PR_PROBE;
	pr->next = next;
	pr->probe_sent = 0;
	infl_clear(pr);
}

static void enter_snapshot(struct raft *r, struct raft_progress *pr)
{
	pr->state = RAFT_PR_SNAPSHOT;
	pr->snap_index = r->snap_index;
	pr->snap_offset = 0;
	pr->probe_sent = 0;
	infl_clear(pr);
	raft_send_snap_chunk(r, pr);
}

/* Send what pr needs. heartbeat: the periodic message (paper §5.2) even when
 * there is nothing new. */
void raft_send_append(struct raft *r, struct raft_progress *pr, int heartbeat)
{
	const struct raft_caps *c = &r->opt.caps;
	if (pr->state == RAFT_PR_SNAPSHOT) {
		if (heartbeat)
			raft_send_snap_chunk(r, pr); /* resend the unacknowledged chunk */
		return;
	}
	uint64_t prev;
	int beat_only = 0;
	if (pr->state == RAFT_PR_REPLICATE) {
		if (heartbeat) {
			prev = pr->match;
			beat_only = 1;
		} else {
			if (pr->next > r->last_index || infl_full(r, pr))
				return;
			prev = pr->next - 1;
		}
	} else {
		if (pr->probe_sent && !heartbeat)
			return;
		prev = pr->next - 1;
	}
	uint64_t prev_term;
	int rc = raft_term_at(r, prev, &prev_term);
	if (rc == -ERR_NOTFOUND && prev < r->log_first) {
		enter_snapshot(r, pr); /* paper §7: what it needs was compacted */
		return;
	}
	if (rc)
		return; /* storage trouble: try again on the next heartbeat */

	uint32_t out_mark = r->n_out;
	size_t arena_mark = r->arena_used;
	struct raft_msg *m = raft_send(r, RAFT_MSG_APPEND, pr->id);
	if (!m)
		return;
	m->append.prev_index = prev;
	m->append.prev_term = prev_term;
	m->append.commit = r->commit;
	m->append.seq = r->hb_seq;

	uint32_t n = 0;
	uint64_t bytes = 0;
	if (!beat_only && prev < r->last_index) {
		uint64_t last = r->last_index;
		uint32_t max_n = c->max_msg_entries;
		size_t budget = c->max_msg_bytes;
		if (pr->state == RAFT_PR_REPLICATE &&
		    c->max_inflight_bytes - pr->infl_bytes < budget)
			budget = (size_t)(c->max_inflight_bytes - pr->infl_bytes);
		struct raft_entry *ents = raft_arena_alloc(r, (size_t)max_n * sizeof *ents);
		uint8_t *buf = ents ? raft_arena_alloc(r, 0) : NULL;
		if (buf) {
			size_t room = r->arena_cap - r->arena_used;
			if (room < budget)
				budget = room;
			int k = raft_log_read(r, prev + 1, last, max_n, ents, buf, budget, 1);
			if (k > 0) {
				n = (uint32_t)k;
				for (uint32_t i = 0; i < n; i++)
					bytes += ents[i].len;
				r->arena_used += (size_t)bytes;
				m->append.entries = ents;
				m->append.n_entries = n;
			} else if (k == -ERR_NOTFOUND) {
				r->n_out = out_mark;
				r->arena_used = arena_mark;
				enter_snapshot(r, pr);
				return;
			}
		}
		if (n == 0 && pr->state == RAFT_PR_REPLICATE) {
			/* No room for even one entry now: retract, retry later. */
			r->n_out = out_mark;
			r->arena_used = arena_mark;
			return;
		}
	}
	if (pr->state == RAFT_PR_REPLICATE && n) {
		pr->next = prev + n + 1;
		infl_add(r, pr, prev + n, (uint32_t)bytes);
	} else if (pr->state == RAFT_PR_PROBE) {
		pr->probe_sent = 1;
	}
}

void raft_bcast_append(struct raft *r)
{
	for (uint32_t i = 0; i < RAFT_MAX_SERVERS; i++)
		if (r->prs[i].id)
			raft_send_append(r, &r->prs[i], 0);
}

void raft_bcast_heartbeat(struct raft *r)
{
	for (uint32_t i = 0; i < RAFT_MAX_SERVERS; i++) {
		struct raft_progress *pr = &r->prs[i];
		if (!pr->id)
			continue;
		raft_send_append(r, pr, 1);
		if (pr->state == RAFT_PR_REPLICATE)
			raft_send_append(r, pr, 0);
	}
}

/* Leader, every tick: heartbeats and loss detection. */
void raft_tick_replication(struct raft *r)
{
	for (uint32_t i = 0; i < RAFT_MAX_SERVERS; i++) {
		struct raft_progress *pr = &r->prs[i];
		if (!pr->id || pr->state != RAFT_PR_REPLICATE || !pr->infl_n)
			continue;
		/* Nothing acknowledged for an election timeout with messages
		 * out: assume they were lost and probe again from the match. */
		if (++pr->stall_ticks >= r->opt.election_ticks)
			enter_probe(pr, pr->match + 1);
	}
	if (++r->heartbeat_elapsed >= r->opt.heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		raft_bcast_heartbeat(r);
	}
}

/* Paper §5.3, §5.4.2: the highest index stored on a majority of voters is
 * committed if its entry is of the current term; older entries commit
 * indirectly with it. The leader counts only durable entries of its own,
 * and does not count itself when its latest configuration excludes it
 * (thesis §4.2.2). */
void raft_maybe_commit(struct raft *r)
{
	if (r->role != RAFT_LEADER)
		return;
	uint64_t m[RAFT_MAX_SERVERS];
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->conf.n; i++) {
		const struct raft_server *s = &r->conf.s[i];
		if (s->role != RAFT_VOTER)
			continue;
		uint64_t v = 0;
		if (s->id == r->opt.id) {
			v = r->stable;
		} else {
			struct raft_progress *pr = raft_progress_of(r, s->id);
			v = pr ? pr->match : 0;
		}
		uint32_t j = n++;
		while (j > 0 && m[j - 1] < v) { /* insertion sort, descending */
			m[j] = m[j - 1];
			j--;
		}
		m[j] = v;
	}
	if (n == 0)
		return;
	uint64_t cand = m[raft_quorum(r) - 1];
	if (cand <= r->commit)
		return;
	uint64_t t = 0;
	if (raft_term_at(r, cand, &t))
		return;
	if (t != r->term && !RAFT_BUG(r, 1)) /* planted bug 1 counts older terms */
		return;
	r->commit = cand;
	raft_reads_on_commit(r);
	/* Thesis §4.2.2: a leader removed from the configuration steps down
	 * once the entry that removed it is committed. */
	if (r->conf_index <= r->commit && !raft_self_voter(r))
		raft_become_follower(r, r->term, 0);
}

/* Where to look next after a refusal: the highest index at or below the
 * follower's hint whose term is not above the follower's term there. Only
 * an optimisation (paper §5.3, end): the consistency check decides. */
static uint64_t probe_point(struct raft *r, const struct raft_progress *pr,
			    const struct raft_msg *m)
{
	uint64_t j = m->append_resp.hint_index;
	if (j > r->last_index)
		j = r->last_index;
	for (int guard = 0; guard < 64 && j > pr->match; guard++) {
		uint64_t t;
		if (raft_term_at(r, j, &t) || t <= m->append_resp.hint_term)
			break;
		j--;
	}
	uint64_t next = j + 1;
	if (next > m->append_resp.index)
		next = m->append_resp.index; /* always move back */
	if (next <= pr->match)
		next = pr->match + 1;
	return next;
}

void raft_handle_append_resp(struct raft *r, const struct raft_msg *m)
{
	if (r->role != RAFT_LEADER)
		return;
	struct raft_progress *pr = raft_progress_of(r, m->from);
	if (!pr)
		return;
	pr->active = 1;
	if (m->append_resp.seq > pr->ack_seq && m->append_resp.seq <= r->hb_seq)
		pr->ack_seq = m->append_resp.seq;
	if (m->append_resp.ok) {
		uint64_t idx = m->append_resp.index;
		if (idx > r->last_index)
			return; /* impossible from a correct follower */
		int progressed = 0;
		if (idx > pr->match) {
			pr->match = idx;
			pr->stall_ticks = 0;
			progressed = 1;
		}
		if (pr->state == RAFT_PR_PROBE) {
			pr->state = RAFT_PR_REPLICATE;
			pr->probe_sent = 0;
			pr->next = pr->match + 1;
			infl_clear(pr);
		} else if (pr->state == RAFT_PR_REPLICATE) {
			if (pr->next <= idx)
				pr->next = idx + 1;
			infl_free_upto(r, pr, idx);
		}
		if (progressed)
			raft_maybe_commit(r);
		if (r->role != RAFT_LEADER)
			return;
		raft_transfer_maybe_send(r, pr);
		raft_send_append(r, pr, 0);
	} else {
		uint64_t refused = m->append_resp.index;
		if (pr->state == RAFT_PR_REPLICATE) {
			if (refused <= pr->match)
				goto reads; /* stale */
			enter_probe(pr, probe_point(r, pr, m));
		} else if (pr->state == RAFT_PR_PROBE) {
			if (refused != pr->next - 1)
				goto reads; /* stale */
			pr->next = probe_point(r, pr, m);
			pr->probe_sent = 0;
		} else {
			goto reads;
		}
		raft_send_append(r, pr, 0);
	}
reads:
	raft_reads_on_ack(r);
}

/* Follower side of AppendEntries (paper Figure 2, receiver steps 1–5). */
static void refuse(struct raft *r, struct raft_msg *o, const struct raft_msg *m)
{
	if (!o)
		return;
	uint64_t prev = m->append.prev_index;
	uint64_t hint = prev < r->last_index ? prev : r->last_index;
	uint64_t t = 0;
	for (int guard = 0; guard < 64 && hint > r->commit; guard++) {
		if (raft_term_at(r, hint, &t) || t <= m->append.prev_term)
			break;
		hint--;
	}
	if (raft_term_at(r, hint, &t))
		t = 0;
	o->append_resp.ok = 0;
	o->append_resp.index = prev;
	o->append_resp.hint_index = hint;
	o->append_resp.hint_term = t;
}

static int entry_ok(const struct raft *r, const struct raft_msg *m, const struct raft_entry *e,
		    uint64_t idx, uint64_t prev_term)
{
	return e->index == idx && e->term <= m->term && e->term >= prev_term && e->term > 0 &&
	       e->len <= r->opt.caps.max_entry_bytes && (e->len == 0 || e->data) &&
	       e->type >= RAFT_ENTRY_NORMAL && e->type <= RAFT_ENTRY_NOOP;
}

void raft_handle_append(struct raft *r, const struct raft_msg *m)
{
	if (r->role != RAFT_FOLLOWER)
		raft_become_follower(r, r->term, m->from);
	r->leader = m->from;
	raft_reset_timeout(r);

	uint64_t prev = m->append.prev_index;
	uint32_t n = m->append.n_entries;
	struct raft_msg *o = raft_send(r, RAFT_MSG_APPEND_RESP, m->from);
	if (o)
		o->append_resp.seq = m->append.seq;
	if (n > UINT64_MAX - prev - 1) { /* malformed: no answer */
		if (o)
			r->n_out--;
		return;
	}
	if (prev > r->last_index) {
		refuse(r, o, m);
		return;
	}
	/* Entries up to our commit index are committed, hence identical in the
	 * leader's log (Leader Completeness, paper §5.4): skip them. */
	uint32_t k = 0;
	uint64_t last_new = prev;
	if (prev < r->commit) {
		uint64_t skip = r->commit - prev;
		k = skip < n ? (uint32_t)skip : n;
		last_new = prev + k;
	} else {
		uint64_t t;
		int rc = raft_term_at(r, prev, &t);
		if (rc == -ERR_RAFT_STORAGE) {
			if (o)
				r->n_out--; /* no answer; the leader retries */
			return;
		}
		if (rc || t != m->append.prev_term) {
			refuse(r, o, m);
			return;
		}
	}
	uint64_t prev_term = m->append.prev_term;
	for (uint32_t j = k; j < n; j++) {
		const struct raft_entry *e = &m->append.entries[j];
		uint64_t idx = prev + 1 + j;
		if (j > 0)
			prev_term = m->append.entries[j - 1].term;
		if (!entry_ok(r, m, e, idx, prev_term))
			break;
		struct raft_conf conf;
		if (e->type == RAFT_ENTRY_CONF && raft_conf_decode(e->data, e->len, &conf))
			break;
		if (idx <= r->last_index) {
			uint64_t t;
			if (raft_term_at(r, idx, &t))
				break;
			if (t == e->term) {
				last_new = idx;
				continue;
			}
			/* Paper §5.3 step 3: a conflict; drop it and all that follow. */
			if (idx <= r->commit) {
				if (!r->err)
					r->err = -ERR_RAFT_STORAGE; /* cannot happen: latch */
				break;
			}
			uint64_t tb;
			if (raft_term_at(r, idx - 1, &tb))
				break;
			raft_log_truncate(r, idx, tb);
		}
		if (raft_log_append(r, e->term, e->type, e->data, e->len))
			break; /* window full of unstable entries: take the rest later */
		if (e->type == RAFT_ENTRY_CONF)
			raft_conf_set(r, &conf, idx); /* thesis §4.1: effective once appended */
		last_new = idx;
	}
	/* Step 5: commitIndex = min(leaderCommit, index of last new entry). Not
	 * our last index: entries past last_new were not checked against the
	 * leader and may be stale. */
	uint64_t c = m->append.commit < last_new ? m->append.commit : last_new;
	if (c > r->commit)
		r->commit = c;
	if (o) {
		o->append_resp.ok = 1;
		o->append_resp.index = last_new > r->commit ? last_new : r->commit;
	}
}
