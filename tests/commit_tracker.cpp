// Commit tracker: SEMANTICS.md §1 and the CONTRACT.md rules, one test case per rule.
#include <doctest/doctest.h>

#include <offseq.hpp>
#include <host.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

using offseq::status;

namespace {
using tracker = offseq::commit_tracker<4, 64>;

#if defined(OFFSEQ_TSAN) || defined(__SANITIZE_ADDRESS__)
constexpr int stress_scale = 1;
#else
constexpr int stress_scale = 2;
#endif

template <class T>
std::vector<std::pair<std::size_t, std::int64_t>> drained(T& t) {
  std::vector<std::pair<std::size_t, std::int64_t>> out;
  t.drain([&](std::size_t p, std::int64_t pos) { out.emplace_back(p, pos); });
  return out;
}
}  // namespace

TEST_CASE("contract: a partition starts at 0, generation 0 is never current") {
  tracker t;
  for (std::size_t p = 0; p < 4; ++p) {
    CHECK(t.committed(p) == 0);
    CHECK(t.current_generation(p) == 0);
    CHECK(t.commit(p, 1, 0) == status::fenced);
    CHECK(t.commit(p, 1, 1) == status::fenced);  // before any assign, no generation is current
    CHECK(t.complete(p, 0, 0) == status::fenced);
  }
  const auto g = t.assign(0);
  CHECK(g != 0);
  CHECK(t.commit(0, 1, 0) == status::fenced);
  CHECK(t.commit(0, 1, g | 0x80000000u) == status::fenced);  // above max_generation: never current
  CHECK(t.committed(0) == 0);
  t.revoke(0);
  t.revoke(0);  // idempotent
  CHECK(t.current_generation(0) == 0);
  CHECK(t.assign(0) == g + 1);  // the generation counter survives revokes
}

TEST_CASE("contract: out-of-range input is invalid_argument and changes nothing") {
  tracker t;
  const auto g = t.assign(1);
  CHECK(t.commit(4, 1, g) == status::invalid_argument);
  CHECK(t.commit(1, -1, g) == status::invalid_argument);
  CHECK(t.commit(1, tracker::max_position + 1, g) == status::invalid_argument);
  CHECK(t.complete(1, -5, g) == status::invalid_argument);
  CHECK(t.complete(1, tracker::max_position, g) == status::invalid_argument);  // needs position max+1
  CHECK(t.complete(9, 0, g) == status::invalid_argument);
  CHECK(t.complete_range(1, 5, 4, g) == status::invalid_argument);  // end < first
  CHECK(t.complete_range(1, -1, 4, g) == status::invalid_argument);
  CHECK(t.complete_range(1, 0, tracker::max_position + 1, g) == status::invalid_argument);
  CHECK(t.reset(1, -1) == status::invalid_argument);
  CHECK(t.reset(4, 0) == status::invalid_argument);
  CHECK(t.restore(4, 0) == status::invalid_argument);
  CHECK(t.restore(1, tracker::max_position + 1) == status::invalid_argument);
  CHECK(t.committed(4) == -1);
  CHECK_FALSE(t.is_completed(4, 0));
  CHECK(t.is_completed(1, -1));  // below committed(1) = 0 (CONTRACT: every o < committed)
  CHECK(t.assign(4) == 0);
  t.revoke(4);  // no effect, no crash
  CHECK(t.committed(1) == 0);
  CHECK_FALSE(t.pending(1));
  CHECK(drained(t).empty());
}

TEST_CASE("contract: checks run invalid_argument, fenced, stale, window_full in that order") {
  tracker t;
  const auto g = t.assign(0);
  REQUIRE(t.commit(0, 10, g) == status::ok);
  // invalid beats fenced
  CHECK(t.commit(0, -1, g + 7) == status::invalid_argument);
  // fenced beats stale and window_full
  CHECK(t.commit(0, 5, g + 7) == status::fenced);
  CHECK(t.complete(0, 1000, g + 7) == status::fenced);
  CHECK(t.complete_range(0, 3, 3, g + 7) == status::fenced);
  // stale beats window_full (a stale offset is never "too far")
  CHECK(t.complete(0, 9, g) == status::stale);
  CHECK(t.complete(0, 10 + 64, g) == status::window_full);
  CHECK(t.complete(0, 10 + 63, g) == status::ok);
}

