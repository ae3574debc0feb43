/* node_ctl_leader.c — what only the Raft leader does, once a second (CTL_STATUS_MS) and when
 * something it depends on was applied:
 *
 *   status      a node heard from within --status.downafter seconds is READY, else DOWN;
 *               only changes are proposed (NODE_STATUS). Control nodes are heard through
 *               their Raft messages, data nodes through their routing streams (reported by
 *               whichever control node serves them). A new leader waits one down-after
 *               period before it calls anything DOWN: it has heard nobody yet.
 *   clean-up    a node DOWN for longer than --cleanup.grace seconds is removed (NODE_REMOVE,
 *               which also revokes its certificate).
 *   membership  the Raft configuration follows the node table: control nodes join as
 *               learners, are promoted once caught up, and leave when their row goes; one
 *               change at a time (raft.md). The bootstrap node, once BOOTSTRAP_DONE is
 *               committed, hands leadership over and is removed by the new leader.
 *   bootstrap   with --controlnodes=N, learners are promoted only once N control nodes have
 *               joined; when all N are voters BOOTSTRAP_DONE is proposed.
 *   provider    the deployed static configuration names a provider: the leader runs it and
 *               commits each new routing document (ROUTING_SET, revision + 1), built from
 *               the entry points of the static configuration and the provider's frontends,
 *               backends and certificates. Without a provider the document has entry points
 *               only. A document equal to the committed one is not proposed again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_err.h"
#include "base/base_log.h"
#include "node/node_control.h"

static struct ctl_seen *seen_find(struct ctl *c, const char *id)
{
	for (size_t i = 0; i < c->nseen; i++)
		if (strcmp(c->seen[i].id, id) == 0)
			return &c->seen[i];
	return NULL;
}

void ctl_leader_seen(struct ctl *c, const char *id)
{
	if (!ctl_is_leader(c) || strlen(id) != ID_LEN)
		return;
	struct ctl_seen *s = seen_find(c, id);
	if (!s) {
		if (c->nseen == CTL_MAX_NODES)
			return;
		s = &c->seen[c->nseen++];
		memset(s, 0, sizeof *s);
		snprintf(s->id, sizeof s->id, "%s", id);
	}
	s->at_ms = loop_now_ms(&c->loop);
}

void ctl_leader_lost(struct ctl *c)
{
	ctl_provider_stop(c);
	c->routing_inflight = 0;
	c->nseen = 0;
	uint64_t commit = raft_commit_index(&c->raft);
	for (int i = 0; i < CTL_PENDING_MAX; i++)
		if (c->pending[i].kind != CTL_P_NONE && c->pending[i].index > commit)
			ctl_pending_fail(c, &c->pending[i], -ERR_RAFT_NOT_LEADER,
					 "leadership changed before the change was committed; "
					 "retry");
	log_info("this node is not the leader any more", "term=%llu",
		 (unsigned long long)raft_term(&c->raft));
}

static void propose_simple(struct ctl *c, const struct cluster_cmd *cmd, const char *what,
			   const char *name)
{
	int rc = ctl_propose(c, cmd, CTL_P_NONE, NULL, NULL);
	if (rc < 0)
		log_warn("proposal refused", "what=%s node=%s err=%s", what, name, err_name(rc));
}

/* Node status and clean-up. */
static void status_pass(struct ctl *c, size_t n, const struct cluster_info *ci)
{
	uint64_t now = loop_now_ms(&c->loop);
	int64_t wall = ctl_wall_ms();
	uint64_t down_ms = (uint64_t)c->o->down_after_s * 1000;
	bool settled = now - c->leader_since_ms >= down_ms;
	for (size_t i = 0; i < n && i < CTL_MAX_NODES; i++) {
		const struct cluster_node *nd = &c->nodes[i];
		bool self = strcmp(nd->id, c->ident.node_id) == 0;
		struct ctl_seen *s = seen_find(c, nd->id);
		bool alive = self || (s && now - s->at_ms < down_ms);
		/* The bootstrap node, once done, counts as gone even while it still talks. */
		if (ci->bootstrap_done && strcmp(nd->id, ci->bootstrap_id) == 0 && !self && s &&
		    now - s->at_ms >= 1000)
			alive = false;
		uint8_t want = alive ? CLUSTER_STATUS_READY : CLUSTER_STATUS_DOWN;
		if (!alive && !settled)
			continue;
		if (nd->status != want) {
			if (!s) {
				if (c->nseen == CTL_MAX_NODES)
					continue;
				s = &c->seen[c->nseen++];
				memset(s, 0, sizeof *s);
				snprintf(s->id, sizeof s->id, "%s", nd->id);
			}
			if (s->proposed_ms && s->proposed_status == want &&
			    now - s->proposed_ms < 3000)
				continue;
			s->proposed_ms = now;
			s->proposed_status = want;
			struct cluster_cmd cmd = {.type = CLUSTER_CMD_NODE_STATUS};
			cmd.u.status.id = slice_from_cstr(nd->id);
			cmd.u.status.status = want;
			cmd.u.status.at = wall;
			log_info("node status", "node=%s name=%s status=%s", nd->id, nd->name,
				 cluster_status_str(want));
			propose_simple(c, &cmd, "status", nd->name);
			continue;
		}
		if (nd->status == CLUSTER_STATUS_DOWN && !self &&
		    wall - nd->status_at > (int64_t)c->o->grace_s * 1000) {
			if (s && s->proposed_ms && s->proposed_status == 0 &&
			    now - s->proposed_ms < 3000)
				continue;
			if (s) {
				s->proposed_ms = now;
				s->proposed_status = 0;
			}
			struct cluster_cmd cmd = {.type = CLUSTER_CMD_NODE_REMOVE};
			cmd.u.remove.id = slice_from_cstr(nd->id);
			cmd.u.remove.at = wall;
			log_info("removing a node DOWN for longer than the grace period",
				 "node=%s name=%s grace=%ds", nd->id, nd->name, c->o->grace_s);
			propose_simple(c, &cmd, "clean-up", nd->name);
		}
	}
}

