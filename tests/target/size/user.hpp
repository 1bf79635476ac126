// The application side of the size measurement: a flash driver and the coordinator's hooks,
// compiled out of line (user.cpp) and linked into every image, the baseline included, so the
// engine rows count engine code only.
#ifndef OFFSEQ_SIZE_USER_HPP
#define OFFSEQ_SIZE_USER_HPP

#include <offseq.hpp>

struct flash_driver {
  std::size_t size() const noexcept { return 8192; }
  std::size_t erase_block() const noexcept { return 2048; }
  std::size_t program_unit() const noexcept { return 8; }
  offseq::status read(std::size_t addr, void* dst, std::size_t n) noexcept;
  offseq::status write(std::size_t addr, const void* src, std::size_t n) noexcept;
  offseq::status erase(std::size_t addr, std::size_t n) noexcept;
  offseq::status sync() noexcept;
};

using txn_record = offseq::txn_log_record<4, 2, 16>;
struct txn_hooks {
  offseq::status log_append(const txn_record& r) noexcept;
  offseq::status send_marker(const offseq::txn_marker& m) noexcept;
  offseq::status allocate_producer_id(std::int64_t& out) noexcept;
  offseq::status apply_offset(std::uint32_t group_partition, std::int64_t next_offset) noexcept;
};

void user_code() noexcept;  // calls each of the above once (the baseline's share)
extern volatile std::int64_t sink;  // results go here so nothing is optimized away

#endif
