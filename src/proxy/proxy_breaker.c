/* proxy_breaker.c — see proxy_breaker.h and docs/internals/proxy-breaker.md. */
#include "proxy/proxy_breaker.h"

#include "base/base_err.h"
#include "base/base_log.h"
#include "proxy/proxy_breaker_shared.h"
#include "proxy/proxy_engine_int.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(2 * PROXY_BREAKER_MAX_FUNCS < PB_CODE_AND, "code values must not clash");
_Static_assert(2 * PROXY_BREAKER_MAX_FUNCS <= 255, "slots fit a uint8_t");

/* ---- the expression parser -------------------------------------------------------------
 *
 * oxy hands the string to Go's go/parser (ParseExpr) and walks the tree with
 * mailgun/predicate: basic literals, calls of the three functions with literal arguments,
 * parentheses and the binary operators && || > >= < <= == !=; anything else (unary - or !,
 * arithmetic, strings, identifiers) is an error. The typing is oxy's: a comparison has the
 * function on its left and a literal on its right, NetworkErrorRatio and ResponseCodeRatio
 * compare with a float literal, LatencyAtQuantileMS with an int literal; the quantile is a
 * float literal and the status codes int literals. */

enum tk {
	T_END = 0,
	T_IDENT,
	T_INT,
	T_FLOAT,
	T_LP,
	T_RP,
	T_COMMA,
	T_AND,
	T_OR,
	T_GT,
	T_GE,
	T_LT,
	T_LE,
	T_EQ,
	T_NE,
	T_BAD,
};

enum vt { V_BOOL, V_FLOATFN, V_INTFN, V_INT, V_FLOAT };

struct val {
	enum vt t;
	int cmp; /* V_FLOATFN / V_INTFN: the comparison slot holding the call */
	int64_t i;
	double f;
	size_t pos;
};

struct px {
	const char *s;
	size_t n, pos;
	enum tk t;    /* current token */
	size_t tpos;  /* its offset */
	size_t tlen;  /* its length */
	int64_t ival; /* T_INT */
	double fval;  /* T_FLOAT */
	int depth;
	struct proxy_breaker_prog *p;
	char *msg;
	size_t cap;
	int rc;
};

static int perr(struct px *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(struct px *x, const char *fmt, ...)
{
	if (x->rc)
		return x->rc;
	if (x->msg && x->cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(x->msg, x->cap, fmt, ap);
		va_end(ap);
	}
	x->rc = -ERR_PROXY_CONFIG;
	return x->rc;
}

static bool is_ident0(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The current token, quoted for a message. */
static const char *tok_text(struct px *x, char *buf, size_t cap)
{
	if (x->t == T_END)
		return "the end of the expression";
	size_t n = x->tlen < 32 ? x->tlen : 32;
	bool printable = true;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)x->s[x->tpos + i] < 0x20 ||
		    (unsigned char)x->s[x->tpos + i] >= 0x7f)
			printable = false;
	if (printable)
		snprintf(buf, cap, "\"%.*s\"", (int)n, x->s + x->tpos);
	else
		snprintf(buf, cap, "byte 0x%02x", (unsigned char)x->s[x->tpos]);
	return buf;
}

/* A Go float literal in decimal: digits '.' digits? exponent? | '.' digits exponent? |
 * digits exponent. Returns its length at s (0: not a float). */
static size_t float_len(const char *s, size_t n)
{
	size_t i = 0, d = 0;
	while (i < n && is_digit(s[i]))
		i++, d++;
	bool dot = false;
	if (i < n && s[i] == '.') {
		dot = true;
		i++;
		while (i < n && is_digit(s[i]))
			i++, d++;
	}
	if (d == 0)
		return 0;
	size_t before_exp = i;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t j = i + 1;
		if (j < n && (s[j] == '+' || s[j] == '-'))
			j++;
		size_t e = 0;
		while (j < n && is_digit(s[j]))
			j++, e++;
		if (e == 0)
			return dot ? before_exp : 0;
		return j;
	}
	return dot ? i : 0;
}

