/* proxy_engine.c — the engine: pools, buffers and their wait queue, listeners, routing table
 * generations and the atomic swap, the fallback load balancer, and the standalone mode.
 *
 * Swap protocol (docs/internals/proxy-engine.md, "Table swap"):
 *   1. the new document is loaded and validated into its own memory (twice: once into a
 *      worst-case scratch arena to learn its size, then into an exact-size block); servers
 *      are resolved, TLS configurations built (or shared with the running table when an
 *      entry point's TLS source is unchanged), metric names interned;
 *   2. listeners for new entry points (or ones whose address changed) are opened; if one
 *      fails, everything built so far is undone and the running table stays;
 *   3. commit: the engine's current pointer moves to the new generation, listeners that are
 *      no longer wanted close, kept listeners are re-pointed at the new table's entry point;
 *   4. the old generation loses the engine's reference; requests in flight that started on
 *      it keep theirs and it is freed with the last of them (idle connections and tunnels
 *      hold none; a TLS connection holds only its entry point's TLS configuration, which
 *      has its own pool and reference count: proxy_engine_int.h).
 *   Nothing in flight is touched: a request routes once, on the generation it pinned.
 */
#include "proxy/proxy_engine_int.h"

#include "base/base_err.h"
#include "base/base_log.h"
#include "base/base_time.h"
#include "pki/pki_cert.h"
#include "pki/pki_der.h"
#include "pki/pki_key.h"
#include "pki/pki_pem.h"
#include "proxy/proxy_breaker.h"
#include "proxy/proxy_breaker_shared.h"
#include "proxy/proxy_monitor.h"
#include "proxy/proxy_pp.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_BATCH 64
#define SWEEP_MS 1000
#define RESUME_MS 100

/* ---- buffer pools
 * -------------------------------------------------------------------------------- */

/* Under AddressSanitizer (host test and fuzz builds) free slots are poisoned and every slot
 * ends with a poisoned red zone, so an access past a buffer's data or into a released buffer
 * is reported although all slots share one allocation. Release builds: no red zone. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PROXY_ASAN 1
#endif
#endif
#if !defined(PROXY_ASAN) && defined(__SANITIZE_ADDRESS__)
#define PROXY_ASAN 1
#endif
#ifdef PROXY_ASAN
#include <sanitizer/asan_interface.h>
#define BUF_REDZONE 64u
#define BUF_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define BUF_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define BUF_REDZONE 0u
#define BUF_POISON(p, n) ((void)(p), (void)(n))
#define BUF_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static size_t slot_hdr_bytes(uint32_t max_headers)
{
	size_t n = sizeof(struct proxy_bslot) + (size_t)max_headers * sizeof(struct http_header);
	return (n + 63) / 64 * 64;
}

static int bufpool_init(struct proxy_bufpool *bp, const char *name, uint32_t cap, size_t data_cap,
			uint32_t max_headers)
{
	memset(bp, 0, sizeof *bp);
	bp->name = name;
	bp->fail_after = -1;
	bp->data_off = slot_hdr_bytes(max_headers);
	bp->data_cap = (uint32_t)data_cap;
	bp->stride = (bp->data_off + data_cap + BUF_REDZONE + 63) / 64 * 64;
	bp->cap = cap;
	if (cap == 0)
		return 0;
	bp->mem = aligned_alloc(64, bp->stride * cap);
	bp->free = calloc(cap, sizeof *bp->free);
	if (!bp->mem || !bp->free)
		return -ERR_NOMEM;
	BUF_POISON(bp->mem, bp->stride * cap);
	for (uint32_t i = 0; i < cap; i++)
		bp->free[i] = cap - 1 - i;
	bp->nfree = cap;
	return 0;
}

static void bufpool_fini(struct proxy_bufpool *bp)
{
	if (bp->mem)
		BUF_UNPOISON(bp->mem, bp->stride * bp->cap);
	free(bp->mem);
	free(bp->free);
	bp->mem = NULL;
	bp->free = NULL;
}

uint8_t *proxy_buf_get(struct proxy_engine *e, struct proxy_stream *s, bool large)
{
	struct proxy_bufpool *bp = large ? &e->large : &e->bufs;
	if (bp->fail_after >= 0 && bp->fail_after-- == 0) {
		bp->exhausted++;
		return NULL;
	}
	if (!bp->nfree) {
		bp->exhausted++;
		return NULL;
	}
	uint32_t i = bp->free[--bp->nfree];
	uint32_t used = bp->cap - bp->nfree;
	if (used > bp->high_water)
		bp->high_water = used;
	unsigned char *slot = bp->mem + (size_t)i * bp->stride;
	BUF_UNPOISON(slot, bp->data_off + bp->data_cap);
	memset(s, 0, sizeof *s);
	s->slot = (struct proxy_bslot *)(void *)slot;
	s->b = slot + bp->data_off;
	s->cap = bp->data_cap;
	s->large = large;
	if (large)
		e->st.large_used++;
	else
		e->st.bufs_used++;
	return s->b;
}

void proxy_buf_put(struct proxy_engine *e, struct proxy_stream *s)
{
	if (!s->slot)
		return;
	struct proxy_bufpool *bp = s->large ? &e->large : &e->bufs;
	size_t off = (size_t)((unsigned char *)s->slot - bp->mem);
	bp->free[bp->nfree++] = (uint32_t)(off / bp->stride);
	BUF_POISON(s->slot, bp->stride);
	if (s->large)
		e->st.large_used--;
	else
		e->st.bufs_used--;
	s->slot = NULL;
	s->b = NULL;
	s->cap = 0;
}

bool proxy_bufs_take2(struct proxy_engine *e, struct proxy_conn *c)
{
	/* FIFO: a newcomer does not overtake connections already waiting. */
	if (e->wait_head && e->wait_head != c)
		return false;
	if (e->bufs.nfree < 2) {
		e->bufs.exhausted++;
		return false;
	}
	if (!proxy_buf_get(e, &c->rq, false))
		return false;
	if (!proxy_buf_get(e, &c->rs, false)) {
		proxy_buf_put(e, &c->rq);
		return false;
	}
	if (c->waitq)
		proxy_waitq_del(e, c);
	return true;
}

/* The wait queue and the run queue share the links: a connection is on at most one. */
void proxy_waitq_add(struct proxy_engine *e, struct proxy_conn *c)
{
	if (c->waitq)
		return;
	if (c->runq)
		proxy_waitq_del(e, c);
	c->waitq = 1;
	c->wnext = NULL;
	c->wprev = e->wait_tail;
	if (e->wait_tail)
		e->wait_tail->wnext = c;
	else
		e->wait_head = c;
	e->wait_tail = c;
}

static struct proxy_conn *run_tail(struct proxy_engine *e)
{
	struct proxy_conn *t = e->run_head;
	while (t && t->wnext)
		t = t->wnext;
	return t;
}

void proxy_waitq_del(struct proxy_engine *e, struct proxy_conn *c)
{
	if (c->waitq) {
		if (c->wprev)
			c->wprev->wnext = c->wnext;
		else
			e->wait_head = c->wnext;
		if (c->wnext)
			c->wnext->wprev = c->wprev;
		else
			e->wait_tail = c->wprev;
	} else if (c->runq) {
		if (c->wprev)
			c->wprev->wnext = c->wnext;
		else
			e->run_head = c->wnext;
		if (c->wnext)
			c->wnext->wprev = c->wprev;
	}
	c->waitq = c->runq = 0;
	c->wnext = c->wprev = NULL;
}

void proxy_runq_add(struct proxy_engine *e, struct proxy_conn *c)
{
	if (c->runq)
		return;
	if (c->waitq)
		proxy_waitq_del(e, c);
	c->runq = 1;
	c->wnext = NULL;
	c->wprev = run_tail(e);
	if (c->wprev)
		c->wprev->wnext = c;
	else
		e->run_head = c;
}

static void before_sleep(struct loop *l, void *arg)
{
	struct proxy_engine *e = arg;
	/* Connections waiting for buffers, first come first served, while two are free. A
	 * connection that finds no input any more goes back to idle. */
	for (uint32_t n = e->conns.used; n && e->wait_head && e->bufs.nfree >= 2; n--) {
		struct proxy_conn *c = e->wait_head;
		/* It stays at the head while it runs: proxy_bufs_take2 serves the head only, and
		 * dequeuing it first made every waiter refuse itself and queue again, forever
		 * (and restart its header timeout each time). */
		c->state = PC_IDLE;
		proxy_conn_run(c);
		if (e->wait_head == c)
			proxy_waitq_del(e, c); /* no input any more: idle, off the queue */
	}
	for (uint32_t n = e->conns.used; n && e->run_head; n--) {
		struct proxy_conn *c = e->run_head;
		proxy_waitq_del(e, c);
		proxy_conn_run(c);
	}
	proxy_accesslog_flush(&e->al);
}

