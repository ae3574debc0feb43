/* proxy_upstream.c — connections to upstream servers and their keep-alive pools.
 *
 * Every upstream connection comes from the engine's pool (max_upstream_conns). It is either
 * connecting or busy (owned by one client connection's transaction), or idle in the pool of
 * its target: the server address it is connected to (struct proxy_target, from a pool of
 * max_targets, found through a hash table). Targets are keyed by address, not by routing
 * table, so keep-alive connections survive a table swap that keeps the server.
 *
 * Idle connections sit on two lists: their target's (most recently used first, so the warm
 * connection is reused and the cold ones age out) and the engine's LRU (oldest first), which a
 * one-second sweep walks from the head to close those idle for upstream_idle_timeout_ms, and
 * which gives up its oldest entry when the pool is full and a new connection is needed.
 * At most max_idle_per_server stay idle per target (Traefik's maxIdleConnsPerHost, 200).
 *
 * An idle connection stays registered for readability: any input or hang-up while idle means
 * the server closed it (or misbehaves), and it is closed at once. The race of a server closing
 * just as a request is written on a reused connection is handled by the client side, which
 * retries once on a fresh connection when nothing of the response arrived and the request
 * can be replayed (proxy_conn.c).
 *
 * All sockets are non-blocking and registered edge-triggered for read and write once; the
 * can_read / can_write flags remember readiness until a call returns EAGAIN (or a short
 * count, which on a stream socket means the same), so no epoll_ctl is made per request.
 *
 * https:// servers: the connection also holds a TLS client slot (a pool of
 * max_upstream_tls_conns page-aligned 48 KiB slots) and the engine is driven here, inside
 * proxy_up_connected (the handshake: the connection stays PU_CONNECTING until it is done, so
 * connect_timeout covers it), proxy_up_read and proxy_up_writev (plaintext in and out, the
 * ciphertext pumped between the socket and the engine as tls_io does for clients in
 * proxy_conn.c), so the client state machine does not know. For such a connection can_read
 * and can_write stay 1 (asking the engine is cheap; it says -ERR_AGAIN) and sock_r / sock_w
 * remember the socket's readiness instead. The verification settings (rootCAs,
 * insecureSkipVerify) belong to the routing generation (g->upcfg); a connection remembers the
 * configuration and a hash of the server name it was made with, an idle one is reused only for
 * the same pair, and when the generation goes its idle connections close and its busy ones
 * are never pooled again. An end of the server's stream without close_notify reads as a plain
 * end of file (as Go's crypto/tls at a record boundary), so framing decides, exactly as for
 * http:// servers, whether it is a complete close-delimited body or a cut one.
 */
#include "proxy/proxy_engine_int.h"

#include "base/base_err.h"
#include "base/base_log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

size_t proxy_up_size(void)
{
	return sizeof(struct proxy_up);
}

size_t proxy_target_size(void)
{
	return sizeof(struct proxy_target);
}

int proxy_targets_init(struct proxy_engine *e)
{
	uint32_t n = 16;
	while (n < 2 * (uint64_t)e->lim.max_targets)
		n <<= 1;
	e->thash = calloc(n, sizeof *e->thash);
	if (!e->thash)
		return -ERR_NOMEM;
	e->thash_mask = n - 1;
	return pool_init(&e->targets, "max_targets", sizeof(struct proxy_target),
			 e->lim.max_targets);
}

void proxy_targets_fini(struct proxy_engine *e)
{
	free(e->thash);
	e->thash = NULL;
	pool_fini(&e->targets);
}

/* Canonical addresses (addr_canon) are 16 or 28 bytes: hashed and compared 4 bytes a step. */
_Static_assert(sizeof(struct sockaddr_in) % 4 == 0 && sizeof(struct sockaddr_in6) % 4 == 0,
	       "canonical address lengths are whole words");

static uint32_t addr_word(const void *a, socklen_t i)
{
	uint32_t w;
	memcpy(&w, (const unsigned char *)a + i, 4);
	return w;
}

