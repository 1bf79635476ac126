// offseq platform: Arm Cortex-M (ARMv6-M: M0/M0+; ARMv7-M: M3; ARMv7E-M: M4/M7; ARMv8-M).
// Freestanding, single core. Gives the interrupt-masking guard for critical_section_sync and
// picks the sync policy per core and word width:
//
//   offseq::cortex_m::preferred_sync<Word>   lock-free atomic_sync where the core has a native
//                                            compare-and-swap of Word (LDREX/STREX, 32 bits on
//                                            ARMv7-M/ARMv8-M Mainline), PRIMASK critical
//                                            sections otherwise (ARMv6-M, every 64-bit word)
//   offseq::cortex_m::sync32 / sync64        the critical-section policies, named
//
//   // Cortex-M3/M4/M7: lock-free, positions < 2^24. Cortex-M0+: interrupts masked per access.
//   offseq::commit_tracker<8, 64, offseq::cortex_m::preferred_sync<std::uint32_t>> tracker;
//   // Any core, full 48-bit positions: interrupts masked for each access (a few cycles).
//   offseq::commit_tracker<8, 64, offseq::cortex_m::sync64> tracker64;
//
// Every tracker method may then be called from thread mode and from any interrupt priority.
// The guard masks all configurable-priority interrupts (not NMI/HardFault: never call offseq
// from those). Critical sections are a handful of instructions, so interrupt latency grows by
// that much at most. Not for multi-core parts (e.g. RP2040, dual-core STM32H7): a PRIMASK
// critical section does not exclude the other core there.
#ifndef OFFSEQ_PLATFORM_CORTEX_M_HPP
#define OFFSEQ_PLATFORM_CORTEX_M_HPP

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "offseq.hpp"

#if !defined(__ARM_ARCH_PROFILE) || __ARM_ARCH_PROFILE != 'M'
#error "offseq: platform/cortex_m.hpp is for Arm M-profile targets (e.g. -mcpu=cortex-m4 -mthumb)"
#endif

namespace offseq {
namespace cortex_m {

/// PRIMASK save / disable / restore. Nests: the destructor restores the state the constructor
/// found, so a guard inside an interrupt handler or inside another guard leaves interrupts
/// masked. The "memory" clobbers make it a compiler barrier, as critical_section_sync needs.
class interrupt_guard {
 public:
  interrupt_guard() noexcept {
    __asm__ volatile("mrs %0, primask" : "=r"(saved_));
    __asm__ volatile("cpsid i" ::: "memory");
  }
  ~interrupt_guard() { __asm__ volatile("msr primask, %0" : : "r"(saved_) : "memory"); }
  interrupt_guard(const interrupt_guard&) = delete;
  interrupt_guard& operator=(const interrupt_guard&) = delete;

 private:
  std::uint32_t saved_;
};

using sync32 = critical_section_sync<interrupt_guard, std::uint32_t>;  ///< any core, 32-bit words
using sync64 = critical_section_sync<interrupt_guard, std::uint64_t>;  ///< any core, 64-bit words

/// True where std::atomic<Word> compiles to native instructions (never a libatomic call):
/// 32-bit words on ARMv7-M / ARMv7E-M / ARMv8-M Mainline; nothing on ARMv6-M; never 64 bits.
template <class Word>
inline constexpr bool has_native_cas = std::atomic<Word>::is_always_lock_free;

/// The cheapest correct policy for this core and word width.
template <class Word = std::uint32_t>
using preferred_sync =
    std::conditional_t<has_native_cas<Word>, basic_atomic_sync<Word>, critical_section_sync<interrupt_guard, Word>>;

#if defined(__ARM_ARCH_6M__)
static_assert(!has_native_cas<std::uint32_t>, "offseq: ARMv6-M has no LDREX/STREX");
#elif defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__)
static_assert(has_native_cas<std::uint32_t> && !has_native_cas<std::uint64_t>,
              "offseq: ARMv7-M has 32-bit LDREX/STREX and no 64-bit exclusive");
#endif

}  // namespace cortex_m
}  // namespace offseq

#endif  // OFFSEQ_PLATFORM_CORTEX_M_HPP
