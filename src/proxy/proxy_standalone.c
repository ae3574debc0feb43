/* proxy_standalone.c — `traefikee start-data-node --standalone=FILE`: a data node without a
 * cluster, serving a routing document file (proxy_standalone.h). */
#include "proxy/proxy_standalone.h"

#include <fcntl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/base_buf.h"
#include "base/base_err.h"
#include "base/base_log.h"
#include "proxy/proxy_engine.h"
#include "proxy/proxy_monitor.h"
#include "proxy/proxy_workers.h"

struct sa_opts {
	const char *routing;
	const char *accesslog;      /* NULL: none; "" or "-": stdout */
	const char *metrics_listen; /* --metrics.listen: GET /metrics, /ping; NULL: none */
	bool print_limits;
	struct proxy_dp_limits lim;
};

static int sa_usage(const char *argv0, const char *why)
{
	if (strcmp(argv0, "start-data-node") == 0) { /* through traefikee --standalone */
		fprintf(stderr, "traefikee start-data-node: %s (see --help)\n", why);
		return 2;
	}
	fprintf(stderr,
		"%s: %s\nusage: %s --routing=FILE [--workers=N] [--accesslog[=FILE]] "
		"[--metrics.listen=ADDR] [--print-limits] [--loglevel=LEVEL] "
		"[--<limit>=VALUE ...]\n",
		argv0, why, argv0);
	return 2;
}

static int sa_parse(int argc, char **argv, struct sa_opts *o)
{
	memset(o, 0, sizeof *o);
	proxy_dp_limits_default(&o->lim);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0) {
			if (!o->routing) {
				o->routing = a;
				continue;
			}
			return sa_usage(argv[0], "unexpected argument");
		}
		a += 2;
		char name[64];
		const char *eq = strchr(a, '=');
		size_t nl = eq ? (size_t)(eq - a) : strlen(a);
		if (nl >= sizeof name)
			return sa_usage(argv[0], "flag name too long");
		memcpy(name, a, nl);
		name[nl] = 0;
		const char *val = eq ? eq + 1 : NULL;
		if (strcasecmp(name, "print-limits") == 0 || strcasecmp(name, "printlimits") == 0) {
			o->print_limits = true;
			continue;
		}
		if (strcasecmp(name, "accesslog") == 0) {
			o->accesslog = val ? val : "";
			continue;
		}
		if (!val) {
			if (i + 1 >= argc)
				return sa_usage(argv[0], "flag needs a value");
			val = argv[++i];
		}
		if (strcasecmp(name, "routing") == 0 || strcasecmp(name, "routing.file") == 0) {
			o->routing = val;
		} else if (strcasecmp(name, "metrics.listen") == 0 ||
			   strcasecmp(name, "metrics-listen") == 0) {
			o->metrics_listen = val[0] ? val : NULL;
		} else if (strcasecmp(name, "loglevel") == 0 ||
			   strcasecmp(name, "log.level") == 0) {
			enum log_level lv;
			if (log_level_parse(val, &lv) < 0)
				return sa_usage(argv[0], "bad --loglevel");
			log_set_level(lv);
		} else {
			int rc = proxy_dp_limits_set(&o->lim, name, val);
			if (rc == -ERR_NOTFOUND) {
				char why[96];
				snprintf(why, sizeof why, "unknown flag --%s", name);
				return sa_usage(argv[0], why);
			}
			if (rc < 0) {
				char why[128];
				snprintf(why, sizeof why, "flag --%s: bad value \"%s\"", name, val);
				return sa_usage(argv[0], why);
			}
		}
	}
	char msg[200];
	if (proxy_dp_limits_check(&o->lim, msg, sizeof msg) < 0)
		return sa_usage(argv[0], msg);
	if (!o->routing && !o->print_limits)
		return sa_usage(argv[0], "--routing=FILE is required");
	return 0;
}

static void sa_master_signal(struct loop *l, int signo, void *arg)
{
	(void)l;
	struct proxy_workers *w = arg;
	if (signo == SIGHUP || signo == SIGUSR1)
		proxy_workers_signal(w, signo);
	else
		proxy_workers_stop(w); /* loop_stop once the last worker is gone */
}