/* ---- routing generations -----------------------------------------------------------------------
 */

void proxy_gen_ref(struct proxy_gen *g)
{
	g->refs++;
}

static void gen_free(struct proxy_gen *g)
{
	struct proxy_engine *e = g->eng;
	proxy_health_stop(g);
	proxy_up_tls_gen_free(g); /* https:// servers' configuration and idle connections */
	if (g->t) {
		for (uint32_t i = 0; i < g->t->nep && g->m_ep; i++)
			proxy_metrics_name_put(e->metrics, g->m_ep[i]);
		for (uint32_t i = 0; i < g->t->nfe && g->m_fe; i++)
			proxy_metrics_name_put(e->metrics, g->m_fe[i]);
		for (uint32_t i = 0; i < g->t->nbe && g->be; i++)
			proxy_metrics_name_put(e->metrics, g->be[i].m_be);
		for (uint32_t i = 0; i < g->t->nsrv && g->srv; i++)
			proxy_metrics_name_put(e->metrics, g->srv[i].m_url);
	}
	if (g->tls && g->t)
		for (uint32_t i = 0; i < g->t->nep; i++)
			if (g->tls[i])
				proxy_tlscfg_unref(g->tls[i]);
	proxy_fwdauth_gen_free(g);
	free(g->tls);
	free(g->m_ep);
	free(g->m_fe);
	free(g->be);
	free(g->srv);
	free(g->lb_mem);
	proxy_breaker_gen_free(g);
	free(g->arena_mem);
	if (e->gens[g->slot] == g)
		e->gens[g->slot] = NULL;
	e->st.tables_alive--;
	free(g);
}

void proxy_gen_unref(struct proxy_gen *g)
{
	if (--g->refs == 0)
		gen_free(g);
}

/* ---- TLS configurations (a lifetime apart from the tables: proxy_engine_int.h) ---------- */

void proxy_tlscfg_ref(struct proxy_tlscfg *x)
{
	x->refs++;
}

void proxy_tlscfg_unref(struct proxy_tlscfg *x)
{
	if (--x->refs)
		return;
	free(x->cfg);
	x->cfg = NULL;
	memset(x->digest, 0, sizeof x->digest);
	x->eng->st.tls_cfgs_alive--;
}

int64_t proxy_wall_ms(struct proxy_engine *e)
{
	return e->wall_ms ? e->wall_ms(e->wall_ctx) : time_wall_ms();
}

/* ---- TLS configurations -------------------------------------------------------------------------
 */

/* The SNI names a certificate serves: its dNSName SANs, else its CN (comma list in out).
 * Returns the length written, 0 if none could be read. */
static size_t cert_names(struct slice pem, char *out, size_t cap)
{
	static const uint8_t oid_san[] = {0x55, 0x1d, 0x11};
	static const uint8_t oid_cn[] = {0x55, 0x04, 0x03};
	uint8_t der[8192];
	struct buf db;
	buf_init(&db, der, sizeof der);
	struct slice in = pem;
	out[0] = 0;
	if (pki_pem_decode(&in, "CERTIFICATE", &db, NULL, 0) < 0)
		return 0;
	struct pki_der_rd r = pki_der_rd_make(db.data, db.len);
	struct pki_der_tlv cert, tbs, x;
	if (pki_der_expect(&r, PKI_DER_SEQUENCE, &cert) < 0)
		return 0;
	struct pki_der_rd rc = pki_der_rd_inside(&cert);
	if (pki_der_expect(&rc, PKI_DER_SEQUENCE, &tbs) < 0)
		return 0;
	struct pki_der_rd rt = pki_der_rd_inside(&tbs);
	struct pki_der_tlv f[10];
	int nf = 0;
	while (nf < 10 && pki_der_next(&rt, &f[nf]) == 0)
		nf++;
	int i = f[0].tag == PKI_DER_CTX_CONS(0) ? 1 : 0;
	/* serial, signature, issuer, validity, subject, spki, then [1] [2] [3] */
	size_t n = 0;
	for (int k = i + 6; k < nf; k++) {
		if (f[k].tag != PKI_DER_CTX_CONS(3))
			continue;
		struct pki_der_rd re = pki_der_rd_inside(&f[k]);
		struct pki_der_tlv exts;
		if (pki_der_expect(&re, PKI_DER_SEQUENCE, &exts) < 0)
			break;
		struct pki_der_rd rx = pki_der_rd_inside(&exts);
		while (pki_der_next(&rx, &x) == 0) {
			struct pki_der_rd r1 = pki_der_rd_inside(&x);
			struct pki_der_tlv oid, v;
			if (pki_der_expect(&r1, PKI_DER_OID, &oid) < 0 ||
			    !pki_der_is_oid(&oid, oid_san, sizeof oid_san))
				continue;
			if (pki_der_next(&r1, &v) == 0 && v.tag == PKI_DER_BOOLEAN)
				pki_der_next(&r1, &v);
			if (v.tag != PKI_DER_OCTET_STRING)
				continue;
			struct pki_der_rd rs = pki_der_rd_make(v.v, v.len);
			struct pki_der_tlv gns, gn;
			if (pki_der_expect(&rs, PKI_DER_SEQUENCE, &gns) < 0)
				continue;
			struct pki_der_rd rg = pki_der_rd_inside(&gns);
			while (pki_der_next(&rg, &gn) == 0) {
				if (gn.tag != PKI_DER_CTX(2) || !gn.len || n + gn.len + 2 > cap)
					continue;
				if (n)
					out[n++] = ',';
				memcpy(out + n, gn.v, gn.len);
				n += gn.len;
			}
		}
	}
	if (n == 0 && i + 4 < nf) {
		/* subject: SEQUENCE OF SET OF SEQUENCE { OID, value } */
		struct pki_der_rd rsub = pki_der_rd_inside(&f[i + 4]);
		struct pki_der_tlv set;
		while (pki_der_next(&rsub, &set) == 0) {
			struct pki_der_rd rset = pki_der_rd_inside(&set);
			struct pki_der_tlv atv, oid, v;
			if (pki_der_next(&rset, &atv) < 0)
				continue;
			struct pki_der_rd ra = pki_der_rd_inside(&atv);
			if (pki_der_expect(&ra, PKI_DER_OID, &oid) == 0 &&
			    pki_der_is_oid(&oid, oid_cn, sizeof oid_cn) &&
			    pki_der_next(&ra, &v) == 0 && v.len && v.len + 1 < cap &&
			    memchr(v.v, '.', v.len) && !memchr(v.v, ' ', v.len)) {
				memcpy(out, v.v, v.len);
				n = v.len;
			}
		}
	}
	/* Names the TLS layer cannot take as patterns are dropped: keep LDH, dots, '*'. */
	for (size_t k = 0; k < n; k++) {
		char ch = out[k];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '*' ||
		      ch == ',')) {
			n = 0;
			break;
		}
	}
	out[n] = 0;
	return n;
}

static int tls_add_pair(struct tls_server_config *cfg, const struct proxy_pem_pair *p,
			unsigned flags, char *msg, size_t cap)
{
	char names[1024];
	cert_names(p->cert, names, sizeof names);
	int rc = tls_server_add_cert(cfg, names, p->cert.p, p->cert.len, p->key.p, p->key.len,
				     flags);
	if (rc < 0 && names[0]) /* a SAN the TLS layer refuses as a pattern: serve it unnamed */
		rc = tls_server_add_cert(cfg, NULL, p->cert.p, p->cert.len, p->key.p, p->key.len,
					 flags);
	if (rc < 0)
		snprintf(msg, cap, "certificate: %s (%s)", err_str(rc), cfg->errmsg);
	return rc < 0 ? rc : 0;
}

static void digest_slice(br_sha256_context *h, const void *p, size_t n)
{
	uint64_t len = n;
	br_sha256_update(h, &len, sizeof len); /* length-prefixed: no ambiguous concatenation */
	if (n)
		br_sha256_update(h, p, n);
}

static void digest_pair(br_sha256_context *h, const struct proxy_pem_pair *p)
{
	digest_slice(h, p->cert.p, p->cert.len);
	digest_slice(h, p->key.p, p->key.len);
}

/* SHA-256 of everything gen_build_tls reads for entry point i: equal digests build equal
 * configurations, so consecutive generations share one. */
