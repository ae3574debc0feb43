/* base_rand.h — randomness: an HMAC-DRBG (SHA-256, BearSSL) per owner.
 *
 * rand_init_os seeds from getrandom(2) — the only place the OS is asked.
 * rand_init_seed gives a reproducible stream for tests and the simulator.
 * Keys, serials, IDs and token secrets come from an OS-seeded DRBG.
 */
#ifndef BASE_RAND_H
#define BASE_RAND_H

#include <stddef.h>
#include <stdint.h>

#include <bearssl.h>

struct rand {
	br_hmac_drbg_context drbg;
};

/* Fill out with n bytes from getrandom(2) (blocking until the kernel pool
 * is initialised, retrying on EINTR). 0 or -ERR_RAND. */
int rand_os_bytes(void *out, size_t n);
/* Seed from 48 bytes of OS entropy. 0 or -ERR_RAND. */
int rand_init_os(struct rand *r);
/* Deterministic seed, for tests and simulation only. */
void rand_init_seed(struct rand *r, const void *seed, size_t len);
void rand_bytes(struct rand *r, void *out, size_t n);
uint64_t rand_u64(struct rand *r);
/* Uniform in [0, n), no modulo bias; n > 0. */
uint64_t rand_below(struct rand *r, uint64_t n);
/* The DRBG as a BearSSL PRNG class (for br_ec_keygen and friends). */
static inline const br_prng_class **rand_prng(struct rand *r)
{
	return &r->drbg.vtable;
}

#endif
