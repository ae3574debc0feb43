/* loop.h — the single-threaded event loop: fds, timers, signals, children.
 *
 * Contract
 *
 * - One struct loop per thread. The caller owns the struct (embed it or keep
 *   it on the stack); loop_init allocates every table the loop will ever use
 *   (fd slots, fd index, timer slots, timer heap, epoll event array, child
 *   table) from the caps in struct loop_config, in one block. After
 *   loop_init nothing allocates; a full table is an error the caller
 *   handles: -ERR_LOOP_FULL (max_fds, max_timers) or -ERR_LOOP_CHILDREN_FULL
 *   (max_children). The detail of the last failure is in l->errmsg.
 * - Nothing here blocks except epoll_wait inside loop_run / loop_run_once.
 *   Callbacks must not block either: they run on the loop thread.
 * - Time: loop_now_ms is the loop's cached monotonic clock in milliseconds,
 *   read once per iteration (right after epoll_wait) and at loop_init. Logic
 *   takes time from here, never from the system. cfg->clock replaces the
 *   system clock for simulation.
 * - Callbacks may call any loop function except loop_init, loop_fini,
 *   loop_run and loop_run_once (those return -ERR_INVAL or assert). In
 *   particular they may add, modify and delete any fd, timer, signal or
 *   child, including their own and ones with events pending in the current
 *   batch: a deleted registration never sees another callback, and its slot,
 *   reused by a new registration, never receives the old one's events.
 * - Errors: 0 (or a count) on success, a negative -ERR_* on failure; errno
 *   is converted with err_from_errno at the syscall and kept in l->errmsg.
 *
 * docs/internals/loop.md has the design, the ordering guarantees and why
 * fds are level-triggered by default.
 */
#ifndef LOOP_LOOP_H
#define LOOP_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct epoll_event;

/* Interest bits for loop_add_fd / loop_mod_fd, also reported to callbacks. */
#define LOOP_READ 0x01u  /* readable (EPOLLIN); also asks for LOOP_RDHUP */
#define LOOP_WRITE 0x02u /* writable (EPOLLOUT) */
#define LOOP_EDGE 0x04u  /* interest only: edge-triggered (EPOLLET); see loop.md */
/* Reported only, whatever the interest: */
#define LOOP_RDHUP 0x10u /* peer shut down its writing side (EPOLLRDHUP) */
#define LOOP_HUP 0x20u   /* hang-up (EPOLLHUP) */
#define LOOP_ERR 0x40u   /* error condition (EPOLLERR); read it with SO_ERROR */

/* Upper bound for each cap; keeps every index in 32 bits with room for tags. */
#define LOOP_CAP_MAX (1u << 24)
/* Signal numbers 1 .. LOOP_NSIG - 1 may be handled. */
#define LOOP_NSIG 65

/* fd readiness: `events` holds LOOP_READ / LOOP_WRITE / LOOP_RDHUP / LOOP_HUP /
 * LOOP_ERR. With the default level-triggered interest, HUP and ERR keep
 * being reported until the fd is deleted: the callback must act on them. */
typedef void (*loop_fd_cb)(struct loop *l, int fd, uint32_t events, void *arg);
typedef void (*loop_timer_cb)(struct loop *l, void *arg);
typedef void (*loop_signal_cb)(struct loop *l, int signo, void *arg);
/* status is the waitpid status (WIFEXITED...), or -1 if the pid was not a
 * child of this process or was reaped by someone else (ECHILD). */
typedef void (*loop_child_cb)(struct loop *l, pid_t pid, int status, void *arg);
typedef void (*loop_hook_cb)(struct loop *l, void *arg);
/* Injected clock: monotonic milliseconds, never going backwards. */
typedef uint64_t (*loop_clock_fn)(void *ctx);

struct loop_config {
	uint32_t max_fds;      /* fds registered at once, 1 .. LOOP_CAP_MAX */
	uint32_t max_timers;   /* timers armed at once, 1 .. LOOP_CAP_MAX */
	uint32_t max_events;   /* epoll events taken per iteration, 1 .. LOOP_CAP_MAX */
	uint32_t max_children; /* children watched at once, 0 .. LOOP_CAP_MAX (0: none) */
	loop_clock_fn clock;   /* NULL: CLOCK_MONOTONIC; else tests and simulators */
	void *clock_ctx;       /* passed to clock */
};

/* Timer handle: slot index + generation. Generation 0 is never live, so a
 * zeroed handle is "no timer" and cancelling it is a harmless no-op. */
struct loop_timer_id {
	uint32_t idx;
	uint32_t gen;
};

/* Everything below is private to loop_*.c; it is in the header only so the
 * caller can own the storage. Read nothing but errmsg. */
struct loop_fd_slot {
	int fd;             /* -1 when free */
	uint32_t gen;       /* bumped at every release; never 0 */
	uint32_t events;    /* LOOP_READ | LOOP_WRITE | LOOP_EDGE as registered */
	uint32_t next_free; /* free-list link while free */
	loop_fd_cb cb;
	void *arg;
};

