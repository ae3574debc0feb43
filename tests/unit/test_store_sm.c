/* Unit tests for store: caller transactions, state-machine tables, the
 * applied index, and snapshots (writing, reading, the three modes, switching
 * atomically inside a transaction, caps, damage).
 */
#include "base/base_err.h"
#include "store/store.h"
#include "test.h"

#include <ftw.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

static struct slice S(const char *s) {
	return slice_from_cstr(s);
}

/* n one-byte entries from `first` in `term`. */
static int
append_n(struct store *s, uint64_t first, uint32_t n, uint64_t term)
{
	struct store_entry e = {.term = term, .data = (const uint8_t *)"e", .len = 1};
	for (uint32_t i = 0; i < n; i++) {
		e.index = first + i;
		int rc = store_append(s, &e, 1);
		if (rc)
			return rc;
	}
	return 0;
}

static int get_eq(struct store_txn *t, const char *table, const char *key, const char *want)
{
	struct slice v;
	if (store_sm_get(t, table, S(key), &v) != 0)
		return 0;
	return slice_eq_cstr(v, want);
}

/* A blob of n bytes that depends on `seed`. */
static void blob_fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 8));
}

/* Write a snapshot of `size` bytes in pieces of `piece` bytes. */
static int snap_put(struct store *s, uint64_t index, uint64_t term, const uint8_t *blob,
		    size_t size, size_t piece, struct store_txn *t, enum store_snap_mode mode)
{
	struct store_snap_writer w;
	int rc = store_snap_begin(s, &w, index, term);
	for (size_t off = 0; !rc && off < size; off += piece)
		rc = store_snap_write(&w, blob + off, size - off < piece ? size - off : piece);
	if (rc) {
		store_snap_abort(&w);
		return rc;
	}
	return store_snap_finish(&w, t, "conf", 4, mode);
}

/* Read the whole blob back in reads of `step` bytes and compare. */
static int snap_matches(struct store *s, uint64_t index, const uint8_t *blob, size_t size,
			size_t step)
{
	static uint8_t got[70000];
	uint64_t off = 0, total = 0;
	if (size > sizeof got)
		return 0;
	for (;;) {
		int n = store_snap_read(s, index, off, got + off, step, &total);
		if (n < 0 || total != size)
			return 0;
		if (n == 0)
			break;
		off += (uint64_t)n;
	}
	return off == size && memcmp(got, blob, size) == 0;
}

/* Tables -------------------------------------------------------------------------- */

static void sm_put_get_del(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	struct store_txn t;
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	struct slice v;
	CHECK_EQ_INT(store_sm_get(&t, "nodes", S("n1"), &v), -ERR_NOTFOUND); /* no table */
	CHECK_EQ_INT(store_sm_put(&t, "nodes", S("n1"), S("control")), 0);
	CHECK_EQ_INT(store_sm_put(&t, "nodes", S("n2"), S("data")), 0);
	CHECK_EQ_INT(store_sm_put(&t, "tokens", S("ctl"), S("secret")), 0);
	CHECK(get_eq(&t, "nodes", "n1", "control"));                        /* its own writes */
	CHECK_EQ_INT(store_sm_put(&t, "nodes", S("n1"), S("control2")), 0); /* overwrite */
	CHECK_EQ_INT(store_sm_put(&t, "nodes", S("empty"), (struct slice){"", 0}), 0);
	CHECK_EQ_INT(store_txn_commit(&t), 0);
	CHECK_EQ_INT(store_txn_commit(&t), -ERR_INVAL); /* already ended */
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_READ) == 0);
	CHECK(get_eq(&t, "nodes", "n1", "control2"));
	CHECK(get_eq(&t, "nodes", "n2", "data"));
	CHECK(get_eq(&t, "nodes", "empty", ""));
	CHECK(get_eq(&t, "tokens", "ctl", "secret"));
	CHECK_EQ_INT(store_sm_get(&t, "nodes", S("n3"), &v), -ERR_NOTFOUND);
	CHECK_EQ_INT(store_sm_put(&t, "nodes", S("n3"), S("x")), -ERR_INVAL); /* read-only */
	CHECK_EQ_INT(store_sm_del(&t, "nodes", S("n1")), -ERR_INVAL);
	CHECK_EQ_INT(store_txn_commit(&t), 0);
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	CHECK_EQ_INT(store_sm_del(&t, "nodes", S("n1")), 0);
	CHECK_EQ_INT(store_sm_del(&t, "nodes", S("n1")), -ERR_NOTFOUND);
	CHECK_EQ_INT(store_sm_del(&t, "nothere", S("n1")), -ERR_NOTFOUND);
	CHECK_EQ_INT(store_txn_commit(&t), 0);
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_READ) == 0);
	CHECK_EQ_INT(store_sm_get(&t, "nodes", S("n1"), &v), -ERR_NOTFOUND);
	CHECK(get_eq(&t, "nodes", "n2", "data"));
	store_txn_abort(&t);
	store_txn_abort(&t); /* harmless twice */
	store_close(&s);
	dir_remove(dir);
}

