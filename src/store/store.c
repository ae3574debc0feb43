/* store.c — open/close, checks of a state directory, errors, records,
 * identity, transactions, CRC-32C.
 *
 * Implementation notes
 *
 * - Files in the state directory: `lock` (our flock, holds the owner's pid),
 *   `data.mdb` and `lock.mdb` (LMDB's own, sub-directory mode: the state
 *   directory is ours alone, so MDB_NOSUBDIR buys nothing).
 * - Flags: MDB_NOTLS only. Reader slots then belong to transaction handles,
 *   not threads: the store keeps one reader (s->rtxn) reset between calls and
 *   renewed, so reads allocate nothing, and it can coexist with a write
 *   transaction and with the caller's read transactions on the same thread.
 * - A fresh environment is recognised by an empty main database; anything
 *   else must carry our "format" record in "meta" before we look further.
 *   Only then are unknown names reported, so a newer format that added a
 *   database is reported as newer, not foreign.
 * - Small records (format, identity, hard state, applied index, snapshot
 *   description) are stored as payload || crc32c(key || payload), so a record
 *   copied under another key is caught as well as a flipped bit.
 */
#include "store/store.h"

#include "base/base_err.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest state directory path we accept: room for "/data.mdb" and LMDB's
 * own suffixes within PATH_MAX. */
#define STORE_DIR_MAX (PATH_MAX - 32)

static const uint8_t store_magic[8] = {'T', 'E', 'E', 'S', 'T', 'O', 'R', 'E'};

/* --- CRC-32C ---------------------------------------------------------------- */

/* Byte-at-a-time table for the reflected Castagnoli polynomial 0x82F63B78
 * (entry i is the CRC register after shifting in the 8 bits of i). */
static const uint32_t store_crc_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c, 0x26a1e7e8,
	0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b, 0x4d43cfd0, 0xbf284cd3,
	0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b, 0xd7c45070,
	0x25afd373, 0x36ff2087, 0xc494a384, 0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54,
	0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29,
	0x33ed7d2a, 0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
	0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa, 0x30e349b1,
	0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
	0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a, 0x7da08661, 0x8fcb0562, 0x9c9bf696,
	0x6ef07595, 0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0,
	0x67dafa54, 0x95b17957, 0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c,
	0xfe53516f, 0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f, 0x3ac7f2eb,
	0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7, 0x61c69362, 0x93ad1061,
	0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789, 0xeb1fcbad,
	0x197448ae, 0x0a24bb5a, 0xf84f3859, 0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
	0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5,
	0xa55230e6, 0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
	0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c, 0x456cac67,
	0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043,
	0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c, 0x92a8fc17, 0x60c37f14, 0x73938ce0,
	0x81f80fe3, 0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db,
	0xf94ad42f, 0x0b21572c, 0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6,
	0x502036a5, 0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975, 0x0e330a81,
	0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d, 0x758fe5d6, 0x87e466d5,
	0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2, 0xff56bd19,
	0x0d3d3e1a, 0x1e6dcdee, 0xec064eed, 0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530,
	0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc,
	0x5a048dff, 0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
	0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540, 0x590ab964,
	0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
	0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee, 0x24aa3f05, 0xd6c1bc06, 0xc5914ff2,
	0x37faccf1, 0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9,
	0x4f48173d, 0xbd23943e, 0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a,
	0xc69f7b69, 0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t store_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	crc = ~crc;
	while (len--)
		crc = store_crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* --- Errors ------------------------------------------------------------------- */

int store__fail(struct store *s, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
	va_end(ap);
	return code;
}

