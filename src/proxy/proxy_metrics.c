/* proxy_metrics.c — see proxy_metrics.h. */
#include "proxy/proxy_metrics.h"

#include "base/base_err.h"

#include <stdalign.h>
#include <stddef.h>
#include <string.h>

enum fam {               /* < 16: proxy_metrics.hint */
	   F_EP_REQ = 1, /* counter + histogram */
	   F_FE_REQ,     /* counter */
	   F_BE_REQ,     /* counter + histogram */
	   F_EP_OPEN,    /* gauge */
	   F_BE_OPEN,    /* gauge */
	   F_BE_RETRY,   /* counter */
	   F_BE_UP,      /* gauge, name2 = url */
	   F_BE_CB_TRIP, /* counter: traefikee_breaker_trips_total */
};

static const uint64_t bucket_us[PROXY_METRIC_BUCKETS] = {100000, 300000, 1200000, 5000000};
static const char *const bucket_le[PROXY_METRIC_BUCKETS] = {"0.1", "0.3", "1.2", "5"};

static uint32_t table_size(uint32_t max_series)
{
	uint32_t n = 16;
	while (n < 2 * (uint64_t)max_series)
		n <<= 1;
	return n;
}

size_t proxy_metrics_size(uint32_t max_series, uint32_t max_names)
{
	size_t a = (sizeof(struct proxy_metrics) + 63) / 64 * 64;
	a += (size_t)max_names * sizeof(struct proxy_metric_name);
	a = (a + 63) / 64 * 64;
	a += (size_t)table_size(max_series) * sizeof(struct proxy_metric_series);
	return a;
}

static struct proxy_metrics *metrics_carve(void *mem, size_t size, uint32_t max_series,
					   uint32_t max_names, bool zeroed)
{
	if (!mem || max_series == 0 || max_names == 0 || max_series > (1u << 24) ||
	    max_names > (1u << 24) || size < proxy_metrics_size(max_series, max_names))
		return NULL;
	if (zeroed)
		memset(mem, 0, sizeof(struct proxy_metrics));
	else
		memset(mem, 0, proxy_metrics_size(max_series, max_names));
	struct proxy_metrics *m = mem;
	unsigned char *p = mem;
	size_t off = (sizeof *m + 63) / 64 * 64;
	m->names = (struct proxy_metric_name *)(void *)(p + off);
	off += (size_t)max_names * sizeof(struct proxy_metric_name);
	off = (off + 63) / 64 * 64;
	m->series = (struct proxy_metric_series *)(void *)(p + off);
	m->max_names = max_names;
	m->max_series = max_series;
	m->mask = table_size(max_series) - 1;
	return m;
}

struct proxy_metrics *proxy_metrics_init(void *mem, size_t size, uint32_t max_series,
					 uint32_t max_names)
{
	return metrics_carve(mem, size, max_series, max_names, false);
}

struct proxy_metrics *proxy_metrics_init_zeroed(void *mem, size_t size, uint32_t max_series,
						uint32_t max_names)
{
	return metrics_carve(mem, size, max_series, max_names, true);
}

int proxy_metrics_name_get(struct proxy_metrics *m, enum proxy_metric_kind kind, struct slice name)
{
	size_t len = name.len < PROXY_METRIC_NAME_MAX ? name.len : PROXY_METRIC_NAME_MAX - 1;
	int free_slot = -1;
	for (uint32_t i = 0; i < m->max_names; i++) {
		struct proxy_metric_name *n = &m->names[i];
		if (!n->refs) {
			if (free_slot < 0)
				free_slot = (int)i;
			continue;
		}
		if (n->kind == kind && n->len == len && memcmp(n->s, name.p, len) == 0) {
			n->refs++;
			return (int)i;
		}
	}
	if (free_slot < 0)
		return -ERR_PROXY_METRICS_FULL;
	struct proxy_metric_name *n = &m->names[free_slot];
	n->refs = 1;
	n->kind = (uint8_t)kind;
	n->len = (uint8_t)len;
	memcpy(n->s, name.p, len);
	n->s[len] = 0;
	return free_slot;
}

