/* Unit tests for loop timers: ordering, cancel, caps, re-arming, periodic
 * timers, fairness with I/O, the epoll timeout, and a randomised run against
 * a reference model. Most cases inject a fake clock and poll with timeout 0,
 * so they are deterministic and never sleep.
 */
#include "base/base_err.h"
#include "loop/loop.h"
#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

struct fake_clock {
	uint64_t now_ms;
};

static uint64_t fake_clock_read(void *ctx)
{
	return ((struct fake_clock *)ctx)->now_ms;
}

static struct loop_config cfg_fake(struct fake_clock *fc, uint32_t max_timers)
{
	return (struct loop_config){.max_fds = 4,
				    .max_timers = max_timers,
				    .max_events = 4,
				    .clock = fake_clock_read,
				    .clock_ctx = fc};
}

/* Appends its tag to a shared log when fired. */
struct fire_log {
	int order[64];
	int n;
};

struct tagged {
	struct fire_log *log;
	int tag;
};

static void log_cb(struct loop *l, void *arg)
{
	struct tagged *t = arg;
	if (t->log->n < 64)
		t->log->order[t->log->n++] = t->tag;
}

static void count_cb(struct loop *l, void *arg)
{
	(*(int *)arg)++;
}

static void timer_order_and_ties(void)
{
	struct fake_clock fc = {1000};
	struct loop l;
	struct loop_config c = cfg_fake(&fc, 16);
	REQUIRE(loop_init(&l, &c) == 0);
	CHECK_EQ_INT(loop_now_ms(&l), 1000);
	static const uint64_t delays[] = {30, 10, 20, 10, 0, 10, 30};
	static const int expect[] = {4, 1, 3, 5, 2, 0, 6};
	struct fire_log log = {0};
	struct tagged t[7];
	for (int i = 0; i < 7; i++) {
		t[i] = (struct tagged){&log, i};
		CHECK_EQ_INT(loop_timer_add(&l, delays[i], log_cb, &t[i], NULL), 0);
	}
	CHECK(loop_invariants_ok(&l));
	fc.now_ms = 1030;
	CHECK_EQ_INT(loop_run_once(&l, 0), 7);
	CHECK_EQ_INT(log.n, 7);
	for (int i = 0; i < 7 && i < log.n; i++)
		CHECK_EQ_INT(log.order[i], expect[i]);
	CHECK_EQ_INT(loop_timer_count(&l), 0);
	loop_fini(&l);
}

static void timer_not_before_deadline(void)
{
	struct fake_clock fc = {0};
	struct loop l;
	struct loop_config c = cfg_fake(&fc, 4);
	REQUIRE(loop_init(&l, &c) == 0);
	int fired = 0;
	struct loop_timer_id id;
	CHECK_EQ_INT(loop_timer_add(&l, 10, count_cb, &fired, &id), 0);
	CHECK(loop_timer_pending(&l, id));
	fc.now_ms = 9;
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	CHECK_EQ_INT(fired, 0);
	fc.now_ms = 10;
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(fired, 1);
	CHECK(!loop_timer_pending(&l, id));
	loop_fini(&l);
}

static void timer_cancel_pending(void)
{
	struct fake_clock fc = {0};
	struct loop l;
	struct loop_config c = cfg_fake(&fc, 4);
	REQUIRE(loop_init(&l, &c) == 0);
	int fired = 0;
	struct loop_timer_id a, b, zero = {0, 0};
	CHECK_EQ_INT(loop_timer_add(&l, 5, count_cb, &fired, &a), 0);
	CHECK_EQ_INT(loop_timer_add(&l, 5, count_cb, &fired, &b), 0);
	CHECK_EQ_INT(loop_timer_cancel(&l, a), 0);
	CHECK_EQ_INT(loop_timer_cancel(&l, a), -ERR_NOTFOUND); /* twice: no-op */
	CHECK_EQ_INT(loop_timer_cancel(&l, zero), -ERR_NOTFOUND);
	CHECK_EQ_INT(loop_timer_cancel(&l, (struct loop_timer_id){99, 1}), -ERR_NOTFOUND);
	CHECK_EQ_INT(loop_timer_count(&l), 1);
	CHECK(loop_invariants_ok(&l));
	fc.now_ms = 5;
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(fired, 1);
	loop_fini(&l);
}

