/* Unit tests for store: the Raft log and the hard state — append, read,
 * term, truncate, compact, the Raft invariants the store enforces, caps on
 * both sides (max_entry, max_batch, map_size), checksums, and crash safety
 * (a child killed at random moments). STORE_BENCH=1 also measures append
 * rates (see docs/internals/store.md).
 */
#include "base/base_err.h"
#include "store/store.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Helpers ------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void dir_remove(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *dir_make(char *buf, size_t cap)
{
	const char *t = getenv("TMPDIR");
	snprintf(buf, cap, "%s/tee-store.XXXXXX", t && t[0] ? t : "/tmp");
	return mkdtemp(buf);
}

static struct store_config cfg_small(void)
{
	return (struct store_config){.map_size = 8u << 20};
}

/* Payload of entry (index, term): its length and bytes follow from both, so
 * any entry read back can be checked without a record of what was written. */
static uint32_t pat_len(uint64_t index, uint64_t term, uint32_t max)
{
	return (uint32_t)((index * 7 + term * 13) % (max + 1));
}

static void pat_fill(uint8_t *p, uint32_t len, uint64_t index, uint64_t term)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(index * 31 + term * 17 + i);
}

static int pat_check(const struct store_entry *e)
{
	uint8_t want[512];
	if (e->len > sizeof want)
		return 0;
	pat_fill(want, e->len, e->index, e->term);
	return e->len == 0 || memcmp(want, e->data, e->len) == 0;
}

/* n entries from `first` in `term`, payloads (up to 200 bytes) in bufs. */
static void ents_make(struct store_entry *ents, uint8_t (*bufs)[256], uint64_t first, uint32_t n,
		      uint64_t term)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t idx = first + i;
		uint32_t len = pat_len(idx, term, 200);
		pat_fill(bufs[i], len, idx, term);
		ents[i] = (struct store_entry){
			.term = term, .index = idx, .data = bufs[i], .len = len, .type = 1};
	}
}

static int append_run(struct store *s, uint64_t first, uint32_t n, uint64_t term)
{
	struct store_entry ents[64];
	static uint8_t bufs[64][256];
	while (n) {
		uint32_t k = n < 64 ? n : 64;
		ents_make(ents, bufs, first, k, term);
		int rc = store_append(s, ents, k);
		if (rc)
			return rc;
		first += k;
		n -= k;
	}
	return 0;
}

/* Every stored entry is there, verifies and carries its pattern. */
static int log_all_ok(struct store *s)
{
	uint8_t buf[512];
	for (uint64_t i = store_first_index(s); i <= store_last_index(s); i++) {
		struct store_entry e;
		if (store_entry_get(s, i, &e, buf, sizeof buf) != 0 || e.index != i ||
		    !pat_check(&e))
			return 0;
	}
	return store_verify(s) == 0;
}

static int raw_flip(const char *dir, const char *db, const void *key, size_t klen, size_t at)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc = mdb_env_create(&env);
	if (rc)
		return rc;
	mdb_env_set_maxdbs(env, 16);
	rc = mdb_env_open(env, dir, 0, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc) {
		mdb_env_close(env);
		return rc;
	}
	MDB_val k = {klen, (void *)key}, v;
	uint8_t copy[4096];
	rc = mdb_dbi_open(txn, db, 0, &dbi);
	if (rc == 0)
		rc = mdb_get(txn, dbi, &k, &v);
	if (rc == 0 && (v.mv_size > sizeof copy || at >= v.mv_size))
		rc = EINVAL;
	if (rc == 0) {
		memcpy(copy, v.mv_data, v.mv_size);
		copy[at] ^= 0x20;
		v.mv_data = copy;
		rc = mdb_put(txn, dbi, &k, &v, 0);
	}
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc;
}

/* Append and read -------------------------------------------------------------------- */

static void append_read_roundtrip(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	struct store_entry ents[10];
	uint8_t bufs[10][256];
	ents_make(ents, bufs, 1, 10, 2);
	ents[3].len = 0; /* an empty payload is fine */
	CHECK_EQ_INT(store_append(&s, ents, 10), 0);
	CHECK_EQ_INT(store_first_index(&s), 1);
	CHECK_EQ_INT(store_last_index(&s), 10);
	CHECK_EQ_INT(store_last_term(&s), 2);
	CHECK_EQ_INT(store_append(&s, ents, 0), 0); /* nothing to do */
	for (int pass = 0; pass < 2; pass++) {
		for (uint64_t i = 1; i <= 10; i++) {
			struct store_entry e;
			uint8_t buf[256];
			uint64_t t = 0;
			CHECK_EQ_INT(store_entry_get(&s, i, &e, buf, sizeof buf), 0);
			CHECK_EQ_INT(e.index, i);
			CHECK_EQ_INT(e.term, 2);
			CHECK_EQ_INT(e.type, 1);
			CHECK_EQ_INT(e.len, ents[i - 1].len);
			CHECK(e.data == buf);
			CHECK(e.len == 0 || memcmp(e.data, bufs[i - 1], e.len) == 0);
			CHECK_EQ_INT(store_term(&s, i, &t), 0);
			CHECK_EQ_INT(t, 2);
		}
		store_close(&s);
		REQUIRE(store_open(&s, dir, &c) == 0);
		CHECK_EQ_INT(store_last_index(&s), 10);
		CHECK_EQ_INT(store_last_term(&s), 2);
	}
	uint64_t t;
	struct store_entry e;
	uint8_t buf[8];
	CHECK_EQ_INT(store_term(&s, 11, &t), -ERR_NOTFOUND);
	CHECK_EQ_INT(store_entry_get(&s, 0, &e, buf, sizeof buf), -ERR_NOTFOUND);
	CHECK_EQ_INT(store_entry_get(&s, 11, &e, buf, sizeof buf), -ERR_NOTFOUND);
	CHECK(strstr(s.errmsg, "not stored") != NULL);
	store_close(&s);
	dir_remove(dir);
}