/* Project code for an LMDB return code or errno value. */
static int store_code(int rc)
{
	switch (rc) {
	case MDB_SUCCESS: return 0;
	case MDB_NOTFOUND: return -ERR_NOTFOUND;
	case MDB_KEYEXIST: return -ERR_EXISTS;
	case MDB_MAP_FULL: return -ERR_STORE_FULL;
	case MDB_READERS_FULL: return -ERR_STORE_READERS_FULL;
	case MDB_DBS_FULL: return -ERR_STORE_TABLES_FULL;
	case MDB_TXN_FULL:
	case MDB_BAD_VALSIZE: return -ERR_TOO_LARGE;
	case MDB_PAGE_NOTFOUND:
	case MDB_CORRUPTED:
	case MDB_INVALID:
	case MDB_CURSOR_FULL:
	case MDB_PAGE_FULL: return -ERR_STORE_CORRUPT;
	case MDB_PANIC: return -ERR_STORE_PANIC;
	case MDB_VERSION_MISMATCH: return -ERR_STORE_VERSION;
	case MDB_INCOMPATIBLE: return -ERR_STORE_FOREIGN;
	/* Another process grew the map: the directory is not ours alone. */
	case MDB_MAP_RESIZED: return -ERR_STORE_LOCKED;
	case MDB_BAD_TXN:
	case MDB_BAD_DBI:
	case MDB_BAD_RSLOT: return -ERR_INVAL;
	case ENOSPC: return -ERR_IO;
	default: return rc > 0 ? err_from_errno(rc) : -ERR_SYS;
	}
}

