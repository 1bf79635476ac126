// offseq platform: a RAM NOR flash for tests (hosted: uses std::vector). Implements the
// journal's Storage concept with NOR rules and power-cut injection.
//
// NOR rules: erase sets whole erase blocks to 0xFF; a write programs whole program units
// (address and length multiples of program_unit()), each at most once between erases, and can
// only clear bits. Writing into a unit already programmed is refused with io_error and
// counted in overwrite_errors() (the journal must never do it: tests assert the count is 0).
//
// Power cut: cut_after(n) lets the next n bytes of writes (counted globally over all writes,
// from the call) reach the medium, then the power goes: the write in progress returns
// io_error, and so does every call until power_on(). By default the bytes before the cut are
// programmed and the rest untouched; with half_program(true) the unit holding the cut is
// programmed anyway, its remaining bytes half-programmed (some of their 0 bits still 1), as
// a real NOR cell cut mid-pulse. An erase in progress counts as one
// byte per erase block: cut there, the block is left half erased.
#ifndef OFFSEQ_PLATFORM_SIM_FLASH_HPP
#define OFFSEQ_PLATFORM_SIM_FLASH_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "offseq.hpp"

namespace offseq {
namespace sim {

class sim_flash {
 public:
  /// size must be a multiple of erase_block, erase_block a multiple of program_unit.
  sim_flash(std::size_t size, std::size_t erase_block, std::size_t program_unit)
      : data_(size, 0xFF), programmed_(size / program_unit, 0), eb_(erase_block), pu_(program_unit) {}

  // ---- Storage concept
  std::size_t size() const noexcept { return data_.size(); }
  std::size_t erase_block() const noexcept { return eb_; }
  std::size_t program_unit() const noexcept { return pu_; }

  status read(std::size_t addr, void* dst, std::size_t n) noexcept {
    if (!powered_) return status::io_error;
    if (addr > data_.size() || n > data_.size() - addr) return status::invalid_argument;
    if (addr + n > readable_) return status::corrupt;  // truncated medium
    std::memcpy(dst, data_.data() + addr, n);
    ++reads_;
    return status::ok;
  }

  status write(std::size_t addr, const void* src, std::size_t n) noexcept {
    if (!powered_) return status::io_error;
    if (addr % pu_ || n % pu_ || addr > data_.size() || n > data_.size() - addr) return status::invalid_argument;
    char scripted = 'o';
    if (!script_.empty()) {
      scripted = script_[0];
      script_.erase(0, 1);
    }
    if (fail_writes_ || scripted == 'f') return status::io_error;
    for (std::size_t u = addr / pu_; u < (addr + n) / pu_; ++u)
      if (programmed_[u]) {
        ++overwrite_errors_;
        return status::io_error;
      }
    const std::uint8_t* s = static_cast<const std::uint8_t*>(src);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t a = addr + i;
      if (cut_armed_ && cut_left_ == 0) {
        if (half_) {
          programmed_[a / pu_] = 1;
          // The rest of this unit: the first half of its bytes programmed, the others with
          // only some of their 0 bits cleared.
          const std::size_t unit_end = (a / pu_ + 1) * pu_;
          const std::size_t half = a + (unit_end - a + 1) / 2;
          for (std::size_t b = a; b < unit_end; ++b)
            data_[b] &= b < half ? s[b - addr] : static_cast<std::uint8_t>(s[b - addr] | 0xA5u);
        }
        power_off();
        return status::io_error;
      }
      data_[a] &= s[i];  // NOR: bits only go 1 -> 0
      programmed_[a / pu_] = 1;
      ++bytes_written_;
      if (cut_armed_) --cut_left_;
    }
    ++writes_;
    return scripted == 'l' ? status::io_error : status::ok;
  }

