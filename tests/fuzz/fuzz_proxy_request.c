/* fuzz_proxy_request.c — libFuzzer harness for the proxy's request path: the whole engine
 * (proxy_engine.c, proxy_conn.c, proxy_forward.c, proxy_upstream.c), not only the parser.
 *
 * Once (first call): a loop on a fake clock, an engine with small pools (4 KiB streaming
 * buffers, so heads and bodies cross buffer boundaries and large head buffers are used), a
 * loopback TCP listener the harness owns as the upstream server, and a routing document
 * with Host / PathPrefix / PathPrefixStrip / Headers / Method / Query rules, custom headers,
 * an entry point redirect and a frontend regex redirect, whitelists, a sticky backend, a
 * maxConn backend, a refused server, a forward auth frontend (/fwd) whose auth server is the
 * harness's upstream listener too (the script answers the auth request like any upstream
 * request) and a TLS entry point with the default certificate. Also every option applied by
 * its own module: compress on web (2 streams, so a third response goes out as it is), a
 * PROXY protocol trust of 10.0.0.0/8 on wl (flag bit 4's clients may send a header), and
 * frontends /sec (security headers: allowedHosts, SSL redirect with sslForceHost, STS ...),
 * /rl (rateLimit by X-Key, 8 buckets), /err (error pages from up, and from the dead
 * backend), /cb (a circuit breaker), /buf (buffering limits of 64 and 256 bytes) and /ptc
 * (passTLSCert / passTLSClientCert).
 *
 * Input: one flag byte, then a script of segments in order. A segment ends at "@U@" (the
 * next segment goes to the upstream), "@C@" (to the current client) or "@N@" (to a new
 * client connection, at most 3: two busy connections hold every streaming buffer, so a
 * third waits in the buffer queue); the first segment goes to the first client. Flag bits:
 *   0-1  entry point: web (plain), wl (whitelist 10.0.0.0/8 with X-Forwarded-For),
 *        alt (redirects to web), tls (TLS, default certificate: the harness is a TLS client
 *        and encrypts the segments, unless the script starts with 0x16, a TLS record, and
 *        then the bytes go as they are)
 *   2    the clients shut their write side after the script (TLS: close_notify)
 *   3    the upstream connections shut their write side after the script
 *   4    the clients' address is 10.1.2.3 (else 127.0.0.1)
 *   5    the clients close their sockets after the script instead (the proxy writes to nobody)
 *   6    upstream connections close with a reset (SO_LINGER 0) when they are closed
 *   7    the routing document is loaded again (a table swap) after the first segment
 *
 * Each client is a connected socketpair: one end goes to proxy_engine_adopt on the chosen
 * entry point, the harness keeps the other. The loop runs with 0 timeouts; whenever an
 * iteration moves nothing (quiet), the next segment is written (upstream ones to the most
 * recent open upstream connection the harness accepted; dropped when there is none), then
 * the shutdowns, and then the fake clock moves 1 s, so every timeout (all a few seconds)
 * fires without waiting. Whatever the clients receive is read and discarded; the access log
 * is written to /dev/null. At the end the engine must be back where it started: no
 * connection, no buffer, no upstream connection busy or idle (after closing the idle pool),
 * one routing table, no maxConn key, no server with requests in flight, the buffer wait and
 * run queues empty, the loop holding only the listeners and the sweep timer. Anything else,
 * or a connection still alive long after every timeout, is a leak or a hang: abort().
 * FUZZ_PROXY_VERBOSE=1 prints what the clients and the upstream receive.
 */
#include "base/base_err.h"
#include "base/base_log.h"
#include "loop/loop.h"
#include "proxy/proxy_engine.h"
#include "proxy/proxy_engine_int.h"
#include "proxy/proxy_limits.h"
#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FAIL(...)                                                    \
	do {                                                         \
		fprintf(stderr, "fuzz_proxy_request: " __VA_ARGS__); \
		fputc('\n', stderr);                                 \
		abort();                                             \
	} while (0)

