/* Unit tests for loop: lifecycle, fd handlers, run/stop, hook, signals, children.
 * Timers are in test_loop_timer.c. Every case builds its own loop and
 * releases it (and its signals) before returning.
 */
#include "base/base_err.h"
#include "loop/loop.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static struct loop_config cfg_small(void)
{
	return (struct loop_config){.max_fds = 8, .max_timers = 8, .max_events = 8};
}

static int pipe_nb(int p[2])
{
	return pipe2(p, O_NONBLOCK | O_CLOEXEC);
}

static void close_pair(int p[2])
{
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	p[0] = p[1] = -1;
}

/* Records what an fd callback saw. */
struct fd_probe {
	int calls;
	int last_fd;
	uint32_t last_events;
};

static void probe_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct fd_probe *p = arg;
	p->calls++;
	p->last_fd = fd;
	p->last_events = events;
}

static void nop_fd_cb(struct loop *l, int fd, uint32_t events, void *arg) {}

/* Lifecycle ---------------------------------------------------------------- */

static void init_rejects_bad_caps(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	c.max_fds = 0;
	CHECK_EQ_INT(loop_init(&l, &c), -ERR_INVAL);
	CHECK(strstr(l.errmsg, "max_fds") != NULL);
	loop_fini(&l); /* harmless after a failed init */
	c = cfg_small();
	c.max_timers = 0;
	CHECK_EQ_INT(loop_init(&l, &c), -ERR_INVAL);
	c = cfg_small();
	c.max_events = 0;
	CHECK_EQ_INT(loop_init(&l, &c), -ERR_INVAL);
	c = cfg_small();
	c.max_events = LOOP_CAP_MAX + 1;
	CHECK_EQ_INT(loop_init(&l, &c), -ERR_RANGE);
	c = cfg_small();
	c.max_children = LOOP_CAP_MAX + 1;
	CHECK_EQ_INT(loop_init(&l, &c), -ERR_RANGE);
	CHECK_EQ_INT(loop_run_once(&l, 0), -ERR_INVAL); /* never initialised */

	c = cfg_small(); /* max_children 0 is allowed */
	REQUIRE(loop_init(&l, &c) == 0);
	CHECK(loop_invariants_ok(&l));
	CHECK_EQ_INT(loop_fd_count(&l), 0);
	CHECK_EQ_INT(loop_timer_count(&l), 0);
	loop_fini(&l);
	loop_fini(&l); /* idempotent */
	CHECK(!loop_invariants_ok(&l));
}

/* fds ---------------------------------------------------------------------- */

static void fd_read_dispatch(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	REQUIRE(loop_init(&l, &c) == 0);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	struct fd_probe pr = {0};
	CHECK_EQ_INT(loop_add_fd(&l, p[0], LOOP_READ, probe_cb, &pr), 0);
	CHECK_EQ_INT(loop_run_once(&l, 0), 0); /* empty pipe: nothing */
	CHECK_EQ_INT(pr.calls, 0);

	CHECK_EQ_INT(write(p[1], "x", 1), 1);
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(pr.calls, 1);
	CHECK_EQ_INT(pr.last_fd, p[0]);
	CHECK_EQ_INT(pr.last_events, LOOP_READ);
	/* Level-triggered: still readable, reported again. */
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(pr.calls, 2);
	char b;
	CHECK_EQ_INT(read(p[0], &b, 1), 1);
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	CHECK_EQ_INT(pr.calls, 2);

	CHECK_EQ_INT(loop_del_fd(&l, p[0]), 0);
	CHECK(loop_invariants_ok(&l));
	loop_fini(&l);
	close_pair(p);
}

static void fd_write_ready(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	REQUIRE(loop_init(&l, &c) == 0);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	struct fd_probe pr = {0};
	CHECK_EQ_INT(loop_add_fd(&l, p[1], LOOP_WRITE, probe_cb, &pr), 0);
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(pr.last_fd, p[1]);
	CHECK_EQ_INT(pr.last_events, LOOP_WRITE);
	/* Fill the pipe: no longer writable, no callback. */
	char chunk[4096];
	memset(chunk, 'a', sizeof chunk);
	while (write(p[1], chunk, sizeof chunk) > 0)
		;
	CHECK_EQ_INT(errno, EAGAIN);
	pr.calls = 0;
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	CHECK_EQ_INT(pr.calls, 0);
	loop_fini(&l);
	close_pair(p);
}