static void append_keeps_log_contiguous(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	struct store_entry ents[4];
	uint8_t bufs[4][256];
	ents_make(ents, bufs, 2, 1, 1);
	CHECK_EQ_INT(store_append(&s, ents, 1), -ERR_RANGE); /* must start at 1 */
	CHECK(strstr(s.errmsg, "does not follow") != NULL);
	ents_make(ents, bufs, 1, 3, 1);
	CHECK_EQ_INT(store_append(&s, ents, 3), 0);
	ents_make(ents, bufs, 4, 3, 1);
	ents[1].index = 6; /* a hole inside the batch */
	CHECK_EQ_INT(store_append(&s, ents, 3), -ERR_RANGE);
	ents_make(ents, bufs, 4, 3, 2);
	ents[2].term = 1; /* term going back inside the batch */
	CHECK_EQ_INT(store_append(&s, ents, 3), -ERR_RANGE);
	ents_make(ents, bufs, 4, 1, 0); /* term 0 */
	CHECK_EQ_INT(store_append(&s, ents, 1), -ERR_RANGE);
	ents_make(ents, bufs, 3, 1, 1); /* overlapping the last one */
	CHECK_EQ_INT(store_append(&s, ents, 1), -ERR_RANGE);
	CHECK_EQ_INT(store_last_index(&s), 3);
	ents_make(ents, bufs, 4, 2, 3);
	CHECK_EQ_INT(store_append(&s, ents, 2), 0);
	ents_make(ents, bufs, 6, 1, 2); /* below the last term */
	CHECK_EQ_INT(store_append(&s, ents, 1), -ERR_RANGE);
	CHECK_EQ_INT(store_last_index(&s), 5);
	CHECK_EQ_INT(store_last_term(&s), 3);
	CHECK(log_all_ok(&s));
	CHECK_EQ_INT(store_append(&s, NULL, 1), -ERR_INVAL);
	store_close(&s);
	dir_remove(dir);
}

static void entry_get_reports_size(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	uint8_t data[100], buf[100];
	memset(data, 0xab, sizeof data);
	struct store_entry in = {.term = 1, .index = 1, .data = data, .len = 100, .type = 7}, e;
	CHECK_EQ_INT(store_append(&s, &in, 1), 0);
	CHECK_EQ_INT(store_entry_get(&s, 1, &e, buf, 99), -ERR_BUF_FULL);
	CHECK_EQ_INT(e.len, 100); /* the size needed */
	CHECK_EQ_INT(e.type, 7);
	CHECK(e.data == NULL);
	CHECK(strstr(s.errmsg, "100 bytes") != NULL);
	CHECK_EQ_INT(store_entry_get(&s, 1, &e, buf, 100), 0);
	CHECK(memcmp(buf, data, 100) == 0);
	store_close(&s);
	dir_remove(dir);
}

static void log_read_fills_buffer(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(append_run(&s, 1, 30, 1) == 0);
	struct store_entry out[8];
	uint8_t buf[4096];
	int n = store_log_read(&s, 5, 8, out, buf, sizeof buf);
	CHECK_EQ_INT(n, 8);
	for (int i = 0; i < n; i++) {
		CHECK_EQ_INT(out[i].index, 5 + (uint64_t)i);
		CHECK(pat_check(&out[i]));
		CHECK(out[i].data >= buf && out[i].data + out[i].len <= buf + sizeof buf);
	}
	/* The buffer decides: exactly entries 5 and 6 fit, not 7. */
	uint32_t l5 = pat_len(5, 1, 200), l6 = pat_len(6, 1, 200), l7 = pat_len(7, 1, 200);
	REQUIRE(l7 > 0);
	CHECK_EQ_INT(store_log_read(&s, 5, 8, out, buf, l5 + l6 + l7 - 1), 2);
	CHECK_EQ_INT(store_log_read(&s, 5, 8, out, buf, l5 + l6 + l7), 3);
	/* The first does not fit: its size is reported. */
	CHECK_EQ_INT(store_log_read(&s, 7, 8, out, buf, l7 - 1), -ERR_BUF_FULL);
	CHECK_EQ_INT(out[0].len, l7);
	/* The end of the log. */
	CHECK_EQ_INT(store_log_read(&s, 29, 8, out, buf, sizeof buf), 2);
	CHECK_EQ_INT(store_log_read(&s, 31, 8, out, buf, sizeof buf), -ERR_NOTFOUND);
	CHECK_EQ_INT(store_log_read(&s, 0, 8, out, buf, sizeof buf), -ERR_NOTFOUND);
	CHECK_EQ_INT(store_log_read(&s, 1, 0, out, buf, sizeof buf), -ERR_INVAL);
	store_close(&s);
	dir_remove(dir);
}

