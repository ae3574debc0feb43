/* proxy_lb.c — see proxy_lb.h. */
#include "proxy/proxy_lb.h"

#include "base/base_err.h"
#include "base/base_hash.h"

#include <stdio.h>
#include <string.h>

#define ALLOC_PAD 16

/* Private maxConn slots for keys; none when keys is 0 (shared mode: proxy_maxconn.h). */
static size_t conn_slots_for(uint32_t keys)
{
	if (keys == 0)
		return 0;
	size_t n = 4;
	while (n < 2 * (size_t)keys)
		n *= 2;
	return n;
}

size_t proxy_lb_bytes(const struct proxy_table *t, uint32_t max_conn_keys)
{
	return t->nsrv * sizeof(struct proxy_lb_srv) + t->nbe * sizeof(struct proxy_lb_be) +
	       conn_slots_for(max_conn_keys) * sizeof(struct proxy_lb_conn) + 3 * ALLOC_PAD;
}

size_t proxy_lb_bytes_max(const struct proxy_limits *lim, uint32_t max_conn_keys)
{
	return lim->max_servers * sizeof(struct proxy_lb_srv) +
	       lim->max_backends * sizeof(struct proxy_lb_be) +
	       conn_slots_for(max_conn_keys) * sizeof(struct proxy_lb_conn) + 3 * ALLOC_PAD;
}

static uint64_t load64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int k = 7; k >= 0; k--)
		v = v << 8 | p[k];
	return v;
}

/* Recompute effective weights of a backend (after a health or boost change). */
static void be_reweigh(struct proxy_lb *lb, uint32_t b, bool reset_cw)
{
	const struct proxy_backend *be = &lb->t->be[b];
	uint32_t nup = 0;
	for (uint32_t i = be->first_server; i < be->first_server + be->nservers; i++) {
		struct proxy_lb_srv *s = &lb->srv[i];
		s->ew = (uint64_t)lb->t->srv[i].weight *
			(be->method == PROXY_LB_DRR ? s->boost : 1);
		if (reset_cw)
			s->cw = 0;
		nup += s->up;
	}
	lb->be[b].nup = nup;
}

static int lb_init(struct proxy_lb *lb, const struct proxy_table *t, struct arena *a,
		   uint32_t max_conn_keys, const uint8_t seed[16], struct proxy_mc *mc)
{
	memset(lb, 0, sizeof *lb);
	size_t slots = conn_slots_for(max_conn_keys);
	lb->t = t;
	lb->srv = t->nsrv ? arena_alloc(a, t->nsrv * sizeof *lb->srv) : NULL;
	lb->be = t->nbe ? arena_alloc(a, t->nbe * sizeof *lb->be) : NULL;
	lb->conn = slots ? arena_alloc(a, slots * sizeof *lb->conn) : NULL;
	if ((t->nsrv && !lb->srv) || (t->nbe && !lb->be) || (slots && !lb->conn))
		return -ERR_ARENA_FULL;
	if (t->nsrv)
		memset(lb->srv, 0, t->nsrv * sizeof *lb->srv);
	if (t->nbe)
		memset(lb->be, 0, t->nbe * sizeof *lb->be);
	if (slots)
		memset(lb->conn, 0, slots * sizeof *lb->conn);
	lb->conn_slots = (uint32_t)slots;
	lb->max_conn_keys = max_conn_keys;
	lb->mc = mc;
	if (mc) {
		lb->k0 = mc->k0;
		lb->k1 = mc->k1;
	} else {
		lb->k0 = load64(seed);
		lb->k1 = load64(seed + 8);
	}
	for (uint32_t i = 0; i < t->nsrv; i++) {
		lb->srv[i].up = true;
		lb->srv[i].boost = 1;
	}
	for (uint32_t b = 0; b < t->nbe; b++)
		be_reweigh(lb, b, true);
	return 0;
}

int proxy_lb_init(struct proxy_lb *lb, const struct proxy_table *t, struct arena *a,
		  uint32_t max_conn_keys, const uint8_t seed[16])
{
	if (!t || max_conn_keys == 0)
		return -ERR_INVAL;
	return lb_init(lb, t, a, max_conn_keys, seed, NULL);
}

int proxy_lb_init_shared(struct proxy_lb *lb, const struct proxy_table *t, struct arena *a,
			 struct proxy_mc *mc)
{
	if (!t || !mc || !mc->hold)
		return -ERR_INVAL;
	return lb_init(lb, t, a, 0, NULL, mc);
}

