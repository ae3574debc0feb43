/* cli_app.c — see cli_app.h. */
#include "cli/cli_app.h"

#include "base/base_buf.h"
#include "base/base_err.h"
#include "base/base_slice.h"

#include <lmdb.h>
#include <stdio.h>
#include <string.h>

#include "version.h" /* generated: build/gen/version.h */

static void out_buf(const struct buf *b)
{
	fwrite(b->data, 1, b->len, stdout);
	fflush(stdout);
}

void cli_print_usage(const struct cli_prog *prog)
{
	static char mem[8192];
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	buf_printf(&b, "Usage: %s [flags] <command> [<arguments>]\n\n%s\n\nCommands:\n", prog->name,
		   prog->summary);
	for (size_t i = 0; i < prog->ncmds; i++)
		buf_printf(&b, "  %-20s %s\n", prog->cmds[i].name, prog->cmds[i].summary);
	buf_printf(&b, "\nUse \"%s <command> --help\" for help on any command.\n", prog->name);
	out_buf(&b);
}

void cli_print_cmd_help(const struct cli_prog *prog, const struct cli_cmd *cmd)
{
	static char mem[16384];
	struct buf b;
	buf_init(&b, mem, sizeof mem);
	buf_printf(&b, "Usage: %s %s [flags]%s%s\n\n%s\n", prog->name, cmd->name,
		   cmd->args ? " " : "", cmd->args ? cmd->args : "", cmd->summary);
	if (cmd->nflags) {
		buf_append_cstr(&b, "\nFlags:\n");
		flags_help(cmd->flags, cmd->nflags, &b);
	}
	buf_append_cstr(&b, "  --help                             Show this help\n");
	out_buf(&b);
}

static const struct cli_cmd *find_cmd(const struct cli_prog *prog, const char *name)
{
	for (size_t i = 0; i < prog->ncmds; i++)
		if (slice_eq_cstr_ci(slice_from_cstr(name), prog->cmds[i].name))
			return &prog->cmds[i];
	return NULL;
}

int cli_main(const struct cli_prog *prog, int argc, char **argv)
{
	if (argc < 2) {
		cli_print_usage(prog);
		return CLI_EXIT_OK;
	}
	const char *first = argv[1];
	if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0 ||
	    strcmp(first, "help") == 0) {
		const struct cli_cmd *c = argc > 2 ? find_cmd(prog, argv[2]) : NULL;
		if (c)
			cli_print_cmd_help(prog, c);
		else
			cli_print_usage(prog);
		return CLI_EXIT_OK;
	}
	if (strcmp(first, "--version") == 0)
		first = "version";
	const struct cli_cmd *cmd = find_cmd(prog, first);
	if (!cmd) {
		if (first[0] == '-')
			fprintf(stderr, "%s: unknown flag %s before the command\n", prog->name,
				first);
		else
			fprintf(stderr, "%s: unknown command \"%s\"\n", prog->name, first);
		fprintf(stderr, "Run '%s --help' for usage.\n", prog->name);
		return CLI_EXIT_USAGE;
	}
	static struct flag_val vals[64];
	if (cmd->nflags > sizeof vals / sizeof vals[0]) {
		fprintf(stderr, "%s: internal error: %s has too many flags\n", prog->name,
			cmd->name);
		return CLI_EXIT_FAIL;
	}
	static struct flag_set fs;
	if (flags_parse(&fs, cmd->flags, vals, cmd->nflags, argc - 2, argv + 2) != 0) {
		fprintf(stderr, "%s %s: %s\nRun '%s %s --help' for usage.\n", prog->name, cmd->name,
			fs.errmsg, prog->name, cmd->name);
		return CLI_EXIT_USAGE;
	}
	if (fs.help) {
		cli_print_cmd_help(prog, cmd);
		return CLI_EXIT_OK;
	}
	if (fs.npos < cmd->min_args || fs.npos > cmd->max_args) {
		if (cmd->max_args == 0)
			fprintf(stderr, "%s %s: unexpected argument \"%s\"\n", prog->name,
				cmd->name, fs.pos[0]);
		else
			fprintf(stderr, "%s %s: expected %s\n", prog->name, cmd->name,
				cmd->args ? cmd->args : "no arguments");
		fprintf(stderr, "Run '%s %s --help' for usage.\n", prog->name, cmd->name);
		return CLI_EXIT_USAGE;
	}
	return cmd->run(prog, cmd, &fs);
}

int cli_run_version(const struct cli_prog *prog, const struct cli_cmd *cmd, struct flag_set *fs)
{
	printf("%s version %s\n"
	       "  commit:      %s\n"
	       "  build date:  %s\n"
	       "  BearSSL:     %s\n"
	       "  LMDB:        %s (%s)\n"
	       "  musl:        %s\n",
	       prog->name, TEE_VERSION, TEE_COMMIT, TEE_BUILDDATE, TEE_BEARSSL_VERSION,
	       TEE_LMDB_VERSION, mdb_version(NULL, NULL, NULL), TEE_MUSL_VERSION);
	return CLI_EXIT_OK;
}

int cli_run_unavailable(const struct cli_prog *prog, const struct cli_cmd *cmd, struct flag_set *fs)
{
	fprintf(stderr,
		"%s %s: not available in this build yet (version %s); see docs/ for the roadmap\n",
		prog->name, cmd->name, TEE_VERSION);
	return CLI_EXIT_FAIL;
}
