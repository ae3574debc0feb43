/* proxy_workers.c — worker processes of a data node and their master (proxy_workers.h). */
#include "proxy/proxy_workers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base_err.h"
#include "base/base_log.h"
#include "base/base_rand.h"
#include "base/base_time.h"
#include "proxy/proxy_breaker.h"
#include "proxy/proxy_breaker_shared.h"
#include "proxy/proxy_engine.h"
#include "proxy/proxy_healthboard.h"
#include "proxy/proxy_maxconn.h"
#include "proxy/proxy_metrics.h"
#include "proxy/proxy_monitor.h"
#include "proxy/proxy_ratelimit.h"

/* Reload retries after a transient refusal, and restarts of a dying worker: first delay,
 * cap. A worker that lived this long before dying restarts after the first delay again. */
#define PW_RETRY_FIRST_MS 1000u
#define PW_RETRY_MAX_MS 30000u
#define PW_STABLE_MS 10000u

static void set_msg(char *msg, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_msg(char *msg, size_t cap, const char *fmt, ...)
{
	if (!msg || !cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, cap, fmt, ap);
	va_end(ap);
}

int proxy_workers_read_doc(const char *path, size_t max, char **out, size_t *len, char *msg,
			   size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		set_msg(msg, cap, "%s", strerror(errno));
		return -ERR_NOTFOUND;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size > max) {
		close(fd);
		set_msg(msg, cap, "over max_doc_bytes (%zu)", max);
		return -ERR_PROXY_DOC_TOO_LARGE;
	}
	char *p = malloc((size_t)st.st_size + 1);
	size_t n = 0;
	while (p && n < (size_t)st.st_size) {
		ssize_t r = read(fd, p + n, (size_t)st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!p || n != (size_t)st.st_size) {
		free(p);
		set_msg(msg, cap, "read failed");
		return -ERR_IO;
	}
	p[n] = 0;
	*out = p;
	*len = n;
	return 0;
}

/* ---- one worker ------------------------------------------------------------------------ */

/* What a worker shares with the others (NULL/0 for a worker alone). */
struct pw_shared {
	struct proxy_metrics *metrics; /* this worker's registry in the shared mapping */
	uint64_t *al_count;
	const uint8_t *auth_key;
	void *rl;
	size_t rl_len;
	const uint64_t *rl_key;
	void *mc; /* the maxConn counts (proxy_maxconn.h), mc_len bytes; this worker's slot */
	size_t mc_len;
	const uint64_t *mc_key;
	uint32_t mc_slot;
	void *hb; /* the health board (proxy_healthboard.h), hb_len bytes; slot 0 probes */
	size_t hb_len;
	const uint64_t *hb_key;
	void *cb; /* the circuit breakers (proxy_breaker_shared.h), cb_len bytes, or NULL */
	size_t cb_len;
	const uint64_t *cb_key;
};

struct pw_worker {
	struct loop loop;
	struct proxy_engine *eng;
	struct proxy_monitor *mon; /* a worker alone serves --metrics.listen itself */
	const struct proxy_workers_config *cfg;
	struct loop_timer_id retry;
	uint32_t retry_ms;    /* next retry delay after a transient refusal; 0: none pending */
	struct proxy_cbs cbs; /* this worker's view of the node's breakers (cbs.head: attached) */
};

static bool transient(int rc)
{
	return rc == -ERR_PROXY_TABLES_FULL || rc == -ERR_PROXY_LISTEN;
}

static void pw_retry_cb(struct loop *l, void *arg);

/* Load cfg.routing. first: the load at start (a missing file is quiet when optional). */
static int pw_reload(struct pw_worker *w, bool first)
{
	const struct proxy_workers_config *cfg = w->cfg;
	char msg[300];
	char *doc = NULL;
	size_t len = 0;
	int rc = proxy_workers_read_doc(cfg->routing, cfg->lim->table.max_doc_bytes, &doc, &len,
					msg, sizeof msg);
	if (rc == -ERR_NOTFOUND && first && cfg->routing_optional) {
		log_info("no routing document yet; serving nothing until one comes", "file=%s",
			 cfg->routing);
		return 0;
	}
	if (rc == 0)
		rc = proxy_engine_load(w->eng, doc, len, msg, sizeof msg);
	free(doc);
	loop_timer_cancel(&w->loop, w->retry);
	if (rc < 0) {
		char q[320];
		bool again = transient(rc);
		if (again) {
			w->retry_ms = (uint32_t)time_backoff_next(w->retry_ms, PW_RETRY_FIRST_MS,
								  PW_RETRY_MAX_MS);
			loop_timer_add(&w->loop, w->retry_ms, pw_retry_cb, w, &w->retry);
		} else {
			w->retry_ms = 0;
		}
		log_error(again ? "routing document refused for now; the running one stays, "
				  "retrying"
				: "routing document refused; the running one stays",
			  "file=%s err=%s msg=%s retry_ms=%u", cfg->routing, err_name(rc),
			  log_q(q, sizeof q, msg), again ? w->retry_ms : 0);
		return rc;
	}
	w->retry_ms = 0;
	log_info("routing document applied", "file=%s revision=%llu", cfg->routing,
		 (unsigned long long)proxy_engine_revision(w->eng));
	return 0;
}

static void pw_retry_cb(struct loop *l, void *arg)
{
	(void)l;
	pw_reload(arg, false);
}

static void pw_signal(struct loop *l, int signo, void *arg)
{
	(void)l;
	struct pw_worker *w = arg;
	if (signo == SIGHUP) {
		w->retry_ms = 0;
		pw_reload(w, false);
	} else if (signo == SIGUSR1) {
		proxy_engine_log_stats(w->eng);
	} else {
		loop_timer_cancel(&w->loop, w->retry);
		proxy_monitor_set_draining(w->mon, true);
		proxy_engine_shutdown(w->eng);
	}
}

/* Start --metrics.listen on l over parts[0..n): 0, or -1 after a log line. */
static int pw_monitor(const struct proxy_workers_config *cfg, struct loop *l,
		      const struct proxy_metrics *const *parts, size_t n,
		      struct proxy_monitor **out)
{
	if (!cfg->metrics_listen)
		return 0;
	struct proxy_monitor_config mc = {
		.loop = l,
		.addr = cfg->metrics_listen,
		.parts = parts,
		.nparts = n,
		.max_text = proxy_monitor_text_bytes(cfg->lim->max_metric_series),
	};
	char msg[300];
	int rc = proxy_monitor_start(&mc, out, msg, sizeof msg);
	if (rc < 0) {
		char q[320];
		log_error("--metrics.listen", "err=%s msg=%s", err_name(rc),
			  log_q(q, sizeof q, msg));
		return -1;
	}
	log_info("metrics listening", "addr=%s port=%d", cfg->metrics_listen,
		 proxy_monitor_port(*out));
	return 0;
}

static int pw_loop_init(struct loop *l, const struct proxy_dp_limits *lim)
{
	struct loop_config lc = {0};
	lc.max_fds = lim->max_conns + lim->max_upstream_conns + lim->max_health_checks +
		     lim->max_forward_auth + 128;
	lc.max_timers = lc.max_fds + lim->max_tables * lim->table.max_backends + 64;
	if (lc.max_timers > LOOP_CAP_MAX)
		lc.max_timers = LOOP_CAP_MAX;
	lc.max_events = 512;
	return loop_init(l, &lc);
}

/* Run one worker until a stop signal drains it. sh: what it shares with other workers
 * (NULL: alone, serving --metrics.listen itself). Returns the exit status. */
static int pw_worker_run(const struct proxy_workers_config *cfg, const struct pw_shared *sh)
{
	struct pw_worker *w = calloc(1, sizeof *w);
	if (!w)
		return 1;
	w->cfg = cfg;
	int rc = pw_loop_init(&w->loop, cfg->lim);
	if (rc < 0) {
		log_error("event loop", "err=%s", err_name(rc));
		free(w);
		return 1;
	}
	struct proxy_engine_config ec = {0};
	ec.loop = &w->loop;
	ec.lim = cfg->lim;
	ec.access_log_fd = cfg->access_log_fd;
	if (sh) {
		ec.metrics = sh->metrics;
		ec.shared_requests = sh->al_count;
		ec.auth_key = sh->auth_key;
		ec.rl_shared = sh->rl;
		ec.rl_shared_bytes = sh->rl_len;
		ec.rl_key[0] = sh->rl_key[0];
		ec.rl_key[1] = sh->rl_key[1];
		ec.mc_shared = sh->mc;
		ec.mc_shared_bytes = sh->mc_len;
		ec.mc_key[0] = sh->mc_key[0];
		ec.mc_key[1] = sh->mc_key[1];
		ec.mc_slot = sh->mc_slot;
		ec.hb_shared = sh->hb;
		ec.hb_shared_bytes = sh->hb_len;
		ec.hb_key[0] = sh->hb_key[0];
		ec.hb_key[1] = sh->hb_key[1];
		ec.reuse_port = true;
	}
	char msg[300];
	/* The node's circuit breakers: every table this worker builds takes handles to them
	 * (proxy_breaker_gen_build), keyed by the load epoch the master hands out. */
	if (sh && sh->cb) {
		rc = proxy_cbs_attach(&w->cbs, sh->cb, sh->cb_len, cfg->lim->table.max_backends,
				      cfg->lim->max_tables, sh->mc_slot, sh->cb_key[0],
				      sh->cb_key[1]);
		if (rc < 0) {
			log_error("shared circuit breakers", "err=%s", err_name(rc));
			loop_fini(&w->loop);
			free(w);
			return 1;
		}
		proxy_breaker_use_shared(&w->cbs);
	}
	rc = proxy_engine_create(&ec, &w->eng, msg, sizeof msg);
	if (rc < 0) {
		char q[320];
		log_error("proxy engine", "err=%s msg=%s", err_name(rc), log_q(q, sizeof q, msg));
		proxy_breaker_use_shared(NULL);
		proxy_cbs_detach(&w->cbs);
		loop_fini(&w->loop);
		free(w);
		return 1;
	}
	if (sh && sh->hb)
		log_info(sh->mc_slot == 0 ? "health checks: this worker probes for the node"
					  : "health checks: this worker follows the probing worker",
			 "worker=%u pid=%d", sh->mc_slot, (int)getpid());
	int status = 0;
	const struct proxy_metrics *mine[1] = {proxy_engine_metrics(w->eng)};
	if ((pw_reload(w, true) < 0 && !cfg->routing_optional) ||
	    (!sh && pw_monitor(cfg, &w->loop, mine, 1, &w->mon) < 0)) {
		status = 1;
	} else {
		loop_signal_add(&w->loop, SIGHUP, pw_signal, w);
		loop_signal_add(&w->loop, SIGTERM, pw_signal, w);
		loop_signal_add(&w->loop, SIGINT, pw_signal, w);
		loop_signal_add(&w->loop, SIGUSR1, pw_signal, w);
		if (loop_run(&w->loop) < 0)
			status = 1;
	}
	proxy_monitor_stop(w->mon);
	proxy_engine_destroy(w->eng); /* its tables give their breaker handles back */
	proxy_breaker_use_shared(NULL);
	proxy_cbs_detach(&w->cbs);
	loop_fini(&w->loop);
	free(w);
	return status;
}

int proxy_workers_run_one(const struct proxy_workers_config *cfg)
{
	return pw_worker_run(cfg, NULL);
}

/* ---- the master ------------------------------------------------------------------------ */

struct pw_slot {
	struct proxy_workers *set;
	uint32_t i;
	pid_t pid;        /* 0: not running */
	uint64_t started; /* loop ms */
	uint32_t backoff; /* next restart delay */
	struct loop_timer_id restart;
};

struct proxy_workers {
	struct proxy_workers_config cfg;
	struct proxy_dp_limits lim;
	unsigned char *shm; /* nw registries of ms bytes */
	size_t ms, shm_len;
	uint64_t *al_count; /* its own page; NULL with one worker */
	uint8_t auth_key[32];
	void *rl; /* the rateLimit table (proxy_rl_init_shared), rl_len bytes */
	size_t rl_len;
	uint64_t rl_key[2];
	/* The node's maxConn counts (proxy_maxconn.h), mc_len bytes, NULL with one worker; mc
	 * is the master's view (proxy_mc_reap of a dead worker's holdings). */
	void *mc_mem;
	size_t mc_len;
	uint64_t mc_key[2];
	struct proxy_mc mc;
	/* The node's health verdicts (proxy_healthboard.h), hb_len bytes, NULL with one worker:
	 * the worker in slot 0 probes and writes them, the others follow. The master does not
	 * touch it: a prober that dies leaves its last verdicts, which the others keep. */
	void *hb_mem;
	size_t hb_len;
	uint64_t hb_key[2];
	/* The node's circuit breakers (proxy_breaker_shared.h), cb_len bytes, NULL with one
	 * worker: the tail of the health board's mapping (hb_mem + hb_board_len; hb_len covers
	 * both, so one munmap frees both). cbs is the master's view: it advances the load epoch
	 * before forwarding a reload, and clears a dead worker's references (proxy_cbs_reap). */
	size_t hb_board_len;
	void *cb_mem;
	size_t cb_len;
	uint64_t cb_key[2];
	struct proxy_cbs cbs;
	struct proxy_metrics *parts[PROXY_WORKERS_MAX];
	struct proxy_monitor *mon;
	struct pw_slot slot[PROXY_WORKERS_MAX];
	pid_t self;
	uint32_t alive;
	bool stopping, stopped;
};

/* In a new worker: close every descriptor inherited from the master but 0..2 and keep (the
 * master's epoll and signalfd, its listeners, its control-node connection ...). A kept
 * socket would outlive the master's close of it, and an inherited one registered in the
 * master's epoll would keep reporting there. */
static void pw_close_inherited(int keep)
{
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		int self = dirfd(d);
		int fds[256];
		for (;;) {
			/* Collect a batch, then close: closing while reading the directory skips
			 * entries. */
			size_t n = 0;
			struct dirent *de;
			while (n < sizeof fds / sizeof fds[0] && (de = readdir(d))) {
				int fd = atoi(de->d_name);
				if (fd > 2 && fd != keep && fd != self)
					fds[n++] = fd;
			}
			for (size_t k = 0; k < n; k++)
				close(fds[k]);
			if (n < sizeof fds / sizeof fds[0])
				break;
			rewinddir(d);
		}
		closedir(d);
		return;
	}
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 1 << 20)
		max = 1 << 20;
	for (int fd = 3; fd < max; fd++)
		if (fd != keep)
			close(fd);
}

