/* node_data.c — the data node daemon: join, stream the routing document, proxy.
 *
 * Start-up (blocking, before the loop):
 *   1. lock the state directory (one process per --statedir);
 *   2. resume from node.json and the node's PEM files, or join with DATA_NODE_TOKEN
 *      (node_join.c) and write them;
 *   3. build the proxy engine (proxy_engine.h) on this process's loop, and load the last good
 *      routing document kept in <statedir>/routing.json, so the node serves at once, even
 *      with every control node down.
 * Then, on the loop:
 *   - one node_link streams GET /stream/routing?after=<revision> from a control node (mutual
 *     TLS with the data node certificate). Lines and documents (node_ctl_api.c):
 *       P <addr>,...   control node addresses: merged into the peer list (saved)
 *       R <rev> <len>  then <len> bytes and "\n": a routing document
 *       H              heartbeat (one a second; 5 s of silence drops the link)
 *   - a newer document is validated and swapped in by proxy_engine_load (atomic: requests in
 *     flight finish on the old table; unchanged listeners stay open). A refused document
 *     changes nothing. An accepted one is written to routing.json (atomically) before the
 *     next is read;
 *   - when the link fails, the next control node in the list is tried: the peers of one
 *     round 100 ms apart, the rounds after a back-off of 200 ms doubling to 3 s, forever
 *     (dn_schedule). Once any control node is back, the node is streaming again within
 *     one back-off plus one round. The data plane never stops serving meanwhile.
 *   - logging: the first failure after a working stream, then one line every
 *     DN_LOG_EVERY_MS while no control node answers, and one when a stream opens again.
 *   - SIGTERM/SIGINT: the engine drains (grace timeout) and the process exits 0. SIGUSR1:
 *     the proxy's counters in the log.
 * With --workers=N > 1 this process proxies nothing: it is the master of N worker processes
 * (proxy_workers.h) that serve <statedir>/routing.json. It streams as above, checks each
 * document (proxy_engine_check_doc), writes it to routing.json and signals the workers to load
 * it; it serves --metrics.listen over their summed registries, restarts a worker that dies,
 * and on SIGTERM stops when the last worker has drained.
 * Every input is bounded: lines by NODE_STREAM_LINE_MAX, documents by the proxy's
 * max_doc_bytes; anything malformed drops the link (and the document in progress).
 * Health reports (node_health_report.h): every NHR_DEBOUNCE_MS the node builds its verdicts
 * (the engine's, or with workers the health board's for the servers of the document it
 * holds) and, when they changed or NHR_PERIOD_MS passed, POSTs /nodes/health to the control
 * node it streams from, on a link of its own. One request at a time, never waited for: a
 * failed one is dropped and the next tick tries again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_server.h"
#include "base/base_err.h"
#include "base/base_log.h"
#include "base/base_time.h"
#include "node/node.h"
#include "node/node_health_report.h"
#include "node/node_renew.h"
#include "pki/pki_pem.h"
#include "proxy/proxy_engine.h"
#include "proxy/proxy_monitor.h"
#include "proxy/proxy_workers.h"

/* While no control node answers: one "still trying" line this often. */
#define DN_LOG_EVERY_MS 30000
/* A stream that lived this long, or that brought a document, resets the back-off. */
#define DN_HEALTHY_MS 3000

struct dn {
	struct node_opts *o;
	struct loop loop;
	struct rand rng;
	struct node_ident ident;
	struct node_creds creds;
	struct node_tls *tls, *tls_old; /* our certificate (node_renew.h): current, previous */
	struct node_renew renew;
	struct node_link link;
	bool link_init;
	struct proxy_engine *eng;                 /* one worker: this process proxies */
	struct proxy_workers *workers;            /* --workers=N > 1: they proxy, not this one */
	char routing_path[NODE_PATH_MAX];         /* <statedir>/routing.json */
	struct proxy_monitor *mon;                /* --metrics.listen, or NULL (one worker) */
	const struct proxy_metrics *mon_parts[1]; /* the engine's registry */
	struct proxy_dp_limits lim;
	int lock_fd;
	int al_fd; /* --accesslog.filepath, or -1 */
	char peers[NODE_PEERS_MAX][NODE_ADDR_MAX];
	size_t npeers, cur;
	unsigned fails;       /* attempts since the last healthy stream */
	bool open;            /* this connection received bytes */
	bool down_logged;     /* a failure was logged since the last "stream open" */
	bool outage_logged;   /* the first failure since the last healthy stream was logged */
	uint64_t open_at;     /* loop ms: first bytes of this connection */
	uint64_t down_since;  /* loop ms: first failure since the last healthy stream */
	uint64_t down_log_at; /* loop ms: last failure line */
	struct loop_timer_id retry;
	uint64_t rev; /* revision being served */
	/* stream parser */
	bool in_doc;
	char line[NODE_STREAM_LINE_MAX];
	size_t line_len;
	uint8_t *acc; /* max_doc_bytes + 1 */
	size_t acc_len, need;
	uint64_t doc_rev;
	uint8_t avail; /* the node table's availability (enum cluster_avail), 0: not told yet */
	/* health reports (node_health_report.h) */
	struct node_link hr_link;
	bool hr_init;
	uint8_t *hr_body;    /* NHR_BODY_MAX */
	uint64_t hr_sum;     /* of the last body sent */
	uint64_t hr_sent_at; /* loop ms */
	uint64_t hr_wait_ms; /* before the same body goes again */
	bool hr_failing;     /* the last report failed (logged once) */
	struct loop_timer_id hr_timer;
	struct nhr_srvlist *hr_list; /* --workers: the document's health-checked servers */
	json_tok *hr_toks;           /* --workers: table.max_tokens, to read the document */
	bool stopping;
	int exit_code;
};