void proxy_lb_carry(struct proxy_lb *to, const struct proxy_lb *from)
{
	const struct proxy_table *nt = to->t, *ot = from->t;
	for (uint32_t b = 0; b < nt->nbe; b++) {
		int ob = proxy_table_backend(ot, nt->be[b].name);
		if (ob < 0)
			continue;
		const struct proxy_backend *nb = &nt->be[b], *obe = &ot->be[ob];
		for (uint32_t i = nb->first_server; i < nb->first_server + nb->nservers; i++)
			for (uint32_t j = obe->first_server; j < obe->first_server + obe->nservers;
			     j++) {
				if (!slice_eq(nt->srv[i].url, ot->srv[j].url))
					continue;
				const struct proxy_lb_srv *os = &from->srv[j];
				struct proxy_lb_srv *s = &to->srv[i];
				s->up = os->up;
				s->lat_us = os->lat_us;
				s->err = os->err;
				s->boost = nb->method == PROXY_LB_DRR ? os->boost : 1;
				break;
			}
		be_reweigh(to, b, true);
	}
}

bool proxy_lb_set_up(struct proxy_lb *lb, uint32_t srv, bool up)
{
	if (srv >= lb->t->nsrv || lb->srv[srv].up == up)
		return false;
	lb->srv[srv].up = up;
	uint32_t b = lb->t->srv[srv].backend;
	const struct proxy_backend *be = &lb->t->be[b];
	/* A new set of servers: drr starts over (as Traefik's rebalancer resets). */
	for (uint32_t i = be->first_server; i < be->first_server + be->nservers; i++)
		lb->srv[i].boost = 1;
	lb->be[b].reports = 0;
	be_reweigh(lb, b, true);
	return true;
}

/* Smooth weighted round-robin over the healthy servers of be; -1 when none. */
static int swrr(struct proxy_lb *lb, const struct proxy_backend *be)
{
	int64_t total = 0;
	int best = -1;
	for (uint32_t i = be->first_server; i < be->first_server + be->nservers; i++) {
		struct proxy_lb_srv *s = &lb->srv[i];
		if (!s->up)
			continue;
		s->cw += (int64_t)s->ew;
		total += (int64_t)s->ew;
		if (best < 0 || s->cw > lb->srv[best].cw)
			best = (int)i;
	}
	if (best >= 0)
		lb->srv[best].cw -= total;
	return best;
}

int proxy_lb_pick(struct proxy_lb *lb, uint32_t b, struct slice cookie, struct proxy_lb_pick *out)
{
	if (b >= lb->t->nbe)
		return -ERR_INVAL;
	const struct proxy_backend *be = &lb->t->be[b];
	out->set_cookie = false;
	if (lb->be[b].nup == 0)
		return -ERR_PROXY_NO_SERVER;
	if (be->sticky && cookie.len) {
		for (uint32_t i = be->first_server; i < be->first_server + be->nservers; i++)
			if (lb->srv[i].up && slice_eq(lb->t->srv[i].url, cookie)) {
				out->srv = i;
				lb->srv[i].picks++;
				lb->srv[i].active++;
				return 0;
			}
	}
	int s = swrr(lb, be);
	if (s < 0)
		return -ERR_PROXY_NO_SERVER;
	out->srv = (uint32_t)s;
	out->set_cookie = be->sticky;
	lb->srv[s].picks++;
	lb->srv[s].active++;
	return 0;
}

/* drr: every PROXY_DRR_WINDOW completions, move boosts towards the faster servers. */
static void drr_rebalance(struct proxy_lb *lb, uint32_t b)
{
	const struct proxy_backend *be = &lb->t->be[b];
	uint64_t sum = 0;
	uint32_t n = 0;
	for (uint32_t i = be->first_server; i < be->first_server + be->nservers; i++)
		if (lb->srv[i].up && lb->srv[i].lat_us) {
			sum += lb->srv[i].lat_us;
			n++;
		}
	lb->be[b].reports = 0;
	lb->be[b].rebalances++;
	if (n < 2)
		return;
	uint64_t mean = sum / n;
	for (uint32_t i = be->first_server; i < be->first_server + be->nservers; i++) {
		struct proxy_lb_srv *s = &lb->srv[i];
		if (!s->up || !s->lat_us)
			continue;
		if (s->err > 512)
			s->boost = 1;
		else if ((uint64_t)s->lat_us * 4 < mean * 3)
			s->boost = s->boost * 2 > PROXY_DRR_MAX_BOOST ? PROXY_DRR_MAX_BOOST
								      : s->boost * 2;
		else if ((uint64_t)s->lat_us * 4 > mean * 5)
			s->boost = s->boost / 2 ? s->boost / 2 : 1;
	}
	be_reweigh(lb, b, false);
}