static void fd_mod_changes_interest(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	REQUIRE(loop_init(&l, &c) == 0);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	struct fd_probe pr = {0};
	CHECK_EQ_INT(loop_add_fd(&l, p[1], 0, probe_cb, &pr), 0); /* parked */
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	CHECK_EQ_INT(loop_mod_fd(&l, p[1], LOOP_WRITE), 0);
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(pr.last_events, LOOP_WRITE);
	CHECK_EQ_INT(loop_mod_fd(&l, p[1], 0), 0);
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	CHECK_EQ_INT(pr.calls, 1);

	CHECK_EQ_INT(loop_mod_fd(&l, p[0], LOOP_READ), -ERR_NOTFOUND);
	CHECK_EQ_INT(loop_mod_fd(&l, p[1], 0x80), -ERR_INVAL);
	CHECK_EQ_INT(loop_mod_fd(&l, -1, LOOP_READ), -ERR_INVAL);
	loop_fini(&l);
	close_pair(p);
}

static void fd_hup_and_rdhup_reported(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	REQUIRE(loop_init(&l, &c) == 0);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	struct fd_probe pr = {0};
	CHECK_EQ_INT(loop_add_fd(&l, p[0], LOOP_READ, probe_cb, &pr), 0);
	close(p[1]);
	p[1] = -1;
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK(pr.last_events & LOOP_HUP);
	CHECK_EQ_INT(loop_del_fd(&l, p[0]), 0);

	int sv[2];
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	struct fd_probe ps = {0};
	CHECK_EQ_INT(loop_add_fd(&l, sv[0], LOOP_READ, probe_cb, &ps), 0);
	CHECK_EQ_INT(shutdown(sv[1], SHUT_WR), 0);
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK((ps.last_events & (LOOP_READ | LOOP_RDHUP)) == (LOOP_READ | LOOP_RDHUP));
	CHECK(!(ps.last_events & LOOP_HUP)); /* only half closed */
	loop_fini(&l);
	close_pair(p);
	close_pair(sv);
}

/* loop_forget_fd releases the slot without epoll_ctl; closing the fd (its only descriptor)
 * takes it out of epoll, so nothing is reported for it afterwards, and the slot is reused.
 * Slots are handed out lazily (first use): the table's untouched part stays zeroes. */
static void fd_forget_then_close(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	REQUIRE(loop_init(&l, &c) == 0);
	CHECK(loop_invariants_ok(&l));
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	struct fd_probe pr = {0};
	CHECK_EQ_INT(loop_add_fd(&l, p[0], LOOP_READ, probe_cb, &pr), 0);
	CHECK(write(p[1], "x", 1) == 1);
	CHECK_EQ_INT(loop_forget_fd(&l, p[0]), 0);
	CHECK_EQ_INT(loop_forget_fd(&l, p[0]), -ERR_NOTFOUND);
	CHECK_EQ_INT(loop_forget_fd(&l, -1), -ERR_INVAL);
	CHECK_EQ_INT(loop_fd_count(&l), 0);
	close(p[0]);
	p[0] = -1;
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	CHECK_EQ_INT(pr.calls, 0);
	CHECK(loop_invariants_ok(&l));
	/* every slot can still be taken (the forgotten one first), then the cap holds */
	int q[8][2];
	for (int i = 0; i < 8; i++) {
		REQUIRE(pipe_nb(q[i]) == 0);
		CHECK_EQ_INT(loop_add_fd(&l, q[i][0], LOOP_READ, nop_fd_cb, NULL), 0);
	}
	CHECK_EQ_INT(loop_add_fd(&l, p[1], LOOP_WRITE, nop_fd_cb, NULL), -ERR_LOOP_FULL);
	CHECK(loop_invariants_ok(&l));
	for (int i = 0; i < 8; i++) {
		CHECK_EQ_INT(loop_forget_fd(&l, q[i][0]), 0);
		close_pair(q[i]);
	}
	CHECK_EQ_INT(loop_fd_count(&l), 0);
	CHECK(loop_invariants_ok(&l));
	loop_fini(&l);
	close_pair(p);
}