int store__fail_mdb(struct store *s, int rc, const char *fmt, ...)
{
	char what[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	switch (rc) {
	case MDB_MAP_FULL:
		return store__fail(
			s, -ERR_STORE_FULL,
			"%s: state directory full: map_size %zu bytes reached; raise map_size",
			what, s->cfg.map_size);
	case MDB_READERS_FULL:
		return store__fail(s, -ERR_STORE_READERS_FULL,
				   "%s: max_readers %" PRIu32
				   " read transactions open (the store's own included)",
				   what, s->cfg.max_readers);
	case MDB_DBS_FULL:
		return store__fail(s, -ERR_STORE_TABLES_FULL,
				   "%s: max_dbs %" PRIu32 " databases open (%u internal)", what,
				   s->cfg.max_dbs, STORE_DBS_INTERNAL);
	case MDB_TXN_FULL:
		return store__fail(s, -ERR_TOO_LARGE,
				   "%s: transaction touches too many pages; split it", what);
	case MDB_PANIC:
		return store__fail(s, -ERR_STORE_PANIC,
				   "%s: LMDB failed fatally earlier; close and reopen the store",
				   what);
	case ENOSPC:
		return store__fail(s, -ERR_IO, "%s: no space left on the state directory's device",
				   what);
	default: return store__fail(s, store_code(rc), "%s: %s", what, mdb_strerror(rc));
	}
}

/* --- Transactions used inside the store ------------------------------------ */

int store__rbegin(struct store *s)
{
	assert(!s->rtxn_busy);
	int rc = mdb_txn_renew(s->rtxn);
	if (rc == 0)
		rc = mdb_cursor_renew(s->rtxn, s->rcur);
	if (rc) {
		mdb_txn_reset(s->rtxn);
		return store__fail_mdb(s, rc, "read");
	}
	s->rtxn_busy = true;
	return 0;
}

void store__rend(struct store *s)
{
	assert(s->rtxn_busy);
	mdb_txn_reset(s->rtxn);
	s->rtxn_busy = false;
}

int store__wbegin(struct store *s, MDB_txn **txn, const char *what)
{
	*txn = NULL;
	if (!s->is_open)
		return store__fail(s, -ERR_INVAL, "%s: store not open", what);
	if (s->wtxn_open)
		return store__fail(s, -ERR_INVAL, "%s: a write transaction is open", what);
	int rc = mdb_txn_begin(s->env, NULL, 0, txn);
	if (rc) {
		*txn = NULL;
		return store__fail_mdb(s, rc, "%s", what);
	}
	return 0;
}

int store__wcommit(struct store *s, MDB_txn *txn, const char *what)
{
#ifdef TEE_TEST_BUILD
	if (s->fault_commit && --s->fault_commit == 0) {
		mdb_txn_abort(txn);
		return store__fail(s, -ERR_FAULT, "%s: commit: injected fault", what);
	}
#endif
	/* mdb_txn_commit frees the transaction whatever the outcome. */
	int rc = mdb_txn_commit(txn);
	if (rc)
		return store__fail_mdb(s, rc, "%s: commit", what);
	return 0;
}

/* --- Records: payload || crc32c(key || payload) ------------------------------ */

static uint32_t store_rec_crc(const char *key, const void *payload, size_t len)
{
	return store_crc32c(store_crc32c(0, key, strlen(key)), payload, len);
}

int store__rec_put(struct store *s, MDB_txn *txn, unsigned int dbi, const char *key,
		   const void *payload, size_t len)
{
	MDB_val k = {strlen(key), (void *)key};
	MDB_val v = {len + 4, NULL};
	int rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
	if (rc)
		return store__fail_mdb(s, rc, "write record %s", key);
	uint8_t *p = v.mv_data;
	if (len)
		memcpy(p, payload, len);
	store__put32(p + len, store_rec_crc(key, payload, len));
	return 0;
}

int store__rec_get(struct store *s, MDB_txn *txn, unsigned int dbi, const char *key,
		   const uint8_t **payload, size_t *len)
{
	MDB_val k = {strlen(key), (void *)key}, v;
	int rc = mdb_get(txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return -ERR_NOTFOUND;
	if (rc)
		return store__fail_mdb(s, rc, "read record %s", key);
	if (v.mv_size < 4)
		return store__fail(s, -ERR_STORE_CORRUPT, "record %s: %zu bytes, too short", key,
				   v.mv_size);
	const uint8_t *p = v.mv_data;
	size_t n = v.mv_size - 4;
	uint32_t want = store__get32(p + n), got = store_rec_crc(key, p, n);
	if (want != got)
		return store__fail(s, -ERR_STORE_CORRUPT,
				   "record %s: checksum mismatch (stored %08" PRIx32
				   ", computed %08" PRIx32 ")",
				   key, want, got);
	*payload = p;
	*len = n;
	return 0;
}

/* --- Opening ------------------------------------------------------------------ */

static int store_cfg_resolve(struct store *s, const struct store_config *in)
{
	struct store_config c = in ? *in : (struct store_config){0};
	if (!c.map_size)
		c.map_size = STORE_MAP_SIZE_DEFAULT;
	if (!c.max_readers)
		c.max_readers = STORE_MAX_READERS_DEFAULT;
	if (!c.max_dbs)
		c.max_dbs = STORE_MAX_DBS_DEFAULT;
	if (!c.max_entry)
		c.max_entry = STORE_MAX_ENTRY_DEFAULT;
	if (!c.max_batch)
		c.max_batch = STORE_MAX_BATCH_DEFAULT;
	if (c.map_size < STORE_MAP_SIZE_MIN || c.map_size > STORE_MAP_SIZE_LIMIT)
		return store__fail(s, -ERR_RANGE, "map_size %zu outside [%zu, %zu]", c.map_size,
				   STORE_MAP_SIZE_MIN, STORE_MAP_SIZE_LIMIT);
	if (c.max_readers > STORE_MAX_READERS_LIMIT)
		return store__fail(s, -ERR_RANGE, "max_readers %" PRIu32 " over %u", c.max_readers,
				   STORE_MAX_READERS_LIMIT);
	if (c.max_dbs < STORE_DBS_INTERNAL || c.max_dbs > STORE_MAX_DBS_LIMIT)
		return store__fail(s, -ERR_RANGE, "max_dbs %" PRIu32 " outside [%u, %u]", c.max_dbs,
				   STORE_DBS_INTERNAL, STORE_MAX_DBS_LIMIT);
	if (c.max_entry > STORE_MAX_ENTRY_LIMIT)
		return store__fail(s, -ERR_RANGE, "max_entry %" PRIu32 " over %u", c.max_entry,
				   STORE_MAX_ENTRY_LIMIT);
	if (c.max_batch > STORE_MAX_BATCH_LIMIT)
		return store__fail(s, -ERR_RANGE, "max_batch %" PRIu32 " over %u", c.max_batch,
				   STORE_MAX_BATCH_LIMIT);
	s->cfg = c;
	return 0;
}

/* fsync a directory so the names created in it survive a power cut. */
static int store_sync_dir(struct store *s, const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return store__fail(s, err_from_errno(errno), "open directory %s: %s", path,
				   strerror(errno));
	int rc = 0;
	if (fsync(fd) != 0)
		rc = store__fail(s, -ERR_IO, "fsync directory %s: %s", path, strerror(errno));
	close(fd);
	return rc;
}

/* mkdir -p with mode 0700; each directory created is made durable in its
 * parent. Existing directories keep their mode. */
static int store_mkdirs(struct store *s, const char *dir)
{
	char path[PATH_MAX];
	size_t n = strlen(dir);
	memcpy(path, dir, n + 1);
	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		if (path[i - 1] == '/')
			continue;
		char c = path[i];
		path[i] = '\0';
		if (mkdir(path, 0700) == 0) {
			char *slash = strrchr(path, '/');
			int rc;
			if (!slash) {
				rc = store_sync_dir(s, ".");
			} else if (slash == path) {
				rc = store_sync_dir(s, "/");
			} else {
				*slash = '\0';
				rc = store_sync_dir(s, path);
				*slash = '/';
			}
			if (rc)
				return rc;
		} else if (errno != EEXIST) {
			int e = errno;
			return store__fail(s, err_from_errno(e), "create state directory %s: %s",
					   path, strerror(e));
		}
		path[i] = c;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return store__fail(s, err_from_errno(errno), "state directory %s: %s", path,
				   strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return store__fail(s, -ERR_INVAL, "state directory %s is not a directory", path);
	return 0;
}

/* Take the directory: flock(LOCK_EX) on <dir>/lock, then write our pid there so
 * the next one to try can say who holds it. The lock dies with the process. */
static int store_lock(struct store *s, const char *dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return store__fail(s, err_from_errno(errno), "open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		if (e == EWOULDBLOCK) {
			char pid[24] = "";
			ssize_t r = pread(fd, pid, sizeof pid - 1, 0);
			pid[r > 0 ? r : 0] = '\0';
			pid[strspn(pid, "0123456789")] = '\0';
			close(fd);
			return store__fail(
				s, -ERR_STORE_LOCKED,
				"state directory %s is in use by another process (pid %s); "
				"each node needs its own --statedir",
				dir, pid[0] ? pid : "unknown");
		}
		close(fd);
		return store__fail(s, err_from_errno(e), "lock %s: %s", path, strerror(e));
	}
	char pid[24];
	int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
		/* Only informational: the lock itself is held. */
	}
	s->lock_fd = fd;
	return 0;
}

/* LMDB keeps an existing lock.mdb that is larger than max_readers needs (and
 * then allows more readers). When no process has the environment open, empty
 * it so LMDB rebuilds it at the configured size. "No process" is LMDB's own
 * test: a write lock on its first byte. Our environment is not open yet, so
 * closing this descriptor cannot drop any lock LMDB holds for us. */
static int store_reset_lock_file(struct store *s, const char *dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/lock.mdb", dir);
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return store__fail(s, err_from_errno(errno), "open %s: %s", path, strerror(errno));
	}
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	int rc = 0;
	if (fcntl(fd, F_SETLK, &fl) == 0 && ftruncate(fd, 0) != 0)
		rc = store__fail(s, err_from_errno(errno), "reset %s: %s", path, strerror(errno));
	close(fd);
	return rc;
}

