/* node_control.c — the control node daemon: store + Raft + replicated state machine on one
 * event loop, with the API server and the peer transport around them.
 *
 * Life cycle (node_control_run):
 *   1. open the store (one process per --statedir: the store's lock);
 *   2. bootstrap (node_bootstrap.c), join (node_join.c, blocking, before the loop), or resume
 *      from what the state directory holds;
 *   3. Raft: raft_bootstrap (a new cluster: this node alone as voter) or raft_start from the
 *      store (hard state, snapshot, log bounds, applied index);
 *   4. TLS configurations from the node's certificate, the API listeners, the timers;
 *   5. loop_run until a signal, a fatal error or the end of the bootstrap hand-over.
 *
 * The ready loop (ctl_drain, run before every sleep of the loop), per raft.md:
 *   persist (snapshot chunk; entries + hard state in ONE store_write) -> send -> apply (every
 *   committed entry of the ready in ONE store write transaction, with the applied index) ->
 *   raft_ready_advance -> snapshot when asked. A store error is fatal: the process exits 1
 *   and restarts from what is durable (the store never holds half a write).
 */
#include "node/node_control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base_err.h"
#include "base/base_log.h"
#include "base/base_time.h"
#include "node/node_web.h"

int64_t ctl_wall_ms(void)
{
	return time_wall_ms();
}

void ctl_stop(struct ctl *c, int code, const char *fmt, ...)
{
	if (c->stopping)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->stop_reason, sizeof c->stop_reason, fmt, ap);
	va_end(ap);
	c->stopping = true;
	c->exit_code = code;
	loop_stop(&c->loop);
}

bool ctl_is_leader(const struct ctl *c)
{
	return c->raft_init && raft_role(&c->raft) == RAFT_LEADER;
}

/* --- Raft storage callbacks ----------------------------------------------------------- */

static int io_log_term(void *ctx, uint64_t index, uint64_t *term)
{
	struct ctl *c = ctx;
	int rc = store_term(&c->store, index, term);
	return rc == -ERR_NOTFOUND ? rc : rc < 0 ? -ERR_IO : 0;
}

static int io_log_read(void *ctx, uint64_t first, uint32_t max_n, struct raft_entry *out,
		       uint8_t *buf, size_t cap)
{
	struct ctl *c = ctx;
	if (max_n > c->sents_cap)
		max_n = c->sents_cap;
	int n = store_log_read(&c->store, first, max_n, c->rd_tmp, buf, cap);
	if (n < 0)
		return n == -ERR_BUF_FULL || n == -ERR_NOTFOUND ? n : -ERR_IO;
	for (int i = 0; i < n; i++)
		out[i] =
			(struct raft_entry){c->rd_tmp[i].term, c->rd_tmp[i].index,
					    c->rd_tmp[i].data, c->rd_tmp[i].len, c->rd_tmp[i].type};
	return n;
}

static int io_snapshot_read(void *ctx, uint64_t index, uint64_t offset, uint8_t *buf, size_t cap,
			    uint64_t *total)
{
	struct ctl *c = ctx;
	int rc = store_snap_read(&c->store, index, offset, buf, cap, total);
	return rc == -ERR_NOTFOUND || rc >= 0 ? rc : -ERR_IO;
}

static uint64_t io_rand(void *ctx)
{
	struct ctl *c = ctx;
	return rand_u64(&c->rng);
}

/* --- Peers ---------------------------------------------------------------------------- */

struct ctl_peer *ctl_peer_by_raft(struct ctl *c, uint64_t raft_id)
{
	for (int i = 0; i < NODE_PEERS_MAX; i++)
		if (c->peers[i].used && c->peers[i].raft_id == raft_id)
			return &c->peers[i];
	return NULL;
}

/* Add or update a peer; evicts a peer that is neither in the node table nor in the Raft
 * configuration when the table is full. */
struct ctl_peer *ctl_peer_learn(struct ctl *c, const char *node_id, const char *addr)
{
	uint64_t rid = node_raft_id(node_id);
	if (rid == c->self_raft || !id_valid(slice_from_cstr(node_id)))
		return NULL;
	struct ctl_peer *p = ctl_peer_by_raft(c, rid), *slot = NULL;
	if (!p) {
		for (int i = 0; i < NODE_PEERS_MAX && !slot; i++)
			if (!c->peers[i].used)
				slot = &c->peers[i];
		for (int i = 0; i < NODE_PEERS_MAX && !slot; i++)
			if (!raft_conf_role(raft_config(&c->raft), c->peers[i].raft_id)) {
				ctl_transport_fini(&c->peers[i]);
				slot = &c->peers[i];
			}
		if (!slot)
			return NULL;
		memset(slot, 0, sizeof *slot);
		slot->ctl = c;
		slot->raft_id = rid;
		snprintf(slot->node_id, sizeof slot->node_id, "%s", node_id);
		if (ctl_transport_init(c, slot) < 0)
			return NULL;
		slot->used = true;
		p = slot;
		c->peers_gen++;
	}
	if (addr && *addr && strcmp(p->addr, addr) != 0) {
		snprintf(p->addr, sizeof p->addr, "%s", addr);
		if (node_link_set_addr(&p->link, addr, p->node_id) < 0)
			log_warn("peer address does not resolve", "node=%s addr=%s", p->node_id,
				 addr);
		c->peers_gen++;
	}
	return p;
}