TEST_CASE("§1.1 safety: the position never passes an offset not reported processed") {
  tracker t;
  const auto g = t.assign(0);
  CHECK(t.complete(0, 1, g) == status::ok);
  CHECK(t.complete(0, 2, g) == status::ok);
  CHECK(t.complete(0, 4, g) == status::ok);
  CHECK(t.committed(0) == 0);  // 0 missing
  CHECK(t.complete(0, 0, g) == status::ok);
  CHECK(t.committed(0) == 3);  // 3 missing
  CHECK_FALSE(t.is_completed(0, 3));
  CHECK(t.is_completed(0, 4));
  CHECK(t.complete(0, 3, g) == status::ok);
  CHECK(t.committed(0) == 5);
}

TEST_CASE("§1.2 monotonic: a lower commit is stale and changes nothing; reset is the only way back") {
  tracker t;
  const auto g = t.assign(0);
  CHECK(t.commit(0, 100, g) == status::ok);
  (void)drained(t);
  CHECK(t.commit(0, 60, g) == status::stale);  // Kafka would rewind the group here
  CHECK(t.commit(0, 100, g) == status::stale);
  CHECK(t.committed(0) == 100);
  CHECK_FALSE(t.pending(0));
  CHECK(t.reset(0, 60) == status::ok);
  CHECK(t.committed(0) == 60);
  CHECK(drained(t) == std::vector<std::pair<std::size_t, std::int64_t>>{{0, 60}});
}

TEST_CASE("§1.3 progress: completing every offset below X leaves the position at X") {
  tracker t;
  const auto g = t.assign(2);
  std::vector<std::int64_t> order(64);
  for (std::int64_t i = 0; i < 64; ++i) order[static_cast<std::size_t>(i)] = i;
  std::mt19937 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  for (std::int64_t o : order) CHECK(t.complete(2, o, g) == status::ok);
  CHECK(t.committed(2) == 64);
}

TEST_CASE("§1.3 commit advances over completions already recorded at and above next") {
  tracker t;
  const auto g = t.assign(0);
  CHECK(t.complete(0, 5, g) == status::ok);
  CHECK(t.complete(0, 6, g) == status::ok);
  CHECK(t.complete(0, 8, g) == status::ok);
  CHECK(t.commit(0, 5, g) == status::ok);
  CHECK(t.committed(0) == 7);
  CHECK(t.is_completed(0, 8));  // kept above the new position
  CHECK(t.complete(0, 7, g) == status::ok);
  CHECK(t.committed(0) == 9);
}

TEST_CASE("§1.4 fencing: assign fences older generations; earlier completions stay valid") {
  tracker t;
  const auto g1 = t.assign(0);
  CHECK(t.complete(0, 1, g1) == status::ok);
  const auto g2 = t.assign(0);
  CHECK(g2 != g1);
  CHECK(t.commit(0, 1, g1) == status::fenced);
  CHECK(t.complete(0, 0, g1) == status::fenced);
  CHECK(t.complete_range(0, 0, 3, g1) == status::fenced);
  CHECK(t.committed(0) == 0);
  CHECK(t.is_completed(0, 1));               // processed by the old owner: still a fact
  CHECK(t.complete(0, 0, g2) == status::ok);  // the new owner's completion absorbs it
  CHECK(t.committed(0) == 2);
}

TEST_CASE("§1.4 revoke fences every generation handed out; a later assign owns again") {
  tracker t;
  const auto g1 = t.assign(3);
  t.revoke(3);
  CHECK(t.current_generation(3) == 0);
  CHECK(t.commit(3, 1, g1) == status::fenced);
  const auto g2 = t.assign(3);
  CHECK(g2 != g1);
  CHECK(t.commit(3, 1, g1) == status::fenced);
  CHECK(t.commit(3, 1, g2) == status::ok);
}