static uint32_t addr_hash(const struct sockaddr_storage *a, socklen_t len)
{
	uint32_t h = 2166136261u;
	for (socklen_t i = 0; i < len; i += 4) {
		h ^= addr_word(a, i);
		h *= 16777619u;
	}
	/* fold the high bits (port, address bytes) into the low ones the table mask keeps */
	h ^= h >> 16;
	h *= 0x45d9f3bu;
	h ^= h >> 16;
	return h;
}

static bool addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b,
		       socklen_t len)
{
	for (socklen_t i = 0; i < len; i += 4)
		if (addr_word(a, i) != addr_word(b, i))
			return false;
	return true;
}

/* Canonical copy of an address: only family, port and address bytes, so equal addresses
 * compare equal byte for byte over the length returned (bytes after it are not written). */
static socklen_t addr_canon(const struct sockaddr_storage *in, socklen_t len,
			    struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(struct sockaddr_in6)); /* the longest canonical form */
	if (in->ss_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)(const void *)in;
		struct sockaddr_in *d = (struct sockaddr_in *)(void *)out;
		d->sin_family = AF_INET;
		d->sin_port = s->sin_port;
		d->sin_addr = s->sin_addr;
		return sizeof *d;
	}
	if (in->ss_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)(const void *)in;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)(void *)out;
		d->sin6_family = AF_INET6;
		d->sin6_port = s->sin6_port;
		d->sin6_addr = s->sin6_addr;
		d->sin6_scope_id = s->sin6_scope_id;
		return sizeof *d;
	}
	return 0;
}

static struct proxy_target *target_get(struct proxy_engine *e, const struct sockaddr_storage *a,
				       socklen_t alen)
{
	struct sockaddr_storage k;
	socklen_t klen = addr_canon(a, alen, &k);
	if (!klen)
		return NULL;
	uint32_t h = addr_hash(&k, klen);
	for (struct proxy_target *t = e->thash[h & e->thash_mask]; t; t = t->hnext)
		if (t->hash == h && t->alen == klen && addr_equal(&t->addr, &k, klen))
			return t;
	void *obj;
	if (pool_get(&e->targets, &obj) < 0)
		return NULL;
	struct proxy_target *t = obj;
	memset(&t->addr, 0, sizeof t->addr);
	memcpy(&t->addr, &k, klen);
	t->alen = klen;
	t->hash = h;
	t->hnext = e->thash[h & e->thash_mask];
	e->thash[h & e->thash_mask] = t;
	return t;
}

static void target_maybe_free(struct proxy_engine *e, struct proxy_target *t)
{
	if (t->nconns)
		return;
	struct proxy_target **pp = &e->thash[t->hash & e->thash_mask];
	while (*pp && *pp != t)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = t->hnext;
	pool_put(&e->targets, t);
}

/* ---- idle lists ------------------------------------------------------------------------------ */

static void idle_unlink(struct proxy_engine *e, struct proxy_up *u)
{
	struct proxy_target *t = u->tg;
	if (u->tprev)
		u->tprev->tnext = u->tnext;
	else
		t->idle_head = u->tnext;
	if (u->tnext)
		u->tnext->tprev = u->tprev;
	u->tnext = u->tprev = NULL;
	t->nidle--;
	if (u->lprev)
		u->lprev->lnext = u->lnext;
	else
		e->lru_head = u->lnext;
	if (u->lnext)
		u->lnext->lprev = u->lprev;
	else
		e->lru_tail = u->lprev;
	u->lnext = u->lprev = NULL;
	e->st.upstream_idle--;
}

/* ---- TLS (https:// servers) ------------------------------------------------------------------ */

bool proxy_tls_pump(struct tls_conn *t, int fd, uint8_t *can_read, uint8_t *can_write, uint8_t *hup)
{
	bool moved = false;
	for (int round = 0; round < 8; round++) {
		bool any = false;
		while (*can_write) {
			size_t len = 0;
			const uint8_t *p = tls_conn_send_buf(t, &len);
			if (!p || !len)
				break;
			ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
			if (n > 0) {
				tls_conn_send_ack(t, (size_t)n);
				any = true;
				if ((size_t)n < len)
					*can_write = 0;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			*can_write = 0;
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				*hup = 1;
				tls_conn_recv_eof(t);
				any = true;
			}
			break;
		}
		while (*can_read) {
			size_t len = 0;
			uint8_t *p = tls_conn_recv_buf(t, &len);
			if (!p || !len)
				break;
			ssize_t n = recv(fd, p, len, 0);
			if (n > 0) {
				tls_conn_recv_ack(t, (size_t)n);
				any = true;
				if ((size_t)n < len && *can_read != 2 && !*hup)
					*can_read = 0;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			*can_read = 0;
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
				*hup = 1;
				tls_conn_recv_eof(t);
				any = true;
			}
			break;
		}
		if (!any)
			break;
		moved = true;
	}
	return moved;
}

