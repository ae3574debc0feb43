/* fuzz_proxy_pp.c — libFuzzer harness for src/proxy/proxy_pp.c (PROXY protocol headers).
 *
 * Input: the first bytes of a connection. For every input:
 *   1. proxy_pp_parse returns a length 1..min(size, PROXY_PP_MAX), -ERR_PARTIAL,
 *      -ERR_NOTFOUND or -ERR_PARSE, and nothing else.
 *   2. Every prefix returns -ERR_PARTIAL or the whole input's result (a caller can parse what
 *      arrived and retry); a length is never more than the prefix holds.
 *   3. A header followed by anything gives the same length and result.
 *   4. A result with an address re-encodes to the same bytes: a v1 TCP4 line is rebuilt
 *      from the parsed addresses and ports, a v2 INET / INET6 block compared field by field.
 * Any violation calls abort().
 */
#include "base/base_err.h"
#include "proxy/proxy_pp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(c)                \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static uint8_t more_[PROXY_PP_MAX + 32];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_pp_result r;
	memset(&r, 0xa5, sizeof r);
	int whole = proxy_pp_parse(data, size, &r);
	ASSERT(whole == -ERR_PARTIAL || whole == -ERR_NOTFOUND || whole == -ERR_PARSE ||
	       (whole > 0 && (size_t)whole <= size && whole <= PROXY_PP_MAX));
	size_t lim = size < PROXY_PP_MAX + 8 ? size : PROXY_PP_MAX + 8;
	for (size_t k = 0; k < lim; k++) {
		struct proxy_pp_result rk;
		int rc = proxy_pp_parse(data, k, &rk);
		ASSERT(rc == -ERR_PARTIAL || rc == whole);
		if (rc > 0)
			ASSERT((size_t)rc <= k && memcmp(&rk, &r, sizeof r) == 0);
	}
	if (whole <= 0)
		return 0;
	ASSERT(r.version == 1 || r.version == 2);
	ASSERT(r.local == 0 || r.local == 1);
	/* 3: trailing bytes change nothing */
	memcpy(more_, data, (size_t)whole);
	memset(more_ + whole, 'G', 16);
	struct proxy_pp_result r2;
	ASSERT(proxy_pp_parse(more_, (size_t)whole + 16, &r2) == whole);
	ASSERT(memcmp(&r2, &r, sizeof r) == 0);
	if (r.local)
		return 0;
	/* 4: re-encode */
	char a[PROXY_IP_STR_MAX], b[PROXY_IP_STR_MAX];
	ASSERT(proxy_ip_format(&r.src, a, sizeof a) > 0);
	ASSERT(proxy_ip_format(&r.dst, b, sizeof b) > 0);
	if (r.version == 1) {
		ASSERT(whole <= PROXY_PP_V1_MAX);
		if (memcmp(data, "PROXY TCP4 ", 11) == 0) {
			ASSERT(proxy_ip_is_v4(&r.src) && proxy_ip_is_v4(&r.dst));
			char line[160];
			int n = snprintf(line, sizeof line, "PROXY TCP4 %s %s %u %u\r\n", a, b,
					 (unsigned)r.src_port, (unsigned)r.dst_port);
			ASSERT(n == whole && memcmp(line, data, (size_t)n) == 0);
		} else {
			ASSERT(memcmp(data, "PROXY TCP6 ", 11) == 0);
		}
		return 0;
	}
	ASSERT(whole >= 16 && (data[12] & 0x0f) == 1);
	size_t al = data[13] == 0x11 ? 4 : 16;
	ASSERT(data[13] == 0x11 || data[13] == 0x21);
	ASSERT((size_t)whole >= 16 + 2 * al + 4);
	struct proxy_ip s, d;
	proxy_ip_from_bytes(data + 16, al, &s);
	proxy_ip_from_bytes(data + 16 + al, al, &d);
	ASSERT(memcmp(&s, &r.src, sizeof s) == 0 && memcmp(&d, &r.dst, sizeof d) == 0);
	ASSERT(r.src_port == (data[16 + 2 * al] << 8 | data[17 + 2 * al]));
	ASSERT(r.dst_port == (data[18 + 2 * al] << 8 | data[19 + 2 * al]));
	return 0;
}