/* Two readable pipes in one batch; whichever callback runs first deletes
 * and closes the other, then registers a fresh readable pipe, which (with
 * max_fds 2) must take the freed slot and usually the same fd number. The
 * stale event of the deleted fd must reach nobody. */
struct batch_ctx {
	int a[2], b[2], fresh[2];
	int calls_a, calls_b, calls_fresh;
	int add_rc;
};

static void batch_fresh_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct batch_ctx *bc = arg;
	bc->calls_fresh++;
}

static void batch_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct batch_ctx *bc = arg;
	int *other;
	if (fd == bc->a[0]) {
		bc->calls_a++;
		other = bc->b;
	} else {
		bc->calls_b++;
		other = bc->a;
	}
	if (bc->fresh[0] >= 0)
		return;
	CHECK_EQ_INT(loop_del_fd(l, other[0]), 0);
	close_pair(other);
	REQUIRE(pipe_nb(bc->fresh) == 0);
	CHECK_EQ_INT(write(bc->fresh[1], "y", 1), 1);
	bc->add_rc = loop_add_fd(l, bc->fresh[0], LOOP_READ, batch_fresh_cb, bc);
}

static void fd_del_other_in_same_batch(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	c.max_fds = 2;
	REQUIRE(loop_init(&l, &c) == 0);
	struct batch_ctx bc = {.fresh = {-1, -1}};
	REQUIRE(pipe_nb(bc.a) == 0);
	REQUIRE(pipe_nb(bc.b) == 0);
	CHECK_EQ_INT(write(bc.a[1], "x", 1), 1);
	CHECK_EQ_INT(write(bc.b[1], "x", 1), 1);
	CHECK_EQ_INT(loop_add_fd(&l, bc.a[0], LOOP_READ, batch_cb, &bc), 0);
	CHECK_EQ_INT(loop_add_fd(&l, bc.b[0], LOOP_READ, batch_cb, &bc), 0);

	CHECK_EQ_INT(loop_run_once(&l, 0), 1); /* both events taken, one dropped */
	CHECK_EQ_INT(bc.calls_a + bc.calls_b, 1);
	CHECK_EQ_INT(bc.add_rc, 0);
	CHECK_EQ_INT(bc.calls_fresh, 0);
	CHECK_EQ_INT(loop_fd_count(&l), 2);
	CHECK(loop_invariants_ok(&l));

	/* Next iteration: the fresh registration gets its own events. */
	CHECK_EQ_INT(loop_run_once(&l, 0), 2);
	CHECK_EQ_INT(bc.calls_fresh, 1);
	CHECK_EQ_INT(bc.calls_a + bc.calls_b, 2);
	loop_fini(&l);
	close_pair(bc.a);
	close_pair(bc.b);
	close_pair(bc.fresh);
}

static void self_del_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	int *calls = arg;
	(*calls)++;
	CHECK_EQ_INT(loop_del_fd(l, fd), 0);
	CHECK_EQ_INT(loop_del_fd(l, fd), -ERR_NOTFOUND);
}

static void fd_del_self_in_callback(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	REQUIRE(loop_init(&l, &c) == 0);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	int calls = 0;
	CHECK_EQ_INT(loop_add_fd(&l, p[1], LOOP_WRITE, self_del_cb, &calls), 0);
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	CHECK_EQ_INT(calls, 1);
	CHECK_EQ_INT(loop_fd_count(&l), 0);
	CHECK(loop_invariants_ok(&l));
	loop_fini(&l);
	close_pair(p);
}

