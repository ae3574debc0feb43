/* node_control.h — the control node daemon's state, shared by its files (not an API).
 *
 *   node_control.c     life cycle, the Raft ready loop (persist, send, apply), proposals
 *   node_transport.c   Raft messages to and from the other control nodes
 *   node_ctl_api.c     the API routes: admin commands, joins, routing streams, forwarding
 *   node_ctl_leader.c  what only the leader does: node status, clean-up, membership,
 *                      the bootstrap hand-over, the provider and routing documents
 *   node_bootstrap.c   the material of a new cluster (CA, tokens, credentials)
 *
 * Everything runs on one event loop in one thread. The ready loop runs in the loop's
 * before-sleep hook, so every input of an iteration (ticks, messages, proposals) is
 * persisted with ONE store_write before any message leaves (raft.md, the persistence rule).
 * Code that runs inside the ready loop (apply hooks) never proposes: it sets flags that
 * ctl_after_ready() acts on once the ready is acknowledged.
 */
#ifndef NODE_NODE_CONTROL_H
#define NODE_NODE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api_server.h"
#include "base/base_rand.h"
#include "cluster/cluster_cmd.h"
#include "cluster/cluster_sm.h"
#include "loop/loop.h"
#include "node/node.h"
#include "node/node_joinlimit.h"
#include "node/node_link.h"
#include "node/node_renew.h"
#include "provider/provider.h"
#include "raft/raft.h"
#include "store/store.h"
#include "tls/tls.h"

/* Sizes. The routing document is the largest command; every size below follows from it. */
#define CTL_MAX_ROUTING (1u << 20)               /* replicated max_routing_bytes */
#define CTL_MAX_ENTRY (CTL_MAX_ROUTING + 16384u) /* raft max_entry_bytes */
#define CTL_MAX_MSG (CTL_MAX_ENTRY + 16384u)     /* raft max_msg_bytes (one entry fits) */
#define CTL_BATCH_MAX (CTL_MAX_MSG + 65536u)     /* frames per POST /raft */
#define CTL_API_MAX_BODY (CTL_BATCH_MAX + 4096u) /* api max_body */
#define CTL_MAX_NODES 256u                       /* replicated max_nodes */
#define CTL_PENDING_MAX 64                       /* proposals waiting for a commit */
#define CTL_STREAMS_MAX 64                       /* routing streams served */
#define CTL_FWD_JOBS 8                           /* requests queued for the leader */
#define CTL_FWD_BODY (320u << 10)                /* largest forwarded body */
#define CTL_TICK_MS 50                           /* one raft tick */
#define CTL_STATUS_MS 1000                       /* leader's status pass */

struct ctl;

/* A proposal whose client waits for the commit. */
enum ctl_pending_kind {
	CTL_P_NONE = 0,
	CTL_P_PLAIN, /* answer {"index":N,"message":...} */
	CTL_P_JOIN,  /* answer the joiner with its certificate */
	CTL_P_RENEW, /* answer a renewing node with its new certificate (as a join) */
	CTL_P_INTERNAL,
};

struct ctl_pending {
	enum ctl_pending_kind kind;
	uint64_t index, term;
	struct api_handle h;
	int cmd_type;
	char node_id[ID_LEN + 1];
	int role;
	uint8_t *cert; /* JOIN, RENEW: node certificate DER (PKI_CERT_MAX) */
	size_t cert_len;
};

/* A control node we send Raft messages to. */
struct ctl_peer {
	bool used;
	uint64_t raft_id;
	char node_id[ID_LEN + 1];
	char addr[NODE_ADDR_MAX];
	struct node_link link;
	bool link_ready;
	uint8_t *q; /* queued frames: u32 length (big-endian) + raft_msg_encode bytes */
	size_t qlen;
	uint64_t retry_at;
	unsigned fails;
	uint64_t dropped, sent;
	uint64_t last_err_log;
	/* The highest command type the peer's build reads (its X-Tee-Commands header on
	 * POST /raft); 0 until it sent one, or an older build that does not say. */
	uint8_t cmd_max;
	struct ctl *ctl;
};

