/* Unit tests for cluster_table: the seed document's list-nodes, list-nodes --details and
 * traefikeectl list-nodes samples reproduced byte for byte, widths growing with content, the
 * all-or-nothing buffer rule at every size, and `env` output through the seed's real
 * grep | cut pipeline.
 */
#include "base/base_err.h"
#include "cluster/cluster_table.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct cluster_node node(const char *id, const char *name, int role, int status)
{
	struct cluster_node n;
	memset(&n, 0, sizeof n);
	snprintf(n.id, sizeof n.id, "%s", id);
	snprintf(n.name, sizeof n.name, "%s", name);
	snprintf(n.addr, sizeof n.addr, "10.0.0.1:4242");
	n.role = (uint8_t)role;
	n.membership = CLUSTER_MEMBER_ACCEPTED;
	n.status = (uint8_t)status;
	n.availability = CLUSTER_AVAIL_ACTIVE;
	return n;
}

static char out[16384];

static const char *render(enum cluster_table_style style, const struct cluster_node *n, size_t cnt,
			  const char *leader)
{
	struct buf b;
	buf_init(&b, out, sizeof out - 1);
	if (cluster_table_nodes(&b, style, n, cnt, leader) < 0)
		return "(error)";
	out[b.len] = '\0';
	return out;
}

#define C CLUSTER_ROLE_CONTROL
#define D CLUSTER_ROLE_DATA
#define READY CLUSTER_STATUS_READY
#define DOWN CLUSTER_STATUS_DOWN

static const char ID_B[] = "v9m7zaq16ipo0ihhstovjo96r";
static const char ID_1[] = "o92ldyepge8379vbo0ktaixi4";
static const char ID_2[] = "wnlqy33k9knic4eb44o4an0ve";
static const char ID_3[] = "ge4ssbnjmsjw3h5bftrkkv5xv";

/* The seed, "Check if the bootstrap node started". */
static void brief_bootstrap_sample(void)
{
	struct cluster_node n = node(ID_B, "bootstrap", C, READY);
	CHECK_EQ_STR(render(CLUSTER_TABLE_BRIEF, &n, 1, ID_B),
		     "Name           Role\n"
		     "----           --------------\n"
		     "bootstrap      CONTROL NODE (Current "
		     "Leader)\n");
}

/* The seed, "Check that there are 3 control nodes left". */
static void brief_three_control_sample(void)
{
	struct cluster_node n[3] = {node(ID_1, "control-node-1", C, READY),
				    node(ID_3, "control-node-3", C, READY),
				    node(ID_2, "control-node-2", C, READY)};
	CHECK_EQ_STR(render(CLUSTER_TABLE_BRIEF, n, 3, ID_1),
		     "Name            Role\n"
		     "----            --------------\n"
		     "control-node-1  CONTROL NODE (Current Leader)\n"
		     "control-node-3  CONTROL NODE\n"
		     "control-node-2  CONTROL NODE\n");
}

/* The seed's sample with data nodes has a 28-column Name cell its content cannot explain;
 * ours is computed (see cluster_table.h). */
static void brief_with_data_nodes(void)
{
	struct cluster_node n[5] = {node(ID_3, "control-node-3", C, READY),
				    node(ID_1, "control-node-1", C, READY),
				    node(ID_2, "control-node-2", C, READY),
				    node("aaaaaaaaaaaaaaaaaaaaaaaaa", "data-node-1", D, READY),
				    node("bbbbbbbbbbbbbbbbbbbbbbbbb", "data-node-2", D, READY)};
	CHECK_EQ_STR(render(CLUSTER_TABLE_BRIEF, n, 5, ID_1),
		     "Name            Role\n"
		     "----            --------------\n"
		     "control-node-3  CONTROL NODE\n"
		     "control-node-1  CONTROL NODE (Current Leader)\n"
		     "control-node-2  CONTROL NODE\n"
		     "data-node-1     DATA NODE\n"
		     "data-node-2     DATA NODE\n");
}

/* The seed, "traefikee list-nodes --details". */
static void details_sample(void)
{
	struct cluster_node n[4] = {
		node(ID_3, "control-node-3", C, READY), node(ID_1, "control-node-1", C, READY),
		node(ID_B, "bootstrap-node", C, DOWN), node(ID_2, "control-node-2", C, READY)};
	CHECK_EQ_STR(render(CLUSTER_TABLE_DETAILS, n, 4, ID_2),
		     "ID                         Name            Membership  Status  Availability  "
		     "Role\n"
		     "--                         ----            ----------  ------  ------------  "
		     "----\n"
		     "ge4ssbnjmsjw3h5bftrkkv5xv  control-node-3  ACCEPTED    READY   ACTIVE        "
		     "CONTROL NODE\n"
		     "o92ldyepge8379vbo0ktaixi4  control-node-1  ACCEPTED    READY   ACTIVE        "
		     "CONTROL NODE\n"
		     "v9m7zaq16ipo0ihhstovjo96r  bootstrap-node  ACCEPTED    DOWN    ACTIVE        "
		     "CONTROL NODE\n"
		     "wnlqy33k9knic4eb44o4an0ve  control-node-2  ACCEPTED    READY   ACTIVE        "
		     "CONTROL NODE (Current Leader)\n");
}

