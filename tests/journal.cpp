// Journal: SEMANTICS.md §5 (durability), one test case per rule, plus power cuts at every
// byte of every write of a mixed workload, damage, full storage and the Storage hooks.
#include <doctest/doctest.h>

#include <offseq.hpp>
#include <posix_file.hpp>
#include <sim_flash.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

using offseq::status;
using offseq::sim::sim_flash;

namespace {
#if defined(OFFSEQ_TSAN)
constexpr std::uint64_t cut_step = 5;  // TSan makes every atomic load slow: every 5th byte
#else
constexpr std::uint64_t cut_step = 1;  // every byte
#endif

using small_journal = offseq::journal<sim_flash, 64, 32>;

struct record {
  std::uint8_t type;
  std::vector<std::uint8_t> data;
  bool operator==(const record& o) const { return type == o.type && data == o.data; }
};

template <class J>
status replay_all(J& j, std::vector<record>& out, bool open = true) {
  out.clear();
  auto v = [&](std::uint8_t t, const std::uint8_t* p, std::size_t n) { out.push_back(record{t, std::vector<std::uint8_t>(p, p + n)}); };
  return open ? j.open(v) : j.replay(v);
}

record make_record(std::uint32_t i, std::size_t max) {
  record r{static_cast<std::uint8_t>(i % 7), {}};
  const std::size_t n = (i * 13u) % (max + 1);
  for (std::size_t k = 0; k < n; ++k) r.data.push_back(static_cast<std::uint8_t>(i * 31u + k));
  return r;
}

// ---- the tracker workload used by the power-cut tests
using tracker = offseq::commit_tracker<4, 32>;
using tlog = offseq::tracker_log<tracker>;
using tjournal = offseq::journal<sim_flash, tlog::max_record_bytes, 16>;

using tstate = std::vector<std::int64_t>;  // per partition: position, then the window bytes
tstate state_of(const tracker& t) {
  tstate s;
  for (std::size_t p = 0; p < tracker::partitions(); ++p) {
    const auto snap = t.snapshot(p);
    s.push_back(snap.position);
    for (std::size_t i = 0; i < tracker::window_bytes; ++i) s.push_back(snap.completed[i]);
  }
  return s;
}

struct workload_result {
  tstate last_synced;   // state of the last flush that returned ok (or the initial state)
  tstate in_flight;     // state the interrupted flush was writing (== last_synced if none)
  bool cut = false, formatted = false;
  std::size_t ops = 0, flushes = 0, compactions = 0;
};

// >= 1,000 mixed operations (commits, single completions, range completions; reassignments),
// a durable flush every 25 of them. Stops at the first failed flush (the power is gone).
workload_result run_workload(sim_flash& f, std::size_t ops) {
  workload_result r;
  tracker t;
  tlog log;
  tjournal j(f);
  r.last_synced = r.in_flight = state_of(t);
  if (j.format() != status::ok) {
    r.cut = true;
    return r;
  }
  r.formatted = true;
  std::mt19937_64 rng(42);
  tracker::generation g[4];
  for (std::size_t p = 0; p < 4; ++p) g[p] = t.assign(p);
  for (std::size_t i = 0; i < ops; ++i) {
    const std::size_t p = rng() % 4;
    const std::int64_t floor = t.committed(p);
    switch (rng() % 8) {
      case 0: (void)t.commit(p, floor + 1 + static_cast<std::int64_t>(rng() % 3), g[p]); break;
      case 1: (void)t.complete_range(p, floor + 2 + static_cast<std::int64_t>(rng() % 20), floor + 4 + static_cast<std::int64_t>(rng() % 24), g[p]); break;
      case 2: g[p] = t.assign(p); break;
      default: (void)t.complete(p, floor + static_cast<std::int64_t>(rng() % 30), g[p]); break;
    }
    ++r.ops;
    if (i % 25 == 24 || i + 1 == ops) {
      r.in_flight = state_of(t);
      const std::uint64_t gen = j.generation();
      const status s = log.flush(j, t);
      if (s != status::ok) {
        r.cut = true;
        return r;
      }
      if (j.generation() != gen) ++r.compactions;
      ++r.flushes;
      r.last_synced = r.in_flight;
    }
  }
  return r;
}

tstate recover(sim_flash& f, status& st) {
  tracker t;
  tjournal j(f);
  st = tlog::load(j, t);
  return state_of(t);
}

struct geometry {
  std::size_t size, erase_block, unit;
  bool half;
};

std::uint64_t cut_everywhere(const geometry& geo, std::size_t ops) {
  sim_flash clean(geo.size, geo.erase_block, geo.unit);
  const workload_result full = run_workload(clean, ops);
  REQUIRE_FALSE(full.cut);
  REQUIRE(full.ops >= 1000);
  REQUIRE(full.compactions >= 2);  // cuts inside compactions are covered too
  const std::uint64_t total = clean.cut_points();
  std::uint64_t tested = 0;
  for (std::uint64_t c = 0; c < total; c += cut_step) {
    sim_flash f(geo.size, geo.erase_block, geo.unit);
    f.half_program(geo.half);
    f.cut_after(c);
    const workload_result r = run_workload(f, ops);
    REQUIRE(r.cut);
    f.power_on();
    status st;
    const tstate got = recover(f, st);
    const bool before_format = !r.formatted && st == status::not_found;
    if (!(st == status::ok || before_format) || (got != r.last_synced && got != r.in_flight)) {
      FAIL("cut after byte " << c << ": recovery " << offseq::to_string(st) << ", state matches neither the last sync nor the flush in flight");
    }
    // Appends after recovery continue past the torn bytes, never over them, and survive.
    {
      tracker t;
      tlog log;
      tjournal j(f);
      status s = tlog::load(j, t);
      if (s == status::not_found) s = j.format();
      REQUIRE(s == status::ok);
      const auto g = t.assign(0);
      REQUIRE(t.commit(0, t.committed(0) + 5, g) == status::ok);
      REQUIRE(log.flush(j, t) == status::ok);
      const tstate want = state_of(t);
      status s2;
      REQUIRE(recover(f, s2) == want);
      REQUIRE(s2 == status::ok);
    }
    REQUIRE(f.overwrite_errors() == 0);
    ++tested;
  }
  return tested;
}
}  // namespace

TEST_CASE("crc32c: the Castagnoli check value, and incremental == one shot") {
  static_assert(offseq::crc32c("123456789", 9) == 0xE3069283u, "check value");
  const char* s = "123456789";
  CHECK(offseq::crc32c(s + 4, 5, offseq::crc32c(s, 4)) == 0xE3069283u);
  const std::uint8_t zeros[32] = {};
  CHECK(offseq::crc32c(zeros, 32) == 0x8A9136AAu);  // RFC 3720 B.4 test vector
}

TEST_CASE("encoding: little-endian fields and varints do not depend on the host") {
  std::uint8_t b[10];
  offseq::detail::put_u32(b, 0x11223344u);
  CHECK(b[0] == 0x44);
  CHECK(b[3] == 0x11);
  CHECK(offseq::detail::get_u32(b) == 0x11223344u);
  std::size_t n = offseq::detail::put_varint(b, 300);
  CHECK(n == 2);
  CHECK(b[0] == 0xAC);
  CHECK(b[1] == 0x02);
  std::size_t at = 0;
  std::uint64_t v = 0;
  CHECK(offseq::detail::get_varint(b, n, &at, &v));
  CHECK(v == 300);
  at = 0;
  CHECK_FALSE(offseq::detail::get_varint(b, 1, &at, &v));  // truncated
  std::uint8_t over[11];
  for (auto& x : over) x = 0xFF;
  at = 0;
  CHECK_FALSE(offseq::detail::get_varint(over, 11, &at, &v));  // longer than 64 bits
}

TEST_CASE("encoding: a record byte by byte (README table)") {
  sim_flash f(4096, 512, 1);
  small_journal j(f);
  REQUIRE(j.format() == status::ok);
  const std::size_t at = j.append_offset();
  const std::uint8_t payload[3] = {0xAA, 0xBB, 0xCC};
  REQUIRE(j.append(0x42, payload, 3) == status::ok);
  const std::uint8_t* r = f.bytes().data() + at;  // format compacted into area 0
  CHECK(r[0] == 0x6F);
  CHECK(r[1] == 0x6A);
  CHECK(r[2] == 1);
  CHECK(r[3] == 0x42);
  CHECK(r[4] == 3);
  CHECK(r[5] == 0);
  CHECK(r[6] == 0xFC);
  CHECK(r[7] == 0xFF);
  CHECK(r[16] == 0xAA);
  CHECK(r[18] == 0xCC);
  CHECK(offseq::detail::get_u32(r + 19) == offseq::crc32c(r, 19));
  CHECK(r[23] == 0xFF);  // nothing written behind the record
  CHECK(j.record_bytes(3) == 23);
}

TEST_CASE("open: blank storage is not_found until format; bad geometry is invalid_argument") {
  sim_flash f(4096, 512, 4);
  small_journal j(f);
  std::vector<record> got;
  CHECK(replay_all(j, got) == status::not_found);
  CHECK(j.append(1, "x", 1) == status::invalid_state);
  CHECK(j.sync() == status::invalid_state);
  REQUIRE(j.format() == status::ok);
  CHECK(j.generation() == 1);
  CHECK(replay_all(j, got) == status::ok);
  CHECK(got.empty());

  sim_flash tiny(256, 128, 4);  // an area cannot hold a full record
  small_journal jt(tiny);
  CHECK(jt.format() == status::invalid_argument);
  sim_flash wide(4096, 512, 64);  // program unit above MaxProgramUnit
  small_journal jw(wide);
  CHECK(jw.format() == status::invalid_argument);
}

