// offseq — commit-only-what-was-processed, accept-each-write-once, atomic groups of writes,
// and state that survives the power going out: the bookkeeping behind Kafka's at-least-once
// and exactly-once guarantees, for firmware and latency-critical code.
//
// Single header, C++17, freestanding: no heap, no exceptions, no RTTI, no OS calls, no global
// mutable state. Every engine is a fixed-size object whose sizeof is a compile-time function of
// its template arguments (see README "Memory"). Time is always passed in by the caller.
//
// SPDX-License-Identifier: MIT
//
// Contents (in dependency order)
//   1. Configuration        OFFSEQ_CACHE_LINE, OFFSEQ_ASSERT, OFFSEQ_SMALL, optional offseq_config.h
//   2. Status               status, to_string
//   3. Sync policies        atomic_sync, atomic_sync32, critical_section_sync<Guard, Word>
//   4. Commit tracker       commit_tracker<Partitions, Window, Sync, Stripes>
//   5. Sequence table       batch_header, verdict, sequence_table<Producers, History, Strict>
//   6. Transactions         txn_state, is_valid_transition, txn_coordinator, txn_index
//   7. Journal              crc32c, Storage concept, journal<Storage>; tracker_log, producer_log,
//                           txn_log, txn_index_log (each engine's records)
#ifndef OFFSEQ_HPP
#define OFFSEQ_HPP

#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <type_traits>

#define OFFSEQ_VERSION_MAJOR 0
#define OFFSEQ_VERSION_MINOR 1
#define OFFSEQ_VERSION_PATCH 0

// ============================================================================================
// 1. Configuration
// Every knob can be set before including this header or in an optional offseq_config.h.
// ============================================================================================
#if defined(__has_include)
#if __has_include("offseq_config.h")
#include "offseq_config.h"
#endif
#endif

// Alignment of per-partition state, so two threads on two partitions never share a cache line
// (false sharing). 0 disables the padding: MCUs without a data cache gain nothing from it.
#ifndef OFFSEQ_CACHE_LINE
#if defined(__ARM_ARCH_6M__) || defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || \
    defined(__ARM_ARCH_8M_BASE__) || defined(__ARM_ARCH_8M_MAIN__)
#define OFFSEQ_CACHE_LINE 0
#else
#define OFFSEQ_CACHE_LINE 64
#endif
#endif

// Internal invariant check. Default: nothing. Define it to an assert, or to a hook that logs to
// flash and lets the watchdog reset. It never guards user input: bad input returns a status.
#ifndef OFFSEQ_ASSERT
#define OFFSEQ_ASSERT(cond) ((void)0)
#endif

// 1 = smaller code, 0 = faster code (sequence_table's separate in-sequence path, inlined record
// copies and helpers). Default: 1 when the compiler optimizes for size (-Os). Set it yourself
// if translation units built with -Os and -O2 both include offseq: otherwise they define the
// same inline functions differently (an ODR violation; each definition is correct alone).
#ifndef OFFSEQ_SMALL
#if defined(__OPTIMIZE_SIZE__)
#define OFFSEQ_SMALL 1
#else
#define OFFSEQ_SMALL 0
#endif
#endif

// A rare path kept out of its caller, so the caller's hot path stays small (fewer registers to
// save); built small, the compiler places everything.
#if defined(__GNUC__) && !OFFSEQ_SMALL
#define OFFSEQ_COLD __attribute__((noinline, cold))
#else
#define OFFSEQ_COLD
#endif

// Built small, a helper several callers share stays out of line: one copy instead of one
// inlined into each (GCC at -Os copied them). A fast build lets the compiler place it.
#if defined(__GNUC__) && OFFSEQ_SMALL
#define OFFSEQ_SHARED __attribute__((noinline))
#else
#define OFFSEQ_SHARED
#endif

