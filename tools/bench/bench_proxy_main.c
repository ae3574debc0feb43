/* bench_proxy_main.c — the proxy engine's standalone mode as its own static program, for
 * tools/bench/bench_proxy.sh until `traefikee` wires it to a command. All flags are
 * proxy_standalone_main's (src/proxy/proxy_engine.h). */
#include "proxy/proxy_engine.h"

int main(int argc, char **argv)
{
	return proxy_standalone_main(argc, argv);
}