/* Caps ------------------------------------------------------------------------------ */

static void entry_cap_both_sides(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	c.max_entry = 1000;
	REQUIRE(store_open(&s, dir, &c) == 0);
	static uint8_t data[1001], buf[1001];
	memset(data, 0x5a, sizeof data);
	struct store_entry e[2] = {{.term = 1, .index = 1, .data = data, .len = 1000},
				   {.term = 1, .index = 2, .data = data, .len = 1001}};
	CHECK_EQ_INT(store_append(&s, e, 1), 0); /* just under: exactly max_entry */
	e[0].index = 2;
	e[1].index = 3;
	CHECK_EQ_INT(store_append(&s, e, 2), -ERR_STORE_ENTRY_TOO_LARGE); /* just over */
	CHECK(strstr(s.errmsg, "max_entry 1000") != NULL);
	CHECK_EQ_INT(store_last_index(&s), 1); /* nothing of the batch written */
	struct store_entry got;
	CHECK_EQ_INT(store_entry_get(&s, 1, &got, buf, sizeof buf), 0);
	CHECK_EQ_INT(got.len, 1000);
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	CHECK_EQ_INT(store_last_index(&s), 1);
	store_close(&s);
	dir_remove(dir);
}

static void batch_cap_both_sides(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	c.max_batch = 8;
	REQUIRE(store_open(&s, dir, &c) == 0);
	struct store_entry ents[9];
	uint8_t bufs[9][256];
	ents_make(ents, bufs, 1, 8, 1);
	CHECK_EQ_INT(store_append(&s, ents, 8), 0);
	ents_make(ents, bufs, 9, 9, 1);
	CHECK_EQ_INT(store_append(&s, ents, 9), -ERR_STORE_BATCH_TOO_LARGE);
	CHECK(strstr(s.errmsg, "max_batch 8") != NULL);
	CHECK_EQ_INT(store_last_index(&s), 8);
	CHECK_EQ_INT(store_append(&s, ents, 8), 0);
	CHECK_EQ_INT(store_last_index(&s), 16);
	CHECK(log_all_ok(&s));
	store_close(&s);
	dir_remove(dir);
}

/* Fill a tiny map until it is full: the error names map_size, what was
 * committed before stays readable, the environment keeps working, and a
 * larger map_size at the next open lets the refused write through. */
static void map_full_both_sides(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = {.map_size = 256u << 10};
	REQUIRE(store_open(&s, dir, &c) == 0);
	static uint8_t data[1024];
	struct store_entry e = {.term = 1, .data = data, .len = sizeof data};
	int rc = 0;
	uint64_t i;
	for (i = 1; i < 100000; i++) {
		e.index = i;
		memset(data, (int)(i & 0xff), sizeof data);
		rc = store_append(&s, &e, 1);
		if (rc)
			break;
	}
	CHECK_EQ_INT(rc, -ERR_STORE_FULL);
	CHECK(strstr(s.errmsg, "map_size 262144") != NULL);
	CHECK_EQ_INT(store_last_index(&s), i - 1);
	CHECK(i > 20);
	/* Everything committed before is intact. */
	CHECK_EQ_INT(store_verify(&s), 0);
	for (uint64_t j = 1; j < i; j++) {
		struct store_entry got;
		static uint8_t buf[1024];
		if (store_entry_get(&s, j, &got, buf, sizeof buf) != 0 || buf[0] != (j & 0xff))
			CHECK_EQ_INT(j, 0);
	}
	/* The environment still works: reads, and a small write. */
	uint64_t t = 0;
	CHECK_EQ_INT(store_term(&s, 1, &t), 0);
	struct store_hard h = {.term = 1, .vote = 1, .commit = 1};
	CHECK_EQ_INT(store_set_hard(&s, &h), 0);
	store_close(&s);
	/* Raise map_size: the same write now succeeds. */
	c.map_size = 1u << 20;
	REQUIRE(store_open(&s, dir, &c) == 0);
	CHECK_EQ_INT(store_last_index(&s), i - 1);
	CHECK_EQ_INT(store_get_hard(&s).commit, 1);
	e.index = i;
	memset(data, (int)(i & 0xff), sizeof data);
	CHECK_EQ_INT(store_append(&s, &e, 1), 0);
	CHECK_EQ_INT(store_verify(&s), 0);
	store_close(&s);
	dir_remove(dir);
}

/* Hard state -------------------------------------------------------------------------- */

