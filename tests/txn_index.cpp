// txn_index: SEMANTICS.md §4 (read_committed: LSO and the aborted-transaction index), one test
// case per rule, plus the contract edges (capacity, bad input, snapshot/restore) and a
// randomized test against a std::map reference model with a simulated log and reader.
#include <doctest/doctest.h>

#include <offseq.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <queue>
#include <random>
#include <set>
#include <tuple>
#include <vector>

using offseq::aborted_txn;
using offseq::open_txn;
using offseq::status;

namespace {
using index_t = offseq::txn_index<4, 8>;
constexpr bool commit = true;
constexpr bool abort_ = false;

// Everything observable about an index, for "changed nothing" checks and model comparison.
struct state {
  std::int64_t log_start, hw, log_end, lso;
  std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int16_t>> open;  // sorted
  std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>> aborted;           // marker order
  bool operator==(const state& o) const {
    return log_start == o.log_start && hw == o.hw && log_end == o.log_end && lso == o.lso && open == o.open &&
           aborted == o.aborted;
  }
};

template <class I>
state dump(const I& x) {
  state s{x.log_start(), x.high_watermark(), x.log_end(), x.last_stable_offset(), {}, {}};
  x.for_each_open([&](const open_txn& e) { s.open.emplace_back(e.producer_id, e.first_offset, e.marker_offset, e.epoch); });
  std::sort(s.open.begin(), s.open.end());
  x.for_each_aborted([&](const aborted_txn& a) { s.aborted.emplace_back(a.producer_id, a.first_offset, a.last_offset); });
  return s;
}

template <class I>
std::vector<aborted_txn> aborted_in(const I& x, std::int64_t from, std::int64_t end) {
  std::vector<aborted_txn> out(64);
  std::size_t found = 0;
  REQUIRE(x.aborted(from, end, out.data(), out.size(), found) == status::ok);
  REQUIRE(found <= out.size());
  out.resize(found);
  return out;
}

bool same(const aborted_txn& a, std::int64_t pid, std::int64_t first, std::int64_t last) {
  return a.producer_id == pid && a.first_offset == first && a.last_offset == last;
}

// A simulated partition log: what a read_committed reader walks.
struct record {
  std::int64_t offset;
  std::int64_t pid;     // -1: non-transactional
  int control;          // 0 data, 1 commit marker, 2 abort marker
  int txn;              // data of a transaction: its number; else -1
};

// Kafka's consumer (CompletedFetch, READ_COMMITTED): aborted txns in a min-heap on first
// offset; pop those starting at or below the batch into a pid set; an ABORT marker removes its
// pid; a transactional batch whose pid is in the set is skipped; markers never delivered.
template <class I>
std::vector<std::int64_t> read_committed(const I& x, const std::vector<record>& log, std::int64_t from) {
  const std::int64_t end = x.last_stable_offset();
  std::vector<std::int64_t> delivered;
  if (end <= from) return delivered;
  auto cmp = [](const aborted_txn& a, const aborted_txn& b) { return a.first_offset > b.first_offset; };
  std::priority_queue<aborted_txn, std::vector<aborted_txn>, decltype(cmp)> heap(cmp);
  x.visit_aborted(from, end, [&](const aborted_txn& a) { heap.push(a); });
  std::set<std::int64_t> aborted_pids;
  for (const record& r : log) {
    if (r.offset < from || r.offset >= end) continue;
    while (!heap.empty() && heap.top().first_offset <= r.offset) {
      aborted_pids.insert(heap.top().producer_id);
      heap.pop();
    }
    if (r.control == 2) aborted_pids.erase(r.pid);
    if (r.control != 0) continue;
    if (r.pid >= 0 && aborted_pids.count(r.pid)) {
      CHECK(x.should_skip(r.pid, r.offset));
      continue;
    }
    if (r.pid >= 0) CHECK_FALSE(x.should_skip(r.pid, r.offset));
    delivered.push_back(r.offset);
  }
  return delivered;
}
}  // namespace

// ------------------------------------------------------------------------------ SEMANTICS §4

TEST_CASE("§4.1 last stable offset = first offset of the earliest open transaction") {
  index_t x;
  REQUIRE(x.append(7, 0, 10, 12) == status::ok);   // pid 7 opens at 10
  REQUIRE(x.append(3, 0, 13, 13) == status::ok);   // pid 3 opens at 13
  REQUIRE(x.append(7, 0, 14, 15) == status::ok);   // pid 7 continues: first stays 10
  REQUIRE(x.set_high_watermark(16) == status::ok);
  CHECK(x.last_stable_offset() == 10);
  CHECK(x.open_first_offset(7) == 10);
  CHECK(x.open_first_offset(3) == 13);
  REQUIRE(x.marker(7, 0, 16, commit) == status::ok);
  REQUIRE(x.set_high_watermark(17) == status::ok);  // pid 7's marker is below the HW now
  CHECK(x.last_stable_offset() == 13);               // the earliest one still open
  REQUIRE(x.marker(3, 0, 17, abort_) == status::ok);
  REQUIRE(x.set_high_watermark(18) == status::ok);
  CHECK(x.last_stable_offset() == 18);
}