static void fd_cap_boundary(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	c.max_fds = 4;
	REQUIRE(loop_init(&l, &c) == 0);
	int p[5][2];
	for (int i = 0; i < 5; i++)
		REQUIRE(pipe_nb(p[i]) == 0);
	for (int i = 0; i < 4; i++) /* up to the cap */
		CHECK_EQ_INT(loop_add_fd(&l, p[i][0], LOOP_READ, nop_fd_cb, NULL), 0);
	CHECK_EQ_INT(loop_fd_count(&l), 4);
	/* Just over: refused, nothing registered, the others intact. */
	CHECK_EQ_INT(loop_add_fd(&l, p[4][0], LOOP_READ, nop_fd_cb, NULL), -ERR_LOOP_FULL);
	CHECK(strstr(l.errmsg, "max_fds") != NULL);
	CHECK_EQ_INT(loop_fd_count(&l), 4);
	CHECK_EQ_INT(loop_del_fd(&l, p[4][0]), -ERR_NOTFOUND);
	CHECK(loop_invariants_ok(&l));
	/* A freed slot makes room again. */
	CHECK_EQ_INT(loop_del_fd(&l, p[2][0]), 0);
	CHECK_EQ_INT(loop_add_fd(&l, p[4][0], LOOP_READ, nop_fd_cb, NULL), 0);
	CHECK_EQ_INT(loop_fd_count(&l), 4);
	CHECK(loop_invariants_ok(&l));
	loop_fini(&l);
	for (int i = 0; i < 5; i++)
		close_pair(p[i]);
}

static void fd_add_errors_leave_nothing(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	c.max_fds = 1;
	REQUIRE(loop_init(&l, &c) == 0);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	CHECK_EQ_INT(loop_add_fd(&l, -1, LOOP_READ, nop_fd_cb, NULL), -ERR_INVAL);
	CHECK_EQ_INT(loop_add_fd(&l, p[0], LOOP_READ, NULL, NULL), -ERR_INVAL);
	CHECK_EQ_INT(loop_add_fd(&l, p[0], LOOP_HUP, nop_fd_cb, NULL), -ERR_INVAL);
	CHECK_EQ_INT(loop_del_fd(&l, -1), -ERR_INVAL);
	/* epoll refuses regular files (EPERM): the failure is the syscall's,
	 * converted, and the only slot is still free afterwards. */
	char path[] = "/tmp/test_loop_XXXXXX";
	int file = mkstemp(path);
	REQUIRE(file >= 0);
	unlink(path);
	CHECK_EQ_INT(loop_add_fd(&l, file, LOOP_READ, nop_fd_cb, NULL), -ERR_PERM);
	CHECK(strstr(l.errmsg, "epoll_ctl") != NULL);
	CHECK_EQ_INT(loop_fd_count(&l), 0);
	CHECK_EQ_INT(loop_add_fd(&l, p[0], LOOP_READ, nop_fd_cb, NULL), 0);
	CHECK_EQ_INT(loop_add_fd(&l, p[0], LOOP_READ, nop_fd_cb, NULL), -ERR_EXISTS);
	CHECK(loop_invariants_ok(&l));
	loop_fini(&l);
	close(file);
	close_pair(p);
}

/* Many fd numbers (dups of one pipe end) added and deleted at random, checked
 * against a bitmap, to exercise the fd index's probing and backward-shift
 * deletion. */
static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fd_index_random_churn(void)
{
	enum { NFD = 96, CAP = 32, OPS = 4000 };
	struct loop l;
	struct loop_config c = cfg_small();
	c.max_fds = CAP;
	REQUIRE(loop_init(&l, &c) == 0);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	int fds[NFD];
	bool in[NFD] = {0};
	for (int i = 0; i < NFD; i++) {
		fds[i] = fcntl(p[1], F_DUPFD_CLOEXEC, 0);
		REQUIRE(fds[i] >= 0);
	}
	uint64_t seed = 0x5eed1234abcdull;
	uint32_t count = 0;
	for (int op = 0; op < OPS; op++) {
		int i = (int)(xorshift(&seed) % NFD);
		if (!in[i]) {
			int rc = loop_add_fd(&l, fds[i], 0, nop_fd_cb, NULL);
			if (count == CAP) {
				CHECK_EQ_INT(rc, -ERR_LOOP_FULL);
			} else {
				CHECK_EQ_INT(rc, 0);
				in[i] = true;
				count++;
			}
		} else if (xorshift(&seed) & 1) {
			CHECK_EQ_INT(loop_del_fd(&l, fds[i]), 0);
			in[i] = false;
			count--;
		} else {
			CHECK_EQ_INT(loop_mod_fd(&l, fds[i], LOOP_WRITE), 0);
			CHECK_EQ_INT(loop_add_fd(&l, fds[i], 0, nop_fd_cb, NULL), -ERR_EXISTS);
		}
		CHECK_EQ_INT(loop_fd_count(&l), count);
		if (op % 64 == 0)
			REQUIRE(loop_invariants_ok(&l));
	}
	for (int i = 0; i < NFD; i++)
		CHECK_EQ_INT(loop_mod_fd(&l, fds[i], 0), in[i] ? 0 : -ERR_NOTFOUND);
	CHECK(loop_invariants_ok(&l));
	loop_fini(&l);
	for (int i = 0; i < NFD; i++)
		close(fds[i]);
	close_pair(p);
}