static void dn_connect(struct dn *d);

static void dn_retry_cb(struct loop *l, void *arg)
{
	struct dn *d = arg;
	d->retry = (struct loop_timer_id){0};
	dn_connect(d);
}

/* After a failed attempt (or the end of a stream): log at a bounded rate and arm the next
 * attempt. Within a round every peer is tried 100 ms apart; a round that failed whole backs
 * off 200 ms doubling to 3 s, forever. */
static void dn_schedule(struct dn *d, bool next_peer, const char *what, const char *why)
{
	if (d->stopping)
		return;
	uint64_t now = loop_now_ms(&d->loop);
	char q[256];
	d->open = false;
	if (d->fails == 0)
		d->down_since = now;
	if (what) {
		if (!d->outage_logged) {
			d->outage_logged = true;
			d->down_log_at = now;
			d->down_logged = true;
			log_warn(what, "addr=%s why=%s", d->peers[d->cur], log_q(q, sizeof q, why));
		} else if (now - d->down_log_at >= DN_LOG_EVERY_MS) {
			d->down_log_at = now;
			d->down_logged = true;
			log_warn("no control node serves the routing stream; still trying",
				 "for_ms=%llu attempts=%u peers=%zu last=%s why=%s",
				 (unsigned long long)(now - d->down_since), d->fails, d->npeers,
				 d->peers[d->cur], log_q(q, sizeof q, why));
		}
	}
	if (next_peer && d->npeers)
		d->cur = (d->cur + 1) % d->npeers;
	d->fails++;
	size_t n = d->npeers ? d->npeers : 1;
	uint64_t ms = 100;
	if (d->fails % n == 0) {
		unsigned r = d->fails / n - 1;
		ms = 200u << (r < 4 ? r : 4);
		if (ms > 3000)
			ms = 3000;
	}
	loop_timer_cancel(&d->loop, d->retry);
	d->retry = (struct loop_timer_id){0};
	loop_timer_add(&d->loop, ms, dn_retry_cb, d, &d->retry);
}

/* The stream works (it brought a document, or lived DN_HEALTHY_MS): reset the back-off. */
static void dn_healthy(struct dn *d)
{
	d->fails = 0;
	d->outage_logged = false;
}

static void dn_connect(struct dn *d)
{
	if (d->stopping || !d->npeers)
		return;
	char path[80];
	snprintf(path, sizeof path, "/stream/routing?after=%llu&avail=1",
		 (unsigned long long)d->rev);
	d->in_doc = false;
	d->line_len = 0;
	if (node_link_set_addr(&d->link, d->peers[d->cur], NULL) < 0) {
		dn_schedule(d, true, "control node address does not resolve", "");
		return;
	}
	d->link.errmsg[0] = '\0';
	int rc = node_link_stream(&d->link, path, NULL);
	if (rc < 0)
		dn_schedule(d, true, "cannot reach a control node",
			    d->link.errmsg[0] ? d->link.errmsg : err_str(rc));
}

static void dn_save_peers(struct dn *d)
{
	d->ident.npeers = 0;
	for (size_t i = 0; i < d->npeers; i++)
		snprintf(d->ident.peers[d->ident.npeers++], NODE_ADDR_MAX, "%s", d->peers[i]);
	int rc = node_ident_save(d->o->statedir, &d->ident);
	if (rc < 0)
		log_warn("cannot save the control node list", "err=%s", err_name(rc));
}

static bool dn_add_peer(struct dn *d, const char *addr)
{
	char host[NODE_ADDR_MAX];
	uint16_t port;
	if (api_addr_split(addr, host, sizeof host, &port) < 0 || !host[0] || !port ||
	    !strcmp(host, "0.0.0.0") || !strcmp(host, "::"))
		return false; /* a listen address, not a destination */
	for (size_t i = 0; i < d->npeers; i++)
		if (strcmp(d->peers[i], addr) == 0)
			return false;
	if (d->npeers == NODE_PEERS_MAX)
		return false;
	snprintf(d->peers[d->npeers++], NODE_ADDR_MAX, "%s", addr);
	return true;
}