static void pw_child(struct loop *l, pid_t pid, int status, void *arg);

static int pw_spawn(struct proxy_workers *w, uint32_t i)
{
	struct pw_slot *s = &w->slot[i];
	/* The worker starts with its stop and reload signals blocked, whatever the master's
	 * mask: they wait (pending) for the worker's own loop instead of killing it first. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	pid_t pid = fork();
	int err = errno;
	if (pid != 0)
		sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		log_error("cannot start a worker", "err=%s", strerror(err));
		errno = err;
		return -ERR_SYS;
	}
	if (pid == 0) {
		/* A worker does not outlive its master: it drains and stops when the master goes
		 * (SIGTERM, pending until the worker's loop takes it). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != w->self)
			_exit(0);
		pw_close_inherited(w->cfg.access_log_fd);
		struct pw_shared sh = {
			.metrics = w->parts[i],
			.al_count = w->al_count,
			.auth_key = w->auth_key,
			.rl = w->rl,
			.rl_len = w->rl_len,
			.rl_key = w->rl_key,
			.mc = w->mc_mem,
			.mc_len = w->mc_len,
			.mc_key = w->mc_key,
			.mc_slot = i,
			.hb = w->hb_mem,
			.hb_len = w->hb_board_len,
			.hb_key = w->hb_key,
			.cb = w->cb_mem,
			.cb_len = w->cb_len,
			.cb_key = w->cb_key,
		};
		_exit(pw_worker_run(&w->cfg, &sh));
	}
	s->pid = pid;
	s->started = loop_now_ms(w->cfg.loop);
	w->alive++;
	loop_child_add(w->cfg.loop, pid, pw_child, w);
	return 0;
}

static void pw_restart_cb(struct loop *l, void *arg)
{
	(void)l;
	struct pw_slot *s = arg;
	struct proxy_workers *w = s->set;
	if (w->stopping || s->pid)
		return;
	if (pw_spawn(w, s->i) < 0) { /* fork failed: try again later */
		s->backoff =
			(uint32_t)time_backoff_next(s->backoff, PW_RETRY_FIRST_MS, PW_RETRY_MAX_MS);
		loop_timer_add(w->cfg.loop, s->backoff, pw_restart_cb, s, &s->restart);
	}
}