static void next(struct px *x)
{
	if (x->rc)
		return;
	while (x->pos < x->n && (x->s[x->pos] == ' ' || x->s[x->pos] == '\t' ||
				 x->s[x->pos] == '\n' || x->s[x->pos] == '\r'))
		x->pos++;
	x->tpos = x->pos;
	x->tlen = 1;
	if (x->pos >= x->n) {
		x->t = T_END;
		x->tlen = 0;
		return;
	}
	const char *s = x->s + x->pos;
	size_t left = x->n - x->pos;
	char c = s[0], c1 = left > 1 ? s[1] : 0;
	if (is_ident0(c)) {
		size_t i = 1;
		while (i < left && (is_ident0(s[i]) || is_digit(s[i])))
			i++;
		x->t = T_IDENT;
		x->tlen = i;
	} else if (is_digit(c) || (c == '.' && is_digit(c1))) {
		size_t fl = float_len(s, left);
		if (fl) {
			char tmp[64];
			if (fl >= sizeof tmp) {
				x->tlen = fl;
				perr(x, "number too long at byte %zu", x->tpos);
				return;
			}
			memcpy(tmp, s, fl);
			tmp[fl] = 0;
			x->fval = strtod(tmp, NULL);
			x->t = T_FLOAT;
			x->tlen = fl;
			if (!isfinite(x->fval)) {
				perr(x, "number out of range at byte %zu", x->tpos);
				return;
			}
		} else {
			size_t i = 0;
			int64_t v = 0;
			while (i < left && is_digit(s[i])) {
				if (v > PROXY_BREAKER_MAX_INT / 10 + 1)
					v = PROXY_BREAKER_MAX_INT + 1; /* saturate, refused below */
				else
					v = v * 10 + (s[i] - '0');
				i++;
			}
			x->t = T_INT;
			x->tlen = i;
			x->ival = v;
			if (v > PROXY_BREAKER_MAX_INT) {
				perr(x, "integer out of range at byte %zu (at most %lld)", x->tpos,
				     PROXY_BREAKER_MAX_INT);
				return;
			}
		}
		/* "1x", "0x1F", "1_000": Go reads these differently or not at all. */
		if (x->pos + x->tlen < x->n &&
		    (is_ident0(x->s[x->pos + x->tlen]) || x->s[x->pos + x->tlen] == '.')) {
			perr(x, "malformed number at byte %zu (decimal digits only, as 0.5 or 50)",
			     x->tpos);
			return;
		}
	} else if (c == '(') {
		x->t = T_LP;
	} else if (c == ')') {
		x->t = T_RP;
	} else if (c == ',') {
		x->t = T_COMMA;
	} else if (c == '&' && c1 == '&') {
		x->t = T_AND;
		x->tlen = 2;
	} else if (c == '|' && c1 == '|') {
		x->t = T_OR;
		x->tlen = 2;
	} else if (c == '>') {
		x->t = c1 == '=' ? T_GE : T_GT;
		x->tlen = c1 == '=' ? 2 : 1;
	} else if (c == '<') {
		x->t = c1 == '=' ? T_LE : T_LT;
		x->tlen = c1 == '=' ? 2 : 1;
	} else if (c == '=' && c1 == '=') {
		x->t = T_EQ;
		x->tlen = 2;
	} else if (c == '!' && c1 == '=') {
		x->t = T_NE;
		x->tlen = 2;
	} else {
		x->t = T_BAD;
		char b[48];
		perr(x, "unexpected %s at byte %zu", tok_text(x, b, sizeof b), x->tpos);
		return;
	}
	x->pos += x->tlen;
}

static bool is_cmp_tok(enum tk t)
{
	return t >= T_GT && t <= T_NE;
}

static const char *op_text(enum tk t)
{
	static const char *const s[] = {">", ">=", "<", "<=", "==", "!="};
	return is_cmp_tok(t) ? s[t - T_GT] : "?";
}

static int parse_or(struct px *x, struct val *v);

/* The operator names of oxy's documentation are not in its language (Go's parser reads
 * them as identifiers): say so when one is written. */
static int word_hint(struct px *x, struct slice name, size_t at)
{
	static const char *const words[] = {"AND", "OR",  "EQ", "NEQ", "LT",  "LE", "GT",
					    "GE",  "and", "or", "not", "NOT", NULL};
	for (int i = 0; words[i]; i++)
		if (slice_eq_cstr(name, words[i]))
			return perr(x,
				    "unknown word \"%s\" at byte %zu: write the Go operators && "
				    "|| > >= < <= == !=",
				    words[i], at);
	return 0;
}

