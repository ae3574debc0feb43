/* store_snap.c — the snapshot: one description record and a blob in pieces.
 *
 * Implementation notes
 *
 * - "snap" database:
 *
 *       "info"                 record (store.c's checksum):
 *                              index u64 | term u64 | size u64 | chunks u32 |
 *                              blob_crc u32 | conf_len u32 | slot u8 | 0 0 0 |
 *                              conf bytes
 *       slot u8 | offset u64   a piece of the blob starting at `offset`, as
 *       (9 bytes, big-endian)  bytes || crc32c(key || bytes)
 *
 *   Chunk keys start with 0x00 or 0x01 and sort before "info".
 * - Two slots: the current snapshot's pieces live in one, a snapshot being
 *   written goes to the other, so readers streaming the current one to a
 *   follower keep working until the switch. The switch (new "info", the old
 *   slot's pieces deleted, the log trimmed per the mode) is one transaction.
 *   Pieces of an abandoned writer stay until the next store_snap_begin
 *   clears that slot.
 * - Pieces have the length the writer gave; store_snap_read finds the piece
 *   holding an offset with one cursor seek (MDB_SET_RANGE, then MDB_PREV),
 *   on the cursor store_open made, so reading allocates nothing.
 */
#include "store/store.h"

#include "base/base_err.h"

#include <inttypes.h>
#include <lmdb.h>
#include <string.h>

#define SNAP_INFO_FIXED 40
#define SNAP_KEY 9

static void snap_key(uint8_t k[SNAP_KEY], uint8_t slot, uint64_t off)
{
	k[0] = slot;
	store__put64(k + 1, off);
}

static int snap_info_decode(struct store *s, const uint8_t *p, size_t n,
			    struct store_snap_info *info, uint8_t *slot)
{
	if (n < SNAP_INFO_FIXED)
		return store__fail(s, -ERR_STORE_CORRUPT, "snapshot record of %zu bytes", n);
	info->index = store__get64(p);
	info->term = store__get64(p + 8);
	info->size = store__get64(p + 16);
	info->chunks = store__get32(p + 24);
	info->blob_crc = store__get32(p + 28);
	info->conf_len = store__get32(p + 32);
	*slot = p[36];
	if (n != SNAP_INFO_FIXED + (size_t)info->conf_len || *slot > 1 || p[37] | p[38] | p[39] ||
	    info->index == 0 || info->term == 0)
		return store__fail(s, -ERR_STORE_CORRUPT, "snapshot record malformed");
	return 0;
}

int store__snap_load(struct store *s, MDB_txn *txn)
{
	const uint8_t *p;
	size_t n;
	int rc = store__rec_get(s, txn, s->dbi_snap, "info", &p, &n);
	if (rc == -ERR_NOTFOUND) {
		memset(&s->snap, 0, sizeof s->snap);
		s->snap_slot = 0;
		return 0;
	}
	if (rc)
		return rc;
	return snap_info_decode(s, p, n, &s->snap, &s->snap_slot);
}

/* Check one stored piece; data and len get its bytes. */
static int snap_chunk_decode(struct store *s, const MDB_val *k, const MDB_val *v,
			     const uint8_t **data, size_t *len)
{
	if (v->mv_size < 4)
		return store__fail(s, -ERR_STORE_CORRUPT, "snapshot chunk of %zu bytes",
				   v->mv_size);
	const uint8_t *p = v->mv_data;
	size_t n = v->mv_size - 4;
	uint32_t want = store__get32(p + n);
	uint32_t got = store_crc32c(store_crc32c(0, k->mv_data, SNAP_KEY), p, n);
	if (want != got)
		return store__fail(s, -ERR_STORE_CORRUPT,
				   "snapshot chunk at offset %" PRIu64
				   ": checksum mismatch (stored %08" PRIx32 ", computed %08" PRIx32
				   ")",
				   store__get64((const uint8_t *)k->mv_data + 1), want, got);
	*data = p;
	*len = n;
	return 0;
}

static bool snap_is_chunk(const MDB_val *k, uint8_t slot)
{
	return k->mv_size == SNAP_KEY && ((const uint8_t *)k->mv_data)[0] == slot;
}

