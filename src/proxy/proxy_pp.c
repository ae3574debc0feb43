/* proxy_pp.c — PROXY protocol headers, versions 1 and 2 (see proxy_pp.h and
 * docs/internals/proxy-pp.md). The parser is pure; proxy_pp_recv is the only syscall site. */
#include "proxy/proxy_pp.h"

#include "base/base_err.h"
#include "base/base_log.h"
#include "base/base_slice.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* proxy-protocol.txt §2.2: the version 2 signature. */
static const uint8_t pp_v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				      0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

_Static_assert(PROXY_PP_MAX >= 16 + 36, "a v2 AF_INET6 header fits");
_Static_assert(PROXY_PP_MAX >= PROXY_PP_V1_MAX, "a v1 line fits");
_Static_assert(PROXY_PP_MAX <= 16 + 0xffff, "v2 length field");

/* Decimal port, 0..65535, no leading zero (but "0"). */
static int pp_port(struct slice s, uint16_t *out)
{
	if (s.len == 0 || s.len > 5 || (s.len > 1 && s.p[0] == '0'))
		return -ERR_PARSE;
	uint32_t v = 0;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -ERR_PARSE;
		v = v * 10 + (uint32_t)(s.p[i] - '0');
	}
	if (v > 65535)
		return -ERR_PARSE;
	*out = (uint16_t)v;
	return 0;
}

/* An address of a TCP4 (v6 false: dotted quad only) or TCP6 line (IPv6 text, which may be a
 * mapped IPv4 address). */
static int pp_addr(struct slice s, bool v6, struct proxy_ip *out)
{
	if (s.len == 0 || (memchr(s.p, ':', s.len) != NULL) != v6)
		return -ERR_PARSE;
	return proxy_ip_parse(s, out) < 0 ? -ERR_PARSE : 0;
}

/* The next space-separated field of a v1 line; empty when two spaces follow each other or
 * the line ended. */
static struct slice pp_field(struct slice *rest, bool *more)
{
	const char *sp = memchr(rest->p, ' ', rest->len);
	struct slice f;
	if (!sp) {
		f = *rest;
		*rest = (struct slice){rest->p + rest->len, 0};
		*more = false;
		return f;
	}
	f = (struct slice){rest->p, (size_t)(sp - rest->p)};
	*rest = (struct slice){sp + 1, rest->len - f.len - 1};
	*more = true;
	return f;
}

/* Version 1, proxy-protocol.txt §2.1. p[0] == 'P'. */
static int pp_parse_v1(const uint8_t *p, size_t n, struct proxy_pp_result *r)
{
	static const char pfx[] = "PROXY ";
	size_t m = n < 6 ? n : 6;
	if (memcmp(p, pfx, m) != 0)
		return -ERR_NOTFOUND;
	if (n < 6)
		return -ERR_PARTIAL;
	size_t lim = n < PROXY_PP_V1_MAX ? n : PROXY_PP_V1_MAX;
	size_t lf = 0;
	for (size_t i = 6; i < lim; i++) {
		uint8_t ch = p[i];
		if (ch == '\n') {
			if (p[i - 1] != '\r')
				return -ERR_PARSE;
			lf = i;
			break;
		}
		if (p[i - 1] == '\r' || (ch != '\r' && (ch < 0x20 || ch > 0x7e)))
			return -ERR_PARSE; /* a lone CR, a control or non-ASCII byte */
	}
	if (!lf)
		return n >= PROXY_PP_V1_MAX ? -ERR_PARSE : -ERR_PARTIAL;
	/* the line between "PROXY " and CR LF */
	struct slice rest = {(const char *)p + 6, lf - 1 - 6};
	bool more;
	struct slice proto = pp_field(&rest, &more);
	memset(r, 0, sizeof *r);
	r->version = 1;
	if (slice_eq_cstr(proto, "UNKNOWN")) {
		r->local = 1; /* whatever follows is ignored (§2.1) */
		return (int)lf + 1;
	}
	bool v6 = slice_eq_cstr(proto, "TCP6");
	if (!v6 && !slice_eq_cstr(proto, "TCP4"))
		return -ERR_PARSE;
	struct slice f[4];
	for (int i = 0; i < 4; i++) {
		if (!more)
			return -ERR_PARSE;
		f[i] = pp_field(&rest, &more);
	}
	if (more || pp_addr(f[0], v6, &r->src) < 0 || pp_addr(f[1], v6, &r->dst) < 0 ||
	    pp_port(f[2], &r->src_port) < 0 || pp_port(f[3], &r->dst_port) < 0)
		return -ERR_PARSE;
	return (int)lf + 1;
}

