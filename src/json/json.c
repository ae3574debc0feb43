/* json.c — see json.h for the contract and docs/internals/json.md for the design.
 *
 * This is the only translation unit that includes <jsmn.h>. It is built with
 *   JSMN_STATIC        the tokenizer's functions are private to this file;
 *   JSMN_PARENT_LINKS  jsmn closes brackets by walking parent links (O(depth)) instead of
 *                      scanning backwards over every earlier token, and each token gets a fifth
 *                      field, which json_parse reuses once jsmn is done (see link_subtrees);
 * and without JSMN_STRICT: strict mode still accepts missing commas and colons, yet refuses a
 * number as the whole document (it wants a delimiter after every primitive). Strictness comes
 * from our own grammar check (scan_doc), which runs first, so jsmn only ever sees valid RFC
 * 8259 text, where its lenient and strict modes build the same tokens.
 *
 * Memory: the caller's token array, a few hundred bytes of stack (bounded by JSON_MAX_DEPTH),
 * nothing else. The token array is only ever accessed through jsmntok_t lvalues here; json.h
 * explains why that is a compatible type with the caller's json_tok.
 */
#include "json/json.h"

#include "base/base_err.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_PARENT_LINKS
#include <jsmn.h>

_Static_assert(sizeof(json_tok) == sizeof(jsmntok_t), "json_tok must mirror jsmntok_t");
_Static_assert(offsetof(json_tok, type) == offsetof(jsmntok_t, type), "json_tok.type");
_Static_assert(offsetof(json_tok, start) == offsetof(jsmntok_t, start), "json_tok.start");
_Static_assert(offsetof(json_tok, end) == offsetof(jsmntok_t, end), "json_tok.end");
_Static_assert(offsetof(json_tok, size) == offsetof(jsmntok_t, size), "json_tok.size");
_Static_assert(offsetof(json_tok, parent) == offsetof(jsmntok_t, parent), "json_tok.parent");
_Static_assert(_Generic((jsmntype_t)0, unsigned int : 1, default : 0),
	       "jsmntype_t must be compatible with unsigned int (json_tok.type)");
_Static_assert(JSON_MAX_DEPTH <= 64, "scan_doc keeps one bit per level in a uint64_t");

/* ---- grammar check (RFC 8259) ------------------------------------------------------------ */

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int hex_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_high_surrogate(uint32_t u)
{
	return u >= 0xd800 && u <= 0xdbff;
}

static bool is_low_surrogate(uint32_t u)
{
	return u >= 0xdc00 && u <= 0xdfff;
}

int json_utf8_seq(const uint8_t *p, size_t n)
{
	assert(n >= 1);
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	unsigned need;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
	} else if (c == 0xe0) {
		need = 2;
		lo = 0xa0; /* no overlongs */
	} else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
		need = 2;
	} else if (c == 0xed) {
		need = 2;
		hi = 0x9f; /* no UTF-16 surrogates */
	} else if (c == 0xf0) {
		need = 3;
		lo = 0x90; /* no overlongs */
	} else if (c >= 0xf1 && c <= 0xf3) {
		need = 3;
	} else if (c == 0xf4) {
		need = 3;
		hi = 0x8f; /* nothing above U+10FFFF */
	} else {
		return -1; /* 80..c1, f5..ff never start a sequence */
	}
	for (unsigned k = 1; k <= need; k++) {
		if (k == n)
			return 0;
		if (p[k] < lo || p[k] > hi)
			return -(int)k;
		lo = 0x80;
		hi = 0xbf;
	}
	return (int)need + 1;
}

static size_t skip_ws(const unsigned char *p, size_t len, size_t i)
{
	while (i < len && is_ws(p[i]))
		i++;
	return i;
}

/* Four hex digits at p[i..i+4) into *out; -ERR_PARTIAL if the text ends first. */
static int scan_hex4(const unsigned char *p, size_t len, size_t *pos, uint32_t *out)
{
	uint32_t v = 0;
	size_t i = *pos;

	for (int k = 0; k < 4; k++, i++) {
		if (i == len)
			return -ERR_PARTIAL;
		int d = hex_val(p[i]);
		if (d < 0) {
			*pos = i;
			return -ERR_JSON_PARSE;
		}
		v = (v << 4) | (uint32_t)d;
	}
	*pos = i;
	*out = v;
	return 0;
}