namespace offseq {
inline namespace v1 {  // two incompatible copies linked into one image fail to link, not mix

// ============================================================================================
// 2. Status
// Every fallible call returns a status. A call that returns anything but `ok` changed nothing.
// ============================================================================================
enum class status : std::uint8_t {
  ok,                       ///< done as asked
  stale,                    ///< at or below what is already committed/recorded: nothing changed
  fenced,                   ///< caller's generation or producer epoch is older than the current one
  duplicate,                ///< batch already recorded; verdict.offset says where it went
  out_of_order,             ///< sequence gap or overlap: not the next expected sequence
  unknown_producer,         ///< producer id / transactional id not known where it must be
  window_full,              ///< completion too far above the committed floor: retry after it advances
  table_full,               ///< no free slot and none expirable
  invalid_state,            ///< not allowed in the current transaction state
  concurrent_transactions,  ///< the previous transaction of this id is still completing
  invalid_argument,         ///< out-of-range index, negative offset, bad sequence range, bad timeout...
  not_found,                ///< nothing stored / no such record
  io_error,                 ///< a storage or transport hook failed; engine state unchanged
  corrupt,                  ///< stored data failed its integrity check
};

/// Stable lowercase name of a status; never null.
constexpr const char* to_string(status s) noexcept {
  switch (s) {
    case status::ok: return "ok";
    case status::stale: return "stale";
    case status::fenced: return "fenced";
    case status::duplicate: return "duplicate";
    case status::out_of_order: return "out_of_order";
    case status::unknown_producer: return "unknown_producer";
    case status::window_full: return "window_full";
    case status::table_full: return "table_full";
    case status::invalid_state: return "invalid_state";
    case status::concurrent_transactions: return "concurrent_transactions";
    case status::invalid_argument: return "invalid_argument";
    case status::not_found: return "not_found";
    case status::io_error: return "io_error";
    case status::corrupt: return "corrupt";
  }
  return "unknown";
}

// ============================================================================================
// 3. Sync policies
// The engines touch shared words only through `Sync::cell<T>`, a minimal atomic cell:
//   load, store, exchange, compare_exchange (strong), fetch_add, fetch_or.
// All operations are sequentially consistent: the proofs in the commit tracker rely on a
// single total order, and on the targets that matter (x86 RMWs, ARMv7-M with one core) it
// costs nothing over acquire/release.
//
// atomic_sync / atomic_sync32   std::atomic over 64- / 32-bit words. A target where those
//                               atomics are not always lock-free (it would call libatomic,
//                               which may take a lock) fails to compile: use
//                               critical_section_sync<Guard> there.
// critical_section_sync<G, W>   every access inside `G guard;` (an RAII type from the platform,
//                               e.g. PRIMASK save/disable/restore on Cortex-M). For single-core
//                               targets without a native CAS of the word width (Cortex-M0+;
//                               64-bit words on Cortex-M3/M4).
// Word width: 64-bit words give the full ranges of the contract (positions < 2^48); 32-bit
// words give positions < 2^24 and keep the tracker lock-free on Cortex-M3/M4 (see section 4).
// ============================================================================================
template <class Word>
struct basic_atomic_sync {
  static_assert(std::is_same<Word, std::uint64_t>::value || std::is_same<Word, std::uint32_t>::value,
                "offseq: the sync word is std::uint64_t or std::uint32_t");
  using word = Word;
  template <class T>
  class cell {
    static_assert(std::atomic<T>::is_always_lock_free,
                  "offseq: std::atomic of this width is not lock-free on this target (it would call "
                  "libatomic). Use offseq::critical_section_sync<Guard> with a platform guard "
                  "(platform/cortex_m.hpp: offseq::cortex_m::interrupt_guard), or "
                  "offseq::atomic_sync32 for a lock-free 32-bit tracker on Cortex-M3/M4.");
    std::atomic<T> v_;

   public:
    constexpr cell() noexcept : v_(T{}) {}
    constexpr explicit cell(T v) noexcept : v_(v) {}
    T load() const noexcept { return v_.load(std::memory_order_seq_cst); }
    T load_relaxed() const noexcept { return v_.load(std::memory_order_relaxed); }
    void store(T v) noexcept { v_.store(v, std::memory_order_seq_cst); }
    T exchange(T v) noexcept { return v_.exchange(v, std::memory_order_seq_cst); }
    bool compare_exchange(T& expected, T desired) noexcept {
      return v_.compare_exchange_strong(expected, desired, std::memory_order_seq_cst);
    }
    T fetch_add(T v) noexcept { return v_.fetch_add(v, std::memory_order_seq_cst); }
    T fetch_or(T v) noexcept { return v_.fetch_or(v, std::memory_order_seq_cst); }
  };
  static constexpr bool lock_free = true;
};
using atomic_sync = basic_atomic_sync<std::uint64_t>;    ///< default: 64-bit words, lock-free
using atomic_sync32 = basic_atomic_sync<std::uint32_t>;  ///< 32-bit words: lock-free on Cortex-M3/M4

/// Guard: default-constructible RAII type; while one is alive nothing else touches offseq
/// state (interrupts masked on a single core). It must also be a compiler barrier.
template <class Guard, class Word = std::uint64_t>
struct critical_section_sync {
  static_assert(std::is_same<Word, std::uint64_t>::value || std::is_same<Word, std::uint32_t>::value,
                "offseq: the sync word is std::uint64_t or std::uint32_t");
  using word = Word;
  template <class T>
  class cell {
    volatile T v_;  // volatile: the guard orders against interrupts; the compiler must not cache

   public:
    constexpr cell() noexcept : v_(T{}) {}
    constexpr explicit cell(T v) noexcept : v_(v) {}
    T load() const noexcept {
      Guard g;
      (void)g;
      return v_;
    }
    T load_relaxed() const noexcept { return load(); }
    void store(T v) noexcept {
      Guard g;
      (void)g;
      v_ = v;
    }
    T exchange(T v) noexcept {
      Guard g;
      (void)g;
      T old = v_;
      v_ = v;
      return old;
    }
    bool compare_exchange(T& expected, T desired) noexcept {
      Guard g;
      (void)g;
      T cur = v_;
      if (cur != expected) {
        expected = cur;
        return false;
      }
      v_ = desired;
      return true;
    }
    T fetch_add(T v) noexcept {
      Guard g;
      (void)g;
      T old = v_;
      v_ = static_cast<T>(old + v);
      return old;
    }
    T fetch_or(T v) noexcept {
      Guard g;
      (void)g;
      T old = v_;
      v_ = static_cast<T>(old | v);
      return old;
    }
  };
  static constexpr bool lock_free = false;
};

namespace detail {
// Pads T to a cache line when OFFSEQ_CACHE_LINE is set.
#if OFFSEQ_CACHE_LINE > 0
inline constexpr std::size_t cache_align = OFFSEQ_CACHE_LINE;
// commit_tracker's default completion stripes (one cache line each): see its class comment.
inline constexpr std::size_t tracker_stripes = 4;
#else
inline constexpr std::size_t cache_align = 1;
inline constexpr std::size_t tracker_stripes = 1;
#endif

template <class U>
constexpr unsigned count_trailing_ones(U v) noexcept {
  unsigned n = 0;
  while (v & 1u) {
    v >>= 1;
    ++n;
  }
  return n;
}

// v % n for 1 <= n <= 65536 in 32-bit arithmetic (no 64-bit division on 32-bit cores):
// 2^32 = r (mod n) folds the high half in; hi * r + lo < n^2 <= 2^32 - n, so nothing overflows.
constexpr std::uint32_t mod_u64_small(std::uint64_t v, std::uint32_t n) noexcept {
  const std::uint32_t r = (0xFFFFFFFFu % n + 1u) % n;
  return (static_cast<std::uint32_t>(v >> 32) % n * r + static_cast<std::uint32_t>(v) % n) % n;
}
static_assert(mod_u64_small(~std::uint64_t{0}, 4097) == ~std::uint64_t{0} % 4097, "");
static_assert(mod_u64_small(~std::uint64_t{0}, 65536) == ~std::uint64_t{0} % 65536, "");
static_assert(mod_u64_small(0x0000FFFFFFFFFFFFull, 65535) == 0x0000FFFFFFFFFFFFull % 65535, "");
static_assert(mod_u64_small(0x123456789ABCull, 5) == 0x123456789ABCull % 5, "");
}  // namespace detail

// ============================================================================================
// 4. Commit tracker — at-least-once commits (SEMANTICS.md §1)
//
// Per partition, the committed position (next offset to consume) never moves backwards except
// by reset(), never passes an offset that was not reported processed, and never accepts a
// commit from an owner that assign() or revoke() fenced.
//
// Contexts: commit, complete, complete_range, committed, is_completed, assign, revoke and
// drain may be called concurrently from any thread or interrupt handler; they are lock-free
// with atomic_sync/atomic_sync32 (no mutex, no spin, no allocation, bounded retries under
// contention only). restore and reset need exclusive access to their partition.
//
// State per partition (all words of Sync::word, W = 64 or 32 bits):
//   head   = floor (P bits, low) | change counter v (W-P bits, high). Every change of the
//            floor is a CAS on head; assign/revoke add 1 to v, so a commit that read head
//            before an assign cannot CAS it afterwards: commits are linearizable with fencing.
//   owner  = 32 bits: bit 31 "owned" | generation (31 bits) last handed out. assign()
//            writes owner before bumping v; commit reads head before owner, so a commit that
//            sees the old owner also holds a head that the bump will invalidate.
//   dirty  = the floor moved since the last drain.
//   stripes = K = Stripes groups of completion slots: offset o is bit (o / K) % B of stripe
//            o % K. With K > 1 every stripe has a cache line of its own, so workers on
//            different cores completing neighbouring offsets rarely write the same line (two
//            workers taking alternate offsets never do).
//   slots  = S = ceil(ceil(Window/K)/B)+1 words per stripe, each tag (block number, W-B bits)
//            | B completion bits for stripe indices [tag*B, tag*B+B). Block b lives in slot
//            b % S; the live window [floor, floor+Window) covers at most ceil(Window/K)
//            consecutive indices of a stripe, so live blocks never share a slot, and a slot
//            whose tag is not the live block there holds a dead block (all offsets below the
//            floor) that may be overwritten. Tags are exact block numbers (never wrap within
//            the position range), so a stale slot can never alias a live block.
// Every word starts at 0 (never assigned, position 0, empty slots), so a tracker with static
// storage is zero-initialized: it lives in .bss, with no initial image in flash.
//
// The committed position is the floor plus the run of completed offsets that starts at it.
// complete() only sets its bit; the floor moves over the run when a completion lands
// lag_limit = min(Window, 2*K*B) or more above it, on commit/complete_range and on drain. A
// completion is then one CAS on a line its core usually owns already, and the head line stays
// read-shared: moving the floor on every completion cost two cache-line transfers per offset
// when two cores take turns. committed() and is_completed() compute the run: usually 3 loads
// per stripe or fewer (a completion lag_limit above the floor absorbs the run), K*S at most
// (the run can reach the window's end when the offsets under lag_limit finish last). The
// floor's own stripe is scanned first and bounds the others, so an offset stuck at the floor
// costs one load, not every stripe's run. The run is read under one floor: if the floor
// moved meanwhile (its slots may be reused) the read is repeated, so results never go back.
// One relaxation: a commit(to) (or a complete_range reaching to) racing the complete(o) that
// fills the last gap below `to` may both answer ok, where one of them would be stale in any
// sequential order; the position they leave is right either way.
//
//                 W=64 (atomic_sync)     W=32 (atomic_sync32)
//   positions     0 .. 2^48-1            0 .. 2^24-1
//   offsets       0 .. 2^48-2            0 .. 2^24-2      (offset o needs position o+1)
//   generations   1 .. 2^31-1, then wraps to 1 (the holder of a generation 2^31-1 assigns old
//                 would alias: documented, unreachable in practice)
//   B (bits/slot) 16                     8
//   counter v     16 bits                8 bits: a commit that stalls between its head read and
//                 its CAS while exactly 2^16 (2^8) assign/revoke calls land on the partition and
//                 the position comes back to the same value could pass the fence (ABA). With
//                 32-bit words, don't rebalance one partition 256 times inside one commit call.
// Input beyond these limits is invalid_argument, never an overflow.
// ============================================================================================
template <std::size_t Partitions, std::size_t Window = 64, class Sync = atomic_sync,
          std::size_t Stripes = detail::tracker_stripes>
class commit_tracker {
 public:
  using generation = std::uint32_t;
  using sync_type = Sync;
  using word = typename Sync::word;
  // Positions, offsets and block numbers inside: the word's width (position_bits < word_bits),
  // so a 32-bit tracker on a 32-bit core does no 64-bit arithmetic.
  using pos_t = word;

  static_assert(Partitions >= 1, "offseq: commit_tracker needs at least one partition");
  static_assert(Window >= 1 && Window <= 65536, "offseq: Window is 1..65536 offsets");
  static_assert(Stripes >= 1 && Stripes <= 64 && (Stripes & (Stripes - 1)) == 0,
                "offseq: Stripes is a power of two, 1..64");

  static constexpr unsigned word_bits = sizeof(word) * CHAR_BIT;
  static constexpr unsigned position_bits = word_bits == 64 ? 48 : 24;
  static constexpr unsigned block_bits = word_bits == 64 ? 16 : 8;  ///< completion bits per slot
  static constexpr std::int64_t max_position = (std::int64_t{1} << position_bits) - 1;
  static constexpr std::size_t stripes = Stripes;
  static constexpr std::size_t slots_per_stripe = ((Window + Stripes - 1) / Stripes + block_bits - 1) / block_bits + 1;
  static constexpr generation max_generation = 0x7fffffffu;
  static constexpr std::size_t window = Window;
  /// A completion this far above the floor first moves the floor over the run, which keeps the
  /// run that committed() computes short (usually 3 slot loads per stripe or fewer).
  static constexpr std::size_t lag_limit = Window < 2 * Stripes * block_bits ? Window : 2 * Stripes * block_bits;

  constexpr commit_tracker() noexcept = default;

  /// Boot: load a persisted position. Clears the partition's completions; not a change for
  /// drain. Needs exclusive access to p. invalid_argument for p or position out of range.
  status restore(std::size_t p, std::int64_t position) noexcept {
    if (p >= Partitions || !valid_position(position)) return status::invalid_argument;
    rewind(parts_[p], position);
    parts_[p].dirty.store(0);
    return status::ok;
  }

  /// New owner of p: returns a fresh non-zero generation and fences every earlier one.
  /// Returns 0 for p >= Partitions.
  generation assign(std::size_t p) noexcept {
    if (p >= Partitions) return 0;
    partition& s = parts_[p];
    std::uint32_t cur = s.owner.load();
    std::uint32_t next;
    do {
      const std::uint32_t last = cur & max_generation;
      next = last == max_generation ? 1u : last + 1u;
    } while (!s.owner.compare_exchange(cur, next | owned_bit));
    s.head.fetch_add(version_one);  // after owner: see the class comment
    return next;
  }

  /// The partition is no longer owned here: every generation handed out so far is fenced.
  void revoke(std::size_t p) noexcept {
    if (p >= Partitions) return;
    partition& s = parts_[p];
    std::uint32_t cur = s.owner.load();  // clear "owned", keep the generation counter
    while ((cur & owned_bit) && !s.owner.compare_exchange(cur, cur & max_generation)) {
    }
    s.head.fetch_add(version_one);
  }

  /// In-order processing finished everything below `next`.
  status commit(std::size_t p, std::int64_t next, generation g) noexcept {
    if (p >= Partitions || !valid_position(next)) return status::invalid_argument;
    partition& s = parts_[p];
    const word h = s.head.load();
    if (!owns(s, g)) return status::fenced;  // read after head: see the class comment
    return raise_to(s, h, static_cast<pos_t>(next), g);
  }

  /// Offset `offset` alone is processed (workers finish out of order).
  status complete(std::size_t p, std::int64_t offset, generation g) noexcept {
    if (p >= Partitions || offset < 0 || offset >= max_position) return status::invalid_argument;
    partition& s = parts_[p];
    word h = s.head.load();
    if (!owns(s, g)) return status::fenced;
    const pos_t o = static_cast<pos_t>(offset);
    if (o >= position_of(h) + lag_limit) h = advance_from(s, h);  // keeps committed() short
    if (o < position_of(h)) return status::stale;
    if (o >= position_of(h) + Window) return status::window_full;
    // The bit is a fact ("processed"), so once the checks passed it is recorded even if an
    // assign lands meanwhile: the call started before that assign returned (CONTRACT).
    const mark m = set_bit(s, o);
    if (m == mark::added) return status::ok;
    if (m == mark::passed) return status::stale;
    // Completed before: stale if the committed position has passed it.
    return o < current_end(s) ? status::stale : status::ok;
  }

  /// Every offset in [first, end) is processed: a batch, or a gap Kafka leaves in a partition.
  status complete_range(std::size_t p, std::int64_t first, std::int64_t end, generation g) noexcept {
    if (p >= Partitions || first < 0 || end < first || !valid_position(end)) return status::invalid_argument;
    partition& s = parts_[p];
    const pos_t f = static_cast<pos_t>(first), e = static_cast<pos_t>(end);
    word h = s.head.load();
    // The range may start inside the run: move the floor first. Before the owner read, so
    // raise_to's CAS still fails if an assign lands after it (see the class comment).
    if (f > position_of(h)) h = advance_from(s, h);
    if (!owns(s, g)) return status::fenced;
    if (f == e) return status::stale;
    if (f <= position_of(h)) return raise_to(s, h, e, g);
    if (e > position_of(h) + Window) return status::window_full;
    for (std::size_t k = 0; k < Stripes; ++k) set_indices(s, k, first_index(f, k), first_index(e, k));
    return status::ok;
  }

  /// True for every offset below committed(p) (negative ones included: CONTRACT) and for
  /// completions recorded above it; false for p >= Partitions.
  bool is_completed(std::size_t p, std::int64_t offset) const noexcept {
    if (p >= Partitions || offset >= max_position) return false;
    if (offset < 0) return true;
    const partition& s = parts_[p];
    const pos_t o = static_cast<pos_t>(offset);
    // Not marked: either never completed, or the floor passed it and the slot was reused.
    return marked(s, o) || o < contiguous_end(s, position_of(s.head.load()));
  }

  /// Next offset to consume; -1 for p >= Partitions.
  std::int64_t committed(std::size_t p) const noexcept {
    if (p >= Partitions) return -1;
    const partition& s = parts_[p];
    return static_cast<std::int64_t>(current_end(s));
  }

  /// Explicit rewind (or jump): the only way back. Clears completions; counts for drain.
  /// Needs exclusive access to p.
  status reset(std::size_t p, std::int64_t position) noexcept {
    if (p >= Partitions || !valid_position(position)) return status::invalid_argument;
    rewind(parts_[p], position);
    parts_[p].dirty.store(1);
    return status::ok;
  }

  /// Calls sink(p, position) once for each partition whose position changed since the
  /// previous drain, with its latest position. A sink returning false (or a status other than
  /// ok) keeps p pending.
  /// Returns how many positions the sink accepted. Under a race with a concurrent advance a
  /// position may be handed over twice (harmless for persistence); one is never missed.
  template <class Sink>
  std::size_t drain(Sink&& sink) noexcept {
    std::size_t accepted = 0;
    for (std::size_t p = 0; p < Partitions; ++p) {
      partition& s = parts_[p];
      (void)advance_from(s, s.head.load());  // completions since the floor last moved
      if (s.dirty.load_relaxed() == 0 || s.dirty.exchange(0) == 0) continue;
      // Read after clearing: an advance that lands later sets dirty again.
      const std::int64_t pos = static_cast<std::int64_t>(position_of(s.head.load()));
      if (hand_over(sink, p, pos)) {
        ++accepted;
      } else {
        s.dirty.store(1);
      }
    }
    return accepted;
  }

  /// What persists of a partition (SEMANTICS.md §1.8): the position and the completions above
  /// it, bit i (byte i / 8, bit i % 8) standing for offset position + i, i < Window.
  static constexpr std::size_t window_bytes = (Window + 7) / 8;
  struct window_snapshot {
    std::int64_t position;
    std::uint8_t completed[window_bytes];
  };

  /// Snapshot of p for the journal. Safe to take while p is in use: the position read is at
  /// most the current one and every offset marked completed was completed, so restoring it
  /// never skips work. -1 position for p >= Partitions.
  window_snapshot snapshot(std::size_t p) const noexcept {
    window_snapshot snap{};
    if (p >= Partitions) {
      snap.position = -1;
      return snap;
    }
    const partition& s = parts_[p];
    const pos_t pos = current_end(s);
    snap.position = static_cast<std::int64_t>(pos);
    for (pos_t i = 0; i < Window; ++i)
      if (marked(s, pos + i)) snap.completed[i / 8] = static_cast<std::uint8_t>(snap.completed[i / 8] | (1u << (i % 8)));
    return snap;
  }

  /// Boot: restore a snapshot (position and completions above it). Like restore(p, position)
  /// otherwise.
  status restore(std::size_t p, const window_snapshot& snap) noexcept {
    if (p >= Partitions || !valid_position(snap.position)) return status::invalid_argument;
    const pos_t floor = static_cast<pos_t>(snap.position);
    for (pos_t i = 0; i < Window; ++i)
      if (((snap.completed[i / 8] >> (i % 8)) & 1u) && floor + i >= static_cast<pos_t>(max_position))
        return status::invalid_argument;
    partition& s = parts_[p];
    rewind(s, snap.position);
    s.dirty.store(0);
    for (pos_t i = 0; i < Window; ++i) {
      if (!((snap.completed[i / 8] >> (i % 8)) & 1u)) continue;
      (void)set_bit(s, floor + i);
    }
    return status::ok;
  }

  /// True if p's position changed since the last drain (for tests and metrics).
  bool pending(std::size_t p) const noexcept {
    if (p >= Partitions) return false;
    const partition& s = parts_[p];
    word h = s.head.load();
    const pos_t end = run_under(s, h);
    return s.dirty.load() != 0 || end != position_of(h);
  }

  /// Current generation of p, 0 if none (never assigned, or revoked).
  generation current_generation(std::size_t p) const noexcept {
    if (p >= Partitions) return 0;
    const std::uint32_t o = parts_[p].owner.load();
    return (o & owned_bit) ? (o & max_generation) : 0;
  }

  static constexpr std::size_t partitions() noexcept { return Partitions; }

 private:
  template <class T>
  using cell = typename Sync::template cell<T>;

  static constexpr word position_mask = (word{1} << position_bits) - 1;
  static constexpr word version_one = word{1} << position_bits;
  static constexpr word block_mask = (word{1} << block_bits) - 1;
  static constexpr std::uint32_t owned_bit = 0x80000000u;

  // Never below the members' own alignment: clang rejects an alignas that would lower it
  // (OFFSEQ_CACHE_LINE 0 on Cortex-M).
  static constexpr std::size_t partition_align =
      detail::cache_align > alignof(cell<word>) ? detail::cache_align : alignof(cell<word>);
  // One stripe alone: its own line(s), apart from head and from the other stripes.
  static constexpr std::size_t stripe_align = Stripes > 1 ? partition_align : alignof(cell<word>);
  struct alignas(stripe_align) stripe {
    // All zero: every slot holds tag 0, which is block 0 in slot 0 and, in any other slot,
    // a block that cannot live there (block b lives in slot b % S), so it reads as empty.
    cell<word> slots[slots_per_stripe];
  };
  struct alignas(partition_align) partition {
    cell<word> head;
    cell<std::uint32_t> owner;  // 0: never assigned (generation 0 is never current)
    cell<std::uint32_t> dirty;
    stripe stripes[Stripes];
  };
  enum class mark : unsigned char { added, present, passed };  // passed: the floor is past it

  static constexpr bool valid_position(std::int64_t v) noexcept { return v >= 0 && v <= max_position; }
  static constexpr std::size_t stripe_of(pos_t o) noexcept { return static_cast<std::size_t>(o % Stripes); }
  // First index of stripe k whose offset (index * K + k) is at or above pos.
  static constexpr pos_t first_index(pos_t pos, std::size_t k) noexcept {
    return (pos + static_cast<pos_t>(Stripes - 1 - k)) / Stripes;
  }
  // block % S without a 64-bit division, which is a libgcc call (__aeabi_uldivmod) on 32-bit
  // cores: with 32-bit words a block number fits the native word.
  static constexpr std::size_t slot_of(pos_t block) noexcept {
    if constexpr (sizeof(word) <= sizeof(std::size_t)) {
      return static_cast<std::size_t>(static_cast<word>(block)) % slots_per_stripe;
    } else {
      return detail::mod_u64_small(block, static_cast<std::uint32_t>(slots_per_stripe));
    }
  }
  static constexpr pos_t position_of(word h) noexcept { return h & position_mask; }
  static constexpr word with_position(word h, pos_t pos) noexcept {
    return static_cast<word>((h & ~position_mask) | static_cast<word>(pos));
  }
  static constexpr pos_t tag_of(word slot) noexcept { return slot >> block_bits; }
  static constexpr word make_slot(pos_t block, word bits) noexcept {
    return static_cast<word>((static_cast<word>(block) << block_bits) | bits);
  }
  static bool owns(const partition& s, generation g) noexcept {
    return g != 0 && g <= max_generation && s.owner.load() == (g | owned_bit);
  }
  // Where offset o's completion bit lives: stripe, block within the stripe, bit within the slot.
  struct bit_at {
    std::size_t stripe;
    pos_t block;
    word bit;
  };
  static constexpr bit_at bit_of(pos_t o) noexcept {
    const pos_t j = o / Stripes;
    return bit_at{stripe_of(o), j / block_bits, static_cast<word>(word{1} << (j % block_bits))};
  }
  // Offset o's bit is set in a slot that holds its block.
  static bool marked(const partition& s, pos_t o) noexcept {
    const bit_at b = bit_of(o);
    const word slot = s.stripes[b.stripe].slots[slot_of(b.block)].load();
    return tag_of(slot) == b.block && (slot & b.bit) != 0;
  }
  static mark set_bit(partition& s, pos_t o) noexcept {
    const bit_at b = bit_of(o);
    return set_bits(s, b.stripe, b.block, b.bit);
  }

  static void rewind(partition& s, std::int64_t position) noexcept {
    const pos_t pos = static_cast<pos_t>(position);
    for (std::size_t k = 0; k < Stripes; ++k) {
      const pos_t first_block = first_index(pos, k) / block_bits;
      for (pos_t b = first_block; b < first_block + slots_per_stripe; ++b)
        s.stripes[k].slots[slot_of(b)].store(make_slot(b, 0));
    }
    const word h = s.head.load();
    s.head.store(with_position(static_cast<word>(h + version_one), pos));
  }

  // Moves the floor up to `to` (commit, or a range starting at or below the floor).
  // h: head as the caller read it, then found g owning p (owner read after head).
  static status raise_to(partition& s, word h, pos_t to, generation g) noexcept {
    for (;;) {
      // stale if `to` is inside the run already (checked only when to - 1 is marked: an
      // in-order commit never pays for the run).
      if (to <= position_of(h) || (marked(s, to - 1) && run_reaches(s, h, to))) return status::stale;
      if (s.head.compare_exchange(h, with_position(h, to))) break;
      if (!owns(s, g)) return status::fenced;  // h was reloaded by the failed CAS: owner after it
    }
    mark_dirty(s);
    return status::ok;
  }

  // The run at h's floor already reaches `to`: a commit there would not raise committed().
  OFFSEQ_COLD static bool run_reaches(const partition& s, word h, pos_t to) noexcept {
    return to <= contiguous_end(s, position_of(h));
  }

  // Sets `bits` of `block` in stripe k.
  static mark set_bits(partition& s, std::size_t k, pos_t block, word bits) noexcept {
    cell<word>& slot = s.stripes[k].slots[slot_of(block)];
    word cur = slot.load();
    for (;;) {
      if (tag_of(cur) == block) {
        if ((cur & bits) == bits) return mark::present;
        if (slot.compare_exchange(cur, static_cast<word>(cur | bits))) return mark::added;
        continue;
      }
      // The slot holds another block. If the floor has passed ours, the offsets are covered.
      // Otherwise ours is live, so the other is dead and the slot is ours to claim.
      if ((block + 1) * block_bits <= first_index(position_of(s.head.load()), k)) return mark::passed;
      if (slot.compare_exchange(cur, make_slot(block, bits))) return mark::added;
    }
  }

  // Sets indices [j0, j1) of stripe k.
  static void set_indices(partition& s, std::size_t k, pos_t j0, pos_t j1) noexcept {
    for (pos_t block = j0 / block_bits; j0 < j1 && block * block_bits < j1; ++block) {
      const pos_t lo = block * block_bits > j0 ? block * block_bits : j0;
      const pos_t hi = (block + 1) * block_bits < j1 ? (block + 1) * block_bits : j1;
      const unsigned shift = static_cast<unsigned>(lo % block_bits);
      const unsigned count = static_cast<unsigned>(hi - lo);
      const word bits = static_cast<word>((count == block_bits ? block_mask : ((word{1} << count) - 1)) << shift);
      (void)set_bits(s, k, block, bits);
    }
  }

  // Moves the floor over the run of completed offsets at it and returns the head it left (or
  // found current). Anyone may help: the bits are facts and the CAS keeps the change counter,
  // so ownership is untouched. h: a value head held; a stale one costs a reload or a failed CAS.
  static word advance_from(partition& s, word h) noexcept {
    for (;;) {
      const pos_t end = run_under(s, h);
      if (end == position_of(h)) return h;
      const word next = with_position(h, end);
      if (s.head.compare_exchange(h, next)) {
        mark_dirty(s);
        return next;
      }
    }
  }

  // floor + run, read under one floor: if the floor moved while the slots were read (they may
  // have been reused), read again. h: in, a value head held; out, the head the run belongs to.
  static pos_t run_under(const partition& s, word& h) noexcept {
    for (;;) {
      const pos_t end = contiguous_end(s, position_of(h));
      const word now = s.head.load();
      const bool same_floor = position_of(now) == position_of(h);
      h = now;
      if (same_floor) return end;
    }
  }
  static pos_t current_end(const partition& s) noexcept {
    word h = s.head.load();
    return run_under(s, h);
  }

  // End of the run of completed offsets starting at pos (pos itself if it is not completed):
  // the first offset, over all stripes, whose bit is clear.
  static pos_t contiguous_end(const partition& s, pos_t pos) noexcept {
    pos_t end = ~pos_t{0};
    for (std::size_t n = 0; n < Stripes; ++n) {
      const std::size_t k = static_cast<std::size_t>((pos + n) % Stripes);
      const pos_t limit = n == 0 ? ~pos_t{0} : first_index(end, k);
      const pos_t clear = run_end(s.stripes[k], first_index(pos, k), limit) * pos_t{Stripes} + static_cast<pos_t>(k);
      if (clear < end) end = clear;
    }
    OFFSEQ_ASSERT(end >= pos && end <= static_cast<pos_t>(max_position));  // bits exist only below it
    return end;
  }

  // First index at or after j in a stripe whose bit is clear.
  static pos_t run_end(const stripe& st, pos_t j, pos_t limit) noexcept {
    for (std::size_t n = 0; n < slots_per_stripe && j < limit; ++n) {
      const pos_t block = j / block_bits;
      const word slot = st.slots[slot_of(block)].load();
      if (tag_of(slot) != block) break;
      const unsigned shift = static_cast<unsigned>(j % block_bits);
      const unsigned ones = detail::count_trailing_ones(static_cast<pos_t>((slot & block_mask) >> shift));
      j += ones;
      if (shift + ones < block_bits) break;
    }
    return j;
  }

  static void mark_dirty(partition& s) noexcept {
    if (s.dirty.load() == 0) s.dirty.store(1);
  }

  template <class Sink>
  static bool hand_over(Sink& sink, std::size_t p, std::int64_t pos) noexcept {
    if constexpr (std::is_void<decltype(sink(p, pos))>::value) {
      sink(p, pos);
      return true;
    } else if constexpr (std::is_same<std::decay_t<decltype(sink(p, pos))>, status>::value) {
      return sink(p, pos) == status::ok;  // a cast to bool would read ok (0) as a failure
    } else {
      return static_cast<bool>(sink(p, pos));
    }
  }

  partition parts_[Partitions];
};

// ============================================================================================
// 5. Sequence table — accept each batch once (SEMANTICS.md §2)
//
// Receiver-side idempotence, as Kafka's ProducerStateManager / ProducerAppendInfo: per producer
// id the epoch, the last History batches (first_seq, last_seq, base offset) and the last-seen
// time. check() classifies a batch without changing anything; record() stores a batch that
// check() accepts; admit() does both with one lookup. A retried batch that is still retained is
// `duplicate` (with the offset it was appended at), never appended twice; a full table answers
// `table_full` and never evicts a live producer (its retries would be accepted twice).
// Sequences are 31 bits wide and wrap like Kafka's: INT32_MAX is followed by 0, and a batch
// with last_seq < first_seq spans the wrap.
//
// Contexts: SINGLE WRITER PER TABLE. record, admit, record_marker, expire, erase,
// restore_producer and clear must not overlap any other call on the same table; check,
// check_marker, find, size and for_each_producer may overlap each other. Use one table per
// partition, owned by the one thread (or interrupt priority) that appends to that partition,
// sharded like a thread-per-core server. There are no locks and no atomics: every call is
// bounded, nothing blocks or spins.
//
// An unknown producer is accepted at any sequence (KIP-360). A sender must therefore keep one
// batch in flight until its first ack (a lost first batch followed by the second would be
// accepted with a gap), or use Strict = true (new producers must start at 0).
//
// Transactions: record_marker(producer, epoch, now) for every commit/abort marker written to the
// partition (Kafka's appendEndTxnMarker): a newer epoch clears the history, so after the
// coordinator's fencing abort a zombie's batches are fenced.
//
// Layout: per producer a hot slot (what a lookup and an in-sequence admit read: id, last seen,
// epoch, ring state, next sequence, the retained (first_seq, last_seq) pairs; 24 + 8 * History
// bytes, one cache line at History = 5) and a cold slot (the base offsets, 8 * History bytes,
// written by a store and read only for a duplicate), in two dense arrays; and an open-addressed
// index of index_slots = the power of two >= 2 * Producers words (load factor <= 1/2). An index
// word is (hash tag << entry_bits) | (pool position + 1); 0 is empty. The tag (low hash bits)
// skips most colliding words without touching the pool. Linear probing; removal (expire, erase)
// by backward shift, not tombstones: the words after the hole that belong before it move back,
// so a colliding producer stays reachable, lookups never slow down after churn, and no cleanup
// pass is ever needed. At least half of the index is empty, so a probe ends after at most
// size() + 1 words. The pool stays dense (a removed slot is refilled with the last one), so
// expire and for_each_producer visit live producers only. Ids are hashed by Fibonacci hashing
// (one multiply; the home word is the top bits), which spreads runs of sequential ids, the way
// Kafka hands them out, almost evenly (ids are handed out by the broker, not chosen by peers;
// colliding ids cost probes, never correctness). admit's common case, the next batch of a known
// producer, is a short path the compiler inlines at the caller (one index word, one hot line,
// one cold store); every other case is a call.
//
// sizeof = Producers * (24 + 16 * History) + 4 * (index_slots + 1), rounded up to the hot
// slots' alignment: OFFSEQ_CACHE_LINE when 24 + 8 * History is a multiple of it (History = 5,
// 13, ...), else 8. 1024 producers, History 5: 114,752 B (112 B per producer). The formula is
// `footprint`, checked by a static_assert in the constructor.
// ============================================================================================

/// One produced batch as the receiver sees it (Kafka's record batch header fields).
struct batch_header {
  std::int64_t producer_id;  ///< >= 0
  std::int16_t epoch;        ///< >= 0
  std::int32_t first_seq;    ///< >= 0
  std::int32_t last_seq;     ///< first_seq + count - 1, wrapping after INT32_MAX to 0
};

/// What check/admit decided about a batch.
struct verdict {
  status code;                ///< ok | duplicate | out_of_order | fenced | unknown_producer | table_full | invalid_argument
  std::int64_t offset;        ///< duplicate: base offset of the original batch; otherwise -1
  std::int32_t expected_seq;  ///< out_of_order / unknown_producer: first sequence that would be accepted; otherwise -1
};

/// Largest sequence number; the one after it is 0 (Kafka's 31-bit wrap).
inline constexpr std::int32_t max_sequence = std::numeric_limits<std::int32_t>::max();

/// seq + n with Kafka's 31-bit wrap (DefaultRecordBatch.incrementSequence). Both >= 0.
/// The last sequence of a batch of `count` records starting at `first` is
/// sequence_add(first, count - 1).
constexpr std::int32_t sequence_add(std::int32_t seq, std::int32_t n) noexcept {
  return static_cast<std::int32_t>((static_cast<std::uint32_t>(seq) + static_cast<std::uint32_t>(n)) & 0x7fffffffu);
}

namespace detail {
constexpr std::size_t round_up(std::size_t v, std::size_t a) noexcept { return (v + a - 1) / a * a; }
constexpr std::size_t bit_ceil(std::size_t v) noexcept {
  std::size_t p = 1;
  while (p < v) p <<= 1;
  return p;
}
constexpr unsigned bit_width(std::uint64_t v) noexcept {
  unsigned n = 0;
  while (v != 0) {
    v >>= 1;
    ++n;
  }
  return n;
}
}  // namespace detail

// Paths kept out of the inlined admit: all but the in-sequence batch (NOINLINE), and the rare
// new producer / new epoch (OFFSEQ_COLD).
// Built small (OFFSEQ_SMALL) there is no separate in-sequence path, and the compiler places
// everything.
#if defined(__GNUC__) && !OFFSEQ_SMALL
#define OFFSEQ_SEQ_NOINLINE __attribute__((noinline))
#else
#define OFFSEQ_SEQ_NOINLINE
#endif

template <std::size_t Producers, std::size_t History = 5, bool Strict = false>
class sequence_table {
 public:
  static_assert(Producers >= 1 && Producers <= (std::size_t{1} << 24) - 1, "offseq: sequence_table holds 1 .. 2^24-1 producers");
  static_assert(History >= 1 && History <= 255, "offseq: sequence_table retains 1 .. 255 batches per producer");

  static constexpr std::size_t capacity = Producers;  ///< producers the table can hold
  static constexpr std::size_t history = History;     ///< batches retained per producer
  static constexpr bool strict = Strict;              ///< new producers must start at sequence 0
  /// Open-addressed index words: the power of two >= 2 * Producers (load <= 1/2).
  static constexpr std::size_t index_slots = detail::bit_ceil(2 * Producers);

  /// One producer's state, for the journal (for_each_producer / restore_producer) and find().
  struct producer_snapshot {
    std::int64_t producer_id;
    std::int16_t epoch;
    std::uint64_t last_seen_ms;
    std::uint8_t count;  ///< retained batches, 0 .. History
    struct entry {
      std::int32_t first_seq, last_seq;
      std::int64_t base_offset;
    } batches[History];  ///< oldest first; within an epoch each follows the previous in sequence
  };

  constexpr sequence_table() noexcept {
    static_assert(sizeof(sequence_table) == footprint, "offseq: sizeof(sequence_table) is documented in section 5");
  }

  /// Classifies b without changing anything (SEMANTICS.md §2 rules 1-7, 9).
  verdict check(const batch_header& b) const noexcept {
    where w;
    ruling r;
    return classify(b, 0, w, r);
  }

  /// Stores b at base_offset if check(b) is ok; otherwise returns check's code and changes nothing.
  status record(const batch_header& b, std::int64_t base_offset, std::uint64_t now_ms) noexcept {
    return admit(b, base_offset, now_ms).code;
  }

  /// check, then record if ok, with one lookup.
  verdict admit(const batch_header& b, std::int64_t base_offset, std::uint64_t now_ms) noexcept {
    // The common case, the next batch of a known producer, is short enough to inline at the
    // caller; every other case goes out of line (a call costed a fifth of an admit). Built for
    // size (-Os), check's classify answers every case (judge answers that one first), and a
    // store follows if it is ok.
#if OFFSEQ_SMALL
    where w;
    ruling r;
    verdict v = classify(b, base_offset, w, r);
    if (r.code == status::ok) apply(b, base_offset, now_ms, w, r.fresh());
    return v;
#else
    if (!valid(b) || base_offset < 0) return answer(status::invalid_argument);
    const where w = locate(b.producer_id);
    if (w.found && in_sequence(b.epoch, b.first_seq, hot_[w.slot])) {
      push(w.slot, b.first_seq, b.last_seq, base_offset);
      touch(hot_[w.slot], now_ms);
      return answer(status::ok);
    }
    return admit_slow(b, base_offset, now_ms, w);
#endif
  }

  /// What record_marker would return, changing nothing.
  status check_marker(std::int64_t producer_id, std::int16_t epoch) const noexcept {
    if (producer_id < 0 || epoch < 0) return status::invalid_argument;
    const where w = locate(producer_id);
    if (!w.found) return size_ == Producers ? status::table_full : status::ok;
    return epoch < hot_[w.slot].epoch ? status::fenced : status::ok;
  }

  /// A transaction marker (commit or abort) was written for producer_id at `epoch` (Kafka's
  /// appendEndTxnMarker): an older epoch is fenced; a newer one is stored and clears the
  /// retained batches, so after the coordinator's fencing abort (epoch + 1) the zombie's
  /// batches are fenced and the new instance starts at sequence 0. An unknown producer is added
  /// with that epoch and no batches. Refreshes last_seen. ok, fenced, table_full (unknown
  /// producer, no free slot) or invalid_argument (negative id or epoch).
  status record_marker(std::int64_t producer_id, std::int16_t epoch, std::uint64_t now_ms) noexcept {
    if (producer_id < 0 || epoch < 0) return status::invalid_argument;
    const where w = locate(producer_id);
    if (!w.found) {
      if (size_ == Producers) return status::table_full;
      (void)start_epoch(w, producer_id, epoch, now_ms);
      return status::ok;
    }
    hot& s = hot_[w.slot];
    if (epoch < s.epoch) return status::fenced;
    if (epoch > s.epoch) reset_history(s, epoch);
    touch(s, now_ms);
    return status::ok;
  }

  /// Removes every producer idle for at least idle_ms (now_ms - last_seen >= idle_ms; none whose
  /// last_seen is later than now_ms). Returns how many were removed. O(size()).
  std::size_t expire(std::uint64_t now_ms, std::uint64_t idle_ms) noexcept {
    return expire(now_ms, idle_ms, [](std::int64_t) noexcept { return false; });
  }

  /// expire, except producers for which keep(producer_id) is true (e.g. an open transaction on
  /// this partition: SEMANTICS.md §2.8). keep must not call into this table.
  template <class Keep>
  std::size_t expire(std::uint64_t now_ms, std::uint64_t idle_ms, Keep&& keep) noexcept {
    std::size_t removed = 0;
    for (std::uint32_t i = 0; i < size_;) {
      const hot& s = hot_[i];
      if (now_ms >= s.last_seen_ms && now_ms - s.last_seen_ms >= idle_ms && !keep(s.producer_id)) {
        remove(i);  // the last slot moves into i: look at i again
        ++removed;
      } else {
        ++i;
      }
    }
    return removed;
  }

  /// Producers currently known.
  std::size_t size() const noexcept { return size_; }

  /// Copies producer_id's state into out: ok, not_found, or invalid_argument (negative id).
  status find(std::int64_t producer_id, producer_snapshot& out) const noexcept {
    if (producer_id < 0) return status::invalid_argument;
    const where w = locate(producer_id);
    if (!w.found) return status::not_found;
    out = snapshot_of(w.slot);
    return status::ok;
  }

  /// Forgets producer_id (it becomes unknown, rule 2): ok, not_found, or invalid_argument.
  status erase(std::int64_t producer_id) noexcept {
    if (producer_id < 0) return status::invalid_argument;
    const where w = locate(producer_id);
    if (!w.found) return status::not_found;
    remove(w.slot);
    return status::ok;
  }

  /// Calls f(const producer_snapshot&) once per known producer, in no particular order.
  /// f must not call a writing method of this table.
  template <class F>
  void for_each_producer(F&& f) const noexcept {
    (void)for_each_producer_from(0, [&f](const producer_snapshot& snap) noexcept {
      f(snap);
      return true;
    });
  }
  /// for_each_producer from the `from`-th producer on, while f(snapshot) returns true. Returns
  /// the index of the first producer not visited (size() once all were): writing a table out
  /// in pieces resumes there. Indices hold while the table is not changed.
  template <class F>
  std::size_t for_each_producer_from(std::size_t from, F&& f) const noexcept {
    std::uint32_t i = from < size_ ? static_cast<std::uint32_t>(from) : size_;
    while (i < size_ && f(snapshot_of(i))) ++i;
    return i;
  }

  /// Loads one producer's state (journal replay); replaces a producer with the same id.
  /// invalid_argument: negative id, epoch, sequence or offset, count > History, or retained
  /// batches that do not follow each other in sequence (no accepted history looks like that).
  /// table_full: a new id and no free slot.
  status restore_producer(const producer_snapshot& snap) noexcept {
    if (snap.producer_id < 0 || snap.epoch < 0 || snap.count > History) return status::invalid_argument;
    for (std::size_t k = 0; k < snap.count; ++k) {
      const auto& e = snap.batches[k];
      if (e.first_seq < 0 || e.last_seq < 0 || e.base_offset < 0) return status::invalid_argument;
      if (k > 0 && e.first_seq != sequence_add(snap.batches[k - 1].last_seq, 1)) return status::invalid_argument;
    }
    const where w = locate(snap.producer_id);
    if (!w.found && size_ == Producers) return status::table_full;
    const std::uint32_t i = start_epoch(w, snap.producer_id, snap.epoch, snap.last_seen_ms);
    hot_[i].last_seen_ms = snap.last_seen_ms;
    // Oldest first, as admit stored them: ring positions 0 .. count-1.
    for (std::size_t k = 0; k < snap.count; ++k)
      push(i, snap.batches[k].first_seq, snap.batches[k].last_seq, snap.batches[k].base_offset);
    return status::ok;
  }

  /// Forgets every producer.
  void clear() noexcept {
    for (auto& w : index_) w = 0;
    size_ = 0;
  }

  /// The index word where producer_id's probe starts (for tests of colliding ids).
  static std::size_t home_slot(std::int64_t producer_id) noexcept { return home(hash(producer_id)); }

 private:
  // The hot part of a producer's slot is all that a lookup and an in-sequence admit read: one
  // cache line at History = 5 (24 + 8 * History bytes). Base offsets are only written by a
  // store and read for a duplicate, so they live apart (cold, 8 * History bytes).
  struct alignas(8) hot {
    std::int64_t producer_id;
    std::uint64_t last_seen_ms;
    std::int16_t epoch;
    std::uint8_t wide;      // a retained batch may be longer than long_batch (see judge)
    std::uint8_t newest;    // ring position of the newest retained batch
    std::int32_t next_seq;  // the sequence that follows the newest batch (0 with none: Kafka's -1 + 1)
    std::uint64_t seqs[History];  // (first_seq, last_seq) packed, so a duplicate test is one compare
  };
  struct alignas(8) cold {
    std::int64_t offsets[History];  // base offset of each ring entry of hot::seqs
  };
  static_assert(sizeof(hot) == 24 + 8 * History && sizeof(cold) == 8 * History, "offseq: no implicit padding");
  static_assert(std::is_trivially_copyable<hot>::value && std::is_trivially_copyable<cold>::value, "offseq: slots are plain data");
  // A free ring entry: negative sequences, so it equals no valid batch.
  static constexpr std::uint64_t no_batch = ~std::uint64_t{0};
  // Hot slots start on a cache line when they fill whole lines (History = 5 on a 64-byte line):
  // an admit then touches one line of them, not two.
  static constexpr std::size_t hot_align =
      detail::cache_align > 1 && sizeof(hot) % detail::cache_align == 0 ? detail::cache_align : 8;

  static constexpr unsigned entry_bits = detail::bit_width(Producers);  // holds pool position + 1
  static constexpr std::uint32_t entry_mask = (std::uint32_t{1} << entry_bits) - 1;

  struct where {
    std::uint32_t pos;   // index word: the producer's (found) or the empty one ending the probe
    std::uint32_t slot;  // pool position (found)
    std::uint32_t tag;
    bool found;
  };

  static constexpr bool valid(const batch_header& b) noexcept {
    return (b.producer_id | b.epoch | b.first_seq | b.last_seq) >= 0;  // one sign test for four fields
  }
  static constexpr verdict answer(status s) noexcept { return verdict{s, -1, -1}; }  // no offset, no expected sequence
  static constexpr std::uint64_t pack(std::int32_t first, std::int32_t last) noexcept {
    return static_cast<std::uint32_t>(first) | static_cast<std::uint64_t>(static_cast<std::uint32_t>(last)) << 32;
  }

  // Fibonacci hashing: one multiply. Its high bits (the home word) spread sequential ids, the
  // way Kafka hands them out, evenly; the low half gives the tag. Probes stay bounded whatever
  // the ids (at most size() + 1 words).
  static constexpr std::uint64_t hash(std::int64_t id) noexcept {
    return static_cast<std::uint64_t>(id) * 0x9e3779b97f4a7c15ull;
  }
  // A power-of-two index: the home word is the top hash bits (one shift), the next word a mask.
  static constexpr unsigned index_bits = detail::bit_width(index_slots) - 1;
  static constexpr std::uint32_t index_mask = static_cast<std::uint32_t>(index_slots - 1);
  static constexpr std::uint32_t home(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h >> (64 - index_bits)); }
  static constexpr std::uint32_t tag_of(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h) >> entry_bits; }
  static constexpr std::uint32_t next(std::uint32_t pos) noexcept { return (pos + 1) & index_mask; }

