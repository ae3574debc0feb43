/* fuzz_proxy_config.c — libFuzzer harness for src/proxy/proxy_config (routing documents), with
 * the balancer and matcher run over whatever loads.
 *
 * For every input (a routing document):
 *   1. It loads with the default limits and with small ones, or fails with a proxy/JSON error
 *      and a message, leaving the arena exactly as it was.
 *   2. A loaded table uses no more than proxy_table_bytes(limits), is the same size when
 *      loaded again, and loading it with one allocation failing at a few positions gives
 *      either the same table size or -ERR_ARENA_FULL with the arena rolled back.
 *   3. Its structure holds together (indices in range, frontends in priority order, servers
 *      grouped by backend, lookups by name find every object), a few requests route on every
 *      entry point, and every backend answers picks through proxy_lb.
 * Any violation calls abort().
 */
#include "base/base_err.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_lb.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(c)                \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

#define NTOK 16384
static json_tok toks_[NTOK];
static unsigned char *mem_;
static size_t memcap_;
static _Alignas(16) unsigned char lbmem_[1 << 20];

static bool known_error(int rc)
{
	return rc == -ERR_PROXY_CONFIG || rc == -ERR_PROXY_VERSION || rc == -ERR_PROXY_RULE ||
	       (rc <= -ERR_PROXY_ENTRYPOINTS_FULL && rc >= -ERR_PROXY_LIST_TOO_LONG) ||
	       rc == -ERR_JSON_PARSE || rc == -ERR_JSON_DEPTH || rc == -ERR_JSON_DUP_KEY ||
	       rc == -ERR_JSON_TOO_MANY_TOKENS;
}

static int load(const char *doc, size_t len, const struct proxy_limits *lim, struct arena *a,
		const struct proxy_table **t)
{
	struct proxy_cfg_err err;
	size_t before = a->used;
	int rc = proxy_table_load(doc, len, lim, a, toks_, NTOK, t, &err);
	if (rc < 0) {
		ASSERT(err.msg[0] != 0 && *t == NULL);
		ASSERT(a->used == before && a->err == 0);
	}
	return rc;
}

static void check_table(const struct proxy_table *t)
{
	for (uint32_t i = 0; i < t->nfe; i++) {
		const struct proxy_frontend *f = &t->fe[i];
		ASSERT(f->backend < t->nbe && f->ep_mask != 0);
		ASSERT(t->nep == 64 || (f->ep_mask >> t->nep) == 0);
		ASSERT(proxy_table_frontend(t, f->name) == (int)i);
		if (i > 0)
			ASSERT(t->fe[i - 1].priority >= f->priority);
		ASSERT(f->rule.strip < (int32_t)f->rule.nm);
		for (uint32_t k = 0; k < f->nerrors; k++)
			ASSERT(f->errors[k].backend < t->nbe);
		ASSERT(f->redirect.entrypoint < (int32_t)t->nep);
	}
	uint32_t next = 0;
	for (uint32_t b = 0; b < t->nbe; b++) {
		ASSERT(t->be[b].first_server == next);
		next += t->be[b].nservers;
		ASSERT(proxy_table_backend(t, t->be[b].name) == (int)b);
		for (uint32_t s = t->be[b].first_server; s < next; s++)
			ASSERT(t->srv[s].backend == b && t->srv[s].weight >= 1 && t->srv[s].port);
		if (t->be[b].sticky)
			ASSERT(t->be[b].cookie_name.len > 0);
	}
	ASSERT(next == t->nsrv);
	for (uint32_t e = 0; e < t->nep; e++) {
		ASSERT(proxy_table_entrypoint(t, t->ep[e].name) == (int)e);
		for (uint32_t k = 0; k < t->ep[e].nfe_order; k++)
			ASSERT(t->ep[e].fe_order[k] < t->nfe);
	}
}

