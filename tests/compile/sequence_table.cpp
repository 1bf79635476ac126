// Compile-only check: the sequence table as firmware builds it (freestanding, no exceptions,
// no RTTI, -Werror), lenient and strict, every method instantiated. Built by `make header-check`.
#include <offseq.hpp>

namespace {
offseq::sequence_table<8> table_default;
offseq::sequence_table<3, 1, true> table_strict;
offseq::sequence_table<1000, 7> table_big;

static_assert(sizeof(offseq::sequence_table<8>) == decltype(table_default)::footprint, "documented sizeof");
static_assert(offseq::sequence_add(offseq::max_sequence, 1) == 0, "31-bit wrap");

template <class T>
std::int64_t exercise(T& t) {
  const offseq::batch_header b{1, 0, 0, 3};
  std::int64_t sum = 0;
  const offseq::verdict v = t.check(b);
  sum += v.offset + v.expected_seq;
  (void)t.record(b, 10, 100);
  const offseq::verdict a = t.admit(offseq::batch_header{1, 0, 4, 4}, 14, 101);
  sum += static_cast<std::int64_t>(a.code);
  sum += static_cast<std::int64_t>(t.check_marker(1, 1)) + static_cast<std::int64_t>(t.record_marker(1, 1, 102));
  typename T::producer_snapshot snap{};
  (void)t.find(1, snap);
  t.for_each_producer([&](const typename T::producer_snapshot& s) { sum += s.producer_id + s.count; });
  sum += static_cast<std::int64_t>(t.for_each_producer_from(1, [&](const typename T::producer_snapshot& s) { return s.count > 0; }));
  (void)t.restore_producer(snap);
  sum += static_cast<std::int64_t>(t.expire(200, 50));
  sum += static_cast<std::int64_t>(t.expire(300, 50, [](std::int64_t id) { return id == 2; }));
  (void)t.erase(1);
  sum += static_cast<std::int64_t>(t.size() + T::capacity + T::history + T::home_slot(5));
  t.clear();
  return sum;
}
}  // namespace

std::int64_t offseq_compile_sequence_table() {
  return exercise(table_default) + exercise(table_strict) + exercise(table_big);
}