TEST_CASE("§4.1 last stable offset = high watermark without open transactions") {
  index_t x;
  CHECK(x.last_stable_offset() == 0);
  REQUIRE(x.set_high_watermark(42) == status::ok);
  CHECK(x.last_stable_offset() == 42);
  CHECK(x.log_end() == 42);  // the log holds at least what is replicated
  REQUIRE(x.set_high_watermark(100) == status::ok);
  CHECK(x.last_stable_offset() == 100);
}

TEST_CASE("§4.1 last stable offset is never above the high watermark") {
  index_t x;
  // Open transaction above the HW: LSO = HW, not its first offset.
  REQUIRE(x.append(1, 0, 50, 59) == status::ok);
  CHECK(x.high_watermark() == 0);
  CHECK(x.last_stable_offset() == 0);
  REQUIRE(x.set_high_watermark(30) == status::ok);
  CHECK(x.last_stable_offset() == 30);
  REQUIRE(x.set_high_watermark(55) == status::ok);
  CHECK(x.last_stable_offset() == 50);
  // Completed, marker at 60 not yet replicated: the transaction is still unstable.
  REQUIRE(x.marker(1, 0, 60, commit) == status::ok);
  CHECK(x.open_first_offset(1) == -1);
  CHECK(x.last_stable_offset() == 50);
  REQUIRE(x.set_high_watermark(60) == status::ok);  // marker == HW: not below it yet
  CHECK(x.last_stable_offset() == 50);
  REQUIRE(x.set_high_watermark(61) == status::ok);
  CHECK(x.last_stable_offset() == 61);
  CHECK(x.open_count() == 0);
}

TEST_CASE("§4.1 a completed transaction holds the LSO until its marker is below the high watermark") {
  index_t x;
  REQUIRE(x.append(1, 0, 0, 4) == status::ok);
  REQUIRE(x.marker(1, 0, 5, abort_) == status::ok);
  REQUIRE(x.append(1, 1, 6, 6) == status::ok);  // same producer, next transaction, before the HW moved
  CHECK(x.open_count() == 2);
  CHECK(x.open_first_offset(1) == 6);
  REQUIRE(x.set_high_watermark(5) == status::ok);
  CHECK(x.last_stable_offset() == 0);
  REQUIRE(x.set_high_watermark(6) == status::ok);
  CHECK(x.open_count() == 1);
  CHECK(x.last_stable_offset() == 6);
}

TEST_CASE("§4.2 only aborted transactions are indexed, as (producer id, first offset, marker offset)") {
  index_t x;
  REQUIRE(x.append(1, 0, 0, 2) == status::ok);
  REQUIRE(x.append(2, 0, 3, 5) == status::ok);
  REQUIRE(x.marker(1, 0, 6, commit) == status::ok);
  REQUIRE(x.marker(2, 0, 7, abort_) == status::ok);
  REQUIRE(x.set_high_watermark(8) == status::ok);
  CHECK(x.aborted_count() == 1);
  const auto a = aborted_in(x, 0, 8);
  REQUIRE(a.size() == 1);
  CHECK(same(a[0], 2, 3, 7));
  CHECK_FALSE(x.should_skip(1, 1));  // committed
  CHECK(x.should_skip(2, 4));        // aborted
}

TEST_CASE("§4.2 a reader skips a transactional batch whose producer has an aborted transaction covering it") {
  index_t x;
  // pid 5: aborted [2, 9]; pid 6: committed [3, 10]; pid 5 again: committed [11, 12].
  REQUIRE(x.append(5, 0, 2, 2) == status::ok);
  REQUIRE(x.append(6, 0, 3, 3) == status::ok);
  REQUIRE(x.append(5, 0, 4, 8) == status::ok);
  REQUIRE(x.marker(5, 0, 9, abort_) == status::ok);
  REQUIRE(x.marker(6, 0, 10, commit) == status::ok);
  REQUIRE(x.append(5, 1, 11, 11) == status::ok);
  REQUIRE(x.marker(5, 1, 12, commit) == status::ok);
  REQUIRE(x.set_high_watermark(13) == status::ok);
  for (std::int64_t o = 2; o <= 9; ++o) CHECK(x.should_skip(5, o));
  CHECK_FALSE(x.should_skip(5, 1));
  CHECK_FALSE(x.should_skip(5, 11));  // the next transaction of the same producer
  CHECK_FALSE(x.should_skip(6, 3));   // another producer inside the aborted range
  CHECK_FALSE(x.should_skip(6, 5));
  CHECK_FALSE(x.should_skip(-1, 5));
  CHECK_FALSE(x.should_skip(5, -1));
}