static void sm_abort_discards(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	struct store_txn t;
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	CHECK_EQ_INT(store_sm_put(&t, "kept", S("k"), S("v")), 0);
	CHECK_EQ_INT(store_txn_commit(&t), 0);
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	CHECK_EQ_INT(store_sm_put(&t, "kept", S("k"), S("changed")), 0);
	CHECK_EQ_INT(store_sm_put(&t, "fresh", S("k"), S("v")), 0);
	store_txn_abort(&t);
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_READ) == 0);
	CHECK(get_eq(&t, "kept", "k", "v"));
	struct slice v;
	CHECK_EQ_INT(store_sm_get(&t, "fresh", S("k"), &v), -ERR_NOTFOUND);
	uint64_t n = 9;
	CHECK_EQ_INT(store_sm_count(&t, "fresh", &n), 0);
	CHECK_EQ_INT(n, 0);
	store_txn_abort(&t);
	/* The aborted table's handle is gone, and it can be created again. */
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	CHECK_EQ_INT(store_sm_put(&t, "fresh", S("k"), S("again")), 0);
	CHECK_EQ_INT(store_txn_commit(&t), 0);
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_READ) == 0);
	CHECK(get_eq(&t, "fresh", "k", "again"));
	store_txn_abort(&t);
	store_close(&s);
	dir_remove(dir);
}

struct seen {
	char keys[16][8];
	int n;
	int stop_at;
	int ret;
};

static int seen_cb(void *arg, struct slice key, struct slice val)
{
	struct seen *z = arg;
	if (z->n < 16)
		snprintf(z->keys[z->n], sizeof z->keys[0], "%.*s", (int)key.len, key.p);
	z->n++;
	return z->n == z->stop_at ? z->ret : 0;
}

static int table_cb(void *arg, const char *name)
{
	struct seen *z = arg;
	if (z->n < 16)
		snprintf(z->keys[z->n], sizeof z->keys[0], "%s", name);
	z->n++;
	return 0;
}

static void sm_iterate_in_order(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	struct store_txn t;
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	const char *keys[] = {"d", "b", "e", "a", "c"};
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(store_sm_put(&t, "routes", S(keys[i]), S("v")), 0);
	CHECK_EQ_INT(store_sm_put(&t, "acme", S("x"), S("v")), 0);
	CHECK_EQ_INT(store_txn_commit(&t), 0);
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_READ) == 0);
	struct seen z = {.stop_at = -1};
	CHECK_EQ_INT(store_sm_iterate(&t, "routes", (struct slice){0}, seen_cb, &z), 0);
	CHECK_EQ_INT(z.n, 5);
	CHECK_EQ_STR(z.keys[0], "a");
	CHECK_EQ_STR(z.keys[4], "e");
	z = (struct seen){.stop_at = -1};
	CHECK_EQ_INT(store_sm_iterate(&t, "routes", S("bb"), seen_cb, &z), 0);
	CHECK_EQ_INT(z.n, 3);
	CHECK_EQ_STR(z.keys[0], "c");
	z = (struct seen){.stop_at = 2, .ret = 7};
	CHECK_EQ_INT(store_sm_iterate(&t, "routes", (struct slice){0}, seen_cb, &z), 7);
	CHECK_EQ_INT(z.n, 2);
	z = (struct seen){.stop_at = 1, .ret = -ERR_PARSE};
	CHECK_EQ_INT(store_sm_iterate(&t, "routes", (struct slice){0}, seen_cb, &z), -ERR_PARSE);
	z = (struct seen){.stop_at = -1};
	CHECK_EQ_INT(store_sm_iterate(&t, "nothere", (struct slice){0}, seen_cb, &z), 0);
	CHECK_EQ_INT(z.n, 0);
	CHECK_EQ_INT(store_sm_iterate(&t, "routes", (struct slice){0}, NULL, &z), -ERR_INVAL);
	z = (struct seen){0};
	CHECK_EQ_INT(store_sm_tables(&t, table_cb, &z), 0);
	CHECK_EQ_INT(z.n, 2);
	CHECK_EQ_STR(z.keys[0], "acme");
	CHECK_EQ_STR(z.keys[1], "routes");
	uint64_t n = 0;
	CHECK_EQ_INT(store_sm_count(&t, "routes", &n), 0);
	CHECK_EQ_INT(n, 5);
	store_txn_abort(&t);
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	CHECK_EQ_INT(store_sm_clear(&t, "routes"), 0);
	CHECK_EQ_INT(store_sm_clear(&t, "nothere"), 0);
	CHECK_EQ_INT(store_sm_count(&t, "routes", &n), 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(store_txn_commit(&t), 0);
	store_close(&s);
	dir_remove(dir);
}

