/* bench_provider.c — `make bench-provider`: time from a KV write to the new routing document.
 *
 * For etcd (Debian's etcd-server, started here on 127.0.0.1 with random free ports and a
 * mkdtemp data directory) and for our Consul test server (tests/consul_server), a watcher with
 * throttle 0 runs on a loop in this process; each of BENCH_WRITES writes changes one server
 * URL with a blocking HTTP request, then the loop runs until the document holding the new
 * value is emitted. The time measured runs from just before the write request to on_doc, so it
 * includes the write's own round trip. p50 and p99 are printed:
 *
 *   bench-provider: etcd write->document p50 3.1 ms p99 7.9 ms (200 writes)
 *
 * Both servers are killed by PID and the data directory removed at exit. Built with the host
 * (ASan/UBSan) library, so absolute figures are pessimistic; compare runs with each other.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base_log.h"
#include "base/base_rand.h"
#include "base/base_time.h"
#include "loop/loop.h"
#include "provider/provider.h"
#include "provider/provider_consul.h"
#include "provider/provider_etcd.h"
#include "provider/provider_kv.h"

#define BENCH_WRITES 200

static pid_t etcd_pid, consul_pid;
static char etcd_dir[64];

static void stop_pid(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	int st;
	for (int i = 0; i < 200 && waitpid(*pid, &st, WNOHANG) != *pid; i++)
		usleep(10000);
	kill(*pid, SIGKILL);
	waitpid(*pid, &st, 0);
	*pid = 0;
}

static void cleanup(void)
{
	stop_pid(&etcd_pid);
	stop_pid(&consul_pid);
	if (etcd_dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", etcd_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench-provider: could not remove %s\n", etcd_dir);
		etcd_dir[0] = 0;
	}
}

static void on_signal(int sig)
{
	cleanup();
	_exit(128 + sig);
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t l = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(a.sin_port);
}

/* Blocking HTTP/1.0 request to 127.0.0.1:port; returns the status (-1 on failure). */
static int hreq(int port, const char *method, const char *path, const char *body)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	static char req[4096], res[4096];
	size_t bl = body ? strlen(body) : 0;
	int n = snprintf(req, sizeof req,
			 "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n%s",
			 method, path, bl, body ? body : "");
	if (n < 0 || (size_t)n >= sizeof req || write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	size_t got = 0;
	ssize_t r;
	while (got < sizeof res - 1 && (r = read(fd, res + got, sizeof res - 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	res[got] = 0;
	int status = -1;
	if (sscanf(res, "HTTP/%*s %d", &status) != 1)
		return -1;
	return status;
}

static int etcd_put(int port, const char *key, const char *val)
{
	char kb[256], vb[256], body[600];
	int kl = provider_base64_encode(slice_from_cstr(key), kb, sizeof kb);
	int vl = provider_base64_encode(slice_from_cstr(val), vb, sizeof vb);
	if (kl < 0 || vl < 0)
		return -1;
	snprintf(body, sizeof body, "{\"key\":\"%.*s\",\"value\":\"%.*s\"}", kl, kb, vl, vb);
	return hreq(port, "POST", "/v3/kv/put", body);
}

static int consul_put(int port, const char *key, const char *val)
{
	char path[256];
	snprintf(path, sizeof path, "/v1/kv/%s", key);
	return hreq(port, "PUT", path, val);
}

static int start_etcd(void)
{
	if (system("command -v etcd >/dev/null 2>&1") != 0) {
		fprintf(stderr, "bench-provider: etcd missing (apt-get install etcd-server)\n");
		return -1;
	}
	snprintf(etcd_dir, sizeof etcd_dir, "/tmp/tee-bench-etcd-XXXXXX");
	if (!mkdtemp(etcd_dir)) {
		etcd_dir[0] = 0;
		return -1;
	}
	int cp = free_port(), pp = free_port();
	if (cp < 0 || pp < 0)
		return -1;
	char data[96], curl[64], purl[64], cluster[96], logf[96];
	snprintf(data, sizeof data, "%s/data", etcd_dir);
	snprintf(curl, sizeof curl, "http://127.0.0.1:%d", cp);
	snprintf(purl, sizeof purl, "http://127.0.0.1:%d", pp);
	snprintf(cluster, sizeof cluster, "b=%s", purl);
	snprintf(logf, sizeof logf, "%s/etcd.log", etcd_dir);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		char *argv[] = {"etcd",  "--name",
				"b",     "--data-dir",
				data,    "--listen-client-urls",
				curl,    "--advertise-client-urls",
				curl,    "--listen-peer-urls",
				purl,    "--initial-advertise-peer-urls",
				purl,    "--initial-cluster",
				cluster, NULL};
		execvp("etcd", argv);
		_exit(127);
	}
	if (pid < 0)
		return -1;
	etcd_pid = pid;
	uint64_t end = time_mono_ms() + 15000;
	while (time_mono_ms() < end) {
		if (hreq(cp, "POST", "/v3/kv/range", "{\"key\":\"AA==\"}") == 200)
			return cp;
		usleep(50000);
	}
	fprintf(stderr, "bench-provider: etcd did not start; see %s\n", logf);
	return -1;
}

static int start_consul(void)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		char *argv[] = {"python3", "tests/consul_server/consul_server.py", "--port", "0",
				NULL};
		execvp("python3", argv);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -1;
	}
	consul_pid = pid;
	char line[64] = {0};
	size_t n = 0;
	ssize_t r;
	while (n < sizeof line - 1 && !strchr(line, '\n') &&
	       (r = read(p[0], line + n, sizeof line - 1 - n)) > 0)
		n += (size_t)r;
	close(p[0]);
	int port = 0;
	if (sscanf(line, "PORT %d", &port) != 1)
		return -1;
	return port;
}

