/* http_write.c — head and chunk framing writer; contract in http_write.h.
 *
 * Each public function remembers b->len on entry and puts it back on any failure, which is
 * what makes them all or nothing even when they append several pieces.
 */
#include "http/http_write.h"

#include "base/base_err.h"

#include <string.h>

#define CC(c) http_cclass[(unsigned char)(c)]

const char *http_status_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 103: return "Early Hints";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 305: return "Use Proxy";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "";
	}
}

/* Every octet of s has class bit `cls`; an empty s passes only when allow_empty. */
static int all_class(struct slice s, uint8_t cls, int allow_empty)
{
	if (s.len == 0)
		return allow_empty;
	size_t i = 0;
	for (; i + 4 <= s.len; i += 4) /* four lookups per bounds check */
		if (!(CC(s.p[i]) & CC(s.p[i + 1]) & CC(s.p[i + 2]) & CC(s.p[i + 3]) & cls))
			return 0;
	for (; i < s.len; i++)
		if (!(CC(s.p[i]) & cls))
			return 0;
	return 1;
}

/* Field value: field-value octets, no leading or trailing SP/HTAB (RFC 9110 §5.5). */
static int value_ok(struct slice v)
{
	if (!all_class(v, HC_VALUE, 1))
		return 0;
	return v.len == 0 || !((CC(v.p[0]) | CC(v.p[v.len - 1])) & HC_OWS);
}

/* Append pieces; on the first failure restore b->len and return the error. */
static int put(struct buf *b, size_t saved, const void *p, size_t n)
{
	int rc = buf_append(b, p, n);
	if (rc)
		b->len = saved;
	return rc;
}

/* Decimal (base 10) or lower-case hex (base 16) digits of v into out; returns the count.
 * Digits are produced from the end of tmp, then moved once; base 10 gets its own loop so the
 * division is by a constant (a multiply), not a divide instruction per digit. */
