/* Unit tests for store: CRC-32C, opening (directory, caps, lock), refusing
 * corrupt / foreign / newer state directories, identity.
 * The log is in test_store_log.c, transactions, tables and snapshots in
 * test_store_sm.c. Every case works in its own mkdtemp directory and
 * removes it.
 */
#include "base/base_err.h"
#include "store/store.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* A fresh directory under $TMPDIR (or /tmp), in buf. */
static const char *dir_make(char *buf, size_t cap)
{
	const char *t = getenv("TMPDIR");
	snprintf(buf, cap, "%s/tee-store.XXXXXX", t && t[0] ? t : "/tmp");
	return mkdtemp(buf);
}

static void path_of(char *out, size_t cap, const char *dir, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static void file_write(const char *path, const void *data, size_t len, off_t off, int trunc)
{
	int fd = open(path, O_WRONLY | O_CREAT | (trunc ? O_TRUNC : 0), 0600);
	if (fd < 0)
		return;
	if (pwrite(fd, data, len, off) != (ssize_t)len)
		fprintf(stderr, "pwrite %s: %s\n", path, strerror(errno));
	close(fd);
}

/* Open the directory as a plain LMDB environment (the store must be closed). */
static int raw_open(const char *dir, MDB_env **env, MDB_txn **txn)
{
	int rc = mdb_env_create(env);
	if (rc)
		return rc;
	mdb_env_set_maxdbs(*env, 16);
	rc = mdb_env_open(*env, dir, 0, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(*env, NULL, 0, txn);
	if (rc)
		mdb_env_close(*env);
	return rc;
}

static int raw_put(const char *dir, const char *db, const void *key, size_t klen, const void *val,
		   size_t vlen)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc = raw_open(dir, &env, &txn);
	if (rc)
		return rc;
	rc = mdb_dbi_open(txn, db, db ? MDB_CREATE : 0, &dbi);
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
	if (rc == 0)
		rc = mdb_put(txn, dbi, &k, &v, 0);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc;
}

/* Rewrite the format record with `version`, a correct or a wrong checksum. */
static int raw_format(const char *dir, uint32_t version, int good_crc)
{
	uint8_t v[16] = {'T', 'E', 'E', 'S', 'T', 'O', 'R', 'E'};
	store__put32(v + 8, version);
	uint32_t crc = store_crc32c(store_crc32c(0, "format", 6), v, 12);
	store__put32(v + 12, good_crc ? crc : crc ^ 1);
	return raw_put(dir, "meta", "format", 6, v, sizeof v);
}

static struct store_config cfg_small(void)
{
	return (struct store_config){.map_size = 4u << 20};
}

/* CRC-32C ------------------------------------------------------------------- */

static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int b = 0; b < 8; b++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

static void crc32c_known_answers(void)
{
	/* RFC 3720 appendix B.4 and the usual check value. */
	uint8_t buf[32];
	CHECK_EQ_INT(store_crc32c(0, "123456789", 9), 0xe3069283u);
	memset(buf, 0, sizeof buf);
	CHECK_EQ_INT(store_crc32c(0, buf, 32), 0x8a9136aau);
	memset(buf, 0xff, sizeof buf);
	CHECK_EQ_INT(store_crc32c(0, buf, 32), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	CHECK_EQ_INT(store_crc32c(0, buf, 32), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	CHECK_EQ_INT(store_crc32c(0, buf, 32), 0x113fdb5cu);
	CHECK_EQ_INT(store_crc32c(0, "", 0), 0);
	/* Chaining, and the table against the bitwise definition. */
	uint8_t data[257];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 37 + 11);
	for (size_t cut = 0; cut <= sizeof data; cut += 31)
		CHECK_EQ_INT(
			store_crc32c(store_crc32c(0, data, cut), data + cut, sizeof data - cut),
			store_crc32c(0, data, sizeof data));
	for (size_t n = 0; n <= sizeof data; n++)
		if (store_crc32c(0, data, n) != crc_bitwise(data, n))
			CHECK_EQ_INT(store_crc32c(0, data, n), crc_bitwise(data, n));
}

/* Opening --------------------------------------------------------------------- */

static void open_creates_dir_private(void)
{
	char base[256], dir[300], p[400];
	REQUIRE(dir_make(base, sizeof base));
	snprintf(dir, sizeof dir, "%s/a/b/state/", base);
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	struct stat st;
	snprintf(p, sizeof p, "%s/a/b/state", base);
	CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	snprintf(p, sizeof p, "%s/a", base);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0700);
	path_of(p, sizeof p, dir, "data.mdb");
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
	path_of(p, sizeof p, dir, "lock.mdb");
	CHECK(stat(p, &st) == 0);
	path_of(p, sizeof p, dir, "lock");
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* A fresh store: empty log, no snapshot, zero hard state. */
	CHECK_EQ_INT(store_first_index(&s), 1);
	CHECK_EQ_INT(store_last_index(&s), 0);
	CHECK_EQ_INT(store_last_term(&s), 0);
	CHECK_EQ_INT(store_get_hard(&s).term, 0);
	CHECK_EQ_INT(store_applied(&s), 0);
	uint64_t term = 9;
	CHECK_EQ_INT(store_term(&s, 0, &term), 0);
	CHECK_EQ_INT(term, 0);
	CHECK_EQ_INT(store_term(&s, 1, &term), -ERR_NOTFOUND);
	CHECK_EQ_INT(store_verify(&s), 0);
	store_close(&s);
	store_close(&s); /* harmless twice */
	REQUIRE(store_open(&s, dir, &c) == 0);
	CHECK_EQ_INT(store_last_index(&s), 0);
	store_close(&s);
	dir_remove(base);
}

static void open_rejects_bad_caps(void)
{
	char dir[256];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	c.map_size = STORE_MAP_SIZE_MIN - 1;
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_RANGE);
	CHECK(strstr(s.errmsg, "map_size") != NULL);
	store_close(&s); /* harmless after a failed open */
	c = cfg_small();
	c.map_size = STORE_MAP_SIZE_LIMIT + 1;
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_RANGE);
	c = cfg_small();
	c.max_dbs = STORE_DBS_INTERNAL - 1;
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_RANGE);
	CHECK(strstr(s.errmsg, "max_dbs") != NULL);
	c.max_dbs = STORE_MAX_DBS_LIMIT + 1;
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_RANGE);
	c = cfg_small();
	c.max_readers = STORE_MAX_READERS_LIMIT + 1;
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_RANGE);
	c = cfg_small();
	c.max_entry = STORE_MAX_ENTRY_LIMIT + 1;
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_RANGE);
	c = cfg_small();
	c.max_batch = STORE_MAX_BATCH_LIMIT + 1;
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_RANGE);
	/* Nothing was created by the refused opens. */
	char p[400];
	struct stat st;
	path_of(p, sizeof p, dir, "data.mdb");
	CHECK(stat(p, &st) != 0);
	/* The limits themselves are accepted. */
	c = (struct store_config){.map_size = STORE_MAP_SIZE_MIN,
				  .max_dbs = STORE_DBS_INTERNAL,
				  .max_readers = STORE_MAX_READERS_LIMIT,
				  .max_entry = STORE_MAX_ENTRY_LIMIT,
				  .max_batch = STORE_MAX_BATCH_LIMIT};
	CHECK_EQ_INT(store_open(&s, dir, &c), 0);
	CHECK_EQ_INT(s.cfg.max_batch, STORE_MAX_BATCH_LIMIT);
	store_close(&s);
	/* Zero fields take the defaults. */
	CHECK_EQ_INT(store_open(&s, dir, NULL), 0);
	CHECK_EQ_INT(s.cfg.map_size, STORE_MAP_SIZE_DEFAULT);
	CHECK_EQ_INT(s.cfg.max_dbs, STORE_MAX_DBS_DEFAULT);
	CHECK_EQ_INT(s.cfg.max_entry, STORE_MAX_ENTRY_DEFAULT);
	store_close(&s);
	dir_remove(dir);
}

