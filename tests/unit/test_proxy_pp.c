/* test_proxy_pp.c — PROXY protocol headers (src/proxy/proxy_pp.c) and their use by the
 * connection engine (PC_PROXYHDR in proxy_conn.c).
 *
 * Parser: known-answer vectors (v1 TCP4 / TCP6 / UNKNOWN, v2 INET / INET6 / LOCAL / UNSPEC /
 * UNIX / TLVs), inputs that are not headers, malformed ones, both sides of the length caps;
 * every vector whole, followed by request bytes, and every prefix of it ending on a guard
 * page (each must say "partial" or give the whole input's result).
 *
 * Engine: an engine on a real loop, clients on socketpairs handed to proxy_engine_adopt with
 * a chosen peer address, entry points whose whitelist admits only 203.0.113.0/24 (or
 * 2001:db8::/32) and no frontend, so the status tells which client address the engine used:
 * 404 (whitelist passed), 403 (refused), 400 (the header reached the HTTP parser), no answer
 * and a close (malformed header). The access log line must carry the PROXY source.
 * Observability: the headers consumed / malformed (stats and traefikee_proxyprotocol_headers_
 * total), connections waiting in PC_PROXYHDR, and the warning an insecure entry point logs at
 * load.
 */
#include "test.h"

#include "base/base_err.h"
#include "base/base_log.h"
#include "loop/loop.h"
#include "proxy/proxy_engine.h"
#include "proxy/proxy_engine_int.h"
#include "proxy/proxy_limits.h"
#include "proxy/proxy_pp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- parser ---------------------------------------------------------------------------- */

static const uint8_t SIG[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A v2 header into out: command byte, family byte, `len` bytes of payload from body. */
static size_t v2(uint8_t *out, uint8_t cmd, uint8_t fam, const uint8_t *body, size_t len)
{
	memcpy(out, SIG, 12);
	out[12] = cmd;
	out[13] = fam;
	out[14] = (uint8_t)(len >> 8);
	out[15] = (uint8_t)len;
	if (len)
		memcpy(out + 16, body, len);
	return 16 + len;
}

static char *ip_text(const struct proxy_ip *ip, char *buf)
{
	if (proxy_ip_format(ip, buf, PROXY_IP_STR_MAX) < 0)
		strcpy(buf, "?");
	return buf;
}

/* The guard page: p[0..n) copied to end right before an inaccessible page, so a read past
 * the input faults. */
static uint8_t *guard_mem;
static size_t guard_page;

static const uint8_t *at_guard(const uint8_t *p, size_t n)
{
	if (!guard_mem) {
		guard_page = (size_t)sysconf(_SC_PAGESIZE);
		guard_mem = mmap(NULL, 2 * guard_page, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (guard_mem == MAP_FAILED ||
		    mprotect(guard_mem + guard_page, guard_page, PROT_NONE))
			abort();
	}
	uint8_t *dst = guard_mem + guard_page - n;
	if (n)
		memcpy(dst, p, n);
	return dst;
}

/* Whole, whole + trailing request bytes, and every prefix (on the guard page): a prefix
 * gives -ERR_PARTIAL or the whole input's result. Returns the whole input's result. */
static int parse_all_ways(const uint8_t *p, size_t n, struct proxy_pp_result *r)
{
	int whole = proxy_pp_parse(at_guard(p, n), n, r);
	for (size_t k = 0; k < n; k++) {
		struct proxy_pp_result rk;
		int rc = proxy_pp_parse(at_guard(p, k), k, &rk);
		if (rc != -ERR_PARTIAL && rc != whole) {
			TEST_FAIL_("prefix %zu of %zu: %d, whole input %d", k, n, rc, whole);
			break;
		}
		if (rc > 0 && (size_t)rc > k)
			TEST_FAIL_("prefix %zu: consumed %d", k, rc);
	}
	if (whole > 0) {
		uint8_t more[PROXY_PP_MAX + 64];
		memcpy(more, p, n);
		memcpy(more + n, "GET / HTTP/1.1\r\n\r\n", 18);
		struct proxy_pp_result r2;
		CHECK_EQ_INT(proxy_pp_parse(more, n + 18, &r2), whole);
		CHECK(memcmp(&r2, r, sizeof r2) == 0);
	}
	return whole;
}

static int parse_str(const char *s, struct proxy_pp_result *r)
{
	return parse_all_ways((const uint8_t *)s, strlen(s), r);
}

static void v1_tcp4_tcp6(void)
{
	struct proxy_pp_result r;
	char a[PROXY_IP_STR_MAX], b[PROXY_IP_STR_MAX];
	const char *h4 = "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n";
	CHECK_EQ_INT(parse_str(h4, &r), (int)strlen(h4));
	CHECK_EQ_INT(r.version, 1);
	CHECK_EQ_INT(r.local, 0);
	CHECK_EQ_STR(ip_text(&r.src, a), "203.0.113.7");
	CHECK_EQ_STR(ip_text(&r.dst, b), "127.0.0.1");
	CHECK(proxy_ip_is_v4(&r.src));
	CHECK_EQ_INT(r.src_port, 5555);
	CHECK_EQ_INT(r.dst_port, 80);

	const char *h6 = "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n";
	CHECK_EQ_INT(parse_str(h6, &r), (int)strlen(h6));
	CHECK_EQ_INT(r.local, 0);
	CHECK_EQ_STR(ip_text(&r.src, a), "2001:db8::1");
	CHECK_EQ_STR(ip_text(&r.dst, b), "::1");
	CHECK_EQ_INT(r.src_port, 65535);
	CHECK_EQ_INT(r.dst_port, 0);

	/* the longest TCP6 line the spec counts (104 bytes) and a mapped address */
	const char *big = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	CHECK_EQ_INT(strlen(big), 104);
	CHECK_EQ_INT(parse_str(big, &r), 104);
	const char *mapped = "PROXY TCP6 ::ffff:198.51.100.2 ::1 1 2\r\n";
	CHECK_EQ_INT(parse_str(mapped, &r), (int)strlen(mapped));
	CHECK_EQ_STR(ip_text(&r.src, a), "198.51.100.2");
}

static void v1_unknown(void)
{
	struct proxy_pp_result r;
	CHECK_EQ_INT(parse_str("PROXY UNKNOWN\r\n", &r), 15);
	CHECK_EQ_INT(r.local, 1);
	CHECK_EQ_INT(r.version, 1);
	const char *full = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n";
	CHECK_EQ_INT(parse_str(full, &r), (int)strlen(full));
	CHECK_EQ_INT(r.local, 1);
	/* 107 bytes is the cap: accepted; 108 is not */
	char line[160];
	memset(line, 'x', sizeof line);
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + 105, "\r\n", 2);
	line[107] = 0;
	CHECK_EQ_INT(parse_str(line, &r), 107);
	memset(line, 'x', sizeof line);
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + 106, "\r\n", 2);
	line[108] = 0;
	CHECK_EQ_INT(parse_str(line, &r), -ERR_PARSE);
	/* 107 bytes and no LF yet: already malformed */
	CHECK_EQ_INT(proxy_pp_parse((const uint8_t *)line, 107, &r), -ERR_PARSE);
	CHECK_EQ_INT(proxy_pp_parse((const uint8_t *)line, 106, &r), -ERR_PARTIAL);
}