struct loop_timer_slot {
	uint64_t deadline_ms;
	uint64_t seq;       /* insertion order: breaks deadline ties */
	uint64_t period_ms; /* 0: one-shot */
	loop_timer_cb cb;
	void *arg;
	uint32_t gen;       /* bumped at every release; never 0 */
	uint32_t heap_pos;  /* index in heap while armed */
	uint32_t next_free; /* free-list link while free */
	uint8_t state;      /* enum in loop_timer.c */
};

struct loop_child {
	pid_t pid; /* 0 when free */
	loop_child_cb cb;
	void *arg;
};

struct loop_sig_handler {
	loop_signal_cb cb; /* NULL: not handled */
	void *arg;
};

struct loop {
	struct loop_config cfg;
	void *mem; /* the one allocation; NULL before init and after fini */
	int epfd;
	int sigfd; /* -1 until the first signal or child is watched */
	uint64_t now_ms;
	uint64_t next_seq;
	bool stop;
	bool in_iter;     /* inside loop_run_once: no re-entry */
	bool child_check; /* a reap pass is due (new child, or SIGCHLD) */
	bool child_sig;   /* SIGCHLD taken for the child helper */

	struct loop_fd_slot *fds;
	int32_t *fd_index; /* open-addressing fd -> slot + 1 map, 0 = empty */
	uint32_t fd_index_mask;
	uint32_t fd_free;
	uint32_t fd_hwm; /* slots [0, fd_hwm) have been used; the rest are untouched zeroes */
	uint32_t fd_used;
	struct epoll_event *events;

	struct loop_timer_slot *timers;
	uint32_t *heap; /* slot indices; min-heap on (deadline_ms, seq) */
	uint32_t heap_len;
	uint32_t timer_free;
	uint32_t timer_used;
	uint32_t timer_hwm; /* slots [0, timer_hwm) have been used; the rest are zeroes */

	struct loop_child *children;
	uint32_t child_used;

	struct loop_sig_handler sig[LOOP_NSIG];
	sigset_t sig_mask;    /* signals routed to sigfd */
	sigset_t sig_blocked; /* of those, the ones the loop blocked itself */

	loop_hook_cb before_sleep;
	void *before_sleep_arg;

	char errmsg[128]; /* last failure, for logs */
};

/* Lifecycle --------------------------------------------------------------- */

/* Allocate the tables sized by cfg (copied) and create the epoll fd. l is
 * overwritten: it must not hold a live loop.
 * -ERR_INVAL for a zero cap (max_children may be 0), -ERR_RANGE for a cap
 * over LOOP_CAP_MAX, -ERR_NOMEM, or the epoll_create1 error. On failure
 * nothing is held and loop_fini is a harmless no-op. */
int loop_init(struct loop *l, const struct loop_config *cfg);
/* Close the loop's own fds (epoll, signalfd), restore the signal mask it
 * changed (discarding pending instances of those signals) and free the
 * tables. Registered fds are NOT closed: their owners close them.
 * Idempotent. Not from a callback. */
void loop_fini(struct loop *l);

/* Running ----------------------------------------------------------------- */

/* Run iterations until loop_stop. Returns 0 after a stop, or the negative
 * error of a failed epoll_wait (EINTR is not a failure). A stop requested
 * before the call makes it return at once. The stop request is consumed on
 * return, so the loop can be run again. */
int loop_run(struct loop *l);
/* One iteration: before-sleep hook, epoll_wait for at most timeout_ms
 * (-1: no limit; shortened to the nearest timer, 0 when a stop or reap pass
 * is pending), refresh now, dispatch fd/signal events, reap children, run the
 * timers that were due. Returns the number of callbacks run, or a negative
 * error; -ERR_INVAL if called from a callback. */
int loop_run_once(struct loop *l, int timeout_ms);
/* Ask loop_run to return after the current iteration (from a callback, or
 * before loop_run: it then returns at once). Not async-signal-safe. */
void loop_stop(struct loop *l);
/* Cached monotonic milliseconds; refreshed once per iteration. */
uint64_t loop_now_ms(const struct loop *l);
/* Hook run at the start of every iteration, before the timeout is computed
 * (so timers it adds count). cb NULL removes it. */
void loop_set_before_sleep(struct loop *l, loop_hook_cb cb, void *arg);

/* fds --------------------------------------------------------------------- */

/* Watch fd (not owned; the caller keeps it open until loop_del_fd). events
 * is a mix of LOOP_READ, LOOP_WRITE, LOOP_EDGE, possibly none (registered but
 * parked). The fd should be non-blocking. Errors: -ERR_INVAL (fd < 0, cb NULL,
 * unknown bits), -ERR_EXISTS (fd already watched), -ERR_LOOP_FULL (max_fds),
 * or the epoll_ctl error (e.g. -ERR_PERM for a regular file); on error
 * nothing is registered. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *arg);
/* Change the interest of a watched fd. -ERR_INVAL, -ERR_NOTFOUND, or the
 * epoll_ctl error (the old interest then stays). */
