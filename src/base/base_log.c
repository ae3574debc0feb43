/* base_log.c — see base_log.h. */
#include "base/base_log.h"

#include "base/base_buf.h"
#include "base/base_err.h"
#include "base/base_time.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct {
	enum log_level level;
	int fd;
	log_tap_fn tap;
	void *tap_ctx;
} log_sink = {LOG_INFO, 2, NULL, NULL};

void log_set_tap(log_tap_fn fn, void *ctx)
{
	log_sink.tap = fn;
	log_sink.tap_ctx = ctx;
}

static const char *const log_names[] = {"debug", "info", "warn", "error", "off"};

void log_set_level(enum log_level level)
{
	log_sink.level = level;
}

enum log_level log_get_level(void)
{
	return log_sink.level;
}

void log_set_fd(int fd)
{
	log_sink.fd = fd;
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (int i = LOG_DEBUG; i <= LOG_OFF; i++) {
		if (strcmp(name, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcmp(name, "warning") == 0) {
		*out = LOG_WARN;
		return 0;
	}
	return -ERR_INVAL;
}

static int needs_quote(const char *s)
{
	if (!*s)
		return 1;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
			return 1;
	}
	return 0;
}

/* Append the escaped form of s, quoted; stops quietly when b is full. */
static void append_quoted(struct buf *b, const char *s)
{
	buf_append_byte(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int rc;
		if (c == '"' || c == '\\')
			rc = buf_printf(b, "\\%c", c);
		else if (c == '\n')
			rc = buf_append_cstr(b, "\\n");
		else if (c == '\t')
			rc = buf_append_cstr(b, "\\t");
		else if (c < ' ' || c == 0x7f)
			rc = buf_printf(b, "\\x%02x", c);
		else
			rc = buf_append_byte(b, c);
		if (rc)
			return;
	}
	buf_append_byte(b, '"');
}

const char *log_q(char *out, size_t cap, const char *s)
{
	if (cap == 0)
		return out;
	struct buf b;
	buf_init(&b, out, cap - 1);
	if (needs_quote(s))
		append_quoted(&b, s);
	else
		buf_append_cstr(&b, s);
	out[b.len] = 0;
	return out;
}

void log_vwrite(enum log_level level, const char *msg, const char *kv, va_list ap)
{
	if (level < log_sink.level || level >= LOG_OFF)
		return;
	char line[LOG_LINE_MAX];
	struct buf b;
	/* Keep 4 bytes for a cut mark ("…" is 3 bytes) and the newline. */
	buf_init(&b, line, sizeof line - 4);
	char ts[TIME_RFC3339_LEN + 1];
	time_format_rfc3339(time_wall_ms(), ts);
	buf_printf(&b, "time=%s level=%s msg=", ts, log_names[level]);
	append_quoted(&b, msg);
	int cut = 0;
	if (kv && *kv) {
		size_t before = b.len;
		if (buf_append_byte(&b, ' ') == 0) {
			va_list cp;
			va_copy(cp, ap);
			size_t avail = buf_avail(&b);
			int n = vsnprintf((char *)b.data + b.len, avail + 1, kv, cp);
			va_end(cp);
			if (n < 0)
				b.len = before;
			else if ((size_t)n > avail) {
				b.len += avail;
				cut = 1;
			} else {
				b.len += (size_t)n;
			}
		} else {
			cut = 1;
		}
	}
	b.cap = sizeof line; /* release the reserve */
	if (cut)
		buf_append(&b, "\xe2\x80\xa6", 3);
	buf_append_byte(&b, '\n');
	if (log_sink.tap)
		log_sink.tap(log_sink.tap_ctx, level, line, b.len);
	ssize_t off = 0;
	while ((size_t)off < b.len) {
		ssize_t w = write(log_sink.fd, line + off, b.len - (size_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* nowhere to report a failing log sink */
		off += w;
	}
}

void log_write(enum log_level level, const char *msg, const char *kv, ...)
{
	va_list ap;
	va_start(ap, kv);
	log_vwrite(level, msg, kv, ap);
	va_end(ap);
}
