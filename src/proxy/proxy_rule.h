/* proxy_rule.h — Traefik v1 frontend rules: parser, matcher, path modifiers, and the small
 * regular-expression engine behind their {name:regexp} templates.
 *
 * Contract
 *   Pure functions over caller memory: compiling writes only into the caller's arena, matching
 *   and rewriting write only into caller buffers; nothing is global, nothing does I/O, nothing
 *   calls malloc. A compiled rule is immutable and may be shared by any number of readers.
 *
 * Rule grammar (docs/internals/proxy-routing.md §2 has the full table)
 *   rule     = matcher *( ";" matcher )          ";" = AND; empty pieces are skipped
 *   matcher  = name ":" value *( "," value )     "," = OR (AND for Headers/Query, see below)
 *   Names are case-insensitive: Host, HostRegexp, Path, PathStrip, PathStripRegex, PathPrefix,
 *   PathPrefixStrip, PathPrefixStripRegex, Method, Headers, HeadersRegexp, Query; modifiers
 *   AddPrefix, ReplacePath, ReplacePathRegex. Spaces around names and values are trimmed.
 *   "," and ";" inside {...} do not split, so {id:[0-9]{1,3}} survives. Several route strings
 *   compiled together are ANDed, as Traefik v1 does for a frontend's routes.
 *
 *   Host, HostRegexp, Path*, and Query values are gorilla/mux templates: literal text with
 *   {name:regexp} (or {name}, meaning [^.]+ in hosts, [^/]+ in paths, .* in query values)
 *   pieces; the whole value is matched (PathPrefix: a prefix of the path). Host matching is
 *   case-insensitive and ignores the request's port unless the value names one; a trailing
 *   dot on the request host is ignored. Path matching is done on the percent-decoded path (as
 *   Go's URL.Path), while lengths and rewritten paths are in the raw form the request carried.
 *
 * Regular expressions (RE2 syntax subset, compiled to a Thompson NFA and run as a Pike VM:
 * time O(program size x input length), no backtracking, memory fixed by PROXY_RE_MAX_INSTS)
 *   literals, ".", [a-z0-9-] and [^...] classes (with \d \w \s inside), \d \D \w \W \s \S,
 *   escaped punctuation, \t \n \r \f \v \xHH, ^ $ \A \z, groups (...) (?:...) (?P<name>...),
 *   alternation |, quantifiers * + ? {m} {m,} {m,n} (m, n <= PROXY_RE_MAX_REPEAT) and their
 *   lazy forms. Refused with a message: backreferences, \b \B, \p{..}, [[:alpha:]], flags
 *   (?i), nested quantifiers (a**), more than PROXY_RE_MAX_CLASSES distinct classes or
 *   PROXY_RE_MAX_DEPTH nested groups, programs over max_insts instructions.
 *
 * Errors: compile functions return 0 or
 *   -ERR_PROXY_RULE         bad syntax or unsupported construct (message in err)
 *   -ERR_PROXY_RULE_TOO_LONG a route string over max_rule_bytes
 *   -ERR_PROXY_REGEX_TOO_BIG a program over max_insts (or PROXY_RE_MAX_INSTS)
 *   -ERR_ARENA_FULL         the caller's arena is spent (arena->err latched)
 */
#ifndef PROXY_RULE_H
#define PROXY_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_arena.h"
#include "base/base_slice.h"
#include "http/http_parse.h"

/* ---- regular expressions ---------------------------------------------------------------- */

#define PROXY_RE_MAX_INSTS 1024    /* hard ceiling of one program (matching workspace size) */
#define PROXY_RE_MAX_CLASSES 64    /* distinct character classes in one program */
#define PROXY_RE_MAX_REPEAT 100    /* largest m or n in {m,n} */
#define PROXY_RE_MAX_DEPTH 32      /* nested groups */
#define PROXY_RE_MAX_SRC 1024      /* pattern bytes */
#define PROXY_RE_MAX_GROUPS 10     /* $0..$9: capture slots kept by capture programs */
#define PROXY_RE_CAP_MAX_INSTS 512 /* ceiling of a capture program (struct proxy_re_work) */

/* compile flags */
enum {
	PROXY_RE_FOLD = 1u << 0,    /* case-insensitive: the matcher lowercases its input */
	PROXY_RE_CAPTURE = 1u << 1, /* keep capture groups (for replacements) */
};

/* One VM instruction (private layout; exposed for sizing). */
struct proxy_re_inst {
	uint8_t op;
	uint8_t arg;
	uint16_t x;
	uint16_t y;
};

/* A compiled program: one arena allocation holding this header, the instructions, the class
 * bitmaps and the group names. Immutable. */
