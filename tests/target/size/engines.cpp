// What `make size` measures: each engine with every public method called, as one firmware
// image per engine (-DSIZE_<ENGINE>) and all four together (-DSIZE_ALL), each compared with a
// baseline image that has the same startup and application code and no engine.
#include <cortex_m.hpp>
#include <offseq.hpp>

#include "user.hpp"

#if defined(SIZE_ALL)
#define SIZE_COMMIT_TRACKER
#define SIZE_SEQUENCE_TABLE
#define SIZE_TXN_COORDINATOR
#define SIZE_JOURNAL
#endif

namespace {
#ifdef SIZE_COMMIT_TRACKER
offseq::commit_tracker<8, 64, offseq::cortex_m::preferred_sync<std::uint32_t>> size_commit_tracker;
void commit_tracker() {
  auto& t = size_commit_tracker;
  const std::size_t p = static_cast<std::size_t>(sink);
  const auto g = t.assign(p);
  std::int64_t n = static_cast<std::int64_t>(t.commit(p, sink, g)) + static_cast<std::int64_t>(t.complete(p, sink, g)) +
                   static_cast<std::int64_t>(t.complete_range(p, sink, sink, g)) + (t.is_completed(p, sink) ? 1 : 0);
  n += t.committed(p) + t.current_generation(p) + (t.pending(p) ? 1 : 0);
  n += static_cast<std::int64_t>(t.drain([](std::size_t q, std::int64_t pos) { sink = pos + static_cast<std::int64_t>(q); }));
  const auto snap = t.snapshot(p);
  n += static_cast<std::int64_t>(t.restore(p, snap)) + static_cast<std::int64_t>(t.restore(p, sink)) +
       static_cast<std::int64_t>(t.reset(p, sink));
  t.revoke(p);
  sink = n;
}
#endif

#ifdef SIZE_SEQUENCE_TABLE
offseq::sequence_table<16> size_sequence_table;
void sequence_table() {
  auto& t = size_sequence_table;
  const offseq::batch_header b{sink, 0, static_cast<std::int32_t>(sink), static_cast<std::int32_t>(sink)};
  const std::uint64_t now = static_cast<std::uint64_t>(sink);
  std::int64_t n = t.check(b).offset + static_cast<std::int64_t>(t.record(b, sink, now)) + t.admit(b, sink, now).offset;
  decltype(size_sequence_table)::producer_snapshot s{};
  n += static_cast<std::int64_t>(t.find(sink, s)) + static_cast<std::int64_t>(t.restore_producer(s));
  t.for_each_producer([](const decltype(s)& x) { sink = x.producer_id; });
  n += static_cast<std::int64_t>(t.expire(now, 1000)) + static_cast<std::int64_t>(t.erase(sink)) +
       static_cast<std::int64_t>(t.size());
  sink = n;
}
#endif

#ifdef SIZE_TXN_COORDINATOR
txn_hooks size_hooks;
offseq::txn_coordinator<4, 4, 2, 16, txn_hooks> size_txn_coordinator(size_hooks);
void txn_coordinator() {
  auto& c = size_txn_coordinator;
  const std::uint64_t now = static_cast<std::uint64_t>(sink);
  const char* id = "pump-1";
  const offseq::producer_result r = c.init_producer_id(id, 60000, now);
  const std::uint32_t parts[] = {1, 2};
  std::int64_t n = static_cast<std::int64_t>(c.add_partitions(id, r.producer_id, r.epoch, parts, 2, now));
  n += static_cast<std::int64_t>(c.add_offsets(id, r.producer_id, r.epoch, 0, sink, now));
  n += static_cast<std::int64_t>(c.end_txn(id, r.producer_id, r.epoch, offseq::txn_result::commit, now));
  n += static_cast<std::int64_t>(c.on_markers_written(offseq::txn_marker{}, now));
  n += static_cast<std::int64_t>(c.poll(now)) + static_cast<std::int64_t>(c.state(id)) + c.producer(id).epoch;
  n += static_cast<std::int64_t>(c.recover(nullptr, 0, now)) + static_cast<std::int64_t>(c.replay(txn_record{}));
  n += static_cast<std::int64_t>(c.resume(now)) + (c.unstable_offset(0) ? 1 : 0) + static_cast<std::int64_t>(c.size());
  sink = n;
}
#endif

#ifdef SIZE_JOURNAL
flash_driver size_flash;
offseq::journal<flash_driver, 256, 8> size_journal(size_flash);
void journal() {
  auto& j = size_journal;
  auto visit = [](std::uint8_t t, const std::uint8_t* p, std::size_t n) { sink = t + (n ? p[0] : 0); };
  std::int64_t n = static_cast<std::int64_t>(j.open(visit));
  if (n != 0) n += static_cast<std::int64_t>(j.format());
  const std::uint8_t payload[4] = {1, 2, 3, 4};
  n += static_cast<std::int64_t>(j.append(1, payload, static_cast<std::size_t>(sink)));
  n += static_cast<std::int64_t>(j.append_with(2, [](std::uint8_t* d, std::size_t) {
    d[0] = 1;
    return std::size_t{1};
  }));
  n += static_cast<std::int64_t>(j.sync()) + static_cast<std::int64_t>(j.replay(visit));
  n += static_cast<std::int64_t>(j.compact([](decltype(size_journal)& jj) { return jj.append(1, nullptr, 0); }));
  sink = n;
}
#endif
}  // namespace

int main() {
  user_code();
#ifdef SIZE_COMMIT_TRACKER
  commit_tracker();
#endif
#ifdef SIZE_SEQUENCE_TABLE
  sequence_table();
#endif
#ifdef SIZE_TXN_COORDINATOR
  txn_coordinator();
#endif
#ifdef SIZE_JOURNAL
  journal();
#endif
  for (;;) {
  }
}
