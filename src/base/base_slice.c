/* base_slice.c — see base_slice.h. */
#include "base/base_slice.h"

#include "base/base_err.h"

#include <string.h>

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

struct slice slice_from_cstr(const char *s)
{
	return (struct slice){s, s ? strlen(s) : 0};
}

int slice_eq(struct slice a, struct slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

int slice_eq_ci(struct slice a, struct slice b)
{
	if (a.len != b.len)
		return 0;
	for (size_t i = 0; i < a.len; i++)
		if (lower((unsigned char)a.p[i]) != lower((unsigned char)b.p[i]))
			return 0;
	return 1;
}

int slice_eq_cstr(struct slice a, const char *s)
{
	return slice_eq(a, slice_from_cstr(s));
}

int slice_eq_cstr_ci(struct slice a, const char *s)
{
	return slice_eq_ci(a, slice_from_cstr(s));
}

int slice_starts_with(struct slice a, struct slice prefix)
{
	return a.len >= prefix.len && (prefix.len == 0 || memcmp(a.p, prefix.p, prefix.len) == 0);
}

struct slice slice_trim_ows(struct slice a)
{
	while (a.len && (a.p[0] == ' ' || a.p[0] == '\t')) {
		a.p++;
		a.len--;
	}
	while (a.len && (a.p[a.len - 1] == ' ' || a.p[a.len - 1] == '\t'))
		a.len--;
	return a;
}

struct slice slice_cut(struct slice a, char sep, struct slice *rest)
{
	const char *hit = a.len ? memchr(a.p, sep, a.len) : 0;
	if (!hit) {
		if (rest)
			*rest = (struct slice){0, 0};
		return a;
	}
	size_t n = (size_t)(hit - a.p);
	if (rest)
		*rest = (struct slice){hit + 1, a.len - n - 1};
	return (struct slice){a.p, n};
}

int slice_to_u64(struct slice a, uint64_t max, uint64_t *out)
{
	if (a.len == 0)
		return -ERR_PARSE;
	uint64_t v = 0;
	for (size_t i = 0; i < a.len; i++) {
		unsigned char c = (unsigned char)a.p[i];
		if (c < '0' || c > '9')
			return -ERR_PARSE;
		unsigned d = c - '0';
		if (d > max || v > (max - d) / 10)
			return -ERR_RANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int slice_to_cstr(struct slice a, char *out, size_t cap)
{
	if (cap == 0)
		return -ERR_BUF_FULL;
	if (a.len >= cap) {
		out[0] = 0;
		return -ERR_BUF_FULL;
	}
	if (a.len)
		memcpy(out, a.p, a.len);
	out[a.len] = 0;
	return 0;
}