static int store_env_open(struct store *s, const char *dir)
{
	int rc = store_reset_lock_file(s, dir);
	if (rc)
		return rc;
	rc = mdb_env_create(&s->env);
	if (rc) {
		s->env = NULL;
		return store__fail_mdb(s, rc, "create LMDB environment");
	}
	rc = mdb_env_set_mapsize(s->env, s->cfg.map_size);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(s->env, s->cfg.max_readers);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(s->env, s->cfg.max_dbs);
	if (rc)
		return store__fail_mdb(s, rc, "configure LMDB environment");
	rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
	switch (rc) {
	case 0: break;
	case MDB_INVALID:
		return store__fail(s, -ERR_STORE_CORRUPT,
				   "%s/data.mdb is not an LMDB file or its header is damaged", dir);
	case MDB_VERSION_MISMATCH:
		return store__fail(s, -ERR_STORE_VERSION,
				   "%s: data.mdb was written by an incompatible LMDB version", dir);
	case EAGAIN: return store__fail(s, -ERR_STORE_LOCKED, "%s: LMDB environment busy", dir);
	case ENOMEM:
		return store__fail(s, -ERR_NOMEM, "%s: cannot map %zu bytes (map_size)", dir,
				   s->cfg.map_size);
	default: return store__fail_mdb(s, rc, "open LMDB environment in %s", dir);
	}
	/* Slots of readers that died with a previous process. */
	int dead = 0;
	(void)mdb_reader_check(s->env, &dead);
	return 0;
}

