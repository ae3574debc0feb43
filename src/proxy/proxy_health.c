/* proxy_health.c — active health checks of backend servers (Traefik v1 healthCheck).
 *
 * For every backend of the current table that configures a health check path, a periodic
 * timer (interval, default 30 s; the first round runs at once) starts one probe per server
 * that has none in flight: a non-blocking connect to the server (or healthCheck.port), then
 *
 *     GET <path> HTTP/1.1 / Host: <hostname or server authority> / custom headers /
 *     Connection: close
 *
 * and the status line of the answer. 2xx and 3xx keep (or put back) the server in rotation;
 * anything else, a connection failure, or no status line within the timeout (default 5 s)
 * takes it out. Changes are logged and reported by traefik_backend_server_up.
 *
 * https: the probe speaks TLS when healthCheck.scheme is "https", or when it is empty and the
 * server's URL is https:// (Traefik v1 probes the server URL with the scheme replaced): a
 * TLS client slot from the upstream pool (max_upstream_tls_conns; none free: the round skips
 * the server, logged, and it stays as it is), the table's rootCAs / insecureSkipVerify, SNI
 * the server's host. A failed handshake or verification is a failed check (the reason names
 * the TLS error). Any other scheme is not probed: the servers stay in rotation (logged).
 *
 * Probes come from a pool (max_health_checks); when it is empty a round skips the servers it
 * cannot probe (logged) rather than allocating. Health belongs to a table generation: when a
 * new table becomes current, the old one's timers stop and its probes are abandoned; the new
 * table starts with every server up (as Traefik does), except that servers also in the old
 * table keep their state (proxy_lb_carry), and checks at once.
 *
 * Several workers (the engine has a health board, proxy_healthboard.h): the worker in slot 0
 * (the prober) checks as above and also writes every verdict to the board under the server's
 * key (backend name and URL, proxy_lb_srv_key). The other workers (followers) start no probe:
 * while a table with health-checked backends is current, at once and then on a timer every
 * min(PROXY_HB_SYNC_MS, the smallest interval of those backends), they copy
 * the board's verdicts of those backends' servers into the table's load balancer. A server
 * not on the board (never judged, or a board write racing the read) keeps its state: up
 * for a new server, the carried state for one the old table had, as in the private mode.
 * Only the prober logs changes with their reason; a follower logs them at debug level, and
 * every worker sets its traefik_backend_server_up. While the prober is gone (dead, being
 * restarted in slot 0) the board keeps its last verdicts and the followers keep following
 * them; the new prober starts a new board epoch, takes the board's verdicts as its starting
 * state (rather than every server up) and checks at once.
 */
#include "proxy/proxy_engine_int.h"

#include "base/base_err.h"
#include "base/base_log.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HC_OUT_MAX 2048
#define HC_IN_MAX 256
/* A follower copies the board's verdicts at least this often. */
#define PROXY_HB_SYNC_MS 200u

struct proxy_hc {
	struct proxy_engine *eng;
	struct proxy_gen *g;
	uint32_t srv;
	int fd;
	bool connected;
	struct tls_conn *tls; /* https probe (upstream TLS pool), else NULL */
	struct loop_timer_id timer;
	struct proxy_hc *next, *prev;
	uint16_t out_len, out_off, in_len;
	char out[HC_OUT_MAX];
	char in[HC_IN_MAX];
};

size_t proxy_health_size(void)
{
	return sizeof(struct proxy_hc);
}

static void set_up(struct proxy_gen *g, uint32_t k, bool up, const char *why)
{
	struct proxy_gen_srv *gs = &g->srv[k];
	struct proxy_engine *e = g->eng;
	/* The prober publishes every verdict (it keeps the entry in the current epoch). */
	if (e->hb_on && e->hb.writer && g->current && proxy_hb_set(&e->hb, gs->hb_key, up) < 0 &&
	    (e->hb.st.full & (e->hb.st.full - 1)) == 0)
		log_warn("health verdict not shared; the other workers keep their state",
			 "reason=\"%s\" times=%llu", err_str(-ERR_PROXY_SERVERS_FULL),
			 (unsigned long long)e->hb.st.full);
	if (!proxy_lb_set_up(&g->lb, k, up))
		return;
	const struct proxy_server *sv = &g->t->srv[k];
	const struct proxy_backend *b = &g->t->be[sv->backend];
	if (up)
		log_info("server back in rotation", "backend=%.*s url=%.*s", (int)b->name.len,
			 b->name.p, (int)sv->url.len, sv->url.p);
	else
		log_warn("server out of rotation", "backend=%.*s url=%.*s reason=\"%s\"",
			 (int)b->name.len, b->name.p, (int)sv->url.len, sv->url.p, why);
	proxy_metrics_server_up(g->eng->metrics, g->be[sv->backend].m_be, gs->m_url, up);
}