static void tls_source_digest(const struct proxy_table *t, uint32_t i, uint8_t out[32])
{
	const struct proxy_entrypoint *ep = &t->ep[i];
	br_sha256_context h;
	br_sha256_init(&h);
	uint32_t opts[5] = {ep->ncerts, ep->nclient_ca, ep->min_version,
			    (uint32_t)ep->sni_strict | (uint32_t)ep->client_ca_optional << 1,
			    ep->ncipher_suites};
	br_sha256_update(&h, opts, sizeof opts);
	for (uint32_t k = 0; k < ep->ncerts; k++)
		digest_pair(&h, &ep->certs[k]);
	for (uint32_t k = 0; k < t->ncerts; k++)
		if (t->certs[k].ep_mask & ((uint64_t)1 << i))
			digest_pair(&h, &t->certs[k].pem);
	digest_pair(&h, &ep->default_cert);
	for (uint32_t k = 0; k < ep->nclient_ca; k++)
		digest_slice(&h, ep->client_ca[k].p, ep->client_ca[k].len);
	for (uint32_t k = 0; k < ep->ncipher_suites; k++)
		digest_slice(&h, ep->cipher_suites[k].p, ep->cipher_suites[k].len);
	br_sha256_out(&h, out);
}

/* cipherSuites of ep (Go names, checked by the loader) as the ids of the suites we serve, in
 * the order given, at most PROXY_TLS_SUITES_MAX (the six we serve, each possibly under two
 * names); returns how many. Names we do not serve are left out (warned by tls_suites_warn). */
#define PROXY_TLS_SUITES_MAX 16
static size_t tls_suite_ids(const struct proxy_entrypoint *ep, uint16_t *ids)
{
	size_t n = 0;
	for (uint32_t k = 0; k < ep->ncipher_suites && n < PROXY_TLS_SUITES_MAX; k++) {
		const struct tls_suite_info *si =
			tls_suite_by_go_name(ep->cipher_suites[k].p, ep->cipher_suites[k].len);
		if (si && si->supported)
			ids[n++] = si->id;
	}
	return n;
}

/* One warning per load for each TLS entry point whose cipherSuites name suites we do not
 * serve (the loader refused the document if none we serve remained). */
static void tls_suites_warn(const struct proxy_entrypoint *ep)
{
	char names[400];
	size_t len = 0;
	names[0] = 0;
	for (uint32_t k = 0; k < ep->ncipher_suites; k++) {
		const struct tls_suite_info *si =
			tls_suite_by_go_name(ep->cipher_suites[k].p, ep->cipher_suites[k].len);
		if (!si || si->supported || len >= sizeof names)
			continue;
		int w = snprintf(names + len, sizeof names - len, "%s%s", len ? "," : "",
				 si->go_name);
		len = w < 0 ? sizeof names : len + (size_t)w;
	}
	if (names[0])
		log_warn("tls.cipherSuites: suites not supported (TLS 1.2 ECDHE with AES-GCM or "
			 "ChaCha20-Poly1305 only) are ignored",
			 "entrypoint=\"%.*s\" ignored=\"%s\"", (int)ep->name.len, ep->name.p,
			 names);
}

static int gen_build_tls(struct proxy_engine *e, struct proxy_gen *g, uint32_t i, char *msg,
			 size_t cap)
{
	const struct proxy_table *t = g->t;
	const struct proxy_entrypoint *ep = &t->ep[i];
	uint8_t digest[32];
	tls_source_digest(t, i, digest);
	struct proxy_tlscfg *slot = NULL;
	for (uint32_t k = 0; k < e->lim.max_tls_generations; k++) {
		struct proxy_tlscfg *x = &e->tlscfgs[k];
		if (x->refs && memcmp(x->digest, digest, sizeof digest) == 0) {
			proxy_tlscfg_ref(x); /* unchanged TLS source: shared with older tables */
			g->tls[i] = x;
			return 0;
		}
		if (!x->refs && !slot)
			slot = x;
	}
	if (!slot) {
		snprintf(msg, cap,
			 "entryPoints.%.*s.tls: %u TLS configurations still in use by connections "
			 "(max_tls_generations)",
			 (int)ep->name.len, ep->name.p, e->lim.max_tls_generations);
		return -ERR_PROXY_TABLES_FULL;
	}
	/* Resumable sessions (lim.tls_session_cache): shared across reloads with the config. */
	size_t bytes = 8192 + e->lim.tls_session_cache + ep->default_cert.cert.len +
		       ep->default_cert.key.len + e->default_cert_len + e->default_key_len;
	for (uint32_t k = 0; k < ep->ncerts; k++)
		bytes += ep->certs[k].cert.len + ep->certs[k].key.len;
	for (uint32_t k = 0; k < t->ncerts; k++)
		if (t->certs[k].ep_mask & ((uint64_t)1 << i))
			bytes += t->certs[k].pem.cert.len + t->certs[k].pem.key.len;
	for (uint32_t k = 0; k < ep->nclient_ca; k++)
		bytes += ep->client_ca[k].len;
	size_t head = (sizeof(struct tls_server_config) + 63) / 64 * 64;
	unsigned char *mem = malloc(head + bytes);
	if (!mem) {
		snprintf(msg, cap, "entryPoints.%.*s.tls: out of memory", (int)ep->name.len,
			 ep->name.p);
		return -ERR_NOMEM;
	}
	struct tls_server_config *cfg = (struct tls_server_config *)(void *)mem;
	int rc = tls_server_config_init(cfg, mem + head, bytes);
	char sub[200];
	sub[0] = 0;
	if (!rc && !ep->nclient_ca)
		rc = tls_server_enable_session_cache(cfg, e->lim.tls_session_cache);
	for (uint32_t k = 0; !rc && k < ep->ncerts; k++)
		rc = tls_add_pair(cfg, &ep->certs[k], 0, sub, sizeof sub);
	for (uint32_t k = 0; !rc && k < t->ncerts; k++)
		if (t->certs[k].ep_mask & ((uint64_t)1 << i))
			rc = tls_add_pair(cfg, &t->certs[k].pem, 0, sub, sizeof sub);
	if (!rc && ep->default_cert.cert.len)
		rc = tls_add_pair(cfg, &ep->default_cert, TLS_CERT_DEFAULT, sub, sizeof sub);
	if (!rc && cfg->ncerts == 0) {
		/* No certificate at all: the generated self-signed one (Traefik's default). */
		struct proxy_pem_pair p = {{e->default_cert_pem, e->default_cert_len},
					   {e->default_key_pem, e->default_key_len}};
		rc = tls_add_pair(cfg, &p, TLS_CERT_DEFAULT, sub, sizeof sub);
	}
	for (uint32_t k = 0; !rc && k < ep->nclient_ca; k++) {
		int n = tls_server_add_client_ca(cfg, ep->client_ca[k].p, ep->client_ca[k].len);
		if (n < 0) {
			rc = n;
			snprintf(sub, sizeof sub, "clientCA: %s", err_str(n));
		}
	}
	if (!rc && ep->nclient_ca)
		rc = tls_server_set_client_auth(cfg, ep->client_ca_optional
							     ? TLS_CLIENT_AUTH_OPTIONAL
							     : TLS_CLIENT_AUTH_REQUIRED);
	if (!rc)
		tls_server_set_sni_strict(cfg, ep->sni_strict);
	if (!rc && ep->ncipher_suites) {
		uint16_t ids[PROXY_TLS_SUITES_MAX];
		size_t nids = tls_suite_ids(ep, ids);
		/* The loader guarantees one suite we serve; never serve everything instead. */
		rc = nids ? tls_server_restrict_suites(cfg, ids, nids) : -ERR_PROXY_CONFIG;
		if (rc)
			snprintf(sub, sizeof sub, "cipherSuites: no suite we serve");
	}
	if (rc) {
		snprintf(msg, cap, "entryPoints.%.*s.tls: %s", (int)ep->name.len, ep->name.p,
			 sub[0] ? sub : err_str(rc));
		free(mem);
		return rc;
	}
	slot->eng = e;
	slot->refs = 1;
	slot->cfg = cfg;
	memcpy(slot->digest, digest, sizeof digest);
	e->st.tls_cfgs_alive++;
	g->tls[i] = slot;
	return 0;
}

/* ---- building a generation
 * ----------------------------------------------------------------------- */