static void sm_names_and_keys_both_sides(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	struct store_txn t;
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	char name[STORE_TABLE_NAME_MAX + 2];
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = '\0'; /* one character too many */
	CHECK_EQ_INT(store_sm_put(&t, name, S("k"), S("v")), -ERR_INVAL);
	name[STORE_TABLE_NAME_MAX] = '\0';
	CHECK_EQ_INT(store_sm_put(&t, name, S("k"), S("v")), 0);
	CHECK_EQ_INT(store_sm_put(&t, "", S("k"), S("v")), -ERR_INVAL);
	CHECK_EQ_INT(store_sm_put(&t, "Nodes", S("k"), S("v")), -ERR_INVAL);
	CHECK_EQ_INT(store_sm_put(&t, "a/b", S("k"), S("v")), -ERR_INVAL);
	CHECK_EQ_INT(store_sm_put(&t, NULL, S("k"), S("v")), -ERR_INVAL);
	CHECK_EQ_INT(store_sm_put(&t, "cfg.v1_x-y", S("k"), S("v")), 0);
	static char key[STORE_KEY_MAX + 1];
	memset(key, 'k', sizeof key);
	CHECK_EQ_INT(store_sm_put(&t, "keys", (struct slice){key, STORE_KEY_MAX}, S("v")), 0);
	CHECK_EQ_INT(store_sm_put(&t, "keys", (struct slice){key, STORE_KEY_MAX + 1}, S("v")),
		     -ERR_TOO_LARGE);
	CHECK_EQ_INT(store_sm_put(&t, "keys", (struct slice){key, 0}, S("v")), -ERR_INVAL);
	struct slice v;
	CHECK_EQ_INT(store_sm_get(&t, "keys", (struct slice){key, STORE_KEY_MAX}, &v), 0);
	/* A large value lives in overflow pages. */
	static char big[200000];
	memset(big, 'b', sizeof big);
	CHECK_EQ_INT(store_sm_put(&t, "keys", S("big"), (struct slice){big, sizeof big}), 0);
	CHECK_EQ_INT(store_sm_get(&t, "keys", S("big"), &v), 0);
	CHECK_EQ_INT(v.len, sizeof big);
	CHECK_EQ_INT(store_txn_commit(&t), 0);
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	store_close(&s);
	dir_remove(dir);
}

/* The applied index --------------------------------------------------------------------- */

static void apply_is_one_transaction(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(append_n(&s, 1, 5, 1) == 0);
	struct store_txn t;
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	CHECK_EQ_INT(store_sm_put(&t, "kv", S("a"), S("1")), 0);
	CHECK_EQ_INT(store_txn_set_applied(&t, 3), 0);
	CHECK_EQ_INT(store_applied(&s), 0); /* not before the commit */
	CHECK_EQ_INT(store_txn_commit(&t), 0);
	CHECK_EQ_INT(store_applied(&s), 3);
	/* An aborted apply changes neither the tables nor the index. */
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	CHECK_EQ_INT(store_sm_put(&t, "kv", S("b"), S("2")), 0);
	CHECK_EQ_INT(store_txn_set_applied(&t, 4), 0);
	store_txn_abort(&t);
	CHECK_EQ_INT(store_applied(&s), 3);
	/* Never back, never past the log. */
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	CHECK_EQ_INT(store_txn_set_applied(&t, 2), -ERR_RANGE);
	CHECK(strstr(s.errmsg, "go back") != NULL);
	CHECK_EQ_INT(store_txn_set_applied(&t, 6), -ERR_RANGE);
	CHECK_EQ_INT(store_txn_set_applied(&t, 3), 0);
	CHECK_EQ_INT(store_txn_set_applied(&t, 5), 0);
	CHECK_EQ_INT(store_txn_commit(&t), 0);
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_READ) == 0);
	CHECK_EQ_INT(store_txn_set_applied(&t, 5), -ERR_INVAL);
	store_txn_abort(&t);
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	CHECK_EQ_INT(store_applied(&s), 5);
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_READ) == 0);
	struct slice v;
	CHECK(get_eq(&t, "kv", "a", "1"));
	CHECK_EQ_INT(store_sm_get(&t, "kv", S("b"), &v), -ERR_NOTFOUND);
	store_txn_abort(&t);
	store_close(&s);
	dir_remove(dir);
}

