// durable_state: every offseq engine kept in one journal file; run it twice and the second run
// continues where the first stopped (positions, producers, transactions, aborted index).
//   build/examples/durable_state [file]     (default build/durable_state.journal)
#include <offseq.hpp>
#include <posix_file.hpp>

#include <cstdio>
#include <cstdlib>

namespace {
using tracker = offseq::commit_tracker<8, 64>;
using tracker_log = offseq::tracker_log<tracker>;
using table = offseq::sequence_table<16, 5>;
using producer_log = offseq::producer_log<table>;
using tindex = offseq::txn_index<8, 32>;
using index_log = offseq::txn_index_log<tindex>;
using journal = offseq::journal<offseq::posix::posix_file, 2048, 16>;

struct hooks;
using coordinator = offseq::txn_coordinator<4, 4, 2, 32, hooks>;
using txn_log = offseq::txn_log<coordinator>;

offseq::posix::posix_file file;
journal j(file);
tracker trk;
tracker_log tl;
table producers;
producer_log pl;
tindex idx;
index_log xl;

// The compaction writer: every engine's live state, called when an area is full.
offseq::status write_all(journal& jj) noexcept;

struct hooks {
  // Write-ahead: the transition is durable (appended + synced) before the coordinator acts.
  offseq::status log_append(const coordinator::log_record& r) noexcept { return txn_log::append(j, r, write_all); }
  offseq::status send_marker(const offseq::txn_marker& m) noexcept {
    // A real transport sends it to the partition leader; here the marker lands in idx at once.
    pending = m;
    has_pending = true;
    return offseq::status::ok;
  }
  offseq::status allocate_producer_id(std::int64_t& out) noexcept {
    out = 1000 + static_cast<std::int64_t>(coordinator_ids++);  // demo only: not persisted
    return offseq::status::ok;
  }
  offseq::txn_marker pending{};
  bool has_pending = false;
  std::uint64_t coordinator_ids = 0;
};
hooks h;
coordinator coord(h);

offseq::status write_all(journal& jj) noexcept {
  offseq::status s = tl.write_snapshot(jj, trk);
  if (s == offseq::status::ok) s = pl.write_snapshot(jj, producers);
  if (s == offseq::status::ok) s = txn_log::write_snapshot(jj, coord);
  if (s == offseq::status::ok) s = xl.write_snapshot(jj, idx);
  return s;
}

void require(offseq::status s, const char* what) {
  if (s != offseq::status::ok) {
    std::fprintf(stderr, "durable_state: %s: %s\n", what, offseq::to_string(s));
    std::exit(1);
  }
}
}  // namespace

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "build/durable_state.journal";
  require(file.open(path, 64 * 1024, 4096), "open file");
  const offseq::status st = j.open([](std::uint8_t type, const std::uint8_t* p, std::size_t n) noexcept {
    offseq::status s = tracker_log::apply(trk, type, p, n);
    if (s == offseq::status::ok) s = producer_log::apply(producers, type, p, n);
    if (s == offseq::status::ok) s = txn_log::apply(coord, type, p, n);
    if (s == offseq::status::ok) s = index_log::apply(idx, type, p, n);
    return s;
  });
  if (st == offseq::status::not_found) {
    require(j.format(), "format");
    std::printf("new journal %s\n", path);
  } else {
    require(st, "recover");
    std::printf("recovered %s: generation %llu, partition 0 at %lld, %zu producers, %zu txn ids, LSO %lld\n", path,
                static_cast<unsigned long long>(j.generation()), static_cast<long long>(trk.committed(0)),
                producers.size(), coord.size(), static_cast<long long>(idx.last_stable_offset()));
  }
  (void)coord.resume(0);

  // One round of work: consume 10 offsets of partition 0, accept a producer batch, run a
  // transaction on data partition 0 and index it, then make everything durable.
  const auto g = trk.assign(0);
  const std::int64_t from = trk.committed(0);
  require(trk.commit(0, from + 10, g), "commit");
  offseq::batch_header b{7, 0, 0, 4};  // producer 7's next batch of 5 records
  table::producer_snapshot ps{};
  if (producers.find(7, ps) == offseq::status::ok && ps.count > 0) {
    b.first_seq = offseq::sequence_add(ps.batches[ps.count - 1].last_seq, 1);
    b.last_seq = offseq::sequence_add(b.first_seq, 4);
  }
  require(pl.admit(producers, b, idx.log_end(), 0).code, "admit");

  const auto pr = coord.init_producer_id("demo-txn", 60000, 1);
  require(pr.code, "init_producer_id");
  require(coord.add_partitions("demo-txn", pr.producer_id, pr.epoch, 0, 2), "add_partitions");
  const std::int64_t first = idx.log_end();
  require(idx.append(pr.producer_id, pr.epoch, first, first + 2), "txn_index append");
  require(coord.end_txn("demo-txn", pr.producer_id, pr.epoch, offseq::txn_result::abort, 3), "end_txn");
  if (h.has_pending) {  // the abort marker lands on the partition, then its answer comes back
    require(idx.marker(pr.producer_id, pr.epoch, idx.log_end(), false), "marker");
    require(coord.on_markers_written(h.pending, 4, offseq::status::ok), "markers written");
  }
  const offseq::status hw = idx.set_high_watermark(idx.log_end());
  if (hw != offseq::status::stale) require(hw, "high watermark");

  require(tl.flush(j, trk, write_all), "tracker flush");
  require(pl.flush(j, producers, write_all), "producer flush");
  require(xl.flush(j, idx, write_all), "index flush");
  std::printf("durable: partition 0 at %lld, producer 7 next sequence %d, %zu aborted txns, %s is %s\n",
              static_cast<long long>(trk.committed(0)), offseq::sequence_add(b.last_seq, 1), idx.aborted_count(),
              "demo-txn", offseq::to_string(coord.state("demo-txn")));
  return 0;
}
