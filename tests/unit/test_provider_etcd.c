/* Unit tests for the etcd v3 provider against a real etcd (Debian package etcd-server; the test
 * installs it with apt-get when it is missing). One etcd runs for the whole file on 127.0.0.1
 * with random free ports and a mkdtemp data directory; it is killed by PID and the directory
 * removed at exit. Keys are written through the v3 JSON gateway with plain blocking requests.
 */
#include "base/base_err.h"
#include "base/base_rand.h"
#include "base/base_time.h"
#include "json/json.h"
#include "loop/loop.h"
#include "provider/provider.h"
#include "provider/provider_etcd.h"
#include "provider/provider_kv.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* etcd ---------------------------------------------------------------------------------- */

static struct {
	bool tried, ok;
	pid_t pid;
	int port;
	int cport, pport; /* client and peer ports, kept across restarts */
	char dir[64];
} et;

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

static void tls_stop(void);
static void et_kill(void);
static void stop_pid(pid_t pid);
static int start_proxy(pid_t *pid);

static void et_cleanup(void)
{
	tls_stop();
	et_kill();
	if (et.dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", et.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", et.dir);
		et.dir[0] = 0;
	}
}

static int hpost(const char *path, const char *body, const char *auth, char *out, size_t cap);

/* Start etcd on et.cport/et.pport with the data directory under et.dir (kept across restarts)
 * and wait until it answers. */