static int peers_each(void *arg, const struct cluster_node *n)
{
	struct ctl *c = arg;
	if (n->role == CLUSTER_ROLE_CONTROL)
		ctl_peer_learn(c, n->id, n->addr);
	return 0;
}

void ctl_refresh_peers(struct ctl *c)
{
	struct store_txn t;
	if (store_txn_begin(&c->store, &t, STORE_TXN_READ) < 0)
		return;
	uint64_t gen = c->peers_gen;
	cluster_sm_nodes_each(&c->sm, &t, peers_each, c);
	store_txn_abort(&t);
	if (gen != c->peers_gen)
		ctl_api_peers_changed(c);
}

bool ctl_leader(struct ctl *c, char *id, size_t idcap, char *addr, size_t addrcap)
{
	uint64_t l = raft_leader(&c->raft);
	if (!l)
		return false;
	if (l == c->self_raft) {
		snprintf(id, idcap, "%s", c->ident.node_id);
		snprintf(addr, addrcap, "%s", c->o->advertise);
		return true;
	}
	struct ctl_peer *p = ctl_peer_by_raft(c, l);
	if (!p)
		return false;
	snprintf(id, idcap, "%s", p->node_id);
	snprintf(addr, addrcap, "%s", p->addr);
	return p->addr[0] != '\0';
}

/* --- Proposals ------------------------------------------------------------------------ */

int ctl_cmd_supported(struct ctl *c, int type, char *why, size_t cap)
{
	if (type <= CLUSTER_CMD_TYPE_BASE)
		return 0;
	const struct raft_conf *conf = raft_config(&c->raft);
	for (uint32_t i = 0; i < conf->n; i++) {
		if (conf->s[i].id == c->self_raft)
			continue;
		struct ctl_peer *p = ctl_peer_by_raft(c, conf->s[i].id);
		if (p && p->cmd_max >= type)
			continue;
		if (why)
			snprintf(why, cap,
				 "control node %s has not said that it reads %s (an older build, "
				 "or not heard from since this node leads): upgrade it, or wait",
				 p ? p->node_id : "?", cluster_cmd_type_name(type));
		return -ERR_CLUSTER_UPGRADE;
	}
	return 0;
}

int ctl_propose(struct ctl *c, const struct cluster_cmd *cmd, enum ctl_pending_kind kind,
		const struct api_handle *h, struct ctl_pending **out)
{
	if (out)
		*out = NULL;
	if (!ctl_is_leader(c))
		return -ERR_RAFT_NOT_LEADER;
	/* A type an older member cannot decode would be refused there, and its state would
	 * differ from the others' (cluster-state.md). */
	char why[200];
	int urc = ctl_cmd_supported(c, (int)cmd->type, why, sizeof why);
	if (urc < 0) {
		if (loop_now_ms(&c->loop) - c->upgrade_log_ms > 60000) {
			c->upgrade_log_ms = loop_now_ms(&c->loop);
			log_warn("change not proposed", "type=%s why=\"%s\"",
				 cluster_cmd_type_name((int)cmd->type), why);
		}
		return urc;
	}
	struct ctl_pending *p = NULL;
	if (kind != CTL_P_NONE) {
		for (int i = 0; i < CTL_PENDING_MAX && !p; i++)
			if (c->pending[i].kind == CTL_P_NONE)
				p = &c->pending[i];
		if (!p)
			return -ERR_AGAIN;
	}
	struct buf b;
	buf_init(&b, c->prop_buf, c->prop_cap);
	int rc = cluster_cmd_encode(cmd, &b);
	if (rc < 0)
		return rc == -ERR_BUF_FULL ? -ERR_TOO_LARGE : rc;
	uint64_t index = 0;
	rc = raft_propose(&c->raft, b.data, (uint32_t)b.len, &index);
	if (rc < 0)
		return rc;
	if (p) {
		uint8_t *cert = p->cert;
		memset(p, 0, sizeof *p);
		p->cert = cert;
		p->kind = kind;
		p->index = index;
		p->term = raft_term(&c->raft);
		p->cmd_type = cmd->type;
		if (h)
			p->h = *h;
		if (out)
			*out = p;
	}
	return 0;
}

/* --- The ready loop ------------------------------------------------------------------- */

static int fatal(struct ctl *c, int rc, const char *what)
{
	log_error("storage failure: stopping (restart resumes from what is durable)",
		  "what=%s err=%s detail=\"%s\"", what, err_name(rc), c->store.errmsg);
	c->dead = true;
	ctl_stop(c, 1, "storage failure (%s): %s", what, err_str(rc));
	return rc;
}

/* Rebuild the state machine from the store's current snapshot (after installing one from
 * the leader, or at start-up after a crash between the two steps). */
