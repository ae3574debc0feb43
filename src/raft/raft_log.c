/* raft_log.c — the bounded in-memory tail of the Raft log and storage reads.
 *
 * Layout of the log as the core sees it:
 *
 *     snapshot ... | log_first ... win_first-1 | win_first ... last_index |
 *     (compacted)  | in storage only (durable)  | in memory (the window)   |
 *
 * The window is a ring of entry headers (caps.window_entries) and a ring of
 * payload bytes (caps.window_bytes). Payloads are contiguous: each gets a
 * virtual offset that only grows; an entry that would wrap past the end of
 * the byte ring starts at the next multiple of the ring size instead, and the
 * skipped tail counts as used until the entries before it leave. The window
 * always satisfies win_first + win_n == last_index + 1.
 *
 * Entries leave the window from the front only when they are durable
 * (index <= stable) and room is needed, so recent entries stay cheap to send
 * and every unstable entry is always in memory. Anything older is read back
 * through io->log_term / io->log_read. Nothing here allocates.
 */
#define RAFT_INTERNAL
#include "raft/raft.h"

#include "base/base_err.h"

#include <assert.h>
#include <string.h>

static struct raft_win_ent *win_slot(const struct raft *r, uint64_t index)
{
	uint64_t k = index - r->win_first;
	return &r->win[(r->win_head + k) % r->opt.caps.window_entries];
}

const struct raft_win_ent *raft_log_win(const struct raft *r, uint64_t index)
{
	if (r->win_n == 0 || index < r->win_first || index > r->last_index)
		return NULL;
	return win_slot(r, index);
}

const uint8_t *raft_log_win_data(const struct raft *r, const struct raft_win_ent *e)
{
	return r->pay + e->voff % r->opt.caps.window_bytes;
}

int raft_term_at(struct raft *r, uint64_t index, uint64_t *term)
{
	if (index == 0) {
		*term = 0;
		return 0;
	}
	if (index > r->last_index)
		return -ERR_NOTFOUND;
	const struct raft_win_ent *e = raft_log_win(r, index);
	if (e) {
		*term = e->term;
		return 0;
	}
	if (index == r->snap_index) {
		*term = r->snap_term;
		return 0;
	}
	if (index < r->log_first)
		return -ERR_NOTFOUND; /* compacted */
	if (!r->io.log_term)
		return -ERR_RAFT_STORAGE;
	int rc = r->io.log_term(r->io.ctx, index, term);
	if (rc == -ERR_NOTFOUND)
		return rc;
	if (rc < 0) {
		if (!r->err)
			r->err = -ERR_RAFT_STORAGE;
		return -ERR_RAFT_STORAGE;
	}
	return 0;
}

/* 1 and *start = where a payload of len bytes goes, or 0 if the byte ring
 * lacks room until entries leave the front. */
static int pay_place(const struct raft *r, uint32_t len, uint64_t *start)
{
	uint64_t cap = r->opt.caps.window_bytes;
	uint64_t s = r->pay_tail;
	if (s % cap + len > cap)
		s += cap - s % cap;
	uint64_t head = r->win_n ? win_slot(r, r->win_first)->voff : s;
	if (s + len - head > cap)
		return 0;
	*start = s;
	return 1;
}

static void win_pop_front(struct raft *r)
{
	r->win_head = (r->win_head + 1) % r->opt.caps.window_entries;
	r->win_n--;
	r->win_first++;
}

/* Append one entry at last_index + 1 (paper §5.3: leaders only append; a
 * follower appends what the leader sent after the consistency check). Makes
 * room by forgetting durable entries at the front of the window.
 * 0, -ERR_RAFT_ENTRY_TOO_LARGE, or -ERR_RAFT_LOG_FULL when every entry in the
 * window is still unstable (drain the ready first). */
int raft_log_append(struct raft *r, uint64_t term, uint8_t type, const uint8_t *data, uint32_t len)
{
	if (len > r->opt.caps.max_entry_bytes)
		return -ERR_RAFT_ENTRY_TOO_LARGE;
	assert(term >= r->last_term);
	uint64_t start = 0;
	for (;;) {
		if (r->win_n < r->opt.caps.window_entries && pay_place(r, len, &start))
			break;
		if (r->win_n == 0 || r->win_first > r->stable)
			return -ERR_RAFT_LOG_FULL;
		win_pop_front(r);
	}
	struct raft_win_ent *e = &r->win[(r->win_head + r->win_n) % r->opt.caps.window_entries];
	e->term = term;
	e->voff = start;
	e->len = len;
	e->type = type;
	if (len)
		memcpy(r->pay + start % r->opt.caps.window_bytes, data, len);
	r->pay_tail = start + len;
	r->win_n++;
	r->last_index++;
	r->last_term = term;
	return 0;
}

/* Remove entries >= from (paper §5.3, AppendEntries receiver step 3);
 * term_before is the term at from - 1, which the caller has verified. Never
 * touches committed entries. The stored copies go when the next ready is
 * persisted (rd.truncate / rd.entries_first). */