/* The seed, "traefikeectl list-nodes". */
static void ctl_sample(void)
{
	struct cluster_node n[5] = {node(ID_3, "control-node-3", C, READY),
				    node(ID_1, "control-node-1", C, READY),
				    node(ID_2, "control-node-2", C, READY),
				    node("aaaaaaaaaaaaaaaaaaaaaaaaa", "data-node-1", D, READY),
				    node("bbbbbbbbbbbbbbbbbbbbbbbbb", "data-node-2", D, READY)};
	CHECK_EQ_STR(render(CLUSTER_TABLE_CTL, n, 5, ID_1),
		     "Name                        Role              Leader\n"
		     "----                        ----              ------\n"
		     "control-node-3              Control Node\n"
		     "control-node-1              Control Node      YES\n"
		     "control-node-2              Control Node\n"
		     "data-node-1                 Data Node\n"
		     "data-node-2                 Data Node\n");
}

static void details_other_states(void)
{
	struct cluster_node n[2] = {node(ID_1, "n1", D, DOWN), node(ID_2, "n2", D, READY)};
	n[0].membership = CLUSTER_MEMBER_PENDING;
	n[1].availability = CLUSTER_AVAIL_DRAIN;
	CHECK_EQ_STR(render(CLUSTER_TABLE_DETAILS, n, 2, NULL),
		     "ID                         Name           Membership  Status  Availability  "
		     "Role\n"
		     "--                         ----           ----------  ------  ------------  "
		     "----\n"
		     "o92ldyepge8379vbo0ktaixi4  n1             PENDING     DOWN    ACTIVE        "
		     "DATA NODE\n"
		     "wnlqy33k9knic4eb44o4an0ve  n2             ACCEPTED    READY   DRAIN         "
		     "DATA NODE\n");
}

static void long_names_widen(void)
{
	char name[CLUSTER_NODE_NAME_MAX + 1], want[512];
	memset(name, 'x', CLUSTER_NODE_NAME_MAX);
	name[CLUSTER_NODE_NAME_MAX] = '\0';
	struct cluster_node n[2] = {node(ID_1, name, C, READY), node(ID_2, "a", D, READY)};
	snprintf(want, sizeof want,
		 "Name%*sRole\n----%*s--------------\n%s  CONTROL NODE\na%*sDATA NODE\n",
		 CLUSTER_NODE_NAME_MAX + 2 - 4, "", CLUSTER_NODE_NAME_MAX + 2 - 4, "", name,
		 CLUSTER_NODE_NAME_MAX + 2 - 1, "");
	CHECK_EQ_STR(render(CLUSTER_TABLE_BRIEF, n, 2, "nobody"), want);
	/* traefikeectl: past its 26-character minimum too. */
	const char *s = render(CLUSTER_TABLE_CTL, n, 2, ID_2);
	CHECK(strstr(s, "Data Node         YES\n") != NULL);
	CHECK_EQ_INT(strchr(s, 'R') - s, CLUSTER_NODE_NAME_MAX + 2);
}

static void empty_and_no_leader(void)
{
	CHECK_EQ_STR(render(CLUSTER_TABLE_BRIEF, NULL, 0, NULL), "Name           Role\n"
								 "----           --------------\n");
	struct cluster_node n = node(ID_1, "solo", C, READY);
	CHECK_EQ_STR(render(CLUSTER_TABLE_BRIEF, &n, 1, ""), "Name           Role\n"
							     "----           --------------\n"
							     "solo           CONTROL NODE\n");
	CHECK_EQ_STR(render(CLUSTER_TABLE_CTL, &n, 1, NULL),
		     "Name                        Role              Leader\n"
		     "----                        ----              ------\n"
		     "solo                        Control Node\n");
	struct buf b;
	buf_init(&b, out, sizeof out);
	CHECK_EQ_INT(cluster_table_nodes(&b, (enum cluster_table_style)7, &n, 1, NULL), -ERR_INVAL);
}

