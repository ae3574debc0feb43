/* proxy_cidr.c — see proxy_cidr.h. */
#include "proxy/proxy_cidr.h"

#include "base/base_err.h"

#include <stdio.h>
#include <string.h>

static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Dotted quad into out[0..4). Strict: four parts, 1..3 digits, no leading zero, <= 255. */
static int parse_v4(struct slice s, uint8_t out[4])
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= s.len || s.p[i] != '.')
				return -ERR_PARSE;
			i++;
		}
		size_t start = i;
		unsigned v = 0;
		while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9' && i - start < 3) {
			v = v * 10 + (unsigned)(s.p[i] - '0');
			i++;
		}
		size_t n = i - start;
		if (n == 0 || v > 255 || (n > 1 && s.p[start] == '0'))
			return -ERR_PARSE;
		out[part] = (uint8_t)v;
	}
	return i == s.len ? 0 : -ERR_PARSE;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 4291 §2.2 text: groups of 1..4 hex digits, at most one "::", an optional dotted quad
 * in the last 32 bits. */
static int parse_v6(struct slice s, uint8_t out[16])
{
	uint16_t grp[8];
	int n = 0, gap = -1;
	size_t i = 0;

	if (s.len < 2)
		return -ERR_PARSE;
	if (s.p[0] == ':') {
		if (s.p[1] != ':')
			return -ERR_PARSE;
		gap = 0;
		i = 2;
		if (i == s.len)
			goto done;
	}
	for (;;) {
		size_t start = i;
		unsigned v = 0;
		while (i < s.len && hexval(s.p[i]) >= 0 && i - start < 4) {
			v = v * 16 + (unsigned)hexval(s.p[i]);
			i++;
		}
		if (i < s.len && s.p[i] == '.') {
			/* Embedded IPv4 in the last two groups. */
			uint8_t q[4];
			if (n > 6 || parse_v4((struct slice){s.p + start, s.len - start}, q) < 0)
				return -ERR_PARSE;
			grp[n++] = (uint16_t)(q[0] << 8 | q[1]);
			grp[n++] = (uint16_t)(q[2] << 8 | q[3]);
			i = s.len;
			break;
		}
		if (i == start || n >= 8)
			return -ERR_PARSE;
		grp[n++] = (uint16_t)v;
		if (i == s.len)
			break;
		if (s.p[i] != ':')
			return -ERR_PARSE;
		i++;
		if (i < s.len && s.p[i] == ':') {
			if (gap >= 0)
				return -ERR_PARSE;
			gap = n;
			i++;
			if (i == s.len)
				break;
		} else if (i == s.len) {
			return -ERR_PARSE; /* trailing single ':' */
		}
	}
done:
	if (gap < 0 && n != 8)
		return -ERR_PARSE;
	if (gap >= 0 && n > 7)
		return -ERR_PARSE;
	memset(out, 0, 16);
	int tail = gap < 0 ? 0 : n - gap;
	int head = n - tail;
	for (int k = 0; k < head; k++) {
		out[2 * k] = (uint8_t)(grp[k] >> 8);
		out[2 * k + 1] = (uint8_t)grp[k];
	}
	for (int k = 0; k < tail; k++) {
		int at = 8 - tail + k;
		out[2 * at] = (uint8_t)(grp[head + k] >> 8);
		out[2 * at + 1] = (uint8_t)grp[head + k];
	}
	return 0;
}

int proxy_ip_parse(struct slice s, struct proxy_ip *out)
{
	if (!s.p || s.len == 0 || s.len > 45)
		return -ERR_PARSE;
	if (memchr(s.p, ':', s.len))
		return parse_v6(s, out->b);
	memcpy(out->b, v4_prefix, 12);
	return parse_v4(s, out->b + 12);
}

int proxy_ip_from_bytes(const void *p, size_t len, struct proxy_ip *out)
{
	if (len == 4) {
		memcpy(out->b, v4_prefix, 12);
		memcpy(out->b + 12, p, 4);
		return 0;
	}
	if (len == 16) {
		memcpy(out->b, p, 16);
		return 0;
	}
	return -ERR_INVAL;
}

bool proxy_ip_is_v4(const struct proxy_ip *ip)
{
	return memcmp(ip->b, v4_prefix, 12) == 0;
}