static void exercise(const struct proxy_table *t)
{
	static const char *hosts[] = {"www.example.com", "a.com:8080", "[::1]", ""};
	static const char *paths[] = {"/", "/api/v1/x", "/%61pi", ""};
	for (uint32_t e = 0; e < t->nep; e++)
		for (size_t h = 0; h < 4; h++) {
			struct proxy_req_view v = {SLICE_LIT("GET"),
						   slice_from_cstr(hosts[h]),
						   slice_from_cstr(paths[h]),
						   SLICE_LIT("q=1"),
						   NULL,
						   0};
			struct proxy_match m;
			int rc = proxy_table_match(t, e, &v, &m);
			ASSERT(rc == 0 || rc == -ERR_NOTFOUND);
			if (rc == 0)
				ASSERT(m.fe < t->nfe && m.be == t->fe[m.fe].backend &&
				       ((t->fe[m.fe].ep_mask >> e) & 1));
		}
	struct proxy_lb lb;
	struct arena a;
	static const uint8_t seed[16];
	arena_init(&a, lbmem_, sizeof lbmem_);
	if (proxy_lb_bytes(t, 64) > sizeof lbmem_)
		return;
	ASSERT(proxy_lb_init(&lb, t, &a, 64, seed) == 0);
	for (uint32_t b = 0; b < t->nbe; b++)
		for (int k = 0; k < 3; k++) {
			struct proxy_lb_pick p;
			int rc = proxy_lb_pick(&lb, b, SLICE_LIT("http://10.0.0.1"), &p);
			if (t->be[b].nservers == 0) {
				ASSERT(rc == -ERR_PROXY_NO_SERVER);
				continue;
			}
			ASSERT(rc == 0 && t->srv[p.srv].backend == b);
			char cookie[PROXY_COOKIE_MAX];
			if (p.set_cookie)
				ASSERT(proxy_lb_cookie(t, p.srv, cookie, sizeof cookie) > 0 ||
				       t->srv[p.srv].url.len > 400);
			proxy_lb_done(&lb, p.srv, 100, k != 1);
			uint64_t ref;
			int ac = proxy_lb_conn_acquire(&lb, b, SLICE_LIT("k"), &ref);
			ASSERT(ac == 0 || ac == -ERR_PROXY_MAXCONN);
			proxy_lb_conn_release(&lb, ref);
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_limits lim, small;
	const struct proxy_table *t;
	struct arena a;
	if (size > (1u << 20))
		return 0;
	if (!mem_) {
		memcap_ = 32u << 20;
		mem_ = malloc(memcap_);
	}
	char *doc = malloc(size ? size : 1);
	memcpy(doc, data, size);
	proxy_limits_default(&lim);
	lim.max_tokens = NTOK;

	arena_init(&a, mem_, memcap_);
	int rc = load(doc, size, &lim, &a, &t);
	ASSERT(rc == 0 || known_error(rc) || rc == -ERR_ARENA_FULL);
	ASSERT(rc != -ERR_ARENA_FULL || proxy_table_bytes(&lim) > memcap_);
	if (rc == 0) {
		size_t bytes = t->bytes;
		ASSERT(bytes == a.used && bytes <= proxy_table_bytes(&lim));
		check_table(t);
		exercise(t);
		/* Deterministic, and faults roll back. */
		arena_init(&a, mem_, memcap_);
		ASSERT(load(doc, size, &lim, &a, &t) == 0 && t->bytes == bytes);
		for (long n = 1; n < 200; n *= 3) {
			arena_init(&a, mem_, memcap_);
			a.fail_after = n;
			int frc = load(doc, size, &lim, &a, &t);
			ASSERT(frc == 0 || frc == -ERR_ARENA_FULL);
			if (frc == 0)
				ASSERT(t->bytes == bytes);
		}
	}
	/* Small limits: every cap is reachable. */
	small = lim;
	small.max_entrypoints = 2;
	small.max_frontends = 3;
	small.max_backends = 3;
	small.max_servers = 4;
	small.max_routes = 4;
	small.max_rule_bytes = 40;
	small.max_matchers = 6;
	small.max_regex_insts = 64;
	small.max_certs = 1;
	small.max_list_items = 6;
	small.max_tokens = 256;
	small.max_cert_bytes = 2048;
	small.max_doc_bytes = 4096;
	arena_init(&a, mem_, memcap_);
	rc = load(doc, size, &small, &a, &t);
	ASSERT(rc == 0 || known_error(rc));
	if (rc == 0) {
		ASSERT(t->bytes <= proxy_table_bytes(&small));
		check_table(t);
	}
	free(doc);
	return 0;
}
