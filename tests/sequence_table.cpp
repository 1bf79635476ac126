// Sequence table: SEMANTICS.md §2 and the CONTRACT.md rules, one test case per rule, plus
// wraparound, colliding ids, the journal API and a randomized run against a reference model.
#include <doctest/doctest.h>

#include <offseq.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <random>
#include <tuple>
#include <vector>

using offseq::batch_header;
using offseq::status;
using offseq::verdict;

namespace {
constexpr std::int32_t max_seq = std::numeric_limits<std::int32_t>::max();

using table = offseq::sequence_table<8>;  // History 5, lenient

// Every producer's state, in id order, for "nothing changed" comparisons.
struct dumped_producer {
  std::int16_t epoch;
  std::uint64_t last_seen_ms;
  std::vector<std::tuple<std::int32_t, std::int32_t, std::int64_t>> batches;  // oldest first
  bool operator==(const dumped_producer& o) const {
    return epoch == o.epoch && last_seen_ms == o.last_seen_ms && batches == o.batches;
  }
};
template <class T>
std::map<std::int64_t, dumped_producer> dump(const T& t) {
  std::map<std::int64_t, dumped_producer> out;
  t.for_each_producer([&](const typename T::producer_snapshot& s) {
    dumped_producer d{s.epoch, s.last_seen_ms, {}};
    for (std::size_t k = 0; k < s.count; ++k)
      d.batches.emplace_back(s.batches[k].first_seq, s.batches[k].last_seq, s.batches[k].base_offset);
    CHECK(out.count(s.producer_id) == 0);  // each producer visited once
    out[s.producer_id] = d;
  });
  return out;
}

batch_header bh(std::int64_t pid, std::int16_t epoch, std::int32_t first, std::int32_t last) {
  return batch_header{pid, epoch, first, last};
}

// Ids whose probes start at the same index word, found by search (the hash is the table's).
template <class T>
std::vector<std::int64_t> colliding_ids(std::size_t n, std::int64_t start = 1000) {
  std::map<std::size_t, std::vector<std::int64_t>> by_home;
  for (std::int64_t id = start;; ++id) {
    auto& v = by_home[T::home_slot(id)];
    v.push_back(id);
    if (v.size() == n) return v;
  }
}
}  // namespace

TEST_CASE("§2.1 negative producer id, epoch, first_seq, last_seq or offset is invalid_argument and changes nothing") {
  table t;
  REQUIRE(t.admit(bh(1, 0, 0, 4), 0, 10).code == status::ok);
  const auto before = dump(t);
  const batch_header bad[] = {bh(-1, 0, 5, 5), bh(1, -1, 5, 5), bh(1, 0, -1, 5), bh(1, 0, 5, -1),
                              bh(std::numeric_limits<std::int64_t>::min(), 0, 0, 0), bh(2, std::numeric_limits<std::int16_t>::min(), 0, 0)};
  for (const auto& b : bad) {
    CHECK(t.check(b).code == status::invalid_argument);
    CHECK(t.record(b, 5, 20) == status::invalid_argument);
    const verdict v = t.admit(b, 5, 20);
    CHECK(v.code == status::invalid_argument);
    CHECK(v.offset == -1);
  }
  // A valid batch with a negative offset: record/admit refuse it.
  CHECK(t.record(bh(1, 0, 5, 5), -1, 20) == status::invalid_argument);
  CHECK(t.admit(bh(1, 0, 5, 5), -7, 20).code == status::invalid_argument);
  CHECK(t.admit(bh(3, 0, 0, 0), -1, 20).code == status::invalid_argument);
  CHECK(dump(t) == before);
  CHECK(t.size() == 1);
  table::producer_snapshot s{};
  CHECK(t.find(-1, s) == status::invalid_argument);
  CHECK(t.erase(-1) == status::invalid_argument);
}

TEST_CASE("§2.1 any non-negative pair is a range: last_seq < first_seq is a batch across the wrap") {
  table t;
  CHECK(t.admit(bh(1, 0, max_seq - 1, 1), 0, 1).code == status::ok);  // MAX-1, MAX, 0, 1
  verdict v = t.check(bh(1, 0, 2, 2));
  CHECK(v.code == status::ok);
  v = t.check(bh(1, 0, 3, 3));
  CHECK(v.code == status::out_of_order);
  CHECK(v.expected_seq == 2);
  // A one-record batch is first == last; a batch of 2^31 records is last == first - 1.
  CHECK(t.admit(bh(2, 0, 7, 6), 0, 1).code == status::ok);
  CHECK(t.check(bh(2, 0, 7, 7)).code == status::ok);
}

TEST_CASE("§2.2 unknown producer: ok for any first_seq (Kafka since KIP-360)") {
  table t;
  for (std::int32_t first : {0, 1, 12345, max_seq}) {
    const std::int64_t pid = 100 + first % 7;
    t.clear();
    const verdict v = t.check(bh(pid, 3, first, first));
    CHECK(v.code == status::ok);
    CHECK(v.offset == -1);
    CHECK(v.expected_seq == -1);
    CHECK(t.size() == 0);  // check is pure
    CHECK(t.admit(bh(pid, 3, first, first), 9, 1).code == status::ok);
    CHECK(t.size() == 1);
    CHECK(t.check(bh(pid, 3, offseq::sequence_add(first, 1), offseq::sequence_add(first, 1))).code == status::ok);
  }
}

TEST_CASE("§2.2 strict: a new producer must start at sequence 0, unknown_producer otherwise") {
  offseq::sequence_table<4, 5, true> t;
  static_assert(decltype(t)::strict, "strict option");
  verdict v = t.admit(bh(1, 0, 5, 9), 0, 1);
  CHECK(v.code == status::unknown_producer);
  CHECK(v.expected_seq == 0);
  CHECK(t.size() == 0);
  CHECK(t.record(bh(1, 0, 1, 1), 0, 1) == status::unknown_producer);
  CHECK(t.admit(bh(1, 0, 0, 4), 0, 1).code == status::ok);
  CHECK(t.admit(bh(1, 0, 5, 9), 5, 1).code == status::ok);
  // Once known, the usual rules apply (no restart at 0 needed).
  CHECK(t.admit(bh(1, 0, 0, 4), 0, 1).code == status::duplicate);
  v = t.admit(bh(1, 0, 0, 0), 0, 1);  // not a retained batch: out of order
  CHECK(v.code == status::out_of_order);
  CHECK(v.expected_seq == 10);
  // After expiry the producer is unknown again and must restart at 0.
  CHECK(t.expire(100, 10) == 1);
  CHECK(t.check(bh(1, 0, 10, 10)).code == status::unknown_producer);
  CHECK(t.check(bh(1, 0, 0, 0)).code == status::ok);
  // Strict unknown_producer is decided before table_full.
  offseq::sequence_table<1, 5, true> one;
  CHECK(one.admit(bh(1, 0, 0, 0), 0, 1).code == status::ok);
  CHECK(one.check(bh(2, 0, 3, 3)).code == status::unknown_producer);
  CHECK(one.check(bh(2, 0, 0, 0)).code == status::table_full);
}