static bool et_spawn(void)
{
	int cp = et.cport, pp = et.pport;
	char data[96], curl[64], purl[64], cluster[96], logf[96];
	snprintf(data, sizeof data, "%s/data", et.dir);
	snprintf(curl, sizeof curl, "http://127.0.0.1:%d", cp);
	snprintf(purl, sizeof purl, "http://127.0.0.1:%d", pp);
	snprintf(cluster, sizeof cluster, "t=%s", purl);
	snprintf(logf, sizeof logf, "%s/etcd.log", et.dir);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		char *argv[] = {"etcd",  "--name",
				"t",     "--data-dir",
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
		return false;
	et.pid = pid;
	et.port = cp;
	uint64_t end = time_mono_ms() + 15000;
	while (time_mono_ms() < end) {
		char out[256];
		if (hpost("/v3/kv/range", "{\"key\":\"AA==\"}", NULL, out, sizeof out) == 200)
			return true;
		usleep(50000);
	}
	fprintf(stderr, "etcd did not start; see %s\n", logf);
	return false;
}

/* Stop etcd (SIGTERM, then SIGKILL), by PID. */
static void et_kill(void)
{
	if (et.pid <= 0)
		return;
	kill(et.pid, SIGTERM);
	int st;
	for (int i = 0; i < 200 && waitpid(et.pid, &st, WNOHANG) != et.pid; i++)
		usleep(10000);
	kill(et.pid, SIGKILL);
	waitpid(et.pid, &st, 0);
	et.pid = 0;
}

static bool et_setup(void)
{
	if (et.tried)
		return et.ok;
	et.tried = true;
	if (system("command -v etcd >/dev/null 2>&1") != 0) {
		fprintf(stderr, "etcd missing: installing etcd-server with apt-get\n");
		if (system("(apt-get install -y -qq etcd-server || (apt-get update -qq && "
			   "apt-get install -y -qq etcd-server)) >/dev/null 2>&1") != 0 ||
		    system("command -v etcd >/dev/null 2>&1") != 0) {
			fprintf(stderr, "etcd is not available (apt-get install etcd-server)\n");
			return false;
		}
	}
	snprintf(et.dir, sizeof et.dir, "/tmp/tee-etcd-XXXXXX");
	if (!mkdtemp(et.dir)) {
		et.dir[0] = 0;
		return false;
	}
	atexit(et_cleanup);
	et.cport = free_port();
	et.pport = free_port();
	if (et.cport < 0 || et.pport < 0)
		return false;
	et.ok = et_spawn();
	return et.ok;
}

/* Blocking POST to etcd; returns the status, the body in out. */
static int hpost(const char *path, const char *body, const char *auth, char *out, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)et.port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	static char req[1 << 16];
	int n = snprintf(req, sizeof req,
			 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n%s%s%s\r\n%s",
			 path, strlen(body), auth ? "Authorization: " : "", auth ? auth : "",
			 auth ? "\r\n" : "", body);
	if (n < 0 || (size_t)n >= sizeof req || write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	static char resp[1 << 16];
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

static char auth_token[512];

static int eput(const char *key, const char *val)
{
	char kb[2048], vb[16384];
	static char body[20000];
	int kl = base64_encode(slice_from_cstr(key), kb, sizeof kb);
	int vl = base64_encode(slice_from_cstr(val), vb, sizeof vb);
	if (kl < 0 || vl < 0)
		return -1;
	snprintf(body, sizeof body, "{\"key\":\"%.*s\",\"value\":\"%.*s\"}", kl, kb, vl, vb);
	return hpost("/v3/kv/put", body, auth_token[0] ? auth_token : NULL, NULL, 0);
}

static int edel_prefix(const char *prefix)
{
	char kb[1024], eb[1024], end[512], body[2200];
	size_t el = provider_etcd_range_end(slice_from_cstr(prefix), end, sizeof end);
	int kl = base64_encode(slice_from_cstr(prefix), kb, sizeof kb);
	int l2 = base64_encode((struct slice){end, el}, eb, sizeof eb);
	snprintf(body, sizeof body, "{\"key\":\"%.*s\",\"range_end\":\"%.*s\"}", kl, kb, l2, eb);
	return hpost("/v3/kv/deleterange", body, auth_token[0] ? auth_token : NULL, NULL, 0);
}

static int load_fixture(const char *prefix)
{
	FILE *f = fopen("tests/fixtures/kv/traefik-kv.txt", "r");
	if (!f)
		return -1;
	static char line[8192], val[8192], key[1024];
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
		snprintf(key, sizeof key, "%s/%s", prefix, line);
		if (eput(key, val) != 200)
			break;
		n++;
	}
	fclose(f);
	return n;
}

/* The watcher under test ------------------------------------------------------------------ */

static struct {
	struct loop loop;
	struct rand rand;
	struct provider_emit emit;
	struct provider_diag diag;
	struct provider_etcd pe;
	int docs;
	char doc[1 << 20];
	size_t doc_len;
} fx;

static void on_doc(void *arg, struct slice doc)
{
	fx.docs++;
	fx.doc_len = doc.len < sizeof fx.doc - 1 ? doc.len : sizeof fx.doc - 1;
	memcpy(fx.doc, doc.p, fx.doc_len);
	fx.doc[fx.doc_len] = 0;
}

static void quiet(void *ctx, enum log_level level, const char *key, const char *msg) {}

static int fx_watch(const char *prefix, const char *user, const char *pw)
{
	memset(&fx, 0, sizeof fx);
	struct loop_config lc = {.max_fds = 16, .max_timers = 32, .max_events = 16};
	int rc = loop_init(&fx.loop, &lc);
	if (rc < 0)
		return rc;
	rand_init_seed(&fx.rand, "etcd", 4);
	struct provider_limits lim;
	provider_limits_default(&lim);
	lim.max_doc_bytes = 1 << 20;
	lim.max_response_bytes = 1 << 20;
	lim.max_keys = 4096;
	lim.backoff_min_ms = 50;
	lim.backoff_max_ms = 200;
	provider_diag_init(&fx.diag, "etcd", quiet, NULL);
	rc = provider_emit_init(&fx.emit, &fx.loop, lim.max_doc_bytes, 0, on_doc, NULL);
	if (rc < 0)
		return rc;
	char ep[64], msg[256];
	snprintf(ep, sizeof ep, "127.0.0.1:%d", et.port);
	struct provider_etcd_config ec = {
		.endpoint = ep,
		.prefix = prefix,
		.username = user ? user : "",
		.password = pw ? pw : "",
		.limits = lim,
		.rand = &fx.rand,
		.emit = &fx.emit,
		.diag = &fx.diag,
	};
	rc = provider_etcd_init(&fx.pe, &fx.loop, &ec, msg, sizeof msg);
	if (rc < 0)
		return rc;
	return provider_etcd_start(&fx.pe);
}

static void fx_teardown(void)
{
	provider_etcd_fini(&fx.pe);
	provider_emit_fini(&fx.emit);
	loop_fini(&fx.loop);
}

static bool run_until(int want, uint64_t ms)
{
	uint64_t end = time_mono_ms() + ms;
	while (fx.docs < want && time_mono_ms() < end)
		loop_run_once(&fx.loop, 20);
	return fx.docs >= want;
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
	static char gold[1 << 20], c[1 << 20];
	size_t gl = fread(gold, 1, sizeof gold, f), o = 0;
	fclose(f);
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
	return o == len && memcmp(c, doc, len) == 0;
}

/* Cases ----------------------------------------------------------------------------------- */

static void range_end_bytes(void)
{
	char out[16];
	size_t n = provider_etcd_range_end(SLICE_LIT("/traefik/"), out, sizeof out);
	CHECK_EQ_MEM(out, n, "/traefik0");
	n = provider_etcd_range_end(SLICE_LIT("ab\xff\xff"), out, sizeof out);
	CHECK_EQ_MEM(out, n, "ac");
	n = provider_etcd_range_end(SLICE_LIT("\xff"), out, sizeof out);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(out[0], 0);
	n = provider_etcd_range_end(SLICE_LIT("foo"), out, sizeof out);
	CHECK_EQ_MEM(out, n, "fop");
}

static void stream_messages(void)
{
	size_t skip;
	CHECK_EQ_INT(provider_etcd_next_message(SLICE_LIT("{\"a\":1}\n{\"b\""), &skip), 7);
	CHECK_EQ_INT(skip, 0);
	CHECK_EQ_INT(provider_etcd_next_message(SLICE_LIT("\r\n {\"a\":\"}{\\\"\"}x"), &skip), 12);
	CHECK_EQ_INT(skip, 3);
	CHECK_EQ_INT(provider_etcd_next_message(SLICE_LIT("{\"a\":{\"b\":[1,2]"), &skip), 0);
	CHECK_EQ_INT(provider_etcd_next_message(SLICE_LIT("  \n"), &skip), 0);
	CHECK_EQ_INT(skip, 3);
	CHECK_EQ_INT(provider_etcd_next_message(SLICE_LIT("x{}"), &skip), -ERR_PARSE);
	/* every prefix of a message is incomplete, never an error */
	static const char m[] = "{\"result\":{\"header\":{\"revision\":\"5\"},\"events\":[{\"kv\":"
				"{\"key\":\"L3Q=\"}}]}}";
	for (size_t i = 0; i < sizeof m - 1; i++)
		CHECK_EQ_INT(provider_etcd_next_message((struct slice){m, i}, &skip), 0);
	CHECK_EQ_INT(provider_etcd_next_message((struct slice){m, sizeof m - 1}, &skip),
		     (long)sizeof m - 1);
}

static void golden_via_etcd(void)
{
	REQUIRE(et_setup());
	CHECK(load_fixture("/traefik") > 200);
	REQUIRE(fx_watch("/traefik", NULL, NULL) == 0);
	CHECK(run_until(1, 8000));
	CHECK(same_as_golden(fx.doc, fx.doc_len));
	CHECK_EQ_INT(fx.pe.ranges, 1);
	CHECK(fx.pe.revision > 200);
	fx_teardown();
}

static void watch_changes(void)
{
	REQUIRE(et_setup());
	eput("/w/backends/b/servers/s/url", "http://10.0.0.1:80");
	eput("/w/frontends/f/backend", "b");
	eput("/w/frontends/f/routes/r/rule", "Host:a.test");
	eput("/wx/backends/z/servers/s/url", "http://10.0.0.9:80"); /* a sibling prefix */
	REQUIRE(fx_watch("/w", NULL, NULL) == 0);
	REQUIRE(run_until(1, 8000));
	CHECK(strstr(fx.doc, "Host:a.test"));
	CHECK(!strstr(fx.doc, "\"z\""));
	run_for(200); /* the watch is created */
	CHECK(fx.pe.watching);
	uint64_t t0 = time_mono_ms();
	eput("/w/frontends/f/routes/r/rule", "Host:b.test");
	CHECK(run_until(2, 5000));
	CHECK(time_mono_ms() - t0 < 2000);
	CHECK(strstr(fx.doc, "Host:b.test"));
	CHECK(fx.pe.watch_events >= 1);
	/* a burst of writes: at most a few re-lists, and the last state wins */
	for (int i = 0; i < 10; i++) {
		char v[32];
		snprintf(v, sizeof v, "http://10.0.1.%d:80", i);
		eput("/w/backends/b/servers/s/url", v);
	}
	run_for(600);
	CHECK(strstr(fx.doc, "10.0.1.9:80"));
	/* a write next door does not count */
	int docs = fx.docs;
	eput("/wx/backends/y/servers/s/url", "http://10.0.0.8:80");
	run_for(300);
	CHECK_EQ_INT(fx.docs, docs);
	/* deleting the tree empties the document */
	edel_prefix("/w/");
	CHECK(run_until(docs + 1, 5000));
	CHECK_EQ_STR(fx.doc, "{\"frontends\":{},\"backends\":{},\"tls\":[]}");
	fx_teardown();
}

static void compaction_relists(void)
{
	REQUIRE(et_setup());
	eput("/c/backends/b/servers/s/url", "http://10.0.0.1:80");
	REQUIRE(fx_watch("/c", NULL, NULL) == 0);
	REQUIRE(run_until(1, 8000));
	int64_t old = fx.pe.revision;
	for (int i = 0; i < 5; i++)
		eput("/other/k", "v");
	eput("/c/backends/b/servers/s/url", "http://10.0.0.2:80");
	char out[512], body[128];
	hpost("/v3/kv/range", "{\"key\":\"AA==\",\"range_end\":\"AA==\",\"count_only\":true}", NULL,
	      out, sizeof out);
	long long rev = 0;
	char *r = strstr(out, "\"revision\":\"");
	if (r)
		rev = atoll(r + 12);
	snprintf(body, sizeof body, "{\"revision\":\"%lld\",\"physical\":true}", rev);
	CHECK_EQ_INT(hpost("/v3/kv/compaction", body, NULL, NULL, 0), 200);
	run_until(2, 3000); /* the live watch reports the change */
	int docs = fx.docs;
	/* a watch from before the compaction is canceled by etcd: the watcher lists again */
	CHECK_EQ_INT(provider_etcd_watch_from(&fx.pe, old), 0);
	uint64_t end = time_mono_ms() + 5000;
	while (fx.pe.compactions == 0 && time_mono_ms() < end)
		loop_run_once(&fx.loop, 20);
	CHECK_EQ_INT(fx.pe.compactions, 1);
	CHECK_EQ_INT(fx.pe.last_err, -ERR_PROVIDER_COMPACTED);
	run_for(300);
	CHECK(fx.pe.watching);
	CHECK(fx.pe.revision >= rev);
	CHECK(strstr(fx.doc, "10.0.0.2:80"));
	/* and the new watch works */
	eput("/c/backends/b/servers/s/url", "http://10.0.0.3:80");
	CHECK(run_until(docs + 1, 5000));
	CHECK(strstr(fx.doc, "10.0.0.3:80"));
	fx_teardown();
}

static void alias_tree(void)
{
	REQUIRE(et_setup());
	eput("/cfg/1/backends/one/servers/s/url", "http://10.0.0.1:80");
	eput("/cfg/2/backends/two/servers/s/url", "http://10.0.0.2:80");
	eput("/al/alias", "/cfg/1");
	REQUIRE(fx_watch("/al", NULL, NULL) == 0);
	REQUIRE(run_until(1, 8000));
	CHECK(strstr(fx.doc, "\"one\""));
	run_for(200);
	eput("/al/alias", "/cfg/2");
	CHECK(run_until(2, 5000));
	CHECK(strstr(fx.doc, "\"two\"") && !strstr(fx.doc, "\"one\""));
	fx_teardown();
}

static void server_down_keeps_document(void)
{
	REQUIRE(et_setup());
	eput("/d/backends/b/servers/s/url", "http://10.0.0.1:80");
	REQUIRE(fx_watch("/d", NULL, NULL) == 0);
	REQUIRE(run_until(1, 8000));
	/* point the watcher at a dead port: errors, back-off, no document */
	fx_teardown();
	int saved = et.port;
	et.port = free_port();
	REQUIRE(fx_watch("/d", NULL, NULL) == 0);
	run_for(500);
	CHECK_EQ_INT(fx.docs, 0);
	CHECK(fx.pe.errors >= 2);
	CHECK(fx.pe.errors < 30);
	CHECK(strstr(fx.pe.errmsg, "range"));
	CHECK(fx.pe.state == PROVIDER_BACKOFF || fx.pe.state == PROVIDER_CONNECTING);
	CHECK_EQ_INT(fx.pe.applied, 0);
	fx_teardown();
	et.port = saved;
}

/* Fault tests ------------------------------------------------------------------------------ */

static bool run_until_state(enum provider_state want, uint64_t ms)
{
	uint64_t end = time_mono_ms() + ms;
	while (fx.pe.state != want && time_mono_ms() < end)
		loop_run_once(&fx.loop, 20);
	return fx.pe.state == want;
}

static bool run_until_doc_has(const char *needle, uint64_t ms)
{
	uint64_t end = time_mono_ms() + ms;
	while (!strstr(fx.doc, needle) && time_mono_ms() < end)
		loop_run_once(&fx.loop, 20);
	return strstr(fx.doc, needle) != NULL;
}

/* etcd is killed and started again on the same ports and data: while it is away the watcher
 * backs off (bounded), reports BACKOFF with the error, keeps the last document; then it lists
 * and watches again by itself, and the applied revision only moves forward. */
static void restart_recovers(void)
{
	REQUIRE(et_setup());
	eput("/rr/backends/b/servers/s/url", "http://10.0.0.1:80");
	REQUIRE(fx_watch("/rr", NULL, NULL) == 0);
	REQUIRE(run_until(1, 8000));
	CHECK(run_until_state(PROVIDER_WATCHING, 2000));
	int64_t applied = fx.pe.applied;
	CHECK(applied > 0);
	et_kill();
	run_for(1000);
	CHECK(fx.pe.errors >= 2);
	CHECK(fx.pe.errors < 25); /* 50..200 ms back-off, not a hot loop */
	CHECK(fx.pe.state == PROVIDER_BACKOFF || fx.pe.state == PROVIDER_CONNECTING);
	CHECK(fx.pe.last_err < 0);
	CHECK(fx.pe.errmsg[0] != 0);
	CHECK_EQ_INT(fx.docs, 1);
	CHECK(strstr(fx.doc, "10.0.0.1"));
	REQUIRE(et_spawn());
	CHECK(run_until_state(PROVIDER_WATCHING, 5000));
	CHECK(fx.pe.applied >= applied);
	CHECK_EQ_INT(fx.docs, 1); /* the same data after the restart: nothing new to emit */
	eput("/rr/backends/b/servers/s/url", "http://10.0.0.9:80");
	CHECK(run_until_doc_has("10.0.0.9", 5000));
	CHECK(fx.pe.applied > applied);
	fx_teardown();
}

/* A range older than the revision already applied (a lagging member, a restored store) is
 * dropped with -ERR_PROVIDER_STALE and the last document stays; one that stays older for
 * three lists is a replaced store and is accepted (resets). */
static void stale_revision_not_applied(void)
{
	REQUIRE(et_setup());
	eput("/st/backends/b/servers/s/url", "http://10.0.0.1:80");
	REQUIRE(fx_watch("/st", NULL, NULL) == 0);
	REQUIRE(run_until(1, 8000));
	CHECK(run_until_state(PROVIDER_WATCHING, 2000));
	fx.pe.applied = fx.pe.revision + 1000; /* as if a newer revision had been applied */
	eput("/st/backends/b/servers/s/url", "http://10.0.0.2:80");
	uint64_t end = time_mono_ms() + 5000;
	while (fx.pe.stale < 1 && time_mono_ms() < end)
		loop_run_once(&fx.loop, 5);
	CHECK_EQ_INT(fx.pe.stale, 1);
	CHECK_EQ_INT(fx.pe.last_err, -ERR_PROVIDER_STALE);
	CHECK(strstr(fx.pe.errmsg, "older than the applied"));
	CHECK(fx.pe.state == PROVIDER_BACKOFF || fx.pe.state == PROVIDER_CONNECTING);
	CHECK_EQ_INT(fx.docs, 1);
	CHECK(strstr(fx.doc, "10.0.0.1"));
	CHECK(run_until(2, 5000));
	CHECK(strstr(fx.doc, "10.0.0.2"));
	CHECK_EQ_INT(fx.pe.stale, 2);
	CHECK_EQ_INT(fx.pe.resets, 1);
	CHECK(run_until_state(PROVIDER_WATCHING, 2000));
	fx_teardown();
}

/* An endpoint answering garbage (bytes that are not HTTP, a 200 with bad JSON, a body cut
 * short): errors with a detail, back-off, no document. The Consul test server stands in. */
static void garbage_endpoint(void)
{
	static const char *const modes[] = {"/test/fail?n=1000&mode=junk",
					    "/test/fail?n=1000&mode=badjson",
					    "/test/fail?n=1000&mode=truncated"};
	REQUIRE(et_setup());
	int saved = et.port;
	pid_t pid = 0;
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		int port = start_proxy(&pid);
		if (port <= 0) {
			TEST_FAIL_("test server did not start");
			break;
		}
		et.port = port;
		CHECK_EQ_INT(hpost(modes[i], "", NULL, NULL, 0), 200);
		CHECK_EQ_INT(fx_watch("/g", NULL, NULL), 0);
		run_for(700);
		CHECK(fx.pe.errors >= 2);
		CHECK(fx.pe.errors < 25);
		CHECK(fx.pe.last_err < 0);
		CHECK(fx.pe.errmsg[0] != 0);
		CHECK(fx.pe.state == PROVIDER_BACKOFF || fx.pe.state == PROVIDER_CONNECTING);
		CHECK_EQ_INT(fx.docs, 0);
		CHECK_EQ_INT(fx.pe.applied, 0);
		fx_teardown();
		stop_pid(pid);
		et.port = saved;
	}
	et.port = saved;
}

