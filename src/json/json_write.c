/* json_write.c — see json_write.h. */
#include "json/json_write.h"

#include "base/base_err.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(JSON_MAX_DEPTH <= 64, "one bit per level in json_writer.objs");

void json_w_init(struct json_writer *w, struct buf *out)
{
	w->out = out;
	w->mark = out->len;
	w->err = 0;
	w->depth = 0;
	w->objs = 0;
	w->first = true;
	w->want_value = false;
	w->done = false;
}

/* Latch the first error and drop everything this document wrote. */
static int w_fail(struct json_writer *w, int err)
{
	if (!w->err) {
		w->err = err;
		w->out->len = w->mark;
	}
	return w->err;
}

static bool w_in_obj(const struct json_writer *w)
{
	return w->depth > 0 && ((w->objs >> (w->depth - 1)) & 1);
}

static int w_put(struct json_writer *w, const void *p, size_t n)
{
	return buf_append(w->out, p, n) < 0 ? w_fail(w, -ERR_BUF_FULL) : 0;
}

/* Check that a value may come now and write the comma before it. */
static int w_before_value(struct json_writer *w)
{
	if (w->err)
		return w->err;
	if (w->depth == 0)
		return w->done ? w_fail(w, -ERR_JSON_WRITE_ORDER) : 0;
	if (w_in_obj(w)) {
		if (!w->want_value)
			return w_fail(w, -ERR_JSON_WRITE_ORDER);
		w->want_value = false; /* the key wrote the comma and the colon */
		return 0;
	}
	if (!w->first && w_put(w, ",", 1) < 0)
		return w->err;
	w->first = false;
	return 0;
}

static void w_after_value(struct json_writer *w)
{
	if (w->depth == 0)
		w->done = true;
}

/* A quoted, escaped string; see json_write.h for the rules. */
static int w_string(struct json_writer *w, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	static const unsigned char fffd[3] = {0xef, 0xbf, 0xbd};
	size_t i = 0;

	if (w_put(w, "\"", 1) < 0)
		return w->err;
	while (i < n) {
		size_t run = i;
		while (run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' &&
		       s[run] != '\\')
			run++;
		if (run > i && w_put(w, s + i, run - i) < 0)
			return w->err;
		i = run;
		if (i == n)
			break;
		unsigned char c = s[i];
		char esc[6] = {'\\', 0, '0', '0', 0, 0};
		size_t elen = 2;
		if (c >= 0x80) {
			int k = json_utf8_seq(s + i, n - i);
			if (k > 0) {
				if (w_put(w, s + i, (size_t)k) < 0)
					return w->err;
				i += (size_t)k;
				continue;
			}
			/* 0: cut short by the end of the input; the rest is one subpart. */
			if (w_put(w, fffd, sizeof fffd) < 0)
				return w->err;
			i += k < 0 ? (size_t)-k : n - i;
			continue;
		}
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			elen = 6;
			break;
		}
		if (w_put(w, esc, elen) < 0)
			return w->err;
		i++;
	}
	return w_put(w, "\"", 1);
}

static int w_begin(struct json_writer *w, bool obj)
{
	if (w_before_value(w) < 0)
		return w->err;
	if (w->depth == JSON_MAX_DEPTH)
		return w_fail(w, -ERR_JSON_DEPTH);
	if (w_put(w, obj ? "{" : "[", 1) < 0)
		return w->err;
	if (obj)
		w->objs |= (uint64_t)1 << w->depth;
	else
		w->objs &= ~((uint64_t)1 << w->depth);
	w->depth++;
	w->first = true;
	w->want_value = false;
	return 0;
}

static int w_end(struct json_writer *w, bool obj)
{
	if (w->err)
		return w->err;
	if (w->depth == 0 || w_in_obj(w) != obj || w->want_value)
		return w_fail(w, -ERR_JSON_WRITE_ORDER);
	if (w_put(w, obj ? "}" : "]", 1) < 0)
		return w->err;
	w->depth--;
	w->first = false; /* the container just closed is an element of its parent */
	w_after_value(w);
	return 0;
}

int json_w_obj_begin(struct json_writer *w)
{
	return w_begin(w, true);
}

int json_w_obj_end(struct json_writer *w)
{
	return w_end(w, true);
}

int json_w_arr_begin(struct json_writer *w)
{
	return w_begin(w, false);
}

int json_w_arr_end(struct json_writer *w)
{
	return w_end(w, false);
}

int json_w_key_slice(struct json_writer *w, struct slice key)
{
	assert(key.p || key.len == 0);
	if (w->err)
		return w->err;
	if (!w_in_obj(w) || w->want_value)
		return w_fail(w, -ERR_JSON_WRITE_ORDER);
	if (!w->first && w_put(w, ",", 1) < 0)
		return w->err;
	if (w_string(w, (const unsigned char *)key.p, key.len) < 0 || w_put(w, ":", 1) < 0)
		return w->err;
	w->first = false;
	w->want_value = true;
	return 0;
}

int json_w_key(struct json_writer *w, const char *key)
{
	assert(key);
	return json_w_key_slice(w, slice_from_cstr(key));
}

int json_w_str_slice(struct json_writer *w, struct slice s)
{
	assert(s.p || s.len == 0);
	if (w_before_value(w) < 0 || w_string(w, (const unsigned char *)s.p, s.len) < 0)
		return w->err;
	w_after_value(w);
	return 0;
}

int json_w_str(struct json_writer *w, const char *s)
{
	assert(s);
	return json_w_str_slice(w, slice_from_cstr(s));
}

/* A scalar already formatted as JSON text. */
static int w_scalar(struct json_writer *w, const char *text, size_t n)
{
	if (w_before_value(w) < 0 || w_put(w, text, n) < 0)
		return w->err;
	w_after_value(w);
	return 0;
}

int json_w_int(struct json_writer *w, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
	return w_scalar(w, tmp, (size_t)n);
}

int json_w_uint(struct json_writer *w, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
	return w_scalar(w, tmp, (size_t)n);
}

int json_w_double(struct json_writer *w, double v)
{
	char tmp[32];
	int n = 0;

	if (w->err)
		return w->err;
	if (!isfinite(v))
		return w_fail(w, -ERR_RANGE);
	/* %.17g always reads back exactly; try shorter forms first. "%g" output ("1e+300",
	 * "-0", "0.5") is valid JSON; the daemon never calls setlocale(), so the radix is '.'. */
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	return w_scalar(w, tmp, (size_t)n);
}

int json_w_bool(struct json_writer *w, bool v)
{
	return v ? w_scalar(w, "true", 4) : w_scalar(w, "false", 5);
}

int json_w_null(struct json_writer *w)
{
	return w_scalar(w, "null", 4);
}

int json_w_raw(struct json_writer *w, struct slice json)
{
	int depth = 0;

	if (w->err)
		return w->err;
	int rc = json_validate(json.p, json.len, &depth);
	if (rc < 0)
		return w_fail(w, rc == -ERR_PARTIAL ? -ERR_JSON_PARSE : rc);
	if (depth > JSON_MAX_DEPTH - w->depth)
		return w_fail(w, -ERR_JSON_DEPTH);
	return w_scalar(w, json.p, json.len);
}

int json_w_finish(struct json_writer *w)
{
	if (w->err)
		return w->err;
	if (w->depth != 0 || !w->done)
		return w_fail(w, -ERR_JSON_WRITE_ORDER);
	return 0;
}
