/* Unit tests of the engine's pure parts: limits (defaults, flags, durations, checks, the
 * worst-case memory table), metrics (interning, series, removal with the last reference,
 * Prometheus text, several workers summed, the caps), the access log line, and body framing
 * (Content-Length, chunked passed through and de-chunked, whole and byte by byte, errors).
 * The live engine is tested in test_proxy_engine_live.c.
 */
#include "base/base_err.h"
#include "proxy/proxy_accesslog.h"
#include "proxy/proxy_engine.h"
#include "proxy/proxy_engine_int.h"
#include "proxy/proxy_limits.h"
#include "proxy/proxy_metrics.h"
#include "test.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- limits -----------------------------------------------------------------------------------
 */

static void limits_defaults_valid(void)
{
	struct proxy_dp_limits lim;
	proxy_dp_limits_default(&lim);
	char msg[160];
	CHECK_EQ_INT(proxy_dp_limits_check(&lim, msg, sizeof msg), 0);
	CHECK_EQ_INT(lim.connect_timeout_ms, 5000);
	CHECK_EQ_INT(lim.response_header_timeout_ms, 60000);
	CHECK_EQ_INT(lim.idle_timeout_ms, 180000);
	CHECK_EQ_INT(lim.client_header_timeout_ms, 10000);
	CHECK_EQ_INT(lim.max_idle_per_server, 1024);
	CHECK(lim.table.max_frontends > 0); /* the routing table's caps ride along */
}

static void limits_set_by_name(void)
{
	struct proxy_dp_limits lim;
	proxy_dp_limits_default(&lim);
	CHECK_EQ_INT(proxy_dp_limits_set(&lim, "max-conns", "10000"), 0);
	CHECK_EQ_INT(lim.max_conns, 10000);
	CHECK_EQ_INT(proxy_dp_limits_set(&lim, "MaxConns", "12"), 0);
	CHECK_EQ_INT(lim.max_conns, 12);
	CHECK_EQ_INT(proxy_dp_limits_set(&lim, "buf_size", "32k"), 0);
	CHECK_EQ_INT(lim.buf_size, 32768);
	CHECK_EQ_INT(proxy_dp_limits_set(&lim, "connect-timeout", "1m30s"), 0);
	CHECK_EQ_INT(lim.connect_timeout_ms, 90000);
	CHECK_EQ_INT(proxy_dp_limits_set(&lim, "idle_timeout_ms", "250"), 0);
	CHECK_EQ_INT(lim.idle_timeout_ms, 250);
	CHECK_EQ_INT(proxy_dp_limits_set(&lim, "max-frontends", "7"), 0);
	CHECK_EQ_INT(lim.table.max_frontends, 7);
	CHECK_EQ_INT(proxy_dp_limits_set(&lim, "max-doc-bytes", "1m"), 0);
	CHECK_EQ_INT(lim.table.max_doc_bytes, 1 << 20);
	CHECK_EQ_INT(proxy_dp_limits_set(&lim, "max_body", "2g"), 0);
	CHECK_EQ_INT(lim.max_body, (uint64_t)2 << 30);
	CHECK_EQ_INT(proxy_dp_limits_set(&lim, "bogus", "1"), -ERR_NOTFOUND);
	CHECK_EQ_INT(proxy_dp_limits_set(&lim, "max_conns", "12x"), -ERR_PARSE);
	CHECK_EQ_INT(proxy_dp_limits_set(&lim, "max_conns", "5000000000"), -ERR_RANGE);
	CHECK_EQ_INT(proxy_dp_limits_set(&lim, "max_conns", ""), -ERR_PARSE);
	CHECK_EQ_INT(lim.max_conns, 12); /* a refused value changes nothing */
}

/* tls_session_cache: 4096 .. 64 MiB, both edges accepted, one byte past either refused. */
static void limits_tls_session_cache_bounds(void)
{
	struct proxy_dp_limits lim;
	char msg[160];
	proxy_dp_limits_default(&lim);
	CHECK_EQ_INT(lim.tls_session_cache, 512 << 10);
	const struct {
		const char *v;
		int ok;
	} cases[] = {{"4096", 1}, {"4095", 0}, {"64m", 1}, {"67108865", 0}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		proxy_dp_limits_default(&lim);
		CHECK_EQ_INT(proxy_dp_limits_set(&lim, "tls-session-cache", cases[i].v), 0);
		int rc = proxy_dp_limits_check(&lim, msg, sizeof msg);
		CHECK_EQ_INT(rc, cases[i].ok ? 0 : -ERR_PROXY_LIMITS);
		if (!cases[i].ok)
			CHECK(strstr(msg, "tls_session_cache") != NULL);
	}
}