static uint32_t series_hash(uint8_t fam, uint32_t name, uint32_t name2, uint16_t code,
			    uint8_t method, uint8_t proto)
{
	uint64_t k = ((uint64_t)name << 32) ^ ((uint64_t)name2 << 48) ^ ((uint64_t)code << 16) ^
		     ((uint64_t)method << 8) ^ proto ^ ((uint64_t)fam << 28);
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return (uint32_t)k;
}

/* series_get after the hint missed: hash and probe (n1, n2: name indexes + 1, 0 for none).
 * Kept out of line so the hint test in series_get stays a small function. */
static __attribute__((noinline)) struct proxy_metric_series *
series_find(struct proxy_metrics *m, uint8_t fam, uint32_t n1, uint32_t n2, uint16_t c,
	    uint8_t method, uint8_t proto)
{
	uint32_t i = series_hash(fam, n1, n2, c, method, proto) & m->mask;
	for (;;) {
		struct proxy_metric_series *s = &m->series[i];
		m->hint[fam] = i;
		if (!s->name) {
			if (m->nseries >= m->max_series) {
				m->dropped++;
				return NULL;
			}
			s->name = n1;
			s->name2 = n2;
			s->code = c;
			s->family = fam;
			s->method = method;
			s->proto = proto;
			m->nseries++;
			return s;
		}
		if (s->name == n1 && s->name2 == n2 && s->code == c && s->family == fam &&
		    s->method == method && s->proto == proto)
			return s;
		i = (i + 1) & m->mask;
	}
}

/* Find or create a series; NULL when the table is full (counted in dropped). The family's
 * last slot is tried first: a request looks up the same few series again and again. */
static struct proxy_metric_series *series_get(struct proxy_metrics *m, uint8_t fam, int name,
					      int name2, int code, uint8_t method, uint8_t proto)
{
	uint32_t n1 = (uint32_t)name + 1, n2 = name2 >= 0 ? (uint32_t)name2 + 1 : 0;
	uint16_t c = (uint16_t)code;
	struct proxy_metric_series *s = &m->series[m->hint[fam] & m->mask];
	if (s->name == n1 && s->name2 == n2 && s->code == c && s->family == fam &&
	    s->method == method && s->proto == proto)
		return s;
	return series_find(m, fam, n1, n2, c, method, proto);
}

/* Backward-shift deletion (linear probing): keeps every probe chain unbroken. */
static void series_delete(struct proxy_metrics *m, uint32_t i)
{
	uint32_t j = i;
	for (;;) {
		memset(&m->series[i], 0, sizeof m->series[i]);
		for (;;) {
			j = (j + 1) & m->mask;
			struct proxy_metric_series *s = &m->series[j];
			if (!s->name)
				return;
			uint32_t h = series_hash(s->family, s->name, s->name2, s->code, s->method,
						 s->proto) &
				     m->mask;
			/* s may move to i when its home h is not cyclically in (i, j]. */
			bool in = i <= j ? (h > i && h <= j) : (h > i || h <= j);
			if (!in)
				break;
		}
		m->series[i] = m->series[j];
		i = j;
	}
}

void proxy_metrics_name_put(struct proxy_metrics *m, int id)
{
	if (id < 0 || (uint32_t)id >= m->max_names || !m->names[id].refs)
		return;
	if (--m->names[id].refs)
		return;
	uint32_t key = (uint32_t)id + 1;
	for (uint32_t i = 0; i <= m->mask;) {
		struct proxy_metric_series *s = &m->series[i];
		if (s->name && (s->name == key || s->name2 == key)) {
			series_delete(m, i);
			m->nseries--;
			continue; /* slot i now holds a shifted entry: look again */
		}
		i++;
	}
	memset(&m->names[id], 0, sizeof m->names[id]);
}

static void observe(struct proxy_metric_series *s, uint64_t us)
{
	s->count++;
	s->sum_us += us;
	for (int b = 0; b < PROXY_METRIC_BUCKETS; b++)
		if (us <= bucket_us[b])
			s->bucket[b]++;
}

