/* base_hash.h — SipHash-2-4 (Aumasson and Bernstein, 2012), the keyed hash the proxy's shared
 * tables use so that a client cannot aim many keys at one slot without the node's key.
 *
 * Contract
 *   hash_sip24_segs hashes the concatenation of seg[0..n) under the 128-bit key (k0, k1), k0
 *   being the key's first 8 bytes read little endian: the same bytes split into other
 *   segments give the same value. Pure, no allocation; seg[i].p may be NULL when its len is 0.
 */
#ifndef BASE_HASH_H
#define BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "base/base_slice.h"

uint64_t hash_sip24_segs(uint64_t k0, uint64_t k1, const struct slice *seg, size_t n);

#endif