static int resolve_server(const struct proxy_server *sv, struct proxy_gen_srv *gs)
{
	memset(&gs->addr, 0, sizeof gs->addr);
	if (sv->ip_literal) {
		if (proxy_ip_is_v4(&sv->ip)) {
			struct sockaddr_in *a = (struct sockaddr_in *)(void *)&gs->addr;
			a->sin_family = AF_INET;
			a->sin_port = htons(sv->port);
			memcpy(&a->sin_addr, sv->ip.b + 12, 4);
			gs->alen = sizeof *a;
		} else {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)(void *)&gs->addr;
			a->sin6_family = AF_INET6;
			a->sin6_port = htons(sv->port);
			memcpy(&a->sin6_addr, sv->ip.b, 16);
			gs->alen = sizeof *a;
		}
		gs->resolved = true;
		return 0;
	}
	/* A name: resolved once, at load time (control path; blocking is acceptable here and
	 * nowhere else). Re-resolution happens at the next load. */
	char host[256], port[8];
	if (sv->host.len >= sizeof host)
		return -ERR_PROXY_RESOLVE;
	memcpy(host, sv->host.p, sv->host.len);
	host[sv->host.len] = 0;
	snprintf(port, sizeof port, "%u", sv->port);
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
		return -ERR_PROXY_RESOLVE;
	memcpy(&gs->addr, res->ai_addr, res->ai_addrlen);
	gs->alen = res->ai_addrlen;
	freeaddrinfo(res);
	gs->resolved = true;
	return 0;
}

static int gen_build(struct proxy_engine *e, struct proxy_gen *g, char *msg, size_t cap)
{
	const struct proxy_table *t = g->t;
	g->srv = calloc(t->nsrv ? t->nsrv : 1, sizeof *g->srv);
	g->be = calloc(t->nbe ? t->nbe : 1, sizeof *g->be);
	g->m_ep = calloc(t->nep ? t->nep : 1, sizeof *g->m_ep);
	g->m_fe = calloc(t->nfe ? t->nfe : 1, sizeof *g->m_fe);
	g->tls = calloc(t->nep ? t->nep : 1, sizeof *g->tls);
	if (!g->srv || !g->be || !g->m_ep || !g->m_fe || !g->tls) {
		snprintf(msg, cap, "out of memory building the table");
		return -ERR_NOMEM;
	}
	for (uint32_t i = 0; i < t->nep; i++)
		g->m_ep[i] = proxy_metrics_name_get(e->metrics, PROXY_MK_ENTRYPOINT, t->ep[i].name);
	for (uint32_t i = 0; i < t->nfe; i++)
		g->m_fe[i] = proxy_metrics_name_get(e->metrics, PROXY_MK_FRONTEND, t->fe[i].name);
	for (uint32_t i = 0; i < t->nbe; i++)
		g->be[i].m_be = proxy_metrics_name_get(e->metrics, PROXY_MK_BACKEND, t->be[i].name);
	/* maxConn: the node's shared counts (no private table), or this table's own */
	size_t lbb = proxy_lb_bytes(t, e->mc_on ? 0 : e->lim.max_conn_keys);
	g->lb_mem = malloc(lbb);
	uint8_t seed[16];
	rand_bytes(&e->rng, seed, sizeof seed);
	struct arena la;
	arena_init(&la, g->lb_mem, lbb);
	if (!g->lb_mem ||
	    (e->mc_on ? proxy_lb_init_shared(&g->lb, t, &la, &e->mc)
		      : proxy_lb_init(&g->lb, t, &la, e->lim.max_conn_keys, seed)) < 0) {
		snprintf(msg, cap, "out of memory for the load balancer state");
		return -ERR_NOMEM;
	}
	if (e->cur)
		proxy_lb_carry(&g->lb, &e->cur->lb); /* health and drr state survive a reload */
	/* circuit breakers (proxy_breaker.h): fresh at every load, as Traefik v1 rebuilds them
	 * (several workers: once per load for the node, proxy_breaker_shared.h) */
	int cbrc = proxy_breaker_gen_build(g, msg, cap);
	if (cbrc < 0)
		return cbrc;
	for (uint32_t i = 0; i < t->nsrv; i++) {
		struct proxy_gen_srv *gs = &g->srv[i];
		gs->m_url = proxy_metrics_name_get(e->metrics, PROXY_MK_URL, t->srv[i].url);
		if (resolve_server(&t->srv[i], gs) < 0)
			log_warn("server address does not resolve: requests to it get 502",
				 "url=%.*s", (int)t->srv[i].url.len, t->srv[i].url.p);
		if (t->srv[i].scheme == PROXY_SCHEME_H2C)
			log_warn("h2c:// servers are not supported: requests to it get 502",
				 "url=%.*s", (int)t->srv[i].url.len, t->srv[i].url.p);
		proxy_metrics_server_up(e->metrics, g->be[t->srv[i].backend].m_be, gs->m_url,
					g->lb.srv[i].up);
	}
	if (proxy_fwdauth_gen_build(e, g, msg, cap) < 0) /* forward auth addresses */
		return -ERR_NOMEM;
	proxy_rl_table_check(t); /* rateLimit: warn about rate sets Traefik v1 refuses */
	proxy_pp_table_check(t); /* proxyProtocol.insecure: warn at every load that sets it */
	for (uint32_t i = 0; i < t->nep; i++) {
		if (!t->ep[i].tls)
			continue;
		tls_suites_warn(&t->ep[i]);
		int rc = gen_build_tls(e, g, i, msg, cap);
		if (rc)
			return rc;
	}
	return proxy_up_tls_gen_build(e, g, msg, cap); /* https:// servers */
}

/* ---- listeners
 * ------------------------------------------------------------------------------------ */

static void listener_cb(struct loop *l, int fd, uint32_t ev, void *arg);

static void listener_pause(struct proxy_engine *e, struct proxy_listener *ls)
{
	if (ls->paused || ls->fd < 0)
		return;
	loop_mod_fd(e->loop, ls->fd, 0);
	ls->paused = true;
	e->accept_paused = true;
	e->st.conns_refused_paused++;
}

static bool listener_can_accept(struct proxy_engine *e, const struct proxy_listener *ls)
{
	if (e->conns.used >= e->conns.cap)
		return false;
	if (ls->tls && e->tlss.used >= e->tlss.cap)
		return false;
	return !e->draining;
}

void proxy_accept_resume(struct proxy_engine *e)
{
	if (!e->accept_paused)
		return;
	bool still = false;
	for (int i = 0; i < PROXY_MAX_ENTRYPOINTS; i++) {
		struct proxy_listener *ls = &e->ls[i];
		if (ls->fd < 0 || !ls->paused)
			continue;
		if (listener_can_accept(e, ls)) {
			loop_mod_fd(e->loop, ls->fd, LOOP_READ);
			ls->paused = false;
		} else {
			still = true;
		}
	}
	e->accept_paused = still;
}

static void resume_timer_cb(struct loop *l, void *arg)
{
	struct proxy_engine *e = arg;
	e->resume_timer = (struct loop_timer_id){0, 0};
	proxy_accept_resume(e);
}

static void listener_cb(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct proxy_listener *ls = arg;
	struct proxy_engine *e = ls->eng;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		if (!listener_can_accept(e, ls)) {
			/* At a cap: stop accepting (the kernel queues new clients) until a
			 * connection is released. */
			listener_pause(e, ls);
			return;
		}
		struct sockaddr_storage ss;
		socklen_t slen = sizeof ss;
		int cfd = accept4(fd, (struct sockaddr *)&ss, &slen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Out of descriptors: pause and retry shortly. */
				listener_pause(e, ls);
				if (!loop_timer_pending(e->loop, e->resume_timer))
					loop_timer_add(e->loop, RESUME_MS, resume_timer_cb, e,
						       &e->resume_timer);
			}
			return;
		}
		/* TCP_NODELAY comes from the listener (listener_open). */
		proxy_conn_accept(ls, cfd, &ss, slen);
	}
}

/* Test hook (proxy_engine.h): the accept path above without accept4. */
int proxy_engine_adopt(struct proxy_engine *e, int fd, const char *entry_point,
		       const struct sockaddr_storage *peer)
{
	struct proxy_listener *ls = NULL;
	for (int i = 0; i < PROXY_MAX_ENTRYPOINTS && !ls; i++)
		if (e->ls[i].fd >= 0 && strcmp(e->ls[i].name, entry_point) == 0)
			ls = &e->ls[i];
	if (!ls || !listener_can_accept(e, ls)) {
		close(fd);
		return ls ? -ERR_PROXY_CONNS_FULL : -ERR_NOTFOUND;
	}
	struct sockaddr_storage ss;
	socklen_t slen = sizeof ss;
	memset(&ss, 0, sizeof ss);
	if (peer)
		ss = *peer;
	else if (getpeername(fd, (struct sockaddr *)&ss, &slen) < 0)
		ss.ss_family = AF_UNSPEC;
	uint32_t before = e->st.conns;
	proxy_conn_accept(ls, fd, &ss, slen);
	return e->st.conns > before ? 0 : -ERR_PROXY_CONNS_FULL;
}

