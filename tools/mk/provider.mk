# Provider benchmarks (src/provider/): make bench-provider
#
#   bench-provider   KV write -> routing document latency, p50/p99 over 200 writes, against a
#                    real etcd (etcd-server) and the Consul test server on 127.0.0.1; < 60 s.
#                    Host build (ASan/UBSan): the figures compare runs, not absolute speed.

.PHONY: bench-provider

build/host/bench/bench_provider: tools/bench/bench_provider.c build/host/libtee.a
	@mkdir -p $(dir $@)
	$(HOST_CC) $(HOST_CFLAGS) -o $@ $< build/host/libtee.a $(HOST_LIBS)

bench-provider: build/host/bench/bench_provider
	timeout 120 build/host/bench/bench_provider