  where locate(std::int64_t id) const noexcept {
    const std::uint64_t h = hash(id);
    const std::uint32_t tag = tag_of(h);
    std::uint32_t pos = home(h);
    for (;;) {  // ends: at least half of the words are empty, and a probe ends at the first one
      const std::uint32_t w = index_[pos];
      if (w == 0) return where{pos, 0, tag, false};
      if ((w >> entry_bits) == tag) {
        const std::uint32_t s = (w & entry_mask) - 1;
        if (hot_[s].producer_id == id) return where{pos, s, tag, true};
      }
      pos = next(pos);
    }
  }

  // judge's answer in registers (8 bytes): building the 24-byte verdict on every path
  // made the compiler merge them through the stack, and the caller's wide reload of partly
  // written bytes stalled store forwarding (a third of an admit).
  struct ruling {
    status code;
    std::uint8_t hit;       // duplicate: ring position of the retained batch; ok: 1 if fresh
    std::int32_t expected;  // out_of_order / unknown_producer
    // ok for a new producer or a new epoch (apply starts its history). Kept in hit, not in a
    // field of its own: each path of judge writes two fields, not three (smaller code).
    constexpr bool fresh() const noexcept { return hit != 0; }
  };
  static constexpr ruling rule(status s, std::int32_t expected = -1) noexcept { return ruling{s, 0, expected}; }
  static constexpr ruling fresh_ok() noexcept { return ruling{status::ok, 1, -1}; }
  verdict to_verdict(const ruling& r, const where& w) const noexcept {
    const std::int64_t offset = r.code == status::duplicate ? cold_[w.slot].offsets[r.hit] : -1;
    return verdict{r.code, offset, r.expected};
  }
  // check's answer, plus the lookup and the ruling that admit stores by (r is set on every path;
  // w unless the batch or the offset is invalid).
  OFFSEQ_SHARED verdict classify(const batch_header& b, std::int64_t base_offset, where& w, ruling& r) const noexcept {
    r = rule(status::invalid_argument);
    if (!valid(b) || base_offset < 0) return answer(r.code);
    w = locate(b.producer_id);
    r = judge(b, w);
    return to_verdict(r, w);
  }

  // Batches longer than this many records (absurd in practice: Kafka batches hold thousands)
  // switch the in-sequence shortcut of judge off for the producer until its epoch changes.
  static constexpr std::uint32_t long_batch = static_cast<std::uint32_t>(max_sequence) / History;
  static constexpr std::uint8_t is_long(std::int32_t first, std::int32_t last) noexcept {
    // (last - first) mod 2^31 is the length - 1
    return ((static_cast<std::uint32_t>(last) - static_cast<std::uint32_t>(first)) & 0x7fffffffu) >= long_batch ? 1 : 0;
  }

  // The ring position holding key, or History: unrolled at compile time (the loop did not unroll
  // at -O2 and cost a quarter of an admit), compare-and-select without branches.
  template <std::size_t K>
  static std::size_t find_batch(const hot& s, std::uint64_t key, std::size_t hit = History) noexcept {
    if constexpr (K == 0) {
      return hit;
    } else {
      return find_batch<K - 1>(s, key, s.seqs[K - 1] == key ? K - 1 : hit);
    }
  }

  // Same epoch, first_seq == next_seq, and no retained batch that could equal it (see judge):
  // rules 3-7 answer ok.
  // (Scalars, not the header: GCC merged the two header fields into one 8-byte load, which
  // stalls on store forwarding when the caller has just written the header field by field.)
  static bool in_sequence(std::int16_t epoch, std::int32_t first_seq, const hot& s) noexcept {
    return epoch == s.epoch && first_seq == s.next_seq && s.wide == 0;
  }

  OFFSEQ_SEQ_NOINLINE verdict admit_slow(const batch_header& b, std::int64_t base_offset, std::uint64_t now_ms, where w) noexcept {
    const ruling r = judge(b, w);
    if (r.code == status::ok) apply(b, base_offset, now_ms, w, r.fresh());
    return to_verdict(r, w);
  }

  ruling judge(const batch_header& b, const where& w) const noexcept {
    if (!w.found) {
      if (Strict && b.first_seq != 0) return rule(status::unknown_producer, 0);  // rule 2, strict
      if (size_ == Producers) return rule(status::table_full);                   // rule 9
      return fresh_ok();                                                          // rule 2 (KIP-360)
    }
    const hot& s = hot_[w.slot];
    if (b.epoch != s.epoch) {
      if (b.epoch < s.epoch) return rule(status::fenced);                          // rule 3
      return b.first_seq == 0 ? fresh_ok() : rule(status::out_of_order, 0);        // rule 4
    }
    // rule 5 before rule 6, but a batch that starts at next_seq can only equal a retained one
    // if the retained batches cover all 2^31 sequences; with none longer than long_batch they
    // cover fewer than History * long_batch < 2^31, so the in-sequence case skips the search.
    if (in_sequence(b.epoch, b.first_seq, s)) return rule(status::ok);
    // Every ring entry is compared (free ones never match), branch-free until the end.
    const std::uint64_t key = pack(b.first_seq, b.last_seq);
    std::size_t hit = History;
    if constexpr (OFFSEQ_SMALL) {  // a loop, not History compares
      for (std::size_t k = History; k-- > 0;) hit = s.seqs[k] == key ? k : hit;  // the first, as find_batch
    } else {
      hit = find_batch<History>(s, key);
    }
    if (hit != History) return ruling{status::duplicate, static_cast<std::uint8_t>(hit), -1};
    return b.first_seq == s.next_seq ? rule(status::ok) : rule(status::out_of_order, s.next_seq);  // rules 6, 7
  }

  void apply(const batch_header& b, std::int64_t base_offset, std::uint64_t now_ms, const where& w, bool fresh) noexcept {
    // A new producer or a new epoch is rare and kept out of line, so the in-sequence store
    // below stays short and spills nothing.
    const std::uint32_t i = fresh ? start_epoch(w, b.producer_id, b.epoch, now_ms) : w.slot;
    push(i, b.first_seq, b.last_seq, base_offset);
    touch(hot_[i], now_ms);
  }

  // Stores an accepted batch as producer i's newest.
  // (The offset last: the arguments before it fit in registers.)
  void push(std::uint32_t i, std::int32_t first_seq, std::int32_t last_seq, std::int64_t base_offset) noexcept {
    hot& s = hot_[i];
    const std::uint8_t n = static_cast<std::uint8_t>(s.newest + 1u == History ? 0u : s.newest + 1u);
    s.newest = n;
    s.seqs[n] = pack(first_seq, last_seq);
    cold_[i].offsets[n] = base_offset;
    s.next_seq = sequence_add(last_seq, 1);
    s.wide = static_cast<std::uint8_t>(s.wide | is_long(first_seq, last_seq));  // sticky until the epoch changes
  }

  static void touch(hot& s, std::uint64_t now_ms) noexcept {
    if (now_ms > s.last_seen_ms) s.last_seen_ms = now_ms;  // never makes a producer look older
  }

  // The slot of a producer that is new or at a new epoch (history cleared: Kafka's
  // maybeUpdateProducerEpoch), ready for its first batch. A new producer takes the next pool
  // slot, and the empty index word w.pos points at it.
  OFFSEQ_COLD OFFSEQ_SHARED std::uint32_t start_epoch(const where& w, std::int64_t producer_id, std::int16_t epoch, std::uint64_t now_ms) noexcept {
    std::uint32_t i = w.slot;
    if (!w.found) {
      OFFSEQ_ASSERT(size_ < Producers && index_[w.pos] == 0);
      i = size_++;
      index_[w.pos] = (w.tag << entry_bits) | (i + 1);
      hot_[i].producer_id = producer_id;
      hot_[i].last_seen_ms = now_ms;
    }
    reset_history(hot_[i], epoch);
    return i;
  }

  static void reset_history(hot& s, std::int16_t epoch) noexcept {
    s.epoch = epoch;
    s.wide = 0;
    s.newest = History - 1;  // the next batch goes to ring position 0
    s.next_seq = 0;
    for (auto& q : s.seqs) q = no_batch;
  }

  // Removes pool slot i: backward-shift delete of its index word, then the last slot moves
  // into i so the pool stays dense.
  void remove(std::uint32_t i) noexcept {
    std::uint32_t hole = locate(hot_[i].producer_id).pos;
    for (std::uint32_t j = next(hole);; j = next(j)) {
      const std::uint32_t wj = index_[j];
      if (wj == 0) break;
      const std::uint32_t h = home(hash(hot_[(wj & entry_mask) - 1].producer_id));
      // wj may fill the hole unless its home lies cyclically in (hole, j].
      const bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
      if (stays) continue;
      index_[hole] = wj;
      hole = j;
    }
    index_[hole] = 0;
    const std::uint32_t last = size_ - 1;
    if (i != last) {
      // The word pointing at `last` still finds it by id; repoint it at i.
      const std::uint32_t pos = locate(hot_[last].producer_id).pos;
      index_[pos] = (index_[pos] & ~entry_mask) | (i + 1);
      hot_[i] = hot_[last];
      cold_[i] = cold_[last];
    }
    size_ = last;
  }

  producer_snapshot snapshot_of(std::uint32_t i) const noexcept {
    const hot& s = hot_[i];
    producer_snapshot out{};
    out.producer_id = s.producer_id;
    out.epoch = s.epoch;
    out.last_seen_ms = s.last_seen_ms;
    // One turn of the ring from the entry after the newest: the entries are filled in ring
    // order from a cleared history, so the retained ones are consecutive and end at the newest,
    // and the free ones (no_batch) before them are skipped: oldest first. (No `%`: a Cortex-M0+
    // has no divide instruction and would link libgcc's division.)
    std::size_t count = 0;
    std::size_t k = s.newest;
    for (std::size_t n = 0; n < History; ++n) {
      k = k + 1 == History ? 0 : k + 1;
      const std::uint64_t q = s.seqs[k];
      if (q != no_batch)
        out.batches[count++] = {static_cast<std::int32_t>(q & 0xffffffffu), static_cast<std::int32_t>(q >> 32), cold_[i].offsets[k]};
    }
    out.count = static_cast<std::uint8_t>(count);
    return out;
  }

  alignas(hot_align) hot hot_[Producers]{};
  cold cold_[Producers]{};
  std::uint32_t index_[index_slots]{};
  std::uint32_t size_{0};

 public:
  /// sizeof(sequence_table) per the formula in the section comment.
  static constexpr std::size_t footprint =
      detail::round_up(Producers * (sizeof(hot) + sizeof(cold)) + 4 * (index_slots + 1), hot_align);
};

// ============================================================================================
// 6. Transactions (SEMANTICS.md §3, §4)
//
// txn_state / is_valid_transition follow Kafka's TransactionState (classic protocol V1, Kafka up
// to 3.x): the enumerator values are Kafka's stored state ids. Pure, constexpr, any context.
// ============================================================================================

/// Kafka's TransactionState, in the order of its stored ids 0..7.
enum class txn_state : std::uint8_t {
  empty = 0,                ///< producer id assigned, no transaction open
  ongoing = 1,              ///< partitions/offsets added, transaction open
  prepare_commit = 2,       ///< commit decided and durable; markers being written
  prepare_abort = 3,        ///< abort decided and durable; markers being written
  complete_commit = 4,      ///< every commit marker written
  complete_abort = 5,       ///< every abort marker written
  dead = 6,                 ///< id expired (tombstone); also what state() answers for unknown ids
  prepare_epoch_fence = 7,  ///< transient: ongoing transaction being fenced before its abort
};

namespace detail {
template <class... S>
constexpr std::uint8_t txn_bits(S... states) noexcept {
  return static_cast<std::uint8_t>((0u | ... | (1u << static_cast<unsigned>(states))));
}
// Entry `to`, bit `from`: the valid previous states of `to` (8 bytes; a switch was a jump table).
inline constexpr std::uint8_t txn_valid_from[8] = {
    txn_bits(txn_state::empty, txn_state::complete_commit, txn_state::complete_abort),                     // empty
    txn_bits(txn_state::ongoing, txn_state::empty, txn_state::complete_commit, txn_state::complete_abort),  // ongoing
    txn_bits(txn_state::ongoing),                                              // prepare_commit
    txn_bits(txn_state::ongoing, txn_state::prepare_epoch_fence),              // prepare_abort
    txn_bits(txn_state::prepare_commit),                                       // complete_commit
    txn_bits(txn_state::prepare_abort),                                        // complete_abort
    txn_bits(txn_state::empty, txn_state::complete_abort, txn_state::complete_commit),  // dead
    txn_bits(txn_state::ongoing),                                              // prepare_epoch_fence
};
}  // namespace detail

/// Kafka's classic transition table (SEMANTICS.md §3): true iff `from` is a valid previous
/// state of `to`. Out-of-range enumerator values are never valid.
constexpr bool is_valid_transition(txn_state from, txn_state to) noexcept {
  const unsigned f = static_cast<unsigned>(from), t = static_cast<unsigned>(to);
  return f < 8 && t < 8 && ((detail::txn_valid_from[t] >> f) & 1u) != 0;
}

/// Stable lowercase name of a transaction state; never null ("unknown" for bad values).
constexpr const char* to_string(txn_state s) noexcept {
  switch (s) {
    case txn_state::empty: return "empty";
    case txn_state::ongoing: return "ongoing";
    case txn_state::prepare_commit: return "prepare_commit";
    case txn_state::prepare_abort: return "prepare_abort";
    case txn_state::complete_commit: return "complete_commit";
    case txn_state::complete_abort: return "complete_abort";
    case txn_state::dead: return "dead";
    case txn_state::prepare_epoch_fence: return "prepare_epoch_fence";
  }
  return "unknown";
}

// --------------------------------------------------------------------------------------------
// 6a. txn_coordinator — Kafka's TransactionCoordinator over fixed arrays (SEMANTICS.md §3)
//
// Guarantees
//   - Write-ahead: every state change of a transactional id is appended to the log through
//     Hooks::log_append and takes effect only once the hook reports it durable (two-phase, as
//     Kafka's prepareTransitionTo / completeTransitionTo). While an append is in flight, the id
//     answers concurrent_transactions. A hook failure (io_error) leaves the coordinator unchanged.
//   - end_txn returns ok once prepare_* is durable; markers then go out through
//     Hooks::send_marker; every partition's acknowledgement comes back through
//     on_markers_written; when all are in (and, for a commit with Hooks::apply_offset, every
//     pending offset was applied through it) complete_* is logged. Nothing is dropped while the
//     transport or the log fails: poll() re-sends and re-logs until it goes through.
//   - A call that returns anything but ok changes nothing, with one exception taken from Kafka:
//     init_producer_id on an ongoing transaction fences it (epoch + 1) and starts its abort,
//     then answers concurrent_transactions (the producer retries; the retry bumps again).
//   - Producer id + epoch fencing, Kafka's expected-epoch retry rule (KIP-360), epoch exhaustion
//     at 32766 rotating to a fresh producer id, fence-and-abort of an ongoing transaction on
//     re-init and on timeout.
//   - recover() rebuilds every id from the log records (last record per id wins, dead deletes);
//     prepare_* resume sending markers, ongoing ones are left to time out.
//
// Contexts: one context at a time. Every method must be called from one thread (or serialized
// by the caller, e.g. the main loop); none may be called from inside a hook (hooks must not
// re-enter: queue the completion and deliver it afterwards). Not for interrupt handlers.
//
// Hooks (one policy object, held by reference; see platform/host.hpp txn_memory_hooks):
//   static constexpr bool async_log;            // optional, default false
//   status log_append(const txn_log_record<P, O, L>& r) noexcept;
//        sync  (async_log false): ok = r is durable on return; anything else = not written.
//        async (async_log true):  ok = queued; later call on_log_durable(r.lsn, now) or
//                                 on_log_failed(r.lsn). Anything else = not queued.
//   status send_marker(const txn_marker& m) noexcept;
//        ok = handed to the transport; the partition's answer comes back through
//        on_markers_written(m, now, result). Anything else: re-sent by the next poll().
//   status allocate_producer_id(std::int64_t& out) noexcept;
//        ok + a producer id >= 0 never handed out before (the allocator persists itself, as
//        Kafka's ProducerIdManager does). Anything else: the request fails with that status.
//   status apply_offset(std::uint32_t group_partition, std::int64_t next_offset) noexcept;
//        optional (detected; applies_offsets says which). The commit marker of an offsets
//        partition: make next_offset the committed position of group_partition, monotonically
//        (e.g. commit_tracker::commit). ok or stale = applied; anything else = retried by poll()
//        (the transaction stays prepare_commit meanwhile).
//        Absent: the coordinator only keeps the offsets. The committed ones are the offsets[] of
//        the id's prepare_commit record, durable before end_txn returns ok (as Kafka's offsets
//        live in its log): the caller applies them from that record, monotonically (recovery
//        hands the same record back). A commit then completes on its markers alone, and
//        unstable_offset stays true until complete_commit (the coordinator cannot see the
//        caller apply them). The CONTRACT's three hooks are the ones above this one.
// --------------------------------------------------------------------------------------------

namespace detail {
constexpr std::size_t txn_strlen(const char* s) noexcept {
  std::size_t n = 0;
  if (s == nullptr) return 0;
  while (s[n] != '\0') ++n;
  return n;
}

template <class H, class = void>
struct hooks_async_log : std::false_type {};
template <class H>
struct hooks_async_log<H, std::void_t<decltype(H::async_log)>> : std::integral_constant<bool, H::async_log> {};
// Hooks::apply_offset is optional. (txn_declref stands in for std::declval, which lives in
// <utility>, not a freestanding header; declared only, for unevaluated use.)
template <class T>
T& txn_declref() noexcept;
template <class H, class = void>
struct hooks_apply_offset : std::false_type {};
template <class H>
struct hooks_apply_offset<H, std::void_t<decltype(txn_declref<H>().apply_offset(std::uint32_t{0}, std::int64_t{0}))>>
    : std::true_type {};
}  // namespace detail

/// A transactional id: 1..MaxIdLength bytes (any bytes; not necessarily NUL-terminated).
struct txn_id {
  const char* data;
  std::size_t size;
  constexpr txn_id(const char* d, std::size_t n) noexcept : data(d), size(n) {}
  /// From a NUL-terminated string (implicit, so string literals work).
  constexpr txn_id(const char* s) noexcept : data(s), size(detail::txn_strlen(s)) {}  // NOLINT
};

/// Outcome of a transaction; values are Kafka's ControlRecordType (ABORT = 0, COMMIT = 1).
enum class txn_result : std::uint8_t { abort = 0, commit = 1 };

/// An offset committed inside a transaction (Kafka TxnOffsetCommit): pending until the commit.
struct alignas(8) txn_offset {
  std::int64_t next_offset;   ///< next offset to consume in group_partition (>= 0)
  std::uint32_t partition;    ///< the consumer-side (commit_tracker) partition
  std::uint32_t reserved;     ///< 0
};

/// One write-ahead record: the whole durable image of one transactional id after a transition
/// (Kafka's TransactionLogValue keyed by id). Plain data, no padding holes beyond those listed
/// by the formula (same on every target); the journal serializes it field by field. sizeof =
///   round8(round4(52 + MaxIdLength) + 4 * PartitionsPerTxn) + 16 * OffsetsPerTxn.
template <std::size_t PartitionsPerTxn, std::size_t OffsetsPerTxn, std::size_t MaxIdLength>
struct alignas(8) txn_log_record {  // alignas: the same layout on targets where int64 aligns to 4
  static constexpr std::size_t partitions_capacity = PartitionsPerTxn;
  static constexpr std::size_t offsets_capacity = OffsetsPerTxn;
  static constexpr std::size_t id_capacity = MaxIdLength;

  std::uint64_t lsn;               ///< log sequence number: 1, 2, ... increasing per coordinator
  std::int64_t producer_id;        ///< current producer id (>= 0)
  std::int64_t last_producer_id;   ///< producer id before the last rotation, -1 if none
  std::uint64_t txn_start_ms;      ///< start of the open transaction (ongoing, prepare_*), else 0
  std::uint64_t update_ms;         ///< now_ms of this transition; id expiry counts from it
  std::uint32_t timeout_ms;        ///< transaction timeout given to init_producer_id
  std::int16_t epoch;              ///< current producer epoch, 0..32767
  std::int16_t last_epoch;         ///< epoch before the last client bump (retry rule), -1 if none
  txn_state state;                 ///< state after the transition; dead = tombstone (id removed)
  std::uint8_t id_length;          ///< bytes of id[] used, 1..MaxIdLength
  std::uint8_t partition_count;    ///< entries of partitions[] used
  std::uint8_t offset_count;       ///< entries of offsets[] used (always 0 in prepare_abort)
  char id[MaxIdLength];            ///< transactional id bytes, unused tail zero
  std::uint32_t partitions[PartitionsPerTxn];  ///< data partitions in the transaction
  txn_offset offsets[OffsetsPerTxn];           ///< pending offset commits
};

/// A transaction marker to write on one data partition (Kafka WriteTxnMarkers, one partition).
struct txn_marker {
  std::int64_t producer_id;  ///< producer whose transaction ends
  std::int16_t epoch;        ///< epoch of the prepare_* record (bumped by a fence): fences older ones
  txn_result result;         ///< commit or abort marker
  std::uint32_t partition;   ///< data partition (the ids given to add_partitions)
  std::uint32_t slot;        ///< coordinator-internal, echo it back in on_markers_written
  std::uint32_t generation;  ///< marker round of this transaction: a late answer for an earlier
                             ///< transaction with the same producer id and epoch is not taken
};

/// Coordinator settings (Kafka defaults).
struct txn_config {
  std::uint32_t max_timeout_ms = 900000;      ///< transaction.max.timeout.ms
  std::uint64_t id_expiry_ms = 604800000;     ///< transactional.id.expiration.ms (7 d)
  std::uint32_t marker_retry_ms = 1000;       ///< poll re-sends markers unacknowledged this long
};

/// Answer of init_producer_id and producer().
struct producer_result {
  status code;               ///< ok, or why not
  std::int64_t producer_id;  ///< valid when code == ok
  std::int16_t epoch;        ///< valid when code == ok
};

/// Transaction coordinator for up to `Transactions` transactional ids, each with up to
/// `PartitionsPerTxn` data partitions and `OffsetsPerTxn` offset commits per transaction and
/// ids of up to `MaxIdLength` bytes (each <= 255); `Hooks` as described above.
/// sizeof = Transactions * slot_size + small constant (see slot_size).
template <std::size_t Transactions, std::size_t PartitionsPerTxn, std::size_t OffsetsPerTxn, std::size_t MaxIdLength,
          class Hooks>
class txn_coordinator {
 public:
  static_assert(Transactions >= 1 && Transactions <= 0xffffffffu, "offseq: Transactions is 1..2^32-1");
  static_assert(PartitionsPerTxn >= 1 && PartitionsPerTxn <= 255, "offseq: PartitionsPerTxn is 1..255");
  static_assert(OffsetsPerTxn >= 1 && OffsetsPerTxn <= 255, "offseq: OffsetsPerTxn is 1..255");
  static_assert(MaxIdLength >= 1 && MaxIdLength <= 255, "offseq: MaxIdLength is 1..255");

  using log_record = txn_log_record<PartitionsPerTxn, OffsetsPerTxn, MaxIdLength>;
  using hooks_type = Hooks;
  static constexpr bool async_log = detail::hooks_async_log<Hooks>::value;
  /// True if Hooks has apply_offset: committed offsets are applied through it (else kept only).
  static constexpr bool applies_offsets = detail::hooks_apply_offset<Hooks>::value;
  static constexpr std::int16_t max_epoch = 32767;        ///< kept for coordinator fencing only
  static constexpr std::int16_t exhausted_epoch = 32766;  ///< at or above: init rotates the producer id

  static constexpr std::size_t record_size =
      detail::round_up(detail::round_up(52 + MaxIdLength, 4) + 4 * PartitionsPerTxn, 8) + 16 * OffsetsPerTxn;
  static_assert(sizeof(log_record) == record_size, "offseq: txn_log_record layout differs from its formula");
  static_assert(std::is_trivially_copyable<log_record>::value, "offseq: txn_log_record must be plain data");

