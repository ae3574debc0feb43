/* Unit tests for proxy_monitor.h: /metrics sums the registries, /ping and draining, 404/405,
 * the client cap, the per-connection deadline, the text cap, head limits, bad addresses.
 * Real sockets on 127.0.0.1; the loop is driven by hand between the client's steps. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base_err.h"
#include "base/base_slice.h"
#include "loop/loop.h"
#include "proxy/proxy_monitor.h"
#include "test.h"

static struct proxy_metrics *metrics_new(void **mem)
{
	size_t n = proxy_metrics_size(64, 32);
	*mem = aligned_alloc(64, (n + 63) / 64 * 64);
	return proxy_metrics_init(*mem, n, 64, 32);
}

static void loop_new(struct loop *l)
{
	struct loop_config lc = {.max_fds = 32, .max_timers = 32, .max_events = 16};
	int rc = loop_init(l, &lc);
	if (rc < 0)
		abort();
}

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Read fd until EOF while running the loop; at most ~2 s. Returns bytes read (NUL-ended). */
static size_t drain(struct loop *l, int fd, char *out, size_t cap)
{
	size_t n = 0;
	for (int i = 0; i < 400; i++) {
		loop_run_once(l, 5);
		for (;;) {
			ssize_t r = recv(fd, out + n, cap - 1 - n, 0);
			if (r > 0) {
				n += (size_t)r;
				if (n == cap - 1)
					goto done;
				continue;
			}
			if (r == 0)
				goto done;
			break; /* EAGAIN */
		}
	}
done:
	out[n] = 0;
	return n;
}

static size_t fetch(struct loop *l, int port, const char *req, char *out, size_t cap)
{
	int fd = connect_to(port);
	if (fd < 0)
		return 0;
	ssize_t w = send(fd, req, strlen(req), MSG_NOSIGNAL);
	size_t n = w == (ssize_t)strlen(req) ? drain(l, fd, out, cap) : 0;
	close(fd);
	return n;
}

static int start(struct loop *l, const struct proxy_metrics *const *parts, size_t n,
		 uint32_t max_clients, size_t max_text, uint32_t timeout_ms,
		 struct proxy_monitor **m)
{
	struct proxy_monitor_config cfg = {
		.loop = l,
		.addr = "127.0.0.1:0",
		.parts = parts,
		.nparts = n,
		.max_clients = max_clients,
		.max_text = max_text,
		.timeout_ms = timeout_ms,
	};
	char msg[200];
	return proxy_monitor_start(&cfg, m, msg, sizeof msg);
}