TEST_CASE("append: bad arguments change nothing") {
  sim_flash f(4096, 512, 4);
  small_journal j(f);
  REQUIRE(j.format() == status::ok);
  const std::size_t at = j.append_offset();
  std::uint8_t big[65] = {};
  CHECK(j.append(1, big, 65) == status::invalid_argument);
  CHECK(j.append(0xF0, big, 1) == status::invalid_argument);
  CHECK(j.append(1, nullptr, 3) == status::invalid_argument);
  CHECK(j.append_offset() == at);
  CHECK(j.append(1, nullptr, 0) == status::ok);  // an empty payload is a record
}

TEST_CASE("§5.1 write-ahead: what append+sync reported done is replayed after a restart") {
  sim_flash f(8192, 1024, 8);
  std::vector<record> want;
  {
    small_journal j(f);
    REQUIRE(j.format() == status::ok);
    for (std::uint32_t i = 0; i < 40; ++i) {
      const record r = make_record(i, 64);
      REQUIRE(j.append(r.type, r.data.data(), r.data.size()) == status::ok);
      want.push_back(r);
    }
    REQUIRE(j.sync() == status::ok);
  }
  small_journal j2(f);
  std::vector<record> got;
  REQUIRE(replay_all(j2, got) == status::ok);
  CHECK(got == want);
  std::vector<record> again;
  CHECK(replay_all(j2, again, false) == status::ok);
  CHECK(again == want);
  CHECK(f.overwrite_errors() == 0);
}

TEST_CASE("§5.2 torn writes are detected and recovery stops at the last intact record") {
  for (const std::size_t unit : {std::size_t{1}, std::size_t{4}, std::size_t{16}}) {
    for (const bool half : {false, true}) {
      CAPTURE(unit);
      CAPTURE(half);
      const record last = make_record(5, 64);
      const std::size_t bytes = small_journal::header_bytes + last.data.size() + small_journal::crc_bytes;
      for (std::size_t cut = 0; cut < bytes; ++cut) {
        sim_flash f(4096, 512, unit);
        f.half_program(half);
        std::vector<record> want;
        {
          small_journal j(f);
          REQUIRE(j.format() == status::ok);
          for (std::uint32_t i = 0; i < 3; ++i) {
            const record r = make_record(i + 1, 40);
            REQUIRE(j.append(r.type, r.data.data(), r.data.size()) == status::ok);
            want.push_back(r);
          }
          REQUIRE(j.sync() == status::ok);
          f.cut_after(cut);
          CHECK(j.append(last.type, last.data.data(), last.data.size()) == status::io_error);
        }
        f.power_on();
        small_journal j(f);
        std::vector<record> got;
        REQUIRE(replay_all(j, got) == status::ok);  // a torn tail is not corruption
        if (got.size() == want.size() + 1) want.push_back(last);  // the cut spared it: a later state
        CHECK(got == want);
        // The next append goes past the torn units and the log reads through them.
        const record next = make_record(9, 64);
        REQUIRE(j.append(next.type, next.data.data(), next.data.size()) == status::ok);
        REQUIRE(j.sync() == status::ok);
        want.push_back(next);
        small_journal j2(f);
        REQUIRE(replay_all(j2, got) == status::ok);
        CHECK(got == want);
        CHECK(f.overwrite_errors() == 0);
      }
    }
  }
}

TEST_CASE("§5.3 a power cut at any byte of any write loses nothing a completed sync covered") {
  // Every byte of every write (and every erase block) of >= 1,000 mixed tracker operations
  // with a durable flush every 25, in three flash geometries, compactions included. After
  // each cut: recovery equals the last completed flush or the one in flight, and appends
  // after recovery never program over torn bytes.
  const geometry geos[] = {
      {2048, 256, 1, false},  // byte-programmable (EEPROM, file)
      {2048, 256, 4, false},  // 4-byte words
      {2048, 256, 8, true},   // NOR with 8-byte ECC units, cut mid-pulse
      {2048, 256, 16, true},  // 16-byte units (STM32H7-like)
  };
  std::uint64_t tested = 0;
  for (const geometry& g : geos) tested += cut_everywhere(g, 1000);
  const std::string how = cut_step == 1 ? " (every byte)" : " (every 5th byte under TSan)";
  MESSAGE("power-cut points tested: " << tested << how);
  // Under TSan only every cut_step-th byte is cut; the coverage bound scales with it.
  CHECK(tested * cut_step > 3000);
}

// A formatted small journal holding `count` synced records of up to 40 bytes, with the
// offset each one was written at.
struct synced_records {
  sim_flash flash{8192, 1024, 4};
  std::vector<record> all;
  std::vector<std::size_t> offsets;
};
synced_records write_synced(std::uint32_t count) {
  synced_records w;
  small_journal j(w.flash);
  REQUIRE(j.format() == status::ok);
  for (std::uint32_t i = 0; i < count; ++i) {
    const record r = make_record(i, 40);
    w.offsets.push_back(j.append_offset());
    REQUIRE(j.append(r.type, r.data.data(), r.data.size()) == status::ok);
    w.all.push_back(r);
  }
  REQUIRE(j.sync() == status::ok);
  return w;
}

TEST_CASE("damage: a bit flip in the middle is corrupt, every record before it is kept") {
  const synced_records w = write_synced(12);
  const sim_flash& clean = w.flash;
  const std::vector<record>& all = w.all;
  const std::vector<std::size_t>& offsets = w.offsets;
  std::mt19937 rng(7);
  for (std::size_t k = 0; k + 1 < offsets.size(); ++k) {  // the last one would be a torn tail
    for (int trial = 0; trial < 8; ++trial) {
      sim_flash f = clean;
      const std::size_t len = small_journal::header_bytes + all[k].data.size() + small_journal::crc_bytes;
      f.flip(offsets[k] + rng() % len, static_cast<unsigned>(rng() % 8));
      small_journal j(f);
      std::vector<record> got;
      CHECK(replay_all(j, got) == status::corrupt);
      CHECK(got == std::vector<record>(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k)));
      CHECK(j.damaged());
      CHECK(j.append(1, "x", 1) == status::corrupt);  // refuse to build on damage
      // Compaction writes the kept state afresh and clears the damage.
      REQUIRE(j.compact([&](small_journal& jj) {
        for (const record& r : got)
          if (jj.append(r.type, r.data.data(), r.data.size()) != status::ok) return status::io_error;
        return status::ok;
      }) == status::ok);
      CHECK_FALSE(j.damaged());
      small_journal j2(f);
      std::vector<record> after;
      CHECK(replay_all(j2, after) == status::ok);
      CHECK(after == got);
    }
  }
}

TEST_CASE("damage: truncated storage is corrupt from the missing bytes on, the rest kept") {
  const synced_records w = write_synced(10);
  const sim_flash& clean = w.flash;
  const std::vector<record>& all = w.all;
  const std::vector<std::size_t>& offsets = w.offsets;
  for (std::size_t k = 0; k < offsets.size(); ++k) {
    sim_flash f = clean;
    f.truncate(offsets[k] + 5);
    small_journal j(f);
    std::vector<record> got;
    CHECK(replay_all(j, got) == status::corrupt);
    CHECK(got == std::vector<record>(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k)));
  }
}

TEST_CASE("damage: a lost header of the newest area is corrupt, never the older state") {
  sim_flash f(4096, 512, 4);
  {
    small_journal j(f);
    REQUIRE(j.format() == status::ok);
    REQUIRE(j.append(1, "old", 3) == status::ok);
    REQUIRE(j.compact([](small_journal& jj) { return jj.append(2, "new", 3); }) == status::ok);
    REQUIRE(j.sync() == status::ok);
    CHECK(j.generation() == 2);
  }
  // Area 1 (generation 2) is the newest; area 0 says it was superseded by generation 2.
  f.flip(2048 + 20, 3);  // inside area 1's header record
  small_journal j(f);
  std::vector<record> got;
  CHECK(replay_all(j, got) == status::corrupt);
  CHECK(got.empty());
}

TEST_CASE("compaction: the snapshot replaces the log only once sealed and synced") {
  sim_flash f(4096, 512, 4);
  small_journal j(f);
  REQUIRE(j.format() == status::ok);
  REQUIRE(j.append(1, "a", 1) == status::ok);
  REQUIRE(j.sync() == status::ok);
  // A writer that fails: the old area stays, nothing lost, appends continue there.
  CHECK(j.compact([](small_journal& jj) {
    (void)jj.append(2, "half", 4);
    return status::io_error;
  }) == status::io_error);
  CHECK(j.generation() == 1);
  REQUIRE(j.append(1, "b", 1) == status::ok);
  REQUIRE(j.sync() == status::ok);
  small_journal j2(f);
  std::vector<record> got;
  REQUIRE(replay_all(j2, got) == status::ok);
  REQUIRE(got.size() == 2);
  CHECK(got[1].data == std::vector<std::uint8_t>{'b'});
  // Compacting from inside a writer is refused.
  CHECK(j2.compact([](small_journal& jj) { return jj.compact([](small_journal&) { return status::ok; }); }) ==
        status::invalid_state);
  CHECK(f.overwrite_errors() == 0);
}