static void hard_state_rules(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	struct store_hard h = {.term = 5, .vote = 0, .commit = 0};
	CHECK_EQ_INT(store_set_hard(&s, &h), 0);
	h.vote = 3; /* first vote in term 5 */
	CHECK_EQ_INT(store_set_hard(&s, &h), 0);
	h.vote = 2; /* another vote in the same term */
	CHECK_EQ_INT(store_set_hard(&s, &h), -ERR_RANGE);
	CHECK(strstr(s.errmsg, "already cast") != NULL);
	h.vote = 0;
	CHECK_EQ_INT(store_set_hard(&s, &h), -ERR_RANGE);
	h = (struct store_hard){.term = 4, .vote = 3};
	CHECK_EQ_INT(store_set_hard(&s, &h), -ERR_RANGE); /* term back */
	h = (struct store_hard){.term = 6, .vote = 2, .commit = 0};
	CHECK_EQ_INT(store_set_hard(&s, &h), 0); /* a new term, a new vote */
	REQUIRE(append_run(&s, 1, 10, 6) == 0);
	h.commit = 7;
	CHECK_EQ_INT(store_set_hard(&s, &h), 0);
	h.commit = 6;
	CHECK_EQ_INT(store_set_hard(&s, &h), -ERR_RANGE); /* commit back */
	CHECK_EQ_INT(store_set_hard(&s, NULL), -ERR_INVAL);
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	h = store_get_hard(&s);
	CHECK_EQ_INT(h.term, 6);
	CHECK_EQ_INT(h.vote, 2);
	CHECK_EQ_INT(h.commit, 7);
	store_close(&s);
	dir_remove(dir);
}

/* Truncation and compaction ---------------------------------------------------------------- */

static void truncate_respects_commit(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(append_run(&s, 1, 10, 1) == 0);
	struct store_hard h = {.term = 2, .vote = 1, .commit = 5};
	CHECK_EQ_INT(store_set_hard(&s, &h), 0);
	CHECK_EQ_INT(store_log_truncate(&s, 8), 0);
	CHECK_EQ_INT(store_last_index(&s), 7);
	CHECK_EQ_INT(store_log_truncate(&s, 20), 0);         /* past the end: nothing */
	CHECK_EQ_INT(store_log_truncate(&s, 5), -ERR_RANGE); /* would drop committed 5 */
	CHECK(strstr(s.errmsg, "committed") != NULL);
	CHECK_EQ_INT(store_log_truncate(&s, 0), -ERR_INVAL);
	CHECK_EQ_INT(store_last_index(&s), 7);
	/* Conflict resolution: replace 6.. with term 2, in one write. */
	struct store_entry ents[4];
	uint8_t bufs[4][256];
	ents_make(ents, bufs, 6, 4, 2);
	struct store_write w = {.truncate_from = 6, .ents = ents, .n = 4, .hard = NULL};
	CHECK_EQ_INT(store_write(&s, &w), 0);
	CHECK_EQ_INT(store_last_index(&s), 9);
	CHECK_EQ_INT(store_last_term(&s), 2);
	uint64_t t;
	CHECK_EQ_INT(store_term(&s, 5, &t), 0);
	CHECK_EQ_INT(t, 1);
	CHECK_EQ_INT(store_term(&s, 6, &t), 0);
	CHECK_EQ_INT(t, 2);
	/* Rewriting committed entries with their own term is fine (a resent
	 * AppendEntries), with another term it is refused. */
	ents_make(ents, bufs, 4, 2, 1);
	w = (struct store_write){.truncate_from = 4, .ents = ents, .n = 2};
	CHECK_EQ_INT(store_write(&s, &w), 0);
	CHECK_EQ_INT(store_last_index(&s), 5);
	ents_make(ents, bufs, 5, 1, 3);
	w = (struct store_write){.truncate_from = 5, .ents = ents, .n = 1};
	CHECK_EQ_INT(store_write(&s, &w), -ERR_RANGE);
	CHECK_EQ_INT(store_last_index(&s), 5);
	/* Truncate, append and a new hard state in one write. */
	ents_make(ents, bufs, 6, 3, 4);
	h = (struct store_hard){.term = 4, .vote = 2, .commit = 6};
	w = (struct store_write){.truncate_from = 6, .ents = ents, .n = 3, .hard = &h};
	CHECK_EQ_INT(store_write(&s, &w), 0);
	CHECK(log_all_ok(&s));
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	CHECK_EQ_INT(store_last_index(&s), 8);
	CHECK_EQ_INT(store_last_term(&s), 4);
	CHECK_EQ_INT(store_get_hard(&s).commit, 6);
	CHECK(log_all_ok(&s));
	store_close(&s);
	dir_remove(dir);
}

static void truncate_everything_uncommitted(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(append_run(&s, 1, 5, 1) == 0);
	CHECK_EQ_INT(store_log_truncate(&s, 1), 0);
	CHECK_EQ_INT(store_first_index(&s), 1);
	CHECK_EQ_INT(store_last_index(&s), 0);
	CHECK_EQ_INT(store_last_term(&s), 0);
	CHECK_EQ_INT(append_run(&s, 1, 3, 2), 0);
	CHECK_EQ_INT(store_last_term(&s), 2);
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	CHECK_EQ_INT(store_last_index(&s), 3);
	CHECK(log_all_ok(&s));
	store_close(&s);
	dir_remove(dir);
}