/* max_events bounds the events taken per iteration; the rest are not lost. */
static void fd_max_events_boundary(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	c.max_events = 2;
	REQUIRE(loop_init(&l, &c) == 0);
	int p[3][2];
	struct fd_probe pr[3] = {{0}};
	for (int i = 0; i < 3; i++) {
		REQUIRE(pipe_nb(p[i]) == 0);
		CHECK_EQ_INT(write(p[i][1], "x", 1), 1);
	}
	/* At the cap: two ready fds, both in one iteration. */
	CHECK_EQ_INT(loop_add_fd(&l, p[0][0], LOOP_READ, probe_cb, &pr[0]), 0);
	CHECK_EQ_INT(loop_add_fd(&l, p[1][0], LOOP_READ, probe_cb, &pr[1]), 0);
	CHECK_EQ_INT(loop_run_once(&l, 0), 2);
	CHECK(pr[0].calls == 1 && pr[1].calls == 1);
	/* Just over: three ready, two per iteration, the third served next. */
	CHECK_EQ_INT(loop_add_fd(&l, p[2][0], LOOP_READ, probe_cb, &pr[2]), 0);
	CHECK_EQ_INT(loop_run_once(&l, 0), 2);
	CHECK_EQ_INT(loop_run_once(&l, 0), 2);
	CHECK_EQ_INT(pr[0].calls + pr[1].calls + pr[2].calls, 6);
	for (int i = 0; i < 3; i++) /* epoll rotates its ready list: nobody starves */
		CHECK(pr[i].calls >= (i < 2 ? 2 : 1));
	loop_fini(&l);
	for (int i = 0; i < 3; i++)
		close_pair(p[i]);
}

static void fd_edge_triggered(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	REQUIRE(loop_init(&l, &c) == 0);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	struct fd_probe pr = {0};
	CHECK_EQ_INT(loop_add_fd(&l, p[0], LOOP_READ | LOOP_EDGE, probe_cb, &pr), 0);
	CHECK_EQ_INT(write(p[1], "x", 1), 1);
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(loop_run_once(&l, 0), 0); /* not drained, but no new edge */
	CHECK_EQ_INT(write(p[1], "x", 1), 1);
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(pr.calls, 2);
	loop_fini(&l);
	close_pair(p);
}

/* Running ------------------------------------------------------------------ */

struct stop_ctx {
	int calls;
	int nested_once, nested_run;
};

static void stop_fd_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct stop_ctx *s = arg;
	s->calls++;
	s->nested_once = loop_run_once(l, 0);
	loop_stop(l);
	s->nested_run = loop_run(l);
}

static void run_stop_from_callback(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	REQUIRE(loop_init(&l, &c) == 0);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	struct stop_ctx s = {0};
	CHECK_EQ_INT(loop_add_fd(&l, p[1], LOOP_WRITE, stop_fd_cb, &s), 0);
	CHECK_EQ_INT(loop_run(&l), 0);
	CHECK_EQ_INT(s.calls, 1);
	CHECK_EQ_INT(s.nested_once, -ERR_INVAL); /* no re-entry */
	CHECK_EQ_INT(s.nested_run, -ERR_INVAL);
	/* The stop was consumed: the loop runs again, until the next stop. */
	CHECK_EQ_INT(loop_run(&l), 0);
	CHECK_EQ_INT(s.calls, 2);
	/* A stop asked before loop_run makes it return at once. */
	CHECK_EQ_INT(loop_del_fd(&l, p[1]), 0);
	loop_stop(&l);
	CHECK_EQ_INT(loop_run(&l), 0);
	CHECK_EQ_INT(s.calls, 2);
	loop_fini(&l);
	close_pair(p);
}