/* TLS: a second etcd serving https with client-certificate auth; certificates from openssl. */
static const char tls_script[] =
	"set -e\n"
	"ec() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key "
	"-out $1.csr -subj /CN=$2; }\n"
	"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out "
	"ca.pem -days 30 -subj /CN=test-ca -addext basicConstraints=critical,CA:TRUE -addext "
	"keyUsage=critical,keyCertSign,cRLSign\n"
	"ec srv etcd; printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,"
	"clientAuth\\n' > srv.ext\n"
	"openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile "
	"srv.ext -out srv.pem\n"
	"ec cli root; printf 'extendedKeyUsage=clientAuth\\n' > cli.ext\n"
	"openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile "
	"cli.ext -out cli.pem\n";

static pid_t tls_pid;

static void stop_pid(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	int st;
	for (int i = 0; i < 200 && waitpid(pid, &st, WNOHANG) != pid; i++)
		usleep(10000);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* tests/consul_server/consul_server.py --proxy serves CONNECT tunnels: our HTTPS proxy. */
static int start_proxy(pid_t *pid)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	*pid = fork();
	if (*pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		char *argv[] = {"python3", "tests/consul_server/consul_server.py",
				"--port",  "0",
				"--proxy", NULL};
		execvp("python3", argv);
		_exit(127);
	}
	close(p[1]);
	char line[64] = {0};
	size_t n = 0;
	ssize_t r;
	while (n < sizeof line - 1 && !strchr(line, '\n') &&
	       (r = read(p[0], line + n, sizeof line - 1 - n)) > 0)
		n += (size_t)r;
	close(p[0]);
	int port = 0;
	sscanf(line, "PORT %d", &port);
	return port;
}

