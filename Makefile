# offseq — the front door.
#   make test        every host test (doctest), the freestanding/-Werror header checks, symbol check
#   make sanitize    the tests again under ASan+UBSan, then under TSan
#   make demo        the at-least-once demo: out-of-order workers, crashes, rebalances, naive contrast
#   make examples    build every example
#   make bench       Google Benchmark suites (ratios against a baseline in the same run)
# Missing Debian packages are installed on first use (scripts/ensure-deps.sh).

CXX      ?= g++
CXXSTD   := -std=c++17
WARN     := -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror
INC      := -Iinclude -Iplatform -I.
BUILD    := build
OPT      ?= -O2 -g
DEPS     := scripts/ensure-deps.sh
comma    := ,
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)

HEADERS        := include/offseq.hpp $(wildcard platform/*.hpp)
TEST_SRCS      := $(sort $(wildcard tests/*.cpp))
TEST_HELPERS   := $(wildcard tests/*.hpp)
EXAMPLE_DIRS   := $(sort $(patsubst %/main.cpp,%,$(wildcard examples/*/main.cpp)))
EXAMPLES       := $(foreach d,$(EXAMPLE_DIRS),$(BUILD)/examples/$(notdir $(d)))
BENCH_SRCS     := $(sort $(wildcard tests/bench/*.cpp))
BENCHES        := $(patsubst tests/bench/%.cpp,$(BUILD)/bench/%,$(BENCH_SRCS))

.PHONY: all test sanitize asan tsan demo examples bench deps-test deps-bench header-check symbol-check clean

all: test

# ---------------------------------------------------------------- dependencies
deps-test:
	@$(DEPS) doctest-dev
deps-bench:
	@$(DEPS) libbenchmark-dev libsqlite3-dev

# ---------------------------------------------------------------- host tests
# One doctest binary per build flavour; each tests/*.cpp is one engine's suite, compiled to its
# own object so that editing one suite rebuilds only that one.
define test_binary
$(BUILD)/$(1)/tests/%.o: tests/%.cpp $(TEST_HELPERS) $(HEADERS) | deps-test
	@mkdir -p $$(dir $$@)
	$(CXX) $(CXXSTD) $(WARN) $(2) $(INC) -c $$< -o $$@
$(BUILD)/$(1)/offseq_tests: $(patsubst tests/%.cpp,$(BUILD)/$(1)/tests/%.o,$(TEST_SRCS))
	$(CXX) $(2) $$^ -o $$@ -pthread $(3)
endef
# (flags go through variables: a comma inside $(call ...) would split the argument)
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
TSAN_FLAGS := -O1 -g -fsanitize=thread -DOFFSEQ_TSAN=1
$(eval $(call test_binary,release,$$(OPT),))
$(eval $(call test_binary,asan,$$(ASAN_FLAGS),-fsanitize=address$$(comma)undefined))
$(eval $(call test_binary,tsan,$$(TSAN_FLAGS),-fsanitize=thread))

test: header-check symbol-check $(BUILD)/release/offseq_tests
	$(BUILD)/release/offseq_tests
	@$(MAKE) --no-print-directory examples

asan: $(BUILD)/asan/offseq_tests
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(BUILD)/asan/offseq_tests
tsan: $(BUILD)/tsan/offseq_tests
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 setarch $$(uname -m) -R $(BUILD)/tsan/offseq_tests
sanitize: asan tsan

# The header as firmware builds it: freestanding, no exceptions/RTTI, -Werror, GCC and Clang,
# each engine instantiated (tests/compile/*.cpp), plus a C++17 pedantic build per compiler.
COMPILE_CHECKS := $(wildcard tests/compile/*.cpp)
header-check: | deps-test
	@mkdir -p $(BUILD)/compile
	@set -e; for cxx in g++ clang++; do \
	  command -v $$cxx >/dev/null || { echo "header-check: $$cxx not found"; exit 1; }; \
	  for f in $(COMPILE_CHECKS); do \
	    $$cxx $(CXXSTD) -ffreestanding -fno-exceptions -fno-rtti $(WARN) -Iinclude -Iplatform -c $$f -o $(BUILD)/compile/$$(basename $$f .cpp)-$$cxx.o; \
	  done; \
	done; echo "header-check: freestanding -Werror build clean with g++ and clang++ ($(words $(COMPILE_CHECKS)) files)"

# No heap, no exceptions machinery: a build that references them fails.
symbol-check: header-check
	@if nm -C $(BUILD)/compile/*.o | grep -E ' U (malloc|calloc|realloc|free|operator new|operator delete|__cxa_|_Unwind|__atomic_)'; then \
	  echo "symbol-check: forbidden symbol referenced (above)"; exit 1; fi
	@echo "symbol-check: no malloc / operator new / __cxa_* / _Unwind* / __atomic_* references"

# ---------------------------------------------------------------- examples
# examples/NAME/main.cpp -> build/examples/NAME (every .cpp in the folder is linked in)
.SECONDEXPANSION:
$(BUILD)/examples/%: $$(wildcard examples/$$*/*.cpp) $$(wildcard examples/$$*/*.hpp) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXSTD) $(WARN) $(OPT) $(INC) $(filter %.cpp,$^) -o $@ -pthread $(EXAMPLE_LIBS_$*)

examples: $(EXAMPLES)

demo: $(BUILD)/examples/at_least_once
	$(BUILD)/examples/at_least_once $(DEMO_ARGS)

# ---------------------------------------------------------------- benchmarks
$(BUILD)/bench/%: tests/bench/%.cpp $(HEADERS) $(wildcard tests/bench/*.hpp) | deps-bench
	@mkdir -p $(dir $@)
	$(CXX) $(CXXSTD) -O2 -g -DNDEBUG $(INC) $< -o $@ -pthread -lbenchmark $(BENCH_LIBS_$*)

bench: $(BENCHES)
	@set -e; for b in $(BENCHES); do echo "== $$b"; $$b --benchmark_counters_tabular=true; done

# ---------------------------------------------------------------- sequence table
# The lossy-link example as a check: exits non-zero unless every message arrives exactly once.
.PHONY: lossy-link
lossy-link: $(BUILD)/examples/lossy_link
	$(BUILD)/examples/lossy_link $(LOSSY_ARGS)
	$(BUILD)/examples/lossy_link 50 50 80 1000 2

# ---------------------------------------------------------------- Cortex-M (issue 6)
#   make target-test   self-test (tests/target) and examples/firmware on emulated Cortex-M0+,
#                      M3, M4, M7 (QEMU MPS2 models, semihosting); compile-fail and symbol checks
#   make size          flash (.text/.data) and RAM (.bss, sizeof) per engine, cortex-m4 and m0+
ARM_PREFIX   := arm-none-eabi-
ARM_CXXFLAGS := -std=c++17 -mthumb -mfloat-abi=soft -Os -g -ffreestanding -fno-exceptions -fno-rtti \
                -fno-threadsafe-statics -ffunction-sections -fdata-sections
ARM_CFLAGS   := -std=c11 -mthumb -mfloat-abi=soft -Os -g -ffreestanding -ffunction-sections -fdata-sections \
                -Wall -Wextra -Wpedantic -Werror
# No start files, no libstdc++: newlib-nano for memcpy/memset only, libgcc for 64-bit helpers.
ARM_LDFLAGS  := -nostdlib -T examples/firmware/mps2.ld -Wl,--gc-sections -Wl,--no-warn-rwx-segments
ARM_LIBS     := -lc_nano -lgcc
TARGET_CPUS  := cortex-m0plus cortex-m3 cortex-m4 cortex-m7
# QEMU has no M0+ model: the M0+ image runs on the M3 (ARMv7-M executes all of ARMv6-M).
QEMU_cortex-m0plus := mps2-an385
QEMU_cortex-m3     := mps2-an385
QEMU_cortex-m4     := mps2-an386
QEMU_cortex-m7     := mps2-an500
# -icount: virtual time counts instructions, so SysTick lands at the same instructions on
# every run (the interrupt test is reproducible, never flaky) and often (1 tick / ~900 insns).
QEMU_RUN      = timeout 120 qemu-system-arm -M $(QEMU_$(1)) -nographic -monitor none -serial null \
                -icount shift=5 -semihosting-config enable=on,target=native -kernel $(2)
TARGET_SRCS  := $(wildcard tests/target/*.cpp)
TARGET_HDRS  := $(wildcard tests/target/*.hpp) $(wildcard examples/firmware/*.hpp) $(HEADERS)
FIRMWARE_SRCS := $(wildcard examples/firmware/*.cpp)
FORBIDDEN_SYMS := ' (malloc|calloc|realloc|free|operator new|operator delete|__cxa_|_Unwind|__atomic_)'

.PHONY: deps-target target-test target-compile-fail target-clang size

deps-target:
	@$(DEPS) gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-dev qemu-system-arm

define target_cpu
$(BUILD)/target/$(1)/%.o: tests/target/%.cpp $(TARGET_HDRS) | deps-target
	@mkdir -p $$(dir $$@)
	$(ARM_PREFIX)g++ -mcpu=$(1) $(ARM_CXXFLAGS) $(WARN) -DOFFSEQ_TARGET_CPU='"$(1)"' -Iinclude -Iplatform -Iexamples/firmware -c $$< -o $$@
$(BUILD)/target/$(1)/fw/%.o: examples/firmware/%.cpp $(TARGET_HDRS) | deps-target
	@mkdir -p $$(dir $$@)
	$(ARM_PREFIX)g++ -mcpu=$(1) $(ARM_CXXFLAGS) $(WARN) -DOFFSEQ_TARGET_CPU='"$(1)"' -Iinclude -Iplatform -Iexamples/firmware -c $$< -o $$@
$(BUILD)/target/$(1)/startup.o: examples/firmware/startup.c | deps-target
	@mkdir -p $$(dir $$@)
	$(ARM_PREFIX)gcc -mcpu=$(1) $(ARM_CFLAGS) -c $$< -o $$@
$(BUILD)/target/$(1)/selftest.elf: $(patsubst tests/target/%.cpp,$(BUILD)/target/$(1)/%.o,$(TARGET_SRCS)) $(BUILD)/target/$(1)/startup.o examples/firmware/mps2.ld
	$(ARM_PREFIX)g++ -mcpu=$(1) -mthumb $(ARM_LDFLAGS) $$(filter %.o,$$^) $(ARM_LIBS) -o $$@
$(BUILD)/target/$(1)/firmware.elf: $(patsubst examples/firmware/%.cpp,$(BUILD)/target/$(1)/fw/%.o,$(FIRMWARE_SRCS)) $(BUILD)/target/$(1)/startup.o examples/firmware/mps2.ld
	$(ARM_PREFIX)g++ -mcpu=$(1) -mthumb $(ARM_LDFLAGS) $$(filter %.o,$$^) $(ARM_LIBS) -o $$@
endef
$(foreach c,$(TARGET_CPUS),$(eval $(call target_cpu,$(c))))

# A build that would call libatomic must fail, with a message that names the fix.
# (cpu:file:expect) expect = fail or ok
COMPILE_FAIL_CASES := cortex-m0plus:atomic_sync64:fail cortex-m3:atomic_sync64:fail cortex-m4:atomic_sync64:fail \
                      cortex-m0plus:atomic_sync32:fail cortex-m3:atomic_sync32:ok cortex-m7:atomic_sync32:ok
target-compile-fail: | deps-target
	@mkdir -p $(BUILD)/target/compile_fail
	@set -e; for c in $(COMPILE_FAIL_CASES); do \
	  cpu=$${c%%:*}; rest=$${c#*:}; f=$${rest%%:*}; want=$${rest#*:}; \
	  log=$(BUILD)/target/compile_fail/$$f-$$cpu.log; \
	  if $(ARM_PREFIX)g++ -mcpu=$$cpu $(ARM_CXXFLAGS) $(WARN) -Iinclude -c tests/target/compile_fail/$$f.cpp \
	       -o $(BUILD)/target/compile_fail/$$f-$$cpu.o >$$log 2>&1; then got=ok; else got=fail; fi; \
	  if [ $$got != $$want ]; then cat $$log; echo "target-compile-fail: $$f for $$cpu: expected $$want, got $$got"; exit 1; fi; \
	  if [ $$want = fail ] && ! grep -q 'critical_section_sync' $$log; then \
	    cat $$log; echo "target-compile-fail: $$f for $$cpu failed without naming the fix"; exit 1; fi; \
	done; echo "target-compile-fail: atomic_sync refused where it would call libatomic ($(words $(COMPILE_FAIL_CASES)) cases)"

# The same sources with clang for ARM (-Werror), on arm-none-eabi-g++'s C++ headers.
target-clang: | deps-target
	@set -e; for cpu in cortex-m0plus cortex-m4; do \
	  inc=$$($(ARM_PREFIX)g++ -mcpu=$$cpu -mthumb -xc++ -E -v /dev/null -o /dev/null 2>&1 \
	    | sed -n '/search starts here/,/End of search/p' | grep -E 'c\+\+|arm-none-eabi/include$$' | sed 's/^ */-isystem /'); \
	  for f in $(TARGET_SRCS) $(FIRMWARE_SRCS); do \
	    clang++ --target=arm-none-eabi -mcpu=$$cpu $(filter-out -g,$(ARM_CXXFLAGS)) $(WARN) $$inc -Iinclude -Iplatform \
	      -Iexamples/firmware -DOFFSEQ_TARGET_CPU='"'$$cpu'"' -fsyntax-only $$f; \
	  done; \
	done; echo "target-clang: tests/target and examples/firmware clean with clang++ -Werror (cortex-m0plus, cortex-m4)"

# Flash/RAM per engine; the M4 table last, ending with the line the README quotes.
size: | deps-target
	@ARM_CXXFLAGS="$(ARM_CXXFLAGS)" ARM_CFLAGS="$(ARM_CFLAGS)" ARM_LDFLAGS="$(ARM_LDFLAGS)" ARM_LIBS="$(ARM_LIBS)" \
	  scripts/target-size.sh cortex-m0plus $(BUILD)/size/cortex-m0plus
	@echo
	@ARM_CXXFLAGS="$(ARM_CXXFLAGS)" ARM_CFLAGS="$(ARM_CFLAGS)" ARM_LDFLAGS="$(ARM_LDFLAGS)" ARM_LIBS="$(ARM_LIBS)" \
	  scripts/target-size.sh cortex-m4 $(BUILD)/size/cortex-m4

TARGET_ELFS := $(foreach c,$(TARGET_CPUS),$(BUILD)/target/$(c)/selftest.elf $(BUILD)/target/$(c)/firmware.elf)

target-test: target-compile-fail target-clang $(TARGET_ELFS)
	@if $(ARM_PREFIX)nm -C $(TARGET_ELFS) | grep -E $(FORBIDDEN_SYMS); then \
	  echo "target-test: forbidden symbol in a target build (above)"; exit 1; fi
	@echo "target-test: no malloc / operator new / __cxa_* / _Unwind* / __atomic_* in $(words $(TARGET_ELFS)) target images"
	@set -e; $(foreach c,$(TARGET_CPUS),\
	  echo "== $(c) on qemu $(QEMU_$(c))"; \
	  $(call QEMU_RUN,$(c),$(BUILD)/target/$(c)/selftest.elf) || { echo "target-test: $(c) FAILED"; exit 1; }; \
	  $(call QEMU_RUN,$(c),$(BUILD)/target/$(c)/firmware.elf) || { echo "target-test: $(c) firmware FAILED"; exit 1; };) \
	echo "target-test: $(TARGET_CPUS) passed"
# ---------------------------------------------------------------- kafka (issue 7)
# platform/librdkafka.hpp against librdkafka's in-process mock cluster (no broker to install).
# Built only by these targets, so `make test` needs no Kafka: the example's file is
# examples/kafka_bridge/kafka_bridge.cpp (not main.cpp), which keeps it out of `make examples`.
.PHONY: deps-kafka kafka-test kafka-demo
KAFKA_LIBS      := -lrdkafka
KAFKA_TEST_SRCS := $(sort $(wildcard tests/kafka/*.cpp))
EXAMPLE_LIBS_kafka_bridge := $(KAFKA_LIBS)
deps-kafka:
	@$(DEPS) librdkafka-dev doctest-dev
$(BUILD)/kafka/%.o: tests/kafka/%.cpp $(wildcard tests/kafka/*.hpp) $(HEADERS) | deps-kafka
	@mkdir -p $(dir $@)
	$(CXX) $(CXXSTD) $(WARN) $(OPT) $(INC) -c $< -o $@
$(BUILD)/kafka/kafka_tests: $(patsubst tests/kafka/%.cpp,$(BUILD)/kafka/%.o,$(KAFKA_TEST_SRCS))
	$(CXX) $(OPT) $^ -o $@ -pthread $(KAFKA_LIBS)
kafka-test: $(BUILD)/kafka/kafka_tests
	$(BUILD)/kafka/kafka_tests
$(BUILD)/examples/kafka_bridge: | deps-kafka
kafka-demo: $(BUILD)/examples/kafka_bridge
	$(BUILD)/examples/kafka_bridge $(KAFKA_DEMO_ARGS)

# ---------------------------------------------------------------- README usage example (issue 2)
# The README's usage example is examples/quickstart/main.cpp, verbatim: `make test` compares the
# code block after `<!-- example:quickstart -->` with the file and runs the program.
readme-check: $(BUILD)/examples/quickstart
	@awk '/^<!-- example:quickstart -->/{f=1;next} f&&/^```cpp/{b=1;next} b&&/^```/{exit} b' README.md \
	  | diff -u examples/quickstart/main.cpp - \
	  || { echo "readme-check: the README's usage example differs from examples/quickstart/main.cpp (above)"; exit 1; }
	@$(BUILD)/examples/quickstart >/dev/null || { echo "readme-check: examples/quickstart failed"; exit 1; }
	@echo "readme-check: README usage example == examples/quickstart/main.cpp, and it runs"
test: readme-check
.PHONY: readme-check

# ---------------------------------------------------------------- journal: fuzzing, bench libs
# make fuzz: every parser of stored data under libFuzzer (clang, ASan+UBSan), FUZZ_SECONDS
# each; the corpus grows in build/fuzz/NAME-corpus, a failing input lands in build/fuzz/.
.PHONY: fuzz deps-fuzz
FUZZ_SECONDS ?= 20
FUZZ_CXX     ?= clang++
FUZZ_FLAGS   := -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(WARN)
FUZZ_TARGETS := $(patsubst tests/fuzz/%.cpp,$(BUILD)/fuzz/%,$(sort $(wildcard tests/fuzz/*.cpp)))
BENCH_LIBS_journal := -lsqlite3

deps-fuzz:
	@$(DEPS) clang libclang-rt-14-dev
$(BUILD)/fuzz/%: tests/fuzz/%.cpp $(wildcard tests/fuzz/*.hpp) $(HEADERS) | deps-fuzz
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) $(INC) $< -o $@
fuzz: $(FUZZ_TARGETS)
	@set -e; for t in $(FUZZ_TARGETS); do mkdir -p $$t-corpus; echo "== $$t ($(FUZZ_SECONDS) s)"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(BUILD)/fuzz/ -print_final_stats=0 $$t-corpus 2>&1 | \
	  grep -E "^#[0-9]+ *DONE|^Done|ERROR|SUMMARY|property" || true; \
	  test -z "$$(ls $(BUILD)/fuzz/crash-* $(BUILD)/fuzz/leak-* $(BUILD)/fuzz/timeout-* 2>/dev/null)" || \
	    { echo "fuzz: $$t failed; input saved in $(BUILD)/fuzz/"; exit 1; }; done

# ---------------------------------------------------------------- size-optimized host tests
# The whole host suite built -Os, as firmware builds the header: covers the code paths taken
# only under OFFSEQ_SMALL, on by default at -Os (sequence_table's admit without the separate
# in-sequence path, txn_coordinator helpers kept out of line, byte-loop record copies).
.PHONY: test-small
$(eval $(call test_binary,small,-Os -g,))
test-small: $(BUILD)/small/offseq_tests
	$(BUILD)/small/offseq_tests

# ---------------------------------------------------------------- benchmarks in CI
# Every bench compiled, none run (timings on a shared CI host say little): keeps them building.
.PHONY: bench-build
bench-build: $(BENCHES)
	@echo "bench-build: $(words $(BENCHES)) benchmarks built ($(notdir $(BENCHES)))"

clean:
	rm -rf $(BUILD)