/* The socket pump for an upstream (proxy_tls_pump): rdhup keeps the connection out of the
 * pool, and after a reported hang-up reading goes on to the end (as proxy_up_read). */
static bool up_tls_io(struct proxy_up *u)
{
	return proxy_tls_pump(u->tls, u->fd, &u->sock_r, &u->sock_w, &u->rdhup);
}

static void up_tls_release(struct proxy_engine *e, struct proxy_up *u)
{
	if (u->fd >= 0 && tls_conn_handshake_done(u->tls) && !tls_conn_error(u->tls) &&
	    !tls_conn_done(u->tls)) {
		/* Polite end: close_notify if the socket takes it now; never waited for. */
		tls_conn_close(u->tls);
		u->sock_r = 0;
		u->sock_w = 1;
		up_tls_io(u);
	}
	if (u->tls_trimmed)
		tls_conn_wipe_release(u->tls); /* wiped without faulting the buffer back in */
	else
		tls_conn_wipe(u->tls);
	pool_put(&e->up_tls, u->tls);
	u->tls = NULL;
	u->tls_trimmed = 0;
	if (u->xprev)
		u->xprev->xnext = u->xnext;
	else
		e->up_tls_all = u->xnext;
	if (u->xnext)
		u->xnext->xprev = u->xprev;
	u->xnext = u->xprev = NULL;
	e->st.upstream_tls--;
}

/* FNV-1a of the server name, ASCII case folded: idle connections are matched on it. */
static uint64_t name_hash(struct slice s)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.p[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch + 32);
		h ^= ch;
		h *= 1099511628211ull;
	}
	return h;
}

static void up_close(struct proxy_engine *e, struct proxy_up *u);

int proxy_up_tls_init(struct proxy_engine *e)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t align = pg > 0 && (size_t)pg >= alignof(max_align_t) && !(pg & (pg - 1))
			       ? (size_t)pg
			       : alignof(max_align_t);
	int r = pool_init_aligned(&e->up_tls, "max_upstream_tls_conns", tls_conn_size(),
				  proxy_dp_upstream_tls_cap(&e->lim), align);
	e->up_tls.put_zeroed = true; /* proxy_up_tls_put wipes every slot */
	return r;
}

void proxy_up_tls_fini(struct proxy_engine *e)
{
	pool_fini(&e->up_tls);
}

void proxy_up_tls_put(struct proxy_engine *e, struct tls_conn *t)
{
	tls_conn_wipe(t); /* keys and plaintext: zeroed before the slot is reused */
	pool_put(&e->up_tls, t);
}

/* Whether a TLS failure of server gs may be logged now (see proxy_gen_srv.tls_log_ms; NULL:
 * always); *skipped: its lines left out before this one. */
static bool up_tls_log_ok(struct proxy_engine *e, struct proxy_gen_srv *gs, uint64_t *skipped)
{
	*skipped = 0;
	if (!gs)
		return true;
	uint64_t now = loop_now_ms(e->loop);
	if (gs->tls_log_ms && now - gs->tls_log_ms < 1000) {
		gs->tls_log_skipped++;
		return false;
	}
	gs->tls_log_ms = now ? now : 1;
	*skipped = gs->tls_log_skipped;
	gs->tls_log_skipped = 0;
	return true;
}