void raft_log_truncate(struct raft *r, uint64_t from, uint64_t term_before)
{
	assert(from > r->commit && from <= r->last_index);
	if (from >= r->win_first) {
		r->win_n = (uint32_t)(from - r->win_first);
		if (r->win_n) {
			const struct raft_win_ent *b = win_slot(r, from - 1);
			r->pay_tail = b->voff + b->len;
		}
	} else {
		r->win_n = 0;
		r->win_first = from;
	}
	r->last_index = from - 1;
	r->last_term = term_before;
	if (r->stable > r->last_index)
		r->stable = r->last_index;
	r->stats.truncations++;
	if (from <= r->conf_index && raft_conf_rebuild(r))
		raft_fail_stop(r); /* cannot tell which configuration is in force */
}

/* Forget the whole log: a snapshot at (index, term) replaces it (paper §7,
 * Figure 13 step 7). Storage drops every entry with the ready's snapshot. */
void raft_log_reset(struct raft *r, uint64_t index, uint64_t term)
{
	r->win_n = 0;
	r->win_first = index + 1;
	r->last_index = index;
	r->last_term = term;
	r->stable = index;
	r->stored_last = index;
	r->log_first = index + 1;
}

/* A snapshot at `index` covers the entries up to it; the ones after it stay
 * (paper §7, Figure 13 step 6). */
void raft_log_drop_upto(struct raft *r, uint64_t index)
{
	while (r->win_n && r->win_first <= index)
		win_pop_front(r);
	if (r->win_n == 0)
		r->win_first = r->last_index + 1;
	if (r->stable < index)
		r->stable = index;
	if (r->stored_last < index)
		r->stored_last = index;
	r->log_first = index + 1;
}

/* Read entries [first, last] (at most max_n of them, at most cap payload
 * bytes) into out[]. Entries in the window point into it unless `copy`, in
 * which case their payloads are copied into buf too (messages must outlive
 * later changes of the window); entries in storage are always copied into
 * buf by io->log_read. Returns the count (>= 1), -ERR_BUF_FULL if not even
 * the first fits, -ERR_NOTFOUND if compacted, -ERR_RAFT_STORAGE. */
int raft_log_read(struct raft *r, uint64_t first, uint64_t last, uint32_t max_n,
		  struct raft_entry *out, uint8_t *buf, size_t cap, int copy)
{
	uint32_t n = 0;
	size_t used = 0;
	uint64_t idx = first;
	if (first < r->log_first && first < r->win_first)
		return -ERR_NOTFOUND;
	while (idx <= last && n < max_n) {
		const struct raft_win_ent *e = raft_log_win(r, idx);
		if (e) {
			const uint8_t *d = raft_log_win_data(r, e);
			if (copy) {
				if (e->len > cap - used)
					break;
				if (e->len)
					memcpy(buf + used, d, e->len);
				d = buf + used;
				used += e->len;
			}
			out[n] = (struct raft_entry){.term = e->term,
						     .index = idx,
						     .data = d,
						     .len = e->len,
						     .type = e->type};
			n++;
			idx++;
			continue;
		}
		/* In storage: [idx, min(last, win_first - 1)]. */
		uint64_t end = last < r->win_first ? last : r->win_first - 1;
		uint64_t want64 = end - idx + 1;
		uint32_t want = want64 < max_n - n ? (uint32_t)want64 : max_n - n;
		if (!r->io.log_read)
			return n ? (int)n : -ERR_RAFT_STORAGE;
		r->stats.storage_reads++;
		int k = r->io.log_read(r->io.ctx, idx, want, out + n, buf + used, cap - used);
		if (k == -ERR_BUF_FULL)
			break;
		if (k <= 0 || (uint32_t)k > want) {
			if (n)
				break;
			if (!r->err)
				r->err = -ERR_RAFT_STORAGE;
			return k == -ERR_NOTFOUND ? -ERR_NOTFOUND : -ERR_RAFT_STORAGE;
		}
		for (int j = 0; j < k; j++) {
			struct raft_entry *o = &out[n + (uint32_t)j];
			/* Storage is trusted but checked: a wrong entry here would be
			 * replicated to every follower. */
			if (o->index != idx + (uint64_t)j || o->len > r->opt.caps.max_entry_bytes ||
			    o->len > cap - used || o->type < RAFT_ENTRY_NORMAL ||
			    o->type > RAFT_ENTRY_NOOP) {
				if (!r->err)
					r->err = -ERR_RAFT_STORAGE;
				return -ERR_RAFT_STORAGE;
			}
			used += o->len;
		}
		n += (uint32_t)k;
		idx += (uint64_t)k;
	}
	return n ? (int)n : -ERR_BUF_FULL;
}

/* Paper §5.4.1: the candidate's log is at least as up-to-date as ours. */
int raft_log_up_to_date(struct raft *r, uint64_t last_index, uint64_t last_term)
{
	return last_term > r->last_term ||
	       (last_term == r->last_term && last_index >= r->last_index);
}
