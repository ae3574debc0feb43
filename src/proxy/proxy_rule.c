/* proxy_rule.c — see proxy_rule.h.
 *
 * Layout of this file:
 *   1. regexp parser: pattern text -> AST (n-ary nodes in a bounded array on the stack)
 *   2. code generation: AST -> Thompson NFA program (one arena allocation)
 *   3. Pike VM: full / prefix / search runs without captures (rule matching), and a
 *      capture-keeping search for replacements; inputs can be read raw, percent-decoded or
 *      form-decoded, lowercased on the fly, so no request bytes are copied
 *   4. ReplaceAllString
 *   5. rule parser (Traefik v1 grammar) and templates {name:regexp}
 *   6. matching, 7. rewriting
 *
 * Why a Pike VM: a rule runs on every request with attacker-chosen input, so matching time
 * must be linear in the input whatever the pattern ((a*)*b included). The VM keeps at most one
 * thread per instruction and visits each (instruction, position) pair once: O(ninst x len).
 */
#include "proxy/proxy_rule.h"

#include "base/base_err.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

_Static_assert(PROXY_RE_CAP_MAX_INSTS <= PROXY_RE_MAX_INSTS, "capture ceiling");
_Static_assert(PROXY_RE_MAX_INSTS < 0xffff, "pc fits uint16_t");

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static unsigned char upper(unsigned char c)
{
	return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 32) : c;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void seterr(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t cap, const char *fmt, ...)
{
	if (!err || cap == 0 || err[0])
		return; /* keep the first message */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* ==== 1. regexp parser ===================================================================== */

enum { N_EMPTY, N_CHAR, N_ANY, N_CLASS, N_BOL, N_EOL, N_CAT, N_ALT, N_REP, N_GROUP };

#define REP_INF 0xffff
#define RE_MAX_NODES (2 * PROXY_RE_MAX_SRC + 16)

struct re_node {
	uint8_t type;
	uint8_t greedy;
	uint16_t val; /* N_CHAR byte, N_CLASS index, N_GROUP capture slot pair + 1 (0: none) */
	uint16_t min, max;
	int16_t child; /* first child (CAT, ALT, REP, GROUP), -1 none */
	int16_t next;  /* next sibling, -1 none */
};

struct re_parse {
	const unsigned char *s;
	size_t n, i;
	unsigned flags;
	int depth;
	int nnode;
	int ncls;
	int ngroups; /* capture groups numbered so far (group 0 excluded) */
	int rc;
	char *err;
	size_t errcap;
	struct slice names[PROXY_RE_MAX_GROUPS];
	struct re_node node[RE_MAX_NODES];
	uint8_t cls[PROXY_RE_MAX_CLASSES][32];
};

static int fail(struct re_parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct re_parse *p, const char *fmt, ...)
{
	if (!p->rc) {
		p->rc = -ERR_PROXY_RULE;
		if (p->err && p->errcap && !p->err[0]) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(p->err, p->errcap, fmt, ap);
			va_end(ap);
		}
	}
	return -1;
}

static int new_node(struct re_parse *p, int type)
{
	if (p->nnode >= RE_MAX_NODES)
		return fail(p, "regular expression too complex");
	struct re_node *n = &p->node[p->nnode];
	memset(n, 0, sizeof *n);
	n->type = (uint8_t)type;
	n->child = -1;
	n->next = -1;
	n->greedy = 1;
	return p->nnode++;
}

static int char_node(struct re_parse *p, unsigned char c)
{
	int k = new_node(p, N_CHAR);
	if (k >= 0)
		p->node[k].val = (p->flags & PROXY_RE_FOLD) ? lower(c) : c;
	return k;
}

static void cls_set(uint8_t *b, unsigned c)
{
	b[c >> 3] |= (uint8_t)(1u << (c & 7));
}

static void cls_perl(uint8_t *b, unsigned char kind)
{
	for (unsigned c = 0; c < 256; c++) {
		bool in;
		switch (lower(kind)) {
		case 'd': in = c >= '0' && c <= '9'; break;
		case 'w':
			in = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			     (c >= 'A' && c <= 'Z') || c == '_';
			break;
		default: /* 's': RE2 \s is [\t\n\f\r ] */
			in = c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
			break;
		}
		if (kind >= 'A' && kind <= 'Z')
			in = !in;
		if (in)
			cls_set(b, c);
	}
}

/* Intern a 256-bit class; returns a N_CLASS node. Case folding happens before negation. */
static int class_node(struct re_parse *p, uint8_t *b, bool negate)
{
	if (p->flags & PROXY_RE_FOLD)
		for (unsigned c = 'A'; c <= 'Z'; c++)
			if (b[c >> 3] & (1u << (c & 7)))
				cls_set(b, c + 32);
	if (negate)
		for (int k = 0; k < 32; k++)
			b[k] = (uint8_t)~b[k];
	int idx;
	for (idx = 0; idx < p->ncls; idx++)
		if (memcmp(p->cls[idx], b, 32) == 0)
			break;
	if (idx == p->ncls) {
		if (p->ncls >= PROXY_RE_MAX_CLASSES)
			return fail(p, "more than %d distinct character classes",
				    PROXY_RE_MAX_CLASSES);
		memcpy(p->cls[p->ncls++], b, 32);
	}
	int k = new_node(p, N_CLASS);
	if (k >= 0)
		p->node[k].val = (uint16_t)idx;
	return k;
}

static bool is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Parse the escape after a backslash at p->i (p->i on the escaped byte). Returns the literal
 * byte (>= 0), or -2 for a Perl class (kind in *perl), -3 for \A, -4 for \z, -1 on error. */
static int parse_escape(struct re_parse *p, bool in_class, unsigned char *perl)
{
	if (p->i >= p->n)
		return fail(p, "trailing backslash");
	unsigned char c = p->s[p->i++];
	switch (c) {
	case 'd':
	case 'D':
	case 'w':
	case 'W':
	case 's':
	case 'S': *perl = c; return -2;
	case 't': return '\t';
	case 'n': return '\n';
	case 'r': return '\r';
	case 'f': return '\f';
	case 'v': return '\v';
	case 'a': return '\a';
	case 'x': {
		if (p->i + 2 > p->n || hexval(p->s[p->i]) < 0 || hexval(p->s[p->i + 1]) < 0)
			return fail(p, "\\x needs two hex digits");
		int v = hexval(p->s[p->i]) * 16 + hexval(p->s[p->i + 1]);
		p->i += 2;
		return v;
	}
	case 'A':
		if (in_class)
			break;
		return -3;
	case 'z':
		if (in_class)
			break;
		return -4;
	case 'b':
	case 'B': return fail(p, "word boundaries (\\%c) are not supported", c);
	case 'p':
	case 'P': return fail(p, "Unicode classes (\\%c) are not supported", c);
	case 'Q': return fail(p, "\\Q...\\E is not supported");
	default: break;
	}
	if (c >= '1' && c <= '9')
		return fail(p, "backreferences (\\%c) are not supported", c);
	if (c < 0x80 && !is_alnum(c))
		return c; /* escaped punctuation */
	return fail(p, "unknown escape \\%c", c);
}

/* [...] starting after the '['. */
static int parse_class(struct re_parse *p)
{
	uint8_t b[32] = {0};
	bool negate = false;
	if (p->i < p->n && p->s[p->i] == '^') {
		negate = true;
		p->i++;
	}
	bool first = true;
	for (;;) {
		if (p->i >= p->n)
			return fail(p, "missing ] in character class");
		unsigned char c = p->s[p->i];
		if (c == ']' && !first) {
			p->i++;
			break;
		}
		first = false;
		if (c == '[' && p->i + 1 < p->n && p->s[p->i + 1] == ':')
			return fail(p, "POSIX classes ([:name:]) are not supported");
		int lo;
		p->i++;
		if (c == '\\') {
			unsigned char perl = 0;
			lo = parse_escape(p, true, &perl);
			if (lo == -2) {
				cls_perl(b, perl);
				continue;
			}
			if (lo < 0)
				return -1;
		} else {
			lo = c;
		}
		int hi = lo;
		if (p->i + 1 < p->n && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
			p->i++;
			unsigned char d = p->s[p->i++];
			if (d == '\\') {
				unsigned char perl = 0;
				hi = parse_escape(p, true, &perl);
				if (hi == -2)
					return fail(p, "invalid character class range");
				if (hi < 0)
					return -1;
			} else {
				hi = d;
			}
			if (hi < lo)
				return fail(p, "invalid character class range %c-%c", lo, hi);
		}
		for (int k = lo; k <= hi; k++)
			cls_set(b, (unsigned)k);
	}
	return class_node(p, b, negate);
}

static int parse_alt(struct re_parse *p);