TEST_CASE("full storage: table_full, and nothing written is lost") {
  sim_flash f(2048, 256, 4);
  small_journal j(f);
  REQUIRE(j.format() == status::ok);
  std::vector<record> want;
  std::uint8_t payload[64];
  for (std::size_t i = 0; i < 64; ++i) payload[i] = static_cast<std::uint8_t>(i);
  status s = status::ok;
  while ((s = j.append(3, payload, 64)) == status::ok) want.push_back(record{3, std::vector<std::uint8_t>(payload, payload + 64)});
  CHECK(s == status::table_full);
  CHECK(j.free_bytes() < j.record_bytes(64));
  REQUIRE(j.sync() == status::ok);
  const std::size_t at = j.append_offset();
  CHECK(j.append(3, payload, 64) == status::table_full);
  CHECK(j.append_offset() == at);  // table_full wrote nothing
  // A snapshot that does not fit the other area either: table_full, old area intact.
  CHECK(j.compact([&](small_journal& jj) {
    for (std::size_t i = 0; i < want.size() + 1; ++i) {
      const status a = jj.append(3, payload, 64);
      if (a != status::ok) return a;
    }
    return status::ok;
  }) == status::table_full);
  small_journal j2(f);
  std::vector<record> got;
  REQUIRE(replay_all(j2, got) == status::ok);
  CHECK(got == want);
}

TEST_CASE("io_error: a failed write counts as torn even if it landed; the journal stays consistent") {
  sim_flash f(4096, 512, 4);
  small_journal j(f);
  REQUIRE(j.format() == status::ok);
  REQUIRE(j.append(1, "keep", 4) == status::ok);
  f.fail_writes(true);
  CHECK(j.append(2, "lost", 4) == status::io_error);
  CHECK(j.append(2, "lost", 4) == status::io_error);  // the skip record fails too
  f.fail_writes(false);
  REQUIRE(j.append(3, "next", 4) == status::ok);
  REQUIRE(j.sync() == status::ok);
  small_journal j2(f);
  std::vector<record> got;
  REQUIRE(replay_all(j2, got) == status::ok);
  REQUIRE(got.size() == 2);
  CHECK(got[0].type == 1);
  CHECK(got[1].type == 3);
  CHECK(f.overwrite_errors() == 0);
}

TEST_CASE("tracker_log: positions and completion windows survive a restart") {
  sim_flash f(8192, 1024, 8);
  tracker t;
  tlog log;
  tjournal j(f);
  REQUIRE(j.format() == status::ok);
  const auto g = t.assign(1);
  REQUIRE(t.commit(1, 100, g) == status::ok);
  REQUIRE(t.complete(1, 103, g) == status::ok);
  REQUIRE(t.complete_range(1, 110, 113, g) == status::ok);
  REQUIRE(log.flush(j, t) == status::ok);
  const std::uint64_t syncs = f.syncs();
  REQUIRE(log.flush(j, t) == status::ok);  // nothing changed: no write, no sync
  CHECK(f.syncs() == syncs);
  tracker t2;
  tjournal j2(f);
  REQUIRE(tlog::load(j2, t2) == status::ok);
  CHECK(t2.committed(1) == 100);
  CHECK(t2.is_completed(1, 103));
  CHECK(t2.is_completed(1, 112));
  CHECK_FALSE(t2.is_completed(1, 101));
  CHECK(t2.committed(0) == 0);
  // A malformed tracker record is corrupt.
  const std::uint8_t bad[3] = {9, 1, 0};  // partition 9 of 4
  CHECK(tlog::apply(t2, tlog::type, bad, 3) == status::corrupt);
  const std::uint8_t trunc[2] = {1, 0x80};
  CHECK(tlog::apply(t2, tlog::type, trunc, 2) == status::corrupt);
  CHECK(tlog::apply(t2, 0x55, bad, 3) == status::ok);  // other types are not its business
}

// ------------------------------------------------------------------------------------------
// Every engine in one journal: sequence_table (producer_log), txn_coordinator (txn_log),
// txn_index (txn_index_log) beside the commit tracker.
// ------------------------------------------------------------------------------------------
namespace {
using table = offseq::sequence_table<8, 3>;
using plog = offseq::producer_log<table>;
using tindex = offseq::txn_index<4, 8>;
using xlog = offseq::txn_index_log<tindex>;
using mjournal = offseq::journal<sim_flash, 1024, 16>;

struct mhooks;
using coord = offseq::txn_coordinator<4, 4, 2, 16, mhooks>;
using clog = offseq::txn_log<coord>;

// Engine states as comparable strings.
template <class T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}
std::string table_state(const table& t) {
  std::vector<std::string> rows;
  t.for_each_producer([&](const table::producer_snapshot& p) {
    std::string r;
    put(r, p.producer_id);
    put(r, p.epoch);
    put(r, p.last_seen_ms);
    put(r, p.count);
    for (std::size_t k = 0; k < p.count; ++k) {
      put(r, p.batches[k].first_seq);
      put(r, p.batches[k].last_seq);
      put(r, p.batches[k].base_offset);
    }
    rows.push_back(r);
  });
  std::sort(rows.begin(), rows.end());
  std::string s;
  for (const auto& r : rows) s += r + "|";
  return s;
}
std::string coord_state(const coord& c) {
  std::map<std::string, std::string> m;
  c.for_each_record([&](const coord::log_record& r) {
    std::uint8_t b[clog::max_record_bytes];
    m[std::string(r.id, r.id_length)] = std::string(reinterpret_cast<const char*>(b), clog::encode(r, b));
  });
  std::string s;
  for (const auto& kv : m) s += kv.first + "=" + kv.second + "|";
  return s;
}
std::string index_state(const tindex& x) {
  std::string s;
  put(s, x.log_start());
  put(s, x.high_watermark());
  put(s, x.log_end());
  std::vector<std::string> open;
  x.for_each_open([&](const offseq::open_txn& e) {
    std::string r;
    put(r, e.producer_id);
    put(r, e.first_offset);
    put(r, e.marker_offset);
    put(r, e.epoch);
    open.push_back(r);
  });
  std::sort(open.begin(), open.end());
  for (const auto& r : open) s += r;
  s += "|";
  x.for_each_aborted([&](const offseq::aborted_txn& e) {
    put(s, e.producer_id);
    put(s, e.first_offset);
    put(s, e.last_offset);
  });
  return s;
}
std::string tracker_state(const tracker& t) {
  std::string s;
  for (std::int64_t v : state_of(t)) put(s, v);
  return s;
}

// What may be recovered, per engine: the state of its last ok flush/append and every state a
// write since then could have made durable (a flush in flight, a compaction's snapshot).
enum engine { e_tracker, e_table, e_coord, e_index, n_engines };
const char* engine_name[] = {"tracker", "producers", "coordinator", "txn_index"};

struct mixed {
  sim_flash& f;
  mjournal j;
  tracker t;
  tlog tl;
  table seq;
  plog pl;
  tindex ix;
  xlog xl;
  mhooks* h = nullptr;
  coord* c = nullptr;
  std::vector<std::string> cand[n_engines];
  std::size_t compactions = 0;
  explicit mixed(sim_flash& fl) : f(fl), j(fl) {}
  std::string state(int e) const {
    switch (e) {
      case e_tracker: return tracker_state(t);
      case e_table: return table_state(seq);
      case e_coord: return coord_state(*c);
      default: return index_state(ix);
    }
  }
  void settle(int e) { cand[e] = {state(e)}; }  // after an ok sync: only this state or later
  status write_all(mjournal& jj) {
    ++compactions;
    for (int e = 0; e < n_engines; ++e) cand[e].push_back(state(e));
    status s = tl.write_snapshot(jj, t);
    if (s == status::ok) s = pl.write_snapshot(jj, seq);
    if (s == status::ok) s = clog::write_snapshot(jj, *c);
    if (s == status::ok) s = xl.write_snapshot(jj, ix);
    return s;
  }
  std::function<status(mjournal&)> writer() {
    return [this](mjournal& jj) { return write_all(jj); };
  }
};

struct mhooks {
  mixed* m = nullptr;
  std::vector<offseq::txn_marker> sent;
  std::int64_t next_pid = 100;
  status log_append(const coord::log_record& r) noexcept {
    // The state this record makes durable: the coordinator's durable records with r applied.
    std::map<std::string, std::string> cur;
    m->c->for_each_record([&](const coord::log_record& x) {
      std::uint8_t b[clog::max_record_bytes];
      cur[std::string(x.id, x.id_length)] = std::string(reinterpret_cast<const char*>(b), clog::encode(x, b));
    });
    std::uint8_t b[clog::max_record_bytes];
    if (r.state == offseq::txn_state::dead)
      cur.erase(std::string(r.id, r.id_length));
    else
      cur[std::string(r.id, r.id_length)] = std::string(reinterpret_cast<const char*>(b), clog::encode(r, b));
    std::string s;
    for (const auto& kv : cur) s += kv.first + "=" + kv.second + "|";
    m->cand[e_coord].push_back(s);
    return clog::append(m->j, r, [this](mjournal& jj) { return m->write_all(jj); });
  }
  status send_marker(const offseq::txn_marker& mk) noexcept {
    sent.push_back(mk);
    return status::ok;
  }
  status allocate_producer_id(std::int64_t& out) noexcept {
    out = next_pid++;
    return status::ok;
  }
  status apply_offset(std::uint32_t, std::int64_t) noexcept { return status::ok; }
};

struct mixed_result {
  std::vector<std::string> cand[n_engines];
  bool cut = false, formatted = false;
  std::size_t ops = 0, compactions = 0, appends = 0;
};

