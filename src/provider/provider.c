/* provider.c — provider flags, diagnostics, the shared throttle/de-duplication stage, back-off,
 * and the dispatch to the file, Consul and etcd watchers (see provider.h).
 */
#include "provider/provider.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base_err.h"
#include "provider/provider_consul.h"
#include "provider/provider_etcd.h"
#include "provider/provider_file.h"
#include "tls/tls.h"

int provider_fmt(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	return r;
}

/* Durations ---------------------------------------------------------------------------- */

/* Go time.ParseDuration: [-+]? ("0" | (number unit)+), number = digits [. digits] or . digits,
 * unit = ns us µs μs ms s m h. ns gets the value in nanoseconds (saturating). */
static bool parse_duration_ns(struct slice s, bool *neg, uint64_t *ns)
{
	size_t i = 0;
	*neg = false;
	*ns = 0;
	if (i < s.len && (s.p[i] == '-' || s.p[i] == '+')) {
		*neg = s.p[i] == '-';
		i++;
	}
	if (i == s.len)
		return false;
	if (s.len - i == 1 && s.p[i] == '0')
		return true;
	uint64_t total = 0;
	while (i < s.len) {
		uint64_t ip = 0, frac = 0, scale = 1;
		size_t d0 = i, digits = 0;
		while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9') {
			if (ip < UINT64_MAX / 100)
				ip = ip * 10 + (uint64_t)(s.p[i] - '0');
			i++;
			digits++;
		}
		if (i < s.len && s.p[i] == '.') {
			i++;
			while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9') {
				if (scale < 1000000000000ull) {
					frac = frac * 10 + (uint64_t)(s.p[i] - '0');
					scale *= 10;
				}
				i++;
				digits++;
			}
		}
		if (!digits || i == d0)
			return false;
		static const struct {
			const char *u;
			uint64_t ns;
		} units[] = {{"ns", 1},
			     {"us", 1000},
			     {"\xc2\xb5s", 1000},
			     {"\xce\xbcs", 1000},
			     {"ms", 1000000},
			     {"s", 1000000000ull},
			     {"m", 60000000000ull},
			     {"h", 3600000000000ull}};
		size_t best = 0, bl = 0;
		for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
			size_t ul = strlen(units[u].u);
			if (ul > bl && s.len - i >= ul && memcmp(s.p + i, units[u].u, ul) == 0) {
				best = u;
				bl = ul;
			}
		}
		if (!bl)
			return false;
		i += bl;
		uint64_t un = units[best].ns;
		uint64_t v = ip > UINT64_MAX / un ? UINT64_MAX : ip * un;
		v += frac * un / scale;
		total = total > UINT64_MAX - v ? UINT64_MAX : total + v;
	}
	*ns = total;
	return true;
}

bool provider_duration_ok(struct slice s)
{
	bool neg;
	uint64_t ns;
	return parse_duration_ns(s, &neg, &ns);
}

int provider_parse_duration_ms(struct slice s, uint64_t *ms)
{
	bool neg;
	uint64_t ns;
	if (!parse_duration_ns(slice_trim_ows(s), &neg, &ns) || (neg && ns))
		return -ERR_PARSE;
	*ms = ns / 1000000;
	return 0;
}

/* Flags ------------------------------------------------------------------------------------ */

void provider_flags_default(struct provider_flags *f)
{
	memset(f, 0, sizeof *f);
	f->file_watch = true;
	strcpy(f->consul_endpoint, "127.0.0.1:8500");
	strcpy(f->consul_prefix, "traefik");
	strcpy(f->etcd_endpoint, "127.0.0.1:2379");
	strcpy(f->etcd_prefix, "/traefik");
	f->etcd_useapiv3 = true;
	f->throttle_ms = 2000;
}

