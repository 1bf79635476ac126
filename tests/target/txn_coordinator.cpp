// txn_coordinator on the target (SEMANTICS.md §3): a transaction from init to complete_commit
// with its offset applied to a commit_tracker, fencing, and recovery from the log.
#include <cortex_m.hpp>
#include <offseq.hpp>

#include "runner.hpp"

using offseq::status;
using offseq::txn_result;
using offseq::txn_state;

namespace {
using record = offseq::txn_log_record<4, 2, 16>;
using tracker = offseq::commit_tracker<4, 64, offseq::cortex_m::preferred_sync<std::uint32_t>>;

// Hooks as firmware would write them: a static ring as the log, a counter as the id allocator,
// markers queued for the transport, offsets applied to the consumer's commit tracker.
struct hooks {
  record log[16] = {};
  std::size_t log_size = 0;
  offseq::txn_marker markers[8] = {};
  std::size_t marker_count = 0;
  std::int64_t next_pid = 100;
  tracker* consumer = nullptr;
  tracker::generation gen = 0;

  status log_append(const record& r) noexcept {
    if (log_size == 16) return status::io_error;
    log[log_size++] = r;
    return status::ok;
  }
  status send_marker(const offseq::txn_marker& m) noexcept {
    if (marker_count == 8) return status::io_error;
    markers[marker_count++] = m;
    return status::ok;
  }
  status allocate_producer_id(std::int64_t& out) noexcept {
    out = next_pid++;
    return status::ok;
  }
  status apply_offset(std::uint32_t p, std::int64_t next) noexcept { return consumer->commit(p, next, gen); }
};

using coordinator = offseq::txn_coordinator<4, 4, 2, 16, hooks>;
hooks g_hooks;
tracker g_consumer;
}  // namespace

void target_txn_coordinator() {
  target_test::run("txn_coordinator: commit path, markers, offset applied to the tracker", [] {
    g_hooks = hooks{};
    g_hooks.consumer = &g_consumer;
    g_hooks.gen = g_consumer.assign(1);
    coordinator c(g_hooks);
    const offseq::producer_result r = c.init_producer_id("sensor-7", 60000, 10);
    TCHECK(r.code == status::ok && r.producer_id == 100 && r.epoch == 0);
    TCHECK(c.state("sensor-7") == txn_state::empty);
    const std::uint32_t parts[] = {3, 5};
    TCHECK(c.add_partitions("sensor-7", r.producer_id, r.epoch, parts, 2, 20) == status::ok);
    TCHECK(c.add_offsets("sensor-7", r.producer_id, r.epoch, 1, 42, 20) == status::ok);
    TCHECK(c.state("sensor-7") == txn_state::ongoing);
    TCHECK(c.end_txn("sensor-7", r.producer_id, r.epoch, txn_result::commit, 30) == status::ok);
    TCHECK(c.state("sensor-7") == txn_state::prepare_commit);
    TCHECK(g_hooks.marker_count == 2);
    TCHECK(g_consumer.committed(1) == 42);  // applied once the commit decision is durable
    for (std::size_t k = 0; k < g_hooks.marker_count; ++k)
      TCHECK(c.on_markers_written(g_hooks.markers[k], 40) == status::ok);
    TCHECK(c.state("sensor-7") == txn_state::complete_commit);
    TCHECK(g_consumer.committed(1) == 42);
    TCHECK(g_hooks.log[g_hooks.log_size - 1].state == txn_state::complete_commit);
  });
  target_test::run("txn_coordinator: re-init fences the old epoch; recover() rebuilds from the log", [] {
    g_hooks = hooks{};
    g_hooks.consumer = &g_consumer;
    coordinator c(g_hooks);
    const offseq::producer_result a = c.init_producer_id("pump", 60000, 1);
    const offseq::producer_result b = c.init_producer_id("pump", 60000, 2);
    TCHECK(b.code == status::ok && b.producer_id == a.producer_id && b.epoch == a.epoch + 1);
    TCHECK(c.add_partitions("pump", a.producer_id, a.epoch, 1u, 3) == status::fenced);
    TCHECK(c.add_partitions("pump", b.producer_id, b.epoch, 1u, 3) == status::ok);
    TCHECK(c.add_partitions("nobody", b.producer_id, b.epoch, 1u, 3) == status::unknown_producer);
    TCHECK(c.init_producer_id("pump", 0, 3).code == status::invalid_argument);
    // Power cycle: a new coordinator rebuilt from the durable log has the same view.
    coordinator again(g_hooks);
    TCHECK(again.recover(g_hooks.log, g_hooks.log_size, 4) == status::ok);
    TCHECK(again.state("pump") == txn_state::ongoing);
    TCHECK(again.producer("pump").epoch == b.epoch);
    TCHECK(again.add_partitions("pump", a.producer_id, a.epoch, 2u, 5) == status::fenced);
  });
}