/* The counts added with https upstreams and forward auth: 1 accepted, 0 refused by name. */
static void limits_new_counts_bounds(void)
{
	static const char *const names[] = {"max_upstream_tls_conns", "max_forward_auth",
					    "max_forward_auth_tls", "max_gzip_streams",
					    "max_ratelimit_keys"};
	struct proxy_dp_limits lim;
	char msg[160];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		proxy_dp_limits_default(&lim);
		CHECK_EQ_INT(proxy_dp_limits_set(&lim, names[i], "1"), 0);
		CHECK_EQ_INT(proxy_dp_limits_check(&lim, msg, sizeof msg), 0);
		CHECK_EQ_INT(proxy_dp_limits_set(&lim, names[i], "0"), 0);
		CHECK_EQ_INT(proxy_dp_limits_check(&lim, msg, sizeof msg), -ERR_PROXY_LIMITS);
		CHECK(strstr(msg, names[i]) != NULL);
		CHECK_EQ_INT(proxy_dp_limits_set(&lim, names[i], "4294967296"), -ERR_RANGE);
	}
}

static void limits_durations(void)
{
	uint32_t ms;
	CHECK_EQ_INT(proxy_dp_duration_parse("300ms", &ms), 0);
	CHECK_EQ_INT(ms, 300);
	CHECK_EQ_INT(proxy_dp_duration_parse("1.5s", &ms), 0);
	CHECK_EQ_INT(ms, 1500);
	CHECK_EQ_INT(proxy_dp_duration_parse("2h", &ms), 0);
	CHECK_EQ_INT(ms, 7200000);
	CHECK_EQ_INT(proxy_dp_duration_parse("500us", &ms), 0);
	CHECK_EQ_INT(ms, 1); /* rounded up, never to 0 */
	CHECK_EQ_INT(proxy_dp_duration_parse("42", &ms), 0);
	CHECK_EQ_INT(ms, 42);
	CHECK_EQ_INT(proxy_dp_duration_parse("5x", &ms), -ERR_PARSE);
	CHECK_EQ_INT(proxy_dp_duration_parse("s", &ms), -ERR_PARSE);
	CHECK_EQ_INT(proxy_dp_duration_parse("", &ms), -ERR_PARSE);
	CHECK_EQ_INT(proxy_dp_duration_parse("2000h", &ms), -ERR_RANGE);
}

static void limits_check_refuses(void)
{
	struct proxy_dp_limits lim;
	char msg[160];
	proxy_dp_limits_default(&lim);
	lim.connect_timeout_ms = 0; /* every timeout is finite */
	CHECK_EQ_INT(proxy_dp_limits_check(&lim, msg, sizeof msg), -ERR_PROXY_LIMITS);
	CHECK(strstr(msg, "connect_timeout_ms") != NULL);
	proxy_dp_limits_default(&lim);
	lim.max_conns = 0;
	CHECK_EQ_INT(proxy_dp_limits_check(&lim, msg, sizeof msg), -ERR_PROXY_LIMITS);
	proxy_dp_limits_default(&lim);
	lim.buf_size = 1024;
	CHECK_EQ_INT(proxy_dp_limits_check(&lim, msg, sizeof msg), -ERR_PROXY_LIMITS);
	proxy_dp_limits_default(&lim);
	lim.max_tls_conns = lim.max_conns + 1;
	CHECK_EQ_INT(proxy_dp_limits_check(&lim, msg, sizeof msg), -ERR_PROXY_LIMITS);
	proxy_dp_limits_default(&lim);
	lim.max_bufs = 1;
	CHECK_EQ_INT(proxy_dp_limits_check(&lim, msg, sizeof msg), -ERR_PROXY_LIMITS);
	proxy_dp_limits_default(&lim);
	lim.table.max_entrypoints = 65;
	CHECK_EQ_INT(proxy_dp_limits_check(&lim, msg, sizeof msg), -ERR_PROXY_LIMITS);
	proxy_dp_limits_default(&lim);
	lim.max_ratelimit_keys = 1u << 24; /* the largest table: 256 MiB */
	CHECK_EQ_INT(proxy_dp_limits_check(&lim, msg, sizeof msg), 0);
	lim.max_ratelimit_keys = (1u << 24) + 1;
	CHECK_EQ_INT(proxy_dp_limits_check(&lim, msg, sizeof msg), -ERR_PROXY_LIMITS);
	CHECK(strstr(msg, "max_ratelimit_keys") != NULL);
}