static int restore_sm(struct ctl *c)
{
	static uint8_t piece[64 << 10];
	struct store_txn t;
	struct cluster_sm_import im;
	uint64_t idx = c->store.snap.index, off = 0, total = 0;
	int rc = store_txn_begin(&c->store, &t, STORE_TXN_WRITE);
	if (rc < 0)
		return rc;
	rc = cluster_sm_import_begin(&im, &c->sm, &t);
	while (rc >= 0) {
		int n = store_snap_read(&c->store, idx, off, piece, sizeof piece, &total);
		if (n <= 0) {
			rc = n;
			break;
		}
		rc = cluster_sm_import_feed(&im, piece, (size_t)n);
		off += (uint64_t)n;
	}
	if (rc >= 0)
		rc = cluster_sm_import_end(&im);
	if (rc >= 0 && idx > store_applied(&c->store))
		rc = store_txn_set_applied(&t, idx);
	if (rc >= 0)
		rc = store_txn_commit(&t);
	if (rc < 0) {
		store_txn_abort(&t);
		log_error("snapshot restore failed", "err=%s detail=\"%s\"", err_name(rc),
			  c->sm.errmsg);
		return rc;
	}
	log_info("state machine restored from snapshot", "index=%llu bytes=%llu",
		 (unsigned long long)idx, (unsigned long long)total);
	c->want_peers_refresh = c->want_routing_reload = c->want_provider_check = true;
	return 0;
}

static int persist(struct ctl *c, const struct raft_ready *rd)
{
	int rc;
	if (rd->snapshot) {
		const struct raft_snapshot_in *s = rd->snapshot;
		if (s->offset == 0) {
			if (c->snap_in_progress)
				store_snap_abort(&c->snapw);
			c->snap_in_progress = false;
			if ((rc = store_snap_begin(&c->store, &c->snapw, s->index, s->term)) < 0)
				return fatal(c, rc, "snapshot begin");
			c->snap_in_progress = true;
		}
		if (!c->snap_in_progress)
			return fatal(c, -ERR_INVAL, "snapshot chunk without a beginning");
		if (s->len && (rc = store_snap_write(&c->snapw, s->data, s->len)) < 0)
			return fatal(c, rc, "snapshot write");
		if (s->last) {
			uint8_t conf[RAFT_CONF_MAX_BYTES];
			int n = raft_conf_encode(&s->conf, conf, sizeof conf);
			if (n < 0)
				return fatal(c, n, "snapshot configuration");
			c->snap_in_progress = false;
			rc = store_snap_finish(&c->snapw, NULL, conf, (uint32_t)n,
					       s->keep_log ? STORE_SNAP_DROP_UPTO
							   : STORE_SNAP_DROP_ALL);
			if (rc < 0)
				return fatal(c, rc, "snapshot install");
			if ((rc = restore_sm(c)) < 0)
				return fatal(c, rc, "snapshot restore");
		}
	}
	if (!rd->n_entries && !rd->truncate && !rd->hs)
		return 0;
	if (rd->n_entries > c->sents_cap)
		return fatal(c, -ERR_RANGE, "entries per ready over window_entries");
	for (uint32_t i = 0; i < rd->n_entries; i++) {
		const struct raft_entry *e = &rd->entries[i];
		c->sents[i] = (struct store_entry){e->term, e->index, e->data, e->len, e->type};
	}
	struct store_hard hs;
	if (rd->hs)
		hs = (struct store_hard){rd->hs->term, rd->hs->vote, rd->hs->commit};
	struct store_write w = {
		.truncate_from = (rd->truncate || rd->n_entries) ? rd->entries_first : 0,
		.ents = c->sents,
		.n = rd->n_entries,
		.hard = rd->hs ? &hs : NULL,
	};
	if ((rc = store_write(&c->store, &w)) < 0)
		return fatal(c, rc, "log write");
	return 0;
}

static int apply(struct ctl *c, const struct raft_ready *rd)
{
	if (!rd->n_committed)
		return 0;
	struct store_txn t;
	int rc = store_txn_begin(&c->store, &t, STORE_TXN_WRITE);
	if (rc < 0)
		return fatal(c, rc, "apply begin");
	uint64_t last = 0, applied = store_applied(&c->store);
	for (uint32_t i = 0; i < rd->n_committed; i++) {
		const struct raft_entry *e = &rd->committed[i];
		memset(&c->results[i], 0, sizeof c->results[i]);
		if (e->index <= applied)
			continue; /* already in the state machine (a restart) */
		bool normal = e->type == RAFT_ENTRY_NORMAL && e->len;
		rc = cluster_sm_apply_txn(&c->sm, &t, normal ? e->data : NULL, normal ? e->len : 0,
					  e->index, &c->results[i]);
		if (rc < 0) {
			store_txn_abort(&t);
			return fatal(c, rc, "apply");
		}
		last = e->index;
	}
	if (!last) {
		store_txn_abort(&t);
		return 0;
	}
	if ((rc = store_txn_set_applied(&t, last)) < 0 || (rc = store_txn_commit(&t)) < 0) {
		store_txn_abort(&t);
		return fatal(c, rc, "apply commit");
	}
	for (uint32_t i = 0; i < rd->n_committed; i++) {
		const struct raft_entry *e = &rd->committed[i];
		if (e->index <= applied)
			continue;
		for (int k = 0; k < CTL_PENDING_MAX; k++) {
			struct ctl_pending *p = &c->pending[k];
			if (p->kind == CTL_P_NONE || p->index != e->index)
				continue;
			if (p->term == e->term)
				ctl_pending_done(c, p, &c->results[i]);
			else
				ctl_pending_fail(c, p, -ERR_RAFT_NOT_LEADER,
						 "leadership changed before the change was "
						 "committed; retry");
		}
		if (e->type == RAFT_ENTRY_NORMAL)
			ctl_applied_hook(c, &c->results[i], e->index);
		else if (e->type == RAFT_ENTRY_CONF)
			c->want_leader_pass = true; /* the next membership change may start */
	}
	ctl_parked_release(c);
	return 0;
}