TEST_CASE("§2.3 an epoch below the stored one is fenced and changes nothing") {
  table t;
  REQUIRE(t.admit(bh(1, 4, 0, 2), 0, 1).code == status::ok);
  const auto before = dump(t);
  for (int ei : {0, 3}) {
    const auto e = static_cast<std::int16_t>(ei);
    // Even a batch that would otherwise be a duplicate or in sequence.
    for (auto b : {bh(1, e, 0, 2), bh(1, e, 3, 3), bh(1, e, 0, 0)}) {
      const verdict v = t.admit(b, 10, 99);
      CHECK(v.code == status::fenced);
      CHECK(v.offset == -1);
      CHECK(t.record(b, 10, 99) == status::fenced);
    }
  }
  CHECK(dump(t) == before);
}

TEST_CASE("§2.4 a higher epoch is accepted only at sequence 0 and clears the history") {
  table t;
  REQUIRE(t.admit(bh(1, 0, 0, 4), 0, 1).code == status::ok);
  REQUIRE(t.admit(bh(1, 0, 5, 9), 5, 2).code == status::ok);
  verdict v = t.admit(bh(1, 1, 10, 10), 10, 3);  // bump without restarting at 0
  CHECK(v.code == status::out_of_order);
  CHECK(v.expected_seq == 0);
  v = t.admit(bh(1, 1, 0, 4), 0, 3);  // same range as a retained batch of epoch 0: not a duplicate
  CHECK(v.code == status::ok);
  table::producer_snapshot s{};
  REQUIRE(t.find(1, s) == status::ok);
  CHECK(s.epoch == 1);
  CHECK(s.count == 1);  // history cleared, then the new batch
  CHECK(s.batches[0].first_seq == 0);
  CHECK(s.batches[0].base_offset == 0);
  // Old epoch batches are now fenced, including retries of what was accepted under epoch 0.
  CHECK(t.check(bh(1, 0, 5, 9)).code == status::fenced);
  CHECK(t.check(bh(1, 1, 5, 5)).code == status::ok);
  // An epoch jump by more than one is fine too.
  CHECK(t.admit(bh(1, 7, 0, 0), 20, 4).code == status::ok);
  CHECK(t.check(bh(1, 6, 1, 1)).code == status::fenced);
}

TEST_CASE("markers: an older epoch is fenced, a newer one clears the history so a zombie is refused") {
  table t;
  REQUIRE(t.admit(bh(1, 3, 0, 4), 0, 1).code == status::ok);
  REQUIRE(t.admit(bh(1, 3, 5, 9), 5, 2).code == status::ok);
  auto before = dump(t);
  CHECK(t.check_marker(1, 2) == status::fenced);
  CHECK(t.record_marker(1, 2, 50) == status::fenced);
  CHECK(dump(t) == before);
  // A commit marker at the same epoch: the sequence goes on across transactions.
  CHECK(t.check_marker(1, 3) == status::ok);
  REQUIRE(t.record_marker(1, 3, 10) == status::ok);
  CHECK(t.check(bh(1, 3, 10, 12)).code == status::ok);
  CHECK(t.check(bh(1, 3, 5, 9)).code == status::duplicate);
  table::producer_snapshot s{};
  REQUIRE(t.find(1, s) == status::ok);
  CHECK(s.last_seen_ms == 10);  // a marker is activity
  CHECK(s.count == 2);
  // The coordinator's fencing abort (epoch 4): the zombie at epoch 3 is fenced, even for the
  // next batch in its sequence, and its retries are no longer duplicates.
  REQUIRE(t.record_marker(1, 4, 11) == status::ok);
  CHECK(t.check(bh(1, 3, 10, 12)).code == status::fenced);
  CHECK(t.admit(bh(1, 3, 5, 9), 20, 12).code == status::fenced);
  REQUIRE(t.find(1, s) == status::ok);
  CHECK(s.epoch == 4);
  CHECK(s.count == 0);
  // The new instance at epoch 4 starts at 0; anything else is out_of_order, expected 0.
  const verdict v = t.check(bh(1, 4, 10, 12));
  CHECK(v.code == status::out_of_order);
  CHECK(v.expected_seq == 0);
  CHECK(t.admit(bh(1, 4, 0, 1), 20, 12).code == status::ok);
  CHECK(t.admit(bh(1, 4, 2, 2), 22, 12).code == status::ok);
  // A marker never makes a producer look older.
  REQUIRE(t.record_marker(1, 4, 5) == status::ok);
  REQUIRE(t.find(1, s) == status::ok);
  CHECK(s.last_seen_ms == 12);
  CHECK(s.count == 2);
}

TEST_CASE("markers: an unknown producer is added with the marker's epoch; bad input changes nothing") {
  offseq::sequence_table<2> t;
  REQUIRE(t.admit(bh(1, 0, 7, 7), 0, 1).code == status::ok);
  const auto before = dump(t);
  CHECK(t.check_marker(-1, 0) == status::invalid_argument);
  CHECK(t.record_marker(-1, 0, 5) == status::invalid_argument);
  CHECK(t.check_marker(1, -1) == status::invalid_argument);
  CHECK(t.record_marker(1, -1, 5) == status::invalid_argument);
  CHECK(dump(t) == before);
  CHECK(t.check_marker(9, 2) == status::ok);
  REQUIRE(t.record_marker(9, 2, 5) == status::ok);
  CHECK(t.size() == 2);
  CHECK(t.check(bh(9, 1, 0, 0)).code == status::fenced);  // a zombie the marker fenced
  CHECK(t.check(bh(9, 2, 3, 3)).code == status::out_of_order);
  CHECK(t.check(bh(9, 2, 0, 3)).code == status::ok);
  // Full: a marker for a third producer is table_full and changes nothing; known ones still work.
  const auto full = dump(t);
  CHECK(t.check_marker(10, 0) == status::table_full);
  CHECK(t.record_marker(10, 0, 6) == status::table_full);
  CHECK(dump(t) == full);
  CHECK(t.record_marker(1, 0, 6) == status::ok);
}

