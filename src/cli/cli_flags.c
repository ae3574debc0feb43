/* cli_flags.c — see cli_flags.h. */
#include "cli/cli_flags.h"

#include "base/base_buf.h"
#include "base/base_err.h"
#include "base/base_slice.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static int parse_bool(const char *s, int *out)
{
	struct slice v = slice_from_cstr(s);
	if (slice_eq_cstr_ci(v, "true") || slice_eq_cstr(v, "1")) {
		*out = 1;
		return 0;
	}
	if (slice_eq_cstr_ci(v, "false") || slice_eq_cstr(v, "0")) {
		*out = 0;
		return 0;
	}
	return -ERR_PARSE;
}

static int parse_int(const char *s, int64_t *out)
{
	struct slice v = slice_from_cstr(s);
	int neg = 0;
	if (v.len && (v.p[0] == '-' || v.p[0] == '+')) {
		neg = v.p[0] == '-';
		v.p++;
		v.len--;
	}
	uint64_t u;
	int rc = slice_to_u64(v, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &u);
	if (rc)
		return rc;
	*out = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

static int usage_err(struct flag_set *fs, const char *fmt, const char *a, const char *b)
{
	snprintf(fs->errmsg, sizeof fs->errmsg, fmt, a, b);
	return -ERR_USAGE;
}

/* Store text as the value of flag i. */
static int flag_assign(struct flag_set *fs, size_t i, const char *text, int from_default)
{
	const struct flag_def *d = &fs->defs[i];
	struct flag_val *v = &fs->vals[i];
	switch (d->type) {
	case FLAG_BOOL:
		if (parse_bool(text, &v->on))
			return usage_err(fs,
					 "flag --%s: invalid boolean \"%s\" (use true or false)",
					 d->name, text);
		break;
	case FLAG_INT:
		if (parse_int(text, &v->num))
			return usage_err(fs, "flag --%s: invalid integer \"%s\"", d->name, text);
		if ((d->min || d->max) && (v->num < d->min || v->num > d->max)) {
			char range[64];
			snprintf(range, sizeof range, "%s\" is out of range [%lld, %lld]", text,
				 (long long)d->min, (long long)d->max);
			return usage_err(fs, "flag --%s: \"%s", d->name, range);
		}
		break;
	case FLAG_LIST:
		if (from_default)
			break;
		if (v->nlist >= FLAG_LIST_MAX)
			return usage_err(fs, "flag --%s: more than %s values", d->name, "32");
		v->list[v->nlist++] = text;
		break;
	case FLAG_STRING: break;
	}
	v->str = text;
	if (!from_default)
		v->set = 1;
	return 0;
}

static long flag_find(const struct flag_set *fs, struct slice name)
{
	for (size_t i = 0; i < fs->ndefs; i++)
		if (slice_eq_cstr_ci(name, fs->defs[i].name))
			return (long)i;
	return -1;
}

int flags_parse(struct flag_set *fs, const struct flag_def *defs, struct flag_val *vals,
		size_t ndefs, int argc, char **argv)
{
	memset(vals, 0, ndefs * sizeof *vals);
	fs->defs = defs;
	fs->vals = vals;
	fs->ndefs = ndefs;
	fs->npos = 0;
	fs->help = 0;
	fs->errmsg[0] = 0;
	for (size_t i = 0; i < ndefs; i++) {
		const char *def =
			defs[i].def ? defs[i].def : (defs[i].type == FLAG_BOOL ? "false" : 0);
		if (def) {
			int rc = flag_assign(fs, i, def, 1);
			assert(rc == 0); /* defaults are ours: they must parse */
			(void)rc;
		}
	}
	int flags_done = 0;
	for (int a = 0; a < argc; a++) {
		const char *arg = argv[a];
		if (flags_done || arg[0] != '-' || arg[1] == 0) {
			if (fs->npos >= FLAG_POS_MAX)
				return usage_err(fs, "too many arguments (at most %s)%s", "16", "");
			fs->pos[fs->npos++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			flags_done = 1;
			continue;
		}
		struct slice body = slice_from_cstr(arg + (arg[1] == '-' ? 2 : 1));
		struct slice value;
		struct slice name = slice_cut(body, '=', &value);
		int has_value = value.p != NULL;
		if (slice_eq_cstr_ci(name, "help") || slice_eq_cstr(name, "h")) {
			fs->help = 1;
			continue;
		}
		long i = flag_find(fs, name);
		if (i < 0) {
			char shown[96];
			slice_to_cstr((struct slice){name.p, name.len < 80 ? name.len : 80}, shown,
				      sizeof shown);
			return usage_err(fs, "unknown flag --%s%s", shown, "");
		}
		const char *text;
		if (has_value) {
			text = value.p; /* value runs to the end of argv[a]: NUL-terminated */
		} else if (defs[i].type == FLAG_BOOL) {
			text = "true";
		} else if (a + 1 < argc) {
			text = argv[++a];
		} else {
			return usage_err(fs, "flag --%s needs a value%s", defs[i].name, "");
		}
		int rc = flag_assign(fs, (size_t)i, text, 0);
		if (rc)
			return rc;
	}
	return 0;
}

const struct flag_val *flags_get(const struct flag_set *fs, const char *name)
{
	long i = flag_find(fs, slice_from_cstr(name));
	assert(i >= 0);
	return &fs->vals[i];
}

const char *flags_str(const struct flag_set *fs, const char *name)
{
	return flags_get(fs, name)->str;
}

int64_t flags_int(const struct flag_set *fs, const char *name)
{
	return flags_get(fs, name)->num;
}

int flags_bool(const struct flag_set *fs, const char *name)
{
	return flags_get(fs, name)->on;
}

int flags_is_set(const struct flag_set *fs, const char *name)
{
	return flags_get(fs, name)->set;
}

int flags_help(const struct flag_def *defs, size_t ndefs, struct buf *out)
{
	int rc = 0;
	for (size_t i = 0; i < ndefs && !rc; i++) {
		const struct flag_def *d = &defs[i];
		char left[64];
		const char *kind = d->type == FLAG_BOOL   ? ""
				   : d->type == FLAG_INT  ? "=<int>"
				   : d->type == FLAG_LIST ? "=<value> ..."
							  : "=<value>";
		snprintf(left, sizeof left, "--%s%s", d->name, kind);
		rc = buf_printf(out, "  %-34s %s", left, d->help);
		if (!rc && d->def && !(d->type == FLAG_BOOL && strcmp(d->def, "false") == 0))
			rc = buf_printf(out, " (default: %s)", d->def);
		if (!rc)
			rc = buf_append_byte(out, '\n');
	}
	return rc;
}