static void compact_behind_snapshot(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	/* More than STORE_COMPACT_CHUNK entries, so compaction takes several
	 * transactions. */
	REQUIRE(append_run(&s, 1, 9000, 1) == 0);
	REQUIRE(append_run(&s, 9001, 100, 2) == 0);
	CHECK_EQ_INT(store_log_compact(&s, 10), -ERR_RANGE); /* no snapshot yet */
	struct store_snap_writer w;
	REQUIRE(store_snap_begin(&s, &w, 9050, 2) == 0);
	REQUIRE(store_snap_write(&w, "state", 5) == 0);
	REQUIRE(store_snap_finish(&w, NULL, NULL, 0, STORE_SNAP_KEEP_LOG) == 0);
	CHECK_EQ_INT(store_first_index(&s), 1); /* the log is kept */
	CHECK_EQ_INT(store_log_compact(&s, 9051), -ERR_RANGE);
	CHECK(strstr(s.errmsg, "past the snapshot") != NULL);
	CHECK_EQ_INT(store_log_compact(&s, 9000), 0);
	CHECK_EQ_INT(store_first_index(&s), 9001);
	CHECK_EQ_INT(store_last_index(&s), 9100);
	CHECK_EQ_INT(store_log_compact(&s, 100), 0); /* already gone: nothing */
	uint64_t t;
	struct store_entry e;
	uint8_t buf[256];
	CHECK_EQ_INT(store_entry_get(&s, 9000, &e, buf, sizeof buf), -ERR_NOTFOUND);
	CHECK_EQ_INT(store_term(&s, 9000, &t), -ERR_NOTFOUND);
	CHECK_EQ_INT(store_term(&s, 9050, &t), 0);
	CHECK_EQ_INT(t, 2);
	CHECK_EQ_INT(store_log_compact(&s, 9050), 0);
	CHECK_EQ_INT(store_first_index(&s), 9051);
	CHECK_EQ_INT(store_term(&s, 9050, &t), 0); /* from the snapshot */
	CHECK_EQ_INT(t, 2);
	CHECK(log_all_ok(&s));
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	CHECK_EQ_INT(store_first_index(&s), 9051);
	CHECK_EQ_INT(store_last_index(&s), 9100);
	/* Truncating into the snapshot is refused. */
	CHECK_EQ_INT(store_log_truncate(&s, 9050), -ERR_RANGE);
	CHECK_EQ_INT(store_log_truncate(&s, 9051), 0);
	CHECK_EQ_INT(store_first_index(&s), 9051);
	CHECK_EQ_INT(store_last_index(&s), 9050);
	CHECK_EQ_INT(store_last_term(&s), 2);
	CHECK_EQ_INT(append_run(&s, 9051, 2, 3), 0);
	CHECK(log_all_ok(&s));
	store_close(&s);
	dir_remove(dir);
}

static void writes_refused_while_txn_open(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	struct store_txn t;
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	CHECK_EQ_INT(append_run(&s, 1, 1, 1), -ERR_INVAL);
	CHECK(strstr(s.errmsg, "write transaction is open") != NULL);
	CHECK_EQ_INT(store_log_compact(&s, 0), -ERR_INVAL);
	store_txn_abort(&t);
	CHECK_EQ_INT(append_run(&s, 1, 1, 1), 0);
	store_close(&s);
	dir_remove(dir);
}

/* Injected commit failures (test builds): every writer leaves the store as
 * it was and usable; a compaction cut short leaves a shorter, contiguous log. */
static void failed_commits_change_nothing(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(append_run(&s, 1, 5000, 1) == 0);
	s.fault_commit = 1;
	CHECK_EQ_INT(append_run(&s, 5001, 1, 1), -ERR_FAULT);
	CHECK(strstr(s.errmsg, "injected") != NULL);
	CHECK_EQ_INT(store_last_index(&s), 5000);
	CHECK_EQ_INT(append_run(&s, 5001, 1, 2), 0);
	struct store_hard h = {.term = 2, .vote = 1, .commit = 10};
	s.fault_commit = 1;
	CHECK_EQ_INT(store_set_hard(&s, &h), -ERR_FAULT);
	CHECK_EQ_INT(store_get_hard(&s).term, 0);
	CHECK_EQ_INT(store_set_hard(&s, &h), 0);
	/* The apply transaction. */
	struct store_txn t;
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	CHECK_EQ_INT(store_sm_put(&t, "kv", SLICE_LIT("k"), SLICE_LIT("v")), 0);
	CHECK_EQ_INT(store_txn_set_applied(&t, 7), 0);
	s.fault_commit = 1;
	CHECK_EQ_INT(store_txn_commit(&t), -ERR_FAULT);
	CHECK_EQ_INT(store_applied(&s), 0);
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_READ) == 0);
	struct slice v;
	CHECK_EQ_INT(store_sm_get(&t, "kv", SLICE_LIT("k"), &v), -ERR_NOTFOUND);
	store_txn_abort(&t);
	/* The snapshot writer: a failed piece can be written again, a failed
	 * switch ends the writer and changes nothing. */
	struct store_snap_writer w;
	REQUIRE(store_snap_begin(&s, &w, 4500, 1) == 0);
	s.fault_commit = 1;
	CHECK_EQ_INT(store_snap_write(&w, "abc", 3), -ERR_FAULT);
	CHECK_EQ_INT(w.size, 0);
	CHECK_EQ_INT(store_snap_write(&w, "abc", 3), 0);
	s.fault_commit = 1;
	CHECK_EQ_INT(store_snap_finish(&w, NULL, NULL, 0, STORE_SNAP_KEEP_LOG), -ERR_FAULT);
	CHECK_EQ_INT(s.snap.index, 0);
	REQUIRE(store_snap_begin(&s, &w, 4500, 1) == 0);
	CHECK_EQ_INT(store_snap_write(&w, "abcd", 4), 0);
	CHECK_EQ_INT(store_snap_finish(&w, NULL, NULL, 0, STORE_SNAP_KEEP_LOG), 0);
	CHECK_EQ_INT(s.snap.size, 4);
	/* Compaction cut short after its first chunk. */
	s.fault_commit = 2;
	CHECK_EQ_INT(store_log_compact(&s, 4500), -ERR_FAULT);
	CHECK_EQ_INT(store_first_index(&s), STORE_COMPACT_CHUNK + 1);
	CHECK(log_all_ok(&s));
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	CHECK_EQ_INT(store_first_index(&s), STORE_COMPACT_CHUNK + 1);
	CHECK_EQ_INT(store_last_index(&s), 5001);
	CHECK_EQ_INT(store_get_hard(&s).commit, 10);
	CHECK_EQ_INT(store_log_compact(&s, 4500), 0);
	CHECK_EQ_INT(store_first_index(&s), 4501);
	CHECK(log_all_ok(&s));
	store_close(&s);
	dir_remove(dir);
}