static int set_bool(bool *b, const char *v)
{
	if (!v) {
		*b = true;
		return 0;
	}
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (int i = 0; i < 6; i++) {
		if (strcmp(v, t[i]) == 0) {
			*b = true;
			return 0;
		}
		if (strcmp(v, f[i]) == 0) {
			*b = false;
			return 0;
		}
	}
	return -ERR_USAGE;
}

static int set_str(char *dst, const char *v)
{
	if (!v)
		return -ERR_USAGE;
	size_t n = strlen(v);
	if (n >= PROVIDER_STR_MAX)
		return -ERR_BUF_FULL;
	memcpy(dst, v, n + 1);
	return 0;
}

static int set_tls(struct provider_tls_flags *t, const char *sub, const char *v)
{
	int rc = -ERR_NOTFOUND;
	if (strcasecmp(sub, "ca") == 0)
		rc = set_str(t->ca, v);
	else if (strcasecmp(sub, "cert") == 0)
		rc = set_str(t->cert, v);
	else if (strcasecmp(sub, "key") == 0)
		rc = set_str(t->key, v);
	else if (strcasecmp(sub, "insecureskipverify") == 0)
		rc = set_bool(&t->insecure_skip_verify, v);
	if (rc == 0)
		t->set = true;
	return rc;
}

int provider_flags_set(struct provider_flags *f, const char *name, const char *v)
{
	if (strcasecmp(name, "file") == 0)
		return set_bool(&f->file, v);
	if (strcasecmp(name, "file.filename") == 0)
		return set_str(f->file_filename, v);
	if (strcasecmp(name, "file.watch") == 0)
		return set_bool(&f->file_watch, v);
	if (strcasecmp(name, "consul") == 0)
		return set_bool(&f->consul, v);
	if (strcasecmp(name, "consul.endpoint") == 0)
		return set_str(f->consul_endpoint, v);
	if (strcasecmp(name, "consul.prefix") == 0)
		return set_str(f->consul_prefix, v);
	if (strcasecmp(name, "consul.token") == 0)
		return set_str(f->consul_token, v);
	if (strncasecmp(name, "consul.tls.", 11) == 0)
		return set_tls(&f->consul_tls, name + 11, v);
	if (strcasecmp(name, "etcd") == 0)
		return set_bool(&f->etcd, v);
	if (strcasecmp(name, "etcd.endpoint") == 0)
		return set_str(f->etcd_endpoint, v);
	if (strcasecmp(name, "etcd.prefix") == 0)
		return set_str(f->etcd_prefix, v);
	if (strcasecmp(name, "etcd.useapiv3") == 0)
		return set_bool(&f->etcd_useapiv3, v);
	if (strcasecmp(name, "etcd.username") == 0)
		return set_str(f->etcd_username, v);
	if (strcasecmp(name, "etcd.password") == 0)
		return set_str(f->etcd_password, v);
	if (strncasecmp(name, "etcd.tls.", 9) == 0)
		return set_tls(&f->etcd_tls, name + 9, v);
	if (strcasecmp(name, "providersthrottleduration") == 0) {
		if (!v)
			return -ERR_USAGE;
		return provider_parse_duration_ms(slice_from_cstr(v), &f->throttle_ms) < 0
			       ? -ERR_USAGE
			       : 0;
	}
	return -ERR_NOTFOUND;
}

static void env_copy(char *dst, const char *(*getenv_fn)(const char *), const char *a,
		     const char *b)
{
	const char *v = getenv_fn(a);
	if (!v || !*v)
		v = getenv_fn(b);
	if (v && strlen(v) < PROVIDER_STR_MAX)
		strcpy(dst, v);
}

void provider_flags_env(struct provider_flags *f, const char *(*getenv_fn)(const char *name))
{
	if (!f->consul_token[0])
		env_copy(f->consul_token, getenv_fn, "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN");
	env_copy(f->http_proxy, getenv_fn, "HTTP_PROXY", "http_proxy");
	env_copy(f->https_proxy, getenv_fn, "HTTPS_PROXY", "https_proxy");
	env_copy(f->no_proxy, getenv_fn, "NO_PROXY", "no_proxy");
}

