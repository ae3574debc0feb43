/* base_b64.c — standard base64 (RFC 4648 §4), see base_b64.h. */
#include "base/base_b64.h"

#include <stdint.h>

#include "base/base_err.h"

static int b64v(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(struct slice src, char *out, size_t cap)
{
	if (src.len % 4)
		return -ERR_PARSE;
	size_t o = 0;
	for (size_t i = 0; i < src.len; i += 4) {
		int v[4];
		int pad = 0;
		for (int j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)src.p[i + j];
			if (c == '=' && i + 4 == src.len && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -ERR_PARSE; /* data after '=' */
			v[j] = b64v(c);
			if (v[j] < 0)
				return -ERR_PARSE;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		size_t k = 3 - (size_t)pad;
		if (o + k > cap)
			return -ERR_BUF_FULL;
		out[o++] = (char)(w >> 16);
		if (k > 1)
			out[o++] = (char)(w >> 8 & 0xff);
		if (k > 2)
			out[o++] = (char)(w & 0xff);
	}
	return (int)o;
}

int base64_encode(struct slice src, char *out, size_t cap)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t need = (src.len + 2) / 3 * 4;
	if (need > cap)
		return -ERR_BUF_FULL;
	const unsigned char *s = (const unsigned char *)src.p;
	size_t o = 0, i = 0;
	for (; i + 3 <= src.len; i += 3) {
		uint32_t w = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		out[o++] = al[w >> 18];
		out[o++] = al[w >> 12 & 63];
		out[o++] = al[w >> 6 & 63];
		out[o++] = al[w & 63];
	}
	if (i < src.len) {
		uint32_t w = (uint32_t)s[i] << 16;
		if (i + 1 < src.len)
			w |= (uint32_t)s[i + 1] << 8;
		out[o++] = al[w >> 18];
		out[o++] = al[w >> 12 & 63];
		out[o++] = i + 1 < src.len ? al[w >> 6 & 63] : '=';
		out[o++] = '=';
	}
	return (int)o;
}
