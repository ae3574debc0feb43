/* fuzz_cluster_cmd.c — libFuzzer harness for what a control node reads from its peers: the
 * replicated commands (src/cluster/cluster_cmd.c) and the state-machine snapshot stream
 * (cluster_sm_import_*, verification only, no store).
 *
 * For every input:
 *   1. cluster_cmd_decode. When it accepts, the command must pass cluster_cmd_check, encode to
 *      exactly the input (the encoding is canonical), and have the size cluster_cmd_size says;
 *      a DEPLOY's configuration goes through cluster_cmd_check_deploy too.
 *   2. The input as a snapshot stream, fed whole and then in two pieces split in the middle:
 *      both verdicts must agree, and nothing may be read past the input.
 * Any violation calls abort(). Memory errors are the sanitizers' business.
 */
#include "base/base_buf.h"
#include "base/base_err.h"
#include "cluster/cluster_cmd.h"
#include "cluster/cluster_sm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(c)                \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static json_tok toks[CLUSTER_DEPLOY_TOKENS];
static struct cluster_sm sm; /* verification only: buffers, no store */
static int sm_ready;

static void fuzz_command(const uint8_t *data, size_t size)
{
	struct cluster_cmd c;
	char why[CLUSTER_WHY_MAX];
	int rc = cluster_cmd_decode(data, size, &c, why, sizeof why);
	ASSERT(strlen(why) < sizeof why);
	if (rc < 0) {
		ASSERT(rc == -ERR_CLUSTER_CMD || rc == -ERR_CLUSTER_CMD_VERSION ||
		       rc == -ERR_PKI_CERT || rc == -ERR_PKI_KEY || rc == -ERR_CLUSTER_TOKEN);
		return;
	}
	ASSERT(cluster_cmd_check(&c, NULL, 0) == 0);
	ASSERT(cluster_cmd_size(&c) == size);
	uint8_t *out = malloc(size);
	ASSERT(out);
	struct buf b;
	buf_init(&b, out, size);
	ASSERT(cluster_cmd_encode(&c, &b) == (int)size);
	ASSERT(memcmp(out, data, size) == 0);
	/* One byte short: refused, nothing written. */
	buf_init(&b, out, size - 1);
	ASSERT(cluster_cmd_encode(&c, &b) == -ERR_BUF_FULL && b.len == 0);
	free(out);
	if (c.type == CLUSTER_CMD_DEPLOY) {
		rc = cluster_cmd_check_deploy(c.u.deploy.config, toks, CLUSTER_DEPLOY_TOKENS, why,
					      sizeof why);
		ASSERT(rc == 0 || rc == -ERR_CLUSTER_DEPLOY);
	}
}

static int import_verdict(const uint8_t *data, size_t size, size_t split)
{
	struct cluster_sm_import im;
	ASSERT(cluster_sm_import_begin(&im, &sm, NULL) == 0);
	int rc = cluster_sm_import_feed(&im, data, split);
	if (rc == 0)
		rc = cluster_sm_import_feed(&im, data + split, size - split);
	if (rc == 0)
		rc = cluster_sm_import_end(&im);
	ASSERT(rc == 0 || rc == -ERR_CLUSTER_SNAPSHOT);
	/* Errors are latched. */
	if (rc < 0)
		ASSERT(cluster_sm_import_end(&im) == rc);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!sm_ready) {
		/* Small local limits keep the import scratch (and the run) small. */
		struct cluster_sm_config cfg = {
			.limits = {.max_routing_bytes = 65536, .max_deploy_bytes = 65536}};
		ASSERT(cluster_sm_init(&sm, NULL, &cfg) == 0);
		sm_ready = 1;
	}
	fuzz_command(data, size);
	int whole = import_verdict(data, size, size);
	ASSERT(import_verdict(data, size, size / 2) == whole);
	return 0;
}