TEST_CASE("§2.5 before §2.6: retained batches that cover all 2^31 sequences make the next batch a duplicate") {
  // The in-sequence shortcut must not skip the duplicate search when the retained batches wrap
  // the whole sequence space (absurd batch sizes, but any non-negative pair is a batch).
  table t;
  REQUIRE(t.admit(bh(1, 0, 5, 4), 100, 1).code == status::ok);  // 2^31 records: 5 .. INT32_MAX, 0 .. 4
  verdict v = t.admit(bh(1, 0, 5, 4), 200, 2);                  // starts at next_seq (5) and equals it
  CHECK(v.code == status::duplicate);
  CHECK(v.offset == 100);
  CHECK(t.admit(bh(1, 0, 5, 9), 300, 3).code == status::ok);  // in sequence, not a duplicate
  // Four quarter-circle batches: the next one starts where the oldest did.
  constexpr std::int32_t q = 1 << 29;
  REQUIRE(t.admit(bh(2, 0, 0, q - 1), 0, 1).code == status::ok);
  REQUIRE(t.admit(bh(2, 0, q, 2 * q - 1), 10, 1).code == status::ok);
  REQUIRE(t.admit(bh(2, 0, 2 * q, 3 * q - 1), 20, 1).code == status::ok);
  REQUIRE(t.admit(bh(2, 0, 3 * q, max_seq), 30, 1).code == status::ok);
  v = t.check(bh(2, 0, 0, q - 1));
  CHECK(v.code == status::duplicate);
  CHECK(v.offset == 0);
  CHECK(t.check(bh(2, 0, 0, 7)).code == status::ok);
  // The same after a snapshot round trip.
  table copy;
  t.for_each_producer([&](const table::producer_snapshot& snap) { REQUIRE(copy.restore_producer(snap) == status::ok); });
  CHECK(copy.check(bh(2, 0, 0, q - 1)).code == status::duplicate);
  CHECK(copy.check(bh(1, 0, 5, 9)).code == status::duplicate);
  // A new epoch starts over: ordinary batches take the shortcut again and behave the same.
  REQUIRE(t.admit(bh(2, 1, 0, 9), 40, 2).code == status::ok);
  CHECK(t.admit(bh(2, 1, 10, 19), 50, 2).code == status::ok);
  CHECK(t.admit(bh(2, 1, 10, 19), 60, 2).code == status::duplicate);
}

TEST_CASE("§2.5 duplicate of each of the last History batches; a miss on the one before") {
  offseq::sequence_table<4, 5> t;
  std::int32_t seq = max_seq - 7;  // the batches also cross the wrap
  std::vector<std::pair<batch_header, std::int64_t>> sent;
  std::int64_t offset = 1000;
  for (int i = 0; i < 8; ++i) {
    const std::int32_t count = 1 + i % 3;
    const batch_header b = bh(42, 2, seq, offseq::sequence_add(seq, count - 1));
    REQUIRE(t.admit(b, offset, static_cast<std::uint64_t>(i)).code == status::ok);
    sent.emplace_back(b, offset);
    offset += count;
    seq = offseq::sequence_add(seq, count);
  }
  const auto before = dump(t);
  for (std::size_t i = sent.size() - 5; i < sent.size(); ++i) {
    const verdict v = t.admit(sent[i].first, 99999, 500);
    CHECK(v.code == status::duplicate);
    CHECK(v.offset == sent[i].second);
    CHECK(t.record(sent[i].first, 99999, 500) == status::duplicate);
  }
  CHECK(dump(t) == before);  // including last_seen: a duplicate is not activity
  const verdict miss = t.check(sent[sent.size() - 6].first);
  CHECK(miss.code == status::out_of_order);
  CHECK(miss.expected_seq == seq);
  // History = 1 keeps one batch only.
  offseq::sequence_table<2, 1> one;
  REQUIRE(one.admit(bh(1, 0, 0, 0), 0, 0).code == status::ok);
  REQUIRE(one.admit(bh(1, 0, 1, 1), 1, 0).code == status::ok);
  CHECK(one.check(bh(1, 0, 1, 1)).code == status::duplicate);
  CHECK(one.check(bh(1, 0, 0, 0)).code == status::out_of_order);
}

TEST_CASE("§2.6 the next sequence is ok, and 0 follows INT32_MAX") {
  table t;
  REQUIRE(t.admit(bh(1, 0, 10, 19), 0, 1).code == status::ok);
  CHECK(t.admit(bh(1, 0, 20, 20), 10, 1).code == status::ok);
  CHECK(t.admit(bh(1, 0, 21, 30), 11, 1).code == status::ok);
  // At the wrap: a batch ending exactly at INT32_MAX, then 0.
  REQUIRE(t.admit(bh(2, 0, max_seq - 2, max_seq), 0, 1).code == status::ok);
  verdict v = t.check(bh(2, 0, max_seq, max_seq));  // overlap, not next
  CHECK(v.code == status::out_of_order);
  CHECK(v.expected_seq == 0);
  CHECK(t.check(bh(2, 0, max_seq - 2, max_seq)).code == status::duplicate);
  CHECK(t.admit(bh(2, 0, 0, 0), 3, 1).code == status::ok);
  CHECK(t.admit(bh(2, 0, 1, 4), 4, 1).code == status::ok);
  // A single record at INT32_MAX.
  REQUIRE(t.admit(bh(3, 0, max_seq, max_seq), 0, 1).code == status::ok);
  CHECK(t.check(bh(3, 0, 0, 9)).code == status::ok);
  CHECK(t.check(bh(3, 0, 1, 9)).code == status::out_of_order);
  // 2^31 (not 2^32) is the modulus: INT32_MAX + 1 never appears, and MAX - 1 + 3 is 1.
  CHECK(offseq::sequence_add(max_seq - 1, 3) == 1);
  CHECK(offseq::sequence_add(max_seq, max_seq) == max_seq - 1);
  CHECK(offseq::sequence_add(0, max_seq) == max_seq);
}

