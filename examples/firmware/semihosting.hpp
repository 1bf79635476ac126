// Arm semihosting: text output and exit status through the debugger or emulator
// (qemu-system-arm -semihosting-config enable=on,target=native). Debug builds only: on real
// hardware without a debugger attached, BKPT 0xAB faults.
#ifndef OFFSEQ_FIRMWARE_SEMIHOSTING_HPP
#define OFFSEQ_FIRMWARE_SEMIHOSTING_HPP

#include <cstdint>

namespace semihosting {

// op in r0, argument in r1, result in r0 (Arm "Semihosting for AArch32 and AArch64").
inline std::uint32_t call(std::uint32_t op, const void* arg) noexcept {
  std::uint32_t result;
  __asm__ volatile("mov r0, %1\n\tmov r1, %2\n\tbkpt 0xAB\n\tmov %0, r0"
                   : "=r"(result)
                   : "r"(op), "r"(arg)
                   : "r0", "r1", "memory");
  return result;
}

/// SYS_WRITE0: a NUL-terminated string to the host console.
inline void write(const char* s) noexcept { (void)call(0x04, s); }

/// Writes v in decimal (no printf on the target).
inline void write_u(std::uint64_t v) noexcept {
  char buf[24];
  char* p = buf + sizeof buf;
  *--p = '\0';
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  write(p);
}

inline void write_i(std::int64_t v) noexcept {
  if (v < 0) {
    write("-");
    write_u(static_cast<std::uint64_t>(-(v + 1)) + 1);
  } else {
    write_u(static_cast<std::uint64_t>(v));
  }
}

/// SYS_EXIT: ends the emulator. QEMU exits with status 0 for ApplicationExit, 1 otherwise.
[[noreturn]] inline void exit(bool success) noexcept {
  // On AArch32 the argument is the reason code itself, not a pointer to a block.
  const std::uint32_t reason = success ? 0x20026u /* ApplicationExit */ : 0x20023u /* RunTimeErrorUnknown */;
  (void)call(0x18, reinterpret_cast<const void*>(static_cast<std::uintptr_t>(reason)));
  for (;;) {
  }
}

}  // namespace semihosting

#endif
