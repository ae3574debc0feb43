/* Unit tests for src/api/api_client (the CLIs' API client) and src/api/api_creds (the admin
 * credentials bundle).
 *
 * A real api_server runs on a loop in a second thread; the client under test runs in the main
 * thread. Certificates come from src/pki. Sockets are loopback or in a mkdtemp() directory;
 * every file and directory a case makes is removed at its end.
 */
#include "api/api_client.h"
#include "api/api_creds.h"
#include "api/api_server.h"
#include "base/base_err.h"
#include "base/base_time.h"
#include "pki/pki_cert.h"
#include "pki/pki_key.h"
#include "pki/pki_pem.h"
#include "pki/pki_token.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* --- certificates ---------------------------------------------------------------------- */

struct pem_pair {
	char cert[12288];
	size_t cert_len;
	char key[PKI_KEY_PEM_MAX];
	size_t key_len;
};

static struct {
	bool ready;
	struct rand r;
	int64_t now;
	struct pki_ca ca, ca2;
	char ca_pem[8192], ca2_pem[8192];
	size_t ca_len, ca2_len;
	struct pem_pair server, data_server, admin, control;
} fx;

static int pem_append(char *out, size_t cap, size_t *len, const void *der, size_t n)
{
	struct buf b;
	buf_init(&b, out + *len, cap - *len);
	int rc = pki_pem_encode(PKI_PEM_CERT, der, n, &b);
	*len += b.len;
	return rc;
}

static int make_pair(struct pki_ca *ca, enum pki_role role, const char *id, bool chain,
		     struct pem_pair *out)
{
	struct pki_key k;
	if (pki_key_generate(&k, &fx.r))
		return -1;
	struct pki_cert_req req = {role, id, k.pub, 0, NULL, 0, NULL, 0};
	uint8_t der[PKI_CERT_MAX];
	struct buf b;
	buf_init(&b, der, sizeof der);
	if (pki_cert_issue(ca, &fx.r, &req, fx.now, &b))
		return -1;
	out->cert_len = 0;
	if (pem_append(out->cert, sizeof out->cert, &out->cert_len, der, b.len))
		return -1;
	if (chain &&
	    pem_append(out->cert, sizeof out->cert, &out->cert_len, ca->cert, ca->cert_len))
		return -1;
	buf_init(&b, out->key, sizeof out->key);
	if (pki_key_to_pem(&k, PKI_KEY_SEC1, &b))
		return -1;
	out->key_len = b.len;
	return 0;
}

static int fx_setup(void)
{
	if (fx.ready)
		return 0;
	rand_init_seed(&fx.r, "api-client-tests", 16);
	fx.now = (int64_t)time(NULL);
	if (pki_ca_create(&fx.ca, &fx.r, "test-cluster", fx.now) ||
	    pki_ca_create(&fx.ca2, &fx.r, "other-cluster", fx.now))
		return -1;
	if (pem_append(fx.ca_pem, sizeof fx.ca_pem, &fx.ca_len, fx.ca.cert, fx.ca.cert_len) ||
	    pem_append(fx.ca2_pem, sizeof fx.ca2_pem, &fx.ca2_len, fx.ca2.cert, fx.ca2.cert_len))
		return -1;
	if (make_pair(&fx.ca, PKI_ROLE_CONTROL, "k3ld9a0zq8w7e6r5t4y3u2i1o", true, &fx.server) ||
	    make_pair(&fx.ca, PKI_ROLE_DATA, "d3ld9a0zq8w7e6r5t4y3u2i1o", true, &fx.data_server) ||
	    make_pair(&fx.ca, PKI_ROLE_ADMIN, "admin", false, &fx.admin) ||
	    make_pair(&fx.ca, PKI_ROLE_CONTROL, "c3ld9a0zq8w7e6r5t4y3u2i1o", false, &fx.control))
		return -1;
	fx.ready = true;
	return 0;
}

/* --- a server in a thread --------------------------------------------------------------- */

static struct {
	struct loop loop;
	struct api_server api;
	struct rand rng;
	struct tls_server_config tls;
	uint8_t store[32768];
	pthread_t th;
	bool running;
	int pipefd[2];
	char dir[64], sock[128];
	int tls_idx;
	struct api_handle stream;
	struct loop_timer_id timer;
} S;

static void on_stop_pipe(struct loop *l, int fd, uint32_t ev, void *arg)
{
	char b[8];
	ssize_t n = read(fd, b, sizeof b);
	(void)n;
	loop_stop(l);
}

