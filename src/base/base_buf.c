/* base_buf.c — see base_buf.h. */
#include "base/base_buf.h"

#include "base/base_err.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

void buf_init(struct buf *b, void *mem, size_t cap)
{
	b->data = mem;
	b->len = 0;
	b->cap = cap;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (n > buf_avail(b))
		return -ERR_BUF_FULL;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int buf_append_cstr(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_append_slice(struct buf *b, struct slice s)
{
	return buf_append(b, s.p, s.len);
}

int buf_append_byte(struct buf *b, uint8_t c)
{
	return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	size_t avail = buf_avail(b);
	if (avail == 0)
		return -ERR_BUF_FULL;
	int n = vsnprintf((char *)b->data + b->len, avail, fmt, ap);
	if (n < 0)
		return -ERR_INVAL;
	/* vsnprintf needs room for its NUL; the NUL itself is not counted. */
	if ((size_t)n >= avail)
		return -ERR_BUF_FULL;
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void buf_consume(struct buf *b, size_t n)
{
	assert(n <= b->len);
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void buf_commit(struct buf *b, size_t n)
{
	assert(n <= buf_avail(b));
	b->len += n;
}
