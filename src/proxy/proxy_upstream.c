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
 */
#include "proxy/proxy_engine_int.h"

#include "base/base_err.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

static uint32_t addr_hash(const struct sockaddr_storage *a, socklen_t len)
{
	const unsigned char *p = (const unsigned char *)a;
	uint32_t h = 2166136261u;
	for (socklen_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

/* Canonical copy of an address: only family, port and address bytes, so equal addresses
 * compare equal byte for byte. */
static socklen_t addr_canon(const struct sockaddr_storage *in, socklen_t len,
			    struct sockaddr_storage *out)
{
	memset(out, 0, sizeof *out);
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
		if (t->hash == h && t->alen == klen && memcmp(&t->addr, &k, klen) == 0)
			return t;
	void *obj;
	if (pool_get(&e->targets, &obj) < 0)
		return NULL;
	struct proxy_target *t = obj;
	t->addr = k;
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
	if (ev & (LOOP_READ | LOOP_RDHUP | LOOP_HUP | LOOP_ERR))
		u->can_read = 1;
	if (ev & (LOOP_RDHUP | LOOP_HUP | LOOP_ERR))
		u->rdhup = 1;
	if (ev & (LOOP_WRITE | LOOP_HUP | LOOP_ERR))
		u->can_write = 1;
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
		 socklen_t alen, bool fresh)
{
	struct proxy_target *t = target_get(e, a, alen);
	if (!t)
		return -ERR_PROXY_TARGETS_FULL;
	while (!fresh && t->idle_head) {
		struct proxy_up *u = t->idle_head;
		idle_unlink(e, u);
		if (u->rdhup) {
			u->state = PU_BUSY; /* up_close's accounting */
			e->st.upstream_busy++;
			up_close(e, u);
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
	void *obj;
	if (pool_get(&e->ups, &obj) < 0) {
		/* Full: give up the oldest idle connection (of any target) for this one. */
		struct proxy_up *old = e->lru_head;
		if (old) {
			bool same = old->tg == t; /* then t may go with it */
			up_close(e, old);
			if (same && !(t = target_get(e, a, alen)))
				return -ERR_PROXY_TARGETS_FULL;
		}
		if (pool_get(&e->ups, &obj) < 0) {
			target_maybe_free(e, t);
			return -ERR_PROXY_UPSTREAMS_FULL;
		}
	}
	struct proxy_up *u = obj;
	u->eng = e;
	u->fd = -1;
	u->tg = t;
	t->nconns++;
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
	if (rc == 0) {
		u->state = PU_BUSY;
		u->can_write = 1;
	}
	u->owner = c;
	c->up = u;
	return 0;
}

int proxy_up_connected(struct proxy_up *u)
{
	if (u->state == PU_BUSY)
		return 0;
	if (!u->can_write && !u->rdhup)
		return -ERR_AGAIN;
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		/* Writable without error: connected. (A hang-up would have set SO_ERROR.) */
		u->state = PU_BUSY;
		return 0;
	}
	if (err == EINPROGRESS || err == EALREADY) {
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
	if (!keep || u->rdhup || u->state != PU_BUSY || e->draining) {
		up_close(e, u);
		return;
	}
	struct proxy_target *t = u->tg;
	e->st.upstream_busy--;
	u->state = PU_IDLE;
	u->idle_since = loop_now_ms(e->loop);
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

void proxy_up_sweep(struct proxy_engine *e)
{
	uint64_t now = loop_now_ms(e->loop);
	while (e->lru_head && now - e->lru_head->idle_since >= e->lim.upstream_idle_timeout_ms)
		up_close(e, e->lru_head);
}

ssize_t proxy_up_read(struct proxy_up *u, void *p, size_t n)
{
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