/* Checksums ---------------------------------------------------------------------------------- */

static void checksum_flip_detected(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(append_run(&s, 1, 10, 1) == 0);
	store_close(&s);
	uint8_t key[8];
	store__put64(key, 5);
	REQUIRE(pat_len(5, 1, 200) > 0);
	REQUIRE(raw_flip(dir, "log", key, 8, 16) == 0); /* first payload byte */
	/* A full check at open refuses it, naming the entry. */
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_CORRUPT);
	CHECK(strstr(s.errmsg, "log entry 5") != NULL);
	/* Without it, the entry is refused on read; its neighbours are fine. */
	c.skip_verify = true;
	REQUIRE(store_open(&s, dir, &c) == 0);
	struct store_entry e;
	uint8_t buf[256];
	uint64_t t;
	CHECK_EQ_INT(store_entry_get(&s, 5, &e, buf, sizeof buf), -ERR_STORE_CORRUPT);
	CHECK(strstr(s.errmsg, "log entry 5: checksum mismatch") != NULL);
	CHECK_EQ_INT(store_term(&s, 5, &t), -ERR_STORE_CORRUPT);
	struct store_entry out[10];
	CHECK_EQ_INT(store_log_read(&s, 3, 10, out, buf, sizeof buf), -ERR_STORE_CORRUPT);
	CHECK_EQ_INT(store_entry_get(&s, 4, &e, buf, sizeof buf), 0);
	CHECK_EQ_INT(store_entry_get(&s, 6, &e, buf, sizeof buf), 0);
	CHECK_EQ_INT(store_verify(&s), -ERR_STORE_CORRUPT);
	CHECK(strstr(s.errmsg, "5") != NULL);
	store_close(&s);
	/* A damaged term or header byte is caught the same way. */
	REQUIRE(raw_flip(dir, "log", key, 8, 16) == 0); /* repaired */
	store__put64(key, 7);
	REQUIRE(raw_flip(dir, "log", key, 8, 7) == 0); /* low byte of the term */
	CHECK_EQ_INT(store_open(&s, dir, &c), 0);
	CHECK_EQ_INT(store_term(&s, 7, &t), -ERR_STORE_CORRUPT);
	CHECK(strstr(s.errmsg, "log entry 7") != NULL);
	store_close(&s);
	/* The last entry is checked even with skip_verify. */
	REQUIRE(raw_flip(dir, "log", key, 8, 7) == 0);
	store__put64(key, 10);
	REQUIRE(raw_flip(dir, "log", key, 8, 12) == 0); /* the stored CRC */
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_CORRUPT);
	CHECK(strstr(s.errmsg, "log entry 10") != NULL);
	REQUIRE(raw_flip(dir, "log", key, 8, 12) == 0);
	c.skip_verify = false;
	CHECK_EQ_INT(store_open(&s, dir, &c), 0);
	CHECK(log_all_ok(&s));
	store_close(&s);
	dir_remove(dir);
}