struct hook_ctx {
	int calls;
	int timers_fired;
	bool add_timer;
};

static void hook_timer_cb(struct loop *l, void *arg)
{
	struct hook_ctx *h = arg;
	h->timers_fired++;
}

static void hook_cb(struct loop *l, void *arg)
{
	struct hook_ctx *h = arg;
	h->calls++;
	if (h->add_timer) {
		h->add_timer = false;
		CHECK_EQ_INT(loop_timer_add(l, 0, hook_timer_cb, h, NULL), 0);
	}
}

static void before_sleep_hook(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	REQUIRE(loop_init(&l, &c) == 0);
	struct hook_ctx h = {0};
	loop_set_before_sleep(&l, hook_cb, &h);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	CHECK_EQ_INT(h.calls, 3);
	/* A timer added by the hook shortens this very wait: an unbounded
	 * run_once returns at once with the timer fired. */
	h.add_timer = true;
	CHECK_EQ_INT(loop_run_once(&l, -1), 1);
	CHECK_EQ_INT(h.timers_fired, 1);
	CHECK_EQ_INT(h.calls, 4);
	loop_set_before_sleep(&l, NULL, NULL);
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	CHECK_EQ_INT(h.calls, 4);
	loop_fini(&l);
}

static void stop_timer_cb(struct loop *l, void *arg)
{
	int *fired = arg;
	(*fired)++;
	loop_stop(l);
}

static void alarm_handler(int signo) {}

/* A signal the loop does not own interrupts epoll_wait (EINTR): the loop
 * carries on and its timer still fires on time. */
static void run_eintr_is_not_an_error(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	REQUIRE(loop_init(&l, &c) == 0);
	struct sigaction sa = {0}, old_sa;
	sa.sa_handler = alarm_handler;
	sigemptyset(&sa.sa_mask);
	REQUIRE(sigaction(SIGALRM, &sa, &old_sa) == 0);
	struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = 20000}}, old_it;
	REQUIRE(setitimer(ITIMER_REAL, &it, &old_it) == 0);
	int fired = 0;
	uint64_t t0 = loop_now_ms(&l);
	CHECK_EQ_INT(loop_timer_add(&l, 80, stop_timer_cb, &fired, NULL), 0);
	CHECK_EQ_INT(loop_run(&l), 0);
	CHECK_EQ_INT(fired, 1);
	CHECK(loop_now_ms(&l) - t0 >= 80);
	setitimer(ITIMER_REAL, &old_it, NULL);
	sigaction(SIGALRM, &old_sa, NULL);
	loop_fini(&l);
}

/* Signals ------------------------------------------------------------------ */

struct sig_ctx {
	int calls;
	int last;
};

static void sig_cb(struct loop *l, int signo, void *arg)
{
	struct sig_ctx *s = arg;
	s->calls++;
	s->last = signo;
}

static bool sig_blocked_now(int signo)
{
	sigset_t cur;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	return sigismember(&cur, signo) == 1;
}

static void signal_delivery(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	REQUIRE(loop_init(&l, &c) == 0);
	REQUIRE(!sig_blocked_now(SIGUSR1));
	struct sig_ctx s = {0};
	CHECK_EQ_INT(loop_signal_add(&l, SIGUSR1, sig_cb, &s), 0);
	CHECK(sig_blocked_now(SIGUSR1));
	CHECK_EQ_INT(kill(getpid(), SIGUSR1), 0);
	CHECK_EQ_INT(loop_run_once(&l, 1000), 1);
	CHECK_EQ_INT(s.calls, 1);
	CHECK_EQ_INT(s.last, SIGUSR1);
	CHECK_EQ_INT(loop_run_once(&l, 0), 0); /* consumed */
	/* Twice more: still delivered (the signalfd stays registered). */
	CHECK_EQ_INT(kill(getpid(), SIGUSR1), 0);
	CHECK_EQ_INT(loop_run_once(&l, 1000), 1);
	CHECK_EQ_INT(s.calls, 2);
	CHECK_EQ_INT(loop_signal_del(&l, SIGUSR1), 0);
	CHECK(!sig_blocked_now(SIGUSR1));
	loop_fini(&l);
}