  // Not constexpr on purpose: a constant-initialized global coordinator (non-zero hooks pointer
  // and config) went to .data, its whole image stored in flash (1,136 bytes for <4,4,2,16>,
  // growing with every slot). Initialized at startup it lives in .bss for ~100 bytes of code.
  explicit txn_coordinator(Hooks& hooks, const txn_config& config = txn_config{}) noexcept
      // Field by field (every field of txn_config): a struct copy was a memcpy call on a Cortex-M0+.
      : hooks_(&hooks), config_{config.max_timeout_ms, config.id_expiry_ms, config.marker_retry_ms} {}

  /// InitProducerId (SEMANTICS §3.1). New id: fresh producer id, epoch 0. Known id: epoch + 1,
  /// or the retry rule with (expected_producer_id, expected_epoch) (both -1 = none), or a
  /// rotation to a new producer id at epoch 32766; ongoing: fence + abort, then
  /// concurrent_transactions (the one non-ok answer that changes state, as Kafka: the abort has
  /// started, the producer retries). With an async log, ok means the change is queued (it takes
  /// effect on on_log_durable).
  producer_result init_producer_id(txn_id id, std::uint32_t timeout_ms, std::uint64_t now_ms,
                                   std::int64_t expected_producer_id = -1, std::int16_t expected_epoch = -1) noexcept {
    slot* s = nullptr;
    const status st = init(id, timeout_ms, now_ms, expected_producer_id, expected_epoch, s);
    // One answer built at run time: each constant one was a 24-byte copy on an MCU.
    if (st != status::ok) return fail(st);
    return producer_result{status::ok, s->next.producer_id, s->next.epoch};
  }

  /// AddPartitionsToTxn (SEMANTICS §3.2): adds `count` data partitions (duplicates ignored).
  status add_partitions(txn_id id, std::int64_t producer_id, std::int16_t epoch, const std::uint32_t* partitions,
                        std::size_t count, std::uint64_t now_ms) noexcept {
    if (partitions == nullptr || count == 0) return status::invalid_argument;
    slot* sp = nullptr;
    const status chk = check_request(id.data, id.size, producer_id, epoch, true, sp);
    if (chk != status::ok) return chk;
    slot& s = *sp;
    log_record& n = stage(s);
    for (std::size_t k = 0; k < count; ++k) {
      bool known = false;
      for (std::size_t j = 0; j < n.partition_count && !known; ++j) known = n.partitions[j] == partitions[k];
      if (known) continue;
      if (n.partition_count >= PartitionsPerTxn) return status::table_full;
      n.partitions[n.partition_count++] = partitions[k];
    }
    return begin_or_extend(s, n.partition_count != s.cur.partition_count, now_ms);
  }

  /// AddPartitionsToTxn for one partition.
  status add_partitions(txn_id id, std::int64_t producer_id, std::int16_t epoch, std::uint32_t partition,
                        std::uint64_t now_ms) noexcept {
    return add_partitions(id, producer_id, epoch, &partition, 1, now_ms);
  }

  /// AddOffsetsToTxn + TxnOffsetCommit (SEMANTICS §3.2, §3.8): within the transaction, commit
  /// `next_offset` for consumer partition `group_partition`. Pending (invisible, "unstable")
  /// until the commit; a later add for the same partition replaces it (log order, as Kafka).
  status add_offsets(txn_id id, std::int64_t producer_id, std::int16_t epoch, std::uint32_t group_partition,
                     std::int64_t next_offset, std::uint64_t now_ms) noexcept {
    if (next_offset < 0) return status::invalid_argument;
    slot* sp = nullptr;
    const status chk = check_request(id.data, id.size, producer_id, epoch, true, sp);
    if (chk != status::ok) return chk;
    slot& s = *sp;
    log_record& n = stage(s);
    std::size_t j = 0;
    while (j < n.offset_count && n.offsets[j].partition != group_partition) ++j;
    const bool added = j == n.offset_count;
    if (added) {
      if (n.offset_count >= OffsetsPerTxn) return status::table_full;
      ++n.offset_count;
    }
    const bool changed = added || n.offsets[j].next_offset != next_offset;
    n.offsets[j] = txn_offset{next_offset, group_partition, 0};
    return begin_or_extend(s, changed, now_ms);
  }

  /// EndTxn (SEMANTICS §3.3, §3.4): ok once prepare_* is durable (queued with an async log);
  /// markers follow. Retries of a completed end are ok; see the table in SEMANTICS §3.3.
  status end_txn(txn_id id, std::int64_t producer_id, std::int16_t epoch, txn_result result,
                 std::uint64_t now_ms) noexcept {
    if (result != txn_result::commit && result != txn_result::abort) return status::invalid_argument;
    slot* sp = nullptr;
    const status chk = check_request(id.data, id.size, producer_id, epoch, false, sp);
    if (chk != status::ok) return chk;
    slot& s = *sp;
    const bool commit = result == txn_result::commit;
    switch (s.cur.state) {
      case txn_state::ongoing: break;
      case txn_state::prepare_commit: return commit ? status::concurrent_transactions : status::invalid_state;
      case txn_state::prepare_abort: return commit ? status::invalid_state : status::concurrent_transactions;
      case txn_state::complete_commit: return commit ? status::ok : status::invalid_state;
      case txn_state::complete_abort: return commit ? status::invalid_state : status::ok;
      default: return status::invalid_state;  // empty (and nothing else is durable)
    }
    log_record& n = stage(s);
    if (!commit) n.offset_count = 0;  // abort drops the pending offsets
    return append(s, commit ? txn_state::prepare_commit : txn_state::prepare_abort, now_ms);
  }

  /// A data partition answered a marker sent through Hooks::send_marker. result ok: written;
  /// anything else: re-sent by poll. Returns ok if the answer was taken, stale if it is no
  /// longer expected (duplicate, older epoch, transaction moved on), unknown_producer if the
  /// slot/producer does not match, invalid_argument for a bad slot number.
  status on_markers_written(const txn_marker& m, std::uint64_t now_ms, status result = status::ok) noexcept {
    if (m.slot >= Transactions) return status::invalid_argument;
    slot& s = slots_[m.slot];
    if (!s.used || s.cur.producer_id != m.producer_id) return status::unknown_producer;
    const txn_state want = m.result == txn_result::commit ? txn_state::prepare_commit : txn_state::prepare_abort;
    if (s.cur.state != want || s.cur.epoch != m.epoch || s.marker_generation != m.generation) return status::stale;
    std::size_t j = 0;
    while (j < s.cur.partition_count && s.cur.partitions[j] != m.partition) ++j;
    if (j == s.cur.partition_count || s.acked[j]) return status::stale;
    if (result != status::ok) {
      s.resend[j] = true;
      return status::ok;
    }
    s.acked[j] = true;
    s.resend[j] = false;
    if (!s.pending) (void)maybe_complete(s, now_ms);
    return status::ok;
  }

  /// Async log: the append with this lsn is durable; the transition takes effect now.
  /// not_found if no append with that lsn is in flight.
  status on_log_durable(std::uint64_t lsn, std::uint64_t now_ms) noexcept {
    slot* const s = find_pending(lsn);
    if (s == nullptr) return status::not_found;
    take_effect(*s, now_ms);
    return status::ok;
  }

  /// Async log: the append with this lsn failed; the coordinator is as before the request.
  status on_log_failed(std::uint64_t lsn) noexcept {
    slot* const sp = find_pending(lsn);
    if (sp == nullptr) return status::not_found;
    slot& s = *sp;
    s.pending = false;
    s.fencing = false;
    if (s.cur.state == txn_state::dead) s.used = false;  // creation never happened
    return status::ok;
  }

  /// Timers (SEMANTICS §3.5, §3.7): aborts timed-out ongoing transactions with an epoch fence,
  /// expires idle ids (dead tombstone, slot freed), re-sends failed markers and, after
  /// marker_retry_ms, unacknowledged ones; retries failed offset applications and complete_*
  /// appends. Returns the number of actions attempted.
  std::size_t poll(std::uint64_t now_ms) noexcept {
    std::size_t actions = 0;
    for (std::size_t i = 0; i < Transactions; ++i) {
      slot& s = slots_[i];
      if (!s.used || s.pending) continue;
      const log_record& c = s.cur;
      switch (c.state) {
        case txn_state::prepare_commit:
        case txn_state::prepare_abort: actions += drive(s, now_ms, now_ms >= s.resend_at_ms); break;
        case txn_state::ongoing:
          if (c.txn_start_ms + c.timeout_ms < now_ms) {
            (void)fence_and_abort(s, now_ms);
            ++actions;
          }
          break;
        case txn_state::empty:
        case txn_state::complete_commit:
        case txn_state::complete_abort:
          if (now_ms >= c.update_ms && now_ms - c.update_ms >= config_.id_expiry_ms) {
            (void)stage(s);
            (void)append(s, txn_state::dead, now_ms);
            ++actions;
          }
          break;
        default: break;
      }
    }
    return actions;
  }

  /// Durable state of an id; dead for an unknown id (or one whose creation is still pending).
  txn_state state(txn_id id) const noexcept {
    const slot* const s = find(id);
    return s == nullptr ? txn_state::dead : s->cur.state;
  }

  /// The state an in-flight append will move the id to (prepare_epoch_fence while a fence is
  /// being logged); state(id) if nothing is in flight.
  txn_state pending_state(txn_id id) const noexcept {
    const slot* const sp = find(id);
    if (sp == nullptr) return txn_state::dead;
    const slot& s = *sp;
    if (!s.pending) return s.cur.state;
    return s.fencing ? txn_state::prepare_epoch_fence : s.next.state;
  }

  /// Current (durable) producer id and epoch of an id; not_found if unknown.
  producer_result producer(txn_id id) const noexcept {
    const slot* const s = find(id);
    if (s == nullptr || s->cur.state == txn_state::dead) return fail(status::not_found);
    return producer_result{status::ok, s->cur.producer_id, s->cur.epoch};
  }

  /// Kafka's UNSTABLE_OFFSET_COMMIT: true while a transaction holds a durable, not yet applied
  /// offset commit for this consumer partition (ongoing, or prepare_commit before it applied;
  /// without Hooks::apply_offset, all of prepare_commit).
  bool unstable_offset(std::uint32_t group_partition) const noexcept {
    for (std::size_t i = 0; i < Transactions; ++i) {
      const slot& s = slots_[i];
      if (!s.used) continue;
      const bool commit_phase = s.cur.state == txn_state::prepare_commit;
      if (s.cur.state != txn_state::ongoing && !commit_phase) continue;
      for (std::size_t j = 0; j < s.cur.offset_count; ++j)
        if (s.cur.offsets[j].partition == group_partition && !(commit_phase && s.applied[j])) return true;
    }
    return false;
  }

  /// Recovery, one record at a time, in log order (last record per id wins, dead deletes).
  /// corrupt for a record out of range, out of order for its id, or an invalid transition;
  /// table_full if more ids than slots. Nothing changes unless ok. Follow with resume().
  status replay(const log_record& r) noexcept {
    if (r.lsn == 0 || r.lsn == max_lsn || r.producer_id < 0 || r.last_producer_id < -1 || r.epoch < 0 || r.last_epoch < -1 ||
        r.id_length == 0 || r.id_length > MaxIdLength || r.partition_count > PartitionsPerTxn ||
        r.offset_count > OffsetsPerTxn || static_cast<std::uint8_t>(r.state) > 7 ||
        r.state == txn_state::prepare_epoch_fence || r.timeout_ms == 0)
      return status::corrupt;
    // Shapes the coordinator never logs: a partition twice (its second marker could never be
    // acknowledged), or partitions/offsets outside a transaction (the next one would inherit them).
    const bool in_txn = r.state == txn_state::ongoing || r.state == txn_state::prepare_commit ||
                        r.state == txn_state::prepare_abort;
    if (!in_txn && (r.partition_count != 0 || r.offset_count != 0)) return status::corrupt;
    for (std::size_t j = 0; j < r.partition_count; ++j)
      for (std::size_t k = 0; k < j; ++k)
        if (r.partitions[k] == r.partitions[j]) return status::corrupt;
    for (std::size_t j = 0; j < r.offset_count; ++j) {
      if (r.offsets[j].next_offset < 0) return status::corrupt;
      for (std::size_t k = 0; k < j; ++k)
        if (r.offsets[k].partition == r.offsets[j].partition) return status::corrupt;
    }
    slot* sp = find(txn_id(r.id, r.id_length));
    if (sp != nullptr) {
      slot& s = *sp;
      if (s.pending) return status::invalid_state;
      if (r.lsn <= s.cur.lsn || !is_valid_transition(s.cur.state, r.state)) return status::corrupt;
      if (r.state == txn_state::dead) {
        s.used = false;
      } else {
        copy(s.cur, r);
      }
    } else if (r.state != txn_state::dead) {  // a tombstone of an unknown id: nothing to delete
      sp = free_slot();
      if (sp == nullptr) return status::table_full;
      slot& s = *sp;
      s = slot{};
      copy(s.cur, r);
      s.used = true;
    }
    if (r.lsn >= next_lsn_) next_lsn_ = r.lsn + 1;
    return status::ok;
  }

  /// After replay: timestamps from a previous boot's clock are clamped to now_ms (so a clock
  /// that restarted still times out and expires them); prepare_* transactions send their
  /// markers again (and, with Hooks::apply_offset, re-apply committed offsets: monotonic).
  /// Returns how many resumed.
  std::size_t resume(std::uint64_t now_ms) noexcept {
    std::size_t resumed = 0;
    for (std::size_t i = 0; i < Transactions; ++i) {
      slot& s = slots_[i];
      if (!s.used || s.pending) continue;
      if (s.cur.update_ms > now_ms) s.cur.update_ms = now_ms;
      if (s.cur.txn_start_ms > now_ms) s.cur.txn_start_ms = now_ms;
      if (s.cur.state == txn_state::prepare_commit || s.cur.state == txn_state::prepare_abort) {
        start_markers(s, now_ms);
        ++resumed;
      }
    }
    return resumed;
  }

  /// Rebuild a fresh coordinator from `count` log records (replay each, then resume).
  /// invalid_state if this coordinator already holds ids; on a bad record it returns that
  /// record's status and the coordinator is left empty (as before the call).
  status recover(const log_record* records, std::size_t count, std::uint64_t now_ms) noexcept {
    if (size() != 0) return status::invalid_state;
    if (records == nullptr && count != 0) return status::invalid_argument;
    for (std::size_t k = 0; k < count; ++k) {
      const status st = replay(records[k]);
      if (st != status::ok) {
        for (std::size_t i = 0; i < Transactions; ++i) slots_[i].used = false;
        next_lsn_ = 1;
        return st;
      }
    }
    (void)resume(now_ms);
    return status::ok;
  }

  /// Transactional ids held (including ones whose creation is in flight).
  std::size_t size() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < Transactions; ++i) n += slots_[i].used ? 1u : 0u;
    return n;
  }

  /// True while a log append of this id is in flight (requests answer concurrent_transactions).
  bool pending(txn_id id) const noexcept {
    const slot* const s = find(id);
    return s != nullptr && s->pending;
  }

  /// Next log sequence number the coordinator will use.
  std::uint64_t next_lsn() const noexcept { return next_lsn_; }

  /// Calls f(const log_record&) with the durable image of every id held (one record per id,
  /// slot order; ids whose creation is still in flight are skipped): the live state a journal
  /// compaction writes. Replaying what it visited rebuilds the same ids. Read-only, so unlike
  /// the other methods it may run inside log_append (the journal compacts from there).
  template <class F>
  void for_each_record(F&& f) const noexcept {
    for (std::size_t i = 0; i < Transactions; ++i)
      if (slots_[i].used && slots_[i].cur.state != txn_state::dead) f(static_cast<const log_record&>(slots_[i].cur));
  }
  const txn_config& config() const noexcept { return config_; }
  Hooks& hooks() noexcept { return *hooks_; }

 private:

  struct slot {
    log_record cur;             // durable image
    log_record next;            // image being appended (valid while pending)
    std::uint64_t resend_at_ms; // poll re-sends unacknowledged markers from then on
    std::uint32_t marker_generation;  // round of the current marker phase (see txn_marker)
    bool used;
    bool pending;               // an append of `next` is in flight
    bool fencing;               // the in-flight append is an epoch fence
    bool acked[PartitionsPerTxn];   // marker phase: partition answered ok
    bool resend[PartitionsPerTxn];  // marker phase: send failed or answered with an error
    bool applied[OffsetsPerTxn];    // commit phase: offset applied through the hook
  };

 public:
  /// Bytes per transactional-id slot: two log records (durable + in flight) and the marker
  /// bookkeeping: 2 * record_size + 8 + round8(7 + 2 * PartitionsPerTxn + OffsetsPerTxn).
  static constexpr std::size_t slot_size =
      2 * record_size + 8 + detail::round_up(7 + 2 * PartitionsPerTxn + OffsetsPerTxn, 8);

 private:
  static_assert(sizeof(slot) == slot_size, "offseq: txn_coordinator slot layout differs from its formula");

  static constexpr producer_result fail(status s) noexcept { return producer_result{s, -1, -1}; }
  // Never logged or replayed: next_lsn_ would wrap to 0, which replay refuses.
  static constexpr std::uint64_t max_lsn = ~std::uint64_t{0};

  static bool valid_id(txn_id id) noexcept { return id.data != nullptr && id.size >= 1 && id.size <= MaxIdLength; }

  // Into a zeroed record (a slot just reset): the unused tail of id[] is already zero.
  static void set_id(log_record& r, txn_id id) noexcept {
    for (std::size_t k = 0; k < id.size; ++k) r.id[k] = id.data[k];
    r.id_length = static_cast<std::uint8_t>(id.size);
  }

  // Slots are found by pointer, not index: on a 32-bit MCU each index use was a multiply.
  // The slot holding id, or nullptr (also for an invalid id).
  // (data, size), not a txn_id: passed in two registers, not copied through the stack. Const, for
  // the const queries; the slot is the caller's to change when the caller may.
  slot* find(const char* data, std::size_t size) const noexcept {
    if (!valid_id(txn_id(data, size))) return nullptr;
    for (const slot& s : slots_) {
      if (!s.used || s.cur.id_length != size) continue;
      std::size_t k = 0;
      while (k < size && s.cur.id[k] == data[k]) ++k;
      if (k == size) return const_cast<slot*>(&s);
    }
    return nullptr;
  }
  slot* find(txn_id id) const noexcept { return find(id.data, id.size); }

  slot* free_slot() noexcept {
    for (slot& s : slots_)
      if (!s.used) return &s;
    return nullptr;
  }

  slot* find_pending(std::uint64_t lsn) noexcept {
    for (slot& s : slots_)
      if (s.used && s.pending && s.next.lsn == lsn) return &s;
    return nullptr;
  }

  // Every record copy goes through here. Built for size, byte by byte: these were the engine's
  // only memcpy calls, and a firmware with no memcpy of its own linked newlib's (308 bytes on
  // a Cortex-M4) for them. Records are copied per state change, never per message.
  OFFSEQ_SHARED static void copy(log_record& to, const log_record& from) noexcept {
#if OFFSEQ_SMALL
    unsigned char* d = reinterpret_cast<unsigned char*>(&to);
    const unsigned char* f = reinterpret_cast<const unsigned char*>(&from);
    for (std::size_t i = 0; i < sizeof(log_record); ++i) d[i] = f[i];
#else
    to = from;
#endif
  }

  // n bytes to zero: one shared loop (the clearing loops it replaces were a store per word).
  OFFSEQ_SHARED static void zero(void* p, std::size_t n) noexcept {
    unsigned char* d = static_cast<unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) d[i] = 0;
  }

  // The image to append starts as a copy of the durable one.
  OFFSEQ_SHARED static log_record& stage(slot& s) noexcept {
    copy(s.next, s.cur);
    return s.next;
  }

  // A fresh producer id from the hook; its failure, or io_error for a negative id.
  status allocate(std::int64_t& pid) noexcept {
    const status a = hooks_->allocate_producer_id(pid);
    if (a != status::ok) return a;
    return pid < 0 ? status::io_error : status::ok;
  }

  // init_producer_id's work; out = the id's slot (next holds the new producer id and epoch).
  status init(txn_id id, std::uint32_t timeout_ms, std::uint64_t now_ms, std::int64_t expected_producer_id,
              std::int16_t expected_epoch, slot*& out) noexcept {
    if (!valid_id(id) || timeout_ms == 0 || timeout_ms > config_.max_timeout_ms || expected_producer_id < -1 ||
        expected_epoch < -1 || (expected_producer_id < 0) != (expected_epoch < 0))
      return status::invalid_argument;
    const bool has_expected = expected_producer_id >= 0;
    slot* sp = find(id);
    const bool created = sp == nullptr;
    bool bump = true;  // the epoch moves on (else a retry answered with the current epoch)
    if (created) {
      sp = free_slot();
      if (sp == nullptr) return status::table_full;
    } else {
      const slot& s = *sp;
      if (s.pending) return status::concurrent_transactions;
      const log_record& c = s.cur;
      if (has_expected && !(expected_producer_id == c.producer_id ||
                            (expected_producer_id == c.last_producer_id && expected_epoch >= exhausted_epoch)))
        return status::fenced;
      switch (c.state) {
        case txn_state::prepare_commit:
        case txn_state::prepare_abort: return status::concurrent_transactions;
        case txn_state::ongoing: {
          const status st = fence_and_abort(*sp, now_ms);
          return st == status::ok ? status::concurrent_transactions : st;
        }
        case txn_state::empty:
        case txn_state::complete_commit:
        case txn_state::complete_abort: break;  // each may go to empty (is_valid_transition)
        default: return status::invalid_state;  // dead / fence are never durable states
      }
      // A bump: none expected, or the expected epoch is the current one. Otherwise only a retry
      // of a bump whose answer was lost (the previous epoch) is answered: the current epoch again.
      bump = !has_expected || expected_epoch == c.epoch;
      if (!bump && expected_epoch != c.last_epoch) return status::fenced;
    }
    slot& s = *sp;
    const log_record& c = s.cur;
    // A new id, or a bump at the exhausted epoch: a fresh producer id (one allocation site).
    const bool rotate = created || (bump && c.epoch >= exhausted_epoch);
    std::int64_t pid = -1;
    if (rotate) {
      const status a = allocate(pid);
      if (a != status::ok) return a;
    }
    if (created) {
      s = slot{};
      s.cur.state = txn_state::dead;  // "being created": answers like a pending id
      set_id(s.cur, id);
      s.used = true;
    }
    log_record& n = stage(s);
    if (bump) {
      // new id: no previous epoch; epoch 0, no transaction: zero from slot{}
      n.last_epoch = has_expected && !created ? c.epoch : std::int16_t{-1};
      if (rotate) {
        n.last_producer_id = created ? std::int64_t{-1} : c.producer_id;
        n.producer_id = pid;
        n.epoch = 0;
      } else {
        n.epoch = static_cast<std::int16_t>(c.epoch + 1);
      }
    }
    n.timeout_ms = timeout_ms;
    n.txn_start_ms = 0;
    n.partition_count = 0;
    n.offset_count = 0;
    const status st = append(s, txn_state::empty, now_ms);
    if (st != status::ok) {
      if (created) s.used = false;
      return st;
    }
    out = sp;
    return status::ok;
  }

  // Order of Kafka's checks for a client request on an existing id: mapping, epoch, then an
  // append in flight -> concurrent_transactions; AddPartitions/AddOffsets (`adding`) also wait
  // while prepare_* completes.
  status check_request(const char* data, std::size_t size, std::int64_t producer_id, std::int16_t epoch, bool adding,
                       slot*& out) noexcept {
    if (!valid_id(txn_id(data, size)) || producer_id < 0 || epoch < 0) return status::invalid_argument;
    slot* const s = find(data, size);
    if (s == nullptr || s->cur.state == txn_state::dead || s->cur.producer_id != producer_id)
      return status::unknown_producer;
    if (s->cur.epoch != epoch) return status::fenced;
    if (s->pending || (adding && (s->cur.state == txn_state::prepare_commit || s->cur.state == txn_state::prepare_abort)))
      return status::concurrent_transactions;
    out = s;
    return status::ok;
  }

  // `next` holds cur plus the additions (`changed`: any new partition or offset, or a new
  // value): nothing new in an ongoing transaction -> ok without a write (Kafka 2.3 rule 13);
  // otherwise -> ongoing, start time set when a transaction begins.
  OFFSEQ_SHARED status begin_or_extend(slot& s, bool changed, std::uint64_t now_ms) noexcept {
    const txn_state from = s.cur.state;
    if (from == txn_state::ongoing && !changed) return status::ok;
    if (from != txn_state::ongoing) s.next.txn_start_ms = now_ms;
    // check_request (adding) let only empty, ongoing and complete_* through: all may go on.
    OFFSEQ_ASSERT(is_valid_transition(from, txn_state::ongoing));
    return append(s, txn_state::ongoing, now_ms);
  }

  // Kafka's prepareFenceProducerEpoch + internal EndTxn(ABORT): one record, prepare_abort with
  // epoch + 1 (not past max_epoch: a fence at the maximum aborts without a bump, as Kafka's
  // hasFailedEpochFence path). The old producer is then fenced everywhere.
  status fence_and_abort(slot& s, std::uint64_t now_ms) noexcept {
    const log_record& c = s.cur;
    // Both callers (init, poll) come here for an ongoing transaction only.
    OFFSEQ_ASSERT(is_valid_transition(c.state, txn_state::prepare_epoch_fence) &&
                  is_valid_transition(txn_state::prepare_epoch_fence, txn_state::prepare_abort));
    log_record& n = stage(s);
    if (c.epoch < max_epoch) n.epoch = static_cast<std::int16_t>(c.epoch + 1);
    n.last_epoch = -1;
    n.offset_count = 0;
    s.fencing = true;
    const status st = append(s, txn_state::prepare_abort, now_ms);
    if (st != status::ok) s.fencing = false;
    return st;
  }

  // Phase one: `next`, moved to state `to` at now_ms, to the log. Sync: durable on ok, phase
  // two at once.
  status append(slot& s, txn_state to, std::uint64_t now_ms) noexcept {
    if (next_lsn_ == max_lsn) return status::table_full;  // only after a replayed max_lsn - 1: never wrap to 0
    s.next.state = to;
    s.next.update_ms = now_ms;
    s.next.lsn = next_lsn_;
    const status st = hooks_->log_append(static_cast<const log_record&>(s.next));
    if (st != status::ok) return st;  // not written: nothing changed (next_lsn_ not consumed)
    ++next_lsn_;
    s.pending = true;
    if (!async_log) take_effect(s, now_ms);
    return status::ok;
  }

  // Phase two: the append is durable.
  void take_effect(slot& s, std::uint64_t now_ms) noexcept {
    copy(s.cur, s.next);
    s.pending = false;
    s.fencing = false;
    if (s.cur.state == txn_state::dead) {
      s.used = false;
    } else if (s.cur.state == txn_state::prepare_commit || s.cur.state == txn_state::prepare_abort) {
      start_markers(s, now_ms);
    }
  }

  void start_markers(slot& s, std::uint64_t now_ms) noexcept {
    s.marker_generation = ++marker_generation_;
    for (std::size_t j = 0; j < PartitionsPerTxn; ++j) {
      s.acked[j] = false;
      s.resend[j] = true;
    }
    for (std::size_t j = 0; j < OffsetsPerTxn; ++j) s.applied[j] = false;
    (void)drive(s, now_ms, false);
  }

  // Marker phase: send what must be sent (all unacknowledged ones when `all`), apply committed
  // offsets, and log complete_* once everything is in. Returns the number of actions.
  std::size_t drive(slot& s, std::uint64_t now_ms, bool all) noexcept {
    std::size_t actions = 0;
    const log_record& c = s.cur;
    const txn_result result = c.state == txn_state::prepare_commit ? txn_result::commit : txn_result::abort;
    bool sent = false;
    for (std::size_t j = 0; j < c.partition_count; ++j) {
      if (s.acked[j] || !(s.resend[j] || all)) continue;
      const txn_marker m{c.producer_id, c.epoch, result, c.partitions[j],
                         static_cast<std::uint32_t>(&s - slots_), s.marker_generation};
      s.resend[j] = hooks_->send_marker(m) != status::ok;
      sent = true;
      ++actions;
    }
    if (sent || all) s.resend_at_ms = now_ms + config_.marker_retry_ms;
    if (result == txn_result::commit) actions += apply_offsets(s, c);
    if (maybe_complete(s, now_ms)) ++actions;
    return actions;
  }

  // Committed offsets through the optional hook; returns the number of calls.
  std::size_t apply_offsets(slot& s, const log_record& c) noexcept {
    if constexpr (applies_offsets) {
      std::size_t calls = 0;
      for (std::size_t j = 0; j < c.offset_count; ++j) {
        if (s.applied[j]) continue;
        const status a = hooks_->apply_offset(c.offsets[j].partition, c.offsets[j].next_offset);
        s.applied[j] = a == status::ok || a == status::stale;
        ++calls;
      }
      return calls;
    } else {
      (void)s;
      (void)c;
      return 0;  // kept only: the caller applies them from the prepare_commit record
    }
  }

  // Every marker acknowledged and every offset applied: log complete_* (partitions cleared).
  bool maybe_complete(slot& s, std::uint64_t now_ms) noexcept {
    const log_record& c = s.cur;
    for (std::size_t j = 0; j < c.partition_count; ++j)
      if (!s.acked[j]) return false;
    if (applies_offsets && c.state == txn_state::prepare_commit)
      for (std::size_t j = 0; j < c.offset_count; ++j)
        if (!s.applied[j]) return false;
    log_record& n = stage(s);
    n.partition_count = 0;
    n.offset_count = 0;
    n.txn_start_ms = 0;
    // partitions[] and offsets[] are the record's tail (with the padding between them)
    zero(n.partitions, sizeof(log_record) - offsetof(log_record, partitions));
    // on failure poll() comes back here
    (void)append(s, c.state == txn_state::prepare_commit ? txn_state::complete_commit : txn_state::complete_abort, now_ms);
    return true;
  }

  Hooks* hooks_;
  txn_config config_;
  std::uint64_t next_lsn_ = 1;
  std::uint32_t marker_generation_ = 0;  // wraps after 2^32 marker phases: harmless aliasing window
  slot slots_[Transactions] = {};
};