static void not_a_header(void)
{
	struct proxy_pp_result r;
	static const char *const inputs[] = {
		"GET / HTTP/1.1\r\n\r\n",
		"POST / HTTP/1.1\r\n",
		"PUT /",
		"PROXY/1.0",
		"PROXYTCP4",
		"proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n",
		"\r\nGET / HTTP/1.1\r\n",
		"\r\n\r\nX",
		"\r\n\r\n\0\r\nQUIx",
	};
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
		size_t n = strlen(inputs[i]);
		if (i == sizeof inputs / sizeof inputs[0] - 1)
			n = 12; /* embedded NUL */
		int rc = parse_all_ways((const uint8_t *)inputs[i], n, &r);
		if (rc != -ERR_NOTFOUND)
			TEST_FAIL_("input %zu: %d, expected not a header", i, rc);
	}
	/* a TLS ClientHello */
	const uint8_t hello[] = {0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00};
	CHECK_EQ_INT(parse_all_ways(hello, sizeof hello, &r), -ERR_NOTFOUND);
	/* nothing yet, or the start of either signature: wait */
	CHECK_EQ_INT(proxy_pp_parse((const uint8_t *)"", 0, &r), -ERR_PARTIAL);
	CHECK_EQ_INT(proxy_pp_parse((const uint8_t *)"PROX", 4, &r), -ERR_PARTIAL);
	CHECK_EQ_INT(proxy_pp_parse(SIG, 11, &r), -ERR_PARTIAL);
	CHECK_EQ_INT(proxy_pp_parse(SIG, 12, &r), -ERR_PARTIAL);
}