int proxy_up_tls_take(struct proxy_engine *e, struct proxy_gen *g, uint32_t k,
		      struct tls_conn **out)
{
	const struct proxy_server *sv = &g->t->srv[k];
	*out = NULL;
	void *obj;
	if (pool_get(&e->up_tls, &obj) < 0) {
		/* Full: the oldest idle TLS connection gives way, as max_upstream_conns does. */
		for (struct proxy_up *u = e->lru_head; u; u = u->lnext)
			if (u->tls) {
				up_close(e, u);
				break;
			}
		if (pool_get(&e->up_tls, &obj) < 0) {
			log_warn("upstream TLS connection refused locally",
				 "limit=max_upstream_tls_conns max=%u url=%.*s",
				 proxy_dp_upstream_tls_cap(&e->lim), (int)sv->url.len, sv->url.p);
			return -ERR_PROXY_UPSTREAMS_FULL;
		}
	}
	struct tls_conn *tc = obj;
	char name[TLS_SERVER_NAME_MAX + 1];
	int rc = -ERR_INVAL;
	if (g->upcfg && sv->host.len < sizeof name) {
		memcpy(name, sv->host.p, sv->host.len);
		name[sv->host.len] = 0;
		/* SNI is the URL's host; an IP literal is checked against the certificate's
		 * IP addresses and not sent (tls.h). */
		rc = tls_conn_init_client(tc, g->upcfg, name, &e->rng);
	}
	if (rc < 0) {
		const char *why = rc == -ERR_INVAL ? "server name too long" : tls_conn_errmsg(tc);
		if (rc == -ERR_TLS_CONFIG && g->upcfg && !g->t->nroot_cas &&
		    !g->t->insecure_skip_verify)
			why = "no rootCAs to verify the server certificate with (and "
			      "insecureSkipVerify is false)";
		char q[TLS_ERRMSG_MAX + 8];
		uint64_t skipped;
		if (up_tls_log_ok(e, &g->srv[k], &skipped))
			log_warn("upstream TLS connection failed",
				 "url=%.*s error=%s similar_failures_not_logged=%llu",
				 (int)sv->url.len, sv->url.p,
				 log_q(q, sizeof q, why && *why ? why : err_str(rc)),
				 (unsigned long long)skipped);
		e->st.upstream_tls_failures++;
		proxy_up_tls_put(e, tc);
		return rc;
	}
	*out = tc;
	return 0;
}

int proxy_up_tls_gen_build(struct proxy_engine *e, struct proxy_gen *g, char *msg, size_t cap)
{
	const struct proxy_table *t = g->t;
	bool any = false;
	for (uint32_t i = 0; i < t->nsrv && !any; i++)
		any = t->srv[i].scheme == PROXY_SCHEME_HTTPS;
	for (uint32_t i = 0; i < t->nbe && !any; i++)
		any = t->be[i].health && slice_eq_cstr_ci(t->be[i].hc_scheme, "https");
	if (!any)
		return 0;
	size_t bytes = 1024;
	for (uint32_t k = 0; k < t->nroot_cas; k++)
		bytes += t->root_cas[k].len;
	size_t head = (sizeof(struct tls_client_config) + 63) / 64 * 64;
	unsigned char *mem = malloc(head + bytes);
	if (!mem) {
		snprintf(msg, cap, "rootCAs: out of memory");
		return -ERR_NOMEM;
	}
	struct tls_client_config *cfg = (struct tls_client_config *)(void *)mem;
	int rc = tls_client_config_init(cfg, mem + head, bytes);
	for (uint32_t k = 0; !rc && k < t->nroot_cas; k++) {
		int n = tls_client_add_ca(cfg, t->root_cas[k].p, t->root_cas[k].len);
		if (n < 0) {
			snprintf(msg, cap, "rootCAs[%u]: %s%s%s", k, err_str(n),
				 cfg->errmsg[0] ? ": " : "", cfg->errmsg);
			rc = n;
		}
	}
	if (rc) {
		if (!msg[0])
			snprintf(msg, cap, "rootCAs: %s", err_str(rc));
		free(mem);
		return rc;
	}
	(void)e;
	if (t->insecure_skip_verify) {
		tls_client_set_insecure_skip_verify(cfg, true);
		log_warn("insecureSkipVerify: certificates of https:// servers are NOT verified "
			 "(anyone on the path can read and change the traffic)",
			 NULL);
	} else if (!t->nroot_cas) {
		log_warn("https:// servers but no rootCAs and insecureSkipVerify is false: their "
			 "certificates cannot be verified and requests to them get 502",
			 NULL);
	}
	g->upcfg = cfg;
	return 0;
}

