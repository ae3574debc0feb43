/* cli_tables.h — flag tables shared by traefikee and traefikeectl. */
#ifndef CLI_TABLES_H
#define CLI_TABLES_H

#include "cli/cli_flags.h"

/* Traefik v1 static-configuration flags that `deploy` accepts. */
extern const struct flag_def cli_deploy_flags[];
extern const size_t cli_deploy_nflags;

#define CLI_NELEM(a) (sizeof(a) / sizeof((a)[0]))

#endif