static void dn_peers_line(struct dn *d, char *list)
{
	bool changed = false;
	char *save = NULL;
	for (char *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save))
		changed |= dn_add_peer(d, a);
	if (changed)
		dn_save_peers(d);
}

/* --workers: the servers whose verdicts the master reports, from the document it holds. */
static void dn_hr_doc(struct dn *d, const char *doc, size_t len)
{
	if (!d->hr_list || !d->hr_toks)
		return;
	int rc = nhr_doc_servers(doc, len, d->hr_toks, d->lim.table.max_tokens, d->hr_list);
	if (rc < 0)
		log_warn("health report: cannot list the document's servers", "err=%s",
			 err_name(rc));
	else if (d->hr_list->truncated)
		log_warn("health report: servers past the cap are not reported",
			 "reported=%u cap=%u", d->hr_list->n, NHR_SERVERS_MAX);
}

/* Several workers: check the document here (a refused one never reaches them), keep it in
 * routing.json, and have every worker load it from there (SIGHUP, proxy_workers.h). A worker
 * that cannot apply it yet (tables held by draining requests, a port not free) retries on
 * its own and logs it. */
static void dn_apply_workers(struct dn *d, const char *doc, size_t len, uint64_t rev)
{
	char msg[300] = "";
	char q[320];
	int rc = proxy_engine_check_doc(&d->lim, doc, len, msg, sizeof msg);
	if (rc < 0) {
		log_error("routing document refused; the running one stays",
			  "revision=%llu err=%s msg=%s", (unsigned long long)rev, err_name(rc),
			  log_q(q, sizeof q, msg));
		d->rev = rev; /* do not ask for it again */
		return;
	}
	if ((rc = pki_file_write_atomic(d->routing_path, doc, len, 0600)) < 0) {
		/* Not taken: the next stream (or document) brings it again. */
		log_error("cannot hand the routing document to the workers", "file=%s err=%s",
			  d->routing_path, err_name(rc));
		return;
	}
	d->rev = rev;
	dn_healthy(d);
	dn_hr_doc(d, doc, len);
	proxy_workers_signal(d->workers, SIGHUP);
	log_info("routing document passed to the workers", "revision=%llu bytes=%zu workers=%u",
		 (unsigned long long)rev, len, d->lim.workers);
}

static void dn_apply(struct dn *d, const char *doc, size_t len, uint64_t rev)
{
	char msg[300] = "";
	if (rev <= d->rev)
		return;
	if (d->workers) {
		dn_apply_workers(d, doc, len, rev);
		return;
	}
	int rc = proxy_engine_load(d->eng, doc, len, msg, sizeof msg);
	char q[320];
	if (rc < 0) {
		log_error("routing document refused; the running one stays",
			  "revision=%llu err=%s msg=%s", (unsigned long long)rev, err_name(rc),
			  log_q(q, sizeof q, msg));
		if (rc != -ERR_PROXY_TABLES_FULL && rc != -ERR_PROXY_LISTEN)
			d->rev = rev; /* do not ask for it again */
		return;
	}
	d->rev = rev;
	dn_healthy(d);
	char path[NODE_PATH_MAX];
	if (node_path(path, sizeof path, d->o->statedir, "routing.json") == 0 &&
	    (rc = pki_file_write_atomic(path, doc, len, 0600)) < 0)
		log_warn("cannot keep the routing document on disk", "err=%s", err_name(rc));
	log_info("routing document applied", "revision=%llu bytes=%zu", (unsigned long long)rev,
		 len);
}

/* "A <ACTIVE|PAUSE|DRAIN>": what `update-node --availability` set for this node. DRAIN: /ping
 * answers 503 so load balancers take the node out; traffic that still comes is served. PAUSE:
 * the control nodes send no new document (nothing to do here). */
static void dn_set_draining(struct dn *d, bool drain)
{
	if (d->workers)
		proxy_workers_set_draining(d->workers, drain);
	else if (d->mon)
		proxy_monitor_set_draining(d->mon, drain);
}

static bool dn_avail_line(struct dn *d, const char *v)
{
	enum cluster_avail av;
	if (cluster_avail_parse(slice_from_cstr(v), &av) < 0)
		return false;
	if (d->avail != (uint8_t)av) {
		log_info("availability", "availability=%s ping=%s", cluster_avail_str(av),
			 av == CLUSTER_AVAIL_DRAIN ? "503" : "200");
		/* Kept on disk, so a restarted node answers /ping as it should before its stream
		 * tells it again (a DRAINed node restarted must not look ready to a balancer). */
		char path[NODE_PATH_MAX], line[16];
		int n = snprintf(line, sizeof line, "%s\n", cluster_avail_str(av));
		if (node_path(path, sizeof path, d->o->statedir, "availability") == 0 &&
		    pki_file_write_atomic(path, line, (size_t)n, 0600) < 0)
			log_warn("cannot save the availability", "path=%s", path);
	}
	d->avail = (uint8_t)av;
	dn_set_draining(d, av == CLUSTER_AVAIL_DRAIN);
	return true;
}

