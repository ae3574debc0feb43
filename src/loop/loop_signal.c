/* loop_signal.c — signals through one signalfd, and child reaping. See loop.h.
 *
 * A handled signal is blocked with sigprocmask (so its default action never
 * runs) and added to the mask of a single non-blocking signalfd, created at
 * the first signal and watched by epoll under LOOP_TAG_SIGNAL_; it stays
 * open until loop_fini. The loop remembers which signals it blocked itself
 * (sig_blocked) and gives exactly those back, after discarding their
 * pending instances, so that a signal raised while the loop owned it cannot
 * kill the process once the loop lets go.
 *
 * Children: loop_child_add takes SIGCHLD for the loop. A SIGCHLD (or a new
 * registration, in case the child already ended) schedules a reap pass that
 * calls waitpid(pid, WNOHANG) for each watched pid; other children of the
 * process are left alone. The pass is linear in max_children and runs only
 * after a SIGCHLD or a registration.
 */
#include "loop/loop.h"

#include "base/base_err.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

_Static_assert(LOOP_NSIG >= _NSIG, "LOOP_NSIG must cover every signal number");

/* Signals read from the signalfd per event; more wait for the next
 * iteration (the fd is level-triggered), so a signal storm cannot starve
 * I/O. */
#define LOOP_SIG_BATCH 8

static bool loop_signo_ok(int signo)
{
	return signo > 0 && signo < _NSIG && signo != SIGKILL && signo != SIGSTOP;
}

static int loop_sys_err(struct loop *l, const char *what, int signo)
{
	int e = errno;
	loop_set_err_(l, "%s(%d): %s", what, signo, strerror(e));
	return err_from_errno(e);
}

/* Block signo and add it to the signalfd (created on first use). On error
 * nothing changed. */
static int loop_signal_route(struct loop *l, int signo)
{
	sigset_t one, old, mask;
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (sigprocmask(SIG_BLOCK, &one, &old) < 0)
		return loop_sys_err(l, "sigprocmask", signo);
	bool was_blocked = sigismember(&old, signo) == 1;

	mask = l->sig_mask;
	sigaddset(&mask, signo);
	int fd = signalfd(l->sigfd, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	int rc = 0;
	if (fd < 0) {
		rc = loop_sys_err(l, "signalfd", signo);
	} else if (l->sigfd < 0) {
		struct epoll_event e = {.events = EPOLLIN, .data.u64 = LOOP_TAG_SIGNAL_};
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
			rc = loop_sys_err(l, "epoll_ctl signalfd", signo);
			close(fd);
		} else {
			l->sigfd = fd;
		}
	}
	if (rc < 0) {
		if (!was_blocked)
			sigprocmask(SIG_UNBLOCK, &one, NULL);
		return rc;
	}
	l->sig_mask = mask;
	if (!was_blocked)
		sigaddset(&l->sig_blocked, signo);
	return 0;
}

/* Take signo out of the signalfd; if the loop blocked it, discard what is
 * pending and unblock it. Non-blocking: sigtimedwait with a zero timeout. */
static void loop_signal_unroute(struct loop *l, int signo)
{
	sigdelset(&l->sig_mask, signo);
	if (l->sigfd >= 0)
		signalfd(l->sigfd, &l->sig_mask, 0);
	if (sigismember(&l->sig_blocked, signo) != 1)
		return;
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, signo);
	const struct timespec zero = {0, 0};
	while (sigtimedwait(&one, NULL, &zero) > 0)
		; /* real-time signals queue: drain them all */
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	sigdelset(&l->sig_blocked, signo);
}

int loop_signal_add(struct loop *l, int signo, loop_signal_cb cb, void *arg)
{
	if (!loop_signo_ok(signo) || !cb)
		return -ERR_INVAL;
	if (l->sig[signo].cb || (signo == SIGCHLD && l->child_sig))
		return -ERR_EXISTS;
	int rc = loop_signal_route(l, signo);
	if (rc < 0)
		return rc;
	l->sig[signo].cb = cb;
	l->sig[signo].arg = arg;
	return 0;
}