// >= 1,000 mixed operations: commits and completions, producer admits (duplicates, new
// epochs, a full table), expiry and erase, transactions (init, add partitions and offsets,
// commit and abort, markers, timeouts), txn_index appends, markers and watermarks. The
// coordinator logs each transition synchronously; the other engines flush every 25 ops.
mixed_result run_mixed(sim_flash& f, std::size_t ops) {
  mixed_result res;
  mixed m(f);
  mhooks h;
  h.m = &m;
  offseq::txn_config cfg;
  cfg.id_expiry_ms = 200000;
  coord c(h, cfg);
  m.h = &h;
  m.c = &c;
  for (int e = 0; e < n_engines; ++e) m.settle(e);
  auto finish = [&](bool cut) {
    for (int e = 0; e < n_engines; ++e) res.cand[e] = m.cand[e];
    res.cut = cut;
    res.compactions = m.compactions;
    return res;
  };
  if (m.j.format() != status::ok) return finish(true);
  res.formatted = true;
  m.compactions = 0;
  std::mt19937_64 rng(99);
  tracker::generation g[4];
  for (std::size_t p = 0; p < 4; ++p) g[p] = m.t.assign(p);
  std::uint64_t now = 1000;
  const char* ids[] = {"alpha", "beta", "gamma"};
  for (std::size_t i = 0; i < ops; ++i) {
    now += 1 + rng() % 500;
    const unsigned op = static_cast<unsigned>(rng() % 16);
    if (op < 5) {  // commit tracker
      const std::size_t p = rng() % 4;
      const std::int64_t floor = m.t.committed(p);
      switch (rng() % 4) {
        case 0: (void)m.t.commit(p, floor + 1 + static_cast<std::int64_t>(rng() % 3), g[p]); break;
        case 1: (void)m.t.complete_range(p, floor + 2, floor + 4 + static_cast<std::int64_t>(rng() % 20), g[p]); break;
        default: (void)m.t.complete(p, floor + static_cast<std::int64_t>(rng() % 30), g[p]); break;
      }
    } else if (op < 9) {  // producer admits: next batch, a retry, a new epoch, an unknown id
      const std::int64_t pid = static_cast<std::int64_t>(rng() % 11);
      table::producer_snapshot ps{};
      std::int16_t epoch = 0;
      std::int32_t first = 0;
      if (m.seq.find(pid, ps) == status::ok) {
        epoch = ps.epoch;
        if (ps.count > 0) first = offseq::sequence_add(ps.batches[ps.count - 1].last_seq, 1);
        const unsigned k = static_cast<unsigned>(rng() % 8);
        if (k == 0 && ps.count > 0) first = ps.batches[0].first_seq;  // may be a duplicate or out of order
        if (k == 1) {
          epoch = static_cast<std::int16_t>(epoch + 1);
          first = 0;
        }
      }
      const std::int32_t count = 1 + static_cast<std::int32_t>(rng() % 5);
      const offseq::batch_header b{pid, epoch, first, offseq::sequence_add(first, count - 1)};
      (void)m.pl.admit(m.seq, b, static_cast<std::int64_t>(i) * 10, now);
    } else if (op == 9) {
      (void)m.pl.expire(m.seq, now, 3000);
    } else if (op == 10) {
      (void)m.pl.erase(m.seq, static_cast<std::int64_t>(rng() % 11));
    } else if (op < 14) {  // transactions
      const char* id = ids[rng() % 3];
      const auto pr = c.producer(id);
      switch (rng() % 7) {
        case 0: (void)c.init_producer_id(id, 20000, now); break;
        case 1:
          if (pr.code == status::ok) (void)c.add_partitions(id, pr.producer_id, pr.epoch, static_cast<std::uint32_t>(rng() % 4), now);
          break;
        case 2:
          if (pr.code == status::ok) (void)c.add_offsets(id, pr.producer_id, pr.epoch, static_cast<std::uint32_t>(rng() % 2), static_cast<std::int64_t>(i), now);
          break;
        case 3:
          if (pr.code == status::ok) (void)c.end_txn(id, pr.producer_id, pr.epoch, rng() % 2 ? offseq::txn_result::commit : offseq::txn_result::abort, now);
          break;
        case 4: {
          std::vector<offseq::txn_marker> batch;
          batch.swap(h.sent);
          for (const auto& mk : batch) (void)c.on_markers_written(mk, now, status::ok);
          break;
        }
        default: (void)c.poll(now + (rng() % 5 == 0 ? 300000 : 0)); break;
      }
      ++res.appends;
    } else {  // txn_index of one data partition
      const std::int64_t pid = static_cast<std::int64_t>(rng() % 5);
      const std::int64_t end = m.ix.log_end();
      switch (rng() % 5) {
        case 0:
        case 1: (void)m.ix.append(pid, 0, end, end + static_cast<std::int64_t>(rng() % 4)); break;
        case 2: (void)m.ix.marker(pid, 0, end, rng() % 2 == 0); break;
        case 3: (void)m.ix.set_high_watermark(end); break;
        default: (void)m.ix.set_log_start(m.ix.high_watermark() - static_cast<std::int64_t>(rng() % 3)); break;
      }
    }
    ++res.ops;
    if (!f.powered()) return finish(true);
    m.settle(e_coord);  // every append of this op returned ok: durable
    if (i % 25 == 24 || i + 1 == ops) {
      m.cand[e_tracker].push_back(m.state(e_tracker));
      if (m.tl.flush(m.j, m.t, m.writer()) != status::ok) return finish(true);
      m.settle(e_tracker);
      m.cand[e_table].push_back(m.state(e_table));
      if (m.pl.flush(m.j, m.seq, m.writer()) != status::ok) return finish(true);
      m.settle(e_table);
      m.cand[e_index].push_back(m.state(e_index));
      if (m.xl.flush(m.j, m.ix, m.writer()) != status::ok) return finish(true);
      m.settle(e_index);
    }
  }
  return finish(false);
}

struct recovered {
  status st;
  std::string s[n_engines];
};
recovered recover_mixed(sim_flash& f) {
  recovered r;
  mixed m(f);
  mhooks h;
  h.m = &m;
  coord c(h);
  m.h = &h;
  m.c = &c;
  r.st = m.j.open([&](std::uint8_t rt, const std::uint8_t* p, std::size_t n) {
    status s = tlog::apply(m.t, rt, p, n);
    if (s == status::ok) s = plog::apply(m.seq, rt, p, n);
    if (s == status::ok) s = clog::apply(c, rt, p, n);
    if (s == status::ok) s = xlog::apply(m.ix, rt, p, n);
    return s;
  });
  for (int e = 0; e < n_engines; ++e) r.s[e] = m.state(e);
  return r;
}
}  // namespace

TEST_CASE("§5.3 every engine in one journal: a power cut at any byte loses nothing synced") {
  // Tracker commits/completions, producer admits/expiry, transactions (every transition
  // logged and synced before it takes effect) and txn_index snapshots, >= 1,000 ops, cut at
  // every byte of every write (every cut_step-th under TSan), compactions included.
  const std::size_t ops = 1000;
  sim_flash clean(16384, 1024, 4);
  const mixed_result full = run_mixed(clean, ops);
  REQUIRE_FALSE(full.cut);
  REQUIRE(full.ops >= 1000);
  REQUIRE(full.appends >= 100);
  REQUIRE(full.compactions >= 2);
  const std::uint64_t total = clean.cut_points();
  std::uint64_t tested = 0;
  for (std::uint64_t cut = 0; cut < total; cut += cut_step) {
    sim_flash f(16384, 1024, 4);
    f.half_program(cut % 2 == 1);
    f.cut_after(cut);
    const mixed_result r = run_mixed(f, ops);
    REQUIRE(r.cut);
    f.power_on();
    const recovered got = recover_mixed(f);
    const bool before_format = !r.formatted && got.st == status::not_found;
    if (!(got.st == status::ok || before_format)) FAIL("cut after byte " << cut << ": recovery " << offseq::to_string(got.st));
    for (int e = 0; e < n_engines; ++e) {
      const auto& c = r.cand[e];
      if (std::find(c.begin(), c.end(), got.s[e]) == c.end())
        FAIL("cut after byte " << cut << ": " << std::string(engine_name[e]) << " state matches no state since its last sync");
    }
    REQUIRE(f.overwrite_errors() == 0);
    ++tested;
  }
  MESSAGE("mixed engines: power-cut points tested: " << tested << " (" << full.ops << " ops, " << full.compactions
                                                      << " compactions)");
  CHECK(tested * cut_step > 10000);
}

TEST_CASE("producer_log: every retained batch, removals and epochs survive a restart") {
  sim_flash f(8192, 1024, 8);
  mjournal j(f);
  REQUIRE(j.format() == status::ok);
  table t;
  plog pl;
  for (std::int32_t k = 0; k < 5; ++k)  // History 3: the last three batches are kept
    REQUIRE(pl.admit(t, offseq::batch_header{7, 2, k * 10, k * 10 + 9}, 100 + k, 50).code == status::ok);
  REQUIRE(pl.admit(t, offseq::batch_header{8, 0, 0, 0}, 200, 60).code == status::ok);
  REQUIRE(pl.admit(t, offseq::batch_header{9, 0, 0, 0}, 300, 10).code == status::ok);
  CHECK(pl.admit(t, offseq::batch_header{8, 0, 0, 0}, 201, 70).code == status::duplicate);  // not noted
  REQUIRE(pl.erase(t, 8) == status::ok);
  CHECK(pl.expire(t, 1000, 960) == 1);  // producer 9 (seen at 10)
  CHECK(pl.changed() == 3);
  REQUIRE(pl.flush(j, t) == status::ok);
  CHECK(pl.changed() == 0);
  const std::uint64_t syncs = f.syncs();
  REQUIRE(pl.flush(j, t) == status::ok);  // nothing noted: no write, no sync
  CHECK(f.syncs() == syncs);
  table t2;
  mjournal j2(f);
  REQUIRE(plog::load(j2, t2) == status::ok);
  CHECK(table_state(t2) == table_state(t));
  CHECK(t2.size() == 1);
  table::producer_snapshot ps{};
  REQUIRE(t2.find(7, ps) == status::ok);
  CHECK(ps.count == 3);
  CHECK(ps.batches[0].first_seq == 20);
  CHECK(ps.epoch == 2);
  // A retry of a retained batch after the restart is still a duplicate at its first offset.
  const offseq::verdict v = t2.check(offseq::batch_header{7, 2, 30, 39});
  CHECK(v.code == status::duplicate);
  CHECK(v.offset == 103);
}

