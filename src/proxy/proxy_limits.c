/* proxy_limits.c — see proxy_limits.h. */
#include "proxy/proxy_limits.h"

#include "base/base_err.h"
#include "proxy/proxy_healthboard.h"
#include "proxy/proxy_maxconn.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum lim_kind { LK_COUNT, LK_SIZE32, LK_SIZE64, LK_MS, LK_SIZET };

struct lim_field {
	const char *name;
	size_t off;
	uint8_t kind;
};

#define LF_(field, kind)                                              \
	{                                                             \
#field, offsetof(struct proxy_dp_limits, field), kind \
	}

static const struct lim_field lim_fields[] = {
	LF_(workers, LK_COUNT),
	LF_(max_conns, LK_COUNT),
	LF_(max_tls_conns, LK_COUNT),
	LF_(max_upstream_conns, LK_COUNT),
	LF_(max_upstream_tls_conns, LK_COUNT),
	LF_(max_idle_per_server, LK_COUNT),
	LF_(max_targets, LK_COUNT),
	LF_(max_bufs, LK_COUNT),
	LF_(buf_size, LK_SIZE32),
	LF_(max_large_bufs, LK_COUNT),
	LF_(max_tables, LK_COUNT),
	LF_(max_tls_generations, LK_COUNT),
	LF_(tls_session_cache, LK_SIZE32),
	LF_(max_health_checks, LK_COUNT),
	LF_(max_forward_auth, LK_COUNT),
	LF_(max_forward_auth_tls, LK_COUNT),
	LF_(max_gzip_streams, LK_COUNT),
	LF_(max_metric_series, LK_COUNT),
	LF_(max_metric_names, LK_COUNT),
	LF_(max_conn_keys, LK_COUNT),
	LF_(max_ratelimit_keys, LK_COUNT),
	LF_(max_line, LK_SIZE32),
	LF_(max_headers, LK_COUNT),
	LF_(max_header_bytes, LK_SIZE32),
	LF_(max_body, LK_SIZE64),
	LF_(connect_timeout_ms, LK_MS),
	LF_(response_header_timeout_ms, LK_MS),
	LF_(upstream_read_timeout_ms, LK_MS),
	LF_(idle_timeout_ms, LK_MS),
	LF_(client_header_timeout_ms, LK_MS),
	LF_(client_body_timeout_ms, LK_MS),
	LF_(send_timeout_ms, LK_MS),
	LF_(upstream_idle_timeout_ms, LK_MS),
	LF_(tunnel_timeout_ms, LK_MS),
	LF_(grace_timeout_ms, LK_MS),
	LF_(health_interval_ms, LK_MS),
	LF_(health_timeout_ms, LK_MS),
	/* routing table caps (proxy_config.h) */
	LF_(table.max_entrypoints, LK_COUNT),
	LF_(table.max_frontends, LK_COUNT),
	LF_(table.max_backends, LK_COUNT),
	LF_(table.max_servers, LK_COUNT),
	LF_(table.max_routes, LK_COUNT),
	LF_(table.max_rule_bytes, LK_SIZE32),
	LF_(table.max_matchers, LK_COUNT),
	LF_(table.max_regex_insts, LK_COUNT),
	LF_(table.max_certs, LK_COUNT),
	LF_(table.max_list_items, LK_COUNT),
	LF_(table.max_tokens, LK_COUNT),
	LF_(table.max_cert_bytes, LK_SIZET),
	LF_(table.max_doc_bytes, LK_SIZET),
};

void proxy_dp_limits_default(struct proxy_dp_limits *lim)
{
	memset(lim, 0, sizeof *lim);
	lim->workers = 1;
	lim->max_conns = 4096;
	lim->max_tls_conns = 1024;
	lim->max_upstream_conns = 4096;
	lim->max_upstream_tls_conns = 256;
	lim->max_idle_per_server = 1024;
	lim->max_targets = 1024;
	lim->max_bufs = 2048;
	lim->buf_size = 16384;
	lim->max_large_bufs = 64;
	lim->max_tables = 4;
	lim->max_tls_generations = 16;
	lim->tls_session_cache = 512u << 10;
	lim->max_health_checks = 256;
	lim->max_forward_auth = 256;
	lim->max_forward_auth_tls = 32;
	lim->max_gzip_streams = 32;
	lim->max_metric_series = 4096;
	lim->max_metric_names = 1024;
	lim->max_conn_keys = 4096;
	lim->max_ratelimit_keys = 16384;
	lim->max_line = 8192;
	lim->max_headers = 100;
	lim->max_header_bytes = 32768;
	lim->max_body = (uint64_t)1 << 30;
	lim->connect_timeout_ms = 5000;
	lim->response_header_timeout_ms = 60000;
	lim->upstream_read_timeout_ms = 60000;
	lim->idle_timeout_ms = 180000;
	lim->client_header_timeout_ms = 10000;
	lim->client_body_timeout_ms = 60000;
	lim->send_timeout_ms = 60000;
	lim->upstream_idle_timeout_ms = 90000;
	lim->tunnel_timeout_ms = 3600000;
	lim->grace_timeout_ms = 10000;
	lim->health_interval_ms = 30000;
	lim->health_timeout_ms = 5000;
	proxy_limits_default(&lim->table);
}

