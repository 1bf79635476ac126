// exactly_once_pipeline: consume → transform → produce to 2 partitions + commit the input offset in one transaction (txn_coordinator, txn_index, commit_tracker), crashes at every step; a read_committed reader sees every input exactly once.
//
// The pieces (all in one process, deterministic):
//   input partition   records 0..N-1; the group's committed position lives in a commit_tracker
//                     (moved only by the coordinator's apply_offset hook, on commit).
//   coordinator       txn_coordinator; its write-ahead log (a vector here) is the only thing
//                     it keeps across a crash: a crash destroys the object, recover() rebuilds it.
//   output partitions two logs, each with a txn_index (LSO, aborted ranges) and the leader's
//                     producer state, a sequence_table: epochs raised by data and by markers
//                     (record_marker, Kafka's appendEndTxnMarker; without the marker's epoch a
//                     zombie could append after its fencing abort and its data would join the
//                     next transaction of the same producer id) and each record's sequence.
//   pipeline app      init_producer_id → add_partitions → produce → add_offsets → end_txn, per
//                     batch of inputs; a crash loses all its memory; a restart re-inits (which
//                     fences and aborts what the old instance left open) and resumes from the
//                     committed input position once no offset commit is unstable.
//   reader            read_committed on both outputs: reads up to the LSO, skips aborted
//                     transactions (Kafka's consumer algorithm over txn_index::visit_aborted) and
//                     markers; retention then moves each output's log start to the reader.
// Faults, one per transaction in turn: app crash mid-produce, app crash before end_txn (before
// prepare), coordinator crash after prepare with markers lost, coordinator crash between the two
// markers, coordinator crash after the markers but before their acks, app crash right after
// end_txn, a failed log write, a transport outage, a zombie instance, a transaction timeout.
// Usage: exactly_once_pipeline [inputs=600] [batch=4] [reader_every=3]
//   reader_every: the reader (and retention) runs every that many ticks; a slow one fills the
//   outputs' aborted tables (4 slots): abort markers are refused (table_full) and re-sent.
#include <offseq.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <vector>

using offseq::status;

namespace {
constexpr std::size_t kTxns = 4, kPartsPerTxn = 4, kOffsetsPerTxn = 2, kIdLen = 16;
using log_record = offseq::txn_log_record<kPartsPerTxn, kOffsetsPerTxn, kIdLen>;
using tracker_t = offseq::commit_tracker<1, 64>;
using index_t = offseq::txn_index<4, 4>;  // few aborted slots: retention must keep up (or table_full)
constexpr const char* kTxnId = "pipeline";
constexpr std::uint32_t kTimeoutMs = 500;
constexpr std::uint32_t kGroupPartition = 0;

// ------------------------------------------------------------------ coordinator hooks
struct hooks {
  std::vector<log_record> log;           // durable write-ahead log: survives coordinator crashes
  std::vector<offseq::txn_marker> sent;  // markers in flight on the "network"
  std::int64_t next_pid = 7000;
  int fail_log = 0;                      // next N appends fail
  bool transport_down = false;
  tracker_t* tracker = nullptr;
  tracker_t::generation store_gen = 0;   // the offset store's own generation (not the app's)
  std::uint64_t applied = 0, stale_applies = 0;

  status log_append(const log_record& r) noexcept {
    if (fail_log > 0) {
      --fail_log;
      return status::io_error;
    }
    log.push_back(r);  // "durable" on return
    return status::ok;
  }
  status send_marker(const offseq::txn_marker& m) noexcept {
    if (transport_down) return status::io_error;
    sent.push_back(m);
    return status::ok;
  }
  status allocate_producer_id(std::int64_t& out) noexcept {
    out = next_pid++;
    return status::ok;
  }
  status apply_offset(std::uint32_t p, std::int64_t next) noexcept {
    const status s = tracker->commit(p, next, store_gen);  // monotonic: a re-applied commit is stale
    if (s == status::ok) ++applied;
    if (s == status::stale) ++stale_applies;
    return s;
  }
};
using coordinator_t = offseq::txn_coordinator<kTxns, kPartsPerTxn, kOffsetsPerTxn, kIdLen, hooks>;

// ------------------------------------------------------------------ output partitions
struct record {
  std::int64_t pid;    // producer
  int control;         // 0 data, 1 commit marker, 2 abort marker
  std::int64_t input;  // data: the input offset it came from
  std::int64_t value;  // data: the transformed value
};

struct partition {
  std::vector<record> log;  // offset = index
  index_t idx;
  offseq::sequence_table<4> producers;  // leader's producer state: epochs (fence zombies), sequences
  std::uint64_t fenced_appends = 0, refused_markers = 0;

