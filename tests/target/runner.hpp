// Tiny test runner for the on-target self-test (no doctest, no printf, no heap): checks count
// and report over semihosting; the program exits non-zero if any check failed.
#ifndef OFFSEQ_TARGET_RUNNER_HPP
#define OFFSEQ_TARGET_RUNNER_HPP

#include <cstdint>

#include "semihosting.hpp"

namespace target_test {

struct totals {
  unsigned tests, failed_tests, checks, failed_checks;
  bool current_failed;
};
inline totals g_totals{};

inline bool check(bool ok, const char* expr, const char* file, int line) noexcept {
  ++g_totals.checks;
  if (!ok) {
    ++g_totals.failed_checks;
    g_totals.current_failed = true;
    semihosting::write("    check failed: ");
    semihosting::write(expr);
    semihosting::write("  (");
    semihosting::write(file);
    semihosting::write(":");
    semihosting::write_u(static_cast<std::uint64_t>(line));
    semihosting::write(")\n");
  }
  return ok;
}

template <class F>
void run(const char* name, F&& body) noexcept {
  ++g_totals.tests;
  g_totals.current_failed = false;
  body();
  if (g_totals.current_failed) ++g_totals.failed_tests;
  semihosting::write(g_totals.current_failed ? "  FAIL " : "  ok   ");
  semihosting::write(name);
  semihosting::write("\n");
}

}  // namespace target_test

#define TCHECK(cond) ::target_test::check(static_cast<bool>(cond), #cond, __FILE__, __LINE__)

// The suites (one file per engine) and the interrupt test.
void target_commit_tracker();
void target_sequence_table();
void target_txn_coordinator();
void target_journal();
void target_interrupts();

#endif
