/* Unit tests for src/api/api_server: routing, limits, timeouts, deferred and streaming
 * responses, the unix socket, and roles over mutual TLS.
 *
 * The server runs on a real struct loop in a second thread of this process; the main thread
 * is the client, with raw sockets (to send exactly the bytes a test needs) or the API client
 * (for TLS). Certificates come from src/pki, made once per run. Every socket is loopback or in
 * a mkdtemp() directory removed at the end of each case. The server thread is stopped through
 * a pipe and joined before a case looks at server-side state.
 */
#include "api/api_client.h"
#include "api/api_server.h"
#include "base/base_err.h"
#include "base/base_log.h"
#include "base/base_time.h"
#include "pki/pki_cert.h"
#include "pki/pki_key.h"
#include "pki/pki_pem.h"
#include "pki/pki_token.h"
#include "test.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
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
	char ca_pem[8192];
	size_t ca_len;
	struct pem_pair server, admin, control, data, admin2, blocked;
} fx;

#define NODE_ID "k3ld9a0zq8w7e6r5t4y3u2i1o"
#define DATA_ID "d3ld9a0zq8w7e6r5t4y3u2i1o"

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
	static const char *const dns[] = {"localhost"};
	struct pki_ip ip;
	pki_ip_parse("127.0.0.1", &ip);
	if (pki_key_generate(&k, &fx.r))
		return -1;
	struct pki_cert_req req = {role, id, k.pub, 0, NULL, 0, NULL, 0};
	if (role != PKI_ROLE_ADMIN) {
		req.dns = dns;
		req.ndns = 1;
		req.ips = &ip;
		req.nips = 1;
	}
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
	rand_init_seed(&fx.r, "api-server-tests", 16);
	fx.now = (int64_t)time(NULL);
	if (pki_ca_create(&fx.ca, &fx.r, "test-cluster", fx.now) ||
	    pki_ca_create(&fx.ca2, &fx.r, "test-cluster", fx.now))
		return -1;
	fx.ca_len = 0;
	if (pem_append(fx.ca_pem, sizeof fx.ca_pem, &fx.ca_len, fx.ca.cert, fx.ca.cert_len))
		return -1;
	if (make_pair(&fx.ca, PKI_ROLE_CONTROL, NODE_ID, true, &fx.server) ||
	    make_pair(&fx.ca, PKI_ROLE_ADMIN, "admin", false, &fx.admin) ||
	    make_pair(&fx.ca, PKI_ROLE_CONTROL, NODE_ID, false, &fx.control) ||
	    make_pair(&fx.ca, PKI_ROLE_DATA, DATA_ID, false, &fx.data) ||
	    make_pair(&fx.ca2, PKI_ROLE_ADMIN, "admin", false, &fx.admin2) ||
	    make_pair(&fx.ca, PKI_ROLE_ADMIN, "blocked", false, &fx.blocked))
		return -1;
	fx.ready = true;
	return 0;
}

/* --- the server under test ------------------------------------------------------------- */

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
	int tls_idx, tcp_idx;
	/* handler state: server thread only while it runs */
	int closed_events, drained_events, finish_rc;
	struct api_handle held;
	struct loop_timer_id timer;
	int stream_left;
	size_t big_total, big_sent;
	int peer_checks;
} S;

static void on_stop_pipe(struct loop *l, int fd, uint32_t ev, void *arg)
{
	char b[8];
	(void)ev;
	(void)arg;
	ssize_t n = read(fd, b, sizeof b);
	(void)n;
	loop_stop(l);
}

static void *srv_thread(void *arg)
{
	(void)arg;
	loop_run(&S.loop);
	return NULL;
}

/* Handlers ---------------------------------------------------------------------------------- */

static int h_echo(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct json_writer *w = api_resp_json(resp);
	char q[64] = "";
	api_req_query(req, "q", q, sizeof q);
	json_w_obj_begin(w);
	json_w_key(w, "method");
	json_w_str_slice(w, req->method);
	json_w_key(w, "path");
	json_w_str_slice(w, req->path);
	json_w_key(w, "peer");
	json_w_str(w, api_peer_kind_name(req->peer->kind));
	json_w_key(w, "id");
	json_w_str(w, req->peer->id);
	json_w_key(w, "q");
	json_w_str(w, q);
	if (req->json) {
		char msg[64] = "";
		json_get_str(req->json, json_obj_get(req->json, JSON_ROOT, "msg"), msg, sizeof msg);
		json_w_key(w, "msg");
		json_w_str(w, msg);
	}
	json_w_key(w, "len");
	json_w_uint(w, req->body.len);
	json_w_obj_end(w);
	return API_DONE;
}

static int h_param(struct api_req *req, struct api_resp *resp, void *arg)
{
	char id[64];
	int rc = api_req_param(req, "id", id, sizeof id);
	if (rc < 0)
		return api_resp_error(resp, 400, rc, "bad id");
	struct json_writer *w = api_resp_json(resp);
	json_w_obj_begin(w);
	json_w_key(w, "id");
	json_w_str(w, id);
	json_w_obj_end(w);
	return API_DONE;
}

static int h_self(struct api_req *req, struct api_resp *resp, void *arg)
{
	buf_append_cstr(&resp->body, "{\"self\":true}");
	return API_DONE;
}

static int h_rest(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct json_writer *w = api_resp_json(resp);
	json_w_obj_begin(w);
	json_w_key(w, "rest");
	json_w_str_slice(w, req->rest);
	json_w_obj_end(w);
	return API_DONE;
}

static int h_role(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct json_writer *w = api_resp_json(resp);
	json_w_obj_begin(w);
	json_w_key(w, "peer");
	json_w_str(w, api_peer_kind_name(req->peer->kind));
	json_w_key(w, "id");
	json_w_str(w, req->peer->id);
	json_w_key(w, "cluster");
	json_w_str(w, req->peer->cluster);
	json_w_obj_end(w);
	return API_DONE;
}

static int h_big(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct json_writer *w = api_resp_json(resp);
	json_w_arr_begin(w);
	for (int i = 0; i < 100000; i++)
		json_w_str(w, "0123456789abcdef0123456789abcdef");
	json_w_arr_end(w);
	return API_DONE;
}

static int h_fail(struct api_req *req, struct api_resp *resp, void *arg)
{
	return -ERR_RAFT_NOT_LEADER;
}

static int h_custom(struct api_req *req, struct api_resp *resp, void *arg)
{
	api_resp_header(resp, "X-Node", "n1");
	return api_resp_error(resp, 409, -ERR_EXISTS, "node %s exists", "n1");
}

static int h_raw(struct api_req *req, struct api_resp *resp, void *arg)
{
	char out[64];
	snprintf(out, sizeof out, "{\"len\":%zu,\"json\":%s}", req->body.len,
		 req->json ? "true" : "false");
	buf_append_cstr(&resp->body, out);
	return API_DONE;
}

static void on_event(struct api_server *s, struct api_handle h, enum api_event ev, void *arg)
{
	if (ev == API_EV_CLOSED)
		S.closed_events++;
	else
		S.drained_events++;
}

