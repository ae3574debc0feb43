/* proxy_workers.h — a data node's worker processes: each an engine on its own loop, all
 * serving one routing document file, supervised by a master.
 *
 * Contract
 *   The master is the caller's process and loop. proxy_workers_start maps what the workers
 *   share (made before they fork, MAP_SHARED|MAP_ANONYMOUS, so nothing is copied and the
 *   master reads it live):
 *     - one metrics registry per worker: the master's --metrics.listen renders their sum;
 *     - the access log's request count, so lines number the node's requests 1, 2, 3 ...;
 *     - the digest-auth nonce key, so a nonce from one worker verifies at another;
 *     - the rateLimit table (proxy_ratelimit.h, shared mode), so a limit holds for the
 *       node, not per worker;
 *     - with more than one worker, the backends' maxConn counts (proxy_maxconn.h: totals
 *       per (backend name, key) and each worker slot's holdings), so a maxConn bounds the
 *       node's open requests. When a worker ends, the master subtracts what it held from the
 *       totals (proxy_mc_reap) before its replacement can start;
 *     - with more than one worker, the health board (proxy_healthboard.h): the worker in
 *       slot 0 probes the servers and writes its verdicts there, the others do not probe and
 *       follow them. A prober that dies is restarted in slot 0 like any worker; meanwhile the
 *       board keeps its last verdicts and the others keep following them.
 *   Then it forks lim->workers workers. A worker closes every descriptor it inherited except
 *   0..2 and the access log, builds its own loop and engine (SO_REUSEPORT listeners: the
 *   kernel spreads connections over the workers), loads cfg.routing, and serves until
 *   SIGTERM/SIGINT, which drain it (grace timeout). It also stops (draining) when the
 *   master dies (PR_SET_PDEATHSIG).
 *
 *   Reload: proxy_workers_signal(SIGHUP) makes every worker re-read cfg.routing and swap to
 *   it (proxy_engine_load; a refused document changes nothing). A document refused for a
 *   cause that passes (the engine's tables are all held by draining requests, or a listener
 *   cannot bind yet) is retried by the worker 1 s later, then 2, 4 ... up to 30 s, until it
 *   applies or a newer reload comes. SIGUSR1: every worker logs its counters.
 *
 *   Supervision: a worker that ends while the set is not stopping is logged and started
 *   again, 1 s later (a timer: the master's loop keeps serving meanwhile), 2 s if it dies
 *   again within 10 s of its start, doubling up to 30 s.
 *
 *   proxy_workers_stop sends SIGTERM to every worker; /ping answers 503 from then on. When
 *   the last worker is gone, cfg.on_stopped runs (or, when it is NULL, loop_stop).
 *
 *   proxy_workers_run_one is the single-process form (no master): one engine on a new loop
 *   in the calling process, with --metrics.listen served by it; it returns when a stop
 *   signal has drained it.
 */
#ifndef PROXY_WORKERS_H
#define PROXY_WORKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop/loop.h"
#include "proxy/proxy_limits.h"

#define PROXY_WORKERS_MAX 64

struct proxy_workers;

struct proxy_workers_config {
	struct loop *loop;                 /* the master's; max_children >= lim->workers */
	const struct proxy_dp_limits *lim; /* copied; lim->workers processes */
	const char *routing;               /* the routing document file; outlives the set */
	/* false: a worker whose first load fails exits 1 (standalone: the file was checked
	 * before). true: it serves nothing until a reload brings a document (a cluster data
	 * node before its first document). */
	bool routing_optional;
	int access_log_fd;          /* -1: none */
	const char *metrics_listen; /* GET /metrics (the sum), /ping; NULL: none */
	void (*on_stopped)(struct loop *l, void *arg);
	void *arg;
};

/* Map the shared memory, start --metrics.listen on cfg.loop, fork the workers. 0, or an
 * error with the detail in msg (nothing is left running). */
int proxy_workers_start(const struct proxy_workers_config *cfg, struct proxy_workers **out,
			char *msg, size_t cap);

/* SIGHUP (re-read the document) or SIGUSR1 (log counters) to every live worker. */
void proxy_workers_signal(struct proxy_workers *w, int signo);

/* Stop: SIGTERM to every worker, no restarts, /ping 503; on_stopped once all are gone. */
void proxy_workers_stop(struct proxy_workers *w);
/* A node set to DRAIN (update-node): /ping answers 503 while on; the workers keep serving. */
void proxy_workers_set_draining(struct proxy_workers *w, bool on);

/* Workers running now. */
uint32_t proxy_workers_alive(const struct proxy_workers *w);

/* Process id of worker i (0 while it is being restarted). */
int proxy_workers_pid(const struct proxy_workers *w, uint32_t i);

/* Free the set (after on_stopped, or before the loop ends: live workers get SIGTERM). */
void proxy_workers_destroy(struct proxy_workers *w);

/* One engine in this process on a new loop, serving cfg.routing until SIGTERM/SIGINT drain
 * it (cfg.loop and cfg.on_stopped are not used). Returns the exit status: 0, or 1. */
int proxy_workers_run_one(const struct proxy_workers_config *cfg);

/* Read a routing document file of at most max bytes into a malloc'd, NUL-terminated
 * buffer. 0, -ERR_NOTFOUND (cannot open), -ERR_PROXY_DOC_TOO_LARGE, -ERR_IO; msg says why. */
int proxy_workers_read_doc(const char *path, size_t max, char **out, size_t *len, char *msg,
			   size_t cap);

/* The master: the health board's last verdict for server url of backend (the prober's,
 * proxy_healthboard.h). 0 and *up, -ERR_NOTFOUND (not judged yet, or a write racing this
 * read), -ERR_INVAL (one worker: no board). Read-only. */
int proxy_workers_health_get(const struct proxy_workers *w, struct slice backend, struct slice url,
			     bool *up);

#endif