/* One writer at a time; readers alongside; log reads keep working. */
static void txn_one_writer_many_readers(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(append_n(&s, 1, 3, 1) == 0);
	struct store_txn w, w2, r;
	REQUIRE(store_txn_begin(&s, &r, STORE_TXN_READ) == 0);
	REQUIRE(store_txn_begin(&s, &w, STORE_TXN_WRITE) == 0);
	CHECK_EQ_INT(store_txn_begin(&s, &w2, STORE_TXN_WRITE), -ERR_INVAL);
	CHECK_EQ_INT(store_txn_begin(&s, &w2, 0x10), -ERR_INVAL);
	CHECK_EQ_INT(store_sm_put(&w, "kv", S("a"), S("1")), 0);
	uint64_t t;
	CHECK_EQ_INT(store_term(&s, 2, &t), 0); /* the store's reader, alongside */
	CHECK_EQ_INT(store_txn_commit(&w), 0);
	/* r began before: it does not see the commit. */
	struct slice v;
	CHECK_EQ_INT(store_sm_get(&r, "kv", S("a"), &v), -ERR_NOTFOUND);
	store_txn_abort(&r);
	REQUIRE(store_txn_begin(&s, &r, STORE_TXN_READ) == 0);
	CHECK(get_eq(&r, "kv", "a", "1"));
	store_txn_abort(&r);
	store_close(&s);
	dir_remove(dir);
}

static void readers_cap_both_sides(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0); /* lock.mdb sized for the default */
	REQUIRE(append_n(&s, 1, 2, 1) == 0);
	store_close(&s);
	c.max_readers = 3; /* the store's own + 2, exactly, despite the old lock.mdb */
	REQUIRE(store_open(&s, dir, &c) == 0);
	struct store_txn r1, r2, r3;
	CHECK_EQ_INT(store_txn_begin(&s, &r1, STORE_TXN_READ), 0);
	CHECK_EQ_INT(store_txn_begin(&s, &r2, STORE_TXN_READ), 0);
	CHECK_EQ_INT(store_txn_begin(&s, &r3, STORE_TXN_READ), -ERR_STORE_READERS_FULL);
	CHECK(strstr(s.errmsg, "max_readers 3") != NULL);
	/* The store's own reads do not depend on a free slot. */
	uint64_t t;
	CHECK_EQ_INT(store_term(&s, 1, &t), 0);
	store_txn_abort(&r1);
	CHECK_EQ_INT(store_txn_begin(&s, &r3, STORE_TXN_READ), 0);
	store_txn_abort(&r2);
	store_txn_abort(&r3);
	store_close(&s);
	dir_remove(dir);
}

static void tables_cap_both_sides(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	c.max_dbs = STORE_DBS_INTERNAL + 2;
	REQUIRE(store_open(&s, dir, &c) == 0);
	struct store_txn t;
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	CHECK_EQ_INT(store_sm_put(&t, "one", S("k"), S("v")), 0);
	CHECK_EQ_INT(store_sm_put(&t, "two", S("k"), S("v")), 0);
	CHECK_EQ_INT(store_sm_put(&t, "three", S("k"), S("v")), -ERR_STORE_TABLES_FULL);
	CHECK(strstr(s.errmsg, "max_dbs 6") != NULL);
	struct slice v;
	CHECK_EQ_INT(store_sm_get(&t, "three", S("k"), &v), -ERR_NOTFOUND);
	/* The transaction is still good. */
	CHECK_EQ_INT(store_sm_put(&t, "two", S("k2"), S("v2")), 0);
	CHECK_EQ_INT(store_txn_commit(&t), 0);
	store_close(&s);
	/* A smaller max_dbs than the directory needs: refused, naming it. */
	c.max_dbs = STORE_DBS_INTERNAL + 1;
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_TABLES_FULL);
	CHECK(strstr(s.errmsg, "max_dbs 5") != NULL);
	c.max_dbs = STORE_DBS_INTERNAL + 2;
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_READ) == 0);
	CHECK(get_eq(&t, "two", "k2", "v2"));
	store_txn_abort(&t);
	store_close(&s);
	dir_remove(dir);
}