TEST_CASE("§2.7 gap, partial overlap and a batch older than the retained ones are out_of_order") {
  table t;
  REQUIRE(t.admit(bh(1, 0, 0, 9), 0, 1).code == status::ok);
  REQUIRE(t.admit(bh(1, 0, 10, 19), 10, 1).code == status::ok);
  const auto before = dump(t);
  const batch_header wrong[] = {
      bh(1, 0, 21, 25),  // gap
      bh(1, 0, 15, 24),  // partial overlap with the last batch
      bh(1, 0, 10, 15),  // same first, different last
      bh(1, 0, 12, 19),  // same last, different first
      bh(1, 0, 0, 19),   // spans two retained batches
      bh(1, 0, 5, 9),
      bh(1, 0, max_seq, max_seq),
  };
  for (const auto& b : wrong) {
    const verdict v = t.admit(b, 100, 50);
    CHECK(v.code == status::out_of_order);
    CHECK(v.expected_seq == 20);
    CHECK(v.offset == -1);
    CHECK(t.record(b, 100, 50) == status::out_of_order);
  }
  CHECK(dump(t) == before);
  // Older than every retained batch (History 5, seven accepted).
  for (std::int32_t s = 20; s < 70; s += 10) REQUIRE(t.admit(bh(1, 0, s, s + 9), s, 2).code == status::ok);
  const verdict v = t.check(bh(1, 0, 10, 19));
  CHECK(v.code == status::out_of_order);
  CHECK(v.expected_seq == 70);
  CHECK(t.check(bh(1, 0, 20, 29)).code == status::duplicate);
  // Expected sequence wraps: after INT32_MAX it is 0.
  REQUIRE(t.admit(bh(2, 0, max_seq - 3, max_seq), 0, 1).code == status::ok);
  const verdict w = t.check(bh(2, 0, 1, 1));
  CHECK(w.code == status::out_of_order);
  CHECK(w.expected_seq == 0);
}

TEST_CASE("§2.8 expiry: idle producers are removed, then unknown; a duplicate is not activity") {
  table t;
  REQUIRE(t.admit(bh(1, 0, 0, 0), 0, 1000).code == status::ok);
  REQUIRE(t.admit(bh(2, 0, 0, 0), 1, 1500).code == status::ok);
  CHECK(t.expire(1999, 1000) == 0);      // 999 ms idle < 1000
  CHECK(t.expire(500, 0) == 0);          // now earlier than last_seen: none
  CHECK(t.admit(bh(1, 0, 0, 0), 0, 1900).code == status::duplicate);  // no refresh
  CHECK(t.expire(2000, 1000) == 1);      // 1000 ms idle >= 1000
  CHECK(t.size() == 1);
  table::producer_snapshot s{};
  CHECK(t.find(1, s) == status::not_found);
  CHECK(t.find(2, s) == status::ok);
  // Unknown again: any sequence is accepted (its old retries are no longer deduplicated).
  CHECK(t.check(bh(1, 0, 0, 0)).code == status::ok);
  CHECK(t.check(bh(1, 0, 77, 80)).code == status::ok);
  // Accepted batches are activity; a record at an earlier time never ages a producer.
  CHECK(t.admit(bh(2, 0, 1, 1), 2, 2400).code == status::ok);
  CHECK(t.admit(bh(2, 0, 2, 2), 3, 100).code == status::ok);
  REQUIRE(t.find(2, s) == status::ok);
  CHECK(s.last_seen_ms == 2400);
  CHECK(t.expire(3399, 1000) == 0);
  CHECK(t.expire(3400, 1000) == 1);
  CHECK(t.size() == 0);
  // Kafka default idle (1 day) and idle 0 (everything not in the future).
  REQUIRE(t.admit(bh(5, 0, 0, 0), 0, 0).code == status::ok);
  CHECK(t.expire(86'399'999, 86'400'000) == 0);
  CHECK(t.expire(86'400'000, 86'400'000) == 1);
  REQUIRE(t.admit(bh(5, 0, 0, 0), 0, 10).code == status::ok);
  CHECK(t.expire(10, 0) == 1);
}

TEST_CASE("§2.8 a producer the caller protects (open transaction) never expires") {
  table t;
  for (std::int64_t id = 1; id <= 6; ++id) REQUIRE(t.admit(bh(id, 0, 0, 0), 0, 0).code == status::ok);
  std::vector<std::int64_t> asked;
  const std::size_t n = t.expire(1'000'000, 10, [&](std::int64_t id) {
    asked.push_back(id);
    return id % 2 == 0;  // 2, 4, 6 have open transactions
  });
  CHECK(n == 3);
  CHECK(asked.size() == 6);
  table::producer_snapshot s{};
  for (std::int64_t id = 1; id <= 6; ++id) CHECK((t.find(id, s) == status::ok) == (id % 2 == 0));
  CHECK(t.expire(1'000'000, 10) == 3);
}

TEST_CASE("§2.9 full table: table_full for a new producer, never an eviction") {
  offseq::sequence_table<4> t;
  for (std::int64_t id = 1; id <= 4; ++id) REQUIRE(t.admit(bh(id, 0, 0, 0), id, 0).code == status::ok);
  const auto before = dump(t);
  CHECK(t.check(bh(5, 0, 0, 0)).code == status::table_full);
  CHECK(t.admit(bh(5, 0, 0, 0), 9, 100000).code == status::table_full);
  CHECK(t.record(bh(5, 0, 0, 0), 9, 100000) == status::table_full);
  CHECK(dump(t) == before);
  // Known producers keep working, and their retries are still deduplicated.
  CHECK(t.admit(bh(2, 0, 0, 0), 77, 1).code == status::duplicate);
  CHECK(t.admit(bh(2, 0, 1, 1), 77, 1).code == status::ok);
  // Invalid input is invalid_argument even when full.
  CHECK(t.check(bh(-5, 0, 0, 0)).code == status::invalid_argument);
  // Only expire (or erase) frees a slot.
  CHECK(t.expire(50, 50) == 3);
  CHECK(t.admit(bh(5, 0, 0, 0), 9, 100).code == status::ok);
  CHECK(t.size() == 2);
}