static void limits_memory_table(void)
{
	struct proxy_dp_limits lim;
	proxy_dp_limits_default(&lim);
	struct proxy_mem_sizes sz;
	proxy_engine_mem_sizes(&lim, &sz);
	struct proxy_mem_report r;
	proxy_dp_limits_memory(&lim, &sz, &r);
	CHECK_EQ_INT(r.conns, (size_t)lim.max_conns * sz.conn);
	CHECK(r.bufs >= (size_t)lim.max_bufs * lim.buf_size);
	CHECK_EQ_INT(r.total, r.conns + r.tls + r.upstreams + r.upstream_tls + r.bufs +
				      r.large_bufs + r.targets + r.health + r.metrics + r.loop +
				      r.tables + r.tls_cfgs + r.reload + r.fixed + r.fwdauth +
				      r.gzip + r.ratelimit);
	/* rate limit buckets (proxy_ratelimit.h): 16 bytes each */
	CHECK_EQ_INT(r.ratelimit, (size_t)lim.max_ratelimit_keys * 16);
	/* forward auth: sub-requests and their TLS slots (the smaller cap) */
	CHECK_EQ_INT(r.fwdauth, (size_t)lim.max_forward_auth * sz.fwdauth +
					(size_t)lim.max_forward_auth_tls * sz.tls);
	/* upstream TLS slots (https:// servers): their own pool, at most max_upstream_conns */
	CHECK_EQ_INT(r.upstream_tls, (size_t)lim.max_upstream_tls_conns * sz.tls);
	lim.max_upstream_conns = 8;
	CHECK_EQ_INT(proxy_dp_upstream_tls_cap(&lim), 8);
	lim.max_upstream_conns = 4096;
	/* TLS configurations have their own pool, counted apart from the tables */
	CHECK_EQ_INT(r.tls_cfgs, (size_t)lim.max_tls_generations * sz.tls_cfg);
	CHECK(sz.tls_cfg > lim.table.max_cert_bytes);
	CHECK(r.per_idle_conn < 1024); /* an idle keep-alive connection holds no buffer */
	CHECK(r.per_busy_conn > 2 * (size_t)lim.buf_size);
	/* doubling the connections grows the figure by exactly their share */
	struct proxy_mem_report r2;
	lim.max_conns *= 2;
	proxy_dp_limits_memory(&lim, &sz, &r2);
	CHECK_EQ_INT(r2.conns, 2 * r.conns);
	char text[4096];
	struct buf b;
	buf_init(&b, text, sizeof text - 1);
	CHECK_EQ_INT(proxy_dp_limits_format(&lim, &r2, &b), 0);
	text[b.len] = 0;
	CHECK(strstr(text, "worst case") != NULL);
	CHECK(strstr(text, "max_conns 8192") != NULL);
	CHECK(strstr(text, "max_tls_generations 16") != NULL);
	buf_init(&b, text, 64);
	CHECK_EQ_INT(proxy_dp_limits_format(&lim, &r2, &b), -ERR_BUF_FULL);
	CHECK_EQ_INT(b.len, 0); /* all or nothing */
}

/* ---- metrics -----------------------------------------------------------------------------------
 */

static struct proxy_metrics *metrics_new(uint32_t series, uint32_t names, void **mem)
{
	size_t n = proxy_metrics_size(series, names);
	*mem = aligned_alloc(64, (n + 63) / 64 * 64);
	return proxy_metrics_init(*mem, n, series, names);
}

static void metrics_names_and_removal(void)
{
	void *mem;
	struct proxy_metrics *m = metrics_new(64, 4, &mem);
	REQUIRE(m);
	int ep = proxy_metrics_name_get(m, PROXY_MK_ENTRYPOINT, SLICE_LIT("web"));
	int be = proxy_metrics_name_get(m, PROXY_MK_BACKEND, SLICE_LIT("b1"));
	CHECK(ep >= 0 && be >= 0);
	CHECK_EQ_INT(proxy_metrics_name_get(m, PROXY_MK_BACKEND, SLICE_LIT("b1")), be); /* ref 2 */
	CHECK(proxy_metrics_name_get(m, PROXY_MK_FRONTEND, SLICE_LIT("b1")) !=
	      be); /* kinds differ */
	proxy_metrics_name_get(m, PROXY_MK_URL, SLICE_LIT("http://x"));
	CHECK_EQ_INT(proxy_metrics_name_get(m, PROXY_MK_URL, SLICE_LIT("http://y")),
		     -ERR_PROXY_METRICS_FULL); /* max_metric_names 4 */
	for (int i = 0; i < 5; i++)
		proxy_metrics_request(m, ep, -1, be, 200 + i, HTTP_M_GET, PROXY_PROTO_HTTP, 1000);
	CHECK_EQ_INT(proxy_metrics_value(m, "traefik_backend_requests_total", "b1", 0), 5);
	CHECK_EQ_INT(proxy_metrics_value(m, "traefik_entrypoint_requests_total", "web", 203), 1);
	proxy_metrics_breaker(m, be, true);
	CHECK_EQ_INT(proxy_metrics_value(m, "traefikee_breaker_trips_total", "b1", 0), 1);
	proxy_metrics_name_put(m, be);
	CHECK_EQ_INT(proxy_metrics_value(m, "traefik_backend_requests_total", "b1", 0), 5);
	proxy_metrics_name_put(m, be); /* last reference: the backend's series go */
	CHECK_EQ_INT(proxy_metrics_value(m, "traefik_backend_requests_total", NULL, 0), 0);
	CHECK_EQ_INT(proxy_metrics_value(m, "traefikee_breaker_trips_total", NULL, 0), 0);
	CHECK_EQ_INT(m->eng.cb_trips, 1); /* the engine-wide count stays (SIGUSR1) */
	CHECK_EQ_INT(proxy_metrics_value(m, "traefik_entrypoint_requests_total", "web", 0), 5);
	CHECK_EQ_INT(m->nseries, 5);
	free(mem);
}

