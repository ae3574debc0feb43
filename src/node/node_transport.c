/* node_transport.c — Raft messages between control nodes.
 *
 * Wire: each control node dials every other one on its --advertise address (the API's TLS
 * listener on --listen) with its node certificate, and POSTs /raft requests whose body is a
 * run of frames:
 *
 *     u32 length (big-endian) | raft_msg_encode() bytes      ... repeated
 *
 * plus a header "X-Tee-Advertise: host:port" so that a node that does not know the sender
 * yet (a joiner whose log is still empty) can answer it. Messages are one-way: answers are
 * messages in the other direction, on the other node's link. The receiver checks that the
 * certificate's node ID maps to every frame's `from` and that `to` is itself.
 *
 * Flow control and bounds: per peer one request in flight (node_link) and one queue of
 * frames (CTL_BATCH_MAX bytes) filled while it flies; the next request takes the whole
 * queue. A message that does not fit a full queue drops the queue (old heartbeats and
 * appends are stale by then; Raft treats drops as losses and resends). A failed link is
 * retried with back-off: 100 ms doubling to 2 s. Nothing here blocks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_err.h"
#include "base/base_log.h"
#include "node/node_control.h"

static void peer_backoff(struct ctl_peer *p)
{
	unsigned f = p->fails < 5 ? p->fails : 5;
	uint64_t ms = 100u << f;
	if (ms > 2000)
		ms = 2000;
	p->fails++;
	p->retry_at = loop_now_ms(&p->ctl->loop) + ms;
}

static void peer_log(struct ctl_peer *p, const char *what, const char *why)
{
	uint64_t now = loop_now_ms(&p->ctl->loop);
	if (now - p->last_err_log < 5000 && p->last_err_log)
		return;
	p->last_err_log = now;
	char q[256];
	log_warn("peer unreachable", "node=%s addr=%s what=%s why=%s", p->node_id, p->addr, what,
		 log_q(q, sizeof q, why));
}

static void peer_resp(struct node_link *k, int status, struct slice body, void *arg)
{
	struct ctl_peer *p = arg;
	if (status != 200) {
		char why[160];
		snprintf(why, sizeof why, "status %d: %.*s", status,
			 (int)(body.len > 120 ? 120 : body.len), body.p);
		peer_log(p, "POST /raft", why);
		peer_backoff(p);
		return;
	}
	p->fails = 0;
	ctl_transport_flush(p->ctl);
}

static void peer_err(struct node_link *k, int err, const char *why, void *arg)
{
	struct ctl_peer *p = arg;
	peer_log(p, err_name(err), why);
	peer_backoff(p);
}

int ctl_transport_init(struct ctl *c, struct ctl_peer *p)
{
	struct node_link_config lc = {
		.loop = &c->loop,
		.rng = &c->rng,
		.tls = &c->tls->cli,
		.out_cap = CTL_BATCH_MAX + 1024,
		.in_cap = 4096,
		.connect_timeout_ms = 2000,
		.response_timeout_ms = 5000,
		.on_resp = peer_resp,
		.on_err = peer_err,
		.arg = p,
	};
	int rc = node_link_init(&p->link, &lc);
	if (rc < 0)
		return rc;
	p->q = malloc(CTL_BATCH_MAX);
	if (!p->q) {
		node_link_fini(&p->link);
		return -ERR_NOMEM;
	}
	p->link_ready = true;
	return 0;
}

void ctl_transport_fini(struct ctl_peer *p)
{
	if (p->link_ready)
		node_link_fini(&p->link);
	free(p->q);
	p->q = NULL;
	p->link_ready = false;
	p->used = false;
}

void ctl_transport_send(struct ctl *c, const struct raft_msg *m)
{
	struct ctl_peer *p = ctl_peer_by_raft(c, m->to);
	if (!p || !p->link.has_addr)
		return; /* unknown address: a loss, Raft resends */
	size_t need = raft_msg_size(m);
	if (need + 4 > CTL_BATCH_MAX) {
		p->dropped++;
		return;
	}
	if (p->qlen + 4 + need > CTL_BATCH_MAX) {
		p->dropped++;
		p->qlen = 0;
	}
	int n = raft_msg_encode(m, p->q + p->qlen + 4, CTL_BATCH_MAX - p->qlen - 4);
	if (n < 0) {
		p->dropped++;
		return;
	}
	uint8_t *h = p->q + p->qlen;
	h[0] = (uint8_t)((uint32_t)n >> 24);
	h[1] = (uint8_t)((uint32_t)n >> 16);
	h[2] = (uint8_t)((uint32_t)n >> 8);
	h[3] = (uint8_t)n;
	p->qlen += 4 + (size_t)n;
}

