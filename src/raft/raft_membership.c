/* raft_membership.c — cluster configuration and single-server changes
 * (thesis ch. 4).
 *
 * Rules implemented:
 *  - a configuration is a RAFT_ENTRY_CONF entry holding the whole server
 *    list; a server uses the latest one in its log, committed or not (thesis
 *    §4.1), and falls back to the previous one if that entry is truncated;
 *  - the leader adds or removes one server at a time and starts another
 *    change only once the previous configuration entry is committed (§4.1),
 *    and only after it committed an entry of its own term (the fix to the
 *    single-server algorithm, Ongaro, raft-dev 2015);
 *  - new servers join as learners (non-voting, §4.2.1) and are promoted once
 *    their matchIndex caught up with the leader's commit index;
 *  - any server may be removed, the leader included: it keeps replicating
 *    without counting itself and steps down once the change is committed
 *    (§4.2.2, in raft_maybe_commit).
 *
 * Payload of a configuration entry (little-endian): u32 n, then n times
 * { u64 id, u8 role }.
 */
#define RAFT_INTERNAL
#include "raft/raft.h"

#include "base/base_err.h"

#include <string.h>

int raft_conf_encode(const struct raft_conf *c, uint8_t *buf, size_t cap)
{
	if (c->n > RAFT_MAX_SERVERS)
		return -ERR_INVAL;
	size_t need = 4 + 9 * (size_t)c->n;
	if (need > cap)
		return -ERR_BUF_FULL;
	uint8_t *p = buf;
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(c->n >> (8 * i));
	for (uint32_t k = 0; k < c->n; k++) {
		for (int i = 0; i < 8; i++)
			*p++ = (uint8_t)(c->s[k].id >> (8 * i));
		*p++ = c->s[k].role;
	}
	return (int)need;
}

int raft_conf_decode(const uint8_t *buf, size_t len, struct raft_conf *c)
{
	if (len < 4)
		return -ERR_PARSE;
	uint32_t n = 0;
	for (int i = 0; i < 4; i++)
		n |= (uint32_t)buf[i] << (8 * i);
	if (n > RAFT_MAX_SERVERS || len != 4 + 9 * (size_t)n)
		return -ERR_PARSE;
	memset(c, 0, sizeof *c);
	const uint8_t *p = buf + 4;
	for (uint32_t k = 0; k < n; k++) {
		uint64_t id = 0;
		for (int i = 0; i < 8; i++)
			id |= (uint64_t)p[i] << (8 * i);
		uint8_t role = p[8];
		p += 9;
		if (id == 0 || (role != RAFT_VOTER && role != RAFT_LEARNER))
			return -ERR_PARSE;
		for (uint32_t j = 0; j < k; j++)
			if (c->s[j].id == id)
				return -ERR_PARSE;
		c->s[k].id = id;
		c->s[k].role = role;
	}
	c->n = n;
	if (raft_conf_voters(c) > RAFT_MAX_VOTERS)
		return -ERR_PARSE;
	return 0;
}

/* Leader: one progress record per other server of the configuration. */
void raft_progress_sync(struct raft *r)
{
	for (uint32_t i = 0; i < RAFT_MAX_SERVERS; i++) {
		struct raft_progress *pr = &r->prs[i];
		if (pr->id && (pr->id == r->opt.id || !raft_conf_role(&r->conf, pr->id)))
			pr->id = 0;
	}
	for (uint32_t k = 0; k < r->conf.n; k++) {
		uint64_t id = r->conf.s[k].id;
		if (id == r->opt.id || raft_progress_of(r, id))
			continue;
		for (uint32_t i = 0; i < RAFT_MAX_SERVERS; i++) {
			if (r->prs[i].id == 0) {
				r->prs[i].id = id;
				raft_progress_reset(r, &r->prs[i]);
				break;
			}
		}
	}
	if (r->transfer_to && raft_conf_role(&r->conf, r->transfer_to) != RAFT_VOTER)
		r->transfer_to = 0;
}

/* Thesis §4.1: a configuration takes effect as soon as it is in the log. */
void raft_conf_set(struct raft *r, const struct raft_conf *c, uint64_t index)
{
	if (index > r->conf_index)
		r->conf_prev = r->conf;
	r->conf = *c;
	r->conf_index = index;
	if (r->role == RAFT_LEADER)
		raft_progress_sync(r);
}

void raft_conf_applied(struct raft *r, const struct raft_entry *e)
{
	struct raft_conf c;
	if (raft_conf_decode(e->data, e->len, &c) == 0) {
		r->conf_applied = c;
		r->conf_applied_index = e->index;
	}
}