TEST_CASE("§1.4 generations: at least 2^16 distinct before a wrap, never 0") {
  tracker t;
  const auto first = t.assign(0);
  std::set<tracker::generation> seen{first};
  for (int i = 0; i < 70000; ++i) {
    const auto g = t.assign(0);
    CHECK_UNARY(g != 0);
    seen.insert(g);
  }
  CHECK(seen.size() == 70001);
  CHECK(t.commit(0, 1, first) == status::fenced);  // 70000 assigns later, still fenced
}

TEST_CASE("§1.5 window: completions beyond the window are window_full, never dropped") {
  offseq::commit_tracker<1, 16> t;
  const auto g = t.assign(0);
  CHECK(t.complete(0, 15, g) == status::ok);
  CHECK(t.complete(0, 16, g) == status::window_full);
  CHECK_FALSE(t.is_completed(0, 16));
  for (std::int64_t o = 1; o < 15; ++o) CHECK(t.complete(0, o, g) == status::ok);
  CHECK(t.committed(0) == 0);
  CHECK(t.complete(0, 0, g) == status::ok);
  CHECK(t.committed(0) == 16);  // the completion at 15 was kept
  CHECK(t.complete(0, 31, g) == status::ok);
  CHECK(t.complete(0, 32, g) == status::window_full);
}

TEST_CASE("§1.5 completing an already completed offset is ok and idempotent") {
  tracker t;
  const auto g = t.assign(0);
  CHECK(t.complete(0, 3, g) == status::ok);
  CHECK(t.complete(0, 3, g) == status::ok);
  CHECK(t.committed(0) == 0);
  CHECK(t.complete(0, 0, g) == status::ok);
  CHECK(t.complete(0, 0, g) == status::stale);  // now below the floor
}

TEST_CASE("§1.6 gaps: complete_range covers markers and compacted offsets in one call") {
  tracker t;
  const auto g = t.assign(0);
  CHECK(t.complete_range(0, 0, 10, g) == status::ok);  // at the floor: like commit(10)
  CHECK(t.committed(0) == 10);
  CHECK(t.complete_range(0, 12, 20, g) == status::ok);  // above: recorded
  CHECK(t.committed(0) == 10);
  CHECK(t.is_completed(0, 12));
  CHECK(t.is_completed(0, 19));
  CHECK_FALSE(t.is_completed(0, 20));
  CHECK(t.complete_range(0, 10, 12, g) == status::ok);  // the gap
  CHECK(t.committed(0) == 20);
  CHECK(t.complete_range(0, 5, 15, g) == status::stale);  // at or below the floor, end too
  CHECK(t.complete_range(0, 25, 25, g) == status::stale);  // empty
  CHECK(t.complete_range(0, 21, 20 + 65, g) == status::window_full);
  CHECK(t.complete_range(0, 21, 20 + 64, g) == status::ok);
  CHECK(t.complete_range(0, 15, 21, g) == status::ok);  // starts below, acts like commit(21)
  CHECK(t.committed(0) == 84);
}

TEST_CASE("§1.6 complete_range across slot boundaries and the whole window") {
  for (std::int64_t start : {0, 1, 7, 15, 16, 17, 1000003}) {
    offseq::commit_tracker<1, 64> t;
    const auto g = t.assign(0);
    REQUIRE(t.restore(0, start) == status::ok);
    REQUIRE(t.complete_range(0, start + 1, start + 64, g) == status::ok);
    for (std::int64_t o = start + 1; o < start + 64; ++o) CHECK(t.is_completed(0, o));
    CHECK(t.committed(0) == start);
    CHECK(t.complete(0, start, g) == status::ok);
    CHECK(t.committed(0) == start + 64);
  }
}

TEST_CASE("§1.7 is_completed: true below the floor and for completions above it") {
  tracker t;
  const auto g = t.assign(1);
  CHECK(t.commit(1, 40, g) == status::ok);
  CHECK(t.complete(1, 45, g) == status::ok);
  CHECK(t.is_completed(1, 0));
  CHECK(t.is_completed(1, 39));
  CHECK_FALSE(t.is_completed(1, 40));
  CHECK(t.is_completed(1, 45));
  CHECK_FALSE(t.is_completed(1, 46));
  CHECK_FALSE(t.is_completed(1, 40 + 1000));
}