/* The availability saved by the last A line, applied at start (before any stream). */
static void dn_avail_restore(struct dn *d)
{
	char path[NODE_PATH_MAX], line[16] = "";
	if (node_path(path, sizeof path, d->o->statedir, "availability") < 0)
		return;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	bool got = fgets(line, sizeof line, f) != NULL;
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	enum cluster_avail av;
	if (!got || cluster_avail_parse(slice_from_cstr(line), &av) < 0)
		return;
	d->avail = (uint8_t)av;
	dn_set_draining(d, av == CLUSTER_AVAIL_DRAIN);
	if (av != CLUSTER_AVAIL_ACTIVE)
		log_info("availability kept from the last run", "availability=%s ping=%s",
			 cluster_avail_str(av), av == CLUSTER_AVAIL_DRAIN ? "503" : "200");
}

static bool dn_line(struct dn *d)
{
	d->line[d->line_len] = '\0';
	if (d->line_len == 1 && d->line[0] == 'H')
		return true;
	if (d->line_len > 2 && d->line[0] == 'A' && d->line[1] == ' ')
		return dn_avail_line(d, d->line + 2);
	if (d->line_len > 2 && d->line[0] == 'P' && d->line[1] == ' ') {
		dn_peers_line(d, d->line + 2);
		return true;
	}
	unsigned long long rev, len;
	char extra;
	if (sscanf(d->line, "R %llu %llu%c", &rev, &len, &extra) == 2 && rev > 0) {
		if (len > d->lim.table.max_doc_bytes) {
			log_error("routing document over max_doc_bytes",
				  "revision=%llu bytes=%llu max_doc_bytes=%zu", rev, len,
				  d->lim.table.max_doc_bytes);
			return false;
		}
		d->in_doc = true;
		d->need = (size_t)len + 1;
		d->acc_len = 0;
		d->doc_rev = rev;
		return true;
	}
	return false;
}

static void dn_data(struct node_link *k, struct slice data, void *arg)
{
	struct dn *d = arg;
	const char *p = data.p;
	size_t n = data.len;
	uint64_t now = loop_now_ms(&d->loop);
	if (!d->open) {
		d->open = true;
		d->open_at = now;
		if (d->down_logged)
			log_info("routing stream open", "addr=%s after=%llu attempts=%u",
				 d->peers[d->cur], (unsigned long long)d->rev, d->fails);
		d->down_logged = false;
	} else if (d->fails && now - d->open_at >= DN_HEALTHY_MS) {
		dn_healthy(d);
	}
	while (n) {
		if (d->in_doc) {
			size_t take = n < d->need ? n : d->need;
			memcpy(d->acc + d->acc_len, p, take);
			d->acc_len += take;
			d->need -= take;
			p += take;
			n -= take;
			if (d->need == 0) {
				d->in_doc = false;
				if (d->acc[d->acc_len - 1] != '\n')
					goto bad;
				dn_apply(d, (const char *)d->acc, d->acc_len - 1, d->doc_rev);
			}
			continue;
		}
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		if (d->line_len + take >= sizeof d->line)
			goto bad;
		memcpy(d->line + d->line_len, p, take);
		d->line_len += take;
		p += take;
		n -= take;
		if (nl) {
			p++;
			n--;
			if (!dn_line(d))
				goto bad;
			d->line_len = 0;
		}
	}
	return;
bad:
	node_link_close(k);
	dn_schedule(d, true, "malformed routing stream; reconnecting", "");
}

static void dn_resp(struct node_link *k, int status, struct slice body, void *arg)
{
	struct dn *d = arg;
	char why[240];
	snprintf(why, sizeof why, "status %d: %.*s", status, (int)(body.len > 200 ? 200 : body.len),
		 body.p);
	node_link_close(k);
	/* 200: the server ended the stream (a newer document): the same node again, quickly. */
	dn_schedule(d, status != 200,
		    status != 200 ? "control node refused the routing stream" : NULL, why);
}

static void dn_err(struct node_link *k, int err, const char *why, void *arg)
{
	struct dn *d = arg;
	char w[256];
	snprintf(w, sizeof w, "%s: %s", err_name(err), why);
	dn_schedule(d, true, "routing stream lost; trying another control node", w);
}

/* --- health reports ------------------------------------------------------------------- */

static void dn_hr_add(void *arg, struct slice backend, struct slice url, bool up)
{
	nhr_write_server(arg, backend, url, up);
}

static void dn_hr_failed(struct dn *d, uint64_t wait_ms, const char *why)
{
	d->hr_wait_ms = wait_ms; /* the same body again after this; a change goes at once */
	if (!d->hr_failing)
		log_warn("health report not taken; retrying", "addr=%s why=%s", d->hr_link.addr,
			 why);
	d->hr_failing = true;
}

