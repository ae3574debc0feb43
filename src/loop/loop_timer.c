/* loop_timer.c — timers: fixed slots plus a binary min-heap. See loop.h.
 *
 * Slots (max_timers, allocated by loop_init) hold each timer; the heap holds
 * slot indices ordered by (deadline_ms, seq), where seq is a loop-wide
 * counter taken at every arming, so equal deadlines fire in the order the
 * timers were armed. Each slot knows its heap position, so cancel is
 * O(log n) without a search. A handle is (slot, generation); the generation
 * changes whenever a slot is released, so a stale handle matches nothing.
 *
 * A pass (loop_timer_run_due_) fires the timers due at the loop's cached
 * now and armed before the pass began (seq below the counter's value at the
 * start). A timer armed by a callback during the pass, even with delay 0,
 * waits for the next iteration: timers can never keep the loop from epoll.
 */
#include "loop/loop.h"

#include "base/base_err.h"

#include <assert.h>
#include <stddef.h>

#define LOOP_NONE UINT32_MAX

enum loop_timer_state {
	LOOP_TIMER_FREE = 0,
	LOOP_TIMER_ARMED,  /* in the heap */
	LOOP_TIMER_FIRING, /* periodic, out of the heap while its callback runs */
};

void loop_timer_init_(struct loop *l)
{
	/* Slots are initialized on first use (timer_hwm): the zero-filled table costs no
	 * resident memory until timers come. A zeroed slot reads as free with generation 0,
	 * which no handle carries. */
	l->timer_free = LOOP_NONE;
	l->timer_hwm = 0;
	l->timer_used = 0;
	l->heap_len = 0;
	l->next_seq = 0;
}

static uint64_t loop_sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Heap -------------------------------------------------------------------- */

static bool loop_timer_before(const struct loop *l, uint32_t a, uint32_t b)
{
	const struct loop_timer_slot *x = &l->timers[a], *y = &l->timers[b];
	if (x->deadline_ms != y->deadline_ms)
		return x->deadline_ms < y->deadline_ms;
	return x->seq < y->seq;
}

static void loop_heap_set(struct loop *l, uint32_t pos, uint32_t slot)
{
	l->heap[pos] = slot;
	l->timers[slot].heap_pos = pos;
}

static void loop_heap_up(struct loop *l, uint32_t pos)
{
	uint32_t slot = l->heap[pos];
	while (pos > 0) {
		uint32_t parent = (pos - 1) / 2;
		if (!loop_timer_before(l, slot, l->heap[parent]))
			break;
		loop_heap_set(l, pos, l->heap[parent]);
		pos = parent;
	}
	loop_heap_set(l, pos, slot);
}

static void loop_heap_down(struct loop *l, uint32_t pos)
{
	uint32_t slot = l->heap[pos];
	for (;;) {
		uint32_t child = 2 * pos + 1;
		if (child >= l->heap_len)
			break;
		if (child + 1 < l->heap_len &&
		    loop_timer_before(l, l->heap[child + 1], l->heap[child]))
			child++;
		if (!loop_timer_before(l, l->heap[child], slot))
			break;
		loop_heap_set(l, pos, l->heap[child]);
		pos = child;
	}
	loop_heap_set(l, pos, slot);
}

static void loop_heap_push(struct loop *l, uint32_t slot)
{
	assert(l->heap_len < l->cfg.max_timers);
	uint32_t pos = l->heap_len++;
	loop_heap_set(l, pos, slot);
	loop_heap_up(l, pos);
}

static void loop_heap_remove(struct loop *l, uint32_t pos)
{
	assert(pos < l->heap_len);
	uint32_t last = l->heap[--l->heap_len];
	if (pos == l->heap_len)
		return;
	/* The last leaf fills the hole; it may belong above or below it. */
	loop_heap_set(l, pos, last);
	loop_heap_up(l, pos);
	loop_heap_down(l, l->timers[last].heap_pos);
}

/* Slots ------------------------------------------------------------------- */

static void loop_timer_release(struct loop *l, uint32_t idx)
{
	struct loop_timer_slot *s = &l->timers[idx];
	assert(s->state != LOOP_TIMER_FREE);
	s->state = LOOP_TIMER_FREE;
	s->cb = NULL;
	s->arg = NULL;
	if (++s->gen == 0)
		s->gen = 1;
	s->next_free = l->timer_free;
	l->timer_free = idx;
	l->timer_used--;
}

/* Put a FIRING or fresh slot in the heap, due at deadline_ms. */
static void loop_timer_arm(struct loop *l, uint32_t idx, uint64_t deadline_ms)
{
	struct loop_timer_slot *s = &l->timers[idx];
	s->deadline_ms = deadline_ms;
	s->seq = l->next_seq++;
	s->state = LOOP_TIMER_ARMED;
	loop_heap_push(l, idx);
}

static int loop_timer_new(struct loop *l, uint64_t delay_ms, uint64_t period_ms, loop_timer_cb cb,
			  void *arg, struct loop_timer_id *out)
{
	if (!cb)
		return -ERR_INVAL;
	uint32_t idx = l->timer_free;
	struct loop_timer_slot *s;
	if (idx == LOOP_NONE) {
		if (l->timer_hwm == l->cfg.max_timers) {
			loop_set_err_(l, "timer: max_timers (%u) reached", l->cfg.max_timers);
			return -ERR_LOOP_FULL;
		}
		idx = l->timer_hwm++; /* first use of this slot */
		s = &l->timers[idx];
		*s = (struct loop_timer_slot){.gen = 1, .state = LOOP_TIMER_FREE};
	} else {
		s = &l->timers[idx];
		l->timer_free = s->next_free;
	}
	s->next_free = LOOP_NONE;
	s->cb = cb;
	s->arg = arg;
	s->period_ms = period_ms;
	l->timer_used++;
	loop_timer_arm(l, idx, loop_sat_add(l->now_ms, delay_ms));
	if (out)
		*out = (struct loop_timer_id){.idx = idx, .gen = s->gen};
	return 0;
}