/* One escape at p[*pos] == '\\'. A high surrogate must be followed by an escaped low one;
 * a low surrogate on its own is rejected. On error *pos is left at the offending byte. */
static int scan_escape(const unsigned char *p, size_t len, size_t *pos)
{
	size_t i = *pos + 1;
	uint32_t u, lo;
	int rc;

	if (i == len)
		return -ERR_PARTIAL;
	switch (p[i]) {
	case '"':
	case '\\':
	case '/':
	case 'b':
	case 'f':
	case 'n':
	case 'r':
	case 't': *pos = i + 1; return 0;
	case 'u': break;
	default: *pos = i; return -ERR_JSON_PARSE;
	}
	i++;
	rc = scan_hex4(p, len, &i, &u);
	if (rc < 0)
		goto out;
	if (is_low_surrogate(u)) {
		rc = -ERR_JSON_PARSE;
		goto out;
	}
	if (is_high_surrogate(u)) {
		if (i == len || (p[i] == '\\' && i + 1 == len)) {
			rc = -ERR_PARTIAL;
			goto out;
		}
		if (p[i] != '\\' || p[i + 1] != 'u') {
			rc = -ERR_JSON_PARSE;
			goto out;
		}
		i += 2;
		rc = scan_hex4(p, len, &i, &lo);
		if (rc < 0)
			goto out;
		if (!is_low_surrogate(lo)) {
			rc = -ERR_JSON_PARSE;
			goto out;
		}
	}
out:
	*pos = i;
	return rc;
}

/* A string starting at the quote p[*pos]; *pos ends past the closing quote. */
static int scan_string(const unsigned char *p, size_t len, size_t *pos)
{
	size_t i = *pos + 1;
	int rc;

	for (;;) {
		if (i == len) {
			*pos = i;
			return -ERR_PARTIAL;
		}
		unsigned char c = p[i];
		if (c == '"')
			break;
		if (c < 0x20) {
			*pos = i;
			return -ERR_JSON_PARSE;
		}
		if (c == '\\') {
			rc = scan_escape(p, len, &i);
			if (rc < 0) {
				*pos = i;
				return rc;
			}
			continue;
		}
		if (c < 0x80) {
			i++;
			continue;
		}
		rc = json_utf8_seq(p + i, len - i);
		if (rc <= 0) {
			*pos = i;
			return rc == 0 ? -ERR_PARTIAL : -ERR_JSON_PARSE;
		}
		i += (size_t)rc;
	}
	*pos = i + 1;
	return 0;
}

/* -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? starting at p[*pos]. What may follow is
 * the caller's business ("01" is a number "0" followed by a stray "1"). */
static int scan_number(const unsigned char *p, size_t len, size_t *pos)
{
	size_t i = *pos;
	int rc = 0;

	if (p[i] == '-' && ++i == len)
		goto partial;
	if (p[i] == '0') {
		i++;
	} else if (is_digit(p[i])) {
		while (i < len && is_digit(p[i]))
			i++;
	} else {
		goto bad;
	}
	if (i < len && p[i] == '.') {
		if (++i == len)
			goto partial;
		if (!is_digit(p[i]))
			goto bad;
		while (i < len && is_digit(p[i]))
			i++;
	}
	if (i < len && (p[i] == 'e' || p[i] == 'E')) {
		if (++i == len)
			goto partial;
		if ((p[i] == '+' || p[i] == '-') && ++i == len)
			goto partial;
		if (!is_digit(p[i]))
			goto bad;
		while (i < len && is_digit(p[i]))
			i++;
	}
	goto out;
partial:
	rc = -ERR_PARTIAL;
	goto out;
bad:
	rc = -ERR_JSON_PARSE;
out:
	*pos = i;
	return rc;
}

static int scan_literal(const unsigned char *p, size_t len, size_t *pos, const char *lit)
{
	size_t i = *pos;

	for (; *lit; lit++, i++) {
		if (i == len) {
			*pos = i;
			return -ERR_PARTIAL;
		}
		if (p[i] != (unsigned char)*lit) {
			*pos = i;
			return -ERR_JSON_PARSE;
		}
	}
	*pos = i;
	return 0;
}