static int store_dbi(struct store *s, MDB_txn *txn, const char *name, unsigned int flags,
		     unsigned int *dbi)
{
	int rc = mdb_dbi_open(txn, name, flags, dbi);
	if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
		return store__fail(s, -ERR_STORE_CORRUPT, "database \"%s\" missing or malformed",
				   name);
	if (rc)
		return store__fail_mdb(s, rc, "open database %s", name);
	unsigned int f = 0;
	if (mdb_dbi_flags(txn, *dbi, &f) == 0 && f != 0)
		return store__fail(s, -ERR_STORE_CORRUPT, "database \"%s\" has flags %#x", name, f);
	return 0;
}

/* Lay out a brand-new environment (inside the caller's transaction). */
static int store_create(struct store *s, MDB_txn *txn)
{
	int rc = store_dbi(s, txn, "meta", MDB_CREATE, &s->dbi_meta);
	if (!rc)
		rc = store_dbi(s, txn, "log", MDB_CREATE, &s->dbi_log);
	if (!rc)
		rc = store_dbi(s, txn, "hard", MDB_CREATE, &s->dbi_hard);
	if (!rc)
		rc = store_dbi(s, txn, "snap", MDB_CREATE, &s->dbi_snap);
	if (rc)
		return rc;
	uint8_t fmt[12];
	memcpy(fmt, store_magic, 8);
	store__put32(fmt + 8, STORE_FORMAT_VERSION);
	return store__rec_put(s, txn, s->dbi_meta, "format", fmt, sizeof fmt);
}

/* Is this environment ours, and of a format we read? */
static int store_check_format(struct store *s, MDB_txn *txn, const char *dir)
{
	int rc = mdb_dbi_open(txn, "meta", 0, &s->dbi_meta);
	if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
		return store__fail(s, -ERR_STORE_FOREIGN,
				   "%s holds an LMDB environment without traefikee metadata; "
				   "not a traefikee state directory",
				   dir);
	if (rc)
		return store__fail_mdb(s, rc, "open database meta");
	MDB_val k = {6, (void *)"format"}, v;
	rc = mdb_get(txn, s->dbi_meta, &k, &v);
	if (rc == MDB_NOTFOUND ||
	    (rc == 0 && (v.mv_size != 16 || memcmp(v.mv_data, store_magic, 8) != 0)))
		return store__fail(s, -ERR_STORE_FOREIGN,
				   "%s: no traefikee format record in \"meta\"; "
				   "not a traefikee state directory",
				   dir);
	if (rc)
		return store__fail_mdb(s, rc, "read format record");
	const uint8_t *p;
	size_t n;
	rc = store__rec_get(s, txn, s->dbi_meta, "format", &p, &n);
	if (rc)
		return rc;
	uint32_t version = store__get32(p + 8);
	if (version > STORE_FORMAT_VERSION)
		return store__fail(s, -ERR_STORE_VERSION,
				   "%s: state directory format %" PRIu32
				   " is newer than this build reads (%u); upgrade traefikee",
				   dir, version, STORE_FORMAT_VERSION);
	if (version == 0)
		return store__fail(s, -ERR_STORE_CORRUPT, "%s: format version 0", dir);
	return 0;
}