static int listen_addr(const struct proxy_entrypoint *ep, struct sockaddr_storage *ss,
		       socklen_t *len, bool v6any)
{
	memset(ss, 0, sizeof *ss);
	if (ep->any_addr) {
		if (v6any) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)(void *)ss;
			a->sin6_family = AF_INET6;
			a->sin6_addr = in6addr_any;
			a->sin6_port = htons(ep->port);
			*len = sizeof *a;
		} else {
			struct sockaddr_in *a = (struct sockaddr_in *)(void *)ss;
			a->sin_family = AF_INET;
			a->sin_addr.s_addr = htonl(INADDR_ANY);
			a->sin_port = htons(ep->port);
			*len = sizeof *a;
		}
	} else if (proxy_ip_is_v4(&ep->ip)) {
		struct sockaddr_in *a = (struct sockaddr_in *)(void *)ss;
		a->sin_family = AF_INET;
		memcpy(&a->sin_addr, ep->ip.b + 12, 4);
		a->sin_port = htons(ep->port);
		*len = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)(void *)ss;
		a->sin6_family = AF_INET6;
		memcpy(&a->sin6_addr, ep->ip.b, 16);
		a->sin6_port = htons(ep->port);
		*len = sizeof *a;
	}
	return 0;
}

static int listener_open(struct proxy_engine *e, const struct proxy_entrypoint *ep,
			 struct proxy_listener *ls, char *msg, size_t cap)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		bool v6any = attempt == 0;
		if (!ep->any_addr && attempt == 1)
			break;
		struct sockaddr_storage ss;
		socklen_t len;
		listen_addr(ep, &ss, &len, v6any);
		int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			if (ep->any_addr && v6any)
				continue; /* no IPv6: plain IPv4 any */
			snprintf(msg, cap, "entryPoints.%.*s: socket: %s", (int)ep->name.len,
				 ep->name.p, strerror(errno));
			return -ERR_PROXY_LISTEN;
		}
		int one = 1, zero = 0;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (e->reuse_port)
			setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
		if (ss.ss_family == AF_INET6 && ep->any_addr)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
		/* Accepted sockets inherit TCP_NODELAY from their listener (Linux): set once here
		 * rather than once per connection. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) {
			int err = errno;
			close(fd);
			if (ep->any_addr && v6any && (err == EAFNOSUPPORT || err == EADDRNOTAVAIL))
				continue;
			snprintf(msg, cap, "entryPoints.%.*s: cannot listen on %.*s: %s",
				 (int)ep->name.len, ep->name.p, (int)ep->address.len, ep->address.p,
				 strerror(err));
			return -ERR_PROXY_LISTEN;
		}
		struct sockaddr_storage bound;
		socklen_t blen = sizeof bound;
		getsockname(fd, (struct sockaddr *)&bound, &blen);
		ls->port = bound.ss_family == AF_INET
				   ? ntohs(((struct sockaddr_in *)(void *)&bound)->sin_port)
				   : ntohs(((struct sockaddr_in6 *)(void *)&bound)->sin6_port);
		if (loop_add_fd(e->loop, fd, LOOP_READ, listener_cb, ls) < 0) {
			close(fd);
			snprintf(msg, cap, "entryPoints.%.*s: event loop full", (int)ep->name.len,
				 ep->name.p);
			return -ERR_PROXY_LISTEN;
		}
		ls->eng = e;
		ls->fd = fd;
		ls->addr = ss;
		ls->alen = len;
		ls->paused = false;
		size_t n = ep->name.len < sizeof ls->name - 1 ? ep->name.len : sizeof ls->name - 1;
		memcpy(ls->name, ep->name.p, n);
		ls->name[n] = 0;
		return 0;
	}
	snprintf(msg, cap, "entryPoints.%.*s: cannot listen", (int)ep->name.len, ep->name.p);
	return -ERR_PROXY_LISTEN;
}

static void listener_close(struct proxy_engine *e, struct proxy_listener *ls)
{
	if (ls->fd < 0)
		return;
	loop_del_fd(e->loop, ls->fd);
	close(ls->fd);
	ls->fd = -1;
	ls->ep = -1;
	ls->paused = false;
	e->st.listeners--;
}

/* Same entry point: same name and same address text (":0" keeps its bound port). */
static struct proxy_listener *listener_find(struct proxy_engine *e,
					    const struct proxy_entrypoint *ep)
{
	for (int i = 0; i < PROXY_MAX_ENTRYPOINTS; i++) {
		struct proxy_listener *ls = &e->ls[i];
		if (ls->fd < 0 || !slice_eq_cstr(ep->name, ls->name))
			continue;
		struct sockaddr_storage ss;
		socklen_t len;
		listen_addr(ep, &ss, &len, ls->addr.ss_family == AF_INET6 && ep->any_addr);
		if (len != ls->alen)
			continue;
		uint16_t want = ep->port, have = ls->port;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)(void *)&ss;
			struct sockaddr_in *b = (struct sockaddr_in *)(void *)&ls->addr;
			if (a->sin_addr.s_addr != b->sin_addr.s_addr)
				continue;
		} else {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)(void *)&ss;
			struct sockaddr_in6 *b = (struct sockaddr_in6 *)(void *)&ls->addr;
			if (memcmp(&a->sin6_addr, &b->sin6_addr, 16) != 0)
				continue;
		}
		if (want != 0 && want != have)
			continue;
		if (want == 0) {
			/* ":0" matches the listener opened for ":0" */
			uint16_t orig =
				ss.ss_family == AF_INET
					? ntohs(((struct sockaddr_in *)(void *)&ls->addr)->sin_port)
					: ntohs(((struct sockaddr_in6 *)(void *)&ls->addr)
							->sin6_port);
			if (orig != 0)
				continue;
		}
		return ls;
	}
	return NULL;
}

static struct proxy_listener *listener_free_slot(struct proxy_engine *e)
{
	for (int i = 0; i < PROXY_MAX_ENTRYPOINTS; i++)
		if (e->ls[i].fd < 0 && !e->ls[i].keep)
			return &e->ls[i];
	return NULL;
}

/* ---- load and swap
 * ---------------------------------------------------------------------------------- */