/* With one slot, the timer added after the first fired reuses its slot; the
 * first handle is stale and must not cancel the newcomer. */
static void timer_cancel_stale_after_fire(void)
{
	struct fake_clock fc = {0};
	struct loop l;
	struct loop_config c = cfg_fake(&fc, 1);
	REQUIRE(loop_init(&l, &c) == 0);
	int fired_a = 0, fired_b = 0;
	struct loop_timer_id a, b;
	CHECK_EQ_INT(loop_timer_add(&l, 1, count_cb, &fired_a, &a), 0);
	fc.now_ms = 1;
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(loop_timer_add(&l, 1, count_cb, &fired_b, &b), 0);
	CHECK_EQ_INT(b.idx, a.idx);
	CHECK(b.gen != a.gen);
	CHECK_EQ_INT(loop_timer_cancel(&l, a), -ERR_NOTFOUND);
	CHECK(loop_timer_pending(&l, b));
	fc.now_ms = 2;
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(fired_a, 1);
	CHECK_EQ_INT(fired_b, 1);
	loop_fini(&l);
}

struct readd_ctx {
	int fired;
	int limit;
	uint64_t delay;
	int add_rc;
};

static void readd_cb(struct loop *l, void *arg)
{
	struct readd_ctx *r = arg;
	r->fired++;
	if (r->fired < r->limit)
		r->add_rc = loop_timer_add(l, r->delay, readd_cb, r, NULL);
}

static void timer_cap_boundary(void)
{
	struct fake_clock fc = {0};
	struct loop l;
	struct loop_config c = cfg_fake(&fc, 3);
	REQUIRE(loop_init(&l, &c) == 0);
	int fired = 0;
	struct loop_timer_id id[3];
	for (int i = 0; i < 3; i++) /* up to the cap */
		CHECK_EQ_INT(loop_timer_add(&l, 10, count_cb, &fired, &id[i]), 0);
	/* Just over: refused, nothing armed, the others intact. */
	CHECK_EQ_INT(loop_timer_add(&l, 10, count_cb, &fired, NULL), -ERR_LOOP_FULL);
	CHECK_EQ_INT(loop_timer_every(&l, 1, 1, count_cb, &fired, NULL), -ERR_LOOP_FULL);
	CHECK(strstr(l.errmsg, "max_timers") != NULL);
	CHECK_EQ_INT(loop_timer_count(&l), 3);
	CHECK(loop_invariants_ok(&l));
	CHECK_EQ_INT(loop_timer_cancel(&l, id[1]), 0);
	CHECK_EQ_INT(loop_timer_add(&l, 10, count_cb, &fired, &id[1]), 0);
	CHECK_EQ_INT(loop_timer_count(&l), 3);
	fc.now_ms = 10;
	CHECK_EQ_INT(loop_run_once(&l, 0), 3);
	CHECK_EQ_INT(fired, 3);

	/* At the cap, a one-shot may re-add itself: its slot is free by then. */
	struct readd_ctx r = {.limit = 3, .delay = 1};
	for (int i = 0; i < 2; i++)
		CHECK_EQ_INT(loop_timer_add(&l, 100, count_cb, &fired, NULL), 0);
	CHECK_EQ_INT(loop_timer_add(&l, 0, readd_cb, &r, NULL), 0);
	for (int i = 0; i < 3; i++) {
		fc.now_ms++;
		CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	}
	CHECK_EQ_INT(r.fired, 3);
	CHECK_EQ_INT(r.add_rc, 0);
	CHECK_EQ_INT(loop_timer_count(&l), 2);
	CHECK(loop_invariants_ok(&l));
	loop_fini(&l);
}

static void timer_errors(void)
{
	struct fake_clock fc = {0};
	struct loop l;
	struct loop_config c = cfg_fake(&fc, 2);
	REQUIRE(loop_init(&l, &c) == 0);
	int fired = 0;
	CHECK_EQ_INT(loop_timer_add(&l, 1, NULL, &fired, NULL), -ERR_INVAL);
	CHECK_EQ_INT(loop_timer_every(&l, 1, 0, count_cb, &fired, NULL), -ERR_INVAL);
	CHECK_EQ_INT(loop_timer_count(&l), 0);
	/* A delay that overflows the clock saturates: never due, still armed. */
	struct loop_timer_id far;
	fc.now_ms = 500;
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	CHECK_EQ_INT(loop_timer_add(&l, UINT64_MAX, count_cb, &fired, &far), 0);
	fc.now_ms = UINT64_MAX - 1;
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	CHECK(loop_timer_pending(&l, far));
	CHECK_EQ_INT(fired, 0);
	loop_fini(&l);
}

