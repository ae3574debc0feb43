/* raft_msg.c — wire encoding of struct raft_msg.
 *
 * Fixed little-endian layout, no padding, one message per buffer (the
 * transport frames messages; the decoder consumes exactly `len` bytes):
 *
 *   header   u8 version (1), u8 type, u64 from, u64 to, u64 term      26 bytes
 *   PREVOTE, VOTE           u64 last_index, u64 last_term, u8 transfer
 *   PREVOTE_RESP, VOTE_RESP u8 granted
 *   APPEND        u64 prev_index, u64 prev_term, u64 commit, u64 seq, u32 n,
 *                 n x { u64 term, u8 type, u32 len, len bytes }
 *                 (entry k has index prev_index + 1 + k)
 *   APPEND_RESP   u8 ok, u64 index, u64 hint_index, u64 hint_term, u64 seq
 *   SNAP          u64 index, u64 term, u32 n, n x { u64 id, u8 role },
 *                 u64 offset, u8 done, u32 len, len bytes
 *   SNAP_RESP     u64 index, u64 next_offset, u8 done
 *   TIMEOUT_NOW   (nothing)
 *
 * The decoder reads bytes from the network: every length is checked
 * against what remains before it is used, flags must be 0 or 1, enums must be
 * known, ids non-zero, and trailing bytes are an error. Decoded entries and
 * chunks point into the input buffer (no copy, no allocation).
 */
#define RAFT_INTERNAL
#include "raft/raft.h"

#include "base/base_err.h"

#include <string.h>

#define RAFT_WIRE_VERSION 1

struct wr {
	uint8_t *p;
	size_t left;
	int full;
};

static void put(struct wr *w, uint64_t v, int bytes)
{
	if (w->full || w->left < (size_t)bytes) {
		w->full = 1;
		return;
	}
	for (int i = 0; i < bytes; i++)
		*w->p++ = (uint8_t)(v >> (8 * i));
	w->left -= (size_t)bytes;
}

static void put_bytes(struct wr *w, const uint8_t *d, size_t n)
{
	if (w->full || w->left < n) {
		w->full = 1;
		return;
	}
	if (n)
		memcpy(w->p, d, n);
	w->p += n;
	w->left -= n;
}

struct rd {
	const uint8_t *p;
	size_t left;
	int bad;
};

static uint64_t get(struct rd *r, int bytes)
{
	if (r->bad || r->left < (size_t)bytes) {
		r->bad = 1;
		return 0;
	}
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += bytes;
	r->left -= (size_t)bytes;
	return v;
}

static uint8_t get_flag(struct rd *r)
{
	uint64_t v = get(r, 1);
	if (v > 1)
		r->bad = 1;
	return (uint8_t)v;
}

static const uint8_t *get_bytes(struct rd *r, size_t n)
{
	if (r->bad || r->left < n) {
		r->bad = 1;
		return NULL;
	}
	const uint8_t *d = r->p;
	r->p += n;
	r->left -= n;
	return d;
}

size_t raft_msg_size(const struct raft_msg *m)
{
	size_t n = 26;
	switch (m->type) {
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE: return n + 17;
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP: return n + 1;
	case RAFT_MSG_APPEND:
		n += 36;
		for (uint32_t i = 0; i < m->append.n_entries; i++)
			n += 13 + (size_t)m->append.entries[i].len;
		return n;
	case RAFT_MSG_APPEND_RESP: return n + 33;
	case RAFT_MSG_SNAP: return n + 16 + 4 + 9 * (size_t)m->snap.conf.n + 13 + m->snap.len;
	case RAFT_MSG_SNAP_RESP: return n + 17;
	default: return n;
	}
}

int raft_msg_encode(const struct raft_msg *m, uint8_t *buf, size_t cap)
{
	if (m->type < 1 || m->type > RAFT_MSG_TYPE_MAX ||
	    (m->type == RAFT_MSG_SNAP && m->snap.conf.n > RAFT_MAX_SERVERS))
		return -ERR_INVAL;
	size_t need = raft_msg_size(m);
	if (need > cap)
		return -ERR_BUF_FULL;
	if (need > INT32_MAX)
		return -ERR_TOO_LARGE;
	struct wr w = {buf, cap, 0};
	put(&w, RAFT_WIRE_VERSION, 1);
	put(&w, m->type, 1);
	put(&w, m->from, 8);
	put(&w, m->to, 8);
	put(&w, m->term, 8);
	switch (m->type) {
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		put(&w, m->vote.last_index, 8);
		put(&w, m->vote.last_term, 8);
		put(&w, m->vote.transfer ? 1 : 0, 1);
		break;
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP: put(&w, m->vote_resp.granted ? 1 : 0, 1); break;
	case RAFT_MSG_APPEND:
		put(&w, m->append.prev_index, 8);
		put(&w, m->append.prev_term, 8);
		put(&w, m->append.commit, 8);
		put(&w, m->append.seq, 8);
		put(&w, m->append.n_entries, 4);
		for (uint32_t i = 0; i < m->append.n_entries; i++) {
			const struct raft_entry *e = &m->append.entries[i];
			put(&w, e->term, 8);
			put(&w, e->type, 1);
			put(&w, e->len, 4);
			put_bytes(&w, e->data, e->len);
		}
		break;
	case RAFT_MSG_APPEND_RESP:
		put(&w, m->append_resp.ok ? 1 : 0, 1);
		put(&w, m->append_resp.index, 8);
		put(&w, m->append_resp.hint_index, 8);
		put(&w, m->append_resp.hint_term, 8);
		put(&w, m->append_resp.seq, 8);
		break;
	case RAFT_MSG_SNAP:
		put(&w, m->snap.index, 8);
		put(&w, m->snap.term, 8);
		put(&w, m->snap.conf.n, 4);
		for (uint32_t i = 0; i < m->snap.conf.n; i++) {
			put(&w, m->snap.conf.s[i].id, 8);
			put(&w, m->snap.conf.s[i].role, 1);
		}
		put(&w, m->snap.offset, 8);
		put(&w, m->snap.done ? 1 : 0, 1);
		put(&w, m->snap.len, 4);
		put_bytes(&w, m->snap.data, m->snap.len);
		break;
	case RAFT_MSG_SNAP_RESP:
		put(&w, m->snap_resp.index, 8);
		put(&w, m->snap_resp.next_offset, 8);
		put(&w, m->snap_resp.done ? 1 : 0, 1);
		break;
	default: break;
	}
	if (w.full)
		return -ERR_BUF_FULL;
	return (int)need;
}