int ctl_cmd_max_announced(void)
{
	static int v = -1;
	if (v < 0) {
		v = CLUSTER_CMD_TYPE_MAX;
		const char *e = getenv("TRAEFIKEE_TEST_COMMANDS");
		if (e && *e) {
			char *end;
			long n = strtol(e, &end, 10);
			if (!*end && n >= CLUSTER_CMD_TYPE_BASE && n <= CLUSTER_CMD_TYPE_MAX) {
				v = (int)n;
				log_warn("announcing fewer command types (TRAEFIKEE_TEST_COMMANDS, "
					 "for "
					 "tests)",
					 "max=%d", v);
			}
		}
	}
	return v;
}

void ctl_transport_flush(struct ctl *c)
{
	uint64_t now = loop_now_ms(&c->loop);
	char hdr[NODE_ADDR_MAX + 64];
	snprintf(hdr, sizeof hdr, "X-Tee-Advertise: %s\r\nX-Tee-Commands: %d\r\n", c->o->advertise,
		 ctl_cmd_max_announced());
	for (int i = 0; i < NODE_PEERS_MAX; i++) {
		struct ctl_peer *p = &c->peers[i];
		if (!p->used || !p->qlen || now < p->retry_at || !node_link_can_send(&p->link))
			continue;
		int rc = node_link_request(&p->link, "POST", "/raft", hdr, p->q, p->qlen);
		if (rc == 0) {
			p->qlen = 0;
			p->sent++;
		} else if (rc != -ERR_AGAIN) {
			peer_log(p, "connect", p->link.errmsg[0] ? p->link.errmsg : err_str(rc));
			peer_backoff(p);
		}
	}
}

int ctl_transport_receive(struct ctl *c, const char *peer_id, struct slice body,
			  struct slice advertise, char *err, size_t cap)
{
	uint64_t from = node_raft_id(peer_id);
	char addr[NODE_ADDR_MAX] = "";
	if (advertise.len && advertise.len < sizeof addr) {
		char host[NODE_ADDR_MAX];
		uint16_t port;
		memcpy(addr, advertise.p, advertise.len);
		addr[advertise.len] = '\0';
		if (api_addr_split(addr, host, sizeof host, &port) < 0 || !port)
			addr[0] = '\0';
	}
	/* Learn only addresses of peers the node table does not name yet. */
	struct ctl_peer *p = ctl_peer_by_raft(c, from);
	if (!p || !p->addr[0])
		ctl_peer_learn(c, peer_id, addr);
	ctl_leader_seen(c, peer_id);

	const uint8_t *b = (const uint8_t *)body.p;
	size_t pos = 0;
	unsigned stepped = 0;
	while (pos < body.len) {
		if (body.len - pos < 4) {
			snprintf(err, cap, "frame header cut at byte %zu", pos);
			return -ERR_PARSE;
		}
		size_t n = (size_t)b[pos] << 24 | (size_t)b[pos + 1] << 16 |
			   (size_t)b[pos + 2] << 8 | b[pos + 3];
		pos += 4;
		if (n == 0 || n > body.len - pos) {
			snprintf(err, cap, "frame of %zu bytes at byte %zu runs past the body", n,
				 pos - 4);
			return -ERR_PARSE;
		}
		struct raft_msg m;
		int rc = raft_msg_decode(b + pos, n, &m, c->rents, c->rents_cap);
		if (rc < 0) {
			snprintf(err, cap, "frame %u: %s", stepped, err_str(rc));
			return rc;
		}
		pos += n;
		if (m.from != from) {
			snprintf(err, cap,
				 "frame %u is from raft id %llu, the certificate is node %s",
				 stepped, (unsigned long long)m.from, peer_id);
			return -ERR_PERM;
		}
		if (m.to != c->self_raft)
			continue;
		raft_step(&c->raft, &m);
		stepped++;
	}
	return (int)stepped;
}
