/* Unit tests for the Consul provider and the provider HTTP client, against our Consul test
 * server (tests/consul_server/consul_server.py, python3: Consul is not packaged for Debian).
 *
 * Each case starts its own server on 127.0.0.1 with a random port, loads keys with plain
 * blocking HTTP requests, runs the watcher on a real loop, and checks both the documents
 * emitted and the requests the server saw (one recursive query, index handling). Servers are
 * killed by PID at the end of each case.
 */
#include "base/base_err.h"
#include "base/base_rand.h"
#include "base/base_time.h"
#include "json/json.h"
#include "loop/loop.h"
#include "provider/provider.h"
#include "provider/provider_consul.h"
#include "provider/provider_http.h"
#include "provider/provider_kv.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The test server ------------------------------------------------------------------------- */

struct srv {
	pid_t pid;
	int port;
};

/* Start the server on port (0: a free one, read from its "PORT n" line). */
static bool srv_start_on(struct srv *s, const char *token, int port)
{
	char pstr[16];
	snprintf(pstr, sizeof pstr, "%d", port);
	int p[2];
	s->pid = 0;
	if (pipe(p) < 0)
		return false;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		char *argv[] = {"python3",
				"tests/consul_server/consul_server.py",
				"--port",
				pstr,
				token ? "--token" : NULL,
				(char *)token,
				NULL};
		execvp("python3", argv);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return false;
	}
	s->pid = pid;
	char line[64] = {0};
	size_t n = 0;
	uint64_t end = time_mono_ms() + 5000;
	while (n < sizeof line - 1 && !strchr(line, '\n') && time_mono_ms() < end) {
		ssize_t r = read(p[0], line + n, sizeof line - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(p[0]);
	s->port = 0;
	sscanf(line, "PORT %d", &s->port);
	return s->port > 0;
}

static bool srv_start(struct srv *s, const char *token)
{
	return srv_start_on(s, token, 0);
}

static void srv_stop(struct srv *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	int st;
	for (int i = 0; i < 100; i++) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			return;
		}
		usleep(10000);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &st, 0);
	s->pid = 0;
}

/* A blocking HTTP/1.0-style request (Connection: close). Returns the status; the body (NUL
 * terminated) in out. */
