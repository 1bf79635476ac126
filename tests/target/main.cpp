// On-target self-test: each engine's behaviour checks and the SysTick interrupt test, on a
// bare-metal Cortex-M under QEMU (make target-test). Prints over semihosting and exits with
// the result (QEMU's exit status: 0 = every check passed).
#include "runner.hpp"

#ifndef OFFSEQ_TARGET_CPU
#error "build with -DOFFSEQ_TARGET_CPU=\"cortex-m4\" (the -mcpu the image was built for)"
#endif

extern "C" void HardFault_Handler() {
  semihosting::write(OFFSEQ_TARGET_CPU ": HARD FAULT\n");
  semihosting::exit(false);
}

int main() {
  semihosting::write(OFFSEQ_TARGET_CPU ": offseq self-test\n");
  target_commit_tracker();
  target_sequence_table();
  target_txn_coordinator();
  target_journal();
  target_interrupts();
  const auto& t = target_test::g_totals;
  const bool ok = t.failed_checks == 0 && t.tests > 0;
  semihosting::write(OFFSEQ_TARGET_CPU ": ");
  semihosting::write(ok ? "PASS " : "FAIL ");
  semihosting::write_u(t.tests - t.failed_tests);
  semihosting::write("/");
  semihosting::write_u(t.tests);
  semihosting::write(" tests, ");
  semihosting::write_u(t.checks);
  semihosting::write(" checks, ");
  semihosting::write_u(t.failed_checks);
  semihosting::write(" failed\n");
  semihosting::exit(ok);
}
