/* base_hash.c — SipHash-2-4 over segments (base_hash.h). */
#include "base/base_hash.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                   \
	do {                       \
		v0 += v1;          \
		v1 = ROTL(v1, 13); \
		v1 ^= v0;          \
		v0 = ROTL(v0, 32); \
		v2 += v3;          \
		v3 = ROTL(v3, 16); \
		v3 ^= v2;          \
		v0 += v3;          \
		v3 = ROTL(v3, 21); \
		v3 ^= v0;          \
		v2 += v1;          \
		v1 = ROTL(v1, 17); \
		v1 ^= v2;          \
		v2 = ROTL(v2, 32); \
	} while (0)

uint64_t hash_sip24_segs(uint64_t k0, uint64_t k1, const struct slice *seg, size_t n)
{
	uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
	uint64_t m = 0;
	size_t total = 0;
	unsigned fill = 0;
	for (size_t k = 0; k < n; k++) {
		const uint8_t *p = (const uint8_t *)seg[k].p;
		for (size_t i = 0; i < seg[k].len; i++) {
			m |= (uint64_t)p[i] << (8 * fill);
			if (++fill == 8) {
				v3 ^= m;
				SIPROUND;
				SIPROUND;
				v0 ^= m;
				m = 0;
				fill = 0;
			}
		}
		total += seg[k].len;
	}
	m |= (uint64_t)(total & 0xff) << 56;
	v3 ^= m;
	SIPROUND;
	SIPROUND;
	v0 ^= m;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}