static int snap_write_cb(void *arg, const void *data, size_t len)
{
	return store_snap_write(arg, data, len);
}

static void take_snapshot(struct ctl *c)
{
	struct raft_snapshot_meta m;
	struct store_snap_writer w;
	struct store_txn t;
	uint8_t conf[RAFT_CONF_MAX_BYTES];
	uint64_t upto = 0;
	if (c->snap_in_progress || raft_snapshot_meta(&c->raft, &m) < 0 ||
	    m.index <= c->store.snap.index)
		return;
	int rc = store_snap_begin(&c->store, &w, m.index, m.term);
	if (rc < 0) {
		log_warn("snapshot not taken", "err=%s", err_name(rc));
		return;
	}
	rc = store_txn_begin(&c->store, &t, STORE_TXN_READ);
	if (rc == 0) {
		rc = cluster_sm_export(&c->sm, &t, snap_write_cb, &w);
		store_txn_abort(&t);
	}
	int n = raft_conf_encode(&m.conf, conf, sizeof conf);
	if (rc >= 0 && n >= 0)
		rc = store_snap_finish(&w, NULL, conf, (uint32_t)n, STORE_SNAP_KEEP_LOG);
	else
		store_snap_abort(&w);
	if (rc < 0 || n < 0) {
		log_warn("snapshot not taken", "err=%s", err_name(rc < 0 ? rc : n));
		return;
	}
	if (raft_snapshot_done(&c->raft, &m, &upto) == 0 && upto)
		store_log_compact(&c->store, upto);
	log_info("snapshot taken", "index=%llu compacted_upto=%llu", (unsigned long long)m.index,
		 (unsigned long long)upto);
}

/* Propose the commands that create the cluster, once this node leads. */
static void boot_propose(struct ctl *c)
{
	size_t off = 0;
	int rc = 0;
	while (off + 4 <= c->boot_cmds_len) {
		const uint8_t *p = c->boot_cmds + off;
		size_t len = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
		uint64_t index;
		rc = raft_propose(&c->raft, p + 4, (uint32_t)len, &index);
		if (rc < 0)
			break;
		off += 4 + len;
	}
	if (rc < 0) {
		ctl_stop(c, 1, "cannot propose the cluster's creation: %s", err_str(rc));
		return;
	}
	c->boot_proposed = true;
	pki_wipe(c->boot_cmds, c->boot_cmds_len);
}

static void after_ready(struct ctl *c)
{
	bool leader = ctl_is_leader(c);
	if (leader != c->was_leader) {
		c->was_leader = leader;
		if (leader) {
			c->leader_since_ms = loop_now_ms(&c->loop);
			c->nseen = 0;
			log_info("this node is the leader", "term=%llu",
				 (unsigned long long)raft_term(&c->raft));
			c->want_provider_check = c->want_leader_pass = true;
		} else {
			ctl_leader_lost(c);
		}
	}
	if (leader && c->boot && !c->boot_proposed)
		boot_propose(c);
	if (c->want_peers_refresh) {
		c->want_peers_refresh = false;
		ctl_refresh_peers(c);
	}
	if (c->want_routing_reload) {
		c->want_routing_reload = false;
		ctl_api_routing_changed(c);
	}
	if (c->want_avail_refresh) {
		c->want_avail_refresh = false;
		ctl_api_avail_changed(c);
	}
	if (c->want_provider_check) {
		c->want_provider_check = false;
		ctl_provider_check(c);
	}
	if (leader && c->want_leader_pass) {
		c->want_leader_pass = false;
		ctl_leader_pass(c);
	}
	ctl_fwd_pump(c);
}

static void ctl_drain(struct loop *l, void *arg)
{
	struct ctl *c = arg;
	for (int round = 0; round < 8 && !c->dead; round++) {
		struct raft_ready rd;
		int rc = raft_ready_get(&c->raft, &rd);
		if (rc < 0) {
			if (rc != -ERR_RAFT_STORAGE)
				log_warn("raft ready", "err=%s", err_name(rc));
			break;
		}
		if (rc > 0) {
			if (persist(c, &rd) < 0)
				return;
			for (uint32_t i = 0; i < rd.n_msgs; i++)
				ctl_transport_send(c, &rd.msgs[i]);
			if (apply(c, &rd) < 0)
				return;
			raft_ready_advance(&c->raft);
			if (rd.want_snapshot)
				take_snapshot(c);
		}
		after_ready(c);
		if (rc == 0)
			break;
	}
	ctl_transport_flush(c);
}

/* --- Timers and signals --------------------------------------------------------------- */

static void on_tick(struct loop *l, void *arg)
{
	struct ctl *c = arg;
	raft_tick(&c->raft);
	if (c->join_deadline_ms && (int64_t)loop_now_ms(l) > c->join_deadline_ms) {
		struct cluster_info ci;
		if (cluster_sm_info(&c->sm, NULL, &ci) == 0 && ci.bootstrap_done) {
			c->join_deadline_ms = 0;
		} else {
			ctl_stop(c, 1,
				 "the bootstrap node did not complete the cluster within its "
				 "--timeout: the cluster was not created; remove %s before joining "
				 "again",
				 c->o->statedir);
		}
	}
}