// 6b. txn_index — per data partition: last stable offset, aborted ranges (SEMANTICS.md §4)
// Per data partition, what a read_committed reader needs (Kafka's ProducerStateManager
// ongoing/unreplicated transactions and the segment .txnindex of aborted transactions):
//   - last_stable_offset(): the first offset of the earliest unstable transaction, else the
//     high watermark; never above the high watermark (SEMANTICS.md §4.1). A transaction stays
//     unstable until its marker is below the high watermark (Kafka's unreplicated txns), so a
//     marker that could still be lost never exposes the data before it.
//   - aborted(from, end, ...): every aborted (producer id, first offset, last offset = the abort
//     marker's offset) overlapping a read range [from, end), and should_skip(pid, offset) for a
//     reader deciding record by record (§4.2). Commits are not indexed: only aborts are.
// Guarantees: offsets only move forward (every append/marker lies at or above log_end() and
// high_watermark()); a full table is table_full and changes nothing, never a silent drop (a
// dropped abort would deliver aborted data; a dropped open txn would let the LSO pass it);
// check_append/check_marker say beforehand, so a partition leader can refuse the write
// before it reaches the log. Epochs are checked against the open transaction only (an older
// epoch is fenced); a producer's epoch across transactions is the sequence_table's job.
// Contexts: single writer per partition. Every method, const ones included, must run in the
// writer's context or under the caller's own lock (plain fields, no atomics: the object is
// trivially copyable and may live in retained RAM).
// Sizes (alignas(8) entries, identical on 32- and 64-bit targets):
//   sizeof(open_txn) = 32, sizeof(aborted_txn) = 24,
//   sizeof(txn_index<O, A>) = 32 * O + 24 * A + 32.
// Offsets are 0 .. INT64_MAX - 1 (log_end() = last offset + 1 must not overflow); producer ids
// and epochs are >= 0. Anything else is invalid_argument.

/// A transaction with data on this partition whose marker is not yet below the high watermark.
struct alignas(8) open_txn {
  std::int64_t producer_id;
  std::int64_t first_offset;   ///< offset of its first transactional batch here
  std::int64_t marker_offset;  ///< -1 while open; else its (commit or abort) marker, >= HW
  std::int16_t epoch;          ///< highest epoch seen in this transaction
};

/// An aborted transaction: a read_committed reader skips pid's batches in [first, last].
struct alignas(8) aborted_txn {
  std::int64_t producer_id;
  std::int64_t first_offset;
  std::int64_t last_offset;  ///< the abort marker's offset
};

static_assert(sizeof(open_txn) == 32 && alignof(open_txn) == 8, "offseq: open_txn layout");
static_assert(sizeof(aborted_txn) == 24 && alignof(aborted_txn) == 8, "offseq: aborted_txn layout");
static_assert(std::is_trivially_copyable<open_txn>::value && std::is_trivially_copyable<aborted_txn>::value,
              "offseq: txn_index entries are plain data");

template <std::size_t OpenTxns, std::size_t AbortedTxns>
class txn_index {
  static_assert(OpenTxns >= 1 && OpenTxns <= 0x7fffffffu, "offseq: OpenTxns is 1..2^31-1");
  static_assert(AbortedTxns >= 1 && AbortedTxns <= 0x7fffffffu, "offseq: AbortedTxns is 1..2^31-1");

 public:
  static constexpr std::size_t open_capacity = OpenTxns;
  static constexpr std::size_t aborted_capacity = AbortedTxns;
  static constexpr std::int64_t max_offset = INT64_MAX - 1;  ///< highest offset accepted

  /// Empty index: offsets 0, no transactions. constexpr, so a static one needs no runtime init.
  constexpr txn_index() noexcept {
    // Inside a member body the class is complete: checked for every instantiation.
    static_assert(sizeof(txn_index) == 32 * OpenTxns + 24 * AbortedTxns + 32, "offseq: txn_index sizeof formula");
    for (std::size_t i = 0; i < OpenTxns; ++i) open_[i] = free_entry();
  }

  // ---------------------------------------------------------------- writer: the log's events

  /// What append() would return; changes nothing.
  status check_append(std::int64_t producer_id, std::int16_t epoch, std::int64_t first_offset,
                      std::int64_t last_offset) const noexcept {
    if (producer_id < 0 || epoch < 0 || first_offset < log_end_ || last_offset < first_offset ||
        last_offset > max_offset)
      return status::invalid_argument;
    const std::size_t i = find_open(producer_id);
    if (i != npos) return epoch < open_[i].epoch ? status::fenced : status::ok;
    return find_free() == npos ? status::table_full : status::ok;
  }

  /// A transactional batch [first_offset, last_offset] of producer_id was appended. The first
  /// one opens the producer's transaction here (its first offset now holds the LSO); later
  /// ones only move log_end(). Checks, first that applies decides: invalid_argument (negative
  /// id/epoch, last < first, first below log_end(), last > max_offset) → fenced (epoch older
  /// than the open transaction's) → table_full (no open transaction and no free slot).
  status append(std::int64_t producer_id, std::int16_t epoch, std::int64_t first_offset,
                std::int64_t last_offset) noexcept {
    const status s = check_append(producer_id, epoch, first_offset, last_offset);
    if (s != status::ok) return s;
    std::size_t i = find_open(producer_id);
    if (i == npos) {
      i = find_free();
      open_[i] = open_txn{producer_id, first_offset, -1, epoch};
    } else if (epoch > open_[i].epoch) {
      open_[i].epoch = epoch;
    }
    log_end_ = last_offset + 1;
    return status::ok;
  }

  /// What marker() would return; changes nothing.
  status check_marker(std::int64_t producer_id, std::int16_t epoch, std::int64_t marker_offset,
                      bool commit) const noexcept {
    if (producer_id < 0 || epoch < 0 || marker_offset < log_end_ || marker_offset > max_offset)
      return status::invalid_argument;
    const std::size_t i = find_open(producer_id);
    if (i == npos) return status::ok;
    if (epoch < open_[i].epoch) return status::fenced;
    if (!commit && ab_count_ == AbortedTxns) return status::table_full;
    return status::ok;
  }

  /// The end-transaction marker (commit or abort) of producer_id was appended at
  /// marker_offset. An abort is indexed as (pid, first, marker_offset); the transaction stays
  /// unstable until the high watermark passes the marker. A marker for a producer with no open
  /// transaction here is ok and only moves log_end() (Kafka: a marker for an empty transaction
  /// has no effect; the coordinator re-sends markers after recovery). Checks: invalid_argument
  /// (negative id/epoch, offset below log_end() or above max_offset) → fenced (epoch older
  /// than the open transaction's) → table_full (an abort and the aborted table is full:
  /// set_log_start() frees entries).
  status marker(std::int64_t producer_id, std::int16_t epoch, std::int64_t marker_offset, bool commit) noexcept {
    const status s = check_marker(producer_id, epoch, marker_offset, commit);
    if (s != status::ok) return s;
    const std::size_t i = find_open(producer_id);
    if (i != npos) {
      if (!commit) {
        ab_[slot(ab_count_)] = aborted_txn{producer_id, open_[i].first_offset, marker_offset};
        ++ab_count_;
      }
      open_[i].marker_offset = marker_offset;  // marker >= log_end >= hw: held until the HW passes
    }
    log_end_ = marker_offset + 1;
    return status::ok;
  }

  /// Everything below hw is replicated / durable. stale if hw <= high_watermark() (the high
  /// watermark never goes back); invalid_argument if hw < 0 or hw > max_offset + 1. Frees
  /// completed transactions whose marker is now below it; raises log_end() to at least hw
  /// (the log holds at least what is replicated).
  status set_high_watermark(std::int64_t hw) noexcept {
    if (hw < 0 || hw > max_offset + 1) return status::invalid_argument;
    if (hw <= hw_) return status::stale;
    hw_ = hw;
    if (log_end_ < hw) log_end_ = hw;
    for (std::size_t i = 0; i < OpenTxns; ++i)
      if (open_[i].producer_id >= 0 && open_[i].marker_offset >= 0 && open_[i].marker_offset < hw)
        open_[i] = free_entry();
    return status::ok;
  }

  /// The log's start moved to log_start (retention, DeleteRecords): aborted entries that end
  /// below it are dropped, as Kafka deletes a segment's .txnindex with the segment. stale if
  /// log_start <= log_start(); invalid_argument if negative or above high_watermark().
  status set_log_start(std::int64_t log_start) noexcept {
    if (log_start < 0 || log_start > hw_) return status::invalid_argument;
    if (log_start <= log_start_) return status::stale;
    log_start_ = log_start;
    // Entries are in marker order (last_offset strictly increasing): drop a prefix.
    while (ab_count_ > 0 && ab_[ab_head_].last_offset < log_start) {
      ab_head_ = ab_head_ + 1 == AbortedTxns ? 0 : ab_head_ + 1;
      --ab_count_;
    }
    return status::ok;
  }

  // ---------------------------------------------------------------- readers

  /// First offset of the earliest unstable transaction (clamped to log_start()), else the
  /// high watermark; never above the high watermark. read_committed reads stop here.
  constexpr std::int64_t last_stable_offset() const noexcept {
    std::int64_t lso = hw_;
    for (std::size_t i = 0; i < OpenTxns; ++i)
      if (open_[i].producer_id >= 0 && open_[i].first_offset < lso) lso = open_[i].first_offset;
    return lso < log_start_ ? log_start_ : lso;  // log_start <= hw: still <= hw
  }

  constexpr std::int64_t high_watermark() const noexcept { return hw_; }  ///< 0 until set
  constexpr std::int64_t log_start() const noexcept { return log_start_; }  ///< 0 until set
  /// One past the highest offset recorded (or the high watermark if above): the next append
  /// or marker must lie at or above it.
  constexpr std::int64_t log_end() const noexcept { return log_end_; }

  /// First offset of producer_id's open transaction here (marker not yet written), else -1.
  constexpr std::int64_t open_first_offset(std::int64_t producer_id) const noexcept {
    const std::size_t i = producer_id < 0 ? npos : find_open(producer_id);
    return i == npos ? -1 : open_[i].first_offset;
  }

  /// Slots in use: open transactions plus completed ones whose marker is not below the HW.
  constexpr std::size_t open_count() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < OpenTxns; ++i) n += open_[i].producer_id >= 0 ? 1u : 0u;
    return n;
  }
  constexpr std::size_t aborted_count() const noexcept { return ab_count_; }  ///< aborted entries held

  /// The aborted transactions a read_committed reader of [from, end) must know: those with
  /// last_offset >= from and first_offset < end (Kafka's fetch rule; none for an empty
  /// range), in marker order. Writes
  /// the first min(found, max) of them to out and sets found to how many there are: found >
  /// max means out was too small (read a shorter range, or use visit_aborted).
  /// invalid_argument (nothing written, found untouched) if from < 0, end < from, or out is
  /// null with max > 0.
  status aborted(std::int64_t from, std::int64_t end, aborted_txn* out, std::size_t max,
                 std::size_t& found) const noexcept {
    if (from < 0 || end < from || (out == nullptr && max > 0)) return status::invalid_argument;
    std::size_t n = 0;
    for (std::uint32_t k = from < end ? lower_bound(from) : ab_count_; k < ab_count_; ++k) {
      const aborted_txn& a = ab_[slot(k)];
      if (a.first_offset >= end) continue;
      if (n < max) out[n] = a;
      ++n;
    }
    found = n;
    return status::ok;
  }

  /// Calls f(const aborted_txn&) for each aborted transaction overlapping [from, end), in
  /// marker order; returns how many. Bad input (from < 0, end < from): none.
  template <class F>
  std::size_t visit_aborted(std::int64_t from, std::int64_t end, F&& f) const noexcept {
    if (from < 0 || end < from) return 0;
    std::size_t n = 0;
    for (std::uint32_t k = from < end ? lower_bound(from) : ab_count_; k < ab_count_; ++k) {
      const aborted_txn& a = ab_[slot(k)];
      if (a.first_offset >= end) continue;
      f(a);
      ++n;
    }
    return n;
  }

  /// read_committed, record by record: true if the transactional record of producer_id at
  /// offset belongs to an aborted transaction (the abort marker itself included). Call it for
  /// transactional batches only: non-transactional records are never skipped. Markers are
  /// control records: the reader skips them by their type, never delivers them.
  bool should_skip(std::int64_t producer_id, std::int64_t offset) const noexcept {
    if (producer_id < 0 || offset < 0) return false;
    for (std::uint32_t k = lower_bound(offset); k < ab_count_; ++k) {
      const aborted_txn& a = ab_[slot(k)];
      if (a.producer_id == producer_id && a.first_offset <= offset) return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- snapshot for the journal
  // A snapshot is: the three offsets (log_start, high_watermark, log_end), then every
  // for_each_open entry, then every for_each_aborted entry in the order visited. Restore is
  // restore_offsets (clears everything), then restore_open for each open entry (any order),
  // then restore_aborted for each aborted entry in the visited order. Each restore call
  // validates its input like a live call (invalid_argument / table_full, nothing changed).

  /// Calls f(const open_txn&) for each slot in use (open or awaiting the HW); returns how many.
  template <class F>
  std::size_t for_each_open(F&& f) const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < OpenTxns; ++i)
      if (open_[i].producer_id >= 0) {
        f(static_cast<const open_txn&>(open_[i]));
        ++n;
      }
    return n;
  }

  /// Calls f(const aborted_txn&) for each aborted entry, in marker order; returns how many.
  template <class F>
  std::size_t for_each_aborted(F&& f) const noexcept {
    for (std::uint32_t k = 0; k < ab_count_; ++k) f(static_cast<const aborted_txn&>(ab_[slot(k)]));
    return ab_count_;
  }

  /// Boot: clear both tables and set the offsets. invalid_argument unless
  /// 0 <= log_start <= high_watermark <= log_end <= max_offset + 1.
  status restore_offsets(std::int64_t log_start, std::int64_t high_watermark, std::int64_t log_end) noexcept {
    if (log_start < 0 || high_watermark < log_start || log_end < high_watermark || log_end > max_offset + 1)
      return status::invalid_argument;
    for (std::size_t i = 0; i < OpenTxns; ++i) open_[i] = free_entry();
    ab_head_ = 0;
    ab_count_ = 0;
    log_start_ = log_start;
    hw_ = high_watermark;
    log_end_ = log_end;
    return status::ok;
  }

  /// Boot: re-add a for_each_open entry. invalid_argument unless id/epoch >= 0,
  /// 0 <= first < log_end() and marker is -1 (then no other open entry of that id) or
  /// first < marker, high_watermark() <= marker < log_end(); table_full if no slot is free.
  status restore_open(const open_txn& e) noexcept {
    if (e.producer_id < 0 || e.epoch < 0 || e.first_offset < 0 || e.first_offset >= log_end_)
      return status::invalid_argument;
    if (e.marker_offset == -1) {
      if (find_open(e.producer_id) != npos) return status::invalid_argument;
    } else if (e.marker_offset <= e.first_offset || e.marker_offset < hw_ || e.marker_offset >= log_end_) {
      return status::invalid_argument;
    }
    const std::size_t i = find_free();
    if (i == npos) return status::table_full;
    open_[i] = e;
    return status::ok;
  }

  /// Boot: re-add a for_each_aborted entry, in the order visited. invalid_argument unless
  /// id >= 0, 0 <= first < last < log_end(), last >= log_start() and last above the previous
  /// entry's; table_full if the table is full.
  status restore_aborted(const aborted_txn& e) noexcept {
    if (e.producer_id < 0 || e.first_offset < 0 || e.last_offset <= e.first_offset || e.last_offset >= log_end_ ||
        e.last_offset < log_start_ || (ab_count_ > 0 && e.last_offset <= ab_[slot(ab_count_ - 1)].last_offset))
      return status::invalid_argument;
    if (ab_count_ == AbortedTxns) return status::table_full;
    ab_[slot(ab_count_)] = e;
    ++ab_count_;
    return status::ok;
  }

 private:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  // A free slot has producer_id -1 (valid ids are >= 0).
  static constexpr open_txn free_entry() noexcept { return open_txn{-1, -1, -1, -1}; }

  constexpr std::size_t find_open(std::int64_t producer_id) const noexcept {
    for (std::size_t i = 0; i < OpenTxns; ++i)
      if (open_[i].producer_id == producer_id && open_[i].marker_offset == -1) return i;
    return npos;
  }
  constexpr std::size_t find_free() const noexcept {
    for (std::size_t i = 0; i < OpenTxns; ++i)
      if (open_[i].producer_id < 0) return i;
    return npos;
  }
  // Physical slot of the k-th aborted entry (0 = oldest) in the ring.
  std::size_t slot(std::uint32_t k) const noexcept {
    const std::size_t s = static_cast<std::size_t>(ab_head_) + k;
    return s >= AbortedTxns ? s - AbortedTxns : s;
  }
  // First logical index whose last_offset >= offset (entries sorted by last_offset).
  std::uint32_t lower_bound(std::int64_t offset) const noexcept {
    std::uint32_t lo = 0, hi = ab_count_;
    while (lo < hi) {
      const std::uint32_t mid = lo + (hi - lo) / 2;
      if (ab_[slot(mid)].last_offset < offset)
        lo = mid + 1;
      else
        hi = mid;
    }
    return lo;
  }

  open_txn open_[OpenTxns] = {};  // every slot set to free_entry() by the constructor
  aborted_txn ab_[AbortedTxns] = {};
  std::int64_t log_start_ = 0;
  std::int64_t hw_ = 0;
  std::int64_t log_end_ = 0;
  std::uint32_t ab_head_ = 0;   // ring: oldest aborted entry
  std::uint32_t ab_count_ = 0;
};

// ============================================================================================
// 7. Journal — durable state (SEMANTICS.md §5)
//
// Append-only, self-checking records on a byte-addressed Storage (NOR/NAND flash, EEPROM, a
// file), in two areas A and B. What it guarantees (SEMANTICS.md §5):
//   - every record carries a length (and its complement) and a CRC-32C, so a torn write is
//     detected; replay() visits intact records in order and stops cleanly at a torn tail;
//   - a power cut at any byte of any write loses nothing that a completed sync() covered:
//     recovery yields the state of the last completed sync() or of a later append, never an
//     earlier one and never a mix of half a record;
//   - damage in the middle (bit flips, lost bytes) is reported as `corrupt`; the records before
//     it are still visited, nothing after it is;
//   - nothing is ever programmed twice: after a torn write, appends resume past the torn
//     region (at the next program unit) and mark it with a `skip` record;
//   - compaction writes the live state into the other area; that area supersedes the old one
//     only once its snapshot is complete (sealed) and synced, so a cut during compaction keeps
//     the old area.
// Contexts: a journal is a single-threaded object (one task, or guarded by the caller); the
// Storage hooks it calls may block (flash program/erase). Never call it from an interrupt.
// The engines themselves stay lock-free: the journal reads them through snapshot().
//
// Storage concept (a class; every call returns status, ok or io_error (invalid_argument for a
// misaligned call, corrupt for bytes the medium has lost, e.g. a truncated file)):
//   std::size_t size() const          total bytes, a multiple of erase_block()
//   std::size_t erase_block() const   erase granularity; a multiple of program_unit()
//   std::size_t program_unit() const  write granularity and alignment (1 for a file; 4, 8,
//                                     16... for flash with ECC): each unit is programmed at
//                                     most once between erases
//   status read(std::size_t addr, void* dst, std::size_t n)
//   status write(std::size_t addr, const void* src, std::size_t n)
//                                     addr and n multiples of program_unit(); only onto erased
//                                     units; may be cut by power at any byte: the bytes before
//                                     the cut are programmed, the unit holding the cut may read
//                                     as anything, the rest stays erased
//   status erase(std::size_t addr, std::size_t n)
//                                     erase_block-aligned; afterwards every byte reads 0xFF
//   status sync()                     returns once every write and erase before it is durable
// An io_error leaves the journal consistent: a failed write is treated as torn.
//
// Record encoding (version 1; little-endian; no host sizeof/alignment involved):
//   off  size  field
//   0    1     magic 0x6F ('o')
//   1    1     magic 0x6A ('j')
//   2    1     version = 1
//   3    1     type (0x00..0xEF user and engine records, 0xF0..0xFF journal internal)
//   4    2     payload length n (0..MaxPayload)
//   6    2     ~n (bitwise complement: a damaged length is caught before it is trusted)
//   8    8     sequence number: +1 per record within an area
//   16   n     payload
//   16+n 4     CRC-32C (Castagnoli, reflected, init/xorout 0xFFFFFFFF) of bytes 0 .. 16+n-1
//   then 0xFF up to the next multiple of program_unit() (not written past the record)
// Internal records: 0xF0 area header {u64 generation, u32 area bytes, u16 program unit,
// u16 0} (first record of an area), 0xF1 seal {u64 generation} (snapshot complete), 0xF2 skip
// {u32 area offset where a torn region starts}, 0xF3 superseded {u64 newer generation}.
//
// Layout: the storage is split into two areas of floor(size / erase_block / 2) erase blocks.
// An area = header, snapshot records, seal, then appended records. On open the newest sealed
// area wins; an older area carries a `superseded` record naming its successor, so a newest
// area that later lost its header or seal is reported corrupt instead of silently falling
// back to older state.
//
// sizeof(journal<S, MaxPayload, MaxUnit>) = sizeof(void*) + ~88 + MaxPayload + 20 + MaxUnit.
//
// Engine records, one class per engine (each: static apply() for open's visitor, load(),
// write_snapshot() for the compaction writer, and a durable flush/append):
//   tracker_log<commit_tracker>      0x10  positions + completion windows of changed partitions
//   producer_log<sequence_table>     0x20  changed producers with every retained batch, removals
//   txn_log<txn_coordinator>         0x30  the coordinator's write-ahead records (its log hook)
//   txn_index_log<txn_index>         0x38  whole-index snapshots, written when it changed
// Several engines share one journal: the compaction writer calls every write_snapshot, the
// open visitor every apply (each ignores the others' types). Payload layouts: README.
// ============================================================================================
// CRC-32C lookup table, a flash/speed trade: 256 = byte table (1 KiB, fastest), 16 = nibble
// table (64 bytes, about half the speed; the default on Cortex-M, where 1 KiB of flash counts
// for more than a few cycles per byte), 0 = bitwise (no table, about 8x slower).
// OFFSEQ_CRC32C_BITWISE 1 is the older spelling of 0. Every choice gives the same CRC.
#ifndef OFFSEQ_CRC32C_TABLE
#if defined(OFFSEQ_CRC32C_BITWISE) && OFFSEQ_CRC32C_BITWISE
#define OFFSEQ_CRC32C_TABLE 0
#elif defined(__ARM_ARCH_6M__) || defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || \
    defined(__ARM_ARCH_8M_BASE__) || defined(__ARM_ARCH_8M_MAIN__)