static void hc_free(struct proxy_hc *p)
{
	struct proxy_engine *e = p->eng;
	if (p->timer.gen)
		loop_timer_cancel(e->loop, p->timer);
	if (p->fd >= 0) {
		loop_del_fd(e->loop, p->fd);
		close(p->fd);
	}
	if (p->tls)
		proxy_up_tls_put(e, p->tls);
	p->tls = NULL;
	if (p->prev)
		p->prev->next = p->next;
	else
		e->hc_head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->g->srv[p->srv].probing = false;
	e->nhc_running--;
	pool_put(&e->hcs, p);
}

static void hc_done(struct proxy_hc *p, bool up, const char *why)
{
	set_up(p->g, p->srv, up, why);
	hc_free(p);
}

static void hc_timeout_cb(struct loop *l, void *arg)
{
	struct proxy_hc *p = arg;
	p->timer = (struct loop_timer_id){0, 0};
	hc_done(p, false, "health check timed out");
}

static void hc_judge(struct proxy_hc *p, bool ended);

/* An https probe once connected: the TLS engine is pumped with its fd helpers (they read and
 * send until the socket would block, so no edge is lost), the request written as plaintext,
 * the answer read until its status line. */
static void hc_tls(struct proxy_hc *p, int fd, uint32_t ev)
{
	struct tls_conn *t = p->tls;
	bool ended = false;
	(void)ev;
	/* A few fixed rounds: records read may call for records to send (handshake) and the
	 * other way round; the fd helpers say nothing about progress, and a probe is rare. */
	for (int round = 0; round < 6; round++) {
		bool moved = false;
		tls_conn_on_readable(t, fd);
		tls_conn_on_writable(t, fd);
		if (p->out_off < p->out_len && tls_conn_handshake_done(t)) {
			ssize_t n = tls_conn_write(t, p->out + p->out_off, p->out_len - p->out_off);
			if (n > 0) {
				p->out_off += (uint16_t)n;
				moved = true;
				tls_conn_on_writable(t, fd);
			}
		}
		while (p->in_len < HC_IN_MAX - 1) {
			ssize_t n = tls_conn_read(t, p->in + p->in_len, HC_IN_MAX - 1 - p->in_len);
			if (n > 0) {
				p->in_len += (uint16_t)n;
				moved = true;
				continue;
			}
			if (n != -ERR_AGAIN)
				ended = true; /* close_notify, end of file or an error */
			break;
		}
		if (ended || (!moved && round >= 2))
			break;
	}
	if (!tls_conn_handshake_done(t) && (tls_conn_error(t) || tls_conn_done(t))) {
		char why[TLS_ERRMSG_MAX + 32];
		snprintf(why, sizeof why, "health check TLS handshake failed: %s",
			 tls_conn_errmsg(t)[0] ? tls_conn_errmsg(t) : "connection closed");
		p->g->eng->st.upstream_tls_failures++;
		hc_done(p, false, why);
		return;
	}
	hc_judge(p, ended);
}