int store__snap_verify(struct store *s, MDB_txn *txn)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, s->dbi_snap, &c);
	if (rc)
		return store__fail_mdb(s, rc, "verify snapshot");
	MDB_val k, v;
	uint64_t size = 0;
	uint32_t chunks = 0, crc = 0;
	int err = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !err;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size == 4 && !memcmp(k.mv_data, "info", 4))
			continue;
		if (k.mv_size != SNAP_KEY || ((const uint8_t *)k.mv_data)[0] > 1) {
			err = store__fail(s, -ERR_STORE_CORRUPT, "snapshot: unexpected key");
			break;
		}
		if (!s->snap.index || !snap_is_chunk(&k, s->snap_slot))
			continue; /* an abandoned writer's pieces */
		const uint8_t *data;
		size_t len;
		err = snap_chunk_decode(s, &k, &v, &data, &len);
		if (!err && store__get64((const uint8_t *)k.mv_data + 1) != size)
			err = store__fail(s, -ERR_STORE_CORRUPT,
					  "snapshot: piece at %" PRIu64 " where %" PRIu64
					  " belongs",
					  store__get64((const uint8_t *)k.mv_data + 1), size);
		if (err)
			break;
		size += len;
		chunks++;
		crc = store_crc32c(crc, data, len);
	}
	mdb_cursor_close(c);
	if (err)
		return err;
	if (rc != MDB_NOTFOUND)
		return store__fail_mdb(s, rc, "verify snapshot");
	if (s->snap.index &&
	    (size != s->snap.size || chunks != s->snap.chunks || crc != s->snap.blob_crc))
		return store__fail(s, -ERR_STORE_CORRUPT,
				   "snapshot at %" PRIu64 ": blob of %" PRIu64 " bytes in %" PRIu32
				   " pieces (crc %08" PRIx32 "), the record says %" PRIu64
				   " in %" PRIu32 " (crc %08" PRIx32 ")",
				   s->snap.index, size, chunks, crc, s->snap.size, s->snap.chunks,
				   s->snap.blob_crc);
	return 0;
}

/* Delete every piece in `slot`. */
static int snap_clear_slot(struct store *s, MDB_txn *txn, uint8_t slot)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, s->dbi_snap, &c);
	if (rc)
		return store__fail_mdb(s, rc, "clear snapshot slot");
	uint8_t kb[SNAP_KEY];
	snap_key(kb, slot, 0);
	MDB_val k = {SNAP_KEY, kb}, v;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && snap_is_chunk(&k, slot)) {
		rc = mdb_cursor_del(c, 0);
		if (rc == 0) /* after a delete, NEXT yields the following item */
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return store__fail_mdb(s, rc, "clear snapshot slot");
	return 0;
}

int store_snap_begin(struct store *s, struct store_snap_writer *w, uint64_t index, uint64_t term)
{
	memset(w, 0, sizeof *w);
	if (!s->is_open)
		return store__fail(s, -ERR_INVAL, "snapshot: store not open");
	if (s->snap_busy)
		return store__fail(s, -ERR_INVAL, "snapshot: another one is being written");
	if (!index || !term)
		return store__fail(s, -ERR_INVAL, "snapshot: index and term must be set");
	if (index <= s->snap.index)
		return store__fail(s, -ERR_RANGE,
				   "snapshot at %" PRIu64 ": not past the current one at %" PRIu64,
				   index, s->snap.index);
	uint8_t slot = s->snap.index ? (uint8_t)(s->snap_slot ^ 1) : 0;
	MDB_txn *txn;
	int rc = store__wbegin(s, &txn, "snapshot begin");
	if (rc)
		return rc;
	rc = snap_clear_slot(s, txn, slot);
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = store__wcommit(s, txn, "snapshot begin");
	if (rc)
		return rc;
	w->s = s;
	w->index = index;
	w->term = term;
	w->slot = slot;
	s->snap_busy = true;
	return 0;
}

int store_snap_write(struct store_snap_writer *w, const void *data, size_t len)
{
	struct store *s = w->s;
	if (!s)
		return -ERR_INVAL;
	if (!len || !data)
		return store__fail(s, -ERR_INVAL, "snapshot write: empty piece");
	if (len > s->cfg.max_entry)
		return store__fail(s, -ERR_STORE_ENTRY_TOO_LARGE,
				   "snapshot write: piece of %zu bytes over max_entry %" PRIu32,
				   len, s->cfg.max_entry);
	if (w->chunks == UINT32_MAX)
		return store__fail(s, -ERR_RANGE, "snapshot write: too many pieces");
	MDB_txn *txn;
	int rc = store__wbegin(s, &txn, "snapshot write");
	if (rc)
		return rc;
	uint8_t kb[SNAP_KEY];
	snap_key(kb, w->slot, w->size);
	MDB_val k = {SNAP_KEY, kb}, v = {len + 4, NULL};
	rc = mdb_put(txn, s->dbi_snap, &k, &v, MDB_RESERVE);
	if (rc) {
		mdb_txn_abort(txn);
		return store__fail_mdb(s, rc, "snapshot write at offset %" PRIu64, w->size);
	}
	uint8_t *p = v.mv_data;
	memcpy(p, data, len);
	store__put32(p + len, store_crc32c(store_crc32c(0, kb, SNAP_KEY), data, len));
	rc = store__wcommit(s, txn, "snapshot write");
	if (rc)
		return rc;
	w->size += len;
	w->chunks++;
	w->crc = store_crc32c(w->crc, data, len);
	return 0;
}

