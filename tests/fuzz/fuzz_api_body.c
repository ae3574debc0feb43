/* fuzz_api_body.c — libFuzzer harness for the control API server's request handling (src/api).
 *
 * One api_server runs on a loop in this process, listening on a unix socket in a private
 * temporary directory (the peer is then the local admin, so every route's access check
 * passes and the request reaches its handler). Each input is one client connection: the
 * bytes are written as they are (request line, header fields, JSON or chunked body, possibly
 * several pipelined requests), the client half-closes, and the loop runs until the server has
 * answered and closed. The routes cover what handlers do with a request: path parameters,
 * query values, header lookups, a walk over the parsed JSON body, a raw body, a streamed
 * response and an error return. Limits are small so inputs of fuzzing size reach every cap
 * (414, 431, 413, 400 JSON_TOO_MANY_TOKENS, 500 API_RESP_TOO_LARGE).
 *
 * Invariants, checked with abort():
 *  - the server answers and closes within a bounded number of loop iterations (no hang);
 *  - whatever comes back starts with "HTTP/1.1 " (every answer, errors included, is HTTP);
 *  - after the client is gone the server holds no client (stats.clients == 0).
 */
#include "api/api_server.h"
#include "base/base_err.h"
#include "base/base_rand.h"
#include "json/json.h"
#include "json/json_write.h"
#include "loop/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FUZZ_ASSERT(c)                                                                         \
	do {                                                                                   \
		if (!(c)) {                                                                    \
			fprintf(stderr, "fuzz_api_body: invariant failed: %s (line %d)\n", #c, \
				__LINE__);                                                     \
			abort();                                                               \
		}                                                                              \
	} while (0)

#define MAX_ITERS 4000 /* loop iterations per input before it counts as a hang */

static struct {
	int ready;
	struct loop loop;
	struct rand rng;
	struct api_server api;
	char dir[64], sock[128];
} F;

/* Handlers --------------------------------------------------------------------------------- */

/* Walk any JSON value, bounded by depth, touching every accessor a handler would use. */
static void walk(const struct json_doc *d, int t, int depth, struct json_writer *w)
{
	char s[64];
	int64_t i;
	double x;
	bool b;
	if (t < 0 || depth > 8)
		return;
	switch (json_typeof(d, t)) {
	case JSON_OBJECT:
	case JSON_ARRAY: {
		struct json_iter it;
		int key, v;
		json_len(d, t);
		json_iter_begin(d, t, &it);
		while ((v = json_iter_next(d, &it, &key)) >= 0) {
			if (key >= 0 && json_get_str(d, key, s, sizeof s) >= 0)
				json_w_key(w, "k"), json_w_str(w, s);
			walk(d, v, depth + 1, w);
		}
		break;
	}
	case JSON_STRING:
		json_str_len(d, t);
		if (json_get_str(d, t, s, sizeof s) >= 0) {
			json_w_key(w, "s");
			json_w_str(w, s);
		}
		break;
	default:
		json_get_int(d, t, &i);
		json_get_double(d, t, &x);
		json_get_bool(d, t, &b);
		json_is_null(d, t);
		break;
	}
}

static int h_nodes(struct api_req *req, struct api_resp *resp, void *arg)
{
	(void)arg;
	char q[32] = "";
	api_req_query(req, "role", q, sizeof q);
	struct slice ua = api_req_header(req, "User-Agent");
	struct json_writer *w = api_resp_json(resp);
	json_w_arr_begin(w);
	json_w_obj_begin(w);
	json_w_key(w, "role");
	json_w_str(w, q);
	json_w_key(w, "ua");
	json_w_str_slice(w, ua);
	json_w_obj_end(w);
	json_w_arr_end(w);
	return API_DONE;
}

static int h_item(struct api_req *req, struct api_resp *resp, void *arg)
{
	(void)arg;
	char id[48];
	int rc = api_req_param(req, "id", id, sizeof id);
	if (rc < 0)
		return api_resp_error(resp, 400, rc, "bad id");
	struct json_writer *w = api_resp_json(resp);
	json_w_obj_begin(w);
	json_w_key(w, "id");
	json_w_str(w, id);
	if (req->json) {
		json_w_key(w, "name");
		char name[32];
		int t = json_obj_get(req->json, JSON_ROOT, "name");
		json_w_str(w, t >= 0 && json_get_str(req->json, t, name, sizeof name) >= 0 ? name
											   : "");
		json_get_path(req->json, JSON_ROOT, "spec.servers.0.url");
		json_w_key(w, "walk");
		json_w_obj_begin(w);
		walk(req->json, JSON_ROOT, 0, w);
		json_w_obj_end(w);
	}
	json_w_key(w, "len");
	json_w_uint(w, req->body.len);
	json_w_obj_end(w);
	return API_DONE;
}

