/* loop.c — loop lifecycle, the iteration, and fd handlers. See loop.h.
 *
 * fd registrations live in a fixed table of slots (max_fds) with a free
 * list; slots are initialized on first use (fd_hwm), so a table sized for
 * many fds costs no resident memory until they come (the allocation is
 * zero-filled and never walked). An open-addressing index maps fd numbers
 * to slots (entries hold slot + 1; 0 is empty, again so that zeroed memory
 * is a valid empty index) so that
 * loop_mod_fd / loop_del_fd take the fd itself. The epoll_data of every
 * registration carries (generation << 32 | slot): an event whose generation
 * no longer matches its slot belongs to a registration deleted earlier in
 * the same batch and is dropped, even if the slot was reused since.
 */
#include "loop/loop.h"

#include "base/base_err.h"
#include "base/base_time.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define LOOP_NONE UINT32_MAX

_Static_assert(LOOP_CAP_MAX <= (uint32_t)INT32_MAX / 2, "fd index must fit int32 and 2 * cap");

void loop_set_err_(struct loop *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->errmsg, sizeof l->errmsg, fmt, ap);
	va_end(ap);
}

/* The one place the loop reads a clock. */
static uint64_t loop_clock_read(const struct loop *l)
{
	if (l->cfg.clock)
		return l->cfg.clock(l->cfg.clock_ctx);
	return time_mono_ms();
}

static size_t loop_align(size_t n)
{
	const size_t a = _Alignof(max_align_t);
	return (n + a - 1) & ~(a - 1);
}

static uint32_t loop_pow2_at_least(uint32_t n)
{
	uint32_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

static int loop_check_cap(struct loop *l, const char *name, uint32_t v, uint32_t min)
{
	if (v < min) {
		loop_set_err_(l, "%s must be at least %u", name, min);
		return -ERR_INVAL;
	}
	if (v > LOOP_CAP_MAX) {
		loop_set_err_(l, "%s %u over %u", name, v, LOOP_CAP_MAX);
		return -ERR_RANGE;
	}
	return 0;
}

int loop_init(struct loop *l, const struct loop_config *cfg)
{
	memset(l, 0, sizeof *l);
	l->epfd = -1;
	l->sigfd = -1;
	sigemptyset(&l->sig_mask);
	sigemptyset(&l->sig_blocked);
	l->cfg = *cfg;

	int rc;
	if ((rc = loop_check_cap(l, "max_fds", cfg->max_fds, 1)) < 0 ||
	    (rc = loop_check_cap(l, "max_timers", cfg->max_timers, 1)) < 0 ||
	    (rc = loop_check_cap(l, "max_events", cfg->max_events, 1)) < 0 ||
	    (rc = loop_check_cap(l, "max_children", cfg->max_children, 0)) < 0)
		return rc;

	uint32_t index_len = loop_pow2_at_least(2 * cfg->max_fds);
	size_t off_fds = 0;
	size_t off_index = off_fds + loop_align((size_t)cfg->max_fds * sizeof(struct loop_fd_slot));
	size_t off_events = off_index + loop_align((size_t)index_len * sizeof(int32_t));
	size_t off_timers =
		off_events + loop_align((size_t)cfg->max_events * sizeof(struct epoll_event));
	size_t off_heap =
		off_timers + loop_align((size_t)cfg->max_timers * sizeof(struct loop_timer_slot));
	size_t off_children = off_heap + loop_align((size_t)cfg->max_timers * sizeof(uint32_t));
	size_t total = off_children + (size_t)cfg->max_children * sizeof(struct loop_child);

	unsigned char *mem = calloc(1, total);
	if (!mem) {
		loop_set_err_(l, "loop tables: %zu bytes", total);
		return -ERR_NOMEM;
	}
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		rc = err_from_errno(errno);
		loop_set_err_(l, "epoll_create1: %s", strerror(errno));
		free(mem);
		return rc;
	}

	l->mem = mem;
	l->fds = (struct loop_fd_slot *)(void *)(mem + off_fds);
	l->fd_index = (int32_t *)(void *)(mem + off_index);
	l->fd_index_mask = index_len - 1;
	l->events = (struct epoll_event *)(void *)(mem + off_events);
	l->timers = (struct loop_timer_slot *)(void *)(mem + off_timers);
	l->heap = (uint32_t *)(void *)(mem + off_heap);
	l->children = (struct loop_child *)(void *)(mem + off_children);

	/* calloc: the slots beyond fd_hwm and the empty index are zeroes nobody writes */
	l->fd_free = LOOP_NONE;
	l->fd_hwm = 0;
	loop_timer_init_(l);
	l->now_ms = loop_clock_read(l);
	return 0;
}

