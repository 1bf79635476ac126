#include "user.hpp"

volatile std::int64_t sink;
namespace {
std::uint8_t cells[8192];
}

offseq::status flash_driver::read(std::size_t addr, void* dst, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) static_cast<std::uint8_t*>(dst)[i] = cells[addr + i];
  return offseq::status::ok;
}
offseq::status flash_driver::write(std::size_t addr, const void* src, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) cells[addr + i] &= static_cast<const std::uint8_t*>(src)[i];
  return offseq::status::ok;
}
offseq::status flash_driver::erase(std::size_t addr, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) cells[addr + i] = 0xFF;
  return offseq::status::ok;
}
offseq::status flash_driver::sync() noexcept { return offseq::status::ok; }

offseq::status txn_hooks::log_append(const txn_record& r) noexcept {
  sink = static_cast<std::int64_t>(r.lsn);
  return offseq::status::ok;
}
offseq::status txn_hooks::send_marker(const offseq::txn_marker& m) noexcept {
  sink = m.producer_id;
  return offseq::status::ok;
}
offseq::status txn_hooks::allocate_producer_id(std::int64_t& out) noexcept {
  out = sink;
  return offseq::status::ok;
}
offseq::status txn_hooks::apply_offset(std::uint32_t p, std::int64_t next) noexcept {
  sink = next + p;
  return offseq::status::ok;
}

void user_code() noexcept {
  flash_driver f;
  std::uint8_t b[8] = {};
  sink = static_cast<std::int64_t>(f.read(static_cast<std::size_t>(sink), b, 8)) +
         static_cast<std::int64_t>(f.write(static_cast<std::size_t>(sink), b, 8)) +
         static_cast<std::int64_t>(f.erase(static_cast<std::size_t>(sink), 8)) + static_cast<std::int64_t>(f.sync());
  txn_hooks h;
  std::int64_t pid = 0;
  sink = static_cast<std::int64_t>(h.log_append(txn_record{})) + static_cast<std::int64_t>(h.send_marker(offseq::txn_marker{})) +
         static_cast<std::int64_t>(h.allocate_producer_id(pid)) + static_cast<std::int64_t>(h.apply_offset(1, pid));
}
