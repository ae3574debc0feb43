/* store_sm.c — state-machine tables: one LMDB database per table, named
 * "sm/<table>", created on first put, used inside a caller's store_txn.
 *
 * Implementation notes
 *
 * - store_open opens a handle for every existing table (store__sm_open_all)
 *   in its first, committed transaction, and LMDB keeps the handles of
 *   tables created by a committed write transaction. So a lookup in a read
 *   transaction always finds an open handle and never allocates; when every
 *   slot is taken and the name is not among them, the table does not exist.
 * - The "sm/" prefix keeps table names apart from the store's own databases
 *   ("meta", "log", "hard", "snap"); any other name in the main database
 *   makes the directory foreign.
 */
#include "store/store.h"

#include "base/base_err.h"

#include <lmdb.h>
#include <string.h>

#define SM_PREFIX "sm/"
#define SM_PREFIX_LEN 3
#define SM_NAME_BUF (SM_PREFIX_LEN + STORE_TABLE_NAME_MAX + 1)

static bool sm_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > STORE_TABLE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
			  c == '.' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

static bool sm_internal_name(const char *name, size_t len)
{
	static const char *const names[] = {"meta", "log", "hard", "snap"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (len == strlen(names[i]) && !memcmp(name, names[i], len))
			return true;
	return false;
}

/* "sm/<table>" into out, or -ERR_INVAL. */
static int sm_name(struct store *s, const char *table, char out[SM_NAME_BUF])
{
	size_t len = table ? strnlen(table, STORE_TABLE_NAME_MAX + 1) : 0;
	if (!sm_name_ok(table, len))
		return store__fail(s, -ERR_INVAL,
				   "table name \"%.*s\": want 1 to %d characters of [a-z0-9_.-]",
				   (int)len, table ? table : "", STORE_TABLE_NAME_MAX);
	memcpy(out, SM_PREFIX, SM_PREFIX_LEN);
	memcpy(out + SM_PREFIX_LEN, table, len + 1);
	return 0;
}

/* Handle of `table` in t, created when `create`; -ERR_NOTFOUND when absent. */
static int sm_dbi(struct store_txn *t, const char *table, bool create, MDB_dbi *dbi)
{
	struct store *s = t->s;
	char name[SM_NAME_BUF];
	int rc = sm_name(s, table, name);
	if (rc)
		return rc;
	rc = mdb_dbi_open(t->txn, name, create ? MDB_CREATE : 0, dbi);
	if (rc == 0)
		return 0;
	if (rc == MDB_NOTFOUND || (rc == MDB_DBS_FULL && !create))
		return store__fail(s, -ERR_NOTFOUND, "table %s does not exist", table);
	if (rc == MDB_DBS_FULL)
		return store__fail(s, -ERR_STORE_TABLES_FULL,
				   "create table %s: max_dbs %u reached (%u internal + %u tables)",
				   table, s->cfg.max_dbs, STORE_DBS_INTERNAL,
				   s->cfg.max_dbs - STORE_DBS_INTERNAL);
	return store__fail_mdb(s, rc, "open table %s", table);
}

/* Printable copy of an untrusted name for a message. */
static void sm_printable(char *out, size_t cap, const char *p, size_t n)
{
	size_t i;
	for (i = 0; i < n && i + 1 < cap; i++)
		out[i] = (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"') ? p[i] : '?';
	out[i] = '\0';
}

int store__sm_open_all(struct store *s, MDB_txn *txn)
{
	MDB_dbi main_dbi;
	MDB_cursor *c;
	int rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
	if (rc == 0)
		rc = mdb_cursor_open(txn, main_dbi, &c);
	if (rc)
		return store__fail_mdb(s, rc, "list tables");
	MDB_val k, v;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const char *name = k.mv_data;
		size_t len = k.mv_size;
		if (sm_internal_name(name, len))
			continue;
		if (len > SM_PREFIX_LEN && !memcmp(name, SM_PREFIX, SM_PREFIX_LEN) &&
		    sm_name_ok(name + SM_PREFIX_LEN, len - SM_PREFIX_LEN)) {
			char buf[SM_NAME_BUF];
			MDB_dbi dbi;
			memcpy(buf, name, len);
			buf[len] = '\0';
			int r = mdb_dbi_open(txn, buf, 0, &dbi);
			if (r == 0)
				continue;
			mdb_cursor_close(c);
			if (r == MDB_DBS_FULL)
				return store__fail(s, -ERR_STORE_TABLES_FULL,
						   "the state directory holds more tables than "
						   "max_dbs %u allows (%u internal + %u tables)",
						   s->cfg.max_dbs, STORE_DBS_INTERNAL,
						   s->cfg.max_dbs - STORE_DBS_INTERNAL);
			if (r == MDB_INCOMPATIBLE)
				return store__fail(s, -ERR_STORE_CORRUPT, "table %s malformed",
						   buf + SM_PREFIX_LEN);
			return store__fail_mdb(s, r, "open table %s", buf + SM_PREFIX_LEN);
		}
		char shown[64];
		sm_printable(shown, sizeof shown, name, len);
		mdb_cursor_close(c);
		return store__fail(s, -ERR_STORE_FOREIGN,
				   "unexpected database \"%s\": not a traefikee state directory",
				   shown);
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return store__fail_mdb(s, rc, "list tables");
	return 0;
}

static int sm_key_check(struct store *s, const char *op, struct slice key)
{
	if (!key.p || key.len == 0)
		return store__fail(s, -ERR_INVAL, "%s: empty key", op);
	if (key.len > STORE_KEY_MAX)
		return store__fail(s, -ERR_TOO_LARGE, "%s: key of %zu bytes over %d", op, key.len,
				   STORE_KEY_MAX);
	return 0;
}

static int sm_need_write(struct store_txn *t, const char *op)
{
	if (!t->s)
		return -ERR_INVAL;
	if (!t->write)
		return store__fail(t->s, -ERR_INVAL, "%s: read-only transaction", op);
	return 0;
}

int store_sm_put(struct store_txn *t, const char *table, struct slice key, struct slice val)
{
	int rc = sm_need_write(t, "put");
	if (rc)
		return rc;
	struct store *s = t->s;
	rc = sm_key_check(s, "put", key);
	if (rc)
		return rc;
	if (val.len && !val.p)
		return store__fail(s, -ERR_INVAL, "put: value without bytes");
	MDB_dbi dbi;
	rc = sm_dbi(t, table, true, &dbi);
	if (rc)
		return rc;
	MDB_val k = {key.len, (void *)key.p}, v = {val.len, (void *)val.p};
	rc = mdb_put(t->txn, dbi, &k, &v, 0);
	if (rc)
		return store__fail_mdb(s, rc, "put into %s", table);
	return 0;
}

int store_sm_get(struct store_txn *t, const char *table, struct slice key, struct slice *val)
{
	if (!t->s)
		return -ERR_INVAL;
	struct store *s = t->s;
	int rc = sm_key_check(s, "get", key);
	if (rc)
		return rc;
	MDB_dbi dbi;
	rc = sm_dbi(t, table, false, &dbi);
	if (rc)
		return rc;
	MDB_val k = {key.len, (void *)key.p}, v;
	rc = mdb_get(t->txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return store__fail(s, -ERR_NOTFOUND, "get from %s: no such key", table);
	if (rc)
		return store__fail_mdb(s, rc, "get from %s", table);
	*val = (struct slice){v.mv_data, v.mv_size};
	return 0;
}

int store_sm_del(struct store_txn *t, const char *table, struct slice key)
{
	int rc = sm_need_write(t, "delete");
	if (rc)
		return rc;
	struct store *s = t->s;
	rc = sm_key_check(s, "delete", key);
	if (rc)
		return rc;
	MDB_dbi dbi;
	rc = sm_dbi(t, table, false, &dbi);
	if (rc)
		return rc;
	MDB_val k = {key.len, (void *)key.p};
	rc = mdb_del(t->txn, dbi, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return store__fail(s, -ERR_NOTFOUND, "delete from %s: no such key", table);
	if (rc)
		return store__fail_mdb(s, rc, "delete from %s", table);
	return 0;
}

int store_sm_iterate(struct store_txn *t, const char *table, struct slice from, store_sm_iter_fn fn,
		     void *arg)
{
	if (!t->s || !fn)
		return t->s ? store__fail(t->s, -ERR_INVAL, "iterate: no callback") : -ERR_INVAL;
	struct store *s = t->s;
	if (from.len > STORE_KEY_MAX)
		return store__fail(s, -ERR_TOO_LARGE, "iterate: start key over %d bytes",
				   STORE_KEY_MAX);
	MDB_dbi dbi;
	int rc = sm_dbi(t, table, false, &dbi);
	if (rc == -ERR_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	MDB_cursor *c;
	rc = mdb_cursor_open(t->txn, dbi, &c);
	if (rc)
		return store__fail_mdb(s, rc, "iterate %s", table);
	MDB_val k = {from.len, (void *)from.p}, v;
	rc = mdb_cursor_get(c, &k, &v, from.len ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0) {
		int r = fn(arg, (struct slice){k.mv_data, k.mv_size},
			   (struct slice){v.mv_data, v.mv_size});
		if (r != 0) {
			mdb_cursor_close(c);
			return r;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return store__fail_mdb(s, rc, "iterate %s", table);
	return 0;
}

int store_sm_clear(struct store_txn *t, const char *table)
{
	int rc = sm_need_write(t, "clear");
	if (rc)
		return rc;
	MDB_dbi dbi;
	rc = sm_dbi(t, table, false, &dbi);
	if (rc == -ERR_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	rc = mdb_drop(t->txn, dbi, 0);
	if (rc)
		return store__fail_mdb(t->s, rc, "clear %s", table);
	return 0;
}

int store_sm_count(struct store_txn *t, const char *table, uint64_t *n)
{
	if (!t->s)
		return -ERR_INVAL;
	*n = 0;
	MDB_dbi dbi;
	int rc = sm_dbi(t, table, false, &dbi);
	if (rc == -ERR_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	MDB_stat st;
	rc = mdb_stat(t->txn, dbi, &st);
	if (rc)
		return store__fail_mdb(t->s, rc, "count %s", table);
	*n = st.ms_entries;
	return 0;
}

int store_sm_tables(struct store_txn *t, int (*fn)(void *arg, const char *table), void *arg)
{
	if (!t->s || !fn)
		return t->s ? store__fail(t->s, -ERR_INVAL, "tables: no callback") : -ERR_INVAL;
	struct store *s = t->s;
	MDB_dbi main_dbi;
	MDB_cursor *c;
	int rc = mdb_dbi_open(t->txn, NULL, 0, &main_dbi);
	if (rc == 0)
		rc = mdb_cursor_open(t->txn, main_dbi, &c);
	if (rc)
		return store__fail_mdb(s, rc, "list tables");
	MDB_val k = {SM_PREFIX_LEN, (void *)SM_PREFIX}, v;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size <= SM_PREFIX_LEN || memcmp(k.mv_data, SM_PREFIX, SM_PREFIX_LEN))
			break;
		size_t len = k.mv_size - SM_PREFIX_LEN;
		if (len > STORE_TABLE_NAME_MAX)
			continue;
		char name[STORE_TABLE_NAME_MAX + 1];
		memcpy(name, (const char *)k.mv_data + SM_PREFIX_LEN, len);
		name[len] = '\0';
		int r = fn(arg, name);
		if (r != 0) {
			mdb_cursor_close(c);
			return r;
		}
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store__fail_mdb(s, rc, "list tables");
	return 0;
}