/* Raft membership follows the node table. One change per pass. */
static void membership_pass(struct ctl *c, size_t n, const struct cluster_info *ci)
{
	const struct raft_conf *conf = raft_config(&c->raft);
	bool waiting = c->boot && c->o->controlnodes > 1 && !ci->bootstrap_done;
	uint64_t want[CTL_MAX_NODES];
	size_t nwant = 0, joined = 0, voters = 0;
	bool self_wanted = false;
	for (size_t i = 0; i < n && i < CTL_MAX_NODES; i++) {
		const struct cluster_node *nd = &c->nodes[i];
		if (nd->role != CLUSTER_ROLE_CONTROL)
			continue;
		if (ci->bootstrap_done && strcmp(nd->id, ci->bootstrap_id) == 0)
			continue;
		uint64_t rid = node_raft_id(nd->id);
		want[nwant++] = rid;
		if (rid == c->self_raft) {
			self_wanted = true;
			continue;
		}
		joined++;
		voters += raft_conf_role(conf, rid) == RAFT_VOTER;
	}
	int rc;
	for (size_t i = 0; i < nwant; i++) {
		if (want[i] == c->self_raft || raft_conf_role(conf, want[i]))
			continue;
		rc = raft_add_learner(&c->raft, want[i]);
		if (rc == 0)
			log_info("control node added as learner", "raft_id=%016llx",
				 (unsigned long long)want[i]);
		return;
	}
	if (!waiting || joined >= (size_t)c->o->controlnodes) {
		for (size_t i = 0; i < nwant; i++) {
			if (raft_conf_role(conf, want[i]) != RAFT_LEARNER)
				continue;
			rc = raft_promote(&c->raft, want[i]);
			if (rc == 0) {
				log_info("control node promoted to voter", "raft_id=%016llx",
					 (unsigned long long)want[i]);
				return;
			}
		}
	}
	for (uint32_t k = 0; k < conf->n; k++) {
		uint64_t id = conf->s[k].id;
		bool wanted = false;
		for (size_t i = 0; i < nwant; i++)
			wanted |= want[i] == id;
		if (wanted || id == c->self_raft)
			continue;
		rc = raft_remove(&c->raft, id);
		if (rc == 0)
			log_info("server removed from the Raft configuration", "raft_id=%016llx",
				 (unsigned long long)id);
		return;
	}
	if (!self_wanted) {
		/* The bootstrap node after BOOTSTRAP_DONE: hand leadership to a voter. */
		for (size_t i = 0; i < nwant; i++) {
			if (raft_conf_role(conf, want[i]) != RAFT_VOTER)
				continue;
			rc = raft_transfer(&c->raft, want[i]);
			if (rc == 0)
				log_info("handing leadership over", "to=%016llx",
					 (unsigned long long)want[i]);
			return;
		}
	}
	if (waiting && !c->boot_done_sent && voters >= (size_t)c->o->controlnodes) {
		struct cluster_cmd cmd = {.type = CLUSTER_CMD_BOOTSTRAP_DONE};
		cmd.u.bootstrap_done.id = slice_from_cstr(c->ident.node_id);
		cmd.u.bootstrap_done.at = ctl_wall_ms();
		if (ctl_propose(c, &cmd, CTL_P_NONE, NULL, NULL) == 0) {
			c->boot_done_sent = true;
			log_info("the control nodes have joined: bootstrap done", "voters=%zu",
				 voters);
		}
	}
}

