// Compile-only check: txn_index as firmware builds it (freestanding, no exceptions, no RTTI,
// -Werror), every public method called. Built by `make header-check`.
#include <offseq.hpp>

namespace {
offseq::txn_index<4, 16> index_a;
offseq::txn_index<1, 1> index_b;

template <class T>
std::int64_t exercise(T& x) {
  std::int64_t acc = 0;
  acc += static_cast<std::int64_t>(x.check_append(1, 0, 0, 1));
  (void)x.append(1, 0, 0, 1);
  acc += static_cast<std::int64_t>(x.check_marker(1, 0, 2, false));
  (void)x.marker(1, 0, 2, false);
  (void)x.set_high_watermark(3);
  (void)x.set_log_start(1);
  acc += x.last_stable_offset() + x.high_watermark() + x.log_start() + x.log_end() + x.open_first_offset(1);
  acc += static_cast<std::int64_t>(x.open_count() + x.aborted_count());
  offseq::aborted_txn out[2];
  std::size_t found = 0;
  (void)x.aborted(0, 3, out, 2, found);
  acc += static_cast<std::int64_t>(found);
  acc += static_cast<std::int64_t>(x.visit_aborted(0, 3, [&](const offseq::aborted_txn& a) { acc += a.last_offset; }));
  acc += x.should_skip(1, 1) ? 1 : 0;
  offseq::open_txn open_copy[T::open_capacity] = {};
  offseq::aborted_txn ab_copy[T::aborted_capacity] = {};
  std::size_t no = 0, na = 0;
  x.for_each_open([&](const offseq::open_txn& e) { open_copy[no++] = e; });
  x.for_each_aborted([&](const offseq::aborted_txn& a) { ab_copy[na++] = a; });
  (void)x.restore_offsets(x.log_start(), x.high_watermark(), x.log_end());
  for (std::size_t i = 0; i < no; ++i) (void)x.restore_open(open_copy[i]);
  for (std::size_t i = 0; i < na; ++i) (void)x.restore_aborted(ab_copy[i]);
  return acc;
}
}  // namespace

std::int64_t offseq_compile_txn_index() { return exercise(index_a) + exercise(index_b); }