static int snap_info_put(struct store *s, MDB_txn *txn, const struct store_snap_info *info,
			 uint8_t slot, const void *conf)
{
	size_t n = SNAP_INFO_FIXED + (size_t)info->conf_len;
	MDB_val k = {4, (void *)"info"}, v = {n + 4, NULL};
	int rc = mdb_put(txn, s->dbi_snap, &k, &v, MDB_RESERVE);
	if (rc)
		return store__fail_mdb(s, rc, "write snapshot record");
	uint8_t *p = v.mv_data;
	store__put64(p, info->index);
	store__put64(p + 8, info->term);
	store__put64(p + 16, info->size);
	store__put32(p + 24, info->chunks);
	store__put32(p + 28, info->blob_crc);
	store__put32(p + 32, info->conf_len);
	p[36] = slot;
	p[37] = p[38] = p[39] = 0;
	if (info->conf_len)
		memcpy(p + SNAP_INFO_FIXED, conf, info->conf_len);
	store__put32(p + n, store_crc32c(store_crc32c(0, "info", 4), p, n));
	return 0;
}

static int snap_finish(struct store *s, const struct store_snap_writer *w, struct store_txn *t,
		       const void *conf, uint32_t conf_len, enum store_snap_mode mode)
{
	if (conf_len > STORE_CONF_MAX)
		return store__fail(s, -ERR_TOO_LARGE,
				   "snapshot: configuration of %" PRIu32 " bytes over %u", conf_len,
				   STORE_CONF_MAX);
	if ((conf_len && !conf) || (unsigned)mode > STORE_SNAP_DROP_ALL)
		return store__fail(s, -ERR_INVAL, "snapshot finish: bad arguments");
	if (t && (t->s != s || !t->write || t->set_snap))
		return store__fail(
			s, -ERR_INVAL,
			"snapshot finish: needs an open write transaction of this store");
	if (!t && s->wtxn_open)
		return store__fail(s, -ERR_INVAL, "snapshot finish: a write transaction is open");
	MDB_txn *txn = t ? t->txn : NULL;
	int rc = 0;
	if (!t) {
		rc = store__wbegin(s, &txn, "snapshot finish");
		if (rc)
			return rc;
	}
	uint64_t first = s->log_first, last = s->log_last, last_term = s->last_term;
	if (mode != STORE_SNAP_DROP_ALL) {
		uint64_t term = 0;
		rc = store__log_term_txn(s, txn, w->index, &term);
		if (rc == -ERR_NOTFOUND || (rc == 0 && term != w->term))
			rc = store__fail(s, -ERR_RANGE,
					 "snapshot at %" PRIu64 " term %" PRIu64
					 ": the log does not hold that entry",
					 w->index, w->term);
	}
	if (!rc && mode == STORE_SNAP_DROP_UPTO) {
		for (uint64_t i = first; !rc && i <= w->index; i++)
			rc = store__log_del(s, txn, i);
		first = w->index + 1;
		if (first > last) {
			first = last = 0;
			last_term = w->term;
		}
	} else if (!rc && mode == STORE_SNAP_DROP_ALL) {
		rc = mdb_drop(txn, s->dbi_log, 0);
		if (rc)
			rc = store__fail_mdb(s, rc, "snapshot: drop the log");
		first = last = 0;
		last_term = w->term;
	}
	struct store_snap_info info = {
		.index = w->index,
		.term = w->term,
		.size = w->size,
		.chunks = w->chunks,
		.blob_crc = w->crc,
		.conf_len = conf_len,
	};
	if (!rc)
		rc = snap_info_put(s, txn, &info, w->slot, conf);
	if (!rc && s->snap.index)
		rc = snap_clear_slot(s, txn, s->snap_slot);
	if (rc) {
		if (t)
			return rc; /* t is now unusable: the caller aborts it */
		mdb_txn_abort(txn);
		return rc;
	}
	if (t) {
		t->set_snap = true;
		t->snap = info;
		t->snap_slot = w->slot;
		t->log_first = first;
		t->log_last = last;
		t->last_term = last_term;
		return 0;
	}
	rc = store__wcommit(s, txn, "snapshot finish");
	if (rc)
		return rc;
	s->snap = info;
	s->snap_slot = w->slot;
	s->log_first = first;
	s->log_last = last;
	s->last_term = last_term;
	return 0;
}

int store_snap_finish(struct store_snap_writer *w, struct store_txn *t, const void *conf,
		      uint32_t conf_len, enum store_snap_mode mode)
{
	struct store *s = w->s;
	if (!s)
		return -ERR_INVAL;
	w->s = NULL;
	int rc = snap_finish(s, w, t, conf, conf_len, mode);
	/* With t, the writer's slot stays reserved until t ends. */
	if (rc || !t)
		s->snap_busy = false;
	return rc;
}

