// sequence_table on the target (SEMANTICS.md §2): accept each batch once.
#include <offseq.hpp>

#include "runner.hpp"

using offseq::batch_header;
using offseq::status;

namespace {
offseq::sequence_table<16> g_table;  // 16 producers, 5 batches retained each
}

void target_sequence_table() {
  target_test::run("sequence_table<16>: in order accepted, retry is duplicate, gap is out_of_order", [] {
    auto& t = g_table;
    t.clear();
    TCHECK(t.admit(batch_header{7, 0, 0, 9}, 100, 1).code == status::ok);
    TCHECK(t.admit(batch_header{7, 0, 10, 19}, 110, 2).code == status::ok);
    const offseq::verdict dup = t.admit(batch_header{7, 0, 0, 9}, 999, 3);
    TCHECK(dup.code == status::duplicate && dup.offset == 100);
    const offseq::verdict gap = t.admit(batch_header{7, 0, 25, 30}, 120, 3);
    TCHECK(gap.code == status::out_of_order && gap.expected_seq == 20);
    TCHECK(t.check(batch_header{7, 0, 20, 20}).code == status::ok);
    TCHECK(t.size() == 1);
  });
  target_test::run("sequence_table<16>: epochs fence, a new epoch restarts at 0, 31-bit wrap", [] {
    auto& t = g_table;
    t.clear();
    TCHECK(t.admit(batch_header{1, 3, 0, 0}, 1, 1).code == status::ok);
    TCHECK(t.admit(batch_header{1, 2, 1, 1}, 2, 1).code == status::fenced);
    TCHECK(t.admit(batch_header{1, 4, 5, 5}, 2, 1).code == status::out_of_order);
    TCHECK(t.admit(batch_header{1, 4, 0, 0}, 2, 1).code == status::ok);
    const std::int32_t top = offseq::max_sequence - 1;
    TCHECK(t.admit(batch_header{2, 0, top, top}, 3, 1).code == status::ok);
    TCHECK(t.admit(batch_header{2, 0, offseq::max_sequence, 1}, 4, 1).code == status::ok);  // spans the wrap
    TCHECK(t.admit(batch_header{2, 0, 2, 2}, 6, 1).code == status::ok);
    TCHECK(t.admit(batch_header{-1, 0, 0, 0}, 7, 1).code == status::invalid_argument);
  });
  target_test::run("sequence_table<16>: full table refuses, expiry frees idle producers", [] {
    auto& t = g_table;
    t.clear();
    for (std::int64_t id = 0; id < 16; ++id)
      TCHECK(t.admit(batch_header{1000 + id, 0, 0, 0}, id, static_cast<std::uint64_t>(id)).code == status::ok);
    TCHECK(t.admit(batch_header{5000, 0, 0, 0}, 0, 100).code == status::table_full);
    TCHECK(t.size() == 16);
    TCHECK(t.expire(107, 100) == 8);  // idle >= 100 ms: last seen at 0..7, not 8..15
    TCHECK(t.size() == 8);
    TCHECK(t.admit(batch_header{5000, 0, 0, 0}, 0, 110).code == status::ok);
    decltype(g_table)::producer_snapshot s{};
    TCHECK(t.find(1015, s) == status::ok && s.count == 1);
    TCHECK(t.find(1000, s) == status::not_found);
  });
}