TEST_CASE("§4.2 markers are never delivered to the application") {
  index_t x;
  std::vector<record> log;
  REQUIRE(x.append(1, 0, 0, 0) == status::ok);
  log.push_back({0, 1, 0, 0});
  log.push_back({1, -1, 0, -1});  // non-transactional
  REQUIRE(x.append(2, 0, 2, 2) == status::ok);
  log.push_back({2, 2, 0, 1});
  REQUIRE(x.marker(1, 0, 3, commit) == status::ok);
  log.push_back({3, 1, 1, -1});
  REQUIRE(x.marker(2, 0, 4, abort_) == status::ok);
  log.push_back({4, 2, 2, -1});
  REQUIRE(x.set_high_watermark(5) == status::ok);
  CHECK(read_committed(x, log, 0) == std::vector<std::int64_t>{0, 1});
  // The abort marker's own offset is inside the aborted range: should_skip covers it too.
  CHECK(x.should_skip(2, 4));
}

// ------------------------------------------------------------------------------ behaviour

TEST_CASE("LSO and aborted ranges with interleaved producers") {
  index_t x;
  // offsets: 0 A  1 B  2 C  3 A  4 B  5 abort(A)  6 C  7 commit(B)  8 D  9 abort(C)  10 D  11 abort(D)
  REQUIRE(x.append(10, 0, 0, 0) == status::ok);
  REQUIRE(x.append(11, 0, 1, 1) == status::ok);
  REQUIRE(x.append(12, 0, 2, 2) == status::ok);
  REQUIRE(x.append(10, 0, 3, 3) == status::ok);
  REQUIRE(x.append(11, 0, 4, 4) == status::ok);
  REQUIRE(x.marker(10, 0, 5, abort_) == status::ok);
  REQUIRE(x.set_high_watermark(6) == status::ok);
  CHECK(x.last_stable_offset() == 1);  // B is the earliest still open
  REQUIRE(x.append(12, 0, 6, 6) == status::ok);
  REQUIRE(x.marker(11, 0, 7, commit) == status::ok);
  REQUIRE(x.append(13, 0, 8, 8) == status::ok);
  REQUIRE(x.set_high_watermark(9) == status::ok);
  CHECK(x.last_stable_offset() == 2);  // C
  REQUIRE(x.marker(12, 0, 9, abort_) == status::ok);
  REQUIRE(x.append(13, 0, 10, 10) == status::ok);
  REQUIRE(x.marker(13, 0, 11, abort_) == status::ok);
  REQUIRE(x.set_high_watermark(10) == status::ok);
  CHECK(x.last_stable_offset() == 8);  // D open; C's marker 9 is below HW 10
  REQUIRE(x.set_high_watermark(12) == status::ok);
  CHECK(x.last_stable_offset() == 12);

  auto a = aborted_in(x, 0, 12);
  REQUIRE(a.size() == 3);
  CHECK(same(a[0], 10, 0, 5));
  CHECK(same(a[1], 12, 2, 9));
  CHECK(same(a[2], 13, 8, 11));
  a = aborted_in(x, 6, 8);  // C only: A ended at 5, D starts at 8
  REQUIRE(a.size() == 1);
  CHECK(same(a[0], 12, 2, 9));
  a = aborted_in(x, 5, 6);  // A's marker offset is inside A's range
  REQUIRE(a.size() == 2);
  CHECK(same(a[0], 10, 0, 5));
  CHECK(same(a[1], 12, 2, 9));
  CHECK(aborted_in(x, 12, 20).empty());
  CHECK(aborted_in(x, 3, 3).empty());  // empty range

  std::vector<record> log = {{0, 10, 0, 0}, {1, 11, 0, 1},  {2, 12, 0, 2},  {3, 10, 0, 0},
                             {4, 11, 0, 1}, {5, 10, 2, -1}, {6, 12, 0, 2},  {7, 11, 1, -1},
                             {8, 13, 0, 3}, {9, 12, 2, -1}, {10, 13, 0, 3}, {11, 13, 2, -1}};
  CHECK(read_committed(x, log, 0) == std::vector<std::int64_t>{1, 4});
  CHECK(read_committed(x, log, 3) == std::vector<std::int64_t>{4});  // starting mid-transaction
}

TEST_CASE("aborted(): buffer too small reports how many there are; bad input is invalid_argument") {
  index_t x;
  for (std::int64_t i = 0; i < 4; ++i) {
    REQUIRE(x.append(i, 0, 2 * i, 2 * i) == status::ok);
    REQUIRE(x.marker(i, 0, 2 * i + 1, abort_) == status::ok);
  }
  aborted_txn out[2];
  std::size_t found = 99;
  REQUIRE(x.aborted(0, 8, out, 2, found) == status::ok);
  CHECK(found == 4);
  CHECK(same(out[0], 0, 0, 1));
  CHECK(same(out[1], 1, 2, 3));
  REQUIRE(x.aborted(0, 8, nullptr, 0, found) == status::ok);  // count only
  CHECK(found == 4);
  found = 99;
  CHECK(x.aborted(-1, 8, out, 2, found) == status::invalid_argument);
  CHECK(x.aborted(5, 4, out, 2, found) == status::invalid_argument);
  CHECK(x.aborted(0, 8, nullptr, 2, found) == status::invalid_argument);
  CHECK(found == 99);
  CHECK(x.visit_aborted(-1, 8, [](const aborted_txn&) { FAIL("called"); }) == 0);
  CHECK(x.visit_aborted(3, 5, [](const aborted_txn&) {}) == 2);
}