void proxy_lb_done(struct proxy_lb *lb, uint32_t srv, uint32_t latency_us, bool ok)
{
	if (srv >= lb->t->nsrv)
		return;
	struct proxy_lb_srv *s = &lb->srv[srv];
	if (s->active)
		s->active--;
	if (ok) {
		uint32_t sample = latency_us ? latency_us : 1;
		if (s->lat_us == 0)
			s->lat_us = sample;
		else
			s->lat_us = (uint32_t)((int64_t)s->lat_us +
					       ((int64_t)sample - (int64_t)s->lat_us) / 8);
		if (s->lat_us == 0)
			s->lat_us = 1;
	} else {
		s->fails++;
	}
	s->err = s->err - s->err / 8 + (ok ? 0 : 128);
	uint32_t b = lb->t->srv[srv].backend;
	if (lb->t->be[b].method == PROXY_LB_DRR && ++lb->be[b].reports >= PROXY_DRR_WINDOW)
		drr_rebalance(lb, b);
}

/* ==== cookies =============================================================================== */

int proxy_cookie_get(struct slice h, struct slice name, struct slice *value)
{
	struct slice rest = h, pair;
	while (rest.p) {
		pair = slice_trim_ows(slice_cut(rest, ';', &rest));
		struct slice v;
		struct slice n = slice_trim_ows(slice_cut(pair, '=', &v));
		if (!v.p || !slice_eq(n, name))
			continue;
		v = slice_trim_ows(v);
		if (v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"') {
			v.p++;
			v.len -= 2;
		}
		*value = v;
		return 0;
	}
	return -ERR_NOTFOUND;
}

int proxy_lb_cookie(const struct proxy_table *t, uint32_t srv, char *out, size_t cap)
{
	static const char *const same[] = {"", "; SameSite=None", "; SameSite=Lax",
					   "; SameSite=Strict"};
	if (srv >= t->nsrv)
		return -ERR_INVAL;
	const struct proxy_server *s = &t->srv[srv];
	const struct proxy_backend *b = &t->be[s->backend];
	int n = snprintf(out, cap, "%.*s=%.*s; Path=/%s%s%s", (int)b->cookie_name.len,
			 b->cookie_name.p, (int)s->url.len, s->url.p,
			 b->cookie_secure ? "; Secure" : "",
			 b->cookie_http_only ? "; HttpOnly" : "",
			 same[b->cookie_same_site < 4 ? b->cookie_same_site : 0]);
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			out[0] = 0;
		return -ERR_BUF_FULL;
	}
	return n;
}

/* ==== maxConn =============================================================================== */

/* SipHash-2-4 under (k0, k1) of the concatenation of seg[0..n), never 0. */
static uint64_t sip_segs(uint64_t k0, uint64_t k1, const struct slice *seg, size_t n)
{
	uint64_t h = hash_sip24_segs(k0, k1, seg, n);
	return h ? h : 1; /* 0 marks a free slot / no reference */
}

/* The key of (backend b, extracted value). Private mode: the backend's index in this table
 * (4 bytes, little endian), then the value, under the table's seed. Shared mode: the
 * backend's NAME (its length in 4 bytes, then its bytes) and the value under the node's key,
 * so every table of every worker names a backend's counts alike. */
static uint64_t conn_hash(const struct proxy_lb *lb, uint32_t be, struct slice key)
{
	uint8_t pre[4];
	if (lb->mc) {
		struct slice name = lb->t->be[be].name;
		uint32_t nl = (uint32_t)name.len;
		for (int i = 0; i < 4; i++)
			pre[i] = (uint8_t)(nl >> (8 * i));
		struct slice seg[3] = {{(const char *)pre, 4}, name, key};
		return sip_segs(lb->k0, lb->k1, seg, 3);
	}
	for (int i = 0; i < 4; i++)
		pre[i] = (uint8_t)(be >> (8 * i));
	struct slice seg[2] = {{(const char *)pre, 4}, key};
	return sip_segs(lb->k0, lb->k1, seg, 2);
}