static void *srv_thread(void *arg)
{
	loop_run(&S.loop);
	return NULL;
}

static int h_echo(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct json_writer *w = api_resp_json(resp);
	json_w_obj_begin(w);
	json_w_key(w, "peer");
	json_w_str(w, api_peer_kind_name(req->peer->kind));
	json_w_key(w, "id");
	json_w_str(w, req->peer->id);
	json_w_key(w, "len");
	json_w_uint(w, req->body.len);
	json_w_obj_end(w);
	return API_DONE;
}

static int h_fail(struct api_req *req, struct api_resp *resp, void *arg)
{
	return -ERR_RAFT_NOT_LEADER;
}

static int h_big(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct json_writer *w = api_resp_json(resp);
	json_w_arr_begin(w);
	for (int i = 0; i < 150; i++)
		json_w_str(w, "0123456789abcdef");
	json_w_arr_end(w);
	return API_DONE;
}

static int h_chunky(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct api_handle h;
	int rc = api_resp_stream(resp, &h);
	for (int i = 0; i < 20; i++)
		api_stream_push(&S.api, h, "0123456789", 10);
	api_stream_end(&S.api, h);
	return rc;
}

static void slow_tick(struct loop *l, void *arg)
{
	api_stream_push(&S.api, S.stream, "late", 4);
	api_stream_end(&S.api, S.stream);
}

static int h_slow(struct api_req *req, struct api_resp *resp, void *arg)
{
	int rc = api_resp_stream(resp, &S.stream);
	loop_timer_add(&S.loop, 300, slow_tick, NULL, &S.timer);
	return rc;
}

static const struct api_route routes[] = {
	{"GET", "/echo", API_ROLE_ANY, h_echo, NULL},
	{"POST", "/echo", API_ROLE_ANY, h_echo, NULL},
	{"POST", "/join", API_ROLE_ANON, h_echo, NULL},
	{"GET", "/fail", API_ROLE_ANY, h_fail, NULL},
	{"GET", "/big", API_ROLE_ANY, h_big, NULL},
	{"GET", "/chunky", API_ROLE_ANY, h_chunky, NULL},
	{"GET", "/slow", API_ROLE_ANY, h_slow, NULL},
};

static int srv_start(const struct pem_pair *cert, uint32_t idle_ms)
{
	if (fx_setup())
		return -1;
	memset(&S, 0, sizeof S);
	struct api_limits lim;
	api_limits_default(&lim);
	lim.max_clients = 8;
	lim.max_tls_clients = 4;
	lim.max_body = 1024;
	lim.max_resp = 4096;
	lim.idle_timeout_ms = idle_ms;
	lim.linger_ms = 500;
	snprintf(S.dir, sizeof S.dir, "/tmp/tee-apic-XXXXXX");
	if (!mkdtemp(S.dir))
		return -1;
	snprintf(S.sock, sizeof S.sock, "%s/api.sock", S.dir);
	rand_init_seed(&S.rng, "srv", 3);
	struct loop_config lc = {64, 64, 32, 0, NULL, NULL};
	if (loop_init(&S.loop, &lc) || api_server_init(&S.api, &S.loop, &S.rng, &lim) ||
	    api_server_add_routes(&S.api, routes, sizeof routes / sizeof routes[0]) ||
	    api_server_listen_unix(&S.api, S.sock) < 0)
		return -1;
	if (api_tls_server_config(&S.tls, S.store, sizeof S.store, cert->cert, cert->cert_len,
				  cert->key, cert->key_len, fx.ca_pem, fx.ca_len))
		return -1;
	S.tls_idx = api_server_listen_tcp(&S.api, "127.0.0.1:0", &S.tls);
	if (S.tls_idx < 0)
		return -1;
	if (pipe(S.pipefd) || loop_add_fd(&S.loop, S.pipefd[0], LOOP_READ, on_stop_pipe, NULL))
		return -1;
	if (pthread_create(&S.th, NULL, srv_thread, NULL))
		return -1;
	S.running = true;
	return 0;
}

static void srv_stop(void)
{
	if (S.running) {
		ssize_t n = write(S.pipefd[1], "x", 1);
		(void)n;
		pthread_join(S.th, NULL);
		S.running = false;
	}
	loop_del_fd(&S.loop, S.pipefd[0]);
	close(S.pipefd[0]);
	close(S.pipefd[1]);
	api_server_fini(&S.api);
	loop_fini(&S.loop);
	unlink(S.sock);
	rmdir(S.dir);
}