void ctl_leader_pass(struct ctl *c)
{
	if (!ctl_is_leader(c))
		return;
	if (!c->nodes && !(c->nodes = calloc(CTL_MAX_NODES, sizeof *c->nodes)))
		return;
	struct cluster_info ci;
	if (cluster_sm_info(&c->sm, NULL, &ci) < 0 || !ci.initialised)
		return;
	int n = cluster_sm_nodes(&c->sm, NULL, c->nodes, CTL_MAX_NODES);
	if (n < 0)
		return;
	size_t cnt = (size_t)n < CTL_MAX_NODES ? (size_t)n : CTL_MAX_NODES;
	status_pass(c, cnt, &ci);
	/* Membership decisions need the whole committed log applied. */
	if (raft_applied_index(&c->raft) == raft_commit_index(&c->raft))
		membership_pass(c, cnt, &ci);
	ctl_routing_maybe_propose(c);
}

/* --- Applied commands ----------------------------------------------------------------- */

void ctl_applied_hook(struct ctl *c, const struct cluster_result *res, uint64_t index)
{
	switch (res->type) {
	case CLUSTER_CMD_INIT:
	case CLUSTER_CMD_NODE_JOIN:
	case CLUSTER_CMD_NODE_REMOVE:
	case CLUSTER_CMD_NODE_ADDR:
		c->want_peers_refresh = true;
		c->want_leader_pass = true;
		if (c->boot && !c->boot_created && res->type == CLUSTER_CMD_NODE_JOIN &&
		    res->code == 0) {
			c->boot_created = true;
			log_info("cluster created", "cluster=%s name=%s", c->ident.cluster_id,
				 c->ident.cluster_name);
		}
		break;
	case CLUSTER_CMD_DEPLOY: c->want_provider_check = true; break;
	case CLUSTER_CMD_NODE_AVAIL: c->want_avail_refresh = true; break;
	case CLUSTER_CMD_ROUTING_SET:
		c->want_routing_reload = true;
		if (index == c->routing_inflight)
			c->routing_inflight = 0;
		/* The committed document changed (ours, or an earlier leader's entry applied only
		 * now: a new leader's state machine may lag its log), or our proposal was refused:
		 * compare the provider's document with it again. Without this, a leader that
		 * found its document equal to a stale applied one never proposes it. */
		if (c->dyn_have)
			c->dyn_dirty = true;
		c->want_provider_check = true;
		break;
	case CLUSTER_CMD_BOOTSTRAP_DONE:
		if (res->code == 0) {
			c->join_deadline_ms = 0;
			if (c->boot) {
				c->boot_handing = true;
				c->want_leader_pass = true;
			}
		}
		break;
	default: break;
	}
}

/* --- Provider and routing documents --------------------------------------------------- */

void ctl_provider_stop(struct ctl *c)
{
	if (c->prov_on)
		provider_fini(&c->prov);
	c->prov_on = false;
	c->prov_deploy_index = 0;
	c->dyn_have = c->dyn_dirty = false;
}

static void on_dyn_doc(void *arg, struct slice doc)
{
	struct ctl *c = arg;
	if (!c->dyn && !(c->dyn = malloc(CTL_MAX_ROUTING)))
		return;
	if (doc.len > CTL_MAX_ROUTING || doc.len < 2 || doc.p[0] != '{' ||
	    doc.p[doc.len - 1] != '}') {
		log_error("provider document refused", "bytes=%zu max_routing_bytes=%u", doc.len,
			  CTL_MAX_ROUTING);
		return;
	}
	memcpy(c->dyn, doc.p, doc.len);
	c->dyn_len = doc.len;
	c->dyn_have = c->dyn_dirty = true;
	ctl_routing_maybe_propose(c);
}