/* name(literal, ...): the call, recorded in a fresh comparison slot. */
static int parse_call(struct px *x, struct val *v)
{
	struct slice name = {x->s + x->tpos, x->tlen};
	size_t at = x->tpos;
	next(x);
	if (x->rc)
		return x->rc;
	if (x->t != T_LP) {
		if (word_hint(x, name, at) < 0)
			return x->rc;
		return perr(x,
			    "\"%.*s\" at byte %zu is not a function call (NetworkErrorRatio(), "
			    "LatencyAtQuantileMS(q), ResponseCodeRatio(a, b, c, d))",
			    (int)(name.len < 40 ? name.len : 40), name.p, at);
	}
	uint8_t fn;
	int want;
	if (slice_eq_cstr(name, "NetworkErrorRatio")) {
		fn = PB_NETERR;
		want = 0;
	} else if (slice_eq_cstr(name, "LatencyAtQuantileMS")) {
		fn = PB_LATENCY;
		want = 1;
	} else if (slice_eq_cstr(name, "ResponseCodeRatio")) {
		fn = PB_CODES;
		want = 4;
	} else {
		return perr(x,
			    "unsupported function \"%.*s\" at byte %zu (NetworkErrorRatio, "
			    "LatencyAtQuantileMS, ResponseCodeRatio)",
			    (int)(name.len < 40 ? name.len : 40), name.p, at);
	}
	/* Arguments: basic literals only (oxy: "expected literal"). */
	enum tk at_t[4];
	int64_t ai[4];
	double af[4];
	int nargs = 0;
	next(x);
	while (!x->rc && x->t != T_RP) {
		if (x->t != T_INT && x->t != T_FLOAT) {
			char b[48];
			return perr(x, "%.*s: expected a number as argument at byte %zu, found %s",
				    (int)name.len, name.p, x->tpos, tok_text(x, b, sizeof b));
		}
		if (nargs == 4)
			return perr(x, "%.*s takes %d argument%s", (int)name.len, name.p, want,
				    want == 1 ? "" : "s");
		at_t[nargs] = x->t;
		ai[nargs] = x->ival;
		af[nargs] = x->fval;
		nargs++;
		next(x);
		if (x->rc)
			return x->rc;
		if (x->t == T_COMMA) {
			next(x);
			if (!x->rc && x->t == T_RP)
				break; /* Go allows a trailing comma */
		} else if (x->t != T_RP) {
			char b[48];
			return perr(x, "%.*s: expected , or ) at byte %zu, found %s", (int)name.len,
				    name.p, x->tpos, tok_text(x, b, sizeof b));
		}
	}
	if (x->rc)
		return x->rc;
	if (nargs != want)
		return perr(x, "%.*s takes %d argument%s, not %d", (int)name.len, name.p, want,
			    want == 1 ? "" : "s", nargs);
	struct proxy_breaker_prog *p = x->p;
	if (p->ncmp == PROXY_BREAKER_MAX_FUNCS)
		return perr(x, "too many function calls (at most %d)", PROXY_BREAKER_MAX_FUNCS);
	struct proxy_breaker_cmp *c = &p->cmp[p->ncmp];
	memset(c, 0, sizeof *c);
	c->fn = fn;
	if (fn == PB_LATENCY) {
		if (at_t[0] != T_FLOAT)
			return perr(x,
				    "LatencyAtQuantileMS takes a float quantile in percent: write "
				    "%lld.0, not %lld",
				    (long long)ai[0], (long long)ai[0]);
		c->q = af[0] > 100 ? 100 : af[0];
	} else if (fn == PB_CODES) {
		for (int i = 0; i < 4; i++) {
			if (at_t[i] != T_INT)
				return perr(x, "ResponseCodeRatio takes integer status codes "
					       "(as ResponseCodeRatio(500, 600, 0, 600))");
			c->r[i] = (int32_t)ai[i];
		}
	}
	v->t = fn == PB_LATENCY ? V_INTFN : V_FLOATFN;
	v->cmp = p->ncmp++;
	v->pos = at;
	next(x);
	return x->rc;
}

static int parse_primary(struct px *x, struct val *v)
{
	memset(v, 0, sizeof *v);
	v->pos = x->tpos;
	switch (x->t) {
	case T_LP:
		if (++x->depth > PROXY_BREAKER_MAX_DEPTH)
			return perr(x, "parentheses nested deeper than %d",
				    PROXY_BREAKER_MAX_DEPTH);
		next(x);
		if (parse_or(x, v) < 0)
			return x->rc;
		if (x->t != T_RP) {
			char b[48];
			return perr(x, "expected ) at byte %zu, found %s", x->tpos,
				    tok_text(x, b, sizeof b));
		}
		x->depth--;
		next(x);
		return x->rc;
	case T_INT:
		v->t = V_INT;
		v->i = x->ival;
		next(x);
		return x->rc;
	case T_FLOAT:
		v->t = V_FLOAT;
		v->f = x->fval;
		next(x);
		return x->rc;
	case T_IDENT: return parse_call(x, v);
	default: {
		char b[48];
		return perr(x, "expected a function call, a number or ( at byte %zu, found %s",
			    x->tpos, tok_text(x, b, sizeof b));
	}
	}
}

static int add_range(struct px *x, int32_t lo, int32_t hi)
{
	struct proxy_breaker_prog *p = x->p;
	assert(p->nranges < 2 * PROXY_BREAKER_MAX_FUNCS);
	p->range_lo[p->nranges] = lo;
	p->range_hi[p->nranges] = hi;
	return p->nranges++;
}

static int add_thr(struct px *x, uint64_t ms)
{
	struct proxy_breaker_prog *p = x->p;
	assert(p->nthr < 2 * PROXY_BREAKER_MAX_FUNCS);
	p->thr_ms[p->nthr] = ms;
	return p->nthr++;
}

