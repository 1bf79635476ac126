// offseq platform: hosted programs (Linux, macOS, Windows). Not freestanding: uses <mutex>.
#ifndef OFFSEQ_PLATFORM_HOST_HPP
#define OFFSEQ_PLATFORM_HOST_HPP

#include <mutex>

#include "offseq.hpp"

namespace offseq {
namespace host {

/// Guard for critical_section_sync in single-threaded programs and tests: does nothing.
struct no_guard {
  no_guard() noexcept {}
};

/// Guard for critical_section_sync shared by threads: one process-wide mutex. For testing the
/// critical-section path under threads on a host; on an MCU use platform/cortex_m.hpp.
struct mutex_guard {
  mutex_guard() noexcept { mutex().lock(); }
  ~mutex_guard() { mutex().unlock(); }
  mutex_guard(const mutex_guard&) = delete;
  mutex_guard& operator=(const mutex_guard&) = delete;

 private:
  static std::mutex& mutex() noexcept {
    static std::mutex m;
    return m;
  }
};

}  // namespace host
}  // namespace offseq

#endif  // OFFSEQ_PLATFORM_HOST_HPP