/* Set provider flags from the deployed configuration's "providers" object. */
static int provider_flags_from(struct ctl *c, const struct json_doc *d, int prov,
			       struct provider_flags *f, char *err, size_t cap)
{
	struct json_iter it, it2;
	int key, v, k2, v2;
	char pname[16], kname[64], name[96], val[PROVIDER_STR_MAX];
	json_iter_begin(d, prov, &it);
	while ((v = json_iter_next(d, &it, &key)) >= 0) {
		if (json_get_str(d, key, pname, sizeof pname) < 0)
			return -ERR_PROVIDER_CONFIG;
		int rc = provider_flags_set(f, pname, NULL);
		if (rc < 0) {
			snprintf(err, cap, "providers.%s: %s", pname, err_str(rc));
			return rc;
		}
		json_iter_begin(d, v, &it2);
		while ((v2 = json_iter_next(d, &it2, &k2)) >= 0) {
			if (json_get_str(d, k2, kname, sizeof kname) < 0)
				return -ERR_PROVIDER_CONFIG;
			bool bv;
			if (json_typeof(d, v2) == JSON_BOOL && json_get_bool(d, v2, &bv) == 0)
				snprintf(val, sizeof val, "%s", bv ? "true" : "false");
			else if (json_get_str(d, v2, val, sizeof val) < 0)
				return -ERR_PROVIDER_CONFIG;
			snprintf(name, sizeof name, "%s.%s", pname, kname);
			rc = provider_flags_set(f, name, val);
			if (rc < 0) {
				snprintf(err, cap, "providers.%s: %s", name, err_str(rc));
				return rc;
			}
		}
	}
	return 0;
}

static const char *env_get(const char *name)
{
	return getenv(name);
}

void ctl_provider_check(struct ctl *c)
{
	if (!ctl_is_leader(c)) {
		ctl_provider_stop(c);
		return;
	}
	struct store_txn t;
	struct cluster_deployed dep;
	if (store_txn_begin(&c->store, &t, STORE_TXN_READ) < 0)
		return;
	int rc = cluster_sm_deployed(&c->sm, &t, &dep);
	if (rc < 0) {
		store_txn_abort(&t);
		ctl_provider_stop(c);
		return;
	}
	if (c->prov_deploy_index == dep.index) {
		store_txn_abort(&t);
		ctl_routing_maybe_propose(c);
		return;
	}
	ctl_provider_stop(c);
	c->prov_deploy_index = dep.index;
	if (!c->toks && !(c->toks = malloc(CLUSTER_DEPLOY_TOKENS * sizeof *c->toks))) {
		store_txn_abort(&t);
		return;
	}
	struct json_doc d;
	static struct provider_config pc;
	char err[256] = "";
	int prov = -1;
	memset(&pc, 0, sizeof pc);
	provider_flags_default(&pc.flags);
	rc = json_parse(&d, dep.config.p, dep.config.len, c->toks, CLUSTER_DEPLOY_TOKENS);
	if (rc >= 0) {
		prov = json_obj_get(&d, JSON_ROOT, "providers");
		if (prov >= 0 && json_len(&d, prov) > 0)
			rc = provider_flags_from(c, &d, prov, &pc.flags, err, sizeof err);
		else
			prov = -1;
		char thr[32];
		if (rc >= 0 &&
		    json_get_str(&d, json_obj_get(&d, JSON_ROOT, "providersThrottleDuration"), thr,
				 sizeof thr) > 0)
			rc = provider_flags_set(&pc.flags, "providersthrottleduration", thr);
	}
	store_txn_abort(&t);
	if (rc < 0) {
		log_error("deployed provider configuration unusable", "err=%s detail=\"%s\"",
			  err_name(rc), err);
		return;
	}
	if (prov < 0) {
		/* No provider: entry points only. */
		if (!c->dyn && !(c->dyn = malloc(CTL_MAX_ROUTING)))
			return;
		memcpy(c->dyn, "{\"frontends\":{},\"backends\":{}}", 30);
		c->dyn_len = 30;
		c->dyn_have = c->dyn_dirty = true;
		ctl_routing_maybe_propose(c);
		return;
	}
	provider_flags_env(&pc.flags, env_get);
	if ((rc = provider_flags_check(&pc.flags, err, sizeof err)) < 0) {
		log_error("deployed provider configuration unusable", "err=%s detail=\"%s\"",
			  err_name(rc), err);
		return;
	}
	provider_limits_default(&pc.limits);
	pc.limits.max_doc_bytes = CTL_MAX_ROUTING - (64u << 10);
	pc.rand = &c->rng;
	pc.on_doc = on_dyn_doc;
	pc.arg = c;
	rc = provider_init(&c->prov, &c->loop, &pc);
	if (rc < 0) {
		log_error("provider start failed", "err=%s detail=\"%s\"", err_name(rc),
			  c->prov.errmsg);
		return;
	}
	c->prov_on = true;
	rc = provider_start(&c->prov);
	if (rc < 0)
		log_error("provider start failed", "err=%s detail=\"%s\"", err_name(rc),
			  c->prov.errmsg);
	else
		log_info("provider started on the leader", "deploy_index=%llu",
			 (unsigned long long)dep.index);
}