int ctl_addr_propose(struct ctl *c, const char *id, const char *addr)
{
	uint64_t now = loop_now_ms(&c->loop);
	if (!strcmp(c->addr_prop_id, id) && !strcmp(c->addr_prop, addr) &&
	    now - c->addr_prop_ms < 5000)
		return 0; /* the same change is on its way: one Raft entry, not one per retry */
	struct cluster_cmd cmd = {.type = CLUSTER_CMD_NODE_ADDR};
	cmd.u.addr.id = slice_from_cstr(id);
	cmd.u.addr.addr = slice_from_cstr(addr);
	cmd.u.addr.at = ctl_wall_ms();
	char why[CLUSTER_WHY_MAX];
	int rc = cluster_cmd_check(&cmd, why, sizeof why);
	if (rc == 0)
		rc = ctl_propose(c, &cmd, CTL_P_NONE, NULL, NULL);
	if (rc == 0) {
		snprintf(c->addr_prop_id, sizeof c->addr_prop_id, "%s", id);
		snprintf(c->addr_prop, sizeof c->addr_prop, "%s", addr);
		c->addr_prop_ms = now;
	}
	return rc;
}

/* The node table keeps the address each control node advertises: the others send it Raft
 * messages there, and data nodes learn it. A control node restarted with another --advertise
 * asks the leader to record the new one (NODE_ADDR; itself when it leads), every 2 s until
 * the table says so. The others can reach it there once that commits; a cluster that needs
 * this very node for its quorum cannot commit it (nobody reaches the node at its old
 * address), so after 30 s the node says what to do. */
static void ctl_addr_check(struct ctl *c, const struct cluster_node *me)
{
	uint64_t now = loop_now_ms(&c->loop);
	if (!strcmp(me->addr, c->o->advertise)) {
		if (c->addr_since_ms)
			log_info("the cluster recorded this node's new address", "advertise=%s",
				 c->o->advertise);
		c->addr_since_ms = 0;
		c->addr_warned = false;
		return;
	}
	if (!c->addr_since_ms) {
		c->addr_since_ms = now;
		log_info("--advertise changed: asking the cluster to record it",
			 "known=%s advertise=%s", me->addr, c->o->advertise);
	} else if (!c->addr_warned && now - c->addr_since_ms > 30000) {
		c->addr_warned = true;
		log_warn("the cluster has not recorded this node's new address after 30 s",
			 "known=%s advertise=%s hint=\"the other control nodes still send to "
			 "the known address; if they need this node for a quorum they cannot "
			 "commit the change: restart it with --advertise=%s, then move it once "
			 "the others are up\"",
			 me->addr, c->o->advertise, me->addr);
	}
	if (now < c->addr_next_ms)
		return;
	c->addr_next_ms = now + 2000;
	if (ctl_is_leader(c))
		ctl_addr_propose(c, c->ident.node_id, c->o->advertise);
	else
		ctl_addr_ask(c);
}

static void on_status(struct loop *l, void *arg)
{
	struct ctl *c = arg;
	ctl_api_heartbeat(c);
	ctl_health_tick(c);
	ctl_parked_release(c);
	if (ctl_is_leader(c))
		ctl_leader_pass(c);
	/* The bootstrap node stops once it handed leadership over (the new leader removes it
	 * from the voters; it may not even hear about that). */
	if (c->boot_handing && !ctl_is_leader(c)) {
		if (!c->handed_at)
			c->handed_at = loop_now_ms(l);
		else if (loop_now_ms(l) - c->handed_at > 2000)
			ctl_stop(c, 0, "the control nodes took over: the bootstrap node stops");
	}
	/* A node removed from the table (rm-node, clean-up) has nothing left to do. */
	struct cluster_node me;
	int rc = cluster_sm_node_get(&c->sm, NULL, slice_from_cstr(c->ident.node_id), &me);
	if (rc == 0) {
		c->self_seen = true;
		if (me.role == CLUSTER_ROLE_CONTROL)
			ctl_addr_check(c, &me);
	} else if (rc == -ERR_NOTFOUND && c->self_seen && !c->boot_handing)
		ctl_stop(c, 1,
			 "this node was removed from the cluster (rm-node or clean-up); to "
			 "join again, clear %s and start it with a token",
			 c->o->statedir);
	if (c->boot && c->boot_deadline_ms && !c->boot_handing &&
	    loop_now_ms(l) > c->boot_deadline_ms) {
		struct cluster_info ci;
		cluster_sm_info(&c->sm, NULL, &ci);
		ctl_stop(c, 1,
			 "timed out after %d s waiting for %d control nodes (%u joined): the "
			 "cluster "
			 "is not created",
			 c->o->timeout_s, c->o->controlnodes,
			 ci.control_nodes ? ci.control_nodes - 1 : 0);
	}
}

static void on_signal(struct loop *l, int signo, void *arg)
{
	struct ctl *c = arg;
	ctl_stop(c, 0, "signal %d", signo);
}

/* --- Start-up ------------------------------------------------------------------------- */

static int tls_setup(struct ctl *c, char *err, size_t cap)
{
	return node_tls_build(&c->creds, true, &c->tls, err, cap);
}

/* Renewal (node_renew.h): a control node asks the leader (itself when it leads). */
static const char *ctl_renew_addr(void *arg, unsigned attempt)
{
	struct ctl *c = arg;
	static char addr[NODE_ADDR_MAX];
	char id[ID_LEN + 1];
	(void)attempt;
	if (ctl_is_leader(c))
		return c->o->advertise;
	return ctl_leader(c, id, sizeof id, addr, sizeof addr) ? addr : NULL;
}