/* The watcher side ------------------------------------------------------------------------ */

static struct {
	struct loop loop;
	struct rand rand;
	struct provider_emit emit;
	struct provider_diag diag;
	struct provider_etcd pe;
	struct provider_consul pc;
	char want[64]; /* the value the next document must hold */
	bool seen;
	uint64_t docs;
} b;

static void on_doc(void *arg, struct slice doc)
{
	b.docs++;
	if (b.want[0] && memmem(doc.p, doc.len, b.want, strlen(b.want)))
		b.seen = true;
}

static void quiet(void *ctx, enum log_level level, const char *key, const char *msg) {}

static bool run_until_seen(uint64_t ms)
{
	uint64_t end = time_mono_ms() + ms;
	while (!b.seen && time_mono_ms() < end)
		loop_run_once(&b.loop, 50);
	return b.seen;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, c = *(const uint64_t *)y;
	return a < c ? -1 : a > c;
}

typedef int (*put_fn)(int port, const char *key, const char *val);

/* BENCH_WRITES writes, each waited for; prints the line. 0 or -1. */
static int measure(const char *name, int port, const char *key, put_fn put)
{
	static uint64_t ns[BENCH_WRITES];
	for (int i = 0; i < BENCH_WRITES; i++) {
		snprintf(b.want, sizeof b.want, "10.1.%d.%d", i / 250, i % 250 + 1);
		char val[64];
		snprintf(val, sizeof val, "http://%s:80", b.want);
		b.seen = false;
		uint64_t t0 = time_mono_ns();
		if (put(port, key, val) != 200) {
			fprintf(stderr, "bench-provider: %s: write %d failed\n", name, i);
			return -1;
		}
		if (!run_until_seen(5000)) {
			fprintf(stderr, "bench-provider: %s: write %d never became a document\n",
				name, i);
			return -1;
		}
		ns[i] = time_mono_ns() - t0;
	}
	qsort(ns, BENCH_WRITES, sizeof ns[0], cmp_u64);
	uint64_t p50 = ns[BENCH_WRITES / 2], p99 = ns[BENCH_WRITES * 99 / 100];
	printf("bench-provider: %s write->document p50 %.1f ms p99 %.1f ms (%d writes)\n", name,
	       (double)p50 / 1e6, (double)p99 / 1e6, BENCH_WRITES);
	fflush(stdout);
	return 0;
}