static void v1_malformed(void)
{
	struct proxy_pp_result r;
	static const char *const bad[] = {
		"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\n",     /* LF without CR */
		"PROXY TCP5 203.0.113.7 127.0.0.1 5555 80\r\n",   /* protocol */
		"PROXY tcp4 203.0.113.7 127.0.0.1 5555 80\r\n",   /* case */
		"PROXY TCP4 2001:db8::1 127.0.0.1 5555 80\r\n",   /* v6 in TCP4 */
		"PROXY TCP6 203.0.113.7 ::1 5555 80\r\n",         /* v4 in TCP6 */
		"PROXY TCP4  203.0.113.7 127.0.0.1 5555 80\r\n",  /* two spaces */
		"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80 \r\n",  /* trailing space */
		"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80 9\r\n", /* extra field */
		"PROXY TCP4 203.0.113.7 127.0.0.1 5555\r\n",      /* missing field */
		"PROXY TCP4 203.0.113.7 127.0.0.1 65536 80\r\n",  /* port range */
		"PROXY TCP4 203.0.113.7 127.0.0.1 0555 80\r\n",   /* leading zero */
		"PROXY TCP4 203.0.113.7 127.0.0.1 -1 80\r\n",     /* sign */
		"PROXY TCP4 203.0.113.7 127.0.0.1 123456 80\r\n", /* six digits */
		"PROXY TCP4 203.0.113.256 127.0.0.1 1 80\r\n",    /* address */
		"PROXY TCP4 203.0.113.7 127.0.0.1 1 80\r\r\n",    /* lone CR */
		"PROXY TCP4 203.0.113.7\t127.0.0.1 1 80\r\n",     /* control byte */
		"PROXY \r\n",                                     /* nothing */
		"PROXY UNKNOWNX\r\n",                             /* not UNKNOWN */
		"PROXY TCP4\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = parse_str(bad[i], &r);
		if (rc != -ERR_PARSE)
			TEST_FAIL_("bad[%zu] \"%s\": %d, expected -ERR_PARSE", i, bad[i], rc);
	}
	/* a non-ASCII byte is refused before the end of the line */
	const uint8_t hi[] = {'P', 'R', 'O', 'X', 'Y', ' ', 'T', 0xc3, 0xa9};
	CHECK_EQ_INT(proxy_pp_parse(hi, sizeof hi, &r), -ERR_PARSE);
}

static void v2_known_answers(void)
{
	struct proxy_pp_result r;
	uint8_t h[PROXY_PP_MAX + 16];
	char a[PROXY_IP_STR_MAX], b[PROXY_IP_STR_MAX];
	const uint8_t in4[12] = {203, 0, 113, 7, 127, 0, 0, 1, 0x15, 0xb3, 0x00, 0x50};
	size_t n = v2(h, 0x21, 0x11, in4, sizeof in4);
	CHECK_EQ_INT(parse_all_ways(h, n, &r), 28);
	CHECK_EQ_INT(r.version, 2);
	CHECK_EQ_INT(r.local, 0);
	CHECK_EQ_STR(ip_text(&r.src, a), "203.0.113.7");
	CHECK_EQ_STR(ip_text(&r.dst, b), "127.0.0.1");
	CHECK_EQ_INT(r.src_port, 5555);
	CHECK_EQ_INT(r.dst_port, 80);

	uint8_t in6[36] = {0x20, 0x01, 0x0d, 0xb8};
	in6[15] = 5; /* 2001:db8::5 */
	in6[31] = 1; /* ::1 */
	in6[32] = 0xff;
	in6[33] = 0xfe;
	in6[35] = 0x50;
	n = v2(h, 0x21, 0x21, in6, sizeof in6);
	CHECK_EQ_INT(parse_all_ways(h, n, &r), 52);
	CHECK_EQ_STR(ip_text(&r.src, a), "2001:db8::5");
	CHECK_EQ_STR(ip_text(&r.dst, b), "::1");
	CHECK_EQ_INT(r.src_port, 65534);
	CHECK_EQ_INT(r.dst_port, 80);

	/* TLVs after the addresses are skipped */
	uint8_t tlv[12 + 20];
	memcpy(tlv, in4, 12);
	memset(tlv + 12, 0x04, 20);
	n = v2(h, 0x21, 0x11, tlv, sizeof tlv);
	CHECK_EQ_INT(parse_all_ways(h, n, &r), 48);
	CHECK_EQ_STR(ip_text(&r.src, a), "203.0.113.7");

	/* LOCAL (any family, even with bytes), UNSPEC, UNIX and UDP: the real peer stays */
	n = v2(h, 0x20, 0x00, NULL, 0);
	CHECK_EQ_INT(parse_all_ways(h, n, &r), 16);
	CHECK_EQ_INT(r.local, 1);
	n = v2(h, 0x20, 0x11, in4, sizeof in4);
	CHECK_EQ_INT(parse_all_ways(h, n, &r), 28);
	CHECK_EQ_INT(r.local, 1);
	n = v2(h, 0x21, 0x00, NULL, 0);
	CHECK_EQ_INT(parse_all_ways(h, n, &r), 16);
	CHECK_EQ_INT(r.local, 1);
	uint8_t unixb[216] = {0};
	n = v2(h, 0x21, 0x31, unixb, sizeof unixb);
	CHECK_EQ_INT(parse_all_ways(h, n, &r), 232);
	CHECK_EQ_INT(r.local, 1);
	n = v2(h, 0x21, 0x12, in4, sizeof in4);
	CHECK_EQ_INT(parse_all_ways(h, n, &r), 28);
	CHECK_EQ_INT(r.local, 1);

	/* the cap: PROXY_PP_MAX bytes in all is accepted, one more is not */
	static uint8_t pad[PROXY_PP_MAX];
	memcpy(pad, in4, 12);
	n = v2(h, 0x21, 0x11, pad, PROXY_PP_MAX - 16);
	CHECK_EQ_INT(parse_all_ways(h, n, &r), PROXY_PP_MAX);
	CHECK_EQ_STR(ip_text(&r.src, a), "203.0.113.7");
	n = v2(h, 0x21, 0x11, pad, PROXY_PP_MAX - 15);
	CHECK_EQ_INT(parse_all_ways(h, n, &r), -ERR_PARSE);
	CHECK_EQ_INT(proxy_pp_parse(h, 16, &r), -ERR_PARSE); /* known from the length alone */
}