/* Every buffer size short of the output fails cleanly; the exact size works. */
static void buf_full_at_every_size(void)
{
	struct cluster_node n[3] = {node(ID_1, "control-node-1", C, READY),
				    node(ID_2, "control-node-2", C, READY),
				    node(ID_3, "data-node-1", D, DOWN)};
	char full[4096], small[4096];
	struct buf b;
	for (int style = 0; style <= CLUSTER_TABLE_CTL; style++) {
		buf_init(&b, full, sizeof full);
		REQUIRE(cluster_table_nodes(&b, (enum cluster_table_style)style, n, 3, ID_1) == 0);
		size_t len = b.len;
		for (size_t cap = 0; cap < len; cap++) {
			/* Some bytes already in the buffer must stay as they are. */
			memcpy(small, "keep", 4);
			buf_init(&b, small, cap + 4);
			b.len = 4;
			if (cluster_table_nodes(&b, (enum cluster_table_style)style, n, 3, ID_1) !=
				    -ERR_BUF_FULL ||
			    b.len != 4 || memcmp(small, "keep", 4) != 0) {
				TEST_FAIL_("style %d cap %zu", style, cap);
				break;
			}
		}
		buf_init(&b, small, len);
		CHECK_EQ_INT(cluster_table_nodes(&b, (enum cluster_table_style)style, n, 3, ID_1),
			     0);
		CHECK(b.len == len && memcmp(small, full, len) == 0);
	}
}

/* --- env ---------------------------------------------------------------------------------- */

static const char TOK_C[] =
	"TEE1-C-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-"
	"abcdefghijklmnopqrstuvwxyz234567";
static const char TOK_D[] =
	"TEE1-D-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-"
	"7654322zyxwvutsrqponmlkjihgfedcba";

static void env_output(void)
{
	struct buf b;
	char want[512];
	buf_init(&b, out, sizeof out - 1);
	REQUIRE(cluster_table_env(&b, TOK_C, TOK_D) == 0);
	out[b.len] = '\0';
	snprintf(want, sizeof want, "CONTROL_NODE_TOKEN=\"%s\"\nDATA_NODE_TOKEN=\"%s\"\n", TOK_C,
		 TOK_D);
	CHECK_EQ_STR(out, want);
	buf_init(&b, out, sizeof out - 1);
	REQUIRE(cluster_table_env(&b, NULL, TOK_D) == 0);
	out[b.len] = '\0';
	CHECK(strncmp(out, "DATA_NODE_TOKEN=\"", 17) == 0);
	buf_init(&b, out, sizeof out);
	CHECK_EQ_INT(cluster_table_env(&b, "", NULL), -ERR_NOTFOUND);
	CHECK_EQ_INT(cluster_table_env(&b, "a\"b", NULL), -ERR_INVAL);
	CHECK_EQ_INT(cluster_table_env(&b, "a$(x)", NULL), -ERR_INVAL);
	CHECK_EQ_INT(cluster_table_env(&b, TOK_C, "a\nDATA_NODE_TOKEN=\"x"), -ERR_INVAL);
	CHECK_EQ_INT(b.len, 0);
	/* All or nothing: one byte short keeps the buffer as it was. */
	size_t len = strlen(want);
	buf_init(&b, out, len - 1);
	CHECK_EQ_INT(cluster_table_env(&b, TOK_C, TOK_D), -ERR_BUF_FULL);
	CHECK_EQ_INT(b.len, 0);
	buf_init(&b, out, len);
	CHECK_EQ_INT(cluster_table_env(&b, TOK_C, TOK_D), 0);
}

/* The seed's commands, through a real shell:
 *   traefikee env | grep 'CONTROL_NODE_TOKEN' | cut -d '"' -f2 */
static void env_grep_cut_pipeline(void)
{
	char path[256], cmd[600], got[256];
	const char *t = getenv("TMPDIR");
	struct buf b;
	buf_init(&b, out, sizeof out);
	REQUIRE(cluster_table_env(&b, TOK_C, TOK_D) == 0);
	snprintf(path, sizeof path, "%s/tee-env.XXXXXX", t && t[0] ? t : "/tmp");
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, out, b.len) == (ssize_t)b.len);
	close(fd);
	static const char *const vars[2] = {"CONTROL_NODE_TOKEN", "DATA_NODE_TOKEN"};
	static const char *const toks[2] = {TOK_C, TOK_D};
	for (int i = 0; i < 2; i++) {
		snprintf(cmd, sizeof cmd, "cat '%s' | grep '%s' | cut -d '\"' -f2", path, vars[i]);
		FILE *p = popen(cmd, "r");
		REQUIRE(p != NULL);
		size_t n = fread(got, 1, sizeof got - 1, p);
		pclose(p);
		got[n] = '\0';
		char want[256];
		snprintf(want, sizeof want, "%s\n", toks[i]);
		CHECK_EQ_STR(got, want);
	}
	unlink(path);
}

TEST_MAIN(brief_bootstrap_sample, brief_three_control_sample, brief_with_data_nodes, details_sample,
	  ctl_sample, details_other_states, long_names_widen, empty_and_no_leader,
	  buf_full_at_every_size, env_output, env_grep_cut_pipeline)