TEST_CASE("§2.10 every retained batch survives a snapshot and restore (Kafka keeps only one)") {
  offseq::sequence_table<8, 5> a, b;
  std::int32_t seq = max_seq - 4;
  for (int i = 0; i < 7; ++i) {
    REQUIRE(a.admit(bh(9, 1, seq, offseq::sequence_add(seq, 1)), 100 + 2 * i, static_cast<std::uint64_t>(i)).code == status::ok);
    seq = offseq::sequence_add(seq, 2);
  }
  REQUIRE(a.admit(bh(3, 0, 5, 5), 7, 9).code == status::ok);
  a.for_each_producer([&](const decltype(a)::producer_snapshot& s) { CHECK(b.restore_producer(s) == status::ok); });
  CHECK(dump(b) == dump(a));
  for (int i = 2; i < 7; ++i) {
    const std::int32_t first = offseq::sequence_add(max_seq - 4, 2 * i);
    const verdict v = b.check(bh(9, 1, first, offseq::sequence_add(first, 1)));
    CHECK(v.code == status::duplicate);
    CHECK(v.offset == 100 + 2 * i);
  }
  CHECK(b.check(bh(9, 1, seq, seq)).code == status::ok);
  CHECK(b.check(bh(3, 0, 6, 6)).code == status::ok);
}

TEST_CASE("wraparound: sequences run through INT32_MAX to 0 and on, in batches of every size") {
  offseq::sequence_table<2, 5> t;
  std::int32_t seq = max_seq - 100;
  std::int64_t offset = 0;
  std::mt19937 rng(3);
  std::vector<std::pair<batch_header, std::int64_t>> last;
  for (int i = 0; i < 200; ++i) {
    const std::int32_t count = static_cast<std::int32_t>(1 + rng() % 4);
    const batch_header b = bh(1, 0, seq, offseq::sequence_add(seq, count - 1));
    REQUIRE(t.admit(b, offset, 0).code == status::ok);
    last.emplace_back(b, offset);
    for (std::size_t k = last.size() >= 5 ? last.size() - 5 : 0; k < last.size(); ++k) {
      const verdict v = t.check(last[k].first);
      CHECK(v.code == status::duplicate);
      CHECK(v.offset == last[k].second);
    }
    offset += count;
    seq = offseq::sequence_add(seq, count);
  }
  CHECK(seq < 1000);  // it wrapped
}

TEST_CASE("contract: check is pure; record equals check + store") {
  table t, u;
  REQUIRE(t.admit(bh(1, 0, 0, 4), 0, 1).code == status::ok);
  REQUIRE(u.record(bh(1, 0, 0, 4), 0, 1) == status::ok);
  const auto before = dump(t);
  for (int i = 0; i < 3; ++i) {
    CHECK(t.check(bh(1, 0, 5, 5)).code == status::ok);
    CHECK(t.check(bh(2, 0, 5, 5)).code == status::ok);
  }
  CHECK(dump(t) == before);
  CHECK(dump(u) == before);
  CHECK(t.size() == 1);
}

TEST_CASE("colliding ids: removal by expire or erase never hides another producer") {
  using small = offseq::sequence_table<16, 2>;
  const std::vector<std::int64_t> ids = colliding_ids<small>(5);
  for (std::int64_t id : ids) REQUIRE(small::home_slot(id) == small::home_slot(ids[0]));
  for (std::size_t victim = 0; victim < ids.size(); ++victim) {
    small t;
    // Some neighbours too, so the collision run meets other runs.
    for (std::int64_t id = 1; id <= 6; ++id) REQUIRE(t.admit(bh(id, 0, 0, 0), 0, 0).code == status::ok);
    for (std::size_t k = 0; k < ids.size(); ++k) {
      const std::uint64_t when = k == victim ? 0 : 1000;
      REQUIRE(t.admit(bh(ids[k], 1, 10, 19), static_cast<std::int64_t>(k) * 10, when).code == status::ok);
    }
    // expire removes the victim (and the neighbours, seen at 0).
    CHECK(t.expire(500, 500) == 7);
    CHECK(t.size() == ids.size() - 1);
    for (std::size_t k = 0; k < ids.size(); ++k) {
      const verdict v = t.check(bh(ids[k], 1, 10, 19));
      if (k == victim) {
        CHECK(v.code == status::ok);  // unknown now
      } else {
        CHECK(v.code == status::duplicate);
        CHECK(v.offset == static_cast<std::int64_t>(k) * 10);
      }
    }
    // erase the others one by one; the rest stay reachable each time.
    std::size_t left = ids.size() - 1;
    for (std::size_t k = 0; k < ids.size(); ++k) {
      if (k == victim) continue;
      CHECK(t.erase(ids[k]) == status::ok);
      CHECK(t.erase(ids[k]) == status::not_found);
      --left;
      CHECK(t.size() == left);
      for (std::size_t j = k + 1; j < ids.size(); ++j)
        if (j != victim) CHECK(t.check(bh(ids[j], 1, 10, 19)).code == status::duplicate);
    }
    // Reinsert: the slots are reusable.
    for (std::int64_t id : ids) CHECK(t.admit(bh(id, 0, 0, 0), 0, 0).code == status::ok);
    CHECK(t.size() == ids.size());
  }
}

TEST_CASE("colliding ids fill the whole table and stay reachable (bounded probe)") {
  using tiny = offseq::sequence_table<6, 1>;
  const std::vector<std::int64_t> ids = colliding_ids<tiny>(6, 1 << 20);
  tiny t;
  for (std::size_t k = 0; k < ids.size(); ++k) REQUIRE(t.admit(bh(ids[k], 0, 0, 0), static_cast<std::int64_t>(k), 0).code == status::ok);
  CHECK(t.check(bh(ids[0] + 1000000, 0, 0, 0)).code == status::table_full);
  for (std::size_t k = 0; k < ids.size(); ++k) CHECK(t.check(bh(ids[k], 0, 0, 0)).offset == static_cast<std::int64_t>(k));
  CHECK(t.erase(ids[2]) == status::ok);
  for (std::size_t k = 0; k < ids.size(); ++k)
    CHECK(t.check(bh(ids[k], 0, 0, 0)).code == (k == 2 ? status::ok : status::duplicate));
}