/* A gap in the log (an entry deleted behind our back) is refused at open. */
static void gap_detected(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	c.skip_verify = true;
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(append_run(&s, 1, 10, 1) == 0);
	store_close(&s);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	REQUIRE(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 16);
	REQUIRE(mdb_env_open(env, dir, 0, 0600) == 0);
	REQUIRE(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	REQUIRE(mdb_dbi_open(txn, "log", 0, &dbi) == 0);
	uint8_t key[8];
	store__put64(key, 4);
	MDB_val k = {8, key};
	CHECK_EQ_INT(mdb_del(txn, dbi, &k, NULL), 0);
	CHECK_EQ_INT(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_CORRUPT);
	CHECK(strstr(s.errmsg, "not contiguous") != NULL);
	dir_remove(dir);
}

/* Crash safety ----------------------------------------------------------------------------------
 */

/* What the child reports after each completed write. */
struct crash_ack {
	uint64_t last, term, commit;
	uint64_t truncations, snapshots; /* so far in this child */
};

static uint64_t rnd_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static uint64_t vote_of(uint64_t term)
{
	return term % 5 + 1;
}

static void snap_blob(uint8_t *p, size_t n, uint64_t index)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(index + i * 3);
}

/* The child: a follower's life in fast motion, until SIGKILL. */
static void crash_child(const char *dir, int ack_fd, uint64_t seed)
{
	struct store s;
	struct store_config c = cfg_small();
	c.skip_verify = true; /* the parent verifies; keep restarts quick */
	if (store_open(&s, dir, &c) != 0)
		_exit(10);
	struct store_hard h = store_get_hard(&s);
	struct store_entry ents[8];
	uint8_t bufs[8][256];
	uint64_t x = seed | 1, truncations = 0, snapshots = 0;
	for (;;) {
		uint64_t r = rnd_next(&x);
		struct store_write w = {0};
		struct store_hard nh = h;
		if (nh.term == 0 || r % 16 == 0) {
			nh.term++;
			nh.vote = vote_of(nh.term);
		}
		uint64_t last = store_last_index(&s);
		/* Now and then a conflict: replace a few uncommitted entries. */
		if (r % 8 == 1 && last > nh.commit + 3 && last > s.snap.index + 3) {
			w.truncate_from = last - 2;
			last -= 3;
			nh.term++;
			nh.vote = vote_of(nh.term);
			truncations++;
		}
		uint32_t n = 1 + (uint32_t)(r >> 8) % 8;
		ents_make(ents, bufs, last + 1, n, nh.term);
		w.ents = ents;
		w.n = n;
		if (last + n > 4)
			nh.commit = nh.commit > last + n - 4 ? nh.commit : last + n - 4;
		w.hard = &nh;
		if (store_write(&s, &w) != 0)
			_exit(11);
		h = nh;
		/* Now and then a snapshot at the commit index, then compaction. */
		if (r % 16 == 5 && h.commit > s.snap.index + 4) {
			struct store_snap_writer sw;
			uint64_t t = 0;
			uint8_t blob[300];
			snap_blob(blob, sizeof blob, h.commit);
			if (store_term(&s, h.commit, &t) != 0 ||
			    store_snap_begin(&s, &sw, h.commit, t) != 0 ||
			    store_snap_write(&sw, blob, 120) != 0 ||
			    store_snap_write(&sw, blob + 120, 180) != 0 ||
			    store_snap_finish(&sw, NULL, &h.commit, 8, STORE_SNAP_KEEP_LOG) != 0 ||
			    store_log_compact(&s, h.commit - 3) != 0)
				_exit(12);
			snapshots++;
		}
		struct crash_ack a = {store_last_index(&s), h.term, h.commit, truncations,
				      snapshots};
		if (write(ack_fd, &a, sizeof a) != sizeof a)
			_exit(13);
	}
}

/* After a kill: the store opens (with a full check), the log is contiguous
 * and every entry carries its own pattern, the hard state is one the child
 * wrote and nothing it was told is durable went missing. */
static int crash_check(const char *dir, const struct crash_ack *a, char *why, size_t cap)
{
	struct store s;
	struct store_config c = cfg_small();
	int rc = store_open(&s, dir, &c);
	if (rc) {
		snprintf(why, cap, "open: %s: %s", err_name(rc), s.errmsg);
		return 0;
	}
	int ok = 0;
	struct store_hard h = store_get_hard(&s);
	uint8_t buf[512];
	if (h.term && h.vote != vote_of(h.term)) {
		snprintf(why, cap, "hard state term %llu vote %llu", (unsigned long long)h.term,
			 (unsigned long long)h.vote);
		goto out;
	}
	if (h.term < a->term || h.commit < a->commit || store_last_index(&s) < a->commit) {
		snprintf(why, cap, "lost: term %llu/%llu commit %llu/%llu last %llu",
			 (unsigned long long)h.term, (unsigned long long)a->term,
			 (unsigned long long)h.commit, (unsigned long long)a->commit,
			 (unsigned long long)store_last_index(&s));
		goto out;
	}
	uint64_t prev = 0;
	for (uint64_t i = store_first_index(&s); i <= store_last_index(&s); i++) {
		struct store_entry e = {0};
		rc = store_entry_get(&s, i, &e, buf, sizeof buf);
		if (rc || !pat_check(&e) || e.term < prev || e.term > h.term) {
			snprintf(why, cap, "entry %llu term %llu (previous %llu, hard %llu): %s %s",
				 (unsigned long long)i, (unsigned long long)e.term,
				 (unsigned long long)prev, (unsigned long long)h.term,
				 rc ? err_name(rc) : "bad payload or term", rc ? s.errmsg : "");
			goto out;
		}
		prev = e.term;
	}
	if (s.snap.index) {
		uint8_t blob[300], want[300];
		uint64_t total = 0, conf = 0;
		struct store_snap_info info;
		snap_blob(want, sizeof want, s.snap.index);
		if (store_snap_read(&s, s.snap.index, 0, blob, sizeof blob, &total) != 300 ||
		    total != 300 || memcmp(blob, want, 300) != 0 ||
		    store_snap_get(&s, &info, &conf, sizeof conf) != 0 || conf != s.snap.index) {
			snprintf(why, cap, "snapshot at %llu: %s", (unsigned long long)s.snap.index,
				 s.errmsg);
			goto out;
		}
	}
	ok = 1;
out:
	store_close(&s);
	return ok;
}

