/* proxy_standalone.h — a data node without a cluster: `traefikee start-data-node
 * --standalone=FILE` serves a routing document file.
 *
 * proxy_standalone_main takes its own argv (argv[0] = the command name). Flags:
 *   --routing=FILE        routing document (JSON), required; SIGHUP re-reads it
 *   --workers=N|auto      worker processes (default 1; auto: one per online CPU), SO_REUSEPORT
 *                         listeners, supervised by a master (proxy_workers.h)
 *   --accesslog[=FILE]    access log (common format) to stdout or FILE
 *   --metrics.listen=ADDR GET /metrics (the sum over the workers) and GET|HEAD /ping on ADDR
 *                         (proxy_monitor.h), served by the master (or the single worker)
 *   --print-limits        print the limits and worst-case memory, then exit 0
 *   --loglevel=LEVEL      debug, info, warn, error
 *   --<limit>=VALUE       any proxy_dp_limits_set name (--max-conns=10000,
 *                         --connect-timeout=2s, --buf-size=32k, --max-frontends=...)
 * It prints the worst-case memory at start, validates the document, then serves: SIGHUP
 * re-reads the document (every worker), SIGUSR1 logs counters, SIGTERM/SIGINT drain (grace
 * timeout) and stop. Returns the exit status: 0, 1 (run-time failure: unreadable or invalid
 * document, cannot listen), 2 (usage).
 */
#ifndef PROXY_STANDALONE_H
#define PROXY_STANDALONE_H

int proxy_standalone_main(int argc, char **argv);

#endif