  std::int64_t end() const { return static_cast<std::int64_t>(log.size()); }

  status produce(std::int64_t pid, std::int16_t epoch, std::int32_t seq, std::int64_t input, std::int64_t value,
                 std::uint64_t now) {
    const offseq::batch_header b{pid, epoch, seq, seq};  // one record per batch
    const offseq::verdict v = producers.check(b);
    if (v.code == status::fenced) ++fenced_appends;
    if (v.code != status::ok) return v.code;  // the app never retries: a duplicate would be a bug
    const status s = idx.check_append(pid, epoch, end(), end());
    if (s != status::ok) return s;
    (void)idx.append(pid, epoch, end(), end());
    (void)producers.record(b, end(), now);
    log.push_back({pid, 0, input, value});
    return status::ok;
  }
  status write_marker(const offseq::txn_marker& m, std::uint64_t now) {
    const bool commit = m.result == offseq::txn_result::commit;
    status s = idx.check_marker(m.producer_id, m.epoch, end(), commit);
    if (s == status::ok) s = producers.check_marker(m.producer_id, m.epoch);
    if (s != status::ok) {
      ++refused_markers;  // e.g. table_full: the coordinator re-sends after retention
      return s;
    }
    (void)idx.marker(m.producer_id, m.epoch, end(), commit);
    (void)producers.record_marker(m.producer_id, m.epoch, now);
    log.push_back({m.producer_id, commit ? 1 : 2, -1, 0});
    return status::ok;
  }
  void replicate() { (void)idx.set_high_watermark(end()); }
};

// ------------------------------------------------------------------ the read_committed reader
struct reader {
  std::int64_t pos[2] = {0, 0};
  std::map<std::int64_t, int> seen[2];  // input offset -> deliveries
  std::uint64_t delivered = 0, skipped_aborted = 0, skipped_markers = 0;
  bool bad_value = false;

  void poll(partition (&out)[2], const std::vector<std::int64_t>& input) {
    for (int p = 0; p < 2; ++p) {
      partition& part = out[p];
      const std::int64_t from = pos[p], to = part.idx.last_stable_offset();
      if (to <= from) continue;
      // Kafka's CompletedFetch: aborted txns ordered by first offset; a pid enters the aborted
      // set at its first offset and leaves it at its abort marker.
      std::vector<offseq::aborted_txn> ab;
      part.idx.visit_aborted(from, to, [&](const offseq::aborted_txn& a) { ab.push_back(a); });
      std::sort(ab.begin(), ab.end(), [](const offseq::aborted_txn& x, const offseq::aborted_txn& y) {
        return x.first_offset < y.first_offset;
      });
      std::set<std::int64_t> aborted_pids;
      std::size_t next_ab = 0;
      for (std::int64_t o = from; o < to; ++o) {
        const record& r = part.log[static_cast<std::size_t>(o)];
        while (next_ab < ab.size() && ab[next_ab].first_offset <= o) aborted_pids.insert(ab[next_ab++].producer_id);
        if (r.control == 2) aborted_pids.erase(r.pid);
        if (r.control != 0) {
          ++skipped_markers;
          continue;
        }
        const bool skip = aborted_pids.count(r.pid) != 0;
        if (skip != part.idx.should_skip(r.pid, o)) bad_value = true;  // the two APIs must agree
        if (skip) {
          ++skipped_aborted;
          continue;
        }
        const std::int64_t want = p == 0 ? input[static_cast<std::size_t>(r.input)] * 2
                                         : input[static_cast<std::size_t>(r.input)] + 1000;
        if (r.value != want) bad_value = true;
        ++seen[p][r.input];
        ++delivered;
      }
      pos[p] = to;
      (void)part.idx.set_log_start(to);  // retention: nobody needs what the reader passed
    }
  }
};

// ------------------------------------------------------------------ the world
enum fault {
  none,
  app_crash_mid_produce,
  app_crash_before_end,      // before prepare
  coord_crash_after_prepare, // prepare durable, every marker lost
  coord_crash_between_markers,
  coord_crash_before_acks,   // markers written, acks lost
  app_crash_after_end,
  log_write_fails,
  transport_outage,
  zombie,
  txn_timeout,
  fault_count
};
const char* fault_name(int f) {
  static const char* names[] = {"none", "app crash mid-produce", "app crash before end_txn (before prepare)",
                                "coordinator crash after prepare", "coordinator crash between markers",
                                "coordinator crash before marker acks", "app crash after end_txn",
                                "txn log write fails", "marker transport outage", "zombie instance",
                                "transaction timeout"};
  return names[f];
}

struct world {
  std::vector<std::int64_t> input;
  tracker_t tracker;
  hooks h;
  std::optional<coordinator_t> coord;
  partition out[2];
  reader rd;
  std::uint64_t now = 1;
  std::uint64_t reader_every = 3;
  std::uint64_t pumps = 0, coord_recoveries = 0, app_restarts = 0, unexpected = 0;
  offseq::txn_config cfg;