int loop_mod_fd(struct loop *l, int fd, uint32_t events);
/* Stop watching fd; call before close(fd). Events of fd already taken in
 * this batch are dropped. -ERR_NOTFOUND if fd is not watched. The slot is
 * released even if epoll_ctl fails (fd closed first: the kernel already
 * forgot it); that error is returned for the log. */
int loop_del_fd(struct loop *l, int fd);
/* loop_del_fd without the epoll_ctl call, for an fd about to be closed that has no other
 * descriptor (never dup'ed, not shared with a child): closing the file's last descriptor
 * removes it from epoll, so the syscall is saved. Call it, then close(fd) at once.
 * -ERR_INVAL, -ERR_NOTFOUND. */
int loop_forget_fd(struct loop *l, int fd);
/* Number of fds watched. */
uint32_t loop_fd_count(const struct loop *l);

/* Timers ------------------------------------------------------------------ */

/* One-shot timer due at loop_now_ms + delay_ms (saturating). out may be
 * NULL. Errors: -ERR_INVAL (cb NULL), -ERR_LOOP_FULL (max_timers). */
int loop_timer_add(struct loop *l, uint64_t delay_ms, loop_timer_cb cb, void *arg,
		   struct loop_timer_id *out);
/* Periodic timer: first due after delay_ms, then every period_ms (>= 1)
 * after its previous deadline; if the loop fell more than a period behind,
 * the next deadline is now + period_ms (no burst of catch-up calls). The
 * handle stays valid until cancelled. Errors as loop_timer_add, and
 * -ERR_INVAL for period_ms 0. */
int loop_timer_every(struct loop *l, uint64_t delay_ms, uint64_t period_ms, loop_timer_cb cb,
		     void *arg, struct loop_timer_id *out);
/* Cancel a timer: 0 if it was pending (or a periodic timer in its own
 * callback), -ERR_NOTFOUND if the handle is stale (fired, cancelled, zero);
 * a stale handle never touches the timer that reused its slot. */
int loop_timer_cancel(struct loop *l, struct loop_timer_id id);
/* True while the handle designates a pending (or periodic) timer. */
bool loop_timer_pending(const struct loop *l, struct loop_timer_id id);
/* Number of timers armed. */
uint32_t loop_timer_count(const struct loop *l);

/* Signals ----------------------------------------------------------------- */

/* Handle signo on the loop: blocks it with sigprocmask and routes it
 * through a non-blocking signalfd. Signals are per process: one loop per
 * process handles a given signal, and in a threaded program the signal must
 * be blocked in every thread (add it before starting threads). Children
 * inherit the blocked mask: reset it between fork and exec. Errors:
 * -ERR_INVAL (cb NULL, signo out of range, SIGKILL, SIGSTOP), -ERR_EXISTS
 * (already handled), or the sigprocmask/signalfd error. */
int loop_signal_add(struct loop *l, int signo, loop_signal_cb cb, void *arg);
/* Stop handling signo: a pending instance is discarded, then the signal is
 * unblocked if the loop blocked it. -ERR_NOTFOUND if not handled. */
int loop_signal_del(struct loop *l, int signo);

/* Children ---------------------------------------------------------------- */

/* Call cb once when child pid ends (reaped with waitpid(pid, WNOHANG) on
 * SIGCHLD, which the loop then takes: do not loop_signal_add SIGCHLD
 * yourself, and keep SIGCHLD's disposition not SIG_IGN). A child that ended
 * before the call is reaped on the next iteration. Errors: -ERR_INVAL
 * (pid <= 0, cb NULL), -ERR_EXISTS, -ERR_LOOP_CHILDREN_FULL (max_children),
 * or the signal setup error. */
int loop_child_add(struct loop *l, pid_t pid, loop_child_cb cb, void *arg);
/* Forget pid without reaping it. -ERR_NOTFOUND if not watched. */
int loop_child_del(struct loop *l, pid_t pid);

/* Checks ------------------------------------------------------------------ */

/* Verify the internal invariants (heap order and back-pointers, free lists,
 * fd index). O(caps); for tests and debug builds. */
bool loop_invariants_ok(const struct loop *l);

/* Between loop_*.c only; not API ------------------------------------------ */

/* epoll_data of the signalfd: never an fd tag, whose slot is < LOOP_CAP_MAX. */
#define LOOP_TAG_SIGNAL_ UINT64_MAX
/* loop.c */
void loop_set_err_(struct loop *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* loop_timer.c: timer tables were carved by loop_init; put them in the
 * initial state. */
void loop_timer_init_(struct loop *l);
/* Milliseconds until the nearest deadline (0 if due), -1 without timers. */
int64_t loop_timer_wait_ms_(const struct loop *l);
/* Run the timers due at loop_now_ms when called; returns how many ran. */
int loop_timer_run_due_(struct loop *l);
bool loop_timer_invariants_ok_(const struct loop *l);
/* loop_signal.c */
/* Read what sigfd has (bounded) and dispatch; returns callbacks run. */
int loop_signal_dispatch_(struct loop *l);
/* Reap watched children that ended; returns callbacks run. */
int loop_child_reap_(struct loop *l);
/* Close sigfd, discard pending signals the loop blocked, unblock them. */
void loop_signal_fini_(struct loop *l);

#endif