static int store_load_hard(struct store *s, MDB_txn *txn)
{
	const uint8_t *p;
	size_t n;
	int rc = store__rec_get(s, txn, s->dbi_hard, "state", &p, &n);
	if (rc == 0) {
		if (n != 24)
			return store__fail(s, -ERR_STORE_CORRUPT, "record state: %zu bytes", n);
		s->hard.term = store__get64(p);
		s->hard.vote = store__get64(p + 8);
		s->hard.commit = store__get64(p + 16);
	} else if (rc != -ERR_NOTFOUND) {
		return rc;
	}
	rc = store__rec_get(s, txn, s->dbi_hard, "applied", &p, &n);
	if (rc == 0) {
		if (n != 8)
			return store__fail(s, -ERR_STORE_CORRUPT, "record applied: %zu bytes", n);
		s->applied = store__get64(p);
	} else if (rc != -ERR_NOTFOUND) {
		return rc;
	}
	return 0;
}

/* The first transaction: create or check, open every database handle (they
 * stay open for the environment's life once committed), load the caches. */
static int store_setup(struct store *s, const char *dir, bool *fresh)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		return store__fail_mdb(s, rc, "open %s", dir);
	MDB_dbi main_dbi;
	MDB_stat st;
	rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
	if (rc == 0)
		rc = mdb_stat(txn, main_dbi, &st);
	if (rc) {
		rc = store__fail_mdb(s, rc, "open %s", dir);
		goto out;
	}
	*fresh = st.ms_entries == 0;
	if (*fresh) {
		rc = store_create(s, txn);
		s->last_term = 0;
		goto out;
	}
	rc = store_check_format(s, txn, dir);
	if (!rc)
		rc = store_dbi(s, txn, "log", 0, &s->dbi_log);
	if (!rc)
		rc = store_dbi(s, txn, "hard", 0, &s->dbi_hard);
	if (!rc)
		rc = store_dbi(s, txn, "snap", 0, &s->dbi_snap);
	if (!rc)
		rc = store__sm_open_all(s, txn);
	if (!rc)
		rc = store_load_hard(s, txn);
	if (!rc)
		rc = store__snap_load(s, txn);
	if (!rc)
		rc = store__log_load(s, txn);
	if (!rc && !s->cfg.skip_verify)
		rc = store__log_verify(s, txn);
	if (!rc && !s->cfg.skip_verify)
		rc = store__snap_verify(s, txn);
out:
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	return store__wcommit(s, txn, "open");
}

static int store_reader_open(struct store *s)
{
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
	if (rc) {
		s->rtxn = NULL;
		return store__fail_mdb(s, rc, "open reader");
	}
	rc = mdb_cursor_open(s->rtxn, s->dbi_snap, &s->rcur);
	if (rc) {
		s->rcur = NULL;
		return store__fail_mdb(s, rc, "open reader cursor");
	}
	mdb_txn_reset(s->rtxn);
	return 0;
}

/* Release whatever store_open got; keeps errmsg. */
static void store_release(struct store *s)
{
	char msg[STORE_ERRMSG_SIZE];
	memcpy(msg, s->errmsg, sizeof msg);
	if (s->rcur)
		mdb_cursor_close(s->rcur);
	if (s->rtxn)
		mdb_txn_abort(s->rtxn);
	if (s->env)
		mdb_env_close(s->env);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the flock */
	memset(s, 0, sizeof *s);
	s->lock_fd = -1;
	memcpy(s->errmsg, msg, sizeof msg);
}