#define INPUT_MAX (64u << 10)
#define MAX_SEGS 32
#define MAX_UP 16
#define MAX_CLIENTS 3
#define MAX_ITERS 20000
#define MAX_TICKS 120 /* fake seconds after the script: far over every timeout */

static struct loop loop_;
static struct proxy_engine *eng_;
static uint64_t now_ = 1000000;
static int srv_fd_ = -1;
static uint16_t srv_port_;
static char doc_[12288];
static size_t doc_len_;
static unsigned revision_ = 1;
static unsigned ep_port_[4]; /* entry points: free ports found at start */

struct up_peer {
	int fd;
	bool shut;
};
static struct up_peer ups_[MAX_UP];
static int nups_;
static bool up_rst_;
static struct tls_client_config tls_ccfg_;
static uint8_t tls_store_[4096];
static bool verbose_; /* FUZZ_PROXY_VERBOSE=1: print what both peers receive */

static void show(const char *who, const char *p, ssize_t n)
{
	if (verbose_ && n > 0)
		fprintf(stderr, "--- %s got %zd bytes:\n%.*s\n", who, n, (int)n, p);
}

static uint64_t fake_clock(void *ctx)
{
	(void)ctx;
	return now_;
}

static int64_t fake_wall(void *ctx)
{
	(void)ctx;
	return 1700000000000LL + (int64_t)now_;
}

static void up_close(struct up_peer *u)
{
	if (u->fd < 0)
		return;
	if (up_rst_) {
		struct linger lg = {1, 0};
		setsockopt(u->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	loop_del_fd(&loop_, u->fd);
	close(u->fd);
	u->fd = -1;
}

/* An upstream connection of the harness's server: read and discard what the proxy sends;
 * close when the proxy does. */
static void up_cb(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct up_peer *u = arg;
	char sink[16384];
	for (;;) {
		ssize_t n = read(fd, sink, sizeof sink);
		show("upstream", sink, n);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    !(ev & (LOOP_HUP | LOOP_ERR)))
			return;
		up_close(u);
		return;
	}
}

static void srv_cb(struct loop *l, int fd, uint32_t ev, void *arg)
{
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0)
			return;
		if (nups_ == MAX_UP) {
			close(c);
			continue;
		}
		struct up_peer *u = &ups_[nups_++];
		u->fd = c;
		u->shut = false;
		if (loop_add_fd(l, c, LOOP_READ, up_cb, u) < 0)
			FAIL("loop_add_fd: %s", l->errmsg);
	}
}