int raft_msg_decode(const uint8_t *buf, size_t len, struct raft_msg *m, struct raft_entry *ents,
		    uint32_t max_ents)
{
	struct rd r = {buf, len, 0};
	memset(m, 0, sizeof *m);
	if (!buf)
		return -ERR_PARSE;
	if (get(&r, 1) != RAFT_WIRE_VERSION)
		return -ERR_PARSE;
	uint64_t type = get(&r, 1);
	if (type < 1 || type > RAFT_MSG_TYPE_MAX)
		return -ERR_PARSE;
	m->type = (uint8_t)type;
	m->from = get(&r, 8);
	m->to = get(&r, 8);
	m->term = get(&r, 8);
	if (r.bad || m->from == 0 || m->to == 0)
		return -ERR_PARSE;
	switch (m->type) {
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		m->vote.last_index = get(&r, 8);
		m->vote.last_term = get(&r, 8);
		m->vote.transfer = get_flag(&r);
		break;
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP: m->vote_resp.granted = get_flag(&r); break;
	case RAFT_MSG_APPEND: {
		m->append.prev_index = get(&r, 8);
		m->append.prev_term = get(&r, 8);
		m->append.commit = get(&r, 8);
		m->append.seq = get(&r, 8);
		uint64_t n = get(&r, 4);
		if (r.bad)
			return -ERR_PARSE;
		/* Each entry takes at least 13 bytes: a count that cannot fit
		 * in what remains is malformed, not merely too large. */
		if (n > r.left / 13 || n > UINT64_MAX - m->append.prev_index - 1)
			return -ERR_PARSE;
		if (n > max_ents)
			return -ERR_TOO_LARGE;
		for (uint32_t i = 0; i < (uint32_t)n; i++) {
			struct raft_entry *e = &ents[i];
			e->index = m->append.prev_index + 1 + i;
			e->term = get(&r, 8);
			uint64_t t = get(&r, 1);
			uint64_t l = get(&r, 4);
			if (r.bad || t < RAFT_ENTRY_NORMAL || t > RAFT_ENTRY_NOOP || l > r.left)
				return -ERR_PARSE;
			e->type = (uint8_t)t;
			e->len = (uint32_t)l;
			e->data = get_bytes(&r, (size_t)l);
		}
		m->append.entries = n ? ents : NULL;
		m->append.n_entries = (uint32_t)n;
		break;
	}
	case RAFT_MSG_APPEND_RESP:
		m->append_resp.ok = get_flag(&r);
		m->append_resp.index = get(&r, 8);
		m->append_resp.hint_index = get(&r, 8);
		m->append_resp.hint_term = get(&r, 8);
		m->append_resp.seq = get(&r, 8);
		break;
	case RAFT_MSG_SNAP: {
		m->snap.index = get(&r, 8);
		m->snap.term = get(&r, 8);
		uint64_t n = get(&r, 4);
		if (r.bad || n > RAFT_MAX_SERVERS)
			return -ERR_PARSE;
		for (uint32_t i = 0; i < (uint32_t)n; i++) {
			m->snap.conf.s[i].id = get(&r, 8);
			uint64_t role = get(&r, 1);
			if (r.bad || m->snap.conf.s[i].id == 0 ||
			    (role != RAFT_VOTER && role != RAFT_LEARNER))
				return -ERR_PARSE;
			m->snap.conf.s[i].role = (uint8_t)role;
		}
		m->snap.conf.n = (uint32_t)n;
		m->snap.offset = get(&r, 8);
		m->snap.done = get_flag(&r);
		uint64_t l = get(&r, 4);
		if (r.bad || l > r.left)
			return -ERR_PARSE;
		m->snap.len = (uint32_t)l;
		m->snap.data = get_bytes(&r, (size_t)l);
		break;
	}
	case RAFT_MSG_SNAP_RESP:
		m->snap_resp.index = get(&r, 8);
		m->snap_resp.next_offset = get(&r, 8);
		m->snap_resp.done = get_flag(&r);
		break;
	default: break;
	}
	if (r.bad || r.left != 0)
		return -ERR_PARSE;
	return 0;
}