/* Snapshots ----------------------------------------------------------------------------------- */

static void snapshot_roundtrip(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(append_n(&s, 1, 20, 2) == 0);
	struct store_snap_info info;
	uint8_t conf[16];
	uint64_t total;
	CHECK_EQ_INT(store_snap_get(&s, &info, conf, sizeof conf), -ERR_NOTFOUND);
	CHECK_EQ_INT(store_snap_read(&s, 15, 0, conf, sizeof conf, &total), -ERR_NOTFOUND);
	static uint8_t blob[50000];
	blob_fill(blob, sizeof blob, 1);
	/* Uneven pieces: 1, 4999, then 30000 and the 15000 left. */
	struct store_snap_writer w;
	REQUIRE(store_snap_begin(&s, &w, 15, 2) == 0);
	CHECK_EQ_INT(store_snap_write(&w, blob, 1), 0);
	CHECK_EQ_INT(store_snap_write(&w, blob + 1, 4999), 0);
	CHECK_EQ_INT(store_snap_write(&w, blob + 5000, 30000), 0);
	CHECK_EQ_INT(store_snap_write(&w, blob + 35000, 15000), 0);
	CHECK_EQ_INT(s.snap.index, 0); /* not current yet */
	CHECK_EQ_INT(store_snap_finish(&w, NULL, "voters:1,2,3", 12, STORE_SNAP_KEEP_LOG), 0);
	CHECK_EQ_INT(store_snap_get(&s, &info, conf, 11), -ERR_BUF_FULL);
	CHECK_EQ_INT(info.conf_len, 12);
	CHECK_EQ_INT(store_snap_get(&s, &info, conf, sizeof conf), 0);
	CHECK_EQ_MEM(conf, info.conf_len, "voters:1,2,3");
	CHECK_EQ_INT(info.index, 15);
	CHECK_EQ_INT(info.term, 2);
	CHECK_EQ_INT(info.size, sizeof blob);
	CHECK_EQ_INT(info.chunks, 4);
	CHECK_EQ_INT(info.blob_crc, store_crc32c(0, blob, sizeof blob));
	CHECK_EQ_INT(store_first_index(&s), 1); /* KEEP_LOG */
	CHECK_EQ_INT(store_last_index(&s), 20);
	/* Reads of any size, crossing pieces. */
	CHECK(snap_matches(&s, 15, blob, sizeof blob, sizeof blob));
	CHECK(snap_matches(&s, 15, blob, sizeof blob, 4096));
	CHECK(snap_matches(&s, 15, blob, sizeof blob, 777));
	uint8_t small[3];
	CHECK_EQ_INT(store_snap_read(&s, 15, 4999, small, 3, &total), 3); /* 2 pieces */
	CHECK(memcmp(small, blob + 4999, 3) == 0);
	CHECK_EQ_INT(store_snap_read(&s, 15, sizeof blob - 1, small, 3, &total), 1);
	CHECK_EQ_INT(store_snap_read(&s, 15, sizeof blob, small, 3, &total), 0);
	CHECK_EQ_INT(total, sizeof blob);
	CHECK_EQ_INT(store_snap_read(&s, 14, 0, small, 3, &total), -ERR_NOTFOUND);
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	CHECK_EQ_INT(s.snap.index, 15);
	CHECK(snap_matches(&s, 15, blob, sizeof blob, 1000));
	uint64_t t;
	CHECK_EQ_INT(store_term(&s, 15, &t), 0);
	CHECK_EQ_INT(t, 2);
	store_close(&s);
	dir_remove(dir);
}

