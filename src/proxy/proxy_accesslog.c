/* proxy_accesslog.c — see proxy_accesslog.h. */
#include "proxy/proxy_accesslog.h"

#include "base/base_err.h"
#include "base/base_time.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int proxy_accesslog_init(struct proxy_accesslog *al, int fd, void *mem, size_t cap)
{
	memset(al, 0, sizeof *al);
	al->fd = fd;
	al->time_sec = -1;
	if (!mem || cap < PROXY_AL_LINE_MAX)
		return -ERR_INVAL;
	buf_init(&al->out, mem, cap);
	return 0;
}

void proxy_accesslog_share(struct proxy_accesslog *al, uint64_t *counter)
{
	al->shared = counter;
}

static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static const char *time_text(struct proxy_accesslog *al, int64_t wall_ms)
{
	int64_t sec = wall_ms / 1000;
	if (sec != al->time_sec) {
		struct time_civil c;
		time_civil_from_epoch(sec, &c);
		int m = c.month >= 1 && c.month <= 12 ? c.month - 1 : 0;
		struct buf b;
		buf_init(&b, al->time_text, sizeof al->time_text - 1);
		if (buf_printf(&b, "%02d/%s/%04d:%02d:%02d:%02d +0000", c.day, month_names[m],
			       c.year, c.hour, c.min, c.sec) != 0)
			b.len = 0;
		al->time_text[b.len] = 0;
		al->time_sec = sec;
	}
	return al->time_text;
}

/* Append s escaped (or "-" when empty), at most PROXY_AL_FIELD_MAX input bytes. */
static int put_value(struct buf *b, struct slice s)
{
	static const char hex[] = "0123456789abcdef";
	if (s.len == 0)
		return buf_append_byte(b, '-');
	size_t n = s.len < PROXY_AL_FIELD_MAX ? s.len : PROXY_AL_FIELD_MAX;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s.p[i];
		int rc;
		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
			char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
			rc = buf_append(b, esc, 4);
		} else {
			rc = buf_append_byte(b, c);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int put_quoted(struct buf *b, struct slice s)
{
	int rc = buf_append_byte(b, '"');
	if (!rc)
		rc = put_value(b, s);
	return rc ? rc : buf_append_byte(b, '"');
}

int proxy_accesslog_format(struct proxy_accesslog *al, const struct proxy_access_entry *e,
			   struct buf *b)
{
	size_t saved = b->len;
	int rc = put_value(b, e->client);
	if (!rc)
		rc = buf_append_cstr(b, " - ");
	if (!rc)
		rc = put_value(b, e->user);
	if (!rc)
		rc = buf_printf(b, " [%s] \"", time_text(al, e->start_ms));
	if (!rc)
		rc = put_value(b, e->method);
	if (!rc)
		rc = buf_append_byte(b, ' ');
	if (!rc)
		rc = put_value(b, e->path);
	if (!rc)
		rc = buf_printf(b, " HTTP/1.%d\" ", e->minor);
	if (!rc && e->status)
		rc = buf_printf(b, "%d ", e->status);
	else if (!rc)
		rc = buf_append_cstr(b, "- ");
	if (!rc)
		rc = buf_printf(b, "%llu ", (unsigned long long)e->size);
	if (!rc)
		rc = put_quoted(b, e->referer);
	if (!rc)
		rc = buf_append_byte(b, ' ');
	if (!rc)
		rc = put_quoted(b, e->agent);
	if (!rc)
		rc = buf_printf(b, " %llu ", (unsigned long long)al->requests);
	if (!rc)
		rc = put_quoted(b, e->frontend);
	if (!rc)
		rc = buf_append_byte(b, ' ');
	if (!rc)
		rc = put_quoted(b, e->backend_url);
	if (!rc)
		rc = buf_printf(b, " %llums\n", (unsigned long long)e->duration_ms);
	if (rc)
		b->len = saved;
	return rc;
}

void proxy_accesslog_flush(struct proxy_accesslog *al)
{
	if (!al->out.len)
		return;
	if (al->fd >= 0) {
		ssize_t n;
		do
			n = write(al->fd, al->out.data, al->out.len);
		while (n < 0 && errno == EINTR);
		if (n < 0 || (size_t)n < al->out.len)
			al->dropped++; /* the rest of the batch is lost, never waited for */
	}
	buf_reset(&al->out);
}

void proxy_accesslog_add(struct proxy_accesslog *al, const struct proxy_access_entry *e)
{
	proxy_accesslog_count(al);
	if (al->fd < 0)
		return;
	if (buf_avail(&al->out) < PROXY_AL_LINE_MAX)
		proxy_accesslog_flush(al);
	if (proxy_accesslog_format(al, e, &al->out) == 0)
		al->lines++;
	else
		al->dropped++;
}