static void defer_fire(struct loop *l, void *arg)
{
	struct api_resp *r = api_resp_get(&S.api, S.held);
	if (r) {
		struct json_writer *w = api_resp_json(r);
		json_w_obj_begin(w);
		json_w_key(w, "deferred");
		json_w_bool(w, true);
		json_w_obj_end(w);
	}
	S.finish_rc = api_resp_finish(&S.api, S.held);
}

static int h_defer(struct api_req *req, struct api_resp *resp, void *arg)
{
	char ms[16] = "20";
	api_req_query(req, "ms", ms, sizeof ms);
	api_resp_on_event(resp, on_event, NULL);
	int rc = api_resp_defer(resp, &S.held);
	loop_timer_add(&S.loop, (uint64_t)atoi(ms), defer_fire, NULL, &S.timer);
	return rc;
}

static int h_defer_forever(struct api_req *req, struct api_resp *resp, void *arg)
{
	api_resp_on_event(resp, on_event, NULL);
	return api_resp_defer(resp, &S.held);
}

static int h_sync_finish(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct api_handle h;
	int rc = api_resp_defer(resp, &h);
	buf_append_cstr(&api_resp_get(&S.api, h)->body, "{\"sync\":true}");
	S.finish_rc = api_resp_finish(&S.api, h);
	return rc;
}

static void stream_tick(struct loop *l, void *arg)
{
	char line[32];
	if (S.stream_left == 0) {
		loop_timer_cancel(l, S.timer);
		api_stream_end(&S.api, S.held);
		return;
	}
	int n = snprintf(line, sizeof line, "line %d\n", 5 - S.stream_left);
	if (api_stream_push(&S.api, S.held, line, (size_t)n) == n)
		S.stream_left--;
}

static int h_stream(struct api_req *req, struct api_resp *resp, void *arg)
{
	resp->content_type = "text/plain";
	api_resp_on_event(resp, on_event, NULL);
	int rc = api_resp_stream(resp, &S.held);
	S.stream_left = 5;
	loop_timer_every(&S.loop, 5, 5, stream_tick, NULL, &S.timer);
	return rc;
}

static void big_push(void)
{
	static uint8_t block[65536];
	while (S.big_sent < S.big_total) {
		size_t n = S.big_total - S.big_sent;
		if (n > sizeof block)
			n = sizeof block;
		for (size_t i = 0; i < n; i++)
			block[i] = (uint8_t)((S.big_sent + i) % 251);
		ssize_t k = api_stream_push(&S.api, S.held, block, n);
		if (k <= 0)
			return;
		S.big_sent += (size_t)k;
	}
	api_stream_end(&S.api, S.held);
}

static void on_big_event(struct api_server *s, struct api_handle h, enum api_event ev, void *arg)
{
	on_event(s, h, ev, arg);
	if (ev == API_EV_DRAINED)
		big_push();
}

static int h_stream_big(struct api_req *req, struct api_resp *resp, void *arg)
{
	resp->content_type = "application/octet-stream";
	api_resp_on_event(resp, on_big_event, NULL);
	int rc = api_resp_stream(resp, &S.held);
	S.big_total = 2u << 20;
	S.big_sent = 0;
	big_push();
	return rc;
}

static int h_stream_inline(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct api_handle h;
	int rc = api_resp_stream(resp, &h);
	api_stream_push(&S.api, h, "abc", 3);
	api_stream_push(&S.api, h, "def", 3);
	api_stream_end(&S.api, h);
	return rc;
}

static int h_bad_pending(struct api_req *req, struct api_resp *resp, void *arg)
{
	return API_PENDING; /* without defer: a programming error the server survives */
}

static const struct api_route routes[] = {
	{"GET", "/echo", API_ROLE_ANY, h_echo, NULL},
	{"POST", "/echo", API_ROLE_ANY, h_echo, NULL},
	{"GET", "/nodes/{id}", API_ROLE_ANY, h_param, NULL},
	{"GET", "/nodes/self", API_ROLE_ANY, h_self, NULL},
	{"GET", "/logs/*", API_ROLE_ANY, h_rest, NULL},
	{"GET", "/admin", API_ROLE_ADMIN, h_role, NULL},
	{"GET", "/node", API_ROLE_NODE, h_role, NULL},
	{"GET", "/control", API_ROLE_CONTROL, h_role, NULL},
	{"GET", "/any", API_ROLE_ANY, h_role, NULL},
	{"POST", "/join", API_ROLE_ANON, h_role, NULL},
	{"GET", "/big", API_ROLE_ANY, h_big, NULL},
	{"GET", "/fail", API_ROLE_ANY, h_fail, NULL},
	{"GET", "/custom", API_ROLE_ANY, h_custom, NULL},
	{"PUT", "/raw", API_ROLE_ANY | API_F_RAW_BODY, h_raw, NULL},
	{"GET", "/defer", API_ROLE_ANY, h_defer, NULL},
	{"GET", "/defer-forever", API_ROLE_ANY, h_defer_forever, NULL},
	{"GET", "/sync-finish", API_ROLE_ANY, h_sync_finish, NULL},
	{"GET", "/stream", API_ROLE_ANY, h_stream, NULL},
	{"GET", "/stream-big", API_ROLE_ANY, h_stream_big, NULL},
	{"GET", "/stream-inline", API_ROLE_ANY, h_stream_inline, NULL},
	{"GET", "/bad-pending", API_ROLE_ANY, h_bad_pending, NULL},
};
#define NROUTES (sizeof routes / sizeof routes[0])

static int peer_check(const struct api_peer *p, const uint8_t *cert, size_t len, void *arg)
{
	S.peer_checks++;
	return strcmp(p->id, "blocked") == 0 ? -ERR_PERM : 0;
}

static void test_limits(struct api_limits *lim)
{
	api_limits_default(lim);
	lim->max_clients = 8;
	lim->max_tls_clients = 4;
	lim->max_body = 1024;
	lim->max_resp = 64 * 1024;
	lim->max_headers = 16;
	lim->max_header_bytes = 1024;
	lim->max_line = 512;
	lim->header_timeout_ms = 300;
	lim->idle_timeout_ms = 500;
	lim->handler_timeout_ms = 300;
	lim->linger_ms = 200;
}