static int parse_group(struct re_parse *p)
{
	int cap = 0; /* 0: non-capturing */
	if (++p->depth > PROXY_RE_MAX_DEPTH)
		return fail(p, "groups nested more than %d deep", PROXY_RE_MAX_DEPTH);
	struct slice name = {0, 0};
	if (p->i < p->n && p->s[p->i] == '?') {
		p->i++;
		if (p->i < p->n && p->s[p->i] == ':') {
			p->i++;
		} else if (p->i + 1 < p->n && p->s[p->i] == 'P' && p->s[p->i + 1] == '<') {
			p->i += 2;
			size_t start = p->i;
			while (p->i < p->n && (is_alnum(p->s[p->i]) || p->s[p->i] == '_'))
				p->i++;
			if (p->i == start || p->i >= p->n || p->s[p->i] != '>')
				return fail(p, "invalid named group");
			name = (struct slice){(const char *)p->s + start, p->i - start};
			p->i++;
			cap = ++p->ngroups;
		} else {
			return fail(p, "group flags (?%c are not supported",
				    p->i < p->n ? p->s[p->i] : ' ');
		}
	} else {
		cap = ++p->ngroups;
	}
	int inner = parse_alt(p);
	if (inner < 0)
		return -1;
	if (p->i >= p->n || p->s[p->i] != ')')
		return fail(p, "missing )");
	p->i++;
	p->depth--;
	int k = new_node(p, N_GROUP);
	if (k < 0)
		return -1;
	p->node[k].child = (int16_t)inner;
	if (cap > 0 && cap < PROXY_RE_MAX_GROUPS && (p->flags & PROXY_RE_CAPTURE)) {
		p->node[k].val = (uint16_t)(cap + 1);
		p->names[cap] = name;
	}
	return k;
}

static int parse_atom(struct re_parse *p)
{
	unsigned char c = p->s[p->i++];
	switch (c) {
	case '(': return parse_group(p);
	case '[': return parse_class(p);
	case '.': return new_node(p, N_ANY);
	case '^': return new_node(p, N_BOL);
	case '$': return new_node(p, N_EOL);
	case '*':
	case '+':
	case '?': return fail(p, "missing argument to repetition operator %c", c);
	case '\\': {
		unsigned char perl = 0;
		int v = parse_escape(p, false, &perl);
		if (v == -2) {
			uint8_t b[32] = {0};
			cls_perl(b, perl);
			return class_node(p, b, false);
		}
		if (v == -3)
			return new_node(p, N_BOL);
		if (v == -4)
			return new_node(p, N_EOL);
		if (v < 0)
			return -1;
		return char_node(p, (unsigned char)v);
	}
	default: return char_node(p, c);
	}
}

/* {m}, {m,}, {m,n} at p->i (on the '{'). Returns 1 and sets min/max, or 0 (not a repeat:
 * the '{' is then a literal, as in RE2), or -1 on error. */
static int parse_braces(struct re_parse *p, unsigned *min, unsigned *max)
{
	size_t i = p->i + 1;
	unsigned a = 0, b;
	size_t d = i;
	while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9' && i - d < 5)
		a = a * 10 + (unsigned)(p->s[i++] - '0');
	if (i == d)
		return 0;
	if (i < p->n && p->s[i] == '}') {
		b = a;
	} else if (i < p->n && p->s[i] == ',') {
		i++;
		d = i;
		b = 0;
		while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9' && i - d < 5)
			b = b * 10 + (unsigned)(p->s[i++] - '0');
		if (i == d)
			b = REP_INF;
		if (i >= p->n || p->s[i] != '}')
			return 0;
	} else {
		return 0;
	}
	p->i = i + 1;
	if (a > PROXY_RE_MAX_REPEAT || (b != REP_INF && b > PROXY_RE_MAX_REPEAT))
		return fail(p, "repetition count over %d", PROXY_RE_MAX_REPEAT);
	if (b < a)
		return fail(p, "invalid repetition {%u,%u}", a, b);
	*min = a;
	*max = b;
	return 1;
}

static int parse_rep(struct re_parse *p)
{
	int atom = parse_atom(p);
	if (atom < 0)
		return -1;
	bool repeated = false;
	while (p->i < p->n) {
		unsigned char c = p->s[p->i];
		unsigned min = 0, max = 0;
		if (c == '*') {
			min = 0, max = REP_INF;
			p->i++;
		} else if (c == '+') {
			min = 1, max = REP_INF;
			p->i++;
		} else if (c == '?') {
			min = 0, max = 1;
			p->i++;
		} else if (c == '{') {
			int r = parse_braces(p, &min, &max);
			if (r < 0)
				return -1;
			if (r == 0)
				break;
		} else {
			break;
		}
		if (repeated)
			return fail(p, "nested repetition operator");
		repeated = true;
		int k = new_node(p, N_REP);
		if (k < 0)
			return -1;
		p->node[k].min = (uint16_t)min;
		p->node[k].max = (uint16_t)max;
		p->node[k].child = (int16_t)atom;
		if (p->i < p->n && p->s[p->i] == '?') {
			p->node[k].greedy = 0;
			p->i++;
		}
		atom = k;
	}
	return atom;
}

static int parse_cat(struct re_parse *p)
{
	int first = -1, last = -1, count = 0;
	while (p->i < p->n && p->s[p->i] != '|' && p->s[p->i] != ')') {
		int k = parse_rep(p);
		if (k < 0)
			return -1;
		if (first < 0)
			first = k;
		else
			p->node[last].next = (int16_t)k;
		last = k;
		count++;
	}
	if (count == 0)
		return new_node(p, N_EMPTY);
	if (count == 1)
		return first;
	int cat = new_node(p, N_CAT);
	if (cat >= 0)
		p->node[cat].child = (int16_t)first;
	return cat;
}

static int parse_alt(struct re_parse *p)
{
	int first = parse_cat(p);
	if (first < 0 || p->i >= p->n || p->s[p->i] != '|')
		return first;
	int last = first;
	while (p->i < p->n && p->s[p->i] == '|') {
		p->i++;
		int k = parse_cat(p);
		if (k < 0)
			return -1;
		p->node[last].next = (int16_t)k;
		last = k;
	}
	int alt = new_node(p, N_ALT);
	if (alt >= 0)
		p->node[alt].child = (int16_t)first;
	return alt;
}

/* Parse a whole pattern p->s[p->i..p->n). */
static int parse_pattern(struct re_parse *p)
{
	int root = parse_alt(p);
	if (root >= 0 && p->i < p->n)
		return fail(p, "unexpected )");
	return root;
}

/* ==== 2. code generation ==================================================================== */

enum { OP_CHAR = 1, OP_ANY, OP_CLASS, OP_BOL, OP_EOL, OP_SPLIT, OP_JMP, OP_SAVE, OP_MATCH };
#define NO_PC 0xffffu

/* Instructions node k needs, saturated at `cap`. */
static uint64_t node_size(const struct re_parse *p, int k, uint64_t cap)
{
	const struct re_node *n = &p->node[k];
	uint64_t s = 0, c;
	int ch;
	switch (n->type) {
	case N_EMPTY: return 0;
	case N_CHAR:
	case N_ANY:
	case N_CLASS:
	case N_BOL:
	case N_EOL: return 1;
	case N_CAT:
		for (ch = n->child; ch >= 0; ch = p->node[ch].next)
			if ((s += node_size(p, ch, cap)) > cap)
				return cap + 1;
		return s;
	case N_ALT:
		for (ch = n->child; ch >= 0; ch = p->node[ch].next) {
			s += node_size(p, ch, cap);
			if (p->node[ch].next >= 0)
				s += 2;
			if (s > cap)
				return cap + 1;
		}
		return s;
	case N_GROUP:
		s = node_size(p, n->child, cap) + (n->val ? 2 : 0);
		return s > cap ? cap + 1 : s;
	case N_REP:
		c = node_size(p, n->child, cap);
		s = (uint64_t)n->min * c;
		if (n->max == REP_INF)
			s += c + 2;
		else
			s += (uint64_t)(n->max - n->min) * (c + 1);
		return s > cap ? cap + 1 : s;
	}
	return cap + 1;
}

struct re_emit {
	const struct re_parse *p;
	struct proxy_re_inst *code;
	unsigned pc;
};

static unsigned emit(struct re_emit *e, int op, unsigned arg, unsigned x, unsigned y)
{
	struct proxy_re_inst *in = &e->code[e->pc];
	in->op = (uint8_t)op;
	in->arg = (uint8_t)arg;
	in->x = (uint16_t)x;
	in->y = (uint16_t)y;
	return e->pc++;
}