/* Version 2, proxy-protocol.txt §2.2. p[0] == '\r'. */
static int pp_parse_v2(const uint8_t *p, size_t n, struct proxy_pp_result *r)
{
	size_t m = n < sizeof pp_v2_sig ? n : sizeof pp_v2_sig;
	if (memcmp(p, pp_v2_sig, m) != 0)
		return -ERR_NOTFOUND;
	if (n < 16)
		return -ERR_PARTIAL;
	uint8_t ver = p[12] >> 4, cmd = p[12] & 0x0f;
	if (ver != 2 || cmd > 1)
		return -ERR_PARSE;
	size_t len = (size_t)p[14] << 8 | p[15];
	size_t total = 16 + len;
	if (total > PROXY_PP_MAX)
		return -ERR_PARSE;
	uint8_t fam = p[13];
	bool local = true;
	size_t need = 0;
	if (cmd == 1) {
		/* the seven combinations §2.2 defines; every other value is invalid */
		switch (fam) {
		case 0x11:
			local = false;
			need = 12;
			break; /* TCP over IPv4 */
		case 0x21:
			local = false;
			need = 36;
			break; /* TCP over IPv6 */
		case 0x00:     /* UNSPEC: no address */
		case 0x12:     /* UDP: not this connection's kind; the real peer stays */
		case 0x22:
		case 0x31: /* AF_UNIX: no IP address */
		case 0x32: break;
		default: return -ERR_PARSE;
		}
	}
	if (len < need)
		return -ERR_PARSE;
	if (n < total)
		return -ERR_PARTIAL;
	memset(r, 0, sizeof *r);
	r->version = 2;
	r->local = local;
	if (!local) {
		const uint8_t *a = p + 16;
		size_t al = fam == 0x11 ? 4 : 16;
		proxy_ip_from_bytes(a, al, &r->src);
		proxy_ip_from_bytes(a + al, al, &r->dst);
		r->src_port = (uint16_t)(a[2 * al] << 8 | a[2 * al + 1]);
		r->dst_port = (uint16_t)(a[2 * al + 2] << 8 | a[2 * al + 3]);
	}
	return (int)total; /* TLVs, if any, are skipped */
}

int proxy_pp_parse(const uint8_t *p, size_t n, struct proxy_pp_result *r)
{
	if (n == 0)
		return -ERR_PARTIAL;
	if (p[0] == 'P')
		return pp_parse_v1(p, n, r);
	if (p[0] == 0x0d)
		return pp_parse_v2(p, n, r);
	return -ERR_NOTFOUND;
}

bool proxy_pp_trusted(const struct proxy_entrypoint *ep, const struct proxy_ip *peer)
{
	if (!ep->proxy_protocol_enabled)
		return false;
	return ep->proxy_protocol_insecure ||
	       proxy_cidr_list_match(ep->proxy_protocol.cidr, ep->proxy_protocol.n, peer);
}

uint32_t proxy_pp_table_check(const struct proxy_table *t)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < t->nep; i++) {
		const struct proxy_entrypoint *ep = &t->ep[i];
		if (!ep->proxy_protocol_enabled || !ep->proxy_protocol_insecure)
			continue;
		n++;
		log_warn("proxyProtocol.insecure: PROXY headers are accepted from any peer, which "
			 "can then claim any client address (set trustedIPs instead)",
			 "entrypoint=\"%.*s\"", (int)ep->name.len, ep->name.p);
	}
	return n;
}

int proxy_pp_recv(int fd, struct proxy_pp_result *r, size_t *avail)
{
	uint8_t b[PROXY_PP_MAX];
	ssize_t n;
	*avail = 0;
	do
		n = recv(fd, b, sizeof b, MSG_PEEK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ERR_AGAIN : err_from_errno(errno);
	if (n == 0)
		return -ERR_CLOSED;
	*avail = (size_t)n;
	int k = proxy_pp_parse(b, (size_t)n, r);
	if (k <= 0)
		return k;
	/* The peek saw k bytes or more: this read takes exactly the header. */
	ssize_t got;
	do
		got = recv(fd, b, (size_t)k, 0);
	while (got < 0 && errno == EINTR);
	if (got != k)
		return got < 0 ? err_from_errno(errno) : -ERR_CLOSED;
	return k;
}
