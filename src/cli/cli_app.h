/* cli_app.h — multi-command programs: dispatch, help, version, exit codes.
 *
 * Both traefikee and traefikeectl are a table of commands, each with its
 * flag table and a run function. cli_main parses argv, prints help when
 * asked, and maps failures to exit codes:
 *   0 success, 1 the command failed, 2 the command line was wrong.
 */
#ifndef CLI_APP_H
#define CLI_APP_H

#include "cli/cli_flags.h"

#include <stddef.h>

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

struct cli_prog;

struct cli_cmd {
	const char *name;
	const char *summary; /* one line for the command list */
	const char *args;    /* positional arguments in usage, e.g. "<ID|NAME>", or NULL */
	unsigned min_args, max_args;
	const struct flag_def *flags;
	size_t nflags;
	/* Returns an exit code. fs holds the parsed flags and arguments. */
	int (*run)(const struct cli_prog *prog, const struct cli_cmd *cmd, struct flag_set *fs);
};

struct cli_prog {
	const char *name;
	const char *summary;
	const struct cli_cmd *cmds;
	size_t ncmds;
};

int cli_main(const struct cli_prog *prog, int argc, char **argv);

/* Usage text of the program / of one command, to stdout. */
void cli_print_usage(const struct cli_prog *prog);
void cli_print_cmd_help(const struct cli_prog *prog, const struct cli_cmd *cmd);

/* The shared `version` command. */
int cli_run_version(const struct cli_prog *prog, const struct cli_cmd *cmd, struct flag_set *fs);
/* For commands whose engine is not in this build yet: says so, exit 1. */
int cli_run_unavailable(const struct cli_prog *prog, const struct cli_cmd *cmd,
			struct flag_set *fs);

#endif