static void emit(struct px *x, uint8_t code)
{
	struct proxy_breaker_prog *p = x->p;
	assert(p->ncode < sizeof p->code);
	p->code[p->ncode++] = code;
}

/* primary [cmpop primary] */
static int parse_cmp(struct px *x, struct val *v)
{
	struct val l, r;
	if (parse_primary(x, &l) < 0)
		return x->rc;
	if (!is_cmp_tok(x->t)) {
		*v = l;
		return 0;
	}
	enum tk op = x->t;
	size_t at = x->tpos;
	next(x);
	if (x->rc || parse_primary(x, &r) < 0)
		return x->rc;
	if (l.t != V_FLOATFN && l.t != V_INTFN)
		return perr(x,
			    "%s at byte %zu needs a function call on its left and a number on its "
			    "right (as NetworkErrorRatio() > 0.5)",
			    op_text(op), at);
	if (r.t != V_INT && r.t != V_FLOAT)
		return perr(x, "%s at byte %zu needs a number on its right", op_text(op), at);
	struct proxy_breaker_cmp *c = &x->p->cmp[l.cmp];
	c->op = (uint8_t)(PB_GT + (op - T_GT));
	if (l.t == V_FLOATFN) {
		if (r.t != V_FLOAT)
			return perr(x,
				    "%s is a ratio: compare it with a float, as %lld.0 (at byte "
				    "%zu)",
				    c->fn == PB_NETERR ? "NetworkErrorRatio()"
						       : "ResponseCodeRatio()",
				    (long long)r.i, r.pos);
		c->fval = r.f;
		if (c->fn == PB_CODES) {
			c->slot = (uint8_t)add_range(x, c->r[0], c->r[1]);
			add_range(x, c->r[2], c->r[3]);
		}
	} else {
		if (r.t != V_INT)
			return perr(
				x,
				"LatencyAtQuantileMS() is whole milliseconds: compare it with an "
				"integer, as 50 (at byte %zu)",
				r.pos);
		c->ival = r.i;
		c->slot = (uint8_t)add_thr(x, (uint64_t)r.i);
		add_thr(x, (uint64_t)r.i + 1);
	}
	emit(x, (uint8_t)l.cmp);
	if (is_cmp_tok(x->t))
		return perr(x, "comparisons cannot be chained (%s at byte %zu)", op_text(x->t),
			    x->tpos);
	memset(v, 0, sizeof *v);
	v->t = V_BOOL;
	v->pos = l.pos;
	return 0;
}

static int parse_and(struct px *x, struct val *v)
{
	if (parse_cmp(x, v) < 0)
		return x->rc;
	while (x->t == T_AND) {
		size_t at = x->tpos;
		struct val r;
		next(x);
		if (x->rc || parse_cmp(x, &r) < 0)
			return x->rc;
		if (v->t != V_BOOL || r.t != V_BOOL)
			return perr(x, "&& at byte %zu needs a comparison on each side", at);
		emit(x, PB_CODE_AND);
	}
	return 0;
}

static int parse_or(struct px *x, struct val *v)
{
	if (parse_and(x, v) < 0)
		return x->rc;
	while (x->t == T_OR) {
		size_t at = x->tpos;
		struct val r;
		next(x);
		if (x->rc || parse_and(x, &r) < 0)
			return x->rc;
		if (v->t != V_BOOL || r.t != V_BOOL)
			return perr(x, "|| at byte %zu needs a comparison on each side", at);
		emit(x, PB_CODE_OR);
	}
	return 0;
}

int proxy_breaker_compile(struct slice expr, struct proxy_breaker_prog *out, char *msg, size_t cap)
{
	struct px x;
	memset(&x, 0, sizeof x);
	memset(out, 0, sizeof *out);
	x.s = expr.p;
	x.n = expr.len;
	x.p = out;
	x.msg = msg;
	x.cap = cap;
	if (msg && cap)
		msg[0] = 0;
	if (expr.len > PROXY_BREAKER_MAX_EXPR)
		return perr(&x, "expression over %d bytes", PROXY_BREAKER_MAX_EXPR);
	next(&x);
	if (x.rc)
		goto fail;
	if (x.t == T_END)
		return perr(&x, "empty expression");
	struct val v;
	if (parse_or(&x, &v) < 0)
		goto fail;
	if (x.t == T_IDENT && word_hint(&x, (struct slice){x.s + x.tpos, x.tlen}, x.tpos) < 0)
		goto fail;
	if (x.t != T_END) {
		char b[48];
		perr(&x, "unexpected %s at byte %zu", tok_text(&x, b, sizeof b), x.tpos);
		goto fail;
	}
	if (v.t != V_BOOL) {
		perr(&x, "the expression must be a comparison, as NetworkErrorRatio() > 0.5");
		goto fail;
	}
	return 0;
fail:
	memset(out, 0, sizeof *out);
	return x.rc;
}