/* Several workers: this process is their master until a stop signal has drained them. */
static int sa_master(const struct proxy_workers_config *base)
{
	struct loop loop;
	struct loop_config lc = {.max_fds = 8 + PROXY_MONITOR_CLIENTS + 1,
				 .max_timers = 8 + PROXY_MONITOR_CLIENTS + PROXY_WORKERS_MAX,
				 .max_events = 8,
				 .max_children = base->lim->workers};
	if (loop_init(&loop, &lc) < 0)
		return 1;
	struct proxy_workers_config cfg = *base;
	cfg.loop = &loop;
	struct proxy_workers *w = NULL;
	char msg[300];
	int rc = proxy_workers_start(&cfg, &w, msg, sizeof msg);
	int status = 0;
	if (rc < 0) {
		char q[320];
		log_error("cannot start the workers", "err=%s msg=%s", err_name(rc),
			  log_q(q, sizeof q, msg));
		status = 1;
		if (w && proxy_workers_alive(w)) /* the ones started drain, then the loop ends */
			loop_run(&loop);
	} else {
		loop_signal_add(&loop, SIGHUP, sa_master_signal, w);
		loop_signal_add(&loop, SIGTERM, sa_master_signal, w);
		loop_signal_add(&loop, SIGINT, sa_master_signal, w);
		loop_signal_add(&loop, SIGUSR1, sa_master_signal, w);
		log_info("proxy started", "workers=%u", cfg.lim->workers);
		loop_run(&loop);
	}
	proxy_workers_destroy(w);
	loop_fini(&loop);
	return status;
}

int proxy_standalone_main(int argc, char **argv)
{
	struct sa_opts *o = calloc(1, sizeof *o);
	if (!o)
		return 1;
	int rc = sa_parse(argc, argv, o);
	if (rc) {
		free(o);
		return rc;
	}
	struct proxy_mem_sizes sz;
	struct proxy_mem_report rep;
	proxy_engine_mem_sizes(&o->lim, &sz);
	proxy_dp_limits_memory(&o->lim, &sz, &rep);
	char text[4096];
	struct buf tb;
	buf_init(&tb, text, sizeof text);
	proxy_dp_limits_format(&o->lim, &rep, &tb);
	if (o->metrics_listen)
		proxy_monitor_limits_line(&tb, o->metrics_listen, o->lim.max_metric_series);
	if (o->print_limits) {
		fwrite(text, 1, tb.len, stdout);
		fflush(stdout);
		free(o);
		return 0;
	}
	/* Worst-case memory, before anything is allocated (DESIGN.md: memory is bounded). */
	if (write(2, text, tb.len) < 0)
		rc = 0;

	/* Validate the document once before starting workers, so a bad file fails fast. */
	char msg[300];
	char *doc = NULL;
	size_t len = 0;
	rc = proxy_workers_read_doc(o->routing, o->lim.table.max_doc_bytes, &doc, &len, msg,
				    sizeof msg);
	if (rc == 0)
		rc = proxy_engine_check_doc(&o->lim, doc, len, msg, sizeof msg);
	free(doc);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", o->routing, msg);
		free(o);
		return 1;
	}

	signal(SIGPIPE, SIG_IGN);
	int al_fd = -1;
	if (o->accesslog) {
		if (!o->accesslog[0] || strcmp(o->accesslog, "-") == 0)
			al_fd = 1;
		else
			al_fd = open(o->accesslog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (al_fd < 0) {
			fprintf(stderr, "%s: %s\n", o->accesslog, strerror(errno));
			free(o);
			return 1;
		}
	}
	struct proxy_workers_config cfg = {
		.lim = &o->lim,
		.routing = o->routing,
		.access_log_fd = al_fd,
		.metrics_listen = o->metrics_listen,
	};
	int status = o->lim.workers == 1 ? proxy_workers_run_one(&cfg) : sa_master(&cfg);
	if (al_fd > 1)
		close(al_fd);
	free(o);
	return status;
}
