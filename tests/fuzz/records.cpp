// libFuzzer target: every parser of stored engine records (`make fuzz`): tracker_log,
// producer_log, txn_log (decode + replay), txn_index_log, and the LEB128 varint reader.
// Properties: no crash, no out-of-bounds read, a defined status; a record refused as corrupt
// leaves the engine unchanged (every engine); a txn record that
// decodes re-encodes to the same bytes; what was restored is accepted again by a fresh engine
// (producers) or is a fixed point (a txn_index record applied twice).
#include <offseq.hpp>
#include <host.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fuzz_check.hpp"

using offseq::status;

namespace {
using tracker = offseq::commit_tracker<4, 32>;
using tlog = offseq::tracker_log<tracker>;
using table = offseq::sequence_table<4, 3>;
using plog = offseq::producer_log<table>;
using tindex = offseq::txn_index<4, 4>;
using xlog = offseq::txn_index_log<tindex>;
using rec = offseq::txn_log_record<3, 2, 8>;
using hooks = offseq::host::txn_memory_hooks<rec>;
using coord = offseq::txn_coordinator<3, 3, 2, 8, hooks>;
using clog = offseq::txn_log<coord>;


std::string tracker_state(const tracker& t) {
  std::string s;
  for (std::size_t q = 0; q < 4; ++q) {
    const auto snap = t.snapshot(q);
    s += std::to_string(snap.position) + ":" + std::string(reinterpret_cast<const char*>(snap.completed), tracker::window_bytes) + "|";
  }
  return s;
}
std::string table_state(const table& t) {
  std::string s;
  t.for_each_producer([&](const table::producer_snapshot& p) {
    s.append(reinterpret_cast<const char*>(&p.producer_id), 8);
    s.append(reinterpret_cast<const char*>(&p.epoch), 2);
    s.append(reinterpret_cast<const char*>(&p.last_seen_ms), 8);
    s.push_back(static_cast<char>(p.count));
    for (std::size_t k = 0; k < p.count; ++k) s.append(reinterpret_cast<const char*>(&p.batches[k]), sizeof p.batches[k]);
  });
  return s;
}
std::string index_state(const tindex& x) {
  std::string s = std::to_string(x.log_start()) + "," + std::to_string(x.high_watermark()) + "," + std::to_string(x.log_end());
  x.for_each_open([&](const offseq::open_txn& e) {
    s += "|o" + std::to_string(e.producer_id) + "," + std::to_string(e.first_offset) + "," +
         std::to_string(e.marker_offset) + "," + std::to_string(e.epoch);
  });
  x.for_each_aborted([&](const offseq::aborted_txn& e) {
    s += "|a" + std::to_string(e.producer_id) + "," + std::to_string(e.first_offset) + "," + std::to_string(e.last_offset);
  });
  return s;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t* p = data + 1;
  const std::size_t n = size - 1;
  switch (data[0] % 5) {
    case 0: {
      tracker t;
      const auto g = t.assign(3);
      (void)t.commit(3, 9, g);  // some prior state
      const std::string before = tracker_state(t);
      const status s = tlog::apply(t, tlog::type, p, n);
      check(s == status::ok || s == status::corrupt);
      if (s == status::corrupt) check(tracker_state(t) == before);
      for (std::size_t q = 0; q < 4; ++q) check(t.committed(q) >= 0 && t.committed(q) <= tracker::max_position);
      break;
    }
    case 1: {
      table t;
      (void)t.admit(offseq::batch_header{1, 0, 0, 3}, 5, 1);  // some prior state
      const std::string before = table_state(t);
      const status s = plog::apply(t, plog::type, p, n);
      check(s == status::ok || s == status::corrupt || s == status::table_full);
      if (s == status::corrupt) check(table_state(t) == before);
      if (s == status::ok) {  // what was restored is a state the table accepts again
        table u;
        t.for_each_producer([&](const table::producer_snapshot& ps) { check(u.restore_producer(ps) == status::ok); });
        check(table_state(u) == table_state(t));
      }
      break;
    }
    case 2: {
      rec r;
      const status s = clog::decode(p, n, r);
      check(s == status::ok || s == status::corrupt);
      if (s == status::ok) {
        std::uint8_t b[clog::max_record_bytes];
        check(clog::encode(r, b) == n && std::memcmp(b, p, n) == 0);
        hooks h;
        coord c(h);
        const status a = c.replay(r);
        check(a == status::ok || a == status::corrupt);
        check(a == status::ok || c.size() == 0);
      }
      break;
    }
    case 3: {
      tindex x;
      (void)x.append(2, 0, 0, 5);
      const std::string before = index_state(x);
      const status s = xlog::apply(x, xlog::type, p, n);
      check(s == status::ok || s == status::corrupt);
      if (s == status::corrupt) check(index_state(x) == before);
      if (s == status::ok) {
        const std::string once = index_state(x);
        check(xlog::apply(x, xlog::type, p, n) == status::ok && index_state(x) == once);
        check(x.last_stable_offset() <= x.high_watermark());
      }
      break;
    }
    default: {
      std::size_t at = 0;
      std::uint64_t v = 0;
      while (at < n && offseq::detail::get_varint(p, n, &at, &v)) {
        std::uint8_t b[10];
        check(offseq::detail::put_varint(b, v) <= 10);
      }
      check(at <= n);
      break;
    }
  }
  return 0;
}
