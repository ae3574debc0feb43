# traefikee — one Makefile; every output goes under build/.
#
#   make              static musl binaries build/bin/traefikee, build/bin/traefikeectl
#   make test         deps + static build + unit (ASan/UBSan) + fuzz corpora + regression
#   make unit         host unit tests only (ASan + UBSan)
#   make fuzz         libFuzzer harnesses, FUZZ_SECONDS each (default 60)
#   make bench-parse  HTTP request-parse throughput
#   make demo         README's main job
#   make format / format-check
#   make clean        removes build/ except the dependency cache (build/deps)

DEPS := build/deps
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter -Wno-missing-field-initializers

LIB_SRC  := $(sort $(filter-out src/cli/%_main.c,$(wildcard src/*/*.c)))
MAINS    := traefikee traefikeectl
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
SIM_SRC  := $(sort $(wildcard tests/sim/sim_*.c))
SIM_LIB  := $(filter-out $(SIM_SRC),$(wildcard tests/sim/*.c))

# --- static release build (musl) -------------------------------------------
MUSL_CC     := musl-gcc
MUSL_CFLAGS := -std=c11 -D_GNU_SOURCE -Os -ffunction-sections -fdata-sections $(WARN) -Isrc -Ibuild/gen \
	-isystem $(DEPS)/include/bearssl -isystem $(DEPS)/include/lmdb \
	-isystem $(DEPS)/include/jsmn -isystem $(DEPS)/kinc
MUSL_LDFLAGS := -static -s -Wl,--gc-sections
MUSL_LIBS   := $(DEPS)/lib/libbearssl.a $(DEPS)/lib/liblmdb.a -lpthread
MUSL_OBJ    := $(patsubst src/%.c,build/musl/%.o,$(LIB_SRC))

# --- host test build (glibc, clang, ASan + UBSan) --------------------------
HOST_CC     ?= clang
SAN         := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
HOST_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 $(SAN) $(WARN) -Isrc -Ibuild/gen -Itests/unit -DTEE_TEST_BUILD
HOST_LIBS   := -lbearssl -llmdb -lpthread
HOST_OBJ    := $(patsubst src/%.c,build/host/%.o,$(LIB_SRC))
UNIT_BIN    := $(patsubst tests/unit/%.c,build/host/tests/%,$(UNIT_SRC))
REPLAY_BIN  := $(patsubst tests/fuzz/%.c,build/host/fuzz/replay_%,$(FUZZ_SRC))
FUZZ_BIN    := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
SIM_BIN     := $(patsubst tests/sim/%.c,build/host/sim/%,$(SIM_SRC))

.PHONY: FORCE all deps test unit sim replay regress fuzz bench-parse demo format format-check clean
.DEFAULT_GOAL := all
.SECONDARY:

all: build/bin/traefikee build/bin/traefikeectl
	@ls -l build/bin/traefikee build/bin/traefikeectl | awk '{printf "%-24s %9d bytes\n", $$9, $$5}'

deps: $(DEPS)/stamp/done
$(DEPS)/stamp/done: tools/deps.sh tools/deps.lock
	tools/deps.sh
	@touch $@

# build/gen/version.h: rewritten only when its content changes (new commit,
# version or dependency), so a plain rebuild recompiles nothing. The build
# date is the commit's date: the same commit gives the same binary.
build/gen/version.h: FORCE | $(DEPS)/stamp/done
	@mkdir -p build/gen; tools/version.sh > $@.tmp && (cmp -s $@.tmp $@ || mv $@.tmp $@); rm -f $@.tmp
FORCE:
build/musl/cli/cli_app.o build/host/cli/cli_app.o: build/gen/version.h

build/musl/%.o: src/%.c | $(DEPS)/stamp/done
	@mkdir -p $(dir $@)
	$(MUSL_CC) $(MUSL_CFLAGS) -MMD -MP -c $< -o $@

build/bin/%: build/musl/cli/cli_%_main.o $(MUSL_OBJ)
	@mkdir -p $(dir $@)
	$(MUSL_CC) $(MUSL_LDFLAGS) -o $@ $^ $(MUSL_LIBS)

build/host/%.o: src/%.c | $(DEPS)/stamp/done
	@mkdir -p $(dir $@)
	$(HOST_CC) $(HOST_CFLAGS) -MMD -MP -c $< -o $@

build/host/libtee.a: $(HOST_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/host/tests/harness.o: tests/unit/harness.c tests/unit/test.h | $(DEPS)/stamp/done
	@mkdir -p $(dir $@)
	$(HOST_CC) $(HOST_CFLAGS) -c $< -o $@

build/host/tests/%: tests/unit/%.c build/host/tests/harness.o build/host/libtee.a
	@mkdir -p $(dir $@)
	$(HOST_CC) $(HOST_CFLAGS) -MMD -MP -o $@ $< build/host/tests/harness.o build/host/libtee.a $(HOST_LIBS)

# Simulators: tests/sim/sim_<name>.c plus the shared tests/sim/*.c helpers.
build/host/sim/%: tests/sim/%.c $(SIM_LIB) $(wildcard tests/sim/*.h) build/host/libtee.a
	@mkdir -p $(dir $@)
	$(HOST_CC) $(HOST_CFLAGS) -Itests/sim -o $@ $< $(SIM_LIB) build/host/libtee.a $(HOST_LIBS)

# Fuzz corpora replay through the same harness, without libFuzzer, under ASan/UBSan.
build/host/fuzz/replay_%: tests/fuzz/%.c tests/fuzz/replay.c build/host/libtee.a
	@mkdir -p $(dir $@)
	$(HOST_CC) $(HOST_CFLAGS) -o $@ $< tests/fuzz/replay.c build/host/libtee.a $(HOST_LIBS)

build/fuzz/%: tests/fuzz/%.c $(LIB_SRC) | $(DEPS)/stamp/done
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc -Ibuild/gen -o $@ $< $(LIB_SRC) $(HOST_LIBS)

unit: $(UNIT_BIN)
	tools/testrun.sh unit $(UNIT_BIN)

sim: $(SIM_BIN)
	tools/testrun.sh sim $(SIM_BIN)

replay: $(REPLAY_BIN)
	tools/testrun.sh replay $(REPLAY_BIN)

regress: all
	tools/testrun.sh regress $(sort $(wildcard tests/regress/test_*.sh))

test: deps image-deps
	@$(MAKE) --no-print-directory all images $(UNIT_BIN) $(SIM_BIN) $(REPLAY_BIN)
	TEE_IMAGE_NOBUILD=1 tools/testrun.sh all

FUZZ_SECONDS ?= 60
fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p build/fuzz/corpus/$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -dict=tests/fuzz/$$n.dict build/fuzz/corpus/$$n tests/fuzz/corpus/$$n || exit 1; done

build/bench/bench_parse: tools/bench_parse.c $(MUSL_OBJ)
	@mkdir -p $(dir $@)
	$(MUSL_CC) $(MUSL_CFLAGS) -O2 -static -o $@ $^ $(MUSL_LIBS)

bench-parse: build/bench/bench_parse
	build/bench/bench_parse

demo: all
	tools/demo.sh

FMT_SRC = $(wildcard src/*/*.c src/*/*.h tests/*/*.c tests/*/*.h tools/*.c)
format:
	clang-format -i $(FMT_SRC)
format-check:
	clang-format --dry-run --Werror $(FMT_SRC)

clean:
	rm -rf build/bin build/musl build/host build/fuzz build/bench build/regress

-include $(MUSL_OBJ:.o=.d) $(HOST_OBJ:.o=.d)

# VM images (make images, make test-images, make bench-boot): see tools/images.mk.
-include tools/images.mk

# Further targets (benchmarks, simulator modes), one fragment per subject.
-include $(sort $(wildcard tools/mk/*.mk))