static void dn_hr_resp(struct node_link *k, int status, struct slice body, void *arg)
{
	struct dn *d = arg;
	if (status == 200) {
		if (d->hr_failing)
			log_info("health report taken", "addr=%s", k->addr);
		d->hr_failing = false;
		d->hr_wait_ms = NHR_PERIOD_MS;
		return;
	}
	char why[240];
	snprintf(why, sizeof why, "status %d: %.*s", status, (int)(body.len > 200 ? 200 : body.len),
		 body.p);
	/* It answered but refused (an older build, a node it does not know): the period. */
	dn_hr_failed(d, NHR_PERIOD_MS, why);
}

static void dn_hr_err(struct node_link *k, int err, const char *why, void *arg)
{
	dn_hr_failed(arg, NHR_DEBOUNCE_MS, err_name(err));
}

/* Every NHR_DEBOUNCE_MS: build the report; send it when it changed, when the last one
 * failed to reach a control node, or NHR_PERIOD_MS after the last one. Never waits. */
static void dn_hr_tick(struct loop *l, void *arg)
{
	struct dn *d = arg;
	if (d->stopping || !d->npeers || (d->hr_link.has_addr && !node_link_can_send(&d->hr_link)))
		return; /* a report in flight */
	struct buf b;
	struct nhr_writer w;
	buf_init(&b, d->hr_body, NHR_BODY_MAX);
	nhr_write_begin(&w, &b, d->rev);
	if (d->workers && d->hr_list) {
		for (uint32_t i = 0; i < d->hr_list->n; i++) {
			bool up = true; /* not judged yet: in rotation, as the workers have it */
			struct slice be = nhr_srv_backend(d->hr_list, i);
			struct slice url = nhr_srv_url(d->hr_list, i);
			if (proxy_workers_health_get(d->workers, be, url, &up) < 0)
				up = true;
			nhr_write_server(&w, be, url, up);
		}
		w.truncated |= d->hr_list->truncated;
	} else if (d->eng) {
		proxy_engine_health_each(d->eng, dn_hr_add, &w);
	}
	if (nhr_write_end(&w) < 0)
		return;
	uint64_t now = loop_now_ms(l);
	uint64_t sum = nhr_key(buf_slice(&b), (struct slice){"", 0});
	if (sum == d->hr_sum && d->hr_sent_at && now - d->hr_sent_at < d->hr_wait_ms)
		return;
	d->hr_sum = sum;
	d->hr_sent_at = now;
	d->hr_wait_ms = NHR_DEBOUNCE_MS; /* until the answer says otherwise */
	int rc = node_link_set_addr(&d->hr_link, d->peers[d->cur], NULL);
	if (rc == 0)
		rc = node_link_request(&d->hr_link, "POST", "/nodes/health",
				       "Content-Type: application/json\r\n", b.data, b.len);
	if (rc < 0)
		dn_hr_failed(d, NHR_DEBOUNCE_MS,
			     d->hr_link.errmsg[0] ? d->hr_link.errmsg : err_name(rc));
}

static void dn_signal(struct loop *l, int signo, void *arg)
{
	struct dn *d = arg;
	if (d->stopping)
		return;
	d->stopping = true;
	log_info("data node stopping", "signal=%d", signo);
	node_link_close(&d->link);
	loop_timer_cancel(&d->loop, d->retry);
	loop_timer_cancel(&d->loop, d->hr_timer);
	d->hr_timer = (struct loop_timer_id){0};
	if (d->hr_init)
		node_link_close(&d->hr_link);
	if (d->workers) {
		proxy_workers_stop(d->workers); /* /ping 503; loop_stop once all have drained */
		return;
	}
	proxy_monitor_set_draining(d->mon, true); /* /ping: 503 while draining */
	proxy_engine_shutdown(d->eng);            /* drains, then loop_stop */
}

/* SIGUSR1: the proxy's counters in the log (every worker's). */
static void dn_usr1(struct loop *l, int signo, void *arg)
{
	struct dn *d = arg;
	if (d->workers)
		proxy_workers_signal(d->workers, SIGUSR1);
	else if (d->eng)
		proxy_engine_log_stats(d->eng);
}

/* Renewal (node_renew.h): the control nodes in turn, from the one streaming to us. */
static const char *dn_renew_addr(void *arg, unsigned attempt)
{
	struct dn *d = arg;
	return d->npeers ? d->peers[(d->cur + attempt) % d->npeers] : NULL;
}

static const struct tls_client_config *dn_renewed(void *arg, const struct node_creds *cr)
{
	struct dn *d = arg;
	struct node_tls *t;
	char err[200];
	int rc = node_tls_build(cr, false, &t, err, sizeof err);
	if (rc < 0) {
		log_error("the renewed certificate is saved but cannot be used until a restart",
			  "err=%s msg=%s", err_name(rc), err);
		return NULL;
	}
	node_link_set_tls(&d->link, &t->cli); /* the next stream shows it */
	node_link_set_tls(&d->hr_link, &t->cli);
	node_tls_free(d->tls_old); /* handshakes with it ended long ago: node_renew.h */
	d->tls_old = d->tls;
	d->tls = t;
	d->creds = *cr;
	return &t->cli;
}

