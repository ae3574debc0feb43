/* proxy_secure.c — frontend security headers (proxy_secure.h, docs/internals/proxy-secure.md).
 *
 * The order of the request check is unrolled/secure's (the version Traefik v1.7 vendored):
 * resolve the host (hostsProxyHeaders), allowedHosts, SSL detection, sslRedirect, sslForceHost;
 * then the response fields are decided from the options and the SSL verdict alone.
 */
#include "proxy/proxy_secure.h"

#include "base/base_err.h"
#include "proxy/proxy_cidr.h"
#include "proxy/proxy_engine_int.h"

#include <string.h>

/* ASCII case-insensitive equality of two slices of the same length n (a few instructions a
 * character: this runs for every field of a secure frontend's responses). */
static bool eq_ci(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) - 'a' > 'z' - 'a'))
			return false;
	}
	return true;
}

static bool slice_ci(struct slice a, struct slice b)
{
	return a.len == b.len && eq_ci(a.p, b.p, a.len);
}

/* ---- request ------------------------------------------------------------------------------ */

/* The X-Forwarded-* fields an untrusted peer's request loses before routing (Traefik v1.7's
 * entry point forwardedHeaders middleware removes oxy's XHeaders): secure never sees them. */
static bool xf_header(struct slice name)
{
	static const char *const x[] = {"X-Forwarded-Proto", "X-Forwarded-For",
					"X-Forwarded-Host",  "X-Forwarded-Port",
					"X-Real-Ip",         "X-Forwarded-Server"};
	if (name.len < 9 || (name.p[0] != 'X' && name.p[0] != 'x') || name.p[1] != '-')
		return false;
	for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
		if (slice_eq_cstr_ci(name, x[i]))
			return true;
	return false;
}

/* Go's Header.Get: the first field of that name, "" when there is none. */
static struct slice header_get(const struct proxy_secure_req *r, struct slice name)
{
	if (!r->trust_xf && xf_header(name))
		return (struct slice){"", 0};
	for (size_t i = 0; i < r->nhdr; i++)
		if (slice_ci(r->hdr[i].name, name))
			return r->hdr[i].value;
	return (struct slice){"", 0};
}

static bool is_ssl(const struct proxy_headers *h, const struct proxy_secure_req *r)
{
	if (r->tls)
		return true;
	if (r->absolute && r->target.len >= 6 &&
	    slice_eq_cstr_ci((struct slice){r->target.p, 6}, "https:"))
		return true;
	for (uint32_t i = 0; i < h->nssl_proxy; i++) {
		struct slice v = header_get(r, h->ssl_proxy[i].name);
		if (v.len == h->ssl_proxy[i].value.len &&
		    (v.len == 0 || memcmp(v.p, h->ssl_proxy[i].value.p, v.len) == 0))
			return true;
	}
	return false;
}

/* path?query as the client sent it: the target, minus an absolute-form's scheme://authority. */
static struct slice path_query(const struct proxy_secure_req *r)
{
	struct slice t = r->target;
	if (!r->absolute)
		return t;
	const char *colon = memchr(t.p, ':', t.len);
	size_t off = colon ? (size_t)(colon - t.p) + 1 : 0;
	if (off + 2 <= t.len && t.p[off] == '/' && t.p[off + 1] == '/')
		off += 2;
	while (off < t.len && t.p[off] != '/' && t.p[off] != '?')
		off++;
	return (struct slice){t.p + off, t.len - off};
}

static int redirect(const struct proxy_headers *h, const struct proxy_secure_req *r,
		    struct slice host, char *out, size_t cap, struct proxy_secure_verdict *v)
{
	struct slice pq = path_query(r);
	if (8 + host.len + pq.len > cap)
		return -ERR_BUF_FULL;
	memcpy(out, "https://", 8);
	if (host.len)
		memcpy(out + 8, host.p, host.len);
	if (pq.len)
		memcpy(out + 8 + host.len, pq.p, pq.len);
	v->location_len = 8 + host.len + pq.len;
	v->status = h->ssl_temporary_redirect ? 307 : 301;
	return 0;
}

int proxy_secure_check(const struct proxy_headers *h, const struct proxy_secure_req *r, char *out,
		       size_t cap, struct proxy_secure_verdict *v)
{
	memset(v, 0, sizeof *v);
	struct slice host = r->host.p ? r->host : (struct slice){"", 0};
	for (uint32_t i = 0; i < h->nhosts_proxy_headers; i++) {
		struct slice x = header_get(r, h->hosts_proxy_headers[i]);
		if (x.len) {
			host = x;
			break;
		}
	}
	if (h->nallowed_hosts && !h->is_development) {
		bool good = false;
		for (uint32_t i = 0; i < h->nallowed_hosts && !good; i++)
			good = h->allowed_hosts[i].len == host.len &&
			       eq_ci(h->allowed_hosts[i].p, host.p, host.len);
		if (!good) {
			v->status = 500;
			return 0;
		}
	}
	v->ssl = is_ssl(h, r);
	if (h->ssl_redirect && !v->ssl && !h->is_development)
		return redirect(h, r, h->ssl_host.len ? h->ssl_host : host, out, cap, v);
	/* sslForceHost: any request (SSL or not) whose host is not sslHost, compared exactly. */
	if (h->ssl_force_host && h->ssl_host.len && !slice_eq(h->ssl_host, host))
		return redirect(h, r, h->ssl_host, out, cap, v);
	return 0;
}

