# tools/mk/raft.mk — Raft simulator runs and the Raft benchmark.
# Included by the top-level Makefile; uses its HOST_*/MUSL_* variables, SIM_BIN
# and build/host/sim/sim_raft. See docs/internals/raft.md, "Simulator runs".
#
#   make sim SEEDS=N          the usual `make sim` (tools/testrun.sh), N seeds;
#                             the full output, ending "seeds: N, violations: 0",
#                             is in build/test.log
#   make sim-seeds SEEDS=N    N seeds, output on the terminal, last line
#                             "seeds: N, violations: 0" (default N: 1000)
#   make sim-liveness SEEDS=N liveness mode: after healing, every member of the
#                             leader's configuration must apply a new write
#                             (default N: 10000; not part of `make test`)
#   make sim-mutants          each planted bug must be caught within
#                             MUTANT_SEEDS harsh seeds (default 1000)
#   make bench-raft           3-node cluster on synced LMDB stores: commits/s,
#                             latency p50/p99; then the simulator's seeds/s
#
# SEEDS, STEPS and LIVENESS=1 reach sim_raft as SIM_SEEDS, SIM_STEPS and
# SIM_LIVENESS (its built-in defaults apply when they are unset or empty).

SIM_RAFT     := build/host/sim/sim_raft
MUTANT_SEEDS ?= 1000

export SIM_SEEDS := $(SEEDS)
export SIM_STEPS := $(STEPS)
export SIM_LIVENESS := $(LIVENESS)

.PHONY: sim-seeds sim-liveness sim-mutants bench-raft

sim-seeds: $(SIM_RAFT)
	@$(SIM_RAFT) --seeds=$(or $(SEEDS),1000)

sim-liveness: $(SIM_RAFT)
	@$(SIM_RAFT) --liveness --no-mutants --seeds=$(or $(SEEDS),10000)

sim-mutants: $(SIM_RAFT)
	@$(SIM_RAFT) --mutants --bug-seeds=$(MUTANT_SEEDS)

# Release build (musl, -O2) of the core and the store: the figures are the
# shipped code's, not the sanitizer build's.
build/bench/bench_raft: tools/bench/bench_raft.c $(MUSL_OBJ)
	@mkdir -p $(dir $@)
	$(MUSL_CC) $(MUSL_CFLAGS) -O2 -static -o $@ $^ $(MUSL_LIBS)

BENCH_RAFT_N ?= 200
bench-raft: build/bench/bench_raft $(SIM_RAFT)
	build/bench/bench_raft $(BENCH_RAFT_N) 1 10
	build/bench/bench_raft 2000 64 10
	@$(SIM_RAFT) --no-mutants --seeds=200 | grep -E '^# seeds/s|^seeds:'