uint64_t proxy_lb_srv_key(const struct proxy_table *t, uint32_t srv, uint64_t k0, uint64_t k1)
{
	const struct proxy_server *sv = &t->srv[srv];
	struct slice name = t->be[sv->backend].name;
	uint8_t pre[4];
	uint32_t nl = (uint32_t)name.len;
	for (int i = 0; i < 4; i++)
		pre[i] = (uint8_t)(nl >> (8 * i));
	struct slice seg[3] = {{(const char *)pre, 4}, name, sv->url};
	return sip_segs(k0, k1, seg, 3);
}

static uint32_t conn_find(const struct proxy_lb *lb, uint64_t key, bool *found)
{
	uint32_t mask = lb->conn_slots - 1, i = (uint32_t)key & mask;
	while (lb->conn[i].key) {
		if (lb->conn[i].key == key) {
			*found = true;
			return i;
		}
		i = (i + 1) & mask;
	}
	*found = false;
	return i;
}

struct slice proxy_extract_key(uint8_t extractor, struct slice header,
			       const struct proxy_req_view *v, struct slice client_ip)
{
	switch (extractor) {
	case PROXY_EXTRACT_CLIENT_IP: return client_ip;
	case PROXY_EXTRACT_HEADER:
		for (size_t k = 0; k < v->nhdr; k++)
			if (slice_eq_ci(v->hdr[k].name, header))
				return v->hdr[k].value;
		return (struct slice){"", 0};
	default: return v->host;
	}
}

struct slice proxy_lb_conn_key(const struct proxy_backend *b, const struct proxy_req_view *v,
			       struct slice client_ip)
{
	return proxy_extract_key(b->maxconn_extractor, b->maxconn_header, v, client_ip);
}

int proxy_lb_conn_acquire(struct proxy_lb *lb, uint32_t b, struct slice key, uint64_t *ref)
{
	*ref = 0;
	if (b >= lb->t->nbe)
		return -ERR_INVAL;
	uint64_t amount = lb->t->be[b].maxconn;
	if (amount == 0)
		return 0;
	uint64_t h = conn_hash(lb, b, key);
	if (lb->mc) { /* shared by the node's workers (proxy_maxconn.h) */
		int rc = proxy_mc_acquire(lb->mc, h, amount);
		if (rc == -ERR_PROXY_CONN_KEYS_FULL)
			lb->conn_full++;
		if (rc == 0)
			*ref = h;
		return rc;
	}
	bool found;
	uint32_t i = conn_find(lb, h, &found);
	if (found) {
		if (lb->conn[i].count >= amount)
			return -ERR_PROXY_MAXCONN;
		lb->conn[i].count++;
	} else {
		if (lb->conn_keys >= lb->max_conn_keys) {
			lb->conn_full++;
			return -ERR_PROXY_CONN_KEYS_FULL;
		}
		lb->conn[i].key = h;
		lb->conn[i].count = 1;
		lb->conn_keys++;
	}
	*ref = h;
	return 0;
}

void proxy_lb_conn_release(struct proxy_lb *lb, uint64_t ref)
{
	bool found;
	if (ref == 0)
		return;
	if (lb->mc) {
		proxy_mc_release(lb->mc, ref);
		return;
	}
	uint32_t i = conn_find(lb, ref, &found);
	if (!found)
		return;
	if (--lb->conn[i].count > 0)
		return;
	/* Remove with backward shift (linear probing keeps no tombstones). */
	uint32_t mask = lb->conn_slots - 1, j = i;
	lb->conn[i].key = 0;
	lb->conn_keys--;
	for (;;) {
		j = (j + 1) & mask;
		if (!lb->conn[j].key)
			break;
		uint32_t home = (uint32_t)lb->conn[j].key & mask;
		/* Move j into the hole i if its home is not in (i, j] (cyclically). */
		bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!in_range) {
			lb->conn[i] = lb->conn[j];
			lb->conn[j].key = 0;
			lb->conn[j].count = 0;
			i = j;
		}
	}
}

uint32_t proxy_lb_conn_count(const struct proxy_lb *lb, uint32_t b, struct slice key)
{
	bool found;
	if (b >= lb->t->nbe)
		return 0;
	if (lb->mc)
		return proxy_mc_total(lb->mc, conn_hash(lb, b, key));
	uint32_t i = conn_find(lb, conn_hash(lb, b, key), &found);
	return found ? lb->conn[i].count : 0;
}
