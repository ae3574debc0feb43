/* base_rand.c — see base_rand.h. */
#include "base/base_rand.h"

#include "base/base_err.h"

#include <errno.h>
#include <sys/random.h>

int rand_os_bytes(void *out, size_t n)
{
	unsigned char *p = out;
	while (n) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -ERR_RAND;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

int rand_init_os(struct rand *r)
{
	unsigned char seed[48];
	int rc = rand_os_bytes(seed, sizeof seed);
	if (rc)
		return rc;
	br_hmac_drbg_init(&r->drbg, &br_sha256_vtable, seed, sizeof seed);
	return 0;
}

void rand_init_seed(struct rand *r, const void *seed, size_t len)
{
	br_hmac_drbg_init(&r->drbg, &br_sha256_vtable, seed, len);
}

void rand_bytes(struct rand *r, void *out, size_t n)
{
	br_hmac_drbg_generate(&r->drbg, out, n);
}

uint64_t rand_u64(struct rand *r)
{
	unsigned char b[8];
	rand_bytes(r, b, sizeof b);
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

uint64_t rand_below(struct rand *r, uint64_t n)
{
	/* Reject the top partial range so every residue is equally likely. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	for (;;) {
		uint64_t v = rand_u64(r);
		if (v < limit)
			return v % n;
	}
}