void proxy_metrics_request(struct proxy_metrics *m, int ep, int fe, int be, int code,
			   enum http_method method, enum proxy_proto proto, uint64_t duration_us)
{
	struct proxy_metric_series *s;
	if (ep >= 0 && (s = series_get(m, F_EP_REQ, ep, -1, code, (uint8_t)method, (uint8_t)proto)))
		observe(s, duration_us);
	if (fe >= 0 && (s = series_get(m, F_FE_REQ, fe, -1, code, (uint8_t)method, (uint8_t)proto)))
		s->count++;
	if (be >= 0 && (s = series_get(m, F_BE_REQ, be, -1, code, (uint8_t)method, (uint8_t)proto)))
		observe(s, duration_us);
}

void proxy_metrics_open(struct proxy_metrics *m, int ep, int be, enum http_method method,
			enum proxy_proto proto, int delta)
{
	struct proxy_metric_series *s;
	if (ep >= 0 && (s = series_get(m, F_EP_OPEN, ep, -1, 0, (uint8_t)method, (uint8_t)proto)))
		s->gauge += delta;
	if (be >= 0 && (s = series_get(m, F_BE_OPEN, be, -1, 0, (uint8_t)method, (uint8_t)proto)))
		s->gauge += delta;
}

void proxy_metrics_server_up(struct proxy_metrics *m, int be, int url, bool up)
{
	struct proxy_metric_series *s;
	if (be >= 0 && url >= 0 && (s = series_get(m, F_BE_UP, be, url, 0, 0, 0)))
		s->gauge = up ? 1 : 0;
}

void proxy_metrics_retry(struct proxy_metrics *m, int be)
{
	struct proxy_metric_series *s;
	if (be >= 0 && (s = series_get(m, F_BE_RETRY, be, -1, 0, 0, 0)))
		s->count++;
}

void proxy_metrics_breaker(struct proxy_metrics *m, int be, bool trip)
{
	struct proxy_metric_series *s;
	if (trip)
		m->eng.cb_trips++;
	if (be >= 0 && (s = series_get(m, F_BE_CB_TRIP, be, -1, 0, 0, 0)) && trip)
		s->count++;
}

void proxy_metrics_reload(struct proxy_metrics *m, bool ok, int64_t unix_s)
{
	if (ok) {
		m->reloads++;
		m->last_reload_success = unix_s;
	} else {
		m->reload_failures++;
		m->last_reload_failure = unix_s;
	}
}

/* Rendering ---------------------------------------------------------------------------- */