TEST_CASE("producer_log: an epoch raised by a marker survives a restart and still fences the zombie") {
  sim_flash f(8192, 1024, 8);
  mjournal j(f);
  REQUIRE(j.format() == status::ok);
  table t;
  plog pl;
  REQUIRE(pl.admit(t, offseq::batch_header{7, 2, 0, 9}, 100, 50).code == status::ok);
  CHECK(pl.record_marker(t, 7, 1, 60) == status::fenced);  // older epoch: refused, not noted
  REQUIRE(pl.flush(j, t) == status::ok);
  REQUIRE(pl.record_marker(t, 7, 3, 70) == status::ok);  // fencing abort wrote epoch 3
  REQUIRE(pl.record_marker(t, 11, 0, 70) == status::ok);  // a producer first seen by its marker
  CHECK(pl.changed() == 2);
  REQUIRE(pl.flush(j, t) == status::ok);
  table t2;
  mjournal j2(f);
  REQUIRE(plog::load(j2, t2) == status::ok);
  CHECK(table_state(t2) == table_state(t));
  table::producer_snapshot ps{};
  REQUIRE(t2.find(7, ps) == status::ok);
  CHECK(ps.epoch == 3);
  CHECK(ps.count == 0);  // history cleared with the new epoch
  CHECK(t2.check(offseq::batch_header{7, 2, 10, 19}).code == status::fenced);  // the zombie
  REQUIRE(t2.find(11, ps) == status::ok);
  CHECK(ps.epoch == 0);
}

TEST_CASE("producer_log: a removal after an addition in one record makes room on replay") {
  // Noted order X, Z, Y on a full table: the record is [X, Z, remove Y]; replay must free Y's
  // slot before it adds X and Z, or a full table refuses them (found in review).
  using small = offseq::sequence_table<3, 3>;
  using slog = offseq::producer_log<small>;
  sim_flash f(8192, 1024, 8);
  mjournal j(f);
  REQUIRE(j.format() == status::ok);
  small t;
  slog pl;
  REQUIRE(pl.admit(t, offseq::batch_header{1, 0, 0, 0}, 10, 1).code == status::ok);  // Y
  REQUIRE(pl.admit(t, offseq::batch_header{2, 0, 0, 0}, 20, 1).code == status::ok);  // A
  REQUIRE(pl.flush(j, t) == status::ok);
  REQUIRE(pl.admit(t, offseq::batch_header{3, 0, 0, 0}, 30, 2).code == status::ok);  // X
  REQUIRE(pl.erase(t, 3) == status::ok);
  REQUIRE(pl.admit(t, offseq::batch_header{4, 0, 0, 0}, 40, 2).code == status::ok);  // Z
  REQUIRE(pl.erase(t, 1) == status::ok);
  REQUIRE(pl.admit(t, offseq::batch_header{3, 0, 0, 0}, 31, 3).code == status::ok);  // X again
  REQUIRE(pl.flush(j, t) == status::ok);
  small t2;
  mjournal j2(f);
  REQUIRE(slog::load(j2, t2) == status::ok);
  CHECK(t2.size() == 3);
  small::producer_snapshot ps{};
  CHECK(t2.find(1, ps) == status::not_found);
  for (std::int64_t id : {2, 3, 4}) CHECK(t2.find(id, ps) == status::ok);
  CHECK(t2.check(offseq::batch_header{4, 0, 0, 0}).code == status::duplicate);  // Z's retry
}

TEST_CASE("producer_log: changes beyond one record, or beyond the list, flush by compaction") {
  sim_flash f(16384, 1024, 8);
  using tiny_journal = offseq::journal<sim_flash, plog::max_entry_bytes, 16>;  // one producer per record
  tiny_journal j(f);
  REQUIRE(j.format() == status::ok);
  table t;
  plog pl;
  const std::int32_t s0 = 1 << 30;  // large values: long varints, one entry per record
  const std::int64_t o0 = std::int64_t{1} << 62;
  for (std::int64_t id = 0; id < 4; ++id)
    for (std::int32_t k = 0; k < 3; ++k)
      REQUIRE(pl.admit(t, offseq::batch_header{id, 0, s0 + k, s0 + k}, o0 + id * 100 + k, ~0ull >> 1).code == status::ok);
  const std::uint64_t gen = j.generation();
  REQUIRE(pl.flush(j, t) == status::ok);
  CHECK(j.generation() == gen + 1);  // four producers do not fit one record: compacted
  table t2;
  tiny_journal j2(f);
  REQUIRE(plog::load(j2, t2) == status::ok);
  CHECK(table_state(t2) == table_state(t));
  // More ids noted than the table holds (churn): the next flush compacts too.
  for (std::int64_t id = 100; id < 110; ++id) {
    REQUIRE(pl.admit(t, offseq::batch_header{id, 0, 0, 0}, 1, 5).code != status::invalid_argument);
    (void)pl.erase(t, id);
  }
  CHECK(pl.changed() == table::capacity + 1);
  REQUIRE(pl.flush(j, t) == status::ok);
  CHECK(j.generation() == gen + 2);
  table t3;
  tiny_journal j3(f);
  REQUIRE(plog::load(j3, t3) == status::ok);
  CHECK(table_state(t3) == table_state(t));
  // A writer that leaves the table out, after an overflow: flush writes the whole table into
  // the new area itself, so ok still means everything is durable.
  for (std::int64_t id = 200; id < 210; ++id) {
    (void)pl.admit(t, offseq::batch_header{id, 0, 0, 0}, 1, 5);
    (void)pl.erase(t, id);
  }
  CHECK(pl.changed() == table::capacity + 1);
  REQUIRE(pl.flush(j, t, [](tiny_journal&) { return status::ok; }) == status::ok);
  CHECK(j.generation() == gen + 3);
  CHECK(pl.changed() == 0);
  table t4;
  tiny_journal j4(f);
  REQUIRE(plog::load(j4, t4) == status::ok);
  CHECK(table_state(t4) == table_state(t));
}

TEST_CASE("producer_log: a malformed record is corrupt and changes nothing") {
  table t;
  REQUIRE(t.admit(offseq::batch_header{1, 0, 0, 4}, 10, 1).code == status::ok);
  const std::string before = table_state(t);
  const std::vector<std::vector<std::uint8_t>> bad = {
      {0x01, 5, 0x07},                 // a removal, then an unknown kind
      {0x00, 2, 0, 1},                 // truncated: no count
      {0x00, 2, 0, 1, 4},              // count above History
      {0x00, 2, 0, 1, 2, 0, 0, 0, 5, 5, 0},  // second batch does not follow the first
      {0x00, 2, 0xFF, 0xFF, 0x03, 1, 0},     // epoch above 32767
      {0x00, 0x80},                    // truncated varint
  };
  for (const auto& b : bad) {
    CAPTURE(b.size());
    CHECK(plog::apply(t, plog::type, b.data(), b.size()) == status::corrupt);
    CHECK(table_state(t) == before);
  }
  const std::uint8_t erase1[] = {0x01, 1, 0x01, 42};  // removals of a known and an unknown id
  CHECK(plog::apply(t, plog::type, erase1, sizeof erase1) == status::ok);
  CHECK(t.size() == 0);
  offseq::sequence_table<1, 3> one;
  const std::uint8_t two[] = {0x00, 1, 0, 0, 0, 0x00, 2, 0, 0, 0};
  CHECK(offseq::producer_log<offseq::sequence_table<1, 3>>::apply(one, plog::type, two, sizeof two) == status::table_full);
}

TEST_CASE("txn_log: record bytes (README table), decode checks sizes, replay checks values") {
  coord::log_record r{};
  r.lsn = 0x0102030405060708ull;
  r.producer_id = 1000;
  r.last_producer_id = -1;
  r.txn_start_ms = 5;
  r.update_ms = 6;
  r.timeout_ms = 60000;
  r.epoch = 3;
  r.last_epoch = -1;
  r.state = offseq::txn_state::ongoing;
  r.id_length = 2;
  r.id[0] = 'i';
  r.id[1] = 'd';
  r.partition_count = 2;
  r.partitions[0] = 7;
  r.partitions[1] = 0x01020304u;
  r.offset_count = 1;
  r.offsets[0] = offseq::txn_offset{99, 1, 0};
  std::uint8_t b[clog::max_record_bytes];
  const std::size_t n = clog::encode(r, b);
  CHECK(n == 52 + 2 + 8 + 12);
  CHECK(b[0] == 0x08);
  CHECK(b[7] == 0x01);
  CHECK(offseq::detail::get_u64(b + 16) == ~0ull);  // -1
  CHECK(b[44] == 3);
  CHECK(b[48] == 1);
  CHECK(b[49] == 2);
  CHECK(b[52] == 'i');
  CHECK(offseq::detail::get_u32(b + 58) == 0x01020304u);
  CHECK(offseq::detail::get_u64(b + 62) == 99);
  coord::log_record d{};
  REQUIRE(clog::decode(b, n, d) == status::ok);
  std::uint8_t b2[clog::max_record_bytes];
  REQUIRE(clog::encode(d, b2) == n);
  CHECK(std::equal(b, b + n, b2));
  CHECK(clog::decode(b, n - 1, d) == status::corrupt);
  CHECK(clog::decode(b, 51, d) == status::corrupt);
  b[49] = 0;  // empty id
  CHECK(clog::decode(b, n - 2, d) == status::corrupt);
  b[49] = 2;
  b[50] = 5;  // more partitions than the coordinator holds
  CHECK(clog::decode(b, n + 12, d) == status::corrupt);
  b[50] = 2;
  // Values are the coordinator's to check: state 9 is corrupt, nothing changes.
  mhooks h;
  coord c(h);
  b[48] = 9;
  CHECK(clog::apply(c, clog::type, b, n) == status::corrupt);
  CHECK(c.size() == 0);
  b[48] = 1;
  CHECK(clog::apply(c, clog::type, b, n) == status::ok);
  CHECK(c.state("id") == offseq::txn_state::ongoing);
  CHECK(clog::apply(c, 0x10, b, 3) == status::ok);  // not its type
}