static void gen(struct re_emit *e, int k)
{
	const struct re_node *n = &e->p->node[k];
	int ch;
	unsigned a, b;
	switch (n->type) {
	case N_EMPTY: break;
	case N_CHAR: emit(e, OP_CHAR, n->val, 0, 0); break;
	case N_ANY: emit(e, OP_ANY, 0, 0, 0); break;
	case N_CLASS: emit(e, OP_CLASS, 0, n->val, 0); break;
	case N_BOL: emit(e, OP_BOL, 0, 0, 0); break;
	case N_EOL: emit(e, OP_EOL, 0, 0, 0); break;
	case N_CAT:
		for (ch = n->child; ch >= 0; ch = e->p->node[ch].next)
			gen(e, ch);
		break;
	case N_ALT: {
		/* SPLIT L1, next; L1: alt1; JMP end; next: SPLIT L2, next2; ... altN; end:
		 * The JMPs to patch are chained through their x field (no array: gen recurses). */
		unsigned chain = NO_PC;
		for (ch = n->child; ch >= 0; ch = e->p->node[ch].next) {
			if (e->p->node[ch].next >= 0) {
				a = emit(e, OP_SPLIT, 0, 0, 0);
				e->code[a].x = (uint16_t)e->pc;
				gen(e, ch);
				chain = emit(e, OP_JMP, 0, chain, 0);
				e->code[a].y = (uint16_t)e->pc;
			} else {
				gen(e, ch);
			}
		}
		while (chain != NO_PC) {
			unsigned prev = e->code[chain].x;
			e->code[chain].x = (uint16_t)e->pc;
			chain = prev;
		}
		break;
	}
	case N_GROUP:
		if (n->val)
			emit(e, OP_SAVE, 2u * (n->val - 1), 0, 0);
		gen(e, n->child);
		if (n->val)
			emit(e, OP_SAVE, 2u * (n->val - 1) + 1, 0, 0);
		break;
	case N_REP:
		for (unsigned r = 0; r < n->min; r++)
			gen(e, n->child);
		if (n->max == REP_INF) {
			/* L1: SPLIT L2, L3; L2: body; JMP L1; L3: (lazy: SPLIT L3, L2) */
			a = emit(e, OP_SPLIT, 0, 0, 0);
			gen(e, n->child);
			emit(e, OP_JMP, 0, a, 0);
			b = e->pc;
			e->code[a].x = (uint16_t)(n->greedy ? a + 1 : b);
			e->code[a].y = (uint16_t)(n->greedy ? b : a + 1);
		} else {
			/* (body(body(...)?)?)? : every optional copy may jump to the end. The
			 * SPLITs to patch are chained through y. */
			unsigned chain = NO_PC;
			for (unsigned r = n->min; r < n->max; r++) {
				chain = emit(e, OP_SPLIT, 0, 0, chain);
				gen(e, n->child);
			}
			while (chain != NO_PC) {
				unsigned prev = e->code[chain].y;
				e->code[chain].x = (uint16_t)(n->greedy ? chain + 1 : e->pc);
				e->code[chain].y = (uint16_t)(n->greedy ? e->pc : chain + 1);
				chain = prev;
			}
		}
		break;
	}
}

/* Turn a parsed AST into a program in the arena. */
static int re_finish(struct re_parse *p, int root, uint32_t max_insts, struct arena *a,
		     const struct proxy_re **out)
{
	uint32_t ceiling =
		(p->flags & PROXY_RE_CAPTURE) ? PROXY_RE_CAP_MAX_INSTS : PROXY_RE_MAX_INSTS;
	if (max_insts == 0 || max_insts > ceiling)
		max_insts = ceiling;
	bool caps = (p->flags & PROXY_RE_CAPTURE) != 0;
	uint64_t need = node_size(p, root, max_insts) + 1 + (caps ? 2 : 0);
	if (need > max_insts) {
		seterr(p->err, p->errcap, "regular expression needs more than %u instructions",
		       (unsigned)max_insts);
		return -ERR_PROXY_REGEX_TOO_BIG;
	}
	int ngroups =
		caps ? (p->ngroups + 1 < PROXY_RE_MAX_GROUPS ? p->ngroups + 1 : PROXY_RE_MAX_GROUPS)
		     : 0;
	/* Emit into a scratch array first, then keep only the classes the code uses (a class
	 * under {0} emits nothing), so a program never holds more classes than instructions. */
	struct proxy_re_inst tmp[PROXY_RE_MAX_INSTS];
	struct re_emit e = {p, tmp, 0};
	if (caps)
		emit(&e, OP_SAVE, 0, 0, 0);
	gen(&e, root);
	if (caps)
		emit(&e, OP_SAVE, 1, 0, 0);
	emit(&e, OP_MATCH, 0, 0, 0);
	assert(e.pc == need);
	uint16_t remap[PROXY_RE_MAX_CLASSES];
	int nused = 0;
	for (int k = 0; k < p->ncls; k++)
		remap[k] = 0xffff;
	for (unsigned pc = 0; pc < need; pc++)
		if (tmp[pc].op == OP_CLASS) {
			if (remap[tmp[pc].x] == 0xffff)
				remap[tmp[pc].x] = (uint16_t)nused++;
			tmp[pc].x = remap[tmp[pc].x];
		}
	size_t bytes = sizeof(struct proxy_re) + need * sizeof(struct proxy_re_inst);
	bytes = (bytes + 7) & ~(size_t)7;
	size_t cls_off = bytes;
	bytes += (size_t)nused * 32;
	size_t names_off = bytes;
	bytes += (size_t)ngroups * sizeof(struct slice);
	unsigned char *mem = arena_alloc(a, bytes);
	if (!mem) {
		seterr(p->err, p->errcap, "arena full");
		return -ERR_ARENA_FULL;
	}
	struct proxy_re *re = (struct proxy_re *)mem;
	struct proxy_re_inst *code = (struct proxy_re_inst *)(mem + sizeof *re);
	uint8_t(*cls)[32] = (uint8_t(*)[32])(mem + cls_off);
	struct slice *names = (struct slice *)(mem + names_off);
	memcpy(code, tmp, need * sizeof *code);
	for (int k = 0; k < p->ncls; k++)
		if (remap[k] != 0xffff)
			memcpy(cls[remap[k]], p->cls[k], 32);
	for (int g = 0; g < ngroups; g++)
		names[g] = p->names[g];
	re->inst = code;
	re->cls = (const uint8_t(*)[32])cls;
	re->names = names;
	re->ninst = (uint16_t)need;
	re->ncls = (uint16_t)nused;
	re->ngroups = (uint8_t)ngroups;
	re->flags = (uint8_t)p->flags;
	*out = re;
	return 0;
}

static void parse_init(struct re_parse *p, struct slice s, unsigned flags, char *err, size_t errcap)
{
	p->s = (const unsigned char *)s.p;
	p->n = s.len;
	p->i = 0;
	p->flags = flags;
	p->depth = 0;
	p->nnode = 0;
	p->ncls = 0;
	p->ngroups = 0;
	p->rc = 0;
	p->err = err;
	p->errcap = errcap;
	memset(p->names, 0, sizeof p->names);
}

int proxy_re_compile(struct slice pattern, unsigned flags, uint32_t max_insts, struct arena *a,
		     const struct proxy_re **out, char *err, size_t errcap)
{
	struct re_parse p;
	if (err && errcap)
		err[0] = 0;
	if (pattern.len > PROXY_RE_MAX_SRC) {
		seterr(err, errcap, "regular expression longer than %d bytes", PROXY_RE_MAX_SRC);
		return -ERR_PROXY_REGEX_TOO_BIG;
	}
	parse_init(&p, pattern, flags, err, errcap);
	int root = parse_pattern(&p);
	if (root < 0)
		return p.rc ? p.rc : -ERR_PROXY_RULE;
	return re_finish(&p, root, max_insts, a, out);
}

/* ==== 3. Pike VM ============================================================================ */

enum { IN_RAW = 0, IN_PCT, IN_FORM };

struct re_input {
	const unsigned char *p;
	size_t n;
	uint8_t mode; /* IN_* */
	uint8_t fold; /* lowercase every byte read */
};

/* The byte at raw offset i (i < n) and the offset after it. */
static inline unsigned in_byte(const struct re_input *in, size_t i, size_t *next)
{
	unsigned c = in->p[i];
	*next = i + 1;
	if (in->mode != IN_RAW) {
		if (c == '%' && i + 2 < in->n && hexval(in->p[i + 1]) >= 0 &&
		    hexval(in->p[i + 2]) >= 0) {
			c = (unsigned)(hexval(in->p[i + 1]) * 16 + hexval(in->p[i + 2]));
			*next = i + 3;
		} else if (c == '+' && in->mode == IN_FORM) {
			c = ' ';
		}
	}
	return in->fold ? lower((unsigned char)c) : c;
}

static inline bool cls_has(const struct proxy_re *re, unsigned k, unsigned c)
{
	return (re->cls[k][c >> 3] >> (c & 7)) & 1;
}

/* Does instruction pc (a consuming one) accept byte c? */
static inline bool inst_accepts(const struct proxy_re *re, const struct proxy_re_inst *in,
				unsigned c)
{
	switch (in->op) {
	case OP_CHAR: return in->arg == c;
	case OP_ANY: return c != '\n';
	case OP_CLASS: return cls_has(re, in->x, c);
	default: return false;
	}
}

enum { RUN_FULL, RUN_PREFIX, RUN_SEARCH };

/* Workspace of the capture-less VM: about 14 KiB, on the caller's stack. */
struct re_nc {
	uint16_t list[2][PROXY_RE_MAX_INSTS];
	uint32_t mark[PROXY_RE_MAX_INSTS];
	uint16_t stack[2 * PROXY_RE_MAX_INSTS + 2];
	uint32_t gen;
};

/* Add pc and its epsilon closure at a position to list l (priority order kept). */
static void nc_add(const struct proxy_re *re, struct re_nc *w, uint16_t *l, unsigned *cnt,
		   unsigned pc, bool at_start, bool at_end)
{
	unsigned sp = 0;
	w->stack[sp++] = (uint16_t)pc;
	while (sp) {
		pc = w->stack[--sp];
		if (w->mark[pc] == w->gen)
			continue;
		w->mark[pc] = w->gen;
		const struct proxy_re_inst *in = &re->inst[pc];
		switch (in->op) {
		case OP_JMP: w->stack[sp++] = in->x; break;
		case OP_SPLIT:
			w->stack[sp++] = in->y;
			w->stack[sp++] = in->x;
			break;
		case OP_SAVE: w->stack[sp++] = (uint16_t)(pc + 1); break;
		case OP_BOL:
			if (at_start)
				w->stack[sp++] = (uint16_t)(pc + 1);
			break;
		case OP_EOL:
			if (at_end)
				w->stack[sp++] = (uint16_t)(pc + 1);
			break;
		default: l[(*cnt)++] = (uint16_t)pc; break;
		}
	}
}