int loop_timer_add(struct loop *l, uint64_t delay_ms, loop_timer_cb cb, void *arg,
		   struct loop_timer_id *out)
{
	return loop_timer_new(l, delay_ms, 0, cb, arg, out);
}

int loop_timer_every(struct loop *l, uint64_t delay_ms, uint64_t period_ms, loop_timer_cb cb,
		     void *arg, struct loop_timer_id *out)
{
	if (period_ms == 0)
		return -ERR_INVAL;
	return loop_timer_new(l, delay_ms, period_ms, cb, arg, out);
}

/* The live slot a handle designates, or NULL. */
static struct loop_timer_slot *loop_timer_get(const struct loop *l, struct loop_timer_id id)
{
	if (id.gen == 0 || id.idx >= l->cfg.max_timers)
		return NULL;
	struct loop_timer_slot *s = &l->timers[id.idx];
	if (s->gen != id.gen || s->state == LOOP_TIMER_FREE)
		return NULL;
	return s;
}

int loop_timer_cancel(struct loop *l, struct loop_timer_id id)
{
	struct loop_timer_slot *s = loop_timer_get(l, id);
	if (!s)
		return -ERR_NOTFOUND;
	if (s->state == LOOP_TIMER_ARMED)
		loop_heap_remove(l, s->heap_pos);
	loop_timer_release(l, id.idx);
	return 0;
}

bool loop_timer_pending(const struct loop *l, struct loop_timer_id id)
{
	return loop_timer_get(l, id) != NULL;
}

uint32_t loop_timer_count(const struct loop *l)
{
	return l->timer_used;
}

/* The pass ---------------------------------------------------------------- */

int64_t loop_timer_wait_ms_(const struct loop *l)
{
	if (l->heap_len == 0)
		return -1;
	uint64_t deadline = l->timers[l->heap[0]].deadline_ms;
	if (deadline <= l->now_ms)
		return 0;
	uint64_t wait = deadline - l->now_ms;
	return wait > INT64_MAX ? INT64_MAX : (int64_t)wait;
}

/* Periodic timer after its callback: next deadline one period after the
 * previous one, or one period from now if the loop fell a period behind. */
static void loop_timer_rearm(struct loop *l, uint32_t idx)
{
	struct loop_timer_slot *s = &l->timers[idx];
	uint64_t next = loop_sat_add(s->deadline_ms, s->period_ms);
	if (next <= l->now_ms)
		next = loop_sat_add(l->now_ms, s->period_ms);
	loop_timer_arm(l, idx, next);
}

int loop_timer_run_due_(struct loop *l)
{
	const uint64_t now = l->now_ms;
	const uint64_t seq_bound = l->next_seq;
	int ran = 0;
	/* Timers armed during the pass have deadline >= now and a larger seq
	 * than every timer due before it, so they sort after all of those: the
	 * first one met at the top ends the pass. */
	while (l->heap_len > 0) {
		uint32_t idx = l->heap[0];
		struct loop_timer_slot *s = &l->timers[idx];
		if (s->deadline_ms > now || s->seq >= seq_bound)
			break;
		loop_heap_remove(l, 0);
		loop_timer_cb cb = s->cb;
		void *arg = s->arg;
		if (s->period_ms == 0) {
			/* Released first: the callback may re-add into this slot,
			 * and cancelling its own (now stale) handle is a no-op. */
			loop_timer_release(l, idx);
			cb(l, arg);
		} else {
			uint32_t gen = s->gen;
			s->state = LOOP_TIMER_FIRING;
			cb(l, arg);
			/* Unless the callback cancelled it (the slot then has a
			 * new generation, perhaps a new timer). */
			if (s->gen == gen && s->state == LOOP_TIMER_FIRING)
				loop_timer_rearm(l, idx);
		}
		ran++;
	}
	return ran;
}

/* Checks ------------------------------------------------------------------ */

bool loop_timer_invariants_ok_(const struct loop *l)
{
	uint32_t cap = l->cfg.max_timers, armed = 0, used = 0, free_count = 0;
	if (l->heap_len > cap)
		return false;
	for (uint32_t pos = 0; pos < l->heap_len; pos++) {
		uint32_t idx = l->heap[pos];
		if (idx >= cap || l->timers[idx].heap_pos != pos ||
		    l->timers[idx].state != LOOP_TIMER_ARMED)
			return false;
		if (pos > 0 && loop_timer_before(l, idx, l->heap[(pos - 1) / 2]))
			return false;
	}
	if (l->timer_hwm > cap)
		return false;
	for (uint32_t i = 0; i < cap; i++) {
		const struct loop_timer_slot *s = &l->timers[i];
		if (i >= l->timer_hwm) { /* never used: still all zeroes */
			if (s->gen != 0 || s->state != LOOP_TIMER_FREE)
				return false;
			continue;
		}
		if (s->gen == 0)
			return false;
		armed += s->state == LOOP_TIMER_ARMED;
		used += s->state != LOOP_TIMER_FREE;
		if (s->state == LOOP_TIMER_ARMED && s->seq >= l->next_seq)
			return false;
	}
	for (uint32_t i = l->timer_free; i != LOOP_NONE; i = l->timers[i].next_free) {
		if (i >= l->timer_hwm || l->timers[i].state != LOOP_TIMER_FREE ||
		    ++free_count > cap)
			return false;
	}
	free_count += cap - l->timer_hwm;
	return armed == l->heap_len && used == l->timer_used && used + free_count == cap;
}