static void signal_errors(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	REQUIRE(loop_init(&l, &c) == 0);
	struct sig_ctx s = {0};
	CHECK_EQ_INT(loop_signal_add(&l, 0, sig_cb, &s), -ERR_INVAL);
	CHECK_EQ_INT(loop_signal_add(&l, SIGKILL, sig_cb, &s), -ERR_INVAL);
	CHECK_EQ_INT(loop_signal_add(&l, SIGSTOP, sig_cb, &s), -ERR_INVAL);
	CHECK_EQ_INT(loop_signal_add(&l, LOOP_NSIG, sig_cb, &s), -ERR_INVAL);
	CHECK_EQ_INT(loop_signal_add(&l, SIGUSR2, NULL, &s), -ERR_INVAL);
	CHECK_EQ_INT(loop_signal_del(&l, SIGUSR2), -ERR_NOTFOUND);
	CHECK_EQ_INT(loop_signal_add(&l, SIGUSR2, sig_cb, &s), 0);
	CHECK_EQ_INT(loop_signal_add(&l, SIGUSR2, sig_cb, &s), -ERR_EXISTS);
	loop_fini(&l);
	CHECK(!sig_blocked_now(SIGUSR2));
}

/* Deleting a signal with an instance pending discards it: unblocking must
 * not let the default action (terminate) run. Reaching the end of this case
 * is the check. */
static void signal_del_discards_pending(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	REQUIRE(loop_init(&l, &c) == 0);
	struct sig_ctx s = {0};
	CHECK_EQ_INT(loop_signal_add(&l, SIGUSR2, sig_cb, &s), 0);
	CHECK_EQ_INT(kill(getpid(), SIGUSR2), 0);
	CHECK_EQ_INT(loop_signal_del(&l, SIGUSR2), 0);
	sigset_t pend;
	sigpending(&pend);
	CHECK(sigismember(&pend, SIGUSR2) != 1);
	CHECK(!sig_blocked_now(SIGUSR2));
	CHECK_EQ_INT(s.calls, 0);
	/* Same through loop_fini. */
	CHECK_EQ_INT(loop_signal_add(&l, SIGUSR2, sig_cb, &s), 0);
	CHECK_EQ_INT(kill(getpid(), SIGUSR2), 0);
	loop_fini(&l);
	CHECK(!sig_blocked_now(SIGUSR2));
}

/* The loop gives back only what it took: a signal already blocked by the
 * caller stays blocked after loop_fini. */
static void signal_fini_restores_mask(void)
{
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, SIGUSR1);
	REQUIRE(sigprocmask(SIG_BLOCK, &one, NULL) == 0);
	struct loop l;
	struct loop_config c = cfg_small();
	REQUIRE(loop_init(&l, &c) == 0);
	struct sig_ctx s = {0};
	CHECK_EQ_INT(loop_signal_add(&l, SIGUSR1, sig_cb, &s), 0);
	CHECK_EQ_INT(loop_signal_add(&l, SIGUSR2, sig_cb, &s), 0);
	CHECK_EQ_INT(kill(getpid(), SIGUSR2), 0);
	CHECK_EQ_INT(kill(getpid(), SIGUSR1), 0);
	for (int i = 0; i < 3 && s.calls < 2; i++)
		CHECK(loop_run_once(&l, 1000) >= 0);
	CHECK_EQ_INT(s.calls, 2);
	loop_fini(&l);
	CHECK(sig_blocked_now(SIGUSR1));
	CHECK(!sig_blocked_now(SIGUSR2));
	sigprocmask(SIG_UNBLOCK, &one, NULL);
}

/* Children ----------------------------------------------------------------- */

struct child_ctx {
	int calls;
	pid_t pid;
	int status;
};

static void child_cb(struct loop *l, pid_t pid, int status, void *arg)
{
	struct child_ctx *cc = arg;
	cc->calls++;
	cc->pid = pid;
	cc->status = status;
	loop_stop(l);
}