int provider_flags_check(const struct provider_flags *f, char *errmsg, size_t cap)
{
	int n = f->file + f->consul + f->etcd;
	if (n != 1) {
		provider_fmt(errmsg, cap,
			     n ? "enable only one provider (--file, --consul or --etcd)"
			       : "no provider enabled (--file, --consul or --etcd)");
		return -ERR_PROVIDER_CONFIG;
	}
	if (f->file && !f->file_filename[0]) {
		provider_fmt(errmsg, cap,
			     "--file needs --file.filename (rules inside the static "
			     "configuration file are not supported)");
		return -ERR_PROVIDER_CONFIG;
	}
	const struct provider_tls_flags *t = f->consul ? &f->consul_tls : &f->etcd_tls;
	if ((f->consul || f->etcd) && (!t->cert[0]) != (!t->key[0])) {
		provider_fmt(errmsg, cap, "--%s.tls.cert and --%s.tls.key go together",
			     f->consul ? "consul" : "etcd", f->consul ? "consul" : "etcd");
		return -ERR_PROVIDER_CONFIG;
	}
	if (f->etcd && !f->etcd_useapiv3)
		log_warn("--etcd.useapiv3=false: only the etcd v3 API is served; using v3", NULL);
	if (f->etcd && !f->etcd_username[0] && f->etcd_password[0]) {
		provider_fmt(errmsg, cap, "--etcd.password without --etcd.username");
		return -ERR_PROVIDER_CONFIG;
	}
	return 0;
}

/* Diagnostics ------------------------------------------------------------------------------ */

void provider_diag_init(struct provider_diag *d, const char *source, provider_report_fn fn,
			void *ctx)
{
	memset(d, 0, sizeof *d);
	d->source = source;
	d->report = fn;
	d->ctx = ctx;
}