/* The renewed certificate: new TLS configurations for every listener and link. */
static const struct tls_client_config *ctl_renewed(void *arg, const struct node_creds *cr)
{
	struct ctl *c = arg;
	struct node_tls *t;
	char err[200];
	int rc = node_tls_build(cr, true, &t, err, sizeof err);
	if (rc < 0) {
		log_error("the renewed certificate is saved but cannot be used until a restart",
			  "err=%s msg=%s", err_name(rc), err);
		return NULL;
	}
	api_server_swap_tls(&c->api, &c->tls->srv, &t->srv);
	api_server_swap_tls(&c->api, &c->tls->srv_mtls, &t->srv_mtls);
	for (int i = 0; i < NODE_PEERS_MAX; i++)
		if (c->peers[i].used)
			node_link_set_tls(&c->peers[i].link, &t->cli);
	node_link_set_tls(&c->fwd, &t->cli);
	ctl_health_set_tls(c, &t->cli);
	if (c->addr_link_init)
		node_link_set_tls(&c->addr_link, &t->cli);
	/* Connections that used the set before the current one finished their handshakes long
	 * ago (a renewal is weeks apart; at least half a minute with test lifetimes), and
	 * BearSSL reads a configuration only while handshaking. */
	node_tls_free(c->tls_old);
	c->tls_old = c->tls;
	c->tls = t;
	c->creds = *cr;
	return &t->cli;
}

static int raft_setup(struct ctl *c, char *err, size_t cap)
{
	struct raft_options ro;
	raft_options_default(&ro, c->self_raft);
	ro.caps.max_entry_bytes = CTL_MAX_ENTRY;
	ro.caps.max_msg_bytes = CTL_MAX_MSG;
	ro.caps.window_bytes = 8u * CTL_MAX_MSG;
	ro.caps.max_inflight_bytes = 4u * CTL_MAX_MSG;
	ro.caps.max_outbox_bytes = 4u * CTL_MAX_MSG;
	uint32_t every = c->o->snap_every >= 16 ? (uint32_t)c->o->snap_every : 4096;
	ro.caps.snapshot_threshold = every;
	ro.caps.snapshot_trailing = every / 2 < 1024 ? every / 2 : 1024;
	ro.caps.max_log_entries = every * 4 > 65536 ? every * 4 : 65536;
	struct raft_io io = {c, io_log_term, io_log_read, io_snapshot_read, io_rand};
	int rc = raft_init(&c->raft, &ro, &io);
	if (rc < 0) {
		snprintf(err, cap, "raft: %s", err_str(rc));
		return rc;
	}
	c->raft_init = true;
	c->sents_cap = ro.caps.window_entries;
	c->rents_cap = ro.caps.max_msg_entries;
	c->sents = calloc(c->sents_cap, sizeof *c->sents);
	c->rd_tmp = calloc(c->sents_cap, sizeof *c->rd_tmp);
	c->rents = calloc(c->rents_cap, sizeof *c->rents);
	c->results = calloc(ro.caps.max_apply_batch, sizeof *c->results);
	c->prop_cap = CTL_MAX_ENTRY;
	c->prop_buf = malloc(c->prop_cap);
	if (!c->sents || !c->rd_tmp || !c->rents || !c->results || !c->prop_buf)
		return -ERR_NOMEM;

	if (c->o->mode == NODE_MODE_BOOTSTRAP) {
		struct raft_conf conf = {.n = 1};
		conf.s[0] = (struct raft_server){c->self_raft, RAFT_VOTER};
		rc = raft_bootstrap(&c->raft, &conf);
		if (rc < 0)
			snprintf(err, cap, "raft bootstrap: %s", err_str(rc));
		return rc;
	}
	if (c->store.snap.index > store_applied(&c->store) && (rc = restore_sm(c)) < 0) {
		snprintf(err, cap, "cannot restore the state machine from the snapshot: %s",
			 err_str(rc));
		return rc;
	}
	struct raft_boot b = {0};
	struct store_hard h = store_get_hard(&c->store);
	b.hs = (struct raft_hard_state){h.term, h.vote, h.commit};
	struct store_snap_info si;
	uint8_t conf[RAFT_CONF_MAX_BYTES];
	if (store_snap_get(&c->store, &si, conf, sizeof conf) == 0) {
		b.snap_index = si.index;
		b.snap_term = si.term;
		if (raft_conf_decode(conf, si.conf_len, &b.snap_conf) < 0) {
			snprintf(err, cap, "the stored snapshot's configuration is malformed");
			return -ERR_STORE_CORRUPT;
		}
	}
	b.first_index = store_first_index(&c->store);
	b.last_index = store_last_index(&c->store);
	b.applied = store_applied(&c->store);
	rc = raft_start(&c->raft, &b);
	if (rc < 0)
		snprintf(err, cap, "raft start: %s", err_str(rc));
	return rc;
}

/* Join with a token (blocking), then record who we are. */
static struct node_join_result jr;