/* FULL: 1 when the whole input matches, else -1. PREFIX: raw length of the leftmost-first
 * match anchored at 0, else -1. SEARCH: 1 when a match exists anywhere, else -1. */
static long nc_run(const struct proxy_re *re, const struct re_input *in, int how)
{
	struct re_nc w;
	unsigned cnt[2] = {0, 0}, cur = 0;
	long found = -1;
	size_t i = 0, next = 0;

	memset(w.mark, 0, re->ninst * sizeof w.mark[0]);
	w.gen = 1;
	nc_add(re, &w, w.list[cur], &cnt[cur], 0, true, in->n == 0);
	for (;;) {
		bool at_end = i >= in->n;
		unsigned c = at_end ? 0 : in_byte(in, i, &next);
		unsigned nx = cur ^ 1;
		cnt[nx] = 0;
		w.gen++;
		for (unsigned k = 0; k < cnt[cur]; k++) {
			unsigned pc = w.list[cur][k];
			const struct proxy_re_inst *op = &re->inst[pc];
			if (op->op == OP_MATCH) {
				if (how == RUN_SEARCH)
					return 1;
				if (how == RUN_FULL) {
					if (at_end)
						return 1;
					continue;
				}
				found = (long)i; /* PREFIX: cut lower-priority threads */
				break;
			}
			if (!at_end && inst_accepts(re, op, c))
				nc_add(re, &w, w.list[nx], &cnt[nx], pc + 1u, false, next >= in->n);
		}
		if (at_end)
			break;
		if (how == RUN_SEARCH)
			nc_add(re, &w, w.list[nx], &cnt[nx], 0, false, next >= in->n);
		cur = nx;
		i = next;
		if (cnt[cur] == 0 && how != RUN_SEARCH)
			break; /* (a search adds a fresh thread at every position) */
	}
	return found;
}

bool proxy_re_full(const struct proxy_re *re, struct slice s)
{
	struct re_input in = {(const unsigned char *)s.p, s.len, IN_RAW, re->flags & PROXY_RE_FOLD};
	return nc_run(re, &in, RUN_FULL) >= 0;
}

bool proxy_re_search(const struct proxy_re *re, struct slice s)
{
	struct re_input in = {(const unsigned char *)s.p, s.len, IN_RAW, re->flags & PROXY_RE_FOLD};
	return nc_run(re, &in, RUN_SEARCH) >= 0;
}

long proxy_re_prefix(const struct proxy_re *re, struct slice s)
{
	struct re_input in = {(const unsigned char *)s.p, s.len, IN_RAW, re->flags & PROXY_RE_FOLD};
	return nc_run(re, &in, RUN_PREFIX);
}

/* Capture VM: add pc's closure with capture slots; tmp holds the thread's slots and is
 * restored on the way back (restore frames on the same stack). */
static void cap_add(const struct proxy_re *re, struct proxy_re_work *w, unsigned l, unsigned *cnt,
		    unsigned pc, size_t pos, bool at_start, bool at_end)
{
	unsigned sp = 0, nslot = 2u * re->ngroups;
	w->stack[sp].pc = (uint16_t)pc;
	w->stack[sp++].slot = 0xffff;
	while (sp) {
		sp--;
		if (w->stack[sp].slot != 0xffff) {
			w->tmp[w->stack[sp].slot] = w->stack[sp].old;
			continue;
		}
		pc = w->stack[sp].pc;
		if (w->mark[pc] == w->gen)
			continue;
		w->mark[pc] = w->gen;
		const struct proxy_re_inst *in = &re->inst[pc];
		unsigned push[2], np = 0;
		switch (in->op) {
		case OP_JMP: push[np++] = in->x; break;
		case OP_SPLIT:
			push[np++] = in->y;
			push[np++] = in->x;
			break;
		case OP_SAVE:
			if (in->arg < nslot) {
				w->stack[sp].slot = in->arg;
				w->stack[sp++].old = w->tmp[in->arg];
				w->tmp[in->arg] = (int32_t)pos;
			}
			push[np++] = pc + 1;
			break;
		case OP_BOL:
			if (at_start)
				push[np++] = pc + 1;
			break;
		case OP_EOL:
			if (at_end)
				push[np++] = pc + 1;
			break;
		default:
			w->list[l][*cnt] = (uint16_t)pc;
			memcpy(w->caps[l][*cnt], w->tmp, nslot * sizeof(int32_t));
			(*cnt)++;
			break;
		}
		for (unsigned k = 0; k < np; k++) {
			w->stack[sp].pc = (uint16_t)push[k];
			w->stack[sp++].slot = 0xffff;
		}
	}
}

/* Leftmost-first search from raw offset `from`; slots (2 * ngroups) filled on a match. */
static bool cap_search(const struct proxy_re *re, const struct re_input *in, size_t from,
		       struct proxy_re_work *w, int32_t *slots)
{
	unsigned cnt[2] = {0, 0}, cur = 0, nslot = 2u * re->ngroups;
	bool matched = false;
	size_t i = from, next = from;

	memset(w->mark, 0, re->ninst * sizeof w->mark[0]);
	w->gen = 1;
	for (unsigned s = 0; s < nslot; s++)
		w->tmp[s] = -1;
	cap_add(re, w, cur, &cnt[cur], 0, i, i == 0, i >= in->n);
	for (;;) {
		bool at_end = i >= in->n;
		unsigned c = at_end ? 0 : in_byte(in, i, &next);
		unsigned nx = cur ^ 1;
		cnt[nx] = 0;
		w->gen++;
		for (unsigned k = 0; k < cnt[cur]; k++) {
			unsigned pc = w->list[cur][k];
			const struct proxy_re_inst *op = &re->inst[pc];
			if (op->op == OP_MATCH) {
				matched = true;
				memcpy(slots, w->caps[cur][k], nslot * sizeof(int32_t));
				break;
			}
			if (!at_end && inst_accepts(re, op, c)) {
				memcpy(w->tmp, w->caps[cur][k], nslot * sizeof(int32_t));
				cap_add(re, w, nx, &cnt[nx], pc + 1u, next, false, next >= in->n);
			}
		}
		if (at_end)
			break;
		if (!matched) {
			for (unsigned s = 0; s < nslot; s++)
				w->tmp[s] = -1;
			cap_add(re, w, nx, &cnt[nx], 0, next, false, next >= in->n);
		}
		cur = nx;
		i = next;
		if (cnt[cur] == 0 && matched)
			break;
	}
	return matched;
}

/* ==== 4. ReplaceAllString =================================================================== */

struct out_buf {
	char *p;
	size_t len, cap;
	bool full;
};

static void out_put(struct out_buf *o, const void *s, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = true;
		return;
	}
	if (n)
		memcpy(o->p + o->len, s, n);
	o->len += n;
}

/* n bytes at base + off; base may be NULL when n is 0 (no pointer arithmetic on NULL). */
static void out_sub(struct out_buf *o, const char *base, size_t off, size_t n)
{
	if (n)
		out_put(o, base + off, n);
}

static bool is_name_byte(unsigned char c)
{
	return is_alnum(c) || c == '_';
}

/* Append the expansion of repl for one match (Go's Regexp.Expand rules). */
static void expand(const struct proxy_re *re, struct slice in, struct slice repl,
		   const int32_t *slots, struct out_buf *o)
{
	size_t i = 0;
	while (i < repl.len) {
		const char *dollar = memchr(repl.p + i, '$', repl.len - i);
		size_t lit = dollar ? (size_t)(dollar - (repl.p + i)) : repl.len - i;
		out_put(o, repl.p + i, lit);
		i += lit;
		if (!dollar)
			break;
		i++; /* the '$' */
		if (i < repl.len && repl.p[i] == '$') {
			out_put(o, "$", 1);
			i++;
			continue;
		}
		struct slice name;
		if (i < repl.len && repl.p[i] == '{') {
			size_t j = i + 1;
			while (j < repl.len && is_name_byte((unsigned char)repl.p[j]))
				j++;
			if (j == i + 1 || j >= repl.len || repl.p[j] != '}') {
				out_put(o, "$", 1); /* not a reference: keep the dollar */
				continue;
			}
			name = (struct slice){repl.p + i + 1, j - i - 1};
			i = j + 1;
		} else {
			size_t j = i;
			while (j < repl.len && is_name_byte((unsigned char)repl.p[j]))
				j++;
			if (j == i) {
				out_put(o, "$", 1);
				continue;
			}
			name = (struct slice){repl.p + i, j - i};
			i = j;
		}
		int g = -1;
		uint64_t num;
		if (slice_to_u64(name, 1000, &num) == 0) {
			g = num < re->ngroups ? (int)num : -1;
		} else {
			for (int k = 1; k < re->ngroups; k++)
				if (re->names[k].len && slice_eq(re->names[k], name))
					g = k;
		}
		if (g >= 0 && slots[2 * g] >= 0 && slots[2 * g + 1] >= slots[2 * g])
			out_sub(o, in.p, (size_t)slots[2 * g],
				(size_t)(slots[2 * g + 1] - slots[2 * g]));
	}
}

/* Returns the number of matches replaced, or -ERR_BUF_FULL. */
static long replace_all(const struct proxy_re *re, const struct re_input *in, struct slice repl,
			struct proxy_re_work *w, struct out_buf *o)
{
	int32_t slots[2 * PROXY_RE_MAX_GROUPS];
	struct slice src = {(const char *)in->p, in->n};
	size_t search = 0, last_end = 0;
	long n = 0;

