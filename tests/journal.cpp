// Journal: SEMANTICS.md §5 (durability), one test case per rule, plus power cuts at every
// byte of every write of a mixed workload, damage, full storage and the Storage hooks.
#include <doctest/doctest.h>

#include <offseq.hpp>
#include <sim_flash.hpp>

#include <cstdint>
#include <cstdio>
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

TEST_CASE("damage: a bit flip in the middle is corrupt, every record before it is kept") {
  sim_flash clean(8192, 1024, 4);
  std::vector<record> all;
  std::vector<std::size_t> offsets;
  {
    small_journal j(clean);
    REQUIRE(j.format() == status::ok);
    for (std::uint32_t i = 0; i < 12; ++i) {
      const record r = make_record(i, 40);
      offsets.push_back(j.append_offset());
      REQUIRE(j.append(r.type, r.data.data(), r.data.size()) == status::ok);
      all.push_back(r);
    }
    REQUIRE(j.sync() == status::ok);
  }
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
  sim_flash clean(8192, 1024, 4);
  std::vector<record> all;
  std::vector<std::size_t> offsets;
  {
    small_journal j(clean);
    REQUIRE(j.format() == status::ok);
    for (std::uint32_t i = 0; i < 10; ++i) {
      const record r = make_record(i, 40);
      offsets.push_back(j.append_offset());
      REQUIRE(j.append(r.type, r.data.data(), r.data.size()) == status::ok);
      all.push_back(r);
    }
    REQUIRE(j.sync() == status::ok);
  }
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