static void crash_kill_at_random(void)
{
	char dir[256], why[STORE_ERRMSG_SIZE + 64];
	REQUIRE(dir_make(dir, sizeof dir));
	const char *env_seed = getenv("STORE_CRASH_SEED");
	uint64_t seed = env_seed ? strtoull(env_seed, NULL, 0)
				 : (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
	uint64_t x = seed | 1;
	int rounds = 20, completed = 0;
	uint64_t writes = 0, truncations = 0, snapshots = 0;
	for (int round = 0; round < rounds; round++) {
		int p[2];
		REQUIRE(pipe(p) == 0);
		uint64_t child_seed = rnd_next(&x);
		pid_t pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			crash_child(dir, p[1], child_seed);
		}
		close(p[1]);
		struct timespec ts = {0, (long)(20 + rnd_next(&x) % 200) * 1000000L};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status = 0;
		waitpid(pid, &status, 0);
		struct crash_ack a = {0}, cur;
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		while (read(p[0], &cur, sizeof cur) == sizeof cur) {
			a = cur;
			writes++;
		}
		close(p[0]);
		truncations += a.truncations;
		snapshots += a.snapshots;
		if (!WIFSIGNALED(status)) {
			TEST_FAIL_("round %d: child exited %d (seed %llu)", round,
				   WEXITSTATUS(status), (unsigned long long)seed);
			break;
		}
		if (!crash_check(dir, &a, why, sizeof why)) {
			TEST_FAIL_("round %d: %s (seed %llu, STORE_CRASH_SEED replays)", round, why,
				   (unsigned long long)seed);
			break;
		}
		completed++;
	}
	CHECK_EQ_INT(completed, rounds);
	CHECK(writes > 0);
	CHECK(truncations > 0);
	CHECK(snapshots > 0);
	if (getenv("STORE_CRASH_VERBOSE"))
		fprintf(stderr,
			"crash: %d rounds, %llu acknowledged writes, %llu truncations, "
			"%llu snapshots, seed %llu\n",
			completed, (unsigned long long)writes, (unsigned long long)truncations,
			(unsigned long long)snapshots, (unsigned long long)seed);
	dir_remove(dir);
}

/* Benchmark ----------------------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* STORE_BENCH=1: synced appends of 1 KiB entries, one transaction per batch
 * of 1 and of 64, for about STORE_BENCH_SECONDS (default 3) each. */
static void bench_append(void)
{
	if (!getenv("STORE_BENCH"))
		return;
	const char *secs_s = getenv("STORE_BENCH_SECONDS");
	double secs = secs_s ? atof(secs_s) : 3.0;
	static const uint32_t batches[] = {1, 64};
	static uint8_t data[1024];
	memset(data, 0x42, sizeof data);
	for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
		char dir[256];
		REQUIRE(dir_make(dir, sizeof dir));
		struct store s;
		struct store_config c = {.map_size = (size_t)1 << 30};
		REQUIRE(store_open(&s, dir, &c) == 0);
		struct store_entry ents[64];
		uint64_t next = 1, txns = 0;
		double t0 = now_s(), t1 = t0;
		while (t1 - t0 < secs) {
			for (uint32_t i = 0; i < batches[b]; i++)
				ents[i] = (struct store_entry){.term = 1,
							       .index = next + i,
							       .data = data,
							       .len = sizeof data};
			REQUIRE(store_append(&s, ents, batches[b]) == 0);
			next += batches[b];
			txns++;
			t1 = now_s();
		}
		double el = t1 - t0;
		printf("# bench: batch %2u: %llu entries in %.2f s: %.0f entries/s, %.0f txn/s, "
		       "%.2f ms/txn (%s)\n",
		       batches[b], (unsigned long long)(next - 1), el, (double)(next - 1) / el,
		       (double)txns / el, el * 1e3 / (double)txns, dir);
		store_close(&s);
		dir_remove(dir);
	}
}

TEST_MAIN(append_read_roundtrip, append_keeps_log_contiguous, entry_get_reports_size,
	  log_read_fills_buffer, entry_cap_both_sides, batch_cap_both_sides, map_full_both_sides,
	  hard_state_rules, truncate_respects_commit, truncate_everything_uncommitted,
	  compact_behind_snapshot, writes_refused_while_txn_open, failed_commits_change_nothing,
	  checksum_flip_detected, gap_detected, crash_kill_at_random, bench_append)
