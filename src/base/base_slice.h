/* base_slice.h — non-owning views of bytes.
 *
 * A slice points into memory someone else owns (a parse buffer, a string
 * literal); it is valid exactly as long as that memory is. Nothing here
 * allocates.
 */
#ifndef BASE_SLICE_H
#define BASE_SLICE_H

#include <stddef.h>
#include <stdint.h>

struct slice {
	const char *p;
	size_t len;
};

#define SLICE_LIT(s) ((struct slice){(s), sizeof(s) - 1})

struct slice slice_from_cstr(const char *s);
int slice_eq(struct slice a, struct slice b);
/* ASCII case-insensitive comparison (header names, flags). */
int slice_eq_ci(struct slice a, struct slice b);
int slice_eq_cstr(struct slice a, const char *s);
int slice_eq_cstr_ci(struct slice a, const char *s);
int slice_starts_with(struct slice a, struct slice prefix);
/* Strip spaces and horizontal tabs (RFC 9110 OWS) from both ends. */
struct slice slice_trim_ows(struct slice a);
/* Split at the first `sep`: head is what precedes it, *rest what follows
 * (empty with rest->p == NULL when sep does not occur). */
struct slice slice_cut(struct slice a, char sep, struct slice *rest);
/* Parse a decimal unsigned integer: digits only, no sign or spaces, no
 * overflow past `max`. 0 on success, -ERR_PARSE or -ERR_RANGE. */
int slice_to_u64(struct slice a, uint64_t max, uint64_t *out);
/* Copy into a NUL-terminated buffer of `cap` bytes; -ERR_BUF_FULL if it
 * does not fit (then out is empty). */
int slice_to_cstr(struct slice a, char *out, size_t cap);

#endif