  world(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) input.push_back(static_cast<std::int64_t>(i * 7 + 3));
    h.tracker = &tracker;
    h.store_gen = tracker.assign(0);
    cfg.max_timeout_ms = 10000;
    cfg.marker_retry_ms = 30;
    coord.emplace(h, cfg);
  }

  void deliver(const offseq::txn_marker& m, bool ack) {
    const status s = out[m.partition].write_marker(m, now);
    if (ack) (void)coord->on_markers_written(m, now, s == status::ok ? status::ok : status::io_error);
  }

  // One tick of everything that is not the app: network, replication, coordinator timers, reader.
  void pump() {
    now += 10;
    ++pumps;
    std::vector<offseq::txn_marker> batch;
    batch.swap(h.sent);
    for (const auto& m : batch) deliver(m, true);
    for (auto& p : out) p.replicate();
    (void)coord->poll(now);
    if (pumps % reader_every == 0) rd.poll(out, input);
  }

  // The coordinator process dies; in-flight markers are handled by the caller first.
  void crash_coordinator() {
    h.sent.clear();
    coord.reset();
    coord.emplace(h, cfg);
    if (coord->recover(h.log.data(), h.log.size(), now) != status::ok) ++unexpected;
    ++coord_recoveries;
  }
};

struct app {
  world* w;
  std::int64_t pid = -1;
  std::int16_t epoch = -1;
  std::int32_t seq[2] = {0, 0};  // next sequence per output partition (an epoch starts at 0)
  std::int64_t next = 0;         // next input offset

  // (Re)start: a new instance with no memory.
  void start() {
    for (;;) {
      const offseq::producer_result r = w->coord->init_producer_id(kTxnId, kTimeoutMs, w->now);
      if (r.code == status::ok) {
        pid = r.producer_id;
        epoch = r.epoch;
        seq[0] = seq[1] = 0;
        break;
      }
      if (r.code != status::concurrent_transactions) ++w->unexpected;
      w->pump();  // the old transaction is being aborted / completed
    }
    // Kafka's OffsetFetch(requireStable): wait out a commit that is still being applied.
    while (w->coord->unstable_offset(kGroupPartition)) w->pump();
    next = w->tracker.committed(kGroupPartition);
  }

  // Retry a coordinator request while the previous transaction completes.
  template <class F>
  status retry(F&& f) {
    for (;;) {
      const status s = f();
      if (s != status::concurrent_transactions) return s;
      w->pump();
    }
  }

  status add_partitions() {
    const std::uint32_t parts[2] = {0, 1};
    return retry([&] { return w->coord->add_partitions(kTxnId, pid, epoch, parts, 2, w->now); });
  }