static void v2_malformed(void)
{
	struct proxy_pp_result r;
	uint8_t h[128];
	const uint8_t in4[12] = {203, 0, 113, 7, 127, 0, 0, 1, 0x15, 0xb3, 0x00, 0x50};
	static const struct {
		uint8_t cmd, fam;
		size_t len;
	} bad[] = {
		{0x11, 0x11, 12}, /* version 1 */
		{0x31, 0x11, 12}, /* version 3 */
		{0x22, 0x11, 12}, /* command 2 */
		{0x2f, 0x11, 12}, /* command 15 */
		{0x21, 0x11, 11}, /* INET too short */
		{0x21, 0x21, 12}, /* INET6 too short */
		{0x21, 0x13, 12}, /* protocol 3 */
		{0x21, 0x41, 12}, /* family 4 */
		{0x21, 0x01, 12}, /* UNSPEC family with STREAM */
		{0x21, 0x10, 12}, /* INET with UNSPEC protocol */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t body[64] = {0};
		memcpy(body, in4, sizeof in4);
		size_t n = v2(h, bad[i].cmd, bad[i].fam, body, bad[i].len);
		int rc = parse_all_ways(h, n, &r);
		if (rc != -ERR_PARSE)
			TEST_FAIL_("bad v2 %zu: %d, expected -ERR_PARSE", i, rc);
	}
}

/* proxy_pp_recv on a socketpair: a header split over two writes, then exactly its bytes
 * consumed and the request left for the next reader. */
static void recv_consumes_exactly(void)
{
	int sv[2];
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	struct proxy_pp_result r;
	size_t avail = 7;
	CHECK_EQ_INT(proxy_pp_recv(sv[0], &r, &avail), -ERR_AGAIN);
	CHECK_EQ_INT(avail, 0);
	CHECK_EQ_INT(write(sv[1], "PROXY TCP4 1.2.3.4", 18), 18);
	CHECK_EQ_INT(proxy_pp_recv(sv[0], &r, &avail), -ERR_PARTIAL);
	CHECK_EQ_INT(avail, 18);
	const char *rest = " 5.6.7.8 1000 80\r\nGET / HTTP/1.1\r\n\r\n";
	CHECK_EQ_INT(write(sv[1], rest, strlen(rest)), (ssize_t)strlen(rest));
	CHECK_EQ_INT(proxy_pp_recv(sv[0], &r, &avail), 36);
	CHECK_EQ_INT(avail, 18 + strlen(rest));
	CHECK_EQ_INT(r.src_port, 1000);
	char buf[64];
	ssize_t n = read(sv[0], buf, sizeof buf);
	CHECK_EQ_MEM(buf, n > 0 ? (size_t)n : 0, "GET / HTTP/1.1\r\n\r\n");
	/* not a header: nothing consumed */
	CHECK_EQ_INT(write(sv[1], "GET /", 5), 5);
	CHECK_EQ_INT(proxy_pp_recv(sv[0], &r, &avail), -ERR_NOTFOUND);
	CHECK_EQ_INT(read(sv[0], buf, sizeof buf), 5);
	/* the peer leaves */
	close(sv[1]);
	CHECK_EQ_INT(proxy_pp_recv(sv[0], &r, &avail), -ERR_CLOSED);
	close(sv[0]);
}

