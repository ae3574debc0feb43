/* proxy_shlock.h — a spinlock word in memory shared by the worker processes of one node
 * (a MAP_SHARED mapping made before they fork), holding the pid of its holder.
 *
 * Contract
 *   A lock word is 0 when free, else the pid of the process holding it. Taking is a CAS
 *   0 -> pid (acquire), giving back a CAS pid -> 0 (release), so a holder whose lock was
 *   broken does not free its new holder's. A waiter spins PROXY_SHLOCK_SPINS times, then
 *   yields (sched_yield); every PROXY_SHLOCK_CHECK yields it checks the holder with
 *   kill(pid, 0) and takes the lock over when the holder is gone (ESRCH: a worker killed
 *   inside a critical section); after PROXY_SHLOCK_YIELDS yields a lock whose holder still
 *   exists is broken (no critical section lasts that long: the holder is stopped, or its pid
 *   was reused). What a critical section protects must tolerate both (a wrong count, never a
 *   crash). Lock-free atomics are address-free, which is what makes them work across
 *   processes. Nothing blocks and nothing is logged here (callers log after unlocking).
 *
 *   Users: the shared rateLimit table (proxy_ratelimit.c) and the shared maxConn table
 *   (proxy_maxconn.c).
 */
#ifndef PROXY_SHLOCK_H
#define PROXY_SHLOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define PROXY_SHLOCK_SPINS 64u
#define PROXY_SHLOCK_CHECK 64u
#define PROXY_SHLOCK_YIELDS 16384u

struct proxy_shlock {
	_Atomic uint32_t owner; /* 0: free, else the holder's pid */
};

_Static_assert(sizeof(struct proxy_shlock) == 4, "a lock is one 32-bit word");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "shared locks need lock-free (address-free) atomics");

/* How a lock was taken. */
enum proxy_shlock_took {
	PROXY_SHLOCK_FREE = 0, /* it was free (possibly after waiting) */
	PROXY_SHLOCK_STOLEN,   /* taken over from a holder that had exited */
	PROXY_SHLOCK_BROKEN,   /* broken after PROXY_SHLOCK_YIELDS yields */
};

/* The waiting part of proxy_shlock_lock. */
enum proxy_shlock_took proxy_shlock_lock_slow(struct proxy_shlock *l, uint32_t pid);

/* Take l for pid (getpid() of the caller, never 0). */
static inline enum proxy_shlock_took proxy_shlock_lock(struct proxy_shlock *l, uint32_t pid)
{
	uint32_t free_ = 0;
	if (atomic_compare_exchange_strong_explicit(&l->owner, &free_, pid, memory_order_acquire,
						    memory_order_relaxed))
		return PROXY_SHLOCK_FREE;
	return proxy_shlock_lock_slow(l, pid);
}

/* Give l back (a no-op when it was broken meanwhile: it is the new holder's then). */
static inline void proxy_shlock_unlock(struct proxy_shlock *l, uint32_t pid)
{
	atomic_compare_exchange_strong_explicit(&l->owner, &pid, 0, memory_order_release,
						memory_order_relaxed);
}

/* Is the process whose pid a lock word holds gone? A value that cannot be a pid counts as gone
 * (kill() would read a negative one as a process group). EPERM: it exists. */
bool proxy_shlock_holder_gone(uint32_t pid);

#endif