/* The committed document without its revision, for the "did anything change" test. */
static struct slice doc_tail(struct slice doc)
{
	static const char pre[] = "{\"version\":1,\"revision\":";
	if (doc.len < sizeof pre || memcmp(doc.p, pre, sizeof pre - 1) != 0)
		return (struct slice){0};
	size_t i = sizeof pre - 1;
	while (i < doc.len && doc.p[i] >= '0' && doc.p[i] <= '9')
		i++;
	if (i >= doc.len || doc.p[i] != ',')
		return (struct slice){0};
	return (struct slice){doc.p + i + 1, doc.len - i - 1};
}

void ctl_routing_maybe_propose(struct ctl *c)
{
	if (!ctl_is_leader(c) || !c->dyn_have || !c->dyn_dirty || c->routing_inflight)
		return;
	if (!c->toks && !(c->toks = malloc(CLUSTER_DEPLOY_TOKENS * sizeof *c->toks)))
		return;
	if (!c->compose && !(c->compose = malloc(CTL_MAX_ROUTING)))
		return;
	struct store_txn t;
	struct cluster_deployed dep;
	struct cluster_routing cur;
	struct json_doc d;
	if (store_txn_begin(&c->store, &t, STORE_TXN_READ) < 0)
		return;
	int rc = cluster_sm_deployed(&c->sm, &t, &dep);
	if (rc == 0)
		rc = json_parse(&d, dep.config.p, dep.config.len, c->toks, CLUSTER_DEPLOY_TOKENS);
	if (rc < 0) {
		store_txn_abort(&t);
		return;
	}
	uint64_t rev = 0;
	struct slice tail_cur = {0};
	if (cluster_sm_routing(&c->sm, &t, &cur) == 0) {
		rev = cur.revision;
		tail_cur = doc_tail(cur.doc);
	}
	/* Build the document: version and revision, then the tail compared with the current. */
	struct buf b;
	buf_init(&b, c->compose, CTL_MAX_ROUTING);
	char head[64];
	int hl = snprintf(head, sizeof head, "{\"version\":1,\"revision\":%llu,",
			  (unsigned long long)(rev + 1));
	buf_append(&b, head, (size_t)hl);
	size_t tail_at = b.len;
	struct slice eps = json_raw(&d, json_obj_get(&d, JSON_ROOT, "entryPoints"));
	int defs = json_obj_get(&d, JSON_ROOT, "defaultEntryPoints");
	buf_append_cstr(&b, "\"entryPoints\":");
	buf_append_slice(&b, eps);
	if (defs >= 0) {
		buf_append_cstr(&b, ",\"defaultEntryPoints\":");
		buf_append_slice(&b, json_raw(&d, defs));
	}
	/* Global options of the static configuration the data plane reads (https backends). */
	static const char *const globals[] = {"insecureSkipVerify", "rootCAs"};
	for (size_t gi = 0; gi < sizeof globals / sizeof globals[0]; gi++) {
		int gv = json_obj_get(&d, JSON_ROOT, globals[gi]);
		if (gv < 0)
			continue;
		buf_append_cstr(&b, ",\"");
		buf_append_cstr(&b, globals[gi]);
		buf_append_cstr(&b, "\":");
		buf_append_slice(&b, json_raw(&d, gv));
	}
	if (c->dyn_len > 2) {
		buf_append_byte(&b, ',');
		buf_append(&b, c->dyn + 1, c->dyn_len - 2);
	}
	rc = buf_append_byte(&b, '}');
	store_txn_abort(&t);
	if (rc < 0) {
		log_error("routing document over max_routing_bytes", "max=%u", CTL_MAX_ROUTING);
		c->dyn_dirty = false;
		return;
	}
	struct slice tail = {(const char *)c->compose + tail_at, b.len - tail_at};
	if (tail_cur.p && slice_eq(tail, tail_cur)) {
		c->dyn_dirty = false;
		return;
	}
	struct cluster_cmd cmd = {.type = CLUSTER_CMD_ROUTING_SET};
	cmd.u.routing.revision = rev + 1;
	cmd.u.routing.at = ctl_wall_ms();
	cmd.u.routing.doc = buf_slice(&b);
	struct ctl_pending *p;
	rc = ctl_propose(c, &cmd, CTL_P_INTERNAL, NULL, &p);
	if (rc < 0) {
		log_warn("routing document not proposed", "err=%s", err_name(rc));
		return;
	}
	c->routing_inflight = p->index;
	c->dyn_dirty = false;
	log_info("routing document proposed", "revision=%llu bytes=%zu",
		 (unsigned long long)(rev + 1), b.len);
}