int proxy_breaker_validate(struct slice expr, char *msg, size_t cap)
{
	struct proxy_breaker_prog p;
	return proxy_breaker_compile(expr, &p, msg, cap);
}

/* ---- metrics -------------------------------------------------------------------------------
 *
 * A ring of n buckets of `period` ms, `cols` counters each. The bucket of period index e
 * is e % n; ep1 remembers which index a bucket holds (plus one), so a bucket left from an
 * earlier lap is cleared when reused and ignored when summed: the window is the current
 * period and the n - 1 before it, as memmetrics' RollingCounter.
 *
 * Everything below works on a breaker's core (struct proxy_breaker_core): the inline one of a
 * private breaker, or the node's in a shared slot, under the slot's lock (enter / leave). */

static uint32_t *ring_slot(uint64_t *ep1, uint32_t *v, size_t n, size_t cols, uint64_t period,
			   uint64_t now)
{
	uint64_t e = now / period;
	size_t i = (size_t)(e % n);
	if (ep1[i] != e + 1) {
		memset(v + i * cols, 0, cols * sizeof *v);
		ep1[i] = e + 1;
	}
	return v + i * cols;
}

static uint64_t ring_sum(const uint64_t *ep1, const uint32_t *v, size_t n, size_t cols,
			 uint64_t period, uint64_t now, size_t col)
{
	uint64_t e = now / period, s = 0;
	for (size_t i = 0; i < n; i++)
		if (ep1[i] && ep1[i] - 1 <= e && ep1[i] - 1 + n > e)
			s += v[i * cols + col];
	return s;
}

static uint64_t win_sum(const struct proxy_breaker_core *s, uint64_t now, size_t col)
{
	return ring_sum(s->win.ep1, &s->win.v[0][0], PROXY_BREAKER_BUCKETS, PB_COLS,
			PROXY_BREAKER_BUCKET_MS, now, col);
}

static uint64_t lwin_sum(const struct proxy_breaker_core *s, uint64_t now, size_t col)
{
	return ring_sum(s->lwin.ep1, &s->lwin.v[0][0], PROXY_BREAKER_LBUCKETS, PB_LCOLS,
			PROXY_BREAKER_LBUCKET_MS, now, col);
}

static double neterr_ratio(const struct proxy_breaker_core *s, uint64_t now)
{
	uint64_t total = win_sum(s, now, 0);
	if (total == 0)
		return 0;
	return (double)win_sum(s, now, 1) / (double)total;
}

/* ResponseCodeRatio of comparison k: 0 when the divisor range saw nothing (oxy). */
static double code_ratio(const struct proxy_breaker_prog *p, const struct proxy_breaker_core *s,
			 uint32_t k, uint64_t now)
{
	const struct proxy_breaker_cmp *c = &p->cmp[k];
	uint64_t den = win_sum(s, now, 2 + (size_t)c->slot + 1);
	if (den == 0)
		return 0;
	return (double)win_sum(s, now, 2 + c->slot) / (double)den;
}

/* Where LatencyAtQuantileMS(q) of comparison k stands against its constant K: -1 below, 0
 * equal, 1 above. The value is the smallest latency v with count(latency <= v) >= rank, rank =
 * round(q / 100 x requests), 0 when rank is 0 (no requests: as HdrHistogram's
 * ValueAtQuantile); so v < K iff count(< K) >= rank, v == K iff count(< K + 1) >= rank. */
static int64_t latency_cmp(const struct proxy_breaker_prog *p, const struct proxy_breaker_core *s,
			   uint32_t k, uint64_t now)
{
	const struct proxy_breaker_cmp *c = &p->cmp[k];
	uint64_t total = lwin_sum(s, now, 0);
	int64_t rank = (int64_t)((c->q / 100.0) * (double)total + 0.5);
	if (rank <= 0)
		return c->ival == 0 ? 0 : -1;
	if ((int64_t)lwin_sum(s, now, 1 + (size_t)c->slot) >= rank)
		return -1;
	if ((int64_t)lwin_sum(s, now, 1 + (size_t)c->slot + 1) >= rank)
		return 0;
	return 1;
}

static bool fcmp(double a, uint8_t op, double k)
{
	switch (op) {
	case PB_GT: return a > k;
	case PB_GE: return a >= k;
	case PB_LT: return a < k;
	case PB_LE: return a <= k;
	case PB_EQ: return a == k;
	default: return a != k;
	}
}