TEST_CASE("a marker for a producer without an open transaction changes neither LSO nor index") {
  index_t x;
  REQUIRE(x.set_high_watermark(3) == status::ok);
  CHECK(x.marker(9, 0, 3, abort_) == status::ok);  // Kafka: empty transaction, no effect
  CHECK(x.marker(9, 0, 4, commit) == status::ok);
  CHECK(x.aborted_count() == 0);
  CHECK(x.open_count() == 0);
  CHECK(x.log_end() == 5);
  REQUIRE(x.set_high_watermark(5) == status::ok);
  CHECK(x.last_stable_offset() == 5);
  // A re-sent marker (coordinator recovery) after the real one: no effect either.
  REQUIRE(x.append(9, 0, 5, 5) == status::ok);
  REQUIRE(x.marker(9, 0, 6, abort_) == status::ok);
  REQUIRE(x.marker(9, 0, 7, abort_) == status::ok);
  CHECK(x.aborted_count() == 1);
  CHECK(same(aborted_in(x, 0, 10)[0], 9, 5, 6));
}

TEST_CASE("epochs: an older epoch than the open transaction's is fenced, a newer one is recorded") {
  index_t x;
  REQUIRE(x.append(1, 3, 0, 0) == status::ok);
  auto before = dump(x);
  CHECK(x.check_append(1, 2, 1, 1) == status::fenced);
  CHECK(x.append(1, 2, 1, 1) == status::fenced);
  CHECK(x.check_marker(1, 2, 1, abort_) == status::fenced);
  CHECK(x.marker(1, 2, 1, abort_) == status::fenced);
  CHECK(dump(x) == before);
  // The coordinator's fencing abort carries epoch + 1: accepted.
  REQUIRE(x.append(1, 3, 1, 1) == status::ok);
  REQUIRE(x.marker(1, 4, 2, abort_) == status::ok);
  CHECK(x.aborted_count() == 1);
  // A newer epoch inside an open transaction raises it.
  REQUIRE(x.append(2, 0, 3, 3) == status::ok);
  REQUIRE(x.append(2, 1, 4, 4) == status::ok);
  CHECK(x.append(2, 0, 5, 5) == status::fenced);
  // With no open transaction any epoch is fine here (the sequence_table fences producers).
  CHECK(x.append(1, 0, 5, 5) == status::ok);
}

TEST_CASE("epochs after a marker are not the index's: the producer state must record the marker epoch") {
  // Kafka's appendEndTxnMarker raises the producer's stored epoch, so a zombie still at the old
  // epoch is refused at the partition. txn_index keeps no state for producers without an open
  // transaction: this check belongs to the partition's producer state, sequence_table, which
  // record_marker raises (as examples/exactly_once_pipeline does).
  index_t x;
  REQUIRE(x.append(1, 3, 0, 0) == status::ok);
  REQUIRE(x.marker(1, 4, 1, abort_) == status::ok);  // the coordinator's fencing abort
  CHECK(x.check_append(1, 3, 2, 2) == status::ok);   // the index alone cannot refuse it
  offseq::sequence_table<4> producers;
  REQUIRE(producers.admit(offseq::batch_header{1, 3, 0, 0}, 0, 0).code == status::ok);
  REQUIRE(producers.record_marker(1, 4, 1) == status::ok);
  CHECK(producers.check(offseq::batch_header{1, 3, 1, 1}).code == status::fenced);  // the zombie
  CHECK(producers.check(offseq::batch_header{1, 4, 0, 0}).code == status::ok);      // the new instance
}

TEST_CASE("capacity: a full open table is table_full and changes nothing") {
  offseq::txn_index<2, 4> x;
  REQUIRE(x.append(1, 0, 0, 0) == status::ok);
  REQUIRE(x.append(2, 0, 1, 1) == status::ok);
  const auto before = dump(x);
  CHECK(x.check_append(3, 0, 2, 2) == status::table_full);
  CHECK(x.append(3, 0, 2, 2) == status::table_full);
  CHECK(dump(x) == before);
  CHECK(x.append(1, 0, 2, 2) == status::ok);  // an open producer still appends
  // A completed transaction keeps its slot until the HW passes its marker.
  REQUIRE(x.marker(1, 0, 3, commit) == status::ok);
  CHECK(x.append(3, 0, 4, 4) == status::table_full);
  REQUIRE(x.set_high_watermark(4) == status::ok);
  CHECK(x.append(3, 0, 4, 4) == status::ok);
  CHECK(x.open_count() == 2);
}