struct proxy_re {
	const struct proxy_re_inst *inst;
	const uint8_t (*cls)[32];
	const struct slice *names; /* ngroups entries; empty slice for unnamed groups */
	uint16_t ninst;
	uint16_t ncls;
	uint8_t ngroups; /* capture groups kept, group 0 (the whole match) included */
	uint8_t flags;   /* PROXY_RE_* */
};

/* Workspace of the capture VM: used by proxy_re_replace and ReplacePathRegex rewrites. About
 * 90 KiB; the engine keeps one per worker (never on a small stack). Contents are scratch. */
struct proxy_re_work {
	uint16_t list[2][PROXY_RE_CAP_MAX_INSTS];
	int32_t caps[2][PROXY_RE_CAP_MAX_INSTS][2 * PROXY_RE_MAX_GROUPS];
	uint32_t mark[PROXY_RE_CAP_MAX_INSTS];
	struct {
		uint16_t pc;
		uint16_t slot;
		int32_t old;
	} stack[2 * PROXY_RE_CAP_MAX_INSTS + 2];
	int32_t tmp[2 * PROXY_RE_MAX_GROUPS];
	uint32_t gen;
};

/* Compile an RE2-syntax pattern (see the top comment). max_insts caps the program (it is also
 * limited by PROXY_RE_MAX_INSTS, and by PROXY_RE_CAP_MAX_INSTS with PROXY_RE_CAPTURE). The
 * program lives in the arena; err (errcap bytes, may be 0) receives a message on failure.
 * On failure nothing usable is returned (the arena may hold dead bytes). */
int proxy_re_compile(struct slice pattern, unsigned flags, uint32_t max_insts, struct arena *a,
		     const struct proxy_re **out, char *err, size_t errcap);

/* true when the whole of s matches (with PROXY_RE_FOLD, s is lowercased as it is read). */
bool proxy_re_full(const struct proxy_re *re, struct slice s);
/* true when some substring of s matches (RE2 MatchString). */
bool proxy_re_search(const struct proxy_re *re, struct slice s);
/* Length of the leftmost-first match anchored at the start of s, or -1. */
long proxy_re_prefix(const struct proxy_re *re, struct slice s);

/* Go's Regexp.ReplaceAllString: every non-overlapping match in `in` (leftmost-first; an empty
 * match right after the previous match is skipped) is replaced by `repl` with $1, ${1},
 * $name, ${name} expanded ($$ is a dollar; "$1x" names group "1x", which is empty — write
 * ${1}x). Needs a PROXY_RE_CAPTURE program. Writes to out[0..cap) and returns the length, or
 * -ERR_BUF_FULL, -ERR_INVAL (not a capture program). If nothing matched, out holds `in`. */
long proxy_re_replace(const struct proxy_re *re, struct slice in, struct slice repl,
		      struct proxy_re_work *w, char *out, size_t cap);

/* ---- rules ------------------------------------------------------------------------------ */

enum proxy_mt {
	PROXY_MT_METHOD = 1,
	PROXY_MT_HOST,        /* Host, HostRegexp */
	PROXY_MT_PATH,        /* Path, PathStrip, PathStripRegex: the whole path */
	PROXY_MT_PATH_PREFIX, /* PathPrefix, PathPrefixStrip, PathPrefixStripRegex */
	PROXY_MT_HEADERS,     /* Headers: key,value pairs, all required */
	PROXY_MT_HEADERS_RE, /* HeadersRegexp: key,regexp pairs (unanchored search), all required */
	PROXY_MT_QUERY,      /* Query: key=value pairs, all required */
};

/* One value of a matcher. */
struct proxy_mval {
	struct slice key;          /* Headers/Query: the field name / query key */
	struct slice lit;          /* literal form: hosts lowercased, methods uppercased */
	const struct proxy_re *re; /* template or regexp; NULL: compare lit */
	struct slice pre, suf;     /* template: literal text before the first and after the last
				    * {...} (hosts lowercased), checked before running re */
	uint32_t hash;             /* Host literal: hash of lit (proxy_host_hash) */
	uint8_t any;               /* Headers/Query: presence of key is enough */
	uint8_t with_port;         /* Host: the value names a port; compare host:port */
};

struct proxy_matcher {
	uint8_t type;  /* enum proxy_mt */
	uint8_t strip; /* PathStrip/PathPrefixStrip(Regex): the matched prefix is removed */
	uint8_t all;   /* 1: every value must match (Headers, HeadersRegexp, Query); 0: any */
	uint8_t route; /* index of the route string it came from (capped at 255) */
	uint32_t nval;
	const struct proxy_mval *val;
	struct slice name; /* the matcher name as written (for logs) */
};