static int scan_scalar(const unsigned char *p, size_t len, size_t *pos)
{
	unsigned char c = p[*pos];

	if (c == '"')
		return scan_string(p, len, pos);
	if (c == '-' || is_digit(c))
		return scan_number(p, len, pos);
	if (c == 't')
		return scan_literal(p, len, pos, "true");
	if (c == 'f')
		return scan_literal(p, len, pos, "false");
	if (c == 'n')
		return scan_literal(p, len, pos, "null");
	return -ERR_JSON_PARSE;
}

struct scan_result {
	size_t ntok;    /* tokens the document needs */
	int depth;      /* deepest nesting seen */
	size_t err_off; /* where the error was found */
	size_t over_at; /* offset of token number `cap` + 1 (0-based: index cap), if any */
};

/* The whole grammar, iteratively: one bit per open container (set = object) and a state for
 * what may come next. No recursion, so stack use does not depend on the input. */
static int scan_doc(const char *buf, size_t len, size_t cap, struct scan_result *res)
{
	const unsigned char *p = (const unsigned char *)buf;
	enum { S_VALUE, S_KEY, S_AFTER } st = S_VALUE;
	uint64_t objs = 0;
	size_t i = 0, ntok = 0;
	int depth = 0, rc = 0;

	res->depth = 0;
	res->over_at = 0;
	for (;;) {
		i = skip_ws(p, len, i);
		if (i == len) {
			if (st == S_AFTER && depth == 0)
				break;
			rc = -ERR_PARTIAL;
			goto out;
		}
		unsigned char c = p[i];
		switch (st) {
		case S_KEY:
			if (c != '"') {
				rc = -ERR_JSON_PARSE;
				goto out;
			}
			if (ntok++ == cap)
				res->over_at = i;
			rc = scan_string(p, len, &i);
			if (rc < 0)
				goto out;
			i = skip_ws(p, len, i);
			if (i == len) {
				rc = -ERR_PARTIAL;
				goto out;
			}
			if (p[i] != ':') {
				rc = -ERR_JSON_PARSE;
				goto out;
			}
			i++;
			st = S_VALUE;
			break;
		case S_VALUE:
			if (ntok++ == cap)
				res->over_at = i;
			if (c != '{' && c != '[') {
				rc = scan_scalar(p, len, &i);
				if (rc < 0)
					goto out;
				st = S_AFTER;
				break;
			}
			if (depth == JSON_MAX_DEPTH) {
				rc = -ERR_JSON_DEPTH;
				goto out;
			}
			if (c == '{')
				objs |= (uint64_t)1 << depth;
			else
				objs &= ~((uint64_t)1 << depth);
			depth++;
			if (depth > res->depth)
				res->depth = depth;
			i = skip_ws(p, len, i + 1);
			if (i == len) {
				rc = -ERR_PARTIAL;
				goto out;
			}
			if (p[i] == (c == '{' ? '}' : ']')) {
				i++;
				depth--;
				st = S_AFTER;
			} else {
				st = c == '{' ? S_KEY : S_VALUE;
			}
			break;
		case S_AFTER: {
			if (depth == 0) {
				rc = -ERR_JSON_PARSE; /* bytes after the root value */
				goto out;
			}
			bool obj = (objs >> (depth - 1)) & 1;
			if (c == ',') {
				i++;
				st = obj ? S_KEY : S_VALUE;
			} else if (c == (obj ? '}' : ']')) {
				i++;
				depth--;
			} else {
				rc = -ERR_JSON_PARSE;
				goto out;
			}
			break;
		}
		}
	}
	res->ntok = ntok;
out:
	res->err_off = i;
	return rc;
}

int json_validate(const char *buf, size_t len, int *depth)
{
	struct scan_result res;

	if (len > JSON_MAX_LEN)
		return -ERR_TOO_LARGE;
	int rc = scan_doc(buf, len, SIZE_MAX, &res);
	if (rc < 0)
		return rc;
	if (depth)
		*depth = res.depth;
	return (int)res.ntok;
}

/* ---- string decoding --------------------------------------------------------------------- */