TEST_CASE("capacity: a full aborted table refuses an abort marker until set_log_start frees entries") {
  offseq::txn_index<2, 2> x;
  for (std::int64_t i = 0; i < 2; ++i) {
    REQUIRE(x.append(i, 0, 2 * i, 2 * i) == status::ok);
    REQUIRE(x.marker(i, 0, 2 * i + 1, abort_) == status::ok);
  }
  REQUIRE(x.set_high_watermark(4) == status::ok);  // frees both open slots
  REQUIRE(x.append(5, 0, 4, 4) == status::ok);
  REQUIRE(x.set_high_watermark(5) == status::ok);
  const auto before = dump(x);
  CHECK(x.check_marker(5, 0, 5, abort_) == status::table_full);
  CHECK(x.marker(5, 0, 5, abort_) == status::table_full);
  CHECK(dump(x) == before);
  CHECK(x.open_first_offset(5) == 4);  // still open: the LSO still waits for it
  CHECK(x.last_stable_offset() == 4);
  CHECK(x.check_marker(5, 0, 5, commit) == status::ok);  // a commit needs no aborted slot
  REQUIRE(x.set_log_start(2) == status::ok);             // drops (0, 0, 1)
  CHECK(x.aborted_count() == 1);
  REQUIRE(x.marker(5, 0, 5, abort_) == status::ok);
  const auto a = aborted_in(x, 0, 6);
  REQUIRE(a.size() == 2);
  CHECK(same(a[0], 1, 2, 3));
  CHECK(same(a[1], 5, 4, 5));  // ring wrapped: still in marker order
}

TEST_CASE("set_log_start drops aborted entries that end below it, keeps those that straddle it") {
  index_t x;
  REQUIRE(x.append(1, 0, 0, 0) == status::ok);
  REQUIRE(x.append(2, 0, 1, 1) == status::ok);
  REQUIRE(x.marker(1, 0, 2, abort_) == status::ok);
  REQUIRE(x.append(3, 0, 3, 3) == status::ok);
  REQUIRE(x.marker(3, 0, 4, abort_) == status::ok);
  REQUIRE(x.marker(2, 0, 5, abort_) == status::ok);  // (2, 1, 5) straddles 4
  REQUIRE(x.set_high_watermark(6) == status::ok);
  REQUIRE(x.set_log_start(4) == status::ok);
  const auto a = aborted_in(x, 0, 6);
  REQUIRE(a.size() == 2);
  CHECK(same(a[0], 3, 3, 4));
  CHECK(same(a[1], 2, 1, 5));
  CHECK(x.should_skip(2, 4));
  CHECK(x.set_log_start(4) == status::stale);
  CHECK(x.set_log_start(3) == status::stale);
  CHECK(x.set_log_start(7) == status::invalid_argument);  // above the HW
  CHECK(x.set_log_start(-1) == status::invalid_argument);
  // An open transaction that started below the log start: LSO is clamped to the log start.
  REQUIRE(x.append(8, 0, 6, 6) == status::ok);
  REQUIRE(x.set_high_watermark(10) == status::ok);
  REQUIRE(x.set_log_start(8) == status::ok);
  CHECK(x.last_stable_offset() == 8);
}

TEST_CASE("bad input is invalid_argument and changes nothing") {
  index_t x;
  REQUIRE(x.append(1, 0, 10, 12) == status::ok);
  REQUIRE(x.set_high_watermark(11) == status::ok);
  const auto before = dump(x);
  const std::int64_t max = index_t::max_offset;
  CHECK(x.append(-1, 0, 13, 13) == status::invalid_argument);
  CHECK(x.append(2, -1, 13, 13) == status::invalid_argument);
  CHECK(x.append(2, 0, 12, 13) == status::invalid_argument);   // below log_end
  CHECK(x.append(2, 0, 14, 13) == status::invalid_argument);   // last < first
  CHECK(x.append(2, 0, 13, max + 1) == status::invalid_argument);
  CHECK(x.append(1, 0, -5, 13) == status::invalid_argument);
  CHECK(x.marker(-1, 0, 13, commit) == status::invalid_argument);
  CHECK(x.marker(1, -1, 13, commit) == status::invalid_argument);
  CHECK(x.marker(1, 0, 12, commit) == status::invalid_argument);  // below log_end
  CHECK(x.marker(1, 0, max + 1, abort_) == status::invalid_argument);
  CHECK(x.set_high_watermark(-1) == status::invalid_argument);
  CHECK(x.set_high_watermark(10) == status::stale);
  CHECK(x.set_high_watermark(11) == status::stale);
  CHECK(x.set_log_start(12) == status::invalid_argument);
  CHECK(x.open_first_offset(-1) == -1);
  CHECK(dump(x) == before);
  // The largest offsets are usable up to max_offset.
  CHECK(x.append(2, 0, max - 1, max - 1) == status::ok);
  CHECK(x.marker(2, 0, max, abort_) == status::ok);
  CHECK(x.log_end() == max + 1);
  CHECK(x.set_high_watermark(max + 1) == status::ok);
  CHECK(x.set_high_watermark(INT64_MAX) == status::stale);
}