	while (search <= in->n) {
		if (!cap_search(re, in, search, w, slots))
			break;
		size_t a = (size_t)slots[0], b = (size_t)slots[1];
		out_sub(o, src.p, last_end, a - last_end);
		/* An empty match right after the previous match is not replaced. */
		if (b > last_end || a == 0) {
			expand(re, src, repl, slots, o);
			n++;
		}
		last_end = b;
		search = b > search ? b : search + 1;
	}
	out_sub(o, src.p, last_end, in->n - last_end);
	return o->full ? -ERR_BUF_FULL : n;
}

long proxy_re_replace(const struct proxy_re *re, struct slice in, struct slice repl,
		      struct proxy_re_work *w, char *out, size_t cap)
{
	if (!(re->flags & PROXY_RE_CAPTURE) || !w)
		return -ERR_INVAL;
	struct re_input ri = {(const unsigned char *)in.p, in.len, IN_RAW, 0};
	struct out_buf o = {out, 0, cap, false};
	long rc = replace_all(re, &ri, repl, w, &o);
	return rc < 0 ? rc : (long)o.len;
}

/* ==== 5. rule parser ======================================================================== */

enum { K_MATCH, K_ADD_PREFIX, K_REPLACE_PATH, K_REPLACE_PATH_RE };

static const struct {
	const char *name;
	uint8_t kind;
	uint8_t type;
	uint8_t strip;
} mtab[] = {
	{"Host", K_MATCH, PROXY_MT_HOST, 0},
	{"HostRegexp", K_MATCH, PROXY_MT_HOST, 0},
	{"Path", K_MATCH, PROXY_MT_PATH, 0},
	{"PathStrip", K_MATCH, PROXY_MT_PATH, 1},
	{"PathStripRegex", K_MATCH, PROXY_MT_PATH, 1},
	{"PathPrefix", K_MATCH, PROXY_MT_PATH_PREFIX, 0},
	{"PathPrefixStrip", K_MATCH, PROXY_MT_PATH_PREFIX, 1},
	{"PathPrefixStripRegex", K_MATCH, PROXY_MT_PATH_PREFIX, 1},
	{"Method", K_MATCH, PROXY_MT_METHOD, 0},
	{"Headers", K_MATCH, PROXY_MT_HEADERS, 0},
	{"HeadersRegexp", K_MATCH, PROXY_MT_HEADERS_RE, 0},
	{"Query", K_MATCH, PROXY_MT_QUERY, 0},
	{"AddPrefix", K_ADD_PREFIX, 0, 0},
	{"ReplacePath", K_REPLACE_PATH, 0, 0},
	{"ReplacePathRegex", K_REPLACE_PATH_RE, 0, 0},
};
#define NMTAB (sizeof mtab / sizeof mtab[0])

static struct slice trim(struct slice s)
{
	while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
		s.p++;
		s.len--;
	}
	while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
		s.len--;
	return s;
}

/* Next piece of *rest up to an unbraced `sep` (braces {} nest). false when rest is spent. */
static bool split_next(struct slice *rest, char sep, struct slice *piece)
{
	if (!rest->p)
		return false;
	int depth = 0;
	for (size_t i = 0; i < rest->len; i++) {
		char c = rest->p[i];
		if (c == '{')
			depth++;
		else if (c == '}' && depth > 0)
			depth--;
		else if (c == sep && depth == 0) {
			*piece = (struct slice){rest->p, i};
			*rest = (struct slice){rest->p + i + 1, rest->len - i - 1};
			return true;
		}
	}
	*piece = *rest;
	*rest = (struct slice){NULL, 0};
	return true;
}

/* Next non-empty trimmed piece. */
static bool split_next_nonempty(struct slice *rest, char sep, struct slice *piece)
{
	while (split_next(rest, sep, piece)) {
		*piece = trim(*piece);
		if (piece->len)
			return true;
	}
	return false;
}

struct rc {
	const struct proxy_rule_opts *opts;
	struct arena *a;
	struct proxy_rule_err *err;
	uint32_t route;
	char *chars; /* derived literals */
	size_t nchars, capchars;
	uint32_t ninsts, nregex;
};

