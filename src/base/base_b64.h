/* base_b64.h — standard base64 (RFC 4648 §4, "+/" alphabet, padding required), as Consul, etcd
 * and HTTP Basic authentication use it.
 *
 * Contract
 *   Pure functions over caller buffers; no allocation. Decoding is strict: a length that is not
 *   a multiple of 4, a character outside the alphabet, or data after '=' is refused.
 */
#ifndef BASE_B64_H
#define BASE_B64_H

#include <stddef.h>

#include "base/base_slice.h"

/* Decode src into out (cap bytes). The decoded length, -ERR_PARSE, or -ERR_BUF_FULL. In-place
 * decoding (out == src) is allowed: output never overtakes input. */
int base64_decode(struct slice src, char *out, size_t cap);
/* Encode src into out (cap bytes; 4 * ceil(len / 3) needed, no NUL written). The length or
 * -ERR_BUF_FULL. */
int base64_encode(struct slice src, char *out, size_t cap);

#endif