/* A node streaming routing documents from us. What goes out, in order: a "P" line when the
 * control node list changed, the framed document when a newer revision exists, else an
 * "H" heartbeat line once a second. Each item is pushed until the window takes it whole. */
#define CTL_LINE_MAX NODE_STREAM_LINE_MAX
struct ctl_stream {
	bool used;
	struct api_handle h;
	char node_id[PKI_ATTR_MAX + 1];
	bool data_node;
	uint64_t sent_rev; /* last revision completely pushed (or the client's ?after=) */
	uint64_t peers_gen;
	bool blocked; /* waiting for API_EV_DRAINED */
	bool line_on; /* line[line_off..line_len) still to push */
	char line[CTL_LINE_MAX];
	size_t line_len, line_off;
	bool doc_on; /* c->doc[doc_off..doc_len) still to push */
	size_t doc_off;
	uint64_t doc_rev;
	bool caps_avail;    /* the data node asked for availability lines (?avail=1) */
	uint8_t avail;      /* its availability in the node table (enum cluster_avail) */
	uint8_t avail_sent; /* the last one sent on this stream, 0: none yet */
	struct ctl *ctl;
};

/* A request passed on to the leader (follower side). */
struct ctl_fwd_job {
	bool used;
	bool internal; /* our own report (seen nodes): no client waits */
	struct api_handle h;
	char method[8];
	char path[256];
	uint8_t *body;
	size_t len;
};

/* Leader-side memory of when a node was last heard from (not replicated). */
struct ctl_seen {
	char id[ID_LEN + 1];
	uint64_t at_ms;       /* loop time */
	uint64_t proposed_ms; /* a status change proposed at (0: none) */
	uint8_t proposed_status;
};

struct ctl {
	struct node_opts *o;
	struct loop loop;
	struct rand rng;
	struct store store;
	struct raft raft;
	struct cluster_sm sm;
	struct api_server api;
	bool store_open, raft_init, sm_init, api_init;
	struct node_ident ident;
	struct node_creds creds;
	uint64_t self_raft;

	/* TLS */
	/* TLS from the node's certificate (node_renew.h): srv for --listen (optional client
	 * certificate: joiners have none), srv_mtls for --controlapi.listen (required), cli for
	 * links to other control nodes. A renewal builds new ones and switches to them; the
	 * previous set stays alive (connections opened with it) until the next renewal. */
	struct node_tls *tls, *tls_old;
	struct node_renew renew;

	/* raft scratch */
	struct store_entry *sents; /* window_entries */
	uint32_t sents_cap;
	struct raft_entry *rents; /* max_msg_entries, for decoding */
	uint32_t rents_cap;
	struct store_entry *rd_tmp; /* for io log_read */
	struct cluster_result *results;
	uint8_t *prop_buf; /* encoded proposal */
	size_t prop_cap;
	struct store_snap_writer snapw;
	bool snap_in_progress;
	bool dead; /* a fatal storage error: stop */
	struct loop_timer_id tick_timer, status_timer;

	/* transport */
	struct ctl_peer peers[NODE_PEERS_MAX];
	uint64_t peers_gen; /* bumped when the control node list changes */

	/* proposals */
	struct ctl_pending pending[CTL_PENDING_MAX];

	/* routing documents */
	uint8_t *doc; /* framed current document: "R <rev> <len>\n" + doc + "\n" */
	size_t doc_len;
	uint64_t doc_rev;
	struct ctl_stream streams[CTL_STREAMS_MAX];

	/* forwarding to the leader */
	struct node_link fwd;
	struct ctl_fwd_job jobs[CTL_FWD_JOBS];
	/* Answers of forwarded writes held until this node has applied the write (read your
	 * writes on the node you asked: ctl_parked_release); used: index != 0. */
	struct {
		struct api_handle h;
		uint64_t index, until_ms;
	} parked[CTL_FWD_JOBS];
	int fwd_cur; /* job in flight, -1: none */
	uint64_t fwd_retry_at;