void provider_report(struct provider_diag *d, enum log_level level, const char *key,
		     const char *fmt, ...)
{
	char msg[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct provider_diag none = {0};
	if (!d)
		d = &none;
	if (level >= LOG_ERROR)
		d->errors++;
	else if (level == LOG_WARN)
		d->warnings++;
	if (d->report) {
		d->report(d->ctx, level, key ? key : "", msg);
		return;
	}
	char qk[256];
	log_write(level, msg, "provider=%s key=%s", d->source ? d->source : "-",
		  log_q(qk, sizeof qk, key ? key : ""));
}

/* Emission ------------------------------------------------------------------------------- */

int provider_emit_init(struct provider_emit *e, struct loop *l, size_t max_doc_bytes,
		       uint64_t throttle_ms, provider_doc_fn on_doc, void *arg)
{
	memset(e, 0, sizeof *e);
	if (!l || !on_doc || max_doc_bytes < 64)
		return -ERR_INVAL;
	e->mem = malloc(2 * max_doc_bytes);
	if (!e->mem)
		return -ERR_NOMEM;
	e->loop = l;
	e->throttle_ms = throttle_ms;
	e->on_doc = on_doc;
	e->arg = arg;
	buf_init(&e->pending, e->mem, max_doc_bytes);
	buf_init(&e->last, (char *)e->mem + max_doc_bytes, max_doc_bytes);
	return 0;
}

void provider_emit_fini(struct provider_emit *e)
{
	if (e->loop)
		loop_timer_cancel(e->loop, e->timer);
	free(e->mem);
	memset(e, 0, sizeof *e);
}

void provider_emit_flush(struct provider_emit *e)
{
	loop_timer_cancel(e->loop, e->timer);
	e->timer = (struct loop_timer_id){0, 0};
	if (!e->has_pending)
		return;
	e->has_pending = false;
	if (e->has_last && slice_eq(buf_slice(&e->pending), buf_slice(&e->last))) {
		e->skipped++;
		return;
	}
	buf_reset(&e->last);
	buf_append(&e->last, e->pending.data, e->pending.len);
	e->has_last = true;
	e->emitted++;
	e->on_doc(e->arg, buf_slice(&e->last));
}

static void emit_timer(struct loop *l, void *arg)
{
	struct provider_emit *e = arg;
	e->timer = (struct loop_timer_id){0, 0};
	provider_emit_flush(e);
}

int provider_emit_submit(struct provider_emit *e, struct slice doc)
{
	if (doc.len > e->pending.cap)
		return -ERR_PROVIDER_DOC_TOO_LARGE;
	uint64_t now = loop_now_ms(e->loop);
	if (!e->has_pending && e->has_last && slice_eq(doc, buf_slice(&e->last))) {
		e->skipped++;
		return 0;
	}
	if (e->has_pending && slice_eq(doc, buf_slice(&e->pending)))
		return 0;
	if (!e->has_pending)
		e->pending_since_ms = now;
	buf_reset(&e->pending);
	buf_append(&e->pending, doc.p, doc.len);
	e->has_pending = true;
	/* first document: at once; later: trailing debounce, bounded by 5 × throttle */
	uint64_t delay = e->has_last ? e->throttle_ms : 0;
	uint64_t limit = e->pending_since_ms + 5 * e->throttle_ms;
	if (now + delay > limit)
		delay = limit > now ? limit - now : 0;
	loop_timer_cancel(e->loop, e->timer);
	e->timer = (struct loop_timer_id){0, 0};
	return loop_timer_add(e->loop, delay, emit_timer, e, &e->timer);
}

/* Back-off ----------------------------------------------------------------------------- */

uint64_t provider_backoff_next(struct provider_backoff *b, struct rand *r)
{
	uint64_t d = b->min_ms ? b->min_ms : 500;
	uint64_t max = b->max_ms ? b->max_ms : 30000;
	for (unsigned i = 0; i < b->attempt && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	if (b->attempt < 64)
		b->attempt++;
	uint64_t half = d / 2;
	return half + (r && d - half ? rand_below(r, d - half + 1) : d - half);
}

void provider_backoff_reset(struct provider_backoff *b)
{
	b->attempt = 0;
}

void provider_limits_default(struct provider_limits *lim)
{
	lim->max_doc_bytes = 4u << 20;
	lim->max_response_bytes = 8u << 20;
	lim->max_keys = 16384;
	lim->max_file_bytes = 4u << 20;
	lim->connect_timeout_ms = 10000;
	lim->backoff_min_ms = 500;
	lim->backoff_max_ms = 30000;
	lim->consul_wait_ms = 5 * 60 * 1000;
	lim->min_query_gap_ms = 1000;
}

/* Files and TLS --------------------------------------------------------------------------- */

int provider_read_file_(const char *path, char **out, size_t *len, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_from_errno(errno);
	struct stat st;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size > max) {
		int e = errno;
		close(fd);
		return (size_t)st.st_size > max ? -ERR_TOO_LARGE : err_from_errno(e);
	}
	char *p = malloc((size_t)st.st_size + 1);
	if (!p) {
		close(fd);
		return -ERR_NOMEM;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	p[got] = 0;
	*out = p;
	*len = got;
	return 0;
}

#define PROVIDER_TLS_STORE (64 * 1024)

struct provider_tls {
	struct tls_client_config cfg;
	uint8_t store[PROVIDER_TLS_STORE];
};

/* Build a TLS client configuration from --x.tls.* (files read now, at init). */
static int tls_build(struct provider_tls *t, const struct provider_tls_flags *f, const char *which,
		     char *errmsg, size_t cap)
{
	int rc = tls_client_config_init(&t->cfg, t->store, sizeof t->store);
	if (rc < 0)
		return rc;
	if (f->insecure_skip_verify) {
		log_warn("TLS certificate verification disabled for the provider (DANGEROUS)",
			 "provider=%s", which);
		tls_client_set_insecure_skip_verify(&t->cfg, true);
	}
	char *p = NULL, *k = NULL;
	size_t pl = 0, kl = 0;
	if (f->ca[0]) {
		rc = provider_read_file_(f->ca, &p, &pl, 1u << 20);
		if (rc < 0) {
			provider_fmt(errmsg, cap, "--%s.tls.ca %s: %s", which, f->ca, err_str(rc));
			return -ERR_PROVIDER_CONFIG;
		}
		rc = tls_client_add_ca(&t->cfg, p, pl);
		free(p);
		if (rc < 0) {
			provider_fmt(errmsg, cap, "--%s.tls.ca %s: %s", which, f->ca,
				     t->cfg.errmsg);
			return rc;
		}
	}
	if (f->cert[0]) {
		rc = provider_read_file_(f->cert, &p, &pl, 1u << 20);
		if (rc == 0) {
			rc = provider_read_file_(f->key, &k, &kl, 1u << 20);
			if (rc < 0)
				free(p);
		}
		if (rc < 0) {
			provider_fmt(errmsg, cap, "--%s.tls.cert/key: %s", which, err_str(rc));
			return -ERR_PROVIDER_CONFIG;
		}
		rc = tls_client_set_cert(&t->cfg, p, pl, k, kl);
		free(p);
		free(k);
		if (rc < 0) {
			provider_fmt(errmsg, cap, "--%s.tls.cert/key: %s", which, t->cfg.errmsg);
			return rc;
		}
	}
	if (!f->ca[0] && !f->insecure_skip_verify) {
		provider_fmt(errmsg, cap,
			     "TLS to %s needs --%s.tls.ca (no system store in the appliance) or "
			     "--%s.tls.insecureskipverify",
			     which, which, which);
		return -ERR_PROVIDER_CONFIG;
	}
	return 0;
}

static bool wants_tls(const char *endpoint, const struct provider_tls_flags *t)
{
	return strncmp(endpoint, "https://", 8) == 0 || t->set;
}

/* The provider ------------------------------------------------------------------------------ */

int provider_init(struct provider *p, struct loop *l, const struct provider_config *cfg)
{
	memset(p, 0, sizeof *p);
	p->loop = l;
	p->cfg = *cfg;
	const struct provider_flags *f = &p->cfg.flags;
	int rc = provider_flags_check(f, p->errmsg, sizeof p->errmsg);
	if (rc < 0)
		return rc;
	const char *src = f->file ? "file" : f->consul ? "consul" : "etcd";
	provider_diag_init(&p->diag, src, cfg->report, cfg->report_ctx);
	rc = provider_emit_init(&p->emit, l, cfg->limits.max_doc_bytes, f->throttle_ms, cfg->on_doc,
				cfg->arg);
	if (rc < 0) {
		provider_fmt(p->errmsg, sizeof p->errmsg, "provider buffers: %s", err_str(rc));
		return rc;
	}
	if (f->file) {
		p->file = calloc(1, sizeof *p->file);
		if (!p->file)
			return -ERR_NOMEM;
		struct provider_file_config fc = {
			.filename = f->file_filename,
			.watch = f->file_watch,
			.limits = cfg->limits,
			.emit = &p->emit,
			.diag = &p->diag,
		};
		return provider_file_init(p->file, l, &fc, p->errmsg, sizeof p->errmsg);
	}
	const struct provider_tls_flags *tf = f->consul ? &f->consul_tls : &f->etcd_tls;
	const char *ep = f->consul ? f->consul_endpoint : f->etcd_endpoint;
	struct provider_tls *tls = NULL;
	if (wants_tls(ep, tf)) {
		/* lives with the watcher: freed by provider_fini */
		tls = calloc(1, sizeof *tls);
		if (!tls)
			return -ERR_NOMEM;
		p->tls = tls;
		rc = tls_build(tls, tf, src, p->errmsg, sizeof p->errmsg);
		if (rc < 0)
			return rc;
	}
	if (f->consul) {
		p->consul = calloc(1, sizeof *p->consul);
		if (!p->consul)
			return -ERR_NOMEM;
		struct provider_consul_config cc = {
			.endpoint = f->consul_endpoint,
			.prefix = f->consul_prefix,
			.token = f->consul_token,
			.tls = tls != NULL,
			.tls_cfg = tls ? &tls->cfg : NULL,
			.http_proxy = f->http_proxy,
			.https_proxy = f->https_proxy,
			.no_proxy = f->no_proxy,
			.limits = cfg->limits,
			.rand = cfg->rand,
			.emit = &p->emit,
			.diag = &p->diag,
		};
		return provider_consul_init(p->consul, l, &cc, p->errmsg, sizeof p->errmsg);
	}
	p->etcd = calloc(1, sizeof *p->etcd);
	if (!p->etcd)
		return -ERR_NOMEM;
	struct provider_etcd_config ec = {
		.endpoint = f->etcd_endpoint,
		.prefix = f->etcd_prefix,
		.username = f->etcd_username,
		.password = f->etcd_password,
		.tls = tls != NULL,
		.tls_cfg = tls ? &tls->cfg : NULL,
		.http_proxy = f->http_proxy,
		.https_proxy = f->https_proxy,
		.no_proxy = f->no_proxy,
		.limits = cfg->limits,
		.rand = cfg->rand,
		.emit = &p->emit,
		.diag = &p->diag,
	};
	return provider_etcd_init(p->etcd, l, &ec, p->errmsg, sizeof p->errmsg);
}

int provider_start(struct provider *p)
{
	if (p->file)
		return provider_file_start(p->file);
	if (p->consul)
		return provider_consul_start(p->consul);
	if (p->etcd)
		return provider_etcd_start(p->etcd);
	return -ERR_INVAL;
}

void provider_fini(struct provider *p)
{
	if (p->file) {
		provider_file_fini(p->file);
		free(p->file);
	}
	if (p->consul) {
		provider_consul_fini(p->consul);
		free(p->consul);
	}
	if (p->etcd) {
		provider_etcd_fini(p->etcd);
		free(p->etcd);
	}
	free(p->tls);
	p->file = NULL;
	p->consul = NULL;
	p->etcd = NULL;
	p->tls = NULL;
	if (p->emit.mem)
		provider_emit_fini(&p->emit);
}

/* State --------------------------------------------------------------------------------- */

const char *provider_state_name(enum provider_state s)
{
	switch (s) {
	case PROVIDER_CONNECTING: return "connecting";
	case PROVIDER_WATCHING: return "watching";
	case PROVIDER_BACKOFF: return "backoff";
	case PROVIDER_ERROR: return "error";
	}
	return "?";
}

void provider_status_get(const struct provider *p, struct provider_status *st)
{
	memset(st, 0, sizeof *st);
	st->state = PROVIDER_CONNECTING;
	if (p->consul) {
		const struct provider_consul *c = p->consul;
		st->state = c->state;
		st->last_err = c->last_err;
		provider_fmt(st->errmsg, sizeof st->errmsg, "%s", c->errmsg);
		st->applied = c->applied;
		st->errors = c->errors;
	} else if (p->etcd) {
		const struct provider_etcd *e = p->etcd;
		st->state = e->state;
		st->last_err = e->last_err;
		provider_fmt(st->errmsg, sizeof st->errmsg, "%s", e->errmsg);
		st->applied = e->applied > 0 ? (uint64_t)e->applied : 0;
		st->errors = e->errors;
	} else if (p->file) {
		const struct provider_file *f = p->file;
		st->state = f->failing ? PROVIDER_ERROR
			    : f->reads ? PROVIDER_WATCHING
				       : PROVIDER_CONNECTING;
		st->last_err = f->last_err;
		if (f->last_err)
			provider_fmt(st->errmsg, sizeof st->errmsg, "%s: %s", f->path,
				     err_str(f->last_err));
		st->applied = f->applied;
		st->errors = f->errors;
	}
}