void proxy_up_tls_gen_free(struct proxy_gen *g)
{
	if (!g->upcfg)
		return;
	struct proxy_engine *e = g->eng;
	struct proxy_up *u = e->up_tls_all;
	while (u) {
		struct proxy_up *next = u->xnext;
		if (u->tcfg == g->upcfg) {
			if (u->state == PU_IDLE)
				up_close(e, u);
			else
				u->tcfg_gone =
					1; /* a tunnel: its engine reads the config no more */
		}
		u = next;
	}
	free(g->upcfg); /* the block starts with the config */
	g->upcfg = NULL;
}

static void up_close(struct proxy_engine *e, struct proxy_up *u)
{
	if (u->state == PU_IDLE)
		idle_unlink(e, u);
	else if (u->state == PU_BUSY || u->state == PU_CONNECTING)
		e->st.upstream_busy--;
	if (u->owner) {
		u->owner->up = NULL;
		u->owner = NULL;
	}
	if (u->tls)
		up_tls_release(e, u);
	if (u->fd >= 0) {
		loop_forget_fd(e->loop, u->fd); /* ours alone: close removes it from epoll */
		close(u->fd);
	}
	struct proxy_target *t = u->tg;
	u->state = PU_FREE;
	pool_put(&e->ups, u);
	if (t) {
		t->nconns--;
		target_maybe_free(e, t);
	}
}

static void up_cb(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct proxy_up *u = arg;
	uint8_t *r = u->tls ? &u->sock_r : &u->can_read;
	uint8_t *w = u->tls ? &u->sock_w : &u->can_write;
	if (ev & (LOOP_READ | LOOP_RDHUP | LOOP_HUP | LOOP_ERR))
		*r = 1;
	if (ev & (LOOP_RDHUP | LOOP_HUP | LOOP_ERR))
		u->rdhup = 1;
	if (ev & (LOOP_WRITE | LOOP_HUP | LOOP_ERR))
		*w = 1;
	if (u->tls && u->state == PU_BUSY)
		up_tls_io(u); /* records in, pending records out; the owner reads the plaintext */
	if (u->state == PU_IDLE) {
		/* Input or a hang-up on an idle connection: the server closed it (or sends what
		 * nobody asked for). Either way it cannot carry a request. */
		if (ev & (LOOP_READ | LOOP_RDHUP | LOOP_HUP | LOOP_ERR))
			up_close(u->eng, u);
		return;
	}
	if (u->owner)
		proxy_conn_upstream_event(u->owner);
}

