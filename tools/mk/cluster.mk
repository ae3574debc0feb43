# tools/mk/cluster.mk — cluster benchmarks (included by the top-level Makefile).
#
#   make bench-cluster                    leader failover and propagation, p50/p99 over 50 trials
#   make bench-cluster BENCH_TRIALS=10    fewer trials
.PHONY: bench-cluster

bench-cluster: all
	BENCH_TRIALS=$(or $(BENCH_TRIALS),50) tools/bench/bench_cluster.sh
