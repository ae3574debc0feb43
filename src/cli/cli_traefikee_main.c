/* cli_traefikee_main.c — the node program: `traefikee <command>`.
 *
 * Node commands (bootstrap, start-control-node, start-data-node) run the
 * node's daemon in the foreground; the others talk to the local node
 * through its unix socket (--traefikeesocket).
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

#define NODE_RUN(fn)                                                                               \
	static int run_##fn(const struct cli_prog *p, const struct cli_cmd *c, struct flag_set *f) \
	{                                                                                          \
		return bridge(node_cmd_##fn, p, c, f);                                             \
	}
NODE_RUN(bootstrap)
NODE_RUN(start_control)
NODE_RUN(start_data)
NODE_RUN(list_nodes)
NODE_RUN(env)
NODE_RUN(deploy)
NODE_RUN(backup)
NODE_RUN(rm_node)
NODE_RUN(update_node)
NODE_RUN(logs)
NODE_RUN(update_license)

/* clang-format off */
#define NODE_COMMON_FLAGS                                                                         \
	{"advertise", FLAG_STRING, "0.0.0.0:4242", "Address other nodes use to reach this node"}, \
	{"listen", FLAG_STRING, "0.0.0.0:4242", "Address for cluster traffic (joins, Raft, streams)"}, \
	{"traefikeesocket", FLAG_STRING, "/var/run/traefikee.sock", "Local node socket (mode 0600)"}, \
	{"statedir", FLAG_STRING, "/var/lib/traefikee_state", "State directory"},                 \
	{"name", FLAG_STRING, NULL, "Node name (default: the hostname)"},                         \
	{"log.level", FLAG_STRING, "info", "Log level: debug, info, warn, error"}

#define CLEANUP_FLAGS                                                                             \
	{"cleanup.grace", FLAG_INT, "60", "Seconds before DOWN nodes are dropped", 1, 86400},     \
	{"status.downafter", FLAG_INT, "5", "Seconds without news before a node is DOWN", 1, 3600}, \
	{"raft.snapshot", FLAG_INT, "4096", "Raft entries between two snapshots", 16, 1000000}

#define CONTROL_FLAGS                                                                             \
	{"api", FLAG_BOOL, "false", "Serve the dashboard, JSON API and /metrics"},                \
	{"api.listen", FLAG_STRING, ":8080", "Dashboard listen address"},                         \
	{"controlapi.listen", FLAG_STRING, ":55055", "Control API listen address (mutual TLS)"}

static const struct flag_def bootstrap_flags[] = {
	NODE_COMMON_FLAGS,
	CONTROL_FLAGS,
	{"licensekey", FLAG_STRING, NULL, "License key (or --archivepath)"},
	{"archivepath", FLAG_STRING, NULL, "Restore the cluster from this backup archive"},
	{"controlnodes", FLAG_INT, "1", "Number of control nodes to wait for", 1, 9},
	{"timeout", FLAG_INT, "300", "Seconds to wait for the control nodes", 1, 86400},
	{"mtlscertsoutputdir", FLAG_STRING, "./.traefikee", "Where the admin credentials are written"},
	{"clustername", FLAG_STRING, "traefikee", "Cluster name"},
	CLEANUP_FLAGS,
};

static const struct flag_def control_flags[] = {
	NODE_COMMON_FLAGS,
	CONTROL_FLAGS,
	{"peeraddresses", FLAG_STRING, NULL, "Comma-separated host:port of existing control nodes"},
	{"token", FLAG_STRING, NULL, "Control node join token (or $CONTROL_NODE_TOKEN)"},
	CLEANUP_FLAGS,
};

static const struct flag_def data_flags[] = {
	NODE_COMMON_FLAGS,
	{"peeraddresses", FLAG_STRING, NULL, "Comma-separated host:port of control nodes"},
	{"token", FLAG_STRING, NULL, "Data node join token (or $DATA_NODE_TOKEN)"},
	{"accesslog", FLAG_BOOL, "false", "Write an access log (Traefik common format) to stdout"},
	{"accesslog.filepath", FLAG_STRING, NULL, "Write the access log to this file instead"},
	{"metrics.listen", FLAG_STRING, NULL,
	 "Serve GET /metrics (Prometheus) and GET /ping on this address (e.g. :4646)"},
	{"limit", FLAG_LIST, NULL, "Proxy limit NAME=VALUE, repeatable (names: --print-limits)"},
	{"print-limits", FLAG_BOOL, "false", "Print the worst-case memory this node is sized for"},
	{"standalone", FLAG_STRING, NULL,
	 "Serve this routing document (JSON) without a cluster; SIGHUP re-reads it"},
	{"workers", FLAG_STRING, "1",
	 "Worker processes sharing the entry points: N (1..64), or auto (one per online CPU)"},
};