static void tls_stop(void)
{
	if (tls_pid > 0) {
		kill(tls_pid, SIGTERM);
		int st;
		for (int i = 0; i < 200 && waitpid(tls_pid, &st, WNOHANG) != tls_pid; i++)
			usleep(10000);
		kill(tls_pid, SIGKILL);
		waitpid(tls_pid, &st, 0);
		tls_pid = 0;
	}
}

static void tls_endpoint(void)
{
	REQUIRE(et_setup());
	char d[96], cmd[512];
	snprintf(d, sizeof d, "%s/tls", et.dir);
	mkdir(d, 0700);
	snprintf(cmd, sizeof cmd, "%s/gen.sh", d);
	FILE *f = fopen(cmd, "w");
	REQUIRE(f);
	fputs(tls_script, f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "cd '%s' && sh gen.sh > gen.log 2>&1", d);
	REQUIRE(system(cmd) == 0);
	int cp = free_port(), pp = free_port();
	char data[128], curl[64], purl[64], cluster[96], cert[128], key[128], ca[128];
	snprintf(data, sizeof data, "%s/data", d);
	snprintf(curl, sizeof curl, "https://127.0.0.1:%d", cp);
	snprintf(purl, sizeof purl, "http://127.0.0.1:%d", pp);
	snprintf(cluster, sizeof cluster, "t=%s", purl);
	snprintf(cert, sizeof cert, "%s/srv.pem", d);
	snprintf(key, sizeof key, "%s/srv.key", d);
	snprintf(ca, sizeof ca, "%s/ca.pem", d);
	pid_t pid = fork();
	if (pid == 0) {
		char logf[160];
		snprintf(logf, sizeof logf, "%s/etcd.log", d);
		int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		char *argv[] = {"etcd",
				"--name",
				"t",
				"--data-dir",
				data,
				"--listen-client-urls",
				curl,
				"--advertise-client-urls",
				curl,
				"--listen-peer-urls",
				purl,
				"--initial-advertise-peer-urls",
				purl,
				"--initial-cluster",
				cluster,
				"--cert-file",
				cert,
				"--key-file",
				key,
				"--client-cert-auth",
				"--trusted-ca-file",
				ca,
				NULL};
		execvp("etcd", argv);
		_exit(127);
	}
	REQUIRE(pid > 0);
	tls_pid = pid;
	/* writes go through curl (our blocking helper is plain HTTP) */
	char put[1024];
	snprintf(put, sizeof put,
		 "cd '%s' && curl -sf --cacert ca.pem --cert cli.pem --key cli.key "
		 "%s/v3/kv/put -d '{\"key\":\"L3Rscy9iYWNrZW5kcy9iL3NlcnZlcnMvcy91cmw=\","
		 "\"value\":\"aHR0cDovLzEwLjAuMC41Ojgw\"}' >/dev/null",
		 d, curl);
	bool up = false;
	for (int i = 0; i < 150 && !up; i++) {
		up = system(put) == 0;
		if (!up)
			usleep(100000);
	}
	REQUIRE(up);
	/* the whole provider, from deploy flags */
	memset(&fx, 0, sizeof fx);
	struct loop_config lc = {.max_fds = 16, .max_timers = 32, .max_events = 16};
	REQUIRE(loop_init(&fx.loop, &lc) == 0);
	rand_init_seed(&fx.rand, "etcd-tls", 8);
	struct provider_config cfg = {0};
	provider_flags_default(&cfg.flags);
	char cc[128], ck[128];
	snprintf(cc, sizeof cc, "%s/cli.pem", d);
	snprintf(ck, sizeof ck, "%s/cli.key", d);
	provider_flags_set(&cfg.flags, "etcd", NULL);
	provider_flags_set(&cfg.flags, "etcd.endpoint", curl);
	provider_flags_set(&cfg.flags, "etcd.prefix", "/tls");
	provider_flags_set(&cfg.flags, "etcd.tls.ca", ca);
	provider_flags_set(&cfg.flags, "etcd.tls.cert", cc);
	provider_flags_set(&cfg.flags, "etcd.tls.key", ck);
	provider_flags_set(&cfg.flags, "providersthrottleduration", "0");
	provider_limits_default(&cfg.limits);
	cfg.limits.max_doc_bytes = 1 << 16;
	cfg.limits.max_response_bytes = 1 << 16;
	cfg.limits.max_keys = 256;
	cfg.limits.backoff_min_ms = 50;
	cfg.limits.backoff_max_ms = 200;
	cfg.rand = &fx.rand;
	cfg.on_doc = on_doc;
	cfg.report = quiet;
	struct provider p;
	int rc = provider_init(&p, &fx.loop, &cfg);
	CHECK_EQ_INT(rc, 0);
	if (rc == 0) {
		CHECK_EQ_INT(provider_start(&p), 0);
		CHECK(run_until(1, 8000));
		CHECK(strstr(fx.doc, "http://10.0.0.5:80"));
		run_for(300); /* the watch, over TLS too */
		CHECK(p.etcd && p.etcd->watching);
		snprintf(put, sizeof put,
			 "cd '%s' && curl -sf --cacert ca.pem --cert cli.pem --key cli.key "
			 "%s/v3/kv/put -d '{\"key\":\"L3Rscy9iYWNrZW5kcy9iL3NlcnZlcnMvcy91cmw=\","
			 "\"value\":\"aHR0cDovLzEwLjAuMC42Ojgw\"}' >/dev/null",
			 d, curl);
		CHECK(system(put) == 0);
		CHECK(run_until(2, 5000));
		CHECK(strstr(fx.doc, "http://10.0.0.6:80"));
	}
	provider_fini(&p);
	/* the same through an HTTPS proxy: CONNECT, then TLS end to end */
	pid_t px = 0;
	int pport = start_proxy(&px);
	CHECK(pport > 0);
	if (pport > 0) {
		snprintf(cfg.flags.https_proxy, sizeof cfg.flags.https_proxy, "http://127.0.0.1:%d",
			 pport);
		fx.docs = 0;
		REQUIRE(provider_init(&p, &fx.loop, &cfg) == 0);
		provider_start(&p);
		CHECK(run_until(1, 8000));
		CHECK(strstr(fx.doc, "http://10.0.0.6:80"));
		CHECK(p.etcd->kvc.use_proxy);
		provider_fini(&p);
		cfg.flags.https_proxy[0] = 0;
	}
	stop_pid(px);
	/* without our client certificate the server refuses the handshake: reported, retried */
	provider_flags_set(&cfg.flags, "etcd.tls.cert", "");
	provider_flags_set(&cfg.flags, "etcd.tls.key", "");
	fx.docs = 0;
	REQUIRE(provider_init(&p, &fx.loop, &cfg) == 0);
	provider_start(&p);
	run_for(500);
	CHECK_EQ_INT(fx.docs, 0);
	CHECK(p.etcd->errors >= 1);
	provider_fini(&p);
	loop_fini(&fx.loop);
	tls_stop();
}