/* ---- response ----------------------------------------------------------------------------- */

static const struct slice sec_names[] = {
	SLICE_LIT("Strict-Transport-Security"), SLICE_LIT("X-Frame-Options"),
	SLICE_LIT("X-Content-Type-Options"),    SLICE_LIT("X-XSS-Protection"),
	SLICE_LIT("Public-Key-Pins"),           SLICE_LIT("Content-Security-Policy"),
	SLICE_LIT("Referrer-Policy"),
};
_Static_assert(sizeof sec_names / sizeof sec_names[0] == 7 && PROXY_SEC_REFERRER == 1u << 6,
	       "sec_names[i] is the field of bit i");

/* "max-age=N[; includeSubDomains][; preload]" into out (64 bytes are enough). */
static struct slice sts_value(const struct proxy_headers *h, char *out)
{
	char d[20];
	size_t nd = 0;
	for (uint64_t v = (uint64_t)h->sts_seconds; nd == 0 || v; v /= 10)
		d[nd++] = (char)('0' + v % 10);
	memcpy(out, "max-age=", 8);
	size_t n = 8;
	while (nd)
		out[n++] = d[--nd];
	if (h->sts_include_subdomains) {
		memcpy(out + n, "; includeSubDomains", 19);
		n += 19;
	}
	if (h->sts_preload) {
		memcpy(out + n, "; preload", 9);
		n += 9;
	}
	return (struct slice){out, n};
}

unsigned proxy_secure_resp_mask(const struct proxy_headers *h, bool ssl)
{
	unsigned m = 0;
	if (h->sts_seconds > 0 && (ssl || h->force_sts_header) && !h->is_development)
		m |= PROXY_SEC_STS;
	if (h->custom_frame_options_value.len || h->frame_deny)
		m |= PROXY_SEC_FRAME;
	if (h->content_type_nosniff)
		m |= PROXY_SEC_NOSNIFF;
	if (h->custom_browser_xss_value.len || h->browser_xss_filter)
		m |= PROXY_SEC_XSS;
	if (h->public_key.len && ssl && !h->is_development)
		m |= PROXY_SEC_HPKP;
	if (h->content_security_policy.len)
		m |= PROXY_SEC_CSP;
	if (h->referrer_policy.len)
		m |= PROXY_SEC_REFERRER;
	if (ssl && h->ssl_host.len)
		m |= PROXY_SEC_LOCATION;
	return m;
}

/* "name: value\r\n" (value = a then c) from checked parts (the loader refused control
 * characters in values). */
static int put(struct buf *b, struct slice name, struct slice a, struct slice c)
{
	if (buf_avail(b) < name.len + a.len + c.len + 4)
		return -ERR_BUF_FULL;
	char *o = (char *)b->data + b->len;
	memcpy(o, name.p, name.len);
	o += name.len;
	*o++ = ':';
	*o++ = ' ';
	if (a.len)
		memcpy(o, a.p, a.len);
	o += a.len;
	if (c.len)
		memcpy(o, c.p, c.len);
	o += c.len;
	*o++ = '\r';
	*o++ = '\n';
	b->len = (size_t)(o - (char *)b->data);
	return 0;
}

/* Whether name is one of the fields in mask; Location is 8 characters, the others 15 to 25. */
static bool sec_name(unsigned mask, struct slice n)
{
	if (n.len < 15 || n.len > 25)
		return false;
	for (size_t i = 0; i < sizeof sec_names / sizeof sec_names[0]; i++) {
		const char *w = sec_names[i].p;
		/* the 4th and last characters tell the seven names apart cheaply */
		if (!(mask & (1u << i)) || n.len != sec_names[i].len ||
		    (n.p[3] | 0x20) != (w[3] | 0x20) || (n.p[n.len - 1] | 0x20) != w[n.len - 1])
			continue;
		if (eq_ci(n.p, w, n.len))
			return true;
	}
	return false;
}

/* unrolled/secure: "http://<sslHost>" or "http://<sslHost>/..." becomes https. */
static bool location_fix(const struct proxy_headers *h, struct slice v)
{
	struct slice s = h->ssl_host;
	return v.len >= 7 + s.len && memcmp(v.p, "http://", 7) == 0 &&
	       memcmp(v.p + 7, s.p, s.len) == 0 && (v.len == 7 + s.len || v.p[7 + s.len] == '/');
}

