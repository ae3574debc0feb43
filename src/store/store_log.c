/* store_log.c — the Raft log and the hard state.
 *
 * Implementation notes
 *
 * - "log" database: key = index as 8 bytes big-endian (so LMDB's byte order
 *   is numeric order and MDB_APPEND applies), value =
 *
 *       0      8     9        12       16
 *       | term | type | 0 0 0 | crc32c | payload ... |
 *
 *   with the CRC-32C over key || value[0..12) || payload: a flipped bit, a
 *   cut value or a value under the wrong index all fail the check.
 * - "hard" database: record "state" = term, vote, commit (u64 BE each) and
 *   record "applied" = u64 BE, both with the record checksum of store.c.
 * - Invariants (checked by store__log_load at open, kept by every writer):
 *   stored keys are exactly [log_first, log_last]; with no snapshot the log
 *   starts at 1; with one, log_first <= snap.index + 1 and, unless empty,
 *   log_last >= snap.index. Entries below the snapshot index may stay
 *   ("trailing" entries for slow followers) until store_log_compact.
 * - Writers validate everything against the cached state first, so a refused
 *   call touches nothing; then one LMDB transaction does the work and the
 *   caches change only after its commit returned 0.
 */
#include "store/store.h"

#include "base/base_err.h"

#include <inttypes.h>
#include <lmdb.h>
#include <string.h>

#define LOG_HDR 16

static uint32_t log_crc(const uint8_t key[8], const uint8_t *hdr, const void *data, size_t len)
{
	uint32_t c = store_crc32c(0, key, 8);
	c = store_crc32c(c, hdr, 12);
	return store_crc32c(c, data, len);
}

/* Check the stored value of `index`; e gets its fields, e->data points into
 * the map (valid while the transaction lives). */
static int log_decode(struct store *s, uint64_t index, const MDB_val *v, struct store_entry *e)
{
	if (v->mv_size < LOG_HDR || v->mv_size - LOG_HDR > UINT32_MAX)
		return store__fail(s, -ERR_STORE_CORRUPT,
				   "log entry %" PRIu64 ": value of %zu bytes is malformed", index,
				   v->mv_size);
	const uint8_t *p = v->mv_data;
	uint8_t key[8];
	size_t len = v->mv_size - LOG_HDR;
	store__put64(key, index);
	uint32_t want = store__get32(p + 12), got = log_crc(key, p, p + LOG_HDR, len);
	if (want != got)
		return store__fail(s, -ERR_STORE_CORRUPT,
				   "log entry %" PRIu64 ": checksum mismatch (stored %08" PRIx32
				   ", computed %08" PRIx32 ")",
				   index, want, got);
	if (p[9] | p[10] | p[11])
		return store__fail(s, -ERR_STORE_CORRUPT,
				   "log entry %" PRIu64 ": reserved header bytes set", index);
	e->term = store__get64(p);
	e->index = index;
	e->type = p[8];
	e->len = (uint32_t)len;
	e->data = p + LOG_HDR;
	return 0;
}

/* Entry `index`, which the caches say is stored. */
static int log_get(struct store *s, MDB_txn *txn, uint64_t index, struct store_entry *e)
{
	uint8_t k[8];
	store__put64(k, index);
	MDB_val key = {8, k}, v;
	int rc = mdb_get(txn, s->dbi_log, &key, &v);
	if (rc == MDB_NOTFOUND)
		return store__fail(s, -ERR_STORE_CORRUPT,
				   "log entry %" PRIu64 " missing inside [%" PRIu64 ", %" PRIu64
				   "]",
				   index, s->log_first, s->log_last);
	if (rc)
		return store__fail_mdb(s, rc, "read log entry %" PRIu64, index);
	return log_decode(s, index, &v, e);
}

static bool log_has(const struct store *s, uint64_t index)
{
	return s->log_last && index >= s->log_first && index <= s->log_last;
}

static int log_not_stored(struct store *s, const char *what, uint64_t index)
{
	return store__fail(s, -ERR_NOTFOUND,
			   "%s %" PRIu64 ": not stored (log [%" PRIu64 ", %" PRIu64
			   "], snapshot %" PRIu64 ")",
			   what, index, store_first_index(s), store_last_index(s), s->snap.index);
}