static bool eval(const struct proxy_breaker_prog *p, const struct proxy_breaker_core *s,
		 uint64_t now)
{
	bool st[2 * PROXY_BREAKER_MAX_FUNCS];
	size_t sp = 0;
	for (uint32_t i = 0; i < p->ncode; i++) {
		uint8_t op = p->code[i];
		if (op == PB_CODE_AND || op == PB_CODE_OR) {
			assert(sp >= 2);
			bool r = st[--sp];
			st[sp - 1] = op == PB_CODE_AND ? st[sp - 1] && r : st[sp - 1] || r;
			continue;
		}
		const struct proxy_breaker_cmp *c = &p->cmp[op];
		bool r;
		if (c->fn == PB_NETERR)
			r = fcmp(neterr_ratio(s, now), c->op, c->fval);
		else if (c->fn == PB_CODES)
			r = fcmp(code_ratio(p, s, op, now), c->op, c->fval);
		else
			r = fcmp((double)latency_cmp(p, s, op, now), c->op, 0);
		assert(sp < sizeof st / sizeof st[0]);
		st[sp++] = r;
	}
	return sp == 1 && st[0];
}

/* The core a call works on: the inline one, or the node's with its slot locked and now moved
 * to the latest time any worker gave it (proxy_cbs_lock). Every enter has its leave. */
static struct proxy_breaker_core *enter(struct proxy_breaker *b, uint64_t *now)
{
	if (!b->shared)
		return &b->core;
	*now = proxy_cbs_lock(b->sh.cbs, b->sh.slot, *now);
	return &b->sh.slot->core;
}

static void leave(struct proxy_breaker *b)
{
	if (b->shared)
		proxy_cbs_unlock(b->sh.cbs, b->sh.slot);
}

uint64_t proxy_breaker_requests(struct proxy_breaker *b, uint64_t now_ms)
{
	const struct proxy_breaker_core *s = enter(b, &now_ms);
	uint64_t r = win_sum(s, now_ms, 0);
	leave(b);
	return r;
}

double proxy_breaker_neterr_ratio(struct proxy_breaker *b, uint64_t now_ms)
{
	const struct proxy_breaker_core *s = enter(b, &now_ms);
	double r = neterr_ratio(s, now_ms);
	leave(b);
	return r;
}

double proxy_breaker_code_ratio(struct proxy_breaker *b, uint32_t k, uint64_t now_ms)
{
	const struct proxy_breaker_core *s = enter(b, &now_ms);
	double r = code_ratio(&b->prog, s, k, now_ms);
	leave(b);
	return r;
}

int64_t proxy_breaker_latency_ms_cmp(struct proxy_breaker *b, uint32_t k, uint64_t now_ms)
{
	const struct proxy_breaker_core *s = enter(b, &now_ms);
	int64_t r = latency_cmp(&b->prog, s, k, now_ms);
	leave(b);
	return r;
}

bool proxy_breaker_eval(struct proxy_breaker *b, uint64_t now_ms)
{
	const struct proxy_breaker_core *s = enter(b, &now_ms);
	bool r = eval(&b->prog, s, now_ms);
	leave(b);
	return r;
}

/* ---- the state machine ---------------------------------------------------------------------- */

const char *proxy_breaker_state_name(uint8_t state)
{
	switch (state) {
	case PB_STANDBY: return "standby";
	case PB_TRIPPED: return "tripped";
	case PB_RECOVERING: return "recovering";
	default: return "?";
	}
}

uint8_t proxy_breaker_state(struct proxy_breaker *b)
{
	uint64_t now = 0; /* moves no clock: the slot's latest stays */
	const struct proxy_breaker_core *s = enter(b, &now);
	uint8_t st = s->state;
	leave(b);
	return st;
}

/* A state change made under the slot's lock, counted and logged after leave (a shared
 * slot's lock is not held across a log write). */
struct pb_event {
	uint8_t kind; /* 0: none, else 1 + the new state (enum proxy_breaker_state) */
	uint64_t requests;
	double neterr;
};

static void metrics_reset(struct proxy_breaker_core *s)
{
	memset(&s->win, 0, sizeof s->win);
	memset(&s->lwin, 0, sizeof s->lwin);
}

void proxy_breaker_init(struct proxy_breaker *b, const struct proxy_breaker_prog *p,
			struct slice name)
{
	memset(b, 0, sizeof *b);
	b->prog = *p;
	b->name = name;
	b->core.state = PB_STANDBY;
}

void proxy_breaker_init_shared(struct proxy_breaker *b, const struct proxy_breaker_prog *p,
			       struct slice name, struct proxy_cbs *cbs,
			       struct proxy_cbs_slot *slot, uint32_t idx)
{
	memset(b, 0, sizeof *b);
	b->prog = *p;
	b->name = name;
	b->shared = 1;
	b->sh.cbs = cbs;
	b->sh.slot = slot;
	b->sh.idx = idx;
}

