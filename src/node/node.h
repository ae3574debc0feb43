/* node.h — node lifecycle: what the CLIs call, and what the node files share.
 *
 * Contract
 *
 * - The CLIs (src/cli) parse flags with their tables and hand every flag of the command, with
 *   its value (or default) and whether it was given, to one of the node_cmd_* / node_ctl_*
 *   functions below as a struct node_args. Those return an exit status: 0 success, 1 the
 *   command failed (with a sentence on stderr), 2 the command line is unusable (a value the
 *   flag parser cannot judge: an address, a token, a missing --licensekey...).
 * - Daemons (bootstrap, start-control-node, start-data-node) run in the foreground until
 *   SIGTERM/SIGINT (status 0), a fatal error (1), or — bootstrap with --controlnodes > 1 —
 *   until the control nodes have taken over (0) or --timeout passed without them (1).
 * - Local commands talk to the node over --traefikeesocket (the unix socket, local admin);
 *   traefikeectl commands over mutual TLS with the credentials saved by `connect`.
 * - docs/internals/node.md has the design: daemons, join protocol, transport, heartbeats,
 *   the bootstrap hand-over, data nodes, and the files in a state directory.
 */
#ifndef NODE_NODE_H
#define NODE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_id.h"
#include "base/base_log.h"
#include "base/base_slice.h"
#include "cluster/cluster_cmd.h"
#include "node/node_link.h"
#include "pki/pki_cert.h"

/* One flag of the command line: canonical name, value as text (lists: one entry per value,
 * same name), and whether the user gave it (else it is the default, or NULL). */
struct node_arg {
	const char *name;
	const char *value;
	bool set;
};

struct node_args {
	const char *prog; /* "traefikee", "traefikeectl" */
	const char *cmd;  /* "bootstrap", ... */
	const struct node_arg *v;
	size_t n;
	const char *const *pos; /* positional arguments */
	size_t npos;
};

/* A node table row's common JSON members (id, name, role, membership, status, availability,
 * address, leader) into an open object: GET /nodes and the dashboard's /api/nodes. */
struct json_writer;
struct cluster_node;
void node_json_members(struct json_writer *w, const struct cluster_node *n, bool leader);

/* Lookups by canonical name, ASCII case-insensitive. */
const char *node_arg_str(const struct node_args *a, const char *name);
bool node_arg_given(const struct node_args *a, const char *name);
bool node_arg_bool(const struct node_args *a, const char *name);
long long node_arg_int(const struct node_args *a, const char *name, long long def);

/* node_configfile.c: `deploy --configfile=<toml>`. Without --configfile, *out = *in. Else the
 * file's settings as deploy flags followed by in's (a flag given on the command line wins; an
 * --entryPoints replaces the file's entry point of that name; a provider on the command line
 * replaces the file's). 0, or -ERR_INVAL with a sentence in err naming the file and the key.
 * out points into static storage until the next call. Warnings go to stderr (none when
 * in->prog is NULL). */
int node_configfile_merge(const struct node_args *in, struct node_args *out, char *err, size_t cap);
/* The same with the file's text already read (len <= 1 MiB; path is named in messages and
 * becomes file.filename when the file holds its own routes). For tests and the fuzzer. */
int node_configfile_merge_text(const struct node_args *in, const char *path, const char *text,
			       size_t len, struct node_args *out, char *err, size_t cap);

/* traefikee */
int node_cmd_bootstrap(const struct node_args *a);
int node_cmd_start_control(const struct node_args *a);
int node_cmd_start_data(const struct node_args *a);
int node_cmd_list_nodes(const struct node_args *a);
int node_cmd_env(const struct node_args *a);
int node_cmd_deploy(const struct node_args *a);
int node_cmd_backup(const struct node_args *a);
int node_cmd_rm_node(const struct node_args *a);
int node_cmd_logs(const struct node_args *a);
int node_cmd_update_node(const struct node_args *a);
int node_cmd_update_license(const struct node_args *a);
/* traefikeectl */
int node_ctl_connect(const struct node_args *a);
int node_ctl_list_nodes(const struct node_args *a);
int node_ctl_deploy(const struct node_args *a);
int node_ctl_backup(const struct node_args *a);
int node_ctl_rm_node(const struct node_args *a);
int node_ctl_logs(const struct node_args *a);
int node_ctl_update_node(const struct node_args *a);

/* --- Shared between src/node files ---------------------------------------------------- */

#define NODE_PEERS_MAX 16
#define NODE_PATH_MAX 1024
#define NODE_PEM_MAX 8192
/* Longest line of a routing stream (the "P" line lists every control node). */
#define NODE_STREAM_LINE_MAX (NODE_PEERS_MAX * NODE_ADDR_MAX + 64)

enum node_mode {
	NODE_MODE_BOOTSTRAP = 1, /* create the cluster */
	NODE_MODE_JOIN,          /* join with a token */
	NODE_MODE_RESUME,        /* restart from the state directory */
};

