// commit_tracker on the target (SEMANTICS.md §1): the behaviour a firmware relies on, for each
// sync policy the core offers (platform/cortex_m.hpp), incl. 64-bit positions on a 32-bit core.
#include <cortex_m.hpp>
#include <offseq.hpp>

#include "runner.hpp"

using offseq::status;

extern "C" std::uint32_t __bss_start[], __bss_end[];  // mps2.ld

namespace {
using tracker32 = offseq::commit_tracker<8, 64, offseq::cortex_m::preferred_sync<std::uint32_t>>;
using tracker64 = offseq::commit_tracker<8, 64, offseq::cortex_m::sync64>;

// Globals, as firmware keeps them: constant-initialized, all zero, so they land in .bss (no
// flash image of their initial value, nothing for the startup code to copy).
tracker32 g_tracker32;
tracker64 g_tracker64;

template <class T>
void basics(T& t) {
  const auto g = t.assign(0);
  TCHECK(g != 0);
  TCHECK(t.current_generation(0) == g);
  TCHECK(t.committed(0) == 0);
  TCHECK(t.commit(0, 5, g) == status::ok);
  TCHECK(t.commit(0, 3, g) == status::stale);
  TCHECK(t.committed(0) == 5);
  // Out of order: the floor waits for the gap.
  TCHECK(t.complete(0, 7, g) == status::ok);
  TCHECK(t.complete(0, 6, g) == status::ok);
  TCHECK(t.committed(0) == 5);
  TCHECK(t.is_completed(0, 7) && !t.is_completed(0, 8));
  TCHECK(t.complete(0, 5, g) == status::ok);
  TCHECK(t.committed(0) == 8);
  TCHECK(t.complete_range(0, 8, 40, g) == status::ok);
  TCHECK(t.committed(0) == 40);
  TCHECK(t.complete(0, 40 + 64, g) == status::window_full);
  // Fencing: a new owner, or a revoke, fences every earlier generation.
  const auto g2 = t.assign(0);
  TCHECK(g2 != g);
  TCHECK(t.commit(0, 50, g) == status::fenced);
  TCHECK(t.complete(0, 41, g) == status::fenced);
  TCHECK(t.commit(0, 50, g2) == status::ok);
  t.revoke(0);
  TCHECK(t.current_generation(0) == 0);
  TCHECK(t.commit(0, 60, g2) == status::fenced);
  TCHECK(t.committed(0) == 50);
  // Bad input changes nothing.
  TCHECK(t.commit(8, 1, g2) == status::invalid_argument);
  TCHECK(t.complete(0, -1, g2) == status::invalid_argument);
  TCHECK(t.restore(0, T::max_position + 1) == status::invalid_argument);
  TCHECK(t.complete(0, T::max_position, g2) == status::invalid_argument);
  TCHECK(t.committed(0) == 50);
  // drain hands over each changed partition once.
  std::int64_t seen = -1;
  std::size_t calls = 0;
  t.drain([&](std::size_t p, std::int64_t pos) {
    ++calls;
    if (p == 0) seen = pos;
  });
  TCHECK(calls == 1 && seen == 50);
  TCHECK(t.drain([](std::size_t, std::int64_t) {}) == 0);
}

template <class T>
void near_the_top(T& t) {
  // Block numbers beyond 32 bits (64-bit words): slot arithmetic must not truncate.
  const std::int64_t base = T::max_position - 300;
  TCHECK(t.restore(1, base) == status::ok);
  const auto g = t.assign(1);
  for (std::int64_t o = base + 63; o >= base; --o) TCHECK(t.complete(1, o, g) == status::ok);
  TCHECK(t.committed(1) == base + 64);
  for (std::int64_t o = base + 64; o < T::max_position; ++o) {
    if (t.complete(1, o, g) != status::ok) {
      TCHECK(false);
      break;
    }
  }
  TCHECK(t.committed(1) == T::max_position);
  TCHECK(t.complete(1, T::max_position, g) == status::invalid_argument);
}

template <class T>
void snapshot_roundtrip(T& t) {
  const auto g = t.assign(2);
  TCHECK(t.commit(2, 100, g) == status::ok);
  TCHECK(t.complete(2, 102, g) == status::ok);
  TCHECK(t.complete(2, 163, g) == status::ok);
  const typename T::window_snapshot snap = t.snapshot(2);
  TCHECK(snap.position == 100);
  TCHECK(t.restore(3, snap) == status::ok);
  TCHECK(t.committed(3) == 100 && t.is_completed(3, 102) && t.is_completed(3, 163) && !t.is_completed(3, 101));
}

bool in_bss(const void* p) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  return a >= reinterpret_cast<std::uintptr_t>(__bss_start) && a < reinterpret_cast<std::uintptr_t>(__bss_end);
}
}  // namespace

void target_commit_tracker() {
  target_test::run("commit_tracker<8, 64, preferred_sync<uint32_t>>: commit, complete, fencing, drain", [] {
    basics(g_tracker32);
  });
  target_test::run("commit_tracker<8, 64, sync64>: commit, complete, fencing, drain", [] { basics(g_tracker64); });
  target_test::run("commit_tracker: positions up to max_position (2^24-1 and 2^48-1)", [] {
    near_the_top(g_tracker32);
    near_the_top(g_tracker64);
  });
  target_test::run("commit_tracker: snapshot / restore of the completion window", [] {
    snapshot_roundtrip(g_tracker32);
    snapshot_roundtrip(g_tracker64);
  });
  target_test::run("commit_tracker: a global tracker is zero-initialized (.bss, no flash copy)", [] {
    TCHECK(in_bss(&g_tracker32));
    TCHECK(in_bss(&g_tracker64));
  });
}