#define OFFSEQ_CRC32C_TABLE 16
#else
#define OFFSEQ_CRC32C_TABLE 256
#endif
#endif
#if OFFSEQ_CRC32C_TABLE != 256 && OFFSEQ_CRC32C_TABLE != 16 && OFFSEQ_CRC32C_TABLE != 0
#error "offseq: OFFSEQ_CRC32C_TABLE is 256, 16 or 0"
#endif

namespace detail {
constexpr std::uint32_t crc32c_poly = 0x82F63B78u;  // Castagnoli, reflected

// Entry i: the CRC register after shifting i through Bits steps (reflected).
template <unsigned Bits>
struct crc32c_table_t {
  std::uint32_t v[1u << Bits];
  constexpr crc32c_table_t() noexcept : v{} {
    for (std::uint32_t i = 0; i < (1u << Bits); ++i) {
      std::uint32_t c = i;
      for (unsigned k = 0; k < Bits; ++k) c = (c & 1u) ? (c >> 1) ^ crc32c_poly : c >> 1;
      v[i] = c;
    }
  }
};
// Only the table the chosen implementation reads is odr-used, so only it reaches the image.
inline constexpr crc32c_table_t<8> crc32c_table{};
inline constexpr crc32c_table_t<4> crc32c_nibbles{};

// Little-endian fixed-width encode/decode: the stored form never depends on the host.
// In 32-bit words, a u64 as two: a 64-bit shift is several instructions on a 32-bit core (and
// one by a variable amount a libgcc call on a Cortex-M0+).
constexpr void put_le(std::uint8_t* p, std::uint32_t v, std::size_t bytes) noexcept {
  for (std::size_t i = 0; i < bytes; ++i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}
constexpr std::uint32_t get_le(const std::uint8_t* p, std::size_t bytes) noexcept {
  std::uint32_t v = 0;
  for (std::size_t i = bytes; i-- > 0;) v = v << 8 | p[i];
  return v;
}
constexpr void put_u16(std::uint8_t* p, std::uint16_t v) noexcept { put_le(p, v, 2); }
constexpr void put_u32(std::uint8_t* p, std::uint32_t v) noexcept { put_le(p, v, 4); }
constexpr void put_u64(std::uint8_t* p, std::uint64_t v) noexcept {
  put_le(p, static_cast<std::uint32_t>(v), 4);
  put_le(p + 4, static_cast<std::uint32_t>(v >> 32), 4);
}
constexpr std::uint16_t get_u16(const std::uint8_t* p) noexcept { return static_cast<std::uint16_t>(get_le(p, 2)); }
constexpr std::uint32_t get_u32(const std::uint8_t* p) noexcept { return get_le(p, 4); }
constexpr std::uint64_t get_u64(const std::uint8_t* p) noexcept {
  return get_le(p, 4) | static_cast<std::uint64_t>(get_le(p + 4, 4)) << 32;
}

// LEB128 unsigned varint (7 bits a byte, low first): at most 10 bytes for 64 bits.
constexpr std::size_t put_varint(std::uint8_t* p, std::uint64_t v) noexcept {
  std::size_t n = 0;
  while (v >= 0x80u) {
    p[n++] = static_cast<std::uint8_t>(v | 0x80u);
    v >>= 7;
  }
  p[n++] = static_cast<std::uint8_t>(v);
  return n;
}
/// Reads a varint from [p + *at, p + end); false if truncated or longer than 64 bits.
constexpr bool get_varint(const std::uint8_t* p, std::size_t end, std::size_t* at, std::uint64_t* v) noexcept {
  std::uint64_t r = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (*at >= end) return false;
    const std::uint8_t b = p[(*at)++];
    if (shift == 63 && (b & 0x7Eu)) return false;  // would overflow 64 bits
    r |= static_cast<std::uint64_t>(b & 0x7Fu) << shift;
    if (!(b & 0x80u)) {
      *v = r;
      return true;
    }
  }
  return false;
}
}  // namespace detail

namespace detail {
template <unsigned Table, class Byte>
constexpr std::uint32_t crc32c_with(const Byte* p, std::size_t n, std::uint32_t crc) noexcept {
  std::uint32_t c = ~crc;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t b = static_cast<std::uint8_t>(p[i]);
    if constexpr (Table == 256) {
      c = crc32c_table.v[(c ^ b) & 0xFFu] ^ (c >> 8);
    } else if constexpr (Table == 16) {
      c ^= b;
      c = crc32c_nibbles.v[c & 0xFu] ^ (c >> 4);
      c = crc32c_nibbles.v[c & 0xFu] ^ (c >> 4);
    } else {
      c ^= b;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ crc32c_poly : c >> 1;
    }
  }
  return ~c;
}
template <class Byte>
constexpr std::uint32_t crc32c_update(const Byte* p, std::size_t n, std::uint32_t crc) noexcept {
  return crc32c_with<OFFSEQ_CRC32C_TABLE>(p, n, crc);
}
// The three implementations agree on every byte value, whichever one this build uses.
constexpr bool crc32c_variants_agree() noexcept {
  std::uint8_t all[256] = {};
  for (std::size_t i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(255 - i);
  const std::uint32_t ref = crc32c_with<0>(all, 256, 0);
  return crc32c_with<16>(all, 256, 0) == ref && crc32c_with<256>(all, 256, 0) == ref &&
         crc32c_with<16>("123456789", 9, 0) == 0xE3069283u && crc32c_with<0>("123456789", 9, 0) == 0xE3069283u;
}
static_assert(crc32c_variants_agree(), "offseq: CRC-32C table, nibble and bitwise variants differ");
}  // namespace detail

/// CRC-32C (Castagnoli) of n bytes, continuing from `crc` (0 to start).
/// crc32c("123456789", 9) == 0xE3069283. constexpr for byte and char pointers.
constexpr std::uint32_t crc32c(const std::uint8_t* data, std::size_t n, std::uint32_t crc = 0) noexcept {
  return detail::crc32c_update(data, n, crc);
}
constexpr std::uint32_t crc32c(const char* data, std::size_t n, std::uint32_t crc = 0) noexcept {
  return detail::crc32c_update(data, n, crc);
}
inline std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc = 0) noexcept {
  return detail::crc32c_update(static_cast<const std::uint8_t*>(data), n, crc);
}
static_assert(crc32c("123456789", 9) == 0xE3069283u, "offseq: CRC-32C check value");

namespace detail {
// A non-owning reference to a callable: function pointer + context. The journal's big bodies
// (scan, open, compact) take one instead of a template parameter, so they exist once per
// journal type rather than once per caller's lambda (flash on MCUs). No heap, no copy.
template <class R, class... A>
struct fn_ref {
  R (*fn)(void*, A...) noexcept;
  void* ctx;
  R operator()(A... a) const noexcept { return fn(ctx, a...); }
};
}  // namespace detail

/// Record types used by offseq's own engines (users take 0x00..0x0F and 0x40..0xEF).
enum class record_type : std::uint8_t {
  tracker = 0x10,      ///< commit_tracker positions + completion windows (tracker_log)
  producer = 0x20,     ///< sequence_table producer state (producer_log)
  transaction = 0x30,  ///< txn_coordinator log record (txn_log)
  txn_index = 0x38,    ///< txn_index snapshot (txn_index_log)
  first_internal = 0xF0,
};

template <class Storage, std::size_t MaxPayload = 1024, std::size_t MaxProgramUnit = 32>
class journal {
  static_assert(MaxPayload >= 16 && MaxPayload <= 65535, "offseq: journal MaxPayload is 16..65535 bytes");
  static_assert(MaxProgramUnit >= 1 && MaxProgramUnit <= 256, "offseq: journal MaxProgramUnit is 1..256");

 public:
  using storage_type = Storage;
  static constexpr std::size_t header_bytes = 16;  ///< magic, version, type, length, ~length, sequence
  static constexpr std::size_t crc_bytes = 4;
  static constexpr std::size_t max_payload = MaxPayload;
  static constexpr std::uint8_t version = 1;

  explicit journal(Storage& s) noexcept : st_(&s) {}
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  /// Erases the whole storage and starts an empty journal (generation 1). Destroys all data.
  status format() noexcept {
    const status g = check_geometry();
    if (g != status::ok) return g;
    mode_ = mode::closed;
    // B first holds an empty sealed generation 0; compacting into A then leaves B marked
    // superseded, so from the first moment a lost newest header is detectable.
    status s = erase_area(1);
    if (s == status::ok) s = erase_area(0);
    if (s != status::ok) return s;
    gen_ = 0;
    s = start_area(1, 0, 0);
    if (s == status::ok) s = seal(0);
    if (s != status::ok) return s;
    mode_ = mode::open;
    return compact_with(writer_ref{nullptr, nullptr});
  }

  /// Mounts: picks the newest complete area, replays its records into `visit`
  /// (see replay()) and prepares appends. ok; corrupt (records before the damage were
  /// visited; appends refused until compact() succeeds); not_found (blank or never
  /// formatted: call format()); io_error; invalid_argument (bad geometry).
  template <class Visitor>
  status open(Visitor&& visit) noexcept {
    held_visitor<Visitor> v = static_cast<Visitor&&>(visit);
    return open_with(visitor_of(v));
  }

  /// Visits the active area's user/engine records in order: visit(type, payload, n), which
  /// returns status or void; a non-ok status stops the replay and is returned. The payload
  /// pointer is valid during the call only; the visitor must not call this journal.
  /// ok at the end or at a torn tail; corrupt at damage (the records before were visited).
  template <class Visitor>
  status replay(Visitor&& visit) noexcept {
    held_visitor<Visitor> v = static_cast<Visitor&&>(visit);
    return replay_with(visitor_of(v));
  }

  /// Appends one record (not yet durable: call sync()). type 0x00..0xEF, n <= MaxPayload.
  /// table_full: no room left in the area (compact(), nothing was written); corrupt: opened
  /// with damage, compact() first; io_error: the write failed and counts as torn (the
  /// record is ignored by replay even if it reached the medium).
  status append(std::uint8_t type, const void* payload, std::size_t n) noexcept {
    const status s = begin_append(type);
    if (s != status::ok) return s;
    if (n > MaxPayload || (n != 0 && payload == nullptr)) return status::invalid_argument;
    return put(type, static_cast<const std::uint8_t*>(payload), n);
  }

  /// Like append(), the payload encoded in place: enc(std::uint8_t* dst, std::size_t cap)
  /// writes at most cap (= MaxPayload) bytes and returns how many. Saves a staging buffer.
  template <class Encoder>
  status append_with(std::uint8_t type, Encoder&& enc) noexcept {
    const status s = begin_append(type);
    if (s != status::ok) return s;
    const std::size_t n = enc(buf_ + header_bytes, std::size_t{MaxPayload});
    if (n > MaxPayload) return status::invalid_argument;
    return put(type, buf_ + header_bytes, n);
  }

  /// Payload of the last record appended, until the next call on this journal.
  const std::uint8_t* last_payload() const noexcept { return buf_ + header_bytes; }

  /// The last append() is to count as failed, as if its write had reported io_error: the next
  /// append or sync first writes a skip naming it, so replay ignores it even if a later sync
  /// makes it durable (a power cut before that write may still leave it). For a caller that reports the
  /// record as not written after a failed sync(). invalid_state if anything was written after
  /// it (or it is in an area compaction has left).
  status void_last() noexcept {
    if (mode_ == mode::closed || last_.area != cur_.area || last_.start == npos || last_.end != cur_.pos ||
        cur_.gap != npos)
      return status::invalid_state;
    cur_.gap = last_.start;
    last_.start = npos;
    return status::ok;
  }

  /// Makes every append before it durable (Storage::sync). io_error: retry; appends since the
  /// last ok sync may or may not survive a cut.
  status sync() noexcept {
    if (mode_ == mode::closed) return status::invalid_state;
    // A failed or voided last append is marked first: else this sync would make it durable
    // with no skip behind it, and replay (also after a clean restart) would visit it. (Not
    // when damaged: the cursor is not known then.)
    // (No room for the skip, table_full: the sync goes ahead without it.)
    if (mode_ == mode::open || mode_ == mode::unsafe) {
      const status s = make_room(0, area_bytes_, cur_);  // writes the skip if one is pending
      if (s != status::ok && s != status::table_full) return s;
    }
    return st_->sync();
  }

  /// Writes the live state into the other area: erase it, header (generation + 1), then
  /// writer(journal&) -> status, which append()s the snapshot records, then seal + sync. Only
  /// then does the new area replace the old one (which is marked superseded). On any failure
  /// the old area stays active and nothing is lost: table_full if the snapshot does not fit.
  /// Also the way out of `corrupt` after open().
  template <class Writer>
  status compact(Writer&& writer) noexcept {
    auto w = [&writer](journal& j) noexcept -> status { return writer(j); };
    return compact_with(writer_ref{[](void* c, journal& j) noexcept { return (*static_cast<decltype(w)*>(c))(j); }, &w});
  }

  /// Bytes a record with an n-byte payload occupies (with padding to the program unit).
  std::size_t record_bytes(std::size_t n) const noexcept { return align(header_bytes + n + crc_bytes); }
  /// Room left for appends in the active area (before compaction is needed).
  std::size_t free_bytes() const noexcept {
    const std::size_t limit = area_bytes_ - reserve();
    const std::size_t used = cur_.pos + (cur_.gap != npos ? skip_bytes() : 0);
    return used >= limit ? 0 : limit - used;
  }
  /// Generation of the active area (1 after format(), +1 per compaction).
  std::uint64_t generation() const noexcept { return gen_; }
  /// Bytes per area (half the storage, whole erase blocks); 0 before open()/format().
  std::size_t area_bytes() const noexcept { return area_bytes_; }
  /// True after open() returned corrupt, until a compaction succeeds.
  bool damaged() const noexcept { return mode_ == mode::damaged; }
  /// Offset of the next append within the active area (for tests and diagnostics).
  std::size_t append_offset() const noexcept { return cur_.pos; }

 private:
  // unsafe: a failed compaction could not be undone; appends wait for a compaction.
  enum class mode : std::uint8_t { closed, open, damaged, compacting, unsafe };
  struct internal {
    static constexpr std::uint8_t area_header = 0xF0, seal = 0xF1, skip = 0xF2, superseded = 0xF3;
  };
  static constexpr std::size_t npos = ~std::size_t{0};
  static constexpr std::size_t buffer_bytes = header_bytes + MaxPayload + crc_bytes + MaxProgramUnit;

  struct cursor {
    std::size_t area;  // 0 or 1
    std::size_t pos;   // next append offset in the area, a multiple of the program unit
    std::size_t gap;   // start of a torn region not yet marked by a skip record, or npos
    std::uint64_t seq; // sequence number of the next record
  };
  struct scan_result {
    status st = status::ok;
    bool header = false, sealed = false;
    std::uint64_t gen = 0, superseded = 0, next_seq = 0;
    std::size_t resume = 0, gap = npos;
  };
  enum class rec_kind : std::uint8_t { intact, blank, bad };
  struct rec_info {
    rec_kind kind;
    std::uint8_t type;
    std::size_t n;       // payload bytes (kind intact; or a trusted length when bad)
    bool length_ok;      // header magic/version/length parse (for the torn extent)
    std::uint64_t seq;
    std::size_t end;     // offset past the padded record (intact)
  };

  using visitor_ref = detail::fn_ref<status, std::uint8_t, const std::uint8_t*, std::size_t>;
  using writer_ref = detail::fn_ref<status, journal&>;
  template <class Visitor>
  static status visit_thunk(void* c, std::uint8_t type, const std::uint8_t* p, std::size_t n) noexcept {
    return call(*static_cast<Visitor*>(c), type, p, n);
  }
  // How open()/replay() hold their visitor for visitor_of: a function by a pointer object (a
  // visitor_ref points at an object), anything else by reference.
  template <class Visitor>
  using held_visitor = std::conditional_t<std::is_function<std::remove_reference_t<Visitor>>::value,
                                          std::remove_reference_t<Visitor>*, Visitor&&>;
  // One thunk per visitor type, shared by open() and replay().
  template <class Visitor>
  static visitor_ref visitor_of(Visitor& v) noexcept {
    return visitor_ref{&visit_thunk<Visitor>, const_cast<void*>(static_cast<const void*>(&v))};
  }

  status open_with(visitor_ref visit) noexcept {
    mode_ = mode::closed;
    const status g = check_geometry();
    if (g != status::ok) return g;
    scan_result r[2];
    for (std::size_t a = 0; a < 2; ++a) r[a] = scan(a, visitor_ref{nullptr, nullptr});
    for (std::size_t a = 0; a < 2; ++a)
      if (r[a].st == status::io_error) return status::io_error;
    // Choose: the newest header; if it is not sealed, it is a cut compaction unless the older
    // area says it was superseded by it (then it was complete once: damaged).
    std::size_t hi = 2;
    for (std::size_t a = 0; a < 2; ++a)
      if (r[a].header && (hi == 2 || r[a].gen > r[hi].gen)) hi = a;
    if (hi == 2) return status::not_found;
    const std::size_t lo = 1 - hi;
    std::size_t pick = hi;
    if (!r[hi].sealed) {
      if (r[lo].header && r[lo].superseded == r[hi].gen) {
        pick = hi;  // damaged before its seal: visit what is intact, report corrupt
      } else if (r[lo].header && r[lo].sealed && r[lo].superseded == 0) {
        pick = lo;  // compaction into hi was cut: the old area is the state
      } else {
        return r[lo].superseded != 0 || r[hi].superseded != 0 ? status::corrupt : status::not_found;
      }
    } else if (r[hi].superseded != 0) {
      return status::corrupt;  // a newer sealed area existed and is gone
    }
    scan_result v = scan(pick, visit);
    if (v.st == status::io_error) return status::io_error;
    gen_ = r[pick].gen;
    cur_ = cursor{pick, v.resume, v.gap, v.next_seq};
    if (v.st == status::ok && !v.sealed) v.st = status::corrupt;
    mode_ = v.st == status::ok ? mode::open : mode::damaged;
    last_.start = npos;
    return v.st == status::ok ? status::ok : status::corrupt;
  }

  status replay_with(visitor_ref visit) noexcept {
    if (mode_ == mode::closed) return status::invalid_state;
    return scan(cur_.area, visit).st;
  }

  // writer.fn null: an empty snapshot (format()).
  status compact_with(writer_ref writer) noexcept {
    if (mode_ == mode::closed || mode_ == mode::compacting) return status::invalid_state;
    cursor old = cur_;
    const mode old_mode = mode_;
    const std::size_t target = 1 - cur_.area;
    status s = erase_area(target);
    if (s == status::ok) s = start_area(target, gen_ + 1, old.seq);
    if (s == status::ok) {
      mode_ = mode::compacting;
      s = writer.fn != nullptr ? writer(*this) : status::ok;
      mode_ = old_mode;
    }
    bool seal_tried = false;
    if (s == status::ok) {
      seal_tried = true;
      s = seal(gen_ + 1);
    }
    if (s != status::ok) {
      cur_ = old;  // the target has no seal: open() ignores it
      // A seal whose write or sync failed may still have landed: unseal the target by erasing
      // its header block, or the old area would be shadowed by it after a restart.
      if (seal_tried && st_->erase(base(target), st_->erase_block()) != status::ok) mode_ = mode::unsafe;
      return s;
    }
    ++gen_;
    last_.start = npos;  // the last user record is in the superseded area now
    // Mark the old area superseded, through its own cursor (best effort: a failure here only
    // loses the detection of a later-damaged newest header; the next sync makes it durable).
    (void)put_internal(internal::superseded, gen_, 8, old);
    mode_ = mode::open;
    return status::ok;
  }

  // An area's first record (format() and compact_with()): cur_ moves to its start.
  status start_area(std::size_t area, std::uint64_t gen, std::uint64_t seq) noexcept {
    cur_ = cursor{area, 0, npos, seq};
    return put_internal(internal::area_header, gen, 16, cur_);
  }
  // An area's snapshot is complete: the seal, durable.
  status seal(std::uint64_t gen) noexcept {
    const status s = put_internal(internal::seal, gen, 8, cur_);
    return s == status::ok ? st_->sync() : s;
  }

  std::size_t align(std::size_t n) const noexcept { return (n + unit_ - 1) / unit_ * unit_; }
  // Kept free in every area for the records the journal itself must be able to write there:
  // a skip, the seal, the superseded mark.
  std::size_t reserve() const noexcept { return 3 * align(header_bytes + 8 + crc_bytes); }
  std::size_t base(std::size_t area) const noexcept { return area * area_bytes_; }
  // May a user record of this type be appended now? (append and append_with)
  // The start of every user append: also forgets the previous record for void_last(), so a
  // refused append (which writes nothing) cannot have it void an acknowledged record.
  status begin_append(std::uint8_t type) noexcept {
    last_.start = npos;
    if (type >= static_cast<std::uint8_t>(record_type::first_internal)) return status::invalid_argument;
    if (mode_ == mode::closed) return status::invalid_state;
    if (mode_ == mode::damaged) return status::corrupt;
    if (mode_ == mode::unsafe) return status::io_error;
    return status::ok;
  }

  status check_geometry() noexcept {
    const std::size_t size = st_->size(), eb = st_->erase_block(), pu = st_->program_unit();
    if (pu == 0 || pu > MaxProgramUnit || eb == 0 || eb % pu != 0 || size % eb != 0) return status::invalid_argument;
    unit_ = pu;
    area_bytes_ = size / eb / 2 * eb;
    if (area_bytes_ == 0 || area_bytes_ > 0xFFFFFFFFu) return status::invalid_argument;
    // Room for the header, the internal reserve and at least one full record.
    if (area_bytes_ < align(header_bytes + 16 + crc_bytes) + reserve() + record_bytes(MaxPayload))
      return status::invalid_argument;
    return status::ok;
  }

  status erase_area(std::size_t area) noexcept {
    // Block by block from the first, so the header is gone first: a cut leaves no old
    // header in front of erased records.
    const std::size_t eb = st_->erase_block();
    for (std::size_t off = 0; off < area_bytes_; off += eb) {
      const status s = st_->erase(base(area) + off, eb);
      if (s != status::ok) return s;
    }
    return status::ok;
  }

  // Is there room below `limit` for `size` bytes at cursor c (and first a skip record, if a
  // torn region is unmarked)? Writes that skip. table_full: no room, nothing written.
  status make_room(std::size_t size, std::size_t limit, cursor& c) noexcept {
    const std::size_t skip_size = c.gap != npos ? skip_bytes() : 0;
    if (c.pos > limit || limit - c.pos < skip_size + size) return status::table_full;
    return c.gap != npos ? put_skip(c) : status::ok;
  }

  // Appends one user record at cur_ (the payload copied to buf_ unless already there).
  status put(std::uint8_t type, const std::uint8_t* payload, std::size_t n) noexcept {
    status s = make_room(record_bytes(n), area_bytes_ - reserve(), cur_);
    if (s != status::ok) return s;
    if (payload != buf_ + header_bytes)
      for (std::size_t i = 0; i < n; ++i) buf_[header_bytes + i] = payload[i];
    const std::size_t at = cur_.pos;
    s = emit(buf_, type, n, cur_);
    // For void_last(): where it starts and ends; only while it is the last write.
    last_ = extent{cur_.area, s == status::ok ? at : npos, cur_.pos};
    return s;
  }

  // Appends an internal record at cursor c, using the whole area (the reserve is for these).
  status put_internal(std::uint8_t type, std::uint64_t x, std::size_t n, cursor& c) noexcept {
    const status s = make_room(record_bytes(n), area_bytes_, c);
    return s != status::ok ? s : emit_internal(type, x, n, c);
  }

  static constexpr std::size_t skip_payload = 4;  // a skip record holds the gap's offset (u32)
  std::size_t skip_bytes() const noexcept { return record_bytes(skip_payload); }
  // The skip record naming c.gap (the caller checked the room, skip_bytes()); the gap is
  // closed once it lands.
  status put_skip(cursor& c) noexcept {
    const status s = emit_internal(internal::skip, c.gap, skip_payload, c);
    if (s == status::ok) c.gap = npos;
    return s;
  }

  // Every internal payload is the first n bytes of {u64 x, u32 area bytes, u16 program unit,
  // u16 0}: the area header (n 16, x the generation), seal and superseded (8, a generation),
  // skip (4, x the gap: its low 4 bytes are the u32). Built on the stack so buf_ keeps a user
  // payload intact; emit() overwrites the bytes past n with the CRC and padding.
  status emit_internal(std::uint8_t type, std::uint64_t x, std::size_t n, cursor& c) noexcept {
    std::uint8_t b[header_bytes + 16 + crc_bytes + MaxProgramUnit];
    detail::put_u64(b + header_bytes, x);
    detail::put_u32(b + header_bytes + 8, static_cast<std::uint32_t>(area_bytes_));
    detail::put_u32(b + header_bytes + 12, static_cast<std::uint32_t>(unit_));  // u16 unit, u16 0 (unit <= 256)
    return emit(b, type, n, c);
  }