TEST_CASE("txn_log: a prepared transaction resumes its markers after load") {
  sim_flash f(16384, 1024, 4);
  std::vector<offseq::txn_marker> sent;
  {
    mixed m(f);
    mhooks h;
    h.m = &m;
    coord c(h);
    m.h = &h;
    m.c = &c;
    REQUIRE(m.j.format() == status::ok);
    const auto pr = c.init_producer_id("x", 10000, 1);
    REQUIRE(pr.code == status::ok);
    REQUIRE(c.add_partitions("x", pr.producer_id, pr.epoch, 3, 2) == status::ok);
    REQUIRE(c.end_txn("x", pr.producer_id, pr.epoch, offseq::txn_result::commit, 3) == status::ok);
    CHECK(h.sent.size() == 1);  // the marker went out; the power goes before its answer
  }
  mixed m(f);
  mhooks h;
  h.m = &m;
  coord c(h);
  m.h = &h;
  m.c = &c;
  REQUIRE(clog::load(m.j, c, 10) == status::ok);
  CHECK(c.state("x") == offseq::txn_state::prepare_commit);
  REQUIRE(h.sent.size() == 1);  // re-sent by resume
  CHECK(h.sent[0].partition == 3);
  REQUIRE(c.on_markers_written(h.sent[0], 11, status::ok) == status::ok);
  CHECK(c.state("x") == offseq::txn_state::complete_commit);  // logged through the journal
  coord c2(h);
  mixed m2(f);
  REQUIRE(clog::load(m2.j, c2, 12) == status::ok);
  CHECK(c2.state("x") == offseq::txn_state::complete_commit);
}

TEST_CASE("txn_index_log: the index survives a restart; unchanged writes nothing; bad records change nothing") {
  sim_flash f(8192, 1024, 8);
  mjournal j(f);
  REQUIRE(j.format() == status::ok);
  tindex x;
  xlog xl;
  REQUIRE(x.append(1, 0, 0, 4) == status::ok);
  REQUIRE(x.append(2, 1, 5, 6) == status::ok);
  REQUIRE(x.marker(1, 0, 7, false) == status::ok);  // abort: indexed
  REQUIRE(x.set_high_watermark(6) == status::ok);
  REQUIRE(xl.flush(j, x) == status::ok);
  const std::uint64_t syncs = f.syncs();
  REQUIRE(xl.flush(j, x) == status::ok);
  CHECK(f.syncs() == syncs);
  REQUIRE(x.set_high_watermark(8) == status::ok);
  REQUIRE(xl.flush(j, x) == status::ok);
  CHECK(f.syncs() == syncs + 1);
  tindex x2;
  mjournal j2(f);
  REQUIRE(xlog::load(j2, x2) == status::ok);
  CHECK(index_state(x2) == index_state(x));
  CHECK(x2.last_stable_offset() == x.last_stable_offset());
  CHECK(x2.should_skip(1, 2));
  const std::string before = index_state(x2);
  const std::vector<std::vector<std::uint8_t>> bad = {
      {5, 4, 9, 0, 0},                // log_start above the high watermark
      {0, 4, 9, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},  // more open than slots
      {0, 4, 9, 2, 1, 0, 0, 0, 1, 2, 0, 0, 0},  // two still-open entries of producer 1
      {0, 4, 9, 1, 1, 3, 2, 0, 0},    // marker (1) not above first (3)
      {0, 4, 9, 0, 2, 1, 0, 5, 2, 0, 4},  // aborted entries out of marker order
      {0, 4, 9, 0, 1, 1, 0, 9},       // aborted last_offset at log_end
      {0, 4, 9, 0, 0, 7},             // trailing bytes
      {0, 4},                         // truncated
  };
  for (std::size_t k = 0; k < bad.size(); ++k) {
    CAPTURE(k);
    CHECK(xlog::apply(x2, xlog::type, bad[k].data(), bad[k].size()) == status::corrupt);
    CHECK(index_state(x2) == before);
  }
  const std::vector<std::uint8_t> good = {0, 4, 9, 1, 3, 2, 0, 1, 1, 1, 0, 5};
  CHECK(xlog::apply(x2, xlog::type, good.data(), good.size()) == status::ok);
  CHECK(x2.log_end() == 9);
  CHECK(x2.open_count() == 1);
  CHECK(x2.aborted_count() == 1);
}

TEST_CASE("posix_file: the journal over a file survives close and reopen; a truncated file is corrupt") {
  const std::string path = "/tmp/offseq_journal_test_" + std::to_string(::getpid()) + ".bin";
  std::remove(path.c_str());
  using fjournal = offseq::journal<offseq::posix::posix_file, tlog::max_record_bytes, 16>;
  tracker t;
  {
    offseq::posix::posix_file f;
    CHECK(f.open(path.c_str(), 10000, 4096) == status::invalid_argument);  // not whole erase blocks
    REQUIRE(f.open(path.c_str(), 8192, 4096) == status::ok);
    CHECK(f.program_unit() == 1);
    fjournal j(f);
    std::vector<record> none;
    CHECK(replay_all(j, none) == status::not_found);  // a new file is blank (0xFF)
    REQUIRE(j.format() == status::ok);
    tlog log;
    const auto g = t.assign(2);
    for (int k = 1; k <= 200; ++k) {  // enough to compact at least once
      REQUIRE(t.commit(2, 5 * k, g) == status::ok);
      REQUIRE(t.complete(2, 5 * k + 3, g) == status::ok);
      REQUIRE(log.flush(j, t) == status::ok);
    }
    CHECK(j.generation() > 1);
    CHECK(f.syncs() >= 200);
    CHECK(f.bytes_written() > 0);
  }
  {
    offseq::posix::posix_file f;
    REQUIRE(f.open(path.c_str(), 8192, 4096) == status::ok);
    fjournal j(f);
    tracker t2;
    REQUIRE(tlog::load(j, t2) == status::ok);
    CHECK(state_of(t2) == state_of(t));
    CHECK(t2.committed(2) == 1000);
    CHECK(t2.is_completed(2, 1003));
  }
  REQUIRE(::truncate(path.c_str(), 4096 + 100) == 0);  // area B cut short
  {
    offseq::posix::posix_file f;
    REQUIRE(f.open(path.c_str(), 8192, 4096) == status::ok);
    std::uint8_t b[8];
    CHECK(f.read(8192 - 8, b, 8) == status::corrupt);
    CHECK(f.read(8192, b, 0) == status::ok);  // nothing to read at the end: fine
    CHECK(f.read(8192, b, 1) == status::invalid_argument);
    fjournal j(f);
    tracker t3;
    const status s = tlog::load(j, t3);
    CHECK((s == status::corrupt || s == status::ok));  // never garbage: ok only if A holds the state
    if (s == status::ok) CHECK(state_of(t3) == state_of(t));
    REQUIRE(j.format() == status::ok);  // rewrites the whole file
    CHECK(f.read(8192 - 8, b, 8) == status::ok);
  }
  std::remove(path.c_str());
}

TEST_CASE("tracker_log: the flush that compacts writes the snapshot once, not again after it") {
  sim_flash f(2048, 256, 1);
  tracker t;
  tlog log;
  tjournal j(f);
  REQUIRE(j.format() == status::ok);
  const auto g = t.assign(2);
  const std::uint64_t gen0 = j.generation();
  std::int64_t next = 0;
  while (j.generation() == gen0) {  // flush until one flush had to compact
    REQUIRE(t.commit(2, ++next, g) == status::ok);
    REQUIRE(log.flush(j, t) == status::ok);
    REQUIRE(next < 1000);
  }
  // The compaction's snapshot already holds position `next`: nothing may follow it.
  tracker t2;
  tjournal j2(f);
  std::size_t records = 0;
  REQUIRE(j2.open([&](std::uint8_t rt, const std::uint8_t* p, std::size_t n) noexcept {
    ++records;
    return tlog::apply(t2, rt, p, n);
  }) == status::ok);
  CHECK(records == 1);
  CHECK(t2.committed(2) == next);
  // And the next change is a delta against that snapshot: one partition, not four.
  REQUIRE(t.commit(2, next + 1, g) == status::ok);
  REQUIRE(log.flush(j, t) == status::ok);
  tracker t3;
  tjournal j3(f);
  std::size_t last_bytes = 0;
  REQUIRE(j3.open([&](std::uint8_t rt, const std::uint8_t* p, std::size_t n) noexcept {
    last_bytes = n;
    return tlog::apply(t3, rt, p, n);
  }) == status::ok);
  CHECK(t3.committed(2) == next + 1);
  CHECK(last_bytes <= 8);  // partition, position, k = 0: a few varint bytes
}