static void open_rejects_bad_paths(void)
{
	char dir[256], p[400];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	CHECK_EQ_INT(store_open(&s, "", NULL), -ERR_INVAL);
	path_of(p, sizeof p, dir, "file");
	file_write(p, "x", 1, 0, 1);
	CHECK_EQ_INT(store_open(&s, p, NULL), -ERR_INVAL);
	CHECK(strstr(s.errmsg, "not a directory") != NULL);
	path_of(p, sizeof p, dir, "file/sub");
	CHECK(store_open(&s, p, NULL) < 0);
	char longp[PATH_MAX + 8];
	memset(longp, 'a', sizeof longp - 1);
	longp[sizeof longp - 1] = '\0';
	CHECK_EQ_INT(store_open(&s, longp, NULL), -ERR_INVAL);
	/* Calls on a store that is not open fail cleanly. */
	uint64_t t;
	CHECK_EQ_INT(store_term(&s, 1, &t), -ERR_INVAL);
	CHECK_EQ_INT(store_verify(&s), -ERR_INVAL);
	struct store_hard h = {1, 1, 0};
	CHECK_EQ_INT(store_set_hard(&s, &h), -ERR_INVAL);
	dir_remove(dir);
}

/* An empty data.mdb (a crash while the very first open created it) is a
 * fresh store, not a damaged one. */