TEST_CASE("§1.8 drain: changed partitions once, latest position, coalesced; false keeps pending") {
  tracker t;
  const auto g0 = t.assign(0);
  const auto g2 = t.assign(2);
  CHECK(drained(t).empty());
  CHECK(t.commit(0, 3, g0) == status::ok);
  CHECK(t.commit(0, 7, g0) == status::ok);
  CHECK(t.complete(2, 0, g2) == status::ok);
  CHECK(t.complete(2, 5, g2) == status::ok);  // no position change
  CHECK(drained(t) == std::vector<std::pair<std::size_t, std::int64_t>>{{0, 7}, {2, 1}});
  CHECK(drained(t).empty());

  CHECK(t.commit(0, 9, g0) == status::ok);
  int calls = 0;
  CHECK(t.drain([&](std::size_t, std::int64_t) {
          ++calls;
          return false;
        }) == 0);
  CHECK(calls == 1);
  CHECK(t.pending(0));
  CHECK(t.commit(0, 11, g0) == status::ok);
  CHECK(t.drain([&](std::size_t p, std::int64_t pos) {
          CHECK(p == 0);
          CHECK(pos == 11);
          return true;
        }) == 1);
  CHECK(drained(t).empty());
}

// A sink that writes through a storage hook returns offseq's own status: io_error must keep
// the partition pending and ok must accept it (a plain cast to bool inverts both: ok is 0).
TEST_CASE("§1.8 drain: a sink returning status keeps the partition pending unless ok") {
  tracker t;
  const auto g = t.assign(1);
  CHECK(t.commit(1, 4, g) == status::ok);
  CHECK(t.drain([](std::size_t, std::int64_t) { return status::io_error; }) == 0);
  CHECK(t.pending(1));
  CHECK(t.drain([](std::size_t, std::int64_t) { return status::ok; }) == 1);
  CHECK_FALSE(t.pending(1));
}

TEST_CASE("contract: restore is not a change for drain, reset is; both clear completions") {
  tracker t;
  const auto g = t.assign(0);
  CHECK(t.complete(0, 5, g) == status::ok);
  CHECK(t.restore(0, 3) == status::ok);
  CHECK(t.committed(0) == 3);
  CHECK_FALSE(t.is_completed(0, 5));
  CHECK(drained(t).empty());
  CHECK(t.current_generation(0) == g);  // restore does not change ownership
  CHECK(t.complete(0, 5, g) == status::ok);
  CHECK(t.reset(0, 3) == status::ok);  // same position: still a change
  CHECK_FALSE(t.is_completed(0, 5));
  CHECK(drained(t) == std::vector<std::pair<std::size_t, std::int64_t>>{{0, 3}});
}

TEST_CASE("contract: edges of the position range") {
  tracker t;
  const auto g = t.assign(0);
  const std::int64_t max = tracker::max_position;
  CHECK(max == (std::int64_t{1} << 48) - 1);
  CHECK(t.restore(0, max - 3) == status::ok);
  CHECK(t.complete(0, max - 1, g) == status::ok);
  CHECK(t.complete(0, max - 3, g) == status::ok);
  CHECK(t.committed(0) == max - 2);
  CHECK(t.complete(0, max - 2, g) == status::ok);
  CHECK(t.committed(0) == max);
  CHECK(t.commit(0, max, g) == status::stale);
  CHECK(t.complete(0, max, g) == status::invalid_argument);
  CHECK(t.is_completed(0, max - 1));
  CHECK_FALSE(t.is_completed(0, max));
}

TEST_CASE("contract: 32-bit words give positions below 2^24") {
  offseq::commit_tracker<2, 32, offseq::atomic_sync32> t;
  using t32 = decltype(t);
  CHECK(t32::max_position == (1 << 24) - 1);
  const auto g = t.assign(0);
  CHECK(t.commit(0, t32::max_position + 1, g) == status::invalid_argument);
  CHECK(t.restore(0, t32::max_position - 30) == status::ok);
  CHECK(t.complete_range(0, t32::max_position - 29, t32::max_position, g) == status::ok);
  CHECK(t.complete(0, t32::max_position - 30, g) == status::ok);
  CHECK(t.committed(0) == t32::max_position);
}