static const char *method_name(uint8_t m)
{
	static const char *const names[] = {"OTHER",  "GET",     "HEAD",    "POST",  "PUT",
					    "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
	return m < sizeof names / sizeof names[0] ? names[m] : "OTHER";
}

static const char *proto_name(uint8_t p)
{
	return p == PROXY_PROTO_WEBSOCKET ? "websocket" : p == PROXY_PROTO_SSE ? "sse" : "http";
}

static const struct proxy_metric_name *name_of(const struct proxy_metrics *m, uint32_t key)
{
	return key ? &m->names[key - 1] : NULL;
}

/* Index + 1 of the name (kind, s) in m, or 0. */
static uint32_t find_name(const struct proxy_metrics *m, const struct proxy_metric_name *n)
{
	for (uint32_t i = 0; i < m->max_names; i++) {
		const struct proxy_metric_name *x = &m->names[i];
		if (x->refs && x->kind == n->kind && x->len == n->len &&
		    memcmp(x->s, n->s, n->len) == 0)
			return i + 1;
	}
	return 0;
}

/* The series of part q with the same labels as s of part p, or NULL. */
static const struct proxy_metric_series *same_in(const struct proxy_metrics *q,
						 const struct proxy_metrics *p,
						 const struct proxy_metric_series *s)
{
	if (q == p)
		return s;
	uint32_t n1 = find_name(q, name_of(p, s->name));
	if (!n1)
		return NULL;
	uint32_t n2 = 0;
	if (s->name2 && !(n2 = find_name(q, name_of(p, s->name2))))
		return NULL;
	uint32_t i = series_hash(s->family, n1, n2, s->code, s->method, s->proto) & q->mask;
	for (;;) {
		const struct proxy_metric_series *x = &q->series[i];
		if (!x->name)
			return NULL;
		if (x->name == n1 && x->name2 == n2 && x->code == s->code &&
		    x->family == s->family && x->method == s->method && x->proto == s->proto)
			return x;
		i = (i + 1) & q->mask;
	}
}

struct fam_desc {
	uint8_t fam;
	const char *name;
	const char *type;
	const char *help;
	const char *label; /* label of the name */
	bool histogram;    /* render the duration histogram of the same series instead */
};

static const struct fam_desc fams[] = {
	{F_EP_REQ, "traefik_entrypoint_requests_total", "counter",
	 "How many HTTP requests processed on an entrypoint, partitioned by status code, protocol, "
	 "and method.",
	 "entrypoint", false},
	{F_EP_REQ, "traefik_entrypoint_request_duration_seconds", "histogram",
	 "How long it took to process the request on an entrypoint, partitioned by status code, "
	 "protocol, and method.",
	 "entrypoint", true},
	{F_EP_OPEN, "traefik_entrypoint_open_connections", "gauge",
	 "How many open connections exist on an entrypoint, partitioned by method and protocol.",
	 "entrypoint", false},
	{F_FE_REQ, "traefik_frontend_requests_total", "counter",
	 "How many HTTP requests a frontend routed, partitioned by status code, protocol, and "
	 "method.",
	 "frontend", false},
	{F_BE_REQ, "traefik_backend_requests_total", "counter",
	 "How many HTTP requests processed on a backend, partitioned by status code, protocol, and "
	 "method.",
	 "backend", false},
	{F_BE_REQ, "traefik_backend_request_duration_seconds", "histogram",
	 "How long it took to process the request on a backend, partitioned by status code, "
	 "protocol, and method.",
	 "backend", true},
	{F_BE_OPEN, "traefik_backend_open_connections", "gauge",
	 "How many open connections exist on a backend, partitioned by method and protocol.",
	 "backend", false},
	{F_BE_RETRY, "traefik_backend_retries_total", "counter",
	 "How many request retries happened on a backend.", "backend", false},
	{F_BE_UP, "traefik_backend_server_up", "gauge",
	 "Backend server is up, described by gauge value of 0 or 1.", "backend", false},
	{F_BE_CB_TRIP, "traefikee_breaker_trips_total", "counter",
	 "How many times a backend's circuit breaker tripped.", "backend", false},
};

/* The engine-wide counters (struct proxy_metrics_eng), by family and result label. */
struct eng_desc {
	const char *name;
	const char *help;
	const char *result; /* NULL: no label */
	size_t off;         /* offsetof(struct proxy_metrics_eng, ...) */
};

static const struct eng_desc engs[] = {
	{"traefikee_ratelimit_rejected_total",
	 "How many requests a frontend's rateLimit answered with 429.", NULL,
	 offsetof(struct proxy_metrics_eng, rl_rejected)},
	{"traefikee_compress_responses_total",
	 "How many responses a compress entry point sent gzip-compressed (gzip) or left "
	 "uncompressed because max_gzip_streams were in use (pool_full).",
	 "gzip", offsetof(struct proxy_metrics_eng, gz_responses)},
	{"traefikee_compress_responses_total", NULL, "pool_full",
	 offsetof(struct proxy_metrics_eng, gz_pool_full)},
	{"traefikee_proxyprotocol_headers_total",
	 "How many PROXY protocol headers were consumed (ok) or refused, closing the connection "
	 "(malformed).",
	 "ok", offsetof(struct proxy_metrics_eng, pp_ok)},
	{"traefikee_proxyprotocol_headers_total", NULL, "malformed",
	 offsetof(struct proxy_metrics_eng, pp_malformed)},
};

static uint64_t eng_get(const struct proxy_metrics *m, const struct eng_desc *d)
{
	uint64_t v;
	memcpy(&v, (const unsigned char *)&m->eng + d->off, sizeof v);
	return v;
}

static int render_eng(const struct proxy_metrics *const *parts, size_t n, struct buf *b)
{
	int rc = 0;
	for (size_t i = 0; i < sizeof engs / sizeof engs[0] && !rc; i++) {
		const struct eng_desc *d = &engs[i];
		uint64_t v = 0;
		for (size_t p = 0; p < n; p++)
			v += eng_get(parts[p], d);
		if (d->help)
			rc = buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", d->name, d->help,
					d->name);
		if (!rc && d->result)
			rc = buf_printf(b, "%s{result=\"%s\"} %llu\n", d->name, d->result,
					(unsigned long long)v);
		else if (!rc)
			rc = buf_printf(b, "%s %llu\n", d->name, (unsigned long long)v);
	}
	return rc;
}

