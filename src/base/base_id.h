/* base_id.h — node IDs: 25 lowercase base-36 characters.
 *
 * 128 random bits written in base 36, most significant digit first, padded
 * with '0' to 25 digits (36^25 > 2^128, so every value fits and the
 * mapping is one to one), as the original product's node IDs look.
 */
#ifndef BASE_ID_H
#define BASE_ID_H

#include "base/base_rand.h"
#include "base/base_slice.h"

#define ID_LEN 25

void id_generate(struct rand *r, char out[ID_LEN + 1]);
/* Encode 16 bytes (big-endian) as an ID. */
void id_from_bytes(const unsigned char in[16], char out[ID_LEN + 1]);
/* 1 if s is exactly 25 characters of [0-9a-z] whose value fits 128 bits. */
int id_valid(struct slice s);

#endif