static void set_msg(char *msg, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_msg(char *msg, size_t cap, const char *fmt, ...)
{
	if (!msg || !cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, cap, fmt, ap);
	va_end(ap);
}

int proxy_engine_load(struct proxy_engine *e, const char *doc, size_t len, char *msg, size_t cap)
{
	char sink[8];
	if (!msg || !cap) {
		msg = sink;
		cap = sizeof sink;
	}
	msg[0] = 0;
	int slot = -1;
	for (uint32_t i = 0; i < e->lim.max_tables; i++)
		if (!e->gens[i]) {
			slot = (int)i;
			break;
		}
	if (slot < 0) {
		set_msg(msg, cap,
			"%u routing tables still in use by requests in flight (max_tables)",
			e->lim.max_tables);
		e->st.swap_failures++;
		proxy_metrics_reload(e->metrics, false, proxy_wall_ms(e) / 1000);
		return -ERR_PROXY_TABLES_FULL;
	}
	/* 1. Load twice: into worst-case scratch to learn the size, then into exact memory. */
	size_t ntoks = proxy_scratch_tokens(&e->lim.table);
	json_tok *toks = malloc(ntoks * sizeof *toks);
	size_t wc = proxy_table_bytes(&e->lim.table);
	void *scratch = malloc(wc);
	struct proxy_gen *g = calloc(1, sizeof *g);
	int rc = 0;
	if (!toks || !scratch || !g) {
		set_msg(msg, cap, "out of memory loading the routing document");
		rc = -ERR_NOMEM;
		goto fail;
	}
	struct arena a;
	arena_init(&a, scratch, wc);
	const struct proxy_table *t = NULL;
	struct proxy_cfg_err cerr;
	cerr.msg[0] = 0;
	rc = proxy_table_load(doc, len, &e->lim.table, &a, toks, ntoks, &t, &cerr);
	if (rc < 0) {
		set_msg(msg, cap, "%s", cerr.msg[0] ? cerr.msg : err_str(rc));
		goto fail;
	}
	size_t exact = t->bytes + 4096;
	g->arena_mem = malloc(exact);
	if (!g->arena_mem) {
		set_msg(msg, cap, "out of memory for the routing table (%zu bytes)", exact);
		rc = -ERR_NOMEM;
		goto fail;
	}
	arena_init(&a, g->arena_mem, exact);
	rc = proxy_table_load(doc, len, &e->lim.table, &a, toks, ntoks, &t, &cerr);
	free(scratch);
	scratch = NULL;
	free(toks);
	toks = NULL;
	if (rc < 0) {
		set_msg(msg, cap, "%s", cerr.msg[0] ? cerr.msg : err_str(rc));
		goto fail;
	}
	g->eng = e;
	g->t = t;
	g->slot = (uint32_t)slot;
	e->gens[slot] = g;
	e->st.tables_alive++;
	rc = gen_build(e, g, msg, cap);
	if (rc < 0)
		goto fail_gen;

	/* 2. Listeners: keep, or open new ones before committing. */
	for (int i = 0; i < PROXY_MAX_ENTRYPOINTS; i++)
		e->ls[i].keep = false;
	int newidx[PROXY_MAX_ENTRYPOINTS];
	struct proxy_listener *want[PROXY_MAX_ENTRYPOINTS];
	int nnew = 0;
	for (uint32_t i = 0; i < t->nep; i++) {
		struct proxy_listener *ls = listener_find(e, &t->ep[i]);
		if (ls && !ls->keep) {
			ls->keep = true;
			want[i] = ls;
			continue;
		}
		ls = listener_free_slot(e);
		if (!ls) {
			set_msg(msg, cap, "too many listeners");
			rc = -ERR_PROXY_LISTEN;
			break;
		}
		rc = listener_open(e, &t->ep[i], ls, msg, cap);
		if (rc < 0)
			break;
		ls->keep = true;
		ls->ep = -1;
		want[i] = ls;
		newidx[nnew++] = (int)(ls - e->ls);
		e->st.listeners++;
	}
	if (rc < 0) {
		for (int k = 0; k < nnew; k++)
			listener_close(e, &e->ls[newidx[k]]);
		for (int i = 0; i < PROXY_MAX_ENTRYPOINTS; i++)
			e->ls[i].keep = false;
		goto fail_gen;
	}

	/* 3. Commit. */
	struct proxy_gen *old = e->cur;
	g->refs = 1;
	g->current = true;
	e->cur = g;
	for (int i = 0; i < PROXY_MAX_ENTRYPOINTS; i++) {
		struct proxy_listener *ls = &e->ls[i];
		if (ls->fd >= 0 && !ls->keep)
			listener_close(e, ls);
		ls->keep = false;
	}
	for (uint32_t i = 0; i < t->nep; i++) {
		want[i]->ep = (int)i;
		want[i]->tls = t->ep[i].tls;
		if (want[i]->paused && listener_can_accept(e, want[i])) {
			loop_mod_fd(e->loop, want[i]->fd, LOOP_READ);
			want[i]->paused = false;
		}
	}
	if (old) {
		old->current = false;
		proxy_health_stop(old);
	}
	proxy_health_start(g);
	e->st.swaps++;
	proxy_metrics_reload(e->metrics, true, proxy_wall_ms(e) / 1000);
	proxy_conn_swap_notice(e);
	if (old)
		proxy_gen_unref(old);
	return 0;

fail_gen:
	g->refs = 1;
	proxy_gen_unref(g); /* frees everything built, and the slot */
	g = NULL;
fail:
	free(toks);
	free(scratch);
	if (g) {
		free(g->arena_mem);
		free(g);
	}
	e->st.swap_failures++;
	proxy_metrics_reload(e->metrics, false, proxy_wall_ms(e) / 1000);
	return rc;
}

/* ---- engine life cycle
 * ------------------------------------------------------------------------------- */

static void sweep_cb(struct loop *l, void *arg)
{
	struct proxy_engine *e = arg;
	proxy_up_sweep(e);
	if (e->draining && e->st.conns == 0 && !e->stopped) {
		e->stopped = true;
		loop_stop(l);
	}
}

static void grace_cb(struct loop *l, void *arg)
{
	struct proxy_engine *e = arg;
	while (e->all)
		proxy_conn_abort(e->all);
	proxy_up_close_idle(e);
	e->stopped = true;
	loop_stop(l);
}

void proxy_engine_shutdown(struct proxy_engine *e)
{
	if (e->draining)
		return;
	e->draining = true;
	for (int i = 0; i < PROXY_MAX_ENTRYPOINTS; i++)
		listener_close(e, &e->ls[i]);
	proxy_up_close_idle(e);
	struct proxy_conn *c = e->all;
	while (c) {
		struct proxy_conn *next = c->next;
		if (c->state == PC_IDLE || c->state == PC_WAIT_BUF)
			proxy_conn_abort(c);
		else
			c->close_after = 1;
		c = next;
	}
	if (e->cur)
		proxy_health_stop(e->cur);
	loop_timer_add(e->loop, e->lim.grace_timeout_ms, grace_cb, e, &e->grace_timer);
	if (e->st.conns == 0) {
		e->stopped = true;
		loop_stop(e->loop);
	}
}

bool proxy_engine_stopped(const struct proxy_engine *e)
{
	return e->stopped;
}

/* A self-signed ECDSA P-256 certificate for TLS entry points without one (CN "TRAEFIK
 * DEFAULT CERT", as Traefik's generated default). */
static int make_default_cert(struct proxy_engine *e)
{
	static const char *const dns[] = {"traefik.default"};
	struct pki_ca *ca = calloc(1, sizeof *ca);
	struct pki_key *k = calloc(1, sizeof *k);
	size_t cap_pem = 8192;
	e->default_cert_pem = calloc(1, cap_pem);
	e->default_key_pem = calloc(1, 1024);
	uint8_t *der = calloc(1, PKI_CERT_MAX);
	int rc = -ERR_NOMEM;
	if (!ca || !k || !e->default_cert_pem || !e->default_key_pem || !der)
		goto out;
	int64_t now = proxy_wall_ms(e) / 1000;
	rc = pki_ca_create(ca, &e->rng, "TRAEFIK DEFAULT CERT", now);
	if (!rc)
		rc = pki_key_generate(k, &e->rng);
	struct buf db;
	buf_init(&db, der, PKI_CERT_MAX);
	struct pki_cert_req req = {.role = PKI_ROLE_DATA,
				   .id = "TRAEFIK DEFAULT CERT",
				   .pub = k->pub,
				   .lifetime = 365 * 86400,
				   .dns = dns,
				   .ndns = 1};
	if (!rc)
		rc = pki_cert_issue(ca, &e->rng, &req, now, &db);
	struct buf cb, kb;
	buf_init(&cb, e->default_cert_pem, cap_pem);
	buf_init(&kb, e->default_key_pem, 1024);
	if (!rc)
		rc = pki_pem_encode("CERTIFICATE", db.data, db.len, &cb);
	if (!rc)
		rc = pki_key_to_pem(k, PKI_KEY_SEC1, &kb);
	e->default_cert_len = cb.len;
	e->default_key_len = kb.len;
out:
	if (ca)
		pki_ca_wipe(ca);
	if (k)
		pki_key_wipe(k);
	free(ca);
	free(k);
	free(der);
	return rc;
}

/* The TLS slots start on page boundaries (tls_conn_size() is whole pages), so an idle
 * connection's tls_conn_trim gives back every page of its I/O buffer. */
static int tls_pool_init(struct pool *p, uint32_t cap)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t align =
		pg > 0 && (size_t)pg >= alignof(max_align_t) && !(pg & (pg - 1))
			? (size_t)pg
			: alignof(max_align_t); /* an odd page size: trim works on fewer pages */
	int r = pool_init_aligned(p, "max_tls_conns", tls_conn_size(), cap, align);
	/* conn_free wipes every TLS slot before putting it back: zeroing 48 KiB twice per
	 * connection was 2 x 5% of a resumed handshake's instructions. */
	p->put_zeroed = true;
	return r;
}