/* Label values are names from the routing document: escape \, " and newline. */
static int put_label(struct buf *b, const char *key, const char *v, size_t len)
{
	int rc = buf_printf(b, "%s=\"", key);
	for (size_t i = 0; !rc && i < len; i++) {
		char c = v[i];
		if (c == '\\' || c == '"')
			rc = buf_printf(b, "\\%c", c);
		else if (c == '\n')
			rc = buf_append_cstr(b, "\\n");
		else
			rc = buf_append_byte(b, (uint8_t)c);
	}
	return rc ? rc : buf_append_byte(b, '"');
}

static int put_labels(struct buf *b, const struct fam_desc *f, const struct proxy_metrics *m,
		      const struct proxy_metric_series *s, const char *le)
{
	const struct proxy_metric_name *n = name_of(m, s->name);
	int rc = buf_append_byte(b, '{');
	bool gauge_open = s->family == F_EP_OPEN || s->family == F_BE_OPEN;
	bool req = s->family == F_EP_REQ || s->family == F_FE_REQ || s->family == F_BE_REQ;
	if (!rc && req)
		rc = buf_printf(b, "code=\"%u\",", s->code);
	if (!rc && (req || gauge_open))
		rc = buf_printf(b, "method=\"%s\",protocol=\"%s\",", method_name(s->method),
				proto_name(s->proto));
	if (!rc)
		rc = put_label(b, f->label, n->s, n->len);
	if (!rc && s->family == F_BE_UP) {
		const struct proxy_metric_name *u = name_of(m, s->name2);
		rc = buf_append_byte(b, ',');
		if (!rc)
			rc = put_label(b, "url", u->s, u->len);
	}
	if (!rc && le)
		rc = buf_printf(b, ",le=\"%s\"", le);
	return rc ? rc : buf_append_byte(b, '}');
}

static int render_family(const struct proxy_metrics *const *parts, size_t n, struct buf *b,
			 const struct fam_desc *f)
{
	bool header = false;
	int rc = 0;
	for (size_t p = 0; p < n && !rc; p++) {
		const struct proxy_metrics *m = parts[p];
		for (uint32_t i = 0; i <= m->mask && !rc; i++) {
			const struct proxy_metric_series *s = &m->series[i];
			if (!s->name || s->family != f->fam)
				continue;
			bool seen = false;
			for (size_t q = 0; q < p && !seen; q++)
				seen = same_in(parts[q], m, s) != NULL;
			if (seen)
				continue;
			uint64_t count = 0, sum = 0, bk[PROXY_METRIC_BUCKETS] = {0};
			int64_t gauge = 0;
			for (size_t q = p; q < n; q++) {
				const struct proxy_metric_series *x = same_in(parts[q], m, s);
				if (!x)
					continue;
				count += x->count;
				sum += x->sum_us;
				/* server_up is per worker (each probes): up if any says so */
				if (f->fam == F_BE_UP)
					gauge = x->gauge > gauge ? x->gauge : gauge;
				else
					gauge += x->gauge;
				for (int k = 0; k < PROXY_METRIC_BUCKETS; k++)
					bk[k] += x->bucket[k];
			}
			if (!header) {
				rc = buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help,
						f->name, f->type);
				header = true;
			}
			if (rc)
				break;
			if (f->histogram) {
				for (int k = 0; k < PROXY_METRIC_BUCKETS && !rc; k++) {
					rc = buf_printf(b, "%s_bucket", f->name);
					if (!rc)
						rc = put_labels(b, f, m, s, bucket_le[k]);
					if (!rc)
						rc = buf_printf(b, " %llu\n",
								(unsigned long long)bk[k]);
				}
				if (!rc)
					rc = buf_printf(b, "%s_bucket", f->name);
				if (!rc)
					rc = put_labels(b, f, m, s, "+Inf");
				if (!rc)
					rc = buf_printf(b, " %llu\n%s_sum",
							(unsigned long long)count, f->name);
				if (!rc)
					rc = put_labels(b, f, m, s, NULL);
				if (!rc)
					rc = buf_printf(b, " %.6f\n%s_count", (double)sum / 1e6,
							f->name);
				if (!rc)
					rc = put_labels(b, f, m, s, NULL);
				if (!rc)
					rc = buf_printf(b, " %llu\n", (unsigned long long)count);
			} else {
				rc = buf_append_cstr(b, f->name);
				if (!rc)
					rc = put_labels(b, f, m, s, NULL);
				bool is_gauge = f->type[0] == 'g';
				if (!rc)
					rc = is_gauge ? buf_printf(b, " %lld\n", (long long)gauge)
						      : buf_printf(b, " %llu\n",
								   (unsigned long long)count);
			}
		}
	}
	return rc;
}

