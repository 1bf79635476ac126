// Compile-only check: the journal as firmware builds it (freestanding, no exceptions, no RTTI,
// -Werror), over a minimal RAM Storage, with the commit tracker's records. Built by
// `make header-check`.
#include <offseq.hpp>

namespace {
// The Storage concept in its smallest form: a RAM array (a real port calls the flash driver).
struct ram_storage {
  std::uint8_t bytes[8192];
  std::size_t size() const noexcept { return sizeof bytes; }
  std::size_t erase_block() const noexcept { return 1024; }
  std::size_t program_unit() const noexcept { return 8; }
  offseq::status read(std::size_t addr, void* dst, std::size_t n) noexcept {
    if (addr > sizeof bytes || n > sizeof bytes - addr) return offseq::status::invalid_argument;
    for (std::size_t i = 0; i < n; ++i) static_cast<std::uint8_t*>(dst)[i] = bytes[addr + i];
    return offseq::status::ok;
  }
  offseq::status write(std::size_t addr, const void* src, std::size_t n) noexcept {
    if (addr > sizeof bytes || n > sizeof bytes - addr) return offseq::status::invalid_argument;
    for (std::size_t i = 0; i < n; ++i) bytes[addr + i] &= static_cast<const std::uint8_t*>(src)[i];
    return offseq::status::ok;
  }
  offseq::status erase(std::size_t addr, std::size_t n) noexcept {
    if (addr > sizeof bytes || n > sizeof bytes - addr) return offseq::status::invalid_argument;
    for (std::size_t i = 0; i < n; ++i) bytes[addr + i] = 0xFF;
    return offseq::status::ok;
  }
  offseq::status sync() noexcept { return offseq::status::ok; }
};

using tracker = offseq::commit_tracker<8, 64>;
using tlog = offseq::tracker_log<tracker>;
using journal = offseq::journal<ram_storage, tlog::max_record_bytes, 16>;
static_assert(offseq::crc32c("123456789", 9) == 0xE3069283u, "CRC-32C");
static_assert(sizeof(journal) <= tlog::max_record_bytes + 160, "journal: buffer + a few words");

ram_storage flash;
journal j(flash);
tracker t;
tlog log;

// Every engine in one journal: the compaction writer snapshots them all; the coordinator's
// write-ahead hook appends + syncs through txn_log.
struct mixed_storage : ram_storage {};
using table = offseq::sequence_table<8, 5>;
using plog = offseq::producer_log<table>;
using index = offseq::txn_index<4, 8>;
using xlog = offseq::txn_index_log<index>;
using mjournal = offseq::journal<mixed_storage, 1024, 16>;
struct hooks;
using coord = offseq::txn_coordinator<4, 4, 2, 16, hooks>;
using clog = offseq::txn_log<coord>;
offseq::status write_all(mjournal& jj) noexcept;
mixed_storage mflash;
mjournal mj(mflash);
struct hooks {
  offseq::status log_append(const coord::log_record& r) noexcept { return clog::append(mj, r, write_all); }
  offseq::status send_marker(const offseq::txn_marker&) noexcept { return offseq::status::ok; }
  offseq::status allocate_producer_id(std::int64_t& out) noexcept {
    out = next++;
    return offseq::status::ok;
  }
  offseq::status apply_offset(std::uint32_t, std::int64_t) noexcept { return offseq::status::ok; }
  std::int64_t next = 1;
};
hooks h;
coord c(h);
table seq;
plog pl;
index ix;
xlog xl;
offseq::status write_all(mjournal& jj) noexcept {
  offseq::status s = pl.write_snapshot(jj, seq);
  if (s == offseq::status::ok) s = clog::write_snapshot(jj, c);
  if (s == offseq::status::ok) s = xl.write_snapshot(jj, ix);
  return s;
}
}  // namespace

int journal_mixed_exercise() {
  auto all = [](std::uint8_t rt, const std::uint8_t* p, std::size_t n) noexcept {
    offseq::status s = plog::apply(seq, rt, p, n);
    if (s == offseq::status::ok) s = clog::apply(c, rt, p, n);
    if (s == offseq::status::ok) s = xlog::apply(ix, rt, p, n);
    return s;
  };
  if (mj.open(all) == offseq::status::not_found) (void)mj.format();
  (void)c.resume(0);
  (void)pl.admit(seq, offseq::batch_header{1, 0, 0, 4}, 0, 0);
  (void)pl.erase(seq, 2);
  (void)pl.expire(seq, 10, 5);
  pl.note(3);
  (void)pl.flush(mj, seq, write_all);
  (void)c.init_producer_id("t", 1000, 0);
  (void)ix.append(1, 0, 0, 3);
  (void)xl.flush(mj, ix, write_all);
  (void)plog::load(mj, seq);
  (void)xlog::load(mj, ix);
  coord c2(h);
  (void)clog::load(mj, c2, 0);
  return static_cast<int>(pl.changed());
}

// A plain function as the visitor (held through a pointer object inside the journal).
offseq::status visit_fn(std::uint8_t, const std::uint8_t*, std::size_t) noexcept { return offseq::status::ok; }

int journal_exercise() {
  int n = 0;
  (void)j.replay(visit_fn);
  auto count = [&n](std::uint8_t, const std::uint8_t*, std::size_t) noexcept { ++n; };
  if (j.open(count) == offseq::status::not_found) (void)j.format();
  const std::uint8_t payload[4] = {1, 2, 3, 4};
  (void)j.append(1, payload, sizeof payload);
  (void)j.append_with(2, [](std::uint8_t* dst, std::size_t cap) noexcept {
    if (cap > 0) dst[0] = 7;
    return std::size_t{1};
  });
  (void)j.last_payload();
  (void)j.sync();
  (void)j.replay(count);
  (void)j.compact([](journal& jj) noexcept { return jj.append(1, nullptr, 0); });
  n += static_cast<int>(j.record_bytes(4) + j.free_bytes() + j.area_bytes() + j.append_offset());
  n += static_cast<int>(j.generation()) + (j.damaged() ? 1 : 0);
  const auto g = t.assign(0);
  (void)t.commit(0, 5, g);
  (void)log.flush(j, t);
  (void)log.flush(j, t, [&](journal& jj) noexcept { return log.write_snapshot(jj, t); });
  (void)tlog::load(j, t);
  (void)tlog::apply(t, tlog::type, payload, 0);
  return n + static_cast<int>(offseq::crc32c(payload, 4));
}