static int join_cluster(struct ctl *c, char *err, size_t cap)
{
	int rc = node_join(c->o, c->o->token, CLUSTER_ROLE_CONTROL, &jr, err, cap);
	if (rc < 0)
		return rc;
	snprintf(c->ident.cluster_id, sizeof c->ident.cluster_id, "%s", jr.cluster_id);
	snprintf(c->ident.cluster_name, sizeof c->ident.cluster_name, "%s", jr.cluster_name);
	snprintf(c->ident.node_id, sizeof c->ident.node_id, "%s", jr.node_id);
	snprintf(c->ident.name, sizeof c->ident.name, "%s", c->o->name);
	c->ident.role = CLUSTER_ROLE_CONTROL;
	for (size_t i = 0; i < jr.npeers && i < NODE_PEERS_MAX; i++)
		snprintf(c->ident.peers[c->ident.npeers++], NODE_ADDR_MAX, "%s", jr.peers[i]);
	c->creds = jr.creds;
	if ((rc = node_creds_save(c->o->statedir, &c->creds)) < 0 ||
	    (rc = node_ident_save(c->o->statedir, &c->ident)) < 0 ||
	    (rc = store_identity_set(&c->store, c->ident.cluster_id, c->ident.node_id)) < 0) {
		snprintf(err, cap, "cannot write the node's identity to %s: %s", c->o->statedir,
			 err_str(rc));
		return rc;
	}
	if (jr.bootstrap_wait_ms >= 0)
		c->join_deadline_ms = (int64_t)time_mono_ms() + jr.bootstrap_wait_ms + 5000;
	/* Peers the leader told us about, so we can answer it before our log has them. */
	c->self_raft = node_raft_id(c->ident.node_id);
	return (int)jr.npeers;
}

static int ctl_start(struct ctl *c, char *err, size_t cap)
{
	struct node_opts *o = c->o;
	int rc = rand_init_os(&c->rng);
	if (rc < 0) {
		snprintf(err, cap, "no entropy: %s", err_str(rc));
		return rc;
	}
	struct store_config sc = {0};
	sc.max_entry = CTL_MAX_MSG;
	sc.max_batch = 4096;
	rc = store_open(&c->store, o->statedir, &sc);
	if (rc < 0) {
		if (rc == -ERR_STORE_LOCKED)
			snprintf(err, cap,
				 "the state directory %s is in use by another node process (one "
				 "process per --statedir)",
				 o->statedir);
		else
			snprintf(err, cap, "cannot open the state directory %s: %s", o->statedir,
				 c->store.errmsg);
		return rc;
	}
	c->store_open = true;
	char cid[STORE_ID_MAX + 1], nid[STORE_ID_MAX + 1];
	bool have = store_identity_get(&c->store, cid, sizeof cid, nid, sizeof nid) == 0;

	if (o->mode == NODE_MODE_BOOTSTRAP) {
		if (have || store_last_index(&c->store) > 0) {
			snprintf(err, cap,
				 "%s already holds %s%s of cluster %s: bootstrapping again would "
				 "create another cluster. To restart this node run `traefikee "
				 "start-control-node --statedir=%s` (it resumes a bootstrap still "
				 "waiting for its control nodes); to create a new cluster use an "
				 "empty --statedir",
				 o->statedir, have ? "node " : "a partly created node",
				 have ? nid : "", have ? cid : "?", o->statedir);
			return -ERR_EXISTS;
		}
	} else if (o->mode == NODE_MODE_JOIN && have) {
		log_info("the state directory already holds this node: resuming",
			 "statedir=%s node=%s%s", o->statedir, nid,
			 o->token && *o->token ? " token=ignored" : "");
		o->mode = NODE_MODE_RESUME;
	} else if (o->mode == NODE_MODE_RESUME && !have) {
		snprintf(err, cap, "%s holds no node", o->statedir);
		return -ERR_NOTFOUND;
	}

	struct cluster_sm_config smc = {0};
	smc.limits.max_nodes = CTL_MAX_NODES;
	smc.limits.max_routing_bytes = CTL_MAX_ROUTING;
	if ((rc = cluster_sm_init(&c->sm, &c->store, &smc)) < 0) {
		snprintf(err, cap, "state machine: %s", err_str(rc));
		return rc;
	}
	c->sm_init = true;

	if (o->mode == NODE_MODE_BOOTSTRAP) {
		c->boot = true;
		if ((rc = ctl_bootstrap_prepare(c, err, cap)) < 0)
			return rc;
		c->self_raft = node_raft_id(c->ident.node_id);
		if (o->controlnodes > 1)
			c->boot_deadline_ms = time_mono_ms() + (uint64_t)o->timeout_s * 1000;
	} else if (o->mode == NODE_MODE_JOIN) {
		if ((rc = join_cluster(c, err, cap)) < 0)
			return rc;
	} else {
		if ((rc = node_ident_load(o->statedir, &c->ident, err, cap)) < 0) {
			if (rc == -ERR_NOTFOUND)
				snprintf(err, cap, "%s/node.json is missing", o->statedir);
			return rc;
		}
		if (c->ident.role != CLUSTER_ROLE_CONTROL || strcmp(c->ident.node_id, nid) != 0) {
			snprintf(err, cap, "%s belongs to a %s node, not this control node",
				 o->statedir,
				 c->ident.role == CLUSTER_ROLE_DATA ? "data" : "different");
			return -ERR_INVAL;
		}
		if ((rc = node_creds_load(o->statedir, &c->creds)) < 0) {
			snprintf(err, cap, "cannot read the node's certificate in %s: %s",
				 o->statedir, err_str(rc));
			return rc;
		}
		c->self_raft = node_raft_id(c->ident.node_id);
		/* The node that bootstrapped this cluster: resume or end its hand-over. */
		if ((rc = ctl_bootstrap_resume(c, err, cap)) != 0)
			return rc;
	}
	if ((rc = tls_setup(c, err, cap)) < 0)
		return rc;

	struct loop_config lc = {.max_fds = 512, .max_timers = 512, .max_events = 128};
	if ((rc = loop_init(&c->loop, &lc)) < 0) {
		snprintf(err, cap, "event loop: %s", err_str(rc));
		return rc;
	}
	if ((rc = raft_setup(c, err, cap)) < 0)
		return rc;
	/* Peers: the node table, then what the join answer named. */
	ctl_refresh_peers(c);
	if (o->mode == NODE_MODE_JOIN)
		for (size_t i = 0; i < jr.npeers; i++)
			ctl_peer_learn(c, jr.peer_ids[i], jr.peers[i]);
	c->fwd_cur = -1;
	if ((rc = ctl_api_start(c)) < 0) {
		snprintf(err, cap, "%s", c->api.errmsg[0] ? c->api.errmsg : err_str(rc));
		return rc;
	}
	c->want_routing_reload = true;
	struct node_renew_config rc_cfg = {
		.loop = &c->loop,
		.rng = &c->rng,
		.statedir = o->statedir,
		.node_id = c->ident.node_id,
		.role = CLUSTER_ROLE_CONTROL,
		.addr = ctl_renew_addr,
		.on_renewed = ctl_renewed,
		.arg = c,
	};
	if ((rc = node_renew_start(&c->renew, &rc_cfg, &c->creds, &c->tls->cli)) < 0) {
		snprintf(err, cap, "the node certificate: %s", err_str(rc));
		return rc;
	}
	loop_signal_add(&c->loop, SIGTERM, on_signal, c);
	loop_signal_add(&c->loop, SIGINT, on_signal, c);
	loop_timer_every(&c->loop, CTL_TICK_MS, CTL_TICK_MS, on_tick, c, &c->tick_timer);
	loop_timer_every(&c->loop, 200, CTL_STATUS_MS, on_status, c, &c->status_timer);
	loop_set_before_sleep(&c->loop, ctl_drain, c);
	return 0;
}