int store__log_term_txn(struct store *s, MDB_txn *txn, uint64_t index, uint64_t *term)
{
	if (index == s->snap.index) {
		*term = s->snap.term;
		return 0;
	}
	if (!log_has(s, index))
		return log_not_stored(s, "term at", index);
	struct store_entry e;
	int rc = log_get(s, txn, index, &e);
	if (rc == 0)
		*term = e.term;
	return rc;
}

/* --- Open-time checks -------------------------------------------------------- */

int store__log_load(struct store *s, MDB_txn *txn)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, s->dbi_log, &c);
	if (rc)
		return store__fail_mdb(s, rc, "load log");
	MDB_val k, v;
	struct store_entry first, last;
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	if (rc == MDB_NOTFOUND) {
		mdb_cursor_close(c);
		s->log_first = s->log_last = 0;
		s->last_term = s->snap.term;
		return 0;
	}
	if (rc == 0 && k.mv_size != 8)
		rc = store__fail(s, -ERR_STORE_CORRUPT, "log key of %zu bytes", k.mv_size);
	else if (rc == 0)
		rc = log_decode(s, store__get64(k.mv_data), &v, &first);
	else
		rc = store__fail_mdb(s, rc, "load log");
	if (rc == 0) {
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
		if (rc == 0 && k.mv_size != 8)
			rc = store__fail(s, -ERR_STORE_CORRUPT, "log key of %zu bytes", k.mv_size);
		else if (rc == 0)
			rc = log_decode(s, store__get64(k.mv_data), &v, &last);
		else
			rc = store__fail_mdb(s, rc, "load log");
	}
	mdb_cursor_close(c);
	if (rc)
		return rc;
	MDB_stat st;
	rc = mdb_stat(txn, s->dbi_log, &st);
	if (rc)
		return store__fail_mdb(s, rc, "load log");
	if (first.index == 0 || st.ms_entries != last.index - first.index + 1)
		return store__fail(s, -ERR_STORE_CORRUPT,
				   "log holds %zu entries in [%" PRIu64 ", %" PRIu64
				   "]: not contiguous",
				   st.ms_entries, first.index, last.index);
	if (s->snap.index ? first.index > s->snap.index + 1 || last.index < s->snap.index
			  : first.index != 1)
		return store__fail(s, -ERR_STORE_CORRUPT,
				   "log [%" PRIu64 ", %" PRIu64
				   "] does not meet the snapshot at %" PRIu64,
				   first.index, last.index, s->snap.index);
	s->log_first = first.index;
	s->log_last = last.index;
	s->last_term = last.term;
	return 0;
}

int store__log_verify(struct store *s, MDB_txn *txn)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, s->dbi_log, &c);
	if (rc)
		return store__fail_mdb(s, rc, "verify log");
	MDB_val k, v;
	uint64_t want = s->log_first, prev_term = 0;
	int err = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !err;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct store_entry e;
		if (k.mv_size != 8 || store__get64(k.mv_data) != want)
			err = store__fail(s, -ERR_STORE_CORRUPT,
					  "log: expected entry %" PRIu64 ", found another key",
					  want);
		else
			err = log_decode(s, want, &v, &e);
		if (err)
			break;
		if (e.term < prev_term)
			err = store__fail(s, -ERR_STORE_CORRUPT,
					  "log entry %" PRIu64 ": term %" PRIu64
					  " after term %" PRIu64,
					  want, e.term, prev_term);
		else if (s->snap.index && want == s->snap.index && e.term != s->snap.term)
			err = store__fail(s, -ERR_STORE_CORRUPT,
					  "log entry %" PRIu64 ": term %" PRIu64
					  ", the snapshot says %" PRIu64,
					  want, e.term, s->snap.term);
		prev_term = e.term;
		want++;
	}
	mdb_cursor_close(c);
	if (err)
		return err;
	if (rc != MDB_NOTFOUND)
		return store__fail_mdb(s, rc, "verify log");
	if (s->log_last && want != s->log_last + 1)
		return store__fail(s, -ERR_STORE_CORRUPT,
				   "log: ends at %" PRIu64 ", expected %" PRIu64, want - 1,
				   s->log_last);
	if (!s->log_last && want != s->log_first)
		return store__fail(s, -ERR_STORE_CORRUPT, "log: entries where none were expected");
	return 0;
}