int proxy_cidr_parse(struct slice s, struct proxy_cidr *out)
{
	struct slice rest;
	struct slice addr = slice_cut(s, '/', &rest);
	uint64_t len;

	memset(out, 0, sizeof *out);
	if (proxy_ip_parse(addr, &out->net) < 0)
		return -ERR_PARSE;
	out->v4 = proxy_ip_is_v4(&out->net) && !memchr(addr.p, ':', addr.len);
	unsigned max = out->v4 ? 32 : 128;
	if (rest.p) {
		/* Decimal, no sign, no leading zeros (as Go). */
		if (rest.len == 0 || rest.len > 3 || (rest.len > 1 && rest.p[0] == '0') ||
		    slice_to_u64(rest, max, &len) < 0)
			return -ERR_PARSE;
	} else {
		len = max;
	}
	out->bits = (uint8_t)(out->v4 ? 96 + len : len);
	for (unsigned bit = out->bits; bit < 128; bit++)
		out->net.b[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	return 0;
}

bool proxy_cidr_match(const struct proxy_cidr *c, const struct proxy_ip *ip)
{
	unsigned full = c->bits / 8, rem = c->bits % 8;
	if (memcmp(c->net.b, ip->b, full) != 0)
		return false;
	if (rem == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff00u >> rem);
	return (ip->b[full] & mask) == c->net.b[full];
}

bool proxy_cidr_list_match(const struct proxy_cidr *list, size_t n, const struct proxy_ip *ip)
{
	for (size_t i = 0; i < n; i++)
		if (proxy_cidr_match(&list[i], ip))
			return true;
	return false;
}

int proxy_ip_format(const struct proxy_ip *ip, char *out, size_t cap)
{
	char tmp[PROXY_IP_STR_MAX];
	int n;

	if (proxy_ip_is_v4(ip)) {
		n = snprintf(tmp, sizeof tmp, "%u.%u.%u.%u", ip->b[12], ip->b[13], ip->b[14],
			     ip->b[15]);
	} else {
		/* RFC 5952: the longest run (>= 2) of zero groups becomes "::", lowercase hex. */
		unsigned g[8];
		int best = -1, best_len = 0;
		for (int k = 0; k < 8; k++)
			g[k] = (unsigned)ip->b[2 * k] << 8 | ip->b[2 * k + 1];
		for (int k = 0; k < 8;) {
			if (g[k]) {
				k++;
				continue;
			}
			int j = k;
			while (j < 8 && g[j] == 0)
				j++;
			if (j - k > best_len && j - k >= 2) {
				best = k;
				best_len = j - k;
			}
			k = j;
		}
		n = 0;
		for (int k = 0; k < 8; k++) {
			if (k == best) {
				n += snprintf(tmp + n, sizeof tmp - (size_t)n, "::");
				k += best_len - 1;
				continue;
			}
			if (n > 0 && tmp[n - 1] != ':')
				tmp[n++] = ':';
			n += snprintf(tmp + n, sizeof tmp - (size_t)n, "%x", g[k]);
		}
		tmp[n] = 0;
	}
	if ((size_t)n + 1 > cap) {
		if (cap)
			out[0] = 0;
		return -ERR_BUF_FULL;
	}
	memcpy(out, tmp, (size_t)n + 1);
	return n;
}

/* Next comma-separated element of *rest, trimmed; false at the end. */
static bool xff_next(struct slice *rest, struct slice *item)
{
	if (!rest->p)
		return false;
	*item = slice_trim_ows(slice_cut(*rest, ',', rest));
	return true;
}

int proxy_xff_first(struct slice xff, struct proxy_ip *out)
{
	struct slice rest = xff, item;
	while (xff_next(&rest, &item))
		if (proxy_ip_parse(item, out) == 0)
			return 0;
	return -ERR_NOTFOUND;
}

bool proxy_cidr_xff_match(const struct proxy_cidr *list, size_t n, struct slice xff)
{
	struct slice rest = xff, item;
	struct proxy_ip ip;
	while (xff_next(&rest, &item))
		if (proxy_ip_parse(item, &ip) == 0 && proxy_cidr_list_match(list, n, &ip))
			return true;
	return false;
}

int proxy_port_parse(struct slice s, uint16_t *port)
{
	uint64_t v;
	if (s.len == 0 || s.len > 5 || s.p[0] == '0' || slice_to_u64(s, 65535, &v) < 0 || v == 0)
		return -ERR_PARSE;
	*port = (uint16_t)v;
	return 0;
}

int proxy_addr_parse(struct slice s, struct proxy_ip *ip, bool *any, uint16_t *port)
{
	struct slice host, ps;
	memset(ip, 0, sizeof *ip);
	*any = false;
	if (s.len && s.p[0] == '[') {
		const char *rb = memchr(s.p, ']', s.len);
		if (!rb)
			return -ERR_PARSE;
		host = (struct slice){s.p + 1, (size_t)(rb - s.p) - 1};
		ps = (struct slice){rb + 1, s.len - (size_t)(rb + 1 - s.p)};
		if (ps.len == 0 || ps.p[0] != ':' || !memchr(host.p, ':', host.len))
			return -ERR_PARSE;
		ps.p++;
		ps.len--;
	} else {
		const char *colon = s.len ? memrchr(s.p, ':', s.len) : NULL;
		if (!colon)
			return -ERR_PARSE;
		host = (struct slice){s.p, (size_t)(colon - s.p)};
		ps = (struct slice){colon + 1, s.len - host.len - 1};
		if (memchr(host.p, ':', host.len))
			return -ERR_PARSE; /* IPv6 needs brackets */
	}
	if (proxy_port_parse(ps, port) < 0)
		return -ERR_PARSE;
	if (host.len == 0) {
		*any = true;
		return 0;
	}
	if (slice_eq_cstr_ci(host, "localhost"))
		return proxy_ip_parse(SLICE_LIT("127.0.0.1"), ip);
	return proxy_ip_parse(host, ip);
}
