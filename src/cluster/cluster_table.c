/* cluster_table.c — see cluster_table.h. */
#include "cluster/cluster_table.h"

#include <string.h>

#include "base/base_err.h"

#define TABLE_COLS 6
#define TABLE_PAD 2
#define LEADER_SUFFIX " (Current Leader)"

struct layout {
	size_t ncols;
	const char *head[TABLE_COLS];
	const char *dash[TABLE_COLS];
	size_t min[TABLE_COLS]; /* minimum content width */
};

/* clang-format off */
static const struct layout layouts[] = {
	[CLUSTER_TABLE_BRIEF] = {2,
		{"Name", "Role"},
		{"----", "--------------"},
		{13, 0}},
	[CLUSTER_TABLE_DETAILS] = {6,
		{"ID", "Name", "Membership", "Status", "Availability", "Role"},
		{"--", "----", "----------", "------", "------------", "----"},
		{0, 13, 0, 0, 0, 0}},
	[CLUSTER_TABLE_CTL] = {3,
		{"Name", "Role", "Leader"},
		{"----", "----", "------"},
		{26, 16, 0}},
};
/* clang-format on */

/* The cells of one node's row. Role text with the leader suffix goes into role_buf. */
static void row_cells(enum cluster_table_style style, const struct cluster_node *nd, int leader,
		      const char *cells[TABLE_COLS], char *role_buf, size_t role_cap)
{
	const char *role = cluster_role_str(nd->role);
	size_t rl = strlen(role);
	memcpy(role_buf, role, rl + 1);
	if (leader && rl + sizeof LEADER_SUFFIX <= role_cap)
		memcpy(role_buf + rl, LEADER_SUFFIX, sizeof LEADER_SUFFIX);
	switch (style) {
	case CLUSTER_TABLE_BRIEF:
		cells[0] = nd->name;
		cells[1] = role_buf;
		break;
	case CLUSTER_TABLE_DETAILS:
		cells[0] = nd->id;
		cells[1] = nd->name;
		cells[2] = cluster_membership_str(nd->membership);
		cells[3] = cluster_status_str(nd->status);
		cells[4] = cluster_avail_str(nd->availability);
		cells[5] = role_buf;
		break;
	default:
		cells[0] = nd->name;
		cells[1] = nd->role == CLUSTER_ROLE_CONTROL ? "Control Node"
			   : nd->role == CLUSTER_ROLE_DATA  ? "Data Node"
							    : "?";
		cells[2] = leader ? "YES" : "";
		break;
	}
}

/* One line: cells padded to their widths up to the last non-empty one, which is written as
 * is, so no line ends in spaces (and nothing is written that is taken back). */
static int put_line(struct buf *out, const struct layout *lo, const size_t *width,
		    const char *const *cells)
{
	size_t last = 0;
	for (size_t c = 0; c < lo->ncols; c++)
		if (cells[c][0])
			last = c;
	for (size_t c = 0; c <= last; c++) {
		size_t len = strlen(cells[c]);
		if (buf_append(out, cells[c], len) < 0)
			return -ERR_BUF_FULL;
		for (size_t i = len; c < last && i < width[c]; i++)
			if (buf_append_byte(out, ' ') < 0)
				return -ERR_BUF_FULL;
	}
	return buf_append_byte(out, '\n') < 0 ? -ERR_BUF_FULL : 0;
}

static int is_leader(const struct cluster_node *nd, const char *leader_id)
{
	return leader_id && leader_id[0] && strcmp(nd->id, leader_id) == 0;
}

int cluster_table_nodes(struct buf *out, enum cluster_table_style style,
			const struct cluster_node *nodes, size_t n, const char *leader_id)
{
	if ((unsigned)style > CLUSTER_TABLE_CTL)
		return -ERR_INVAL;
	const struct layout *lo = &layouts[style];
	size_t width[TABLE_COLS];
	const char *cells[TABLE_COLS];
	char role[48];

	for (size_t c = 0; c < lo->ncols; c++) {
		size_t w = lo->min[c];
		if (strlen(lo->head[c]) > w)
			w = strlen(lo->head[c]);
		if (strlen(lo->dash[c]) > w)
			w = strlen(lo->dash[c]);
		width[c] = w;
	}
	for (size_t i = 0; i < n; i++) {
		row_cells(style, &nodes[i], is_leader(&nodes[i], leader_id), cells, role,
			  sizeof role);
		for (size_t c = 0; c < lo->ncols; c++)
			if (strlen(cells[c]) > width[c])
				width[c] = strlen(cells[c]);
	}
	for (size_t c = 0; c < lo->ncols; c++)
		width[c] += TABLE_PAD;

	size_t start = out->len;
	int rc = put_line(out, lo, width, lo->head);
	if (rc == 0)
		rc = put_line(out, lo, width, lo->dash);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		row_cells(style, &nodes[i], is_leader(&nodes[i], leader_id), cells, role,
			  sizeof role);
		rc = put_line(out, lo, width, cells);
	}
	if (rc < 0)
		out->len = start;
	return rc;
}

static int env_safe(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c == '$' || c == '`')
			return 0;
	}
	return 1;
}

static int env_line(struct buf *out, const char *name, const char *value)
{
	if (buf_append_cstr(out, name) < 0 || buf_append(out, "=\"", 2) < 0 ||
	    buf_append_cstr(out, value) < 0 || buf_append(out, "\"\n", 2) < 0)
		return -ERR_BUF_FULL;
	return 0;
}

int cluster_table_env(struct buf *out, const char *control_token, const char *data_token)
{
	int have_c = control_token && control_token[0], have_d = data_token && data_token[0];
	if (!have_c && !have_d)
		return -ERR_NOTFOUND;
	if ((have_c && !env_safe(control_token)) || (have_d && !env_safe(data_token)))
		return -ERR_INVAL;
	size_t start = out->len;
	int rc = 0;
	if (have_c)
		rc = env_line(out, "CONTROL_NODE_TOKEN", control_token);
	if (rc == 0 && have_d)
		rc = env_line(out, "DATA_NODE_TOKEN", data_token);
	if (rc < 0) {
		out->len = start;
		return -ERR_BUF_FULL;
	}
	return 0;
}