void proxy_engine_mem_sizes(const struct proxy_dp_limits *lim, struct proxy_mem_sizes *out)
{
	memset(out, 0, sizeof *out);
	out->conn = proxy_conn_size();
	out->upstream = proxy_up_size();
	out->tls = tls_conn_size();
	out->target = proxy_target_size() + 2 * sizeof(void *);
	out->health = proxy_health_size();
	out->fwdauth = proxy_fwdauth_size();
	out->ratelimit = proxy_rl_bytes(1);
	/* several workers: the node's maxConn table (proxy_workers.c maps it, page-rounded), a
	 * worker's share of it; one worker counts in each table's load balancer (out->table) */
	if (lim->workers > 1)
		out->maxconn =
			((proxy_mc_bytes(lim->max_conn_keys, lim->workers) + 4095) / 4096 * 4096 +
			 lim->workers - 1) /
			lim->workers;
	/* several workers: the node's health board (proxy_workers.c maps it, page-rounded), a
	 * worker's share of it; one worker keeps health in each table's load balancer */
	if (lim->workers > 1)
		out->healthboard = ((proxy_hb_bytes(lim->table.max_servers) + 4095) / 4096 * 4096 +
				    lim->workers - 1) /
				   lim->workers;
	out->gzip = proxy_gzip_slot_size();
	out->series = sizeof(struct proxy_metric_series) * 2;
	out->name = sizeof(struct proxy_metric_name);
	out->loop_fd = sizeof(struct loop_fd_slot) + 2 * sizeof(int32_t) + 12;
	out->loop_timer = sizeof(struct loop_timer_slot) + sizeof(uint32_t);
	out->table = sizeof(struct proxy_gen) + proxy_table_bytes(&lim->table) +
		     proxy_lb_bytes_max(&lim->table, lim->workers > 1 ? 0 : lim->max_conn_keys) +
		     proxy_breaker_bytes_max(&lim->table);
	/* the https:// servers' client configuration (rootCAs: DER is smaller than its PEM) */
	out->table += sizeof(struct tls_client_config) + 64 + lim->table.max_cert_bytes;
	/* gen_build_tls's block: config head, 8 KiB, every PEM byte, the default pair */
	out->tls_cfg = sizeof(struct proxy_tlscfg) + sizeof(struct tls_server_config) + 64 + 8192 +
		       lim->tls_session_cache + lim->table.max_cert_bytes + 4096;
	out->reload = proxy_table_bytes(&lim->table) +
		      proxy_scratch_tokens(&lim->table) * sizeof(json_tok) +
		      lim->table.max_doc_bytes;
	out->fixed = sizeof(struct proxy_engine) + sizeof(struct proxy_re_work) + (64 << 10);
	/* several workers: the node's circuit breakers (proxy_breaker_shared.h; proxy_workers.c
	 * maps them page-rounded), a worker's share, counted with the fixed state (each table
	 * still holds its handles, out->table) */
	if (lim->workers > 1)
		out->fixed += ((proxy_cbs_bytes(lim->table.max_backends, lim->max_tables) + 4095) /
				       4096 * 4096 +
			       lim->workers - 1) /
			      lim->workers;
	/* per buffer slot: the parse state and header array ride with the data */
	out->buf_overhead = slot_hdr_bytes(lim->max_headers);
}