static int h_raw(struct api_req *req, struct api_resp *resp, void *arg)
{
	(void)arg;
	struct json_writer *w = api_resp_json(resp);
	json_w_obj_begin(w);
	json_w_key(w, "rest");
	json_w_str_slice(w, req->rest);
	json_w_key(w, "body");
	json_w_str_slice(w, req->body); /* arbitrary bytes: the writer escapes them */
	json_w_obj_end(w);
	return API_DONE;
}

static int h_stream(struct api_req *req, struct api_resp *resp, void *arg)
{
	(void)arg;
	struct api_handle h;
	int rc = api_resp_stream(resp, &h);
	if (rc != API_PENDING)
		return rc;
	api_stream_push(req->srv, h, "line one\n", 9);
	if (req->query.len)
		api_stream_push(req->srv, h, req->query.p, req->query.len);
	api_stream_end(req->srv, h);
	return API_PENDING;
}

static int h_fail(struct api_req *req, struct api_resp *resp, void *arg)
{
	(void)req;
	(void)resp;
	(void)arg;
	return -ERR_NOTFOUND;
}

static const struct api_route routes[] = {
	{"GET", "/nodes", API_ROLE_ADMIN, h_nodes, NULL},
	{"GET", "/nodes/{id}", API_ROLE_ADMIN, h_item, NULL},
	{"POST", "/items/{id}", API_ROLE_ADMIN, h_item, NULL},
	{"PUT", "/items/{id}", API_ROLE_ANY, h_item, NULL},
	{"POST", "/join", API_ROLE_ANON | API_ROLE_ADMIN, h_item, NULL},
	{"POST", "/raw/*", API_ROLE_ADMIN | API_F_RAW_BODY, h_raw, NULL},
	{"GET", "/logs/*", API_ROLE_ADMIN, h_stream, NULL},
	{"DELETE", "/nodes/{id}", API_ROLE_ADMIN, h_fail, NULL},
};

static void cleanup(void)
{
	if (!F.ready)
		return;
	api_server_fini(&F.api);
	loop_fini(&F.loop);
	unlink(F.sock);
	rmdir(F.dir);
}

static void setup(void)
{
	snprintf(F.dir, sizeof F.dir, "/tmp/tee-fuzz-api-XXXXXX");
	FUZZ_ASSERT(mkdtemp(F.dir) != NULL);
	snprintf(F.sock, sizeof F.sock, "%s/api.sock", F.dir);
	struct loop_config lc = {64, 64, 32, 0, NULL, NULL};
	FUZZ_ASSERT(loop_init(&F.loop, &lc) == 0);
	rand_init_seed(&F.rng, "fuzz-api", 8);
	struct api_limits lim;
	api_limits_default(&lim);
	lim.max_clients = 4;
	lim.max_tls_clients = 0;
	lim.max_line = 256;
	lim.max_headers = 12;
	lim.max_header_bytes = 1024;
	lim.max_body = 2048;
	lim.max_resp = 2048;
	lim.max_json_tokens = 64;
	lim.linger_ms = 0;
	int rc = api_server_init(&F.api, &F.loop, &F.rng, &lim);
	if (rc)
		fprintf(stderr, "fuzz_api_body: api_server_init: %s\n", F.api.errmsg);
	FUZZ_ASSERT(rc == 0);
	FUZZ_ASSERT(api_server_add_routes(&F.api, routes, sizeof routes / sizeof routes[0]) == 0);
	FUZZ_ASSERT(api_server_listen_unix(&F.api, F.sock) >= 0);
	F.ready = 1;
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!F.ready)
		setup();

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_ASSERT(fd >= 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, F.sock, strlen(F.sock) + 1);
	FUZZ_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	FUZZ_ASSERT(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);

	size_t off = 0, got = 0;
	char head[9];
	bool wr_closed = false, eof = false;
	int iters = 0;
	while (!eof) {
		FUZZ_ASSERT(++iters <= MAX_ITERS);
		if (off < size) {
			ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				off = size; /* the server closed on us: stop writing */
		}
		if (off >= size && !wr_closed) {
			shutdown(fd, SHUT_WR);
			wr_closed = true;
		}
		loop_run_once(&F.loop, 1);
		for (;;) {
			char tmp[4096];
			ssize_t n = recv(fd, tmp, sizeof tmp, 0);
			if (n > 0) {
				for (ssize_t i = 0; i < n && got + (size_t)i < sizeof head; i++)
					head[got + (size_t)i] = tmp[i];
				got += (size_t)n;
				continue;
			}
			if (n == 0 || errno != EAGAIN)
				eof = true; /* closed, or reset after a refusal */
			break;
		}
	}
	if (got >= sizeof head)
		FUZZ_ASSERT(memcmp(head, "HTTP/1.1 ", sizeof head) == 0);
	close(fd);
	for (int i = 0; F.api.stats.clients > 0; i++) {
		FUZZ_ASSERT(i < MAX_ITERS);
		loop_run_once(&F.loop, 1);
	}
	return 0;
}