static void metrics_series_cap(void)
{
	void *mem;
	struct proxy_metrics *m = metrics_new(3, 4, &mem);
	REQUIRE(m);
	int ep = proxy_metrics_name_get(m, PROXY_MK_ENTRYPOINT, SLICE_LIT("web"));
	for (int code = 200; code < 206; code++)
		proxy_metrics_request(m, ep, -1, -1, code, HTTP_M_GET, PROXY_PROTO_HTTP, 10);
	CHECK_EQ_INT(m->nseries, 3);
	CHECK_EQ_INT(m->dropped, 3);
	/* existing series still count */
	proxy_metrics_request(m, ep, -1, -1, 200, HTTP_M_GET, PROXY_PROTO_HTTP, 10);
	CHECK_EQ_INT(proxy_metrics_value(m, "traefik_entrypoint_requests_total", "web", 200), 2);
	free(mem);
}

static void metrics_render_text(void)
{
	void *mem1, *mem2;
	struct proxy_metrics *a = metrics_new(64, 16, &mem1), *b = metrics_new(64, 16, &mem2);
	REQUIRE(a && b);
	int ea = proxy_metrics_name_get(a, PROXY_MK_ENTRYPOINT, SLICE_LIT("web"));
	int ba = proxy_metrics_name_get(a, PROXY_MK_BACKEND, SLICE_LIT("app"));
	int ua = proxy_metrics_name_get(a, PROXY_MK_URL, SLICE_LIT("http://10.0.0.1:80"));
	/* worker b interned in another order: merged by label value, not index */
	int bb = proxy_metrics_name_get(b, PROXY_MK_BACKEND, SLICE_LIT("app"));
	int eb = proxy_metrics_name_get(b, PROXY_MK_ENTRYPOINT, SLICE_LIT("web"));
	proxy_metrics_request(a, ea, -1, ba, 200, HTTP_M_GET, PROXY_PROTO_HTTP, 50000);
	proxy_metrics_request(b, eb, -1, bb, 200, HTTP_M_GET, PROXY_PROTO_HTTP, 2000000);
	proxy_metrics_request(b, eb, -1, -1, 404, HTTP_M_POST, PROXY_PROTO_HTTP, 10);
	proxy_metrics_open(a, ea, ba, HTTP_M_GET, PROXY_PROTO_WEBSOCKET, 1);
	proxy_metrics_server_up(a, ba, ua, true);
	proxy_metrics_retry(a, ba);
	proxy_metrics_reload(a, true, 1700000000);
	/* traefikee_* counters: engine-wide ones summed, the breaker's by backend name */
	a->eng.rl_rejected = 3;
	b->eng.rl_rejected = 4;
	a->eng.gz_responses = 5;
	b->eng.gz_pool_full = 2;
	b->eng.pp_ok = 7;
	a->eng.pp_malformed = 1;
	b->eng.pp_malformed = 1;
	proxy_metrics_breaker(a, ba, false); /* built: the series at 0 */
	proxy_metrics_breaker(b, bb, true);
	proxy_metrics_breaker(b, bb, true);
	proxy_metrics_breaker(a, ba, true);
	CHECK_EQ_INT(a->eng.cb_trips, 1);
	CHECK_EQ_INT(b->eng.cb_trips, 2);
	CHECK_EQ_INT(proxy_metrics_value(b, "traefikee_breaker_trips_total", "app", 0), 2);
	CHECK_EQ_INT(proxy_metrics_value(b, "traefikee_ratelimit_rejected_total", NULL, 0), 4);
	CHECK_EQ_INT(proxy_metrics_value(a, "traefikee_compress_responses_total", "gzip", 0), 5);
	CHECK_EQ_INT(proxy_metrics_value(b, "traefikee_compress_responses_total", "pool_full", 0),
		     2);
	CHECK_EQ_INT(proxy_metrics_value(b, "traefikee_compress_responses_total", NULL, 0), 2);
	CHECK_EQ_INT(proxy_metrics_value(a, "traefikee_proxyprotocol_headers_total", "ok", 0), 0);
	CHECK_EQ_INT(proxy_metrics_value(a, "traefikee_nope_total", NULL, 0), -1);
	const struct proxy_metrics *parts[2] = {a, b};
	char *text = malloc(65536);
	struct buf out;
	buf_init(&out, text, 65535);
	CHECK_EQ_INT(proxy_metrics_render(parts, 2, &out), 0);
	text[out.len] = 0;
	CHECK(strstr(text, "# TYPE traefik_entrypoint_requests_total counter\n") != NULL);
	CHECK(strstr(text, "traefik_entrypoint_requests_total{code=\"200\",method=\"GET\","
			   "protocol=\"http\",entrypoint=\"web\"} 2\n") != NULL);
	CHECK(strstr(text, "traefik_entrypoint_requests_total{code=\"404\",method=\"POST\","
			   "protocol=\"http\",entrypoint=\"web\"} 1\n") != NULL);
	CHECK(strstr(text,
		     "traefik_backend_request_duration_seconds_bucket{code=\"200\","
		     "method=\"GET\",protocol=\"http\",backend=\"app\",le=\"0.1\"} 1\n") != NULL);
	CHECK(strstr(text,
		     "traefik_backend_request_duration_seconds_bucket{code=\"200\","
		     "method=\"GET\",protocol=\"http\",backend=\"app\",le=\"5\"} 2\n") != NULL);
	CHECK(strstr(text, "traefik_backend_request_duration_seconds_sum{code=\"200\","
			   "method=\"GET\",protocol=\"http\",backend=\"app\"} 2.050000\n") != NULL);
	CHECK(strstr(text, "traefik_entrypoint_open_connections{method=\"GET\","
			   "protocol=\"websocket\",entrypoint=\"web\"} 1\n") != NULL);
	CHECK(strstr(text, "traefik_backend_server_up{backend=\"app\",url=\"http://10.0.0.1:80\"} "
			   "1\n") != NULL);
	CHECK(strstr(text, "traefik_backend_retries_total{backend=\"app\"} 1\n") != NULL);
	CHECK(strstr(text, "traefik_config_reloads_total 1\n") != NULL);
	const char *p;
	CHECK(strstr(text, "traefik_config_last_reload_success 1700000000\n") != NULL);
	CHECK(strstr(text, "# TYPE traefikee_ratelimit_rejected_total counter\n"
			   "traefikee_ratelimit_rejected_total 7\n") != NULL);
	CHECK(strstr(text, "# TYPE traefikee_breaker_trips_total counter\n"
			   "traefikee_breaker_trips_total{backend=\"app\"} 3\n") != NULL);
	CHECK(strstr(text, "# TYPE traefikee_compress_responses_total counter\n"
			   "traefikee_compress_responses_total{result=\"gzip\"} 5\n"
			   "traefikee_compress_responses_total{result=\"pool_full\"} 2\n") != NULL);
	CHECK(strstr(text,
		     "# TYPE traefikee_proxyprotocol_headers_total counter\n"
		     "traefikee_proxyprotocol_headers_total{result=\"ok\"} 7\n"
		     "traefikee_proxyprotocol_headers_total{result=\"malformed\"} 2\n") != NULL);
	/* one HELP/TYPE per family */
	p = strstr(text, "# TYPE traefikee_compress_responses_total");
	CHECK(p && !strstr(p + 1, "# TYPE traefikee_compress_responses_total"));
	p = strstr(text, "# TYPE traefik_backend_requests_total");
	CHECK(p && !strstr(p + 1, "# TYPE traefik_backend_requests_total"));
	buf_init(&out, text, 100);
	CHECK_EQ_INT(proxy_metrics_render(parts, 2, &out), -ERR_BUF_FULL);
	free(text);
	free(mem1);
	free(mem2);
}

