/* bench_proxy_main.c — the proxy engine's standalone mode as its own static program, for
 * tools/bench/bench_tls.sh (the layers below proxy only, built at -O2). tools/bench/bench_proxy.sh
 * runs the product itself instead: `traefikee start-data-node --standalone=FILE`. All flags are
 * proxy_standalone_main's (src/proxy/proxy_standalone.h). */
#include "proxy/proxy_standalone.h"

int main(int argc, char **argv)
{
	return proxy_standalone_main(argc, argv);
}