void store_snap_abort(struct store_snap_writer *w)
{
	if (w->s)
		w->s->snap_busy = false;
	w->s = NULL;
}

int store_snap_get(struct store *s, struct store_snap_info *info, void *conf, size_t conf_cap)
{
	if (!s->is_open)
		return store__fail(s, -ERR_INVAL, "snapshot: store not open");
	if (!s->snap.index)
		return store__fail(s, -ERR_NOTFOUND, "no snapshot");
	*info = s->snap;
	if (s->snap.conf_len > conf_cap || (s->snap.conf_len && !conf))
		return store__fail(s, -ERR_BUF_FULL,
				   "snapshot configuration: %" PRIu32
				   " bytes, the buffer holds %zu",
				   s->snap.conf_len, conf_cap);
	if (!s->snap.conf_len)
		return 0;
	int rc = store__rbegin(s);
	if (rc)
		return rc;
	const uint8_t *p;
	size_t n;
	struct store_snap_info got;
	uint8_t slot;
	rc = store__rec_get(s, s->rtxn, s->dbi_snap, "info", &p, &n);
	if (rc == -ERR_NOTFOUND)
		rc = store__fail(s, -ERR_STORE_CORRUPT, "snapshot record missing");
	if (!rc)
		rc = snap_info_decode(s, p, n, &got, &slot);
	if (!rc && (got.index != s->snap.index || got.conf_len != s->snap.conf_len))
		rc = store__fail(s, -ERR_STORE_CORRUPT, "snapshot record changed under us");
	if (!rc)
		memcpy(conf, p + SNAP_INFO_FIXED, got.conf_len);
	store__rend(s);
	return rc;
}

int store_snap_read(struct store *s, uint64_t index, uint64_t offset, void *buf, size_t cap,
		    uint64_t *total)
{
	if (!s->is_open)
		return store__fail(s, -ERR_INVAL, "snapshot read: store not open");
	if (!s->snap.index || s->snap.index != index)
		return store__fail(s, -ERR_NOTFOUND,
				   "snapshot at %" PRIu64 ": not the current one (%" PRIu64 ")",
				   index, s->snap.index);
	*total = s->snap.size;
	if (offset >= s->snap.size || cap == 0)
		return 0;
	if (!buf)
		return store__fail(s, -ERR_INVAL, "snapshot read: no buffer");
	if (cap > INT32_MAX)
		cap = INT32_MAX;
	int rc = store__rbegin(s);
	if (rc)
		return rc;
	uint8_t kb[SNAP_KEY];
	uint8_t slot = s->snap_slot;
	snap_key(kb, slot, offset);
	MDB_val k = {SNAP_KEY, kb}, v;
	rc = mdb_cursor_get(s->rcur, &k, &v, MDB_SET_RANGE);
	if (!(rc == 0 && snap_is_chunk(&k, slot) && !memcmp(k.mv_data, kb, SNAP_KEY)))
		rc = mdb_cursor_get(s->rcur, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
	size_t copied = 0;
	uint64_t want = offset; /* the next piece must start here (after the first) */
	bool first = true;
	int err = 0;
	uint8_t *dst = buf;
	while (rc == 0) {
		uint64_t at = snap_is_chunk(&k, slot) ? store__get64((const uint8_t *)k.mv_data + 1)
						      : UINT64_MAX;
		const uint8_t *data;
		size_t len;
		if (at == UINT64_MAX || (first ? at > offset : at != want)) {
			err = store__fail(s, -ERR_STORE_CORRUPT,
					  "snapshot at %" PRIu64 ": no piece holds offset %" PRIu64,
					  index, offset);
			break;
		}
		err = snap_chunk_decode(s, &k, &v, &data, &len);
		if (err)
			break;
		if (offset >= at + len) {
			err = store__fail(s, -ERR_STORE_CORRUPT,
					  "snapshot at %" PRIu64 ": no piece holds offset %" PRIu64,
					  index, offset);
			break;
		}
		size_t n = (size_t)(at + len - offset);
		if (n > cap - copied)
			n = cap - copied;
		memcpy(dst + copied, data + (offset - at), n);
		copied += n;
		offset += n;
		want = at + len;
		first = false;
		if (copied == cap || offset >= s->snap.size)
			break;
		rc = mdb_cursor_get(s->rcur, &k, &v, MDB_NEXT);
	}
	store__rend(s);
	if (err)
		return err;
	if (rc)
		return rc == MDB_NOTFOUND
			       ? store__fail(s, -ERR_STORE_CORRUPT,
					     "snapshot at %" PRIu64 ": blob cut short", index)
			       : store__fail_mdb(s, rc, "snapshot read");
	return (int)copied;
}