void loop_fini(struct loop *l)
{
	if (!l->mem)
		return;
	assert(!l->in_iter);
	loop_signal_fini_(l);
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
	free(l->mem);
	l->mem = NULL;
	l->fds = NULL;
	l->fd_index = NULL;
	l->events = NULL;
	l->timers = NULL;
	l->heap = NULL;
	l->children = NULL;
}

uint64_t loop_now_ms(const struct loop *l)
{
	return l->now_ms;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

void loop_set_before_sleep(struct loop *l, loop_hook_cb cb, void *arg)
{
	l->before_sleep = cb;
	l->before_sleep_arg = arg;
}

/* fd index ---------------------------------------------------------------- */

static uint32_t loop_fd_home(const struct loop *l, int fd)
{
	uint32_t h = (uint32_t)fd * 0x9e3779b1u;
	h ^= h >> 15;
	return h & l->fd_index_mask;
}

/* Position in fd_index of fd's entry, or LOOP_NONE. */
static uint32_t loop_fd_find_pos(const struct loop *l, int fd)
{
	uint32_t i = loop_fd_home(l, fd);
	while (l->fd_index[i] > 0) {
		if (l->fds[l->fd_index[i] - 1].fd == fd)
			return i;
		i = (i + 1) & l->fd_index_mask;
	}
	return LOOP_NONE;
}

/* The index is at most half full (2 * max_fds entries), so a free entry exists. */
static void loop_fd_index_put(struct loop *l, int fd, uint32_t slot)
{
	uint32_t i = loop_fd_home(l, fd);
	while (l->fd_index[i] > 0)
		i = (i + 1) & l->fd_index_mask;
	l->fd_index[i] = (int32_t)slot + 1;
}

/* Linear-probing removal by backward shift: no tombstones, so lookups stay
 * bounded by the cluster length however long the loop runs. */
static void loop_fd_index_remove(struct loop *l, uint32_t pos)
{
	uint32_t hole = pos, j = pos;
	for (;;) {
		j = (j + 1) & l->fd_index_mask;
		if (l->fd_index[j] <= 0)
			break;
		uint32_t home = loop_fd_home(l, l->fds[l->fd_index[j] - 1].fd);
		/* The entry at j may move into the hole unless its home lies
		 * cyclically in (hole, j]. */
		bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
		if (!stays) {
			l->fd_index[hole] = l->fd_index[j];
			hole = j;
		}
	}
	l->fd_index[hole] = 0;
}

/* fds --------------------------------------------------------------------- */

static uint64_t loop_fd_tag(const struct loop *l, uint32_t slot)
{
	return (uint64_t)l->fds[slot].gen << 32 | slot;
}

static uint32_t loop_to_epoll(uint32_t events)
{
	uint32_t ev = 0;
	if (events & LOOP_READ)
		ev |= EPOLLIN | EPOLLRDHUP;
	if (events & LOOP_WRITE)
		ev |= EPOLLOUT;
	if (events & LOOP_EDGE)
		ev |= EPOLLET;
	return ev;
}

static uint32_t loop_from_epoll(uint32_t ev)
{
	uint32_t events = 0;
	if (ev & EPOLLIN)
		events |= LOOP_READ;
	if (ev & EPOLLOUT)
		events |= LOOP_WRITE;
	if (ev & EPOLLRDHUP)
		events |= LOOP_RDHUP;
	if (ev & EPOLLHUP)
		events |= LOOP_HUP;
	if (ev & EPOLLERR)
		events |= LOOP_ERR;
	return events;
}

static int loop_ctl(struct loop *l, int op, int fd, uint32_t ev, uint64_t tag)
{
	struct epoll_event e = {.events = ev, .data.u64 = tag};
	if (epoll_ctl(l->epfd, op, fd, &e) == 0)
		return 0;
	int rc = err_from_errno(errno);
	loop_set_err_(l, "epoll_ctl(%d, fd %d): %s", op, fd, strerror(errno));
	return rc;
}

#define LOOP_INTEREST (LOOP_READ | LOOP_WRITE | LOOP_EDGE)

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *arg)
{
	if (fd < 0 || !cb || (events & ~LOOP_INTEREST))
		return -ERR_INVAL;
	if (loop_fd_find_pos(l, fd) != LOOP_NONE)
		return -ERR_EXISTS;
	uint32_t slot = l->fd_free;
	if (slot == LOOP_NONE) {
		if (l->fd_hwm == l->cfg.max_fds) {
			loop_set_err_(l, "fd %d: max_fds (%u) reached", fd, l->cfg.max_fds);
			return -ERR_LOOP_FULL;
		}
		slot = l->fd_hwm; /* first use of this slot: initialize it */
		l->fds[slot] = (struct loop_fd_slot){.fd = -1, .gen = 1, .next_free = LOOP_NONE};
	}
	struct loop_fd_slot *s = &l->fds[slot];
	int rc = loop_ctl(l, EPOLL_CTL_ADD, fd, loop_to_epoll(events), loop_fd_tag(l, slot));
	if (rc < 0)
		return rc;
	if (slot == l->fd_free)
		l->fd_free = s->next_free;
	else
		l->fd_hwm++;
	s->next_free = LOOP_NONE;
	s->fd = fd;
	s->events = events;
	s->cb = cb;
	s->arg = arg;
	loop_fd_index_put(l, fd, slot);
	l->fd_used++;
	return 0;
}

int loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
	if (fd < 0 || (events & ~LOOP_INTEREST))
		return -ERR_INVAL;
	uint32_t pos = loop_fd_find_pos(l, fd);
	if (pos == LOOP_NONE)
		return -ERR_NOTFOUND;
	uint32_t slot = (uint32_t)l->fd_index[pos] - 1;
	int rc = loop_ctl(l, EPOLL_CTL_MOD, fd, loop_to_epoll(events), loop_fd_tag(l, slot));
	if (rc < 0)
		return rc;
	l->fds[slot].events = events;
	return 0;
}

static int loop_fd_release(struct loop *l, int fd, bool ctl)
{
	if (fd < 0)
		return -ERR_INVAL;
	uint32_t pos = loop_fd_find_pos(l, fd);
	if (pos == LOOP_NONE)
		return -ERR_NOTFOUND;
	uint32_t slot = (uint32_t)l->fd_index[pos] - 1;
	struct loop_fd_slot *s = &l->fds[slot];
	int rc = ctl ? loop_ctl(l, EPOLL_CTL_DEL, fd, 0, 0) : 0;
	loop_fd_index_remove(l, pos);
	s->fd = -1;
	s->cb = NULL;
	s->arg = NULL;
	s->events = 0;
	/* A new generation orphans every event of this registration still
	 * sitting in l->events. 0 is skipped so no tag ever reads as gen 0. */
	if (++s->gen == 0)
		s->gen = 1;
	s->next_free = l->fd_free;
	l->fd_free = slot;
	l->fd_used--;
	return rc;
}

int loop_del_fd(struct loop *l, int fd)
{
	return loop_fd_release(l, fd, true);
}

int loop_forget_fd(struct loop *l, int fd)
{
	return loop_fd_release(l, fd, false);
}

uint32_t loop_fd_count(const struct loop *l)
{
	return l->fd_used;
}