static int hreq(int port, const char *method, const char *path, const char *body, const char *token,
		char *out, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	static char req[1 << 16];
	size_t bl = body ? strlen(body) : 0;
	int n = snprintf(req, sizeof req,
			 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
			 "Content-Length: %zu\r\n%s%s%s\r\n",
			 method, path, bl, token ? "X-Consul-Token: " : "", token ? token : "",
			 token ? "\r\n" : "");
	if (bl && (size_t)n + bl < sizeof req) {
		memcpy(req + n, body, bl);
		n += (int)bl;
	}
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	static char resp[1 << 20];
	size_t got = 0;
	ssize_t r;
	while (got < sizeof resp - 1 && (r = read(fd, resp + got, sizeof resp - 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	resp[got] = 0;
	int status = 0;
	sscanf(resp, "HTTP/1.%*d %d", &status);
	if (out) {
		char *b = strstr(resp, "\r\n\r\n");
		snprintf(out, cap, "%s", b ? b + 4 : "");
	}
	return status;
}

static int put(struct srv *s, const char *key, const char *val)
{
	char path[1024];
	snprintf(path, sizeof path, "/v1/kv/%s", key);
	return hreq(s->port, "PUT", path, val, NULL, NULL, 0);
}

/* The fixture into traefik/<key>. */
static int load_fixture(struct srv *s, const char *token)
{
	FILE *f = fopen("tests/fixtures/kv/traefik-kv.txt", "r");
	if (!f)
		return -1;
	static char line[8192], val[8192], path[1024];
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		char *eq = strchr(line, '=');
		if (line[0] == '#' || !eq)
			continue;
		*eq = 0;
		char *o = val;
		for (char *p = eq + 1; *p; p++) {
			if (p[0] == '\\' && p[1] == 'n') {
				*o++ = '\n';
				p++;
			} else {
				*o++ = *p;
			}
		}
		*o = 0;
		snprintf(path, sizeof path, "/v1/kv/traefik/%s", line);
		if (hreq(s->port, "PUT", path, val, token, NULL, 0) != 200)
			break;
		n++;
	}
	fclose(f);
	return n;
}

/* The /v1 requests the server saw, as a JSON text in out. */
static void server_log(struct srv *s, char *out, size_t cap)
{
	hreq(s->port, "GET", "/test/log", NULL, NULL, out, cap);
}

static int count_in(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The watcher under test ------------------------------------------------------------------ */

struct fx {
	struct loop loop;
	struct srv srv;
	struct rand rand;
	struct provider_emit emit;
	struct provider_diag diag;
	struct provider_consul pc;
	int docs;
	char doc[1 << 20];
	size_t doc_len;
	int reports;
	char last_report[512];
};

static struct fx fx;

static void fx_on_doc(void *arg, struct slice doc)
{
	struct fx *f = arg;
	f->docs++;
	f->doc_len = doc.len < sizeof f->doc - 1 ? doc.len : sizeof f->doc - 1;
	memcpy(f->doc, doc.p, f->doc_len);
	f->doc[f->doc_len] = 0;
}

static void fx_report(void *ctx, enum log_level level, const char *key, const char *msg)
{
	struct fx *f = ctx;
	f->reports++;
	snprintf(f->last_report, sizeof f->last_report, "%s: %s", key, msg);
}

static void limits(struct provider_limits *lim)
{
	provider_limits_default(lim);
	lim->max_doc_bytes = 1 << 20;
	lim->max_response_bytes = 1 << 20;
	lim->max_keys = 4096;
	lim->backoff_min_ms = 50;
	lim->backoff_max_ms = 200;
	lim->min_query_gap_ms = 0;
	lim->consul_wait_ms = 2000;
}

/* Server (with token), loop and watcher; the caller loads keys before fx_watch. */
static bool fx_setup(const char *srv_token)
{
	memset(&fx, 0, sizeof fx);
	struct loop_config lc = {.max_fds = 16, .max_timers = 32, .max_events = 16};
	if (loop_init(&fx.loop, &lc) < 0)
		return false;
	rand_init_seed(&fx.rand, "consul", 6);
	if (!srv_start(&fx.srv, srv_token)) {
		srv_stop(&fx.srv);
		loop_fini(&fx.loop);
		return false;
	}
	return true;
}

static int fx_watch(const char *token, const struct provider_limits *lim_in, const char *prefix,
		    const char *proxy)
{
	struct provider_limits lim;
	if (lim_in)
		lim = *lim_in;
	else
		limits(&lim);
	static char ep[64]; /* borrowed by the watcher's configuration */
	snprintf(ep, sizeof ep, proxy ? "consul.invalid:8500" : "127.0.0.1:%d", fx.srv.port);
	provider_diag_init(&fx.diag, "consul", fx_report, &fx);
	int rc = provider_emit_init(&fx.emit, &fx.loop, lim.max_doc_bytes, 0, fx_on_doc, &fx);
	if (rc < 0)
		return rc;
	struct provider_consul_config cc = {
		.endpoint = ep,
		.prefix = prefix ? prefix : "traefik",
		.token = token ? token : "",
		.http_proxy = proxy,
		.limits = lim,
		.rand = &fx.rand,
		.emit = &fx.emit,
		.diag = &fx.diag,
	};
	char msg[256];
	rc = provider_consul_init(&fx.pc, &fx.loop, &cc, msg, sizeof msg);
	if (rc < 0)
		return rc;
	return provider_consul_start(&fx.pc);
}

static void fx_teardown(void)
{
	provider_consul_fini(&fx.pc);
	if (fx.emit.mem)
		provider_emit_fini(&fx.emit);
	srv_stop(&fx.srv);
	loop_fini(&fx.loop);
}

/* Run the loop until *counter reaches want or ms pass. */
static bool run_until(const int *counter, int want, uint64_t ms)
{
	uint64_t end = time_mono_ms() + ms;
	while (*counter < want && time_mono_ms() < end)
		loop_run_once(&fx.loop, 20);
	return *counter >= want;
}

static void run_for(uint64_t ms)
{
	uint64_t end = time_mono_ms() + ms;
	while (time_mono_ms() < end)
		loop_run_once(&fx.loop, 20);
}

static bool same_as_golden(const char *doc, size_t len)
{
	FILE *f = fopen("tests/golden/kv/routing.json", "rb");
	if (!f)
		return false;
	static char gold[1 << 20];
	size_t gl = fread(gold, 1, sizeof gold, f);
	fclose(f);
	/* compact the golden file (no whitespace outside strings) and compare bytes */
	static char c[1 << 20];
	size_t o = 0;
	bool str = false, esc = false;
	for (size_t i = 0; i < gl; i++) {
		char ch = gold[i];
		if (str) {
			c[o++] = ch;
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				str = false;
		} else if (ch == '"') {
			str = true;
			c[o++] = ch;
		} else if (ch != ' ' && ch != '\n' && ch != '\t' && ch != '\r') {
			c[o++] = ch;
		}
	}
	if (o != len || memcmp(c, doc, len) != 0) {
		size_t i = 0;
		while (i < o && i < len && c[i] == doc[i])
			i++;
		fprintf(stderr, "  differs at byte %zu: ...%.60s\n  vs golden ...%.60s\n", i,
			doc + (i > 20 ? i - 20 : 0), c + (i > 20 ? i - 20 : 0));
		return false;
	}
	return true;
}

/* Cases ---------------------------------------------------------------------------------- */

static void parse_kv_list(void)
{
	static const char body[] =
		"[{\"LockIndex\":0,\"Key\":\"traefik/a\",\"Flags\":0,\"Value\":\"eA==\","
		"\"CreateIndex\":5,\"ModifyIndex\":7},"
		"{\"Key\":\"traefik/dir/\",\"Value\":null,\"Flags\":0},"
		"{\"Key\":\"traefik/bad\",\"Value\":\"!!!!\"},"
		"{\"Key\":\"traefik/b\\/c\",\"Value\":\"eXo=\"}]";
	json_tok t[64];
	struct provider_kv kv[8];
	char vals[256];
	struct provider_diag d;
	provider_diag_init(&d, "t", fx_report, &fx);
	fx.reports = 0;
	int n = provider_consul_parse(SLICE_LIT(body), t, 64, kv, 8, vals, sizeof vals, &d);
	REQUIRE(n == 3);
	CHECK_EQ_MEM(kv[0].key.p, kv[0].key.len, "traefik/a");
	CHECK_EQ_MEM(kv[0].val.p, kv[0].val.len, "x");
	CHECK_EQ_MEM(kv[1].key.p, kv[1].key.len, "traefik/dir/");
	CHECK_EQ_INT(kv[1].val.len, 0);
	CHECK_EQ_MEM(kv[2].key.p, kv[2].key.len, "traefik/b/c");
	CHECK_EQ_MEM(kv[2].val.p, kv[2].val.len, "yz");
	CHECK_EQ_INT(fx.reports, 1);
	CHECK(strstr(fx.last_report, "traefik/bad"));
	CHECK_EQ_INT(provider_consul_parse(SLICE_LIT(body), t, 64, kv, 2, vals, sizeof vals, &d),
		     -ERR_PROVIDER_TOO_MANY_KEYS);
	CHECK_EQ_INT(provider_consul_parse(SLICE_LIT(body), t, 8, kv, 8, vals, sizeof vals, &d),
		     -ERR_PROVIDER_TOO_MANY_KEYS);
	CHECK_EQ_INT(provider_consul_parse(SLICE_LIT("{}"), t, 8, kv, 8, vals, sizeof vals, &d),
		     -ERR_JSON_TYPE);
	CHECK_EQ_INT(provider_consul_parse(SLICE_LIT("[{\"Key\":1}]"), t, 8, kv, 8, vals,
					   sizeof vals, &d),
		     -ERR_JSON_TYPE);
	CHECK(provider_consul_parse(SLICE_LIT("[{\"Key\""), t, 8, kv, 8, vals, sizeof vals, &d) <
	      0);
	CHECK_EQ_INT(provider_consul_parse(SLICE_LIT("[]"), t, 8, kv, 8, vals, sizeof vals, &d), 0);
}

static void endpoints_and_no_proxy(void)
{
	char h[64];
	uint16_t port;
	bool tls, sch;
	CHECK_EQ_INT(phttp_parse_endpoint("127.0.0.1:8500", 8500, h, sizeof h, &port, &tls, &sch),
		     0);
	CHECK_EQ_STR(h, "127.0.0.1");
	CHECK_EQ_INT(port, 8500);
	CHECK(!tls && !sch);
	CHECK_EQ_INT(phttp_parse_endpoint("https://consul.example:8501/x", 8500, h, sizeof h, &port,
					  &tls, &sch),
		     0);
	CHECK_EQ_STR(h, "consul.example");
	CHECK_EQ_INT(port, 8501);
	CHECK(tls && sch);
	CHECK_EQ_INT(phttp_parse_endpoint("http://[::1]:2379", 0, h, sizeof h, &port, &tls, &sch),
		     0);
	CHECK_EQ_STR(h, "::1");
	CHECK_EQ_INT(port, 2379);
	CHECK_EQ_INT(phttp_parse_endpoint("localhost", 2379, h, sizeof h, &port, &tls, &sch), 0);
	CHECK_EQ_INT(port, 2379);
	CHECK_EQ_INT(
		phttp_parse_endpoint("http://user:pw@proxy", 0, h, sizeof h, &port, &tls, &sch), 0);
	CHECK_EQ_STR(h, "proxy");
	CHECK_EQ_INT(port, 80);
	CHECK_EQ_INT(phttp_parse_endpoint("unix:///x", 1, h, sizeof h, &port, &tls, &sch),
		     -ERR_PARSE);
	CHECK_EQ_INT(phttp_parse_endpoint("h:99999", 1, h, sizeof h, &port, &tls, &sch),
		     -ERR_PARSE);
	CHECK_EQ_INT(phttp_parse_endpoint(":80", 1, h, sizeof h, &port, &tls, &sch), -ERR_PARSE);
	CHECK(phttp_no_proxy_match("*", "anything"));
	CHECK(phttp_no_proxy_match("localhost, .internal", "consul.internal"));
	CHECK(phttp_no_proxy_match("example.com", "a.example.com"));
	CHECK(phttp_no_proxy_match("example.com:8500", "EXAMPLE.com"));
	CHECK(!phttp_no_proxy_match("example.com", "badexample.com"));
	CHECK(phttp_no_proxy_match("10.0.0.1", "10.0.0.1"));
	CHECK(!phttp_no_proxy_match("", "x"));
	CHECK(!phttp_no_proxy_match(NULL, "x"));
}

static void golden_via_consul(void)
{
	REQUIRE(fx_setup(NULL));
	CHECK(load_fixture(&fx.srv, NULL) > 200);
	hreq(fx.srv.port, "POST", "/test/clear-log", NULL, NULL, NULL, 0);
	CHECK_EQ_INT(fx_watch(NULL, NULL, NULL, NULL), 0);
	CHECK(run_until(&fx.docs, 1, 5000));
	CHECK(same_as_golden(fx.doc, fx.doc_len));
	/* the fixture's invalid entries were reported */
	CHECK(fx.diag.errors >= 4);
	/* one recursive read, then a blocking query with index and wait; no read per key */
	run_for(200);
	static char log[1 << 16];
	server_log(&fx.srv, log, sizeof log);
	CHECK(strstr(log, "\"/v1/kv/traefik?recurse=true\""));
	CHECK(strstr(log, "/v1/kv/traefik?recurse=true&index="));
	CHECK(strstr(log, "&wait=2000ms"));
	CHECK_EQ_INT(count_in(log, "/v1/kv/traefik/"), 0);
	CHECK(count_in(log, "\"GET\"") <= 3);
	fx_teardown();
}

static void change_emits_again(void)
{
	REQUIRE(fx_setup(NULL));
	put(&fx.srv, "traefik/backends/b/servers/s/url", "http://10.0.0.1:80");
	put(&fx.srv, "traefik/frontends/f/backend", "b");
	put(&fx.srv, "traefik/frontends/f/routes/r/rule", "Host:a.test");
	CHECK_EQ_INT(fx_watch(NULL, NULL, NULL, NULL), 0);
	REQUIRE(run_until(&fx.docs, 1, 5000));
	CHECK(strstr(fx.doc, "Host:a.test"));
	uint64_t t0 = time_mono_ms();
	put(&fx.srv, "traefik/frontends/f/routes/r/rule", "Host:b.test");
	CHECK(run_until(&fx.docs, 2, 3000));
	CHECK(time_mono_ms() - t0 < 1500); /* the blocking query returned at once */
	CHECK(strstr(fx.doc, "Host:b.test"));
	/* same value written again: the index moves, the document does not */
	put(&fx.srv, "traefik/frontends/f/routes/r/rule", "Host:b.test");
	run_for(400);
	CHECK_EQ_INT(fx.docs, 2);
	CHECK(fx.emit.skipped >= 1);
	/* an unrelated key outside the prefix does not wake the watcher into a new document */
	put(&fx.srv, "other/key", "x");
	run_for(300);
	CHECK_EQ_INT(fx.docs, 2);
	fx_teardown();
}

static void missing_prefix_404(void)
{
	REQUIRE(fx_setup(NULL));
	put(&fx.srv, "elsewhere/x", "1");
	CHECK_EQ_INT(fx_watch(NULL, NULL, NULL, NULL), 0);
	REQUIRE(run_until(&fx.docs, 1, 5000));
	CHECK_EQ_STR(fx.doc, "{\"frontends\":{},\"backends\":{},\"tls\":[]}");
	CHECK_EQ_INT(fx.pc.last_status, 404);
	/* the 404 carried an index: the next query blocks on it (never on index 0) */
	run_for(200);
	static char log[1 << 16];
	server_log(&fx.srv, log, sizeof log);
	CHECK(strstr(log, "recurse=true&index="));
	CHECK(!strstr(log, "index=0&"));
	CHECK(fx.pc.index > 0);
	/* keys appear: the blocked query returns and the document follows */
	put(&fx.srv, "traefik/backends/b/servers/s/url", "http://10.0.0.1:80");
	CHECK(run_until(&fx.docs, 2, 3000));
	CHECK(strstr(fx.doc, "\"b\":{\"servers\""));
	fx_teardown();
}

static void index_reset(void)
{
	REQUIRE(fx_setup(NULL));
	for (int i = 0; i < 20; i++) {
		char v[32];
		snprintf(v, sizeof v, "http://10.0.0.%d:80", i + 1);
		put(&fx.srv, "traefik/backends/b/servers/s/url", v);
	}
	CHECK_EQ_INT(fx_watch(NULL, NULL, NULL, NULL), 0);
	REQUIRE(run_until(&fx.docs, 1, 5000));
	uint64_t before = fx.pc.index;
	CHECK(before >= 20);
	run_for(100);
	hreq(fx.srv.port, "POST", "/test/clear-log", NULL, NULL, NULL, 0);
	/* snapshot restore: every index goes down; the blocked query returns at its wait (2 s)
	 * with a lower index, and the watcher starts over with a plain read */
	hreq(fx.srv.port, "POST", "/test/restore", NULL, NULL, NULL, 0);
	put(&fx.srv, "traefik/backends/b/servers/s/url", "http://10.9.9.9:80");
	CHECK(run_until(&fx.docs, 2, 6000));
	CHECK(strstr(fx.doc, "10.9.9.9"));
	CHECK_EQ_INT(fx.pc.resets, 1);
	CHECK(fx.pc.index < before);
	static char log[1 << 16];
	server_log(&fx.srv, log, sizeof log);
	CHECK(strstr(log, "\"/v1/kv/traefik?recurse=true\""));
	fx_teardown();
}

static void token_and_403(void)
{
	REQUIRE(fx_setup("s3cret"));
	CHECK(load_fixture(&fx.srv, "s3cret") > 200);
	CHECK_EQ_INT(fx_watch("wrong", NULL, NULL, NULL), 0);
	run_for(600);
	CHECK_EQ_INT(fx.docs, 0);
	CHECK_EQ_INT(fx.pc.last_status, 403);
	CHECK_EQ_INT(fx.pc.last_err, -ERR_PROVIDER_AUTH);
	CHECK(fx.pc.queries >= 2); /* retried with back-off, not given up */
	CHECK(fx.pc.queries < 20); /* ... but not in a hot loop */
	provider_consul_fini(&fx.pc);
	provider_emit_fini(&fx.emit);
	CHECK_EQ_INT(fx_watch("s3cret", NULL, NULL, NULL), 0);
	CHECK(run_until(&fx.docs, 1, 5000));
	CHECK(same_as_golden(fx.doc, fx.doc_len));
	static char log[1 << 16];
	server_log(&fx.srv, log, sizeof log);
	CHECK(strstr(log, "\"s3cret\""));
	fx_teardown();
}

static void errors_back_off(void)
{
	REQUIRE(fx_setup(NULL));
	put(&fx.srv, "traefik/backends/b/servers/s/url", "http://10.0.0.1:80");
	hreq(fx.srv.port, "POST", "/test/fail?n=3&status=500", NULL, NULL, NULL, 0);
	CHECK_EQ_INT(fx_watch(NULL, NULL, NULL, NULL), 0);
	CHECK(run_until(&fx.docs, 1, 5000));
	CHECK_EQ_INT(fx.pc.errors, 3);
	CHECK_EQ_INT(fx.pc.last_err, -ERR_PROVIDER_STATUS);
	CHECK_EQ_INT(fx.pc.backoff.attempt, 0); /* reset by the success */
	/* the server goes away: the watcher keeps retrying and keeps the last document */
	srv_stop(&fx.srv);
	run_for(500);
	CHECK(fx.pc.errors > 3);
	CHECK_EQ_INT(fx.docs, 1);
	fx_teardown();
}

static void alias_switch(void)
{
	REQUIRE(fx_setup(NULL));
	put(&fx.srv, "traefik_configurations/1/backends/one/servers/s/url", "http://10.0.0.1:80");
	put(&fx.srv, "traefik_configurations/2/backends/two/servers/s/url", "http://10.0.0.2:80");
	put(&fx.srv, "traefik/alias", "traefik_configurations/1");
	CHECK_EQ_INT(fx_watch(NULL, NULL, NULL, NULL), 0);
	REQUIRE(run_until(&fx.docs, 1, 5000));
	CHECK(strstr(fx.doc, "\"one\""));
	put(&fx.srv, "traefik/alias", "/traefik_configurations/2/");
	CHECK(run_until(&fx.docs, 2, 3000));
	CHECK(strstr(fx.doc, "\"two\"") && !strstr(fx.doc, "\"one\""));
	fx_teardown();
}

static void caps_named(void)
{
	REQUIRE(fx_setup(NULL));
	CHECK(load_fixture(&fx.srv, NULL) > 200);
	struct provider_limits lim;
	limits(&lim);
	lim.max_response_bytes = 4096;
	CHECK_EQ_INT(fx_watch(NULL, &lim, NULL, NULL), 0);
	run_for(300);
	CHECK_EQ_INT(fx.docs, 0);
	CHECK_EQ_INT(fx.pc.last_err, -ERR_PROVIDER_RESPONSE_TOO_LARGE);
	CHECK(strstr(fx.pc.errmsg, "max_response_bytes"));
	provider_consul_fini(&fx.pc);
	provider_emit_fini(&fx.emit);
	limits(&lim);
	lim.max_keys = 50;
	CHECK_EQ_INT(fx_watch(NULL, &lim, NULL, NULL), 0);
	run_for(300);
	CHECK_EQ_INT(fx.docs, 0);
	CHECK_EQ_INT(fx.pc.last_err, -ERR_PROVIDER_TOO_MANY_KEYS);
	fx_teardown();
}

static void through_http_proxy(void)
{
	/* The test server understands absolute-form targets, so it can stand in for a proxy:
	 * the endpoint's name is never resolved, the request line names it. */
	REQUIRE(fx_setup(NULL));
	put(&fx.srv, "traefik/backends/b/servers/s/url", "http://10.0.0.1:80");
	char proxy[64];
	snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", fx.srv.port);
	CHECK_EQ_INT(fx_watch(NULL, NULL, NULL, proxy), 0);
	CHECK(run_until(&fx.docs, 1, 5000));
	static char log[1 << 16];
	server_log(&fx.srv, log, sizeof log);
	CHECK(strstr(log, "\"http://consul.invalid:8500/v1/kv/traefik?recurse=true\""));
	fx_teardown();
}

static void connect_refused_by_proxy(void)
{
	/* An https endpoint through a proxy that does not do CONNECT (the test server answers
	 * 501): a clear error, retried. */
	REQUIRE(fx_setup(NULL));
	struct tls_client_config *tc = calloc(1, sizeof *tc);
	void *store = calloc(1, 8192);
	REQUIRE(tc && store);
	tls_client_config_init(tc, store, 8192);
	tls_client_set_insecure_skip_verify(tc, true);
	struct provider_limits lim;
	limits(&lim);
	provider_diag_init(&fx.diag, "consul", fx_report, &fx);
	REQUIRE(provider_emit_init(&fx.emit, &fx.loop, lim.max_doc_bytes, 0, fx_on_doc, &fx) == 0);
	char proxy[64], msg[256];
	snprintf(proxy, sizeof proxy, "127.0.0.1:%d", fx.srv.port);
	struct provider_consul_config cc = {.endpoint = "https://consul.invalid:8501",
					    .prefix = "traefik",
					    .tls_cfg = tc,
					    .https_proxy = proxy,
					    .limits = lim,
					    .rand = &fx.rand,
					    .emit = &fx.emit,
					    .diag = &fx.diag};
	REQUIRE(provider_consul_init(&fx.pc, &fx.loop, &cc, msg, sizeof msg) == 0);
	provider_consul_start(&fx.pc);
	run_for(300);
	CHECK_EQ_INT(fx.pc.last_err, -ERR_PROVIDER_PROXY);
	CHECK(strstr(fx.pc.errmsg, "refused CONNECT consul.invalid:8501"));
	CHECK_EQ_INT(fx.docs, 0);
	fx_teardown();
	free(tc);
	free(store);
}

/* Fault tests ------------------------------------------------------------------------------ */

/* Run until fx.pc.errors reaches want. */
static bool run_until_errors(uint64_t want, uint64_t ms)
{
	uint64_t end = time_mono_ms() + ms;
	while (fx.pc.errors < want && time_mono_ms() < end)
		loop_run_once(&fx.loop, 20);
	return fx.pc.errors >= want;
}

static bool run_until_state(enum provider_state want, uint64_t ms)
{
	uint64_t end = time_mono_ms() + ms;
	while (fx.pc.state != want && time_mono_ms() < end)
		loop_run_once(&fx.loop, 20);
	return fx.pc.state == want;
}

/* Short blocking queries, so that an injected failure hits the next GET quickly. */
static void fault_limits(struct provider_limits *lim)
{
	limits(lim);
	lim->consul_wait_ms = 150;
}

/* Garbage answers (bad JSON, a body cut short, bytes that are not HTTP, a 500): each is an
 * error with a detail, the state goes to BACKOFF, the last good document stays (nothing is
 * emitted), and the next good answer brings the state back to WATCHING. */
static void garbage_keeps_document(void)
{
	static const struct {
		const char *q;
		const char *what;
	} modes[] = {
		{"/test/fail?n=2&mode=badjson", "badjson"},
		{"/test/fail?n=2&mode=truncated", "truncated"},
		{"/test/fail?n=2&mode=junk", "junk"},
		{"/test/fail?n=2&status=500", "500"},
		{"/test/fail?n=2&status=503", "503"},
	};
	static char good[4096];
	REQUIRE(fx_setup(NULL));
	put(&fx.srv, "traefik/backends/b/servers/s/url", "http://10.0.0.1:80");
	struct provider_limits lim;
	fault_limits(&lim);
	REQUIRE(fx_watch(NULL, &lim, NULL, NULL) == 0);
	REQUIRE(run_until(&fx.docs, 1, 5000));
	CHECK_EQ_INT(fx.pc.state, PROVIDER_WATCHING);
	uint64_t applied = fx.pc.applied;
	CHECK(applied > 0);
	snprintf(good, sizeof good, "%s", fx.doc);
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		uint64_t errs = fx.pc.errors;
		CHECK_EQ_INT(hreq(fx.srv.port, "POST", modes[i].q, NULL, NULL, NULL, 0), 200);
		if (!run_until_errors(errs + 2, 5000)) {
			TEST_FAIL_("mode %s: no error seen", modes[i].what);
			continue;
		}
		CHECK(fx.pc.state == PROVIDER_BACKOFF || fx.pc.state == PROVIDER_CONNECTING);
		CHECK(fx.pc.last_err < 0);
		CHECK(fx.pc.errmsg[0] != 0);
		CHECK_EQ_INT(fx.docs, 1);
		CHECK_EQ_STR(fx.doc, good);
		if (!run_until_state(PROVIDER_WATCHING, 5000))
			TEST_FAIL_("mode %s: no recovery (state %s)", modes[i].what,
				   provider_state_name(fx.pc.state));
		CHECK_EQ_INT(fx.pc.backoff.attempt, 0);
		CHECK_EQ_INT(fx.docs, 1); /* same content: not emitted again */
		CHECK(fx.pc.applied >= applied);
		applied = fx.pc.applied;
	}
	/* and it still follows changes */
	put(&fx.srv, "traefik/backends/b/servers/s/url", "http://10.0.0.2:80");
	CHECK(run_until(&fx.docs, 2, 5000));
	CHECK(strstr(fx.doc, "10.0.0.2"));
	CHECK(fx.pc.applied > applied);
	fx_teardown();
}

/* An answer with an older index (a lagging server, a restore) is never applied: the watcher
 * resets and reads again; the document and the applied index stay. */
static void stale_index_not_applied(void)
{
	REQUIRE(fx_setup(NULL));
	put(&fx.srv, "traefik/backends/b/servers/s/url", "http://10.0.0.1:80");
	put(&fx.srv, "traefik/backends/b/servers/s/weight", "3");
	struct provider_limits lim;
	fault_limits(&lim);
	REQUIRE(fx_watch(NULL, &lim, NULL, NULL) == 0);
	REQUIRE(run_until(&fx.docs, 1, 5000));
	uint64_t applied = fx.pc.applied;
	CHECK(applied > 1);
	CHECK_EQ_INT(hreq(fx.srv.port, "POST", "/test/fail?n=1&mode=stale", NULL, NULL, NULL, 0),
		     200);
	uint64_t end = time_mono_ms() + 5000;
	while (fx.pc.resets < 1 && time_mono_ms() < end)
		loop_run_once(&fx.loop, 20);
	CHECK_EQ_INT(fx.pc.resets, 1);
	run_for(400);
	CHECK_EQ_INT(fx.docs, 1); /* the empty list at index 1 was not applied */
	CHECK(strstr(fx.doc, "10.0.0.1"));
	CHECK_EQ_INT(fx.pc.applied, applied);
	CHECK_EQ_INT(fx.pc.state, PROVIDER_WATCHING);
	fx_teardown();
}

/* The server is stopped and started again on the same port: back-off while it is away (the
 * delays grow, bounded by backoff_max_ms), the last good document stays, and the watcher
 * recovers on its own. */
static void restart_recovers(void)
{
	REQUIRE(fx_setup(NULL));
	int port = fx.srv.port;
	/* a few writes: the restarted (empty, in-memory) server's index is lower, as a store
	 * that lost its data; the watcher resets on it (an equal index would read as "no
	 * change", which is Consul's protocol) */
	for (int i = 0; i < 4; i++)
		put(&fx.srv, "traefik/backends/b/servers/s/url", "http://10.0.0.1:80");
	struct provider_limits lim;
	fault_limits(&lim);
	REQUIRE(fx_watch(NULL, &lim, NULL, NULL) == 0);
	REQUIRE(run_until(&fx.docs, 1, 5000));
	srv_stop(&fx.srv);
	run_for(1000);
	CHECK(fx.pc.errors >= 3);
	CHECK(fx.pc.errors < 25); /* 50..200 ms back-off, not a hot loop */
	CHECK(fx.pc.backoff.attempt >= 3);
	CHECK(fx.pc.state == PROVIDER_BACKOFF || fx.pc.state == PROVIDER_CONNECTING);
	CHECK(fx.pc.errmsg[0] != 0);
	CHECK_EQ_INT(fx.docs, 1);
	CHECK(strstr(fx.doc, "10.0.0.1"));
	REQUIRE(srv_start_on(&fx.srv, NULL, port));
	put(&fx.srv, "traefik/backends/b/servers/s/url", "http://10.0.0.9:80");
	uint64_t end = time_mono_ms() + 5000;
	while (!strstr(fx.doc, "10.0.0.9") && time_mono_ms() < end)
		loop_run_once(&fx.loop, 20);
	CHECK(strstr(fx.doc, "10.0.0.9"));
	CHECK(run_until_state(PROVIDER_WATCHING, 3000));
	CHECK_EQ_INT(fx.pc.backoff.attempt, 0);
	fx_teardown();
}

static void whole_provider_from_flags(void)
{
	REQUIRE(fx_setup(NULL));
	put(&fx.srv, "custom/backends/b/servers/s/url", "http://10.0.0.1:80");
	struct provider_config cfg = {0};
	provider_flags_default(&cfg.flags);
	char ep[64];
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", fx.srv.port);
	CHECK_EQ_INT(provider_flags_set(&cfg.flags, "consul", NULL), 0);
	CHECK_EQ_INT(provider_flags_set(&cfg.flags, "consul.endpoint", ep), 0);
	CHECK_EQ_INT(provider_flags_set(&cfg.flags, "consul.prefix", "/custom/"), 0);
	CHECK_EQ_INT(provider_flags_set(&cfg.flags, "providersthrottleduration", "100ms"), 0);
	limits(&cfg.limits);
	cfg.rand = &fx.rand;
	cfg.on_doc = fx_on_doc;
	cfg.arg = &fx;
	cfg.report = fx_report;
	cfg.report_ctx = &fx;
	struct provider p;
	REQUIRE(provider_init(&p, &fx.loop, &cfg) == 0);
	CHECK_EQ_INT(provider_start(&p), 0);
	CHECK(run_until(&fx.docs, 1, 5000));
	CHECK(strstr(fx.doc, "\"b\":{\"servers\""));
	put(&fx.srv, "custom/backends/c/servers/s/url", "http://10.0.0.2:80");
	CHECK(run_until(&fx.docs, 2, 3000));
	CHECK(strstr(fx.doc, "\"c\":{\"servers\""));
	struct provider_status st;
	provider_status_get(&p, &st);
	CHECK_EQ_STR(provider_state_name(st.state), "watching");
	CHECK(st.applied > 0);
	CHECK_EQ_INT(st.errors, 0);
	/* the server goes away: back-off, the state and error say so */
	srv_stop(&fx.srv);
	put(&fx.srv, "custom/x", "y"); /* fails: no server */
	run_for(2500);
	provider_status_get(&p, &st);
	CHECK(st.state == PROVIDER_BACKOFF || st.state == PROVIDER_CONNECTING);
	CHECK(st.errors > 0);
	CHECK(st.last_err < 0);
	CHECK(st.errmsg[0]);
	CHECK_EQ_INT(fx.docs, 2);
	provider_fini(&p);
	provider_fini(&p); /* idempotent */
	/* https without a CA: refused at init with a clear message */
	CHECK_EQ_INT(provider_flags_set(&cfg.flags, "consul.endpoint", "https://127.0.0.1:1"), 0);
	CHECK_EQ_INT(provider_init(&p, &fx.loop, &cfg), -ERR_PROVIDER_CONFIG);
	CHECK(strstr(p.errmsg, "--consul.tls.ca"));
	provider_fini(&p);
	fx_teardown();
}

TEST_MAIN(parse_kv_list, endpoints_and_no_proxy, golden_via_consul, change_emits_again,
	  missing_prefix_404, index_reset, token_and_403, errors_back_off, alias_switch, caps_named,
	  through_http_proxy, connect_refused_by_proxy, garbage_keeps_document,
	  stale_index_not_applied, restart_recovers, whole_provider_from_flags)