static int setup_common(struct provider_limits *lim)
{
	memset(&b, 0, sizeof b);
	struct loop_config lc = {.max_fds = 16, .max_timers = 32, .max_events = 16};
	if (loop_init(&b.loop, &lc) < 0)
		return -1;
	rand_init_seed(&b.rand, "bench", 5);
	provider_limits_default(lim);
	lim->max_doc_bytes = 1 << 20;
	lim->max_response_bytes = 1 << 20;
	lim->max_keys = 1024;
	lim->backoff_min_ms = 50;
	lim->backoff_max_ms = 200;
	lim->min_query_gap_ms = 0;
	provider_diag_init(&b.diag, "bench", quiet, NULL);
	return provider_emit_init(&b.emit, &b.loop, lim->max_doc_bytes, 0, on_doc, NULL);
}

static int bench_etcd(void)
{
	int port = start_etcd();
	if (port < 0)
		return -1;
	etcd_put(port, "/bench/frontends/f/backend", "b");
	etcd_put(port, "/bench/frontends/f/routes/r/rule", "Host:bench.local");
	struct provider_limits lim;
	if (setup_common(&lim) < 0)
		return -1;
	char ep[64], msg[256];
	snprintf(ep, sizeof ep, "127.0.0.1:%d", port);
	struct provider_etcd_config ec = {.endpoint = ep,
					  .prefix = "/bench",
					  .username = "",
					  .password = "",
					  .limits = lim,
					  .rand = &b.rand,
					  .emit = &b.emit,
					  .diag = &b.diag};
	int rc = -1;
	if (provider_etcd_init(&b.pe, &b.loop, &ec, msg, sizeof msg) == 0 &&
	    provider_etcd_start(&b.pe) == 0) {
		/* the first document, and the watch in place */
		uint64_t end = time_mono_ms() + 10000;
		while ((!b.docs || !b.pe.watching || b.pe.state != PROVIDER_WATCHING) &&
		       time_mono_ms() < end)
			loop_run_once(&b.loop, 50);
		end = time_mono_ms() + 200;
		while (time_mono_ms() < end)
			loop_run_once(&b.loop, 20); /* let the watch be created */
		rc = measure("etcd", port, "/bench/backends/b/servers/s/url", etcd_put);
	} else {
		fprintf(stderr, "bench-provider: etcd watcher: %s\n", msg);
	}
	provider_etcd_fini(&b.pe);
	provider_emit_fini(&b.emit);
	loop_fini(&b.loop);
	stop_pid(&etcd_pid);
	return rc;
}

static int bench_consul(void)
{
	int port = start_consul();
	if (port < 0) {
		fprintf(stderr, "bench-provider: the Consul test server did not start\n");
		return -1;
	}
	consul_put(port, "bench/frontends/f/backend", "b");
	consul_put(port, "bench/frontends/f/routes/r/rule", "Host:bench.local");
	struct provider_limits lim;
	if (setup_common(&lim) < 0)
		return -1;
	lim.consul_wait_ms = 60000;
	char ep[64], msg[256];
	snprintf(ep, sizeof ep, "127.0.0.1:%d", port);
	struct provider_consul_config cc = {.endpoint = ep,
					    .prefix = "bench",
					    .token = "",
					    .limits = lim,
					    .rand = &b.rand,
					    .emit = &b.emit,
					    .diag = &b.diag};
	int rc = -1;
	if (provider_consul_init(&b.pc, &b.loop, &cc, msg, sizeof msg) == 0 &&
	    provider_consul_start(&b.pc) == 0) {
		uint64_t end = time_mono_ms() + 10000;
		while (!b.docs && time_mono_ms() < end)
			loop_run_once(&b.loop, 50);
		end = time_mono_ms() + 200;
		while (time_mono_ms() < end)
			loop_run_once(&b.loop, 20); /* the blocking query in place */
		rc = measure("consul-test-server", port, "bench/backends/b/servers/s/url",
			     consul_put);
	} else {
		fprintf(stderr, "bench-provider: consul watcher: %s\n", msg);
	}
	provider_consul_fini(&b.pc);
	provider_emit_fini(&b.emit);
	loop_fini(&b.loop);
	stop_pid(&consul_pid);
	return rc;
}

int main(void)
{
	log_set_level(LOG_ERROR);
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	int rc = bench_etcd();
	if (bench_consul() < 0)
		rc = -1;
	return rc < 0 ? 1 : 0;
}