static void make_doc(void)
{
	int n = snprintf(
		doc_, sizeof doc_,
		"{\"version\":1,\"revision\":%u,\"defaultEntryPoints\":[\"web\",\"wl\",\"tls\"],"
		"\"entryPoints\":{"
		"\"web\":{\"address\":\"127.0.0.1:%u\",\"compress\":true},"
		"\"wl\":{\"address\":\"127.0.0.1:%u\",\"whitelist\":{\"sourceRange\":[\"10.0.0.0/"
		"8\"],"
		"\"useXForwardedFor\":true},\"forwardedHeaders\":{\"trustedIPs\":[\"10.0.0.0/"
		"8\"]},\"proxyProtocol\":{\"trustedIPs\":[\"10.0.0.0/8\"]}},"
		"\"alt\":{\"address\":\"127.0.0.1:%u\",\"redirect\":{\"entryPoint\":\"web\"}},"
		"\"tls\":{\"address\":\"127.0.0.1:%u\",\"tls\":{}}},"
		"\"frontends\":{"
		"\"main\":{\"backend\":\"up\",\"priority\":1,\"routes\":{\"r\":{\"rule\":"
		"\"PathPrefix:/\"}}},"
		"\"api\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":"
		"\"Host:api.test,www.api.test;PathPrefixStrip:/api\"}},\"passHostHeader\":false,"
		"\"headers\":{\"customRequestHeaders\":{\"X-Env\":\"prod\",\"User-Agent\":\"\"},"
		"\"customResponseHeaders\":{\"X-Resp\":\"yes\",\"Server\":\"\"}}},"
		"\"v2\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":"
		"\"PathPrefix:/v1;ReplacePath:/v2\"}}},"
		"\"add\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":"
		"\"Path:/add;AddPrefix:/pre\"}}},"
		"\"strip\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":\"PathStrip:/s\"}}},"
		"\"hdr\":{\"backend\":\"up\",\"priority\":500,\"routes\":{\"r\":{\"rule\":"
		"\"Headers:X-Test,yes;Method:GET,POST\"}}},"
		"\"rx\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":"
		"\"HostRegexp:{sub:[a-z]+}.rx.test;Query:q=1\"}}},"
		"\"sticky\":{\"backend\":\"st\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/"
		"sticky\"}}},"
		"\"limited\":{\"backend\":\"one\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/"
		"limited\"}}},"
		"\"dead\":{\"backend\":\"dead\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/"
		"dead\"}}},"
		"\"private\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/"
		"private\"}},"
		"\"whitelist\":{\"sourceRange\":[\"192.168.0.0/16\"],\"useXForwardedFor\":true}},"
		"\"auth\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/auth\"}},"
		"\"auth\":{\"basic\":{\"users\":[\"a:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/\"]}}},"
		"\"fwd\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/fwd\"}},"
		"\"auth\":{\"forward\":{\"address\":\"http://127.0.0.1:%u/check\","
		"\"authResponseHeaders\":[\"X-User\"]}}},"
		"\"sec\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/sec\"}},"
		"\"headers\":{\"sslRedirect\":true,\"sslHost\":\"sec.test\",\"sslForceHost\":true,"
		"\"allowedHosts\":[\"sec.test\",\"a.test\"],\"hostsProxyHeaders\":[\"X-Fwd-Host\"],"
		"\"sslProxyHeaders\":{\"X-Forwarded-Proto\":\"https\"},\"stsSeconds\":60,"
		"\"forceSTSHeader\":true,\"frameDeny\":true,\"contentTypeNosniff\":true,"
		"\"browserXssFilter\":true,\"contentSecurityPolicy\":\"default-src 'self'\","
		"\"referrerPolicy\":\"no-referrer\",\"customResponseHeaders\":{\"X-Frame-Options\":"
		"\"SAMEORIGIN\"}}},"
		"\"rl\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/rl\"}},"
		"\"rateLimit\":{\"extractorFunc\":\"request.header.X-Key\",\"rateSet\":{"
		"\"a\":{\"period\":\"1s\",\"average\":2,\"burst\":2},"
		"\"b\":{\"period\":\"10s\",\"average\":5,\"burst\":3}}}},"
		"\"err\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/err\"}},"
		"\"errors\":{\"e\":{\"status\":[\"500-599\",\"404\"],\"backend\":\"up\","
		"\"query\":\"/page/{status}.html\"},\"f\":{\"status\":[\"401-403\"],"
		"\"backend\":\"dead\",\"query\":\"/{status}\"}}},"
		"\"cb\":{\"backend\":\"cbb\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/cb\"}}},"
		"\"buf\":{\"backend\":\"bufb\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/buf\"}}},"
		"\"ptc\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/ptc\"}},"
		"\"passTLSCert\":true,\"passTLSClientCert\":{\"pem\":true,\"infos\":{\"notAfter\":"
		"true,\"sans\":true}}},"
		"\"old\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/old\"}},"
		"\"redirect\":{\"regex\":\"^http://([^/]+)/old/(.*)\","
		"\"replacement\":\"https://$1/new/${2}\",\"permanent\":true}}},"
		"\"backends\":{"
		"\"up\":{\"servers\":{\"s1\":{\"url\":\"http://127.0.0.1:%u\"}}},"
		"\"st\":{\"servers\":{\"a\":{\"url\":\"http://127.0.0.1:%u\",\"weight\":2},"
		"\"b\":{\"url\":\"http://127.0.0.1:%u/b\"}},"
		"\"loadBalancer\":{\"method\":\"drr\",\"stickiness\":{\"cookieName\":\"stk\"}}},"
		"\"one\":{\"servers\":{\"s\":{\"url\":\"http://127.0.0.1:%u\"}},"
		"\"maxConn\":{\"amount\":1,\"extractorFunc\":\"request.host\"}},"
		"\"cbb\":{\"servers\":{\"s\":{\"url\":\"http://127.0.0.1:%u\"}},"
		"\"circuitBreaker\":{\"expression\":\"NetworkErrorRatio() > 0.5 || "
		"ResponseCodeRatio(500, 600, 0, 600) > 0.5\"}},"
		"\"bufb\":{\"servers\":{\"s\":{\"url\":\"http://127.0.0.1:%u\"}},"
		"\"buffering\":{\"maxRequestBodyBytes\":64,\"maxResponseBodyBytes\":256}},"
		"\"dead\":{\"servers\":{\"s\":{\"url\":\"http://127.0.0.1:1\"}}}}}",
		revision_, ep_port_[0], ep_port_[1], ep_port_[2], ep_port_[3], srv_port_, srv_port_,
		srv_port_, srv_port_, srv_port_, srv_port_, srv_port_);
	if (n < 0 || (size_t)n >= sizeof doc_)
		FAIL("routing document too long");
	doc_len_ = (size_t)n;
}