/* --- Reads -------------------------------------------------------------------- */

int store_term(struct store *s, uint64_t index, uint64_t *term)
{
	if (!s->is_open)
		return store__fail(s, -ERR_INVAL, "term: store not open");
	if (index == s->snap.index) {
		*term = s->snap.term;
		return 0;
	}
	if (s->log_last && index == s->log_last) {
		*term = s->last_term;
		return 0;
	}
	if (!log_has(s, index))
		return log_not_stored(s, "term at", index);
	int rc = store__rbegin(s);
	if (rc)
		return rc;
	struct store_entry e;
	rc = log_get(s, s->rtxn, index, &e);
	if (rc == 0)
		*term = e.term;
	store__rend(s);
	return rc;
}

int store_entry_get(struct store *s, uint64_t index, struct store_entry *e, void *buf, size_t cap)
{
	if (!s->is_open)
		return store__fail(s, -ERR_INVAL, "entry: store not open");
	if (!log_has(s, index))
		return log_not_stored(s, "entry", index);
	int rc = store__rbegin(s);
	if (rc)
		return rc;
	rc = log_get(s, s->rtxn, index, e);
	if (rc == 0 && e->len > cap) {
		rc = store__fail(s, -ERR_BUF_FULL,
				 "entry %" PRIu64 ": %" PRIu32 " bytes, the buffer holds %zu",
				 index, e->len, cap);
		e->data = NULL;
	} else if (rc == 0) {
		if (e->len)
			memcpy(buf, e->data, e->len);
		e->data = buf;
	}
	store__rend(s);
	return rc;
}

int store_log_read(struct store *s, uint64_t first, uint32_t max_n, struct store_entry *out,
		   void *buf, size_t cap)
{
	if (!s->is_open || !out || !max_n)
		return store__fail(s, -ERR_INVAL, "read log: bad arguments");
	if (!log_has(s, first))
		return log_not_stored(s, "entry", first);
	if (max_n > INT32_MAX)
		max_n = INT32_MAX;
	int rc = store__rbegin(s);
	if (rc)
		return rc;
	uint8_t *dst = buf;
	size_t used = 0;
	uint32_t n = 0;
	for (uint64_t i = first; i <= s->log_last && n < max_n; i++) {
		struct store_entry e;
		rc = log_get(s, s->rtxn, i, &e);
		if (rc)
			break;
		if (e.len > cap - used) {
			if (n == 0) {
				out[0] = e;
				out[0].data = NULL;
				rc = store__fail(s, -ERR_BUF_FULL,
						 "entry %" PRIu64 ": %" PRIu32
						 " bytes, the buffer holds %zu",
						 i, e.len, cap);
			}
			break;
		}
		if (e.len)
			memcpy(dst + used, e.data, e.len);
		e.data = dst + used;
		used += e.len;
		out[n++] = e;
	}
	store__rend(s);
	return rc ? rc : (int)n;
}

/* --- Writes ------------------------------------------------------------------- */

int store__log_del(struct store *s, MDB_txn *txn, uint64_t index)
{
	uint8_t k[8];
	store__put64(k, index);
	MDB_val key = {8, k};
	int rc = mdb_del(txn, s->dbi_log, &key, NULL);
	if (rc)
		return store__fail_mdb(s, rc, "delete log entry %" PRIu64, index);
	return 0;
}