TEST_CASE("contract: far jumps never let an old slot alias a live block") {
  // A completion left in a slot, then a commit jumping by a multiple of every plausible
  // tag period: the stale bit must not read as a completion of the aliasing offset.
  tracker t;
  const auto g = t.assign(0);
  CHECK(t.complete(0, 5, g) == status::ok);
  for (std::int64_t jump : {std::int64_t{1} << 20, std::int64_t{3} << 36, std::int64_t{5} << 40}) {
    const std::int64_t base = t.committed(0);
    CHECK(t.commit(0, base + jump, g) == status::ok);
    const std::int64_t floor = t.committed(0);
    for (std::int64_t o = floor; o < floor + 64; ++o) CHECK_FALSE(t.is_completed(0, o));
    CHECK(t.complete(0, floor + 5, g) == status::ok);
    CHECK(t.committed(0) == floor);
  }
}

TEST_CASE("persistence: a window snapshot restores position and completions") {
  tracker t;
  const auto g = t.assign(1);
  CHECK(t.commit(1, 100, g) == status::ok);
  CHECK(t.complete(1, 101, g) == status::ok);
  CHECK(t.complete(1, 163, g) == status::ok);
  const auto snap = t.snapshot(1);
  CHECK(snap.position == 100);
  CHECK(snap.completed[0] == 0x02);
  CHECK(snap.completed[7] == 0x80);

  tracker u;
  CHECK(u.restore(1, snap) == status::ok);
  CHECK(u.committed(1) == 100);
  CHECK(u.is_completed(1, 101));
  CHECK(u.is_completed(1, 163));
  CHECK_FALSE(u.is_completed(1, 102));
  CHECK_FALSE(u.pending(1));
  const auto g2 = u.assign(1);
  CHECK(u.complete(1, 100, g2) == status::ok);
  CHECK(u.committed(1) == 102);
  CHECK(t.snapshot(9).position == -1);
  auto bad = snap;
  bad.position = -1;
  CHECK(u.restore(1, bad) == status::invalid_argument);
  CHECK(u.committed(1) == 102);
}

TEST_CASE("sizeof: a head line plus a line per stripe on hosts; Stripes = 1 packs a partition") {
  // Window 64, 64-bit words, 4 stripes: 16 offsets per stripe fit 2 slots (16 B), padded to a line.
  CHECK(sizeof(offseq::commit_tracker<1, 64>) == 64 + 4 * 64);
  CHECK(sizeof(offseq::commit_tracker<8, 64>) == 8 * 320);
  CHECK(sizeof(offseq::commit_tracker<1, 64, offseq::atomic_sync, 2>) == 64 + 2 * 64);
  CHECK(sizeof(offseq::commit_tracker<1, 64, offseq::atomic_sync, 1>) == 64);
  CHECK(sizeof(offseq::commit_tracker<1, 128, offseq::atomic_sync, 1>) == 128);
  CHECK(sizeof(offseq::commit_tracker<1, 64, offseq::atomic_sync32>) == 64 + 4 * 64);
  CHECK(sizeof(offseq::commit_tracker<16, 64>) == 5120);  // README's Memory table
  CHECK(alignof(offseq::commit_tracker<1, 64>) == 64);
}