static void hc_cb(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct proxy_hc *p = arg;
	if (!p->connected) {
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			hc_done(p, false, "health check connection failed");
			return;
		}
		if (!(ev & (LOOP_WRITE | LOOP_READ)))
			return;
		p->connected = true;
	}
	if (p->tls) {
		hc_tls(p, fd, ev);
		return;
	}
	while (p->out_off < p->out_len) {
		ssize_t n = send(fd, p->out + p->out_off, p->out_len - p->out_off, MSG_NOSIGNAL);
		if (n > 0) {
			p->out_off += (uint16_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		hc_done(p, false, "health check request failed");
		return;
	}
	for (;;) {
		if (p->in_len >= HC_IN_MAX - 1)
			break;
		ssize_t n = read(fd, p->in + p->in_len, HC_IN_MAX - 1 - p->in_len);
		if (n > 0) {
			p->in_len += (uint16_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		break; /* EOF or error: judge what arrived */
	}
	hc_judge(p, (ev & (LOOP_HUP | LOOP_RDHUP | LOOP_ERR)) != 0);
}

/* The status line in p->in: judged once a line is there, or the input ended (ended). */
static void hc_judge(struct proxy_hc *p, bool ended)
{
	p->in[p->in_len] = 0;
	const char *eol = memchr(p->in, '\n', p->in_len);
	if (!eol) {
		if (p->in_len >= HC_IN_MAX - 1 || ended)
			hc_done(p, false, "health check answer malformed");
		return;
	}
	/* "HTTP/1.x SSS" (RFC 9112 §4) */
	int status = 0;
	if (p->in_len >= 12 && memcmp(p->in, "HTTP/1.", 7) == 0 && p->in[8] == ' ' &&
	    p->in[9] >= '1' && p->in[9] <= '5' && p->in[10] >= '0' && p->in[10] <= '9' &&
	    p->in[11] >= '0' && p->in[11] <= '9')
		status = (p->in[9] - '0') * 100 + (p->in[10] - '0') * 10 + (p->in[11] - '0');
	hc_done(p, status >= 200 && status < 400,
		status ? "health check answered with an error status"
		       : "health check answer malformed");
}

/* Backend b is health-checked: a path, and a scheme that can be probed (warn: log one that
 * cannot). */
static bool hc_enabled(const struct proxy_backend *b, bool warn)
{
	if (!b->health || !b->hc_path.len)
		return false;
	if (b->hc_scheme.len && !slice_eq_cstr_ci(b->hc_scheme, "http") &&
	    !slice_eq_cstr_ci(b->hc_scheme, "https")) {
		if (warn)
			log_warn("health check scheme not supported; servers stay in rotation",
				 "backend=%.*s scheme=%.*s", (int)b->name.len, b->name.p,
				 (int)b->hc_scheme.len, b->hc_scheme.p);
		return false;
	}
	return true;
}

static void probe_start(struct proxy_gen *g, uint32_t k)
{
	struct proxy_engine *e = g->eng;
	const struct proxy_server *sv = &g->t->srv[k];
	const struct proxy_backend *b = &g->t->be[sv->backend];
	struct proxy_gen_srv *gs = &g->srv[k];
	if (gs->probing || !gs->resolved)
		return;
	bool tls = b->hc_scheme.len ? slice_eq_cstr_ci(b->hc_scheme, "https")
				    : sv->scheme == PROXY_SCHEME_HTTPS;
	struct tls_conn *tc = NULL;
	if (tls && proxy_up_tls_take(e, g, k, &tc) < 0)
		return; /* logged; the server keeps its state until a later round */
	void *obj;
	if (pool_get(&e->hcs, &obj) < 0) {
		if (tc)
			proxy_up_tls_put(e, tc);
		log_warn("health check skipped", "reason=\"%s\"", err_str(-ERR_PROXY_HEALTH_FULL));
		return;
	}
	struct proxy_hc *p = obj;
	p->tls = tc;
	p->eng = e;
	p->g = g;
	p->srv = k;
	p->fd = -1;
	gs->probing = true;
	e->nhc_running++;
	p->next = e->hc_head;
	if (e->hc_head)
		e->hc_head->prev = p;
	e->hc_head = p;

	struct buf ob;
	buf_init(&ob, p->out, sizeof p->out);
	struct slice host = b->hc_hostname.len ? b->hc_hostname : sv->authority;
	int rc = buf_printf(&ob, "GET %.*s HTTP/1.1\r\nHost: %.*s\r\n", (int)b->hc_path.len,
			    b->hc_path.p, (int)host.len, host.p);
	for (uint32_t i = 0; !rc && i < b->nhc_headers; i++)
		rc = buf_printf(&ob, "%.*s: %.*s\r\n", (int)b->hc_headers[i].name.len,
				b->hc_headers[i].name.p, (int)b->hc_headers[i].value.len,
				b->hc_headers[i].value.p);
	if (!rc)
		rc = buf_append_cstr(&ob, "User-Agent: traefikee-healthcheck\r\nAccept: */*\r\n"
					  "Connection: close\r\n\r\n");
	if (rc) {
		hc_done(p, false, "health check request too large");
		return;
	}
	p->out_len = (uint16_t)ob.len;

	struct sockaddr_storage addr = gs->addr;
	if (b->hc_port) {
		if (addr.ss_family == AF_INET)
			((struct sockaddr_in *)(void *)&addr)->sin_port = htons(b->hc_port);
		else
			((struct sockaddr_in6 *)(void *)&addr)->sin6_port = htons(b->hc_port);
	}
	int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		hc_free(p);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&addr, gs->alen) < 0 && errno != EINPROGRESS) {
		close(fd);
		hc_done(p, false, "health check connection refused");
		return;
	}
	if (loop_add_fd(e->loop, fd, LOOP_READ | LOOP_WRITE | LOOP_EDGE, hc_cb, p) < 0) {
		close(fd);
		hc_free(p);
		return;
	}
	p->fd = fd;
	uint64_t timeout = b->hc_timeout_ms ? b->hc_timeout_ms : e->lim.health_timeout_ms;
	loop_timer_add(e->loop, timeout, hc_timeout_cb, p, &p->timer);
}

/* Copy the board's verdicts for the servers of health-checked backends into g's balancer. */
static void hb_follow(struct proxy_gen *g)
{
	struct proxy_engine *e = g->eng;
	for (uint32_t i = 0; i < g->t->nbe; i++) {
		const struct proxy_backend *b = &g->t->be[i];
		if (!hc_enabled(b, false))
			continue;
		for (uint32_t s = b->first_server; s < b->first_server + b->nservers; s++) {
			struct proxy_hb_verdict v;
			if (proxy_hb_get(&e->hb, g->srv[s].hb_key, &v) < 0 ||
			    !proxy_lb_set_up(&g->lb, s, v.up))
				continue;
			const struct proxy_server *sv = &g->t->srv[s];
			log_debug(v.up ? "server back in rotation (verdict of the probing worker)"
				       : "server out of rotation (verdict of the probing worker)",
				  "backend=%.*s url=%.*s", (int)b->name.len, b->name.p,
				  (int)sv->url.len, sv->url.p);
			proxy_metrics_server_up(e->metrics, g->be[i].m_be, g->srv[s].m_url, v.up);
		}
	}
}

/* A follower's timer. */
static void hb_sync_cb(struct loop *l, void *arg)
{
	hb_follow(arg);
}

static void hc_tick(struct loop *l, void *arg)
{
	struct proxy_gen_be *gb = arg;
	struct proxy_gen *g = gb->g;
	const struct proxy_backend *b = &g->t->be[gb->idx];
	for (uint32_t s = 0; s < b->nservers; s++)
		probe_start(g, b->first_server + s);
}

void proxy_health_start(struct proxy_gen *g)
{
	struct proxy_engine *e = g->eng;
	bool follow = e->hb_on && !e->hb.writer;
	uint64_t sync = PROXY_HB_SYNC_MS;
	bool any = false;
	if (e->hb_on) {
		if (e->hb.writer)
			proxy_hb_epoch_begin(&e->hb);
		for (uint32_t k = 0; k < g->t->nsrv; k++)
			g->srv[k].hb_key = proxy_lb_srv_key(g->t, k, e->hb.k0, e->hb.k1);
	}
	for (uint32_t i = 0; i < g->t->nbe; i++) {
		const struct proxy_backend *b = &g->t->be[i];
		struct proxy_gen_be *gb = &g->be[i];
		gb->g = g;
		gb->idx = i;
		if (!hc_enabled(b, !follow))
			continue;
		uint64_t every = b->hc_interval_ms ? b->hc_interval_ms : e->lim.health_interval_ms;
		any = true;
		if (every < sync)
			sync = every;
		if (!follow)
			loop_timer_every(e->loop, 0, every, hc_tick, gb, &gb->hc_timer);
	}
	/* Both roles start from the board: a follower at once, and a prober too, so one that
	 * was restarted does not put back a server the node holds down until its first round
	 * says so (on a reload its own carried state is what it wrote there). */
	if (e->hb_on && any)
		hb_follow(g);
	if (follow && any)
		loop_timer_every(e->loop, sync, sync, hb_sync_cb, g, &g->hb_timer);
}

void proxy_health_stop(struct proxy_gen *g)
{
	struct proxy_engine *e = g->eng;
	if (g->hb_timer.gen)
		loop_timer_cancel(e->loop, g->hb_timer);
	g->hb_timer = (struct loop_timer_id){0, 0};
	for (uint32_t i = 0; g->be && g->t && i < g->t->nbe; i++) {
		if (g->be[i].hc_timer.gen)
			loop_timer_cancel(e->loop, g->be[i].hc_timer);
		g->be[i].hc_timer = (struct loop_timer_id){0, 0};
	}
	struct proxy_hc *p = e->hc_head;
	while (p) {
		struct proxy_hc *next = p->next;
		if (p->g == g)
			hc_free(p);
		p = next;
	}
}

uint32_t proxy_engine_health_each(const struct proxy_engine *e, proxy_engine_health_fn fn,
				  void *arg)
{
	const struct proxy_gen *g = e->cur;
	uint32_t n = 0;
	if (!g || !g->t)
		return 0;
	for (uint32_t i = 0; i < g->t->nbe; i++) {
		const struct proxy_backend *b = &g->t->be[i];
		if (!hc_enabled(b, false))
			continue;
		for (uint32_t s = b->first_server; s < b->first_server + b->nservers; s++) {
			fn(arg, b->name, g->t->srv[s].url, g->lb.srv[s].up);
			n++;
		}
	}
	return n;
}