  // Produce one batch; returns false if this instance must die (crash or fenced).
  bool produce(std::int64_t first, std::int64_t end, int only_partition = -1) {
    for (std::int64_t i = first; i < end; ++i) {
      const std::int64_t v = w->input[static_cast<std::size_t>(i)];
      if (only_partition != 1 && w->out[0].produce(pid, epoch, seq[0]++, i, v * 2, w->now) != status::ok) return false;
      if (only_partition != 0 && w->out[1].produce(pid, epoch, seq[1]++, i, v + 1000, w->now) != status::ok) return false;
    }
    return true;
  }
};
}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? static_cast<std::size_t>(std::strtoul(argv[1], nullptr, 10)) : 600;
  const std::int64_t batch = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 4;
  const long every = argc > 3 ? std::strtol(argv[3], nullptr, 10) : 3;
  if (n == 0 || batch <= 0 || batch > 50 || every <= 0) {
    std::fprintf(stderr, "usage: exactly_once_pipeline [inputs>0] [batch 1..50] [reader_every>0]\n");
    return 2;
  }
  world w(n);
  w.reader_every = static_cast<std::uint64_t>(every);
  app a{&w};
  a.start();
  std::uint64_t attempts = 0, committed = 0, faults[fault_count] = {};
  const std::int64_t total = static_cast<std::int64_t>(n);

  while (a.next < total) {
    const int f = static_cast<int>(attempts++ % fault_count);
    ++faults[f];
    const std::int64_t first = a.next, end = std::min(total, first + batch);
    bool app_dies = false;

    if (a.add_partitions() != status::ok) {
      ++w.unexpected;
      app_dies = true;
    }
    if (!app_dies && f == app_crash_mid_produce) {
      (void)a.produce(first, end, 0);  // out0 written, out1 not: the instance dies here
      app_dies = true;
    }
    if (!app_dies && !a.produce(first, end)) {
      ++w.unexpected;
      app_dies = true;
    }
    if (!app_dies && f == zombie) {
      // This instance stalls; a second one takes over the transactional id (fence + abort),
      // processes the same inputs and commits; then the stalled one wakes up.
      app b{&w};
      b.start();
      ++w.app_restarts;
      if (b.next != first) ++w.unexpected;
      if (b.add_partitions() != status::ok || !b.produce(first, end)) ++w.unexpected;
      if (b.retry([&] { return w.coord->add_offsets(kTxnId, b.pid, b.epoch, kGroupPartition, end, w.now); }) !=
              status::ok ||
          b.retry([&] { return w.coord->end_txn(kTxnId, b.pid, b.epoch, offseq::txn_result::commit, w.now); }) !=
              status::ok)
        ++w.unexpected;
      ++committed;
      // The zombie: its writes and its commit are refused.
      if (w.out[0].produce(a.pid, a.epoch, a.seq[0], first, 0, w.now) != status::fenced) ++w.unexpected;
      if (w.coord->add_offsets(kTxnId, a.pid, a.epoch, kGroupPartition, end, w.now) != status::fenced) ++w.unexpected;
      if (w.coord->end_txn(kTxnId, a.pid, a.epoch, offseq::txn_result::commit, w.now) != status::fenced)
        ++w.unexpected;
      a = b;  // the zombie exits; b carries on
      a.next = end;
      w.pump();
      continue;
    }
    if (!app_dies && f == txn_timeout) {
      const std::uint64_t until = w.now + kTimeoutMs + 50;
      while (w.now < until) w.pump();  // the app stalls; poll aborts the transaction with a fence
      if (w.coord->end_txn(kTxnId, a.pid, a.epoch, offseq::txn_result::commit, w.now) != status::fenced)
        ++w.unexpected;
      app_dies = true;
    }
    if (!app_dies &&
        a.retry([&] { return w.coord->add_offsets(kTxnId, a.pid, a.epoch, kGroupPartition, end, w.now); }) !=
            status::ok) {
      ++w.unexpected;
      app_dies = true;
    }
    if (!app_dies && f == app_crash_before_end) app_dies = true;
    if (!app_dies) {
      if (f == log_write_fails) {
        w.h.fail_log = 1;  // the prepare_commit append fails: nothing changed, the app retries
        if (w.coord->end_txn(kTxnId, a.pid, a.epoch, offseq::txn_result::commit, w.now) != status::io_error)
          ++w.unexpected;
      }
      if (f == transport_outage) w.h.transport_down = true;
      const status s = a.retry([&] { return w.coord->end_txn(kTxnId, a.pid, a.epoch, offseq::txn_result::commit, w.now); });
      if (s != status::ok) {
        ++w.unexpected;
        app_dies = true;
      } else {
        ++committed;  // prepare_commit is durable: the transaction will commit, whatever happens
        a.next = end;
        switch (f) {
          case coord_crash_after_prepare: w.crash_coordinator(); break;  // markers never left
          case coord_crash_between_markers:
            if (!w.h.sent.empty()) w.deliver(w.h.sent.front(), true);  // one written + acked
            w.crash_coordinator();
            break;
          case coord_crash_before_acks:
            for (const auto& m : w.h.sent) w.deliver(m, false);  // written, acks lost
            w.crash_coordinator();
            break;
          case app_crash_after_end: app_dies = true; break;
          case transport_outage:
            for (int k = 0; k < 5; ++k) w.pump();
            w.h.transport_down = false;
            break;
          case log_write_fails:
            w.h.fail_log = 1;  // and the complete_commit append after the acks fails too
            break;
          default: break;
        }
      }
    }
    if (app_dies) {
      a = app{&w};
      a.start();
      ++w.app_restarts;
    }
    w.pump();
  }

  // Drain: every transaction completes, replication and the reader catch up.
  for (int k = 0; k < 100000 && (w.coord->state(kTxnId) != offseq::txn_state::complete_commit ||
                              w.rd.pos[0] != w.out[0].end() || w.rd.pos[1] != w.out[1].end());
       ++k)
    w.pump();

  // ------------------------------------------------------------------ verdict
  std::uint64_t dup = 0, lost = 0, raw_dup = 0;
  for (int p = 0; p < 2; ++p) {
    std::map<std::int64_t, int> raw;
    for (const record& r : w.out[p].log)
      if (r.control == 0) ++raw[r.input];
    for (std::int64_t i = 0; i < total; ++i) {
      const auto it = w.rd.seen[p].find(i);
      const int c = it == w.rd.seen[p].end() ? 0 : it->second;
      if (c == 0) ++lost;
      if (c > 1) dup += static_cast<std::uint64_t>(c - 1);
      const int rc = raw.count(i) ? raw[i] : 0;
      if (rc > 1) raw_dup += static_cast<std::uint64_t>(rc - 1);
    }
  }
  const bool stable = w.out[0].idx.last_stable_offset() == w.out[0].end() &&
                      w.out[1].idx.last_stable_offset() == w.out[1].end();
  std::printf("exactly_once_pipeline: %zu inputs, batches of %lld, %llu transaction attempts\n", n,
              static_cast<long long>(batch), static_cast<unsigned long long>(attempts));
  for (int f = 1; f < fault_count; ++f)
    std::printf("  fault %-42s x%llu\n", fault_name(f), static_cast<unsigned long long>(faults[f]));
  std::printf("  committed transactions %llu, app restarts %llu, coordinator recoveries %llu, txn log records %zu\n",
              static_cast<unsigned long long>(committed), static_cast<unsigned long long>(w.app_restarts),
              static_cast<unsigned long long>(w.coord_recoveries), w.h.log.size());
  std::printf("  input committed position %lld (offset commits applied %llu, re-applied as stale %llu)\n",
              static_cast<long long>(w.tracker.committed(kGroupPartition)), static_cast<unsigned long long>(w.h.applied),
              static_cast<unsigned long long>(w.h.stale_applies));
  for (int p = 0; p < 2; ++p)
    std::printf("  output %d: %lld records in the log, LSO %lld, zombie appends fenced %llu, markers refused %llu\n", p,
                static_cast<long long>(w.out[p].end()), static_cast<long long>(w.out[p].idx.last_stable_offset()),
                static_cast<unsigned long long>(w.out[p].fenced_appends),
                static_cast<unsigned long long>(w.out[p].refused_markers));
  std::printf("  read_committed: delivered %llu, skipped aborted %llu, skipped markers %llu\n",
              static_cast<unsigned long long>(w.rd.delivered), static_cast<unsigned long long>(w.rd.skipped_aborted),
              static_cast<unsigned long long>(w.rd.skipped_markers));
  std::printf("  (a read_uncommitted reader would have seen %llu duplicates)\n", static_cast<unsigned long long>(raw_dup));
  std::printf("duplicates: %llu (must be 0)\nlost: %llu (must be 0)\n", static_cast<unsigned long long>(dup),
              static_cast<unsigned long long>(lost));
  const bool ok = dup == 0 && lost == 0 && stable && !w.rd.bad_value && w.unexpected == 0 &&
                  w.tracker.committed(kGroupPartition) == total && w.rd.delivered == 2 * n;
  if (!ok)
    std::printf("FAILED: stable=%d bad_value=%d unexpected=%llu\n", stable ? 1 : 0, w.rd.bad_value ? 1 : 0,
                static_cast<unsigned long long>(w.unexpected));
  return ok ? 0 : 1;
}