static void metrics_label_escaping(void)
{
	void *mem;
	struct proxy_metrics *m = metrics_new(8, 4, &mem);
	int be = proxy_metrics_name_get(m, PROXY_MK_BACKEND, SLICE_LIT("a\"b\\c"));
	proxy_metrics_retry(m, be);
	const struct proxy_metrics *parts[1] = {m};
	char text[4096];
	struct buf out;
	buf_init(&out, text, sizeof text - 1);
	CHECK_EQ_INT(proxy_metrics_render(parts, 1, &out), 0);
	text[out.len] = 0;
	CHECK(strstr(text, "traefik_backend_retries_total{backend=\"a\\\"b\\\\c\"} 1") != NULL);
	free(mem);
}

/* ---- access log ---------------------------------------------------------------------------------
 */

static void accesslog_common_format(void)
{
	struct proxy_accesslog al;
	char mem[PROXY_AL_LINE_MAX];
	CHECK_EQ_INT(proxy_accesslog_init(&al, -1, mem, sizeof mem), 0);
	struct proxy_access_entry e = {0};
	e.client = SLICE_LIT("10.1.2.3");
	e.method = SLICE_LIT("GET");
	e.path = SLICE_LIT("/a?b=1");
	e.minor = 1;
	e.status = 200;
	e.size = 1234;
	e.referer = SLICE_LIT("http://ref/");
	e.agent = SLICE_LIT("Mozilla/5.0 \"x\"");
	e.frontend = SLICE_LIT("frontend-web");
	e.backend_url = SLICE_LIT("http://10.0.0.5:8080");
	e.start_ms = 1136214245000LL; /* 2006-01-02T15:04:05Z */
	e.duration_ms = 17;
	al.requests = 42;
	char line[1024];
	struct buf b;
	buf_init(&b, line, sizeof line - 1);
	CHECK_EQ_INT(proxy_accesslog_format(&al, &e, &b), 0);
	line[b.len] = 0;
	CHECK_EQ_STR(line,
		     "10.1.2.3 - - [02/Jan/2006:15:04:05 +0000] \"GET /a?b=1 HTTP/1.1\" 200 1234 "
		     "\"http://ref/\" \"Mozilla/5.0 \\x22x\\x22\" 42 \"frontend-web\" "
		     "\"http://10.0.0.5:8080\" 17ms\n");
	/* missing values are "-"; no status yet is "-" too */
	struct proxy_access_entry z = {0};
	z.client = SLICE_LIT("::1");
	z.minor = 0;
	z.start_ms = 0;
	buf_init(&b, line, sizeof line - 1);
	CHECK_EQ_INT(proxy_accesslog_format(&al, &z, &b), 0);
	line[b.len] = 0;
	CHECK_EQ_STR(line,
		     "::1 - - [01/Jan/1970:00:00:00 +0000] \"- - HTTP/1.0\" - 0 \"-\" \"-\" 42 "
		     "\"-\" \"-\" 0ms\n");
	/* a control byte cannot forge a second line */
	z.path = SLICE_LIT("/x\ny");
	buf_init(&b, line, sizeof line - 1);
	CHECK_EQ_INT(proxy_accesslog_format(&al, &z, &b), 0);
	line[b.len] = 0;
	CHECK(strstr(line, "/x\\x0ay") != NULL);
	CHECK_EQ_INT(strchr(line, '\n') - line, (long)b.len - 1);
}