int proxy_up_get(struct proxy_engine *e, struct proxy_conn *c, const struct sockaddr_storage *a,
		 socklen_t alen, bool fresh, struct pool_handle *tgh)
{
	/* https:// (c->gen pins the table): TLS with the table's configuration, SNI the host. */
	uint32_t k = c->gen && c->srv >= 0 ? (uint32_t)c->srv : 0;
	bool tls = c->gen && c->srv >= 0 && c->gen->t->srv[k].scheme == PROXY_SCHEME_HTTPS;
	const struct tls_client_config *cfg = tls ? c->gen->upcfg : NULL;
	uint64_t nh = tls ? name_hash(c->gen->t->srv[k].host) : 0;
	/* A target's address never changes while it lives: a valid handle is addr's target. */
	struct proxy_target *t = tgh ? pool_deref(&e->targets, *tgh) : NULL;
	if (!t) {
		if (!(t = target_get(e, a, alen)))
			return -ERR_PROXY_TARGETS_FULL;
		if (tgh)
			*tgh = pool_handle_of(&e->targets, t);
	}
	struct proxy_up *iu = fresh ? NULL : t->idle_head;
	while (iu) {
		struct proxy_up *u = iu;
		iu = u->tnext;
		if (u->tcfg != cfg || u->tcfg_gone || u->name_hash != nh)
			continue; /* plain vs TLS, another table's TLS settings, another name */
		idle_unlink(e, u);
		if (u->rdhup) {
			u->state = PU_BUSY; /* up_close's accounting */
			e->st.upstream_busy++;
			up_close(e, u); /* may free t: look it up again */
			if (!(t = target_get(e, a, alen)))
				return -ERR_PROXY_TARGETS_FULL;
			iu = t->idle_head;
			continue;
		}
		u->state = PU_BUSY;
		u->reused = 1;
		u->owner = c;
		c->up = u;
		e->st.upstream_busy++;
		e->st.upstream_reused++;
		return 0;
	}
	struct tls_conn *tc = NULL;
	if (tls) {
		/* Taking a slot may close an idle connection and with it t: look t up again. */
		target_maybe_free(e, t);
		int rc = proxy_up_tls_take(e, c->gen, k, &tc);
		if (rc < 0)
			return rc == -ERR_PROXY_UPSTREAMS_FULL ? rc : -ERR_PROXY_UPSTREAM_REFUSED;
		if (!(t = target_get(e, a, alen))) {
			proxy_up_tls_put(e, tc);
			return -ERR_PROXY_TARGETS_FULL;
		}
	}
	void *obj;
	if (pool_get(&e->ups, &obj) < 0) {
		/* Full: give up the oldest idle connection (of any target) for this one. */
		struct proxy_up *old = e->lru_head;
		if (old) {
			bool same = old->tg == t; /* then t may go with it */
			up_close(e, old);
			if (same && !(t = target_get(e, a, alen))) {
				if (tc)
					proxy_up_tls_put(e, tc);
				return -ERR_PROXY_TARGETS_FULL;
			}
		}
		if (pool_get(&e->ups, &obj) < 0) {
			target_maybe_free(e, t);
			if (tc)
				proxy_up_tls_put(e, tc);
			return -ERR_PROXY_UPSTREAMS_FULL;
		}
	}
	struct proxy_up *u = obj;
	u->eng = e;
	u->fd = -1;
	u->tg = t;
	t->nconns++;
	if (tc) {
		u->tls = tc;
		u->tcfg = cfg;
		u->name_hash = nh;
		u->xnext = e->up_tls_all;
		if (e->up_tls_all)
			e->up_tls_all->xprev = u;
		e->up_tls_all = u;
		e->st.upstream_tls++;
	}
	int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		u->state = PU_CONNECTING;
		e->st.upstream_busy++;
		up_close(e, u);
		return -ERR_PROXY_UPSTREAM_REFUSED;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	u->fd = fd;
	u->state = PU_CONNECTING;
	e->st.upstream_busy++;
	e->st.upstream_connects++;
	int rc = connect(fd, (const struct sockaddr *)&t->addr, t->alen);
	if (rc < 0 && errno != EINPROGRESS) {
		up_close(e, u);
		return -ERR_PROXY_UPSTREAM_REFUSED;
	}
	if (loop_add_fd(e->loop, fd, LOOP_READ | LOOP_WRITE | LOOP_EDGE, up_cb, u) < 0) {
		close(fd);
		u->fd = -1;
		up_close(e, u);
		return -ERR_PROXY_UPSTREAMS_FULL;
	}
	if (rc == 0 && u->tls) {
		u->tcp_up = 1; /* the handshake comes next (proxy_up_connected) */
		u->sock_w = 1;
	} else if (rc == 0) {
		u->state = PU_BUSY;
		u->can_write = 1;
	}
	u->owner = c;
	c->up = u;
	return 0;
}

/* The TLS handshake of a connected socket: 0 done (PU_BUSY), -ERR_AGAIN, or a failure
 * (logged with the server and the TLS error: verification, alert, reset...). */