int loop_signal_del(struct loop *l, int signo)
{
	if (!loop_signo_ok(signo))
		return -ERR_INVAL;
	if (!l->sig[signo].cb)
		return -ERR_NOTFOUND;
	l->sig[signo].cb = NULL;
	l->sig[signo].arg = NULL;
	loop_signal_unroute(l, signo);
	return 0;
}

int loop_signal_dispatch_(struct loop *l)
{
	struct signalfd_siginfo si[LOOP_SIG_BATCH];
	ssize_t n = read(l->sigfd, si, sizeof si);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			loop_set_err_(l, "signalfd read: %s", strerror(errno));
		return 0;
	}
	int ran = 0;
	for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) {
		int signo = (int)si[i].ssi_signo;
		if (!loop_signo_ok(signo))
			continue;
		if (signo == SIGCHLD && l->child_sig) {
			l->child_check = true;
			continue;
		}
		/* Looked up per signal: an earlier callback may have deleted it. */
		struct loop_sig_handler *h = &l->sig[signo];
		if (h->cb) {
			h->cb(l, signo, h->arg);
			ran++;
		}
	}
	return ran;
}

void loop_signal_fini_(struct loop *l)
{
	for (int signo = 1; signo < _NSIG; signo++) {
		if (sigismember(&l->sig_mask, signo) == 1)
			loop_signal_unroute(l, signo);
		l->sig[signo].cb = NULL;
		l->sig[signo].arg = NULL;
	}
	if (l->sigfd >= 0)
		close(l->sigfd); /* also leaves the epoll set */
	l->sigfd = -1;
	l->child_sig = false;
	l->child_check = false;
}

/* Children ---------------------------------------------------------------- */

static struct loop_child *loop_child_find(struct loop *l, pid_t pid)
{
	for (uint32_t i = 0; i < l->cfg.max_children; i++)
		if (l->children[i].pid == pid)
			return &l->children[i];
	return NULL;
}

int loop_child_add(struct loop *l, pid_t pid, loop_child_cb cb, void *arg)
{
	if (pid <= 0 || !cb)
		return -ERR_INVAL;
	if (loop_child_find(l, pid))
		return -ERR_EXISTS;
	struct loop_child *c = loop_child_find(l, 0);
	if (!c) {
		loop_set_err_(l, "child %d: max_children (%u) reached", (int)pid,
			      l->cfg.max_children);
		return -ERR_LOOP_CHILDREN_FULL;
	}
	if (!l->child_sig) {
		if (l->sig[SIGCHLD].cb)
			return -ERR_EXISTS; /* the caller handles SIGCHLD itself */
		int rc = loop_signal_route(l, SIGCHLD);
		if (rc < 0)
			return rc;
		l->child_sig = true;
	}
	c->pid = pid;
	c->cb = cb;
	c->arg = arg;
	l->child_used++;
	/* It may have ended before SIGCHLD was routed here: look next iteration. */
	l->child_check = true;
	return 0;
}

int loop_child_del(struct loop *l, pid_t pid)
{
	if (pid <= 0)
		return -ERR_INVAL;
	struct loop_child *c = loop_child_find(l, pid);
	if (!c)
		return -ERR_NOTFOUND;
	*c = (struct loop_child){0};
	l->child_used--;
	return 0;
}

int loop_child_reap_(struct loop *l)
{
	int ran = 0;
	l->child_check = false;
	for (uint32_t i = 0; i < l->cfg.max_children; i++) {
		struct loop_child *c = &l->children[i];
		if (c->pid <= 0)
			continue;
		int status = 0;
		pid_t r = waitpid(c->pid, &status, WNOHANG);
		if (r == 0)
			continue; /* still running */
		if (r < 0) {
			if (errno == EINTR) {
				l->child_check = true; /* try again next iteration */
				continue;
			}
			status = -1; /* ECHILD: not ours, or reaped elsewhere */
		}
		struct loop_child done = *c;
		*c = (struct loop_child){0};
		l->child_used--;
		done.cb(l, done.pid, status, done.arg);
		ran++;
	}
	return ran;
}