/* Dispatch one event taken from epoll; returns callbacks run. */
static int loop_fd_dispatch(struct loop *l, const struct epoll_event *e)
{
	if (e->data.u64 == LOOP_TAG_SIGNAL_)
		return loop_signal_dispatch_(l);
	uint32_t slot = (uint32_t)e->data.u64;
	uint32_t gen = (uint32_t)(e->data.u64 >> 32);
	assert(slot < l->cfg.max_fds);
	struct loop_fd_slot *s = &l->fds[slot];
	if (s->gen != gen || s->fd < 0)
		return 0; /* deleted earlier in this batch */
	s->cb(l, s->fd, loop_from_epoll(e->events), s->arg);
	return 1;
}

/* The iteration ----------------------------------------------------------- */

static int loop_timeout(const struct loop *l, int timeout_ms)
{
	if (l->stop || l->child_check)
		return 0;
	int64_t t = loop_timer_wait_ms_(l);
	if (t < 0)
		return timeout_ms;
	if (t > INT_MAX)
		t = INT_MAX;
	if (timeout_ms < 0 || t < timeout_ms)
		return (int)t;
	return timeout_ms;
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	if (l->in_iter || !l->mem)
		return -ERR_INVAL;
	l->in_iter = true;
	int ran = 0;
	if (l->before_sleep)
		l->before_sleep(l, l->before_sleep_arg);
	int n = epoll_wait(l->epfd, l->events, (int)l->cfg.max_events, loop_timeout(l, timeout_ms));
	if (n < 0) {
		if (errno != EINTR) {
			int rc = err_from_errno(errno);
			loop_set_err_(l, "epoll_wait: %s", strerror(errno));
			l->in_iter = false;
			return rc;
		}
		n = 0; /* a signal the loop does not own interrupted the wait */
	}
	uint64_t now = loop_clock_read(l);
	if (now > l->now_ms) /* an injected clock must not go back; stay monotonic */
		l->now_ms = now;
	for (int i = 0; i < n; i++)
		ran += loop_fd_dispatch(l, &l->events[i]);
	if (l->child_check)
		ran += loop_child_reap_(l);
	ran += loop_timer_run_due_(l);
	l->in_iter = false;
	return ran;
}

int loop_run(struct loop *l)
{
	if (l->in_iter || !l->mem)
		return -ERR_INVAL; /* from a callback: would consume a stop meant for the caller */
	int rc = 0;
	while (!l->stop) {
		rc = loop_run_once(l, -1);
		if (rc < 0)
			break;
		rc = 0;
	}
	l->stop = false;
	return rc;
}

/* Checks ------------------------------------------------------------------ */

static bool loop_fd_invariants_ok(const struct loop *l)
{
	uint32_t used = 0, free_count = 0, indexed = 0;
	if (l->fd_hwm > l->cfg.max_fds)
		return false;
	for (uint32_t i = 0; i < l->fd_hwm; i++) {
		const struct loop_fd_slot *s = &l->fds[i];
		if (s->gen == 0)
			return false;
		if (s->fd < 0)
			continue;
		used++;
		uint32_t pos = loop_fd_find_pos(l, s->fd);
		if (pos == LOOP_NONE || (uint32_t)l->fd_index[pos] != i + 1)
			return false;
	}
	for (uint32_t i = l->fd_free; i != LOOP_NONE; i = l->fds[i].next_free) {
		if (i >= l->fd_hwm || l->fds[i].fd >= 0 || ++free_count > l->cfg.max_fds)
			return false;
	}
	for (uint32_t i = 0; i <= l->fd_index_mask; i++) {
		if (l->fd_index[i] < 0)
			return false;
		indexed += l->fd_index[i] > 0;
	}
	/* slots never used (fd_hwm and above) are free too */
	free_count += l->cfg.max_fds - l->fd_hwm;
	return used == l->fd_used && indexed == used && used + free_count == l->cfg.max_fds;
}

bool loop_invariants_ok(const struct loop *l)
{
	if (!l->mem)
		return false;
	if (!loop_fd_invariants_ok(l) || !loop_timer_invariants_ok_(l))
		return false;
	uint32_t children = 0;
	for (uint32_t i = 0; i < l->cfg.max_children; i++)
		children += l->children[i].pid > 0;
	return children == l->child_used;
}