static unsigned utf8_encode(uint32_t cp, unsigned char out[4])
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | (cp >> 18));
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

static bool read_hex4(const unsigned char *p, size_t n, uint32_t *out)
{
	uint32_t v = 0;

	if (n < 4)
		return false;
	for (int k = 0; k < 4; k++) {
		int d = hex_val(p[k]);
		if (d < 0)
			return false;
		v = (v << 4) | (uint32_t)d;
	}
	*out = v;
	return true;
}

/* Decode the escape at p[0] == '\\' (n bytes available) into UTF-8 in out; *used gets the
 * escape's length. Returns the number of UTF-8 bytes, or 0 for an invalid escape or a lone
 * surrogate: json_parse never lets one through, so 0 here means a corrupted doc. */
static unsigned decode_escape(const unsigned char *p, size_t n, unsigned char out[4], size_t *used)
{
	uint32_t cp, lo;

	if (n < 2)
		return 0;
	*used = 2;
	switch (p[1]) {
	case '"': out[0] = '"'; return 1;
	case '\\': out[0] = '\\'; return 1;
	case '/': out[0] = '/'; return 1;
	case 'b': out[0] = '\b'; return 1;
	case 'f': out[0] = '\f'; return 1;
	case 'n': out[0] = '\n'; return 1;
	case 'r': out[0] = '\r'; return 1;
	case 't': out[0] = '\t'; return 1;
	case 'u': break;
	default: return 0;
	}
	if (!read_hex4(p + 2, n - 2, &cp))
		return 0;
	*used = 6;
	if (is_low_surrogate(cp))
		return 0;
	if (is_high_surrogate(cp)) {
		if (n < 12 || p[6] != '\\' || p[7] != 'u' || !read_hex4(p + 8, n - 8, &lo) ||
		    !is_low_surrogate(lo))
			return 0;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		*used = 12;
	}
	return utf8_encode(cp, out);
}

/* Byte-at-a-time reader of a string token's unescaped value. */
struct str_rd {
	const unsigned char *p; /* raw contents, between the quotes */
	size_t i, n;
	unsigned char pend[4]; /* rest of an escape's UTF-8 bytes */
	unsigned ipend, npend;
};

static void rd_init(struct str_rd *r, const char *buf, const jsmntok_t *tk)
{
	r->p = (const unsigned char *)buf + tk->start;
	r->i = 0;
	r->n = (size_t)(tk->end - tk->start);
	r->ipend = r->npend = 0;
}

/* Next byte of the value, -1 at its end, -2 on a corrupted escape. */
static int rd_next(struct str_rd *r)
{
	size_t used;

	if (r->ipend < r->npend)
		return r->pend[r->ipend++];
	if (r->i == r->n)
		return -1;
	if (r->p[r->i] != '\\')
		return r->p[r->i++];
	r->npend = decode_escape(r->p + r->i, r->n - r->i, r->pend, &used);
	if (r->npend == 0)
		return -2;
	r->i += used;
	r->ipend = 1;
	return r->pend[0];
}

static bool has_escape(const char *buf, const jsmntok_t *tk)
{
	return memchr(buf + tk->start, '\\', (size_t)(tk->end - tk->start)) != NULL;
}

/* Order two string tokens by their unescaped bytes (unsigned), like memcmp then length. */
static int str_cmp(const char *buf, const jsmntok_t *a, const jsmntok_t *b)
{
	struct str_rd ra, rb;

	if (!has_escape(buf, a) && !has_escape(buf, b)) {
		size_t na = (size_t)(a->end - a->start), nb = (size_t)(b->end - b->start);
		int c = memcmp(buf + a->start, buf + b->start, na < nb ? na : nb);
		if (c != 0)
			return c < 0 ? -1 : 1;
		return na < nb ? -1 : na > nb;
	}
	rd_init(&ra, buf, a);
	rd_init(&rb, buf, b);
	for (;;) {
		int ca = rd_next(&ra), cb = rd_next(&rb);
		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (ca < 0)
			return 0;
	}
}

/* ---- tokens ------------------------------------------------------------------------------ */

static const jsmntok_t *tok_at(const struct json_doc *doc, int t)
{
	assert(t >= 0 && t < doc->ntok);
	return (const jsmntok_t *)(const void *)doc->toks + t;
}