/* A daemon's settings, from the flags. Strings point into argv (or defaults). */
struct node_opts {
	enum node_mode mode;
	int role; /* CLUSTER_ROLE_CONTROL / _DATA */
	const char *statedir;
	const char *socket;
	const char *listen;
	const char *advertise;
	const char *controlapi;
	bool api;
	const char *api_listen;
	char name[CLUSTER_NODE_NAME_MAX + 1];
	char peers[NODE_PEERS_MAX][NODE_ADDR_MAX];
	size_t npeers;
	const char *token;
	/* bootstrap */
	const char *license;
	const char *archive;
	int controlnodes;
	int timeout_s;
	const char *certs_out;
	const char *clustername;
	/* every control node */
	int grace_s;      /* DOWN nodes are removed after this */
	int down_after_s; /* a node not heard from for this long is DOWN */
	int snap_every;   /* Raft entries between snapshots */
	/* data node */
	bool accesslog;
	const char *accesslog_path; /* NULL: stdout (when accesslog) */
	const char *metrics_listen; /* --metrics.listen: /metrics and /ping; NULL: off */
	bool print_limits;
	const char *limits[32]; /* "name=value" for proxy_dp_limits_set */
	size_t nlimits;
};

/* What a node keeps in its state directory besides the store (node.json + PEM files). */
struct node_ident {
	char cluster_id[ID_LEN + 1];
	char cluster_name[CLUSTER_NAME_MAX + 1];
	char node_id[ID_LEN + 1];
	char name[CLUSTER_NODE_NAME_MAX + 1];
	int role; /* CLUSTER_ROLE_* */
	char peers[NODE_PEERS_MAX][NODE_ADDR_MAX];
	size_t npeers;
};

struct node_creds {
	char cert[NODE_PEM_MAX]; /* node certificate, PEM */
	size_t cert_len;
	char key[NODE_PEM_MAX]; /* its key, PEM (SEC1) */
	size_t key_len;
	char ca[NODE_PEM_MAX]; /* cluster CA, PEM */
	size_t ca_len;
};

/* node_util.c */
uint64_t node_raft_id(const char *node_id);
int node_path(char *out, size_t cap, const char *dir, const char *file);
/* -ERR_NOTFOUND when the directory holds no node (no node.json). */
int node_ident_load(const char *dir, struct node_ident *id, char *err, size_t cap);
int node_ident_save(const char *dir, const struct node_ident *id);
int node_creds_load(const char *dir, struct node_creds *c);
int node_creds_save(const char *dir, const struct node_creds *c);
/* Replace the node's certificate and key (a renewal) so that a crash never leaves a key
 * that does not match the certificate: both are written to renew.pem first (one atomic
 * write), then to node.key and node.crt, then renew.pem is removed; node_creds_load
 * finishes a replacement that a crash interrupted. 0 or an error. */
int node_creds_replace(const char *dir, const struct node_creds *c);
/* Parse "a:1,b:2" into o->peers (deduplicated). 0 or -ERR_USAGE with err set. */
int node_peers_parse(struct node_opts *o, const char *list, char *err, size_t cap);
/* The node name: --name, else the host name (cut at the first dot), checked. */
int node_name_resolve(char *out, size_t cap, const char *flag, char *err, size_t errcap);
void node_hex(const uint8_t *p, size_t n, char *out);
int node_unhex(const char *s, size_t slen, uint8_t *out, size_t n);
/* Serial number bytes of a DER certificate (the INTEGER's content). 0 or -ERR_PKI_CERT. */
int node_cert_serial(const uint8_t *der, size_t len, struct slice *serial);
/* First CERTIFICATE of a PEM text, as DER into out (cap). Returns the length or an error. */
int node_pem_cert_der(const char *pem, size_t len, uint8_t *out, size_t cap);
/* Install SIGTERM/SIGINT-safe defaults for a daemon: SIGPIPE ignored. */
void node_daemon_signals(void);
/* Take an exclusive lock on dir/lock (created). The fd, or -ERR_STORE_LOCKED / error. */
int node_dir_lock(const char *dir, char *err, size_t cap);
/* Create dir (mode 0700) and its parents when missing. */
int node_mkdir_p(const char *dir);

/* node_join.c: the joiner's side of the join protocol (blocking; before the loop starts).
 * Tries every peer address until one answers, for up to wait_ms. */
struct node_join_result {
	char node_id[ID_LEN + 1];
	char cluster_id[ID_LEN + 1];
	char cluster_name[CLUSTER_NAME_MAX + 1];
	struct node_creds creds;
	char peers[NODE_PEERS_MAX][NODE_ADDR_MAX];
	char peer_ids[NODE_PEERS_MAX][ID_LEN + 1];
	size_t npeers;
	int64_t bootstrap_wait_ms; /* < 0: no bootstrap in progress */
};
int node_join(const struct node_opts *o, const char *token_text, int role,
	      struct node_join_result *out, char *err, size_t cap);

/* node_control.c / node_data.c: run a daemon (returns the exit status). */
int node_control_run(struct node_opts *o);
int node_data_run(struct node_opts *o);

#endif