TEST_CASE("tracker_log: a compaction writer that leaves the tracker out loses no partition") {
  sim_flash f(2048, 256, 1);
  tracker t;
  tlog log;
  tjournal j(f);
  REQUIRE(j.format() == status::ok);
  const auto g1 = t.assign(1), g2 = t.assign(2);
  REQUIRE(t.commit(1, 42, g1) == status::ok);
  auto forgetful = [](tjournal&) noexcept { return status::ok; };  // writes no snapshot
  REQUIRE(log.flush(j, t, forgetful) == status::ok);
  const std::uint64_t gen0 = j.generation();
  std::int64_t next = 0;
  while (j.generation() == gen0) {  // only partition 2 moves, until a flush compacts
    REQUIRE(t.commit(2, ++next, g2) == status::ok);
    REQUIRE(log.flush(j, t, forgetful) == status::ok);
    REQUIRE(next < 1000);
  }
  tracker t2;
  tjournal j2(f);
  REQUIRE(tlog::load(j2, t2) == status::ok);
  CHECK(t2.committed(1) == 42);  // unchanged since its flush: only the old area held it
  CHECK(t2.committed(2) == next);
}

TEST_CASE("tracker_log: a malformed record is corrupt and changes nothing") {
  tracker t;
  const auto g = t.assign(1);
  REQUIRE(t.commit(1, 50, g) == status::ok);
  const tstate before = state_of(t);
  std::uint8_t near_max[16];
  std::size_t n = offseq::detail::put_varint(near_max, 0);  // a good entry for partition 0 first
  n += offseq::detail::put_varint(near_max + n, 7);
  n += offseq::detail::put_varint(near_max + n, 0);
  n += offseq::detail::put_varint(near_max + n, 1);  // partition 1: a completion at max_position
  n += offseq::detail::put_varint(near_max + n, static_cast<std::uint64_t>(tracker::max_position) - 2);
  n += offseq::detail::put_varint(near_max + n, 1);
  near_max[n++] = 0x04;  // bit 2: position + 2 = max_position, not restorable
  CHECK(tlog::apply(t, tlog::type, near_max, n) == status::corrupt);
  CHECK(state_of(t) == before);  // the good entry before it was not applied either
  near_max[n - 1] = 0x02;  // bit 1: max_position - 1, fine
  CHECK(tlog::apply(t, tlog::type, near_max, n) == status::ok);
  CHECK(t.committed(0) == 7);
  CHECK(t.is_completed(1, tracker::max_position - 1));
}

TEST_CASE("producer_log: note counts each producer once, also ids that share the filter's bit") {
  // Ids whose home index word (the filter bit) is the same as id 1's, and ids that differ.
  std::vector<std::int64_t> ids{1};
  for (std::int64_t id = 2; ids.size() < 3 && id < 100000; ++id)
    if (table::home_slot(id) == table::home_slot(1)) ids.push_back(id);
  REQUIRE(ids.size() == 3);
  for (std::int64_t id = 2; ids.size() < table::capacity; ++id)
    if (table::home_slot(id) != table::home_slot(1)) ids.push_back(id);
  plog pl;
  for (int round = 0; round < 3; ++round)
    for (std::size_t i = 0; i < ids.size(); ++i) {
      pl.note(ids[i]);
      CHECK(pl.changed() == (round == 0 ? i + 1 : ids.size()));
    }
  pl.note(-1);  // not a producer
  CHECK(pl.changed() == ids.size());
  pl.note(1000001);  // one more than the table holds: the next flush compacts
  CHECK(pl.changed() == table::capacity + 1);
}

TEST_CASE("producer_log: a flush whose compaction writer left the table out still makes the whole table durable") {
  // The compaction sealed an area without producer records: appending only the noted changes
  // after it dropped every producer not noted since the last flush, and flush said ok.
  sim_flash f(8192, 1024, 8);
  mjournal j(f);
  REQUIRE(j.format() == status::ok);
  table t;
  plog pl;
  REQUIRE(pl.admit(t, offseq::batch_header{1, 0, 0, 0}, 10, 1).code == status::ok);
  REQUIRE(pl.admit(t, offseq::batch_header{2, 0, 0, 0}, 20, 1).code == status::ok);
  REQUIRE(pl.flush(j, t) == status::ok);
  auto leaves_table_out = [](mjournal&) { return status::ok; };
  const std::uint64_t gen = j.generation();
  for (std::int32_t k = 1; j.generation() == gen && k < 10000; ++k) {
    REQUIRE(pl.admit(t, offseq::batch_header{1, 0, k, k}, 10 + k, 2).code == status::ok);
    const status s = pl.flush(j, t, leaves_table_out);
    if (s != status::ok) break;  // refusing is fine too: only an ok must hold
  }
  REQUIRE(j.generation() == gen + 1);
  CHECK(pl.changed() == 0);  // it wrote the whole table instead
  if (pl.changed() == 0) {  // flush said ok: everything t held is durable
    table t2;
    mjournal j2(f);
    REQUIRE(plog::load(j2, t2) == status::ok);
    CHECK(table_state(t2) == table_state(t));
  }
}

// A failed sync does not take back the record it was meant to cover: a later sync (of any
// engine's record) can still make it durable. The next flush must write that partition again
// even if the tracker is back at the state persisted before (here: reset to it).
TEST_CASE("tracker_log: after a failed sync the next flush writes the partition again, even if unchanged") {
  sim_flash fs(8192, 1024, 8);
  tracker t;
  tlog log;
  tjournal j(fs);
  REQUIRE(j.format() == status::ok);
  const auto g = t.assign(0);
  REQUIRE(t.commit(0, 10, g) == status::ok);
  REQUIRE(log.flush(j, t) == status::ok);  // 10 is durable
  REQUIRE(t.commit(0, 20, g) == status::ok);
  fs.fail_syncs(1);
  REQUIRE(log.flush(j, t) == status::io_error);  // the record of 20 is on the medium, unsynced
  REQUIRE(t.reset(0, 10) == status::ok);  // rewind: reprocess 10..19
  REQUIRE(log.flush(j, t) == status::ok);  // ok: 10 is what a restart must see
  tracker t2;
  tjournal j2(fs);
  REQUIRE(tlog::load(j2, t2) == status::ok);
  CHECK(t2.committed(0) == 10);  // not 20: that would skip 10..19
}

// ------------------------------------------------------------------------------------------
// txn_log over a storage whose sync can fail (sim_flash::fail_syncs).
// ------------------------------------------------------------------------------------------
namespace {
struct shooks;
using scoord = offseq::txn_coordinator<4, 4, 2, 16, shooks>;
using sclog = offseq::txn_log<scoord>;
struct shooks {
  mjournal* j = nullptr;
  scoord* c = nullptr;
  std::vector<offseq::txn_marker> sent;
  std::int64_t next_pid = 100;
  status log_append(const scoord::log_record& r) noexcept {
    return sclog::append(*j, r, [this](mjournal& jj) noexcept { return sclog::write_snapshot(jj, *c); });
  }
  status send_marker(const offseq::txn_marker& mk) noexcept {
    sent.push_back(mk);
    return status::ok;
  }
  status allocate_producer_id(std::int64_t& out) noexcept {
    out = next_pid++;
    return status::ok;
  }
};

// A coordinator logging through sclog into a journal on f, hooks wired both ways.
struct srig {
  mjournal j;
  shooks h;
  scoord c{h};
  explicit srig(sim_flash& f) : j(f) {
    h.j = &j;
    h.c = &c;
  }
};

// "x" opens a transaction on partition 3; its commit record is appended while the next
// `failing_syncs` syncs fail (io_error: "not written", as the hook says), then an abort goes
// through. Returns the state a coordinator reopened from f recovers for "x".
offseq::txn_state commit_fails_then_abort(sim_flash& f, unsigned failing_syncs) {
  {
    srig r(f);
    REQUIRE(r.j.format() == status::ok);
    const auto pr = r.c.init_producer_id("x", 10000, 1);
    REQUIRE(pr.code == status::ok);
    REQUIRE(r.c.add_partitions("x", pr.producer_id, pr.epoch, 3, 2) == status::ok);
    f.fail_syncs(failing_syncs);
    REQUIRE(r.c.end_txn("x", pr.producer_id, pr.epoch, offseq::txn_result::commit, 3) == status::io_error);
    CHECK(r.c.state("x") == offseq::txn_state::ongoing);
    f.fail_syncs(0);
    REQUIRE(r.c.end_txn("x", pr.producer_id, pr.epoch, offseq::txn_result::abort, 4) == status::ok);
    CHECK(r.c.state("x") == offseq::txn_state::prepare_abort);
  }
  srig r(f);
  CHECK(sclog::load(r.j, r.c, 10) == status::ok);
  CHECK(f.overwrite_errors() == 0);
  return r.c.state("x");
}
}  // namespace

TEST_CASE("txn_log: an append whose sync failed is not written: a later record of the id recovers") {
  sim_flash f(16384, 1024, 4);
  // the acknowledged decision, not the failed one
  CHECK(commit_fails_then_abort(f, 1) == offseq::txn_state::prepare_abort);
}

// The types of the records a freshly opened journal replays from f (which must be ok), after
// checking that no unit was programmed twice.
std::vector<std::uint8_t> replayed_types(sim_flash& f) {
  CHECK(f.overwrite_errors() == 0);
  small_journal j(f);
  std::vector<record> got;
  CHECK(replay_all(j, got) == status::ok);
  std::vector<std::uint8_t> types;
  for (const record& r : got) types.push_back(r.type);
  return types;
}

TEST_CASE("io_error: a record that landed stays void when its skip's first write landed nothing") {
  for (std::size_t unit : {std::size_t{1}, std::size_t{4}, std::size_t{16}}) {
    CAPTURE(unit);
    sim_flash f(4096, 512, unit);
    small_journal j(f);
    REQUIRE(j.format() == status::ok);
    REQUIRE(j.append(1, "keep", 4) == status::ok);
    REQUIRE(j.sync() == status::ok);
    f.script_writes("l");
    CHECK(j.append(2, "lost", 4) == status::io_error);  // landed intact, reported failed
    f.fail_writes(true);
    CHECK(j.append(3, "gone", 4) == status::io_error);  // its skip fails, nothing programmed
    f.fail_writes(false);
    REQUIRE(j.append(4, "next", 4) == status::ok);  // the skip again, then the record
    REQUIRE(j.sync() == status::ok);
    CHECK(replayed_types(f) == std::vector<std::uint8_t>{1, 4});  // was corrupt: the synced "next" lost
  }
}