static void open_accepts_empty_data_file(void)
{
	char dir[256], p[400];
	REQUIRE(dir_make(dir, sizeof dir));
	path_of(p, sizeof p, dir, "data.mdb");
	file_write(p, "", 0, 0, 1);
	struct store s;
	struct store_config c = cfg_small();
	CHECK_EQ_INT(store_open(&s, dir, &c), 0);
	store_close(&s);
	dir_remove(dir);
}

/* Locking ----------------------------------------------------------------------- */

static void lock_refuses_second_open(void)
{
	char dir[256], pid[32];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store a, b;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&a, dir, &c) == 0);
	CHECK_EQ_INT(store_open(&b, dir, &c), -ERR_STORE_LOCKED);
	snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
	CHECK(strstr(b.errmsg, pid) != NULL);
	CHECK(strstr(b.errmsg, "in use") != NULL);
	/* The refused open did not disturb the first one. */
	struct store_entry e = {.term = 1, .index = 1, .data = (const uint8_t *)"x", .len = 1};
	CHECK_EQ_INT(store_append(&a, &e, 1), 0);
	store_close(&a);
	CHECK_EQ_INT(store_open(&b, dir, &c), 0);
	CHECK_EQ_INT(store_last_index(&b), 1);
	store_close(&b);
	dir_remove(dir);
}

/* Another live process holds the directory: refused, with its pid; once that
 * process is killed the lock is gone. */
static void lock_refuses_other_process(void)
{
	char dir[256], pid_s[32];
	REQUIRE(dir_make(dir, sizeof dir));
	int ready[2], go[2];
	REQUIRE(pipe(ready) == 0 && pipe(go) == 0);
	struct store_config c = cfg_small();
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct store s;
		char x = store_open(&s, dir, &c) == 0 ? 'y' : 'n';
		if (write(ready[1], &x, 1) != 1)
			_exit(2);
		if (read(go[0], &x, 1) < 0)
			_exit(3);
		_exit(0); /* killed before */
	}
	char x = 0;
	CHECK(read(ready[0], &x, 1) == 1 && x == 'y');
	struct store s;
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_LOCKED);
	snprintf(pid_s, sizeof pid_s, "pid %ld", (long)pid);
	CHECK(strstr(s.errmsg, pid_s) != NULL);
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status));
	CHECK_EQ_INT(store_open(&s, dir, &c), 0);
	store_close(&s);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	dir_remove(dir);
}

/* Refusing what is not ours ---------------------------------------------------------- */

static void refuses_garbage_data_file(void)
{
	char dir[256], p[400];
	uint8_t junk[16384];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	struct store s;
	struct store_config c = cfg_small();
	/* Garbage where a store used to be. */
	REQUIRE(dir_make(dir, sizeof dir));
	REQUIRE(store_open(&s, dir, &c) == 0);
	struct store_entry e = {.term = 1, .index = 1, .data = (const uint8_t *)"x", .len = 1};
	CHECK_EQ_INT(store_append(&s, &e, 1), 0);
	store_close(&s);
	path_of(p, sizeof p, dir, "data.mdb");
	file_write(p, junk, sizeof junk, 0, 1);
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_CORRUPT);
	CHECK(strstr(s.errmsg, "data.mdb") != NULL);
	dir_remove(dir);
	/* Both meta pages overwritten, the rest intact. */
	REQUIRE(dir_make(dir, sizeof dir));
	REQUIRE(store_open(&s, dir, &c) == 0);
	store_close(&s);
	path_of(p, sizeof p, dir, "data.mdb");
	file_write(p, junk, 8192, 0, 0);
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_CORRUPT);
	dir_remove(dir);
	/* A short text file. */
	REQUIRE(dir_make(dir, sizeof dir));
	path_of(p, sizeof p, dir, "data.mdb");
	file_write(p, "hello, this is not a database\n", 30, 0, 1);
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_CORRUPT);
	CHECK(strstr(s.errmsg, "not an LMDB file") != NULL);
	dir_remove(dir);
}