int proxy_metrics_render(const struct proxy_metrics *const *parts, size_t n, struct buf *b)
{
	uint64_t reloads = 0, failures = 0;
	int64_t last_ok = 0, last_fail = 0;
	/* Every worker loads the same documents: the reload counters are the largest over the
	 * parts, not their sum (two workers applying one document is one reload). */
	for (size_t p = 0; p < n; p++) {
		if (parts[p]->reloads > reloads)
			reloads = parts[p]->reloads;
		if (parts[p]->reload_failures > failures)
			failures = parts[p]->reload_failures;
		if (parts[p]->last_reload_success > last_ok)
			last_ok = parts[p]->last_reload_success;
		if (parts[p]->last_reload_failure > last_fail)
			last_fail = parts[p]->last_reload_failure;
	}
	int rc = buf_printf(
		b,
		"# HELP traefik_config_reloads_total Config reloads\n"
		"# TYPE traefik_config_reloads_total counter\ntraefik_config_reloads_total %llu\n"
		"# HELP traefik_config_reloads_failure_total Config failure reloads\n"
		"# TYPE traefik_config_reloads_failure_total counter\n"
		"traefik_config_reloads_failure_total %llu\n"
		"# HELP traefik_config_last_reload_success Last config reload success\n"
		"# TYPE traefik_config_last_reload_success gauge\n"
		"traefik_config_last_reload_success %lld\n"
		"# HELP traefik_config_last_reload_failure Last config reload failure\n"
		"# TYPE traefik_config_last_reload_failure gauge\n"
		"traefik_config_last_reload_failure %lld\n",
		(unsigned long long)reloads, (unsigned long long)failures, (long long)last_ok,
		(long long)last_fail);
	for (size_t i = 0; i < sizeof fams / sizeof fams[0] && !rc; i++)
		rc = render_family(parts, n, b, &fams[i]);
	return rc ? rc : render_eng(parts, n, b);
}

int64_t proxy_metrics_value(const struct proxy_metrics *m, const char *family, const char *name,
			    int code)
{
	const struct fam_desc *f = NULL;
	for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++)
		if (strcmp(fams[i].name, family) == 0)
			f = &fams[i];
	if (!f) {
		bool known = false;
		int64_t v = 0;
		for (size_t i = 0; i < sizeof engs / sizeof engs[0]; i++) {
			if (strcmp(engs[i].name, family) != 0)
				continue;
			known = true;
			if (!name || (engs[i].result && strcmp(engs[i].result, name) == 0))
				v += (int64_t)eng_get(m, &engs[i]);
		}
		return known ? v : -1;
	}
	int64_t v = 0;
	for (uint32_t i = 0; i <= m->mask; i++) {
		const struct proxy_metric_series *s = &m->series[i];
		if (!s->name || s->family != f->fam)
			continue;
		if (code && s->code != code)
			continue;
		if (name && strcmp(name_of(m, s->name)->s, name) != 0)
			continue;
		v += f->type[0] == 'g' ? s->gauge : (int64_t)s->count;
	}
	return v;
}