/* After json_parse, the field jsmn used for parent links holds the index one past the token's
 * subtree: the next sibling, or the end of the parent's children. For a key, the subtree
 * includes its value, so this is the next key. */
static int tok_next(const jsmntok_t *tk)
{
	return tk->parent;
}

/* Replace parent links by subtree ends, in one pass over the tokens in document order. A
 * token with size > 0 (a non-empty container, or a key, whose size is 1) opens a subtree that
 * closes when its last child's subtree does. Open subtrees alternate container/key, so at most
 * 2 * JSON_MAX_DEPTH are open at once. */
static void link_subtrees(jsmntok_t *jt, int n)
{
	struct {
		int tok;
		int left; /* children not yet started */
	} open[2 * JSON_MAX_DEPTH];
	int sp = 0;

	for (int i = 0; i < n; i++) {
		if (sp > 0)
			open[sp - 1].left--;
		if (jt[i].size > 0) {
			assert(sp < (int)(sizeof open / sizeof open[0]));
			open[sp].tok = i;
			open[sp].left = jt[i].size;
			sp++;
			continue;
		}
		jt[i].parent = i + 1;
		while (sp > 0 && open[sp - 1].left == 0) {
			jt[open[sp - 1].tok].parent = i + 1;
			sp--;
		}
	}
	assert(sp == 0);
}

/* Duplicate keys. The keys of one object are sorted by unescaped value with a bottom-up merge
 * sort on a list linked through their `size` field (always 1 for a key, restored afterwards),
 * then equal neighbours are looked for: O(k log k) for k keys, O(1) extra memory, no worst case
 * an attacker can pick. Returns the token of a duplicate key, or -1. */
static int key_merge(const char *buf, jsmntok_t *jt, int a, int b, int *dup)
{
	int head = -1, *tail = &head;

	while (a >= 0 && b >= 0) {
		int c = str_cmp(buf, &jt[a], &jt[b]);
		if (c == 0 && *dup < 0)
			*dup = a > b ? a : b;
		if (c <= 0) {
			*tail = a;
			tail = &jt[a].size;
			a = jt[a].size;
		} else {
			*tail = b;
			tail = &jt[b].size;
			b = jt[b].size;
		}
	}
	*tail = a >= 0 ? a : b;
	return head;
}

static int object_find_dup(const char *buf, jsmntok_t *jt, int obj)
{
	int bins[32]; /* bins[b]: sorted list of 2^b keys, or -1 */
	int end = tok_next(&jt[obj]), dup = -1, list = -1, b, k;

	for (b = 0; b < 32; b++)
		bins[b] = -1;
	for (k = obj + 1; k < end && dup < 0; k = tok_next(&jt[k])) {
		int carry = k;
		jt[k].size = -1;
		for (b = 0; b < 31 && bins[b] >= 0; b++) {
			carry = key_merge(buf, jt, bins[b], carry, &dup);
			bins[b] = -1;
		}
		bins[b] = carry; /* b < 31: fewer than 2^31 keys */
	}
	for (b = 0; b < 32 && dup < 0; b++)
		if (bins[b] >= 0)
			list = key_merge(buf, jt, bins[b], list, &dup);
	for (k = list; dup < 0 && k >= 0 && jt[k].size >= 0; k = jt[k].size)
		if (str_cmp(buf, &jt[k], &jt[jt[k].size]) == 0)
			dup = k > jt[k].size ? k : jt[k].size;
	for (k = obj + 1; k < end; k = tok_next(&jt[k]))
		jt[k].size = 1;
	return dup;
}

