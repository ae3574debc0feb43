/* fuzz_proxy_rule.c — libFuzzer harness for src/proxy/proxy_rule (rule parser, matcher,
 * modifiers) and its regexp engine.
 *
 * Input: lines. Line 1 is a rule (and, separately, a regexp pattern); line 2 the request host,
 * line 3 the path, line 4 the query, line 5 the method, later lines "Name: value" headers.
 * For every input:
 *   1. The rule compiles or fails with a rule error and a message; compiling it again in an
 *      arena that fails every allocation in turn only ever gives -ERR_ARENA_FULL or the same
 *      result.
 *   2. A compiled rule is matched against the request; a match is rewritten, and the results
 *      must be consistent (a stripped prefix is a prefix of the path, the new path is not
 *      empty, X-Replaced-Path set only with a ReplacePath*).
 *   3. Line 1 as a regexp (plain, folded, capture): full => search, a prefix match is within the
 *      input and implies search; replacement output fits and is deterministic.
 * Any violation calls abort(). Time is the engine's problem: the Pike VM is linear, so
 * libFuzzer's timeout catches a regression to backtracking.
 */
#include "base/base_err.h"
#include "proxy/proxy_rule.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(c)                \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static _Alignas(16) unsigned char mem_[1 << 20];
static struct proxy_re_work work_;

static struct slice next_line(struct slice *rest)
{
	struct slice line = slice_cut(*rest, '\n', rest);
	return line;
}

static void fuzz_regexp(struct slice pat, struct slice a, struct slice b)
{
	static const unsigned flags[] = {0, PROXY_RE_FOLD, PROXY_RE_CAPTURE};
	for (size_t k = 0; k < 3; k++) {
		struct arena ar;
		const struct proxy_re *re;
		char err[128];
		arena_init(&ar, mem_, sizeof mem_);
		int rc = proxy_re_compile(pat, flags[k], PROXY_RE_MAX_INSTS, &ar, &re, err,
					  sizeof err);
		if (rc < 0) {
			ASSERT(rc == -ERR_PROXY_RULE || rc == -ERR_PROXY_REGEX_TOO_BIG);
			ASSERT(err[0] != 0);
			continue;
		}
		ASSERT(re->ninst >= 1 && re->ninst <= PROXY_RE_MAX_INSTS);
		ASSERT(re->ncls <= re->ninst);
		for (int which = 0; which < 2; which++) {
			struct slice s = which ? b : a;
			bool full = proxy_re_full(re, s), search = proxy_re_search(re, s);
			long pre = proxy_re_prefix(re, s);
			if (full)
				ASSERT(search);
			if (pre >= 0)
				ASSERT(search && (size_t)pre <= s.len);
			if (flags[k] == PROXY_RE_CAPTURE) {
				static char out1[65536], out2[65536];
				long n1 = proxy_re_replace(re, s, b, &work_, out1, sizeof out1);
				long n2 = proxy_re_replace(re, s, b, &work_, out2, sizeof out2);
				ASSERT(n1 == n2);
				ASSERT(n1 == -ERR_BUF_FULL ||
				       (n1 >= 0 && !memcmp(out1, out2, (size_t)n1)));
				if (!search)
					ASSERT(n1 == (long)s.len &&
					       (s.len == 0 || !memcmp(out1, s.p, s.len)));
				if (n1 > 0) /* one byte short: a clean error */
					ASSERT(proxy_re_replace(re, s, b, &work_, out2,
								(size_t)n1 - 1) == -ERR_BUF_FULL);
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	char *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	struct slice rest = {copy, size};
	struct slice rule = next_line(&rest);
	struct slice host = next_line(&rest), path = next_line(&rest);
	struct slice query = next_line(&rest), method = next_line(&rest);
	struct http_header hdr[8];
	size_t nhdr = 0;
	while (rest.p && nhdr < 8) {
		struct slice line = next_line(&rest), value;
		struct slice name = slice_cut(line, ':', &value);
		hdr[nhdr].name = name;
		hdr[nhdr].value = slice_trim_ows(value);
		hdr[nhdr].id = 0;
		hdr[nhdr].hop = 0;
		nhdr++;
	}

	/* 1. compile */
	struct proxy_rule_opts opts = {1024, PROXY_RE_MAX_INSTS};
	struct proxy_rule r, r2;
	struct proxy_rule_err e, e2;
	struct arena a;
	arena_init(&a, mem_, sizeof mem_);
	int rc = proxy_rule_compile(&rule, 1, &opts, &a, &r, &e);
	ASSERT(rc == 0 || rc == -ERR_PROXY_RULE || rc == -ERR_PROXY_RULE_TOO_LONG ||
	       rc == -ERR_PROXY_REGEX_TOO_BIG);
	ASSERT(rc == 0 || e.msg[0]);
	size_t used = a.used;
	/* Allocation failures at every step: same result or a clean arena error. The copy lives
	 * in the upper half of mem_, so r stays valid. */
	for (long n = 0; n < 12; n++) {
		struct arena fa;
		arena_init(&fa, mem_ + sizeof mem_ / 2, sizeof mem_ / 2);
		fa.fail_after = n;
		int rc2 = proxy_rule_compile(&rule, 1, &opts, &fa, &r2, &e2);
		ASSERT(rc2 == rc || rc2 == -ERR_ARENA_FULL);
		if (rc2 == rc)
			break;
	}
	ASSERT(used <= sizeof mem_ / 2);

	/* 2. match and rewrite */
	if (rc == 0) {
		struct proxy_req_view v = {method, host, path, query, hdr, nhdr};
		struct proxy_req_ctx c;
		struct proxy_rule_hit hit;
		proxy_req_prepare(&c, &v);
		ASSERT(c.path.len > 0);
		if (proxy_rule_match(&r, &c, &hit)) {
			static char out[16384];
			struct proxy_rewrite rw;
			if (hit.strip)
				ASSERT(r.strip >= 0 && hit.strip_len <= c.path.len);
			int wr = proxy_rule_rewrite(&r, &hit, &c, out, sizeof out, &work_, &rw);
			ASSERT(wr == 0 || wr == -ERR_BUF_FULL);
			if (wr == 0) {
				ASSERT(rw.path.len > 0);
				ASSERT(!rw.changed || rw.path.p[0] == '/');
				if (rw.forwarded_prefix.p)
					ASSERT(rw.forwarded_prefix.p == c.path.p &&
					       rw.forwarded_prefix.len <= c.path.len);
				if (rw.replaced_path.p)
					ASSERT(r.replace_path.p || r.rpr_re);
				if (!r.add_prefix.p && !r.replace_path.p && !r.rpr_re && !hit.strip)
					ASSERT(!rw.changed);
			}
		}
	}

	/* 3. the first line as a regexp, against the host and path lines */
	fuzz_regexp(rule, host, path);
	free(copy);
	return 0;
}