/* Arguments checks of store_write that need no transaction. */
static int write_check(struct store *s, const struct store_write *w)
{
	if (!s->is_open)
		return store__fail(s, -ERR_INVAL, "write: store not open");
	if (s->wtxn_open)
		return store__fail(s, -ERR_INVAL, "write: a write transaction is open");
	if (w->n && !w->ents)
		return store__fail(s, -ERR_INVAL, "write: entries missing");
	if (w->n > s->cfg.max_batch)
		return store__fail(s, -ERR_STORE_BATCH_TOO_LARGE,
				   "write: %" PRIu32 " entries over max_batch %" PRIu32, w->n,
				   s->cfg.max_batch);
	for (uint32_t i = 0; i < w->n; i++) {
		const struct store_entry *e = &w->ents[i];
		if (e->len > s->cfg.max_entry)
			return store__fail(s, -ERR_STORE_ENTRY_TOO_LARGE,
					   "write: entry %" PRIu64 " of %" PRIu32
					   " bytes over max_entry %" PRIu32,
					   e->index, e->len, s->cfg.max_entry);
		if (e->len && !e->data)
			return store__fail(s, -ERR_INVAL, "write: entry %" PRIu64 " without bytes",
					   e->index);
		if (e->term == 0)
			return store__fail(s, -ERR_RANGE, "write: entry %" PRIu64 " has term 0",
					   e->index);
		if (e->index != w->ents[0].index + i)
			return store__fail(s, -ERR_RANGE,
					   "write: entry %" PRIu64 " where %" PRIu64 " belongs",
					   e->index, w->ents[0].index + i);
	}
	if (w->hard) {
		const struct store_hard *h = w->hard, *o = &s->hard;
		if (h->term < o->term)
			return store__fail(s, -ERR_RANGE,
					   "hard state: term %" PRIu64
					   " would go back from %" PRIu64,
					   h->term, o->term);
		if (h->term == o->term && o->vote && h->vote != o->vote)
			return store__fail(s, -ERR_RANGE,
					   "hard state: vote in term %" PRIu64
					   " already cast for %" PRIu64 ", not %" PRIu64,
					   h->term, o->vote, h->vote);
		if (h->commit < o->commit)
			return store__fail(s, -ERR_RANGE,
					   "hard state: commit %" PRIu64
					   " would go back from %" PRIu64,
					   h->commit, o->commit);
	}
	if (w->truncate_from && w->truncate_from <= s->snap.index)
		return store__fail(s, -ERR_RANGE,
				   "truncate at %" PRIu64 ": covered by the snapshot at %" PRIu64,
				   w->truncate_from, s->snap.index);
	return 0;
}

/* Entries about to be deleted at or below the commit index must come back
 * with the same term (Log Matching: same index and term, same entry). */
static int write_check_committed(struct store *s, MDB_txn *txn, const struct store_write *w)
{
	uint64_t top = s->hard.commit < s->log_last ? s->hard.commit : s->log_last;
	for (uint64_t i = w->truncate_from; i <= top; i++) {
		uint64_t k = i - w->truncate_from;
		if (k >= w->n)
			return store__fail(s, -ERR_RANGE,
					   "truncate at %" PRIu64
					   " would delete committed entry %" PRIu64
					   " (commit %" PRIu64 ")",
					   w->truncate_from, i, s->hard.commit);
		struct store_entry e;
		int rc = log_get(s, txn, i, &e);
		if (rc)
			return rc;
		if (e.term != w->ents[k].term)
			return store__fail(s, -ERR_RANGE,
					   "entry %" PRIu64 " is committed (commit %" PRIu64
					   ") with term %" PRIu64 ", not %" PRIu64,
					   i, s->hard.commit, e.term, w->ents[k].term);
	}
	return 0;
}

static int log_put(struct store *s, MDB_txn *txn, const struct store_entry *e)
{
	uint8_t k[8];
	store__put64(k, e->index);
	MDB_val key = {8, k}, v = {LOG_HDR + (size_t)e->len, NULL};
	int rc = mdb_put(txn, s->dbi_log, &key, &v, MDB_APPEND | MDB_RESERVE);
	if (rc)
		return store__fail_mdb(s, rc, "append entry %" PRIu64, e->index);
	uint8_t *p = v.mv_data;
	store__put64(p, e->term);
	p[8] = e->type;
	p[9] = p[10] = p[11] = 0;
	if (e->len)
		memcpy(p + LOG_HDR, e->data, e->len);
	store__put32(p + 12, log_crc(k, p, e->data, e->len));
	return 0;
}