static uint64_t doc_revision(const char *doc, size_t len)
{
	const char *k = "\"revision\":";
	size_t kl = strlen(k);
	for (size_t i = 0; i + kl < len && i < 256; i++)
		if (memcmp(doc + i, k, kl) == 0)
			return strtoull(doc + i + kl, NULL, 10);
	return 0;
}

/* --workers=N > 1: the workers serve <statedir>/routing.json (the last good document, when
 * there is one: its revision is the one this node asks the control nodes to go past). */
static int dn_start_workers(struct dn *d, int al_fd, char *err, size_t cap)
{
	char msg[300] = "";
	struct buf b;
	buf_init(&b, d->acc, d->lim.table.max_doc_bytes);
	if (pki_file_read(d->routing_path, &b) == 0 && b.len) {
		int rc = proxy_engine_check_doc(&d->lim, (const char *)d->acc, b.len, msg,
						sizeof msg);
		if (rc == 0) {
			d->rev = doc_revision((const char *)d->acc, b.len);
			dn_hr_doc(d, (const char *)d->acc, b.len);
			log_info("the workers serve the routing document kept on disk",
				 "revision=%llu bytes=%zu", (unsigned long long)d->rev, b.len);
		} else {
			char q[320];
			log_warn("the routing document kept on disk is refused", "err=%s msg=%s",
				 err_name(rc), log_q(q, sizeof q, msg));
		}
	}
	struct proxy_workers_config wc = {
		.loop = &d->loop,
		.lim = &d->lim,
		.routing = d->routing_path,
		.routing_optional = true,
		.access_log_fd = al_fd,
		.metrics_listen = d->o->metrics_listen,
	};
	int rc = proxy_workers_start(&wc, &d->workers, msg, sizeof msg);
	if (rc < 0) {
		snprintf(err, cap, "%s", msg);
		return rc;
	}
	return 0;
}