static size_t utoa(uint64_t v, unsigned base, char out[24])
{
	char tmp[24];
	size_t i = sizeof tmp;
	if (base == 10) {
		do {
			tmp[--i] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
	} else {
		do {
			tmp[--i] = "0123456789abcdef"[v % base];
			v /= base;
		} while (v);
	}
	size_t n = sizeof tmp - i;
	memcpy(out, tmp + i, n);
	return n;
}

/* "name: value\r\n" at the end of b; the caller has checked the parts and the room. */
static void emit_field(struct buf *b, struct slice name, struct slice value)
{
	uint8_t *d = b->data + b->len;
	http_copy_short(d, name.p, name.len);
	d += name.len;
	*d++ = ':';
	*d++ = ' ';
	http_copy_short(d, value.p, value.len); /* an empty value may be {NULL, 0} */
	d += value.len;
	*d++ = '\r';
	*d++ = '\n';
	b->len = (size_t)(d - b->data);
}

int http_write_request_line(struct buf *b, struct slice method, struct slice target, int minor)
{
	if (!all_class(method, HC_TCHAR, 0) || !all_class(target, HC_TARGET, 0) ||
	    (minor != 0 && minor != 1))
		return -ERR_INVAL;
	size_t need = method.len + 1 + target.len + 1 + 8 + 2;
	if (need > buf_avail(b))
		return -ERR_BUF_FULL;
	size_t saved = b->len;
	char ver[11];
	memcpy(ver, " HTTP/1.x\r\n", sizeof ver);
	ver[8] = (char)('0' + minor);
	put(b, saved, method.p, method.len);
	put(b, saved, " ", 1);
	put(b, saved, target.p, target.len);
	return put(b, saved, ver, sizeof ver);
}

int http_write_status_line(struct buf *b, int minor, int status, struct slice reason)
{
	if ((minor != 0 && minor != 1) || status < 100 || status > 599)
		return -ERR_INVAL;
	if (reason.len == 0)
		reason = slice_from_cstr(http_status_reason(status));
	else if (!all_class(reason, HC_VALUE, 0))
		return -ERR_INVAL;
	char line[13];
	memcpy(line, "HTTP/1.x nnn ", sizeof line);
	line[7] = (char)('0' + minor);
	line[9] = (char)('0' + status / 100);
	line[10] = (char)('0' + status / 10 % 10);
	line[11] = (char)('0' + status % 10);
	if (sizeof line + reason.len + 2 > buf_avail(b))
		return -ERR_BUF_FULL;
	uint8_t *d = b->data + b->len; /* room checked: written in one go */
	memcpy(d, line, sizeof line);
	d += sizeof line;
	http_copy_short(d, reason.p, reason.len);
	d += reason.len;
	*d++ = '\r';
	*d++ = '\n';
	b->len = (size_t)(d - b->data);
	return 0;
}

int http_write_header(struct buf *b, struct slice name, struct slice value)
{
	if (!all_class(name, HC_TCHAR, 0) || !value_ok(value))
		return -ERR_INVAL;
	if (name.len + 2 + value.len + 2 > buf_avail(b))
		return -ERR_BUF_FULL;
	emit_field(b, name, value);
	return 0;
}

int http_write_header_u64(struct buf *b, struct slice name, uint64_t v)
{
	char digits[24];
	size_t n = utoa(v, 10, digits);
	/* digits are field-value octets by construction: only the name needs the check */
	if (!all_class(name, HC_TCHAR, 0))
		return -ERR_INVAL;
	if (name.len + 2 + n + 2 > buf_avail(b))
		return -ERR_BUF_FULL;
	emit_field(b, name, (struct slice){digits, n});
	return 0;
}

static int skipped(const struct http_header *f, unsigned flags)
{
	if ((flags & HTTP_WRITE_SKIP_HOP) && f->hop)
		return 1;
	return (flags & HTTP_WRITE_SKIP_FRAMING) &&
	       (f->id == HTTP_H_CONTENT_LENGTH || f->id == HTTP_H_TRANSFER_ENCODING);
}

int http_write_headers(struct buf *b, const struct http_header *hdr, size_t n, unsigned flags)
{
	size_t saved = b->len;
	for (size_t i = 0; i < n; i++) {
		if (skipped(&hdr[i], flags))
			continue;
		int rc = http_write_header(b, hdr[i].name, hdr[i].value);
		if (rc) {
			b->len = saved;
			return rc;
		}
	}
	return 0;
}

int http_write_head_end(struct buf *b)
{
	return buf_append(b, "\r\n", 2);
}

int http_write_request_head(struct buf *b, struct slice method, struct slice target, int minor,
			    const struct http_header *hdr, size_t n, unsigned flags)
{
	size_t saved = b->len;
	int rc = http_write_request_line(b, method, target, minor);
	if (rc == 0)
		rc = http_write_headers(b, hdr, n, flags);
	if (rc == 0)
		rc = http_write_head_end(b);
	if (rc)
		b->len = saved;
	return rc;
}

int http_write_response_head(struct buf *b, int minor, int status, struct slice reason,
			     const struct http_header *hdr, size_t n, unsigned flags)
{
	size_t saved = b->len;
	int rc = http_write_status_line(b, minor, status, reason);
	if (rc == 0)
		rc = http_write_headers(b, hdr, n, flags);
	if (rc == 0)
		rc = http_write_head_end(b);
	if (rc)
		b->len = saved;
	return rc;
}

int http_write_chunk_size(struct buf *b, uint64_t n)
{
	if (n == 0)
		return -ERR_INVAL;
	char line[24];
	size_t k = utoa(n, 16, line);
	line[k++] = '\r';
	line[k++] = '\n';
	return buf_append(b, line, k);
}

int http_write_chunk_end(struct buf *b)
{
	return buf_append(b, "\r\n", 2);
}

int http_write_last_chunk(struct buf *b)
{
	return buf_append(b, "0\r\n\r\n", 5);
}

int http_write_chunk(struct buf *b, struct slice data)
{
	char line[24];
	if (data.len == 0)
		return -ERR_INVAL;
	size_t k = utoa(data.len, 16, line);
	line[k++] = '\r';
	line[k++] = '\n';
	if (k + data.len + 2 > buf_avail(b))
		return -ERR_BUF_FULL;
	size_t saved = b->len;
	put(b, saved, line, k);
	put(b, saved, data.p, data.len);
	return put(b, saved, "\r\n", 2);
}
