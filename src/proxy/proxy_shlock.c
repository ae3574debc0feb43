/* proxy_shlock.c — see proxy_shlock.h. */
#include "proxy/proxy_shlock.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/types.h>

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

bool proxy_shlock_holder_gone(uint32_t pid)
{
	if (pid > (uint32_t)INT32_MAX)
		return true;
	return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

/* Wait for a busy lock: spin, then yield; take the lock over when its holder is gone or after
 * PROXY_SHLOCK_YIELDS yields. Makes no call that blocks and logs nothing (locks may be held). */
enum proxy_shlock_took proxy_shlock_lock_slow(struct proxy_shlock *l, uint32_t pid)
{
	_Atomic uint32_t *w = &l->owner;
	uint32_t spins = 0, yields = 0, seen = 0;
	for (;;) {
		uint32_t cur = atomic_load_explicit(w, memory_order_relaxed);
		if (cur != seen) { /* another holder: its own time from now */
			seen = cur;
			spins = 0;
			yields = 0;
		}
		if (cur == 0) {
			if (atomic_compare_exchange_weak_explicit(
				    w, &cur, pid, memory_order_acquire, memory_order_relaxed))
				return PROXY_SHLOCK_FREE;
			continue;
		}
		if (spins < PROXY_SHLOCK_SPINS) {
			spins++;
			cpu_relax();
			continue;
		}
		spins = 0;
		bool dead = yields % PROXY_SHLOCK_CHECK == 0 && proxy_shlock_holder_gone(cur);
		bool stuck = yields >= PROXY_SHLOCK_YIELDS;
		if (dead || stuck) {
			if (atomic_compare_exchange_strong_explicit(
				    w, &cur, pid, memory_order_acquire, memory_order_relaxed))
				return dead ? PROXY_SHLOCK_STOLEN : PROXY_SHLOCK_BROKEN;
			continue; /* another process was first */
		}
		sched_yield();
		yields++;
	}
}