int json_parse(struct json_doc *doc, const char *buf, size_t len, json_tok *toks, size_t cap)
{
	struct scan_result res;
	jsmn_parser jp;
	jsmntok_t *jt = (jsmntok_t *)(void *)toks;
	int n, rc;

	doc->buf = buf;
	doc->len = len;
	doc->toks = toks;
	doc->ntok = 0;
	doc->err_off = 0;
	if (len > JSON_MAX_LEN)
		return -ERR_TOO_LARGE;
	rc = scan_doc(buf, len, cap, &res);
	if (rc < 0) {
		doc->err_off = res.err_off;
		return rc;
	}
	if (res.ntok > cap) {
		doc->err_off = res.over_at;
		return -ERR_JSON_TOO_MANY_TOKENS;
	}
	n = (int)res.ntok; /* <= len <= INT_MAX */
	jsmn_init(&jp);
	rc = jsmn_parse(&jp, buf, len, jt, (unsigned)n);
	/* The text passed scan_doc; jsmn must agree on every valid document. */
	assert(rc == n);
	if (rc != n) {
		doc->err_off = jp.pos;
		return -ERR_JSON_PARSE;
	}
	link_subtrees(jt, n);
	for (int i = 0; i < n; i++) {
		if (jt[i].type != JSMN_OBJECT || jt[i].size < 2)
			continue;
		int dup = object_find_dup(buf, jt, i);
		if (dup >= 0) {
			doc->err_off = (size_t)jt[dup].start - 1; /* its opening quote */
			return -ERR_JSON_DUP_KEY;
		}
	}
	doc->ntok = n;
	return n;
}

/* ---- lookups ----------------------------------------------------------------------------- */

enum json_type json_typeof(const struct json_doc *doc, int t)
{
	if (t < 0)
		return JSON_NONE;
	const jsmntok_t *tk = tok_at(doc, t);
	switch (tk->type) {
	case JSMN_OBJECT: return JSON_OBJECT;
	case JSMN_ARRAY: return JSON_ARRAY;
	case JSMN_STRING: return JSON_STRING;
	default: break;
	}
	switch (doc->buf[tk->start]) {
	case 't':
	case 'f': return JSON_BOOL;
	case 'n': return JSON_NULL;
	default: return JSON_NUMBER;
	}
}

int json_len(const struct json_doc *doc, int t)
{
	if (t < 0)
		return t;
	const jsmntok_t *tk = tok_at(doc, t);
	if (tk->type != JSMN_OBJECT && tk->type != JSMN_ARRAY)
		return -ERR_JSON_TYPE;
	return tk->size;
}

struct slice json_raw(const struct json_doc *doc, int t)
{
	if (t < 0)
		return (struct slice){NULL, 0};
	const jsmntok_t *tk = tok_at(doc, t);
	return (struct slice){doc->buf + tk->start, (size_t)(tk->end - tk->start)};
}

bool json_str_eq_slice(const struct json_doc *doc, int t, struct slice s)
{
	if (t < 0)
		return false;
	const jsmntok_t *tk = tok_at(doc, t);
	if (tk->type != JSMN_STRING)
		return false;
	size_t n = (size_t)(tk->end - tk->start);
	if (!has_escape(doc->buf, tk))
		return n == s.len && (n == 0 || memcmp(doc->buf + tk->start, s.p, n) == 0);
	if (n < s.len)
		return false; /* unescaping only shrinks */
	struct str_rd r;
	rd_init(&r, doc->buf, tk);
	for (size_t i = 0; i < s.len; i++)
		if (rd_next(&r) != (unsigned char)s.p[i])
			return false;
	return rd_next(&r) == -1;
}

bool json_str_eq(const struct json_doc *doc, int t, const char *lit)
{
	return json_str_eq_slice(doc, t, slice_from_cstr(lit));
}

int json_obj_get_slice(const struct json_doc *doc, int obj, struct slice key)
{
	if (obj < 0)
		return obj;
	const jsmntok_t *tk = tok_at(doc, obj);
	if (tk->type != JSMN_OBJECT)
		return -ERR_JSON_TYPE;
	int end = tok_next(tk);
	for (int k = obj + 1; k < end; k = tok_next(tok_at(doc, k)))
		if (json_str_eq_slice(doc, k, key))
			return k + 1;
	return -ERR_NOTFOUND;
}

int json_obj_get(const struct json_doc *doc, int obj, const char *key)
{
	return json_obj_get_slice(doc, obj, slice_from_cstr(key));
}

int json_arr_get(const struct json_doc *doc, int arr, size_t idx)
{
	if (arr < 0)
		return arr;
	const jsmntok_t *tk = tok_at(doc, arr);
	if (tk->type != JSMN_ARRAY)
		return -ERR_JSON_TYPE;
	if (idx >= (size_t)tk->size)
		return -ERR_NOTFOUND;
	int e = arr + 1;
	while (idx--)
		e = tok_next(tok_at(doc, e));
	return e;
}

