/* base_buf.h — fixed-capacity byte buffers.
 *
 * A buf wraps memory the caller owns (a pool slot, a stack array, an arena
 * block). It never grows: appending past `cap` fails with -ERR_BUF_FULL
 * and leaves the contents unchanged, so a full buffer is an error the
 * caller handles (431, 413, back-pressure), never an allocation.
 */
#ifndef BASE_BUF_H
#define BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_slice.h"

struct buf {
	uint8_t *data;
	size_t len; /* bytes in use, data[0..len) */
	size_t cap; /* bytes available at data */
};

void buf_init(struct buf *b, void *mem, size_t cap);
static inline size_t buf_avail(const struct buf *b)
{
	return b->cap - b->len;
}
static inline struct slice buf_slice(const struct buf *b)
{
	return (struct slice){(const char *)b->data, b->len};
}
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_cstr(struct buf *b, const char *s);
int buf_append_slice(struct buf *b, struct slice s);
int buf_append_byte(struct buf *b, uint8_t c);
/* printf-style append; all or nothing: on -ERR_BUF_FULL nothing is added. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Drop the first n bytes (n <= len), moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);
static inline void buf_reset(struct buf *b)
{
	b->len = 0;
}
/* Mark n bytes, written directly at data + len, as used (n <= avail). */
void buf_commit(struct buf *b, size_t n);

#endif