/* Recompute the latest configuration (and the one as of `applied`) from the
 * snapshot and the log after it: at start-up and after a configuration entry
 * was truncated. Reads back through storage; bounded by max_log_entries. */
int raft_conf_rebuild(struct raft *r)
{
	struct raft_conf c = r->snap_conf, ca = r->snap_conf, prev = r->snap_conf;
	uint64_t ci = r->snap_index, cai = r->snap_index;
	uint64_t idx = r->snap_index + 1;
	while (idx <= r->last_index) {
		int n = raft_log_read(r, idx, r->last_index, r->opt.caps.max_apply_batch,
				      r->rd_apply, r->apply_buf, r->opt.caps.max_msg_bytes, 0);
		if (n <= 0)
			return -ERR_RAFT_STORAGE;
		for (int k = 0; k < n; k++) {
			const struct raft_entry *e = &r->rd_apply[k];
			if (e->type != RAFT_ENTRY_CONF)
				continue;
			struct raft_conf d;
			if (raft_conf_decode(e->data, e->len, &d))
				return -ERR_RAFT_STORAGE;
			prev = c;
			c = d;
			ci = e->index;
			if (e->index <= r->applied) {
				ca = d;
				cai = e->index;
			}
		}
		idx += (uint64_t)n;
	}
	r->conf_applied = ca;
	r->conf_applied_index = cai;
	r->conf_index = 0;
	raft_conf_set(r, &c, ci);
	r->conf_prev = prev;
	return 0;
}

enum conf_op { CONF_ADD, CONF_PROMOTE, CONF_REMOVE };

static int conf_change(struct raft *r, enum conf_op op, uint64_t id)
{
	int busy = raft_check(r);
	if (busy)
		return busy;
	if (r->role != RAFT_LEADER)
		return -ERR_RAFT_NOT_LEADER;
	if (id == 0)
		return -ERR_INVAL;
	if (r->transfer_to)
		return -ERR_RAFT_TRANSFERRING;
	if (r->conf_index > r->commit || r->term_start == 0 || r->commit < r->term_start)
		return -ERR_RAFT_CONF_PENDING;
	if (!raft_log_room(r))
		return -ERR_RAFT_LOG_FULL;
	struct raft_conf c = r->conf;
	int role = raft_conf_role(&c, id);
	uint32_t at = 0;
	while (at < c.n && c.s[at].id != id)
		at++;
	switch (op) {
	case CONF_ADD:
		if (role)
			return -ERR_EXISTS;
		if (c.n >= r->opt.caps.max_servers)
			return -ERR_RAFT_TOO_MANY_SERVERS;
		c.s[c.n++] = (struct raft_server){.id = id, .role = RAFT_LEARNER};
		break;
	case CONF_PROMOTE: {
		if (role == RAFT_VOTER)
			return -ERR_EXISTS;
		if (role != RAFT_LEARNER)
			return -ERR_NOTFOUND;
		if (raft_conf_voters(&c) >= r->opt.caps.max_voters)
			return -ERR_RAFT_TOO_MANY_VOTERS;
		const struct raft_progress *pr = raft_progress_of(r, id);
		/* Thesis §4.2.1: a voter that is far behind would stall commits. */
		if (!pr || pr->state != RAFT_PR_REPLICATE || pr->match < r->commit)
			return -ERR_RAFT_NOT_CAUGHT_UP;
		c.s[at].role = RAFT_VOTER;
		break;
	}
	case CONF_REMOVE:
		if (!role)
			return -ERR_NOTFOUND;
		if (role == RAFT_VOTER && raft_conf_voters(&c) == 1)
			return -ERR_INVAL;
		c.s[at] = c.s[c.n - 1];
		c.n--;
		break;
	}
	uint8_t buf[RAFT_CONF_MAX_BYTES];
	int n = raft_conf_encode(&c, buf, sizeof buf);
	if (n < 0)
		return n;
	int rc = raft_log_append(r, r->term, RAFT_ENTRY_CONF, buf, (uint32_t)n);
	if (rc)
		return rc;
	raft_conf_set(r, &c, r->last_index);
	raft_bcast_append(r);
	raft_maybe_commit(r);
	return 0;
}

int raft_add_learner(struct raft *r, uint64_t id)
{
	return conf_change(r, CONF_ADD, id);
}
int raft_promote(struct raft *r, uint64_t id)
{
	return conf_change(r, CONF_PROMOTE, id);
}
int raft_remove(struct raft *r, uint64_t id)
{
	return conf_change(r, CONF_REMOVE, id);
}