static void refuses_foreign_env(void)
{
	char dir[256];
	struct store s;
	struct store_config c = cfg_small();
	/* Someone else's LMDB environment: data in the main database. */
	REQUIRE(dir_make(dir, sizeof dir));
	REQUIRE(raw_put(dir, NULL, "hello", 5, "world", 5) == 0);
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_FOREIGN);
	CHECK(strstr(s.errmsg, "not a traefikee state directory") != NULL);
	dir_remove(dir);
	/* A "meta" database without our format record. */
	REQUIRE(dir_make(dir, sizeof dir));
	REQUIRE(raw_put(dir, "meta", "version", 7, "3", 1) == 0);
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_FOREIGN);
	dir_remove(dir);
	/* A format record with someone else's magic. */
	REQUIRE(dir_make(dir, sizeof dir));
	REQUIRE(raw_put(dir, "meta", "format", 6, "ETCDSTORE0000000", 16) == 0);
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_FOREIGN);
	dir_remove(dir);
	/* Ours, with a database we never create. */
	REQUIRE(dir_make(dir, sizeof dir));
	REQUIRE(store_open(&s, dir, &c) == 0);
	store_close(&s);
	REQUIRE(raw_put(dir, "junk", "k", 1, "v", 1) == 0);
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_FOREIGN);
	CHECK(strstr(s.errmsg, "junk") != NULL);
	dir_remove(dir);
	/* Ours, with plain data in the main database. */
	REQUIRE(dir_make(dir, sizeof dir));
	REQUIRE(store_open(&s, dir, &c) == 0);
	store_close(&s);
	REQUIRE(raw_put(dir, NULL, "zzz", 3, "v", 1) == 0);
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_FOREIGN);
	dir_remove(dir);
}

static void refuses_newer_format(void)
{
	char dir[256];
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(dir_make(dir, sizeof dir));
	REQUIRE(store_open(&s, dir, &c) == 0);
	store_close(&s);
	REQUIRE(raw_format(dir, STORE_FORMAT_VERSION + 1, 1) == 0);
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_VERSION);
	CHECK(strstr(s.errmsg, "newer") != NULL);
	CHECK_EQ_STR(err_str(-ERR_STORE_VERSION), "state directory from a newer version");
	/* Our own version again: accepted. */
	REQUIRE(raw_format(dir, STORE_FORMAT_VERSION, 1) == 0);
	CHECK_EQ_INT(store_open(&s, dir, &c), 0);
	store_close(&s);
	/* A format record that fails its checksum, and version 0. */
	REQUIRE(raw_format(dir, STORE_FORMAT_VERSION, 0) == 0);
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_CORRUPT);
	CHECK(strstr(s.errmsg, "checksum") != NULL);
	REQUIRE(raw_format(dir, 0, 1) == 0);
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_CORRUPT);
	dir_remove(dir);
}

/* A damaged record (the hard state) is refused at open. */
static void refuses_damaged_record(void)
{
	char dir[256];
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(dir_make(dir, sizeof dir));
	REQUIRE(store_open(&s, dir, &c) == 0);
	struct store_hard h = {.term = 3, .vote = 2, .commit = 0};
	CHECK_EQ_INT(store_set_hard(&s, &h), 0);
	store_close(&s);
	uint8_t v[28];
	store__put64(v, 3);
	store__put64(v + 8, 2);
	store__put64(v + 16, 0);
	store__put32(v + 24, store_crc32c(store_crc32c(0, "state", 5), v, 24));
	REQUIRE(raw_put(dir, "hard", "state", 5, v, sizeof v) == 0);
	CHECK_EQ_INT(store_open(&s, dir, &c), 0); /* the same bytes as ours */
	CHECK_EQ_INT(store_get_hard(&s).vote, 2);
	store_close(&s);
	store__put64(v + 8, 7); /* the vote changed behind our back */
	REQUIRE(raw_put(dir, "hard", "state", 5, v, sizeof v) == 0);
	CHECK_EQ_INT(store_open(&s, dir, &c), -ERR_STORE_CORRUPT);
	CHECK(strstr(s.errmsg, "record state") != NULL);
	dir_remove(dir);
}