TEST_CASE("snapshot: for_each_open / for_each_aborted restore to an identical index") {
  offseq::txn_index<3, 3> x;
  // Wrap the aborted ring and leave one open, one awaiting the HW.
  for (std::int64_t i = 0; i < 4; ++i) {
    REQUIRE(x.append(i, 0, 3 * i, 3 * i + 1) == status::ok);
    REQUIRE(x.marker(i, 0, 3 * i + 2, abort_) == status::ok);
    REQUIRE(x.set_high_watermark(3 * i + 3) == status::ok);
    if (i == 1) REQUIRE(x.set_log_start(6) == status::ok);
  }
  REQUIRE(x.append(7, 2, 12, 12) == status::ok);
  REQUIRE(x.append(8, 1, 13, 13) == status::ok);
  REQUIRE(x.marker(8, 1, 14, commit) == status::ok);
  const state s = dump(x);
  REQUIRE(s.aborted.size() == 2);
  REQUIRE(s.open.size() == 2);

  offseq::txn_index<3, 3> y;
  REQUIRE(y.append(99, 0, 0, 0) == status::ok);  // junk that restore_offsets must clear
  REQUIRE(y.restore_offsets(x.log_start(), x.high_watermark(), x.log_end()) == status::ok);
  CHECK(y.open_count() == 0);
  x.for_each_open([&](const open_txn& e) { CHECK(y.restore_open(e) == status::ok); });
  x.for_each_aborted([&](const aborted_txn& a) { CHECK(y.restore_aborted(a) == status::ok); });
  CHECK(dump(y) == s);
  CHECK(y.should_skip(2, 7));
  CHECK(y.open_first_offset(7) == 12);
  CHECK(y.append(7, 1, 15, 15) == status::fenced);  // the epoch came back too
}

TEST_CASE("snapshot: restore validates every entry") {
  offseq::txn_index<1, 1> y;
  CHECK(y.restore_offsets(-1, 0, 0) == status::invalid_argument);
  CHECK(y.restore_offsets(5, 4, 10) == status::invalid_argument);
  CHECK(y.restore_offsets(0, 11, 10) == status::invalid_argument);
  REQUIRE(y.restore_offsets(2, 5, 10) == status::ok);
  const auto before = dump(y);
  CHECK(y.restore_open(open_txn{-1, 0, -1, 0}) == status::invalid_argument);
  CHECK(y.restore_open(open_txn{1, 0, -1, -1}) == status::invalid_argument);
  CHECK(y.restore_open(open_txn{1, 10, -1, 0}) == status::invalid_argument);  // first >= log_end
  CHECK(y.restore_open(open_txn{1, 3, 4, 0}) == status::invalid_argument);    // marker below HW
  CHECK(y.restore_open(open_txn{1, 6, 6, 0}) == status::invalid_argument);    // marker <= first
  CHECK(y.restore_open(open_txn{1, 6, 10, 0}) == status::invalid_argument);   // marker >= log_end
  CHECK(y.restore_open(open_txn{1, 6, -2, 0}) == status::invalid_argument);
  CHECK(y.restore_aborted(aborted_txn{-1, 0, 3}) == status::invalid_argument);
  CHECK(y.restore_aborted(aborted_txn{1, 3, 3}) == status::invalid_argument);
  CHECK(y.restore_aborted(aborted_txn{1, 0, 1}) == status::invalid_argument);   // below log start
  CHECK(y.restore_aborted(aborted_txn{1, 0, 10}) == status::invalid_argument);  // at log_end
  CHECK(dump(y) == before);
  CHECK(y.restore_open(open_txn{1, 3, -1, 0}) == status::ok);
  CHECK(y.restore_open(open_txn{2, 3, -1, 0}) == status::table_full);
  CHECK(y.restore_aborted(aborted_txn{1, 0, 4}) == status::ok);
  CHECK(y.restore_aborted(aborted_txn{2, 0, 6}) == status::table_full);
  offseq::txn_index<2, 2> z;
  REQUIRE(z.restore_offsets(0, 0, 10) == status::ok);
  CHECK(z.restore_open(open_txn{1, 3, -1, 0}) == status::ok);
  CHECK(z.restore_open(open_txn{1, 4, -1, 0}) == status::invalid_argument);  // two open for one id
  CHECK(z.restore_open(open_txn{1, 1, 2, 0}) == status::ok);                 // its completed one
  CHECK(z.restore_aborted(aborted_txn{1, 0, 5}) == status::ok);
  CHECK(z.restore_aborted(aborted_txn{2, 0, 5}) == status::invalid_argument);  // not increasing
}