int store_write(struct store *s, const struct store_write *w)
{
	int rc = write_check(s, w);
	if (rc)
		return rc;
	/* The log after the truncation: stored keys [first, last], last_term. */
	uint64_t first = s->log_first, last = s->log_last, last_term = s->last_term;
	uint64_t tf = w->truncate_from;
	bool cut = tf && s->log_last && tf <= s->log_last;
	if (cut) {
		if (tf < first)
			tf = first;
		last = tf - 1;
		if (last < first)
			first = last = 0;
	}
	if (!cut && !w->n && !w->hard)
		return 0; /* nothing to write */
	uint64_t last_index = last ? last : s->snap.index;
	if (w->n && w->ents[0].index != last_index + 1)
		return store__fail(s, -ERR_RANGE,
				   "append: entry %" PRIu64
				   " does not follow the last index %" PRIu64,
				   w->ents[0].index, last_index);
	MDB_txn *txn;
	rc = store__wbegin(s, &txn, "write");
	if (rc)
		return rc;
	if (cut) {
		struct store_write wt = *w;
		wt.truncate_from = tf;
		rc = write_check_committed(s, txn, &wt);
		if (!rc && last)
			rc = store__log_term_txn(s, txn, last, &last_term);
		else if (!rc)
			last_term = s->snap.term;
		for (uint64_t i = s->log_last; !rc && i >= tf; i--)
			rc = store__log_del(s, txn, i);
	}
	uint64_t prev = last_term;
	for (uint32_t i = 0; !rc && i < w->n; i++) {
		const struct store_entry *e = &w->ents[i];
		if (e->term < prev)
			rc = store__fail(s, -ERR_RANGE,
					 "append: entry %" PRIu64 " has term %" PRIu64
					 ", below the previous %" PRIu64,
					 e->index, e->term, prev);
		else
			rc = log_put(s, txn, e);
		prev = e->term;
	}
	if (!rc && w->hard) {
		uint8_t p[24];
		store__put64(p, w->hard->term);
		store__put64(p + 8, w->hard->vote);
		store__put64(p + 16, w->hard->commit);
		rc = store__rec_put(s, txn, s->dbi_hard, "state", p, sizeof p);
	}
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = store__wcommit(s, txn, "write");
	if (rc)
		return rc;
	s->log_first = first;
	s->log_last = last;
	s->last_term = last_term;
	if (w->n) {
		if (!s->log_last)
			s->log_first = w->ents[0].index;
		s->log_last = w->ents[w->n - 1].index;
		s->last_term = w->ents[w->n - 1].term;
	}
	if (w->hard)
		s->hard = *w->hard;
	return 0;
}

int store_append(struct store *s, const struct store_entry *ents, uint32_t n)
{
	struct store_write w = {.ents = ents, .n = n};
	return store_write(s, &w);
}

int store_set_hard(struct store *s, const struct store_hard *h)
{
	if (!h)
		return store__fail(s, -ERR_INVAL, "hard state: missing");
	struct store_write w = {.hard = h};
	return store_write(s, &w);
}

int store_log_truncate(struct store *s, uint64_t from)
{
	if (!from)
		return store__fail(s, -ERR_INVAL, "truncate at 0");
	struct store_write w = {.truncate_from = from};
	return store_write(s, &w);
}

int store_log_compact(struct store *s, uint64_t upto)
{
	if (!s->is_open)
		return store__fail(s, -ERR_INVAL, "compact: store not open");
	if (s->wtxn_open)
		return store__fail(s, -ERR_INVAL, "compact: a write transaction is open");
	if (upto > s->snap.index)
		return store__fail(s, -ERR_RANGE,
				   "compact up to %" PRIu64 ": past the snapshot at %" PRIu64, upto,
				   s->snap.index);
	while (s->log_last && s->log_first <= upto) {
		uint64_t hi = upto < s->log_last ? upto : s->log_last;
		if (hi - s->log_first >= STORE_COMPACT_CHUNK)
			hi = s->log_first + STORE_COMPACT_CHUNK - 1;
		MDB_txn *txn;
		int rc = store__wbegin(s, &txn, "compact");
		for (uint64_t i = s->log_first; !rc && i <= hi; i++)
			rc = store__log_del(s, txn, i);
		if (rc) {
			if (txn)
				mdb_txn_abort(txn);
			return rc;
		}
		rc = store__wcommit(s, txn, "compact");
		if (rc)
			return rc;
		if (hi == s->log_last) {
			s->log_first = s->log_last = 0;
			s->last_term = s->snap.term;
		} else {
			s->log_first = hi + 1;
		}
	}
	return 0;
}