int proxy_engine_create(const struct proxy_engine_config *cfg, struct proxy_engine **out, char *msg,
			size_t cap)
{
	char sink[8];
	if (!msg || !cap) {
		msg = sink;
		cap = sizeof sink;
	}
	*out = NULL;
	int rc = proxy_dp_limits_check(cfg->lim, msg, cap);
	if (rc)
		return rc;
	struct proxy_engine *e = calloc(1, sizeof *e);
	if (!e) {
		set_msg(msg, cap, "out of memory");
		return -ERR_NOMEM;
	}
	e->loop = cfg->loop;
	e->lim = *cfg->lim;
	const struct proxy_dp_limits *L = &e->lim;
	e->reuse_port = cfg->reuse_port;
	e->wall_ms = cfg->wall_ms;
	e->wall_ctx = cfg->wall_ctx;
	for (int i = 0; i < PROXY_MAX_ENTRYPOINTS; i++) {
		e->ls[i].fd = -1;
		e->ls[i].ep = -1;
	}
	http_limits_default(&e->hl_req);
	e->hl_req.max_line = L->max_line;
	e->hl_req.max_headers = L->max_headers;
	e->hl_req.max_header_bytes = L->max_header_bytes;
	e->hl_req.max_body = L->max_body;
	e->hl_res = e->hl_req;
	e->hl_res.max_line = L->max_line;
	e->hl_res.max_body = UINT64_MAX;
	if (cfg->server_name) {
		snprintf(e->server_name, sizeof e->server_name, "%s", cfg->server_name);
	} else if (gethostname(e->server_name, sizeof e->server_name - 1) < 0) {
		e->server_name[0] = 0;
	}
	e->server_name[sizeof e->server_name - 1] = 0;
	for (char *p = e->server_name; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			*p = '-';
	e->server_name_len = (uint8_t)strlen(e->server_name);

	size_t large = proxy_dp_large_buf_size(L);
	rc = -ERR_NOMEM;
	if (pool_init(&e->conns, "max_conns", proxy_conn_size(), L->max_conns) < 0 ||
	    tls_pool_init(&e->tlss, L->max_tls_conns) < 0 ||
	    pool_init(&e->ups, "max_upstream_conns", proxy_up_size(), L->max_upstream_conns) < 0 ||
	    proxy_up_tls_init(e) < 0 ||
	    pool_init(&e->hcs, "max_health_checks", proxy_health_size(), L->max_health_checks) <
		    0 ||
	    pool_init(&e->fas, "max_forward_auth", proxy_fwdauth_size(), L->max_forward_auth) < 0 ||
	    tls_pool_init(&e->fa_tls, L->max_forward_auth_tls < L->max_forward_auth
					      ? L->max_forward_auth_tls
					      : L->max_forward_auth) < 0 ||
	    pool_init(&e->gzs, "max_gzip_streams", proxy_gzip_slot_size(), L->max_gzip_streams) <
		    0 ||
	    proxy_targets_init(e) < 0 ||
	    bufpool_init(&e->bufs, "max_bufs", L->max_bufs, L->buf_size, L->max_headers) < 0 ||
	    bufpool_init(&e->large, "max_large_bufs", L->max_large_bufs, large, L->max_headers) <
		    0) {
		set_msg(msg, cap, "out of memory for the pools");
		goto fail;
	}
	e->scratch_cap = large;
	e->scratch = malloc(large);
	e->rework = malloc(sizeof *e->rework);
	e->gens = calloc(L->max_tables, sizeof *e->gens);
	e->tlscfgs = calloc(L->max_tls_generations, sizeof *e->tlscfgs);
	e->al_mem = malloc(64 << 10);
	if (!e->scratch || !e->rework || !e->gens || !e->tlscfgs || !e->al_mem) {
		set_msg(msg, cap, "out of memory");
		goto fail;
	}
	if (cfg->metrics) {
		e->metrics = cfg->metrics;
	} else {
		/* A fresh anonymous mapping is zeroes: only the pages series use become resident
		 * (an idle node stays small). */
		size_t ms = proxy_metrics_size(L->max_metric_series, L->max_metric_names);
		e->metrics_len = (ms + 4095) / 4096 * 4096;
		void *m = mmap(NULL, e->metrics_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		e->metrics_mem = m == MAP_FAILED ? NULL : m;
		e->metrics = e->metrics_mem ? proxy_metrics_init_zeroed(e->metrics_mem, ms,
									L->max_metric_series,
									L->max_metric_names)
					    : NULL;
		if (!e->metrics) {
			set_msg(msg, cap, "out of memory for metrics");
			goto fail;
		}
	}
	proxy_accesslog_init(&e->al, cfg->access_log_fd, e->al_mem, 64 << 10);
	proxy_accesslog_share(&e->al, cfg->shared_requests);
	rc = rand_init_os(&e->rng);
	if (rc < 0) {
		set_msg(msg, cap, "no entropy for TLS");
		goto fail;
	}
	uint8_t auth_key[32];
	if (cfg->auth_key)
		memcpy(auth_key, cfg->auth_key, sizeof auth_key);
	else
		rand_bytes(&e->rng, auth_key, sizeof auth_key);
	proxy_auth_state_init(&e->auth, auth_key);
	if (cfg->rl_shared) { /* the node's workers share one table (proxy_workers.h) */
		rc = proxy_rl_init_shared(&e->rl, cfg->rl_shared, cfg->rl_shared_bytes,
					  L->max_ratelimit_keys, cfg->rl_key[0], cfg->rl_key[1]);
		if (rc < 0) {
			set_msg(msg, cap,
				"the shared rate limit table does not fit max_ratelimit_keys");
			goto fail;
		}
	} else if ((rc = proxy_rl_init(&e->rl, L->max_ratelimit_keys, rand_u64(&e->rng),
				       rand_u64(&e->rng))) < 0) {
		set_msg(msg, cap, "out of memory for the rate limit table (max_ratelimit_keys)");
		goto fail;
	}
	e->rl.metrics = e->metrics; /* traefikee_ratelimit_rejected_total */
	if (cfg->mc_shared) {       /* maxConn counted for the node (proxy_workers.h) */
		rc = proxy_mc_attach(&e->mc, cfg->mc_shared, cfg->mc_shared_bytes, L->max_conn_keys,
				     L->workers, cfg->mc_slot, cfg->mc_key[0], cfg->mc_key[1]);
		if (rc < 0) {
			set_msg(msg, cap,
				"the shared maxConn table does not fit max_conn_keys and workers");
			goto fail;
		}
		e->mc_on = true;
	}
	if (cfg->hb_shared) { /* health checks made by slot 0 for the node (proxy_health.c) */
		rc = proxy_hb_attach(&e->hb, cfg->hb_shared, cfg->hb_shared_bytes,
				     L->table.max_servers, cfg->mc_slot == 0, cfg->hb_key[0],
				     cfg->hb_key[1]);
		if (rc < 0) {
			set_msg(msg, cap, "the shared health board does not fit max_servers");
			goto fail;
		}
		e->hb_on = true;
	}
	rc = make_default_cert(e);
	if (rc < 0) {
		set_msg(msg, cap, "cannot make the default certificate: %s", err_str(rc));
		goto fail;
	}
	loop_set_before_sleep(e->loop, before_sleep, e);
	rc = loop_timer_every(e->loop, SWEEP_MS, SWEEP_MS, sweep_cb, e, &e->sweep_timer);
	if (rc < 0) {
		set_msg(msg, cap, "event loop timers full");
		goto fail;
	}
	*out = e;
	return 0;
fail:
	proxy_engine_destroy(e);
	return rc < 0 ? rc : -ERR_NOMEM;
}

void proxy_engine_destroy(struct proxy_engine *e)
{
	if (!e)
		return;
	e->draining = true;
	while (e->all)
		proxy_conn_abort(e->all);
	if (e->ups.mem)
		proxy_up_close_idle(e);
	for (int i = 0; i < PROXY_MAX_ENTRYPOINTS; i++)
		if (e->ls[i].fd >= 0)
			listener_close(e, &e->ls[i]);
	if (e->cur) {
		struct proxy_gen *g = e->cur;
		e->cur = NULL;
		proxy_gen_unref(g);
	}
	for (uint32_t i = 0; e->gens && i < e->lim.max_tables; i++)
		if (e->gens[i]) /* cannot happen once every connection is gone */
			gen_free(e->gens[i]);
	for (uint32_t i = 0; e->tlscfgs && i < e->lim.max_tls_generations; i++)
		free(e->tlscfgs[i].cfg); /* NULL once every connection and table is gone */
	if (e->loop) {
		loop_timer_cancel(e->loop, e->sweep_timer);
		loop_timer_cancel(e->loop, e->resume_timer);
		loop_timer_cancel(e->loop, e->grace_timer);
		loop_set_before_sleep(e->loop, NULL, NULL);
	}
	proxy_accesslog_flush(&e->al);
	pool_fini(&e->conns);
	pool_fini(&e->tlss);
	pool_fini(&e->ups);
	proxy_up_tls_fini(e);
	pool_fini(&e->hcs);
	pool_fini(&e->fas);
	pool_fini(&e->fa_tls);
	proxy_rl_fini(&e->rl);
	pool_fini(&e->gzs);
	proxy_targets_fini(e);
	bufpool_fini(&e->bufs);
	bufpool_fini(&e->large);
	free(e->scratch);
	free(e->rework);
	free(e->gens);
	free(e->tlscfgs);
	free(e->al_mem);
	if (e->metrics_mem)
		munmap(e->metrics_mem, e->metrics_len);
	free(e->default_cert_pem);
	free(e->default_key_pem);
	free(e);
}

int proxy_engine_metrics_text(struct proxy_engine *e, struct buf *b)
{
	const struct proxy_metrics *parts[1] = {e->metrics};
	return proxy_metrics_render(parts, 1, b);
}

struct proxy_metrics *proxy_engine_metrics(struct proxy_engine *e)
{
	return e->metrics;
}

void proxy_engine_get_stats(struct proxy_engine *e, struct proxy_engine_stats *st)
{
	*st = e->st;
	st->rl_limited = e->rl.st.limited;
	st->rl_evicted = e->rl.st.evicted;
	st->cb_trips = e->metrics->eng.cb_trips;
	st->cb_tripped = proxy_breaker_gen_tripped(e->cur, loop_now_ms(e->loop));
	st->gz_responses = e->gz_responses;
	st->gz_pool_full = e->gz_full;
	st->pp_ok = e->metrics->eng.pp_ok;
	st->pp_malformed = e->metrics->eng.pp_malformed;
	st->conns_proxyhdr = 0;
	for (struct proxy_conn *c = e->all; c; c = c->next)
		st->conns_proxyhdr += c->state == PC_PROXYHDR;
}

int proxy_engine_listen_port(const struct proxy_engine *e, const char *name)
{
	for (int i = 0; i < PROXY_MAX_ENTRYPOINTS; i++)
		if (e->ls[i].fd >= 0 && strcmp(e->ls[i].name, name) == 0)
			return e->ls[i].port;
	return -1;
}

const char *proxy_engine_errmsg(const struct proxy_engine *e)
{
	return e->errmsg;
}

/* SIGUSR1: one log line with the engine's counters and its connections by state, one with
 * the features' counters (rateLimit, circuit breakers, compress, proxyProtocol). */
void proxy_engine_log_stats(struct proxy_engine *e)
{
	uint32_t by[PC_PROXYHDR + 1] = {0};
	for (struct proxy_conn *c = e->all; c; c = c->next)
		if (c->state <= PC_PROXYHDR)
			by[c->state]++;
	struct proxy_engine_stats st;
	proxy_engine_get_stats(e, &st);
	log_info("proxy stats",
		 "conns=%u tls=%u proxyhdr=%u idle=%u wait_buf=%u head=%u connect=%u forward=%u "
		 "response=%u tunnel=%u local=%u closing=%u linger=%u auth=%u bufs=%u/%u "
		 "large=%u/%u up_busy=%u up_idle=%u accepted=%llu requests=%llu connects=%llu "
		 "reused=%llu retries=%llu buf_waits=%llu paused=%llu tables=%u tls_trims=%llu "
		 "up_tls=%u "
		 "up_tls_handshakes=%llu up_tls_failures=%llu",
		 st.conns, st.tls_conns, by[PC_PROXYHDR], by[PC_IDLE], by[PC_WAIT_BUF], by[PC_HEAD],
		 by[PC_CONNECT], by[PC_FORWARD], by[PC_RESPONSE], by[PC_TUNNEL], by[PC_LOCAL],
		 by[PC_CLOSING], by[PC_LINGER], by[PC_AUTH], st.bufs_used, e->bufs.cap,
		 st.large_used, e->large.cap, st.upstream_busy, st.upstream_idle,
		 (unsigned long long)st.accepted, (unsigned long long)st.requests,
		 (unsigned long long)st.upstream_connects, (unsigned long long)st.upstream_reused,
		 (unsigned long long)st.upstream_retries, (unsigned long long)st.buf_waits,
		 (unsigned long long)st.conns_refused_paused, st.tables_alive,
		 (unsigned long long)st.tls_trims, st.upstream_tls,
		 (unsigned long long)st.upstream_tls_handshakes,
		 (unsigned long long)st.upstream_tls_failures);
	log_info("proxy feature stats",
		 "ratelimited=%llu rl_evicted=%llu breaker_trips=%llu breakers_tripped=%u "
		 "gzip=%llu gzip_pool_full=%llu pp_ok=%llu pp_malformed=%llu",
		 (unsigned long long)st.rl_limited, (unsigned long long)st.rl_evicted,
		 (unsigned long long)st.cb_trips, st.cb_tripped,
		 (unsigned long long)st.gz_responses, (unsigned long long)st.gz_pool_full,
		 (unsigned long long)st.pp_ok, (unsigned long long)st.pp_malformed);
}

uint64_t proxy_engine_revision(const struct proxy_engine *e)
{
	return e->cur ? e->cur->t->revision : 0;
}

int proxy_engine_check_doc(const struct proxy_dp_limits *lim, const char *doc, size_t len,
			   char *msg, size_t cap)
{
	size_t ntoks = proxy_scratch_tokens(&lim->table);
	size_t wc = proxy_table_bytes(&lim->table);
	json_tok *toks = malloc(ntoks * sizeof *toks);
	void *mem = malloc(wc);
	int rc;
	if (toks && mem) {
		struct arena a;
		arena_init(&a, mem, wc);
		const struct proxy_table *t;
		struct proxy_cfg_err cerr;
		cerr.msg[0] = 0;
		rc = proxy_table_load(doc, len, &lim->table, &a, toks, ntoks, &t, &cerr);
		if (rc < 0)
			set_msg(msg, cap, "%s", cerr.msg[0] ? cerr.msg : err_str(rc));
	} else {
		rc = -ERR_NOMEM;
		set_msg(msg, cap, "out of memory");
	}
	free(toks);
	free(mem);
	return rc;
}