static void trip(struct proxy_breaker_core *s, uint64_t now, struct pb_event *ev)
{
	s->state = PB_TRIPPED;
	s->until = now + PROXY_BREAKER_FALLBACK_MS;
	s->trips++;
	ev->kind = 1 + PB_TRIPPED;
	ev->requests = win_sum(s, now, 0);
	ev->neterr = neterr_ratio(s, now);
	metrics_reset(s);
}

static void emit_event(struct proxy_breaker *b, const struct pb_event *ev)
{
	if (!ev->kind)
		return;
	char q[96];
	char nm[96];
	snprintf(nm, sizeof nm, "%.*s", (int)(b->name.len < 80 ? b->name.len : 80), b->name.p);
	if (ev->kind == 1 + PB_TRIPPED) {
		if (b->metrics)
			proxy_metrics_breaker(b->metrics, b->m_be, true);
		log_warn("circuit breaker tripped: requests to the backend are answered 503",
			 "backend=%s state=tripped fallback_ms=%d requests=%llu neterr_ratio=%.3f",
			 log_q(q, sizeof q, nm), PROXY_BREAKER_FALLBACK_MS,
			 (unsigned long long)ev->requests, ev->neterr);
	} else {
		log_info(ev->kind == 1 + PB_RECOVERING
				 ? "circuit breaker recovering: letting a growing "
				   "share of requests through"
				 : "circuit breaker back to standby",
			 "backend=%s state=%s", log_q(q, sizeof q, nm),
			 proxy_breaker_state_name((uint8_t)(ev->kind - 1)));
	}
}

static bool core_allow(struct proxy_breaker_core *s, uint64_t now_ms, struct pb_event *ev)
{
	if (s->state == PB_STANDBY)
		return true;
	if (s->state == PB_TRIPPED) {
		if (now_ms < s->until) {
			s->fallbacks++;
			return false;
		}
		s->state = PB_RECOVERING;
		s->until = now_ms + PROXY_BREAKER_RECOVERY_MS;
		s->rc_start = now_ms;
		s->rc_allowed = s->rc_denied = 0;
		ev->kind = 1 + PB_RECOVERING;
	}
	if (now_ms > s->until) {
		s->state = PB_STANDBY;
		ev->kind = 1 + PB_STANDBY;
		return true;
	}
	/* oxy's ratioController: the share allowed since Recovering began, counting this
	 * request, must stay under 0.5 x elapsed / recovery (0 at the start, 1/2 at the end:
	 * at a steady rate the pass rate itself rises from 0 to 1). */
	double target = 0.5 * (double)(now_ms - s->rc_start) / (double)PROXY_BREAKER_RECOVERY_MS;
	double share = (double)(s->rc_allowed + 1) / (double)(s->rc_allowed + 1 + s->rc_denied);
	if (share < target) {
		s->rc_allowed++;
		return true;
	}
	s->rc_denied++;
	s->fallbacks++;
	return false;
}

bool proxy_breaker_allow(struct proxy_breaker *b, uint64_t now_ms)
{
	if (!b->shared && b->core.state == PB_STANDBY)
		return true;
	struct pb_event ev = {0};
	struct proxy_breaker_core *s = enter(b, &now_ms);
	bool ok = core_allow(s, now_ms, &ev);
	leave(b);
	emit_event(b, &ev);
	return ok;
}

static void core_record(const struct proxy_breaker_prog *p, struct proxy_breaker_core *s,
			int status, uint64_t latency_ms, uint64_t now_ms, struct pb_event *ev)
{
	if (status > 0) {
		uint32_t *v = ring_slot(s->win.ep1, &s->win.v[0][0], PROXY_BREAKER_BUCKETS, PB_COLS,
					PROXY_BREAKER_BUCKET_MS, now_ms);
		v[0]++;
		if (status == 502 || status == 504)
			v[1]++; /* memmetrics: Bad Gateway and Gateway Timeout are network errors */
		for (uint32_t i = 0; i < p->nranges; i++)
			if (status >= p->range_lo[i] && status < p->range_hi[i])
				v[2 + i]++;
		uint32_t *l = ring_slot(s->lwin.ep1, &s->lwin.v[0][0], PROXY_BREAKER_LBUCKETS,
					PB_LCOLS, PROXY_BREAKER_LBUCKET_MS, now_ms);
		l[0]++;
		for (uint32_t i = 0; i < p->nthr; i++)
			if (latency_ms < p->thr_ms[i])
				l[1 + i]++;
	}
	/* oxy checkAndSet: at most once per check period, never while Tripped. Shared, the
	 * period is the node's: one worker checks, the others find next_check ahead. */
	if (now_ms < s->next_check)
		return;
	s->next_check = now_ms + PROXY_BREAKER_CHECK_MS;
	if (s->state == PB_TRIPPED)
		return;
	if (eval(p, s, now_ms))
		trip(s, now_ms, ev);
}

