/* Unit tests for cli_flags: the flaeg-style forms, case-insensitivity,
 * lists, bounds, errors. */
#include "base/base_buf.h"
#include "base/base_err.h"
#include "cli/cli_flags.h"
#include "test.h"

static const struct flag_def defs[] = {
	{"api", FLAG_BOOL, "false", "dashboard"},
	{"controlNodes", FLAG_INT, "1", "count", 1, 9},
	{"timeout", FLAG_INT, "300", "seconds"},
	{"statedir", FLAG_STRING, "/var/lib/x", "dir"},
	{"consul.endpoint", FLAG_STRING, NULL, "addr"},
	{"entryPoints", FLAG_LIST, NULL, "eps"},
};
#define NDEFS (sizeof defs / sizeof defs[0])

static struct flag_set fs;
static struct flag_val vals[NDEFS];

static int parse(int argc, char **argv)
{
	return flags_parse(&fs, defs, vals, NDEFS, argc, argv);
}

static void defaults_apply(void)
{
	REQUIRE(parse(0, NULL) == 0);
	CHECK_EQ_INT(flags_bool(&fs, "api"), 0);
	CHECK_EQ_INT(flags_int(&fs, "controlnodes"), 1);
	CHECK_EQ_STR(flags_str(&fs, "statedir"), "/var/lib/x");
	CHECK(flags_str(&fs, "consul.endpoint") == NULL);
	CHECK(!flags_is_set(&fs, "statedir"));
	CHECK_EQ_INT(flags_get(&fs, "entrypoints")->nlist, 0);
}

static void three_forms_and_case(void)
{
	char *argv[] = {"--controlNodes=3", "--STATEDIR", "/tmp/s", "--api",
			"--Consul.Endpoint=h:1"};
	REQUIRE(parse(5, argv) == 0);
	CHECK_EQ_INT(flags_int(&fs, "controlnodes"), 3);
	CHECK_EQ_STR(flags_str(&fs, "statedir"), "/tmp/s");
	CHECK(flags_is_set(&fs, "statedir"));
	CHECK_EQ_INT(flags_bool(&fs, "api"), 1);
	CHECK_EQ_STR(flags_str(&fs, "consul.endpoint"), "h:1");
	CHECK_EQ_INT(fs.npos, 0);
}

static void bare_bool_never_takes_next(void)
{
	char *argv[] = {"--api", "list-nodes", "--api=false"};
	REQUIRE(parse(3, argv) == 0);
	CHECK_EQ_INT(fs.npos, 1);
	CHECK_EQ_STR(fs.pos[0], "list-nodes");
	CHECK_EQ_INT(flags_bool(&fs, "api"), 0); /* last value wins */
	char *bad[] = {"--api=maybe"};
	CHECK_EQ_INT(parse(1, bad), -ERR_USAGE);
	CHECK(strstr(fs.errmsg, "invalid boolean") != NULL);
}

static void lists_repeat(void)
{
	char *argv[] = {"--entryPoints=Name:http Address::80", "--entrypoints",
			"Name:https Address::443 TLS"};
	REQUIRE(parse(3, argv) == 0);
	const struct flag_val *v = flags_get(&fs, "entryPoints");
	CHECK_EQ_INT(v->nlist, 2);
	CHECK_EQ_STR(v->list[0], "Name:http Address::80");
	CHECK_EQ_STR(v->list[1], "Name:https Address::443 TLS");
}

static void list_cap_both_sides(void)
{
	char *argv[FLAG_LIST_MAX + 1];
	for (int i = 0; i <= FLAG_LIST_MAX; i++)
		argv[i] = "--entrypoints=x";
	CHECK_EQ_INT(parse(FLAG_LIST_MAX, argv), 0);
	CHECK_EQ_INT(flags_get(&fs, "entrypoints")->nlist, FLAG_LIST_MAX);
	CHECK_EQ_INT(parse(FLAG_LIST_MAX + 1, argv), -ERR_USAGE);
}

static void int_bounds_both_sides(void)
{
	char *ok_lo[] = {"--controlnodes=1"}, *ok_hi[] = {"--controlnodes=9"};
	char *lo[] = {"--controlnodes=0"}, *hi[] = {"--controlnodes=10"};
	CHECK_EQ_INT(parse(1, ok_lo), 0);
	CHECK_EQ_INT(parse(1, ok_hi), 0);
	CHECK_EQ_INT(parse(1, lo), -ERR_USAGE);
	CHECK(strstr(fs.errmsg, "out of range") != NULL);
	CHECK_EQ_INT(parse(1, hi), -ERR_USAGE);
	char *junk[] = {"--timeout=12s"}, *neg[] = {"--timeout=-5"},
	     *huge[] = {"--timeout=99999999999999999999"};
	CHECK_EQ_INT(parse(1, junk), -ERR_USAGE);
	CHECK_EQ_INT(parse(1, neg), 0); /* unbounded flag: accepted as given */
	CHECK_EQ_INT(flags_int(&fs, "timeout"), -5);
	CHECK_EQ_INT(parse(1, huge), -ERR_USAGE);
}

static void errors_are_clear(void)
{
	char *unknown[] = {"--bogus=1"};
	CHECK_EQ_INT(parse(1, unknown), -ERR_USAGE);
	CHECK_EQ_STR(fs.errmsg, "unknown flag --bogus");
	char *missing[] = {"--statedir"};
	CHECK_EQ_INT(parse(1, missing), -ERR_USAGE);
	CHECK_EQ_STR(fs.errmsg, "flag --statedir needs a value");
	char *empty_ok[] = {"--statedir="};
	CHECK_EQ_INT(parse(1, empty_ok), 0);
	CHECK_EQ_STR(flags_str(&fs, "statedir"), "");
}

static void help_and_positionals(void)
{
	char *argv[] = {"a", "--help", "-", "--", "--api"};
	REQUIRE(parse(5, argv) == 0);
	CHECK(fs.help);
	CHECK_EQ_INT(fs.npos, 3);
	CHECK_EQ_STR(fs.pos[2], "--api"); /* after --, flags are arguments */
	CHECK_EQ_INT(flags_bool(&fs, "api"), 0);
	char *many[FLAG_POS_MAX + 1];
	for (int i = 0; i <= FLAG_POS_MAX; i++)
		many[i] = "x";
	CHECK_EQ_INT(parse(FLAG_POS_MAX, many), 0);
	CHECK_EQ_INT(parse(FLAG_POS_MAX + 1, many), -ERR_USAGE);
}

static void help_text(void)
{
	char mem[2048];
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	REQUIRE(flags_help(defs, NDEFS, &b) == 0);
	REQUIRE(buf_append_byte(&b, 0) == 0);
	CHECK(strstr(mem, "--controlNodes=<int>") != NULL);
	CHECK(strstr(mem, "(default: 300)") != NULL);
	CHECK(strstr(mem, "--api ") != NULL);
	CHECK(strstr(mem, "(default: false)") == NULL);
	buf_init(&b, mem, 10);
	CHECK_EQ_INT(flags_help(defs, NDEFS, &b), -ERR_BUF_FULL);
}

TEST_MAIN(defaults_apply, three_forms_and_case, bare_bool_never_takes_next, lists_repeat,
	  list_cap_both_sides, int_bounds_both_sides, errors_are_clear, help_and_positionals,
	  help_text)