TEST_CASE("a static txn_index is constant-initialized and trivially copyable") {
  static constexpr offseq::txn_index<2, 2> c{};
  static_assert(c.last_stable_offset() == 0, "constexpr");
  static_assert(c.open_first_offset(0) == -1, "constexpr: slots start free");
  static_assert(std::is_trivially_copyable<offseq::txn_index<2, 2>>::value, "retained RAM");
  static_assert(sizeof(offseq::txn_index<4, 16>) == 32 * 4 + 24 * 16 + 32, "sizeof formula");
  CHECK(c.open_count() == 0);
}

// ------------------------------------------------------------------------------ randomized

namespace {
// Reference model: maps and vectors, written from the rules, not from the implementation.
struct model {
  static constexpr std::size_t O = 3, A = 4;
  struct open_m { std::int64_t first; std::int16_t epoch; int txn; };
  struct done_m { std::int64_t pid, first, marker; std::int16_t epoch; };
  std::map<std::int64_t, open_m> open;
  std::vector<done_m> done;                  // marker written, not yet below the HW
  std::vector<aborted_txn> aborted;          // marker order
  std::int64_t log_start = 0, hw = 0, log_end = 0;

  status append(std::int64_t pid, std::int16_t epoch, std::int64_t first, std::int64_t last, int txn) {
    if (pid < 0 || epoch < 0 || first < log_end || last < first) return status::invalid_argument;
    auto it = open.find(pid);
    if (it != open.end()) {
      if (epoch < it->second.epoch) return status::fenced;
      it->second.epoch = std::max(it->second.epoch, epoch);
    } else {
      if (open.size() + done.size() >= O) return status::table_full;
      open[pid] = open_m{first, epoch, txn};
    }
    log_end = last + 1;
    return status::ok;
  }
  status marker(std::int64_t pid, std::int16_t epoch, std::int64_t off, bool is_commit, int* txn) {
    *txn = -1;
    if (pid < 0 || epoch < 0 || off < log_end) return status::invalid_argument;
    auto it = open.find(pid);
    if (it != open.end()) {
      if (epoch < it->second.epoch) return status::fenced;
      if (!is_commit && aborted.size() == A) return status::table_full;
      if (!is_commit) aborted.push_back(aborted_txn{pid, it->second.first, off});
      done.push_back(done_m{pid, it->second.first, off, it->second.epoch});
      *txn = it->second.txn;
      open.erase(it);
    }
    log_end = off + 1;
    return status::ok;
  }
  status set_hw(std::int64_t h) {
    if (h < 0) return status::invalid_argument;
    if (h <= hw) return status::stale;
    hw = h;
    log_end = std::max(log_end, h);
    done.erase(std::remove_if(done.begin(), done.end(), [&](const done_m& d) { return d.marker < h; }), done.end());
    return status::ok;
  }
  status set_log_start(std::int64_t s) {
    if (s < 0 || s > hw) return status::invalid_argument;
    if (s <= log_start) return status::stale;
    log_start = s;
    aborted.erase(std::remove_if(aborted.begin(), aborted.end(), [&](const aborted_txn& a) { return a.last_offset < s; }),
                  aborted.end());
    return status::ok;
  }
  std::int64_t lso() const {
    std::int64_t first_unstable = INT64_MAX;
    for (auto& kv : open) first_unstable = std::min(first_unstable, kv.second.first);
    for (auto& d : done) first_unstable = std::min(first_unstable, d.first);
    first_unstable = std::max(first_unstable, log_start);
    return first_unstable < hw ? first_unstable : hw;
  }
  state as_state() const {
    state s{log_start, hw, log_end, lso(), {}, {}};
    for (auto& kv : open) s.open.emplace_back(kv.first, kv.second.first, -1, kv.second.epoch);
    for (auto& d : done) s.open.emplace_back(d.pid, d.first, d.marker, d.epoch);
    std::sort(s.open.begin(), s.open.end());
    for (auto& a : aborted) s.aborted.emplace_back(a.producer_id, a.first_offset, a.last_offset);
    return s;
  }
};
}  // namespace

