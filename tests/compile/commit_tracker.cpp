// Compile-only check: the commit tracker as firmware builds it (freestanding, no exceptions,
// no RTTI, -Werror), every sync policy instantiated. Built by `make header-check`.
#include <offseq.hpp>

namespace {
struct noop_guard {
  noop_guard() noexcept {}
};
offseq::commit_tracker<4> tracker64;
offseq::commit_tracker<4, 32, offseq::atomic_sync32> tracker32;
offseq::commit_tracker<4, 64, offseq::critical_section_sync<noop_guard>> tracker_cs;
offseq::commit_tracker<4, 64, offseq::critical_section_sync<noop_guard, std::uint32_t>> tracker_cs32;

template <class T>
std::int64_t exercise(T& t) {
  const auto g = t.assign(0);
  (void)t.commit(0, 1, g);
  (void)t.complete(0, 3, g);
  (void)t.complete_range(0, 4, 6, g);
  (void)t.is_completed(0, 3);
  t.revoke(0);
  (void)t.reset(1, 7);
  (void)t.restore(2, 9);
  std::size_t n = t.drain([](std::size_t, std::int64_t) { return true; });
  n += t.drain([](std::size_t, std::int64_t) {});
  return t.committed(0) + static_cast<std::int64_t>(n);
}
}  // namespace

std::int64_t offseq_compile_commit_tracker() {
  return exercise(tracker64) + exercise(tracker32) + exercise(tracker_cs) + exercise(tracker_cs32);
}