static char addr_buf[64];
static const char *tls_addr(void)
{
	snprintf(addr_buf, sizeof addr_buf, "127.0.0.1:%u", api_server_port(&S.api, S.tls_idx));
	return addr_buf;
}

static bool has(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* A temporary directory tree, removed recursively (two levels are enough here). */
static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char p[512];
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static struct api_client cl;
static char body[8192];

/* --- client cases ----------------------------------------------------------------------- */

static void init_errors(void)
{
	CHECK_EQ_INT(api_client_init_unix(&cl, ""), -ERR_INVAL);
	char longp[200];
	memset(longp, 'x', sizeof longp - 1);
	longp[sizeof longp - 1] = 0;
	CHECK_EQ_INT(api_client_init_unix(&cl, longp), -ERR_RANGE);
	REQUIRE(fx_setup() == 0);
	CHECK_EQ_INT(api_client_init_tls(&cl, "nohost", fx.ca_pem, fx.ca_len, NULL, 0, NULL, 0),
		     -ERR_INVAL);
	CHECK(has(api_client_errmsg(&cl), "want host:port"));
	CHECK_EQ_INT(api_client_init_tls(&cl, "h:0", fx.ca_pem, fx.ca_len, NULL, 0, NULL, 0),
		     -ERR_INVAL);
	CHECK(api_client_init_tls(&cl, "h:1", "junk", 4, NULL, 0, NULL, 0) < 0);
	CHECK(has(api_client_errmsg(&cl), "cluster CA"));
	CHECK(api_client_init_tls(&cl, "h:1", fx.ca_pem, fx.ca_len, fx.admin.cert,
				  fx.admin.cert_len, fx.control.key, fx.control.key_len) < 0);
	CHECK(has(api_client_errmsg(&cl), "client certificate"));
	struct api_result res;
	api_result_init(&res, body, sizeof body);
	REQUIRE(api_client_init_unix(&cl, "/nonexistent/x.sock") == 0);
	CHECK_EQ_INT(api_call(&cl, NULL, "/x", NULL, &res), -ERR_INVAL);
	api_client_fini(&cl);
}

static void unix_connect_errors(void)
{
	struct api_result res;
	api_result_init(&res, body, sizeof body);
	REQUIRE(api_client_init_unix(&cl, "/var/run/tee-test-missing.sock") == 0);
	CHECK_EQ_INT(api_call(&cl, "GET", "/nodes", NULL, &res), -ERR_API_CONNECT);
	CHECK_EQ_STR(api_client_errmsg(&cl), "cannot connect to /var/run/tee-test-missing.sock: "
					     "no such file (is the node running?)");
	/* a socket file nobody listens on (a node that died) */
	char dir[64] = "/tmp/tee-apic-XXXXXX";
	REQUIRE(mkdtemp(dir) != NULL);
	char path[128];
	snprintf(path, sizeof path, "%s/dead.sock", dir);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {AF_UNIX, {0}};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	close(fd);
	REQUIRE(api_client_init_unix(&cl, path) == 0);
	CHECK_EQ_INT(api_call(&cl, "GET", "/nodes", NULL, &res), -ERR_API_CONNECT);
	CHECK(has(api_client_errmsg(&cl), "connection refused (is the node running?)"));
	/* a listener that never answers: the call times out */
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	REQUIRE(listen(fd, 4) == 0);
	api_client_set_timeout(&cl, 200);
	uint64_t t0 = time_mono_ms();
	CHECK_EQ_INT(api_call(&cl, "GET", "/nodes", NULL, &res), -ERR_TIMEOUT);
	uint64_t took = time_mono_ms() - t0;
	CHECK(took >= 150 && took < 2000);
	CHECK(has(api_client_errmsg(&cl), "no response from"));
	close(fd);
	api_client_fini(&cl);
	unlink(path);
	rmdir(dir);
}

static void tcp_connect_errors(void)
{
	REQUIRE(fx_setup() == 0);
	/* a port nobody listens on */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof sa;
	REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	REQUIRE(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(sa.sin_port));
	struct api_result res;
	api_result_init(&res, body, sizeof body);
	REQUIRE(api_client_init_tls(&cl, addr, fx.ca_pem, fx.ca_len, fx.admin.cert,
				    fx.admin.cert_len, fx.admin.key, fx.admin.key_len) == 0);
	CHECK_EQ_INT(api_call(&cl, "GET", "/nodes", NULL, &res), -ERR_API_CONNECT);
	CHECK(has(api_client_errmsg(&cl), "connection refused"));
	CHECK(has(api_client_errmsg(&cl), addr));
	/* listening but never answering the handshake */
	REQUIRE(listen(fd, 4) == 0);
	api_client_set_timeout(&cl, 200);
	CHECK_EQ_INT(api_call(&cl, "GET", "/nodes", NULL, &res), -ERR_TIMEOUT);
	CHECK(has(api_client_errmsg(&cl), "TLS handshake"));
	close(fd);
	api_client_fini(&cl);
	REQUIRE(api_client_init_tls(&cl, "no-such-host.invalid:55055", fx.ca_pem, fx.ca_len, NULL,
				    0, NULL, 0) == 0);
	CHECK_EQ_INT(api_call(&cl, "GET", "/nodes", NULL, &res), -ERR_API_CONNECT);
	CHECK(has(api_client_errmsg(&cl), "cannot resolve no-such-host.invalid"));
	api_client_fini(&cl);
}

static void results_and_errors(void)
{
	REQUIRE(srv_start(&fx.server, 5000) == 0);
	struct api_result res;
	api_result_init(&res, body, sizeof body);
	REQUIRE(api_client_init_unix(&cl, S.sock) == 0);
	CHECK_EQ_INT(api_call(&cl, "GET", "/echo", NULL, &res), 200);
	CHECK_EQ_STR(res.body, "{\"peer\":\"local\",\"id\":\"local\",\"len\":0}");
	CHECK_EQ_INT(res.len, strlen(res.body));
	CHECK_EQ_STR(res.error, "");
	CHECK_EQ_INT(api_call(&cl, "POST", "/echo", "{\"a\":1}", &res), 200);
	CHECK(has(res.body, "\"len\":7"));
	CHECK_EQ_INT(api_call(&cl, "GET", "/fail", NULL, &res), 503);
	CHECK_EQ_STR(res.error, "not the raft leader");
	CHECK_EQ_STR(res.code, "RAFT_NOT_LEADER");
	CHECK_EQ_INT(api_call(&cl, "GET", "/missing", NULL, &res), 404);
	CHECK_EQ_STR(res.code, "API_NOT_FOUND");
	CHECK_EQ_INT(api_call(&cl, "POST", "/echo", "{bad", &res), 400);
	CHECK_EQ_STR(res.code, "JSON_PARSE");
	/* a body over the server's max_body: the server answers 413 early, the client reads it */
	static char big[200000];
	memset(big, ' ', sizeof big - 1);
	big[0] = '1';
	big[sizeof big - 1] = 0;
	CHECK_EQ_INT(api_call(&cl, "POST", "/echo", big, &res), 413);
	CHECK_EQ_STR(res.code, "HTTP_BODY_TOO_LARGE");
	CHECK_EQ_INT(api_call(&cl, "GET", "/echo", NULL, &res), 200);
	/* a response bigger than the caller's buffer */
	char small[512];
	api_result_init(&res, small, sizeof small);
	CHECK_EQ_INT(api_call(&cl, "GET", "/big", NULL, &res), -ERR_TOO_LARGE);
	CHECK(has(api_client_errmsg(&cl), "512-byte buffer") ||
	      has(api_client_errmsg(&cl), "511-byte buffer"));
	api_result_init(&res, body, sizeof body);
	CHECK_EQ_INT(api_call(&cl, "GET", "/big", NULL, &res), 200);
	CHECK_EQ_INT(res.len, 150 * 19 + 1);
	api_client_fini(&cl);
	srv_stop();
}

static void keepalive_and_retry(void)
{
	REQUIRE(srv_start(&fx.server, 200) == 0); /* idle 200 ms */
	struct api_result res;
	api_result_init(&res, body, sizeof body);
	REQUIRE(api_client_init_unix(&cl, S.sock) == 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(api_call(&cl, "GET", "/echo", NULL, &res), 200);
	sleep_ms(400); /* the server drops the idle connection */
	CHECK_EQ_INT(api_call(&cl, "GET", "/echo", NULL, &res), 200);
	api_client_fini(&cl);
	/* the same over TLS */
	REQUIRE(api_client_init_tls(&cl, tls_addr(), fx.ca_pem, fx.ca_len, fx.admin.cert,
				    fx.admin.cert_len, fx.admin.key, fx.admin.key_len) == 0);
	CHECK_EQ_INT(api_call(&cl, "GET", "/echo", NULL, &res), 200);
	CHECK_EQ_INT(api_call(&cl, "GET", "/echo", NULL, &res), 200);
	sleep_ms(400);
	CHECK_EQ_INT(api_call(&cl, "GET", "/echo", NULL, &res), 200);
	CHECK(has(res.body, "\"peer\":\"admin\""));
	api_client_fini(&cl);
	srv_stop();
	CHECK_EQ_INT(S.api.stats.accepted, 4);
	CHECK_EQ_INT(S.api.stats.requests, 7);
}

static void tls_server_checks(void)
{
	REQUIRE(srv_start(&fx.server, 5000) == 0);
	struct api_result res;
	api_result_init(&res, body, sizeof body);
	/* we trust another CA: the server's chain is refused */
	REQUIRE(api_client_init_tls(&cl, tls_addr(), fx.ca2_pem, fx.ca2_len, fx.admin.cert,
				    fx.admin.cert_len, fx.admin.key, fx.admin.key_len) == 0);
	CHECK_EQ_INT(api_call(&cl, "GET", "/echo", NULL, &res), -ERR_TLS_CERT);
	CHECK(has(api_client_errmsg(&cl), "TLS handshake with 127.0.0.1:"));
	CHECK(has(api_client_errmsg(&cl), "not trusted"));
	api_client_fini(&cl);
	/* pinned: the right CA digest reaches the anonymous route only */
	uint8_t pin[32];
	pki_ca_digest(fx.ca.cert, fx.ca.cert_len, pin);
	REQUIRE(api_client_init_pinned(&cl, tls_addr(), pin) == 0);
	CHECK_EQ_INT(api_call(&cl, "POST", "/join", "{}", &res), 200);
	CHECK(has(res.body, "\"peer\":\"anonymous\""));
	CHECK_EQ_INT(api_call(&cl, "GET", "/echo", NULL, &res), 403);
	CHECK_EQ_STR(res.code, "API_FORBIDDEN");
	CHECK_EQ_STR(cl.server.cluster, "test-cluster");
	api_client_fini(&cl);
	pki_ca_digest(fx.ca2.cert, fx.ca2.cert_len, pin);
	REQUIRE(api_client_init_pinned(&cl, tls_addr(), pin) == 0);
	CHECK_EQ_INT(api_call(&cl, "POST", "/join", "{}", &res), -ERR_TLS_CERT);
	CHECK(has(api_client_errmsg(&cl), "join token"));
	api_client_fini(&cl);
	srv_stop();
	/* a server whose certificate is a data node's is not an API server */
	REQUIRE(srv_start(&fx.data_server, 5000) == 0);
	REQUIRE(api_client_init_tls(&cl, tls_addr(), fx.ca_pem, fx.ca_len, fx.admin.cert,
				    fx.admin.cert_len, fx.admin.key, fx.admin.key_len) == 0);
	CHECK_EQ_INT(api_call(&cl, "GET", "/echo", NULL, &res), -ERR_TLS_CERT);
	CHECK(has(api_client_errmsg(&cl), "presented a data certificate, not a control node's"));
	api_client_fini(&cl);
	srv_stop();
}

static void stream_reads(void)
{
	REQUIRE(srv_start(&fx.server, 5000) == 0);
	struct api_result res;
	api_result_init(&res, body, sizeof body);
	REQUIRE(api_client_init_tls(&cl, tls_addr(), fx.ca_pem, fx.ca_len, fx.control.cert,
				    fx.control.cert_len, fx.control.key, fx.control.key_len) == 0);
	CHECK_EQ_INT(api_call_stream(&cl, "GET", "/chunky", NULL, &res), 200);
	char all[256];
	size_t n = 0;
	for (;;) {
		char piece[3];
		ssize_t k = api_client_stream_read(&cl, piece, sizeof piece, 1000);
		REQUIRE(k >= 0);
		if (k == 0)
			break;
		REQUIRE(n + (size_t)k < sizeof all);
		memcpy(all + n, piece, (size_t)k);
		n += (size_t)k;
	}
	CHECK_EQ_INT(n, 200);
	bool ok = true;
	for (size_t i = 0; i < n; i++)
		ok &= all[i] == (char)('0' + i % 10);
	CHECK(ok);
	CHECK_EQ_INT(api_client_stream_read(&cl, all, sizeof all, 10), 0);
	/* a quiet stream: the read times out, the stream stays usable */
	CHECK_EQ_INT(api_call_stream(&cl, "GET", "/slow", NULL, &res), 200);
	CHECK_EQ_INT(api_client_stream_read(&cl, all, sizeof all, 50), -ERR_TIMEOUT);
	CHECK_EQ_INT(api_client_stream_read(&cl, all, sizeof all, 2000), 4);
	CHECK(memcmp(all, "late", 4) == 0);
	CHECK_EQ_INT(api_client_stream_read(&cl, all, sizeof all, 2000), 0);
	/* a plain call after: same connection */
	CHECK_EQ_INT(api_call(&cl, "GET", "/echo", NULL, &res), 200);
	/* an error status on a stream call reads the error like api_call */
	CHECK_EQ_INT(api_call_stream(&cl, "GET", "/fail", NULL, &res), 503);
	CHECK_EQ_STR(res.code, "RAFT_NOT_LEADER");
	/* a stream abandoned half-way: the next call opens a new connection */
	CHECK_EQ_INT(api_call_stream(&cl, "GET", "/chunky", NULL, &res), 200);
	CHECK_EQ_INT(api_client_stream_read(&cl, all, 5, 1000), 5);
	CHECK_EQ_INT(api_call(&cl, "GET", "/echo", NULL, &res), 200);
	api_client_fini(&cl);
	srv_stop();
	CHECK_EQ_INT(S.api.stats.accepted, 2);
}

/* --- credentials -------------------------------------------------------------------------- */

static struct api_creds cr, cr2;

static void creds_roundtrip(void)
{
	REQUIRE(fx_setup() == 0);
	char dir[64] = "/tmp/tee-creds-XXXXXX";
	REQUIRE(mkdtemp(dir) != NULL);
	char out[256], p[512];
	snprintf(out, sizeof out, "%s/install/.traefikee", dir);
	REQUIRE(api_creds_issue(&cr, &fx.ca, &fx.r, "admin", 0, fx.now) == 0);
	CHECK_EQ_STR(cr.admin.id, "admin");
	CHECK_EQ_STR(cr.admin.cluster, "test-cluster");
	CHECK(cr.not_after > fx.now + 86400);
	REQUIRE(api_creds_write(&cr, out) == 0);
	struct stat st;
	REQUIRE(stat(out, &st) == 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0700);
	snprintf(p, sizeof p, "%s/admin.key", out);
	REQUIRE(stat(p, &st) == 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0600);
	snprintf(p, sizeof p, "%s/ca.pem", out);
	REQUIRE(stat(p, &st) == 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0644);
	snprintf(p, sizeof p, "%s/config.json", out);
	CHECK(stat(p, &st) != 0); /* bootstrap writes no address */
	REQUIRE(api_creds_load(&cr2, out, false, fx.now) == 0);
	CHECK_EQ_INT(cr2.key_len, cr.key_len);
	CHECK(memcmp(cr2.key_pem, cr.key_pem, cr.key_len) == 0);
	CHECK_EQ_STR(cr2.address, "");
	CHECK_EQ_INT(api_creds_load(&cr2, out, true, fx.now), -ERR_NOTFOUND);
	CHECK(has(cr2.errmsg, "traefikeectl connect"));
	/* an existing directory with loose permissions is tightened */
	REQUIRE(chmod(out, 0755) == 0);
	REQUIRE(api_creds_write(&cr, out) == 0);
	REQUIRE(stat(out, &st) == 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0700);

	/* traefikeectl connect */
	char home[128], dst[256];
	snprintf(home, sizeof home, "%s/home", dir);
	REQUIRE(api_creds_cluster_dir(dst, sizeof dst, home, "traefikee") == 0);
	snprintf(p, sizeof p, "%s/home/.config/traefikee/traefikee", dir);
	CHECK_EQ_STR(dst, p);
	REQUIRE(api_creds_connect(&cr2, out, "10.0.0.1", dst, fx.now) == 0);
	CHECK_EQ_STR(cr2.address, "10.0.0.1:55055");
	REQUIRE(api_creds_load(&cr2, dst, true, fx.now) == 0);
	CHECK_EQ_STR(cr2.address, "10.0.0.1:55055");
	snprintf(p, sizeof p, "%s/config.json", dst);
	REQUIRE(stat(p, &st) == 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0600);
	REQUIRE(api_creds_connect(&cr2, out, "[fd00::1]:4443", dst, fx.now) == 0);
	REQUIRE(api_creds_load(&cr2, dst, true, fx.now) == 0);
	CHECK_EQ_STR(cr2.address, "[fd00::1]:4443");
	CHECK_EQ_INT(api_creds_connect(&cr2, out, "a:b:c", dst, fx.now), -ERR_INVAL);
	CHECK(has(cr2.errmsg, "invalid API address"));
	CHECK_EQ_INT(api_creds_connect(&cr2, out, "", dst, fx.now), -ERR_INVAL);
	api_creds_wipe(&cr2);
	rm_tree(dir);
}

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return pki_file_write_atomic(p, data, len, 0600);
}

static void creds_errors(void)
{
	REQUIRE(fx_setup() == 0);
	char dir[64] = "/tmp/tee-creds-XXXXXX";
	REQUIRE(mkdtemp(dir) != NULL);
	char b[256];
	snprintf(b, sizeof b, "%s/b", dir);
	CHECK_EQ_INT(api_creds_load(&cr2, b, false, fx.now), -ERR_NOTFOUND);
	CHECK(has(cr2.errmsg, "no credentials directory"));
	REQUIRE(api_creds_issue(&cr, &fx.ca, &fx.r, "admin", 0, fx.now) == 0);
	REQUIRE(api_creds_write(&cr, b) == 0);
	char p[512];
	snprintf(p, sizeof p, "%s/admin.key", b);
	REQUIRE(unlink(p) == 0);
	CHECK_EQ_INT(api_creds_load(&cr2, b, false, fx.now), -ERR_NOTFOUND);
	CHECK(has(cr2.errmsg, "missing"));
	CHECK(has(cr2.errmsg, "admin.key"));
	/* a key from other credentials */
	REQUIRE(write_file(b, "admin.key", fx.admin.key, fx.admin.key_len) == 0);
	CHECK_EQ_INT(api_creds_load(&cr2, b, false, fx.now), -ERR_API_CREDS);
	CHECK(has(cr2.errmsg, "admin.key does not belong to admin.pem"));
	REQUIRE(write_file(b, "admin.key", "garbage", 7) == 0);
	CHECK_EQ_INT(api_creds_load(&cr2, b, false, fx.now), -ERR_API_CREDS);
	CHECK(has(cr2.errmsg, "admin.key"));
	REQUIRE(write_file(b, "admin.key", cr.key_pem, cr.key_len) == 0);
	REQUIRE(api_creds_load(&cr2, b, false, fx.now) == 0);
	/* a node certificate is not an admin certificate */
	REQUIRE(write_file(b, "admin.pem", fx.control.cert, fx.control.cert_len) == 0);
	REQUIRE(write_file(b, "admin.key", fx.control.key, fx.control.key_len) == 0);
	CHECK_EQ_INT(api_creds_load(&cr2, b, false, fx.now), -ERR_API_CREDS);
	CHECK(has(cr2.errmsg, "not an admin certificate"));
	/* the CA of another cluster */
	REQUIRE(api_creds_write(&cr, b) == 0);
	REQUIRE(write_file(b, "ca.pem", fx.ca2_pem, fx.ca2_len) == 0);
	CHECK_EQ_INT(api_creds_load(&cr2, b, false, fx.now), -ERR_API_CREDS);
	CHECK(has(cr2.errmsg, "cluster"));
	REQUIRE(write_file(b, "ca.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n", 33) == 0);
	CHECK_EQ_INT(api_creds_load(&cr2, b, false, fx.now), -ERR_API_CREDS);
	CHECK(has(cr2.errmsg, "ca.pem"));
	REQUIRE(write_file(b, "ca.pem", fx.admin.cert, fx.admin.cert_len) == 0);
	CHECK_EQ_INT(api_creds_load(&cr2, b, false, fx.now), -ERR_API_CREDS);
	CHECK(has(cr2.errmsg, "ca.pem is not a CA certificate"));
	/* expired (a clock far ahead) */
	REQUIRE(api_creds_write(&cr, b) == 0);
	CHECK_EQ_INT(api_creds_load(&cr2, b, false, fx.now + 20LL * 365 * 86400), -ERR_API_CREDS);
	CHECK(has(cr2.errmsg, "expired"));
	/* config.json */
	REQUIRE(write_file(b, "config.json", "{\"apiAddress\":42}", 17) == 0);
	CHECK_EQ_INT(api_creds_load(&cr2, b, true, fx.now), -ERR_API_CREDS);
	CHECK(has(cr2.errmsg, "config.json is malformed"));
	REQUIRE(write_file(b, "config.json", "{\"apiAddress\":\"h\"}", 18) == 0);
	CHECK_EQ_INT(api_creds_load(&cr2, b, true, fx.now), -ERR_API_CREDS);
	REQUIRE(write_file(b, "config.json", "{\"apiAddress\":\"h:1\"}", 20) == 0);
	CHECK_EQ_INT(api_creds_load(&cr2, b, true, fx.now), 0);
	CHECK_EQ_STR(cr2.address, "h:1");
	/* not a directory */
	snprintf(p, sizeof p, "%s/ca.pem", b);
	CHECK_EQ_INT(api_creds_load(&cr2, p, false, fx.now), -ERR_API_CREDS);
	CHECK_EQ_INT(api_creds_write(&cr, p), -ERR_EXISTS);
	/* unreadable (unless we are root, who reads anything) */
	if (geteuid() != 0) {
		snprintf(p, sizeof p, "%s/admin.pem", b);
		chmod(p, 0);
		CHECK_EQ_INT(api_creds_load(&cr2, b, false, fx.now), -ERR_PERM);
		CHECK(has(cr2.errmsg, "permission denied"));
	}
	api_creds_wipe(&cr);
	api_creds_wipe(&cr2);
	rm_tree(dir);
}

static void creds_paths(void)
{
	char out[128];
	CHECK_EQ_INT(api_creds_cluster_dir(out, sizeof out, "/home/u/", "prod-1.eu_x"), 0);
	CHECK_EQ_STR(out, "/home/u/.config/traefikee/prod-1.eu_x");
	CHECK_EQ_INT(api_creds_cluster_dir(out, sizeof out, "relative", "a"), -ERR_INVAL);
	CHECK_EQ_INT(api_creds_cluster_dir(out, sizeof out, "", "a"), -ERR_INVAL);
	CHECK_EQ_INT(api_creds_cluster_dir(out, sizeof out, "/h", ""), -ERR_INVAL);
	CHECK_EQ_INT(api_creds_cluster_dir(out, sizeof out, "/h", ".."), -ERR_INVAL);
	CHECK_EQ_INT(api_creds_cluster_dir(out, sizeof out, "/h", "a/b"), -ERR_INVAL);
	CHECK_EQ_INT(api_creds_cluster_dir(out, sizeof out, "/h", "a b"), -ERR_INVAL);
	CHECK_EQ_INT(api_creds_cluster_dir(out, 10, "/h", "abc"), -ERR_RANGE);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(api_creds_address_check("10.0.0.1:55055"), 0);
	CHECK_EQ_INT(api_creds_address_check("ctl.example:55055"), 0);
	CHECK_EQ_INT(api_creds_address_check(":55055"), -ERR_INVAL);
	CHECK_EQ_INT(api_creds_address_check("h:0"), -ERR_INVAL);
}

static void creds_end_to_end(void)
{
	REQUIRE(srv_start(&fx.server, 5000) == 0);
	char dir[64] = "/tmp/tee-creds-XXXXXX";
	REQUIRE(mkdtemp(dir) != NULL);
	char boot[128], home[128], dst[256];
	snprintf(boot, sizeof boot, "%s/.traefikee", dir);
	snprintf(home, sizeof home, "%s/home", dir);
	REQUIRE(api_creds_issue(&cr, &fx.ca, &fx.r, "admin", 0, fx.now) == 0);
	REQUIRE(api_creds_write(&cr, boot) == 0);
	REQUIRE(api_creds_cluster_dir(dst, sizeof dst, home, "traefikee") == 0);
	REQUIRE(api_creds_connect(&cr2, boot, tls_addr(), dst, fx.now) == 0);
	REQUIRE(api_creds_load(&cr, dst, true, fx.now) == 0);
	REQUIRE(api_client_init_creds(&cl, &cr) == 0);
	struct api_result res;
	api_result_init(&res, body, sizeof body);
	CHECK_EQ_INT(api_call(&cl, "GET", "/echo", NULL, &res), 200);
	CHECK_EQ_STR(res.body, "{\"peer\":\"admin\",\"id\":\"admin\",\"len\":0}");
	CHECK_EQ_INT(cl.server.role, PKI_ROLE_CONTROL);
	api_client_fini(&cl);
	api_creds_wipe(&cr);
	api_creds_wipe(&cr2);
	srv_stop();
	rm_tree(dir);
}

TEST_MAIN(init_errors, unix_connect_errors, tcp_connect_errors, results_and_errors,
	  keepalive_and_retry, tls_server_checks, stream_reads, creds_roundtrip, creds_errors,
	  creds_paths, creds_end_to_end)