/* Compare a flag name with a field name, ignoring case, '_' , '-' and a trailing "_ms" on
 * the field (so "connect-timeout" names connect_timeout_ms). */
static int name_matches(const char *flag, const char *field)
{
	char a[64], b[64];
	size_t na = 0, nb = 0;
	for (const char *p = flag; *p && na < sizeof a - 1; p++)
		if (*p != '_' && *p != '-' && *p != '.')
			a[na++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	a[na] = 0;
	if (strncmp(field, "table.", 6) == 0)
		field += 6;
	for (const char *p = field; *p && nb < sizeof b - 1; p++)
		if (*p != '_')
			b[nb++] = *p;
	b[nb] = 0;
	if (strcmp(a, b) == 0)
		return 1;
	if (nb > 2 && b[nb - 2] == 'm' && b[nb - 1] == 's') {
		b[nb - 2] = 0;
		return strcmp(a, b) == 0;
	}
	return 0;
}

static int parse_u64(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;
	if (*s < '0' || *s > '9')
		return -ERR_PARSE;
	while (*s >= '0' && *s <= '9') {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERR_RANGE;
		v = v * 10 + d;
		s++;
	}
	*sp = s;
	*out = v;
	return 0;
}

int proxy_dp_duration_parse(const char *s, uint32_t *ms)
{
	if (!s || !*s)
		return -ERR_PARSE;
	const char *p = s;
	uint64_t v;
	int rc = parse_u64(&p, &v);
	if (rc)
		return rc;
	if (*p == 0) { /* plain milliseconds */
		if (v > UINT32_MAX)
			return -ERR_RANGE;
		*ms = (uint32_t)v;
		return 0;
	}
	/* Go syntax: sequence of <decimal>[.<frac>]<unit>; units ms s m h (us/ns rounded up). */
	double total = 0;
	p = s;
	while (*p) {
		double num = 0, scale = 1;
		int digits = 0;
		while (*p >= '0' && *p <= '9') {
			num = num * 10 + (*p++ - '0');
			digits++;
		}
		if (*p == '.') {
			p++;
			while (*p >= '0' && *p <= '9') {
				scale /= 10;
				num += (*p++ - '0') * scale;
				digits++;
			}
		}
		if (!digits)
			return -ERR_PARSE;
		double unit;
		if (strncmp(p, "ms", 2) == 0) {
			unit = 1;
			p += 2;
		} else if (strncmp(p, "us", 2) == 0 || strncmp(p, "µs", 3) == 0) {
			unit = 0.001;
			p += p[0] == 'u' ? 2 : 3;
		} else if (strncmp(p, "ns", 2) == 0) {
			unit = 0.000001;
			p += 2;
		} else if (*p == 's') {
			unit = 1000;
			p++;
		} else if (*p == 'm') {
			unit = 60000;
			p++;
		} else if (*p == 'h') {
			unit = 3600000;
			p++;
		} else {
			return -ERR_PARSE;
		}
		total += num * unit;
		if (total > (double)UINT32_MAX)
			return -ERR_RANGE;
	}
	uint64_t r = (uint64_t)total;
	if ((double)r < total)
		r++; /* round sub-millisecond parts up: a 500us timeout is not 0 */
	if (r > UINT32_MAX)
		return -ERR_RANGE;
	*ms = (uint32_t)r;
	return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
	const char *p = s;
	uint64_t v;
	int rc = parse_u64(&p, &v);
	if (rc)
		return rc;
	unsigned shift = 0;
	switch (*p) {
	case 0: break;
	case 'k':
	case 'K': shift = 10; break;
	case 'm':
	case 'M': shift = 20; break;
	case 'g':
	case 'G': shift = 30; break;
	default: return -ERR_PARSE;
	}
	if (*p && p[1] != 0 && !((p[1] == 'i' || p[1] == 'b' || p[1] == 'B') && p[2] == 0) &&
	    !(p[1] == 'i' && p[2] == 'B' && p[3] == 0))
		return -ERR_PARSE;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERR_RANGE;
	*out = v << shift;
	return 0;
}

int proxy_dp_limits_set(struct proxy_dp_limits *lim, const char *name, const char *value)
{
	if (!name || !value)
		return -ERR_INVAL;
	for (size_t i = 0; i < sizeof lim_fields / sizeof lim_fields[0]; i++) {
		const struct lim_field *f = &lim_fields[i];
		if (!name_matches(name, f->name))
			continue;
		unsigned char *base = (unsigned char *)lim + f->off;
		if (f->kind == LK_MS) {
			uint32_t ms;
			int rc = proxy_dp_duration_parse(value, &ms);
			if (rc)
				return rc;
			memcpy(base, &ms, sizeof ms);
			return 0;
		}
		uint64_t v;
		int rc;
		if (f->off == offsetof(struct proxy_dp_limits, workers) &&
		    strcmp(value, "auto") == 0) {
			long n = sysconf(_SC_NPROCESSORS_ONLN); /* one worker per online CPU */
			v = n < 1 ? 1 : n > 64 ? 64 : (uint64_t)n;
		} else if ((rc = parse_size(value, &v)) != 0) {
			return rc;
		}
		if (f->kind == LK_SIZE64) {
			memcpy(base, &v, sizeof v);
			return 0;
		}
		if (f->kind == LK_SIZET) {
			if (v > SIZE_MAX)
				return -ERR_RANGE;
			size_t vs = (size_t)v;
			memcpy(base, &vs, sizeof vs);
			return 0;
		}
		if (v > UINT32_MAX)
			return -ERR_RANGE;
		uint32_t v32 = (uint32_t)v;
		memcpy(base, &v32, sizeof v32);
		return 0;
	}
	return -ERR_NOTFOUND;
}

size_t proxy_dp_large_buf_size(const struct proxy_dp_limits *lim)
{
	size_t n = (size_t)lim->max_line + lim->max_header_bytes + 2 + PROXY_HEADROOM +
		   PROXY_HEAD_EXTRA;
	return (n + 4095) / 4096 * 4096;
}

int proxy_dp_limits_check(const struct proxy_dp_limits *lim, char *msg, size_t cap)
{
	for (size_t i = 0; i < sizeof lim_fields / sizeof lim_fields[0]; i++) {
		const struct lim_field *f = &lim_fields[i];
		const unsigned char *base = (const unsigned char *)lim + f->off;
		uint64_t v;
		if (f->kind == LK_SIZE64) {
			memcpy(&v, base, sizeof v);
		} else if (f->kind == LK_SIZET) {
			size_t vs;
			memcpy(&vs, base, sizeof vs);
			v = vs;
		} else {
			uint32_t v32;
			memcpy(&v32, base, sizeof v32);
			v = v32;
		}
		if (v == 0) {
			snprintf(msg, cap, "%s must be at least 1%s", f->name,
				 f->kind == LK_MS ? " ms (every timeout is finite)" : "");
			return -ERR_PROXY_LIMITS;
		}
	}
	if (lim->tls_session_cache < 4096 || lim->tls_session_cache > (64u << 20)) {
		snprintf(msg, cap, "tls_session_cache %u outside 4096 .. 67108864",
			 lim->tls_session_cache);
		return -ERR_PROXY_LIMITS;
	}
	if (lim->buf_size < 4096 || lim->buf_size > (1u << 20)) {
		snprintf(msg, cap, "buf_size %u outside 4096 .. 1048576", lim->buf_size);
		return -ERR_PROXY_LIMITS;
	}
	if ((uint64_t)lim->max_line + lim->max_header_bytes >= (1u << 27)) {
		snprintf(msg, cap, "max_line + max_header_bytes must stay under 2^27");
		return -ERR_PROXY_LIMITS;
	}
	if (lim->max_gzip_streams > 65536) {
		snprintf(msg, cap, "max_gzip_streams %u over 65536", lim->max_gzip_streams);
		return -ERR_PROXY_LIMITS;
	}
	if (lim->max_tls_conns > lim->max_conns) {
		snprintf(msg, cap, "max_tls_conns (%u) over max_conns (%u)", lim->max_tls_conns,
			 lim->max_conns);
		return -ERR_PROXY_LIMITS;
	}
	if (lim->max_bufs < 2) {
		snprintf(msg, cap, "max_bufs must be at least 2 (one per direction)");
		return -ERR_PROXY_LIMITS;
	}
	if (lim->table.max_entrypoints > PROXY_MAX_ENTRYPOINTS) {
		snprintf(msg, cap, "max_entrypoints over %d", PROXY_MAX_ENTRYPOINTS);
		return -ERR_PROXY_LIMITS;
	}
	if (lim->workers > 64) {
		snprintf(msg, cap, "workers %u over 64", lim->workers);
		return -ERR_PROXY_LIMITS;
	}
	if (lim->max_ratelimit_keys > (1u << 24)) {
		snprintf(msg, cap, "max_ratelimit_keys %u over 16777216", lim->max_ratelimit_keys);
		return -ERR_PROXY_LIMITS;
	}
	if (lim->workers > 1 && lim->max_conn_keys > PROXY_MC_MAX_KEYS) {
		snprintf(msg, cap, "max_conn_keys %u over %u with several workers",
			 lim->max_conn_keys, PROXY_MC_MAX_KEYS);
		return -ERR_PROXY_LIMITS;
	}
	if (lim->workers > 1 && lim->table.max_servers > PROXY_HB_MAX_SERVERS) {
		snprintf(msg, cap, "max_servers %u over %u with several workers (health board)",
			 lim->table.max_servers, PROXY_HB_MAX_SERVERS);
		return -ERR_PROXY_LIMITS;
	}
	if (lim->max_conns > (1u << 22) || lim->max_upstream_conns > (1u << 22)) {
		snprintf(msg, cap, "max_conns and max_upstream_conns are capped at 4194304");
		return -ERR_PROXY_LIMITS;
	}
	if (msg && cap)
		msg[0] = 0;
	return 0;
}

uint32_t proxy_dp_upstream_tls_cap(const struct proxy_dp_limits *lim)
{
	return lim->max_upstream_tls_conns < lim->max_upstream_conns ? lim->max_upstream_tls_conns
								     : lim->max_upstream_conns;
}

void proxy_dp_limits_memory(const struct proxy_dp_limits *lim, const struct proxy_mem_sizes *sz,
			    struct proxy_mem_report *r)
{
	memset(r, 0, sizeof *r);
	size_t fds = (size_t)lim->max_conns + lim->max_upstream_conns + lim->max_health_checks +
		     lim->max_forward_auth + 64;
	size_t timers = fds + lim->max_tables * 8 + 64;
	r->conns = (size_t)lim->max_conns * sz->conn;
	r->tls = (size_t)lim->max_tls_conns * sz->tls;
	r->upstreams = (size_t)lim->max_upstream_conns * sz->upstream;
	/* A TLS upstream connection is an upstream connection too: the smaller cap counts. */
	r->upstream_tls = (size_t)proxy_dp_upstream_tls_cap(lim) * sz->tls;
	r->bufs = (size_t)lim->max_bufs * (lim->buf_size + sz->buf_overhead);
	r->large_bufs =
		(size_t)lim->max_large_bufs * (proxy_dp_large_buf_size(lim) + sz->buf_overhead);
	r->targets = (size_t)lim->max_targets * sz->target;
	r->health = (size_t)lim->max_health_checks * sz->health;
	r->metrics = (size_t)lim->max_metric_series * sz->series +
		     (size_t)lim->max_metric_names * sz->name;
	r->loop = fds * sz->loop_fd + timers * sz->loop_timer;
	r->tables = (size_t)lim->max_tables * sz->table;
	r->tls_cfgs = (size_t)lim->max_tls_generations * sz->tls_cfg;
	r->reload = sz->reload;
	r->fixed = sz->fixed + proxy_dp_large_buf_size(lim);
	r->total = r->conns + r->tls + r->upstreams + r->upstream_tls + r->bufs + r->large_bufs +
		   r->targets + r->health + r->metrics + r->loop + r->tables + r->tls_cfgs +
		   r->reload + r->fixed;
	/* forward auth: the sub-requests, and TLS slots for https auth servers */
	r->fwdauth = (size_t)lim->max_forward_auth * sz->fwdauth +
		     (size_t)(lim->max_forward_auth_tls < lim->max_forward_auth
				      ? lim->max_forward_auth_tls
				      : lim->max_forward_auth) *
			     sz->tls;
	r->total += r->fwdauth;
	r->ratelimit = (size_t)lim->max_ratelimit_keys * sz->ratelimit;
	r->total += r->ratelimit;
	r->maxconn = sz->maxconn; /* one mapping for the node, shown as a worker's share */
	r->total += r->maxconn;
	r->healthboard = sz->healthboard; /* one mapping for the node, a worker's share */
	r->total += r->healthboard;
	r->gzip = (size_t)lim->max_gzip_streams * sz->gzip; /* compressor + output buffer each */
	r->total += r->gzip;
	r->per_idle_conn = sz->conn + sz->loop_fd + sz->loop_timer;
	r->per_busy_conn = r->per_idle_conn + 2 * ((size_t)lim->buf_size + sz->buf_overhead) +
			   sz->upstream + sz->loop_fd + sz->loop_timer;
}

static int line_size(struct buf *b, const char *what, size_t bytes, const char *why)
{
	return buf_printf(b, "  %-22s %12zu bytes  %8.1f MiB  %s\n", what, bytes,
			  (double)bytes / (1024.0 * 1024.0), why);
}

int proxy_dp_limits_format(const struct proxy_dp_limits *lim, const struct proxy_mem_report *r,
			   struct buf *b)
{
	size_t saved = b->len;
	char why[96];
	int rc = buf_printf(b, "proxy limits (per worker, %u worker%s):\n", lim->workers,
			    lim->workers == 1 ? "" : "s");
#define LINE_(what, bytes, ...)                              \
	do {                                                 \
		snprintf(why, sizeof why, __VA_ARGS__);      \
		if (!rc)                                     \
			rc = line_size(b, what, bytes, why); \
	} while (0)
	LINE_("client connections", r->conns, "max_conns %u", lim->max_conns);
	LINE_("TLS connections", r->tls, "max_tls_conns %u", lim->max_tls_conns);
	LINE_("upstream connections", r->upstreams, "max_upstream_conns %u",
	      lim->max_upstream_conns);
	LINE_("upstream TLS", r->upstream_tls, "max_upstream_tls_conns %u",
	      proxy_dp_upstream_tls_cap(lim));
	LINE_("streaming buffers", r->bufs, "max_bufs %u x buf_size %u", lim->max_bufs,
	      lim->buf_size);
	LINE_("large head buffers", r->large_bufs, "max_large_bufs %u x %zu", lim->max_large_bufs,
	      proxy_dp_large_buf_size(lim));
	LINE_("upstream addresses", r->targets, "max_targets %u", lim->max_targets);
	LINE_("health probes", r->health, "max_health_checks %u", lim->max_health_checks);
	LINE_("forward auth", r->fwdauth, "max_forward_auth %u, max_forward_auth_tls %u",
	      lim->max_forward_auth, lim->max_forward_auth_tls);
	LINE_("gzip streams", r->gzip, "max_gzip_streams %u", lim->max_gzip_streams);
	LINE_("rate limit buckets", r->ratelimit, "max_ratelimit_keys %u", lim->max_ratelimit_keys);
	if (lim->workers > 1)
		LINE_("maxConn counts", r->maxconn,
		      "max_conn_keys %u; the node's table / %u workers", lim->max_conn_keys,
		      lim->workers);
	if (lim->workers > 1)
		LINE_("health board", r->healthboard,
		      "max_servers %u; the node's board / %u workers", lim->table.max_servers,
		      lim->workers);
	LINE_("metrics", r->metrics, "max_metric_series %u, max_metric_names %u",
	      lim->max_metric_series, lim->max_metric_names);
	LINE_("event loop", r->loop, "fds and timers for the pools above");
	LINE_("routing tables", r->tables,
	      "max_tables %u x worst-case table (a loaded table takes its real size)",
	      lim->max_tables);
	LINE_("TLS configurations", r->tls_cfgs,
	      "max_tls_generations %u x worst case (a built one takes its real size)",
	      lim->max_tls_generations);
	LINE_("reload scratch", r->reload, "while a document loads (max_doc_bytes, max_tokens)");
	LINE_("fixed", r->fixed, "scratch head buffer, regexp workspace");
	LINE_("worst case", r->total, "per worker");
#undef LINE_
	if (!rc)
		rc = buf_printf(
			b,
			"  per idle keep-alive connection %zu bytes; per proxied request %zu "
			"bytes (+%zu with TLS)\n",
			r->per_idle_conn, r->per_busy_conn,
			r->tls / (lim->max_tls_conns ? lim->max_tls_conns : 1));
	if (!rc)
		rc = buf_printf(
			b,
			"  timeouts: connect %ums, response header %ums, upstream read %ums, idle "
			"%ums, client header %ums, client body %ums, send %ums, tunnel %ums\n",
			lim->connect_timeout_ms, lim->response_header_timeout_ms,
			lim->upstream_read_timeout_ms, lim->idle_timeout_ms,
			lim->client_header_timeout_ms, lim->client_body_timeout_ms,
			lim->send_timeout_ms, lim->tunnel_timeout_ms);
	if (rc)
		b->len = saved;
	return rc;
}
