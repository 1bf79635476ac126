// Compile-only check: the transaction coordinator as firmware builds it (freestanding, no
// exceptions, no RTTI, -Werror), with a synchronous and an asynchronous log hook, every public
// method called. Built by `make header-check`.
#include <offseq.hpp>

static_assert(offseq::is_valid_transition(offseq::txn_state::ongoing, offseq::txn_state::prepare_abort), "");

namespace {
using record = offseq::txn_log_record<4, 2, 24>;

// A static ring as the "log", a counter as the producer-id allocator: what firmware would do.
// The CONTRACT's three hooks only: no apply_offset, the coordinator keeps the offsets.
struct fw_core_hooks {
  record ring[8] = {};
  unsigned head = 0;
  std::int64_t next_pid = 1;
  offseq::txn_marker last_marker{};
  offseq::status log_append(const record& r) noexcept {
    ring[head++ % 8] = r;
    return offseq::status::ok;
  }
  offseq::status send_marker(const offseq::txn_marker& m) noexcept {
    last_marker = m;
    return offseq::status::ok;
  }
  offseq::status allocate_producer_id(std::int64_t& out) noexcept {
    out = next_pid++;
    return offseq::status::ok;
  }
};

// The same plus apply_offset, with a synchronous or an asynchronous log.
template <bool Async>
struct fw_hooks : fw_core_hooks {
  static constexpr bool async_log = Async;
  std::int64_t committed[4] = {};

  offseq::status apply_offset(std::uint32_t p, std::int64_t next) noexcept {
    if (p >= 4) return offseq::status::invalid_argument;
    if (next <= committed[p]) return offseq::status::stale;
    committed[p] = next;
    return offseq::status::ok;
  }
};

fw_hooks<false> sync_hooks;
fw_hooks<true> async_hooks;
offseq::txn_coordinator<8, 4, 2, 24, fw_hooks<false>> sync_coord(sync_hooks);
offseq::txn_coordinator<8, 4, 2, 24, fw_hooks<true>> async_coord(async_hooks);
static_assert(!decltype(sync_coord)::async_log && decltype(async_coord)::async_log, "");
fw_core_hooks core_hooks;
offseq::txn_coordinator<8, 4, 2, 24, fw_core_hooks> core_coord(core_hooks);
static_assert(decltype(sync_coord)::applies_offsets && !decltype(core_coord)::applies_offsets, "");

template <class C>
long exercise(C& c, std::uint64_t now) {
  long n = 0;
  const offseq::producer_result r = c.init_producer_id("pipeline-1", 60000, now);
  const std::uint32_t parts[] = {1, 2};
  n += static_cast<long>(c.add_partitions("pipeline-1", r.producer_id, r.epoch, parts, 2, now));
  n += static_cast<long>(c.add_partitions("pipeline-1", r.producer_id, r.epoch, 3u, now));
  n += static_cast<long>(c.add_offsets("pipeline-1", r.producer_id, r.epoch, 0, 42, now));
  n += c.unstable_offset(0) ? 1 : 0;
  n += static_cast<long>(c.end_txn("pipeline-1", r.producer_id, r.epoch, offseq::txn_result::commit, now));
  n += static_cast<long>(c.on_markers_written(c.hooks().last_marker, now));
  n += static_cast<long>(c.on_markers_written(c.hooks().last_marker, now, offseq::status::io_error));
  n += static_cast<long>(c.on_log_durable(1, now));
  n += static_cast<long>(c.on_log_failed(2));
  n += static_cast<long>(c.poll(now + 1000));
  n += static_cast<long>(c.state("pipeline-1"));
  n += static_cast<long>(c.pending_state(offseq::txn_id("pipeline-1", 10)));
  n += c.pending("pipeline-1") ? 1 : 0;
  n += static_cast<long>(c.producer("pipeline-1").epoch);
  n += static_cast<long>(c.size() + c.next_lsn() + c.config().marker_retry_ms);
  n += static_cast<long>(c.replay(c.hooks().ring[0]));
  n += static_cast<long>(c.resume(now));
  n += static_cast<long>(c.recover(c.hooks().ring, 1, now));
  n += static_cast<long>(sizeof(C) + C::slot_size + C::record_size);
  return n;
}
}  // namespace

long offseq_compile_txn_coordinator() {
  long n = 0;
  for (int i = 0; i < 8; ++i) {
    const auto s = static_cast<offseq::txn_state>(i);
    n += offseq::is_valid_transition(s, offseq::txn_state::empty) ? 1 : 0;
    n += offseq::to_string(s)[0];
  }
  return n + exercise(sync_coord, 10) + exercise(async_coord, 20) + exercise(core_coord, 30);
}