static void snapshot_modes(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(append_n(&s, 1, 10, 1) == 0);
	REQUIRE(append_n(&s, 11, 10, 2) == 0);
	uint8_t blob[100];
	blob_fill(blob, sizeof blob, 2);
	/* KEEP_LOG needs our own entry (index, term). */
	CHECK_EQ_INT(snap_put(&s, 5, 2, blob, 100, 60, NULL, STORE_SNAP_KEEP_LOG), -ERR_RANGE);
	CHECK(strstr(s.errmsg, "does not hold") != NULL);
	CHECK_EQ_INT(snap_put(&s, 25, 2, blob, 100, 60, NULL, STORE_SNAP_KEEP_LOG), -ERR_RANGE);
	CHECK_EQ_INT(s.snap.index, 0);
	CHECK_EQ_INT(snap_put(&s, 5, 1, blob, 100, 60, NULL, STORE_SNAP_KEEP_LOG), 0);
	CHECK_EQ_INT(store_first_index(&s), 1);
	/* Not newer than the current one. */
	CHECK_EQ_INT(snap_put(&s, 5, 1, blob, 100, 60, NULL, STORE_SNAP_KEEP_LOG), -ERR_RANGE);
	/* DROP_UPTO: entries <= 12 go, the rest stays. */
	CHECK_EQ_INT(snap_put(&s, 12, 2, blob, 100, 60, NULL, STORE_SNAP_DROP_UPTO), 0);
	CHECK_EQ_INT(store_first_index(&s), 13);
	CHECK_EQ_INT(store_last_index(&s), 20);
	CHECK_EQ_INT(store_last_term(&s), 2);
	/* DROP_ALL: past our log, from a newer term. */
	CHECK_EQ_INT(snap_put(&s, 40, 5, blob, 100, 60, NULL, STORE_SNAP_DROP_ALL), 0);
	CHECK_EQ_INT(store_first_index(&s), 41);
	CHECK_EQ_INT(store_last_index(&s), 40);
	CHECK_EQ_INT(store_last_term(&s), 5);
	uint64_t t;
	CHECK_EQ_INT(store_term(&s, 40, &t), 0);
	CHECK_EQ_INT(t, 5);
	CHECK_EQ_INT(store_term(&s, 20, &t), -ERR_NOTFOUND);
	CHECK_EQ_INT(append_n(&s, 40, 1, 5), -ERR_RANGE);
	CHECK_EQ_INT(append_n(&s, 41, 2, 4), -ERR_RANGE); /* below the snapshot's term */
	CHECK_EQ_INT(append_n(&s, 41, 2, 5), 0);
	CHECK_EQ_INT(store_first_index(&s), 41);
	/* DROP_UPTO of the whole log. */
	CHECK_EQ_INT(snap_put(&s, 42, 5, blob, 100, 60, NULL, STORE_SNAP_DROP_UPTO), 0);
	CHECK_EQ_INT(store_first_index(&s), 43);
	CHECK_EQ_INT(store_last_index(&s), 42);
	CHECK(snap_matches(&s, 42, blob, 100, 33));
	CHECK_EQ_INT(store_verify(&s), 0);
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	CHECK_EQ_INT(store_first_index(&s), 43);
	CHECK_EQ_INT(store_last_index(&s), 42);
	CHECK_EQ_INT(store_last_term(&s), 5);
	store_close(&s);
	dir_remove(dir);
}

/* Readers of the current snapshot keep going while the next one is written;
 * after the switch the old one is gone. */
static void snapshot_replaced(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(append_n(&s, 1, 30, 1) == 0);
	static uint8_t a[9000], b[7000];
	blob_fill(a, sizeof a, 3);
	blob_fill(b, sizeof b, 4);
	REQUIRE(snap_put(&s, 10, 1, a, sizeof a, 4000, NULL, STORE_SNAP_KEEP_LOG) == 0);
	struct store_snap_writer w;
	REQUIRE(store_snap_begin(&s, &w, 20, 1) == 0);
	CHECK_EQ_INT(store_snap_write(&w, b, 3000), 0);
	CHECK(snap_matches(&s, 10, a, sizeof a, 1000));
	CHECK_EQ_INT(store_snap_write(&w, b + 3000, 4000), 0);
	CHECK_EQ_INT(store_snap_finish(&w, NULL, NULL, 0, STORE_SNAP_KEEP_LOG), 0);
	uint8_t x[8];
	uint64_t total;
	CHECK_EQ_INT(store_snap_read(&s, 10, 0, x, sizeof x, &total), -ERR_NOTFOUND);
	CHECK(snap_matches(&s, 20, b, sizeof b, 999));
	CHECK_EQ_INT(store_verify(&s), 0); /* the old pieces are gone, the new ones whole */
	/* A third one goes back to the first slot. */
	REQUIRE(snap_put(&s, 25, 1, a, 5000, 2500, NULL, STORE_SNAP_KEEP_LOG) == 0);
	CHECK(snap_matches(&s, 25, a, 5000, 4096));
	CHECK_EQ_INT(store_verify(&s), 0);
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	CHECK(snap_matches(&s, 25, a, 5000, 4096));
	store_close(&s);
	dir_remove(dir);
}