static int up_tls_handshake(struct proxy_up *u)
{
	struct proxy_engine *e = u->eng;
	up_tls_io(u);
	if (tls_conn_handshake_done(u->tls) && !tls_conn_error(u->tls)) {
		u->state = PU_BUSY;
		u->can_read = u->can_write = 1; /* from now on the engine is asked */
		e->st.upstream_tls_handshakes++;
		return 0;
	}
	if (!tls_conn_error(u->tls) && !tls_conn_done(u->tls))
		return -ERR_AGAIN;
	const struct proxy_conn *c = u->owner;
	struct slice url =
		c && c->gen && c->srv >= 0 ? c->gen->t->srv[c->srv].url : (struct slice){"?", 1};
	char q[TLS_ERRMSG_MAX + 8];
	uint64_t skipped;
	if (up_tls_log_ok(e, c && c->gen && c->srv >= 0 ? &c->gen->srv[c->srv] : NULL, &skipped))
		log_warn("upstream TLS handshake failed",
			 "url=%.*s server_name=%s error=%s similar_failures_not_logged=%llu",
			 (int)url.len, url.p,
			 tls_conn_server_name(u->tls)[0] ? tls_conn_server_name(u->tls) : "-",
			 log_q(q, sizeof q,
			       tls_conn_errmsg(u->tls)[0] ? tls_conn_errmsg(u->tls)
							  : "connection closed"),
			 (unsigned long long)skipped);
	e->st.upstream_tls_failures++;
	return -ERR_PROXY_UPSTREAM_REFUSED;
}

int proxy_up_connected(struct proxy_up *u)
{
	if (u->state == PU_BUSY)
		return 0;
	if (u->tls) {
		if (u->tcp_up)
			return up_tls_handshake(u);
		if (!u->sock_w && !u->rdhup)
			return -ERR_AGAIN;
	} else if (!u->can_write && !u->rdhup)
		return -ERR_AGAIN;
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		/* Writable without error: connected. (A hang-up would have set SO_ERROR.) */
		if (u->tls) {
			u->tcp_up = 1;
			return up_tls_handshake(u);
		}
		u->state = PU_BUSY;
		return 0;
	}
	if (err == EINPROGRESS || err == EALREADY) {
		if (u->tls)
			u->sock_w = 0;
		else
			u->can_write = 0;
		return -ERR_AGAIN;
	}
	return err == ETIMEDOUT ? -ERR_PROXY_UPSTREAM_TIMEOUT : -ERR_PROXY_UPSTREAM_REFUSED;
}

void proxy_up_release(struct proxy_engine *e, struct proxy_up *u, bool keep)
{
	if (u->owner) {
		u->owner->up = NULL;
		u->owner = NULL;
	}
	u->requests++;
	if (keep && u->tls && u->state == PU_BUSY) {
		/* Reusable only in a clean state: no bytes beyond the response (records read now
		 * if the socket has some), no unread plaintext, no alert, its table still alive. */
		if (u->sock_r)
			up_tls_io(u);
		size_t pend = 0;
		keep = !u->tcfg_gone && !tls_conn_error(u->tls) && !tls_conn_done(u->tls) &&
		       (tls_conn_want(u->tls) & TLS_WANT_READ) &&
		       !tls_conn_send_buf(u->tls, &pend) && !pend;
	}
	if (!keep || u->rdhup || u->state != PU_BUSY || e->draining) {
		up_close(e, u);
		return;
	}
	struct proxy_target *t = u->tg;
	e->st.upstream_busy--;
	u->state = PU_IDLE;
	u->idle_since = loop_now_ms(e->loop);
	u->tls_trimmed = 0; /* its buffer was in use: a new idle period may trim again */
	u->tprev = NULL;
	u->tnext = t->idle_head;
	if (t->idle_head)
		t->idle_head->tprev = u;
	t->idle_head = u;
	t->nidle++;
	u->lnext = NULL;
	u->lprev = e->lru_tail;
	if (e->lru_tail)
		e->lru_tail->lnext = u;
	else
		e->lru_head = u;
	e->lru_tail = u;
	e->st.upstream_idle++;
	if (t->nidle > e->lim.max_idle_per_server) {
		struct proxy_up *old = t->idle_head;
		while (old->tnext)
			old = old->tnext;
		up_close(e, old);
	}
}

void proxy_up_close_idle(struct proxy_engine *e)
{
	while (e->lru_head)
		up_close(e, e->lru_head);
}

/* A pooled TLS connection idle this long gives its engine's I/O buffer back (tls_conn_trim:
 * the client side keeps 4 of its 12 pages). Not at once: a busy pool reuses its connections
 * within milliseconds and would fault the pages back in every time. */
#define UP_TLS_TRIM_MS 1000