static void pw_finish(struct proxy_workers *w)
{
	if (w->stopped)
		return;
	w->stopped = true;
	if (w->cfg.on_stopped)
		w->cfg.on_stopped(w->cfg.loop, w->cfg.arg);
	else
		loop_stop(w->cfg.loop);
}

static void pw_child(struct loop *l, pid_t pid, int status, void *arg)
{
	struct proxy_workers *w = arg;
	for (uint32_t i = 0; i < w->lim.workers; i++) {
		struct pw_slot *s = &w->slot[i];
		if (s->pid != pid)
			continue;
		s->pid = 0;
		w->alive--;
		/* Its maxConn counts go back to the node before anything can start in its slot
		 * (the replacement attaches the slot's holdings, which must be zero). */
		uint64_t freed = w->mc_mem ? proxy_mc_reap(&w->mc, i) : 0;
		if (freed)
			log_warn("maxConn counts of an ended worker released",
				 "worker=%u pid=%d counts=%llu", i, (int)pid,
				 (unsigned long long)freed);
		/* Likewise its references to the node's circuit breakers (their state stays: the
		 * other workers' tables, and its replacement's, may hold them). */
		uint32_t cbfreed = w->cb_mem ? proxy_cbs_reap(&w->cbs, i) : 0;
		if (cbfreed)
			log_info("circuit breaker references of an ended worker released",
				 "worker=%u pid=%d breakers=%u", i, (int)pid, cbfreed);
		if (w->stopping)
			break;
		uint64_t lived = loop_now_ms(l) - s->started;
		if (lived >= PW_STABLE_MS)
			s->backoff = 0;
		s->backoff =
			(uint32_t)time_backoff_next(s->backoff, PW_RETRY_FIRST_MS, PW_RETRY_MAX_MS);
		log_error("worker ended; starting another",
			  "worker=%u pid=%d status=%d "
			  "lived_ms=%llu restart_in_ms=%u",
			  i, (int)pid, status, (unsigned long long)lived, s->backoff);
		loop_timer_add(l, s->backoff, pw_restart_cb, s, &s->restart);
		break;
	}
	if (w->stopping && w->alive == 0)
		pw_finish(w);
}