static int dn_start(struct dn *d, char *err, size_t cap)
{
	struct node_opts *o = d->o;
	int rc;
	d->lock_fd = node_dir_lock(o->statedir, err, cap);
	if (d->lock_fd < 0)
		return d->lock_fd;
	if ((rc = rand_init_os(&d->rng)) < 0) {
		snprintf(err, cap, "no entropy");
		return rc;
	}
	rc = node_ident_load(o->statedir, &d->ident, err, cap);
	if (rc == 0) {
		if (d->ident.role != CLUSTER_ROLE_DATA) {
			snprintf(err, cap, "%s belongs to a control node, not a data node",
				 o->statedir);
			return -ERR_INVAL;
		}
		if ((rc = node_creds_load(o->statedir, &d->creds)) < 0) {
			snprintf(err, cap, "cannot read the node's certificate in %s: %s",
				 o->statedir, err_str(rc));
			return rc;
		}
		log_info("resuming from the state directory", "node=%s statedir=%s",
			 d->ident.node_id, o->statedir);
	} else if (rc == -ERR_NOTFOUND) {
		static struct node_join_result jr;
		if ((rc = node_join(o, o->token, CLUSTER_ROLE_DATA, &jr, err, cap)) < 0)
			return rc;
		snprintf(d->ident.cluster_id, sizeof d->ident.cluster_id, "%s", jr.cluster_id);
		snprintf(d->ident.cluster_name, sizeof d->ident.cluster_name, "%s",
			 jr.cluster_name);
		snprintf(d->ident.node_id, sizeof d->ident.node_id, "%s", jr.node_id);
		snprintf(d->ident.name, sizeof d->ident.name, "%s", o->name);
		d->ident.role = CLUSTER_ROLE_DATA;
		d->creds = jr.creds;
		for (size_t i = 0; i < jr.npeers; i++)
			dn_add_peer(d, jr.peers[i]);
		if ((rc = node_creds_save(o->statedir, &d->creds)) < 0) {
			snprintf(err, cap, "cannot write to %s: %s", o->statedir, err_str(rc));
			return rc;
		}
	} else {
		return rc;
	}
	for (size_t i = 0; i < o->npeers; i++)
		dn_add_peer(d, o->peers[i]);
	for (size_t i = 0; i < d->ident.npeers; i++)
		dn_add_peer(d, d->ident.peers[i]);
	dn_save_peers(d);

	/* TLS: our certificate, the cluster CA. */
	if ((rc = node_tls_build(&d->creds, false, &d->tls, err, cap)) < 0)
		return rc;

	bool many = d->lim.workers > 1; /* this process is the workers' master, not a proxy */
	struct loop_config lc = {0};
	if (many) { /* the routing stream, /metrics, the workers */
		lc.max_fds = 64 + PROXY_MONITOR_CLIENTS;
		lc.max_timers = 64 + PROXY_MONITOR_CLIENTS + PROXY_WORKERS_MAX;
		lc.max_events = 64;
		lc.max_children = d->lim.workers;
	} else {
		lc.max_fds = d->lim.max_conns + d->lim.max_upstream_conns +
			     d->lim.max_health_checks + 128;
		lc.max_timers = lc.max_fds + d->lim.max_tables * d->lim.table.max_backends + 64;
		lc.max_events = 512;
	}
	if ((rc = node_path(d->routing_path, sizeof d->routing_path, o->statedir, "routing.json")) <
	    0) {
		snprintf(err, cap, "--statedir is too long");
		return rc;
	}
	if ((rc = loop_init(&d->loop, &lc)) < 0) {
		snprintf(err, cap, "event loop: %s", err_str(rc));
		return rc;
	}
	struct proxy_engine_config pc = {0};
	pc.loop = &d->loop;
	pc.lim = &d->lim;
	pc.access_log_fd = -1;
	if (o->accesslog_path) {
		d->al_fd = open(o->accesslog_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (d->al_fd < 0) {
			snprintf(err, cap, "--accesslog.filepath=%s: %s", o->accesslog_path,
				 strerror(errno));
			return -ERR_USAGE;
		}
		pc.access_log_fd = d->al_fd;
	} else if (o->accesslog) {
		pc.access_log_fd = 1;
	}
	pc.server_name = NULL;
	/* Several data nodes on one machine share the entry point ports (DESIGN.md, "Several
	 * nodes on one machine"); the kernel spreads the connections between them. */
	pc.reuse_port = true;
	char msg[300] = "";
	d->acc = malloc(d->lim.table.max_doc_bytes + 2);
	if (!d->acc)
		return -ERR_NOMEM;
	d->hr_body = malloc(NHR_BODY_MAX);
	if (!d->hr_body)
		return -ERR_NOMEM;
	if (many) {
		d->hr_list = malloc(sizeof *d->hr_list);
		d->hr_toks = malloc((size_t)d->lim.table.max_tokens * sizeof *d->hr_toks);
		if (!d->hr_list || !d->hr_toks)
			return -ERR_NOMEM;
		d->hr_list->n = 0;
		if ((rc = dn_start_workers(d, pc.access_log_fd, err, cap)) < 0)
			return rc;
	} else if ((rc = proxy_engine_create(&pc, &d->eng, msg, sizeof msg)) < 0) {
		snprintf(err, cap, "proxy engine: %s", msg[0] ? msg : err_str(rc));
		return rc;
	}
	if (o->metrics_listen && !many) {
		d->mon_parts[0] = proxy_engine_metrics(d->eng);
		struct proxy_monitor_config mc = {
			.loop = &d->loop,
			.addr = o->metrics_listen,
			.parts = d->mon_parts,
			.nparts = 1,
			.max_text = proxy_monitor_text_bytes(d->lim.max_metric_series),
		};
		if ((rc = proxy_monitor_start(&mc, &d->mon, msg, sizeof msg)) < 0) {
			snprintf(err, cap, "--metrics.listen=%s: %s", o->metrics_listen, msg);
			return rc;
		}
		log_info("metrics listening", "addr=%s port=%d", o->metrics_listen,
			 proxy_monitor_port(d->mon));
	}

	/* The last good document: serve it before talking to anyone. */
	struct buf b;
	buf_init(&b, d->acc, d->lim.table.max_doc_bytes);
	if (!many && pki_file_read(d->routing_path, &b) == 0 && b.len) {
		uint64_t rev = doc_revision((const char *)d->acc, b.len);
		rc = proxy_engine_load(d->eng, (const char *)d->acc, b.len, msg, sizeof msg);
		if (rc == 0) {
			d->rev = rev;
			log_info("serving the routing document kept on disk",
				 "revision=%llu bytes=%zu", (unsigned long long)rev, b.len);
		} else {
			char q[320];
			log_warn("the routing document kept on disk is refused", "err=%s msg=%s",
				 err_name(rc), log_q(q, sizeof q, msg));
		}
	}

	struct node_link_config kc = {
		.loop = &d->loop,
		.rng = &d->rng,
		.tls = &d->tls->cli,
		.out_cap = 4096,
		.in_cap = 64 << 10,
		.connect_timeout_ms = 3000,
		.response_timeout_ms = 10000,
		.stream_idle_ms = 5000,
		.on_resp = dn_resp,
		.on_data = dn_data,
		.on_err = dn_err,
		.arg = d,
	};
	if ((rc = node_link_init(&d->link, &kc)) < 0)
		return rc;
	d->link_init = true;
	struct node_link_config hc = {
		.loop = &d->loop,
		.rng = &d->rng,
		.tls = &d->tls->cli,
		.out_cap = NHR_BODY_MAX + 1024,
		.in_cap = 4096,
		.connect_timeout_ms = 3000,
		.response_timeout_ms = 5000,
		.on_resp = dn_hr_resp,
		.on_err = dn_hr_err,
		.arg = d,
	};
	if ((rc = node_link_init(&d->hr_link, &hc)) < 0)
		return rc;
	d->hr_init = true;
	loop_timer_every(&d->loop, NHR_DEBOUNCE_MS, NHR_DEBOUNCE_MS, dn_hr_tick, d, &d->hr_timer);
	struct node_renew_config rc_cfg = {
		.loop = &d->loop,
		.rng = &d->rng,
		.statedir = o->statedir,
		.node_id = d->ident.node_id,
		.role = CLUSTER_ROLE_DATA,
		.addr = dn_renew_addr,
		.on_renewed = dn_renewed,
		.arg = d,
	};
	if ((rc = node_renew_start(&d->renew, &rc_cfg, &d->creds, &d->tls->cli)) < 0) {
		snprintf(err, cap, "the node certificate: %s", err_str(rc));
		return rc;
	}
	loop_signal_add(&d->loop, SIGTERM, dn_signal, d);
	loop_signal_add(&d->loop, SIGINT, dn_signal, d);
	loop_signal_add(&d->loop, SIGUSR1, dn_usr1, d);
	d->down_logged = true; /* log the first stream that opens */
	dn_avail_restore(d);
	dn_connect(d);
	return 0;
}

int node_data_run(struct node_opts *o)
{
	static struct dn d;
	char err[512] = "";
	memset(&d, 0, sizeof d);
	d.o = o;
	d.lock_fd = -1;
	d.al_fd = -1;
	proxy_dp_limits_default(&d.lim);
	for (size_t i = 0; i < o->nlimits; i++) {
		char name[64];
		const char *eq = strchr(o->limits[i], '=');
		size_t nl = (size_t)(eq - o->limits[i]);
		if (nl >= sizeof name) {
			fprintf(stderr, "traefikee: --limit %s: unknown limit\n", o->limits[i]);
			return 2;
		}
		memcpy(name, o->limits[i], nl);
		name[nl] = 0;
		int lr = proxy_dp_limits_set(&d.lim, name, eq + 1);
		if (lr < 0) {
			fprintf(stderr, "traefikee: --limit %s: %s\n", o->limits[i],
				lr == -ERR_NOTFOUND ? "unknown limit (see --print-limits)"
						    : "bad value");
			return 2;
		}
	}
	char lmsg[200];
	if (proxy_dp_limits_check(&d.lim, lmsg, sizeof lmsg) < 0) {
		fprintf(stderr, "traefikee: --limit: %s\n", lmsg);
		return 2;
	}
	node_daemon_signals();
	if (o->print_limits) {
		struct proxy_mem_sizes sz;
		struct proxy_mem_report rep;
		static char text[8192];
		struct buf tb;
		proxy_engine_mem_sizes(&d.lim, &sz);
		proxy_dp_limits_memory(&d.lim, &sz, &rep);
		buf_init(&tb, text, sizeof text);
		proxy_dp_limits_format(&d.lim, &rep, &tb);
		if (o->metrics_listen)
			proxy_monitor_limits_line(&tb, o->metrics_listen, d.lim.max_metric_series);
		fwrite(text, 1, tb.len, stdout);
		return 0;
	}
	{ /* the worst-case memory these limits allow, before anything is allocated */
		struct proxy_mem_sizes sz;
		struct proxy_mem_report rep;
		proxy_engine_mem_sizes(&d.lim, &sz);
		proxy_dp_limits_memory(&d.lim, &sz, &rep);
		log_info("proxy memory at most (--print-limits has the table)",
			 "per_worker_mib=%zu workers=%u total_mib=%zu max_conns=%u",
			 (rep.total + (1u << 20) - 1) >> 20, d.lim.workers,
			 ((rep.total + (1u << 20) - 1) >> 20) * d.lim.workers, d.lim.max_conns);
	}
	int rc = dn_start(&d, err, sizeof err);
	int code = 0;
	if (rc < 0) {
		fprintf(stderr, "traefikee: %s\n", err[0] ? err : err_str(rc));
		code = rc == -ERR_USAGE ? 2 : 1;
	} else {
		log_info("data node started", "node=%s name=%s cluster=%s peers=%zu",
			 d.ident.node_id, d.ident.name, d.ident.cluster_name, d.npeers);
		rc = loop_run(&d.loop);
		if (rc < 0)
			code = 1;
		log_info("data node stopped", "status=%d", code);
	}
	node_renew_stop(&d.renew); /* before loop_fini: it cancels its timer */
	if (d.link_init)
		node_link_fini(&d.link);
	if (d.hr_init)
		node_link_fini(&d.hr_link);
	free(d.hr_body);
	free(d.hr_list);
	free(d.hr_toks);
	proxy_workers_destroy(d.workers);
	proxy_monitor_stop(d.mon);
	if (d.eng)
		proxy_engine_destroy(d.eng);
	if (d.loop.mem)
		loop_fini(&d.loop);
	free(d.acc);
	node_tls_free(d.tls);
	node_tls_free(d.tls_old);
	pki_wipe(&d.creds, sizeof d.creds);
	if (d.lock_fd >= 0)
		close(d.lock_fd);
	if (d.al_fd >= 0)
		close(d.al_fd);
	return code;
}