/* One path step: a key in an object, a decimal index in an array. */
static int path_step(const struct json_doc *doc, int t, struct slice seg)
{
	uint64_t idx;

	switch (json_typeof(doc, t)) {
	case JSON_OBJECT: return json_obj_get_slice(doc, t, seg);
	case JSON_ARRAY: {
		int rc = slice_to_u64(seg, UINT64_MAX, &idx);
		if (rc == -ERR_RANGE)
			return -ERR_NOTFOUND;
		if (rc < 0)
			return -ERR_JSON_TYPE;
		if (idx > SIZE_MAX)
			return -ERR_NOTFOUND;
		return json_arr_get(doc, t, (size_t)idx);
	}
	default: return -ERR_JSON_TYPE;
	}
}

int json_get_path(const struct json_doc *doc, int from, const char *path)
{
	struct slice all = slice_from_cstr(path), rest, seg;
	int t = from;

	if (t < 0 || all.len == 0)
		return t;
	/* A malformed path is the caller's bug: report it whatever the document holds. */
	if (path[0] == '.' || path[all.len - 1] == '.' || strstr(path, ".."))
		return -ERR_INVAL;
	rest = all;
	do {
		seg = slice_cut(rest, '.', &rest);
		t = path_step(doc, t, seg);
	} while (t >= 0 && rest.p);
	return t;
}

int json_get_keys(const struct json_doc *doc, int from, const char *const *keys, size_t n)
{
	int t = from;

	/* Unlike a path segment, an empty key is fine: "" is a valid member name. */
	for (size_t i = 0; i < n && t >= 0; i++)
		t = path_step(doc, t, slice_from_cstr(keys[i]));
	return t;
}

int json_iter_begin(const struct json_doc *doc, int container, struct json_iter *it)
{
	it->next = it->end = 0;
	it->obj = false;
	if (container < 0)
		return container;
	const jsmntok_t *tk = tok_at(doc, container);
	if (tk->type != JSMN_OBJECT && tk->type != JSMN_ARRAY)
		return -ERR_JSON_TYPE;
	it->next = container + 1;
	it->end = tok_next(tk);
	it->obj = tk->type == JSMN_OBJECT;
	return 0;
}

int json_iter_next(const struct json_doc *doc, struct json_iter *it, int *key)
{
	if (it->next >= it->end) {
		if (key)
			*key = -ERR_NOTFOUND;
		return -ERR_NOTFOUND;
	}
	int k = it->next;
	it->next = tok_next(tok_at(doc, k));
	if (!it->obj) {
		if (key)
			*key = -ERR_NOTFOUND;
		return k;
	}
	if (key)
		*key = k;
	return k + 1;
}

/* ---- typed getters ----------------------------------------------------------------------- */

int json_get_strn(const struct json_doc *doc, int t, char *out, size_t cap)
{
	if (t < 0)
		return t;
	const jsmntok_t *tk = tok_at(doc, t);
	if (tk->type != JSMN_STRING)
		return -ERR_JSON_TYPE;
	const unsigned char *p = (const unsigned char *)doc->buf + tk->start;
	size_t n = (size_t)(tk->end - tk->start), i = 0, o = 0;
	while (i < n) {
		const unsigned char *bs = memchr(p + i, '\\', n - i);
		size_t run = bs ? (size_t)(bs - (p + i)) : n - i;
		if (run > cap - o)
			return -ERR_BUF_FULL;
		if (run)
			memcpy(out + o, p + i, run);
		o += run;
		i += run;
		if (!bs)
			break;
		unsigned char u8[4];
		size_t used;
		unsigned k = decode_escape(p + i, n - i, u8, &used);
		if (k == 0)
			return -ERR_JSON_PARSE; /* unreachable after json_parse */
		if (k > cap - o)
			return -ERR_BUF_FULL;
		memcpy(out + o, u8, k);
		o += k;
		i += used;
	}
	return (int)o;
}