static const struct flag_def env_flags[] = {
	{"traefikeesocket", FLAG_STRING, "/var/run/traefikee.sock", "Local node socket"},
	{"rotate", FLAG_STRING, NULL,
	 "First replace the join token of control, data or all nodes (the old one stops working; "
	 "joined nodes are not affected)"},
};

static const struct flag_def list_flags[] = {
	{"traefikeesocket", FLAG_STRING, "/var/run/traefikee.sock", "Local node socket"},
	{"details", FLAG_BOOL, "false", "Show ID, membership, status and availability"},
};

static const struct flag_def backup_flags[] = {
	{"traefikeesocket", FLAG_STRING, "/var/run/traefikee.sock", "Local node socket"},
	{"outputdir", FLAG_STRING, ".", "Where the archive is written"},
	{"force", FLAG_BOOL, "false", "Regenerate the backup even if one is in progress"},
};

static const struct flag_def rm_flags[] = {
	{"traefikeesocket", FLAG_STRING, "/var/run/traefikee.sock", "Local node socket"},
	{"force", FLAG_BOOL, "false", "Remove a node that is not DOWN"},
};

static const struct flag_def logs_flags[] = {
	{"traefikeesocket", FLAG_STRING, "/var/run/traefikee.sock", "Local node socket"},
	{"follow", FLAG_BOOL, "false", "Keep printing new lines"},
	{"level", FLAG_STRING, NULL, "Only lines at this level or above: debug, info, warn, error"},
};

static const struct flag_def update_node_flags[] = {
	{"traefikeesocket", FLAG_STRING, "/var/run/traefikee.sock", "Local node socket"},
	{"availability", FLAG_STRING, NULL,
	 "ACTIVE, PAUSE (no new configuration) or DRAIN (/ping answers 503; traffic still served)"},
};

static const struct flag_def license_flags[] = {
	{"traefikeesocket", FLAG_STRING, "/var/run/traefikee.sock", "Local node socket"},
	{"licensekey", FLAG_STRING, NULL, "New license key"},
};

#define CMD(n, s, a, lo, hi, f, r) {n, s, a, lo, hi, f, CLI_NELEM(f), r}

static const struct cli_cmd commands[] = {
	CMD("bootstrap", "Create a cluster: its CA, tokens and admin credentials", NULL, 0, 0,
	    bootstrap_flags, run_bootstrap),
	CMD("start-control-node", "Join a control node (Raft voter) to the cluster", NULL, 0, 0,
	    control_flags, run_start_control),
	CMD("start-data-node", "Join a data node that proxies HTTP and HTTPS", NULL, 0, 0,
	    data_flags, run_start_data),
	CMD("list-nodes", "List the cluster's nodes", NULL, 0, 0, list_flags, run_list_nodes),
	CMD("env", "Print the join tokens as environment variables", NULL, 0, 0, env_flags,
	    run_env),
	{"deploy", "Deploy a static configuration (entry points, provider)", NULL, 0, 0,
	 cli_deploy_flags, 0, run_deploy},
	CMD("backup", "Write a backup archive of the cluster", NULL, 0, 0, backup_flags,
	    run_backup),
	CMD("rm-node", "Remove a node from the cluster", "<ID|NAME>...", 1, FLAG_POS_MAX, rm_flags,
	    run_rm_node),
	CMD("logs", "Print this control node's recent log lines", NULL, 0, 0, logs_flags,
	    run_logs),
	CMD("update-node", "Set a data node's availability (ACTIVE, PAUSE, DRAIN)", "<ID|NAME>", 1,
	    1, update_node_flags, run_update_node),
	CMD("update-license", "Change the cluster's license key", NULL, 0, 0, license_flags,
	    run_update_license),
	{"version", "Print the version and the versions of the libraries built in", NULL, 0, 0,
	 NULL, 0, cli_run_version},
};
/* clang-format on */

int main(int argc, char **argv)
{
	/* The deploy table's size is only known at run time (another unit). */
	static struct cli_cmd cmds[CLI_NELEM(commands)];
	for (size_t i = 0; i < CLI_NELEM(commands); i++) {
		cmds[i] = commands[i];
		if (cmds[i].flags == cli_deploy_flags)
			cmds[i].nflags = cli_deploy_nflags;
	}
	static const struct cli_prog prog = {"traefikee",
					     "traefikee runs a node of a TraefikEE cluster and "
					     "administers it from a control node.",
					     cmds, CLI_NELEM(cmds)};
	return cli_main(&prog, argc, argv);
}