	/* leader */
	struct ctl_seen seen[CTL_MAX_NODES];
	size_t nseen;
	uint64_t leader_since_ms;
	bool was_leader;
	struct cluster_node *nodes; /* CTL_MAX_NODES, scratch */
	struct provider prov;
	bool prov_on;
	uint64_t prov_deploy_index; /* deploy entry the provider runs for */
	uint8_t *dyn;               /* last dynamic document from the provider */
	size_t dyn_len;
	bool dyn_have, dyn_dirty;
	uint64_t routing_inflight; /* index of a ROUTING_SET not yet applied, 0: none */
	json_tok *toks;            /* CLUSTER_DEPLOY_TOKENS, to read the deployed configuration */
	uint8_t *compose;          /* CTL_MAX_ROUTING: routing document being built */
	bool self_seen;            /* this node was in the node table once */
	/* A changed --advertise (ctl_addr_check): when this node asked the leader to record it
	 * (next try after addr_next_ms), since when the table has disagreed, whether the "not
	 * recorded yet" warning was given; on the leader, the last NODE_ADDR it proposed. */
	uint64_t addr_next_ms, addr_since_ms;
	bool addr_warned;
	struct node_link addr_link; /* POST /nodes/address to one control node after another */
	bool addr_link_init, addr_busy;
	int addr_peer;
	char addr_prop_id[ID_LEN + 1];
	char addr_prop[CLUSTER_ADDR_MAX + 1];
	uint64_t addr_prop_ms;
	uint64_t upgrade_log_ms;     /* last "change not proposed" for an older member */
	struct joinlimit join_limit; /* failed joins per source address (node_ctl_api.c) */
	uint64_t handed_at;          /* loop ms when leadership left the bootstrap node */

	/* bootstrap */
	bool boot;           /* this process bootstraps the cluster */
	bool boot_proposed;  /* INIT and JOIN proposed */
	bool boot_created;   /* INIT and our JOIN applied */
	bool boot_done_sent; /* BOOTSTRAP_DONE proposed */
	bool boot_handing;   /* BOOTSTRAP_DONE applied: hand over and stop */
	uint64_t boot_deadline_ms;
	uint8_t *boot_cmds; /* INIT then JOIN, encoded, each preceded by u32 length */
	size_t boot_cmds_len;
	int64_t join_deadline_ms; /* joined during a bootstrap: give up at (loop ms), 0: none */

	struct node_web *web; /* --api: dashboard and JSON API state (node_web.c), or NULL */
	/* Data nodes' health reports (node_health_report.h; node_ctl_api.c): memory only, never
	 * Raft. Allocated by ctl_api_start, NULL before. */
	struct ctl_health *health;
	/* after-ready actions */
	bool want_peers_refresh;
	bool want_routing_reload;
	bool want_avail_refresh; /* a node's availability changed: tell its streams */
	bool want_provider_check;
	bool want_leader_pass;

	bool stopping;
	int exit_code;
	char stop_reason[256];
};

/* node_control.c */
int ctl_propose(struct ctl *c, const struct cluster_cmd *cmd, enum ctl_pending_kind kind,
		const struct api_handle *h, struct ctl_pending **out);