TEST_CASE("randomized: txn_index against a reference model, and a read_committed reader against the truth") {
  std::mt19937_64 rng(0x7e1d5eedULL);
  auto pick = [&](std::int64_t lo, std::int64_t hi) {  // inclusive
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  int statuses[16] = {};
  std::size_t delivered_total = 0, restores = 0;
  for (int round = 0; round < 40; ++round) {
    offseq::txn_index<model::O, model::A> x;
    model m;
    std::vector<record> log;
    std::map<int, int> outcome;  // txn number -> 0 open, 1 committed, 2 aborted
    int next_txn = 0;
    std::int64_t next = 0;  // the simulated log's end (>= the index's log_end)
    for (int step = 0; step < 400; ++step) {
      const int op = static_cast<int>(pick(0, 99));
      const std::int64_t pid = pick(0, 4) - (pick(0, 50) == 0 ? 5 : 0);
      const std::int16_t epoch = static_cast<std::int16_t>(pick(0, 2) - (pick(0, 50) == 0 ? 3 : 0));
      const std::int64_t base = std::max(next, m.log_end) + pick(0, 1) - (pick(0, 20) == 0 ? 2 : 0);
      status got, want;
      if (op < 45) {
        const std::int64_t last = base + pick(0, 2) - (pick(0, 30) == 0 ? 4 : 0);
        const int txn = m.open.count(pid) ? m.open[pid].txn : next_txn;
        const status chk = x.check_append(pid, epoch, base, last);
        got = x.append(pid, epoch, base, last);
        CHECK(chk == got);
        want = m.append(pid, epoch, base, last, txn);
        if (want == status::ok) {
          if (txn == next_txn) outcome[next_txn++] = 0;
          for (std::int64_t o = base; o <= last; ++o) log.push_back({o, pid, 0, txn});
          next = last + 1;
        }
      } else if (op < 55) {  // a non-transactional batch: the index is not told
        if (base < next) continue;
        log.push_back({base, -1, 0, -1});
        next = base + 1;
        continue;
      } else if (op < 75) {
        const bool is_commit = pick(0, 1) == 1;
        int txn = -1;
        const status chk = x.check_marker(pid, epoch, base, is_commit);
        got = x.marker(pid, epoch, base, is_commit);
        CHECK(chk == got);
        want = m.marker(pid, epoch, base, is_commit, &txn);
        if (want == status::ok) {
          if (txn >= 0) outcome[txn] = is_commit ? 1 : 2;
          log.push_back({base, pid, is_commit ? 1 : 2, -1});
          next = base + 1;
        }
      } else if (op < 92) {
        const std::int64_t h = pick(m.hw - 1, std::max(next, m.log_end) + 1);
        got = x.set_high_watermark(h);
        want = m.set_hw(h);
        if (want == status::ok) next = std::max(next, h);
      } else {
        const std::int64_t s = pick(m.log_start - 1, m.hw + 1);
        got = x.set_log_start(s);
        want = m.set_log_start(s);
      }
      REQUIRE(got == want);
      ++statuses[static_cast<int>(got)];
      REQUIRE(dump(x) == m.as_state());

      // Now and then: a reboot through the snapshot; the run continues on the restored copy.
      if (step % 37 == 36) {
        offseq::txn_index<model::O, model::A> y;
        REQUIRE(y.restore_offsets(x.log_start(), x.high_watermark(), x.log_end()) == status::ok);
        x.for_each_open([&](const open_txn& e) { REQUIRE(y.restore_open(e) == status::ok); });
        x.for_each_aborted([&](const aborted_txn& a) { REQUIRE(y.restore_aborted(a) == status::ok); });
        REQUIRE(dump(y) == dump(x));
        x = y;
        ++restores;
      }

      // Queries on a random range and offset.
      const std::int64_t from = pick(0, next + 1), end = from + pick(0, 6);
      std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>> want_ab, got_ab;
      for (auto& a : m.aborted)
        if (from < end && a.last_offset >= from && a.first_offset < end) want_ab.emplace_back(a.producer_id, a.first_offset, a.last_offset);
      for (auto& a : aborted_in(x, from, end)) got_ab.emplace_back(a.producer_id, a.first_offset, a.last_offset);
      CHECK(got_ab == want_ab);
      const std::int64_t qp = pick(0, 4), qo = pick(0, next);
      bool want_skip = false;
      for (auto& a : m.aborted) want_skip |= a.producer_id == qp && a.first_offset <= qo && qo <= a.last_offset;
      CHECK(x.should_skip(qp, qo) == want_skip);

      // The reader: below the LSO it sees exactly the committed and non-transactional records.
      if (step % 20 == 19) {
        std::vector<std::int64_t> truth;
        const std::int64_t lso = x.last_stable_offset();
        for (const record& r : log) {
          if (r.offset < m.log_start || r.offset >= lso || r.control != 0) continue;
          if (r.pid >= 0) {
            REQUIRE(outcome[r.txn] != 0);  // nothing below the LSO is undecided
            if (outcome[r.txn] != 1) continue;
          }
          truth.push_back(r.offset);
        }
        const auto got_read = read_committed(x, log, m.log_start);
        CHECK(got_read == truth);
        delivered_total += got_read.size();
      }
    }
  }
  // The run covered every outcome it is meant to.
  CHECK(statuses[static_cast<int>(status::ok)] > 1000);
  CHECK(statuses[static_cast<int>(status::table_full)] > 20);
  CHECK(statuses[static_cast<int>(status::fenced)] > 20);
  CHECK(statuses[static_cast<int>(status::invalid_argument)] > 20);
  CHECK(statuses[static_cast<int>(status::stale)] > 20);
  CHECK(delivered_total > 100);
  CHECK(restores > 100);
}