/* ---- engine ------------------------------------------------------------------------------ */

/* Four entry points; %u: ports (the loader wants a real one: free ones are picked). */
static const char DOC_FMT[] =
	"{\"version\":1,\"revision\":1,\"entryPoints\":{"
	"\"pp\":{\"address\":\"127.0.0.1:%u\",\"proxyProtocol\":{\"trustedIPs\":[\"127.0.0.1/"
	"32\"]},"
	"\"whitelist\":{\"sourceRange\":[\"203.0.113.0/24\"]}},"
	"\"untr\":{\"address\":\"127.0.0.1:%u\",\"proxyProtocol\":{\"trustedIPs\":[\"10.0.0.0/"
	"8\"]},"
	"\"whitelist\":{\"sourceRange\":[\"203.0.113.0/24\"]}},"
	"\"ins\":{\"address\":\"127.0.0.1:%u\",\"proxyProtocol\":{\"insecure\":true},"
	"\"whitelist\":{\"sourceRange\":[\"2001:db8::/32\"]}},"
	"\"plain\":{\"address\":\"127.0.0.1:%u\","
	"\"whitelist\":{\"sourceRange\":[\"203.0.113.0/24\"]}}}}";

/* n free loopback ports (bound together, then released). */
static bool free_ports(unsigned *out, int n)
{
	int fds[8];
	bool ok = true;
	for (int i = 0; i < n; i++) {
		struct sockaddr_in a = {.sin_family = AF_INET};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t al = sizeof a;
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof a) < 0 ||
		    getsockname(fds[i], (struct sockaddr *)&a, &al) < 0)
			ok = false;
		out[i] = ntohs(a.sin_port);
	}
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return ok;
}

struct fx {
	struct loop l;
	struct proxy_engine *e;
	int alog[2]; /* access log pipe */
};

static bool fx_up(struct fx *f, uint64_t header_timeout_ms)
{
	memset(f, 0, sizeof *f);
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
	lim.client_header_timeout_ms = header_timeout_ms;
	lim.table.max_entrypoints = 8;
	lim.table.max_frontends = 8;
	lim.table.max_backends = 8;
	lim.table.max_servers = 8;
	lim.table.max_routes = 8;
	lim.table.max_tokens = 1024;
	lim.table.max_doc_bytes = 8192;
	lim.table.max_matchers = lim.table.max_list_items = 64;
	lim.table.max_regex_insts = 256;
	lim.table.max_certs = 2;
	lim.table.max_cert_bytes = 8192;
	struct loop_config lc = {.max_fds = 64, .max_timers = 64, .max_events = 16};
	if (loop_init(&f->l, &lc) < 0)
		return false;
	if (pipe2(f->alog, O_NONBLOCK | O_CLOEXEC) < 0)
		return false;
	struct proxy_engine_config cfg = {.loop = &f->l, .lim = &lim, .access_log_fd = f->alog[1]};
	char msg[256];
	if (proxy_engine_create(&cfg, &f->e, msg, sizeof msg) < 0) {
		fprintf(stderr, "  engine: %s\n", msg);
		return false;
	}
	unsigned port[4];
	char doc[1024];
	if (!free_ports(port, 4))
		return false;
	int dn = snprintf(doc, sizeof doc, DOC_FMT, port[0], port[1], port[2], port[3]);
	if (proxy_engine_load(f->e, doc, (size_t)dn, msg, sizeof msg) < 0) {
		fprintf(stderr, "  load: %s\n", msg);
		return false;
	}
	return true;
}