/* Identity ----------------------------------------------------------------------------- */

static void identity_written_once(void)
{
	char dir[256], cl[STORE_ID_MAX + 1], nd[STORE_ID_MAX + 1];
	REQUIRE(dir_make(dir, sizeof dir));
	struct store s;
	struct store_config c = cfg_small();
	REQUIRE(store_open(&s, dir, &c) == 0);
	CHECK_EQ_INT(store_identity_get(&s, cl, sizeof cl, nd, sizeof nd), -ERR_NOTFOUND);
	CHECK_EQ_INT(store_identity_set(&s, "", "n1"), -ERR_INVAL);
	char big[STORE_ID_MAX + 2];
	memset(big, 'c', sizeof big - 1);
	big[sizeof big - 1] = '\0'; /* STORE_ID_MAX + 1 characters */
	CHECK_EQ_INT(store_identity_set(&s, big, "n1"), -ERR_TOO_LARGE);
	big[STORE_ID_MAX] = '\0'; /* exactly STORE_ID_MAX */
	CHECK_EQ_INT(store_identity_set(&s, big, "3k2lq0aaaaaaaaaaaaaaaaaaa"), 0);
	CHECK_EQ_INT(store_identity_set(&s, big, "3k2lq0aaaaaaaaaaaaaaaaaaa"), 0);
	CHECK_EQ_INT(store_identity_set(&s, big, "other"), -ERR_EXISTS);
	CHECK(strstr(s.errmsg, "already set") != NULL);
	CHECK_EQ_INT(store_identity_get(&s, cl, STORE_ID_MAX, nd, sizeof nd), -ERR_BUF_FULL);
	CHECK_EQ_INT(store_identity_get(&s, cl, sizeof cl, nd, sizeof nd), 0);
	CHECK_EQ_STR(cl, big);
	CHECK_EQ_STR(nd, "3k2lq0aaaaaaaaaaaaaaaaaaa");
	store_close(&s);
	REQUIRE(store_open(&s, dir, &c) == 0);
	CHECK_EQ_INT(store_identity_get(&s, cl, sizeof cl, nd, sizeof nd), 0);
	CHECK_EQ_STR(nd, "3k2lq0aaaaaaaaaaaaaaaaaaa");
	store_close(&s);
	dir_remove(dir);
}

static void error_codes_name_settings(void)
{
	CHECK(strstr(err_str(-ERR_STORE_FULL), "map_size") != NULL);
	CHECK(strstr(err_str(-ERR_STORE_READERS_FULL), "max_readers") != NULL);
	CHECK(strstr(err_str(-ERR_STORE_TABLES_FULL), "max_dbs") != NULL);
	CHECK(strstr(err_str(-ERR_STORE_ENTRY_TOO_LARGE), "max_entry") != NULL);
	CHECK(strstr(err_str(-ERR_STORE_BATCH_TOO_LARGE), "max_batch") != NULL);
	CHECK_EQ_STR(err_name(-ERR_STORE_LOCKED), "STORE_LOCKED");
	CHECK_EQ_STR(err_name(ERR_STORE_CORRUPT), "STORE_CORRUPT");
	CHECK_EQ_STR(err_name(-ERR_STORE_FOREIGN), "STORE_FOREIGN");
	CHECK_EQ_STR(err_name(-ERR_STORE_PANIC), "STORE_PANIC");
	CHECK_EQ_INT(ERR_STORE_FULL, 90);
	CHECK_EQ_INT(ERR_STORE_BATCH_TOO_LARGE, 99);
}

TEST_MAIN(crc32c_known_answers, open_creates_dir_private, open_rejects_bad_caps,
	  open_rejects_bad_paths, open_accepts_empty_data_file, lock_refuses_second_open,
	  lock_refuses_other_process, refuses_garbage_data_file, refuses_foreign_env,
	  refuses_newer_format, refuses_damaged_record, identity_written_once,
	  error_codes_name_settings)