static void metrics_sums_parts(void)
{
	void *mem1, *mem2;
	struct proxy_metrics *a = metrics_new(&mem1), *b = metrics_new(&mem2);
	int ea = proxy_metrics_name_get(a, PROXY_MK_ENTRYPOINT, SLICE_LIT("http"));
	int ba = proxy_metrics_name_get(a, PROXY_MK_BACKEND, SLICE_LIT("web"));
	int eb = proxy_metrics_name_get(b, PROXY_MK_ENTRYPOINT, SLICE_LIT("http"));
	int bb = proxy_metrics_name_get(b, PROXY_MK_BACKEND, SLICE_LIT("web"));
	for (int i = 0; i < 2; i++)
		proxy_metrics_request(a, ea, -1, ba, 200, HTTP_M_GET, PROXY_PROTO_HTTP, 1000);
	for (int i = 0; i < 3; i++)
		proxy_metrics_request(b, eb, -1, bb, 200, HTTP_M_GET, PROXY_PROTO_HTTP, 1000);
	proxy_metrics_reload(a, true, 1700000000);
	proxy_metrics_reload(b, true, 1700000001);
	struct loop l;
	loop_new(&l);
	const struct proxy_metrics *parts[2] = {a, b};
	struct proxy_monitor *m;
	REQUIRE(start(&l, parts, 2, 0, 0, 0, &m) == 0);
	int port = proxy_monitor_port(m);
	CHECK(port > 0);
	static char out[64 << 10];
	size_t n = fetch(&l, port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
	CHECK(n > 0);
	CHECK(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK(strstr(out, "Content-Type: text/plain; version=0.0.4") != NULL);
	CHECK(strstr(out, "Connection: close\r\n") != NULL);
	CHECK(strstr(out, "traefik_backend_requests_total{code=\"200\",method=\"GET\","
			  "protocol=\"http\",backend=\"web\"} 5\n") != NULL);
	CHECK(strstr(out, "traefik_entrypoint_requests_total{code=\"200\",method=\"GET\","
			  "protocol=\"http\",entrypoint=\"http\"} 5\n") != NULL);
	CHECK(strstr(out, "traefik_config_reloads_total 1\n") != NULL); /* max, not sum */
	CHECK(strstr(out, "traefik_config_last_reload_success 1700000001\n") != NULL);
	/* Content-Length matches the body */
	const char *cl = strstr(out, "Content-Length: ");
	const char *body = strstr(out, "\r\n\r\n");
	REQUIRE(cl && body);
	CHECK_EQ_INT(strtoul(cl + 16, NULL, 10), n - (size_t)(body + 4 - out));
	/* HEAD: the same head, no body */
	n = fetch(&l, port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
	body = strstr(out, "\r\n\r\n");
	REQUIRE(body);
	CHECK_EQ_INT(n, (size_t)(body + 4 - out));
	struct proxy_monitor_stats st;
	proxy_monitor_get_stats(m, &st);
	CHECK_EQ_INT(st.metrics, 2);
	CHECK_EQ_INT(st.clients, 0);
	proxy_monitor_stop(m);
	loop_fini(&l);
	free(mem1);
	free(mem2);
}

static void ping_and_draining(void)
{
	void *mem;
	struct proxy_metrics *a = metrics_new(&mem);
	struct loop l;
	loop_new(&l);
	const struct proxy_metrics *parts[1] = {a};
	struct proxy_monitor *m;
	REQUIRE(start(&l, parts, 1, 0, 0, 0, &m) == 0);
	int port = proxy_monitor_port(m);
	char out[2048];
	fetch(&l, port, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
	CHECK(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK(strstr(out, "\r\n\r\nOK") != NULL);
	fetch(&l, port, "HEAD /ping HTTP/1.0\r\n\r\n", out, sizeof out);
	CHECK(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK(strstr(out, "Content-Length: 2\r\n") != NULL);
	CHECK(strstr(out, "\r\n\r\nOK") == NULL);
	fetch(&l, port, "GET /ping?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
	CHECK(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	proxy_monitor_set_draining(m, true);
	fetch(&l, port, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
	CHECK(strncmp(out, "HTTP/1.1 503 ", 13) == 0);
	proxy_monitor_set_draining(m, false);
	fetch(&l, port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
	CHECK(strncmp(out, "HTTP/1.1 404 ", 13) == 0);
	fetch(&l, port, "POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", out,
	      sizeof out);
	CHECK(strncmp(out, "HTTP/1.1 405 ", 13) == 0);
	fetch(&l, port, "GET /ping HTTP/1.1\r\n\r\n", out, sizeof out); /* no Host */
	CHECK(strncmp(out, "HTTP/1.1 400 ", 13) == 0);
	/* a head over PROXY_MONITOR_HEAD_MAX: 431, never a crash */
	static char big[PROXY_MONITOR_HEAD_MAX + 200];
	memset(big, 'a', sizeof big - 1);
	memcpy(big, "GET /ping HTTP/1.1\r\nHost: x\r\nX: ", 32);
	fetch(&l, port, big, out, sizeof out);
	CHECK(strncmp(out, "HTTP/1.1 431 ", 13) == 0);
	proxy_monitor_stop(m);
	loop_fini(&l);
	free(mem);
}

static void client_cap_and_deadline(void)
{
	void *mem;
	struct proxy_metrics *a = metrics_new(&mem);
	struct loop l;
	loop_new(&l);
	const struct proxy_metrics *parts[1] = {a};
	struct proxy_monitor *m;
	REQUIRE(start(&l, parts, 1, 1, 0, 200, &m) == 0);
	int port = proxy_monitor_port(m);
	int idle = connect_to(port); /* takes the only slot, sends nothing */
	REQUIRE(idle >= 0);
	for (int i = 0; i < 5; i++)
		loop_run_once(&l, 5);
	char out[2048];
	fetch(&l, port, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
	CHECK(strncmp(out, "HTTP/1.1 503 ", 13) == 0);
	CHECK(strstr(out, "monitor clients full") != NULL);
	/* the idle client is closed at its deadline, then the slot serves again */
	size_t n = drain(&l, idle, out, sizeof out);
	CHECK_EQ_INT(n, 0);
	close(idle);
	fetch(&l, port, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
	CHECK(strncmp(out, "HTTP/1.1 200 ", 13) == 0);
	struct proxy_monitor_stats st;
	proxy_monitor_get_stats(m, &st);
	CHECK_EQ_INT(st.refused_full, 1);
	CHECK_EQ_INT(st.timeouts, 1);
	proxy_monitor_stop(m);
	loop_fini(&l);
	free(mem);
}

static void text_cap(void)
{
	void *mem;
	struct proxy_metrics *a = metrics_new(&mem);
	struct loop l;
	loop_new(&l);
	const struct proxy_metrics *parts[1] = {a};
	struct proxy_monitor *m;
	REQUIRE(start(&l, parts, 1, 0, 200, 0, &m) == 0);
	char out[2048];
	fetch(&l, proxy_monitor_port(m), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", out,
	      sizeof out);
	CHECK(strncmp(out, "HTTP/1.1 500 ", 13) == 0);
	CHECK(strstr(out, "max_metric_series") != NULL);
	proxy_monitor_stop(m);
	loop_fini(&l);
	free(mem);
}

static void bad_addresses(void)
{
	void *mem;
	struct proxy_metrics *a = metrics_new(&mem);
	struct loop l;
	loop_new(&l);
	const struct proxy_metrics *parts[1] = {a};
	static const char *bad[] = {"", "8080", "localhost:80", "1.2.3.4:", ":99999", "[::1:80"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct proxy_monitor_config cfg = {
			.loop = &l, .addr = bad[i], .parts = parts, .nparts = 1};
		struct proxy_monitor *m = (void *)1;
		char msg[200];
		CHECK_EQ_INT(proxy_monitor_start(&cfg, &m, msg, sizeof msg), -ERR_INVAL);
		CHECK(m == NULL);
	}
	/* [::1]:0 works where IPv6 exists; either way nothing leaks */
	struct proxy_monitor_config cfg = {
		.loop = &l, .addr = "[::1]:0", .parts = parts, .nparts = 1};
	struct proxy_monitor *m;
	char msg[200];
	if (proxy_monitor_start(&cfg, &m, msg, sizeof msg) == 0) {
		CHECK(proxy_monitor_port(m) > 0);
		proxy_monitor_stop(m);
	}
	/* a port in use */
	REQUIRE(start(&l, parts, 1, 0, 0, 0, &m) == 0);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", proxy_monitor_port(m));
	struct proxy_monitor *m2;
	cfg.addr = addr;
	CHECK_EQ_INT(proxy_monitor_start(&cfg, &m2, msg, sizeof msg), -ERR_PROXY_LISTEN);
	CHECK(strstr(msg, "cannot listen") != NULL);
	proxy_monitor_stop(m);
	CHECK_EQ_INT(loop_fd_count(&l), 0);
	loop_fini(&l);
	free(mem);
}

static void sizes(void)
{
	size_t t = proxy_monitor_text_bytes(4096);
	CHECK_EQ_INT(t, (16u << 10) + 4096u * 512u);
	CHECK(proxy_monitor_bytes(0, t) == proxy_monitor_bytes(PROXY_MONITOR_CLIENTS, t));
	CHECK(proxy_monitor_bytes(2, t) > 2 * t && proxy_monitor_bytes(2, t) < 3 * t);
	char text[256];
	struct buf b;
	buf_init(&b, text, sizeof text - 1);
	REQUIRE(proxy_monitor_limits_line(&b, ":4646", 4096) == 0);
	text[b.len] = 0;
	CHECK(strstr(text, "metrics port :4646") != NULL);
	buf_init(&b, text, 20);
	CHECK_EQ_INT(proxy_monitor_limits_line(&b, ":4646", 4096), -ERR_BUF_FULL);
}

TEST_MAIN(sizes, metrics_sums_parts, ping_and_draining, client_cap_and_deadline, text_cap,
	  bad_addresses)