/* A compiled frontend rule: every route ANDed. Immutable once compiled. */
struct proxy_rule {
	const struct proxy_matcher *m; /* cheapest first: Method, Host, Path, ..., regexps */
	uint32_t nm;
	int32_t strip;                 /* index in m of the strip matcher, -1 when none */
	struct slice add_prefix;       /* AddPrefix value; .p NULL when absent */
	struct slice replace_path;     /* ReplacePath value; .p NULL when absent */
	const struct proxy_re *rpr_re; /* ReplacePathRegex pattern (capture program) or NULL */
	struct slice rpr_repl;         /* ... and its replacement */
	uint32_t text_len;             /* sum of the route strings' lengths: the default priority */
	uint32_t nval;                 /* values over all matchers (counts toward max_matchers) */
	uint32_t ninsts; /* instructions over all programs (counts toward max_regex_insts) */
	uint32_t nregex; /* programs compiled */
};

struct proxy_rule_opts {
	uint32_t max_rule_bytes; /* per route string: -ERR_PROXY_RULE_TOO_LONG */
	uint32_t max_insts;      /* per program (<= PROXY_RE_MAX_INSTS): -ERR_PROXY_REGEX_TOO_BIG */
};

struct proxy_rule_err {
	uint32_t route; /* index of the route string at fault */
	char msg[160];  /* e.g. unknown matcher "Hots" */
};

/* Compile routes[0..n) (n >= 1) into *out. The route strings are borrowed: they must outlive
 * the rule (the table keeps them in its own memory). Everything else goes to the arena. On
 * failure *err says which route and why, and *out must not be used. */
int proxy_rule_compile(const struct slice *routes, size_t n, const struct proxy_rule_opts *opts,
		       struct arena *a, struct proxy_rule *out, struct proxy_rule_err *err);

/* ---- requests ---------------------------------------------------------------------------- */

/* What the matcher looks at; every slice is borrowed from the engine's request buffer. */
struct proxy_req_view {
	struct slice method; /* case-sensitive token ("GET") */
	struct slice host;   /* Host header or absolute-form authority, port included if sent */
	struct slice path;   /* raw path as received, before any "?" (empty counts as "/") */
	struct slice query;  /* raw query after "?", without it; empty if none */
	const struct http_header *hdr; /* the request's fields (http_parse output) */
	size_t nhdr;
};

/* Per-request derived data, computed once by proxy_req_prepare and shared by every rule
 * tried for that request. */
struct proxy_req_ctx {
	const struct proxy_req_view *v;
	struct slice host;      /* port and trailing dot removed, case kept */
	struct slice host_port; /* trailing dot removed, port kept */
	struct slice path;      /* v->path, or "/" when empty */
	uint32_t host_hash;     /* proxy_host_hash(host) */
	uint32_t host_port_hash;
};

void proxy_req_prepare(struct proxy_req_ctx *c, const struct proxy_req_view *v);
/* Only what proxy_rule_rewrite reads (v and path; the host fields are left empty): for a
 * rewrite after the match, without hashing the host again. Not for proxy_rule_match. */
void proxy_req_prepare_path(struct proxy_req_ctx *c, const struct proxy_req_view *v);

/* FNV-1a of the lowercased bytes: the hash stored for Host literals. */
uint32_t proxy_host_hash(struct slice s);

/* What a match found that the rewrite needs. */
struct proxy_rule_hit {
	uint32_t strip_len; /* raw bytes at the start of the path removed by the strip matcher */
	bool strip;         /* a strip matcher matched */
};

/* true when every matcher matches. hit may be NULL. No allocation; stack use ~14 KiB for a
 * regexp program (the NFA thread lists). */
bool proxy_rule_match(const struct proxy_rule *r, const struct proxy_req_ctx *c,
		      struct proxy_rule_hit *hit);

/* The result of the modifiers (docs/internals/proxy-routing.md §3). Slices point into the
 * request path, the rule (table memory) or `out`. */
struct proxy_rewrite {
	struct slice path;             /* path to forward (raw form, no query); when changed, it
					* starts with '/' */
	struct slice forwarded_prefix; /* X-Forwarded-Prefix value; .p NULL: do not send */
	struct slice replaced_path;    /* X-Replaced-Path value; .p NULL: do not send */
	bool changed;                  /* path differs from the request's */
};

/* Apply the rule's modifiers in Traefik v1's fixed order — strip, AddPrefix, ReplacePath,
 * ReplacePathRegex — to the request path (ctx->path, the only field of ctx read, so
 * proxy_req_prepare_path is enough) after a match that filled hit. out
 * (cap bytes) receives the paths that had to be built; w is needed only when the rule has a
 * ReplacePathRegex (else may be NULL). 0, -ERR_BUF_FULL (out too small: answer 414 or 500),
 * -ERR_INVAL (w missing). */
int proxy_rule_rewrite(const struct proxy_rule *r, const struct proxy_rule_hit *hit,
		       const struct proxy_req_ctx *c, char *out, size_t cap,
		       struct proxy_re_work *w, struct proxy_rewrite *rw);

#endif
