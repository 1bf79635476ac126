// journal on the target (SEMANTICS.md §5) over a RAM NOR flash: records survive a reboot,
// tracker_log restores a commit_tracker, a power cut at any byte keeps the last synced state.
#include <cortex_m.hpp>
#include <offseq.hpp>

#include "runner.hpp"

using offseq::status;

namespace {
// NOR rules: erase sets 0xFF, a write can only clear bits. cut_after(n): n more bytes reach the
// medium, then every call fails until power_on() (the journal's io_error path).
struct ram_nor {
  static constexpr std::size_t bytes = 8192;
  std::uint8_t mem[bytes];
  long budget = -1;  // -1: no cut pending

  std::size_t size() const noexcept { return bytes; }
  std::size_t erase_block() const noexcept { return 1024; }
  std::size_t program_unit() const noexcept { return 8; }
  bool powered() noexcept { return budget != 0; }
  status read(std::size_t addr, void* dst, std::size_t n) noexcept {
    if (!powered()) return status::io_error;
    if (addr > bytes || n > bytes - addr) return status::invalid_argument;
    for (std::size_t i = 0; i < n; ++i) static_cast<std::uint8_t*>(dst)[i] = mem[addr + i];
    return status::ok;
  }
  status write(std::size_t addr, const void* src, std::size_t n) noexcept {
    if (!powered()) return status::io_error;
    if (addr > bytes || n > bytes - addr || addr % 8 || n % 8) return status::invalid_argument;
    for (std::size_t i = 0; i < n; ++i) {
      if (budget == 0) return status::io_error;
      if (budget > 0) --budget;
      mem[addr + i] &= static_cast<const std::uint8_t*>(src)[i];
    }
    return status::ok;
  }
  status erase(std::size_t addr, std::size_t n) noexcept {
    if (!powered()) return status::io_error;
    if (addr > bytes || n > bytes - addr || addr % 1024 || n % 1024) return status::invalid_argument;
    for (std::size_t i = 0; i < n; ++i) mem[addr + i] = 0xFF;
    return status::ok;
  }
  status sync() noexcept { return powered() ? status::ok : status::io_error; }
};

using tracker = offseq::commit_tracker<4, 64, offseq::cortex_m::preferred_sync<std::uint32_t>>;
using tlog = offseq::tracker_log<tracker>;
using journal = offseq::journal<ram_nor, 128, 8>;
static_assert(journal::max_payload >= tlog::max_record_bytes, "");

ram_nor g_flash;
tracker g_t, g_restored;
tlog g_log;

// A tracker as after a reset: trackers hold atomics, so they are reset in place, not assigned.
void fresh(tracker& t) {
  for (std::size_t p = 0; p < tracker::partitions(); ++p) (void)t.restore(p, 0);
}

// Workload: positions 1..n of partition 0, each flushed (appended + synced) as one record.
// Returns how many flushes reported ok before the power went.
int workload(int n) {
  journal j(g_flash);
  fresh(g_t);
  g_log = tlog{};
  if (tlog::load(j, g_t) != status::ok) return -1;
  const auto g = g_t.assign(0);
  int ok = 0;
  for (int k = 1; k <= n; ++k) {
    (void)g_t.commit(0, k, g);
    if (g_log.flush(j, g_t) != status::ok) break;
    ok = k;
  }
  return ok;
}
}  // namespace

void target_journal() {
  target_test::run("journal: CRC-32C check value on the target", [] {
    TCHECK(offseq::crc32c("123456789", 9) == 0xE3069283u);
  });
  target_test::run("journal: format, append, sync, reopen replays in order", [] {
    for (auto& b : g_flash.mem) b = 0;  // garbage: format must erase
    g_flash.budget = -1;
    journal j(g_flash);
    TCHECK(j.open([](std::uint8_t, const std::uint8_t*, std::size_t) {}) == status::not_found);
    TCHECK(j.format() == status::ok);
    const std::uint8_t a[3] = {1, 2, 3}, b[5] = {9, 8, 7, 6, 5};
    TCHECK(j.append(0x01, a, sizeof a) == status::ok);
    TCHECK(j.append(0x02, b, sizeof b) == status::ok);
    TCHECK(j.sync() == status::ok);
    TCHECK(j.append(0xF5, a, 1) == status::invalid_argument);  // journal-internal type
    journal again(g_flash);
    int n = 0;
    std::uint32_t sum = 0;
    TCHECK(again.open([&](std::uint8_t type, const std::uint8_t* p, std::size_t len) {
      ++n;
      sum += type * 1000u + static_cast<std::uint32_t>(len) * 100u + p[len - 1];
    }) == status::ok);
    TCHECK(n == 2 && sum == 1303u + 2505u);
  });
  target_test::run("journal + tracker_log: committed positions survive a reboot", [] {
    g_flash.budget = -1;
    journal j(g_flash);
    TCHECK(j.format() == status::ok);
    TCHECK(workload(50) == 50);
    journal after(g_flash);
    fresh(g_restored);
    TCHECK(tlog::load(after, g_restored) == status::ok);
    TCHECK(g_restored.committed(0) == 50);
  });
  target_test::run("journal: power cut at every 3rd byte keeps the last synced position", [] {
    int cuts = 0;
    for (long cut = 0; cut < 1400; cut += 3) {
      g_flash.budget = -1;
      journal j(g_flash);
      if (!TCHECK(j.format() == status::ok)) return;
      g_flash.budget = cut;
      const int synced = workload(20);
      g_flash.budget = -1;  // power back
      journal after(g_flash);
      fresh(g_restored);
      const status s = tlog::load(after, g_restored);
      // Recovered: the last synced position, or one flush further (written, cut before sync).
      const std::int64_t pos = g_restored.committed(0);
      if (!TCHECK(s == status::ok && pos >= synced && pos <= synced + 1)) return;
      ++cuts;
    }
    TCHECK(cuts > 400);
  });
}