TEST_CASE("sequential ids spread over the index (the hash does not cluster them)") {
  using big = offseq::sequence_table<1024>;
  std::vector<int> hits(big::index_slots, 0);
  for (std::int64_t id = 0; id < 1024; ++id) ++hits[big::home_slot(id)];
  int max_hits = 0, used = 0;
  for (int h : hits) {
    max_hits = h > max_hits ? h : max_hits;
    used += h > 0;
  }
  // Fibonacci hashing spreads a run of ids almost evenly (three-distance theorem): far better
  // than a random function (~ 2048 * (1 - e^(-1/2)) = 806 words used, up to 5 per word).
  CHECK(max_hits <= 2);
  CHECK(used > 1000);
  // Blocks of ids Kafka-style (sequential from a large base) and strided ids spread too.
  for (std::int64_t base : {std::int64_t{1} << 40, std::int64_t{4000}}) {
    for (std::int64_t stride : {1, 2, 1000}) {
      std::vector<int> h(big::index_slots, 0);
      int top = 0;
      for (std::int64_t k = 0; k < 1024; ++k) top = std::max(top, ++h[big::home_slot(base + k * stride)]);
      CHECK(top <= 4);
    }
  }
}

TEST_CASE("journal API: restore_producer validates, replaces, and respects capacity") {
  offseq::sequence_table<2, 3> t;
  using snap_t = decltype(t)::producer_snapshot;
  static_assert(decltype(t)::capacity == 2 && decltype(t)::history == 3, "constants");
  snap_t s{};
  s.producer_id = 7;
  s.epoch = 2;
  s.last_seen_ms = 55;
  s.count = 3;
  s.batches[0] = {max_seq - 1, max_seq, 10};
  s.batches[1] = {0, 4, 12};
  s.batches[2] = {5, 5, 17};
  REQUIRE(t.restore_producer(s) == status::ok);
  const auto good = dump(t);
  auto expect_invalid = [&](snap_t bad) {
    CHECK(t.restore_producer(bad) == status::invalid_argument);
    CHECK(dump(t) == good);
  };
  snap_t bad = s;
  bad.producer_id = -1;
  expect_invalid(bad);
  bad = s;
  bad.epoch = -3;
  expect_invalid(bad);
  bad = s;
  bad.count = 4;
  expect_invalid(bad);
  bad = s;
  bad.batches[1].first_seq = 1;  // not after max_seq
  expect_invalid(bad);
  bad = s;
  bad.batches[2].base_offset = -1;
  expect_invalid(bad);
  bad = s;
  bad.batches[0].last_seq = -2;
  expect_invalid(bad);
  // Unused entries beyond count are ignored.
  snap_t two = s;
  two.count = 2;
  two.batches[2] = {-9, -9, -9};
  two.producer_id = 8;
  CHECK(t.restore_producer(two) == status::ok);
  CHECK(t.size() == 2);
  two.producer_id = 9;
  CHECK(t.restore_producer(two) == status::table_full);
  // Same id replaces.
  snap_t none{};
  none.producer_id = 7;
  none.epoch = 3;
  none.count = 0;
  CHECK(t.restore_producer(none) == status::ok);
  CHECK(t.size() == 2);
  snap_t got{};
  REQUIRE(t.find(7, got) == status::ok);
  CHECK(got.epoch == 3);
  CHECK(got.count == 0);
  // A producer with no retained batch expects sequence 0 (Kafka: last -1).
  verdict v = t.check(bh(7, 3, 1, 1));
  CHECK(v.code == status::out_of_order);
  CHECK(v.expected_seq == 0);
  CHECK(t.admit(bh(7, 3, 0, 0), 30, 60).code == status::ok);
  // The restored producer 8 continues where it was.
  CHECK(t.check(bh(8, 2, 0, 4)).code == status::duplicate);
  CHECK(t.check(bh(8, 2, 5, 5)).code == status::ok);
  t.clear();
  CHECK(t.size() == 0);
  CHECK(dump(t).empty());
  CHECK(t.find(8, got) == status::not_found);
  CHECK(t.erase(8) == status::not_found);
}

// sizeof = Producers * (24 + 8 * History) hot + Producers * 8 * History cold + 4 * (index words
// + 1), rounded up to the hot slots' alignment (64 when a hot slot fills whole cache lines).
static_assert(sizeof(offseq::sequence_table<1024, 5>) == 1024 * 64 + 1024 * 40 + 4 * (2048 + 1) + 60,
              "1024 producers, History 5: 112 B per producer (+ 60 B rounding to 64)");
static_assert(alignof(offseq::sequence_table<1024, 5>) == OFFSEQ_CACHE_LINE, "History 5: hot slots on cache lines");
static_assert(sizeof(offseq::sequence_table<1000, 5>) == 1000 * 104 + 4 * (2048 + 1) + 60, "index: power of two >= 2P");
static_assert(sizeof(offseq::sequence_table<1, 1>) == 32 + 8 + 4 * (2 + 1) + 4, "smallest table: 56 B");
static_assert(sizeof(offseq::sequence_table<8, 3, true>) == 8 * (48 + 24) + 4 * (16 + 1) + 4, "History 3: 8-aligned");
static_assert(offseq::sequence_table<1024, 5>::index_slots == 2048 && offseq::sequence_table<1025>::index_slots == 4096,
              "load factor <= 1/2");

TEST_CASE("sizeof: (24 + 8 * History) hot + 8 * History cold bytes per producer plus the index") {
  using t5 = offseq::sequence_table<1024, 5>;
  CHECK(sizeof(t5) == t5::footprint);
  CHECK(t5::footprint == 114752);
  using t1 = offseq::sequence_table<1, 1>;
  CHECK(sizeof(t1) == t1::footprint);
}

// ---------------------------------------------------------------- randomized reference model
namespace {
struct ref_batch {
  std::int32_t first, last;
  std::int64_t offset;
};
struct ref_producer {
  std::int16_t epoch;
  std::uint64_t last_seen;
  std::deque<ref_batch> batches;  // oldest first
};
// SEMANTICS.md §2, written as plainly as possible (64-bit arithmetic for the wrap).
struct ref_model {
  std::size_t capacity, history;
  bool strict;
  std::map<std::int64_t, ref_producer> producers;