// ------------------------------------------------------------------ randomized model test
// Windows that are no multiple of a stripe's block (40 = 2 x 20, 72 = 4 x 18, 40 = 8 x 5).
// (4 partitions like the file's `tracker`: with 3 and the same partition layout, GCC 12 folds
// identical constant-propagated clones of the two types and warns -Warray-bounds about them.)
TEST_CASE_TEMPLATE("randomized: every sequence of operations matches a reference model", Tracker,
                   offseq::commit_tracker<4, 40, offseq::atomic_sync, 1>, offseq::commit_tracker<4, 40, offseq::atomic_sync, 2>,
                   offseq::commit_tracker<4, 72, offseq::atomic_sync, 4>, offseq::commit_tracker<4, 40, offseq::atomic_sync32, 8>) {
  constexpr std::size_t P = Tracker::partitions();
  constexpr std::int64_t W = static_cast<std::int64_t>(Tracker::window);
  Tracker t;
  struct model {
    std::int64_t pos = 0;
    std::set<std::int64_t> done;
    std::uint32_t gen = 0;
    std::vector<std::uint32_t> handed;
    bool dirty = false;
    void settle() {
      while (done.count(pos)) done.erase(pos++);
      while (!done.empty() && *done.begin() < pos) done.erase(done.begin());
    }
  } m[P];
  std::mt19937_64 rng(12345);
  const int ops = 200000 * stress_scale;
  for (int i = 0; i < ops; ++i) {
    const std::size_t p = rng() % P;
    model& md = m[p];
    auto pick_gen = [&]() -> std::uint32_t {
      if (md.handed.empty() || rng() % 8 == 0) return static_cast<std::uint32_t>(rng() % 5);
      return md.handed[rng() % md.handed.size()];
    };
    const int op = static_cast<int>(rng() % 100);
    if (op < 3) {
      const auto g = t.assign(p);
      REQUIRE(g != 0);
      md.handed.push_back(g);
      md.gen = g;
    } else if (op < 4) {
      t.revoke(p);
      md.gen = 0;
    } else if (op < 5) {
      const std::int64_t pos = md.pos + static_cast<std::int64_t>(rng() % 50) - 25;
      const status s = t.reset(p, pos);
      if (pos < 0) {
        REQUIRE(s == status::invalid_argument);
      } else {
        REQUIRE(s == status::ok);
        md.pos = pos;
        md.done.clear();
        md.dirty = true;
      }
    } else if (op < 30) {
      const std::int64_t next = md.pos + static_cast<std::int64_t>(rng() % 12) - 4;
      const auto g = pick_gen();
      status expect;
      if (next < 0) expect = status::invalid_argument;
      else if (g == 0 || g != md.gen) expect = status::fenced;
      else if (next <= md.pos) expect = status::stale;
      else expect = status::ok;
      REQUIRE(t.commit(p, next, g) == expect);
      if (expect == status::ok) {
        md.pos = next;
        md.dirty = true;
        md.settle();
      }
    } else if (op < 85) {
      const std::int64_t o = md.pos + static_cast<std::int64_t>(rng() % (W + 6)) - 3;
      const auto g = pick_gen();
      status expect;
      if (o < 0) expect = status::invalid_argument;
      else if (g == 0 || g != md.gen) expect = status::fenced;
      else if (o < md.pos) expect = status::stale;
      else if (o >= md.pos + W) expect = status::window_full;
      else expect = status::ok;
      REQUIRE(t.complete(p, o, g) == expect);
      if (expect == status::ok) {
        const std::int64_t before = md.pos;
        md.done.insert(o);
        md.settle();
        if (md.pos != before) md.dirty = true;
      }
    } else if (op < 95) {
      const std::int64_t first = md.pos + static_cast<std::int64_t>(rng() % (W + 6)) - 8;
      const std::int64_t end = first + static_cast<std::int64_t>(rng() % 20) - 2;
      const auto g = pick_gen();
      status expect;
      if (first < 0 || end < first) expect = status::invalid_argument;
      else if (g == 0 || g != md.gen) expect = status::fenced;
      else if (first == end) expect = status::stale;
      else if (first <= md.pos) expect = end <= md.pos ? status::stale : status::ok;
      else if (end > md.pos + W) expect = status::window_full;
      else expect = status::ok;
      REQUIRE(t.complete_range(p, first, end, g) == expect);
      if (expect == status::ok) {
        const std::int64_t before = md.pos;
        if (first <= md.pos) md.pos = end;
        else
          for (std::int64_t o = first; o < end; ++o) md.done.insert(o);
        md.settle();
        if (md.pos != before) md.dirty = true;
      }
    } else {
      std::map<std::size_t, std::int64_t> got;
      t.drain([&](std::size_t q, std::int64_t pos) { got[q] = pos; });
      for (std::size_t q = 0; q < P; ++q) {
        if (m[q].dirty) {
          REQUIRE(got.count(q) == 1);
          REQUIRE(got[q] == m[q].pos);
        } else {
          REQUIRE(got.count(q) == 0);
        }
        m[q].dirty = false;
      }
    }
    REQUIRE(t.committed(p) == md.pos);
    const std::int64_t probe = md.pos + static_cast<std::int64_t>(rng() % (W + 4)) - 2;
    if (probe >= 0) REQUIRE(t.is_completed(p, probe) == (probe < md.pos || md.done.count(probe) == 1));
  }
}