/* Installing a received snapshot inside the caller's transaction: the state
 * machine restore, the applied index, the switch and the log change commit
 * together, or not at all. */
static void snapshot_install_in_txn(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(append_n(&s, 1, 10, 1) == 0);
	uint8_t blob[64];
	blob_fill(blob, sizeof blob, 5);
	struct store_txn t;
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	CHECK_EQ_INT(store_sm_put(&t, "kv", S("old"), S("1")), 0);
	CHECK_EQ_INT(store_txn_set_applied(&t, 4), 0);
	CHECK_EQ_INT(store_txn_commit(&t), 0);
	/* First attempt: aborted. */
	struct store_snap_writer w;
	REQUIRE(store_snap_begin(&s, &w, 50, 3) == 0);
	CHECK_EQ_INT(store_snap_write(&w, blob, sizeof blob), 0);
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	CHECK_EQ_INT(store_snap_finish(&w, &t, "c", 1, STORE_SNAP_DROP_ALL), 0);
	CHECK_EQ_INT(store_sm_clear(&t, "kv"), 0);
	CHECK_EQ_INT(store_sm_put(&t, "kv", S("new"), S("2")), 0);
	CHECK_EQ_INT(store_txn_set_applied(&t, 50), 0);
	struct store_snap_writer w2;
	CHECK_EQ_INT(store_snap_begin(&s, &w2, 60, 3), -ERR_INVAL); /* slot still reserved */
	CHECK_EQ_INT(s.snap.index, 0);
	store_txn_abort(&t);
	CHECK_EQ_INT(s.snap.index, 0);
	CHECK_EQ_INT(store_last_index(&s), 10);
	CHECK_EQ_INT(store_applied(&s), 4);
	CHECK_EQ_INT(store_verify(&s), 0);
	/* Second attempt: committed. */
	REQUIRE(store_snap_begin(&s, &w, 50, 3) == 0);
	CHECK_EQ_INT(store_snap_write(&w, blob, sizeof blob), 0);
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_WRITE) == 0);
	CHECK_EQ_INT(store_snap_finish(&w, &t, "c", 1, STORE_SNAP_DROP_ALL), 0);
	CHECK_EQ_INT(store_sm_clear(&t, "kv"), 0);
	CHECK_EQ_INT(store_sm_put(&t, "kv", S("new"), S("2")), 0);
	CHECK_EQ_INT(store_txn_set_applied(&t, 51), -ERR_RANGE); /* past the new log */
	CHECK_EQ_INT(store_txn_set_applied(&t, 50), 0);
	CHECK_EQ_INT(store_txn_commit(&t), 0);
	CHECK_EQ_INT(s.snap.index, 50);
	CHECK_EQ_INT(store_last_index(&s), 50);
	CHECK_EQ_INT(store_first_index(&s), 51);
	CHECK_EQ_INT(store_applied(&s), 50);
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	CHECK_EQ_INT(store_applied(&s), 50);
	CHECK_EQ_INT(store_last_term(&s), 3);
	CHECK(snap_matches(&s, 50, blob, sizeof blob, 64));
	REQUIRE(store_txn_begin(&s, &t, STORE_TXN_READ) == 0);
	struct slice v;
	CHECK(get_eq(&t, "kv", "new", "2"));
	CHECK_EQ_INT(store_sm_get(&t, "kv", S("old"), &v), -ERR_NOTFOUND);
	/* finish needs a write transaction of this store */
	REQUIRE(store_snap_begin(&s, &w, 60, 3) == 0);
	CHECK_EQ_INT(store_snap_finish(&w, &t, NULL, 0, STORE_SNAP_DROP_ALL), -ERR_INVAL);
	store_txn_abort(&t);
	store_close(&s);
	dir_remove(dir);
}