/* Start the server thread with lim (NULL: test_limits), a unix socket and a TLS listener. */
static int srv_start(const struct api_limits *lim)
{
	struct api_limits def;
	if (fx_setup())
		return -1;
	memset(&S, 0, sizeof S);
	if (!lim) {
		test_limits(&def);
		lim = &def;
	}
	snprintf(S.dir, sizeof S.dir, "/tmp/tee-api-XXXXXX");
	if (!mkdtemp(S.dir))
		return -1;
	snprintf(S.sock, sizeof S.sock, "%s/api.sock", S.dir);
	rand_init_seed(&S.rng, "srv", 3);
	struct loop_config lc = {64, 64, 32, 0, NULL, NULL};
	if (loop_init(&S.loop, &lc))
		return -1;
	if (api_server_init(&S.api, &S.loop, &S.rng, lim))
		return -1;
	if (api_server_add_routes(&S.api, routes, NROUTES))
		return -1;
	api_server_set_peer_check(&S.api, peer_check, NULL);
	if (api_server_listen_unix(&S.api, S.sock) < 0)
		return -1;
	if (lim->max_tls_clients) {
		if (api_tls_server_config(&S.tls, S.store, sizeof S.store, fx.server.cert,
					  fx.server.cert_len, fx.server.key, fx.server.key_len,
					  fx.ca_pem, fx.ca_len))
			return -1;
		S.tls_idx = api_server_listen_tcp(&S.api, "127.0.0.1:0", &S.tls);
		if (S.tls_idx < 0)
			return -1;
	}
	S.tcp_idx = api_server_listen_tcp(&S.api, "127.0.0.1:0", NULL);
	if (S.tcp_idx < 0)
		return -1;
	if (pipe(S.pipefd) || loop_add_fd(&S.loop, S.pipefd[0], LOOP_READ, on_stop_pipe, NULL))
		return -1;
	if (pthread_create(&S.th, NULL, srv_thread, NULL))
		return -1;
	S.running = true;
	return 0;
}

static void srv_join(void)
{
	if (!S.running)
		return;
	ssize_t n = write(S.pipefd[1], "x", 1);
	(void)n;
	pthread_join(S.th, NULL);
	S.running = false;
}

static void srv_stop(void)
{
	srv_join();
	if (S.pipefd[0] > 0) {
		loop_del_fd(&S.loop, S.pipefd[0]);
		close(S.pipefd[0]);
		close(S.pipefd[1]);
		S.pipefd[0] = 0;
	}
	api_server_fini(&S.api);
	loop_fini(&S.loop);
	unlink(S.sock);
	rmdir(S.dir);
}

static char tls_addr_buf[64];
static const char *tls_addr(void)
{
	snprintf(tls_addr_buf, sizeof tls_addr_buf, "127.0.0.1:%u",
		 api_server_port(&S.api, S.tls_idx));
	return tls_addr_buf;
}

/* --- raw clients ------------------------------------------------------------------------ */

struct raw {
	int fd;
	char buf[1 << 16];
	size_t len;
};

struct raw_resp {
	int status;
	char head[4096];
	char body[1 << 16];
	size_t body_len;
};

static void raw_timeouts(int fd)
{
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int raw_unix(struct raw *r)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", S.sock);
	r->len = 0;
	r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		return -1;
	raw_timeouts(r->fd);
	return 0;
}

static int raw_tcp(struct raw *r, uint16_t port)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->len = 0;
	r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		return -1;
	raw_timeouts(r->fd);
	return 0;
}