int proxy_workers_start(const struct proxy_workers_config *cfg, struct proxy_workers **out,
			char *msg, size_t cap)
{
	uint32_t nw = cfg->lim->workers;
	if (nw < 1 || nw > PROXY_WORKERS_MAX) {
		set_msg(msg, cap, "workers %u outside 1 .. %u", nw, PROXY_WORKERS_MAX);
		return -ERR_INVAL;
	}
	struct proxy_workers *w = calloc(1, sizeof *w);
	if (!w) {
		set_msg(msg, cap, "out of memory");
		return -ERR_NOMEM;
	}
	w->cfg = *cfg;
	w->lim = *cfg->lim;
	w->cfg.lim = &w->lim;
	w->self = getpid();
	if (rand_os_bytes(w->auth_key, sizeof w->auth_key) < 0 ||
	    rand_os_bytes(w->rl_key, sizeof w->rl_key) < 0 ||
	    rand_os_bytes(w->mc_key, sizeof w->mc_key) < 0 ||
	    rand_os_bytes(w->hb_key, sizeof w->hb_key) < 0 ||
	    rand_os_bytes(w->cb_key, sizeof w->cb_key) < 0) {
		set_msg(msg, cap, "no entropy for the auth key");
		free(w);
		return -ERR_SYS;
	}
	/* Every worker's metrics in one shared mapping, so the master's /metrics renders their
	 * sum; a fresh mapping is zeroes, so only what is used is touched. */
	w->ms = proxy_metrics_size(w->lim.max_metric_series, w->lim.max_metric_names);
	w->ms = (w->ms + 4095) / 4096 * 4096;
	w->shm_len = w->ms * nw;
	w->shm = mmap(NULL, w->shm_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (w->shm == MAP_FAILED) {
		set_msg(msg, cap, "cannot map %zu bytes of metrics", w->shm_len);
		free(w);
		return -ERR_NOMEM;
	}
	for (uint32_t i = 0; i < nw; i++)
		w->parts[i] = proxy_metrics_init_zeroed(w->shm + i * w->ms, w->ms,
							w->lim.max_metric_series,
							w->lim.max_metric_names);
	/* The node's access log request count: one cache line of its own page
	 * (proxy_accesslog.h). */
	void *c = mmap(NULL, 64, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED) {
		set_msg(msg, cap, "cannot map the access log request count");
		munmap(w->shm, w->shm_len);
		free(w);
		return -ERR_NOMEM;
	}
	w->al_count = c;
	/* The rateLimit table: one for the node, so a limit is not multiplied by the workers.
	 * Pages are touched only as buckets are used. */
	w->rl_len = (proxy_rl_shared_bytes(w->lim.max_ratelimit_keys) + 4095) / 4096 * 4096;
	w->rl = mmap(NULL, w->rl_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (w->rl == MAP_FAILED) {
		set_msg(msg, cap, "cannot map %zu bytes for the rate limit table", w->rl_len);
		munmap(w->al_count, 64);
		munmap(w->shm, w->shm_len);
		free(w);
		return -ERR_NOMEM;
	}
	/* The maxConn counts: one table for the node when there are several workers, so a
	 * backend's maxConn bounds the node's open requests; one worker counts privately (no
	 * mapping, no locks). Pages are touched only as keys are used. */
	if (nw > 1) {
		w->mc_len = (proxy_mc_bytes(w->lim.max_conn_keys, nw) + 4095) / 4096 * 4096;
		void *m = w->mc_len ? mmap(NULL, w->mc_len, PROT_READ | PROT_WRITE,
					   MAP_SHARED | MAP_ANONYMOUS, -1, 0)
				    : MAP_FAILED;
		if (m == MAP_FAILED ||
		    proxy_mc_attach(&w->mc, m, w->mc_len, w->lim.max_conn_keys, nw, PROXY_MC_MASTER,
				    w->mc_key[0], w->mc_key[1]) < 0) {
			set_msg(msg, cap,
				"cannot map %zu bytes for the maxConn table (max_conn_keys)",
				w->mc_len);
			if (m != MAP_FAILED)
				munmap(m, w->mc_len);
			munmap(w->rl, w->rl_len);
			munmap(w->al_count, 64);
			munmap(w->shm, w->shm_len);
			free(w);
			return -ERR_NOMEM;
		}
		w->mc_mem = m;
		/* The health board: one worker probes for the node, the others follow. Its mapping
		 * also holds the node's circuit breakers (after the board, page-aligned): every
		 * worker records into and decides from one breaker per backend. Pages are touched
		 * only as breakers are used. */
		w->hb_board_len = (proxy_hb_bytes(w->lim.table.max_servers) + 4095) / 4096 * 4096;
		w->cb_len = (proxy_cbs_bytes(w->lim.table.max_backends, w->lim.max_tables) + 4095) /
			    4096 * 4096;
		w->hb_len = w->hb_board_len + w->cb_len;
		void *h = w->hb_board_len ? mmap(NULL, w->hb_len, PROT_READ | PROT_WRITE,
						 MAP_SHARED | MAP_ANONYMOUS, -1, 0)
					  : MAP_FAILED;
		if (h != MAP_FAILED && w->cb_len) {
			w->cb_mem = (unsigned char *)h + w->hb_board_len;
			if (proxy_cbs_attach(&w->cbs, w->cb_mem, w->cb_len,
					     w->lim.table.max_backends, w->lim.max_tables,
					     PROXY_CBS_MASTER, w->cb_key[0], w->cb_key[1]) < 0)
				w->cb_mem = NULL;
		}
		if (h != MAP_FAILED && !w->cb_mem)
			log_warn("circuit breakers stay per worker: max_backends x max_tables is "
				 "over "
				 "the shared table's cap",
				 "max_backends=%u max_tables=%u", w->lim.table.max_backends,
				 w->lim.max_tables);
		if (h == MAP_FAILED) {
			set_msg(msg, cap,
				"cannot map %zu bytes for the health board and the circuit "
				"breakers "
				"(max_servers, max_backends x max_tables)",
				w->hb_len);
			munmap(w->mc_mem, w->mc_len);
			munmap(w->rl, w->rl_len);
			munmap(w->al_count, 64);
			munmap(w->shm, w->shm_len);
			free(w);
			return -ERR_NOMEM;
		}
		w->hb_mem = h;
	}
	if (pw_monitor(&w->cfg, w->cfg.loop, (const struct proxy_metrics *const *)w->parts, nw,
		       &w->mon) < 0) {
		set_msg(msg, cap, "--metrics.listen=%s: cannot serve it (see the log)",
			cfg->metrics_listen);
		if (w->hb_mem)
			munmap(w->hb_mem, w->hb_len);
		if (w->mc_mem)
			munmap(w->mc_mem, w->mc_len);
		munmap(w->rl, w->rl_len);
		munmap(w->al_count, 64);
		munmap(w->shm, w->shm_len);
		free(w);
		return -ERR_PROXY_LISTEN;
	}
	for (uint32_t i = 0; i < nw; i++) {
		w->slot[i].set = w;
		w->slot[i].i = i;
		if (pw_spawn(w, i) < 0) {
			set_msg(msg, cap, "cannot fork worker %u: %s", i, strerror(errno));
			w->stopping = true;
			for (uint32_t k = 0; k < i; k++)
				kill(w->slot[k].pid, SIGTERM);
			*out = w;
			return -ERR_SYS;
		}
	}
	log_info("workers started", "workers=%u breaker_table_bytes=%zu", nw, w->cb_len);
	*out = w;
	return 0;
}

void proxy_workers_signal(struct proxy_workers *w, int signo)
{
	if (!w)
		return;
	/* A reload: the next load epoch first, so every worker building its table for this
	 * reload keys its circuit breakers with it (proxy_breaker_shared.h, "Keys"). */
	if (signo == SIGHUP && w->cb_mem)
		proxy_cbs_epoch_advance(&w->cbs);
	for (uint32_t i = 0; i < w->lim.workers; i++)
		if (w->slot[i].pid > 0)
			kill(w->slot[i].pid, signo);
}

void proxy_workers_set_draining(struct proxy_workers *w, bool on)
{
	if (w && !w->stopping)
		proxy_monitor_set_draining(w->mon, on);
}

void proxy_workers_stop(struct proxy_workers *w)
{
	if (!w || w->stopping)
		return;
	w->stopping = true;
	proxy_monitor_set_draining(w->mon, true);
	for (uint32_t i = 0; i < w->lim.workers; i++) {
		loop_timer_cancel(w->cfg.loop, w->slot[i].restart);
		if (w->slot[i].pid > 0)
			kill(w->slot[i].pid, SIGTERM);
	}
	if (w->alive == 0)
		pw_finish(w);
}

uint32_t proxy_workers_alive(const struct proxy_workers *w)
{
	return w ? w->alive : 0;
}

int proxy_workers_pid(const struct proxy_workers *w, uint32_t i)
{
	return w && i < w->lim.workers ? (int)w->slot[i].pid : 0;
}

void proxy_workers_destroy(struct proxy_workers *w)
{
	if (!w)
		return;
	for (uint32_t i = 0; i < w->lim.workers; i++) {
		loop_timer_cancel(w->cfg.loop, w->slot[i].restart);
		if (w->slot[i].pid > 0) {
			kill(w->slot[i].pid, SIGTERM);
			loop_child_del(w->cfg.loop, w->slot[i].pid);
		}
	}
	proxy_monitor_stop(w->mon);
	if (w->hb_mem)
		munmap(w->hb_mem, w->hb_len);
	if (w->mc_mem)
		munmap(w->mc_mem, w->mc_len);
	munmap(w->rl, w->rl_len);
	munmap(w->al_count, 64);
	munmap(w->shm, w->shm_len);
	free(w);
}

#include "proxy/proxy_lb.h" /* proxy_lb_srv_key, for proxy_workers_health_get */

int proxy_workers_health_get(const struct proxy_workers *w, struct slice backend, struct slice url,
			     bool *up)
{
	struct proxy_hb hb;
	struct proxy_hb_verdict v;
	if (!w->hb_mem || proxy_hb_attach(&hb, w->hb_mem, w->hb_len, w->lim.table.max_servers,
					  false, w->hb_key[0], w->hb_key[1]) < 0)
		return -ERR_INVAL;
	/* The key the workers use (proxy_lb_srv_key), from a one-server table. */
	struct proxy_backend be = {.name = backend};
	struct proxy_server sv = {.url = url};
	struct proxy_table t = {.be = &be, .nbe = 1, .srv = &sv, .nsrv = 1};
	int rc = proxy_hb_get(&hb, proxy_lb_srv_key(&t, 0, hb.k0, hb.k1), &v);
	if (rc < 0)
		return rc;
	*up = v.up;
	return 0;
}