// ------------------------------------------------------------------ concurrency
// Several workers complete disjoint offsets out of order on one partition while another thread
// commits in order, a reader checks monotonicity and safety, and drain runs concurrently.
// Invariants checked while running: committed never decreases, never exceeds the smallest
// offset not yet reported, and ends exactly at the end; drain never reports a position that
// was not reached.
template <class Tracker>
void stress_one_partition(int workers, std::int64_t total) {
  Tracker t;
  const auto g = t.assign(0);
  std::vector<std::atomic<std::uint8_t>> reported(static_cast<std::size_t>(total));
  for (auto& r : reported) r.store(0);
  std::atomic<std::int64_t> next_ticket{0};
  std::atomic<bool> stop{false};
  std::atomic<int> violations{0};

  auto worker = [&](unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::int64_t> held;
    for (;;) {
      // Take a few offsets, finish them in random order; never hold the floor while window_full.
      while (held.size() < 4) {
        const std::int64_t o = next_ticket.fetch_add(1);
        if (o >= total) break;
        held.push_back(o);
      }
      if (held.empty()) return;
      std::shuffle(held.begin(), held.end(), rng);
      for (std::size_t i = 0; i < held.size();) {
        const std::int64_t o = held[i];
        reported[static_cast<std::size_t>(o)].store(1, std::memory_order_release);
        const std::int64_t before = t.committed(0);
        const status s = (rng() % 16 == 0) ? t.complete_range(0, o, o + 1, g) : t.complete(0, o, g);
        // committed() only rises: an offset under committed-before + Window always fits.
        if (s == status::window_full && o < before + static_cast<std::int64_t>(Tracker::window)) violations.fetch_add(1);
        if (s == status::ok || s == status::stale) {
          held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
        } else if (s == status::window_full) {
          reported[static_cast<std::size_t>(o)].store(0, std::memory_order_release);
          ++i;
          std::this_thread::yield();
        } else {
          violations.fetch_add(1);
          held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
        }
      }
    }
  };
  auto checker = [&] {
    std::int64_t last = 0;
    while (!stop.load()) {
      const std::int64_t c = t.committed(0);
      if (c < last) violations.fetch_add(1);  // §1.2
      // §1.1: every offset below c was reported processed before c became visible.
      for (std::int64_t o = last; o < c; ++o)
        if (reported[static_cast<std::size_t>(o)].load(std::memory_order_acquire) == 0) violations.fetch_add(1);
      last = c;
      t.drain([&](std::size_t, std::int64_t pos) {
        if (pos > t.committed(0)) violations.fetch_add(1);
      });
    }
  };
  std::thread check(checker);
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) pool.emplace_back(worker, static_cast<unsigned>(w + 1));
  for (auto& th : pool) th.join();
  stop.store(true);
  check.join();
  CHECK(violations.load() == 0);
  CHECK(t.committed(0) == total);  // §1.3
}

TEST_CASE("§1.3 concurrent out-of-order completions reach the end, safe and monotonic (atomic_sync)") {
  stress_one_partition<offseq::commit_tracker<1, 64>>(3, 20000 * stress_scale);
}

TEST_CASE("§1.3 concurrent completions, one stripe (the Cortex-M layout) and two") {
  stress_one_partition<offseq::commit_tracker<1, 64, offseq::atomic_sync, 1>>(3, 10000 * stress_scale);
  stress_one_partition<offseq::commit_tracker<1, 16, offseq::atomic_sync, 2>>(3, 10000 * stress_scale);
}

TEST_CASE("§1.3 concurrent completions with a small window and 32-bit words") {
  stress_one_partition<offseq::commit_tracker<1, 8, offseq::atomic_sync32>>(3, 4000 * stress_scale);
}

TEST_CASE("§1.3 concurrent completions through critical_section_sync") {
  stress_one_partition<offseq::commit_tracker<1, 64, offseq::critical_section_sync<offseq::host::mutex_guard>>>(
      3, 10000 * stress_scale);
}