static void raw_close(struct raw *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

static int raw_send(struct raw *r, const char *s)
{
	size_t n = strlen(s);
	return send(r->fd, s, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

/* One response (Content-Length bodies only). Its status, or -1 (EOF / timeout / garbage). */
static int raw_response(struct raw *r, struct raw_resp *out)
{
	memset(out, 0, sizeof *out);
	for (;;) {
		struct http_header hdr[32];
		struct http_response res;
		http_response_init(&res, hdr, 32, HTTP_M_GET);
		struct http_limits lim;
		http_limits_default(&lim);
		int hl = r->len ? http_parse_response(&res, r->buf, r->len, &lim) : -ERR_PARTIAL;
		if (hl > 0 && (res.h.body == HTTP_BODY_NONE || res.h.body == HTTP_BODY_LENGTH) &&
		    r->len >= (size_t)hl + res.h.content_length) {
			size_t bl = (size_t)res.h.content_length;
			out->status = res.status;
			memcpy(out->head, r->buf, (size_t)hl < sizeof out->head ? (size_t)hl : 0);
			memcpy(out->body, r->buf + hl, bl);
			out->body_len = bl;
			memmove(r->buf, r->buf + hl + bl, r->len - (size_t)hl - bl);
			r->len -= (size_t)hl + bl;
			return out->status;
		}
		if (hl < 0 && hl != -ERR_PARTIAL)
			return -1;
		ssize_t n = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
		if (n <= 0)
			return -1;
		r->len += (size_t)n;
	}
}

/* true when the server closed the connection (within ~2 s) with nothing more to read. */
static bool raw_closed(struct raw *r)
{
	struct pollfd p = {r->fd, POLLIN, 0};
	if (poll(&p, 1, 2000) <= 0)
		return false;
	char b[64];
	return recv(r->fd, b, sizeof b, 0) <= 0;
}

static bool has(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* --- cases ------------------------------------------------------------------------------ */

static void limits_and_init(void)
{
	struct api_limits lim;
	api_limits_default(&lim);
	CHECK_EQ_INT(lim.max_clients, 32);
	CHECK_EQ_INT(lim.header_timeout_ms, 10000);
	CHECK_EQ_INT(lim.idle_timeout_ms, 60000);
	static struct api_server s;
	static struct loop l;
	struct loop_config lc = {16, 16, 16, 0, NULL, NULL};
	REQUIRE(loop_init(&l, &lc) == 0);
	struct api_limits bad = lim;
	bad.max_tls_clients = bad.max_clients + 1;
	CHECK_EQ_INT(api_server_init(&s, &l, NULL, &bad), -ERR_INVAL);
	CHECK(has(s.errmsg, "max_tls_clients"));
	api_server_fini(&s); /* harmless after a failed init */
	bad = lim;
	bad.max_resp = 100;
	CHECK_EQ_INT(api_server_init(&s, &l, NULL, &bad), -ERR_INVAL);
	bad = lim;
	bad.max_clients = 0;
	CHECK_EQ_INT(api_server_init(&s, &l, NULL, &bad), -ERR_INVAL);
	REQUIRE(api_server_init(&s, &l, NULL, &lim) == 0);
	size_t per = api_limits_client_bytes(&lim);
	CHECK(per > lim.max_body + lim.max_resp);
	CHECK(api_server_bytes(&s) >= per * lim.max_clients - sizeof(struct api_conn *) * 0);
	CHECK(api_server_bytes(&s) >= lim.max_tls_clients * tls_conn_size());
	CHECK_EQ_INT(api_server_port(&s, 0), 0);
	api_server_fini(&s);
	api_server_fini(&s);
	loop_fini(&l);
}

static void routes_validation(void)
{
	static struct api_server s;
	static struct loop l;
	struct loop_config lc = {16, 16, 16, 0, NULL, NULL};
	struct api_limits lim;
	api_limits_default(&lim);
	lim.max_routes = 3;
	REQUIRE(loop_init(&l, &lc) == 0);
	REQUIRE(api_server_init(&s, &l, NULL, &lim) == 0);
	static const struct {
		const char *method, *pattern;
		unsigned access;
	} bad[] = {
		{"GET", "nodes", API_ROLE_ANY},
		{"GET", "/a//b", API_ROLE_ANY},
		{"GET", "/a/{", API_ROLE_ANY},
		{"GET", "/a/{x}y", API_ROLE_ANY},
		{"GET", "/a/{X}", API_ROLE_ANY},
		{"GET", "/a/{x}/{x}", API_ROLE_ANY},
		{"GET", "/a/*/b", API_ROLE_ANY},
		{"GET", "/a/b?c", API_ROLE_ANY},
		{"GET", "/{a}/{b}/{c}/{d}/{e}", API_ROLE_ANY},
		{"GET", "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", API_ROLE_ANY},
		{"G T", "/a", API_ROLE_ANY},
		{"", "/a", API_ROLE_ANY},
		{"GET", "/a", 0},
		{"GET", "/a", API_F_RAW_BODY},
		{"GET", "/a", 0x80},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct api_route r = {bad[i].method, bad[i].pattern, bad[i].access, h_echo, NULL};
		int rc = api_server_add_routes(&s, &r, 1);
		if (rc != -ERR_INVAL)
			TEST_FAIL_("%s %s accepted (%d)", bad[i].method, bad[i].pattern, rc);
	}
	struct api_route nofn = {"GET", "/a", API_ROLE_ANY, NULL, NULL};
	CHECK_EQ_INT(api_server_add_routes(&s, &nofn, 1), -ERR_INVAL);
	CHECK_EQ_INT(s.nroutes, 0);
	struct api_route ok[] = {
		{"GET", "/", API_ROLE_ANY, h_echo, NULL},
		{"GET", "/n/{id}", API_ROLE_ANY, h_echo, NULL},
		{"DELETE", "/n/{id}", API_ROLE_ADMIN, h_echo, NULL},
	};
	CHECK_EQ_INT(api_server_add_routes(&s, ok, 2), 0);
	struct api_route dup = {"GET", "/n/{other}", API_ROLE_ANY, h_echo, NULL};
	CHECK_EQ_INT(api_server_add_routes(&s, &dup, 1), -ERR_EXISTS);
	CHECK(has(s.errmsg, "same as"));
	/* a batch that would go over max_routes adds nothing */
	struct api_route two[] = {ok[2], {"PUT", "/x", API_ROLE_ANY, h_echo, NULL}};
	CHECK_EQ_INT(api_server_add_routes(&s, two, 2), -ERR_API_ROUTES_FULL);
	CHECK_EQ_INT(s.nroutes, 2);
	CHECK_EQ_INT(api_server_add_routes(&s, &ok[2], 1), 0); /* exactly max_routes */
	CHECK_EQ_INT(s.nroutes, 3);
	api_server_fini(&s);
	loop_fini(&l);
}

static void addr_split(void)
{
	char h[64];
	uint16_t p;
	CHECK_EQ_INT(api_addr_split("10.0.0.1:55055", h, sizeof h, &p), 0);
	CHECK_EQ_STR(h, "10.0.0.1");
	CHECK_EQ_INT(p, 55055);
	CHECK_EQ_INT(api_addr_split(":55055", h, sizeof h, &p), 0);
	CHECK_EQ_STR(h, "");
	CHECK_EQ_INT(api_addr_split("[::1]:8080", h, sizeof h, &p), 0);
	CHECK_EQ_STR(h, "::1");
	CHECK_EQ_INT(p, 8080);
	CHECK_EQ_INT(api_addr_split("node-1.example:1", h, sizeof h, &p), 0);
	CHECK_EQ_INT(api_addr_split("host:0", h, sizeof h, &p), 0);
	CHECK_EQ_INT(api_addr_split("host", h, sizeof h, &p), -ERR_INVAL);
	CHECK_EQ_INT(api_addr_split("host:65536", h, sizeof h, &p), -ERR_INVAL);
	CHECK_EQ_INT(api_addr_split("host:", h, sizeof h, &p), -ERR_INVAL);
	CHECK_EQ_INT(api_addr_split("::1:80", h, sizeof h, &p), -ERR_INVAL);
	CHECK_EQ_INT(api_addr_split("[]:80", h, sizeof h, &p), -ERR_INVAL);
	CHECK_EQ_INT(api_addr_split("a b:80", h, sizeof h, &p), -ERR_INVAL);
	CHECK_EQ_INT(api_addr_split("host:+80", h, sizeof h, &p), -ERR_INVAL);
	CHECK_EQ_INT(api_addr_split("abcdef:1", h, 4, &p), -ERR_BUF_FULL);
}

static void err_status_map(void)
{
	CHECK_EQ_INT(api_err_status(-ERR_API_NOT_FOUND), 404);
	CHECK_EQ_INT(api_err_status(ERR_API_METHOD), 405);
	CHECK_EQ_INT(api_err_status(-ERR_API_FORBIDDEN), 403);
	CHECK_EQ_INT(api_err_status(-ERR_JSON_PARSE), 400);
	CHECK_EQ_INT(api_err_status(-ERR_PKI_BAD_PROOF), 403);
	CHECK_EQ_INT(api_err_status(-ERR_EXISTS), 409);
	CHECK_EQ_INT(api_err_status(-ERR_HTTP_BODY_TOO_LARGE), 413);
	CHECK_EQ_INT(api_err_status(-ERR_HTTP_HEADERS_TOO_LARGE), 431);
	CHECK_EQ_INT(api_err_status(-ERR_RAFT_NOT_LEADER), 503);
	CHECK_EQ_INT(api_err_status(-ERR_API_CLIENTS_FULL), 503);
	CHECK_EQ_INT(api_err_status(-ERR_TIMEOUT), 504);
	CHECK_EQ_INT(api_err_status(-ERR_IO), 500);
	CHECK_EQ_STR(api_peer_kind_name(API_PEER_LOCAL), "local");
	CHECK_EQ_STR(api_peer_kind_name(API_PEER_ANON), "anonymous");
}

static void unix_socket_files(void)
{
	REQUIRE(srv_start(NULL) == 0);
	struct stat st;
	REQUIRE(lstat(S.sock, &st) == 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ_INT(st.st_mode & 0777, 0600);
	/* a second server on the same, live path is refused */
	static struct api_server s2;
	static struct loop l2;
	struct loop_config lc = {16, 16, 16, 0, NULL, NULL};
	struct api_limits lim;
	test_limits(&lim);
	REQUIRE(loop_init(&l2, &lc) == 0);
	REQUIRE(api_server_init(&s2, &l2, NULL, &lim) == 0);
	CHECK_EQ_INT(api_server_listen_unix(&s2, S.sock), -ERR_EXISTS);
	CHECK(has(s2.errmsg, "in use by another process"));
	/* a path that is not a socket is never replaced */
	char file[128];
	snprintf(file, sizeof file, "%s/plain", S.dir);
	FILE *f = fopen(file, "w");
	REQUIRE(f != NULL);
	fclose(f);
	CHECK_EQ_INT(api_server_listen_unix(&s2, file), -ERR_EXISTS);
	CHECK(has(s2.errmsg, "not a socket"));
	unlink(file);
	/* a stale socket (its process died) is replaced */
	char stale[128];
	snprintf(stale, sizeof stale, "%s/stale.sock", S.dir);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {AF_UNIX, {0}};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", stale);
	REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	close(fd);
	CHECK(api_server_listen_unix(&s2, stale) >= 0);
	CHECK(lstat(stale, &st) == 0 && (st.st_mode & 0777) == 0600);
	char longp[200];
	memset(longp, 'a', sizeof longp - 1);
	longp[0] = '/';
	longp[sizeof longp - 1] = 0;
	CHECK_EQ_INT(api_server_listen_unix(&s2, longp), -ERR_RANGE);
	api_server_fini(&s2);
	CHECK(lstat(stale, &st) != 0); /* removed by fini */
	loop_fini(&l2);
	srv_stop();
	CHECK(lstat(S.sock, &st) != 0);
}

static void unix_keepalive_echo(void)
{
	REQUIRE(srv_start(NULL) == 0);
	struct raw r;
	static struct raw_resp rr;
	REQUIRE(raw_unix(&r) == 0);
	for (int i = 0; i < 3; i++) {
		REQUIRE(raw_send(&r, "GET /echo?q=a%20b+c HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
		CHECK_EQ_INT(raw_response(&r, &rr), 200);
		CHECK(has(rr.body, "\"peer\":\"local\""));
		CHECK(has(rr.body, "\"q\":\"a b c\""));
		CHECK(has(rr.head, "Content-Type: application/json"));
		CHECK(has(rr.head, "Cache-Control: no-store"));
		CHECK(!has(rr.head, "Connection: close"));
	}
	raw_close(&r);
	srv_stop();
	CHECK_EQ_INT(S.api.stats.accepted, 1);
	CHECK_EQ_INT(S.api.stats.requests, 3);
	CHECK_EQ_INT(S.api.stats.status[2], 3);
}

static void post_json_body(void)
{
	REQUIRE(srv_start(NULL) == 0);
	struct raw r;
	static struct raw_resp rr;
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\n"
			     "{\"msg\":\"hi!\"}\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "\"msg\":\"hi!\""));
	CHECK(has(rr.body, "\"len\":14"));
	/* malformed JSON: 400 with the parser's code, and the connection stays */
	REQUIRE(raw_send(&r,
			 "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{\"a\":") ==
		0);
	CHECK_EQ_INT(raw_response(&r, &rr), 400);
	CHECK(has(rr.body, "\"code\":\"JSON_PARSE\""));
	CHECK(has(rr.body, "not valid JSON"));
	REQUIRE(raw_send(&r, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\n"
			     "{\"a\":1,\"a\":2} ") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 400);
	CHECK(has(rr.body, "JSON_DUP_KEY"));
	/* a raw-body route takes any bytes */
	REQUIRE(raw_send(&r, "PUT /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nnot{") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "{\"len\":4,\"json\":false}"));
	/* chunked request body */
	REQUIRE(raw_send(&r, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			     "5\r\n{\"msg\r\n8\r\n\":\"ch\"} \r\n0\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "\"msg\":\"ch\""));
	CHECK(has(rr.body, "\"len\":13"));
	raw_close(&r);
	srv_stop();
}

static void not_found_and_method(void)
{
	REQUIRE(srv_start(NULL) == 0);
	struct raw r;
	static struct raw_resp rr;
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 404);
	CHECK(has(rr.body, "{\"error\":\"no API endpoint /nope\",\"code\":\"API_NOT_FOUND\"}"));
	REQUIRE(raw_send(&r, "DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 405);
	CHECK(has(rr.head, "Allow: GET, POST\r\n"));
	CHECK(has(rr.body, "\"code\":\"API_METHOD\""));
	/* an error before the body: a body already here is skipped, the connection stays */
	REQUIRE(raw_send(&r, "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 404);
	CHECK(!has(rr.head, "Connection: close"));
	REQUIRE(raw_send(&r, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	/* ... a body not here yet closes it */
	REQUIRE(raw_send(&r, "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 404);
	CHECK(has(rr.head, "Connection: close"));
	CHECK(raw_closed(&r));
	raw_close(&r);
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET http://x/echo HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 400);
	raw_close(&r);
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET /echo HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 417);
	raw_close(&r);
	srv_stop();
}

static void route_params_and_prefix(void)
{
	REQUIRE(srv_start(NULL) == 0);
	struct raw r;
	static struct raw_resp rr;
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET /nodes/self HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "{\"self\":true}"));
	REQUIRE(raw_send(&r, "GET /nodes/k3ld%39 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "{\"id\":\"k3ld9\"}"));
	REQUIRE(raw_send(&r, "GET /nodes/a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 400); /* a decoded '/' is refused */
	REQUIRE(raw_send(&r, "GET /nodes/ HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 404);
	REQUIRE(raw_send(&r, "GET /nodes/a/b HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 404);
	REQUIRE(raw_send(&r, "GET /logs/a/b?x=1 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "{\"rest\":\"a/b\"}"));
	REQUIRE(raw_send(&r, "GET /logs HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "{\"rest\":\"\"}"));
	raw_close(&r);
	srv_stop();
}

static void body_limits(void)
{
	REQUIRE(srv_start(NULL) == 0); /* max_body 1024 */
	struct raw r;
	static struct raw_resp rr;
	static char req[4096];
	char body[1100];
	/* exactly max_body: accepted */
	memset(body, ' ', sizeof body);
	body[0] = '1';
	body[1024] = 0;
	REQUIRE(raw_unix(&r) == 0);
	snprintf(req, sizeof req, "PUT /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n%s",
		 body);
	REQUIRE(raw_send(&r, req) == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "\"len\":1024"));
	/* one more byte: 413 without reading the body, then close */
	snprintf(req, sizeof req, "PUT /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n");
	REQUIRE(raw_send(&r, req) == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 413);
	CHECK(has(rr.body, "\"code\":\"HTTP_BODY_TOO_LARGE\""));
	CHECK(has(rr.body, "max_body"));
	CHECK(raw_closed(&r));
	raw_close(&r);
	/* chunked over the limit */
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "PUT /raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			     "400\r\n") == 0);
	memset(body, 'x', 1024);
	body[1024] = 0;
	REQUIRE(raw_send(&r, body) == 0);
	REQUIRE(raw_send(&r, "\r\n1\r\nx\r\n0\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 413);
	raw_close(&r);
	/* chunked exactly at the limit, in many small chunks */
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r,
			 "PUT /raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n") ==
		0);
	for (int i = 0; i < 256; i++)
		REQUIRE(raw_send(&r, "4\r\nabcd\r\n") == 0);
	REQUIRE(raw_send(&r, "0\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "\"len\":1024"));
	raw_close(&r);
	srv_stop();
}

static void header_limits(void)
{
	REQUIRE(srv_start(NULL) == 0); /* 16 headers, 1024 header bytes, 512 line */
	struct raw r;
	static struct raw_resp rr;
	static char req[8192];
	size_t n = (size_t)snprintf(req, sizeof req, "GET /echo HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 16; i++)
		n += (size_t)snprintf(req + n, sizeof req - n, "X-%d: y\r\n", i);
	snprintf(req + n, sizeof req - n, "\r\n");
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, req) == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 431);
	CHECK(has(rr.body, "HTTP_TOO_MANY_HEADERS"));
	CHECK(raw_closed(&r));
	raw_close(&r);
	/* 15 fields with Host: fine */
	n = (size_t)snprintf(req, sizeof req, "GET /echo HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 15; i++)
		n += (size_t)snprintf(req + n, sizeof req - n, "X-%d: y\r\n", i);
	snprintf(req + n, sizeof req - n, "\r\n");
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, req) == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	raw_close(&r);
	char big[1200];
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = 0;
	snprintf(req, sizeof req, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", big);
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, req) == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 431);
	CHECK(has(rr.body, "HTTP_HEADERS_TOO_LARGE"));
	raw_close(&r);
	big[600] = 0;
	snprintf(req, sizeof req, "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", big);
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, req) == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 414);
	raw_close(&r);
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "HELLO\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 400);
	CHECK(has(rr.body, "\"code\":\"PARSE\""));
	raw_close(&r);
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET /echo HTTP/1.1\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 400);
	CHECK(has(rr.body, "HTTP_BAD_HOST"));
	raw_close(&r);
	srv_stop();
}

static void pipelining_and_bytewise(void)
{
	REQUIRE(srv_start(NULL) == 0);
	struct raw r;
	static struct raw_resp rr;
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET /nodes/a HTTP/1.1\r\nHost: x\r\n\r\n"
			     "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
			     "GET /nodes/b HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "\"a\""));
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "\"len\":2"));
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "\"b\""));
	const char *one = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
			  "{\"msg\":\"1\"}";
	for (const char *p = one; *p; p++) {
		char ch[2] = {*p, 0};
		REQUIRE(raw_send(&r, ch) == 0);
		if ((p - one) % 16 == 0)
			sleep_ms(1);
	}
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "\"msg\":\"1\""));
	raw_close(&r);
	srv_stop();
	CHECK_EQ_INT(S.api.stats.accepted, 1);
}

static void timeouts_header_and_idle(void)
{
	REQUIRE(srv_start(NULL) == 0); /* header 300 ms, idle 500 ms */
	struct raw r;
	static struct raw_resp rr;
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET /echo HTTP/1.1\r\nHo") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 408);
	CHECK(has(rr.body, "\"code\":\"TIMEOUT\""));
	CHECK(has(rr.head, "Connection: close"));
	raw_close(&r);
	/* body too slow */
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 408);
	CHECK(has(rr.body, "body"));
	raw_close(&r);
	/* idle keep-alive: closed quietly, no 408 */
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	sleep_ms(300);
	REQUIRE(raw_send(&r, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n") == 0); /* still open */
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	uint64_t t0 = time_mono_ms();
	char b[16];
	CHECK(recv(r.fd, b, sizeof b, 0) == 0);
	uint64_t waited = time_mono_ms() - t0;
	CHECK(waited >= 400 && waited < 3000);
	raw_close(&r);
	/* a connection that never sends anything: closed after the header timeout */
	REQUIRE(raw_unix(&r) == 0);
	CHECK(recv(r.fd, b, sizeof b, 0) == 0);
	raw_close(&r);
	srv_stop();
	CHECK(S.api.stats.timeouts >= 4);
	CHECK_EQ_INT(S.api.stats.clients, 0);
}

static void max_clients_503(void)
{
	struct api_limits lim;
	test_limits(&lim);
	lim.max_clients = 2;
	lim.max_tls_clients = 1;
	REQUIRE(srv_start(&lim) == 0);
	struct raw a, b, c;
	static struct raw_resp rr;
	REQUIRE(raw_unix(&a) == 0);
	REQUIRE(raw_unix(&b) == 0);
	REQUIRE(raw_send(&a, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&a, &rr), 200);
	REQUIRE(raw_send(&b, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&b, &rr), 200);
	REQUIRE(raw_unix(&c) == 0);
	raw_send(&c, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK_EQ_INT(raw_response(&c, &rr), 503);
	CHECK(has(rr.body, "\"code\":\"API_CLIENTS_FULL\""));
	CHECK(has(rr.body, "max_clients"));
	raw_close(&c);
	raw_close(&a);
	sleep_ms(50);
	REQUIRE(raw_unix(&c) == 0);
	REQUIRE(raw_send(&c, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&c, &rr), 200);
	raw_close(&b);
	raw_close(&c);
	srv_stop();
	CHECK_EQ_INT(S.api.stats.refused_full, 1);
}

static void pool_fault_injection(void)
{
	REQUIRE(srv_start(NULL) == 0);
	srv_join();
	S.api.conns.fail_after = 0; /* the next pool_get fails as if full */
	REQUIRE(pthread_create(&S.th, NULL, srv_thread, NULL) == 0);
	S.running = true;
	struct raw r;
	static struct raw_resp rr;
	REQUIRE(raw_unix(&r) == 0);
	raw_send(&r, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK_EQ_INT(raw_response(&r, &rr), 503);
	raw_close(&r);
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	raw_close(&r);
	srv_stop();
}

static void deferred_response(void)
{
	REQUIRE(srv_start(NULL) == 0);
	struct raw r;
	static struct raw_resp rr;
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET /defer?ms=50 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "{\"deferred\":true}"));
	REQUIRE(raw_send(&r, "GET /sync-finish HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "{\"sync\":true}"));
	/* pipelined behind a deferred response: answered in order */
	REQUIRE(raw_send(&r, "GET /defer?ms=30 HTTP/1.1\r\nHost: x\r\n\r\n"
			     "GET /nodes/after HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "deferred"));
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "after"));
	REQUIRE(raw_send(&r, "GET /bad-pending HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 500);
	raw_close(&r);
	srv_stop();
	CHECK_EQ_INT(S.finish_rc, 0);
	CHECK_EQ_INT(S.closed_events, 0);
}

static void handler_timeout_504(void)
{
	REQUIRE(srv_start(NULL) == 0); /* handler timeout 300 ms */
	struct raw r;
	static struct raw_resp rr;
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET /defer-forever HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 504);
	CHECK(has(rr.body, "\"code\":\"TIMEOUT\""));
	raw_close(&r);
	srv_join();
	CHECK_EQ_INT(S.closed_events, 1);
	CHECK(api_resp_get(&S.api, S.held) == NULL);
	CHECK_EQ_INT(api_resp_finish(&S.api, S.held), -ERR_NOTFOUND);
	srv_stop();
}

static void client_gone_while_pending(void)
{
	REQUIRE(srv_start(NULL) == 0);
	struct raw r;
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET /defer?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	sleep_ms(50);
	raw_close(&r);
	sleep_ms(300);
	srv_join();
	CHECK_EQ_INT(S.closed_events, 1);
	CHECK_EQ_INT(S.finish_rc, -ERR_NOTFOUND); /* the completion found the handle stale */
	CHECK_EQ_INT(S.api.stats.clients, 0);
	srv_stop();
}

static void streaming_chunks(void)
{
	REQUIRE(srv_start(NULL) == 0);
	static struct api_client c;
	static char body[4096];
	struct api_result res;
	api_result_init(&res, body, sizeof body);
	REQUIRE(api_client_init_unix(&c, S.sock) == 0);
	CHECK_EQ_INT(api_call_stream(&c, "GET", "/stream", NULL, &res), 200);
	char all[256] = "";
	size_t n = 0;
	for (;;) {
		char piece[64];
		ssize_t k = api_client_stream_read(&c, piece, sizeof piece, 2000);
		REQUIRE(k >= 0);
		if (k == 0)
			break;
		REQUIRE(n + (size_t)k < sizeof all);
		memcpy(all + n, piece, (size_t)k);
		n += (size_t)k;
	}
	all[n] = 0;
	CHECK_EQ_STR(all, "line 0\nline 1\nline 2\nline 3\nline 4\n");
	/* the connection serves the next request */
	CHECK_EQ_INT(api_call(&c, "GET", "/stream-inline", NULL, &res), 200);
	CHECK_EQ_STR(res.body, "abcdef");
	CHECK_EQ_INT(api_call(&c, "GET", "/echo", NULL, &res), 200);
	api_client_fini(&c);
	srv_stop();
	CHECK_EQ_INT(S.api.stats.accepted, 1);
	CHECK_EQ_INT(S.closed_events, 0);
}

static void stream_backpressure(void)
{
	REQUIRE(srv_start(NULL) == 0); /* window: max_resp 64 KiB */
	static struct api_client c;
	static char body[256];
	struct api_result res;
	api_result_init(&res, body, sizeof body);
	REQUIRE(api_client_init_unix(&c, S.sock) == 0);
	CHECK_EQ_INT(api_call_stream(&c, "GET", "/stream-big", NULL, &res), 200);
	sleep_ms(100); /* let the window fill while we do not read */
	size_t total = 0;
	bool pattern_ok = true;
	static uint8_t piece[5000];
	for (;;) {
		ssize_t k = api_client_stream_read(&c, piece, sizeof piece, 3000);
		REQUIRE(k >= 0);
		if (k == 0)
			break;
		for (ssize_t i = 0; i < k; i++)
			if (piece[i] != (uint8_t)((total + (size_t)i) % 251))
				pattern_ok = false;
		total += (size_t)k;
	}
	CHECK_EQ_INT(total, 2u << 20);
	CHECK(pattern_ok);
	api_client_fini(&c);
	srv_stop();
	CHECK(S.drained_events > 0);
	CHECK_EQ_INT(S.big_sent, 2u << 20);
}

static void stream_client_gone(void)
{
	REQUIRE(srv_start(NULL) == 0);
	struct raw r;
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET /stream-big HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	sleep_ms(50);
	raw_close(&r);
	sleep_ms(100);
	srv_join();
	CHECK_EQ_INT(S.closed_events, 1);
	CHECK(S.big_sent < S.big_total);
	CHECK_EQ_INT(S.api.stats.clients, 0);
	srv_stop();
}

static void stream_http10(void)
{
	REQUIRE(srv_start(NULL) == 0);
	struct raw r;
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET /stream-inline HTTP/1.0\r\n\r\n") == 0);
	static char all[2048];
	size_t n = 0;
	for (;;) {
		ssize_t k = recv(r.fd, all + n, sizeof all - 1 - n, 0);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	all[n] = 0;
	CHECK(has(all, "HTTP/1.1 200 OK\r\n"));
	CHECK(!has(all, "chunked"));
	CHECK(has(all, "Connection: close"));
	CHECK(has(all, "\r\n\r\nabcdef"));
	raw_close(&r);
	srv_stop();
}

static void errors_from_handlers(void)
{
	REQUIRE(srv_start(NULL) == 0);
	struct raw r;
	static struct raw_resp rr;
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 500);
	CHECK(has(rr.body, "\"code\":\"API_RESP_TOO_LARGE\""));
	REQUIRE(raw_send(&r, "GET /fail HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 503);
	CHECK(has(rr.body, "{\"error\":\"not the raft leader\",\"code\":\"RAFT_NOT_LEADER\"}"));
	REQUIRE(raw_send(&r, "GET /custom HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 409);
	CHECK(has(rr.body, "{\"error\":\"node n1 exists\",\"code\":\"EXISTS\"}"));
	CHECK(has(rr.head, "X-Node: n1\r\n"));
	REQUIRE(raw_send(&r, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	raw_close(&r);
	srv_stop();
}

static void expect_continue_and_http10(void)
{
	REQUIRE(srv_start(NULL) == 0);
	struct raw r;
	static struct raw_resp rr;
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
			     "Content-Length: 2\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 100);
	REQUIRE(raw_send(&r, "{}") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	raw_close(&r);
	REQUIRE(raw_unix(&r) == 0);
	REQUIRE(raw_send(&r, "GET /echo HTTP/1.0\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.head, "Connection: close"));
	CHECK(raw_closed(&r));
	raw_close(&r);
	srv_stop();
}

/* TLS --------------------------------------------------------------------------------------- */

static int tls_client(struct api_client *c, const struct pem_pair *who)
{
	return api_client_init_tls(c, tls_addr(), fx.ca_pem, fx.ca_len, who->cert, who->cert_len,
				   who->key, who->key_len);
}

static int call_status(struct api_client *c, const char *method, const char *path, const char *body,
		       char *out, size_t cap)
{
	struct api_result res;
	api_result_init(&res, out, cap);
	return api_call(c, method, path, body, &res);
}

static void tls_roles(void)
{
	REQUIRE(srv_start(NULL) == 0);
	static struct api_client c;
	static char out[4096];
	REQUIRE(tls_client(&c, &fx.admin) == 0);
	CHECK_EQ_INT(call_status(&c, "GET", "/admin", NULL, out, sizeof out), 200);
	CHECK(has(out, "{\"peer\":\"admin\",\"id\":\"admin\",\"cluster\":\"test-cluster\"}"));
	CHECK_EQ_INT(call_status(&c, "GET", "/any", NULL, out, sizeof out), 200);
	CHECK_EQ_INT(call_status(&c, "POST", "/join", "{}", out, sizeof out), 200);
	CHECK_EQ_INT(call_status(&c, "GET", "/node", NULL, out, sizeof out), 403);
	CHECK(has(out, "\"code\":\"API_FORBIDDEN\""));
	CHECK(has(out, "needs a node certificate"));
	api_client_fini(&c);

	REQUIRE(tls_client(&c, &fx.control) == 0);
	CHECK_EQ_INT(call_status(&c, "GET", "/node", NULL, out, sizeof out), 200);
	CHECK(has(out, "\"peer\":\"control\",\"id\":\"" NODE_ID "\""));
	CHECK_EQ_INT(call_status(&c, "GET", "/control", NULL, out, sizeof out), 200);
	CHECK_EQ_INT(call_status(&c, "GET", "/any", NULL, out, sizeof out), 200);
	CHECK_EQ_INT(call_status(&c, "GET", "/admin", NULL, out, sizeof out), 403);
	CHECK(has(out, "needs an admin certificate"));
	api_client_fini(&c);

	REQUIRE(tls_client(&c, &fx.data) == 0);
	CHECK_EQ_INT(call_status(&c, "GET", "/node", NULL, out, sizeof out), 200);
	CHECK(has(out, "\"peer\":\"data\""));
	CHECK_EQ_INT(call_status(&c, "GET", "/control", NULL, out, sizeof out), 403);
	CHECK_EQ_INT(call_status(&c, "GET", "/admin", NULL, out, sizeof out), 403);
	api_client_fini(&c);

	/* a joiner: no certificate, the CA pinned from its token */
	uint8_t pin[32];
	pki_ca_digest(fx.ca.cert, fx.ca.cert_len, pin);
	REQUIRE(api_client_init_pinned(&c, tls_addr(), pin) == 0);
	CHECK_EQ_INT(call_status(&c, "POST", "/join", "{}", out, sizeof out), 200);
	CHECK(has(out, "\"peer\":\"anonymous\""));
	CHECK_EQ_INT(call_status(&c, "GET", "/admin", NULL, out, sizeof out), 403);
	CHECK(has(out, "this client: anonymous"));
	CHECK_EQ_INT(call_status(&c, "GET", "/any", NULL, out, sizeof out), 403);
	CHECK_EQ_INT(call_status(&c, "GET", "/node", NULL, out, sizeof out), 403);
	CHECK_EQ_INT(call_status(&c, "GET", "/echo", NULL, out, sizeof out), 403);
	api_client_fini(&c);

	/* the unix socket is the local admin, not a node */
	REQUIRE(api_client_init_unix(&c, S.sock) == 0);
	CHECK_EQ_INT(call_status(&c, "GET", "/admin", NULL, out, sizeof out), 200);
	CHECK(has(out, "\"peer\":\"local\""));
	CHECK_EQ_INT(call_status(&c, "GET", "/node", NULL, out, sizeof out), 403);
	api_client_fini(&c);
	srv_stop();
	CHECK_EQ_INT(S.api.stats.tls_rejected_cert, 0);
	CHECK(S.peer_checks >= 4);
}

static void tls_other_ca_refused(void)
{
	REQUIRE(srv_start(NULL) == 0);
	static struct api_client c;
	static char out[1024];
	REQUIRE(tls_client(&c, &fx.admin2) == 0);
	int rc = call_status(&c, "GET", "/any", NULL, out, sizeof out);
	CHECK(rc < 0);
	CHECK(rc == -ERR_TLS_HANDSHAKE || rc == -ERR_TLS_CERT);
	CHECK(has(api_client_errmsg(&c), "TLS handshake"));
	/* not even the anonymous route: a bad certificate is refused, not ignored */
	rc = call_status(&c, "POST", "/join", "{}", out, sizeof out);
	CHECK(rc < 0);
	api_client_fini(&c);
	srv_stop();
	CHECK_EQ_INT(S.api.stats.tls_rejected_cert, 2);
	CHECK_EQ_INT(S.api.stats.requests, 0);
}

static void tls_peer_check_and_cap(void)
{
	struct api_limits lim;
	test_limits(&lim);
	lim.max_tls_clients = 1;
	REQUIRE(srv_start(&lim) == 0);
	static struct api_client a, b;
	static char out[1024];
	REQUIRE(tls_client(&a, &fx.blocked) == 0);
	CHECK(call_status(&a, "GET", "/admin", NULL, out, sizeof out) < 0);
	api_client_fini(&a);
	sleep_ms(50);
	REQUIRE(tls_client(&a, &fx.admin) == 0);
	CHECK_EQ_INT(call_status(&a, "GET", "/admin", NULL, out, sizeof out), 200);
	/* a holds the only TLS slot (keep-alive): b is turned away, unix still works */
	REQUIRE(tls_client(&b, &fx.admin) == 0);
	api_client_set_timeout(&b, 1000);
	CHECK(call_status(&b, "GET", "/admin", NULL, out, sizeof out) < 0);
	api_client_fini(&b);
	REQUIRE(api_client_init_unix(&b, S.sock) == 0);
	CHECK_EQ_INT(call_status(&b, "GET", "/admin", NULL, out, sizeof out), 200);
	api_client_fini(&b);
	CHECK_EQ_INT(call_status(&a, "GET", "/any", NULL, out, sizeof out), 200);
	api_client_fini(&a);
	srv_stop();
	CHECK_EQ_INT(S.api.stats.refused_tls_full, 1);
}

static void plain_tcp_is_anonymous(void)
{
	REQUIRE(srv_start(NULL) == 0);
	struct raw r;
	static struct raw_resp rr;
	REQUIRE(raw_tcp(&r, api_server_port(&S.api, S.tcp_idx)) == 0);
	REQUIRE(raw_send(&r, "POST /join HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 200);
	CHECK(has(rr.body, "\"peer\":\"anonymous\""));
	REQUIRE(raw_send(&r, "GET /admin HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	CHECK_EQ_INT(raw_response(&r, &rr), 403);
	raw_close(&r);
	/* plain bytes on the TLS port: the handshake fails, nothing is served */
	REQUIRE(raw_tcp(&r, api_server_port(&S.api, S.tls_idx)) == 0);
	raw_send(&r, "GET /admin HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK(raw_response(&r, &rr) < 0);
	raw_close(&r);
	srv_stop();
	CHECK(S.api.stats.tls_failed >= 1);
}

static void many_clients_round_robin(void)
{
	REQUIRE(srv_start(NULL) == 0); /* 8 clients */
	struct raw r[8];
	static struct raw_resp rr;
	for (int i = 0; i < 8; i++)
		REQUIRE(raw_unix(&r[i]) == 0);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 8; i++) {
			char req[96];
			snprintf(req, sizeof req, "GET /nodes/c%dr%d HTTP/1.1\r\nHost: x\r\n\r\n",
				 i, round);
			REQUIRE(raw_send(&r[i], req) == 0);
		}
	for (int i = 0; i < 8; i++)
		for (int round = 0; round < 3; round++) {
			char want[32];
			snprintf(want, sizeof want, "\"c%dr%d\"", i, round);
			CHECK_EQ_INT(raw_response(&r[i], &rr), 200);
			CHECK(has(rr.body, want));
		}
	for (int i = 0; i < 8; i++)
		raw_close(&r[i]);
	srv_stop();
	CHECK_EQ_INT(S.api.stats.requests, 24);
}

TEST_MAIN(limits_and_init, routes_validation, addr_split, err_status_map, unix_socket_files,
	  unix_keepalive_echo, post_json_body, not_found_and_method, route_params_and_prefix,
	  body_limits, header_limits, pipelining_and_bytewise, timeouts_header_and_idle,
	  max_clients_503, pool_fault_injection, deferred_response, handler_timeout_504,
	  client_gone_while_pending, streaming_chunks, stream_backpressure, stream_client_gone,
	  stream_http10, errors_from_handlers, expect_continue_and_http10, tls_roles,
	  tls_other_ca_refused, tls_peer_check_and_cap, plain_tcp_is_anonymous,
	  many_clients_round_robin)