int json_get_str(const struct json_doc *doc, int t, char *out, size_t cap)
{
	if (t < 0)
		return t;
	if (json_typeof(doc, t) != JSON_STRING)
		return -ERR_JSON_TYPE;
	if (cap == 0)
		return -ERR_BUF_FULL;
	int n = json_get_strn(doc, t, out, cap - 1);
	if (n >= 0 && memchr(out, 0, (size_t)n))
		n = -ERR_RANGE;
	out[n >= 0 ? n : 0] = '\0';
	return n;
}

int json_str_len(const struct json_doc *doc, int t)
{
	if (t < 0)
		return t;
	const jsmntok_t *tk = tok_at(doc, t);
	if (tk->type != JSMN_STRING)
		return -ERR_JSON_TYPE;
	if (!has_escape(doc->buf, tk))
		return tk->end - tk->start;
	struct str_rd r;
	int n = 0, c;
	rd_init(&r, doc->buf, tk);
	while ((c = rd_next(&r)) >= 0)
		n++;
	return c == -1 ? n : -ERR_JSON_PARSE;
}

/* The number's text, or -ERR_JSON_TYPE when t is not a number. */
static int number_text(const struct json_doc *doc, int t, struct slice *s)
{
	if (t < 0)
		return t;
	if (json_typeof(doc, t) != JSON_NUMBER)
		return -ERR_JSON_TYPE;
	*s = json_raw(doc, t);
	/* Integers only: the grammar check leaves digits after an optional '-'. */
	if (memchr(s->p, '.', s->len) || memchr(s->p, 'e', s->len) || memchr(s->p, 'E', s->len))
		return 1;
	return 0;
}

/* Magnitude of an integer's digits, at most `max`. */
static int digits_u64(struct slice s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	for (size_t i = 0; i < s.len; i++) {
		unsigned d = (unsigned)(s.p[i] - '0');
		if (v > (max - d) / 10)
			return -ERR_RANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int json_get_int(const struct json_doc *doc, int t, int64_t *out)
{
	struct slice s;
	uint64_t mag;
	int rc = number_text(doc, t, &s);

	if (rc < 0)
		return rc;
	if (rc > 0)
		return -ERR_JSON_TYPE;
	bool neg = s.p[0] == '-';
	s.p += neg;
	s.len -= neg;
	rc = digits_u64(s, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &mag);
	if (rc < 0)
		return rc;
	*out = neg ? (mag == 0 ? 0 : -(int64_t)(mag - 1) - 1) : (int64_t)mag;
	return 0;
}

int json_get_uint(const struct json_doc *doc, int t, uint64_t *out)
{
	struct slice s;
	uint64_t mag;
	int rc = number_text(doc, t, &s);

	if (rc < 0)
		return rc;
	if (rc > 0)
		return -ERR_JSON_TYPE;
	bool neg = s.p[0] == '-';
	s.p += neg;
	s.len -= neg;
	rc = digits_u64(s, UINT64_MAX, &mag);
	if (rc < 0)
		return rc;
	if (neg && mag != 0)
		return -ERR_RANGE;
	*out = mag;
	return 0;
}

int json_get_double(const struct json_doc *doc, int t, double *out)
{
	struct slice s;
	char tmp[JSON_NUM_MAX_LEN + 1];
	char *end;
	int rc = number_text(doc, t, &s);

	if (rc < 0)
		return rc;
	if (s.len > JSON_NUM_MAX_LEN)
		return -ERR_RANGE;
	memcpy(tmp, s.p, s.len);
	tmp[s.len] = '\0';
	/* A JSON number is also a strtod number; the daemon never calls setlocale(), so the
	 * radix character is '.'. */
	errno = 0;
	double v = strtod(tmp, &end);
	if (end != tmp + s.len)
		return -ERR_JSON_PARSE; /* unreachable after json_parse */
	if (errno == ERANGE && isinf(v))
		return -ERR_RANGE;
	*out = v;
	return 0;
}

int json_get_bool(const struct json_doc *doc, int t, bool *out)
{
	if (t < 0)
		return t;
	if (json_typeof(doc, t) != JSON_BOOL)
		return -ERR_JSON_TYPE;
	*out = doc->buf[tok_at(doc, t)->start] == 't';
	return 0;
}

bool json_is_null(const struct json_doc *doc, int t)
{
	return json_typeof(doc, t) == JSON_NULL;
}