static int rfail(struct rc *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int rfail(struct rc *c, int code, const char *fmt, ...)
{
	if (!c->err->msg[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* Printable form of a slice for messages: cut at 40 bytes, controls as '?'. */
static const char *show(struct slice s, char *buf, size_t cap)
{
	size_t n = s.len < 40 ? s.len : 40, k;
	for (k = 0; k < n && k + 4 < cap; k++) {
		unsigned char ch = (unsigned char)s.p[k];
		buf[k] = (ch < 0x20 || ch >= 0x7f || ch == '"') ? '?' : (char)ch;
	}
	if (n < s.len && k + 4 < cap) {
		memcpy(buf + k, "...", 3);
		k += 3;
	}
	buf[k] = 0;
	return buf;
}

static char *chars_take(struct rc *c, size_t n)
{
	assert(c->nchars + n <= c->capchars);
	char *p = c->chars + c->nchars;
	c->nchars += n;
	return p;
}

static bool is_tchar(unsigned char ch)
{
	return is_alnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int lookup_matcher(struct slice name)
{
	for (size_t k = 0; k < NMTAB; k++)
		if (slice_eq_cstr_ci(name, mtab[k].name))
			return (int)k;
	return -1;
}

enum { T_HOST, T_PATH, T_QUERY };

/* Compile a gorilla/mux template (literal text with {name:pattern} pieces) into a program.
 * Literal bytes are matched as they are (lowercased for hosts). */
static int compile_template(struct rc *c, struct slice v, int kind, unsigned flags,
			    const struct proxy_re **out)
{
	struct re_parse p;
	char sb[48], msg[96] = "";
	if (v.len > PROXY_RE_MAX_SRC)
		return rfail(c, -ERR_PROXY_REGEX_TOO_BIG, "template longer than %d bytes",
			     PROXY_RE_MAX_SRC);
	parse_init(&p, v, flags, msg, sizeof msg);
	int first = -1, last = -1;
	size_t i = 0;
	while (i < v.len) {
		int k;
		if (v.p[i] == '{') {
			int depth = 0;
			size_t j;
			for (j = i; j < v.len; j++) {
				if (v.p[j] == '{')
					depth++;
				else if (v.p[j] == '}' && --depth == 0)
					break;
			}
			if (j >= v.len)
				return rfail(c, -ERR_PROXY_RULE, "unbalanced braces in \"%s\"",
					     show(v, sb, sizeof sb));
			struct slice body = {v.p + i + 1, j - i - 1};
			struct slice pat;
			struct slice name = slice_cut(body, ':', &pat);
			if (name.len == 0)
				return rfail(c, -ERR_PROXY_RULE,
					     "missing variable name in template \"%s\"",
					     show(v, sb, sizeof sb));
			if (!pat.p) {
				pat = kind == T_HOST   ? SLICE_LIT("[^.]+")
				      : kind == T_PATH ? SLICE_LIT("[^/]+")
						       : SLICE_LIT(".*");
			}
			if (pat.len == 0)
				return rfail(c, -ERR_PROXY_RULE, "empty pattern in template \"%s\"",
					     show(v, sb, sizeof sb));
			/* Parse the pattern in place, then wrap it in a group. */
			p.s = (const unsigned char *)pat.p;
			p.n = pat.len;
			p.i = 0;
			int inner = parse_pattern(&p);
			k = inner < 0 ? -1 : new_node(&p, N_GROUP);
			if (k < 0)
				return rfail(c, p.rc ? p.rc : -ERR_PROXY_RULE,
					     "invalid regexp in \"%s\": %s", show(v, sb, sizeof sb),
					     msg);
			p.node[k].child = (int16_t)inner;
			i = j + 1;
		} else if (v.p[i] == '}') {
			return rfail(c, -ERR_PROXY_RULE, "unbalanced braces in \"%s\"",
				     show(v, sb, sizeof sb));
		} else {
			k = char_node(&p, (unsigned char)v.p[i]);
			if (k < 0)
				return rfail(c, -ERR_PROXY_RULE, "template too complex");
			i++;
		}
		if (first < 0)
			first = k;
		else
			p.node[last].next = (int16_t)k;
		last = k;
	}
	int root = new_node(&p, N_CAT);
	if (root < 0)
		return rfail(c, -ERR_PROXY_RULE, "template too complex");
	p.node[root].child = (int16_t)first;
	int rc = re_finish(&p, root, c->opts->max_insts, c->a, out);
	if (rc < 0)
		return rfail(c, rc, "\"%s\": %s", show(v, sb, sizeof sb), msg);
	c->ninsts += (*out)->ninst;
	c->nregex++;
	return 0;
}

/* The literal text of a template before its first and after its last {...}, copied (and
 * lowercased for hosts) as cheap prefilters. */
static void template_affixes(struct rc *c, struct slice v, bool fold, struct proxy_mval *out)
{
	const char *open = memchr(v.p, '{', v.len);
	size_t pre = open ? (size_t)(open - v.p) : v.len, suf = 0;
	while (suf < v.len - pre && v.p[v.len - 1 - suf] != '}')
		suf++;
	char *d = chars_take(c, pre + suf);
	for (size_t i = 0; i < pre; i++)
		d[i] = fold ? (char)lower((unsigned char)v.p[i]) : v.p[i];
	for (size_t i = 0; i < suf; i++)
		d[pre + i] = fold ? (char)lower((unsigned char)v.p[v.len - suf + i])
				  : v.p[v.len - suf + i];
	out->pre = (struct slice){d, pre};
	out->suf = (struct slice){d + pre, suf};
}

static int compile_regexp(struct rc *c, struct slice v, unsigned flags, const struct proxy_re **out)
{
	char msg[96], sb[48];
	int rc = proxy_re_compile(v, flags, c->opts->max_insts, c->a, out, msg, sizeof msg);
	if (rc < 0)
		return rfail(c, rc, "invalid regexp \"%s\": %s", show(v, sb, sizeof sb), msg);
	c->ninsts += (*out)->ninst;
	c->nregex++;
	return 0;
}

/* A template (or a stray brace, which the template parser reports). */
static bool has_brace(struct slice v)
{
	return memchr(v.p, '{', v.len) != NULL || memchr(v.p, '}', v.len) != NULL;
}

/* Does a Host value name a port (a ':' outside [...] and outside {...})? */
static bool host_has_port(struct slice v)
{
	int brace = 0;
	bool bracket = false;
	for (size_t i = 0; i < v.len; i++) {
		char ch = v.p[i];
		if (ch == '{')
			brace++;
		else if (ch == '}')
			brace--;
		else if (brace == 0 && ch == '[')
			bracket = true;
		else if (brace == 0 && ch == ']')
			bracket = false;
		else if (brace == 0 && !bracket && ch == ':')
			return true;
	}
	return false;
}

#define HOST_HASH_SEED 2166136261u

/* FNV-1a over s, lowercased, continuing from h (HOST_HASH_SEED to start): FNV-1a runs byte by
 * byte, so the hash of a + b is host_hash_more(host_hash_more(seed, a), b). The lowering is
 * written out: this runs for every request (proxy_req_prepare). */
static uint32_t host_hash_more(uint32_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		h ^= (unsigned char)(ch - 'A') < 26 ? ch | 0x20u : ch;
		h *= 16777619u;
	}
	return h;
}

uint32_t proxy_host_hash(struct slice s)
{
	return host_hash_more(HOST_HASH_SEED, s.p, s.len);
}

static int value_host(struct rc *c, struct slice v, struct proxy_mval *out)
{
	char sb[48];
	int brace = 0;
	for (size_t i = 0; i < v.len; i++) {
		unsigned char ch = (unsigned char)v.p[i];
		if (ch == '{')
			brace++;
		else if (ch == '}')
			brace--;
		else if (brace == 0 && !is_alnum(ch) && !strchr("-._:[]", ch))
			return rfail(c, -ERR_PROXY_RULE, "invalid character '%c' in host \"%s\"%s",
				     ch >= 0x20 && ch < 0x7f ? ch : '?', show(v, sb, sizeof sb),
				     ch == '*' ? " (use HostRegexp:{sub:[a-z0-9-]+}.example.com)"
					       : "");
	}
	if (v.len > 1 && v.p[v.len - 1] == '.' && !has_brace(v))
		v.len--; /* FQDN form */
	out->with_port = host_has_port(v);
	if (has_brace(v)) {
		int rc = compile_template(c, v, T_HOST, PROXY_RE_FOLD, &out->re);
		if (rc == 0)
			template_affixes(c, v, true, out);
		return rc;
	}
	char *d = chars_take(c, v.len);
	for (size_t i = 0; i < v.len; i++)
		d[i] = (char)lower((unsigned char)v.p[i]);
	out->lit = (struct slice){d, v.len};
	out->hash = proxy_host_hash(out->lit);
	return 0;
}

static int value_path(struct rc *c, struct slice v, struct proxy_mval *out)
{
	char sb[48];
	if (v.p[0] != '/')
		return rfail(c, -ERR_PROXY_RULE, "path \"%s\" must start with /",
			     show(v, sb, sizeof sb));
	int brace = 0;
	for (size_t i = 0; i < v.len; i++) {
		unsigned char ch = (unsigned char)v.p[i];
		brace += ch == '{' ? 1 : ch == '}' ? -1 : 0;
		if (ch <= 0x20 || ch >= 0x7f || (brace == 0 && (ch == '?' || ch == '#')))
			return rfail(c, -ERR_PROXY_RULE, "invalid character in path \"%s\"",
				     show(v, sb, sizeof sb));
	}
	if (has_brace(v)) {
		int rc = compile_template(c, v, T_PATH, 0, &out->re);
		if (rc == 0)
			template_affixes(c, v, false, out);
		return rc;
	}
	out->lit = v;
	return 0;
}

/* Form-decode (percent escapes, '+' as space) into the rule's char buffer. */
static struct slice form_decode(struct rc *c, struct slice v)
{
	char *d = chars_take(c, v.len);
	struct re_input in = {(const unsigned char *)v.p, v.len, IN_FORM, 0};
	size_t i = 0, n = 0, next;
	while (i < v.len) {
		d[n++] = (char)in_byte(&in, i, &next);
		i = next;
	}
	return (struct slice){d, n};
}

struct piece {
	int m; /* index in mtab */
	struct slice name, value;
};

/* Split the matcher piece "Name:value". */
static int parse_piece(struct rc *c, struct slice s, struct piece *pc)
{
	char sb[48];
	struct slice value;
	struct slice name = trim(slice_cut(s, ':', &value));
	if (!value.p)
		return rfail(c, -ERR_PROXY_RULE, "missing ':' after \"%s\"",
			     show(name, sb, sizeof sb));
	pc->m = lookup_matcher(name);
	if (pc->m < 0)
		return rfail(c, -ERR_PROXY_RULE, "unknown matcher \"%s\"",
			     show(name, sb, sizeof sb));
	pc->name = name;
	pc->value = trim(value);
	if (pc->value.len == 0)
		return rfail(c, -ERR_PROXY_RULE, "%s: no value", mtab[pc->m].name);
	return 0;
}

static uint32_t count_values(struct slice v)
{
	struct slice rest = v, item;
	uint32_t n = 0;
	while (split_next_nonempty(&rest, ',', &item))
		n++;
	return n;
}

static int matcher_cost(const struct proxy_matcher *m)
{
	int cost;
	switch (m->type) {
	case PROXY_MT_METHOD: cost = 0; break;
	case PROXY_MT_HOST: cost = 1; break;
	case PROXY_MT_PATH: cost = 2; break;
	case PROXY_MT_PATH_PREFIX: cost = 3; break;
	case PROXY_MT_HEADERS: cost = 4; break;
	case PROXY_MT_QUERY: cost = 5; break;
	default: cost = 6; break;
	}
	for (uint32_t k = 0; k < m->nval; k++)
		if (m->val[k].re)
			return cost + 10;
	return cost;
}

/* Fill matcher m from piece pc; vals has room for its values. */
static int build_matcher(struct rc *c, const struct piece *pc, struct proxy_matcher *m,
			 struct proxy_mval *vals)
{
	char sb[48];
	struct slice rest = pc->value, item;
	uint32_t n = 0;
	int rc;

	m->type = mtab[pc->m].type;
	m->strip = mtab[pc->m].strip;
	m->route = (uint8_t)(c->route > 255 ? 255 : c->route);
	m->name = pc->name;
	m->val = vals;
	m->all = m->type == PROXY_MT_HEADERS || m->type == PROXY_MT_HEADERS_RE ||
		 m->type == PROXY_MT_QUERY;

	if (m->type == PROXY_MT_HEADERS || m->type == PROXY_MT_HEADERS_RE) {
		uint32_t total = count_values(pc->value);
		if (total % 2)
			return rfail(c, -ERR_PROXY_RULE, "%s: expects key,value pairs",
				     mtab[pc->m].name);
		while (split_next_nonempty(&rest, ',', &item)) {
			struct proxy_mval *v = &vals[n];
			memset(v, 0, sizeof *v);
			for (size_t i = 0; i < item.len; i++)
				if (!is_tchar((unsigned char)item.p[i]))
					return rfail(c, -ERR_PROXY_RULE,
						     "%s: invalid header name \"%s\"",
						     mtab[pc->m].name, show(item, sb, sizeof sb));
			v->key = item;
			if (!split_next_nonempty(&rest, ',', &item))
				return rfail(c, -ERR_PROXY_RULE, "%s: expects key,value pairs",
					     mtab[pc->m].name);
			if (m->type == PROXY_MT_HEADERS) {
				v->lit = item;
			} else if ((rc = compile_regexp(c, item, 0, &v->re)) < 0) {
				return rc;
			}
			n++;
		}
		m->nval = n;
		return 0;
	}
	while (split_next_nonempty(&rest, ',', &item)) {
		struct proxy_mval *v = &vals[n++];
		memset(v, 0, sizeof *v);
		switch (m->type) {
		case PROXY_MT_METHOD: {
			char *d = chars_take(c, item.len);
			for (size_t i = 0; i < item.len; i++) {
				if (!is_tchar((unsigned char)item.p[i]))
					return rfail(c, -ERR_PROXY_RULE,
						     "Method: invalid method \"%s\"",
						     show(item, sb, sizeof sb));
				d[i] = (char)upper((unsigned char)item.p[i]);
			}
			v->lit = (struct slice){d, item.len};
			break;
		}
		case PROXY_MT_HOST:
			if ((rc = value_host(c, item, v)) < 0)
				return rc;
			break;
		case PROXY_MT_PATH:
		case PROXY_MT_PATH_PREFIX:
			if ((rc = value_path(c, item, v)) < 0)
				return rc;
			break;
		case PROXY_MT_QUERY: {
			struct slice val;
			struct slice key = trim(slice_cut(item, '=', &val));
			if (key.len == 0)
				return rfail(c, -ERR_PROXY_RULE, "Query: missing key in \"%s\"",
					     show(item, sb, sizeof sb));
			v->key = form_decode(c, key);
			val = trim(val);
			if (!val.p || val.len == 0)
				v->any = 1;
			else if (has_brace(val)) {
				if ((rc = compile_template(c, val, T_QUERY, 0, &v->re)) < 0)
					return rc;
			} else {
				v->lit = form_decode(c, val);
			}
			break;
		}
		default: break;
		}
	}
	m->nval = n;
	return 0;
}

/* Pass over one route string: count matchers and values (counting) or build them. */
static int route_pass(struct rc *c, struct slice text, struct proxy_rule *r, bool building,
		      struct proxy_matcher *ms, struct proxy_mval *vs, uint32_t *nm, uint32_t *nv)
{
	char sb[48];
	struct slice rest = text, ps;
	struct piece pc = {0, {NULL, 0}, {NULL, 0}};
	int rc, pieces = 0;

	while (split_next_nonempty(&rest, ';', &ps)) {
		pieces++;
		if ((rc = parse_piece(c, ps, &pc)) < 0)
			return rc;
		switch (mtab[pc.m].kind) {
		case K_MATCH:
			if (building) {
				if (mtab[pc.m].strip && r->strip >= 0)
					return rfail(c, -ERR_PROXY_RULE,
						     "only one Path*Strip matcher per frontend");
				if ((rc = build_matcher(c, &pc, &ms[*nm], &vs[*nv])) < 0)
					return rc;
				if (mtab[pc.m].strip)
					r->strip = (int32_t)*nm;
				*nv += ms[*nm].nval;
			} else {
				uint32_t nvals = count_values(pc.value);
				if (nvals == 0)
					return rfail(c, -ERR_PROXY_RULE, "%s: no value",
						     mtab[pc.m].name);
				if (mtab[pc.m].type == PROXY_MT_HEADERS ||
				    mtab[pc.m].type == PROXY_MT_HEADERS_RE)
					nvals = (nvals + 1) / 2;
				*nv += nvals;
			}
			(*nm)++;
			break;
		case K_ADD_PREFIX:
		case K_REPLACE_PATH:
			if (count_values(pc.value) != 1 || pc.value.p[0] != '/')
				return rfail(c, -ERR_PROXY_RULE,
					     "%s: expects one path starting with /",
					     mtab[pc.m].name);
			for (size_t i = 0; i < pc.value.len; i++) {
				unsigned char ch = (unsigned char)pc.value.p[i];
				if (ch <= 0x20 || ch >= 0x7f || ch == '?' || ch == '#')
					return rfail(c, -ERR_PROXY_RULE,
						     "%s: invalid character in \"%s\"",
						     mtab[pc.m].name,
						     show(pc.value, sb, sizeof sb));
			}
			if (!building)
				break;
			if (mtab[pc.m].kind == K_ADD_PREFIX) {
				if (r->add_prefix.p)
					return rfail(c, -ERR_PROXY_RULE,
						     "only one AddPrefix per frontend");
				r->add_prefix = pc.value;
			} else {
				if (r->replace_path.p || r->rpr_re)
					return rfail(c, -ERR_PROXY_RULE,
						     "only one ReplacePath or ReplacePathRegex per "
						     "frontend");
				r->replace_path = pc.value;
			}
			break;
		case K_REPLACE_PATH_RE: {
			struct slice repl;
			const char *sp = memchr(pc.value.p, ' ', pc.value.len);
			if (!sp)
				return rfail(
					c, -ERR_PROXY_RULE,
					"ReplacePathRegex: expects \"<regexp> <replacement>\"");
			struct slice re = {pc.value.p, (size_t)(sp - pc.value.p)};
			repl = trim((struct slice){sp + 1, pc.value.len - re.len - 1});
			if (repl.len == 0)
				return rfail(
					c, -ERR_PROXY_RULE,
					"ReplacePathRegex: expects \"<regexp> <replacement>\"");
			if (!building)
				break;
			if (r->replace_path.p || r->rpr_re)
				return rfail(
					c, -ERR_PROXY_RULE,
					"only one ReplacePath or ReplacePathRegex per frontend");
			if ((rc = compile_regexp(c, re, PROXY_RE_CAPTURE, &r->rpr_re)) < 0)
				return rc;
			r->rpr_repl = repl;
			break;
		}
		}
	}
	if (pieces == 0)
		return rfail(c, -ERR_PROXY_RULE, "empty rule");
	return 0;
}

int proxy_rule_compile(const struct slice *routes, size_t n, const struct proxy_rule_opts *opts,
		       struct arena *a, struct proxy_rule *out, struct proxy_rule_err *err)
{
	struct rc c = {opts, a, err, 0, NULL, 0, 0, 0, 0};
	uint32_t nm = 0, nv = 0;
	size_t total = 0;
	int rc;

	err->msg[0] = 0;
	err->route = 0;
	memset(out, 0, sizeof *out);
	out->strip = -1;
	if (n == 0)
		return rfail(&c, -ERR_PROXY_RULE, "no route");
	for (size_t k = 0; k < n; k++) {
		c.route = err->route = (uint32_t)k;
		if (routes[k].len > opts->max_rule_bytes)
			return rfail(&c, -ERR_PROXY_RULE_TOO_LONG, "rule longer than %u bytes",
				     (unsigned)opts->max_rule_bytes);
		if (trim(routes[k]).len == 0)
			return rfail(&c, -ERR_PROXY_RULE, "empty rule");
		for (size_t i = 0; i < routes[k].len; i++)
			if ((unsigned char)routes[k].p[i] < 0x20 || routes[k].p[i] == 0x7f)
				return rfail(&c, -ERR_PROXY_RULE, "control character in rule");
		if ((rc = route_pass(&c, routes[k], out, false, NULL, NULL, &nm, &nv)) < 0)
			return rc;
		total += routes[k].len;
	}
	struct proxy_matcher *ms = nm ? arena_alloc(a, nm * sizeof *ms) : NULL;
	struct proxy_mval *vs = nv ? arena_alloc(a, nv * sizeof *vs) : NULL;
	/* Derived literals: per value, either one transformed copy (lowercased host, uppercased
	 * method, decoded query key and value) or a template's affixes, never longer than the
	 * value itself, so the rule texts' total length is enough. */
	c.chars = total ? arena_alloc(a, total) : NULL;
	c.capchars = total;
	if ((nm && !ms) || (nv && !vs) || (total && !c.chars))
		return rfail(&c, -ERR_ARENA_FULL, "arena full");
	uint32_t bm = 0, bv = 0;
	for (size_t k = 0; k < n; k++) {
		c.route = err->route = (uint32_t)k;
		if ((rc = route_pass(&c, routes[k], out, true, ms, vs, &bm, &bv)) < 0)
			return rc;
	}
	assert(bm == nm && bv <= nv);
	/* Cheapest matchers first (stable insertion sort), keeping track of the strip one. */
	for (uint32_t i = 1; i < nm; i++) {
		struct proxy_matcher key = ms[i];
		int kc = matcher_cost(&key);
		uint32_t j = i;
		while (j > 0 && matcher_cost(&ms[j - 1]) > kc) {
			ms[j] = ms[j - 1];
			j--;
		}
		ms[j] = key;
	}
	out->strip = -1;
	for (uint32_t i = 0; i < nm; i++)
		if (ms[i].strip)
			out->strip = (int32_t)i;
	out->m = ms;
	out->nm = nm;
	out->nval = bv;
	out->ninsts = c.ninsts;
	out->nregex = c.nregex;
	out->text_len = (uint32_t)total;
	return 0;
}

/* ==== 6. matching =========================================================================== */

void proxy_req_prepare(struct proxy_req_ctx *c, const struct proxy_req_view *v)
{
	struct slice h = v->host;
	c->v = v;
	c->path = v->path.len ? v->path : SLICE_LIT("/");
	if (h.len == 0)
		h = (struct slice){"", 0};
	/* host: without ":port" and without a trailing dot ("a.com." is "a.com");
	 * host_port: as received, or host when no port was sent. */
	size_t end = h.len;
	if (h.len && h.p[0] == '[') {
		const char *rb = memchr(h.p, ']', h.len);
		end = rb ? (size_t)(rb - h.p) + 1 : h.len;
	} else {
		for (size_t i = 0; i < h.len; i++) /* a host is short: no memchr call */
			if (h.p[i] == ':') {
				end = i;
				break;
			}
	}
	c->host = (struct slice){h.p, end};
	if (c->host.len > 1 && c->host.p[c->host.len - 1] == '.')
		c->host.len--;
	c->host_port = end == h.len ? c->host : h;
	c->host_hash = proxy_host_hash(c->host);
	/* host_port extends host unless a trailing dot was cut from host: hash only the rest */
	if (c->host_port.len == c->host.len)
		c->host_port_hash = c->host_hash;
	else if (c->host.len == end)
		c->host_port_hash = host_hash_more(c->host_hash, h.p + end, h.len - end);
	else
		c->host_port_hash = proxy_host_hash(c->host_port);
}

void proxy_req_prepare_path(struct proxy_req_ctx *c, const struct proxy_req_view *v)
{
	memset(c, 0, sizeof *c);
	c->v = v;
	c->path = v->path.len ? v->path : SLICE_LIT("/");
}

static bool eq_lower(struct slice req, struct slice lit)
{
	if (req.len != lit.len)
		return false;
	for (size_t i = 0; i < req.len; i++)
		if (lower((unsigned char)req.p[i]) != (unsigned char)lit.p[i])
			return false;
	return true;
}

/* Raw bytes of `raw` whose decoding (mode) starts with lit, or -1. */
static long decoded_prefix(struct slice raw, struct slice lit, int mode)
{
	struct re_input in = {(const unsigned char *)raw.p, raw.len, (uint8_t)mode, 0};
	size_t i = 0, next;
	for (size_t j = 0; j < lit.len; j++) {
		if (i >= raw.len)
			return -1;
		if (in_byte(&in, i, &next) != (unsigned char)lit.p[j])
			return -1;
		i = next;
	}
	return (long)i;
}

static bool decoded_eq(struct slice raw, struct slice lit, int mode)
{
	if (raw.len < lit.len)
		return false;
	/* Equal raw bytes are equal decoded bytes only when the literal has no '%'. */
	if (raw.len == lit.len && memcmp(raw.p, lit.p, lit.len) == 0 &&
	    !memchr(lit.p, '%', lit.len))
		return true;
	return decoded_prefix(raw, lit, mode) == (long)raw.len;
}

static bool match_host(const struct proxy_req_ctx *c, const struct proxy_mval *v)
{
	struct slice s = v->with_port ? c->host_port : c->host;
	if (!v->re)
		return (v->with_port ? c->host_port_hash : c->host_hash) == v->hash &&
		       eq_lower(s, v->lit);
	if (s.len < v->pre.len + v->suf.len ||
	    (v->pre.len && !eq_lower((struct slice){s.p, v->pre.len}, v->pre)) ||
	    (v->suf.len && !eq_lower((struct slice){s.p + s.len - v->suf.len, v->suf.len}, v->suf)))
		return false;
	struct re_input in = {(const unsigned char *)s.p, s.len, IN_RAW, 1};
	return nc_run(v->re, &in, RUN_FULL) >= 0;
}

/* Raw length of the path matched by v (whole path for PATH), or -1. */
static long match_path(const struct proxy_req_ctx *c, int type, const struct proxy_mval *v)
{
	struct slice p = c->path;
	if (!v->re) {
		if (type == PROXY_MT_PATH)
			return decoded_eq(p, v->lit, IN_PCT) ? (long)p.len : -1;
		if (p.len >= v->lit.len && memcmp(p.p, v->lit.p, v->lit.len) == 0 &&
		    !memchr(v->lit.p, '%', v->lit.len))
			return (long)v->lit.len;
		return decoded_prefix(p, v->lit, IN_PCT);
	}
	if (v->pre.len && decoded_prefix(p, v->pre, IN_PCT) < 0)
		return -1;
	struct re_input in = {(const unsigned char *)p.p, p.len, IN_PCT, 0};
	if (type == PROXY_MT_PATH)
		return nc_run(v->re, &in, RUN_FULL) >= 0 ? (long)p.len : -1;
	return nc_run(v->re, &in, RUN_PREFIX);
}

static bool match_header(const struct proxy_req_ctx *c, const struct proxy_mval *v)
{
	const struct proxy_req_view *rv = c->v;
	for (size_t k = 0; k < rv->nhdr; k++) {
		const struct http_header *h = &rv->hdr[k];
		if (!slice_eq_ci(h->name, v->key))
			continue;
		if (v->re) {
			struct re_input in = {(const unsigned char *)h->value.p, h->value.len,
					      IN_RAW, 0};
			if (nc_run(v->re, &in, RUN_SEARCH) >= 0)
				return true;
		} else if (v->lit.len == 0 || slice_eq(h->value, v->lit)) {
			return true; /* an empty value: the field's presence is enough */
		}
	}
	return false;
}

static bool match_query(const struct proxy_req_ctx *c, const struct proxy_mval *v)
{
	struct slice rest = c->v->query, pair;
	if (!rest.p || rest.len == 0)
		return false;
	while (split_next(&rest, '&', &pair)) {
		struct slice val;
		struct slice key = slice_cut(pair, '=', &val);
		if (!decoded_eq(key, v->key, IN_FORM))
			continue;
		if (v->any)
			return true;
		if (!val.p)
			val = (struct slice){pair.p + pair.len, 0};
		if (v->re) {
			struct re_input in = {(const unsigned char *)val.p, val.len, IN_FORM, 0};
			if (nc_run(v->re, &in, RUN_FULL) >= 0)
				return true;
		} else if (decoded_eq(val, v->lit, IN_FORM)) {
			return true;
		}
	}
	return false;
}

bool proxy_rule_match(const struct proxy_rule *r, const struct proxy_req_ctx *c,
		      struct proxy_rule_hit *hit)
{
	struct proxy_rule_hit h = {0, false};
	for (uint32_t i = 0; i < r->nm; i++) {
		const struct proxy_matcher *m = &r->m[i];
		bool ok = false;
		switch (m->type) {
		case PROXY_MT_METHOD:
			for (uint32_t k = 0; k < m->nval && !ok; k++)
				ok = slice_eq(c->v->method, m->val[k].lit);
			break;
		case PROXY_MT_HOST:
			for (uint32_t k = 0; k < m->nval && !ok; k++)
				ok = match_host(c, &m->val[k]);
			break;
		case PROXY_MT_PATH:
		case PROXY_MT_PATH_PREFIX: {
			long best = -1;
			for (uint32_t k = 0; k < m->nval; k++) {
				long len = match_path(c, m->type, &m->val[k]);
				if (len > best)
					best = len;
				if (best >= 0 && !m->strip)
					break; /* any value will do; only strips need the longest */
			}
			ok = best >= 0;
			if (ok && m->strip) {
				h.strip = true;
				h.strip_len = (uint32_t)best;
			}
			break;
		}
		case PROXY_MT_HEADERS:
		case PROXY_MT_HEADERS_RE:
			ok = true;
			for (uint32_t k = 0; k < m->nval && ok; k++)
				ok = match_header(c, &m->val[k]);
			break;
		case PROXY_MT_QUERY:
			ok = true;
			for (uint32_t k = 0; k < m->nval && ok; k++)
				ok = match_query(c, &m->val[k]);
			break;
		default: break;
		}
		if (!ok)
			return false;
	}
	if (hit)
		*hit = h;
	return true;
}

/* ==== 7. rewriting ========================================================================== */

/* slice_eq, answered at once in the common case where no modifier ran (the same slice). */
static bool path_same(struct slice a, struct slice b)
{
	return (a.p == b.p && a.len == b.len) || slice_eq(a, b);
}

int proxy_rule_rewrite(const struct proxy_rule *r, const struct proxy_rule_hit *hit,
		       const struct proxy_req_ctx *c, char *out, size_t cap,
		       struct proxy_re_work *w, struct proxy_rewrite *rw)
{
	struct slice cur = c->path;
	struct out_buf o = {out, 0, cap, false};

	memset(rw, 0, sizeof *rw);
	if (r->rpr_re && !w)
		return -ERR_INVAL;
	if (hit && hit->strip && r->strip >= 0) {
		size_t n = hit->strip_len <= cur.len ? hit->strip_len : cur.len;
		rw->forwarded_prefix = (struct slice){cur.p, n};
		struct slice rest = {cur.p + n, cur.len - n};
		if (rest.len && rest.p[0] == '/') {
			cur = rest;
		} else {
			size_t at = o.len;
			out_put(&o, "/", 1);
			out_put(&o, rest.p, rest.len);
			if (o.full)
				return -ERR_BUF_FULL;
			cur = (struct slice){out + at, o.len - at};
		}
	}
	if (r->add_prefix.p) {
		size_t at = o.len;
		out_put(&o, r->add_prefix.p, r->add_prefix.len);
		out_put(&o, cur.p, cur.len);
		if (o.full)
			return -ERR_BUF_FULL;
		cur = (struct slice){out + at, o.len - at};
	}
	if (r->replace_path.p) {
		rw->replaced_path = cur;
		cur = r->replace_path;
	} else if (r->rpr_re) {
		size_t at = o.len;
		struct re_input in = {(const unsigned char *)cur.p, cur.len, IN_RAW, 0};
		struct out_buf sub = {out + at, 0, cap - at, false};
		long n = replace_all(r->rpr_re, &in, r->rpr_repl, w, &sub);
		if (n < 0)
			return -ERR_BUF_FULL;
		if (n > 0) {
			rw->replaced_path = cur;
			cur = (struct slice){out + at, sub.len};
			o.len += sub.len;
		}
	}
	/* A replacement may leave "" or "x": a rewritten path always starts with '/'. */
	if (!path_same(cur, c->path) && (cur.len == 0 || cur.p[0] != '/')) {
		size_t at = o.len;
		out_put(&o, "/", 1);
		out_put(&o, cur.p, cur.len);
		if (o.full)
			return -ERR_BUF_FULL;
		cur = (struct slice){out + at, o.len - at};
	}
	rw->path = cur;
	rw->changed = !path_same(cur, c->path);
	return 0;
}
