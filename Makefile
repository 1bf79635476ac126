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

# ---------------------------------------------------------------- journal: fuzzing, bench libs
# make fuzz: every parser of stored data under libFuzzer (clang, ASan+UBSan), FUZZ_SECONDS
# each; the corpus grows in build/fuzz/corpus-NAME, a failing input lands in build/fuzz/.
.PHONY: fuzz deps-fuzz
FUZZ_SECONDS ?= 20
FUZZ_CXX     ?= clang++
FUZZ_FLAGS   := -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(WARN)
FUZZ_TARGETS := $(patsubst tests/fuzz/%.cpp,$(BUILD)/fuzz/%,$(sort $(wildcard tests/fuzz/*.cpp)))
BENCH_LIBS_journal := -lsqlite3

deps-fuzz:
	@$(DEPS) clang libclang-rt-14-dev
$(BUILD)/fuzz/%: tests/fuzz/%.cpp $(HEADERS) | deps-fuzz
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) $(INC) $< -o $@
fuzz: $(FUZZ_TARGETS)
	@set -e; for t in $(FUZZ_TARGETS); do mkdir -p $$t-corpus; echo "== $$t ($(FUZZ_SECONDS) s)"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(BUILD)/fuzz/ -print_final_stats=0 $$t-corpus 2>&1 | \
	  grep -E "^#[0-9]+ *DONE|^Done|ERROR|SUMMARY|property" || true; \
	  test -z "$$(ls $(BUILD)/fuzz/crash-* $(BUILD)/fuzz/leak-* $(BUILD)/fuzz/timeout-* 2>/dev/null)" || \
	    { echo "fuzz: $$t failed; input saved in $(BUILD)/fuzz/"; exit 1; }; done

clean:
	rm -rf $(BUILD)
