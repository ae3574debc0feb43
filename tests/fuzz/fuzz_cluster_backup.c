/* fuzz_cluster_backup.c — libFuzzer harness for the backup archive reader
 * (src/cluster/cluster_backup.c): a file an operator hands to `bootstrap --archivepath`.
 *
 * For every input: cluster_backup_read. When it accepts, every command of the restore plan must
 * encode and decode again (the reader promised the plan passes the checks apply makes), the
 * plan must end, and the views must lie inside the input. A refusal must leave no key
 * material behind and a message in errmsg.
 * Any violation calls abort(). Memory errors are the sanitizers' business.
 */
#include "base/base_buf.h"
#include "base/base_err.h"
#include "cluster/cluster_backup.h"
#include "cluster/cluster_cmd.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(c)                \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static struct cluster_backup bk;

static void in_input(struct slice s, const uint8_t *data, size_t size)
{
	if (s.len)
		ASSERT((const uint8_t *)s.p >= data && (const uint8_t *)s.p + s.len <= data + size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rc = cluster_backup_read(&bk, data, size);
	if (rc < 0) {
		ASSERT(rc == -ERR_CLUSTER_BACKUP || rc == -ERR_CLUSTER_BACKUP_VERSION);
		ASSERT(bk.errmsg[0] != '\0');
		ASSERT(bk.ca_key_len == 0 && bk.control.text[0] == '\0');
		return 0;
	}
	in_input(bk.license, data, size);
	in_input(bk.deploy, data, size);
	in_input(bk.routing, data, size);
	in_input(bk.revoked, data, size);
	in_input(bk.nodes, data, size);

	struct cluster_restore r;
	struct cluster_cmd c, d;
	unsigned steps = 0;
	/* Every command is made of the archive's bytes (or fewer, decoded): input size plus
	 * headers is room enough. */
	size_t cap = size + 4096;
	uint8_t *enc = malloc(cap);
	ASSERT(enc);
	cluster_restore_begin(&r, &bk, NULL, 1);
	while ((rc = cluster_restore_next(&r, &c)) == 1) {
		struct buf b;
		buf_init(&b, enc, cap);
		int n = cluster_cmd_encode(&c, &b);
		ASSERT(n > 0);
		ASSERT(cluster_cmd_decode(enc, (size_t)n, &d, NULL, 0) == 0);
		ASSERT(d.type == c.type);
		ASSERT(++steps <= 3 + bk.nrevoked);
	}
	ASSERT(rc == 0 && steps >= 1);
	free(enc);
	cluster_backup_wipe(&bk);
	return 0;
}