int store_open(struct store *s, const char *dir, const struct store_config *cfg)
{
	memset(s, 0, sizeof *s);
	s->lock_fd = -1;
	int rc = store_cfg_resolve(s, cfg);
	if (rc)
		return rc;
	if (!dir || !dir[0])
		return store__fail(s, -ERR_INVAL, "state directory: empty path");
	if (strlen(dir) > STORE_DIR_MAX)
		return store__fail(s, -ERR_INVAL, "state directory: path over %d bytes",
				   STORE_DIR_MAX);
	bool fresh = false;
	rc = store_mkdirs(s, dir);
	if (!rc)
		rc = store_lock(s, dir);
	if (!rc)
		rc = store_env_open(s, dir);
	if (!rc)
		rc = store_setup(s, dir, &fresh);
	if (!rc)
		rc = store_reader_open(s);
	/* data.mdb and lock.mdb were just created: make their names durable. */
	if (!rc && fresh)
		rc = store_sync_dir(s, dir);
	if (rc) {
		store_release(s);
		return rc;
	}
	s->is_open = true;
	return 0;
}

void store_close(struct store *s)
{
	if (!s->is_open)
		return;
	assert(s->txns_open == 0 && !s->rtxn_busy);
	store_release(s);
}

int store_verify(struct store *s)
{
	if (!s->is_open)
		return store__fail(s, -ERR_INVAL, "verify: store not open");
	int rc = store__rbegin(s);
	if (rc)
		return rc;
	rc = store__log_verify(s, s->rtxn);
	if (!rc)
		rc = store__snap_verify(s, s->rtxn);
	store__rend(s);
	return rc;
}

/* --- Identity ----------------------------------------------------------------- */

static int store_id_check(struct store *s, const char *what, const char *id)
{
	if (!id || !id[0])
		return store__fail(s, -ERR_INVAL, "identity: empty %s", what);
	if (strlen(id) > STORE_ID_MAX)
		return store__fail(s, -ERR_TOO_LARGE, "identity: %s over %d bytes", what,
				   STORE_ID_MAX);
	return 0;
}

int store_identity_set(struct store *s, const char *cluster_id, const char *node_id)
{
	int rc = store_id_check(s, "cluster ID", cluster_id);
	if (!rc)
		rc = store_id_check(s, "node ID", node_id);
	if (rc)
		return rc;
	MDB_txn *txn;
	rc = store__wbegin(s, &txn, "identity");
	if (rc)
		return rc;
	const uint8_t *c, *n;
	size_t cl, nl;
	rc = store__rec_get(s, txn, s->dbi_meta, "cluster_id", &c, &cl);
	if (rc == 0)
		rc = store__rec_get(s, txn, s->dbi_meta, "node_id", &n, &nl);
	if (rc == 0) {
		bool same = cl == strlen(cluster_id) && !memcmp(c, cluster_id, cl) &&
			    nl == strlen(node_id) && !memcmp(n, node_id, nl);
		if (!same)
			store__fail(s, -ERR_EXISTS, "identity already set: cluster %.*s node %.*s",
				    (int)cl, (const char *)c, (int)nl, (const char *)n);
		mdb_txn_abort(txn);
		return same ? 0 : -ERR_EXISTS;
	}
	if (rc != -ERR_NOTFOUND) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = store__rec_put(s, txn, s->dbi_meta, "cluster_id", cluster_id, strlen(cluster_id));
	if (!rc)
		rc = store__rec_put(s, txn, s->dbi_meta, "node_id", node_id, strlen(node_id));
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	return store__wcommit(s, txn, "identity");
}