  // One record, one Storage::write, so a cut tears at most this record. The payload is
  // already at b + header_bytes.
  status emit(std::uint8_t* b, std::uint8_t type, std::size_t n, cursor& c) noexcept {
    const std::size_t size = record_bytes(n);
    b[0] = 0x6F;
    b[1] = 0x6A;
    b[2] = version;
    b[3] = type;
    detail::put_u32(b + 4, static_cast<std::uint32_t>(n | (~n & 0xFFFFu) << 16));  // u16 n, u16 ~n
    detail::put_u64(b + 8, c.seq);
    detail::put_u32(b + header_bytes + n, crc32c(b, header_bytes + n));
    for (std::size_t i = header_bytes + n + crc_bytes; i < size; ++i) b[i] = 0xFF;
    const status s = st_->write(base(c.area) + c.pos, b, size);
    // A failed write is torn as far as we know: never program these units again, mark them on
    // the next append. Its sequence number is consumed: a skip may follow a record that landed.
    if (s != status::ok && c.gap == npos) c.gap = c.pos;
    c.pos += size;
    ++c.seq;
    return s == status::ok ? status::ok : status::io_error;
  }

  // A header's bytes all 0xFF: nothing was programmed there.
  static bool erased(const std::uint8_t* h) noexcept {
    for (std::size_t i = 0; i < header_bytes; ++i)
      if (h[i] != 0xFF) return false;
    return true;
  }
  // Magic, version and a length that matches its complement (not yet checked against limits).
  static bool well_formed(const std::uint8_t* h) noexcept {
    const std::uint32_t len = detail::get_u32(h + 4);  // u16 n, u16 ~n
    return h[0] == 0x6F && h[1] == 0x6A && h[2] == version && ((len ^ len >> 16) & 0xFFFFu) == 0xFFFFu;
  }

  // Reads the record at `off` of `area` into buf_ (payload at buf_ + header_bytes).
  status read_record(std::size_t area, std::size_t off, rec_info& r) noexcept {
    r = rec_info{rec_kind::bad, 0, 0, false, 0, 0};
    if (off + header_bytes > area_bytes_) {
      r.kind = rec_kind::blank;  // no room for a header: the area ends here
      return status::ok;
    }
    status s = st_->read(base(area) + off, buf_, header_bytes);
    if (s != status::ok) return s;
    if (erased(buf_)) {
      r.kind = rec_kind::blank;
      return status::ok;
    }
    const std::size_t n = detail::get_u16(buf_ + 4);
    if (!well_formed(buf_) || n > MaxPayload || off + header_bytes + n + crc_bytes > area_bytes_)
      return status::ok;  // bad, length unknown
    r.length_ok = true;
    r.n = n;
    r.type = buf_[3];
    r.seq = detail::get_u64(buf_ + 8);
    r.end = off + record_bytes(n);
    s = st_->read(base(area) + off + header_bytes, buf_ + header_bytes, n + crc_bytes);
    if (s != status::ok) return s;
    if (crc32c(buf_, header_bytes + n) == detail::get_u32(buf_ + header_bytes + n)) r.kind = rec_kind::intact;
    return status::ok;
  }

  // Offset of the last byte in [from, area end) that is not 0xFF, or npos.
  status last_programmed(std::size_t area, std::size_t from, std::size_t& last) noexcept {
    last = npos;
    std::size_t off = area_bytes_;
    while (off > from) {
      const std::size_t chunk = off - from < sizeof(buf_) ? off - from : sizeof(buf_);
      off -= chunk;
      const status s = st_->read(base(area) + off, buf_, chunk);
      if (s != status::ok) return s;
      for (std::size_t i = chunk; i-- > 0;)
        if (buf_[i] != 0xFF) {
          last = off + i;
          return status::ok;
        }
    }
    return status::ok;
  }

  template <class Visitor>
  static status call(Visitor& v, std::uint8_t type, const std::uint8_t* p, std::size_t n) noexcept {
    if constexpr (std::is_void<decltype(v(type, p, n))>::value) {
      v(type, p, n);
      return status::ok;
    } else {
      return static_cast<status>(v(type, p, n));
    }
  }

  // Is the intact record r at `off` (sequence `seq`) voided by a skip record naming it, i.e.
  // did its write report io_error? The skip is the first intact record behind it (directly
  // behind, or behind a torn or blank region when the skip's own first write failed).
  // Voided: r is that skip (and buf_ holds it). `clobbered` when r and buf_ were reused.
  status voided(std::size_t area, std::size_t off, std::uint64_t seq, rec_info& r, bool& v, bool& clobbered) noexcept {
    v = false;
    clobbered = false;
    const std::size_t end = r.end;
    std::uint8_t pk[header_bytes];
    if (end + header_bytes > area_bytes_) return status::ok;
    status s = st_->read(base(area) + end, pk, header_bytes);
    if (s != status::ok) return s;
    // Blank behind it is no proof: a skip whose first write failed without programming
    // anything leaves a blank region, and its retry lands behind that.
    if (!erased(pk) && well_formed(pk) && pk[3] != internal::skip) return status::ok;  // the common case
    clobbered = true;
    std::size_t last;
    s = last_programmed(area, end, last);
    if (s != status::ok || last == npos) return s;
    bool found = false;
    s = first_intact(area, end, last, r, found);
    v = s == status::ok && found && is_skip_for(r, off, npos, seq);
    return s;
  }

  // The first intact record at a program-unit offset in [from, last] (read into q and buf_).
  status first_intact(std::size_t area, std::size_t from, std::size_t last, rec_info& q, bool& found) noexcept {
    found = false;
    for (std::size_t o = from; o <= last; o += unit_) {
      const status s = read_record(area, o, q);
      if (s != status::ok) return s;
      if (q.kind == rec_kind::intact) {
        found = true;
        break;
      }
    }
    return status::ok;
  }

  // An intact skip record (just read into buf_) naming `gap` or `other` (unless npos), not older
  // than `seq`.
  bool is_skip_for(const rec_info& q, std::size_t gap, std::size_t other, std::uint64_t seq) const noexcept {
    const std::size_t named = detail::get_u32(buf_ + header_bytes);
    return q.type == internal::skip && q.n == skip_payload && q.seq >= seq &&
           (named == gap || (other != npos && named == other));
  }

  // Walks an area from its header: visits user records, notes seal/superseded, and finds
  // where appends resume. st: ok (clean end or torn tail), corrupt, io_error, or a
  // visitor's status. Sequence numbers rise by one per record; a failed write consumes one
  // too, so a skip record may jump ahead.
  // visit.fn null: records are checked, not visited (open() choosing an area).
  scan_result scan(std::size_t area, visitor_ref visit) noexcept {
    scan_result res;  // every exit returns this one object (NRVO): no copy per return
    rec_info r;
    status s = read_record(area, 0, r);
    if (s != status::ok) {
      res.st = s;
      return res;
    }
    if (r.kind != rec_kind::intact || r.type != internal::area_header || r.n != 16 ||
        detail::get_u32(buf_ + header_bytes + 8) != area_bytes_ || detail::get_u16(buf_ + header_bytes + 12) != unit_)
      return res;  // no valid header: not an area
    res.header = true;
    res.gen = detail::get_u64(buf_ + header_bytes);
    std::uint64_t seq = r.seq + 1;
    std::size_t off = r.end;
    // Start of the torn region the last skip passed named, until an ordinary record: a skip
    // retry that failed again after an earlier attempt landed leaves a torn region behind that
    // attempt, closed by a skip naming the same start (put() keeps the gap until a skip lands).
    std::size_t open_gap = npos;
    for (;;) {
      s = read_record(area, off, r);
      if (s != status::ok) {
        res.st = s;
        return res;
      }
      // Each case below either continues, returns, or leaves in r an intact skip record (still
      // in buf_) whose region is passed: then the walk continues behind it, at the bottom.
      if (r.kind == rec_kind::intact && r.type == internal::skip) {
        // A skip met in order marks a region already passed: nothing to do.
        if (r.n != skip_payload || r.seq < seq) {
          res.st = status::corrupt;
          return res;
        }
      } else if (r.kind == rec_kind::intact) {
        if (r.seq != seq) {  // stale or misplaced record
          res.st = status::corrupt;
          return res;
        }
        bool v = false, clobbered = false;
        if (r.type < static_cast<std::uint8_t>(record_type::first_internal)) {
          // Only user records can be voided: a failed internal write fails its compaction.
          s = voided(area, off, seq, r, v, clobbered);
          if (s == status::corrupt) s = status::ok;  // lost bytes behind: the main loop reports them
          if (s != status::ok) {
            res.st = s;
            return res;
          }
        }
        if (!v) {  // (voided: r is now the skip naming this record, whose gap is `off`)
          if (clobbered) {
            s = read_record(area, off, r);
            if (s != status::ok) {
              res.st = s;
              return res;
            }
            if (r.kind != rec_kind::intact) {  // medium changed under us
              res.st = status::io_error;
              return res;
            }
          }
          const std::uint8_t* p = buf_ + header_bytes;
          if (r.type == internal::seal) {
            if (r.n != 8 || detail::get_u64(p) != res.gen) {
              res.st = status::corrupt;
              return res;
            }
            res.sealed = true;
          } else if (r.type == internal::superseded) {
            if (r.n == 8) res.superseded = detail::get_u64(p);
          } else if (r.type < static_cast<std::uint8_t>(record_type::first_internal)) {
            s = visit.fn != nullptr ? visit(r.type, p, r.n) : status::ok;
            if (s != status::ok) {
              res.st = s;
              return res;
            }
          } else {
            res.st = status::corrupt;  // unknown internal type: from a newer version
            return res;
          }
          off = r.end;
          ++seq;
          open_gap = npos;
          continue;
        }
      } else {
        // Not an intact record at `off`: a clean end, a torn tail, or damage.
        std::size_t last;
        s = last_programmed(area, off, last);
        if (s != status::ok) {
          res.st = s;
          return res;
        }
        if (last == npos) {  // erased from here on: clean end
          res.resume = off;
          res.next_seq = seq;
          return res;
        }
        const bool length_ok = r.length_ok;
        const std::size_t torn_n = r.n;
        const bool was_blank = r.kind == rec_kind::blank;
        // Look for an intact record behind the bad region (at program-unit offsets; into r,
        // the fields of it the torn tail needs are copied above).
        bool found = false;
        s = first_intact(area, off + unit_, last, r, found);
        if (s != status::ok) {
          res.st = s;
          return res;
        }
        if (!found) {
          // Torn tail: resume past everything that may have been programmed.
          std::size_t resume = was_blank ? off : off + (length_ok ? record_bytes(torn_n) : align(header_bytes));
          const std::size_t after_last = align(last + 1);
          if (after_last > resume) resume = after_last;
          // The tail may hold several failed writes (a record, then its skip), and the unit
          // holding a cut can be programmed yet read 0xFF (a 0xFF byte of the record): walk the
          // writes by their headers so the last one's whole extent is passed, not just its last
          // non-0xFF byte.
          for (std::size_t p = off; p <= last;) {
            rec_info w;
            s = read_record(area, p, w);
            if (s != status::ok) {
              res.st = s;
              return res;
            }
            if (w.length_ok) {
              p = w.end;
            } else {  // a header cut inside it (magic first), or nothing written at p
              p += w.kind != rec_kind::blank && buf_[0] == 0x6F ? align(header_bytes) : unit_;
            }
            if (p > resume) resume = p;
          }
          res.resume = resume > area_bytes_ ? area_bytes_ : resume;
          res.gap = off;
          res.next_seq = seq;
          return res;
        }
        // Found: it must be a skip naming this offset (an acknowledged torn region).
        if (!is_skip_for(r, off, open_gap, seq)) {
          res.st = status::corrupt;
          return res;
        }
      }
      // r: an intact skip record whose region is passed.
      open_gap = detail::get_u32(buf_ + header_bytes);  // its gap
      off = r.end;
      seq = r.seq + 1;
    }
  }

  Storage* st_;
  std::size_t unit_ = 1;
  std::size_t area_bytes_ = 0;
  cursor cur_{0, 0, npos, 0};
  std::uint64_t gen_ = 0;
  struct extent {
    std::size_t area, start, end;
  };
  extent last_{0, npos, 0};  // the last user record appended (void_last); start npos: none
  mode mode_ = mode::closed;
  alignas(8) std::uint8_t buf_[buffer_bytes];
};

namespace detail {
// Which compaction holds a log's snapshot. write_snapshot (called by the compaction writer)
// notes the generation the running compaction will seal; after a compaction, sealed() says
// whether it was that one. If not, the writer left the log out and the new area holds none of
// it: the log writes its whole state again.
class snapshot_mark {
 public:
  template <class Journal>
  void wrote(const Journal& j) noexcept {
    gen_ = j.generation() + 1;
  }
  template <class Journal>
  bool sealed(const Journal& j) const noexcept {
    return gen_ != 0 && gen_ == j.generation();
  }
  void clear() noexcept { gen_ = 0; }

 private:
  std::uint64_t gen_ = 0;
};

constexpr std::size_t varint_bytes(std::uint64_t v) noexcept {
  std::size_t n = 1;
  while (v >= 0x80u) {
    v >>= 7;
    ++n;
  }
  return n;
}
}  // namespace detail

/// Durable commit_tracker state (record_type::tracker). A record's payload is a list of
/// partition entries, each LEB128 varints then bytes:
///   partition, position, k (0..window_bytes), k bytes of the completion bitmap (bit i of
///   byte i/8 = offset position+i completed; trailing zero bytes omitted)
/// A later entry for a partition replaces an earlier one. flush() writes every partition whose
/// snapshot changed since the last ok flush as ONE record, so a flush is all-or-nothing under
/// a power cut. Not the generation: ownership is runtime state, a restart re-assigns.
/// Contexts: flush/write_snapshot from one thread (the tracker may be in use meanwhile:
/// snapshot() is safe); load (apply) at boot, before the tracker is used.
/// sizeof = Partitions * (8 + window_bytes) + Partitions + 16 (last persisted snapshots).
template <class Tracker>
class tracker_log {
 public:
  using window_snapshot = typename Tracker::window_snapshot;
  static constexpr std::size_t partitions = Tracker::partitions();
  static constexpr std::size_t window_bytes = Tracker::window_bytes;
  static constexpr std::size_t max_entry_bytes = detail::varint_bytes(partitions - 1) +
                                                 detail::varint_bytes(static_cast<std::uint64_t>(Tracker::max_position)) +
                                                 detail::varint_bytes(window_bytes) + window_bytes;
  /// The journal's MaxPayload must be at least this (checked at compile time).
  static constexpr std::size_t max_record_bytes = partitions * max_entry_bytes;
  static constexpr std::uint8_t type = static_cast<std::uint8_t>(record_type::tracker);

  constexpr tracker_log() noexcept = default;

  /// Applies one replayed record to t (ignores other types): give it every record from
  /// journal::open(). corrupt for a malformed record, or one restore() would refuse (checked
  /// whole first: t unchanged).
  static status apply(Tracker& t, std::uint8_t rec_type, const std::uint8_t* p, std::size_t n) noexcept {
    if (rec_type != type) return status::ok;
    if (!walk(p, n, nullptr)) return status::corrupt;
    (void)walk(p, n, &t);
    return status::ok;
  }

  /// Boot: j.open() replaying into t. Same statuses as journal::open.
  template <class Journal>
  static status load(Journal& j, Tracker& t) noexcept {
    return j.open([&t](std::uint8_t rt, const std::uint8_t* p, std::size_t n) noexcept { return apply(t, rt, p, n); });
  }

  /// Appends every partition's snapshot as one record: call it from the compaction writer
  /// (with the other engines' snapshots). Forgets what was persisted, so the next flush
  /// writes every partition again (safe whether or not the compaction completes).
  template <class Journal>
  status write_snapshot(Journal& j, const Tracker& t) noexcept {
    check_journal<Journal>();
    set_known(0);
    mark_.wrote(j);
    return j.append_with(type, [&](std::uint8_t* dst, std::size_t) noexcept {
      std::size_t n = 0;
      for (std::size_t p = 0; p < partitions; ++p) {
        last_[p] = t.snapshot(p);  // not yet known_: durable only once the compaction seals
        n += encode(dst + n, p, last_[p]);
      }
      return n;
    });
  }

  /// Durable flush: one record with the partitions whose snapshot changed since the last ok
  /// flush, then j.sync(). When the area is full: j.compact(writer) (writer(journal&) ->
  /// status must call write_snapshot(j, t) and the other engines' snapshot writers; if it
  /// leaves the tracker out, this flush writes every partition after it), then the record
  /// again. ok: everything t held when flush began is durable. On failure nothing is
  /// forgotten: the next flush writes the same partitions again.
  template <class Journal, class Writer>
  status flush(Journal& j, const Tracker& t, Writer&& writer) noexcept {
    check_journal<Journal>();
    adopt_snapshot(j, false);
    status s = append_changes(j, t);
    if (s == status::table_full) {
      s = j.compact(writer);
      if (s == status::ok) {
        adopt_snapshot(j, true);  // the flush then writes only what moved since the snapshot
        s = append_changes(j, t);
      }
    }
    if (s == status::not_found) return status::ok;  // nothing changed
    if (s == status::ok) {
      s = j.sync();
      // The unsynced record may still become durable (any later sync): what last_ says is
      // persisted is no longer certain, so the next flush writes every partition again.
      if (s != status::ok) set_known(0);
    }
    if (s != status::ok) return s;
    remember(j.last_payload(), last_n_);
    return status::ok;
  }
  /// flush() for a journal that holds only this tracker.
  template <class Journal>
  status flush(Journal& j, const Tracker& t) noexcept {
    return flush(j, t, [this, &t](Journal& jj) noexcept { return write_snapshot(jj, t); });
  }

 private:
  template <class Journal>
  static constexpr void check_journal() noexcept {
    static_assert(Journal::max_payload >= max_record_bytes,
                  "offseq: the journal's MaxPayload is smaller than tracker_log<...>::max_record_bytes");
  }

  // Decodes every entry; restores them into t, or (t null) checks them against restore()'s
  // rules so that applying cannot fail.
  static bool walk(const std::uint8_t* p, std::size_t n, Tracker* t) noexcept {
    std::size_t at = 0;
    while (at < n) {
      std::uint64_t part, pos, k;
      if (!detail::get_varint(p, n, &at, &part) || !detail::get_varint(p, n, &at, &pos) ||
          !detail::get_varint(p, n, &at, &k) || part >= partitions || k > window_bytes || n - at < k ||
          pos > static_cast<std::uint64_t>(Tracker::max_position))
        return false;
      window_snapshot snap{};
      snap.position = static_cast<std::int64_t>(pos);
      for (std::size_t i = 0; i < k; ++i) {
        snap.completed[i] = p[at + i];
        for (unsigned b = 0; b < 8; ++b)  // a completion at or past max_position: not restorable
          if (((p[at + i] >> b) & 1u) && 8 * i + b < Tracker::window &&
              pos + 8 * i + b >= static_cast<std::uint64_t>(Tracker::max_position))
            return false;
      }
      at += static_cast<std::size_t>(k);
      if (t != nullptr && t->restore(static_cast<std::size_t>(part), snap) != status::ok) return false;
    }
    return true;
  }

  static std::size_t encode(std::uint8_t* dst, std::size_t p, const window_snapshot& s) noexcept {
    std::size_t k = window_bytes;
    while (k > 0 && s.completed[k - 1] == 0) --k;
    std::size_t n = detail::put_varint(dst, p);
    n += detail::put_varint(dst + n, static_cast<std::uint64_t>(s.position));
    n += detail::put_varint(dst + n, k);
    for (std::size_t i = 0; i < k; ++i) dst[n + i] = s.completed[i];
    return n + k;
  }

  static bool same(const window_snapshot& a, const window_snapshot& b) noexcept {
    if (a.position != b.position) return false;
    for (std::size_t i = 0; i < window_bytes; ++i)
      if (a.completed[i] != b.completed[i]) return false;
    return true;
  }

  // A compaction that sealed the generation write_snapshot wrote into made its snapshot
  // durable: it is what the next flush compares against (else every partition goes again).
  // Every partition's last_ is (1) or is not (0) what the journal holds durably.
  void set_known(std::uint8_t k) noexcept {
    for (std::size_t p = 0; p < partitions; ++p) known_[p] = k;
  }

  // A writer that left the tracker out of this flush's own compaction (`compacted`) sealed an
  // area without it: then every partition is written again.
  template <class Journal>
  void adopt_snapshot(const Journal& j, bool compacted) noexcept {
    if (mark_.sealed(j)) {
      set_known(1);
    } else if (compacted) {
      set_known(0);
    }
    mark_.clear();
  }

  // not_found: nothing changed, nothing written. Each partition's snapshot is taken once: the
  // search for the first change keeps it, and the record starts there (a partition before it
  // that changes meanwhile goes in the next flush).
  template <class Journal>
  status append_changes(Journal& j, const Tracker& t) noexcept {
    last_n_ = 0;
    std::size_t first = 0;
    window_snapshot first_snap{};
    for (; first < partitions; ++first) {
      first_snap = t.snapshot(first);
      if (!known_[first] || !same(first_snap, last_[first])) break;
    }
    if (first == partitions) return status::not_found;
    return j.append_with(type, [&](std::uint8_t* dst, std::size_t) noexcept {
      std::size_t n = encode(dst, first, first_snap);
      for (std::size_t p = first + 1; p < partitions; ++p) {
        const window_snapshot snap = t.snapshot(p);
        if (known_[p] && same(snap, last_[p])) continue;
        n += encode(dst + n, p, snap);
      }
      last_n_ = n;
      return n;
    });
  }

  // After an ok sync: what the record said is what is durable.
  void remember(const std::uint8_t* p, std::size_t n) noexcept {
    std::size_t at = 0;
    while (at < n) {
      std::uint64_t part = 0, pos = 0, k = 0;
      if (!detail::get_varint(p, n, &at, &part) || !detail::get_varint(p, n, &at, &pos) ||
          !detail::get_varint(p, n, &at, &k))
        return;
      if (part >= partitions || k > window_bytes || n - at < k) return;
      window_snapshot& s = last_[part];
      s = window_snapshot{};
      s.position = static_cast<std::int64_t>(pos);
      for (std::size_t i = 0; i < k; ++i) s.completed[i] = p[at + i];
      at += static_cast<std::size_t>(k);
      known_[part] = 1;
    }
  }

  window_snapshot last_[partitions]{};
  std::uint8_t known_[partitions]{};
  std::size_t last_n_ = 0;
  detail::snapshot_mark mark_;
};

/// Durable sequence_table state (record_type::producer). A record's payload is a list of
/// entries, LEB128 varints except where a byte is named:
///   byte 0x00, producer_id, epoch, last_seen_ms, byte count (0..History), then count x
///        (first_seq, last_seq, base_offset), oldest first: the producer's whole state, every
///        retained batch (Kafka keeps only the last; we keep all History)
///   byte 0x01, producer_id: the producer is gone (erase or expire)
/// A later entry for a producer replaces an earlier one. Changes reach the log through this
/// class (admit / erase / expire here, or note() after calling the table directly); flush()
/// writes every producer noted since the last ok flush as ONE record, so a flush is
/// all-or-nothing under a power cut. When they do not fit one record (or more were noted than
/// the table holds), flush compacts instead, which is all-or-nothing too (the seal).
/// Contexts: the table's writer context (it is single-writer anyway); load at boot.
/// sizeof = 8 * Producers + 8 * ceil(index_slots / 64) + 24 (the ids noted since the last flush,
/// a filter over them, their count and flags; index_slots: the table's).
template <class Table>
class producer_log {
 public:
  using producer_snapshot = typename Table::producer_snapshot;
  static constexpr std::size_t history = Table::history;
  static constexpr std::size_t capacity = Table::capacity;
  /// Largest entry; the journal's MaxPayload must be at least this (checked at compile time).
  static constexpr std::size_t max_entry_bytes = 1 + 10 + 3 + 10 + 1 + history * (5 + 5 + 10);
  static constexpr std::uint8_t type = static_cast<std::uint8_t>(record_type::producer);

  constexpr producer_log() noexcept = default;

  /// sequence_table::admit; an accepted batch is noted for the next flush.
  verdict admit(Table& t, const batch_header& b, std::int64_t base_offset, std::uint64_t now_ms) noexcept {
    const verdict v = t.admit(b, base_offset, now_ms);
    if (v.code == status::ok) note(b.producer_id);
    return v;
  }
  /// sequence_table::erase; a removal is noted.
  status erase(Table& t, std::int64_t producer_id) noexcept {
    const status s = t.erase(producer_id);
    if (s == status::ok) note(producer_id);
    return s;
  }
  /// sequence_table::record_marker; a raised epoch (history cleared) or a new producer is noted,
  /// so the fence a marker set survives a restart.
  status record_marker(Table& t, std::int64_t producer_id, std::int16_t epoch, std::uint64_t now_ms) noexcept {
    const status s = t.record_marker(producer_id, epoch, now_ms);
    if (s == status::ok) note(producer_id);
    return s;
  }
  /// sequence_table::expire; every removal is noted.
  std::size_t expire(Table& t, std::uint64_t now_ms, std::uint64_t idle_ms) noexcept {
    return expire(t, now_ms, idle_ms, [](std::int64_t) noexcept { return false; });
  }
  template <class Keep>
  std::size_t expire(Table& t, std::uint64_t now_ms, std::uint64_t idle_ms, Keep&& keep) noexcept {
    return t.expire(now_ms, idle_ms, [&](std::int64_t id) noexcept {
      if (keep(id)) return true;
      note(id);
      return false;
    });
  }