void proxy_breaker_record(struct proxy_breaker *b, int status, uint64_t latency_ms, uint64_t now_ms)
{
	struct pb_event ev = {0};
	struct proxy_breaker_core *s = enter(b, &now_ms);
	core_record(&b->prog, s, status, latency_ms, now_ms, &ev);
	leave(b);
	emit_event(b, &ev);
}

/* ---- engine glue -------------------------------------------------------------------------- */

/* The worker's view of the node's breakers (proxy_breaker_use_shared): set once, before the
 * engine starts, by a worker of a node with several workers; NULL otherwise. The one mutable
 * global of this module: the engine's headers carry no field for it. */
static struct proxy_cbs *pb_shared;

void proxy_breaker_use_shared(struct proxy_cbs *cbs)
{
	pb_shared = cbs;
}

size_t proxy_breaker_bytes_max(const struct proxy_limits *lim)
{
	return (size_t)lim->max_backends * sizeof(struct proxy_breaker);
}

static uint32_t gen_count(const struct proxy_table *t)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < t->nbe; i++)
		if (t->be[i].cb_expression.len)
			n++;
	return n;
}

int proxy_breaker_gen_build(struct proxy_gen *g, char *msg, size_t cap)
{
	const struct proxy_table *t = g->t;
	uint32_t n = gen_count(t);
	g->cb_mem = NULL;
	if (n == 0)
		return 0;
	struct proxy_breaker *bs = calloc(n, sizeof *bs);
	if (!bs) {
		snprintf(msg, cap, "out of memory for the circuit breakers");
		return -ERR_NOMEM;
	}
	g->cb_mem = bs;
	/* Shared: the breakers of this (document revision, node load epoch) — the same for
	 * every worker building its table for this reload (proxy_breaker_shared.h, "Keys"). */
	struct proxy_cbs *cbs = pb_shared;
	uint64_t epoch = cbs ? proxy_cbs_epoch(cbs) : 0;
	uint32_t k = 0, joined = 0, full = 0;
	for (uint32_t i = 0; i < t->nbe; i++) {
		const struct proxy_backend *be = &t->be[i];
		if (!be->cb_expression.len)
			continue;
		struct proxy_breaker_prog prog;
		char why[160];
		if (proxy_breaker_compile(be->cb_expression, &prog, why, sizeof why) < 0) {
			/* The loader validated it: only a bug gets here. */
			snprintf(msg, cap, "backends.%.*s.circuitBreaker.expression: %s",
				 (int)be->name.len, be->name.p, why);
			return -ERR_PROXY_CONFIG;
		}
		uint32_t idx = 0;
		struct proxy_cbs_slot *sl = NULL;
		int r = -1;
		if (cbs)
			r = proxy_cbs_get(
				cbs,
				proxy_cbs_key(cbs, be->name, be->cb_expression, t->revision, epoch),
				&idx, &sl);
		if (r >= 0) {
			proxy_breaker_init_shared(&bs[k], &prog, be->name, cbs, sl, idx);
			joined += r == 0;
		} else {
			full += cbs != NULL;
			proxy_breaker_init(&bs[k], &prog, be->name);
		}
		if (g->eng && g->eng->metrics) {
			bs[k].metrics = g->eng->metrics;
			bs[k].m_be = g->be[i].m_be;
			/* the backend's traefikee_breaker_trips_total series, at 0 */
			proxy_metrics_breaker(bs[k].metrics, bs[k].m_be, false);
		}
		g->be[i].cb = &bs[k++];
	}
	if (cbs)
		log_info("circuit breakers: the node's, shared by its workers",
			 "breakers=%u joined=%u fresh=%u private=%u revision=%llu epoch=%llu", n,
			 joined, n - joined - full, full, (unsigned long long)t->revision,
			 (unsigned long long)epoch);
	if (full)
		log_warn("circuit breakers: the node's table is full; these backends keep a "
			 "breaker per worker for this table",
			 "private=%u", full);
	return 0;
}

uint32_t proxy_breaker_gen_tripped(const struct proxy_gen *g, uint64_t now_ms)
{
	uint32_t n = 0;
	for (uint32_t i = 0; g && i < g->t->nbe; i++) {
		struct proxy_breaker *b = g->be[i].cb;
		if (!b)
			continue;
		uint64_t now = now_ms;
		const struct proxy_breaker_core *s = enter(b, &now);
		if (s->state == PB_TRIPPED && now < s->until)
			n++;
		leave(b);
	}
	return n;
}

void proxy_breaker_gen_free(struct proxy_gen *g)
{
	struct proxy_breaker *bs = g->cb_mem;
	if (bs && g->t) {
		uint32_t n = gen_count(g->t);
		for (uint32_t k = 0; k < n; k++)
			if (bs[k].shared)
				proxy_cbs_put(bs[k].sh.cbs, bs[k].sh.idx);
	}
	free(g->cb_mem);
	g->cb_mem = NULL;
}