static int store_id_copy(struct store *s, const char *what, const uint8_t *p, size_t n, char *out,
			 size_t cap)
{
	if (!out || cap < n + 1)
		return store__fail(s, -ERR_BUF_FULL, "identity: %s needs %zu bytes", what, n + 1);
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int store_identity_get(struct store *s, char *cluster_id, size_t cluster_cap, char *node_id,
		       size_t node_cap)
{
	if (!s->is_open)
		return store__fail(s, -ERR_INVAL, "identity: store not open");
	int rc = store__rbegin(s);
	if (rc)
		return rc;
	const uint8_t *c, *n;
	size_t cl, nl;
	rc = store__rec_get(s, s->rtxn, s->dbi_meta, "cluster_id", &c, &cl);
	if (rc == 0)
		rc = store__rec_get(s, s->rtxn, s->dbi_meta, "node_id", &n, &nl);
	if (rc == -ERR_NOTFOUND)
		store__fail(s, rc, "identity: not set");
	if (rc == 0)
		rc = store_id_copy(s, "cluster ID", c, cl, cluster_id, cluster_cap);
	if (rc == 0)
		rc = store_id_copy(s, "node ID", n, nl, node_id, node_cap);
	store__rend(s);
	return rc;
}

/* --- Caller's transactions ------------------------------------------------------ */

int store_txn_begin(struct store *s, struct store_txn *t, unsigned flags)
{
	memset(t, 0, sizeof *t);
	if (!s->is_open)
		return store__fail(s, -ERR_INVAL, "begin transaction: store not open");
	if (flags & ~STORE_TXN_WRITE)
		return store__fail(s, -ERR_INVAL, "begin transaction: flags %#x", flags);
	bool write = flags & STORE_TXN_WRITE;
	if (write && s->wtxn_open)
		return store__fail(s, -ERR_INVAL,
				   "begin transaction: a write transaction is already open");
	int rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
	if (rc) {
		t->txn = NULL;
		return store__fail_mdb(s, rc, "begin %s transaction", write ? "write" : "read");
	}
	t->s = s;
	t->write = write;
	s->wtxn_open |= write;
	s->txns_open++;
	return 0;
}

/* Forget t's bookkeeping in its store; the LMDB transaction is handled by
 * the caller. */
static struct store *store_txn_end(struct store_txn *t)
{
	struct store *s = t->s;
	s->txns_open--;
	if (t->write)
		s->wtxn_open = false;
	if (t->set_snap)
		s->snap_busy = false;
	t->s = NULL;
	t->txn = NULL;
	return s;
}

int store_txn_commit(struct store_txn *t)
{
	if (!t->s)
		return -ERR_INVAL;
	MDB_txn *txn = t->txn;
	bool write = t->write;
	struct store *s = store_txn_end(t);
	if (!write) {
		mdb_txn_abort(txn);
		return 0;
	}
	int rc = store__wcommit(s, txn, "transaction");
	if (rc)
		return rc;
	if (t->set_applied)
		s->applied = t->applied;
	if (t->set_snap) {
		s->snap = t->snap;
		s->snap_slot = t->snap_slot;
		s->log_first = t->log_first;
		s->log_last = t->log_last;
		s->last_term = t->last_term;
	}
	return 0;
}

void store_txn_abort(struct store_txn *t)
{
	if (!t->s)
		return;
	MDB_txn *txn = t->txn;
	store_txn_end(t);
	mdb_txn_abort(txn);
}

int store_txn_set_applied(struct store_txn *t, uint64_t index)
{
	struct store *s = t->s;
	if (!s || !t->write)
		return s ? store__fail(s, -ERR_INVAL, "set applied: not a write transaction")
			 : -ERR_INVAL;
	uint64_t cur = t->set_applied ? t->applied : s->applied;
	uint64_t last = store_last_index(s);
	if (t->set_snap)
		last = t->log_last ? t->log_last : t->snap.index;
	if (index < cur)
		return store__fail(s, -ERR_RANGE,
				   "set applied: %" PRIu64 " would go back from %" PRIu64, index,
				   cur);
	if (index > last)
		return store__fail(s, -ERR_RANGE,
				   "set applied: %" PRIu64
				   " is past the last stored index %" PRIu64,
				   index, last);
	uint8_t p[8];
	store__put64(p, index);
	int rc = store__rec_put(s, t->txn, s->dbi_hard, "applied", p, sizeof p);
	if (rc)
		return rc;
	t->set_applied = true;
	t->applied = index;
	return 0;
}