static unsigned free_port(void);

/* Load (or reload) the document. The first load picks the entry points' ports and picks
 * again when one was taken in between (replays and tests run in parallel). */
static void load_doc(void)
{
	char msg[256];
	for (int attempt = 0;; attempt++) {
		if (revision_ == 1)
			for (int i = 0; i < 4; i++)
				ep_port_[i] = free_port();
		revision_++;
		make_doc();
		int rc = proxy_engine_load(eng_, doc_, doc_len_, msg, sizeof msg);
		if (rc == 0)
			return;
		if (rc != -ERR_PROXY_LISTEN || revision_ != 2 || attempt == 50)
			FAIL("proxy_engine_load: %s: %s", err_str(rc), msg);
		revision_ = 1;
	}
}

/* A free loopback port (the kernel's pick; released at once for the engine to bind). */
static unsigned free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		FAIL("free port: %s", strerror(errno));
	close(fd);
	return ntohs(a.sin_port);
}

static void setup(void)
{
	verbose_ = getenv("FUZZ_PROXY_VERBOSE") != NULL;
	log_set_level(verbose_ ? LOG_DEBUG : LOG_ERROR);
	struct loop_config lc = {.max_fds = 256,
				 .max_timers = 256,
				 .max_events = 64,
				 .clock = fake_clock,
				 .clock_ctx = NULL};
	if (loop_init(&loop_, &lc) < 0)
		FAIL("loop_init");
	srv_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof a;
	if (srv_fd_ < 0 || bind(srv_fd_, (struct sockaddr *)&a, sizeof a) < 0 ||
	    listen(srv_fd_, 64) < 0 || getsockname(srv_fd_, (struct sockaddr *)&a, &alen) < 0)
		FAIL("upstream listener: %s", strerror(errno));
	srv_port_ = ntohs(a.sin_port);
	if (loop_add_fd(&loop_, srv_fd_, LOOP_READ, srv_cb, NULL) < 0)
		FAIL("loop_add_fd");

	struct proxy_dp_limits lim;
	proxy_dp_limits_default(&lim);
	lim.max_conns = 8;
	lim.max_tls_conns = 2;
	lim.max_upstream_conns = 8;
	lim.max_idle_per_server = 4;
	lim.max_targets = 8;
	lim.max_bufs = 4;
	lim.buf_size = 4096;
	lim.max_large_bufs = 2;
	lim.max_tables = 4;
	lim.max_health_checks = 4;
	lim.max_metric_series = 256;
	lim.max_metric_names = 64;
	lim.max_conn_keys = 16;
	lim.max_gzip_streams = 2;   /* a third compressed response goes out as it is */
	lim.max_ratelimit_keys = 8; /* buckets get replaced */
	lim.max_line = 4096;
	lim.max_headers = 32;
	lim.max_header_bytes = 8192;
	lim.max_body = 1 << 20;
	lim.connect_timeout_ms = 2000;
	lim.response_header_timeout_ms = 3000;
	lim.upstream_read_timeout_ms = 3000;
	lim.idle_timeout_ms = 3000;
	lim.client_header_timeout_ms = 2000;
	lim.client_body_timeout_ms = 2000;
	lim.send_timeout_ms = 2000;
	lim.upstream_idle_timeout_ms = 5000;
	lim.tunnel_timeout_ms = 4000;
	lim.grace_timeout_ms = 2000;
	/* Small table caps: a reload (flag bit 7) allocates the worst case as scratch. */
	lim.table.max_entrypoints = 8;
	lim.table.max_frontends = 32;
	lim.table.max_backends = 16;
	lim.table.max_servers = 32;
	lim.table.max_routes = 32;
	lim.table.max_matchers = 256;
	lim.table.max_regex_insts = 1024;
	lim.table.max_certs = 4;
	lim.table.max_list_items = 256;
	lim.table.max_tokens = 2048;
	lim.table.max_cert_bytes = 64 << 10;
	lim.table.max_doc_bytes = 16 << 10;
	char msg[256];
	/* The access log is formatted and written (to /dev/null): its code runs too. */
	int al = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct proxy_engine_config cfg = {.loop = &loop_,
					  .lim = &lim,
					  .access_log_fd = al,
					  .server_name = "fuzz",
					  .wall_ms = fake_wall};
	int rc = proxy_engine_create(&cfg, &eng_, msg, sizeof msg);
	if (rc < 0)
		FAIL("proxy_engine_create: %s: %s", err_str(rc), msg);
	load_doc();
	if (tls_client_config_init(&tls_ccfg_, tls_store_, sizeof tls_store_) < 0)
		FAIL("tls_client_config_init");
	tls_client_set_insecure_skip_verify(&tls_ccfg_, true);
}