  static std::int32_t after(std::int32_t last) {
    return static_cast<std::int32_t>((static_cast<std::int64_t>(last) + 1) % (static_cast<std::int64_t>(max_seq) + 1));
  }
  verdict check(const batch_header& b) const {
    if (b.producer_id < 0 || b.epoch < 0 || b.first_seq < 0 || b.last_seq < 0) return {status::invalid_argument, -1, -1};
    auto it = producers.find(b.producer_id);
    if (it == producers.end()) {
      if (strict && b.first_seq != 0) return {status::unknown_producer, -1, 0};
      if (producers.size() >= capacity) return {status::table_full, -1, -1};
      return {status::ok, -1, -1};
    }
    const ref_producer& p = it->second;
    if (b.epoch < p.epoch) return {status::fenced, -1, -1};
    if (b.epoch > p.epoch) return b.first_seq == 0 ? verdict{status::ok, -1, -1} : verdict{status::out_of_order, -1, 0};
    for (const auto& x : p.batches)
      if (x.first == b.first_seq && x.last == b.last_seq) return {status::duplicate, x.offset, -1};
    const std::int32_t expected = p.batches.empty() ? 0 : after(p.batches.back().last);
    if (b.first_seq == expected) return {status::ok, -1, -1};
    return {status::out_of_order, -1, expected};
  }
  verdict admit(const batch_header& b, std::int64_t offset, std::uint64_t now) {
    if (offset < 0) return {status::invalid_argument, -1, -1};
    const verdict v = check(b);
    if (v.code != status::ok) return v;
    auto it = producers.find(b.producer_id);
    if (it == producers.end()) it = producers.emplace(b.producer_id, ref_producer{b.epoch, now, {}}).first;
    ref_producer& p = it->second;
    if (b.epoch > p.epoch) {
      p.epoch = b.epoch;
      p.batches.clear();
    }
    p.last_seen = now > p.last_seen ? now : p.last_seen;
    p.batches.push_back({b.first_seq, b.last_seq, offset});
    if (p.batches.size() > history) p.batches.pop_front();
    return v;
  }
  status marker(std::int64_t pid, std::int16_t epoch, std::uint64_t now) {
    if (pid < 0 || epoch < 0) return status::invalid_argument;
    auto it = producers.find(pid);
    if (it == producers.end()) {
      if (producers.size() >= capacity) return status::table_full;
      producers.emplace(pid, ref_producer{epoch, now, {}});
      return status::ok;
    }
    ref_producer& p = it->second;
    if (epoch < p.epoch) return status::fenced;
    if (epoch > p.epoch) {
      p.epoch = epoch;
      p.batches.clear();
    }
    p.last_seen = now > p.last_seen ? now : p.last_seen;
    return status::ok;
  }
  std::size_t expire(std::uint64_t now, std::uint64_t idle) {
    std::size_t n = 0;
    for (auto it = producers.begin(); it != producers.end();) {
      if (now >= it->second.last_seen && now - it->second.last_seen >= idle) {
        it = producers.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }
  std::map<std::int64_t, dumped_producer> dump() const {
    std::map<std::int64_t, dumped_producer> out;
    for (const auto& kv : producers) {
      dumped_producer d{kv.second.epoch, kv.second.last_seen, {}};
      for (const auto& x : kv.second.batches) d.batches.emplace_back(x.first, x.last, x.offset);
      out[kv.first] = d;
    }
    return out;
  }
};

#if defined(OFFSEQ_TSAN) || defined(__SANITIZE_ADDRESS__)
constexpr int random_scale = 1;
#else
constexpr int random_scale = 8;
#endif

template <std::size_t P, std::size_t H, bool S>
void run_random(std::uint32_t seed, int ops) {
  offseq::sequence_table<P, H, S> t;
  ref_model m{P, H, S, {}};
  std::mt19937_64 rng(seed);
  auto pick = [&](std::uint64_t n) { return static_cast<std::int64_t>(rng() % n); };
  // Ids: a few sequential ones, a few far apart, some colliding; twice the capacity in all.
  std::vector<std::int64_t> ids;
  for (std::size_t i = 0; i < P; ++i) ids.push_back(static_cast<std::int64_t>(i));
  for (std::size_t i = 0; i < P; ++i) ids.push_back(static_cast<std::int64_t>(rng() >> 1));
  std::uint64_t now = 0;
  std::int64_t log_end = 0;
  std::size_t counts[16] = {}, marker_counts[16] = {};
  for (int op = 0; op < ops; ++op) {
    now += static_cast<std::uint64_t>(pick(4));
    const std::int64_t id = ids[static_cast<std::size_t>(pick(static_cast<std::uint64_t>(ids.size())))];
    const auto it = m.producers.find(id);
    batch_header b{id, 0, 0, 0};
    const std::int32_t len = static_cast<std::int32_t>(1 + pick(pick(8) == 0 ? 1000 : 4));
    if (it == m.producers.end() || it->second.batches.empty()) {
      const std::int64_t r = pick(4);
      b.epoch = it == m.producers.end() ? static_cast<std::int16_t>(pick(3)) : it->second.epoch;
      b.first_seq = r == 0 ? 0 : r == 1 ? max_seq - static_cast<std::int32_t>(pick(6)) : static_cast<std::int32_t>(pick(static_cast<std::uint64_t>(max_seq)));
      if (it != m.producers.end() && pick(2) == 0) b.first_seq = 0;
    } else {
      const ref_producer& p = it->second;
      b.epoch = p.epoch;
      const std::int64_t r = pick(20);
      const ref_batch& back = p.batches.back();
      if (r < 9) {
        b.first_seq = ref_model::after(back.last);  // next
      } else if (r < 13) {                          // a retained batch, or an older one
        const auto& x = p.batches[static_cast<std::size_t>(pick(p.batches.size()))];
        b.first_seq = x.first;
        b.last_seq = x.last;
      } else if (r < 15) {  // near miss: overlap or gap
        b.first_seq = offseq::sequence_add(back.first, static_cast<std::int32_t>(pick(4)));
      } else if (r < 16) {
        b.epoch = static_cast<std::int16_t>(p.epoch + 1);
        b.first_seq = pick(3) == 0 ? 5 : 0;
      } else if (r < 17 && p.epoch > 0) {
        b.epoch = static_cast<std::int16_t>(p.epoch - 1);
        b.first_seq = ref_model::after(back.last);
      } else if (r < 18) {
        b.first_seq = max_seq - static_cast<std::int32_t>(pick(3));
      } else {
        b.first_seq = static_cast<std::int32_t>(pick(static_cast<std::uint64_t>(max_seq) + 1));
      }
      if (r >= 13 || r < 9) b.last_seq = offseq::sequence_add(b.first_seq, len - 1);
    }
    if (b.last_seq == 0 && b.first_seq != 0 && pick(2) == 0) b.last_seq = offseq::sequence_add(b.first_seq, len - 1);
    if (it == m.producers.end() || it->second.batches.empty()) b.last_seq = offseq::sequence_add(b.first_seq, len - 1);
    if (pick(200) == 0) {  // invalid input
      switch (pick(4)) {
        case 0: b.producer_id = -1 - pick(5); break;
        case 1: b.epoch = -1; break;
        case 2: b.first_seq = -1; break;
        default: b.last_seq = std::numeric_limits<std::int32_t>::min(); break;
      }
    }
    const std::int64_t what = pick(100);
    if (what < 70) {
      const std::int64_t offset = pick(300) == 0 ? -1 : log_end;
      const verdict want = m.admit(b, offset, now);
      const verdict got = t.admit(b, offset, now);
      REQUIRE(got.code == want.code);
      REQUIRE(got.offset == want.offset);
      REQUIRE(got.expected_seq == want.expected_seq);
      if (got.code == status::ok) log_end += len;
      ++counts[static_cast<std::size_t>(got.code)];
    } else if (what < 82) {
      const verdict want = m.check(b);
      const verdict got = t.check(b);
      REQUIRE(got.code == want.code);
      REQUIRE(got.offset == want.offset);
      REQUIRE(got.expected_seq == want.expected_seq);
    } else if (what < 93) {
      const verdict want = m.admit(b, log_end, now);
      REQUIRE(t.record(b, log_end, now) == want.code);
      if (want.code == status::ok) log_end += len;
    } else if (what < 95) {  // a transaction marker: same, older or newer epoch, or invalid
      const std::int16_t e = pick(50) == 0 ? std::int16_t{-1} : static_cast<std::int16_t>(b.epoch < 0 ? 0 : b.epoch + pick(3) - 1 < 0 ? 0 : b.epoch + pick(3) - 1);
      const status want = m.marker(b.producer_id, e, now);
      REQUIRE(t.check_marker(b.producer_id, e) == want);
      REQUIRE(t.record_marker(b.producer_id, e, now) == want);
      ++marker_counts[static_cast<std::size_t>(want)];
    } else if (what < 98) {
      const std::uint64_t idle = static_cast<std::uint64_t>(pick(400));
      const std::uint64_t when = pick(10) == 0 ? now - static_cast<std::uint64_t>(pick(static_cast<std::uint64_t>(now) + 1)) : now;
      REQUIRE(t.expire(when, idle) == m.expire(when, idle));
    } else if (what < 99) {
      const bool known = m.producers.erase(id) > 0;
      REQUIRE(t.erase(id) == (known ? status::ok : status::not_found));
    } else {
      // Round trip through the journal API into a fresh table.
      offseq::sequence_table<P, H, S> copy;
      t.for_each_producer([&](const typename decltype(t)::producer_snapshot& s) { REQUIRE(copy.restore_producer(s) == status::ok); });
      REQUIRE(dump(copy) == dump(t));
    }
    REQUIRE(t.size() == m.producers.size());
    if (op % 97 == 0) REQUIRE(dump(t) == m.dump());
  }
  REQUIRE(dump(t) == m.dump());
  // The run must have exercised every verdict.
  CHECK(counts[static_cast<std::size_t>(status::ok)] > 0);
  CHECK(counts[static_cast<std::size_t>(status::duplicate)] > 0);
  CHECK(counts[static_cast<std::size_t>(status::out_of_order)] > 0);
  CHECK(counts[static_cast<std::size_t>(status::fenced)] > 0);
  CHECK(counts[static_cast<std::size_t>(status::table_full)] > 0);
  CHECK(counts[static_cast<std::size_t>(status::invalid_argument)] > 0);
  if (S) CHECK(counts[static_cast<std::size_t>(status::unknown_producer)] > 0);
  CHECK(marker_counts[static_cast<std::size_t>(status::ok)] > 0);
  CHECK(marker_counts[static_cast<std::size_t>(status::fenced)] > 0);
  CHECK(marker_counts[static_cast<std::size_t>(status::invalid_argument)] > 0);
}
}  // namespace

TEST_CASE("randomized: every sequence of operations matches a reference model") {
  SUBCASE("16 producers, History 5") { run_random<16, 5, false>(1, 100000 * random_scale); }
  SUBCASE("5 producers, History 1") { run_random<5, 1, false>(2, 50000 * random_scale); }
  SUBCASE("7 producers, History 3, strict") { run_random<7, 3, true>(3, 50000 * random_scale); }
  SUBCASE("64 producers, History 5") { run_random<64, 5, false>(4, 50000 * random_scale); }
}

TEST_CASE("for_each_producer_from: resumes at an index, stops when f says so, returns where it stopped") {
  table t;
  for (std::int64_t pid = 1; pid <= 5; ++pid) REQUIRE(t.admit(bh(pid, 0, 0, 0), pid, 1).code == status::ok);
  std::vector<std::int64_t> all, pieces;
  t.for_each_producer([&](const table::producer_snapshot& s) { all.push_back(s.producer_id); });
  REQUIRE(all.size() == 5);
  // Two at a time, as producer_log writes a table that does not fit one record.
  std::size_t at = 0;
  for (int round = 0; at < t.size() && round < 10; ++round) {
    std::size_t taken = 0;
    at = t.for_each_producer_from(at, [&](const table::producer_snapshot& s) {
      if (taken == 2) return false;
      pieces.push_back(s.producer_id);
      ++taken;
      return true;
    });
  }
  CHECK(pieces == all);
  CHECK(at == 5);
  CHECK(t.for_each_producer_from(5, [](const table::producer_snapshot&) { return true; }) == 5);
  CHECK(t.for_each_producer_from(99, [](const table::producer_snapshot&) { return true; }) == 5);
}