static void ctl_teardown(struct ctl *c)
{
	ctl_logs_stop();
	ctl_provider_stop(c);
	node_renew_stop(&c->renew);
	if (c->api_init)
		api_server_fini(&c->api);
	ctl_web_fini(c);
	ctl_health_fini(c);
	if (c->addr_link_init)
		node_link_fini(&c->addr_link);
	for (int i = 0; i < NODE_PEERS_MAX; i++)
		if (c->peers[i].used)
			ctl_transport_fini(&c->peers[i]);
	node_link_fini(&c->fwd);
	for (int i = 0; i < CTL_FWD_JOBS; i++)
		free(c->jobs[i].body);
	for (int i = 0; i < CTL_PENDING_MAX; i++)
		free(c->pending[i].cert);
	if (c->snap_in_progress)
		store_snap_abort(&c->snapw);
	if (c->raft_init)
		raft_fini(&c->raft);
	if (c->sm_init)
		cluster_sm_fini(&c->sm);
	if (c->store_open)
		store_close(&c->store);
	if (c->loop.mem)
		loop_fini(&c->loop);
	free(c->sents);
	free(c->rd_tmp);
	free(c->rents);
	free(c->results);
	free(c->prop_buf);
	free(c->doc);
	free(c->dyn);
	free(c->nodes);
	free(c->boot_cmds);
	node_tls_free(c->tls);
	node_tls_free(c->tls_old);
	pki_wipe(&c->creds, sizeof c->creds);
}

int node_control_run(struct node_opts *o)
{
	struct ctl *c = calloc(1, sizeof *c);
	char err[512] = "";
	if (!c) {
		fprintf(stderr, "traefikee: out of memory\n");
		return 1;
	}
	c->o = o;
	node_daemon_signals();
	ctl_logs_start(c); /* GET /logs: from the first line on */
	int rc = ctl_start(c, err, sizeof err);
	if (rc > 0) { /* nothing to run (a bootstrap node whose hand-over is complete) */
		ctl_teardown(c);
		free(c);
		return 0;
	}
	if (rc < 0) {
		fprintf(stderr, "traefikee: %s\n", err[0] ? err : err_str(rc));
		ctl_teardown(c);
		free(c);
		return rc == -ERR_USAGE ? 2 : 1;
	}
	log_info("control node started",
		 "node=%s name=%s cluster=%s listen=%s advertise=%s "
		 "controlapi=%s socket=%s",
		 c->ident.node_id, c->ident.name, c->ident.cluster_name, o->listen, o->advertise,
		 o->controlapi, o->socket);
	if (c->boot && o->controlnodes > 1)
		log_info("bootstrap node: waiting for the control nodes", "wanted=%d timeout=%ds",
			 o->controlnodes, o->timeout_s);
	rc = loop_run(&c->loop);
	if (rc < 0 && !c->stopping)
		ctl_stop(c, 1, "event loop: %s", err_str(rc));
	int code = c->exit_code;
	if (code)
		log_error("control node stopped", "reason=\"%s\"", c->stop_reason);
	else
		log_info("control node stopped", "reason=\"%s\"", c->stop_reason);
	if (code)
		fprintf(stderr, "traefikee: %s\n", c->stop_reason);
	ctl_teardown(c);
	free(c);
	return code;
}