TEST_CASE("§1.4 concurrent: a commit that starts after assign returned is fenced") {
  // One thread keeps committing with generation g1; another reassigns. Once assign returned,
  // no commit with g1 may land: the position must stay where the new owner saw it.
  for (int round = 0; round < 50 * stress_scale; ++round) {
    offseq::commit_tracker<1, 64> t;
    const auto g1 = t.assign(0);
    std::atomic<bool> go{false};
    std::atomic<std::int64_t> landed_after{0};
    std::atomic<bool> assigned{false};
    std::thread old_owner([&] {
      while (!go.load()) {
      }
      for (std::int64_t next = 1; next < 2000; ++next) {
        const bool after = assigned.load();
        const status s = t.commit(0, next, g1);
        if (after && s == status::ok) landed_after.fetch_add(1);
        if (s == status::fenced) break;
      }
    });
    go.store(true);
    const auto g2 = t.assign(0);
    assigned.store(true);
    const std::int64_t seen = t.committed(0);
    old_owner.join();
    CHECK(landed_after.load() == 0);
    CHECK(t.committed(0) == seen);
    CHECK(t.commit(0, seen + 1, g2) == status::ok);
  }
}

TEST_CASE("false sharing: partitions and their stripes live on separate cache lines") {
  offseq::commit_tracker<2, 64> t;
  const auto* base = reinterpret_cast<const unsigned char*>(&t);
  CHECK(sizeof(t) == 2 * (1 + t.stripes) * OFFSEQ_CACHE_LINE);
  CHECK(reinterpret_cast<std::uintptr_t>(base) % OFFSEQ_CACHE_LINE == 0);
}

// ------------------------------------------------------------------ an interrupt inside a read
// A guard that runs an "interrupt" on its n-th construction, so the handler lands between two
// loads of one tracker call, deterministically (as SysTick would on a Cortex-M).
namespace {
struct interrupt_guard {
  inline static std::function<void()> isr;
  inline static long constructed = 0, fire_at = -1;
  inline static bool inside = false;
  interrupt_guard() noexcept {
    if (!inside && ++constructed == fire_at && isr) {
      inside = true;
      isr();
      inside = false;
    }
  }
};
using isr_sync = offseq::critical_section_sync<interrupt_guard, std::uint32_t>;
}  // namespace

// committed() and snapshot() read the floor, then the run above it: an interrupt that moves
// the floor far enough for the run's slots to be reused in between must not make them report
// less than before (they once answered 0 after 10, with 400 committed).
TEST_CASE_TEMPLATE("§1.2 monotonic: an interrupt between the floor and the run does not pull committed back", T,
                   offseq::commit_tracker<1, 16, isr_sync, 1>, offseq::commit_tracker<1, 64, isr_sync, 1>,
                   offseq::commit_tracker<1, 256, isr_sync, 1>, offseq::commit_tracker<1, 64, isr_sync, 4>) {
  static T t;
  (void)t.restore(0, 0);
  const auto g = t.assign(0);
  for (int o = 0; o < 10; ++o) REQUIRE(t.complete(0, o, g) == status::ok);
  REQUIRE(t.committed(0) == 10);
  interrupt_guard::isr = [g] {
    for (int o = 10; o < 400; ++o) (void)t.complete(0, o, g);
  };
  for (long at = 1; at <= 8; ++at) {  // the interrupt after each load of the call in turn
    (void)t.reset(0, 0);
    for (int o = 0; o < 10; ++o) REQUIRE(t.complete(0, o, g) == status::ok);
    interrupt_guard::fire_at = interrupt_guard::constructed + at;
    const std::int64_t c = t.committed(0);
    CHECK(c >= 10);
    CHECK(t.committed(0) == 400);
    (void)t.reset(0, 0);
    for (int o = 0; o < 10; ++o) REQUIRE(t.complete(0, o, g) == status::ok);
    interrupt_guard::fire_at = interrupt_guard::constructed + at;
    const auto snap = t.snapshot(0);
    CHECK(snap.position >= 10);
  }
  interrupt_guard::isr = nullptr;
}