TEST_CASE("io_error: a skip retry failing after an earlier attempt landed still closes the torn region") {
  for (std::size_t unit : {std::size_t{1}, std::size_t{8}}) {
    CAPTURE(unit);
    sim_flash f(4096, 512, unit);
    small_journal j(f);
    REQUIRE(j.format() == status::ok);
    REQUIRE(j.append(1, "keep", 4) == status::ok);
    REQUIRE(j.sync() == status::ok);
    f.fail_writes(true);
    CHECK(j.append(2, "lost", 4) == status::io_error);  // nothing programmed
    f.fail_writes(false);
    f.script_writes("l");
    CHECK(j.append(3, "gone", 4) == status::io_error);  // its skip lands, reported failed
    f.fail_writes(true);
    CHECK(j.append(4, "gone", 4) == status::io_error);  // the skip's retry programs nothing
    f.fail_writes(false);
    REQUIRE(j.append(5, "next", 4) == status::ok);  // the skip lands, then the record
    REQUIRE(j.sync() == status::ok);
    CHECK(replayed_types(f) == std::vector<std::uint8_t>{1, 5});  // was corrupt: the synced "next" lost
  }
}

TEST_CASE("§5.3 torn tail of two failed writes: appends resume past a cut unit that reads 0xFF") {
  // A failed write that programmed nothing, then the skip after it cut by the power in the
  // header's 8th byte (~length's high byte, 0xFF): that unit is programmed yet reads erased.
  sim_flash f(4096, 512, 1);
  f.half_program(true);
  {
    small_journal j(f);
    REQUIRE(j.format() == status::ok);
    REQUIRE(j.append(1, "keep", 4) == status::ok);
    REQUIRE(j.sync() == status::ok);
    f.fail_writes(true);
    CHECK(j.append(2, "lost", 4) == status::io_error);
    f.fail_writes(false);
    f.cut_after(7);
    CHECK(j.append(3, "cut!", 4) == status::io_error);  // the skip's write is cut
    REQUIRE_FALSE(f.powered());
  }
  f.power_on();
  {
    small_journal j(f);
    std::vector<record> got;
    REQUIRE(replay_all(j, got) == status::ok);
    CHECK(got.size() == 1);
    CHECK(j.append(4, "next", 4) == status::ok);
    REQUIRE(j.sync() == status::ok);
  }
  CHECK(f.overwrite_errors() == 0);
  small_journal j(f);
  std::vector<record> got;
  CHECK(replay_all(j, got) == status::ok);
  REQUIRE(got.size() == 2);
  CHECK(got[1].type == 4);
}

TEST_CASE("io_error: torn regions in a row, each closed by a skip naming its own start") {
  for (std::size_t unit : {std::size_t{1}, std::size_t{8}}) {
    CAPTURE(unit);
    sim_flash f(4096, 512, unit);
    small_journal j(f);
    REQUIRE(j.format() == status::ok);
    REQUIRE(j.append(1, "keep", 4) == status::ok);
    REQUIRE(j.sync() == status::ok);
    f.script_writes("f");
    CHECK(j.append(2, "lost", 4) == status::io_error);  // nothing programmed: gap 1
    f.script_writes("of");
    CHECK(j.append(3, "lost", 4) == status::io_error);  // skip(gap 1), the record fails: gap 2
    f.script_writes("l");
    CHECK(j.append(4, "gone", 4) == status::io_error);  // skip(gap 2) lands, reported failed
    f.script_writes("f");
    CHECK(j.append(5, "gone", 4) == status::io_error);  // its retry programs nothing
    REQUIRE(j.append(6, "next", 4) == status::ok);       // skip(gap 2), then the record
    REQUIRE(j.sync() == status::ok);
    CHECK(replayed_types(f) == std::vector<std::uint8_t>{1, 6});  // was corrupt: the synced "next" lost
  }
}

TEST_CASE("txn_log: an append whose sync failed stays unwritten when the syncs after it fail too") {
  sim_flash f(16384, 1024, 4);
  // the commit record's sync, and the next one (e.g. a compaction's), fail
  CHECK(commit_fails_then_abort(f, 2) == offseq::txn_state::prepare_abort);
}

TEST_CASE("journal::void_last: the last append is skipped by replay; refused once anything follows it") {
  sim_flash f(4096, 512, 4);
  small_journal j(f);
  CHECK(j.void_last() == status::invalid_state);  // closed
  REQUIRE(j.format() == status::ok);
  CHECK(j.void_last() == status::invalid_state);  // nothing appended
  REQUIRE(j.append(1, "keep", 4) == status::ok);
  REQUIRE(j.append(2, "void", 4) == status::ok);
  REQUIRE(j.sync() == status::ok);
  CHECK(j.void_last() == status::ok);
  CHECK(j.void_last() == status::invalid_state);  // once
  REQUIRE(j.append(3, "next", 4) == status::ok);
  REQUIRE(j.sync() == status::ok);
  small_journal j2(f);
  std::vector<record> got;
  REQUIRE(replay_all(j2, got) == status::ok);
  REQUIRE(got.size() == 2);
  CHECK(got[0].type == 1);
  CHECK(got[1].type == 3);
  CHECK(j2.void_last() == status::invalid_state);  // after open: not its append
  CHECK(f.overwrite_errors() == 0);
}

TEST_CASE("journal::void_last: after a refused append there is nothing to void (the synced record before it stays)") {
  sim_flash f(4096, 512, 4);
  small_journal j(f);
  REQUIRE(j.format() == status::ok);
  REQUIRE(j.append(1, "kept", 4) == status::ok);
  REQUIRE(j.sync() == status::ok);  // acknowledged
  const std::uint8_t big[small_journal::max_payload + 1] = {};
  CHECK(j.append(2, big, sizeof big) == status::invalid_argument);  // refused: nothing written
  CHECK(j.void_last() == status::invalid_state);                    // was ok, voiding "kept"
  std::size_t appended = 0;
  while (j.append(3, "fill", 4) == status::ok) ++appended;           // until table_full
  REQUIRE(j.sync() == status::ok);
  CHECK(j.void_last() == status::invalid_state);
  small_journal j2(f);
  std::vector<record> got;
  REQUIRE(replay_all(j2, got) == status::ok);
  CHECK(got.size() == 1 + appended);
  CHECK(got.front().type == 1);
}

TEST_CASE("journal::void_last: a voided record stays void after a later ok sync, without another append") {
  for (std::size_t unit : {std::size_t{1}, std::size_t{8}}) {
    CAPTURE(unit);
    sim_flash f(4096, 512, unit);
    {
      small_journal j(f);
      REQUIRE(j.format() == status::ok);
      REQUIRE(j.append(1, "keep", 4) == status::ok);
      REQUIRE(j.append(2, "void", 4) == status::ok);  // its sync "failed": the caller voids it
      REQUIRE(j.void_last() == status::ok);
      REQUIRE(j.sync() == status::ok);
      std::vector<record> got;
      REQUIRE(replay_all(j, got, false) == status::ok);
      CHECK(got.size() == 1);  // was 2: replay() visited the voided record
    }
    small_journal j(f);  // a clean restart, no power cut
    std::vector<record> got;
    REQUIRE(replay_all(j, got) == status::ok);
    CHECK(got.size() == 1);  // was 2
    CHECK(f.overwrite_errors() == 0);
  }
}

TEST_CASE("io_error: an append that landed but failed stays void after a later ok sync, without another append") {
  sim_flash f(4096, 512, 4);
  {
    small_journal j(f);
    REQUIRE(j.format() == status::ok);
    REQUIRE(j.append(1, "keep", 4) == status::ok);
    f.script_writes("l");
    CHECK(j.append(2, "lost", 4) == status::io_error);  // landed intact, reported failed
    REQUIRE(j.sync() == status::ok);
  }
  small_journal j(f);
  std::vector<record> got;
  REQUIRE(replay_all(j, got) == status::ok);
  CHECK(got.size() == 1);  // was 2: "ignored by replay even if it reached the medium" did not hold
  CHECK(f.overwrite_errors() == 0);
}

TEST_CASE("io_error: a failed append stays void after an ok sync also when a failed compaction left the journal unsafe") {
  sim_flash f(4096, 512, 4);
  {
    small_journal j(f);
    REQUIRE(j.format() == status::ok);
    REQUIRE(j.append(1, "keep", 4) == status::ok);
    f.script_writes("l");
    CHECK(j.append(2, "lost", 4) == status::io_error);  // landed intact, reported failed
    // The compaction's seal fails (programs nothing) and so does the erase that would undo it.
    f.script_writes("oof");
    CHECK(j.compact([&](small_journal& jj) {
      f.fail_erases(true);  // the target is already erased
      return jj.append(1, "keep", 4);
    }) == status::io_error);
    f.fail_erases(false);
    CHECK(j.append(3, "next", 4) == status::io_error);  // unsafe: appends wait for a compaction
    REQUIRE(j.sync() == status::ok);
    std::vector<record> got;
    REQUIRE(replay_all(j, got, false) == status::ok);
    CHECK(got.size() == 1);  // was 2
  }
  small_journal j(f);  // the unsealed target loses: the old area, without the failed record
  std::vector<record> got;
  REQUIRE(replay_all(j, got) == status::ok);
  CHECK(got.size() == 1);  // was 2
  CHECK(f.overwrite_errors() == 0);
}
