/* cluster_table.h — the text the CLIs print for `list-nodes` and `env`, in the seed document's
 * columns and spacing, so its grep/cut pipelines work unchanged.
 *
 * Layout rules (what the seed's samples show):
 *
 *   traefikee list-nodes              traefikee list-nodes --details
 *   Name           Role               ID                         Name            Membership ...
 *   ----           --------------     --                         ----            ---------- ...
 *   bootstrap      CONTROL NODE (Current Leader)
 *
 *   traefikeectl list-nodes
 *   Name                        Role              Leader
 *   ----                        ----              ------
 *   control-node-1              Control Node      YES
 *
 * - Every column but the last is as wide as its widest cell (header and dashes included) plus
 *   two spaces. Some columns have a minimum content width taken from the seed: the Name column
 *   of `traefikee list-nodes` and `--details` is at least 13 characters (the seed pads
 *   "bootstrap" to 15 columns and "control-node-1" to 16), traefikeectl's Name at least 26 and
 *   its Role at least 16 (the seed's 28- and 18-column cells). One seed sample (`traefikee
 *   list-nodes` with data nodes, 28 columns for 14-character names) cannot come from its
 *   content; that one is not reproduced.
 * - The dash row: as many dashes as the header word, except the brief listing's Role column,
 *   which the seed underlines with 14 dashes.
 * - The last column is not padded and no line ends in spaces; lines end in "\n".
 * - Roles: "CONTROL NODE" / "DATA NODE", the leader's with " (Current Leader)"; traefikeectl
 *   says "Control Node" / "Data Node" and puts "YES" in its Leader column.
 * - Rows are printed in the order given (cluster_sm_nodes gives them by name, then ID).
 *
 * Output is appended to a caller's struct buf, all or nothing: -ERR_BUF_FULL leaves it as it
 * was. Nothing allocates.
 */
#ifndef CLUSTER_CLUSTER_TABLE_H
#define CLUSTER_CLUSTER_TABLE_H

#include <stddef.h>

#include "base/base_buf.h"
#include "cluster/cluster_sm.h"

enum cluster_table_style {
	CLUSTER_TABLE_BRIEF,   /* traefikee list-nodes: Name, Role */
	CLUSTER_TABLE_DETAILS, /* traefikee list-nodes --details: ID, Name, Membership, Status,
				  Availability, Role */
	CLUSTER_TABLE_CTL,     /* traefikeectl list-nodes: Name, Role, Leader */
};

/* The node table. leader_id: the Raft leader's node ID, or NULL/"" when there is none.
 * 0, -ERR_BUF_FULL, -ERR_INVAL (unknown style). */
int cluster_table_nodes(struct buf *out, enum cluster_table_style style,
			const struct cluster_node *nodes, size_t n, const char *leader_id);

/* `traefikee env`:
 *
 *   CONTROL_NODE_TOKEN="TEE1-C-…"
 *   DATA_NODE_TOKEN="TEE1-D-…"
 *
 * so that `traefikee env | grep 'CONTROL_NODE_TOKEN' | cut -d '"' -f2` prints the token, and
 * the output can be sourced by a shell. A NULL or empty token is left out; both missing is
 * -ERR_NOTFOUND (the cluster keeps only verifiers). A token with a quote, a backslash, a
 * dollar sign, a backquote or a control character is -ERR_INVAL. -ERR_BUF_FULL. */
int cluster_table_env(struct buf *out, const char *control_token, const char *data_token);

#endif
