/* cli_traefikeectl_main.c — the remote admin program: `traefikeectl <command>`.
 *
 * Talks to a cluster's control API (mutual TLS, port 55055) with the
 * credentials saved by `connect` under $HOME/.config/traefikee/<clustername>.
 */
#include "cli/cli_app.h"
#include "cli/cli_tables.h"
#include "node/node.h"

/* Hand every flag of the command (value or default, given or not) to a node command. */
static int bridge(int (*fn)(const struct node_args *), const struct cli_prog *prog,
		  const struct cli_cmd *cmd, struct flag_set *fs)
{
	static struct node_arg args[64 + FLAG_LIST_MAX];
	size_t n = 0;
	for (size_t i = 0; i < fs->ndefs && n < 64; i++) {
		const struct flag_def *d = &fs->defs[i];
		const struct flag_val *v = &fs->vals[i];
		if (d->type == FLAG_LIST) {
			for (unsigned j = 0; j < v->nlist && n < CLI_NELEM(args); j++)
				args[n++] = (struct node_arg){d->name, v->list[j], true};
		} else if (d->type == FLAG_BOOL) {
			args[n++] = (struct node_arg){d->name, v->on ? "true" : "false", v->set};
		} else {
			args[n++] = (struct node_arg){d->name, v->str, v->set};
		}
	}
	struct node_args a = {prog->name, cmd->name, args, n, fs->pos, fs->npos};
	return fn(&a);
}

#define CTL_RUN(fn)                                                                                \
	static int run_##fn(const struct cli_prog *p, const struct cli_cmd *c, struct flag_set *f) \
	{                                                                                          \
		return bridge(node_ctl_##fn, p, c, f);                                             \
	}
CTL_RUN(connect)
CTL_RUN(list_nodes)
CTL_RUN(deploy)
CTL_RUN(backup)
CTL_RUN(rm_node)
CTL_RUN(update_node)
CTL_RUN(logs)

/* clang-format off */
#define CLUSTER_FLAG {"clustername", FLAG_STRING, "traefikee", "Cluster whose credentials to use"}

static const struct flag_def connect_flags[] = {
	CLUSTER_FLAG,
	{"onpremise.mtlscertsdir", FLAG_STRING, NULL, "Credentials written by bootstrap"},
	{"onpremise.apiaddress", FLAG_STRING, NULL, "Control API address, host:55055"},
};

static const struct flag_def cluster_flags[] = {
	CLUSTER_FLAG,
};

static const struct flag_def list_flags[] = {
	CLUSTER_FLAG,
	{"details", FLAG_BOOL, "false", "Show ID, membership, status and availability"},
};

static const struct flag_def backup_flags[] = {
	CLUSTER_FLAG,
	{"outputdir", FLAG_STRING, ".", "Where the archive is written"},
	{"force", FLAG_BOOL, "false", "Regenerate the backup even if one is in progress"},
};

static const struct flag_def rm_flags[] = {
	CLUSTER_FLAG,
	{"force", FLAG_BOOL, "false", "Remove a node that is not DOWN"},
};

static const struct flag_def update_node_flags[] = {
	CLUSTER_FLAG,
	{"availability", FLAG_STRING, NULL,
	 "ACTIVE, PAUSE (no new configuration) or DRAIN (/ping answers 503; traffic still served)"},
};

static const struct flag_def logs_flags[] = {
	CLUSTER_FLAG,
	{"follow", FLAG_BOOL, "false", "Keep printing new lines"},
	{"level", FLAG_STRING, NULL, "Only lines at this level or above: debug, info, warn, error"},
};
/* clang-format on */

/* deploy takes the cluster flag plus every Traefik v1 static flag. */
static struct flag_def deploy_flags[64];

#define CMD(n, s, a, lo, hi, f, r)                  \
	{                                           \
		n, s, a, lo, hi, f, CLI_NELEM(f), r \
	}

int main(int argc, char **argv)
{
	size_t nd = 0;
	deploy_flags[nd++] = (struct flag_def)CLUSTER_FLAG;
	for (size_t i = 0; i < cli_deploy_nflags && nd < CLI_NELEM(deploy_flags); i++)
		if (cli_deploy_flags[i].name[0] != 't') /* no local socket remotely */
			deploy_flags[nd++] = cli_deploy_flags[i];
	static struct cli_cmd cmds[] = {
		CMD("connect", "Save the cluster's admin credentials on this machine", NULL, 0, 0,
		    connect_flags, run_connect),
		CMD("list-nodes", "List the cluster's nodes", NULL, 0, 0, list_flags,
		    run_list_nodes),
		{"deploy", "Deploy a static configuration (entry points, provider)", NULL, 0, 0,
		 deploy_flags, 0, run_deploy},
		CMD("backup", "Write a backup archive of the cluster", NULL, 0, 0, backup_flags,
		    run_backup),
		CMD("rm-node", "Remove a node from the cluster", "<ID|NAME>...", 1, FLAG_POS_MAX,
		    rm_flags, run_rm_node),
		CMD("update-node", "Set a data node's availability (ACTIVE, PAUSE, DRAIN)",
		    "<ID|NAME>", 1, 1, update_node_flags, run_update_node),
		CMD("logs", "Print the recent log lines of the control node it talks to", NULL, 0,
		    0, logs_flags, run_logs),
		{"version", "Print the version and the versions of the libraries built in", NULL, 0,
		 0, NULL, 0, cli_run_version},
	};
	cmds[2].nflags = nd;
	(void)cluster_flags;
	static const struct cli_prog prog = {
		"traefikeectl",
		"traefikeectl administers a TraefikEE cluster remotely over mutual TLS.", cmds,
		CLI_NELEM(cmds)};
	return cli_main(&prog, argc, argv);
}