static void child_reaped(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	c.max_children = 2;
	REQUIRE(loop_init(&l, &c) == 0);
	int gate[2];
	REQUIRE(pipe(gate) == 0);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		char b;
		close(gate[1]);
		_exit(read(gate[0], &b, 1) == 0 ? 7 : 1);
	}
	close(gate[0]);
	struct child_ctx cc = {0};
	int guard_fired = 0;
	struct loop_timer_id guard;
	CHECK_EQ_INT(loop_child_add(&l, pid, child_cb, &cc), 0);
	CHECK_EQ_INT(loop_child_add(&l, pid, child_cb, &cc), -ERR_EXISTS);
	CHECK_EQ_INT(loop_run_once(&l, 0), 0); /* reap pass: still running */
	close(gate[1]);                        /* let it end */
	CHECK_EQ_INT(loop_timer_add(&l, 5000, stop_timer_cb, &guard_fired, &guard), 0);
	CHECK_EQ_INT(loop_run(&l), 0);
	CHECK_EQ_INT(guard_fired, 0);
	CHECK_EQ_INT(cc.calls, 1);
	CHECK_EQ_INT(cc.pid, pid);
	CHECK(WIFEXITED(cc.status) && WEXITSTATUS(cc.status) == 7);
	CHECK_EQ_INT(loop_child_del(&l, pid), -ERR_NOTFOUND);
	CHECK(loop_invariants_ok(&l));
	loop_fini(&l);
	CHECK(!sig_blocked_now(SIGCHLD));
}

static void child_cap_and_errors(void)
{
	struct loop l;
	struct loop_config c = cfg_small();
	REQUIRE(loop_init(&l, &c) == 0); /* max_children 0 */
	struct child_ctx cc = {0};
	CHECK_EQ_INT(loop_child_add(&l, 1, child_cb, &cc), -ERR_LOOP_CHILDREN_FULL);
	loop_fini(&l);

	c.max_children = 1;
	REQUIRE(loop_init(&l, &c) == 0);
	CHECK_EQ_INT(loop_child_add(&l, 0, child_cb, &cc), -ERR_INVAL);
	CHECK_EQ_INT(loop_child_add(&l, 1, NULL, &cc), -ERR_INVAL);
	/* SIGCHLD is either the caller's or the child helper's. */
	struct sig_ctx s = {0};
	CHECK_EQ_INT(loop_signal_add(&l, SIGCHLD, sig_cb, &s), 0);
	CHECK_EQ_INT(loop_child_add(&l, 1, child_cb, &cc), -ERR_EXISTS);
	CHECK_EQ_INT(loop_signal_del(&l, SIGCHLD), 0);
	/* pid 1 is not our child: reported once with status -1 (ECHILD). */
	CHECK_EQ_INT(loop_child_add(&l, 1, child_cb, &cc), 0);
	CHECK_EQ_INT(loop_signal_add(&l, SIGCHLD, sig_cb, &s), -ERR_EXISTS);
	CHECK_EQ_INT(loop_child_add(&l, 2, child_cb, &cc), -ERR_LOOP_CHILDREN_FULL);
	CHECK(strstr(l.errmsg, "max_children") != NULL);
	CHECK_EQ_INT(loop_run_once(&l, 0), 1);
	CHECK_EQ_INT(cc.calls, 1);
	CHECK_EQ_INT(cc.pid, 1);
	CHECK_EQ_INT(cc.status, -1);
	/* The slot is free again; del forgets without reaping. */
	CHECK_EQ_INT(loop_child_add(&l, 1, child_cb, &cc), 0);
	CHECK_EQ_INT(loop_child_del(&l, 1), 0);
	CHECK_EQ_INT(loop_run_once(&l, 0), 0);
	CHECK_EQ_INT(cc.calls, 1);
	CHECK(loop_invariants_ok(&l));
	loop_fini(&l);
}

TEST_MAIN(init_rejects_bad_caps, fd_read_dispatch, fd_write_ready, fd_mod_changes_interest,
	  fd_hup_and_rdhup_reported, fd_forget_then_close, fd_del_other_in_same_batch,
	  fd_del_self_in_callback, fd_cap_boundary, fd_add_errors_leave_nothing,
	  fd_index_random_churn, fd_max_events_boundary, fd_edge_triggered, run_stop_from_callback,
	  before_sleep_hook, run_eintr_is_not_an_error, signal_delivery, signal_errors,
	  signal_del_discards_pending, signal_fini_restores_mask, child_reaped,
	  child_cap_and_errors)