bool ctl_is_leader(const struct ctl *c);
/* The leader's node ID and address, or false when unknown. */
bool ctl_leader(struct ctl *c, char *id, size_t idcap, char *addr, size_t addrcap);
void ctl_stop(struct ctl *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int64_t ctl_wall_ms(void);
/* NODE_ADDR for node id at addr, on the leader, unless the same one went out under 5 s ago:
 * 0 (proposed, or already on its way), or ctl_propose's error. */
int ctl_addr_propose(struct ctl *c, const char *id, const char *addr);
/* Ask the next known control node to record this node's --advertise (POST /nodes/address;
 * only the leader acts on it, the others answer that they are not). Nothing while a request
 * is out. */
void ctl_addr_ask(struct ctl *c);
/* Finish the held answers of forwarded writes this node has now applied (or held for 3 s:
 * the write is committed either way). Called after each apply and from the status timer. */
void ctl_parked_release(struct ctl *c);
void ctl_refresh_peers(struct ctl *c);
struct ctl_peer *ctl_peer_by_raft(struct ctl *c, uint64_t raft_id);
struct ctl_peer *ctl_peer_learn(struct ctl *c, const char *node_id, const char *addr);

/* node_transport.c */
int ctl_transport_init(struct ctl *c, struct ctl_peer *p);
void ctl_transport_fini(struct ctl_peer *p);
void ctl_transport_send(struct ctl *c, const struct raft_msg *m);
void ctl_transport_flush(struct ctl *c);
/* 0 when every member of the Raft configuration reads command type `type`, else
 * -ERR_CLUSTER_UPGRADE with the first member that does not named in why. */
int ctl_cmd_supported(struct ctl *c, int type, char *why, size_t cap);
/* The highest command type this node says it reads: CLUSTER_CMD_TYPE_MAX, or for tests
 * TRAEFIKEE_TEST_COMMANDS=<n> (a node that plays an older build; CLUSTER_CMD_TYPE_BASE..). */
int ctl_cmd_max_announced(void);
int ctl_transport_receive(struct ctl *c, const char *peer_id, struct slice body,
			  struct slice advertise, char *err, size_t cap);

/* node_ctl_api.c */
int ctl_api_start(struct ctl *c);
void ctl_api_routing_changed(struct ctl *c);
void ctl_api_peers_changed(struct ctl *c);
/* node_logs.c: the node's recent log lines in memory (a copy of stderr), GET /logs. */
void ctl_logs_start(struct ctl *c);
void ctl_logs_stop(void);
int ctl_logs_get(struct api_req *req, struct api_resp *resp, void *arg);
/* Copy up to cap bytes of the kept lines at level >= min from *off (a byte offset since the
 * node started; *part: bytes of that line already taken), advancing both. Lines overwritten
 * before they were read are skipped: *skipped says how many bytes. For the handler and tests. */
size_t ctl_logs_read(uint64_t *off, size_t *part, uint8_t min, char *out, size_t cap,
		     uint64_t *skipped);

/* Node availabilities changed (NODE_AVAIL applied): re-read them for every stream. */
void ctl_api_avail_changed(struct ctl *c);
void ctl_api_heartbeat(struct ctl *c);
void ctl_fwd_pump(struct ctl *c);
void ctl_pending_done(struct ctl *c, struct ctl_pending *p, const struct cluster_result *res);
void ctl_pending_fail(struct ctl *c, struct ctl_pending *p, int err, const char *msg);
int ctl_fwd_submit(struct ctl *c, const struct api_handle *h, bool internal, const char *method,
		   const char *path, const void *body, size_t len);
/* Health reports: every second, copies still owed to the other control nodes go out; the
 * copy link takes a renewed certificate; fini frees the table. */
void ctl_health_tick(struct ctl *c);
void ctl_health_set_tls(struct ctl *c, const struct tls_client_config *tls);
void ctl_health_fini(struct ctl *c);

/* node_ctl_leader.c */
void ctl_leader_pass(struct ctl *c);
void ctl_leader_seen(struct ctl *c, const char *node_id);
void ctl_leader_lost(struct ctl *c);
void ctl_provider_check(struct ctl *c);
void ctl_provider_stop(struct ctl *c);
void ctl_routing_maybe_propose(struct ctl *c);
void ctl_applied_hook(struct ctl *c, const struct cluster_result *res, uint64_t index);

/* node_web.c: ctl_web_start, ctl_web_fini, ctl_web_routing_changed (node_web.h) */
/* node_bootstrap.c */
int ctl_bootstrap_prepare(struct ctl *c, char *err, size_t cap);
/* On a restart from a state directory (after the state machine is open): resume the bootstrap
 * hand-over this directory's node had in progress (0, c->boot set), carry on as an ordinary
 * control node (0), or stop: 1 when its hand-over is complete (message printed; exit 0), < 0
 * with err when it cannot run (timed out, never created). */
int ctl_bootstrap_resume(struct ctl *c, char *err, size_t cap);

#endif