/* Last: turns authentication on for this etcd. */
static void authentication(void)
{
	REQUIRE(et_setup());
	eput("/a/backends/b/servers/s/url", "http://10.0.0.1:80");
	CHECK_EQ_INT(hpost("/v3/auth/user/add", "{\"name\":\"root\",\"password\":\"rootpw\"}", NULL,
			   NULL, 0),
		     200);
	CHECK_EQ_INT(hpost("/v3/auth/user/grant", "{\"user\":\"root\",\"role\":\"root\"}", NULL,
			   NULL, 0),
		     200);
	CHECK_EQ_INT(hpost("/v3/auth/enable", "{}", NULL, NULL, 0), 200);
	/* without credentials: refused, retried */
	REQUIRE(fx_watch("/a", NULL, NULL) == 0);
	run_for(500);
	CHECK_EQ_INT(fx.docs, 0);
	CHECK_EQ_INT(fx.pe.last_err, -ERR_PROVIDER_AUTH);
	fx_teardown();
	/* wrong password */
	REQUIRE(fx_watch("/a", "root", "nope") == 0);
	run_for(500);
	CHECK_EQ_INT(fx.docs, 0);
	CHECK_EQ_INT(fx.pe.last_err, -ERR_PROVIDER_AUTH);
	CHECK(strstr(fx.pe.errmsg, "--etcd.password"));
	fx_teardown();
	/* right one: list and watch with the token */
	REQUIRE(fx_watch("/a", "root", "rootpw") == 0);
	REQUIRE(run_until(1, 8000));
	CHECK(strstr(fx.doc, "10.0.0.1:80"));
	run_for(200);
	char out[1024];
	REQUIRE(hpost("/v3/auth/authenticate", "{\"name\":\"root\",\"password\":\"rootpw\"}", NULL,
		      out, sizeof out) == 200);
	char *t = strstr(out, "\"token\":\"");
	if (t) {
		snprintf(auth_token, sizeof auth_token, "%s", t + 9);
		auth_token[strcspn(auth_token, "\"")] = 0;
	}
	CHECK_EQ_INT(eput("/a/backends/b/servers/s/url", "http://10.0.0.7:80"), 200);
	CHECK(run_until(2, 5000));
	CHECK(strstr(fx.doc, "10.0.0.7:80"));
	fx_teardown();
}

static void flags_v2_refused_politely(void)
{
	struct provider_flags f;
	char msg[128];
	provider_flags_default(&f);
	provider_flags_set(&f, "etcd", NULL);
	provider_flags_set(&f, "etcd.useapiv3", "false");
	CHECK_EQ_INT(provider_flags_check(&f, msg, sizeof msg), 0); /* warns, uses v3 */
	provider_flags_set(&f, "etcd.password", "x");
	CHECK_EQ_INT(provider_flags_check(&f, msg, sizeof msg), -ERR_PROVIDER_CONFIG);
	CHECK(strstr(msg, "username"));
	provider_flags_set(&f, "etcd.username", "u");
	provider_flags_set(&f, "etcd.tls.cert", "c.pem");
	CHECK_EQ_INT(provider_flags_check(&f, msg, sizeof msg), -ERR_PROVIDER_CONFIG);
	CHECK(strstr(msg, "--etcd.tls.key"));
}

TEST_MAIN(range_end_bytes, stream_messages, golden_via_etcd, watch_changes, compaction_relists,
	  alias_tree, server_down_keeps_document, restart_recovers, stale_revision_not_applied,
	  garbage_endpoint, tls_endpoint, authentication, flags_v2_refused_politely)
