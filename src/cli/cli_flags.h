/* cli_flags.h — command-line flags in the style of Traefik v1 ("flaeg").
 *
 *   --name=value   --name value   --name (booleans only)   --name=true|false
 *
 * Names are ASCII case-insensitive (--controlNodes and --controlnodes are
 * one flag) and may contain dots (--consul.endpoint). A single leading dash
 * is accepted too (-api). "--" ends the flags. A boolean given as a bare
 * "--name" never takes the next argument, so "--api list-nodes" cannot be
 * misread. List flags (--entryPoints) may repeat; other flags take the last
 * value given. Everything that is not a flag is a positional argument.
 *
 * Values are pointers into argv (or into the defaults table): nothing is
 * allocated, and they live as long as argv does.
 */
#ifndef CLI_FLAGS_H
#define CLI_FLAGS_H

#include <stddef.h>
#include <stdint.h>

enum flag_type {
	FLAG_BOOL,
	FLAG_STRING,
	FLAG_INT,  /* signed decimal, range-checked against min/max */
	FLAG_LIST, /* repeatable string */
};

struct flag_def {
	const char *name; /* canonical spelling, shown in --help */
	enum flag_type type;
	const char *def;  /* default as text (NULL: none); bools "false"/"true" */
	const char *help; /* one line */
	int64_t min, max; /* FLAG_INT only; both 0 means no bounds */
};

#define FLAG_LIST_MAX 32
#define FLAG_POS_MAX 16

struct flag_val {
	int set; /* given on the command line */
	const char *str;
	int64_t num;
	int on;
	const char *list[FLAG_LIST_MAX];
	unsigned nlist;
};

struct flag_set {
	const struct flag_def *defs;
	struct flag_val *vals; /* ndefs entries, filled by flags_parse */
	size_t ndefs;
	const char *pos[FLAG_POS_MAX];
	unsigned npos;
	int help; /* --help or -h was given */
	char errmsg[256];
};

/* Parse argv[0..argc) against defs (vals has ndefs slots). Defaults are
 * applied first. 0, or -ERR_USAGE with fs->errmsg saying what is wrong
 * (unknown flag, missing value, bad integer, out of range, too many
 * values). --help/-h sets fs->help and is not an error. */
int flags_parse(struct flag_set *fs, const struct flag_def *defs, struct flag_val *vals,
		size_t ndefs, int argc, char **argv);

/* Typed lookups by canonical name (case-insensitive). Asking for a name
 * that is not in the table is a programmer error (asserts). */
const struct flag_val *flags_get(const struct flag_set *fs, const char *name);
const char *flags_str(const struct flag_set *fs, const char *name);
int64_t flags_int(const struct flag_set *fs, const char *name);
int flags_bool(const struct flag_set *fs, const char *name);
int flags_is_set(const struct flag_set *fs, const char *name);

/* Print "  --name=<type>  help (default: x)" lines for every flag. */
struct buf;
int flags_help(const struct flag_def *defs, size_t ndefs, struct buf *out);

#endif
