/* cli_tables.c — the deploy flags (Traefik v1 static configuration).
 *
 * Both CLIs accept them so that the seed's `deploy` command line works
 * unchanged from a control node or a workstation.
 */
#include "cli/cli_tables.h"

/* clang-format off */
const struct flag_def cli_deploy_flags[] = {
	{"traefikeesocket", FLAG_STRING, "/var/run/traefikee.sock", "Local node socket"},
	{"configfile", FLAG_STRING, NULL, "Traefik v1 TOML static configuration file"},
	{"entryPoints", FLAG_LIST, NULL,
	 "Entry point, Traefik v1 syntax: 'Name:http Address::80' (repeatable)"},
	{"defaultentrypoints", FLAG_STRING, NULL, "Entry points of frontends that name none"},
	{"file", FLAG_BOOL, "false", "Enable the file provider"},
	{"file.filename", FLAG_STRING, NULL, "Routing configuration file (JSON or Traefik v1 TOML)"},
	{"file.watch", FLAG_BOOL, "true", "Watch the file and apply changes"},
	{"consul", FLAG_BOOL, "false", "Enable the Consul KV provider"},
	{"consul.endpoint", FLAG_STRING, "127.0.0.1:8500", "Consul address"},
	{"consul.prefix", FLAG_STRING, "traefik", "KV prefix"},
	{"consul.token", FLAG_STRING, NULL, "ACL token"},
	{"consul.tls.ca", FLAG_STRING, NULL, "CA certificate file"},
	{"consul.tls.cert", FLAG_STRING, NULL, "Client certificate file"},
	{"consul.tls.key", FLAG_STRING, NULL, "Client key file"},
	{"consul.tls.insecureskipverify", FLAG_BOOL, "false", "Do not verify the server"},
	{"etcd", FLAG_BOOL, "false", "Enable the etcd v3 provider"},
	{"etcd.endpoint", FLAG_STRING, "127.0.0.1:2379", "etcd address"},
	{"etcd.prefix", FLAG_STRING, "/traefik", "KV prefix"},
	{"etcd.useapiv3", FLAG_BOOL, "true", "Use the v3 API (the only one served)"},
	{"etcd.username", FLAG_STRING, NULL, "User name"},
	{"etcd.password", FLAG_STRING, NULL, "Password"},
	{"etcd.tls.ca", FLAG_STRING, NULL, "CA certificate file"},
	{"etcd.tls.cert", FLAG_STRING, NULL, "Client certificate file"},
	{"etcd.tls.key", FLAG_STRING, NULL, "Client key file"},
	{"etcd.tls.insecureskipverify", FLAG_BOOL, "false", "Do not verify the server"},
	{"providersthrottleduration", FLAG_STRING, "2s", "Wait this long for provider changes to settle"},
	{"insecureskipverify", FLAG_BOOL, "false", "Do not verify the certificates of https:// backend servers"},
	{"rootcas", FLAG_STRING, NULL, "CA certificate files for https:// backend servers (comma-separated)"},
};
/* clang-format on */
const size_t cli_deploy_nflags = CLI_NELEM(cli_deploy_flags);