void proxy_up_sweep(struct proxy_engine *e)
{
	uint64_t now = loop_now_ms(e->loop);
	while (e->lru_head && now - e->lru_head->idle_since >= e->lim.upstream_idle_timeout_ms)
		up_close(e, e->lru_head);
	for (struct proxy_up *u = e->up_tls_all; u; u = u->xnext)
		if (u->state == PU_IDLE && !u->tls_trimmed &&
		    now - u->idle_since >= UP_TLS_TRIM_MS && tls_conn_trim(u->tls)) {
			u->tls_trimmed = 1;
			e->st.upstream_tls_trims++;
		}
}

static ssize_t up_tls_read(struct proxy_up *u, void *p, size_t n)
{
	for (int i = 0; i < 4; i++) {
		ssize_t r = tls_conn_read(u->tls, p, n);
		if (r >= 0)
			return r; /* bytes, or 0 at the server's close_notify */
		if (r == -ERR_TLS_TRUNCATED)
			return 0; /* closed without close_notify: an end of file, as plain http */
		if (r != -ERR_AGAIN)
			return r;
		if (!up_tls_io(u))
			return -ERR_AGAIN;
	}
	return -ERR_AGAIN;
}

/* Plaintext for one record at most: several pieces are gathered here so that a request head
 * and its first body bytes leave in one record (one engine per worker, single-threaded). */
static uint8_t up_tls_gather[16384];

static ssize_t up_tls_writev(struct proxy_up *u, const struct iovec *iov, int n)
{
	const void *src = iov[0].iov_base;
	size_t len = iov[0].iov_len;
	if (n > 1) {
		len = 0;
		for (int i = 0; i < n && len < sizeof up_tls_gather; i++) {
			size_t k = iov[i].iov_len;
			if (k > sizeof up_tls_gather - len)
				k = sizeof up_tls_gather - len;
			memcpy(up_tls_gather + len, iov[i].iov_base, k);
			len += k;
		}
		src = up_tls_gather;
	}
	if (len > sizeof up_tls_gather)
		len = sizeof up_tls_gather;
	if (!len)
		return 0;
	ssize_t r = tls_conn_write(u->tls, src, len);
	if (r == -ERR_AGAIN && up_tls_io(u))
		r = tls_conn_write(u->tls, src, len);
	if (r > 0)
		up_tls_io(u);
	if (r == -ERR_TLS_TRUNCATED)
		r = -ERR_CLOSED; /* the server went away: the caller sees a broken connection */
	return r;
}

ssize_t proxy_up_read(struct proxy_up *u, void *p, size_t n)
{
	if (u->tls)
		return up_tls_read(u, p, n);
	ssize_t r;
	do
		r = recv(u->fd, p, n, 0); /* recv, not read: no trip through the VFS layer */
	while (r < 0 && errno == EINTR);
	if (r > 0) {
		/* A short read drained the socket, but when the hang-up was already reported
		 * (data and FIN in one edge) no further edge will come: keep reading to see
		 * the end (0) rather than wait for a timeout. */
		if ((size_t)r < n && !u->rdhup)
			u->can_read = 0;
		return r;
	}
	if (r == 0)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		u->can_read = 0;
		return -ERR_AGAIN;
	}
	return err_from_errno(errno);
}

ssize_t proxy_up_writev(struct proxy_up *u, const struct iovec *iov, int n)
{
	if (u->tls)
		return up_tls_writev(u, iov, n);
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = (struct iovec *)(uintptr_t)iov;
	mh.msg_iovlen = (size_t)n;
	size_t want = 0;
	for (int i = 0; i < n; i++)
		want += iov[i].iov_len;
	ssize_t r;
	do
		r = n == 1 ? send(u->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL)
			   : sendmsg(u->fd, &mh, MSG_NOSIGNAL); /* send: no msghdr to copy in */
	while (r < 0 && errno == EINTR);
	if (r >= 0) {
		if ((size_t)r < want)
			u->can_write = 0;
		return r;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		u->can_write = 0;
		return -ERR_AGAIN;
	}
	return err_from_errno(errno);
}

void proxy_up_shutdown_write(struct proxy_up *u)
{
	if (!u->tls) {
		shutdown(u->fd, SHUT_WR);
		return;
	}
	tls_conn_close(u->tls); /* close_notify after what is queued */
	up_tls_io(u);
}