static void timer_rearm_from_callback(void)
{
	struct fake_clock fc = {0};
	struct loop l;
	struct loop_config c = cfg_fake(&fc, 1);
	REQUIRE(loop_init(&l, &c) == 0);
	struct readd_ctx r = {.limit = 5, .delay = 10};
	CHECK_EQ_INT(loop_timer_add(&l, 10, readd_cb, &r, NULL), 0);
	for (int i = 1; i <= 6; i++) {
		fc.now_ms = (uint64_t)i * 10 - 1;
		CHECK_EQ_INT(loop_run_once(&l, 0), 0); /* one ms early: nothing */
		fc.now_ms = (uint64_t)i * 10;
		CHECK_EQ_INT(loop_run_once(&l, 0), i <= 5 ? 1 : 0);
	}
	CHECK_EQ_INT(r.fired, 5);
	CHECK_EQ_INT(loop_timer_count(&l), 0);
	loop_fini(&l);
}

/* A timer that re-adds itself with delay 0 runs once per iteration, and I/O
 * is served in every one of those iterations. */
static void io_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	(*(int *)arg)++;
}

static void timer_zero_delay_no_starvation(void)
{
	struct loop l;
	struct loop_config c = {.max_fds = 2, .max_timers = 2, .max_events = 2};
	REQUIRE(loop_init(&l, &c) == 0);
	int p[2];
	REQUIRE(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	int io = 0;
	CHECK_EQ_INT(loop_add_fd(&l, p[1], LOOP_WRITE, io_cb, &io), 0);
	struct readd_ctx r = {.limit = 1000000, .delay = 0};
	CHECK_EQ_INT(loop_timer_add(&l, 0, readd_cb, &r, NULL), 0);
	for (int i = 1; i <= 3; i++) {
		CHECK_EQ_INT(loop_run_once(&l, -1), 2); /* must not block either */
		CHECK_EQ_INT(r.fired, i);
		CHECK_EQ_INT(io, i);
	}
	loop_fini(&l);
	close(p[0]);
	close(p[1]);
}

/* A callback cancelling a timer due in the same pass stops it; adding one
 * with delay 0 defers it to the next iteration. */
struct pass_ctx {
	struct loop_timer_id victim, self;
	int victim_fired;
	int late_fired;
	int self_cancel_rc;
};

static void victim_cb(struct loop *l, void *arg)
{
	((struct pass_ctx *)arg)->victim_fired++;
}

static void late_cb(struct loop *l, void *arg)
{
	((struct pass_ctx *)arg)->late_fired++;
}

static void killer_cb(struct loop *l, void *arg)
{
	struct pass_ctx *p = arg;
	CHECK_EQ_INT(loop_timer_cancel(l, p->victim), 0);
	p->self_cancel_rc = loop_timer_cancel(l, p->self); /* one-shot: already stale */
	CHECK_EQ_INT(loop_timer_add(l, 0, late_cb, p, NULL), 0);
}

static void timer_callback_changes_pass(void)
{
	struct fake_clock fc = {0};
	struct loop l;
	struct loop_config c = cfg_fake(&fc, 4);
	REQUIRE(loop_init(&l, &c) == 0);
	struct pass_ctx p = {0};
	CHECK_EQ_INT(loop_timer_add(&l, 1, killer_cb, &p, &p.self), 0);
	CHECK_EQ_INT(loop_timer_add(&l, 1, victim_cb, &p, &p.victim), 0);
	fc.now_ms = 1;
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(p.victim_fired, 0);
	CHECK_EQ_INT(p.self_cancel_rc, -ERR_NOTFOUND);
	CHECK_EQ_INT(p.late_fired, 0);
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(p.late_fired, 1);
	CHECK(loop_invariants_ok(&l));
	loop_fini(&l);
}

static void timer_periodic(void)
{
	struct fake_clock fc = {0};
	struct loop l;
	struct loop_config c = cfg_fake(&fc, 2);
	REQUIRE(loop_init(&l, &c) == 0);
	int fired = 0;
	struct loop_timer_id id;
	CHECK_EQ_INT(loop_timer_every(&l, 5, 10, count_cb, &fired, &id), 0);
	fc.now_ms = 5;
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	fc.now_ms = 14;
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	fc.now_ms = 15; /* previous deadline + period */
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK(loop_timer_pending(&l, id));
	/* Far behind: one call, not a burst; next due a period from now. */
	fc.now_ms = 100;
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	fc.now_ms = 109;
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	fc.now_ms = 110;
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(fired, 4);
	CHECK_EQ_INT(loop_timer_count(&l), 1);
	CHECK_EQ_INT(loop_timer_cancel(&l, id), 0);
	CHECK(!loop_timer_pending(&l, id));
	fc.now_ms = 1000;
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	CHECK_EQ_INT(fired, 4);
	loop_fini(&l);
}

/* A periodic timer cancels itself from its callback and arms a one-shot,
 * which (one slot) reuses the slot: the loop must not re-arm the periodic
 * timer over the newcomer. */
struct periodic_ctx {
	struct loop_timer_id self, next;
	int fired, next_fired;
};

static void periodic_next_cb(struct loop *l, void *arg)
{
	((struct periodic_ctx *)arg)->next_fired++;
}

static void periodic_self_cancel_cb(struct loop *l, void *arg)
{
	struct periodic_ctx *p = arg;
	p->fired++;
	CHECK(loop_timer_pending(l, p->self));
	CHECK_EQ_INT(loop_timer_cancel(l, p->self), 0);
	CHECK_EQ_INT(loop_timer_add(l, 50, periodic_next_cb, p, &p->next), 0);
}

static void timer_periodic_cancel_in_callback(void)
{
	struct fake_clock fc = {0};
	struct loop l;
	struct loop_config c = cfg_fake(&fc, 1);
	REQUIRE(loop_init(&l, &c) == 0);
	struct periodic_ctx p = {0};
	CHECK_EQ_INT(loop_timer_every(&l, 10, 10, periodic_self_cancel_cb, &p, &p.self), 0);
	fc.now_ms = 10;
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(p.next.idx, p.self.idx);
	CHECK(loop_timer_pending(&l, p.next));
	CHECK(!loop_timer_pending(&l, p.self));
	CHECK(loop_invariants_ok(&l));
	fc.now_ms = 20;
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	fc.now_ms = 60;
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(p.fired, 1);
	CHECK_EQ_INT(p.next_fired, 1);
	loop_fini(&l);
}

/* loop_now_ms is cached: the clock moving during a callback is not seen
 * before the next iteration; an injected clock going back is ignored. */
struct now_ctx {
	struct fake_clock *fc;
	uint64_t before, after;
};

static void now_cb(struct loop *l, void *arg)
{
	struct now_ctx *n = arg;
	n->before = loop_now_ms(l);
	n->fc->now_ms += 500;
	n->after = loop_now_ms(l);
}

static void timer_now_is_cached(void)
{
	struct fake_clock fc = {100};
	struct loop l;
	struct loop_config c = cfg_fake(&fc, 2);
	REQUIRE(loop_init(&l, &c) == 0);
	struct now_ctx n = {.fc = &fc};
	CHECK_EQ_INT(loop_timer_add(&l, 0, now_cb, &n, NULL), 0);
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(n.before, 100);
	CHECK_EQ_INT(n.after, 100);
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	CHECK_EQ_INT(loop_now_ms(&l), 600);
	fc.now_ms = 50;
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	CHECK_EQ_INT(loop_now_ms(&l), 600);
	loop_fini(&l);
}

/* Real clock: the loop sleeps until the nearest timer, not longer and not
 * in a busy loop. */
struct wait_ctx {
	int iterations;
	int fired;
};

static void wait_hook(struct loop *l, void *arg)
{
	((struct wait_ctx *)arg)->iterations++;
}

static void wait_stop_cb(struct loop *l, void *arg)
{
	((struct wait_ctx *)arg)->fired++;
	loop_stop(l);
}

static void timer_epoll_timeout_follows_nearest(void)
{
	struct loop l;
	struct loop_config c = {.max_fds = 2, .max_timers = 4, .max_events = 2};
	REQUIRE(loop_init(&l, &c) == 0);
	struct wait_ctx w = {0};
	int late = 0;
	loop_set_before_sleep(&l, wait_hook, &w);
	CHECK_EQ_INT(loop_timer_add(&l, 1000, count_cb, &late, NULL), 0);
	CHECK_EQ_INT(loop_timer_add(&l, 40, wait_stop_cb, &w, NULL), 0);
	uint64_t t0 = loop_now_ms(&l);
	CHECK_EQ_INT(loop_run(&l), 0);
	uint64_t elapsed = loop_now_ms(&l) - t0;
	CHECK_EQ_INT(w.fired, 1);
	CHECK(elapsed >= 40);
	CHECK(elapsed < 500); /* slack for a loaded machine, far below 1000 */
	CHECK(w.iterations <= 3);
	CHECK_EQ_INT(late, 0);
	CHECK_EQ_INT(loop_timer_count(&l), 1);
	loop_fini(&l);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* 1000 timers due at once fire in one pass, in (deadline, insertion) order. */
struct many_ctx {
	uint64_t deadline[1000];
	int fired[1000];
	int n;
	bool ordered;
};

struct many_item {
	struct many_ctx *m;
	int i;
};

static void many_cb(struct loop *l, void *arg)
{
	struct many_item *it = arg;
	struct many_ctx *m = it->m;
	if (m->n > 0) {
		int prev = m->fired[m->n - 1];
		if (m->deadline[prev] > m->deadline[it->i] ||
		    (m->deadline[prev] == m->deadline[it->i] && prev > it->i))
			m->ordered = false;
	}
	m->fired[m->n++] = it->i;
}

static void timer_many_due_at_once(void)
{
	enum { N = 1000 };
	struct fake_clock fc = {0};
	struct loop l;
	struct loop_config c = cfg_fake(&fc, N);
	REQUIRE(loop_init(&l, &c) == 0);
	struct many_ctx *m = calloc(1, sizeof *m);
	struct many_item *items = calloc(N, sizeof *items);
	REQUIRE(m && items);
	m->ordered = true;
	uint64_t seed = 42;
	for (int i = 0; i < N; i++) {
		uint64_t d = xorshift(&seed) % 100;
		m->deadline[i] = d;
		items[i] = (struct many_item){m, i};
		CHECK_EQ_INT(loop_timer_add(&l, d, many_cb, &items[i], NULL), 0);
	}
	CHECK_EQ_INT(loop_timer_add(&l, 0, count_cb, &m->n, NULL), -ERR_LOOP_FULL);
	CHECK(loop_invariants_ok(&l));
	fc.now_ms = 100;
	CHECK_EQ_INT(loop_run_once(&l, 0), N);
	CHECK_EQ_INT(m->n, N);
	CHECK(m->ordered);
	CHECK_EQ_INT(loop_timer_count(&l), 0);
	loop_fini(&l);
	free(items);
	free(m);
}

/* Randomised add / cancel / advance against a reference model ------------- */

enum { MODEL_CAP = 48, MODEL_OPS = 10000, MODEL_RECS = MODEL_OPS * 2 };

struct model_rec {
	struct model *m;
	struct loop_timer_id id;
	uint64_t deadline;
	uint64_t seq;
	bool alive;
};

struct model {
	struct loop *l;
	struct fake_clock fc;
	uint64_t rng;
	uint64_t seq;      /* model's own arming counter */
	uint64_t pass_seq; /* its value when the current pass began */
	struct model_rec *recs;
	int nrecs;
	int alive;
	int fired;
	int full;      /* adds refused at the cap */
	int max_alive; /* deepest heap seen */
	int bad_order;
};

static void model_cb(struct loop *l, void *arg);

static void model_add(struct model *m)
{
	uint64_t delay = xorshift(&m->rng) % 200; /* ms steps below: many ties */
	if (m->nrecs >= MODEL_RECS)
		return;
	struct model_rec *r = &m->recs[m->nrecs];
	int rc = loop_timer_add(m->l, delay, model_cb, r, &r->id);
	if (m->alive == MODEL_CAP) {
		CHECK_EQ_INT(rc, -ERR_LOOP_FULL);
		m->full++;
		return;
	}
	CHECK_EQ_INT(rc, 0);
	*r = (struct model_rec){m, r->id, loop_now_ms(m->l) + delay, m->seq++, true};
	m->nrecs++;
	if (++m->alive > m->max_alive)
		m->max_alive = m->alive;
}

static void model_cancel(struct model *m)
{
	if (m->nrecs == 0)
		return;
	struct model_rec *r = &m->recs[xorshift(&m->rng) % (uint64_t)m->nrecs];
	CHECK_EQ_INT(loop_timer_cancel(m->l, r->id), r->alive ? 0 : -ERR_NOTFOUND);
	if (r->alive) {
		r->alive = false;
		m->alive--;
	}
}

/* The record the loop must fire next: smallest (deadline, seq) among live
 * records due now and armed before the pass. */
static struct model_rec *model_next_due(struct model *m)
{
	struct model_rec *best = NULL;
	uint64_t now = loop_now_ms(m->l);
	for (int i = 0; i < m->nrecs; i++) {
		struct model_rec *r = &m->recs[i];
		if (!r->alive || r->deadline > now || r->seq >= m->pass_seq)
			continue;
		if (!best || r->deadline < best->deadline ||
		    (r->deadline == best->deadline && r->seq < best->seq))
			best = r;
	}
	return best;
}

static void model_cb(struct loop *l, void *arg)
{
	struct model_rec *r = arg;
	struct model *m = r->m;
	if (model_next_due(m) != r)
		m->bad_order++;
	CHECK(r->alive);
	r->alive = false;
	m->alive--;
	m->fired++;
	/* Callbacks change the heap mid-pass too. */
	uint64_t x = xorshift(&m->rng) % 8;
	if (x == 0)
		model_add(m);
	else if (x == 1)
		model_cancel(m);
}

static void timer_random_vs_model(void)
{
	struct model *m = calloc(1, sizeof *m);
	REQUIRE(m);
	m->recs = calloc(MODEL_RECS, sizeof *m->recs);
	REQUIRE(m->recs);
	struct loop l;
	struct loop_config c = cfg_fake(&m->fc, MODEL_CAP);
	REQUIRE(loop_init(&l, &c) == 0);
	m->l = &l;
	m->rng = 0x9e3779b97f4a7c15ull; /* fixed seed: failures replay */
	for (int op = 0; op < MODEL_OPS; op++) {
		uint64_t x = xorshift(&m->rng) % 100;
		if (x < 50) {
			model_add(m);
		} else if (x < 75) {
			model_cancel(m);
		} else {
			m->fc.now_ms += xorshift(&m->rng) % 15;
			m->pass_seq = m->seq;
			int ran = loop_run_once(&l, 0);
			CHECK(ran >= 0);
			/* Nothing armed before the pass and due is left behind. */
			CHECK(model_next_due(m) == NULL);
		}
		CHECK_EQ_INT(loop_timer_count(&l), m->alive);
		if (op % 16 == 0 || !loop_invariants_ok(&l))
			REQUIRE(loop_invariants_ok(&l));
	}
	CHECK_EQ_INT(m->bad_order, 0);
	/* The run really exercised firing, a full heap and the cap. */
	CHECK(m->fired > 1000);
	CHECK_EQ_INT(m->max_alive, MODEL_CAP);
	CHECK(m->full > 0);
	for (int i = 0; i < m->nrecs; i++)
		CHECK(loop_timer_pending(&l, m->recs[i].id) == m->recs[i].alive);
	loop_fini(&l);
	free(m->recs);
	free(m);
}

TEST_MAIN(timer_order_and_ties, timer_not_before_deadline, timer_cancel_pending,
	  timer_cancel_stale_after_fire, timer_cap_boundary, timer_errors,
	  timer_rearm_from_callback, timer_zero_delay_no_starvation, timer_callback_changes_pass,
	  timer_periodic, timer_periodic_cancel_in_callback, timer_now_is_cached,
	  timer_epoll_timeout_follows_nearest, timer_many_due_at_once, timer_random_vs_model)