void proxy_secure_resp_mark(const struct proxy_headers *h, unsigned sec, struct http_header *hdr,
			    size_t n)
{
	unsigned mask = proxy_secure_resp_mask(h, sec & PROXY_SECTX_SSL);
	bool loc = false; /* the first Location decides (Go's Header.Get, then Set) */
	for (size_t i = 0; i < n; i++) {
		if (hdr[i].hop)
			continue;
		if (sec_name(mask, hdr[i].name)) {
			hdr[i].hop = PROXY_SEC_HOP; /* replaced by ours */
		} else if ((mask & PROXY_SEC_LOCATION) && hdr[i].name.len == 8 &&
			   eq_ci(hdr[i].name.p, "Location", 8)) {
			if (!loc && !location_fix(h, hdr[i].value)) {
				mask &= ~(unsigned)PROXY_SEC_LOCATION; /* not ours to rewrite */
				continue;
			}
			/* One rewritten Location replaces them all. */
			hdr[i].hop = loc ? PROXY_SEC_HOP : PROXY_SEC_HOP_LOCATION;
			loc = true;
		}
	}
}

static bool in_custom(const struct proxy_kv *cust, uint32_t ncust, struct slice name)
{
	for (uint32_t i = 0; i < ncust; i++)
		if (slice_ci(cust[i].name, name))
			return true;
	return false;
}

int proxy_secure_resp_put(const struct proxy_headers *h, unsigned sec,
			  const struct http_header *hdr, size_t n, const struct proxy_kv *cust,
			  uint32_t ncust, struct buf *b)
{
	size_t saved = b->len;
	const struct slice none = {NULL, 0};
	const unsigned mask = proxy_secure_resp_mask(h, sec & PROXY_SECTX_SSL);
	for (size_t i = 0; (mask & PROXY_SEC_LOCATION) && i < n; i++) {
		if (hdr[i].hop != PROXY_SEC_HOP_LOCATION)
			continue;
		if (!(ncust && in_custom(cust, ncust, hdr[i].name)) &&
		    put(b, hdr[i].name, SLICE_LIT("https:"),
			(struct slice){hdr[i].value.p + 5, hdr[i].value.len - 5}) < 0)
			return -ERR_BUF_FULL;
		break;
	}
	for (size_t i = 0; i < sizeof sec_names / sizeof sec_names[0]; i++) {
		if (!(mask & (1u << i)) || (ncust && in_custom(cust, ncust, sec_names[i])))
			continue;
		struct slice a = none;
		char sts[96];
		switch (1u << i) {
		case PROXY_SEC_STS: a = sts_value(h, sts); break;
		case PROXY_SEC_FRAME:
			a = h->custom_frame_options_value.len ? h->custom_frame_options_value
							      : SLICE_LIT("DENY");
			break;
		case PROXY_SEC_NOSNIFF: a = SLICE_LIT("nosniff"); break;
		case PROXY_SEC_XSS:
			a = h->custom_browser_xss_value.len ? h->custom_browser_xss_value
							    : SLICE_LIT("1; mode=block");
			break;
		case PROXY_SEC_HPKP: a = h->public_key; break;
		case PROXY_SEC_CSP: a = h->content_security_policy; break;
		default: a = h->referrer_policy; break;
		}
		if (put(b, sec_names[i], a, none) < 0) {
			b->len = saved;
			return -ERR_BUF_FULL;
		}
	}
	return 0;
}

/* ---- engine glue -------------------------------------------------------------------------- */

int proxy_secure_request(struct proxy_conn *c, const struct proxy_headers *h,
			 struct slice *location)
{
	struct proxy_engine *e = c->eng;
	const struct http_request *req = &c->rq.slot->m.req;
	const struct proxy_entrypoint *ep = &c->gen->t->ep[c->ep];
	struct proxy_req_view view;
	proxy_fwd_view(c, &view);
	struct proxy_secure_req r = {
		.host = view.host,
		.target = req->target,
		.absolute = req->target_form == HTTP_T_ABSOLUTE,
		.tls = c->tls != NULL,
		.trust_xf = ep->forwarded_headers_insecure ||
			    (ep->forwarded_headers.n &&
			     proxy_cidr_list_match(ep->forwarded_headers.cidr,
						   ep->forwarded_headers.n, &c->peer_ip)),
		.hdr = req->h.hdr,
		.nhdr = req->h.nhdr,
	};
	struct proxy_secure_verdict v;
	char *out = (char *)e->scratch + e->scratch_cap / 2;
	if (proxy_secure_check(h, &r, out, e->scratch_cap / 2, &v) < 0)
		return 414;
	if (v.status == 500) {
		c->sec = PROXY_SECTX_BAD_HOST;
		return 500;
	}
	if (v.status) {
		*location = (struct slice){out, v.location_len};
		return v.status;
	}
	c->sec = (uint8_t)(PROXY_SECTX_ON | (v.ssl ? PROXY_SECTX_SSL : 0));
	return 0;
}