  /// Marks producer_id for the next flush, which writes its state as the table then holds it
  /// (or its removal). For changes made on the table directly (record, restore_producer).
  /// O(producers noted since the last flush).
  void note(std::int64_t producer_id) noexcept {
    if (producer_id < 0) return;
    // A clear filter bit (one per index word of the table, by the table's own hash) means "not
    // noted yet": only a hit scans the noted ids, so an admit does not walk them all.
    const std::size_t bit = Table::home_slot(producer_id);
    std::uint64_t& word = filter_[bit / 64];
    const std::uint64_t mask = std::uint64_t{1} << (bit % 64);
    if (word & mask)
      for (std::size_t i = noted_; i-- > 0;)
        if (ids_[i] == producer_id) return;
    if (noted_ == capacity) {
      overflow_ = true;  // the next flush compacts: a snapshot covers every producer
      return;
    }
    word |= mask;
    ids_[noted_++] = producer_id;
  }
  /// Producers noted since the last ok flush (capacity + 1 once more were noted).
  std::size_t changed() const noexcept { return overflow_ ? capacity + 1 : noted_; }

  /// Applies one replayed record to t (ignores other types): give it every record from
  /// journal::open(). corrupt for a malformed record (checked whole first: t unchanged);
  /// table_full if t has fewer slots than the log's producers (t holds the entries before).
  static status apply(Table& t, std::uint8_t rec_type, const std::uint8_t* p, std::size_t n) noexcept {
    if (rec_type != type) return status::ok;
    if (!walk(p, n, nullptr)) return status::corrupt;
    // Removals first: an entry may need the slot a removal later in the same record frees
    // (a record lists producers in the order they were noted; each at most once).
    (void)walk(p, n, &t, pass::removals);
    return walk(p, n, &t, pass::entries) ? status::ok : status::table_full;
  }

  /// Boot: j.open() replaying into t. Same statuses as journal::open (or apply's table_full).
  template <class Journal>
  static status load(Journal& j, Table& t) noexcept {
    return j.open([&t](std::uint8_t rt, const std::uint8_t* p, std::size_t n) noexcept { return apply(t, rt, p, n); });
  }

  /// Appends every producer of t (as many records as needed): call it from the compaction
  /// writer, with the other engines' snapshots.
  template <class Journal>
  status write_snapshot(Journal& j, const Table& t) noexcept {
    check_journal<Journal>();
    mark_.wrote(j);
    const std::size_t total = t.size();
    for (std::size_t done = 0; done < total;) {
      std::size_t next = done;
      const status s = j.append_with(type, [&](std::uint8_t* dst, std::size_t cap) noexcept {
        std::size_t n = 0;
        next = t.for_each_producer_from(done, [&](const producer_snapshot& ps) noexcept {
          if (cap - n < entry_bytes(ps)) return false;  // the next record takes it
          n += encode(dst + n, ps);
          return true;
        });
        return n;
      });
      if (s != status::ok) return s;
      if (next == done) return status::invalid_state;  // unreachable: MaxPayload >= max_entry_bytes
      done = next;
    }
    return status::ok;
  }

  /// Durable flush: one record with every producer noted since the last ok flush, then
  /// j.sync(). When the area is full, the changes do not fit one record, or more producers
  /// were noted than fit the list: j.compact(writer) (writer(journal&) -> status must call
  /// write_snapshot(j, t) and the other engines' snapshot writers). ok: everything t held
  /// when flush began is durable. On failure nothing is forgotten.
  template <class Journal, class Writer>
  status flush(Journal& j, const Table& t, Writer&& writer) noexcept {
    check_journal<Journal>();
    if (noted_ == 0 && !overflow_) return status::ok;
    status s = overflow_ ? status::table_full : append_changes(j, t);
    if (s == status::table_full) {
      mark_.clear();
      s = j.compact(writer);
      // The writer left this table out: the new area holds no producer, so the changes alone
      // would drop every producer not noted since the last flush (and after an overflow the
      // notes are incomplete anyway); write them all.
      if (s == status::ok && !mark_.sealed(j)) s = write_snapshot(j, t);
    }
    if (s == status::ok) s = j.sync();
    if (s != status::ok) return s;
    noted_ = 0;
    overflow_ = false;
    for (auto& w : filter_) w = 0;
    return status::ok;
  }
  /// flush() for a journal that holds only this table.
  template <class Journal>
  status flush(Journal& j, const Table& t) noexcept {
    return flush(j, t, [this, &t](Journal& jj) noexcept { return write_snapshot(jj, t); });
  }

 private:
  template <class Journal>
  static constexpr void check_journal() noexcept {
    static_assert(Journal::max_payload >= max_entry_bytes,
                  "offseq: the journal's MaxPayload is smaller than producer_log<...>::max_entry_bytes");
  }

  static std::size_t entry_bytes(const producer_snapshot& s) noexcept {
    std::size_t n = 2 + detail::varint_bytes(static_cast<std::uint64_t>(s.producer_id)) +
                    detail::varint_bytes(static_cast<std::uint64_t>(s.epoch)) + detail::varint_bytes(s.last_seen_ms);
    for (std::size_t k = 0; k < s.count; ++k)
      n += detail::varint_bytes(static_cast<std::uint64_t>(s.batches[k].first_seq)) +
           detail::varint_bytes(static_cast<std::uint64_t>(s.batches[k].last_seq)) +
           detail::varint_bytes(static_cast<std::uint64_t>(s.batches[k].base_offset));
    return n;
  }
  static std::size_t removal_bytes(std::int64_t id) noexcept { return 1 + detail::varint_bytes(static_cast<std::uint64_t>(id)); }

  static std::size_t encode(std::uint8_t* dst, const producer_snapshot& s) noexcept {
    std::size_t n = 0;
    dst[n++] = 0x00;
    n += detail::put_varint(dst + n, static_cast<std::uint64_t>(s.producer_id));
    n += detail::put_varint(dst + n, static_cast<std::uint64_t>(s.epoch));
    n += detail::put_varint(dst + n, s.last_seen_ms);
    dst[n++] = s.count;
    for (std::size_t k = 0; k < s.count; ++k) {
      n += detail::put_varint(dst + n, static_cast<std::uint64_t>(s.batches[k].first_seq));
      n += detail::put_varint(dst + n, static_cast<std::uint64_t>(s.batches[k].last_seq));
      n += detail::put_varint(dst + n, static_cast<std::uint64_t>(s.batches[k].base_offset));
    }
    return n;
  }

  // Decodes every entry; applies them to t unless t is null (then only checks, including
  // what restore_producer would refuse). false: malformed (t null) or table_full (t given).
  enum class pass : std::uint8_t { removals, entries };
  static bool walk(const std::uint8_t* p, std::size_t n, Table* t, pass only = pass::entries) noexcept {
    constexpr std::uint64_t max_i64 = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    constexpr std::uint64_t max_i32 = static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max());
    std::size_t at = 0;
    while (at < n) {
      const std::uint8_t kind = p[at++];
      std::uint64_t id = 0;
      if (!detail::get_varint(p, n, &at, &id) || id > max_i64 || kind > 1) return false;
      if (kind == 1) {
        if (t != nullptr && only == pass::removals) (void)t->erase(static_cast<std::int64_t>(id));  // not_found: gone
        continue;
      }
      producer_snapshot s{};
      std::uint64_t epoch = 0, seen = 0;
      if (!detail::get_varint(p, n, &at, &epoch) || epoch > 32767 || !detail::get_varint(p, n, &at, &seen) || at >= n)
        return false;
      s.producer_id = static_cast<std::int64_t>(id);
      s.epoch = static_cast<std::int16_t>(epoch);
      s.last_seen_ms = seen;
      s.count = p[at++];
      if (s.count > history) return false;
      for (std::size_t k = 0; k < s.count; ++k) {
        std::uint64_t f = 0, l = 0, o = 0;
        if (!detail::get_varint(p, n, &at, &f) || !detail::get_varint(p, n, &at, &l) ||
            !detail::get_varint(p, n, &at, &o) || f > max_i32 || l > max_i32 || o > max_i64)
          return false;
        s.batches[k] = {static_cast<std::int32_t>(f), static_cast<std::int32_t>(l), static_cast<std::int64_t>(o)};
        if (k > 0 && s.batches[k].first_seq != sequence_add(s.batches[k - 1].last_seq, 1)) return false;
      }
      if (t != nullptr && only == pass::entries && t->restore_producer(s) != status::ok)
        return false;  // checked above: table_full
    }
    return true;
  }

  // table_full: the area is full or the changes do not fit one record (nothing written).
  template <class Journal>
  status append_changes(Journal& j, const Table& t) noexcept {
    std::size_t bytes = 0;
    producer_snapshot ps{};
    for (std::size_t i = 0; i < noted_; ++i)
      bytes += t.find(ids_[i], ps) == status::ok ? entry_bytes(ps) : removal_bytes(ids_[i]);
    if (bytes > Journal::max_payload) return status::table_full;
    return j.append_with(type, [&](std::uint8_t* dst, std::size_t) noexcept {
      std::size_t n = 0;
      for (std::size_t i = 0; i < noted_; ++i) {
        if (t.find(ids_[i], ps) == status::ok) {
          n += encode(dst + n, ps);
        } else {
          dst[n++] = 0x01;
          n += detail::put_varint(dst + n, static_cast<std::uint64_t>(ids_[i]));
        }
      }
      return n;
    });
  }

  std::int64_t ids_[capacity]{};
  std::uint64_t filter_[(Table::index_slots + 63) / 64]{};
  std::size_t noted_ = 0;
  detail::snapshot_mark mark_;
  bool overflow_ = false;
};

/// Durable txn_coordinator log (record_type::transaction): the coordinator's write-ahead
/// records, one journal record each, fixed-width little-endian (offsets in bytes):
///   0 u64 lsn · 8 i64 producer_id · 16 i64 last_producer_id · 24 u64 txn_start_ms ·
///   32 u64 update_ms · 40 u32 timeout_ms · 44 i16 epoch · 46 i16 last_epoch · 48 u8 state ·
///   49 u8 id_length L · 50 u8 partition_count P · 51 u8 offset_count O · 52 L id bytes ·
///   52+L P x u32 partition · then O x (i64 next_offset, u32 partition)
/// = 52 + L + 4P + 12O bytes. Use: the coordinator's (synchronous) Hooks::log_append calls
/// append(j, r, writer); the compaction writer calls write_snapshot(j, c), which writes the
/// durable image of every id (txn_coordinator::for_each_record). Boot: load(j, c, now_ms).
/// Stateless: every member is static.
template <class Coordinator>
class txn_log {
 public:
  using log_record = typename Coordinator::log_record;
  static constexpr std::size_t max_record_bytes =
      52 + log_record::id_capacity + 4 * log_record::partitions_capacity + 12 * log_record::offsets_capacity;
  static constexpr std::uint8_t type = static_cast<std::uint8_t>(record_type::transaction);

  /// Writes r's encoding to dst (max_record_bytes at most); returns its size.
  static std::size_t encode(const log_record& r, std::uint8_t* dst) noexcept {
    detail::put_u64(dst, r.lsn);
    detail::put_u64(dst + 8, static_cast<std::uint64_t>(r.producer_id));
    detail::put_u64(dst + 16, static_cast<std::uint64_t>(r.last_producer_id));
    detail::put_u64(dst + 24, r.txn_start_ms);
    detail::put_u64(dst + 32, r.update_ms);
    detail::put_u32(dst + 40, r.timeout_ms);
    detail::put_u16(dst + 44, static_cast<std::uint16_t>(r.epoch));
    detail::put_u16(dst + 46, static_cast<std::uint16_t>(r.last_epoch));
    dst[48] = static_cast<std::uint8_t>(r.state);
    dst[49] = r.id_length;
    dst[50] = r.partition_count;
    dst[51] = r.offset_count;
    std::size_t n = 52;
    for (std::size_t k = 0; k < r.id_length && k < log_record::id_capacity; ++k) dst[n++] = static_cast<std::uint8_t>(r.id[k]);
    for (std::size_t k = 0; k < r.partition_count && k < log_record::partitions_capacity; ++k, n += 4)
      detail::put_u32(dst + n, r.partitions[k]);
    for (std::size_t k = 0; k < r.offset_count && k < log_record::offsets_capacity; ++k, n += 12) {
      detail::put_u64(dst + n, static_cast<std::uint64_t>(r.offsets[k].next_offset));
      detail::put_u32(dst + n + 8, r.offsets[k].partition);
    }
    return n;
  }

  /// Parses n bytes into r: ok, or corrupt if the sizes do not add up (r unspecified then).
  /// Field values are checked by txn_coordinator::replay.
  static status decode(const std::uint8_t* p, std::size_t n, log_record& r) noexcept {
    if (n < 52) return status::corrupt;
    const std::size_t L = p[49], P = p[50], O = p[51];
    if (L == 0 || L > log_record::id_capacity || P > log_record::partitions_capacity ||
        O > log_record::offsets_capacity || n != 52 + L + 4 * P + 12 * O)
      return status::corrupt;
    r = log_record{};
    r.lsn = detail::get_u64(p);
    r.producer_id = static_cast<std::int64_t>(detail::get_u64(p + 8));
    r.last_producer_id = static_cast<std::int64_t>(detail::get_u64(p + 16));
    r.txn_start_ms = detail::get_u64(p + 24);
    r.update_ms = detail::get_u64(p + 32);
    r.timeout_ms = detail::get_u32(p + 40);
    r.epoch = static_cast<std::int16_t>(detail::get_u16(p + 44));
    r.last_epoch = static_cast<std::int16_t>(detail::get_u16(p + 46));
    r.state = static_cast<txn_state>(p[48]);
    r.id_length = p[49];
    r.partition_count = p[50];
    r.offset_count = p[51];
    std::size_t at = 52;
    for (std::size_t k = 0; k < L; ++k) r.id[k] = static_cast<char>(p[at++]);
    for (std::size_t k = 0; k < P; ++k, at += 4) r.partitions[k] = detail::get_u32(p + at);
    for (std::size_t k = 0; k < O; ++k, at += 12)
      r.offsets[k] = txn_offset{static_cast<std::int64_t>(detail::get_u64(p + at)), detail::get_u32(p + at + 8), 0};
    return status::ok;
  }

  /// Applies one replayed record to c (ignores other types): decode + txn_coordinator::replay
  /// (corrupt / table_full / invalid_state as replay; c unchanged then).
  static status apply(Coordinator& c, std::uint8_t rec_type, const std::uint8_t* p, std::size_t n) noexcept {
    if (rec_type != type) return status::ok;
    log_record r;
    const status s = decode(p, n, r);
    return s == status::ok ? c.replay(r) : s;
  }

  /// Boot: j.open() replaying into a fresh c, then c.resume(now_ms) if it returned ok. On
  /// corrupt, c holds the records before the damage: compact, then call c.resume yourself.
  template <class Journal>
  static status load(Journal& j, Coordinator& c, std::uint64_t now_ms) noexcept {
    check_journal<Journal>();
    const status s =
        j.open([&c](std::uint8_t rt, const std::uint8_t* p, std::size_t n) noexcept { return apply(c, rt, p, n); });
    if (s == status::ok) (void)c.resume(now_ms);
    return s;
  }

  /// Appends the durable image of every id of c: call it from the compaction writer.
  template <class Journal>
  static status write_snapshot(Journal& j, const Coordinator& c) noexcept {
    check_journal<Journal>();
    status s = status::ok;
    c.for_each_record([&](const log_record& r) noexcept {
      if (s == status::ok) s = j.append_with(type, [&r](std::uint8_t* dst, std::size_t) noexcept { return encode(r, dst); });
    });
    return s;
  }

  /// What a synchronous Hooks::log_append does: append r, compacting with writer when the
  /// area is full (writer(journal&) -> status must call write_snapshot and the other engines'
  /// snapshot writers), then sync. ok = r is durable; after a failed sync r is voided (void_last).
  template <class Journal, class Writer>
  static status append(Journal& j, const log_record& r, Writer&& writer) noexcept {
    check_journal<Journal>();
    auto enc = [&r](std::uint8_t* dst, std::size_t) noexcept { return encode(r, dst); };
    status s = j.append_with(type, enc);
    if (s == status::table_full) {
      s = j.compact(writer);
      if (s == status::ok) s = j.append_with(type, enc);
    }
    if (s != status::ok) return s;
    s = j.sync();
    // r is in the area, where the next ok sync would make it durable, yet the coordinator takes
    // it as not written (and logs its next record under the same lsn): void it.
    if (s != status::ok) (void)j.void_last();
    return s;
  }

 private:
  template <class Journal>
  static constexpr void check_journal() noexcept {
    static_assert(Journal::max_payload >= max_record_bytes,
                  "offseq: the journal's MaxPayload is smaller than txn_log<...>::max_record_bytes");
  }
};

/// Durable txn_index state (record_type::txn_index): each record is a whole snapshot, LEB128
/// varints: log_start, high_watermark, log_end, open count, open count x (producer_id,
/// first_offset, marker_offset + 1 (0 = still open), epoch), aborted count, aborted count x
/// (producer_id, first_offset, last_offset) in marker order. The newest record wins. flush()
/// writes one when the index changed since the last ok flush (compared byte for byte with
/// the last record written: no false "unchanged").
/// sizeof = max_record_bytes rounded up to 8, + 24 (x86-64; 440 for txn_index<4, 8>).
template <class Index>
class txn_index_log {
 public:
  static constexpr std::size_t max_record_bytes =
      3 * 10 + 5 + Index::open_capacity * (10 + 10 + 10 + 3) + 5 + Index::aborted_capacity * 30;
  static constexpr std::uint8_t type = static_cast<std::uint8_t>(record_type::txn_index);

  constexpr txn_index_log() noexcept = default;

  /// Applies one replayed record to x (ignores other types). corrupt for a malformed record
  /// or one the restore_* calls would refuse (checked whole first: x unchanged).
  static status apply(Index& x, std::uint8_t rec_type, const std::uint8_t* p, std::size_t n) noexcept {
    if (rec_type != type) return status::ok;
    if (!walk(p, n, nullptr)) return status::corrupt;
    (void)walk(p, n, &x);
    return status::ok;
  }

  /// Boot: j.open() replaying into x. Same statuses as journal::open.
  template <class Journal>
  static status load(Journal& j, Index& x) noexcept {
    return j.open([&x](std::uint8_t rt, const std::uint8_t* p, std::size_t n) noexcept { return apply(x, rt, p, n); });
  }

  /// Appends x as one record: call it from the compaction writer.
  template <class Journal>
  status write_snapshot(Journal& j, const Index& x) noexcept {
    check_journal<Journal>();
    known_ = false;
    mark_.wrote(j);
    return append(j, x);
  }

  /// Durable flush: one record if x changed since the last ok flush, then j.sync(); when the
  /// area is full, j.compact(writer) (which must call write_snapshot(j, x)). ok: x as it was
  /// when flush began is durable.
  template <class Journal, class Writer>
  status flush(Journal& j, const Index& x, Writer&& writer) noexcept {
    check_journal<Journal>();
    if (known_) {
      std::size_t at = 0;
      bool same = true;
      encode(x, [&](const std::uint8_t* p, std::size_t n) noexcept {
        for (std::size_t i = 0; i < n && same; ++i) same = at + i < last_n_ && last_[at + i] == p[i];
        at += n;
      });
      if (same && at == last_n_) return status::ok;
    }
    status s = append(j, x);
    if (s == status::table_full) {
      mark_.clear();
      s = j.compact(writer);
      if (s == status::ok && !mark_.sealed(j)) s = append(j, x);  // the writer left x out
    }
    if (s == status::ok) s = j.sync();
    if (s != status::ok) return s;
    std::size_t at = 0;
    encode(x, [&](const std::uint8_t* p, std::size_t n) noexcept {
      for (std::size_t i = 0; i < n; ++i) last_[at + i] = p[i];
      at += n;
    });
    last_n_ = at;
    known_ = true;
    return status::ok;
  }
  /// flush() for a journal that holds only this index.
  template <class Journal>
  status flush(Journal& j, const Index& x) noexcept {
    return flush(j, x, [this, &x](Journal& jj) noexcept { return write_snapshot(jj, x); });
  }

 private:
  template <class Journal>
  static constexpr void check_journal() noexcept {
    static_assert(Journal::max_payload >= max_record_bytes,
                  "offseq: the journal's MaxPayload is smaller than txn_index_log<...>::max_record_bytes");
  }

  template <class Journal>
  static status append(Journal& j, const Index& x) noexcept {
    return j.append_with(type, [&x](std::uint8_t* dst, std::size_t) noexcept {
      std::size_t at = 0;
      encode(x, [&](const std::uint8_t* p, std::size_t n) noexcept {
        for (std::size_t i = 0; i < n; ++i) dst[at + i] = p[i];
        at += n;
      });
      return at;
    });
  }

  // Streams x's encoding into sink(const std::uint8_t*, std::size_t), a field at a time.
  // One body behind a function ref: its three callers (compare, remember, append) share it.
  using sink_ref = detail::fn_ref<void, const std::uint8_t*, std::size_t>;
  template <class Sink>
  static void encode(const Index& x, Sink&& sink) noexcept {
    using S = std::remove_reference_t<Sink>;
    encode_to(x, sink_ref{[](void* c, const std::uint8_t* p, std::size_t n) noexcept { (*static_cast<S*>(c))(p, n); },
                          &sink});
  }
  static void encode_to(const Index& x, sink_ref sink) noexcept {
    std::uint8_t b[10];
    auto v = [&](std::uint64_t val) noexcept { sink(b, detail::put_varint(b, val)); };
    v(static_cast<std::uint64_t>(x.log_start()));
    v(static_cast<std::uint64_t>(x.high_watermark()));
    v(static_cast<std::uint64_t>(x.log_end()));
    v(static_cast<std::uint64_t>(x.open_count()));
    x.for_each_open([&](const open_txn& e) noexcept {
      v(static_cast<std::uint64_t>(e.producer_id));
      v(static_cast<std::uint64_t>(e.first_offset));
      v(static_cast<std::uint64_t>(e.marker_offset + 1));
      v(static_cast<std::uint64_t>(e.epoch));
    });
    v(static_cast<std::uint64_t>(x.aborted_count()));
    x.for_each_aborted([&](const aborted_txn& e) noexcept {
      v(static_cast<std::uint64_t>(e.producer_id));
      v(static_cast<std::uint64_t>(e.first_offset));
      v(static_cast<std::uint64_t>(e.last_offset));
    });
  }

  // Decodes a record; restores it into x, or (x null) checks it against every rule of
  // restore_offsets / restore_open / restore_aborted, so that applying it cannot fail.
  static constexpr std::uint64_t max_id = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

  static bool walk(const std::uint8_t* p, std::size_t n, Index* x) noexcept {
    constexpr std::uint64_t max_off = static_cast<std::uint64_t>(Index::max_offset);
    std::size_t at = 0;
    std::uint64_t ls = 0, hw = 0, end = 0, n_open = 0, n_ab = 0;
    if (!detail::get_varint(p, n, &at, &ls) || !detail::get_varint(p, n, &at, &hw) ||
        !detail::get_varint(p, n, &at, &end) || !(ls <= hw && hw <= end && end <= max_off + 1) ||
        !detail::get_varint(p, n, &at, &n_open) || n_open > Index::open_capacity)
      return false;
    if (x != nullptr)
      (void)x->restore_offsets(static_cast<std::int64_t>(ls), static_cast<std::int64_t>(hw), static_cast<std::int64_t>(end));
    const std::size_t open_at = at;
    for (std::uint64_t k = 0; k < n_open; ++k) {
      open_txn e{};
      if (!read_open(p, n, at, e)) return false;
      const std::int64_t le = static_cast<std::int64_t>(end);
      if (e.first_offset >= le) return false;
      if (e.marker_offset == -1) {
        // At most one still-open entry per producer (checked once: the apply pass follows a
        // check pass over the same bytes).
        if (x == nullptr && open_before(p, n, open_at, k, e.producer_id)) return false;
      } else if (e.marker_offset <= e.first_offset || e.marker_offset < static_cast<std::int64_t>(hw) ||
                 e.marker_offset >= le) {
        return false;
      }
      if (x != nullptr) (void)x->restore_open(e);
    }
    if (!detail::get_varint(p, n, &at, &n_ab) || n_ab > Index::aborted_capacity) return false;
    std::int64_t prev_last = -1;
    for (std::uint64_t k = 0; k < n_ab; ++k) {
      std::uint64_t id = 0, first = 0, last = 0;
      if (!detail::get_varint(p, n, &at, &id) || !detail::get_varint(p, n, &at, &first) ||
          !detail::get_varint(p, n, &at, &last) || id > max_id || last >= end || last < ls || first >= last ||
          static_cast<std::int64_t>(last) <= prev_last)
        return false;
      prev_last = static_cast<std::int64_t>(last);
      if (x != nullptr)
        (void)x->restore_aborted(aborted_txn{static_cast<std::int64_t>(id), static_cast<std::int64_t>(first), prev_last});
    }
    return at == n;
  }

  // One of the first k open entries (from open_at) is still open for producer_id.
  static bool open_before(const std::uint8_t* p, std::size_t n, std::size_t at, std::uint64_t k,
                          std::int64_t producer_id) noexcept {
    for (std::uint64_t q = 0; q < k; ++q) {
      open_txn o{};
      (void)read_open(p, n, at, o);
      if (o.marker_offset == -1 && o.producer_id == producer_id) return true;
    }
    return false;
  }

  static bool read_open(const std::uint8_t* p, std::size_t n, std::size_t& at, open_txn& e) noexcept {
    constexpr std::uint64_t max_off = static_cast<std::uint64_t>(Index::max_offset);
    std::uint64_t id = 0, first = 0, marker = 0, epoch = 0;
    if (!detail::get_varint(p, n, &at, &id) || !detail::get_varint(p, n, &at, &first) ||
        !detail::get_varint(p, n, &at, &marker) || !detail::get_varint(p, n, &at, &epoch) || id > max_id ||
        first > max_off || marker > max_off + 1 || epoch > 32767)
      return false;
    e = open_txn{static_cast<std::int64_t>(id), static_cast<std::int64_t>(first), static_cast<std::int64_t>(marker) - 1,
                 static_cast<std::int16_t>(epoch)};
    return true;
  }

  std::uint8_t last_[max_record_bytes]{};
  std::size_t last_n_ = 0;
  detail::snapshot_mark mark_;
  bool known_ = false;
};

}  // namespace v1
}  // namespace offseq

#endif  // OFFSEQ_HPP