/* Best effort: what does not fit in the socket is dropped (inputs are small). */
static void send_some(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* A client of the proxy: the harness's end of a socketpair, plain or through a TLS client
 * engine (then segments are plaintext, encrypted on the way). */
struct client {
	int fd;              /* -1: closed */
	struct tls_conn *tc; /* NULL: plain */
	const uint8_t *pend; /* TLS: plaintext not yet taken by the engine */
	size_t npend;
};
static struct client cls_[MAX_CLIENTS];
static int ncls_;

static void client_close(struct client *cl)
{
	if (cl->fd >= 0)
		close(cl->fd);
	cl->fd = -1;
	cl->npend = 0;
}

/* Move what can move: plaintext in, ciphertext both ways, received bytes discarded. True
 * when anything moved. */
static bool client_pump(struct client *cl)
{
	char sink[16384];
	bool moved = false;
	if (cl->fd < 0)
		return false;
	if (!cl->tc) {
		for (;;) {
			ssize_t n = read(cl->fd, sink, sizeof sink);
			show("client", sink, n);
			if (n > 0) {
				moved = true;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
				client_close(cl); /* the proxy closed (or reset) the connection */
				moved = true;
			}
			return moved;
		}
	}
	for (int round = 0; round < 16; round++) {
		bool any = false;
		while (cl->npend) {
			size_t want = cl->npend < 16384 ? cl->npend : 16384;
			ssize_t w = tls_conn_write(cl->tc, cl->pend, want);
			if (w <= 0) {
				if (w != -ERR_AGAIN)
					cl->npend = 0; /* failed: dropped */
				break;
			}
			cl->pend += w;
			cl->npend -= (size_t)w;
			any = true;
		}
		size_t len = 0;
		if (tls_conn_send_buf(cl->tc, &len) && len) {
			tls_conn_on_writable(cl->tc, cl->fd);
			size_t left = 0;
			tls_conn_send_buf(cl->tc, &left);
			any = any || left != len;
		}
		size_t room = 0;
		if (tls_conn_recv_buf(cl->tc, &room)) {
			uint8_t probe;
			ssize_t pk = recv(cl->fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
			if (pk >= 0) {
				tls_conn_on_readable(cl->tc, cl->fd);
				any = true;
			}
		}
		for (;;) {
			ssize_t n = tls_conn_read(cl->tc, sink, sizeof sink);
			if (n <= 0)
				break;
			show("client", sink, n);
			any = true;
		}
		if (tls_conn_error(cl->tc) || tls_conn_done(cl->tc)) {
			client_close(cl);
			return true;
		}
		if (!any)
			break;
		moved = true;
	}
	return moved;
}

static void client_send(struct client *cl, const uint8_t *p, size_t n)
{
	if (cl->fd < 0)
		return;
	if (cl->tc) {
		cl->pend = p;
		cl->npend = n;
		client_pump(cl);
	} else {
		send_some(cl->fd, p, n);
	}
}

/* A new client connection on entry point ep (NULL when the engine refuses it: a cap). */
static struct client *client_new(const char *ep, bool tls, bool ten)
{
	if (ncls_ == MAX_CLIENTS)
		return NULL;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		FAIL("socketpair: %s", strerror(errno));
	struct sockaddr_storage peer;
	memset(&peer, 0, sizeof peer);
	struct sockaddr_in *pa = (struct sockaddr_in *)(void *)&peer;
	pa->sin_family = AF_INET;
	pa->sin_port = htons((uint16_t)(40000 + ncls_));
	pa->sin_addr.s_addr = htonl(ten ? 0x0a010203u : INADDR_LOOPBACK);
	int rc = proxy_engine_adopt(eng_, sv[0], ep, &peer);
	if (rc < 0 && rc != -ERR_PROXY_CONNS_FULL)
		FAIL("proxy_engine_adopt: %s", err_str(rc));
	struct client *cl = &cls_[ncls_++];
	cl->fd = sv[1];
	cl->tc = NULL;
	cl->npend = 0;
	if (rc < 0) {
		client_close(cl);
		return cl;
	}
	if (tls) {
		static struct tls_conn *tcs[MAX_CLIENTS];
		int i = (int)(cl - cls_);
		if (!tcs[i] && !(tcs[i] = aligned_alloc(64, (tls_conn_size() + 63) / 64 * 64)))
			FAIL("out of memory");
		if (tls_conn_init_client(tcs[i], &tls_ccfg_, "www.example.com", NULL) < 0)
			FAIL("tls_conn_init_client");
		cl->tc = tcs[i];
		client_pump(cl);
	}
	return cl;
}

static struct up_peer *latest_up(void)
{
	for (int i = nups_ - 1; i >= 0; i--)
		if (ups_[i].fd >= 0)
			return &ups_[i];
	return NULL;
}

enum seg_to { SEG_CLIENT, SEG_UP, SEG_NEW_CLIENT };

struct seg {
	const uint8_t *p;
	size_t n;
	uint8_t to; /* enum seg_to */
};

static size_t split(const uint8_t *d, size_t n, struct seg *s)
{
	size_t k = 0, start = 0;
	uint8_t to = SEG_CLIENT;
	for (size_t i = 0; i + 3 <= n && k < MAX_SEGS - 1; i++) {
		if (d[i] != '@' || d[i + 2] != '@' ||
		    (d[i + 1] != 'U' && d[i + 1] != 'C' && d[i + 1] != 'N'))
			continue;
		s[k++] = (struct seg){d + start, i - start, to};
		to = d[i + 1] == 'U' ? SEG_UP : d[i + 1] == 'N' ? SEG_NEW_CLIENT : SEG_CLIENT;
		start = i + 3;
		i += 2;
	}
	s[k++] = (struct seg){d + start, n - start, to};
	return k;
}

static bool new_client_after(const struct seg *s, size_t from, size_t n)
{
	for (size_t i = from; i < n; i++)
		if (s[i].to == SEG_NEW_CLIENT)
			return true;
	return false;
}

static bool quiet(void)
{
	return eng_->run_head == NULL;
}

static void check_clean(void)
{
	struct proxy_engine_stats st;
	proxy_engine_get_stats(eng_, &st);
	if (st.conns || st.tls_conns || st.bufs_used || st.large_used || st.upstream_busy ||
	    st.upstream_idle)
		FAIL("leak: conns=%u tls=%u bufs=%u large=%u up_busy=%u up_idle=%u", st.conns,
		     st.tls_conns, st.bufs_used, st.large_used, st.upstream_busy, st.upstream_idle);
	if (eng_->conns.used || eng_->tlss.used || eng_->ups.used || eng_->targets.used)
		FAIL("leak: pool objects conns=%u tls=%u ups=%u targets=%u",
		     (unsigned)eng_->conns.used, (unsigned)eng_->tlss.used,
		     (unsigned)eng_->ups.used, (unsigned)eng_->targets.used);
	if (eng_->gzs.used)
		FAIL("leak: %u compression streams", (unsigned)eng_->gzs.used);
	if (eng_->fas.used || eng_->fa_tls.used)
		FAIL("leak: forward auth objects %u, TLS slots %u", (unsigned)eng_->fas.used,
		     (unsigned)eng_->fa_tls.used);
	if (eng_->bufs.nfree != eng_->bufs.cap || eng_->large.nfree != eng_->large.cap)
		FAIL("leak: buffer slots bufs=%u/%u large=%u/%u", eng_->bufs.nfree, eng_->bufs.cap,
		     eng_->large.nfree, eng_->large.cap);
	if (st.tables_alive != 1)
		FAIL("leak: %u routing tables alive", st.tables_alive);
	if (eng_->wait_head || eng_->run_head || eng_->all)
		FAIL("leak: queues not empty");
	const struct proxy_lb *lb = &eng_->cur->lb;
	if (lb->conn_keys)
		FAIL("leak: %u maxConn keys held", lb->conn_keys);
	for (uint32_t i = 0; i < eng_->cur->t->nsrv; i++)
		if (lb->srv[i].active)
			FAIL("leak: server %u has %u requests in flight", i, lb->srv[i].active);
	/* listeners + the harness's upstream listener; the sweep timer */
	if (loop_fd_count(&loop_) != st.listeners + 1)
		FAIL("leak: %u loop fds for %u listeners", loop_fd_count(&loop_), st.listeners);
	uint32_t timers = loop_timer_count(&loop_);
	if (timers != 1 + loop_timer_pending(&loop_, eng_->resume_timer))
		FAIL("leak: %u loop timers", timers);
}

/* The fuzz build compiles UBSan in recoverable mode (make's build/fuzz/ rule): without this a
 * finding is printed once and the run goes on as if nothing happened. Read at start-up. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

/* libFuzzer calls this before it parses its flags. Unless the command line says otherwise,
 * turn the entropic power schedule off: one input runs a few thousand edges (the engine, the
 * parser, the loop), and the schedule's per-feature bookkeeping then costs more than the
 * input itself (measured: 180 execs/s with it, 950 without). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	for (int i = 1; i < *argc; i++)
		if (strncmp((*argv)[i], "-entropic=", 10) == 0)
			return 0;
	static char *args[256];
	static char flag[] = "-entropic=0";
	if (*argc + 2 > (int)(sizeof args / sizeof args[0]))
		return 0;
	for (int i = 0; i < *argc; i++)
		args[i] = (*argv)[i];
	args[*argc] = flag;
	args[*argc + 1] = NULL;
	*argc += 1;
	*argv = args;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > INPUT_MAX)
		return 0;
	if (!eng_)
		setup();
	uint8_t flags = data[0];
	static const char *const eps[] = {"web", "wl", "alt", "tls"};
	struct seg segs[MAX_SEGS];
	size_t nseg = split(data + 1, size - 1, segs);
	up_rst_ = flags & 0x40;
	nups_ = 0;

	/* TLS entry point: through a TLS client, unless the script starts like a TLS record
	 * (then its bytes are the ciphertext: ClientHello fuzzing). */
	bool tls = (flags & 3) == 3 && !(size > 1 && data[1] == 0x16);
	bool ten = flags & 0x10;
	ncls_ = 0;
	struct client *cur = client_new(eps[flags & 3], tls, ten);

	size_t next = 0;
	bool client_done = false, up_done = false, reloaded = false;
	int ticks = 0;
	for (int it = 0;; it++) {
		int n = loop_run_once(&loop_, 0);
		if (n < 0)
			FAIL("loop_run_once: %s", err_str(n));
		bool moved = false;
		for (int i = 0; i < ncls_; i++)
			moved = client_pump(&cls_[i]) || moved;
		if (eng_->st.conns == 0 && !new_client_after(segs, next, nseg))
			break;
		if (it == MAX_ITERS || ticks == MAX_TICKS) {
			for (struct proxy_conn *c = eng_->all; c; c = c->next)
				fprintf(stderr, "conn %p state %d waitq %d runq %d timer_at %llu\n",
					(void *)c, c->state, c->waitq, c->runq,
					(unsigned long long)c->timer_at);
			FAIL("hang: %u connections after %d iterations, %d s (bufs free %u, wait "
			     "queue %p)",
			     eng_->st.conns, it, ticks, eng_->bufs.nfree, (void *)eng_->wait_head);
		}
		if (n > 0 || moved || !quiet())
			continue;
		if (next < nseg) {
			struct seg *s = &segs[next++];
			if (s->to == SEG_UP) {
				struct up_peer *u = latest_up();
				if (u)
					send_some(u->fd, s->p, s->n);
			} else {
				if (s->to == SEG_NEW_CLIENT) {
					struct client *nc = client_new(eps[flags & 3], tls, ten);
					if (nc)
						cur = nc;
				}
				if (cur)
					client_send(cur, s->p, s->n);
			}
			if ((flags & 0x80) && !reloaded) {
				reloaded = true;
				load_doc();
			}
			continue;
		}
		if (!client_done) {
			client_done = true;
			for (int i = 0; i < ncls_; i++) {
				struct client *cl = &cls_[i];
				if (cl->fd < 0)
					continue;
				if (flags & 0x20)
					client_close(cl);
				else if ((flags & 0x04) && cl->tc)
					tls_conn_close(cl->tc);
				else if (flags & 0x04)
					shutdown(cl->fd, SHUT_WR);
			}
			continue;
		}
		if (!up_done) {
			up_done = true;
			if (flags & 0x08)
				for (int i = 0; i < nups_; i++)
					if (ups_[i].fd >= 0 && !ups_[i].shut) {
						shutdown(ups_[i].fd, SHUT_WR);
						ups_[i].shut = true;
					}
			continue;
		}
		now_ += 1000;
		ticks++;
	}
	for (int i = 0; i < ncls_; i++)
		client_close(&cls_[i]);
	for (int i = 0; i < nups_; i++)
		up_close(&ups_[i]);
	proxy_up_close_idle(eng_);
	/* Let the sweep and anything due run once, then everything must be back. */
	loop_run_once(&loop_, 0);
	check_clean();
	return 0;
}
