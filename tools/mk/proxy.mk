# Data-plane benchmark matrix (tools/bench/bench_proxy.sh): wrk on loopback through our data
# node (traefikee start-data-node --standalone), nginx and HAProxy (Debian packages, installed
# by the script when missing), same upstream, interleaved; requests/s, p50/p99, CPU per
# request, RSS, idle memory per connection, CPU per TLS handshake, the ratios and the targets.
#   make bench                      the whole matrix (about 15 min)
#   BENCH_QUICK=1 make bench        a few cases, 2 s runs (about 1 min)
# Settings: BENCH_SECONDS BENCH_ROUNDS BENCH_CASES BENCH_OPT ... (see the script's header).
.PHONY: bench bench-ir
bench: all
	tools/bench/bench_proxy.sh

# User-space instructions per proxied request under callgrind, ours against nginx and HAProxy
# (tools/bench/bench_ir.sh): exact, not moved by the load of the machine. About 1 min.
bench-ir: all
	tools/bench/bench_ir.sh

# The data path's hot files are compiled at -O2 in the shipped binary (the rest stays -Os):
# 3% fewer instructions per proxied request (callgrind, 11.8k against 12.2k) for about
# 25 KiB of text (docs/internals/proxy-engine.md, "Cost per request"). The objects depend on
# this file so that a change of the list rebuilds them.
PROXY_HOT_OBJ := $(addprefix build/musl/,proxy/proxy_conn.o proxy/proxy_forward.o \
	proxy/proxy_upstream.o proxy/proxy_lb.o proxy/proxy_metrics.o proxy/proxy_rule.o \
	http/http_parse.o http/http_write.o loop/loop.o loop/loop_timer.o base/base_buf.o \
	base/base_slice.o)
$(PROXY_HOT_OBJ): MUSL_CFLAGS += -O2
$(PROXY_HOT_OBJ): tools/mk/proxy.mk