static void snapshot_caps_both_sides(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	c.max_entry = 4096;
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(append_n(&s, 1, 5, 1) == 0);
	static uint8_t blob[4097], conf[STORE_CONF_MAX + 1];
	struct store_snap_writer w, w2;
	CHECK_EQ_INT(store_snap_begin(&s, &w, 0, 1), -ERR_INVAL);
	REQUIRE(store_snap_begin(&s, &w, 3, 1) == 0);
	CHECK_EQ_INT(store_snap_begin(&s, &w2, 4, 1), -ERR_INVAL); /* one writer */
	CHECK_EQ_INT(store_snap_write(&w, blob, 4096), 0);
	CHECK_EQ_INT(store_snap_write(&w, blob, 4097), -ERR_STORE_ENTRY_TOO_LARGE);
	CHECK(strstr(s.errmsg, "max_entry 4096") != NULL);
	CHECK_EQ_INT(store_snap_write(&w, blob, 0), -ERR_INVAL);
	CHECK_EQ_INT(store_snap_write(&w, blob, 100), 0); /* still usable */
	CHECK_EQ_INT(store_snap_finish(&w, NULL, conf, STORE_CONF_MAX + 1, STORE_SNAP_KEEP_LOG),
		     -ERR_TOO_LARGE);
	CHECK_EQ_INT(store_snap_write(&w, blob, 1), -ERR_INVAL); /* finish ended it */
	REQUIRE(store_snap_begin(&s, &w, 3, 1) == 0);
	CHECK_EQ_INT(store_snap_write(&w, blob, 4096), 0);
	CHECK_EQ_INT(store_snap_finish(&w, NULL, conf, STORE_CONF_MAX, STORE_SNAP_KEEP_LOG), 0);
	struct store_snap_info info;
	static uint8_t got[STORE_CONF_MAX];
	CHECK_EQ_INT(store_snap_get(&s, &info, got, sizeof got), 0);
	CHECK_EQ_INT(info.conf_len, STORE_CONF_MAX);
	CHECK_EQ_INT(info.size, 4096);
	/* An abandoned writer: its pieces do not disturb anything. */
	REQUIRE(store_snap_begin(&s, &w, 4, 1) == 0);
	CHECK_EQ_INT(store_snap_write(&w, blob, 1000), 0);
	store_snap_abort(&w);
	CHECK_EQ_INT(store_verify(&s), 0);
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(store_snap_begin(&s, &w, 4, 1) == 0); /* clears the leftovers */
	CHECK_EQ_INT(store_snap_write(&w, blob, 10), 0);
	CHECK_EQ_INT(store_snap_finish(&w, NULL, NULL, 0, STORE_SNAP_KEEP_LOG), 0);
	CHECK_EQ_INT(s.snap.size, 10);
	CHECK_EQ_INT(store_verify(&s), 0);
	store_close(&s);
	dir_remove(dir);
}

static void snapshot_damage_detected(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	REQUIRE(append_n(&s, 1, 5, 1) == 0);
	uint8_t blob[300];
	blob_fill(blob, sizeof blob, 6);
	REQUIRE(snap_put(&s, 4, 1, blob, sizeof blob, 100, NULL, STORE_SNAP_KEEP_LOG) == 0);
	uint8_t slot = s.snap_slot;
	store_close(&s);
	/* Flip one byte of the second piece behind our back. */
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	REQUIRE(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 16);
	REQUIRE(mdb_env_open(env, dir, 0, 0600) == 0);
	REQUIRE(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	REQUIRE(mdb_dbi_open(txn, "snap", 0, &dbi) == 0);
	uint8_t key[9] = {slot};
	store__put64(key + 1, 100);
	MDB_val k = {9, key}, v;
	REQUIRE(mdb_get(txn, dbi, &k, &v) == 0);
	uint8_t copy[104];
	REQUIRE(v.mv_size == sizeof copy);
	memcpy(copy, v.mv_data, sizeof copy);
	copy[50] ^= 1;
	v.mv_data = copy;
	REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
	REQUIRE(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_CORRUPT);
	CHECK(strstr(s.errmsg, "offset 100") != NULL);
	c.skip_verify = true;
	REQUIRE(store_open(&s, dir, &c) == 0);
	uint8_t got[300];
	uint64_t total;
	CHECK_EQ_INT(store_snap_read(&s, 4, 0, got, 100, &total), 100); /* first piece fine */
	CHECK_EQ_INT(store_snap_read(&s, 4, 0, got, 300, &total), -ERR_STORE_CORRUPT);
	CHECK_EQ_INT(store_snap_read(&s, 4, 150, got, 10, &total), -ERR_STORE_CORRUPT);
	CHECK_EQ_INT(store_verify(&s), -ERR_STORE_CORRUPT);
	store_close(&s);
	dir_remove(dir);
}

TEST_MAIN(sm_put_get_del, sm_abort_discards, sm_iterate_in_order, sm_names_and_keys_both_sides,
	  apply_is_one_transaction, txn_one_writer_many_readers, readers_cap_both_sides,
	  tables_cap_both_sides, snapshot_roundtrip, snapshot_modes, snapshot_replaced,
	  snapshot_install_in_txn, snapshot_caps_both_sides, snapshot_damage_detected)