static void accesslog_batches_and_drops(void)
{
	int p[2];
	REQUIRE(pipe(p) == 0);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	struct proxy_accesslog al;
	char *mem = malloc(64 << 10);
	CHECK_EQ_INT(proxy_accesslog_init(&al, p[1], mem, 64 << 10), 0);
	CHECK_EQ_INT(proxy_accesslog_init(&al, p[1], mem, 16), -ERR_INVAL);
	proxy_accesslog_init(&al, p[1], mem, 64 << 10);
	struct proxy_access_entry e = {0};
	e.client = SLICE_LIT("1.2.3.4");
	for (int i = 0; i < 3; i++)
		proxy_accesslog_add(&al, &e);
	CHECK_EQ_INT(al.requests, 3);
	char rd[4096];
	CHECK_EQ_INT(read(p[0], rd, 0), 0);
	proxy_accesslog_flush(&al); /* one write for the batch */
	ssize_t n = read(p[0], rd, sizeof rd - 1);
	CHECK(n > 0);
	rd[n > 0 ? n : 0] = 0;
	CHECK(strstr(rd, " 3 \"-\"") != NULL);
	/* a reader that does not read: lines are dropped, never waited for */
	for (int i = 0; i < 20000; i++)
		proxy_accesslog_add(&al, &e);
	proxy_accesslog_flush(&al);
	CHECK(al.dropped > 0);
	close(p[0]);
	close(p[1]);
	free(mem);
}

/* Request counts of every line in fd (from offset 0) into seen[1..max]: the number of lines;
 * -1 for a count outside 1..max or a line without one. */
static int accesslog_counts(int fd, unsigned char *seen, uint64_t max)
{
	static char text[1 << 20];
	ssize_t n = pread(fd, text, sizeof text - 1, 0);
	if (n < 0)
		return -1;
	text[n] = 0;
	int lines = 0;
	for (char *p = text; *p;) {
		char *nl = strchr(p, '\n');
		if (!nl)
			return -1;
		*nl = 0;
		char *a = strstr(p, "\"agent\" "); /* the count follows the User-Agent */
		if (!a)
			return -1;
		uint64_t v = strtoull(a + 8, NULL, 10);
		if (v < 1 || v > max)
			return -1;
		seen[v]++;
		lines++;
		p = nl + 1;
	}
	return lines;
}

/* The workers of one node share the count (a MAP_SHARED word mapped before fork): their
 * lines carry the node's numbers 1..N, each once; without a shared word a log counts alone. */
