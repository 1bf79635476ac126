// examples/firmware: the bare-metal starting point — a Cortex-M main that deduplicates incoming
// batches (sequence_table), tracks processed offsets out of order (commit_tracker, lock-free
// on M3/M4/M7, interrupt-masked on M0+) and persists the committed positions in a power-cut-
// safe journal on flash (journal + tracker_log). Built and run by `make target-test`.
//
// Copy: startup.c (vector table, .data/.bss init), mps2.ld (set MEMORY to your chip), this
// file; replace `flash` with your flash driver and semihosting with your console.
#include <cortex_m.hpp>
#include <offseq.hpp>

#include "semihosting.hpp"

namespace {
// Storage for the journal: 4 erase blocks of internal flash. Here a RAM region in .noinit (it
// keeps its bytes across a reset, as flash would); on a real part, call the flash driver.
// NOR rules: erase sets 0xFF, a write only clears bits, whole 8-byte program units.
class flash {
 public:
  static constexpr std::size_t bytes = 4 * 2048;
  std::size_t size() const noexcept { return bytes; }
  std::size_t erase_block() const noexcept { return 2048; }
  std::size_t program_unit() const noexcept { return 8; }
  offseq::status read(std::size_t addr, void* dst, std::size_t n) noexcept {
    if (addr > bytes || n > bytes - addr) return offseq::status::invalid_argument;
    for (std::size_t i = 0; i < n; ++i) static_cast<std::uint8_t*>(dst)[i] = cells[addr + i];
    return offseq::status::ok;
  }
  offseq::status write(std::size_t addr, const void* src, std::size_t n) noexcept {
    if (addr > bytes || n > bytes - addr || addr % 8 || n % 8) return offseq::status::invalid_argument;
    for (std::size_t i = 0; i < n; ++i) cells[addr + i] &= static_cast<const std::uint8_t*>(src)[i];
    return offseq::status::ok;
  }
  offseq::status erase(std::size_t addr, std::size_t n) noexcept {
    if (addr > bytes || n > bytes - addr || addr % 2048 || n % 2048) return offseq::status::invalid_argument;
    for (std::size_t i = 0; i < n; ++i) cells[addr + i] = 0xFF;
    return offseq::status::ok;
  }
  offseq::status sync() noexcept { return offseq::status::ok; }  // writes are synchronous

 private:
  static inline std::uint8_t cells[bytes] __attribute__((section(".noinit")));
};

// 4 partitions, 64 offsets in flight each; lock-free where the core has LDREX/STREX.
using tracker_t = offseq::commit_tracker<4, 64, offseq::cortex_m::preferred_sync<std::uint32_t>>;
using tracker_log_t = offseq::tracker_log<tracker_t>;
using journal_t = offseq::journal<flash, tracker_log_t::max_record_bytes, 8>;

flash g_flash;
tracker_t g_tracker;          // zero-initialized: .bss, nothing copied from flash at boot
tracker_log_t g_tracker_log;  // what was persisted last, to write only changes
offseq::sequence_table<8> g_dedup;

// Boot: the committed positions come back from flash (or a blank flash is formatted).
bool boot(journal_t& j, tracker_t& t) {
  offseq::status s = tracker_log_t::load(j, t);
  if (s == offseq::status::not_found || s == offseq::status::corrupt) s = j.format();
  return s == offseq::status::ok;
}

void say(const char* what, std::int64_t v) {
  semihosting::write(what);
  semihosting::write_i(v);
  semihosting::write("\n");
}
}  // namespace

extern "C" void HardFault_Handler() {
  semihosting::write("firmware: HARD FAULT\n");
  semihosting::exit(false);
}

int main() {
  journal_t journal(g_flash);
  if (!boot(journal, g_tracker)) semihosting::exit(false);
  const std::int64_t resumed = g_tracker.committed(0);
  say("firmware: resuming partition 0 at offset ", resumed);
  const auto gen = g_tracker.assign(0);

  // Batches of 4 records from producer 42, the third one delivered twice (a retry).
  std::int64_t next_offset = resumed;
  bool ok = true;
  for (std::int32_t batch = 0; batch < 6; ++batch) {
    const std::int32_t seq = batch < 3 ? batch * 4 : (batch - 1) * 4;  // batch 3 repeats batch 2
    const offseq::verdict v = g_dedup.admit(offseq::batch_header{42, 0, seq, seq + 3}, next_offset, 0);
    if (v.code == offseq::status::duplicate) {
      say("firmware: duplicate batch dropped, first stored at offset ", v.offset);
      continue;
    }
    ok = ok && v.code == offseq::status::ok;
    // Workers finish the 4 records out of order; the position moves only over finished ones.
    static constexpr std::int64_t finish_order[] = {3, 1, 0, 2};
    for (const std::int64_t k : finish_order) ok = ok && g_tracker.complete(0, next_offset + k, gen) == offseq::status::ok;
    next_offset += 4;
    ok = ok && g_tracker_log.flush(journal, g_tracker) == offseq::status::ok;  // durable before acking
  }
  say("firmware: committed ", g_tracker.committed(0));

  // Power cycle: a fresh journal and tracker read the same state back from flash.
  journal_t after(g_flash);
  static tracker_t restored;
  ok = ok && boot(after, restored) && restored.committed(0) == g_tracker.committed(0);
  say("firmware: after reboot committed ", restored.committed(0));
  semihosting::write(ok ? "firmware: ok\n" : "firmware: FAILED\n");
  semihosting::exit(ok);
}