  status erase(std::size_t addr, std::size_t n) noexcept {
    if (!powered_) return status::io_error;
    if (addr % eb_ || n % eb_ || addr > data_.size() || n > data_.size() - addr) return status::invalid_argument;
    if (fail_erases_) return status::io_error;
    for (std::size_t b = addr; b < addr + n; b += eb_) {
      if (cut_armed_ && cut_left_ == 0) {
        for (std::size_t i = b; i < b + eb_ / 2; ++i) data_[i] = 0xFF;  // half erased
        power_off();
        return status::io_error;
      }
      std::memset(data_.data() + b, 0xFF, eb_);
      std::memset(programmed_.data() + b / pu_, 0, eb_ / pu_);
      bytes_erased_ += eb_;
      ++erases_;
      if (cut_armed_) --cut_left_;
    }
    return status::ok;
  }

  status sync() noexcept {
    if (!powered_) return status::io_error;
    if (failing_syncs_ > 0) {
      --failing_syncs_;
      return status::io_error;
    }
    ++syncs_;
    return status::ok;
  }

  // ---- fault injection
  /// Power goes after `bytes` more bytes of writes (an erase block counts as one).
  void cut_after(std::uint64_t bytes) noexcept {
    cut_armed_ = true;
    cut_left_ = bytes;
  }
  /// Leave the unit holding a cut half-programmed (default: the bytes before the cut only).
  void half_program(bool on) noexcept { half_ = on; }
  /// Power back on, no cut armed.
  void power_on() noexcept {
    powered_ = true;
    cut_armed_ = false;
  }
  bool powered() const noexcept { return powered_; }
  /// Every write fails with io_error without touching the medium (a failing bus).
  void fail_writes(bool on) noexcept { fail_writes_ = on; }
  /// The next writes, one character each: 'o' as usual, 'f' fails without touching the
  /// medium, 'l' lands whole and still reports io_error (a lost acknowledgement).
  void script_writes(std::string script) { script_ = std::move(script); }
  /// Every erase fails with io_error without touching the medium.
  void fail_erases(bool on) noexcept { fail_erases_ = on; }
  /// The next n syncs fail with io_error (e.g. fdatasync EIO); what was written stays.
  void fail_syncs(unsigned n) noexcept { failing_syncs_ = n; }
  /// Reads at or beyond `n` return corrupt (a truncated file).
  void truncate(std::size_t n) noexcept { readable_ = n; }
  /// Flip bit `bit` of byte `addr` (a flash cell that lost its charge, or a cosmic ray).
  void flip(std::size_t addr, unsigned bit) noexcept { data_[addr] = static_cast<std::uint8_t>(data_[addr] ^ (1u << bit)); }

  // ---- counters
  std::uint64_t bytes_written() const noexcept { return bytes_written_; }
  std::uint64_t bytes_erased() const noexcept { return bytes_erased_; }
  std::uint64_t writes() const noexcept { return writes_; }
  std::uint64_t erases() const noexcept { return erases_; }
  std::uint64_t syncs() const noexcept { return syncs_; }
  std::uint64_t reads() const noexcept { return reads_; }
  std::uint64_t overwrite_errors() const noexcept { return overwrite_errors_; }
  /// Write bytes + erase blocks: the cut points of everything done so far.
  std::uint64_t cut_points() const noexcept { return bytes_written_ + erases_; }
  const std::vector<std::uint8_t>& bytes() const noexcept { return data_; }
  std::vector<std::uint8_t>& bytes() noexcept { return data_; }

 private:
  void power_off() noexcept {
    powered_ = false;
    cut_armed_ = false;
  }

  std::vector<std::uint8_t> data_;
  std::vector<std::uint8_t> programmed_;  // per program unit
  std::size_t eb_, pu_;
  std::size_t readable_ = ~std::size_t{0};
  bool powered_ = true, cut_armed_ = false, half_ = false, fail_writes_ = false, fail_erases_ = false;
  unsigned failing_syncs_ = 0;
  std::string script_;
  std::uint64_t cut_left_ = 0;
  std::uint64_t bytes_written_ = 0, bytes_erased_ = 0, writes_ = 0, erases_ = 0, syncs_ = 0, reads_ = 0,
                overwrite_errors_ = 0;
};

}  // namespace sim
}  // namespace offseq

#endif  // OFFSEQ_PLATFORM_SIM_FLASH_HPP