static void accesslog_shared_count(void)
{
	uint64_t *ctr = mmap(NULL, 64, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(ctr != MAP_FAILED);
	char path[] = "/tmp/test_accesslog_XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	unlink(path);
	fcntl(fd, F_SETFL, O_APPEND);
	char *mem = malloc(64 << 10), *mem2 = malloc(64 << 10);
	REQUIRE(mem && mem2);
	struct proxy_access_entry e = {0};
	e.client = SLICE_LIT("1.2.3.4");
	e.agent = SLICE_LIT("agent");

	/* two logs, one counter: numbers continue across them */
	struct proxy_accesslog a, b;
	proxy_accesslog_init(&a, -1, mem, 64 << 10);
	proxy_accesslog_init(&b, -1, mem2, 64 << 10);
	proxy_accesslog_share(&a, ctr);
	proxy_accesslog_share(&b, ctr);
	proxy_accesslog_add(&a, &e);
	proxy_accesslog_add(&b, &e);
	proxy_accesslog_add(&a, &e);
	CHECK_EQ_INT(*ctr, 3);
	CHECK_EQ_INT(a.requests, 3); /* the number of a's last request: the node's third */
	CHECK_EQ_INT(b.requests, 2);
	CHECK_EQ_INT(proxy_accesslog_count(&b), 4);
	/* NULL: private again, from where this log stands */
	proxy_accesslog_share(&b, NULL);
	proxy_accesslog_add(&b, &e);
	CHECK_EQ_INT(b.requests, 5);
	CHECK_EQ_INT(*ctr, 4);

	/* two processes (like two workers) adding at the same time */
	*ctr = 0;
	enum { PER = 1500 };
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	proxy_accesslog_init(&a, fd, pid == 0 ? mem2 : mem, 64 << 10);
	proxy_accesslog_share(&a, ctr);
	for (int i = 0; i < PER; i++)
		proxy_accesslog_add(&a, &e);
	proxy_accesslog_flush(&a);
	if (pid == 0)
		_exit(a.lines == PER && a.dropped == 0 ? 0 : 1);
	int status = -1;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ_INT(a.dropped, 0);
	CHECK_EQ_INT(*ctr, 2 * PER);
	static unsigned char seen[2 * PER + 1];
	memset(seen, 0, sizeof seen);
	CHECK_EQ_INT(accesslog_counts(fd, seen, 2 * PER), 2 * PER);
	int once = 0;
	for (int v = 1; v <= 2 * PER; v++)
		once += seen[v] == 1;
	CHECK_EQ_INT(once, 2 * PER); /* 1..2*PER, no repeat, no gap */

	close(fd);
	free(mem);
	free(mem2);
	munmap(ctr, 64);
}

/* ---- framing ------------------------------------------------------------------------------------
 */

struct fr {
	struct proxy_bslot *slot;
	struct proxy_stream s;
	struct http_limits lim;
};

static void fr_init(struct fr *f, const char *bytes, uint8_t mode, uint64_t len)
{
	f->slot = calloc(1, sizeof *f->slot + 4096);
	memset(&f->s, 0, sizeof f->s);
	f->s.slot = f->slot;
	f->s.b = (uint8_t *)f->slot + sizeof *f->slot;
	f->s.cap = 4096;
	size_t n = strlen(bytes);
	memcpy(f->s.b, bytes, n);
	proxy_stream_body(&f->s, mode, len);
	http_limits_default(&f->lim);
	(void)n;
}

/* Feed bytes [0, n) in pieces of `step`; returns the framing result. */
static int fr_feed(struct fr *f, size_t n, size_t step)
{
	int rc = 0;
	while (f->s.end < n && rc == 0) {
		size_t k = n - f->s.end < step ? n - f->s.end : step;
		f->s.end += (uint32_t)k;
		rc = proxy_stream_frame(&f->s, &f->lim);
	}
	return rc;
}

static void framing_length(void)
{
	const char *in = "hello world, then the next message";
	for (size_t step = 1; step <= 40; step++) {
		struct fr f;
		fr_init(&f, in, PM_LENGTH, 11);
		CHECK_EQ_INT(fr_feed(&f, strlen(in), step), 0);
		CHECK(f.s.done);
		CHECK_EQ_INT(f.s.ready, 11);
		CHECK_EQ_INT(f.s.parse, 11); /* the rest is the next message, untouched */
		CHECK_EQ_INT(f.s.body, 11);
		free(f.slot);
	}
	struct fr f;
	fr_init(&f, "", PM_LENGTH, 0);
	CHECK(f.s.done);
	free(f.slot);
	fr_init(&f, "", PM_NONE, 0);
	CHECK(f.s.done);
	free(f.slot);
}

static void framing_chunked_pass_and_dechunk(void)
{
	const char *in = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
	size_t whole = strlen(in) - 4;
	for (size_t step = 1; step <= strlen(in); step++) {
		struct fr f;
		fr_init(&f, in, PM_CHUNKED, 0);
		CHECK_EQ_INT(fr_feed(&f, strlen(in), step), 0);
		CHECK(f.s.done);
		CHECK_EQ_INT(f.s.ready, whole); /* forwarded byte for byte, trailer included */
		CHECK_EQ_INT(f.s.parse, whole);
		CHECK_EQ_INT(f.s.body, 11);
		free(f.slot);
		fr_init(&f, in, PM_DECHUNK, 0);
		CHECK_EQ_INT(fr_feed(&f, strlen(in), step), 0);
		CHECK(f.s.done);
		CHECK_EQ_MEM(f.s.b, f.s.ready, "hello world"); /* moved down in place */
		CHECK_EQ_INT(f.s.parse, whole);
		free(f.slot);
	}
}

static void framing_errors(void)
{
	struct fr f;
	fr_init(&f, "zz\r\n", PM_CHUNKED, 0);
	CHECK_EQ_INT(fr_feed(&f, 4, 4), -ERR_HTTP_BAD_CHUNK);
	free(f.slot);
	fr_init(&f, "5\nhello", PM_CHUNKED, 0); /* bare LF */
	CHECK_EQ_INT(fr_feed(&f, 7, 7), -ERR_HTTP_BAD_CHUNK);
	free(f.slot);
	fr_init(&f, "ff\r\n", PM_CHUNKED, 0);
	f.lim.max_body = 100;
	CHECK_EQ_INT(fr_feed(&f, 4, 4), -ERR_HTTP_BODY_TOO_LARGE);
	free(f.slot);
	/* close-delimited: everything is body, done only at EOF (by the engine) */
	fr_init(&f, "abcdef", PM_CLOSE, 0);
	CHECK_EQ_INT(fr_feed(&f, 6, 2), 0);
	CHECK(!f.s.done);
	CHECK_EQ_INT(f.s.ready, 6);
	free(f.slot);
}

static void engine_create_refuses_bad_limits(void)
{
	struct proxy_dp_limits lim;
	proxy_dp_limits_default(&lim);
	lim.idle_timeout_ms = 0;
	struct loop l;
	struct loop_config lc = {.max_fds = 8, .max_timers = 8, .max_events = 8};
	REQUIRE(loop_init(&l, &lc) == 0);
	struct proxy_engine_config cfg = {.loop = &l, .lim = &lim, .access_log_fd = -1};
	struct proxy_engine *e = NULL;
	char msg[160];
	CHECK_EQ_INT(proxy_engine_create(&cfg, &e, msg, sizeof msg), -ERR_PROXY_LIMITS);
	CHECK(e == NULL);
	CHECK(strstr(msg, "idle_timeout_ms") != NULL);
	loop_fini(&l);
}

static void engine_load_refuses_bad_documents(void)
{
	struct proxy_dp_limits lim;
	proxy_dp_limits_default(&lim);
	lim.max_conns = lim.max_tls_conns = 8;
	lim.max_upstream_conns = 8;
	lim.max_bufs = 8;
	lim.max_large_bufs = 1;
	lim.table.max_frontends = lim.table.max_backends = 4;
	lim.table.max_servers = lim.table.max_routes = 4;
	lim.table.max_tokens = 512;
	lim.table.max_doc_bytes = 8192;
	lim.table.max_matchers = lim.table.max_list_items = 64;
	lim.table.max_regex_insts = 256;
	lim.table.max_certs = 2;
	lim.table.max_cert_bytes = 8192;
	struct loop l;
	struct loop_config lc = {.max_fds = 64, .max_timers = 64, .max_events = 8};
	REQUIRE(loop_init(&l, &lc) == 0);
	struct proxy_engine_config cfg = {.loop = &l, .lim = &lim, .access_log_fd = -1};
	struct proxy_engine *e = NULL;
	char msg[256];
	REQUIRE(proxy_engine_create(&cfg, &e, msg, sizeof msg) == 0);
	const char *bad = "{\"version\":1,\"revision\":1,\"frontends\":{\"f\":{\"backend\":\"x\","
			  "\"routes\":{\"r\":{\"rule\":\"Path:/\"}}}}}";
	CHECK(proxy_engine_load(e, bad, strlen(bad), msg, sizeof msg) < 0);
	CHECK(msg[0] != 0);
	CHECK(proxy_engine_load(e, "{", 1, msg, sizeof msg) < 0);
	struct proxy_engine_stats st;
	proxy_engine_get_stats(e, &st);
	CHECK_EQ_INT(st.swap_failures, 2);
	CHECK_EQ_INT(st.tables_alive, 0);
	CHECK_EQ_INT(st.listeners, 0);
	const char *empty = "{\"version\":1,\"revision\":1}";
	CHECK_EQ_INT(proxy_engine_load(e, empty, strlen(empty), msg, sizeof msg), 0);
	CHECK_EQ_INT(proxy_engine_load(e, empty, strlen(empty), msg, sizeof msg), 0);
	proxy_engine_get_stats(e, &st);
	CHECK_EQ_INT(st.tables_alive, 1); /* the replaced table had no user: freed at once */
	/* the features' counters start at 0 and appear in the text from the start */
	CHECK_EQ_INT(st.rl_limited, 0);
	CHECK_EQ_INT(st.cb_trips, 0);
	CHECK_EQ_INT(st.cb_tripped, 0);
	CHECK_EQ_INT(st.gz_responses + st.gz_pool_full, 0);
	CHECK_EQ_INT(st.pp_ok + st.pp_malformed, 0);
	CHECK_EQ_INT(st.conns_proxyhdr, 0);
	char text[8192];
	struct buf b;
	buf_init(&b, text, sizeof text - 1);
	CHECK_EQ_INT(proxy_engine_metrics_text(e, &b), 0);
	text[b.len] = 0;
	CHECK(strstr(text, "traefik_config_reloads_total 2") != NULL);
	CHECK(strstr(text, "traefik_config_reloads_failure_total 2") != NULL);
	CHECK(strstr(text, "\ntraefikee_ratelimit_rejected_total 0\n") != NULL);
	CHECK(strstr(text, "\ntraefikee_compress_responses_total{result=\"pool_full\"} 0\n") !=
	      NULL);
	CHECK(strstr(text, "traefikee_breaker_trips_total") == NULL); /* no breaker, no series */
	proxy_engine_destroy(e);
	loop_fini(&l);
}

TEST_MAIN(limits_defaults_valid, limits_set_by_name, limits_tls_session_cache_bounds,
	  limits_new_counts_bounds, limits_durations, limits_check_refuses, limits_memory_table,
	  metrics_names_and_removal, metrics_series_cap, metrics_render_text,
	  metrics_label_escaping, accesslog_common_format, accesslog_batches_and_drops,
	  accesslog_shared_count, framing_length, framing_chunked_pass_and_dechunk, framing_errors,
	  engine_create_refuses_bad_limits, engine_load_refuses_bad_documents)