static void fx_down(struct fx *f)
{
	for (int i = 0; i < 20; i++)
		loop_run_once(&f->l, 1);
	struct proxy_engine_stats st;
	proxy_engine_get_stats(f->e, &st);
	CHECK_EQ_INT(st.conns, 0); /* every connection released */
	CHECK_EQ_INT(st.bufs_used, 0);
	CHECK_EQ_INT(st.tls_conns, 0);
	proxy_engine_destroy(f->e);
	loop_fini(&f->l);
	close(f->alog[0]);
	close(f->alog[1]);
}

/* A client: a socketpair end adopted by the engine on entry point ep with peer address
 * `peer` (text); the test keeps the other end. */
static int client(struct fx *f, const char *ep, const char *peer)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	if (strchr(peer, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)(void *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(40000);
		inet_pton(AF_INET6, peer, &a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)(void *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(40000);
		inet_pton(AF_INET, peer, &a->sin_addr);
	}
	if (proxy_engine_adopt(f->e, sv[0], ep, &ss) < 0) {
		close(sv[1]);
		return -1;
	}
	return sv[1];
}

/* Run the loop until a complete response head arrived on fd (its status returned), the
 * engine closed fd (*closed, status 0 if nothing came) or ~2 s passed. */
static int response(struct fx *f, int fd, bool *closed)
{
	char buf[4096];
	size_t len = 0;
	*closed = false;
	for (int i = 0; i < 400; i++) {
		loop_run_once(&f->l, 5);
		ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
		if (n > 0) {
			len += (size_t)n;
			buf[len] = 0;
			if (strstr(buf, "\r\n\r\n"))
				break;
		} else if (n == 0) {
			*closed = true;
			break;
		}
	}
	buf[len] = 0;
	int status = 0;
	if (len >= 12 && sscanf(buf, "HTTP/1.%*c %d", &status) != 1)
		status = 0;
	return status;
}

static int send_all(int fd, const void *p, size_t n)
{
	return write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

#define GET "GET / HTTP/1.1\r\nHost: a\r\n\r\n"

/* One request on a new connection: bytes p[0..n) at once. */
static int one(struct fx *f, const char *ep, const char *peer, const void *p, size_t n,
	       bool *closed)
{
	int fd = client(f, ep, peer);
	if (fd < 0)
		return -1;
	int st = send_all(fd, p, n) < 0 ? -1 : response(f, fd, closed);
	close(fd);
	return st;
}

static int one_str(struct fx *f, const char *ep, const char *peer, const char *s, bool *closed)
{
	return one(f, ep, peer, s, strlen(s), closed);
}

static void access_log(struct fx *f, char *out, size_t cap)
{
	for (int i = 0; i < 5; i++)
		loop_run_once(&f->l, 1);
	ssize_t n = read(f->alog[0], out, cap - 1);
	out[n > 0 ? n : 0] = 0;
}

static void engine_v1_trusted(void)
{
	struct fx f;
	REQUIRE(fx_up(&f, 2000));
	bool closed;
	char log[4096];
	access_log(&f, log, sizeof log); /* drain */
	/* the header's source passes the whitelist; the access log names it */
	CHECK_EQ_INT(one_str(&f, "pp", "127.0.0.1",
			     "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n" GET, &closed),
		     404);
	access_log(&f, log, sizeof log);
	CHECK(strncmp(log, "203.0.113.7 - ", 14) == 0);
	/* another source: refused by the whitelist */
	CHECK_EQ_INT(one_str(&f, "pp", "127.0.0.1",
			     "PROXY TCP4 198.51.100.1 127.0.0.1 5555 80\r\n" GET, &closed),
		     403);
	access_log(&f, log, sizeof log);
	CHECK(strncmp(log, "198.51.100.1 - ", 15) == 0);
	/* no header from a trusted peer: served with the real address (403 here) */
	CHECK_EQ_INT(one_str(&f, "pp", "127.0.0.1", GET, &closed), 403);
	access_log(&f, log, sizeof log);
	CHECK(strncmp(log, "127.0.0.1 - ", 12) == 0);
	/* UNKNOWN keeps the real address */
	CHECK_EQ_INT(one_str(&f, "pp", "127.0.0.1", "PROXY UNKNOWN\r\n" GET, &closed), 403);
	access_log(&f, log, sizeof log);
	CHECK(strncmp(log, "127.0.0.1 - ", 12) == 0);
	/* TCP6 */
	CHECK_EQ_INT(
		one_str(&f, "ins", "127.0.0.1", "PROXY TCP6 2001:db8::9 ::1 1 80\r\n" GET, &closed),
		404);
	access_log(&f, log, sizeof log);
	CHECK(strncmp(log, "2001:db8::9 - ", 14) == 0);
	fx_down(&f);
}

static void engine_keepalive_keeps_address(void)
{
	struct fx f;
	REQUIRE(fx_up(&f, 2000));
	bool closed;
	int fd = client(&f, "pp", "127.0.0.1");
	REQUIRE(fd >= 0);
	REQUIRE(send_all(fd, "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n" GET, 42 + 27) == 0);
	CHECK_EQ_INT(response(&f, fd, &closed), 404);
	for (int i = 0; i < 3; i++) {
		REQUIRE(send_all(fd, GET, 27) == 0);
		CHECK_EQ_INT(response(&f, fd, &closed), 404);
		CHECK(!closed);
	}
	/* a second header later on the connection is an ordinary (bad) request: 400 */
	REQUIRE(send_all(fd, "PROXY TCP4 198.51.100.1 127.0.0.1 5555 80\r\n" GET, 43 + 27) == 0);
	CHECK_EQ_INT(response(&f, fd, &closed), 400);
	close(fd);
	fx_down(&f);
}

static void engine_split_header(void)
{
	struct fx f;
	REQUIRE(fx_up(&f, 2000));
	bool closed = true;
	const char *in = "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n" GET;
	int fd = client(&f, "pp", "127.0.0.1");
	REQUIRE(fd >= 0);
	/* one byte at a time, the loop running in between */
	for (size_t i = 0; i < strlen(in); i++) {
		REQUIRE(send_all(fd, in + i, 1) == 0);
		for (int k = 0; k < 3; k++)
			loop_run_once(&f.l, 0);
	}
	CHECK_EQ_INT(response(&f, fd, &closed), 404);
	close(fd);
	/* v2 in two writes */
	uint8_t h[64];
	const uint8_t in4[12] = {203, 0, 113, 8, 127, 0, 0, 1, 0x15, 0xb3, 0x00, 0x50};
	size_t n = v2(h, 0x21, 0x11, in4, sizeof in4);
	fd = client(&f, "pp", "127.0.0.1");
	REQUIRE(fd >= 0);
	REQUIRE(send_all(fd, h, 10) == 0);
	for (int k = 0; k < 5; k++)
		loop_run_once(&f.l, 1);
	REQUIRE(send_all(fd, h + 10, n - 10) == 0);
	REQUIRE(send_all(fd, GET, 27) == 0);
	CHECK_EQ_INT(response(&f, fd, &closed), 404);
	close(fd);
	fx_down(&f);
}

static void engine_v2(void)
{
	struct fx f;
	REQUIRE(fx_up(&f, 2000));
	bool closed;
	uint8_t h[128];
	const uint8_t in4[12] = {203, 0, 113, 7, 127, 0, 0, 1, 0x15, 0xb3, 0x00, 0x50};
	size_t n = v2(h, 0x21, 0x11, in4, sizeof in4);
	memcpy(h + n, GET, 27);
	CHECK_EQ_INT(one(&f, "pp", "127.0.0.1", h, n + 27, &closed), 404);
	/* LOCAL: the real peer (127.0.0.1) is not whitelisted */
	n = v2(h, 0x20, 0x00, NULL, 0);
	memcpy(h + n, GET, 27);
	CHECK_EQ_INT(one(&f, "pp", "127.0.0.1", h, n + 27, &closed), 403);
	/* AF_INET6 on the insecure entry point, from any peer */
	uint8_t in6[36] = {0x20, 0x01, 0x0d, 0xb8};
	in6[15] = 5;
	in6[31] = 1;
	n = v2(h, 0x21, 0x21, in6, sizeof in6);
	memcpy(h + n, GET, 27);
	CHECK_EQ_INT(one(&f, "ins", "192.0.2.1", h, n + 27, &closed), 404);
	char log[4096];
	access_log(&f, log, sizeof log);
	CHECK(strstr(log, "2001:db8::5 - ") != NULL);
	fx_down(&f);
}

static void engine_untrusted_and_malformed(void)
{
	struct fx f;
	/* the load warns about the one insecure entry point ("ins"), not the trustedIPs ones */
	int lp[2];
	REQUIRE(pipe2(lp, O_NONBLOCK | O_CLOEXEC) == 0);
	log_set_fd(lp[1]);
	bool up = fx_up(&f, 2000);
	log_set_fd(2);
	char logs[8192];
	ssize_t ln = read(lp[0], logs, sizeof logs - 1);
	logs[ln > 0 ? ln : 0] = 0;
	close(lp[0]);
	close(lp[1]);
	REQUIRE(up);
	const char *w = strstr(logs, "proxyProtocol.insecure");
	CHECK(w != NULL);
	CHECK(w && strstr(w, "entrypoint=\"ins\"") != NULL);
	CHECK(w && strstr(w + 1, "proxyProtocol.insecure") == NULL);
	struct proxy_engine_stats st;
	proxy_engine_get_stats(f.e, &st);
	CHECK_EQ_INT(st.pp_ok, 0);
	CHECK_EQ_INT(st.pp_malformed, 0);
	bool closed;
	const char *hdr = "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n" GET;
	/* untrusted peer: nothing parsed, the HTTP parser refuses the line */
	CHECK_EQ_INT(one_str(&f, "untr", "127.0.0.1", hdr, &closed), 400);
	/* an entry point without proxyProtocol: the same */
	CHECK_EQ_INT(one_str(&f, "plain", "127.0.0.1", hdr, &closed), 400);
	/* a trusted peer by CIDR (10.0.0.0/8) */
	CHECK_EQ_INT(one_str(&f, "untr", "10.1.2.3", hdr, &closed), 404);
	/* malformed from a trusted peer: closed without an answer */
	CHECK_EQ_INT(one_str(&f, "pp", "127.0.0.1",
			     "PROXY TCP4 203.0.113.7 127.0.0.1 5555 99999\r\n" GET, &closed),
		     0);
	CHECK(closed);
	uint8_t h[64];
	size_t n = v2(h, 0x21, 0x41, NULL, 0);
	CHECK_EQ_INT(one(&f, "pp", "127.0.0.1", h, n, &closed), 0);
	CHECK(closed);
	/* a peer that leaves in the middle of a header */
	int fd = client(&f, "pp", "127.0.0.1");
	REQUIRE(fd >= 0);
	REQUIRE(send_all(fd, "PROXY TCP4 203", 14) == 0);
	shutdown(fd, SHUT_WR);
	CHECK_EQ_INT(response(&f, fd, &closed), 0);
	CHECK(closed);
	close(fd);
	/* one header consumed (10.1.2.3), two malformed; untrusted peers and the peer that left
	 * count as neither */
	proxy_engine_get_stats(f.e, &st);
	CHECK_EQ_INT(st.pp_ok, 1);
	CHECK_EQ_INT(st.pp_malformed, 2);
	char text[16384];
	struct buf b;
	buf_init(&b, text, sizeof text - 1);
	REQUIRE(proxy_engine_metrics_text(f.e, &b) == 0);
	text[b.len] = 0;
	CHECK(strstr(text, "traefikee_proxyprotocol_headers_total{result=\"ok\"} 1\n") != NULL);
	CHECK(strstr(text, "traefikee_proxyprotocol_headers_total{result=\"malformed\"} 2\n") !=
	      NULL);
	fx_down(&f);
}

static void engine_header_timeout(void)
{
	struct fx f;
	REQUIRE(fx_up(&f, 200));
	bool closed = false;
	int fd = client(&f, "pp", "127.0.0.1");
	REQUIRE(fd >= 0);
	REQUIRE(send_all(fd, "PROXY TCP4 203", 14) == 0);
	for (int i = 0; i < 5; i++)
		loop_run_once(&f.l, 1);
	struct proxy_engine_stats st;
	proxy_engine_get_stats(f.e, &st);
	CHECK_EQ_INT(st.conns_proxyhdr, 1); /* SIGUSR1's proxyhdr= */
	/* the rest never comes: client_header_timeout closes it, no answer */
	CHECK_EQ_INT(response(&f, fd, &closed), 0);
	proxy_engine_get_stats(f.e, &st);
	CHECK_EQ_INT(st.conns_proxyhdr, 0);
	CHECK(closed);
	close(fd);
	/* a header, then a request head that never ends: 408 as without a header */
	fd = client(&f, "pp", "127.0.0.1");
	REQUIRE(fd >= 0);
	REQUIRE(send_all(fd, "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\nGET / HT", 50) == 0);
	CHECK_EQ_INT(response(&f, fd, &closed), 408);
	close(fd);
	fx_down(&f);
}

TEST_MAIN(v1_tcp4_tcp6, v1_unknown, not_a_header, v1_malformed, v2_known_answers, v2_malformed,
	  recv_consumes_exactly, engine_v1_trusted, engine_keepalive_keeps_address,
	  engine_split_header, engine_v2, engine_untrusted_and_malformed, engine_header_timeout)
